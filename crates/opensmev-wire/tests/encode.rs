//! Encoding: every answer and every fault, in every version, validates against that version's
//! official XSD; answers match what the real SMEV sent (compared through the SMEV transform,
//! which ignores prefixes and formatting); signed answers keep the schema order; the sender's
//! stored data keeps its signature valid; MTOM answers round-trip.

mod common;

use common::{body_element, data, parse, read, sample, validate, validate_envelope};
use opensmev_crypto::CryptoProvider as _;
use opensmev_crypto::{
    OpenSslProvider, SignatureAlgorithm, Signer, TestIdentityParams, generate_test_identity,
};
use opensmev_types::{InteractionStatus, MessageKind, Mnemonic, SchemaVersion};
use opensmev_wire::ns::DSIG_NS;
use opensmev_wire::*;
use opensmev_xmldsig::dsig::{
    Placement, SignOptions, VerifyOptions, sign_document, verify_wrapped,
};
use opensmev_xmldsig::transform::{Flavor, transform_element};
use opensmev_xmldsig::xml::{Document, Limits};
use time::macros::datetime;

const VERSIONS: [SchemaVersion; 3] = SchemaVersion::ALL;

fn participant(mnemonic: &str, name: &str) -> Participant {
    Participant {
        mnemonic: Mnemonic::parse(mnemonic).unwrap(),
        name: name.to_owned(),
    }
}

fn full_metadata(kind: MessageKind) -> MessageMetadata {
    let mut md = MessageMetadata::new(
        "1c3b5f9a-2b7a-11ee-be56-0242ac120002",
        kind,
        participant("CONSUMER01", "Потребитель <тест> & Ко"),
        datetime!(2023-07-26 12:00:00.5 +03:00),
    );
    md.recipient = Some(participant("PROVIDER01", "Поставщик"));
    md.delivery_timestamp = Some(datetime!(2023-07-26 09:00:01 UTC));
    md.status = Some(InteractionStatus::MessageIsDelivered);
    md.message_broker = Some("broker-1".into());
    md.destination_name = "PROVIDER01.requests".into();
    md.detected_content_type_name = Some("Запрос примера".into());
    md
}

/// The SMEV transform of the first element named `local` (prefix- and formatting-independent).
fn transformed(xml: &[u8], local: &str) -> Vec<u8> {
    let doc = Document::parse(xml, Limits::default()).unwrap();
    let el = doc
        .elements()
        .find(|e| e.local_name() == local)
        .unwrap_or_else(|| panic!("no {local}"));
    let mut out = Vec::new();
    transform_element(&el, None, Flavor::default(), &mut out).unwrap();
    out
}

fn assert_same_transform(ours: &str, theirs: &[u8], local: &str) {
    let a = String::from_utf8(transformed(ours.as_bytes(), local)).unwrap();
    let b = String::from_utf8(transformed(theirs, local)).unwrap();
    assert_eq!(a, b, "{local} differs");
}

#[test]
fn the_validator_really_validates() {
    assert!(opensmev_schema::validate_official("1.2", "<x/>").is_err());
    let bad = format!(
        "<ns2:AckResponse xmlns:ns2=\"{}\"><ns2:X/></ns2:AckResponse>",
        SchemaVersion::V1_2.types_ns()
    );
    assert!(opensmev_schema::validate_official("1.2", &bad).is_err());
}

#[test]
fn send_answers_validate_in_every_version() {
    for v in VERSIONS {
        for md in [
            full_metadata(MessageKind::Request),
            MessageMetadata::new(
                "1c3b5f9a-2b7a-11ee-be56-0242ac120002",
                MessageKind::Response,
                participant("P", ""),
                datetime!(2023-07-26 12:00:00 UTC),
            ),
        ] {
            let xml = send_request_response(v, &md, "SIGNED_BY_SMEV");
            validate_envelope(v, &xml);
            assert!(xml.contains("<ns2:MessageMetadata Id=\"SIGNED_BY_SMEV\">"));
            let xml = send_response_response(v, &md, "SIGNED_BY_SMEV");
            validate_envelope(v, &xml);
            // What each version writes.
            assert_eq!(xml.contains("DestinationName"), v == SchemaVersion::V1_1);
            assert_eq!(xml.contains("SupplementaryData"), v == SchemaVersion::V1_1);
            assert_eq!(xml.contains("HumanReadableName"), v != SchemaVersion::V1_2);
        }
    }
}

