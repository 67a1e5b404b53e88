//! The form tree ([`Form`], [`Node`]) and its construction from a compiled [`Schema`].

// `Arc` under the name `Rc`: the compiled schema is shared between threads (the web cabinet's cache).
use std::sync::Arc as Rc;

use crate::FormError;
use crate::ident::{self, IdentKind};
use crate::xsd::{QName, Schema, XNode, XS};

/// Elements nested deeper than this are cut (optional ones dropped, required ones left empty).
pub(crate) const MAX_DEPTH: usize = 16;
const MAX_NODES: usize = 50_000;

/// A built-in XSD type a simple type derives from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `xs:string` and every type not listed below (anyURI, QName, language, NOTATION, …).
    String,
    /// `xs:normalizedString`.
    NormalizedString,
    /// `xs:token` and its subtypes (language, Name, NCName, NMTOKEN, ENTITY).
    Token,
    /// `xs:ID`.
    Id,
    /// `xs:IDREF`(S).
    IdRef,
    /// `xs:anyURI`.
    AnyUri,
    /// `xs:boolean`.
    Boolean,
    /// `xs:decimal`.
    Decimal,
    /// `xs:integer` and its subtypes (bounds are put into the facets).
    Integer,
    /// `xs:float`, `xs:double`.
    Float,
    /// `xs:date`.
    Date,
    /// `xs:dateTime`.
    DateTime,
    /// `xs:time`.
    Time,
    /// `xs:gYear`.
    GYear,
    /// `xs:gYearMonth`.
    GYearMonth,
    /// `xs:gMonth`, `xs:gDay`, `xs:gMonthDay`.
    GOther,
    /// `xs:duration`.
    Duration,
    /// `xs:base64Binary`.
    Base64,
    /// `xs:hexBinary`.
    HexBinary,
}

impl Builtin {
    fn from_local(local: &str) -> (Builtin, Option<&'static str>, Option<&'static str>) {
        use Builtin::*;
        match local {
            "normalizedString" => (NormalizedString, None, None),
            "token" | "language" | "Name" | "NCName" | "NMTOKEN" | "NMTOKENS" | "ENTITY"
            | "ENTITIES" => (Token, None, None),
            "ID" => (Id, None, None),
            "IDREF" | "IDREFS" => (IdRef, None, None),
            "anyURI" => (AnyUri, None, None),
            "boolean" => (Boolean, None, None),
            "decimal" => (Decimal, None, None),
            "integer" => (Integer, None, None),
            "nonNegativeInteger" => (Integer, Some("0"), None),
            "positiveInteger" => (Integer, Some("1"), None),
            "nonPositiveInteger" => (Integer, None, Some("0")),
            "negativeInteger" => (Integer, None, Some("-1")),
            "long" => (
                Integer,
                Some("-9223372036854775808"),
                Some("9223372036854775807"),
            ),
            "int" => (Integer, Some("-2147483648"), Some("2147483647")),
            "short" => (Integer, Some("-32768"), Some("32767")),
            "byte" => (Integer, Some("-128"), Some("127")),
            "unsignedLong" => (Integer, Some("0"), Some("18446744073709551615")),
            "unsignedInt" => (Integer, Some("0"), Some("4294967295")),
            "unsignedShort" => (Integer, Some("0"), Some("65535")),
            "unsignedByte" => (Integer, Some("0"), Some("255")),
            "float" | "double" => (Float, None, None),
            "date" => (Date, None, None),
            "dateTime" => (DateTime, None, None),
            "time" => (Time, None, None),
            "gYear" => (GYear, None, None),
            "gYearMonth" => (GYearMonth, None, None),
            "gMonth" | "gDay" | "gMonthDay" => (GOther, None, None),
            "duration" => (Duration, None, None),
            "base64Binary" => (Base64, None, None),
            "hexBinary" => (HexBinary, None, None),
            _ => (String, None, None),
        }
    }

    /// Whether values are free text (string-like types).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Builtin::String | Builtin::NormalizedString | Builtin::Token
        )
    }

    /// Whether the type is numeric.
    pub fn is_numeric(self) -> bool {
        matches!(self, Builtin::Decimal | Builtin::Integer | Builtin::Float)
    }
}

