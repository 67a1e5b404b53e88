//! Values read back from an existing instance ([`Form::values_from_xml`]): copying a request,
//! drafts.

use crate::FormError;
use crate::model::{Content, Element, Form, Group, GroupKind, Node};
use crate::values::FormValues;

type XNode<'a, 'i> = roxmltree::Node<'a, 'i>;

struct Reader<'x> {
    input: &'x str,
}

fn is_match(e: &Element, n: &XNode<'_, '_>) -> bool {
    n.tag_name().name() == e.name
        && n.tag_name().namespace().unwrap_or("") == e.namespace.as_deref().unwrap_or("")
}

fn text_of(n: &XNode<'_, '_>) -> String {
    n.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_string()
}

impl Reader<'_> {
    fn element(&self, e: &Element, n: &XNode<'_, '_>, path: &str, v: &mut FormValues) {
        for a in &e.attributes {
            let found = n.attributes().find(|x| {
                x.name() == a.name
                    && x.namespace().unwrap_or("") == a.namespace.as_deref().unwrap_or("")
            });
            if let Some(x) = found {
                v.set(format!("{path}.@{}", a.name), x.value());
            }
        }
        match &e.content {
            Content::Simple(_) => {
                let t = text_of(n);
                if !t.is_empty() {
                    v.set(path, t);
                }
            }
            Content::Complex { group, .. } => {
                let kids: Vec<XNode<'_, '_>> = n.children().filter(|c| c.is_element()).collect();
                self.group(group, &kids, 0, path, v);
            }
            Content::Empty => {}
        }
    }

    fn node(
        &self,
        node: &Node,
        kids: &[XNode<'_, '_>],
        mut pos: usize,
        prefix: &str,
        v: &mut FormValues,
    ) -> usize {
        match node {
            Node::Element(e) => {
                let base = format!("{prefix}.{}", e.name);
                let mut count = 0u32;
                while e.max.is_none_or(|m| count < m) && pos < kids.len() && is_match(e, &kids[pos])
                {
                    let path = if e.repeats() {
                        format!("{base}[{count}]")
                    } else {
                        base.clone()
                    };
                    if e.min == 0 || e.repeats() {
                        v.set(format!("{path}#on"), "1");
                    }
                    self.element(e, &kids[pos], &path, v);
                    pos += 1;
                    count += 1;
                }
                if e.repeats() && count > 0 {
                    v.set(format!("{base}#n"), count.to_string());
                }
                pos
            }
            Node::Group(g) => self.group(g, kids, pos, prefix, v),
            Node::Any(a) => {
                let base = format!("{prefix}.{}", a.key);
                let repeats = a.max != Some(1);
                let mut count = 0u32;
                while a.max.is_none_or(|m| count < m) && pos < kids.len() {
                    let path = if repeats {
                        format!("{base}[{count}]")
                    } else {
                        base.clone()
                    };
                    v.set(path, &self.input[kids[pos].range()]);
                    pos += 1;
                    count += 1;
                }
                if repeats && count > 0 {
                    v.set(format!("{base}#n"), count.to_string());
                }
                pos
            }
        }
    }

    fn items(
        &self,
        g: &Group,
        kids: &[XNode<'_, '_>],
        mut pos: usize,
        prefix: &str,
        v: &mut FormValues,
    ) -> usize {
        if g.kind == GroupKind::All {
            let mut done = vec![false; g.items.len()];
            loop {
                let before = pos;
                for (i, it) in g.items.iter().enumerate() {
                    if !done[i] {
                        let p = self.node(it, kids, pos, prefix, v);
                        if p > pos {
                            done[i] = true;
                            pos = p;
                        }
                    }
                }
                if pos == before {
                    return pos;
                }
            }
        }
        for it in &g.items {
            pos = self.node(it, kids, pos, prefix, v);
        }
        pos
    }

    fn group(
        &self,
        g: &Group,
        kids: &[XNode<'_, '_>],
        mut pos: usize,
        prefix: &str,
        v: &mut FormValues,
    ) -> usize {
        if g.key.is_empty() && g.kind != GroupKind::Choice {
            return self.items(g, kids, pos, prefix, v);
        }
        let base = format!("{prefix}.{}", g.key);
        let repeats = g.max != Some(1);
        let mut count = 0u32;
        while g.max.is_none_or(|m| count < m) && pos < kids.len() {
            let p = if repeats {
                format!("{base}[{count}]")
            } else {
                base.clone()
            };
            let (new_pos, scratch) = if g.kind == GroupKind::Choice {
                let mut best: Option<(usize, usize, FormValues)> = None;
                for (j, it) in g.items.iter().enumerate() {
                    let mut s = FormValues::new();
                    let bp = format!("{p}.b{j}");
                    let np = self.node(it, kids, pos, &bp, &mut s);
                    if np > pos && best.as_ref().is_none_or(|(_, b, _)| np > *b) {
                        s.set(format!("{bp}#on"), "1");
                        best = Some((j, np, s));
                    }
                }
                match best {
                    Some((j, np, mut s)) => {
                        s.set(p.clone(), j.to_string());
                        (np, s)
                    }
                    None => break,
                }
            } else {
                let mut s = FormValues::new();
                let np = self.items(g, kids, pos, &p, &mut s);
                s.set(format!("{p}#on"), "1");
                (np, s)
            };
            if new_pos == pos {
                break;
            }
            for (k, x) in scratch.iter() {
                v.set(k, x);
            }
            pos = new_pos;
            count += 1;
        }
        if repeats && count > 0 {
            v.set(format!("{base}#n"), count.to_string());
        }
        pos
    }
}

impl Form {
    /// Reads the values of an existing instance of the form's root (best effort: elements the
    /// form does not expect where they stand are skipped). The root may also be found inside
    /// another document (e.g. an envelope).
    pub fn values_from_xml(&self, xml: &str) -> Result<FormValues, FormError> {
        let opts = roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(xml, opts)
            .map_err(|e| FormError::Instance(e.to_string()))?;
        let root = doc
            .descendants()
            .find(|n| n.is_element() && is_match(&self.root, n))
            .ok_or_else(|| {
                FormError::Instance(format!("no element {} in the document", self.root.name))
            })?;
        let mut v = FormValues::new();
        Reader { input: xml }.element(&self.root, &root, &self.root_path(), &mut v);
        Ok(v)
    }
}
