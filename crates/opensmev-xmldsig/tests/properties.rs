//! Property tests for the hardened reader, the SMEV transform and exclusive C14N.
//!
//! Random namespace-qualified trees are generated as abstract data (namespace URIs, local names,
//! attributes, text) and serialized in many ways that an XML namespace-aware parser cannot tell
//! apart: other prefixes, default namespace or prefixes, redundant, unused and re-bound
//! declarations, attribute order, whitespace inside tags, `<a/>` or `<a></a>`, character and
//! entity references or literal characters, CDATA, comments, an XML declaration and a BOM.
//!
//! A serialization is chosen by two seeds: the *naming* seed picks the prefix of every element
//! and qualified attribute, the *layout* seed everything else. The SMEV transform must not see
//! either; exclusive C14N must not see the layout (it keeps prefixes).

use opensmev_xmldsig::c14n::canonicalize_to_vec;
use opensmev_xmldsig::transform::{Flavor, TransformError, transform_document, transform_element};
use opensmev_xmldsig::xml::{Document, Item, Limits, Walker, XML_NS};
use proptest::prelude::*;

// ------------------------------------------------------------------------------------------------
// Abstract trees
// ------------------------------------------------------------------------------------------------

/// Namespace URIs of elements and attributes (the last one needs escaping in attribute values).
const URIS: [&str; 4] = ["urn:a", "urn:b", "http://x/c", "urn:e?x=1&y='2'"];
/// `URIS[3]` without `&`: libxml2's C14N writes an `&` of a namespace URI as `&#38;` (it keeps
/// the reference in the stored URI) where C14N requires `&amp;`, so the libxml2 comparison avoids it.
const LIBXML_SAFE_URI: &str = "urn:e?x=1;y='2'";
/// A URI no name uses (for unused declarations).
const UNUSED_URI: &str = "urn:unused";
const ELEMENT_NAMES: [&str; 7] = ["Root", "a", "b", "Элемент", "item-1", "x.y", "_z"];
const ATTR_NAMES: [&str; 6] = ["Id", "a", "b", "имя", "x-y", "c.d"];
const XML_ATTR_NAMES: [&str; 3] = ["lang", "space", "x"];
/// The generators once stayed away from the triggers of the bugs the `regression_*` tests pin
/// (PI data ending in `?`, CR LF in PI data, a second BOM); those are fixed, so the properties
/// generate them again.
const AVOID_KNOWN_BUGS: bool = false;

