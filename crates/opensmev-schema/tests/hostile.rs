//! Hostile input: DTDs, external entities (XXE), entity expansion bombs, and references to local
//! files are refused without anything being read; libxml2 never prints to stderr.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::biz_files;
use opensmev_schema::{SchemaError, SchemaSet, ValidationIssue};

fn biz() -> SchemaSet {
    SchemaSet::new(biz_files(), "root.xsd").unwrap()
}

/// A named pipe: opening it for reading blocks until a writer comes, so a test that hangs on it
/// proves the file was opened.
struct Fifo(PathBuf);

impl Fifo {
    fn new(tag: &str) -> Fifo {
        let path =
            std::env::temp_dir().join(format!("opensmev-schema-{tag}-{}.fifo", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let status = Command::new("mkfifo").arg(&path).status().expect("mkfifo");
        assert!(status.success());
        Fifo(path)
    }

    fn url(&self) -> String {
        format!("file://{}", self.0.display())
    }

    /// Runs `f` on another thread; fails if it does not finish in time (i.e. it opened the pipe).
    fn assert_not_opened<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(value) => value,
            Err(_) => {
                // Unblock the reader so the process can exit, then fail.
                let _ = std::fs::write(&self.0, b"<leaked/>");
                panic!("{} was opened", self.0.display());
            }
        }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn assert_doctype_refused(issues: &[ValidationIssue]) {
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert!(
        issues[0].message.contains("DOCTYPE is not allowed"),
        "{issues:#?}"
    );
    assert_eq!(issues[0].line, 1, "{issues:#?}");
}

#[test]
fn external_entities_are_refused_without_reading_the_file() {
    let fifo = Fifo::new("xxe");
    let set = biz();
    let docs = [
        format!(
            "<!DOCTYPE r [<!ENTITY x SYSTEM \"{}\">]><r>&x;</r>",
            fifo.url()
        ),
        format!(
            "<!DOCTYPE r [<!ENTITY % p SYSTEM \"{}\"> %p;]><r/>",
            fifo.url()
        ),
        format!("<!DOCTYPE r SYSTEM \"{}\"><r/>", fifo.url()),
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE r PUBLIC \"-//X//Y\" \"{}\"><r/>",
            fifo.url()
        ),
    ];
    for doc in docs {
        let set = set.clone();
        let doctype_line = doc[..doc.find("<!DOCTYPE").unwrap()].matches('\n').count() as u32 + 1;
        let issues = fifo.assert_not_opened(move || set.validate(&doc).unwrap_err());
        assert_eq!(issues.len(), 1, "{issues:#?}");
        assert!(
            issues[0].message.contains("DOCTYPE is not allowed"),
            "{issues:#?}"
        );
        assert_eq!(issues[0].line, doctype_line, "{issues:#?}");
    }
}

#[test]
fn entity_bombs_are_refused_at_once() {
    let mut doc = String::from("<!DOCTYPE r [<!ENTITY a0 \"lol\">");
    for i in 1..20 {
        let prev = format!("&a{};", i - 1);
        doc.push_str(&format!("<!ENTITY a{i} \"{}\">", prev.repeat(10)));
    }
    doc.push_str("]><r>&a19;</r>");
    let started = std::time::Instant::now();
    assert_doctype_refused(&biz().validate(&doc).unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn undeclared_entities_and_xinclude_do_nothing() {
    let set = biz();
    let issues = set.validate("<r>&ghost;</r>").unwrap_err();
    assert!(
        issues[0].message.contains("Entity 'ghost' not defined"),
        "{issues:#?}"
    );
    let fifo = Fifo::new("xinclude");
    let doc = format!(
        "<PersonsRequest xmlns=\"{}\"><xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"{}\"/></PersonsRequest>",
        common::BIZ_NS,
        fifo.url()
    );
    let issues = fifo.assert_not_opened(move || set.validate(&doc).unwrap_err());
    assert!(issues[0].message.contains("include"), "{issues:#?}");
}

#[test]
fn schema_files_with_a_doctype_or_outside_imports_are_refused_without_reading() {
    let fifo = Fifo::new("schema");
    let with_dtd = format!(
        "<!DOCTYPE xs:schema [<!ENTITY x SYSTEM \"{}\">]><xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"/>",
        fifo.url()
    );
    let err = fifo.assert_not_opened(move || {
        SchemaSet::new(vec![("a.xsd".to_owned(), with_dtd)], "a.xsd").unwrap_err()
    });
    let SchemaError::Malformed { issues, .. } = err else {
        panic!("{err:?}")
    };
    assert_doctype_refused(&issues);

    let import = format!(
        "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:import namespace=\"urn:x\" schemaLocation=\"{}\"/></xs:schema>",
        fifo.url()
    );
    let url = fifo.url();
    let err = fifo.assert_not_opened(move || {
        SchemaSet::new(vec![("a.xsd".to_owned(), import)], "a.xsd").unwrap_err()
    });
    assert_eq!(
        err,
        SchemaError::ImportOutsideSet {
            from: Some("a.xsd".into()),
            location: url
        }
    );
}

#[test]
fn xsi_schema_location_is_not_followed() {
    let fifo = Fifo::new("xsi");
    let doc = common::biz_document().replacen(
        "<PersonsRequest ",
        &format!(
            "<PersonsRequest xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"{} {}\" ",
            common::BIZ_NS,
            fifo.url()
        ),
        1,
    );
    assert!(doc.contains("xsi:schemaLocation"));
    let set = biz();
    fifo.assert_not_opened(move || set.validate(&doc))
        .expect("valid, location ignored");
}

#[test]
fn namespace_errors_are_not_tolerated() {
    let issues = biz().validate("<x:PersonsRequest/>").unwrap_err();
    assert!(
        issues[0].message.contains("Namespace prefix x"),
        "{issues:#?}"
    );
    let issues = biz().validate("").unwrap_err();
    assert!(
        issues[0].message.contains("Document is empty"),
        "{issues:#?}"
    );
    let issues = biz().validate("<a><b>unclosed</a>").unwrap_err();
    assert_eq!(
        (issues[0].line, issues[0].column > 0),
        (1, true),
        "{issues:#?}"
    );
}

/// Runs the hostile cases in a child process and checks its stderr: libxml2 writes to file
/// descriptor 2 directly, past the test harness's capture.
#[test]
fn libxml_never_prints_to_stderr() {
    if std::env::var_os("OPENSMEV_SCHEMA_STDERR_CHILD").is_some() {
        return noisy_cases();
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "libxml_never_prints_to_stderr",
            "--test-threads=1",
            "--nocapture",
        ])
        .env("OPENSMEV_SCHEMA_STDERR_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed: {stderr}");
    assert!(stderr.trim().is_empty(), "libxml2 printed: {stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
}

fn noisy_cases() {
    let set = biz();
    for doc in [
        "",
        "<a><b>unclosed</a>",
        "<x:y/>",
        "<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><r>&e;</r>",
        "<r>&e;</r>",
        "<r xmlns=\"urn:nowhere\"/>",
    ] {
        assert!(set.validate(doc).is_err(), "{doc}");
    }
    let mut files = biz_files();
    files[1].1 = files[1]
        .1
        .replace("base=\"xs:string\"", "base=\"xs:nosuchtype\"");
    assert!(SchemaSet::new(files, "root.xsd").is_err());
    let mut files = biz_files();
    files.pop();
    assert!(SchemaSet::new(files, "root.xsd").is_err());
    assert!(SchemaSet::new(vec![("a.xsd".into(), "<a><b></a>".into())], "a.xsd").is_err());
    assert!(
        SchemaSet::new(
            vec![(
                "a.xsd".into(),
                "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:import namespace=\"urn:x\" schemaLocation=\"http://example.invalid/x.xsd\"/></xs:schema>".into()
            )],
            "a.xsd"
        )
        .is_err()
    );
}
