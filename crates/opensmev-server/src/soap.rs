//! The SOAP endpoints: `POST {prefix}/v1.1/ws`, `/v1.2/ws`, `/v1.3/ws` and `GET …?wsdl` /
//! `…?xsd=NAME`. Each handler decodes (wire) → calls one bus service function (core) → encodes,
//! signs (ЭП-СМЭВ) and answers; errors become faults in `faults.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opensmev_core::{
    AckInput, AttachmentsInput, BusError, HandOutError, PollInput, ResponseBody, SendRequestInput,
    SendResponseInput, Signed, StatusInput,
};
use opensmev_store::{Blob, StoredMessage};
use opensmev_types::{MessageKind, Mnemonic, SchemaVersion};
use opensmev_wire::{
    AnswerAttachment, AttachmentContent, AttachmentData, Fault, Request, ResponseContent,
    StatusItem,
};
use opensmev_xmldsig::xml::{Document, Limits};

use crate::app::State;
use crate::body;
use crate::config::FaultLang;
use crate::faults;

/// The statement of an HTTP 413 refusal.
const TOO_LARGE: (&str, &str) = (
    "Тело запроса слишком большое",
    "The request body is too large",
);

/// The detail of an HTTP 413 refusal.
fn too_large(limit: usize) -> (String, String) {
    (
        format!("тело запроса больше допустимых {limit} байт"),
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

/// The HTTP header a test IS with an optional signature policy names itself with.
pub(crate) const CLAIMED_MNEMONIC_HEADER: &str = "x-opensmev-mnemonic";

use opensmev_core::delivery::SMEV_ID;

/// How much deeper the sender's data stands in the answer that delivers it than in the send.
const DELIVERY_EXTRA_DEPTH: usize = 2;

pub(crate) fn router(state: Arc<State>) -> Router {
    let prefix = state.config.path_prefix.clone();
    let mut router = Router::new();
    for version in SchemaVersion::ALL {
        let path = format!("{prefix}/v{}/ws", version.as_str());
        router = router.route(
            &path,
            get(move |s, h, q| describe(s, h, q, version))
                .post(move |s, h, b| endpoint(s, h, b, version)),
        );
    }
    // The body limit, the timeout and the call log are layered by `Application::router`
    // around these routes and the integration API alike.
    router.with_state(state)
}

fn xml_response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<axum::body::Body>,
) -> Response {
    let mut response = (status, body.into()).into_response();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn fault_response(version: SchemaVersion, fault: &Fault) -> Response {
    let mut response = xml_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        opensmev_wire::TEXT_XML_UTF8,
        opensmev_wire::fault(version, fault),
    );
    response.extensions_mut().insert(crate::access::FaultInfo {
        element: fault.kind.element_name(version),
        code: fault.code.clone(),
        reason: fault.message.clone(),
    });
    response
}

/// `GET ?wsdl` and `GET ?xsd=NAME`: the official files, addresses rewritten to this server.
async fn describe(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    version: SchemaVersion,
) -> Response {
    let span = tracing::Span::current();
    span.record("version", version.as_str());
    span.record(
        "op",
        if query.contains_key("xsd") {
            "xsd"
        } else {
            "wsdl"
        },
    );
    // The address clients are told: the configured public URL, or this request's Host — which
    // is the client's to write, so only a plain host[:port] is taken.
    let origin = match &state.config.public_url {
        Some(url) => url.clone(),
        None => {
            let host = match headers.get(header::HOST).map(|h| h.to_str()) {
                None => "localhost",
                Some(Ok(host)) if crate::config::valid_host(host) => host,
                Some(_) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        "Заголовок Host должен иметь вид ИМЯ[:ПОРТ] (a Host header must be HOST[:PORT])\n",
                    )
                        .into_response();
                }
            };
            format!("{}://{host}", crate::config::scheme(&state.config))
        }
    };
    let base = format!(
        "{origin}{}/v{}/ws",
        state.config.path_prefix,
        version.as_str()
    );
    let files = opensmev_schema::official_files(version.as_str());
    let name = if query.contains_key("wsdl") || query.contains_key("WSDL") {
        files
            .iter()
            .find(|(n, _)| n.ends_with(".wsdl"))
            .map(|(n, _)| *n)
    } else if let Some(name) = query.get("xsd") {
        files
            .iter()
            .find(|(n, _)| *n == name.as_str())
            .map(|(n, _)| *n)
    } else {
        None
    };
    let Some(text) =
        name.and_then(|n| opensmev_schema::official_file_for_endpoint(version.as_str(), n, &base))
    else {
        let known: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        return (
            StatusCode::NOT_FOUND,
            format!("Use ?wsdl or ?xsd=NAME (NAME: {})\n", known.join(", ")),
        )
            .into_response();
    };
    xml_response(StatusCode::OK, "text/xml; charset=utf-8", text)
}

