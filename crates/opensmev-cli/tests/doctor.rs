//! `opensmev doctor`, run as a user would run it: a healthy installation passes (exit 0) and is
//! left untouched; warnings (a certificate about to expire, no store yet) give exit 1; failures
//! (a key not matching its certificate, an expired IS certificate, an address taken by another
//! program, a broken configuration) give exit 2, each with advice; an address served by a
//! running OpenSMEV is fine. Also: the sample production configuration lists every key and its
//! defaults are the real ones.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use opensmev_crypto::{SignatureAlgorithm, TestIdentityParams, generate_test_identity};
use time::{Duration, OffsetDateTime};

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opensmev"));
    for (key, _) in std::env::vars() {
        if key.starts_with("OPENSMEV_") {
            command.env_remove(key);
        }
    }
    command
}

fn doctor(config: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output: Output = bin()
        .args(extra)
        .arg("doctor")
        .arg("--config")
        .arg(config)
        .output()
        .expect("run opensmev doctor");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout)
}

/// A key pair valid from `from` to `until` days from now, written as key.pem / cert.pem in `dir`.
fn identity(dir: &Path, subject: &str, from: i64, until: i64) -> (PathBuf, PathBuf, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let now = OffsetDateTime::now_utc();
    let identity = generate_test_identity(&TestIdentityParams {
        not_before: now + Duration::days(from),
        not_after: now + Duration::days(until),
        ..TestIdentityParams::new(SignatureAlgorithm::Gost2012_256, subject)
    })
    .expect("generate a key");
    std::fs::create_dir_all(dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    std::fs::write(&key, &identity.key_pem).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&cert, &identity.cert_pem).unwrap();
    (key, cert, identity.cert_pem)
}

/// A registry of the demo systems with these certificates' validity (days from now, per
/// MFC01, PFR01, FNS01).
fn registry_text(dir: &Path, validity: [(i64, i64); 3]) -> String {
    let mut certificates = Vec::new();
    for (mnemonic, (from, until)) in ["MFC01", "PFR01", "FNS01"].into_iter().zip(validity) {
        let (_, _, pem) = identity(
            &dir.join(mnemonic),
            &format!("CN={mnemonic} test, O=Test"),
            from,
            until,
        );
        certificates.push((mnemonic, pem));
    }
    let file = opensmev_server::demo::registry(&certificates);
    opensmev_core::registry::Registry::build(file, 0)
        .expect("a valid registry")
        .to_toml()
}

/// Stores `registry` as the registry of a new store in `data_dir`.
fn store_with_registry(data_dir: &Path, registry: String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = opensmev_store_sqlite::SqliteStore::open(&data_dir.join("store")).unwrap();
        opensmev_store::Store::save_registry(
            &store,
            registry,
            None,
            true,
            OffsetDateTime::now_utc(),
            None,
        )
        .await
        .unwrap();
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An installation in `root`: a data directory with a store and a registry, the bus key valid
/// for `bus_days`, a free port. Returns the configuration file and the data directory.
fn installation(root: &Path, bus_days: i64) -> (PathBuf, PathBuf) {
    let data = root.join("data");
    let (key, cert, _) = identity(&root.join("bus"), "CN=OpenSMEV test, O=Test", -1, bus_days);
    let registry = registry_text(&root.join("systems"), [(-1, 400), (-1, 400), (-1, 400)]);
    store_with_registry(&data, registry);
    let config = root.join("opensmev.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\nsmev_key = {:?}\nsmev_cert = {:?}\n",
            free_port(),
            data.display().to_string(),
            key.display().to_string(),
            cert.display().to_string()
        ),
    )
    .unwrap();
    (config, data)
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            all.insert(entry.path(), (meta.len(), meta.modified().unwrap()));
        }
    }
    all
}

fn lines_starting<'a>(out: &'a str, label: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(label)).collect()
}

#[test]
fn a_healthy_installation_passes_and_is_left_untouched() {
    let root = tempfile::tempdir().unwrap();
    let (config, data) = installation(root.path(), 400);
    let before = snapshot(&data);
    let (code, out) = doctor(&config, &[]);
    assert_eq!(code, Some(0), "{out}");
    // Russian by default: every check OK, nothing else.
    let ok = lines_starting(&out, "ОК ");
    assert!(ok.len() >= 8, "{out}");
    assert!(
        !out.contains("ОШИБКА") && !out.contains("ВНИМАНИЕ"),
        "{out}"
    );
    for expected in [
        "Конфигурация",
        "Каталог данных",
        "Хранилище",
        "версия реестра 1",
        "Движок ГОСТ",
        "Ключ ЭП-СМЭВ",
        "Реестр: хранилище, версия 1: 3 ИС",
        "Адрес",
        "TLS",
        "Итог:",
    ] {
        assert!(out.contains(expected), "{expected:?} missing in:\n{out}");
    }
    assert_eq!(
        before,
        snapshot(&data),
        "the doctor changed the data directory"
    );
}