#[test]
fn send_request_response_matches_the_test_smev_1_2() {
    let sample = read(sample("smev3sharp-1.2/SendRequestResponce.xml"));
    let mut md = MessageMetadata::new(
        "ac9fbf27-8b8c-11eb-9086-e2bf794ac2e9",
        MessageKind::Request,
        participant("77BD01", "ignored in 1.2"),
        datetime!(2021-03-23 07:03:07 +03:00),
    );
    md.recipient = Some(participant("emu", "emu"));
    md.status = Some(InteractionStatus::RequestIsQueued);
    let ours = send_request_response(SchemaVersion::V1_2, &md, "SIGNED_BY_SMEV");
    assert_same_transform(&ours, &sample, "MessageMetadata");
    // Same prefixes and declarations as the real SMEV, too.
    let doc = parse(&sample);
    let body = doc
        .find(SchemaVersion::V1_2.types_ns(), "SendRequestResponse")
        .next()
        .unwrap();
    let start_tag = &body.source()[..body.source().find('>').unwrap() + 1];
    assert!(ours.contains(start_tag), "{start_tag}");
}

#[test]
fn send_request_response_matches_a_1_1_sample() {
    let sample = read(sample("smevka-1.1/SendRequestResponse.send.xml"));
    let mut md = MessageMetadata::new(
        "87b32127-323d-11ec-b0bc-000c293433a0",
        MessageKind::Request,
        participant("780002", "СМЭВ СПБ - Агрегатор"),
        datetime!(2021-10-21 10:07:19 +03:00),
    );
    md.destination_name = "unknown".into();
    md.recipient = Some(participant("emu", "emu"));
    md.detected_content_type_name = Some("not detected".into());
    md.interaction_type = InteractionType::NotDetected;
    md.status = Some(InteractionStatus::RequestIsQueued);
    let ours = send_request_response(SchemaVersion::V1_1, &md, "SIGNED_BY_SMEV");
    assert_same_transform(&ours, &sample, "MessageMetadata");
}

#[test]
fn empty_answers_are_what_the_test_smev_sends() {
    // The CXF answer of the test SMEV, root part of GetResponseResponce_MultipartEmptyQueue.xml.
    let multipart = String::from_utf8(read(sample(
        "smev3sharp-1.2/GetResponseResponce_MultipartEmptyQueue.xml",
    )))
    .unwrap();
    let start = multipart.find("<soap:Envelope").unwrap();
    let end = multipart.find("</soap:Envelope>").unwrap() + "</soap:Envelope>".len();
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}",
        &multipart[start..end]
    );
    assert_eq!(get_response_response(SchemaVersion::V1_2, None), expected);
    for v in VERSIONS {
        for xml in [
            get_request_response(v, None),
            get_response_response(v, None),
            get_status_response(v, None),
            ack_response(v),
        ] {
            validate_envelope(v, &xml);
        }
    }
}

/// The parts of a decoded `SendRequest` fixture that a delivery needs.
struct Stored {
    version: SchemaVersion,
    sender_data: String,
    sender_signature: String,
    attachments: Vec<(String, Vec<u8>)>,
}

fn stored_request(v: SchemaVersion, to: SchemaVersion) -> Stored {
    let bytes = read(data(&format!("send-request-{}.xml", v.as_str())));
    let doc = parse(&bytes);
    let Request::SendRequest(r) = decode_request(&doc, &no_parts()).unwrap() else {
        panic!()
    };
    let spd = doc.element(r.sender_data.element);
    let wrapper = doc.element(r.caller_signature.unwrap());
    let signature = wrapper.children().next().unwrap();
    Stored {
        version: to,
        sender_data: rewrite_sender_data(&spd, v, to),
        sender_signature: standalone(&signature),
        attachments: r
            .attachments
            .iter()
            .map(|a| (a.id.clone(), a.data.bytes().unwrap().to_vec()))
            .collect(),
    }
}

fn delivered_request(stored: Stored) -> DeliveredRequest {
    let mut metadata = full_metadata(MessageKind::Request);
    metadata.status = None;
    DeliveredRequest {
        request_id_attr: "SIGNED_BY_SMEV".into(),
        sender_data_xml: stored.sender_data,
        metadata,
        fs_attachments: vec![FsAttachment {
            uuid: "5f1b4f8e-2b7a-11ee-be56-0242ac120002".into(),
            user_name: "u".into(),
            password: "p&<".into(),
            file_name: "/SignedContent.zip".into(),
        }],
        reply_to: "eyJzaWQiOjE2NjAyNX0=".into(),
        sender_signature_xml: Some(stored.sender_signature),
        attachments: stored.attachments.into_iter().map(|a| a.0).collect(),
    }
}

