//! Attachment bytes in the database, and the node-local cache of large ones read back.
//!
//! Writing: an attachment of at most [`CHUNK`] bytes (1 MiB) is stored inline
//! (`attachments.data`); a larger one as rows of [`CHUNK`] bytes in `attachment_chunks`, read
//! from the caller's [`Blob::File`] one chunk at a time (never the whole file in memory), in the
//! enqueue's transaction. The store does not move or remove the caller's file (the caller removes
//! it afterwards); a file whose length differs from the announced one is refused.
//!
//! Reading: an inline attachment comes back as [`Blob::Bytes`]; a chunked one as a
//! [`Blob::File`] in the cache directory, written chunk by chunk under a temporary name, synced
//! and renamed into place, and reused by later reads while it is there with the right length.
//! The file is named by the message's seq, its `MessageID` and the attachment's ordinal: a
//! `MessageID` is unique and a stored message never changes, so a file found under that name has
//! the right bytes (a database restored to an earlier point that reuses a seq has another
//! message id there). Cache files are never changed once in place; a file is touched (its
//! modification time set to now) each time a read reuses it, and files not used for
//! [`CACHE_IDLE`] are removed by a task of the store every [`EVICTION_INTERVAL`] (an answer
//! streaming such a file keeps its open handle), so the cache holds what was read recently. The
//! directory may be cleared, or deleted, at any time: it is made again when needed.
//! Opening a store removes the temporary files left by interrupted reads — those not written to
//! for [`PART_GRACE`] — and keeps the others: another store on the same directory (`opensmev
//! doctor` on a running node) may be writing them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use opensmev_store::{Attachment, Blob, StoreError};
use opensmev_types::MessageId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codec::{Res, col};
use crate::db;

/// The largest attachment stored inline, and the size of every chunk of a larger one but the
/// last.
pub(crate) const CHUNK: usize = 1 << 20;

/// How long a temporary cache file may go unwritten before it counts as left by an interrupted
/// read (a read writes a chunk at least every statement timeout).
pub(crate) const PART_GRACE: Duration = Duration::from_secs(10 * 60);

/// An attachment row as read: inline bytes, or the length of a chunked one.
#[derive(Debug, Clone)]
pub(crate) struct StoredAttachment {
    pub(crate) ord: i32,
    pub(crate) content_id: String,
    pub(crate) mime_type: String,
    pub(crate) len: u64,
    pub(crate) data: Option<Vec<u8>>,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

fn too_large(content_id: &str) -> StoreError {
    StoreError::Backend(format!("attachment {content_id} is too large"))
}

/// Writes attachment `ord` of message `seq` (inside the caller's transaction).
pub(crate) async fn write<C: GenericClient>(
    c: &C,
    seq: i64,
    ord: i32,
    attachment: &Attachment,
) -> Res<()> {
    let head = |data| head(c, seq, ord, attachment, data);
    match &attachment.data {
        Blob::Bytes(bytes) if bytes.len() <= CHUNK => {
            head(Some(bytes.as_slice())).await?;
        }
        Blob::Bytes(bytes) => {
            head(None).await?;
            for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
                write_chunk(c, seq, ord, index, chunk).await?;
            }
        }
        Blob::File { path, len } => {
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|e| io_error("opening", path, e))?;
            let actual = file
                .metadata()
                .await
                .map_err(|e| io_error("reading", path, e))?
                .len();
            if actual != *len {
                return Err(StoreError::Backend(format!(
                    "attachment {}: the file has {actual} bytes, {len} were announced",
                    attachment.content_id
                ))
                .into());
            }
            if *len <= CHUNK as u64 {
                // Small: inline.
                let mut bytes = Vec::with_capacity(CHUNK);
                (&mut file)
                    .take(*len + 1)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| io_error("reading", path, e))?;
                if bytes.len() as u64 != *len {
                    return Err(changed(&attachment.content_id, *len));
                }
                head(Some(&bytes)).await?;
                return Ok(());
            }
            head(None).await?;
            let mut buffer = vec![0u8; CHUNK];
            let mut index = 0usize;
            let mut total = 0u64;
            loop {
                let filled = fill(&mut file, &mut buffer)
                    .await
                    .map_err(|e| io_error("reading", path, e))?;
                if filled == 0 {
                    break;
                }
                total += filled as u64;
                if total > *len {
                    return Err(changed(&attachment.content_id, *len));
                }
                write_chunk(c, seq, ord, index, &buffer[..filled]).await?;
                index += 1;
                if filled < CHUNK {
                    break;
                }
            }
            if total != *len {
                return Err(changed(&attachment.content_id, *len));
            }
        }
    }
    Ok(())
}

