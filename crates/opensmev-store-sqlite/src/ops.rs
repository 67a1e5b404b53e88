//! The operations of [`opensmev_store::Store`] as SQL on one connection.
//!
//! Write operations run on the writer thread inside the batch transaction, each in its own
//! savepoint (see `worker`): they may assume nothing else writes between their statements, so a
//! read-then-write (the duplicate check, the quota check, picking the message to lease) needs no
//! locking. Read operations run on a reader connection inside one read transaction, so their
//! several statements see one snapshot.
//!
//! Journal events carry the node the store was opened on (`node`, given to every write that
//! journals) and who caused them (`actor`: the information system that sent, polled, acknowledged
//! or answered; none for the bus's own doing).

use std::path::PathBuf;

use opensmev_store::{
    Account, AckOutcome, AckRule, Attachment, AuditEntry, AuditQuery, Blob, DeadLetter,
    DeadLetterQuery, Enqueued, JournalEvent, JournalKind, LeaseOutcome, LeaseRequest, MessageQuery,
    MessageSummary, NewAuditEntry, NewMessage, QueueDepth, RegistryDocument, StatusNotice,
    StoreError, StoredMessage, TokenRecord,
};
use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use time::OffsetDateTime;

use crate::codec::{
    Context, col, kind_text, mode_text, opt_time_text, parse_bool, parse_hash, parse_id,
    parse_journal_kind, parse_kind, parse_mnemonic, parse_mode, parse_opt_id, parse_opt_mnemonic,
    parse_opt_time, parse_role, parse_state, parse_status, parse_time, parse_u8, parse_u32,
    parse_u64, parse_version, time_text,
};
use crate::files;

/// The detail of the notice sent when a message's EOL passes undelivered.
const EXPIRED_DETAILS: &str = "Срок доставки сообщения (EOL) истёк";

// ------------------------------------------------------------------------------------------------
// Writes

pub(crate) fn enqueue(
    conn: &Connection,
    node: Option<&str>,
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
            id: m.id.clone(),
            sender: parse_mnemonic(&sender, &at)?,
            sent_at: parse_time(&sent_at, &at)?,
            by_client_id: false,
        });
    }
    if let Some(client_id) = &m.client_id {
        let existing = conn
            .prepare_cached(
                "SELECT seq, id, sent_at FROM messages WHERE client_id = ?1 AND sender = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![client_id, m.sender.as_str()], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .optional()
            })
            .ctx("enqueue: client id check")?;
        if let Some((seq, id, sent_at)) = existing {
            let at = format!("messages seq {seq}");
            return Ok(Enqueued::Duplicate {
                id: parse_id(&id, &at)?,
                sender: m.sender.clone(),
                sent_at: parse_time(&sent_at, &at)?,
                by_client_id: true,
            });
        }
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
    let vtime = fair_place(conn, m.recipient.as_str(), kind, m.sender.as_str(), m.share)?;
    conn.prepare_cached(
        "INSERT INTO messages (id, kind, sender, recipient, type_ns, type_local, vs_id, version, priority,
             delivery_mode, test_message, node_id, target_node_id, eol, transaction_code,
             reference_message_id, original_message_id, reply_to, sent_at, status, client_id, share)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
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
            m.client_id,
            m.share,
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
             state, delivery_count, push, vtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', 0, ?9, ?10)",
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
            m.delivery_mode == DeliveryMode::Push,
            vtime,
        ])
    })
    .ctx("enqueue: insert delivery")?;
    add_pending(conn, m.recipient.as_str(), kind, &m.message_type, 1)?;
    journal_add(
        conn,
        node,
        seq,
        &sent_at,
        Event {
            detail: Some(&format!("from {}", m.sender)),
            actor: Some(m.sender.as_str()),
            ..Event::new(JournalKind::Accepted)
        },
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
                node,
                request,
                &sent_at,
                Event {
                    detail: Some(&format!("response {}", m.id)),
                    actor: Some(m.sender.as_str()),
                    ..Event::new(JournalKind::Answered)
                },
            )?;
        }
    }
    Ok(Enqueued::Accepted { seq })
}

/// The start tag of a message of `sender` queued now for (`recipient`, `kind`), its sender's
/// finish tag recorded ([`opensmev_store::fair_tags`]).
fn fair_place(
    conn: &Connection,
    recipient: &str,
    kind: &str,
    sender: &str,
    share: u32,
) -> Result<i64, StoreError> {
    let queued_min: Option<i64> = conn
        .prepare_cached(
            "SELECT min(vtime) FROM deliveries INDEXED BY deliveries_fair
             WHERE recipient = ?1 AND kind = ?2 AND state = 'queued'",
        )
        .and_then(|mut s| s.query_row(params![recipient, kind], |r| r.get(0)))
        .ctx("enqueue: fair order")?;
    let senders_max: Option<i64> = match queued_min {
        Some(_) => None,
        None => conn
            .prepare_cached("SELECT max(finish) FROM fair_tags WHERE recipient = ?1 AND kind = ?2")
            .and_then(|mut s| s.query_row(params![recipient, kind], |r| r.get(0)))
            .ctx("enqueue: fair order")?,
    };
    let previous: Option<i64> = conn
        .prepare_cached(
            "SELECT finish FROM fair_tags WHERE recipient = ?1 AND kind = ?2 AND sender = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![recipient, kind, sender], |r| r.get(0))
                .optional()
        })
        .ctx("enqueue: fair order")?;
    let (start, finish) = opensmev_store::fair_tags(queued_min, senders_max, previous, share);
    conn.prepare_cached(
        "INSERT INTO fair_tags (recipient, kind, sender, finish) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (recipient, kind, sender) DO UPDATE SET finish = excluded.finish",
    )
    .and_then(|mut s| s.execute(params![recipient, kind, sender, finish]))
    .ctx("enqueue: fair order")?;
    Ok(start)
}

