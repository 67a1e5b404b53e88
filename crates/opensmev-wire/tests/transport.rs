//! HTTP bodies and SOAPAction: content types, the MTOM sample of the test SMEV, malformed
//! multipart bodies, and robustness against mangled input (never a panic).

mod common;

use common::{data, read, sample};
use opensmev_wire::{Operation, WireError, decode_request, soap_action_operation, split_http_body};
use opensmev_xmldsig::xml::{Document, Limits};

#[test]
fn plain_soap_content_types() {
    let body = b"<x/>";
    for ct in [
        "text/xml",
        "text/xml; charset=utf-8",
        "Text/XML;charset=\"UTF-8\"",
        "application/soap+xml; charset=utf-8",
        "application/soap+xml;charset=UTF8;action=\"urn:SendRequest\"",
    ] {
        let p = split_http_body(ct, body).unwrap();
        assert_eq!(&*p.xml, body);
        assert!(!p.mtom && p.parts.is_empty(), "{ct}");
    }
    let p = split_http_body("application/soap+xml; action=\"urn:Ack\"", body).unwrap();
    assert_eq!(p.action.as_deref(), Some("urn:Ack"));
    assert_eq!(
        split_http_body("text/xml; charset=windows-1251", body),
        Err(WireError::UnsupportedCharset("windows-1251".into()))
    );
    for ct in [
        "application/json",
        "text/plain",
        "",
        "xml",
        "multipart/form-data; boundary=x",
    ] {
        assert!(
            matches!(
                split_http_body(ct, body),
                Err(WireError::UnsupportedContentType(_))
            ),
            "{ct}"
        );
    }
}

#[test]
fn the_test_smev_mtom_sample_splits() {
    // LF line ends, no start parameter: the first part is the root.
    let body = read(sample(
        "smev3sharp-1.2/GetResponseResponce_MultipartEmptyQueue.xml",
    ));
    let ct = "multipart/related; type=\"application/xop+xml\"; boundary=\"f438a15e-9b5b-491f-9b47-aba4d00b8837\"; start-info=\"text/xml\"";
    let p = split_http_body(ct, &body).unwrap();
    assert!(p.mtom);
    assert!(p.parts.is_empty());
    let doc = Document::parse(&p.xml, Limits::default()).unwrap();
    assert_eq!(doc.root().local_name(), "Envelope");
    assert!(p.xml.ends_with(b"</soap:Envelope>"));
}

fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (headers, content) in parts {
        body.extend_from_slice(b"--B\r\n");
        body.extend_from_slice(headers.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--B--\r\n");
    body
}

const ROOT: &str =
    "Content-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-ID: <root>";
const CT: &str = "multipart/related; type=\"application/xop+xml\"; boundary=B; start=\"<root>\"";

#[test]
fn parts_and_transfer_encodings() {
    let body = multipart(&[
        (
            "Content-ID: <a>\r\nContent-Transfer-Encoding: base64",
            b"aGVs\r\nbG8=",
        ),
        (ROOT, b"<x/>"),
        (
            "Content-ID: b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable",
            b"a=3Db=\r\nc",
        ),
        ("Content-Type: text/plain", b"no id: ignored"),
        ("Content-ID: <c>", b""),
    ]);
    let p = split_http_body(CT, &body).unwrap();
    assert_eq!(&*p.xml, b"<x/>");
    assert_eq!(&*p.parts["a"].data, b"hello");
    assert_eq!(p.parts["a"].content_type, "application/octet-stream");
    assert_eq!(&*p.parts["b"].data, b"a=bc");
    assert_eq!(p.parts["b"].content_type, "text/plain");
    assert_eq!(&*p.parts["c"].data, b"");
    assert_eq!(p.parts.len(), 3);
    // SOAP with attachments: a text/xml root is accepted (not MTOM).
    let body = multipart(&[("Content-Type: text/xml; charset=utf-8", b"<y/>")]);
    let p = split_http_body("multipart/related; boundary=\"B\"", &body).unwrap();
    assert!(!p.mtom);
    assert_eq!(&*p.xml, b"<y/>");
}

#[test]
fn malformed_multipart_bodies() {
    let ok_root: (&str, &[u8]) = (ROOT, b"<x/>");
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (
            "multipart/related".into(),
            multipart(&[ok_root]),
            "without a boundary",
        ),
        (CT.into(), b"no boundary here".to_vec(), "does not occur"),
        (
            CT.into(),
            b"--B\r\nContent-ID: <root>\r\n\r\n<x/>".to_vec(),
            "closing boundary",
        ),
        (
            CT.into(),
            b"--B\r\nContent-ID: <root>".to_vec(),
            "not terminated",
        ),
        (CT.into(), b"--Bx\r\n--B--".to_vec(), "no parts"),
        (
            CT.into(),
            multipart(&[
                ok_root,
                ("Content-ID: <d>", b"1"),
                ("Content-ID: <d>", b"2"),
            ]),
            "used by two parts",
        ),
        (
            CT.replace("<root>", "<other>"),
            multipart(&[ok_root]),
            "no part has the start Content-ID <other>",
        ),
        (
            CT.into(),
            multipart(&[
                (ROOT, b"<x/>"),
                (
                    "Content-ID: <e>\r\nContent-Transfer-Encoding: base64",
                    b"!!",
                ),
            ]),
            "base64 part",
        ),
        (
            CT.into(),
            multipart(&[
                (ROOT, b"<x/>"),
                (
                    "Content-ID: <e>\r\nContent-Transfer-Encoding: x-uuencode",
                    b"",
                ),
            ]),
            "unsupported Content-Transfer-Encoding",
        ),
        (
            CT.into(),
            multipart(&[(ROOT, b"<x/>"), ("no colon", b"")]),
            "malformed part header",
        ),
        (
            CT.into(),
            multipart(&[(" folded first", b"")]),
            "continuation line",
        ),
        (
            CT.into(),
            b"--B junk\r\n\r\n--B--".to_vec(),
            "not followed by a line end",
        ),
    ];
    for (ct, body, expected) in cases {
        let err = split_http_body(&ct, &body).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} does not contain {expected:?}"
        );
    }
    let wrong_root = multipart(&[("Content-Type: image/png\r\nContent-ID: <root>", b"x")]);
    assert!(matches!(
        split_http_body(CT, &wrong_root),
        Err(WireError::UnsupportedContentType(_))
    ));
    let latin = multipart(&[(
        "Content-Type: application/xop+xml; charset=ISO-8859-1\r\nContent-ID: <root>",
        b"x",
    )]);
    assert!(matches!(
        split_http_body(CT, &latin),
        Err(WireError::UnsupportedCharset(_))
    ));
    let parts: Vec<(&str, &[u8])> =
        std::iter::repeat_n(("Content-Type: text/plain", &b"x"[..]), 1001).collect();
    let err = split_http_body(CT, &multipart(&parts)).unwrap_err();
    assert!(err.to_string().contains("more than 1000 parts"), "{err}");
    let huge_header = format!("X-Long: {}", "a".repeat(20_000));
    let err = split_http_body(CT, &multipart(&[(&huge_header, b"")])).unwrap_err();
    assert!(err.to_string().contains("header block is larger"), "{err}");
}

