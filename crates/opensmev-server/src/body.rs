//! HTTP bodies that may be large: an MTOM request is read part by part as it arrives, its
//! attachment parts kept in memory up to [`SPILL_BYTES`] per request and spooled to files beyond
//! that (the store then takes the files over); an answer that delivers attachments is streamed
//! from memory or from the store's files. A 1 GiB attachment thus never sits in memory.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt as _;
use opensmev_store::Blob;

use crate::budget::Reservation;
use opensmev_wire::error::MultipartProblem;
use opensmev_wire::{
    AttachmentData, FoundPart, FramedAnswer, MultipartReader, MultipartType, PartLookup, PartSink,
    RootPart, Segment, WireError,
};

/// Attachment bytes of one request held in memory at most; larger parts go to spool files.
pub(crate) const SPILL_BYTES: usize = 1024 * 1024;

/// Chunks handed between the HTTP connection and the thread that spools or reads files.
const CHANNEL_CHUNKS: usize = 4;

/// Bytes read from a file per chunk of a streamed answer (a multiple of 3, so that base64
/// chunks concatenate without padding in between).
const FILE_CHUNK: usize = 3 * 64 * 1024;

/// The directory of spool files (`<data_dir>/spool`, on the store's file system so that the
/// store takes a file over with a rename).
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    counter: AtomicU64,
}

impl Spool {
    /// Creates the directory, removing what an earlier run left in it.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Spool> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(Spool {
            dir: dir.to_owned(),
            counter: AtomicU64::new(0),
        })
    }

    fn create(&self) -> std::io::Result<(std::fs::File, PathBuf)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{}-{n}.part", std::process::id()));
        Ok((std::fs::File::create(&path)?, path))
    }
}

/// Spool files of one request, removed when it is done (a file the store took over is gone
/// already).
#[derive(Debug, Default)]
pub(crate) struct SpoolFiles(Vec<PathBuf>);

impl SpoolFiles {
    /// Removes this file too when the request is done.
    pub(crate) fn push(&mut self, path: PathBuf) {
        self.0.push(path);
    }
}

/// Writes bytes to a new spool file (on the blocking pool); returns its path.
pub(crate) async fn spill(spool: Arc<Spool>, bytes: Vec<u8>) -> std::io::Result<PathBuf> {
    tokio::task::spawn_blocking(move || {
        let (mut file, path) = spool.create()?;
        let written = file.write_all(&bytes);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    })
    .await
    .map_err(std::io::Error::other)?
}

impl Drop for SpoolFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An attachment part of a request as the server keeps it.
#[derive(Debug)]
pub(crate) struct KeptPart {
    content_type: String,
    blob: Blob,
}

/// The attachment parts of a request by Content-ID.
#[derive(Debug, Default)]
pub(crate) struct KeptParts(HashMap<String, KeptPart>);

impl KeptParts {
    /// The bytes of the part with this Content-ID (as [`PartLookup::lookup`] named it).
    pub(crate) fn blob(&self, content_id: &str) -> Option<Blob> {
        self.0.get(content_id).map(|p| p.blob.clone())
    }
}

impl PartLookup for KeptParts {
    fn lookup(&self, content_id: &str) -> Option<FoundPart> {
        self.0
            .get_key_value(content_id)
            .map(|(id, part)| FoundPart {
                content_id: id.clone(),
                content_type: part.content_type.clone(),
                data: AttachmentData::Part {
                    len: part.blob.len(),
                },
            })
    }
}

/// A request body, read.
#[derive(Debug)]
pub(crate) struct Received {
    /// The SOAP envelope.
    pub(crate) xml: Bytes,
    /// MTOM parts.
    pub(crate) parts: KeptParts,
    /// Whether the request was MTOM/XOP (the answer is, too).
    pub(crate) mtom: bool,
    /// A SOAP 1.2-style `action` media type parameter.
    pub(crate) action: Option<String>,
    /// Removes the spool files when the request is done.
    pub(crate) _files: SpoolFiles,
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Over the size limit of this many bytes (HTTP 413).
    TooLarge(usize),
    /// The body did not arrive in time (HTTP 408).
    Stalled(Stall),
    /// The memory budget for bodies stayed exhausted (HTTP 503).
    Busy,
    /// Not a well-formed body.
    Wire(WireError),
    /// The connection failed or the spool could not be written.
    Io(String),
}

