//! The crypto-and-validation bound (`opensmev-load baseline crypto`): exactly the cryptographic
//! and schema work of one signed, validated round trip — bus side and client side — done
//! in-process on N threads, without the bus, with real GOST keys and the same XML documents.
//!
//! # What one round trip costs
//!
//! The load tool's round trip is six calls (see `engine`): the consumer's `SendRequest`, the
//! provider's `GetRequest`, `Ack` and `SendResponse`, the consumer's `GetResponse` and `Ack`.
//! Following the code paths of one call of each:
//!
//! | call | client signs the call | bus verifies the caller | bus business XSD | bus signs the answer | client official XSD | client verifies SMEV signatures |
//! |---|--:|--:|--:|--:|--:|--:|
//! | `SendRequest` | 1 | 1 | 1 (request) | 1 `SendRequestResponse` | 1 | 1 |
//! | `GetRequest` (a message) | 1 | 1 | – | 1 `GetRequestResponse` | 1 | 1 |
//! | `Ack` | 1 | 1 | – | – (`AckResponse` is unsigned) | 1 | – |
//! | `SendResponse` | 1 | 1 | 1 (response) | 1 `SendResponseResponse` | 1 | 1 |
//! | `GetResponse` (a message) | 1 | 1 | – | 1 `GetResponseResponse` | 1 | 1 |
//! | `Ack` | 1 | 1 | – | – | 1 | – |
//! | **round trip** | **6** | **6** | **2** | **4** | **6** | **4** |
//!
//! Why, call by call:
//! * the client (`SmevClient::sign` via `envelope::*_xml`) signs every call: `SenderProvided…Data`,
//!   `MessageTypeSelector` or `AckTargetMessage`, each a `dsig::sign_document` (transforms and
//!   Streebog digest of the element, exclusive C14N of `SignedInfo`, one GOST R 34.10-2012 sign);
//! * the bus authenticates every signed call (`Bus::authenticate` → `dsig::verify_wrapped` of
//!   `CallerInformationSystemSignature`, expected target = the signed element: digest + one GOST
//!   verify), then looks the certificate up in the registry;
//! * the bus validates business content against the kind's XSD (`Bus::validate_content` →
//!   `SchemaSet::validate`) in `send_request` and `send_response` only;
//! * the bus signs (`soap.rs` → `dsig::sign_document`, `Id=SIGNED_BY_SMEV`) the two acceptances
//!   and the two delivered messages; `AckResponse` and empty poll answers are not signed;
//! * the client checks every answer (`SmevClient::try_check`): the official XSD of the version
//!   (`opensmev_schema::validate_official`) always, and every `ds:Signature` inside an
//!   `SMEVSignature` (`dsig::verify_signature`: digest + one GOST verify). The signature of the
//!   other IS inside a delivered message (`SenderInformationSystemSignature`) is not verified by
//!   the client, so it is not counted.
//!
//! Total: **10 GOST signs** (6 client, 4 bus), **10 GOST verifies** (6 bus, 4 client), **8 XSD
//! validations** (2 business by the bus, 6 official by the client). Each sign and verify includes
//! the digest of its signed element (SMEV transform + exclusive C14N + GOST R 34.11-2012).
//!
//! Not counted: empty polls (a `GetRequest`/`GetResponse` that finds nothing costs one more client
//! sign, one bus verify and one official validation — the bus run reports how many it made) and
//! everything that is not crypto or validation (HTTP, decoding, routing, the store).
//!
//! # How it runs
//!
//! One iteration replays a whole round trip in process: the client's calls are built and signed
//! by the load tool's own builders (`envelope::send_request_xml`, `poll_xml`, `ack_xml`,
//! `send_response_xml` over `SmevClient` with the demo keys MFC01/PFR01 and the bench workload's
//! content and `--payload-bytes`), the bus side parses each call and verifies it with
//! `dsig::verify_wrapped` exactly as `Bus::authenticate` does, validates business content with
//! the registered kind's `SchemaSet` (built from the same benchmark registry the bus loads), builds
//! its answers with `opensmev_wire`'s encoders (the same `MessageMetadata`, delivered
//! `Request`/`Response` with the stored sender data and signature) and signs them with the bus
//! key through `dsig::sign_document`, and the client checks each answer with
//! `SmevClient::try_check`. N threads (default: the number of CPUs) do this for the duration; each
//! first runs one warm-up round trip (the per-thread XSD compilation). The bound is round-trip
//! equivalents per second over all threads.

use std::fmt::Write as _;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use opensmev_client::{Answer, SOAP_NS, SmevClient, new_message_id};
use opensmev_core::ReplyToken;
use opensmev_core::registry::{Kind, Registry};
use opensmev_crypto::{Certificate, CryptoProvider, OpenSslProvider, Signer};
use opensmev_types::{InteractionStatus, MessageId, MessageKind, Mnemonic, SchemaVersion};
use opensmev_wire::{DeliveredRequest, DeliveredResponse, MessageMetadata, Participant};
use opensmev_xmldsig::dsig::{self, Placement, SignOptions, VerifyOptions};
use opensmev_xmldsig::xml::{Document, Limits};
use serde_json::{Value, json};

use super::{Latency, round3};
use crate::LoadError;
use crate::envelope;
use crate::stats::{histogram, micros};
use crate::sysinfo::{self, MachineInfo};
use crate::workload::{BENCH_SIGNED_KIND, Scenario, Workload, bench_registry};

