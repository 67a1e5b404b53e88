//! Decoding: the public request sample, hand-written requests for every operation in every
//! version (all valid against the official schemas), MTOM, and every structural error.

mod common;

use std::collections::HashMap;

use common::{data, parse, read, sample, validate};
use opensmev_types::{InteractionStatus, QName, SchemaVersion};
use opensmev_wire::{
    Part, RejectCode, Request, ResponseContent, WireError, decode_request, split_http_body,
};
use time::macros::datetime;

const VERSIONS: [SchemaVersion; 3] = SchemaVersion::ALL;

fn no_parts() -> HashMap<String, Part<'static>> {
    HashMap::new()
}

fn decode_str(xml: &str) -> Result<Request, WireError> {
    let doc = opensmev_xmldsig::xml::Document::parse_str(xml, Default::default())?;
    decode_request(&doc, &no_parts())
}

fn fixture(name: &str) -> String {
    String::from_utf8(read(data(name))).unwrap()
}

#[test]
fn fixtures_are_valid_against_the_official_schemas() {
    for entry in std::fs::read_dir(data("")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".xml") {
            continue;
        }
        let version = ["1.1", "1.2", "1.3"]
            .into_iter()
            .find(|v| name.contains(v))
            .and_then(SchemaVersion::parse)
            .unwrap();
        let xml = String::from_utf8(read(path)).unwrap();
        validate(version, &common::body_element(&xml));
    }
}

#[test]
fn the_mr_example_request_decodes() {
    let bytes = read(sample("mr-example-1.1/SendRequestRequestNoAttach.xml"));
    let doc = parse(&bytes);
    let request = decode_request(&doc, &no_parts()).unwrap();
    assert_eq!(request.version(), SchemaVersion::V1_1);
    assert_eq!(request.operation(), opensmev_wire::Operation::SendRequest);
    let Request::SendRequest(r) = &request else {
        panic!("{request:?}")
    };
    let data = &r.sender_data;
    assert_eq!(data.id_attr.as_deref(), Some("SIGNED_BY_CONSUMER"));
    assert_eq!(data.message_id, "db0486d0-3c08-11e5-95e2-d4c9eff07b77");
    assert!(data.test_message);
    assert_eq!(
        data.content.root_name,
        QName::new(
            "urn://x-artefacts-gibdd-gov-ru/breach/root/1.0",
            "BreachRequest"
        )
    );
    assert_eq!(
        data.content.root_id_attr.as_deref(),
        Some("PERSONAL_SIGNATURE")
    );
    assert_eq!(doc.element(data.content.root).local_name(), "BreachRequest");
    assert_eq!(
        doc.element(request.signed_element()).local_name(),
        "SenderProvidedRequestData"
    );
    let wrapper = doc.element(request.caller_signature().unwrap());
    assert_eq!(wrapper.local_name(), "CallerInformationSystemSignature");
    assert!(r.attachments.is_empty() && r.routing.is_none() && data.personal_signature.is_none());
    assert_eq!(
        doc.element(request.body_element()).local_name(),
        "SendRequestRequest"
    );
}