/// The facets of a simple type, merged along its restriction chain.
#[derive(Debug, Clone, Default)]
pub struct Facets {
    /// Allowed values with their documentation (of the most derived step that has any).
    pub enumeration: Vec<(String, Option<String>)>,
    /// Patterns: each inner list is one restriction step (its patterns are alternatives); all
    /// steps must match.
    pub patterns: Vec<Vec<String>>,
    /// `xs:length`.
    pub length: Option<u32>,
    /// `xs:minLength`.
    pub min_length: Option<u32>,
    /// `xs:maxLength`.
    pub max_length: Option<u32>,
    /// `xs:totalDigits`.
    pub total_digits: Option<u32>,
    /// `xs:fractionDigits`.
    pub fraction_digits: Option<u32>,
    /// `xs:minInclusive`.
    pub min_inclusive: Option<String>,
    /// `xs:maxInclusive`.
    pub max_inclusive: Option<String>,
    /// `xs:minExclusive`.
    pub min_exclusive: Option<String>,
    /// `xs:maxExclusive`.
    pub max_exclusive: Option<String>,
    /// `xs:whiteSpace`.
    pub white_space: Option<String>,
}

/// Atomic, list or union.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variety {
    /// An atomic type.
    Atomic,
    /// `xs:list` (edited as text: items separated by spaces).
    List,
    /// `xs:union` (edited as text).
    Union,
}

/// A simple type: built-in base, facets, and what the form knows about it.
#[derive(Debug, Clone)]
pub struct SimpleType {
    /// The built-in type at the end of the restriction chain.
    pub base: Builtin,
    /// The local name of the nearest named type (for identifier detection).
    pub type_name: Option<String>,
    /// The merged facets.
    pub facets: Facets,
    /// Atomic, list or union.
    pub variety: Variety,
    /// The member types of a union; the item type of a list.
    pub members: Vec<SimpleType>,
    /// A Russian identifier recognised by name and facets.
    pub ident: Option<IdentKind>,
}

impl SimpleType {
    fn builtin(local: &str) -> SimpleType {
        let (base, min, max) = Builtin::from_local(local);
        SimpleType {
            base,
            type_name: None,
            facets: Facets {
                min_inclusive: min.map(str::to_string),
                max_inclusive: max.map(str::to_string),
                ..Facets::default()
            },
            variety: Variety::Atomic,
            members: Vec::new(),
            ident: None,
        }
    }

    /// A plain `xs:string`.
    pub fn string() -> SimpleType {
        SimpleType::builtin("string")
    }

    /// The effective maximum length in characters, if bounded.
    pub fn max_len(&self) -> Option<u32> {
        self.facets.length.or(self.facets.max_length)
    }

    /// The effective minimum length in characters, if any.
    pub fn min_len(&self) -> Option<u32> {
        self.facets.length.or(self.facets.min_length)
    }
}

/// Kind of a model group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// `xs:sequence`.
    Sequence,
    /// `xs:choice`.
    Choice,
    /// `xs:all`.
    All,
}

/// A model group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Sequence, choice or all.
    pub kind: GroupKind,
    /// `minOccurs`.
    pub min: u32,
    /// `maxOccurs` (`None`: unbounded).
    pub max: Option<u32>,
    /// The particles (for a choice: its branches).
    pub items: Vec<Node>,
    /// The path segment (`#c0`, `#g1`), empty for a sequence that occurs exactly once.
    pub key: String,
}

/// A `xs:any` wildcard, edited as raw XML.
#[derive(Debug, Clone)]
pub struct Any {
    /// `minOccurs`.
    pub min: u32,
    /// `maxOccurs` (`None`: unbounded).
    pub max: Option<u32>,
    /// The `namespace` constraint as written (`##any` when absent).
    pub namespace: String,
    /// `processContents` (`strict` when absent).
    pub process: String,
    /// The path segment (`#any0`).
    pub key: String,
}

/// An attribute of an element.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// The local name.
    pub name: String,
    /// The namespace when the attribute is qualified.
    pub namespace: Option<String>,
    /// `use="required"`.
    pub required: bool,
    /// `default=`.
    pub default: Option<String>,
    /// `fixed=`.
    pub fixed: Option<String>,
    /// Label (first line of the documentation, else the name).
    pub label: String,
    /// The rest of the documentation.
    pub hint: Option<String>,
    /// The type.
    pub ty: SimpleType,
}

