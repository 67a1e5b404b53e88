//! Throughput measurement (ignored by default): parse + validate per second on one thread.
//! `cargo test -p opensmev-schema --release --test throughput -- --ignored --nocapture`
//!
//! Rounds of this crate and of the `libxml` crate's plain API alternate, and the best round of
//! each is reported, because the machine is usually shared.

mod common;

use std::time::{Duration, Instant};

use common::{biz_document, biz_files, body_element};
use opensmev_schema::{SchemaSet, validate_official};

/// Validations per second over about one second.
fn rate(mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

struct Case<'a> {
    what: String,
    run: Box<dyn FnMut() + 'a>,
    best: f64,
}

fn case<'a>(what: impl Into<String>, run: impl FnMut() + 'a) -> Case<'a> {
    Case {
        what: what.into(),
        run: Box::new(run),
        best: 0.0,
    }
}

#[test]
#[ignore = "measurement, run explicitly"]
fn validations_per_second() {
    use libxml::parser::{Parser, ParserOptions};
    use libxml::schemas::{SchemaParserContext, SchemaValidationContext};

    let set = SchemaSet::new(biz_files(), "root.xsd").unwrap();
    let doc = biz_document();
    let bad = doc.replacen("<Gender>Male</Gender>", "<Gender>male</Gender>", 1);
    let smev = body_element("smevka-1.1/SendRequestResponse.send.xml");

    // The reference: the same schema compiled from files on disk with the `libxml` crate's own
    // API, `parse_string_with_options` (strict) + `validate_document`, as in the dependency study.
    let dir = std::env::temp_dir().join(format!("opensmev-schema-bench-{}", std::process::id()));
    for (name, text) in biz_files() {
        let path = dir.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut schema = SchemaParserContext::from_file(dir.join("root.xsd").to_str().unwrap());
    let mut validator = SchemaValidationContext::from_parser(&mut schema).unwrap();
    let parser = Parser::default();

    let mut cases = vec![
        case(
            format!("business document, valid ({} bytes)", doc.len()),
            || set.validate(&doc).unwrap(),
        ),
        case(
            format!("  same with the libxml crate API ({} bytes)", doc.len()),
            || {
                let options = ParserOptions {
                    recover: false,
                    no_net: true,
                    ..ParserOptions::default()
                };
                let parsed = parser.parse_string_with_options(&doc, options).unwrap();
                validator.validate_document(&parsed).unwrap();
            },
        ),
        case(
            format!("business document, 1 error ({} bytes)", bad.len()),
            || assert!(set.validate(&bad).is_err()),
        ),
        case(
            format!("SMEV 1.1 SendRequestResponse ({} bytes)", smev.len()),
            || validate_official("1.1", &smev).unwrap(),
        ),
    ];
    for _ in 0..4 {
        for c in &mut cases {
            c.best = c.best.max(rate(&mut c.run));
        }
    }
    for c in &cases {
        eprintln!("{}: {:.0} validations/s on 1 thread", c.what, c.best);
    }
    drop(cases);
    std::fs::remove_dir_all(dir).unwrap();

    let started = Instant::now();
    let n = 20;
    for _ in 0..n {
        SchemaSet::new(biz_files(), "root.xsd").unwrap();
    }
    eprintln!(
        "SchemaSet::new (business, 3 files, checks + compile): {:?} each",
        started.elapsed() / n
    );
    let started = Instant::now();
    for _ in 0..n {
        SchemaSet::new(official_schema_files(), "opensmev-official-entry.xsd").unwrap();
    }
    eprintln!(
        "SchemaSet::new (official 1.3 set): {:?} each",
        started.elapsed() / n
    );
}

fn official_schema_files() -> Vec<(String, String)> {
    opensmev_schema::official_schema_set("1.3")
        .unwrap()
        .files()
        .map(|(n, t)| (n.to_owned(), t.to_owned()))
        .collect()
}
