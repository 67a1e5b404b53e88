//! An SMEV 3 client for tests and the load tool: builds the SOAP calls of every operation,
//! signs them with an IS key (ЭП-ОВ), posts them, and checks every answer — it must validate
//! against the official XSD of its version and every SMEV signature in it must verify — so a
//! fast but wrong server cannot pass a test or score in a benchmark.

use std::sync::Arc;

use opensmev_crypto::{Certificate, CryptoProvider, OpenSslProvider, Signer};
use opensmev_types::{MessageId, SchemaVersion};
use opensmev_xmldsig::dsig::{self, Placement, SignOptions, VerifyOptions};
use opensmev_xmldsig::xml::{Document, Limits};

/// The SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A fresh version-1 message id.
pub fn new_message_id() -> String {
    let mut node = [0u8; 6];
    let mut seq = [0u8; 2];
    openssl::rand::rand_bytes(&mut node).unwrap();
    openssl::rand::rand_bytes(&mut seq).unwrap();
    MessageId::from_parts(
        time::OffsetDateTime::now_utc(),
        u16::from_be_bytes(seq),
        node,
    )
    .to_string()
}

pub fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The answer to a call.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    pub fn doc(&self) -> Document<'_> {
        Document::parse(self.text.as_bytes(), Limits::default())
            .unwrap_or_else(|e| panic!("answer not XML: {e}\n{}", self.text))
    }

    /// The first element with this local name.
    pub fn find(&self, local: &str) -> Option<String> {
        let doc = self.doc();
        doc.elements()
            .find(|e| e.local_name() == local)
            .map(|e| e.text_content())
    }

    pub fn has(&self, local: &str) -> bool {
        self.doc().elements().any(|e| e.local_name() == local)
    }

    /// The fault element name inside `detail`, if this is a fault.
    pub fn fault(&self) -> Option<String> {
        let doc = self.doc();
        let detail = doc.elements().find(|e| e.local_name() == "detail")?;
        detail.children().next().map(|e| e.local_name().to_owned())
    }
}

/// An answer as bytes, unchecked: for bodies that are not one XML document (MTOM
/// `multipart/related`) or that a test inspects at the HTTP level.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The optional parts of a `SendRequest` built by [`SmevClient::send_request_xml_with`]: XML
/// fragments in the schema's order (prefix `ns2` = the types namespace, default namespace =
/// basic).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    /// Between `MessageID` and `MessagePrimaryContent`: `ReferenceMessageID`, `TransactionCode`,
    /// `NodeID`, `EOL`.
    pub before_content: &'a str,
    /// Between `MessagePrimaryContent` and `TestMessage`: `PersonalSignature`,
    /// `AttachmentHeaderList`, `RefAttachmentHeaderList`, `BusinessProcessMetadata`.
    pub after_content: &'a str,
    /// Whether `TestMessage` closes the signed data.
    pub test_message: bool,
    /// After `SenderProvidedRequestData`, outside the signed data: `AttachmentContentList`.
    pub after_data: &'a str,
}

/// The `RejectCode`s of the schema (`RequestRejected/RejectionReasonCode`), the same in 1.1,
/// 1.2 and 1.3.
pub const REJECT_CODES: [&str; 4] = [
    "ACCESS_DENIED",
    "NO_DATA",
    "UNKNOWN_REQUEST_DESCRIPTION",
    "FAILURE",
];

/// The `RequestRejected` elements of a refusal (`SenderProvidedResponseData` content, prefix
/// `ns2` = types): one per `(code, description)`; the description is escaped here, the code is
/// written as it is (one of [`REJECT_CODES`]).
pub fn rejected_content(reasons: &[(&str, &str)]) -> String {
    reasons
        .iter()
        .map(|(code, description)| {
            format!(
                "<ns2:RequestRejected><ns2:RejectionReasonCode>{code}</ns2:RejectionReasonCode><ns2:RejectionReasonDescription>{}</ns2:RejectionReasonDescription></ns2:RequestRejected>",
                opensmev_xmldsig::xml::escape_text(description)
            )
        })
        .collect()
}

