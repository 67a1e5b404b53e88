//! The `opensmev sig` commands, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opensmev"));
    command.env_remove("OPENSMEV_LANG");
    command
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../opensmev-xmldsig/tests/data/samples")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run opensmev")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn transform_of_the_mr_vector_is_byte_identical() {
    let dir = samples().join("mr-example-1.1");
    let output = run(&[
        "sig",
        "transform",
        dir.join("transform-input.SenderProvidedRequestData.xml")
            .to_str()
            .unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected =
        std::fs::read(dir.join("transform-output.SenderProvidedRequestData.xml")).unwrap();
    assert_eq!(output.stdout, expected);
}

#[test]
fn verify_reports_the_mr_gost2001_signature() {
    let file = samples().join("mr-example-1.1/SendRequestRequestNoAttach.xml");
    let then = run(&[
        "--lang",
        "en",
        "sig",
        "verify",
        file.to_str().unwrap(),
        "--at",
        "2016-01-01T00:00:00Z",
    ]);
    let text = stdout(&then);
    assert_eq!(then.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Digest (http://www.w3.org/2001/04/xmldsig-more#gostr3411): OK"),
        "{text}"
    );
    assert!(text.contains("Signature (SignatureValue): OK"), "{text}");
    assert!(text.contains("GOST R 34.10-2001"), "{text}");
    assert!(
        text.contains(
            "Signed element: /Envelope/Body/SendRequestRequest/SenderProvidedRequestData"
        ),
        "{text}"
    );
    // Now: the certificate has expired; Russian by default.
    let now = run(&["sig", "verify", file.to_str().unwrap()]);
    let text = stdout(&now);
    assert_eq!(now.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Хеш (http://www.w3.org/2001/04/xmldsig-more#gostr3411): верно"),
        "{text}"
    );
    assert!(text.contains("CertificateIsExpired"), "{text}");
}

#[test]
fn verify_without_signature_and_of_broken_xml() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.xml");
    std::fs::write(&plain, "<a xmlns=\"urn:a\"><b Id=\"x\">1</b></a>").unwrap();
    let output = run(&["--lang", "en", "sig", "verify", plain.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("NoSignatureFound"));
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, "<a>\n<b></a>").unwrap();
    let output = run(&["--lang", "en", "sig", "verify", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not well-formed") && stderr.contains("line 2"),
        "{stderr}"
    );
}

#[test]
fn keygen_sign_verify_round_trip_for_every_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("request.xml");
    std::fs::write(
        &doc,
        r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><t:GetRequestRequest xmlns:t="urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3" xmlns:b="urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.3"><b:MessageTypeSelector Id="SIGNED_BY_CALLER"><b:Timestamp>2026-11-24T12:00:00+03:00</b:Timestamp></b:MessageTypeSelector></t:GetRequestRequest></S:Body></S:Envelope>"#,
    )
    .unwrap();
    for alg in [
        "gost2012-256",
        "gost2012-512",
        "gost2001",
        "ecdsa-p256",
        "rsa-sha256",
    ] {
        let keys = dir.path().join(alg);
        let output = run(&[
            "sig",
            "keygen",
            "--alg",
            alg,
            "--subject",
            "CN=Тестовая ИС, O=Тест, OGRN=1027700000000",
            "--out",
            keys.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{alg}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout(&output).contains("OGRN: 1027700000000"));
        let signed = dir.path().join(format!("signed-{alg}.xml"));
        let output = run(&[
            "sig",
            "sign",
            doc.to_str().unwrap(),
            "--id",
            "SIGNED_BY_CALLER",
            "--key",
            keys.join("key.pem").to_str().unwrap(),
            "--cert",
            keys.join("cert.pem").to_str().unwrap(),
            "--alg",
            alg,
            "--out",
            signed.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{alg}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(&signed).unwrap();
        assert!(
            text.contains("<t:CallerInformationSystemSignature><ds:Signature"),
            "{text}"
        );
        let output = run(&["--lang", "en", "sig", "verify", signed.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{alg}: {}", stdout(&output));
        // A changed byte in the signed element is caught.
        let tampered = dir.path().join(format!("tampered-{alg}.xml"));
        std::fs::write(&tampered, text.replace("12:00:00", "12:00:01")).unwrap();
        let output = run(&["--lang", "en", "sig", "verify", tampered.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1));
        assert!(stdout(&output).contains("SignatureIsInvalid"));
    }
    // --alg must match the key.
    let keys = dir.path().join("gost2012-256");
    let output = run(&[
        "sig",
        "sign",
        doc.to_str().unwrap(),
        "--id",
        "SIGNED_BY_CALLER",
        "--key",
        keys.join("key.pem").to_str().unwrap(),
        "--cert",
        keys.join("cert.pem").to_str().unwrap(),
        "--alg",
        "ecdsa-p256",
    ]);
    assert_eq!(output.status.code(), Some(2));
    // --out-signature prints just the signature.
    let output = run(&[
        "sig",
        "sign",
        doc.to_str().unwrap(),
        "--id",
        "SIGNED_BY_CALLER",
        "--key",
        keys.join("key.pem").to_str().unwrap(),
        "--cert",
        keys.join("cert.pem").to_str().unwrap(),
        "--out-signature",
    ]);
    let text = stdout(&output);
    assert!(
        text.starts_with("<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">")
            && text.ends_with("</ds:Signature>")
    );
}

#[test]
fn cms_sign_and_verify_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let output = run(&[
        "sig",
        "keygen",
        "--subject",
        "CN=Должностное лицо, SNILS=12345678901",
        "--out",
        keys.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let file = dir.path().join("attachment.pdf");
    std::fs::write(&file, b"%PDF-1.4 attachment body").unwrap();
    let sig = dir.path().join("attachment.p7s");
    let output = run(&[
        "sig",
        "cms-sign",
        file.to_str().unwrap(),
        "--key",
        keys.join("key.pem").to_str().unwrap(),
        "--cert",
        keys.join("cert.pem").to_str().unwrap(),
        "--out",
        sig.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(&[
        "--lang",
        "en",
        "sig",
        "cms-verify",
        file.to_str().unwrap(),
        "--signature",
        sig.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("SNILS: 12345678901"));
    std::fs::write(&file, b"%PDF-1.4 attachment bodY").unwrap();
    let output = run(&[
        "sig",
        "cms-verify",
        file.to_str().unwrap(),
        "--signature",
        sig.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn cert_shows_a_real_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(samples().join("smev3sharp-1.2/SendRequestResponce.xml")).unwrap();
    let start = text.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
    let end = text.find("</ds:X509Certificate>").unwrap();
    let file = dir.path().join("smev.b64");
    std::fs::write(&file, &text[start..end]).unwrap();
    let output = run(&["--lang", "en", "sig", "cert", file.to_str().unwrap()]);
    let out = stdout(&output);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("GOST R 34.10-2012 (256)") && out.contains("OGRN: 1047702026701"),
        "{out}"
    );
}
