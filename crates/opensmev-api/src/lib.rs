//! The OpenSMEV integration API: REST/JSON under `/api/v1`, described by an OpenAPI 3.1
//! document generated from this code (`/api/v1/openapi.json`) with Swagger UI embedded in the
//! binary (`/api/docs`), and the health checks (`/health/live`, `/health/ready`).
//!
//! Every handler is an edge: it authenticates the API token ([`Authenticated`]), asks the bus
//! whether the principal may do what it asks ([`opensmev_core::Bus::authorize`]), decodes the
//! request into the inputs of a service function of `opensmev-core`, and encodes its result as
//! JSON or its error as an RFC 9457 problem ([`problem`]). Nothing here decides a rule of the bus.
//!
//! Stability: `/api/v1` changes only by addition.

// `Problem` is the answer body itself, made at most once per call: boxing it would only move
// the allocation.
#![allow(clippy::result_large_err)]

mod access;
mod admin;
mod batch;
mod body;
mod cabinet;
mod delivery;
mod extract;
mod form;
mod journal;
pub mod problem;
mod registry;
mod work;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opensmev_core::Bus;
use opensmev_core::auth::{Action, Principal};
use opensmev_types::{MessageKind, Mnemonic, SchemaVersion};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

pub use problem::{Problem, ProblemItem};
pub use work::push_json;

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body (JSON or XML), in bytes.
    pub max_body_bytes: usize,
    /// The longest long poll a client may ask for.
    pub max_poll_wait: Duration,
    /// The schema version messages sent through the API are composed in.
    pub schema_version: SchemaVersion,
    /// Largest `multipart/form-data` send (business XML and attachments), in bytes.
    pub max_form_bytes: usize,
    /// Where attachments of form sends larger than 1 MiB are written while the send is
    /// accepted (the store takes the files over); `None`: the system's temporary directory.
    pub spool_dir: Option<std::path::PathBuf>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            max_body_bytes: 16 * 1024 * 1024,
            max_poll_wait: Duration::from_secs(60),
            schema_version: SchemaVersion::V1_3,
            max_form_bytes: 100 * 1024 * 1024,
            spool_dir: None,
        }
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The bus.
    pub bus: Arc<Bus>,
    /// The settings.
    pub settings: Arc<ApiSettings>,
}

/// The principal of the call's API token (`Authorization: Bearer osmv_…`); a refusal answers
/// 401 with its reason (logged and counted by the bus).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers);
        let principal = state.bus.authenticate_token(token.as_deref()).await?;
        tracing::Span::current().record("caller", principal.actor.as_str());
        Ok(Authenticated(principal))
    }
}

/// The answer to a call without a valid API token, as the document lists it among an
/// operation's responses (`responses(Unauthenticated, …)`).
#[derive(Debug, utoipa::IntoResponses)]
#[response(status = 401, description = "No valid token", content_type = problem::PROBLEM_JSON)]
#[allow(dead_code)]
pub(crate) struct Unauthenticated(Problem);

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl Authenticated {
    /// Whether the principal may do `action` (a refusal is logged and counted; 403).
    pub fn may(&self, state: &ApiState, action: Action<'_>) -> Result<(), Problem> {
        state.bus.authorize(&self.0, action).map_err(Problem::from)
    }
}

/// RFC 3339 text of a time.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// Parses an RFC 3339 time given in field `field`.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, Problem> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        Problem::invalid_field(
            field,
            format!("«{text}» is not an RFC 3339 date-time ({e})"),
        )
    })
}

/// Parses an RFC 3339 time given in field `field`, if given.
pub(crate) fn parse_optional_time(
    field: &str,
    text: Option<&str>,
) -> Result<Option<OffsetDateTime>, Problem> {
    text.map(|t| parse_time(field, t)).transpose()
}

/// Parses an information system's mnemonic given in field `field`, if given.
pub(crate) fn mnemonic(field: &str, text: Option<String>) -> Result<Option<Mnemonic>, Problem> {
    text.map(|t| {
        Mnemonic::parse(&t)
            .map_err(|e| Problem::invalid_field(field, format!("«{t}» is not a mnemonic: {e}")))
    })
    .transpose()
}

