//! The SMEV 3 transform `urn://smev-gov-ru/xmldsig/transform`, streaming.
//!
//! Behaviour follows the official reference implementation (Voskhod `SmevTransformSpi`, see
//! `shared/ref/smev3/PROTOCOL.md` §7.3) exactly, because every SMEV node and client computes its
//! digests with it or with ports of it:
//! * only elements, attributes and non-blank text survive: the XML declaration, processing
//!   instructions and comments are dropped, and so is every text piece made only of characters
//!   `<= U+0020`;
//! * every element and qualified attribute gets a generated prefix `ns1`, `ns2`, … from one counter
//!   per fragment; a namespace already bound by an *open* ancestor in the output is reused, one
//!   bound on a closed sibling is not (it is declared again under a new number);
//! * original prefixes and namespace declarations are discarded; the declarations written are the
//!   element's own namespace first, then the namespaces of its attributes in attribute order;
//! * attributes are sorted: qualified ones first, by namespace URI then local name; unqualified
//!   ones after them, by local name;
//! * an element without content is written `<a></a>`, never `<a/>`;
//! * output is UTF-8 without a declaration; text escapes `&`, `<`, `>`; attribute values (and
//!   namespace URIs) escape `&`, `<`, `>`, `"` — what the JDK `XMLStreamWriter` does;
//! * an element in no namespace is treated as the reference does: it is given a generated prefix
//!   bound to the empty URI (`<ns2:a xmlns:ns2="">`). Such output is not namespace-well-formed, but
//!   it is what the reference hashes (it cannot process such elements any other way);
//! * text splitting: the reference reads the exclusive-C14N output with the JDK's non-coalescing
//!   StAX parser, which reports each entity reference (`&amp;`, `&lt;`, `&gt;`, `&#xD;`) as a
//!   character event of its own, and drops blank events one by one. So within a text node, runs
//!   between the characters `&`, `<`, `>`, CR are checked for blankness separately
//!   ([`TextSplitting::JdkStax`], the default). [`TextSplitting::Coalesced`] treats each text node
//!   as one piece instead; the two differ only for blank runs next to those characters.
//!
//! Input is an element of a [`Document`](crate::xml::Document) (equivalently: the exclusive
//! canonical form of that element, which has the same information set), so the exclusive
//! C14N step that precedes this transform in SMEV signatures needs no separate pass.

use std::io::Write;
use std::rc::Rc;

use crate::xml::{Element, Item, Limits, Walker, XmlError};

/// The transform algorithm URI.
pub const SMEV_TRANSFORM_URI: &str = "urn://smev-gov-ru/xmldsig/transform";

/// How text nodes are split before blank pieces are dropped (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextSplitting {
    /// As the reference implementation on the JDK does (the default).
    #[default]
    JdkStax,
    /// One piece per text node.
    Coalesced,
}

/// Errors of the transform.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The input is not acceptable XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// Writing the output failed.
    #[error("writing transform output: {0}")]
    Io(#[from] std::io::Error),
}

/// Applies the SMEV transform to `element` (its whole subtree), writing to `out`.
///
/// `skip` is the byte range of a descendant to leave out (an enveloped signature), if any.
pub fn transform_element(
    element: &Element<'_, '_>,
    skip: Option<std::ops::Range<usize>>,
    splitting: TextSplitting,
    out: &mut dyn Write,
) -> Result<(), TransformError> {
    run(element.walker(), skip, splitting, out)
}

/// Applies the SMEV transform to a whole document given as UTF-8 bytes (its root element).
pub fn transform_document(input: &[u8], limits: Limits, splitting: TextSplitting) -> Result<Vec<u8>, TransformError> {
    let text = crate::xml::decode_utf8(input)?;
    let walker = Walker::document(text, limits)?;
    let mut out = Vec::with_capacity(input.len());
    run(walker, None, splitting, &mut out)?;
    Ok(out)
}

struct Frame<'a> {
    prefix: Rc<str>,
    local: &'a str,
    /// Index into `bindings` where this element's own bindings start.
    bindings_start: usize,
}