#[test]
fn send_request_in_every_version() {
    for v in VERSIONS {
        let xml = fixture(&format!("send-request-{}.xml", v.as_str()));
        let doc = parse(xml.as_bytes());
        let request = decode_request(&doc, &no_parts()).unwrap();
        assert_eq!(request.version(), v);
        let Request::SendRequest(r) = request else {
            panic!()
        };
        let d = &r.sender_data;
        assert_eq!(d.message_id, "1c3b5f9a-2b7a-11ee-be56-0242ac120002");
        assert_eq!(
            d.reference_message_id.as_deref(),
            Some("0a1b2c3d-2b7a-11ee-be56-0242ac120002")
        );
        assert_eq!(d.transaction_code.as_deref(), Some("TX-2023-000123"));
        assert_eq!(d.node_id.as_deref(), Some("node-1"));
        assert_eq!(d.eol, Some(datetime!(2030-01-01 00:00:00 +03:00)));
        assert_eq!(d.content.root_name.local, "ExampleRequest");
        assert_eq!(
            doc.element(d.personal_signature.unwrap()).local_name(),
            "PersonalSignature"
        );
        assert_eq!(d.attachment_headers.len(), 2);
        let h = &d.attachment_headers[0];
        assert_eq!(
            (h.content_id.as_str(), h.mime_type.as_str()),
            ("att1", "application/pdf")
        );
        assert_eq!(
            h.signature_pkcs7.as_deref(),
            Some(&b"\x30\x82\x01\x00 detached cms"[..])
        );
        assert_eq!(d.ref_attachment_headers.len(), 1);
        let rh = &d.ref_attachment_headers[0];
        assert_eq!(rh.uuid, "5f1b4f8e-2b7a-11ee-be56-0242ac120002");
        assert_eq!(rh.hash, "3q2+7w==");
        if v == SchemaVersion::V1_3 {
            assert_eq!(
                h.namespace_uri.as_deref(),
                Some("urn://example.org/attachments/1.0")
            );
            assert_eq!(d.attachment_headers[1].archive[0].name, "inner.xml");
            assert_eq!(rh.file_name.as_deref(), Some("big.zip"));
            let routing = r.routing.as_ref().unwrap();
            assert_eq!(routing.information_id_attr.as_deref(), Some("ROUTING"));
            assert_eq!(routing.dynamic_values, ["77", "50"]);
            assert_eq!(
                routing.registry_records[0].identifier_values,
                ["1027700198767"]
            );
            assert!(!routing.registry_records[0].use_general_routing);
            assert_eq!(
                doc.element(routing.signature).local_name(),
                "RoutingSignature"
            );
            assert_eq!(
                doc.element(routing.information).local_name(),
                "RoutingInformation"
            );
        } else {
            assert!(h.namespace_uri.is_none() && r.routing.is_none());
        }
        assert!(d.business_process_metadata.is_some());
        assert!(d.test_message);
        assert_eq!(r.attachments.len(), 2);
        assert_eq!(r.attachments[0].id, "att1");
        assert_eq!(
            r.attachments[0].data.bytes().unwrap(),
            b"%PDF-1.4 first attachment\x00\x01\x02"
        );
        assert_eq!(
            r.attachments[1].data.bytes().unwrap(),
            "<?xml version='1.0'?><доверенность/>".as_bytes()
        );
        assert!(r.attachments[0].mtom_content_id.is_none());
        assert!(r.caller_signature.is_some());
    }
}

#[test]
fn send_response_in_every_version_and_every_choice() {
    for v in VERSIONS {
        let xml = fixture(&format!("send-response-{}.xml", v.as_str()));
        let doc = parse(xml.as_bytes());
        let Request::SendResponse(r) = decode_request(&doc, &no_parts()).unwrap() else {
            panic!()
        };
        assert_eq!(r.version, v);
        assert_eq!(r.sender_data.id_attr.as_deref(), Some("SIGNED_BY_PROVIDER"));
        assert_eq!(
            r.sender_data.message_id,
            "2d4c6e8a-2b7a-11ee-be56-0242ac120002"
        );
        assert_eq!(r.sender_data.to, "eyJzaWQiOjE2NjAyNSwibW5tIjoiNzdCRDAxIn0=");
        let ResponseContent::Primary {
            content,
            personal_signature,
            attachment_headers,
            ref_attachment_headers,
        } = &r.sender_data.content
        else {
            panic!()
        };
        assert_eq!(content.root_name.local, "ExampleResponse");
        assert!(personal_signature.is_some());
        assert_eq!(attachment_headers.len(), 2);
        assert!(ref_attachment_headers.is_empty());
        assert_eq!(r.attachments.len(), 2);

        let xml = fixture(&format!("send-response-rejected-{}.xml", v.as_str()));
        let Request::SendResponse(r) = decode_str(&xml).unwrap() else {
            panic!()
        };
        let ResponseContent::Rejected(rejections) = &r.sender_data.content else {
            panic!()
        };
        assert_eq!(rejections.len(), 2);
        assert_eq!(rejections[0].code, RejectCode::NoData);
        assert_eq!(rejections[0].description, "Сведения не найдены");
        assert_eq!(rejections[1].code, RejectCode::AccessDenied);

        let xml = fixture(&format!("send-response-status-{}.xml", v.as_str()));
        let Request::SendResponse(r) = decode_str(&xml).unwrap() else {
            panic!()
        };
        let ResponseContent::Status(status) = &r.sender_data.content else {
            panic!()
        };
        assert_eq!(status.code, 3);
        assert_eq!(
            status.parameters,
            [
                ("step".to_owned(), "2".to_owned()),
                ("eta".to_owned(), "2023-08-01".to_owned())
            ]
        );
        assert_eq!(status.description, "В работе");
    }
}

