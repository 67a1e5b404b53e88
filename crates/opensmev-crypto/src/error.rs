//! The crypto layer's error type.

use crate::{KeyAlgorithm, SignatureAlgorithm};

/// Everything that can go wrong in the crypto layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The OpenSSL GOST engine could not be loaded (package `libengine-gost-openssl` missing?).
    #[error(
        "the OpenSSL GOST engine is not available ({reason}); install the Debian package \
         libengine-gost-openssl"
    )]
    GostEngineUnavailable {
        /// What OpenSSL said.
        reason: String,
    },
    /// An algorithm this provider does not implement.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The certificate's key cannot be used with the requested signature algorithm.
    #[error(
        "the certificate key is {found:?} but the signature algorithm {expected:?} needs another key type"
    )]
    KeyAlgorithmMismatch {
        /// The algorithm named by the signature.
        expected: SignatureAlgorithm,
        /// The key type of the certificate.
        found: KeyAlgorithm,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyCertificateMismatch,
    /// A private key that cannot be read.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A certificate that cannot be parsed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// Signature bytes of the wrong shape (e.g. wrong length for the algorithm).
    #[error("malformed signature value: {0}")]
    InvalidSignatureEncoding(String),
    /// The signature is well-formed but does not verify.
    #[error("the signature does not match the data and the certificate's public key")]
    BadSignature,
    /// A CMS/PKCS#7 structure that cannot be parsed or verified.
    #[error("CMS: {0}")]
    Cms(String),
    /// Test identity generation failed (bad subject string, …).
    #[error("key generation: {0}")]
    KeyGeneration(String),
    /// A key store owner name that is not a mnemonic (ASCII letters, digits, `_`, `-`).
    #[error("invalid key owner {0:?}: 1 to 100 ASCII letters, digits, '_' or '-' are allowed")]
    InvalidKeyOwner(String),
    /// A stored private key that cannot be decrypted: wrong key store passphrase or a damaged file.
    #[error(
        "the stored private key of {owner} cannot be decrypted (wrong key store passphrase or a \
         damaged key file)"
    )]
    KeyDecryption {
        /// The owner whose key it is.
        owner: String,
    },
    /// A key store failure (file system, missing certificate, …).
    #[error("key store: {0}")]
    KeyStore(String),
    /// Any other OpenSSL failure.
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}
