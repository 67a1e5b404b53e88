//! The storage contract of OpenSMEV.
//!
//! [`Store`] is shaped by what the bus needs, not by any database: every method is one atomic
//! state change (or one consistent read) of the queue model below, so an embedded SQLite backend
//! with a single writer thread and a PostgreSQL backend with `FOR UPDATE SKIP LOCKED` leasing under
//! several stateless nodes implement it equally well.
//!
//! # Queue model
//!
//! * A message ([`NewMessage`]) is a request (queued for its provider) or a response (queued for
//!   its consumer). It is identified by the sender's `MessageID`, which is unique bus-wide:
//!   [`Store::enqueue`] of a known id changes nothing and reports [`Enqueued::Duplicate`] (a
//!   client retrying after a lost HTTP answer never creates a second message).
//! * Each message has one delivery per recipient ([`Delivery`]; one today, several for broadcast
//!   later) with a state: queued → leased (delivered, waiting for `Ack`) → acked. A lease that runs
//!   out makes the message available again (redelivery); [`Store::lease_next`] takes the best
//!   available message of a queue (highest priority, then oldest) and leases it atomically, so two
//!   pollers never get the same message while its lease runs.
//! * Every state change appends a [`JournalEvent`] with its time, in the same transaction.
//! * Status notifications ([`StatusNotice`]) for the senders (what `GetStatus` returns) are
//!   written in the same transaction as the change that causes them.
//! * The registry is stored as versioned documents; every saved version is kept.
//!
//! Durability: a method returns `Ok` only after its change is durable (committed and synced).
//!
//! Times are kept to the microsecond (PostgreSQL's precision); finer parts may be dropped.
//!
//! # Several nodes on one store
//!
//! A backend shared by several bus nodes (PostgreSQL) carries [`QueueSignal`]s between them
//! ([`Store::listen`]), so a long poll on one node wakes when another node queues a message; and
//! background work is claimed through the store ([`Store::claim_job`], with fencing tokens), so
//! one node at a time does it and a node that dies is replaced when its claim runs out. An
//! embedded store does the same within its one process.

#[cfg(feature = "testing")]
pub mod conformance;

mod access;
mod cabinet;
mod cases;
pub mod copy;
mod dead;
mod search;

pub use access::{Account, AuditEntry, AuditQuery, NewAuditEntry, TokenRecord};
pub use cabinet::{Draft, LoginFailures, WebSession};
pub use cases::{Case, CaseChange, CaseEvent, CaseQuery, Settings};
pub use dead::{DeadLetter, DeadLetterQuery, PushAck, dead_letter_mark};
pub use search::{MessageQuery, MessageSummary};

use std::fmt::Debug;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName,
    SchemaVersion,
};
use time::{Duration, OffsetDateTime};

/// An attachment carried inline with a message (MTOM / base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `AttachmentContent/@Id` = `AttachmentHeader/contentId`.
    pub content_id: String,
    /// `AttachmentHeader/MimeType`.
    pub mime_type: String,
    /// The bytes.
    pub data: Blob,
}

/// An attachment's bytes: in memory, or in a file on local disk (large attachments, which are
/// never held in memory whole: an MTOM part spooled by the server, or the store's own file).
///
/// Given to [`Store::enqueue`], a [`Blob::File`] is taken over by the store: it moves (or
/// copies) the file into its own keeping and makes it durable before the commit that refers to
/// it; the caller must not rely on the path afterwards and removes it if it is still there. A
/// [`Blob::File`] read back from the store names the store's file: read it, never change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    /// The bytes themselves.
    Bytes(Vec<u8>),
    /// A file holding exactly `len` bytes.
    File {
        /// Where the file is.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
}

impl Blob {
    /// The number of bytes.
    pub fn len(&self) -> u64 {
        match self {
            Blob::Bytes(bytes) => bytes.len() as u64,
            Blob::File { len, .. } => *len,
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens the bytes for reading.
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        match self {
            Blob::Bytes(bytes) => Ok(Box::new(bytes.as_slice())),
            Blob::File { path, len } => {
                let file = std::fs::File::open(path)?;
                let actual = file.metadata()?.len();
                if actual != *len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} has {actual} bytes, {len} expected", path.display()),
                    ));
                }
                Ok(Box::new(file.take(*len)))
            }
        }
    }

    /// All the bytes in memory (reads a file whole: for small blobs and tests).
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Blob::Bytes(bytes) => Ok(bytes.clone()),
            Blob::File { .. } => {
                let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
                self.open()?.read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        Blob::Bytes(bytes)
    }
}