fn run<'a>(
    mut walker: Walker<'a>,
    skip: Option<std::ops::Range<usize>>,
    splitting: TextSplitting,
    out: &mut dyn Write,
) -> Result<(), TransformError> {
    let mut out = std::io::BufWriter::with_capacity(16 * 1024, out);
    // Bindings made in the output by open elements: (generated prefix, URI).
    let mut bindings: Vec<(Rc<str>, Rc<str>)> = Vec::new();
    let mut frames: Vec<Frame<'a>> = Vec::new();
    let mut counter: u64 = 1;
    let mut text = String::new();
    let mut skipping: usize = 0;
    let empty_uri: Rc<str> = Rc::from("");

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
                flush_text(&mut text, splitting, &mut out)?;
                let bindings_start = bindings.len();
                let uri = tag.ns.clone().unwrap_or_else(|| empty_uri.clone());
                let mut declare: Vec<usize> = Vec::new();
                let prefix = find_or_bind(&mut bindings, &uri, &mut counter, &mut declare);

                let mut attrs: Vec<(Option<Rc<str>>, &str, &str)> =
                    tag.attrs.iter().map(|a| (a.ns.clone(), a.local, &*a.value)).collect();
                attrs.sort_by(|x, y| match (&x.0, &y.0) {
                    (None, None) => x.1.cmp(y.1),
                    (Some(xn), Some(yn)) => xn.cmp(yn).then_with(|| x.1.cmp(y.1)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                });
                let mut attr_prefixes: Vec<Option<Rc<str>>> = Vec::with_capacity(attrs.len());
                for (ns, _, _) in &attrs {
                    attr_prefixes.push(
                        ns.as_ref().map(|ns| find_or_bind(&mut bindings, ns, &mut counter, &mut declare)),
                    );
                }

                out.write_all(b"<")?;
                out.write_all(prefix.as_bytes())?;
                out.write_all(b":")?;
                out.write_all(tag.local.as_bytes())?;
                for index in declare {
                    let (p, u) = &bindings[index];
                    out.write_all(b" xmlns:")?;
                    out.write_all(p.as_bytes())?;
                    out.write_all(b"=\"")?;
                    write_escaped(&mut out, u, true)?;
                    out.write_all(b"\"")?;
                }
                for ((_, local, value), p) in attrs.iter().zip(&attr_prefixes) {
                    out.write_all(b" ")?;
                    if let Some(p) = p {
                        out.write_all(p.as_bytes())?;
                        out.write_all(b":")?;
                    }
                    out.write_all(local.as_bytes())?;
                    out.write_all(b"=\"")?;
                    write_escaped(&mut out, value, true)?;
                    out.write_all(b"\"")?;
                }
                out.write_all(b">")?;
                frames.push(Frame { prefix, local: tag.local, bindings_start });
            }
            Item::End { .. } => {
                flush_text(&mut text, splitting, &mut out)?;
                if let Some(frame) = frames.pop() {
                    out.write_all(b"</")?;
                    out.write_all(frame.prefix.as_bytes())?;
                    out.write_all(b":")?;
                    out.write_all(frame.local.as_bytes())?;
                    out.write_all(b">")?;
                    bindings.truncate(frame.bindings_start);
                }
            }
            Item::Text(t) => text.push_str(&t),
            Item::Reference(c) => text.push(c),
            // Comments vanish in exclusive C14N (without comments), so the text around them is
            // one node; a processing instruction survives C14N and splits the text.
            Item::Comment(_) => {}
            Item::Pi(_) => flush_text(&mut text, splitting, &mut out)?,
        }
    }
    out.flush()?;
    Ok(())
}

/// Finds the prefix bound to `uri` by an open element of the output, or binds a new `nsN`
/// (recording the binding's index in `declare`, so the caller writes its declaration).
fn find_or_bind(
    bindings: &mut Vec<(Rc<str>, Rc<str>)>,
    uri: &Rc<str>,
    counter: &mut u64,
    declare: &mut Vec<usize>,
) -> Rc<str> {
    if let Some((prefix, _)) = bindings.iter().find(|(_, u)| u == uri) {
        return prefix.clone();
    }
    let prefix: Rc<str> = Rc::from(format!("ns{counter}"));
    *counter += 1;
    declare.push(bindings.len());
    bindings.push((prefix.clone(), uri.clone()));
    prefix
}

fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c <= ' ')
}

/// Writes the pending text node, dropping blank pieces (see [`TextSplitting`]).
fn flush_text(text: &mut String, splitting: TextSplitting, out: &mut dyn Write) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    match splitting {
        TextSplitting::Coalesced => {
            if !is_blank(text) {
                write_escaped(out, text, false)?;
            }
        }
        TextSplitting::JdkStax => {
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let cut = rest.find(['&', '<', '>', '\r']).unwrap_or(rest.len());
                let (run, tail) = rest.split_at(cut);
                if !run.is_empty() && !is_blank(run) {
                    write_escaped(out, run, false)?;
                }
                if let Some(special) = tail.chars().next() {
                    // `&`, `<`, `>` are not blank; a lone CR is, and is dropped.
                    if special != '\r' {
                        write_escaped(out, &tail[..1], false)?;
                    }
                    rest = &tail[1..];
                } else {
                    rest = tail;
                }
            }
        }
    }
    text.clear();
    Ok(())
}

/// Escapes as the JDK `XMLStreamWriter` does: `&`, `<`, `>` always, `"` in attribute values.
fn write_escaped(out: &mut dyn Write, text: &str, attribute: bool) -> std::io::Result<()> {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' if attribute => b"&quot;",
            _ => continue,
        };
        out.write_all(&bytes[from..i])?;
        out.write_all(replacement)?;
        from = i + 1;
    }
    out.write_all(&bytes[from..])
}
