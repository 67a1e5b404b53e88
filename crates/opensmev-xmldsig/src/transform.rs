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
//! * the two Java XML stacks the reference runs on differ in a few corners, so there are two
//!   [`Flavor`]s (they give identical bytes for ordinary data):
//!   - [`Flavor::Woodstox`] (the default): the reference on Woodstox, as inside Apache CXF
//!     applications (the official client, SMEV itself). MR 3.5.0.27 "step 9" describes exactly
//!     this writer: a text node is one piece; text escapes `&`, `<`, CR (`&#xd;`), U+007F–U+009F
//!     (`&#x..;`) and `>` only at the start of a write segment or after `]` (texts of 12 or more
//!     UTF-16 units are written in 512-unit chunks, and a segment restarts after each escape);
//!     attribute values escape `&`, `<`, `"`, TAB, LF, CR (`&#x9;`, `&#xa;`, `&#xd;`). Woodstox
//!     refuses elements in no namespace and attributes in the `xml:` namespace (the reference
//!     then fails).
//!   - [`Flavor::Jdk`]: the reference on the JDK's built-in StAX. Its non-coalescing reader
//!     reports each entity reference of the C14N text (`&amp;`, `&lt;`, `&gt;`, `&#xD;`) as a
//!     piece of its own, and blank pieces are dropped one by one; text escapes `&`, `<`, `>`;
//!     attribute values escape `&`, `<`, `>`, `"` (TAB, LF, CR raw). An element in no namespace
//!     gets a generated prefix bound to the empty URI (`<ns2:a xmlns:ns2="">`), an `xml:`
//!     attribute a generated prefix for the XML namespace.
//!
//! Evidence and test vectors: `tests/data/transform/README.md`.
//!
//! Field implementations that are *not* the reference (the Python port of danbka/smev-transform,
//! GostCryptography's .NET transform on Windows) differ from it on text; they are reproduced as
//! [`TransformVariant`]s, computed only to explain (or, per IS, accept) a digest that did not
//! match the reference. Evidence: `tests/data/transform-ports/README.md`.
//!
//! Input is an element of a [`Document`](crate::xml::Document) (equivalently: the exclusive
//! canonical form of that element, which has the same information set), so the exclusive
//! C14N step that precedes this transform in SMEV signatures needs no separate pass.

use std::io::Write;
use std::sync::Arc;

use crate::xml::{Element, Item, Limits, Walker, XmlError};

mod fast;
mod variant;

pub use variant::{TransformVariant, transform_element_variant};

/// The transform algorithm URI.
pub const SMEV_TRANSFORM_URI: &str = "urn://smev-gov-ru/xmldsig/transform";

/// Which Java XML stack's behaviour to reproduce (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Woodstox, as in MR 3.5.0.27 step 9 (the default).
    #[default]
    Woodstox,
    /// The JDK's built-in StAX.
    Jdk,
}

impl Flavor {
    /// The other flavor.
    pub fn other(self) -> Flavor {
        match self {
            Flavor::Woodstox => Flavor::Jdk,
            Flavor::Jdk => Flavor::Woodstox,
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Woodstox => "Woodstox (MR 3.5.0.27)",
            Flavor::Jdk => "JDK StAX",
        }
    }
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
    /// The reference implementation on this flavor's XML stack cannot process the input.
    #[error("{0}")]
    Unsupported(String),
}

/// Applies the SMEV transform to `element` (its whole subtree), writing to `out`.
///
/// `skip` is the byte range of a descendant to leave out (an enveloped signature), if any.
pub fn transform_element(
    element: &Element<'_, '_>,
    skip: Option<std::ops::Range<usize>>,
    flavor: Flavor,
    out: &mut dyn Write,
) -> Result<(), TransformError> {
    if flavor == Flavor::Woodstox {
        #[cfg(debug_assertions)]
        {
            // The direct reading must give the walker's result, byte for byte.
            let mut fast_out = Vec::new();
            let fast = fast::transform_woodstox(element, skip.clone(), &mut fast_out);
            let mut slow_out = Vec::new();
            let slow = run(element.walker(), skip, flavor, &mut slow_out);
            assert_eq!(
                (fast.as_ref().map_err(ToString::to_string), &fast_out),
                (slow.as_ref().map_err(ToString::to_string), &slow_out),
                "fast and walker transforms differ on {:?}",
                element.source()
            );
            out.write_all(&fast_out)?;
            return fast;
        }
        #[cfg(not(debug_assertions))]
        return fast::transform_woodstox(element, skip, out);
    }
    run(element.walker(), skip, flavor, out)
}

