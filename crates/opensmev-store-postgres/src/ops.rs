//! The operations of [`opensmev_store::Store`] as SQL, each on a transaction (writes) or a
//! pooled connection (reads) given by the caller.
//!
//! Writes run in READ COMMITTED transactions, so each statement sees what other nodes committed
//! before it started; what must not race is locked:
//! * picking a delivery to lease, or to expire, locks it with `FOR UPDATE SKIP LOCKED`: two
//!   pollers (on any nodes) never take the same row, and neither waits for the other. Since a
//!   poll's expiry skips rows other sessions hold, the pick itself refuses a delivery whose EOL
//!   passed; and a poll that locked a delivery it did not take signals its queue at commit (a
//!   poller that skipped it meanwhile may be waiting);
//! * `ack` and `settle_lease` lock the delivery they change, and a dead-letter replay the
//!   letters it queues again (`FOR UPDATE`);
//! * an enqueue's duplicate check is the unique indexes themselves (`INSERT … ON CONFLICT DO
//!   NOTHING`, then the existing row is read: the loser of a race waits for the winner's commit
//!   and reports it as a duplicate); its exact quota check runs under a transaction-scoped
//!   advisory lock of the queue (recipient, kind), taken just before the delivery is written and
//!   the pending counter raised, so concurrent enqueues into one queue cannot both take its last
//!   place; the message's place in fair order (its delivery's start tag `vtime`, from the
//!   queue's smallest queued tag and the senders' finish tags in `fair_tags`) is fixed under the
//!   same lock, so enqueues into one queue on any node place their messages one at a time;
//! * saving a registry version takes the advisory lock [`REGISTRY_LOCK`];
//! * a sweep locks its job's row.
//!
//! Lock order, to keep deadlocks away: deliveries, then messages, then pending counters (sorted
//! when several change in one transaction); the queue lock only ever precedes the pending counter
//! of that queue (and its `fair_tags` rows). A deadlock that happens anyway is retried by the caller (`db::transaction!`).
//!
//! Journal events carry the node the store was opened on (`node`) and who caused them (`actor`:
//! the information system that sent, polled, acknowledged or answered; none for the bus's own
//! doing).

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::GenericClient;
use opensmev_store::{
    Account, AckOutcome, AckRule, AuditEntry, AuditQuery, DeadLetter, DeadLetterQuery, Enqueued,
    JobClaim, JournalEvent, JournalKind, LeaseOutcome, LeaseRequest, MessageQuery, MessageSummary,
    NewAuditEntry, NewMessage, QueueDepth, RegistryDocument, StatusNotice, StoreError,
    StoredMessage, SweepReport, TokenRecord,
};
use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName,
};
use time::{Duration, OffsetDateTime};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::blobs::{self, StoredAttachment};
use crate::codec::{
    Res, col, kind_text, mode_text, opt_stamp, opt_time_col, parse_hash, parse_id,
    parse_journal_kind, parse_kind, parse_mnemonic, parse_mode, parse_opt_id, parse_opt_mnemonic,
    parse_role, parse_state, parse_status, parse_u8, parse_u32, parse_u64, parse_version, stamp,
    time_col,
};
use crate::db::{execute, query, query_all, query_one, query_opt};
use crate::signals;

/// The detail of the notice sent when a message's EOL passes undelivered.
const EXPIRED_DETAILS: &str = "Срок доставки сообщения (EOL) истёк";

/// The advisory lock that serializes registry saves ("OSMV" and 2).
const REGISTRY_LOCK: i64 = 0x4F53_4D56_0000_0002;

/// The first key of the two-key advisory locks of queues ("OSMV"); the second is a hash of the
/// queue.
const QUEUE_LOCK: i32 = 0x4F53_4D56;

/// A message as loaded: the stored message (without attachments) and its attachment rows, which
/// the caller resolves (large ones through the cache).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) stored: StoredMessage,
    pub(crate) attachments: Vec<StoredAttachment>,
}

// ------------------------------------------------------------------------------------------------
// Writes

/// [`Store::enqueue`](opensmev_store::Store::enqueue), and with `request_status`
/// [`Store::enqueue_response`](opensmev_store::Store::enqueue_response). Anything but
/// `Accepted` must be rolled back by the caller (an exact quota check that fails comes after the
/// message's rows are written).
pub(crate) async fn enqueue<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    m: &NewMessage,
    status: InteractionStatus,
    quota: u64,
    request_status: Option<InteractionStatus>,
) -> Res<Enqueued> {
    if let Some(duplicate) = known(c, m).await? {
        return Ok(duplicate);
    }
    let kind = kind_text(m.kind);
    let recipient = m.recipient.as_str();
    // A first look at the quota, so that a full queue costs no upload.
    let depth = queue_depth(c, recipient, kind).await?;
    if depth >= quota {
        return Ok(Enqueued::QueueFull { depth });
    }

    let sent_at = stamp(m.sent_at)?;
    let eol = opt_stamp(m.eol)?;
    let priority = i16::from(m.priority.0);
    let share = share_col(m)?;
    let inserted = query_opt(
        c,
        "enqueue: insert message",
        "INSERT INTO messages (id, kind, sender, recipient, type_ns, type_local, vs_id, version,
             priority, delivery_mode, test_message, node_id, target_node_id, eol,
             transaction_code, reference_message_id, original_message_id, reply_to, sent_at,
             status, client_id, share)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19, $20, $21, $22)
         ON CONFLICT DO NOTHING
         RETURNING seq",
        &[
            &m.id.as_str(),
            &kind,
            &m.sender.as_str(),
            &recipient,
            &m.message_type.ns,
            &m.message_type.local,
            &m.vs_id,
            &m.version.as_str(),
            &priority,
            &mode_text(m.delivery_mode),
            &m.test_message,
            &m.node_id,
            &m.target_node_id,
            &eol,
            &m.transaction_code,
            &m.reference_message_id.as_ref().map(MessageId::as_str),
            &m.original_message_id.as_ref().map(MessageId::as_str),
            &m.reply_to,
            &sent_at,
            &status.code(),
            &m.client_id,
            &share,
        ],
    )
    .await?;
    let Some(row) = inserted else {
        // Another enqueue of the same id or client id committed since the first look (the
        // insert waited for it).
        return match known(c, m).await? {
            Some(duplicate) => Ok(duplicate),
            None => Err(StoreError::Backend(format!(
                "enqueue of {}: refused as a duplicate, but no message has its id or client id",
                m.id
            ))
            .into()),
        };
    };
    let seq: i64 = col(&row, "seq", &"messages")?;

    execute(
        c,
        "enqueue: insert body",
        "INSERT INTO message_bodies (message_seq, sender_data, sender_signature) VALUES ($1, $2, $3)",
        &[&seq, &m.sender_data, &m.sender_signature],
    )
    .await?;
    for (ord, attachment) in m.attachments.iter().enumerate() {
        let ord = i32::try_from(ord).map_err(|_| {
            StoreError::Backend(format!("enqueue of {}: too many attachments", m.id))
        })?;
        blobs::write(c, seq, ord, attachment).await?;
    }
    journal_add(
        c,
        node,
        seq,
        sent_at,
        Event {
            detail: Some(&format!("from {}", m.sender)),
            actor: Some(m.sender.as_str()),
            ..Event::new(JournalKind::Accepted)
        },
    )
    .await?;
    if m.kind == MessageKind::Response
        && let Some(original) = &m.original_message_id
        && let Some(request) = seq_of(c, original).await?
    {
        journal_add(
            c,
            node,
            request,
            sent_at,
            Event {
                detail: Some(&format!("response {}", m.id)),
                actor: Some(m.sender.as_str()),
                ..Event::new(JournalKind::Answered)
            },
        )
        .await?;
    }
    if let (Some(request), Some(request_status)) = (&m.original_message_id, request_status) {
        // The responder caused the request's new status.
        set_status(
            c,
            node,
            Some(m.sender.as_str()),
            request,
            request_status,
            None,
            m.sent_at,
        )
        .await?;
    }

    // The exact quota check and the message's place in fair order, under the queue's lock (held
    // until commit): enqueues into one queue, on any node, place their messages one at a time.
    execute(
        c,
        "enqueue: lock the queue",
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))",
        &[&QUEUE_LOCK, &recipient, &kind],
    )
    .await?;
    let depth = queue_depth(c, recipient, kind).await?;
    if depth >= quota {
        return Ok(Enqueued::QueueFull { depth });
    }
    let vtime = fair_place(c, recipient, kind, m.sender.as_str(), m.share).await?;
    execute(
        c,
        "enqueue: insert delivery",
        "INSERT INTO deliveries (message_seq, recipient, kind, type_ns, type_local, priority,
             target_node_id, eol, state, delivery_count, push, vtime)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10)",
        &[
            &seq,
            &recipient,
            &kind,
            &m.message_type.ns,
            &m.message_type.local,
            &priority,
            &m.target_node_id,
            &eol,
            &(m.delivery_mode == DeliveryMode::Push),
            &vtime,
        ],
    )
    .await?;
    add_pending(c, recipient, kind, &m.message_type, 1).await?;
    notify(c, recipient, m.kind, m.target_node_id.as_deref()).await?;
    Ok(Enqueued::Accepted { seq })
}

/// `m`'s share as stored (`messages.share`, an `integer`).
pub(crate) fn share_col(m: &NewMessage) -> Result<i32, StoreError> {
    i32::try_from(m.share).map_err(|_| {
        StoreError::Backend(format!(
            "message {}: share {} is out of range",
            m.id, m.share
        ))
    })
}