const PI_TARGETS: [&str; 3] = ["pi", "x-y", "цель"];
/// PI data; a LF may be written CR LF, which the reader must normalize.
const PI_DATA: [&str; 7] = ["", "data", "a  b", "a?", "?", "x\ny", "ж>"];
/// Input prefixes; `ns1`… collide on purpose with the transform's generated ones.
const PREFIXES: [&str; 8] = ["a", "b", "c", "p", "ns1", "ns2", "ns3", "пр"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttrNs {
    None,
    Uri(usize),
    Xml,
}

#[derive(Debug, Clone)]
struct Attr {
    ns: AttrNs,
    local: &'static str,
    value: String,
}

#[derive(Debug, Clone)]
struct Elem {
    /// Index into [`URIS`]; `None` = no namespace.
    ns: Option<usize>,
    local: &'static str,
    attrs: Vec<Attr>,
    /// Never two adjacent texts, never an empty text.
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Elem(Elem),
    Text(String),
    /// A processing instruction: target and data (data without leading whitespace).
    Pi(&'static str, &'static str),
}

impl Elem {
    fn child_elems(&self) -> impl Iterator<Item = &Elem> {
        self.children.iter().filter_map(|c| match c {
            Node::Elem(e) => Some(e),
            Node::Text(_) | Node::Pi(..) => None,
        })
    }

    /// Whether the reference on Woodstox refuses the tree (an element in no namespace or an
    /// `xml:` attribute).
    fn woodstox_refuses(&self) -> bool {
        self.ns.is_none()
            || self.attrs.iter().any(|a| a.ns == AttrNs::Xml)
            || self.child_elems().any(Elem::woodstox_refuses)
    }

    /// The tree without processing instructions (the texts around them merged).
    fn without_pis(&self) -> Elem {
        let children = self
            .children
            .iter()
            .filter_map(|c| match c {
                Node::Elem(e) => Some(Node::Elem(e.without_pis())),
                Node::Text(t) => Some(Node::Text(t.clone())),
                Node::Pi(..) => None,
            })
            .collect();
        Elem {
            children: merge_texts(children),
            ..self.clone()
        }
    }

    /// The tree with TAB, LF, CR (CR LF as one) in attribute values replaced by a space: what an
    /// XML parser reads back from those characters written raw.
    fn with_attr_whitespace_normalized(&self) -> Elem {
        let mut e = self.clone();
        for a in &mut e.attrs {
            a.value = a
                .value
                .replace("\r\n", " ")
                .replace(['\t', '\n', '\r'], " ");
        }
        for c in &mut e.children {
            if let Node::Elem(child) = c {
                *child = child.with_attr_whitespace_normalized();
            }
        }
        e
    }
}

/// What the generated trees may contain.
#[derive(Debug, Clone, Copy)]
struct Gen {
    /// Elements in no namespace (refused by the Woodstox flavor).
    no_ns: bool,
    /// `xml:` attributes (refused by the Woodstox flavor).
    xml_attrs: bool,
    /// TAB, LF, CR in attribute values.
    attr_ws: bool,
}

const FULL: Gen = Gen {
    no_ns: true,
    xml_attrs: true,
    attr_ws: true,
};
/// What both flavors accept and can read back.
const NAMESPACED: Gen = Gen {
    no_ns: false,
    xml_attrs: false,
    attr_ws: true,
};

/// Half [`FULL`], half [`NAMESPACED`] trees: most full trees of some size hold something the
/// Woodstox flavor refuses.
fn mixed_tree() -> BoxedStrategy<Elem> {
    prop_oneof![tree(FULL), tree(NAMESPACED)].boxed()
}

fn text_char(ws: bool, cr: bool) -> BoxedStrategy<char> {
    let mut blanks = vec![' ', ' '];
    if ws {
        blanks.extend(['\t', '\n']);
    }
    let mut rare = vec!['\u{7f}', '\u{85}', '\u{a0}', '\u{fffd}', '\u{1d11e}'];
    if cr {
        rare.push('\r');
    }
    prop_oneof![
        6 => prop::sample::select(vec!['a', 'b', 'z', '0', '7', 'Ж', 'я', 'ё', 'Щ']),
        3 => prop::sample::select(blanks),
        3 => prop::sample::select(vec!['&', '<', '>', '"', '\'', ']']),
        1 => prop::sample::select(rare),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => prop::collection::vec(text_char(true, true), 1..14).prop_map(String::from_iter),
        // Blank texts (dropped by the transform, kept by C14N).
        2 => prop::collection::vec(prop::sample::select(vec![' ', '\t', '\n', '\r']), 1..4)
            .prop_map(String::from_iter),
        // Long texts: the Woodstox writer works in 512-unit chunks.
        1 => (500usize..=514, prop::collection::vec(text_char(true, true), 0..14))
            .prop_map(|(n, t)| "ж".repeat(n) + &String::from_iter(t)),
    ]
    .boxed()
}

fn attr_value(g: Gen) -> BoxedStrategy<String> {
    prop::collection::vec(text_char(g.attr_ws, g.attr_ws), 0..10)
        .prop_map(String::from_iter)
        .boxed()
}

fn attrs(g: Gen) -> BoxedStrategy<Vec<Attr>> {
    let ns = if g.xml_attrs {
        prop_oneof![6 => Just(AttrNs::None), 6 => (0..URIS.len()).prop_map(AttrNs::Uri), 1 => Just(AttrNs::Xml)]
            .boxed()
    } else {
        prop_oneof![Just(AttrNs::None), (0..URIS.len()).prop_map(AttrNs::Uri)].boxed()
    };
    let attr = (ns, 0..ATTR_NAMES.len(), attr_value(g)).prop_map(|(ns, i, value)| {
        let local = if ns == AttrNs::Xml {
            XML_ATTR_NAMES[i % XML_ATTR_NAMES.len()]
        } else {
            ATTR_NAMES[i]
        };
        Attr { ns, local, value }
    });
    prop::collection::vec(attr, 0..5)
        .prop_map(|mut attrs| {
            // No duplicates after namespace resolution.
            let mut seen = Vec::new();
            attrs.retain(|a| {
                let key = (a.ns, a.local);
                let fresh = !seen.contains(&key);
                seen.push(key);
                fresh
            });
            attrs
        })
        .boxed()
}

type Head = (Option<usize>, &'static str, Vec<Attr>);

fn head(g: Gen) -> BoxedStrategy<Head> {
    let ns = if g.no_ns {
        prop_oneof![12 => (0..URIS.len()).prop_map(Some), 1 => Just(None)].boxed()
    } else {
        (0..URIS.len()).prop_map(Some).boxed()
    };
    (ns, prop::sample::select(ELEMENT_NAMES.to_vec()), attrs(g)).boxed()
}

fn merge_texts(children: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for child in children {
        match (out.last_mut(), child) {
            (Some(Node::Text(prev)), Node::Text(t)) => prev.push_str(&t),
            (_, Node::Text(t)) if t.is_empty() => {}
            (_, child) => out.push(child),
        }
    }
    out
}

fn pi_data() -> Vec<&'static str> {
    PI_DATA
        .into_iter()
        .filter(|d| !(AVOID_KNOWN_BUGS && d.ends_with('?')))
        .collect()
}

/// Trees of depth ≤ 5 with ≤ 6 children per element.
fn tree(g: Gen) -> BoxedStrategy<Elem> {
    let leaf = (head(g), prop::option::of(text())).prop_map(|((ns, local, attrs), text)| Elem {
        ns,
        local,
        attrs,
        children: text.into_iter().map(Node::Text).collect(),
    });
    leaf.prop_recursive(4, 96, 4, move |inner| {
        let child = prop_oneof![
            8 => inner.prop_map(Node::Elem),
            4 => text().prop_map(Node::Text),
            1 => (prop::sample::select(PI_TARGETS.to_vec()), prop::sample::select(pi_data()))
                .prop_map(|(t, d)| Node::Pi(t, d)),
        ];
        (head(g), prop::collection::vec(child, 0..=6)).prop_map(|((ns, local, attrs), children)| {
            Elem {
                ns,
                local,
                attrs,
                children: merge_texts(children),
            }
        })
    })
    .boxed()
}

// ------------------------------------------------------------------------------------------------
// Serialization
// ------------------------------------------------------------------------------------------------

/// SplitMix64: serialization choices come from a seed, so a failing case is reproducible.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability 1/n.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// The prefixes of one element (`""` = default namespace / unqualified) and of its attributes.
#[derive(Debug)]
struct Naming {
    prefix: String,
    attrs: Vec<String>,
    children: Vec<Naming>,
}

fn name_tree(e: &Elem, rng: &mut Rng) -> Naming {
    let prefix = match e.ns {
        None => String::new(),
        Some(_) if rng.one_in(3) => String::new(),
        Some(_) => rng.pick(&PREFIXES).to_owned(),
    };
    // Prefixes used on this element and the URI each stands for.
    let mut used: Vec<(String, usize)> = Vec::new();
    if let (false, Some(u)) = (prefix.is_empty(), e.ns) {
        used.push((prefix.clone(), u));
    }
    let mut attrs = Vec::new();
    for (i, a) in e.attrs.iter().enumerate() {
        let p = match a.ns {
            AttrNs::None => String::new(),
            AttrNs::Xml => "xml".to_owned(),
            AttrNs::Uri(u) => {
                let fits =
                    |p: &str, used: &[(String, usize)]| used.iter().all(|(q, v)| q != p || *v == u);
                let mut chosen = None;
                if e.ns == Some(u) && !prefix.is_empty() && rng.one_in(2) {
                    chosen = Some(prefix.clone());
                }
                for _ in 0..8 {
                    if chosen.is_some() {
                        break;
                    }
                    let p = rng.pick(&PREFIXES);
                    if fits(p, &used) {
                        chosen = Some(p.to_owned());
                    }
                }
                let p = chosen.unwrap_or_else(|| format!("q{i}"));
                used.push((p.clone(), u));
                p
            }
        };
        attrs.push(p);
    }
    let children = e.child_elems().map(|c| name_tree(c, rng)).collect();
    Naming {
        prefix,
        attrs,
        children,
    }
}

struct Writer {
    rng: Rng,
    /// `false`: the plainest form (fixed order, minimal escaping, no comments, no declaration).
    varied: bool,
    out: String,
    /// Namespace bindings in scope, innermost last (`""` = default namespace, `""` URI = none).
    scope: Vec<(String, String)>,
    /// Write `URIS[3]` as [`LIBXML_SAFE_URI`] in declarations.
    no_amp_in_uris: bool,
}

const COMMENTS: [&str; 4] = [
    "<!---->",
    "<!-- c -->",
    "<!--коммент-->",
    "<!-- a-b > < & ]]> -->",
];

impl Writer {
    /// Whether to make a variation that happens with probability 1/n.
    fn maybe(&mut self, n: usize) -> bool {
        self.varied && self.rng.one_in(n)
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }

    /// The URI a prefix stands for now (`""` for an absent default namespace).
    fn bound(&self, prefix: &str) -> Option<&str> {
        self.lookup(prefix)
            .or(if prefix.is_empty() { Some("") } else { None })
    }

    fn ws(&mut self) -> &'static str {
        if self.varied {
            self.rng.pick(&[" ", " ", "  ", "\n", "\t", "\n  ", "\r\n"])
        } else {
            " "
        }
    }

    fn comment(&mut self) {
        let c = self.rng.pick(&COMMENTS);
        self.out.push_str(c);
    }

    fn misc(&mut self) {
        if !self.varied {
            return;
        }
        for _ in 0..self.rng.below(4) {
            let m = self.rng.pick(&[
                "\n",
                " ",
                "\r\n",
                "\t",
                "<!-- prolog -->",
                "<?pi data?>",
                "<?target?>",
            ]);
            self.out.push_str(m);
        }
    }

    fn document(&mut self, tree: &Elem, naming: &Naming) {
        if self.maybe(8) {
            self.out.push('\u{feff}');
        }
        if self.maybe(2) {
            let decl = self.rng.pick(&[
                "<?xml version=\"1.0\"?>",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                "<?xml version='1.0' encoding='utf-8' standalone='yes'?>",
            ]);
            self.out.push_str(decl);
        }
        self.misc();
        self.element(tree, naming);
        self.misc();
    }

    fn element(&mut self, e: &Elem, n: &Naming) {
        let uri_of = |ns: Option<usize>| ns.map_or("", |i| URIS[i]);
        // Bindings this element's names need.
        let mut used: Vec<(String, String)> = vec![(n.prefix.clone(), uri_of(e.ns).to_owned())];
        for (a, p) in e.attrs.iter().zip(&n.attrs) {
            if let AttrNs::Uri(u) = a.ns {
                used.push((p.clone(), URIS[u].to_owned()));
            }
        }
        used.sort();
        used.dedup();
        let mut decls: Vec<(String, String)> = Vec::new();
        for (p, u) in &used {
            if self.bound(p) != Some(u.as_str()) {
                decls.push((p.clone(), u.clone()));
            }
        }
        // Extra declarations that change nothing for this element's names.
        let extra = if self.varied { self.rng.below(4) } else { 0 };
        for _ in 0..extra {
            let is_used = |p: &str| used.iter().any(|(q, _)| q == p);
            let declared = |p: &str, decls: &[(String, String)]| decls.iter().any(|(q, _)| q == p);
            match self.rng.below(5) {
                // A redundant re-declaration of a binding in scope.
                0 if !self.scope.is_empty() => {
                    let p = self.scope[self.rng.below(self.scope.len())].0.clone();
                    if !declared(&p, &decls) {
                        let u = self.lookup(&p).unwrap_or_default().to_owned();
                        decls.push((p, u));
                    }
                }
                // A redundant re-declaration of a binding this element uses.
                1 => {
                    let (p, u) = used[self.rng.below(used.len())].clone();
                    if !declared(&p, &decls) {
                        decls.push((p, u));
                    }
                }
                // An unused (maybe re-binding) declaration.
                2 => {
                    let p = if self.rng.one_in(4) {
                        ""
                    } else {
                        self.rng.pick(&PREFIXES)
                    };
                    if !is_used(p) && !declared(p, &decls) {
                        let mut uris = URIS.to_vec();
                        uris.push(UNUSED_URI);
                        if p.is_empty() {
                            uris.push("");
                        }
                        decls.push((p.to_owned(), self.rng.pick(&uris).to_owned()));
                    }
                }
                // The implicit `xml` binding, declared.
                3 if !declared("xml", &decls) => decls.push(("xml".to_owned(), XML_NS.to_owned())),
                // `xmlns=""` where the default namespace is not used or is already none.
                _ => {
                    if !declared("", &decls) && (!is_used("") || self.bound("") == Some("")) {
                        decls.push((String::new(), String::new()));
                    }
                }
            }
        }
        self.scope.extend(decls.iter().cloned());

        let qname = |p: &str, local: &str| {
            if p.is_empty() {
                local.to_owned()
            } else {
                format!("{p}:{local}")
            }
        };
        let mut items: Vec<(String, &str)> = decls
            .iter()
            .map(|(p, u)| {
                let key = if p.is_empty() {
                    "xmlns".to_owned()
                } else {
                    format!("xmlns:{p}")
                };
                let u = if self.no_amp_in_uris && u == URIS[3] {
                    LIBXML_SAFE_URI
                } else {
                    u.as_str()
                };
                (key, u)
            })
            .collect();
        for (a, p) in e.attrs.iter().zip(&n.attrs) {
            items.push((qname(p, a.local), a.value.as_str()));
        }
        if self.varied {
            for i in (1..items.len()).rev() {
                let j = self.rng.below(i + 1);
                items.swap(i, j);
            }
        }

        let name = qname(&n.prefix, e.local);
        self.out.push('<');
        self.out.push_str(&name);
        for (key, value) in items {
            let ws = self.ws();
            self.out.push_str(ws);
            self.out.push_str(&key);
            let eq = if self.varied {
                self.rng.pick(&["=", "=", " = ", "=\n"])
            } else {
                "="
            };
            self.out.push_str(eq);
            self.attr_value(value);
        }
        if self.maybe(4) {
            let ws = self.ws();
            self.out.push_str(ws);
        }
        if e.children.is_empty() && self.maybe(2) {
            self.out.push_str("/>");
        } else {
            self.out.push('>');
            let mut names = n.children.iter();
            for child in &e.children {
                if self.maybe(5) {
                    self.comment();
                }
                match child {
                    Node::Elem(c) => {
                        self.element(c, names.next().expect("naming follows the tree"))
                    }
                    Node::Text(t) => self.text(t),
                    Node::Pi(target, data) => self.pi(target, data),
                }
            }
            if self.maybe(5) {
                self.comment();
            }
            self.out.push_str("</");
            self.out.push_str(&name);
            if self.maybe(4) {
                let ws = self.ws();
                self.out.push_str(ws);
            }
            self.out.push('>');
        }
        self.scope.truncate(self.scope.len() - decls.len());
    }

    fn char_ref(&mut self, c: char) -> String {
        match self.rng.below(3) {
            0 => format!("&#{};", c as u32),
            1 => format!("&#x{:x};", c as u32),
            _ => format!("&#x{:04X};", c as u32),
        }
    }

    fn pi(&mut self, target: &str, data: &str) {
        self.out.push_str("<?");
        self.out.push_str(target);
        if !data.is_empty() {
            let ws = self.ws();
            self.out.push_str(ws);
            for c in data.chars() {
                let s = if c == '\n' && !AVOID_KNOWN_BUGS && self.maybe(2) {
                    "\r\n".to_owned()
                } else {
                    c.to_string()
                };
                self.out.push_str(&s);
            }
        } else if self.maybe(3) {
            // Trailing whitespace after the target belongs to no data.
            let ws = self.ws();
            self.out.push_str(ws);
        }
        self.out.push_str("?>");
    }

    /// A LF, written raw or as a line end the reader normalizes to LF (a lone CR only when no
    /// raw LF could follow it).
    fn newline(&mut self, next: Option<char>) -> String {
        let mut choices = vec!["\n", "\n", "\r\n"];
        if next != Some('\n') {
            choices.push("\r");
        }
        if self.varied {
            self.rng.pick(&choices)
        } else {
            "\n"
        }
        .to_owned()
    }

    fn text(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        let mut prev = None;
        let mut i = 0;
        while i < chars.len() {
            let mut end = i + 1;
            while end < chars.len() && !self.maybe(4) {
                end += 1;
            }
            if !self.varied {
                end = chars.len();
            }
            let chunk: String = chars[i..end].iter().collect();
            if !chunk.contains('\r') && !chunk.contains("]]>") && self.maybe(3) {
                self.out.push_str("<![CDATA[");
                for k in i..end {
                    let s = if chars[k] == '\n' {
                        self.newline(chars.get(k + 1).copied())
                    } else {
                        chars[k].to_string()
                    };
                    self.out.push_str(&s);
                }
                self.out.push_str("]]>");
            } else {
                for k in i..end {
                    self.text_char(chars[k], prev, chars.get(k + 1).copied());
                    prev = Some(chars[k]);
                }
            }
            prev = chars.get(end - 1).copied();
            if end < chars.len() && self.maybe(5) {
                self.comment();
            }
            i = end;
        }
    }

    fn text_char(&mut self, c: char, prev: Option<char>, next: Option<char>) {
        if !self.varied {
            match c {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                // `]]>` is not allowed in character data.
                '>' if prev == Some(']') => self.out.push_str("&gt;"),
                '\r' => self.out.push_str("&#13;"),
                c => self.out.push(c),
            }
            return;
        }
        let s = match c {
            '&' => self.rng.pick(&["&amp;", "&#38;", "&#x26;"]).to_owned(),
            '<' => self
                .rng
                .pick(&["&lt;", "&#60;", "&#x3C;", "&#x3c;"])
                .to_owned(),
            '>' if prev == Some(']') => self.rng.pick(&["&gt;", "&#62;"]).to_owned(),
            '>' => self.rng.pick(&[">", ">", "&gt;", "&#x3e;"]).to_owned(),
            '"' => self.rng.pick(&["\"", "\"", "&quot;", "&#34;"]).to_owned(),
            '\'' => self.rng.pick(&["'", "'", "&apos;", "&#39;"]).to_owned(),
            '\r' => self.char_ref(c),
            c if self.rng.one_in(6) => self.char_ref(c),
            '\n' => self.newline(next),
            c => c.to_string(),
        };
        self.out.push_str(&s);
    }

    fn attr_value(&mut self, value: &str) {
        let quote = if self.maybe(3) { '\'' } else { '"' };
        self.out.push(quote);
        let chars: Vec<char> = value.chars().collect();
        for (k, &c) in chars.iter().enumerate() {
            let s = match c {
                '&' if !self.varied => "&amp;".to_owned(),
                '<' if !self.varied => "&lt;".to_owned(),
                '"' if !self.varied => "&quot;".to_owned(),
                '&' => self.rng.pick(&["&amp;", "&#38;", "&#x26;"]).to_owned(),
                '<' => self.rng.pick(&["&lt;", "&#60;", "&#x3C;"]).to_owned(),
                '"' if quote == '"' => self.rng.pick(&["&quot;", "&#34;", "&#x22;"]).to_owned(),
                '\'' if quote == '\'' => self.rng.pick(&["&apos;", "&#39;", "&#x27;"]).to_owned(),
                // Written raw, these would be normalized to spaces.
                '\t' | '\n' | '\r' if !self.varied => format!("&#{};", c as u32),
                '\t' | '\n' | '\r' => self.char_ref(c),
                '>' if self.maybe(3) => "&gt;".to_owned(),
                // Raw TAB, LF, CR LF, CR are read as one space each.
                ' ' if self.maybe(2) => {
                    let mut choices = vec!["\t", "\n", "\r\n"];
                    if chars.get(k + 1) != Some(&' ') {
                        choices.push("\r");
                    }
                    self.rng.pick(&choices).to_owned()
                }
                c if self.maybe(6) => self.char_ref(c),
                c => c.to_string(),
            };
            self.out.push_str(&s);
        }
        self.out.push(quote);
    }
}

