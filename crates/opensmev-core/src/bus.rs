//! [`Bus`]: the service functions, and the inputs the transports decode into.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use opensmev_crypto::{CryptoProvider, Signer};
use opensmev_store::{
    AckOutcome, Attachment, Blob, Enqueued, LeaseOutcome, LeaseRequest, NewMessage, QueueDepth,
    StatusNotice, Store, StoredMessage,
};
use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName,
    SchemaVersion,
};
use opensmev_xmldsig::dsig::{self, FaultCategory, VerifyOptions};
use opensmev_xmldsig::xml::{Document, Element, ElementId};
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;

use crate::error::{
    BusError, ContentIssue, GrantPeriods, IssueText, Miscoordination, Recipient, Unsupported,
};
use crate::registry::{InformationSystem, Kind, KindStatus, Registry, SignaturePolicy};

/// A source of the current time (a manual one in tests).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Now, in whole microseconds: the precision every store keeps (PostgreSQL's), so a time
    /// reads back as it was written whichever store holds it.
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
            .unwrap_or(now)
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// Starts at `at`.
    pub fn new(at: OffsetDateTime) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    /// Moves forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|e| *e.into_inner())
    }
}

/// Settings of the bus logic.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// How long a delivered message waits for `Ack` before it is delivered again.
    pub lease: Duration,
    /// `MessageID`s made longer ago than this are `StaleMessageId` (SMEV: about 48 hours).
    pub stale_message_id: Duration,
    /// `MessageID`s from further in the future than this are refused as stale too (clock skew).
    pub future_message_id: Duration,
    /// Largest accepted total of inline attachments per message, in bytes.
    pub max_attachments_bytes: u64,
    /// How long `GetRequest`/`GetResponse` on an empty queue wait for a message before
    /// answering "nothing" (long polling; zero = answer at once, as SMEV does). A waiting poll
    /// costs no store work: it is woken when a message is queued for its queue.
    pub poll_wait: std::time::Duration,
    /// The window around the bus's clock that the signed `Timestamp` of a poll, `GetStatus` or
    /// queue statistics call must fall in; a signature seen within it is refused the second time
    /// (replay). `None`: neither check (for clients that reuse signed polls).
    pub timestamp_window: Option<Duration>,
    /// How many signatures the replay check remembers at most (the oldest are forgotten first).
    pub replay_cache_entries: usize,
    /// How long cabinet sessions live and when logins are locked out.
    pub sessions: crate::session::SessionPolicy,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            lease: Duration::minutes(5),
            stale_message_id: Duration::hours(48),
            future_message_id: Duration::minutes(15),
            max_attachments_bytes: 64 * 1024 * 1024,
            poll_wait: std::time::Duration::ZERO,
            timestamp_window: Some(Duration::hours(1)),
            replay_cache_entries: 200_000,
            sessions: crate::session::SessionPolicy::default(),
        }
    }
}

/// Signatures of signed polls and status calls seen within the timestamp window: a digest of
/// the `SignatureValue`, its Timestamp and when it may be forgotten (when its Timestamp leaves
/// the window), in arrival order. Bounded by [`BusConfig::replay_cache_entries`]: when full, the
/// oldest entry is forgotten early, and its Timestamp becomes a floor — a call with a Timestamp
/// at or below it is refused as stale, so a forgotten signature can never be replayed (under such
/// load the window in effect is shorter; clients that sign every call with the current time never
/// notice).
#[derive(Debug, Default)]
struct ReplayCache(Mutex<ReplaySeen>);

#[derive(Debug, Default)]
struct ReplaySeen {
    seen: HashMap<[u8; 16], OffsetDateTime>,
    order: std::collections::VecDeque<ReplayEntry>,
    floor: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy)]
struct ReplayEntry {
    key: [u8; 16],
    timestamp: OffsetDateTime,
    forget: OffsetDateTime,
}

/// What [`ReplayCache::record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Not seen before (now recorded).
    First,
    /// Seen before.
    Again,
    /// At or below the floor of what was forgotten early.
    Forgotten(OffsetDateTime),
}

impl ReplaySeen {
    fn forget_oldest(&mut self) -> Option<ReplayEntry> {
        let old = self.order.pop_front()?;
        if self.seen.get(&old.key) == Some(&old.forget) {
            self.seen.remove(&old.key);
        }
        Some(old)
    }
}

impl ReplayCache {
    /// Records a signature `key` whose Timestamp is `timestamp` (forgettable after `forget`).
    fn record(
        &self,
        key: [u8; 16],
        timestamp: OffsetDateTime,
        forget: OffsetDateTime,
        now: OffsetDateTime,
        max: usize,
    ) -> Seen {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let cache = &mut *guard;
        while let Some(old) = cache.order.front().copied() {
            if old.forget >= now {
                break;
            }
            cache.forget_oldest();
        }
        if let Some(floor) = cache.floor
            && timestamp <= floor
        {
            return Seen::Forgotten(floor);
        }
        if cache.seen.contains_key(&key) {
            return Seen::Again;
        }
        while cache.order.len() >= max.max(1) {
            // Forgotten before its window ended: its Timestamp becomes the floor.
            if let Some(old) = cache.forget_oldest() {
                cache.floor = Some(cache.floor.map_or(old.timestamp, |f| f.max(old.timestamp)));
            }
        }
        cache.seen.insert(key, forget);
        cache.order.push_back(ReplayEntry {
            key,
            timestamp,
            forget,
        });
        Seen::First
    }
}

/// The widest a Timestamp without a time zone can be off: it is read as Moscow time
/// (`NAIVE_DATETIME_OFFSET`), and a client elsewhere may have meant its local time (UTC−12 …
/// UTC+14).
const ZONELESS_SLACK: Duration = Duration::hours(14);

/// Whether the signed element's `Timestamp` (the element itself, or its child of that name)
/// carries a time zone (`Z` or `±hh:mm`).
fn timestamp_has_zone(signed: &Signed<'_, '_>) -> bool {
    let target = signed.doc.element(signed.target);
    let element = if target.local_name() == "Timestamp" {
        Some(target)
    } else {
        target.children().find(|c| c.local_name() == "Timestamp")
    };
    let Some(element) = element else {
        return true;
    };
    let text = element.text_content();
    let text = text.trim();
    text.ends_with('Z') || {
        let b = text.as_bytes();
        b.len() >= 6
            && matches!(b[b.len() - 6], b'+' | b'-')
            && b[b.len() - 3] == b':'
            && b[b.len() - 5..b.len() - 3].iter().all(u8::is_ascii_digit)
            && b[b.len() - 2..].iter().all(u8::is_ascii_digit)
    }
}

