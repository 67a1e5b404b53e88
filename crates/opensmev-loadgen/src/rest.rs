//! The integration API (REST/JSON, `/api/v1`) as the load tool's transport (`--rest`): the same
//! round trip as over SOAP — `POST /requests` → `POST /inbox/requests/next` →
//! `POST /messages/{id}/ack` → `POST /requests/{id}/response` → `POST /inbox/responses/next` →
//! `POST /messages/{id}/ack` — by information systems that hold no keys: each client has an API
//! token of role `is`, and the bus signs every message (ЭП-ОВ) with the key it holds for the
//! system (server-held keys, `opensmev_crypto::FileKeyStore`).
//!
//! What counts as a success, call by call (anything else is a [`Failure`]):
//! * a send answers `201 Created` with the `MessageID` the client chose, `signed: true` (the bus
//!   signed it with the held key) and `Location: /api/v1/messages/{id}`;
//! * a receive answers `200` with a delivery of the expected kind (`request`/`response`) from the
//!   expected system, with business content, and whose `signatures` report holds the sender's
//!   ЭП-ОВ, valid and made with a certificate the registry has for that system (and no invalid
//!   signature besides) — or `204 No Content` with an empty body when nothing is waiting;
//! * an acknowledgement answers `204`.
//!
//! The content and attachments are then compared with what was sent by the engine, exactly as
//! for SOAP (the delivery is turned into the same [`Delivered`]). A problem document's `code`
//! (`SMEV-nnn`, `api.*`, `auth.*`) names the error kind (`problem:<code>`).
//!
//! A call's latency runs from posting to the complete answer body, as over SOAP; building the
//! JSON and checking the answer are not included.

use std::time::{Duration, Instant};

use base64::Engine as _;
use opensmev_xmldsig::xml::{Document, Limits};
use serde_json::{Value, json};

use crate::LoadError;
use crate::envelope::{Delivered, Failure, clip};
use crate::workload::Expected;

/// The role label of the sender's signature in a delivery's `signatures` report.
pub(crate) const SENDER_SIGNATURE: &str = "ЭП-ОВ";

/// An information system working through the integration API with a token of role `is`.
#[derive(Debug)]
pub(crate) struct RestClient {
    http: reqwest::Client,
    /// `http://host:port/api/v1`.
    base: String,
    /// `Bearer osmv_…`.
    authorization: String,
    /// The system whose messages this client receives (the ЭП-ОВ of each must be registered
    /// for it).
    peer: String,
    /// `?wait=` of every receive (long poll, seconds; 0: answered at once).
    wait_s: u64,
}

/// An answer: status, `Location`, body.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    location: Option<String>,
    body: String,
}

/// Which queue a receive takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbox {
    /// `POST /inbox/requests/next`.
    Requests,
    /// `POST /inbox/responses/next`.
    Responses,
}

impl Inbox {
    fn path(self) -> &'static str {
        match self {
            Inbox::Requests => "/inbox/requests/next",
            Inbox::Responses => "/inbox/responses/next",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Inbox::Requests => "request",
            Inbox::Responses => "response",
        }
    }
}

/// `{"id", "mime_type", "data_base64"}` of the one attachment, if any.
fn attachments_json(attachment: Option<&(String, Vec<u8>)>) -> Vec<Value> {
    attachment
        .map(|(id, data)| {
            json!({
                "id": id,
                "mime_type": "application/octet-stream",
                "data_base64": base64::engine::general_purpose::STANDARD.encode(data),
            })
        })
        .into_iter()
        .collect()
}

/// The error kind of an answer with an unexpected status: the problem document's `code` when it
/// has one.
fn status_failure(operation: &str, expected: u16, reply: &Reply) -> Failure {
    let code = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned));
    let kind = match code {
        Some(code) if reply.content_type.starts_with("application/problem+json") => {
            format!("problem:{code}")
        }
        _ => "http-status".to_owned(),
    };
    Failure::new(
        kind,
        format!(
            "{operation}: HTTP {} (expected {expected}): {}",
            reply.status,
            clip(&reply.body, 400)
        ),
    )
}