/// A candidate delivery: (message seq, priority, start tag).
type Candidate = (i64, i64, i64);

pub(crate) fn lease_next(
    conn: &Connection,
    node: Option<&str>,
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

    expire(conn, node, recipient, kind, &now)?;

    // The best queued delivery and the best one whose lease ran out; the better of the two wins.
    let queued = candidate(conn, request, false, None)?;
    let lapsed = candidate(conn, request, true, Some(&now))?;
    let rank = |c: &Candidate| {
        let priority = if request.fair_first { 0 } else { c.1 };
        (-priority, c.2, c.0)
    };
    let best = match (queued, lapsed) {
        (Some(q), Some(l)) => Some(if rank(&l) < rank(&q) { l } else { q }),
        (q, l) => q.or(l),
    };
    let Some((seq, _, _)) = best else {
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
    journal_add(
        conn,
        node,
        seq,
        &now,
        Event {
            detail: Some(&detail),
            actor: Some(recipient),
            attempt: Some(parse_u32(count, &format!("deliveries seq {seq}"))?),
            ..Event::new(event)
        },
    )?;
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
/// now, `?6` node; a `push` lease takes push deliveries of any node): queued ones, read in priority order from `deliveries_queue` or
/// `deliveries_typed`; or (`lapsed`) leased ones whose lease ran out, found by lease end in
/// `deliveries_leases` (normally none or few, so sorting them is cheap; walking all leased rows
/// in priority order instead would cost a row lookup per message in flight).
fn candidate_sql(typed: bool, lapsed: bool, push: bool, fair_first: bool) -> String {
    let (index, state) = if lapsed {
        (
            "INDEXED BY deliveries_leases",
            "state = 'leased' AND lease_until < ?5",
        )
    } else if fair_first && !typed {
        ("INDEXED BY deliveries_fair", "state = 'queued'")
    } else if push && !typed {
        ("INDEXED BY deliveries_push", "state = 'queued'")
    } else {
        ("", "state = 'queued'")
    };
    let order = if fair_first {
        "vtime, message_seq"
    } else {
        "priority DESC, vtime, message_seq"
    };
    let typed = if typed {
        "AND type_ns = ?3 AND type_local = ?4"
    } else {
        ""
    };
    let node = if push {
        // `?6` is bound to NULL for a push lease (it stays in the text: see `candidate`).
        "AND push = 1 AND ?6 IS NULL"
    } else {
        "AND (target_node_id IS NULL OR target_node_id = ?6)"
    };
    format!(
        "SELECT message_seq, priority, vtime FROM deliveries {index}
         WHERE recipient = ?1 AND kind = ?2 AND {state} {typed}
           {node}
         ORDER BY {order} LIMIT 1"
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
    let sql = candidate_sql(
        request.message_type.is_some(),
        lapsed,
        request.push,
        request.fair_first,
    );
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
            if request.push {
                None
            } else {
                request.node_id.as_deref()
            }
        ])
        .ctx("lease_next: find")?;
    match rows.next().ctx("lease_next: find")? {
        Some(row) => Ok(Some((
            col(row, 0, &"deliveries")?,
            col(row, 1, &"deliveries")?,
            col(row, 2, &"deliveries")?,
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
fn expire(
    conn: &Connection,
    node: Option<&str>,
    recipient: &str,
    kind: &str,
    now: &str,
) -> Result<(), StoreError> {
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
        expire_one(
            conn,
            node,
            Expiring {
                seq,
                id: &id,
                sender: &sender,
                recipient,
                kind,
                message_type: &QName { ns, local },
            },
            now,
        )?;
    }
    Ok(())
}

/// A pending delivery whose EOL passed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expiring<'a> {
    pub(crate) seq: i64,
    pub(crate) id: &'a str,
    pub(crate) sender: &'a str,
    pub(crate) recipient: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) message_type: &'a QName,
}

/// Expires one pending delivery whose EOL passed: state `expired`, status `cancelled`, one
/// `Expired` journal event and a notice for the sender (the poll's and the sweep's way alike).
pub(crate) fn expire_one(
    conn: &Connection,
    node: Option<&str>,
    e: Expiring<'_>,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE deliveries SET state = 'expired', lease_until = NULL WHERE message_seq = ?1 AND recipient = ?2",
    )
    .and_then(|mut s| s.execute(params![e.seq, e.recipient]))
    .ctx("expire")?;
    conn.prepare_cached("UPDATE messages SET status = ?2 WHERE seq = ?1")
        .and_then(|mut s| s.execute(params![e.seq, InteractionStatus::Cancelled.code()]))
        .ctx("expire")?;
    add_pending(conn, e.recipient, e.kind, e.message_type, -1)?;
    journal_add(
        conn,
        node,
        e.seq,
        now,
        Event {
            detail: Some("EOL passed"),
            ..Event::new(JournalKind::Expired)
        },
    )?;
    notice_add(
        conn,
        e.sender,
        e.id,
        InteractionStatus::Cancelled,
        Some(EXPIRED_DETAILS),
        now,
    )?;
    Ok(())
}

pub(crate) fn ack(
    conn: &Connection,
    node: Option<&str>,
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
    let delivery = Leased {
        seq,
        sender: &sender,
        kind: &kind,
        message_type: &QName { ns, local },
    };
    acknowledge(
        conn,
        node,
        (recipient, id),
        delivery,
        (accepted, status, notice),
        &now,
    )?;
    Ok(AckOutcome::Acked)
}

/// A leased delivery found for an ack or a settled lease.
#[derive(Debug, Clone, Copy)]
struct Leased<'a> {
    seq: i64,
    sender: &'a str,
    kind: &'a str,
    message_type: &'a QName,
}

/// Acknowledges a found leased delivery of (`recipient`, `id`): (`accepted`, the new status,
/// the sender's notice).
fn acknowledge(
    conn: &Connection,
    node: Option<&str>,
    (recipient, id): (&Mnemonic, &MessageId),
    d: Leased<'_>,
    (accepted, status, notice): (bool, InteractionStatus, Option<&str>),
    now: &str,
) -> Result<(), StoreError> {
    let seq = d.seq;
    conn.prepare_cached(
        "UPDATE deliveries SET state = 'acked', acked_at = ?3, accepted = ?4, lease_until = NULL
         WHERE message_seq = ?1 AND recipient = ?2",
    )
    .and_then(|mut s| s.execute(params![seq, recipient.as_str(), now, accepted]))
    .ctx("ack: update delivery")?;
    conn.prepare_cached("UPDATE messages SET status = ?2 WHERE seq = ?1")
        .and_then(|mut s| s.execute(params![seq, status.code()]))
        .ctx("ack: update status")?;
    add_pending(conn, recipient.as_str(), d.kind, d.message_type, -1)?;
    let event = if accepted {
        JournalKind::Acked
    } else {
        JournalKind::Refused
    };
    journal_add(
        conn,
        node,
        seq,
        now,
        Event {
            detail: Some(&format!("by {recipient}, status {}", status.code())),
            actor: Some(recipient.as_str()),
            ..Event::new(event)
        },
    )?;
    if let Some(details) = notice {
        notice_add(conn, d.sender, id.as_str(), status, Some(details), now)?;
    }
    Ok(())
}

/// A settled lease's queue: (kind, the node the message is bound to).
pub(crate) type SettledQueue = (MessageKind, Option<String>);

/// [`Store::settle_lease`](opensmev_store::Store::settle_lease): the queue of the settled
/// delivery, or `None` when there was no such leased delivery.
pub(crate) fn settle_lease(
    conn: &Connection,
    node: Option<&str>,
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
    let Some((seq, sender, kind, ns, local, target_node)) = found else {
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
            journal_add(
                conn,
                node,
                seq,
                &now,
                Event {
                    actor: Some(recipient.as_str()),
                    attempt: Some(delivery_count),
                    ..Event::new(JournalKind::Released)
                },
            )?;
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
            journal_add(
                conn,
                node,
                seq,
                &now,
                Event {
                    detail: Some(reason),
                    ..Event::new(JournalKind::Undeliverable)
                },
            )?;
            notice_add(
                conn,
                &sender,
                id.as_str(),
                InteractionStatus::Cancelled,
                Some(notice),
                &now,
            )?;
        }
        LeaseOutcome::Pushed { detail, ack } => {
            push_attempt(conn, node, seq, recipient, delivery_count, detail, &now)?;
            if let Some(ack) = ack {
                let delivery = Leased {
                    seq,
                    sender: &sender,
                    kind: &kind,
                    message_type: &QName { ns, local },
                };
                acknowledge(
                    conn,
                    node,
                    (recipient, id),
                    delivery,
                    (true, ack.status, ack.notice.as_deref()),
                    &now,
                )?;
            }
        }
        LeaseOutcome::Retry { detail, until } => {
            let until = time_text(*until)?;
            conn.prepare_cached(
                "UPDATE deliveries SET lease_until = ?3 WHERE message_seq = ?1 AND recipient = ?2",
            )
            .and_then(|mut s| s.execute(params![seq, recipient.as_str(), until]))
            .ctx("settle_lease: retry")?;
            push_attempt(conn, node, seq, recipient, delivery_count, detail, &now)?;
        }
        LeaseOutcome::DeadLetter { detail, reason } => {
            conn.prepare_cached(
                "UPDATE deliveries SET state = 'dead', lease_until = NULL, dead_at = ?3, dead_reason = ?4
                 WHERE message_seq = ?1 AND recipient = ?2",
            )
            .and_then(|mut s| s.execute(params![seq, recipient.as_str(), now, reason]))
            .ctx("settle_lease: dead letter")?;
            add_pending(conn, recipient.as_str(), &kind, &QName { ns, local }, -1)?;
            push_attempt(conn, node, seq, recipient, delivery_count, detail, &now)?;
            journal_add(
                conn,
                node,
                seq,
                &now,
                Event {
                    detail: Some(reason),
                    ..Event::new(JournalKind::DeadLettered)
                },
            )?;
        }
    }
    Ok(Some((
        parse_kind(&kind, &format!("deliveries seq {seq}"))?,
        target_node,
    )))
}