/// The crypto and validation work of one call of a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallWork {
    /// The call (`SendRequest`, `GetRequest`, `Ack`, `SendResponse`, `GetResponse`,
    /// `Ack-response`).
    pub call: &'static str,
    /// The element the caller signs.
    pub signed_element: &'static str,
    /// GOST signs by the client (the call's `CallerInformationSystemSignature`).
    pub client_signs: u64,
    /// GOST verifies by the bus (authentication of the caller).
    pub bus_verifies: u64,
    /// Business-content XSD validations by the bus.
    pub business_xsd: u64,
    /// GOST signs by the bus (`SMEVSignature` of the answer).
    pub bus_signs: u64,
    /// Official-schema validations of the answer by the client.
    pub official_xsd: u64,
    /// GOST verifies of `SMEVSignature`s by the client.
    pub client_verifies: u64,
}

const fn work(
    call: &'static str,
    signed_element: &'static str,
    business_xsd: u64,
    answer_signed: u64,
) -> CallWork {
    CallWork {
        call,
        signed_element,
        client_signs: 1,
        bus_verifies: 1,
        business_xsd,
        bus_signs: answer_signed,
        official_xsd: 1,
        client_verifies: answer_signed,
    }
}

/// The six calls of a round trip and what each costs (see the module documentation).
pub const ROUND_TRIP: [CallWork; 6] = [
    work("SendRequest", "SenderProvidedRequestData", 1, 1),
    work("GetRequest", "MessageTypeSelector", 0, 1),
    work("Ack", "AckTargetMessage", 0, 0),
    work("SendResponse", "SenderProvidedResponseData", 1, 1),
    work("GetResponse", "MessageTypeSelector", 0, 1),
    work("Ack-response", "AckTargetMessage", 0, 0),
];

/// Counts of crypto and validation operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// GOST signs by the clients.
    pub client_signs: u64,
    /// GOST signs by the bus.
    pub bus_signs: u64,
    /// GOST verifies by the bus.
    pub bus_verifies: u64,
    /// GOST verifies by the clients.
    pub client_verifies: u64,
    /// Business XSD validations (bus).
    pub business_xsd: u64,
    /// Official-schema validations (client).
    pub official_xsd: u64,
}

impl OpCounts {
    /// The counts of one round trip: the sum of [`ROUND_TRIP`].
    pub fn per_round_trip() -> OpCounts {
        ROUND_TRIP.iter().fold(OpCounts::default(), |mut c, w| {
            c.client_signs += w.client_signs;
            c.bus_signs += w.bus_signs;
            c.bus_verifies += w.bus_verifies;
            c.client_verifies += w.client_verifies;
            c.business_xsd += w.business_xsd;
            c.official_xsd += w.official_xsd;
            c
        })
    }

    /// GOST signs, both sides.
    pub fn gost_signs(&self) -> u64 {
        self.client_signs + self.bus_signs
    }

    /// GOST verifies, both sides.
    pub fn gost_verifies(&self) -> u64 {
        self.bus_verifies + self.client_verifies
    }

    /// XSD validations, both kinds.
    pub fn xsd_validations(&self) -> u64 {
        self.business_xsd + self.official_xsd
    }

    fn to_json(self) -> Value {
        json!({
            "gost_signs": self.gost_signs(),
            "gost_verifies": self.gost_verifies(),
            "xsd_validations": self.xsd_validations(),
            "client_signs": self.client_signs,
            "bus_signs": self.bus_signs,
            "bus_verifies": self.bus_verifies,
            "client_verifies": self.client_verifies,
            "business_xsd": self.business_xsd,
            "official_xsd": self.official_xsd,
        })
    }
}

/// Where the time of an iteration goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ClientSign,
    BusVerify,
    BusinessXsd,
    BusSign,
    ClientCheck,
}

const STEPS: [Step; 5] = [
    Step::ClientSign,
    Step::BusVerify,
    Step::BusinessXsd,
    Step::BusSign,
    Step::ClientCheck,
];

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::ClientSign => "client: build + sign the call (6 signs)",
            Step::BusVerify => "bus: parse + verify the caller (6 verifies)",
            Step::BusinessXsd => "bus: business XSD (2 validations)",
            Step::BusSign => "bus: build + sign the answer (4 signs)",
            Step::ClientCheck => "client: check the answer (6 official XSD, 4 verifies)",
        }
    }
}

