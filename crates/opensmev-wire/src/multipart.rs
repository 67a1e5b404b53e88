//! A streaming (push) `multipart/related` body parser: the body arrives in chunks of any size and
//! the parts come out through a [`PartSink`] as they are found, in bounded memory.
//!
//! It accepts exactly what the in-memory parser of [`crate::transport`] accepts:
//! * the preamble before the first delimiter is ignored;
//! * a delimiter `--boundary` counts only at the start of a line (the start of the body or after
//!   an LF) and only when followed by `--`, white space or a line end;
//! * the line break (CRLF or LF) before a delimiter belongs to the delimiter, not to the content;
//! * after a delimiter, transport padding (spaces, tabs) and then a line end (CRLF or LF);
//! * the header block of a part: lines up to an empty line, continuation lines (starting with a
//!   space or tab) joined with one space, names lower-cased, values trimmed, at most
//!   [`MAX_HEADER_BYTES`] before the empty line; at most [`MAX_PARTS`] parts;
//! * the close delimiter `--boundary--` ends the body and the epilogue is ignored; a body that
//!   ends without it is an error;
//! * `Content-Transfer-Encoding` `binary`, `8bit`, `7bit` (passed through), `base64` (white
//!   space ignored, padding required) and `quoted-printable`, decoded as the content streams.
//!
//! Between calls it holds back at most the delimiter length + 3 bytes of content (a possible
//! delimiter that a chunk cut in two), one header block while it is read, and up to 3 bytes of
//! a `base64` group or one hex digit of a `quoted-printable` escape.

use base64::Engine as _;
use memchr::memmem;

use crate::error::{MultipartProblem, WireError};
use crate::transport::{MAX_HEADER_BYTES, MAX_PARTS};

/// Largest piece of encoded content decoded at once (bounds the decoders' scratch buffers).
const DECODE_BATCH: usize = 64 * 1024;

/// Receives the parts of a multipart body as the parser finds them.
///
/// An error returned by a method stops the parser: [`MultipartReader::feed`] returns it and the
/// reader refuses further input.
pub trait PartSink {
    /// A part begins; `headers` are (lower-case name, trimmed value) in order. `index` counts parts from 0.
    fn start(&mut self, index: usize, headers: &[(String, String)]) -> Result<(), WireError>;
    /// The next bytes of the current part's content, Content-Transfer-Encoding already removed
    /// (binary/7bit/8bit passed through; base64 decoded incrementally, ignoring whitespace; quoted-printable decoded incrementally).
    ///
    /// Never called with an empty slice.
    fn data(&mut self, bytes: &[u8]) -> Result<(), WireError>;
    /// The current part is complete.
    fn end(&mut self) -> Result<(), WireError>;
}

/// A streaming parser of one `multipart/related` body: [`feed`](Self::feed) it the body in
/// chunks, then call [`finish`](Self::finish).
///
/// The events a [`PartSink`] receives do not depend on how the body is cut into chunks, except
/// for how the content of a part is split into [`PartSink::data`] calls. A part with an
/// unsupported `Content-Transfer-Encoding` is an error when its header block ends, before
/// [`PartSink::start`]. Errors are reported as soon as they are seen, so the sink may already
/// have received the earlier parts (and part of the failing one): discard them. After an error
/// (of the body or of the sink) every later call fails.
#[derive(Debug)]
pub struct MultipartReader {
    /// `--boundary`.
    delimiter: Vec<u8>,
    /// Searches for `\n--boundary`.
    finder: memmem::Finder<'static>,
    state: State,
    /// Input not yet consumed: a possible delimiter cut by the end of a chunk (at most
    /// `delimiter.len() + 3` bytes between calls).
    carry: Vec<u8>,
    /// Parts started so far.
    parts: usize,
    /// The header block being read.
    header_bytes: Vec<u8>,
    /// Where the current header line starts in `header_bytes`.
    header_line: usize,
    /// Headers of the part being read.
    headers: Vec<(String, String)>,
    /// Scratch: base64 text without white space.
    compact: Vec<u8>,
    /// Scratch: decoded bytes.
    out: Vec<u8>,
}

#[derive(Debug)]
enum State {
    /// Before the first delimiter; `line_start`: the next byte starts a line.
    Preamble { line_start: bool },
    /// After a delimiter (not the close one): padding, then a line end; `cr`: a CR was seen.
    AfterDelimiter { cr: bool },
    /// Reading a header block.
    Headers,
    /// In a part's content; `line_start`: the next byte starts a line (only at its start).
    Content { line_start: bool, decoder: Decoder },
    /// The close delimiter was seen.
    Done,
    /// An error was returned.
    Failed,
}

#[derive(Debug)]
enum Decoder {
    Identity,
    Base64 {
        /// Characters of an incomplete 4-character group.
        group: [u8; 4],
        group_len: usize,
        /// A group with `=` padding was decoded: only white space may follow.
        padded: bool,
    },
    QuotedPrintable(Qp),
}

#[derive(Debug, Clone, Copy)]
enum Qp {
    /// Ordinary text.
    Text,
    /// After `=`.
    Equals,
    /// After `=` and white space: a soft line break must follow.
    EqualsSpace,
    /// After the CR of a soft line break: an LF is skipped.
    SoftCr,
    /// After `=` and one hex digit.
    Hex(u8),
}

/// The outcome of searching a piece of content for a delimiter.
enum Scan {
    /// A delimiter: the content ends at `content_end` (before the line break that belongs to the
    /// delimiter), `--boundary` ends at `after`; `close` when `--` follows it.
    Found {
        content_end: usize,
        after: usize,
        close: bool,
    },
    /// No delimiter: the bytes before `keep` are content, the rest may begin one.
    Pending { keep: usize },
}

fn multipart_err(problem: impl Into<MultipartProblem>) -> WireError {
    WireError::Multipart(problem.into())
}

fn header_too_large() -> WireError {
    multipart_err(MultipartProblem::HeaderTooLarge(MAX_HEADER_BYTES))
}

fn not_followed_by_line_end() -> WireError {
    multipart_err("a boundary line is not followed by a line end")
}

impl MultipartReader {
    /// `boundary` is the value of the boundary parameter (validated as in split_multipart: non-empty, ≤ 200 bytes, no controls/non-ASCII).
    pub fn new(boundary: &str) -> Result<MultipartReader, WireError> {
        if boundary.is_empty()
            || boundary.len() > 200
            || boundary.bytes().any(|b| b.is_ascii_control() || b >= 0x80)
        {
            return Err(multipart_err(MultipartProblem::UnusableBoundary(
                boundary.to_string(),
            )));
        }
        let mut delimiter = Vec::with_capacity(boundary.len() + 2);
        delimiter.extend_from_slice(b"--");
        delimiter.extend_from_slice(boundary.as_bytes());
        let mut needle = Vec::with_capacity(delimiter.len() + 1);
        needle.push(b'\n');
        needle.extend_from_slice(&delimiter);
        let finder = memmem::Finder::new(&needle).into_owned();
        Ok(MultipartReader {
            carry: Vec::with_capacity(2 * delimiter.len() + 6),
            delimiter,
            finder,
            state: State::Preamble { line_start: true },
            parts: 0,
            header_bytes: Vec::new(),
            header_line: 0,
            headers: Vec::new(),
            compact: Vec::new(),
            out: Vec::new(),
        })
    }

