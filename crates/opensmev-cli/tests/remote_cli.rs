//! A whole consumer/provider exchange, and the administration, done only with `opensmev`
//! commands over the integration API of a running `opensmev serve --demo`: send, poll, ack,
//! respond, reject, status, messages search/show, token, user, audit, kinds, registry pull/push,
//! with their exit codes.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_opensmev")
}

struct Server {
    child: Child,
    url: String,
    tokens: HashMap<String, String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the demo server and reads its address and demo tokens from the banner.
fn start(data_dir: &Path) -> Server {
    let mut command = common::serve_command(Command::new(bin()), true, true, data_dir);
    command.stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let (address, tokens) = common::read_demo_banner(&mut child);
    Server {
        child,
        url: format!("http://{address}"),
        tokens,
    }
}

impl Server {
    /// `opensmev --lang en ARGS` with `OPENSMEV_URL` and the token of `holder`.
    fn run(&self, holder: &str, args: &[&str]) -> Output {
        self.run_with(holder, args, None)
    }

    fn run_with(&self, holder: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(bin());
        command
            .args(["--lang", "en"])
            .args(args)
            .env("OPENSMEV_URL", &self.url)
            .env("OPENSMEV_TOKEN", &self.tokens[holder])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().unwrap()
    }

    /// Runs with `--json`, expects exit 0 and returns the JSON printed.
    fn json(&self, holder: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(holder, &all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", show(&out)))
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_whole_exchange_and_its_administration_with_cli_commands_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let examples = dir.path().join("demo/examples/VS00001v001-PFR001");
    let request_xml = examples.join("request.xml");
    let response_xml = examples.join("response.xml");
    let request_xml = request_xml.to_str().unwrap();
    let response_xml = response_xml.to_str().unwrap();

    // Nothing waiting yet: exit code 3.
    let out = server.run("PFR01", &["poll", "requests"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));

    // The consumer sends; the bus signs as MFC01.
    let sent = server.json(
        "MFC01",
        &["send", "--content", request_xml, "--client-id", "cli-1"],
    );
    let request_id = sent["message_id"].as_str().unwrap().to_owned();
    assert_eq!(sent["recipient"], "PFR01");
    assert_eq!(sent["signed"], true);

    // The provider receives it (business XML to a file), acknowledges and answers.
    let received_file = dir.path().join("received.xml");
    let received = server.json(
        "PFR01",
        &[
            "poll",
            "requests",
            "--wait",
            "2",
            "--out",
            received_file.to_str().unwrap(),
        ],
    );
    assert_eq!(received["message_id"], request_id.as_str());
    assert_eq!(received["signatures"][0]["valid"], true, "{received}");
    let business = std::fs::read_to_string(&received_file).unwrap();
    assert!(business.contains("PersonalAccountRequest"), "{business}");
    let out = server.run("PFR01", &["ack", &request_id]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out).contains(&request_id));
    let answered = server.json(
        "PFR01",
        &["respond", &request_id, "--content", response_xml],
    );
    assert_eq!(answered["recipient"], "MFC01");

    // The consumer receives the answer (readable form) and acknowledges it.
    let out = server.run("MFC01", &["poll", "responses", "--wait", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let shown = text(&out);
    assert!(shown.contains("PersonalAccountResponse"), "{shown}");
    assert!(shown.contains("valid"), "{shown}");
    let response_id = answered["message_id"].as_str().unwrap();
    assert_eq!(
        server.run("MFC01", &["ack", response_id]).status.code(),
        Some(0)
    );

    // A second request, rejected with two reasons; the consumer sees them.
    let second = server.json("MFC01", &["send", "--content", request_xml]);
    let second_id = second["message_id"].as_str().unwrap().to_owned();
    let got = server.json("PFR01", &["poll", "requests", "--wait", "2"]);
    assert_eq!(got["message_id"], second_id.as_str());
    server.json("PFR01", &["ack", &second_id]);
    server.json(
        "PFR01",
        &[
            "reject",
            &second_id,
            "--reason",
            "NO_DATA:нет сведений",
            "--reason",
            "FAILURE:сбой",
        ],
    );
    let rejection = server.json("MFC01", &["poll", "responses", "--wait", "2"]);
    assert_eq!(rejection["content_kind"], "rejection");
    assert_eq!(rejection["rejections"][0]["code"], "NO_DATA");
    assert_eq!(rejection["rejections"][1]["code"], "FAILURE");
    server.json("MFC01", &["ack", rejection["message_id"].as_str().unwrap()]);

    // A refusal: exit code 1 with the problem on standard error.
    let out = server.run("PFR01", &["ack", &request_id]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SMEV-115"),
        "{}",
        show(&out)
    );
    // No token: a usage error, exit code 2.
    let mut command = Command::new(bin());
    let out = command
        .args(["--lang", "en", "messages", "search", "--url", &server.url])
        .env_remove("OPENSMEV_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    // The journal: search by client id, the timeline of the first request.
    let found = server.json("operator", &["messages", "search", "--client-id", "cli-1"]);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["message_id"], request_id.as_str());
    let out = server.run("operator", &["message", "show", &request_id]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let timeline = text(&out);
    for event in ["accepted", "delivered", "answered", "acked"] {
        assert!(timeline.contains(event), "{event} missing: {timeline}");
    }
    let out = server.run("MFC01", &["messages", "search"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out).contains(&request_id), "{}", show(&out));

    // Administration: a token for FNS01, used and revoked; an account; the catalogue; the audit.
    let made = server.json(
        "admin",
        &[
            "token", "create", "--name", "ФНС", "--role", "is", "--system", "FNS01",
        ],
    );
    let secret = made["secret"].as_str().unwrap().to_owned();
    let token_id = made["id"].as_str().unwrap().to_owned();
    let mut command = Command::new(bin());
    let out = command
        .args([
            "--lang",
            "en",
            "kinds",
            "--json",
            "--url",
            &server.url,
            "--token",
            &secret,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    server.json("admin", &["token", "revoke", &token_id]);
    let mut command = Command::new(bin());
    let out = command
        .args([
            "--lang",
            "en",
            "kinds",
            "--url",
            &server.url,
            "--token",
            &secret,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.token-revoked"));
    let tokens = server.json("admin", &["token", "list"]);
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == token_id.as_str() && t["revoked_at"].is_string())
    );

    let out = server.run_with(
        "admin",
        &[
            "user",
            "create",
            "ivanova",
            "--name",
            "Иванова А. А.",
            "--role",
            "operator",
            "--password-stdin",
            "--json",
        ],
        Some("очень-длинный-пароль\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    server.json("admin", &["user", "disable", "ivanova"]);
    let users = server.json("admin", &["user", "list"]);
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["login"] == "ivanova" && u["disabled"] == true)
    );
    let out = server.run("operator", &["user", "list"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an operator manages no accounts"
    );

    // The registry round trip: pull, push a change, the audit shows its diff.
    let pulled = dir.path().join("registry.toml");
    let out = server.run(
        "admin",
        &["registry", "pull", "--out", pulled.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text_before = std::fs::read_to_string(&pulled).unwrap();
    let changed =
        text_before.replacen("default_queue_quota = 1000", "default_queue_quota = 900", 1);
    assert_ne!(
        changed, text_before,
        "the demo registry has default_queue_quota = 1000"
    );
    std::fs::write(&pulled, &changed).unwrap();
    let pushed = server.json("admin", &["registry", "push", pulled.to_str().unwrap()]);
    assert_eq!(pushed["version"], 2);
    let out = server.run(
        "admin",
        &[
            "registry",
            "push",
            pulled.to_str().unwrap(),
            "--expect-version",
            "1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a stale version: {}",
        show(&out)
    );
    let out = server.run("auditor", &["audit", "--action", "registry.", "--full"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let audit = text(&out);
    assert!(audit.contains("-default_queue_quota = 1000"), "{audit}");
    assert!(audit.contains("+default_queue_quota = 900"), "{audit}");
    let out = server.run("auditor", &["audit"]);
    assert!(text(&out).contains("token.revoke"), "{}", show(&out));
}

const KIND_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:c="urn://opensmev/test/cli-kind/common"
           targetNamespace="urn://opensmev/test/cli-kind/1.0.0"
           elementFormDefault="qualified">
  <xs:import namespace="urn://opensmev/test/cli-kind/common" schemaLocation="../common/types.xsd"/>
  <xs:element name="CliRequest">
    <xs:complexType><xs:sequence><xs:element name="Inn" type="c:Inn"/></xs:sequence></xs:complexType>
  </xs:element>
  <xs:element name="CliResponse">
    <xs:complexType><xs:sequence><xs:element name="Found" type="xs:boolean"/></xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>
"#;

const COMMON_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           targetNamespace="urn://opensmev/test/cli-kind/common">
  <xs:simpleType name="Inn"><xs:restriction base="xs:string"><xs:pattern value="\d{10}"/></xs:restriction></xs:simpleType>
</xs:schema>
"#;

#[test]
fn the_registry_is_administered_with_cli_commands_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();

    // A participant and its system with a certificate made by `opensmev sig keygen`.
    let out = Command::new(bin())
        .args(["--lang", "en", "sig", "keygen", "--subject"])
        .arg("CN=ИС ЗАГС (тест), O=ЗАГС, OGRN=1027700000009, INN=7700000009")
        .args(["--out", &path("zags")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    server.json(
        "admin",
        &[
            "registry",
            "participant",
            "put",
            "1027700000009",
            "--name",
            "ЗАГС",
        ],
    );
    server.json(
        "admin",
        &[
            "registry",
            "system",
            "put",
            "ZAGS01",
            "--name",
            "ИС ЗАГС",
            "--owner",
            "1027700000009",
            "--certificate",
            &path("zags/cert.pem"),
            "--quota",
            "50",
        ],
    );
    let systems = server.json("operator", &["registry", "system", "list"]);
    let zags = systems
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["mnemonic"] == "ZAGS01")
        .expect("ZAGS01 listed");
    assert_eq!(zags["queue_quota"], 50);
    assert_eq!(zags["certificates"].as_array().unwrap().len(), 1);

    // A kind from a folder of XSD files importing a shared library by relative path.
    std::fs::create_dir_all(dir.path().join("xsd/request")).unwrap();
    std::fs::create_dir_all(dir.path().join("xsd/common")).unwrap();
    std::fs::write(dir.path().join("xsd/request/kind.xsd"), KIND_XSD).unwrap();
    std::fs::write(dir.path().join("xsd/common/types.xsd"), COMMON_XSD).unwrap();
    let ns = "urn://opensmev/test/cli-kind/1.0.0";
    let made = server.json(
        "admin",
        &[
            "registry",
            "kind",
            "put",
            "VS99999v001-ZAGS01",
            "--xsd",
            &path("xsd"),
            "--title",
            "Проверка ИНН (тест)",
            "--provider",
            "ZAGS01",
            "--request",
            &format!("{{{ns}}}CliRequest"),
            "--response",
            &format!("{{{ns}}}CliResponse"),
            "--request-entry",
            "request/kind.xsd",
        ],
    );
    assert_eq!(made["saved"], true, "{made}");
    let kinds = server.json("auditor", &["registry", "kind", "list"]);
    let kind = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "VS99999v001-ZAGS01")
        .expect("the kind is listed");
    assert_eq!(kind["files"].as_array().unwrap().len(), 2, "{kind}");

    // MFC01 may not ask for it yet; a grant makes it possible, and the XSD applies.
    let request = dir.path().join("cli-request.xml");
    std::fs::write(
        &request,
        format!("<CliRequest xmlns=\"{ns}\"><Inn>7700000001</Inn></CliRequest>"),
    )
    .unwrap();
    let out = server.run("MFC01", &["send", "--content", request.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SMEV-104"),
        "{}",
        show(&out)
    );
    let granted = server.json(
        "admin",
        &[
            "registry",
            "grant",
            "add",
            "--consumer",
            "MFC01",
            "--kind",
            "VS99999v001-ZAGS01",
            "--basis",
            "Соглашение № 1",
        ],
    );
    let grant_id = granted["id"].as_str().unwrap().to_owned();
    server.json("MFC01", &["send", "--content", request.to_str().unwrap()]);
    std::fs::write(
        &request,
        format!("<CliRequest xmlns=\"{ns}\">\n<Inn>77</Inn>\n</CliRequest>"),
    )
    .unwrap();
    let out = server.run("MFC01", &["send", "--content", request.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let refused = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        refused.contains("SMEV-102") && refused.contains("line 2"),
        "{refused}"
    );

    // Retire the kind: no more requests; remove the grant; the default quota.
    server.json(
        "admin",
        &[
            "registry",
            "kind",
            "patch",
            "VS99999v001-ZAGS01",
            "--status",
            "retired",
        ],
    );
    std::fs::write(
        &request,
        format!("<CliRequest xmlns=\"{ns}\"><Inn>7700000001</Inn></CliRequest>"),
    )
    .unwrap();
    let out = server.run("MFC01", &["send", "--content", request.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SMEV-103"),
        "{}",
        show(&out)
    );
    server.json("admin", &["registry", "grant", "remove", &grant_id]);
    let grants = server.json("admin", &["registry", "grant", "list"]);
    assert!(
        !grants
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == grant_id.as_str())
    );
    let quota = server.json("admin", &["registry", "default-quota", "700"]);
    let version = quota["version"].as_u64().unwrap();
    // A change based on an old version is refused.
    let out = server.run(
        "admin",
        &[
            "registry",
            "default-quota",
            "800",
            "--expect-version",
            &(version - 1).to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    // Certificate rotation with an overlap, and revocation, by SHA-1 from the listing.
    let out = Command::new(bin())
        .args(["--lang", "en", "sig", "keygen", "--subject"])
        .arg("CN=ИС ЗАГС (тест, новый), O=ЗАГС, OGRN=1027700000009, INN=7700000009")
        .args(["--out", &path("zags2")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let old = zags["certificates"][0]["sha1"].as_str().unwrap().to_owned();
    server.json(
        "admin",
        &[
            "registry",
            "certificate",
            "rotate",
            &old,
            &path("zags2/cert.pem"),
            "--until",
            "2099-01-01T00:00:00Z",
        ],
    );
    let systems = server.json("admin", &["registry", "system", "list"]);
    let zags = systems
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["mnemonic"] == "ZAGS01")
        .unwrap();
    let certificates = zags["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2, "{zags}");
    assert!(
        certificates
            .iter()
            .any(|c| c["sha1"] == old.as_str() && c["retiring_until"].is_string()),
        "{zags}"
    );
    server.json("admin", &["registry", "certificate", "revoke", &old]);

    // Every change is in the audit log, and an operator may change nothing.
    let out = server.run("auditor", &["audit", "--action", "registry."]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let audit = text(&out);
    assert!(audit.lines().count() >= 10, "{audit}");
    let out = server.run(
        "operator",
        &[
            "registry",
            "participant",
            "put",
            "1027700000010",
            "--name",
            "Нет",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}
