//! Detached XMLDSig signatures in the SMEV 3 profile: parsing, verification that explains itself,
//! and signing.
//!
//! Profile (PROTOCOL.md §7): one `ds:Reference URI="#Id"` to an element of the same document,
//! transforms exclusive C14N then the SMEV transform (a leading enveloped-signature transform is
//! tolerated), `SignedInfo` canonicalized with exclusive C14N, the signer certificate in
//! `KeyInfo/X509Data/X509Certificate`.
//!
//! Verification never stops at the first problem: it records what it found about the target,
//! every reference digest (expected and computed), the signature value and the certificate, and
//! then names the first failure in the order SMEV checks them, as a [`FaultCategory`] with a
//! human explanation.

use std::borrow::Cow;
use std::io::Write;
use std::ops::Range;

use base64::Engine as _;
use opensmev_crypto::{
    Certificate, CryptoError, CryptoProvider, DigestAlgorithm, Hasher, SignatureAlgorithm, Signer,
};
use time::OffsetDateTime;

use crate::c14n::{self, EXC_C14N_URI, EXC_C14N_WITH_COMMENTS_URI};
use crate::transform::{self, Flavor, SMEV_TRANSFORM_URI, TransformVariant};
use crate::xml::{Document, Element, ElementId, Limits};

/// The XMLDSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The enveloped-signature transform.
pub const ENVELOPED_SIGNATURE_URI: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const EXC_C14N_NS: &str = EXC_C14N_URI;

/// The SMEV `SignatureVerificationFault` categories (plus [`FaultCategory::Internal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCategory {
    /// The signature structure (or the envelope around it) is malformed.
    PoorSOAPEnvelopeFormat,
    /// No signature where one is required.
    NoSignatureFound,
    /// The signature does not cover the element it must cover.
    IncorrectSignatureTarget,
    /// A digest or the signature value does not match, or the algorithms are not acceptable.
    SignatureIsInvalid,
    /// No usable certificate.
    CertificateIsNotFound,
    /// The certificate is outside its validity period.
    CertificateIsExpired,
    /// Not the sender's fault: the check could not be done here (e.g. the GOST engine is missing).
    Internal,
}

impl FaultCategory {
    /// The value of the SMEV `SignatureVerificationFault` enumeration (`Internal` has none; it is
    /// reported as `SMEVFailure` by the bus).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultCategory::PoorSOAPEnvelopeFormat => "PoorSOAPEnvelopeFormat",
            FaultCategory::NoSignatureFound => "NoSignatureFound",
            FaultCategory::IncorrectSignatureTarget => "IncorrectSignatureTarget",
            FaultCategory::SignatureIsInvalid => "SignatureIsInvalid",
            FaultCategory::CertificateIsNotFound => "CertificateIsNotFound",
            FaultCategory::CertificateIsExpired => "CertificateIsExpired",
            FaultCategory::Internal => "Internal",
        }
    }
}

impl std::fmt::Display for FaultCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signature is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The SMEV category.
    pub category: FaultCategory,
    /// A human explanation (English; the bus translates the category for its fault strings).
    pub message: String,
}

/// One `ds:Transform` as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformSpec {
    /// `@Algorithm`.
    pub uri: String,
    /// `InclusiveNamespaces/@PrefixList` of an exclusive C14N transform.
    pub inclusive_prefixes: Vec<String>,
}

/// One `ds:Reference` as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReference {
    /// `@URI`.
    pub uri: Option<String>,
    /// The transforms in order.
    pub transforms: Vec<TransformSpec>,
    /// `DigestMethod/@Algorithm`.
    pub digest_method: String,
    /// `DigestValue`, decoded.
    pub digest_value: Vec<u8>,
}

/// A `ds:Signature` as found.
#[derive(Debug, Clone)]
pub struct ParsedSignature {
    /// The `SignedInfo` element.
    pub signed_info: ElementId,
    /// `CanonicalizationMethod/@Algorithm`.
    pub c14n_method: String,
    /// Its `InclusiveNamespaces/@PrefixList`.
    pub c14n_inclusive_prefixes: Vec<String>,
    /// `SignatureMethod/@Algorithm`.
    pub signature_method: String,
    /// The references.
    pub references: Vec<ParsedReference>,
    /// `SignatureValue`, decoded.
    pub signature_value: Vec<u8>,
    /// The base64 text of each `X509Certificate`.
    pub certificates: Vec<String>,
}

fn children_ds<'d, 'a>(element: &Element<'d, 'a>) -> impl Iterator<Item = Element<'d, 'a>> + 'd {
    element.children()
}

fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    // Multi-byte characters never contain ASCII bytes, so dropping white-space bytes is dropping
    // white-space characters.
    let compact: Cow<'_, [u8]> = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(text.as_bytes())
    };
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| format!("{what} is not valid base64: {e}"))
}

fn only_whitespace_text(element: &Element<'_, '_>) -> bool {
    element.children().next().is_none() && element.text_content().trim().is_empty()
}

