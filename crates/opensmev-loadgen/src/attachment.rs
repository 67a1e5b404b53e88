//! `opensmev-load attachment`: one signed round trip carrying one very large attachment (1 GiB
//! by default) as an MTOM part, against a running server, while the server's resident memory is
//! sampled from `/proc/<pid>` — the "server RSS growth" scale run.
//!
//! Nothing of the attachment is held in memory on this side either: the request body is
//! generated while it is sent (a deterministic byte pattern, [`pattern`]), and the delivered
//! MTOM answer is read part by part, each chunk of the attachment compared with the pattern at
//! its offset. The delivered root part is checked like every other answer of the load tool (XSD
//! of the version, the bus's signature), with its `xop:Include` taken out (the XSD types
//! `Content` as base64 text; the signature does not cover `AttachmentContentList`).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opensmev_client::{Answer, RequestParts, SmevClient};
use opensmev_types::SchemaVersion;
use opensmev_wire::{MultipartReader, PartSink, WireError};
use serde_json::{Value, json};

use crate::LoadError;
use crate::envelope::{self, Failure, Signed};
use crate::sysinfo;
use crate::workload::{Scenario, Workload};

/// The attachment's `contentId` / `AttachmentContent/Id`.
const ATTACHMENT_ID: &str = "big1";
/// The request's MIME part carrying it.
const PART_ID: &str = "big1@opensmev-load";
/// Bytes generated per chunk of the request body.
const CHUNK: usize = 256 * 1024;
/// How often the server's memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// What to run.
#[derive(Debug, Clone)]
pub struct AttachmentConfig {
    /// The server's endpoint prefix, e.g. `http://127.0.0.1:7611/smev`.
    pub base: String,
    /// `<data_dir>/demo` of that server (IS keys, bus certificate; benchmark registry loaded).
    pub demo_dir: PathBuf,
    /// The server's PID (its memory is sampled from `/proc`).
    pub server_pid: u32,
    /// The attachment's size in bytes.
    pub bytes: u64,
    /// Schema version.
    pub version: SchemaVersion,
}

/// Memory of the server over one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RssPhase {
    /// Highest VmRSS seen, KiB.
    pub peak_kib: u64,
    /// Seconds the phase took.
    pub millis: u64,
}

/// The result.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentReport {
    /// The attachment's size.
    pub bytes: u64,
    /// VmRSS of the server before the run (after a warm-up round trip), KiB.
    pub rss_before_kib: u64,
    /// `SendRequest` with the attachment (upload, spool, durable store).
    pub send: RssPhase,
    /// `GetRequest` delivering it (MTOM) and its `Ack`.
    pub deliver: RssPhase,
    /// `SendResponse`, `GetResponse` and `Ack` of the (small) answer.
    pub respond: RssPhase,
    /// Every byte delivered equals the byte sent.
    pub content_ok: bool,
}

impl AttachmentReport {
    /// Largest growth of the server's resident memory over its level before the run, KiB.
    pub fn growth_kib(&self) -> u64 {
        [self.send, self.deliver, self.respond]
            .iter()
            .map(|p| p.peak_kib.saturating_sub(self.rss_before_kib))
            .max()
            .unwrap_or(0)
    }

    /// Throughput of a phase moving the attachment, MiB/s.
    fn mib_per_s(&self, phase: RssPhase) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / (phase.millis.max(1) as f64 / 1000.0)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let phase = |p: RssPhase| json!({ "peak_rss_kib": p.peak_kib, "millis": p.millis });
        json!({
            "attachment_bytes": self.bytes,
            "rss_before_kib": self.rss_before_kib,
            "rss_growth_kib": self.growth_kib(),
            "send": phase(self.send),
            "deliver": phase(self.deliver),
            "respond": phase(self.respond),
            "send_mib_per_s": self.mib_per_s(self.send),
            "deliver_mib_per_s": self.mib_per_s(self.deliver),
            "content_ok": self.content_ok,
        })
    }

    /// The report as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let mut out = format!(
            "Attachment: {} bytes ({:.1} MiB), one signed round trip, MTOM both ways.\n\n\
             | phase | time | throughput | server peak RSS | growth over before |\n\
             |---|---|---|---|---|\n\
             | before (after a warm-up round trip) | | | {:.1} MiB | |\n",
            self.bytes,
            self.bytes as f64 / (1024.0 * 1024.0),
            mib(self.rss_before_kib)
        );
        for (name, phase, moves) in [
            ("SendRequest (upload, spool, store)", self.send, true),
            ("GetRequest (MTOM delivery) + Ack", self.deliver, true),
            ("SendResponse, GetResponse, Ack", self.respond, false),
        ] {
            out.push_str(&format!(
                "| {name} | {:.2} s | {} | {:.1} MiB | {:+.1} MiB |\n",
                phase.millis as f64 / 1000.0,
                if moves {
                    format!("{:.0} MiB/s", self.mib_per_s(phase))
                } else {
                    String::new()
                },
                mib(phase.peak_kib),
                mib(phase.peak_kib) - mib(self.rss_before_kib)
            ));
        }
        out.push_str(&format!(
            "\nServer RSS growth: **{:.1} MiB**; delivered bytes equal to those sent: {}.\n",
            mib(self.growth_kib()),
            if self.content_ok { "yes" } else { "**no**" }
        ));
        out
    }
}

