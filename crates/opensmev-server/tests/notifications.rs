//! The cabinet's e-mail notifications through a real SMTP server (Debian's `python3-aiosmtpd`,
//! writing a Maildir): a request assigned to a department, a deadline near, an answer arrived —
//! each to the users who asked for it, once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opensmev_testkit::TestBus;
use serde_json::{Value, json};

/// The Python with aiosmtpd (Debian's; a pyenv Python on PATH may lack it).
const PYTHON: &str = "/usr/bin/python3";

struct Smtp {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp() -> Smtp {
    let maildir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let made = Command::new(PYTHON)
        .args(["-c", "import mailbox, sys; mailbox.Maildir(sys.argv[1])"])
        .arg(maildir.path().join("mail"))
        .status()
        .expect("python3 (install python3-aiosmtpd: scripts/install-deps.sh)");
    assert!(made.success());
    let child = Command::new(PYTHON)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("mail"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd (Debian's python3-aiosmtpd; scripts/install-deps.sh installs it)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Smtp {
        child,
        port,
        maildir,
    }
}

/// Every message in the Maildir: (to, subject, body), decoded by Python's `email` package.
fn mails(dir: &Path) -> Vec<(String, String, String)> {
    let script = r#"
import json, mailbox, sys
out = []
for m in mailbox.Maildir(sys.argv[1], factory=None, create=False):
    import email, email.policy
    msg = email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
    out.append([str(msg["To"]), str(msg["Subject"]), msg.get_content()])
print(json.dumps(out))
"#;
    let output = Command::new(PYTHON)
        .args(["-c", script])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Vec<(String, String, String)> = serde_json::from_slice(&output.stdout).unwrap();
    parsed
}

async fn wait_for(
    dir: &Path,
    what: impl Fn(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    let started = Instant::now();
    loop {
        let all = mails(dir);
        if what(&all) {
            return all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the expected mail did not come: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn post(bus: &TestBus, path: &str, token: &str, body: Value) -> Value {
    let reply = reqwest::Client::new()
        .post(format!("{}{path}", bus.origin))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let value: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

async fn prefs(bus: &TestBus, login: &str, text: &str) {
    let audit = opensmev_store::NewAuditEntry {
        at: time::OffsetDateTime::now_utc(),
        actor: login.into(),
        action: "user.notifications".into(),
        target: login.into(),
        detail: String::new(),
    };
    bus.store
        .save_settings(
            &format!("user/{login}"),
            text.to_owned(),
            None,
            time::OffsetDateTime::now_utc(),
            audit,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_go_to_who_asked_once() {
    let smtp = smtp();
    let port = smtp.port;
    let bus = TestBus::start_with(move |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.notify_interval_ms = 200;
    })
    .await;
    prefs(&bus, "pfr01", "email = \"pfr01@pfr.example\"\nassigned = true\ndeadlines = true\ndepartments = [\"accounts\"]\n").await;
    prefs(
        &bus,
        "mfc01",
        "email = \"mfc01@mfc.example\"\nanswers = true\n",
    )
    .await;
    prefs(
        &bus,
        "fns01",
        "email = \"fns01@fns.example\"\ndeadlines = true\ndepartments = [\"egrul\"]\n",
    )
    .await;

    // A PFR request whose SNILS the rules give to the "accounts" department (5 working days:
    // no deadline notice), and an EGRUL request (a 4-hour deadline: near at once).
    let pfr = post(&bus, "/api/v1/requests", bus.token("MFC01"), json!({"business_xml":
        "<PersonalAccountRequest xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><FamilyName>Иванов</FamilyName><FirstName>Иван</FirstName><BirthDate>1980-05-17</BirthDate></PersonalAccountRequest>"})).await;
    let pfr_id = pfr["message_id"].as_str().unwrap().to_owned();
    let egrul = post(&bus, "/api/v1/requests", bus.token("MFC01"), json!({"business_xml":
        "<EgrulExtractRequest xmlns=\"urn://opensmev/demo/egrul-extract/1.0.0\"><Inn>7707083893</Inn></EgrulExtractRequest>"})).await;
    let egrul_id = egrul["message_id"].as_str().unwrap().to_owned();

    let dir = smtp.maildir.path().join("mail");
    let all = wait_for(&dir, |m| {
        m.iter().any(|(to, ..)| to.contains("pfr01@"))
            && m.iter().any(|(to, ..)| to.contains("fns01@"))
    })
    .await;
    let to_pfr: Vec<_> = all
        .iter()
        .filter(|(to, ..)| to.contains("pfr01@"))
        .collect();
    assert_eq!(to_pfr.len(), 1, "{all:#?}");
    assert!(
        to_pfr[0].1.starts_with("Новый запрос в подразделение"),
        "{:?}",
        to_pfr[0]
    );
    assert!(
        to_pfr[0].2.contains(&pfr_id) && to_pfr[0].2.contains(&format!("/messages/{pfr_id}")),
        "{:?}",
        to_pfr[0]
    );
    let to_fns: Vec<_> = all
        .iter()
        .filter(|(to, ..)| to.contains("fns01@"))
        .collect();
    assert_eq!(
        to_fns.len(),
        1,
        "only the deadline, fns01 did not ask for assignments: {all:#?}"
    );
    assert!(
        to_fns[0].1.starts_with("Истекает срок ответа"),
        "{:?}",
        to_fns[0]
    );
    assert!(to_fns[0].2.contains(&egrul_id));
    assert!(
        !all.iter().any(|(to, ..)| to.contains("mfc01@")),
        "no answer yet: {all:#?}"
    );

    // PFR01 answers: MFC01's operator hears of it.
    post(&bus, &format!("/api/v1/requests/{pfr_id}/response"), bus.token("PFR01"), json!({"business_xml":
        "<PersonalAccountResponse xmlns=\"urn://opensmev/demo/pfr-account/1.0.0\"><Snils>112-233-445 95</Snils><PensionPoints>42.5</PensionPoints><FormedAt>2026-12-07T10:00:00+03:00</FormedAt></PersonalAccountResponse>"})).await;
    let all = wait_for(&dir, |m| m.iter().any(|(to, ..)| to.contains("mfc01@"))).await;
    let to_mfc: Vec<_> = all
        .iter()
        .filter(|(to, ..)| to.contains("mfc01@"))
        .collect();
    assert!(
        to_mfc[0].1.starts_with("Получен ответ на запрос"),
        "{:?}",
        to_mfc[0]
    );
    assert!(to_mfc[0].2.contains(&pfr_id));

    // Several more rounds: nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = mails(&dir);
    assert_eq!(again.len(), 3, "each notice once: {again:#?}");
    bus.stop().await;
}