/// Reads the structure of a `ds:Signature` element.
pub fn parse_signature(signature: &Element<'_, '_>) -> Result<ParsedSignature, String> {
    if !signature.is(DSIG_NS, "Signature") {
        return Err(format!("{} is not a ds:Signature", signature.qname()));
    }
    let children: Vec<Element<'_, '_>> = children_ds(signature).collect();
    let mut iter = children.iter();
    let signed_info = iter
        .next()
        .filter(|e| e.is(DSIG_NS, "SignedInfo"))
        .ok_or("ds:Signature must start with ds:SignedInfo")?;
    let signature_value = iter
        .next()
        .filter(|e| e.is(DSIG_NS, "SignatureValue"))
        .ok_or("ds:SignedInfo must be followed by ds:SignatureValue")?;
    let mut certificates = Vec::new();
    for rest in iter {
        if rest.is(DSIG_NS, "KeyInfo") {
            for data in rest.children().filter(|e| e.is(DSIG_NS, "X509Data")) {
                for cert in data.children().filter(|e| e.is(DSIG_NS, "X509Certificate")) {
                    certificates.push(cert.text_content());
                }
            }
        } else if !rest.is(DSIG_NS, "Object") {
            return Err(format!(
                "unexpected element {} in ds:Signature",
                rest.qname()
            ));
        }
    }
    let signature_value = decode_base64(&signature_value.text_content(), "SignatureValue")?;

    let si: Vec<Element<'_, '_>> = signed_info.children().collect();
    let c14n = si
        .first()
        .filter(|e| e.is(DSIG_NS, "CanonicalizationMethod"))
        .ok_or("ds:SignedInfo must start with ds:CanonicalizationMethod")?;
    let c14n_method = c14n
        .attribute(None, "Algorithm")
        .ok_or("CanonicalizationMethod has no Algorithm")?;
    let c14n_inclusive_prefixes = inclusive_prefixes(c14n);
    let method = si
        .get(1)
        .filter(|e| e.is(DSIG_NS, "SignatureMethod"))
        .ok_or("ds:CanonicalizationMethod must be followed by ds:SignatureMethod")?;
    let signature_method = method
        .attribute(None, "Algorithm")
        .ok_or("SignatureMethod has no Algorithm")?;
    let mut references = Vec::new();
    for reference in &si[2..] {
        if !reference.is(DSIG_NS, "Reference") {
            return Err(format!(
                "unexpected element {} in ds:SignedInfo",
                reference.qname()
            ));
        }
        references.push(parse_reference(reference)?);
    }
    if references.is_empty() {
        return Err("ds:SignedInfo has no ds:Reference".into());
    }
    Ok(ParsedSignature {
        signed_info: signed_info.index(),
        c14n_method,
        c14n_inclusive_prefixes,
        signature_method,
        references,
        signature_value,
        certificates,
    })
}

fn inclusive_prefixes(method: &Element<'_, '_>) -> Vec<String> {
    method
        .child(EXC_C14N_NS, "InclusiveNamespaces")
        .and_then(|e| e.attribute(None, "PrefixList"))
        .map(|list| list.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn parse_reference(reference: &Element<'_, '_>) -> Result<ParsedReference, String> {
    let uri = reference.attribute(None, "URI");
    let mut transforms = Vec::new();
    let mut digest_method = None;
    let mut digest_value = None;
    for child in reference.children() {
        if child.is(DSIG_NS, "Transforms") {
            for t in child.children() {
                if !t.is(DSIG_NS, "Transform") {
                    return Err(format!("unexpected element {} in ds:Transforms", t.qname()));
                }
                let uri = t
                    .attribute(None, "Algorithm")
                    .ok_or("Transform has no Algorithm")?;
                transforms.push(TransformSpec {
                    uri,
                    inclusive_prefixes: inclusive_prefixes(&t),
                });
            }
        } else if child.is(DSIG_NS, "DigestMethod") {
            digest_method = Some(
                child
                    .attribute(None, "Algorithm")
                    .ok_or("DigestMethod has no Algorithm")?,
            );
        } else if child.is(DSIG_NS, "DigestValue") {
            digest_value = Some(decode_base64(&child.text_content(), "DigestValue")?);
        } else {
            return Err(format!(
                "unexpected element {} in ds:Reference",
                child.qname()
            ));
        }
    }
    Ok(ParsedReference {
        uri,
        transforms,
        digest_method: digest_method.ok_or("ds:Reference has no ds:DigestMethod")?,
        digest_value: digest_value.ok_or("ds:Reference has no ds:DigestValue")?,
    })
}

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The time at which the certificate must be valid.
    pub at: OffsetDateTime,
    /// The element the signature must cover (the bus knows which one); `None` = any element.
    pub expected_target: Option<ElementId>,
    /// Require the SMEV profile: exactly one reference, transforms (enveloped-signature)?,
    /// exc-c14n, SMEV transform; exclusive C14N of `SignedInfo`.
    pub require_smev_profile: bool,
    /// Keep the transformed bytes of every reference and the canonical `SignedInfo`.
    pub capture: bool,
    /// The SMEV transform flavor to compute first.
    pub flavor: Flavor,
    /// When the digest does not match, also try the other flavor (the two differ only in rare
    /// corners, and real signers use both); the report says which one matched.
    pub accept_other_flavor: bool,
    /// When no reference flavor matches, compute the digest under each known non-reference
    /// implementation ([`TransformVariant`]) and say in the report and the failure which one
    /// the signer used. Costs a transform per variant, only after a mismatch.
    pub detect_variants: bool,
    /// A non-reference implementation whose digest is *accepted* (the signature is then valid;
    /// the report names the variant). `None` (the default): only the reference is accepted.
    pub accept_variant: Option<TransformVariant>,
}

impl VerifyOptions {
    /// Verification now, of any target, in the SMEV profile, without capturing bytes.
    pub fn now() -> Self {
        VerifyOptions {
            at: OffsetDateTime::now_utc(),
            expected_target: None,
            require_smev_profile: true,
            capture: false,
            flavor: Flavor::default(),
            accept_other_flavor: true,
            detect_variants: true,
            accept_variant: None,
        }
    }
}

/// What was found about one reference.
#[derive(Debug, Clone)]
pub struct ReferenceReport {
    /// `@URI`.
    pub uri: Option<String>,
    /// The element it resolved to, when it did.
    pub target: Option<ElementId>,
    /// Transform URIs in order.
    pub transforms: Vec<String>,
    /// `DigestMethod/@Algorithm`.
    pub digest_method: String,
    /// The digest found in the signature.
    pub expected_digest: Vec<u8>,
    /// The digest computed here, when it could be.
    pub computed_digest: Option<Vec<u8>>,
    /// The bytes that were hashed (with [`VerifyOptions::capture`]).
    pub transformed: Option<Vec<u8>>,
    /// Why it could not be processed, if so.
    pub error: Option<String>,
    /// The SMEV transform flavor of the computed digest (the matching one, if any matched).
    pub flavor: Option<Flavor>,
    /// The known non-reference implementation whose output the expected digest matches, when
    /// no reference flavor does (accepted or not: see [`ReferenceReport::variant_accepted`]).
    pub matched_variant: Option<TransformVariant>,
    /// Whether the match with [`ReferenceReport::matched_variant`] was accepted
    /// ([`VerifyOptions::accept_variant`]); the computed digest is then the variant's.
    pub variant_accepted: bool,
}

impl ReferenceReport {
    /// Whether the computed digest equals the expected one.
    pub fn digest_ok(&self) -> bool {
        self.computed_digest.as_deref() == Some(self.expected_digest.as_slice())
    }
}

/// Everything verification found about one `ds:Signature`.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// The `ds:Signature` element (absent when none was found).
    pub signature_element: Option<ElementId>,
    /// Its path.
    pub signature_path: String,
    /// `SignatureMethod/@Algorithm`.
    pub signature_method: Option<String>,
    /// The recognized signature algorithm.
    pub algorithm: Option<SignatureAlgorithm>,
    /// The signer certificate from `KeyInfo`.
    pub certificate: Option<Certificate>,
    /// The references.
    pub references: Vec<ReferenceReport>,
    /// Whether the signature value verified (`None` = not checked).
    pub signature_ok: Option<bool>,
    /// Whether the certificate was valid at [`VerifyOptions::at`] (`None` = not checked).
    pub certificate_time_ok: Option<bool>,
    /// The canonical `SignedInfo` (with [`VerifyOptions::capture`]).
    pub canonical_signed_info: Option<Vec<u8>>,
    /// The first failure, in SMEV order; `None` = valid.
    pub failure: Option<Failure>,
    /// The known non-reference SMEV transform implementation a reference digest matches (the
    /// first such reference), when no reference flavor does.
    pub matched_variant: Option<TransformVariant>,
    /// Whether that match was accepted ([`VerifyOptions::accept_variant`]).
    pub variant_accepted: bool,
}

