//! Helpers shared by the integration tests: sample messages, extraction of a body element as a
//! standalone document, and a small business schema set.

#![allow(dead_code)]

use std::path::PathBuf;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

pub(crate) fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../opensmev-xmldsig/tests/data/samples")
}

pub(crate) fn sample(path: &str) -> String {
    let text =
        std::fs::read_to_string(samples_dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The MTOM capture: keep only the root part's envelope.
    match (text.find("<soap:Envelope"), text.rfind("</soap:Envelope>")) {
        (Some(start), Some(end)) if start > 0 => {
            text[start..end + "</soap:Envelope>".len()].to_owned()
        }
        _ => text,
    }
}

/// The first child element of the element reached by `path` (local names from the root, e.g.
/// `["Envelope", "Body"]`), as a standalone document: its exact source text with the namespace
/// declarations in scope (and not redeclared on it) added to its start tag.
pub(crate) fn child_element(xml: &str, path: &[&str]) -> String {
    let mut reader = Reader::from_str(xml);
    // Stack of open elements: (local name, namespace declarations).
    let mut stack: Vec<(String, Vec<(String, String)>)> = Vec::new();
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap();
        let event = reader.read_event().expect("well-formed sample");
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_owned();
                let decls: Vec<(String, String)> = e
                    .attributes()
                    .map(|a| a.unwrap())
                    .filter(|a| a.key.as_ref() == "xmlns" || a.key.as_ref().starts_with("xmlns:"))
                    .map(|a| (a.key.as_ref().to_owned(), a.value.into_owned()))
                    .collect();
                let parents: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
                if parents == path {
                    let end = if matches!(event, Event::Empty(_)) {
                        usize::try_from(reader.buffer_position()).unwrap()
                    } else {
                        let name = e.name().as_ref().to_owned();
                        reader.read_to_end(quick_xml::name::QName(&name)).unwrap();
                        usize::try_from(reader.buffer_position()).unwrap()
                    };
                    let element = &xml[before..end];
                    let name_len = e.name().as_ref().len();
                    let mut inherited = String::new();
                    let mut seen: Vec<String> = decls.iter().map(|(k, _)| k.clone()).collect();
                    for (_, scope) in stack.iter().rev() {
                        for (k, v) in scope {
                            if !seen.contains(k) {
                                inherited.push_str(&format!(" {k}=\"{v}\""));
                                seen.push(k.clone());
                            }
                        }
                    }
                    let split = 1 + name_len;
                    return format!("{}{}{}", &element[..split], inherited, &element[split..]);
                }
                if matches!(event, Event::Start(_)) {
                    stack.push((local, decls));
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => panic!("no child element under {path:?}"),
            _ => {}
        }
    }
}

/// The SOAP body's first element of a sample.
pub(crate) fn body_element(path: &str) -> String {
    child_element(&sample(path), &["Envelope", "Body"])
}

pub(crate) const BIZ_NS: &str = "urn://example/biz/1.0";
pub(crate) const COMMONS_NS: &str = "urn://example/commons/1.0";

/// Entry schema of the business set: imports `commons/types-1.0.xsd`, which includes
/// `../shared/codes.xsd` (a chameleon include, resolved relative to the including file).
pub(crate) const BIZ_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:c="urn://example/commons/1.0"
           targetNamespace="urn://example/biz/1.0" xmlns="urn://example/biz/1.0"
           elementFormDefault="qualified">
  <xs:import namespace="urn://example/commons/1.0" schemaLocation="commons/types-1.0.xsd"/>
  <xs:element name="PersonsRequest">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="RequestId" type="c:UUID"/>
        <xs:element name="Person" type="Person" maxOccurs="100"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:complexType name="Person">
    <xs:sequence>
      <xs:element name="FamilyName" type="c:Name"/>
      <xs:element name="FirstName" type="c:Name"/>
      <xs:element name="Patronymic" type="c:Name" minOccurs="0"/>
      <xs:element name="BirthDate" type="xs:date"/>
      <xs:element name="Gender" type="c:Gender"/>
      <xs:element name="SNILS" type="c:SNILS"/>
      <xs:element name="Income" type="xs:decimal"/>
      <xs:element name="Region" type="c:RegionCode"/>
    </xs:sequence>
    <xs:attribute name="id" type="xs:ID" use="required"/>
  </xs:complexType>