/// A message as accepted by the bus, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The sender's `MessageID` (also `MessageMetadata/MessageId`).
    pub id: MessageId,
    /// Request or response.
    pub kind: MessageKind,
    /// The sender's mnemonic.
    pub sender: Mnemonic,
    /// The recipient's mnemonic.
    pub recipient: Mnemonic,
    /// The business root element: the message type.
    pub message_type: QName,
    /// The registered kind of information (ВС) id, e.g. `VS00179v002-PFR001`.
    pub vs_id: String,
    /// The schema version the sender used.
    pub version: SchemaVersion,
    /// Delivery priority: higher first within the recipient's queue.
    pub priority: Priority,
    /// The sender's share of the recipient's queue (its weight, at least 1): among messages of
    /// one priority, senders are served in proportion to their shares (start-time fair
    /// queuing: each message's place is fixed when it is queued, see [`LeaseRequest`]).
    pub share: u32,
    /// Poll or push.
    pub delivery_mode: DeliveryMode,
    /// `TestMessage` was present.
    pub test_message: bool,
    /// The sender's `NodeID`.
    pub node_id: Option<String>,
    /// For responses: only polls from this node of the consumer get it (the request's `NodeID`).
    pub target_node_id: Option<String>,
    /// `EOL`: not delivered after this time (a message expires when `eol < now`).
    pub eol: Option<OffsetDateTime>,
    /// `TransactionCode`.
    pub transaction_code: Option<String>,
    /// `ReferenceMessageID`.
    pub reference_message_id: Option<MessageId>,
    /// For responses: the request's id.
    pub original_message_id: Option<MessageId>,
    /// For requests: the opaque `ReplyTo` the provider copies into `To`.
    pub reply_to: Option<String>,
    /// `MessageMetadata/SendingTimestamp`: the acceptance time, also the time of the `Accepted`
    /// journal event.
    pub sent_at: OffsetDateTime,
    /// The `SenderProvidedRequestData` / `SenderProvidedResponseData` element as the sender
    /// signed it, as a standalone XML fragment (inherited namespace declarations added).
    pub sender_data: String,
    /// The sender's `ds:Signature` (ЭП-ОВ), standalone, passed through unchanged.
    pub sender_signature: Option<String>,
    /// Inline attachments.
    pub attachments: Vec<Attachment>,
    /// The sender's own id for the message (given through the integration API; at most 200
    /// characters). Unique per sender: a second message of one sender with the same client id
    /// is [`Enqueued::Duplicate`].
    pub client_id: Option<String>,
}

/// The fair-order tag a message of share 1 advances its sender by ([`Store::lease_next`]);
/// a message of share `w` advances it by `FAIR_UNIT / w`.
pub const FAIR_UNIT: i64 = 1_000_000;

/// The start tag of a message queued now, and its sender's new finish tag, in fair order
/// ([`Store::lease_next`]): `queued_min` is the smallest start tag queued in the queue,
/// `senders_max` the largest finish tag of its senders, `previous` the sender's own finish tag.
pub fn fair_tags(
    queued_min: Option<i64>,
    senders_max: Option<i64>,
    previous: Option<i64>,
    share: u32,
) -> (i64, i64) {
    let v = queued_min.or(senders_max).unwrap_or(0);
    let start = v.max(previous.unwrap_or(0));
    let step = FAIR_UNIT / i64::from(share.clamp(1, 1_000_000));
    (start, start.saturating_add(step.max(1)))
}

/// The state of a delivery to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting in the queue.
    Queued,
    /// Handed out; waiting for `Ack` until the lease ends.
    Leased,
    /// Acknowledged.
    Acked,
    /// Its `EOL` passed before it was acknowledged.
    Expired,
    /// The bus cannot build an answer that carries it, ever: taken out of the queue for good
    /// ([`Store::settle_lease`] with [`LeaseOutcome::Undeliverable`]).
    Undeliverable,
    /// Push delivery gave up ([`LeaseOutcome::DeadLetter`]): out of the queue, kept in the
    /// dead-letter queue until replayed ([`Store::replay_dead_letters`]).
    DeadLetter,
}