impl SignatureReport {
    /// Whether everything checked out.
    pub fn is_valid(&self) -> bool {
        self.failure.is_none()
    }

    /// Whether every reference digest matched (`None` if there were none to check).
    pub fn digests_ok(&self) -> Option<bool> {
        if self.references.is_empty() {
            None
        } else {
            Some(self.references.iter().all(ReferenceReport::digest_ok))
        }
    }

    /// The element the (first) reference resolved to.
    pub fn target(&self) -> Option<ElementId> {
        self.references.first().and_then(|r| r.target)
    }

    fn empty(path: String, element: Option<ElementId>) -> Self {
        SignatureReport {
            signature_element: element,
            signature_path: path,
            signature_method: None,
            algorithm: None,
            certificate: None,
            references: Vec::new(),
            signature_ok: None,
            certificate_time_ok: None,
            canonical_signed_info: None,
            failure: None,
            matched_variant: None,
            variant_accepted: false,
        }
    }
}

struct Problems(Vec<Failure>);

impl Problems {
    fn add(&mut self, category: FaultCategory, message: impl Into<String>) {
        self.0.push(Failure {
            category,
            message: message.into(),
        });
    }

    /// The failure to report: by SMEV's order of checks.
    fn first(mut self) -> Option<Failure> {
        let rank = |c: FaultCategory| match c {
            FaultCategory::PoorSOAPEnvelopeFormat => 0,
            FaultCategory::NoSignatureFound => 1,
            FaultCategory::IncorrectSignatureTarget => 2,
            FaultCategory::CertificateIsNotFound => 3,
            FaultCategory::Internal => 4,
            FaultCategory::SignatureIsInvalid => 5,
            FaultCategory::CertificateIsExpired => 6,
        };
        self.0.sort_by_key(|f| rank(f.category));
        self.0.into_iter().next()
    }
}

/// Verifies every `ds:Signature` in the document.
pub fn verify_all(
    doc: &Document<'_>,
    provider: &dyn CryptoProvider,
    options: &VerifyOptions,
) -> Vec<SignatureReport> {
    doc.find(DSIG_NS, "Signature")
        .map(|sig| verify_signature(&sig, provider, options))
        .collect()
}

/// Verifies the signature inside a SMEV signature wrapper element (e.g.
/// `CallerInformationSystemSignature`): it must contain exactly one `ds:Signature`.
pub fn verify_wrapped(
    wrapper: Option<&Element<'_, '_>>,
    provider: &dyn CryptoProvider,
    options: &VerifyOptions,
) -> SignatureReport {
    let Some(wrapper) = wrapper else {
        let mut report = SignatureReport::empty(String::new(), None);
        report.failure = Some(Failure {
            category: FaultCategory::NoSignatureFound,
            message: "the message carries no signature element".into(),
        });
        return report;
    };
    let signatures: Vec<Element<'_, '_>> = wrapper
        .children()
        .filter(|e| e.is(DSIG_NS, "Signature"))
        .collect();
    match signatures.as_slice() {
        [one] => verify_signature(one, provider, options),
        [] => {
            let mut report = SignatureReport::empty(wrapper.path(), None);
            report.failure = Some(Failure {
                category: FaultCategory::NoSignatureFound,
                message: format!("{} contains no ds:Signature", wrapper.path()),
            });
            report
        }
        more => {
            let mut report = SignatureReport::empty(wrapper.path(), None);
            report.failure = Some(Failure {
                category: FaultCategory::PoorSOAPEnvelopeFormat,
                message: format!(
                    "{} contains {} ds:Signature elements, one is allowed",
                    wrapper.path(),
                    more.len()
                ),
            });
            report
        }
    }
}