/// Which time limit a stalled body broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// No byte arrived for this many milliseconds.
    Idle(u128),
    /// The body arrived slower than this many bytes per second.
    Slow(u64),
}

/// Limits of [`read_multipart`] and [`read_plain`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadLimits {
    /// The whole body.
    pub(crate) body: usize,
    /// The XML root part (for a plain body: the same as `body`).
    pub(crate) xml: usize,
    /// Bytes of the body held in memory at most (what the budget must cover).
    pub(crate) in_memory: usize,
    /// Longest wait for the next bytes of the body.
    pub(crate) idle: std::time::Duration,
    /// After the first `idle`, the body must have arrived at this many bytes per second on
    /// average (0: no minimum).
    pub(crate) min_rate: u64,
}

/// How fast a body arrives: the clock of [`next_frame`].
#[derive(Debug, Clone, Copy)]
struct Pace {
    started: tokio::time::Instant,
    received: usize,
}

impl Pace {
    fn new() -> Pace {
        Pace {
            started: tokio::time::Instant::now(),
            received: 0,
        }
    }

    /// When the body is too slow if nothing more arrives: `idle` after the start plus the time
    /// what arrived buys at `min_rate`.
    fn deadline(&self, limits: ReadLimits) -> Option<tokio::time::Instant> {
        if limits.min_rate == 0 {
            return None;
        }
        let bought =
            std::time::Duration::from_secs_f64(self.received as f64 / limits.min_rate as f64);
        Some(self.started + limits.idle + bought)
    }
}

/// The next frame of a body, or [`ReadError::Stalled`] when none comes within `idle`, or when the
/// body arrives slower than the minimum rate.
async fn next_frame(
    body: &mut Body,
    pace: &mut Pace,
    limits: ReadLimits,
) -> Result<Option<Result<http_body::Frame<Bytes>, axum::Error>>, ReadError> {
    let now = tokio::time::Instant::now();
    let mut wait = limits.idle;
    let mut slow = false;
    if let Some(deadline) = pace.deadline(limits) {
        let left = deadline.saturating_duration_since(now);
        if left < wait {
            wait = left;
            slow = true;
        }
    }
    let frame = tokio::time::timeout(wait, body.frame())
        .await
        .map_err(|_| {
            ReadError::Stalled(if slow {
                Stall::Slow(limits.min_rate)
            } else {
                Stall::Idle(limits.idle.as_millis())
            })
        })?;
    if let Some(Ok(frame)) = &frame
        && let Some(data) = frame.data_ref()
    {
        pace.received += data.len();
    }
    Ok(frame)
}

fn too_large(limit: usize) -> ReadError {
    ReadError::TooLarge(limit)
}