/// Time per step and operation counts of one thread.
#[derive(Debug, Default)]
struct Meter {
    nanos: [u128; 5],
    counts: OpCounts,
    /// Every call and answer of the iterations (tests).
    audit: Option<Vec<(&'static str, String, String)>>,
}

impl Meter {
    fn time<T>(&mut self, step: Step, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.nanos[step as usize] += start.elapsed().as_nanos();
        out
    }
}

/// What the bus keeps of a send: the signed element and the caller's signature, standalone.
#[derive(Debug)]
struct Stored {
    sender_data: String,
    signature: Option<String>,
}

const SMEV_ID: &str = "SIGNED_BY_SMEV";

/// Keys, clients, the registered kind and the workload, shared by the threads.
#[derive(Debug)]
pub(crate) struct Fixture {
    version: SchemaVersion,
    consumer: SmevClient,
    provider: SmevClient,
    bus_signer: Arc<dyn Signer>,
    crypto: OpenSslProvider,
    registry: Registry,
    kind: Arc<Kind>,
    scenario: Scenario,
    node_id: String,
    consumer_party: Participant,
    provider_party: Participant,
    _dir: tempfile::TempDir,
}

fn setup(what: &str, e: impl std::fmt::Display) -> LoadError {
    LoadError::Setup(format!("crypto baseline: {what}: {e}"))
}

impl Fixture {
    /// Demo keys in a temporary directory, the benchmark registry, the signed bench kind.
    pub(crate) fn new(version: SchemaVersion, payload_bytes: usize) -> Result<Fixture, LoadError> {
        let dir = tempfile::Builder::new()
            .prefix("opensmev-crypto-")
            .tempdir()
            .map_err(|e| setup("temporary directory", e))?;
        let demo = opensmev_server::demo::prepare(dir.path()).map_err(|e| setup("demo keys", e))?;
        let registry = Registry::from_toml(&bench_registry(&demo.dir)?, 1)
            .map_err(|e| setup("registry", e))?;
        let kind = registry
            .kind(BENCH_SIGNED_KIND)
            .cloned()
            .ok_or_else(|| setup("registry", "no signed bench kind"))?;
        if kind.schema.is_none() {
            return Err(setup("registry", "the bench kind has no XSD"));
        }
        // An address that is never called: the clients only build, sign and check here.
        let base = "http://127.0.0.1:9/smev";
        let consumer = SmevClient::for_demo(base, &demo.dir, "MFC01", version);
        let provider = SmevClient::for_demo(base, &demo.dir, "PFR01", version);
        let crypto = OpenSslProvider::new();
        let read =
            |p: &std::path::Path| std::fs::read(p).map_err(|e| setup(&p.display().to_string(), e));
        let cert = Certificate::from_pem(&read(&demo.smev_cert)?)
            .map_err(|e| setup("bus certificate", e))?;
        let bus_signer: Arc<dyn Signer> = Arc::from(
            crypto
                .load_signer(&read(&demo.smev_key)?, cert)
                .map_err(|e| setup("bus key", e))?,
        );
        let party = |m: &str| -> Result<Participant, LoadError> {
            let mnemonic = Mnemonic::parse(m).map_err(|e| setup("mnemonic", e))?;
            let name = registry
                .system(&mnemonic)
                .map(|s| s.name.clone())
                .ok_or_else(|| setup("registry", format!("{m} is not registered")))?;
            Ok(Participant { mnemonic, name })
        };
        let (consumer_party, provider_party) = (party("MFC01")?, party("PFR01")?);
        Ok(Fixture {
            version,
            consumer,
            provider,
            bus_signer,
            crypto,
            registry,
            kind,
            scenario: Scenario::new(Workload::Bench, false, payload_bytes, 0),
            node_id: "opensmev-load-0".to_owned(),
            consumer_party,
            provider_party,
            _dir: dir,
        })
    }

    /// The bus receiving a signed call: parse, verify the caller's signature over the element
    /// `signed` (as `Bus::authenticate`), and for sends validate the business content (as
    /// `Bus::validate_content`) and keep the signed element and signature (as `Bus::signed_data`).
    fn bus_receive(
        &self,
        m: &mut Meter,
        xml: &str,
        signed: &str,
        send: bool,
    ) -> Result<Option<Stored>, String> {
        let start = Instant::now();
        let doc = Document::parse(xml.as_bytes(), Limits::default())
            .map_err(|e| format!("bus: the call is not XML: {e}"))?;
        let operation = doc
            .root()
            .child(SOAP_NS, "Body")
            .and_then(|b| b.children().next())
            .ok_or("bus: no operation element")?;
        let target = operation
            .descendants()
            .find(|e| e.local_name() == signed)
            .ok_or_else(|| format!("bus: no {signed}"))?;
        let wrapper = operation
            .children()
            .find(|e| e.local_name() == "CallerInformationSystemSignature");
        let options = VerifyOptions {
            expected_target: Some(target.index()),
            ..VerifyOptions::now()
        };
        let report = dsig::verify_wrapped(wrapper.as_ref(), &self.crypto, &options);
        if let Some(failure) = report.failure {
            return Err(format!(
                "bus: the {signed} signature does not verify: {} {}",
                failure.category.as_str(),
                failure.message
            ));
        }
        let registered = report
            .certificate
            .as_ref()
            .and_then(|c| self.registry.system_by_certificate(c));
        if registered.is_none() {
            return Err("bus: the caller's certificate is not registered".into());
        }
        m.counts.bus_verifies += 1;
        m.nanos[Step::BusVerify as usize] += start.elapsed().as_nanos();
        if !send {
            return Ok(None);
        }
        let content = target
            .children()
            .find(|e| e.local_name() == "MessagePrimaryContent")
            .and_then(|p| p.children().next())
            .ok_or("bus: no business content")?;
        let schema = self.kind.schema.as_ref().ok_or("bus: no XSD")?;
        m.time(Step::BusinessXsd, || schema.validate(&content.standalone()))
            .map_err(|issues| format!("bus: business content invalid: {issues:?}"))?;
        m.counts.business_xsd += 1;
        let stored = m.time(Step::BusVerify, || Stored {
            sender_data: target.standalone(),
            signature: wrapper
                .and_then(|w| w.children().find(|c| c.is(dsig::DSIG_NS, "Signature")))
                .map(|s| s.standalone()),
        });
        Ok(Some(stored))
    }

