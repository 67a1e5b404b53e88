//! The default [`CryptoProvider`]: OpenSSL 3, with the Debian `libengine-gost-openssl` ENGINE loaded
//! programmatically for GOST R 34.10/34.11 and plain OpenSSL for ECDSA P-256 and RSA.

use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt;
use std::sync::OnceLock;

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::bn::BigNum;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::X509;

use crate::{
    Certificate, CmsVerification, CryptoError, CryptoProvider, DigestAlgorithm, KeyAlgorithm,
    SignatureAlgorithm,
};

/// Raw declarations of the OpenSSL functions `openssl-sys` does not declare.
pub(crate) mod ffi {
    use std::ffi::{c_char, c_int, c_uint, c_void};

    /// Opaque `ENGINE`.
    #[repr(C)]
    pub(crate) struct Engine {
        _private: [u8; 0],
    }

    /// Opaque `CMS_SignerInfo`.
    #[repr(C)]
    pub(crate) struct CmsSignerInfo {
        _private: [u8; 0],
    }

    /// `ENGINE_METHOD_ALL`.
    pub(crate) const ENGINE_METHOD_ALL: c_uint = 0xFFFF;

    unsafe extern "C" {
        pub(crate) fn ENGINE_by_id(id: *const c_char) -> *mut Engine;
        pub(crate) fn ENGINE_init(e: *mut Engine) -> c_int;
        pub(crate) fn ENGINE_set_default(e: *mut Engine, flags: c_uint) -> c_int;
        pub(crate) fn ENGINE_finish(e: *mut Engine) -> c_int;
        pub(crate) fn ENGINE_free(e: *mut Engine) -> c_int;
        pub(crate) fn EVP_PKEY_CTX_ctrl_str(
            ctx: *mut openssl_sys::EVP_PKEY_CTX,
            type_: *const c_char,
            value: *const c_char,
        ) -> c_int;
        pub(crate) fn OBJ_txt2nid(s: *const c_char) -> c_int;

        pub(crate) fn CMS_get0_SignerInfos(
            cms: *mut openssl_sys::CMS_ContentInfo,
        ) -> *mut openssl_sys::OPENSSL_STACK;
        pub(crate) fn CMS_get1_certs(
            cms: *mut openssl_sys::CMS_ContentInfo,
        ) -> *mut openssl_sys::stack_st_X509;
        pub(crate) fn CMS_SignerInfo_cert_cmp(
            si: *mut CmsSignerInfo,
            cert: *mut openssl_sys::X509,
        ) -> c_int;
        pub(crate) fn CMS_SignerInfo_get0_algs(
            si: *mut CmsSignerInfo,
            pk: *mut *mut openssl_sys::EVP_PKEY,
            signer: *mut *mut openssl_sys::X509,
            pdig: *mut *mut openssl_sys::X509_ALGOR,
            psig: *mut *mut openssl_sys::X509_ALGOR,
        );
        pub(crate) fn X509_ALGOR_get0(
            paobj: *mut *const openssl_sys::ASN1_OBJECT,
            pptype: *mut c_int,
            ppval: *mut *const c_void,
            algor: *const openssl_sys::X509_ALGOR,
        );
        pub(crate) fn OBJ_obj2txt(
            buf: *mut c_char,
            buf_len: c_int,
            a: *const openssl_sys::ASN1_OBJECT,
            no_name: c_int,
        ) -> c_int;
        pub(crate) fn OPENSSL_sk_num(st: *const openssl_sys::OPENSSL_STACK) -> c_int;
        pub(crate) fn OPENSSL_sk_value(
            st: *const openssl_sys::OPENSSL_STACK,
            i: c_int,
        ) -> *mut c_void;
    }
}

/// `ERR_LIB_CMS`.
const ERR_LIB_CMS: c_int = 46;
/// `CMS_R_CONTENT_VERIFY_ERROR`.
const CMS_R_CONTENT_VERIFY_ERROR: c_int = 109;
/// `CMS_R_VERIFICATION_FAILURE`.
const CMS_R_VERIFICATION_FAILURE: c_int = 158;

static GOST_ENGINE: OnceLock<Result<(), String>> = OnceLock::new();

fn error_text(stack: &ErrorStack, fallback: &str) -> String {
    if stack.errors().is_empty() {
        fallback.to_owned()
    } else {
        stack.to_string()
    }
}