/// Verifies one `ds:Signature` element.
pub fn verify_signature(
    signature: &Element<'_, '_>,
    provider: &dyn CryptoProvider,
    options: &VerifyOptions,
) -> SignatureReport {
    let doc = signature.document();
    let mut report = SignatureReport::empty(signature.path(), Some(signature.index()));
    let mut problems = Problems(Vec::new());
    let parsed = match parse_signature(signature) {
        Ok(parsed) => parsed,
        Err(message) => {
            problems.add(
                FaultCategory::PoorSOAPEnvelopeFormat,
                format!("malformed ds:Signature: {message}"),
            );
            report.failure = problems.first();
            return report;
        }
    };
    report.signature_method = Some(parsed.signature_method.clone());
    report.algorithm = SignatureAlgorithm::from_uri(&parsed.signature_method);
    if report.algorithm.is_none() {
        problems.add(
            FaultCategory::SignatureIsInvalid,
            format!(
                "unsupported SignatureMethod algorithm '{}'",
                bounded(&parsed.signature_method)
            ),
        );
    }
    if parsed.c14n_method != EXC_C14N_URI && parsed.c14n_method != EXC_C14N_WITH_COMMENTS_URI {
        problems.add(
            FaultCategory::SignatureIsInvalid,
            format!(
                "unsupported CanonicalizationMethod '{}' (expected {EXC_C14N_URI})",
                bounded(&parsed.c14n_method)
            ),
        );
    }

    // The certificate.
    match parsed.certificates.first() {
        None => problems.add(
            FaultCategory::CertificateIsNotFound,
            "KeyInfo carries no X509Certificate",
        ),
        Some(text) => match cached_certificate(text) {
            Ok(cert) => report.certificate = Some(cert),
            // The parser's internals (`Parsing Error: NomError(Eof)`) are no reason to show.
            Err(_) => problems.add(
                FaultCategory::CertificateIsNotFound,
                "the X509Certificate cannot be read as a DER X.509 certificate",
            ),
        },
    }

    // The references.
    if options.require_smev_profile && parsed.references.len() != 1 {
        problems.add(
            FaultCategory::IncorrectSignatureTarget,
            format!(
                "the SMEV profile needs exactly one ds:Reference, found {}",
                parsed.references.len()
            ),
        );
    }
    for reference in &parsed.references {
        let r = check_reference(doc, signature, reference, provider, options, &mut problems);
        if report.matched_variant.is_none() && r.matched_variant.is_some() {
            report.matched_variant = r.matched_variant;
            report.variant_accepted = r.variant_accepted;
        }
        report.references.push(r);
    }

    // The signature value over SignedInfo.
    let signed_info = doc.element(parsed.signed_info);
    let mut canonical = Vec::with_capacity(signed_info.range().len());
    match c14n::canonicalize_element(
        &signed_info,
        None,
        &parsed.c14n_inclusive_prefixes,
        &mut canonical,
    ) {
        Err(e) => problems.add(
            FaultCategory::PoorSOAPEnvelopeFormat,
            format!("SignedInfo cannot be canonicalized: {e}"),
        ),
        Ok(()) => {
            if let (Some(alg), Some(cert)) = (report.algorithm, &report.certificate) {
                match provider.verify(cert, alg, &canonical, &parsed.signature_value) {
                    Ok(()) => report.signature_ok = Some(true),
                    Err(CryptoError::BadSignature) => {
                        report.signature_ok = Some(false);
                        problems.add(
                            FaultCategory::SignatureIsInvalid,
                            format!(
                                "SignatureValue does not verify: the canonical SignedInfo ({} bytes) was not \
                                 signed by the key of the certificate '{}'",
                                canonical.len(),
                                cert.subject()
                            ),
                        );
                    }
                    Err(e @ CryptoError::GostEngineUnavailable { .. }) => {
                        problems.add(FaultCategory::Internal, e.to_string());
                    }
                    Err(e) => {
                        report.signature_ok = Some(false);
                        problems.add(
                            FaultCategory::SignatureIsInvalid,
                            format!("SignatureValue cannot be checked: {e}"),
                        );
                    }
                }
            }
        }
    }
    if options.capture {
        report.canonical_signed_info = Some(canonical);
    }

    // Validity period.
    if let Some(cert) = &report.certificate {
        let ok = cert.is_valid_at(options.at);
        report.certificate_time_ok = Some(ok);
        if !ok {
            problems.add(
                FaultCategory::CertificateIsExpired,
                format!(
                    "the certificate '{}' is valid from {} to {}, not at {}",
                    cert.subject(),
                    fmt_time(cert.not_before()),
                    fmt_time(cert.not_after()),
                    fmt_time(options.at)
                ),
            );
        }
    }
    report.failure = problems.first();
    report
}

/// The largest `X509Certificate` text accepted, in characters (real certificates are a few
/// KiB; a larger one is refused before it is decoded).
pub const MAX_CERTIFICATE_CHARS: usize = 64 * 1024;

/// The DER bytes of an `X509Certificate` text, refused when larger than
/// [`MAX_CERTIFICATE_CHARS`] (cheap: decoded, not parsed — for looking a certificate up before
/// any expensive work).
pub fn certificate_der(text: &str) -> Result<Vec<u8>, String> {
    if text.len() > MAX_CERTIFICATE_CHARS {
        return Err(format!(
            "X509Certificate has {} characters, more than the {MAX_CERTIFICATE_CHARS} accepted",
            text.len()
        ));
    }
    decode_base64(text, "X509Certificate")
}

/// Total characters of certificate text the cache of [`cached_certificate`] holds at most (each
/// entry also holds the decoded forms, a few times its text).
const CERTIFICATE_CACHE_CHARS: usize = 1024 * 1024;

