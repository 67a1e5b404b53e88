//! Real GOST certificates and signatures from the SMEV samples (test-SMEV 2012-256 response and
//! the MR 2001 example): parsing, fields, and verification of their SignedInfo signatures.

use opensmev_crypto::{
    Certificate, CryptoError, CryptoProvider, KeyAlgorithm, OpenSslProvider, SignatureAlgorithm,
};
use time::macros::datetime;

/// `ds:X509Certificate` of `smev3sharp-1.2/SendRequestResponce.xml` (signed by test SMEV).
const SMEV_2012_CERT: &str = include_str!("data/smev-test-2012-256.b64");
/// Its `ds:SignedInfo`, inter-tag whitespace removed, exclusive-c14n (verified with `openssl dgst`).
const SMEV_2012_SIGNED_INFO: &[u8] = include_bytes!("data/smev-test-2012-256.signed-info.c14n.xml");
const SMEV_2012_SIGNATURE: &str = include_str!("data/smev-test-2012-256.signature.b64");

/// `ds:X509Certificate` of `mr-example-1.1/SendRequestRequestNoAttach.xml`.
const MR_2001_CERT: &str = include_str!("data/mr-example-2001.b64");
const MR_2001_SIGNED_INFO: &[u8] = include_bytes!("data/mr-example-2001.signed-info.c14n.xml");
const MR_2001_SIGNATURE: &str = include_str!("data/mr-example-2001.signature.b64");

fn b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .expect("base64 fixture")
}

#[test]
fn smev_2012_certificate_fields() {
    let cert = Certificate::from_base64(SMEV_2012_CERT).expect("parse");
    assert_eq!(cert.key_algorithm(), KeyAlgorithm::Gost2012_256);
    assert_eq!(cert.key_algorithm_oid(), "1.2.643.7.1.1.1.1");
    let subject = cert.subject();
    assert_eq!(
        subject.common_name(),
        Some("Министерство цифрового развития, связи и массовых коммуникаций Российской Федерации")
    );
    assert_eq!(subject.organization(), Some("Минкомсвязь России"));
    assert_eq!(subject.ogrn(), Some("1047702026701"));
    assert_eq!(subject.inn(), Some("007710474375"));
    assert_eq!(subject.snils(), None);
    assert_eq!(subject.get("E"), Some("sd@sc.minsvyaz.ru"));
    assert_eq!(subject.get("L"), Some("Москва"));
    assert_eq!(subject.get("ST"), Some("77 г. Москва"));
    assert_eq!(subject.get("STREET"), Some("ТВЕРСКАЯ УЛ, 7"));
    assert_eq!(subject.get("C"), Some("RU"));
    // unstructuredName has no short name of ours: the dotted OID stands in.
    assert_eq!(
        subject.get("1.2.840.113549.1.9.2"),
        Some("ТСМЭВ 3, СР СМЭВ 3. Транспорт")
    );
    let names: Vec<&str> = subject
        .attributes()
        .iter()
        .map(|a| a.short_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "1.2.840.113549.1.9.2",
            "E",
            "INN",
            "OGRN",
            "O",
            "STREET",
            "L",
            "ST",
            "C",
            "CN"
        ]
    );
    assert!(subject.to_string().starts_with(
        "1.2.840.113549.1.9.2=ТСМЭВ 3, СР СМЭВ 3. Транспорт, E=sd@sc.minsvyaz.ru, \
         INN=007710474375, OGRN=1047702026701, O=Минкомсвязь России, "
    ));
    assert_eq!(cert.issuer().common_name(), Some("Тестовый УЦ РТК"));
    assert_eq!(cert.issuer().organization(), Some("ПАО \"Ростелеком\""));
    assert_eq!(cert.issuer().ogrn(), Some("1027700198767"));
    assert_eq!(cert.issuer().inn(), Some("007707049388"));

    assert_eq!(cert.serial_hex(), "03EA85002AAC41A8452B232F1C5F1DB6");
    assert_eq!(cert.not_before(), datetime!(2020-09-02 07:57:34 UTC));
    assert_eq!(cert.not_after(), datetime!(2021-09-02 08:07:34 UTC));
    assert!(cert.is_valid_at(datetime!(2021-03-23 04:03:07 UTC)));
    assert!(!cert.is_valid_at(datetime!(2020-09-02 07:57:33 UTC)));
    assert!(!cert.is_valid_at(datetime!(2021-09-02 08:07:35 UTC)));
    // `openssl x509 -fingerprint -sha1 / -sha256`
    assert_eq!(
        cert.thumbprint_sha1(),
        "21546241B97E781BA38D30B17161EE6156F566B4"
    );
    assert_eq!(
        cert.fingerprint_sha256(),
        "F0AB01F09448CA6E5AD8CD1B362FEBFA38E398ABCFEA9DA5942F08F1C47B6794"
    );
    let compact: String = SMEV_2012_CERT.split_whitespace().collect();
    assert_eq!(cert.base64(), compact);
    assert_eq!(cert.der(), b64(SMEV_2012_CERT));
}

