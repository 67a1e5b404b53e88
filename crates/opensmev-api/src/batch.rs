//! Batches through the API: many business requests in one submission (`POST /api/v1/batches`),
//! each an ordinary SMEV request with its own `MessageID` and outcome, and the batch's status
//! with one summary (`GET /api/v1/batches/{id}`). How a batch maps onto SMEV 3 messages:
//! `opensmev_core::batch` and `docs/delivery.md`.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use opensmev_core::batch::MAX_BATCH_ITEMS;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::json_object;
use crate::extract::Path;
use crate::problem::PROBLEM_JSON;
use crate::work::{SendRequestBody, caller, content_of, read_json, request_of};
use crate::{ApiState, Authenticated, Problem, Unauthenticated, json, rfc3339};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/batches", post(send))
        .route("/batches/{id}", get(show))
}

/// A batch of requests.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchIn {
    /// Your id for the batch (1–64 of A–Z a–z 0–9 - _ .): sending it again resends the same
    /// messages (those accepted already are reported so, not sent twice). Absent: the bus
    /// makes one.
    #[serde(default)]
    batch_id: Option<String>,
    /// The requests, each as the body of `POST /api/v1/requests` (1 to 10 000).
    items: Vec<SendRequestBody>,
}

/// What became of one item.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemOut {
    /// Its `MessageID`.
    message_id: String,
    /// Whether it was accepted (queued for its provider).
    accepted: bool,
    /// Its interaction status, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// Why not, when refused (`SMEV-111`: accepted by an earlier send of this batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<Problem>,
}

/// A batch sent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchOut {
    /// Its id.
    batch_id: String,
    /// Items accepted.
    accepted: usize,
    /// Items refused.
    refused: usize,
    /// Every item, in order.
    items: Vec<ItemOut>,
}

/// Sends many requests as one batch (IS token): each is routed, checked and queued on its own;
/// the answer says what became of each. An item that fails does not stop the others.
#[utoipa::path(post, path = "/api/v1/batches", tag = "work",
    request_body(content = BatchIn, content_type = "application/json"),
    responses(
        (status = 200, description = "Sent: each item's outcome", body = BatchOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "This batch id was sent with another number of items", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Too large", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "No items or too many, a bad batch id, or an item's option is invalid", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn send(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let bytes = read_json(&state, &headers, body).await?;
    let given: BatchIn = json_object(&bytes)?;
    if given.items.is_empty() || given.items.len() > MAX_BATCH_ITEMS {
        return Err(Problem::invalid_field(
            "items",
            format!(
                "a batch has 1 to {MAX_BATCH_ITEMS} items, not {}",
                given.items.len()
            ),
        ));
    }
    let version = state.settings.schema_version;
    let mut requests = Vec::with_capacity(given.items.len());
    for (n, item) in given.items.into_iter().enumerate() {
        let (content, options) = item.split();
        let request = content_of(content)
            .and_then(|content| request_of(version, options, content))
            .map_err(|mut p| {
                p.detail = format!("items[{n}]: {}", p.detail);
                p
            })?;
        requests.push(request);
    }
    let sent = state
        .bus
        .send_batch_as(&caller, &auth.0.actor, given.batch_id, requests)
        .await?;
    let items: Vec<ItemOut> = sent
        .items
        .into_iter()
        .map(|item| match item.outcome {
            Ok(accepted) => ItemOut {
                message_id: item.message_id,
                accepted: true,
                status: Some(accepted.status.code().to_owned()),
                problem: None,
            },
            Err(e) => ItemOut {
                message_id: item.message_id,
                accepted: false,
                status: None,
                problem: Some(Problem::from(e)),
            },
        })
        .collect();
    let accepted = items.iter().filter(|i| i.accepted).count();
    let out = BatchOut {
        batch_id: sent.id,
        accepted,
        refused: items.len() - accepted,
        items,
    };
    Ok(json(StatusCode::OK, &out))
}

/// The state of one item.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemStateOut {
    /// Its `MessageID`.
    message_id: String,
    /// Its delivery state (`queued`, `leased`, `acked`, …); absent: never accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    /// Its interaction status (`requestIsQueued`, `underProcessing`, `responseIsQueued` —
    /// answered —, …); absent: never accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

/// A batch's status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchStateOut {
    /// Its id.
    batch_id: String,
    /// When it was first sent (RFC 3339).
    created_at: String,
    /// Its items.
    total: usize,
    /// Items by interaction status (`notAccepted`: never accepted).
    summary: BTreeMap<String, usize>,
    /// Every item, in order.
    items: Vec<ItemStateOut>,
}

/// A batch of the token's system with each item's state and one summary.
#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "work",
    params(("id" = String, Path, description = "The batch id")),
    responses(
        (status = 200, description = "The batch", body = BatchStateOut),
        (status = 400, description = "Malformed path", body = Problem, content_type = PROBLEM_JSON),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such batch of this system", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Not a batch id", body = Problem, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn show(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let batch = state.bus.batch_as(&caller, &id).await?;
    let mut summary = BTreeMap::new();
    let items: Vec<ItemStateOut> = batch
        .items
        .into_iter()
        .map(|item| {
            let key = item
                .message
                .map_or("notAccepted", |(_, status)| status.code());
            *summary.entry(key.to_owned()).or_insert(0) += 1;
            ItemStateOut {
                message_id: item.message_id.to_string(),
                state: item.message.map(|(s, _)| s.code().to_owned()),
                status: item.message.map(|(_, s)| s.code().to_owned()),
            }
        })
        .collect();
    let out = BatchStateOut {
        batch_id: batch.id,
        created_at: rfc3339(batch.created_at),
        total: items.len(),
        summary,
        items,
    };
    Ok(json(StatusCode::OK, &out))
}