/// What an `Ack` does to the status of the acknowledged message ([`opensmev_store::AckRule`]).
pub(crate) fn ack_rule(
    kind: MessageKind,
    accepted: bool,
) -> (InteractionStatus, Option<&'static str>) {
    match (kind, accepted) {
        (MessageKind::Request, true) => (InteractionStatus::UnderProcessing, None),
        (MessageKind::Request, false) => (
            InteractionStatus::RequestIsRejectedBySmev,
            Some(
                "the provider's information system rejected the SMEV signature of the delivered request",
            ),
        ),
        (MessageKind::Response, true) => (InteractionStatus::MessageIsDelivered, None),
        (MessageKind::Response, false) => (
            InteractionStatus::ResponseIsRejectedBySmev,
            Some(
                "the consumer's information system rejected the SMEV signature of the delivered response",
            ),
        ),
    }
}

/// The delivery mode of a message of kind `vs_id` to `system` (see
/// [`crate::push::DeliverySettings`]): poll unless its settings push that kind to an endpoint.
fn mode_for(system: &InformationSystem, vs_id: &str) -> DeliveryMode {
    system
        .delivery
        .as_deref()
        .filter(|d| d.endpoint.is_some())
        .map_or(DeliveryMode::Poll, |d| d.mode_of(vs_id))
}

/// One lease in this many of a queue takes the first message in fair order whatever its
/// priority (see [`Bus::fair_turn`]).
pub const FAIR_EVERY: u32 = 10;

/// `sender`'s share of `system`'s queues (its delivery settings' `shares`; 1 when not named).
fn share_of(system: &InformationSystem, sender: &Mnemonic) -> u32 {
    system
        .delivery
        .as_deref()
        .and_then(|d| d.shares.get(sender.as_str()).copied())
        .unwrap_or(1)
}

/// Pollers waiting on empty queues (long polling), by queue (recipient and kind) and by the
/// `NodeID` they poll as. Queuing a message wakes the waiters that could take it — those of its
/// target node, or all of the queue's for a message bound to no node — which then try to lease
/// it (one wins; the others wait on until their deadline). So a response for one node does not
/// stir the pollers of every other node. One entry per queue and node ever waited on.
#[derive(Debug, Default)]
struct Waiters(Mutex<HashMap<(Mnemonic, MessageKind), NodeWaiters>>);

/// One queue's waiters by the `NodeID` they poll as (`None`: no node).
type NodeWaiters = HashMap<Option<String>, Arc<Notify>>;

/// A poller's registration in [`Waiters`]. Dropping the last one of a queue and node removes
/// their entry, so node ids that clients stop using (they choose them freely) are not kept.
struct WaitSlot<'w> {
    waiters: &'w Waiters,
    key: (Mnemonic, MessageKind),
    node: Option<String>,
    notify: Option<Arc<Notify>>,
}

impl WaitSlot<'_> {
    fn notify(&self) -> &Notify {
        self.notify
            .as_deref()
            .unwrap_or_else(|| unreachable!("set until drop"))
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.lock();
        // Dropped under the lock: a `slot` call cannot take a clone between the count and the
        // removal.
        self.notify.take();
        if let Some(nodes) = map.get_mut(&self.key) {
            if nodes
                .get(&self.node)
                .is_some_and(|n| Arc::strong_count(n) == 1)
            {
                nodes.remove(&self.node);
            }
            if nodes.is_empty() {
                map.remove(&self.key);
            }
        }
    }
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Mnemonic, MessageKind), NodeWaiters>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A poller's place among its queue's waiters, until the slot is dropped (also when the poll
    /// is abandoned half-way, e.g. the client went away).
    fn slot(&self, recipient: &Mnemonic, kind: MessageKind, node: &Option<String>) -> WaitSlot<'_> {
        let key = (recipient.clone(), kind);
        let notify = self
            .lock()
            .entry(key.clone())
            .or_default()
            .entry(node.clone())
            .or_default()
            .clone();
        WaitSlot {
            waiters: self,
            key,
            node: node.clone(),
            notify: Some(notify),
        }
    }

    /// The signal of `recipient`'s `kind` queue for waiters of no node, kept while the caller
    /// holds it (a slot's drop removes an entry only when no one else holds it).
    fn notify_of(&self, recipient: &Mnemonic, kind: MessageKind) -> Arc<Notify> {
        self.lock()
            .entry((recipient.clone(), kind))
            .or_default()
            .entry(None)
            .or_default()
            .clone()
    }

    fn wake(&self, recipient: &Mnemonic, kind: MessageKind, target_node: &Option<String>) {
        let map = self.lock();
        let Some(nodes) = map.get(&(recipient.clone(), kind)) else {
            return;
        };
        match target_node {
            Some(_) => {
                if let Some(notify) = nodes.get(target_node) {
                    notify.notify_waiters();
                }
            }
            None => nodes.values().for_each(|n| n.notify_waiters()),
        }
    }
}

/// A signed part of a call: the document, the signed element, its signature wrapper.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'d, 'a> {
    /// The whole decoded document.
    pub doc: &'d Document<'a>,
    /// The element the caller's signature must cover.
    pub target: ElementId,
    /// `CallerInformationSystemSignature`, if present.
    pub wrapper: Option<ElementId>,
    /// The schema version of the call.
    pub version: SchemaVersion,
    /// A mnemonic the transport vouches for (only honoured for IS whose signature policy is
    /// optional and only when the call is unsigned).
    pub claimed: Option<&'d Mnemonic>,
}

/// Inline attachments as found in a call.
#[derive(Debug, Clone, Default)]
pub struct AttachmentsInput {
    /// `AttachmentHeaderList`: (contentId, MimeType).
    pub headers: Vec<(String, String)>,
    /// `AttachmentContentList`: (Id, bytes — in memory, or a file the server spooled a large
    /// MTOM part to; the store takes such a file over).
    pub contents: Vec<(String, Blob)>,
    /// How many `RefAttachmentHeader`s (file-store attachments) there were.
    pub file_store_references: usize,
}

/// `SendRequest`, decoded.
#[derive(Debug, Clone)]
pub struct SendRequestInput<'d, 'a> {
    /// The signed `SenderProvidedRequestData`.
    pub signed: Signed<'d, 'a>,
    /// `MessageID` as written.
    pub message_id: String,
    /// `ReferenceMessageID`.
    pub reference_message_id: Option<String>,
    /// `TransactionCode`.
    pub transaction_code: Option<String>,
    /// `NodeID`.
    pub node_id: Option<String>,
    /// `EOL`.
    pub eol: Option<OffsetDateTime>,
    /// `TestMessage` present.
    pub test_message: bool,
    /// The business root element (child of `MessagePrimaryContent`).
    pub content: ElementId,
    /// Attachments.
    pub attachments: AttachmentsInput,
    /// The sender's own id for the message (integration API; unique per sender).
    pub client_id: Option<String>,
    /// The message's own priority (0–9, integration API), over its grant's and its kind's.
    pub priority: Option<Priority>,
}