/// The start tag of a message of `sender` queued now for (`recipient`, `kind`), its sender's
/// finish tag recorded ([`opensmev_store::fair_tags`]). Only under the queue's advisory lock:
/// the tags it reads are then what the enqueues before it left.
async fn fair_place<C: GenericClient>(
    c: &C,
    recipient: &str,
    kind: &str,
    sender: &str,
    share: u32,
) -> Res<i64> {
    let what = "enqueue: fair order";
    let row = query_one(
        c,
        what,
        "SELECT min(vtime) AS queued_min FROM deliveries
         WHERE recipient = $1 AND kind = $2 AND state = 'queued'",
        &[&recipient, &kind],
    )
    .await?;
    let queued_min: Option<i64> = col(&row, "queued_min", &"deliveries")?;
    let senders_max: Option<i64> = match queued_min {
        Some(_) => None,
        None => {
            let row = query_one(
                c,
                what,
                "SELECT max(finish) AS senders_max FROM fair_tags
                 WHERE recipient = $1 AND kind = $2",
                &[&recipient, &kind],
            )
            .await?;
            col(&row, "senders_max", &"fair_tags")?
        }
    };
    let previous: Option<i64> = query_opt(
        c,
        what,
        "SELECT finish FROM fair_tags WHERE recipient = $1 AND kind = $2 AND sender = $3",
        &[&recipient, &kind, &sender],
    )
    .await?
    .map(|row| col(&row, "finish", &"fair_tags"))
    .transpose()?;
    let (start, finish) = opensmev_store::fair_tags(queued_min, senders_max, previous, share);
    execute(
        c,
        what,
        "INSERT INTO fair_tags (recipient, kind, sender, finish) VALUES ($1, $2, $3, $4)
         ON CONFLICT (recipient, kind, sender) DO UPDATE SET finish = excluded.finish",
        &[&recipient, &kind, &sender, &finish],
    )
    .await?;
    Ok(start)
}

/// The duplicate `m` would be: a known `MessageID` first, then a known client id of its sender.
async fn known<C: GenericClient>(c: &C, m: &NewMessage) -> Res<Option<Enqueued>> {
    let existing = query_opt(
        c,
        "enqueue: duplicate check",
        "SELECT seq, sender, sent_at FROM messages WHERE id = $1",
        &[&m.id.as_str()],
    )
    .await?;
    if let Some(row) = existing {
        let seq: i64 = col(&row, "seq", &"messages")?;
        let at = format!("messages seq {seq}");
        return Ok(Some(Enqueued::Duplicate {
            id: m.id.clone(),
            sender: parse_mnemonic(&col::<String>(&row, "sender", &at)?, &at)?,
            sent_at: time_col(&row, "sent_at", &at)?,
            by_client_id: false,
        }));
    }
    let Some(client_id) = &m.client_id else {
        return Ok(None);
    };
    let existing = query_opt(
        c,
        "enqueue: client id check",
        "SELECT seq, id, sent_at FROM messages WHERE client_id = $1 AND sender = $2",
        &[client_id, &m.sender.as_str()],
    )
    .await?;
    let Some(row) = existing else {
        return Ok(None);
    };
    let seq: i64 = col(&row, "seq", &"messages")?;
    let at = format!("messages seq {seq}");
    Ok(Some(Enqueued::Duplicate {
        id: parse_id(&col::<String>(&row, "id", &at)?, &at)?,
        sender: m.sender.clone(),
        sent_at: time_col(&row, "sent_at", &at)?,
        by_client_id: true,
    }))
}

/// Pending (queued or leased) deliveries of a queue.
async fn queue_depth<C: GenericClient>(c: &C, recipient: &str, kind: &str) -> Res<u64> {
    let row = query_one(
        c,
        "enqueue: quota check",
        "SELECT coalesce(sum(count), 0)::bigint AS depth FROM pending
         WHERE recipient = $1 AND kind = $2",
        &[&recipient, &kind],
    )
    .await?;
    Ok(parse_u64(col(&row, "depth", &"pending")?, &"pending")?)
}

async fn seq_of<C: GenericClient>(c: &C, id: &MessageId) -> Res<Option<i64>> {
    let row = query_opt(
        c,
        "finding a message",
        "SELECT seq FROM messages WHERE id = $1",
        &[&id.as_str()],
    )
    .await?;
    row.map(|r| col(&r, "seq", &"messages"))
        .transpose()
        .map_err(Into::into)
}

/// Signals the queue (sent at commit).
pub(crate) async fn notify<C: GenericClient>(
    c: &C,
    recipient: &str,
    kind: MessageKind,
    node: Option<&str>,
) -> Res<()> {
    let payload = signals::encode(recipient, kind, node);
    execute(
        c,
        "signalling the queue",
        "SELECT pg_notify($1, $2)",
        &[&signals::CHANNEL, &payload],
    )
    .await?;
    Ok(())
}

/// A delivery a poll may take.
#[derive(Debug)]
struct Candidate {
    seq: i64,
    priority: i16,
    /// The start tag (fair order).
    vtime: i64,
    target_node: Option<String>,
}

pub(crate) async fn lease_next<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    request: &LeaseRequest,
) -> Res<Option<Loaded>> {
    let now = stamp(request.now)?;
    let until = request.now.checked_add(request.lease).ok_or_else(|| {
        StoreError::Backend(format!(
            "lease_next: {} + {} is out of range",
            request.now, request.lease
        ))
    })?;
    let until = stamp(until)?;
    let recipient = request.recipient.as_str();
    let kind = kind_text(request.kind);

    expire_queue(c, node, recipient, kind, now).await?;

    // The best queued delivery and the best one whose lease ran out; the better of the two wins.
    // The other stays locked until commit (other pollers skip it meanwhile, and one may find the
    // queue empty and wait): the commit signals its queue, so such a poller looks again.
    // Ranked as each query orders them: priority (unless fair-first), start tag, seq.
    let queued = candidate(c, request, now, false).await?;
    let lapsed = candidate(c, request, now, true).await?;
    let rank = |c: &Candidate| {
        let priority = if request.fair_first { 0 } else { c.priority };
        (-i32::from(priority), c.vtime, c.seq)
    };
    let (best, held) = match (queued, lapsed) {
        (Some(q), Some(l)) if rank(&l) < rank(&q) => (l, Some(q)),
        (Some(q), Some(l)) => (q, Some(l)),
        (Some(one), None) | (None, Some(one)) => (one, None),
        (None, None) => return Ok(None),
    };
    if let Some(held) = held {
        notify(c, recipient, request.kind, held.target_node.as_deref()).await?;
    }
    let seq = best.seq;

    let row = query_one(
        c,
        "lease_next: lease",
        "UPDATE deliveries SET state = 'leased', lease_until = $3,
             delivery_count = delivery_count + 1,
             first_delivered_at = coalesce(first_delivered_at, $4)
         WHERE message_seq = $1 AND recipient = $2
         RETURNING delivery_count",
        &[&seq, &recipient, &until, &now],
    )
    .await?;
    let at = format!("deliveries seq {seq}");
    let count = parse_u32(col(&row, "delivery_count", &at)?, &at)?;
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
        c,
        node,
        seq,
        now,
        Event {
            detail: Some(&detail),
            actor: Some(recipient),
            attempt: Some(count),
            ..Event::new(event)
        },
    )
    .await?;
    load(c, By::Seq(seq)).await?.map(Some).ok_or_else(|| {
        StoreError::Corrupt(format!("lease_next: message seq {seq} vanished")).into()
    })
}

/// The query for the best delivery of a queue (`$1` recipient, `$2` kind, `$3` node, `$4` now,
/// then the type's `$5`/`$6` when typed), in priority order, then fair order (start tag `vtime`),
/// then `message_seq`; with `fair_first`, fair order alone. Queued ones are read in that order
/// from `deliveries_queue`, `deliveries_typed` or (fair first) `deliveries_fair`, or (`lapsed`)
/// leased ones whose lease ran out (few: found by `deliveries_leases` and sorted). A `push` lease takes push deliveries of any node (`$3` is
/// bound to NULL for it: it stays in the text, so that every parameter's type is known).
/// Locked, skipping rows other sessions hold. A delivery whose EOL passed is never a candidate:
/// the poll's expiry skips the ones other sessions hold, and such a one may be let go before
/// this query runs.
fn candidate_sql(typed: bool, lapsed: bool, push: bool, fair_first: bool) -> String {
    let typed_terms = if typed {
        "AND type_ns = $5 AND type_local = $6"
    } else {
        ""
    };
    let state = if lapsed {
        "state = 'leased' AND lease_until < $4"
    } else {
        "state = 'queued'"
    };
    let node = if push {
        "push AND $3::text IS NULL"
    } else {
        "(target_node_id IS NULL OR target_node_id = $3)"
    };
    let order = if fair_first {
        "vtime, message_seq"
    } else {
        "priority DESC, vtime, message_seq"
    };
    format!(
        "SELECT message_seq, priority, vtime, target_node_id FROM deliveries
         WHERE recipient = $1 AND kind = $2 AND {state} {typed_terms}
           AND {node}
           AND (eol IS NULL OR eol >= $4)
         ORDER BY {order}
         LIMIT 1
         FOR UPDATE SKIP LOCKED"
    )
}

