//! Schema sets as agencies publish them: files in folders importing shared type libraries by
//! relative path, with several entry points (a request root in one file, a response root in
//! another) validated through one schema; real sets with their real examples; hostile sets.

mod common;

use std::path::{Path, PathBuf};

use opensmev_schema::{SchemaError, SchemaSet};

fn data(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vs")
        .join(set)
}

/// Every `.xsd` under `dir`, named by its path relative to `dir` (with `/`), sorted.
fn xsd_files(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "xsd") {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn example(set: &str, name: &str) -> String {
    std::fs::read_to_string(data(set).join("examples").join(name)).unwrap()
}

fn owned(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

const EGISSO_1005: &str = "EGISSO_10.05.I-1.0.7";
const EGISSO_1023: &str = "EGISSO_10.23.I-1.0.1";
const LIVINGWAGE_REQUEST: &str = "urn://egisso-ru/types/livingwage-request/1.0.1";
const LIVINGWAGE_RESPONSE: &str = "urn://egisso-ru/types/livingwage-response/1.0.1";

#[test]
fn a_real_set_in_folders_validates_its_real_examples() {
    let files = xsd_files(&data(EGISSO_1005));
    assert_eq!(
        files.len(),
        8,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(
        files
            .iter()
            .any(|(n, _)| n == "schemas/smev3/smev-supplementary-commons-1.0.1.xsd")
    );
    let set = SchemaSet::new(files, "10.05.I-1.0.7.xsd").expect("compiles");
    let ns = "urn://egisso-ru/msg/10.05.I/1.0.7";
    assert!(set.declares_element(ns, "request"));
    assert!(set.declares_element(ns, "response"));
    assert!(!set.declares_element(ns, "nothing"));
    assert!(!set.declares_element("urn:elsewhere", "request"));
    set.validate(&example(EGISSO_1005, "etalon-1-Request.xml"))
        .expect("the real request is valid");
    set.validate(&example(EGISSO_1005, "etalon-1-Response.xml"))
        .expect("the real response is valid");
}

#[test]
fn request_and_response_roots_in_different_files_are_two_entry_points() {
    let files = xsd_files(&data(EGISSO_1023));
    let request_file = "schemas/egisso/livingwage-request-1.0.1.xsd";
    let response_file = "schemas/egisso/livingwage-response-1.0.1.xsd";
    // The real examples' business data: requestData (declared in the request file) and data
    // (declared in the response file), each taken out with its namespace declarations.
    let request =
        common::child_element(&example(EGISSO_1023, "etalon-1-Request.xml"), &["request"]);
    let response = common::child_element(
        &example(EGISSO_1023, "etalon-1-Response.xml"),
        &["response"],
    );
    assert!(request.contains("requestData"), "{request}");
    assert!(response.contains(":data"), "{response}");

    // One entry point sees only its own file's roots.
    let only_request = SchemaSet::new(files.clone(), request_file).unwrap();
    assert!(only_request.declares_element(LIVINGWAGE_REQUEST, "requestData"));
    assert!(!only_request.declares_element(LIVINGWAGE_RESPONSE, "data"));
    let issues = only_request.validate(&response).unwrap_err();
    assert!(
        issues[0].message.contains("No matching global declaration"),
        "{issues:?}"
    );

    // Both entry points: both roots, both real examples.
    let both = SchemaSet::with_entries(files.clone(), &[request_file, response_file]).unwrap();
    assert_eq!(
        both.entries().collect::<Vec<_>>(),
        [request_file, response_file]
    );
    assert_eq!(both.entry(), request_file);
    assert!(both.declares_element(LIVINGWAGE_REQUEST, "requestData"));
    assert!(both.declares_element(LIVINGWAGE_RESPONSE, "data"));
    both.validate(&request)
        .expect("the real request data is valid");
    both.validate(&response)
        .expect("the real response data is valid");
    for n in [1, 2] {
        let second = common::child_element(
            &example(EGISSO_1023, &format!("etalon-{n}-Response.xml")),
            &["response"],
        );
        both.validate(&second).expect("valid");
    }
    let wrong = response.replacen("2019", "twenty", 1);
    assert!(both.validate(&wrong).is_err());

    // With the main file as a third entry point the message roots validate too; repeats and
    // order do not change the set.
    let all = SchemaSet::with_entries(
        files.clone(),
        &[
            "10.23.I-1.0.1.xsd",
            request_file,
            response_file,
            request_file,
        ],
    )
    .unwrap();
    assert_eq!(all.entries().count(), 3);
    all.validate(&example(EGISSO_1023, "etalon-1-Request.xml"))
        .unwrap();
    all.validate(&example(EGISSO_1023, "etalon-1-Response.xml"))
        .unwrap();
    all.validate(&response).unwrap();
    let reordered =
        SchemaSet::with_entries(files, &[response_file, "10.23.I-1.0.1.xsd", request_file])
            .unwrap();
    assert_eq!(reordered.content_hash(), all.content_hash());
}

const SHARED_TYPES: &str = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    targetNamespace="urn:vs" xmlns="urn:vs" elementFormDefault="qualified">
  <xs:simpleType name="Code"><xs:restriction base="xs:string"><xs:pattern value="\d{3}"/></xs:restriction></xs:simpleType>
</xs:schema>"#;

fn same_namespace_root(name: &str) -> String {
    format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    targetNamespace="urn:vs" xmlns="urn:vs" elementFormDefault="qualified">
  <xs:include schemaLocation="../common/types.xsd"/>
  <xs:element name="{name}"><xs:complexType><xs:sequence>
    <xs:element name="Code" type="Code"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"#
    )
}

#[test]
fn entry_points_that_share_a_namespace_are_both_seen() {
    let other = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    targetNamespace="urn:other" xmlns:vs="urn:vs">
  <xs:import namespace="urn:vs" schemaLocation="../request/request.xsd"/>
  <xs:element name="Wrapper"><xs:complexType><xs:sequence>
    <xs:element ref="vs:Request"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"#;
    let files = owned(&[
        ("common/types.xsd", SHARED_TYPES),
        ("request/request.xsd", &same_namespace_root("Request")),
        ("response/response.xsd", &same_namespace_root("Response")),
        ("other/other.xsd", other),
    ]);
    // A file of another namespace that imports the request file comes first: the namespace
    // urn:vs must still bring both of its entry points.
    let set = SchemaSet::with_entries(
        files,
        &[
            "other/other.xsd",
            "request/request.xsd",
            "response/response.xsd",
        ],
    )
    .expect("compiles");
    for root in ["Request", "Response"] {
        assert!(set.declares_element("urn:vs", root), "{root}");
        set.validate(&format!(
            "<{root} xmlns=\"urn:vs\"><Code>123</Code></{root}>"
        ))
        .unwrap_or_else(|e| panic!("{root}: {e:?}"));
        let issues = set
            .validate(&format!(
                "<{root} xmlns=\"urn:vs\"><Code>12</Code></{root}>"
            ))
            .unwrap_err();
        assert!(issues[0].message.contains("pattern"), "{issues:?}");
    }
    set.validate(
        "<o:Wrapper xmlns:o=\"urn:other\"><Request xmlns=\"urn:vs\"><Code>1\
         23</Code></Request></o:Wrapper>",
    )
    .unwrap();
}

#[test]
fn entry_points_without_a_namespace_are_included() {
    let root = |name: &str| {
        format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="{name}" type="xs:int"/>
</xs:schema>"#
        )
    };
    let files = owned(&[("a/req.xsd", &root("Req")), ("b/resp.xsd", &root("Resp"))]);
    let set = SchemaSet::with_entries(files, &["a/req.xsd", "b/resp.xsd"]).unwrap();
    set.validate("<Req>1</Req>").unwrap();
    set.validate("<Resp>2</Resp>").unwrap();
    assert!(set.validate("<Resp>x</Resp>").is_err());
    assert!(set.declares_element("", "Req"));
    assert!(!set.declares_element("", "Other"));
    assert!(!set.declares_element("", "not a name"));
}

#[test]
fn entry_points_must_be_files_of_the_set() {
    let files = owned(&[("a.xsd", &same_namespace_root("A"))]);
    assert!(matches!(
        SchemaSet::with_entries(files.clone(), &[]),
        Err(SchemaError::InvalidSet(_))
    ));
    let err = SchemaSet::with_entries(files, &["a.xsd", "b.xsd"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid schema set: entry point 'b.xsd' is not one of the files"
    );
}

fn importing(location: &str) -> String {
    format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:vs">
  <xs:import namespace="urn:elsewhere" schemaLocation="{location}"/>
  <xs:element name="Request" type="xs:string"/>
</xs:schema>"#
    )
}

#[test]
fn hostile_sets_are_refused_naming_the_file_and_the_location() {
    let response = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:r">
  <xs:element name="Response" type="xs:string"/>
</xs:schema>"#;
    for (location, reported) in [
        ("../../etc/passwd", "../../etc/passwd"),
        ("../common/missing.xsd", "../common/missing.xsd"),
        ("/etc/passwd", "/etc/passwd"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        (
            "http://example.com/types.xsd",
            "http://example.com/types.xsd",
        ),
    ] {
        let files = owned(&[
            ("request/request.xsd", &importing(location)),
            ("response/response.xsd", response),
        ]);
        let err = SchemaSet::with_entries(files, &["request/request.xsd", "response/response.xsd"])
            .unwrap_err();
        assert_eq!(
            err,
            SchemaError::ImportOutsideSet {
                from: Some("request/request.xsd".into()),
                location: reported.into(),
            },
            "{location}"
        );
    }
}