impl DeliveryState {
    /// A stable name for storage.
    pub fn code(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Leased => "leased",
            DeliveryState::Acked => "acked",
            DeliveryState::Expired => "expired",
            DeliveryState::Undeliverable => "undeliverable",
            DeliveryState::DeadLetter => "dead",
        }
    }

    /// Parses [`DeliveryState::code`].
    pub fn from_code(code: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Queued,
            DeliveryState::Leased,
            DeliveryState::Acked,
            DeliveryState::Expired,
            DeliveryState::Undeliverable,
            DeliveryState::DeadLetter,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// A stored message with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Store-assigned sequence number (arrival order).
    pub seq: i64,
    /// The message.
    pub message: NewMessage,
    /// The delivery state (to [`NewMessage::recipient`]).
    pub state: DeliveryState,
    /// How many times it was handed out.
    pub delivery_count: u32,
    /// When the current lease ends.
    pub lease_until: Option<OffsetDateTime>,
    /// First hand-out.
    pub first_delivered_at: Option<OffsetDateTime>,
    /// Acknowledgement time.
    pub acked_at: Option<OffsetDateTime>,
    /// `AckTargetMessage/@accepted`.
    pub accepted: Option<bool>,
    /// The current interaction status.
    pub status: InteractionStatus,
}

/// The result of [`Store::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored durably.
    Accepted {
        /// The sequence number.
        seq: i64,
    },
    /// A message with this id — or of this sender with this client id — exists already;
    /// nothing changed.
    Duplicate {
        /// The existing message's id.
        id: MessageId,
        /// Who sent the existing one.
        sender: Mnemonic,
        /// When it was accepted.
        sent_at: OffsetDateTime,
        /// Found by the client id (not by the `MessageID`).
        by_client_id: bool,
    },
    /// The recipient's queue holds `quota` unacknowledged messages already; nothing changed.
    QueueFull {
        /// The queue's depth.
        depth: u64,
    },
}

/// What [`Store::lease_next`] looks for.
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    /// The polling recipient.
    pub recipient: Mnemonic,
    /// Its request queue or its response queue.
    pub kind: MessageKind,
    /// Only this message type (`MessageTypeSelector`), or any.
    pub message_type: Option<QName>,
    /// The poller's `NodeID`. A message bound to a node (`NewMessage::target_node_id`) goes only to
    /// polls naming that node; a poll without a node gets only unbound messages.
    pub node_id: Option<String>,
    /// How long the lease lasts. A lease ends when `now > lease_until` (the boundary is still
    /// leased).
    pub lease: Duration,
    /// Now.
    pub now: OffsetDateTime,
    /// Take the message first in fair order regardless of priority: the bus asks so for every
    /// few leases of a queue, so that low priorities progress under a stream of high ones.
    pub fair_first: bool,
    /// A lease for push delivery: only messages accepted for push
    /// ([`NewMessage::delivery_mode`] `Push`), whatever node they are bound to (`node_id` is not
    /// looked at). A poll (`false`) takes messages of either mode.
    pub push: bool,
}

/// What becomes of a lease whose message could not be handed out ([`Store::settle_lease`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// A passing failure: the message is queued again at once, in its place (journaled
    /// [`JournalKind::Released`]; its delivery count stays).
    Release,
    /// The message can never be delivered: [`DeliveryState::Undeliverable`], its status
    /// `cancelled`, a [`JournalKind::Undeliverable`] event with the reason, and a status notice
    /// with `notice` for its sender.
    Undeliverable {
        /// Why (journaled; for operators).
        reason: String,
        /// The status details for the sender.
        notice: String,
    },
    /// A push attempt was taken by the recipient's endpoint: a [`JournalKind::PushAttempt`]
    /// event with `detail`; with `ack`, acknowledged in the same transaction as by
    /// [`Store::ack`] with `accepted = true` (the status and notice given); without, the lease
    /// stays as it is, for the recipient to acknowledge itself.
    Pushed {
        /// The attempt's endpoint, outcome and latency.
        detail: String,
        /// The acknowledgement on the recipient's behalf, if the push counts as one.
        ack: Option<PushAck>,
    },
    /// A push attempt failed and another is due after `until`: the lease is kept until then (the
    /// message comes back as a lapsed lease), with a [`JournalKind::PushAttempt`] event.
    Retry {
        /// The attempt's endpoint, outcome and latency.
        detail: String,
        /// When the lease ends.
        until: OffsetDateTime,
    },
    /// A push attempt failed and no other will be made: [`DeliveryState::DeadLetter`], a
    /// [`JournalKind::PushAttempt`] event with `detail` and a [`JournalKind::DeadLettered`] event
    /// with `reason`. The sender is not notified: the letter may be replayed.
    DeadLetter {
        /// The attempt's endpoint, outcome and latency.
        detail: String,
        /// Why delivery gave up (kept with the dead letter).
        reason: String,
    },
}