impl RestClient {
    /// A client at `base` (`http://host:port/api/v1`) with `token`, receiving from `peer`,
    /// long-polling `wait_s` seconds, each call limited to `timeout`.
    pub(crate) fn new(
        base: &str,
        token: &str,
        peer: &str,
        wait_s: u64,
        timeout: Duration,
    ) -> Result<RestClient, LoadError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| LoadError::Setup(format!("HTTP client: {e}")))?;
        Ok(RestClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
            peer: peer.to_owned(),
            wait_s,
        })
    }

    /// Posts `json` (or no body) to `path` with `query`; the answer and the call's latency.
    async fn post(
        &self,
        path: &str,
        query: &[(&str, &str)],
        json: Option<String>,
    ) -> Result<(Reply, Duration), Failure> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Failure::new("http", format!("{}{path}: {e}", self.base)))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self
            .http
            .post(url)
            .header("Authorization", &self.authorization);
        if let Some(body) = json {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let start = Instant::now();
        let transport = |e: reqwest::Error| Failure::new("http", clip(&format!("{e:?}"), 400));
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let location = header("location");
        let body = response.text().await.map_err(transport)?;
        let latency = start.elapsed();
        Ok((
            Reply {
                status,
                content_type,
                location,
                body,
            },
            latency,
        ))
    }

    /// Checks the `201` of a send: the message the client chose, signed by the bus.
    fn accepted(operation: &str, id: &str, reply: &Reply) -> Result<(), Failure> {
        if reply.status != 201 {
            return Err(status_failure(operation, 201, reply));
        }
        let value: Value = serde_json::from_str(&reply.body).map_err(|e| {
            Failure::new(
                "not-json",
                format!("{operation}: {e}: {}", clip(&reply.body, 300)),
            )
        })?;
        let got = value.get("message_id").and_then(Value::as_str);
        if got != Some(id) {
            return Err(Failure::new(
                "mismatch",
                format!("{operation} accepted message {got:?}, the client sent {id}"),
            ));
        }
        if value.get("signed") != Some(&Value::Bool(true)) {
            return Err(Failure::new(
                "unsigned",
                format!(
                    "{operation}: the bus did not sign {id} with the key it holds (signed: {})",
                    value.get("signed").unwrap_or(&Value::Null)
                ),
            ));
        }
        let expected = format!("/api/v1/messages/{id}");
        if reply.location.as_deref() != Some(expected.as_str()) {
            return Err(Failure::new(
                "mismatch",
                format!(
                    "{operation}: Location {:?}, expected {expected}",
                    reply.location
                ),
            ));
        }
        Ok(())
    }

    /// `POST /requests`: a test request with the client's `MessageID` from node `node_id`;
    /// when it was posted (after its JSON was built) and the call's latency.
    pub(crate) async fn send_request(
        &self,
        id: &str,
        node_id: &str,
        business: &str,
        attachment: Option<&(String, Vec<u8>)>,
    ) -> Result<(Instant, Duration), Failure> {
        let body = json!({
            "business_xml": business,
            "message_id": id,
            "node_id": node_id,
            "test_message": true,
            "attachments": attachments_json(attachment),
        })
        .to_string();
        let posted = Instant::now();
        let (reply, latency) = self.post("/requests", &[], Some(body)).await?;
        Self::accepted("POST /requests", id, &reply)?;
        Ok((posted, latency))
    }

    /// `POST /requests/{request_id}/response`: the business answer `response_id`.
    pub(crate) async fn send_response(
        &self,
        response_id: &str,
        request_id: &str,
        business: &str,
        attachment: Option<&(String, Vec<u8>)>,
    ) -> Result<Duration, Failure> {
        let body = json!({
            "business_xml": business,
            "message_id": response_id,
            "attachments": attachments_json(attachment),
        });
        let (reply, latency) = self
            .post(
                &format!("/requests/{request_id}/response"),
                &[],
                Some(body.to_string()),
            )
            .await?;
        Self::accepted("POST /requests/{id}/response", response_id, &reply)?;
        Ok(latency)
    }

    /// `POST /inbox/…/next` for the type `{ns}root` (on node `node_id`), long-polling unless
    /// `at_once`: the checked delivery, or `None` when nothing is waiting.
    pub(crate) async fn receive(
        &self,
        inbox: Inbox,
        message_type: &str,
        node_id: Option<&str>,
        at_once: bool,
    ) -> Result<(Option<Delivered>, Duration), Failure> {
        let wait = if at_once { 0 } else { self.wait_s }.to_string();
        let mut query = vec![("type", message_type)];
        if let Some(node) = node_id {
            query.push(("node_id", node));
        }
        if wait != "0" {
            query.push(("wait", &wait));
        }
        let (reply, latency) = self.post(inbox.path(), &query, None).await?;
        match reply.status {
            204 if reply.body.is_empty() => Ok((None, latency)),
            204 => Err(Failure::new(
                "unexpected-answer",
                format!(
                    "{}: 204 with a body: {}",
                    inbox.path(),
                    clip(&reply.body, 300)
                ),
            )),
            200 => Ok((Some(delivered(&reply.body, inbox, &self.peer)?), latency)),
            _ => Err(status_failure(inbox.path(), 200, &reply)),
        }
    }

    /// `POST /messages/{id}/ack` (accepted).
    pub(crate) async fn ack(&self, id: &str) -> Result<Duration, Failure> {
        let (reply, latency) = self.post(&format!("/messages/{id}/ack"), &[], None).await?;
        if reply.status == 204 {
            Ok(latency)
        } else {
            Err(status_failure("POST /messages/{id}/ack", 204, &reply))
        }
    }
}