/// Applies the SMEV transform to a whole document given as UTF-8 bytes (its root element).
pub fn transform_document(
    input: &[u8],
    limits: Limits,
    flavor: Flavor,
) -> Result<Vec<u8>, TransformError> {
    let text = crate::xml::decode_utf8(input)?;
    let walker = Walker::document(text, limits)?;
    let mut out = Vec::with_capacity(input.len());
    run(walker, None, flavor, &mut out)?;
    Ok(out)
}

struct Frame<'a> {
    prefix: Arc<str>,
    local: &'a str,
    /// Index into `bindings` where this element's own bindings start.
    bindings_start: usize,
}

fn run<'a>(
    mut walker: Walker<'a>,
    skip: Option<std::ops::Range<usize>>,
    flavor: Flavor,
    out: &mut dyn Write,
) -> Result<(), TransformError> {
    let mut out = std::io::BufWriter::with_capacity(16 * 1024, out);
    // Bindings made in the output by open elements: (generated prefix, URI).
    let mut bindings: Vec<(Arc<str>, Arc<str>)> = Vec::new();
    let mut frames: Vec<Frame<'a>> = Vec::new();
    let mut counter: u64 = 1;
    let mut text = String::new();
    let mut skipping: usize = 0;
    let empty_uri: Arc<str> = Arc::from("");

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
                flush_text(&mut text, flavor, &mut out)?;
                let bindings_start = bindings.len();
                if flavor == Flavor::Woodstox {
                    if tag.ns.is_none() {
                        return Err(TransformError::Unsupported(format!(
                            "element <{}> has no namespace; the reference transform on Woodstox cannot process it",
                            tag.local
                        )));
                    }
                    if let Some(a) = tag
                        .attrs
                        .iter()
                        .find(|a| a.ns.as_deref() == Some(crate::xml::XML_NS))
                    {
                        return Err(TransformError::Unsupported(format!(
                            "attribute xml:{} cannot be processed by the reference transform on Woodstox",
                            a.local
                        )));
                    }
                }
                let uri = tag.ns.clone().unwrap_or_else(|| empty_uri.clone());
                let mut declare: Vec<usize> = Vec::new();
                let prefix = find_or_bind(&mut bindings, &uri, &mut counter, &mut declare);

                let mut attrs: Vec<(Option<Arc<str>>, &str, &str)> = tag
                    .attrs
                    .iter()
                    .map(|a| (a.ns.clone(), a.local, &*a.value))
                    .collect();
                // Java's `String.compareTo` order: UTF-16 code units.
                let java = |a: &str, b: &str| a.encode_utf16().cmp(b.encode_utf16());
                attrs.sort_by(|x, y| match (&x.0, &y.0) {
                    (None, None) => java(x.1, y.1),
                    (Some(xn), Some(yn)) => java(xn, yn).then_with(|| java(x.1, y.1)),
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
                out.write_all(prefix.as_bytes())?;
                out.write_all(b":")?;
                out.write_all(tag.local.as_bytes())?;
                for index in declare {
                    let (p, u) = &bindings[index];
                    out.write_all(b" xmlns:")?;
                    out.write_all(p.as_bytes())?;
                    out.write_all(b"=\"")?;
                    write_attr(&mut out, u, flavor)?;
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
                    write_attr(&mut out, value, flavor)?;
                    out.write_all(b"\"")?;
                }
                out.write_all(b">")?;
                frames.push(Frame {
                    prefix,
                    local: tag.local,
                    bindings_start,
                });
            }
            Item::End { .. } => {
                flush_text(&mut text, flavor, &mut out)?;
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
            Item::Pi(_) => flush_text(&mut text, flavor, &mut out)?,
        }
    }
    out.flush()?;
    Ok(())
}

/// Finds the prefix bound to `uri` by an open element of the output, or binds a new `nsN`
/// (recording the binding's index in `declare`, so the caller writes its declaration).
fn find_or_bind(
    bindings: &mut Vec<(Arc<str>, Arc<str>)>,
    uri: &Arc<str>,
    counter: &mut u64,
    declare: &mut Vec<usize>,
) -> Arc<str> {
    if let Some((prefix, _)) = bindings.iter().find(|(_, u)| u == uri) {
        return prefix.clone();
    }
    let prefix: Arc<str> = Arc::from(format!("ns{counter}"));
    *counter += 1;
    declare.push(bindings.len());
    bindings.push((prefix.clone(), uri.clone()));
    prefix
}