fn load_gost_engine() -> Result<(), String> {
    openssl::init();
    // Start from a clean error queue so the message we report is ours.
    drop(ErrorStack::get());
    let id = c"gost";
    // SAFETY: `id` is a valid NUL-terminated string; ENGINE_by_id returns a new structural
    // reference or NULL.
    let engine = unsafe { ffi::ENGINE_by_id(id.as_ptr()) };
    if engine.is_null() {
        return Err(error_text(
            &ErrorStack::get(),
            "ENGINE_by_id(\"gost\") returned NULL",
        ));
    }
    // SAFETY: `engine` is a valid structural reference obtained above.
    if unsafe { ffi::ENGINE_init(engine) } != 1 {
        let reason = error_text(&ErrorStack::get(), "ENGINE_init failed");
        // SAFETY: releases the structural reference obtained by ENGINE_by_id.
        unsafe { ffi::ENGINE_free(engine) };
        return Err(reason);
    }
    // SAFETY: `engine` is initialised (functional reference held).
    let set = unsafe { ffi::ENGINE_set_default(engine, ffi::ENGINE_METHOD_ALL) };
    let result = if set == 1 {
        Ok(())
    } else {
        let reason = error_text(&ErrorStack::get(), "ENGINE_set_default failed");
        // SAFETY: releases the functional reference taken by ENGINE_init.
        unsafe { ffi::ENGINE_finish(engine) };
        Err(reason)
    };
    // SAFETY: releases the structural reference from ENGINE_by_id. On success the functional
    // reference from ENGINE_init stays alive for the process lifetime (the engine remains the
    // default implementation of its algorithms).
    unsafe { ffi::ENGINE_free(engine) };
    result
}

/// Loads the OpenSSL GOST ENGINE (once per process) and reports whether it is usable.
///
/// Every GOST operation calls this first; non-GOST algorithms never need it.
pub fn gost_engine_status() -> Result<(), CryptoError> {
    GOST_ENGINE
        .get_or_init(load_gost_engine)
        .clone()
        .map_err(|reason| CryptoError::GostEngineUnavailable { reason })
}

/// The OpenSSL message digest for `alg` (loading the GOST engine when needed).
pub(crate) fn message_digest(alg: DigestAlgorithm) -> Result<MessageDigest, CryptoError> {
    // Looked up once per algorithm (a name lookup under OpenSSL's lock on every digest showed in
    // the verification profile); the engine's digests stay registered for the process's life.
    static FOUND: [OnceLock<Option<MessageDigest>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (name, slot) = match alg {
        DigestAlgorithm::Gost3411_2012_256 => ("md_gost12_256", &FOUND[0]),
        DigestAlgorithm::Gost3411_2012_512 => ("md_gost12_512", &FOUND[1]),
        DigestAlgorithm::Gost3411_94 => ("md_gost94", &FOUND[2]),
        DigestAlgorithm::Sha256 => return Ok(MessageDigest::sha256()),
    };
    gost_engine_status()?;
    if let Some(Some(md)) = slot.get() {
        return Ok(*md);
    }
    let md = MessageDigest::from_name(name);
    if md.is_some() {
        let _ = slot.set(md);
    }
    md.ok_or_else(|| CryptoError::GostEngineUnavailable {
        reason: format!("digest {name} is not registered"),
    })
}

/// Maps a digest algorithm OID (dotted) to our enum.
fn digest_from_oid(oid: &str) -> Option<DigestAlgorithm> {
    Some(match oid {
        "1.2.643.7.1.1.2.2" => DigestAlgorithm::Gost3411_2012_256,
        "1.2.643.7.1.1.2.3" => DigestAlgorithm::Gost3411_2012_512,
        "1.2.643.2.2.9" => DigestAlgorithm::Gost3411_94,
        "2.16.840.1.101.3.4.2.1" => DigestAlgorithm::Sha256,
        _ => return None,
    })
}

fn is_gost_key(key: KeyAlgorithm) -> bool {
    matches!(
        key,
        KeyAlgorithm::Gost2012_256 | KeyAlgorithm::Gost2012_512 | KeyAlgorithm::Gost2001
    )
}

/// The byte length of a GOST signature (r || s as the engine writes it).
fn gost_signature_len(alg: SignatureAlgorithm) -> usize {
    match alg {
        SignatureAlgorithm::Gost2012_512 => 128,
        _ => 64,
    }
}

/// P-256 field size in bytes.
const P256_LEN: usize = 32;

/// Converts a raw `r || s` ECDSA P-256 signature to DER.
fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if raw.len() != 2 * P256_LEN {
        return Err(CryptoError::InvalidSignatureEncoding(format!(
            "an ECDSA P-256 signature is {} bytes (r || s), got {}",
            2 * P256_LEN,
            raw.len()
        )));
    }
    let r = BigNum::from_slice(&raw[..P256_LEN])?;
    let s = BigNum::from_slice(&raw[P256_LEN..])?;
    Ok(EcdsaSig::from_private_components(r, s)?.to_der()?)
}