/// Finds and locks the best delivery of the polled queue at `now` ([`candidate_sql`]): a queued
/// one, or with `lapsed` one whose lease ran out.
async fn candidate<C: GenericClient>(
    c: &C,
    request: &LeaseRequest,
    now: OffsetDateTime,
    lapsed: bool,
) -> Res<Option<Candidate>> {
    let sql = candidate_sql(
        request.message_type.is_some(),
        lapsed,
        request.push,
        request.fair_first,
    );
    let recipient = request.recipient.as_str();
    let kind = kind_text(request.kind);
    let node = if request.push {
        None
    } else {
        request.node_id.as_deref()
    };
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&recipient, &kind, &node, &now];
    if let Some(QName { ns, local }) = &request.message_type {
        params.push(ns);
        params.push(local);
    }
    let row = query_opt(c, "lease_next: find", &sql, &params).await?;
    match row {
        Some(row) => Ok(Some(Candidate {
            seq: col(&row, "message_seq", &"deliveries")?,
            priority: col(&row, "priority", &"deliveries")?,
            vtime: col(&row, "vtime", &"deliveries")?,
            target_node: col(&row, "target_node_id", &"deliveries")?,
        })),
        None => Ok(None),
    }
}

/// A pending delivery whose EOL passed.
#[derive(Debug)]
struct Expiring {
    seq: i64,
    id: String,
    sender: String,
    recipient: String,
    kind: String,
    message_type: QName,
}

fn expiring(row: &Row) -> Result<Expiring, StoreError> {
    let seq: i64 = col(row, "message_seq", &"deliveries")?;
    let at = format!("deliveries seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    Ok(Expiring {
        seq,
        id: col(row, "id", at)?,
        sender: col(row, "sender", at)?,
        recipient: col(row, "recipient", at)?,
        kind: col(row, "kind", at)?,
        message_type: QName {
            ns: col(row, "type_ns", at)?,
            local: col(row, "type_local", at)?,
        },
    })
}

/// Marks the polled queue's available deliveries whose EOL passed as expired (those other
/// pollers hold are left to them).
async fn expire_queue<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    recipient: &str,
    kind: &str,
    now: OffsetDateTime,
) -> Res<()> {
    let rows = query(
        c,
        "lease_next: find expired",
        "SELECT d.message_seq, m.id, m.sender, d.recipient, d.kind, d.type_ns, d.type_local
         FROM deliveries d JOIN messages m ON m.seq = d.message_seq
         WHERE d.recipient = $1 AND d.kind = $2 AND d.eol IS NOT NULL
           AND d.state IN ('queued', 'leased')
           AND d.eol < $3
           AND (d.state = 'queued' OR d.lease_until < $3)
         ORDER BY d.message_seq
         FOR UPDATE OF d SKIP LOCKED",
        &[&recipient, &kind, &now],
    )
    .await?;
    let expiring = rows.iter().map(expiring).collect::<Result<Vec<_>, _>>()?;
    expire(c, node, &expiring, now).await
}

/// Expires deliveries whose EOL passed: state `expired`, status `cancelled`, one `Expired`
/// journal event and a notice for the sender each; the pending counters last, in key order.
async fn expire<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    expiring: &[Expiring],
    now: OffsetDateTime,
) -> Res<()> {
    let mut counts: BTreeMap<(&str, &str, &str, &str), i64> = BTreeMap::new();
    for e in expiring {
        execute(
            c,
            "expire",
            "UPDATE deliveries SET state = 'expired', lease_until = NULL
             WHERE message_seq = $1 AND recipient = $2",
            &[&e.seq, &e.recipient],
        )
        .await?;
        execute(
            c,
            "expire",
            "UPDATE messages SET status = $2 WHERE seq = $1",
            &[&e.seq, &InteractionStatus::Cancelled.code()],
        )
        .await?;
        journal_add(
            c,
            node,
            e.seq,
            now,
            Event {
                detail: Some("EOL passed"),
                ..Event::new(JournalKind::Expired)
            },
        )
        .await?;
        notice_add(
            c,
            &e.sender,
            &e.id,
            InteractionStatus::Cancelled,
            Some(EXPIRED_DETAILS),
            now,
        )
        .await?;
        *counts
            .entry((
                &e.recipient,
                &e.kind,
                &e.message_type.ns,
                &e.message_type.local,
            ))
            .or_default() -= 1;
    }
    for ((recipient, kind, ns, local), delta) in counts {
        let message_type = QName {
            ns: ns.to_owned(),
            local: local.to_owned(),
        };
        add_pending(c, recipient, kind, &message_type, delta).await?;
    }
    Ok(())
}

pub(crate) async fn ack<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    recipient: &Mnemonic,
    id: &MessageId,
    accepted: bool,
    rule: AckRule,
    now: OffsetDateTime,
) -> Res<AckOutcome> {
    let found = query_opt(
        c,
        "ack: find",
        "SELECT m.seq, m.sender, d.kind, d.type_ns, d.type_local
         FROM messages m JOIN deliveries d ON d.message_seq = m.seq
         WHERE m.id = $1 AND d.recipient = $2 AND d.state = 'leased'
         FOR UPDATE OF d",
        &[&id.as_str(), &recipient.as_str()],
    )
    .await?;
    let Some(row) = found else {
        return Ok(AckOutcome::NotFound);
    };
    let delivery = leased(&row)?;
    let at = format!("deliveries seq {}", delivery.seq);
    let (status, notice) = rule(parse_kind(&delivery.kind, &at)?, accepted);
    acknowledge(
        c,
        node,
        (recipient, id),
        &delivery,
        (accepted, status, notice),
        stamp(now)?,
    )
    .await?;
    Ok(AckOutcome::Acked)
}

/// A leased delivery found (and locked) for an ack or a settled lease.
#[derive(Debug)]
struct Leased {
    seq: i64,
    sender: String,
    kind: String,
    message_type: QName,
}

/// Decodes the `seq`, `sender`, `kind`, `type_ns` and `type_local` of a found leased delivery.
fn leased(row: &Row) -> Result<Leased, StoreError> {
    let seq: i64 = col(row, "seq", &"messages")?;
    let at = format!("deliveries seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    Ok(Leased {
        seq,
        sender: col(row, "sender", at)?,
        kind: col(row, "kind", at)?,
        message_type: QName {
            ns: col(row, "type_ns", at)?,
            local: col(row, "type_local", at)?,
        },
    })
}

/// Acknowledges a found leased delivery of (`recipient`, `id`): (`accepted`, the new status,
/// the sender's notice).
async fn acknowledge<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    (recipient, id): (&Mnemonic, &MessageId),
    d: &Leased,
    (accepted, status, notice): (bool, InteractionStatus, Option<&str>),
    now: OffsetDateTime,
) -> Res<()> {
    let seq = d.seq;
    execute(
        c,
        "ack: update delivery",
        "UPDATE deliveries SET state = 'acked', acked_at = $3, accepted = $4, lease_until = NULL
         WHERE message_seq = $1 AND recipient = $2",
        &[&seq, &recipient.as_str(), &now, &accepted],
    )
    .await?;
    execute(
        c,
        "ack: update status",
        "UPDATE messages SET status = $2 WHERE seq = $1",
        &[&seq, &status.code()],
    )
    .await?;
    let event = if accepted {
        JournalKind::Acked
    } else {
        JournalKind::Refused
    };
    journal_add(
        c,
        node,
        seq,
        now,
        Event {
            detail: Some(&format!("by {recipient}, status {}", status.code())),
            actor: Some(recipient.as_str()),
            ..Event::new(event)
        },
    )
    .await?;
    if let Some(details) = notice {
        notice_add(c, &d.sender, id.as_str(), status, Some(details), now).await?;
    }
    add_pending(c, recipient.as_str(), &d.kind, &d.message_type, -1).await?;
    Ok(())
}

/// [`Store::settle_lease`](opensmev_store::Store::settle_lease).
pub(crate) async fn settle_lease<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    recipient: &Mnemonic,
    id: &MessageId,
    delivery_count: u32,
    outcome: &LeaseOutcome,
    now: OffsetDateTime,
) -> Res<bool> {
    let found = query_opt(
        c,
        "settle_lease: find",
        "SELECT m.seq, m.sender, d.kind, d.type_ns, d.type_local, d.target_node_id
         FROM messages m JOIN deliveries d ON d.message_seq = m.seq
         WHERE m.id = $1 AND d.recipient = $2 AND d.state = 'leased' AND d.delivery_count = $3
         FOR UPDATE OF d",
        &[
            &id.as_str(),
            &recipient.as_str(),
            &i64::from(delivery_count),
        ],
    )
    .await?;
    let Some(row) = found else {
        return Ok(false);
    };
    let delivery = leased(&row)?;
    let seq = delivery.seq;
    let at = format!("deliveries seq {seq}");
    let target_node: Option<String> = col(&row, "target_node_id", &at)?;
    let now = stamp(now)?;
    match outcome {
        LeaseOutcome::Release => {
            execute(
                c,
                "settle_lease: release",
                "UPDATE deliveries SET state = 'queued', lease_until = NULL
                 WHERE message_seq = $1 AND recipient = $2",
                &[&seq, &recipient.as_str()],
            )
            .await?;
            journal_add(
                c,
                node,
                seq,
                now,
                Event {
                    actor: Some(recipient.as_str()),
                    attempt: Some(delivery_count),
                    ..Event::new(JournalKind::Released)
                },
            )
            .await?;
            notify(
                c,
                recipient.as_str(),
                parse_kind(&delivery.kind, &at)?,
                target_node.as_deref(),
            )
            .await?;
        }
        LeaseOutcome::Undeliverable { reason, notice } => {
            execute(
                c,
                "settle_lease: undeliverable",
                "UPDATE deliveries SET state = 'undeliverable', lease_until = NULL
                 WHERE message_seq = $1 AND recipient = $2",
                &[&seq, &recipient.as_str()],
            )
            .await?;
            execute(
                c,
                "settle_lease: status",
                "UPDATE messages SET status = $2 WHERE seq = $1",
                &[&seq, &InteractionStatus::Cancelled.code()],
            )
            .await?;
            journal_add(
                c,
                node,
                seq,
                now,
                Event {
                    detail: Some(reason),
                    ..Event::new(JournalKind::Undeliverable)
                },
            )
            .await?;
            notice_add(
                c,
                &delivery.sender,
                id.as_str(),
                InteractionStatus::Cancelled,
                Some(notice),
                now,
            )
            .await?;
            add_pending(
                c,
                recipient.as_str(),
                &delivery.kind,
                &delivery.message_type,
                -1,
            )
            .await?;
        }
        LeaseOutcome::Pushed { detail, ack } => {
            push_attempt(c, node, seq, recipient, delivery_count, detail, now).await?;
            if let Some(ack) = ack {
                acknowledge(
                    c,
                    node,
                    (recipient, id),
                    &delivery,
                    (true, ack.status, ack.notice.as_deref()),
                    now,
                )
                .await?;
            }
        }
        LeaseOutcome::Retry { detail, until } => {
            let until = stamp(*until)?;
            execute(
                c,
                "settle_lease: retry",
                "UPDATE deliveries SET lease_until = $3 WHERE message_seq = $1 AND recipient = $2",
                &[&seq, &recipient.as_str(), &until],
            )
            .await?;
            push_attempt(c, node, seq, recipient, delivery_count, detail, now).await?;
        }
        LeaseOutcome::DeadLetter { detail, reason } => {
            execute(
                c,
                "settle_lease: dead letter",
                "UPDATE deliveries SET state = 'dead', lease_until = NULL, dead_at = $3,
                     dead_reason = $4
                 WHERE message_seq = $1 AND recipient = $2",
                &[&seq, &recipient.as_str(), &now, reason],
            )
            .await?;
            push_attempt(c, node, seq, recipient, delivery_count, detail, now).await?;
            journal_add(
                c,
                node,
                seq,
                now,
                Event {
                    detail: Some(reason),
                    ..Event::new(JournalKind::DeadLettered)
                },
            )
            .await?;
            add_pending(
                c,
                recipient.as_str(),
                &delivery.kind,
                &delivery.message_type,
                -1,
            )
            .await?;
        }
    }
    Ok(true)
}