/// Journals the end of push attempt `attempt` to `recipient`.
fn push_attempt(
    conn: &Connection,
    node: Option<&str>,
    seq: i64,
    recipient: &Mnemonic,
    attempt: u32,
    detail: &str,
    now: &str,
) -> Result<(), StoreError> {
    journal_add(
        conn,
        node,
        seq,
        now,
        Event {
            detail: Some(detail),
            actor: Some(recipient.as_str()),
            attempt: Some(attempt),
            ..Event::new(JournalKind::PushAttempt)
        },
    )
}

/// The dead letters' columns, for [`decode_dead_letter`].
const DEAD_COLUMNS: &str =
    "SELECT d.message_seq, m.id, d.kind, m.sender, d.recipient, m.vs_id, d.type_ns,
        d.type_local, m.sent_at, d.dead_at, d.delivery_count, d.dead_reason
    FROM deliveries d INDEXED BY deliveries_dead JOIN messages m ON m.seq = d.message_seq";

/// The `WHERE` of a dead-letter query (with its parameters); `paged` adds the cursor.
fn dead_where(q: &DeadLetterQuery, paged: bool) -> Result<(String, Vec<Value>), StoreError> {
    let mut sql = String::from(" WHERE d.state = 'dead'");
    let mut values: Vec<Value> = Vec::new();
    let mut add = |clause: &str, value: Value| {
        values.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", values.len()));
    };
    if let Some(id) = &q.id {
        add("m.id =", Value::Text(id.to_string()));
    }
    if let Some(r) = &q.recipient {
        add("d.recipient =", Value::Text(r.to_string()));
    }
    if let Some(sender) = &q.sender {
        add("m.sender =", Value::Text(sender.to_string()));
    }
    if let Some(vs) = &q.vs_id {
        add("m.vs_id =", Value::Text(vs.clone()));
    }
    if let Some(from) = q.dead_from {
        add("d.dead_at >=", Value::Text(time_text(from)?));
    }
    if let Some(to) = q.dead_to {
        add("d.dead_at <", Value::Text(time_text(to)?));
    }
    if paged && let Some(before) = q.before_seq {
        add("d.message_seq <", Value::Integer(before));
    }
    Ok((sql, values))
}

