//! The forms of a hand-written XSD set (`tests/data/handwritten`): choice, repeated sequence,
//! optional complex element, `xs:all`, attributes (fixed, group), enumeration with documentation,
//! simple content, substitution group, recursion, group reference, chameleon include, wildcard.

use std::path::Path;

use opensmev_forms::{Content, FormValues, Lang, Node, Schema, render_html};
use opensmev_schema::SchemaSet;

const M: &str = "urn:test:main";

fn files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/handwritten");
    ["main.xsd", "commons/types.xsd", "commons/chameleon.xsd"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect()
}

fn set() -> SchemaSet {
    SchemaSet::new(files(), "main.xsd").unwrap()
}

fn values(pairs: &[(&str, &str)]) -> FormValues {
    FormValues::from_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn base_values() -> Vec<(&'static str, &'static str)> {
    vec![
        ("f.Request.@Id", "r1"),
        ("f.Request.Person.FamilyName", "Иванов"),
        ("f.Request.Person.FirstName", "Иван"),
        ("f.Request.Person.BirthDate", "01.02.1990"),
        ("f.Request.#c0", "0"),
        ("f.Request.#c0.b0.Snils", "11223344595"),
        ("f.Request.Amount", "10,50"),
        ("f.Request.Amount.@currency", "RUB"),
        ("f.Request.Kind", "B"),
        ("f.Request.Count", "3"),
    ]
}

#[test]
fn structure_and_paths() {
    let schema = Schema::compile(&files()).unwrap();
    let roots = schema.roots_in(M);
    assert!(roots.contains(&(M.to_string(), "Request".to_string())));
    assert!(roots.contains(&(M.to_string(), "Response".to_string())));
    let form = schema.form(M, "Request").unwrap();
    assert_eq!(form.root.label, "Запрос сведений");
    assert_eq!(
        form.root.hint.as_deref(),
        Some("Пример запроса для тестов.")
    );
    let Content::Complex { group, .. } = &form.root.content else {
        panic!("complex root")
    };
    // The recursive optional Child of Node is cut.
    let node = group.items.iter().find_map(|n| match n {
        Node::Element(e) if e.name == "Node" => Some(e),
        _ => None,
    });
    let Content::Complex { group: tree, .. } = &node.unwrap().content else {
        panic!()
    };
    assert_eq!(tree.items.len(), 1, "Child must be cut: {tree:?}");
    let html = render_html(&form, &FormValues::new(), &[], Lang::Ru);
    roxmltree::Document::parse(&format!("<div>{html}</div>")).unwrap();
    for name in [
        "name=\"f.Request.Person.FamilyName\"",
        "name=\"f.Request.#c0\"",
        "name=\"f.Request.#c0.b0.Snils\"",
        "name=\"f.Request.#c0.b1.Passport.Series\"",
        "name=\"f.Request.#g0#n\"",
        "name=\"f.Request.#g0[__i__].Employer\"",
        "name=\"f.Request.Organization#on\"",
        "name=\"f.Request.Organization.ИННЮЛ\"",
        "name=\"f.Request.Amount\"",
        "name=\"f.Request.Amount.@currency\"",
        "name=\"f.Request.@Id\"",
        "name=\"f.Request.#c1\"",
        "name=\"f.Request.#c1.b1.DeathDoc.Place\"",
    ] {
        assert!(html.contains(name), "{name} missing");
    }
    // Enumeration labels from the documentation, masks, date inputs, address hint.
    assert!(html.contains("<option value=\"B\">Повторный</option>"));
    assert!(html.contains("data-mask=\"snils\""));
    assert!(html.contains("data-mask=\"inn10\""));
    assert!(html.contains("data-mask=\"kpp\""));
    assert!(html.contains("data-mask=\"inn12\""));
    assert!(html.contains("data-mask=\"passport-series\""));
    assert!(html.contains("data-mask=\"passport-number\""));
    assert!(html.contains("type=\"date\""));
    assert!(html.contains("data-address=\"1\""));
    assert!(html.contains("Заполнить «Организация»"));
    assert!(html.contains("data-add=\"1\""));
    assert!(html.contains("<template"));
    assert!(html.contains("required=\"required\""));
    assert!(html.contains("value=\"1.0\" readonly=\"readonly\""));
    let en = render_html(&form, &FormValues::new(), &[], Lang::En);
    assert!(en.contains("Fill in «Организация»"));
    // Ids are ASCII.
    assert_eq!(
        opensmev_forms::Form::field_id("f.R.ИНН[0]"),
        "xf-2eR-2e-d0-98-d0-9d-d0-9d-5b0-5d"
    );
}

#[test]
fn samples_validate() {
    let schema = Schema::compile(&files()).unwrap();
    let set = set();
    for root in ["Request", "Response"] {
        let form = schema.form(M, root).unwrap();
        for v in [form.sample_values(), form.sample_values_full()] {
            let built = form
                .build_xml(&v)
                .unwrap_or_else(|e| panic!("{root}: {e:?}"));
            set.validate(&built.xml)
                .unwrap_or_else(|e| panic!("{root}: {e:?}\n{}", built.xml));
        }
    }
    // The unqualified local element forces a prefixed root.
    let form = schema.form(M, "Response").unwrap();
    let xml = form.build_xml(&form.sample_values()).unwrap().xml;
    assert!(
        xml.starts_with("<ns1:Response xmlns:ns1=\"urn:test:main\">"),
        "{xml}"
    );
    assert!(xml.contains("<Local>"), "{xml}");
}

#[test]
fn build_from_values() {
    let schema = Schema::compile(&files()).unwrap();
    let form = schema.form(M, "Request").unwrap();
    let mut pairs = base_values();
    pairs.extend([
        // Two items of the repeated sequence, the middle one removed by the client.
        ("f.Request.#g0#n", "3"),
        ("f.Request.#g0[0].PeriodStart", "2020-01-01"),
        ("f.Request.#g0[0].Employer", "ООО «Ромашка» & Co"),
        ("f.Request.#g0[2].PeriodStart", "2021-01-01"),
        ("f.Request.#g0[2].Employer", "АО"),
        // An optional section switched off: its values are ignored.
        ("f.Request.Organization#on", "0"),
        ("f.Request.Organization.ИННЮЛ", "123"),
        // Hidden `0` then the checkbox `1`: the last value wins.
        ("f.Request.Address#on", "0"),
        ("f.Request.Address#on", "1"),
        ("f.Request.Address.Region", "Москва"),
    ]);
    let built = form.build_xml(&values(&pairs)).unwrap();
    let xml = &built.xml;
    set()
        .validate(xml)
        .unwrap_or_else(|e| panic!("{e:?}\n{xml}"));
    assert!(
        xml.starts_with("<Request xmlns=\"urn:test:main\" xmlns:ns1=\"urn:test:types\" Id=\"r1\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<ns1:BirthDate>1990-02-01</ns1:BirthDate>"),
        "{xml}"
    );
    assert!(xml.contains("<Snils>112-233-445 95</Snils>"), "{xml}");
    assert!(
        xml.contains("<Amount currency=\"RUB\">10.50</Amount>"),
        "{xml}"
    );
    assert!(
        xml.contains("<Employer>ООО «Ромашка» &amp; Co</Employer>"),
        "{xml}"
    );
    assert_eq!(xml.matches("<PeriodStart>").count(), 2);
    assert!(!xml.contains("Organization"), "{xml}");
    assert!(xml.contains("<ns1:Region>Москва</ns1:Region>"), "{xml}");
    assert!(!xml.contains("Passport"), "{xml}");
    // Every element is on its own line and the lines map back to paths.
    assert_eq!(built.field_at_line(1), Some("f.Request"));
    let snils_line = xml.lines().position(|l| l.contains("<Snils>")).unwrap() as u32 + 1;
    assert_eq!(
        built.field_at_line(snils_line),
        Some("f.Request.#c0.b0.Snils")
    );

    // Round trip through values_from_xml.
    let back = form.values_from_xml(xml).unwrap();
    assert_eq!(back.get("f.Request.#g0[1].Employer"), Some("АО"));
    assert_eq!(back.get("f.Request.#c0"), Some("0"));
    let again = form.build_xml(&back).unwrap();
    assert_eq!(again.xml, built.xml);

    // The other branch of the choice, a substitution member and the wildcard.
    let mut pairs = base_values();
    pairs.retain(|(k, _)| !k.starts_with("f.Request.#c0"));
    pairs.extend([
        ("f.Request.#c0", "1"),
        ("f.Request.#c0.b1.Passport.Series", "45 10"),
        ("f.Request.#c0.b1.Passport.Number", "123456"),
        ("f.Request.#c0.b1.IssueDate", "2010-05-05"),
        ("f.Request.#c1", "1"),
        ("f.Request.#c1.b1.DeathDoc.Number", "7"),
        ("f.Request.#c1.b1.DeathDoc.Place", "Тверь"),
        ("f.Request.#any0", "<x:Extra xmlns:x=\"urn:x\">1</x:Extra>"),
        ("f.Request.Organization.ИННЮЛ", "7707083893"),
        ("f.Request.Organization.КПП", "773601001"),
    ]);
    let built = form.build_xml(&values(&pairs)).unwrap();
    set()
        .validate(&built.xml)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", built.xml));
    assert!(
        built.xml.contains("<Series>45 10</Series>")
            || built.xml.contains("<ns1:Series>45 10</ns1:Series>")
    );
    assert!(built.xml.contains("<DeathDoc>"));
    assert!(built.xml.contains("<x:Extra xmlns:x=\"urn:x\">1</x:Extra>"));
    assert!(!built.xml.contains("Snils"));
    let back = form.values_from_xml(&built.xml).unwrap();
    assert_eq!(back.get("f.Request.#c1"), Some("1"));
    assert_eq!(back.get("f.Request.#c0.b1.Passport.Number"), Some("123456"));
    assert_eq!(form.build_xml(&back).unwrap().xml, built.xml);
}

#[test]
fn field_errors() {
    let schema = Schema::compile(&files()).unwrap();
    let form = schema.form(M, "Request").unwrap();
    let mut pairs = base_values();
    pairs.retain(|(k, _)| *k != "f.Request.Person.FirstName" && *k != "f.Request.#c0.b0.Snils");
    pairs.extend([
        ("f.Request.#c0.b0.Snils", "112-233-445 96"),
        ("f.Request.Person.BirthDate", "31.02.1990"),
        ("f.Request.Person.ИННФЛ", "7707083893"),
        ("f.Request.Organization.ИННЮЛ", "7707083894"),
        ("f.Request.Organization.КПП", "77360100"),
        ("f.Request.Organization.ОГРН", "1027700132196"),
        ("f.Request.Count", "0"),
        ("f.Request.Kind", "C"),
        ("f.Request.Amount.@currency", ""),
    ]);
    let errs = form.build_xml(&values(&pairs)).unwrap_err();
    let at = |p: &str| {
        errs.iter()
            .find(|e| e.path == p)
            .map(|e| e.message.clone())
            .unwrap_or_else(|| panic!("no error at {p}: {errs:?}"))
    };
    assert_eq!(at("f.Request.Person.FirstName"), "Обязательное поле");
    assert!(at("f.Request.#c0.b0.Snils").contains("контрольная"));
    assert!(at("f.Request.Person.BirthDate").contains("дата"));
    assert!(at("f.Request.Person.ИННФЛ").contains("12"));
    assert!(at("f.Request.Organization.ИННЮЛ").contains("контрольные"));
    assert!(at("f.Request.Organization.КПП").contains("КПП"));
    assert!(at("f.Request.Organization.ОГРН").contains("ОГРН"));
    assert!(at("f.Request.Count").contains("диапазон"));
    assert!(at("f.Request.Kind").contains("списка"));
    assert_eq!(at("f.Request.Amount.@currency"), "Обязательное поле");
    assert_eq!(errs.len(), 10, "{errs:?}");
    let en = form.build_xml_lang(&values(&pairs), Lang::En).unwrap_err();
    assert!(en.iter().any(|e| e.message == "Required field"));
    // The errors are shown next to their fields.
    let html = render_html(&form, &values(&pairs), &errs, Lang::Ru);
    roxmltree::Document::parse(&format!("<div>{html}</div>")).unwrap();
    let id = opensmev_forms::Form::field_id("f.Request.Person.FirstName");
    assert!(html.contains(&format!(
        "<p class=\"field-error\" id=\"{id}-err\" role=\"alert\">Обязательное поле</p>"
    )));
    assert!(html.contains(&format!(
        "aria-describedby=\"{id}-err\" aria-invalid=\"true\""
    )));
}

#[test]
fn script_value_is_escaped() {
    let schema = Schema::compile(&files()).unwrap();
    let form = schema.form(M, "Request").unwrap();
    let v = values(&[
        ("f.Request.Person.FamilyName", "<script>alert(1)</script>"),
        ("f.Request.Comment", "\"><script>x</script>"),
    ]);
    let html = render_html(&form, &v, &[], Lang::Ru);
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""));
    let wrapped = format!("<div>{html}</div>");
    let doc = roxmltree::Document::parse(&wrapped).unwrap();
    assert!(!doc.descendants().any(|n| n.tag_name().name() == "script"));
}