#[test]
fn get_request_response_for_every_version_pair() {
    for from in VERSIONS {
        for to in VERSIONS {
            let stored = stored_request(from, to);
            let version = stored.version;
            let xml = get_request_response(version, Some(&delivered_request(stored)));
            validate_envelope(version, &xml);
            // The delivered sender data decodes as a request of the target version.
            let doc = Document::parse_str(&xml, Limits::default()).unwrap();
            let spd = doc
                .find(to.types_ns(), "SenderProvidedRequestData")
                .next()
                .unwrap();
            let wrapped = format!(
                "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><t:SendRequestRequest xmlns:t=\"{}\">{}</t:SendRequestRequest></s:Body></s:Envelope>",
                to.types_ns(),
                standalone(&spd)
            );
            let doc2 = Document::parse_str(&wrapped, Limits::default()).unwrap();
            let Request::SendRequest(r) = decode_request(&doc2, &no_parts()).unwrap() else {
                panic!()
            };
            assert_eq!(r.version, to);
            assert_eq!(
                r.sender_data.message_id,
                "1c3b5f9a-2b7a-11ee-be56-0242ac120002"
            );
            assert_eq!(r.sender_data.attachment_headers.len(), 2);
            assert!(r.sender_data.test_message);
            let keeps_13 = from == SchemaVersion::V1_3 && to == SchemaVersion::V1_3;
            assert_eq!(
                r.sender_data.attachment_headers[0].namespace_uri.is_some(),
                keeps_13
            );
            assert_eq!(
                r.sender_data.ref_attachment_headers[0].file_name.is_some(),
                keeps_13
            );
            // The business document is carried verbatim: byte for byte within a version, and
            // with the same canonical form and transform (what a personal signature covers)
            // across versions.
            let original = read(data(&format!("send-request-{}.xml", from.as_str())));
            let odoc = parse(&original);
            let oroot = odoc
                .find("urn://example.org/business/request/1.0", "ExampleRequest")
                .next()
                .unwrap();
            let nroot = doc2.element(r.sender_data.content.root);
            if from == to {
                let ospd = odoc
                    .find(from.types_ns(), "SenderProvidedRequestData")
                    .next()
                    .unwrap();
                let source = spd.source();
                assert!(source.ends_with(&ospd.source()[ospd.source().find('>').unwrap()..]));
            }
            let c14n = |e: &opensmev_xmldsig::xml::Element<'_, '_>| {
                opensmev_xmldsig::c14n::canonicalize_to_vec(e, &[]).unwrap()
            };
            assert_eq!(c14n(&nroot), c14n(&oroot));
            let transform = |e: &opensmev_xmldsig::xml::Element<'_, '_>| {
                let mut out = Vec::new();
                transform_element(e, None, Flavor::default(), &mut out).unwrap();
                out
            };
            assert_eq!(transform(&nroot), transform(&oroot));
        }
    }
}

#[test]
fn get_response_response_for_every_choice_and_version_pair() {
    for from in VERSIONS {
        for kind in ["", "-rejected", "-status"] {
            let bytes = read(data(&format!("send-response{kind}-{}.xml", from.as_str())));
            let doc = parse(&bytes);
            let Request::SendResponse(r) = decode_request(&doc, &no_parts()).unwrap() else {
                panic!()
            };
            let spd = doc.element(r.sender_data.element);
            for to in VERSIONS {
                let delivered = DeliveredResponse {
                    response_id_attr: "SIGNED_BY_SMEV".into(),
                    original_message_id: Some("1c3b5f9a-2b7a-11ee-be56-0242ac120002".into()),
                    original_transaction_code: Some("TX-1".into()),
                    reference_message_id: Some("1c3b5f9a-2b7a-11ee-be56-0242ac120002".into()),
                    sender_data_xml: rewrite_sender_data(&spd, from, to),
                    metadata: full_metadata(MessageKind::Response),
                    fs_attachments: Vec::new(),
                    sender_signature_xml: None,
                    attachments: r.attachments.iter().map(|a| a.id.clone()).collect(),
                };
                validate_envelope(to, &get_response_response(to, Some(&delivered)));
            }
        }
    }
}

#[test]
fn async_statuses_are_mapped_between_versions() {
    let status = AsyncStatusResponse {
        id_attr: "SIGNED_ASYNC_BY_SMEV".into(),
        message_id: "ad1d4183-8b8c-11eb-9ae4-fa163e6269f4".into(),
        to: "x".into(),
        original_message_id: "ac9fbf27-8b8c-11eb-9086-e2bf794ac2e9".into(),
        status: InteractionStatus::ResponseIsProcessed,
        details: Some("d".into()),
        fault: Some(Fault::new(
            FaultKind::InvalidContent(vec![]),
            "C".repeat(80),
            "ошибка",
        )),
    };
    for from in VERSIONS {
        let fragment = async_status_sender_data(from, &status);
        let doc = Document::parse_str(&fragment, Limits::default()).unwrap();
        for to in VERSIONS {
            let rewritten = rewrite_sender_data(&doc.root(), from, to);
            validate(to, &rewritten);
            // Mapped through the value the source version could express.
            let written = InteractionStatus::ResponseIsProcessed.as_str(from);
            let expected = InteractionStatus::from_code(written).unwrap().as_str(to);
            assert!(rewritten.contains(&format!(">{expected}<")), "{rewritten}");
            assert!(
                rewritten.contains("xsi:type=\"ns3:InvalidContent\""),
                "{rewritten}"
            );
            let cut = from == SchemaVersion::V1_1 || to == SchemaVersion::V1_1;
            let code_len = if cut { 50 } else { 80 };
            assert!(rewritten.contains(&format!("<Code>{}</Code>", "C".repeat(code_len))));
        }
    }
}