/// The delivery in a `200` of `inbox`, checked (kind, sender `peer`, business content, the
/// sender's ЭП-ОВ valid and registered for `peer`, no invalid signature) and turned into what
/// the engine compares with what was sent.
pub(crate) fn delivered(body: &str, inbox: Inbox, peer: &str) -> Result<Delivered, Failure> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| Failure::new("not-json", format!("{e}: {}", clip(body, 300))))?;
    let text = |field: &str| v.get(field).and_then(Value::as_str);
    let message_id = text("message_id")
        .ok_or_else(|| Failure::new("mismatch", "a delivery without message_id"))?
        .to_owned();
    let mismatch =
        |what: String| Failure::new("mismatch", format!("delivery {message_id}: {what}"));
    if text("kind") != Some(inbox.kind()) {
        return Err(mismatch(format!(
            "kind {:?} from {}",
            text("kind"),
            inbox.path()
        )));
    }
    if text("sender") != Some(peer) {
        return Err(mismatch(format!(
            "sender {:?}, expected {peer}",
            text("sender")
        )));
    }
    if text("content_kind") != Some("business") {
        return Err(mismatch(format!("content_kind {:?}", text("content_kind"))));
    }
    check_signatures(&v, peer)
        .map_err(|(kind, what)| Failure::new(kind, format!("delivery {message_id}: {what}")))?;
    let business = text("business_xml").ok_or_else(|| mismatch("no business_xml".into()))?;
    let doc = Document::parse_str(business, Limits::default())
        .map_err(|e| mismatch(format!("business_xml is not XML: {e}")))?;
    let root = doc.root();
    let content = Expected {
        ns: root.namespace().unwrap_or("").to_owned(),
        local: root.local_name().to_owned(),
        text: root.text_content(),
    };
    let mut attachments = Vec::new();
    for a in v
        .get("attachments")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let field = |f: &str| a.get(f).and_then(Value::as_str).unwrap_or_default();
        let id = field("id").to_owned();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(field("data_base64"))
            .map_err(|e| mismatch(format!("attachment {id}: bad base64: {e}")))?;
        if a.get("size").and_then(Value::as_u64) != Some(bytes.len() as u64) {
            return Err(mismatch(format!(
                "attachment {id}: size {:?}, {} bytes given",
                a.get("size"),
                bytes.len()
            )));
        }
        attachments.push((id, bytes));
    }
    Ok(Delivered {
        message_id,
        original_message_id: text("original_message_id").map(str::to_owned),
        reply_to: None,
        content,
        attachments,
    })
}

/// The `signatures` report of a delivery: the sender's ЭП-ОВ first, valid, made with a
/// certificate the registry has for `peer`; every other signature valid too. `Err` holds the
/// error kind (`unsigned`, `signature`) and what is wrong.
fn check_signatures(delivery: &Value, peer: &str) -> Result<(), (&'static str, String)> {
    let checks = delivery
        .get("signatures")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    fn role(c: &Value) -> &str {
        c.get("role").and_then(Value::as_str).unwrap_or_default()
    }
    let Some(sender) = checks.iter().find(|c| role(c) == SENDER_SIGNATURE) else {
        return Err((
            "unsigned",
            format!("no {SENDER_SIGNATURE} in the signatures report"),
        ));
    };
    for c in checks {
        if c.get("valid") != Some(&Value::Bool(true)) {
            return Err((
                "signature",
                format!(
                    "{} is not valid: {} {}",
                    role(c),
                    c.get("failure_category").unwrap_or(&Value::Null),
                    c.get("failure").unwrap_or(&Value::Null)
                ),
            ));
        }
    }
    let registered = sender.get("registered_system").and_then(Value::as_str);
    if registered != Some(peer) {
        return Err((
            "signature",
            format!(
                "the {SENDER_SIGNATURE} certificate is registered for {registered:?}, not {peer}"
            ),
        ));
    }
    Ok(())
}

