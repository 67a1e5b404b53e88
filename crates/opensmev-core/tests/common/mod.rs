//! Test support shared by the core's integration tests: the fixed start time, the 1.2 namespaces,
//! test identities (ECDSA P-256 keys with certificates valid around that time), MessageIDs, and
//! signed SendRequests handed to the bus.

use opensmev_core::{AttachmentsInput, Bus, BusError, SendRequestInput, Signed};
use opensmev_crypto::{
    CryptoProvider as _, OpenSslProvider, SignatureAlgorithm, Signer, TestIdentityParams,
    generate_test_identity,
};
use opensmev_types::SchemaVersion;
use opensmev_xmldsig::dsig::{Placement, SignOptions, sign_document};
use opensmev_xmldsig::xml::{Document, Limits};
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

/// A version-1 MessageID made at `at`, unique within the test process.
pub(crate) fn id_at(at: OffsetDateTime) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_be_bytes();
    let mut node = [0u8; 6];
    node.copy_from_slice(&n[2..8]);
    opensmev_types::MessageId::from_parts(at, 1, node).to_string()
}

/// `body` in a SOAP envelope, the element with `Id=id` signed in the SMEV place with `options`.
pub(crate) fn signed_xml(
    body: &str,
    id: &str,
    signer: &dyn Signer,
    options: &SignOptions,
) -> String {
    let xml = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{body}</s:Body></s:Envelope>"
    );
    String::from_utf8(
        sign_document(
            xml.as_bytes(),
            id,
            signer,
            &OpenSslProvider::new(),
            Placement::Smev,
            options,
        )
        .unwrap(),
    )
    .unwrap()
}

/// Hands a signed `SendRequestRequest` (business root `{urn:t}Req`) to `bus.send_request`.
pub(crate) async fn send_signed(bus: &Bus, xml: &str, message_id: &str) -> Result<(), BusError> {
    let doc = Document::parse(xml.as_bytes(), Limits::default()).unwrap();
    let data = doc.find(TYPES, "SenderProvidedRequestData").next().unwrap();
    let wrapper = doc
        .find(TYPES, "CallerInformationSystemSignature")
        .next()
        .unwrap();
    let content = doc.find("urn:t", "Req").next().unwrap();
    let eol = doc.find(TYPES, "EOL").next().map(|e| {
        OffsetDateTime::parse(
            &e.text_content(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    });
    let input = SendRequestInput {
        signed: Signed {
            doc: &doc,
            target: data.index(),
            wrapper: Some(wrapper.index()),
            version: SchemaVersion::V1_2,
            claimed: None,
        },
        message_id: message_id.to_owned(),
        reference_message_id: None,
        transaction_code: None,
        node_id: None,
        eol,
        test_message: false,
        content: content.index(),
        attachments: AttachmentsInput::default(),
        client_id: None,
        priority: None,
    };
    bus.send_request(input).await.map(|_| ())
}