/// Serializes `tree` with prefixes from `naming_seed` and, with `layout_seed`, a random layout
/// (`None`: the plainest one).
fn serialize(tree: &Elem, naming_seed: u64, layout_seed: Option<u64>) -> Vec<u8> {
    serialize_with(tree, naming_seed, layout_seed, false)
}

fn serialize_with(
    tree: &Elem,
    naming_seed: u64,
    layout_seed: Option<u64>,
    no_amp_in_uris: bool,
) -> Vec<u8> {
    let naming = name_tree(tree, &mut Rng(naming_seed));
    let mut w = Writer {
        rng: Rng(layout_seed.unwrap_or(0)),
        varied: layout_seed.is_some(),
        out: String::new(),
        scope: Vec::new(),
        no_amp_in_uris,
    };
    w.document(tree, &naming);
    w.out.into_bytes()
}

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse(bytes: &[u8]) -> Document<'_> {
    Document::parse(bytes, Limits::default())
        .unwrap_or_else(|e| panic!("does not parse: {e}\n{}", show(bytes)))
}

/// The transform of a whole document; `None` when the flavor refuses it.
fn smev(input: &[u8], flavor: Flavor) -> Option<String> {
    let whole = match transform_document(input, Limits::default(), flavor) {
        Ok(out) => Some(String::from_utf8(out).expect("transform output is UTF-8")),
        Err(TransformError::Unsupported(_)) => None,
        Err(e) => panic!("transform ({flavor:?}) failed: {e}\n{}", show(input)),
    };
    // The same through the element API.
    let doc = parse(input);
    let mut out = Vec::new();
    let element = match transform_element(&doc.root(), None, flavor, &mut out) {
        Ok(()) => Some(String::from_utf8(out).expect("transform output is UTF-8")),
        Err(TransformError::Unsupported(_)) => None,
        Err(e) => panic!(
            "transform_element ({flavor:?}) failed: {e}\n{}",
            show(input)
        ),
    };
    assert_eq!(
        whole, element,
        "transform_document and transform_element differ ({flavor:?})"
    );
    whole
}