/// A call refused before it was read whole: a fault with this HTTP status, and the connection
/// closed (the rest of the body is not read).
fn refused(
    version: SchemaVersion,
    status: StatusCode,
    lang: FaultLang,
    statement: (&str, &str),
    detail: (String, String),
) -> Response {
    let mut response = fault_response(version, &faults::invalid(lang, statement, detail));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// One SOAP call (its line in the call log is written by `access::log_calls`).
async fn endpoint(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: axum::body::Body,
    version: SchemaVersion,
) -> Response {
    tracing::Span::current().record("version", version.as_str());
    call(state, headers, body, version).await
}

async fn call(
    state: Arc<State>,
    headers: HeaderMap,
    body: axum::body::Body,
    version: SchemaVersion,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/xml");
    let lang = state.config.fault_lang;
    let multipart = match opensmev_wire::multipart_type(content_type) {
        Ok(multipart) => multipart,
        Err(
            e @ (opensmev_wire::WireError::UnsupportedContentType(_)
            | opensmev_wire::WireError::UnsupportedCharset(_)),
        ) => {
            let mut response = fault_response(version, &faults::from_wire(&e, None, lang));
            *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return response;
        }
        Err(e) => return fault_response(version, &faults::from_wire(&e, None, lang)),
    };
    // A declared length over the limit is refused before any byte is read.
    let max_xml = state.config.max_xml_body_bytes;
    let max_body = if multipart.is_some() {
        state.config.max_mtom_body_bytes
    } else {
        max_xml
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u128>().ok());
    if declared.is_some_and(|n| n > max_body as u128) {
        return refused(
            version,
            StatusCode::PAYLOAD_TOO_LARGE,
            lang,
            TOO_LARGE,
            too_large(max_body),
        );
    }
    // Memory is reserved for the bytes of the body held in memory as they arrive.
    let mut reservation = state.body_budget.reservation();
    let limits = body::ReadLimits {
        body: max_body,
        xml: max_xml,
        in_memory: if multipart.is_some() {
            max_xml.saturating_add(body::SPILL_BYTES)
        } else {
            max_xml
        },
        idle: std::time::Duration::from_millis(state.config.body_idle_timeout_ms),
        min_rate: state.config.body_min_bytes_per_second,
    };
    let read = match multipart {
        None => body::read_plain(body, &mut reservation, limits)
            .await
            .and_then(|bytes| {
                let action = opensmev_wire::split_http_body(content_type, &bytes)
                    .map_err(body::ReadError::Wire)?
                    .action;
                Ok(body::Received {
                    xml: bytes,
                    parts: body::KeptParts::default(),
                    mtom: false,
                    action,
                    _files: body::SpoolFiles::default(),
                })
            }),
        Some(kind) => {
            body::read_multipart(
                Arc::clone(&state.spool),
                kind,
                body,
                &mut reservation,
                limits,
            )
            .await
        }
    };
    let received = match read {
        Ok(received) => received,
        Err(body::ReadError::TooLarge(limit)) => {
            return refused(
                version,
                StatusCode::PAYLOAD_TOO_LARGE,
                lang,
                TOO_LARGE,
                too_large(limit),
            );
        }
        Err(body::ReadError::Stalled(stall)) => {
            let detail = match stall {
                body::Stall::Slow(rate) => (
                    format!("тело запроса поступает медленнее {rate} байт/с"),
                    format!("the request body arrives slower than {rate} bytes/s"),
                ),
                body::Stall::Idle(idle) => (
                    format!("тело запроса не поступало дольше {idle} мс"),
                    format!("no byte of the request body arrived for {idle} ms"),
                ),
            };
            return refused(
                version,
                StatusCode::REQUEST_TIMEOUT,
                lang,
                (
                    "Тело запроса не получено вовремя",
                    "The request body did not arrive in time",
                ),
                detail,
            );
        }
        Err(body::ReadError::Busy) => {
            return refused(
                version,
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                (
                    "СМЭВ перегружена; повторите запрос позже",
                    "The bus is overloaded; send the call again later",
                ),
                (
                    "память для приёма сообщений занята".to_owned(),
                    "the memory for receiving messages is in use".to_owned(),
                ),
            );
        }
        Err(body::ReadError::Wire(e)) => {
            return fault_response(version, &faults::from_wire(&e, None, lang));
        }
        Err(body::ReadError::Io(text)) => {
            tracing::error!(error = %text, "reading a request body");
            return fault_response(version, &faults::from_bus(&BusError::Internal(text), lang));
        }
    };
    let limits = Limits {
        max_document_bytes: state.config.max_mtom_body_bytes,
        // The answer that delivers the sender's data nests it two levels deeper
        // (`…Response/…Message/Request|Response/…`) and is read with the default limits when it
        // is signed: what is accepted must still fit then.
        max_depth: Limits::default().max_depth - DELIVERY_EXTRA_DEPTH,
        ..Limits::default()
    };
    let doc = match Document::parse(&received.xml, limits) {
        Ok(doc) => doc,
        Err(e) => {
            let text = String::from_utf8_lossy(&received.xml);
            return fault_response(
                version,
                &faults::from_wire(&opensmev_wire::WireError::Xml(e), Some(&text), lang),
            );
        }
    };
    let mut request = match opensmev_wire::decode_request(&doc, &received.parts) {
        Ok(request) => request,
        Err(e) => {
            return fault_response(version, &faults::from_wire(&e, Some(doc.text()), lang));
        }
    };
    let span = tracing::Span::current();
    span.record("op", tracing::field::display(request.operation()));
    match &request {
        Request::SendRequest(r) => {
            span.record("message_id", r.sender_data.message_id.as_str());
        }
        Request::SendResponse(r) => {
            span.record("message_id", r.sender_data.message_id.as_str());
        }
        Request::Ack(r) => {
            span.record("message_id", r.target.message_id.as_str());
        }
        _ => {}
    }
    if request.version() != version {
        return fault_response(
            version,
            &faults::invalid(
                lang,
                (
                    "Сообщение отправлено на адрес другой версии схемы",
                    "The message was sent to the address of another schema version",
                ),
                {
                    let (got, here) = (request.version().as_str(), version.as_str());
                    let right = format!("{}/v{got}/ws", state.config.path_prefix);
                    (
                        format!(
                            "сообщение схемы {got} отправлено на адрес схемы {here}; адрес схемы {got}: {right}"
                        ),
                        format!(
                            "a message of schema {got} was sent to the address of schema {here}; the address of schema {got} is {right}"
                        ),
                    )
                },
            ),
        );
    }
    let action = headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .or(received.action.as_deref());
    if let Some(named) = opensmev_wire::soap_action_operation(action)
        && named != request.operation()
    {
        return fault_response(
            version,
            &faults::invalid(
                lang,
                (
                    "SOAPAction не соответствует операции в теле сообщения",
                    "SOAPAction does not match the operation in the body",
                ),
                {
                    let action = action.unwrap_or_default().trim_matches('"');
                    let operation = request.operation();
                    (
                        format!("SOAPAction «{action}», а в теле сообщения операция «{operation}»"),
                        format!(
                            "SOAPAction is \"{action}\" but the body holds the operation \"{operation}\""
                        ),
                    )
                },
            ),
        );
    }
    let claimed = headers
        .get(CLAIMED_MNEMONIC_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Mnemonic::parse(v).ok());
    let outcome = handle(
        &state,
        &doc,
        &mut request,
        &received.parts,
        claimed.as_ref(),
        received.mtom,
    )
    .await;
    match outcome {
        Ok(answer) => {
            let framed = match answer.framed {
                Some(framed) => framed,
                None if answer.attachments.is_empty() && !received.mtom => {
                    return xml_response(StatusCode::OK, opensmev_wire::TEXT_XML_UTF8, answer.xml);
                }
                None => match frame(&answer.xml, &answer.attachments, received.mtom) {
                    Ok(framed) => framed,
                    Err(e) => {
                        return fault_response(
                            version,
                            &faults::from_bus(&BusError::Internal(e.to_string()), lang),
                        );
                    }
                },
            };
            let blobs = answer.attachments.into_iter().map(|a| a.data).collect();
            let mut response = xml_response(
                StatusCode::OK,
                &framed.content_type,
                body::answer_body(&framed, blobs),
            );
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(framed.len));
            response
        }
        Err(e) => {
            if matches!(e, BusError::Store(_) | BusError::Internal(_)) {
                tracing::error!(error = %e, "call failed");
            }
            fault_response(version, &faults::from_bus(&e, lang))
        }
    }
}

