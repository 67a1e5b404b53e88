//! `opensmev client …` run as a user would run it, against `opensmev serve --demo`: a full round
//! trip (send-request → get-request → ack → send-response → get-response → ack) made only with
//! client commands for each schema version; a reject; faults answered with exit code 1 and their
//! `SMEV-nnn` code; usage and transport errors with exit code 2; and the demo's ready-to-sign
//! envelopes, signed with the demo keys by `opensmev sig sign` and posted, accepted for every
//! operation and version.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use opensmev_client::SmevClient;
use opensmev_types::SchemaVersion;

mod common;

const REQUEST: &str = "examples/VS00001v001-PFR001/request.xml";
const RESPONSE: &str = "examples/VS00001v001-PFR001/response.xml";
const REQUEST_NS: &str = "urn://opensmev/demo/pfr-account/1.0.0";

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opensmev"));
    command
        .env_remove("OPENSMEV_LANG")
        .env_remove("OPENSMEV_CONFIG")
        .env_remove("OPENSMEV_DATA_DIR")
        .env_remove("OPENSMEV_LISTEN")
        .env_remove("OPENSMEV_REGISTRY_FILE")
        .env_remove("OPENSMEV_DEMO")
        .env_remove("OPENSMEV_LOG_FORMAT")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env("OPENSMEV_LOG", "warn");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `opensmev serve --demo` on a free loopback port.
