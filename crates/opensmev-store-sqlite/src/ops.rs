//! The operations of [`opensmev_store::Store`] as SQL on one connection.
//!
//! Write operations run on the writer thread inside the batch transaction, each in its own
//! savepoint (see `worker`): they may assume nothing else writes between their statements, so a
//! read-then-write (the duplicate check, the quota check, picking the message to lease) needs no
//! locking. Read operations run on a reader connection inside one read transaction, so their
//! several statements see one snapshot.

use std::path::PathBuf;

use opensmev_store::{
    AckOutcome, AckRule, Attachment, Blob, Enqueued, JournalEvent, JournalKind, LeaseOutcome,
    LeaseRequest, NewMessage, QueueDepth, RegistryDocument, StatusNotice, StoreError,
    StoredMessage,
};
use opensmev_types::{InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::codec::{
    Context, col, kind_text, mode_text, opt_time_text, parse_bool, parse_id, parse_journal_kind,
    parse_kind, parse_mnemonic, parse_mode, parse_opt_id, parse_opt_time, parse_state,
    parse_status, parse_time, parse_u8, parse_u32, parse_u64, parse_version, time_text,
};
use crate::files;

/// The detail of the notice sent when a message's EOL passes undelivered.
const EXPIRED_DETAILS: &str = "Срок доставки сообщения (EOL) истёк";

// ------------------------------------------------------------------------------------------------
// Writes

pub(crate) fn enqueue(
    conn: &Connection,
    m: &NewMessage,
    status: InteractionStatus,
    quota: u64,
) -> Result<Enqueued, StoreError> {
    let existing = conn
        .prepare_cached("SELECT seq, sender, sent_at FROM messages WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([m.id.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .optional()
        })
        .ctx("enqueue: duplicate check")?;
    if let Some((seq, sender, sent_at)) = existing {
        let at = format!("messages seq {seq}");
        return Ok(Enqueued::Duplicate {
            sender: parse_mnemonic(&sender, &at)?,
            sent_at: parse_time(&sent_at, &at)?,
        });
    }

    let kind = kind_text(m.kind);
    let depth: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(count), 0) FROM pending WHERE recipient = ?1 AND kind = ?2",
        )
        .and_then(|mut s| s.query_row(params![m.recipient.as_str(), kind], |r| r.get(0)))
        .ctx("enqueue: quota check")?;
    let depth = parse_u64(depth, &"pending")?;
    if depth >= quota {
        return Ok(Enqueued::QueueFull { depth });
    }

    let sent_at = time_text(m.sent_at)?;
    let eol = opt_time_text(m.eol)?;
    conn.prepare_cached(
        "INSERT INTO messages (id, kind, sender, recipient, type_ns, type_local, vs_id, version, priority,
             delivery_mode, test_message, node_id, target_node_id, eol, transaction_code,
             reference_message_id, original_message_id, reply_to, sent_at, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )
    .and_then(|mut s| {
        s.execute(params![
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
            status.code(),
        ])
    })
    .ctx("enqueue: insert message")?;
    let seq = conn.last_insert_rowid();

    conn.prepare_cached("INSERT INTO message_bodies (message_seq, sender_data, sender_signature) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![seq, m.sender_data, m.sender_signature]))
        .ctx("enqueue: insert body")?;
    if !m.attachments.is_empty() {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO attachments (message_seq, ord, content_id, mime_type, data, file, file_len)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx("enqueue: insert attachment")?;
        for (ord, a) in m.attachments.iter().enumerate() {
            // A file was moved into the store's directory by the caller (`files::adopt`): the
            // row keeps its name there.
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
            insert
                .execute(params![
                    seq,
                    ord as i64,
                    a.content_id,
                    a.mime_type,
                    data,
                    file,
                    file_len
                ])
                .ctx("enqueue: insert attachment")?;
        }
    }
    conn.prepare_cached(
        "INSERT INTO deliveries (message_seq, recipient, kind, type_ns, type_local, priority, target_node_id, eol,
             state, delivery_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', 0)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            m.recipient.as_str(),
            kind,
            m.message_type.ns,
            m.message_type.local,
            m.priority.0,
            m.target_node_id,
            eol,
        ])
    })
    .ctx("enqueue: insert delivery")?;
    add_pending(conn, m.recipient.as_str(), kind, &m.message_type, 1)?;
    journal_add(
        conn,
        seq,
        &sent_at,
        JournalKind::Accepted,
        Some(&format!("from {}", m.sender)),
    )?;

    if m.kind == MessageKind::Response
        && let Some(original) = &m.original_message_id
    {
        let request: Option<i64> = conn
            .prepare_cached("SELECT seq FROM messages WHERE id = ?1")
            .and_then(|mut s| s.query_row([original.as_str()], |r| r.get(0)).optional())
            .ctx("enqueue: find the request")?;
        if let Some(request) = request {
            journal_add(
                conn,
                request,
                &sent_at,
                JournalKind::Answered,
                Some(&format!("response {}", m.id)),
            )?;
        }
    }
    Ok(Enqueued::Accepted { seq })
}