/// Converts a DER ECDSA P-256 signature to fixed-size `r || s`.
fn ecdsa_der_to_raw(der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let sig = EcdsaSig::from_der(der)?;
    let size = i32::try_from(P256_LEN).unwrap_or(32);
    let mut out = sig.r().to_vec_padded(size)?;
    out.extend_from_slice(&sig.s().to_vec_padded(size)?);
    Ok(out)
}

/// The OpenSSL-backed provider. Cheap to create and clone; the GOST engine is loaded lazily on
/// the first GOST operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenSslProvider {
    _private: (),
}

impl OpenSslProvider {
    /// Creates the provider. Never fails; GOST availability is checked lazily (see
    /// [`gost_engine_status`]).
    pub fn new() -> OpenSslProvider {
        openssl::init();
        OpenSslProvider { _private: () }
    }
}

/// Incremental digest over OpenSSL.
struct OpenSslHasher {
    inner: openssl::hash::Hasher,
    error: Option<ErrorStack>,
}

impl crate::Hasher for OpenSslHasher {
    fn update(&mut self, data: &[u8]) {
        if self.error.is_none()
            && let Err(e) = self.inner.update(data)
        {
            self.error = Some(e);
        }
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<u8>, CryptoError> {
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        Ok(self.inner.finish()?.to_vec())
    }
}

/// A private key paired with its certificate.
struct OpenSslSigner {
    algorithm: SignatureAlgorithm,
    certificate: Certificate,
    key: PKey<Private>,
    md: MessageDigest,
}

impl fmt::Debug for OpenSslSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenSslSigner")
            .field("algorithm", &self.algorithm)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl crate::Signer for OpenSslSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut signer = openssl::sign::Signer::new(self.md, &self.key)?;
        signer.update(data)?;
        let sig = signer.sign_to_vec()?;
        match self.algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => ecdsa_der_to_raw(&sig),
            _ => Ok(sig),
        }
    }

    fn sign_cms_detached(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cert = self.certificate.openssl()?;
        let cms = CmsContentInfo::sign(
            Some(cert),
            Some(&self.key),
            None,
            Some(data),
            CMSOptions::DETACHED | CMSOptions::BINARY,
        )
        .map_err(|e| CryptoError::Cms(e.to_string()))?;
        cms.to_der().map_err(|e| CryptoError::Cms(e.to_string()))
    }
}

/// Whether a CMS_verify failure means "the signature or content digest does not match".
fn is_cms_mismatch(stack: &ErrorStack) -> bool {
    stack.errors().iter().any(|e| {
        e.library_code() == ERR_LIB_CMS
            && matches!(
                e.reason_code(),
                CMS_R_VERIFICATION_FAILURE | CMS_R_CONTENT_VERIFY_ERROR
            )
    })
}

/// Parses CMS from DER or PEM (`CMS` or `PKCS7` label).
fn parse_cms(cms: &[u8]) -> Result<CmsContentInfo, CryptoError> {
    let trimmed = cms.trim_ascii_start();
    let parsed = if trimmed.starts_with(b"-----BEGIN") {
        CmsContentInfo::from_pem(trimmed)
    } else {
        CmsContentInfo::from_der(cms)
    };
    parsed.map_err(|e| CryptoError::Cms(format!("cannot parse the CMS structure: {e}")))
}

/// The certificates embedded in the CMS structure.
fn cms_certs(cms: &CmsContentInfo) -> Result<Stack<X509>, CryptoError> {
    // SAFETY: `cms` is a valid CMS_ContentInfo. CMS_get1_certs returns a new stack holding new
    // references to the certificates (or NULL), which `Stack<X509>` owns and frees correctly.
    let ptr = unsafe { ffi::CMS_get1_certs(cms.as_ptr()) };
    if ptr.is_null() {
        // Nothing embedded (or not SignedData); an empty stack is the natural answer.
        drop(ErrorStack::get());
        return Ok(Stack::new()?);
    }
    // SAFETY: `ptr` is a non-NULL owned STACK_OF(X509) as documented above.
    Ok(unsafe { Stack::from_ptr(ptr) })
}