/// Reads a plain (not multipart) body whole, covering what arrived with `budget` as it arrives,
/// refusing it beyond `limits.body` and when it stalls.
pub(crate) async fn read_plain(
    mut body: Body,
    budget: &mut Reservation,
    limits: ReadLimits,
) -> Result<Bytes, ReadError> {
    let mut buffer = bytes::BytesMut::new();
    let mut pace = Pace::new();
    while let Some(frame) = next_frame(&mut body, &mut pace, limits).await? {
        let frame = frame.map_err(|e| ReadError::Io(format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = buffer.len() + data.len();
        if total > limits.body {
            return Err(too_large(limits.body));
        }
        // The buffer may hold up to twice what arrived while it grows.
        budget
            .cover(total.saturating_mul(2).min(2 * limits.body))
            .map_err(|_| ReadError::Busy)?;
        buffer.extend_from_slice(&data);
    }
    tracing::Span::current().record("bytes_in", buffer.len());
    Ok(buffer.freeze())
}

/// Reads a `multipart/related` body as it arrives: the root part into memory, attachment parts
/// into memory or spool files (a thread of the blocking pool parses and writes; the connection
/// is read here).
pub(crate) async fn read_multipart(
    spool: Arc<Spool>,
    kind: MultipartType,
    body: Body,
    budget: &mut Reservation,
    limits: ReadLimits,
) -> Result<Received, ReadError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let worker = tokio::task::spawn_blocking(move || {
        let mut reader = MultipartReader::new(&kind.boundary).map_err(ReadError::Wire)?;
        let mut sink = SpoolSink {
            kind: &kind,
            spool: &spool,
            max_xml: limits.xml,
            current: Current::Skip,
            root: None,
            parts: HashMap::new(),
            memory: 0,
            files: SpoolFiles::default(),
            io_error: None,
        };
        let mut result = Ok(());
        while let Some(chunk) = rx.blocking_recv() {
            result = reader.feed(&chunk, &mut sink);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = reader.finish(&mut sink);
        }
        if let Some(e) = sink.io_error.take() {
            return Err(ReadError::Io(format!("spooling an attachment: {e}")));
        }
        result.map_err(ReadError::Wire)?;
        let (xml, root) = sink
            .root
            .take()
            .ok_or_else(|| ReadError::Wire(kind.no_root()))?;
        Ok(Received {
            xml: Bytes::from(xml),
            parts: KeptParts(std::mem::take(&mut sink.parts)),
            mtom: root.mtom,
            action: root.action,
            _files: std::mem::take(&mut sink.files),
        })
    });
    let mut body = body;
    let mut total = 0usize;
    let mut failure = None;
    let mut pace = Pace::new();
    loop {
        let frame = match next_frame(&mut body, &mut pace, limits).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        match frame {
            Ok(frame) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                total += data.len();
                if total > limits.body {
                    failure = Some(too_large(limits.body));
                    break;
                }
                // What is in memory is at most the root part and the parts kept before
                // spooling (plus the chunks in flight).
                if budget.cover(total.min(limits.in_memory)).is_err() {
                    failure = Some(ReadError::Busy);
                    break;
                }
                if tx.send(data).await.is_err() {
                    break; // the parser stopped: its error is the answer
                }
            }
            Err(e) => {
                failure = Some(ReadError::Io(format!("reading the request body: {e}")));
                break;
            }
        }
    }
    drop(tx);
    tracing::Span::current().record("bytes_in", total);
    let parsed = worker
        .await
        .map_err(|e| ReadError::Io(format!("the body reader failed: {e}")))?;
    match failure {
        Some(failure) => Err(failure),
        None => parsed,
    }
}

enum Current {
    Root(Vec<u8>, RootPart),
    Skip,
    Part {
        id: String,
        content_type: String,
        memory: Vec<u8>,
        file: Option<(std::io::BufWriter<std::fs::File>, PathBuf)>,
        len: u64,
    },
}

struct SpoolSink<'k> {
    kind: &'k MultipartType,
    spool: &'k Spool,
    max_xml: usize,
    current: Current,
    root: Option<(Vec<u8>, RootPart)>,
    parts: HashMap<String, KeptPart>,
    /// Attachment bytes held in memory.
    memory: usize,
    files: SpoolFiles,
    io_error: Option<std::io::Error>,
}

impl SpoolSink<'_> {
    fn io(&mut self, e: std::io::Error) -> WireError {
        self.io_error = Some(e);
        WireError::multipart("spooling failed")
    }

    /// The current part goes on in a spool file, starting with what is in memory.
    fn spill(&mut self) -> Result<(), WireError> {
        let (created, path) = match self.spool.create() {
            Ok(created) => created,
            Err(e) => return Err(self.io(e)),
        };
        self.files.0.push(path.clone());
        let mut writer = std::io::BufWriter::with_capacity(256 * 1024, created);
        let Current::Part { memory, file, .. } = &mut self.current else {
            return Ok(());
        };
        let held = std::mem::take(memory);
        self.memory -= held.len();
        let written = writer.write_all(&held);
        *file = Some((writer, path));
        written.map_err(|e| self.io(e))
    }
}

