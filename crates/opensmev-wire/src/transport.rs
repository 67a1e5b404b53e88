//! HTTP bodies: plain SOAP (`text/xml`, `application/soap+xml`) and MTOM/XOP
//! (`multipart/related`, RFC 2046 / RFC 2387 / W3C XOP), in both directions, plus `SOAPAction`.
//!
//! [`split_http_body`] reads a body already in memory, a multipart one with the streaming
//! [`crate::MultipartReader`] (which decodes `base64` and `quoted-printable` parts and bounds what
//! it accepts: [`MAX_PARTS`], [`MAX_HEADER_BYTES`]). A server that must not hold large bodies in
//! memory drives the reader itself, part by part, with [`multipart_type`] and
//! [`MultipartType`] deciding which part is the SOAP root and what it says.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::error::{MultipartProblem, WireError};
use crate::multipart::{MultipartReader, PartSink};
use crate::operation::Operation;

/// Most MIME parts accepted in one body.
pub const MAX_PARTS: usize = 1000;
/// Largest header block of one MIME part.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The `Content-Type` of plain (non-MTOM) SOAP answers.
pub const TEXT_XML_UTF8: &str = "text/xml; charset=utf-8";

/// Content-ID of the XML root part in MTOM answers.
pub const MTOM_ROOT_CONTENT_ID: &str = "root.message@opensmev";

/// One MIME part of an MTOM body (an attachment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// Its `Content-Type` (`application/octet-stream` when absent).
    pub content_type: String,
    /// The content, transfer encoding removed.
    pub data: Cow<'a, [u8]>,
}

/// The SOAP XML of an HTTP body and its MTOM parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapPayload<'a> {
    /// The SOAP envelope (the body, or the root part of a multipart body).
    pub xml: Cow<'a, [u8]>,
    /// Attachment parts by Content-ID (without `<>`); empty for plain SOAP.
    pub parts: HashMap<String, Part<'a>>,
    /// Whether the body was MTOM/XOP (root part `application/xop+xml`).
    pub mtom: bool,
    /// The `action` parameter of an `application/soap+xml` content type (of the body or of the
    /// root part), if any: a SOAP 1.2-style action some clients send instead of `SOAPAction`.
    pub action: Option<String>,
}

/// A parsed media type: lower-case essence and parameters (lower-case names).
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaType {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaType {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_media_type(text: &str) -> Result<MediaType, WireError> {
    let bad = || WireError::UnsupportedContentType(text.to_owned());
    let (essence, mut rest) = match text.find(';') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let essence = essence.trim().to_ascii_lowercase();
    let Some((top, sub)) = essence.split_once('/') else {
        return Err(bad());
    };
    if top.is_empty() || sub.is_empty() || essence.contains(char::is_whitespace) {
        return Err(bad());
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=').ok_or_else(bad)?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ';') {
            return Err(bad());
        }
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end.ok_or_else(bad)?;
            value = v;
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        params.push((name, value));
    }
    Ok(MediaType { essence, params })
}

fn check_charset(media: &MediaType) -> Result<(), WireError> {
    match media.param("charset") {
        None => Ok(()),
        Some(c) if c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("utf8") => Ok(()),
        Some(c) => Err(WireError::UnsupportedCharset(c.to_owned())),
    }
}

/// Splits an HTTP request body into the SOAP XML and its MTOM parts.
///
/// Accepts `text/xml` and `application/soap+xml` (UTF-8 only; a missing charset means UTF-8) and
/// `multipart/related` (the root part is the one named by the `start` parameter, else the first;
/// its type is `application/xop+xml` for MTOM, or plain `text/xml` / `application/soap+xml`).
pub fn split_http_body<'a>(
    content_type: &str,
    body: &'a [u8],
) -> Result<SoapPayload<'a>, WireError> {
    let media = parse_media_type(content_type)?;
    match media.essence.as_str() {
        "text/xml" | "application/soap+xml" => {
            check_charset(&media)?;
            Ok(SoapPayload {
                xml: Cow::Borrowed(body),
                parts: HashMap::new(),
                mtom: false,
                action: media.param("action").map(str::to_owned),
            })
        }
        "multipart/related" => {
            multipart_type(content_type)?;
            split_multipart(media, body)
        }
        _ => Err(WireError::UnsupportedContentType(content_type.to_owned())),
    }
}