    /// The bus signing its answer (as `soap.rs`).
    fn bus_sign(&self, m: &mut Meter, build: impl FnOnce() -> String) -> Result<String, String> {
        let signed = m.time(Step::BusSign, || {
            let xml = build();
            dsig::sign_document(
                xml.as_bytes(),
                SMEV_ID,
                self.bus_signer.as_ref(),
                &self.crypto,
                Placement::Smev,
                &SignOptions::default(),
            )
        });
        m.counts.bus_signs += 1;
        String::from_utf8(signed.map_err(|e| format!("bus: signing the answer: {e}"))?)
            .map_err(|e| e.to_string())
    }

    /// The client checking an answer (`SmevClient::try_check`).
    fn client_check(
        &self,
        m: &mut Meter,
        client: &SmevClient,
        call: &'static str,
        request: String,
        answer: String,
        signed: bool,
    ) -> Result<(), String> {
        let answer = Answer {
            status: 200,
            content_type: opensmev_wire::TEXT_XML_UTF8.to_owned(),
            text: answer,
        };
        m.time(Step::ClientCheck, || client.try_check(&answer))
            .map_err(|e| format!("client: {call} answer: {e}"))?;
        m.counts.official_xsd += 1;
        m.counts.client_verifies += u64::from(signed);
        if let Some(audit) = &mut m.audit {
            audit.push((call, request, answer.text));
        }
        Ok(())
    }

    fn client_sign(&self, m: &mut Meter, build: impl FnOnce() -> String) -> String {
        let xml = m.time(Step::ClientSign, build);
        m.counts.client_signs += 1;
        xml
    }

    fn metadata(
        &self,
        id: &str,
        kind: MessageKind,
        response: bool,
        status: Option<InteractionStatus>,
    ) -> MessageMetadata {
        let (from, to) = if response {
            (&self.provider_party, &self.consumer_party)
        } else {
            (&self.consumer_party, &self.provider_party)
        };
        let now = time::OffsetDateTime::now_utc();
        let mut metadata = MessageMetadata::new(id, kind, from.clone(), now);
        metadata.recipient = Some(to.clone());
        metadata.destination_name = to.mnemonic.to_string();
        match status {
            Some(status) => metadata.status = Some(status),
            None => {
                metadata.delivery_timestamp = Some(now);
                metadata.status = Some(InteractionStatus::MessageIsDelivered);
            }
        }
        metadata
    }

    /// One round trip's crypto and validation work (see the module documentation).
    fn round_trip(&self, seq: u64, m: &mut Meter) -> Result<(), String> {
        let v = self.version;
        let s = &self.scenario;
        let (consumer, provider) = (&self.consumer, &self.provider);

        // SendRequest (consumer).
        let id = new_message_id();
        let (business, _) = s.request(&id, seq);
        let call = self.client_sign(m, || {
            envelope::send_request_xml(consumer, &id, &self.node_id, &business, None)
        });
        let request = self
            .bus_receive(m, &call, "SenderProvidedRequestData", true)?
            .ok_or("no stored request")?;
        let answer = self.bus_sign(m, || {
            let md = self.metadata(
                &id,
                MessageKind::Request,
                false,
                Some(InteractionStatus::RequestIsQueued),
            );
            opensmev_wire::send_request_response(v, &md, SMEV_ID)
        })?;
        self.client_check(m, consumer, "SendRequest", call, answer, true)?;

        // GetRequest (provider).
        let call = self.client_sign(m, || {
            envelope::poll_xml(provider, "GetRequest", s.ns, s.request_root, None)
        });
        self.bus_receive(m, &call, "MessageTypeSelector", false)?;
        let message_id = MessageId::parse(&id).map_err(|e| e.to_string())?;
        let reply_to = ReplyToken(message_id).encode();
        let answer = self.bus_sign(m, || {
            let delivered = DeliveredRequest {
                request_id_attr: SMEV_ID.to_owned(),
                sender_data_xml: request.sender_data,
                metadata: self.metadata(&id, MessageKind::Request, false, None),
                fs_attachments: Vec::new(),
                reply_to: reply_to.clone(),
                sender_signature_xml: request.signature,
                attachments: Vec::new(),
            };
            opensmev_wire::get_request_response(v, Some(&delivered))
        })?;
        self.client_check(m, provider, "GetRequest", call, answer, true)?;

        // Ack of the request (provider).
        let call = self.client_sign(m, || envelope::ack_xml(provider, &id));
        self.bus_receive(m, &call, "AckTargetMessage", false)?;
        let answer = opensmev_wire::ack_response(v);
        self.client_check(m, provider, "Ack", call, answer, false)?;

        // SendResponse (provider).
        let response_id = new_message_id();
        let (business, _) = s.response(&id);
        let call = self.client_sign(m, || {
            envelope::send_response_xml(provider, &response_id, &reply_to, &business, None)
        });
        let response = self
            .bus_receive(m, &call, "SenderProvidedResponseData", true)?
            .ok_or("no stored response")?;
        let answer = self.bus_sign(m, || {
            let md = self.metadata(
                &response_id,
                MessageKind::Response,
                true,
                Some(InteractionStatus::ResponseIsAcceptedBySmev),
            );
            opensmev_wire::send_response_response(v, &md, SMEV_ID)
        })?;
        self.client_check(m, provider, "SendResponse", call, answer, true)?;

        // GetResponse (consumer, on its node).
        let call = self.client_sign(m, || {
            envelope::poll_xml(
                consumer,
                "GetResponse",
                s.ns,
                s.response_root,
                Some(&self.node_id),
            )
        });
        self.bus_receive(m, &call, "MessageTypeSelector", false)?;
        let answer = self.bus_sign(m, || {
            let delivered = DeliveredResponse {
                response_id_attr: SMEV_ID.to_owned(),
                original_message_id: Some(id.clone()),
                original_transaction_code: None,
                reference_message_id: Some(id.clone()),
                sender_data_xml: response.sender_data,
                metadata: self.metadata(&response_id, MessageKind::Response, true, None),
                fs_attachments: Vec::new(),
                sender_signature_xml: response.signature,
                attachments: Vec::new(),
            };
            opensmev_wire::get_response_response(v, Some(&delivered))
        })?;
        self.client_check(m, consumer, "GetResponse", call, answer, true)?;

        // Ack of the response (consumer).
        let call = self.client_sign(m, || envelope::ack_xml(consumer, &response_id));
        self.bus_receive(m, &call, "AckTargetMessage", false)?;
        let answer = opensmev_wire::ack_response(v);
        self.client_check(m, consumer, "Ack-response", call, answer, false)?;
        Ok(())
    }
}

/// A crypto baseline run.
#[derive(Debug, Clone)]
pub struct CryptoConfig {
    /// Threads (the bus run's cores).
    pub threads: usize,
    /// How long to run.
    pub duration: Duration,
    /// Padding of the business content (the bus run's `--payload-bytes`).
    pub payload_bytes: usize,
    /// Schema version of the calls.
    pub version: SchemaVersion,
    /// The command line, for the report.
    pub command_line: String,
}

impl CryptoConfig {
    /// Number-of-CPUs threads, 10 s, no padding, schema 1.2.
    pub fn new() -> CryptoConfig {
        CryptoConfig {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            duration: Duration::from_secs(10),
            payload_bytes: 0,
            version: SchemaVersion::V1_2,
            command_line: String::new(),
        }
    }
}

impl Default for CryptoConfig {
    fn default() -> Self {
        CryptoConfig::new()
    }
}

/// One step's share of the work.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// What the step does.
    pub name: &'static str,
    /// Mean time per round-trip equivalent (thread time), microseconds.
    pub per_round_trip_us: f64,
    /// Share of the measured thread time.
    pub share: f64,
}

