//! An information system at work through the API: send requests and responses (signed by the
//! bus with the key it holds for the system), receive the next incoming message (plain or long
//! poll) with the verification of every signature in it, acknowledge, take status notices.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use opensmev_core::auth::Action;
use opensmev_core::integration::{
    DeliveredBody, OutgoingAnswer, OutgoingAttachment, OutgoingContent, OutgoingRequest,
    OutgoingResponse, SignatureCheck,
};
use opensmev_core::{Accepted, Bus, Caller, HandOutError, PollSpec, registry::parse_clark};
use opensmev_store::{Blob, StoredMessage};
use opensmev_types::{MessageId, MessageKind, SchemaVersion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::body::{bytes, content_type, essence, json_object, refuse_declared_over};
use crate::extract::{Path, Query};
use crate::{
    ApiState, Authenticated, Problem, Unauthenticated, json, kind_text, parse_optional_time,
    rfc3339,
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/requests", post(send_request))
        .route("/requests/{id}/response", post(send_response))
        .route("/requests/{id}/rejection", post(send_rejection))
        .route("/requests/{id}/status", post(send_status))
        .route("/inbox/requests/next", post(next_request))
        .route("/inbox/responses/next", post(next_response))
        .route("/messages/{id}/ack", post(ack))
        .route("/statuses/next", post(next_status))
        .route("/queues", get(queues))
}

/// The caller of an IS token (401/403 otherwise).
pub(crate) fn caller(state: &ApiState, auth: &Authenticated) -> Result<Caller, Problem> {
    auth.may(state, Action::WorkAsOwn)?;
    // Allowed only to a principal of role `is`, which names its system.
    let system =
        auth.0.own_system().cloned().ok_or_else(|| {
            Problem::from(opensmev_core::auth::AuthError::SystemGone(String::new()))
        })?;
    state.bus.caller_of(&system).ok_or_else(|| {
        Problem::from(opensmev_core::auth::AuthError::SystemGone(
            system.to_string(),
        ))
    })
}

/// How the request body came.
enum Given {
    Json(Bytes),
    Xml(String),
    Form(crate::form::Form),
}

const JSON_OR_XML: &str =
    "application/json, application/xml with the business XML, or multipart/form-data";

async fn read_body(state: &ApiState, headers: &HeaderMap, body: Body) -> Result<Given, Problem> {
    let content_type = content_type(headers);
    let essence = essence(content_type);
    if essence == "multipart/form-data" {
        refuse_declared_over(headers, state.settings.max_form_bytes)?;
        return crate::form::read(state, content_type, body)
            .await
            .map(Given::Form);
    }
    let limit = state.settings.max_body_bytes;
    refuse_declared_over(headers, limit)?;
    let is_json = essence == "application/json" || essence.ends_with("+json");
    let is_xml = essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml");
    if !is_json && !is_xml {
        return Err(Problem::unsupported_media_type(content_type, JSON_OR_XML));
    }
    let bytes = bytes(body, limit).await?;
    if is_json {
        return Ok(Given::Json(bytes));
    }
    String::from_utf8(bytes.to_vec())
        .map(Given::Xml)
        .map_err(|e| Problem::bad_request(format!("the XML body is not UTF-8: {e}")))
}

/// A body that must be JSON, read as [`read_body`] reads it: XML or a form is 415.
pub(crate) async fn read_json(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Problem> {
    match read_body(state, headers, body).await? {
        Given::Json(bytes) => Ok(bytes),
        Given::Xml(_) | Given::Form(_) => Err(Problem::unsupported_media_type(
            content_type(headers),
            "application/json",
        )),
    }
}

/// A send as `multipart/form-data` (the document's description of the form; the server reads
/// it part by part in `form.rs`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SendForm {
    /// The business XML: one element, as a standalone XML document.
    business_xml: String,
    /// An ЭП-СП `ds:Signature` over the content.
    personal_signature_xml: Option<String>,
    /// Attachments: file parts named `attachment` (repeatable); each part's file name is the
    /// attachment's id, its `Content-Type` the attachment's MIME type.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    attachment: Option<Vec<Vec<u8>>>,
    /// As in JSON (requests).
    message_id: Option<String>,
    /// As in JSON.
    client_id: Option<String>,
    /// As in JSON (requests).
    reference_message_id: Option<String>,
    /// As in JSON (requests).
    transaction_code: Option<String>,
    /// As in JSON (requests).
    node_id: Option<String>,
    /// As in JSON (requests).
    eol: Option<String>,
    /// `true` or `false` (requests).
    test_message: Option<bool>,
}

/// An attachment given in JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttachmentIn {
    /// Its id (`AttachmentHeader/contentId`): an XML NCName, unique in the message.
    id: String,
    /// Its MIME type.
    mime_type: String,
    /// Its bytes, base64.
    data_base64: String,
}