/// The operation named by a `SOAPAction` header (`urn:SendRequest`, quoted or not); `None` for a
/// missing, empty or unknown action.
pub fn soap_action_operation(header: Option<&str>) -> Option<Operation> {
    header.and_then(Operation::from_soap_action)
}

fn multipart_err(problem: impl Into<MultipartProblem>) -> WireError {
    WireError::Multipart(problem.into())
}

fn strip_angle(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
        .trim()
}

/// The parameters of a `multipart/related` body, to read it part by part (see
/// [`crate::MultipartReader`]): which part is the root and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartType {
    media: MediaType,
    /// The `boundary` parameter.
    pub boundary: String,
}

/// What the root part of a multipart body says about the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPart {
    /// Whether the body is MTOM/XOP (root part `application/xop+xml`).
    pub mtom: bool,
    /// The SOAP 1.2-style `action` parameter, if any (of the root part, else of the body).
    pub action: Option<String>,
}

/// The `multipart/related` parameters of a body's `Content-Type`, or `None` for the plain SOAP
/// types (`text/xml`, `application/soap+xml`: read the body whole with [`split_http_body`]).
/// Any other type is [`WireError::UnsupportedContentType`].
pub fn multipart_type(content_type: &str) -> Result<Option<MultipartType>, WireError> {
    let media = parse_media_type(content_type)?;
    match media.essence.as_str() {
        "text/xml" | "application/soap+xml" => {
            check_charset(&media)?;
            Ok(None)
        }
        "multipart/related" => {
            let boundary = media
                .param("boundary")
                .ok_or_else(|| multipart_err(MultipartProblem::NoBoundary))?
                .to_owned();
            if boundary.is_empty()
                || boundary.len() > 200
                || boundary.bytes().any(|b| b.is_ascii_control() || b >= 0x80)
            {
                return Err(multipart_err(MultipartProblem::UnusableBoundary(
                    boundary.to_string(),
                )));
            }
            Ok(Some(MultipartType { media, boundary }))
        }
        _ => Err(WireError::UnsupportedContentType(content_type.to_owned())),
    }
}

/// A header of a part (names are lower-case).
fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A part's `Content-ID` without `<>`, if it has a non-empty one.
pub fn part_content_id(headers: &[(String, String)]) -> Option<&str> {
    header(headers, "content-id")
        .map(strip_angle)
        .filter(|id| !id.is_empty())
}

/// A part's `Content-Type` (`application/octet-stream` when absent).
pub fn part_content_type(headers: &[(String, String)]) -> &str {
    header(headers, "content-type").unwrap_or("application/octet-stream")
}

impl MultipartType {
    /// The `start` parameter (the root part's Content-ID), if any.
    fn start(&self) -> Option<&str> {
        self.media
            .param("start")
            .map(strip_angle)
            .filter(|s| !s.is_empty())
    }

    /// Whether the part number `index` (from 0) with these headers is the root part: the one
    /// named by `start`, else the first.
    pub fn is_root(&self, index: usize, headers: &[(String, String)]) -> bool {
        match self.start() {
            Some(start) => header(headers, "content-id").map(strip_angle) == Some(start),
            None => index == 0,
        }
    }

    /// The error for a body in which no part was the root.
    pub fn no_root(&self) -> WireError {
        match self.start() {
            Some(start) => multipart_err(MultipartProblem::NoRoot {
                start: Some(start.to_string()),
            }),
            None => multipart_err(MultipartProblem::NoParts),
        }
    }