#[test]
fn smev_async_rejection_matches_the_test_smev_1_2() {
    let sample = read(sample(
        "smev3sharp-1.2/GetResponseResponce_InvalidContent.xml",
    ));
    let fault = Fault {
        kind: FaultKind::InvalidContent(vec![ValidationErrorItem {
            text: "cvc-complex-type.2.4.b: The content of element 'doc' is not complete. One of '{\"urn://mincomsvyaz/esia/commons/rg_sevices_types/1.4.2\":series, \"urn://mincomsvyaz/esia/commons/rg_sevices_types/1.4.2\":number}' is expected.".into(),
            position: None,
        }]),
        message: String::new(),
        code: "tsmev3:P:TSMEV3_ASYNC_CORE1:TR:ASYNC:PP:BSV:3".into(),
        description: "SMEV-403:Бизнес-данные сообщения не соответствуют схеме, зарегистрированной в СМЭВ. MessageId = ac9fbf27-8b8c-11eb-9086-e2bf794ac2e9".into(),
        lang: opensmev_wire::fault::FaultLanguage::Ru,
    };
    let data = async_status_sender_data(
        SchemaVersion::V1_2,
        &AsyncStatusResponse {
            id_attr: "SIGNED_ASYNC_BY_SMEV".into(),
            message_id: "ad1d4183-8b8c-11eb-9ae4-fa163e6269f4".into(),
            to: "eyJzaWQiOjE2NjAyNSwibWlkIjoiYWM5ZmJmMjctOGI4Yy0xMWViLTkwODYtZTJiZjc5NGFjMmU5IiwiZW9sIjowLCJzbGMiOiJtaW5jb21zdnlhel9lc2lhX3JlZ19zZXJ2aWNlX3JlZ2lzdGVyX2NlcnRpZmljYXRlXzEuMi4wX0VTSUFSZWdpc3RlckNlcnRpZmljYXRlUmVxdWVzdCIsIm1ubSI6Ijc3QkQwMSJ9".into(),
            original_message_id: "ac9fbf27-8b8c-11eb-9086-e2bf794ac2e9".into(),
            status: InteractionStatus::RequestIsRejectedBySmev,
            details: Some("Бизнес-данные сообщения не соответствуют схеме, зарегистрированной в СМЭВ. MessageId = ac9fbf27-8b8c-11eb-9086-e2bf794ac2e9".into()),
            fault: Some(fault),
        },
    );
    // The SMEV-signed SenderProvidedResponseData is exactly what the test SMEV signed.
    assert_same_transform(&data, &sample, "SenderProvidedResponseData");
}

#[test]
fn get_response_response_matches_the_test_smev_1_2() {
    let sample = read(sample(
        "smev3sharp-1.2/GetResponseResponse_ValidResponse.xml",
    ));
    let doc = parse(&sample);
    let v = SchemaVersion::V1_2;
    let spd = doc
        .find(v.types_ns(), "SenderProvidedResponseData")
        .next()
        .unwrap();
    let sig = doc
        .find(v.types_ns(), "SenderInformationSystemSignature")
        .next()
        .unwrap()
        .child(DSIG_NS, "Signature")
        .unwrap();
    let mut md = MessageMetadata::new(
        "8ac9a002-c751-11eb-bc0d-001a4a165f5b",
        MessageKind::Response,
        participant("ISIA01001", "n/a"),
        datetime!(2021-06-07 08:31:00 +03:00),
    );
    md.recipient = Some(participant("77BD01", "n/a"));
    md.delivery_timestamp = Some(datetime!(2021-06-07 08:31:13.120 +03:00));
    md.status = Some(InteractionStatus::MessageIsDelivered);
    let delivered = DeliveredResponse {
        response_id_attr: "SIGNED_BY_SMEV".into(),
        original_message_id: Some("681e6b22-c751-11eb-b66e-218eae1a9246".into()),
        original_transaction_code: None,
        reference_message_id: None,
        sender_data_xml: standalone(&spd),
        metadata: md,
        fs_attachments: Vec::new(),
        sender_signature_xml: Some(standalone(&sig)),
        attachments: Vec::new(),
    };
    let ours = get_response_response(v, Some(&delivered));
    validate_envelope(v, &ours);
    // The element SMEV signs is the same information set as the one the test SMEV signed.
    assert_same_transform(&ours, &sample, "Response");
}

