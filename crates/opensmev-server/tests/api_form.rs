//! Sends through the integration API as `multipart/form-data`: the business XML and the options
//! as fields, attachments as file parts (a large one spooled to a file the store takes over),
//! delivered intact over REST and SOAP; a malformed form is a precise problem and stores nothing.

use opensmev_testkit::TestBus;
use opensmev_types::SchemaVersion;
use serde_json::Value;

const BOUNDARY: &str = "opensmev-form-test-boundary";
const VS: &str = "VS00001v001-PFR001";

enum Part<'a> {
    Field(&'a str, &'a str),
    File {
        name: &'a str,
        file_name: &'a str,
        content_type: &'a str,
        data: &'a [u8],
    },
}

fn form(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part {
            Part::Field(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(value.as_bytes());
            }
            Part::File {
                name,
                file_name,
                content_type,
                data,
            } => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(data);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_form(bus: &TestBus, holder: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(bus.url(path))
        .header("Authorization", format!("Bearer {}", bus.token(holder)))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post(bus: &TestBus, holder: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(bus.url(path))
        .header("Authorization", format!("Bearer {}", bus.token(holder)))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn spool_files(bus: &TestBus) -> Vec<String> {
    std::fs::read_dir(bus.data_dir.join("spool"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("api-"))
                .collect()
        })
        .unwrap_or_default()
}

fn large(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_send_with_attachments_arrives_intact_over_rest_and_soap() {
    let bus = TestBus::start().await;
    let request = bus.example(VS, "request.xml");
    let big = large(3 * 1024 * 1024 + 17);
    let small = b"%PDF-1.4 small".to_vec();
    let body = form(&[
        Part::Field("business_xml", &request),
        Part::Field("client_id", "form-1"),
        Part::Field("test_message", "true"),
        Part::File {
            name: "attachment",
            file_name: "scan",
            content_type: "application/pdf",
            data: &small,
        },
        Part::File {
            name: "attachment",
            file_name: "photo",
            content_type: "image/jpeg",
            data: &big,
        },
    ]);
    let (status, sent) = post_form(&bus, "MFC01", "/api/v1/requests", body).await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["client_id"], "form-1");
    let id = sent["message_id"].as_str().unwrap().to_owned();
    assert!(
        spool_files(&bus).is_empty(),
        "the store took the spooled part over: {:?}",
        spool_files(&bus)
    );

    // Over REST: both attachments, byte for byte.
    let (status, delivered) = post(&bus, "PFR01", "/api/v1/inbox/requests/next?wait=2").await;
    assert_eq!(status, 200, "{delivered}");
    assert_eq!(delivered["message_id"], id.as_str());
    assert_eq!(delivered["test_message"], true);
    let attachments = delivered["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{delivered}");
    use base64::Engine as _;
    for a in attachments {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a["data_base64"].as_str().unwrap())
            .unwrap();
        match a["id"].as_str().unwrap() {
            "scan" => {
                assert_eq!(bytes, small);
                assert_eq!(a["mime_type"], "application/pdf");
            }
            "photo" => {
                assert_eq!(bytes.len(), big.len());
                assert!(bytes == big, "the large attachment differs");
                assert_eq!(a["mime_type"], "image/jpeg");
            }
            other => panic!("unexpected attachment {other}"),
        }
    }
    assert_eq!(delivered["signatures"][0]["valid"], true, "{delivered}");

    // A second form send, received by a SOAP provider with its attachment.
    let body = form(&[
        Part::Field("business_xml", &request),
        Part::File {
            name: "attachment",
            file_name: "photo",
            content_type: "image/jpeg",
            data: &big,
        },
    ]);
    let (status, second) = post_form(&bus, "MFC01", "/api/v1/requests", body).await;
    assert_eq!(status, 201, "{second}");
    let provider = bus.client("PFR01", SchemaVersion::V1_2);
    let answer = provider.get_request(None).await;
    provider.check(&answer);
    assert_eq!(
        answer.find("MessageID").as_deref(),
        Some(second["message_id"].as_str().unwrap())
    );
    assert!(
        answer.has("AttachmentContent"),
        "the attachment travels over SOAP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_form_is_a_precise_problem_and_stores_nothing() {
    let bus = TestBus::start().await;
    let request = bus.example(VS, "request.xml");
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            form(&[
                Part::Field("business_xml", &request),
                Part::Field("colour", "red"),
            ]),
            400,
            "api.bad-form",
        ),
        (form(&[Part::Field("client_id", "x")]), 400, "api.bad-form"),
        (
            form(&[
                Part::Field("business_xml", &request),
                Part::File {
                    name: "attachment",
                    file_name: "",
                    content_type: "application/pdf",
                    data: b"x",
                },
            ]),
            400,
            "api.bad-form",
        ),
        (
            form(&[
                Part::Field("business_xml", &request),
                Part::Field("test_message", "maybe"),
            ]),
            422,
            "api.invalid-field",
        ),
        (
            form(&[Part::Field(
                "business_xml",
                "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\">\n<Snils>1</Snils>\n</PersonalAccountRequest>",
            )]),
            422,
            "SMEV-102",
        ),
        (b"--not-the-boundary\r\n\r\n".to_vec(), 400, "api.bad-form"),
    ];
    for (body, status, code) in cases {
        let (got, problem) = post_form(&bus, "MFC01", "/api/v1/requests", body).await;
        assert_eq!(got, status, "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
    }
    // A large attachment in a refused send leaves no spool file behind.
    let body = form(&[
        Part::Field(
            "business_xml",
            "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"/>",
        ),
        Part::File {
            name: "attachment",
            file_name: "photo",
            content_type: "image/jpeg",
            data: &large(2 * 1024 * 1024),
        },
    ]);
    let (got, problem) = post_form(&bus, "MFC01", "/api/v1/requests", body).await;
    assert_eq!(got, 422, "{problem}");
    assert!(spool_files(&bus).is_empty(), "{:?}", spool_files(&bus));
    let found = reqwest::Client::new()
        .get(bus.url("/api/v1/messages"))
        .header("Authorization", format!("Bearer {}", bus.token("admin")))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 0, "{found}");
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}