/// The result of [`Store::ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The delivery is now acknowledged.
    Acked,
    /// No delivered, unacknowledged message with that id for that recipient.
    NotFound,
}

/// A status notification for a sender (what `GetStatus` delivers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNotice {
    /// Store-assigned id.
    pub seq: i64,
    /// Whom it is for (the sender of the original message).
    pub recipient: Mnemonic,
    /// The message it is about.
    pub original_message_id: MessageId,
    /// The status.
    pub status: InteractionStatus,
    /// Details (`StatusDetails`, up to 500 characters).
    pub details: Option<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// One entry of a message's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEvent {
    /// When.
    pub at: OffsetDateTime,
    /// What.
    pub kind: JournalKind,
    /// Free text (why).
    pub detail: Option<String>,
    /// The node whose store handle recorded it (the store's configured node name; `None` when
    /// none was configured).
    pub node: Option<String>,
    /// Who caused it: the information system that sent, polled, acknowledged or answered;
    /// `None` for the bus's own doing (expiry, undeliverable, lease run out).
    pub actor: Option<String>,
    /// For hand-outs (`Delivered`, `Redelivered`, `Released`): the delivery attempt, from 1
    /// (the delivery count after the hand-out).
    pub attempt: Option<u32>,
}

/// The kinds of journal events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalKind {
    /// Accepted and stored.
    Accepted,
    /// Handed out to the recipient (first time).
    Delivered,
    /// Handed out again after a lease ran out.
    Redelivered,
    /// Acknowledged with `accepted=true`.
    Acked,
    /// Acknowledged with `accepted=false`.
    Refused,
    /// Its `EOL` passed undelivered.
    Expired,
    /// A response to it was accepted.
    Answered,
    /// Its interaction status changed.
    StatusChanged,
    /// A lease was given back unused (the answer carrying it could not be sent).
    Released,
    /// It can never be delivered and left the queue (the detail says why).
    Undeliverable,
    /// A push attempt ended: the detail gives the endpoint, the outcome and the latency
    /// (`attempt` is the lease's delivery count).
    PushAttempt,
    /// Push delivery gave up: it left the queue for the dead-letter queue (the detail says why).
    DeadLettered,
    /// A dead letter was queued again (`actor`: who asked).
    Replayed,
}

impl JournalKind {
    /// A stable name for storage.
    pub fn code(self) -> &'static str {
        match self {
            JournalKind::Accepted => "accepted",
            JournalKind::Delivered => "delivered",
            JournalKind::Redelivered => "redelivered",
            JournalKind::Acked => "acked",
            JournalKind::Refused => "refused",
            JournalKind::Expired => "expired",
            JournalKind::Answered => "answered",
            JournalKind::StatusChanged => "status",
            JournalKind::Released => "released",
            JournalKind::Undeliverable => "undeliverable",
            JournalKind::PushAttempt => "push",
            JournalKind::DeadLettered => "dead-letter",
            JournalKind::Replayed => "replayed",
        }
    }

    /// Parses [`JournalKind::code`].
    pub fn from_code(code: &str) -> Option<JournalKind> {
        [
            JournalKind::Accepted,
            JournalKind::Delivered,
            JournalKind::Redelivered,
            JournalKind::Acked,
            JournalKind::Refused,
            JournalKind::Expired,
            JournalKind::Answered,
            JournalKind::StatusChanged,
            JournalKind::Released,
            JournalKind::Undeliverable,
            JournalKind::PushAttempt,
            JournalKind::DeadLettered,
            JournalKind::Replayed,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// Pending messages of one queue and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    /// Requests or responses.
    pub kind: MessageKind,
    /// The message type.
    pub message_type: QName,
    /// Queued or leased, not yet acknowledged.
    pub pending: u64,
}

/// A stored registry document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryDocument {
    /// Increments with every save, from 1.
    pub version: u64,
    /// The document (TOML text).
    pub text: String,
    /// When it was saved.
    pub saved_at: OffsetDateTime,
}