#[test]
fn failures_are_found_with_advice() {
    let root = tempfile::tempdir().unwrap();
    let (config, data) = installation(root.path(), 400);
    // The bus key of another pair, an IS certificate expired and one about to expire, and the
    // address taken by a program that is not OpenSMEV.
    let (other_key, _, _) = identity(&root.path().join("other"), "CN=Other, O=Test", -1, 400);
    std::fs::remove_dir_all(data.join("store")).unwrap();
    let registry = registry_text(
        &root.path().join("systems2"),
        [(-10, -1), (-1, 10), (-1, 400)],
    );
    store_with_registry(&data, registry);
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .lines()
        .map(|line| {
            if line.starts_with("listen") {
                format!("listen = \"127.0.0.1:{port}\"")
            } else if line.starts_with("smev_key") {
                format!("smev_key = {:?}", other_key.display().to_string())
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, text).unwrap();

    let (code, out) = doctor(&config, &["--lang", "en"]);
    assert_eq!(code, Some(2), "{out}");
    let fails = lines_starting(&out, "FAIL ");
    let warns = lines_starting(&out, "WARN ");
    let has = |lines: &[&str], parts: &[&str]| {
        lines
            .iter()
            .any(|l| parts.iter().all(|p| l.contains(p)) && l.contains("what to do:"))
    };
    assert!(
        has(&fails, &["Bus key", "does not match the certificate"]),
        "{out}"
    );
    assert!(
        has(&fails, &["Certificate of IS MFC01", "expired on"]),
        "{out}"
    );
    assert!(
        has(&warns, &["Certificate of IS PFR01", "expires on"]),
        "{out}"
    );
    assert!(
        has(
            &fails,
            &["Listen address", "in use by another program", "--listen"]
        ),
        "{out}"
    );
    assert!(!out.contains("Certificate of IS FNS01"), "{out}");
    assert!(out.contains("Summary:"), "{out}");
    drop(squatter);

    // A configuration that does not load stops the check at once.
    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let (code, out) = doctor(&config, &["--lang", "en"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        has(&lines_starting(&out, "FAIL "), &["Configuration", "lisen"]),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn warnings_give_exit_1_and_nothing_is_created() {
    let root = tempfile::tempdir().unwrap();
    let (config, _) = installation(root.path(), 10);
    let (code, out) = doctor(&config, &[]);
    assert_eq!(code, Some(1), "{out}");
    let warns = lines_starting(&out, "ВНИМАНИЕ ");
    assert_eq!(warns.len(), 1, "{out}");
    assert!(
        warns[0].contains("Ключ ЭП-СМЭВ") && warns[0].contains("истекает"),
        "{out}"
    );

    // A first run: no data directory yet. Warned about, not created.
    let fresh = root.path().join("not-yet");
    let (code, out) = bin()
        .args(["--lang", "en", "doctor", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&fresh)
        .output()
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("WARN ") && l.contains("Data directory")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("WARN ") && l.contains("no registry")),
        "{out}"
    );
    assert!(!fresh.exists(), "the doctor created {}", fresh.display());
}

#[test]
fn an_address_served_by_a_running_opensmev_is_fine() {
    let root = tempfile::tempdir().unwrap();
    let (config, _) = installation(root.path(), 400);
    let mut server = bin()
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn opensmev serve");
    // The banner's first line is printed once the server listens.
    let mut banner = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    assert!(banner.contains("/v1.2/ws"), "{banner}");
    let (code, out) = doctor(&config, &["--lang", "en"]);
    // SAFETY: kill sends a signal to the child started above.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let status = server.wait().unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("OK ")
            && l.contains("Listen address")
            && l.contains("running OpenSMEV")),
        "{out}"
    );
    assert!(
        status.success(),
        "the server did not stop cleanly: {status}"
    );
}

/// The keys of the configuration file, read from the source of `opensmev-server`'s `FileConfig`.
fn file_config_keys() -> Vec<String> {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../opensmev-server/src/config.rs"),
    )
    .unwrap();
    let start = source.find("struct FileConfig {").expect("FileConfig");
    let body = &source[start..];
    let body = &body[..body.find("\n}").unwrap()];
    let keys: Vec<String> = body
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| !k.starts_with("//"))
        .collect();
    assert!(keys.len() > 20, "{keys:?}");
    keys
}

#[test]
fn the_sample_configuration_lists_every_key_with_its_default() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/opensmev.toml");
    let text = std::fs::read_to_string(&sample).unwrap();
    let assignment = |line: &str| -> Option<(String, String)> {
        let line = line.strip_prefix('#').unwrap_or(line);
        let (key, value) = line.split_once(" = ")?;
        (!key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .then(|| (key.to_owned(), value.to_owned()))
    };
    let listed: BTreeMap<String, String> = text.lines().filter_map(assignment).collect();
    for key in file_config_keys() {
        assert!(
            listed.contains_key(&key),
            "{key} is not in {}",
            sample.display()
        );
    }
    for key in listed.keys() {
        assert!(
            file_config_keys().contains(key),
            "{key} in the sample is not a configuration key"
        );
    }

    // The sample as installed loads (its paths moved to a temporary directory).
    let root = tempfile::tempdir().unwrap();
    let installed = text.replace("/var/lib/opensmev", &root.path().display().to_string());
    let path = root.path().join("opensmev.toml");
    std::fs::write(&path, &installed).unwrap();
    let as_installed = opensmev_server::config::Config::load(
        Some(&path),
        Vec::new(),
        &opensmev_server::config::Overrides::default(),
    )
    .expect("the sample configuration loads");

    // Every commented-out value that is documented as the default is the default: setting them
    // all changes nothing. (Examples of keys without a default are left out.)
    let examples = [
        "public_url",
        "tls_cert",
        "tls_key",
        "tls_client_ca",
        "registry_file",
        "node_name",
        "keys_dir",
        "keys_passphrase_file",
        "store",
        "smtp_url",
    ];
    let mut with_defaults = installed.clone();
    for line in installed.lines() {
        if let Some(rest) = line.strip_prefix('#')
            && let Some((key, _)) = assignment(line)
            && !examples.contains(&key.as_str())
        {
            with_defaults.push('\n');
            with_defaults.push_str(rest);
        }
    }
    std::fs::write(&path, &with_defaults).unwrap();
    let spelled_out = opensmev_server::config::Config::load(
        Some(&path),
        Vec::new(),
        &opensmev_server::config::Overrides::default(),
    )
    .expect("the sample with every default spelled out loads");
    assert_eq!(as_installed, spelled_out);
}
