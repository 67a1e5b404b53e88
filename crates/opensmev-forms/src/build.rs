//! Instance XML from submitted values ([`Form::build_xml`]).

use crate::Lang;
use crate::check::check_value_opts;
use crate::model::{Any, Content, Element, Form, Group, GroupKind, Node, SimpleType};
use crate::values::FormValues;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// A problem with one field, found before the XML is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path.
    pub path: String,
    /// What is wrong (in the language asked for).
    pub message: String,
}

/// The XML built from a form, with the line of every element's start tag.
#[derive(Debug, Clone)]
pub struct Built {
    /// The instance XML (no XML declaration; one element per line, indented by two spaces).
    pub xml: String,
    /// (line from 1, field path) for every element written, in document order.
    pub lines: Vec<(u32, String)>,
}

impl Built {
    /// The field path of the element starting at `line` (a libxml2 error line), else of the
    /// nearest element starting before it.
    pub fn field_at_line(&self, line: u32) -> Option<&str> {
        if let Some((_, p)) = self.lines.iter().find(|(l, _)| *l == line) {
            return Some(p);
        }
        self.lines
            .iter()
            .rev()
            .find(|(l, _)| *l < line)
            .map(|(_, p)| p.as_str())
    }
}

/// An element to write.
#[derive(Debug)]
pub(crate) struct Out {
    ns: Option<String>,
    name: String,
    attrs: Vec<(Option<String>, String, String)>,
    text: Option<String>,
    raw: Vec<String>,
    children: Vec<Out>,
    path: String,
}

/// Options of [`Form::build_xml_opts`].
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// The language of the messages.
    pub lang: Lang,
    /// Check the identifiers' check digits (SNILS, INN, OGRN, OGRNIP); off for test data with
    /// fake identifiers (the formats are still checked).
    pub check_digits: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            lang: Lang::Ru,
            check_digits: true,
        }
    }
}

struct Ctx<'a> {
    values: &'a FormValues,
    lang: Lang,
    check_digits: bool,
    errors: Vec<FieldError>,
}

