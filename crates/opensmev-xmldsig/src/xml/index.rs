//! The fast first read of a whole document: a validating byte scanner that builds the element
//! index of a [`Document`](super::Document) in one pass, without events or per-tag allocations.
//!
//! It is one-sided by construction: it accepts only documents made of the common constructs
//! (an XML declaration at the start, elements, attributes, character data with references,
//! comments) and checks each of them at least as strictly as the [`Walker`](super::Walker)
//! does. Anything else — a DTD, a CDATA section, a processing instruction, an unusual layout
//! inside a tag, any error at all, any limit reached — makes it give up (`None`), and the
//! document is read again by the walker, which decides and reports the error. So whenever this
//! scanner returns an index, the walker accepts the document and builds the same index; debug
//! builds check exactly that on every document they parse (`Document::parse_str`).

use std::borrow::Cow;
use std::sync::Arc;

use super::{
    ElementData, Limits, NsBinding, WSU_NS, XML_NS, XMLNS_NS, check_chars, is_name,
    normalize_attribute, split_qname,
};

/// Bytes that end a plain run of character data: markup, references, `]` (for `]]>`), the C0
/// controls XML 1.0 forbids, and 0xEF (the lead byte of U+FFFE and U+FFFF).
const TEXT_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = !matches!(b as u8, b'\t' | b'\n' | b'\r');
        b += 1;
    }
    t[b'<' as usize] = true;
    t[b'&' as usize] = true;
    t[b']' as usize] = true;
    t[0xEF] = true;
    t
};

/// Bytes of an attribute value: 1 for the quotes, 2 for what needs the walker's normalisation
/// and checks (`<`, `&`, C0 controls including TAB, LF, CR, and 0xEF).
const VALUE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = 2;
        b += 1;
    }
    t[b'<' as usize] = 2;
    t[b'&' as usize] = 2;
    t[0xEF] = 2;
    t[b'"' as usize] = 1;
    t[b'\'' as usize] = 1;
    t
};

/// Bytes that end a start-tag name or an attribute name.
const NAME_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let stops = b" \t\n\r/>=\"'<";
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
};

/// Bytes of names: 1 starts a name part (ASCII letter, `_`), 2 continues one (digit, `-`, `.`),
/// 3 is the colon, 4 is any non-ASCII byte, 0 ends the name.
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() || c == b'_' {
            1
        } else if c.is_ascii_digit() || c == b'-' || c == b'.' {
            2
        } else if c == b':' {
            3
        } else if c >= 0x80 {
            4
        } else {
            0
        };
        b += 1;
    }
    t
};

/// The qualified name starting at `p`: its end and its prefix length (0 when none), if it is
/// one that `split_qname` accepts. ASCII names are checked here in one pass; others by
/// `split_qname` itself.
fn qname(text: &str, start: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut p = start;
    let mut colon = 0;
    let mut part_start = true;
    while p < b.len() {
        match NAME_CLASS[b[p] as usize] {
            1 => part_start = false,
            2 if !part_start => {}
            3 if !part_start && colon == 0 => {
                colon = p;
                part_start = true;
            }
            4 => {
                let mut end = p;
                while end < b.len() && !NAME_STOP[b[end] as usize] {
                    end += 1;
                }
                let (prefix, _) = split_qname(&text[start..end]).ok()?;
                return Some((end, prefix.len()));
            }
            0 => break,
            _ => return None,
        }
        p += 1;
    }
    if part_start {
        return None;
    }
    Some((p, if colon == 0 { 0 } else { colon - start }))
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(b: &[u8], mut p: usize) -> usize {
    while p < b.len() && is_ws(b[p]) {
        p += 1;
    }
    p
}

fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&c| c == needle)
        .map(|i| from + i)
}

/// An open element: its index, the scope length before its declarations, its name's range.
struct Open {
    index: usize,
    scope_len: usize,
    name: (usize, usize),
}

