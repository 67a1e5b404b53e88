//! Loading an XSD set: files, `xs:include`/`xs:import` resolution, owned schema components.

use std::collections::{BTreeMap, BTreeSet, HashMap};
// `Arc` under the name `Rc`: the compiled schema is shared between threads (the web cabinet's cache).
use std::sync::Arc as Rc;

use crate::FormError;

pub(crate) const XS: &str = "http://www.w3.org/2001/XMLSchema";

/// A qualified name: (namespace, local).
pub(crate) type QName = (String, String);

/// One XSD element (`xs:element`, `xs:complexType`, …) copied out of the DOM, with its QName
/// attribute values resolved.
#[derive(Debug)]
pub(crate) struct XNode {
    /// The local name of the XSD construct (`element`, `sequence`, …).
    pub kind: String,
    attrs: Vec<(String, String)>,
    /// QName-valued attributes (`type`, `ref`, `base`, `itemType`, `substitutionGroup`), resolved.
    qattrs: Vec<(String, QName)>,
    /// `memberTypes` of a union, resolved.
    pub members: Vec<QName>,
    /// XSD children other than `xs:annotation`.
    pub children: Vec<Rc<XNode>>,
    /// The text of `xs:annotation/xs:documentation`, if any.
    pub doc: Option<String>,
    /// Index of the schema document (for target namespace and form defaults).
    pub ctx: usize,
}

impl XNode {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn qattr(&self, name: &str) -> Option<&QName> {
        self.qattrs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub(crate) fn child(&self, kind: &str) -> Option<&Rc<XNode>> {
        self.children.iter().find(|c| c.kind == kind)
    }

    pub(crate) fn children_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Rc<XNode>> {
        self.children.iter().filter(move |c| c.kind == kind)
    }
}

/// Per-document facts.
#[derive(Debug, Clone)]
pub(crate) struct DocCtx {
    pub tns: String,
    pub element_qualified: bool,
    pub attribute_qualified: bool,
}

/// A compiled XSD set: the global components of every namespace, ready to make forms of.
#[derive(Debug)]
pub struct Schema {
    pub(crate) ctxs: Vec<DocCtx>,
    pub(crate) elements: BTreeMap<QName, Rc<XNode>>,
    pub(crate) types: HashMap<QName, Rc<XNode>>,
    pub(crate) groups: HashMap<QName, Rc<XNode>>,
    pub(crate) attribute_groups: HashMap<QName, Rc<XNode>>,
    pub(crate) attributes: HashMap<QName, Rc<XNode>>,
    /// Substitution group head → members (direct).
    pub(crate) substitutes: HashMap<QName, Vec<QName>>,
    /// Global elements in document order.
    pub(crate) element_order: Vec<QName>,
}

fn norm_path(p: &str) -> String {
    let p = p.replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn dir_of(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) => &p[..i],
        None => "",
    }
}

fn base_name(p: &str) -> &str {
    let p = p.rsplit(['/', '\\']).next().unwrap_or(p);
    p.split(['?', '#']).next().unwrap_or(p)
}

struct Loader<'a> {
    docs: Vec<(String, roxmltree::Document<'a>)>,
}

impl<'a> Loader<'a> {
    fn resolve_location(&self, from: usize, location: &str) -> Option<usize> {
        let location = location.trim();
        if !location.contains("://") {
            let dir = dir_of(&self.docs[from].0);
            let joined = if dir.is_empty() {
                norm_path(location)
            } else {
                norm_path(&format!("{dir}/{location}"))
            };
            if let Some(i) = self.docs.iter().position(|(p, _)| *p == joined) {
                return Some(i);
            }
        }
        // Sloppy sets: match the file name alone when it is unique.
        let name = base_name(location);
        let mut hits = self
            .docs
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| base_name(p) == name);
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }
}

fn own_tns(doc: &roxmltree::Document<'_>) -> Option<String> {
    doc.root_element()
        .attribute("targetNamespace")
        .map(str::to_string)
}

