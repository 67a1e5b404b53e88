//! Cryptography for OpenSMEV behind one provider trait: digests, signatures, certificates, CMS.
//!
//! The XML-signature layer (`opensmev-xmldsig`) and the bus only ever talk to [`CryptoProvider`] and
//! [`Signer`]; they never touch OpenSSL directly. This keeps a hardware or CryptoPro-based provider
//! pluggable later. The default provider, [`OpenSslProvider`], uses OpenSSL 3 with the Debian
//! `libengine-gost-openssl` ENGINE loaded programmatically (no `OPENSSL_CONF` needed) for
//! GOST R 34.10/34.11, and plain OpenSSL for ECDSA P-256 and RSA.
//!
//! Byte layouts at this API are the XMLDSig wire layouts:
//! * GOST signatures: the bytes OpenSSL's GOST engine produces, as-is (this is what SMEV puts into
//!   `SignatureValue`; proven on a real test-SMEV signature);
//! * GOST digests: OpenSSL/streebog output bytes as-is;
//! * ECDSA: raw `r || s`, each half left-padded to the curve size (RFC 4050 / RFC 6931), not DER;
//! * RSA: PKCS#1 v1.5.
//!
//! Architecture invariant: this crate knows nothing of XML, tokio, HTTP or SQL.

mod alg;
mod cert;
mod error;
mod keygen;
mod keystore;
mod openssl_provider;

pub use alg::{DigestAlgorithm, KeyAlgorithm, SignatureAlgorithm};
pub use cert::{Certificate, DistinguishedName, RdnAttribute};
pub use error::CryptoError;
pub use keygen::{TestIdentity, TestIdentityParams, generate_test_identity};
pub use keystore::{FileKeyStore, KeyEntry, KeyStore};
pub use openssl_provider::{OpenSslProvider, gost_engine_status};

use std::fmt::Debug;

/// An incremental hash computation (streaming input).
pub trait Hasher: Send {
    /// Feeds more input.
    fn update(&mut self, data: &[u8]);
    /// Finishes and returns the digest bytes in XMLDSig wire order.
    fn finish(self: Box<Self>) -> Result<Vec<u8>, CryptoError>;
}

/// A private key together with its certificate, able to produce signatures.
pub trait Signer: Send + Sync + Debug {
    /// The signature algorithm this key produces.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The certificate that goes into `KeyInfo`.
    fn certificate(&self) -> &Certificate;
    /// Signs `data` (hashing it with [`SignatureAlgorithm::digest`]); returns wire-layout bytes.
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Produces a detached CMS/PKCS#7 `SignedData` (DER) over `data`, with the signer certificate
    /// included and the digest algorithm matching the key (e.g. GOST R 34.11-2012 for GOST 2012 keys).
    fn sign_cms_detached(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

/// What a successful CMS verification found.
#[derive(Debug, Clone)]
pub struct CmsVerification {
    /// The signer certificate taken from the CMS structure.
    pub signer: Certificate,
    /// The digest algorithm of the signer info, when it is one we know.
    pub digest: Option<DigestAlgorithm>,
}

/// The crypto operations the signature layer and the bus need.
///
/// Implementations must be cheap to share between threads (`Send + Sync`).
pub trait CryptoProvider: Send + Sync + Debug {
    /// Starts an incremental digest.
    fn hasher(&self, alg: DigestAlgorithm) -> Result<Box<dyn Hasher>, CryptoError>;

    /// One-shot digest.
    fn digest(&self, alg: DigestAlgorithm, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut hasher = self.hasher(alg)?;
        hasher.update(data);
        hasher.finish()
    }

    /// Verifies `signature` (wire layout) over `data` with the public key of `cert`.
    ///
    /// Returns `Ok(())` when valid, [`CryptoError::BadSignature`] when the signature does not
    /// match, [`CryptoError::KeyAlgorithmMismatch`] when the certificate key cannot be used with
    /// `alg`, and other errors for malformed input or a missing GOST engine.
    fn verify(
        &self,
        cert: &Certificate,
        alg: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError>;

    /// Loads a PEM private key (PKCS#8, unencrypted) and pairs it with `cert`.
    /// Fails with [`CryptoError::KeyCertificateMismatch`] when the key does not belong to `cert`.
    fn load_signer(
        &self,
        key_pem: &[u8],
        cert: Certificate,
    ) -> Result<Box<dyn Signer>, CryptoError>;

    /// Verifies a detached CMS/PKCS#7 `SignedData` (DER, or PEM `-----BEGIN CMS/PKCS7-----`) over
    /// `data`. The signer certificate must be inside the structure. Certificate chains are not
    /// checked here (trust is the registry's business); only the signature is.
    fn cms_verify_detached(&self, cms: &[u8], data: &[u8]) -> Result<CmsVerification, CryptoError>;
}

/// `n` bytes from OpenSSL's cryptographically secure generator (API token secrets, one-time
/// passwords).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut bytes = vec![0u8; n];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(bytes)
}