impl PartSink for SpoolSink<'_> {
    fn start(&mut self, index: usize, headers: &[(String, String)]) -> Result<(), WireError> {
        self.current = if self.root.is_none()
            && !matches!(self.current, Current::Root(..))
            && self.kind.is_root(index, headers)
        {
            Current::Root(Vec::new(), self.kind.root(headers)?)
        } else {
            match opensmev_wire::part_content_id(headers) {
                None => Current::Skip, // cannot be referenced
                Some(id) => {
                    if self.parts.contains_key(id) {
                        return Err(WireError::Multipart(MultipartProblem::DuplicateContentId(
                            id.to_owned(),
                        )));
                    }
                    Current::Part {
                        id: id.to_owned(),
                        content_type: opensmev_wire::part_content_type(headers).to_owned(),
                        memory: Vec::new(),
                        file: None,
                        len: 0,
                    }
                }
            }
        };
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        match &mut self.current {
            Current::Skip => Ok(()),
            Current::Root(xml, _) => {
                if xml.len() + bytes.len() > self.max_xml {
                    return Err(WireError::Multipart(MultipartProblem::RootTooLarge(
                        self.max_xml,
                    )));
                }
                xml.extend_from_slice(bytes);
                Ok(())
            }
            Current::Part { file, len, .. } => {
                *len += bytes.len() as u64;
                let spill = file.is_none() && self.memory + bytes.len() > SPILL_BYTES;
                if spill {
                    self.spill()?;
                }
                let Current::Part { memory, file, .. } = &mut self.current else {
                    unreachable!("matched above")
                };
                match file {
                    Some((writer, _)) => {
                        if let Err(e) = writer.write_all(bytes) {
                            return Err(self.io(e));
                        }
                    }
                    None => {
                        memory.extend_from_slice(bytes);
                        self.memory += bytes.len();
                    }
                }
                Ok(())
            }
        }
    }

    fn end(&mut self) -> Result<(), WireError> {
        match std::mem::replace(&mut self.current, Current::Skip) {
            Current::Skip => {}
            Current::Root(xml, root) => self.root = Some((xml, root)),
            Current::Part {
                id,
                content_type,
                memory,
                file,
                len,
            } => {
                let blob = match file {
                    None => Blob::Bytes(memory),
                    Some((writer, path)) => {
                        if let Err(e) = writer.into_inner().map_err(|e| e.into_error()) {
                            return Err(self.io(e));
                        }
                        Blob::File { path, len }
                    }
                };
                self.parts.insert(id, KeptPart { content_type, blob });
            }
        }
        Ok(())
    }
}

/// The body of a framed answer: built in memory when every attachment is in memory, else
/// streamed, files read chunk by chunk on the blocking pool.
pub(crate) fn answer_body(framed: &FramedAnswer, blobs: Vec<Blob>) -> Body {
    if blobs.iter().all(|b| matches!(b, Blob::Bytes(_))) {
        let data: Vec<&[u8]> = blobs
            .iter()
            .map(|b| match b {
                Blob::Bytes(bytes) => bytes.as_slice(),
                Blob::File { .. } => &[],
            })
            .collect();
        return Body::from(framed.to_bytes(&data));
    }
    let segments = framed.segments.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        for segment in segments {
            let sent = match segment {
                Segment::Text(text) => tx.blocking_send(Ok(Bytes::from(text))).is_ok(),
                Segment::Attachment { index, base64 } => stream_blob(&blobs[index], base64, &tx),
            };
            if !sent {
                return; // the client went away, or a read failed (already reported)
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

/// Sends a blob's bytes in chunks; false when the receiver is gone or the read failed.
fn stream_blob(
    blob: &Blob,
    base64: bool,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> bool {
    use base64::Engine as _;
    let mut reader = match blob.open() {
        Ok(reader) => reader,
        Err(e) => {
            tracing::error!(error = %e, "opening an attachment to deliver");
            let _ = tx.blocking_send(Err(e));
            return false;
        }
    };
    let mut buffer = vec![0u8; FILE_CHUNK];
    loop {
        // Fill the buffer (a short read in the middle would break base64's 3-byte groups).
        let mut filled = 0;
        while filled < buffer.len() {
            match reader.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(error = %e, "reading an attachment to deliver");
                    let _ = tx.blocking_send(Err(e));
                    return false;
                }
            }
        }
        if filled == 0 {
            return true;
        }
        let chunk = if base64 {
            Bytes::from(base64::engine::general_purpose::STANDARD.encode(&buffer[..filled]))
        } else {
            Bytes::copy_from_slice(&buffer[..filled])
        };
        if tx.blocking_send(Ok(chunk)).is_err() {
            return false;
        }
        if filled < buffer.len() {
            return true;
        }
    }
}
