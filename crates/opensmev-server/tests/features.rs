//! Features beyond the basic round trip, end to end on the real server: inline attachments
//! (base64 and MTOM/XOP as Apache CXF writes it) and their faults, queue quotas
//! (`DestinationOverflow`), registry changes picked up while running, `GetIncomingQueueStatistics`,
//! `NodeID`-bound responses, `RequestRejected` / `RequestStatus` answers, `TestMessage` and `EOL`,
//! and the SOAP 1.1 transport details (`SOAPAction`, content types, endpoint versions).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use opensmev_core::registry::RegistryFile;
use opensmev_store::Store as _;
use opensmev_store_sqlite::SqliteStore;
use opensmev_testkit as common;
use opensmev_types::{MessageId, SchemaVersion};
use opensmev_xmldsig::xml::{Document, Limits};

use common::{Answer, RawAnswer, RequestParts, SmevClient, TestBus, new_message_id};

const VS_PFR: &str = "VS00001v001-PFR001";
const NS_PFR: &str = "urn://opensmev/demo/pfr-account/1.0.0";
const VS_EGRUL: &str = "VS00002v001-FNS001";
const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ------------------------------------------------------------------------------------------------
// Helpers

fn assert_fault(answer: &Answer, expected: &str) {
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(answer.fault().as_deref(), Some(expected), "{}", answer.text);
}

fn assert_accepted(answer: &Answer, id: &str) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.find("MessageId").as_deref(),
        Some(id),
        "{}",
        answer.text
    );
}

/// Every byte value, three times over, then a tail that looks like a MIME delimiter.
fn binary_bytes() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..3).flat_map(|_| 0..=255u8).collect();
    bytes.extend_from_slice(b"\r\n--uuid:not-the-boundary\r\n\0\xff");
    bytes
}

