//! Fuzz target `multipart`: checks `MultipartReader` (whole vs chunked feeding) and `split_http_body`.
//!
//! `MultipartReader` must give the same parts whether a body is fed whole or in pseudo-random
//! chunks, keep failing after an error and report nothing after `is_done()`; `split_http_body`
//! on a `multipart/related` body must never panic nor return more parts than the reader found.
//!
//! Input layout (4 header bytes, then an optional boundary, then the body):
//!
//! * byte 0: bit 7 clear: one of the fixed boundaries [`FIXED`] (`byte0 % FIXED.len()`); bit 7
//!   set: a boundary of `(byte0 & 0x3f) + 1` bytes taken from the input right after the header,
//!   used as they are when bit 6 is set (the input is skipped if they are not UTF-8), else
//!   mapped into printable ASCII (`0x20 + b % 95`);
//! * byte 1: the largest chunk size `N` of the chunked run, [`MAX_CHUNK`]`[byte1 % len]`;
//! * bytes 2–3: the seed (little-endian) of the generator of the chunk sizes `1..=N`;
//! * the rest: the body.
//!
//! Checks (a failed one panics):
//!
//! * the body fed whole and fed in chunks: both fail, or both succeed with identical event
//!   streams (`start(index, headers)`, `data` with consecutive calls joined, `end`);
//! * the event stream is well formed: part indices count from 0, `data` (never empty) only inside
//!   a part, `end` only after a `start`; on success every part is ended;
//! * errors are `WireError::Multipart` (the sink never fails); after one, `feed` (empty, the rest
//!   of the body, a close delimiter) and `finish` keep failing and report nothing more;
//! * once `is_done()`, `feed` succeeds and reports nothing (the epilogue); `finish` succeeds
//!   exactly when the reader is done;
//! * `MultipartReader::new` and `split_http_body` agree on the boundary; `split_http_body(
//!   "multipart/related; boundary=\"<b>\"; type=\"application/xop+xml\"", body)` never panics, and
//!   when it succeeds the reader (fed whole) succeeded too, the root plus the attachments are at
//!   most the parts the reader reported, the root XML is the first part's content (no `start`
//!   parameter) and every attachment is the content of a later part with that Content-ID and
//!   Content-Type.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opensmev_wire::{
    MultipartReader, PartSink, WireError, part_content_id, part_content_type, split_http_body,
};

/// Boundaries chosen by byte 0 when its bit 7 is clear: those of the tests and samples, and a
/// one-dash boundary (delimiter `---`, close delimiter `-----`).
const FIXED: [&str; 6] = [
    "B",
    "uuid:5c6d1a7e-mtom-boundary",
    "f438a15e-9b5b-491f-9b47-aba4d00b8837",
    "b",
    "MIMEBoundary_urn_uuid_7d2c1f0e",
    "-",
];

/// Largest chunk sizes chosen by byte 1.
const MAX_CHUNK: [usize; 10] = [1, 2, 3, 5, 8, 13, 31, 64, 257, 4096];

const HEADER: usize = 4;

type Headers = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Start(usize, Headers),
    Data(Vec<u8>),
    End,
}

/// Records the events (consecutive `data` calls joined) and checks their order.
#[derive(Debug, Default)]
struct Recorder {
    events: Vec<Event>,
    /// Every call, joined or not.
    calls: usize,
    /// `start` calls so far.
    starts: usize,
    in_part: bool,
}

