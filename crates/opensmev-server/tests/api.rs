//! The integration API (`/api/v1`) end to end on the real server, in-process
//! (`opensmev_testkit::TestBus`, demo mode: the bus holds the demo systems' keys and has demo
//! tokens for `admin`, `operator`, `auditor`, `MFC01`, `PFR01`, `FNS01`).
//!
//! * The behaviour of the bus is written once over a small [`Transport`] trait and run over SOAP
//!   (the checking `SmevClient`) and over REST (tokens): round trip, rejection, no grant
//!   (SMEV-104), unknown kind (SMEV-103), acknowledging what was never delivered (SMEV-115), a
//!   second send of a `MessageID` (SMEV-111).
//! * Across transports: a REST consumer with a SOAP provider and back; the ЭП-ОВ the bus makes
//!   with a held key verifies on the SOAP side with the system's own demo certificate, and the
//!   REST delivery reports every signature.
//! * The authorisation matrix: every endpoint of the OpenAPI document × no token, a malformed
//!   token and each role, against a table here (a new endpoint without a row fails); an IS never
//!   reads, acknowledges or answers another IS's messages; every refusal is in the log
//!   (`opensmev::denied`, captured by a JSON subscriber and attributed to its call by the
//!   `call` span's node, method and path).
//! * Bad input: each a precise problem document and nothing stored.
//! * The OpenAPI document, the embedded Swagger UI (nothing from other hosts), the health checks,
//!   the journal (timeline, search, cursor paging).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opensmev_crypto::{Certificate, OpenSslProvider};
use opensmev_testkit::{Answer, SmevClient, TestBus, new_message_id};
use opensmev_types::SchemaVersion;
use opensmev_xmldsig::dsig;
use opensmev_xmldsig::xml::{Document, Limits};
use serde_json::{Value, json};

const VS_PFR: &str = "VS00001v001-PFR001";
const VS_EGRUL: &str = "VS00002v001-FNS001";
const PFR_NS: &str = "urn://opensmev/demo/pfr-account/1.0.0";
const PROBLEM_JSON: &str = "application/problem+json";
/// A business root element no kind of information of the demo registry has.
const UNKNOWN_ROOT: &str = "<x:Unknown xmlns:x=\"urn:nobody\">1</x:Unknown>";

// ------------------------------------------------------------------------------------------------
// The log of refusals

/// Everything the subscriber writes (JSON lines).
#[derive(Debug, Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test binary) the subscriber that keeps every `opensmev::denied` event
/// with the `call` span it happened in (the span is what says which call was refused: node,
/// method, path).
fn log() -> &'static LogBuffer {
    static LOG: OnceLock<LogBuffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "opensmev::denied=warn,opensmev_server::access=info",
            ))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buffer
    })
}

/// One refusal in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Denial {
    node: String,
    method: String,
    path: String,
    code: String,
    reason: String,
}

/// The refusals logged on `node` so far.
fn denials(node: &str) -> Vec<Denial> {
    let text = String::from_utf8_lossy(&log().0.lock().unwrap()).into_owned();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["target"] == "opensmev::denied")
        .filter_map(|event| {
            let spans = event["spans"].as_array()?;
            let call = spans.iter().find(|s| s["name"] == "call")?;
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            Some(Denial {
                node: text(&call["node"]),
                method: text(&call["method"]),
                path: text(&call["path"]),
                code: text(&event["fields"]["code"]),
                reason: text(&event["fields"]["reason"]),
            })
        })
        .filter(|d| d.node == node)
        .collect()
}

/// The refusals logged on `node` for `method path`.
fn denials_of(node: &str, method: &str, path: &str) -> Vec<Denial> {
    denials(node)
        .into_iter()
        .filter(|d| d.method.eq_ignore_ascii_case(method) && d.path == path)
        .collect()
}

/// A bus of its own for a test, named `node` in the log (one name per test: that is how the
/// refusals of parallel tests are told apart); leases long enough that nothing is handed out
/// again while a test runs.
async fn start(node: &str) -> TestBus {
    start_tweaked(node, |_| {}).await
}

async fn start_tweaked(
    node: &str,
    tweak: impl FnOnce(&mut opensmev_server::config::Config),
) -> TestBus {
    log();
    let node = node.to_owned();
    TestBus::start_with(move |c| {
        c.node_name = Some(node);
        c.lease_seconds = 300;
        tweak(c);
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// REST

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    text: String,
}

impl Reply {
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// Asserts a problem document with this status and code; returns it.
    #[track_caller]
    fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.content_type, PROBLEM_JSON, "{}", self.text);
        let problem = self.json();
        assert_eq!(problem["code"], code, "{}", self.text);
        assert_eq!(problem["status"], status, "{}", self.text);
        assert_eq!(
            problem["type"],
            format!("urn:opensmev:problem:{code}"),
            "{}",
            self.text
        );
        assert!(
            problem["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            self.text
        );
        assert!(
            problem["detail"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            self.text
        );
        problem
    }

    #[track_caller]
    fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// What a call sends.
#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Raw {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

/// Calls of the API.
#[derive(Debug, Clone)]
struct Api {
    http: reqwest::Client,
    origin: String,
}

impl Api {
    fn new(bus: &TestBus) -> Api {
        Api {
            http: reqwest::Client::new(),
            origin: bus.origin.clone(),
        }
    }

    /// `authorization` is the whole header value.
    async fn call_with(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Body,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.origin));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&value).unwrap()),
            Body::Raw {
                content_type,
                bytes,
            } => request.header("Content-Type", content_type).body(bytes),
        };
        let response = request.send().await.expect("HTTP");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let www_authenticate = header("www-authenticate");
        let status = response.status().as_u16();
        let text = response.text().await.expect("HTTP body");
        Reply {
            status,
            content_type,
            www_authenticate,
            text,
        }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Reply {
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.call_with(method, path, authorization.as_deref(), body)
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), Body::None).await
    }

    async fn post(&self, path: &str, token: &str, value: Value) -> Reply {
        self.call("POST", path, Some(token), Body::Json(value))
            .await
    }

    /// Every message of the journal (the admin's view).
    async fn message_count(&self, admin: &str) -> usize {
        let page = self.get("/api/v1/messages?limit=500", admin).await.ok(200);
        assert!(page.get("next_cursor").is_none(), "more than a page");
        page["items"].as_array().unwrap().len()
    }

    /// The MessageIDs of a search (one page).
    async fn search(&self, token: &str, query: &str) -> (Vec<String>, Option<String>) {
        let page = self
            .get(&format!("/api/v1/messages?{query}"), token)
            .await
            .ok(200);
        let ids = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_id"].as_str().unwrap().to_owned())
            .collect();
        (ids, page["next_cursor"].as_str().map(str::to_owned))
    }
}

/// Percent-encodes a query parameter value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

// ------------------------------------------------------------------------------------------------
// One behaviour, two transports

/// What a delivered message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    /// The business XML (its root element, standalone).
    Business(String),
    /// `RequestRejected`: (code, description).
    Rejected(Vec<(String, String)>),
}

impl Content {
    #[track_caller]
    fn business(&self) -> &str {
        match self {
            Content::Business(xml) => xml,
            other => panic!("not business content: {other:?}"),
        }
    }
}

/// A delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Delivery {
    id: String,
    /// For responses: the request's MessageID.
    original: Option<String>,
    content: Content,
}

/// The outcome of a call, the same whichever transport made it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Accepted { id: String },
    Delivered(Delivery),
    Acked,
    Empty,
    Refused { code: String },
}

impl Outcome {
    #[track_caller]
    fn accepted(self) -> String {
        match self {
            Outcome::Accepted { id } => id,
            other => panic!("not accepted: {other:?}"),
        }
    }

    #[track_caller]
    fn delivered(self) -> Delivery {
        match self {
            Outcome::Delivered(d) => d,
            other => panic!("nothing delivered: {other:?}"),
        }
    }

    #[track_caller]
    fn refused(self) -> String {
        match self {
            Outcome::Refused { code } => code,
            other => panic!("not refused: {other:?}"),
        }
    }
}