/// A queue whose waiting pollers should look again: a message became available in it (queued,
/// released, or its lease ran out). Signals are hints, never the truth: a woken poller still
/// leases through [`Store::lease_next`], and one that misses a signal finds the message on its
/// next poll.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueSignal {
    /// The queue's owner.
    pub recipient: Mnemonic,
    /// Its request queue or its response queue.
    pub kind: MessageKind,
    /// The node the message is bound to (`NewMessage::target_node_id`): only that node's pollers
    /// can take it; `None`: any poller of the queue.
    pub node: Option<String>,
}

/// Receives [`QueueSignal`]s (see [`Store::listen`]). Called from the store's own threads or
/// tasks: it must be quick and must not block (wake waiters, nothing more).
pub type SignalListener = Arc<dyn Fn(QueueSignal) + Send + Sync>;

/// A held claim on a background job ([`Store::claim_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    /// The job's name.
    pub job: String,
    /// Who holds it (a node's name).
    pub holder: String,
    /// The fencing token: higher than that of every earlier holder. Work done under a claim
    /// checks it in its own transaction, so a holder that lost its claim (it stalled past the
    /// claim's end and another node took over) can no longer change anything.
    pub fence: i64,
    /// When the claim runs out unless renewed (it is over when `now > until`).
    pub until: OffsetDateTime,
}

/// What one [`Store::sweep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Pending messages whose `EOL` had passed, now expired.
    pub expired: u64,
    /// Leases that ran out since the previous sweep (their queues were signalled).
    pub leases_run_out: u64,
}

/// The parts of a store that [`Store::export`] reads and [`Store::import`] writes, in the order
/// a copy writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// Every registry version, by version.
    Registry,
    /// Messages with their deliveries, bodies, attachments and journals, by `seq`.
    Messages,
    /// Pending status notices, by `seq`.
    Notices,
    /// API tokens, in the order of creation.
    Tokens,
    /// Accounts, by login.
    Accounts,
    /// The audit log, by `seq`.
    Audit,
}

impl Section {
    /// Every section, in copying order.
    pub const ALL: [Section; 6] = [
        Section::Registry,
        Section::Messages,
        Section::Notices,
        Section::Tokens,
        Section::Accounts,
        Section::Audit,
    ];

    /// A stable name (reports, the CLI).
    pub fn name(self) -> &'static str {
        match self {
            Section::Registry => "registry",
            Section::Messages => "messages",
            Section::Notices => "notices",
            Section::Tokens => "tokens",
            Section::Accounts => "accounts",
            Section::Audit => "audit",
        }
    }
}

/// A message as a whole, for copying a store: its record (with `seq` and delivery state) and its
/// journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The message and its delivery.
    pub stored: StoredMessage,
    /// Its journal, oldest first.
    pub journal: Vec<JournalEvent>,
}

/// One exported record ([`Store::export`], [`Store::import`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A registry version.
    Registry(RegistryDocument),
    /// A message.
    Message(Box<MessageRecord>),
    /// A pending status notice.
    Notice(StatusNotice),
    /// An API token.
    Token(TokenRecord),
    /// An account.
    Account(Account),
    /// An audit entry.
    Audit(AuditEntry),
}

impl Record {
    /// The section it belongs to.
    pub fn section(&self) -> Section {
        match self {
            Record::Registry(_) => Section::Registry,
            Record::Message(_) => Section::Messages,
            Record::Notice(_) => Section::Notices,
            Record::Token(_) => Section::Tokens,
            Record::Account(_) => Section::Accounts,
            Record::Audit(_) => Section::Audit,
        }
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record with this key exists already (a token id, an account login).
    #[error("{0} exists already")]
    Exists(String),
    /// The registry changed since the version the caller started from.
    #[error("the registry was changed concurrently (now at version {current})")]
    RegistryConflict {
        /// The current version.
        current: u64,
    },
    /// A settings document changed since the version a change was based on.
    #[error(
        "the settings {name} are at version {current}, not the version the change was based on"
    )]
    VersionConflict {
        /// The document.
        name: String,
        /// Its current version (0: none saved).
        current: u64,
    },
    /// Stored data that cannot be read back (corruption or a newer schema).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The backend is shutting down or its worker is gone.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Anything the database reported.
    #[error("database error: {0}")]
    Backend(String),
    /// A background job's work was refused: the claim it was done under is no longer current
    /// (it ran out, or another holder took the job over).
    #[error("the claim on job {job} (fence {fence}) is no longer current")]
    LostClaim {
        /// The job.
        job: String,
        /// The stale fence.
        fence: i64,
    },
}

