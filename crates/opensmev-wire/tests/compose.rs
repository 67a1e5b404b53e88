//! Composition: every `SendRequest` / `SendResponse` call the composers write, in every version
//! and for every kind of content, is valid against the official XSD, signs as the caller with
//! `sign_document(.., Placement::Smev, ..)`, decodes back to exactly what was given and its
//! signatures verify; business XML that is not one standalone element, and values the schema
//! (or the decoder) refuses, are refused with `WireError::Compose` naming the input.

mod common;

use common::validate_envelope;
use opensmev_crypto::CryptoProvider as _;
use opensmev_crypto::{
    OpenSslProvider, SignatureAlgorithm, Signer, TestIdentityParams, generate_test_identity,
};
use opensmev_types::{QName, SchemaVersion};
use opensmev_wire::error::ComposeProblem;
use opensmev_wire::ns::XOP_NS;
use opensmev_wire::{
    AttachmentData, CALLER_SIGNED_ID, ComposedAttachment, ComposedRequest, ComposedResponse,
    ComposedResponseContent, FoundPart, PartLookup, RejectCode, Request, ResponseContent,
    SendRequestReq, SendResponseReq, WireError, decode_request, send_request_call,
    send_response_call,
};
use opensmev_xmldsig::dsig::{
    Placement, SignOptions, VerifyOptions, create_signature, sign_document, verify_wrapped,
};
use opensmev_xmldsig::xml::{Document, ElementId, Limits, XmlErrorKind};
use proptest::prelude::*;
use time::macros::datetime;

const VERSIONS: [SchemaVersion; 3] = SchemaVersion::ALL;
const MESSAGE_ID: &str = "1c3b5f9a-2b7a-11ee-be56-0242ac120002";
const REFERENCE_ID: &str = "0a1b2c3d-2b7a-11ee-be56-0242ac120002";
const BUSINESS_NS: &str = "urn://example/business/1.0";
/// A business document as an IS sends it: declaration, comment, a prefixed root with an `Id`
/// (the personal signature's target), an unqualified child, an escaped value.
const BUSINESS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- запрос -->\n\
    <b:Query xmlns:b=\"urn://example/business/1.0\" Id=\"PERSONAL_SIGNATURE\">\
    <b:Name>Иванов &amp; сыновья</b:Name><Plain a=\"&quot;\">x</Plain></b:Query>\n";

/// The MIME parts the caller keeps: (Content-ID, Content-Type, bytes, spooled to a file).
struct Parts(Vec<(&'static str, &'static str, Vec<u8>, bool)>);

impl PartLookup for Parts {
    fn lookup(&self, content_id: &str) -> Option<FoundPart> {
        self.0.iter().find(|(cid, ..)| *cid == content_id).map(
            |(cid, content_type, bytes, spooled)| FoundPart {
                content_id: (*cid).to_owned(),
                content_type: (*content_type).to_owned(),
                data: if *spooled {
                    AttachmentData::Part {
                        len: bytes.len() as u64,
                    }
                } else {
                    AttachmentData::Bytes(bytes.clone())
                },
            },
        )
    }
}

fn parts() -> Parts {
    Parts(vec![
        (
            "part-1@opensmev",
            "application/pdf",
            b"%PDF-1.4 ...".to_vec(),
            false,
        ),
        (
            "part&2@opensmev",
            "application/octet-stream",
            vec![0, 1, 2, 255],
            true,
        ),
    ])
}

const ATTACHMENTS: [ComposedAttachment<'static>; 2] = [
    ComposedAttachment {
        id: "doc-1",
        mime_type: "application/pdf",
        part_cid: "part-1@opensmev",
    },
    ComposedAttachment {
        id: "Вложение_2",
        mime_type: "application/vnd.ms-excel+xml",
        part_cid: "part&2@opensmev",
    },
];

fn signer() -> Box<dyn Signer> {
    let identity = generate_test_identity(&TestIdentityParams::new(
        SignatureAlgorithm::EcdsaP256Sha256,
        "CN=ИС тест, O=Тест",
    ))
    .unwrap();
    OpenSslProvider::new()
        .load_signer(identity.key_pem.as_bytes(), identity.certificate)
        .unwrap()
}

/// An ЭП-СП over the business root, made on the business document alone (as an official signs
/// it before the IS sends it).
fn personal_signature(business: &str, signer: &dyn Signer) -> String {
    let doc = Document::parse_str(business, Limits::default()).unwrap();
    create_signature(
        &doc.root(),
        signer,
        &OpenSslProvider::new(),
        &SignOptions::default(),
    )
    .unwrap()
}