#[test]
fn libxml2_error_line_maps_to_field() {
    let schema = Schema::compile(&files()).unwrap();
    let form = schema.form(M, "Request").unwrap();
    let mut pairs = base_values();
    // The friendly checks do not compare dates with maxInclusive: libxml2 does.
    pairs.push(("f.Request.Deadline", "2040-01-01"));
    let built = form.build_xml(&values(&pairs)).unwrap();
    let issues = set().validate(&built.xml).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        built.field_at_line(issues[0].line),
        Some("f.Request.Deadline"),
        "{issues:?}\n{}",
        built.xml
    );
}

#[test]
fn broken_input_is_an_error_not_a_panic() {
    assert!(Schema::compile(&[("a.xsd".into(), "<xs:schema".into())]).is_err());
    assert!(Schema::compile(&[("a.xml".into(), "<a/>".into())]).is_err());
    let unresolved = "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" targetNamespace=\"urn:u\" xmlns:u=\"urn:u\">\
        <xs:element name=\"A\" type=\"u:Missing\"/></xs:schema>";
    let s = Schema::compile(&[("a.xsd".into(), unresolved.into())]).unwrap();
    assert!(s.form("urn:u", "A").is_err());
    assert!(s.form("urn:u", "B").is_err());
    let schema = Schema::compile(&files()).unwrap();
    let form = schema.form(M, "Request").unwrap();
    assert!(form.values_from_xml("<not-closed").is_err());
    assert!(form.values_from_xml("<Other/>").is_err());
}
