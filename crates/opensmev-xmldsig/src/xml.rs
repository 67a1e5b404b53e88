//! A hardened, namespace-aware XML reader over a UTF-8 buffer, and a light element index.
//!
//! Everything in this crate reads XML through [`Walker`], a thin layer over `quick-xml` that
//! * refuses DTDs (so no entity expansion, no external entities, no network), undefined entities,
//!   unbound prefixes, duplicate attributes, misnested tags and characters that XML 1.0 forbids;
//! * enforces [`Limits`] (document size, depth, attributes per element, attribute value size);
//! * normalises line ends in text and attribute values as an XML 1.0 parser must, and resolves
//!   character and predefined entity references;
//! * reports byte offsets, so callers can re-read any element's byte range later.
//!
//! [`Document`] is one pass over a whole document that records, for every element, its byte
//! range, name, namespace declarations and `Id`. The pass is a byte scanner (`index`) that
//! accepts only common, checked constructs and otherwise leaves the document to the walker,
//! which then decides (and reports any error); debug builds run both and require the same index.
//! Signature work then re-reads only the element it needs (the signed element, `SignedInfo`)
//! with a walker seeded with the namespace declarations in scope there, or with the equivalent
//! direct readers of the SMEV transform and C14N (`transform::fast`, `c14n::fast`, checked
//! against the walker the same way). No DOM is ever built, so a multi-megabyte element costs
//! one streaming pass per operation.

use std::borrow::Cow;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};

mod index;
pub(crate) mod tag;

/// The XML namespace (`xml:` prefix), bound implicitly.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of namespace declarations.
pub const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Resource limits applied while reading untrusted XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_document_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
    /// Most attributes (including namespace declarations) on one element.
    pub max_attributes: usize,
    /// Largest accepted attribute value, in bytes.
    pub max_attribute_bytes: usize,
    /// Most elements in one document.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 128 * 1024 * 1024,
            max_depth: 256,
            max_attributes: 256,
            max_attribute_bytes: 1024 * 1024,
            max_elements: 10_000_000,
        }
    }
}

/// Why a buffer is not acceptable XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlErrorKind {
    /// Not well-formed (the text says what).
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    /// The buffer is not UTF-8, or declares another encoding.
    #[error("only UTF-8 is accepted: {0}")]
    Encoding(String),
    /// A document type declaration was present.
    #[error("DTDs are not allowed (no DOCTYPE, no entity declarations)")]
    DtdForbidden,
    /// A reference to an entity other than the five predefined ones.
    #[error("undefined entity reference &{0};")]
    UndefinedEntity(String),
    /// A prefix that no declaration binds.
    #[error("unbound namespace prefix '{0}'")]
    UnboundPrefix(String),
    /// The same attribute twice on one element.
    #[error("duplicate attribute '{0}'")]
    DuplicateAttribute(String),
    /// A character XML 1.0 does not allow.
    #[error("character U+{0:04X} is not allowed in XML 1.0")]
    ForbiddenCharacter(u32),
    /// A limit of [`Limits`] was exceeded.
    #[error("limit exceeded: {what} (limit {limit})")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: usize,
    },
    /// Element content where only one root element is allowed.
    #[error("the document must have exactly one root element")]
    NotOneRoot,
}

/// An [`XmlErrorKind`] with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct XmlError {
    /// What is wrong.
    pub kind: XmlErrorKind,
    /// Byte offset into the input (of the whole document, also for sub-range reads).
    pub offset: usize,
}

impl XmlError {
    pub(crate) fn new(kind: XmlErrorKind, offset: usize) -> Self {
        XmlError { kind, offset }
    }

    /// One-based line and column (in characters) of the error in `text`.
    pub fn line_column(&self, text: &str) -> (usize, usize) {
        let upto = &text[..floor_char_boundary(text, self.offset.min(text.len()))];
        let line = upto.bytes().filter(|b| *b == b'\n').count() + 1;
        let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Checks the encoding of `bytes` and returns them as text (a UTF-8 BOM is skipped).
pub fn decode_utf8(bytes: &[u8]) -> Result<&str, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // SIMD validation first (several times faster on Cyrillic text); std's only to say where
    // an invalid sequence is.
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        return Ok(text);
    }
    std::str::from_utf8(bytes).map_err(|e| {
        XmlError::new(
            XmlErrorKind::Encoding(format!("invalid UTF-8 sequence: {e}")),
            e.valid_up_to(),
        )
    })
}

/// A namespace binding in scope: prefix (empty for the default namespace) → URI (empty = none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsBinding {
    /// The prefix, `""` for the default namespace.
    pub prefix: Arc<str>,
    /// The URI, `""` to undeclare the default namespace.
    pub uri: Arc<str>,
}

/// One attribute of a start tag, resolved.
#[derive(Debug, Clone)]
pub struct Attr<'a> {
    /// The prefix as written (`""` when none).
    pub prefix: &'a str,
    /// The local name.
    pub local: &'a str,
    /// The namespace URI (`None` for unprefixed attributes).
    pub ns: Option<Arc<str>>,
    /// The normalised value.
    pub value: Cow<'a, str>,
}

/// A start tag, resolved.
#[derive(Debug, Clone)]
pub struct StartTag<'a> {
    /// Byte offset of `<`.
    pub offset: usize,
    /// The prefix as written (`""` when none).
    pub prefix: &'a str,
    /// The local name.
    pub local: &'a str,
    /// The namespace URI (`None` when the element is in no namespace).
    pub ns: Option<Arc<str>>,
    /// Ordinary attributes (namespace declarations excluded), in document order.
    pub attrs: Vec<Attr<'a>>,
    /// Namespace declarations made on this element, in document order.
    pub decls: Vec<NsBinding>,
    /// Whether it was written as `<a/>`.
    pub empty: bool,
}

/// What the walker reports.
#[derive(Debug)]
pub enum Item<'a> {
    /// A start tag (for `<a/>` an [`Item::End`] follows at once).
    Start(StartTag<'a>),
    /// The end of the innermost open element; `offset` is just past its end tag.
    End {
        /// Byte offset just past the end tag.
        offset: usize,
    },
    /// A piece of character data (text, a resolved reference or a CDATA section), decoded.
    /// Adjacent pieces belong to the same text node.
    Text(Cow<'a, str>),
    /// A character or predefined entity reference, resolved (reported apart from text so that
    /// consumers imitating non-coalescing StAX parsers can see it).
    Reference(char),
    /// A processing instruction (target and data).
    Pi(Cow<'a, str>),
    /// A comment (its content).
    Comment(&'a str),
}

/// A namespace-aware, hardened pull reader over a byte range of a UTF-8 document.
pub struct Walker<'a> {
    reader: quick_xml::Reader<&'a [u8]>,
    text: &'a str,
    base: usize,
    limits: Limits,
    scope: Vec<NsBinding>,
    /// For each open element: scope length before its declarations.
    open: Vec<usize>,
    pending_end: Option<usize>,
    seen_root: bool,
    fragment: bool,
    done: bool,
    /// Re-reading a validated range without its namespace context: unbound prefixes resolve to
    /// no namespace instead of failing (only for reads that do not look at namespaces).
    lenient: bool,
    /// Next byte to read in fragment (trusted) mode, and the end of the range.
    pos: usize,
    end: usize,
}

impl std::fmt::Debug for Walker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker")
            .field("base", &self.base)
            .field("depth", &self.open.len())
            .finish()
    }
}