/// What an element holds.
#[derive(Debug, Clone)]
pub enum Content {
    /// Text of a simple type (a simple type, or a complex type with simple content).
    Simple(SimpleType),
    /// Child elements.
    Complex {
        /// The content model.
        group: Group,
        /// `mixed="true"` (the text between children is not edited).
        mixed: bool,
    },
    /// Nothing (empty complex type, or a recursion cut).
    Empty,
}

/// An element of the form.
#[derive(Debug, Clone)]
pub struct Element {
    /// The local name.
    pub name: String,
    /// The namespace when the element is qualified.
    pub namespace: Option<String>,
    /// `minOccurs`.
    pub min: u32,
    /// `maxOccurs` (`None`: unbounded).
    pub max: Option<u32>,
    /// Label: the first line of the element's documentation, else its type's, else the name.
    pub label: String,
    /// The rest of the documentation.
    pub hint: Option<String>,
    /// The attributes.
    pub attributes: Vec<Attribute>,
    /// The content.
    pub content: Content,
    /// `nillable="true"`.
    pub nillable: bool,
    /// `fixed=` of a simple element.
    pub fixed: Option<String>,
    /// `default=` of a simple element.
    pub default: Option<String>,
    /// Looks like an address (name with Address/Адрес).
    pub is_address: bool,
    /// The content was cut (recursion or depth).
    pub truncated: bool,
}

impl Element {
    /// Whether the element may occur more than once.
    pub fn repeats(&self) -> bool {
        self.max != Some(1) && self.max != Some(0)
    }
}

/// A node of the form tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// An element.
    Element(Box<Element>),
    /// A model group.
    Group(Group),
    /// A wildcard.
    Any(Any),
}

/// The form of one global element.
#[derive(Debug, Clone)]
pub struct Form {
    /// The root element.
    pub root: Element,
    /// The root's namespace.
    pub namespace: String,
}

impl Form {
    /// The root element's path (`f.<local name>`).
    pub fn root_path(&self) -> String {
        format!("f.{}", self.root.name)
    }

    /// A safe ASCII HTML id for a field path: `x` followed by the path with ASCII letters, digits
    /// and `_` kept and every other byte written as `-hh`.
    pub fn field_id(path: &str) -> String {
        let mut out = String::with_capacity(path.len() + 8);
        out.push('x');
        for b in path.bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                out.push(b as char);
            } else {
                out.push_str(&format!("-{b:02x}"));
            }
        }
        out
    }
}

fn occurs(node: &XNode) -> (u32, Option<u32>) {
    let min = node
        .attr("minOccurs")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1);
    let max = match node.attr("maxOccurs").map(str::trim) {
        Some("unbounded") => None,
        Some(v) => Some(v.parse().unwrap_or(1)),
        None => Some(1),
    };
    (min, max)
}

fn split_doc(doc: &str) -> (String, Option<String>) {
    let doc = doc.trim();
    match doc.split_once('\n') {
        Some((first, rest)) => {
            let rest: Vec<&str> = rest
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let rest = rest.join("\n");
            (first.trim().to_string(), (!rest.is_empty()).then_some(rest))
        }
        None => (doc.to_string(), None),
    }
}

struct Builder<'s> {
    schema: &'s Schema,
    stack: Vec<*const XNode>,
    nodes: usize,
}

type Attrs = Vec<Attribute>;

impl<'s> Builder<'s> {
    fn unresolved(kind: &'static str, q: &QName) -> FormError {
        FormError::Unresolved {
            kind,
            namespace: q.0.clone(),
            local: q.1.clone(),
        }
    }