/// The report of a crypto baseline run.
#[derive(Debug, Clone, PartialEq)]
pub struct CryptoReport {
    /// The command line.
    pub command: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The machine.
    pub machine: MachineInfo,
    /// Threads.
    pub threads: usize,
    /// Schema version.
    pub version: SchemaVersion,
    /// Payload padding, bytes.
    pub payload_bytes: usize,
    /// Seconds measured (from the common start to the last thread's end).
    pub elapsed_s: f64,
    /// Round-trip equivalents done.
    pub round_trips: u64,
    /// Round-trip equivalents per second: the bound.
    pub per_second: f64,
    /// Latency of one round-trip equivalent on one thread.
    pub latency: Latency,
    /// Operations done (must be `round_trips` × [`OpCounts::per_round_trip`]).
    pub counts: OpCounts,
    /// Where the thread time went.
    pub steps: Vec<StepReport>,
    /// Process CPU seconds over the run (all threads).
    pub cpu_seconds: Option<f64>,
}

impl CryptoReport {
    /// The JSON document.
    pub fn to_json(&self) -> Value {
        json!({
            "tool": "opensmev-load baseline crypto",
            "command": self.command,
            "started_at": self.started_at,
            "machine": machine_json(&self.machine),
            "settings": {
                "threads": self.threads,
                "schema": self.version.as_str(),
                "payload_bytes": self.payload_bytes,
                "workload": "bench (signed kind, MFC01 → PFR01, demo GOST R 34.10-2012 keys)",
            },
            "per_round_trip": OpCounts::per_round_trip().to_json(),
            "per_call": ROUND_TRIP.iter().map(|w| json!({
                "call": w.call, "signed_element": w.signed_element,
                "client_signs": w.client_signs, "bus_verifies": w.bus_verifies,
                "business_xsd": w.business_xsd, "bus_signs": w.bus_signs,
                "official_xsd": w.official_xsd, "client_verifies": w.client_verifies,
            })).collect::<Vec<_>>(),
            "elapsed_s": round3(self.elapsed_s),
            "round_trip_equivalents": self.round_trips,
            "round_trip_equivalents_per_second": round3(self.per_second),
            "operations_done": self.counts.to_json(),
            "latency_ms": self.latency.to_json(),
            "steps": self.steps.iter().map(|s| json!({
                "step": s.name, "per_round_trip_us": round3(s.per_round_trip_us), "share": round3(s.share),
            })).collect::<Vec<_>>(),
            "cpu_seconds": self.cpu_seconds.map(round3),
        })
    }

    /// The Markdown report.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# OpenSMEV crypto-and-validation bound\n");
        let _ = writeln!(out, "`{}`\n", self.command.replace('`', "'"));
        let _ = writeln!(
            out,
            "Started {}, {:.1} s on {} threads, schema {}, payload {} B. Machine: {} ({} CPUs).\n",
            self.started_at,
            self.elapsed_s,
            self.threads,
            self.version.as_str(),
            self.payload_bytes,
            self.machine.cpu_model,
            self.machine.nproc
        );
        out.push_str(&counts_markdown());
        let _ = writeln!(
            out,
            "\n**Bound: {:.1} round-trip equivalents/s** ({} in {:.1} s; one takes p50 {:.2} ms, p99 {:.2} ms on one thread{}).\n",
            self.per_second,
            self.round_trips,
            self.elapsed_s,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.cpu_seconds
                .map(|c| format!("; {:.2} cores busy", c / self.elapsed_s.max(1e-9)))
                .unwrap_or_default()
        );
        write_steps(&mut out, "step", &self.steps);
        out
    }
}

