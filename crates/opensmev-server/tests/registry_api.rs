//! Registry administration over the integration API (`/api/v1/registry/…`) against the real
//! server: a kind of information uploaded as a ZIP and as `multipart/form-data` with a real
//! multi-file XSD set (EGISSO 10.23.I: the request's and the response's data in two files, in
//! folders), then messages of it sent and validated; a certificate rotated with an overlap
//! window (accepted before its end, refused after it as retired); a certificate revoked (refused
//! at once); optimistic concurrency with `If-Match`; every change in the audit log with its
//! diff.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use opensmev_testkit::TestBus;
use serde_json::{Value, json};

const KIND: &str = "VS00999v001-EGISSO";
const EGISSO: &str = "EGISSO_10.23.I-1.0.1";
const REQUEST_DATA: &str = "{urn://egisso-ru/types/livingwage-request/1.0.1}requestData";
const RESPONSE_DATA: &str = "{urn://egisso-ru/types/livingwage-response/1.0.1}data";
const REQUEST_FILE: &str = "schemas/egisso/livingwage-request-1.0.1.xsd";
const RESPONSE_FILE: &str = "schemas/egisso/livingwage-response-1.0.1.xsd";

fn vs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../opensmev-schema/tests/data/vs")
        .join(EGISSO)
}

/// Every file under `dir`: (relative path with `/`, bytes), sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        writer.start_file(name.as_str(), options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A `multipart/form-data` body: text fields, then file parts `(field, file name, bytes)`.
fn form(fields: &[(&str, &str)], files: &[(&str, String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "opensmev-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    for (field, file_name, bytes) in files {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The business data inside a real example (`requestData` of the request, `data` of the
/// response), with the namespace declarations of the example's root.
fn business_data(example: &str) -> String {
    let text = std::fs::read_to_string(vs_dir().join("examples").join(example)).unwrap();
    let root_start = text.find("<ns:").unwrap();
    let root_end = root_start + text[root_start..].find('>').unwrap();
    let declarations: String = text[root_start..root_end]
        .split_whitespace()
        .filter(|a| a.starts_with("xmlns:") && !a.starts_with("xmlns:ns="))
        .map(|a| format!(" {}", a.trim_end_matches('/')))
        .collect();
    let inner_start = root_end + 1 + text[root_end + 1..].find('<').unwrap();
    let inner_end = text.rfind("</ns:").unwrap();
    let inner = text[inner_start..inner_end].trim();
    let name_end = inner.find(|c: char| c.is_whitespace() || c == '>').unwrap();
    format!("{}{declarations}{}", &inner[..name_end], &inner[name_end..])
}

struct Reply {
    status: u16,
    etag: Option<String>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        self.json()
    }

    fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["code"], code, "{}", self.text);
        body
    }
}

struct Api {
    http: reqwest::Client,
    bus: TestBus,
}

impl Api {
    async fn start() -> Api {
        Api {
            http: reqwest::Client::new(),
            bus: TestBus::start().await,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        holder: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.bus.url(path)).header(
            "Authorization",
            format!("Bearer {}", self.bus.token(holder)),
        );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("Content-Type", content_type).body(bytes);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Reply {
            status,
            etag,
            text: response.text().await.unwrap(),
        }
    }

    async fn json(&self, method: &str, path: &str, holder: &str, value: Value) -> Reply {
        let bytes = serde_json::to_vec(&value).unwrap();
        self.call(method, path, holder, &[], Some(("application/json", bytes)))
            .await
    }

    async fn get(&self, path: &str, holder: &str) -> Reply {
        self.call("GET", path, holder, &[], None).await
    }

    /// Sends `business` as a request of `holder`'s system; the reply.
    async fn send_request(&self, holder: &str, business: &str) -> Reply {
        self.json(
            "POST",
            "/api/v1/requests",
            holder,
            json!({ "business_xml": business }),
        )
        .await
    }