#[test]
fn async_processing_status_in_a_response() {
    for v in VERSIONS {
        let status = InteractionStatus::RequestIsRejectedBySmev.as_str(v);
        let routing = if v == SchemaVersion::V1_3 {
            "<r:RoutingStatus xmlns:r=\"urn://x-artefacts-smev-gov-ru/services/message-exchange/types/routing/1.3\">\
             <r:DynamicRoutingStatus><r:DynamicValue>77</r:DynamicValue><r:RoutingStatusCode>success</r:RoutingStatusCode></r:DynamicRoutingStatus>\
             </r:RoutingStatus>"
        } else {
            ""
        };
        let xml = format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
             <t:SendResponseRequest xmlns:t=\"{t}\" xmlns=\"{b}\"><t:SenderProvidedResponseData>\
             <t:MessageID>2d4c6e8a-2b7a-11ee-be56-0242ac120002</t:MessageID><t:To>x</t:To>\
             <t:AsyncProcessingStatus><t:OriginalMessageId>1c3b5f9a-2b7a-11ee-be56-0242ac120002</t:OriginalMessageId>\
             <t:StatusCategory>{status}</t:StatusCategory><t:StatusDetails>bad</t:StatusDetails>{routing}\
             <t:SmevFault xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:f=\"{f}\" xsi:type=\"f:InvalidContent\">\
             <Code>SMEV-403</Code><Description>d</Description><f:ValidationError errorPosition=\"-1\">e</f:ValidationError></t:SmevFault>\
             </t:AsyncProcessingStatus></t:SenderProvidedResponseData></t:SendResponseRequest></s:Body></s:Envelope>",
            t = v.types_ns(),
            b = v.basic_ns(),
            f = v.faults_ns()
        );
        validate(v, &common::body_element(&xml));
        let Request::SendResponse(r) = decode_str(&xml).unwrap() else {
            panic!()
        };
        let ResponseContent::AsyncProcessingStatus(s) = &r.sender_data.content else {
            panic!()
        };
        assert_eq!(s.status, Some(InteractionStatus::RequestIsRejectedBySmev));
        assert_eq!(s.details.as_deref(), Some("bad"));
        assert!(s.smev_fault.is_some());
        assert_eq!(s.routing_status.is_some(), v == SchemaVersion::V1_3);
    }
}