/// The most entries one page of a list holds.
pub(crate) const MAX_PAGE: u32 = 500;

/// The page size asked for (`limit`): 1–[`MAX_PAGE`], 50 when not given.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, Problem> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::invalid_field("limit", format!("1–{MAX_PAGE}")));
    }
    Ok(limit)
}

/// The `cursor` given: the `next_cursor` of the previous page (the number of its last entry).
pub(crate) fn page_cursor(cursor: Option<String>) -> Result<Option<i64>, Problem> {
    cursor
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Problem::invalid_field("cursor", "not a cursor of this API"))
        })
        .transpose()
}

/// Cuts `found` (asked for one more than `limit`) to the page; the `next_cursor` (the number
/// `seq` of the page's last entry) when there is more.
pub(crate) fn next_cursor<T>(
    found: &mut Vec<T>,
    limit: u32,
    seq: impl Fn(&T) -> i64,
) -> Option<String> {
    if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(|last| seq(last).to_string())
    } else {
        None
    }
}

/// `request` or `response`.
pub(crate) fn kind_text(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Request => "request",
        MessageKind::Response => "response",
    }
}

/// A JSON answer with a status.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, axum::Json(value)).into_response()
}

/// An answer with `ETag: "<version>"` (a registry version).
pub(crate) fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health", security(()),
    responses((status = 200, description = "The process is alive", body = Health)))]
async fn live() -> Response {
    json(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
            checks: Vec::new(),
        },
    )
}

/// The result of a health check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `fail`.
    pub status: String,
    /// The checks made.
    pub checks: Vec<HealthCheck>,
}

/// One check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthCheck {
    /// What was checked (`store`, `keys`, `registry`).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Details.
    pub detail: String,
}

/// Readiness: the store answers, the keys the bus holds can be read, a registry is in force.
#[utoipa::path(get, path = "/health/ready", tag = "health", security(()),
    responses((status = 200, description = "Ready to serve", body = Health),
              (status = 503, description = "Not ready", body = Health)))]
async fn ready(State(state): State<ApiState>) -> Response {
    let bus = &state.bus;
    let mut checks = Vec::new();
    let store = bus.store().registry().await;
    checks.push(HealthCheck {
        name: "store".into(),
        ok: store.is_ok(),
        detail: match &store {
            Ok(_) => "reachable".into(),
            Err(e) => e.to_string(),
        },
    });
    let registry = bus.registry();
    checks.push(HealthCheck {
        name: "registry".into(),
        ok: registry.version() > 0,
        detail: format!("version {}", registry.version()),
    });
    if let Some(keys) = bus.keys() {
        let listed = keys.list();
        checks.push(HealthCheck {
            name: "keys".into(),
            ok: listed.is_ok(),
            detail: match &listed {
                Ok(list) => format!("{} held", list.len()),
                Err(e) => e.to_string(),
            },
        });
    }
    let ok = checks.iter().all(|c| c.ok);
    json(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &Health {
            status: if ok { "ok" } else { "fail" }.into(),
            checks,
        },
    )
}