/// What a response carries.
#[derive(Debug, Clone, Copy)]
pub enum ResponseBody {
    /// A business answer: its root element.
    Business(ElementId),
    /// `RequestRejected` (no business content).
    Rejected,
    /// `RequestStatus` (an intermediate status, no business content).
    Status,
}

/// `SendResponse`, decoded.
#[derive(Debug, Clone)]
pub struct SendResponseInput<'d, 'a> {
    /// The signed `SenderProvidedResponseData`.
    pub signed: Signed<'d, 'a>,
    /// `MessageID` as written.
    pub message_id: String,
    /// `To`.
    pub to: String,
    /// The content.
    pub body: ResponseBody,
    /// Attachments.
    pub attachments: AttachmentsInput,
    /// The sender's own id for the message (integration API; unique per sender).
    pub client_id: Option<String>,
}

/// `GetRequest` / `GetResponse`, decoded.
#[derive(Debug, Clone)]
pub struct PollInput<'d, 'a> {
    /// The signed `MessageTypeSelector`.
    pub signed: Signed<'d, 'a>,
    /// The selected type, when the selector names one.
    pub message_type: Option<QName>,
    /// `NodeID` of the selector.
    pub node_id: Option<String>,
    /// `Timestamp` of the selector.
    pub timestamp: OffsetDateTime,
}

/// `Ack`, decoded.
#[derive(Debug, Clone)]
pub struct AckInput<'d, 'a> {
    /// The signed `AckTargetMessage`.
    pub signed: Signed<'d, 'a>,
    /// The acknowledged message id.
    pub message_id: String,
    /// `@accepted` (absent = true).
    pub accepted: bool,
}

/// `GetStatus` / `GetIncomingQueueStatistics`, decoded.
#[derive(Debug, Clone)]
pub struct StatusInput<'d, 'a> {
    /// The signed `Timestamp` element.
    pub signed: Signed<'d, 'a>,
    /// Its value.
    pub timestamp: OffsetDateTime,
}

/// What a poll asks for ([`Bus::poll_as`]).
#[derive(Debug, Clone, Default)]
pub struct PollSpec {
    /// Only this message type (`MessageTypeSelector`), or any.
    pub message_type: Option<QName>,
    /// The poller's `NodeID`.
    pub node_id: Option<String>,
    /// How long to wait for a message when the queue is empty (zero: answer at once).
    pub wait: std::time::Duration,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The information system.
    pub system: Arc<InformationSystem>,
    /// Whether it proved itself by a signature (false for unsigned test calls).
    pub signed: bool,
}

/// Why a leased message could not be handed out ([`Bus::poll_with`]).
#[derive(Debug)]
pub enum HandOutError {
    /// The message itself can never be carried in an answer (e.g. its stored data cannot be
    /// read or signed over): it leaves the queue for good.
    Undeliverable(String),
    /// A passing failure not due to the message (e.g. the bus's signing key failed): the lease is
    /// given back and the error answers the poll.
    Failed(BusError),
}

/// The status details a sender gets when its message can never be delivered.
pub(crate) const UNDELIVERABLE_NOTICE: &str =
    "Сообщение не может быть доставлено получателю: СМЭВ не может сформировать ответ с ним";

/// The most undeliverable messages one poll takes out of the queue before it answers (empty).
const MAX_UNDELIVERABLE_PER_POLL: usize = 16;

/// The longest reason journaled for an undeliverable message, in characters.
pub(crate) const MAX_REASON_CHARS: usize = 1000;

/// A message the bus accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The stored message.
    pub message: NewMessage,
    /// Its status after acceptance.
    pub status: InteractionStatus,
    /// The kind of information.
    pub kind: Arc<Kind>,
    /// The sender.
    pub sender: Arc<InformationSystem>,
    /// The recipient.
    pub recipient: Arc<InformationSystem>,
}

/// The opaque `ReplyTo` the bus gives providers: it names the request; `To` must copy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyToken(pub MessageId);

impl ReplyToken {
    const PREFIX: &'static str = "opensmev:1:";

    /// The text sent as `ReplyTo`.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{}{}", Self::PREFIX, self.0))
    }

    /// Reads a `To` value.
    pub fn decode(text: &str) -> Option<ReplyToken> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        MessageId::parse(text.strip_prefix(Self::PREFIX)?)
            .ok()
            .map(ReplyToken)
    }
}

/// Business content against its kind's XSD; every problem with its line and column in `xml`.
pub(crate) fn validate_business(
    schema: &opensmev_schema::SchemaSet,
    xml: &str,
) -> Result<(), BusError> {
    schema.validate(xml).map_err(|issues| {
        BusError::InvalidContent(
            issues
                .into_iter()
                .map(|i| ContentIssue {
                    text: IssueText::Xsd {
                        message: i.message,
                        line: i64::from(i.line),
                        column: i64::from(i.column),
                    },
                    position: Some(i64::from(i.line)),
                })
                .collect(),
        )
    })
}

/// The bus.
#[derive(Debug)]
pub struct Bus {
    store: Arc<dyn Store>,
    registry: RwLock<Arc<Registry>>,
    crypto: Arc<dyn CryptoProvider>,
    signer: Arc<dyn Signer>,
    config: BusConfig,
    clock: Arc<dyn Clock>,
    waiters: Arc<Waiters>,
    replays: ReplayCache,
    /// Keys the bus holds on behalf of information systems (server-side signing).
    keys: Option<Arc<dyn opensmev_crypto::KeyStore>>,
    pub(crate) denials: crate::auth::Denials,
    /// Leases per queue on this node, for [`Bus::fair_turn`].
    turns: Mutex<HashMap<(Mnemonic, MessageKind), u32>>,
}

fn issue(text: IssueText) -> BusError {
    BusError::InvalidContent(vec![ContentIssue {
        text,
        position: None,
    }])
}