/// A candidate delivery: (message seq, priority).
type Candidate = (i64, i64);

pub(crate) fn lease_next(
    conn: &Connection,
    request: &LeaseRequest,
) -> Result<Option<StoredMessage>, StoreError> {
    let now = time_text(request.now)?;
    let until = request.now.checked_add(request.lease).ok_or_else(|| {
        StoreError::Backend(format!(
            "lease_next: {} + {} is out of range",
            request.now, request.lease
        ))
    })?;
    let until = time_text(until)?;
    let recipient = request.recipient.as_str();
    let kind = kind_text(request.kind);

    expire(conn, recipient, kind, &now)?;

    // The best queued delivery and the best one whose lease ran out; the better of the two wins.
    let queued = candidate(conn, request, false, None)?;
    let lapsed = candidate(conn, request, true, Some(&now))?;
    let best = match (queued, lapsed) {
        (Some(q), Some(l)) => Some(if (l.1, -l.0) > (q.1, -q.0) { l } else { q }),
        (q, l) => q.or(l),
    };
    let Some((seq, _)) = best else {
        return Ok(None);
    };

    let count: i64 = conn
        .prepare_cached(
            "UPDATE deliveries SET state = 'leased', lease_until = ?3, delivery_count = delivery_count + 1,
                 first_delivered_at = coalesce(first_delivered_at, ?4)
             WHERE message_seq = ?1 AND recipient = ?2
             RETURNING delivery_count",
        )
        .and_then(|mut s| s.query_row(params![seq, recipient, until, now], |r| r.get(0)))
        .ctx("lease_next: lease")?;
    let event = if count <= 1 {
        JournalKind::Delivered
    } else {
        JournalKind::Redelivered
    };
    let detail = match &request.node_id {
        Some(node) => format!("to {recipient} (node {node})"),
        None => format!("to {recipient}"),
    };
    journal_add(conn, seq, &now, event, Some(&detail))?;
    load(conn, By::Seq(seq))?
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt(format!("lease_next: message seq {seq} vanished")))
}

/// Whether [`lease_next`] could find anything in the queue now: a queued delivery, a run-out
/// lease, or one to expire (each with the poll's filters; read-only).
pub(crate) fn anything_to_lease(
    conn: &Connection,
    request: &LeaseRequest,
) -> Result<bool, StoreError> {
    let now = time_text(request.now)?;
    if candidate(conn, request, false, None)?.is_some()
        || candidate(conn, request, true, Some(&now))?.is_some()
    {
        return Ok(true);
    }
    conn.prepare_cached(&format!("{EXPIRE_SQL} LIMIT 1"))
        .and_then(|mut s| {
            s.exists(params![
                request.recipient.as_str(),
                kind_text(request.kind),
                now
            ])
        })
        .ctx("lease_next: probe expired")
}

/// The query for the best delivery of a queue (`?1` recipient, `?2` kind, `?3`/`?4` type, `?5`
/// now, `?6` node): queued ones, read in priority order from `deliveries_queue` or
/// `deliveries_typed`; or (`lapsed`) leased ones whose lease ran out, found by lease end in
/// `deliveries_leases` (normally none or few, so sorting them is cheap; walking all leased rows
/// in priority order instead would cost a row lookup per message in flight).
fn candidate_sql(typed: bool, lapsed: bool) -> String {
    let (index, state) = if lapsed {
        (
            "INDEXED BY deliveries_leases",
            "state = 'leased' AND lease_until < ?5",
        )
    } else {
        ("", "state = 'queued'")
    };
    let typed = if typed {
        "AND type_ns = ?3 AND type_local = ?4"
    } else {
        ""
    };
    format!(
        "SELECT message_seq, priority FROM deliveries {index}
         WHERE recipient = ?1 AND kind = ?2 AND {state} {typed}
           AND (target_node_id IS NULL OR target_node_id = ?6)
         ORDER BY priority DESC, message_seq LIMIT 1"
    )
}