/// Exclusive C14N of every element of a document, in document order.
fn c14n_all(input: &[u8]) -> Vec<String> {
    let doc = parse(input);
    doc.elements()
        .map(|e| {
            let out =
                canonicalize_to_vec(&e, &[]).unwrap_or_else(|err| panic!("c14n of {e:?}: {err}"));
            String::from_utf8(out).expect("c14n output is UTF-8")
        })
        .collect()
}

/// One tag of a transform output.
#[derive(Debug)]
struct Tag {
    end: bool,
    name: String,
    attrs: Vec<(String, String)>,
}

/// Reads the tags of a transform output (no comments, PIs, CDATA or declarations; `<` is always
/// escaped; attribute values are in double quotes with `"` escaped). Works also on the
/// not-namespace-well-formed JDK output for elements in no namespace (`xmlns:ns1=""`).
fn scan_tags(out: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut rest = out;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.starts_with('/');
        if end {
            rest = &rest[1..];
        }
        let name_end = rest.find([' ', '>']).expect("unterminated tag");
        let name = rest[..name_end].to_owned();
        rest = &rest[name_end..];
        let mut attrs = Vec::new();
        loop {
            if let Some(r) = rest.strip_prefix('>') {
                rest = r;
                break;
            }
            rest = rest
                .strip_prefix(' ')
                .expect("one space before each attribute");
            let eq = rest.find("=\"").expect("attribute without =\"");
            let key = rest[..eq].to_owned();
            rest = &rest[eq + 2..];
            let close = rest.find('"').expect("unterminated attribute value");
            attrs.push((key, rest[..close].to_owned()));
            rest = &rest[close + 1..];
        }
        assert!(!end || attrs.is_empty(), "attributes on an end tag");
        tags.push(Tag { end, name, attrs });
    }
    tags
}

