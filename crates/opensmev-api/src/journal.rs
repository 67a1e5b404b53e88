//! The journal of messages: search with cursor paging, and one message with its full status
//! timeline. An IS token sees only its own system's messages.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use opensmev_core::journal::ReadError;
use opensmev_store::{DeliveryState, JournalEvent, MessageQuery, MessageSummary, StoredMessage};
use opensmev_types::{InteractionStatus, MessageId, MessageKind, Mnemonic};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Path, Query};
use crate::{
    ApiState, Authenticated, Problem, Unauthenticated, json, kind_text, mnemonic, next_cursor,
    page_cursor, page_limit, parse_optional_time, rfc3339,
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/messages", get(search))
        .route("/messages/{id}", get(show))
        .route(
            "/messages/by-client-id/{sender}/{client_id}",
            get(by_client_id),
        )
}

/// Which messages to find; every given condition holds. Newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// The system is the sender or the recipient.
    #[serde(default)]
    system: Option<String>,
    /// The sender.
    #[serde(default)]
    sender: Option<String>,
    /// The recipient.
    #[serde(default)]
    recipient: Option<String>,
    /// The kind of information (ВС) id.
    #[serde(default)]
    vs_id: Option<String>,
    /// `request` or `response`.
    #[serde(default)]
    direction: Option<String>,
    /// Accepted at or after (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Accepted before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
    /// The interaction status (`requestIsQueued`, `responseIsDelivered`, …).
    #[serde(default)]
    status: Option<String>,
    /// The delivery state (`queued`, `leased`, `acked`, `expired`, `undeliverable`).
    #[serde(default)]
    state: Option<String>,
    /// The MessageID.
    #[serde(default)]
    message_id: Option<String>,
    /// The sender's client id.
    #[serde(default)]
    client_id: Option<String>,
    /// Responses to this request (its MessageID).
    #[serde(default)]
    original_message_id: Option<String>,
    /// Text in the business content (case-sensitive).
    #[serde(default)]
    text: Option<String>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// One message found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageItem {
    /// `MessageID`.
    message_id: String,
    /// `request` or `response`.
    kind: String,
    /// Sender.
    sender: String,
    /// Recipient.
    recipient: String,
    /// The kind of information (ВС) id.
    vs_id: String,
    /// The message type, `{namespace}local`.
    message_type: String,
    /// The sender's client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// For responses: the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    original_message_id: Option<String>,
    /// Accepted at (RFC 3339).
    sent_at: String,
    /// The delivery state.
    state: String,
    /// How many times it was handed out.
    delivery_count: u32,
    /// The interaction status.
    status: String,
    /// `TestMessage`.
    test_message: bool,
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessagePage {
    /// The messages, newest first.
    items: Vec<MessageItem>,
    /// Give as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn item(s: MessageSummary) -> MessageItem {
    MessageItem {
        message_id: s.id.to_string(),
        kind: kind_text(s.kind).into(),
        sender: s.sender.to_string(),
        recipient: s.recipient.to_string(),
        vs_id: s.vs_id,
        message_type: s.message_type.to_string(),
        client_id: s.client_id,
        original_message_id: s.original_message_id.map(|i| i.to_string()),
        sent_at: rfc3339(s.sent_at),
        state: s.state.code().into(),
        delivery_count: s.delivery_count,
        status: s.status.code().into(),
        test_message: s.test_message,
    }
}

fn message_id(field: &str, text: Option<String>) -> Result<Option<MessageId>, Problem> {
    text.map(|t| {
        MessageId::parse(&t)
            .map_err(|e| Problem::invalid_field(field, format!("«{t}» is not a MessageID: {e}")))
    })
    .transpose()
}

/// Searches the journal of messages (an IS token: its own system's only).
#[utoipa::path(get, path = "/api/v1/messages", tag = "journal", params(SearchQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 400, description = "Unknown or malformed parameter", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter has an invalid value", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn search(
    State(state): State<ApiState>,
    auth: Authenticated,
    Query(q): Query<SearchQuery>,
) -> Result<Response, Problem> {
    let limit = page_limit(q.limit)?;
    let kind = match q.direction.as_deref() {
        None => None,
        Some("request") => Some(MessageKind::Request),
        Some("response") => Some(MessageKind::Response),
        Some(other) => {
            return Err(Problem::invalid_field(
                "direction",
                format!("«{other}» is neither request nor response"),
            ));
        }
    };
    let status = q
        .status
        .map(|t| {
            InteractionStatus::from_code(&t).ok_or_else(|| {
                Problem::invalid_field("status", format!("«{t}» is not an interaction status"))
            })
        })
        .transpose()?;
    let delivery_state = q
        .state
        .map(|t| {
            DeliveryState::from_code(&t).ok_or_else(|| {
                Problem::invalid_field("state", format!("«{t}» is not a delivery state"))
            })
        })
        .transpose()?;
    let before = page_cursor(q.cursor)?;
    let system = mnemonic("system", q.system)?;
    let query = MessageQuery {
        system,
        sender: mnemonic("sender", q.sender)?,
        recipient: mnemonic("recipient", q.recipient)?,
        vs_id: q.vs_id,
        kind,
        from: parse_optional_time("from", q.from.as_deref())?,
        to: parse_optional_time("to", q.to.as_deref())?,
        status,
        state: delivery_state,
        message_id: message_id("message_id", q.message_id)?,
        client_id: q.client_id,
        original_message_id: message_id("original_message_id", q.original_message_id)?,
        text: q.text.filter(|t| !t.is_empty()),
        before,
        limit: limit + 1,
    };
    let mut found = state.bus.search_messages_as(&auth.0, query).await?;
    let next_cursor = next_cursor(&mut found, limit, |m| m.seq);
    Ok(json(
        StatusCode::OK,
        &MessagePage {
            items: found.into_iter().map(item).collect(),
            next_cursor,
        },
    ))
}