/// Signs the composed call as the caller.
fn sign(call: &str, signer: &dyn Signer) -> String {
    let signed = sign_document(
        call.as_bytes(),
        CALLER_SIGNED_ID,
        signer,
        &OpenSslProvider::new(),
        Placement::Smev,
        &SignOptions::default(),
    )
    .unwrap();
    String::from_utf8(signed).unwrap()
}

/// The call as the XOP infoset a schema sees: every `xop:Include` replaced by its part's bytes
/// in base64.
fn xop_infoset(call: &str, parts: &Parts) -> String {
    use base64::Engine as _;
    let doc = Document::parse_str(call, Limits::default()).unwrap();
    let mut includes: Vec<_> = doc.find(XOP_NS, "Include").collect();
    includes.reverse();
    let mut out = call.to_owned();
    for include in includes {
        let href = include.attribute(None, "href").unwrap();
        let cid = href.strip_prefix("cid:").unwrap();
        let (.., bytes, _) = parts.0.iter().find(|(c, ..)| *c == cid).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        out.replace_range(include.range(), &b64);
    }
    out
}

/// Checks the unsigned and the signed call against the schema, decodes the signed one and
/// checks the caller's signature over the signed element; hands the decoded request and its
/// document to `check`.
fn round_trip(
    version: SchemaVersion,
    call: &str,
    signer: &dyn Signer,
    check: impl FnOnce(&Request, &Document<'_>),
) {
    let parts = parts();
    validate_envelope(version, &xop_infoset(call, &parts));
    let signed = sign(call, signer);
    validate_envelope(version, &xop_infoset(&signed, &parts));
    let doc = Document::parse(signed.as_bytes(), Limits::default()).unwrap();
    let request = decode_request(&doc, &parts).unwrap();
    assert_eq!(request.version(), version);
    let wrapper = request.caller_signature().expect("the signature wrapper");
    let wrapper = doc.element(wrapper);
    assert_eq!(wrapper.local_name(), "CallerInformationSystemSignature");
    assert_eq!(wrapper.namespace(), Some(version.types_ns()));
    // The wrapper is the last child of the operation element (schema order).
    let body = doc.element(request.body_element());
    assert_eq!(
        body.children().last().map(|c| c.index()),
        Some(wrapper.index())
    );
    verify(&doc, wrapper.index(), request.signed_element());
    assert_eq!(
        doc.element(request.signed_element()).id_attr(),
        Some(CALLER_SIGNED_ID)
    );
    check(&request, &doc);
}

/// The signature in `wrapper` verifies and covers `target`.
fn verify(doc: &Document<'_>, wrapper: ElementId, target: ElementId) {
    let report = verify_wrapped(
        Some(&doc.element(wrapper)),
        &OpenSslProvider::new(),
        &VerifyOptions {
            expected_target: Some(target),
            ..VerifyOptions::now()
        },
    );
    assert!(report.is_valid(), "{report:?}");
}

fn send_request(request: &Request) -> &SendRequestReq {
    match request {
        Request::SendRequest(r) => r,
        other => panic!("not a SendRequest: {other:?}"),
    }
}

fn send_response(request: &Request) -> &SendResponseReq {
    match request {
        Request::SendResponse(r) => r,
        other => panic!("not a SendResponse: {other:?}"),
    }
}

/// The decoded attachments are the composed ones, with their parts' bytes.
fn assert_attachments(
    headers: &[opensmev_wire::AttachmentHeader],
    contents: &[opensmev_wire::AttachmentContent],
) {
    let parts = parts();
    assert_eq!(headers.len(), ATTACHMENTS.len());
    assert_eq!(contents.len(), ATTACHMENTS.len());
    for ((a, header), content) in ATTACHMENTS.iter().zip(headers).zip(contents) {
        assert_eq!(header.content_id, a.id);
        assert_eq!(header.mime_type, a.mime_type);
        assert_eq!(header.signature_pkcs7, None);
        assert_eq!(content.id, a.id);
        assert_eq!(content.mtom_content_id.as_deref(), Some(a.part_cid));
        let found = parts.lookup(a.part_cid).unwrap();
        assert_eq!(content.data, found.data);
        assert_eq!(
            content.part_content_type.as_deref(),
            Some(found.content_type.as_str())
        );
    }
}

/// The decoded business root is the composed one, and the personal signature over it (when
/// present) still verifies where the composer put it.
fn assert_business(
    doc: &Document<'_>,
    content: &opensmev_wire::PrimaryContent,
    personal_signature: Option<ElementId>,
    signed_personally: bool,
) {
    assert_eq!(content.root_name, QName::new(BUSINESS_NS, "Query"));
    assert_eq!(content.root_id_attr.as_deref(), Some("PERSONAL_SIGNATURE"));
    let root = doc.element(content.root);
    let name = root.children().next().unwrap();
    assert!(name.is(BUSINESS_NS, "Name"));
    assert_eq!(name.text_content(), "Иванов & сыновья");
    let plain = root.children().nth(1).unwrap();
    assert_eq!(
        plain.namespace(),
        None,
        "an unqualified child stays unqualified"
    );
    assert_eq!(plain.attribute(None, "a").as_deref(), Some("\""));
    assert_eq!(personal_signature.is_some(), signed_personally);
    if let Some(wrapper) = personal_signature {
        assert_eq!(doc.element(wrapper).local_name(), "PersonalSignature");
        verify(doc, wrapper, content.root);
    }
}

#[test]
fn requests_round_trip_in_every_version() {
    let signer = signer();
    let personal = personal_signature(BUSINESS, signer.as_ref());
    for version in VERSIONS {
        // Every optional field.
        let full = ComposedRequest {
            version,
            message_id: MESSAGE_ID,
            reference_message_id: Some(REFERENCE_ID),
            transaction_code: Some("TX-42/2023"),
            node_id: Some("node-7"),
            eol: Some(datetime!(2030-01-02 03:04:05.678 +03:00)),
            test_message: true,
            business_xml: BUSINESS,
            personal_signature_xml: Some(&personal),
            attachments: &ATTACHMENTS,
        };
        let call = send_request_call(&full).unwrap();
        assert_eq!(call.matches("<?xml").count(), 1, "one XML declaration");
        round_trip(version, &call, signer.as_ref(), |request, doc| {
            let r = send_request(request);
            let d = &r.sender_data;
            assert_eq!(d.id_attr.as_deref(), Some(CALLER_SIGNED_ID));
            assert_eq!(d.message_id, MESSAGE_ID);
            assert_eq!(d.reference_message_id.as_deref(), Some(REFERENCE_ID));
            assert_eq!(d.transaction_code.as_deref(), Some("TX-42/2023"));
            assert_eq!(d.node_id.as_deref(), Some("node-7"));
            assert_eq!(d.eol, full.eol);
            assert!(d.test_message);
            assert_business(doc, &d.content, d.personal_signature, true);
            assert_attachments(&d.attachment_headers, &r.attachments);
            assert!(d.ref_attachment_headers.is_empty());
            assert_eq!(d.business_process_metadata, None);
            assert_eq!(r.routing, None);
            // Every child of the sender's data, in schema order.
            let names: Vec<&str> = doc
                .element(d.element)
                .children()
                .map(|c| c.local_name())
                .collect();
            assert_eq!(
                names,
                [
                    "MessageID",
                    "ReferenceMessageID",
                    "TransactionCode",
                    "NodeID",
                    "EOL",
                    "MessagePrimaryContent",
                    "PersonalSignature",
                    "AttachmentHeaderList",
                    "TestMessage"
                ]
            );
            let names: Vec<&str> = doc
                .element(r.body)
                .children()
                .map(|c| c.local_name())
                .collect();
            assert_eq!(
                names,
                [
                    "SenderProvidedRequestData",
                    "AttachmentContentList",
                    "CallerInformationSystemSignature"
                ]
            );
        });

        // No optional field.
        let minimal = ComposedRequest {
            version,
            message_id: MESSAGE_ID,
            reference_message_id: None,
            transaction_code: None,
            node_id: None,
            eol: None,
            test_message: false,
            business_xml: BUSINESS,
            personal_signature_xml: None,
            attachments: &[],
        };
        let call = send_request_call(&minimal).unwrap();
        round_trip(version, &call, signer.as_ref(), |request, doc| {
            let r = send_request(request);
            let d = &r.sender_data;
            assert_eq!(d.message_id, MESSAGE_ID);
            assert_eq!(d.reference_message_id, None);
            assert_eq!(d.transaction_code, None);
            assert_eq!(d.node_id, None);
            assert_eq!(d.eol, None);
            assert!(!d.test_message);
            assert_business(doc, &d.content, d.personal_signature, false);
            assert!(d.attachment_headers.is_empty());
            assert!(r.attachments.is_empty());
            let names: Vec<&str> = doc
                .element(r.body)
                .children()
                .map(|c| c.local_name())
                .collect();
            assert_eq!(
                names,
                [
                    "SenderProvidedRequestData",
                    "CallerInformationSystemSignature"
                ]
            );
        });
    }
}

#[test]
fn business_responses_round_trip_in_every_version() {
    let signer = signer();
    let personal = personal_signature(BUSINESS, signer.as_ref());
    for version in VERSIONS {
        for (personal_signature_xml, attachments) in
            [(Some(personal.as_str()), &ATTACHMENTS[..]), (None, &[][..])]
        {
            let response = ComposedResponse {
                version,
                message_id: MESSAGE_ID,
                to: "eyJzaWQiOjMxNzE0fQ==",
                content: ComposedResponseContent::Business {
                    business_xml: BUSINESS,
                    personal_signature_xml,
                    attachments,
                },
            };
            let call = send_response_call(&response).unwrap();
            round_trip(version, &call, signer.as_ref(), |request, doc| {
                let r = send_response(request);
                let d = &r.sender_data;
                assert_eq!(d.id_attr.as_deref(), Some(CALLER_SIGNED_ID));
                assert_eq!(d.message_id, MESSAGE_ID);
                assert_eq!(d.to, "eyJzaWQiOjMxNzE0fQ==");
                let ResponseContent::Primary {
                    content,
                    personal_signature,
                    attachment_headers,
                    ref_attachment_headers,
                } = &d.content
                else {
                    panic!("{:?}", d.content);
                };
                assert_business(
                    doc,
                    content,
                    *personal_signature,
                    personal_signature_xml.is_some(),
                );
                assert!(ref_attachment_headers.is_empty());
                if attachments.is_empty() {
                    assert!(attachment_headers.is_empty());
                    assert!(r.attachments.is_empty());
                } else {
                    assert_attachments(attachment_headers, &r.attachments);
                }
            });
        }
    }
}

#[test]
fn rejections_round_trip_in_every_version() {
    let signer = signer();
    let rejections = [
        (RejectCode::AccessDenied, "нет прав <ЭП-СП>"),
        (RejectCode::NoData, "нет данных & всё"),
        (
            RejectCode::UnknownRequestDescription,
            "\"неизвестный\" 'запрос'",
        ),
        (RejectCode::Failure, ""),
    ];
    for version in VERSIONS {
        let response = ComposedResponse {
            version,
            message_id: MESSAGE_ID,
            to: "reply-to",
            content: ComposedResponseContent::Rejected(&rejections),
        };
        let call = send_response_call(&response).unwrap();
        round_trip(version, &call, signer.as_ref(), |request, _| {
            let r = send_response(request);
            assert_eq!(r.sender_data.to, "reply-to");
            assert!(r.attachments.is_empty());
            let ResponseContent::Rejected(decoded) = &r.sender_data.content else {
                panic!("{:?}", r.sender_data.content);
            };
            let decoded: Vec<(RejectCode, &str)> = decoded
                .iter()
                .map(|x| (x.code, x.description.as_str()))
                .collect();
            assert_eq!(decoded, rejections);
        });
    }
}

#[test]
fn statuses_round_trip_in_every_version() {
    let signer = signer();
    let parameters = [
        ("stage", "проверка <документов>"),
        ("a&b", "\"1\" & '2'"),
        ("empty", ""),
        ("stage", "повтор ключа"),
    ];
    for version in VERSIONS {
        for (code, parameters) in [(-7, &parameters[..]), (i32::MAX, &[][..])] {
            let response = ComposedResponse {
                version,
                message_id: MESSAGE_ID,
                to: "reply-to",
                content: ComposedResponseContent::Status {
                    code,
                    description: "В работе: \"этап\" <2> & 'далее'",
                    parameters,
                },
            };
            let call = send_response_call(&response).unwrap();
            round_trip(version, &call, signer.as_ref(), |request, _| {
                let r = send_response(request);
                let ResponseContent::Status(status) = &r.sender_data.content else {
                    panic!("{:?}", r.sender_data.content);
                };
                assert_eq!(status.code, code);
                assert_eq!(status.description, "В работе: \"этап\" <2> & 'далее'");
                let decoded: Vec<(&str, &str)> = status
                    .parameters
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                assert_eq!(decoded, parameters);
            });
        }
    }
}

fn request(business_xml: &str) -> ComposedRequest<'_> {
    ComposedRequest {
        version: SchemaVersion::V1_2,
        message_id: MESSAGE_ID,
        reference_message_id: None,
        transaction_code: None,
        node_id: None,
        eol: None,
        test_message: false,
        business_xml,
        personal_signature_xml: None,
        attachments: &[],
    }
}