/// The shape every transform output has, checked on its text. (`/>` could occur in text or an
/// attribute value, where Woodstox leaves `>` raw, but the generated data has no `/`.)
fn check_output_shape(out: &str) {
    assert!(!out.contains("/>"), "empty-element tag in {out}");
    assert!(
        !out.contains("<?") && !out.contains("<!"),
        "declaration, PI, comment or CDATA in {out}"
    );
    assert!(
        out.starts_with('<') && out.ends_with('>'),
        "not one element: {out}"
    );
    let mut counter = 0usize;
    // Per open element: its name and the (prefix, URI) bindings it declares.
    let mut open: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for tag in scan_tags(out) {
        if tag.end {
            let (name, _) = open.pop().expect("end tag without start tag");
            assert_eq!(name, tag.name, "misnested output: {out}");
            continue;
        }
        let mut declared: Vec<(String, String)> = Vec::new();
        let mut seen_attr = false;
        for (key, value) in &tag.attrs {
            if let Some(prefix) = key.strip_prefix("xmlns:") {
                assert!(!seen_attr, "declaration after an attribute in {out}");
                counter += 1;
                assert_eq!(
                    prefix,
                    format!("ns{counter}"),
                    "prefixes not ns1..nsK in order: {out}"
                );
                let in_scope = open.iter().flat_map(|(_, d)| d).chain(&declared);
                assert!(
                    in_scope.clone().all(|(_, u)| u != value),
                    "URI {value} declared again while bound by an open element: {out}"
                );
                declared.push((prefix.to_owned(), value.clone()));
            } else {
                assert_ne!(key, "xmlns", "default namespace in {out}");
                seen_attr = true;
            }
        }
        let scope: Vec<&(String, String)> =
            open.iter().flat_map(|(_, d)| d).chain(&declared).collect();
        let resolve = |qname: &str| -> Option<String> {
            let (p, _) = qname.split_once(':')?;
            let uri = scope
                .iter()
                .rev()
                .find(|(q, _)| q == p)
                .map(|(_, u)| u.clone());
            Some(uri.unwrap_or_else(|| panic!("prefix {p} unbound in {out}")))
        };
        let element_uri = resolve(&tag.name)
            .unwrap_or_else(|| panic!("unprefixed element {} in {out}", tag.name));
        if let Some((first, u)) = declared.first() {
            // The element's own namespace is declared first, if it is declared here.
            if !open
                .iter()
                .flat_map(|(_, d)| d)
                .any(|(_, v)| *v == element_uri)
            {
                assert_eq!(
                    u, &element_uri,
                    "element namespace not declared first ({first}) in {out}"
                );
            }
        }
        // Attributes: qualified ones by URI then local name, then unqualified ones by local name.
        let keys: Vec<(bool, String, String)> = tag
            .attrs
            .iter()
            .filter(|(k, _)| !k.starts_with("xmlns:"))
            .map(|(k, _)| match resolve(k) {
                Some(uri) => (
                    false,
                    uri,
                    k.split_once(':')
                        .map(|(_, l)| l.to_owned())
                        .unwrap_or_default(),
                ),
                None => (true, String::new(), k.clone()),
            })
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "attributes not sorted in {out}"
        );
        open.push((tag.name.clone(), declared));
    }
    assert!(open.is_empty(), "unclosed element in {out}");
    assert!(counter >= 1);
}