impl<'a> Walker<'a> {
    /// Reads a whole document.
    pub fn document(text: &'a str, limits: Limits) -> Result<Self, XmlError> {
        if text.len() > limits.max_document_bytes {
            return Err(XmlError::new(
                XmlErrorKind::LimitExceeded {
                    what: "document size in bytes",
                    limit: limits.max_document_bytes,
                },
                limits.max_document_bytes,
            ));
        }
        if text.starts_with('\u{FEFF}') {
            return Err(XmlError::new(
                XmlErrorKind::Encoding("a byte order mark inside the document".into()),
                0,
            ));
        }
        Ok(Self::new(text, 0, text.len(), Vec::new(), limits, false))
    }

    /// Reads one element that occupies `range` of `text`, with `scope` the namespace bindings in
    /// effect at its parent. The range must have been validated by an earlier whole-document read.
    pub fn element(
        text: &'a str,
        range: std::ops::Range<usize>,
        scope: Vec<NsBinding>,
        limits: Limits,
    ) -> Self {
        Self::new(text, range.start, range.end, scope, limits, true)
    }

    fn new(
        text: &'a str,
        start: usize,
        end: usize,
        scope: Vec<NsBinding>,
        limits: Limits,
        fragment: bool,
    ) -> Self {
        let mut reader = quick_xml::Reader::from_str(&text[start..end]);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Walker {
            reader,
            text,
            base: start,
            limits,
            scope,
            open: Vec::new(),
            pending_end: None,
            seen_root: false,
            fragment,
            done: false,
            lenient: false,
            pos: start,
            end,
        }
    }

    /// The namespace bindings currently in scope (innermost last).
    pub fn scope(&self) -> &[NsBinding] {
        &self.scope
    }

    /// Current element depth (1 inside the root element).
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// Looks a prefix up in the current scope (`""` = default namespace). `None` = unbound or
    /// (for the default namespace) no namespace.
    pub fn lookup(&self, prefix: &str) -> Option<Arc<str>> {
        lookup(&self.scope, prefix)
    }

    fn err(&self, kind: XmlErrorKind, local: usize) -> XmlError {
        XmlError::new(kind, self.base + local)
    }