/// An information system at work, over one transport.
trait Transport: Sized {
    fn new(bus: &TestBus, mnemonic: &str) -> Self;
    async fn send_request(&self, message_id: &str, business: &str) -> Outcome;
    async fn next_request(&self) -> Outcome;
    async fn next_response(&self) -> Outcome;
    async fn ack(&self, message_id: &str) -> Outcome;
    async fn send_response(&self, request_id: &str, message_id: &str, business: &str) -> Outcome;
    async fn reject(&self, request_id: &str, message_id: &str, reasons: &[(&str, &str)])
    -> Outcome;
}

/// SOAP: the checking SMEV client with the system's own key (every answer validated against
/// the official XSD, every SMEV signature verified).
#[derive(Debug)]
struct Soap {
    client: SmevClient,
    /// `ReplyTo` of every request received, by MessageID.
    reply_to: Mutex<HashMap<String, String>>,
    /// The text of the last answer that delivered a message.
    last: Mutex<Option<String>>,
}

/// The `SMEV-nnn` code of a SOAP fault (`Code`, or the start of `faultstring`).
#[track_caller]
fn soap_code(answer: &Answer) -> String {
    if let Some(code) = answer.find("Code").filter(|c| c.starts_with("SMEV-")) {
        return code;
    }
    let faultstring = answer.find("faultstring").unwrap_or_default();
    match faultstring.split_once(':') {
        Some((code, _)) if code.starts_with("SMEV-") => code.to_owned(),
        _ => panic!("a fault without a SMEV code: {}", answer.text),
    }
}

impl Soap {
    fn outcome(&self, answer: &Answer, success: impl FnOnce(&Answer) -> Outcome) -> Outcome {
        if answer.fault().is_some() {
            return Outcome::Refused {
                code: soap_code(answer),
            };
        }
        assert_eq!(answer.status, 200, "{}", answer.text);
        success(answer)
    }

    fn delivered(&self, answer: &Answer, message: &str) -> Outcome {
        self.outcome(answer, |answer| {
            if !answer.has(message) {
                return Outcome::Empty;
            }
            *self.last.lock().unwrap() = Some(answer.text.clone());
            let delivery = soap_delivery(answer);
            if let Some(reply_to) = answer.find("ReplyTo") {
                self.reply_to
                    .lock()
                    .unwrap()
                    .insert(delivery.id.clone(), reply_to);
            }
            Outcome::Delivered(delivery)
        })
    }

    #[track_caller]
    fn reply_to(&self, request_id: &str) -> String {
        self.reply_to
            .lock()
            .unwrap()
            .get(request_id)
            .cloned()
            .unwrap_or_else(|| panic!("{request_id} was not received over SOAP"))
    }

    fn last_answer(&self) -> String {
        self.last.lock().unwrap().clone().expect("a delivery")
    }
}

/// The message of a `GetRequestResponse` / `GetResponseResponse`.
fn soap_delivery(answer: &Answer) -> Delivery {
    let doc = answer.doc();
    let data = doc
        .elements()
        .find(|e| {
            matches!(
                e.local_name(),
                "SenderProvidedRequestData" | "SenderProvidedResponseData"
            )
        })
        .unwrap_or_else(|| panic!("no sender data: {}", answer.text));
    let text_of = |element: &opensmev_xmldsig::xml::Element<'_, '_>, local: &str| {
        element
            .children()
            .find(|c| c.local_name() == local)
            .map(|c| c.text_content())
            .unwrap_or_default()
    };
    let id = text_of(&data, "MessageID");
    let content = match data
        .children()
        .find(|c| c.local_name() == "MessagePrimaryContent")
    {
        Some(primary) => Content::Business(primary.children().next().unwrap().standalone()),
        None => Content::Rejected(
            data.children()
                .filter(|c| c.local_name() == "RequestRejected")
                .map(|r| {
                    (
                        text_of(&r, "RejectionReasonCode"),
                        text_of(&r, "RejectionReasonDescription"),
                    )
                })
                .collect(),
        ),
    };
    let original = doc
        .elements()
        .find(|e| e.local_name() == "OriginalMessageId")
        .map(|e| e.text_content());
    Delivery {
        id,
        original,
        content,
    }
}

fn rejected_content(reasons: &[(&str, &str)]) -> String {
    reasons
        .iter()
        .map(|(code, description)| {
            format!(
                "<ns2:RequestRejected><ns2:RejectionReasonCode>{code}</ns2:RejectionReasonCode><ns2:RejectionReasonDescription>{description}</ns2:RejectionReasonDescription></ns2:RequestRejected>"
            )
        })
        .collect()
}

impl Transport for Soap {
    fn new(bus: &TestBus, mnemonic: &str) -> Soap {
        Soap {
            client: bus.client(mnemonic, SchemaVersion::V1_3),
            reply_to: Mutex::default(),
            last: Mutex::default(),
        }
    }

    async fn send_request(&self, message_id: &str, business: &str) -> Outcome {
        let answer = self.client.send_request(message_id, business, "").await;
        self.outcome(&answer, |a| Outcome::Accepted {
            id: a.find("MessageId").expect("MessageId"),
        })
    }

    async fn next_request(&self) -> Outcome {
        let answer = self.client.get_request(None).await;
        self.delivered(&answer, "RequestMessage")
    }

    async fn next_response(&self) -> Outcome {
        let answer = self.client.get_response(None).await;
        self.delivered(&answer, "ResponseMessage")
    }

    async fn ack(&self, message_id: &str) -> Outcome {
        let answer = self.client.ack(message_id, true).await;
        self.outcome(&answer, |_| Outcome::Acked)
    }

    async fn send_response(&self, request_id: &str, message_id: &str, business: &str) -> Outcome {
        let to = self.reply_to(request_id);
        let answer = self.client.send_response(message_id, &to, business).await;
        self.outcome(&answer, |a| Outcome::Accepted {
            id: a.find("MessageId").expect("MessageId"),
        })
    }

    async fn reject(
        &self,
        request_id: &str,
        message_id: &str,
        reasons: &[(&str, &str)],
    ) -> Outcome {
        let to = self.reply_to(request_id);
        let answer = self
            .client
            .send_response_with(message_id, &to, &rejected_content(reasons), "")
            .await;
        self.outcome(&answer, |a| Outcome::Accepted {
            id: a.find("MessageId").expect("MessageId"),
        })
    }
}

/// REST: the system's demo token; the bus signs with the key it holds.
#[derive(Debug)]
struct Rest {
    api: Api,
    token: String,
    /// The JSON of the last delivery.
    last: Mutex<Option<Value>>,
}

impl Rest {
    /// A refusal: a problem document with a 4xx status.
    #[track_caller]
    fn refused(reply: &Reply) -> Outcome {
        assert!(
            (400..500).contains(&reply.status),
            "a refusal must be 4xx: {} {}",
            reply.status,
            reply.text
        );
        assert_eq!(reply.content_type, PROBLEM_JSON, "{}", reply.text);
        let problem = reply.json();
        assert_eq!(problem["status"], reply.status, "{}", reply.text);
        Outcome::Refused {
            code: problem["code"].as_str().unwrap().to_owned(),
        }
    }

    fn accepted(reply: &Reply) -> Outcome {
        if reply.status != 201 {
            return Rest::refused(reply);
        }
        let body = reply.json();
        Outcome::Accepted {
            id: body["message_id"].as_str().unwrap().to_owned(),
        }
    }

    async fn next(&self, path: &str) -> Outcome {
        let reply = self
            .api
            .call("POST", path, Some(&self.token), Body::None)
            .await;
        match reply.status {
            204 => Outcome::Empty,
            200 => {
                let body = reply.json();
                *self.last.lock().unwrap() = Some(body.clone());
                Outcome::Delivered(rest_delivery(&body))
            }
            _ => Rest::refused(&reply),
        }
    }

    fn last_delivery(&self) -> Value {
        self.last.lock().unwrap().clone().expect("a delivery")
    }
}