/// The same shape, checked with the reader (for outputs that are namespace-well-formed).
fn check_output_with_reader(out: &str) {
    let doc = parse(out.as_bytes());
    let declared: Vec<String> = doc
        .elements()
        .flat_map(|e| e.declarations().to_vec())
        .map(|b| b.prefix.to_string())
        .collect();
    let expected: Vec<String> = (1..=declared.len()).map(|i| format!("ns{i}")).collect();
    assert_eq!(declared, expected, "prefixes in {out}");
    let mut walker = Walker::document(out, Limits::default()).expect("output within limits");
    while let Some(item) = walker.next_item().expect("output reads") {
        match item {
            Item::Start(tag) => {
                assert!(!tag.empty, "<{}/> in {out}", tag.local);
                assert!(
                    tag.prefix.starts_with("ns"),
                    "element prefix {} in {out}",
                    tag.prefix
                );
                assert!(tag.ns.is_some());
            }
            Item::Pi(_) | Item::Comment(_) => panic!("PI or comment in {out}"),
            Item::End { .. } | Item::Text(_) | Item::Reference(_) => {}
        }
    }
}

fn libxml_elements(node: &libxml::tree::Node, out: &mut Vec<libxml::tree::Node>) {
    out.push(node.clone());
    for child in node.get_child_elements() {
        libxml_elements(&child, out);
    }
}

/// 256 cases, and no regression files written next to the sources.
/// (`PROPTEST_CASES` overrides the number, for longer local runs.)
fn config() -> ProptestConfig {
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default().cases
    } else {
        256
    };
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