/// Decoded certificates by their `X509Certificate` text: the same few certificates sign almost
/// every message, and decoding one (ours plus OpenSSL's, with the public key) costs as much as
/// the rest of the XML work of a small message. Bounded by the certificates' size
/// ([`CERTIFICATE_CACHE_CHARS`]; emptied when full) and only certificates of at most
/// [`MAX_CERTIFICATE_CHARS`] are read at all. (The bus looks a caller's certificate up in its
/// registry before verifying, so only registered certificates normally get here.)
fn cached_certificate(text: &str) -> Result<Certificate, CryptoError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    #[derive(Default)]
    struct Cache {
        entries: HashMap<String, Certificate>,
        chars: usize,
    }
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Cache::default()));
    if let Some(cert) = cache.lock().ok().and_then(|c| c.entries.get(text).cloned()) {
        return Ok(cert);
    }
    let der = certificate_der(text).map_err(CryptoError::InvalidCertificate)?;
    let cert = Certificate::from_der(&der)?;
    // Decode OpenSSL's form (and the public key) now, so the cached copy carries it.
    let _ = cert.warm();
    if let Ok(mut c) = cache.lock() {
        if c.chars + text.len() > CERTIFICATE_CACHE_CHARS {
            c.entries.clear();
            c.chars = 0;
        }
        if c.entries.insert(text.to_owned(), cert.clone()).is_none() {
            c.chars += text.len();
        }
    }
    Ok(cert)
}

/// The most characters of a value from the document (an Id, a URI) quoted in a message.
const QUOTED_CHARS: usize = 200;

/// A value from the document as quoted in a message: cut to [`QUOTED_CHARS`].
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    crate::xml::cut_chars(text, QUOTED_CHARS)
}

fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn check_reference(
    doc: &Document<'_>,
    signature: &Element<'_, '_>,
    reference: &ParsedReference,
    provider: &dyn CryptoProvider,
    options: &VerifyOptions,
    problems: &mut Problems,
) -> ReferenceReport {
    let mut report = ReferenceReport {
        uri: reference.uri.clone(),
        target: None,
        transforms: reference.transforms.iter().map(|t| t.uri.clone()).collect(),
        digest_method: reference.digest_method.clone(),
        expected_digest: reference.digest_value.clone(),
        computed_digest: None,
        transformed: None,
        error: None,
        flavor: None,
        matched_variant: None,
        variant_accepted: false,
    };
    let mut fail = |report: &mut ReferenceReport, category: FaultCategory, message: String| {
        report.error = Some(message.clone());
        problems.add(category, message);
    };

    let Some(id) = reference.uri.as_deref().and_then(|u| u.strip_prefix('#')) else {
        let message = format!(
            "Reference URI {:?} is not a same-document reference to an element Id (\"#Id\")",
            bounded(reference.uri.as_deref().unwrap_or("(absent)"))
        );
        fail(
            &mut report,
            FaultCategory::IncorrectSignatureTarget,
            message,
        );
        return report;
    };
    let targets: Vec<Element<'_, '_>> = doc.find_by_id(id);
    let target = match targets.as_slice() {
        [one] => *one,
        [] => {
            fail(
                &mut report,
                FaultCategory::IncorrectSignatureTarget,
                format!("no element has Id=\"{}\"", bounded(id)),
            );
            return report;
        }
        many => {
            let mut paths: Vec<String> = many.iter().take(3).map(Element::path).collect();
            if many.len() > paths.len() {
                paths.push("…".to_owned());
            }
            let message = format!(
                "Id=\"{}\" is not unique ({} elements: {}); refusing to guess which one is signed",
                bounded(id),
                many.len(),
                paths.join(", ")
            );
            fail(
                &mut report,
                FaultCategory::IncorrectSignatureTarget,
                message,
            );
            return report;
        }
    };
    report.target = Some(target.index());
    if let Some(expected) = options.expected_target
        && expected != target.index()
    {
        let expected = doc.element(expected);
        let message = format!(
            "the signature covers {} (Id=\"{}\") but must cover {}",
            target.path(),
            bounded(id),
            expected.path()
        );
        fail(
            &mut report,
            FaultCategory::IncorrectSignatureTarget,
            message,
        );
    }

    // Transforms.
    let uris: Vec<&str> = reference
        .transforms
        .iter()
        .map(|t| t.uri.as_str())
        .collect();
    if options.require_smev_profile {
        let ok = matches!(
            uris.as_slice(),
            [EXC_C14N_URI, SMEV_TRANSFORM_URI]
                | [ENVELOPED_SIGNATURE_URI, EXC_C14N_URI, SMEV_TRANSFORM_URI]
        );
        if !ok {
            let message = format!(
                "transforms [{}] are not the SMEV profile ([enveloped-signature,] {EXC_C14N_URI}, {SMEV_TRANSFORM_URI})",
                bounded(&uris.join(", "))
            );
            fail(&mut report, FaultCategory::SignatureIsInvalid, message);
            return report;
        }
    }
    let Some(digest) = DigestAlgorithm::from_uri(&reference.digest_method) else {
        let message = format!(
            "unsupported DigestMethod algorithm '{}'",
            bounded(&reference.digest_method)
        );
        fail(&mut report, FaultCategory::SignatureIsInvalid, message);
        return report;
    };
    let has_smev = uris.contains(&SMEV_TRANSFORM_URI);
    let attempt = |mode: Mode| -> Result<Attempt, (FaultCategory, String)> {
        let hasher = provider.hasher(digest).map_err(|e| {
            let category = if matches!(e, CryptoError::GostEngineUnavailable { .. }) {
                FaultCategory::Internal
            } else {
                FaultCategory::SignatureIsInvalid
            };
            (category, e.to_string())
        })?;
        let mut sink = DigestSink {
            hasher,
            capture: options.capture.then(Vec::new),
        };
        apply_transforms_in(
            &target,
            Some(signature),
            &reference.transforms,
            mode,
            &mut sink,
        )
        .map_err(|m| (FaultCategory::SignatureIsInvalid, m))?;
        let capture = sink.capture.take();
        let value = sink
            .hasher
            .finish()
            .map_err(|e| (FaultCategory::Internal, e.to_string()))?;
        Ok((value, capture))
    };
    let mut outcome = attempt(Mode::Flavor(options.flavor));
    report.flavor = Some(options.flavor);
    let mut matched = matches!(&outcome, Ok((d, _)) if *d == reference.digest_value);
    if !matched && has_smev && options.accept_other_flavor {
        let other = options.flavor.other();
        if let Ok((d, capture)) = attempt(Mode::Flavor(other))
            && d == reference.digest_value
        {
            outcome = Ok((d, capture));
            report.flavor = Some(other);
            matched = true;
        }
    }
    // Only after a mismatch: which known non-reference implementation was the signer's?
    if !matched && has_smev && (options.detect_variants || options.accept_variant.is_some()) {
        let candidates = TransformVariant::ALL
            .into_iter()
            .filter(|v| options.detect_variants || options.accept_variant == Some(*v));
        for variant in candidates {
            if let Ok((d, capture)) = attempt(Mode::Variant(variant))
                && d == reference.digest_value
            {
                report.matched_variant = Some(variant);
                if options.accept_variant == Some(variant) {
                    report.variant_accepted = true;
                    report.flavor = None;
                    outcome = Ok((d, capture));
                }
                break;
            }
        }
    }
    match outcome {
        Err((category, message)) => {
            let message = match report.matched_variant {
                Some(variant) => format!("{message}; {}", variant_explanation(variant)),
                None => message,
            };
            fail(&mut report, category, message);
            return report;
        }
        Ok((value, capture)) => {
            report.computed_digest = Some(value);
            report.transformed = capture;
        }
    }
    if !report.digest_ok() {
        let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
        let message = format!(
            "the digest of {} (Id=\"{}\") does not match: DigestValue {} but computed {} with {} after [{}]; \
             {}",
            target.path(),
            bounded(id),
            b64(&report.expected_digest),
            b64(report.computed_digest.as_deref().unwrap_or_default()),
            digest.name(),
            uris.join(", "),
            match report.matched_variant {
                Some(variant) => variant_explanation(variant),
                None => "the element was changed after signing or was signed with a different \
                         transform (none of the known implementations gives this digest)"
                    .to_owned(),
            }
        );
        fail(&mut report, FaultCategory::SignatureIsInvalid, message);
    }
    report
}