#[test]
fn polls_acks_and_statuses_in_every_version() {
    for v in VERSIONS {
        let xml = fixture(&format!("get-request-{}.xml", v.as_str()));
        let doc = parse(xml.as_bytes());
        let request = decode_request(&doc, &no_parts()).unwrap();
        let Request::GetRequest(r) = &request else {
            panic!()
        };
        assert_eq!(r.selector.id_attr.as_deref(), Some("SIGNED_BY_CALLER"));
        assert_eq!(
            r.selector.qname(),
            Some(QName::new(
                "urn://example.org/business/request/1.0",
                "ExampleRequest"
            ))
        );
        assert_eq!(
            r.selector.timestamp,
            datetime!(2023-07-26 12:00:00.123 +03:00)
        );
        assert_eq!(r.selector.node_id.as_deref(), Some("node-1"));
        assert_eq!(
            doc.element(request.signed_element()).local_name(),
            "MessageTypeSelector"
        );

        let xml = fixture(&format!("get-response-{}.xml", v.as_str()));
        let Request::GetResponse(r) = decode_str(&xml).unwrap() else {
            panic!()
        };
        assert_eq!(r.selector.qname(), None);
        assert!(r.selector.node_id.is_none());

        let xml = fixture(&format!("ack-{}.xml", v.as_str()));
        let Request::Ack(r) = decode_str(&xml).unwrap() else {
            panic!()
        };
        assert_eq!(r.target.id_attr, "SIGNED_BY_CALLER");
        assert_eq!(r.target.message_id, "1c3b5f9a-2b7a-11ee-be56-0242ac120002");
        assert_eq!(r.target.accepted, Some(true));

        let xml = fixture(&format!("get-status-{}.xml", v.as_str()));
        let Request::GetStatus(r) = decode_str(&xml).unwrap() else {
            panic!()
        };
        assert_eq!(r.timestamp.value, datetime!(2023-07-26 09:00:00 UTC));
        assert_eq!(r.timestamp.id_attr.as_deref(), Some("SIGNED_BY_CALLER"));
        assert!(r.caller_signature.is_some());
    }
    let xml = fixture("get-incoming-queue-statistics-1.1.xml");
    let Request::GetIncomingQueueStatistics(r) = decode_str(&xml).unwrap() else {
        panic!()
    };
    assert_eq!(r.node_id.as_deref(), Some("node-1"));
    assert_eq!(r.timestamp.value, datetime!(2023-07-26 09:00:00 +03:00));
}

#[test]
fn ack_accepted_is_optional_after_1_1() {
    for v in VERSIONS {
        let xml = fixture(&format!("ack-{}.xml", v.as_str())).replace(" accepted=\"true\"", "");
        let result = decode_str(&xml);
        if v == SchemaVersion::V1_1 {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("accepted is required"), "{err}");
        } else {
            let Request::Ack(r) = result.unwrap() else {
                panic!()
            };
            assert_eq!(r.target.accepted, None);
        }
        let xml = fixture(&format!("ack-{}.xml", v.as_str()))
            .replace("accepted=\"true\"", "accepted=\"0\"");
        let Request::Ack(r) = decode_str(&xml).unwrap() else {
            panic!()
        };
        assert_eq!(r.target.accepted, Some(false));
    }
}

#[test]
fn mtom_request_with_two_binary_parts() {
    let body = read(data("send-request-mtom-1.2.multipart"));
    let content_type = "multipart/related; type=\"application/xop+xml\"; \
        boundary=\"uuid:5c6d1a7e-mtom-boundary\"; start=\"<root.message@cxf.apache.org>\"; \
        start-info=\"text/xml\"";
    let payload = split_http_body(content_type, &body).unwrap();
    assert!(payload.mtom);
    assert_eq!(payload.parts.len(), 2);
    let doc = parse(&payload.xml);
    let Request::SendRequest(r) = decode_request(&doc, &payload.parts).unwrap() else {
        panic!()
    };
    assert_eq!(r.attachments.len(), 2);
    assert_eq!(
        r.attachments[0].data.bytes().unwrap(),
        read(data("send-request-mtom-1.2.part1.bin"))
    );
    assert_eq!(
        r.attachments[0].mtom_content_id.as_deref(),
        Some("part1@example.org")
    );
    assert_eq!(
        r.attachments[0].part_content_type.as_deref(),
        Some("application/pdf")
    );
    // The second href is percent-encoded (cid:part%322@…) and its Content-ID header is folded.
    let expected: Vec<u8> = (0..=255u8).cycle().take(768).collect();
    assert_eq!(r.attachments[1].data.bytes().unwrap(), expected);
    assert_eq!(
        r.attachments[1].mtom_content_id.as_deref(),
        Some("part22@example.org")
    );

    // Without the parts, the cid cannot be resolved.
    let err = decode_request(&doc, &HashMap::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("no MIME part with Content-ID <part1@example.org>"),
        "{err}"
    );
}

#[test]
fn header_handling() {
    let base = fixture("get-status-1.2.xml");
    // Absent header.
    decode_str(&base.replace("<soap:Header/>", "")).unwrap();
    // Ignorable header entries.
    decode_str(&base.replace(
        "<soap:Header/>",
        "<soap:Header><wsa:Action xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">urn:GetStatus</wsa:Action></soap:Header>",
    ))
    .unwrap();
    let err = decode_str(&base.replace(
        "<soap:Header/>",
        "<soap:Header><x:Sec xmlns:x=\"urn:x\" soap:mustUnderstand=\"1\"/></soap:Header>",
    ))
    .unwrap_err();
    assert!(err.to_string().contains("mustUnderstand"), "{err}");
}