    fn type_node(&self, q: &QName) -> Result<&'s Rc<XNode>, FormError> {
        self.schema
            .types
            .get(q)
            .ok_or_else(|| Self::unresolved("type", q))
    }

    /// The simple type named `q` (a built-in, a simpleType, or a complexType with simple content).
    fn simple_named(&mut self, q: &QName, depth: usize) -> Result<SimpleType, FormError> {
        if q.0 == XS {
            return Ok(SimpleType::builtin(&q.1));
        }
        if depth > 64 {
            return Err(FormError::TooLarge(format!("type chain of {}", q.1)));
        }
        let node = self.type_node(q)?;
        let mut st = if node.kind == "complexType" {
            match self.complex(node, depth + 1)?.0 {
                Content::Simple(st) => st,
                _ => SimpleType::string(),
            }
        } else {
            self.simple_node(node, depth + 1)?
        };
        st.type_name = Some(q.1.clone());
        Ok(st)
    }

    fn simple_node(&mut self, node: &XNode, depth: usize) -> Result<SimpleType, FormError> {
        if depth > 64 {
            return Err(FormError::TooLarge("simple type chain".into()));
        }
        if let Some(r) = node.child("restriction") {
            let base = match (r.qattr("base"), r.child("simpleType")) {
                (Some(b), _) => self.simple_named(b, depth + 1)?,
                (None, Some(inline)) => self.simple_node(inline, depth + 1)?,
                _ => SimpleType::string(),
            };
            return Ok(apply_facets(base, r));
        }
        if let Some(l) = node.child("list") {
            let item = match (l.qattr("itemType"), l.child("simpleType")) {
                (Some(q), _) => self.simple_named(q, depth + 1)?,
                (None, Some(inline)) => self.simple_node(inline, depth + 1)?,
                _ => SimpleType::string(),
            };
            let mut st = SimpleType::string();
            st.variety = Variety::List;
            st.members = vec![item];
            return Ok(st);
        }
        if let Some(u) = node.child("union") {
            let mut members = Vec::new();
            for m in &u.members {
                members.push(self.simple_named(m, depth + 1)?);
            }
            for inline in u.children_of("simpleType") {
                members.push(self.simple_node(inline, depth + 1)?);
            }
            let mut st = SimpleType::string();
            st.variety = Variety::Union;
            st.members = members;
            return Ok(st);
        }
        Ok(SimpleType::string())
    }

    fn attribute(&mut self, node: &XNode, depth: usize) -> Result<Option<Attribute>, FormError> {
        if node.attr("use") == Some("prohibited") {
            return Ok(None);
        }
        let required = node.attr("use") == Some("required");
        let (decl, global) = match node.qattr("ref") {
            Some(q) => {
                if q.0 == "http://www.w3.org/XML/1998/namespace" {
                    return Ok(Some(Attribute {
                        name: q.1.clone(),
                        namespace: Some(q.0.clone()),
                        required,
                        default: None,
                        fixed: None,
                        label: q.1.clone(),
                        hint: None,
                        ty: SimpleType::string(),
                    }));
                }
                (
                    self.schema
                        .attributes
                        .get(q)
                        .ok_or_else(|| Self::unresolved("attribute", q))?,
                    true,
                )
            }
            None => {
                // A local declaration: an Rc is not needed, borrow through a fake.
                return self
                    .attribute_decl(node, node, false, required, depth)
                    .map(Some);
            }
        };
        let decl = Rc::clone(decl);
        self.attribute_decl(node, &decl, global, required, depth)
            .map(Some)
    }

    fn attribute_decl(
        &mut self,
        site: &XNode,
        decl: &XNode,
        global: bool,
        required: bool,
        depth: usize,
    ) -> Result<Attribute, FormError> {
        let name = decl.attr("name").unwrap_or("attr").to_string();
        let ctx = &self.schema.ctxs[decl.ctx];
        let qualified = global
            || decl
                .attr("form")
                .map_or(ctx.attribute_qualified, |f| f == "qualified");
        let namespace = (qualified && !ctx.tns.is_empty()).then(|| ctx.tns.clone());
        let mut ty = match (decl.qattr("type"), decl.child("simpleType")) {
            (Some(q), _) => self.simple_named(q, depth + 1)?,
            (None, Some(inline)) => self.simple_node(inline, depth + 1)?,
            _ => SimpleType::string(),
        };
        let doc = site.doc.as_deref().or(decl.doc.as_deref());
        let (label, hint) = match doc {
            Some(d) => split_doc(d),
            None => (name.clone(), None),
        };
        ty.ident = None;
        Ok(Attribute {
            name,
            namespace,
            required,
            default: site
                .attr("default")
                .or(decl.attr("default"))
                .map(str::to_string),
            fixed: site
                .attr("fixed")
                .or(decl.attr("fixed"))
                .map(str::to_string),
            label,
            hint,
            ty,
        })
    }

    fn attributes_of(
        &mut self,
        holder: &XNode,
        out: &mut Attrs,
        depth: usize,
    ) -> Result<(), FormError> {
        if depth > 64 {
            return Err(FormError::TooLarge("attribute groups".into()));
        }
        for c in &holder.children {
            match c.kind.as_str() {
                "attribute" => {
                    let prohibited = c.attr("use") == Some("prohibited");
                    let name = c
                        .attr("name")
                        .map(str::to_string)
                        .or_else(|| c.qattr("ref").map(|q| q.1.clone()))
                        .unwrap_or_default();
                    out.retain(|a| a.name != name);
                    if !prohibited && let Some(a) = self.attribute(c, depth)? {
                        out.push(a);
                    }
                }
                "attributeGroup" => {
                    if let Some(q) = c.qattr("ref") {
                        let g = Rc::clone(
                            self.schema
                                .attribute_groups
                                .get(q)
                                .ok_or_else(|| Self::unresolved("attributeGroup", q))?,
                        );
                        self.attributes_of(&g, out, depth + 1)?;
                    } else {
                        self.attributes_of(c, out, depth + 1)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Content and attributes of a complex type.
    fn complex(&mut self, ct: &XNode, depth: usize) -> Result<(Content, Attrs), FormError> {
        if depth > 64 {
            return Err(FormError::TooLarge("complex type chain".into()));
        }
        let mixed = ct.attr("mixed") == Some("true");
        let mut attrs = Vec::new();
        if let Some(sc) = ct.child("simpleContent") {
            let Some(d) = sc
                .children
                .iter()
                .find(|c| c.kind == "extension" || c.kind == "restriction")
            else {
                return Ok((Content::Simple(SimpleType::string()), attrs));
            };
            let mut st = SimpleType::string();
            if let Some(b) = d.qattr("base") {
                if b.0 == XS {
                    st = SimpleType::builtin(&b.1);
                } else {
                    let base = Rc::clone(self.type_node(b)?);
                    if base.kind == "complexType" {
                        let (c, a) = self.complex(&base, depth + 1)?;
                        attrs = a;
                        if let Content::Simple(s) = c {
                            st = s;
                        }
                    } else {
                        st = self.simple_node(&base, depth + 1)?;
                        st.type_name = Some(b.1.clone());
                    }
                }
            }
            if d.kind == "restriction" {
                if let Some(inline) = d.child("simpleType") {
                    st = self.simple_node(inline, depth + 1)?;
                }
                st = apply_facets(st, d);
            }
            self.attributes_of(d, &mut attrs, depth + 1)?;
            return Ok((Content::Simple(st), attrs));
        }
        if let Some(cc) = ct.child("complexContent") {
            let mixed = mixed || cc.attr("mixed") == Some("true");
            let Some(d) = cc
                .children
                .iter()
                .find(|c| c.kind == "extension" || c.kind == "restriction")
            else {
                return Ok((Content::Empty, attrs));
            };
            let mut base_group = None;
            if let Some(b) = d.qattr("base").filter(|b| b.0 != XS) {
                let base = Rc::clone(self.type_node(b)?);
                let (c, a) = self.complex(&base, depth + 1)?;
                attrs = a;
                if d.kind == "extension"
                    && let Content::Complex { group, .. } = c
                {
                    base_group = Some(group);
                }
            }
            let own = self.particle_of(d, depth)?;
            self.attributes_of(d, &mut attrs, depth + 1)?;
            let group = match (base_group, own) {
                (Some(b), Some(o)) => Some(Group {
                    kind: GroupKind::Sequence,
                    min: 1,
                    max: Some(1),
                    items: vec![Node::Group(b), o],
                    key: String::new(),
                }),
                (Some(b), None) => Some(b),
                (None, Some(Node::Group(g))) => Some(g),
                (None, Some(other)) => Some(seq_of(vec![other])),
                (None, None) => None,
            };
            return Ok((
                group.map_or(Content::Empty, |group| Content::Complex { group, mixed }),
                attrs,
            ));
        }
        let own = self.particle_of(ct, depth)?;
        self.attributes_of(ct, &mut attrs, depth + 1)?;
        let content = match own {
            Some(Node::Group(group)) => Content::Complex { group, mixed },
            Some(other) => Content::Complex {
                group: seq_of(vec![other]),
                mixed,
            },
            None if mixed => Content::Simple(SimpleType::string()),
            None => Content::Empty,
        };
        Ok((content, attrs))
    }

    /// The model group child of a type / derivation, if any.
    fn particle_of(&mut self, holder: &XNode, depth: usize) -> Result<Option<Node>, FormError> {
        for c in &holder.children {
            if matches!(c.kind.as_str(), "sequence" | "choice" | "all" | "group") {
                return self.particle(c, depth);
            }
        }
        Ok(None)
    }

    fn particle(&mut self, node: &XNode, depth: usize) -> Result<Option<Node>, FormError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(FormError::TooLarge(format!("more than {MAX_NODES} nodes")));
        }
        let (min, max) = occurs(node);
        if max == Some(0) {
            return Ok(None);
        }
        match node.kind.as_str() {
            "sequence" | "choice" | "all" => {
                let kind = match node.kind.as_str() {
                    "choice" => GroupKind::Choice,
                    "all" => GroupKind::All,
                    _ => GroupKind::Sequence,
                };
                let mut items = Vec::new();
                for c in &node.children {
                    if let Some(n) = self.particle(c, depth)? {
                        items.push(n);
                    }
                }
                Ok(Some(Node::Group(Group {
                    kind,
                    min,
                    max,
                    items,
                    key: String::new(),
                })))
            }
            "group" => {
                let Some(q) = node.qattr("ref") else {
                    return Ok(None);
                };
                let g = Rc::clone(
                    self.schema
                        .groups
                        .get(q)
                        .ok_or_else(|| Self::unresolved("group", q))?,
                );
                let ptr = Rc::as_ptr(&g);
                if self.stack.contains(&ptr) {
                    return Ok(None);
                }
                self.stack.push(ptr);
                let inner = self.particle_of(&g, depth);
                self.stack.pop();
                Ok(inner?.map(|n| match n {
                    Node::Group(mut grp) => {
                        grp.min = min;
                        grp.max = max;
                        Node::Group(grp)
                    }
                    other => other,
                }))
            }
            "element" => self.element(node, min, max, depth + 1),
            "any" => Ok(Some(Node::Any(Any {
                min,
                max,
                namespace: node.attr("namespace").unwrap_or("##any").to_string(),
                process: node.attr("processContents").unwrap_or("strict").to_string(),
                key: String::new(),
            }))),
            _ => Ok(None),
        }
    }

    fn element(
        &mut self,
        site: &XNode,
        min: u32,
        max: Option<u32>,
        depth: usize,
    ) -> Result<Option<Node>, FormError> {
        if let Some(q) = site.qattr("ref") {
            let q = q.clone();
            let decl = Rc::clone(
                self.schema
                    .elements
                    .get(&q)
                    .ok_or_else(|| Self::unresolved("element", &q))?,
            );
            let subs = self.substitutes(&q);
            if subs.is_empty() {
                return self.element_decl(site, &decl, true, min, max, depth);
            }
            // A substitution group: a choice of the head (unless abstract) and its members.
            let mut items = Vec::new();
            if decl.attr("abstract") != Some("true")
                && let Some(n) = self.element_decl(site, &decl, true, 1, Some(1), depth)?
            {
                items.push(n);
            }
            for s in subs {
                let d = Rc::clone(&self.schema.elements[&s]);
                if d.attr("abstract") == Some("true") {
                    continue;
                }
                if let Some(n) = self.element_decl(&d, &d, true, 1, Some(1), depth)? {
                    items.push(n);
                }
            }
            if items.is_empty() {
                return Ok(None);
            }
            return Ok(Some(Node::Group(Group {
                kind: GroupKind::Choice,
                min,
                max,
                items,
                key: String::new(),
            })));
        }
        self.element_decl(site, site, false, min, max, depth)
    }

    fn substitutes(&self, head: &QName) -> Vec<QName> {
        let mut out = Vec::new();
        let mut todo = vec![head.clone()];
        while let Some(h) = todo.pop() {
            for m in self.schema.substitutes.get(&h).into_iter().flatten() {
                if !out.contains(m) && m != head && self.schema.elements.contains_key(m) {
                    out.push(m.clone());
                    todo.push(m.clone());
                }
            }
        }
        out
    }

    fn element_decl(
        &mut self,
        site: &XNode,
        decl: &XNode,
        global: bool,
        min: u32,
        max: Option<u32>,
        depth: usize,
    ) -> Result<Option<Node>, FormError> {
        let name = decl.attr("name").unwrap_or("element").to_string();
        let ctx = &self.schema.ctxs[decl.ctx];
        let qualified = global
            || decl
                .attr("form")
                .map_or(ctx.element_qualified, |f| f == "qualified");
        let namespace = (qualified && !ctx.tns.is_empty()).then(|| ctx.tns.clone());
        let decl_ptr = decl as *const XNode;
        let type_ptr = decl
            .qattr("type")
            .and_then(|q| self.schema.types.get(q))
            .filter(|t| t.kind == "complexType")
            .map(Rc::as_ptr);
        let recursive =
            self.stack.contains(&decl_ptr) || type_ptr.is_some_and(|t| self.stack.contains(&t));
        if (recursive || depth > MAX_DEPTH) && min == 0 {
            return Ok(None);
        }
        let mut type_doc = None;
        let mut type_name = None;
        let mut el = Element {
            name: name.clone(),
            namespace,
            min,
            max,
            label: String::new(),
            hint: None,
            attributes: Vec::new(),
            content: Content::Empty,
            nillable: decl.attr("nillable") == Some("true"),
            fixed: decl.attr("fixed").map(str::to_string),
            default: decl.attr("default").map(str::to_string),
            is_address: false,
            truncated: false,
        };
        if recursive || depth > MAX_DEPTH {
            el.truncated = true;
        } else {
            self.stack.push(decl_ptr);
            let r = self.element_type(decl, &mut type_doc, &mut type_name, depth);
            self.stack.pop();
            let (content, attrs) = r?;
            el.content = content;
            el.attributes = attrs;
        }
        let doc = site
            .doc
            .as_deref()
            .or(decl.doc.as_deref())
            .or(type_doc.as_deref());
        let (label, hint) = match doc {
            Some(d) => split_doc(d),
            None => (name.clone(), None),
        };
        el.label = if label.is_empty() {
            name.clone()
        } else {
            label
        };
        el.hint = hint;
        let lname = name.to_lowercase();
        el.is_address = (lname.contains("address") || lname.contains("адрес"))
            && matches!(
                &el.content,
                Content::Complex { .. }
                    | Content::Simple(SimpleType {
                        base: Builtin::String,
                        ..
                    })
            );
        // Identifier detection for simple content and attributes.
        let tname = type_name.clone().unwrap_or_default();
        if let Content::Simple(st) = &mut el.content {
            st.ident = ident::detect(&name, st, "", "");
        }
        for a in &mut el.attributes {
            a.ty.ident = ident::detect(&a.name, &a.ty, &name, &tname);
        }
        // Passport series/number as child elements: need the parent's name.
        if let Content::Complex { group, .. } = &mut el.content {
            mark_children(group, &name, &tname);
        }
        Ok(Some(Node::Element(Box::new(el))))
    }

    fn element_type(
        &mut self,
        decl: &XNode,
        type_doc: &mut Option<String>,
        type_name: &mut Option<String>,
        depth: usize,
    ) -> Result<(Content, Attrs), FormError> {
        if let Some(q) = decl.qattr("type") {
            if q.0 == XS {
                if q.1 == "anyType" {
                    return Ok((Content::Simple(SimpleType::string()), Vec::new()));
                }
                return Ok((Content::Simple(SimpleType::builtin(&q.1)), Vec::new()));
            }
            let t = Rc::clone(self.type_node(q)?);
            *type_doc = t.doc.clone();
            *type_name = Some(q.1.clone());
            if t.kind == "complexType" {
                let ptr = Rc::as_ptr(&t);
                self.stack.push(ptr);
                let r = self.complex(&t, depth);
                self.stack.pop();
                let (mut content, attrs) = r?;
                if let Content::Simple(st) = &mut content
                    && st.type_name.is_none()
                {
                    st.type_name = Some(q.1.clone());
                }
                return Ok((content, attrs));
            }
            let mut st = self.simple_node(&t, 0)?;
            st.type_name = Some(q.1.clone());
            return Ok((Content::Simple(st), Vec::new()));
        }
        if let Some(ct) = decl.child("complexType") {
            *type_doc = ct.doc.clone();
            return self.complex(ct, depth);
        }
        if let Some(stn) = decl.child("simpleType") {
            *type_doc = stn.doc.clone();
            return Ok((Content::Simple(self.simple_node(stn, 0)?), Vec::new()));
        }
        // No type: xs:anyType (or the head's type, for substitution members).
        if let Some(head) = decl.qattr("substitutionGroup")
            && let Some(h) = self.schema.elements.get(head).cloned()
            && !std::ptr::eq(Rc::as_ptr(&h), decl)
        {
            return self.element_type(&h, type_doc, type_name, depth);
        }
        Ok((Content::Simple(SimpleType::string()), Vec::new()))
    }
}

fn mark_children(group: &mut Group, parent: &str, parent_type: &str) {
    for item in &mut group.items {
        match item {
            Node::Element(e) => {
                if let Content::Simple(st) = &mut e.content
                    && st.ident.is_none()
                {
                    st.ident = ident::detect(&e.name, st, parent, parent_type);
                }
            }
            Node::Group(g) => mark_children(g, parent, parent_type),
            Node::Any(_) => {}
        }
    }
}

fn seq_of(items: Vec<Node>) -> Group {
    Group {
        kind: GroupKind::Sequence,
        min: 1,
        max: Some(1),
        items,
        key: String::new(),
    }
}

fn apply_facets(mut st: SimpleType, r: &XNode) -> SimpleType {
    let mut enums = Vec::new();
    let mut patterns = Vec::new();
    for f in &r.children {
        let v = f.attr("value").unwrap_or("").to_string();
        let num = || v.trim().parse::<u32>().ok();
        match f.kind.as_str() {
            "enumeration" => enums.push((v.clone(), f.doc.clone())),
            "pattern" => patterns.push(v.clone()),
            "length" => st.facets.length = num(),
            "minLength" => st.facets.min_length = num(),
            "maxLength" => st.facets.max_length = num(),
            "totalDigits" => st.facets.total_digits = num(),
            "fractionDigits" => st.facets.fraction_digits = num(),
            "minInclusive" => st.facets.min_inclusive = Some(v.trim().to_string()),
            "maxInclusive" => st.facets.max_inclusive = Some(v.trim().to_string()),
            "minExclusive" => st.facets.min_exclusive = Some(v.trim().to_string()),
            "maxExclusive" => st.facets.max_exclusive = Some(v.trim().to_string()),
            "whiteSpace" => st.facets.white_space = Some(v.trim().to_string()),
            _ => {}
        }
    }
    if !enums.is_empty() {
        st.facets.enumeration = enums;
    }
    if !patterns.is_empty() {
        st.facets.patterns.push(patterns);
    }
    st
}

impl Schema {
    /// The form of the global element `{namespace}local`.
    pub fn form(&self, namespace: &str, local: &str) -> Result<Form, FormError> {
        let q = (namespace.to_string(), local.to_string());
        let decl = self.elements.get(&q).ok_or_else(|| FormError::NoSuchRoot {
            namespace: namespace.into(),
            local: local.into(),
        })?;
        let mut b = Builder {
            schema: self,
            stack: Vec::new(),
            nodes: 0,
        };
        let node = b.element_decl(decl, decl, true, 1, Some(1), 1)?;
        let Some(Node::Element(root)) = node else {
            return Err(FormError::NoSuchRoot {
                namespace: namespace.into(),
                local: local.into(),
            });
        };
        let mut root = *root;
        number_element(&mut root);
        Ok(Form {
            root,
            namespace: namespace.to_string(),
        })
    }
}

fn number_element(el: &mut Element) {
    if let Content::Complex { group, .. } = &mut el.content {
        let mut counters = (0usize, 0usize, 0usize);
        number_group(group, &mut counters, true);
    }
}

fn number_group(g: &mut Group, counters: &mut (usize, usize, usize), top: bool) {
    let _ = top;
    g.key = match g.kind {
        GroupKind::Choice => {
            counters.0 += 1;
            format!("#c{}", counters.0 - 1)
        }
        _ if g.min == 1 && g.max == Some(1) => String::new(),
        _ => {
            counters.1 += 1;
            format!("#g{}", counters.1 - 1)
        }
    };
    for item in &mut g.items {
        match item {
            Node::Element(e) => number_element(e),
            Node::Group(sub) => number_group(sub, counters, false),
            Node::Any(a) => {
                counters.2 += 1;
                a.key = format!("#any{}", counters.2 - 1);
            }
        }
    }
}