    /// The next item, or `None` at the end of the document (or of the element range).
    pub fn next_item(&mut self) -> Result<Option<Item<'a>>, XmlError> {
        if let Some(offset) = self.pending_end.take() {
            return Ok(Some(self.close(offset)));
        }
        if self.done {
            return Ok(None);
        }
        if self.fragment {
            return Ok(self.next_trusted());
        }
        loop {
            let before = self.reader.buffer_position() as usize;
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    let at = self.reader.error_position() as usize;
                    return Err(self.err(XmlErrorKind::Syntax(e.to_string()), at));
                }
            };
            let after = self.reader.buffer_position() as usize;
            let depth = self.open.len();
            match event {
                Event::Start(start) => {
                    let tag = self.start(&start, before, false)?;
                    return Ok(Some(Item::Start(tag)));
                }
                Event::Empty(start) => {
                    let tag = self.start(&start, before, true)?;
                    self.pending_end = Some(self.base + after);
                    return Ok(Some(Item::Start(tag)));
                }
                Event::End(_) => {
                    if depth == 0 {
                        return Err(
                            self.err(XmlErrorKind::Syntax("unexpected end tag".into()), before)
                        );
                    }
                    return Ok(Some(self.close(self.base + after)));
                }
                Event::Text(text) => {
                    let raw = text.xml10_content();
                    let raw = match raw {
                        Cow::Borrowed(_) => Cow::Borrowed(self.slice(before, after)),
                        Cow::Owned(s) => Cow::Owned(s),
                    };
                    if !self.fragment {
                        check_chars(&raw)
                            .map_err(|c| self.err(XmlErrorKind::ForbiddenCharacter(c), before))?;
                        if raw.contains("]]>") {
                            return Err(self.err(
                                XmlErrorKind::Syntax("']]>' is not allowed in text".into()),
                                before,
                            ));
                        }
                    }
                    if depth == 0 {
                        if raw
                            .bytes()
                            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                        {
                            continue;
                        }
                        return Err(self.err(XmlErrorKind::NotOneRoot, before));
                    }
                    if raw.is_empty() {
                        continue;
                    }
                    return Ok(Some(Item::Text(raw)));
                }
                Event::GeneralRef(reference) => {
                    if depth == 0 {
                        return Err(self.err(XmlErrorKind::NotOneRoot, before));
                    }
                    let c = match reference.resolve_char_ref() {
                        Ok(Some(c)) => {
                            check_chars(c.encode_utf8(&mut [0; 4])).map_err(|c| {
                                self.err(XmlErrorKind::ForbiddenCharacter(c), before)
                            })?;
                            c
                        }
                        Ok(None) => match &*reference {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(self
                                    .err(XmlErrorKind::UndefinedEntity(other.to_owned()), before));
                            }
                        },
                        Err(e) => return Err(self.err(XmlErrorKind::Syntax(e.to_string()), before)),
                    };
                    return Ok(Some(Item::Reference(c)));
                }
                Event::CData(cdata) => {
                    if depth == 0 {
                        return Err(self.err(XmlErrorKind::NotOneRoot, before));
                    }
                    let content = cdata.xml10_content();
                    check_chars(&content)
                        .map_err(|c| self.err(XmlErrorKind::ForbiddenCharacter(c), before))?;
                    let content = match content {
                        Cow::Borrowed(_) => Cow::Borrowed(self.slice(before + 9, after - 3)),
                        Cow::Owned(s) => Cow::Owned(s),
                    };
                    return Ok(Some(Item::Text(content)));
                }
                Event::Comment(_) => {
                    return Ok(Some(Item::Comment(self.slice(before + 4, after - 3))));
                }
                Event::PI(_) => {
                    let raw = self.slice(before + 2, after - 2);
                    check_chars(raw)
                        .map_err(|c| self.err(XmlErrorKind::ForbiddenCharacter(c), before))?;
                    let pi = if raw.contains('\r') {
                        Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
                    } else {
                        Cow::Borrowed(raw)
                    };
                    return Ok(Some(Item::Pi(pi)));
                }
                Event::Decl(decl) => {
                    if self.fragment || before != 0 {
                        return Err(self.err(
                            XmlErrorKind::Syntax("XML declaration not at the start".into()),
                            before,
                        ));
                    }
                    if decl.version().is_ok_and(|v| &*v != "1.0") {
                        return Err(self.err(
                            XmlErrorKind::Syntax("only XML 1.0 documents are accepted".into()),
                            before,
                        ));
                    }
                    if let Some(Ok(encoding)) = decl.encoding() {
                        let encoding = encoding.to_ascii_lowercase();
                        if encoding != "utf-8" && encoding != "utf8" {
                            return Err(self.err(
                                XmlErrorKind::Encoding(format!("declared encoding {encoding}")),
                                before,
                            ));
                        }
                    }
                }
                Event::DocType(_) => return Err(self.err(XmlErrorKind::DtdForbidden, before)),
                Event::Eof => {
                    if depth != 0 {
                        return Err(self.err(
                            XmlErrorKind::Syntax(
                                "unexpected end of input: unclosed element".into(),
                            ),
                            after,
                        ));
                    }
                    if !self.seen_root {
                        return Err(self.err(XmlErrorKind::NotOneRoot, after));
                    }
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    fn slice(&self, from: usize, to: usize) -> &'a str {
        // quick-xml reports positions on the borrowed input, which is our text: always on char
        // boundaries because markup delimiters are ASCII.
        &self.text[self.base + from..self.base + to]
    }

    /// Fragment mode: the range was validated by a whole-document read, so it is scanned with a
    /// minimal tokenizer (no checks) — several times faster than a validating read. Produces the
    /// same items as the validating path (the differential tests of C14N and the transform run
    /// on both paths).
    fn next_trusted(&mut self) -> Option<Item<'a>> {
        let text = self.text;
        let bytes = text.as_bytes();
        if self.pos >= self.end {
            self.done = true;
            return None;
        }
        let rest = &text[self.pos..self.end];
        let at = self.pos;
        if rest.starts_with('<') {
            if let Some(body) = rest.strip_prefix("<!--") {
                let k = body.find("-->").unwrap_or(body.len());
                self.pos = at + 4 + k + 3;
                return Some(Item::Comment(&body[..k]));
            }
            if let Some(body) = rest.strip_prefix("<![CDATA[") {
                let k = body.find("]]>").unwrap_or(body.len());
                self.pos = at + 9 + k + 3;
                return Some(Item::Text(normalize_eol(&body[..k])));
            }
            if let Some(body) = rest.strip_prefix("<?") {
                let k = body.find("?>").unwrap_or(body.len());
                self.pos = at + 2 + k + 2;
                return Some(Item::Pi(normalize_eol(&body[..k])));
            }
            if rest.starts_with("</") {
                let k = rest.find('>').unwrap_or(rest.len() - 1);
                self.pos = at + k + 1;
                return Some(self.close(self.pos));
            }
            // A start tag: find its '>' outside attribute values.
            let mut quote = 0u8;
            let mut gt = self.end - 1;
            for (i, &b) in bytes[at + 1..self.end].iter().enumerate() {
                match b {
                    b'"' | b'\'' if quote == 0 => quote = b,
                    q if q == quote => quote = 0,
                    b'>' if quote == 0 => {
                        gt = at + 1 + i;
                        break;
                    }
                    _ => {}
                }
            }
            let empty = bytes[gt - 1] == b'/';
            let inner = &text[at + 1..if empty { gt - 1 } else { gt }];
            self.pos = gt + 1;
            let tag = self.start_trusted(at, inner, empty);
            if empty {
                self.pending_end = Some(gt + 1);
            }
            return Some(Item::Start(tag));
        }
        if let Some(body) = rest.strip_prefix('&') {
            let k = body.find(';').unwrap_or(body.len());
            self.pos = at + 1 + k + 1;
            let c = resolve_reference(&body[..k]).unwrap_or(char::REPLACEMENT_CHARACTER);
            return Some(Item::Reference(c));
        }
        let k = rest.find(['<', '&']).unwrap_or(rest.len());
        self.pos = at + k;
        Some(Item::Text(normalize_eol(&rest[..k])))
    }

    fn start_trusted(&mut self, offset: usize, inner: &'a str, empty: bool) -> StartTag<'a> {
        let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        let bytes = inner.as_bytes();
        let name_end = bytes.iter().position(|&c| ws(c)).unwrap_or(inner.len());
        let qname = &inner[..name_end];
        let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
        let scope_len = self.scope.len();
        // Attributes first with no namespace; resolved below, once the declarations are in scope.
        let mut attrs: Vec<Attr<'a>> = Vec::new();
        let mut decls = Vec::new();
        let mut p = name_end;
        loop {
            while p < bytes.len() && ws(bytes[p]) {
                p += 1;
            }
            let Some(eq) = bytes[p..].iter().position(|&c| c == b'=').map(|k| p + k) else {
                break;
            };
            let mut key_end = eq;
            while key_end > p && ws(bytes[key_end - 1]) {
                key_end -= 1;
            }
            let key = &inner[p..key_end];
            p = eq + 1;
            while p < bytes.len() && ws(bytes[p]) {
                p += 1;
            }
            // A validated tag has a quote here; anything else ends the reading.
            let Some(&q) = bytes.get(p).filter(|&&q| q == b'"' || q == b'\'') else {
                break;
            };
            let body = p + 1;
            let close = bytes[body.min(bytes.len())..]
                .iter()
                .position(|&c| c == q)
                .map_or(bytes.len(), |k| body + k);
            let raw = &inner[body.min(close)..close];
            p = (close + 1).min(bytes.len());
            let value = normalize_attribute(raw, false).unwrap_or(Cow::Borrowed(raw));
            if key == "xmlns" {
                decls.push(NsBinding {
                    prefix: Arc::from(""),
                    uri: Arc::from(&*value),
                });
            } else if let Some(declared) = key.strip_prefix("xmlns:") {
                decls.push(NsBinding {
                    prefix: Arc::from(declared),
                    uri: Arc::from(&*value),
                });
            } else {
                let (p, l) = key.split_once(':').unwrap_or(("", key));
                attrs.push(Attr {
                    prefix: p,
                    local: l,
                    ns: None,
                    value,
                });
            }
        }
        self.scope.extend(decls.iter().cloned());
        self.open.push(scope_len);
        let ns = self.resolve(prefix, true).unwrap_or(None);
        for attr in &mut attrs {
            if !attr.prefix.is_empty() {
                attr.ns = self.resolve(attr.prefix, false).unwrap_or(None);
            }
        }
        StartTag {
            offset,
            prefix,
            local,
            ns,
            attrs,
            decls,
            empty,
        }
    }

    fn close(&mut self, offset: usize) -> Item<'a> {
        if let Some(len) = self.open.pop() {
            self.scope.truncate(len);
        }
        if self.open.is_empty() && self.fragment {
            self.done = true;
        }
        Item::End { offset }
    }

    fn start(
        &mut self,
        start: &BytesStart<'a>,
        before: usize,
        empty: bool,
    ) -> Result<StartTag<'a>, XmlError> {
        if self.open.is_empty() {
            if self.seen_root {
                return Err(self.err(XmlErrorKind::NotOneRoot, before));
            }
            self.seen_root = true;
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(self.err(
                XmlErrorKind::LimitExceeded {
                    what: "element depth",
                    limit: self.limits.max_depth,
                },
                before,
            ));
        }
        // The tag text: `<` name attributes (`/`)? `>`; quick-xml hands us the inside.
        let inner = self.slice(before + 1, before + 1 + start.len());
        let name_len = start.name().as_ref().len();
        let qname = &inner[..name_len];
        // Re-reads of a validated range (fragments) skip the checks the first read made.
        let trusted = self.fragment;
        let (prefix, local) = if trusted {
            qname.split_once(':').unwrap_or(("", qname))
        } else {
            split_qname(qname).map_err(|k| self.err(k, before))?
        };

        let scope_len = self.scope.len();
        let mut raw_attrs: Vec<(&'a str, &'a str, Cow<'a, str>)> = Vec::new();
        let mut decls = Vec::new();
        let mut count = 0usize;
        let mut attributes = start.attributes();
        attributes.with_checks(!trusted);
        for attr in attributes {
            let attr = attr.map_err(|e| {
                let kind = match e {
                    quick_xml::events::attributes::AttrError::Duplicated(at, _) => {
                        let name = inner
                            .get(at..)
                            .unwrap_or("")
                            .split(['=', ' ', '\t', '\n', '\r'])
                            .next()
                            .unwrap_or("");
                        XmlErrorKind::DuplicateAttribute(name.to_owned())
                    }
                    other => XmlErrorKind::Syntax(other.to_string()),
                };
                self.err(kind, before)
            })?;
            count += 1;
            if count > self.limits.max_attributes {
                return Err(self.err(
                    XmlErrorKind::LimitExceeded {
                        what: "attributes per element",
                        limit: self.limits.max_attributes,
                    },
                    before,
                ));
            }
            if attr.value.len() > self.limits.max_attribute_bytes {
                return Err(self.err(
                    XmlErrorKind::LimitExceeded {
                        what: "attribute value size in bytes",
                        limit: self.limits.max_attribute_bytes,
                    },
                    before,
                ));
            }
            let key = key_str(inner, attr.key.as_ref()).ok_or_else(|| {
                self.err(
                    XmlErrorKind::Syntax("attribute name outside its tag".into()),
                    before,
                )
            })?;
            let value = match normalize_attribute(&attr.value, !trusted)
                .map_err(|k| self.err(k, before))?
            {
                Cow::Borrowed(v) => match key_str(inner, v) {
                    Some(v) => Cow::Borrowed(v),
                    None => Cow::Owned(v.to_owned()),
                },
                Cow::Owned(v) => Cow::Owned(v),
            };
            if key == "xmlns" {
                if &*value == XML_NS || &*value == XMLNS_NS {
                    return Err(self.err(
                        XmlErrorKind::Syntax(format!("the default namespace cannot be {value}")),
                        before,
                    ));
                }
                decls.push(NsBinding {
                    prefix: Arc::from(""),
                    uri: Arc::from(&*value),
                });
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                if !is_name(p) {
                    return Err(self.err(
                        XmlErrorKind::Syntax(format!("invalid namespace prefix in xmlns:{p}")),
                        before,
                    ));
                }
                if value.is_empty() {
                    return Err(self.err(
                        XmlErrorKind::Syntax(format!(
                            "prefix '{p}' cannot be undeclared in XML 1.0"
                        )),
                        before,
                    ));
                }
                if p == "xmlns"
                    || (p == "xml" && &*value != XML_NS)
                    || (p != "xml" && &*value == XML_NS)
                    || &*value == XMLNS_NS
                {
                    return Err(self.err(
                        XmlErrorKind::Syntax(format!(
                            "reserved prefix or namespace misused: xmlns:{p}"
                        )),
                        before,
                    ));
                }
                decls.push(NsBinding {
                    prefix: Arc::from(p),
                    uri: Arc::from(&*value),
                });
            } else {
                let (p, l) = if trusted {
                    key.split_once(':').unwrap_or(("", key))
                } else {
                    split_qname(key).map_err(|k| self.err(k, before))?
                };
                raw_attrs.push((p, l, value));
            }
        }
        self.scope.extend(decls.iter().cloned());
        self.open.push(scope_len);

        let ns = self
            .resolve(prefix, true)
            .map_err(|k| self.err(k, before))?;
        let mut attrs = Vec::with_capacity(raw_attrs.len());
        for (p, l, value) in raw_attrs {
            let ns = if p.is_empty() {
                None
            } else {
                self.resolve(p, false).map_err(|k| self.err(k, before))?
            };
            if attrs.iter().any(|a: &Attr<'_>| a.local == l && a.ns == ns) {
                return Err(self.err(XmlErrorKind::DuplicateAttribute(l.to_owned()), before));
            }
            attrs.push(Attr {
                prefix: p,
                local: l,
                ns,
                value,
            });
        }
        Ok(StartTag {
            offset: self.base + before,
            prefix,
            local,
            ns,
            attrs,
            decls,
            empty,
        })
    }

    fn resolve(&self, prefix: &str, element: bool) -> Result<Option<Arc<str>>, XmlErrorKind> {
        if prefix == "xml" {
            return Ok(Some(Arc::from(XML_NS)));
        }
        match lookup(&self.scope, prefix) {
            Some(uri) if uri.is_empty() => Ok(None),
            Some(uri) => Ok(Some(uri)),
            None if prefix.is_empty() => {
                debug_assert!(element);
                Ok(None)
            }
            None if self.lenient => Ok(None),
            None => Err(XmlErrorKind::UnboundPrefix(prefix.to_owned())),
        }
    }
}