    /// Feeds the next chunk (any size, including empty or 1 byte).
    pub fn feed(&mut self, chunk: &[u8], sink: &mut impl PartSink) -> Result<(), WireError> {
        match self.state {
            State::Failed => return Err(multipart_err("the multipart parser already failed")),
            State::Done => return Ok(()), // the epilogue
            _ => {}
        }
        let result = self.feed_inner(chunk, sink);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// The body ended: errors if the close delimiter was not seen (or the boundary never occurred).
    pub fn finish(self, _sink: &mut impl PartSink) -> Result<(), WireError> {
        let bare_delimiter = |line_start: bool| {
            (line_start && self.carry == self.delimiter)
                || (self.carry.ends_with(&self.delimiter)
                    && self.carry[..self.carry.len() - self.delimiter.len()].ends_with(b"\n"))
        };
        match self.state {
            State::Done => Ok(()),
            State::Failed => Err(multipart_err("the multipart parser already failed")),
            // At the very end of the body a delimiter needs no follower, but then its line end
            // is missing.
            State::Preamble { line_start } if bare_delimiter(line_start) => {
                Err(not_followed_by_line_end())
            }
            State::Content { line_start, .. } if bare_delimiter(line_start) => {
                Err(not_followed_by_line_end())
            }
            State::Preamble { .. } => Err(multipart_err(MultipartProblem::BoundaryNotFound)),
            State::AfterDelimiter { .. } => Err(not_followed_by_line_end()),
            State::Headers => Err(multipart_err("a part header block is not terminated")),
            State::Content { .. } => Err(multipart_err(MultipartProblem::NotClosed)),
        }
    }

    /// Whether the close delimiter has been seen (later bytes are the ignored epilogue).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn feed_inner<S: PartSink>(&mut self, mut chunk: &[u8], sink: &mut S) -> Result<(), WireError> {
        // Most of the time nothing is held back and the chunk is parsed in place. Otherwise a few
        // bytes of the chunk are appended to the held-back bytes and parsed together; whatever is
        // left over lies within those appended bytes (and is then re-read from the chunk) or the
        // chunk was tiny.
        let look = self.delimiter.len() + 3;
        while !chunk.is_empty() {
            if self.carry.is_empty() {
                let used = self.step(chunk, sink)?;
                self.carry.extend_from_slice(&chunk[used..]);
                return Ok(());
            }
            let appended = chunk.len().min(look);
            let mut joint = std::mem::take(&mut self.carry);
            joint.extend_from_slice(&chunk[..appended]);
            let used = self.step(&joint, sink)?;
            let rest = joint.len() - used;
            self.carry = joint;
            if rest <= appended {
                self.carry.clear();
                chunk = &chunk[appended - rest..];
            } else {
                let keep_from = self.carry.len() - rest;
                self.carry.drain(..keep_from);
                chunk = &chunk[appended..];
            }
        }
        Ok(())
    }

    /// Parses as much of `input` as can be decided; returns how many bytes were consumed (the
    /// rest, at most `delimiter.len() + 3` bytes, must be offered again with more input).
    fn step<S: PartSink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, WireError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match &mut self.state {
                State::Done | State::Failed => return Ok(input.len()),
                State::Preamble { line_start } => {
                    match scan(&self.finder, &self.delimiter, rest, *line_start) {
                        Scan::Pending { keep } => {
                            if keep > 0 {
                                *line_start = rest[keep - 1] == b'\n';
                            }
                            return Ok(pos + keep);
                        }
                        Scan::Found { after, close, .. } => {
                            pos += after;
                            self.delimiter_seen(close)?;
                        }
                    }
                }
                State::Content {
                    line_start,
                    decoder,
                } => match scan(&self.finder, &self.delimiter, rest, *line_start) {
                    Scan::Pending { keep } => {
                        decode(
                            decoder,
                            &rest[..keep],
                            &mut self.compact,
                            &mut self.out,
                            sink,
                        )?;
                        if keep > 0 {
                            *line_start = rest[keep - 1] == b'\n';
                        }
                        return Ok(pos + keep);
                    }
                    Scan::Found {
                        content_end,
                        after,
                        close,
                    } => {
                        decode(
                            decoder,
                            &rest[..content_end],
                            &mut self.compact,
                            &mut self.out,
                            sink,
                        )?;
                        finish_decoder(decoder)?;
                        sink.end()?;
                        pos += after;
                        self.delimiter_seen(close)?;
                    }
                },
                State::AfterDelimiter { cr } => {
                    let mut i = 0;
                    let line_end = loop {
                        let Some(&b) = rest.get(i) else {
                            break false;
                        };
                        i += 1;
                        match b {
                            b'\n' => break true,
                            _ if *cr => return Err(not_followed_by_line_end()),
                            b' ' | b'\t' => {}
                            b'\r' => *cr = true,
                            _ => return Err(not_followed_by_line_end()),
                        }
                    };
                    pos += i;
                    if !line_end {
                        return Ok(input.len());
                    }
                    self.header_bytes.clear();
                    self.header_line = 0;
                    self.headers.clear();
                    self.state = State::Headers;
                }
                State::Headers => {
                    // The in-memory parser accepts a block whose empty line starts at most
                    // MAX_HEADER_BYTES after the block: the block, empty line included, never
                    // needs more than MAX_HEADER_BYTES + 2 bytes.
                    let Some(k) = memchr::memchr(b'\n', rest) else {
                        if self.header_bytes.len() + rest.len() > MAX_HEADER_BYTES + 2 {
                            return Err(header_too_large());
                        }
                        self.header_bytes.extend_from_slice(rest);
                        return Ok(input.len());
                    };
                    if self.header_bytes.len() + k + 1 > MAX_HEADER_BYTES + 2 {
                        return Err(header_too_large());
                    }
                    self.header_bytes.extend_from_slice(&rest[..=k]);
                    pos += k + 1;
                    let start = self.header_line;
                    self.header_line = self.header_bytes.len();
                    let line = &self.header_bytes[start..self.header_bytes.len() - 1];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        self.start_part(sink)?;
                    } else {
                        header_line(line, &mut self.headers)?;
                        if self.header_line > MAX_HEADER_BYTES {
                            return Err(header_too_large());
                        }
                    }
                }
            }
        }
    }

    /// A delimiter was found (its `--boundary` consumed).
    fn delimiter_seen(&mut self, close: bool) -> Result<(), WireError> {
        if close {
            self.state = State::Done;
            return Ok(());
        }
        if self.parts >= MAX_PARTS {
            return Err(multipart_err(MultipartProblem::TooManyParts(MAX_PARTS)));
        }
        self.state = State::AfterDelimiter { cr: false };
        Ok(())
    }

    /// The header block is complete: the content begins.
    fn start_part<S: PartSink>(&mut self, sink: &mut S) -> Result<(), WireError> {
        let encoding = self
            .headers
            .iter()
            .find(|(n, _)| n == "content-transfer-encoding")
            .map_or("binary", |(_, v)| v.as_str())
            .trim()
            .to_ascii_lowercase();
        let decoder = match encoding.as_str() {
            "binary" | "8bit" | "7bit" => Decoder::Identity,
            "base64" => Decoder::Base64 {
                group: [0; 4],
                group_len: 0,
                padded: false,
            },
            "quoted-printable" => Decoder::QuotedPrintable(Qp::Text),
            other => {
                return Err(multipart_err(MultipartProblem::UnsupportedEncoding(
                    other.to_owned(),
                )));
            }
        };
        sink.start(self.parts, &self.headers)?;
        self.parts += 1;
        self.state = State::Content {
            line_start: true,
            decoder,
        };
        Ok(())
    }
}

