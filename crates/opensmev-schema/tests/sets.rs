//! Schema sets: imports and includes resolved among the set's files, references outside the set
//! refused, compile errors reported at construction, and business documents validated.

mod common;

use common::{BIZ_NS, BIZ_XSD, COMMONS_XSD, biz_document, biz_files};
use opensmev_schema::{SchemaError, SchemaSet, compiles_on_this_thread};

fn set(files: &[(&str, &str)], entry: &str) -> Result<SchemaSet, SchemaError> {
    SchemaSet::new(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
        entry,
    )
}

const SIMPLE_XSD: &str = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    targetNamespace="urn:t" xmlns="urn:t" elementFormDefault="qualified">
  IMPORT
  <xs:element name="r" type="xs:string"/>
</xs:schema>"#;

fn importing(location: &str) -> String {
    SIMPLE_XSD.replace(
        "IMPORT",
        &format!("<xs:import namespace=\"urn:other\" schemaLocation=\"{location}\"/>"),
    )
}

#[test]
fn business_set_with_import_and_include_validates() {
    let set = SchemaSet::new(biz_files(), "root.xsd").expect("compiles");
    assert_eq!(set.entry(), "root.xsd");
    assert_eq!(set.files().count(), 3);
    let doc = biz_document();
    assert!(
        (1800..2600).contains(&doc.len()),
        "document is {} bytes",
        doc.len()
    );
    set.validate(&doc).expect("valid");
}

#[test]
fn business_errors_have_positions_and_libxml_messages() {
    let set = SchemaSet::new(biz_files(), "root.xsd").unwrap();
    let doc = biz_document()
        .replacen("<Gender>Female</Gender>", "<Gender>Unknown</Gender>", 1)
        .replacen("<Region>72</Region>", "<Region>7</Region>", 1);
    let issues = set.validate(&doc).unwrap_err();
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let gender_line = doc[..doc.find("<Gender>Unknown").unwrap()]
        .matches('\n')
        .count() as u32
        + 1;
    assert_eq!((issues[0].line, issues[0].column), (gender_line, 5));
    assert_eq!(
        issues[0].message,
        format!(
            "Element '{{{BIZ_NS}}}Gender': [facet 'enumeration'] The value 'Unknown' is not an element of the set {{'Male', 'Female'}}."
        )
    );
    assert!(issues[1].message.contains("Region"), "{issues:#?}");
    assert!(issues[1].line > gender_line);
}

#[test]
fn attribute_errors_point_at_their_element() {
    let set = SchemaSet::new(biz_files(), "root.xsd").unwrap();
    let doc = biz_document().replacen("<Person id=\"p1\">", "<Person>", 1);
    let issues = set.validate(&doc).unwrap_err();
    let line = doc[..doc.find("<Person>").unwrap()].matches('\n').count() as u32 + 1;
    assert_eq!((issues[0].line, issues[0].column), (line, 3), "{issues:#?}");
    assert!(
        issues[0].message.contains("The attribute 'id' is required"),
        "{issues:#?}"
    );
}

#[test]
fn one_line_documents_get_exact_columns() {
    let set = SchemaSet::new(biz_files(), "root.xsd").unwrap();
    let doc: String = biz_document().lines().map(str::trim).collect();
    let doc = doc.replacen(
        "<SNILS>112-233-445 93</SNILS>",
        "<SNILS>11223344593</SNILS>",
        1,
    );
    let issues = set.validate(&doc).unwrap_err();
    let column = doc[..doc.find("<SNILS>11223344593").unwrap()]
        .chars()
        .count() as u32
        + 1;
    assert_eq!(
        (issues[0].line, issues[0].column),
        (1, column),
        "{issues:#?}"
    );
}

#[test]
fn declared_encoding_of_a_rust_string_is_ignored() {
    // The text is already decoded (UTF-8); a declaration naming another encoding must not make
    // libxml2 re-decode it.
    let set = SchemaSet::new(biz_files(), "root.xsd").unwrap();
    let doc = biz_document().replacen("encoding=\"UTF-8\"", "encoding=\"windows-1251\"", 1);
    set.validate(&doc)
        .expect("Cyrillic names still match the pattern");
    let schema = BIZ_XSD.replacen("encoding=\"UTF-8\"", "encoding=\"windows-1251\"", 1);
    let mut files = biz_files();
    files[0].1 = schema.clone();
    let set = SchemaSet::new(files, "root.xsd").unwrap();
    set.validate(&biz_document()).unwrap();
    assert_eq!(
        set.file("root.xsd"),
        Some(schema.as_str()),
        "texts are kept as given"
    );
}