/// Byte `offset` of the attachment: a fixed pseudo-random pattern (SplitMix64 of the 8-byte
/// word index), so that nothing compresses and a misplaced chunk is seen.
pub fn pattern(offset: u64, out: &mut [u8]) {
    let mut i = 0;
    while i < out.len() {
        let position = offset + i as u64;
        let word = splitmix(position / 8).to_le_bytes();
        let start = (position % 8) as usize;
        let take = (8 - start).min(out.len() - i);
        out[i..i + take].copy_from_slice(&word[start..start + take]);
        i += take;
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The request body: the root part, then the generated attachment, then the close delimiter.
struct Upload {
    head: Option<Bytes>,
    offset: u64,
    len: u64,
    tail: Option<Bytes>,
}

impl http_body::Body for Upload {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(head))));
        }
        if self.offset < self.len {
            let n = (self.len - self.offset).min(CHUNK as u64) as usize;
            let mut chunk = vec![0u8; n];
            pattern(self.offset, &mut chunk);
            self.offset += n as u64;
            return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(chunk)))));
        }
        Poll::Ready(self.tail.take().map(|t| Ok(http_body::Frame::data(t))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let rest = self.head.as_ref().map_or(0, |h| h.len() as u64)
            + (self.len - self.offset)
            + self.tail.as_ref().map_or(0, |t| t.len() as u64);
        http_body::SizeHint::with_exact(rest)
    }
}

/// Samples the server's VmRSS until stopped; keeps the highest value.
struct Sampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            loop {
                if let Some(rss) = sysinfo::sample(Some(pid)).and_then(|s| s.rss_kib) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                if s.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        });
        Sampler { peak, stop, task }
    }

    async fn finish(self, started: Instant) -> RssPhase {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        RssPhase {
            peak_kib: self.peak.load(Ordering::Relaxed),
            millis: started.elapsed().as_millis() as u64,
        }
    }
}

fn failed(step: &str, failure: Failure) -> LoadError {
    LoadError::Setup(format!("{step}: {} — {}", failure.kind, failure.text))
}

/// Runs the round trip and reports the server's memory.
pub async fn run(config: &AttachmentConfig) -> Result<AttachmentReport, LoadError> {
    let scenario = Scenario::new(Workload::Bench, false, 0, 0);
    let consumer = SmevClient::for_demo(
        &config.base,
        &config.demo_dir,
        scenario.consumer,
        config.version,
    );
    let provider = SmevClient::for_demo(
        &config.base,
        &config.demo_dir,
        scenario.provider,
        config.version,
    );
    let rss = || sysinfo::sample(Some(config.server_pid)).and_then(|s| s.rss_kib);
    rss().ok_or_else(|| {
        LoadError::Setup(format!(
            "cannot read /proc/{}/status of the server",
            config.server_pid
        ))
    })?;

    // A warm-up round trip with a small attachment, so that the level before excludes what any
    // first call allocates.
    round_trip(&consumer, &provider, &scenario, 64 * 1024).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before_kib = rss().unwrap_or(0);
    let (send, deliver, respond, content_ok) =
        round_trip_measured(&consumer, &provider, &scenario, config).await?;
    Ok(AttachmentReport {
        bytes: config.bytes,
        rss_before_kib,
        send,
        deliver,
        respond,
        content_ok,
    })
}

async fn round_trip(
    consumer: &SmevClient,
    provider: &SmevClient,
    scenario: &Scenario,
    bytes: u64,
) -> Result<bool, LoadError> {
    let id = send(consumer, scenario, bytes).await?;
    let (ok, reply_to) = deliver(provider, scenario, &id, bytes).await?;
    respond(consumer, provider, scenario, &id, &reply_to).await?;
    Ok(ok)
}