fn is_blank(text: &str) -> bool {
    // Bytes of multi-byte characters are all above 0x7F, so this is "every character <= ' '".
    text.bytes().all(|b| b <= b' ')
}

/// Writes the pending text node, dropping blank pieces.
fn flush_text(text: &mut String, flavor: Flavor, out: &mut dyn Write) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    match flavor {
        Flavor::Woodstox => {
            if !is_blank(text) {
                write_text_woodstox(out, text)?;
            }
        }
        Flavor::Jdk => {
            // Pieces as the JDK reader reports them on C14N output: runs between the characters
            // C14N writes as references, and each such character alone.
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let cut = rest.find(['&', '<', '>', '\r']).unwrap_or(rest.len());
                let (run, tail) = rest.split_at(cut);
                if !run.is_empty() && !is_blank(run) {
                    write_text_jdk(out, run)?;
                }
                match tail.as_bytes().first() {
                    // A lone CR is blank and dropped; `&`, `<`, `>` are kept.
                    Some(b'\r') => rest = &tail[1..],
                    Some(_) => {
                        write_text_jdk(out, &tail[..1])?;
                        rest = &tail[1..];
                    }
                    None => rest = tail,
                }
            }
        }
    }
    text.clear();
    Ok(())
}

fn write_text_jdk(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    write_replacing(out, text, |c, _| match c {
        '&' => Some(Escape::Named("&amp;")),
        '<' => Some(Escape::Named("&lt;")),
        '>' => Some(Escape::Named("&gt;")),
        _ => None,
    })
}

fn write_attr(out: &mut dyn Write, text: &str, flavor: Flavor) -> std::io::Result<()> {
    match flavor {
        Flavor::Jdk => write_replacing(out, text, |c, _| match c {
            '&' => Some(Escape::Named("&amp;")),
            '<' => Some(Escape::Named("&lt;")),
            '>' => Some(Escape::Named("&gt;")),
            '"' => Some(Escape::Named("&quot;")),
            _ => None,
        }),
        Flavor::Woodstox => write_replacing(out, text, |c, _| match c {
            '&' => Some(Escape::Named("&amp;")),
            '<' => Some(Escape::Named("&lt;")),
            '"' => Some(Escape::Named("&quot;")),
            '\t' | '\n' | '\r' => Some(Escape::Hex),
            _ => None,
        }),
    }
}

/// Woodstox `BaseStreamWriter.writeCharacters(String)` + `BufferingXmlWriter`: texts shorter than
/// 12 UTF-16 units take the `String` path (`>` escaped only at index 0 or after `]`); longer ones
/// are copied in 512-unit chunks to the `char[]` path, where a write segment restarts at each
/// chunk and after each escaped character, and `>` is escaped at a segment start or after `]`.
fn write_text_woodstox(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    let long = text.encode_utf16().nth(11).is_some();
    let mut pos: usize = 0; // UTF-16 offset of the current character
    let mut segment_start = true;
    let mut prev: Option<char> = None;
    write_replacing(out, text, |c, _| {
        let at_chunk_start = long && pos.is_multiple_of(512);
        if at_chunk_start {
            segment_start = true;
        }
        let escape = match c {
            '&' => Some(Escape::Named("&amp;")),
            '<' => Some(Escape::Named("&lt;")),
            '>' => {
                let first = if long { segment_start } else { pos == 0 };
                (first || prev == Some(']')).then_some(Escape::Named("&gt;"))
            }
            '\r' | '\u{7f}'..='\u{9f}' => Some(Escape::Hex),
            _ => None,
        };
        segment_start = escape.is_some();
        pos += c.len_utf16();
        prev = Some(c);
        escape
    })
}

#[derive(Clone, Copy)]
enum Escape {
    Named(&'static str),
    /// `&#x..;` with lower-case hex digits, as Woodstox writes.
    Hex,
}

fn write_replacing(
    out: &mut dyn Write,
    text: &str,
    mut escape: impl FnMut(char, usize) -> Option<Escape>,
) -> std::io::Result<()> {
    let mut from = 0;
    for (i, c) in text.char_indices() {
        if let Some(e) = escape(c, i) {
            out.write_all(&text.as_bytes()[from..i])?;
            match e {
                Escape::Named(s) => out.write_all(s.as_bytes())?,
                Escape::Hex => write!(out, "&#x{:x};", c as u32)?,
            }
            from = i + c.len_utf8();
        }
    }
    out.write_all(&text.as_bytes()[from..])
}