#[test]
fn import_of_a_file_not_in_the_set_is_refused() {
    let err = set(&[("root.xsd", &importing("missing.xsd"))], "root.xsd").unwrap_err();
    assert_eq!(
        err,
        SchemaError::ImportOutsideSet {
            from: Some("root.xsd".into()),
            location: "missing.xsd".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "schema file 'root.xsd' refers to 'missing.xsd', which is not in the schema set"
    );

    for location in [
        "http://example.com/other.xsd",
        "file:///etc/passwd",
        "/etc/passwd",
        "../outside.xsd",
    ] {
        let err = set(&[("root.xsd", &importing(location))], "root.xsd").unwrap_err();
        assert!(
            matches!(err, SchemaError::ImportOutsideSet { .. }),
            "{location}: {err:?}"
        );
    }

    // Nested: an included file of the set includes something that is not there.
    let mut files = biz_files();
    files.pop();
    let err = SchemaSet::new(files, "root.xsd").unwrap_err();
    assert_eq!(
        err,
        SchemaError::ImportOutsideSet {
            from: Some("commons/types-1.0.xsd".into()),
            location: "../shared/codes.xsd".into()
        }
    );
}

#[test]
fn aliases_map_absolute_locations_into_the_set() {
    let other =
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:other"/>"#;
    let files = vec![
        (
            "root.xsd".to_owned(),
            importing("https://registry.example/other.xsd"),
        ),
        ("other.xsd".to_owned(), other.to_owned()),
    ];
    assert!(SchemaSet::new(files.clone(), "root.xsd").is_err());
    let aliased = SchemaSet::with_aliases(
        files.clone(),
        "root.xsd",
        vec![(
            "https://registry.example/other.xsd".to_owned(),
            "other.xsd".to_owned(),
        )],
    )
    .unwrap();
    aliased.validate("<r xmlns=\"urn:t\">x</r>").unwrap();
    let bad = SchemaSet::with_aliases(
        files,
        "root.xsd",
        vec![("x".to_owned(), "nope.xsd".to_owned())],
    );
    assert!(matches!(bad, Err(SchemaError::InvalidSet(_))));
}

#[test]
fn compile_errors_surface_at_construction() {
    let broken = COMMONS_XSD.replace("base=\"xs:string\"", "base=\"xs:nosuchtype\"");
    let mut files = biz_files();
    files[1].1 = broken;
    let err = SchemaSet::new(files, "root.xsd").unwrap_err();
    let SchemaError::Compile { issues } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(issues[0].file, "commons/types-1.0.xsd");
    assert!(issues[0].line > 0);
    assert!(issues[0].message.contains("nosuchtype"), "{issues:#?}");
    assert!(
        err.to_string()
            .starts_with("schema compilation failed: commons/types-1.0.xsd:"),
        "{err}"
    );
}

#[test]
fn invalid_sets_are_rejected() {
    assert!(matches!(
        SchemaSet::new(vec![], "a.xsd"),
        Err(SchemaError::InvalidSet(_))
    ));
    assert!(matches!(
        set(&[("a.xsd", SIMPLE_XSD)], "b.xsd"),
        Err(SchemaError::InvalidSet(_))
    ));
    assert!(matches!(
        set(&[("a.xsd", SIMPLE_XSD), ("a.xsd", SIMPLE_XSD)], "a.xsd"),
        Err(SchemaError::InvalidSet(_))
    ));
    assert!(matches!(
        set(&[("../a.xsd", SIMPLE_XSD)], "../a.xsd"),
        Err(SchemaError::InvalidSet(_))
    ));
    let err = set(&[("a.xsd", "<xs:schema")], "a.xsd").unwrap_err();
    let SchemaError::Malformed { file, issues } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(file, "a.xsd");
    assert_eq!(issues[0].line, 1);
}

#[test]
fn construction_compiles_once_and_validation_reuses_it() {
    let before = compiles_on_this_thread();
    let set = SchemaSet::new(biz_files(), "root.xsd").unwrap();
    assert_eq!(compiles_on_this_thread(), before + 1);
    let clone = set.clone();
    for _ in 0..20 {
        set.validate(&biz_document()).unwrap();
        clone.validate(&biz_document()).unwrap();
    }
    assert_eq!(
        compiles_on_this_thread(),
        before + 1,
        "validation reused this thread's compiled schema"
    );
    assert_eq!(set, clone);
    assert!(format!("{set:?}").contains("root.xsd"));
}