#[test]
fn status_and_statistics_answers() {
    for v in VERSIONS {
        for (status, fault) in [
            (InteractionStatus::RequestIsQueued, None),
            (
                InteractionStatus::RequestIsRejectedBySmev,
                Some(Fault::new(
                    FaultKind::BusinessDataTypeIsNotSupported {
                        local: "X".into(),
                        ns: "urn:x".into(),
                    },
                    "SMEV-301",
                    "Тип не поддерживается",
                )),
            ),
            (
                InteractionStatus::ResponseIsQueued,
                Some(Fault::new(FaultKind::AccessDenied, "SMEV-1", "нет")),
            ),
        ] {
            let item = StatusItem {
                id_attr: "SIGNED_BY_SMEV".into(),
                original_message_id: "1c3b5f9a-2b7a-11ee-be56-0242ac120002".into(),
                status,
                details: Some("д".repeat(600)),
                fault,
            };
            let xml = get_status_response(v, Some(&item));
            validate_envelope(v, &xml);
            assert!(xml.contains(&format!(">{}<", status.as_str(v))));
        }
    }
    let xml = queue_statistics_response(&[
        ("PROVIDER01.requests".into(), 5),
        ("q\"&<".repeat(80), u64::MAX),
    ]);
    validate_envelope(SchemaVersion::V1_1, &xml);
    assert!(xml.contains("pendingMessageNumber=\"9223372036854775807\""));
    validate_envelope(SchemaVersion::V1_1, &queue_statistics_response(&[]));
}

fn all_fault_kinds() -> Vec<FaultKind> {
    vec![
        FaultKind::SmevFailure,
        FaultKind::InvalidContent(vec![]),
        FaultKind::InvalidContent(vec![
            ValidationErrorItem {
                text: "cvc-complex-type.2.4.a: <x> & \"y\"".into(),
                position: Some(120),
            },
            ValidationErrorItem {
                text: "второе".into(),
                position: None,
            },
        ]),
        FaultKind::SignatureVerificationFault("CertificateIsExpired".into()),
        FaultKind::SignatureVerificationFault("Internal".into()),
        FaultKind::SenderIsNotRegistered,
        FaultKind::UnknownMessageType,
        FaultKind::BusinessDataTypeIsNotSupported {
            local: "ExampleRequest".into(),
            ns: "urn://example.org/business/request/1.0".into(),
        },
        FaultKind::AccessDenied,
        FaultKind::PersonalAccessDenied,
        FaultKind::RecipientIsNotFound,
        FaultKind::IncorrectResponseContentType,
        FaultKind::AttachmentSizeLimitExceeded {
            permitted: 5 * 1024 * 1024,
            real: u64::MAX,
        },
        FaultKind::QuoteLimitExceeded {
            remained: 0,
            real: 10,
        },
        FaultKind::AttachmentContentMiscoordination,
        FaultKind::DestinationOverflow {
            broker: "amqp://broker".into(),
            destination: "PROVIDER01.requests".into(),
        },
        FaultKind::MessageIsAlreadySent,
        FaultKind::InvalidMessageIdFormat,
        FaultKind::StaleMessageId,
        FaultKind::TransactionCodeInvalid,
        FaultKind::EndOfLifeReached,
        FaultKind::TargetMessageIsNotFound,
        FaultKind::RequestIsNotFound,
    ]
}

#[test]
fn every_fault_in_every_version_validates() {
    for v in VERSIONS {
        for kind in all_fault_kinds() {
            let f = Fault::new(
                kind.clone(),
                "SMEV-101".repeat(10),
                "Сообщение <об> ошибке & т.п.",
            );
            let xml = fault(v, &f);
            validate_envelope(v, &xml);
            let detail = body_element(&xml);
            let name = kind.element_name(v);
            assert!(detail.starts_with(&format!("<ns3:{name} ")), "{detail}");
            assert_eq!(detail.contains("<Code>"), kind.is_smev_fault(v), "{detail}");
            // A fault element without `Code` carries the code at the start of faultstring.
            let prefix = if kind.is_smev_fault(v) {
                String::new()
            } else {
                format!("{}: ", "SMEV-101".repeat(10))
            };
            assert!(
                xml.contains(&format!("<faultcode>soap:Server</faultcode><faultstring>{prefix}Сообщение &lt;об&gt; ошибке &amp; т.п.</faultstring>")),
                "{xml}"
            );
        }
    }
    assert_eq!(
        FaultKind::PersonalAccessDenied.element_name(SchemaVersion::V1_2),
        "AccessDenied"
    );
    assert_eq!(
        FaultKind::PersonalAccessDenied.element_name(SchemaVersion::V1_3),
        "PersonalAccessDenied"
    );
    assert!(!FaultKind::EndOfLifeReached.is_smev_fault(SchemaVersion::V1_1));
    assert!(FaultKind::EndOfLifeReached.is_smev_fault(SchemaVersion::V1_3));
}