struct Server {
    child: Child,
    address: String,
    data_dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = common::serve_command(bin(), false, true, data_dir.path())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn opensmev serve");
        let (first_line, _rest) = common::read_banner(&mut child);
        let address = common::address_of(common::banner_url(&first_line));
        common::wait_ready(&address);
        Server {
            child,
            address,
            data_dir,
        }
    }

    fn demo(&self) -> PathBuf {
        self.data_dir.path().join("demo")
    }

    fn url(&self, version: &str) -> String {
        format!("http://{}/smev/v{version}/ws", self.address)
    }

    /// `opensmev [--lang en] client <op> --url … --demo-dir … --as <mnemonic> <args>`.
    fn client(&self, lang_en: bool, op: &str, version: &str, mnemonic: &str, args: &[&str]) -> Run {
        let mut command = bin();
        if lang_en {
            command.args(["--lang", "en"]);
        }
        command
            .args(["client", op, "--url", &self.url(version), "--demo-dir"])
            .arg(self.demo())
            .args(["--as", mnemonic])
            .args(args);
        Run::of(command.output().expect("run opensmev client"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one command did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: text(&output.stdout),
            stderr: text(&output.stderr),
        }
    }

    /// Exit code 0, or a panic showing what was printed.
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }

    /// The value of the first printed line `label: value`.
    fn field(&self, label: &str) -> String {
        let prefix = format!("{label}: ");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {label:?} in {self:#?}"))
            .to_owned()
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_full_round_trip_made_only_with_client_commands_for_each_version() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let demo = server.demo();
    let request = demo.join(REQUEST);
    let response = demo.join(RESPONSE);
    for version in ["1.1", "1.2", "1.3"] {
        let got = work.path().join(format!("got-{version}.xml"));
        let answered = work.path().join(format!("answered-{version}.xml"));

        // MFC01 sends; the answer carries a fresh MessageID, queued for PFR01.
        let sent = server
            .client(
                false,
                "send-request",
                version,
                "MFC01",
                &["--content", path_arg(&request)],
            )
            .ok();
        let request_id = sent.field("MessageID");
        assert_eq!(request_id.len(), 36, "{sent:#?}");
        assert_eq!(sent.field("Отправитель"), "MFC01", "{sent:#?}");
        assert_eq!(sent.field("Получатель"), "PFR01", "{sent:#?}");
        assert_eq!(sent.field("Ответ"), "SendRequestResponse");

        // PFR01 takes it (selecting the type), saving the whole answer.
        let taken = server
            .client(
                true,
                "get-request",
                version,
                "PFR01",
                &[
                    "--type",
                    REQUEST_NS,
                    "PersonalAccountRequest",
                    "--out",
                    path_arg(&got),
                ],
            )
            .ok();
        assert_eq!(taken.field("MessageID"), request_id, "{taken:#?}");
        assert_eq!(taken.field("Sender"), "MFC01", "{taken:#?}");
        assert_eq!(
            taken.field("Business root"),
            format!("{{{REQUEST_NS}}}PersonalAccountRequest")
        );
        let reply_to = taken.field("ReplyTo");
        let saved = std::fs::read_to_string(&got).unwrap();
        assert!(
            saved.contains(&request_id) && saved.contains("SMEVSignature"),
            "{saved}"
        );

        // Ack and answer, both from the saved answer.
        let acked = server
            .client(
                false,
                "ack",
                version,
                "PFR01",
                &["--answer", path_arg(&got)],
            )
            .ok();
        assert_eq!(acked.field("Ответ"), "AckResponse");
        let answer = server
            .client(
                false,
                "send-response",
                version,
                "PFR01",
                &["--answer", path_arg(&got), "--content", path_arg(&response)],
            )
            .ok();
        let response_id = answer.field("MessageID");
        assert_ne!(response_id, request_id);
        assert_eq!(answer.field("Получатель"), "MFC01", "{answer:#?}");

        // Acknowledged once: a second ack of the same message is a fault (exit 1).
        let again = server.client(
            false,
            "ack",
            version,
            "PFR01",
            &["--message-id", &request_id],
        );
        assert_eq!(again.code, Some(1), "{again:#?}");
        assert_eq!(
            again.field("Ошибка СМЭВ"),
            "TargetMessageIsNotFound",
            "{again:#?}"
        );

        // MFC01 takes the response and acknowledges it.
        let delivered = server
            .client(
                false,
                "get-response",
                version,
                "MFC01",
                &["--out", path_arg(&answered)],
            )
            .ok();
        assert_eq!(delivered.field("MessageID"), response_id, "{delivered:#?}");
        assert_eq!(delivered.field("Ответ на"), request_id, "{delivered:#?}");
        assert_eq!(delivered.field("Отправитель"), "PFR01", "{delivered:#?}");
        server
            .client(
                false,
                "ack",
                version,
                "MFC01",
                &["--answer", path_arg(&answered)],
            )
            .ok();

        // Nothing is left for either side.
        let empty = server
            .client(true, "get-response", version, "MFC01", &[])
            .ok();
        assert_eq!(empty.field("Queue"), "empty", "{empty:#?}");
        let empty = server
            .client(false, "get-request", version, "PFR01", &[])
            .ok();
        assert_eq!(empty.field("Очередь"), "пуста", "{empty:#?}");
        assert!(!reply_to.is_empty());

        // Status notices and (1.1 only) queue statistics answer too.
        server
            .client(false, "get-status", version, "MFC01", &[])
            .ok();
        let statistics = server.client(false, "queue-statistics", version, "PFR01", &[]);
        if version == "1.1" {
            assert_eq!(statistics.code, Some(0), "{statistics:#?}");
        } else {
            assert_eq!(statistics.code, Some(2), "{statistics:#?}");
            assert!(statistics.stderr.contains("1.1"), "{statistics:#?}");
        }
    }
}

#[test]
fn a_reject_reaches_the_consumer_with_its_code_and_text() {
    let server = Server::start();
    let request = server.demo().join(REQUEST);
    let sent = server
        .client(
            false,
            "send-request",
            "1.2",
            "MFC01",
            &["--content", path_arg(&request)],
        )
        .ok();
    let request_id = sent.field("MessageID");
    let taken = server
        .client(false, "get-request", "1.2", "PFR01", &[])
        .ok();
    assert_eq!(taken.field("MessageID"), request_id);
    let reply_to = taken.field("ReplyTo");
    server
        .client(false, "ack", "1.2", "PFR01", &["--message-id", &request_id])
        .ok();

    // An unknown code is a usage error, nothing is sent.
    let wrong = server.client(
        false,
        "reject",
        "1.2",
        "PFR01",
        &["--to", &reply_to, "--reason", "NOT_A_CODE:нет"],
    );
    assert_eq!(wrong.code, Some(2), "{wrong:#?}");
    assert!(wrong.stderr.contains("NO_DATA"), "{wrong:#?}");

    let rejected = server
        .client(
            false,
            "reject",
            "1.2",
            "PFR01",
            &[
                "--to",
                &reply_to,
                "--reason",
                "NO_DATA:Сведения по СНИЛС не найдены",
                "--reason",
                "FAILURE:второй <повод> & ещё",
            ],
        )
        .ok();
    let rejection_id = rejected.field("MessageID");

    let delivered = server
        .client(true, "get-response", "1.2", "MFC01", &[])
        .ok();
    assert_eq!(delivered.field("MessageID"), rejection_id, "{delivered:#?}");
    assert_eq!(delivered.field("In reply to"), request_id, "{delivered:#?}");
    let reasons: Vec<&str> = delivered
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Rejected: "))
        .collect();
    assert_eq!(
        reasons,
        [
            "NO_DATA: Сведения по СНИЛС не найдены",
            "FAILURE: второй <повод> & ещё"
        ],
        "{delivered:#?}"
    );
}

#[test]
fn faults_exit_1_with_their_code_and_usage_errors_exit_2() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();

    // An unregistered kind of information: BusinessDataTypeIsNotSupported, SMEV-103.
    let unknown = work.path().join("unknown.xml");
    std::fs::write(
        &unknown,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Unknown xmlns=\"urn://example/unknown\"><A>1</A></Unknown>\n",
    )
    .unwrap();
    let out = work.path().join("fault.xml");
    for (lang_en, label) in [(false, "Код"), (true, "Code")] {
        let fault = server.client(
            lang_en,
            "send-request",
            "1.3",
            "MFC01",
            &["--content", path_arg(&unknown), "--out", path_arg(&out)],
        );
        assert_eq!(fault.code, Some(1), "{fault:#?}");
        assert_eq!(fault.field(label), "SMEV-103", "{fault:#?}");
        assert!(
            fault.stdout.contains("BusinessDataTypeIsNotSupported"),
            "{fault:#?}"
        );
        assert!(fault.stdout.contains("Unknown"), "{fault:#?}");
        let saved = std::fs::read_to_string(&out).unwrap();
        assert!(
            saved.contains("soap:Fault") || saved.contains(":Fault"),
            "{saved}"
        );
    }

    // The provider may not send a request it is not granted: a fault too.
    let request = server.demo().join(REQUEST);
    let denied = server.client(
        false,
        "send-request",
        "1.2",
        "FNS01",
        &["--content", path_arg(&request)],
    );
    assert_eq!(denied.code, Some(1), "{denied:#?}");
    assert_eq!(denied.field("Ошибка СМЭВ"), "AccessDenied", "{denied:#?}");

    // Usage errors: exit 2, a message on standard error, nothing on standard output.
    let no_identity = Run::of(
        bin()
            .args(["client", "get-status", "--url", &server.url("1.2")])
            .output()
            .unwrap(),
    );
    assert_eq!(no_identity.code, Some(2), "{no_identity:#?}");
    assert!(
        no_identity.stderr.contains("--demo-dir"),
        "{no_identity:#?}"
    );
    assert!(no_identity.stdout.is_empty());

    let no_version = Run::of(
        bin()
            .args(["--lang", "en", "client", "get-status", "--url"])
            .arg(format!("http://{}/elsewhere", server.address))
            .arg("--demo-dir")
            .arg(server.demo())
            .args(["--as", "MFC01"])
            .output()
            .unwrap(),
    );
    assert_eq!(no_version.code, Some(2), "{no_version:#?}");
    assert!(no_version.stderr.contains("--schema"), "{no_version:#?}");

    let unknown_is = server.client(false, "get-status", "1.2", "NOPE01", &[]);
    assert_eq!(unknown_is.code, Some(2), "{unknown_is:#?}");
    assert!(unknown_is.stderr.contains("NOPE01"), "{unknown_is:#?}");

    let bad_id = server.client(
        false,
        "ack",
        "1.2",
        "MFC01",
        &["--message-id", "not-a-uuid"],
    );
    // An ack's id goes to the bus as it is: the bus refuses it as a fault.
    assert_eq!(bad_id.code, Some(1), "{bad_id:#?}");

    let not_xml = work.path().join("not.xml");
    std::fs::write(&not_xml, "this is not XML").unwrap();
    let refused = server.client(
        true,
        "send-request",
        "1.2",
        "MFC01",
        &["--content", path_arg(&not_xml)],
    );
    assert_eq!(refused.code, Some(2), "{refused:#?}");
    assert!(refused.stderr.contains("one XML element"), "{refused:#?}");

    let bad_message_id = server.client(
        false,
        "send-request",
        "1.2",
        "MFC01",
        &["--content", path_arg(&request), "--message-id", "1234"],
    );
    assert_eq!(bad_message_id.code, Some(2), "{bad_message_id:#?}");
    assert!(
        bad_message_id.stderr.contains("UUID"),
        "{bad_message_id:#?}"
    );

    // Nobody listening: a transport error, exit 2.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let unreachable = Run::of(
        bin()
            .args(["client", "get-status", "--url"])
            .arg(format!("http://{closed}/smev/v1.2/ws"))
            .arg("--demo-dir")
            .arg(server.demo())
            .args(["--as", "MFC01"])
            .output()
            .unwrap(),
    );
    assert_eq!(unreachable.code, Some(2), "{unreachable:#?}");
    assert!(
        unreachable.stderr.contains("нет ответа от"),
        "{unreachable:#?}"
    );
}