</xs:schema>
"#;

pub(crate) const COMMONS_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           targetNamespace="urn://example/commons/1.0" xmlns="urn://example/commons/1.0"
           elementFormDefault="qualified">
  <xs:include schemaLocation="../shared/codes.xsd"/>
  <xs:simpleType name="UUID">
    <xs:restriction base="xs:string">
      <xs:pattern value="[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"/>
    </xs:restriction>
  </xs:simpleType>
  <xs:simpleType name="Name">
    <xs:restriction base="xs:string">
      <xs:pattern value="[А-ЯЁа-яё\- ]{1,60}"/>
    </xs:restriction>
  </xs:simpleType>
  <xs:simpleType name="Gender">
    <xs:restriction base="xs:string">
      <xs:enumeration value="Male"/>
      <xs:enumeration value="Female"/>
    </xs:restriction>
  </xs:simpleType>
  <xs:simpleType name="SNILS">
    <xs:restriction base="xs:string">
      <xs:pattern value="\d{3}-\d{3}-\d{3} \d{2}"/>
    </xs:restriction>
  </xs:simpleType>
</xs:schema>
"#;

/// Chameleon-included into the commons namespace.
pub(crate) const CODES_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:simpleType name="RegionCode">
    <xs:restriction base="xs:string">
      <xs:pattern value="\d{2}"/>
    </xs:restriction>
  </xs:simpleType>
</xs:schema>
"#;

pub(crate) fn biz_files() -> Vec<(String, String)> {
    vec![
        ("root.xsd".to_owned(), BIZ_XSD.to_owned()),
        ("commons/types-1.0.xsd".to_owned(), COMMONS_XSD.to_owned()),
        ("shared/codes.xsd".to_owned(), CODES_XSD.to_owned()),
    ]
}

const PEOPLE: [(&str, &str, &str, &str, &str); 6] = [
    ("Иванов", "Иван", "Иванович", "1980-01-15", "Male"),
    ("Петрова", "Мария", "Сергеевна", "1975-06-30", "Female"),
    ("Сидоров", "Пётр", "Алексеевич", "1990-12-01", "Male"),
    ("Кузнецова", "Анна", "Павловна", "1968-03-08", "Female"),
    ("Смирнов", "Олег", "Игоревич", "2001-09-17", "Male"),
    ("Волкова", "Елена", "Дмитриевна", "1983-04-22", "Female"),
];

/// A valid business document of about 2 KB (six persons), as the bus would receive it.
pub(crate) fn biz_document() -> String {
    let mut doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PersonsRequest xmlns=\"{BIZ_NS}\">\n  \
         <RequestId>1c9f2b4e-8d3a-11ee-b9d1-0242ac120002</RequestId>\n"
    );
    for (i, (family, first, patronymic, birth, gender)) in PEOPLE.iter().enumerate() {
        doc.push_str(&format!(
            "  <Person id=\"p{i}\">\n    <FamilyName>{family}</FamilyName>\n    <FirstName>{first}</FirstName>\n    \
             <Patronymic>{patronymic}</Patronymic>\n    <BirthDate>{birth}</BirthDate>\n    <Gender>{gender}</Gender>\n    \
             <SNILS>112-233-445 9{i}</SNILS>\n    <Income>{}.50</Income>\n    <Region>7{i}</Region>\n  </Person>\n",
            45_000 + 1_000 * i
        ));
    }
    doc.push_str("</PersonsRequest>\n");
    doc
}