/// Builds the element index of `text`, or `None` when the walker has to decide (see the module
/// docs). `text` has passed the checks of `Walker::document` (size, no leading BOM).
pub(super) fn index(text: &str, limits: &Limits) -> Option<(Vec<ElementData>, Vec<Arc<str>>)> {
    let b = text.as_bytes();
    let len = b.len();
    let mut pos = if b.starts_with(b"<?xml") {
        declaration(b)?
    } else {
        0
    };
    let mut elements: Vec<ElementData> = Vec::with_capacity(len / 40 + 1);
    let mut stack: Vec<Open> = Vec::new();
    let mut scope: Vec<NsBinding> = Vec::new();
    // For each binding of `scope`: its URI's entry in `namespaces` (`ElementData::ns`).
    let mut scope_ns: Vec<u32> = Vec::new();
    let mut namespaces: Vec<Arc<str>> = Vec::new();
    let mut xml_ns = 0u32;
    let mut keys: Vec<&str> = Vec::new();
    let mut attrs: Vec<(&str, &str, Cow<'_, str>, usize)> = Vec::new();
    let mut seen_root = false;
    let empty: Arc<str> = Arc::from("");

    loop {
        if stack.is_empty() {
            // Outside the root: only white space, comments and elements.
            pos = skip_ws(b, pos);
            if pos == len {
                break;
            }
            if b[pos] != b'<' {
                return None;
            }
        } else {
            // Character data up to the next markup.
            loop {
                while pos < len && !TEXT_STOP[b[pos] as usize] {
                    pos += 1;
                }
                if pos >= len {
                    return None;
                }
                match b[pos] {
                    b'<' => break,
                    b'&' => pos = reference(text, pos)?,
                    b']' => {
                        if b[pos + 1..].starts_with(b"]>") {
                            return None;
                        }
                        pos += 1;
                    }
                    0xEF => {
                        if b.get(pos + 1) == Some(&0xBF)
                            && matches!(b.get(pos + 2), Some(0xBE | 0xBF))
                        {
                            return None;
                        }
                        pos += 1;
                    }
                    _ => return None,
                }
            }
        }
        // At '<'.
        match b.get(pos + 1) {
            Some(b'/') => {
                let open = stack.pop()?;
                let gt = find_byte(b, pos + 2, b'>')?;
                if b[pos + 2..gt] != b[open.name.0..open.name.1] {
                    return None;
                }
                pos = gt + 1;
                let subtree_end = elements.len();
                let data = &mut elements[open.index];
                data.end = pos;
                data.subtree_end = subtree_end;
                scope.truncate(open.scope_len);
                scope_ns.truncate(open.scope_len);
            }
            Some(b'!') => {
                if !b[pos..].starts_with(b"<!--") {
                    return None;
                }
                let close = b[pos + 4..]
                    .windows(3)
                    .position(|w| w == b"-->")
                    .map(|i| pos + 4 + i)?;
                let content = &b[pos + 4..close];
                if content.ends_with(b"-") || content.windows(2).any(|w| w == b"--") {
                    return None;
                }
                pos = close + 3;
            }
            Some(b'?') | None => return None,
            Some(_) => {
                // A start tag.
                if stack.is_empty() {
                    if seen_root {
                        return None;
                    }
                    seen_root = true;
                }
                if stack.len() >= limits.max_depth || elements.len() >= limits.max_elements {
                    return None;
                }
                let start = pos;
                let name_start = pos + 1;
                let (name_end, prefix_len) = qname(text, name_start)?;
                let prefix = &text[name_start..name_start + prefix_len];
                let local_start = if prefix_len == 0 {
                    name_start
                } else {
                    name_start + prefix_len + 1
                };
                let local = &text[local_start..name_end];
                let mut p = name_end;
                keys.clear();
                attrs.clear();
                let scope_len = scope.len();
                let mut decls: Vec<NsBinding> = Vec::new();
                let empty_tag;
                loop {
                    let ws_start = p;
                    p = skip_ws(b, p);
                    match b.get(p)? {
                        b'>' => {
                            empty_tag = false;
                            p += 1;
                            break;
                        }
                        b'/' => {
                            if b.get(p + 1) != Some(&b'>') {
                                return None;
                            }
                            empty_tag = true;
                            p += 2;
                            break;
                        }
                        _ => {}
                    }
                    if p == ws_start {
                        return None;
                    }
                    let key_start = p;
                    let (key_end, key_prefix_len) = qname(text, key_start)?;
                    p = key_end;
                    let key = &text[key_start..p];
                    p = skip_ws(b, p);
                    if b.get(p) != Some(&b'=') {
                        return None;
                    }
                    p = skip_ws(b, p + 1);
                    let quote = *b.get(p)?;
                    if quote != b'"' && quote != b'\'' {
                        return None;
                    }
                    let mut value_end = p + 1;
                    let mut special = false;
                    loop {
                        let c = *b.get(value_end)?;
                        match VALUE_CLASS[c as usize] {
                            0 => {}
                            1 if c == quote => break,
                            1 => {}
                            _ => special = true,
                        }
                        value_end += 1;
                    }
                    let raw = &text[p + 1..value_end];
                    p = value_end + 1;
                    if keys.len() >= limits.max_attributes
                        || raw.len() > limits.max_attribute_bytes
                        || keys.contains(&key)
                    {
                        return None;
                    }
                    keys.push(key);
                    let value = if special {
                        normalize_attribute(raw, true).ok()?
                    } else {
                        Cow::Borrowed(raw)
                    };
                    if key == "xmlns" {
                        if value == XML_NS || value == XMLNS_NS {
                            return None;
                        }
                        decls.push(NsBinding {
                            prefix: empty.clone(),
                            uri: intern(&namespaces, &value),
                        });
                    } else if let Some(declared) = key.strip_prefix("xmlns:") {
                        if !is_name(declared)
                            || value.is_empty()
                            || declared == "xmlns"
                            || (declared == "xml") != (value == XML_NS)
                            || value == XMLNS_NS
                        {
                            return None;
                        }
                        // Messages declare the same few prefixes and namespaces again and
                        // again: share the strings instead of allocating them anew.
                        let prefix = match scope.iter().rfind(|b| &*b.prefix == declared) {
                            Some(b) => b.prefix.clone(),
                            None => Arc::from(declared),
                        };
                        decls.push(NsBinding {
                            prefix,
                            uri: intern(&namespaces, &value),
                        });
                    } else if key_prefix_len == 0 {
                        attrs.push(("", key, value, NO_NS));
                    } else {
                        let (p, l) = (&key[..key_prefix_len], &key[key_prefix_len + 1..]);
                        attrs.push((p, l, value, NO_NS));
                    }
                }
                for decl in &decls {
                    scope_ns.push(if decl.uri.is_empty() {
                        0
                    } else {
                        match namespaces.iter().position(|n| Arc::ptr_eq(n, &decl.uri)) {
                            Some(i) => i as u32 + 1,
                            None => {
                                namespaces.push(decl.uri.clone());
                                namespaces.len() as u32
                            }
                        }
                    });
                }
                scope.extend(decls.iter().cloned());
                let ns = if prefix == "xml" {
                    if xml_ns == 0 {
                        namespaces.push(Arc::from(XML_NS));
                        xml_ns = namespaces.len() as u32;
                    }
                    xml_ns
                } else {
                    match scope.iter().rposition(|b| &*b.prefix == prefix) {
                        Some(i) => scope_ns[i],
                        None if prefix.is_empty() => 0,
                        None => return None,
                    }
                };
                let mut id = None;
                for i in 0..attrs.len() {
                    let ns = attribute_ns(&scope, attrs[i].0)?;
                    attrs[i].3 = ns;
                    let local = attrs[i].1;
                    if attrs[..i]
                        .iter()
                        .any(|a| a.1 == local && ns_str(&scope, a.3) == ns_str(&scope, ns))
                    {
                        return None;
                    }
                    if id.is_none()
                        && local == "Id"
                        && matches!(ns_str(&scope, ns), None | Some(WSU_NS))
                    {
                        id = Some(Arc::from(&*attrs[i].2));
                    }
                }
                let index = elements.len();
                elements.push(ElementData {
                    start,
                    end: 0,
                    parent: stack.last().map(|o| o.index),
                    subtree_end: 0,
                    prefix_len: prefix.len() as u32,
                    local_len: local.len() as u32,
                    ns,
                    decls,
                    id,
                });
                pos = p;
                if empty_tag {
                    let data = &mut elements[index];
                    data.end = pos;
                    data.subtree_end = index + 1;
                    scope.truncate(scope_len);
                    scope_ns.truncate(scope_len);
                } else {
                    stack.push(Open {
                        index,
                        scope_len,
                        name: (name_start, name_end),
                    });
                }
            }
        }
    }
    if !seen_root {
        return None;
    }
    Some((elements, namespaces))
}

/// The URI as a shared string: the entry of `namespaces` equal to it, or a new one.
fn intern(namespaces: &[Arc<str>], uri: &str) -> Arc<str> {
    match namespaces.iter().find(|n| &***n == uri) {
        Some(n) => n.clone(),
        None => Arc::from(uri),
    }
}

/// An attribute without a namespace (in `attribute_ns` results).
const NO_NS: usize = usize::MAX;
/// An attribute in the `xml:` namespace.
const XML_NS_AT: usize = usize::MAX - 1;

/// The namespace of an attribute prefix as an index into `scope` (or [`NO_NS`], [`XML_NS_AT`]);
/// `None` when the prefix is unbound.
fn attribute_ns(scope: &[NsBinding], prefix: &str) -> Option<usize> {
    if prefix.is_empty() {
        return Some(NO_NS);
    }
    if prefix == "xml" {
        return Some(XML_NS_AT);
    }
    scope.iter().rposition(|b| &*b.prefix == prefix)
}

/// The URI of an [`attribute_ns`] result (`None` for no namespace).
fn ns_str(scope: &[NsBinding], at: usize) -> Option<&str> {
    match at {
        NO_NS => None,
        XML_NS_AT => Some(XML_NS),
        i => Some(&*scope[i].uri).filter(|u| !u.is_empty()),
    }
}

/// A reference in character data at `at` (`&`): the position after its `;` when it is one of
/// the five predefined entities or a character reference to an allowed character.
fn reference(text: &str, at: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut end = at + 1;
    while end < b.len() && end - at <= 10 && (b[end].is_ascii_alphanumeric() || b[end] == b'#') {
        end += 1;
    }
    if b.get(end) != Some(&b';') {
        return None;
    }
    let name = &text[at + 1..end];
    let ok = match name {
        "amp" | "lt" | "gt" | "apos" | "quot" => true,
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x") {
                if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                u32::from_str_radix(hex, 16).ok()?
            } else if let Some(dec) = name.strip_prefix('#') {
                if dec.is_empty() || !dec.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                dec.parse::<u32>().ok()?
            } else {
                return None;
            };
            code != 0
                && char::from_u32(code)
                    .is_some_and(|c| check_chars(c.encode_utf8(&mut [0; 4])).is_ok())
        }
    };
    ok.then_some(end + 1)
}