/// Journals the end of push attempt `attempt` to `recipient`.
async fn push_attempt<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    seq: i64,
    recipient: &Mnemonic,
    attempt: u32,
    detail: &str,
    now: OffsetDateTime,
) -> Res<()> {
    journal_add(
        c,
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
    .await
}

/// The dead letters' columns, for [`decode_dead_letter`].
const DEAD_COLUMNS: &str = "SELECT d.message_seq, m.id, d.kind, m.sender, d.recipient, m.vs_id,
        d.type_ns, d.type_local, m.sent_at, d.dead_at, d.delivery_count, d.dead_reason
    FROM deliveries d JOIN messages m ON m.seq = d.message_seq";

/// The `WHERE` of a dead-letter query and its parameters, each value a bound parameter;
/// `paged` adds the cursor.
fn dead_where(q: &DeadLetterQuery, paged: bool) -> Result<(String, Vec<Param>), StoreError> {
    let mut sql = String::from(" WHERE d.state = 'dead'");
    let mut args: Vec<Param> = Vec::new();
    let mut add = |clause: &str, value: Param| {
        args.push(value);
        sql.push_str(&format!(" AND {clause} ${}", args.len()));
    };
    let text = |t: &str| -> Param { Box::new(t.to_owned()) };
    if let Some(id) = &q.id {
        add("m.id =", text(id.as_str()));
    }
    if let Some(recipient) = &q.recipient {
        add("d.recipient =", text(recipient.as_str()));
    }
    if let Some(sender) = &q.sender {
        add("m.sender =", text(sender.as_str()));
    }
    if let Some(vs_id) = &q.vs_id {
        add("m.vs_id =", text(vs_id));
    }
    if let Some(from) = q.dead_from {
        add("d.dead_at >=", Box::new(stamp(from)?));
    }
    if let Some(to) = q.dead_to {
        add("d.dead_at <", Box::new(stamp(to)?));
    }
    if paged && let Some(before) = q.before_seq {
        add("d.message_seq <", Box::new(before));
    }
    Ok((sql, args))
}

/// [`Store::dead_letters`](opensmev_store::Store::dead_letters).
pub(crate) async fn dead_letters<C: GenericClient>(
    c: &C,
    q: &DeadLetterQuery,
) -> Res<Vec<DeadLetter>> {
    let (filter, mut args) = dead_where(q, true)?;
    args.push(Box::new(i64::from(q.limit.max(1))));
    let sql = format!(
        "{DEAD_COLUMNS}{filter} ORDER BY d.message_seq DESC LIMIT ${}",
        args.len()
    );
    query_all(c, "dead_letters", &sql, &borrow(&args), decode_dead_letter).await
}

fn decode_dead_letter(row: &Row) -> Result<DeadLetter, StoreError> {
    let seq: i64 = col(row, "message_seq", &"deliveries")?;
    let at = format!("dead letter seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    let text = |name| col::<String>(row, name, at);
    Ok(DeadLetter {
        seq,
        id: parse_id(&text("id")?, at)?,
        kind: parse_kind(&text("kind")?, at)?,
        sender: parse_mnemonic(&text("sender")?, at)?,
        recipient: parse_mnemonic(&text("recipient")?, at)?,
        vs_id: text("vs_id")?,
        message_type: QName {
            ns: text("type_ns")?,
            local: text("type_local")?,
        },
        sent_at: time_col(row, "sent_at", at)?,
        dead_at: opt_time_col(row, "dead_at", at)?
            .ok_or_else(|| StoreError::Corrupt(format!("{at}: no time of death")))?,
        attempts: parse_u32(col(row, "delivery_count", at)?, at)?,
        reason: col::<Option<String>>(row, "dead_reason", at)?.unwrap_or_default(),
    })
}

/// [`Store::replay_dead_letters`](opensmev_store::Store::replay_dead_letters): how many were
/// queued again. Each queue replayed into is signalled once (at commit), for any node; the
/// pending counters change last, in key order.
pub(crate) async fn replay_dead_letters<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    q: &DeadLetterQuery,
    actor: Option<&str>,
    now: OffsetDateTime,
) -> Res<u64> {
    let (filter, args) = dead_where(q, false)?;
    // A replay running at the same time waits for these locks, then skips what this one
    // replayed (it is no longer dead).
    let rows = query(
        c,
        "replay_dead_letters: find",
        &format!(
            "SELECT d.message_seq, d.recipient, d.kind, d.type_ns, d.type_local
             FROM deliveries d JOIN messages m ON m.seq = d.message_seq{filter}
             ORDER BY d.message_seq
             FOR UPDATE OF d"
        ),
        &borrow(&args),
    )
    .await?;
    // (seq, (recipient, kind, type namespace, type local name)) of each letter.
    let found = rows
        .iter()
        .map(|row| {
            let seq: i64 = col(row, "message_seq", &"deliveries")?;
            let at = format!("deliveries seq {seq}");
            let at = &at as &dyn std::fmt::Display;
            let queue: (String, String, String, String) = (
                col(row, "recipient", at)?,
                col(row, "kind", at)?,
                col(row, "type_ns", at)?,
                col(row, "type_local", at)?,
            );
            Ok((seq, queue))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let now = stamp(now)?;
    let mut counts: BTreeMap<&(String, String, String, String), i64> = BTreeMap::new();
    for (seq, queue) in &found {
        execute(
            c,
            "replay_dead_letters: queue",
            "UPDATE deliveries SET state = 'queued', lease_until = NULL, delivery_count = 0,
                 first_delivered_at = NULL, dead_at = NULL, dead_reason = NULL
             WHERE message_seq = $1 AND recipient = $2",
            &[seq, &queue.0],
        )
        .await?;
        journal_add(
            c,
            node,
            *seq,
            now,
            Event {
                actor,
                ..Event::new(JournalKind::Replayed)
            },
        )
        .await?;
        *counts.entry(queue).or_default() += 1;
    }
    let mut queues = BTreeSet::new();
    for ((recipient, kind, ns, local), delta) in &counts {
        let message_type = QName {
            ns: ns.clone(),
            local: local.clone(),
        };
        add_pending(c, recipient, kind, &message_type, *delta).await?;
        queues.insert((recipient.as_str(), kind.as_str()));
    }
    for (recipient, kind) in queues {
        notify(c, recipient, parse_kind(kind, &"deliveries")?, None).await?;
    }
    Ok(found.len() as u64)
}

/// [`Store::set_status`](opensmev_store::Store::set_status); `actor` is the information system
/// that caused the change, when known (the responder whose response changes its request).
pub(crate) async fn set_status<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    actor: Option<&str>,
    id: &MessageId,
    status: InteractionStatus,
    notice: Option<&str>,
    now: OffsetDateTime,
) -> Res<bool> {
    let now = stamp(now)?;
    let found = query_opt(
        c,
        "set_status",
        "UPDATE messages SET status = $2 WHERE id = $1 RETURNING seq, sender",
        &[&id.as_str(), &status.code()],
    )
    .await?;
    let Some(row) = found else {
        return Ok(false);
    };
    let seq: i64 = col(&row, "seq", &"messages")?;
    let sender: String = col(&row, "sender", &"messages")?;
    journal_add(
        c,
        node,
        seq,
        now,
        Event {
            detail: Some(status.code()),
            actor,
            ..Event::new(JournalKind::StatusChanged)
        },
    )
    .await?;
    if let Some(details) = notice {
        notice_add(c, &sender, id.as_str(), status, Some(details), now).await?;
    }
    Ok(true)
}

const NOTICE_COLUMNS: &str = "seq, recipient, original_message_id, status, details, created_at";

fn decode_notice(row: &Row) -> Result<StatusNotice, StoreError> {
    let seq: i64 = col(row, "seq", &"status_notices")?;
    let at = format!("status_notices seq {seq}");
    Ok(StatusNotice {
        seq,
        recipient: parse_mnemonic(&col::<String>(row, "recipient", &at)?, &at)?,
        original_message_id: parse_id(&col::<String>(row, "original_message_id", &at)?, &at)?,
        status: parse_status(&col::<String>(row, "status", &at)?, &at)?,
        details: col(row, "details", &at)?,
        created_at: time_col(row, "created_at", &at)?,
    })
}

pub(crate) async fn take_status_notice<C: GenericClient>(
    c: &C,
    recipient: &Mnemonic,
) -> Res<Option<StatusNotice>> {
    let row = query_opt(
        c,
        "take_status_notice",
        &format!(
            "DELETE FROM status_notices
             WHERE seq = (SELECT seq FROM status_notices WHERE recipient = $1
                          ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING {NOTICE_COLUMNS}"
        ),
        &[&recipient.as_str()],
    )
    .await?;
    Ok(row.map(|r| decode_notice(&r)).transpose()?)
}

pub(crate) async fn save_registry<C: GenericClient>(
    c: &C,
    text: &str,
    expected: Option<u64>,
    force: bool,
    now: OffsetDateTime,
    audit: Option<&NewAuditEntry>,
) -> Res<RegistryDocument> {
    execute(
        c,
        "save_registry: lock",
        "SELECT pg_advisory_xact_lock($1)",
        &[&REGISTRY_LOCK],
    )
    .await?;
    let row = query_one(
        c,
        "save_registry: current version",
        "SELECT max(version) AS version FROM registry_versions",
        &[],
    )
    .await?;
    let current: Option<i64> = col(&row, "version", &"registry_versions")?;
    let current = current
        .map(|v| parse_u64(v, &"registry_versions"))
        .transpose()?;
    if !force && expected != current {
        return Err(StoreError::RegistryConflict {
            current: current.unwrap_or(0),
        }
        .into());
    }
    let version = current.unwrap_or(0) + 1;
    let stored_version = i64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("registry version {version} overflows")))?;
    let saved_at = stamp(now)?;
    execute(
        c,
        "save_registry: insert",
        "INSERT INTO registry_versions (version, text, saved_at) VALUES ($1, $2, $3)",
        &[&stored_version, &text, &saved_at],
    )
    .await?;
    if let Some(entry) = audit {
        audit_add(c, entry).await?;
    }
    Ok(RegistryDocument {
        version,
        text: text.to_owned(),
        saved_at: now,
    })
}

/// Appends an audit entry; its `seq`.
pub(crate) async fn audit_add<C: GenericClient>(c: &C, entry: &NewAuditEntry) -> Res<i64> {
    let at = stamp(entry.at)?;
    let row = query_one(
        c,
        "audit",
        "INSERT INTO audit (at, actor, action, target, detail)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING seq",
        &[
            &at,
            &entry.actor,
            &entry.action,
            &entry.target,
            &entry.detail,
        ],
    )
    .await?;
    Ok(col(&row, "seq", &"audit")?)
}

pub(crate) async fn create_token<C: GenericClient>(
    c: &C,
    token: &TokenRecord,
    audit: &NewAuditEntry,
) -> Res<()> {
    let by_id = query_opt(
        c,
        "create_token: uniqueness",
        "SELECT 1 FROM tokens WHERE id = $1",
        &[&token.id],
    )
    .await?;
    if by_id.is_some() {
        return Err(StoreError::Exists(format!("token {}", token.id)).into());
    }
    let by_hash = query_opt(
        c,
        "create_token: uniqueness",
        "SELECT 1 FROM tokens WHERE secret_hash = $1",
        &[&token.secret_hash.as_slice()],
    )
    .await?;
    if by_hash.is_some() {
        return Err(StoreError::Exists("a token with this secret hash".to_owned()).into());
    }
    insert_token(c, token).await?;
    audit_add(c, audit).await?;
    Ok(())
}

/// Inserts a token (a known id or secret hash, found by the unique indexes — another node may
/// have created it since a check — is [`StoreError::Exists`]).
pub(crate) async fn insert_token<C: GenericClient>(c: &C, token: &TokenRecord) -> Res<()> {
    let created_at = stamp(token.created_at)?;
    let expires_at = opt_stamp(token.expires_at)?;
    let revoked_at = opt_stamp(token.revoked_at)?;
    let inserted = execute(
        c,
        "create_token",
        "INSERT INTO tokens (id, secret_hash, name, role, system, account, created_by, created_at,
             expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &token.id,
            &token.secret_hash.as_slice(),
            &token.name,
            &token.role.code(),
            &token.system.as_ref().map(Mnemonic::as_str),
            &token.account,
            &token.created_by,
            &created_at,
            &expires_at,
            &revoked_at,
        ],
    )
    .await;
    match inserted {
        Err(fail) if fail.unique() => {
            Err(StoreError::Exists(format!("token {} (or its secret hash)", token.id)).into())
        }
        other => other.map(drop),
    }
}