/// [`Store::dead_letters`](opensmev_store::Store::dead_letters).
pub(crate) fn dead_letters(
    conn: &Connection,
    q: &DeadLetterQuery,
) -> Result<Vec<DeadLetter>, StoreError> {
    let (filter, values) = dead_where(q, true)?;
    let sql = format!(
        "{DEAD_COLUMNS}{filter} ORDER BY d.message_seq DESC LIMIT {}",
        q.limit.max(1)
    );
    let mut stmt = conn.prepare(&sql).ctx("dead_letters")?;
    let mut rows = stmt.query(params_from_iter(values)).ctx("dead_letters")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("dead_letters")? {
        out.push(decode_dead_letter(row)?);
    }
    Ok(out)
}

fn decode_dead_letter(row: &Row<'_>) -> Result<DeadLetter, StoreError> {
    let at = "dead letter";
    let text = |i: usize| -> Result<String, StoreError> { col(row, i, &at) };
    let seq: i64 = col(row, 0, &at)?;
    Ok(DeadLetter {
        seq,
        id: parse_id(&text(1)?, &at)?,
        kind: parse_kind(&text(2)?, &at)?,
        sender: parse_mnemonic(&text(3)?, &at)?,
        recipient: parse_mnemonic(&text(4)?, &at)?,
        vs_id: text(5)?,
        message_type: QName {
            ns: text(6)?,
            local: text(7)?,
        },
        sent_at: parse_time(&text(8)?, &at)?,
        dead_at: parse_time(&text(9)?, &at)?,
        attempts: parse_u32(col(row, 10, &at)?, &at)?,
        reason: text(11)?,
    })
}

/// A replayed delivery's queue, for its signal: (recipient, kind).
pub(crate) type ReplayedQueue = (String, MessageKind);

/// [`Store::replay_dead_letters`](opensmev_store::Store::replay_dead_letters): the queues
/// replayed into (one entry per letter).
pub(crate) fn replay_dead_letters(
    conn: &Connection,
    node: Option<&str>,
    q: &DeadLetterQuery,
    actor: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<ReplayedQueue>, StoreError> {
    let (filter, values) = dead_where(q, false)?;
    let sql = format!(
        "SELECT d.message_seq, d.recipient, d.kind, d.type_ns, d.type_local
         FROM deliveries d INDEXED BY deliveries_dead JOIN messages m ON m.seq = d.message_seq{filter}
         ORDER BY d.message_seq"
    );
    let found: Vec<(i64, String, String, String, String)> = conn
        .prepare(&sql)
        .and_then(|mut s| {
            s.query_map(params_from_iter(values), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .ctx("replay_dead_letters: find")?;
    let now = time_text(now)?;
    let mut queues = Vec::with_capacity(found.len());
    for (seq, recipient, kind, ns, local) in found {
        conn.prepare_cached(
            "UPDATE deliveries SET state = 'queued', lease_until = NULL, delivery_count = 0,
                 first_delivered_at = NULL, dead_at = NULL, dead_reason = NULL
             WHERE message_seq = ?1 AND recipient = ?2",
        )
        .and_then(|mut s| s.execute(params![seq, recipient]))
        .ctx("replay_dead_letters: queue")?;
        add_pending(conn, &recipient, &kind, &QName { ns, local }, 1)?;
        journal_add(
            conn,
            node,
            seq,
            &now,
            Event {
                actor,
                ..Event::new(JournalKind::Replayed)
            },
        )?;
        queues.push((
            recipient,
            parse_kind(&kind, &format!("deliveries seq {seq}"))?,
        ));
    }
    Ok(queues)
}

/// [`Store::set_status`](opensmev_store::Store::set_status); `actor` is the information system
/// that caused the change, when known (the responder whose response changes its request).
pub(crate) fn set_status(
    conn: &Connection,
    node: Option<&str>,
    actor: Option<&str>,
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
        node,
        seq,
        &now,
        Event {
            detail: Some(status.code()),
            actor,
            ..Event::new(JournalKind::StatusChanged)
        },
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
    audit: Option<&NewAuditEntry>,
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
    if let Some(entry) = audit {
        audit_add(conn, entry)?;
    }
    Ok(RegistryDocument {
        version,
        text: text.to_owned(),
        saved_at: now,
    })
}

/// Appends an audit entry; its `seq`.
pub(crate) fn audit_add(conn: &Connection, entry: &NewAuditEntry) -> Result<i64, StoreError> {
    let at = time_text(entry.at)?;
    conn.prepare_cached(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)
         RETURNING seq",
    )
    .and_then(|mut s| {
        s.query_row(
            params![at, entry.actor, entry.action, entry.target, entry.detail],
            |r| r.get(0),
        )
    })
    .ctx("audit")
}

pub(crate) fn create_token(
    conn: &Connection,
    token: &TokenRecord,
    audit: &NewAuditEntry,
) -> Result<(), StoreError> {
    insert_token(conn, token)?;
    audit_add(conn, audit)?;
    Ok(())
}

/// Inserts a token row (its id and secret hash must be new).
pub(crate) fn insert_token(conn: &Connection, token: &TokenRecord) -> Result<(), StoreError> {
    let taken = |sql: &str, key: &dyn rusqlite::ToSql| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.exists([key]))
            .ctx("create_token: uniqueness")
    };
    if taken("SELECT 1 FROM tokens WHERE id = ?1", &token.id)? {
        return Err(StoreError::Exists(format!("token {}", token.id)));
    }
    if taken(
        "SELECT 1 FROM tokens WHERE secret_hash = ?1",
        &token.secret_hash.as_slice(),
    )? {
        return Err(StoreError::Exists(
            "a token with this secret hash".to_owned(),
        ));
    }
    let created_at = time_text(token.created_at)?;
    let expires_at = opt_time_text(token.expires_at)?;
    let revoked_at = opt_time_text(token.revoked_at)?;
    conn.prepare_cached(
        "INSERT INTO tokens (id, secret_hash, name, role, system, account, created_by, created_at,
             expires_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![
            token.id,
            token.secret_hash.as_slice(),
            token.name,
            token.role.code(),
            token.system.as_ref().map(Mnemonic::as_str),
            token.account,
            token.created_by,
            created_at,
            expires_at,
            revoked_at,
        ])
    })
    .ctx("create_token")?;
    Ok(())
}

