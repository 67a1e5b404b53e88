//! Push delivery's records: the dead-letter queue ([`DeadLetter`], [`DeadLetterQuery`]) and what
//! a push attempt's end does to its lease ([`PushAck`]).

use opensmev_types::{InteractionStatus, MessageId, MessageKind, Mnemonic, QName};
use time::OffsetDateTime;

/// A message whose push delivery gave up ([`crate::DeliveryState::DeadLetter`]): out of its
/// queue until it is replayed ([`crate::Store::replay_dead_letters`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The store's sequence number (newest first in listings; the paging cursor).
    pub seq: i64,
    /// `MessageID`.
    pub id: MessageId,
    /// Request or response.
    pub kind: MessageKind,
    /// The sender.
    pub sender: Mnemonic,
    /// The recipient whose endpoint did not take it.
    pub recipient: Mnemonic,
    /// The kind of information (ВС) id.
    pub vs_id: String,
    /// The message type.
    pub message_type: QName,
    /// When the bus accepted it.
    pub sent_at: OffsetDateTime,
    /// When it became a dead letter.
    pub dead_at: OffsetDateTime,
    /// Push attempts made since it was accepted or last replayed.
    pub attempts: u32,
    /// Why delivery gave up (the last failure and the limit reached). Every attempt's own
    /// outcome is in the message's journal ([`crate::JournalKind::PushAttempt`]).
    pub reason: String,
}

/// Which dead letters to list or replay; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterQuery {
    /// One message.
    pub id: Option<MessageId>,
    /// Of this recipient.
    pub recipient: Option<Mnemonic>,
    /// From this sender.
    pub sender: Option<Mnemonic>,
    /// Of this kind of information.
    pub vs_id: Option<String>,
    /// Dead since this instant (inclusive).
    pub dead_from: Option<OffsetDateTime>,
    /// Dead before this instant (exclusive).
    pub dead_to: Option<OffsetDateTime>,
    /// Listing: only letters with `seq` below this (the previous page's last `seq`).
    pub before_seq: Option<i64>,
    /// Listing: at most this many (0 counts as 1). Replay ignores it and the cursor.
    pub limit: u32,
}

/// The acknowledgement a successful push makes on the recipient's behalf, in the attempt's
/// transaction: the message's new status and the details of a status notice for its sender, as
/// the bus's ack rule gives them for `accepted = true` (see [`crate::AckRule`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAck {
    /// The message's new interaction status.
    pub status: InteractionStatus,
    /// A notice for the sender, when due.
    pub notice: Option<String>,
}

/// A copied message's dead-letter mark (what [`DeadLetter::dead_at`] and
/// [`DeadLetter::reason`] are read from): its last [`crate::JournalKind::DeadLettered`] event's
/// time and detail, when it is a dead letter. An importer restores the mark with it.
pub fn dead_letter_mark(record: &crate::MessageRecord) -> Option<(OffsetDateTime, String)> {
    if record.stored.state != crate::DeliveryState::DeadLetter {
        return None;
    }
    let event = record
        .journal
        .iter()
        .rev()
        .find(|e| e.kind == crate::JournalKind::DeadLettered);
    Some(match event {
        Some(e) => (e.at, e.detail.clone().unwrap_or_default()),
        None => (record.stored.message.sent_at, String::new()),
    })
}