/// Business content given in JSON (the content fields of [`SendRequestBody`] and
/// [`SendResponseBody`]).
#[derive(Debug)]
pub(crate) struct ContentIn {
    business_xml: String,
    personal_signature_xml: Option<String>,
    attachments: Vec<AttachmentIn>,
}

/// Options of a message to send (JSON fields, or query parameters when the body is the XML).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SendOptions {
    /// `MessageID` (a lower-case version-1 UUID); the bus makes one when absent.
    #[serde(default)]
    message_id: Option<String>,
    /// Your own id for the message: unique per system (a second send with it is 409 and names
    /// the message it was used for); find the message by it later.
    #[serde(default)]
    client_id: Option<String>,
    /// `ReferenceMessageID` (requests).
    #[serde(default)]
    reference_message_id: Option<String>,
    /// `TransactionCode` (requests).
    #[serde(default)]
    transaction_code: Option<String>,
    /// `NodeID` (requests): responses go only to polls naming it.
    #[serde(default)]
    node_id: Option<String>,
    /// `EOL` (requests), RFC 3339.
    #[serde(default)]
    eol: Option<String>,
    /// `TestMessage` (requests).
    #[serde(default)]
    test_message: Option<bool>,
    /// Priority 0–9 (requests; higher first in the provider's queue, and for its answer): over
    /// the kind's, at most the grant's when the grant gives one.
    #[serde(default)]
    #[param(minimum = 0, maximum = 9)]
    priority: Option<u8>,
}

/// A request to send, in JSON: the content and the options of [`SendOptions`].
///
/// The fields are listed here rather than flattened from a content and an options struct: the
/// document of a flattened pair is an `allOf` of two closed objects, which no body can match.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendRequestBody {
    /// The business XML: one element, as a standalone XML document, valid against the kind's XSD.
    business_xml: String,
    /// An ЭП-СП `ds:Signature` over the content (placed in `PersonalSignature`).
    #[serde(default)]
    personal_signature_xml: Option<String>,
    /// Attachments.
    #[serde(default)]
    attachments: Vec<AttachmentIn>,
    /// `MessageID` (a lower-case version-1 UUID); the bus makes one when absent.
    #[serde(default)]
    message_id: Option<String>,
    /// Your own id for the message: unique per system (a second send with it is 409 and names
    /// the message it was used for); find the message by it later.
    #[serde(default)]
    client_id: Option<String>,
    /// `ReferenceMessageID`.
    #[serde(default)]
    reference_message_id: Option<String>,
    /// `TransactionCode`.
    #[serde(default)]
    transaction_code: Option<String>,
    /// `NodeID`: responses go only to polls naming it.
    #[serde(default)]
    node_id: Option<String>,
    /// `EOL`, RFC 3339.
    #[serde(default)]
    eol: Option<String>,
    /// `TestMessage`.
    #[serde(default)]
    test_message: Option<bool>,
    /// Priority 0–9 (higher first in the provider's queue, and for the answer): over the kind's,
    /// at most the grant's when the grant gives one.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9)]
    priority: Option<u8>,
}

impl SendRequestBody {
    pub(crate) fn split(self) -> (ContentIn, SendOptions) {
        (
            ContentIn {
                business_xml: self.business_xml,
                personal_signature_xml: self.personal_signature_xml,
                attachments: self.attachments,
            },
            SendOptions {
                message_id: self.message_id,
                client_id: self.client_id,
                reference_message_id: self.reference_message_id,
                transaction_code: self.transaction_code,
                node_id: self.node_id,
                eol: self.eol,
                test_message: self.test_message,
                priority: self.priority,
            },
        )
    }
}

/// A business response to send, in JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendResponseBody {
    /// The business XML: one element, as a standalone XML document, valid against the kind's XSD.
    business_xml: String,
    /// An ЭП-СП `ds:Signature` over the content (placed in `PersonalSignature`).
    #[serde(default)]
    personal_signature_xml: Option<String>,
    /// Attachments.
    #[serde(default)]
    attachments: Vec<AttachmentIn>,
    /// `MessageID` of the response; the bus makes one when absent.
    #[serde(default)]
    message_id: Option<String>,
    /// Your own id for the response.
    #[serde(default)]
    client_id: Option<String>,
}

/// The options of a response given as XML (query parameters).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResponseOptions {
    /// `MessageID` of the response; the bus makes one when absent.
    #[serde(default)]
    message_id: Option<String>,
    /// Your own id for the response.
    #[serde(default)]
    client_id: Option<String>,
}

/// One reason of a rejection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectionReason {
    /// `ACCESS_DENIED`, `NO_DATA`, `UNKNOWN_REQUEST_DESCRIPTION` or `FAILURE`.
    code: String,
    /// The explanation.
    description: String,
}

