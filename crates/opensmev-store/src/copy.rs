//! Copying a whole store into another (`opensmev store copy`), and the fingerprint that proves
//! the copy: per section, the number of records and a SHA-256 over their canonical form.
//!
//! Works on any two [`Store`]s through [`Store::export`] and [`Store::import`]; the target must
//! be empty. The canonical form of a record is its `Debug` text after two normalisations, so
//! that both backends of one build agree on equal data: times in UTC, cut to whole microseconds
//! (PostgreSQL's precision; the embedded store keeps nanoseconds), and every attachment's bytes
//! replaced by their SHA-256 (one store keeps a file, the other chunks in the database).

use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::{Blob, Record, Section, Store, StoreError};

/// How many records one export/import step moves (messages carry their bodies and inline
/// attachments, so a step is bounded in memory by this many messages).
pub const BATCH: usize = 100;

/// The fingerprint of one section (and of the journal, which travels with the messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionPrint {
    /// The section's name ([`Section::name`], or `journal`: every message's journal events).
    pub name: &'static str,
    /// How many records it holds.
    pub count: u64,
    /// SHA-256 over the records' canonical forms, in export order (hex).
    pub digest: String,
}

/// What [`copy`] did: the fingerprints of the source and the target, section by section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The source's fingerprint.
    pub from: Vec<SectionPrint>,
    /// The target's fingerprint after the copy.
    pub to: Vec<SectionPrint>,
}

impl CopyReport {
    /// Whether every section has the same count and digest on both sides.
    pub fn matches(&self) -> bool {
        self.from == self.to
    }
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target holds records already.
    #[error("the target store is not empty (it has {0})")]
    TargetNotEmpty(&'static str),
    /// A store failed.
    #[error("{side}: {source}")]
    Store {
        /// `source` or `target`.
        side: &'static str,
        /// The failure.
        #[source]
        source: StoreError,
    },
}

fn on(side: &'static str) -> impl Fn(StoreError) -> CopyError {
    move |source| CopyError::Store { side, source }
}

/// The position after `batch` (of `section`, read from `after`) for the next [`Store::export`] call.
pub(crate) fn next_after(section: Section, after: i64, batch: &[Record]) -> i64 {
    match (section, batch.last()) {
        (Section::Tokens | Section::Accounts, _) => after + batch.len() as i64,
        (_, Some(Record::Registry(d))) => i64::try_from(d.version).unwrap_or(i64::MAX),
        (_, Some(Record::Message(m))) => m.stored.seq,
        (_, Some(Record::Notice(n))) => n.seq,
        (_, Some(Record::Audit(a))) => a.seq,
        _ => after,
    }
}

/// Copies every record of `from` into the empty store `to`, section by section, then
/// fingerprints both. `progress` hears each section's name and running count.
pub async fn copy(
    from: &dyn Store,
    to: &dyn Store,
    mut progress: impl FnMut(Section, u64),
) -> Result<CopyReport, CopyError> {
    for section in Section::ALL {
        if !to
            .export(section, 0, 1)
            .await
            .map_err(on("target"))?
            .is_empty()
        {
            return Err(CopyError::TargetNotEmpty(section.name()));
        }
    }
    for section in Section::ALL {
        let mut after = 0;
        let mut count = 0;
        loop {
            let batch = from
                .export(section, after, BATCH)
                .await
                .map_err(on("source"))?;
            if batch.is_empty() {
                break;
            }
            after = next_after(section, after, &batch);
            count += batch.len() as u64;
            to.import(batch).await.map_err(on("target"))?;
            progress(section, count);
        }
    }
    Ok(CopyReport {
        from: fingerprint(from).await.map_err(on("source"))?,
        to: fingerprint(to).await.map_err(on("target"))?,
    })
}

/// Counts and digests every section of `store`, and the journal (after the messages).
pub async fn fingerprint(store: &dyn Store) -> Result<Vec<SectionPrint>, StoreError> {
    let mut prints = Vec::with_capacity(Section::ALL.len() + 1);
    for section in Section::ALL {
        let mut hash = Sha256::new();
        let mut count = 0u64;
        let mut journal = (Sha256::new(), 0u64);
        let mut after = 0;
        loop {
            let batch = store.export(section, after, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            after = next_after(section, after, &batch);
            for record in batch {
                let canonical = canonical(record).map_err(|e| {
                    StoreError::Unavailable(format!("reading an attachment to fingerprint: {e}"))
                })?;
                if let Record::Message(m) = &canonical {
                    for event in &m.journal {
                        let text = format!("{}|{event:?}", m.stored.message.id);
                        journal.0.update((text.len() as u64).to_be_bytes());
                        journal.0.update(text.as_bytes());
                        journal.1 += 1;
                    }
                }
                let text = format!("{canonical:?}");
                hash.update((text.len() as u64).to_be_bytes());
                hash.update(text.as_bytes());
                count += 1;
            }
        }
        prints.push(SectionPrint {
            name: section.name(),
            count,
            digest: hex(&hash.finalize()),
        });
        if section == Section::Messages {
            prints.push(SectionPrint {
                name: "journal",
                count: journal.1,
                digest: hex(&journal.0.finalize()),
            });
        }
    }
    Ok(prints)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

fn opt_micros(t: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    t.map(micros)
}

/// The record as fingerprinted: times in UTC to the microsecond, attachment bytes as digests.
fn canonical(record: Record) -> std::io::Result<Record> {
    Ok(match record {
        Record::Registry(mut d) => {
            d.saved_at = micros(d.saved_at);
            Record::Registry(d)
        }
        Record::Message(mut m) => {
            let s = &mut m.stored;
            s.lease_until = opt_micros(s.lease_until);
            s.first_delivered_at = opt_micros(s.first_delivered_at);
            s.acked_at = opt_micros(s.acked_at);
            s.message.sent_at = micros(s.message.sent_at);
            s.message.eol = opt_micros(s.message.eol);
            for attachment in &mut s.message.attachments {
                let mut hash = Sha256::new();
                std::io::copy(&mut attachment.data.open()?, &mut HashWriter(&mut hash))?;
                let len = attachment.data.len();
                let mut digest = hash.finalize().to_vec();
                digest.extend_from_slice(&len.to_be_bytes());
                attachment.data = Blob::Bytes(digest);
            }
            for event in &mut m.journal {
                event.at = micros(event.at);
            }
            Record::Message(m)
        }
        Record::Notice(mut n) => {
            n.created_at = micros(n.created_at);
            Record::Notice(n)
        }
        Record::Token(mut t) => {
            t.created_at = micros(t.created_at);
            t.expires_at = opt_micros(t.expires_at);
            t.revoked_at = opt_micros(t.revoked_at);
            Record::Token(t)
        }
        Record::Account(mut a) => {
            a.created_at = micros(a.created_at);
            Record::Account(a)
        }
        Record::Audit(mut a) => {
            a.entry.at = micros(a.entry.at);
            Record::Audit(a)
        }
    })
}

struct HashWriter<'h>(&'h mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