    /// The newest audit entry of an action.
    async fn audited(&self, action: &str) -> Value {
        let page = self
            .get(&format!("/api/v1/audit?action={action}&limit=1"), "admin")
            .await
            .ok(200);
        page["items"][0].clone()
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_kind_uploaded_as_zip_and_as_a_form_then_its_messages_validated() {
    let api = Api::start().await;
    let files = tree(&vs_dir());
    assert!(files.len() >= 10, "{}", files.len());

    // As a ZIP: the fields in the query, two entry points (request and response data files).
    let query = [
        ("title", "Прожиточный минимум (ЕГИССО 10.23.I)"),
        ("provider", "PFR01"),
        ("request", REQUEST_DATA),
        ("responses", RESPONSE_DATA),
        ("version", "1.0.1"),
        ("request_entry", REQUEST_FILE),
        ("response_entry", RESPONSE_FILE),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let path = format!("/api/v1/registry/kinds/{KIND}?{query}");
    let before = api.get("/api/v1/registry", "admin").await;
    let version: u64 = before
        .etag
        .as_deref()
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap();
    let reply = api
        .call(
            "PUT",
            &path,
            "admin",
            &[("If-Match", &format!("\"{version}\""))],
            Some(("application/zip", zip_of(&files))),
        )
        .await;
    let body = reply.ok(200);
    assert_eq!(body["version"], version + 1);
    assert_eq!(body["saved"], true);
    assert_eq!(
        reply.etag.as_deref(),
        Some(format!("\"{}\"", version + 1).as_str())
    );
    let ignored: Vec<&str> = body["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ignored.len(), 4, "{ignored:?}");
    // The same If-Match again is stale now.
    api.call(
        "PUT",
        &path,
        "admin",
        &[("If-Match", &format!("\"{version}\""))],
        Some(("application/zip", zip_of(&files))),
    )
    .await
    .problem(409, "api.registry-conflict");
    let audit = api.audited("registry.kind.put").await;
    assert!(
        audit["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("kind {KIND} added (version 1.0.1, 6 XSD file(s))")),
        "{audit}"
    );
    assert!(audit["detail"].as_str().unwrap().contains("+request_entry"));

    let kinds = api.get("/api/v1/registry/kinds", "operator").await.ok(200);
    let kind = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == KIND)
        .unwrap();
    assert_eq!(kind["entry_points"], json!([REQUEST_FILE, RESPONSE_FILE]));
    assert_eq!(kind["files"].as_array().unwrap().len(), 6);

    // A grant, then a message of the kind: the real request data is accepted, altered data is
    // refused by the XSD.
    let grant = api
        .json(
            "POST",
            "/api/v1/registry/grants",
            "admin",
            json!({"consumer": "MFC01", "kind": KIND, "basis": "Соглашение № 1",
                   "valid_from": "2024-01-01"}),
        )
        .await
        .ok(200);
    assert!(grant["id"].as_str().unwrap().len() == 16, "{grant}");
    let request = business_data("etalon-1-Request.xml");
    let accepted = api.send_request("MFC01", &request).await.ok(201);
    let request_id = accepted["message_id"].as_str().unwrap().to_owned();
    let invalid = request.replace("2019-01-01", "01.01.2019");
    let refused = api
        .send_request("MFC01", &invalid)
        .await
        .problem(422, "SMEV-102");
    assert!(
        refused["errors"][0]["message"].as_str().is_some(),
        "{refused}"
    );
    // The provider receives it and answers with the real response data (the other entry point).
    let delivered = api
        .call("POST", "/api/v1/inbox/requests/next", "PFR01", &[], None)
        .await
        .ok(200);
    assert_eq!(delivered["message_id"], request_id.as_str());
    api.json(
        "POST",
        &format!("/api/v1/requests/{request_id}/response"),
        "PFR01",
        json!({ "business_xml": business_data("etalon-1-Response.xml") }),
    )
    .await
    .ok(201);

    // A new version as a form: files named by their paths, the main file first, the message
    // roots (both in the main file), fields as form fields.
    let mut parts: Vec<(&str, String, Vec<u8>)> = files
        .iter()
        .filter(|(n, _)| n.ends_with(".xsd"))
        .map(|(n, b)| ("file", n.clone(), b.clone()))
        .collect();
    parts.sort_by_key(|(_, n, _)| n != "10.23.I-1.0.1.xsd");
    let (content_type, body) = form(
        &[
            ("request", "{urn://egisso-ru/msg/10.23.I/1.0.1}request"),
            ("responses", "{urn://egisso-ru/msg/10.23.I/1.0.1}response"),
            ("version", "1.0.2"),
        ],
        &parts,
    );
    let body = api
        .call(
            "PUT",
            &format!("/api/v1/registry/kinds/{KIND}"),
            "admin",
            &[],
            Some((&content_type, body)),
        )
        .await
        .ok(200);
    assert_eq!(body["saved"], true);
    let kinds = api.get("/api/v1/registry/kinds", "auditor").await.ok(200);
    let kind = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == KIND)
        .unwrap();
    assert_eq!(kind["version"], "1.0.2");
    assert_eq!(
        kind["title"], "Прожиточный минимум (ЕГИССО 10.23.I)",
        "kept"
    );
    assert_eq!(
        kind["entry_points"],
        json!(["10.23.I-1.0.1.xsd", "10.23.I-1.0.1.xsd"])
    );
    let whole = std::fs::read_to_string(vs_dir().join("examples/etalon-2-Request.xml")).unwrap();
    let whole = whole.trim_start_matches(|c| c != '<');
    let whole = &whole[whole.find("?>").map_or(0, |i| i + 2)..];
    api.send_request("MFC01", whole.trim()).await.ok(201);

    // A set that reaches outside itself is refused, naming the file and the location.
    let hostile = "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" targetNamespace=\"urn:x\">\
        <xs:import namespace=\"urn:y\" schemaLocation=\"../../etc/passwd\"/>\
        <xs:element name=\"R\" type=\"xs:string\"/></xs:schema>";
    let (content_type, body) = form(
        &[
            ("title", "Hostile"),
            ("provider", "PFR01"),
            ("request", "{urn:x}R"),
            ("responses", "{urn:x}S"),
        ],
        &[("file", "request/r.xsd".into(), hostile.as_bytes().to_vec())],
    );
    let problem = api
        .call(
            "PUT",
            "/api/v1/registry/kinds/VS-HOSTILE",
            "admin",
            &[],
            Some((&content_type, body)),
        )
        .await
        .problem(422, "api.registry-invalid");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("'request/r.xsd' refers to '../../etc/passwd'"),
        "{detail}"
    );
    // A ZIP that escapes its folder is refused before anything is compiled.
    let evil = zip_of(&[("../evil.xsd".to_owned(), hostile.as_bytes().to_vec())]);
    api.call(
        "PUT",
        "/api/v1/registry/kinds/VS-HOSTILE?title=x&provider=PFR01&request=%7Burn%3Ax%7DR&responses=%7Burn%3Ax%7DR",
        "admin",
        &[],
        Some(("application/zip", evil)),
    )
    .await
    .problem(422, "api.registry-invalid");
    // Not an admin: refused.
    api.call(
        "PUT",
        &format!("/api/v1/registry/kinds/{KIND}"),
        "operator",
        &[],
        Some(("application/zip", zip_of(&files))),
    )
    .await
    .problem(403, "auth.forbidden");
    api.bus.stop().await;
}

/// The demo certificate of a system, as `GET /api/v1/registry/systems` lists it.
async fn certificates(api: &Api, mnemonic: &str) -> Vec<Value> {
    let systems = api.get("/api/v1/registry/systems", "admin").await.ok(200);
    systems
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["mnemonic"] == mnemonic)
        .unwrap()["certificates"]
        .as_array()
        .unwrap()
        .clone()
}

fn new_certificate(cn: &str) -> String {
    opensmev_crypto::generate_test_identity(&opensmev_crypto::TestIdentityParams::new(
        opensmev_crypto::SignatureAlgorithm::EcdsaP256Sha256,
        format!("CN={cn}"),
    ))
    .unwrap()
    .cert_pem
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_works_until_the_end_of_its_overlap() {
    let api = Api::start().await;
    let request = api.bus.example("VS00001v001-PFR001", "request.xml");
    let old = certificates(&api, "MFC01").await;
    assert_eq!(old.len(), 1);
    let old_id = old[0]["id"].as_str().unwrap().to_owned();
    // The overlap ends a few seconds from now (the server's clock is the system clock).
    let until = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let until_text = until
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let rotated = api
        .json(
            "POST",
            &format!("/api/v1/registry/certificates/{old_id}/rotation"),
            "admin",
            json!({"certificate": new_certificate("MFC01 2027"), "until": until_text}),
        )
        .await
        .ok(200);
    let new_id = rotated["id"].as_str().unwrap();
    let listed = certificates(&api, "MFC01").await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], new_id);
    assert_eq!(listed[1]["id"], old_id.as_str());
    assert_eq!(listed[1]["retiring_until"], until_text.as_str());
    let audit = api.audited("registry.certificate.rotate").await;
    assert!(
        audit["detail"]
            .as_str()
            .unwrap()
            .contains("the old one is accepted until"),
        "{audit}"
    );
    // The bus still signs for MFC01 with the old key: accepted within the overlap…
    api.send_request("MFC01", &request).await.ok(201);
    // … and refused as retired once it has ended.
    let wait = until - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
    let refused = api
        .send_request("MFC01", &request)
        .await
        .problem(403, "SMEV-101");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("retired for MFC01 at {until_text}")),
        "{detail}"
    );
    // An overlap that ended already is refused.
    api.json(
        "POST",
        &format!("/api/v1/registry/certificates/{new_id}/rotation"),
        "admin",
        json!({"certificate": new_certificate("MFC01 2028"), "until": "2020-01-01T00:00:00Z"}),
    )
    .await
    .problem(422, "api.registry-invalid");
    api.bus.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_is_refused_at_once_and_the_registry_resources_answer() {
    let api = Api::start().await;
    let request = api.bus.example("VS00001v001-PFR001", "request.xml");
    api.send_request("MFC01", &request).await.ok(201);
    let old = certificates(&api, "MFC01").await;
    let sha1 = old[0]["sha1"].as_str().unwrap().to_owned();
    // The only certificate of a system whose signatures are required is kept.
    api.call(
        "DELETE",
        &format!("/api/v1/registry/certificates/{sha1}"),
        "admin",
        &[],
        None,
    )
    .await
    .problem(409, "api.registry-in-use");
    let spare = new_certificate("MFC01 spare");
    api.json(
        "POST",
        "/api/v1/registry/systems/MFC01/certificates",
        "admin",
        json!({ "certificate": spare }),
    )
    .await
    .ok(200);
    api.json(
        "POST",
        "/api/v1/registry/systems/MFC01/certificates",
        "admin",
        json!({ "certificate": spare }),
    )
    .await
    .problem(409, "api.exists");
    api.call(
        "DELETE",
        &format!("/api/v1/registry/certificates/{sha1}"),
        "admin",
        &[],
        None,
    )
    .await
    .ok(200);
    let refused = api
        .send_request("MFC01", &request)
        .await
        .problem(403, "SMEV-101");
    assert!(
        !refused["detail"].as_str().unwrap().contains("retired"),
        "{refused}"
    );
    let audit = api.audited("registry.certificate.revoke").await;
    assert_eq!(audit["actor"].as_str().map(|a| a.is_empty()), Some(false));
    assert!(
        audit["detail"].as_str().unwrap().contains("revoked"),
        "{audit}"
    );

    // Participants, systems, quotas, grants.
    api.json(
        "PUT",
        "/api/v1/registry/participants/1027700000099",
        "admin",
        json!({"name": "Новый участник", "inn": "7700000099"}),
    )
    .await
    .ok(200);
    api.json(
        "PUT",
        "/api/v1/registry/systems/NEW01",
        "admin",
        json!({"name": "Новая ИС", "owner": "1027700000099", "signature": "optional",
               "queue_quota": 5}),
    )
    .await
    .ok(200);
    api.json(
        "PUT",
        "/api/v1/registry/systems/NEW02",
        "admin",
        json!({"name": "Без владельца", "owner": "0"}),
    )
    .await
    .problem(422, "api.registry-invalid");
    api.call(
        "DELETE",
        "/api/v1/registry/participants/1027700000099",
        "admin",
        &[],
        None,
    )
    .await
    .problem(409, "api.registry-in-use");
    api.json(
        "PUT",
        "/api/v1/registry/systems/NEW01/quota",
        "admin",
        json!({ "queue_quota": null }),
    )
    .await
    .ok(200);
    api.json(
        "PUT",
        "/api/v1/registry/default-quota",
        "admin",
        json!({ "queue_quota": 2000 }),
    )
    .await
    .ok(200);
    let systems = api.get("/api/v1/registry/systems", "auditor").await.ok(200);
    let new = systems
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["mnemonic"] == "NEW01")
        .unwrap();
    assert_eq!(new["queue_quota"], 2000);
    assert_eq!(new["own_quota"], false);
    let grant = api
        .json(
            "POST",
            "/api/v1/registry/grants",
            "admin",
            json!({"consumer": "NEW01", "kind": "VS00001v001-PFR001", "basis": "Тест"}),
        )
        .await
        .ok(200);
    let id = grant["id"].as_str().unwrap();
    let grants = api.get("/api/v1/registry/grants", "operator").await.ok(200);
    assert!(
        grants
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == id && g["in_force"] == true)
    );
    api.call(
        "DELETE",
        &format!("/api/v1/registry/grants/{id}"),
        "admin",
        &[],
        None,
    )
    .await
    .ok(200);
    api.call(
        "DELETE",
        "/api/v1/registry/systems/NEW01",
        "admin",
        &[],
        None,
    )
    .await
    .ok(200);
    api.call(
        "DELETE",
        "/api/v1/registry/participants/1027700000099",
        "admin",
        &[],
        None,
    )
    .await
    .ok(200);
    let participants = api
        .get("/api/v1/registry/participants", "operator")
        .await
        .ok(200);
    assert!(
        participants
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["ogrn"] != "1027700000099")
    );
    // The life cycle of a kind.
    api.json(
        "PATCH",
        "/api/v1/registry/kinds/VS00003v001-FNS002",
        "admin",
        json!({"status": "deprecated", "sunset": "2030-12-31", "successor": "VS00002v001-FNS001"}),
    )
    .await
    .ok(200);
    let catalogue = api.get("/api/v1/kinds", "MFC01").await.ok(200);
    let deprecated = catalogue
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "VS00003v001-FNS002")
        .unwrap();
    assert_eq!(deprecated["status"], "deprecated");
    assert_eq!(deprecated["sunset"], "2030-12-31");
    api.json(
        "PATCH",
        "/api/v1/registry/kinds/VS00003v001-FNS002",
        "admin",
        json!({"sunset": null, "status": "active"}),
    )
    .await
    .ok(200);
    api.json(
        "PATCH",
        "/api/v1/registry/kinds/NO-SUCH-KIND",
        "admin",
        json!({"status": "retired"}),
    )
    .await
    .problem(404, "api.not-found");
    // The whole document still exports and reads back.
    let exported = api.get("/api/v1/registry", "auditor").await;
    assert_eq!(exported.status, 200);
    assert!(exported.text.contains("MFC01"));
    api.bus.stop().await;
}