#[test]
fn fault_matches_the_test_smev() {
    let sample = read(sample(
        "smev3sharp-1.2/SoapFaultResponse_SignatureVerificationFault.xml",
    ));
    let message =
        "Срок действия сертификата ЭП-ОВ истёк. Сертификат действителен до 2021-02-18 10:07";
    let f = Fault {
        kind: FaultKind::SignatureVerificationFault("CertificateIsExpired".into()),
        message: message.into(),
        code: "tsmev3:PRODUCTION_AREA:TSMEV3_CORE2 : TR:SYNC:SPS:4".into(),
        description: format!("SMEV-100:{message}"),
        lang: opensmev_wire::fault::FaultLanguage::Ru,
    };
    let ours = fault(SchemaVersion::V1_2, &f);
    // The detail element (the SOAP part has unqualified elements, which the transform refuses).
    assert_same_transform(&ours, &sample, "SignatureVerificationFault");
    assert!(ours.contains(&format!(
        "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>{message}</faultstring><detail>"
    )));
    assert_eq!(
        Fault::new(FaultKind::SmevFailure, "SMEV-1", "x").description,
        "SMEV-1: x"
    );
}

fn test_signer() -> Box<dyn Signer> {
    let identity = generate_test_identity(&TestIdentityParams::new(
        SignatureAlgorithm::EcdsaP256Sha256,
        "CN=OpenSMEV test, O=Тест",
    ))
    .unwrap();
    OpenSslProvider::new()
        .load_signer(identity.key_pem.as_bytes(), identity.certificate)
        .unwrap()
}