/// Inserts the attachment's row: with its bytes (inline), or without (chunked).
async fn head<C: GenericClient>(
    c: &C,
    seq: i64,
    ord: i32,
    attachment: &Attachment,
    data: Option<&[u8]>,
) -> Res<()> {
    let len =
        i64::try_from(attachment.data.len()).map_err(|_| too_large(&attachment.content_id))?;
    db::execute(
        c,
        "storing an attachment",
        "INSERT INTO attachments (message_seq, ord, content_id, mime_type, len, data)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &seq,
            &ord,
            &attachment.content_id,
            &attachment.mime_type,
            &len,
            &data,
        ],
    )
    .await?;
    Ok(())
}

fn changed(content_id: &str, len: u64) -> crate::codec::Fail {
    StoreError::Backend(format!(
        "attachment {content_id}: the file changed while it was read ({len} bytes were announced)"
    ))
    .into()
}

/// Reads until `buffer` is full or the file ends; how many bytes were read.
async fn fill(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let n = file.read(&mut buffer[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

async fn write_chunk<C: GenericClient>(
    c: &C,
    seq: i64,
    ord: i32,
    index: usize,
    bytes: &[u8],
) -> Res<()> {
    let index = i32::try_from(index).map_err(|_| too_large(&format!("{seq}/{ord}")))?;
    db::execute(
        c,
        "storing an attachment chunk",
        "INSERT INTO attachment_chunks (message_seq, ord, chunk, data) VALUES ($1, $2, $3, $4)",
        &[&seq, &ord, &index, &bytes],
    )
    .await?;
    Ok(())
}

/// The attachment rows of message `seq`, in order.
pub(crate) async fn read_rows<C: GenericClient>(c: &C, seq: i64) -> Res<Vec<StoredAttachment>> {
    let rows = db::query(
        c,
        "loading attachments",
        "SELECT ord, content_id, mime_type, len, data FROM attachments
         WHERE message_seq = $1 ORDER BY ord",
        &[&seq],
    )
    .await?;
    let at = format!("attachments of message seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let len: i64 = col(row, "len", at)?;
        let len = u64::try_from(len)
            .map_err(|_| StoreError::Corrupt(format!("{at}: negative length {len}")))?;
        let data: Option<Vec<u8>> = col(row, "data", at)?;
        if let Some(bytes) = &data
            && bytes.len() as u64 != len
        {
            return Err(StoreError::Corrupt(format!(
                "{at}: {} inline bytes, {len} recorded",
                bytes.len()
            ))
            .into());
        }
        out.push(StoredAttachment {
            ord: col(row, "ord", at)?,
            content_id: col(row, "content_id", at)?,
            mime_type: col(row, "mime_type", at)?,
            len,
            data,
        });
    }
    Ok(out)
}

/// Cache files not used for this long are removed.
pub(crate) const CACHE_IDLE: Duration = Duration::from_secs(3600);

/// How often the cache is swept of idle files.
pub(crate) const EVICTION_INTERVAL: Duration = Duration::from_secs(600);

/// Removes the cache files in `dir` not used (touched) for `idle`; temporary files are left to
/// [`Cache::open`]. Returns how many were removed.
pub(crate) fn evict(dir: &Path, idle: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "part") {
            continue;
        }
        let unused = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > idle);
        if unused && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Starts the store's cache eviction task; it ends when `stop`'s sender is dropped.
pub(crate) fn start_eviction(
    handle: &tokio::runtime::Handle,
    dir: PathBuf,
    mut stop: tokio::sync::watch::Receiver<()>,
) {
    handle.spawn(async move {
        let mut ticker = tokio::time::interval(EVICTION_INTERVAL);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let dir = dir.clone();
                    let removed = tokio::task::spawn_blocking(move || evict(&dir, CACHE_IDLE))
                        .await
                        .unwrap_or(0);
                    if removed > 0 {
                        tracing::debug!(removed, "attachment cache: idle files removed");
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// The node-local directory of large attachments read back.
#[derive(Debug)]
pub(crate) struct Cache {
    dir: PathBuf,
    counter: AtomicU64,
}

impl Cache {
    /// Creates the directory if needed and removes temporary files left by interrupted reads
    /// (not written to for [`PART_GRACE`]; newer ones may be another store's reads in progress).
    pub(crate) fn open(dir: &Path) -> Result<Cache, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
        let entries = std::fs::read_dir(dir).map_err(|e| io_error("listing", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", dir, e))?;
            let path = entry.path();
            let abandoned = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|idle| idle > PART_GRACE);
            if path.extension().is_some_and(|e| e == "part") && abandoned {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(Cache {
            dir: dir.to_owned(),
            counter: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The attachments of message `seq` (`id`) as [`Attachment`]s: inline ones in memory, chunked
    /// ones as files in the cache (read from the database through `c` when not there yet).
    pub(crate) async fn resolve<C: GenericClient>(
        &self,
        c: &C,
        seq: i64,
        id: &MessageId,
        rows: Vec<StoredAttachment>,
    ) -> Res<Vec<Attachment>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let data = match row.data {
                Some(bytes) => Blob::Bytes(bytes),
                None => Blob::File {
                    path: self.file(c, seq, id, row.ord, row.len).await?,
                    len: row.len,
                },
            };
            out.push(Attachment {
                content_id: row.content_id,
                mime_type: row.mime_type,
                data,
            });
        }
        Ok(out)
    }

    fn path(&self, seq: i64, id: &MessageId, ord: i32) -> PathBuf {
        self.dir.join(format!("{seq}-{id}-{ord}"))
    }

    /// The cache file of a chunked attachment, written from the database if it is not there.
    async fn file<C: GenericClient>(
        &self,
        c: &C,
        seq: i64,
        id: &MessageId,
        ord: i32,
        len: u64,
    ) -> Res<PathBuf> {
        let path = self.path(seq, id, ord);
        if let Ok(meta) = tokio::fs::metadata(&path).await
            && meta.len() == len
        {
            // Used again: not idle (see `evict`). A failure only makes it idle sooner.
            let touched = path.clone();
            let _ = tokio::task::spawn_blocking(move || {
                std::fs::File::options()
                    .append(true)
                    .open(&touched)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()))
            })
            .await;
            return Ok(path);
        }
        // The directory may have been deleted since (it is a cache).
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_error("creating", &self.dir, e))?;
        let unique = self.counter.fetch_add(1, Ordering::Relaxed);
        let part = self.dir.join(format!(
            "{seq}-{id}-{ord}.{}-{unique}.part",
            std::process::id()
        ));
        let written = self.fill_file(c, seq, ord, len, &part).await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        tokio::fs::rename(&part, &path)
            .await
            .map_err(|e| io_error("renaming", &part, e))?;
        Ok(path)
    }

    async fn fill_file<C: GenericClient>(
        &self,
        c: &C,
        seq: i64,
        ord: i32,
        len: u64,
        part: &Path,
    ) -> Res<()> {
        let at = format!("attachment {ord} of message seq {seq}");
        let mut file = tokio::fs::File::create(part)
            .await
            .map_err(|e| io_error("creating", part, e))?;
        let chunks = len.div_ceil(CHUNK as u64);
        let mut total = 0u64;
        for index in 0..chunks {
            let index = i32::try_from(index)
                .map_err(|_| StoreError::Corrupt(format!("{at}: too many chunks")))?;
            let row = db::query_opt(
                c,
                "reading an attachment chunk",
                "SELECT data FROM attachment_chunks WHERE message_seq = $1 AND ord = $2 AND chunk = $3",
                &[&seq, &ord, &index],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("{at}: chunk {index} is missing")))?;
            let bytes: &[u8] = col(&row, "data", &at)?;
            let last = u64::try_from(index).unwrap_or(0) + 1 == chunks;
            if bytes.len() != CHUNK && !last {
                return Err(StoreError::Corrupt(format!(
                    "{at}: chunk {index} has {} bytes",
                    bytes.len()
                ))
                .into());
            }
            total += bytes.len() as u64;
            file.write_all(bytes)
                .await
                .map_err(|e| io_error("writing", part, e))?;
        }
        if total != len {
            return Err(StoreError::Corrupt(format!(
                "{at}: the chunks hold {total} bytes, {len} recorded"
            ))
            .into());
        }
        file.flush()
            .await
            .map_err(|e| io_error("writing", part, e))?;
        file.sync_data()
            .await
            .map_err(|e| io_error("syncing", part, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod eviction_tests {
    use super::*;

    #[test]
    fn idle_cache_files_are_removed_and_used_ones_and_temporaries_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(7200);
        let write = |name: &str, modified: std::time::SystemTime| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").unwrap();
            std::fs::File::options()
                .append(true)
                .open(&path)
                .unwrap()
                .set_modified(modified)
                .unwrap();
            path
        };
        let idle = write("1-a-0", old);
        let used = write("2-b-0", std::time::SystemTime::now());
        let part = write("3-c-0.1-0.part", old);
        assert_eq!(evict(dir.path(), CACHE_IDLE), 1);
        assert!(!idle.exists());
        assert!(used.exists());
        assert!(part.exists(), "temporary files are Cache::open's");
        assert_eq!(evict(&dir.path().join("gone"), CACHE_IDLE), 0);
    }
}