/// The XML declaration at the start of `b` in its plain form (`version="1.0"`, optional UTF-8
/// `encoding` and `standalone`): the position after its `?>`.
fn declaration(b: &[u8]) -> Option<usize> {
    let mut p = 5;
    let mut seen = 0u8; // 0: version read; 1: encoding read; 2: standalone read
    let mut first = true;
    loop {
        let ws = skip_ws(b, p);
        if !first && b[ws..].starts_with(b"?>") {
            return Some(ws + 2);
        }
        if ws == p {
            return None;
        }
        p = ws;
        let (name, allowed): (&[u8], &[&[u8]]) = if first {
            (b"version", &[b"1.0"])
        } else if seen == 0 && b[p..].starts_with(b"encoding") {
            seen = 1;
            (
                b"encoding",
                &[b"utf-8", b"UTF-8", b"utf8", b"UTF8", b"Utf-8"],
            )
        } else if seen < 2 && b[p..].starts_with(b"standalone") {
            seen = 2;
            (b"standalone", &[b"yes", b"no"])
        } else {
            return None;
        };
        first = false;
        if !b[p..].starts_with(name) || b.get(p + name.len()) != Some(&b'=') {
            return None;
        }
        p += name.len() + 1;
        let quote = *b.get(p)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let end = find_byte(b, p + 1, quote)?;
        if !allowed.contains(&&b[p + 1..end]) {
            return None;
        }
        p = end + 1;
    }
}
