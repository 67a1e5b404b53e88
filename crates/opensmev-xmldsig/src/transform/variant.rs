//! Known non-reference implementations of the SMEV transform, reproduced so that a digest that
//! does not match the reference can be explained (and, for an IS that is allowed to, accepted).
//!
//! These are deliberately separate from the reference path (`run` / `fast`): they are only
//! computed after a reference digest did not match, and a change here can never change what the
//! bus computes for correct signers.
//!
//! * [`TransformVariant::PythonPort`] — the Python port of the PHP library danbka/smev-transform
//!   (PyPI `smev-transform` 2.0.0, `Transform.process`), read from its code and checked against
//!   its output (`tests/data/transform-ports/README.md`): a text piece is kept when it holds a
//!   character that is not Python white space (`str.strip`); every LF is removed from the text
//!   kept; text, attribute values and namespace URIs are written as parsed, without any
//!   escaping (`&`, `<`, `>`, `"` raw); an element in no namespace is written without a prefix
//!   and without a declaration (the counter does not advance); comments and processing
//!   instructions vanish and the text around them is one piece; attributes are sorted by code
//!   point (Python `str` order) with the reference's rule (qualified first, by namespace then
//!   name). Prefix generation is the reference's.
//! * [`TransformVariant::DotnetCrlf`] — GostCryptography's `XmlDsigSmevTransform` (.NET), which
//!   writes through an `XmlWriter` with `NewLineHandling.Replace` on Windows: every line break in
//!   text (CR LF, CR, LF) is written as CR LF; text escapes `&`, `<`, `>` always; attribute
//!   values escape `&`, `<`, `>`, `"` and TAB, LF, CR as `&#x9;`, `&#xA;`, `&#xD;`; a text piece
//!   is kept when it holds a non-white-space character (`String.Trim`); an element in no
//!   namespace is written without a prefix. Prefixes, declarations and attribute order are the
//!   reference's (only the writer's differences are modelled).

use std::io::Write;
use std::sync::Arc;

use super::{Escape, TransformError, find_or_bind, write_replacing};
use crate::xml::{Element, Item};

/// A known non-reference implementation of the SMEV transform (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransformVariant {
    /// The Python port of danbka/smev-transform (PyPI `smev-transform` 2.0.0): drops line
    /// breaks in text, writes `&` and `<` unescaped.
    PythonPort,
    /// GostCryptography's .NET `XmlDsigSmevTransform` on Windows: line breaks in text become
    /// CR LF.
    DotnetCrlf,
}

impl TransformVariant {
    /// Every known variant, in the order they are tried.
    pub const ALL: [TransformVariant; 2] =
        [TransformVariant::PythonPort, TransformVariant::DotnetCrlf];

    /// The name used in the registry (`transform_variant = "…"`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            TransformVariant::PythonPort => "python-port",
            TransformVariant::DotnetCrlf => "dotnet-crlf",
        }
    }

    /// The variant of a name as written in the registry.
    pub fn from_name(name: &str) -> Option<TransformVariant> {
        TransformVariant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// What the variant does, in English (a sentence fragment after "signed with").
    pub fn describe_en(self) -> &'static str {
        match self {
            TransformVariant::PythonPort => {
                "a transform that drops line breaks in text and does not escape & and <, as the \
                 Python port of smev-transform (PyPI smev-transform 2.0.0) does"
            }
            TransformVariant::DotnetCrlf => {
                "a transform that writes line breaks in text as CR LF, as the .NET \
                 GostCryptography XmlDsigSmevTransform does on Windows"
            }
        }
    }

    /// What the variant does, in Russian (a sentence fragment after «подписано»).
    pub fn describe_ru(self) -> &'static str {
        match self {
            TransformVariant::PythonPort => {
                "реализацией преобразования, удаляющей переводы строк в тексте и не \
                 экранирующей & и <, как Python-порт smev-transform (PyPI smev-transform 2.0.0)"
            }
            TransformVariant::DotnetCrlf => {
                "реализацией преобразования, записывающей переводы строк в тексте как CR LF, \
                 как .NET GostCryptography XmlDsigSmevTransform в Windows"
            }
        }
    }
}

impl std::fmt::Display for TransformVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TransformVariant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TransformVariant::from_name(s).ok_or_else(|| {
            let known: Vec<&str> = TransformVariant::ALL.iter().map(|v| v.name()).collect();
            format!(
                "unknown transform variant '{s}' (known: {})",
                known.join(", ")
            )
        })
    }
}

