//! X.509 certificates: parsing (x509-parser, works for GOST certificates) and the fields the bus
//! needs (subject with Russian OGRN/INN/SNILS attributes, validity, thumbprints, key type).

use std::fmt;
use std::sync::OnceLock;

use openssl::x509::X509;
use sha1::Digest as _;
use time::OffsetDateTime;
use x509_parser::der_parser::asn1_rs::{Any, Tag};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::{CryptoError, KeyAlgorithm};

/// Attribute short names and their OIDs (dotted), in the order used for lookups.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("T", "2.5.4.12"),
    ("G", "2.5.4.42"),
    ("E", "1.2.840.113549.1.9.1"),
    ("OGRN", "1.2.643.100.1"),
    ("SNILS", "1.2.643.100.3"),
    ("INNLE", "1.2.643.100.4"),
    ("OGRNIP", "1.2.643.100.5"),
    ("INN", "1.2.643.3.131.1.1"),
];

/// OID of the OGRN attribute.
const OID_OGRN: &str = "1.2.643.100.1";
/// OID of the OGRNIP attribute (sole proprietors).
const OID_OGRNIP: &str = "1.2.643.100.5";
/// OID of the INN attribute.
const OID_INN: &str = "1.2.643.3.131.1.1";
/// OID of the INN of a legal entity.
const OID_INNLE: &str = "1.2.643.100.4";
/// OID of the SNILS attribute.
const OID_SNILS: &str = "1.2.643.100.3";

const OID_GOST2012_256: &str = "1.2.643.7.1.1.1.1";
const OID_GOST2012_512: &str = "1.2.643.7.1.1.1.2";
const OID_GOST2001: &str = "1.2.643.2.2.19";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_PRIME256V1: &str = "1.2.840.10045.3.1.7";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// The short name (`CN`, `OGRN`, …) for a dotted OID, if we know one.
pub(crate) fn short_name_for_oid(oid: &str) -> Option<&'static str> {
    ATTRIBUTE_NAMES
        .iter()
        .find(|(_, o)| *o == oid)
        .map(|(name, _)| *name)
}

/// The dotted OID for a short name (case-insensitive; `EMAILADDRESS`, `GN`, `SURNAME`, `TITLE`
/// are accepted as aliases).
pub(crate) fn oid_for_short_name(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    let canonical = match upper.as_str() {
        "EMAILADDRESS" | "EMAIL" => "E",
        "GN" | "GIVENNAME" => "G",
        "SURNAME" => "SN",
        "TITLE" => "T",
        "S" => "ST",
        other => other,
    };
    ATTRIBUTE_NAMES
        .iter()
        .find(|(n, _)| *n == canonical)
        .map(|(_, oid)| *oid)
}

/// One attribute of a distinguished name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RdnAttribute {
    /// Dotted OID, e.g. `2.5.4.3`.
    pub oid: String,
    /// Short name (`CN`, `O`, `OGRN`, …) or the dotted OID when unknown.
    pub short_name: String,
    /// The decoded value.
    pub value: String,
}

/// A distinguished name (subject or issuer) as a flat list of attributes in certificate order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DistinguishedName {
    attributes: Vec<RdnAttribute>,
}

impl DistinguishedName {
    /// All attributes in certificate order.
    pub fn attributes(&self) -> &[RdnAttribute] {
        &self.attributes
    }

    /// The first attribute value with this short name (case-insensitive), e.g. `get("CN")`.
    pub fn get(&self, short_name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.short_name.eq_ignore_ascii_case(short_name))
            .map(|a| a.value.as_str())
    }

    fn get_by_oid(&self, oid: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.oid == oid)
            .map(|a| a.value.as_str())
    }

    /// Common name (`CN`).
    pub fn common_name(&self) -> Option<&str> {
        self.get("CN")
    }

    /// Organization (`O`).
    pub fn organization(&self) -> Option<&str> {
        self.get("O")
    }

    /// OGRN (1.2.643.100.1), or OGRNIP (1.2.643.100.5) when there is no OGRN.
    pub fn ogrn(&self) -> Option<&str> {
        self.get_by_oid(OID_OGRN)
            .or_else(|| self.get_by_oid(OID_OGRNIP))
    }

    /// INN (1.2.643.3.131.1.1) or INNLE (1.2.643.100.4), whichever comes first in the name.
    pub fn inn(&self) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.oid == OID_INN || a.oid == OID_INNLE)
            .map(|a| a.value.as_str())
    }

    /// SNILS (1.2.643.100.3).
    pub fn snils(&self) -> Option<&str> {
        self.get_by_oid(OID_SNILS)
    }

    fn from_x509_name(name: &X509Name<'_>) -> DistinguishedName {
        let attributes = name
            .iter_attributes()
            .map(|attr| {
                let oid = attr.attr_type().to_id_string();
                let short_name = short_name_for_oid(&oid)
                    .map(str::to_owned)
                    .unwrap_or_else(|| oid.clone());
                RdnAttribute {
                    value: decode_string(attr.attr_value()),
                    oid,
                    short_name,
                }
            })
            .collect();
        DistinguishedName { attributes }
    }
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, attr) in self.attributes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", attr.short_name, attr.value)?;
        }
        Ok(())
    }
}

