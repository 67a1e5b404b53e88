//! Push delivery through the API: a system's delivery settings (the registry's
//! `[systems.delivery]`: read by whoever reads the registry and by the system itself, changed by
//! an admin), and the dead-letter queue — list the messages whose push gave up, with the reason,
//! and replay them (one, filtered, or all) for a new round of attempts. Administrators and
//! operators handle every system's dead letters; an IS token its own (as their recipient).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use opensmev_core::auth::Action;
use opensmev_core::push::DeliverySettings;
use opensmev_store::{DeadLetter, DeadLetterQuery};
use opensmev_types::{MessageId, Mnemonic};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::admin::{ChangeOut, changed, may_change};
use crate::body::json_body;
use crate::extract::{Path, Query};
use crate::problem::PROBLEM_JSON;
use crate::{
    ApiState, Authenticated, Problem, Unauthenticated, json, kind_text, mnemonic, next_cursor,
    page_cursor, page_limit, parse_optional_time, rfc3339, with_etag,
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/dead-letters", get(list))
        .route("/dead-letters/replay", post(replay))
        .route(
            "/registry/systems/{id}/delivery",
            get(get_settings).put(put_settings).delete(delete_settings),
        )
}

/// Which dead letters; every given condition holds. Newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The recipient whose endpoint did not take them.
    #[serde(default)]
    recipient: Option<String>,
    /// The sender.
    #[serde(default)]
    sender: Option<String>,
    /// The kind of information (ВС) id.
    #[serde(default)]
    vs_id: Option<String>,
    /// Dead at or after (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Dead before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A message whose push delivery gave up.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterOut {
    /// `MessageID`.
    message_id: String,
    /// `request` or `response`.
    kind: String,
    /// The sender.
    sender: String,
    /// The recipient.
    recipient: String,
    /// The kind of information (ВС) id.
    vs_id: String,
    /// The message type, `{namespace}local`.
    message_type: String,
    /// Accepted at (RFC 3339).
    sent_at: String,
    /// Gave up at (RFC 3339).
    dead_at: String,
    /// Attempts made (since accepted or last replayed); each one's outcome is in the message's
    /// journal (`GET /api/v1/messages/{id}`, events `push`).
    attempts: u32,
    /// Why delivery gave up.
    reason: String,
}

/// A page of dead letters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterPage {
    /// Newest first.
    items: Vec<DeadLetterOut>,
    /// Give as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn out(d: DeadLetter) -> DeadLetterOut {
    DeadLetterOut {
        message_id: d.id.to_string(),
        kind: kind_text(d.kind).into(),
        sender: d.sender.to_string(),
        recipient: d.recipient.to_string(),
        vs_id: d.vs_id,
        message_type: d.message_type.to_string(),
        sent_at: rfc3339(d.sent_at),
        dead_at: rfc3339(d.dead_at),
        attempts: d.attempts,
        reason: d.reason,
    }
}

/// Checks the caller may handle dead letters: an administrator or operator any, an IS token
/// its own system's (then returned, to narrow the query to).
fn permit(state: &ApiState, auth: &Authenticated) -> Result<Option<Mnemonic>, Problem> {
    match auth.0.own_system().cloned() {
        Some(own) => {
            auth.may(state, Action::WorkAsOwn)?;
            Ok(Some(own))
        }
        None => {
            auth.may(state, Action::ManageDeliveries)?;
            Ok(None)
        }
    }
}

/// Narrows `query` to the dead letters of `own` (an IS token's system).
fn narrow(query: &mut DeadLetterQuery, own: Option<Mnemonic>) -> Result<(), Problem> {
    let Some(own) = own else {
        return Ok(());
    };
    if query.recipient.as_ref().is_some_and(|r| *r != own) {
        return Err(Problem::invalid_field(
            "recipient",
            format!("an IS token sees only the dead letters of {own}"),
        ));
    }
    query.recipient = Some(own);
    Ok(())
}