/// What acknowledging a message does to its interaction status, by the message's kind and
/// whether the recipient accepted it: the new status, and the details of a status notice for the
/// message's sender if one is due. The bus's rule; the store applies it in the ack's transaction,
/// so the bus need not read the message first.
pub type AckRule = fn(MessageKind, bool) -> (InteractionStatus, Option<&'static str>);

/// The bus's storage.
#[async_trait::async_trait]
pub trait Store: Send + Sync + Debug {
    /// Stores a new message and its queued delivery, a [`JournalKind::Accepted`] event, and — for a
    /// response — a [`JournalKind::Answered`] event on the request. Refuses a known id
    /// ([`Enqueued::Duplicate`]) and a full recipient queue (`quota` pending messages of that
    /// recipient and kind: [`Enqueued::QueueFull`]).
    async fn enqueue(
        &self,
        message: NewMessage,
        status: InteractionStatus,
        quota: u64,
    ) -> Result<Enqueued, StoreError>;

    /// [`Store::enqueue`] of a response, and in the same transaction (when it is accepted) the
    /// answered request's (`original_message_id`'s) status set to `request_status` and journaled
    /// as by [`Store::set_status`], without a notice. A response whose request is unknown is
    /// still stored.
    async fn enqueue_response(
        &self,
        message: NewMessage,
        status: InteractionStatus,
        quota: u64,
        request_status: InteractionStatus,
    ) -> Result<Enqueued, StoreError>;

    /// Leases the best available message of a queue: queued, or leased with the lease run out;
    /// not expired by `EOL` (such ones are marked [`DeliveryState::Expired`] on the way, with a
    /// journal event and a `cancelled` status notice for the sender); matching the type filter and
    /// the node. Order: priority (high first), then fair order, then `seq`; with
    /// [`LeaseRequest::fair_first`], fair order alone. Fair order: each message gets a start tag
    /// when it is queued, `max(V, F)` where `V` is the smallest start tag queued in that queue
    /// (when none is queued, the largest finish tag of its senders) and `F` the finish tag of the
    /// sender's previous message in the queue; its finish tag is the start plus
    /// 1 000 000 / [`NewMessage::share`]. One sender's messages keep their order; senders that all
    /// keep the queue busy are served in proportion to their shares. Records `Delivered` or
    /// `Redelivered`.
    async fn lease_next(&self, request: LeaseRequest) -> Result<Option<StoredMessage>, StoreError>;

    /// Acknowledges a delivered (leased, even if the lease ran out), unacknowledged message of
    /// `recipient`. Records `Acked`/`Refused`, sets the status `rule` gives for the message's
    /// kind, and adds a status notice for the message's sender when the rule gives details.
    async fn ack(
        &self,
        recipient: &Mnemonic,
        id: &MessageId,
        accepted: bool,
        rule: AckRule,
        now: OffsetDateTime,
    ) -> Result<AckOutcome, StoreError>;

    /// Settles a lease of `recipient` on message `id` that was not handed out (see
    /// [`LeaseOutcome`]): the lease `lease_next` gave with this `delivery_count`. Only that lease
    /// is changed (whether or not it ran out; not a later one of another poller); `false` when
    /// there is no such lease, and nothing changes.
    async fn settle_lease(
        &self,
        recipient: &Mnemonic,
        id: &MessageId,
        delivery_count: u32,
        outcome: LeaseOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// A message by id.
    async fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError>;

    /// Sets a message's interaction status (journaled), optionally notifying its sender.
    async fn set_status(
        &self,
        id: &MessageId,
        status: InteractionStatus,
        notice: Option<String>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Takes the oldest status notice for `recipient` (delivered once: it is removed).
    async fn take_status_notice(
        &self,
        recipient: &Mnemonic,
    ) -> Result<Option<StatusNotice>, StoreError>;

    /// Pending (queued or leased) messages per queue and type for a recipient.
    async fn queue_depths(&self, recipient: &Mnemonic) -> Result<Vec<QueueDepth>, StoreError>;

    /// A message's journal, oldest first.
    async fn journal(&self, id: &MessageId) -> Result<Vec<JournalEvent>, StoreError>;

    /// The newest registry document.
    async fn registry(&self) -> Result<Option<RegistryDocument>, StoreError>;

    /// Saves a new registry version. `expected` is the version the change was based on (`None` =
    /// there must be none yet, or the caller does not care when `force`). With `audit`, the
    /// audit entry is written in the same transaction.
    async fn save_registry(
        &self,
        text: String,
        expected: Option<u64>,
        force: bool,
        now: OffsetDateTime,
        audit: Option<NewAuditEntry>,
    ) -> Result<RegistryDocument, StoreError>;

    /// A stored registry version (every saved version is kept).
    async fn registry_version(&self, version: u64) -> Result<Option<RegistryDocument>, StoreError>;

    /// Messages matching `query`, newest first (see [`MessageQuery`]).
    async fn search_messages(&self, query: MessageQuery)
    -> Result<Vec<MessageSummary>, StoreError>;

    /// The message `sender` sent with this client id.
    async fn message_by_client_id(
        &self,
        sender: &Mnemonic,
        client_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError>;

    /// Stores a new API token (with `audit` in the same transaction). A token id or secret hash
    /// that exists already is [`StoreError::Exists`].
    async fn create_token(
        &self,
        token: TokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// The token whose secret has this SHA-256 digest (revoked and expired ones included: the
    /// caller decides and says why it refuses).
    async fn token_by_secret_hash(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes a token (with `audit`): `false` when there is no such token or it was revoked
    /// already (nothing changes).
    async fn revoke_token(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;

    /// Stores a new account (with `audit`); a known login is [`StoreError::Exists`].
    async fn create_account(
        &self,
        account: Account,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// Replaces an account's fields, found by its login (with `audit`); `false` when there is no
    /// such account.
    async fn update_account(
        &self,
        account: Account,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;

    /// An account by login.
    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError>;

    /// Every account, by login.
    async fn accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// Appends an entry to the audit log; returns its `seq`.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<i64, StoreError>;

    /// Audit entries matching `query`, newest first.
    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// Stores a new web session; a known `id_hash` is [`StoreError::Exists`].
    async fn create_session(&self, session: WebSession) -> Result<(), StoreError>;

    /// The session with this secret hash, whether or not it expired (the caller decides).
    async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<WebSession>, StoreError>;

    /// Records a use of a session: its `last_seen` and new `expires_at`; `false` when there is
    /// no such session.
    async fn touch_session(
        &self,
        id_hash: &[u8; 32],
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Ends a session (logout); `false` when there was none.
    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError>;

    /// Ends every session of an account (disabled, password changed); how many there were.
    async fn delete_sessions_of(&self, login: &str) -> Result<u64, StoreError>;

    /// Removes the sessions that expired before `now`; how many.
    async fn purge_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// The failed logins counted for a login name (any name: unknown ones are counted too).
    async fn login_failures(&self, login: &str) -> Result<Option<LoginFailures>, StoreError>;

    /// Counts a failed login at `now` and returns the count: the window restarts at `now` (count
    /// 1) when the previous one began more than `window` before `now`.
    async fn note_login_failure(
        &self,
        login: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<LoginFailures, StoreError>;

    /// Forgets the failed logins of a login name (after a successful login).
    async fn clear_login_failures(&self, login: &str) -> Result<(), StoreError>;

    /// Saves a draft, new or replacing the one with its id. A draft with that id owned by
    /// another account is [`StoreError::Exists`] and nothing changes.
    async fn save_draft(&self, draft: Draft) -> Result<(), StoreError>;

    /// A draft by id.
    async fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError>;

    /// An account's drafts, most recently saved first.
    async fn drafts(&self, owner: &str) -> Result<Vec<Draft>, StoreError>;

    /// Deletes a draft of `owner`; `false` when `owner` has no draft with that id.
    async fn delete_draft(&self, id: &str, owner: &str) -> Result<bool, StoreError>;

    /// A settings document, newest version.
    async fn settings(&self, name: &str) -> Result<Option<Settings>, StoreError>;

    /// Saves a new version of a settings document, with `audit` in the same transaction.
    /// `expected` is the version the change was based on (0: none yet; `None`: whatever is
    /// there); another current version is [`StoreError::VersionConflict`] and nothing changes.
    async fn save_settings(
        &self,
        name: &str,
        text: String,
        expected: Option<u64>,
        now: OffsetDateTime,
        audit: NewAuditEntry,
    ) -> Result<Settings, StoreError>;

    /// Opens a case with its first event; `false` (nothing changes) when the request has one.
    async fn open_case(&self, case: Case, event: CaseEvent) -> Result<bool, StoreError>;

    /// A request's case with its events, oldest first.
    async fn case(&self, request: &MessageId)
    -> Result<Option<(Case, Vec<CaseEvent>)>, StoreError>;

    /// Changes a case and records `event`, in one transaction; `false` when there is no case.
    async fn change_case(
        &self,
        request: &MessageId,
        change: CaseChange,
        event: CaseEvent,
    ) -> Result<bool, StoreError>;

    /// Cases matching `query`, newest request first.
    async fn cases(&self, query: CaseQuery) -> Result<Vec<Case>, StoreError>;

    /// Requests to `recipient` accepted at or after `since` that have no case and a `seq` above
    /// every case of `recipient`, oldest first, at most `limit`.
    async fn requests_without_case(
        &self,
        recipient: &Mnemonic,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, StoreError>;

    /// Dead letters matching `query`, newest (highest `seq`) first.
    async fn dead_letters(&self, query: DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError>;

    /// Queues every dead letter matching `query` (its `limit` and `before_seq` ignored) again:
    /// queued, with no lease, its delivery count and first delivery time cleared (a new round
    /// of attempts), a [`JournalKind::Replayed`] event by `actor`, its queue signalled. The
    /// recipient's quota is not checked. Returns how many were replayed.
    async fn replay_dead_letters(
        &self,
        query: DeadLetterQuery,
        actor: Option<String>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Records `key` as done at `at` (a notification sent, say): `true` the first time, `false`
    /// when it was recorded already (by any node).
    async fn once(&self, key: &str, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Forgets a key recorded by [`Store::once`] (what it stood for failed and is to be done
    /// again).
    async fn forget_once(&self, key: &str) -> Result<(), StoreError>;

    /// Registers the listener of [`QueueSignal`]s (one; a second call replaces the first). The
    /// store calls it after every commit that makes a message available in a queue — an accepted
    /// enqueue, a released lease ([`LeaseOutcome::Release`]), a lease found run out by
    /// [`Store::sweep`] — whichever store handle on the same database made the change: a backend
    /// shared by several nodes carries the signal to every node (PostgreSQL: `LISTEN/NOTIFY`).
    fn listen(&self, listener: SignalListener);

    /// Claims the background job `job` for `holder` until `now + ttl`, or renews the claim
    /// `holder` has. Succeeds when no one holds the job, when the holder's claim ran out
    /// (`now > until`), or when `holder` holds it already (a renewal keeps the fence); a new
    /// holder gets a fence higher than every earlier one. `None` while another holder's claim
    /// runs. Several nodes call this on one database; exactly one holds a job at a time.
    async fn claim_job(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<Option<JobClaim>, StoreError>;

    /// Gives a claim up (a node shutting down), so another node takes the job at once: `false`
    /// when the claim is not current (nothing changes).
    async fn release_job(&self, claim: &JobClaim) -> Result<bool, StoreError>;

    /// The bus's periodic upkeep, done by the holder of the job claim `claim` and refused with
    /// [`StoreError::LostClaim`] unless the claim is current at `now` (same holder and fence,
    /// not run out), checked in the sweep's own transaction:
    /// * up to `limit` pending messages whose `EOL` passed (`eol < now`) and that no live lease
    ///   holds are expired, exactly as [`Store::lease_next`] expires them on its way (state
    ///   [`DeliveryState::Expired`], status `cancelled`, one [`JournalKind::Expired`] event, a
    ///   status notice for the sender), so a queue no one polls does not keep them;
    /// * the queues of leases that ran out since the previous sweep of this job (after the
    ///   previous sweep's `now`, up to this `now`) are signalled, so pollers waiting anywhere
    ///   take the released messages at once instead of at their next poll.
    async fn sweep(
        &self,
        claim: &JobClaim,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<SweepReport, StoreError>;

    /// Up to `limit` records of `section`, in its order, after position `after` (for messages,
    /// notices and the audit log, `after` is a `seq`; for registry versions, a version; for
    /// tokens and accounts, the number of records already read). Attachments come as the
    /// store's own [`Blob`]s. For copying and checking a whole store.
    async fn export(
        &self,
        section: Section,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;

    /// Writes exported records as they are (their `seq`s, versions, states and journals kept),
    /// in one transaction, into a store that holds none of them: a record whose key exists is
    /// [`StoreError::Exists`] and nothing is written. Attachments given as [`Blob::File`] are
    /// copied, never moved. Sequences continue after the highest imported `seq`. Signals
    /// nothing and checks no quota: it copies a store.
    async fn import(&self, records: Vec<Record>) -> Result<(), StoreError>;
}
