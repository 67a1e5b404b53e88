//! Stored fragments: `standalone` keeps the source byte-exact and its meaning independent of the
//! context; `rewrite_sender_data` maps versions and keeps the business content verbatim.

mod common;

use common::{data, parse, read, sample, validate};
use opensmev_types::SchemaVersion;
use opensmev_wire::{rewrite_sender_data, standalone};
use opensmev_xmldsig::transform::{Flavor, transform_element};
use opensmev_xmldsig::xml::{Document, Limits};

#[test]
fn standalone_adds_only_the_inherited_declarations() {
    let bytes = read(sample("mr-example-1.1/SendRequestRequestNoAttach.xml"));
    let doc = parse(&bytes);
    let spd = doc
        .elements()
        .find(|e| e.local_name() == "SenderProvidedRequestData")
        .unwrap();
    let fragment = standalone(&spd);
    // The element declares xmlns, xmlns:ns and xmlns:ns2 itself; it inherits S and ns3.
    assert!(fragment.starts_with(
        "<ns:SenderProvidedRequestData xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:ns3=\"urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.1\" Id="
    ));
    let name_end = "<ns:SenderProvidedRequestData".len();
    assert!(fragment.ends_with(&spd.source()[name_end..]));
    // The SMEV transform (what the sender's signature digests) is the MR test vector, also when
    // the fragment is read on its own.
    let standalone_doc = Document::parse_str(&fragment, Limits::default()).unwrap();
    let expected = read(sample(
        "mr-example-1.1/transform-output.SenderProvidedRequestData.xml",
    ));
    for flavor in [Flavor::Woodstox, Flavor::Jdk] {
        let mut out = Vec::new();
        transform_element(&standalone_doc.root(), None, flavor, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected.clone()).unwrap()
        );
    }
}

#[test]
fn standalone_handles_default_namespaces() {
    let cases = [
        (
            "<a xmlns=\"urn:x\"><b><c/></b></a>",
            "<b xmlns=\"urn:x\"><c/></b>",
        ),
        ("<a><b><c/></b></a>", "<b xmlns=\"\"><c/></b>"),
        (
            "<r xmlns=\"urn:r\"><a xmlns=\"\"><b/></a></r>",
            "<b xmlns=\"\"/>",
        ),
        (
            "<p:a xmlns:p=\"urn:p\" xmlns=\"urn:d\"><p:b xmlns=\"urn:own\"/></p:a>",
            "<p:b xmlns:p=\"urn:p\" xmlns=\"urn:own\"/>",
        ),
        (
            "<p:a xmlns:p=\"urn:p\"><p:b xmlns:p=\"urn:q\"><c/></p:b></p:a>",
            "<p:b xmlns=\"\" xmlns:p=\"urn:q\"><c/></p:b>",
        ),
        (
            "<a xmlns:q='u&amp;&quot;'><b x='1'/></a>",
            "<b xmlns:q=\"u&amp;&quot;\" xmlns=\"\" x='1'/>",
        ),
    ];
    for (xml, expected) in cases {
        let doc = Document::parse_str(xml, Limits::default()).unwrap();
        let target = doc.elements().find(|e| e.local_name() == "b").unwrap();
        assert_eq!(standalone(&target), expected, "{xml}");
        // Put under a foreign default namespace, it still means the same.
        let embedded = format!(
            "<z xmlns=\"urn:z\" xmlns:p=\"urn:zp\">{}</z>",
            standalone(&target)
        );
        let edoc = Document::parse_str(&embedded, Limits::default()).unwrap();
        let b = edoc.root().children().next().unwrap();
        assert_eq!(b.namespace(), target.namespace(), "{xml}");
        let kids: Vec<_> = b
            .children()
            .map(|c| c.namespace().map(str::to_owned))
            .collect();
        let original: Vec<_> = target
            .children()
            .map(|c| c.namespace().map(str::to_owned))
            .collect();
        assert_eq!(kids, original, "{xml}");
    }
}

#[test]
fn rewrite_within_a_version_is_standalone() {
    for v in SchemaVersion::ALL {
        let bytes = read(data(&format!("send-request-{}.xml", v.as_str())));
        let doc = parse(&bytes);
        let spd = doc
            .find(v.types_ns(), "SenderProvidedRequestData")
            .next()
            .unwrap();
        assert_eq!(rewrite_sender_data(&spd, v, v), standalone(&spd));
    }
}