/// The first signer info's certificate (from the embedded certificates) and digest algorithm.
fn first_signer(
    cms: &CmsContentInfo,
    certs: &Stack<X509>,
) -> Result<(Option<X509>, Option<DigestAlgorithm>), CryptoError> {
    // SAFETY: `cms` is valid; the returned stack is owned by `cms` (not freed here).
    let infos = unsafe { ffi::CMS_get0_SignerInfos(cms.as_ptr()) };
    if infos.is_null() {
        return Err(CryptoError::Cms("not a SignedData structure".into()));
    }
    // SAFETY: `infos` is a valid stack owned by `cms`.
    if unsafe { ffi::OPENSSL_sk_num(infos) } < 1 {
        return Err(CryptoError::Cms("no SignerInfo in the SignedData".into()));
    }
    // SAFETY: index 0 exists (checked above); the element is a CMS_SignerInfo owned by `cms`.
    let si = unsafe { ffi::OPENSSL_sk_value(infos, 0) }.cast::<ffi::CmsSignerInfo>();

    let signer = certs
        .iter()
        // SAFETY: `si` and the certificate are valid for the duration of the call.
        .find(|cert| unsafe { ffi::CMS_SignerInfo_cert_cmp(si, cert.as_ptr()) } == 0)
        .map(|c| c.to_owned());

    let mut dig: *mut openssl_sys::X509_ALGOR = std::ptr::null_mut();
    // SAFETY: `si` is valid; we only request the digest algorithm (other out-pointers NULL).
    unsafe {
        ffi::CMS_SignerInfo_get0_algs(
            si,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dig,
            std::ptr::null_mut(),
        );
    }
    let digest = if dig.is_null() {
        None
    } else {
        let mut obj: *const openssl_sys::ASN1_OBJECT = std::ptr::null();
        // SAFETY: `dig` is a valid X509_ALGOR owned by `si`; only the OID is requested.
        unsafe { ffi::X509_ALGOR_get0(&mut obj, std::ptr::null_mut(), std::ptr::null_mut(), dig) };
        if obj.is_null() {
            None
        } else {
            let mut buf = [0 as c_char; 128];
            let len = c_int::try_from(buf.len()).unwrap_or(128);
            // SAFETY: `buf` is writable for `len` bytes; OBJ_obj2txt NUL-terminates within it.
            let n = unsafe { ffi::OBJ_obj2txt(buf.as_mut_ptr(), len, obj, 1) };
            if n <= 0 {
                None
            } else {
                // SAFETY: OBJ_obj2txt wrote a NUL-terminated string into `buf`.
                let oid = unsafe { CStr::from_ptr(buf.as_ptr()) };
                oid.to_str().ok().and_then(digest_from_oid)
            }
        }
    };
    Ok((signer, digest))
}

impl CryptoProvider for OpenSslProvider {
    fn hasher(&self, alg: DigestAlgorithm) -> Result<Box<dyn crate::Hasher>, CryptoError> {
        let md = message_digest(alg)?;
        Ok(Box::new(OpenSslHasher {
            inner: openssl::hash::Hasher::new(md)?,
            error: None,
        }))
    }

    fn digest(&self, alg: DigestAlgorithm, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let md = message_digest(alg)?;
        Ok(openssl::hash::hash(md, data)?.to_vec())
    }

    fn verify(
        &self,
        cert: &Certificate,
        alg: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let found = cert.key_algorithm();
        if found != alg.key_algorithm() {
            return Err(CryptoError::KeyAlgorithmMismatch {
                expected: alg,
                found,
            });
        }
        let md = message_digest(alg.digest())?;
        let pkey = cert.public_key()?;
        let converted;
        let sig: &[u8] = match alg {
            SignatureAlgorithm::Gost2012_256
            | SignatureAlgorithm::Gost2012_512
            | SignatureAlgorithm::Gost2001 => {
                let expected = gost_signature_len(alg);
                if signature.len() != expected {
                    return Err(CryptoError::InvalidSignatureEncoding(format!(
                        "a {} signature is {expected} bytes, got {}",
                        alg.name(),
                        signature.len()
                    )));
                }
                signature
            }
            SignatureAlgorithm::EcdsaP256Sha256 => {
                converted = ecdsa_raw_to_der(signature)?;
                &converted
            }
            SignatureAlgorithm::RsaSha256 => {
                let size = pkey.size();
                if signature.len() != size {
                    return Err(CryptoError::InvalidSignatureEncoding(format!(
                        "an RSA signature for this key is {size} bytes, got {}",
                        signature.len()
                    )));
                }
                signature
            }
        };
        let mut verifier = openssl::sign::Verifier::new(md, &pkey)?;
        verifier.update(data)?;
        match verifier.verify(sig) {
            Ok(true) => Ok(()),
            // A failing verification may leave errors (e.g. a bad DER inside the provider);
            // the error stack was already drained by `verify`.
            Ok(false) | Err(_) => Err(CryptoError::BadSignature),
        }
    }

