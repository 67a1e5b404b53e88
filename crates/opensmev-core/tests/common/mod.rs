//! Test support shared by the core's integration tests: the fixed start time, the 1.2 namespaces
//! and test identities (ECDSA P-256 keys with certificates valid around that time).

use opensmev_crypto::{
    CryptoProvider as _, OpenSslProvider, SignatureAlgorithm, Signer, TestIdentityParams,
    generate_test_identity,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The manual clock's start.
pub(crate) const T0: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
/// The 1.2 types namespace.
pub(crate) const TYPES: &str = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2";
/// The 1.2 basic namespace.
pub(crate) const BASIC: &str =
    "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2";

/// A signer with a certificate `CN=cn` valid from 400 days before [`T0`] to 400 days after, and
/// the certificate's PEM.
pub(crate) fn identity(cn: &str) -> (Box<dyn Signer>, String) {
    let params = TestIdentityParams {
        not_before: T0 - Duration::days(400),
        not_after: T0 + Duration::days(400),
        ..TestIdentityParams::new(SignatureAlgorithm::EcdsaP256Sha256, format!("CN={cn}"))
    };
    let id = generate_test_identity(&params).unwrap();
    let signer = OpenSslProvider::new()
        .load_signer(id.key_pem.as_bytes(), id.certificate)
        .unwrap();
    (signer, id.cert_pem)
}