fn sign(xml: &str, id: &str, signer: &dyn Signer) -> String {
    let out = sign_document(
        xml.as_bytes(),
        id,
        signer,
        &OpenSslProvider::new(),
        Placement::Smev,
        &SignOptions::default(),
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

/// Verifies the signature in the wrapper `wrapper` over the element with local name `target`.
fn verify(xml: &str, v: SchemaVersion, wrapper: &str, target: &str) {
    let doc = Document::parse_str(xml, Limits::default()).unwrap();
    let target = doc.find(v.types_ns(), target).next().unwrap();
    let wrapper = doc.find(v.types_ns(), wrapper).next().expect("wrapper");
    let report = verify_wrapped(
        Some(&wrapper),
        &OpenSslProvider::new(),
        &VerifyOptions {
            expected_target: Some(target.index()),
            ..VerifyOptions::now()
        },
    );
    assert!(report.is_valid(), "{report:?}");
}

#[test]
fn signed_answers_keep_the_schema_order() {
    let signer = test_signer();
    for v in VERSIONS {
        let md = full_metadata(MessageKind::Request);
        let signed = sign(
            &send_request_response(v, &md, "SIGNED_BY_SMEV"),
            "SIGNED_BY_SMEV",
            signer.as_ref(),
        );
        validate_envelope(v, &signed);
        verify(&signed, v, "SMEVSignature", "MessageMetadata");

        let xml = get_request_response(v, Some(&delivered_request(stored_request(v, v))));
        let signed = sign(&xml, "SIGNED_BY_SMEV", signer.as_ref());
        validate_envelope(v, &signed);
        verify(&signed, v, "SMEVSignature", "Request");
        // SMEVSignature is the last child of RequestMessage, after AttachmentContentList.
        let doc = Document::parse_str(&signed, Limits::default()).unwrap();
        let rm = doc.find(v.types_ns(), "RequestMessage").next().unwrap();
        let names: Vec<&str> = rm.children().map(|c| c.local_name()).collect();
        assert_eq!(names, ["Request", "AttachmentContentList", "SMEVSignature"]);

        let item = StatusItem {
            id_attr: "SIGNED_BY_SMEV".into(),
            original_message_id: "1c3b5f9a-2b7a-11ee-be56-0242ac120002".into(),
            status: InteractionStatus::RequestIsQueued,
            details: None,
            fault: None,
        };
        let signed = sign(
            &get_status_response(v, Some(&item)),
            "SIGNED_BY_SMEV",
            signer.as_ref(),
        );
        validate_envelope(v, &signed);
        verify(&signed, v, "SMEVSignature", "AsyncProcessingStatusData");
    }
}

#[test]
fn stored_sender_data_keeps_the_sender_signature_valid() {
    let signer = test_signer();
    for v in VERSIONS {
        // A client signs its request (the fixture's dummy signature removed first).
        let fixture =
            String::from_utf8(read(data(&format!("send-request-{}.xml", v.as_str())))).unwrap();
        let start = fixture
            .find("<ns2:CallerInformationSystemSignature>")
            .unwrap();
        let end = fixture
            .find("</ns2:CallerInformationSystemSignature>")
            .unwrap()
            + "</ns2:CallerInformationSystemSignature>".len();
        let unsigned = format!("{}{}", &fixture[..start], &fixture[end..]);
        let request = sign(&unsigned, "SIGNED_BY_CONSUMER", signer.as_ref());
        verify(
            &request,
            v,
            "CallerInformationSystemSignature",
            "SenderProvidedRequestData",
        );

        // The bus stores the signed element and the signature as standalone fragments…
        let doc = Document::parse_str(&request, Limits::default()).unwrap();
        let spd = doc
            .find(v.types_ns(), "SenderProvidedRequestData")
            .next()
            .unwrap();
        let signature = doc.find(DSIG_NS, "Signature").find(|s| {
            s.parent()
                .is_some_and(|p| p.local_name() == "CallerInformationSystemSignature")
        });
        let delivered = DeliveredRequest {
            sender_data_xml: standalone(&spd),
            sender_signature_xml: Some(standalone(&signature.unwrap())),
            ..delivered_request(stored_request(v, v))
        };
        // … and delivers them under another default namespace and other prefixes: the sender's
        // signature still verifies, before and after the bus signs the Request.
        let xml = get_request_response(v, Some(&delivered));
        verify(
            &xml,
            v,
            "SenderInformationSystemSignature",
            "SenderProvidedRequestData",
        );
        let signed = sign(&xml, "SIGNED_BY_SMEV", signer.as_ref());
        verify(
            &signed,
            v,
            "SenderInformationSystemSignature",
            "SenderProvidedRequestData",
        );
        verify(&signed, v, "SMEVSignature", "Request");
        validate_envelope(v, &signed);
    }
}

fn no_parts() -> std::collections::HashMap<String, Part<'static>> {
    std::collections::HashMap::new()
}

#[test]
fn framed_answers_round_trip() {
    let v = SchemaVersion::V1_3;
    let stored = stored_request(v, v);
    let first = stored.attachments[0].1.clone();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let delivered = delivered_request(stored);
    let xml = get_request_response(v, Some(&delivered));
    validate_envelope(v, &xml);
    let places = [
        AnswerAttachment {
            id: "att1".into(),
            mime_type: "application/pdf".into(),
            len: first.len() as u64,
        },
        AnswerAttachment {
            id: "att2".into(),
            mime_type: "not a mime type".into(),
            len: big.len() as u64,
        },
    ];
    let data: [&[u8]; 2] = [&first, &big];

    // MTOM: binary parts referenced by xop:Include.
    let framed = frame_answer(&xml, &places, true).unwrap();
    let body = framed.to_bytes(&data);
    assert_eq!(framed.len, body.len() as u64);
    assert!(
        framed
            .content_type
            .starts_with("multipart/related; type=\"application/xop+xml\"")
    );
    let payload = split_http_body(&framed.content_type, &body).unwrap();
    assert!(payload.mtom);
    assert_eq!(payload.parts.len(), 2);
    let root = std::str::from_utf8(&payload.xml).unwrap();
    let doc = Document::parse_str(root, Limits::default()).unwrap();
    let includes: Vec<String> = doc
        .find("http://www.w3.org/2004/08/xop/include", "Include")
        .map(|i| i.attribute(None, "href").unwrap())
        .collect();
    assert_eq!(includes.len(), 2);
    let part = &payload.parts[includes[0].strip_prefix("cid:").unwrap()];
    assert_eq!(part.content_type, "application/pdf");
    assert_eq!(&*part.data, &first[..]);
    let part = &payload.parts[includes[1].strip_prefix("cid:").unwrap()];
    assert_eq!(part.content_type, "application/octet-stream");
    assert_eq!(&*part.data, &big[..]);
    // Everything but the Content elements is unchanged.
    let request_start = xml.find("<ns2:Request ").unwrap();
    assert!(root.contains(&xml[request_start..xml.find("</ns2:Request>").unwrap()]));
    // Deterministic.
    assert_eq!(frame_answer(&xml, &places, true).unwrap(), framed);

    // Plain SOAP: base64 in Content, a valid envelope.
    let framed = frame_answer(&xml, &places, false).unwrap();
    assert_eq!(framed.content_type, TEXT_XML_UTF8);
    let body = framed.to_bytes(&data);
    assert_eq!(framed.len, body.len() as u64);
    let text = String::from_utf8(body).unwrap();
    validate_envelope(v, &text);
    let doc = Document::parse_str(&text, Limits::default()).unwrap();
    let contents: Vec<String> = doc
        .find(v.basic_ns(), "Content")
        .map(|c| c.text_content())
        .collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(contents, [b64.encode(&first), b64.encode(&big)]);

    // Every Content needs its bytes, and an answer is framed once.
    assert!(frame_answer(&xml, &places[..1], false).is_err());
    assert!(frame_answer(&text, &places, false).is_err());

    // An answer without attachments is a one-part package.
    let framed = frame_answer(&ack_response(v), &[], true).unwrap();
    let body = framed.to_bytes(&[]);
    let payload = split_http_body(&framed.content_type, &body).unwrap();
    assert!(payload.parts.is_empty());
    assert_eq!(&*payload.xml, ack_response(v).as_bytes());
    let framed = frame_answer(&ack_response(v), &[], false).unwrap();
    assert_eq!(framed.to_bytes(&[]), ack_response(v).as_bytes());
}

#[test]
fn destination_name_defaults_for_1_1() {
    let mut md = MessageMetadata::new(
        "1c3b5f9a-2b7a-11ee-be56-0242ac120002",
        MessageKind::Request,
        participant("CONSUMER01", "c"),
        datetime!(2023-07-26 12:00:00 UTC),
    );
    let v = SchemaVersion::V1_1;
    let xml = send_request_response(v, &md, "S");
    assert!(xml.contains("<ns2:DestinationName>unknown</ns2:DestinationName>"));
    md.recipient = Some(participant("PROVIDER01", "p"));
    let xml = send_request_response(v, &md, "S");
    assert!(xml.contains("<ns2:DestinationName>PROVIDER01</ns2:DestinationName>"));
    assert!(xml.contains("<ns2:InteractionType>OIV2OIV</ns2:InteractionType>"));
    md.destination_name = "queue".into();
    assert!(
        send_request_response(v, &md, "S")
            .contains("<ns2:DestinationName>queue</ns2:DestinationName>")
    );
}

#[test]
fn wire_errors_become_invalid_content_faults() {
    let xml = String::from_utf8(read(data("ack-1.1.xml")))
        .unwrap()
        .replace(" accepted=\"true\"", "");
    let doc = Document::parse_str(&xml, Limits::default()).unwrap();
    let err = decode_request(&doc, &no_parts()).unwrap_err();
    let item = err.to_validation_error();
    assert_eq!(item.position, err.position().map(|p| p as i32));
    assert!(xml[err.position().unwrap()..].starts_with("<b:AckTargetMessage"));
    let f = Fault::new(
        FaultKind::InvalidContent(vec![item]),
        "SMEV-400",
        "Сообщение не соответствует схеме",
    );
    validate_envelope(SchemaVersion::V1_1, &fault(SchemaVersion::V1_1, &f));
}

#[test]
fn framing_leaves_business_look_alikes_alone() {
    let v = SchemaVersion::V1_2;
    let look_alike = format!(
        "<ns2:SenderProvidedRequestData xmlns:ns2=\"{t}\" xmlns=\"{b}\" Id=\"A\"><ns2:MessageID>1c3b5f9a-2b7a-11ee-be56-0242ac120002</ns2:MessageID>\
         <MessagePrimaryContent><x:Doc xmlns:x=\"urn:x\"><AttachmentContentList><AttachmentContent><Id>fake</Id><Content>AAAA</Content></AttachmentContent></AttachmentContentList></x:Doc></MessagePrimaryContent>\
         </ns2:SenderProvidedRequestData>",
        t = v.types_ns(),
        b = v.basic_ns()
    );
    let delivered = DeliveredRequest {
        sender_data_xml: look_alike,
        sender_signature_xml: None,
        attachments: vec!["real".into()],
        ..delivered_request(stored_request(v, v))
    };
    let xml = get_request_response(v, Some(&delivered));
    validate_envelope(v, &xml);
    let real = [AnswerAttachment {
        id: "real".into(),
        mime_type: "text/plain".into(),
        len: 5,
    }];
    let framed = frame_answer(&xml, &real, true).unwrap();
    let body = framed.to_bytes(&[b"bytes"]);
    let payload = split_http_body(&framed.content_type, &body).unwrap();
    assert_eq!(payload.parts.len(), 1);
    assert!(
        std::str::from_utf8(&payload.xml)
            .unwrap()
            .contains("<Id>fake</Id><Content>AAAA</Content>")
    );
}
