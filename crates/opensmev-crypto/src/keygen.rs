//! Test identities: a fresh key pair plus a self-signed certificate, for every supported
//! signature algorithm (GOST keys via the OpenSSL GOST engine).

use openssl::asn1::{Asn1Time, Asn1Type};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder};
use time::{Duration, OffsetDateTime};

use crate::cert::{oid_for_short_name, short_name_for_oid};
use crate::openssl_provider::{gost_engine_status, message_digest, pkey_ctx_ctrl_str, txt2nid};
use crate::{Certificate, CryptoError, SignatureAlgorithm};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestIdentityParams {
    /// Key type and certificate signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// Subject, e.g. `CN=Тест, O=ООО "Тест", OGRN=1027700000000, INN=7700000000`.
    ///
    /// Comma-separated `NAME=value` pairs. Names: CN, O, OU, C, L, ST, STREET, E (emailAddress),
    /// T (title), SN (surname), G (givenName), OGRN, OGRNIP, INN, INNLE, SNILS, or a dotted OID.
    /// A comma only separates attributes when it is followed by `NAME=` (NAME made of ASCII
    /// letters, digits and dots), so values such as `STREET=ул. Тверская, д. 7` need no escaping;
    /// `\,` is a literal comma in any case.
    pub subject: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl TestIdentityParams {
    /// Parameters with validity from one hour ago to three years from now.
    pub fn new(algorithm: SignatureAlgorithm, subject: impl Into<String>) -> Self {
        let now = OffsetDateTime::now_utc();
        TestIdentityParams {
            algorithm,
            subject: subject.into(),
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(3 * 365),
        }
    }
}

/// A generated key pair with its self-signed certificate.
#[derive(Clone)]
pub struct TestIdentity {
    /// The private key, PKCS#8 PEM (unencrypted).
    pub key_pem: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The parsed certificate.
    pub certificate: Certificate,
}

impl std::fmt::Debug for TestIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdentity")
            .field("key_pem", &"<redacted>")
            .field("certificate", &self.certificate)
            .finish()
    }
}

fn keygen_err(msg: impl std::fmt::Display) -> CryptoError {
    CryptoError::KeyGeneration(msg.to_string())
}

/// Generates a key pair and a self-signed X.509 v3 certificate.
pub fn generate_test_identity(params: &TestIdentityParams) -> Result<TestIdentity, CryptoError> {
    if params.not_before >= params.not_after {
        return Err(keygen_err("not_before must be earlier than not_after"));
    }
    let name = build_name(&params.subject)?;
    let key = generate_key(params.algorithm)?;
    let md = message_digest(params.algorithm.digest())?;

    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::ONE, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let not_before = asn1_time(params.not_before)?;
    let not_after = asn1_time(params.not_after)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    builder.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .non_repudiation()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
    builder.append_extension(ski)?;
    builder.sign(&key, md)?;
    let x509 = builder.build();

    let key_pem = String::from_utf8(key.private_key_to_pem_pkcs8()?)
        .map_err(|_| keygen_err("PEM output is not UTF-8"))?;
    let cert_pem =
        String::from_utf8(x509.to_pem()?).map_err(|_| keygen_err("PEM output is not UTF-8"))?;
    let certificate = Certificate::from_der(&x509.to_der()?)?;
    Ok(TestIdentity {
        key_pem,
        cert_pem,
        certificate,
    })
}

fn asn1_time(t: OffsetDateTime) -> Result<Asn1Time, CryptoError> {
    let secs = libc::time_t::try_from(t.unix_timestamp())
        .map_err(|_| keygen_err(format!("time out of range: {t}")))?;
    Ok(Asn1Time::from_unix(secs)?)
}

fn generate_key(alg: SignatureAlgorithm) -> Result<PKey<Private>, CryptoError> {
    match alg {
        SignatureAlgorithm::Gost2012_256
        | SignatureAlgorithm::Gost2012_512
        | SignatureAlgorithm::Gost2001 => {
            gost_engine_status()?;
            let type_name = match alg {
                SignatureAlgorithm::Gost2012_256 => "gost2012_256",
                SignatureAlgorithm::Gost2012_512 => "gost2012_512",
                _ => "gost2001",
            };
            let nid = txt2nid(type_name).ok_or_else(|| CryptoError::GostEngineUnavailable {
                reason: format!("key type {type_name} is not registered"),
            })?;
            let mut ctx = PkeyCtx::new_id(Id::from_raw(nid))?;
            ctx.keygen_init()?;
            pkey_ctx_ctrl_str(&mut ctx, "paramset", "A")?;
            Ok(ctx.keygen()?)
        }
        SignatureAlgorithm::EcdsaP256Sha256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
        }
        SignatureAlgorithm::RsaSha256 => Ok(PKey::from_rsa(Rsa::generate(2048)?)?),
    }
}