async fn round_trip_measured(
    consumer: &SmevClient,
    provider: &SmevClient,
    scenario: &Scenario,
    config: &AttachmentConfig,
) -> Result<(RssPhase, RssPhase, RssPhase, bool), LoadError> {
    let pid = config.server_pid;
    let started = Instant::now();
    let sampler = Sampler::start(pid);
    let id = send(consumer, scenario, config.bytes).await;
    let send_phase = sampler.finish(started).await;
    let id = id?;
    let started = Instant::now();
    let sampler = Sampler::start(pid);
    let delivered = deliver(provider, scenario, &id, config.bytes).await;
    let deliver_phase = sampler.finish(started).await;
    let (ok, reply_to) = delivered?;
    let started = Instant::now();
    let sampler = Sampler::start(pid);
    let responded = respond(consumer, provider, scenario, &id, &reply_to).await;
    let respond_phase = sampler.finish(started).await;
    responded?;
    Ok((send_phase, deliver_phase, respond_phase, ok))
}

/// Posts a signed MTOM `SendRequest` whose attachment is generated while it is sent.
async fn send(client: &SmevClient, scenario: &Scenario, bytes: u64) -> Result<String, LoadError> {
    let id = opensmev_client::new_message_id();
    let (business, _) = scenario.request(&id, 1);
    let header = format!(
        "<AttachmentHeaderList><AttachmentHeader><contentId>{ATTACHMENT_ID}</contentId><MimeType>application/octet-stream</MimeType></AttachmentHeader></AttachmentHeaderList>"
    );
    let content = format!(
        "<AttachmentContentList><AttachmentContent><Id>{ATTACHMENT_ID}</Id><Content><xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"cid:{PART_ID}\"/></Content></AttachmentContent></AttachmentContentList>"
    );
    let node = "<ns2:NodeID>big</ns2:NodeID>";
    let xml = client.send_request_xml_with(
        &id,
        &business,
        RequestParts {
            before_content: node,
            after_content: &header,
            test_message: true,
            after_data: &content,
        },
    );
    let boundary = format!("opensmev-load-{}", id);
    let head = format!(
        "--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n\
         Content-Transfer-Encoding: binary\r\nContent-ID: <root@opensmev-load>\r\n\r\n{xml}\r\n\
         --{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\
         Content-ID: <{PART_ID}>\r\n\r\n"
    );
    let body = Upload {
        head: Some(Bytes::from(head)),
        offset: 0,
        len: bytes,
        tail: Some(Bytes::from(format!("\r\n--{boundary}--\r\n"))),
    };
    let content_type = format!(
        "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<root@opensmev-load>\"; start-info=\"text/xml\""
    );
    let response = client
        .http
        .post(&client.url)
        .header("Content-Type", content_type)
        .header("SOAPAction", "\"urn:SendRequest\"")
        .body(reqwest::Body::wrap(body))
        .send()
        .await
        .map_err(|e| LoadError::Setup(format!("SendRequest: {e}")))?;
    let answer = read_mtom_answer(response, None).await?.answer;
    envelope::check(client, &answer, "SendRequestResponse", Signed::Always)
        .map_err(|f| failed("SendRequest", f))?;
    Ok(id)
}

/// A delivered MTOM answer: the root part (as an [`Answer`], `xop:Include`s taken out) and
/// whether the attachment matched the pattern.
struct Received {
    answer: Answer,
    attachment_ok: Option<bool>,
}