/// Applies `from → to` to a fixture and expects an `Invalid` error whose message contains
/// `expected` and whose position points at `at` (when given).
fn expect_invalid(fixture_name: &str, from: &str, to: &str, expected: &str, at: Option<&str>) {
    let original = fixture(fixture_name);
    assert!(
        original.contains(from),
        "{fixture_name} does not contain {from:?}"
    );
    expect_invalid_in(fixture_name, original.replacen(from, to, 1), expected, at);
}

fn expect_invalid_in(fixture_name: &str, xml: String, expected: &str, at: Option<&str>) {
    let err = decode_str(&xml).expect_err(expected);
    let WireError::Invalid { position, .. } = &err else {
        panic!("{fixture_name}: expected Invalid, got {err:?}")
    };
    let message = err.to_string();
    assert!(
        message.contains(expected),
        "{fixture_name}: {message:?} does not contain {expected:?}"
    );
    if let Some(at) = at {
        let pos = position.expect("position");
        assert!(
            xml[pos..].starts_with(at),
            "{fixture_name}: position {pos} is at {:?}, expected {at:?}",
            &xml[pos..(pos + 40).min(xml.len())]
        );
    }
}

#[test]
fn structural_errors_are_precise() {
    let mid = "<ns2:MessageID>1c3b5f9a-2b7a-11ee-be56-0242ac120002</ns2:MessageID>";
    // Missing required element.
    expect_invalid(
        "send-request-1.2.xml",
        mid,
        "",
        "unexpected element {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2}ReferenceMessageID; expected MessageID",
        Some("<ns2:ReferenceMessageID"),
    );
    // Wrong order.
    expect_invalid(
        "send-request-1.1.xml",
        "<ns2:TransactionCode>TX-2023-000123</ns2:TransactionCode>\n    <ns2:NodeID>node-1</ns2:NodeID>",
        "<ns2:NodeID>node-1</ns2:NodeID><ns2:TransactionCode>TX-2023-000123</ns2:TransactionCode>",
        "unexpected element {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1}TransactionCode; expected one of EOL, MessagePrimaryContent",
        Some("<ns2:TransactionCode"),
    );
    // Unknown element.
    expect_invalid(
        "send-request-1.3.xml",
        "<ns2:TestMessage/>",
        "<ns2:TestMessage/><ns2:Extra/>",
        "unexpected element {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3}Extra; expected the end of SenderProvidedRequestData",
        Some("<ns2:Extra"),
    );
    // Wrong namespace.
    expect_invalid_in(
        "send-request-1.2.xml",
        fixture("send-request-1.2.xml")
            .replace("<MessagePrimaryContent>", "<ns2:MessagePrimaryContent>")
            .replace("</MessagePrimaryContent>", "</ns2:MessagePrimaryContent>"),
        "is in the wrong namespace: expected {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2}MessagePrimaryContent",
        Some("<ns2:MessagePrimaryContent"),
    );
    // Bad boolean.
    expect_invalid(
        "ack-1.3.xml",
        "accepted=\"true\"",
        "accepted=\"yes\"",
        "not a valid xs:boolean",
        Some("<b:AckTargetMessage"),
    );
    expect_invalid(
        "send-request-1.3.xml",
        "<rout:UseGeneralRouting>false</rout:UseGeneralRouting>",
        "<rout:UseGeneralRouting>False</rout:UseGeneralRouting>",
        "not a valid xs:boolean",
        Some("<rout:UseGeneralRouting"),
    );
    // Bad dateTime (an InvalidContent-type error).
    expect_invalid(
        "send-request-1.1.xml",
        "2030-01-01T00:00:00.000+03:00",
        "2030-02-30T00:00:00",
        "is not a valid xs:dateTime",
        Some("<ns2:EOL"),
    );
    expect_invalid(
        "get-status-1.3.xml",
        "2023-07-26T09:00:00Z",
        "yesterday",
        "is not a valid xs:dateTime",
        Some("<Timestamp"),
    );
    // Business content.
    expect_invalid(
        "send-request-1.2.xml",
        "</req:ExampleRequest></MessagePrimaryContent>",
        "</req:ExampleRequest><req:Second xmlns:req=\"urn:x\"/></MessagePrimaryContent>",
        "must contain exactly one element",
        Some("<req:Second"),
    );
    expect_invalid(
        "send-response-1.1.xml",
        "<resp:ExampleResponse xmlns:resp=\"urn://example.org/business/response/1.0\"><resp:Result>OK</resp:Result></resp:ExampleResponse>",
        "",
        "MessagePrimaryContent is empty",
        Some("<basic:MessagePrimaryContent"),
    );
    expect_invalid(
        "send-response-1.1.xml",
        "<resp:ExampleResponse xmlns:resp=\"urn://example.org/business/response/1.0\"><resp:Result>OK</resp:Result></resp:ExampleResponse>",
        "<NoNamespace/>",
        "must be in a namespace",
        Some("<NoNamespace"),
    );
    // Character data where only elements are allowed.
    expect_invalid(
        "send-request-1.1.xml",
        "<ns2:TestMessage/>",
        "<ns2:TestMessage/>stray",
        "character data is not allowed here",
        Some("stray"),
    );
    expect_invalid(
        "send-request-1.1.xml",
        "<ns2:TestMessage/>",
        "<ns2:TestMessage>x</ns2:TestMessage>",
        "character data",
        Some("x</ns2:TestMessage"),
    );
    // Child element in a simple-content element.
    expect_invalid(
        "send-request-1.2.xml",
        "<ns2:NodeID>node-1</ns2:NodeID>",
        "<ns2:NodeID><x/></ns2:NodeID>",
        "NodeID has simple content",
        Some("<x/>"),
    );
    // Attributes.
    expect_invalid(
        "send-request-1.2.xml",
        "Id=\"SIGNED_BY_CONSUMER\"",
        "Id=\"SIGNED_BY_CONSUMER\" extra=\"1\"",
        "attribute extra is not allowed",
        Some("<ns2:SenderProvidedRequestData"),
    );
    expect_invalid(
        "send-request-1.2.xml",
        "Id=\"SIGNED_BY_CONSUMER\"",
        "Id=\"1-not-ncname\"",
        "is not a valid xs:ID",
        None,
    );
    expect_invalid(
        "ack-1.2.xml",
        " Id=\"SIGNED_BY_CALLER\"",
        "",
        "the required attribute Id is missing",
        Some("<b:AckTargetMessage"),
    );
    // Duplicate xs:ID.
    expect_invalid(
        "send-request-1.1.xml",
        "<Id>att2</Id>",
        "<Id>att1</Id>",
        "Id \"att1\" is already used",
        None,
    );
    expect_invalid(
        "send-request-1.1.xml",
        "<Id>att2</Id>",
        "<Id>SIGNED_BY_CONSUMER</Id>",
        "already used",
        None,
    );
    // Values.
    expect_invalid(
        "send-request-1.3.xml",
        "application/pdf",
        "application/pdf; x=y",
        "is not a valid MIME type",
        Some("<MimeType"),
    );
    expect_invalid(
        "send-request-1.1.xml",
        "<Content>JVBER",
        "<Content>!JVBER",
        "not valid base64",
        Some("<Content"),
    );
    expect_invalid(
        "send-request-1.2.xml",
        "<ns2:ReferenceMessageID>0a1b2c3d",
        "<ns2:ReferenceMessageID>0A1B2C3D",
        "is not a valid basic:UUID",
        Some("<ns2:ReferenceMessageID"),
    );
    expect_invalid(
        "ack-1.1.xml",
        ">1c3b5f9a-2b7a",
        "> 1c3b5f9a-2b7a",
        "is not a valid basic:UUID",
        None,
    );
    expect_invalid(
        "send-response-status-1.2.xml",
        "<tns:RequestStatus>",
        "<tns:Other/><tns:RequestStatus>",
        "unexpected element {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2}Other; expected one of MessagePrimaryContent, RequestRejected, RequestStatus, AsyncProcessingStatus",
        Some("<tns:Other"),
    );
    expect_invalid(
        "send-response-rejected-1.3.xml",
        "</tns:RequestRejected><tns:RequestRejected>",
        "</tns:RequestRejected><tns:RequestStatus/><tns:RequestRejected>",
        "expected one of RequestRejected, the end of SenderProvidedResponseData",
        Some("<tns:RequestStatus"),
    );
    expect_invalid(
        "send-request-1.1.xml",
        "<Content>JVBER",
        "<Content xmlns:xm=\"http://www.w3.org/2005/05/xmlmime\" xm:contentType=\"application/pdf\">JVBER",
        "attribute xm:contentType is not allowed",
        Some("<Content"),
    );
    expect_invalid(
        "send-response-rejected-1.2.xml",
        "NO_DATA",
        "NO DATA",
        "is not a RejectCode",
        Some("<tns:RejectionReasonCode"),
    );
    expect_invalid(
        "send-response-status-1.3.xml",
        "<tns:StatusCode>3<",
        "<tns:StatusCode>three<",
        "is not a valid xs:int",
        None,
    );
    expect_invalid(
        "send-response-1.2.xml",
        "<tns:To>eyJzaWQiOjE2NjAyNSwibW5tIjoiNzdCRDAxIn0=</tns:To>",
        &format!("<tns:To>{}</tns:To>", "x".repeat(4001)),
        "longer than 4000 characters",
        Some("<tns:To"),
    );
    expect_invalid(
        "get-request-1.2.xml",
        "<ns2:NamespaceURI>urn://example.org/business/request/1.0</ns2:NamespaceURI>",
        "",
        "unexpected element {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2}RootElementLocalName; expected one of NamespaceURI, Timestamp",
        Some("<ns2:RootElementLocalName"),
    );
    expect_invalid(
        "get-request-1.3.xml",
        ">ExampleRequest<",
        ">Example:Request<",
        "not a valid xs:NCName",
        None,
    );
    // Version-specific elements.
    expect_invalid(
        "send-request-1.2.xml",
        "<contentId>att1</contentId>",
        "<contentId>att1</contentId><NamespaceUri>urn:x</NamespaceUri>",
        "unexpected element {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.2}NamespaceUri; expected MimeType",
        None,
    );
    let routing13 = fixture("send-request-1.3.xml");
    let start = routing13.find("<rout:Routing ").unwrap();
    let end = routing13.find("</rout:Routing>").unwrap() + "</rout:Routing>".len();
    let routing = routing13[start..end].to_owned();
    expect_invalid(
        "send-request-1.2.xml",
        "</ns2:CallerInformationSystemSignature>",
        &format!("</ns2:CallerInformationSystemSignature>{routing}"),
        "unexpected element {urn://x-artefacts-smev-gov-ru/services/message-exchange/types/routing/1.3}Routing; expected the end of SendRequestRequest",
        Some("<rout:Routing"),
    );
    // Signature wrappers.
    let sig_start = "<ns2:CallerInformationSystemSignature>";
    let original = fixture("get-status-1.1.xml");
    let a = original.find(sig_start).unwrap();
    let b = original
        .find("</ns2:CallerInformationSystemSignature>")
        .unwrap();
    let signature = original[a + sig_start.len()..b].to_owned();
    expect_invalid(
        "get-status-1.1.xml",
        &signature,
        "",
        "CallerInformationSystemSignature is empty",
        None,
    );
    expect_invalid(
        "get-status-1.1.xml",
        &signature,
        "<x:Sig xmlns:x=\"urn:x\"/>",
        "must contain one element of http://www.w3.org/2000/09/xmldsig#",
        Some("<x:Sig"),
    );
    expect_invalid(
        "get-status-1.1.xml",
        &signature,
        &format!("{signature}{signature}"),
        "expected the end of CallerInformationSystemSignature",
        None,
    );
    expect_invalid(
        "get-status-1.3.xml",
        &format!("{sig_start}{signature}</ns2:CallerInformationSystemSignature>"),
        "",
        "missing required element: expected CallerInformationSystemSignature",
        Some("<ns2:GetStatusRequest"),
    );
    // MTOM include in a plain message.
    expect_invalid(
        "send-request-1.3.xml",
        &format!("<Content>{}", "JVBERi0xLjQgZmlyc3QgYXR0YWNobWVudAABAg=="),
        "<Content><xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"cid:nope\"/>",
        "no MIME part with Content-ID <nope>",
        Some("<xop:Include"),
    );
    expect_invalid(
        "send-request-1.3.xml",
        &format!("<Content>{}", "JVBERi0xLjQgZmlyc3QgYXR0YWNobWVudAABAg=="),
        "<Content><xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"http://x\"/>",
        "is not a cid: URL",
        None,
    );
}