#[test]
fn rewrite_maps_namespaces_and_drops_what_older_versions_lack() {
    let bytes = read(data("send-request-1.3.xml"));
    let doc = parse(&bytes);
    let v13 = SchemaVersion::V1_3;
    let spd = doc
        .find(v13.types_ns(), "SenderProvidedRequestData")
        .next()
        .unwrap();
    for to in [SchemaVersion::V1_1, SchemaVersion::V1_2] {
        let out = rewrite_sender_data(&spd, v13, to);
        assert!(out.starts_with(&format!(
            "<ns2:SenderProvidedRequestData xmlns=\"{}\" xmlns:ns2=\"{}\" xmlns:ns3=\"{}\" Id=\"SIGNED_BY_CONSUMER\">",
            to.basic_ns(),
            to.types_ns(),
            to.faults_ns()
        )));
        // Every SMEV element is in the target version's namespaces (the verbatim business parts
        // keep the declarations they inherited, used or not).
        let reparsed = Document::parse_str(&out, Limits::default()).unwrap();
        for e in reparsed.elements() {
            let ns = e.namespace().unwrap_or("");
            if ns.starts_with("urn://x-artefacts-smev-gov-ru/services/message-exchange/") {
                assert!(
                    ns == to.types_ns() || ns == to.basic_ns(),
                    "{}: {ns}",
                    e.path()
                );
            }
        }
        assert!(
            !out.contains("NamespaceUri") && !out.contains("Archive") && !out.contains("FileName")
        );
        // The personal signature and the business document are copied verbatim.
        let business = doc
            .find("urn://example.org/business/request/1.0", "ExampleRequest")
            .next()
            .unwrap();
        assert!(out.contains(&standalone(&business)));
        let ds = doc
            .find(v13.types_ns(), "PersonalSignature")
            .next()
            .unwrap()
            .children()
            .next()
            .unwrap();
        assert!(out.contains(&standalone(&ds)));
        // The fragment is a valid element of the target schema.
        validate(to, &out);
        // Values survive: the escaped business text and the base64 signature.
        assert!(out.contains("Иванов &amp; сыновья") && out.contains("<![CDATA[a < b]]>"));
        assert!(
            out.contains("<SignaturePKCS7>MIIBACBkZXRhY2hlZCBjbXM=</SignaturePKCS7>"),
            "{out}"
        );
    }
    // Older to newer: only the namespaces change.
    let bytes = read(data("send-request-1.1.xml"));
    let doc = parse(&bytes);
    let v11 = SchemaVersion::V1_1;
    let spd = doc
        .find(v11.types_ns(), "SenderProvidedRequestData")
        .next()
        .unwrap();
    let out = rewrite_sender_data(&spd, v11, v13);
    validate(v13, &out);
    assert!(out.starts_with(&format!(
        "<ns2:SenderProvidedRequestData xmlns=\"{}\" xmlns:ns2=\"{}\"",
        v13.basic_ns(),
        v13.types_ns()
    )));
}

#[test]
fn rewrite_keeps_foreign_attributes_well_formed() {
    let v = SchemaVersion::V1_2;
    let xml = format!(
        "<t:SenderProvidedResponseData xmlns:t=\"{}\" xmlns:b=\"{}\" xmlns:x=\"urn:x\" Id=\"A\" x:extra=\"1\" xml:lang=\"ru\">\
         <t:MessageID>2d4c6e8a-2b7a-11ee-be56-0242ac120002</t:MessageID><t:To>a&amp;b</t:To>\
         <t:RequestStatus><t:StatusCode>1</t:StatusCode><t:StatusDescription>&lt;ok&gt;</t:StatusDescription></t:RequestStatus>\
         </t:SenderProvidedResponseData>",
        v.types_ns(),
        v.basic_ns()
    );
    let doc = Document::parse_str(&xml, Limits::default()).unwrap();
    let out = rewrite_sender_data(&doc.root(), v, SchemaVersion::V1_3);
    let reparsed = Document::parse_str(&out, Limits::default()).unwrap();
    let root = reparsed.root();
    assert_eq!(root.attribute(Some("urn:x"), "extra").as_deref(), Some("1"));
    assert_eq!(
        root.attribute(Some(opensmev_xmldsig::xml::XML_NS), "lang")
            .as_deref(),
        Some("ru")
    );
    assert!(
        out.contains("<ns2:To>a&amp;b</ns2:To>") && out.contains("&lt;ok&gt;"),
        "{out}"
    );
}
