//! OpenSslProvider end to end: test identities, sign/verify for every algorithm, CMS detached
//! signatures, digest known-answer tests.

use std::sync::OnceLock;

use opensmev_crypto::{
    CryptoError, CryptoProvider, DigestAlgorithm, KeyAlgorithm, OpenSslProvider,
    SignatureAlgorithm, TestIdentity, TestIdentityParams, generate_test_identity,
    gost_engine_status,
};

const SUBJECT: &str = "CN=Тестовый участник, O=ООО \"Ромашка\", OGRN=1027700000000, INN=7700000000";
const DATA: &[u8] =
    b"<ns:Data xmlns:ns=\"urn:test\">\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82</ns:Data>";

fn provider() -> OpenSslProvider {
    OpenSslProvider::new()
}

fn identity(alg: SignatureAlgorithm) -> TestIdentity {
    generate_test_identity(&TestIdentityParams::new(alg, SUBJECT))
        .unwrap_or_else(|e| panic!("keygen {alg:?}: {e}"))
}

/// Two identities per algorithm, generated once per test binary (RSA keygen is slow).
fn identities(alg: SignatureAlgorithm) -> &'static (TestIdentity, TestIdentity) {
    static CACHE: OnceLock<Vec<(SignatureAlgorithm, (TestIdentity, TestIdentity))>> =
        OnceLock::new();
    let all = CACHE.get_or_init(|| {
        SignatureAlgorithm::ALL
            .into_iter()
            .map(|alg| (alg, (identity(alg), identity(alg))))
            .collect()
    });
    &all.iter()
        .find(|(a, _)| *a == alg)
        .unwrap_or_else(|| panic!("no identity for {alg:?}"))
        .1
}

