//! Export and import of whole records ([`Store::export`](opensmev_store::Store::export),
//! [`Store::import`](opensmev_store::Store::import)): what `opensmev store copy` moves between
//! an embedded store and PostgreSQL, keeping every `seq`, state, time and journal event.

use opensmev_store::{
    AuditEntry, Blob, JournalEvent, MessageRecord, NewAuditEntry, Record, Section, StatusNotice,
    StoreError,
};
use opensmev_types::MessageId;
use rusqlite::{Connection, OptionalExtension, params};

use crate::codec::{
    Context, col, kind_text, mode_text, opt_time_text, parse_id, parse_mnemonic, parse_status,
    parse_time, time_text,
};
use crate::files;
use crate::ops::{self, By};

/// [`Store::export`](opensmev_store::Store::export). Attachment file paths are relative to the
/// store's directory (the caller resolves them).
pub(crate) fn export(
    conn: &Connection,
    section: Section,
    after: i64,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let what = format!("export {}", section.name());
    let mut out = Vec::new();
    match section {
        Section::Registry => {
            let versions: Vec<i64> = conn
                .prepare_cached(
                    "SELECT version FROM registry_versions WHERE version > ?1 ORDER BY version LIMIT ?2",
                )
                .and_then(|mut s| s.query_map(params![after, limit], |r| r.get(0))?.collect())
                .ctx(&what)?;
            for version in versions {
                let document = ops::registry_version(conn, version as u64)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("registry version {version} vanished"))
                })?;
                out.push(Record::Registry(document));
            }
        }
        Section::Messages => {
            let seqs: Vec<i64> = conn
                .prepare_cached("SELECT seq FROM messages WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .and_then(|mut s| s.query_map(params![after, limit], |r| r.get(0))?.collect())
                .ctx(&what)?;
            for seq in seqs {
                let stored = ops::load(conn, By::Seq(seq))?
                    .ok_or_else(|| StoreError::Corrupt(format!("message seq {seq} vanished")))?;
                let journal = ops::journal(conn, &stored.message.id)?;
                out.push(Record::Message(Box::new(MessageRecord { stored, journal })));
            }
        }
        Section::Notices => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, recipient, original_message_id, status, details, created_at
                     FROM status_notices WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .ctx(&what)?;
            let mut rows = stmt.query(params![after, limit]).ctx(&what)?;
            while let Some(row) = rows.next().ctx(&what)? {
                let seq: i64 = col(row, 0, &"status_notices")?;
                let at = format!("status_notices seq {seq}");
                out.push(Record::Notice(StatusNotice {
                    seq,
                    recipient: parse_mnemonic(&col::<String>(row, 1, &at)?, &at)?,
                    original_message_id: parse_id(&col::<String>(row, 2, &at)?, &at)?,
                    status: parse_status(&col::<String>(row, 3, &at)?, &at)?,
                    details: col(row, 4, &at)?,
                    created_at: parse_time(&col::<String>(row, 5, &at)?, &at)?,
                }));
            }
        }
        Section::Tokens => {
            out.extend(
                ops::tokens_in_order(conn, after, limit)?
                    .into_iter()
                    .map(Record::Token),
            );
        }
        Section::Accounts => {
            out.extend(
                ops::accounts_page(conn, after, limit)?
                    .into_iter()
                    .map(Record::Account),
            );
        }
        Section::Audit => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, at, actor, action, target, detail FROM audit
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .ctx(&what)?;
            let mut rows = stmt.query(params![after, limit]).ctx(&what)?;
            while let Some(row) = rows.next().ctx(&what)? {
                let seq: i64 = col(row, 0, &"audit")?;
                let at = format!("audit seq {seq}");
                out.push(Record::Audit(AuditEntry {
                    seq,
                    entry: NewAuditEntry {
                        at: parse_time(&col::<String>(row, 1, &at)?, &at)?,
                        actor: col(row, 2, &at)?,
                        action: col(row, 3, &at)?,
                        target: col(row, 4, &at)?,
                        detail: col(row, 5, &at)?,
                    },
                }));
            }
        }
    }
    Ok(out)
}

fn taken(conn: &Connection, sql: &str, key: &dyn rusqlite::ToSql) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row([key], |_| Ok(())).optional())
        .ctx("import: key check")?
        .is_some())
}

/// [`Store::import`](opensmev_store::Store::import): attachment files must already be in the
/// store's directory (copied by the caller).
pub(crate) fn import(conn: &Connection, records: &[Record]) -> Result<(), StoreError> {
    for record in records {
        match record {
            Record::Registry(document) => {
                let version = i64::try_from(document.version)
                    .map_err(|_| StoreError::Backend("registry version out of range".into()))?;
                if taken(
                    conn,
                    "SELECT 1 FROM registry_versions WHERE version = ?1",
                    &version,
                )? {
                    return Err(StoreError::Exists(format!("registry version {version}")));
                }
                let saved_at = time_text(document.saved_at)?;
                conn.prepare_cached(
                    "INSERT INTO registry_versions (version, text, saved_at) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![version, document.text, saved_at]))
                .ctx("import: registry")?;
            }
            Record::Message(record) => import_message(conn, record)?,
            Record::Notice(notice) => {
                if taken(
                    conn,
                    "SELECT 1 FROM status_notices WHERE seq = ?1",
                    &notice.seq,
                )? {
                    return Err(StoreError::Exists(format!("status notice {}", notice.seq)));
                }
                let created_at = time_text(notice.created_at)?;
                conn.prepare_cached(
                    "INSERT INTO status_notices (seq, recipient, original_message_id, status, details, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        notice.seq,
                        notice.recipient.as_str(),
                        notice.original_message_id.as_str(),
                        notice.status.code(),
                        notice.details,
                        created_at
                    ])
                })
                .ctx("import: notice")?;
            }
            Record::Token(token) => ops::insert_token(conn, token)?,
            Record::Account(account) => ops::insert_account(conn, account)?,
            Record::Audit(entry) => {
                if taken(conn, "SELECT 1 FROM audit WHERE seq = ?1", &entry.seq)? {
                    return Err(StoreError::Exists(format!("audit entry {}", entry.seq)));
                }
                let e = &entry.entry;
                let at = time_text(e.at)?;
                conn.prepare_cached(
                    "INSERT INTO audit (seq, at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        entry.seq,
                        at,
                        e.actor,
                        e.action,
                        e.target,
                        e.detail
                    ])
                })
                .ctx("import: audit")?;
            }
        }
    }
    Ok(())
}