/// A per-thread output buffer for the direct readers of the transform and C14N, so that a
/// verification does not allocate (and free) one each time. Only the allocation is reused: the
/// buffer is always handed out empty.
pub(crate) mod scratch {
    use std::cell::Cell;

    /// Buffers that grew beyond this are not kept.
    const KEEP: usize = 64 * 1024;

    thread_local! {
        static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    /// An empty buffer (with the capacity of the last one given back on this thread).
    pub(crate) fn take() -> Vec<u8> {
        let mut buf = BUFFER.with(Cell::take);
        buf.clear();
        if buf.capacity() == 0 {
            buf.reserve(12 * 1024);
        }
        buf
    }

    /// Keeps `buf`'s allocation for the next [`take`] on this thread.
    pub(crate) fn give_back(mut buf: Vec<u8>) {
        if buf.capacity() <= KEEP {
            buf.clear();
            BUFFER.with(|b| b.set(buf));
        }
    }
}

/// Word-at-a-time byte tests ("SWAR"): each tells exactly whether *some* byte of the 8-byte
/// word `x` has the property, which lets scanners skip 8 ordinary bytes per step.
pub(crate) mod swar {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;

    /// The 8 bytes at `p` as a word (`p + 8 <= b.len()`).
    #[inline]
    pub(crate) fn word(b: &[u8], p: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[p..p + 8]);
        u64::from_le_bytes(w)
    }

