//! Non-reference SMEV transform implementations: the variants reproduce the committed outputs of
//! the Python port (PyPI `smev-transform` 2.0.0) and the hand-made .NET CRLF vectors
//! (`tests/data/transform-ports/`), and verification names the variant a digest matches,
//! refuses it by default and accepts it only when asked to.

use opensmev_crypto::{
    CryptoProvider, DigestAlgorithm, OpenSslProvider, SignatureAlgorithm, Signer,
    TestIdentityParams, generate_test_identity,
};
use opensmev_xmldsig::dsig::{
    FaultCategory, Placement, SignOptions, SignatureReport, VerifyOptions, sign_document,
    verify_all,
};
use opensmev_xmldsig::transform::{
    Flavor, TransformVariant, transform_element, transform_element_variant,
};
use opensmev_xmldsig::xml::{Document, Limits};

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/transform-ports")
}

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (input name, variant, expected output) for every committed vector.
fn vectors() -> Vec<(String, TransformVariant, Vec<u8>)> {
    let mut out = Vec::new();
    for variant in TransformVariant::ALL {
        let mut names: Vec<String> = std::fs::read_dir(dir().join(variant.name()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".out"))
            .collect();
        names.sort();
        for name in names {
            let stem = name.trim_end_matches(".out").to_owned();
            let expected = read(&dir().join(variant.name()).join(&name));
            out.push((stem, variant, expected));
        }
    }
    out
}

fn variant_output(input: &[u8], variant: TransformVariant) -> Vec<u8> {
    let doc = Document::parse(input, Limits::default()).unwrap();
    let mut out = Vec::new();
    transform_element_variant(&doc.root(), None, variant, &mut out).unwrap();
    out
}

fn reference_outputs(input: &[u8]) -> Vec<Vec<u8>> {
    let doc = Document::parse(input, Limits::default()).unwrap();
    [Flavor::Woodstox, Flavor::Jdk]
        .into_iter()
        .filter_map(|flavor| {
            let mut out = Vec::new();
            transform_element(&doc.root(), None, flavor, &mut out)
                .ok()
                .map(|()| out)
        })
        .collect()
}

#[test]
fn every_port_vector_is_reproduced_and_differs_from_the_reference() {
    let vectors = vectors();
    assert!(
        vectors
            .iter()
            .filter(|v| v.1 == TransformVariant::PythonPort)
            .count()
            >= 5
    );
    assert!(
        vectors
            .iter()
            .filter(|v| v.1 == TransformVariant::DotnetCrlf)
            .count()
            >= 3
    );
    for (name, variant, expected) in vectors {
        let input = read(&dir().join("inputs").join(format!("{name}.xml")));
        let got = variant_output(&input, variant);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{variant} on {name}"
        );
        // Each vector exercises a difference: no reference flavor gives these bytes.
        for reference in reference_outputs(&input) {
            assert_ne!(
                reference, expected,
                "{variant} on {name} equals the reference"
            );
        }
        // And the other variant does not give them either (the detector can tell them apart).
        for other in TransformVariant::ALL.into_iter().filter(|v| *v != variant) {
            assert_ne!(variant_output(&input, other), expected, "{other} on {name}");
        }
    }
}

#[test]
fn variant_names_round_trip() {
    for variant in TransformVariant::ALL {
        assert_eq!(variant.name().parse::<TransformVariant>(), Ok(variant));
        assert!(!variant.describe_en().is_empty() && !variant.describe_ru().is_empty());
    }
    let err = "java".parse::<TransformVariant>().unwrap_err();
    assert!(
        err.contains("python-port") && err.contains("dotnet-crlf"),
        "{err}"
    );
}

fn signer() -> Box<dyn Signer> {
    let id = generate_test_identity(&TestIdentityParams::new(
        SignatureAlgorithm::EcdsaP256Sha256,
        "CN=Port signer",
    ))
    .unwrap();
    OpenSslProvider::new()
        .load_signer(id.key_pem.as_bytes(), id.certificate)
        .unwrap()
}

/// The input, signed (detached, after the target) over the element with `Id`, as `variant`
/// computes the digest (`None`: the reference).
fn signed(input: &[u8], id: &str, variant: Option<TransformVariant>) -> Vec<u8> {
    let options = SignOptions {
        variant,
        ..SignOptions::default()
    };
    // The signature goes into a wrapper so that the signed element stays the root's child.
    let text = String::from_utf8(input.to_vec()).unwrap();
    let body = text
        .trim_start()
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .unwrap_or(&text);
    let wrapped = format!("<w:Wrapper xmlns:w=\"urn://test/wrapper\">{body}</w:Wrapper>");
    sign_document(
        wrapped.as_bytes(),
        id,
        signer().as_ref(),
        &OpenSslProvider::new(),
        Placement::AfterTarget,
        &options,
    )
    .unwrap()
}