impl Ctx<'_> {
    fn err(&mut self, path: &str, ru: &str, en: &str) {
        self.errors.push(FieldError {
            path: path.to_string(),
            message: self.lang.t(ru, en).to_string(),
        });
    }

    fn required(&mut self, path: &str) {
        self.err(path, "Обязательное поле", "Required field");
    }

    fn present_optional(&self, path: &str) -> bool {
        match self.values.switch(path) {
            Some(b) => b,
            None => self.values.has_values(path),
        }
    }

    /// The paths of the items of a particle at `base` with the given occurrence bounds.
    fn occurrences(&self, base: &str, min: u32, max: Option<u32>) -> Vec<String> {
        if max == Some(1) {
            if min >= 1 || self.present_optional(base) {
                return vec![base.to_string()];
            }
            return Vec::new();
        }
        let count = self.values.count(base);
        let mut items: Vec<String> = (0..count)
            .map(|i| format!("{base}[{i}]"))
            .filter(|p| self.values.switch(p) == Some(true) || self.values.has_values(p))
            .collect();
        if let Some(m) = max {
            items.truncate(m as usize);
        }
        let mut next = count;
        while items.len() < min as usize {
            items.push(format!("{base}[{next}]"));
            next += 1;
        }
        items
    }

    fn value(&mut self, st: &SimpleType, path: &str) -> Option<String> {
        let v = self.values.text(path)?.to_string();
        match check_value_opts(st, &v, self.lang, self.check_digits) {
            Ok(x) => Some(x),
            Err(m) => {
                self.errors.push(FieldError {
                    path: path.to_string(),
                    message: m,
                });
                None
            }
        }
    }

    fn element_items(&mut self, el: &Element, prefix: &str, out: &mut Vec<Out>) {
        let base = format!("{prefix}.{}", el.name);
        for p in self.occurrences(&base, el.min, el.max) {
            if let Some(o) = self.element(el, &p) {
                out.push(o);
            }
        }
    }

    fn element(&mut self, el: &Element, path: &str) -> Option<Out> {
        let mut o = Out {
            ns: el.namespace.clone(),
            name: el.name.clone(),
            attrs: Vec::new(),
            text: None,
            raw: Vec::new(),
            children: Vec::new(),
            path: path.to_string(),
        };
        for a in &el.attributes {
            let ap = format!("{path}.@{}", a.name);
            let v = if let Some(fixed) = &a.fixed {
                (a.required || self.values.text(&ap).is_some()).then(|| fixed.clone())
            } else {
                match self.value(&a.ty, &ap) {
                    Some(v) => Some(v),
                    None if self.values.text(&ap).is_some() => None,
                    None if a.required => match &a.default {
                        Some(d) => Some(d.clone()),
                        None => {
                            self.required(&ap);
                            None
                        }
                    },
                    None => None,
                }
            };
            if let Some(v) = v {
                o.attrs.push((a.namespace.clone(), a.name.clone(), v));
            }
        }
        match &el.content {
            Content::Simple(st) => {
                let given = self.values.text(path).is_some();
                let v = if let Some(fixed) = &el.fixed {
                    Some(fixed.clone())
                } else if given {
                    self.value(st, path)
                } else if let Some(d) = &el.default {
                    Some(d.clone())
                } else {
                    let may_be_empty = !o.attrs.is_empty()
                        && st.base.is_text()
                        && st.min_len().unwrap_or(0) == 0
                        && st.facets.patterns.is_empty()
                        && st.facets.enumeration.is_empty();
                    if !may_be_empty {
                        self.required(path);
                    }
                    None
                };
                o.text = v;
            }
            Content::Complex { group, .. } => {
                let mut children = Vec::new();
                self.group(group, path, &mut children);
                o.children = children;
            }
            Content::Empty => {}
        }
        Some(o)
    }

    fn node(&mut self, n: &Node, prefix: &str, out: &mut Vec<Out>) {
        match n {
            Node::Element(e) => self.element_items(e, prefix, out),
            Node::Group(g) => self.group(g, prefix, out),
            Node::Any(a) => self.any(a, prefix, out),
        }
    }

    fn any(&mut self, a: &Any, prefix: &str, out: &mut Vec<Out>) {
        let base = format!("{prefix}.{}", a.key);
        for p in self.occurrences(&base, a.min, a.max) {
            let Some(v) = self.values.text(&p).map(str::to_string) else {
                self.required(&p);
                continue;
            };
            let wrapped = format!("<r>{v}</r>");
            let ok = roxmltree::Document::parse(&wrapped)
                .map(|d| d.root_element().children().any(|c| c.is_element()))
                .unwrap_or(false);
            if !ok {
                self.err(
                    &p,
                    "Нужен правильный XML-фрагмент",
                    "A well-formed XML fragment expected",
                );
                continue;
            }
            out.push(Out {
                ns: None,
                name: String::new(),
                attrs: Vec::new(),
                text: None,
                raw: v.lines().map(str::to_string).collect(),
                children: Vec::new(),
                path: p,
            });
        }
    }

    fn group(&mut self, g: &Group, prefix: &str, out: &mut Vec<Out>) {
        if g.key.is_empty() {
            for it in &g.items {
                self.node(it, prefix, out);
            }
            return;
        }
        let base = format!("{prefix}.{}", g.key);
        if g.kind != GroupKind::Choice {
            for p in self.occurrences(&base, g.min, g.max) {
                for it in &g.items {
                    self.node(it, &p, out);
                }
            }
            return;
        }
        // A choice: occurrences are decided by the chosen branches' values.
        let items: Vec<String> = if g.max == Some(1) {
            vec![base.clone()]
        } else {
            let n = self.values.count(&base).max(g.min as usize).max(1);
            (0..n).map(|i| format!("{base}[{i}]")).collect()
        };
        let mut written = 0u32;
        for (k, p) in items.iter().enumerate() {
            let explicit = self
                .values
                .text(p)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&j| j < g.items.len());
            let with_values =
                (0..g.items.len()).find(|j| self.values.has_values(&format!("{p}.b{j}")));
            let required_here = (k as u32) < g.min;
            let chosen = match (explicit, with_values) {
                (Some(j), _) if required_here || self.values.has_values(&format!("{p}.b{j}")) => {
                    Some(j)
                }
                (Some(j), _) if self.values.switch(&format!("{p}.b{j}")) == Some(true) => Some(j),
                (None, Some(j)) => Some(j),
                (None, None) if required_here => Some(0),
                _ => None,
            };
            let Some(j) = chosen else { continue };
            if g.max.is_some_and(|m| written >= m) {
                break;
            }
            written += 1;
            let bp = format!("{p}.b{j}");
            if let Some(it) = g.items.get(j) {
                self.node(it, &bp, out);
            }
        }
    }
}

fn esc_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn esc_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

struct Writer {
    xml: String,
    line: u32,
    lines: Vec<(u32, String)>,
    prefixes: Vec<(String, String)>,
    default_ns: Option<String>,
}

impl Writer {
    fn prefix_of(&self, ns: &str) -> &str {
        if ns == XML_NS {
            return "xml";
        }
        self.prefixes
            .iter()
            .find(|(n, _)| n == ns)
            .map_or("", |(_, p)| p.as_str())
    }

    fn qname(&self, ns: &Option<String>, name: &str, element: bool) -> String {
        match ns {
            Some(n) if element && self.default_ns.as_deref() == Some(n.as_str()) => {
                name.to_string()
            }
            Some(n) => format!("{}:{name}", self.prefix_of(n)),
            None => name.to_string(),
        }
    }