impl Bus {
    /// A bus over a store. The registry starts empty: call [`Bus::reload_registry`].
    pub fn new(
        store: Arc<dyn Store>,
        crypto: Arc<dyn CryptoProvider>,
        signer: Arc<dyn Signer>,
        config: BusConfig,
        clock: Arc<dyn Clock>,
    ) -> Bus {
        // The store's queue signals — from this node or any other on a shared store — wake the
        // polls waiting here.
        let waiters = Arc::new(Waiters::default());
        let woken = Arc::clone(&waiters);
        store.listen(Arc::new(move |signal| {
            woken.wake(&signal.recipient, signal.kind, &signal.node)
        }));
        Bus {
            store,
            registry: RwLock::new(Arc::new(Registry::empty())),
            crypto,
            signer,
            config,
            clock,
            waiters,
            replays: ReplayCache::default(),
            keys: None,
            denials: crate::auth::Denials::default(),
            turns: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this lease of `recipient`'s `kind` queue is a fair-first one
    /// ([`opensmev_store::LeaseRequest::fair_first`]): every [`FAIR_EVERY`]th of the queue on
    /// this node, so that low priorities progress under a stream of high ones.
    pub(crate) fn fair_turn(&self, recipient: &Mnemonic, kind: MessageKind) -> bool {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        if turns.len() > 100_000 {
            // Bounded (one entry per queue ever leased); starting the count again is harmless.
            turns.clear();
        }
        let turn = turns.entry((recipient.clone(), kind)).or_insert(0);
        *turn = (*turn + 1) % FAIR_EVERY;
        *turn == 0
    }

    /// The bus with the keys it holds for information systems (server-side signing through the
    /// integration API).
    pub fn with_keys(mut self, keys: Arc<dyn opensmev_crypto::KeyStore>) -> Bus {
        self.keys = Some(keys);
        self
    }

    /// The keys the bus holds for information systems, if configured.
    pub fn keys(&self) -> Option<&Arc<dyn opensmev_crypto::KeyStore>> {
        self.keys.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The crypto provider.
    pub fn crypto(&self) -> &dyn CryptoProvider {
        self.crypto.as_ref()
    }

    /// The bus's own signing key (ЭП-СМЭВ).
    pub fn signer(&self) -> &dyn Signer {
        self.signer.as_ref()
    }

    /// The settings.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Now, by the bus's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The registry in force.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Loads the newest registry version from the store if it is newer than the one in force.
    /// Returns whether it changed. A stored document that no longer checks out is an error and
    /// leaves the registry in force unchanged.
    pub async fn reload_registry(&self) -> Result<bool, BusError> {
        let Some(doc) = self.store.registry().await? else {
            return Ok(false);
        };
        if doc.version == self.registry().version() {
            return Ok(false);
        }
        let registry = Registry::from_toml(&doc.text, doc.version)
            .map_err(|e| BusError::Internal(e.to_string()))?;
        tracing::info!(
            version = doc.version,
            saved_at = %doc.saved_at,
            "registry version {} in force",
            doc.version
        );
        if let Ok(mut current) = self.registry.write() {
            *current = Arc::new(registry);
        }
        Ok(true)
    }

    /// Checks a registry document and stores it as the newest version, then puts it in force.
    pub async fn import_registry(&self, text: &str) -> Result<u64, BusError> {
        Registry::from_toml(text, 0).map_err(|e| issue(IssueText::Registry(e.to_string())))?;
        let doc = self
            .store
            .save_registry(text.to_owned(), None, true, self.now(), None)
            .await?;
        self.reload_registry().await?;
        Ok(doc.version)
    }

    /// Identifies and authenticates the caller of a signed call.
    pub fn authenticate(
        &self,
        signed: &Signed<'_, '_>,
        registry: &Registry,
    ) -> Result<Caller, BusError> {
        let doc = signed.doc;
        let Some(wrapper) = signed.wrapper.map(|w| doc.element(w)) else {
            // Unsigned: only a test IS with an optional signature policy, named by the transport.
            if let Some(mnemonic) = signed.claimed
                && let Some(system) = registry.system(mnemonic)
                && system.signature == SignaturePolicy::Optional
            {
                tracing::Span::current().record("caller", system.mnemonic.as_str());
                return Ok(Caller {
                    system: system.clone(),
                    signed: false,
                });
            }
            return Err(BusError::Signature {
                category: FaultCategory::NoSignatureFound,
                message: "the call carries no CallerInformationSystemSignature".into(),
            });
        };
        // Identity before the expensive work: the signing certificate is looked up by its DER
        // bytes; an unregistered one is refused without verifying (and without caching) it.
        // The registry may allow this IS one non-reference SMEV transform implementation.
        let mut accept_variant = None;
        let now = self.now();
        if let Some(signature) = wrapper
            .children()
            .find(|c| c.is(dsig::DSIG_NS, "Signature"))
            && let Ok(parsed) = dsig::parse_signature(&signature)
            && let Some(text) = parsed.certificates.first()
        {
            match dsig::certificate_der(text) {
                Err(message) => {
                    return Err(BusError::Signature {
                        category: FaultCategory::CertificateIsNotFound,
                        message,
                    });
                }
                Ok(der) if registry.system_by_certificate_der_at(&der, now).is_none() => {
                    return Err(match opensmev_crypto::Certificate::from_der(&der) {
                        Ok(cert) => BusError::SenderIsNotRegistered {
                            thumbprint: cert.thumbprint_sha1().to_owned(),
                            // A retired certificate says when it was retired.
                            subject: match registry.refusal_note_der(&der, now) {
                                Some(note) => format!("{}; {note}", cert.subject()),
                                None => cert.subject().to_string(),
                            },
                        },
                        Err(e) => BusError::Signature {
                            category: FaultCategory::CertificateIsNotFound,
                            // The parser's own text (`Parsing Error: NomError(Eof)`) means
                            // nothing to a client: it goes to the log only.
                            message: {
                                tracing::debug!(error = %e, "unreadable X509Certificate");
                                "the X509Certificate cannot be read as a DER X.509 certificate"
                                    .to_owned()
                            },
                        },
                    });
                }
                Ok(der) => {
                    accept_variant = registry
                        .system_by_certificate_der_at(&der, now)
                        .and_then(|s| s.transform_variant);
                }
            }
        }
        let options = VerifyOptions {
            at: now,
            expected_target: Some(signed.target),
            accept_variant,
            ..VerifyOptions::now()
        };
        let report = dsig::verify_wrapped(Some(&wrapper), self.crypto.as_ref(), &options);
        // Identity first: an unknown certificate is SenderIsNotRegistered whatever else is wrong.
        let system = match &report.certificate {
            Some(cert) => match registry.system_by_certificate_at(cert, now) {
                Some(system) => system.clone(),
                None => {
                    return Err(BusError::SenderIsNotRegistered {
                        thumbprint: cert.thumbprint_sha1().to_owned(),
                        subject: match registry.refusal_note_der(cert.der(), now) {
                            Some(note) => format!("{}; {note}", cert.subject()),
                            None => cert.subject().to_string(),
                        },
                    });
                }
            },
            None => {
                let failure = report.failure.unwrap_or_else(|| dsig::Failure {
                    category: FaultCategory::CertificateIsNotFound,
                    message: "no certificate".into(),
                });
                return Err(BusError::Signature {
                    category: failure.category,
                    message: failure.message,
                });
            }
        };
        // The call log names the caller (a no-op outside a span with that field).
        tracing::Span::current().record("caller", system.mnemonic.as_str());
        if let Some(failure) = report.failure {
            return Err(match failure.category {
                FaultCategory::Internal => BusError::Internal(failure.message),
                category => BusError::Signature {
                    category,
                    message: failure.message,
                },
            });
        }
        if let Some(variant) = report.matched_variant.filter(|_| report.variant_accepted) {
            // Accepted only because the registry allows this IS that implementation.
            tracing::info!(
                caller = system.mnemonic.as_str(),
                transform_variant = variant.name(),
                "signature accepted with a non-reference SMEV transform ({}): allowed for this \
                 information system by its registry entry",
                variant.describe_en()
            );
        }
        Ok(Caller {
            system,
            signed: true,
        })
    }

    /// OpenSMEV's rule for the signed `Timestamp` of polls and status calls (the protocol notes
    /// are silent): it must lie within [`BusConfig::timestamp_window`] of the bus's clock, and the
    /// same signature is honoured once within it (a captured call cannot be replayed to lease a
    /// provider's messages or consume notices). Unsigned test calls are not checked.
    fn check_fresh(
        &self,
        signed: &Signed<'_, '_>,
        caller: &Caller,
        timestamp: OffsetDateTime,
    ) -> Result<(), BusError> {
        let Some(window) = self.config.timestamp_window else {
            return Ok(());
        };
        if !caller.signed {
            return Ok(());
        }
        let now = self.now();
        // A Timestamp without a time zone was read as Moscow time; the client may have meant
        // its own.
        let window = if timestamp_has_zone(signed) {
            window
        } else {
            window + ZONELESS_SLACK
        };
        let text = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        let stale = |window_seconds: i64| BusError::StaleTimestamp {
            at: text(timestamp),
            now: text(now),
            window_seconds,
        };
        let (Some(earliest), Some(latest)) = (now.checked_sub(window), now.checked_add(window))
        else {
            return Err(stale(window.whole_seconds()));
        };
        if timestamp < earliest || timestamp > latest {
            return Err(stale(window.whole_seconds()));
        }
        let value = signed
            .wrapper
            .and_then(|w| {
                signed
                    .doc
                    .element(w)
                    .children()
                    .find(|c| c.is(dsig::DSIG_NS, "Signature"))
            })
            .and_then(|s| dsig::parse_signature(&s).ok())
            .map(|p| p.signature_value);
        let Some(value) = value else {
            return Ok(()); // authenticated, so there is one
        };
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&value);
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        // In the window: `timestamp + window` is at most `now + 2 × window`, in range.
        let forget = timestamp.checked_add(window).unwrap_or(latest);
        match self.replays.record(
            key,
            timestamp,
            forget,
            now,
            self.config.replay_cache_entries,
        ) {
            Seen::First => Ok(()),
            Seen::Again => Err(BusError::ReplayedCall),
            Seen::Forgotten(floor) => Err(stale((now - floor).whole_seconds().max(0))),
        }
    }

    fn check_message_id(&self, text: &str) -> Result<MessageId, BusError> {
        let id = MessageId::parse(text).map_err(|e| BusError::InvalidMessageIdFormat {
            id: text.to_owned(),
            reason: e.to_string(),
        })?;
        let made = id.timestamp();
        let now = self.now();
        if made < now - self.config.stale_message_id || made > now + self.config.future_message_id {
            return Err(BusError::StaleMessageId {
                id: text.to_owned(),
                made: made.to_string(),
            });
        }
        Ok(id)
    }

    fn check_attachments(&self, input: &AttachmentsInput) -> Result<Vec<Attachment>, BusError> {
        let mut headers: Vec<&(String, String)> = input.headers.iter().collect();
        headers.sort();
        let mut contents: Vec<&(String, Blob)> = input.contents.iter().collect();
        contents.sort_by(|a, b| a.0.cmp(&b.0));
        let header_ids: Vec<&str> = headers.iter().map(|h| h.0.as_str()).collect();
        let content_ids: Vec<&str> = contents.iter().map(|c| c.0.as_str()).collect();
        if header_ids != content_ids {
            return Err(BusError::AttachmentContentMiscoordination(
                Miscoordination::Mismatch {
                    headers: header_ids.iter().map(|s| (*s).to_owned()).collect(),
                    contents: content_ids.iter().map(|s| (*s).to_owned()).collect(),
                },
            ));
        }
        if header_ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(BusError::AttachmentContentMiscoordination(
                Miscoordination::Duplicate,
            ));
        }
        if input.file_store_references > 0 {
            return Err(issue(IssueText::FileStoreAttachments));
        }
        let real: u64 = contents.iter().map(|c| c.1.len()).sum();
        if real > self.config.max_attachments_bytes {
            return Err(BusError::AttachmentSizeLimitExceeded {
                permitted: self.config.max_attachments_bytes,
                real,
            });
        }
        Ok(headers
            .iter()
            .zip(contents)
            .map(|(h, c)| Attachment {
                content_id: h.0.clone(),
                mime_type: h.1.clone(),
                data: c.1.clone(),
            })
            .collect())
    }

    fn validate_content(kind: &Kind, content: &Element<'_, '_>) -> Result<(), BusError> {
        let Some(schema) = &kind.schema else {
            return Ok(());
        };
        validate_business(schema, &content.standalone())
    }

    /// The signed element and the caller's `ds:Signature`, as standalone fragments to store and
    /// deliver unchanged.
    fn signed_data(signed: &Signed<'_, '_>) -> (String, Option<String>) {
        let doc = signed.doc;
        let signature = signed
            .wrapper
            .and_then(|w| {
                doc.element(w)
                    .children()
                    .find(|c| c.is(dsig::DSIG_NS, "Signature"))
            })
            .map(|s| s.standalone());
        (doc.element(signed.target).standalone(), signature)
    }

    fn root_of(element: &Element<'_, '_>) -> QName {
        QName::new(element.namespace().unwrap_or(""), element.local_name())
    }

    fn opt_id(text: &Option<String>) -> Result<Option<MessageId>, BusError> {
        text.as_deref()
            .map(|t| {
                MessageId::parse(t).map_err(|e| BusError::InvalidMessageIdFormat {
                    id: t.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    async fn enqueue(
        &self,
        message: NewMessage,
        status: InteractionStatus,
        recipient: &InformationSystem,
        request_status: Option<InteractionStatus>,
    ) -> Result<(), BusError> {
        let kind = message.kind;
        let destination = format!("{}/{}", recipient.mnemonic, kind.as_str());
        let id = message.id.to_string();
        let quota = recipient.queue_quota;
        let enqueued = match request_status {
            Some(request_status) => {
                self.store
                    .enqueue_response(message, status, quota, request_status)
                    .await?
            }
            None => self.store.enqueue(message, status, quota).await?,
        };
        match enqueued {
            // The store signals the queue (on every node sharing it): waiting polls wake.
            Enqueued::Accepted { .. } => Ok(()),
            Enqueued::Duplicate { .. } => Err(BusError::MessageIsAlreadySent(id)),
            Enqueued::QueueFull { depth } => {
                Err(BusError::DestinationOverflow { destination, depth })
            }
        }
    }

    /// `SendRequest`: a consumer's request, checked, stored and queued for the provider.
    pub async fn send_request(
        &self,
        input: SendRequestInput<'_, '_>,
    ) -> Result<Accepted, BusError> {
        let registry = self.registry();
        let caller = self.authenticate(&input.signed, &registry)?;
        let id = self.check_message_id(&input.message_id)?;
        let doc = input.signed.doc;
        let content = doc.element(input.content);
        let root = Self::root_of(&content);
        let Some(kind) = registry.kind_by_request_root(&root).cloned() else {
            return Err(BusError::BusinessDataTypeIsNotSupported {
                root,
                reason: Unsupported::NotRegistered,
            });
        };
        let now = self.now();
        // A retired kind, or a deprecated one past its sunset date, takes no new requests.
        let sunset_passed = kind.sunset.is_some_and(|day| now.date() > day);
        if kind.entry.status == KindStatus::Retired {
            return Err(BusError::BusinessDataTypeIsNotSupported {
                root,
                reason: Unsupported::Retired {
                    kind: kind.entry.id.clone(),
                },
            });
        }
        if kind.entry.status == KindStatus::Deprecated && sunset_passed {
            return Err(BusError::BusinessDataTypeIsNotSupported {
                root,
                reason: Unsupported::Sunset {
                    kind: kind.entry.id.clone(),
                    day: kind.sunset.map(|d| d.to_string()).unwrap_or_default(),
                },
            });
        }
        if let Some(eol) = input.eol
            && eol <= now
        {
            return Err(BusError::EndOfLifeReached(eol.to_string()));
        }
        let Some(grant) = registry.grant(&caller.system.mnemonic, &kind.entry.id, now) else {
            return Err(BusError::AccessDenied {
                system: caller.system.mnemonic.to_string(),
                kind: kind.entry.id.clone(),
                title: kind.entry.title.clone(),
                grants: GrantPeriods {
                    periods: registry
                        .grants_for(&caller.system.mnemonic, &kind.entry.id)
                        .iter()
                        .map(|g| {
                            (
                                g.valid_from.map(|d| d.to_string()),
                                g.valid_to.map(|d| d.to_string()),
                            )
                        })
                        .collect(),
                    today: now.date().to_string(),
                },
            });
        };
        // The message's own priority — at most its grant's, when the grant gives one — else its
        // grant's, else its kind's.
        let priority = match (input.priority, grant.entry.priority) {
            (Some(own), Some(cap)) => own.min(Priority(cap)),
            (Some(own), None) => own,
            (None, granted) => granted
                .or(kind.extras.priority)
                .map(Priority)
                .unwrap_or_default(),
        };
        let (sender_data, sender_signature) = Self::signed_data(&input.signed);
        // The kind's provider, or the system a delegation rule hands the request to.
        let delegate = kind
            .extras
            .delegate
            .iter()
            .find(|rule| rule.matches(&sender_data));
        let to = match delegate {
            Some(rule) => Mnemonic::parse(&rule.to).map_err(|_| {
                BusError::RecipientIsNotFound(Recipient::SystemGone(rule.to.clone()))
            })?,
            None => kind.provider.clone(),
        };
        let recipient = registry
            .system(&to)
            .cloned()
            .ok_or_else(|| BusError::RecipientIsNotFound(Recipient::SystemGone(to.to_string())))?;
        if delegate.is_some() {
            tracing::info!(message_id = %id, kind = %kind.entry.id, provider = %kind.provider,
                delegate = %to, "a request is delegated");
        }
        Self::validate_content(&kind, &content)?;
        let attachments = self.check_attachments(&input.attachments)?;
        let message = NewMessage {
            id: id.clone(),
            kind: MessageKind::Request,
            sender: caller.system.mnemonic.clone(),
            recipient: recipient.mnemonic.clone(),
            message_type: root,
            vs_id: kind.entry.id.clone(),
            version: input.signed.version,
            priority,
            share: share_of(&recipient, &caller.system.mnemonic),
            delivery_mode: mode_for(&recipient, &kind.entry.id),
            test_message: input.test_message,
            node_id: input.node_id.clone(),
            target_node_id: None,
            eol: input.eol,
            transaction_code: input.transaction_code.clone(),
            reference_message_id: Self::opt_id(&input.reference_message_id)?.or(Some(id.clone())),
            original_message_id: None,
            reply_to: Some(ReplyToken(id).encode()),
            sent_at: now,
            sender_data,
            sender_signature,
            attachments,
            client_id: input.client_id.clone(),
        };
        let status = InteractionStatus::RequestIsQueued;
        self.enqueue(message.clone(), status, &recipient, None)
            .await?;
        Ok(Accepted {
            message,
            status,
            kind,
            sender: caller.system,
            recipient,
        })
    }

    /// `SendResponse`: a provider's answer to a request it received, routed back by `To`.
    pub async fn send_response(
        &self,
        input: SendResponseInput<'_, '_>,
    ) -> Result<Accepted, BusError> {
        let registry = self.registry();
        let caller = self.authenticate(&input.signed, &registry)?;
        let id = self.check_message_id(&input.message_id)?;
        let token = ReplyToken::decode(&input.to)
            .ok_or(BusError::RecipientIsNotFound(Recipient::NotAReplyTo))?;
        let request = self
            .store
            .message(&token.0)
            .await?
            .filter(|r| {
                r.message.kind == MessageKind::Request
                    && r.message.recipient == caller.system.mnemonic
            })
            .ok_or_else(|| {
                BusError::RecipientIsNotFound(Recipient::NoRequest {
                    id: token.0.to_string(),
                    system: caller.system.mnemonic.to_string(),
                })
            })?;
        let kind = registry
            .kind(&request.message.vs_id)
            .cloned()
            .ok_or_else(|| {
                BusError::RecipientIsNotFound(Recipient::KindGone(request.message.vs_id.clone()))
            })?;
        let doc = input.signed.doc;
        let message_type = match input.body {
            ResponseBody::Business(root) => {
                let content = doc.element(root);
                let root = Self::root_of(&content);
                if !kind.responses.contains(&root) {
                    if registry.kind_by_request_root(&root).is_some() {
                        return Err(BusError::IncorrectResponseContentType {
                            root,
                            expected: kind.responses.clone(),
                        });
                    }
                    // The response root of another kind is not "unregistered": say which roots
                    // this request's kind answers with.
                    let reason = if registry.kind_by_response_root(&root).is_some() {
                        Unsupported::NotAResponseOf {
                            kind: kind.entry.id.clone(),
                            expected: kind.responses.clone(),
                        }
                    } else {
                        Unsupported::NotRegistered
                    };
                    return Err(BusError::BusinessDataTypeIsNotSupported { root, reason });
                }
                Self::validate_content(&kind, &content)?;
                root
            }
            // Rejections and statuses carry no business root: they are filed under the kind's
            // (first) response type, so a consumer polling with that selector receives them.
            ResponseBody::Rejected | ResponseBody::Status => kind
                .responses
                .first()
                .cloned()
                .unwrap_or_else(|| request.message.message_type.clone()),
        };
        let consumer = registry
            .system(&request.message.sender)
            .cloned()
            .ok_or_else(|| {
                BusError::RecipientIsNotFound(Recipient::SystemGone(
                    request.message.sender.to_string(),
                ))
            })?;
        let attachments = self.check_attachments(&input.attachments)?;
        let now = self.now();
        let (sender_data, sender_signature) = Self::signed_data(&input.signed);
        let message = NewMessage {
            id,
            kind: MessageKind::Response,
            sender: caller.system.mnemonic.clone(),
            recipient: consumer.mnemonic.clone(),
            message_type,
            vs_id: kind.entry.id.clone(),
            version: input.signed.version,
            priority: request.message.priority,
            share: share_of(&consumer, &caller.system.mnemonic),
            delivery_mode: mode_for(&consumer, &kind.entry.id),
            test_message: request.message.test_message,
            node_id: None,
            target_node_id: request.message.node_id.clone(),
            eol: None,
            transaction_code: request.message.transaction_code.clone(),
            reference_message_id: request.message.reference_message_id.clone(),
            original_message_id: Some(request.message.id.clone()),
            reply_to: None,
            sent_at: now,
            sender_data,
            sender_signature,
            attachments,
            client_id: input.client_id.clone(),
        };
        let status = InteractionStatus::ResponseIsAcceptedBySmev;
        let request_status = match input.body {
            ResponseBody::Status => InteractionStatus::UnderProcessing,
            ResponseBody::Rejected => InteractionStatus::RequestIsProcessed,
            ResponseBody::Business(_) => InteractionStatus::ResponseIsQueued,
        };
        // The response and the request's new status in one transaction.
        self.enqueue(message.clone(), status, &consumer, Some(request_status))
            .await?;
        Ok(Accepted {
            message,
            status,
            kind,
            sender: caller.system,
            recipient: consumer,
        })
    }

    fn check_selector(
        &self,
        registry: &Registry,
        caller: &Caller,
        kind: MessageKind,
        message_type: &Option<QName>,
    ) -> Result<(), BusError> {
        let Some(message_type) = message_type else {
            return Ok(());
        };
        let allowed = match kind {
            MessageKind::Request => registry
                .kind_by_request_root(message_type)
                .is_some_and(|k| k.provider == caller.system.mnemonic),
            MessageKind::Response => {
                registry
                    .kind_by_response_root(message_type)
                    .is_some_and(|k| {
                        registry
                            .consumed_kinds(&caller.system.mnemonic)
                            .any(|c| c.entry.id == k.entry.id)
                    })
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(BusError::UnknownMessageType {
                message_type: message_type.clone(),
                request: kind == MessageKind::Request,
                system: caller.system.mnemonic.to_string(),
            })
        }
    }

    /// `GetRequest` / `GetResponse` (by `kind`) with the answer built by `hand_out` from the
    /// leased message. No stored message can make a poll fail: a message `hand_out` finds
    /// undeliverable leaves the queue for good (journaled, its sender notified) and the poll goes
    /// on with the next one; on a passing failure the lease is given back before the error is
    /// returned, so the message is not held for a lease's length.
    pub async fn poll_with<T>(
        &self,
        input: PollInput<'_, '_>,
        kind: MessageKind,
        hand_out: impl FnMut(StoredMessage) -> Result<T, HandOutError>,
    ) -> Result<Option<T>, BusError> {
        let registry = self.registry();
        let caller = self.authenticate(&input.signed, &registry)?;
        self.check_selector(&registry, &caller, kind, &input.message_type)?;
        self.check_fresh(&input.signed, &caller, input.timestamp)?;
        let spec = PollSpec {
            message_type: input.message_type,
            node_id: input.node_id,
            wait: self.config.poll_wait,
        };
        self.poll_queue(&caller, kind, spec, hand_out).await
    }

    /// [`Bus::poll_with`] for a caller the edge identified otherwise (an API token): the
    /// selector is checked as for a signed poll, and the poll waits up to `spec.wait`.
    pub async fn poll_as<T>(
        &self,
        caller: &Caller,
        kind: MessageKind,
        spec: PollSpec,
        hand_out: impl FnMut(StoredMessage) -> Result<T, HandOutError>,
    ) -> Result<Option<T>, BusError> {
        self.check_selector(&self.registry(), caller, kind, &spec.message_type)?;
        self.poll_queue(caller, kind, spec, hand_out).await
    }

    async fn poll_queue<T>(
        &self,
        caller: &Caller,
        kind: MessageKind,
        spec: PollSpec,
        mut hand_out: impl FnMut(StoredMessage) -> Result<T, HandOutError>,
    ) -> Result<Option<T>, BusError> {
        let input = spec;
        let wait = input.wait;
        let deadline = tokio::time::Instant::now() + wait;
        let slot = (!wait.is_zero()).then(|| {
            self.waiters
                .slot(&caller.system.mnemonic, kind, &input.node_id)
        });
        let mut undeliverable = 0;
        loop {
            // Registered before looking, so a message queued in between is not missed.
            let notified = slot.as_ref().map(|s| s.notify().notified());
            let mut notified = std::pin::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let request = LeaseRequest {
                recipient: caller.system.mnemonic.clone(),
                kind,
                message_type: input.message_type.clone(),
                node_id: input.node_id.clone(),
                lease: self.config.lease,
                now: self.now(),
                push: false,
                fair_first: self.fair_turn(&caller.system.mnemonic, kind),
            };
            if let Some(message) = self.store.lease_next(request).await? {
                let id = message.message.id.clone();
                let lease = message.delivery_count;
                match hand_out(message) {
                    Ok(answer) => return Ok(Some(answer)),
                    Err(HandOutError::Failed(e)) => {
                        // Not the message's fault: it stays first in line.
                        self.store
                            .settle_lease(
                                &caller.system.mnemonic,
                                &id,
                                lease,
                                LeaseOutcome::Release,
                                self.now(),
                            )
                            .await?;
                        // Queued again: the store signals the queue, so a poller waiting for it
                        // may take it.
                        return Err(e);
                    }
                    Err(HandOutError::Undeliverable(reason)) => {
                        let reason = opensmev_xmldsig::xml::cut_chars(&reason, MAX_REASON_CHARS)
                            .into_owned();
                        tracing::warn!(message_id = %id, recipient = %caller.system.mnemonic, %reason,
                            "a message can never be delivered; it leaves the queue");
                        self.store
                            .settle_lease(
                                &caller.system.mnemonic,
                                &id,
                                lease,
                                LeaseOutcome::Undeliverable {
                                    reason,
                                    notice: UNDELIVERABLE_NOTICE.to_owned(),
                                },
                                self.now(),
                            )
                            .await?;
                        undeliverable += 1;
                        if undeliverable >= MAX_UNDELIVERABLE_PER_POLL {
                            // The queue is not stuck (they are gone); the next poll goes on.
                            return Ok(None);
                        }
                        continue;
                    }
                }
            }
            let Some(n) = notified.as_mut().as_pin_mut() else {
                return Ok(None);
            };
            if tokio::time::timeout_at(deadline, n).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// The signal that `recipient`'s `kind` queue may hold something new (a message queued, a
    /// lease given back, a dead letter replayed): for a waiter that is not a poll, such as the
    /// push engine. Call `notified()` on it (and `enable` the future) before looking at the
    /// queue, so that nothing queued in between is missed. Messages bound to a node wake only
    /// that node's pollers: a waiter of this signal also needs a timer.
    pub fn queue_signal(&self, recipient: &Mnemonic, kind: MessageKind) -> Arc<Notify> {
        self.waiters.notify_of(recipient, kind)
    }

    /// `GetRequest`: the next request from the caller's incoming queue, leased until `Ack`.
    pub async fn get_request(
        &self,
        input: PollInput<'_, '_>,
    ) -> Result<Option<StoredMessage>, BusError> {
        self.poll_with(input, MessageKind::Request, Ok).await
    }

    /// `GetResponse`: the next response from the caller's queue, leased until `Ack`.
    pub async fn get_response(
        &self,
        input: PollInput<'_, '_>,
    ) -> Result<Option<StoredMessage>, BusError> {
        self.poll_with(input, MessageKind::Response, Ok).await
    }

    /// `Ack`: the caller confirms a delivered message.
    pub async fn ack(&self, input: AckInput<'_, '_>) -> Result<(), BusError> {
        let registry = self.registry();
        let caller = self.authenticate(&input.signed, &registry)?;
        self.ack_as(&caller, &input.message_id, input.accepted)
            .await
    }

    /// [`Bus::ack`] for a caller the edge identified otherwise (an API token).
    pub async fn ack_as(
        &self,
        caller: &Caller,
        message_id: &str,
        accepted: bool,
    ) -> Result<(), BusError> {
        let id = MessageId::parse(message_id)
            .map_err(|_| BusError::TargetMessageIsNotFound(message_id.to_owned()))?;
        let now = self.now();
        match self
            .store
            .ack(&caller.system.mnemonic, &id, accepted, ack_rule, now)
            .await?
        {
            AckOutcome::Acked => Ok(()),
            AckOutcome::NotFound => Err(BusError::TargetMessageIsNotFound(message_id.to_owned())),
        }
    }

    /// `GetStatus`: the next asynchronous status notice about the caller's messages.
    pub async fn get_status(
        &self,
        input: StatusInput<'_, '_>,
    ) -> Result<Option<StatusNotice>, BusError> {
        let registry = self.registry();
        let caller = self.authenticate(&input.signed, &registry)?;
        self.check_fresh(&input.signed, &caller, input.timestamp)?;
        self.get_status_as(&caller).await
    }

    /// [`Bus::get_status`] for a caller the edge identified otherwise (an API token).
    pub async fn get_status_as(&self, caller: &Caller) -> Result<Option<StatusNotice>, BusError> {
        Ok(self
            .store
            .take_status_notice(&caller.system.mnemonic)
            .await?)
    }

    /// `GetIncomingQueueStatistics` (1.1): pending messages per queue of the caller.
    pub async fn queue_statistics(
        &self,
        input: StatusInput<'_, '_>,
    ) -> Result<Vec<QueueDepth>, BusError> {
        let registry = self.registry();
        let caller = self.authenticate(&input.signed, &registry)?;
        self.check_fresh(&input.signed, &caller, input.timestamp)?;
        self.queue_statistics_as(&caller).await
    }

    /// [`Bus::queue_statistics`] for a caller the edge identified otherwise (an API token).
    pub async fn queue_statistics_as(&self, caller: &Caller) -> Result<Vec<QueueDepth>, BusError> {
        Ok(self.store.queue_depths(&caller.system.mnemonic).await?)
    }

    /// The caller of a principal that works as an information system ([`crate::auth::Action::WorkAs`]
    /// checked by the edge): `None` when the system is not in the registry.
    pub fn caller_of(&self, system: &Mnemonic) -> Option<Caller> {
        self.registry().system(system).map(|system| Caller {
            system: system.clone(),
            signed: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_cache_never_forgets_silently() {
        let t0 = time::macros::datetime!(2026-12-07 12:00 UTC);
        let window = Duration::hours(1);
        let cache = ReplayCache::default();
        let key = |n: u8| [n; 16];
        let at = |s: i64| t0 + Duration::seconds(s);
        // Room for 3.
        assert_eq!(
            cache.record(key(1), at(0), at(0) + window, at(0), 3),
            Seen::First
        );
        assert_eq!(
            cache.record(key(1), at(0), at(0) + window, at(1), 3),
            Seen::Again
        );
        assert_eq!(
            cache.record(key(2), at(2), at(2) + window, at(2), 3),
            Seen::First
        );
        assert_eq!(
            cache.record(key(3), at(3), at(3) + window, at(3), 3),
            Seen::First
        );
        // Full: the oldest (Timestamp at(0)) is forgotten early and becomes the floor.
        assert_eq!(
            cache.record(key(4), at(4), at(4) + window, at(4), 3),
            Seen::First
        );
        assert_eq!(
            cache.record(key(1), at(0), at(0) + window, at(5), 3),
            Seen::Forgotten(at(0)),
            "a forgotten signature is still refused"
        );
        assert_eq!(
            cache.record(key(3), at(3), at(3) + window, at(5), 3),
            Seen::Again
        );
        // Entries whose window passed are forgotten without raising the floor.
        let later = at(4) + window + Duration::seconds(1);
        assert_eq!(
            cache.record(key(9), later, later + window, later, 3),
            Seen::First
        );
        assert_eq!(cache.0.lock().unwrap().floor, Some(at(0)));
        assert_eq!(cache.0.lock().unwrap().order.len(), 1);
    }

    fn entries(w: &Waiters) -> usize {
        w.lock().values().map(HashMap::len).sum()
    }

    #[test]
    fn waiter_entries_last_as_long_as_their_pollers() {
        let w = Waiters::default();
        let is = Mnemonic::parse("PFR01").unwrap();
        let (a, b) = (Some("node-a".to_owned()), None);
        let first = w.slot(&is, MessageKind::Request, &a);
        let second = w.slot(&is, MessageKind::Request, &a);
        let third = w.slot(&is, MessageKind::Request, &b);
        assert_eq!(entries(&w), 2);
        drop(first);
        assert_eq!(entries(&w), 2, "node-a still has a poller");
        drop(second);
        assert_eq!(entries(&w), 1);
        drop(third);
        assert_eq!(entries(&w), 0);
        assert!(w.lock().is_empty(), "no empty queue entries are left");
    }
}