/// A rejection (`RequestRejected`) of a received request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectionBody {
    /// The reasons (at least one).
    reasons: Vec<RejectionReason>,
    /// `MessageID` of the response; the bus makes one when absent.
    #[serde(default)]
    message_id: Option<String>,
    /// Your own id for the response.
    #[serde(default)]
    client_id: Option<String>,
}

/// One parameter of an intermediate status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusParameter {
    /// Key.
    key: String,
    /// Value.
    value: String,
}

/// An intermediate status (`RequestStatus`) of a received request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    /// The status code.
    code: i32,
    /// Its description.
    description: String,
    /// Parameters.
    #[serde(default)]
    parameters: Vec<StatusParameter>,
    /// `MessageID` of the response; the bus makes one when absent.
    #[serde(default)]
    message_id: Option<String>,
    /// Your own id for the response.
    #[serde(default)]
    client_id: Option<String>,
}

/// A message the bus accepted (stored durably before this answer).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AcceptedMessage {
    /// `MessageID`.
    message_id: String,
    /// Your client id, if given.
    client_id: Option<String>,
    /// `request` or `response`.
    kind: String,
    /// The sender (you).
    sender: String,
    /// The recipient.
    recipient: String,
    /// The kind of information (ВС) id.
    vs_id: String,
    /// The business root element, `{namespace}local`.
    message_type: String,
    /// The interaction status after acceptance.
    status: String,
    /// When it was accepted (RFC 3339).
    sent_at: String,
    /// Whether the bus signed it (ЭП-ОВ) with the key it holds for you.
    signed: bool,
}

fn accepted_answer(accepted: &Accepted) -> Response {
    let m = &accepted.message;
    let body = AcceptedMessage {
        message_id: m.id.to_string(),
        client_id: m.client_id.clone(),
        kind: kind_text(m.kind).into(),
        sender: m.sender.to_string(),
        recipient: m.recipient.to_string(),
        vs_id: m.vs_id.clone(),
        message_type: m.message_type.to_string(),
        status: accepted.status.code().into(),
        sent_at: rfc3339(m.sent_at),
        signed: m.sender_signature.is_some(),
    };
    let mut response = json(StatusCode::CREATED, &body);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/messages/{}", m.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn attachments_of(given: Vec<AttachmentIn>) -> Result<Vec<OutgoingAttachment>, Problem> {
    given
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let data = base64::engine::general_purpose::STANDARD
                .decode(a.data_base64.trim())
                .map_err(|e| {
                    Problem::invalid_field(
                        &format!("/attachments/{i}/data_base64"),
                        format!("not base64: {e}"),
                    )
                })?;
            Ok(OutgoingAttachment {
                id: a.id,
                mime_type: a.mime_type,
                data: Blob::Bytes(data),
            })
        })
        .collect()
}

pub(crate) fn content_of(given: ContentIn) -> Result<OutgoingContent, Problem> {
    Ok(OutgoingContent {
        business_xml: given.business_xml,
        personal_signature_xml: given.personal_signature_xml,
        attachments: attachments_of(given.attachments)?,
    })
}

pub(crate) fn request_of(
    version: SchemaVersion,
    options: SendOptions,
    content: OutgoingContent,
) -> Result<OutgoingRequest, Problem> {
    let eol = parse_optional_time("eol", options.eol.as_deref())?;
    let priority = match options.priority {
        Some(p) if p > opensmev_core::registry::MAX_PRIORITY => {
            return Err(Problem::invalid_field("priority", "0–9"));
        }
        p => p,
    };
    Ok(OutgoingRequest {
        version,
        message_id: options.message_id,
        client_id: check_client_id(options.client_id)?,
        reference_message_id: options.reference_message_id,
        transaction_code: options.transaction_code,
        node_id: options.node_id,
        eol,
        test_message: options.test_message.unwrap_or(false),
        priority,
        content,
    })
}

fn check_client_id(id: Option<String>) -> Result<Option<String>, Problem> {
    match id {
        Some(id) if id.is_empty() || id.chars().count() > 200 => {
            Err(Problem::invalid_field("client_id", "1–200 characters"))
        }
        Some(id) if id.chars().any(char::is_control) => Err(Problem::invalid_field(
            "client_id",
            "control characters are not allowed",
        )),
        other => Ok(other),
    }
}

/// A duplicate client id is answered with the message it was used for.
async fn conflict_on_client_id(
    state: &ApiState,
    caller: &Caller,
    client_id: &Option<String>,
    error: opensmev_core::BusError,
) -> Problem {
    if let (opensmev_core::BusError::MessageIsAlreadySent(_), Some(client_id)) = (&error, client_id)
        && let Ok(Some(existing)) = state
            .bus
            .store()
            .message_by_client_id(&caller.system.mnemonic, client_id)
            .await
    {
        return Problem::new(
            StatusCode::CONFLICT,
            "api.client-id-used",
            "Идентификатор клиента уже использован / The client id was used already",
            format!(
                "the client id «{client_id}» was used for message {} accepted at {}",
                existing.message.id,
                rfc3339(existing.message.sent_at)
            ),
        );
    }
    error.into()
}

