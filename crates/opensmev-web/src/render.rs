//! Showing XML to people: the raw XML viewer (indented, tags highlighted, long Base64 text
//! elided behind a "show" control) and the business content as a readable document (labels
//! from the kind's XSD). Everything that comes from a message is HTML-escaped here.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::i18n::Lang;

/// HTML-escapes text (element content and attribute values alike).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A parsed element (only what the views need).
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Qualified name as written.
    pub name: String,
    /// Local name.
    pub local: String,
    /// Attributes (qualified name, value), namespace declarations included.
    pub attributes: Vec<(String, String)>,
    /// Child elements.
    pub children: Vec<Node>,
    /// Text content (the concatenated text and CDATA directly inside).
    pub text: String,
}

/// Parses XML into a tree; `None` when it is not well-formed (or has a DTD).
pub fn parse(xml: &str) -> Option<Node> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    Some(convert(doc.root_element()))
}

fn qualified(prefix: Option<&str>, local: &str) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("{p}:{local}"),
        _ => local.to_owned(),
    }
}

fn convert(element: roxmltree::Node<'_, '_>) -> Node {
    let tag = element.tag_name();
    let prefix = tag.namespace().and_then(|ns| element.lookup_prefix(ns));
    let mut attributes: Vec<(String, String)> = Vec::new();
    // The namespace declarations made on this element (not inherited ones).
    let parent_ns: Vec<(Option<String>, String)> = element
        .parent_element()
        .map(|p| {
            p.namespaces()
                .map(|n| (n.name().map(str::to_owned), n.uri().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    for ns in element.namespaces() {
        let entry = (ns.name().map(str::to_owned), ns.uri().to_owned());
        if ns.uri() == "http://www.w3.org/XML/1998/namespace" || parent_ns.contains(&entry) {
            continue;
        }
        let key = match ns.name() {
            Some(p) => format!("xmlns:{p}"),
            None => "xmlns".to_owned(),
        };
        attributes.push((key, ns.uri().to_owned()));
    }
    for a in element.attributes() {
        let prefix = a.namespace().and_then(|ns| element.lookup_prefix(ns));
        attributes.push((qualified(prefix, a.name()), a.value().to_owned()));
    }
    let mut node = Node {
        name: qualified(prefix, tag.name()),
        local: tag.name().to_owned(),
        attributes,
        ..Node::default()
    };
    for child in element.children() {
        if child.is_element() {
            node.children.push(convert(child));
        } else if child.is_text() {
            node.text.push_str(child.text().unwrap_or_default());
        }
    }
    node
}

/// Whether a text looks like a long Base64 value worth eliding.
fn long_base64(text: &str) -> bool {
    let t = text.trim();
    t.len() > 120
        && t.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n' | b' ')
        })
}

/// The XML viewer: indented, tags and attributes in spans for highlighting, long Base64 text
/// elided behind a `<details>` control. Not well-formed XML is shown as escaped text.
pub fn xml_viewer(xml: &str, lang: Lang) -> String {
    let Some(root) = parse(xml) else {
        return format!("<pre class=\"xml\">{}</pre>", esc(xml));
    };
    let mut out = String::from("<pre class=\"xml\">");
    viewer_node(&root, 0, lang, &mut out);
    out.push_str("</pre>");
    out
}

fn viewer_node(node: &Node, depth: usize, lang: Lang, out: &mut String) {
    let pad = "  ".repeat(depth);
    let _ = write!(
        out,
        "{pad}<span class=\"x-tag\">&lt;{}</span>",
        esc(&node.name)
    );
    for (k, v) in &node.attributes {
        let _ = write!(
            out,
            " <span class=\"x-attr\">{}</span>=<span class=\"x-val\">\"{}\"</span>",
            esc(k),
            esc(v)
        );
    }
    let text = node.text.trim();
    if node.children.is_empty() && text.is_empty() {
        out.push_str("<span class=\"x-tag\">/&gt;</span>\n");
        return;
    }
    out.push_str("<span class=\"x-tag\">&gt;</span>");
    if node.children.is_empty() {
        if long_base64(text) {
            let _ = write!(
                out,
                "<details class=\"x-b64\"><summary>{}… ({} {}) {}</summary><span class=\"x-text\">{}</span></details>",
                esc(&text[..40]),
                text.len(),
                if lang == Lang::Ru {
                    "символов Base64"
                } else {
                    "Base64 characters"
                },
                lang.t("show"),
                esc(text)
            );
        } else {
            let _ = write!(out, "<span class=\"x-text\">{}</span>", esc(text));
        }
    } else {
        out.push('\n');
        if !text.is_empty() {
            let _ = writeln!(out, "{pad}  <span class=\"x-text\">{}</span>", esc(text));
        }
        for child in &node.children {
            viewer_node(child, depth + 1, lang, out);
        }
        out.push_str(&pad);
    }
    let _ = writeln!(
        out,
        "<span class=\"x-tag\">&lt;/{}&gt;</span>",
        esc(&node.name)
    );
}

/// Labels of elements by local name, from a form model (the first label met wins).
pub fn labels_of(form: &opensmev_forms::Form) -> HashMap<String, String> {
    fn walk(node: &opensmev_forms::Node, out: &mut HashMap<String, String>) {
        match node {
            opensmev_forms::Node::Element(e) => element(e, out),
            opensmev_forms::Node::Group(g) => g.items.iter().for_each(|n| walk(n, out)),
            opensmev_forms::Node::Any(_) => {}
        }
    }
    fn element(e: &opensmev_forms::Element, out: &mut HashMap<String, String>) {
        out.entry(e.name.clone()).or_insert_with(|| e.label.clone());
        for a in &e.attributes {
            out.entry(format!("@{}", a.name))
                .or_insert_with(|| a.label.clone());
        }
        if let opensmev_forms::Content::Complex { group, .. } = &e.content {
            group.items.iter().for_each(|n| walk(n, out));
        }
    }
    let mut out = HashMap::new();
    element(&form.root, &mut out);
    out
}

/// The business content as a readable document: nested sections for elements with children,
/// label–value rows for values; labels from `labels` (the XSD's documentation), else the
/// element's name.
pub fn document(xml: &str, labels: &HashMap<String, String>, lang: Lang) -> String {
    let Some(root) = parse(xml) else {
        return format!("<pre>{}</pre>", esc(xml));
    };
    let mut out = String::from("<div class=\"doc\">");
    let title = labels.get(&root.local).unwrap_or(&root.local);
    let _ = write!(out, "<h3 class=\"doc-title\">{}</h3>", esc(title));
    document_body(&root, labels, lang, &mut out);
    out.push_str("</div>");
    out
}

fn document_body(node: &Node, labels: &HashMap<String, String>, lang: Lang, out: &mut String) {
    let attrs: Vec<&(String, String)> = node
        .attributes
        .iter()
        .filter(|(k, _)| !k.starts_with("xmlns"))
        .collect();
    if !attrs.is_empty() || (node.children.is_empty() && !node.text.trim().is_empty()) {
        out.push_str("<dl class=\"doc-values\">");
        for (k, v) in attrs {
            let local = k.rsplit(':').next().unwrap_or(k);
            let label = labels
                .get(&format!("@{local}"))
                .map(String::as_str)
                .unwrap_or(local);
            let _ = write!(out, "<div><dt>{}</dt><dd>{}</dd></div>", esc(label), esc(v));
        }
        if node.children.is_empty() && !node.text.trim().is_empty() {
            let _ = write!(
                out,
                "<div><dt>{}</dt><dd>{}</dd></div>",
                esc(lang.t("text")),
                value(&node.text, lang)
            );
        }
        out.push_str("</dl>");
    }
    let mut rows = String::new();
    for child in &node.children {
        let label = labels.get(&child.local).unwrap_or(&child.local);
        if child.children.is_empty() && child.attributes.iter().all(|(k, _)| k.starts_with("xmlns"))
        {
            let _ = write!(
                rows,
                "<div><dt>{}</dt><dd>{}</dd></div>",
                esc(label),
                value(&child.text, lang)
            );
        } else {
            if !rows.is_empty() {
                let _ = write!(out, "<dl class=\"doc-values\">{rows}</dl>");
                rows.clear();
            }
            let _ = write!(
                out,
                "<section class=\"doc-section\"><h4>{}</h4>",
                esc(label)
            );
            document_body(child, labels, lang, out);
            out.push_str("</section>");
        }
    }
    if !rows.is_empty() {
        let _ = write!(out, "<dl class=\"doc-values\">{rows}</dl>");
    }
}

fn value(text: &str, lang: Lang) -> String {
    let t = text.trim();
    if long_base64(t) {
        format!(
            "<details class=\"x-b64\"><summary>Base64, {} {}</summary><span>{}</span></details>",
            t.len(),
            lang.t("show"),
            esc(t)
        )
    } else {
        esc(t)
    }
}

/// The business content as blocks of a printed document (the same structure as
/// [`document`]: sections for elements with children, rows for values and attributes).
pub fn print_blocks(xml: &str, labels: &HashMap<String, String>) -> Vec<opensmev_print::Block> {
    use opensmev_print::Block;
    fn body(node: &Node, labels: &HashMap<String, String>) -> Vec<Block> {
        let mut out = Vec::new();
        for (k, v) in node
            .attributes
            .iter()
            .filter(|(k, _)| !k.starts_with("xmlns"))
        {
            let local = k.rsplit(':').next().unwrap_or(k);
            let label = labels
                .get(&format!("@{local}"))
                .map(String::as_str)
                .unwrap_or(local);
            out.push(Block::Row {
                label: label.to_owned(),
                value: v.clone(),
            });
        }
        for child in &node.children {
            let label = labels
                .get(&child.local)
                .cloned()
                .unwrap_or_else(|| child.local.clone());
            if child.children.is_empty()
                && child.attributes.iter().all(|(k, _)| k.starts_with("xmlns"))
            {
                out.push(Block::Row {
                    label,
                    value: child.text.trim().to_owned(),
                });
            } else {
                out.push(Block::Section {
                    title: label,
                    body: body(child, labels),
                });
            }
        }
        if node.children.is_empty() && !node.text.trim().is_empty() {
            out.push(Block::Row {
                label: String::new(),
                value: node.text.trim().to_owned(),
            });
        }
        out
    }
    match parse(xml) {
        Some(root) => {
            let title = labels
                .get(&root.local)
                .cloned()
                .unwrap_or_else(|| root.local.clone());
            vec![Block::Section {
                title,
                body: body(&root, labels),
            }]
        }
        None => vec![Block::Row {
            label: String::new(),
            value: xml.to_owned(),
        }],
    }
}

/// A whole printable HTML document of a message's content (the "HTML" download).
pub fn printable(title: &str, body: &str, lang: Lang) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:'PT Sans',Arial,sans-serif;margin:2em;color:#111}}\
         dl{{display:grid;grid-template-columns:minmax(12em,1fr) 2fr;gap:.2em 1em}}\
         dl>div{{display:contents}}dt{{color:#444}}dd{{margin:0}}\
         section{{border-left:3px solid #ccd;padding-left:1em;margin:.6em 0}}</style></head>\
         <body><h1>{}</h1>{}</body></html>",
        lang.code(),
        esc(title),
        esc(title),
        body
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_escapes_and_elides() {
        let b64 = "QUJD".repeat(60);
        let xml = format!(
            "<a xmlns=\"urn:x\" k=\"&lt;script&gt;\"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b><c>{b64}</c></a>"
        );
        let html = xml_viewer(&xml, Lang::Ru);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)"));
        assert!(html.contains("<details class=\"x-b64\">"));
        assert!(html.contains("240 символов Base64"));
    }

    #[test]
    fn document_uses_labels_and_escapes() {
        let mut labels = HashMap::new();
        labels.insert("Snils".to_owned(), "СНИЛС".to_owned());
        let html = document(
            "<R xmlns=\"urn:x\"><Snils>112-233-445 95</Snils><P><N>&lt;script&gt;</N></P></R>",
            &labels,
            Lang::Ru,
        );
        assert!(
            html.contains("<dt>СНИЛС</dt><dd>112-233-445 95</dd>"),
            "{html}"
        );
        assert!(html.contains("<section class=\"doc-section\"><h4>P</h4>"));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
    }

    #[test]
    fn not_well_formed_is_text() {
        assert_eq!(
            xml_viewer("<a><b></a>", Lang::En),
            "<pre class=\"xml\">&lt;a&gt;&lt;b&gt;&lt;/a&gt;</pre>"
        );
    }
}