/// One SMEV call, before it is signed: [`SmevClient::unsigned`] writes its envelope.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    /// `SendRequest` with `business` (one element) and the optional `parts`.
    SendRequest {
        message_id: &'a str,
        business: &'a str,
        parts: RequestParts<'a>,
    },
    /// `SendResponse`: `content` follows `To` (see [`SmevClient::send_response_xml`]).
    SendResponse {
        message_id: &'a str,
        to: &'a str,
        content: &'a str,
        after_data: &'a str,
    },
    /// `GetRequest` with an optional type (namespace, local name) and node selector.
    GetRequest {
        ty: Option<(&'a str, &'a str)>,
        node_id: Option<&'a str>,
    },
    /// `GetResponse` with an optional type (namespace, local name) and node selector.
    GetResponse {
        ty: Option<(&'a str, &'a str)>,
        node_id: Option<&'a str>,
    },
    /// `Ack` of a delivered message.
    Ack { message_id: &'a str, accepted: bool },
    /// `GetStatus`.
    GetStatus,
    /// `GetIncomingQueueStatistics` (schema 1.1 only).
    QueueStatistics { node_id: Option<&'a str> },
}

impl Call<'_> {
    /// The operation's name (also the `SOAPAction` `urn:<name>`).
    pub fn action(&self) -> &'static str {
        match self {
            Call::SendRequest { .. } => "SendRequest",
            Call::SendResponse { .. } => "SendResponse",
            Call::GetRequest { .. } => "GetRequest",
            Call::GetResponse { .. } => "GetResponse",
            Call::Ack { .. } => "Ack",
            Call::GetStatus => "GetStatus",
            Call::QueueStatistics { .. } => "GetIncomingQueueStatistics",
        }
    }

    /// The `Id` of the element the caller signs.
    pub fn signed_id(&self) -> &'static str {
        match self {
            Call::SendRequest { .. } => "SIGNED_BY_CONSUMER",
            Call::SendResponse { .. } => "SIGNED_BY_PROVIDER",
            _ => "SIGNED_BY_CALLER",
        }
    }
}

/// Why [`SmevClient::call`] has no checked answer.
#[derive(Debug)]
pub enum CallError {
    /// The call could not be signed.
    Sign(String),
    /// The call did not reach the server or its answer was not read.
    Transport(String),
    /// An answer came but failed the check (XSD, SMEV signature, HTTP status); the reason and
    /// the answer.
    Check { reason: String, answer: Answer },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Sign(e) => write!(f, "signing failed: {e}"),
            CallError::Transport(e) => write!(f, "HTTP: {e}"),
            CallError::Check { reason, .. } => write!(f, "the answer failed the check: {reason}"),
        }
    }
}

impl std::error::Error for CallError {}

/// An HTTP answer's status code and `Content-Type` (empty when absent).
pub fn status_and_type(response: &reqwest::Response) -> (u16, String) {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (response.status().as_u16(), content_type)
}

/// An SMEV client for tests.
#[derive(Debug)]
pub struct SmevClient {
    pub http: reqwest::Client,
    pub url: String,
    pub version: SchemaVersion,
    pub signer: Option<Arc<dyn Signer>>,
    pub smev_cert: Certificate,
    pub mnemonic_header: Option<String>,
}

impl SmevClient {
    /// A client of a demo IS of a server at `base` (`http://host:port/smev`) whose demo files are
    /// in `demo_dir`.
    pub fn for_demo(
        base: &str,
        demo_dir: &std::path::Path,
        mnemonic: &str,
        version: SchemaVersion,
    ) -> SmevClient {
        let provider = OpenSslProvider::new();
        let dir = demo_dir.join(mnemonic);
        let cert = Certificate::from_pem(&std::fs::read(dir.join("cert.pem")).unwrap()).unwrap();
        let signer = provider
            .load_signer(&std::fs::read(dir.join("key.pem")).unwrap(), cert)
            .unwrap();
        let smev_cert =
            Certificate::from_pem(&std::fs::read(demo_dir.join("SMEV/cert.pem")).unwrap()).unwrap();
        SmevClient {
            http: reqwest::Client::new(),
            url: format!("{base}/v{}/ws", version.as_str()),
            version,
            signer: Some(Arc::from(signer)),
            smev_cert,
            mnemonic_header: None,
        }
    }