/// Signs an envelope file with `opensmev sig sign` as a demo IS.
fn sign(demo: &Path, file: &Path, id: &str, mnemonic: &str) -> String {
    let output = bin()
        .args(["sig", "sign"])
        .arg(file)
        .args(["--id", id, "--key"])
        .arg(demo.join(mnemonic).join("key.pem"))
        .arg("--cert")
        .arg(demo.join(mnemonic).join("cert.pem"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn the_demo_envelopes_signed_with_the_demo_keys_are_accepted_for_every_operation_and_version() {
    let server = Server::start();
    let demo = server.demo();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    assert!(demo.join("examples/envelopes/README.txt").is_file());
    for version in SchemaVersion::ALL {
        let dir = demo.join("examples/envelopes").join(version.as_str());
        let client = |mnemonic: &str| {
            SmevClient::for_demo(
                &format!("http://{}/smev", server.address),
                &demo,
                mnemonic,
                version,
            )
        };
        let post = |mnemonic: &str, operation: &str, xml: String| {
            let client = client(mnemonic);
            let answer = runtime
                .block_on(client.try_post(operation, xml))
                .expect("HTTP");
            client
                .try_check(&answer)
                .unwrap_or_else(|e| panic!("{version:?} {operation}: {e}\n{}", answer.text));
            assert!(
                answer.fault().is_none(),
                "{version:?} {operation} refused:\n{}",
                answer.text
            );
            answer
        };
        let signed = |operation: &str, id: &str, mnemonic: &str| {
            sign(&demo, &dir.join(format!("{operation}.xml")), id, mnemonic)
        };

        let sent = post(
            "MFC01",
            "SendRequest",
            signed("SendRequest", "SIGNED_BY_CONSUMER", "MFC01"),
        );
        let request_id = sent.find("MessageId").unwrap();
        let taken = post(
            "PFR01",
            "GetRequest",
            signed("GetRequest", "SIGNED_BY_CALLER", "PFR01"),
        );
        assert_eq!(
            taken.find("MessageID").as_deref(),
            Some(request_id.as_str())
        );
        let reply_to = taken.find("ReplyTo").expect("ReplyTo");
        post("PFR01", "Ack", signed("Ack", "SIGNED_BY_CALLER", "PFR01"));

        // SendResponse once its To is filled in.
        let template = std::fs::read_to_string(dir.join("SendResponse.xml")).unwrap();
        assert!(template.contains(opensmev_server::demo::REPLY_TO_PLACEHOLDER));
        let filled = work
            .path()
            .join(format!("SendResponse-{}.xml", version.as_str()));
        std::fs::write(
            &filled,
            template.replace(opensmev_server::demo::REPLY_TO_PLACEHOLDER, &reply_to),
        )
        .unwrap();
        post(
            "PFR01",
            "SendResponse",
            sign(&demo, &filled, "SIGNED_BY_PROVIDER", "PFR01"),
        );

        let delivered = post(
            "MFC01",
            "GetResponse",
            signed("GetResponse", "SIGNED_BY_CALLER", "MFC01"),
        );
        assert!(
            delivered.has("PersonalAccountResponse"),
            "{}",
            delivered.text
        );
        let response_id = delivered.find("MessageID").unwrap();
        runtime.block_on(client("MFC01").ack(&response_id, true));
        post(
            "MFC01",
            "GetStatus",
            signed("GetStatus", "SIGNED_BY_CALLER", "MFC01"),
        );
        let statistics = dir.join("GetIncomingQueueStatistics.xml");
        assert_eq!(statistics.exists(), version == SchemaVersion::V1_1);
        if statistics.exists() {
            post(
                "PFR01",
                "GetIncomingQueueStatistics",
                signed("GetIncomingQueueStatistics", "SIGNED_BY_CALLER", "PFR01"),
            );
        }
    }
}