fn text_bytes() -> Vec<u8> {
    "Заявление: Иванов Иван Иванович, СНИЛС 112-233-445 95\n"
        .as_bytes()
        .to_vec()
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// base64 in 76-character lines, as MIME encoders write it (`xs:base64Binary` allows the
/// white space).
fn b64_lines(bytes: &[u8]) -> String {
    let text = B64.encode(bytes);
    text.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode_b64(text: &str) -> Vec<u8> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(compact)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {text}"))
}

/// `AttachmentHeaderList` (basic namespace as the default namespace).
fn header_list(headers: &[(&str, &str)]) -> String {
    let mut xml = String::from("<AttachmentHeaderList>");
    for (id, mime) in headers {
        xml.push_str(&format!(
            "<AttachmentHeader><contentId>{id}</contentId><MimeType>{mime}</MimeType></AttachmentHeader>"
        ));
    }
    xml.push_str("</AttachmentHeaderList>");
    xml
}

/// `AttachmentContentList`: (Id, inner XML of `Content`).
fn content_list(contents: &[(&str, String)]) -> String {
    let mut xml = String::from("<AttachmentContentList>");
    for (id, content) in contents {
        xml.push_str(&format!(
            "<AttachmentContent><Id>{id}</Id><Content>{content}</Content></AttachmentContent>"
        ));
    }
    xml.push_str("</AttachmentContentList>");
    xml
}

fn xop_include(href: &str) -> String {
    format!("<xop:Include xmlns:xop=\"{XOP_NS}\" href=\"cid:{href}\"/>")
}

/// The delivered `AttachmentContentList` of a `GetRequest`/`GetResponse` answer: Id → bytes
/// (base64 decoded; an answer still holding `xop:Include` fails here).
fn delivered_attachments(answer: &Answer) -> BTreeMap<String, Vec<u8>> {
    let doc = answer.doc();
    let mut out = BTreeMap::new();
    for content in doc.elements().filter(|e| {
        e.local_name() == "AttachmentContent"
            && e.parent().is_some_and(|l| {
                l.local_name() == "AttachmentContentList"
                    && l.parent().is_some_and(|m| {
                        matches!(m.local_name(), "RequestMessage" | "ResponseMessage")
                    })
            })
    }) {
        let id = content
            .children()
            .find(|c| c.local_name() == "Id")
            .expect("Id")
            .text_content();
        let data = content
            .children()
            .find(|c| c.local_name() == "Content")
            .expect("Content");
        assert!(
            data.children().next().is_none(),
            "a plain-XML answer must carry base64, not {}",
            data.source()
        );
        assert!(
            out.insert(id.trim().to_owned(), decode_b64(&data.text_content()))
                .is_none(),
            "Id {id} twice"
        );
    }
    out
}

/// The `(contentId, MimeType)` pairs of the `AttachmentHeader`s in an answer.
fn delivered_headers(answer: &Answer) -> Vec<(String, String)> {
    let doc = answer.doc();
    doc.elements()
        .filter(|e| e.local_name() == "AttachmentHeader")
        .map(|h| {
            let text = |name: &str| {
                h.children()
                    .find(|c| c.local_name() == name)
                    .map(|c| c.text_content())
                    .unwrap_or_default()
            };
            (text("contentId"), text("MimeType"))
        })
        .collect()
}

/// A text answer as [`Answer`] (checked by the client: XSD and SMEV signatures).
fn text_answer(client: &SmevClient, raw: RawAnswer) -> Answer {
    assert!(
        raw.content_type.starts_with("text/xml"),
        "expected a plain SOAP answer, got {}",
        raw.content_type
    );
    let answer = Answer {
        status: raw.status,
        content_type: raw.content_type,
        text: String::from_utf8(raw.body).expect("UTF-8 answer"),
    };
    client.check(&answer);
    answer
}

// --- MTOM, written and read here independently of the server's own codec ---

const CXF_BOUNDARY: &str = "uuid:5aeaa450-17f0-4484-b845-a8480c363444";
const CXF_ROOT: &str = "root.message@cxf.apache.org";

/// An MTOM body the way Apache CXF writes it: a leading CRLF, the root part
/// `application/xop+xml`, then one binary part per `(Content-ID, Content-Type, bytes)`.
fn cxf_mtom(envelope: &str, parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "\r\n--{CXF_BOUNDARY}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{CXF_ROOT}>\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(envelope.as_bytes());
    for (cid, content_type, data) in parts {
        body.extend_from_slice(
            format!(
                "\r\n--{CXF_BOUNDARY}\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\nContent-Disposition: attachment;name=\"{cid}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
    }
    body.extend_from_slice(format!("\r\n--{CXF_BOUNDARY}--\r\n").as_bytes());
    let content_type = format!(
        "multipart/related; type=\"application/xop+xml\"; boundary=\"{CXF_BOUNDARY}\"; start=\"<{CXF_ROOT}>\"; start-info=\"text/xml\""
    );
    (content_type, body)
}

/// The parameters of a media type (names lower-cased, quotes removed).
fn media_params(content_type: &str) -> HashMap<String, String> {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| {
            (
                n.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect()
}

fn find_bytes(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// A parsed `multipart/related` answer.
#[derive(Debug)]
struct Multipart {
    /// The root part's `Content-Type`.
    root_type: String,
    /// The root part (the SOAP envelope with its `xop:Include`s).
    root: String,
    /// The other parts by Content-ID (without `<>`): (Content-Type, bytes).
    parts: HashMap<String, (String, Vec<u8>)>,
}

fn parse_multipart(content_type: &str, body: &[u8]) -> Multipart {
    let params = media_params(content_type);
    let boundary = params.get("boundary").expect("boundary");
    let start = params
        .get("start")
        .map(|s| s.trim_matches(['<', '>']).to_owned());
    let delimiter = format!("--{boundary}");
    let mut pos = find_bytes(body, delimiter.as_bytes(), 0).expect("first delimiter");
    let mut parts: Vec<(HashMap<String, String>, Vec<u8>)> = Vec::new();
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            break;
        }
        assert!(body[pos..].starts_with(b"\r\n"), "delimiter line end");
        pos += 2;
        let headers_end = find_bytes(body, b"\r\n\r\n", pos).expect("part headers");
        let headers: HashMap<String, String> = std::str::from_utf8(&body[pos..headers_end])
            .expect("ASCII headers")
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let content_start = headers_end + 4;
        let next = find_bytes(body, format!("\r\n{delimiter}").as_bytes(), content_start)
            .expect("closing delimiter");
        parts.push((headers, body[content_start..next].to_vec()));
        pos = next + 2;
    }
    let root_index = match &start {
        Some(start) => parts
            .iter()
            .position(|(h, _)| {
                h.get("content-id").map(|c| c.trim_matches(['<', '>'])) == Some(start)
            })
            .expect("the start part"),
        None => 0,
    };
    let mut root = None;
    let mut others = HashMap::new();
    for (i, (headers, content)) in parts.into_iter().enumerate() {
        let content_type = headers.get("content-type").cloned().unwrap_or_default();
        if let Some(encoding) = headers.get("content-transfer-encoding") {
            assert!(
                matches!(encoding.to_ascii_lowercase().as_str(), "binary" | "8bit"),
                "{encoding}"
            );
        }
        if i == root_index {
            root = Some((
                content_type,
                String::from_utf8(content).expect("UTF-8 root"),
            ));
        } else {
            let id = headers
                .get("content-id")
                .expect("Content-ID")
                .trim_matches(['<', '>'])
                .to_owned();
            others.insert(id, (content_type, content));
        }
    }
    let (root_type, root) = root.expect("root part");
    Multipart {
        root_type,
        root,
        parts: others,
    }
}

/// The `cid:` references of the `xop:Include`s in `xml`, in document order.
fn xop_hrefs(xml: &str) -> Vec<String> {
    let doc = Document::parse_str(xml, Limits::default()).unwrap();
    doc.elements()
        .filter(|e| e.is(XOP_NS, "Include"))
        .map(|e| e.attribute(None, "href").expect("href"))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// XOP decoding: every `xop:Include` replaced by the base64 of the part it names, so the
/// answer can be checked like a plain one.
fn xop_resolve(multipart: &Multipart) -> String {
    let xml = multipart.root.as_str();
    let doc = Document::parse_str(xml, Limits::default()).unwrap();
    let mut includes: Vec<(std::ops::Range<usize>, String)> = doc
        .elements()
        .filter(|e| e.is(XOP_NS, "Include"))
        .map(|e| {
            let href = e.attribute(None, "href").expect("href");
            let cid = percent_decode(href.strip_prefix("cid:").expect("cid: URL"));
            let (_, data) = multipart
                .parts
                .get(&cid)
                .unwrap_or_else(|| panic!("no part <{cid}>"));
            (e.range(), b64(data))
        })
        .collect();
    includes.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = xml.to_owned();
    for (range, text) in includes {
        out.replace_range(range, &text);
    }
    out
}

/// An MTOM answer, checked by the client after XOP decoding; returns it with the parsed parts.
fn mtom_answer(client: &SmevClient, raw: &RawAnswer) -> (Answer, Multipart) {
    assert!(
        raw.content_type.starts_with("multipart/related"),
        "expected an MTOM answer, got {} {}",
        raw.content_type,
        String::from_utf8_lossy(&raw.body)
    );
    let params = media_params(&raw.content_type);
    assert_eq!(
        params.get("type").map(String::as_str),
        Some("application/xop+xml")
    );
    let multipart = parse_multipart(&raw.content_type, &raw.body);
    assert!(
        multipart.root_type.starts_with("application/xop+xml"),
        "{}",
        multipart.root_type
    );
    let answer = Answer {
        status: raw.status,
        content_type: raw.content_type.clone(),
        text: xop_resolve(&multipart),
    };
    client.check(&answer);
    (answer, multipart)
}

/// Any answer (plain or MTOM), checked.
fn any_answer(client: &SmevClient, raw: RawAnswer) -> Answer {
    if raw.content_type.starts_with("multipart/") {
        mtom_answer(client, &raw).0
    } else {
        text_answer(client, raw)
    }
}

/// Polls with `GetRequest`, posted as an MTOM package holding only the root part.
async fn get_request_mtom(client: &SmevClient) -> RawAnswer {
    let (content_type, body) = cxf_mtom(&client.poll_xml("GetRequest", None, None), &[]);
    client
        .post_raw(&content_type, Some("\"urn:GetRequest\""), body)
        .await
}

/// Opens the store of a running bus a second time (as `opensmev registry import` does from
/// another process).
fn second_store(bus: &TestBus) -> SqliteStore {
    SqliteStore::open(&bus.data_dir.join("store")).expect("a second store connection")
}

// ------------------------------------------------------------------------------------------------
// 1. Inline attachments, base64

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_base64_attachments_reach_the_provider_and_the_consumer() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let binary = binary_bytes();
    let text = text_bytes();
    let headers = header_list(&[
        ("zayavlenie-txt", "text/plain"),
        ("scan-bin", "application/octet-stream"),
    ]);
    // Content order differs from the header order (allowed), one content in MIME lines.
    let contents = content_list(&[
        ("scan-bin", b64_lines(&binary)),
        ("zayavlenie-txt", b64(&text)),
    ]);
    let request = bus.example(VS_PFR, "request.xml");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = new_message_id();
        let sent = consumer
            .send_request_with(
                &id,
                &request,
                RequestParts {
                    after_content: &headers,
                    test_message: true,
                    after_data: &contents,
                    ..RequestParts::default()
                },
            )
            .await;
        assert_accepted(&sent, &id);
        ids.push(id);
    }
    let expected: BTreeMap<String, Vec<u8>> = [
        ("scan-bin".to_owned(), binary.clone()),
        ("zayavlenie-txt".to_owned(), text.clone()),
    ]
    .into();
    let expected_headers = vec![
        ("zayavlenie-txt".to_owned(), "text/plain".to_owned()),
        ("scan-bin".to_owned(), "application/octet-stream".to_owned()),
    ];
    // The same version, then a 1.1 provider (the signed data mapped to 1.1).
    for (id, version) in ids.iter().zip([SchemaVersion::V1_2, SchemaVersion::V1_1]) {
        let provider = bus.client("PFR01", version);
        let got = provider.get_request(None).await;
        assert_eq!(
            got.find("MessageID").as_deref(),
            Some(id.as_str()),
            "{}",
            got.text
        );
        assert_eq!(delivered_headers(&got), expected_headers, "{version:?}");
        assert_eq!(delivered_attachments(&got), expected, "{version:?}");
        let reply_to = got.find("ReplyTo").unwrap();
        assert_eq!(provider.ack(id, true).await.status, 200);

        // The answer carries an attachment back.
        let response_id = new_message_id();
        let pdf: Vec<u8> = (0..=255u8).rev().cycle().take(1000).collect();
        let answered = provider
            .send_response_with(
                &response_id,
                &reply_to,
                &format!(
                    "<MessagePrimaryContent>{}</MessagePrimaryContent>{}",
                    bus.example(VS_PFR, "response.xml"),
                    header_list(&[("vypiska", "application/pdf")])
                ),
                &content_list(&[("vypiska", b64(&pdf))]),
            )
            .await;
        assert_accepted(&answered, &response_id);
        let response = consumer.get_response(None).await;
        assert_eq!(
            response.find("MessageID").as_deref(),
            Some(response_id.as_str()),
            "{}",
            response.text
        );
        assert_eq!(
            delivered_headers(&response),
            vec![("vypiska".to_owned(), "application/pdf".to_owned())]
        );
        assert_eq!(
            delivered_attachments(&response),
            BTreeMap::from([("vypiska".to_owned(), pdf)])
        );
        assert_eq!(consumer.ack(&response_id, true).await.status, 200);
    }
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 2. MTOM

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtom_requests_are_accepted_and_delivered_as_mtom_or_base64() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let binary = binary_bytes();
    let text = text_bytes();
    // CXF names parts `<uuid-n@cxf.apache.org>`; one href written raw, one percent-encoded.
    let cid_bin = "8c1b2d3e-0f4a-4b5c-9d6e-7f8091a2b3c4-1@cxf.apache.org";
    let cid_txt = "8c1b2d3e-0f4a-4b5c-9d6e-7f8091a2b3c4-2@cxf.apache.org";
    let headers = header_list(&[
        ("scan-bin", "application/pdf"),
        ("zayavlenie-txt", "text/plain"),
    ]);
    let contents = content_list(&[
        ("scan-bin", xop_include(cid_bin)),
        ("zayavlenie-txt", xop_include(&cid_txt.replace('@', "%40"))),
    ]);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = new_message_id();
        let envelope = consumer.send_request_xml_with(
            &id,
            &bus.example(VS_PFR, "request.xml"),
            RequestParts {
                after_content: &headers,
                test_message: true,
                after_data: &contents,
                ..RequestParts::default()
            },
        );
        let (content_type, body) = cxf_mtom(
            &envelope,
            &[
                (cid_bin, "application/octet-stream", binary.as_slice()),
                (cid_txt, "application/octet-stream", text.as_slice()),
            ],
        );
        let raw = consumer
            .post_raw(&content_type, Some("\"urn:SendRequest\""), body)
            .await;
        let sent = any_answer(&consumer, raw);
        assert_accepted(&sent, &id);
        ids.push(id);
    }

    // An MTOM poll gets an MTOM answer whose binary parts carry the exact bytes.
    let raw = get_request_mtom(&provider).await;
    assert_eq!(raw.status, 200, "{}", String::from_utf8_lossy(&raw.body));
    let (got, multipart) = mtom_answer(&provider, &raw);
    assert_eq!(got.find("MessageID").as_deref(), Some(ids[0].as_str()));
    let hrefs = xop_hrefs(&multipart.root);
    assert_eq!(hrefs.len(), 2, "{}", multipart.root);
    let mut by_id = BTreeMap::new();
    {
        let doc = Document::parse_str(&multipart.root, Limits::default()).unwrap();
        for content in doc
            .elements()
            .filter(|e| e.local_name() == "AttachmentContent")
        {
            let id = content
                .children()
                .find(|c| c.local_name() == "Id")
                .unwrap()
                .text_content();
            let include = content
                .descendants()
                .find(|e| e.is(XOP_NS, "Include"))
                .unwrap_or_else(|| panic!("Content of {id} is not an xop:Include"));
            let href = include.attribute(None, "href").unwrap();
            let cid = percent_decode(href.strip_prefix("cid:").unwrap());
            let (part_type, data) = multipart
                .parts
                .get(&cid)
                .unwrap_or_else(|| panic!("no part for {href}"))
                .clone();
            by_id.insert(id, (part_type, data));
        }
    }
    assert_eq!(
        by_id.get("scan-bin"),
        Some(&("application/pdf".to_owned(), binary.clone()))
    );
    assert_eq!(
        by_id.get("zayavlenie-txt"),
        Some(&("text/plain".to_owned(), text.clone()))
    );
    assert_eq!(provider.ack(&ids[0], true).await.status, 200);

    // A plain text/xml poll gets the same attachments as base64.
    let got = provider.get_request(None).await;
    assert!(
        got.content_type.starts_with("text/xml"),
        "{}",
        got.content_type
    );
    assert_eq!(got.find("MessageID").as_deref(), Some(ids[1].as_str()));
    assert_eq!(
        delivered_attachments(&got),
        BTreeMap::from([
            ("scan-bin".to_owned(), binary.clone()),
            ("zayavlenie-txt".to_owned(), text.clone()),
        ])
    );
    assert_eq!(provider.ack(&ids[1], true).await.status, 200);

    // A part in Content-Transfer-Encoding base64, placed before the root part (named by start).
    let id = new_message_id();
    let envelope = consumer.send_request_xml_with(
        &id,
        &bus.example(VS_PFR, "request.xml"),
        RequestParts {
            after_content: &header_list(&[("scan-bin", "application/octet-stream")]),
            after_data: &content_list(&[("scan-bin", xop_include("part-1@client"))]),
            ..RequestParts::default()
        },
    );
    let body = format!(
        "--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <part-1@client>\r\n\r\n{}\r\n--B\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-ID: <root@client>\r\n\r\n{envelope}\r\n--B--\r\n",
        b64_lines(&binary).replace('\n', "\r\n")
    );
    let raw = consumer
        .post_raw(
            "multipart/related; type=\"application/xop+xml\"; boundary=B; start=\"<root@client>\"; start-info=\"text/xml\"",
            Some("urn:SendRequest"),
            body.into_bytes(),
        )
        .await;
    assert_accepted(&any_answer(&consumer, raw), &id);
    let got = provider.get_request(None).await;
    assert_eq!(got.find("MessageID").as_deref(), Some(id.as_str()));
    assert_eq!(
        delivered_attachments(&got),
        BTreeMap::from([("scan-bin".to_owned(), binary.clone())])
    );
    assert_eq!(provider.ack(&id, true).await.status, 200);

    // An empty queue polled in MTOM: still a valid (empty) answer.
    let raw = get_request_mtom(&provider).await;
    let empty = any_answer(&provider, raw);
    assert!(!empty.has("RequestMessage"), "{}", empty.text);

    // An xop:Include naming a part that is not there is refused.
    let id = new_message_id();
    let envelope = consumer.send_request_xml_with(
        &id,
        &bus.example(VS_PFR, "request.xml"),
        RequestParts {
            after_content: &header_list(&[("scan-bin", "application/pdf")]),
            after_data: &content_list(&[("scan-bin", xop_include("missing@cxf.apache.org"))]),
            ..RequestParts::default()
        },
    );
    let (content_type, body) = cxf_mtom(&envelope, &[]);
    let raw = consumer
        .post_raw(&content_type, Some("\"urn:SendRequest\""), body)
        .await;
    let answer = any_answer(&consumer, raw);
    assert_fault(&answer, "InvalidContent");
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 3. Attachment faults

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_headers_must_match_contents() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");
    let data = b64(b"%PDF-1.4");
    let cases: Vec<(&str, String, String)> = vec![
        (
            "header without content",
            header_list(&[("scan", "application/pdf")]),
            String::new(),
        ),
        (
            "content without header",
            String::new(),
            content_list(&[("scan", data.clone())]),
        ),
        (
            "ids differ",
            header_list(&[("scan", "application/pdf")]),
            content_list(&[("scan2", data.clone())]),
        ),
        (
            "one of two contents missing",
            header_list(&[("scan", "application/pdf"), ("photo", "image/jpeg")]),
            content_list(&[("scan", data.clone())]),
        ),
    ];
    for (name, headers, contents) in cases {
        let answer = consumer
            .send_request_with(
                &new_message_id(),
                &request,
                RequestParts {
                    after_content: &headers,
                    after_data: &contents,
                    ..RequestParts::default()
                },
            )
            .await;
        assert_eq!(answer.status, 500, "{name}: {}", answer.text);
        assert_eq!(
            answer.fault().as_deref(),
            Some("AttachmentContentMiscoordination"),
            "{name}: {}",
            answer.text
        );
    }
    // A MimeType outside the schema's pattern (no parameters allowed) is invalid content.
    let answer = consumer
        .send_request_with(
            &new_message_id(),
            &request,
            RequestParts {
                after_content: &header_list(&[("scan", "text/plain; charset=utf-8")]),
                after_data: &content_list(&[("scan", data.clone())]),
                ..RequestParts::default()
            },
        )
        .await;
    assert_fault(&answer, "InvalidContent");
    assert!(answer.text.contains("MimeType"), "{}", answer.text);
    // Nothing was queued.
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    assert!(!provider.get_request(None).await.has("RequestMessage"));
    bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_owned(), |config| {
        config.max_attachments_bytes = 1000;
    })
    .await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");
    let send = |sizes: [usize; 2]| {
        let consumer = &consumer;
        let request = &request;
        async move {
            let id = new_message_id();
            let answer = consumer
                .send_request_with(
                    &id,
                    request,
                    RequestParts {
                        after_content: &header_list(&[
                            ("a", "application/octet-stream"),
                            ("b", "application/octet-stream"),
                        ]),
                        after_data: &content_list(&[
                            ("a", b64(&vec![0xA5; sizes[0]])),
                            ("b", b64(&vec![0x5A; sizes[1]])),
                        ]),
                        ..RequestParts::default()
                    },
                )
                .await;
            (id, answer)
        }
    };
    let (_, refused) = send([600, 401]).await;
    assert_fault(&refused, "AttachmentSizeLimitExceeded");
    assert_eq!(
        refused.find("PermittedTotalAttachmentSize").as_deref(),
        Some("1000"),
        "{}",
        refused.text
    );
    assert_eq!(
        refused.find("RealTotalAttachmentSize").as_deref(),
        Some("1001")
    );
    // Exactly at the limit: accepted.
    let (id, accepted) = send([600, 400]).await;
    assert_accepted(&accepted, &id);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let got = provider.get_request(None).await;
    assert_eq!(got.find("MessageID").as_deref(), Some(id.as_str()));
    let attachments = delivered_attachments(&got);
    assert_eq!(attachments["a"], vec![0xA5; 600]);
    assert_eq!(attachments["b"], vec![0x5A; 400]);
    provider.ack(&id, true).await;
    assert!(
        !provider.get_request(None).await.has("RequestMessage"),
        "the refused message was queued"
    );
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 4. Queue quota

/// The demo registry of a data directory where a demo bus has run, changed by `change`, written
/// next to it; returns the file.
fn changed_registry(data_dir: &Path, name: &str, change: impl FnOnce(&mut RegistryFile)) -> String {
    let text = std::fs::read_to_string(data_dir.join("demo/registry.toml")).unwrap();
    let mut doc = opensmev_core::registry::RegistryDocument::from_toml(&text).unwrap();
    change(&mut doc.file);
    let changed = doc.to_toml();
    std::fs::write(data_dir.join(name), &changed).unwrap();
    changed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_destination_overflow_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_owned(), |_| {}).await;
    bus.stop().await;
    changed_registry(dir.path(), "quota.toml", |file| {
        assert_eq!(file.default_queue_quota, 1000);
        let pfr = file
            .systems
            .iter_mut()
            .find(|s| s.mnemonic == "PFR01")
            .unwrap();
        pfr.queue_quota = Some(3);
    });
    let path = dir.path().join("quota.toml");
    let bus = TestBus::start_in(dir.path().to_owned(), |config| {
        config.registry_file = Some(path);
    })
    .await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");
    let mut accepted = Vec::new();
    for _ in 0..3 {
        let id = new_message_id();
        assert_accepted(&consumer.send_request(&id, &request, "").await, &id);
        accepted.push(id);
    }
    let overflow = consumer.send_request(&new_message_id(), &request, "").await;
    assert_fault(&overflow, "DestinationOverflow");
    assert_eq!(
        overflow.find("DestinationName").as_deref(),
        Some("PFR01/REQUEST"),
        "{}",
        overflow.text
    );
    assert_eq!(
        overflow.find("MessageBrokerAddress").as_deref(),
        Some("opensmev")
    );
    // Another provider's queue is not affected (default quota).
    let id = new_message_id();
    assert_accepted(
        &consumer
            .send_request(&id, &bus.example(VS_EGRUL, "request.xml"), "")
            .await,
        &id,
    );
    // Leased but not acknowledged: still pending, still full.
    let got = provider.get_request(None).await;
    assert_eq!(got.find("MessageID").as_deref(), Some(accepted[0].as_str()));
    assert_fault(
        &consumer.send_request(&new_message_id(), &request, "").await,
        "DestinationOverflow",
    );
    // Acknowledged: room for exactly one more.
    assert_eq!(provider.ack(&accepted[0], true).await.status, 200);
    let id = new_message_id();
    assert_accepted(&consumer.send_request(&id, &request, "").await, &id);
    assert_fault(
        &consumer.send_request(&new_message_id(), &request, "").await,
        "DestinationOverflow",
    );
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 5. Registry changes while running

/// Sends requests until `done` holds for the answer (at most 10 s); returns how long it took.
async fn until(
    consumer: &SmevClient,
    request: &str,
    done: impl Fn(&Answer) -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let answer = consumer.send_request(&new_message_id(), request, "").await;
        if done(&answer) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_changes_in_the_store_apply_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_owned(), |config| {
        config.registry_poll_seconds = 1;
    })
    .await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");
    let egrul = bus.example(VS_EGRUL, "request.xml");
    let id = new_message_id();
    assert_accepted(&consumer.send_request(&id, &request, "").await, &id);

    let original = std::fs::read_to_string(dir.path().join("demo/registry.toml")).unwrap();
    let revoked = changed_registry(dir.path(), "revoked.toml", |file| {
        let before = file.grants.len();
        file.grants
            .retain(|g| !(g.consumer == "MFC01" && g.kind == VS_PFR));
        assert_eq!(file.grants.len(), before - 1);
    });
    let store = second_store(&bus);
    let saved = store
        .save_registry(revoked, None, true, time::OffsetDateTime::now_utc(), None)
        .await
        .unwrap();
    assert!(saved.version >= 2, "{}", saved.version);
    let took = until(&consumer, &request, |a| {
        a.fault().as_deref() == Some("AccessDenied")
    })
    .await;
    assert!(took.is_some(), "the revoked grant was never applied");
    // Only that grant went.
    let id = new_message_id();
    assert_accepted(&consumer.send_request(&id, &egrul, "").await, &id);

    store
        .save_registry(original, None, true, time::OffsetDateTime::now_utc(), None)
        .await
        .unwrap();
    let took = until(&consumer, &request, |a| a.status == 200).await;
    assert!(took.is_some(), "the restored grant was never applied");
    drop(store);
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 6. GetIncomingQueueStatistics

/// `(queueName, pendingMessageNumber)` of a statistics answer.
fn queue_statistics(answer: &Answer) -> Vec<(String, String)> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        answer.has("GetIncomingQueueStatisticsResponse"),
        "{}",
        answer.text
    );
    let doc = answer.doc();
    doc.elements()
        .filter(|e| e.local_name() == "QueueStatistics")
        .map(|e| {
            (
                e.attribute(None, "queueName").unwrap_or_default(),
                e.attribute(None, "pendingMessageNumber")
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_queue_statistics_count_pending_messages() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_1);
    assert_eq!(
        queue_statistics(&provider.get_incoming_queue_statistics(None).await),
        vec![]
    );
    let request = bus.example(VS_PFR, "request.xml");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = new_message_id();
        assert_accepted(&consumer.send_request(&id, &request, "").await, &id);
        ids.push(id);
    }
    let stats = queue_statistics(&provider.get_incoming_queue_statistics(None).await);
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert!(stats[0].0.contains("PersonalAccountRequest"), "{stats:?}");
    assert_eq!(stats[0].1, "2");
    // Other systems see their own queues only.
    let fns = bus.client("FNS01", SchemaVersion::V1_1);
    assert_eq!(
        queue_statistics(&fns.get_incoming_queue_statistics(Some("node-1")).await),
        vec![]
    );
    // Leased is still pending; acknowledged is not.
    let got = provider.get_request(None).await;
    assert_eq!(got.find("MessageID").as_deref(), Some(ids[0].as_str()));
    let stats = queue_statistics(&provider.get_incoming_queue_statistics(None).await);
    assert_eq!(
        stats.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["2"]
    );
    assert_eq!(provider.ack(&ids[0], true).await.status, 200);
    let stats = queue_statistics(&provider.get_incoming_queue_statistics(None).await);
    assert_eq!(
        stats.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["1"]
    );

    // The operation exists in 1.1 only.
    let v12 = bus.client("PFR01", SchemaVersion::V1_2);
    let body = format!(
        "<ns2:GetIncomingQueueStatisticsRequest xmlns:ns2=\"{}\"><Timestamp xmlns=\"{}\" Id=\"SIGNED_BY_CALLER\">{}</Timestamp></ns2:GetIncomingQueueStatisticsRequest>",
        v12.types(),
        v12.basic(),
        common::now_text()
    );
    let answer = v12
        .post(
            "GetIncomingQueueStatistics",
            v12.sign(&v12.envelope(&body), "SIGNED_BY_CALLER"),
        )
        .await;
    assert_fault(&answer, "InvalidContent");
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 7. NodeID

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_go_to_the_node_that_sent_the_request() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");
    let response = bus.example(VS_PFR, "response.xml");

    let id = new_message_id();
    let sent = consumer
        .send_request(&id, &request, "<ns2:NodeID>node-a</ns2:NodeID>")
        .await;
    assert_accepted(&sent, &id);
    let got = provider.get_request(None).await;
    assert_eq!(got.find("MessageID").as_deref(), Some(id.as_str()));
    assert_eq!(got.find("NodeID").as_deref(), Some("node-a"));
    let reply_to = got.find("ReplyTo").unwrap();
    provider.ack(&id, true).await;
    let response_id = new_message_id();
    assert_accepted(
        &provider
            .send_response(&response_id, &reply_to, &response)
            .await,
        &response_id,
    );

    // Not for a poll without a node, nor for another node.
    let none = consumer.get_response_on_node(None, None).await;
    assert!(!none.has("ResponseMessage"), "{}", none.text);
    let other = consumer.get_response_on_node(None, Some("node-b")).await;
    assert!(!other.has("ResponseMessage"), "{}", other.text);
    let mine = consumer
        .get_response_on_node(Some((NS_PFR, "PersonalAccountResponse")), Some("node-a"))
        .await;
    assert_eq!(
        mine.find("MessageID").as_deref(),
        Some(response_id.as_str()),
        "{}",
        mine.text
    );
    assert_eq!(mine.find("OriginalMessageId").as_deref(), Some(id.as_str()));
    assert_eq!(consumer.ack(&response_id, true).await.status, 200);

    // A request without a node: its response goes to a poll without a node.
    let id = new_message_id();
    assert_accepted(&consumer.send_request(&id, &request, "").await, &id);
    let got = provider.get_request(None).await;
    let reply_to = got.find("ReplyTo").unwrap();
    provider.ack(&id, true).await;
    let response_id = new_message_id();
    assert_accepted(
        &provider
            .send_response(&response_id, &reply_to, &response)
            .await,
        &response_id,
    );
    let unbound = consumer.get_response_on_node(None, None).await;
    assert_eq!(
        unbound.find("MessageID").as_deref(),
        Some(response_id.as_str()),
        "{}",
        unbound.text
    );
    assert_eq!(consumer.ack(&response_id, true).await.status, 200);
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 8. RequestRejected and RequestStatus

const REJECTED: &str = "<ns2:RequestRejected><ns2:RejectionReasonCode>NO_DATA</ns2:RejectionReasonCode><ns2:RejectionReasonDescription>Сведения о застрахованном лице по СНИЛС 112-233-445 95 не найдены</ns2:RejectionReasonDescription></ns2:RequestRejected>";
const STATUS: &str = "<ns2:RequestStatus><ns2:StatusCode>3</ns2:StatusCode><ns2:StatusParameter><ns2:Key>срок</ns2:Key><ns2:Value>5 рабочих дней</ns2:Value></ns2:StatusParameter><ns2:StatusDescription>Запрос принят в работу</ns2:StatusDescription></ns2:RequestStatus>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_and_statuses_reach_the_consumer() {
    let bus = TestBus::start().await;
    use SchemaVersion::*;
    for (consumer_version, provider_version) in [(V1_2, V1_2), (V1_1, V1_3)] {
        let consumer = bus.client("MFC01", consumer_version);
        let provider = bus.client("PFR01", provider_version);
        let id = new_message_id();
        assert_accepted(
            &consumer
                .send_request(&id, &bus.example(VS_PFR, "request.xml"), "")
                .await,
            &id,
        );
        let got = provider.get_request(None).await;
        let reply_to = got.find("ReplyTo").unwrap();
        provider.ack(&id, true).await;

        let status_id = new_message_id();
        let answer = provider
            .send_response_with(&status_id, &reply_to, STATUS, "")
            .await;
        assert_accepted(&answer, &status_id);
        assert_eq!(answer.find("MessageType").as_deref(), Some("RESPONSE"));
        let rejected_id = new_message_id();
        assert_accepted(
            &provider
                .send_response_with(&rejected_id, &reply_to, REJECTED, "")
                .await,
            &rejected_id,
        );

        // Typed by the kind's response root, so a consumer polling with that selector gets them.
        let first = consumer
            .get_response(Some((
                "urn://opensmev/demo/pfr-account/1.0.0",
                "PersonalAccountResponse",
            )))
            .await;
        assert_eq!(
            first.find("MessageID").as_deref(),
            Some(status_id.as_str()),
            "{}",
            first.text
        );
        assert_eq!(
            first.find("OriginalMessageId").as_deref(),
            Some(id.as_str())
        );
        assert_eq!(first.find("StatusCode").as_deref(), Some("3"));
        assert_eq!(first.find("Key").as_deref(), Some("срок"));
        assert_eq!(first.find("Value").as_deref(), Some("5 рабочих дней"));
        assert_eq!(
            first.find("StatusDescription").as_deref(),
            Some("Запрос принят в работу")
        );
        assert!(!first.has("MessagePrimaryContent"));
        assert_eq!(consumer.ack(&status_id, true).await.status, 200);

        let second = consumer.get_response(None).await;
        assert_eq!(
            second.find("MessageID").as_deref(),
            Some(rejected_id.as_str()),
            "{}",
            second.text
        );
        assert_eq!(
            second.find("OriginalMessageId").as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            second.find("RejectionReasonCode").as_deref(),
            Some("NO_DATA")
        );
        assert_eq!(
            second.find("RejectionReasonDescription").as_deref(),
            Some("Сведения о застрахованном лице по СНИЛС 112-233-445 95 не найдены")
        );
        assert_eq!(consumer.ack(&rejected_id, true).await.status, 200);
        assert!(!consumer.get_response(None).await.has("ResponseMessage"));
    }
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 9. TestMessage and EOL

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_message_flag_follows_the_response_and_a_future_eol_is_delivered() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");
    let eol = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .to_offset(time::macros::offset!(+3))
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+03:00"
        ))
        .unwrap();
    let mut responses = Vec::new();
    for test_message in [true, false] {
        let id = new_message_id();
        let eol_element = format!("<ns2:EOL>{eol}</ns2:EOL>");
        let sent = consumer
            .send_request_with(
                &id,
                &request,
                RequestParts {
                    before_content: if test_message { &eol_element } else { "" },
                    test_message,
                    ..RequestParts::default()
                },
            )
            .await;
        assert_accepted(&sent, &id);
        let got = provider.get_request(None).await;
        assert_eq!(got.find("MessageID").as_deref(), Some(id.as_str()));
        assert_eq!(got.has("TestMessage"), test_message, "{}", got.text);
        assert_eq!(
            got.find("EOL"),
            test_message.then(|| eol.clone()),
            "{}",
            got.text
        );
        let reply_to = got.find("ReplyTo").unwrap();
        provider.ack(&id, true).await;
        let response_id = new_message_id();
        assert_accepted(
            &provider
                .send_response(
                    &response_id,
                    &reply_to,
                    &bus.example(VS_PFR, "response.xml"),
                )
                .await,
            &response_id,
        );
        let response = consumer.get_response(None).await;
        assert_eq!(
            response.find("MessageID").as_deref(),
            Some(response_id.as_str())
        );
        consumer.ack(&response_id, true).await;
        responses.push((response_id, test_message));
    }
    // The response to a test request is a test message too (as stored for the bus).
    let store = second_store(&bus);
    for (response_id, test_message) in responses {
        let stored = store
            .message(&MessageId::parse(&response_id).unwrap())
            .await
            .unwrap()
            .expect("stored response");
        assert_eq!(stored.message.test_message, test_message, "{response_id}");
    }
    drop(store);
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// 10. SOAP 1.1 transport details

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_action_and_content_types() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let poll = || consumer.poll_xml("GetResponse", None, None).into_bytes();

    // No SOAPAction: the body element decides.
    let raw = consumer
        .post_raw("text/xml; charset=utf-8", None, poll())
        .await;
    let answer = text_answer(&consumer, raw);
    assert!(answer.has("GetResponseResponse"), "{}", answer.text);
    // An empty SOAPAction ("") too.
    let raw = consumer
        .post_raw("text/xml; charset=utf-8", Some("\"\""), poll())
        .await;
    assert!(text_answer(&consumer, raw).has("GetResponseResponse"));
    // A SOAPAction naming another operation.
    let raw = consumer
        .post_raw(
            "text/xml; charset=utf-8",
            Some("\"urn:GetRequest\""),
            poll(),
        )
        .await;
    assert_fault(&text_answer(&consumer, raw), "InvalidContent");
    // SOAP 1.2 media type (as Smev3Sharp sends), with or without an action parameter.
    let raw = consumer
        .post_raw(
            "application/soap+xml; charset=utf-8",
            Some("\"urn:GetResponse\""),
            poll(),
        )
        .await;
    assert!(text_answer(&consumer, raw).has("GetResponseResponse"));
    let raw = consumer
        .post_raw("application/soap+xml; charset=utf-8", None, poll())
        .await;
    assert!(text_answer(&consumer, raw).has("GetResponseResponse"));
    let raw = consumer
        .post_raw(
            "application/soap+xml; charset=utf-8; action=\"urn:SendRequest\"",
            None,
            poll(),
        )
        .await;
    assert_fault(&text_answer(&consumer, raw), "InvalidContent");
    // Charsets other than UTF-8: 415.
    for content_type in [
        "text/xml; charset=windows-1251",
        "application/soap+xml; charset=koi8-r",
    ] {
        let raw = consumer
            .post_raw(content_type, Some("\"urn:GetResponse\""), poll())
            .await;
        assert_eq!(raw.status, 415, "{content_type}");
    }
    let raw = consumer
        .post_raw("application/json", Some("\"urn:GetResponse\""), poll())
        .await;
    assert_eq!(raw.status, 415);

    // A SOAP 1.2 envelope: SMEV speaks SOAP 1.1 only.
    let soap12 = String::from_utf8(poll())
        .unwrap()
        .replace(common::SOAP_NS, "http://www.w3.org/2003/05/soap-envelope");
    let raw = consumer
        .post_raw(
            "application/soap+xml; charset=utf-8",
            None,
            soap12.into_bytes(),
        )
        .await;
    assert_fault(&text_answer(&consumer, raw), "InvalidContent");

    // A 1.2 body posted to the 1.1 endpoint.
    let v11 = bus.client("MFC01", SchemaVersion::V1_1);
    let answer = v11
        .post("GetResponse", String::from_utf8(poll()).unwrap())
        .await;
    assert_fault(&answer, "InvalidContent");
    // And the 1.1 endpoint still serves 1.1.
    assert!(v11.get_response(None).await.has("GetResponseResponse"));
    bus.stop().await;
}