#[test]
fn envelope_errors() {
    let base = fixture("get-request-1.2.xml");
    let env = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{env}<soap:Body></soap:Body></soap:Envelope>"),
            "soap:Body is empty",
        ),
        (
            format!("{env}<soap:Body><a:X xmlns:a=\"urn:a\"/><a:Y xmlns:a=\"urn:a\"/></soap:Body></soap:Envelope>"),
            "exactly one element",
        ),
        (format!("{env}</soap:Envelope>"), "missing soap:Body"),
        (
            format!("{env}<soap:Header/><soap:Header/><soap:Body/></soap:Envelope>"),
            "expected soap:Body",
        ),
        (
            format!("{env}<soap:Body><a:X xmlns:a=\"urn:a\"/></soap:Body><soap:Body/></soap:Envelope>"),
            "after soap:Body",
        ),
        (
            format!("{env}text<soap:Body/></soap:Envelope>"),
            "character data",
        ),
        (
            "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body/></e:Envelope>".to_owned(),
            "SOAP 1.2 envelopes are not supported",
        ),
        ("<Envelope/>".to_owned(), "not a SOAP 1.1 envelope"),
        (
            base.replace("<soap:Body>", "<soap:Body>\nx"),
            "character data",
        ),
    ];
    for (xml, expected) in cases {
        let err = decode_str(&xml).unwrap_err();
        assert!(
            matches!(err, WireError::Invalid { .. }) && err.to_string().contains(expected),
            "{xml}: {err:?} does not contain {expected:?}"
        );
    }
}

