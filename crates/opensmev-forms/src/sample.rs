//! Sample values that satisfy the types and facets ([`Form::sample_values`]).

use crate::Lang;
use crate::check::check_value;
use crate::model::{Builtin, Content, Element, Form, Group, GroupKind, Node, SimpleType, Variety};
use crate::regex;
use crate::values::FormValues;

struct Sampler {
    full: bool,
    values: FormValues,
    ids: u32,
}

fn numeric_candidates(st: &SimpleType) -> Vec<String> {
    let f = &st.facets;
    let parse = |v: &Option<String>| v.as_deref().and_then(|x| x.trim().parse::<f64>().ok());
    let lo = parse(&f.min_inclusive).or(parse(&f.min_exclusive).map(|x| x + 1.0));
    let hi = parse(&f.max_inclusive).or(parse(&f.max_exclusive).map(|x| x - 1.0));
    let mut out = Vec::new();
    let one_ok = lo.is_none_or(|l| l <= 1.0) && hi.is_none_or(|h| h >= 1.0);
    if one_ok {
        out.push("1".to_string());
    }
    if let Some(v) = &f.min_inclusive {
        out.push(v.clone());
    }
    if let Some(l) = lo {
        out.push(format!("{}", l.ceil() as i64));
    }
    if let Some(v) = &f.max_inclusive {
        out.push(v.clone());
    }
    if let Some(h) = hi {
        out.push(format!("{}", h.floor() as i64));
    }
    if let (Some(l), Some(h)) = (parse(&f.min_exclusive), parse(&f.max_exclusive)) {
        out.push(format!("{}", (l + h) / 2.0));
    }
    out.push("0".into());
    out
}

fn text_candidate(st: &SimpleType) -> String {
    let mut s: String = "Пример".into();
    let min = st.min_len().unwrap_or(0) as usize;
    if let Some(max) = st.max_len() {
        s = s.chars().take(max as usize).collect();
    }
    while s.chars().count() < min {
        s.push('а');
    }
    s
}

/// A value satisfying the simple type; `seq` makes `xs:ID` values unique.
pub(crate) fn sample_simple(st: &SimpleType, seq: u32) -> String {
    match st.variety {
        Variety::Union => {
            for m in &st.members {
                let v = sample_simple(m, seq);
                if check_value(m, &v, Lang::Ru).is_ok() {
                    return v;
                }
            }
            return st
                .members
                .first()
                .map_or_else(|| "Пример".into(), |m| sample_simple(m, seq));
        }
        Variety::List => {
            return st
                .members
                .first()
                .map_or_else(|| "Пример".into(), |m| sample_simple(m, seq));
        }
        Variety::Atomic => {}
    }
    let f = &st.facets;
    if let Some((first, _)) = f.enumeration.first() {
        return first.clone();
    }
    if let Some(kind) = st.ident
        && let Ok(v) = check_value(st, kind.sample(), Lang::Ru)
    {
        return v;
    }
    let mut candidates: Vec<String> = Vec::new();
    let want = st.min_len().unwrap_or(0).max(1) as usize;
    for step in f.patterns.iter().rev() {
        for p in step {
            candidates.extend(regex::generate(p, want));
        }
    }
    let typed: Vec<String> = match st.base {
        Builtin::Boolean => vec!["true".into()],
        Builtin::Date => vec!["2024-01-15".into()],
        Builtin::DateTime => vec![
            "2024-01-15T10:00:00+03:00".into(),
            "2024-01-15T10:00:00".into(),
        ],
        Builtin::Time => vec!["10:00:00".into()],
        Builtin::GYear => vec!["2024".into()],
        Builtin::GYearMonth => vec!["2024-01".into()],
        Builtin::GOther => vec!["--01".into(), "---15".into(), "--01-15".into()],
        Builtin::Duration => vec!["P1D".into()],
        Builtin::Base64 => vec!["AAAA".into()],
        Builtin::HexBinary => vec!["00".into()],
        Builtin::AnyUri => vec!["http://example.com".into()],
        Builtin::Id | Builtin::IdRef => vec![format!("id{seq}")],
        Builtin::Integer | Builtin::Decimal | Builtin::Float => numeric_candidates(st),
        _ => vec![text_candidate(st), "1".into(), "А".into()],
    };
    candidates.extend(typed);
    for c in candidates.iter().filter(|c| !c.trim().is_empty()) {
        if let Ok(v) = check_value(st, c, Lang::Ru) {
            return v;
        }
    }
    candidates.into_iter().next().unwrap_or_default()
}