#[derive(Debug)]
struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("osmv_…")
                    .description(Some(
                        "An OpenSMEV API token (shown once when it is made: `opensmev token create`, \
                         `POST /api/v1/tokens`, or printed by demo mode).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "OpenSMEV integration API",
        description = "REST/JSON access to the OpenSMEV bus (СМЭВ 3): send and receive messages as an \
            information system with keys the bus holds, the message journal with status timelines, \
            tokens, accounts, the registry and the audit log. Errors are RFC 9457 problem documents \
            with stable codes (the SOAP faults' `SMEV-nnn` where they overlap).",
        version = "1.0.0",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    security(("token" = [])),
    paths(
        live, ready,
        work::send_request, work::send_response, work::send_rejection, work::send_status,
        work::next_request, work::next_response, work::ack, work::next_status, work::queues,
        journal::search, journal::show, journal::by_client_id,
        access::me, access::list_tokens, access::create_token, access::revoke_token,
        access::list_accounts, access::create_account, access::update_account, access::audit,
        registry::kinds, registry::export, registry::import,
        admin::list_participants, admin::put_participant, admin::delete_participant,
        admin::list_systems, admin::put_system, admin::delete_system, admin::add_certificate,
        admin::put_system_quota, admin::rotate_certificate, admin::revoke_certificate,
        admin::list_kinds, admin::put_kind, admin::patch_kind,
        admin::list_grants, admin::add_grant, admin::remove_grant, admin::put_default_quota,
        cabinet::get_settings, cabinet::put_settings, cabinet::list, cabinet::show, cabinet::reassign,
        cabinet::get_prefs, cabinet::put_prefs,
        delivery::list, delivery::replay, delivery::get_settings, delivery::put_settings,
        delivery::delete_settings, batch::send, batch::show,
    ),
    components(schemas(Problem, ProblemItem, Health, HealthCheck)),
    tags(
        (name = "work", description = "An information system at work: send, receive, acknowledge"),
        (name = "journal", description = "Messages and their status timelines"),
        (name = "access", description = "Tokens, accounts and the audit log"),
        (name = "registry", description = "The registry of participants, systems and kinds of information"),
        (name = "cabinet", description = "A provider's cases (departments, deadlines) and a system's cabinet settings"),
        (name = "delivery", description = "Push delivery's dead-letter queue"),
        (name = "health", description = "Health checks (no token needed)"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi_json() -> Response {
    match openapi().to_json() {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
        Err(e) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api.internal",
            "Internal failure",
            e.to_string(),
        )
        .into_response(),
    }
}

async fn api_not_found() -> Problem {
    Problem::not_found("no such API endpoint (see /api/v1/openapi.json)")
}

/// The API's router: `/api/v1/…`, `/api/docs`, `/health/…`.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/openapi.json", get(openapi_json))
        .merge(work::routes())
        .merge(journal::routes())
        .merge(access::routes())
        .merge(registry::routes())
        .merge(admin::routes())
        .merge(cabinet::routes())
        .merge(delivery::routes())
        .merge(batch::routes())
        .method_not_allowed_fallback(extract::method_not_allowed)
        .fallback(api_not_found)
        .with_state(state.clone());
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .method_not_allowed_fallback(extract::method_not_allowed)
        .with_state(state)
        .nest("/api/v1", v1)
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/api/docs")
                // No online validator: its badge would load validator.swagger.io with the
                // document's URL, and the API must not depend on the network.
                .config(
                    utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"]).validator_url("none"),
                ),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_the_rejections() {
        let doc = serde_json::to_value(openapi()).unwrap();
        // Query parameters that cannot be read are 400 problems wherever queries are taken.
        for (path, method) in [
            ("/api/v1/messages", "get"),
            ("/api/v1/audit", "get"),
            ("/api/v1/requests", "post"),
            ("/api/v1/requests/{id}/response", "post"),
            ("/api/v1/inbox/requests/next", "post"),
            ("/api/v1/inbox/responses/next", "post"),
        ] {
            let answer = &doc["paths"][path][method]["responses"]["400"];
            assert!(
                answer["content"]["application/problem+json"].is_object(),
                "{method} {path}: {answer}"
            );
        }
        // The health checks take no token.
        for path in ["/health/live", "/health/ready"] {
            assert_eq!(
                doc["paths"][path]["get"]["security"],
                serde_json::json!([{}]),
                "{path}"
            );
        }
        // The JSON bodies of a send are one closed object, not an allOf no body can match.
        for name in ["SendRequestBody", "SendResponseBody"] {
            let schema = &doc["components"]["schemas"][name];
            assert_eq!(schema["additionalProperties"], false, "{name}: {schema}");
            assert!(schema["properties"]["business_xml"].is_object(), "{name}");
            assert!(schema["properties"]["client_id"].is_object(), "{name}");
        }
    }
}
