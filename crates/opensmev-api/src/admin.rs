//! Registry administration through the API: participants, information systems, their
//! certificates (add, rotate with an overlap window, revoke), kinds of information with their XSD
//! sets (uploaded as `multipart/form-data` files named by their paths, or as a ZIP), grants and
//! quotas — one resource per thing, each change one call of `opensmev_core::admin` (checked,
//! saved as a new audited version, in force at once). Reading: admin, operator, auditor
//! (`Action::ReadRegistry`); changing: admin (`Action::ChangeRegistry`). Every change answers
//! the registry version in force after it (also as `ETag`) and takes `If-Match: "<version>"`
//! for optimistic concurrency, as `PUT /api/v1/registry` does.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post, put};
use opensmev_core::admin::{
    AdminError, Changed, KindChange, MAX_XSD_BYTES, MAX_XSD_FILES, SystemChange, grant_id,
    xsd_files_from_zip,
};
use opensmev_core::auth::Action;
use opensmev_core::registry::{
    GrantEntry, KindStatus, Participant, SignaturePolicy, XsdFile, certificate_key, rfc3339,
};
use opensmev_xmldsig::transform::TransformVariant;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::body::{bytes, content_type, essence, json_body, refuse_declared_over};
use crate::extract::{Path, Query};
use crate::problem::PROBLEM_JSON;
use crate::registry::status_name;
use crate::{
    ApiState, Authenticated, Problem, ProblemItem, Unauthenticated, json, parse_time, with_etag,
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/registry/participants", get(list_participants))
        .route(
            "/registry/participants/{id}",
            put(put_participant).delete(delete_participant),
        )
        .route("/registry/systems", get(list_systems))
        .route(
            "/registry/systems/{id}",
            put(put_system).delete(delete_system),
        )
        .route("/registry/systems/{id}/certificates", post(add_certificate))
        .route("/registry/systems/{id}/quota", put(put_system_quota))
        .route(
            "/registry/certificates/{id}/rotation",
            post(rotate_certificate),
        )
        .route(
            "/registry/certificates/{id}",
            axum::routing::delete(revoke_certificate),
        )
        .route("/registry/kinds", get(list_kinds))
        .route("/registry/kinds/{id}", put(put_kind).patch(patch_kind))
        .route("/registry/grants", get(list_grants).post(add_grant))
        .route("/registry/grants/{id}", axum::routing::delete(remove_grant))
        .route("/registry/default-quota", put(put_default_quota))
}

// ------------------------------------------------------------------------------------------------
// Common

/// A change made.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeOut {
    /// The registry version in force after the change (the current one when nothing changed).
    version: u64,
    /// Whether a new version was saved (`false`: the registry already was so).
    saved: bool,
    /// The id of what was made: a certificate's SHA-256 (hex), a grant's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// For a kind from a ZIP: the archive's entries left out (not `.xsd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<Vec<String>>,
}

pub(crate) fn changed(
    changed: Changed,
    id: Option<String>,
    ignored: Option<Vec<String>>,
) -> Response {
    with_etag(
        json(
            StatusCode::OK,
            &ChangeOut {
                version: changed.version,
                saved: changed.saved,
                id,
                ignored,
            },
        ),
        changed.version,
    )
}

fn listed<T: Serialize>(state: &ApiState, value: &T) -> Response {
    with_etag(json(StatusCode::OK, value), state.bus.registry().version())
}

/// A change (admin) may be made, based on the version `If-Match` names, if any.
pub(crate) fn may_change(
    state: &ApiState,
    auth: &Authenticated,
    headers: &HeaderMap,
) -> Result<Option<u64>, Problem> {
    auth.may(state, Action::ChangeRegistry)?;
    if_match(headers)
}

/// `If-Match: "<version>"` (the `ETag` of `GET /api/v1/registry` or of any answer here).
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|t| t.parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| Problem::invalid_field("If-Match", "the registry version, \"<n>\"")),
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Problem {
        match e {
            AdminError::Invalid { field, message } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "api.registry-invalid",
                "Изменение реестра не принято / The registry change is refused",
                match &field {
                    Some(field) => format!("{field}: {message}"),
                    None => message.clone(),
                },
            )
            .with_errors(vec![ProblemItem {
                message,
                field,
                ..ProblemItem::default()
            }]),
            AdminError::NotFound(what) => {
                Problem::not_found(format!("{what} is not in the registry"))
            }
            AdminError::InUse(message) => Problem::new(
                StatusCode::CONFLICT,
                "api.registry-in-use",
                "Используется в реестре / In use in the registry",
                message,
            ),
            AdminError::Exists(what) => {
                Problem::exists(format!("{what} is in the registry already"))
            }
            e @ AdminError::Conflict { .. } => Problem::registry_conflict(e.to_string()),
            AdminError::Bus(e) => e.into(),
        }
    }
}