pub(crate) fn revoke_token(
    conn: &Connection,
    id: &str,
    now: OffsetDateTime,
    audit: &NewAuditEntry,
) -> Result<bool, StoreError> {
    let now = time_text(now)?;
    let changed = conn
        .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
        .and_then(|mut s| s.execute(params![id, now]))
        .ctx("revoke_token")?;
    if changed == 0 {
        return Ok(false);
    }
    audit_add(conn, audit)?;
    Ok(true)
}

pub(crate) fn create_account(
    conn: &Connection,
    account: &Account,
    audit: &NewAuditEntry,
) -> Result<(), StoreError> {
    insert_account(conn, account)?;
    audit_add(conn, audit)?;
    Ok(())
}

/// Inserts an account row (its login must be new).
pub(crate) fn insert_account(conn: &Connection, account: &Account) -> Result<(), StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM accounts WHERE login = ?1")
        .and_then(|mut s| s.exists([&account.login]))
        .ctx("create_account: uniqueness")?;
    if exists {
        return Err(StoreError::Exists(format!("account {}", account.login)));
    }
    let values = account_params(account)?;
    conn.prepare_cached(
        "INSERT INTO accounts (login, name, role, system, password_hash, must_change_password,
             disabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| s.execute(params_from_iter(&values)))
    .ctx("create_account")?;
    Ok(())
}

pub(crate) fn update_account(
    conn: &Connection,
    account: &Account,
    audit: &NewAuditEntry,
) -> Result<bool, StoreError> {
    let values = account_params(account)?;
    let changed = conn
        .prepare_cached(
            "UPDATE accounts SET name = ?2, role = ?3, system = ?4, password_hash = ?5,
                 must_change_password = ?6, disabled = ?7, created_at = ?8
             WHERE login = ?1",
        )
        .and_then(|mut s| s.execute(params_from_iter(&values)))
        .ctx("update_account")?;
    if changed == 0 {
        return Ok(false);
    }
    audit_add(conn, audit)?;
    Ok(true)
}

/// An account's columns in table order, as `?1` … `?8`.
fn account_params(account: &Account) -> Result<[Value; 8], StoreError> {
    let text = |t: &str| Value::Text(t.to_owned());
    let opt_text = |t: Option<&str>| t.map_or(Value::Null, text);
    Ok([
        text(&account.login),
        text(&account.name),
        text(account.role.code()),
        opt_text(account.system.as_ref().map(Mnemonic::as_str)),
        opt_text(account.password_hash.as_deref()),
        Value::Integer(i64::from(account.must_change_password)),
        Value::Integer(i64::from(account.disabled)),
        Value::Text(time_text(account.created_at)?),
    ])
}

pub(crate) fn add_pending(
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

/// A journal event to record (apart from its message, time and node).
#[derive(Debug, Clone, Copy)]
struct Event<'a> {
    kind: JournalKind,
    detail: Option<&'a str>,
    actor: Option<&'a str>,
    attempt: Option<u32>,
}

impl Event<'_> {
    fn new(kind: JournalKind) -> Self {
        Event {
            kind,
            detail: None,
            actor: None,
            attempt: None,
        }
    }
}

fn journal_add(
    conn: &Connection,
    node: Option<&str>,
    seq: i64,
    at: &str,
    event: Event<'_>,
) -> Result<(), StoreError> {
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
            node,
            event.actor,
            event.attempt
        ])
    })
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
    /// (sender, client id).
    ClientId(&'a Mnemonic, &'a str),
}