    /// A client of the IS whose key and certificate are given (PEM), posting to `url` (the
    /// endpoint of `version`) and checking answers against the bus certificate `smev_cert_pem`;
    /// each HTTP call is cut after `timeout`. Errors name what could not be loaded.
    pub fn from_pem(
        url: &str,
        version: SchemaVersion,
        key_pem: &[u8],
        cert_pem: &[u8],
        smev_cert_pem: &[u8],
        timeout: std::time::Duration,
    ) -> Result<SmevClient, String> {
        let provider = OpenSslProvider::new();
        let cert = Certificate::from_pem(cert_pem).map_err(|e| format!("certificate: {e}"))?;
        let signer = provider
            .load_signer(key_pem, cert)
            .map_err(|e| format!("key: {e}"))?;
        let smev_cert =
            Certificate::from_pem(smev_cert_pem).map_err(|e| format!("bus certificate: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(SmevClient {
            http,
            url: url.to_owned(),
            version,
            signer: Some(Arc::from(signer)),
            smev_cert,
            mnemonic_header: None,
        })
    }

    pub fn types(&self) -> &'static str {
        self.version.types_ns()
    }

    pub fn basic(&self) -> &'static str {
        self.version.basic_ns()
    }

    /// Wraps a body element into an envelope.
    pub fn envelope(&self, body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Header/><soap:Body>{body}</soap:Body></soap:Envelope>"
        )
    }

    /// Signs the element with `Id=id` (if this client has a key). Panics when signing fails (for
    /// tests); [`SmevClient::try_sign`] returns the reason.
    pub fn sign(&self, xml: &str, id: &str) -> String {
        self.try_sign(xml, id)
            .unwrap_or_else(|e| panic!("signing: {e}"))
    }

    /// [`SmevClient::sign`] as a value.
    pub fn try_sign(&self, xml: &str, id: &str) -> Result<String, String> {
        match &self.signer {
            None => Ok(xml.to_owned()),
            Some(signer) => {
                let signed = dsig::sign_document(
                    xml.as_bytes(),
                    id,
                    signer.as_ref(),
                    &OpenSslProvider::new(),
                    Placement::Smev,
                    &SignOptions::default(),
                )
                .map_err(|e| e.to_string())?;
                String::from_utf8(signed).map_err(|e| e.to_string())
            }
        }
    }

    /// The envelope of a call, unsigned (the element to sign has `Id` [`Call::signed_id`]).
    pub fn unsigned(&self, call: &Call<'_>) -> String {
        let (t, b) = (self.types(), self.basic());
        let body = match *call {
            Call::SendRequest {
                message_id,
                business,
                parts,
            } => {
                let RequestParts {
                    before_content,
                    after_content,
                    test_message,
                    after_data,
                } = parts;
                let test = if test_message {
                    "<ns2:TestMessage/>"
                } else {
                    ""
                };
                format!(
                    "<ns2:SendRequestRequest xmlns:ns2=\"{t}\" xmlns=\"{b}\"><ns2:SenderProvidedRequestData Id=\"SIGNED_BY_CONSUMER\"><ns2:MessageID>{message_id}</ns2:MessageID>{before_content}<MessagePrimaryContent>{business}</MessagePrimaryContent>{after_content}{test}</ns2:SenderProvidedRequestData>{after_data}</ns2:SendRequestRequest>"
                )
            }
            Call::SendResponse {
                message_id,
                to,
                content,
                after_data,
            } => format!(
                "<ns2:SendResponseRequest xmlns:ns2=\"{t}\" xmlns=\"{b}\"><ns2:SenderProvidedResponseData Id=\"SIGNED_BY_PROVIDER\"><ns2:MessageID>{message_id}</ns2:MessageID><ns2:To>{to}</ns2:To>{content}</ns2:SenderProvidedResponseData>{after_data}</ns2:SendResponseRequest>"
            ),
            Call::GetRequest { ty, node_id } | Call::GetResponse { ty, node_id } => {
                let operation = call.action();
                format!(
                    "<ns2:{operation}Request xmlns:ns2=\"{t}\">{}</ns2:{operation}Request>",
                    self.selector(ty, node_id)
                )
            }
            Call::Ack {
                message_id,
                accepted,
            } => format!(
                "<ns2:AckRequest xmlns:ns2=\"{t}\"><AckTargetMessage xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\" accepted=\"{accepted}\">{message_id}</AckTargetMessage></ns2:AckRequest>"
            ),
            Call::GetStatus => format!(
                "<ns2:GetStatusRequest xmlns:ns2=\"{t}\"><Timestamp xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\">{}</Timestamp></ns2:GetStatusRequest>",
                now_text()
            ),
            Call::QueueStatistics { node_id } => {
                let node = node_id
                    .map(|n| format!("<ns2:NodeID>{n}</ns2:NodeID>"))
                    .unwrap_or_default();
                format!(
                    "<ns2:GetIncomingQueueStatisticsRequest xmlns:ns2=\"{t}\">{node}<Timestamp xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\">{}</Timestamp></ns2:GetIncomingQueueStatisticsRequest>",
                    now_text()
                )
            }
        };
        self.envelope(&body)
    }

    /// Signs, posts and checks a call without panicking: the answer when it passed
    /// [`SmevClient::try_check`] (a SOAP fault passes it too), otherwise why not.
    pub async fn call(&self, call: &Call<'_>) -> Result<Answer, CallError> {
        let xml = self
            .try_sign(&self.unsigned(call), call.signed_id())
            .map_err(CallError::Sign)?;
        let answer = self
            .try_post(call.action(), xml)
            .await
            .map_err(|e| CallError::Transport(transport_reason(&e)))?;
        match self.try_check(&answer) {
            Ok(()) => Ok(answer),
            Err(reason) => Err(CallError::Check { reason, answer }),
        }
    }

    pub async fn post(&self, action: &str, xml: String) -> Answer {
        let answer = self.try_post(action, xml).await.expect("HTTP");
        self.check(&answer);
        answer
    }

    /// Posts without checking (for calls that may meet a dead server).
    pub async fn try_post(&self, action: &str, xml: String) -> Result<Answer, reqwest::Error> {
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"urn:{action}\""))
            .body(xml);
        if let Some(m) = &self.mnemonic_header {
            request = request.header("X-OpenSMEV-Mnemonic", m);
        }
        let response = request.send().await?;
        let (status, content_type) = status_and_type(&response);
        let text = response.text().await?;
        Ok(Answer {
            status,
            content_type,
            text,
        })
    }

    /// Every answer: valid against the official XSD of its version; every SMEV signature valid
    /// and made with the bus certificate; and the answers that must be signed by the bus
    /// (acceptances and delivered messages) carry an `SMEVSignature` at all (the XSD makes it
    /// optional, so an unsigned answer would otherwise pass). Panics with the reason (for tests);
    /// [`SmevClient::try_check`] returns it.
    pub fn check(&self, answer: &Answer) {
        if let Err(reason) = self.try_check(answer) {
            panic!("{reason}\n{}", answer.text);
        }
    }

    /// [`SmevClient::check`] as a value.
    pub fn try_check(&self, answer: &Answer) -> Result<(), String> {
        let doc = Document::parse(answer.text.as_bytes(), Limits::default())
            .map_err(|e| format!("the answer is not XML: {e}"))?;
        let body = doc.root().child(SOAP_NS, "Body").ok_or("no soap:Body")?;
        let child = body.children().next().ok_or("an empty soap:Body")?;
        if child.is(SOAP_NS, "Fault") {
            if answer.status != 500 {
                return Err(format!(
                    "a fault must come with HTTP 500, not {}",
                    answer.status
                ));
            }
            if let Some(detail) = child.children().find(|c| c.local_name() == "detail")
                && let Some(fault) = detail.children().next()
            {
                opensmev_schema::validate_official(self.version.as_str(), &fault.standalone())
                    .map_err(|e| format!("the fault detail does not validate: {e:?}"))?;
            }
            return Ok(());
        }
        if answer.status != 200 {
            return Err(format!("HTTP {} without a fault", answer.status));
        }
        opensmev_schema::validate_official(self.version.as_str(), &child.standalone()).map_err(
            |e| {
                format!(
                    "the answer does not validate against {}: {e:?}",
                    self.version.as_str()
                )
            },
        )?;
        let must_be_signed = match child.local_name() {
            "SendRequestResponse" | "SendResponseResponse" => true,
            "GetRequestResponse" | "GetResponseResponse" | "GetStatusResponse" => {
                child.children().next().is_some()
            }
            _ => false,
        };
        let mut smev_signatures = 0;
        for sig in doc.elements().filter(|e| e.is(dsig::DSIG_NS, "Signature")) {
            // Only the bus's own signatures (SMEVSignature) are checked here.
            if sig
                .parent()
                .is_some_and(|p| p.local_name() == "SMEVSignature")
            {
                smev_signatures += 1;
                let report =
                    dsig::verify_signature(&sig, &OpenSslProvider::new(), &VerifyOptions::now());
                if let Some(failure) = report.failure {
                    return Err(format!(
                        "SMEV signature invalid: {} {}",
                        failure.category, failure.message
                    ));
                }
                if report.certificate.as_ref() != Some(&self.smev_cert) {
                    return Err(
                        "the SMEV signature is not made with the bus certificate".to_owned()
                    );
                }
            }
        }
        if must_be_signed && smev_signatures == 0 {
            return Err(format!("{} carries no SMEVSignature", child.local_name()));
        }
        Ok(())
    }

    pub async fn send_request(&self, message_id: &str, business: &str, extra: &str) -> Answer {
        let xml = self.send_request_xml(message_id, business, extra);
        self.post("SendRequest", xml).await
    }

    /// A signed `SendRequest` envelope (a test message; `extra` goes between `MessageID` and
    /// `MessagePrimaryContent`).
    pub fn send_request_xml(&self, message_id: &str, business: &str, extra: &str) -> String {
        self.send_request_xml_with(
            message_id,
            business,
            RequestParts {
                before_content: extra,
                test_message: true,
                ..RequestParts::default()
            },
        )
    }

    /// A signed `SendRequest` envelope with the optional `parts`.
    pub fn send_request_xml_with(
        &self,
        message_id: &str,
        business: &str,
        parts: RequestParts<'_>,
    ) -> String {
        let call = Call::SendRequest {
            message_id,
            business,
            parts,
        };
        self.sign(&self.unsigned(&call), call.signed_id())
    }

    /// Posts [`SmevClient::send_request_xml_with`].
    pub async fn send_request_with(
        &self,
        message_id: &str,
        business: &str,
        parts: RequestParts<'_>,
    ) -> Answer {
        let xml = self.send_request_xml_with(message_id, business, parts);
        self.post("SendRequest", xml).await
    }

    /// A business answer: `MessagePrimaryContent` with `business`.
    pub async fn send_response(&self, message_id: &str, to: &str, business: &str) -> Answer {
        let content = format!("<MessagePrimaryContent>{business}</MessagePrimaryContent>");
        self.send_response_with(message_id, to, &content, "").await
    }

    /// A signed `SendResponse` envelope: `content` follows `To` inside
    /// `SenderProvidedResponseData` (`MessagePrimaryContent` + `AttachmentHeaderList`…, or
    /// `ns2:RequestRejected`, or `ns2:RequestStatus`; prefix `ns2` = types, default namespace =
    /// basic); `after_data` follows that element (`AttachmentContentList`).
    pub fn send_response_xml(
        &self,
        message_id: &str,
        to: &str,
        content: &str,
        after_data: &str,
    ) -> String {
        let call = Call::SendResponse {
            message_id,
            to,
            content,
            after_data,
        };
        self.sign(&self.unsigned(&call), call.signed_id())
    }

    /// Posts [`SmevClient::send_response_xml`].
    pub async fn send_response_with(
        &self,
        message_id: &str,
        to: &str,
        content: &str,
        after_data: &str,
    ) -> Answer {
        let xml = self.send_response_xml(message_id, to, content, after_data);
        self.post("SendResponse", xml).await
    }

    fn selector(&self, ty: Option<(&str, &str)>, node_id: Option<&str>) -> String {
        let b = self.basic();
        let ty = ty
            .map(|(ns, local)| format!("<NamespaceURI>{ns}</NamespaceURI><RootElementLocalName>{local}</RootElementLocalName>"))
            .unwrap_or_default();
        let node = node_id
            .map(|n| format!("<NodeID>{n}</NodeID>"))
            .unwrap_or_default();
        format!(
            "<MessageTypeSelector xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\">{ty}<Timestamp>{}</Timestamp>{node}</MessageTypeSelector>",
            now_text()
        )
    }

    /// A signed poll envelope: `operation` is `GetRequest` or `GetResponse`; the selector names
    /// the type `ty` and the node `node_id` when given.
    pub fn poll_xml(
        &self,
        operation: &str,
        ty: Option<(&str, &str)>,
        node_id: Option<&str>,
    ) -> String {
        let call = if operation == "GetRequest" {
            Call::GetRequest { ty, node_id }
        } else {
            Call::GetResponse { ty, node_id }
        };
        self.sign(&self.unsigned(&call), call.signed_id())
    }

    pub async fn get_request(&self, ty: Option<(&str, &str)>) -> Answer {
        self.post("GetRequest", self.poll_xml("GetRequest", ty, None))
            .await
    }

    pub async fn get_response(&self, ty: Option<(&str, &str)>) -> Answer {
        self.post("GetResponse", self.poll_xml("GetResponse", ty, None))
            .await
    }

    /// `GetResponse` from one node of the consumer (`MessageTypeSelector/NodeID`).
    pub async fn get_response_on_node(
        &self,
        ty: Option<(&str, &str)>,
        node_id: Option<&str>,
    ) -> Answer {
        self.post("GetResponse", self.poll_xml("GetResponse", ty, node_id))
            .await
    }

    pub async fn ack(&self, message_id: &str, accepted: bool) -> Answer {
        self.post_call(&Call::Ack {
            message_id,
            accepted,
        })
        .await
    }

    pub async fn get_status(&self) -> Answer {
        self.post_call(&Call::GetStatus).await
    }

    /// Signs and posts a call and checks its answer (panics on failure, for tests).
    pub async fn post_call(&self, call: &Call<'_>) -> Answer {
        self.post(
            call.action(),
            self.sign(&self.unsigned(call), call.signed_id()),
        )
        .await
    }

    /// `GetIncomingQueueStatistics` (schema 1.1 only): the caller's pending messages per queue.
    pub async fn get_incoming_queue_statistics(&self, node_id: Option<&str>) -> Answer {
        self.post_call(&Call::QueueStatistics { node_id }).await
    }

    /// Posts `body` as it is with this `Content-Type` and, when given, this `SOAPAction` header
    /// (sent verbatim); returns the answer unchecked, as bytes.
    pub async fn post_raw(
        &self,
        content_type: &str,
        soap_action: Option<&str>,
        body: Vec<u8>,
    ) -> RawAnswer {
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", content_type)
            .body(body);
        if let Some(action) = soap_action {
            request = request.header("SOAPAction", action);
        }
        if let Some(m) = &self.mnemonic_header {
            request = request.header("X-OpenSMEV-Mnemonic", m);
        }
        let response = request.send().await.expect("HTTP");
        let (status, content_type) = status_and_type(&response);
        let body = response.bytes().await.expect("HTTP body").to_vec();
        RawAnswer {
            status,
            content_type,
            body,
        }
    }
}

/// A transport error with its causes (reqwest's own text rarely says why: refused, timed out…).
pub fn transport_reason(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        format!("{error} (timed out)")
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