/// `null` given (`Some(None)`) apart from absent (`None`).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

// ------------------------------------------------------------------------------------------------
// Participants

/// A participant (an organisation).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParticipantOut {
    /// OGRN (its id).
    ogrn: String,
    /// Name.
    name: String,
    /// INN.
    #[serde(skip_serializing_if = "Option::is_none")]
    inn: Option<String>,
    /// The systems it owns.
    systems: Vec<String>,
}

/// The participants (admin, operator, auditor).
#[utoipa::path(get, path = "/api/v1/registry/participants", tag = "registry",
    responses(
        (status = 200, description = "Every participant", body = Vec<ParticipantOut>,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn list_participants(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ReadRegistry)?;
    let registry = state.bus.registry();
    let file = registry.file();
    let out: Vec<ParticipantOut> = file
        .participants
        .iter()
        .map(|p| ParticipantOut {
            ogrn: p.ogrn.clone(),
            name: p.name.clone(),
            inn: p.inn.clone(),
            systems: file
                .systems
                .iter()
                .filter(|s| s.owner == p.ogrn)
                .map(|s| s.mnemonic.clone())
                .collect(),
        })
        .collect();
    Ok(listed(&state, &out))
}

/// A participant to add or change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParticipantIn {
    /// Name.
    name: String,
    /// INN.
    #[serde(default)]
    inn: Option<String>,
}

/// Adds a participant or changes its name and INN (admin); the path names its OGRN.
#[utoipa::path(put, path = "/api/v1/registry/participants/{id}", tag = "registry",
    params(("id" = String, Path, description = "The participant's OGRN"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = ParticipantIn, content_type = "application/json"),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused: the field and the reason", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_participant(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: ParticipantIn = json_body(&state, &headers, body).await?;
    let done = state
        .bus
        .put_participant(
            &auth.0.actor,
            expected,
            Participant {
                name: given.name,
                ogrn: id,
                inn: given.inn,
            },
        )
        .await?;
    Ok(changed(done, None, None))
}