/// Sends a request as the token's information system.
///
/// The body is JSON (`SendRequestBody`), or the business XML itself (`application/xml`) with
/// the options as query parameters. The bus composes the `SendRequest` an SMEV client would
/// send, signs it (ЭП-ОВ) with the key it holds for the system, and accepts it by the same rules
/// as a SOAP call: the answer comes only after the message is stored durably.
#[utoipa::path(post, path = "/api/v1/requests", tag = "work",
    params(SendOptions),
    request_body(content(
        (SendRequestBody = "application/json"),
        (String = "application/xml"),
        (SendForm = "multipart/form-data")
    )),
    responses(
        (status = 201, description = "Accepted and stored", body = AcceptedMessage,
            headers(("Location" = String, description = "The message in the journal: `/api/v1/messages/{MessageID}`"))),
        (status = 400, description = "Malformed JSON or parameters", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an IS token, or no grant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already sent (MessageID or client id), or no key held", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or attachments too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor XML", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid content (XSD errors with element, line, column), unknown kind", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The recipient's queue is full", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn send_request(
    State(state): State<ApiState>,
    auth: Authenticated,
    Query(query): Query<SendOptions>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let version = state.settings.schema_version;
    let mut files = None;
    let request = match read_body(&state, &headers, body).await? {
        Given::Json(bytes) => {
            if !query_is_empty(&query) {
                return Err(Problem::bad_request(
                    "with a JSON body the options are JSON fields, not query parameters",
                ));
            }
            let (content, options) = json_object::<SendRequestBody>(&bytes)?.split();
            request_of(version, options, content_of(content)?)?
        }
        Given::Xml(xml) => request_of(
            version,
            query,
            OutgoingContent {
                business_xml: xml,
                ..OutgoingContent::default()
            },
        )?,
        Given::Form(form) => {
            if !query_is_empty(&query) {
                return Err(Problem::bad_request(
                    "with a form body the options are form fields, not query parameters",
                ));
            }
            files = Some(form.files);
            let mut fields = form.fields;
            let test_message = match fields.remove("test_message").as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(other) => {
                    return Err(Problem::invalid_field(
                        "test_message",
                        format!("«{other}» is neither true nor false"),
                    ));
                }
            };
            let options = SendOptions {
                message_id: fields.remove("message_id"),
                client_id: fields.remove("client_id"),
                reference_message_id: fields.remove("reference_message_id"),
                transaction_code: fields.remove("transaction_code"),
                node_id: fields.remove("node_id"),
                eol: fields.remove("eol"),
                test_message,
                priority: match fields.remove("priority") {
                    None => None,
                    Some(text) => Some(text.parse().map_err(|_| {
                        Problem::invalid_field("priority", format!("«{text}» is not 0–9"))
                    })?),
                },
            };
            request_of(version, options, form.content)?
        }
    };
    let client_id = request.client_id.clone();
    // Attachments spooled from a form live until the send returned (the store takes them over).
    let _files = files;
    match state.bus.send_request_as(&caller, request).await {
        Ok(accepted) => Ok(accepted_answer(&accepted)),
        Err(e) => Err(conflict_on_client_id(&state, &caller, &client_id, e).await),
    }
}

fn query_is_empty(q: &SendOptions) -> bool {
    q.message_id.is_none()
        && q.client_id.is_none()
        && q.reference_message_id.is_none()
        && q.transaction_code.is_none()
        && q.node_id.is_none()
        && q.eol.is_none()
        && q.test_message.is_none()
        && q.priority.is_none()
}

fn request_id(text: &str) -> Result<MessageId, Problem> {
    MessageId::parse(text).map_err(|e| {
        Problem::not_found(format!(
            "«{text}» is not a MessageID ({e}); no request has it"
        ))
    })
}

async fn respond(
    state: &ApiState,
    auth: &Authenticated,
    caller: &Caller,
    response: OutgoingResponse,
) -> Result<Response, Problem> {
    let client_id = response.client_id.clone();
    let request = response.request.clone();
    match state.bus.send_response_as(caller, response).await {
        Ok(accepted) => Ok(accepted_answer(&accepted)),
        Err(e) => {
            if matches!(
                e,
                opensmev_core::BusError::RecipientIsNotFound(
                    opensmev_core::Recipient::NoRequest { .. }
                )
            ) {
                note_foreign(state, auth, &request, "answer").await;
            }
            Err(conflict_on_client_id(state, caller, &client_id, e).await)
        }
    }
}

/// An IS acting on a message that exists but is not addressed to it: the bus refuses it as not
/// found (an IS learns nothing of other systems' messages), and it is logged and counted as a
/// denial.
async fn note_foreign(
    state: &ApiState,
    auth: &Authenticated,
    id: &MessageId,
    action: &'static str,
) {
    let Some(own) = auth.0.own_system() else {
        return;
    };
    if let Ok(Some(stored)) = state.bus.store().message(id).await
        && stored.message.recipient != *own
    {
        state.bus.record_denied(&opensmev_core::auth::Denied {
            actor: auth.0.actor.clone(),
            role: auth.0.role,
            action,
            reason: format!(
                "the message {id} is addressed to {}, not to {own}",
                stored.message.recipient
            ),
        });
    }
}

/// Sends a business response to a request the token's system received.
#[utoipa::path(post, path = "/api/v1/requests/{id}/response", tag = "work",
    params(("id" = String, Path, description = "The request's MessageID"), ResponseOptions),
    request_body(content(
        (SendResponseBody = "application/json"),
        (String = "application/xml"),
        (SendForm = "multipart/form-data")
    )),
    responses(
        (status = 201, description = "Accepted and stored", body = AcceptedMessage,
            headers(("Location" = String, description = "The message in the journal: `/api/v1/messages/{MessageID}`"))),
        (status = 400, description = "Malformed JSON, parameters or path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request addressed to the system", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already sent", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor XML", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid content", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The consumer's queue is full", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn send_response(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(query): Query<ResponseOptions>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let request = request_id(&id)?;
    let version = state.settings.schema_version;
    let mut files = None;
    let response = match read_body(&state, &headers, body).await? {
        Given::Json(bytes) => {
            let given: SendResponseBody = json_object(&bytes)?;
            OutgoingResponse {
                version,
                message_id: given.message_id.or(query.message_id),
                client_id: check_client_id(given.client_id.or(query.client_id))?,
                request,
                answer: OutgoingAnswer::Business(content_of(ContentIn {
                    business_xml: given.business_xml,
                    personal_signature_xml: given.personal_signature_xml,
                    attachments: given.attachments,
                })?),
            }
        }
        Given::Xml(xml) => OutgoingResponse {
            version,
            message_id: query.message_id,
            client_id: check_client_id(query.client_id)?,
            request,
            answer: OutgoingAnswer::Business(OutgoingContent {
                business_xml: xml,
                ..OutgoingContent::default()
            }),
        },
        Given::Form(form) => {
            files = Some(form.files);
            let mut fields = form.fields;
            let message_id = fields.remove("message_id").or(query.message_id);
            let client_id = check_client_id(fields.remove("client_id").or(query.client_id))?;
            if let Some(name) = fields.keys().next() {
                return Err(Problem::bad_request(format!(
                    "the form field «{name}» is not taken by a response (only business_xml, personal_signature_xml, attachment, message_id, client_id)"
                )));
            }
            OutgoingResponse {
                version,
                message_id,
                client_id,
                request,
                answer: OutgoingAnswer::Business(form.content),
            }
        }
    };
    let _files = files;
    respond(&state, &auth, &caller, response).await
}

/// Rejects a request the token's system received (`RequestRejected`).
#[utoipa::path(post, path = "/api/v1/requests/{id}/rejection", tag = "work",
    params(("id" = String, Path, description = "The request's MessageID")),
    request_body(content = RejectionBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Accepted and stored", body = AcceptedMessage,
            headers(("Location" = String, description = "The message in the journal: `/api/v1/messages/{MessageID}`"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request addressed to the system", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already sent", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reasons", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn send_rejection(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let request = request_id(&id)?;
    let bytes = read_json(&state, &headers, body).await?;
    let given: RejectionBody = json_object(&bytes)?;
    if given.reasons.is_empty() {
        return Err(Problem::invalid_field("reasons", "at least one reason"));
    }
    let mut reasons = Vec::with_capacity(given.reasons.len());
    for (i, r) in given.reasons.into_iter().enumerate() {
        let code = opensmev_wire::RejectCode::parse(&r.code).ok_or_else(|| {
            Problem::invalid_field(
                &format!("/reasons/{i}/code"),
                format!(
                    "«{}» is not one of ACCESS_DENIED, NO_DATA, UNKNOWN_REQUEST_DESCRIPTION, FAILURE",
                    r.code
                ),
            )
        })?;
        reasons.push((code, r.description));
    }
    let response = OutgoingResponse {
        version: state.settings.schema_version,
        message_id: given.message_id,
        client_id: check_client_id(given.client_id)?,
        request,
        answer: OutgoingAnswer::Rejected(reasons),
    };
    respond(&state, &auth, &caller, response).await
}

/// Sends an intermediate status (`RequestStatus`) of a request the token's system received.
#[utoipa::path(post, path = "/api/v1/requests/{id}/status", tag = "work",
    params(("id" = String, Path, description = "The request's MessageID")),
    request_body(content = StatusBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Accepted and stored", body = AcceptedMessage,
            headers(("Location" = String, description = "The message in the journal: `/api/v1/messages/{MessageID}`"))),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request addressed to the system", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already sent", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn send_status(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let request = request_id(&id)?;
    let bytes = read_json(&state, &headers, body).await?;
    let given: StatusBody = json_object(&bytes)?;
    let response = OutgoingResponse {
        version: state.settings.schema_version,
        message_id: given.message_id,
        client_id: check_client_id(given.client_id)?,
        request,
        answer: OutgoingAnswer::Status {
            code: given.code,
            description: given.description,
            parameters: given
                .parameters
                .into_iter()
                .map(|p| (p.key, p.value))
                .collect(),
        },
    };
    respond(&state, &auth, &caller, response).await
}

/// What to receive.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PollQuery {
    /// Only this message type (the business root element, `{namespace}local`).
    #[serde(default, rename = "type")]
    message_type: Option<String>,
    /// The poller's `NodeID` (responses to requests sent with a node go only to it).
    #[serde(default)]
    node_id: Option<String>,
    /// Seconds to wait for a message when none is waiting (long poll; 0 = answer at once; at
    /// most the server's `api_max_poll_wait_seconds`).
    #[serde(default)]
    wait: Option<u64>,
    /// Also hand over the signed SMEV answer that delivers the message (`smev_xml`: the SOAP
    /// envelope of `GetRequestResponse`/`GetResponseResponse` of schema 1.3 as SOAP would deliver it, signed
    /// by the bus — ЭП-СМЭВ — with the attachments' contents left out), for archiving, and
    /// report its signature.
    #[serde(default)]
    smev_xml: Option<bool>,
}

/// An attachment of a delivered message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttachmentOut {
    /// Its id.
    id: String,
    /// Its MIME type.
    mime_type: String,
    /// Its size in bytes.
    size: u64,
    /// Its bytes, base64.
    data_base64: String,
}

/// The verification of one signature.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignatureCheckOut {
    /// `ЭП-ОВ` (the sender's), `ЭП-СП` (personal) or `ЭП-СМЭВ` (the bus's, with `smev_xml=true`).
    role: String,
    /// Whether it is valid.
    valid: bool,
    /// Why not: the SMEV category.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_category: Option<String>,
    /// Why not: the explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
    /// The signer certificate's subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_subject: Option<String>,
    /// Its SHA-1 thumbprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_thumbprint: Option<String>,
    /// The information system the registry has the certificate for.
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_system: Option<String>,
    /// For the detached signature of an attachment (`SignaturePKCS7`): the attachment's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment: Option<String>,
}

impl From<SignatureCheck> for SignatureCheckOut {
    fn from(c: SignatureCheck) -> Self {
        let (category, failure) = c.failure.unzip();
        SignatureCheckOut {
            role: c.role.label().into(),
            valid: c.valid,
            failure_category: category,
            failure,
            certificate_subject: c.certificate_subject,
            certificate_thumbprint: c.certificate_thumbprint,
            registered_system: c.registered_system,
            attachment: c.attachment,
        }
    }
}

/// One rejection reason of a delivered rejection.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RejectionOut {
    /// The code.
    code: String,
    /// The description.
    description: String,
}

/// An intermediate status of a delivered status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusOut {
    /// The code.
    code: String,
    /// The description.
    description: String,
    /// Parameters (key → value, in order).
    parameters: Vec<(String, String)>,
}

