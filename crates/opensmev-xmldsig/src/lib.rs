//! SMEV 3 XML signatures: the `urn://smev-gov-ru/xmldsig/transform`, exclusive C14N, and detached
//! XMLDSig signing and verification that explains why a signature fails.
//!
//! Layers, bottom up:
//! * [`xml`]: a hardened streaming reader (no DTD, limits) and a DOM-less element index;
//! * [`transform`]: the SMEV transform, streaming;
//! * [`c14n`]: exclusive XML canonicalization 1.0;
//! * [`dsig`]: `ds:Signature` parsing, reference processing, signing and verification, with
//!   results that name the SMEV fault category and explain the failure.
//!
//! Architecture invariant: pure and synchronous; crypto only through
//! `opensmev_crypto::CryptoProvider`; no tokio, HTTP or SQL.

pub mod c14n;
pub mod dsig;
pub mod transform;
pub mod xml;