/// Python's `str.isspace` for one character.
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Applies the SMEV transform as `variant` does to `element` (its whole subtree), writing to
/// `out`. `skip` is the byte range of a descendant to leave out (an enveloped signature).
pub fn transform_element_variant(
    element: &Element<'_, '_>,
    skip: Option<std::ops::Range<usize>>,
    variant: TransformVariant,
    out: &mut dyn Write,
) -> Result<(), TransformError> {
    let mut walker = element.walker();
    let mut out = std::io::BufWriter::with_capacity(16 * 1024, out);
    let mut bindings: Vec<(Arc<str>, Arc<str>)> = Vec::new();
    // (generated prefix, or None for an element in no namespace; local name; bindings start)
    let mut frames: Vec<(Option<Arc<str>>, &str, usize)> = Vec::new();
    let mut counter: u64 = 1;
    let mut text = String::new();
    let mut skipping: usize = 0;

    while let Some(item) = walker.next_item()? {
        if skipping > 0 {
            match item {
                Item::Start(_) => skipping += 1,
                Item::End { .. } => skipping -= 1,
                _ => {}
            }
            continue;
        }
        match item {
            Item::Start(tag) => {
                if skip.as_ref().is_some_and(|r| r.start == tag.offset) {
                    skipping = 1;
                    continue;
                }
                flush_text(&mut text, variant, &mut out)?;
                let bindings_start = bindings.len();
                let mut declare: Vec<usize> = Vec::new();
                let prefix = tag
                    .ns
                    .as_ref()
                    .filter(|ns| !ns.is_empty())
                    .map(|ns| find_or_bind(&mut bindings, ns, &mut counter, &mut declare));
                let mut attrs: Vec<(Option<Arc<str>>, &str, &str)> = tag
                    .attrs
                    .iter()
                    .map(|a| (a.ns.clone(), a.local, &*a.value))
                    .collect();
                let order = |a: &str, b: &str| match variant {
                    // Python compares code points; .NET's comparer is ordinal over UTF-16.
                    TransformVariant::PythonPort => a.cmp(b),
                    TransformVariant::DotnetCrlf => a.encode_utf16().cmp(b.encode_utf16()),
                };
                attrs.sort_by(|x, y| match (&x.0, &y.0) {
                    (None, None) => order(x.1, y.1),
                    (Some(xn), Some(yn)) => order(xn, yn).then_with(|| order(x.1, y.1)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                });
                let mut attr_prefixes: Vec<Option<Arc<str>>> = Vec::with_capacity(attrs.len());
                for (ns, _, _) in &attrs {
                    attr_prefixes.push(
                        ns.as_ref()
                            .map(|ns| find_or_bind(&mut bindings, ns, &mut counter, &mut declare)),
                    );
                }
                out.write_all(b"<")?;
                write_name(&mut out, prefix.as_deref(), tag.local)?;
                for index in declare {
                    let (p, u) = &bindings[index];
                    out.write_all(b" xmlns:")?;
                    out.write_all(p.as_bytes())?;
                    out.write_all(b"=\"")?;
                    write_attr(&mut out, u, variant)?;
                    out.write_all(b"\"")?;
                }
                for ((_, local, value), p) in attrs.iter().zip(&attr_prefixes) {
                    out.write_all(b" ")?;
                    write_name(&mut out, p.as_deref(), local)?;
                    out.write_all(b"=\"")?;
                    write_attr(&mut out, value, variant)?;
                    out.write_all(b"\"")?;
                }
                out.write_all(b">")?;
                frames.push((prefix, tag.local, bindings_start));
            }
            Item::End { .. } => {
                flush_text(&mut text, variant, &mut out)?;
                if let Some((prefix, local, bindings_start)) = frames.pop() {
                    out.write_all(b"</")?;
                    write_name(&mut out, prefix.as_deref(), local)?;
                    out.write_all(b">")?;
                    bindings.truncate(bindings_start);
                }
            }
            Item::Text(t) => text.push_str(&t),
            Item::Reference(c) => text.push(c),
            Item::Comment(_) => {}
            // The Python port removes processing instructions from the input text before
            // parsing (the text around them joins); .NET skips the node (the text splits).
            Item::Pi(_) => {
                if variant == TransformVariant::DotnetCrlf {
                    flush_text(&mut text, variant, &mut out)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn write_name(out: &mut dyn Write, prefix: Option<&str>, local: &str) -> std::io::Result<()> {
    if let Some(p) = prefix {
        out.write_all(p.as_bytes())?;
        out.write_all(b":")?;
    }
    out.write_all(local.as_bytes())
}

fn flush_text(
    text: &mut String,
    variant: TransformVariant,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    match variant {
        TransformVariant::PythonPort => {
            if !text.chars().all(python_space) {
                let kept: String = text.chars().filter(|&c| c != '\n').collect();
                out.write_all(kept.as_bytes())?;
            }
        }
        TransformVariant::DotnetCrlf => {
            if !text.chars().all(char::is_whitespace) {
                let mut chars = text.chars().peekable();
                let mut buf = [0u8; 4];
                while let Some(c) = chars.next() {
                    match c {
                        '&' => out.write_all(b"&amp;")?,
                        '<' => out.write_all(b"&lt;")?,
                        '>' => out.write_all(b"&gt;")?,
                        '\r' => {
                            if chars.peek() == Some(&'\n') {
                                chars.next();
                            }
                            out.write_all(b"\r\n")?;
                        }
                        '\n' => out.write_all(b"\r\n")?,
                        c => out.write_all(c.encode_utf8(&mut buf).as_bytes())?,
                    }
                }
            }
        }
    }
    text.clear();
    Ok(())
}

fn write_attr(out: &mut dyn Write, value: &str, variant: TransformVariant) -> std::io::Result<()> {
    match variant {
        TransformVariant::PythonPort => out.write_all(value.as_bytes()),
        TransformVariant::DotnetCrlf => write_replacing(out, value, |c, _| match c {
            '&' => Some(Escape::Named("&amp;")),
            '<' => Some(Escape::Named("&lt;")),
            '>' => Some(Escape::Named("&gt;")),
            '"' => Some(Escape::Named("&quot;")),
            '\t' => Some(Escape::Named("&#x9;")),
            '\n' => Some(Escape::Named("&#xA;")),
            '\r' => Some(Escape::Named("&#xD;")),
            _ => None,
        }),
    }
}