/// The per-round-trip table in Markdown.
pub fn counts_markdown() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| call | client signs | bus verifies | business XSD | bus signs | official XSD | client verifies |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
    for w in &ROUND_TRIP {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            w.call,
            w.client_signs,
            w.bus_verifies,
            w.business_xsd,
            w.bus_signs,
            w.official_xsd,
            w.client_verifies
        );
    }
    let c = OpCounts::per_round_trip();
    let _ = writeln!(
        out,
        "| **round trip** | {} | {} | {} | {} | {} | {} |",
        c.client_signs,
        c.bus_verifies,
        c.business_xsd,
        c.bus_signs,
        c.official_xsd,
        c.client_verifies
    );
    let _ = writeln!(
        out,
        "\nPer round trip: {} GOST signs, {} GOST verifies, {} XSD validations (empty polls not included).",
        c.gost_signs(),
        c.gost_verifies(),
        c.xsd_validations()
    );
    out
}

pub(crate) fn machine_json(m: &MachineInfo) -> Value {
    json!({
        "nproc": m.nproc,
        "cpus_online": m.cpus_online,
        "cpu_model": m.cpu_model,
        "kernel": m.kernel,
        "mem_total_kib": m.mem_total_kib,
    })
}

/// What one thread measured.
#[derive(Debug)]
struct ThreadResult {
    round_trips: u64,
    latency: Histogram<u64>,
    meter: Meter,
}

fn worker(
    fixture: &Fixture,
    index: usize,
    barrier: &Barrier,
    duration: Duration,
) -> Result<ThreadResult, String> {
    // Warm up (compiles the schemas for this thread) before the common start.
    let warm = fixture.round_trip(u64::MAX / 2, &mut Meter::default());
    barrier.wait();
    warm?;
    let mut meter = Meter::default();
    let mut latency = histogram();
    let mut seq = (index as u64) << 40;
    let deadline = Instant::now() + duration;
    let mut round_trips = 0;
    while Instant::now() < deadline {
        let start = Instant::now();
        fixture.round_trip(seq, &mut meter)?;
        latency.saturating_record(micros(start.elapsed()));
        round_trips += 1;
        seq += 1;
    }
    Ok(ThreadResult {
        round_trips,
        latency,
        meter,
    })
}

/// Runs the baseline.
pub fn run(config: &CryptoConfig) -> Result<CryptoReport, LoadError> {
    if config.threads == 0 {
        return Err(LoadError::Setup("--threads must be at least 1".into()));
    }
    if config.duration.is_zero() {
        return Err(LoadError::Setup("--duration must be positive".into()));
    }
    let started_at = super::now_rfc3339();
    let fixture = Fixture::new(config.version, config.payload_bytes)?;
    let barrier = Barrier::new(config.threads + 1);
    let (elapsed, cpu, results) = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for index in 0..config.threads {
            let (fixture, barrier) = (&fixture, &barrier);
            let handle = std::thread::Builder::new()
                .name(format!("smev-crypto-{index}"))
                .spawn_scoped(scope, move || {
                    worker(fixture, index, barrier, config.duration)
                });
            handles.push(handle);
        }
        let spawned = handles.iter().filter(|h| h.is_ok()).count();
        // Threads that could not be spawned do not wait at the barrier: stand in for them.
        for _ in spawned..config.threads {
            let barrier = &barrier;
            scope.spawn(move || barrier.wait());
        }
        barrier.wait();
        let before = sysinfo::sample(None);
        let start = Instant::now();
        let results: Vec<Result<ThreadResult, String>> = handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err("a baseline thread panicked".into())),
                Err(e) => Err(format!("spawning a thread: {e}")),
            })
            .collect();
        let elapsed = start.elapsed();
        let after = sysinfo::sample(None);
        let cpu = before.zip(after).map(|(b, a)| a.cpu_s - b.cpu_s);
        (elapsed, cpu, results)
    });
    let mut latency = histogram();
    let mut round_trips = 0;
    let mut nanos = [0u128; 5];
    let mut counts = OpCounts::default();
    for result in results {
        let r = result.map_err(|e| LoadError::Setup(format!("crypto baseline: {e}")))?;
        round_trips += r.round_trips;
        latency
            .add(&r.latency)
            .map_err(|e| LoadError::Setup(format!("histogram: {e}")))?;
        for (total, n) in nanos.iter_mut().zip(r.meter.nanos) {
            *total += n;
        }
        let c = r.meter.counts;
        counts.client_signs += c.client_signs;
        counts.bus_signs += c.bus_signs;
        counts.bus_verifies += c.bus_verifies;
        counts.client_verifies += c.client_verifies;
        counts.business_xsd += c.business_xsd;
        counts.official_xsd += c.official_xsd;
    }
    let total: u128 = nanos.iter().sum::<u128>().max(1);
    let steps = STEPS
        .iter()
        .map(|s| {
            let n = nanos[*s as usize];
            StepReport {
                name: s.name(),
                per_round_trip_us: n as f64 / 1000.0 / round_trips.max(1) as f64,
                share: n as f64 / total as f64,
            }
        })
        .collect();
    let elapsed_s = elapsed.as_secs_f64().max(1e-9);
    Ok(CryptoReport {
        command: config.command_line.clone(),
        started_at,
        machine: sysinfo::machine(),
        threads: config.threads,
        version: config.version,
        payload_bytes: config.payload_bytes,
        elapsed_s,
        round_trips,
        per_second: round_trips as f64 / elapsed_s,
        latency: Latency::of(&latency),
        counts,
        steps,
        cpu_seconds: cpu,
    })
}