/// Decodes an ASN.1 string of any of the usual types; other values become `#hex` (as in RFC 4514).
fn decode_string(any: &Any<'_>) -> String {
    let data = any.data;
    let tag = any.tag();
    if tag == Tag::Utf8String
        || tag == Tag::PrintableString
        || tag == Tag::NumericString
        || tag == Tag::Ia5String
        || tag == Tag::VisibleString
    {
        return String::from_utf8_lossy(data).into_owned();
    }
    if tag == Tag::TeletexString {
        // T.61 in theory; in practice Latin-1 (or UTF-8 from broken encoders).
        return match std::str::from_utf8(data) {
            Ok(s) => s.to_owned(),
            Err(_) => data.iter().map(|&b| char::from(b)).collect(),
        };
    }
    if tag == Tag::BmpString {
        let units: Vec<u16> = data
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if tag == Tag::UniversalString {
        return data
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect();
    }
    format!("#{}", hex::encode(data))
}

/// An X.509 certificate: the DER bytes plus the fields the bus needs, parsed once. Cloning is
/// cheap (shared).
#[derive(Clone)]
pub struct Certificate(std::sync::Arc<CertificateData>);

struct CertificateData {
    der: Vec<u8>,
    subject: DistinguishedName,
    issuer: DistinguishedName,
    serial_hex: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    thumbprint_sha1: String,
    fingerprint_sha256: String,
    key_algorithm: KeyAlgorithm,
    key_oid: String,
    openssl: OnceLock<X509>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.0.subject.to_string())
            .field("issuer", &self.0.issuer.to_string())
            .field("serial", &self.0.serial_hex)
            .field("not_before", &self.0.not_before)
            .field("not_after", &self.0.not_after)
            .field("key_algorithm", &self.0.key_algorithm)
            .field("thumbprint_sha1", &self.0.thumbprint_sha1)
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.0.der == other.0.der
    }
}

impl Eq for Certificate {}

impl std::hash::Hash for Certificate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.der.hash(state);
    }
}

fn invalid(msg: impl fmt::Display) -> CryptoError {
    CryptoError::InvalidCertificate(msg.to_string())
}

fn timestamp(secs: i64) -> Result<OffsetDateTime, CryptoError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| invalid(format!("validity date: {e}")))
}

impl Certificate {
    /// Parses a DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate, CryptoError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(invalid)?;
        if !rest.is_empty() {
            return Err(invalid(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        let der = der[..der.len() - rest.len()].to_vec();
        let tbs = &cert.tbs_certificate;

        let raw_serial = tbs.raw_serial();
        let first_nonzero = raw_serial
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(raw_serial.len().saturating_sub(1));
        let serial_hex = hex::encode_upper(&raw_serial[first_nonzero..]);

        let spki = &tbs.subject_pki;
        let key_oid = spki.algorithm.algorithm.to_id_string();
        let key_algorithm = match key_oid.as_str() {
            OID_GOST2012_256 => KeyAlgorithm::Gost2012_256,
            OID_GOST2012_512 => KeyAlgorithm::Gost2012_512,
            OID_GOST2001 => KeyAlgorithm::Gost2001,
            OID_RSA_ENCRYPTION => KeyAlgorithm::Rsa,
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|oid| oid.to_id_string());
                if curve.as_deref() == Some(OID_PRIME256V1) {
                    KeyAlgorithm::EcP256
                } else {
                    KeyAlgorithm::Other
                }
            }
            _ => KeyAlgorithm::Other,
        };

        Ok(Certificate(std::sync::Arc::new(CertificateData {
            subject: DistinguishedName::from_x509_name(&tbs.subject),
            issuer: DistinguishedName::from_x509_name(&tbs.issuer),
            serial_hex,
            not_before: timestamp(tbs.validity.not_before.timestamp())?,
            not_after: timestamp(tbs.validity.not_after.timestamp())?,
            thumbprint_sha1: hex::encode_upper(sha1::Sha1::digest(&der)),
            fingerprint_sha256: hex::encode_upper(sha2::Sha256::digest(&der)),
            key_algorithm,
            key_oid,
            der,
            openssl: OnceLock::new(),
        })))
    }

    /// Parses a PEM certificate (`-----BEGIN CERTIFICATE-----`); the first one if there are several.
    pub fn from_pem(pem: &[u8]) -> Result<Certificate, CryptoError> {
        let text = std::str::from_utf8(pem).map_err(|_| invalid("PEM is not valid UTF-8"))?;
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let start = text
            .find(BEGIN)
            .ok_or_else(|| invalid("no -----BEGIN CERTIFICATE----- line"))?
            + BEGIN.len();
        let len = text[start..]
            .find(END)
            .ok_or_else(|| invalid("no -----END CERTIFICATE----- line"))?;
        Certificate::from_base64(&text[start..start + len])
    }