    fn push(&mut self, s: &str) {
        self.line += s.matches('\n').count() as u32;
        self.xml.push_str(s);
    }

    fn write(&mut self, o: &Out, depth: usize, root: bool) {
        let indent = "  ".repeat(depth);
        if !o.raw.is_empty() {
            self.lines.push((self.line, o.path.clone()));
            for l in &o.raw {
                let s = format!("{indent}{}\n", l.trim_end());
                self.push(&s);
            }
            return;
        }
        self.lines.push((self.line, o.path.clone()));
        let tag = self.qname(&o.ns, &o.name, true);
        let mut s = format!("{indent}<{tag}");
        if root {
            if let Some(d) = &self.default_ns {
                s.push_str(" xmlns=\"");
                esc_attr(d, &mut s);
                s.push('"');
            }
            for (ns, p) in &self.prefixes {
                s.push_str(&format!(" xmlns:{p}=\""));
                esc_attr(ns, &mut s);
                s.push('"');
            }
        }
        for (ns, name, v) in &o.attrs {
            s.push(' ');
            s.push_str(&self.qname(ns, name, false));
            s.push_str("=\"");
            esc_attr(v, &mut s);
            s.push('"');
        }
        if let Some(t) = &o.text {
            s.push('>');
            esc_text(t, &mut s);
            s.push_str(&format!("</{tag}>\n"));
            self.push(&s);
        } else if o.children.is_empty() {
            s.push_str("/>\n");
            self.push(&s);
        } else {
            s.push_str(">\n");
            self.push(&s);
            for c in &o.children {
                self.write(c, depth + 1, false);
            }
            let end = format!("{indent}</{tag}>\n");
            self.push(&end);
        }
    }
}

fn collect_ns(o: &Out, ns: &mut Vec<String>, unqualified: &mut bool, attr_ns: &mut Vec<String>) {
    if o.raw.is_empty() {
        match &o.ns {
            Some(n) if !ns.contains(n) => ns.push(n.clone()),
            Some(_) => {}
            None => *unqualified = true,
        }
    }
    for (a, _, _) in &o.attrs {
        if let Some(a) = a
            && a != XML_NS
        {
            if !ns.contains(a) {
                ns.push(a.clone());
            }
            if !attr_ns.contains(a) {
                attr_ns.push(a.clone());
            }
        }
    }
    for c in &o.children {
        collect_ns(c, ns, unqualified, attr_ns);
    }
}

pub(crate) fn serialize(root: &Out) -> Built {
    let mut ns = Vec::new();
    let mut unqualified = false;
    let mut attr_ns = Vec::new();
    collect_ns(root, &mut ns, &mut unqualified, &mut attr_ns);
    let default_ns = match &root.ns {
        Some(n) if !unqualified => Some(n.clone()),
        _ => None,
    };
    let mut prefixes = Vec::new();
    for n in &ns {
        if default_ns.as_deref() == Some(n.as_str()) && !attr_ns.contains(n) {
            continue;
        }
        prefixes.push((n.clone(), format!("ns{}", prefixes.len() + 1)));
    }
    let mut w = Writer {
        xml: String::new(),
        line: 1,
        lines: Vec::new(),
        prefixes,
        default_ns,
    };
    w.write(root, 0, true);
    Built {
        xml: w.xml,
        lines: w.lines,
    }
}

impl Form {
    /// Checks the values and writes the instance XML; Russian messages.
    pub fn build_xml(&self, values: &FormValues) -> Result<Built, Vec<FieldError>> {
        self.build_xml_lang(values, Lang::Ru)
    }

    /// Checks the values and writes the instance XML, messages in `lang`.
    pub fn build_xml_lang(
        &self,
        values: &FormValues,
        lang: Lang,
    ) -> Result<Built, Vec<FieldError>> {
        self.build_xml_opts(
            values,
            BuildOptions {
                lang,
                ..BuildOptions::default()
            },
        )
    }

    /// Checks the values and writes the instance XML, with options.
    pub fn build_xml_opts(
        &self,
        values: &FormValues,
        opts: BuildOptions,
    ) -> Result<Built, Vec<FieldError>> {
        let lang = opts.lang;
        let mut ctx = Ctx {
            values,
            lang,
            check_digits: opts.check_digits,
            errors: Vec::new(),
        };
        let root = ctx.element(&self.root, &self.root_path());
        if !ctx.errors.is_empty() {
            return Err(ctx.errors);
        }
        let Some(root) = root else {
            return Err(vec![FieldError {
                path: self.root_path(),
                message: lang.t("Пустая форма", "Empty form").into(),
            }]);
        };
        Ok(serialize(&root))
    }
}
