//! Exclusive C14N reading the element's validated byte range directly: no walker items, no
//! per-tag allocations, output through one reused buffer.
//!
//! It produces exactly what [`super::run`] produces from the trusted walker (debug builds check
//! that for every element they canonicalize): the tokenizer makes the same reading of a range
//! that [`Document`](crate::xml::Document) validated as `Walker::next_trusted`, and the rules
//! are those of the module docs.

use std::borrow::Cow;
use std::io::Write;
use std::ops::Range;

use crate::xml::tag::{end_tag, start_tag_split};
use crate::xml::{Element, NsBinding, normalize_eol, resolve_trusted};

/// Output is handed to the sink in pieces of about this size.
const CHUNK: usize = 8 * 1024;

/// Appends `text` with C14N's text escapes.
fn text_into(buf: &mut Vec<u8>, text: &str) {
    escape_into(buf, text, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

/// Appends `text` with C14N's attribute value escapes.
fn attr_into(buf: &mut Vec<u8>, text: &str) {
    escape_into(buf, text, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    })
}

fn escape_into(buf: &mut Vec<u8>, text: &str, replace: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(r) = replace(b) {
            buf.extend_from_slice(&bytes[from..i]);
            buf.extend_from_slice(r);
            from = i + 1;
        }
    }
    buf.extend_from_slice(&bytes[from..]);
}

fn qname_into(buf: &mut Vec<u8>, prefix: &str, local: &str) {
    if !prefix.is_empty() {
        buf.extend_from_slice(prefix.as_bytes());
        buf.push(b':');
    }
    buf.extend_from_slice(local.as_bytes());
}

/// A namespace declaration rendered on an open output element.
struct Rendered<'s> {
    prefix: &'s str,
    uri: Cow<'s, str>,
    depth: usize,
}

/// An open element: its name and the length of the input scope before its declarations.
struct Open<'s> {
    prefix: &'s str,
    local: &'s str,
    scope_start: usize,
}

/// [`super::canonicalize_element`], reading the validated range directly.
pub(super) fn canonicalize(
    element: &Element<'_, '_>,
    skip: Option<Range<usize>>,
    inclusive_prefixes: &[String],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let inherited = element.inherited_scope();
    let inclusive: Vec<&str> = inclusive_prefixes
        .iter()
        .map(|p| if p == "#default" { "" } else { p.as_str() })
        .collect();
    let mut buf = crate::xml::scratch::take();
    let result = run(
        element.document().text(),
        element.range(),
        &inherited,
        skip,
        &inclusive,
        &mut buf,
        out,
    );
    // Like a `BufWriter` dropped on an error, hand over what was written so far.
    let flushed = if buf.is_empty() {
        Ok(())
    } else {
        out.write_all(&buf)
    };
    crate::xml::scratch::give_back(buf);
    result?;
    flushed
}

/// The URI bound to `prefix` in the input scope (`None`: unbound).
fn lookup<'s>(scope: &[(&'s str, Cow<'s, str>)], prefix: &str) -> Option<Cow<'s, str>> {
    scope
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, uri)| uri.clone())
}