/// Whether the bytes after a `--boundary` at `at` make it a delimiter: `Some(true)` for `--`,
/// white space or a line end, `None` when more input is needed to tell.
fn follows_delimiter(buf: &[u8], at: usize) -> Option<bool> {
    match buf.get(at) {
        None => None,
        Some(b'\r' | b'\n' | b' ' | b'\t') => Some(true),
        Some(b'-') => buf.get(at + 1).map(|b| *b == b'-'),
        Some(_) => Some(false),
    }
}

/// The end of the content before an LF at `lf` that begins a delimiter line (a CR before it
/// belongs to the delimiter too).
fn before_line_break(buf: &[u8], lf: usize) -> usize {
    if lf > 0 && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    }
}

/// Searches content for the first delimiter. `buf` starts at the first content byte not yet
/// passed on; `line_start`: `buf[0]` starts a line although no LF precedes it in `buf` (the start
/// of the body or of a part's content).
fn scan(finder: &memmem::Finder<'_>, delimiter: &[u8], buf: &[u8], line_start: bool) -> Scan {
    let dl = delimiter.len();
    if line_start {
        let n = buf.len().min(dl);
        if buf[..n] == delimiter[..n] {
            if n < dl {
                return Scan::Pending { keep: 0 };
            }
            match follows_delimiter(buf, dl) {
                None => return Scan::Pending { keep: 0 },
                Some(true) => {
                    return Scan::Found {
                        content_end: 0,
                        after: dl,
                        close: buf[dl..].starts_with(b"--"),
                    };
                }
                Some(false) => {}
            }
        }
    }
    let mut from = 0;
    while let Some(found) = finder.find(&buf[from..]) {
        let lf = from + found;
        let after = lf + 1 + dl;
        match follows_delimiter(buf, after) {
            Some(true) => {
                return Scan::Found {
                    content_end: before_line_break(buf, lf),
                    after,
                    close: buf[after..].starts_with(b"--"),
                };
            }
            None => {
                return Scan::Pending {
                    keep: before_line_break(buf, lf),
                };
            }
            Some(false) => from = lf + 1,
        }
    }
    // The end of `buf` may be the beginning of "\n--boundary" (the boundary has no LF, so only
    // the last LF can start it).
    let tail = buf.len().saturating_sub(dl);
    if let Some(r) = memchr::memrchr(b'\n', &buf[tail..]) {
        let lf = tail + r;
        if delimiter.starts_with(&buf[lf + 1..]) {
            return Scan::Pending {
                keep: before_line_break(buf, lf),
            };
        }
    }
    if buf.last() == Some(&b'\r') {
        Scan::Pending {
            keep: buf.len() - 1,
        }
    } else {
        Scan::Pending { keep: buf.len() }
    }
}

