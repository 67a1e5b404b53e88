//! The SMEV transform in the Woodstox flavor, reading the element's validated byte range
//! directly: no walker items, no per-tag allocations, output through one reused buffer.
//!
//! It produces exactly what [`super::run`] produces from the trusted walker (debug builds check
//! that for every element they transform): the tokenizer below makes the same reading of a
//! range that [`Document`](crate::xml::Document) validated as `Walker::next_trusted`, and the
//! writing rules are those of the module docs. Texts and attribute values that need any escape
//! are written by the same functions as in [`super::run`].

use std::borrow::Cow;
use std::io::Write;
use std::ops::Range;

use super::{Flavor, TransformError, is_blank, write_attr, write_text_woodstox};
use crate::xml::tag::{end_tag, start_tag_split};
use crate::xml::{Element, XML_NS, normalize_eol, resolve_trusted, swar};

/// Output is handed to the sink in pieces of about this size.
const CHUNK: usize = 8 * 1024;

/// Classes of bytes in character data: [`STOP`] ends a piece of text, [`CR`] needs line-end
/// normalisation, [`ESCAPE`] may need Woodstox's escapes beyond `&` and `<` (`>`, DEL, and
/// 0xC2, the lead byte of U+0080–U+00BF, which holds the C1 controls), [`INK`] is not blank.
const STOP: u8 = 1;
const CR: u8 = 2;
const ESCAPE: u8 = 4;
const INK: u8 = 8;
const TEXT_CLASS: [u8; 256] = {
    let mut t = [INK; 256];
    let mut b = 0;
    while b <= 0x20 {
        t[b] = 0;
        b += 1;
    }
    t[b'\r' as usize] = CR;
    t[b'<' as usize] = STOP;
    t[b'&' as usize] = STOP;
    t[b'>' as usize] = INK | ESCAPE;
    t[0x7F] = INK | ESCAPE;
    t[0xC2] = INK | ESCAPE;
    t
};

/// Bytes that make an attribute value need [`write_attr`] (Woodstox): `&`, `<`, `"`, TAB, LF, CR.
const ATTR_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t
};

/// An open output element.
struct Frame<'s> {
    prefix: u64,
    local: &'s str,
    /// Length of `bindings` before this element's own.
    bindings_start: usize,
    /// Length of `scope` before this element's declarations.
    scope_start: usize,
}

/// An attribute of the current start tag: prefix, namespace (`None` = none), local name, value.
type Attribute<'s> = (&'s str, Option<Cow<'s, str>>, &'s str, Cow<'s, str>);

struct Out<'o> {
    buf: Vec<u8>,
    sink: &'o mut dyn Write,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    fn prefix(&mut self, n: u64) {
        self.put(b"ns");
        self.number(n);
    }

    fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.sink.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> std::io::Result<()> {
        let b = text.as_bytes();
        let mut amp_or_lt = false;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'&' | b'<' => amp_or_lt = true,
                b'>' | b'\r' | 0x7F => return write_text_woodstox(&mut self.buf, text),
                0xC2 if b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n)) => {
                    return write_text_woodstox(&mut self.buf, text);
                }
                _ => {}
            }
        }
        // Only `&` and `<` to escape, and Woodstox always escapes them.
        if amp_or_lt {
            let mut from = 0;
            for (i, &c) in b.iter().enumerate() {
                let escape: &[u8] = match c {
                    b'&' => b"&amp;",
                    b'<' => b"&lt;",
                    _ => continue,
                };
                self.buf.extend_from_slice(&b[from..i]);
                self.buf.extend_from_slice(escape);
                from = i + 1;
            }
            self.buf.extend_from_slice(&b[from..]);
        } else {
            self.put(b);
        }
        Ok(())
    }

    fn attr(&mut self, value: &str) -> std::io::Result<()> {
        if value.bytes().any(|b| ATTR_ESCAPE[b as usize]) {
            write_attr(&mut self.buf, value, Flavor::Woodstox)
        } else {
            self.put(value.as_bytes());
            Ok(())
        }
    }
}

/// The pending text node: nothing, one piece of the input (with the OR of its bytes'
/// [`TEXT_CLASS`]es), or several pieces joined.
struct Text<'s> {
    single: Option<(&'s str, u8)>,
    joined: String,
}

impl<'s> Text<'s> {
    fn add(&mut self, piece: &'s str, class: u8) {
        if self.single.is_none() && self.joined.is_empty() {
            self.single = Some((piece, class));
        } else {
            self.add_owned(piece);
        }
    }

    fn add_owned(&mut self, piece: &str) {
        if let Some((first, _)) = self.single.take() {
            self.joined.push_str(first);
        }
        self.joined.push_str(piece);
    }

    fn add_char(&mut self, c: char) {
        if let Some((first, _)) = self.single.take() {
            self.joined.push_str(first);
        }
        self.joined.push(c);
    }

