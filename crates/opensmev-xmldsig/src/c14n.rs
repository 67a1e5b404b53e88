//! Exclusive XML Canonicalization 1.0 (`http://www.w3.org/2001/10/xml-exc-c14n#`), without
//! comments, of one element subtree, streaming.
//!
//! Rules (W3C "Exclusive XML Canonicalization 1.0" over XML-C14N 1.0):
//! * an element's namespace declarations are rendered only for prefixes it *visibly utilizes*
//!   (its own prefix, or the default namespace when unprefixed; its attributes' prefixes) plus the
//!   `InclusiveNamespaces PrefixList` ones, and only when the nearest output ancestor did not
//!   already render the same binding; `xmlns=""` is rendered only to undo a rendered default;
//! * declarations are sorted by prefix (default first), attributes by namespace URI (none first)
//!   then local name;
//! * text escapes `&`, `<`, `>`, CR; attribute values escape `&`, `<`, `"`, TAB, LF, CR;
//! * comments are dropped, processing instructions inside the element are kept, CDATA becomes
//!   text, empty elements are written as start and end tag;
//! * `xml:*` attributes are not inherited (unlike inclusive C14N).
//!
//! Differentially tested against libxml2's `xmlC14NExecute` (see `tests/c14n.rs`).

use std::io::Write;
use std::sync::Arc;

use crate::xml::{Element, Item, Walker, XmlError};

mod fast;

