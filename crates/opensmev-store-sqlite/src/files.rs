//! Attachment files: attachments given as [`Blob::File`] are kept as files in
//! `<store dir>/attachments/`, not in the database, so a 1 GiB attachment never passes through
//! SQLite (the WAL and a checkpoint would each copy it) nor through memory.
//!
//! Order of durability: the file is moved into the directory (a rename; a copy if the source is
//! on another file system), synced, and the directory synced — all before the transaction that
//! refers to the file is committed. A crash in between leaves a file no row refers to, and
//! [`Files::open`] removes such files before the store serves anything. Attachments of one message
//! given as the same file share one stored file (rows may name a file more than once). When the enqueue stores
//! nothing (a duplicate, a full queue, an error), the adopted files are removed at once.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use opensmev_store::{Blob, NewMessage, StoreError, StoredMessage};
use rusqlite::{Connection, OptionalExtension};

use crate::codec::Context;

/// The directory inside the store directory.
pub const FILES_DIR: &str = "attachments";

/// The store's attachment directory.
#[derive(Debug)]
pub(crate) struct Files {
    dir: PathBuf,
    counter: AtomicU64,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

/// The file name a row keeps for a stored file's path.
pub(crate) fn name_of(path: &Path) -> Result<&str, StoreError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| StoreError::Backend(format!("unusable attachment path {}", path.display())))
}

impl Files {
    /// Creates the directory if needed and removes the files no attachment row refers to (left
    /// by a crash between adopting a file and committing its message). `conn` is the writer's
    /// connection, before any other work.
    pub(crate) fn open(store_dir: &Path, conn: &Connection) -> Result<Files, StoreError> {
        let dir = store_dir.join(FILES_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| io_error("creating", &dir, e))?;
        let entries = std::fs::read_dir(&dir).map_err(|e| io_error("listing", &dir, e))?;
        let mut referenced = conn
            .prepare("SELECT 1 FROM attachments WHERE file = ?1 LIMIT 1")
            .ctx("checking attachment files")?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
            let path = entry.path();
            let keep = match path.file_name().and_then(|n| n.to_str()) {
                Some(name) => referenced
                    .query_row([name], |_| Ok(()))
                    .optional()
                    .ctx("checking attachment files")?
                    .is_some(),
                None => false,
            };
            if !keep {
                tracing::warn!(
                    path = %path.display(),
                    "removing an attachment file no message refers to (left by an interrupted enqueue)"
                );
                std::fs::remove_file(&path).map_err(|e| io_error("removing", &path, e))?;
            }
        }
        Ok(Files {
            dir,
            counter: AtomicU64::new(0),
        })
    }

    /// Moves every [`Blob::File`] of `message` into the directory, durably, and points the
    /// message at the moved files. Returns the paths taken (for [`Files::discard`]). Blocking:
    /// call it off the async executor.
    pub(crate) fn adopt(&self, message: &mut NewMessage) -> Result<Vec<PathBuf>, StoreError> {
        self.take(message, false)
    }

    /// [`Files::adopt`], copying the files instead of moving them (an import from another
    /// store, whose files stay where they are).
    pub(crate) fn adopt_copies(
        &self,
        message: &mut NewMessage,
    ) -> Result<Vec<PathBuf>, StoreError> {
        self.take(message, true)
    }

    fn take(&self, message: &mut NewMessage, copy: bool) -> Result<Vec<PathBuf>, StoreError> {
        let mut taken = Vec::new();
        let result = self.adopt_into(message, &mut taken, copy);
        if result.is_err() {
            Files::discard(&taken);
        }
        result.map(|()| taken)
    }

    fn adopt_into(
        &self,
        message: &mut NewMessage,
        taken: &mut Vec<PathBuf>,
        copy: bool,
    ) -> Result<(), StoreError> {
        // (source, stored file): two attachments may name one file (two `xop:Include`s of one
        // MIME part); they then share the stored file.
        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
        for (ord, attachment) in message.attachments.iter_mut().enumerate() {
            let Blob::File { path, len } = &mut attachment.data else {
                continue;
            };
            if let Some((_, target)) = moved.iter().find(|(source, _)| source == path) {
                *path = target.clone();
                continue;
            }
            let source = path.clone();
            let unique = self.counter.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let target = self
                .dir
                .join(format!("{}.{ord}.{nanos:x}-{unique:x}", message.id));
            let placed = if copy {
                Err(std::io::Error::from(ErrorKind::CrossesDevices))
            } else {
                std::fs::rename(&*path, &target)
            };
            match placed {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::CrossesDevices => {
                    // Another file system (or a copy was asked for): copy under a temporary
                    // name, then rename.
                    let part = target.with_extension("part");
                    std::fs::copy(&*path, &part).map_err(|e| io_error("copying", path, e))?;
                    std::fs::rename(&part, &target).map_err(|e| io_error("renaming", &part, e))?;
                }
                Err(e) => return Err(io_error("moving", path, e)),
            }
            taken.push(target.clone());
            let file = std::fs::File::open(&target).map_err(|e| io_error("opening", &target, e))?;
            let actual = file
                .metadata()
                .map_err(|e| io_error("reading", &target, e))?
                .len();
            if actual != *len {
                return Err(StoreError::Backend(format!(
                    "attachment {}: the file has {actual} bytes, {len} were announced",
                    attachment.content_id
                )));
            }
            file.sync_all()
                .map_err(|e| io_error("syncing", &target, e))?;
            *path = target.clone();
            moved.push((source, target));
        }
        if !taken.is_empty() {
            std::fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error("syncing", &self.dir, e))?;
        }
        Ok(())
    }

    /// Removes adopted files that no committed message refers to.
    pub(crate) fn discard(taken: &[PathBuf]) {
        for path in taken {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Makes the file paths of a message read from the database absolute.
    pub(crate) fn resolve(&self, stored: &mut StoredMessage) {
        for attachment in &mut stored.message.attachments {
            if let Blob::File { path, .. } = &mut attachment.data {
                *path = self.dir.join(&*path);
            }
        }
    }
}