/// A message handed out to the token's system. Acknowledge it (`POST
/// /api/v1/messages/{id}/ack`) once processed; until then it is leased and comes again when the
/// lease runs out.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Delivery {
    /// `MessageID`.
    message_id: String,
    /// `request` or `response`.
    kind: String,
    /// The sender.
    sender: String,
    /// The sender's name.
    sender_name: String,
    /// The recipient (you).
    recipient: String,
    /// The kind of information (ВС) id.
    vs_id: String,
    /// The message type, `{namespace}local`.
    message_type: String,
    /// `business`, `rejection` or `status`.
    content_kind: String,
    /// The business XML (`business`).
    #[serde(skip_serializing_if = "Option::is_none")]
    business_xml: Option<String>,
    /// The reasons (`rejection`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rejections: Vec<RejectionOut>,
    /// The status (`status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut>,
    /// Attachments.
    attachments: Vec<AttachmentOut>,
    /// The verification of every signature in it.
    signatures: Vec<SignatureCheckOut>,
    /// For responses: the request's MessageID.
    #[serde(skip_serializing_if = "Option::is_none")]
    original_message_id: Option<String>,
    /// `ReferenceMessageID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_message_id: Option<String>,
    /// `TransactionCode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_code: Option<String>,
    /// `TestMessage`.
    test_message: bool,
    /// When the bus accepted it (RFC 3339).
    sent_at: String,
    /// The delivery attempt (1 = first).
    attempt: u32,
    /// The lease: acknowledge before this time (RFC 3339).
    lease_until: Option<String>,
    /// With `smev_xml=true`: the signed SMEV answer that delivers the message (ЭП-СМЭВ).
    #[serde(skip_serializing_if = "Option::is_none")]
    smev_xml: Option<String>,
}