/// The algorithm URI.
pub const EXC_C14N_URI: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The algorithm URI of the with-comments variant (comments are still dropped: a same-document
/// reference to an element by `#id` is processed without comments per XMLDSig §4.3.3.3).
pub const EXC_C14N_WITH_COMMENTS_URI: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

/// Canonicalizes `element`, leaving out the subtree at byte range `skip`, if any.
///
/// `inclusive_prefixes` is the `InclusiveNamespaces/@PrefixList` (`#default` for the default
/// namespace).
pub fn canonicalize_element(
    element: &Element<'_, '_>,
    skip: Option<std::ops::Range<usize>>,
    inclusive_prefixes: &[String],
    out: &mut dyn Write,
) -> Result<(), C14nError> {
    #[cfg(debug_assertions)]
    {
        // The direct reading must give the walker's result, byte for byte.
        let mut fast_out = Vec::new();
        let fast = fast::canonicalize(element, skip.clone(), inclusive_prefixes, &mut fast_out);
        let mut slow_out = Vec::new();
        let slow = run(element.walker(), skip, inclusive_prefixes, &mut slow_out);
        assert_eq!(
            (fast.is_ok(), slow.is_ok(), &fast_out),
            (true, true, &slow_out),
            "fast and walker C14N differ on {:?}",
            element.source()
        );
        out.write_all(&fast_out)?;
        Ok(())
    }
    #[cfg(not(debug_assertions))]
    Ok(fast::canonicalize(element, skip, inclusive_prefixes, out)?)
}

/// Canonicalizes `element` into a vector.
pub fn canonicalize_to_vec(
    element: &Element<'_, '_>,
    inclusive_prefixes: &[String],
) -> Result<Vec<u8>, C14nError> {
    let mut out = Vec::with_capacity(element.range().len());
    canonicalize_element(element, None, inclusive_prefixes, &mut out)?;
    Ok(out)
}

/// Errors of canonicalization.
#[derive(Debug, thiserror::Error)]
pub enum C14nError {
    /// The input is not acceptable XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// Writing the output failed.
    #[error("writing canonical output: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
struct Rendered<'p> {
    prefix: &'p str,
    uri: Arc<str>,
    depth: usize,
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn run<'a>(
    mut walker: Walker<'a>,
    skip: Option<std::ops::Range<usize>>,
    inclusive_prefixes: &[String],
    out: &mut dyn Write,
) -> Result<(), C14nError> {
    let mut out = std::io::BufWriter::with_capacity(16 * 1024, out);
    let inclusive: Vec<&str> = inclusive_prefixes
        .iter()
        .map(|p| if p == "#default" { "" } else { p.as_str() })
        .collect();
    let mut rendered: Vec<Rendered<'_>> = Vec::with_capacity(16);
    let mut names: Vec<(&'a str, &'a str)> = Vec::with_capacity(16);
    let mut skipping = 0usize;
    // Per start tag, reused.
    let mut prefixes: Vec<&str> = Vec::with_capacity(8);
    let mut decls: Vec<(&str, Arc<str>)> = Vec::with_capacity(8);
    let mut order: Vec<usize> = Vec::with_capacity(8);

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
                let depth = names.len() + 1;
                // Prefixes to consider: visibly utilized ones, then the inclusive list.
                prefixes.clear();
                prefixes.push(tag.prefix);
                for attr in &tag.attrs {
                    if !attr.prefix.is_empty() && attr.prefix != "xml" {
                        prefixes.push(attr.prefix);
                    }
                }
                for p in &inclusive {
                    if p.is_empty() || walker.lookup(p).is_some() {
                        prefixes.push(p);
                    }
                }
                prefixes.sort_unstable();
                prefixes.dedup();
                decls.clear();
                for &p in &prefixes {
                    if p == "xml" {
                        continue;
                    }
                    let uri: Arc<str> = walker.lookup(p).unwrap_or_else(|| Arc::from(""));
                    let current = rendered
                        .iter()
                        .rev()
                        .find(|r| r.prefix == p)
                        .map(|r| &r.uri);
                    let needed = match current {
                        Some(c) => *c != uri,
                        // Nothing rendered yet: an empty default needs no declaration.
                        None => !uri.is_empty(),
                    };
                    if needed {
                        rendered.push(Rendered {
                            prefix: p,
                            uri: uri.clone(),
                            depth,
                        });
                        decls.push((p, uri));
                    }
                }

                order.clear();
                order.extend(0..tag.attrs.len());
                let key = |i: usize| {
                    let a = &tag.attrs[i];
                    (a.ns.as_deref().unwrap_or(""), a.local)
                };
                order.sort_by(|&x, &y| key(x).cmp(&key(y)));

                out.write_all(b"<")?;
                write_qname(&mut out, tag.prefix, tag.local)?;
                for (p, uri) in &decls {
                    if p.is_empty() {
                        out.write_all(b" xmlns=\"")?;
                    } else {
                        out.write_all(b" xmlns:")?;
                        out.write_all(p.as_bytes())?;
                        out.write_all(b"=\"")?;
                    }
                    write_attr_value(&mut out, uri)?;
                    out.write_all(b"\"")?;
                }
                for &i in &order {
                    let a = &tag.attrs[i];
                    out.write_all(b" ")?;
                    write_qname(&mut out, a.prefix, a.local)?;
                    out.write_all(b"=\"")?;
                    write_attr_value(&mut out, &a.value)?;
                    out.write_all(b"\"")?;
                }
                out.write_all(b">")?;
                names.push((tag.prefix, tag.local));
            }
            Item::End { .. } => {
                let depth = names.len();
                if let Some((prefix, local)) = names.pop() {
                    out.write_all(b"</")?;
                    write_qname(&mut out, prefix, local)?;
                    out.write_all(b">")?;
                }
                while rendered.last().is_some_and(|r| r.depth == depth) {
                    rendered.pop();
                }
            }
            Item::Text(t) => write_text(&mut out, &t)?,
            Item::Reference(c) => write_text(&mut out, c.encode_utf8(&mut [0; 4]))?,
            Item::Comment(_) => {}
            Item::Pi(pi) => {
                // `pi` is "target data" as written (without `<?` and `?>`); C14N writes the
                // target, one space, and the data.
                let pi: &str = &pi;
                let (target, data) = match pi.find([' ', '\t', '\n', '\r']) {
                    Some(i) => (
                        &pi[..i],
                        pi[i..].trim_start_matches([' ', '\t', '\n', '\r']),
                    ),
                    None => (pi, ""),
                };
                out.write_all(b"<?")?;
                out.write_all(target.as_bytes())?;
                if !data.is_empty() {
                    out.write_all(b" ")?;
                    out.write_all(data.as_bytes())?;
                }
                out.write_all(b"?>")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn write_qname(out: &mut dyn Write, prefix: &str, local: &str) -> std::io::Result<()> {
    if !prefix.is_empty() {
        out.write_all(prefix.as_bytes())?;
        out.write_all(b":")?;
    }
    out.write_all(local.as_bytes())
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn write_text(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    write_replacing(out, text, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn write_attr_value(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    write_replacing(out, text, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn write_replacing(
    out: &mut dyn Write,
    text: &str,
    replace: impl Fn(u8) -> Option<&'static [u8]>,
) -> std::io::Result<()> {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        if let Some(r) = replace(*b) {
            out.write_all(&bytes[from..i])?;
            out.write_all(r)?;
            from = i + 1;
        }
    }
    out.write_all(&bytes[from..])
}