fn run<'s>(
    text: &'s str,
    range: Range<usize>,
    inherited: &'s [NsBinding],
    skip: Option<Range<usize>>,
    inclusive: &[&'s str],
    buf: &mut Vec<u8>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let b = text.as_bytes();
    let end = range.end;
    let mut pos = range.start;
    let mut scope: Vec<(&'s str, Cow<'s, str>)> = Vec::with_capacity(inherited.len() + 16);
    scope.extend(
        inherited
            .iter()
            .map(|n| (&*n.prefix, Cow::Borrowed(&*n.uri))),
    );
    let mut rendered: Vec<Rendered<'s>> = Vec::with_capacity(16);
    let mut open: Vec<Open<'s>> = Vec::with_capacity(16);
    let mut attrs: Vec<(&'s str, &'s str, Cow<'s, str>, Cow<'s, str>)> = Vec::with_capacity(8);
    let mut prefixes: Vec<&'s str> = Vec::with_capacity(8);
    let mut decls: Vec<(&'s str, Cow<'s, str>)> = Vec::with_capacity(8);
    let mut skipping = 0usize;

    while pos < end {
        if buf.len() >= CHUNK {
            out.write_all(buf)?;
            buf.clear();
        }
        if b[pos] == b'&' {
            let semi = text[pos + 1..end].find(';').map_or(end, |k| pos + 1 + k);
            let c = resolve_trusted(&text[pos + 1..semi]);
            pos = (semi + 1).min(end);
            if skipping == 0 {
                text_into(buf, c.encode_utf8(&mut [0; 4]));
            }
            continue;
        }
        if b[pos] != b'<' {
            let k = b[pos..end]
                .iter()
                .position(|&c| c == b'<' || c == b'&')
                .map_or(end, |k| pos + k);
            if skipping == 0 {
                text_into(buf, &normalize_eol(&text[pos..k]));
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
                text_into(buf, &normalize_eol(&text[pos + 9..k]));
            }
            pos = (k + 3).min(end);
            continue;
        }
        if rest.starts_with(b"<?") {
            let k = find(b, pos + 2, end, b"?>").unwrap_or(end);
            let pi = normalize_eol(&text[pos + 2..k]);
            pos = (k + 2).min(end);
            if skipping == 0 {
                let pi: &str = &pi;
                let (target, data) = match pi.find([' ', '\t', '\n', '\r']) {
                    Some(i) => (
                        &pi[..i],
                        pi[i..].trim_start_matches([' ', '\t', '\n', '\r']),
                    ),
                    None => (pi, ""),
                };
                buf.extend_from_slice(b"<?");
                buf.extend_from_slice(target.as_bytes());
                if !data.is_empty() {
                    buf.push(b' ');
                    buf.extend_from_slice(data.as_bytes());
                }
                buf.extend_from_slice(b"?>");
            }
            continue;
        }
        if rest.starts_with(b"</") {
            pos = end_tag(b, pos, end);
            if skipping > 0 {
                skipping -= 1;
                continue;
            }
            close(&mut open, &mut rendered, &mut scope, buf);
            if open.is_empty() {
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
            |prefix, local, value| attrs.push((prefix, local, Cow::Borrowed(""), value)),
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

        let depth = open.len() + 1;
        // Attribute namespaces (the sort key; "" for none). `xml:` resolves like the walker:
        // to the XML namespace.
        for attr in attrs.iter_mut() {
            if !attr.0.is_empty() {
                attr.2 = if attr.0 == "xml" {
                    Cow::Borrowed(crate::xml::XML_NS)
                } else {
                    lookup(&scope, attr.0)
                        .filter(|u| !u.is_empty())
                        .unwrap_or(Cow::Borrowed(""))
                };
            }
        }
        prefixes.clear();
        prefixes.push(prefix);
        for attr in &attrs {
            if !attr.0.is_empty() && attr.0 != "xml" {
                prefixes.push(attr.0);
            }
        }
        for &p in inclusive {
            if p.is_empty() || lookup(&scope, p).is_some() {
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
            let uri = lookup(&scope, p).unwrap_or(Cow::Borrowed(""));
            let needed = match rendered.iter().rev().find(|r| r.prefix == p) {
                Some(r) => r.uri != uri,
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
        attrs.sort_by(|x, y| (&*x.2, x.1).cmp(&(&*y.2, y.1)));

        buf.push(b'<');
        qname_into(buf, prefix, local);
        for (p, uri) in &decls {
            if p.is_empty() {
                buf.extend_from_slice(b" xmlns=\"");
            } else {
                buf.extend_from_slice(b" xmlns:");
                buf.extend_from_slice(p.as_bytes());
                buf.extend_from_slice(b"=\"");
            }
            attr_into(buf, uri);
            buf.push(b'"');
        }
        for (ap, al, _, value) in &attrs {
            buf.push(b' ');
            qname_into(buf, ap, al);
            buf.extend_from_slice(b"=\"");
            attr_into(buf, value);
            buf.push(b'"');
        }
        buf.push(b'>');
        open.push(Open {
            prefix,
            local,
            scope_start,
        });
        if empty {
            close(&mut open, &mut rendered, &mut scope, buf);
            if open.is_empty() {
                break;
            }
        }
    }
    Ok(())
}

fn close<'s>(
    open: &mut Vec<Open<'s>>,
    rendered: &mut Vec<Rendered<'s>>,
    scope: &mut Vec<(&'s str, Cow<'s, str>)>,
    buf: &mut Vec<u8>,
) {
    let depth = open.len();
    if let Some(element) = open.pop() {
        buf.extend_from_slice(b"</");
        qname_into(buf, element.prefix, element.local);
        buf.push(b'>');
        scope.truncate(element.scope_start);
    }
    while rendered.last().is_some_and(|r| r.depth == depth) {
        rendered.pop();
    }
}

fn find(b: &[u8], from: usize, end: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..end)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|k| from + k)
}