pub(crate) async fn revoke_token<C: GenericClient>(
    c: &C,
    id: &str,
    now: OffsetDateTime,
    audit: &NewAuditEntry,
) -> Res<bool> {
    let now = stamp(now)?;
    let changed = execute(
        c,
        "revoke_token",
        "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &[&id, &now],
    )
    .await?;
    if changed == 0 {
        return Ok(false);
    }
    audit_add(c, audit).await?;
    Ok(true)
}

pub(crate) async fn create_account<C: GenericClient>(
    c: &C,
    account: &Account,
    audit: &NewAuditEntry,
) -> Res<()> {
    let exists = query_opt(
        c,
        "create_account: uniqueness",
        "SELECT 1 FROM accounts WHERE login = $1",
        &[&account.login],
    )
    .await?
    .is_some();
    if exists {
        return Err(StoreError::Exists(format!("account {}", account.login)).into());
    }
    insert_account(c, account).await?;
    audit_add(c, audit).await?;
    Ok(())
}

/// Inserts an account (a known login is [`StoreError::Exists`]).
pub(crate) async fn insert_account<C: GenericClient>(c: &C, account: &Account) -> Res<()> {
    let created_at = stamp(account.created_at)?;
    let inserted = execute(
        c,
        "create_account",
        "INSERT INTO accounts (login, name, role, system, password_hash, must_change_password,
             disabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &account.login,
            &account.name,
            &account.role.code(),
            &account.system.as_ref().map(Mnemonic::as_str),
            &account.password_hash,
            &account.must_change_password,
            &account.disabled,
            &created_at,
        ],
    )
    .await;
    match inserted {
        Err(fail) if fail.unique() => {
            Err(StoreError::Exists(format!("account {}", account.login)).into())
        }
        other => other.map(drop),
    }
}

pub(crate) async fn update_account<C: GenericClient>(
    c: &C,
    account: &Account,
    audit: &NewAuditEntry,
) -> Res<bool> {
    let created_at = stamp(account.created_at)?;
    let changed = execute(
        c,
        "update_account",
        "UPDATE accounts SET name = $2, role = $3, system = $4, password_hash = $5,
             must_change_password = $6, disabled = $7, created_at = $8
         WHERE login = $1",
        &[
            &account.login,
            &account.name,
            &account.role.code(),
            &account.system.as_ref().map(Mnemonic::as_str),
            &account.password_hash,
            &account.must_change_password,
            &account.disabled,
            &created_at,
        ],
    )
    .await?;
    if changed == 0 {
        return Ok(false);
    }
    audit_add(c, audit).await?;
    Ok(true)
}

/// Adds `delta` to the pending count of a queue and type.
pub(crate) async fn add_pending<C: GenericClient>(
    c: &C,
    recipient: &str,
    kind: &str,
    t: &QName,
    delta: i64,
) -> Res<()> {
    execute(
        c,
        "updating pending counts",
        "INSERT INTO pending (recipient, kind, type_ns, type_local, count) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (recipient, kind, type_ns, type_local)
         DO UPDATE SET count = pending.count + excluded.count",
        &[&recipient, &kind, &t.ns, &t.local, &delta],
    )
    .await?;
    Ok(())
}

/// A journal event to record (apart from its message, time and node).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event<'a> {
    pub(crate) kind: JournalKind,
    pub(crate) detail: Option<&'a str>,
    pub(crate) actor: Option<&'a str>,
    pub(crate) attempt: Option<u32>,
}

impl Event<'_> {
    pub(crate) fn new(kind: JournalKind) -> Self {
        Event {
            kind,
            detail: None,
            actor: None,
            attempt: None,
        }
    }
}

pub(crate) async fn journal_add<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    seq: i64,
    at: OffsetDateTime,
    event: Event<'_>,
) -> Res<()> {
    execute(
        c,
        "journal",
        "INSERT INTO journal (message_seq, at, kind, detail, node, actor, attempt)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &seq,
            &at,
            &event.kind.code(),
            &event.detail,
            &node,
            &event.actor,
            &event.attempt.map(i64::from),
        ],
    )
    .await?;
    Ok(())
}