fn is_xs(node: &roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(XS) && node.tag_name().name() == name
}

fn resolve_qname(node: &roxmltree::Node<'_, '_>, value: &str, chameleon: Option<&str>) -> QName {
    let value = value.trim();
    let (prefix, local) = match value.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, value),
    };
    let ns = node.lookup_namespace_uri(prefix).unwrap_or("").to_string();
    let ns = match (ns.is_empty(), chameleon) {
        (true, Some(c)) if prefix.is_none() => c.to_string(),
        _ => ns,
    };
    (ns, local.to_string())
}

fn doc_text(node: &roxmltree::Node<'_, '_>) -> Option<String> {
    let mut out = String::new();
    for ann in node.children().filter(|c| is_xs(c, "annotation")) {
        for d in ann.children().filter(|c| is_xs(c, "documentation")) {
            let t: String = d
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            let t = t.trim();
            if !t.is_empty() {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(t);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn convert(node: roxmltree::Node<'_, '_>, ctx: usize, chameleon: Option<&str>) -> Rc<XNode> {
    let mut attrs = Vec::new();
    let mut qattrs = Vec::new();
    let mut members = Vec::new();
    for a in node.attributes() {
        if a.namespace().is_some() {
            continue;
        }
        match a.name() {
            "type" | "ref" | "base" | "itemType" | "substitutionGroup" => {
                qattrs.push((
                    a.name().to_string(),
                    resolve_qname(&node, a.value(), chameleon),
                ));
            }
            "memberTypes" => {
                members = a
                    .value()
                    .split_whitespace()
                    .map(|m| resolve_qname(&node, m, chameleon))
                    .collect();
            }
            _ => {}
        }
        attrs.push((a.name().to_string(), a.value().to_string()));
    }
    let children = node
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(XS))
        .filter(|c| c.tag_name().name() != "annotation")
        .map(|c| convert(c, ctx, chameleon))
        .collect();
    Rc::new(XNode {
        kind: node.tag_name().name().to_string(),
        attrs,
        qattrs,
        members,
        children,
        doc: doc_text(&node),
        ctx,
    })
}

impl Schema {
    /// Compiles one XSD set given as (relative path, text) pairs. `xs:include`/`xs:import` are
    /// resolved by `schemaLocation` relative to the including file's folder (then by file name,
    /// then, for imports, by target namespace); an included schema without a target namespace
    /// takes the includer's (chameleon include). Files that are not XSD are ignored.
    pub fn compile(files: &[(String, String)]) -> Result<Schema, FormError> {
        let mut loader = Loader { docs: Vec::new() };
        for (path, text) in files {
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let opts = roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            };
            let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| {
                FormError::Xml {
                    file: path.clone(),
                    message: e.to_string(),
                }
            })?;
            if is_xs(&doc.root_element(), "schema") {
                loader.docs.push((norm_path(path), doc));
            }
        }
        if loader.docs.is_empty() {
            return Err(FormError::NoSchema);
        }
        // Which files are included by another (they are loaded in their includer's context).
        let mut included = BTreeSet::new();
        for i in 0..loader.docs.len() {
            let root = loader.docs[i].1.root_element();
            for inc in root
                .children()
                .filter(|c| is_xs(c, "include") || is_xs(c, "redefine"))
            {
                if let Some(t) = inc
                    .attribute("schemaLocation")
                    .and_then(|l| loader.resolve_location(i, l))
                    && own_tns(&loader.docs[t].1).is_none()
                    && t != i
                {
                    included.insert(t);
                }
            }
        }
        let mut queue: Vec<(usize, String)> = Vec::new();
        for (i, (_, doc)) in loader.docs.iter().enumerate() {
            if !included.contains(&i) {
                queue.push((i, own_tns(doc).unwrap_or_default()));
            }
        }
        queue.reverse();
        let mut seen: BTreeSet<(usize, String)> = BTreeSet::new();
        let mut schema = Schema {
            ctxs: Vec::new(),
            elements: BTreeMap::new(),
            types: HashMap::new(),
            groups: HashMap::new(),
            attribute_groups: HashMap::new(),
            attributes: HashMap::new(),
            substitutes: HashMap::new(),
            element_order: Vec::new(),
        };
        while let Some((i, tns)) = queue.pop() {
            if !seen.insert((i, tns.clone())) {
                continue;
            }
            let doc = &loader.docs[i].1;
            let root = doc.root_element();
            let chameleon = if own_tns(doc).is_none() && !tns.is_empty() {
                Some(tns.as_str())
            } else {
                None
            };
            let ctx = schema.ctxs.len();
            schema.ctxs.push(DocCtx {
                tns: tns.clone(),
                element_qualified: root.attribute("elementFormDefault") == Some("qualified"),
                attribute_qualified: root.attribute("attributeFormDefault") == Some("qualified"),
            });
            for c in root.children().filter(|c| c.is_element()) {
                if c.tag_name().namespace() != Some(XS) {
                    continue;
                }
                let name = c.tag_name().name();
                match name {
                    "include" | "redefine" => {
                        if let Some(t) = c
                            .attribute("schemaLocation")
                            .and_then(|l| loader.resolve_location(i, l))
                        {
                            let t_tns = own_tns(&loader.docs[t].1).unwrap_or_else(|| tns.clone());
                            queue.push((t, t_tns));
                        }
                        if name == "redefine" {
                            // Redefinitions are taken as plain declarations (first wins).
                            for r in c.children().filter(|r| r.is_element()) {
                                schema.add_global(convert(r, ctx, chameleon), &tns);
                            }
                        }
                    }
                    "import" => {
                        let ns = c.attribute("namespace").unwrap_or("").to_string();
                        let target = c
                            .attribute("schemaLocation")
                            .and_then(|l| loader.resolve_location(i, l))
                            .filter(|&t| own_tns(&loader.docs[t].1).unwrap_or_default() == ns)
                            .or_else(|| {
                                loader
                                    .docs
                                    .iter()
                                    .position(|(_, d)| own_tns(d).unwrap_or_default() == ns)
                            });
                        if let Some(t) = target {
                            queue.push((t, ns));
                        }
                    }
                    "annotation" | "notation" => {}
                    _ => schema.add_global(convert(c, ctx, chameleon), &tns),
                }
            }
        }
        Ok(schema)
    }

    fn add_global(&mut self, node: Rc<XNode>, tns: &str) {
        let Some(name) = node.attr("name") else {
            return;
        };
        let q = (tns.to_string(), name.to_string());
        match node.kind.as_str() {
            "element" => {
                if self.elements.contains_key(&q) {
                    return;
                }
                if let Some(head) = node.qattr("substitutionGroup") {
                    self.substitutes
                        .entry(head.clone())
                        .or_default()
                        .push(q.clone());
                }
                self.element_order.push(q.clone());
                self.elements.insert(q, node);
            }
            "complexType" | "simpleType" => {
                self.types.entry(q).or_insert(node);
            }
            "group" => {
                self.groups.entry(q).or_insert(node);
            }
            "attributeGroup" => {
                self.attribute_groups.entry(q).or_insert(node);
            }
            "attribute" => {
                self.attributes.entry(q).or_insert(node);
            }
            _ => {}
        }
    }

    /// The global elements of every namespace of the set, as (namespace, local name), in the order
    /// of the files.
    pub fn roots(&self) -> Vec<(String, String)> {
        self.element_order.clone()
    }

    /// The global elements of one namespace.
    pub fn roots_in(&self, namespace: &str) -> Vec<(String, String)> {
        self.element_order
            .iter()
            .filter(|(ns, _)| ns == namespace)
            .cloned()
            .collect()
    }
}