impl Sampler {
    fn simple(&mut self, st: &SimpleType) -> String {
        self.ids += 1;
        sample_simple(st, self.ids)
    }

    fn items(&self, min: u32, max: Option<u32>) -> usize {
        let n = if min >= 1 {
            min as usize
        } else if self.full {
            1
        } else {
            0
        };
        max.map_or(n, |m| n.min(m as usize))
    }

    fn paths(&mut self, base: &str, min: u32, max: Option<u32>) -> Vec<String> {
        if max == Some(1) {
            if min >= 1 {
                return vec![base.to_string()];
            }
            if self.full {
                self.values.set(format!("{base}#on"), "1");
                return vec![base.to_string()];
            }
            return Vec::new();
        }
        let n = self.items(min, max);
        if n > 0 {
            self.values.set(format!("{base}#n"), n.to_string());
        }
        (0..n).map(|i| format!("{base}[{i}]")).collect()
    }

    fn element(&mut self, el: &Element, path: &str) {
        for a in &el.attributes {
            if !(a.required || self.full) {
                continue;
            }
            let v = match &a.fixed {
                Some(f) => f.clone(),
                None => self.simple(&a.ty),
            };
            self.values.set(format!("{path}.@{}", a.name), v);
        }
        match &el.content {
            Content::Simple(st) => {
                let v = match &el.fixed {
                    Some(f) => f.clone(),
                    None => self.simple(st),
                };
                self.values.set(path, v);
            }
            Content::Complex { group, .. } => self.group(group, path),
            Content::Empty => {}
        }
    }

    fn node(&mut self, n: &Node, prefix: &str) {
        match n {
            Node::Element(e) => {
                let base = format!("{prefix}.{}", e.name);
                for p in self.paths(&base, e.min, e.max) {
                    self.element(e, &p);
                }
            }
            Node::Group(g) => self.group(g, prefix),
            Node::Any(a) => {
                let base = format!("{prefix}.{}", a.key);
                let ns = a
                    .namespace
                    .split_whitespace()
                    .find(|t| !t.starts_with("##"))
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        if a.namespace.contains("##local") {
                            String::new()
                        } else {
                            "urn:opensmev:sample".into()
                        }
                    });
                for p in self.paths(&base, a.min, a.max) {
                    self.values
                        .set(p, format!("<sample xmlns=\"{ns}\">Пример</sample>"));
                }
            }
        }
    }

    fn group(&mut self, g: &Group, prefix: &str) {
        if g.key.is_empty() {
            for it in &g.items {
                self.node(it, prefix);
            }
            return;
        }
        let base = format!("{prefix}.{}", g.key);
        if g.kind == GroupKind::Choice {
            let n = if g.max == Some(1) {
                usize::from(g.min >= 1 || self.full)
            } else {
                self.items(g.min, g.max)
            };
            for i in 0..n {
                let p = if g.max == Some(1) {
                    base.clone()
                } else {
                    format!("{base}[{i}]")
                };
                if g.max != Some(1) {
                    self.values.set(format!("{base}#n"), n.to_string());
                }
                let Some(first) = g.items.first() else {
                    continue;
                };
                self.values.set(p.clone(), "0");
                let bp = format!("{p}.b0");
                if g.min == 0 {
                    self.values.set(format!("{bp}#on"), "1");
                }
                self.node(first, &bp);
            }
            return;
        }
        for p in self.paths(&base, g.min, g.max) {
            for it in &g.items {
                self.node(it, &p);
            }
        }
    }
}

impl Form {
    /// Values for every required field (first branch of each choice, one item of each required
    /// repeat, optional parts left out), each satisfying its type and facets.
    pub fn sample_values(&self) -> FormValues {
        self.sample(false)
    }

    /// Like [`Form::sample_values`], with every optional element and attribute filled too.
    pub fn sample_values_full(&self) -> FormValues {
        self.sample(true)
    }

    fn sample(&self, full: bool) -> FormValues {
        let mut s = Sampler {
            full,
            values: FormValues::new(),
            ids: 0,
        };
        s.element(&self.root, &self.root_path());
        s.values
    }
}