/// The Markdown table of the bound's steps (µs per round trip and share), under `title`.
pub(crate) fn write_steps(out: &mut String, title: &str, steps: &[StepReport]) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "| {title} | µs per round trip | share |");
    let _ = writeln!(out, "|---|--:|--:|");
    for s in steps {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} % |",
            s.name,
            s.per_round_trip_us,
            s.share * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A signer that counts its signatures.
    #[derive(Debug)]
    struct Counting {
        inner: Arc<dyn Signer>,
        signs: Arc<AtomicU64>,
    }

    impl Signer for Counting {
        fn algorithm(&self) -> opensmev_crypto::SignatureAlgorithm {
            self.inner.algorithm()
        }
        fn certificate(&self) -> &Certificate {
            self.inner.certificate()
        }
        fn sign(&self, data: &[u8]) -> Result<Vec<u8>, opensmev_crypto::CryptoError> {
            self.signs.fetch_add(1, Ordering::SeqCst);
            self.inner.sign(data)
        }
        fn sign_cms_detached(&self, data: &[u8]) -> Result<Vec<u8>, opensmev_crypto::CryptoError> {
            self.inner.sign_cms_detached(data)
        }
    }

    fn counting(signer: &mut Arc<dyn Signer>, signs: &Arc<AtomicU64>) {
        *signer = Arc::new(Counting {
            inner: signer.clone(),
            signs: signs.clone(),
        });
    }

    fn counting_client(client: &mut SmevClient, signs: &Arc<AtomicU64>) {
        let signer = client.signer.as_mut().expect("a signed client");
        counting(signer, signs);
    }

    /// (signatures inside `CallerInformationSystemSignature`, inside `SMEVSignature`, whether
    /// the body carries business content) of a document.
    fn signatures(xml: &str) -> (u64, u64, bool) {
        let doc = Document::parse(xml.as_bytes(), Limits::default()).unwrap();
        let under = |wrapper: &str| {
            doc.elements()
                .filter(|e| {
                    e.is(dsig::DSIG_NS, "Signature")
                        && e.parent().is_some_and(|p| p.local_name() == wrapper)
                })
                .count() as u64
        };
        let business = doc
            .elements()
            .any(|e| e.local_name() == "MessagePrimaryContent");
        (
            under("CallerInformationSystemSignature"),
            under("SMEVSignature"),
            business,
        )
    }

    /// The local names of the elements of a document, in order (its shape).
    fn shape(xml: &str) -> Vec<String> {
        let doc = Document::parse(xml.as_bytes(), Limits::default()).unwrap();
        doc.elements().map(|e| e.local_name().to_owned()).collect()
    }

    /// The table adds up to the counts the module documents.
    #[test]
    fn per_round_trip_counts() {
        let c = OpCounts::per_round_trip();
        assert_eq!(
            c,
            OpCounts {
                client_signs: 6,
                bus_signs: 4,
                bus_verifies: 6,
                client_verifies: 4,
                business_xsd: 2,
                official_xsd: 6,
            }
        );
        assert_eq!(
            (c.gost_signs(), c.gost_verifies(), c.xsd_validations()),
            (10, 10, 8)
        );
        // Each call is signed by its caller and authenticated by the bus; the bus signs exactly
        // the answers the load tool requires a bus signature on (`envelope::Signed`), and the
        // client verifies exactly those.
        for w in &ROUND_TRIP {
            assert_eq!((w.client_signs, w.bus_verifies, w.official_xsd), (1, 1, 1));
            assert_eq!(w.bus_signs, w.client_verifies, "{}", w.call);
            let send = w.call.starts_with("Send");
            assert_eq!(w.business_xsd, u64::from(send), "{}", w.call);
            assert_eq!(
                w.bus_signs,
                u64::from(!w.call.starts_with("Ack")),
                "{}",
                w.call
            );
        }
        let md = counts_markdown();
        assert!(
            md.contains("| **round trip** | 6 | 6 | 2 | 4 | 6 | 4 |"),
            "{md}"
        );
        assert!(
            md.contains("10 GOST signs, 10 GOST verifies, 8 XSD validations"),
            "{md}"
        );
    }

    /// One in-process round trip does exactly the table's work: counted by the chain, by a
    /// counting signer on every key, and by the signatures found in the documents.
    #[test]
    fn one_round_trip_does_the_counted_work() {
        let mut fixture = Fixture::new(SchemaVersion::V1_2, 500).unwrap();
        let signs = Arc::new(AtomicU64::new(0));
        counting_client(&mut fixture.consumer, &signs);
        counting_client(&mut fixture.provider, &signs);
        counting(&mut fixture.bus_signer, &signs);
        let mut meter = Meter {
            audit: Some(Vec::new()),
            ..Meter::default()
        };
        fixture.round_trip(7, &mut meter).unwrap();
        assert_eq!(meter.counts, OpCounts::per_round_trip());
        assert_eq!(signs.load(Ordering::SeqCst), 10);
        let audit = meter.audit.unwrap();
        let calls: Vec<&str> = audit.iter().map(|(c, _, _)| *c).collect();
        let expected: Vec<&str> = ROUND_TRIP.iter().map(|w| w.call).collect();
        assert_eq!(calls, expected);
        for ((call, request, answer), w) in audit.iter().zip(&ROUND_TRIP) {
            let (caller, _, business) = signatures(request);
            assert_eq!(caller, w.client_signs, "{call}");
            assert_eq!(u64::from(business), w.business_xsd, "{call}");
            let (_, smev, _) = signatures(answer);
            assert_eq!(smev, w.bus_signs, "{call}");
        }
        assert!(meter.nanos.iter().all(|n| *n > 0), "{:?}", meter.nanos);
    }

    /// The counts and the documents match the real bus: one round trip through the in-process
    /// server, with counting signers on the clients, signs 6 calls, gets 4 bus-signed answers,
    /// 2 calls carry business content, and every call and answer has the same shape (element
    /// names in order) as the chain's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_counts_match_a_real_round_trip() {
        let server = crate::spawn::SpawnedServer::start(None, 1, std::time::Duration::ZERO)
            .await
            .unwrap();
        let v = SchemaVersion::V1_2;
        let signs = Arc::new(AtomicU64::new(0));
        let mut consumer = SmevClient::for_demo(&server.base, &server.demo_dir, "MFC01", v);
        let mut provider = SmevClient::for_demo(&server.base, &server.demo_dir, "PFR01", v);
        counting_client(&mut consumer, &signs);
        counting_client(&mut provider, &signs);
        let s = Scenario::new(Workload::Bench, false, 500, 0);
        let node = "opensmev-load-0";
        let mut exchanges: Vec<(String, String)> = Vec::new();
        let mut post = async |client: &SmevClient, action: &str, xml: String| {
            let answer = client.try_post(action, xml.clone()).await.unwrap();
            client.try_check(&answer).unwrap();
            exchanges.push((xml, answer.text.clone()));
            answer
        };
        let id = new_message_id();
        let xml = envelope::send_request_xml(&consumer, &id, node, &s.request(&id, 7).0, None);
        post(&consumer, "SendRequest", xml).await;
        let xml = envelope::poll_xml(&provider, "GetRequest", s.ns, s.request_root, None);
        let got = post(&provider, "GetRequest", xml).await;
        let reply_to = got.find("ReplyTo").expect("the request is delivered");
        post(&provider, "Ack", envelope::ack_xml(&provider, &id)).await;
        let rid = new_message_id();
        let xml = envelope::send_response_xml(&provider, &rid, &reply_to, &s.response(&id).0, None);
        post(&provider, "SendResponse", xml).await;
        let xml = envelope::poll_xml(&consumer, "GetResponse", s.ns, s.response_root, Some(node));
        let got = post(&consumer, "GetResponse", xml).await;
        assert!(got.has("ResponseMessage"), "{}", got.text);
        post(&consumer, "Ack", envelope::ack_xml(&consumer, &rid)).await;
        server.stop().await.unwrap();

        assert_eq!(
            signs.load(Ordering::SeqCst),
            OpCounts::per_round_trip().client_signs
        );
        let mut chain = Fixture::new(v, 500).unwrap();
        let mut meter = Meter {
            audit: Some(Vec::new()),
            ..Meter::default()
        };
        chain.node_id = node.to_owned();
        chain.round_trip(7, &mut meter).unwrap();
        let audit = meter.audit.unwrap();
        for (((request, answer), w), (_, chain_request, chain_answer)) in
            exchanges.iter().zip(&ROUND_TRIP).zip(&audit)
        {
            let (caller, _, business) = signatures(request);
            assert_eq!(
                caller, w.bus_verifies,
                "{}: the bus verifies one caller signature",
                w.call
            );
            assert_eq!(u64::from(business), w.business_xsd, "{}", w.call);
            let (_, smev, _) = signatures(answer);
            assert_eq!(
                smev, w.bus_signs,
                "{}: SMEV signatures in the real answer",
                w.call
            );
            assert_eq!(shape(request), shape(chain_request), "{}: call", w.call);
            assert_eq!(shape(answer), shape(chain_answer), "{}: answer", w.call);
        }
    }

    #[test]
    fn a_short_run_has_a_positive_rate() {
        let config = CryptoConfig {
            threads: 2,
            duration: Duration::from_millis(1500),
            payload_bytes: 1000,
            command_line: "test".into(),
            ..CryptoConfig::new()
        };
        let report = run(&config).unwrap();
        assert!(
            report.round_trips > 0 && report.per_second > 0.0,
            "{report:?}"
        );
        let per = OpCounts::per_round_trip();
        assert_eq!(
            report.counts.gost_signs(),
            report.round_trips * per.gost_signs()
        );
        assert_eq!(
            report.counts.official_xsd,
            report.round_trips * per.official_xsd
        );
        let md = report.to_markdown();
        assert!(md.contains("round-trip equivalents/s"), "{md}");
        let json = report.to_json();
        assert_eq!(json["per_round_trip"]["gost_signs"], 10);
        assert!(json["round_trip_equivalents_per_second"].as_f64().unwrap() > 0.0);
    }
}
