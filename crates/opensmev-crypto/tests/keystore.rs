//! FileKeyStore end to end: GOST and ECDSA round trips, encryption and mode of the key files,
//! wrong passphrase, mismatching keys, owner names, list and remove.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use opensmev_crypto::{
    CryptoError, CryptoProvider, FileKeyStore, KeyStore, OpenSslProvider, SignatureAlgorithm,
    TestIdentity, TestIdentityParams, generate_test_identity,
};

const PASSPHRASE: &[u8] = b"correct horse battery staple";
const DATA: &[u8] = b"<ns:Data xmlns:ns=\"urn:test\">data</ns:Data>";

fn provider() -> Arc<dyn CryptoProvider> {
    Arc::new(OpenSslProvider::new())
}

fn identity(alg: SignatureAlgorithm, cn: &str) -> TestIdentity {
    generate_test_identity(&TestIdentityParams::new(alg, format!("CN={cn}, O=Test")))
        .unwrap_or_else(|e| panic!("keygen {alg:?}: {e}"))
}

fn open(dir: &std::path::Path, passphrase: &[u8]) -> FileKeyStore {
    FileKeyStore::open(dir, passphrase, provider()).expect("open key store")
}

fn round_trip(alg: SignatureAlgorithm) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let id = identity(alg, "Round trip");
    {
        let store = open(&dir, PASSPHRASE);
        store
            .put("IS_1", id.key_pem.as_bytes(), &id.certificate)
            .expect("put");
    }
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // A fresh store over the same directory reads the key back.
    let store = open(&dir, PASSPHRASE);
    let signer = store
        .signer("IS_1")
        .expect("signer")
        .expect("a key for IS_1");
    assert_eq!(signer.algorithm(), alg);
    assert_eq!(
        signer.certificate().thumbprint_sha1(),
        id.certificate.thumbprint_sha1()
    );
    let signature = signer.sign(DATA).expect("sign");
    provider()
        .verify(&id.certificate, alg, DATA, &signature)
        .expect("the stored key's signature verifies against the certificate");

    let key_path = dir.join("IS_1.key.pem");
    let on_disk = std::fs::read_to_string(&key_path).unwrap();
    assert!(!on_disk.contains("BEGIN PRIVATE KEY"), "{on_disk}");
    assert!(on_disk.contains("ENCRYPTED"), "{on_disk}");
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cert = std::fs::read(dir.join("IS_1.cert.pem")).unwrap();
    assert_eq!(
        opensmev_crypto::Certificate::from_pem(&cert)
            .unwrap()
            .thumbprint_sha1(),
        id.certificate.thumbprint_sha1()
    );
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Another passphrase cannot read the key, and says whose key it is.
    let wrong = open(&dir, b"not the passphrase");
    let err = wrong.signer("IS_1").expect_err("wrong passphrase");
    assert!(
        matches!(&err, CryptoError::KeyDecryption { owner } if owner == "IS_1"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("IS_1"), "{text}");
    assert!(!text.contains("not the passphrase"), "{text}");
    assert!(!format!("{wrong:?}").contains("not the passphrase"));

    // A key file that is not encrypted is refused, not silently used.
    std::fs::write(&key_path, &id.key_pem).unwrap();
    let err = store.signer("IS_1").expect_err("plain key file");
    assert!(
        matches!(&err, CryptoError::KeyStore(m) if m.contains("IS_1")),
        "{err:?}"
    );
}

#[test]
fn gost_2012_256_round_trip() {
    round_trip(SignatureAlgorithm::Gost2012_256);
}

#[test]
fn ecdsa_p256_round_trip() {
    round_trip(SignatureAlgorithm::EcdsaP256Sha256);
}

#[test]
fn put_refuses_a_key_of_another_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path(), PASSPHRASE);
    for alg in [
        SignatureAlgorithm::Gost2012_256,
        SignatureAlgorithm::EcdsaP256Sha256,
    ] {
        let a = identity(alg, "A");
        let b = identity(alg, "B");
        let err = store
            .put("IS_1", a.key_pem.as_bytes(), &b.certificate)
            .expect_err("mismatching key");
        assert!(
            matches!(err, CryptoError::KeyCertificateMismatch),
            "{alg:?}: {err:?}"
        );
    }
    let err = store
        .put(
            "IS_1",
            b"not a key",
            &identity(SignatureAlgorithm::EcdsaP256Sha256, "C").certificate,
        )
        .expect_err("garbage key");
    assert!(matches!(err, CryptoError::InvalidKey(_)), "{err:?}");
    assert!(store.list().unwrap().is_empty());
    assert!(store.signer("IS_1").unwrap().is_none());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn invalid_owner_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let store = open(&dir, PASSPHRASE);
    let id = identity(SignatureAlgorithm::EcdsaP256Sha256, "Owner");
    for bad in ["../x", "a/b", "", ".", "..", "a b", "/etc/passwd"] {
        let err = store
            .put(bad, id.key_pem.as_bytes(), &id.certificate)
            .expect_err(bad);
        assert!(
            matches!(&err, CryptoError::InvalidKeyOwner(o) if o == bad),
            "{bad:?}: {err:?}"
        );
        assert!(matches!(
            store.signer(bad),
            Err(CryptoError::InvalidKeyOwner(_))
        ));
        assert!(matches!(
            store.remove(bad),
            Err(CryptoError::InvalidKeyOwner(_))
        ));
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert!(!tmp.path().join("x.key.pem").exists());
}