/// The API's base (`http://host:port/api/v1`) of a server whose SOAP endpoints are under `base`
/// (`http://host:port/smev`).
pub(crate) fn api_base(soap_base: &str) -> String {
    let b = soap_base.trim_end_matches('/');
    format!("{}/api/v1", b.strip_suffix("/smev").unwrap_or(b))
}

/// `?wait=` seconds for a server long-poll wait (rounded up: the API takes whole seconds).
pub(crate) fn wait_seconds(poll_wait: Duration) -> u64 {
    poll_wait.as_millis().div_ceil(1000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(signatures: Value) -> String {
        json!({
            "message_id": "m1",
            "kind": "request",
            "sender": "MFC01",
            "recipient": "PFR01",
            "content_kind": "business",
            "business_xml": "<a:R xmlns:a=\"urn:x\"><a:S>1</a:S><a:P>xy</a:P></a:R>",
            "attachments": [{"id": "att1", "mime_type": "application/octet-stream", "size": 3, "data_base64": "AQID"}],
            "signatures": signatures,
            "test_message": true,
        })
        .to_string()
    }

    fn good() -> Value {
        json!([{"role": "ЭП-ОВ", "valid": true, "registered_system": "MFC01"}])
    }

    #[test]
    fn a_signed_delivery_is_read() {
        let d = delivered(&delivery(good()), Inbox::Requests, "MFC01").unwrap();
        assert_eq!(d.message_id, "m1");
        assert_eq!(
            d.content,
            Expected {
                ns: "urn:x".into(),
                local: "R".into(),
                text: "1xy".into()
            }
        );
        assert_eq!(d.attachments, vec![("att1".to_owned(), vec![1, 2, 3])]);
        assert_eq!(d.reply_to, None);
    }

    #[test]
    fn a_delivery_without_a_valid_sender_signature_fails() {
        let kind = |sigs: Value, peer: &str, inbox: Inbox| {
            delivered(&delivery(sigs), inbox, peer).unwrap_err().kind
        };
        assert_eq!(kind(json!([]), "MFC01", Inbox::Requests), "unsigned");
        assert_eq!(
            kind(
                json!([{"role": "ЭП-ОВ", "valid": false, "failure": "digest"}]),
                "MFC01",
                Inbox::Requests
            ),
            "signature"
        );
        assert_eq!(
            kind(
                json!([{"role": "ЭП-ОВ", "valid": true, "registered_system": "FNS01"}]),
                "MFC01",
                Inbox::Requests
            ),
            "signature"
        );
        assert_eq!(
            kind(
                json!([{"role": "ЭП-ОВ", "valid": true, "registered_system": "MFC01"}, {"role": "ЭП-СП", "valid": false}]),
                "MFC01",
                Inbox::Requests
            ),
            "signature"
        );
        assert_eq!(kind(good(), "PFR01", Inbox::Requests), "mismatch");
        assert_eq!(kind(good(), "MFC01", Inbox::Responses), "mismatch");
    }

    #[test]
    fn bases_and_waits() {
        assert_eq!(
            api_base("http://127.0.0.1:7500/smev"),
            "http://127.0.0.1:7500/api/v1"
        );
        assert_eq!(api_base("http://h:1/smev/"), "http://h:1/api/v1");
        assert_eq!(wait_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(wait_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(wait_seconds(Duration::ZERO), 0);
    }

    #[test]
    fn problems_name_their_code() {
        let reply = Reply {
            status: 409,
            content_type: "application/problem+json".into(),
            location: None,
            body: r#"{"code":"SMEV-118","status":409}"#.into(),
        };
        assert_eq!(
            status_failure("POST /requests", 201, &reply).kind,
            "problem:SMEV-118"
        );
    }
}