const LOAD_COLUMNS: &str = "SELECT m.seq, m.id, m.kind, m.sender, m.recipient, m.type_ns, m.type_local, m.vs_id,
        m.version, m.priority, m.delivery_mode, m.test_message, m.node_id, m.target_node_id, m.eol,
        m.transaction_code, m.reference_message_id, m.original_message_id, m.reply_to, m.sent_at, m.status,
        b.sender_data, b.sender_signature,
        d.state, d.delivery_count, d.lease_until, d.first_delivered_at, d.acked_at, d.accepted,
        m.client_id, m.share
    FROM messages m
    LEFT JOIN message_bodies b ON b.message_seq = m.seq
    LEFT JOIN deliveries d ON d.message_seq = m.seq AND d.recipient = m.recipient";

/// A message with its body, attachments and delivery (to its recipient).
pub(crate) fn load(conn: &Connection, by: By<'_>) -> Result<Option<StoredMessage>, StoreError> {
    let mut stmt = match by {
        By::Id(_) => conn.prepare_cached(&format!("{LOAD_COLUMNS} WHERE m.id = ?1")),
        By::Seq(_) => conn.prepare_cached(&format!("{LOAD_COLUMNS} WHERE m.seq = ?1")),
        By::ClientId(..) => conn.prepare_cached(&format!(
            "{LOAD_COLUMNS} WHERE m.client_id = ?1 AND m.sender = ?2"
        )),
    }
    .ctx("loading a message")?;
    let mut rows = match by {
        By::Id(id) => stmt.query([id.as_str()]),
        By::Seq(seq) => stmt.query([seq]),
        By::ClientId(sender, client_id) => stmt.query(params![client_id, sender.as_str()]),
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
        share: parse_u32(col(row, 30, at)?, at)?,
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
        client_id: opt_text(29)?,
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
            "SELECT j.seq, j.at, j.kind, j.detail, j.node, j.actor, j.attempt
             FROM journal j JOIN messages m ON m.seq = j.message_seq
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
            node: col(row, 4, &at)?,
            actor: col(row, 5, &at)?,
            attempt: col::<Option<i64>>(row, 6, &at)?
                .map(|v| parse_u32(v, &at))
                .transpose()?,
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
    decode_registry(row).map(Some)
}

pub(crate) fn registry_version(
    conn: &Connection,
    version: u64,
) -> Result<Option<RegistryDocument>, StoreError> {
    let Ok(version) = i64::try_from(version) else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached("SELECT version, text, saved_at FROM registry_versions WHERE version = ?1")
        .ctx("registry_version")?;
    let mut rows = stmt.query([version]).ctx("registry_version")?;
    let Some(row) = rows.next().ctx("registry_version")? else {
        return Ok(None);
    };
    decode_registry(row).map(Some)
}

fn decode_registry(row: &Row<'_>) -> Result<RegistryDocument, StoreError> {
    let version: i64 = col(row, 0, &"registry_versions")?;
    let at = format!("registry_versions version {version}");
    Ok(RegistryDocument {
        version: parse_u64(version, &at)?,
        text: col(row, 1, &at)?,
        saved_at: parse_time(&col::<String>(row, 2, &at)?, &at)?,
    })
}

pub(crate) fn message_by_client_id(
    conn: &Connection,
    sender: &Mnemonic,
    client_id: &str,
) -> Result<Option<StoredMessage>, StoreError> {
    load(conn, By::ClientId(sender, client_id))
}

/// The columns [`search_messages`] reads, decoded by [`decode_summary`].
pub(crate) const SUMMARY_COLUMNS: &str =
    "SELECT m.seq, m.id, m.kind, m.sender, m.recipient, m.type_ns, m.type_local,
        m.vs_id, m.client_id, m.original_message_id, m.sent_at, d.state, d.delivery_count, m.status,
        m.test_message
    FROM messages m JOIN deliveries d ON d.message_seq = m.seq AND d.recipient = m.recipient";

/// The SQL of a message search and its parameters: one condition per given field, each value a
/// bound parameter (text is found by `instr`, so `%` and `_` are only characters).
fn search_sql(q: &MessageQuery) -> Result<(String, Vec<Value>), StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut add = |condition: &str, value: Value| {
        args.push(value);
        // `?N` stands for the value just added.
        conditions.push(condition.replace("?N", &format!("?{}", args.len())));
    };
    let text = |t: &str| Value::Text(t.to_owned());
    if let Some(system) = &q.system {
        add("(m.sender = ?N OR m.recipient = ?N)", text(system.as_str()));
    }
    if let Some(sender) = &q.sender {
        add("m.sender = ?N", text(sender.as_str()));
    }
    if let Some(recipient) = &q.recipient {
        add("m.recipient = ?N", text(recipient.as_str()));
    }
    if let Some(vs_id) = &q.vs_id {
        add("m.vs_id = ?N", text(vs_id));
    }
    if let Some(kind) = q.kind {
        add("m.kind = ?N", text(kind_text(kind)));
    }
    if let Some(from) = q.from {
        add("m.sent_at >= ?N", Value::Text(time_text(from)?));
    }
    if let Some(to) = q.to {
        add("m.sent_at < ?N", Value::Text(time_text(to)?));
    }
    if let Some(status) = q.status {
        add("m.status = ?N", text(status.code()));
    }
    if let Some(state) = q.state {
        add("d.state = ?N", text(state.code()));
    }
    if let Some(id) = &q.message_id {
        add("m.id = ?N", text(id.as_str()));
    }
    if let Some(client_id) = &q.client_id {
        add("m.client_id = ?N", text(client_id));
    }
    if let Some(original) = &q.original_message_id {
        add("m.original_message_id = ?N", text(original.as_str()));
    }
    if let Some(needle) = &q.text {
        add(
            "EXISTS (SELECT 1 FROM message_bodies b
                 WHERE b.message_seq = m.seq AND instr(b.sender_data, ?N) > 0)",
            text(needle),
        );
    }
    if let Some(before) = q.before {
        add("m.seq < ?N", Value::Integer(before));
    }
    let mut sql = String::from(SUMMARY_COLUMNS);
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    args.push(Value::Integer(i64::from(q.limit.max(1))));
    sql.push_str(&format!(" ORDER BY m.seq DESC LIMIT ?{}", args.len()));
    Ok((sql, args))
}