// ------------------------------------------------------------------------------------------------
// Properties
// ------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Every generated serialization is well-formed and reads back with the right names.
    #[test]
    fn serializations_parse(tree in tree(FULL), seeds in any::<[u64; 2]>()) {
        let bytes = serialize(&tree, seeds[0], Some(seeds[1]));
        let doc = parse(&bytes);
        fn count(e: &Elem) -> usize {
            1 + e.child_elems().map(count).sum::<usize>()
        }
        prop_assert_eq!(doc.len(), count(&tree));
        let root = doc.root();
        prop_assert_eq!(root.namespace(), tree.ns.map(|i| URIS[i]));
        prop_assert_eq!(root.local_name(), tree.local);
        for a in &tree.attrs {
            let ns = match a.ns {
                AttrNs::None => None,
                AttrNs::Uri(u) => Some(URIS[u]),
                AttrNs::Xml => Some(XML_NS),
            };
            prop_assert_eq!(root.attribute(ns, a.local), Some(a.value.clone()), "{}", show(&bytes));
        }
    }

    /// Namespace-equivalent serializations give byte-identical transform output, in both flavors;
    /// Woodstox refuses exactly the trees with an element in no namespace or an `xml:` attribute.
    #[test]
    fn transform_ignores_equivalent_rewriting(tree in mixed_tree(), seeds in any::<[u64; 4]>()) {
        let plain = serialize(&tree, seeds[0], None);
        let docs = [serialize(&tree, seeds[0], Some(seeds[1])), serialize(&tree, seeds[2], Some(seeds[3]))];
        for flavor in [Flavor::Woodstox, Flavor::Jdk] {
            let expected = smev(&plain, flavor);
            prop_assert_eq!(
                expected.is_none(),
                flavor == Flavor::Woodstox && tree.woodstox_refuses(),
                "{:?} on {}", flavor, show(&plain)
            );
            for doc in &docs {
                let got = smev(doc, flavor);
                prop_assert_eq!(&got, &expected, "{:?}\nplain:  {}\nrandom: {}", flavor, show(&plain), show(doc));
            }
        }
    }

    /// The Woodstox output reads back and is a fixed point, for input without processing
    /// instructions.
    ///
    /// A PI splits a text node (it survives the C14N the reference reads), and Woodstox escapes
    /// `>` at the start of each write: `<a>x<?p?>></a>` gives `<ns1:a ...>x&gt;</ns1:a>`, whose
    /// second pass gives `x>`. That is the reference's behaviour, not a bug of the port.
    #[test]
    fn woodstox_transform_is_idempotent(
        tree in tree(NAMESPACED).prop_map(|t| t.without_pis()),
        seeds in any::<[u64; 2]>(),
    ) {
        let input = serialize(&tree, seeds[0], Some(seeds[1]));
        let once = smev(&input, Flavor::Woodstox).expect("namespaced input");
        let twice = smev(once.as_bytes(), Flavor::Woodstox).expect("namespaced output");
        prop_assert_eq!(&twice, &once, "input: {}", show(&input));
    }

    /// The JDK output is a fixed point when no attribute value holds TAB, LF or CR.
    ///
    /// The JDK writer leaves TAB, LF and CR in attribute values raw, and a parser normalizes raw
    /// ones to spaces (XML 1.0 §3.3.3), so a second pass sees spaces: the JDK flavor is not
    /// idempotent there (see `jdk_transform_twice_normalizes_attribute_whitespace`). Text is fine:
    /// a CR in text (the only character a parser would change) is never written, because the JDK
    /// reader reports it as a blank piece of its own that is dropped.
    #[test]
    fn jdk_transform_is_idempotent(
        tree in tree(Gen { no_ns: false, xml_attrs: false, attr_ws: false }),
        seeds in any::<[u64; 2]>(),
    ) {
        let input = serialize(&tree, seeds[0], Some(seeds[1]));
        let once = smev(&input, Flavor::Jdk).expect("JDK accepts everything");
        let twice = smev(once.as_bytes(), Flavor::Jdk).expect("JDK accepts everything");
        prop_assert_eq!(&twice, &once, "input: {}", show(&input));
    }

    /// With TAB, LF, CR in attribute values, a second JDK pass equals one pass over the input with
    /// those characters normalized to spaces, as a parser reads them raw.
    #[test]
    fn jdk_transform_twice_normalizes_attribute_whitespace(tree in tree(NAMESPACED), seeds in any::<[u64; 2]>()) {
        let input = serialize(&tree, seeds[0], Some(seeds[1]));
        let once = smev(&input, Flavor::Jdk).expect("JDK accepts everything");
        let twice = smev(once.as_bytes(), Flavor::Jdk).expect("JDK accepts everything");
        let normalized = serialize(&tree.with_attr_whitespace_normalized(), seeds[0], Some(seeds[1]));
        prop_assert_eq!(&twice, &smev(&normalized, Flavor::Jdk).expect("JDK accepts everything"));
    }

    /// No `<a/>`, no declaration, prefixes `ns1..nsK` in order of first appearance, reuse of
    /// bindings of open ancestors only, sorted attributes.
    #[test]
    fn transform_output_shape(tree in mixed_tree(), seeds in any::<[u64; 2]>()) {
        let input = serialize(&tree, seeds[0], Some(seeds[1]));
        for flavor in [Flavor::Woodstox, Flavor::Jdk] {
            let Some(out) = smev(&input, flavor) else { continue };
            check_output_shape(&out);
            if !tree.woodstox_refuses() {
                check_output_with_reader(&out);
            }
        }
    }

    /// Exclusive C14N of every element reads back and canonicalizes to itself.
    #[test]
    fn c14n_is_idempotent(tree in tree(FULL), seeds in any::<[u64; 2]>()) {
        let input = serialize(&tree, seeds[0], Some(seeds[1]));
        for c in c14n_all(&input) {
            let again = c14n_all(c.as_bytes());
            prop_assert_eq!(&again[0], &c, "input: {}", show(&input));
        }
    }

    /// In SMEV signatures the transform reads the exclusive C14N of the signed element; working on
    /// the element itself must give the same bytes (or the same refusal), for every element.
    #[test]
    fn transform_of_element_equals_transform_of_its_c14n(tree in mixed_tree(), seeds in any::<[u64; 2]>()) {
        let input = serialize(&tree, seeds[0], Some(seeds[1]));
        let doc = parse(&input);
        for element in doc.elements() {
            let c = canonicalize_to_vec(&element, &[]).expect("c14n");
            for flavor in [Flavor::Woodstox, Flavor::Jdk] {
                let mut out = Vec::new();
                let direct = match transform_element(&element, None, flavor, &mut out) {
                    Ok(()) => Some(show(&out)),
                    Err(TransformError::Unsupported(_)) => None,
                    Err(e) => panic!("transform_element: {e}"),
                };
                prop_assert_eq!(
                    &direct,
                    &smev(&c, flavor),
                    "{:?} {}\nc14n:  {}\ninput: {}", flavor, element.path(), show(&c), show(&input)
                );
            }
        }
    }

    /// With the same prefixes, declarations (where, redundant, unused), attribute order, tag
    /// whitespace, references, CDATA, comments, `<a/>` and the prolog do not change C14N output.
    #[test]
    fn c14n_ignores_layout(tree in tree(FULL), seeds in any::<[u64; 3]>()) {
        let plain = serialize(&tree, seeds[0], None);
        let expected = c14n_all(&plain);
        for layout in [seeds[1], seeds[2]] {
            let doc = serialize(&tree, seeds[0], Some(layout));
            prop_assert_eq!(c14n_all(&doc), expected.clone(), "\nplain:  {}\nrandom: {}", show(&plain), show(&doc));
        }
    }

    /// Exclusive C14N of every element agrees with libxml2, with and without an inclusive prefix
    /// list.
    #[test]
    fn c14n_matches_libxml2(tree in tree(FULL), seeds in any::<[u64; 2]>(), list in prop::sample::subsequence(vec!["#default", "a", "p", "ns1", "пр"], 0..=3)) {
        let input = serialize_with(&tree, seeds[0], Some(seeds[1]), true);
        let text = std::str::from_utf8(&input).expect("UTF-8");
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc = parse(&input);
        let options = libxml::parser::ParserOptions { recover: false, no_net: true, no_warning: true, ..Default::default() };
        let xdoc = libxml::parser::Parser::default()
            .parse_string_with_options(text, options)
            .map_err(|e| TestCaseError::fail(format!("libxml2 refuses {text}: {e:?}")))?;
        let mut xnodes = Vec::new();
        libxml_elements(&xdoc.get_root_element().expect("root"), &mut xnodes);
        prop_assert_eq!(xnodes.len(), doc.len());
        let list: Vec<String> = list.into_iter().map(str::to_owned).collect();
        for inclusive in [Vec::new(), list] {
            for (element, xnode) in doc.elements().zip(&xnodes) {
                let ours = String::from_utf8(canonicalize_to_vec(&element, &inclusive).expect("c14n")).expect("UTF-8");
                let theirs = xnode.clone().canonicalize(libxml::tree::c14n::CanonicalizationOptions {
                    mode: libxml::tree::c14n::CanonicalizationMode::ExclusiveCanonical1_0,
                    with_comments: false,
                    inclusive_ns_prefixes: inclusive.clone(),
                }).map_err(|e| TestCaseError::fail(format!("libxml2 c14n: {e:?}")))?;
                prop_assert_eq!(&ours, &theirs, "element {} with {:?} of {}", element.path(), inclusive, text);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Robustness: arbitrary input never panics
// ------------------------------------------------------------------------------------------------

/// Parses `bytes` and, if that works, runs everything that reads a document over every element.
fn exercise(bytes: &[u8], limits: Limits) {
    if AVOID_KNOWN_BUGS
        && bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(bytes)
            .starts_with(b"\xEF\xBB\xBF")
    {
        // known_bug_second_bom_panics
        return;
    }
    let Ok(doc) = Document::parse(bytes, limits) else {
        let _ = transform_document(bytes, limits, Flavor::Jdk);
        return;
    };
    for flavor in [Flavor::Woodstox, Flavor::Jdk] {
        let whole = transform_document(bytes, limits, flavor);
        if flavor == Flavor::Jdk {
            // Only the Woodstox flavor refuses inputs; a document that reads must transform.
            assert!(
                whole.is_ok(),
                "JDK transform of an accepted document failed: {whole:?}\n{}",
                show(bytes)
            );
        }
    }
    let inclusive = ["#default".to_owned(), "a".to_owned()];
    for element in doc.elements() {
        for flavor in [Flavor::Woodstox, Flavor::Jdk] {
            let mut out = Vec::new();
            let r = transform_element(&element, None, flavor, &mut out);
            assert!(
                flavor == Flavor::Woodstox || r.is_ok(),
                "JDK transform of {element:?} failed: {r:?}\n{}",
                show(bytes)
            );
        }
        let c = canonicalize_to_vec(&element, &[]);
        assert!(
            c.is_ok(),
            "c14n of {element:?} failed: {c:?}\n{}",
            show(bytes)
        );
        let c = canonicalize_to_vec(&element, &inclusive);
        assert!(
            c.is_ok(),
            "c14n of {element:?} failed: {c:?}\n{}",
            show(bytes)
        );
        let _ = element.text_content();
        let _ = element.start_tag();
        let _ = element.attribute(None, "Id");
        let _ = element.path();
        let _ = element.inherited_scope();
    }
    if let Some(e) = doc.elements().nth(1) {
        let mut out = Vec::new();
        let _ = transform_element(&doc.root(), Some(e.range()), Flavor::Jdk, &mut out);
        let _ = opensmev_xmldsig::c14n::canonicalize_element(
            &doc.root(),
            Some(e.range()),
            &[],
            &mut out,
        );
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

/// Markup fragments that make mutations reach deeper than random bytes would.
const TOKENS: [&str; 28] = [
    "<",
    ">",
    "/>",
    "</",
    "<a>",
    "</a>",
    "<a:b xmlns:a=\"urn:a\">",
    "xmlns",
    "xmlns:p=\"\"",
    "xmlns=\"\"",
    "=\"",
    "\"",
    "'",
    "&",
    "&amp;",
    "&#x",
    "&#0;",
    ";",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE a>",
    "xmlns:=\"urn:x\"",
    "<?pi a??>",
    "\r\n",
    "\u{feff}",
];

/// What may come before a document's first byte (the serializer writes at most one BOM).
const PROLOG_TOKENS: [&str; 7] = [
    "\u{feff}",
    "\u{feff}",
    "<?xml version=\"1.0\"?>",
    "\n",
    "<!---->",
    "<?pi?>",
    "<r/>",
];

fn insertion() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..4),
        prop::sample::select(TOKENS.to_vec()).prop_map(|t| t.as_bytes().to_vec()),
        prop::sample::select(vec![
            "ж",
            "\u{feff}",
            "\r",
            "\0",
            "\u{1d11e}",
            "\u{ffff}",
            ":"
        ])
        .prop_map(|t| t.as_bytes().to_vec()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        3 => (any::<usize>(), insertion()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        // At the very start, where the BOM and the XML declaration go.
        1 => insertion().prop_map(|b| Mutation::Insert(0, b)),
        2 => (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Flip(i, x) if len > 0 => bytes[i % len] ^= x,
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            Mutation::Insert(i, b) => {
                let at = i % (len + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = i % len;
                bytes.drain(at..(at + n).min(len));
            }
            _ => {}
        }
    }
    bytes
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => Just(Limits::default()),
        1 => (1usize..400, 1usize..6, 0usize..6, 0usize..20, 1usize..30).prop_map(|(bytes, depth, attrs, value, elements)| {
            Limits {
                max_document_bytes: bytes,
                max_depth: depth,
                max_attributes: attrs,
                max_attribute_bytes: value,
                max_elements: elements,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), limits in limits()) {
        exercise(&bytes, limits);
    }

    #[test]
    fn token_soup_never_panics(
        tokens in prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(TOKENS.to_vec()).prop_map(str::to_owned),
                2 => prop::sample::select(vec!["a", "b", "p:a", " ", "\n", "x=\"1\"", "ж", "urn:a", "p"]).prop_map(str::to_owned),
            ],
            0..40,
        ),
        limits in limits(),
    ) {
        exercise(tokens.concat().as_bytes(), limits);
    }

    #[test]
    fn mutated_documents_never_panic(
        tree in tree(FULL),
        seeds in any::<[u64; 2]>(),
        mutations in prop::collection::vec(mutation(), 1..4),
        prolog in prop::collection::vec(prop::sample::select(PROLOG_TOKENS.to_vec()), 0..4),
        limits in limits(),
    ) {
        let mut bytes = prolog.concat().into_bytes();
        bytes.extend(mutate(serialize(&tree, seeds[0], Some(seeds[1])), &mutations));
        exercise(&bytes, limits);
    }
}

// ------------------------------------------------------------------------------------------------
// Regressions: minimal cases of bugs these properties found (fixed)
// ------------------------------------------------------------------------------------------------

/// `c14n.rs` strips every trailing `?` of a PI (`trim_end_matches(['?'])`), but the walker's PI
/// slice already excludes the closing `?>`: the data `a?` of `<?pi a??>` loses its `?`.
/// libxml2 (and the C14N spec) write `<?pi a??>`. Found by `c14n_matches_libxml2`.
#[test]
fn regression_c14n_drops_trailing_question_mark_of_pi_data() {
    let doc = parse(b"<a><?pi a??></a>");
    assert_eq!(
        show(&canonicalize_to_vec(&doc.root(), &[]).unwrap()),
        "<a><?pi a??></a>"
    );
}

/// Line ends are normalized before parsing (XML 1.0 §2.11), also inside processing instructions,
/// but the walker reports PI data raw, so C14N writes a CR that a conforming parser never
/// reports. Found by `c14n_ignores_layout`.
#[test]
fn regression_pi_data_line_ends_are_not_normalized() {
    let doc = parse(b"<a><?pi x\r\ny?></a>");
    assert_eq!(
        show(&canonicalize_to_vec(&doc.root(), &[]).unwrap()),
        "<a><?pi x\ny?></a>"
    );
}

/// `Document::parse` (and `transform_document`) skip one BOM; if the text still starts with
/// U+FEFF, quick-xml silently skips it too, but the offset the walker takes before the first
/// event does not move with it, so `Walker::slice` cuts inside the character ("byte index 1 is
/// not a char boundary") for a start tag, a PI or text right after it. A U+FEFF before the root
/// element is not well-formed, so this must be an error.
/// `Document::parse_str` panics the same way on a single BOM. Found by
/// `mutated_documents_never_panic`.
#[test]
fn regression_second_bom_panics() {
    let input = "\u{feff}\u{feff}<a/>".as_bytes();
    let parsed = std::panic::catch_unwind(|| Document::parse(input, Limits::default()).is_err());
    assert_eq!(
        parsed.ok(),
        Some(true),
        "Document::parse must return an error, not panic"
    );
    let transformed = std::panic::catch_unwind(|| {
        transform_document(input, Limits::default(), Flavor::Jdk).is_err()
    });
    assert_eq!(
        transformed.ok(),
        Some(true),
        "transform_document must return an error, not panic"
    );
    let from_str = std::panic::catch_unwind(|| {
        let _ = Document::parse_str("\u{feff}<a/>", Limits::default());
    });
    assert!(from_str.is_ok(), "Document::parse_str must not panic");
}