/// One event of a message's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TimelineEvent {
    /// When (RFC 3339).
    at: String,
    /// `accepted`, `delivered`, `redelivered`, `released`, `acked`, `refused`, `answered`,
    /// `status`, `expired`, `undeliverable`.
    event: String,
    /// The node that recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    /// Who caused it (an information system; absent: the bus itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    /// The delivery attempt (hand-outs).
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<u32>,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// One message with its status timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageView {
    /// The message.
    #[serde(flatten)]
    message: MessageItem,
    /// `ReferenceMessageID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_message_id: Option<String>,
    /// `TransactionCode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_code: Option<String>,
    /// `EOL` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    eol: Option<String>,
    /// The schema version it was sent in.
    schema_version: String,
    /// Whether it carries the sender's signature (ЭП-ОВ).
    signed: bool,
    /// Its attachments: (id, MIME type, size).
    attachments: Vec<AttachmentInfo>,
    /// Every journal event, oldest first.
    timeline: Vec<TimelineEvent>,
}

/// An attachment's description.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttachmentInfo {
    /// Its id.
    id: String,
    /// Its MIME type.
    mime_type: String,
    /// Its size in bytes.
    size: u64,
}

fn timeline(events: Vec<JournalEvent>) -> Vec<TimelineEvent> {
    events
        .into_iter()
        .map(|e| TimelineEvent {
            at: rfc3339(e.at),
            event: e.kind.code().into(),
            node: e.node,
            actor: e.actor,
            attempt: e.attempt,
            detail: e.detail,
        })
        .collect()
}

async fn view(
    state: &ApiState,
    auth: &Authenticated,
    stored: Option<StoredMessage>,
    asked: &str,
) -> Result<Response, Problem> {
    let not_found = || Problem::not_found(format!("no message {asked}"));
    let Some(stored) = stored else {
        // Not found is not a denial, but an IS must not learn more than that.
        return Err(not_found());
    };
    let opensmev_core::journal::MessageView { stored, events } = state
        .bus
        .view_as(&auth.0, stored)
        .await
        .map_err(|e| match e {
            ReadError::NotFound => not_found(),
            other => Problem::from(other),
        })?;
    let m = &stored.message;
    let summary = MessageSummary {
        seq: stored.seq,
        id: m.id.clone(),
        kind: m.kind,
        sender: m.sender.clone(),
        recipient: m.recipient.clone(),
        message_type: m.message_type.clone(),
        vs_id: m.vs_id.clone(),
        client_id: m.client_id.clone(),
        original_message_id: m.original_message_id.clone(),
        sent_at: m.sent_at,
        state: stored.state,
        delivery_count: stored.delivery_count,
        status: stored.status,
        test_message: m.test_message,
    };
    let view = MessageView {
        message: item(summary),
        reference_message_id: m.reference_message_id.as_ref().map(|i| i.to_string()),
        transaction_code: m.transaction_code.clone(),
        eol: m.eol.map(rfc3339),
        schema_version: m.version.as_str().into(),
        signed: m.sender_signature.is_some(),
        attachments: m
            .attachments
            .iter()
            .map(|a| AttachmentInfo {
                id: a.content_id.clone(),
                mime_type: a.mime_type.clone(),
                size: a.data.len(),
            })
            .collect(),
        timeline: timeline(events),
    };
    Ok(json(StatusCode::OK, &view))
}

/// One message by its MessageID, with its full status timeline.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "journal",
    params(("id" = String, Path, description = "MessageID")),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 400, description = "Malformed path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "No such message (or not the IS token's own)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let Ok(parsed) = MessageId::parse(&id) else {
        return Err(Problem::not_found(format!(
            "no message {id} («{id}» is not a MessageID)"
        )));
    };
    let stored = state.bus.store().message(&parsed).await?;
    view(&state, &auth, stored, &id).await
}

/// One message by its sender's client id, with its full status timeline.
#[utoipa::path(get, path = "/api/v1/messages/by-client-id/{sender}/{client_id}", tag = "journal",
    params(("sender" = String, Path, description = "The sender's mnemonic"),
           ("client_id" = String, Path, description = "The sender's client id")),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 400, description = "Malformed path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "No such message (or not the IS token's own)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn by_client_id(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path((sender, client_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let asked = format!("with client id «{client_id}» from {sender}");
    let Ok(sender) = Mnemonic::parse(&sender) else {
        return Err(Problem::not_found(format!("no message {asked}")));
    };
    let stored = state
        .bus
        .store()
        .message_by_client_id(&sender, &client_id)
        .await?;
    view(&state, &auth, stored, &asked).await
}