/// Why a digest that matches `variant` is refused, in English.
fn variant_explanation(variant: TransformVariant) -> String {
    format!(
        "the element was signed with {} ({VARIANT_TAG}{}), not with the reference SMEV transform \
         the bus implements; the signer's transform must be fixed, or the bus's registry must \
         allow transform_variant = \"{}\" for this information system",
        variant.describe_en(),
        variant.name(),
        variant.name()
    )
}

/// A computed digest and, when capturing, the hashed bytes.
type Attempt = (Vec<u8>, Option<Vec<u8>>);

struct DigestSink {
    hasher: Box<dyn Hasher>,
    capture: Option<Vec<u8>>,
}

impl Write for DigestSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        if let Some(capture) = &mut self.capture {
            capture.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Applies a transform chain to `target` and writes the resulting octets to `out`.
///
/// Supported: enveloped-signature (first only), exclusive C14N (with an inclusive prefix list),
/// the SMEV transform. Exclusive C14N directly followed by the SMEV transform is computed in one
/// pass (the SMEV transform only reads the information set, which C14N preserves).
pub fn apply_transforms(
    target: &Element<'_, '_>,
    signature: Option<&Element<'_, '_>>,
    transforms: &[TransformSpec],
    flavor: Flavor,
    out: &mut dyn Write,
) -> Result<(), String> {
    apply_transforms_in(target, signature, transforms, Mode::Flavor(flavor), out)
}

/// [`apply_transforms`] with the SMEV transform as a known non-reference implementation does it
/// (to explain a digest, or to make test signatures as such a signer would).
pub fn apply_transforms_variant(
    target: &Element<'_, '_>,
    signature: Option<&Element<'_, '_>>,
    transforms: &[TransformSpec],
    variant: TransformVariant,
    out: &mut dyn Write,
) -> Result<(), String> {
    apply_transforms_in(target, signature, transforms, Mode::Variant(variant), out)
}

/// The marker in a digest-mismatch explanation before the name of the matched variant
/// (`variant: python-port`), for callers that translate the explanation.
pub const VARIANT_TAG: &str = "variant: ";

/// Which SMEV transform to run: a reference flavor or a known non-reference implementation.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Flavor(Flavor),
    Variant(TransformVariant),
}

fn smev_transform(
    element: &Element<'_, '_>,
    skip: Option<Range<usize>>,
    mode: Mode,
    out: &mut dyn Write,
) -> Result<(), transform::TransformError> {
    match mode {
        Mode::Flavor(flavor) => transform::transform_element(element, skip, flavor, out),
        Mode::Variant(variant) => transform::transform_element_variant(element, skip, variant, out),
    }
}