/// One parsed `NAME=value` component.
#[derive(Debug, PartialEq, Eq)]
struct SubjectPart {
    oid: String,
    value: String,
}

fn is_dotted_oid(s: &str) -> bool {
    let mut arcs = 0;
    for arc in s.split('.') {
        if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        arcs += 1;
    }
    arcs >= 2
}

fn key_oid(key: &str) -> Option<String> {
    if is_dotted_oid(key) {
        Some(key.to_owned())
    } else {
        oid_for_short_name(key).map(str::to_owned)
    }
}

/// Whether `rest` (the text after a comma) starts with `NAME=`, where NAME looks like an attribute
/// name (letters, digits, dots). Unknown names are rejected later, which catches typos.
fn starts_new_part(rest: &str) -> bool {
    match rest.find('=') {
        Some(eq) => {
            let key = rest[..eq].trim();
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        }
        None => false,
    }
}

/// Splits and validates a subject string (see [`TestIdentityParams::subject`]).
fn parse_subject(subject: &str) -> Result<Vec<SubjectPart>, CryptoError> {
    // First split into raw components.
    let mut raw_parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = subject.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next)) => current.push(next),
                None => return Err(keygen_err("subject ends with a lone backslash")),
            },
            ',' if starts_new_part(&subject[i + 1..]) => {
                raw_parts.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    raw_parts.push(current);

    let mut parts = Vec::with_capacity(raw_parts.len());
    for raw in raw_parts {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(keygen_err(format!(
                "empty component in subject {subject:?}"
            )));
        }
        let (key, value) = raw
            .split_once('=')
            .ok_or_else(|| keygen_err(format!("subject component {raw:?} has no '='")))?;
        let key = key.trim();
        let value = value.trim();
        let oid = key_oid(key)
            .ok_or_else(|| keygen_err(format!("unknown attribute name {key:?} in subject")))?;
        if value.is_empty() {
            return Err(keygen_err(format!("empty value for {key} in subject")));
        }
        parts.push(SubjectPart {
            oid,
            value: value.to_owned(),
        });
    }
    Ok(parts)
}

fn build_name(subject: &str) -> Result<X509Name, CryptoError> {
    let parts = parse_subject(subject)?;
    let mut builder = X509NameBuilder::new()?;
    for part in &parts {
        let short = short_name_for_oid(&part.oid).unwrap_or("");
        let ty = match short {
            "C" => {
                if part.value.len() != 2 || !part.value.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(keygen_err(format!(
                        "country must be a two-letter code, got {:?}",
                        part.value
                    )));
                }
                Asn1Type::PRINTABLESTRING
            }
            "E" => {
                if !part.value.is_ascii() {
                    return Err(keygen_err(format!(
                        "e-mail address must be ASCII, got {:?}",
                        part.value
                    )));
                }
                Asn1Type::IA5STRING
            }
            "OGRN" | "OGRNIP" | "INN" | "INNLE" | "SNILS" => {
                if !part.value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(keygen_err(format!(
                        "{short} must consist of digits, got {:?}",
                        part.value
                    )));
                }
                Asn1Type::NUMERICSTRING
            }
            _ => Asn1Type::UTF8STRING,
        };
        builder
            .append_entry_by_text_with_type(&part.oid, &part.value, ty)
            .map_err(|e| keygen_err(format!("subject attribute {}: {e}", part.oid)))?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(subject: &str) -> Vec<(String, String)> {
        parse_subject(subject)
            .unwrap_or_else(|e| panic!("{subject}: {e}"))
            .into_iter()
            .map(|p| (p.oid, p.value))
            .collect()
    }

    #[test]
    fn subject_parsing() {
        assert_eq!(
            pairs("CN=Тест, O=ООО \"Ромашка\", OGRN=1027700000000, INN=7700000000"),
            vec![
                ("2.5.4.3".into(), "Тест".into()),
                ("2.5.4.10".into(), "ООО \"Ромашка\"".into()),
                ("1.2.643.100.1".into(), "1027700000000".into()),
                ("1.2.643.3.131.1.1".into(), "7700000000".into()),
            ]
        );
        assert_eq!(
            pairs("STREET=ул. Тверская, д. 7,CN=a\\, b, 1.2.3.4=x"),
            vec![
                ("2.5.4.9".into(), "ул. Тверская, д. 7".into()),
                ("2.5.4.3".into(), "a, b".into()),
                ("1.2.3.4".into(), "x".into()),
            ]
        );
        for bad in ["", "CN", "XX=1", "CN=", "CN=a, XX=b", "CN=a\\"] {
            assert!(
                matches!(parse_subject(bad), Err(CryptoError::KeyGeneration(_))),
                "{bad:?} should fail"
            );
        }
        for bad in ["C=RUS", "OGRN=12a", "E=тест@example.ru"] {
            assert!(
                matches!(build_name(bad), Err(CryptoError::KeyGeneration(_))),
                "{bad:?} should fail"
            );
        }
    }
}