fn flip(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

#[test]
fn engine_loads() {
    gost_engine_status().expect("GOST engine");
}

#[test]
fn sign_verify_round_trip_every_algorithm() {
    let p = provider();
    for alg in SignatureAlgorithm::ALL {
        let (id, other) = identities(alg);
        assert_eq!(id.certificate.key_algorithm(), alg.key_algorithm());
        let signer = p
            .load_signer(id.key_pem.as_bytes(), id.certificate.clone())
            .unwrap_or_else(|e| panic!("load_signer {alg:?}: {e}"));
        assert_eq!(signer.algorithm(), alg);
        assert_eq!(signer.certificate(), &id.certificate);

        let sig = signer
            .sign(DATA)
            .unwrap_or_else(|e| panic!("sign {alg:?}: {e}"));
        let expected_len = match alg {
            SignatureAlgorithm::Gost2012_512 => 128,
            SignatureAlgorithm::RsaSha256 => 256,
            _ => 64,
        };
        assert_eq!(sig.len(), expected_len, "{alg:?}");
        p.verify(&id.certificate, alg, DATA, &sig)
            .unwrap_or_else(|e| panic!("verify {alg:?}: {e}"));

        // Tampered data (first, middle and last byte).
        for i in [0, DATA.len() / 2, DATA.len() - 1] {
            assert!(
                matches!(
                    p.verify(&id.certificate, alg, &flip(DATA, i), &sig),
                    Err(CryptoError::BadSignature)
                ),
                "{alg:?}: tampered data byte {i} accepted"
            );
        }
        // Tampered signature.
        for i in [0, sig.len() / 2, sig.len() - 1] {
            assert!(
                matches!(
                    p.verify(&id.certificate, alg, DATA, &flip(&sig, i)),
                    Err(CryptoError::BadSignature)
                ),
                "{alg:?}: tampered signature byte {i} accepted"
            );
        }
        // Another identity's certificate.
        assert!(
            matches!(
                p.verify(&other.certificate, alg, DATA, &sig),
                Err(CryptoError::BadSignature)
            ),
            "{alg:?}: foreign certificate accepted"
        );
        // Wrong-length signatures are malformed, not merely bad.
        for bad in [&sig[..sig.len() - 1], &[][..]] {
            assert!(
                matches!(
                    p.verify(&id.certificate, alg, DATA, bad),
                    Err(CryptoError::InvalidSignatureEncoding(_))
                ),
                "{alg:?}: short signature"
            );
        }
        let mut long = sig.clone();
        long.push(0);
        assert!(matches!(
            p.verify(&id.certificate, alg, DATA, &long),
            Err(CryptoError::InvalidSignatureEncoding(_))
        ));
        // All-zero and all-0xFF signatures of the right length just fail.
        for fill in [0x00, 0xFF] {
            let junk = vec![fill; sig.len()];
            assert!(
                matches!(
                    p.verify(&id.certificate, alg, DATA, &junk),
                    Err(CryptoError::BadSignature)
                ),
                "{alg:?}: junk {fill:#x}"
            );
        }
        // Signing is randomized for (EC-)GOST and ECDSA, deterministic for RSA; both verify.
        let sig2 = signer.sign(DATA).expect("second signature");
        p.verify(&id.certificate, alg, DATA, &sig2)
            .expect("second signature verifies");
    }
}

#[test]
fn empty_data_signs_and_verifies() {
    let p = provider();
    let (id, _) = identities(SignatureAlgorithm::Gost2012_256);
    let signer = p
        .load_signer(id.key_pem.as_bytes(), id.certificate.clone())
        .expect("signer");
    let sig = signer.sign(b"").expect("sign");
    p.verify(&id.certificate, SignatureAlgorithm::Gost2012_256, b"", &sig)
        .expect("verify");
}

#[test]
fn wrong_key_type_is_a_key_algorithm_mismatch() {
    let p = provider();
    let (gost, _) = identities(SignatureAlgorithm::Gost2012_256);
    let (ec, _) = identities(SignatureAlgorithm::EcdsaP256Sha256);
    let cases = [
        (
            &gost.certificate,
            SignatureAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::Gost2012_256,
        ),
        (
            &gost.certificate,
            SignatureAlgorithm::Gost2012_512,
            KeyAlgorithm::Gost2012_256,
        ),
        (
            &gost.certificate,
            SignatureAlgorithm::Gost2001,
            KeyAlgorithm::Gost2012_256,
        ),
        (
            &ec.certificate,
            SignatureAlgorithm::Gost2012_256,
            KeyAlgorithm::EcP256,
        ),
        (
            &ec.certificate,
            SignatureAlgorithm::RsaSha256,
            KeyAlgorithm::EcP256,
        ),
    ];
    for (cert, alg, key) in cases {
        match p.verify(cert, alg, DATA, &[0u8; 64]) {
            Err(CryptoError::KeyAlgorithmMismatch { expected, found }) => {
                assert_eq!(expected, alg);
                assert_eq!(found, key);
            }
            other => panic!("{alg:?} with {key:?}: {other:?}"),
        }
    }
}

#[test]
fn key_certificate_mismatch() {
    let p = provider();
    for alg in SignatureAlgorithm::ALL {
        let (id, other) = identities(alg);
        assert!(
            matches!(
                p.load_signer(id.key_pem.as_bytes(), other.certificate.clone()),
                Err(CryptoError::KeyCertificateMismatch)
            ),
            "{alg:?}"
        );
    }
    // A key of another type than the certificate.
    let (gost, _) = identities(SignatureAlgorithm::Gost2012_256);
    let (ec, _) = identities(SignatureAlgorithm::EcdsaP256Sha256);
    let (rsa, _) = identities(SignatureAlgorithm::RsaSha256);
    for (key, cert) in [
        (&gost.key_pem, &ec.certificate),
        (&ec.key_pem, &gost.certificate),
        (&rsa.key_pem, &ec.certificate),
    ] {
        assert!(matches!(
            p.load_signer(key.as_bytes(), cert.clone()),
            Err(CryptoError::KeyCertificateMismatch)
        ));
    }
}

#[test]
fn malformed_keys_are_errors() {
    let p = provider();
    let (id, _) = identities(SignatureAlgorithm::Gost2012_256);
    for bad in [
        &b""[..],
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        id.cert_pem.as_bytes(),
        &id.key_pem.as_bytes()[..id.key_pem.len() / 2],
    ] {
        assert!(
            matches!(
                p.load_signer(bad, id.certificate.clone()),
                Err(CryptoError::InvalidKey(_))
            ),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn generated_certificate_fields() {
    let (id, other) = identities(SignatureAlgorithm::Gost2012_256);
    let cert = &id.certificate;
    assert_eq!(cert.subject().common_name(), Some("Тестовый участник"));
    assert_eq!(cert.subject().organization(), Some("ООО \"Ромашка\""));
    assert_eq!(cert.subject().ogrn(), Some("1027700000000"));
    assert_eq!(cert.subject().inn(), Some("7700000000"));
    assert_eq!(cert.issuer(), cert.subject());
    assert_eq!(
        cert.subject().to_string(),
        "CN=Тестовый участник, O=ООО \"Ромашка\", OGRN=1027700000000, INN=7700000000"
    );
    assert_eq!(cert.serial_hex().len(), 32);
    assert_ne!(cert.serial_hex(), other.certificate.serial_hex());
    let now = time::OffsetDateTime::now_utc();
    assert!(cert.is_valid_at(now));
    assert!(!cert.is_valid_at(now - time::Duration::hours(2)));
    assert!(!cert.is_valid_at(now + time::Duration::days(4 * 365)));
    assert!(id.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(id.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    // PEM/base64 round trips.
    let from_pem = opensmev_crypto::Certificate::from_pem(id.cert_pem.as_bytes()).expect("pem");
    assert_eq!(&from_pem, cert);
    let from_own_pem =
        opensmev_crypto::Certificate::from_pem(cert.to_pem().as_bytes()).expect("own pem");
    assert_eq!(&from_own_pem, cert);
    assert_eq!(
        &opensmev_crypto::Certificate::from_base64(&cert.base64()).expect("b64"),
        cert
    );
    assert!(!cert.base64().contains('\n'));

    let params = TestIdentityParams {
        algorithm: SignatureAlgorithm::EcdsaP256Sha256,
        subject: "CN=Иванов Иван Иванович, SN=Иванов, G=Иван Иванович, T=Директор, OU=ИТ, \
                  L=Москва, ST=77 г. Москва, STREET=ул. Тверская, д. 7, C=RU, \
                  E=test@example.ru, SNILS=12345678901, OGRNIP=304500116000157, \
                  INNLE=7707083893, 1.2.3.4.5=прочее"
            .into(),
        not_before: time::macros::datetime!(2024-01-01 00:00 UTC),
        not_after: time::macros::datetime!(2060-01-01 00:00 UTC),
    };
    let full = generate_test_identity(&params).expect("full subject");
    let dn = full.certificate.subject();
    assert_eq!(dn.get("STREET"), Some("ул. Тверская, д. 7"));
    assert_eq!(dn.get("sn"), Some("Иванов"));
    assert_eq!(dn.get("G"), Some("Иван Иванович"));
    assert_eq!(dn.get("T"), Some("Директор"));
    assert_eq!(dn.get("E"), Some("test@example.ru"));
    assert_eq!(dn.get("C"), Some("RU"));
    assert_eq!(dn.snils(), Some("12345678901"));
    assert_eq!(dn.ogrn(), Some("304500116000157"));
    assert_eq!(dn.inn(), Some("7707083893"));
    assert_eq!(dn.get("1.2.3.4.5"), Some("прочее"));
    assert_eq!(dn.attributes().len(), 14);
    assert_eq!(
        full.certificate.not_before(),
        time::macros::datetime!(2024-01-01 00:00 UTC)
    );
    // After 2049 X.509 uses GeneralizedTime.
    assert_eq!(
        full.certificate.not_after(),
        time::macros::datetime!(2060-01-01 00:00 UTC)
    );

    let mut bad = params.clone();
    bad.subject = "CN=x, BOGUS=y".into();
    assert!(matches!(
        generate_test_identity(&bad),
        Err(CryptoError::KeyGeneration(_))
    ));
    let mut bad = params;
    bad.not_after = bad.not_before;
    assert!(matches!(
        generate_test_identity(&bad),
        Err(CryptoError::KeyGeneration(_))
    ));
}

#[test]
fn cms_detached_round_trip() {
    let p = provider();
    for alg in SignatureAlgorithm::ALL {
        let (id, _) = identities(alg);
        let signer = p
            .load_signer(id.key_pem.as_bytes(), id.certificate.clone())
            .expect("signer");
        let cms = signer
            .sign_cms_detached(DATA)
            .unwrap_or_else(|e| panic!("CMS sign {alg:?}: {e}"));
        let found = p
            .cms_verify_detached(&cms, DATA)
            .unwrap_or_else(|e| panic!("CMS verify {alg:?}: {e}"));
        assert_eq!(found.signer, id.certificate, "{alg:?}");
        assert_eq!(found.digest, Some(alg.digest()), "{alg:?}");

        // PEM form is accepted too.
        let pem = format!(
            "-----BEGIN CMS-----\n{}\n-----END CMS-----\n",
            pem_lines(&cms)
        );
        p.cms_verify_detached(pem.as_bytes(), DATA)
            .unwrap_or_else(|e| panic!("CMS PEM {alg:?}: {e}"));
        let pem7 = pem.replace("CMS-----", "PKCS7-----");
        p.cms_verify_detached(pem7.as_bytes(), DATA)
            .unwrap_or_else(|e| panic!("PKCS7 PEM {alg:?}: {e}"));

        // Tampered content.
        for i in [0, DATA.len() - 1] {
            assert!(
                matches!(
                    p.cms_verify_detached(&cms, &flip(DATA, i)),
                    Err(CryptoError::BadSignature)
                ),
                "{alg:?}: tampered content"
            );
        }
        assert!(matches!(
            p.cms_verify_detached(&cms, b""),
            Err(CryptoError::BadSignature)
        ));
        // Tampered signature value (the last bytes of the structure).
        let tampered = flip(&cms, cms.len() - 3);
        assert!(
            matches!(
                p.cms_verify_detached(&tampered, DATA),
                Err(CryptoError::BadSignature)
            ),
            "{alg:?}: tampered signature: {:?}",
            p.cms_verify_detached(&tampered, DATA)
        );
        // Any single corrupted byte must give an error, never a panic or success.
        for i in (0..cms.len()).step_by(7) {
            let corrupted = flip(&cms, i);
            if let Ok(v) = p.cms_verify_detached(&corrupted, DATA) {
                // Flips in unsigned parts (e.g. the certificate's outer signature, which is not
                // checked here) may still verify; the signer key must then be unchanged.
                assert_eq!(
                    v.signer.key_algorithm(),
                    id.certificate.key_algorithm(),
                    "{alg:?} byte {i}"
                );
            }
        }
    }
}

#[test]
fn cms_garbage_is_an_error() {
    let p = provider();
    for bad in [
        &b""[..],
        b"garbage",
        b"\x30\x03\x02\x01\x01",
        b"-----BEGIN CMS-----\nAAAA\n-----END CMS-----\n",
    ] {
        assert!(
            matches!(p.cms_verify_detached(bad, DATA), Err(CryptoError::Cms(_))),
            "{bad:?}"
        );
    }
}

fn pem_lines(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn digest_known_answers() {
    let p = provider();
    // `printf 'hello\n' | openssl dgst -engine gost -md_gost12_256` etc.
    let cases = [
        (
            DigestAlgorithm::Gost3411_2012_256,
            "6ca48d4649e990b9d9404a3431dbc0945bbd4d984631a6cd42d3671f15da6b24",
        ),
        (
            DigestAlgorithm::Gost3411_2012_512,
            "3aadc02fc5091293ea02acb1a5aee2bc06cc0bbe9a59e91477d9817f1642f621\
             739f8278996786be59f87e69f66e2eb0409ead43713dbf46f361c6d754e66937",
        ),
        (
            DigestAlgorithm::Gost3411_94,
            "fd809f0dfc01406ef6a77871216d405b2303f9268f5a539f5e9e9d7659a3972b",
        ),
        (
            DigestAlgorithm::Sha256,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        ),
    ];
    for (alg, expected) in cases {
        let one_shot = p.digest(alg, b"hello\n").expect("digest");
        assert_eq!(hex::encode(&one_shot), expected, "{alg:?}");
        let mut h = p.hasher(alg).expect("hasher");
        h.update(b"hel");
        h.update(b"");
        h.update(b"lo\n");
        assert_eq!(
            hex::encode(h.finish().expect("finish")),
            expected,
            "{alg:?}"
        );
    }
}

#[test]
fn digest_of_mr_example_transform_output() {
    // The MR example's DigestValue is GOST R 34.11-94 over the SMEV-transform output.
    let data = include_bytes!("data/mr-example-2001.transform-output.xml");
    let digest = provider()
        .digest(DigestAlgorithm::Gost3411_94, data)
        .expect("digest");
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(digest),
        "/jXl70XwnttJB5sSokwh8SaVHwo2gjgILSu0qBaLUAo="
    );
}

#[test]
fn provider_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync::<OpenSslProvider>();
    let p: std::sync::Arc<dyn CryptoProvider> = std::sync::Arc::new(provider());
    let (id, _) = identities(SignatureAlgorithm::Gost2012_256);
    let signer: std::sync::Arc<dyn opensmev_crypto::Signer> = std::sync::Arc::from(
        p.load_signer(id.key_pem.as_bytes(), id.certificate.clone())
            .expect("signer"),
    );
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let p = p.clone();
            let signer = signer.clone();
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    let data = format!("thread {t} message {i}");
                    let sig = signer.sign(data.as_bytes()).expect("sign");
                    p.verify(
                        signer.certificate(),
                        SignatureAlgorithm::Gost2012_256,
                        data.as_bytes(),
                        &sig,
                    )
                    .expect("verify");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}

/// Rough throughput of GOST R 34.10-2012 (256) sign and verify. Informational only:
/// `cargo test -p opensmev-crypto --release -- --ignored --nocapture gost256_rates`.
#[test]
#[ignore = "timing, run by hand"]
fn gost256_rates() {
    use std::time::Instant;
    let p = provider();
    let (id, _) = identities(SignatureAlgorithm::Gost2012_256);
    let signer = p
        .load_signer(id.key_pem.as_bytes(), id.certificate.clone())
        .expect("signer");
    let data = vec![0x5Au8; 2048];
    let n = 2000;
    let start = Instant::now();
    let mut sig = Vec::new();
    for _ in 0..n {
        sig = signer.sign(&data).expect("sign");
    }
    let sign_rate = f64::from(n) / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..n {
        p.verify(
            &id.certificate,
            SignatureAlgorithm::Gost2012_256,
            &data,
            &sig,
        )
        .expect("verify");
    }
    let verify_rate = f64::from(n) / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..200 {
        let cms = signer.sign_cms_detached(&data).expect("cms sign");
        p.cms_verify_detached(&cms, &data).expect("cms verify");
    }
    let cms_rate = 200.0 / start.elapsed().as_secs_f64();
    eprintln!(
        "GOST 2012-256 over 2 KiB: sign {sign_rate:.0}/s, verify {verify_rate:.0}/s, \
         CMS sign+verify {cms_rate:.0}/s"
    );
}