fn apply_transforms_in(
    target: &Element<'_, '_>,
    signature: Option<&Element<'_, '_>>,
    transforms: &[TransformSpec],
    mode: Mode,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut skip: Option<Range<usize>> = None;
    let mut rest = transforms;
    if let Some(first) = rest.first()
        && first.uri == ENVELOPED_SIGNATURE_URI
    {
        if let Some(signature) = signature
            && target.contains(signature)
        {
            skip = Some(signature.range());
        }
        rest = &rest[1..];
    }
    let uris: Vec<&str> = rest.iter().map(|t| t.uri.as_str()).collect();
    match uris.as_slice() {
        [EXC_C14N_URI | EXC_C14N_WITH_COMMENTS_URI, SMEV_TRANSFORM_URI] | [SMEV_TRANSFORM_URI] => {
            smev_transform(target, skip, mode, out).map_err(|e| format!("SMEV transform failed: {e}"))
        }
        [EXC_C14N_URI | EXC_C14N_WITH_COMMENTS_URI] => {
            c14n::canonicalize_element(target, skip, &rest[0].inclusive_prefixes, out)
                .map_err(|e| format!("exclusive C14N failed: {e}"))
        }
        [] => Err("the reference has no canonicalization transform (implicit inclusive C14N is not supported)".into()),
        _ => {
            if rest.iter().any(|t| t.uri == ENVELOPED_SIGNATURE_URI) {
                return Err("the enveloped-signature transform is only supported as the first transform".into());
            }
            // General chain: canonicalize to octets, then re-read the octets for each next step.
            let mut octets = Vec::new();
            let first = &rest[0];
            match first.uri.as_str() {
                EXC_C14N_URI | EXC_C14N_WITH_COMMENTS_URI => {
                    c14n::canonicalize_element(target, skip, &first.inclusive_prefixes, &mut octets)
                        .map_err(|e| format!("exclusive C14N failed: {e}"))?;
                }
                SMEV_TRANSFORM_URI => {
                    smev_transform(target, skip, mode, &mut octets)
                        .map_err(|e| format!("SMEV transform failed: {e}"))?;
                }
                other => return Err(format!("unsupported transform '{other}'")),
            }
            for t in &rest[1..] {
                let doc = Document::parse(&octets, target.document().limits())
                    .map_err(|e| format!("the output of the previous transform is not XML: {e}"))?;
                let mut next = Vec::new();
                match t.uri.as_str() {
                    EXC_C14N_URI | EXC_C14N_WITH_COMMENTS_URI => {
                        c14n::canonicalize_element(&doc.root(), None, &t.inclusive_prefixes, &mut next)
                            .map_err(|e| format!("exclusive C14N failed: {e}"))?;
                    }
                    SMEV_TRANSFORM_URI => {
                        smev_transform(&doc.root(), None, mode, &mut next)
                            .map_err(|e| format!("SMEV transform failed: {e}"))?;
                    }
                    other => return Err(format!("unsupported transform '{other}'")),
                }
                octets = next;
            }
            out.write_all(&octets).map_err(|e| e.to_string())
        }
    }
}

/// Errors of signing.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// No element with that Id, or more than one.
    #[error("{0}")]
    Target(String),
    /// The document is not acceptable XML.
    #[error(transparent)]
    Xml(#[from] crate::xml::XmlError),
    /// A crypto failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Anything else (transform failure, placement).
    #[error("{0}")]
    Other(String),
}

/// How to sign.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// The reference digest; default: the signature algorithm's digest.
    pub digest: Option<DigestAlgorithm>,
    /// Put the enveloped-signature transform first (some clients do; SMEV does not need it).
    pub enveloped_transform: bool,
    /// The SMEV transform flavor (when the content cannot be transformed in it, e.g. an element
    /// in no namespace under Woodstox, the other flavor is used).
    pub flavor: Flavor,
    /// Compute the digest as a known non-reference implementation does instead (for tests and
    /// for reproducing what such a signer sends; the bus never signs this way).
    pub variant: Option<TransformVariant>,
}

/// Builds a detached `ds:Signature` (declaring its own `ds` prefix) over `target`, which must
/// carry an `Id`.
pub fn create_signature(
    target: &Element<'_, '_>,
    signer: &dyn Signer,
    provider: &dyn CryptoProvider,
    options: &SignOptions,
) -> Result<String, SignError> {
    let id = target.id_attr().ok_or_else(|| {
        SignError::Target(format!(
            "{} has no Id attribute to reference",
            target.path()
        ))
    })?;
    let duplicates = target.document().find_by_id(id).len();
    if duplicates != 1 {
        return Err(SignError::Target(format!(
            "Id=\"{id}\" is used by {duplicates} elements"
        )));
    }
    let algorithm = signer.algorithm();
    let digest = options.digest.unwrap_or(algorithm.digest());
    let mut transforms = Vec::new();
    if options.enveloped_transform {
        transforms.push(TransformSpec {
            uri: ENVELOPED_SIGNATURE_URI.into(),
            inclusive_prefixes: Vec::new(),
        });
    }
    transforms.push(TransformSpec {
        uri: EXC_C14N_URI.into(),
        inclusive_prefixes: Vec::new(),
    });
    transforms.push(TransformSpec {
        uri: SMEV_TRANSFORM_URI.into(),
        inclusive_prefixes: Vec::new(),
    });
    // The signature does not exist yet, so the enveloped-signature transform removes nothing.
    let mut sink = DigestSink {
        hasher: provider.hasher(digest)?,
        capture: None,
    };
    if let Some(variant) = options.variant {
        apply_transforms_variant(target, None, &transforms, variant, &mut sink)
            .map_err(SignError::Other)?;
    } else if apply_transforms(target, None, &transforms, options.flavor, &mut sink).is_err() {
        sink = DigestSink {
            hasher: provider.hasher(digest)?,
            capture: None,
        };
        apply_transforms(target, None, &transforms, options.flavor.other(), &mut sink)
            .map_err(SignError::Other)?;
    }
    let digest_value = sink.hasher.finish()?;
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);

    let mut transforms_xml = String::new();
    for t in &transforms {
        transforms_xml.push_str(&format!("<ds:Transform Algorithm=\"{}\"/>", t.uri));
    }
    let signed_info = format!(
        "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N_URI}\"/>\
         <ds:SignatureMethod Algorithm=\"{}\"/>\
         <ds:Reference URI=\"#{}\"><ds:Transforms>{transforms_xml}</ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference></ds:SignedInfo>",
        algorithm.uri(),
        crate::xml::escape_attribute(id),
        digest.uri(),
        b64(&digest_value)
    );
    // Canonicalize SignedInfo as it will stand inside ds:Signature.
    let shell = format!("<ds:Signature xmlns:ds=\"{DSIG_NS}\">{signed_info}</ds:Signature>");
    let shell_doc = Document::parse_str(&shell, Limits::default())?;
    let si = shell_doc
        .root()
        .child(DSIG_NS, "SignedInfo")
        .ok_or_else(|| SignError::Other("internal: SignedInfo missing".into()))?;
    let canonical =
        c14n::canonicalize_to_vec(&si, &[]).map_err(|e| SignError::Other(e.to_string()))?;
    let value = signer.sign(&canonical)?;
    Ok(format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\">{signed_info}<ds:SignatureValue>{}</ds:SignatureValue>\
         <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        b64(&value),
        signer.certificate().base64()
    ))
}