fn delivery(
    state: &ApiState,
    stored: StoredMessage,
    with_smev_xml: bool,
) -> Result<Delivery, HandOutError> {
    let version = with_smev_xml.then_some(state.settings.schema_version);
    delivery_of(&state.bus, &stored, version)
}

/// The body of a push in the integration API's shape (`format = "rest"` of push delivery): the
/// JSON a poll of `POST /api/v1/inbox/requests/next` (or `responses/next`) returns for `stored`.
pub fn push_json(bus: &Bus, stored: &StoredMessage) -> Result<Vec<u8>, HandOutError> {
    let delivery = delivery_of(bus, stored, None)?;
    serde_json::to_vec(&delivery).map_err(|e| {
        HandOutError::Failed(opensmev_core::BusError::Internal(format!(
            "encoding the delivery of {}: {e}",
            stored.message.id
        )))
    })
}

/// The delivery of `stored`; with `smev_xml` in the SMEV answer of that schema version too.
fn delivery_of(
    bus: &Bus,
    stored: &StoredMessage,
    smev_xml: Option<SchemaVersion>,
) -> Result<Delivery, HandOutError> {
    // Each attachment is read once: for the answer and for its signature's check.
    let m = &stored.message;
    let mut contents = Vec::with_capacity(m.attachments.len());
    for a in &m.attachments {
        contents.push(a.data.to_vec().map_err(|e| {
            HandOutError::Failed(opensmev_core::BusError::Internal(format!(
                "reading attachment {} of {}: {e}",
                a.content_id, m.id
            )))
        })?);
    }
    let mut opened = bus
        .open_delivered(stored, &contents)
        .map_err(HandOutError::Undeliverable)?;
    let smev_xml = match smev_xml {
        Some(version) => {
            let xml = bus.delivery_xml(stored, version)?;
            opened.signatures.push(bus.check_smev_signature(&xml));
            Some(xml)
        }
        None => None,
    };
    let attachments: Vec<AttachmentOut> = m
        .attachments
        .iter()
        .zip(&contents)
        .map(|(a, bytes)| AttachmentOut {
            id: a.content_id.clone(),
            mime_type: a.mime_type.clone(),
            size: bytes.len() as u64,
            data_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
        .collect();
    let (content_kind, business_xml, rejections, status) = match opened.body {
        DeliveredBody::Business(xml) => ("business", Some(xml), Vec::new(), None),
        DeliveredBody::Rejected(reasons) => (
            "rejection",
            None,
            reasons
                .into_iter()
                .map(|(code, description)| RejectionOut { code, description })
                .collect(),
            None,
        ),
        DeliveredBody::Status {
            code,
            description,
            parameters,
        } => (
            "status",
            None,
            Vec::new(),
            Some(StatusOut {
                code,
                description,
                parameters,
            }),
        ),
    };
    let registry = bus.registry();
    Ok(Delivery {
        message_id: m.id.to_string(),
        kind: kind_text(m.kind).into(),
        sender: m.sender.to_string(),
        sender_name: registry
            .system(&m.sender)
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        recipient: m.recipient.to_string(),
        vs_id: m.vs_id.clone(),
        message_type: m.message_type.to_string(),
        content_kind: content_kind.into(),
        business_xml,
        rejections,
        status,
        attachments,
        signatures: opened.signatures.into_iter().map(Into::into).collect(),
        original_message_id: m.original_message_id.as_ref().map(|i| i.to_string()),
        reference_message_id: m.reference_message_id.as_ref().map(|i| i.to_string()),
        transaction_code: m.transaction_code.clone(),
        test_message: m.test_message,
        sent_at: rfc3339(m.sent_at),
        attempt: stored.delivery_count,
        lease_until: stored.lease_until.map(rfc3339),
        smev_xml,
    })
}

async fn next(
    state: ApiState,
    auth: Authenticated,
    query: PollQuery,
    kind: MessageKind,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let message_type = match &query.message_type {
        Some(text) => Some(parse_clark(text).ok_or_else(|| {
            Problem::invalid_field("type", format!("«{text}» is not {{namespace}}local"))
        })?),
        None => None,
    };
    let max = state.settings.max_poll_wait;
    let wait = Duration::from_secs(query.wait.unwrap_or(0));
    if wait > max {
        return Err(Problem::invalid_field(
            "wait",
            format!("at most {} seconds", max.as_secs()),
        ));
    }
    let with_smev_xml = query.smev_xml.unwrap_or(false);
    let spec = PollSpec {
        message_type,
        node_id: query.node_id,
        wait,
    };
    let found = state
        .bus
        .poll_as(&caller, kind, spec, |stored| {
            delivery(&state, stored, with_smev_xml)
        })
        .await?;
    Ok(match found {
        Some(delivery) => json(StatusCode::OK, &delivery),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Receives the next incoming request of the token's system (leased until acknowledged).
#[utoipa::path(post, path = "/api/v1/inbox/requests/next", tag = "work", params(PollQuery),
    responses(
        (status = 200, description = "A request", body = Delivery),
        (status = 204, description = "None waiting"),
        (status = 400, description = "Unknown or malformed parameter", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid type or wait", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn next_request(
    State(state): State<ApiState>,
    auth: Authenticated,
    Query(query): Query<PollQuery>,
) -> Result<Response, Problem> {
    next(state, auth, query, MessageKind::Request).await
}

/// Receives the next incoming response (answer, rejection or status) of the token's system.
#[utoipa::path(post, path = "/api/v1/inbox/responses/next", tag = "work", params(PollQuery),
    responses(
        (status = 200, description = "A response", body = Delivery),
        (status = 204, description = "None waiting"),
        (status = 400, description = "Unknown or malformed parameter", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid type or wait", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn next_response(
    State(state): State<ApiState>,
    auth: Authenticated,
    Query(query): Query<PollQuery>,
) -> Result<Response, Problem> {
    next(state, auth, query, MessageKind::Response).await
}

/// An acknowledgement.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckBody {
    /// Whether the message was accepted (false: refused by the system; default true).
    #[serde(default)]
    accepted: Option<bool>,
}

/// Acknowledges a message delivered to the token's system.
#[utoipa::path(post, path = "/api/v1/messages/{id}/ack", tag = "work",
    params(("id" = String, Path, description = "The delivered message's MessageID")),
    request_body(content = Option<AckBody>, content_type = "application/json"),
    responses(
        (status = 204, description = "Acknowledged"),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No unacknowledged message with that id was delivered to the system", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn ack(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let accepted = if headers.contains_key(header::CONTENT_TYPE) {
        let bytes = read_json(&state, &headers, body).await?;
        // `null` is the empty acknowledgement the document allows, like no body.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            true
        } else {
            json_object::<AckBody>(&bytes)?.accepted.unwrap_or(true)
        }
    } else {
        true
    };
    if let Err(e) = state.bus.ack_as(&caller, &id, accepted).await {
        if matches!(e, opensmev_core::BusError::TargetMessageIsNotFound(_))
            && let Ok(parsed) = MessageId::parse(&id)
        {
            note_foreign(&state, &auth, &parsed, "ack").await;
        }
        return Err(e.into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A status notice about a message the system sent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusNoticeOut {
    /// The message it is about.
    message_id: String,
    /// The interaction status.
    status: String,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<String>,
    /// When it was made (RFC 3339).
    created_at: String,
}

/// Takes the next status notice about the token's system's messages (`GetStatus`; each is
/// given once).
#[utoipa::path(post, path = "/api/v1/statuses/next", tag = "work",
    responses(
        (status = 200, description = "A notice", body = StatusNoticeOut),
        (status = 204, description = "None waiting"),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn next_status(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    Ok(match state.bus.get_status_as(&caller).await? {
        Some(notice) => json(
            StatusCode::OK,
            &StatusNoticeOut {
                message_id: notice.original_message_id.to_string(),
                status: notice.status.code().into(),
                details: notice.details,
                created_at: rfc3339(notice.created_at),
            },
        ),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Pending messages of one queue and type.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueOut {
    /// `request` or `response`.
    kind: String,
    /// The message type, `{namespace}local`.
    message_type: String,
    /// Queued or delivered, not yet acknowledged.
    pending: u64,
}

/// The token's system's incoming queues.
#[utoipa::path(get, path = "/api/v1/queues", tag = "work",
    responses(
        (status = 200, description = "The queues", body = Vec<QueueOut>),
        Unauthenticated,
        (status = 403, description = "Not an IS token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn queues(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    let caller = caller(&state, &auth)?;
    let depths = state.bus.queue_statistics_as(&caller).await?;
    let out: Vec<QueueOut> = depths
        .into_iter()
        .map(|d| QueueOut {
            kind: kind_text(d.kind).into(),
            message_type: d.message_type.to_string(),
            pending: d.pending,
        })
        .collect();
    Ok(json(StatusCode::OK, &out))
}