pub(crate) fn search_messages(
    conn: &Connection,
    q: &MessageQuery,
) -> Result<Vec<MessageSummary>, StoreError> {
    let (sql, args) = search_sql(q)?;
    let mut stmt = conn.prepare_cached(&sql).ctx("search_messages")?;
    let mut rows = stmt.query(params_from_iter(&args)).ctx("search_messages")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("search_messages")? {
        out.push(decode_summary(row)?);
    }
    Ok(out)
}

pub(crate) fn decode_summary(row: &Row<'_>) -> Result<MessageSummary, StoreError> {
    let seq: i64 = col(row, 0, &"messages")?;
    let at = format!("messages seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    let text = |i| col::<String>(row, i, at);
    let opt_text = |i| col::<Option<String>>(row, i, at);
    Ok(MessageSummary {
        seq,
        id: parse_id(&text(1)?, at)?,
        kind: parse_kind(&text(2)?, at)?,
        sender: parse_mnemonic(&text(3)?, at)?,
        recipient: parse_mnemonic(&text(4)?, at)?,
        message_type: QName {
            ns: text(5)?,
            local: text(6)?,
        },
        vs_id: text(7)?,
        client_id: opt_text(8)?,
        original_message_id: parse_opt_id(opt_text(9)?, at)?,
        sent_at: parse_time(&text(10)?, at)?,
        state: parse_state(&text(11)?, at)?,
        delivery_count: parse_u32(col(row, 12, at)?, at)?,
        status: parse_status(&text(13)?, at)?,
        test_message: parse_bool(col(row, 14, at)?, at)?,
    })
}

const TOKEN_COLUMNS: &str = "SELECT seq, id, secret_hash, name, role, system, account, created_by,
        created_at, expires_at, revoked_at
    FROM tokens";

fn decode_token(row: &Row<'_>) -> Result<TokenRecord, StoreError> {
    let seq: i64 = col(row, 0, &"tokens")?;
    let at = format!("tokens seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    let opt_text = |i| col::<Option<String>>(row, i, at);
    Ok(TokenRecord {
        id: col(row, 1, at)?,
        secret_hash: parse_hash(&col::<Vec<u8>>(row, 2, at)?, at)?,
        name: col(row, 3, at)?,
        role: parse_role(&col::<String>(row, 4, at)?, at)?,
        system: parse_opt_mnemonic(opt_text(5)?, at)?,
        account: opt_text(6)?,
        created_by: col(row, 7, at)?,
        created_at: parse_time(&col::<String>(row, 8, at)?, at)?,
        expires_at: parse_opt_time(opt_text(9)?, at)?,
        revoked_at: parse_opt_time(opt_text(10)?, at)?,
    })
}

pub(crate) fn token_by_secret_hash(
    conn: &Connection,
    secret_hash: &[u8; 32],
) -> Result<Option<TokenRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{TOKEN_COLUMNS} WHERE secret_hash = ?1"))
        .ctx("token_by_secret_hash")?;
    let mut rows = stmt
        .query([secret_hash.as_slice()])
        .ctx("token_by_secret_hash")?;
    match rows.next().ctx("token_by_secret_hash")? {
        Some(row) => decode_token(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn tokens(conn: &Connection) -> Result<Vec<TokenRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{TOKEN_COLUMNS} ORDER BY created_at, seq"))
        .ctx("tokens")?;
    let mut rows = stmt.query([]).ctx("tokens")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("tokens")? {
        out.push(decode_token(row)?);
    }
    Ok(out)
}

/// Tokens in the order of creation (`seq`), skipping `offset`.
pub(crate) fn tokens_in_order(
    conn: &Connection,
    offset: i64,
    limit: i64,
) -> Result<Vec<TokenRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{TOKEN_COLUMNS} ORDER BY seq LIMIT ?1 OFFSET ?2"))
        .ctx("export tokens")?;
    let mut rows = stmt.query(params![limit, offset]).ctx("export tokens")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("export tokens")? {
        out.push(decode_token(row)?);
    }
    Ok(out)
}

/// Accounts by login, skipping `offset`.
pub(crate) fn accounts_page(
    conn: &Connection,
    offset: i64,
    limit: i64,
) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{ACCOUNT_COLUMNS} ORDER BY login LIMIT ?1 OFFSET ?2"
        ))
        .ctx("export accounts")?;
    let mut rows = stmt.query(params![limit, offset]).ctx("export accounts")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("export accounts")? {
        out.push(decode_account(row)?);
    }
    Ok(out)
}

const ACCOUNT_COLUMNS: &str =
    "SELECT login, name, role, system, password_hash, must_change_password,
        disabled, created_at
    FROM accounts";

fn decode_account(row: &Row<'_>) -> Result<Account, StoreError> {
    let login: String = col(row, 0, &"accounts")?;
    let at = format!("accounts login {login:?}");
    let at = &at as &dyn std::fmt::Display;
    let opt_text = |i| col::<Option<String>>(row, i, at);
    Ok(Account {
        name: col(row, 1, at)?,
        role: parse_role(&col::<String>(row, 2, at)?, at)?,
        system: parse_opt_mnemonic(opt_text(3)?, at)?,
        password_hash: opt_text(4)?,
        must_change_password: parse_bool(col(row, 5, at)?, at)?,
        disabled: parse_bool(col(row, 6, at)?, at)?,
        created_at: parse_time(&col::<String>(row, 7, at)?, at)?,
        login,
    })
}