/// Lists the dead letters of push delivery (an IS token: those to its own system).
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "delivery", params(ListQuery),
    responses(
        (status = 200, description = "A page of dead letters", body = DeadLetterPage),
        (status = 400, description = "Unknown or malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A parameter has an invalid value", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    auth: Authenticated,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    let own = permit(&state, &auth)?;
    let limit = page_limit(q.limit)?;
    let mut query = DeadLetterQuery {
        id: None,
        recipient: mnemonic("recipient", q.recipient)?,
        sender: mnemonic("sender", q.sender)?,
        vs_id: q.vs_id,
        dead_from: parse_optional_time("from", q.from.as_deref())?,
        dead_to: parse_optional_time("to", q.to.as_deref())?,
        before_seq: page_cursor(q.cursor)?,
        limit: limit + 1,
    };
    narrow(&mut query, own)?;
    let mut found = state.bus.dead_letters(query).await?;
    let next_cursor = next_cursor(&mut found, limit, |d| d.seq);
    let page = DeadLetterPage {
        items: found.into_iter().map(out).collect(),
        next_cursor,
    };
    Ok(json(StatusCode::OK, &page))
}

/// Which dead letters to replay: one (`message_id`), those matching the filters, or every one
/// the caller may handle (`all: true`). At least one of them must be given.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayIn {
    /// One message.
    #[serde(default)]
    message_id: Option<String>,
    /// Of this recipient.
    #[serde(default)]
    recipient: Option<String>,
    /// From this sender.
    #[serde(default)]
    sender: Option<String>,
    /// Of this kind of information.
    #[serde(default)]
    vs_id: Option<String>,
    /// Dead at or after (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Dead before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
    /// Every dead letter (the caller may handle).
    #[serde(default)]
    all: bool,
}

/// How many were replayed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Replayed {
    /// Queued again for a new round of push attempts.
    replayed: u64,
}