fn rest_delivery(body: &Value) -> Delivery {
    let content = match body["content_kind"].as_str() {
        Some("business") => Content::Business(body["business_xml"].as_str().unwrap().to_owned()),
        Some("rejection") => Content::Rejected(
            body["rejections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["code"].as_str().unwrap().to_owned(),
                        r["description"].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
        ),
        other => panic!("content kind {other:?}: {body}"),
    };
    Delivery {
        id: body["message_id"].as_str().unwrap().to_owned(),
        original: body["original_message_id"].as_str().map(str::to_owned),
        content,
    }
}

impl Transport for Rest {
    fn new(bus: &TestBus, mnemonic: &str) -> Rest {
        Rest {
            api: Api::new(bus),
            token: bus.token(mnemonic).to_owned(),
            last: Mutex::default(),
        }
    }

    async fn send_request(&self, message_id: &str, business: &str) -> Outcome {
        let reply = self
            .api
            .post(
                "/api/v1/requests",
                &self.token,
                json!({"business_xml": business, "message_id": message_id}),
            )
            .await;
        Rest::accepted(&reply)
    }

    async fn next_request(&self) -> Outcome {
        self.next("/api/v1/inbox/requests/next").await
    }

    async fn next_response(&self) -> Outcome {
        self.next("/api/v1/inbox/responses/next").await
    }

    async fn ack(&self, message_id: &str) -> Outcome {
        let reply = self
            .api
            .call(
                "POST",
                &format!("/api/v1/messages/{message_id}/ack"),
                Some(&self.token),
                Body::None,
            )
            .await;
        if reply.status == 204 {
            Outcome::Acked
        } else {
            Rest::refused(&reply)
        }
    }

    async fn send_response(&self, request_id: &str, message_id: &str, business: &str) -> Outcome {
        let reply = self
            .api
            .post(
                &format!("/api/v1/requests/{request_id}/response"),
                &self.token,
                json!({"business_xml": business, "message_id": message_id}),
            )
            .await;
        Rest::accepted(&reply)
    }

    async fn reject(
        &self,
        request_id: &str,
        message_id: &str,
        reasons: &[(&str, &str)],
    ) -> Outcome {
        let reasons: Vec<Value> = reasons
            .iter()
            .map(|(code, description)| json!({"code": code, "description": description}))
            .collect();
        let reply = self
            .api
            .post(
                &format!("/api/v1/requests/{request_id}/rejection"),
                &self.token,
                json!({"reasons": reasons, "message_id": message_id}),
            )
            .await;
        Rest::accepted(&reply)
    }
}

// ------------------------------------------------------------------------------------------------
// The scenarios

/// Send → receive → respond → acknowledge → receive the response → acknowledge; nothing is
/// handed out twice, and a second acknowledgement is refused.
async fn round_trip<C: Transport, P: Transport>(bus: &TestBus) {
    let consumer = C::new(bus, "MFC01");
    let provider = P::new(bus, "PFR01");
    let id = new_message_id();
    let request = bus.example(VS_PFR, "request.xml");
    assert_eq!(consumer.send_request(&id, &request).await.accepted(), id);

    let got = provider.next_request().await.delivered();
    assert_eq!(got.id, id);
    assert_eq!(got.original, None);
    let business = got.content.business();
    assert!(
        business.contains("PersonalAccountRequest") && business.contains(PFR_NS),
        "{business}"
    );
    assert!(business.contains("112-233-445 95"), "{business}");
    assert_eq!(provider.next_request().await, Outcome::Empty, "leased");

    let response_id = new_message_id();
    let response = bus.example(VS_PFR, "response.xml");
    assert_eq!(
        provider
            .send_response(&id, &response_id, &response)
            .await
            .accepted(),
        response_id
    );
    assert_eq!(provider.ack(&id).await, Outcome::Acked);

    let answer = consumer.next_response().await.delivered();
    assert_eq!(answer.id, response_id);
    assert_eq!(answer.original.as_deref(), Some(id.as_str()));
    assert!(
        answer.content.business().contains("PensionPoints"),
        "{answer:?}"
    );
    assert_eq!(consumer.ack(&response_id).await, Outcome::Acked);
    assert_eq!(consumer.next_response().await, Outcome::Empty);
    assert_eq!(provider.next_request().await, Outcome::Empty);
    assert_eq!(consumer.ack(&response_id).await.refused(), "SMEV-115");
}

/// A rejection with two reasons reaches the consumer with both codes.
async fn rejection<C: Transport, P: Transport>(bus: &TestBus) {
    let consumer = C::new(bus, "MFC01");
    let provider = P::new(bus, "PFR01");
    let id = new_message_id();
    consumer
        .send_request(&id, &bus.example(VS_PFR, "request.xml"))
        .await
        .accepted();
    assert_eq!(provider.next_request().await.delivered().id, id);
    let reasons = [
        ("NO_DATA", "Сведения о застрахованном лице не найдены"),
        ("FAILURE", "Повторите запрос позже"),
    ];
    let response_id = new_message_id();
    assert_eq!(
        provider
            .reject(&id, &response_id, &reasons)
            .await
            .accepted(),
        response_id
    );
    assert_eq!(provider.ack(&id).await, Outcome::Acked);
    let got = consumer.next_response().await.delivered();
    assert_eq!(got.id, response_id);
    assert_eq!(got.original.as_deref(), Some(id.as_str()));
    let expected: Vec<(String, String)> = reasons
        .iter()
        .map(|(c, d)| ((*c).to_owned(), (*d).to_owned()))
        .collect();
    assert_eq!(got.content, Content::Rejected(expected));
    assert_eq!(consumer.ack(&response_id).await, Outcome::Acked);
}

/// Only MFC01 has grants: PFR01 asking FNS01 for an EGRUL extract, or FNS01 asking PFR01, is
/// refused with SMEV-104, and nothing reaches the provider.
async fn no_grant<T: Transport>(bus: &TestBus) {
    let pfr = T::new(bus, "PFR01");
    let fns = T::new(bus, "FNS01");
    let egrul = bus.example(VS_EGRUL, "request.xml");
    assert_eq!(
        pfr.send_request(&new_message_id(), &egrul).await.refused(),
        "SMEV-104"
    );
    assert_eq!(
        fns.send_request(&new_message_id(), &bus.example(VS_PFR, "request.xml"))
            .await
            .refused(),
        "SMEV-104"
    );
    assert_eq!(fns.next_request().await, Outcome::Empty);
    assert_eq!(pfr.next_request().await, Outcome::Empty);
}

/// A business root no kind of information has: SMEV-103.
async fn unknown_kind<T: Transport>(bus: &TestBus) {
    let mfc = T::new(bus, "MFC01");
    assert_eq!(
        mfc.send_request(&new_message_id(), UNKNOWN_ROOT)
            .await
            .refused(),
        "SMEV-103"
    );
}

/// Acknowledging a message never delivered to the caller: SMEV-115 — an id nobody used, a
/// request still queued for its provider, and the consumer's own request.
async fn ack_never_delivered<T: Transport>(bus: &TestBus) {
    let mfc = T::new(bus, "MFC01");
    let pfr = T::new(bus, "PFR01");
    assert_eq!(mfc.ack(&new_message_id()).await.refused(), "SMEV-115");
    let id = new_message_id();
    mfc.send_request(&id, &bus.example(VS_PFR, "request.xml"))
        .await
        .accepted();
    assert_eq!(
        pfr.ack(&id).await.refused(),
        "SMEV-115",
        "queued, not delivered"
    );
    assert_eq!(mfc.ack(&id).await.refused(), "SMEV-115", "the sender's own");
    // Still there for its provider.
    assert_eq!(pfr.next_request().await.delivered().id, id);
    assert_eq!(pfr.ack(&id).await, Outcome::Acked);
}

/// A second send of a MessageID: SMEV-111, whatever the content.
async fn duplicate_message_id<T: Transport>(bus: &TestBus) {
    let mfc = T::new(bus, "MFC01");
    let pfr = T::new(bus, "PFR01");
    let id = new_message_id();
    let request = bus.example(VS_PFR, "request.xml");
    assert_eq!(mfc.send_request(&id, &request).await.accepted(), id);
    assert_eq!(mfc.send_request(&id, &request).await.refused(), "SMEV-111");
    let other = bus.example(VS_EGRUL, "request.xml");
    assert_eq!(mfc.send_request(&id, &other).await.refused(), "SMEV-111");
    assert_eq!(pfr.next_request().await.delivered().id, id);
    assert_eq!(pfr.next_request().await, Outcome::Empty, "delivered once");
}

macro_rules! over {
    ($module:ident, $transport:ty) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn round_trip() {
                let bus = start(concat!(stringify!($module), "-round-trip")).await;
                super::round_trip::<$transport, $transport>(&bus).await;
                bus.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rejection_reaches_the_consumer() {
                let bus = start(concat!(stringify!($module), "-rejection")).await;
                super::rejection::<$transport, $transport>(&bus).await;
                bus.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_request_without_grant_is_refused_104() {
                let bus = start(concat!(stringify!($module), "-no-grant")).await;
                super::no_grant::<$transport>(&bus).await;
                bus.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_unknown_kind_is_refused_103() {
                let bus = start(concat!(stringify!($module), "-unknown-kind")).await;
                super::unknown_kind::<$transport>(&bus).await;
                bus.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ack_of_what_was_never_delivered_is_refused_115() {
                let bus = start(concat!(stringify!($module), "-ack-never-delivered")).await;
                super::ack_never_delivered::<$transport>(&bus).await;
                bus.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_second_send_of_a_message_id_is_refused_111() {
                let bus = start(concat!(stringify!($module), "-duplicate")).await;
                super::duplicate_message_id::<$transport>(&bus).await;
                bus.stop().await;
            }
        }
    };
}

over!(over_soap, Soap);
over!(over_rest, Rest);

// ------------------------------------------------------------------------------------------------
// Across transports

fn demo_certificate(bus: &TestBus, mnemonic: &str) -> Certificate {
    let path = bus.data_dir.join("demo").join(mnemonic).join("cert.pem");
    Certificate::from_pem(&std::fs::read(&path).unwrap()).unwrap()
}

/// The sender's ЭП-ОВ in a delivered SOAP message covers the sender data, verifies, and is made
/// with `expected`; every other signature of the answer verifies too.
#[track_caller]
fn check_sender_signature(xml: &str, data_local: &str, expected: &Certificate) {
    let doc = Document::parse(xml.as_bytes(), Limits::default()).unwrap();
    let data = doc
        .elements()
        .find(|e| e.local_name() == data_local)
        .unwrap_or_else(|| panic!("no {data_local}: {xml}"));
    // In a delivered message the sender's signature is `SenderInformationSystemSignature`
    // (`CallerInformationSystemSignature` is the name in the sender's own call).
    let wrapper = doc
        .elements()
        .find(|e| {
            matches!(
                e.local_name(),
                "SenderInformationSystemSignature" | "CallerInformationSystemSignature"
            )
        })
        .unwrap_or_else(|| panic!("no sender signature: {xml}"));
    let provider = OpenSslProvider::new();
    let options = dsig::VerifyOptions {
        expected_target: Some(data.index()),
        ..dsig::VerifyOptions::now()
    };
    let report = dsig::verify_wrapped(Some(&wrapper), &provider, &options);
    assert!(report.is_valid(), "ЭП-ОВ: {:?}", report.failure);
    assert_eq!(report.target(), Some(data.index()));
    assert_eq!(
        report.certificate.as_ref(),
        Some(expected),
        "made with another certificate"
    );
    let all = dsig::verify_all(&doc, &provider, &dsig::VerifyOptions::now());
    assert!(all.len() >= 2, "the ЭП-ОВ and the ЭП-СМЭВ: {}", all.len());
    for report in &all {
        assert!(
            report.is_valid(),
            "{}: {:?}",
            report.signature_path,
            report.failure
        );
    }
}

/// The REST delivery's report of the sender's signature.
#[track_caller]
fn check_signature_report(delivery: &Value, sender: &str, certificate: &Certificate) {
    let signatures = delivery["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{delivery}");
    let s = &signatures[0];
    assert_eq!(s["role"], "ЭП-ОВ", "{s}");
    assert_eq!(s["valid"], true, "{s}");
    assert_eq!(s["registered_system"], sender, "{s}");
    assert!(s.get("failure").is_none(), "{s}");
    assert_eq!(
        s["certificate_thumbprint"]
            .as_str()
            .map(str::to_ascii_lowercase),
        Some(certificate.thumbprint_sha1().to_ascii_lowercase()),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_consumer_and_a_soap_provider() {
    let bus = start("cross-rest-soap").await;
    round_trip::<Rest, Soap>(&bus).await;

    let mfc = Rest::new(&bus, "MFC01");
    let pfr = Soap::new(&bus, "PFR01");
    let id = new_message_id();
    mfc.send_request(&id, &bus.example(VS_PFR, "request.xml"))
        .await
        .accepted();
    assert_eq!(pfr.next_request().await.delivered().id, id);
    // The bus signed as MFC01 with the key it holds; the SOAP provider verifies it with MFC01's
    // own certificate.
    check_sender_signature(
        &pfr.last_answer(),
        "SenderProvidedRequestData",
        &demo_certificate(&bus, "MFC01"),
    );
    let response_id = new_message_id();
    pfr.send_response(&id, &response_id, &bus.example(VS_PFR, "response.xml"))
        .await
        .accepted();
    assert_eq!(pfr.ack(&id).await, Outcome::Acked);
    assert_eq!(mfc.next_response().await.delivered().id, response_id);
    // PFR01 signed over SOAP with its own key; the REST consumer gets the verification.
    check_signature_report(
        &mfc.last_delivery(),
        "PFR01",
        &demo_certificate(&bus, "PFR01"),
    );
    assert_eq!(mfc.ack(&response_id).await, Outcome::Acked);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soap_consumer_and_a_rest_provider() {
    let bus = start("cross-soap-rest").await;
    round_trip::<Soap, Rest>(&bus).await;

    let mfc = Soap::new(&bus, "MFC01");
    let pfr = Rest::new(&bus, "PFR01");
    let id = new_message_id();
    mfc.send_request(&id, &bus.example(VS_PFR, "request.xml"))
        .await
        .accepted();
    assert_eq!(pfr.next_request().await.delivered().id, id);
    check_signature_report(
        &pfr.last_delivery(),
        "MFC01",
        &demo_certificate(&bus, "MFC01"),
    );
    let response_id = new_message_id();
    pfr.send_response(&id, &response_id, &bus.example(VS_PFR, "response.xml"))
        .await
        .accepted();
    assert_eq!(pfr.ack(&id).await, Outcome::Acked);
    assert_eq!(mfc.next_response().await.delivered().id, response_id);
    // The bus signed the response as PFR01 with the key it holds.
    check_sender_signature(
        &mfc.last_answer(),
        "SenderProvidedResponseData",
        &demo_certificate(&bus, "PFR01"),
    );
    assert_eq!(mfc.ack(&response_id).await, Outcome::Acked);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_to_rest_reports_the_signatures_the_bus_made() {
    let bus = start("rest-signatures").await;
    let mfc = Rest::new(&bus, "MFC01");
    let pfr = Rest::new(&bus, "PFR01");
    let id = new_message_id();
    mfc.send_request(&id, &bus.example(VS_PFR, "request.xml"))
        .await
        .accepted();
    assert_eq!(pfr.next_request().await.delivered().id, id);
    check_signature_report(
        &pfr.last_delivery(),
        "MFC01",
        &demo_certificate(&bus, "MFC01"),
    );
    let response_id = new_message_id();
    pfr.send_response(&id, &response_id, &bus.example(VS_PFR, "response.xml"))
        .await
        .accepted();
    assert_eq!(mfc.next_response().await.delivered().id, response_id);
    check_signature_report(
        &mfc.last_delivery(),
        "PFR01",
        &demo_certificate(&bus, "PFR01"),
    );
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Authorisation

/// Who may call an endpoint: `None` = anyone, without a token.
type Allowed = Option<&'static [&'static str]>;

const IS_ONLY: Allowed = Some(&["is"]);
const EVERY_ROLE: Allowed = Some(&["admin", "operator", "auditor", "is"]);
const ADMIN_ONLY: Allowed = Some(&["admin"]);

/// Every endpoint of the OpenAPI document and who may call it (the role matrix of
/// `opensmev_core::auth::Principal::check`). An endpoint missing here fails the matrix test.
const ENDPOINTS: &[(&str, &str, Allowed)] = &[
    ("get", "/health/live", None),
    ("get", "/health/ready", None),
    ("post", "/api/v1/requests", IS_ONLY),
    ("post", "/api/v1/requests/{id}/response", IS_ONLY),
    ("post", "/api/v1/requests/{id}/rejection", IS_ONLY),
    ("post", "/api/v1/requests/{id}/status", IS_ONLY),
    ("post", "/api/v1/inbox/requests/next", IS_ONLY),
    ("post", "/api/v1/inbox/responses/next", IS_ONLY),
    ("post", "/api/v1/messages/{id}/ack", IS_ONLY),
    ("post", "/api/v1/statuses/next", IS_ONLY),
    ("get", "/api/v1/queues", IS_ONLY),
    ("post", "/api/v1/batches", IS_ONLY),
    ("get", "/api/v1/batches/{id}", IS_ONLY),
    ("get", "/api/v1/messages", EVERY_ROLE),
    ("get", "/api/v1/messages/{id}", EVERY_ROLE),
    (
        "get",
        "/api/v1/messages/by-client-id/{sender}/{client_id}",
        EVERY_ROLE,
    ),
    ("get", "/api/v1/me", EVERY_ROLE),
    ("get", "/api/v1/tokens", ADMIN_ONLY),
    ("post", "/api/v1/tokens", ADMIN_ONLY),
    ("delete", "/api/v1/tokens/{id}", ADMIN_ONLY),
    ("get", "/api/v1/accounts", ADMIN_ONLY),
    ("post", "/api/v1/accounts", ADMIN_ONLY),
    ("patch", "/api/v1/accounts/{login}", ADMIN_ONLY),
    ("get", "/api/v1/audit", Some(&["admin", "auditor"])),
    ("get", "/api/v1/kinds", EVERY_ROLE),
    (
        "get",
        "/api/v1/registry",
        Some(&["admin", "operator", "auditor"]),
    ),
    ("put", "/api/v1/registry", ADMIN_ONLY),
    (
        "get",
        "/api/v1/registry/participants",
        Some(&["admin", "operator", "auditor"]),
    ),
    ("put", "/api/v1/registry/participants/{id}", ADMIN_ONLY),
    ("delete", "/api/v1/registry/participants/{id}", ADMIN_ONLY),
    (
        "get",
        "/api/v1/registry/systems",
        Some(&["admin", "operator", "auditor"]),
    ),
    ("put", "/api/v1/registry/systems/{id}", ADMIN_ONLY),
    ("delete", "/api/v1/registry/systems/{id}", ADMIN_ONLY),
    (
        "post",
        "/api/v1/registry/systems/{id}/certificates",
        ADMIN_ONLY,
    ),
    ("put", "/api/v1/registry/systems/{id}/quota", ADMIN_ONLY),
    (
        "post",
        "/api/v1/registry/certificates/{id}/rotation",
        ADMIN_ONLY,
    ),
    ("delete", "/api/v1/registry/certificates/{id}", ADMIN_ONLY),
    (
        "get",
        "/api/v1/registry/kinds",
        Some(&["admin", "operator", "auditor"]),
    ),
    ("put", "/api/v1/registry/kinds/{id}", ADMIN_ONLY),
    ("patch", "/api/v1/registry/kinds/{id}", ADMIN_ONLY),
    (
        "get",
        "/api/v1/registry/grants",
        Some(&["admin", "operator", "auditor"]),
    ),
    ("post", "/api/v1/registry/grants", ADMIN_ONLY),
    ("delete", "/api/v1/registry/grants/{id}", ADMIN_ONLY),
    ("put", "/api/v1/registry/default-quota", ADMIN_ONLY),
    // An IS token reads its own system's cabinet settings (another system's: 404).
    ("get", "/api/v1/systems/{mnemonic}/cabinet", EVERY_ROLE),
    ("put", "/api/v1/systems/{mnemonic}/cabinet", ADMIN_ONLY),
    ("get", "/api/v1/cases", IS_ONLY),
    ("get", "/api/v1/cases/{id}", IS_ONLY),
    ("post", "/api/v1/cases/{id}/reassign", IS_ONLY),
    // Every token may ask; a token of no account (the demo's) is told it has no settings (422).
    ("get", "/api/v1/me/notifications", EVERY_ROLE),
    ("put", "/api/v1/me/notifications", EVERY_ROLE),
    // Dead letters: administrators and operators any system's, an IS token its own.
    (
        "get",
        "/api/v1/dead-letters",
        Some(&["admin", "operator", "is"]),
    ),
    (
        "post",
        "/api/v1/dead-letters/replay",
        Some(&["admin", "operator", "is"]),
    ),
    // An IS token reads its own system's delivery settings (another system's: 404).
    ("get", "/api/v1/registry/systems/{id}/delivery", EVERY_ROLE),
    ("put", "/api/v1/registry/systems/{id}/delivery", ADMIN_ONLY),
    (
        "delete",
        "/api/v1/registry/systems/{id}/delivery",
        ADMIN_ONLY,
    ),
];

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The endpoints of the served OpenAPI document: (method, path template).
async fn openapi_endpoints(api: &Api) -> Vec<(String, String)> {
    let doc = api
        .call("GET", "/api/v1/openapi.json", None, Body::None)
        .await
        .ok(200);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().unwrap() {
            if HTTP_METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone()));
            }
        }
    }
    out
}

/// A path of the template with every parameter filled in.
fn concrete(template: &str) -> String {
    let filled = template
        .replace("{id}", &new_message_id())
        .replace("{login}", "nobody")
        .replace("{mnemonic}", "PFR01")
        .replace("{sender}", "MFC01")
        .replace("{client_id}", "no-such-client-id");
    assert!(
        !filled.contains('{'),
        "a parameter this test cannot fill: {template}"
    );
    filled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_by_every_kind_of_caller() {
    const NODE: &str = "authorisation-matrix";
    let bus = start(NODE).await;
    let api = Api::new(&bus);
    let endpoints = openapi_endpoints(&api).await;
    assert!(endpoints.len() >= 20, "{endpoints:?}");
    for (method, path) in &endpoints {
        assert!(
            ENDPOINTS.iter().any(|(m, p, _)| m == method && p == path),
            "{} {path} is in the OpenAPI document but not in this test's table: say who may call it",
            method.to_uppercase()
        );
    }
    for (method, path, _) in ENDPOINTS {
        assert!(
            endpoints.iter().any(|(m, p)| m == method && p == path),
            "{} {path} is in the table but not in the OpenAPI document",
            method.to_uppercase()
        );
    }
    let admin = bus.token("admin").to_owned();
    let before = api.message_count(&admin).await;
    // (label, Authorization header, role)
    let callers: Vec<(&str, Option<String>, Option<&str>)> = vec![
        ("no token", None, None),
        (
            "a malformed token",
            Some("Bearer not-an-opensmev-token".to_owned()),
            None,
        ),
        ("admin", Some(format!("Bearer {admin}")), Some("admin")),
        (
            "operator",
            Some(format!("Bearer {}", bus.token("operator"))),
            Some("operator"),
        ),
        (
            "auditor",
            Some(format!("Bearer {}", bus.token("auditor"))),
            Some("auditor"),
        ),
        (
            "MFC01",
            Some(format!("Bearer {}", bus.token("MFC01"))),
            Some("is"),
        ),
        (
            "PFR01",
            Some(format!("Bearer {}", bus.token("PFR01"))),
            Some("is"),
        ),
    ];
    let mut checked = 0;
    for (method, template, allowed) in ENDPOINTS {
        for (label, authorization, role) in &callers {
            let path = concrete(template);
            let body = match *method {
                "post" | "put" | "patch" => Body::Json(json!({})),
                _ => Body::None,
            };
            let logged_before = denials_of(NODE, method, &path).len();
            let reply = api
                .call_with(method, &path, authorization.as_deref(), body)
                .await;
            let what = format!("{} {path} by {label}", method.to_uppercase());
            let expected_denial = match (allowed, role) {
                (None, _) => {
                    assert_eq!(reply.status, 200, "{what}: {}", reply.text);
                    None
                }
                (Some(_), None) => {
                    let code = if authorization.is_none() {
                        "auth.token-missing"
                    } else {
                        "auth.token-malformed"
                    };
                    reply.problem(401, code);
                    assert!(
                        reply
                            .www_authenticate
                            .as_deref()
                            .is_some_and(|v| v.starts_with("Bearer")),
                        "{what}: WWW-Authenticate {:?}",
                        reply.www_authenticate
                    );
                    Some(code)
                }
                (Some(roles), Some(role)) if !roles.contains(role) => {
                    reply.problem(403, "auth.forbidden");
                    Some("forbidden")
                }
                (Some(_), Some(_)) => {
                    assert!(
                        reply.status < 500 && reply.status != 401 && reply.status != 403,
                        "{what} is allowed: {} {}",
                        reply.status,
                        reply.text
                    );
                    None
                }
            };
            let logged = denials_of(NODE, method, &path);
            match expected_denial {
                Some(code) => {
                    assert_eq!(
                        logged.len(),
                        logged_before + 1,
                        "{what}: the refusal must be logged once: {logged:?}"
                    );
                    let last = logged.last().unwrap();
                    assert_eq!(last.code, code, "{what}: {last:?}");
                    assert!(!last.reason.is_empty(), "{what}: {last:?}");
                }
                None => assert_eq!(
                    logged.len(),
                    logged_before,
                    "{what} was not refused, yet logged: {logged:?}"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ENDPOINTS.len() * callers.len());
    assert_eq!(
        api.message_count(&admin).await,
        before,
        "the matrix stored something"
    );
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_is_never_reads_acks_or_answers_another_is_messages() {
    const NODE: &str = "is-isolation";
    let bus = start(NODE).await;
    let api = Api::new(&bus);
    let (admin, mfc, pfr, fns) = (
        bus.token("admin"),
        bus.token("MFC01"),
        bus.token("PFR01"),
        bus.token("FNS01"),
    );
    // MFC01 asks PFR01; PFR01 has it delivered.
    let sent = api
        .post(
            "/api/v1/requests",
            mfc,
            json!({"business_xml": bus.example(VS_PFR, "request.xml"), "client_id": "isolation-1"}),
        )
        .await
        .ok(201);
    let id = sent["message_id"].as_str().unwrap().to_owned();
    let delivered = api
        .call("POST", "/api/v1/inbox/requests/next", Some(pfr), Body::None)
        .await
        .ok(200);
    assert_eq!(delivered["message_id"], id.as_str());

    // Reading: FNS01 is told only that there is no such message, exactly as for an unknown id;
    // the refusal is logged.
    let path = format!("/api/v1/messages/{id}");
    let refused = api.get(&path, fns).await.problem(404, "api.not-found");
    let unknown_id = new_message_id();
    let unknown = api
        .get(&format!("/api/v1/messages/{unknown_id}"), fns)
        .await
        .problem(404, "api.not-found");
    assert_eq!(refused["title"], unknown["title"]);
    assert_eq!(
        refused["detail"].as_str().unwrap().replace(&id, "<id>"),
        unknown["detail"]
            .as_str()
            .unwrap()
            .replace(&unknown_id, "<id>"),
        "the answer must not tell an existing message from an unknown one"
    );
    let logged = denials_of(NODE, "GET", &path);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].code, "forbidden");
    assert!(
        denials_of(NODE, "GET", &format!("/api/v1/messages/{unknown_id}")).is_empty(),
        "an unknown id is not a refusal"
    );
    api.get("/api/v1/messages/by-client-id/MFC01/isolation-1", fns)
        .await
        .problem(404, "api.not-found");
    // Sender and recipient read it.
    for token in [mfc, pfr, admin] {
        assert_eq!(
            api.get(&path, token).await.ok(200)["message_id"],
            id.as_str()
        );
    }
    // Searching: FNS01 finds nothing of it however it asks; the others find it.
    for query in [
        "limit=500".to_owned(),
        "system=MFC01".to_owned(),
        "sender=MFC01".to_owned(),
        "recipient=PFR01".to_owned(),
        format!("message_id={id}"),
        "client_id=isolation-1".to_owned(),
        format!("text={}", encode("112-233-445 95")),
    ] {
        let (ids, _) = api.search(fns, &query).await;
        assert!(ids.is_empty(), "FNS01 found {ids:?} with {query}");
    }
    for token in [mfc, pfr] {
        let (ids, _) = api.search(token, "limit=500").await;
        assert_eq!(ids, vec![id.clone()]);
    }
    assert!(
        api.search(mfc, "system=FNS01").await.0.is_empty(),
        "a filter naming another system finds nothing"
    );

    let count = api.message_count(admin).await;
    // Acknowledging: only the recipient may, and only what was delivered to it.
    for token in [fns, mfc] {
        api.call(
            "POST",
            &format!("/api/v1/messages/{id}/ack"),
            Some(token),
            Body::None,
        )
        .await
        .problem(404, "SMEV-115");
    }
    // Answering: only the recipient of the request.
    for token in [fns, mfc] {
        api.post(
            &format!("/api/v1/requests/{id}/response"),
            token,
            json!({"business_xml": bus.example(VS_PFR, "response.xml")}),
        )
        .await
        .problem(404, "SMEV-105");
        api.post(
            &format!("/api/v1/requests/{id}/rejection"),
            token,
            json!({"reasons": [{"code": "NO_DATA", "description": "нет"}]}),
        )
        .await
        .problem(404, "SMEV-105");
    }
    assert_eq!(api.message_count(admin).await, count, "nothing stored");
    // FNS01 has nothing to receive.
    for next in [
        "/api/v1/inbox/requests/next",
        "/api/v1/inbox/responses/next",
    ] {
        assert_eq!(
            api.call("POST", next, Some(fns), Body::None).await.status,
            204
        );
    }
    // The request is still PFR01's to answer and acknowledge.
    api.post(
        &format!("/api/v1/requests/{id}/response"),
        pfr,
        json!({"business_xml": bus.example(VS_PFR, "response.xml")}),
    )
    .await
    .ok(201);
    api.call(
        "POST",
        &format!("/api/v1/messages/{id}/ack"),
        Some(pfr),
        Body::None,
    )
    .await
    .ok(204);
    bus.stop().await;
}

/// The refusals of acknowledging and answering another IS's message are logged like the
/// refusal of reading one (`journal::view` logs that one and answers 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acking_or_answering_another_is_message_is_logged() {
    const NODE: &str = "is-isolation-log";
    let bus = start(NODE).await;
    let api = Api::new(&bus);
    let (mfc, pfr, fns) = (bus.token("MFC01"), bus.token("PFR01"), bus.token("FNS01"));
    let sent = api
        .post(
            "/api/v1/requests",
            mfc,
            json!({"business_xml": bus.example(VS_PFR, "request.xml")}),
        )
        .await
        .ok(201);
    let id = sent["message_id"].as_str().unwrap().to_owned();
    api.call("POST", "/api/v1/inbox/requests/next", Some(pfr), Body::None)
        .await
        .ok(200);
    let ack = format!("/api/v1/messages/{id}/ack");
    api.call("POST", &ack, Some(fns), Body::None)
        .await
        .problem(404, "SMEV-115");
    let answer = format!("/api/v1/requests/{id}/response");
    api.post(
        &answer,
        fns,
        json!({"business_xml": bus.example(VS_PFR, "response.xml")}),
    )
    .await
    .problem(404, "SMEV-105");
    assert_eq!(
        denials_of(NODE, "POST", &ack).len(),
        1,
        "the refused acknowledgement is not in the log: {:?}",
        denials(NODE)
    );
    assert_eq!(
        denials_of(NODE, "POST", &answer).len(),
        1,
        "the refused answer is not in the log: {:?}",
        denials(NODE)
    );
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Bad input

/// The body limit of the bad-input bus (`max_xml_body_bytes`).
const SMALL_LIMIT: usize = 64 * 1024;

/// A request whose line 3 breaks the XSD (an empty `FamilyName`: minLength 1).
const INVALID_ON_LINE_3: &str =
    "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\">
  <Snils>112-233-445 95</Snils>
  <FamilyName></FamilyName>
  <FirstName>Иван</FirstName>
  <BirthDate>1980-05-17</BirthDate>
</PersonalAccountRequest>";

/// A request whose line 3 is not well-formed (a mismatched end tag).
const NOT_WELL_FORMED_ON_LINE_3: &str =
    "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\">
  <Snils>112-233-445 95</Snils>
  <FamilyName>Иванов</FamilyNam>
  <FirstName>Иван</FirstName>
  <BirthDate>1980-05-17</BirthDate>
</PersonalAccountRequest>";

/// Asserts the problem has an item on `line` with a column; returns the item.
#[track_caller]
fn item_on_line(problem: &Value, line: i64) -> Value {
    let errors = problem["errors"].as_array().expect("errors[]");
    let item = errors
        .iter()
        .find(|e| e["line"] == line)
        .unwrap_or_else(|| panic!("no error on line {line}: {problem}"))
        .clone();
    assert!(
        item["column"].as_i64().is_some_and(|c| c > 0),
        "no column: {item}"
    );
    assert!(
        item["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{item}"
    );
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_precise_problem_and_stores_nothing() {
    const NODE: &str = "bad-input";
    let bus = start_tweaked(NODE, |c| c.max_xml_body_bytes = SMALL_LIMIT).await;
    let api = Api::new(&bus);
    let (admin, mfc) = (bus.token("admin"), bus.token("MFC01"));
    let count = api.message_count(admin).await;
    let send = |body: Body| {
        let api = api.clone();
        async move { api.call("POST", "/api/v1/requests", Some(mfc), body).await }
    };
    let raw = |content_type: &'static str, text: &str| Body::Raw {
        content_type,
        bytes: text.as_bytes().to_vec(),
    };

    // Malformed JSON.
    send(raw("application/json", "{\"business_xml\": "))
        .await
        .problem(400, "api.malformed-json");
    // An unknown field.
    let problem = send(Body::Json(json!({
        "business_xml": bus.example(VS_PFR, "request.xml"),
        "colour": "red",
    })))
    .await
    .problem(400, "api.malformed-json");
    assert!(
        problem["detail"].as_str().unwrap().contains("colour"),
        "{problem}"
    );
    // An XSD error on line 3: the item names the element, the line and the column.
    for body in [
        Body::Json(json!({"business_xml": INVALID_ON_LINE_3})),
        raw("application/xml", INVALID_ON_LINE_3),
    ] {
        let problem = send(body).await.problem(422, "SMEV-102");
        let item = item_on_line(&problem, 3);
        assert!(
            item["element"]
                .as_str()
                .is_some_and(|e| e.contains("FamilyName")),
            "the element is not named: {item}"
        );
    }
    // Not well-formed: line and column.
    for body in [
        Body::Json(json!({"business_xml": NOT_WELL_FORMED_ON_LINE_3})),
        raw("application/xml", NOT_WELL_FORMED_ON_LINE_3),
    ] {
        let problem = send(body).await.problem(422, "SMEV-102");
        item_on_line(&problem, 3);
    }
    // An unknown kind of information.
    send(Body::Json(json!({"business_xml": UNKNOWN_ROOT})))
        .await
        .problem(422, "SMEV-103");
    send(raw("application/xml", UNKNOWN_ROOT))
        .await
        .problem(422, "SMEV-103");
    // Too large, as JSON and as XML.
    let padding = "x".repeat(SMALL_LIMIT + 1);
    let problem = send(Body::Json(json!({
        "business_xml": bus.example(VS_PFR, "request.xml"),
        "client_id": padding,
    })))
    .await
    .problem(413, "api.body-too-large");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&SMALL_LIMIT.to_string()),
        "{problem}"
    );
    let big_xml = format!("<!--{padding}-->{}", bus.example(VS_PFR, "request.xml"));
    send(raw("application/xml", &big_xml))
        .await
        .problem(413, "api.body-too-large");
    // Neither JSON nor XML.
    send(raw("text/plain", &bus.example(VS_PFR, "request.xml")))
        .await
        .problem(415, "api.unsupported-media-type");
    send(Body::Raw {
        content_type: "application/octet-stream",
        bytes: b"{}".to_vec(),
    })
    .await
    .problem(415, "api.unsupported-media-type");
    assert_eq!(api.message_count(admin).await, count, "nothing stored");
    // The same body is accepted when well-formed (the bus did not refuse everything).
    send(Body::Json(
        json!({"business_xml": bus.example(VS_PFR, "request.xml")}),
    ))
    .await
    .ok(201);
    assert_eq!(api.message_count(admin).await, count + 1);
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_tokens_are_refused_and_logged() {
    const NODE: &str = "token-lifetime";
    let bus = start(NODE).await;
    let api = Api::new(&bus);
    let admin = bus.token("admin");
    let make = |expires_at: Option<time::OffsetDateTime>| {
        let mut body = json!({"name": "тест", "role": "is", "system": "MFC01"});
        if let Some(at) = expires_at {
            body["expires_at"] = json!(rfc3339(at));
        }
        let api = api.clone();
        async move { api.post("/api/v1/tokens", admin, body).await }
    };
    let now = time::OffsetDateTime::now_utc();
    // An expiry in the past cannot be made.
    make(Some(now - time::Duration::minutes(1)))
        .await
        .problem(422, "api.invalid-field");

    let expiring = make(Some(now + time::Duration::seconds(2))).await.ok(201);
    let expiring_secret = expiring["secret"].as_str().unwrap().to_owned();
    let revoked = make(None).await.ok(201);
    let revoked_secret = revoked["secret"].as_str().unwrap().to_owned();
    let revoked_id = revoked["id"].as_str().unwrap().to_owned();
    for secret in [&expiring_secret, &revoked_secret] {
        let me = api.get("/api/v1/me", secret).await.ok(200);
        assert_eq!(me["role"], "is");
        assert_eq!(me["system"], "MFC01");
    }

    api.call(
        "DELETE",
        &format!("/api/v1/tokens/{revoked_id}"),
        Some(admin),
        Body::None,
    )
    .await
    .ok(204);
    api.get("/api/v1/me", &revoked_secret)
        .await
        .problem(401, "auth.token-revoked");
    api.call(
        "DELETE",
        &format!("/api/v1/tokens/{revoked_id}"),
        Some(admin),
        Body::None,
    )
    .await
    .problem(404, "api.not-found");

    tokio::time::sleep(Duration::from_millis(3100)).await;
    api.get("/api/v1/me", &expiring_secret)
        .await
        .problem(401, "auth.token-expired");
    api.post(
        "/api/v1/requests",
        &expiring_secret,
        json!({"business_xml": bus.example(VS_PFR, "request.xml")}),
    )
    .await
    .problem(401, "auth.token-expired");
    // An unknown token of the right form.
    let unknown = format!("osmv_{}", "A".repeat(43));
    api.get("/api/v1/me", &unknown)
        .await
        .problem(401, "auth.token-unknown");

    let codes: Vec<String> = denials_of(NODE, "GET", "/api/v1/me")
        .into_iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(
        codes,
        [
            "auth.token-revoked",
            "auth.token-expired",
            "auth.token-unknown"
        ]
    );
    // The audit log has both changes.
    let audit = api.get("/api/v1/audit?action=token.", admin).await.ok(200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == revoked_id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["token.revoke", "token.create"]);
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// The document, the docs page, the health checks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_and_the_health_checks() {
    let bus = start("openapi-health").await;
    let api = Api::new(&bus);
    let doc = api
        .call("GET", "/api/v1/openapi.json", None, Body::None)
        .await;
    assert!(
        doc.content_type.starts_with("application/json"),
        "{}",
        doc.content_type
    );
    let doc = doc.ok(200);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    for path in ["/health/live", "/health/ready"] {
        let health = api.call("GET", path, None, Body::None).await.ok(200);
        assert_eq!(health["status"], "ok", "{health}");
    }
    let ready = api
        .call("GET", "/health/ready", None, Body::None)
        .await
        .ok(200);
    let checks: BTreeSet<&str> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|c| assert_eq!(c["ok"], true, "{c}"))
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks, BTreeSet::from(["keys", "registry", "store"]));
    // Unknown API paths are problems too.
    api.call("GET", "/api/v1/no-such-thing", None, Body::None)
        .await
        .problem(404, "api.not-found");
    bus.stop().await;
}

/// The hosts of the absolute `http(s)://` URLs in `text`.
fn url_hosts(text: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    for scheme in ["http://", "https://"] {
        let mut rest = text;
        while let Some(at) = rest.find(scheme) {
            rest = &rest[at + scheme.len()..];
            let host: String = rest
                .chars()
                .take_while(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':')
                })
                .collect();
            let host = match host.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
                _ => host,
            };
            hosts.push(host);
        }
    }
    hosts
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.")
}

/// The values of `attribute="…"` in HTML.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_loads_nothing_from_other_hosts() {
    let bus = start("swagger-ui").await;
    let http = reqwest::Client::new();
    let page = http.get(bus.url("/api/docs/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let content_type = page
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.unwrap();
    let external: Vec<String> = url_hosts(&html)
        .into_iter()
        .filter(|h| !is_loopback(h))
        .collect();
    assert!(external.is_empty(), "the page names {external:?}");
    let mut assets: Vec<String> = attribute_values(&html, "src");
    assets.extend(attribute_values(&html, "href"));
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "{assets:?}"
    );
    for asset in &assets {
        assert!(
            !asset.contains("//") && !asset.starts_with('/'),
            "the page loads {asset} from elsewhere"
        );
        let url = bus.url(&format!("/api/docs/{}", asset.trim_start_matches("./")));
        let answer = http.get(&url).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{url}");
        let bytes = answer.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes);
        if asset.ends_with(".css") {
            // Stylesheets: every url(…) is inline data or a relative path.
            for part in text.split("url(").skip(1) {
                let target = part.trim_start_matches(['"', '\'']);
                assert!(
                    target.starts_with("data:")
                        || !(target.starts_with("http:")
                            || target.starts_with("https:")
                            || target.starts_with("//")),
                    "{asset} loads {}",
                    &target[..target.len().min(80)]
                );
            }
        }
        if asset.ends_with("swagger-initializer.js") {
            // The configuration the bus writes: only the local document.
            let external: Vec<String> = url_hosts(&text)
                .into_iter()
                .filter(|h| !is_loopback(h))
                .collect();
            assert!(external.is_empty(), "the configuration names {external:?}");
            assert!(text.contains("/api/v1/openapi.json"), "{text}");
        }
    }
    bus.stop().await;
}

/// Swagger UI's bundle defaults `validatorUrl` to `https://validator.swagger.io/validator` and,
/// whenever the document's URL is not on localhost/127.0.0.1 (any real deployment), renders a
/// badge image loaded from there with the document's absolute URL: the configuration must set
/// `validatorUrl: "none"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_disables_the_online_validator() {
    let bus = start("swagger-ui-validator").await;
    let http = reqwest::Client::new();
    let bundle = http
        .get(bus.url("/api/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        bundle.contains("https://validator.swagger.io/validator"),
        "the bundle no longer defaults to the online validator: this test can go"
    );
    let config = http
        .get(bus.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        config.contains("\"validatorUrl\": \"none\"") || config.contains("validatorUrl: \"none\""),
        "the online validator is not disabled:\n{config}"
    );
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// The journal

fn pfr_request(family_name: &str) -> String {
    format!(
        "<PersonalAccountRequest xmlns=\"{PFR_NS}\"><Snils>112-233-445 95</Snils><FamilyName>{family_name}</FamilyName><FirstName>Иван</FirstName><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_has_the_timeline_search_and_paging() {
    const NODE: &str = "journal-node";
    let bus = start(NODE).await;
    let api = Api::new(&bus);
    let (admin, mfc, pfr) = (bus.token("admin"), bus.token("MFC01"), bus.token("PFR01"));

    // A round trip over REST.
    let sent = api
        .post(
            "/api/v1/requests",
            mfc,
            json!({"business_xml": pfr_request("Журналов"), "client_id": "journal-1"}),
        )
        .await
        .ok(201);
    let id = sent["message_id"].as_str().unwrap().to_owned();
    assert_eq!(sent["client_id"], "journal-1");
    assert_eq!(sent["signed"], true);
    let delivered = api
        .call("POST", "/api/v1/inbox/requests/next", Some(pfr), Body::None)
        .await
        .ok(200);
    assert_eq!(delivered["message_id"], id.as_str());
    assert_eq!(delivered["attempt"], 1);
    api.post(
        &format!("/api/v1/requests/{id}/response"),
        pfr,
        json!({"business_xml": bus.example(VS_PFR, "response.xml"), "client_id": "journal-answer"}),
    )
    .await
    .ok(201);
    api.call(
        "POST",
        &format!("/api/v1/messages/{id}/ack"),
        Some(pfr),
        Body::Json(json!({"accepted": true})),
    )
    .await
    .ok(204);

    let view = api
        .get(&format!("/api/v1/messages/{id}"), admin)
        .await
        .ok(200);
    assert_eq!(view["message_id"], id.as_str());
    assert_eq!(view["sender"], "MFC01");
    assert_eq!(view["recipient"], "PFR01");
    assert_eq!(view["client_id"], "journal-1");
    assert_eq!(view["signed"], true);
    let timeline = view["timeline"].as_array().unwrap();
    let events: Vec<&str> = timeline
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    // The answer also moves the request's interaction status (`status`: responseIsQueued).
    assert_eq!(
        events,
        ["accepted", "delivered", "answered", "status", "acked"],
        "{view}"
    );
    assert_eq!(timeline[0]["actor"], "MFC01", "{view}");
    let delivered = &timeline[1];
    assert_eq!(delivered["attempt"], 1, "{delivered}");
    assert_eq!(delivered["actor"], "PFR01", "{delivered}");
    assert_eq!(timeline[2]["actor"], "PFR01", "{view}");
    assert_eq!(timeline[3]["detail"], "responseIsQueued", "{view}");
    assert_eq!(timeline[4]["actor"], "PFR01", "{view}");
    for event in timeline {
        assert_eq!(event["node"], NODE, "{event}");
    }
    let times: Vec<time::OffsetDateTime> = timeline
        .iter()
        .map(|e| {
            time::OffsetDateTime::parse(
                e["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // The same through the client id.
    let by_client_id = api
        .get("/api/v1/messages/by-client-id/MFC01/journal-1", mfc)
        .await
        .ok(200);
    assert_eq!(by_client_id["message_id"], id.as_str());

    // Search by client id and by text in the business content.
    assert_eq!(
        api.search(admin, "client_id=journal-1").await,
        (vec![id.clone()], None)
    );
    assert_eq!(
        api.search(mfc, "client_id=journal-1").await,
        (vec![id.clone()], None)
    );
    assert_eq!(
        api.search(admin, &format!("text={}", encode("Журналов")))
            .await,
        (vec![id.clone()], None)
    );
    assert_eq!(
        api.search(admin, &format!("text={}", encode("Нетакогоимени")))
            .await,
        (Vec::new(), None)
    );

    // Cursor paging: 3 messages, 2 a page.
    let mut paged = Vec::new();
    for _ in 0..3 {
        let sent = api
            .post(
                "/api/v1/requests",
                mfc,
                json!({"business_xml": pfr_request("Страничкин")}),
            )
            .await
            .ok(201);
        paged.push(sent["message_id"].as_str().unwrap().to_owned());
    }
    let query = format!("text={}&limit=2", encode("Страничкин"));
    let (first, cursor) = api.search(admin, &query).await;
    assert_eq!(first.len(), 2, "{first:?}");
    let cursor = cursor.expect("next_cursor after a full page");
    let (second, end) = api.search(admin, &format!("{query}&cursor={cursor}")).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(end, None, "the last page has no next_cursor");
    let mut all: Vec<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(all.len(), 3);
    // Newest first, no duplicates, every one found.
    let newest_first: Vec<String> = paged.iter().rev().cloned().collect();
    assert_eq!(all, newest_first);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 3);
    bus.stop().await;
}

#[test]
fn the_url_scanner_finds_hosts() {
    assert_eq!(
        url_hosts("a https://example.org/x b http://127.0.0.1:7500/y"),
        ["127.0.0.1", "example.org"]
    );
    assert!(is_loopback("localhost") && !is_loopback("validator.swagger.io"));
    assert_eq!(encode("a b/Ж"), "a%20b%2F%D0%96");
}