/// Composes and decodes (unsigned: the decoder does not need the signature).
fn compose_and_decode(request: &ComposedRequest<'_>) -> (String, SendRequestReq) {
    let call = send_request_call(request).unwrap();
    let doc = Document::parse_str(&call, Limits::default()).unwrap();
    let decoded = decode_request(&doc, &parts()).unwrap();
    (call.clone(), send_request(&decoded).clone())
}

#[test]
fn a_business_document_with_a_declaration_and_a_default_namespace() {
    let xml = "\u{FEFF}<?xml version='1.0' encoding='utf-8'?>\r\n<!-- before -->\r\n<?pi data?>\
               <Req xmlns=\"urn:biz\" xmlns:x=\"urn:x\"><Child x:a=\"1\">текст</Child><x:Other/></Req>\
               \r\n<!-- after -->\r\n";
    let (call, decoded) = compose_and_decode(&request(xml));
    assert_eq!(call.matches("<?xml").count(), 1);
    assert!(!call.contains("before") && !call.contains("after") && !call.contains("<?pi"));
    assert!(
        call.contains(
            "<MessagePrimaryContent><Req xmlns=\"urn:biz\" xmlns:x=\"urn:x\"><Child x:a=\"1\">"
        ),
        "the element goes in as written: {call}"
    );
    let doc = Document::parse_str(&call, Limits::default()).unwrap();
    let content = &decoded.sender_data.content;
    assert_eq!(content.root_name, QName::new("urn:biz", "Req"));
    let root = doc.element(content.root);
    let kids: Vec<(Option<&str>, &str)> = root
        .children()
        .map(|c| (c.namespace(), c.local_name()))
        .collect();
    assert_eq!(kids, [(Some("urn:biz"), "Child"), (Some("urn:x"), "Other")]);
    assert_eq!(
        root.children()
            .next()
            .unwrap()
            .attribute(Some("urn:x"), "a")
            .as_deref(),
        Some("1")
    );
    validate_envelope(SchemaVersion::V1_2, &call);
}