/// Polls the provider's queue with MTOM until the request `id` comes, checks it and its
/// attachment, and acknowledges it. Returns (attachment intact, `ReplyTo`).
async fn deliver(
    client: &SmevClient,
    scenario: &Scenario,
    id: &str,
    bytes: u64,
) -> Result<(bool, String), LoadError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let xml = envelope::poll_xml(
            client,
            "GetRequest",
            scenario.ns,
            scenario.request_root,
            None,
        );
        let boundary = "opensmev-load-poll";
        let body = format!(
            "--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n\
             Content-ID: <root@opensmev-load>\r\n\r\n{xml}\r\n--{boundary}--\r\n"
        );
        let response = client
            .http
            .post(&client.url)
            .header(
                "Content-Type",
                format!("multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<root@opensmev-load>\""),
            )
            .header("SOAPAction", "\"urn:GetRequest\"")
            .body(body)
            .send()
            .await
            .map_err(|e| LoadError::Setup(format!("GetRequest: {e}")))?;
        let received = read_mtom_answer(response, Some(bytes)).await?;
        envelope::check(
            client,
            &received.answer,
            "GetRequestResponse",
            Signed::IfMessage("RequestMessage"),
        )
        .map_err(|f| failed("GetRequest", f))?;
        let Some(delivered) = envelope::delivered(&received.answer, "RequestMessage")
            .map_err(|f| failed("GetRequest", f))?
        else {
            if Instant::now() > deadline {
                return Err(LoadError::Setup(format!(
                    "request {id} was not delivered within 60 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if delivered.message_id != id {
            return Err(LoadError::Setup(format!(
                "GetRequest delivered {} instead of {id} (is the queue of the benchmark provider empty?)",
                delivered.message_id
            )));
        }
        let ok = received.attachment_ok.unwrap_or(false);
        let ack = client
            .try_post("Ack", envelope::ack_xml(client, id))
            .await
            .map_err(|e| LoadError::Setup(format!("Ack: {e}")))?;
        envelope::check(client, &ack, "AckResponse", Signed::Never)
            .map_err(|f| failed("Ack", f))?;
        return Ok((ok, delivered.reply_to.unwrap_or_default()));
    }
}

/// The small response and its delivery to the consumer.
async fn respond(
    consumer: &SmevClient,
    provider: &SmevClient,
    scenario: &Scenario,
    request_id: &str,
    reply_to: &str,
) -> Result<(), LoadError> {
    let response_id = opensmev_client::new_message_id();
    let (business, _) = scenario.response(request_id);
    let xml = envelope::send_response_xml(provider, &response_id, reply_to, &business, None);
    let answer = provider
        .try_post("SendResponse", xml)
        .await
        .map_err(|e| LoadError::Setup(format!("SendResponse: {e}")))?;
    envelope::check(provider, &answer, "SendResponseResponse", Signed::Always)
        .map_err(|f| failed("SendResponse", f))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let xml = envelope::poll_xml(
            consumer,
            "GetResponse",
            scenario.ns,
            scenario.response_root,
            Some("big"),
        );
        let answer = consumer
            .try_post("GetResponse", xml)
            .await
            .map_err(|e| LoadError::Setup(format!("GetResponse: {e}")))?;
        envelope::check(
            consumer,
            &answer,
            "GetResponseResponse",
            Signed::IfMessage("ResponseMessage"),
        )
        .map_err(|f| failed("GetResponse", f))?;
        match envelope::delivered(&answer, "ResponseMessage")
            .map_err(|f| failed("GetResponse", f))?
        {
            Some(d) if d.original_message_id.as_deref() == Some(request_id) => {
                let ack = consumer
                    .try_post("Ack", envelope::ack_xml(consumer, &d.message_id))
                    .await
                    .map_err(|e| LoadError::Setup(format!("Ack: {e}")))?;
                envelope::check(consumer, &ack, "AckResponse", Signed::Never)
                    .map_err(|f| failed("Ack", f))?;
                return Ok(());
            }
            Some(d) => {
                return Err(LoadError::Setup(format!(
                    "GetResponse delivered {} (to {:?}), not the response to {request_id}",
                    d.message_id, d.original_message_id
                )));
            }
            None if Instant::now() > deadline => {
                return Err(LoadError::Setup(format!(
                    "the response to {request_id} was not delivered within 60 s"
                )));
            }
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Collects the root part and compares the attachment part with the pattern.
struct AnswerSink {
    in_root: bool,
    root: Vec<u8>,
    /// Offset into the current attachment part, if in one.
    offset: Option<u64>,
    expected_len: Option<u64>,
    matches: Option<bool>,
    scratch: Vec<u8>,
}

impl PartSink for AnswerSink {
    fn start(&mut self, index: usize, headers: &[(String, String)]) -> Result<(), WireError> {
        self.in_root = index == 0;
        self.offset = (index > 0).then_some(0);
        if index > 1 {
            return Err(WireError::Multipart(
                "more than one attachment part was delivered".into(),
            ));
        }
        let _ = headers;
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        if self.in_root {
            if self.root.len() + bytes.len() > 16 * 1024 * 1024 {
                return Err(WireError::Multipart("the root part is over 16 MiB".into()));
            }
            self.root.extend_from_slice(bytes);
        } else if let Some(offset) = &mut self.offset {
            self.scratch.resize(bytes.len(), 0);
            pattern(*offset, &mut self.scratch);
            if self.scratch != bytes {
                self.matches = Some(false);
            }
            *offset += bytes.len() as u64;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), WireError> {
        if let Some(offset) = self.offset.take() {
            let right_size = self.expected_len.is_none_or(|len| len == offset);
            self.matches = Some(self.matches.unwrap_or(true) && right_size);
        }
        self.in_root = false;
        Ok(())
    }
}

/// Reads an answer: MTOM part by part (the root into memory, an attachment compared on the
/// fly), plain SOAP whole.
async fn read_mtom_answer(
    mut response: reqwest::Response,
    expected_len: Option<u64>,
) -> Result<Received, LoadError> {
    let (status, content_type) = opensmev_client::status_and_type(&response);
    let http = |e: reqwest::Error| LoadError::Setup(format!("reading an answer: {e}"));
    let kind = opensmev_wire::multipart_type(&content_type)
        .map_err(|e| LoadError::Setup(format!("answer of type {content_type:?}: {e}")))?;
    let Some(kind) = kind else {
        let text = response.text().await.map_err(http)?;
        return Ok(Received {
            answer: Answer {
                status,
                content_type,
                text,
            },
            attachment_ok: None,
        });
    };
    let mut reader = MultipartReader::new(&kind.boundary)
        .map_err(|e| LoadError::Setup(format!("answer: {e}")))?;
    let mut sink = AnswerSink {
        in_root: false,
        root: Vec::new(),
        offset: None,
        expected_len,
        matches: None,
        scratch: Vec::new(),
    };
    let bad = |e: WireError| LoadError::Setup(format!("the MTOM answer: {e}"));
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        reader.feed(&chunk, &mut sink).map_err(bad)?;
    }
    reader.finish(&mut sink).map_err(bad)?;
    let root = String::from_utf8(sink.root)
        .map_err(|_| LoadError::Setup("the answer's root part is not UTF-8".into()))?;
    Ok(Received {
        answer: Answer {
            status,
            content_type: opensmev_wire::TEXT_XML_UTF8.to_owned(),
            text: without_includes(&root),
        },
        attachment_ok: sink.matches,
    })
}

/// The root XML with every `xop:Include` element removed (its `Content` left empty, which the
/// XSD accepts as base64Binary).
fn without_includes(root: &str) -> String {
    let mut out = String::with_capacity(root.len());
    let mut rest = root;
    while let Some(start) = rest.find("<xop:Include") {
        out.push_str(&rest[..start]);
        match rest[start..].find("/>") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_the_same_whatever_the_chunking() {
        let mut whole = vec![0u8; 10_000];
        pattern(5, &mut whole);
        let mut pieces = vec![0u8; 10_000];
        let mut at = 0;
        for size in [1, 7, 8, 9, 100, 3_000] {
            pattern(5 + at as u64, &mut pieces[at..at + size]);
            at += size;
        }
        pattern(5 + at as u64, &mut pieces[at..]);
        assert_eq!(whole, pieces);
        assert_ne!(whole[..8], whole[8..16]);
    }

    fn check(part: &[u8], expected_len: u64) -> Option<bool> {
        let mut body = b"--b\r\nContent-Type: application/xop+xml\r\n\r\n<r/>\r\n--b\r\nContent-ID: <p>\r\n\r\n".to_vec();
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n--b--\r\n");
        let mut sink = AnswerSink {
            in_root: false,
            root: Vec::new(),
            offset: None,
            expected_len: Some(expected_len),
            matches: None,
            scratch: Vec::new(),
        };
        let mut reader = MultipartReader::new("b").unwrap();
        for chunk in body.chunks(1000) {
            reader.feed(chunk, &mut sink).unwrap();
        }
        reader.finish(&mut sink).unwrap();
        assert_eq!(sink.root, b"<r/>");
        sink.matches
    }

    #[test]
    fn a_delivered_attachment_must_be_the_pattern_and_complete() {
        let mut good = vec![0u8; 10_000];
        pattern(0, &mut good);
        assert_eq!(check(&good, 10_000), Some(true));
        let mut flipped = good.clone();
        flipped[7_777] ^= 1;
        assert_eq!(check(&flipped, 10_000), Some(false));
        assert_eq!(check(&good[..9_999], 10_000), Some(false));
        assert_eq!(check(&good, 10_001), Some(false));
    }

    #[test]
    fn includes_are_taken_out() {
        assert_eq!(
            without_includes(
                "<a><b:Content><xop:Include xmlns:xop=\"x\" href=\"cid:1\"/></b:Content></a>"
            ),
            "<a><b:Content></b:Content></a>"
        );
    }
}