    fn load_signer(
        &self,
        key_pem: &[u8],
        cert: Certificate,
    ) -> Result<Box<dyn crate::Signer>, CryptoError> {
        let key_type = cert.key_algorithm();
        let algorithm = SignatureAlgorithm::for_key(key_type).ok_or_else(|| {
            CryptoError::UnsupportedAlgorithm(format!(
                "certificate key algorithm {}",
                cert.key_algorithm_oid()
            ))
        })?;
        if is_gost_key(key_type) {
            gost_engine_status()?;
        }
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|e| CryptoError::InvalidKey(error_text(&e, "unreadable PEM private key")))?;
        let public = cert.public_key()?;
        if !key.public_eq(&public) {
            // EVP_PKEY_eq may leave an error for keys of different types.
            drop(ErrorStack::get());
            return Err(CryptoError::KeyCertificateMismatch);
        }
        let md = message_digest(algorithm.digest())?;
        Ok(Box::new(OpenSslSigner {
            algorithm,
            certificate: cert,
            key,
            md,
        }))
    }

    fn cms_verify_detached(&self, cms: &[u8], data: &[u8]) -> Result<CmsVerification, CryptoError> {
        let mut content = parse_cms(cms)?;
        let certs = cms_certs(&content)?;
        let (signer, digest) = first_signer(&content, &certs)?;
        let signer = signer.ok_or_else(|| {
            CryptoError::Cms("the signer certificate is not included in the CMS structure".into())
        })?;
        let signer = Certificate::from_der(&signer.to_der()?)?;
        let needs_gost =
            is_gost_key(signer.key_algorithm()) || digest.is_some_and(DigestAlgorithm::is_gost);
        if needs_gost {
            gost_engine_status()?;
            // Certificates decoded before the engine was loaded keep an undecodable GOST public
            // key: decode the structure again now that the engine knows the key type.
            content = parse_cms(cms)?;
        }
        content
            .verify(
                None,
                None,
                Some(data),
                None,
                CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
            )
            .map_err(|e| {
                if is_cms_mismatch(&e) {
                    CryptoError::BadSignature
                } else {
                    CryptoError::Cms(error_text(&e, "CMS verification failed"))
                }
            })?;
        Ok(CmsVerification { signer, digest })
    }
}

/// Sets a string control on a key context (`EVP_PKEY_CTX_ctrl_str`), e.g. GOST `paramset`.
pub(crate) fn pkey_ctx_ctrl_str<T>(
    ctx: &mut openssl::pkey_ctx::PkeyCtx<T>,
    name: &str,
    value: &str,
) -> Result<(), CryptoError> {
    let name_c =
        CString::new(name).map_err(|_| CryptoError::KeyGeneration("NUL in name".into()))?;
    let value_c =
        CString::new(value).map_err(|_| CryptoError::KeyGeneration("NUL in value".into()))?;
    // SAFETY: `ctx` is a valid EVP_PKEY_CTX for the duration of the call; both strings are
    // NUL-terminated and outlive the call.
    let rc = unsafe { ffi::EVP_PKEY_CTX_ctrl_str(ctx.as_ptr(), name_c.as_ptr(), value_c.as_ptr()) };
    if rc > 0 {
        Ok(())
    } else {
        Err(CryptoError::KeyGeneration(format!(
            "EVP_PKEY_CTX_ctrl_str({name}, {value}) failed: {}",
            error_text(&ErrorStack::get(), "no details")
        )))
    }
}

/// The NID for a short/long object name (`OBJ_txt2nid`); `None` when unknown.
pub(crate) fn txt2nid(name: &str) -> Option<c_int> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let nid = unsafe { ffi::OBJ_txt2nid(c.as_ptr()) };
    (nid > 0).then_some(nid)
}