/// The error of composing `business_xml` into a request: its input and problem.
fn refusal(result: Result<String, WireError>) -> (String, ComposeProblem) {
    match result {
        Err(WireError::Compose { input, problem }) => (input, problem),
        other => panic!("expected a Compose error, got {other:?}"),
    }
}

fn xml_refusal(business_xml: &str) -> XmlErrorKind {
    match refusal(send_request_call(&request(business_xml))) {
        (input, ComposeProblem::Xml(e)) if input == "business_xml" => e.kind,
        other => panic!("{business_xml:?}: {other:?}"),
    }
}

#[test]
fn a_prefix_declared_outside_the_business_document_is_refused() {
    // `ns2` is the envelope's prefix of the types namespace, `b` would be declared on a wrapper
    // the caller cut the element from: neither is declared in the business document.
    for xml in [
        "<ns2:Req><ns2:Item/></ns2:Req>",
        "<Req xmlns=\"urn:biz\"><b:Item/></Req>",
        "<Req xmlns=\"urn:biz\" b:attr=\"1\"/>",
    ] {
        assert!(
            matches!(xml_refusal(xml), XmlErrorKind::UnboundPrefix(_)),
            "{xml}"
        );
    }
}

#[test]
fn anything_but_one_element_is_refused() {
    let not_one = [
        "",
        "   \n",
        "<!-- only a comment -->",
        "<a xmlns=\"urn:x\"/><b xmlns=\"urn:x\"/>",
        "<a xmlns=\"urn:x\"/>text after",
        "text before<a xmlns=\"urn:x\"/>",
        "<a xmlns=\"urn:x\"/>&amp;",
    ];
    for xml in not_one {
        let kind = xml_refusal(xml);
        assert!(
            matches!(kind, XmlErrorKind::NotOneRoot | XmlErrorKind::Syntax(_)),
            "{xml:?}: {kind:?}"
        );
    }
    assert_eq!(
        xml_refusal("<!DOCTYPE a [<!ENTITY x \"y\">]><a xmlns=\"urn:x\">&x;</a>"),
        XmlErrorKind::DtdForbidden
    );
    assert_eq!(
        xml_refusal("<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a xmlns=\"urn:x\"/>"),
        XmlErrorKind::DtdForbidden
    );
    assert!(matches!(
        xml_refusal("<a xmlns=\"urn:x\">&ext;</a>"),
        XmlErrorKind::UndefinedEntity(_)
    ));
    assert!(matches!(
        xml_refusal("<a xmlns=\"urn:x\"><b></a>"),
        XmlErrorKind::Syntax(_)
    ));
    assert!(matches!(
        xml_refusal("<?xml version=\"1.0\" encoding=\"windows-1251\"?><a xmlns=\"urn:x\"/>"),
        XmlErrorKind::Encoding(_)
    ));
    assert!(matches!(
        xml_refusal("<a xmlns=\"urn:x\">\u{1}</a>"),
        XmlErrorKind::ForbiddenCharacter(1)
    ));
    assert!(matches!(
        xml_refusal("<a xmlns=\"urn:x\" b=\"1\" b=\"2\"/>"),
        XmlErrorKind::DuplicateAttribute(_)
    ));
    // Deeper than the envelope leaves room for.
    let deep = format!(
        "<a xmlns=\"urn:x\">{}{}</a>",
        "<a>".repeat(300),
        "</a>".repeat(300)
    );
    assert!(matches!(
        xml_refusal(&deep),
        XmlErrorKind::LimitExceeded { .. }
    ));
    // The offset is into the input.
    let (_, problem) = refusal(send_request_call(&request("<a xmlns=\"urn:x\"/> x")));
    let ComposeProblem::Xml(e) = problem else {
        panic!("{problem:?}");
    };
    assert!(e.offset >= 18, "{e}");
}