/// The bus signs the delivered `Request` with `Id="SIGNED_BY_SMEV"` unless the document already
/// uses that `xs:ID` — in the sender's data or as an attachment id — in which case it picks
/// another, so the answer stays valid and verifiable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_id_never_collides_with_ids_of_the_sender() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let headers = header_list(&[("SIGNED_BY_SMEV", "text/plain")]);
    let contents = content_list(&[("SIGNED_BY_SMEV", b64(b"x"))]);
    let id = new_message_id();
    let sent = consumer
        .send_request_with(
            &id,
            &bus.example(VS_PFR, "request.xml"),
            RequestParts {
                after_content: &headers,
                after_data: &contents,
                ..RequestParts::default()
            },
        )
        .await;
    assert_accepted(&sent, &id);
    // `check` inside get_request verifies the SMEV signature and validates the answer.
    let got = provider.get_request(None).await;
    assert!(got.text.contains("Id=\"SIGNED_BY_SMEV_2\""), "{}", got.text);
}

/// Long polling over HTTP (`poll_wait_ms`): a `GetRequest` on an empty queue is held until a
/// request arrives for it, then answered with that request; with nothing arriving it is answered
/// empty when the wait is over; another system's message does not end the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_holds_an_empty_poll_until_a_message_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let bus = TestBus::start_in(dir.path().to_owned(), |config| {
        config.poll_wait_ms = 1500;
    })
    .await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let request = bus.example(VS_PFR, "request.xml");

    // Nothing arrives: answered empty after the wait; a request for another provider (FNS01)
    // does not wake PFR01's poll.
    let started = Instant::now();
    let (empty, other) = tokio::join!(provider.get_request(None), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let id = new_message_id();
        let answer = consumer
            .send_request(&id, &bus.example(VS_EGRUL, "request.xml"), "")
            .await;
        assert_accepted(&answer, &id);
    });
    let () = other;
    let waited = started.elapsed();
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert!(!empty.has("RequestMessage"), "{}", empty.text);
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(5000),
        "an empty poll is answered when the wait is over: {waited:?}"
    );

    // A request arrives during the wait: the held poll gets it at once.
    let id = new_message_id();
    let started = Instant::now();
    let (got, ()) = tokio::join!(provider.get_request(None), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_accepted(&consumer.send_request(&id, &request, "").await, &id);
    });
    let waited = started.elapsed();
    assert_eq!(
        got.find("MessageID").as_deref(),
        Some(id.as_str()),
        "{}",
        got.text
    );
    assert!(
        waited < Duration::from_millis(1400),
        "the held poll is answered when the request comes, not at the end of the wait: {waited:?}"
    );
    bus.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Large MTOM attachments: spooled, kept as files by the store, streamed out

fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_mtom_attachments_are_spooled_kept_as_files_and_streamed() {
    let bus = TestBus::start().await;
    let consumer = bus.client("MFC01", SchemaVersion::V1_2);
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let spool = bus.data_dir.join("spool");
    let files = bus.data_dir.join("store").join("attachments");
    // 6 MiB (over what a request keeps in memory) and a small one (kept in memory).
    let big: Vec<u8> = (0..6 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let small = text_bytes();
    let send = |id: &str, header_ids: &[(&str, &str)]| {
        let envelope = consumer.send_request_xml_with(
            id,
            &bus.example(VS_PFR, "request.xml"),
            RequestParts {
                after_content: &header_list(header_ids),
                test_message: true,
                after_data: &content_list(&[
                    ("small-txt", xop_include("small@client")),
                    ("big-bin", xop_include("big@client")),
                ]),
                ..RequestParts::default()
            },
        );
        cxf_mtom(
            &envelope,
            &[
                ("small@client", "text/plain", small.as_slice()),
                ("big@client", "application/octet-stream", big.as_slice()),
            ],
        )
    };
    let headers = [("small-txt", "text/plain"), ("big-bin", "application/pdf")];
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = new_message_id();
        let (content_type, body) = send(&id, &headers);
        let raw = consumer
            .post_raw(&content_type, Some("\"urn:SendRequest\""), body)
            .await;
        assert_accepted(&any_answer(&consumer, raw), &id);
        ids.push(id);
    }
    // The large attachment of each message is a file of the store; the spool is empty again.
    assert_eq!(file_names(&files).len(), 2, "{:?}", file_names(&files));
    assert!(file_names(&spool).is_empty(), "{:?}", file_names(&spool));

    // A refused message leaves nothing behind.
    let id = new_message_id();
    let (content_type, body) = send(&id, &[("small-txt", "text/plain"), ("other", "text/plain")]);
    let raw = consumer
        .post_raw(&content_type, Some("\"urn:SendRequest\""), body)
        .await;
    let refused = any_answer(&consumer, raw);
    assert_eq!(
        refused.fault().as_deref(),
        Some("AttachmentContentMiscoordination"),
        "{}",
        refused.text
    );
    assert_eq!(file_names(&files).len(), 2);
    assert!(file_names(&spool).is_empty());

    // Delivered as MTOM parts (streamed from the file) ...
    let raw = get_request_mtom(&provider).await;
    assert_eq!(raw.status, 200);
    let declared_len = raw.body.len();
    let (got, multipart) = mtom_answer(&provider, &raw);
    assert_eq!(got.find("MessageID").as_deref(), Some(ids[0].as_str()));
    let mut parts: Vec<(String, Vec<u8>)> = multipart.parts.values().cloned().collect();
    parts.sort_by_key(|p| p.1.len());
    assert_eq!(
        parts,
        [
            ("text/plain".to_owned(), small.clone()),
            ("application/pdf".to_owned(), big.clone())
        ]
    );
    assert!(declared_len > big.len());
    assert_eq!(provider.ack(&ids[0], true).await.status, 200);

    // ... and as base64 inside the XML to a plain poll.
    let got = provider.get_request(None).await;
    assert!(got.content_type.starts_with("text/xml"));
    assert_eq!(got.find("MessageID").as_deref(), Some(ids[1].as_str()));
    assert_eq!(
        delivered_attachments(&got),
        BTreeMap::from([
            ("big-bin".to_owned(), big.clone()),
            ("small-txt".to_owned(), small.clone()),
        ])
    );
    assert_eq!(provider.ack(&ids[1], true).await.status, 200);

    // A large attachment sent as base64 text is kept as a file too, and delivered as MTOM.
    let id = new_message_id();
    let answer = consumer
        .send_request_with(
            &id,
            &bus.example(VS_PFR, "request.xml"),
            RequestParts {
                after_content: &header_list(&[("big-bin", "application/octet-stream")]),
                after_data: &content_list(&[("big-bin", b64_lines(&big))]),
                ..RequestParts::default()
            },
        )
        .await;
    assert_accepted(&answer, &id);
    assert_eq!(file_names(&files).len(), 3, "{:?}", file_names(&files));
    assert!(file_names(&spool).is_empty(), "{:?}", file_names(&spool));
    let raw = get_request_mtom(&provider).await;
    let (got, multipart) = mtom_answer(&provider, &raw);
    assert_eq!(got.find("MessageID").as_deref(), Some(id.as_str()));
    let parts: Vec<&Vec<u8>> = multipart.parts.values().map(|p| &p.1).collect();
    assert_eq!(parts, [&big]);
    assert_eq!(provider.ack(&id, true).await.status, 200);
    bus.stop().await;
}