async fn notice_add<C: GenericClient>(
    c: &C,
    recipient: &str,
    original: &str,
    status: InteractionStatus,
    details: Option<&str>,
    now: OffsetDateTime,
) -> Res<()> {
    execute(
        c,
        "status notice",
        "INSERT INTO status_notices (recipient, original_message_id, status, details, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[&recipient, &original, &status.code(), &details, &now],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Background jobs

fn claim_until(now: OffsetDateTime, ttl: Duration) -> Result<OffsetDateTime, StoreError> {
    let until = now
        .checked_add(ttl)
        .ok_or_else(|| StoreError::Backend(format!("claim_job: {now} + {ttl} is out of range")))?;
    stamp(until)
}

pub(crate) async fn claim_job<C: GenericClient>(
    c: &C,
    job: &str,
    holder: &str,
    ttl: Duration,
    now: OffsetDateTime,
) -> Res<Option<JobClaim>> {
    let until = claim_until(now, ttl)?;
    let now = stamp(now)?;
    execute(
        c,
        "claim_job: create",
        "INSERT INTO jobs (name, fence) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
        &[&job],
    )
    .await?;
    let row = query_one(
        c,
        "claim_job: lock",
        "SELECT holder, fence, until FROM jobs WHERE name = $1 FOR UPDATE",
        &[&job],
    )
    .await?;
    let at = format!("jobs {job:?}");
    let current: Option<String> = col(&row, "holder", &at)?;
    let fence: i64 = col(&row, "fence", &at)?;
    let current_until = opt_time_col(&row, "until", &at)?;
    let fence = match (current.as_deref(), current_until) {
        // A renewal keeps the fence.
        (Some(h), _) if h == holder => fence,
        // Free, or the other holder's claim ran out: a new holder, a higher fence.
        (None, _) => fence + 1,
        (Some(_), Some(until)) if now > until => fence + 1,
        (Some(_), None) => fence + 1,
        (Some(_), Some(_)) => return Ok(None),
    };
    execute(
        c,
        "claim_job: claim",
        "UPDATE jobs SET holder = $2, fence = $3, until = $4 WHERE name = $1",
        &[&job, &holder, &fence, &until],
    )
    .await?;
    Ok(Some(JobClaim {
        job: job.to_owned(),
        holder: holder.to_owned(),
        fence,
        until,
    }))
}

pub(crate) async fn release_job<C: GenericClient>(c: &C, claim: &JobClaim) -> Res<bool> {
    let changed = execute(
        c,
        "release_job",
        "UPDATE jobs SET holder = NULL, until = NULL
         WHERE name = $1 AND holder = $2 AND fence = $3",
        &[&claim.job, &claim.holder, &claim.fence],
    )
    .await?;
    Ok(changed > 0)
}

pub(crate) async fn sweep<C: GenericClient>(
    c: &C,
    node: Option<&str>,
    claim: &JobClaim,
    now: OffsetDateTime,
    limit: usize,
) -> Res<SweepReport> {
    let lost = || -> crate::codec::Fail {
        StoreError::LostClaim {
            job: claim.job.clone(),
            fence: claim.fence,
        }
        .into()
    };
    let row = query_opt(
        c,
        "sweep: lock the job",
        "SELECT holder, fence, until, last_sweep FROM jobs
         WHERE name = $1 FOR UPDATE",
        &[&claim.job],
    )
    .await?
    .ok_or_else(lost)?;
    let at = format!("jobs {:?}", claim.job);
    let holder: Option<String> = col(&row, "holder", &at)?;
    let fence: i64 = col(&row, "fence", &at)?;
    let until = opt_time_col(&row, "until", &at)?;
    let last_sweep = opt_time_col(&row, "last_sweep", &at)?;
    let stamped = stamp(now)?;
    let current = holder.as_deref() == Some(claim.holder.as_str())
        && fence == claim.fence
        && until.is_some_and(|until| stamped <= until);
    if !current {
        return Err(lost());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query(
        c,
        "sweep: find expired",
        "SELECT d.message_seq, m.id, m.sender, d.recipient, d.kind, d.type_ns, d.type_local
         FROM deliveries d JOIN messages m ON m.seq = d.message_seq
         WHERE d.eol IS NOT NULL AND d.state IN ('queued', 'leased')
           AND d.eol < $1
           AND (d.state = 'queued' OR d.lease_until < $1)
         ORDER BY d.eol, d.message_seq
         LIMIT $2
         FOR UPDATE OF d SKIP LOCKED",
        &[&stamped, &limit],
    )
    .await?;
    let expiring = rows.iter().map(expiring).collect::<Result<Vec<_>, _>>()?;
    expire(c, node, &expiring, stamped).await?;

    let since = opt_stamp(last_sweep)?;
    let rows = query(
        c,
        "sweep: find run-out leases",
        "SELECT recipient, kind, target_node_id, count(*) AS leases FROM deliveries
         WHERE state = 'leased' AND lease_until < $1
           AND ($2::timestamptz IS NULL OR lease_until >= $2::timestamptz)
         GROUP BY recipient, kind, target_node_id
         ORDER BY recipient, kind, target_node_id",
        &[&stamped, &since],
    )
    .await?;
    let mut leases_run_out = 0u64;
    for row in &rows {
        let recipient: String = col(row, "recipient", &"deliveries")?;
        let kind = parse_kind(&col::<String>(row, "kind", &"deliveries")?, &"deliveries")?;
        let target: Option<String> = col(row, "target_node_id", &"deliveries")?;
        leases_run_out += parse_u64(col(row, "leases", &"deliveries")?, &"deliveries")?;
        notify(c, &recipient, kind, target.as_deref()).await?;
    }
    execute(
        c,
        "sweep: record",
        "UPDATE jobs SET last_sweep = $2 WHERE name = $1",
        &[&claim.job, &stamped],
    )
    .await?;
    Ok(SweepReport {
        expired: expiring.len() as u64,
        leases_run_out,
    })
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

pub(crate) const LOAD_COLUMNS: &str = "SELECT m.seq, m.id, m.kind, m.sender, m.recipient,
        m.type_ns, m.type_local, m.vs_id, m.version, m.priority, m.delivery_mode, m.test_message,
        m.node_id, m.target_node_id, m.eol, m.transaction_code, m.reference_message_id,
        m.original_message_id, m.reply_to, m.sent_at, m.status, m.client_id, m.share,
        b.sender_data, b.sender_signature,
        d.state, d.delivery_count, d.lease_until, d.first_delivered_at, d.acked_at, d.accepted
    FROM messages m
    LEFT JOIN message_bodies b ON b.message_seq = m.seq
    LEFT JOIN deliveries d ON d.message_seq = m.seq AND d.recipient = m.recipient";

/// A message with its body, attachment rows and delivery (to its recipient).
pub(crate) async fn load<C: GenericClient>(c: &C, by: By<'_>) -> Res<Option<Loaded>> {
    let row = match by {
        By::Id(id) => {
            query_opt(
                c,
                "loading a message",
                &format!("{LOAD_COLUMNS} WHERE m.id = $1"),
                &[&id.as_str()],
            )
            .await?
        }
        By::Seq(seq) => {
            query_opt(
                c,
                "loading a message",
                &format!("{LOAD_COLUMNS} WHERE m.seq = $1"),
                &[&seq],
            )
            .await?
        }
        By::ClientId(sender, client_id) => {
            query_opt(
                c,
                "loading a message",
                &format!("{LOAD_COLUMNS} WHERE m.client_id = $1 AND m.sender = $2"),
                &[&client_id, &sender.as_str()],
            )
            .await?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let stored = decode(&row)?;
    let attachments = blobs::read_rows(c, stored.seq).await?;
    Ok(Some(Loaded {
        stored,
        attachments,
    }))
}

/// Decodes a row of [`LOAD_COLUMNS`] (attachments left empty).
pub(crate) fn decode(row: &Row) -> Result<StoredMessage, StoreError> {
    let seq: i64 = col(row, "seq", &"messages")?;
    let at = format!("messages seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    let text = |name| col::<String>(row, name, at);
    let opt_text = |name| col::<Option<String>>(row, name, at);
    let message = NewMessage {
        id: parse_id(&text("id")?, at)?,
        kind: parse_kind(&text("kind")?, at)?,
        sender: parse_mnemonic(&text("sender")?, at)?,
        recipient: parse_mnemonic(&text("recipient")?, at)?,
        message_type: QName {
            ns: text("type_ns")?,
            local: text("type_local")?,
        },
        vs_id: text("vs_id")?,
        version: parse_version(&text("version")?, at)?,
        priority: Priority(parse_u8(col(row, "priority", at)?, at)?),
        share: parse_u32(i64::from(col::<i32>(row, "share", at)?), at)?,
        delivery_mode: parse_mode(&text("delivery_mode")?, at)?,
        test_message: col(row, "test_message", at)?,
        node_id: opt_text("node_id")?,
        target_node_id: opt_text("target_node_id")?,
        eol: opt_time_col(row, "eol", at)?,
        transaction_code: opt_text("transaction_code")?,
        reference_message_id: parse_opt_id(opt_text("reference_message_id")?, at)?,
        original_message_id: parse_opt_id(opt_text("original_message_id")?, at)?,
        reply_to: opt_text("reply_to")?,
        sent_at: time_col(row, "sent_at", at)?,
        sender_data: opt_text("sender_data")?
            .ok_or_else(|| StoreError::Corrupt(format!("{at}: the body is missing")))?,
        sender_signature: opt_text("sender_signature")?,
        attachments: Vec::new(),
        client_id: opt_text("client_id")?,
    };
    let status = parse_status(&text("status")?, at)?;
    let state = opt_text("state")?
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: the delivery is missing")))?;
    Ok(StoredMessage {
        seq,
        message,
        state: parse_state(&state, at)?,
        delivery_count: parse_u32(col(row, "delivery_count", at)?, at)?,
        lease_until: opt_time_col(row, "lease_until", at)?,
        first_delivered_at: opt_time_col(row, "first_delivered_at", at)?,
        acked_at: opt_time_col(row, "acked_at", at)?,
        accepted: col(row, "accepted", at)?,
        status,
    })
}

const JOURNAL_COLUMNS: &str = "j.seq, j.at, j.kind, j.detail, j.node, j.actor, j.attempt";

fn decode_journal(row: &Row) -> Result<JournalEvent, StoreError> {
    let seq: i64 = col(row, "seq", &"journal")?;
    let at = format!("journal seq {seq}");
    Ok(JournalEvent {
        at: time_col(row, "at", &at)?,
        kind: parse_journal_kind(&col::<String>(row, "kind", &at)?, &at)?,
        detail: col(row, "detail", &at)?,
        node: col(row, "node", &at)?,
        actor: col(row, "actor", &at)?,
        attempt: col::<Option<i64>>(row, "attempt", &at)?
            .map(|v| parse_u32(v, &at))
            .transpose()?,
    })
}

pub(crate) async fn journal<C: GenericClient>(c: &C, id: &MessageId) -> Res<Vec<JournalEvent>> {
    query_all(
        c,
        "journal",
        &format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal j JOIN messages m ON m.seq = j.message_seq
             WHERE m.id = $1 ORDER BY j.seq"
        ),
        &[&id.as_str()],
        decode_journal,
    )
    .await
}

/// The journal of message `seq`, oldest first.
pub(crate) async fn journal_of<C: GenericClient>(c: &C, seq: i64) -> Res<Vec<JournalEvent>> {
    query_all(
        c,
        "journal",
        &format!("SELECT {JOURNAL_COLUMNS} FROM journal j WHERE j.message_seq = $1 ORDER BY j.seq"),
        &[&seq],
        decode_journal,
    )
    .await
}

pub(crate) async fn queue_depths<C: GenericClient>(
    c: &C,
    recipient: &Mnemonic,
) -> Res<Vec<QueueDepth>> {
    let rows = query(
        c,
        "queue_depths",
        "SELECT kind, type_ns, type_local, count FROM pending WHERE recipient = $1 AND count > 0
         ORDER BY kind, type_ns COLLATE \"C\", type_local COLLATE \"C\"",
        &[&recipient.as_str()],
    )
    .await?;
    let at = format!("pending of {recipient}");
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(QueueDepth {
            kind: parse_kind(&col::<String>(row, "kind", &at)?, &at)?,
            message_type: QName {
                ns: col(row, "type_ns", &at)?,
                local: col(row, "type_local", &at)?,
            },
            pending: parse_u64(col(row, "count", &at)?, &at)?,
        });
    }
    Ok(out)
}

fn decode_registry(row: &Row) -> Result<RegistryDocument, StoreError> {
    let version: i64 = col(row, "version", &"registry_versions")?;
    let at = format!("registry_versions version {version}");
    Ok(RegistryDocument {
        version: parse_u64(version, &at)?,
        text: col(row, "text", &at)?,
        saved_at: time_col(row, "saved_at", &at)?,
    })
}

const REGISTRY_COLUMNS: &str = "SELECT version, text, saved_at FROM registry_versions";

pub(crate) async fn registry<C: GenericClient>(c: &C) -> Res<Option<RegistryDocument>> {
    let row = query_opt(
        c,
        "registry",
        &format!("{REGISTRY_COLUMNS} ORDER BY version DESC LIMIT 1"),
        &[],
    )
    .await?;
    Ok(row.map(|r| decode_registry(&r)).transpose()?)
}

pub(crate) async fn registry_version<C: GenericClient>(
    c: &C,
    version: u64,
) -> Res<Option<RegistryDocument>> {
    let Ok(version) = i64::try_from(version) else {
        return Ok(None);
    };
    let row = query_opt(
        c,
        "registry_version",
        &format!("{REGISTRY_COLUMNS} WHERE version = $1"),
        &[&version],
    )
    .await?;
    Ok(row.map(|r| decode_registry(&r)).transpose()?)
}

/// Registry versions after `after`, oldest first.
pub(crate) async fn registry_after<C: GenericClient>(
    c: &C,
    after: i64,
    limit: i64,
) -> Res<Vec<RegistryDocument>> {
    query_all(
        c,
        "export: registry",
        &format!("{REGISTRY_COLUMNS} WHERE version > $1 ORDER BY version LIMIT $2"),
        &[&after, &limit],
        decode_registry,
    )
    .await
}

/// The columns [`search_messages`] reads, decoded by [`decode_summary`].
pub(crate) const SUMMARY_COLUMNS: &str =
    "SELECT m.seq, m.id, m.kind, m.sender, m.recipient, m.type_ns,
        m.type_local, m.vs_id, m.client_id, m.original_message_id, m.sent_at,
        d.state, d.delivery_count, m.status, m.test_message
    FROM messages m JOIN deliveries d ON d.message_seq = m.seq AND d.recipient = m.recipient";

/// A bound parameter of a built query.
type Param = Box<dyn ToSql + Sync + Send>;

/// The SQL of a message search and its parameters: one condition per given field, each value a
/// bound parameter (text is found by `strpos`, so `%` and `_` are only characters).
fn search_sql(q: &MessageQuery) -> Result<(String, Vec<Param>), StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Param> = Vec::new();
    let mut add = |condition: &str, value: Param| {
        args.push(value);
        // `$N` stands for the value just added.
        conditions.push(condition.replace("$N", &format!("${}", args.len())));
    };
    let text = |t: &str| -> Param { Box::new(t.to_owned()) };
    if let Some(system) = &q.system {
        add("(m.sender = $N OR m.recipient = $N)", text(system.as_str()));
    }
    if let Some(sender) = &q.sender {
        add("m.sender = $N", text(sender.as_str()));
    }
    if let Some(recipient) = &q.recipient {
        add("m.recipient = $N", text(recipient.as_str()));
    }
    if let Some(vs_id) = &q.vs_id {
        add("m.vs_id = $N", text(vs_id));
    }
    if let Some(kind) = q.kind {
        add("m.kind = $N", text(kind_text(kind)));
    }
    if let Some(from) = q.from {
        add("m.sent_at >= $N", Box::new(stamp(from)?));
    }
    if let Some(to) = q.to {
        add("m.sent_at < $N", Box::new(stamp(to)?));
    }
    if let Some(status) = q.status {
        add("m.status = $N", text(status.code()));
    }
    if let Some(state) = q.state {
        add("d.state = $N", text(state.code()));
    }
    if let Some(id) = &q.message_id {
        add("m.id = $N", text(id.as_str()));
    }
    if let Some(client_id) = &q.client_id {
        add("m.client_id = $N", text(client_id));
    }
    if let Some(original) = &q.original_message_id {
        add("m.original_message_id = $N", text(original.as_str()));
    }
    if let Some(needle) = &q.text {
        add(
            "EXISTS (SELECT 1 FROM message_bodies b
                 WHERE b.message_seq = m.seq AND strpos(b.sender_data, $N) > 0)",
            text(needle),
        );
    }
    if let Some(before) = q.before {
        add("m.seq < $N", Box::new(before));
    }
    let mut sql = String::from(SUMMARY_COLUMNS);
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    args.push(Box::new(i64::from(q.limit.max(1))));
    sql.push_str(&format!(" ORDER BY m.seq DESC LIMIT ${}", args.len()));
    Ok((sql, args))
}

fn borrow(args: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect()
}

pub(crate) async fn search_messages<C: GenericClient>(
    c: &C,
    q: &MessageQuery,
) -> Res<Vec<MessageSummary>> {
    let (sql, args) = search_sql(q)?;
    query_all(c, "search_messages", &sql, &borrow(&args), decode_summary).await
}

pub(crate) fn decode_summary(row: &Row) -> Result<MessageSummary, StoreError> {
    let seq: i64 = col(row, "seq", &"messages")?;
    let at = format!("messages seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    let text = |name| col::<String>(row, name, at);
    let opt_text = |name| col::<Option<String>>(row, name, at);
    Ok(MessageSummary {
        seq,
        id: parse_id(&text("id")?, at)?,
        kind: parse_kind(&text("kind")?, at)?,
        sender: parse_mnemonic(&text("sender")?, at)?,
        recipient: parse_mnemonic(&text("recipient")?, at)?,
        message_type: QName {
            ns: text("type_ns")?,
            local: text("type_local")?,
        },
        vs_id: text("vs_id")?,
        client_id: opt_text("client_id")?,
        original_message_id: parse_opt_id(opt_text("original_message_id")?, at)?,
        sent_at: time_col(row, "sent_at", at)?,
        state: parse_state(&text("state")?, at)?,
        delivery_count: parse_u32(col(row, "delivery_count", at)?, at)?,
        status: parse_status(&text("status")?, at)?,
        test_message: col(row, "test_message", at)?,
    })
}

pub(crate) const TOKEN_COLUMNS: &str = "SELECT seq, id, secret_hash, name, role, system, account,
        created_by, created_at, expires_at, revoked_at
    FROM tokens";

pub(crate) fn decode_token(row: &Row) -> Result<TokenRecord, StoreError> {
    let seq: i64 = col(row, "seq", &"tokens")?;
    let at = format!("tokens seq {seq}");
    let at = &at as &dyn std::fmt::Display;
    Ok(TokenRecord {
        id: col(row, "id", at)?,
        secret_hash: parse_hash(col::<&[u8]>(row, "secret_hash", at)?, at)?,
        name: col(row, "name", at)?,
        role: parse_role(&col::<String>(row, "role", at)?, at)?,
        system: parse_opt_mnemonic(col(row, "system", at)?, at)?,
        account: col(row, "account", at)?,
        created_by: col(row, "created_by", at)?,
        created_at: time_col(row, "created_at", at)?,
        expires_at: opt_time_col(row, "expires_at", at)?,
        revoked_at: opt_time_col(row, "revoked_at", at)?,
    })
}

pub(crate) async fn token_by_secret_hash<C: GenericClient>(
    c: &C,
    secret_hash: &[u8; 32],
) -> Res<Option<TokenRecord>> {
    let row = query_opt(
        c,
        "token_by_secret_hash",
        &format!("{TOKEN_COLUMNS} WHERE secret_hash = $1"),
        &[&secret_hash.as_slice()],
    )
    .await?;
    Ok(row.map(|r| decode_token(&r)).transpose()?)
}

/// Tokens by `created_at` (ties by seq) for listings, or (`by_seq`, for export) in the order
/// they were stored, skipping `offset`.
pub(crate) async fn tokens<C: GenericClient>(
    c: &C,
    offset: i64,
    limit: Option<i64>,
    by_seq: bool,
) -> Res<Vec<TokenRecord>> {
    let order = if by_seq { "seq" } else { "created_at, seq" };
    query_all(
        c,
        "tokens",
        &format!("{TOKEN_COLUMNS} ORDER BY {order} OFFSET $1 LIMIT $2"),
        &[&offset, &limit],
        decode_token,
    )
    .await
}

const ACCOUNT_COLUMNS: &str = "SELECT login, name, role, system, password_hash,
        must_change_password, disabled, created_at
    FROM accounts";

fn decode_account(row: &Row) -> Result<Account, StoreError> {
    let login: String = col(row, "login", &"accounts")?;
    let at = format!("accounts login {login:?}");
    let at = &at as &dyn std::fmt::Display;
    Ok(Account {
        name: col(row, "name", at)?,
        role: parse_role(&col::<String>(row, "role", at)?, at)?,
        system: parse_opt_mnemonic(col(row, "system", at)?, at)?,
        password_hash: col(row, "password_hash", at)?,
        must_change_password: col(row, "must_change_password", at)?,
        disabled: col(row, "disabled", at)?,
        created_at: time_col(row, "created_at", at)?,
        login,
    })
}

pub(crate) async fn account<C: GenericClient>(c: &C, login: &str) -> Res<Option<Account>> {
    let row = query_opt(
        c,
        "account",
        &format!("{ACCOUNT_COLUMNS} WHERE login = $1"),
        &[&login],
    )
    .await?;
    Ok(row.map(|r| decode_account(&r)).transpose()?)
}

/// Accounts by login (code-point order), skipping `offset`.
pub(crate) async fn accounts<C: GenericClient>(
    c: &C,
    offset: i64,
    limit: Option<i64>,
) -> Res<Vec<Account>> {
    query_all(
        c,
        "accounts",
        &format!("{ACCOUNT_COLUMNS} ORDER BY login COLLATE \"C\" OFFSET $1 LIMIT $2"),
        &[&offset, &limit],
        decode_account,
    )
    .await
}

/// The SQL of an audit query and its parameters (the action prefix is compared with
/// `starts_with`, so no character in it is a pattern).
fn audit_sql(q: &AuditQuery) -> Result<(String, Vec<Param>), StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Param> = Vec::new();
    let mut add = |condition: &str, value: Param| {
        args.push(value);
        conditions.push(condition.replace("$N", &format!("${}", args.len())));
    };
    if let Some(before) = q.before {
        add("seq < $N", Box::new(before));
    }
    if let Some(actor) = &q.actor {
        add("actor = $N", Box::new(actor.clone()));
    }
    if let Some(prefix) = &q.action_prefix {
        add("starts_with(action, $N)", Box::new(prefix.clone()));
    }
    if let Some(from) = q.from {
        add("at >= $N", Box::new(stamp(from)?));
    }
    if let Some(to) = q.to {
        add("at < $N", Box::new(stamp(to)?));
    }
    let mut sql = String::from(AUDIT_COLUMNS);
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    args.push(Box::new(i64::from(q.limit.max(1))));
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", args.len()));
    Ok((sql, args))
}

const AUDIT_COLUMNS: &str = "SELECT seq, at, actor, action, target, detail FROM audit";

fn decode_audit(row: &Row) -> Result<AuditEntry, StoreError> {
    let seq: i64 = col(row, "seq", &"audit")?;
    let at = format!("audit seq {seq}");
    Ok(AuditEntry {
        seq,
        entry: NewAuditEntry {
            at: time_col(row, "at", &at)?,
            actor: col(row, "actor", &at)?,
            action: col(row, "action", &at)?,
            target: col(row, "target", &at)?,
            detail: col(row, "detail", &at)?,
        },
    })
}

pub(crate) async fn audit<C: GenericClient>(c: &C, q: &AuditQuery) -> Res<Vec<AuditEntry>> {
    let (sql, args) = audit_sql(q)?;
    query_all(c, "audit", &sql, &borrow(&args), decode_audit).await
}

/// Audit entries after `after`, oldest first.
pub(crate) async fn audit_after<C: GenericClient>(
    c: &C,
    after: i64,
    limit: i64,
) -> Res<Vec<AuditEntry>> {
    query_all(
        c,
        "export: audit",
        &format!("{AUDIT_COLUMNS} WHERE seq > $1 ORDER BY seq LIMIT $2"),
        &[&after, &limit],
        decode_audit,
    )
    .await
}

/// Pending status notices after `after`, oldest first.
pub(crate) async fn notices_after<C: GenericClient>(
    c: &C,
    after: i64,
    limit: i64,
) -> Res<Vec<StatusNotice>> {
    query_all(
        c,
        "export: notices",
        &format!(
            "SELECT {NOTICE_COLUMNS} FROM status_notices WHERE seq > $1 ORDER BY seq LIMIT $2"
        ),
        &[&after, &limit],
        decode_notice,
    )
    .await
}

/// Messages after `after`, by seq.
pub(crate) async fn messages_after<C: GenericClient>(
    c: &C,
    after: i64,
    limit: i64,
) -> Res<Vec<Loaded>> {
    let rows = query(
        c,
        "export: messages",
        &format!("{LOAD_COLUMNS} WHERE m.seq > $1 ORDER BY m.seq LIMIT $2"),
        &[&after, &limit],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let stored = decode(row)?;
        let attachments = blobs::read_rows(c, stored.seq).await?;
        out.push(Loaded {
            stored,
            attachments,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_queries_number_their_parameters_in_order() {
        for (push, fair) in [(false, false), (true, false), (false, true), (true, true)] {
            let candidate_sql = |typed, lapsed, push| candidate_sql(typed, lapsed, push, fair);
            let sql = candidate_sql(false, false, push);
            assert!(
                sql.contains("state = 'queued'")
                    && sql.contains("eol >= $4")
                    && sql.contains("$3")
                    && !sql.contains("$5"),
                "{sql}"
            );
            let sql = candidate_sql(true, false, push);
            assert!(
                sql.contains("type_local = $6") && !sql.contains("$7"),
                "{sql}"
            );
            let sql = candidate_sql(false, true, push);
            assert!(
                sql.contains("lease_until < $4") && !sql.contains("$5"),
                "{sql}"
            );
            let sql = candidate_sql(true, true, push);
            assert!(
                sql.contains("lease_until < $4") && sql.contains("type_ns = $5"),
                "{sql}"
            );
            assert!(sql.ends_with("FOR UPDATE SKIP LOCKED"), "{sql}");
        }
        let sql = candidate_sql(false, false, true, false);
        assert!(
            sql.contains("AND push AND") && !sql.contains("target_node_id ="),
            "{sql}"
        );
    }

    #[test]
    fn candidate_queries_order_by_priority_then_fair_order_unless_fair_first() {
        for typed in [false, true] {
            for lapsed in [false, true] {
                let sql = candidate_sql(typed, lapsed, false, false);
                assert!(
                    sql.contains("ORDER BY priority DESC, vtime, message_seq\n"),
                    "{sql}"
                );
                let sql = candidate_sql(typed, lapsed, false, true);
                assert!(sql.contains("ORDER BY vtime, message_seq\n"), "{sql}");
                assert!(
                    sql.contains("SELECT message_seq, priority, vtime,"),
                    "{sql}"
                );
            }
        }
    }

    #[test]
    fn dead_letter_conditions_number_their_parameters_in_order() {
        let q = DeadLetterQuery {
            recipient: Some(Mnemonic::parse("R").unwrap()),
            dead_to: Some(OffsetDateTime::UNIX_EPOCH),
            before_seq: Some(9),
            ..DeadLetterQuery::default()
        };
        let (sql, args) = dead_where(&q, true).unwrap();
        assert_eq!(args.len(), 3);
        assert!(sql.starts_with(" WHERE d.state = 'dead'"), "{sql}");
        assert!(sql.contains("d.recipient = $1"), "{sql}");
        assert!(sql.contains("d.dead_at < $2"), "{sql}");
        assert!(sql.ends_with("d.message_seq < $3"), "{sql}");
        // A replay takes every match: no cursor.
        let (sql, args) = dead_where(&q, false).unwrap();
        assert_eq!(args.len(), 2);
        assert!(!sql.contains("message_seq"), "{sql}");
    }

    #[test]
    fn search_conditions_number_their_parameters_in_order() {
        let q = MessageQuery {
            system: Some(Mnemonic::parse("S").unwrap()),
            from: Some(OffsetDateTime::UNIX_EPOCH),
            text: Some("%".to_owned()),
            before: Some(9),
            limit: 0,
            ..MessageQuery::default()
        };
        let (sql, args) = search_sql(&q).unwrap();
        assert_eq!(args.len(), 5);
        assert!(sql.contains("(m.sender = $1 OR m.recipient = $1)"), "{sql}");
        assert!(sql.contains("m.sent_at >= $2"), "{sql}");
        assert!(sql.contains("strpos(b.sender_data, $3)"), "{sql}");
        assert!(sql.contains("m.seq < $4"), "{sql}");
        assert!(sql.ends_with("LIMIT $5"), "{sql}");
    }
}