fn verify(bytes: &[u8], options: &VerifyOptions) -> SignatureReport {
    let doc = Document::parse(bytes, Limits::default()).unwrap();
    let mut reports = verify_all(&doc, &OpenSslProvider::new(), options);
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

fn id_of(name: &str) -> &'static str {
    match name {
        "multiline-answer" => "SIGNED_BY_CALLER",
        "no-namespace" => "R1",
        "comment-split" => "R2",
        "attributes" => "R3",
        "crlf-letter" => "R4",
        other => panic!("no Id known for vector {other}"),
    }
}

#[test]
fn the_signature_digest_is_the_digest_of_the_port_output() {
    // Signing "as the port" hashes exactly the committed port output.
    let provider = OpenSslProvider::new();
    let (name, variant, expected) = vectors()
        .into_iter()
        .find(|v| v.0 == "multiline-answer" && v.1 == TransformVariant::PythonPort)
        .unwrap();
    let input = read(&dir().join("inputs").join(format!("{name}.xml")));
    let bytes = signed(&input, id_of(&name), Some(variant));
    let mut hasher = provider.hasher(DigestAlgorithm::Sha256).unwrap();
    hasher.update(&expected);
    let digest = hasher.finish().unwrap();
    let report = verify(&bytes, &VerifyOptions::now());
    assert_eq!(report.references[0].expected_digest, digest);
}

#[test]
fn the_detector_names_the_variant_of_every_vector_and_refuses_it_by_default() {
    for (name, variant, _) in vectors() {
        let input = read(&dir().join("inputs").join(format!("{name}.xml")));
        let bytes = signed(&input, id_of(&name), Some(variant));
        let report = verify(&bytes, &VerifyOptions::now());
        assert_eq!(report.matched_variant, Some(variant), "{name}: {report:?}");
        assert!(!report.variant_accepted);
        let failure = report.failure.as_ref().expect("refused by default");
        assert_eq!(failure.category, FaultCategory::SignatureIsInvalid);
        assert!(
            failure
                .message
                .contains(&format!("variant: {}", variant.name()))
                && failure.message.contains(variant.describe_en()),
            "{name}: {}",
            failure.message
        );
        assert_eq!(report.digests_ok(), Some(false));

        // Accepted when that variant is allowed, and only that one.
        let allowed = VerifyOptions {
            accept_variant: Some(variant),
            ..VerifyOptions::now()
        };
        let report = verify(&bytes, &allowed);
        assert!(report.is_valid(), "{name}: {:?}", report.failure);
        assert_eq!(report.matched_variant, Some(variant));
        assert!(report.variant_accepted);
        assert_eq!(report.digests_ok(), Some(true));

        for other in TransformVariant::ALL.into_iter().filter(|v| *v != variant) {
            let wrong = VerifyOptions {
                accept_variant: Some(other),
                ..VerifyOptions::now()
            };
            let report = verify(&bytes, &wrong);
            assert!(!report.is_valid(), "{name} accepted as {other}");
            assert_eq!(report.matched_variant, Some(variant));
            assert!(!report.variant_accepted);
        }
    }
}

#[test]
fn reference_signatures_name_no_variant_and_a_changed_element_names_none() {
    let input = read(&dir().join("inputs/multiline-answer.xml"));
    let bytes = signed(&input, "SIGNED_BY_CALLER", None);
    let report = verify(&bytes, &VerifyOptions::now());
    assert!(report.is_valid(), "{:?}", report.failure);
    assert_eq!(report.matched_variant, None);

    // Content changed after signing: no variant explains it, and the message says so.
    let changed = String::from_utf8(bytes)
        .unwrap()
        .replace("Выдана справка", "Отказано");
    let report = verify(changed.as_bytes(), &VerifyOptions::now());
    assert_eq!(report.matched_variant, None);
    let failure = report.failure.unwrap();
    assert!(
        failure
            .message
            .contains("none of the known implementations gives this digest"),
        "{}",
        failure.message
    );

    // Detection switched off: no variant computed.
    let python = signed(
        &input,
        "SIGNED_BY_CALLER",
        Some(TransformVariant::PythonPort),
    );
    let quiet = VerifyOptions {
        detect_variants: false,
        ..VerifyOptions::now()
    };
    let report = verify(&python, &quiet);
    assert_eq!(report.matched_variant, None);
    assert!(!report.is_valid());
}