struct Answer {
    xml: String,
    /// The delivered message's attachments, placed into the signed XML afterwards.
    attachments: Vec<opensmev_store::Attachment>,
    /// The answer split for streaming (attachments, MTOM), when already done.
    framed: Option<opensmev_wire::FramedAnswer>,
}

impl Answer {
    fn plain(xml: String) -> Answer {
        Answer {
            xml,
            attachments: Vec::new(),
            framed: None,
        }
    }
}

/// The signed answer split into segments with its attachments' places (as base64 text, or as
/// MTOM parts for an MTOM request).
fn frame(
    xml: &str,
    attachments: &[opensmev_store::Attachment],
    mtom: bool,
) -> Result<opensmev_wire::FramedAnswer, opensmev_wire::WireError> {
    let places: Vec<AnswerAttachment> = attachments
        .iter()
        .map(|a| AnswerAttachment {
            id: a.content_id.clone(),
            mime_type: a.mime_type.clone(),
            len: a.data.len(),
        })
        .collect();
    opensmev_wire::frame_answer(xml, &places, mtom)
}

/// The attachments of a send for the bus. A large attachment that came as base64 text is
/// written to a spool file, so that the store keeps it as a file and deliveries stream it (the
/// returned guard removes what the store did not take over).
async fn attachments_input(
    state: &State,
    headers: &[opensmev_wire::AttachmentHeader],
    refs: usize,
    contents: &mut [AttachmentContent],
    parts: &body::KeptParts,
) -> Result<(AttachmentsInput, body::SpoolFiles), BusError> {
    let mut files = body::SpoolFiles::default();
    let mut blobs = Vec::with_capacity(contents.len());
    for c in contents {
        // The decoded bytes move to the bus: the request is not read for them again.
        let blob = match &mut c.data {
            AttachmentData::Bytes(bytes) if bytes.len() > body::SPILL_BYTES => {
                let len = bytes.len() as u64;
                let path = body::spill(Arc::clone(&state.spool), std::mem::take(bytes))
                    .await
                    .map_err(|e| {
                        BusError::Internal(format!("spooling attachment {}: {e}", c.id))
                    })?;
                files.push(path.clone());
                Blob::File { path, len }
            }
            AttachmentData::Bytes(bytes) => Blob::Bytes(std::mem::take(bytes)),
            AttachmentData::Part { .. } => c
                .mtom_content_id
                .as_deref()
                .and_then(|cid| parts.blob(cid))
                .ok_or_else(|| {
                    BusError::Internal(format!("the MIME part of attachment {} is gone", c.id))
                })?,
        };
        blobs.push((c.id.clone(), blob));
    }
    let input = AttachmentsInput {
        headers: headers
            .iter()
            .map(|h| (h.content_id.clone(), h.mime_type.clone()))
            .collect(),
        contents: blobs,
        file_store_references: refs,
    };
    Ok((input, files))
}

