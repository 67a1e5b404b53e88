//! Exclusive C14N: differential tests against libxml2 (`xmlC14NExecute`) on every element of
//! every sample message and of a fixture full of corner cases.

use opensmev_xmldsig::c14n::canonicalize_to_vec;
use opensmev_xmldsig::xml::{Document, Limits};

fn libxml_elements(node: &libxml::tree::Node, out: &mut Vec<libxml::tree::Node>) {
    out.push(node.clone());
    for child in node.get_child_elements() {
        libxml_elements(&child, out);
    }
}

fn check_file(path: &std::path::Path, inclusive: &[String]) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let doc = Document::parse(&bytes, Limits::default()).unwrap();
    let parser = libxml::parser::Parser::default();
    let options = libxml::parser::ParserOptions {
        recover: false,
        no_net: true,
        ..Default::default()
    };
    let xdoc = parser
        .parse_string_with_options(std::str::from_utf8(&bytes).unwrap(), options)
        .unwrap();
    let mut xnodes = Vec::new();
    libxml_elements(&xdoc.get_root_element().unwrap(), &mut xnodes);
    assert_eq!(xnodes.len(), doc.len(), "{}: element count", path.display());
    for (element, mut xnode) in doc.elements().zip(xnodes) {
        let ours = String::from_utf8(canonicalize_to_vec(&element, inclusive).unwrap()).unwrap();
        let theirs = xnode
            .canonicalize(libxml::tree::c14n::CanonicalizationOptions {
                mode: libxml::tree::c14n::CanonicalizationMode::ExclusiveCanonical1_0,
                with_comments: false,
                inclusive_ns_prefixes: inclusive.to_vec(),
            })
            .unwrap();
        assert_eq!(
            ours,
            theirs,
            "{} element {}",
            path.display(),
            element.path()
        );
    }
    doc.len()
}

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn every_element_of_every_sample_matches_libxml2() {
    let mut files = 0;
    let mut elements = 0;
    for dir in [
        "samples/mr-example-1.1",
        "samples/smev3sharp-1.2",
        "samples/smevka-1.1",
        "c14n",
    ] {
        for entry in std::fs::read_dir(data_dir().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "xml") {
                let bytes = std::fs::read(&path).unwrap();
                // Some samples are multipart captures, not XML documents.
                if Document::parse(&bytes, Limits::default()).is_err() {
                    continue;
                }
                elements += check_file(&path, &[]);
                files += 1;
            }
        }
    }
    assert!(files >= 12, "only {files} sample files checked");
    assert!(elements > 250, "only {elements} elements checked");
}

#[test]
fn inclusive_prefix_list_matches_libxml2() {
    let path = data_dir().join("c14n/tricky.xml");
    check_file(&path, &["unused".to_owned(), "#default".to_owned()]);
    check_file(&path, &["b".to_owned()]);
}