impl PartSink for Recorder {
    fn start(&mut self, index: usize, headers: &[(String, String)]) -> Result<(), WireError> {
        assert!(!self.in_part, "start() inside a part");
        assert_eq!(index, self.starts, "part index out of sequence");
        self.calls += 1;
        self.starts += 1;
        self.in_part = true;
        self.events.push(Event::Start(index, headers.to_vec()));
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        assert!(!bytes.is_empty(), "data() with an empty slice");
        assert!(self.in_part, "data() outside a part");
        self.calls += 1;
        if let Some(Event::Data(d)) = self.events.last_mut() {
            d.extend_from_slice(bytes);
        } else {
            self.events.push(Event::Data(bytes.to_vec()));
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), WireError> {
        assert!(self.in_part, "end() outside a part");
        self.calls += 1;
        self.in_part = false;
        self.events.push(Event::End);
        Ok(())
    }
}

struct Run {
    events: Vec<Event>,
    result: Result<(), WireError>,
}

impl Run {
    /// The parts: headers and content.
    fn parts(&self) -> Vec<(&Headers, Vec<u8>)> {
        let mut parts: Vec<(&Headers, Vec<u8>)> = Vec::new();
        for e in &self.events {
            match e {
                Event::Start(_, h) => parts.push((h, Vec::new())),
                Event::Data(d) => parts.last_mut().unwrap().1.extend_from_slice(d),
                Event::End => {}
            }
        }
        parts
    }
}

/// splitmix64
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Feeds `body` in chunks of `size()` bytes (capped to what is left) and checks the reader's
/// behaviour around errors and `is_done()`.
fn run(boundary: &str, body: &[u8], mut size: impl FnMut() -> usize) -> Run {
    let mut reader = MultipartReader::new(boundary).expect("the boundary was accepted before");
    let mut sink = Recorder::default();
    let mut rest = body;
    let mut failure = None;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(size().clamp(1, rest.len()));
        rest = tail;
        let was_done = reader.is_done();
        let calls = sink.calls;
        let result = reader.feed(chunk, &mut sink);
        if was_done {
            assert!(result.is_ok(), "feed() after is_done() failed: {result:?}");
            assert_eq!(sink.calls, calls, "events reported after is_done()");
        }
        if let Err(e) = result {
            failure = Some(e);
            break;
        }
    }
    let result = match failure {
        Some(e) => {
            assert!(
                matches!(e, WireError::Multipart(_)),
                "unexpected error {e:?}"
            );
            let calls = sink.calls;
            assert!(
                reader.feed(b"", &mut sink).is_err(),
                "feed(empty) after an error"
            );
            if !rest.is_empty() {
                assert!(
                    reader.feed(rest, &mut sink).is_err(),
                    "feed() after an error"
                );
            }
            let close = format!("\r\n--{boundary}--\r\n");
            assert!(
                reader.feed(close.as_bytes(), &mut sink).is_err(),
                "feed(close delimiter) after an error"
            );
            assert_eq!(sink.calls, calls, "events reported after an error");
            assert!(reader.finish(&mut sink).is_err(), "finish() after an error");
            assert_eq!(sink.calls, calls, "events reported after an error");
            Err(e)
        }
        None => {
            let done = reader.is_done();
            if done {
                // The epilogue: anything more is ignored.
                let calls = sink.calls;
                let more = reader.feed(body, &mut sink);
                assert!(more.is_ok(), "feed() after is_done() failed: {more:?}");
                let close = format!("\r\n--{boundary}\r\n\r\nx\r\n--{boundary}--");
                let more = reader.feed(close.as_bytes(), &mut sink);
                assert!(more.is_ok(), "feed() after is_done() failed: {more:?}");
                assert_eq!(sink.calls, calls, "events reported after is_done()");
                assert!(reader.is_done());
            }
            let calls = sink.calls;
            let result = reader.finish(&mut sink);
            assert_eq!(sink.calls, calls, "events reported by finish()");
            assert_eq!(
                result.is_ok(),
                done,
                "finish() is {result:?} while is_done() was {done}"
            );
            if let Err(e) = &result {
                assert!(
                    matches!(e, WireError::Multipart(_)),
                    "unexpected error {e:?}"
                );
            } else {
                assert!(!sink.in_part, "success with a part not ended");
            }
            result
        }
    };
    Run {
        events: sink.events,
        result,
    }
}

/// The boundary as a quoted-string parameter value.
fn quoted(boundary: &str) -> String {
    let mut q = String::with_capacity(boundary.len() + 2);
    q.push('"');
    for c in boundary.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let (sel, chunk_sel, seed) = (data[0], data[1], u16::from_le_bytes([data[2], data[3]]));
    let mut rest = &data[HEADER..];
    let custom;
    let boundary: &str = if sel & 0x80 == 0 {
        FIXED[usize::from(sel) % FIXED.len()]
    } else {
        let len = usize::from(sel & 0x3f) + 1;
        if rest.len() < len {
            return;
        }
        let (raw, body) = rest.split_at(len);
        rest = body;
        custom = if sel & 0x40 != 0 {
            let Ok(s) = std::str::from_utf8(raw) else {
                return;
            };
            s.to_owned()
        } else {
            raw.iter().map(|&b| char::from(0x20 + b % 95)).collect()
        };
        &custom
    };
    let body = rest;
    let content_type = format!(
        "multipart/related; boundary={}; type=\"application/xop+xml\"",
        quoted(boundary)
    );

    if MultipartReader::new(boundary).is_err() {
        assert!(
            split_http_body(&content_type, body).is_err(),
            "split_http_body accepts boundary {boundary:?}, MultipartReader::new does not"
        );
        return;
    }

    let whole = run(boundary, body, || usize::MAX);
    let max = MAX_CHUNK[usize::from(chunk_sel) % MAX_CHUNK.len()];
    let mut rng = Rng(u64::from(seed) << 8 | u64::from(chunk_sel));
    let chunked = run(boundary, body, || (rng.next() % max as u64) as usize + 1);
    match (&whole.result, &chunked.result) {
        (Ok(()), Ok(())) => assert!(
            whole.events == chunked.events,
            "different events whole and in chunks of 1..={max}:\n whole: {:?}\n chunks: {:?}",
            whole.events,
            chunked.events
        ),
        (Err(_), Err(_)) => {}
        (w, c) => panic!("whole: {w:?}, in chunks of 1..={max}: {c:?}"),
    }

    if let Ok(payload) = split_http_body(&content_type, body) {
        assert!(
            whole.result.is_ok(),
            "split_http_body succeeds, the reader failed: {:?}",
            whole.result
        );
        let parts = whole.parts();
        assert!(
            payload.parts.len() < parts.len(),
            "split_http_body returns a root and {} attachments, the reader found {} parts",
            payload.parts.len(),
            parts.len()
        );
        assert_eq!(
            &*payload.xml,
            &parts[0].1[..],
            "root XML is not the first part"
        );
        for (id, part) in &payload.parts {
            assert!(
                parts[1..]
                    .iter()
                    .any(|(h, d)| part_content_id(h) == Some(id.as_str())
                        && part_content_type(h) == part.content_type
                        && d[..] == part.data[..]),
                "attachment <{id}> is not a part the reader reported"
            );
        }
    }
});