/// Removes a participant that owns no system (admin).
#[utoipa::path(delete, path = "/api/v1/registry/participants/{id}", tag = "registry",
    params(("id" = String, Path, description = "The participant's OGRN"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    responses(
        (status = 200, description = "Removed", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such participant", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "It owns systems, or the registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Malformed If-Match", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn delete_participant(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let done = state
        .bus
        .delete_participant(&auth.0.actor, expected, &id)
        .await?;
    Ok(changed(done, None, None))
}

// ------------------------------------------------------------------------------------------------
// Systems and certificates

/// A certificate of a system.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateOut {
    /// SHA-256 of the DER, hex: its id in this API.
    id: String,
    /// SHA-1 thumbprint, hex (as faults name it).
    sha1: String,
    /// Subject.
    subject: String,
    /// Not valid before (RFC 3339).
    not_before: String,
    /// Not valid after (RFC 3339).
    not_after: String,
    /// For a retiring certificate: accepted until this time (RFC 3339), refused from it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_until: Option<String>,
}

/// An information system.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SystemOut {
    /// Mnemonic (its id).
    mnemonic: String,
    /// Name.
    name: String,
    /// The owner's OGRN.
    owner: String,
    /// `required` or `optional`.
    signature: String,
    /// Its queue quota in force.
    queue_quota: u64,
    /// Whether the quota is its own (else the registry's default).
    own_quota: bool,
    /// The non-reference SMEV transform accepted for it (`reference` when none).
    transform_variant: String,
    /// Its certificates, then the retiring ones.
    certificates: Vec<CertificateOut>,
}

fn certificate_out(
    cert: &opensmev_crypto::Certificate,
    until: Option<time::OffsetDateTime>,
) -> CertificateOut {
    CertificateOut {
        id: certificate_key(cert),
        sha1: cert.thumbprint_sha1().to_owned(),
        subject: cert.subject().to_string(),
        not_before: rfc3339(cert.not_before()),
        not_after: rfc3339(cert.not_after()),
        retiring_until: until.map(rfc3339),
    }
}

/// The information systems with their certificates (admin, operator, auditor).
#[utoipa::path(get, path = "/api/v1/registry/systems", tag = "registry",
    responses(
        (status = 200, description = "Every system", body = Vec<SystemOut>,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn list_systems(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ReadRegistry)?;
    let registry = state.bus.registry();
    let out: Vec<SystemOut> = registry
        .file()
        .systems
        .iter()
        .filter_map(|entry| {
            let system =
                registry.system(&opensmev_types::Mnemonic::parse(&entry.mnemonic).ok()?)?;
            Some(SystemOut {
                mnemonic: entry.mnemonic.clone(),
                name: system.name.clone(),
                owner: entry.owner.clone(),
                signature: match system.signature {
                    SignaturePolicy::Required => "required",
                    SignaturePolicy::Optional => "optional",
                }
                .into(),
                queue_quota: system.queue_quota,
                own_quota: entry.queue_quota.is_some(),
                transform_variant: system
                    .transform_variant
                    .map_or("reference", |v| v.name())
                    .into(),
                certificates: system
                    .certificates
                    .iter()
                    .map(|c| certificate_out(c, None))
                    .chain(
                        system
                            .retiring_certificates
                            .iter()
                            .map(|(c, until)| certificate_out(c, Some(*until))),
                    )
                    .collect(),
            })
        })
        .collect();
    Ok(listed(&state, &out))
}

/// A system to create or change (every attribute; its certificates are kept when it exists).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SystemIn {
    /// Name (delivered to the other side in `MessageMetadata`).
    name: String,
    /// The owner's OGRN: a participant.
    owner: String,
    /// `required` (the default) or `optional` (test systems: unsigned calls accepted).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    signature: Option<SignaturePolicy>,
    /// Its own queue quota (absent or `null`: the registry's default).
    #[serde(default)]
    queue_quota: Option<u64>,
    /// `reference` (the default), `python-port` or `dotnet-crlf`.
    #[serde(default)]
    transform_variant: Option<String>,
    /// PEM certificates of a new system (an existing one: use its certificate resources).
    #[serde(default)]
    certificates: Vec<String>,
}

/// Creates an information system or changes it (admin); the path names its mnemonic.
#[utoipa::path(put, path = "/api/v1/registry/systems/{id}", tag = "registry",
    params(("id" = String, Path, description = "The system's mnemonic"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = SystemIn, content_type = "application/json"),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused: the field and the reason", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_system(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: SystemIn = json_body(&state, &headers, body).await?;
    let transform_variant = match given.transform_variant.as_deref() {
        None | Some("reference") => None,
        Some(name) => Some(TransformVariant::from_name(name).ok_or_else(|| {
            Problem::invalid_field(
                "transform_variant",
                format!("«{name}» is not reference, python-port or dotnet-crlf"),
            )
        })?),
    };
    let done = state
        .bus
        .put_system(
            &auth.0.actor,
            expected,
            SystemChange {
                mnemonic: id,
                name: given.name,
                owner: given.owner,
                signature: given.signature.unwrap_or_default(),
                queue_quota: given.queue_quota,
                transform_variant,
                certificates: given.certificates,
            },
        )
        .await?;
    Ok(changed(done, None, None))
}

/// Removes an information system that provides no kind and holds no grant (admin).
#[utoipa::path(delete, path = "/api/v1/registry/systems/{id}", tag = "registry",
    params(("id" = String, Path, description = "The system's mnemonic"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    responses(
        (status = 200, description = "Removed", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such system", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "It provides kinds or holds grants, or the registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Malformed If-Match", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn delete_system(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let done = state
        .bus
        .delete_system(&auth.0.actor, expected, &id)
        .await?;
    Ok(changed(done, None, None))
}

/// A certificate to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificateIn {
    /// The PEM certificate (`-----BEGIN CERTIFICATE-----` …).
    certificate: String,
}

/// Adds a certificate to a system (admin). The answer's `id` is its SHA-256.
#[utoipa::path(post, path = "/api/v1/registry/systems/{id}/certificates", tag = "registry",
    params(("id" = String, Path, description = "The system's mnemonic"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = CertificateIn, content_type = "application/json"),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such system", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The system has it already, or the registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Not a certificate, or registered elsewhere", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn add_certificate(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: CertificateIn = json_body(&state, &headers, body).await?;
    let (done, cert) = state
        .bus
        .add_certificate(&auth.0.actor, expected, &id, &given.certificate)
        .await?;
    Ok(changed(done, Some(cert), None))
}

/// A rotation: the new certificate and the end of the old one's overlap.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotationIn {
    /// The new PEM certificate.
    certificate: String,
    /// Until when the old one is still accepted (RFC 3339, later than now).
    until: String,
}

/// Rotates a certificate (admin): the new one joins the system of the old one (named by its
/// SHA-256 or SHA-1 in hex), and the old one is accepted until `until`, refused from then on.
#[utoipa::path(post, path = "/api/v1/registry/certificates/{id}/rotation", tag = "registry",
    params(("id" = String, Path, description = "The old certificate's SHA-256 or SHA-1, hex"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = RotationIn, content_type = "application/json"),
    responses(
        (status = 200, description = "In force; `id` is the new certificate's SHA-256", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such certificate", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Not a certificate, or `until` not later than now", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn rotate_certificate(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: RotationIn = json_body(&state, &headers, body).await?;
    let until = parse_time("until", &given.until)?;
    let (done, cert) = state
        .bus
        .rotate_certificate(&auth.0.actor, expected, &id, &given.certificate, until)
        .await?;
    Ok(changed(done, Some(cert), None))
}

/// Revokes a certificate at once (admin): a current or a retiring one.
#[utoipa::path(delete, path = "/api/v1/registry/certificates/{id}", tag = "registry",
    params(("id" = String, Path, description = "The certificate's SHA-256 or SHA-1, hex"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    responses(
        (status = 200, description = "Revoked", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such certificate", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The only certificate of a system whose signatures are required, or the registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Malformed If-Match", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn revoke_certificate(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let done = state
        .bus
        .revoke_certificate(&auth.0.actor, expected, &id)
        .await?;
    Ok(changed(done, None, None))
}

// ------------------------------------------------------------------------------------------------
// Quotas

/// A queue quota.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuotaIn {
    /// Pending messages per queue (`null` for a system: the registry's default).
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<u64>)]
    queue_quota: Option<Option<u64>>,
}

/// Sets the registry's default queue quota (admin).
#[utoipa::path(put, path = "/api/v1/registry/default-quota", tag = "registry",
    params(("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = QuotaIn, content_type = "application/json"),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_default_quota(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: QuotaIn = json_body(&state, &headers, body).await?;
    let Some(Some(quota)) = given.queue_quota else {
        return Err(Problem::invalid_field(
            "queue_quota",
            "the default quota is a number",
        ));
    };
    let done = state
        .bus
        .set_default_quota(&auth.0.actor, expected, quota)
        .await?;
    Ok(changed(done, None, None))
}

/// Sets a system's own queue quota, or (`null`) lets it use the default (admin).
#[utoipa::path(put, path = "/api/v1/registry/systems/{id}/quota", tag = "registry",
    params(("id" = String, Path, description = "The system's mnemonic"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = QuotaIn, content_type = "application/json"),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such system", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_system_quota(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: QuotaIn = json_body(&state, &headers, body).await?;
    let Some(quota) = given.queue_quota else {
        return Err(Problem::invalid_field(
            "queue_quota",
            "a number, or null for the default",
        ));
    };
    let done = state
        .bus
        .set_system_quota(&auth.0.actor, expected, &id, quota)
        .await?;
    Ok(changed(done, None, None))
}

// ------------------------------------------------------------------------------------------------
// Grants

/// A grant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantOut {
    /// Its id (for removing it).
    id: String,
    /// The consumer's mnemonic.
    consumer: String,
    /// The kind's id.
    kind: String,
    /// Legal basis.
    basis: String,
    /// Reference to the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    basis_ref: Option<String>,
    /// First day (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<String>,
    /// Last day (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<String>,
    /// Whether it is in force now.
    in_force: bool,
}

/// The grants (admin, operator, auditor).
#[utoipa::path(get, path = "/api/v1/registry/grants", tag = "registry",
    responses(
        (status = 200, description = "Every grant", body = Vec<GrantOut>,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn list_grants(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ReadRegistry)?;
    let registry = state.bus.registry();
    let now = state.bus.now();
    let out: Vec<GrantOut> = registry
        .file()
        .grants
        .iter()
        .map(|g| {
            let in_force = opensmev_types::Mnemonic::parse(&g.consumer)
                .ok()
                .is_some_and(|m| {
                    registry
                        .grants_for(&m, &g.kind)
                        .iter()
                        .any(|r| r.entry == *g && r.in_force(now))
                });
            GrantOut {
                id: grant_id(g),
                consumer: g.consumer.clone(),
                kind: g.kind.clone(),
                basis: g.basis.clone(),
                basis_ref: g.basis_ref.clone(),
                valid_from: g.valid_from.clone(),
                valid_to: g.valid_to.clone(),
                in_force,
            }
        })
        .collect();
    Ok(listed(&state, &out))
}

/// A grant to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantIn {
    /// The consumer's mnemonic.
    consumer: String,
    /// The kind's id.
    kind: String,
    /// Legal basis (text).
    basis: String,
    /// Reference to the document / article.
    #[serde(default)]
    basis_ref: Option<String>,
    /// First day in force (YYYY-MM-DD, UTC; absent: since always).
    #[serde(default)]
    valid_from: Option<String>,
    /// Last day in force (YYYY-MM-DD, UTC, inclusive; absent: for ever).
    #[serde(default)]
    valid_to: Option<String>,
    /// The priority (0–9) of the consumer's requests of this kind, over the kind's.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9)]
    priority: Option<u8>,
}

/// Adds a grant (admin). The answer's `id` names it.
#[utoipa::path(post, path = "/api/v1/registry/grants", tag = "registry",
    params(("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = GrantIn, content_type = "application/json"),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The same grant exists, or the registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused: the field and the reason", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn add_grant(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: GrantIn = json_body(&state, &headers, body).await?;
    let (done, id) = state
        .bus
        .add_grant(
            &auth.0.actor,
            expected,
            GrantEntry {
                consumer: given.consumer,
                kind: given.kind,
                basis: given.basis,
                basis_ref: given.basis_ref,
                valid_from: given.valid_from,
                valid_to: given.valid_to,
                priority: given.priority,
            },
        )
        .await?;
    Ok(changed(done, Some(id), None))
}

/// Removes a grant (admin).
#[utoipa::path(delete, path = "/api/v1/registry/grants/{id}", tag = "registry",
    params(("id" = String, Path, description = "The grant's id (from the list)"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    responses(
        (status = 200, description = "Removed", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such grant", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Malformed If-Match", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn remove_grant(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let done = state.bus.remove_grant(&auth.0.actor, expected, &id).await?;
    Ok(changed(done, None, None))
}

// ------------------------------------------------------------------------------------------------
// Kinds

/// A kind of information with its XSD set.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KindAdminOut {
    /// Its id.
    id: String,
    /// Title.
    title: String,
    /// The provider's mnemonic.
    provider: String,
    /// The request root, `{namespace}Local`.
    request: String,
    /// The response roots.
    responses: Vec<String>,
    /// Version.
    version: String,
    /// `active`, `deprecated` or `retired`.
    status: String,
    /// Last day a deprecated kind takes requests (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none")]
    sunset: Option<String>,
    /// The kind that replaces it.
    #[serde(skip_serializing_if = "Option::is_none")]
    successor: Option<String>,
    /// The XSD files (relative paths).
    files: Vec<String>,
    /// The entry points: the request's file, then the responses' file (none without XSD).
    entry_points: Vec<String>,
    /// The priority (0–9) of its requests.
    priority: u8,
    /// Its delegation rules, in order.
    delegate: Vec<DelegationIo>,
}

/// A delegation rule: requests of the kind — every one, or those whose field `path` (an element
/// path over the sender's data, e.g. `//Region`) equals `equals` — go to system `to`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelegationIo {
    /// The system the requests go to.
    to: String,
    /// The field looked at (absent: every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// The value it must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<String>,
}

/// The kinds of information with their XSD sets (admin, operator, auditor).
#[utoipa::path(get, path = "/api/v1/registry/kinds", tag = "registry",
    responses(
        (status = 200, description = "Every kind", body = Vec<KindAdminOut>,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn list_kinds(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ReadRegistry)?;
    let registry = state.bus.registry();
    let out: Vec<KindAdminOut> = registry
        .file()
        .kinds
        .iter()
        .filter_map(|entry| registry.kind(&entry.id))
        .map(|k| KindAdminOut {
            id: k.entry.id.clone(),
            title: k.entry.title.clone(),
            provider: k.entry.provider.clone(),
            request: k.entry.request.clone(),
            responses: k.entry.responses.clone(),
            version: k.entry.version.clone(),
            status: status_name(k.entry.status).into(),
            sunset: k.entry.sunset.clone(),
            successor: k.entry.successor.clone(),
            files: k.entry.xsd.iter().map(|f| f.name.clone()).collect(),
            entry_points: k
                .schema
                .as_ref()
                .map(|s| {
                    let request = k
                        .extras
                        .request_entry
                        .clone()
                        .unwrap_or_else(|| s.entry().to_owned());
                    let response = k
                        .extras
                        .response_entry
                        .clone()
                        .unwrap_or_else(|| request.clone());
                    vec![request, response]
                })
                .unwrap_or_default(),
            priority: k.extras.priority.unwrap_or(0),
            delegate: k
                .extras
                .delegate
                .iter()
                .map(|r| DelegationIo {
                    to: r.to.clone(),
                    path: r.path.clone(),
                    equals: r.equals.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(listed(&state, &out))
}

/// The fields of a kind upload: query parameters (with an `application/zip` body) or form
/// fields (with `multipart/form-data`). A new kind needs `title`, `provider`, `request` and
/// `responses`; for a kind that exists, what is not given is kept.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct KindFields {
    /// Title.
    #[serde(default)]
    title: Option<String>,
    /// The provider's mnemonic.
    #[serde(default)]
    provider: Option<String>,
    /// The request root, `{namespace}Local`.
    #[serde(default)]
    request: Option<String>,
    /// The response roots, `{namespace}Local`, separated by white space (a form may also repeat
    /// the field).
    #[serde(default)]
    responses: Option<String>,
    /// The version (text, e.g. `1.0.2`).
    #[serde(default)]
    version: Option<String>,
    /// The XSD file (relative path) declaring the request root; default: the first file.
    #[serde(default)]
    request_entry: Option<String>,
    /// The XSD file declaring the response roots; default: the request's.
    #[serde(default)]
    response_entry: Option<String>,
    /// The file of the set holding the kind's print form (an XSLT stylesheet).
    #[serde(default)]
    print_form: Option<String>,
    /// `active`, `deprecated` or `retired`.
    #[serde(default)]
    status: Option<String>,
    /// Last day a deprecated kind takes requests (YYYY-MM-DD).
    #[serde(default)]
    sunset: Option<String>,
    /// The kind that replaces it.
    #[serde(default)]
    successor: Option<String>,
}

/// A kind upload as `multipart/form-data` (the document's description of the form): the
/// fields of [`KindFields`] as text fields, the XSD files as file parts named `file`, each part's
/// file name being the file's relative path in the set (`request/request.xsd`,
/// `common/types.xsd`), or one part `archive` holding a ZIP of the set.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct KindForm {
    /// Title.
    title: Option<String>,
    /// The provider's mnemonic.
    provider: Option<String>,
    /// The request root.
    request: Option<String>,
    /// The response roots (white-space separated, or the field repeated).
    responses: Option<String>,
    /// The version.
    version: Option<String>,
    /// The request's entry point.
    request_entry: Option<String>,
    /// The responses' entry point.
    response_entry: Option<String>,
    /// The file of the set holding the print form (XSLT).
    print_form: Option<String>,
    /// Status.
    status: Option<String>,
    /// Sunset date.
    sunset: Option<String>,
    /// Successor.
    successor: Option<String>,
    /// The XSD files; each part's file name is its relative path.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    file: Option<Vec<Vec<u8>>>,
    /// A ZIP of the XSD set.
    #[schema(value_type = Option<String>, format = Binary)]
    archive: Option<Vec<u8>>,
}

/// The text fields of a kind form.
const KIND_FIELDS: [&str; 11] = [
    "title",
    "provider",
    "request",
    "responses",
    "version",
    "request_entry",
    "response_entry",
    "print_form",
    "status",
    "sunset",
    "successor",
];

/// The largest text field of a kind form, in bytes.
const MAX_KIND_FIELD_BYTES: usize = 64 * 1024;

struct Upload {
    fields: KindFields,
    files: Option<Vec<XsdFile>>,
    ignored: Option<Vec<String>>,
}

/// The largest body of a kind upload: the set's limit and room for the form's framing.
fn upload_limit(state: &ApiState) -> usize {
    let set = usize::try_from(MAX_XSD_BYTES).unwrap_or(usize::MAX);
    state
        .settings
        .max_form_bytes
        .min(set.saturating_add(1024 * 1024))
}

async fn read_kind_form(
    state: &ApiState,
    content_type: &str,
    body: Body,
    mut fields: KindFields,
) -> Result<Upload, Problem> {
    let limit = upload_limit(state);
    let mut multipart = crate::form::multipart(
        content_type,
        body,
        multer::SizeLimit::new().whole_stream(limit as u64),
    )?;
    let failed = crate::form::failure(limit);
    let mut files: Vec<XsdFile> = Vec::new();
    let mut archive: Option<Vec<u8>> = None;
    let mut responses: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" => {
                let Some(path) = field
                    .file_name()
                    .map(|n| n.replace('\\', "/"))
                    .filter(|n| !n.is_empty())
                else {
                    return Err(Problem::bad_form(
                        "a file part needs a file name: the file's relative path in the set",
                    ));
                };
                if files.len() >= MAX_XSD_FILES {
                    return Err(Problem::invalid_field(
                        "file",
                        format!("at most {MAX_XSD_FILES} files are accepted"),
                    ));
                }
                let bytes = field.bytes().await.map_err(failed)?;
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    Problem::invalid_field("file", format!("«{path}» is not UTF-8 text"))
                })?;
                files.push(XsdFile { name: path, text });
            }
            "archive" => {
                if archive.is_some() {
                    return Err(Problem::bad_form("the form has two archive parts"));
                }
                archive = Some(field.bytes().await.map_err(failed)?.to_vec());
            }
            known if KIND_FIELDS.contains(&known) => {
                let text = field.text().await.map_err(failed)?;
                if text.len() > MAX_KIND_FIELD_BYTES {
                    return Err(Problem::too_large(MAX_KIND_FIELD_BYTES));
                }
                if known == "responses" {
                    responses.extend(text.split_whitespace().map(str::to_owned));
                    continue;
                }
                if seen.iter().any(|s| s == known) {
                    return Err(Problem::bad_form(format!(
                        "the form field «{known}» is given twice"
                    )));
                }
                seen.push(known.to_owned());
                let slot = match known {
                    "title" => &mut fields.title,
                    "provider" => &mut fields.provider,
                    "request" => &mut fields.request,
                    "version" => &mut fields.version,
                    "request_entry" => &mut fields.request_entry,
                    "response_entry" => &mut fields.response_entry,
                    "print_form" => &mut fields.print_form,
                    "status" => &mut fields.status,
                    "sunset" => &mut fields.sunset,
                    _ => &mut fields.successor,
                };
                *slot = Some(text);
            }
            other => {
                return Err(Problem::bad_form(format!(
                    "unknown form field «{other}» (known: {}, file, archive)",
                    KIND_FIELDS.join(", ")
                )));
            }
        }
    }
    if !responses.is_empty() {
        fields.responses = Some(responses.join(" "));
    }
    let (files, ignored) = match (archive, files.is_empty()) {
        (Some(_), false) => {
            return Err(Problem::bad_form(
                "give the XSD set as file parts or as one archive, not both",
            ));
        }
        (Some(zip), true) => {
            let contents = xsd_files_from_zip(&zip)?;
            (Some(contents.files), Some(contents.ignored))
        }
        (None, true) => (None, None),
        (None, false) => (Some(files), None),
    };
    Ok(Upload {
        fields,
        files,
        ignored,
    })
}

/// Creates a kind of information or makes a new version of it (admin): its XSD set as a ZIP
/// (`application/zip`, the fields as query parameters) or as `multipart/form-data` (the fields
/// as form fields, the files as parts named by their relative paths, or one `archive` part). The
/// set is compiled with its entry points, and the request and response roots must be declared
/// in it, before the change is accepted. Without files the kind's set is kept.
#[utoipa::path(put, path = "/api/v1/registry/kinds/{id}", tag = "registry",
    params(("id" = String, Path, description = "The kind's id"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on"),
        KindFields),
    request_body(content(
        (KindForm = "multipart/form-data"),
        (Vec<u8> = "application/zip")
    )),
    responses(
        (status = 200, description = "In force; `ignored` lists the archive's entries left out", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed form, path or parameters", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Neither multipart/form-data nor application/zip", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused: the XSD set does not compile or lacks a root, a file is outside the set, a field is wrong", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_kind(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(fields): Query<KindFields>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let content_type = content_type(&headers);
    let limit = upload_limit(&state);
    refuse_declared_over(&headers, limit)?;
    let upload = match essence(content_type).as_str() {
        "multipart/form-data" => read_kind_form(&state, content_type, body, fields).await?,
        "application/zip" | "application/x-zip-compressed" => {
            let contents = xsd_files_from_zip(&bytes(body, limit).await?)?;
            Upload {
                fields,
                files: Some(contents.files),
                ignored: Some(contents.ignored),
            }
        }
        _ => {
            return Err(Problem::unsupported_media_type(
                content_type,
                "multipart/form-data or application/zip",
            ));
        }
    };
    let fields = upload.fields;
    let status = fields
        .status
        .as_deref()
        .map(|s| match s {
            "active" => Ok(KindStatus::Active),
            "deprecated" => Ok(KindStatus::Deprecated),
            "retired" => Ok(KindStatus::Retired),
            other => Err(Problem::invalid_field(
                "status",
                format!("«{other}» is not active, deprecated or retired"),
            )),
        })
        .transpose()?;
    let done = state
        .bus
        .put_kind(
            &auth.0.actor,
            expected,
            KindChange {
                id,
                title: fields.title,
                provider: fields.provider,
                request: fields.request,
                responses: fields
                    .responses
                    .map(|r| r.split_whitespace().map(str::to_owned).collect()),
                version: fields.version,
                files: upload.files,
                request_entry: fields.request_entry,
                response_entry: fields.response_entry,
                print_form: fields.print_form,
                priority: None,
                delegate: None,
                status,
                sunset: fields.sunset.map(Some),
                successor: fields.successor.map(Some),
            },
        )
        .await?;
    Ok(changed(done, None, upload.ignored))
}

/// A change of a kind's life cycle (absent: kept; `null`: cleared).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KindPatch {
    /// Title.
    #[serde(default)]
    title: Option<String>,
    /// Version (text).
    #[serde(default)]
    version: Option<String>,
    /// `active`, `deprecated` or `retired`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    status: Option<KindStatusIn>,
    /// Last day a deprecated kind takes requests (YYYY-MM-DD); `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    sunset: Option<Option<String>>,
    /// The kind that replaces it; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    successor: Option<Option<String>>,
    /// The priority (0–9) of its requests and their answers in the queues; `null` clears it
    /// (0).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 9)]
    priority: Option<Option<u8>>,
    /// Its delegation rules, replacing the present ones (`[]` removes them).
    #[serde(default)]
    delegate: Option<Vec<DelegationIo>>,
}

/// A status as given.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KindStatusIn {
    Active,
    Deprecated,
    Retired,
}

/// Changes a kind's title, version, status, sunset date, successor, priority or delegation
/// rules (admin).
#[utoipa::path(patch, path = "/api/v1/registry/kinds/{id}", tag = "registry",
    params(("id" = String, Path, description = "The kind's id"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = KindPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such kind", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused: the field and the reason", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn patch_kind(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: KindPatch = json_body(&state, &headers, body).await?;
    if state.bus.registry().kind(&id).is_none() {
        return Err(AdminError::NotFound(format!("kind {id}")).into());
    }
    let done = state
        .bus
        .put_kind(
            &auth.0.actor,
            expected,
            KindChange {
                id,
                title: given.title,
                version: given.version,
                status: given.status.map(|s| match s {
                    KindStatusIn::Active => KindStatus::Active,
                    KindStatusIn::Deprecated => KindStatus::Deprecated,
                    KindStatusIn::Retired => KindStatus::Retired,
                }),
                sunset: given.sunset,
                successor: given.successor,
                priority: given.priority,
                delegate: given.delegate.map(|rules| {
                    rules
                        .into_iter()
                        .map(|r| opensmev_core::registry::DelegationRule {
                            to: r.to,
                            path: r.path,
                            equals: r.equals,
                        })
                        .collect()
                }),
                ..KindChange::default()
            },
        )
        .await?;
    Ok(changed(done, None, None))
}
