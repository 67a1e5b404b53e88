//! Copying a store: [`Store::export`](opensmev_store::Store::export) reads records section by
//! section, [`Store::import`](opensmev_store::Store::import) writes them as they are.
//!
//! An import writes every record in one transaction, keeping what the source recorded: a
//! message's `seq`, delivery state, counts and times, and its journal events with their node,
//! actor and attempt; notices and audit entries with their `seq`s; registry versions with their
//! numbers; a message's share; a delivery's push mode from its message's delivery mode, and a
//! dead letter's time and reason from its journal ([`opensmev_store::dead_letter_mark`]). A
//! delivery's start tag in fair order is 0 (no sender's tag is copied: an imported queue stays
//! ahead of what comes after, in arrival order). Pending counters grow by the
//! queued and leased deliveries imported. A key that exists already (any unique index: a seq, a
//! `MessageID`, a sender's client id, a token id or secret hash, a login, a version) is
//! [`StoreError::Exists`] and nothing is written. Attachments given as files are read (copied),
//! never moved. Afterwards every identity sequence is moved past the highest `seq` imported, so
//! new records continue after them. Nothing is signalled and no quota is checked.

use deadpool_postgres::GenericClient;
use opensmev_store::{
    AuditEntry, DeliveryState, MessageRecord, Record, RegistryDocument, StatusNotice, StoreError,
};
use opensmev_types::{DeliveryMode, MessageId};

use crate::blobs;
use crate::codec::{Fail, Res, kind_text, mode_text, opt_stamp, stamp};
use crate::db::execute;
use crate::ops::{self, Event};
use crate::schema::IDENTITY_TABLES;

/// Maps a unique violation of an import to [`StoreError::Exists`] naming the record.
fn exists(result: Res<u64>, what: impl FnOnce() -> String) -> Res<()> {
    match result {
        Err(fail) if fail.unique() => Err(StoreError::Exists(what()).into()),
        other => other.map(drop),
    }
}

/// Writes `records` (inside the caller's transaction).
pub(crate) async fn import<C: GenericClient>(c: &C, records: &[Record]) -> Res<()> {
    for record in records {
        match record {
            Record::Registry(document) => registry(c, document).await?,
            Record::Message(message) => self::message(c, message).await?,
            Record::Notice(notice) => self::notice(c, notice).await?,
            Record::Token(token) => ops::insert_token(c, token).await?,
            Record::Account(account) => ops::insert_account(c, account).await?,
            Record::Audit(entry) => audit(c, entry).await?,
        }
    }
    for table in IDENTITY_TABLES {
        execute(
            c,
            "import: moving a sequence",
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'seq')::regclass, t.top)
                 FROM (SELECT max(seq) AS top FROM {table}) t
                 WHERE t.top IS NOT NULL
                   AND t.top > coalesce(
                       pg_sequence_last_value(pg_get_serial_sequence('{table}', 'seq')::regclass),
                       0)"
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}

async fn registry<C: GenericClient>(c: &C, document: &RegistryDocument) -> Res<()> {
    let version = i64::try_from(document.version).map_err(|_| {
        StoreError::Backend(format!(
            "registry version {} is too large",
            document.version
        ))
    })?;
    let saved_at = stamp(document.saved_at)?;
    let inserted = execute(
        c,
        "import: registry",
        "INSERT INTO registry_versions (version, text, saved_at) VALUES ($1, $2, $3)",
        &[&version, &document.text, &saved_at],
    )
    .await;
    exists(inserted, || format!("registry version {version}"))
}

async fn notice<C: GenericClient>(c: &C, notice: &StatusNotice) -> Res<()> {
    let created_at = stamp(notice.created_at)?;
    let inserted = execute(
        c,
        "import: notice",
        "INSERT INTO status_notices (seq, recipient, original_message_id, status, details,
             created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &notice.seq,
            &notice.recipient.as_str(),
            &notice.original_message_id.as_str(),
            &notice.status.code(),
            &notice.details,
            &created_at,
        ],
    )
    .await;
    exists(inserted, || format!("status notice seq {}", notice.seq))
}