#[test]
fn business_roots_the_schema_refuses() {
    for xml in [
        "<Req/>",
        "<Req xmlns=\"\"/>",
        &format!("<Req xmlns=\"{}\"/>", SchemaVersion::V1_2.basic_ns()),
        &format!("<Req xmlns=\"urn:biz\"><x Id=\"{CALLER_SIGNED_ID}\"/></Req>"),
        &format!("<Req xmlns=\"urn:biz\" Id=\"{CALLER_SIGNED_ID}\"/>"),
    ] {
        let (input, problem) = refusal(send_request_call(&request(xml)));
        assert_eq!(input, "business_xml", "{xml}");
        assert!(matches!(problem, ComposeProblem::Invalid(_)), "{xml}");
    }
}

#[test]
fn the_personal_signature_must_be_one_ds_signature() {
    let signer = signer();
    let good = personal_signature(BUSINESS, signer.as_ref());
    for bad in [
        "<Signature xmlns=\"urn:not-dsig\"/>".to_owned(),
        "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/>".to_owned(),
        format!("{good}{good}"),
        "<ds:Signature/>".to_owned(),
        good.replace(
            "<ds:Signature ",
            &format!("<ds:Signature Id=\"{CALLER_SIGNED_ID}\" "),
        ),
    ] {
        let r = ComposedRequest {
            personal_signature_xml: Some(&bad),
            ..request(BUSINESS)
        };
        let (input, _) = refusal(send_request_call(&r));
        assert_eq!(input, "personal_signature_xml", "{bad}");
    }
}