/// Finds the best delivery of the polled queue ([`candidate_sql`]), honouring the type and node
/// filters.
fn candidate(
    conn: &Connection,
    request: &LeaseRequest,
    lapsed: bool,
    now: Option<&str>,
) -> Result<Option<Candidate>, StoreError> {
    let sql = candidate_sql(request.message_type.is_some(), lapsed);
    let (ns, local) = match &request.message_type {
        Some(QName { ns, local }) => (Some(ns.as_str()), Some(local.as_str())),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(&sql).ctx("lease_next: find")?;
    // `?6` is always in the text, so all six numbered parameters exist; unused ones are NULL.
    let mut rows = stmt
        .query(params![
            request.recipient.as_str(),
            kind_text(request.kind),
            ns,
            local,
            now,
            request.node_id
        ])
        .ctx("lease_next: find")?;
    match rows.next().ctx("lease_next: find")? {
        Some(row) => Ok(Some((
            col(row, 0, &"deliveries")?,
            col(row, 1, &"deliveries")?,
        ))),
        None => Ok(None),
    }
}

/// The polled queue's available deliveries whose EOL passed (`?1` recipient, `?2` kind, `?3`
/// now). The `eol IS NOT NULL AND state IN (…)` terms repeat the partial index's condition so that
/// SQLite can use `deliveries_eol`.
const EXPIRE_SQL: &str = "SELECT d.message_seq, m.id, m.sender, d.type_ns, d.type_local
             FROM deliveries d JOIN messages m ON m.seq = d.message_seq
             WHERE d.recipient = ?1 AND d.kind = ?2 AND d.eol IS NOT NULL AND d.state IN ('queued', 'leased')
               AND d.eol < ?3 AND (d.state = 'queued' OR d.lease_until < ?3)";

/// Marks the polled queue's available deliveries whose EOL passed as expired (journal, status
/// `cancelled`, a notice for the sender).
fn expire(conn: &Connection, recipient: &str, kind: &str, now: &str) -> Result<(), StoreError> {
    let expired: Vec<(i64, String, String, String, String)> = conn
        .prepare_cached(EXPIRE_SQL)
        .and_then(|mut s| {
            s.query_map(params![recipient, kind, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .ctx("lease_next: find expired")?;
    for (seq, id, sender, ns, local) in expired {
        conn.prepare_cached(
            "UPDATE deliveries SET state = 'expired', lease_until = NULL WHERE message_seq = ?1 AND recipient = ?2",
        )
        .and_then(|mut s| s.execute(params![seq, recipient]))
        .ctx("lease_next: expire")?;
        conn.prepare_cached("UPDATE messages SET status = ?2 WHERE seq = ?1")
            .and_then(|mut s| s.execute(params![seq, InteractionStatus::Cancelled.code()]))
            .ctx("lease_next: expire")?;
        add_pending(conn, recipient, kind, &QName { ns, local }, -1)?;
        journal_add(conn, seq, now, JournalKind::Expired, Some("EOL passed"))?;
        notice_add(
            conn,
            &sender,
            &id,
            InteractionStatus::Cancelled,
            Some(EXPIRED_DETAILS),
            now,
        )?;
    }
    Ok(())
}

pub(crate) fn ack(
    conn: &Connection,
    recipient: &Mnemonic,
    id: &MessageId,
    accepted: bool,
    rule: AckRule,
    now: OffsetDateTime,
) -> Result<AckOutcome, StoreError> {
    let found: Option<(i64, String, String, String, String)> = conn
        .prepare_cached(
            "SELECT m.seq, m.sender, d.kind, d.type_ns, d.type_local
             FROM messages m JOIN deliveries d ON d.message_seq = m.seq
             WHERE m.id = ?1 AND d.recipient = ?2 AND d.state = 'leased'",
        )
        .and_then(|mut s| {
            s.query_row(params![id.as_str(), recipient.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })
        .ctx("ack: find")?;
    let Some((seq, sender, kind, ns, local)) = found else {
        return Ok(AckOutcome::NotFound);
    };
    let (status, notice) = rule(
        parse_kind(&kind, &format!("deliveries seq {seq}"))?,
        accepted,
    );
    let now = time_text(now)?;
    conn.prepare_cached(
        "UPDATE deliveries SET state = 'acked', acked_at = ?3, accepted = ?4, lease_until = NULL
         WHERE message_seq = ?1 AND recipient = ?2",
    )
    .and_then(|mut s| s.execute(params![seq, recipient.as_str(), now, accepted]))
    .ctx("ack: update delivery")?;
    conn.prepare_cached("UPDATE messages SET status = ?2 WHERE seq = ?1")
        .and_then(|mut s| s.execute(params![seq, status.code()]))
        .ctx("ack: update status")?;
    add_pending(conn, recipient.as_str(), &kind, &QName { ns, local }, -1)?;
    let event = if accepted {
        JournalKind::Acked
    } else {
        JournalKind::Refused
    };
    journal_add(
        conn,
        seq,
        &now,
        event,
        Some(&format!("by {recipient}, status {}", status.code())),
    )?;
    if let Some(details) = notice {
        notice_add(conn, &sender, id.as_str(), status, Some(details), &now)?;
    }
    Ok(AckOutcome::Acked)
}

/// A settled lease's queue: (kind, the node the message is bound to).
pub(crate) type SettledQueue = (MessageKind, Option<String>);

/// [`Store::settle_lease`](opensmev_store::Store::settle_lease): the queue of the settled
/// delivery, or `None` when there was no such leased delivery.
pub(crate) fn settle_lease(
    conn: &Connection,
    recipient: &Mnemonic,
    id: &MessageId,
    delivery_count: u32,
    outcome: &LeaseOutcome,
    now: OffsetDateTime,
) -> Result<Option<SettledQueue>, StoreError> {
    type Found = (i64, String, String, String, String, Option<String>);
    let found: Option<Found> = conn
        .prepare_cached(
            "SELECT m.seq, m.sender, d.kind, d.type_ns, d.type_local, d.target_node_id
             FROM messages m JOIN deliveries d ON d.message_seq = m.seq
             WHERE m.id = ?1 AND d.recipient = ?2 AND d.state = 'leased' AND d.delivery_count = ?3",
        )
        .and_then(|mut s| {
            s.query_row(
                params![id.as_str(), recipient.as_str(), delivery_count],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()
        })
        .ctx("settle_lease: find")?;
    let Some((seq, sender, kind, ns, local, node)) = found else {
        return Ok(None);
    };
    let now = time_text(now)?;
    match outcome {
        LeaseOutcome::Release => {
            conn.prepare_cached(
                "UPDATE deliveries SET state = 'queued', lease_until = NULL
                 WHERE message_seq = ?1 AND recipient = ?2",
            )
            .and_then(|mut s| s.execute(params![seq, recipient.as_str()]))
            .ctx("settle_lease: release")?;
            journal_add(conn, seq, &now, JournalKind::Released, None)?;
        }
        LeaseOutcome::Undeliverable { reason, notice } => {
            conn.prepare_cached(
                "UPDATE deliveries SET state = 'undeliverable', lease_until = NULL
                 WHERE message_seq = ?1 AND recipient = ?2",
            )
            .and_then(|mut s| s.execute(params![seq, recipient.as_str()]))
            .ctx("settle_lease: undeliverable")?;
            conn.prepare_cached("UPDATE messages SET status = ?2 WHERE seq = ?1")
                .and_then(|mut s| s.execute(params![seq, InteractionStatus::Cancelled.code()]))
                .ctx("settle_lease: status")?;
            add_pending(conn, recipient.as_str(), &kind, &QName { ns, local }, -1)?;
            journal_add(conn, seq, &now, JournalKind::Undeliverable, Some(reason))?;
            notice_add(
                conn,
                &sender,
                id.as_str(),
                InteractionStatus::Cancelled,
                Some(notice),
                &now,
            )?;
        }
    }
    Ok(Some((
        parse_kind(&kind, &format!("deliveries seq {seq}"))?,
        node,
    )))
}

pub(crate) fn set_status(
    conn: &Connection,
    id: &MessageId,
    status: InteractionStatus,
    notice: Option<&str>,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = time_text(now)?;
    let found: Option<(i64, String)> = conn
        .prepare_cached("UPDATE messages SET status = ?2 WHERE id = ?1 RETURNING seq, sender")
        .and_then(|mut s| {
            s.query_row(params![id.as_str(), status.code()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .ctx("set_status")?;
    let Some((seq, sender)) = found else {
        return Ok(false);
    };
    journal_add(
        conn,
        seq,
        &now,
        JournalKind::StatusChanged,
        Some(status.code()),
    )?;
    if let Some(details) = notice {
        notice_add(conn, &sender, id.as_str(), status, Some(details), &now)?;
    }
    Ok(true)
}

pub(crate) fn take_status_notice(
    conn: &Connection,
    recipient: &Mnemonic,
) -> Result<Option<StatusNotice>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "DELETE FROM status_notices
             WHERE seq = (SELECT seq FROM status_notices WHERE recipient = ?1 ORDER BY seq LIMIT 1)
             RETURNING seq, recipient, original_message_id, status, details, created_at",
        )
        .ctx("take_status_notice")?;
    let mut rows = stmt.query([recipient.as_str()]).ctx("take_status_notice")?;
    let Some(row) = rows.next().ctx("take_status_notice")? else {
        return Ok(None);
    };
    let seq: i64 = col(row, 0, &"status_notices")?;
    let at = format!("status_notices seq {seq}");
    let notice = StatusNotice {
        seq,
        recipient: parse_mnemonic(&col::<String>(row, 1, &at)?, &at)?,
        original_message_id: parse_id(&col::<String>(row, 2, &at)?, &at)?,
        status: parse_status(&col::<String>(row, 3, &at)?, &at)?,
        details: col(row, 4, &at)?,
        created_at: parse_time(&col::<String>(row, 5, &at)?, &at)?,
    };
    Ok(Some(notice))
}

pub(crate) fn save_registry(
    conn: &Connection,
    text: &str,
    expected: Option<u64>,
    force: bool,
    now: OffsetDateTime,
) -> Result<RegistryDocument, StoreError> {
    let current: Option<i64> = conn
        .prepare_cached("SELECT max(version) FROM registry_versions")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("save_registry: current version")?;
    let current = current
        .map(|v| parse_u64(v, &"registry_versions"))
        .transpose()?;
    if !force && expected != current {
        return Err(StoreError::RegistryConflict {
            current: current.unwrap_or(0),
        });
    }
    let version = current.unwrap_or(0) + 1;
    let saved_at = time_text(now)?;
    let stored_version = i64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("registry version {version} overflows")))?;
    conn.prepare_cached(
        "INSERT INTO registry_versions (version, text, saved_at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut s| s.execute(params![stored_version, text, saved_at]))
    .ctx("save_registry: insert")?;
    Ok(RegistryDocument {
        version,
        text: text.to_owned(),
        saved_at: now,
    })
}

fn add_pending(
    conn: &Connection,
    recipient: &str,
    kind: &str,
    t: &QName,
    delta: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO pending (recipient, kind, type_ns, type_local, count) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (recipient, kind, type_ns, type_local) DO UPDATE SET count = count + excluded.count",
    )
    .and_then(|mut s| s.execute(params![recipient, kind, t.ns, t.local, delta]))
    .ctx("updating pending counts")?;
    Ok(())
}

fn journal_add(
    conn: &Connection,
    seq: i64,
    at: &str,
    kind: JournalKind,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO journal (message_seq, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![seq, at, kind.code(), detail]))
    .ctx("journal")?;
    Ok(())
}

fn notice_add(
    conn: &Connection,
    recipient: &str,
    original: &str,
    status: InteractionStatus,
    details: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO status_notices (recipient, original_message_id, status, details, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![recipient, original, status.code(), details, now]))
    .ctx("status notice")?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Reads

/// How [`load`] finds a message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum By<'a> {
    Id(&'a MessageId),
    Seq(i64),
}

const LOAD_COLUMNS: &str = "SELECT m.seq, m.id, m.kind, m.sender, m.recipient, m.type_ns, m.type_local, m.vs_id,
        m.version, m.priority, m.delivery_mode, m.test_message, m.node_id, m.target_node_id, m.eol,
        m.transaction_code, m.reference_message_id, m.original_message_id, m.reply_to, m.sent_at, m.status,
        b.sender_data, b.sender_signature,
        d.state, d.delivery_count, d.lease_until, d.first_delivered_at, d.acked_at, d.accepted
    FROM messages m
    LEFT JOIN message_bodies b ON b.message_seq = m.seq
    LEFT JOIN deliveries d ON d.message_seq = m.seq AND d.recipient = m.recipient";

/// A message with its body, attachments and delivery (to its recipient).
pub(crate) fn load(conn: &Connection, by: By<'_>) -> Result<Option<StoredMessage>, StoreError> {
    let mut stmt = match by {
        By::Id(_) => conn.prepare_cached(&format!("{LOAD_COLUMNS} WHERE m.id = ?1")),
        By::Seq(_) => conn.prepare_cached(&format!("{LOAD_COLUMNS} WHERE m.seq = ?1")),
    }
    .ctx("loading a message")?;
    let mut rows = match by {
        By::Id(id) => stmt.query([id.as_str()]),
        By::Seq(seq) => stmt.query([seq]),
    }
    .ctx("loading a message")?;
    let Some(row) = rows.next().ctx("loading a message")? else {
        return Ok(None);
    };
    let mut stored = decode(row)?;
    drop(rows);
    stored.message.attachments = attachments(conn, stored.seq)?;
    Ok(Some(stored))
}

fn decode(row: &Row<'_>) -> Result<StoredMessage, StoreError> {
    let seq: i64 = col(row, 0, &"messages")?;
    let at = format!("messages seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    let text = |i| col::<String>(row, i, at);
    let opt_text = |i| col::<Option<String>>(row, i, at);
    let message = NewMessage {
        id: parse_id(&text(1)?, at)?,
        kind: parse_kind(&text(2)?, at)?,
        sender: parse_mnemonic(&text(3)?, at)?,
        recipient: parse_mnemonic(&text(4)?, at)?,
        message_type: QName {
            ns: text(5)?,
            local: text(6)?,
        },
        vs_id: text(7)?,
        version: parse_version(&text(8)?, at)?,
        priority: Priority(parse_u8(col(row, 9, at)?, at)?),
        delivery_mode: parse_mode(&text(10)?, at)?,
        test_message: parse_bool(col(row, 11, at)?, at)?,
        node_id: opt_text(12)?,
        target_node_id: opt_text(13)?,
        eol: parse_opt_time(opt_text(14)?, at)?,
        transaction_code: opt_text(15)?,
        reference_message_id: parse_opt_id(opt_text(16)?, at)?,
        original_message_id: parse_opt_id(opt_text(17)?, at)?,
        reply_to: opt_text(18)?,
        sent_at: parse_time(&text(19)?, at)?,
        sender_data: opt_text(21)?
            .ok_or_else(|| StoreError::Corrupt(format!("{at}: the body is missing")))?,
        sender_signature: opt_text(22)?,
        attachments: Vec::new(),
    };
    let status = parse_status(&text(20)?, at)?;
    let state = opt_text(23)?
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: the delivery is missing")))?;
    Ok(StoredMessage {
        seq,
        message,
        state: parse_state(&state, at)?,
        delivery_count: parse_u32(col(row, 24, at)?, at)?,
        lease_until: parse_opt_time(opt_text(25)?, at)?,
        first_delivered_at: parse_opt_time(opt_text(26)?, at)?,
        acked_at: parse_opt_time(opt_text(27)?, at)?,
        accepted: col::<Option<i64>>(row, 28, at)?
            .map(|v| parse_bool(v, at))
            .transpose()?,
        status,
    })
}

fn attachments(conn: &Connection, seq: i64) -> Result<Vec<Attachment>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT content_id, mime_type, data, file, file_len FROM attachments WHERE message_seq = ?1 ORDER BY ord",
        )
        .ctx("loading attachments")?;
    let mut rows = stmt.query([seq]).ctx("loading attachments")?;
    let at = format!("attachments of message seq {seq}");
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("loading attachments")? {
        // A file's path is relative to the store's attachment directory here; the store makes
        // it absolute (`files::Files::resolve`).
        let data = match col::<Option<String>>(row, 3, &at)? {
            Some(name) => Blob::File {
                path: PathBuf::from(name),
                len: parse_u64(col(row, 4, &at)?, &at)?,
            },
            None => Blob::Bytes(col(row, 2, &at)?),
        };
        out.push(Attachment {
            content_id: col(row, 0, &at)?,
            mime_type: col(row, 1, &at)?,
            data,
        });
    }
    Ok(out)
}

pub(crate) fn journal(conn: &Connection, id: &MessageId) -> Result<Vec<JournalEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT j.seq, j.at, j.kind, j.detail FROM journal j JOIN messages m ON m.seq = j.message_seq
             WHERE m.id = ?1 ORDER BY j.seq",
        )
        .ctx("journal")?;
    let mut rows = stmt.query([id.as_str()]).ctx("journal")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("journal")? {
        let seq: i64 = col(row, 0, &"journal")?;
        let at = format!("journal seq {seq}");
        out.push(JournalEvent {
            at: parse_time(&col::<String>(row, 1, &at)?, &at)?,
            kind: parse_journal_kind(&col::<String>(row, 2, &at)?, &at)?,
            detail: col(row, 3, &at)?,
        });
    }
    Ok(out)
}

pub(crate) fn queue_depths(
    conn: &Connection,
    recipient: &Mnemonic,
) -> Result<Vec<QueueDepth>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, type_ns, type_local, count FROM pending WHERE recipient = ?1 AND count > 0
             ORDER BY kind, type_ns, type_local",
        )
        .ctx("queue_depths")?;
    let mut rows = stmt.query([recipient.as_str()]).ctx("queue_depths")?;
    let at = format!("pending of {recipient}");
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("queue_depths")? {
        out.push(QueueDepth {
            kind: parse_kind(&col::<String>(row, 0, &at)?, &at)?,
            message_type: QName {
                ns: col(row, 1, &at)?,
                local: col(row, 2, &at)?,
            },
            pending: parse_u64(col(row, 3, &at)?, &at)?,
        });
    }
    Ok(out)
}

pub(crate) fn registry(conn: &Connection) -> Result<Option<RegistryDocument>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT version, text, saved_at FROM registry_versions ORDER BY version DESC LIMIT 1",
        )
        .ctx("registry")?;
    let mut rows = stmt.query([]).ctx("registry")?;
    let Some(row) = rows.next().ctx("registry")? else {
        return Ok(None);
    };
    let version: i64 = col(row, 0, &"registry_versions")?;
    let at = format!("registry_versions version {version}");
    Ok(Some(RegistryDocument {
        version: parse_u64(version, &at)?,
        text: col(row, 1, &at)?,
        saved_at: parse_time(&col::<String>(row, 2, &at)?, &at)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // Parameters stay unbound (NULL): the plan does not depend on their values.
        let mut rows = stmt.raw_query();
        let mut lines = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            lines.push(row.get::<_, String>(3).unwrap());
        }
        lines.join("\n")
    }

    #[test]
    fn polls_use_the_queue_indexes_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::schema::open_writer(&dir.path().join("plan.db")).unwrap();
        for (typed, lapsed, index) in [
            (false, false, "deliveries_queue"),
            (false, true, "deliveries_leases"),
            (true, false, "deliveries_typed"),
            (true, true, "deliveries_leases"),
        ] {
            let plan = plan(&conn, &candidate_sql(typed, lapsed));
            let what = format!("typed={typed} lapsed={lapsed}: {plan}");
            assert!(plan.contains(&format!("USING INDEX {index}")), "{what}");
            assert_eq!(plan.contains("lease_until<?"), lapsed, "{what}");
            assert!(lapsed || !plan.contains("TEMP B-TREE"), "{what}");
        }
        let plan = plan(&conn, EXPIRE_SQL);
        assert!(plan.contains("USING INDEX deliveries_eol"), "{plan}");
    }

    /// SQLite re-plans a statement whose plan may depend on a bound value (an `ORDER BY` next to
    /// `col = ?` does) on every new binding — 11 % of the bus's CPU under load — unless the query
    /// planner stability guarantee is on. Both kinds of connection must have it.
    #[test]
    fn polls_are_not_re_prepared_on_every_binding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reprepare.db");
        let writer = crate::schema::open_writer(&path).unwrap();
        let reader = crate::schema::open_reader(&path).unwrap();
        for conn in [&writer, &reader] {
            for (typed, lapsed) in [(false, false), (true, false), (false, true), (true, true)] {
                let sql = candidate_sql(typed, lapsed);
                for i in 0..5 {
                    let mut stmt = conn.prepare_cached(&sql).unwrap();
                    let (recipient, kind) = (format!("IS{i}"), ["request", "response"][i % 2]);
                    let params = params![recipient, kind, "urn:x", format!("T{i}"), "2026", "node"];
                    let mut rows = stmt.query(params).unwrap();
                    while rows.next().unwrap().is_some() {}
                    drop(rows);
                    let reprepared = stmt.get_status(rusqlite::StatementStatus::RePrepare);
                    assert_eq!(reprepared, 0, "typed={typed} lapsed={lapsed}: {sql}");
                }
            }
        }
    }
}