async fn audit<C: GenericClient>(c: &C, entry: &AuditEntry) -> Res<()> {
    let at = stamp(entry.entry.at)?;
    let inserted = execute(
        c,
        "import: audit",
        "INSERT INTO audit (seq, at, actor, action, target, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &entry.seq,
            &at,
            &entry.entry.actor,
            &entry.entry.action,
            &entry.entry.target,
            &entry.entry.detail,
        ],
    )
    .await;
    exists(inserted, || format!("audit entry seq {}", entry.seq))
}

async fn message<C: GenericClient>(c: &C, record: &MessageRecord) -> Res<()> {
    let s = &record.stored;
    let m = &s.message;
    let seq = s.seq;
    let kind = kind_text(m.kind);
    let sent_at = stamp(m.sent_at)?;
    let eol = opt_stamp(m.eol)?;
    let priority = i16::from(m.priority.0);
    let share = ops::share_col(m)?;
    let inserted = execute(
        c,
        "import: message",
        "INSERT INTO messages (seq, id, kind, sender, recipient, type_ns, type_local, vs_id,
             version, priority, delivery_mode, test_message, node_id, target_node_id, eol,
             transaction_code, reference_message_id, original_message_id, reply_to, sent_at,
             status, client_id, share)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19, $20, $21, $22, $23)",
        &[
            &seq,
            &m.id.as_str(),
            &kind,
            &m.sender.as_str(),
            &m.recipient.as_str(),
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
            &s.status.code(),
            &m.client_id,
            &share,
        ],
    )
    .await;
    exists(inserted, || {
        format!("message {} (seq {seq}, or its sender's client id)", m.id)
    })?;
    execute(
        c,
        "import: body",
        "INSERT INTO message_bodies (message_seq, sender_data, sender_signature) VALUES ($1, $2, $3)",
        &[&seq, &m.sender_data, &m.sender_signature],
    )
    .await?;
    for (ord, attachment) in m.attachments.iter().enumerate() {
        let ord = i32::try_from(ord).map_err(|_| {
            Fail::from(StoreError::Backend(format!(
                "import of {}: too many attachments",
                m.id
            )))
        })?;
        blobs::write(c, seq, ord, attachment).await?;
    }
    let lease_until = opt_stamp(s.lease_until)?;
    let first = opt_stamp(s.first_delivered_at)?;
    let acked = opt_stamp(s.acked_at)?;
    let (dead_at, dead_reason) = opensmev_store::dead_letter_mark(record).unzip();
    let dead_at = opt_stamp(dead_at)?;
    // Copied queues keep their order (arrival order; shares start afresh).
    // No sender's tag is copied: 0 keeps a copied queue ahead of what comes after, in order.
    let vtime = 0_i64;
    execute(
        c,
        "import: delivery",
        "INSERT INTO deliveries (message_seq, recipient, kind, type_ns, type_local, priority,
             target_node_id, eol, state, lease_until, delivery_count, first_delivered_at,
             acked_at, accepted, push, dead_at, dead_reason, vtime)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18)",
        &[
            &seq,
            &m.recipient.as_str(),
            &kind,
            &m.message_type.ns,
            &m.message_type.local,
            &priority,
            &m.target_node_id,
            &eol,
            &s.state.code(),
            &lease_until,
            &i64::from(s.delivery_count),
            &first,
            &acked,
            &s.accepted,
            &(m.delivery_mode == DeliveryMode::Push),
            &dead_at,
            &dead_reason,
            &vtime,
        ],
    )
    .await?;
    for event in &record.journal {
        ops::journal_add(
            c,
            event.node.as_deref(),
            seq,
            stamp(event.at)?,
            Event {
                kind: event.kind,
                detail: event.detail.as_deref(),
                actor: event.actor.as_deref(),
                attempt: event.attempt,
            },
        )
        .await?;
    }
    if matches!(s.state, DeliveryState::Queued | DeliveryState::Leased) {
        ops::add_pending(c, m.recipient.as_str(), kind, &m.message_type, 1).await?;
    }
    Ok(())
}