fn sign(state: &State, xml: &str, id: &str) -> Result<String, BusError> {
    state
        .bus
        .sign_smev(xml, id)
        .map_err(|e| BusError::Internal(format!("signing the answer: {e}")))
}

/// Builds and signs the answer that delivers `stored` (`GetRequestResponse` or
/// `GetResponseResponse`), framed with its attachments. A failure the message causes makes it
/// undeliverable; a failure of the bus's own key is passing.
fn delivery_answer(
    state: &State,
    version: SchemaVersion,
    mtom: bool,
    stored: StoredMessage,
) -> Result<Answer, HandOutError> {
    tracing::Span::current().record("message_id", stored.message.id.as_str());
    let xml = state.bus.delivery_xml(&stored, version)?;
    let attachments = stored.message.attachments;
    // Framed here, while the lease can still be settled if it fails.
    let framed = if attachments.is_empty() && !mtom {
        None
    } else {
        Some(frame(&xml, &attachments, mtom).map_err(|e| {
            HandOutError::Undeliverable(format!("the answer cannot be framed: {e}"))
        })?)
    };
    Ok(Answer {
        xml,
        attachments,
        framed,
    })
}

async fn handle(
    state: &State,
    doc: &Document<'_>,
    request: &mut Request,
    parts: &body::KeptParts,
    claimed: Option<&Mnemonic>,
    mtom: bool,
) -> Result<Answer, BusError> {
    let bus = &state.bus;
    let version = request.version();
    let wrapper = request.caller_signature();
    let signed = |target| Signed {
        doc,
        target,
        wrapper,
        version,
        claimed,
    };
    match request {
        Request::SendRequest(r) => {
            let r = &mut **r;
            let data = &r.sender_data;
            let (attachments, _files) = attachments_input(
                state,
                &data.attachment_headers,
                data.ref_attachment_headers.len(),
                &mut r.attachments,
                parts,
            )
            .await?;
            let input = SendRequestInput {
                signed: signed(data.element),
                message_id: data.message_id.clone(),
                reference_message_id: data.reference_message_id.clone(),
                transaction_code: data.transaction_code.clone(),
                node_id: data.node_id.clone(),
                eol: data.eol,
                test_message: data.test_message,
                content: data.content.root,
                attachments,
                client_id: None,
                priority: None,
            };
            let accepted = bus.send_request(input).await?;
            let metadata = bus.metadata(&accepted.message, accepted.status);
            let xml = opensmev_wire::send_request_response(version, &metadata, SMEV_ID);
            Ok(Answer::plain(sign(state, &xml, SMEV_ID)?))
        }
        Request::SendResponse(r) => {
            let r = &mut **r;
            let data = &r.sender_data;
            let (body, headers, refs) = match &data.content {
                ResponseContent::Primary {
                    content,
                    attachment_headers,
                    ref_attachment_headers,
                    ..
                } => (
                    ResponseBody::Business(content.root),
                    attachment_headers.as_slice(),
                    ref_attachment_headers.len(),
                ),
                ResponseContent::Rejected(_) => (ResponseBody::Rejected, &[][..], 0),
                ResponseContent::Status(_) => (ResponseBody::Status, &[][..], 0),
                ResponseContent::AsyncProcessingStatus(_) => {
                    return Err(BusError::InvalidContent(vec![
                        opensmev_core::ContentIssue {
                            text: opensmev_core::IssueText::AsyncProcessingStatus,
                            position: None,
                        },
                    ]));
                }
            };
            let (attachments, _files) =
                attachments_input(state, headers, refs, &mut r.attachments, parts).await?;
            let input = SendResponseInput {
                signed: signed(data.element),
                message_id: data.message_id.clone(),
                to: data.to.clone(),
                body,
                attachments,
                client_id: None,
            };
            let accepted = bus.send_response(input).await?;
            let metadata = bus.metadata(&accepted.message, accepted.status);
            let xml = opensmev_wire::send_response_response(version, &metadata, SMEV_ID);
            Ok(Answer::plain(sign(state, &xml, SMEV_ID)?))
        }
        Request::GetRequest(r) | Request::GetResponse(r) => {
            let input = PollInput {
                signed: signed(r.selector.element),
                message_type: r.selector.qname(),
                node_id: r.selector.node_id.clone(),
                timestamp: r.selector.timestamp,
            };
            let is_request = matches!(request, Request::GetRequest(_));
            let kind = if is_request {
                MessageKind::Request
            } else {
                MessageKind::Response
            };
            let answer = bus
                .poll_with(input, kind, |stored| {
                    delivery_answer(state, version, mtom, stored)
                })
                .await?;
            Ok(answer.unwrap_or_else(|| {
                Answer::plain(if is_request {
                    opensmev_wire::get_request_response(version, None)
                } else {
                    opensmev_wire::get_response_response(version, None)
                })
            }))
        }
        Request::Ack(r) => {
            let input = AckInput {
                signed: signed(r.target.element),
                message_id: r.target.message_id.clone(),
                accepted: r.target.accepted.unwrap_or(true),
            };
            bus.ack(input).await?;
            Ok(Answer::plain(opensmev_wire::ack_response(version)))
        }
        Request::GetStatus(r) => {
            let notice = bus
                .get_status(StatusInput {
                    signed: signed(r.timestamp.element),
                    timestamp: r.timestamp.value,
                })
                .await?;
            let Some(notice) = notice else {
                return Ok(Answer::plain(opensmev_wire::get_status_response(
                    version, None,
                )));
            };
            let item = StatusItem {
                id_attr: SMEV_ID.to_owned(),
                original_message_id: notice.original_message_id.to_string(),
                status: notice.status,
                details: notice.details.clone(),
                fault: None,
            };
            let xml = opensmev_wire::get_status_response(version, Some(&item));
            Ok(Answer::plain(sign(state, &xml, SMEV_ID)?))
        }
        Request::GetIncomingQueueStatistics(r) => {
            let depths = bus
                .queue_statistics(StatusInput {
                    signed: signed(r.timestamp.element),
                    timestamp: r.timestamp.value,
                })
                .await?;
            let queues: Vec<(String, u64)> = depths
                .iter()
                .map(|d| (format!("{}:{}", d.kind.as_str(), d.message_type), d.pending))
                .collect();
            Ok(Answer::plain(opensmev_wire::queue_statistics_response(
                &queues,
            )))
        }
    }
}