    /// Parses base64 DER as found in `<ds:X509Certificate>` (whitespace anywhere is ignored).
    pub fn from_base64(b64: &str) -> Result<Certificate, CryptoError> {
        let der = decode_base64(b64).ok_or_else(|| invalid("invalid base64"))?;
        Certificate::from_der(&der)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.0.der
    }

    /// The subject name.
    pub fn subject(&self) -> &DistinguishedName {
        &self.0.subject
    }

    /// The issuer name.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.0.issuer
    }

    /// Serial number, upper-case hex without sign padding (e.g. `03EA85002AAC…`).
    pub fn serial_hex(&self) -> &str {
        &self.0.serial_hex
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.0.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.0.not_after
    }

    /// Whether `at` lies within `[not_before, not_after]`.
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.0.not_before <= at && at <= self.0.not_after
    }

    /// SHA-1 over the DER, upper-case hex without separators (the Windows "thumbprint").
    pub fn thumbprint_sha1(&self) -> &str {
        &self.0.thumbprint_sha1
    }

    /// SHA-256 over the DER, upper-case hex without separators.
    pub fn fingerprint_sha256(&self) -> &str {
        &self.0.fingerprint_sha256
    }

    /// The public key type.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.0.key_algorithm
    }

    /// The dotted OID of the public key algorithm (useful when [`KeyAlgorithm::Other`]).
    pub fn key_algorithm_oid(&self) -> &str {
        &self.0.key_oid
    }

    /// PEM encoding (64-character lines, trailing newline).
    pub fn to_pem(&self) -> String {
        let b64 = encode_base64(&self.0.der);
        let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            // base64 output is ASCII, so every chunk is valid UTF-8.
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// Base64 of the DER on one line, for `<ds:X509Certificate>`.
    pub fn base64(&self) -> String {
        encode_base64(&self.0.der)
    }

    /// The OpenSSL view of the certificate, parsed once. Loads the GOST engine first for GOST
    /// certificates (OpenSSL needs it to decode the public key).
    pub(crate) fn openssl(&self) -> Result<&X509, CryptoError> {
        if matches!(
            self.0.key_algorithm,
            KeyAlgorithm::Gost2012_256 | KeyAlgorithm::Gost2012_512 | KeyAlgorithm::Gost2001
        ) {
            crate::gost_engine_status()?;
        }
        if let Some(x509) = self.0.openssl.get() {
            return Ok(x509);
        }
        let parsed = X509::from_der(&self.0.der)?;
        Ok(self.0.openssl.get_or_init(|| parsed))
    }

    /// Decodes the OpenSSL form of the certificate and its public key now (they are kept), so
    /// that later verifications with this value (or its clones) skip the decoding.
    pub fn warm(&self) -> Result<(), CryptoError> {
        self.public_key().map(|_| ())
    }

    /// The public key via OpenSSL.
    pub(crate) fn public_key(
        &self,
    ) -> Result<openssl::pkey::PKey<openssl::pkey::Public>, CryptoError> {
        Ok(self.openssl()?.public_key()?)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn encode_base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(char::from(B64[(n >> 18) as usize & 63]));
        out.push(char::from(B64[(n >> 12) as usize & 63]));
        if chunk.len() > 1 {
            out.push(char::from(B64[(n >> 6) as usize & 63]));
        } else {
            out.push('=');
        }
        if chunk.len() > 2 {
            out.push(char::from(B64[n as usize & 63]));
        } else {
            out.push('=');
        }
    }
    out
}

/// Standard base64 decoding; ASCII whitespace is skipped, padding is optional.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    for &c in text.as_bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            // Data after padding.
            return None;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover symbol (6 bits) cannot encode a byte; more than 2 '=' is malformed.
    if bits >= 6 || padding > 2 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = encode_base64(&data);
            assert_eq!(decode_base64(&enc).as_deref(), Some(&data[..]));
            let spaced: String = enc
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    if i % 5 == 0 {
                        vec!['\n', ' ', c]
                    } else {
                        vec![c]
                    }
                })
                .collect();
            assert_eq!(decode_base64(&spaced).as_deref(), Some(&data[..]));
        }
        assert_eq!(encode_base64(b"hello"), "aGVsbG8=");
        assert!(decode_base64("aGVsbG8=x").is_none());
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("a*bc").is_none());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            Certificate::from_der(b"\x30\x03\x02\x01\x01"),
            Err(CryptoError::InvalidCertificate(_))
        ));
        assert!(Certificate::from_der(&[]).is_err());
        assert!(Certificate::from_base64("!!!").is_err());
        assert!(Certificate::from_pem(b"nothing here").is_err());
    }

    #[test]
    fn short_names() {
        assert_eq!(oid_for_short_name("cn"), Some("2.5.4.3"));
        assert_eq!(
            oid_for_short_name("emailAddress"),
            Some("1.2.840.113549.1.9.1")
        );
        assert_eq!(short_name_for_oid("1.2.643.100.1"), Some("OGRN"));
        assert_eq!(short_name_for_oid("1.2.3"), None);
    }
}