    /// Checks the root part's headers: its type is `application/xop+xml` (MTOM) or plain
    /// `text/xml` / `application/soap+xml`, UTF-8.
    pub fn root(&self, headers: &[(String, String)]) -> Result<RootPart, WireError> {
        let content_type = part_content_type(headers);
        let root_media = parse_media_type(content_type)?;
        let mtom = match root_media.essence.as_str() {
            "application/xop+xml" => true,
            "text/xml" | "application/soap+xml" => false,
            other => {
                return Err(WireError::UnsupportedContentType(format!(
                    "root part of type {other}"
                )));
            }
        };
        check_charset(&root_media)?;
        let action = root_media
            .param("action")
            .or_else(|| self.media.param("action"))
            .map(str::to_owned);
        if mtom {
            // The type of the XOP infoset: SOAP 1.1 (text/xml) is what SMEV uses; accept the
            // SOAP 1.2 media type too (the envelope check rejects a 1.2 envelope later).
            if let Some(t) = root_media.param("type").or(self.media.param("start-info")) {
                let t = parse_media_type(t)?;
                if !matches!(t.essence.as_str(), "text/xml" | "application/soap+xml") {
                    return Err(WireError::UnsupportedContentType(format!(
                        "XOP package of type {}",
                        t.essence
                    )));
                }
                check_charset(&t)?;
            }
        }
        Ok(RootPart { mtom, action })
    }
}

fn split_multipart<'a>(media: MediaType, body: &[u8]) -> Result<SoapPayload<'a>, WireError> {
    let boundary = media.param("boundary").unwrap_or_default().to_owned();
    let kind = MultipartType { media, boundary };
    let mut reader = MultipartReader::new(&kind.boundary)?;
    let mut sink = Collect::default();
    reader.feed(body, &mut sink)?;
    reader.finish(&mut sink)?;
    if sink.parts.is_empty() {
        return Err(multipart_err(MultipartProblem::NoParts));
    }
    let root_index = sink
        .parts
        .iter()
        .enumerate()
        .position(|(i, p)| kind.is_root(i, &p.0))
        .ok_or_else(|| kind.no_root())?;
    let mut xml = None;
    let mut root = None;
    let mut parts = HashMap::new();
    for (index, (headers, data)) in sink.parts.into_iter().enumerate() {
        if index == root_index {
            root = Some(kind.root(&headers)?);
            xml = Some(Cow::Owned(data));
            continue;
        }
        let Some(id) = part_content_id(&headers) else {
            continue; // cannot be referenced
        };
        let content_type = part_content_type(&headers).to_owned();
        if parts
            .insert(
                id.to_owned(),
                Part {
                    content_type,
                    data: Cow::Owned(data),
                },
            )
            .is_some()
        {
            return Err(multipart_err(MultipartProblem::DuplicateContentId(
                id.to_string(),
            )));
        }
    }
    let (Some(xml), Some(root)) = (xml, root) else {
        return Err(multipart_err(MultipartProblem::NoRoot { start: None }));
    };
    Ok(SoapPayload {
        xml,
        parts,
        mtom: root.mtom,
        action: root.action,
    })
}

/// A part's headers (lower-case names) and content.
type Headers = Vec<(String, String)>;

/// Collects every part of a body in memory: (headers, content).
#[derive(Default)]
struct Collect {
    parts: Vec<(Headers, Vec<u8>)>,
}

impl PartSink for Collect {
    fn start(&mut self, _index: usize, headers: &[(String, String)]) -> Result<(), WireError> {
        self.parts.push((headers.to_vec(), Vec::new()));
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        if let Some(part) = self.parts.last_mut() {
            part.1.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), WireError> {
        Ok(())
    }
}

/// The earlier in-memory multipart parser, kept as the test oracle of
/// [`crate::MultipartReader`] (the differential tests in `multipart`): written independently,
/// on a whole body, with no chunk boundaries to get wrong.
#[cfg(test)]
pub(crate) mod oracle {
    use std::borrow::Cow;

    use super::{MAX_HEADER_BYTES, MAX_PARTS, multipart_err};
    use crate::error::{MultipartProblem, WireError};
    use crate::lexical::decode_base64;