    /// Some byte is below `n` (`n <= 128`).
    #[inline]
    pub(crate) fn has_less(x: u64, n: u8) -> bool {
        x.wrapping_sub(LO * u64::from(n)) & !x & HI != 0
    }

    /// Some byte is above `n` (`n <= 127`).
    #[inline]
    pub(crate) fn has_more(x: u64, n: u8) -> bool {
        (x.wrapping_add(LO * u64::from(127 - n)) | x) & HI != 0
    }

    /// Some byte equals `v`.
    #[inline]
    pub(crate) fn has_byte(x: u64, v: u8) -> bool {
        has_less(x ^ (LO * u64::from(v)), 1)
    }
}

/// Line-end normalisation of XML 1.0 §2.11 (CR LF and lone CR become LF).
pub(crate) fn normalize_eol(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` cut to at most `max` characters, an ellipsis marking the cut: how a value from a
/// document is quoted in a message (bounded whatever the document).
pub fn cut_chars(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

/// Escapes a value for a double-quoted attribute.
pub fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes character data.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn lookup(scope: &[NsBinding], prefix: &str) -> Option<Arc<str>> {
    scope
        .iter()
        .rev()
        .find(|b| &*b.prefix == prefix)
        .map(|b| b.uri.clone())
}

fn key_str<'a>(inner: &'a str, key: &str) -> Option<&'a str> {
    // quick-xml's slice reader hands out attribute names borrowed from the input, i.e. from
    // `inner`; recover the `&str` with the input's lifetime.
    let start = (key.as_ptr() as usize).checked_sub(inner.as_ptr() as usize)?;
    inner.get(start..start.checked_add(key.len())?)
}

fn split_qname(qname: &str) -> Result<(&str, &str), XmlErrorKind> {
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", qname),
    };
    if local.is_empty() || local.contains(':') || (qname.contains(':') && prefix.is_empty()) {
        return Err(XmlErrorKind::Syntax(format!(
            "invalid qualified name '{qname}'"
        )));
    }
    if !is_name(local) || (!prefix.is_empty() && !is_name(prefix)) {
        return Err(XmlErrorKind::Syntax(format!("invalid name '{qname}'")));
    }
    Ok((prefix, local))
}

fn is_name(name: &str) -> bool {
    // Fast path: ASCII names (nearly all names in practice).
    if name.is_ascii() {
        let bytes = name.as_bytes();
        return bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    }
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start = |c: char| c.is_alphabetic() || c == '_' || (c as u32 >= 0xC0 && !c.is_whitespace());
    start(first)
        && chars.all(|c| {
            start(c)
                || c.is_ascii_digit()
                || c == '-'
                || c == '.'
                || c == '\u{B7}'
                || c.is_numeric()
        })
}

/// Returns the first character XML 1.0 does not allow, if any.
fn check_chars(text: &str) -> Result<(), u32> {
    // The text is valid UTF-8 already (no surrogates), so the only characters XML 1.0 forbids
    // are the C0 controls other than TAB, LF, CR (single bytes) and U+FFFE/U+FFFF (EF BF BE/BF).
    let bytes = text.as_bytes();
    if let Some(&b) = bytes
        .iter()
        .find(|&&b| b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r')
    {
        return Err(u32::from(b));
    }
    if bytes.contains(&0xEF) {
        for c in ['\u{FFFE}', '\u{FFFF}'] {
            if text.contains(c) {
                return Err(c as u32);
            }
        }
    }
    Ok(())
}

/// Attribute-value normalisation of XML 1.0 §3.3.3 for CDATA attributes: literal TAB, CR, LF
/// (CR LF counting as one) become spaces; character and predefined references are resolved.
fn normalize_attribute(raw: &str, check: bool) -> Result<Cow<'_, str>, XmlErrorKind> {
    if !raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r' | b'<'))
    {
        if check {
            check_chars(raw).map_err(XmlErrorKind::ForbiddenCharacter)?;
        }
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r', '<']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        rest = &rest[i + 1..];
        match c {
            b'\r' => {
                out.push(' ');
                if let Some(r) = rest.strip_prefix('\n') {
                    rest = r;
                }
            }
            b'\t' | b'\n' => out.push(' '),
            b'<' => {
                return Err(XmlErrorKind::Syntax(
                    "'<' is not allowed in an attribute value".into(),
                ));
            }
            _ => {
                let end = rest.find(';').ok_or_else(|| {
                    XmlErrorKind::Syntax("unterminated reference in attribute value".into())
                })?;
                let name = &rest[..end];
                rest = &rest[end + 1..];
                out.push(resolve_reference(name)?);
            }
        }
    }
    out.push_str(rest);
    check_chars(&out).map_err(XmlErrorKind::ForbiddenCharacter)?;
    Ok(Cow::Owned(out))
}

/// The attributes (namespace declarations included) of the start tag at `start` of a
/// validated text, as (qualified name, raw value) in document order.
fn raw_attributes(text: &str, start: usize, end: usize) -> impl Iterator<Item = (&str, &str)> {
    let b = text.as_bytes();
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let mut p = start + 1;
    while p < end && !ws(b[p]) && b[p] != b'/' && b[p] != b'>' {
        p += 1;
    }
    std::iter::from_fn(move || {
        while p < end && ws(b[p]) {
            p += 1;
        }
        if p >= end || b[p] == b'>' || b[p] == b'/' {
            return None;
        }
        let key_start = p;
        while p < end && b[p] != b'=' && !ws(b[p]) {
            p += 1;
        }
        let key = &text[key_start..p];
        while p < end && (ws(b[p]) || b[p] == b'=') {
            p += 1;
        }
        let quote = *b.get(p).filter(|_| p < end)?;
        let value_start = p + 1;
        let value_end = b[value_start.min(end)..end]
            .iter()
            .position(|&c| c == quote)
            .map_or(end, |k| value_start + k);
        p = value_end + 1;
        Some((key, &text[value_start.min(value_end)..value_end]))
    })
}

/// An attribute value of a validated range, normalised as the trusted walker does.
pub(crate) fn normalize_attribute_trusted(raw: &str) -> Cow<'_, str> {
    normalize_attribute(raw, false).unwrap_or(Cow::Borrowed(raw))
}

/// A reference (between `&` and `;`) of a validated range, resolved as the trusted walker does.
pub(crate) fn resolve_trusted(name: &str) -> char {
    resolve_reference(name).unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn resolve_reference(name: &str) -> Result<char, XmlErrorKind> {
    let code = if let Some(hex) = name.strip_prefix("#x") {
        u32::from_str_radix(hex, 16).ok()
    } else if let Some(dec) = name.strip_prefix('#') {
        dec.parse::<u32>().ok()
    } else {
        return match name {
            "amp" => Ok('&'),
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            other => Err(XmlErrorKind::UndefinedEntity(other.to_owned())),
        };
    };
    let c = code
        .and_then(char::from_u32)
        .ok_or_else(|| XmlErrorKind::Syntax(format!("invalid character reference &{name};")))?;
    check_chars(c.encode_utf8(&mut [0; 4])).map_err(XmlErrorKind::ForbiddenCharacter)?;
    Ok(c)
}

/// Index of an element inside a [`Document`].
pub type ElementId = usize;

#[derive(Debug, Clone, PartialEq)]
struct ElementData {
    start: usize,
    end: usize,
    parent: Option<ElementId>,
    subtree_end: ElementId,
    /// Length of the prefix (0 when none) of the name that starts at `start + 1`.
    prefix_len: u32,
    /// Length of the local name.
    local_len: u32,
    /// Namespace: 0 for none, else `k` for `Document::namespaces[k - 1]`.
    ns: u32,
    decls: Vec<NsBinding>,
    id: Option<Arc<str>>,
}

/// Where the local name starts within the qualified name.
fn name_offset(d: &ElementData) -> usize {
    if d.prefix_len == 0 {
        0
    } else {
        d.prefix_len as usize + 1
    }
}

/// The WS-Security utility namespace, whose `wsu:Id` is also accepted as an element id.
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// A validated document with an index of its elements (no DOM).
#[derive(Debug, Clone)]
pub struct Document<'a> {
    text: &'a str,
    limits: Limits,
    elements: Vec<ElementData>,
    /// The namespace URIs the elements refer to (`ElementData::ns`).
    namespaces: Vec<Arc<str>>,
}

impl<'a> Document<'a> {
    /// Reads and checks a whole document from UTF-8 bytes.
    pub fn parse(bytes: &'a [u8], limits: Limits) -> Result<Self, XmlError> {
        if bytes.len() > limits.max_document_bytes {
            return Err(XmlError::new(
                XmlErrorKind::LimitExceeded {
                    what: "document size in bytes",
                    limit: limits.max_document_bytes,
                },
                limits.max_document_bytes,
            ));
        }
        let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let text = decode_utf8(bytes).map_err(|e| XmlError::new(e.kind, e.offset + bom))?;
        Self::parse_str(text, limits)
    }

    /// Reads and checks a whole document.
    pub fn parse_str(text: &'a str, limits: Limits) -> Result<Self, XmlError> {
        let walker = Walker::document(text, limits)?;
        // The fast scanner accepts only what the walker accepts, with the same index; anything
        // else (and every error) is left to the walker.
        if let Some((elements, namespaces)) = index::index(text, &limits) {
            let doc = Document {
                text,
                limits,
                elements,
                namespaces,
            };
            #[cfg(debug_assertions)]
            {
                let slow = Self::parse_with(walker, text, limits);
                assert!(
                    slow.as_ref().is_ok_and(|d| d.same_index(&doc)),
                    "the fast reader disagrees with the walker on {text:?}: {slow:?}"
                );
            }
            return Ok(doc);
        }
        Self::parse_with(walker, text, limits)
    }

    /// Whether both documents index the same elements the same way.
    #[cfg(debug_assertions)]
    fn same_index(&self, other: &Document<'_>) -> bool {
        self.elements.len() == other.elements.len()
            && (0..self.elements.len()).all(|i| {
                let (a, b) = (&self.elements[i], &other.elements[i]);
                (
                    a.start,
                    a.end,
                    a.parent,
                    a.subtree_end,
                    a.prefix_len,
                    a.local_len,
                ) == (
                    b.start,
                    b.end,
                    b.parent,
                    b.subtree_end,
                    b.prefix_len,
                    b.local_len,
                ) && a.decls == b.decls
                    && a.id == b.id
                    && self.element(i).namespace() == other.element(i).namespace()
            })
    }

    /// The whole-document read with the walker.
    fn parse_with(mut walker: Walker<'a>, text: &'a str, limits: Limits) -> Result<Self, XmlError> {
        let mut elements: Vec<ElementData> = Vec::with_capacity(text.len() / 64 + 1);
        let mut namespaces: Vec<Arc<str>> = Vec::new();
        let mut stack: Vec<ElementId> = Vec::new();
        while let Some(item) = walker.next_item()? {
            match item {
                Item::Start(tag) => {
                    if elements.len() >= limits.max_elements {
                        return Err(XmlError::new(
                            XmlErrorKind::LimitExceeded {
                                what: "number of elements",
                                limit: limits.max_elements,
                            },
                            tag.offset,
                        ));
                    }
                    let id = tag
                        .attrs
                        .iter()
                        .find(|a| {
                            a.local == "Id" && (a.ns.is_none() || a.ns.as_deref() == Some(WSU_NS))
                        })
                        .map(|a| Arc::from(&*a.value));
                    let index = elements.len();
                    elements.push(ElementData {
                        start: tag.offset,
                        end: 0,
                        parent: stack.last().copied(),
                        subtree_end: 0,
                        prefix_len: tag.prefix.len() as u32,
                        local_len: tag.local.len() as u32,
                        ns: match tag.ns {
                            Some(uri) => {
                                namespaces.push(uri);
                                namespaces.len() as u32
                            }
                            None => 0,
                        },
                        decls: tag.decls,
                        id,
                    });
                    stack.push(index);
                }
                Item::End { offset } => {
                    if let Some(index) = stack.pop() {
                        elements[index].end = offset;
                        elements[index].subtree_end = elements.len();
                    }
                }
                Item::Text(_) | Item::Reference(_) | Item::Pi(_) | Item::Comment(_) => {}
            }
        }
        Ok(Document {
            text,
            limits,
            elements,
            namespaces,
        })
    }

    /// The document text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The limits it was read with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The root element.
    pub fn root(&self) -> Element<'_, 'a> {
        Element { doc: self, id: 0 }
    }

    /// An element by index.
    pub fn element(&self, id: ElementId) -> Element<'_, 'a> {
        Element { doc: self, id }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Never true for a parsed document (it has a root); present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// All elements in document order.
    pub fn elements(&self) -> impl Iterator<Item = Element<'_, 'a>> + '_ {
        (0..self.elements.len()).map(move |id| Element { doc: self, id })
    }

    /// All elements whose `Id` (or `wsu:Id`) equals `id` (more than one means the document is
    /// ambiguous for a signature reference).
    pub fn find_by_id(&self, id: &str) -> Vec<Element<'_, 'a>> {
        self.elements()
            .filter(|e| e.id_attr() == Some(id))
            .collect()
    }

    /// All elements with this namespace and local name, in document order.
    pub fn find<'s>(
        &'s self,
        ns: &'s str,
        local: &'s str,
    ) -> impl Iterator<Item = Element<'s, 'a>> + 's {
        self.elements().filter(move |e| e.is(ns, local))
    }
}

/// The most characters of one name written by [`Element::path`].
pub const PATH_NAME_CHARS: usize = 64;

/// The most steps written by [`Element::path`].
pub const PATH_STEPS: usize = 8;

/// A handle to one element of a [`Document`].
#[derive(Clone, Copy)]
pub struct Element<'d, 'a> {
    doc: &'d Document<'a>,
    id: ElementId,
}

impl std::fmt::Debug for Element<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Element({} #{})", self.qname(), self.id)
    }
}

impl PartialEq for Element<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.doc, other.doc) && self.id == other.id
    }
}

impl<'d, 'a> Element<'d, 'a> {
    fn data(&self) -> &'d ElementData {
        &self.doc.elements[self.id]
    }

    /// Its index in the document.
    pub fn index(&self) -> ElementId {
        self.id
    }

    /// The document.
    pub fn document(&self) -> &'d Document<'a> {
        self.doc
    }

    /// Local name.
    pub fn local_name(&self) -> &'d str {
        let d = self.data();
        let start = d.start + 1 + name_offset(d);
        &self.doc.text[start..start + d.local_len as usize]
    }

    /// Prefix as written (`""` when none).
    pub fn prefix(&self) -> &'d str {
        let d = self.data();
        &self.doc.text[d.start + 1..d.start + 1 + d.prefix_len as usize]
    }

    /// The qualified name as written.
    pub fn qname(&self) -> String {
        let d = self.data();
        let start = d.start + 1;
        self.doc.text[start..start + name_offset(d) + d.local_len as usize].to_owned()
    }

    /// Namespace URI, if any.
    pub fn namespace(&self) -> Option<&'d str> {
        match self.data().ns {
            0 => None,
            k => Some(&self.doc.namespaces[k as usize - 1]),
        }
    }

    /// Whether the element has this namespace and local name.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        let d = self.data();
        d.local_len as usize == local.len()
            && self.local_name() == local
            && self.namespace().unwrap_or("") == ns
    }

    /// Its `Id` (or `wsu:Id`) attribute.
    pub fn id_attr(&self) -> Option<&'d str> {
        self.data().id.as_deref()
    }

    /// Byte range of the element in the document text (start tag to end tag inclusive).
    pub fn range(&self) -> std::ops::Range<usize> {
        let d = self.data();
        d.start..d.end
    }

    /// The element's source text.
    pub fn source(&self) -> &'a str {
        &self.doc.text[self.range()]
    }

    /// Parent element.
    pub fn parent(&self) -> Option<Element<'d, 'a>> {
        self.data().parent.map(|id| Element { doc: self.doc, id })
    }

    /// Ancestors, nearest first.
    pub fn ancestors(&self) -> impl Iterator<Item = Element<'d, 'a>> + 'd {
        let doc = self.doc;
        std::iter::successors(self.parent(), move |e| {
            e.data().parent.map(|id| Element { doc, id })
        })
    }

    /// Whether `other` is this element or inside it.
    pub fn contains(&self, other: &Element<'_, '_>) -> bool {
        other.id >= self.id && other.id < self.data().subtree_end
    }

    /// Child elements.
    pub fn children(&self) -> impl Iterator<Item = Element<'d, 'a>> + 'd {
        let doc = self.doc;
        let end = self.data().subtree_end;
        let mut next = self.id + 1;
        std::iter::from_fn(move || {
            if next >= end {
                return None;
            }
            let e = Element { doc, id: next };
            next = doc.elements[next].subtree_end;
            Some(e)
        })
    }

    /// Descendant elements in document order.
    pub fn descendants(&self) -> impl Iterator<Item = Element<'d, 'a>> + 'd {
        let doc = self.doc;
        (self.id + 1..self.data().subtree_end).map(move |id| Element { doc, id })
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: &str, local: &str) -> Option<Element<'d, 'a>> {
        self.children().find(|c| c.is(ns, local))
    }

    /// Following siblings, in document order.
    pub fn following_siblings(&self) -> impl Iterator<Item = Element<'d, 'a>> + 'd {
        let doc = self.doc;
        let parent_end = self
            .data()
            .parent
            .map_or(self.id + 1, |p| doc.elements[p].subtree_end);
        let mut next = self.data().subtree_end;
        std::iter::from_fn(move || {
            if next >= parent_end {
                return None;
            }
            let e = Element { doc, id: next };
            next = doc.elements[next].subtree_end;
            Some(e)
        })
    }

    /// The namespace bindings in scope at this element's parent (what a re-read of this element
    /// must start with).
    pub fn inherited_scope(&self) -> Vec<NsBinding> {
        let mut chain: Vec<Element<'d, 'a>> = self.ancestors().collect();
        chain.reverse();
        chain
            .into_iter()
            .flat_map(|e| e.data().decls.iter().cloned())
            .collect()
    }

    /// The namespace declarations made on this element itself.
    pub fn declarations(&self) -> &'d [NsBinding] {
        &self.data().decls
    }

    /// A walker over this element.
    pub fn walker(&self) -> Walker<'a> {
        Walker::element(
            self.doc.text,
            self.range(),
            self.inherited_scope(),
            self.doc.limits,
        )
    }

    /// The start tag, resolved.
    pub fn start_tag(&self) -> StartTag<'a> {
        let mut walker = self.walker();
        match walker.next_item() {
            Ok(Some(Item::Start(tag))) => tag,
            // The range was validated when the document was read.
            other => unreachable!("element range does not start with a start tag: {other:?}"),
        }
    }

    /// An attribute value by namespace (`None` = unqualified) and local name.
    pub fn attribute(&self, ns: Option<&str>, local: &str) -> Option<String> {
        if ns.is_none() {
            // An unprefixed attribute needs no namespace context: read just the start tag.
            if local == "xmlns" || local.contains(':') {
                return None;
            }
            let d = self.data();
            return raw_attributes(self.doc.text, d.start, d.end)
                .find(|(key, _)| *key == local)
                .map(|(_, raw)| normalize_attribute_trusted(raw).into_owned());
        }
        self.start_tag()
            .attrs
            .into_iter()
            .find(|a| a.local == local && a.ns.as_deref() == ns)
            .map(|a| a.value.into_owned())
    }

    /// A walker over this element that does not need (or build) the inherited namespace scope.
    fn lenient_walker(&self) -> Walker<'a> {
        let mut walker = Walker::element(self.doc.text, self.range(), Vec::new(), self.doc.limits);
        walker.lenient = true;
        walker
    }

    /// End of the start tag (just past its `>`).
    fn start_tag_end(&self) -> usize {
        let d = self.data();
        let b = self.doc.text.as_bytes();
        let mut quote = 0u8;
        for (i, &c) in b[d.start + 1..d.end].iter().enumerate() {
            match c {
                b'"' | b'\'' if quote == 0 => quote = c,
                _ if quote != 0 && c == quote => quote = 0,
                _ if quote != 0 => {}
                b'>' => return d.start + 2 + i,
                _ => {}
            }
        }
        d.end
    }

    /// The content of an element without child elements whose character data is written as
    /// is (no references, CDATA sections, comments, processing instructions or CRs): then it
    /// is its text content.
    fn plain_text(&self) -> Option<&'a str> {
        let d = self.data();
        if d.subtree_end != self.id + 1 {
            return None;
        }
        let b = self.doc.text.as_bytes();
        let open_end = self.start_tag_end();
        if open_end >= d.end {
            return Some("");
        }
        let i = b[open_end..d.end]
            .iter()
            .position(|&c| matches!(c, b'<' | b'&' | b'\r'))
            .map(|k| open_end + k)?;
        (b[i] == b'<' && b.get(i + 1) == Some(&b'/')).then(|| &self.doc.text[open_end..i])
    }

    /// [`Element::text_content`], borrowed from the document when the element holds plain text
    /// only (no child elements, references or carriage returns): large base64 contents need no
    /// copy.
    pub fn text_cow(&self) -> Cow<'a, str> {
        match self.plain_text() {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(self.text_content()),
        }
    }

    /// The concatenated character data of the element and its descendants.
    pub fn text_content(&self) -> String {
        if let Some(text) = self.plain_text() {
            return text.to_owned();
        }
        let mut walker = self.lenient_walker();
        let mut out = String::new();
        while let Ok(Some(item)) = walker.next_item() {
            match item {
                Item::Text(t) => out.push_str(&t),
                Item::Reference(c) => out.push(c),
                _ => {}
            }
        }
        out
    }

    /// The element's exact source with the namespace declarations it inherits (and does not
    /// re-declare itself) added to its start tag: a standalone fragment with the same information
    /// set wherever it is inserted, so exclusive C14N, the SMEV transform and therefore signature
    /// digests are unchanged.
    ///
    /// All in-scope declarations are added, used or not (QName-valued content such as `xsi:type`
    /// may need them). When no default namespace is in scope and the element does not declare
    /// one, `xmlns=""` is added, so that unprefixed names stay in no namespace when the fragment
    /// is put under a default namespace.
    pub fn standalone(&self) -> String {
        let source = self.source();
        let own = self.declarations();
        let mut inherited: Vec<NsBinding> = Vec::new();
        for binding in self.inherited_scope().into_iter().rev() {
            if !inherited.iter().any(|b| b.prefix == binding.prefix) {
                inherited.push(binding);
            }
        }
        inherited.reverse();
        let mut extra = String::new();
        let mut default_in_scope = false;
        for binding in &inherited {
            if own.iter().any(|b| b.prefix == binding.prefix) || &*binding.prefix == "xml" {
                continue;
            }
            if binding.prefix.is_empty() {
                default_in_scope = true;
                extra.push_str(" xmlns=\"");
            } else {
                extra.push_str(" xmlns:");
                extra.push_str(&binding.prefix);
                extra.push_str("=\"");
            }
            extra.push_str(&escape_attribute(&binding.uri));
            extra.push('"');
        }
        if !default_in_scope && !own.iter().any(|b| b.prefix.is_empty()) {
            extra.push_str(" xmlns=\"\"");
        }
        let name_end = 1 + self.qname().len();
        let mut out = String::with_capacity(source.len() + extra.len());
        out.push_str(&source[..name_end]);
        out.push_str(&extra);
        out.push_str(&source[name_end..]);
        out
    }

    /// A readable path like `/Envelope/Body/SendRequestRequest`.
    ///
    /// Bounded, whatever the document: names longer than [`PATH_NAME_CHARS`] are cut, and of a
    /// path deeper than [`PATH_STEPS`] only the first and last steps are written (with how many
    /// were left out), so a message naming elements never grows with a hostile document.
    pub fn path(&self) -> String {
        let mut names: Vec<&str> = self.ancestors().map(|e| e.local_name()).collect();
        names.reverse();
        names.push(self.local_name());
        let step = |out: &mut String, name: &str| {
            out.push('/');
            out.push_str(&cut_chars(name, PATH_NAME_CHARS));
        };
        let mut out = String::new();
        if names.len() <= PATH_STEPS {
            for name in &names {
                step(&mut out, name);
            }
        } else {
            let half = PATH_STEPS / 2;
            for name in &names[..half] {
                step(&mut out, name);
            }
            out.push_str(&format!("/…({} more)…", names.len() - 2 * half));
            for name in &names[names.len() - half..] {
                step(&mut out, name);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::swar;

    /// The word tests against byte-by-byte answers, for every byte value in every position,
    /// next to every filler byte (borrows between bytes are where such tricks go wrong).
    #[test]
    fn swar_tests_are_exact() {
        for filler in 0..=255u8 {
            for v in 0..=255u8 {
                for i in 0..8 {
                    let mut bytes = [filler; 8];
                    bytes[i] = v;
                    let x = swar::word(&bytes, 0);
                    for n in [1u8, 0x20, 0x21, 0x80] {
                        assert_eq!(swar::has_less(x, n), bytes.iter().any(|&c| c < n));
                    }
                    for n in [0u8, 0x20, 0x7F] {
                        assert_eq!(swar::has_more(x, n), bytes.iter().any(|&c| c > n));
                    }
                    for t in [b'<', b'&', 0xEF, 0xC2, 0x7F, 0] {
                        assert_eq!(swar::has_byte(x, t), bytes.contains(&t));
                    }
                }
            }
        }
        // And words of mixed bytes drawn from the values around the thresholds.
        let values = [
            0u8, 1, 0x1F, 0x20, 0x21, b'&', b'<', b'>', 0x7E, 0x7F, 0x80, 0xC2, 0xEF, 0xFF,
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            let mut bytes = [0u8; 8];
            for b in &mut bytes {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = values[(seed % values.len() as u64) as usize];
            }
            let x = swar::word(&bytes, 0);
            for n in [1u8, 0x20, 0x21, 0x80] {
                assert_eq!(
                    swar::has_less(x, n),
                    bytes.iter().any(|&c| c < n),
                    "{bytes:?}"
                );
            }
            for n in [0u8, 0x20, 0x7F] {
                assert_eq!(
                    swar::has_more(x, n),
                    bytes.iter().any(|&c| c > n),
                    "{bytes:?}"
                );
            }
            for t in [b'<', b'&', 0xEF, 0xC2, 0x7F, 0] {
                assert_eq!(swar::has_byte(x, t), bytes.contains(&t), "{bytes:?}");
            }
        }
    }
}
