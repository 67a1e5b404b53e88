//! The registry through the API: the catalogue of kinds of information (every caller), the
//! whole registry as its TOML document (export; import as a new audited version).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opensmev_core::admin::RegistryChangeError;
use opensmev_core::auth::Action;
use opensmev_core::registry::KindStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::body::{bytes, content_type, essence};
use crate::{ApiState, Authenticated, Problem, Unauthenticated, json, with_etag};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/kinds", get(kinds))
        .route("/registry", get(export).put(import))
}

/// A kind of information (ВС).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KindOut {
    /// Its id.
    id: String,
    /// Its title.
    title: String,
    /// The provider.
    provider: String,
    /// The request root element, `{namespace}local`.
    request: String,
    /// The response root elements.
    responses: Vec<String>,
    /// `active`, `deprecated` or `retired`.
    status: String,
    /// For deprecated kinds: the last day it is served (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none")]
    sunset: Option<String>,
    /// Whether content is validated against an XSD.
    validated: bool,
    /// Whether the caller's system may request it now (`is` tokens only).
    #[serde(skip_serializing_if = "Option::is_none")]
    granted: Option<bool>,
}

/// The catalogue of kinds of information.
#[utoipa::path(get, path = "/api/v1/kinds", tag = "registry",
    responses(
        (status = 200, description = "Every kind", body = Vec<KindOut>),
        Unauthenticated,
    ))]
pub(crate) async fn kinds(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ReadCatalogue)?;
    let registry = state.bus.registry();
    let now = state.bus.now();
    let own = auth.0.own_system().cloned();
    let mut out: Vec<KindOut> = registry
        .kinds()
        .map(|k| KindOut {
            id: k.entry.id.clone(),
            title: k.entry.title.clone(),
            provider: k.provider.to_string(),
            request: k.request.to_string(),
            responses: k.responses.iter().map(ToString::to_string).collect(),
            status: status_name(k.entry.status).into(),
            sunset: k.sunset.map(|d| d.to_string()),
            validated: k.schema.is_some(),
            granted: own
                .as_ref()
                .map(|m| registry.grant(m, &k.entry.id, now).is_some()),
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(json(StatusCode::OK, &out))
}

/// A kind's status as the API names it.
pub(crate) fn status_name(status: KindStatus) -> &'static str {
    match status {
        KindStatus::Active => "active",
        KindStatus::Deprecated => "deprecated",
        KindStatus::Retired => "retired",
    }
}

const TOML: &str = "application/toml";

/// The whole registry as its TOML document (admin, operator, auditor); `ETag` is its version.
#[utoipa::path(get, path = "/api/v1/registry", tag = "registry",
    responses(
        (status = 200, description = "The registry document", body = String, content_type = "application/toml",
            headers(("ETag" = String, description = "The version, quoted: give it as `If-Match` to `PUT`"))),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No registry yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn export(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ReadRegistry)?;
    let Some(doc) = state.bus.store().registry().await? else {
        return Err(Problem::not_found("the bus has no registry yet"));
    };
    let mut response = (StatusCode::OK, doc.text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TOML));
    Ok(with_etag(response, doc.version))
}

/// The version a registry import was written with.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegistryVersion {
    /// The version in force now.
    version: u64,
}

/// Replaces the registry with a TOML document (admin): checked as a whole (XSDs compiled), saved
/// as a new version with an audit entry holding the diff, in force at once without a restart.
/// `If-Match: "<version>"` makes it fail with 409 if the registry changed meanwhile.
#[utoipa::path(put, path = "/api/v1/registry", tag = "registry",
    params(("If-Match" = Option<String>, Header, description = "The version (ETag) the change is based on")),
    request_body(content = String, content_type = "application/toml"),
    responses(
        (status = 200, description = "In force", body = RegistryVersion),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not TOML", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The document does not check out", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn import(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ChangeRegistry)?;
    let content_type = content_type(&headers);
    let essence = essence(content_type);
    if !(essence == TOML || essence == "text/plain") {
        return Err(Problem::unsupported_media_type(content_type, TOML));
    }
    let expected = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|t| t.trim().trim_matches('"'))
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| {
                    Problem::invalid_field("If-Match", "the ETag of GET /api/v1/registry")
                })?,
        ),
    };
    let bytes = bytes(body, state.settings.max_body_bytes).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|e| Problem::bad_request(format!("the document is not UTF-8: {e}")))?;
    match state
        .bus
        .change_registry(&auth.0.actor, &text, expected)
        .await
    {
        Ok(version) => Ok(json(StatusCode::OK, &RegistryVersion { version })),
        Err(RegistryChangeError::Invalid(message)) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "api.registry-invalid",
            "Реестр не принят / The registry is refused",
            message,
        )),
        Err(e @ RegistryChangeError::Conflict { .. }) => {
            Err(Problem::registry_conflict(e.to_string()))
        }
        Err(RegistryChangeError::Bus(e)) => Err(e.into()),
    }
}
