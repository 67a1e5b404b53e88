//! The start-tag reader of the single-read fast paths (`transform/fast.rs`, `c14n/fast.rs`):
//! a tag inside a range that [`Document`](super::Document) has validated, read without checks,
//! the same way `Walker::next_trusted` reads it.

use std::borrow::Cow;

use super::normalize_attribute_trusted;

/// Bytes of an attribute value: 1 for the quotes, 2 for what needs normalisation (`&`, `<`,
/// TAB, LF, CR).
const VALUE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'\'' as usize] = 1;
    t[b'&' as usize] = 2;
    t[b'<' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'\n' as usize] = 2;
    t[b'\r' as usize] = 2;
    t
};

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A start tag read by [`start_tag`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct StartTag<'t> {
    /// The element's prefix (`""` for none).
    pub(crate) prefix: &'t str,
    /// Its local name.
    pub(crate) local: &'t str,
    /// `<a/>`.
    pub(crate) empty: bool,
    /// Just after the tag (at most `end`).
    pub(crate) end: usize,
}

/// Reads the start tag whose `<` is at `pos` (the range ends at `end`), handing every attribute,
/// namespace declarations included, to `attribute` as its raw name and its normalised value (the
/// source slice when nothing needs normalising).
#[inline(always)]
pub(crate) fn start_tag<'t>(
    text: &'t str,
    pos: usize,
    end: usize,
    mut attribute: impl FnMut(&'t str, Cow<'t, str>),
) -> StartTag<'t> {
    let b = text.as_bytes();
    let mut p = pos + 1;
    let mut colon = 0;
    while p < end && !matches!(b[p], b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'>') {
        if b[p] == b':' && colon == 0 {
            colon = p;
        }
        p += 1;
    }
    let (prefix, local) = if colon == 0 {
        ("", &text[pos + 1..p])
    } else {
        (&text[pos + 1..colon], &text[colon + 1..p])
    };
    let empty;
    loop {
        while p < end && is_ws(b[p]) {
            p += 1;
        }
        if p >= end {
            empty = false;
            break;
        }
        if b[p] == b'>' {
            empty = false;
            p += 1;
            break;
        }
        if b[p] == b'/' {
            empty = true;
            p = (p + 2).min(end);
            break;
        }
        let key_start = p;
        while p < end && b[p] != b'=' && !is_ws(b[p]) {
            p += 1;
        }
        let key = &text[key_start..p];
        while p < end && (is_ws(b[p]) || b[p] == b'=') {
            p += 1;
        }
        if p >= end {
            empty = false;
            break;
        }
        let quote = b[p];
        let value_start = p + 1;
        let mut value_end = value_start;
        let mut special = false;
        while value_end < end {
            let c = b[value_end];
            match VALUE_CLASS[c as usize] {
                0 => {}
                1 if c == quote => break,
                1 => {}
                _ => special = true,
            }
            value_end += 1;
        }
        let raw = &text[value_start..value_end];
        p = (value_end + 1).min(end);
        let value = if special {
            normalize_attribute_trusted(raw)
        } else {
            Cow::Borrowed(raw)
        };
        attribute(key, value);
    }
    StartTag {
        prefix,
        local,
        empty,
        end: p,
    }
}

/// [`start_tag`] with the attributes sorted out, as both fast paths need them: a namespace
/// declaration goes to `declaration` (its prefix, `""` for the default namespace, and URI),
/// any other attribute to `attribute` (its prefix, `""` for none, local name and value).
#[inline(always)]
pub(crate) fn start_tag_split<'t>(
    text: &'t str,
    pos: usize,
    end: usize,
    mut declaration: impl FnMut(&'t str, Cow<'t, str>),
    mut attribute: impl FnMut(&'t str, &'t str, Cow<'t, str>),
) -> StartTag<'t> {
    start_tag(text, pos, end, |key, value| {
        if key == "xmlns" {
            declaration("", value);
        } else if let Some(declared) = key.strip_prefix("xmlns:") {
            declaration(declared, value);
        } else {
            let (prefix, local) = key.split_once(':').unwrap_or(("", key));
            attribute(prefix, local, value);
        }
    })
}

/// Just after the end tag whose `</` is at `pos` (at most `end`).
#[inline]
pub(crate) fn end_tag(b: &[u8], pos: usize, end: usize) -> usize {
    b[pos..end]
        .iter()
        .position(|&c| c == b'>')
        .map_or(end, |k| pos + k + 1)
}