#[test]
fn values_are_escaped_and_round_trip() {
    let nasty = "<&\"'> ]]> \r\n\t end";
    let attachments = [ComposedAttachment {
        id: "a1",
        mime_type: "text/plain",
        part_cid: "part&2@opensmev",
    }];
    let r = ComposedRequest {
        message_id: "not a uuid <&>",
        transaction_code: Some(nasty),
        node_id: Some("<&\"'>"),
        attachments: &attachments,
        ..request("<b:Req xmlns:b=\"urn:b\" v=\"&lt;&amp;&quot;&apos;\">&lt;&amp;&gt;</b:Req>")
    };
    let (call, decoded) = compose_and_decode(&r);
    let d = &decoded.sender_data;
    assert_eq!(d.message_id, "not a uuid <&>", "MessageID goes as given");
    assert_eq!(d.transaction_code.as_deref(), Some(nasty));
    assert_eq!(d.node_id.as_deref(), Some("<&\"'>"));
    assert_eq!(
        decoded.attachments[0].mtom_content_id.as_deref(),
        Some("part&2@opensmev")
    );
    let doc = Document::parse_str(&call, Limits::default()).unwrap();
    let root = doc.element(d.content.root);
    assert_eq!(root.attribute(None, "v").as_deref(), Some("<&\"'"));
    assert_eq!(root.text_content(), "<&>");

    for version in VERSIONS {
        let response = ComposedResponse {
            version,
            message_id: MESSAGE_ID,
            to: nasty,
            content: ComposedResponseContent::Status {
                code: 0,
                description: nasty,
                parameters: &[(nasty, nasty)],
            },
        };
        let call = send_response_call(&response).unwrap();
        let doc = Document::parse_str(&call, Limits::default()).unwrap();
        let decoded = decode_request(&doc, &parts()).unwrap();
        let d = &send_response(&decoded).sender_data;
        assert_eq!(d.to, nasty);
        let ResponseContent::Status(status) = &d.content else {
            panic!("{:?}", d.content);
        };
        assert_eq!(status.description, nasty);
        assert_eq!(status.parameters, [(nasty.to_owned(), nasty.to_owned())]);
    }
}