    fn flush(&mut self, out: &mut Out<'_>) -> std::io::Result<()> {
        if let Some((text, class)) = self.single.take() {
            if class & INK != 0 {
                if class & ESCAPE == 0 {
                    // No `&` or `<` either: a piece of the input has none.
                    out.put(text.as_bytes());
                } else {
                    out.text(text)?;
                }
            }
        } else if !self.joined.is_empty() {
            if !is_blank(&self.joined) {
                out.text(&self.joined)?;
            }
            self.joined.clear();
        }
        Ok(())
    }
}

/// [`super::transform_element`] for [`Flavor::Woodstox`].
pub(super) fn transform_woodstox(
    element: &Element<'_, '_>,
    skip: Option<Range<usize>>,
    sink: &mut dyn Write,
) -> Result<(), TransformError> {
    let inherited = element.inherited_scope();
    let mut out = Out {
        buf: crate::xml::scratch::take(),
        sink,
    };
    let result = run(
        element.document().text(),
        element.range(),
        &inherited,
        skip,
        &mut out,
    );
    // Like a `BufWriter` dropped on an error, hand over what was written so far.
    let flushed = out.flush();
    crate::xml::scratch::give_back(out.buf);
    result?;
    Ok(flushed?)
}

fn run<'s>(
    text: &'s str,
    range: Range<usize>,
    inherited: &'s [crate::xml::NsBinding],
    skip: Option<Range<usize>>,
    out: &mut Out<'_>,
) -> Result<(), TransformError> {
    let b = text.as_bytes();
    let end = range.end;
    let mut pos = range.start;
    // Namespace bindings in scope in the input: (prefix, URI).
    let mut scope: Vec<(&'s str, Cow<'s, str>)> = Vec::with_capacity(inherited.len() + 16);
    scope.extend(
        inherited
            .iter()
            .map(|n| (&*n.prefix, Cow::Borrowed(&*n.uri))),
    );
    // Bindings made in the output by open elements: (generated prefix number, URI).
    let mut bindings: Vec<(u64, Cow<'s, str>)> = Vec::with_capacity(16);
    let mut frames: Vec<Frame<'s>> = Vec::with_capacity(16);
    let mut counter: u64 = 1;
    let mut pending = Text {
        single: None,
        joined: String::new(),
    };
    // The attributes of the current start tag: (prefix, namespace, local name, value).
    let mut attrs: Vec<Attribute<'s>> = Vec::with_capacity(8);
    let mut declare: Vec<usize> = Vec::with_capacity(8);
    let mut attr_prefixes: Vec<Option<u64>> = Vec::with_capacity(8);
    let mut skipping = 0usize;

    while pos < end {
        if b[pos] == b'&' {
            let semi = text[pos + 1..end].find(';').map_or(end, |k| pos + 1 + k);
            let c = resolve_trusted(&text[pos + 1..semi]);
            pos = (semi + 1).min(end);
            if skipping == 0 {
                pending.add_char(c);
            }
            continue;
        }
        if b[pos] != b'<' {
            let mut class = 0u8;
            let mut k = pos;
            loop {
                // Eight bytes that need no attention at a time, then up to eight one by one.
                while k + 8 <= end {
                    let x = swar::word(b, k);
                    if swar::has_byte(x, b'<')
                        || swar::has_byte(x, b'&')
                        || swar::has_byte(x, b'\r')
                        || swar::has_byte(x, b'>')
                        || swar::has_byte(x, 0x7F)
                        || swar::has_byte(x, 0xC2)
                    {
                        break;
                    }
                    if swar::has_more(x, 0x20) {
                        class |= INK;
                    }
                    k += 8;
                }
                let limit = (k + 8).min(end);
                let mut stopped = false;
                while k < limit {
                    let c = TEXT_CLASS[b[k] as usize];
                    if c & STOP != 0 {
                        stopped = true;
                        break;
                    }
                    class |= c;
                    k += 1;
                }
                if stopped || k >= end {
                    break;
                }
            }
            if skipping == 0 {
                if class & CR == 0 {
                    pending.add(&text[pos..k], class);
                } else {
                    pending.add_owned(&normalize_eol(&text[pos..k]));
                }
            }
            pos = k;
            continue;
        }
        let rest = &b[pos..end];
        if rest.starts_with(b"<!--") {
            pos = find(b, pos + 4, end, b"-->").map_or(end, |k| k + 3);
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            let k = find(b, pos + 9, end, b"]]>").unwrap_or(end);
            if skipping == 0 {
                pending.add_owned(&normalize_eol(&text[pos + 9..k]));
            }
            pos = (k + 3).min(end);
            continue;
        }
        if rest.starts_with(b"<?") {
            pos = find(b, pos + 2, end, b"?>").map_or(end, |k| k + 2);
            if skipping == 0 {
                pending.flush(out)?;
            }
            continue;
        }
        if rest.starts_with(b"</") {
            pos = end_tag(b, pos, end);
            if skipping > 0 {
                skipping -= 1;
                continue;
            }
            close(&mut frames, &mut bindings, &mut scope, &mut pending, out)?;
            if frames.is_empty() {
                break;
            }
            continue;
        }

        // A start tag.
        let at = pos;
        let scope_start = scope.len();
        attrs.clear();
        let tag = start_tag_split(
            text,
            pos,
            end,
            |prefix, uri| {
                if skipping == 0 {
                    scope.push((prefix, uri));
                }
            },
            |prefix, local, value| attrs.push((prefix, None, local, value)),
        );
        let (prefix, local, empty) = (tag.prefix, tag.local, tag.empty);
        pos = tag.end;
        if skipping > 0 || skip.as_ref().is_some_and(|r| r.start == at) {
            scope.truncate(scope_start);
            if !empty {
                skipping += 1;
            }
            continue;
        }

        pending.flush(out)?;
        let bindings_start = bindings.len();
        let Some(uri) = lookup(&scope, prefix) else {
            return Err(TransformError::Unsupported(format!(
                "element <{local}> has no namespace; the reference transform on Woodstox cannot process it"
            )));
        };
        for attr in attrs.iter_mut() {
            if !attr.0.is_empty() {
                attr.1 = lookup(&scope, attr.0);
            }
        }
        if let Some((_, _, al, _)) = attrs
            .iter()
            .find(|(_, ns, _, _)| ns.as_deref() == Some(XML_NS))
        {
            return Err(TransformError::Unsupported(format!(
                "attribute xml:{al} cannot be processed by the reference transform on Woodstox"
            )));
        }
        declare.clear();
        let element_prefix = find_or_bind(&mut bindings, uri, &mut counter, &mut declare);
        attrs.sort_by(|x, y| match (&x.1, &y.1) {
            (None, None) => java_cmp(x.2, y.2),
            (Some(xn), Some(yn)) => java_cmp(xn, yn).then_with(|| java_cmp(x.2, y.2)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
        });
        attr_prefixes.clear();
        for (_, ns, _, _) in &attrs {
            attr_prefixes.push(
                ns.as_ref()
                    .map(|ns| find_or_bind(&mut bindings, ns.clone(), &mut counter, &mut declare)),
            );
        }

        out.put(b"<");
        out.prefix(element_prefix);
        out.put(b":");
        out.put(local.as_bytes());
        for &index in &declare {
            let (n, uri) = &bindings[index];
            out.put(b" xmlns:");
            out.prefix(*n);
            out.put(b"=\"");
            out.attr(uri)?;
            out.put(b"\"");
        }
        for ((_, _, local, value), p) in attrs.iter().zip(&attr_prefixes) {
            out.put(b" ");
            if let Some(p) = p {
                out.prefix(*p);
                out.put(b":");
            }
            out.put(local.as_bytes());
            out.put(b"=\"");
            out.attr(value)?;
            out.put(b"\"");
        }
        out.put(b">");
        frames.push(Frame {
            prefix: element_prefix,
            local,
            bindings_start,
            scope_start,
        });
        if empty {
            close(&mut frames, &mut bindings, &mut scope, &mut pending, out)?;
            if frames.is_empty() {
                break;
            }
        }
        out.maybe_flush()?;
    }
    Ok(())
}

fn close<'s>(
    frames: &mut Vec<Frame<'s>>,
    bindings: &mut Vec<(u64, Cow<'s, str>)>,
    scope: &mut Vec<(&'s str, Cow<'s, str>)>,
    pending: &mut Text<'s>,
    out: &mut Out<'_>,
) -> std::io::Result<()> {
    pending.flush(out)?;
    if let Some(frame) = frames.pop() {
        out.put(b"</");
        out.prefix(frame.prefix);
        out.put(b":");
        out.put(frame.local.as_bytes());
        out.put(b">");
        bindings.truncate(frame.bindings_start);
        scope.truncate(frame.scope_start);
    }
    out.maybe_flush()
}

/// The namespace URI bound to `prefix` (`None`: no namespace, or unbound).
fn lookup<'s>(scope: &[(&'s str, Cow<'s, str>)], prefix: &str) -> Option<Cow<'s, str>> {
    if prefix == "xml" {
        return Some(Cow::Borrowed(XML_NS));
    }
    scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .and_then(|(_, uri)| (!uri.is_empty()).then(|| uri.clone()))
}

/// The output prefix bound to `uri` by an open element, or a new one (its binding's index goes
/// to `declare`).
fn find_or_bind<'s>(
    bindings: &mut Vec<(u64, Cow<'s, str>)>,
    uri: Cow<'s, str>,
    counter: &mut u64,
    declare: &mut Vec<usize>,
) -> u64 {
    let same = |u: &str| (u.as_ptr() == uri.as_ptr() && u.len() == uri.len()) || *u == *uri;
    if let Some((n, _)) = bindings.iter().find(|(_, u)| same(u)) {
        return *n;
    }
    let n = *counter;
    *counter += 1;
    declare.push(bindings.len());
    bindings.push((n, uri));
    n
}

/// Java's `String.compareTo` (UTF-16 code units); the byte order of UTF-8 is the same unless a
/// character outside the BMP is involved.
fn java_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.bytes().chain(b.bytes()).any(|c| c >= 0xF0) {
        a.encode_utf16().cmp(b.encode_utf16())
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

fn find(b: &[u8], from: usize, end: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..end)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|k| from + k)
}