    struct RawPart<'a> {
        headers: Vec<(String, String)>,
        content: &'a [u8],
    }

    impl RawPart<'_> {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    fn decode_transfer<'a>(raw: &RawPart<'a>) -> Result<Cow<'a, [u8]>, WireError> {
        let encoding = raw
            .header("content-transfer-encoding")
            .unwrap_or("binary")
            .trim()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "binary" | "8bit" | "7bit" => Ok(Cow::Borrowed(raw.content)),
            "base64" => {
                let text = std::str::from_utf8(raw.content)
                    .map_err(|_| multipart_err("a base64 part contains non-ASCII bytes"))?;
                decode_base64(text)
                    .map(Cow::Owned)
                    .map_err(|e| multipart_err(MultipartProblem::InvalidBase64(e.to_string())))
            }
            "quoted-printable" => decode_quoted_printable(raw.content).map(Cow::Owned),
            other => Err(multipart_err(MultipartProblem::UnsupportedEncoding(
                other.to_owned(),
            ))),
        }
    }

    fn decode_quoted_printable(input: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            if b != b'=' {
                out.push(b);
                i += 1;
                continue;
            }
            // Soft line break: "=" followed by optional white space and a line end.
            let mut j = i + 1;
            while j < input.len() && matches!(input[j], b' ' | b'\t') {
                j += 1;
            }
            if j == input.len() || input[j] == b'\n' || input[j] == b'\r' {
                if input.get(j) == Some(&b'\r') {
                    j += 1;
                }
                if input.get(j) == Some(&b'\n') {
                    j += 1;
                }
                i = j;
                continue;
            }
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => return Err(multipart_err(MultipartProblem::InvalidQuotedPrintable)),
            }
        }
        Ok(out)
    }

    /// Finds the next delimiter line `--boundary` that starts a line at or after `from`. Returns
    /// (end of the preceding content, i.e. before the line break that belongs to the delimiter;
    /// position just after `--boundary`).
    fn find_delimiter(body: &[u8], from: usize, delimiter: &[u8]) -> Option<(usize, usize)> {
        let mut i = from;
        loop {
            if i > body.len() {
                return None;
            }
            let at_line_start = i == 0 || body[i - 1] == b'\n';
            if at_line_start && body[i..].starts_with(delimiter) {
                let after = i + delimiter.len();
                let rest = &body[after..];
                // A real delimiter is followed by "--", white space or a line end (or the end).
                let ok = rest.is_empty()
                    || rest.starts_with(b"--")
                    || matches!(rest[0], b'\r' | b'\n' | b' ' | b'\t');
                if ok {
                    let mut content_end = i;
                    if content_end > from && body[content_end - 1] == b'\n' {
                        content_end -= 1;
                        if content_end > from && body[content_end - 1] == b'\r' {
                            content_end -= 1;
                        }
                    }
                    return Some((content_end, after));
                }
            }
            // Next line start.
            match body[i..].iter().position(|b| *b == b'\n') {
                Some(p) => i += p + 1,
                None => return None,
            }
        }
    }

    /// Skips transport padding and the line end after a delimiter; returns the start of the part.
    fn skip_delimiter_line(body: &[u8], mut i: usize) -> Result<usize, WireError> {
        while i < body.len() && matches!(body[i], b' ' | b'\t') {
            i += 1;
        }
        if body[i..].starts_with(b"\r\n") {
            Ok(i + 2)
        } else if body[i..].starts_with(b"\n") {
            Ok(i + 1)
        } else {
            Err(multipart_err(
                "a boundary line is not followed by a line end",
            ))
        }
    }

    fn parse_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Result<Vec<RawPart<'a>>, WireError> {
        let mut delimiter = Vec::with_capacity(boundary.len() + 2);
        delimiter.extend_from_slice(b"--");
        delimiter.extend_from_slice(boundary);
        let (_, mut pos) = find_delimiter(body, 0, &delimiter)
            .ok_or_else(|| multipart_err(MultipartProblem::BoundaryNotFound))?;
        let mut parts = Vec::new();
        loop {
            if body[pos..].starts_with(b"--") {
                return Ok(parts); // close delimiter; the epilogue is ignored
            }
            if parts.len() >= MAX_PARTS {
                return Err(multipart_err(MultipartProblem::TooManyParts(MAX_PARTS)));
            }
            let start = skip_delimiter_line(body, pos)?;
            let (headers, content_start) = parse_headers(body, start)?;
            let (content_end, next) = find_delimiter(body, content_start, &delimiter)
                .ok_or_else(|| multipart_err(MultipartProblem::NotClosed))?;
            parts.push(RawPart {
                headers,
                content: &body[content_start..content_end],
            });
            pos = next;
        }
    }

    /// Reads a header block (up to the empty line); returns headers (lower-case names) and the
    /// start of the content.
    fn parse_headers(
        body: &[u8],
        start: usize,
    ) -> Result<(Vec<(String, String)>, usize), WireError> {
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut i = start;
        loop {
            if i - start > MAX_HEADER_BYTES {
                return Err(multipart_err(MultipartProblem::HeaderTooLarge(
                    MAX_HEADER_BYTES,
                )));
            }
            let line_end = body[i..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|p| i + p)
                .ok_or_else(|| multipart_err("a part header block is not terminated"))?;
            let mut line = &body[i..line_end];
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            i = line_end + 1;
            if line.is_empty() {
                return Ok((headers, i));
            }
            let line = std::str::from_utf8(line)
                .map_err(|_| multipart_err("a part header is not UTF-8"))?;
            if line.starts_with([' ', '\t']) {
                let Some(last) = headers.last_mut() else {
                    return Err(multipart_err("a header continuation line without a header"));
                };
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| multipart_err(MultipartProblem::MalformedHeader(line.to_owned())))?;
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(multipart_err(MultipartProblem::MalformedHeader(
                    line.to_owned(),
                )));
            }
            headers.push((name, value.trim().to_owned()));
        }
    }

    /// The parts of `body` as this parser reads them (headers, and content with the transfer
    /// encoding removed), to compare the streaming parser with.
    #[allow(clippy::type_complexity)]
    pub(crate) fn parse_parts_for_tests(
        body: &[u8],
        boundary: &str,
    ) -> Result<Vec<(Vec<(String, String)>, Vec<u8>)>, WireError> {
        parse_parts(body, boundary.as_bytes())?
            .into_iter()
            .map(|raw| {
                let data = decode_transfer(&raw)?.into_owned();
                Ok((raw.headers, data))
            })
            .collect()
    }

    #[test]
    fn quoted_printable() {
        assert_eq!(decode_quoted_printable(b"a=3Db=\r\nc").unwrap(), b"a=bc");
        assert!(decode_quoted_printable(b"a=zz").is_err());
    }

    #[test]
    fn delimiters_need_a_line_start_and_a_proper_end() {
        let body = b"x--b\r\n--bb\r\n--b\r\nH: v\r\n\r\ncontent\r\n--b--";
        let (_, after) = find_delimiter(body, 0, b"--b").unwrap();
        assert_eq!(&body[after..after + 2], b"\r\n");
        assert_eq!(after, 15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_parse() {
        let m = parse_media_type(
            "Multipart/Related; type=\"application/xop+xml\"; boundary=\"uuid:a;b\"; start=\"<root@x>\";start-info=\"text/xml\"",
        )
        .unwrap();
        assert_eq!(m.essence, "multipart/related");
        assert_eq!(m.param("boundary"), Some("uuid:a;b"));
        assert_eq!(m.param("start"), Some("<root@x>"));
        assert_eq!(m.param("start-info"), Some("text/xml"));
        assert!(parse_media_type("textxml").is_err());
        assert!(parse_media_type("text/xml; charset").is_err());
        assert!(parse_media_type("text/xml; a=\"unterminated").is_err());
    }
}