#[test]
fn values_the_schema_refuses_name_their_input() {
    let long = |n: usize| "я".repeat(n);
    let (tx_ok, tx_long, node_ok, node_long) = (long(1500), long(1501), long(50), long(51));
    send_request_call(&ComposedRequest {
        transaction_code: Some(&tx_ok),
        node_id: Some(&node_ok),
        ..request(BUSINESS)
    })
    .unwrap();
    let cases: Vec<(ComposedRequest<'_>, &str)> = vec![
        (
            ComposedRequest {
                reference_message_id: Some("1C3B5F9A-2B7A-11EE-BE56-0242AC120002"),
                ..request(BUSINESS)
            },
            "reference_message_id",
        ),
        (
            ComposedRequest {
                transaction_code: Some(&tx_long),
                ..request(BUSINESS)
            },
            "transaction_code",
        ),
        (
            ComposedRequest {
                node_id: Some(&node_long),
                ..request(BUSINESS)
            },
            "node_id",
        ),
        (
            ComposedRequest {
                node_id: Some("a\u{1}b"),
                ..request(BUSINESS)
            },
            "node_id",
        ),
        (
            ComposedRequest {
                message_id: "\u{FFFE}",
                ..request(BUSINESS)
            },
            "message_id",
        ),
        (
            ComposedRequest {
                eol: Some(datetime!(0000-01-01 00:00 UTC)),
                ..request(BUSINESS)
            },
            "eol",
        ),
    ];
    for (r, field) in cases {
        let (input, problem) = refusal(send_request_call(&r));
        assert_eq!(input, field, "{problem:?}");
    }

    let attachment = |id, mime_type, part_cid| ComposedAttachment {
        id,
        mime_type,
        part_cid,
    };
    let bad_attachments: [(Vec<ComposedAttachment<'_>>, &str); 8] = [
        (
            vec![attachment("1x", "text/plain", "p")],
            "attachments[0].id",
        ),
        (
            vec![attachment("a:b", "text/plain", "p")],
            "attachments[0].id",
        ),
        (
            vec![attachment(CALLER_SIGNED_ID, "text/plain", "p")],
            "attachments[0].id",
        ),
        (
            vec![
                attachment("a", "text/plain", "p"),
                attachment("a", "text/plain", "q"),
            ],
            "attachments[1].id",
        ),
        (
            vec![attachment("a", "model/x3d", "p")],
            "attachments[0].mime_type",
        ),
        (
            vec![attachment("a", "text/plain", "")],
            "attachments[0].part_cid",
        ),
        (
            vec![attachment("a", "text/plain", "a b")],
            "attachments[0].part_cid",
        ),
        (
            vec![attachment("a", "text/plain", "<p>")],
            "attachments[0].part_cid",
        ),
    ];
    for (attachments, field) in &bad_attachments {
        let r = ComposedRequest {
            attachments,
            ..request(BUSINESS)
        };
        let (input, problem) = refusal(send_request_call(&r));
        assert_eq!(input, *field, "{problem:?}");
        let response = ComposedResponse {
            version: SchemaVersion::V1_3,
            message_id: MESSAGE_ID,
            to: "x",
            content: ComposedResponseContent::Business {
                business_xml: BUSINESS,
                personal_signature_xml: None,
                attachments,
            },
        };
        let (input, _) = refusal(send_response_call(&response));
        assert_eq!(input, *field);
    }

    let (to_ok, to_long, description_long) = (long(4000), long(4001), long(4001));
    fn response<'a>(to: &'a str, content: ComposedResponseContent<'a>) -> ComposedResponse<'a> {
        ComposedResponse {
            version: SchemaVersion::V1_1,
            message_id: MESSAGE_ID,
            to,
            content,
        }
    }
    let longest = [(RejectCode::NoData, to_ok.as_str())];
    send_response_call(&response(
        &to_ok,
        ComposedResponseContent::Rejected(&longest),
    ))
    .unwrap();
    let rejected_long = [
        (RejectCode::NoData, "ok"),
        (RejectCode::Failure, description_long.as_str()),
    ];
    for (r, field) in [
        (
            response(
                &to_long,
                ComposedResponseContent::Rejected(&[(RejectCode::NoData, "")]),
            ),
            "to",
        ),
        (
            response("x", ComposedResponseContent::Rejected(&[])),
            "rejected",
        ),
        (
            response("x", ComposedResponseContent::Rejected(&rejected_long)),
            "rejected[1].description",
        ),
        (
            response(
                "x",
                ComposedResponseContent::Status {
                    code: 1,
                    description: &description_long,
                    parameters: &[],
                },
            ),
            "status.description",
        ),
        (
            response(
                "x",
                ComposedResponseContent::Status {
                    code: 1,
                    description: "",
                    parameters: &[("k", "ok"), ("k", "\u{0}")],
                },
            ),
            "status.parameters[1].value",
        ),
    ] {
        let (input, problem) = refusal(send_response_call(&r));
        assert_eq!(input, field, "{problem:?}");
    }
}

#[test]
fn errors_say_the_input_and_the_problem() {
    let err = send_request_call(&request("<ns2:Req/>")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "business_xml: unbound namespace prefix 'ns2' (at byte 0)"
    );
    assert_eq!(err.position(), None, "no position in a received message");
    let err = send_request_call(&ComposedRequest {
        node_id: Some(&"x".repeat(51)),
        ..request(BUSINESS)
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node_id: value is longer than 50 characters (51)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any text is either refused with an error naming it or comes back exactly.
    #[test]
    fn any_value_is_refused_or_round_trips(value in "\\PC{0,40}|[\\x00-\\x20<>&\"'\\]\\r]{0,20}") {
        let response = ComposedResponse {
            version: SchemaVersion::V1_2,
            message_id: MESSAGE_ID,
            to: &value,
            content: ComposedResponseContent::Status {
                code: 3,
                description: &value,
                parameters: &[(&value, &value)],
            },
        };
        match send_response_call(&response) {
            Ok(call) => {
                let doc = Document::parse_str(&call, Limits::default()).unwrap();
                let decoded = decode_request(&doc, &parts()).unwrap();
                let d = &send_response(&decoded).sender_data;
                prop_assert_eq!(&d.to, &value);
                let ResponseContent::Status(status) = &d.content else {
                    panic!("{:?}", d.content);
                };
                prop_assert_eq!(&status.description, &value);
                prop_assert_eq!(&status.parameters, &vec![(value.clone(), value.clone())]);
            }
            Err(WireError::Compose { input, .. }) => prop_assert_eq!(input, "to"),
            Err(other) => panic!("{other:?}"),
        }
    }

    /// Whatever the business XML, the composer answers (never panics), and what it composes
    /// decodes.
    #[test]
    fn any_business_xml_is_refused_or_decodes(
        xml in "(<\\?xml version=\"1.0\"\\?>)?\\s?(<!--c-->)?<(b:)?R( xmlns(:b)?=\"urn:[a-z]{1,3}\")?( Id=\"[A-Z_]{1,3}\")?>([a-z ]{0,8}|&amp;|<c/>|<b:c/>|<c xmlns=\"\"/>|[a-z<>/&;! ]{0,12})</(b:)?R>\\s?(<!--c-->|x|<R/>)?",
    ) {
        match send_request_call(&request(&xml)) {
            Ok(call) => {
                let doc = Document::parse_str(&call, Limits::default()).unwrap();
                let decoded = decode_request(&doc, &parts()).unwrap();
                let d = &send_request(&decoded).sender_data;
                let source = Document::parse_str(&xml, Limits::default()).unwrap();
                let root = source.root();
                prop_assert_eq!(
                    d.content.root_name.clone(),
                    QName::new(root.namespace().unwrap_or(""), root.local_name())
                );
                // Every element keeps its name and namespace inside the envelope.
                let names = |e: opensmev_xmldsig::xml::Element<'_, '_>| {
                    std::iter::once(e)
                        .chain(e.descendants())
                        .map(|e| (e.namespace().map(str::to_owned), e.local_name().to_owned()))
                        .collect::<Vec<_>>()
                };
                prop_assert_eq!(names(doc.element(d.content.root)), names(root));
            }
            Err(WireError::Compose { input, .. }) => prop_assert_eq!(input, "business_xml"),
            Err(other) => panic!("{other:?}"),
        }
    }
}