fn import_message(conn: &Connection, record: &MessageRecord) -> Result<(), StoreError> {
    let stored = &record.stored;
    let m = &stored.message;
    if taken(conn, "SELECT 1 FROM messages WHERE seq = ?1", &stored.seq)?
        || taken(conn, "SELECT 1 FROM messages WHERE id = ?1", &m.id.as_str())?
    {
        return Err(StoreError::Exists(format!("message {}", m.id)));
    }
    let kind = kind_text(m.kind);
    let eol = opt_time_text(m.eol)?;
    let sent_at = time_text(m.sent_at)?;
    let lease_until = opt_time_text(stored.lease_until)?;
    let first_delivered_at = opt_time_text(stored.first_delivered_at)?;
    let (dead_at, dead_reason) = opensmev_store::dead_letter_mark(record).unzip();
    let dead_at = opt_time_text(dead_at)?;
    let acked_at = opt_time_text(stored.acked_at)?;
    conn.prepare_cached(
        "INSERT INTO messages (seq, id, kind, sender, recipient, type_ns, type_local, vs_id, version, priority,
             delivery_mode, test_message, node_id, target_node_id, eol, transaction_code,
             reference_message_id, original_message_id, reply_to, sent_at, status, client_id, share)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
    )
    .and_then(|mut s| {
        s.execute(params![
            stored.seq,
            m.id.as_str(),
            kind,
            m.sender.as_str(),
            m.recipient.as_str(),
            m.message_type.ns,
            m.message_type.local,
            m.vs_id,
            m.version.as_str(),
            m.priority.0,
            mode_text(m.delivery_mode),
            m.test_message,
            m.node_id,
            m.target_node_id,
            eol,
            m.transaction_code,
            m.reference_message_id.as_ref().map(MessageId::as_str),
            m.original_message_id.as_ref().map(MessageId::as_str),
            m.reply_to,
            sent_at,
            stored.status.code(),
            m.client_id,
            m.share,
        ])
    })
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Exists(format!("message {} (its client id)", m.id))
        }
        other => crate::codec::db_error(other, "import: message"),
    })?;
    conn.prepare_cached(
        "INSERT INTO message_bodies (message_seq, sender_data, sender_signature) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut s| s.execute(params![stored.seq, m.sender_data, m.sender_signature]))
    .ctx("import: body")?;
    for (ord, a) in m.attachments.iter().enumerate() {
        let (data, file, file_len): (&[u8], Option<&str>, Option<i64>) = match &a.data {
            Blob::Bytes(bytes) => (bytes, None, None),
            Blob::File { path, len } => (
                &[],
                Some(files::name_of(path)?),
                Some(i64::try_from(*len).map_err(|_| {
                    StoreError::Backend(format!("attachment {} is too large", a.content_id))
                })?),
            ),
        };
        conn.prepare_cached(
            "INSERT INTO attachments (message_seq, ord, content_id, mime_type, data, file, file_len)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                stored.seq,
                ord as i64,
                a.content_id,
                a.mime_type,
                data,
                file,
                file_len
            ])
        })
        .ctx("import: attachment")?;
    }
    conn.prepare_cached(
        "INSERT INTO deliveries (message_seq, recipient, kind, type_ns, type_local, priority, target_node_id, eol,
             state, lease_until, delivery_count, first_delivered_at, acked_at, accepted, push,
             dead_at, dead_reason, vtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )
    .and_then(|mut s| {
        s.execute(params![
            stored.seq,
            m.recipient.as_str(),
            kind,
            m.message_type.ns,
            m.message_type.local,
            m.priority.0,
            m.target_node_id,
            eol,
            stored.state.code(),
            lease_until,
            stored.delivery_count,
            first_delivered_at,
            acked_at,
            stored.accepted,
            m.delivery_mode == opensmev_types::DeliveryMode::Push,
            dead_at,
            dead_reason,
            // No sender's tag is copied: 0 keeps a copied queue ahead of what comes after, in
            // arrival order.
            0_i64,
        ])
    })
    .ctx("import: delivery")?;
    if matches!(
        stored.state,
        opensmev_store::DeliveryState::Queued | opensmev_store::DeliveryState::Leased
    ) {
        ops::add_pending(conn, m.recipient.as_str(), kind, &m.message_type, 1)?;
    }
    for event in &record.journal {
        insert_event(conn, stored.seq, event)?;
    }
    Ok(())
}

fn insert_event(conn: &Connection, seq: i64, event: &JournalEvent) -> Result<(), StoreError> {
    let at = time_text(event.at)?;
    conn.prepare_cached(
        "INSERT INTO journal (message_seq, at, kind, detail, node, actor, attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            at,
            event.kind.code(),
            event.detail,
            event.node,
            event.actor,
            event.attempt
        ])
    })
    .ctx("import: journal")?;
    Ok(())
}