#[test]
fn mr_2001_certificate_fields() {
    let cert = Certificate::from_base64(MR_2001_CERT).expect("parse");
    assert_eq!(cert.key_algorithm(), KeyAlgorithm::Gost2001);
    assert_eq!(cert.subject().to_string(), "OU=SYSTEM1, O=IS2, C=RU");
    assert_eq!(cert.subject().organization(), Some("IS2"));
    assert_eq!(cert.subject().common_name(), None);
    assert_eq!(cert.subject().ogrn(), None);
    assert_eq!(cert.issuer(), cert.subject());
    assert_eq!(cert.serial_hex(), "1D599528");
    assert_eq!(cert.not_before(), datetime!(2015-05-07 12:15:30 UTC));
    assert_eq!(cert.not_after(), datetime!(2018-05-06 12:15:30 UTC));
    assert_eq!(
        cert.thumbprint_sha1(),
        "0B6431F6FC0A0564891217BF7C8CB34DEDEED9F5"
    );
    assert_eq!(
        cert.fingerprint_sha256(),
        "674F0D5E67BCB30FCF08C700BA04A19F7C8C69938810B8065F4725E79F86F8BF"
    );
}

#[test]
fn certificate_text_forms() {
    // Whitespace inside base64 (as in pretty-printed `<ds:X509Certificate>`) is fine.
    let wrapped: String = MR_2001_CERT
        .trim()
        .as_bytes()
        .chunks(76)
        .map(|c| format!("\n      {}", String::from_utf8_lossy(c)))
        .collect::<String>()
        + "\n   ";
    let a = Certificate::from_base64(&wrapped).expect("wrapped");
    let b = Certificate::from_der(&b64(MR_2001_CERT)).expect("der");
    assert_eq!(a, b);
    let c = Certificate::from_pem(a.to_pem().as_bytes()).expect("pem");
    assert_eq!(a, c);
    assert!(a.to_pem().lines().all(|l| l.len() <= 64));

    // Truncated or trailing garbage → error.
    let der = b64(MR_2001_CERT);
    assert!(matches!(
        Certificate::from_der(&der[..der.len() - 1]),
        Err(CryptoError::InvalidCertificate(_))
    ));
    let mut longer = der.clone();
    longer.push(0);
    assert!(matches!(
        Certificate::from_der(&longer),
        Err(CryptoError::InvalidCertificate(_))
    ));
}

#[test]
fn real_signatures_verify_as_is() {
    let p = OpenSslProvider::new();
    let cases = [
        (
            SMEV_2012_CERT,
            SignatureAlgorithm::Gost2012_256,
            SMEV_2012_SIGNED_INFO,
            SMEV_2012_SIGNATURE,
        ),
        (
            MR_2001_CERT,
            SignatureAlgorithm::Gost2001,
            MR_2001_SIGNED_INFO,
            MR_2001_SIGNATURE,
        ),
    ];
    for (cert, alg, signed_info, signature) in cases {
        let cert = Certificate::from_base64(cert).expect("cert");
        let sig = b64(signature);
        p.verify(&cert, alg, signed_info, &sig)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        // Reversed bytes (the CryptoAPI layout) must not verify.
        let reversed: Vec<u8> = sig.iter().rev().copied().collect();
        assert!(matches!(
            p.verify(&cert, alg, signed_info, &reversed),
            Err(CryptoError::BadSignature)
        ));
        let mut tampered = signed_info.to_vec();
        tampered[10] ^= 1;
        assert!(matches!(
            p.verify(&cert, alg, &tampered, &sig),
            Err(CryptoError::BadSignature)
        ));
    }
}