/// Reads one non-empty header line (without its line end) as `parse_headers` does.
fn header_line(line: &[u8], headers: &mut Vec<(String, String)>) -> Result<(), WireError> {
    let line =
        std::str::from_utf8(line).map_err(|_| multipart_err("a part header is not UTF-8"))?;
    if line.starts_with([' ', '\t']) {
        let Some(last) = headers.last_mut() else {
            return Err(multipart_err("a header continuation line without a header"));
        };
        last.1.push(' ');
        last.1.push_str(line.trim());
        return Ok(());
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
    Ok(())
}

/// Passes the next encoded content bytes through the part's decoder to the sink.
fn decode<S: PartSink>(
    decoder: &mut Decoder,
    bytes: &[u8],
    compact: &mut Vec<u8>,
    out: &mut Vec<u8>,
    sink: &mut S,
) -> Result<(), WireError> {
    if bytes.is_empty() {
        return Ok(());
    }
    match decoder {
        Decoder::Identity => sink.data(bytes),
        Decoder::Base64 {
            group,
            group_len,
            padded,
        } => {
            for piece in bytes.chunks(DECODE_BATCH) {
                // The text without white space, after the held-back characters.
                compact.clear();
                compact.extend_from_slice(&group[..*group_len]);
                let start = compact.len();
                compact.resize(start + piece.len(), 0);
                let mut w = start;
                for &b in piece {
                    compact[w] = b;
                    w += usize::from(!matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
                }
                compact.truncate(w);
                if *padded && !compact.is_empty() {
                    return Err(multipart_err(MultipartProblem::InvalidBase64(
                        "not valid base64: data after the padding".to_owned(),
                    )));
                }
                let full = compact.len() / 4 * 4;
                *group_len = compact.len() - full;
                group[..*group_len].copy_from_slice(&compact[full..]);
                if full == 0 {
                    continue;
                }
                let need = full / 4 * 3;
                if out.len() < need {
                    out.resize(need, 0);
                }
                let written = base64::engine::general_purpose::STANDARD
                    .decode_slice_unchecked(&compact[..full], &mut out[..need])
                    .map_err(|e| {
                        multipart_err(MultipartProblem::InvalidBase64(format!(
                            "not valid base64: {e}"
                        )))
                    })?;
                // The engine accepts padding only in the last group of what it decodes.
                *padded = compact[full - 4..full].contains(&b'=');
                if written > 0 {
                    sink.data(&out[..written])?;
                }
            }
            Ok(())
        }
        Decoder::QuotedPrintable(state) => {
            for piece in bytes.chunks(DECODE_BATCH) {
                out.clear();
                decode_qp(state, piece, out)?;
                if !out.is_empty() {
                    sink.data(out)?;
                }
            }
            Ok(())
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Quoted-printable as `decode_quoted_printable` reads it: `=XX` escapes, soft line breaks
/// (`=`, optional spaces or tabs, then CRLF, LF, a lone CR or the end of the content).
fn decode_qp(state: &mut Qp, input: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    let bad = || multipart_err(MultipartProblem::InvalidQuotedPrintable);
    let mut i = 0;
    while i < input.len() {
        match *state {
            Qp::Text => match memchr::memchr(b'=', &input[i..]) {
                None => {
                    out.extend_from_slice(&input[i..]);
                    i = input.len();
                }
                Some(p) => {
                    out.extend_from_slice(&input[i..i + p]);
                    i += p + 1;
                    *state = Qp::Equals;
                }
            },
            Qp::Equals | Qp::EqualsSpace => {
                let b = input[i];
                i += 1;
                *state = match b {
                    b' ' | b'\t' => Qp::EqualsSpace,
                    b'\r' => Qp::SoftCr,
                    b'\n' => Qp::Text,
                    _ => match (*state, hex_digit(b)) {
                        (Qp::Equals, Some(h)) => Qp::Hex(h),
                        _ => return Err(bad()),
                    },
                };
            }
            Qp::SoftCr => {
                if input[i] == b'\n' {
                    i += 1;
                }
                *state = Qp::Text;
            }
            Qp::Hex(h) => {
                let l = hex_digit(input[i]).ok_or_else(bad)?;
                out.push(h * 16 + l);
                i += 1;
                *state = Qp::Text;
            }
        }
    }
    Ok(())
}

/// The content of the part ended: the decoder must not be in the middle of something.
fn finish_decoder(decoder: &mut Decoder) -> Result<(), WireError> {
    match decoder {
        Decoder::Base64 { group_len, .. } if *group_len != 0 => {
            Err(multipart_err(MultipartProblem::InvalidBase64(
                "not valid base64: the length is not a multiple of 4".to_owned(),
            )))
        }
        Decoder::QuotedPrintable(Qp::Hex(_)) => {
            Err(multipart_err(MultipartProblem::InvalidQuotedPrintable))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::oracle::parse_parts_for_tests;

    type Headers = Vec<(String, String)>;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        Start(usize, Headers),
        Data(Vec<u8>),
        End,
    }

    /// Records events, joining consecutive data calls.
    #[derive(Debug, Default)]
    struct Recorder {
        events: Vec<Event>,
        data_calls: usize,
    }

    impl PartSink for Recorder {
        fn start(&mut self, index: usize, headers: &[(String, String)]) -> Result<(), WireError> {
            self.events.push(Event::Start(index, headers.to_vec()));
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) -> Result<(), WireError> {
            assert!(!bytes.is_empty(), "data() with an empty slice");
            assert!(
                matches!(self.events.last(), Some(Event::Start(..) | Event::Data(_))),
                "data() outside a part"
            );
            self.data_calls += 1;
            if let Some(Event::Data(d)) = self.events.last_mut() {
                d.extend_from_slice(bytes);
            } else {
                self.events.push(Event::Data(bytes.to_vec()));
            }
            Ok(())
        }
        fn end(&mut self) -> Result<(), WireError> {
            self.events.push(Event::End);
            Ok(())
        }
    }

    /// Small deterministic PRNG (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Feeds `body` cut into chunks of the given sizes (cycled), then finishes.
    fn run_chunked(
        body: &[u8],
        boundary: &str,
        sizes: &[usize],
    ) -> (Vec<Event>, Result<(), WireError>) {
        let mut reader = MultipartReader::new(boundary).unwrap();
        let mut sink = Recorder::default();
        let mut pos = 0;
        let mut k = 0;
        while pos < body.len() {
            let n = sizes[k % sizes.len()].min(body.len() - pos);
            k += 1;
            if let Err(e) = reader.feed(&body[pos..pos + n], &mut sink) {
                return (sink.events, Err(e));
            }
            pos += n;
        }
        let result = reader.finish(&mut sink);
        (sink.events, result)
    }

    fn run(body: &[u8], boundary: &str) -> (Vec<Event>, Result<(), WireError>) {
        run_chunked(body, boundary, &[body.len().max(1)])
    }

    /// The parts of a successful event stream.
    fn parts_of(events: &[Event]) -> Vec<(Headers, Vec<u8>)> {
        let mut parts: Vec<(Headers, Vec<u8>)> = Vec::new();
        let mut open = false;
        for e in events {
            match e {
                Event::Start(i, h) => {
                    assert!(!open);
                    assert_eq!(*i, parts.len());
                    parts.push((h.clone(), Vec::new()));
                    open = true;
                }
                Event::Data(d) => {
                    assert!(open);
                    parts.last_mut().unwrap().1.extend_from_slice(d);
                }
                Event::End => {
                    assert!(open);
                    open = false;
                }
            }
        }
        assert!(!open);
        parts
    }

    fn parts(body: &[u8], boundary: &str) -> Result<Vec<(Headers, Vec<u8>)>, WireError> {
        let (events, result) = run(body, boundary);
        result.map(|()| parts_of(&events))
    }

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn is_multipart_err(r: &Result<impl std::fmt::Debug, WireError>) -> bool {
        matches!(r, Err(WireError::Multipart(_)))
    }

    /// Several chunkings of the same body give the same events (on success) and the same
    /// outcome.
    fn check_chunkings(
        body: &[u8],
        boundary: &str,
        seed: u64,
    ) -> (Vec<Event>, Result<(), WireError>) {
        let (events, result) = run(body, boundary);
        let mut rng = Rng(seed | 1);
        let mut random: Vec<usize> = (0..64).map(|_| 1 + rng.below(17)).collect();
        random.extend((0..8).map(|_| 1 + rng.below(300)));
        let chunkings: Vec<Vec<usize>> = vec![
            vec![1],
            vec![2],
            vec![3],
            vec![7],
            vec![64],
            random,
            vec![boundary.len() + 2],
            vec![boundary.len() + 3, 1],
        ];
        for sizes in &chunkings {
            let (e, r) = run_chunked(body, boundary, sizes);
            assert_eq!(
                r.is_ok(),
                result.is_ok(),
                "outcome differs for chunks {sizes:?}: {r:?} vs {result:?} on {:?}",
                String::from_utf8_lossy(body)
            );
            if result.is_ok() {
                assert_eq!(e, events, "events differ for chunks {sizes:?}");
            }
        }
        (events, result)
    }

    /// The streaming parser agrees with the in-memory one (and with itself under chunkings).
    fn check_against_memory(body: &[u8], boundary: &str) {
        let expected = parse_parts_for_tests(body, boundary);
        let (events, result) = check_chunkings(body, boundary, body.len() as u64);
        match (&expected, &result) {
            (Ok(expected), Ok(())) => assert_eq!(&parts_of(&events), expected),
            (Err(_), Err(e)) => assert!(matches!(e, WireError::Multipart(_)), "{e:?}"),
            _ => panic!(
                "in-memory {expected:?} vs streaming {result:?} on {:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }

    #[test]
    fn boundary_is_validated() {
        assert!(MultipartReader::new("").is_err());
        assert!(MultipartReader::new(&"a".repeat(201)).is_err());
        assert!(MultipartReader::new(&"a".repeat(200)).is_ok());
        assert!(MultipartReader::new("a\tb").is_err());
        assert!(MultipartReader::new("a\u{7f}").is_err());
        assert!(MultipartReader::new("й").is_err());
        assert!(MultipartReader::new("uuid:a b'()+_,-./:=?").is_ok());
    }

    #[test]
    fn simple_body() {
        let body = b"--b\r\nContent-Type: text/xml\r\n\r\n<a/>\r\n--b\r\nContent-ID: <x>\r\n\r\nxyz\r\n--b--\r\n";
        assert_eq!(
            parts(body, "b").unwrap(),
            vec![
                (h(&[("content-type", "text/xml")]), b"<a/>".to_vec()),
                (h(&[("content-id", "<x>")]), b"xyz".to_vec()),
            ]
        );
        check_against_memory(body, "b");
    }

    #[test]
    fn preamble_and_epilogue_are_ignored() {
        let body = b"preamble --b\r\nx--b\r\n--bb\r\n--b\r\n\r\ndata\r\n--b--epilogue\r\n--b\r\nA: b\r\n\r\nmore";
        let mut reader = MultipartReader::new("b").unwrap();
        let mut sink = Recorder::default();
        reader.feed(body, &mut sink).unwrap();
        assert!(reader.is_done());
        reader
            .feed(b"still epilogue\r\n--b\r\n", &mut sink)
            .unwrap();
        reader.finish(&mut sink).unwrap();
        assert_eq!(parts_of(&sink.events), vec![(vec![], b"data".to_vec())]);
        check_against_memory(body, "b");
    }

    #[test]
    fn delimiter_only_at_line_start() {
        // "x--b" and " --b" do not start a line; a CR alone does not end a line.
        let body = b"--b\n\nx--b\n --b\n\r--b\n--b--";
        assert_eq!(
            parts(body, "b").unwrap()[0].1,
            b"x--b\n --b\n\r--b".to_vec()
        );
        check_against_memory(body, "b");
    }

    #[test]
    fn delimiter_needs_a_proper_follower() {
        for follower in [&b"X"[..], b"b", b"-x", b"-", b"=", b"\x0c"] {
            let mut body = b"--b\n\nA\n--b".to_vec();
            body.extend_from_slice(follower);
            body.extend_from_slice(b"\n--b--\n");
            let got = parts(&body, "b").unwrap();
            let mut expected = b"A\n--b".to_vec();
            expected.extend_from_slice(follower);
            assert_eq!(got[0].1, expected, "{follower:?}");
            check_against_memory(&body, "b");
        }
        for follower in [&b" \n"[..], b"\t\n", b"\r\n", b"\n"] {
            let mut body = b"--b\n\nA\n--b".to_vec();
            body.extend_from_slice(follower);
            body.extend_from_slice(b"\nB\n--b--");
            let got = parts(&body, "b").unwrap();
            assert_eq!(got.len(), 2, "{follower:?}");
            assert_eq!(got[0].1, b"A");
            assert_eq!(got[1].1, b"B");
            check_against_memory(&body, "b");
        }
    }

    #[test]
    fn transport_padding_after_delimiter() {
        let body = b"--b \t \r\nA: 1\r\n\r\nx\r\n--b\t\n\ny\n--b--  junk";
        let got = parts(body, "b").unwrap();
        assert_eq!(
            got,
            vec![(h(&[("a", "1")]), b"x".to_vec()), (vec![], b"y".to_vec())]
        );
        check_against_memory(body, "b");
        // Padding, then something else than a line end.
        for bad in [
            &b"--b x\r\n\r\n--b--"[..],
            b"--b\rx\n\n--b--",
            b"--b \r \n\n--b--",
            b"--b --\r\n",
        ] {
            assert!(is_multipart_err(&parts(bad, "b")), "{bad:?}");
            check_against_memory(bad, "b");
        }
    }

    #[test]
    fn line_break_before_delimiter_belongs_to_it() {
        let cases: [(&[u8], &[u8]); 7] = [
            (b"--b\r\n\r\ndata\r\n--b--", b"data"),
            (b"--b\n\ndata\n--b--", b"data"),
            (b"--b\r\n\r\ndata\r\n\r\n--b--", b"data\r\n"),
            (b"--b\r\n\r\ndata\r\r\n--b--", b"data\r"),
            (b"--b\r\n\r\n--b--", b""),
            (b"--b\r\n\r\n\r\n--b--", b""),
            (b"--b\r\n\r\n\n--b--", b""),
        ];
        for (body, content) in cases {
            assert_eq!(parts(body, "b").unwrap()[0].1, content, "{body:?}");
            check_against_memory(body, "b");
        }
    }

    #[test]
    fn headers_continuations_and_case() {
        let body = b"--b\r\nContent-Type: application/xop+xml;\r\n\ttype=\"text/xml\"\r\nX-A:  1 \r\nx-a: 2\r\n  more  \r\nEmpty:\r\n\r\n\r\n--b--";
        let got = parts(body, "b").unwrap();
        assert_eq!(
            got[0].0,
            h(&[
                ("content-type", "application/xop+xml; type=\"text/xml\""),
                ("x-a", "1"),
                ("x-a", "2 more"),
                ("empty", ""),
            ])
        );
        check_against_memory(body, "b");
        for bad in [
            &b"--b\r\n continued\r\n\r\n\r\n--b--"[..],
            b"--b\r\nno colon\r\n\r\n\r\n--b--",
            b"--b\r\n: empty name\r\n\r\n\r\n--b--",
            b"--b\r\nA B: space\r\n\r\n\r\n--b--",
            b"--b\r\nA: \xff\r\n\r\n\r\n--b--",
            b"--b\r\nA: 1\r\n",
            b"--b\r\nA: 1",
        ] {
            assert!(is_multipart_err(&parts(bad, "b")), "{bad:?}");
            check_against_memory(bad, "b");
        }
    }

    /// A body whose only part has a header block of `len` bytes before the empty line, in
    /// lines of about `line_len` bytes.
    fn header_block_body(len: usize, line_len: usize, crlf: bool) -> Vec<u8> {
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let lines = len.div_ceil(line_len);
        let mut body = b"--b".to_vec();
        body.extend_from_slice(eol);
        for i in 0..lines {
            let this = len / lines + usize::from(i < len % lines);
            let mut line = format!("h{i}:").into_bytes();
            line.resize(this - eol.len(), b'v');
            line.extend_from_slice(eol);
            body.extend_from_slice(&line);
        }
        assert_eq!(body.len(), 3 + eol.len() + len);
        body.extend_from_slice(eol);
        body.extend_from_slice(b"content");
        body.extend_from_slice(eol);
        body.extend_from_slice(b"--b--");
        body
    }

    #[test]
    fn header_block_limit() {
        for crlf in [true, false] {
            for line_len in [100, 1000, MAX_HEADER_BYTES] {
                let ok = header_block_body(MAX_HEADER_BYTES, line_len, crlf);
                assert!(parts(&ok, "b").is_ok(), "{crlf} {line_len}");
                check_against_memory(&ok, "b");
                let too_big = header_block_body(MAX_HEADER_BYTES + 1, line_len, crlf);
                assert!(is_multipart_err(&parts(&too_big, "b")), "{crlf} {line_len}");
                check_against_memory(&too_big, "b");
            }
        }
        // A huge header line without any line end fails without being buffered.
        let mut reader = MultipartReader::new("b").unwrap();
        let mut sink = Recorder::default();
        reader.feed(b"--b\r\nX: ", &mut sink).unwrap();
        let junk = vec![b'x'; 1024];
        let mut failed = false;
        for _ in 0..100 {
            if reader.feed(&junk, &mut sink).is_err() {
                failed = true;
                break;
            }
            assert!(reader.header_bytes.len() <= MAX_HEADER_BYTES + 2);
        }
        assert!(failed);
    }

    fn many_parts(n: usize, close: bool) -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..n {
            body.extend_from_slice(format!("--b\r\nContent-ID: <{i}>\r\n\r\n{i}\r\n").as_bytes());
        }
        if close {
            body.extend_from_slice(b"--b--\r\n");
        } else {
            body.extend_from_slice(b"--b\r\n\r\nlast\r\n--b--\r\n");
        }
        body
    }

    #[test]
    fn part_limit() {
        let body = many_parts(MAX_PARTS, true);
        let got = parts(&body, "b").unwrap();
        assert_eq!(got.len(), MAX_PARTS);
        assert_eq!(got[999].1, b"999");
        check_against_memory(&body, "b");
        let body = many_parts(MAX_PARTS, false);
        assert!(is_multipart_err(&parts(&body, "b")));
        check_against_memory(&body, "b");
    }

    #[test]
    fn unterminated_bodies_fail_at_finish() {
        for bad in [
            &b""[..],
            b"no boundary at all",
            b"--b",
            b"--b-",
            b"--b ",
            b"--b\r",
            b"--b\r\n",
            b"--b\r\nA: 1\r\n\r\n",
            b"--b\r\nA: 1\r\n\r\ncontent",
            b"--b\r\nA: 1\r\n\r\ncontent\r\n",
            b"--b\r\nA: 1\r\n\r\ncontent\r\n--b",
            b"--b\r\nA: 1\r\n\r\ncontent\r\n--b-",
            b"--b\r\nA: 1\r\n\r\ncontent\r\n--b\r\n",
            b"--b\r\nA: 1\r\n\r\ncontent\r\n--b-x\r\n",
        ] {
            let mut reader = MultipartReader::new("b").unwrap();
            let mut sink = Recorder::default();
            reader.feed(bad, &mut sink).unwrap();
            assert!(!reader.is_done());
            assert!(is_multipart_err(&reader.finish(&mut sink)), "{bad:?}");
            check_against_memory(bad, "b");
        }
        // The close delimiter right at the start: no parts, and that is fine.
        assert_eq!(parts(b"--b--", "b").unwrap(), vec![]);
        check_against_memory(b"--b--", "b");
    }

    #[test]
    fn base64_parts() {
        let body = b"--b\r\nContent-Transfer-Encoding: Base64 \r\n\r\naGVs\r\n bG8g\td29y\nbGQ=\r\n \r\n--b--";
        assert_eq!(parts(body, "b").unwrap()[0].1, b"hello world");
        check_against_memory(body, "b");
        let empty = b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\n\r\n--b--";
        assert_eq!(parts(empty, "b").unwrap()[0].1, b"");
        check_against_memory(empty, "b");
        for content in [
            &b"aGVsbG8"[..],     // missing padding
            b"aGVsbG8==",        // wrong padding
            b"aGVsbG9=",         // non-zero trailing bits
            b"aGVs*G8=",         // not base64
            b"aGVs\x0cbG8=",     // form feed is not white space here
            b"aGVsbA==aGVs",     // data after the padding
            b"aGVsbA==\r\na",    // data after the padding
            b"aGVs\xc3\xa9bG8=", // non-ASCII
            b"a",
            b"====",
        ] {
            let mut body = b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n--b--");
            assert!(is_multipart_err(&parts(&body, "b")), "{content:?}");
            check_against_memory(&body, "b");
        }
    }

    #[test]
    fn quoted_printable_parts() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"a=3Db=\r\nc", b"a=bc"),
            (b"a=3db", b"a=b"),
            (b"soft=  \t\r\nbreak", b"softbreak"),
            (b"lf=\nonly", b"lfonly"),
            (b"cr=\ralone", b"cralone"),
            (b"cr=\r\rtwice", b"cr\rtwice"),
            (b"end=", b"end"),
            (b"end= \t", b"end"),
            (b"=\r=41", b"A"),
        ];
        for (content, decoded) in cases {
            let mut body = b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".to_vec();
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n--b--");
            assert_eq!(parts(&body, "b").unwrap()[0].1, decoded, "{content:?}");
            check_against_memory(&body, "b");
        }
        for content in [&b"a=zz"[..], b"a=4", b"a=4\r\n", b"= 41", b"=x", b"=4 "] {
            let mut body = b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".to_vec();
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n--b--");
            assert!(is_multipart_err(&parts(&body, "b")), "{content:?}");
            check_against_memory(&body, "b");
        }
    }

    #[test]
    fn unsupported_encoding_fails_before_start() {
        let body =
            b"--b\r\n\r\nfirst\r\n--b\r\nContent-Transfer-Encoding: x-gzip\r\n\r\nzz\r\n--b--";
        let (events, result) = run(body, "b");
        assert!(
            matches!(&result, Err(WireError::Multipart(m)) if m.to_string() == "unsupported Content-Transfer-Encoding x-gzip"),
            "{result:?}"
        );
        assert_eq!(
            events,
            vec![
                Event::Start(0, vec![]),
                Event::Data(b"first".to_vec()),
                Event::End
            ]
        );
        check_against_memory(body, "b");
    }

    #[test]
    fn errors_stop_the_reader() {
        let mut reader = MultipartReader::new("b").unwrap();
        let mut sink = Recorder::default();
        assert!(reader.feed(b"--b x\r\n", &mut sink).is_err());
        assert!(reader.feed(b"\r\n--b--", &mut sink).is_err());
        assert!(reader.finish(&mut sink).is_err());

        struct Refuse;
        impl PartSink for Refuse {
            fn start(&mut self, index: usize, _: &[(String, String)]) -> Result<(), WireError> {
                if index == 1 {
                    Err(WireError::multipart("refused"))
                } else {
                    Ok(())
                }
            }
            fn data(&mut self, _: &[u8]) -> Result<(), WireError> {
                Ok(())
            }
            fn end(&mut self) -> Result<(), WireError> {
                Ok(())
            }
        }
        let mut reader = MultipartReader::new("b").unwrap();
        let result = reader.feed(b"--b\n\na\n--b\n\nb\n--b--", &mut Refuse);
        assert!(matches!(result, Err(WireError::Multipart(m)) if m.to_string() == "refused"));
        assert!(reader.feed(b"", &mut Refuse).is_err());
    }

    #[test]
    fn empty_chunks_are_fine() {
        let mut reader = MultipartReader::new("b").unwrap();
        let mut sink = Recorder::default();
        for piece in [&b""[..], b"--b\r\n", b"", b"\r\nx", b"", b"\r\n--b--", b""] {
            reader.feed(piece, &mut sink).unwrap();
        }
        reader.finish(&mut sink).unwrap();
        assert_eq!(parts_of(&sink.events), vec![(vec![], b"x".to_vec())]);
    }

    #[test]
    fn held_back_bytes_stay_bounded() {
        let boundary = "uuid:0123456789";
        let mut reader = MultipartReader::new(boundary).unwrap();
        let mut sink = Recorder::default();
        reader
            .feed(b"--uuid:0123456789\r\n\r\n", &mut sink)
            .unwrap();
        let mut rng = Rng(42);
        // Content full of near-delimiters.
        let pieces: [&[u8]; 6] = [
            b"\r\n--uuid:0123",
            b"\r\n",
            b"\r",
            b"\n--uuid:0123456789-",
            b"x",
            b"\n--uu",
        ];
        for _ in 0..20_000 {
            let piece = pieces[rng.below(pieces.len())];
            reader.feed(piece, &mut sink).unwrap();
            assert!(
                reader.carry.len() <= boundary.len() + 2 + 3,
                "{:?}",
                reader.carry
            );
        }
        reader.feed(b"\r\n--uuid:0123456789--", &mut sink).unwrap();
        reader.finish(&mut sink).unwrap();
    }

    /// Hand-written bodies, good and bad, against the in-memory parser.
    #[test]
    fn differential_hand_written() {
        let b64 = "Content-Transfer-Encoding: base64";
        let qp = "Content-Transfer-Encoding: quoted-printable";
        let bodies: Vec<String> = vec![
            "--b\r\nContent-Type: text/xml\r\n\r\n<a/>\r\n--b--\r\n".into(),
            "preamble\r\nmore --b\r\n--b\r\n\r\nx\r\n--b--\r\nepilogue".into(),
            "--b   \r\n\r\nx\r\n--b\t\t\r\n\r\ny\r\n--b--".into(),
            "--b\n\nx\n--b\nA: 1\n\ny\n--b--\n".into(),
            "--b\r\nA: 1\r\n continued\r\n\tagain\r\nB: 2\r\n\r\nx\r\n--b--".into(),
            format!("--b\r\n{b64}\r\n\r\naGVsbG8=\r\n--b\r\n{qp}\r\n\r\nh=C3=A9llo=\r\n!\r\n--b--"),
            format!("--b\r\n{b64}\r\n\r\naGVsbG8\r\n--b--"),
            format!("--b\r\n{qp}\r\n\r\n=G1\r\n--b--"),
            "--b\r\n\r\nx\r\n".into(),
            "--b\r\n\r\nx\r\n--b".into(),
            "--b\r\n\r\n--bX\r\nx--b\r\n--b-\r\n---b\r\n --b\r\n--b--".into(),
            "--b\r\nA: 1\r\na: 2\r\nA: 3\r\n\r\n\r\n--b--".into(),
            "--b\r\n\r\n\r\n--b\r\n\r\n--b\r\n\r\n\r\n\r\n--b--".into(),
            "--b\r\nX: 1\r\nbad\r\n\r\n--b--".into(),
            "--b\r\n\r\n--b\r\n--b--".into(),
            "--b--x".into(),
            "--bb\r\n--b-\r\n--b".into(),
            "\n--b\n\n\n--b--".into(),
            "\r\n\r\n--b\r\n\r\n\r\r\n--b--".into(),
            "--b\r\nContent-Transfer-Encoding: 7BIT\r\n\r\ndata\r\n--b--".into(),
            "--b\r\nContent-Transfer-Encoding: 8bit\r\nContent-Transfer-Encoding: base64\r\n\r\n!!\r\n--b--".into(),
            "--b\r\nContent-Transfer-Encoding: gzip\r\n\r\ndata\r\n--b--".into(),
            "--b\r\n\r\ndata\r\n--b--\r\n--b\r\nbad header\r\n".into(),
        ];
        for body in &bodies {
            check_against_memory(body.as_bytes(), "b");
        }
        // A longer boundary with look-alikes cut at every position by the chunkings.
        let boundary = "uuid:1f0e-4a";
        let body = format!(
            "pre--{boundary}\r\n--{boundary}\r\nContent-ID: <r>\r\n\r\n--{boundary}X\r\nx--{boundary}\r\n\
             --{boundary}-\r\n--{boundary}\r\n{b64}\r\n\r\nQUJD\r\nREVG\r\n--{boundary}--\r\nepi"
        );
        check_against_memory(body.as_bytes(), boundary);
        check_against_memory(&many_parts(MAX_PARTS + 1, true), "b");
        check_against_memory(&header_block_body(MAX_HEADER_BYTES + 3, 80, true), "b");
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        /// Content bytes rich in line ends, dashes, boundary letters, `=` and hex digits.
        fn content() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(prop::sample::select(b"\r\n-bX=3Da \t\xff".to_vec()), 0..40)
        }

        #[derive(Debug, Clone)]
        struct GenPart {
            headers: Vec<String>,
            encoding: Option<&'static str>,
            content: Vec<u8>,
            padding: &'static str,
        }

        fn part() -> impl Strategy<Value = GenPart> {
            (
                prop::collection::vec(
                    prop::sample::select(vec![
                        "Content-Type: text/xml",
                        "Content-ID: <a@b>",
                        "X-Long: one\r\n two",
                        "x-dup: 1",
                        "X-DUP: 2",
                    ]),
                    0..3,
                ),
                prop::option::of(prop::sample::select(vec![
                    "binary",
                    "Base64",
                    "quoted-printable",
                    "7bit",
                    "x-token",
                ])),
                prop_oneof![
                    content(),
                    // Valid base64 with line breaks.
                    prop::collection::vec(any::<u8>(), 0..30).prop_map(|d| {
                        let text = base64::engine::general_purpose::STANDARD.encode(d);
                        let mut out = Vec::new();
                        for (i, c) in text.bytes().enumerate() {
                            if i > 0 && i % 8 == 0 {
                                out.extend_from_slice(b"\r\n");
                            }
                            out.push(c);
                        }
                        out
                    }),
                ],
                prop::sample::select(vec!["", " ", "\t "]),
            )
                .prop_map(|(headers, encoding, content, padding)| GenPart {
                    headers: headers.into_iter().map(str::to_owned).collect(),
                    encoding,
                    content,
                    padding,
                })
        }

        fn body() -> impl Strategy<Value = Vec<u8>> {
            (
                content(),
                prop::collection::vec(part(), 0..5),
                any::<bool>(),
                prop::option::weighted(0.85, content()),
                prop::option::weighted(
                    0.3,
                    (any::<prop::sample::Index>(), any::<u8>(), any::<bool>()),
                ),
            )
                .prop_map(|(preamble, parts, crlf, epilogue, mutation)| {
                    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
                    let mut body = preamble;
                    body.extend_from_slice(eol);
                    for p in &parts {
                        body.extend_from_slice(b"--b");
                        body.extend_from_slice(p.padding.as_bytes());
                        body.extend_from_slice(eol);
                        for h in &p.headers {
                            body.extend_from_slice(h.as_bytes());
                            body.extend_from_slice(eol);
                        }
                        if let Some(e) = p.encoding {
                            body.extend_from_slice(b"Content-Transfer-Encoding: ");
                            body.extend_from_slice(e.as_bytes());
                            body.extend_from_slice(eol);
                        }
                        body.extend_from_slice(eol);
                        body.extend_from_slice(&p.content);
                        body.extend_from_slice(eol);
                    }
                    if let Some(epilogue) = epilogue {
                        body.extend_from_slice(b"--b--");
                        body.extend_from_slice(&epilogue);
                    }
                    // Sometimes damage the body: drop, replace or insert one byte.
                    if let Some((at, byte, insert)) = mutation
                        && !body.is_empty()
                    {
                        let i = at.index(body.len());
                        let byte = b"\r\n-b: X"[usize::from(byte) % 7];
                        if insert {
                            body.insert(i, byte);
                        } else if byte == b'X' {
                            body.remove(i);
                        } else {
                            body[i] = byte;
                        }
                    }
                    body
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn agrees_with_the_in_memory_parser(
                body in body(),
                sizes in prop::collection::vec(1usize..12, 1..8),
            ) {
                let expected = parse_parts_for_tests(&body, "b");
                let (events, result) = run_chunked(&body, "b", &sizes);
                match (&expected, &result) {
                    (Ok(expected), Ok(())) => prop_assert_eq!(&parts_of(&events), expected),
                    (Err(_), Err(e)) => prop_assert!(matches!(e, WireError::Multipart(_))),
                    _ => prop_assert!(
                        false,
                        "in-memory {:?} vs streaming {:?} on {:?}",
                        expected,
                        result,
                        String::from_utf8_lossy(&body)
                    ),
                }
                // The same events when fed whole.
                let (whole, whole_result) = run(&body, "b");
                prop_assert_eq!(whole_result.is_ok(), result.is_ok());
                if result.is_ok() {
                    prop_assert_eq!(whole, events);
                }
            }
        }
    }

    /// Counts bytes; for the throughput measurement.
    #[derive(Debug, Default)]
    struct Count {
        bytes: usize,
        calls: usize,
    }

    impl PartSink for Count {
        fn start(&mut self, _: usize, _: &[(String, String)]) -> Result<(), WireError> {
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) -> Result<(), WireError> {
            self.bytes += bytes.len();
            self.calls += 1;
            Ok(())
        }
        fn end(&mut self) -> Result<(), WireError> {
            Ok(())
        }
    }

    fn measure(label: &str, body: &[u8], boundary: &str, chunk: usize) -> usize {
        let started = std::time::Instant::now();
        let mut reader = MultipartReader::new(boundary).unwrap();
        let mut sink = Count::default();
        for piece in body.chunks(chunk) {
            reader.feed(piece, &mut sink).unwrap();
        }
        reader.finish(&mut sink).unwrap();
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{label}: {} MiB body in {:.3} s = {:.2} GB/s ({} data calls)",
            body.len() >> 20,
            secs,
            body.len() as f64 / secs / 1e9,
            sink.calls
        );
        sink.bytes
    }

    /// `cargo test -p opensmev-wire --release --lib multipart::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore = "a release-mode measurement"]
    fn throughput() {
        let boundary = "uuid:6b3bdc1e-8a2f-4c4e-9a57-0e1d2c3b4a59";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let size = 256 << 20;
        let mut data = Vec::with_capacity(size);
        while data.len() < size {
            data.extend_from_slice(&rng.next().to_le_bytes());
        }
        let wrap = |headers: &str, content: &[u8]| {
            let mut body = format!("--{boundary}\r\n{headers}\r\n\r\n").into_bytes();
            body.extend_from_slice(content);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            body
        };
        let body = wrap("Content-Type: application/octet-stream", &data);
        assert_eq!(
            measure("binary, 64 KiB chunks", &body, boundary, 64 << 10),
            size
        );
        assert_eq!(
            measure("binary, one chunk", &body, boundary, body.len()),
            size
        );
        drop(body);
        let text = base64::engine::general_purpose::STANDARD.encode(&data[..64 << 20]);
        let mut lines = Vec::with_capacity(text.len() / 76 * 78 + 80);
        for line in text.as_bytes().chunks(76) {
            lines.extend_from_slice(line);
            lines.extend_from_slice(b"\r\n");
        }
        let body = wrap("Content-Transfer-Encoding: base64", &lines);
        assert_eq!(
            measure(
                "base64 (76-char lines), 64 KiB chunks",
                &body,
                boundary,
                64 << 10
            ),
            64 << 20
        );
    }
}