/// Replays dead letters: queued again with a new round of attempts (journaled with who asked).
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", tag = "delivery",
    request_body(content = ReplayIn, content_type = "application/json"),
    responses(
        (status = 200, description = "Replayed", body = Replayed),
        (status = 400, description = "Malformed body", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "No selection, or an invalid value", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn replay(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let own = permit(&state, &auth)?;
    let given: ReplayIn = json_body(&state, &headers, body).await?;
    let id = given
        .message_id
        .map(|t| {
            MessageId::parse(&t).map_err(|e| {
                Problem::invalid_field("message_id", format!("«{t}» is not a MessageID: {e}"))
            })
        })
        .transpose()?;
    let mut query = DeadLetterQuery {
        id,
        recipient: mnemonic("recipient", given.recipient)?,
        sender: mnemonic("sender", given.sender)?,
        vs_id: given.vs_id,
        dead_from: parse_optional_time("from", given.from.as_deref())?,
        dead_to: parse_optional_time("to", given.to.as_deref())?,
        before_seq: None,
        limit: 0,
    };
    if query == DeadLetterQuery::default() && !given.all {
        return Err(Problem::invalid_field(
            "all",
            "name the dead letters to replay (message_id or a filter), or give all: true",
        ));
    }
    narrow(&mut query, own)?;
    let replayed = state.bus.replay_dead_letters(query, &auth.0.actor).await?;
    Ok(json(StatusCode::OK, &Replayed { replayed }))
}

// ------------------------------------------------------------------------------------------------
// A system's delivery settings (registry)

/// A system's delivery settings as the API reads and writes them: the registry's
/// `[systems.delivery]` table (`opensmev_core::push::DeliverySettings`) as JSON. This struct
/// only documents it in the OpenAPI document; a test keeps its fields and the settings' equal.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct DeliveryDoc {
    /// `poll` (default) or `push`: the mode of the system's messages.
    mode: Option<String>,
    /// The mode per kind of information (ВС id → `poll` / `push`), over `mode`.
    kinds: Option<std::collections::BTreeMap<String, String>>,
    /// The URL pushed messages are POSTed to (`http://` or `https://`); required when anything
    /// is pushed.
    endpoint: Option<String>,
    /// `soap` (default: the signed SMEV answer a poll would return) or `rest` (the JSON of
    /// `POST /api/v1/inbox/requests/next`).
    format: Option<String>,
    /// The SMEV schema version of SOAP pushes: `1.1`, `1.2` or `1.3` (default).
    soap_version: Option<String>,
    /// `http` (default: a 2xx answer acknowledges) or `explicit` (the system acknowledges).
    ack: Option<String>,
    /// With `ack = explicit`: seconds the system has to acknowledge (default 300).
    explicit_ack_wait_s: Option<u64>,
    /// Concurrent deliveries per node, 1–64 (default 2).
    channels: Option<u32>,
    /// At most this many attempts a second per node (absent: no limit).
    rate_per_s: Option<u32>,
    /// One attempt's time limit in ms (default 10 000).
    timeout_ms: Option<u64>,
    /// Attempts before a dead letter (default 10).
    max_attempts: Option<u32>,
    /// Seconds after the first attempt before a dead letter (default 86 400).
    max_age_s: Option<u64>,
    /// The first back-off in ms, doubled per failure (default 1 000).
    backoff_initial_ms: Option<u64>,
    /// The longest back-off in ms (default 300 000).
    backoff_max_ms: Option<u64>,
    /// Consecutive failures that open the endpoint's circuit breaker (default 5).
    breaker_failures: Option<u32>,
    /// How long an open breaker pauses attempts, in ms (default 30 000).
    breaker_open_ms: Option<u64>,
}

/// A system's delivery settings (admin, operator, auditor; an IS token its own).
#[utoipa::path(get, path = "/api/v1/registry/systems/{id}/delivery", tag = "delivery",
    params(("id" = String, Path, description = "The system's mnemonic")),
    responses(
        (status = 200, description = "Its settings (every field, defaults filled in)", body = DeliveryDoc,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such system, or it has no delivery settings (polled)", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn get_settings(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    // A path that names no possible system names no system (404, as an unknown one).
    let Ok(system) = Mnemonic::parse(&id) else {
        return Err(Problem::not_found(format!("no system «{id}»")));
    };
    match auth.0.own_system() {
        Some(own) if *own == system => auth.may(&state, Action::WorkAsOwn)?,
        Some(_) => return Err(Problem::not_found(format!("no system {system}"))),
        None => auth.may(&state, Action::ReadRegistry)?,
    }
    let registry = state.bus.registry();
    let Some(found) = registry.system(&system) else {
        return Err(Problem::not_found(format!("no system {system}")));
    };
    let Some(settings) = found.delivery.as_deref() else {
        return Err(Problem::not_found(format!(
            "{system} has no delivery settings: its messages are polled"
        )));
    };
    Ok(with_etag(
        json(StatusCode::OK, settings),
        registry.version(),
    ))
}

/// Sets a system's delivery settings (admin): fields not given take their defaults. In force
/// at once on every node.
#[utoipa::path(put, path = "/api/v1/registry/systems/{id}/delivery", tag = "delivery",
    params(("id" = String, Path, description = "The system's mnemonic"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    request_body(content = DeliveryDoc, content_type = "application/json"),
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
        (status = 422, description = "Invalid settings", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn put_settings(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let given: DeliverySettings = json_body(&state, &headers, body).await?;
    let done = state
        .bus
        .set_system_delivery(&auth.0.actor, expected, &id, Some(given))
        .await?;
    Ok(changed(done, None, None))
}

/// Removes a system's delivery settings (admin): its messages are polled again (those queued
/// for push are still pushed if its settings come back, and may be polled meanwhile).
#[utoipa::path(delete, path = "/api/v1/registry/systems/{id}/delivery", tag = "delivery",
    params(("id" = String, Path, description = "The system's mnemonic"),
        ("If-Match" = Option<String>, Header, description = "The registry version the change is based on")),
    responses(
        (status = 200, description = "In force", body = ChangeOut,
            headers(("ETag" = String, description = "The registry version, quoted"))),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such system", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The registry changed meanwhile", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Malformed If-Match", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn delete_settings(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = may_change(&state, &auth, &headers)?;
    let done = state
        .bus
        .set_system_delivery(&auth.0.actor, expected, &id, None)
        .await?;
    Ok(changed(done, None, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented fields are the settings' fields.
    #[test]
    fn the_document_names_every_setting() {
        let mut settings = DeliverySettings {
            endpoint: Some("http://x".into()),
            rate_per_s: Some(1),
            ..DeliverySettings::default()
        };
        settings
            .kinds
            .insert("VS".into(), opensmev_core::push::ModeName::Push);
        let value = serde_json::to_value(&settings).unwrap();
        let mut real: Vec<&String> = value.as_object().unwrap().keys().collect();
        real.sort();
        let doc = serde_json::to_value(DeliveryDoc {
            mode: None,
            kinds: None,
            endpoint: None,
            format: None,
            soap_version: None,
            ack: None,
            explicit_ack_wait_s: None,
            channels: None,
            rate_per_s: None,
            timeout_ms: None,
            max_attempts: None,
            max_age_s: None,
            backoff_initial_ms: None,
            backoff_max_ms: None,
            breaker_failures: None,
            breaker_open_ms: None,
        })
        .unwrap();
        let mut documented: Vec<&String> = doc.as_object().unwrap().keys().collect();
        documented.sort();
        assert_eq!(real, documented);
    }
}