#[test]
fn unknown_operations() {
    let stats = fixture("get-incoming-queue-statistics-1.1.xml");
    for v in ["1.2", "1.3"] {
        let xml = stats.replace("/1.1\"", &format!("/{v}\""));
        match decode_str(&xml).unwrap_err() {
            WireError::UnknownOperation { namespace, local } => {
                assert_eq!(local, "GetIncomingQueueStatisticsRequest");
                assert!(namespace.ends_with(&format!("types/{v}")));
            }
            other => panic!("{other:?}"),
        }
    }
    let base = fixture("ack-1.2.xml");
    let renamed = base.replace("AckRequest", "AckRequestX");
    assert!(matches!(
        decode_str(&renamed),
        Err(WireError::UnknownOperation { .. })
    ));
    let response = base.replace("AckRequest", "AckResponse");
    assert!(matches!(
        decode_str(&response),
        Err(WireError::UnknownOperation { .. })
    ));
    let other_ns = base.replace("types/1.2\"", "types/9.9\"");
    let err = decode_str(&other_ns).unwrap_err();
    assert!(
        matches!(&err, WireError::UnknownOperation { namespace, .. } if namespace.ends_with("9.9")),
        "{err:?}"
    );
    // Not well-formed XML is an Xml error (converted with `?`).
    assert!(matches!(decode_str("<a>"), Err(WireError::Xml(_))));
}

#[test]
fn naive_timestamps_are_moscow_time() {
    let xml = fixture("get-status-1.2.xml").replace("2023-07-26T09:00:00Z", "2023-07-26T09:00:00");
    let Request::GetStatus(r) = decode_str(&xml).unwrap() else {
        panic!()
    };
    assert_eq!(r.timestamp.value, datetime!(2023-07-26 09:00:00 +03:00));
}