/// Where [`sign_document`] puts the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The SMEV place: the signature wrapper element that the schema defines for the target
    /// (`CallerInformationSystemSignature`, `PersonalSignature`, `SMEVSignature`, …), created if
    /// absent; for unknown targets, right after the target.
    Smev,
    /// Right after the target element.
    AfterTarget,
}

/// The SMEV wrapper for a signed element: (wrapper local name, whether it lives in the
/// grandparent right after the parent — the personal signature case).
fn smev_wrapper(target: &Element<'_, '_>) -> Option<(&'static str, bool)> {
    let parent = target.parent()?;
    if parent.local_name() == "MessagePrimaryContent" {
        return Some(("PersonalSignature", true));
    }
    Some(match target.local_name() {
        "SenderProvidedRequestData"
        | "SenderProvidedResponseData"
        | "MessageTypeSelector"
        | "AckTargetMessage"
        | "Timestamp" => ("CallerInformationSystemSignature", false),
        "MessageMetadata" | "Request" | "Response" | "Cancel" | "AsyncProcessingStatusData" => {
            ("SMEVSignature", false)
        }
        "RoutingInformation" => ("RoutingSignature", false),
        "Record" => ("RecordSignature", false),
        _ => return None,
    })
}

/// Signs the element with `Id = id` and returns the document with the signature inserted.
pub fn sign_document(
    input: &[u8],
    id: &str,
    signer: &dyn Signer,
    provider: &dyn CryptoProvider,
    placement: Placement,
    options: &SignOptions,
) -> Result<Vec<u8>, SignError> {
    let doc = Document::parse(input, Limits::default())?;
    let text = doc.text();
    let targets: Vec<Element<'_, '_>> = doc.find_by_id(id);
    let target = match targets.as_slice() {
        [one] => *one,
        [] => return Err(SignError::Target(format!("no element has Id=\"{id}\""))),
        many => {
            return Err(SignError::Target(format!(
                "Id=\"{id}\" is used by {} elements",
                many.len()
            )));
        }
    };
    let signature = create_signature(&target, signer, provider, options)?;

    let (position, insertion) = match (placement, smev_wrapper(&target)) {
        (Placement::Smev, Some((wrapper, personal))) => {
            // The wrapper's parent: the target's parent, or its grandparent for a personal signature.
            let anchor = if personal {
                target.parent()
            } else {
                Some(target)
            };
            let anchor = anchor.ok_or_else(|| SignError::Other("target has no parent".into()))?;
            let container = anchor.parent().ok_or_else(|| {
                SignError::Other(format!("{} has no parent to hold {wrapper}", anchor.path()))
            })?;
            let ns = container.namespace().unwrap_or("");
            let existing = anchor.following_siblings().find(|e| e.is(ns, wrapper));
            match existing {
                Some(w) => {
                    if w.children().any(|c| c.is(DSIG_NS, "Signature")) {
                        return Err(SignError::Other(format!(
                            "{} already holds a signature",
                            w.path()
                        )));
                    }
                    if !only_whitespace_text(&w) {
                        return Err(SignError::Other(format!("{} is not empty", w.path())));
                    }
                    let source = w.source();
                    if let Some(open) = source.strip_suffix("/>") {
                        let start = w.range().start;
                        let open = open.trim_end();
                        let replacement = format!("{open}>{signature}</{}>", w.qname());
                        let mut out = String::with_capacity(text.len() + replacement.len());
                        out.push_str(&text[..start]);
                        out.push_str(&replacement);
                        out.push_str(&text[w.range().end..]);
                        return Ok(out.into_bytes());
                    }
                    let end_tag = source
                        .rfind("</")
                        .map(|i| w.range().start + i)
                        .unwrap_or(w.range().end);
                    (end_tag, signature)
                }
                None => {
                    let prefix = container.prefix();
                    let qname = if prefix.is_empty() {
                        wrapper.to_string()
                    } else {
                        format!("{prefix}:{wrapper}")
                    };
                    let element = format!("<{qname}>{signature}</{qname}>");
                    let position = if personal {
                        anchor.range().end
                    } else {
                        // Last in the container, but before a 1.3 routing:Routing block.
                        anchor
                            .following_siblings()
                            .find(|e| e.local_name() == "Routing")
                            .map(|e| e.range().start)
                            .unwrap_or_else(|| {
                                let source = container.source();
                                source
                                    .rfind("</")
                                    .map(|i| container.range().start + i)
                                    .unwrap_or(container.range().end)
                            })
                    };
                    (position, element)
                }
            }
        }
        _ => (target.range().end, signature),
    };
    let mut out = String::with_capacity(text.len() + insertion.len());
    out.push_str(&text[..position]);
    out.push_str(&insertion);
    out.push_str(&text[position..]);
    Ok(out.into_bytes())
}
