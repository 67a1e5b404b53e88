//! Operating the bus, run as a user would run it: `opensmev registry …` refuses a data directory
//! without a store (creating nothing) and names the store it used; a restart with `--demo` keeps
//! a registry the user imported and `--reset-demo` brings the demo registry back; a listen
//! address in use stops `opensmev serve` with the ways to choose another.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

mod common;

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
        .env("OPENSMEV_LOG", "info");
    command
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run opensmev")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a stopped server printed.
struct Printed {
    stdout: String,
    stderr: String,
}

/// A running `opensmev serve`.
struct Server {
    child: Child,
    first_line: String,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Server {
    /// Starts `opensmev --lang en serve --listen 127.0.0.1:0 --data-dir DIR <extra>` and waits
    /// until it answers HTTP (its banner is printed by then).
    fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = common::serve_command(bin(), true, false, data_dir)
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn opensmev serve");
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stderr_pipe.read_to_string(&mut all);
            all
        });
        let (first_line, stdout) = common::read_banner(&mut child);
        let server = Server {
            child,
            first_line,
            stdout,
            stderr,
        };
        assert!(
            server.first_line.contains("http://"),
            "no banner: {:?}",
            server.first_line
        );
        common::wait_ready(&server.address());
        server
    }

    /// `host:port` from "OpenSMEV listening on http://127.0.0.1:PORT/smev/v1.1/ws, …".
    fn address(&self) -> String {
        common::address_of(common::banner_url(&self.first_line))
    }

    /// Stops the server (everything it stored was committed before it answered) and returns
    /// what it printed.
    fn stop(mut self) -> Printed {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Printed {
            stdout: format!("{}{}", self.first_line, self.stdout.join().unwrap()),
            stderr: self.stderr.join().unwrap(),
        }
    }
}

/// `opensmev registry export --data-dir DIR`: the registry text.
fn export(data_dir: &Path) -> String {
    let output = bin()
        .args(["registry", "export", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn registry_commands_refuse_a_directory_without_a_store_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-data");
    let registry = dir.path().join("registry.toml");
    std::fs::write(&registry, "default_queue_quota = 10\n").unwrap();

    // Import, Russian by default.
    let import = run(&[
        "registry",
        "import",
        registry.to_str().unwrap(),
        "--data-dir",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(import.status.code(), Some(2), "{}", text(&import.stderr));
    let stderr = text(&import.stderr);
    assert!(stderr.contains("нет хранилища OpenSMEV"), "{stderr}");
    assert!(stderr.contains("store/opensmev.db"), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
    assert!(!missing.exists(), "the data directory was created");

    // Export, in English.
    let export = run(&[
        "--lang",
        "en",
        "registry",
        "export",
        "--data-dir",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(export.status.code(), Some(2), "{}", text(&export.stderr));
    let stderr = text(&export.stderr);
    assert!(stderr.contains("holds no OpenSMEV store"), "{stderr}");
    assert!(export.stdout.is_empty());
    assert!(!missing.exists(), "the data directory was created");

    // A directory that exists but holds no store: refused as well, nothing created in it.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let refused = run(&["registry", "export", "--data-dir", empty.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn demo_keeps_an_imported_registry_and_reset_demo_brings_the_demo_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // First start: the demo registry goes into the new store.
    let first = Server::start(&data, &["--demo"]).stop();
    assert!(
        first
            .stderr
            .contains("the demo registry was written to the store"),
        "{}",
        first.stderr
    );
    assert!(!first.stdout.contains("--reset-demo"), "{}", first.stdout);
    let demo = std::fs::read_to_string(data.join("demo/registry.toml")).unwrap();
    assert_eq!(export(&data), demo);

    // The user imports their own registry, from another working directory with a relative
    // --data-dir: the command names the store it used, as an absolute path.
    let own = demo.replace("АИС МФЦ (демо)", "АИС МФЦ (свой реестр)");
    assert_ne!(own, demo);
    std::fs::write(dir.path().join("own.toml"), &own).unwrap();
    let import = bin()
        .current_dir(dir.path())
        .args(["registry", "import", "own.toml", "--data-dir", "data"])
        .output()
        .unwrap();
    assert!(import.status.success(), "{}", text(&import.stderr));
    assert!(
        text(&import.stdout).contains("Реестр сохранён, версия 2"),
        "{}",
        text(&import.stdout)
    );
    let store = std::fs::canonicalize(data.join("store/opensmev.db")).unwrap();
    assert!(
        text(&import.stderr).contains(&format!("хранилище: {}", store.display())),
        "{}",
        text(&import.stderr)
    );
    assert_eq!(export(&data), own);

    // A restart with --demo keeps it, and says so (log and banner).
    let kept = Server::start(&data, &["--demo"]).stop();
    assert!(
        kept.stderr
            .contains("keeping the stored registry (version 2)"),
        "{}",
        kept.stderr
    );
    assert!(
        kept.stdout.contains("in force (version 2)") && kept.stdout.contains("--reset-demo"),
        "{}",
        kept.stdout
    );
    assert_eq!(export(&data), own);

    // --reset-demo (which implies --demo) brings the demo registry back.
    let reset = Server::start(&data, &["--reset-demo"]).stop();
    assert!(
        reset
            .stderr
            .contains("the demo registry was written to the store"),
        "{}",
        reset.stderr
    );
    assert!(!reset.stdout.contains("--reset-demo"), "{}", reset.stdout);
    assert_eq!(export(&data), demo);

    // Export names the store too.
    let export = bin()
        .args(["--lang", "en", "registry", "export", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        text(&export.stderr).contains(&format!("store: {}", store.display())),
        "{}",
        text(&export.stderr)
    );
}

#[test]
fn a_busy_listen_address_names_the_ways_to_choose_another() {
    let dir = tempfile::tempdir().unwrap();
    let occupied = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = occupied.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    for (lang, expected) in [
        (
            "ru",
            [
                "адрес уже занят",
                "--listen",
                "OPENSMEV_LISTEN",
                "ключ listen",
            ],
        ),
        (
            "en",
            [
                "already in use",
                "--listen",
                "OPENSMEV_LISTEN",
                "listen key",
            ],
        ),
    ] {
        let output = bin()
            .args([
                "--lang",
                lang,
                "serve",
                "--demo",
                "--listen",
                &address,
                "--data-dir",
            ])
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&address), "{stderr}");
        for hint in expected {
            assert!(stderr.contains(hint), "{lang}: no {hint:?} in {stderr}");
        }
        assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    }
    // The address is checked first: nothing was written.
    assert!(!data.exists(), "the data directory was created");
    drop(occupied);
}