pub(crate) fn account(conn: &Connection, login: &str) -> Result<Option<Account>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{ACCOUNT_COLUMNS} WHERE login = ?1"))
        .ctx("account")?;
    let mut rows = stmt.query([login]).ctx("account")?;
    match rows.next().ctx("account")? {
        Some(row) => decode_account(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{ACCOUNT_COLUMNS} ORDER BY login"))
        .ctx("accounts")?;
    let mut rows = stmt.query([]).ctx("accounts")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("accounts")? {
        out.push(decode_account(row)?);
    }
    Ok(out)
}

/// The SQL of an audit query and its parameters (the action prefix is compared with `substr`,
/// so no character in it is a pattern).
fn audit_sql(q: &AuditQuery) -> Result<(String, Vec<Value>), StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut add = |condition: &str, value: Value| {
        args.push(value);
        conditions.push(condition.replace("?N", &format!("?{}", args.len())));
    };
    if let Some(before) = q.before {
        add("seq < ?N", Value::Integer(before));
    }
    if let Some(actor) = &q.actor {
        add("actor = ?N", Value::Text(actor.clone()));
    }
    if let Some(prefix) = &q.action_prefix {
        add(
            "substr(action, 1, length(?N)) = ?N",
            Value::Text(prefix.clone()),
        );
    }
    if let Some(from) = q.from {
        add("at >= ?N", Value::Text(time_text(from)?));
    }
    if let Some(to) = q.to {
        add("at < ?N", Value::Text(time_text(to)?));
    }
    let mut sql = String::from("SELECT seq, at, actor, action, target, detail FROM audit");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    args.push(Value::Integer(i64::from(q.limit.max(1))));
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", args.len()));
    Ok((sql, args))
}

pub(crate) fn audit(conn: &Connection, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let (sql, args) = audit_sql(q)?;
    let mut stmt = conn.prepare_cached(&sql).ctx("audit")?;
    let mut rows = stmt.query(params_from_iter(&args)).ctx("audit")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("audit")? {
        let seq: i64 = col(row, 0, &"audit")?;
        let at = format!("audit seq {seq}");
        out.push(AuditEntry {
            seq,
            entry: NewAuditEntry {
                at: parse_time(&col::<String>(row, 1, &at)?, &at)?,
                actor: col(row, 2, &at)?,
                action: col(row, 3, &at)?,
                target: col(row, 4, &at)?,
                detail: col(row, 5, &at)?,
            },
        });
    }
    Ok(out)
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
        for (typed, lapsed, push, fair, index) in [
            (false, false, false, false, "deliveries_queue"),
            (false, true, false, false, "deliveries_leases"),
            (true, false, false, false, "deliveries_typed"),
            (true, true, false, false, "deliveries_leases"),
            (false, false, true, false, "deliveries_push"),
            (false, true, true, false, "deliveries_leases"),
            (false, false, false, true, "deliveries_fair"),
            (false, true, false, true, "deliveries_leases"),
        ] {
            let plan = plan(&conn, &candidate_sql(typed, lapsed, push, fair));
            let what = format!("typed={typed} lapsed={lapsed}: {plan}");
            assert!(plan.contains(&format!("INDEX {index} ")), "{what}");
            assert_eq!(plan.contains("lease_until<?"), lapsed, "{what}");
            assert!(lapsed || !plan.contains("TEMP B-TREE"), "{what}");
        }
        let plan = plan(&conn, EXPIRE_SQL);
        assert!(plan.contains("USING INDEX deliveries_eol"), "{plan}");
    }

    /// A search by one system, kind of information or request reads its index in `seq` order
    /// (no sort); paging by `before` seeks within it.
    #[test]
    fn searches_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::schema::open_writer(&dir.path().join("search.db")).unwrap();
        let system = Mnemonic::parse("SYS01").unwrap();
        let id = MessageId::parse("4c1f7f3a-e2d4-11ea-9f36-025a0a0a0a0a").unwrap();
        let base = MessageQuery {
            limit: 10,
            ..MessageQuery::default()
        };
        let cases = [
            (
                MessageQuery {
                    sender: Some(system.clone()),
                    before: Some(100),
                    ..base.clone()
                },
                "USING INDEX messages_sender (sender=? AND seq<?)",
            ),
            (
                MessageQuery {
                    recipient: Some(system.clone()),
                    ..base.clone()
                },
                "USING INDEX messages_recipient",
            ),
            (
                MessageQuery {
                    vs_id: Some("VS00001v001-TEST01".into()),
                    ..base.clone()
                },
                "USING INDEX messages_vs_id",
            ),
            (
                MessageQuery {
                    original_message_id: Some(id),
                    ..base.clone()
                },
                "USING INDEX messages_original",
            ),
            (
                MessageQuery {
                    client_id: Some("c-1".into()),
                    sender: Some(system.clone()),
                    ..base.clone()
                },
                "USING INDEX messages_client_id",
            ),
            (base.clone(), "SCAN m"),
        ];
        for (query, index) in cases {
            let (sql, _) = search_sql(&query).unwrap();
            let plan = plan(&conn, &sql);
            assert!(plan.contains(index), "{query:?}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{query:?}: {plan}");
        }
        let system_query = MessageQuery {
            system: Some(system),
            ..base
        };
        let plan = plan(&conn, &search_sql(&system_query).unwrap().0);
        assert!(
            plan.contains("messages_sender") && plan.contains("messages_recipient"),
            "{plan}"
        );
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
                let sql = candidate_sql(typed, lapsed, false, false);
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