#[test]
fn list_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path(), PASSPHRASE);
    assert!(store.list().unwrap().is_empty());
    let gost = identity(SignatureAlgorithm::Gost2012_256, "Gost IS");
    let ec = identity(SignatureAlgorithm::EcdsaP256Sha256, "Ec IS");
    store
        .put("zeta-IS", gost.key_pem.as_bytes(), &gost.certificate)
        .unwrap();
    store
        .put("alpha_IS", ec.key_pem.as_bytes(), &ec.certificate)
        .unwrap();
    // A stray file that is not a key is ignored.
    std::fs::write(tmp.path().join("README"), "not a key").unwrap();

    let list = store.list().unwrap();
    let owners: Vec<&str> = list.iter().map(|e| e.owner.as_str()).collect();
    assert_eq!(owners, ["alpha_IS", "zeta-IS"]);
    assert_eq!(list[0].thumbprint_sha1, ec.certificate.thumbprint_sha1());
    assert_eq!(list[0].not_after, ec.certificate.not_after());
    assert!(list[0].subject.contains("Ec IS"), "{}", list[0].subject);
    assert_eq!(list[1].thumbprint_sha1, gost.certificate.thumbprint_sha1());

    // Replacing a key: the new certificate wins.
    let ec2 = identity(SignatureAlgorithm::EcdsaP256Sha256, "Ec IS 2");
    store
        .put("alpha_IS", ec2.key_pem.as_bytes(), &ec2.certificate)
        .unwrap();
    assert_eq!(
        store.list().unwrap()[0].thumbprint_sha1,
        ec2.certificate.thumbprint_sha1()
    );

    assert!(store.remove("alpha_IS").unwrap());
    assert!(!store.remove("alpha_IS").unwrap());
    assert!(store.signer("alpha_IS").unwrap().is_none());
    let owners: Vec<String> = store.list().unwrap().into_iter().map(|e| e.owner).collect();
    assert_eq!(owners, ["zeta-IS"]);
    assert!(store.signer("zeta-IS").unwrap().is_some());
}

#[test]
fn empty_passphrase_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = FileKeyStore::open(tmp.path(), b"", provider()).expect_err("empty passphrase");
    assert!(matches!(err, CryptoError::KeyStore(_)), "{err:?}");
}

#[test]
fn a_loaded_key_is_reused_until_its_files_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let first = identity(SignatureAlgorithm::EcdsaP256Sha256, "First");
    let second = identity(SignatureAlgorithm::EcdsaP256Sha256, "Second");
    let store = open(&dir, PASSPHRASE);
    store
        .put("IS_1", first.key_pem.as_bytes(), &first.certificate)
        .unwrap();
    // Loaded once, then served from memory (its cost is measured in BENCHMARKS.md §8).
    for _ in 0..3 {
        let signer = store.signer("IS_1").unwrap().unwrap();
        assert_eq!(
            signer.certificate().thumbprint_sha1(),
            first.certificate.thumbprint_sha1()
        );
    }
    // Another store (another node or process) replaces the key in the same directory: seen.
    let other = open(&dir, PASSPHRASE);
    other
        .put("IS_1", second.key_pem.as_bytes(), &second.certificate)
        .unwrap();
    let signer = store.signer("IS_1").unwrap().unwrap();
    assert_eq!(
        signer.certificate().thumbprint_sha1(),
        second.certificate.thumbprint_sha1(),
        "the changed files are read again"
    );
    let signature = signer.sign(DATA).unwrap();
    provider()
        .verify(&second.certificate, signer.algorithm(), DATA, &signature)
        .unwrap();
    // Removed elsewhere: gone here too.
    assert!(other.remove("IS_1").unwrap());
    assert!(store.signer("IS_1").unwrap().is_none());
}
