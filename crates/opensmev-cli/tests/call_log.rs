//! The call log of the real `opensmev serve`: a refused call and an accepted one each get their
//! line, with the operation, the caller, the MessageID and — for the refusal — the fault code and
//! its reason; every line of the JSON format parses; SIGTERM stops the server cleanly.

use std::process::Command;

use opensmev_testkit::{SmevClient, new_message_id};
use opensmev_types::SchemaVersion;

mod common;

const VS: &str = "VS00001v001-PFR001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_has_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut child = common::serve_command(
        Command::new(env!("CARGO_BIN_EXE_opensmev")),
        true,
        true,
        dir.path(),
    )
    .env("OPENSMEV_LOG_FORMAT", "json")
    .env("OPENSMEV_NODE_NAME", "node-a")
    .env_remove("OPENSMEV_LOG")
    .env_remove("OPENSMEV_LANG")
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .expect("spawn opensmev serve");
    let (line, _rest) = common::read_banner(&mut child);
    let base = common::banner_url(&line)
        .trim_end_matches("/v1.1/ws")
        .to_owned();
    let demo = dir.path().join("demo");
    let consumer = SmevClient::for_demo(&base, &demo, "MFC01", SchemaVersion::V1_2);

    // Refused: an unsigned poll.
    let (t, b) = (consumer.types(), consumer.basic());
    let unsigned = consumer.envelope(&format!(
        "<ns2:GetRequestRequest xmlns:ns2=\"{t}\"><MessageTypeSelector xmlns=\"{b}\" Id=\"SIGNED_BY_CALLER\"><Timestamp>{}</Timestamp></MessageTypeSelector></ns2:GetRequestRequest>",
        opensmev_testkit::now_text()
    ));
    let refused = consumer.post("GetRequest", unsigned).await;
    assert_eq!(refused.status, 500);
    // Accepted: a signed request.
    let id = new_message_id();
    let request =
        std::fs::read_to_string(demo.join("examples").join(VS).join("request.xml")).unwrap();
    let accepted = consumer.send_request(&id, &request, "").await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);

    // SIGTERM: a clean stop.
    // SAFETY: kill with a pid this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "opensmev::access")
        .collect();
    let refusal = access
        .iter()
        .find(|l| l["span"]["op"] == "GetRequest")
        .unwrap_or_else(|| panic!("no line for the refused call:\n{text}"));
    assert_eq!(refusal["message"], "refused", "{refusal}");
    assert_eq!(refusal["status"], 500);
    assert_eq!(refusal["code"], "SMEV-100", "{refusal}");
    assert_eq!(refusal["fault"], "SignatureVerificationFault");
    assert!(
        refusal["reason"].as_str().unwrap().contains("ЭП-ОВ"),
        "{refusal}"
    );
    assert_eq!(refusal["span"]["node"], "node-a");
    assert_eq!(refusal["span"]["version"], "1.2");
    assert!(
        refusal["span"]["remote"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let answer = access
        .iter()
        .find(|l| l["span"]["op"] == "SendRequest")
        .unwrap_or_else(|| panic!("no line for the accepted call:\n{text}"));
    assert_eq!(answer["message"], "answered", "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["span"]["caller"], "MFC01", "{answer}");
    assert_eq!(answer["span"]["message_id"], id.as_str());
    assert!(
        answer["span"]["bytes_in"].as_u64().unwrap() > 1000,
        "{answer}"
    );
    assert!(
        answer["bytes_out"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 500
    );
    assert!(answer["duration_ms"].as_f64().is_some());
    assert!(
        lines.iter().any(|l| l["message"] == "stopped"),
        "a clean stop is logged:\n{text}"
    );
}