#[test]
fn soap_actions() {
    assert_eq!(
        soap_action_operation(Some("urn:SendRequest")),
        Some(Operation::SendRequest)
    );
    assert_eq!(
        soap_action_operation(Some("\"urn:GetResponse\"")),
        Some(Operation::GetResponse)
    );
    assert_eq!(
        soap_action_operation(Some(" \"urn:Ack\" ")),
        Some(Operation::Ack)
    );
    assert_eq!(
        soap_action_operation(Some("urn:GetIncomingQueueStatistics")),
        Some(Operation::GetIncomingQueueStatistics)
    );
    assert_eq!(
        soap_action_operation(Some("GetStatus")),
        Some(Operation::GetStatus)
    );
    assert_eq!(soap_action_operation(Some("\"\"")), None);
    assert_eq!(soap_action_operation(Some("urn:Cancel")), None);
    assert_eq!(soap_action_operation(None), None);
    for op in Operation::ALL {
        assert_eq!(
            Operation::from_request_element(op.request_element()),
            Some(op)
        );
        assert_eq!(soap_action_operation(Some(op.soap_action())), Some(op));
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len());
        match rng.below(5) {
            0 => {
                out.truncate(at);
            }
            1 => {
                let end = (at + 1 + rng.below(40)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let junk: &[u8] = [
                    &b"<"[..],
                    b">",
                    b"&",
                    b"\"",
                    b"/",
                    b" x ",
                    b"\r\n",
                    b"--",
                    b"\xd0",
                    b"<a>",
                ][rng.below(10)];
                out.splice(at..at, junk.iter().copied());
            }
            3 => {
                if at < out.len() {
                    out[at] = rng.next() as u8;
                }
            }
            _ => {
                // Duplicate a slice (repeats elements).
                let end = (at + rng.below(200)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
        }
    }
    out
}

#[test]
fn mangled_input_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(data("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "xml") {
            inputs.push(read(path));
        }
    }
    let mtom = read(data("send-request-mtom-1.2.multipart"));
    let mtom_ct = "multipart/related; type=\"application/xop+xml\"; boundary=\"uuid:5c6d1a7e-mtom-boundary\"; start=\"<root.message@cxf.apache.org>\"";
    let mut decoded = 0;
    for round in 0..3000 {
        let (ct, original) = if round % 4 == 0 {
            (mtom_ct, &mtom)
        } else {
            ("text/xml; charset=utf-8", &inputs[round % inputs.len()])
        };
        let body = mutate(&mut rng, original);
        let Ok(payload) = split_http_body(ct, &body) else {
            continue;
        };
        let Ok(doc) = Document::parse(&payload.xml, Limits::default()) else {
            continue;
        };
        if decode_request(&doc, &payload.parts).is_ok() {
            decoded += 1;
        }
    }
    // Some mutations hit only ignorable places (white space, base64 padding-free spots…).
    assert!(decoded > 0);
}
