//! SMEV transform against reference vectors.

use opensmev_xmldsig::transform::{TextSplitting, transform_document};
use opensmev_xmldsig::xml::Limits;

fn data(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[test]
fn mr_example_vector_is_byte_identical() {
    let input = data("samples/mr-example-1.1/transform-input.SenderProvidedRequestData.xml");
    let expected = data("samples/mr-example-1.1/transform-output.SenderProvidedRequestData.xml");
    let out = transform_document(&input, Limits::default(), TextSplitting::JdkStax).unwrap();
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected));
}
