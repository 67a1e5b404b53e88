//! Hostile input: no DTD processing, no entity expansion, no external entities (so no network
//! and no file access), size, depth and attribute limits — each refused with a specific error
//! and without doing the expensive thing first.

use opensmev_xmldsig::transform::{Flavor, transform_document};
use opensmev_xmldsig::xml::{Document, Limits, XmlErrorKind};

fn parse_err(text: &str, limits: Limits) -> XmlErrorKind {
    match Document::parse(text.as_bytes(), limits) {
        Ok(_) => panic!("accepted: {}", &text[..text.len().min(200)]),
        Err(e) => e.kind,
    }
}

#[test]
fn billion_laughs_is_refused_before_any_expansion() {
    let mut text =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        text.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    text.push_str("]>\n<lolz>&lol9;</lolz>");
    let started = std::time::Instant::now();
    assert_eq!(
        parse_err(&text, Limits::default()),
        XmlErrorKind::DtdForbidden
    );
    // Refused by looking, not by expanding (expansion would be 10^9 strings).
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn external_entities_are_never_resolved() {
    // A SYSTEM entity pointing at a local file and at the network: the DTD itself is refused,
    // so neither is opened.
    for system in ["file:///etc/passwd", "http://127.0.0.1:9/evil.dtd"] {
        let text = format!("<!DOCTYPE r [<!ENTITY x SYSTEM \"{system}\">]><r>&x;</r>");
        assert_eq!(
            parse_err(&text, Limits::default()),
            XmlErrorKind::DtdForbidden
        );
        let text = format!("<!DOCTYPE r SYSTEM \"{system}\"><r/>");
        assert_eq!(
            parse_err(&text, Limits::default()),
            XmlErrorKind::DtdForbidden
        );
    }
    // Without a DTD, an entity reference is simply undefined.
    assert_eq!(
        parse_err("<r>&x;</r>", Limits::default()),
        XmlErrorKind::UndefinedEntity("x".into())
    );
    assert_eq!(
        parse_err("<r a=\"&x;\"/>", Limits::default()),
        XmlErrorKind::UndefinedEntity("x".into())
    );
}

#[test]
fn deep_nesting_is_limited() {
    let depth = 100_000;
    let text = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    assert!(matches!(
        parse_err(&text, Limits::default()),
        XmlErrorKind::LimitExceeded {
            what: "element depth",
            limit: 256
        }
    ));
    // The same limit protects the transform, which reads through the same reader.
    assert!(transform_document(text.as_bytes(), Limits::default(), Flavor::Woodstox).is_err());
    let ok = format!(
        "{}{}",
        "<a xmlns=\"urn:a\">".repeat(200),
        "</a>".repeat(200)
    );
    assert!(Document::parse(ok.as_bytes(), Limits::default()).is_ok());
}

#[test]
fn huge_attributes_and_attribute_floods_are_limited() {
    let big = format!("<r a=\"{}\"/>", "x".repeat(2 * 1024 * 1024));
    assert!(matches!(
        parse_err(&big, Limits::default()),
        XmlErrorKind::LimitExceeded {
            what: "attribute value size in bytes",
            ..
        }
    ));
    let many: String = (0..1000).map(|i| format!(" a{i}=\"v\"")).collect();
    assert!(matches!(
        parse_err(&format!("<r{many}/>"), Limits::default()),
        XmlErrorKind::LimitExceeded {
            what: "attributes per element",
            ..
        }
    ));
}

#[test]
fn oversized_documents_are_refused_before_parsing() {
    let limits = Limits {
        max_document_bytes: 1024,
        ..Limits::default()
    };
    let text = format!("<r>{}</r>", "x".repeat(2048));
    assert!(matches!(
        parse_err(&text, limits),
        XmlErrorKind::LimitExceeded {
            what: "document size in bytes",
            ..
        }
    ));
    let limits = Limits {
        max_elements: 10,
        ..Limits::default()
    };
    let text = format!("<r>{}</r>", "<a/>".repeat(20));
    assert!(matches!(
        parse_err(&text, limits),
        XmlErrorKind::LimitExceeded {
            what: "number of elements",
            ..
        }
    ));
}

#[test]
fn malformed_documents_get_specific_errors() {
    type Check = fn(&XmlErrorKind) -> bool;
    let cases: &[(&str, Check)] = &[
        ("", |k| matches!(k, XmlErrorKind::NotOneRoot)),
        ("not xml at all", |k| matches!(k, XmlErrorKind::NotOneRoot)),
        ("<a><b></a>", |k| matches!(k, XmlErrorKind::Syntax(_))),
        ("<a>", |k| matches!(k, XmlErrorKind::Syntax(_))),
        ("<a/><b/>", |k| matches!(k, XmlErrorKind::NotOneRoot)),
        ("<a x=\"1\" x=\"2\"/>", |k| {
            matches!(k, XmlErrorKind::DuplicateAttribute(_))
        }),
        (
            "<a xmlns:p=\"urn:p\" xmlns:q=\"urn:p\" p:x=\"1\" q:x=\"2\"/>",
            |k| matches!(k, XmlErrorKind::DuplicateAttribute(_)),
        ),
        ("<p:a/>", |k| matches!(k, XmlErrorKind::UnboundPrefix(_))),
        ("<a p:x=\"1\"/>", |k| {
            matches!(k, XmlErrorKind::UnboundPrefix(_))
        }),
        ("<a>\u{1}</a>", |k| {
            matches!(k, XmlErrorKind::ForbiddenCharacter(1))
        }),
        ("<a>&#0;</a>", |k| {
            matches!(
                k,
                XmlErrorKind::Syntax(_) | XmlErrorKind::ForbiddenCharacter(_)
            )
        }),
        ("<a x=\"<\"/>", |k| matches!(k, XmlErrorKind::Syntax(_))),
        (
            "<?xml version=\"1.0\" encoding=\"windows-1251\"?><a/>",
            |k| matches!(k, XmlErrorKind::Encoding(_)),
        ),
        ("<a xmlns:p=\"\"/>", |k| {
            matches!(k, XmlErrorKind::Syntax(_))
        }),
    ];
    for (text, check) in cases {
        let kind = parse_err(text, Limits::default());
        assert!(check(&kind), "{text:?} gave {kind:?}");
    }
    // Not UTF-8 at all.
    let err = Document::parse(b"<a>\xff\xfe</a>", Limits::default()).unwrap_err();
    assert!(matches!(err.kind, XmlErrorKind::Encoding(_)));
    // Truncated at every byte of a real message: never a panic, always an error.
    let sample = std::fs::read(format!(
        "{}/tests/data/samples/mr-example-1.1/SendRequestRequestNoAttach.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let end_of_root = sample.iter().rposition(|b| *b == b'>').unwrap();
    for cut in 0..end_of_root {
        assert!(
            Document::parse(&sample[..cut], Limits::default()).is_err(),
            "accepted a cut at {cut}"
        );
    }
}

#[test]
fn errors_carry_positions() {
    let text = "<a>\n  <b>\n</a>";
    let err = Document::parse(text.as_bytes(), Limits::default()).unwrap_err();
    assert_eq!(err.line_column(text).0, 3);
}

#[test]
fn namespace_declarations_and_text_follow_the_namespaces_rec() {
    for text in [
        "<a xmlns:=\"urn:x\"/>",
        "<a xmlns:1=\"urn:x\"/>",
        "<a xmlns:p=\"http://www.w3.org/2000/xmlns/\"/>",
        "<a xmlns=\"http://www.w3.org/XML/1998/namespace\"/>",
        "<a xmlns=\"http://www.w3.org/2000/xmlns/\"/>",
        "<a>x ]]> y</a>",
    ] {
        assert!(
            Document::parse(text.as_bytes(), Limits::default()).is_err(),
            "accepted {text}"
        );
    }
    assert!(
        Document::parse(
            b"<a xmlns:xml=\"http://www.w3.org/XML/1998/namespace\">]]&gt;</a>",
            Limits::default()
        )
        .is_ok()
    );
}
