//! The conformance suite every [`Store`] backend must pass: one `pub async fn` per behaviour of
//! the contract in the crate docs, and [`run_all`], which runs each on a fresh empty store.
//!
//! The suite is runtime-agnostic: it uses only `std` and the trait, so a backend's test drives it
//! from whatever async runtime the backend needs (e.g. `#[tokio::test]`). Time never comes from a
//! clock: every "now" is passed explicitly, relative to a fixed [`BASE`] instant. The concurrency
//! behaviours use their own tiny executors (a thread-parking `block_on` for 8 OS threads, and a
//! `join_all` that polls several store futures at once inside the caller's task); no extra crate.
//!
//! Boundaries this suite pins (the trait docs leave them open; every backend must agree):
//! * times come back as the same instants to the microsecond (PostgreSQL's precision; the
//!   bus's clock gives whole microseconds, and no fixture has finer parts);
//! * a lease is over only when `now > lease_until` (at `now == lease_until` the message is still
//!   leased); a message is expired only when `eol < now` (at `now == eol` it is still delivered);
//! * a message bound to a node (`target_node_id`) goes only to polls with that `node_id`; a poll
//!   without a `node_id` gets unbound messages only;
//! * a duplicate id wins over a full queue ([`Enqueued::Duplicate`], not `QueueFull`);
//! * expiry sets the message's status to `cancelled` and journals exactly one `Expired` event;
//! * after `ack`, `lease_until` is `None` (there is no current lease);
//! * [`Store::journal`] is in the order the events were recorded;
//! * `enqueue` looks for a known `MessageID` before a known client id: a message that is both is
//!   reported `by_client_id: false`, naming the message with that id;
//! * every journal event names the node the store was opened on ([`NODE`]); a released lease's
//!   `attempt` is the released lease's delivery count; an ack journals no `StatusChanged`;
//! * [`Store::search_messages`]' `from` and [`AuditQuery::from`] are inclusive, `to` exclusive;
//!   `text` and `action_prefix` are plain text (no character is a pattern), case-sensitive;
//!   a `limit` of 0 counts as 1;
//! * [`Store::tokens`]: by `created_at`, ties in the order of creation; [`Store::accounts`]: by
//!   login in code-point (UTF-8 byte) order; `update_account` replaces every field but the login,
//!   `created_at` included;
//! * a refused write ([`StoreError::Exists`], `false`, a registry conflict) writes no audit entry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Priority, QName, Role,
    SchemaVersion,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::{
    Account, AckOutcome, Attachment, AuditEntry, AuditQuery, Blob, DeliveryState, Enqueued,
    JournalEvent, JournalKind, LeaseOutcome, LeaseRequest, MessageQuery, MessageSummary,
    NewAuditEntry, NewMessage, QueueDepth, QueueSignal, Record, Section, StatusNotice, Store,
    StoreError, StoredMessage, TokenRecord,
};
use crate::{Case, CaseChange, CaseEvent, CaseQuery, Draft, LoginFailures, WebSession};
use crate::{DeadLetterQuery, PushAck};

/// The instant every test time is relative to.
pub const BASE: OffsetDateTime = datetime!(2026-11-24 09:00 UTC);

/// A boxed future borrowing the store.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A quota no test reaches.
pub const NO_QUOTA: u64 = 1_000_000;

/// The node name the stores given to [`run_all`] are opened on (every journal event names it).
pub const NODE: &str = "узел-1";

/// Runs every behaviour, each on a fresh empty store from `make`, which opens it on node
/// [`NODE`]. Panics (with the behaviour's name printed to stderr first) on the first violation.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    macro_rules! run {
        ($($name:ident),* $(,)?) => {$(
            eprintln!("conformance: {}", stringify!($name));
            let store = make().await;
            $name(&*store).await;
            drop(store);
        )*};
    }
    run!(
        request_round_trip,
        response_round_trip,
        ack_rule_sees_the_kind,
        response_updates_its_request,
        duplicate_id,
        quota,
        ordering,
        redelivery_takes_its_place_in_order,
        type_filter,
        node_filter,
        lease_exclusivity_and_redelivery,
        ack_not_found,
        ack_after_lease_expiry,
        eol_boundary,
        eol_expiry,
        settle_lease,
        push_leases_and_dead_letters,
        fair_order_among_senders,
        set_status_and_journal,
        status_notices_once_in_order,
        queue_depths,
        journal_order_and_times,
        registry_versions,
        concurrent_leases_from_threads,
        concurrent_leases_in_one_task,
        concurrent_duplicate_enqueues,
        file_attachments,
        client_ids,
        concurrent_client_id_enqueues,
        journal_node_actor_attempt,
        search_filters,
        search_paging_is_stable,
        search_text_is_literal,
        tokens,
        accounts,
        audit_log,
        registry_audit_and_versions,
        signals_follow_availability,
        job_claims_and_fencing,
        sweep_expires_and_signals,
        web_sessions,
        login_failures,
        drafts,
        settings_versions,
        cases_lifecycle,
    );
    eprintln!("conformance: export_import_round_trip");
    let (from, to) = (make().await, make().await);
    export_import_round_trip(&*from, &*to).await;
}

// ------------------------------------------------------------------------------------------------
// Fixtures

/// `BASE + secs` seconds.
pub fn at(secs: i64) -> OffsetDateTime {
    BASE + Duration::seconds(secs)
}

/// The `n`-th test message id (distinct for distinct `n`).
pub fn mid(n: u32) -> MessageId {
    let [a, b, c, d] = n.to_be_bytes();
    MessageId::from_parts(
        BASE + Duration::microseconds(i64::from(n)),
        (n & 0x3FFF) as u16,
        [0x02, 0x5A, a, b, c, d],
    )
}

/// A mnemonic (panics on an invalid one: fixtures only).
pub fn mn(text: &str) -> Mnemonic {
    Mnemonic::parse(text).expect("fixture mnemonic")
}

/// The default request type of the fixtures.
pub fn req_type() -> QName {
    QName::new("urn://example.test/requests/1.0", "Query")
}

/// The default response type of the fixtures.
pub fn resp_type() -> QName {
    QName::new("urn://example.test/requests/1.0", "Answer")
}

/// A minimal request `n` (every `Option` unset, no attachments), sent at `at(0) + n ms`.
pub fn request(n: u32, sender: &str, recipient: &str) -> NewMessage {
    NewMessage {
        id: mid(n),
        kind: MessageKind::Request,
        sender: mn(sender),
        recipient: mn(recipient),
        message_type: req_type(),
        vs_id: "VS00001v001-TEST01".to_owned(),
        version: SchemaVersion::V1_3,
        priority: Priority(0),
        share: 1,
        delivery_mode: DeliveryMode::Poll,
        test_message: false,
        node_id: None,
        target_node_id: None,
        eol: None,
        transaction_code: None,
        reference_message_id: None,
        original_message_id: None,
        reply_to: None,
        sent_at: BASE + Duration::milliseconds(i64::from(n)),
        sender_data: format!("<q:Query xmlns:q=\"urn://example.test/requests/1.0\">{n}</q:Query>"),
        sender_signature: None,
        attachments: Vec::new(),
        client_id: None,
    }
}

/// A minimal response `n` to `original` (only `original_message_id` set).
pub fn response(n: u32, sender: &str, recipient: &str, original: Option<u32>) -> NewMessage {
    NewMessage {
        kind: MessageKind::Response,
        message_type: resp_type(),
        original_message_id: original.map(mid),
        sender_data: format!(
            "<q:Answer xmlns:q=\"urn://example.test/requests/1.0\">{n}</q:Answer>"
        ),
        ..request(n, sender, recipient)
    }
}

/// A request with every field set: Cyrillic text, a non-UTC `eol`, microsecond times, a 1 MiB
/// `sender_data` and attachments with zero bytes (and an empty one).
pub fn full_request(n: u32) -> NewMessage {
    let mut sender_data = String::from(
        "<ns1:SenderProvidedRequestData xmlns:ns1=\"urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.2\" Id=\"SIGNED_BY_CONSUMER\"><ns1:MessageID>",
    );
    sender_data.push_str(mid(n).as_str());
    sender_data.push_str("</ns1:MessageID><Запрос xmlns=\"urn://пример.рф/сведения/1.0\">");
    let mut i = 0u32;
    while sender_data.len() < (1 << 20) {
        sender_data.push_str(&format!(
            "<Строка н=\"{i}\">Съешь же ещё этих мягких французских булок &amp; 😀</Строка>"
        ));
        i += 1;
    }
    sender_data.push_str("</Запрос></ns1:SenderProvidedRequestData>");
    NewMessage {
        id: mid(n),
        kind: MessageKind::Request,
        sender: mn("МВД_01"),
        recipient: mn("PFR01"),
        message_type: QName::new("urn://пример.рф/сведения/1.0", "Запрос"),
        vs_id: "VS00179v002-PFR001".to_owned(),
        version: SchemaVersion::V1_2,
        priority: Priority(7),
        share: 3,
        delivery_mode: DeliveryMode::Push,
        test_message: true,
        node_id: Some("узел-1".to_owned()),
        target_node_id: Some("node-2".to_owned()),
        eol: Some(datetime!(2026-11-24 13:00:00.000001 +03:00)),
        transaction_code: Some("ТК-42/7".to_owned()),
        reference_message_id: Some(mid(n + 900)),
        original_message_id: Some(mid(n + 901)),
        reply_to: Some("eyJyZXBseVRvIjoi0L/RgNC40LLQtdGCIn0=".to_owned()),
        sent_at: datetime!(2026-11-24 09:00:00.123456 UTC),
        sender_data,
        sender_signature: Some(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignatureValue>AAEC</ds:SignatureValue></ds:Signature>"
                .to_owned(),
        ),
        attachments: vec![
            Attachment {
                content_id: "att-1".to_owned(),
                mime_type: "application/octet-stream".to_owned(),
                data: Blob::Bytes((0..70_000u32).map(|i| (i % 256) as u8).collect()),
            },
            Attachment {
                content_id: "вложение-2".to_owned(),
                mime_type: "text/plain; charset=utf-8".to_owned(),
                data: Blob::Bytes("Привет\0мир".as_bytes().to_vec()),
            },
            Attachment { content_id: "empty".to_owned(), mime_type: "application/pdf".to_owned(), data: Blob::Bytes(Vec::new()) },
            Attachment { content_id: "zeros".to_owned(), mime_type: "application/zip".to_owned(), data: Blob::Bytes(vec![0; 4096]) },
        ],
        client_id: Some(format!("заявка {n}: 100%_готово")),
    }
}

/// A poll of `recipient`'s `kind` queue at `now` with a 60 s lease and no filters.
pub fn poll(recipient: &str, kind: MessageKind, now: OffsetDateTime) -> LeaseRequest {
    LeaseRequest {
        recipient: mn(recipient),
        kind,
        message_type: None,
        node_id: None,
        lease: Duration::seconds(60),
        now,
        push: false,
        fair_first: false,
    }
}

async fn put(store: &dyn Store, message: NewMessage) -> i64 {
    put_with(store, message, InteractionStatus::RequestIsQueued).await
}

async fn put_with(store: &dyn Store, message: NewMessage, status: InteractionStatus) -> i64 {
    let id = message.id.clone();
    match store.enqueue(message, status, NO_QUOTA).await {
        Ok(Enqueued::Accepted { seq }) => seq,
        other => panic!("enqueue of {id}: expected Accepted, got {other:?}"),
    }
}

async fn lease(store: &dyn Store, request: LeaseRequest) -> Option<StoredMessage> {
    store.lease_next(request).await.expect("lease_next")
}

async fn lease_id(store: &dyn Store, request: LeaseRequest) -> Option<MessageId> {
    lease(store, request).await.map(|m| m.message.id)
}

async fn get(store: &dyn Store, n: u32) -> StoredMessage {
    store
        .message(&mid(n))
        .await
        .expect("message")
        .unwrap_or_else(|| panic!("message {} not found", mid(n)))
}

/// An ack rule: always `MessageIsDelivered`, no notice.
fn delivered(_: MessageKind, _: bool) -> (InteractionStatus, Option<&'static str>) {
    (InteractionStatus::MessageIsDelivered, None)
}

/// An ack rule with a notice.
fn delivered_with_notice(_: MessageKind, _: bool) -> (InteractionStatus, Option<&'static str>) {
    (
        InteractionStatus::MessageIsDelivered,
        Some("Доставлено получателю"),
    )
}

/// An ack rule that tells the kinds and the verdicts apart, with a notice for refusals only.
fn by_kind(kind: MessageKind, accepted: bool) -> (InteractionStatus, Option<&'static str>) {
    match (kind, accepted) {
        (MessageKind::Request, true) => (InteractionStatus::UnderProcessing, None),
        (MessageKind::Request, false) => (
            InteractionStatus::RequestIsRejectedBySmev,
            Some("request refused"),
        ),
        (MessageKind::Response, true) => (InteractionStatus::MessageIsDelivered, None),
        (MessageKind::Response, false) => (
            InteractionStatus::ResponseIsProcessed,
            Some("response refused"),
        ),
    }
}

/// An ack rule whose notice must never be stored (used where the ack must not happen).
fn never(_: MessageKind, _: bool) -> (InteractionStatus, Option<&'static str>) {
    (InteractionStatus::Cancelled, Some("should not be stored"))
}

async fn ack(
    store: &dyn Store,
    recipient: &str,
    n: u32,
    accepted: bool,
    now: OffsetDateTime,
) -> AckOutcome {
    store
        .ack(&mn(recipient), &mid(n), accepted, delivered, now)
        .await
        .expect("ack")
}

async fn journal(store: &dyn Store, n: u32) -> Vec<(JournalKind, OffsetDateTime)> {
    store
        .journal(&mid(n))
        .await
        .expect("journal")
        .into_iter()
        .map(|e| (e.kind, e.at))
        .collect()
}

async fn journal_kinds(store: &dyn Store, n: u32) -> Vec<JournalKind> {
    journal(store, n)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

async fn depths(store: &dyn Store, recipient: &str) -> Vec<(&'static str, QName, u64)> {
    let mut out: Vec<_> = store
        .queue_depths(&mn(recipient))
        .await
        .expect("queue_depths")
        .into_iter()
        .map(
            |QueueDepth {
                 kind,
                 message_type,
                 pending,
             }| (kind.as_str(), message_type, pending),
        )
        .collect();
    out.sort();
    out
}

async fn take_notice(store: &dyn Store, recipient: &str) -> Option<StatusNotice> {
    store
        .take_status_notice(&mn(recipient))
        .await
        .expect("take_status_notice")
}

/// Field-by-field comparison with short messages (a 1 MiB field is not printed).
fn assert_same_message(got: &NewMessage, want: &NewMessage, context: &str) {
    assert_eq!(got.id, want.id, "{context}: id");
    assert_eq!(got.kind, want.kind, "{context}: kind");
    assert_eq!(got.sender, want.sender, "{context}: sender");
    assert_eq!(got.recipient, want.recipient, "{context}: recipient");
    assert_eq!(
        got.message_type, want.message_type,
        "{context}: message_type"
    );
    assert_eq!(got.vs_id, want.vs_id, "{context}: vs_id");
    assert_eq!(got.version, want.version, "{context}: version");
    assert_eq!(got.priority, want.priority, "{context}: priority");
    assert_eq!(
        got.delivery_mode, want.delivery_mode,
        "{context}: delivery_mode"
    );
    assert_eq!(
        got.test_message, want.test_message,
        "{context}: test_message"
    );
    assert_eq!(got.node_id, want.node_id, "{context}: node_id");
    assert_eq!(
        got.target_node_id, want.target_node_id,
        "{context}: target_node_id"
    );
    assert_eq!(got.eol, want.eol, "{context}: eol");
    assert_eq!(
        got.transaction_code, want.transaction_code,
        "{context}: transaction_code"
    );
    assert_eq!(
        got.reference_message_id, want.reference_message_id,
        "{context}: reference_message_id"
    );
    assert_eq!(
        got.original_message_id, want.original_message_id,
        "{context}: original_message_id"
    );
    assert_eq!(got.reply_to, want.reply_to, "{context}: reply_to");
    assert_eq!(got.client_id, want.client_id, "{context}: client_id");
    assert_eq!(got.sent_at, want.sent_at, "{context}: sent_at");
    if got.sender_data != want.sender_data {
        let first = got
            .sender_data
            .bytes()
            .zip(want.sender_data.bytes())
            .position(|(a, b)| a != b);
        panic!(
            "{context}: sender_data differs (len {} vs {}, first differing byte {first:?})",
            got.sender_data.len(),
            want.sender_data.len()
        );
    }
    assert_eq!(
        got.sender_signature, want.sender_signature,
        "{context}: sender_signature"
    );
    assert_eq!(
        got.attachments.len(),
        want.attachments.len(),
        "{context}: number of attachments"
    );
    for (i, (g, w)) in got.attachments.iter().zip(&want.attachments).enumerate() {
        assert_eq!(
            g.content_id, w.content_id,
            "{context}: attachment {i} content_id"
        );
        assert_eq!(
            g.mime_type, w.mime_type,
            "{context}: attachment {i} mime_type"
        );
        let (g, w) = (
            g.data.to_vec().expect("reading a stored attachment"),
            w.data.to_vec().expect("reading a fixture attachment"),
        );
        assert!(
            g == w,
            "{context}: attachment {i} data differs (len {} vs {})",
            g.len(),
            w.len()
        );
    }
    // The rest (attachments compared by their bytes above: a file may come back in memory
    // and the other way round).
    let without_attachments = |m: &NewMessage| NewMessage {
        attachments: Vec::new(),
        ..m.clone()
    };
    assert!(
        without_attachments(got) == without_attachments(want),
        "{context}: messages differ (offsets of equal instants are allowed to differ)"
    );
}

// ------------------------------------------------------------------------------------------------
// Behaviours

/// enqueue → lease → ack of a request with every field set; every field round-trips exactly and
/// each step is journaled with its time; the ack's notice reaches the sender.
pub async fn request_round_trip(store: &dyn Store) {
    let original = full_request(1);
    let seq = put_with(store, original.clone(), InteractionStatus::RequestIsQueued).await;

    let stored = get(store, 1).await;
    assert_eq!(stored.seq, seq, "message().seq is the seq enqueue returned");
    assert_same_message(&stored.message, &original, "message() after enqueue");
    assert_eq!(stored.state, DeliveryState::Queued);
    assert_eq!(stored.delivery_count, 0);
    assert_eq!(stored.lease_until, None);
    assert_eq!(stored.first_delivered_at, None);
    assert_eq!(stored.acked_at, None);
    assert_eq!(stored.accepted, None);
    assert_eq!(stored.status, InteractionStatus::RequestIsQueued);

    let mut request = poll("PFR01", MessageKind::Request, at(10));
    request.node_id = Some("node-2".to_owned());
    let leased = lease(store, request)
        .await
        .expect("the full request is leased");
    assert_eq!(leased.seq, seq);
    assert_same_message(&leased.message, &original, "lease_next result");
    assert_eq!(leased.state, DeliveryState::Leased);
    assert_eq!(leased.delivery_count, 1);
    assert_eq!(leased.lease_until, Some(at(70)));
    assert_eq!(leased.first_delivered_at, Some(at(10)));
    assert_eq!(leased.acked_at, None);
    assert_eq!(leased.accepted, None);
    assert_eq!(leased.status, InteractionStatus::RequestIsQueued);
    assert_eq!(get(store, 1).await, leased, "message() shows the lease");

    let outcome = store
        .ack(&mn("PFR01"), &mid(1), true, delivered_with_notice, at(20))
        .await
        .expect("ack");
    assert_eq!(outcome, AckOutcome::Acked);
    let acked = get(store, 1).await;
    assert_same_message(&acked.message, &original, "message() after ack");
    assert_eq!(acked.state, DeliveryState::Acked);
    assert_eq!(acked.delivery_count, 1);
    assert_eq!(acked.lease_until, None, "no current lease after ack");
    assert_eq!(acked.first_delivered_at, Some(at(10)));
    assert_eq!(acked.acked_at, Some(at(20)));
    assert_eq!(acked.accepted, Some(true));
    assert_eq!(acked.status, InteractionStatus::MessageIsDelivered);

    assert_eq!(
        journal(store, 1).await,
        vec![
            (JournalKind::Accepted, original.sent_at),
            (JournalKind::Delivered, at(10)),
            (JournalKind::Acked, at(20))
        ]
    );
    let notice = take_notice(store, "МВД_01")
        .await
        .expect("the ack's notice for the sender");
    assert_eq!(notice.recipient, mn("МВД_01"));
    assert_eq!(notice.original_message_id, mid(1));
    assert_eq!(notice.status, InteractionStatus::MessageIsDelivered);
    assert_eq!(notice.details.as_deref(), Some("Доставлено получателю"));
    assert_eq!(notice.created_at, at(20));
    assert_eq!(take_notice(store, "МВД_01").await, None);
    assert_eq!(
        lease_id(store, poll("PFR01", MessageKind::Request, at(1000))).await,
        None,
        "acked is never leased"
    );
}

/// enqueue → lease → refusing ack of a response with every optional field unset.
pub async fn response_round_trip(store: &dyn Store) {
    let original = response(1, "PROV01", "CONS01", None);
    let seq = put_with(store, original.clone(), InteractionStatus::ResponseIsQueued).await;
    let stored = get(store, 1).await;
    assert_eq!(stored.seq, seq);
    assert_same_message(&stored.message, &original, "message() after enqueue");
    assert_eq!(stored.status, InteractionStatus::ResponseIsQueued);
    assert_eq!(stored.state, DeliveryState::Queued);

    assert_eq!(
        lease_id(store, poll("CONS01", MessageKind::Request, at(10))).await,
        None,
        "not in the request queue"
    );
    assert_eq!(
        lease_id(store, poll("PROV01", MessageKind::Response, at(10))).await,
        None,
        "not the sender's queue"
    );
    let leased = lease(store, poll("CONS01", MessageKind::Response, at(10)))
        .await
        .expect("the response is leased");
    assert_same_message(&leased.message, &original, "lease_next result");
    assert_eq!(
        (leased.state, leased.delivery_count),
        (DeliveryState::Leased, 1)
    );

    let outcome = store
        .ack(&mn("CONS01"), &mid(1), false, by_kind, at(11))
        .await
        .expect("ack");
    assert_eq!(outcome, AckOutcome::Acked);
    let acked = get(store, 1).await;
    assert_same_message(&acked.message, &original, "message() after ack");
    assert_eq!(acked.state, DeliveryState::Acked);
    assert_eq!(acked.accepted, Some(false));
    assert_eq!(acked.acked_at, Some(at(11)));
    assert_eq!(acked.status, InteractionStatus::ResponseIsProcessed);
    assert_eq!(
        journal_kinds(store, 1).await,
        vec![
            JournalKind::Accepted,
            JournalKind::Delivered,
            JournalKind::Refused
        ]
    );
    let notice = take_notice(store, "PROV01")
        .await
        .expect("the rule's notice for a refused response");
    assert_eq!(
        (notice.status, notice.details.as_deref()),
        (
            InteractionStatus::ResponseIsProcessed,
            Some("response refused")
        )
    );
    assert_eq!(take_notice(store, "PROV01").await, None);
}

/// `ack` applies the rule to the acknowledged message's kind; no notice when the rule gives none.
pub async fn ack_rule_sees_the_kind(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    lease(store, poll("R", MessageKind::Request, at(1)))
        .await
        .expect("leased");
    let outcome = store
        .ack(&mn("R"), &mid(1), true, by_kind, at(2))
        .await
        .expect("ack");
    assert_eq!(outcome, AckOutcome::Acked);
    assert_eq!(
        get(store, 1).await.status,
        InteractionStatus::UnderProcessing
    );
    assert_eq!(take_notice(store, "S").await, None, "no notice given");

    put(store, request(2, "S", "R")).await;
    lease(store, poll("R", MessageKind::Request, at(3)))
        .await
        .expect("leased");
    store
        .ack(&mn("R"), &mid(2), false, by_kind, at(4))
        .await
        .expect("ack");
    assert_eq!(
        get(store, 2).await.status,
        InteractionStatus::RequestIsRejectedBySmev
    );
    let notice = take_notice(store, "S").await.expect("notice");
    assert_eq!(
        (notice.original_message_id, notice.details.as_deref()),
        (mid(2), Some("request refused"))
    );
}

/// `enqueue_response` stores the response and, in the same transaction, sets and journals the
/// request's status; a refused (duplicate) response changes nothing; a response to an unknown
/// request is still stored.
pub async fn response_updates_its_request(store: &dyn Store) {
    put(store, request(1, "C", "P")).await;
    let answered = store
        .enqueue_response(
            response(2, "P", "C", Some(1)),
            InteractionStatus::ResponseIsAcceptedBySmev,
            10,
            InteractionStatus::ResponseIsQueued,
        )
        .await
        .expect("enqueue_response");
    assert!(
        matches!(answered, Enqueued::Accepted { .. }),
        "{answered:?}"
    );
    let request = get(store, 1).await;
    assert_eq!(request.status, InteractionStatus::ResponseIsQueued);
    assert_eq!(request.state, DeliveryState::Queued, "delivery untouched");
    let kinds = journal_kinds(store, 1).await;
    assert_eq!(kinds[0], JournalKind::Accepted);
    assert!(kinds.contains(&JournalKind::Answered), "{kinds:?}");
    assert!(kinds.contains(&JournalKind::StatusChanged), "{kinds:?}");
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(
        get(store, 2).await.status,
        InteractionStatus::ResponseIsAcceptedBySmev
    );
    assert_eq!(take_notice(store, "C").await, None, "no notice");

    let duplicate = store
        .enqueue_response(
            response(2, "P", "C", Some(1)),
            InteractionStatus::ResponseIsAcceptedBySmev,
            10,
            InteractionStatus::RequestIsProcessed,
        )
        .await
        .expect("enqueue_response");
    assert!(
        matches!(duplicate, Enqueued::Duplicate { .. }),
        "{duplicate:?}"
    );
    assert_eq!(
        get(store, 1).await.status,
        InteractionStatus::ResponseIsQueued,
        "a refused response leaves the request alone"
    );
    assert_eq!(journal_kinds(store, 1).await.len(), 3);

    let orphan = store
        .enqueue_response(
            response(3, "P", "C", Some(77)),
            InteractionStatus::ResponseIsAcceptedBySmev,
            10,
            InteractionStatus::ResponseIsQueued,
        )
        .await
        .expect("enqueue_response");
    assert!(matches!(orphan, Enqueued::Accepted { .. }), "{orphan:?}");
    assert_eq!(
        get(store, 3).await.message.original_message_id,
        Some(mid(77))
    );
}

/// A known id is refused with the original's sender and time, and nothing changes — even when
/// the second message differs in everything, is a response, or its queue is full.
pub async fn duplicate_id(store: &dyn Store) {
    let first = request(1, "SENDER1", "RCPT1");
    put(store, first.clone()).await;

    let mut second = full_request(1);
    second.sender = mn("SENDER2");
    second.recipient = mn("RCPT2");
    let outcome = store
        .enqueue(second, InteractionStatus::RequestIsQueued, NO_QUOTA)
        .await
        .expect("enqueue");
    assert_eq!(
        outcome,
        Enqueued::Duplicate {
            id: mid(1),
            sender: mn("SENDER1"),
            sent_at: first.sent_at,
            by_client_id: false,
        }
    );

    let as_response = response(1, "SENDER3", "SENDER1", None);
    let outcome = store
        .enqueue(as_response, InteractionStatus::ResponseIsQueued, NO_QUOTA)
        .await
        .expect("enqueue");
    assert_eq!(
        outcome,
        Enqueued::Duplicate {
            id: mid(1),
            sender: mn("SENDER1"),
            sent_at: first.sent_at,
            by_client_id: false,
        },
        "ids are bus-wide"
    );

    let outcome = store
        .enqueue(first.clone(), InteractionStatus::RequestIsQueued, 1)
        .await
        .expect("enqueue");
    assert_eq!(
        outcome,
        Enqueued::Duplicate {
            id: mid(1),
            sender: mn("SENDER1"),
            sent_at: first.sent_at,
            by_client_id: false,
        },
        "a retry into a full queue is a duplicate, not QueueFull"
    );

    let stored = get(store, 1).await;
    assert_same_message(&stored.message, &first, "the original is unchanged");
    assert_eq!(stored.status, InteractionStatus::RequestIsQueued);
    assert_eq!(journal_kinds(store, 1).await, vec![JournalKind::Accepted]);
    assert_eq!(
        depths(store, "RCPT1").await,
        vec![("REQUEST", req_type(), 1)]
    );
    assert_eq!(depths(store, "RCPT2").await, vec![]);
    assert_eq!(depths(store, "SENDER1").await, vec![]);

    // Still a duplicate after it was delivered and acknowledged.
    lease(store, poll("RCPT1", MessageKind::Request, at(1)))
        .await
        .expect("leased");
    assert_eq!(ack(store, "RCPT1", 1, true, at(2)).await, AckOutcome::Acked);
    let outcome = store
        .enqueue(first.clone(), InteractionStatus::RequestIsQueued, NO_QUOTA)
        .await
        .expect("enqueue");
    assert_eq!(
        outcome,
        Enqueued::Duplicate {
            id: mid(1),
            sender: mn("SENDER1"),
            sent_at: first.sent_at,
            by_client_id: false,
        }
    );
    assert_eq!(get(store, 1).await.state, DeliveryState::Acked);
}

/// `quota` counts queued and leased messages of one recipient and kind; acknowledged ones no
/// longer count; a refused message is not stored.
pub async fn quota(store: &dyn Store) {
    let status = InteractionStatus::RequestIsQueued;
    for n in [1, 2] {
        let outcome = store
            .enqueue(request(n, "S", "R"), status, 2)
            .await
            .expect("enqueue");
        assert!(
            matches!(outcome, Enqueued::Accepted { .. }),
            "message {n}: {outcome:?}"
        );
    }
    let outcome = store
        .enqueue(request(3, "S", "R"), status, 2)
        .await
        .expect("enqueue");
    assert_eq!(outcome, Enqueued::QueueFull { depth: 2 });
    assert_eq!(
        store.message(&mid(3)).await.expect("message"),
        None,
        "a refused message is not stored"
    );
    assert_eq!(journal(store, 3).await, vec![]);
    assert_eq!(depths(store, "R").await, vec![("REQUEST", req_type(), 2)]);

    // Other queues are not affected: the same recipient's responses, another recipient.
    let outcome = store
        .enqueue(response(4, "X", "R", None), status, 2)
        .await
        .expect("enqueue");
    assert!(
        matches!(outcome, Enqueued::Accepted { .. }),
        "response queue is separate: {outcome:?}"
    );
    let outcome = store
        .enqueue(request(5, "S", "R2"), status, 2)
        .await
        .expect("enqueue");
    assert!(
        matches!(outcome, Enqueued::Accepted { .. }),
        "other recipient: {outcome:?}"
    );

    // A leased message still counts.
    let leased = lease_id(store, poll("R", MessageKind::Request, at(1))).await;
    assert_eq!(leased, Some(mid(1)));
    let outcome = store
        .enqueue(request(3, "S", "R"), status, 2)
        .await
        .expect("enqueue");
    assert_eq!(
        outcome,
        Enqueued::QueueFull { depth: 2 },
        "leased messages count"
    );

    // An acknowledged one does not.
    assert_eq!(ack(store, "R", 1, true, at(2)).await, AckOutcome::Acked);
    let outcome = store
        .enqueue(request(3, "S", "R"), status, 2)
        .await
        .expect("enqueue");
    assert!(
        matches!(outcome, Enqueued::Accepted { .. }),
        "after ack: {outcome:?}"
    );
    assert_eq!(
        depths(store, "R").await,
        vec![("REQUEST", req_type(), 2), ("RESPONSE", resp_type(), 1)]
    );
    let outcome = store
        .enqueue(request(6, "S", "R"), status, 3)
        .await
        .expect("enqueue");
    assert!(
        matches!(outcome, Enqueued::Accepted { .. }),
        "a larger quota: {outcome:?}"
    );
}

/// Highest priority first, then arrival (`seq`), which follows enqueue order.
pub async fn ordering(store: &dyn Store) {
    let priorities = [(1, 0), (2, 5), (3, 0), (4, 9), (5, 5), (6, 255)];
    let mut last_seq = i64::MIN;
    for (n, p) in priorities {
        let mut message = request(n, "S", "R");
        message.priority = Priority(p);
        let seq = put(store, message).await;
        assert!(seq > last_seq, "seq grows with arrival");
        last_seq = seq;
    }
    let mut order = Vec::new();
    while let Some(id) = lease_id(store, poll("R", MessageKind::Request, at(1))).await {
        order.push(id);
    }
    assert_eq!(order, [6, 4, 2, 5, 1, 3].map(mid).to_vec());
}

/// A message whose lease ran out competes by its priority and seq, not as a new arrival.
pub async fn redelivery_takes_its_place_in_order(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    put(store, request(2, "S", "R")).await;
    let mut short = poll("R", MessageKind::Request, at(10));
    short.lease = Duration::seconds(10);
    assert_eq!(lease_id(store, short).await, Some(mid(1)));
    let mut high = request(3, "S", "R");
    high.priority = Priority(1);
    put(store, high).await;
    let order: Vec<_> = [at(30), at(30), at(30), at(30)]
        .into_iter()
        .map(|now| poll("R", MessageKind::Request, now))
        .collect();
    let mut got = Vec::new();
    for p in order {
        got.push(
            lease(store, p)
                .await
                .map(|m| (m.message.id, m.delivery_count)),
        );
    }
    assert_eq!(
        got,
        vec![
            Some((mid(3), 1)),
            Some((mid(1), 2)),
            Some((mid(2), 1)),
            None
        ]
    );
}

/// `message_type` restricts by namespace and local name together.
pub async fn type_filter(store: &dyn Store) {
    let t1 = req_type();
    let t2 = QName::new("urn://example.test/other/1.0", "Other");
    let t3 = QName::new("urn://example.test/other/1.0", t1.local.clone());
    for (n, t) in [(1, &t1), (2, &t2), (3, &t1), (4, &t3)] {
        let mut message = request(n, "S", "R");
        message.message_type = t.clone();
        put(store, message).await;
    }
    let typed = |t: &QName| LeaseRequest {
        message_type: Some(t.clone()),
        ..poll("R", MessageKind::Request, at(1))
    };
    assert_eq!(lease_id(store, typed(&t2)).await, Some(mid(2)));
    assert_eq!(lease_id(store, typed(&t2)).await, None);
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1))).await,
        Some(mid(1))
    );
    assert_eq!(lease_id(store, typed(&t1)).await, Some(mid(3)));
    assert_eq!(
        lease_id(store, typed(&t1)).await,
        None,
        "same local name in another namespace is another type"
    );
    assert_eq!(lease_id(store, typed(&QName::new("", "Query"))).await, None);
    assert_eq!(lease_id(store, typed(&t3)).await, Some(mid(4)));
    assert_eq!(depths(store, "R").await.iter().map(|d| d.2).sum::<u64>(), 4);
}

/// A message bound to a node (`target_node_id`) goes only to polls from that node; unbound ones
/// go to any poll.
pub async fn node_filter(store: &dyn Store) {
    put(store, response(1, "P", "C", None)).await;
    for (n, node) in [(2, "A"), (3, "B")] {
        let mut message = response(n, "P", "C", None);
        message.target_node_id = Some(node.to_owned());
        put(store, message).await;
    }
    put(store, response(4, "P", "C", None)).await;
    let from = |node: Option<&str>| LeaseRequest {
        node_id: node.map(str::to_owned),
        ..poll("C", MessageKind::Response, at(1))
    };
    assert_eq!(lease_id(store, from(None)).await, Some(mid(1)));
    assert_eq!(
        lease_id(store, from(None)).await,
        Some(mid(4)),
        "a poll without a node skips bound messages"
    );
    assert_eq!(lease_id(store, from(None)).await, None);
    assert_eq!(lease_id(store, from(Some("C"))).await, None);
    assert_eq!(lease_id(store, from(Some("A"))).await, Some(mid(2)));
    assert_eq!(lease_id(store, from(Some("A"))).await, None);
    assert_eq!(lease_id(store, from(Some("B"))).await, Some(mid(3)));
}

/// A leased message is not handed out again until `now > lease_until`; then it is redelivered
/// with `delivery_count` 2, a new lease, the first delivery time kept, and a `Redelivered` event.
pub async fn lease_exclusivity_and_redelivery(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    let first = lease(store, poll("R", MessageKind::Request, at(10)))
        .await
        .expect("leased");
    assert_eq!(first.lease_until, Some(at(70)));
    for now in [at(10), at(11), at(69), at(70)] {
        assert_eq!(
            lease_id(store, poll("R", MessageKind::Request, now)).await,
            None,
            "still leased at {now}"
        );
    }
    let now = at(70) + Duration::microseconds(1);
    let again = lease(store, poll("R", MessageKind::Request, now))
        .await
        .expect("redelivered after the lease");
    assert_eq!(again.message.id, mid(1));
    assert_eq!(again.state, DeliveryState::Leased);
    assert_eq!(again.delivery_count, 2);
    assert_eq!(again.first_delivered_at, Some(at(10)));
    assert_eq!(again.lease_until, Some(now + Duration::seconds(60)));
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(71))).await,
        None
    );
    assert_eq!(
        journal(store, 1).await,
        vec![
            (JournalKind::Accepted, request(1, "S", "R").sent_at),
            (JournalKind::Delivered, at(10)),
            (JournalKind::Redelivered, now)
        ]
    );
    let third = lease(store, poll("R", MessageKind::Request, at(1000)))
        .await
        .expect("third time");
    assert_eq!(third.delivery_count, 3);
}

/// `ack` finds only a leased, unacknowledged message of that recipient; otherwise `NotFound`,
/// and nothing changes.
pub async fn ack_not_found(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    put(store, request(2, "S", "R")).await;

    let unknown = store
        .ack(&mn("R"), &mid(99), true, never, at(1))
        .await
        .expect("ack");
    assert_eq!(unknown, AckOutcome::NotFound, "unknown id");
    let queued = store
        .ack(&mn("R"), &mid(1), true, never, at(1))
        .await
        .expect("ack");
    assert_eq!(queued, AckOutcome::NotFound, "never delivered");
    let stored = get(store, 1).await;
    assert_eq!(
        (stored.state, stored.status, stored.acked_at),
        (
            DeliveryState::Queued,
            InteractionStatus::RequestIsQueued,
            None
        )
    );

    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(2))).await,
        Some(mid(1))
    );
    let other = store
        .ack(&mn("S"), &mid(1), true, never, at(3))
        .await
        .expect("ack");
    assert_eq!(other, AckOutcome::NotFound, "another recipient");
    let other = store
        .ack(&mn("R2"), &mid(1), true, never, at(3))
        .await
        .expect("ack");
    assert_eq!(other, AckOutcome::NotFound, "another recipient");
    assert_eq!(get(store, 1).await.state, DeliveryState::Leased);
    assert_eq!(
        take_notice(store, "S").await,
        None,
        "NotFound adds no notice"
    );

    assert_eq!(ack(store, "R", 1, true, at(4)).await, AckOutcome::Acked);
    let again = store
        .ack(&mn("R"), &mid(1), false, never, at(5))
        .await
        .expect("ack");
    assert_eq!(again, AckOutcome::NotFound, "already acknowledged");
    let stored = get(store, 1).await;
    assert_eq!(stored.state, DeliveryState::Acked);
    assert_eq!(stored.acked_at, Some(at(4)));
    assert_eq!(stored.accepted, Some(true));
    assert_eq!(stored.status, InteractionStatus::MessageIsDelivered);
    assert_eq!(
        journal_kinds(store, 1).await,
        vec![
            JournalKind::Accepted,
            JournalKind::Delivered,
            JournalKind::Acked
        ]
    );
    assert_eq!(journal_kinds(store, 2).await, vec![JournalKind::Accepted]);
    assert_eq!(take_notice(store, "S").await, None);
}

/// A message whose lease ran out can still be acknowledged (and then is never redelivered).
pub async fn ack_after_lease_expiry(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    let mut short = poll("R", MessageKind::Request, at(10));
    short.lease = Duration::seconds(30);
    assert_eq!(lease_id(store, short).await, Some(mid(1)));
    assert_eq!(ack(store, "R", 1, true, at(100)).await, AckOutcome::Acked);
    let stored = get(store, 1).await;
    assert_eq!(
        (stored.state, stored.acked_at, stored.delivery_count),
        (DeliveryState::Acked, Some(at(100)), 1)
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(200))).await,
        None
    );
    assert_eq!(
        journal(store, 1)
            .await
            .into_iter()
            .skip(1)
            .collect::<Vec<_>>(),
        vec![
            (JournalKind::Delivered, at(10)),
            (JournalKind::Acked, at(100))
        ]
    );
}

/// At `now == eol` a message is still delivered.
pub async fn eol_boundary(store: &dyn Store) {
    let mut message = request(1, "S", "R");
    message.eol = Some(at(100));
    put(store, message).await;
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(100))).await,
        Some(mid(1))
    );
    assert_eq!(take_notice(store, "S").await, None);
}

/// A message whose `eol < now` is never leased: it becomes `Expired` (journaled, status
/// `cancelled`, a `cancelled` notice for its sender), no longer counts as pending, and cannot be
/// acknowledged. A leased message whose lease is still running is not expired.
pub async fn eol_expiry(store: &dyn Store) {
    let mut expiring = request(1, "S1", "R");
    expiring.priority = Priority(9);
    expiring.eol = Some(at(100));
    put(store, expiring.clone()).await;
    put(store, request(2, "S2", "R")).await;
    // Delivered once, lease ran out, then EOL passed: expired, not redelivered.
    let mut lapsed = request(3, "S1", "R");
    lapsed.priority = Priority(8);
    lapsed.eol = Some(at(100));
    put(store, lapsed).await;
    // Leased until after EOL: not expired while the lease runs.
    let mut held = request(4, "S1", "R");
    held.priority = Priority(7);
    held.eol = Some(at(100));
    put(store, held).await;

    let mut short = poll("R", MessageKind::Request, at(10));
    short.lease = Duration::seconds(10);
    // Lease 1 and 3 with short leases, then 4 with a long one (until at(110)).
    assert_eq!(lease_id(store, short.clone()).await, Some(mid(1)));
    assert_eq!(lease_id(store, short).await, Some(mid(3)));
    let mut long = poll("R", MessageKind::Request, at(10));
    long.lease = Duration::seconds(100);
    assert_eq!(lease_id(store, long).await, Some(mid(4)));
    // Never delivered, EOL passes while it waits.
    let mut waiting = request(5, "S1", "R");
    waiting.priority = Priority(9);
    waiting.eol = Some(at(100));
    put(store, waiting).await;

    let got = lease(store, poll("R", MessageKind::Request, at(101)))
        .await
        .expect("the one without EOL");
    assert_eq!(got.message.id, mid(2), "expired messages are skipped");
    for n in [1, 3, 5] {
        let stored = get(store, n).await;
        let delivered = u32::from(n != 5);
        assert_eq!(stored.state, DeliveryState::Expired, "message {n}");
        assert_eq!(stored.status, InteractionStatus::Cancelled, "message {n}");
        assert_eq!(stored.delivery_count, delivered, "message {n}");
        assert_eq!(stored.lease_until, None, "message {n}: no current lease");
        let mut want = vec![(JournalKind::Accepted, stored.message.sent_at)];
        if n != 5 {
            want.push((JournalKind::Delivered, at(10)));
        }
        want.push((JournalKind::Expired, at(101)));
        assert_eq!(journal(store, n).await, want, "message {n}");
    }
    assert_eq!(get(store, 4).await.state, DeliveryState::Leased);

    let mut notices = Vec::new();
    while let Some(notice) = take_notice(store, "S1").await {
        notices.push(notice);
    }
    notices.sort_by_key(|n| n.original_message_id.clone());
    assert_eq!(
        notices.len(),
        3,
        "one cancelled notice per expired message: {notices:?}"
    );
    for (notice, n) in notices.iter().zip([1, 3, 5]) {
        assert_eq!(notice.recipient, mn("S1"));
        assert_eq!(notice.original_message_id, mid(n));
        assert_eq!(notice.status, InteractionStatus::Cancelled);
        assert_eq!(notice.created_at, at(101));
    }
    assert_eq!(take_notice(store, "S2").await, None);
    assert_eq!(take_notice(store, "R").await, None);

    assert_eq!(
        depths(store, "R").await,
        vec![("REQUEST", req_type(), 2)],
        "messages 2 and 4 are pending"
    );
    assert_eq!(
        ack(store, "R", 1, true, at(102)).await,
        AckOutcome::NotFound,
        "expired cannot be acked"
    );
    assert_eq!(
        ack(store, "R", 4, true, at(120)).await,
        AckOutcome::Acked,
        "leased past EOL can be acked"
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1000))).await,
        Some(mid(2)),
        "lease of 2 ran out"
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1000))).await,
        None
    );
    assert_eq!(journal_kinds(store, 1).await.len(), 3, "expired once only");
    assert_eq!(journal_kinds(store, 5).await.len(), 2, "expired once only");
    assert_eq!(take_notice(store, "S1").await, None);
}

/// Fair order: among messages of one priority, senders that keep a queue busy are served in
/// proportion to their shares (start-time fair queuing), one sender's messages in their order;
/// a higher priority still goes first, and a `fair_first` lease takes the first in fair order
/// whatever its priority. A sender idle while the queue drained gets no credit for it.
pub async fn fair_order_among_senders(store: &dyn Store) {
    let from = |n: u32, sender: &str, share: u32| NewMessage {
        share,
        ..request(n, sender, "R")
    };
    for i in 0..8 {
        put(store, from(100 + i, "A", 3)).await;
        put(store, from(200 + i, "B", 1)).await;
    }
    let senders = |leased: &[StoredMessage]| -> Vec<String> {
        leased
            .iter()
            .map(|m| m.message.sender.to_string())
            .collect()
    };
    let mut leased = Vec::new();
    for _ in 0..8 {
        leased.push(
            lease(store, poll("R", MessageKind::Request, at(1)))
                .await
                .expect("queued"),
        );
    }
    assert_eq!(
        senders(&leased),
        ["A", "B", "A", "A", "A", "B", "A", "A"],
        "shares 3 : 1"
    );
    let a: Vec<MessageId> = leased
        .iter()
        .filter(|m| m.message.sender.as_str() == "A")
        .map(|m| m.message.id.clone())
        .collect();
    assert_eq!(a, (100..106).map(mid).collect::<Vec<_>>(), "A's own order");
    assert_eq!(leased[0].message.share, 3);

    // A higher priority goes first; a fair-first lease takes the first in fair order.
    let mut urgent = from(300, "B", 1);
    urgent.priority = Priority(9);
    put(store, urgent).await;
    let fair = LeaseRequest {
        fair_first: true,
        ..poll("R", MessageKind::Request, at(1))
    };
    assert_eq!(
        lease_id(store, fair.clone()).await,
        Some(mid(106)),
        "fair order ignores priority"
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1))).await,
        Some(mid(300))
    );
    // Drain the rest (A7 and B2…B7), in fair order.
    let mut rest = Vec::new();
    while let Some(m) = lease(store, fair.clone()).await {
        rest.push(m.message.id);
    }
    assert_eq!(
        rest,
        [202, 107, 203, 204, 205, 206, 207].map(mid).to_vec(),
        "B's tail after A's"
    );
    // The queue drained: an idle sender gets no credit; both start level.
    put(store, from(400, "B", 1)).await;
    put(store, from(401, "A", 3)).await;
    put(store, from(402, "B", 1)).await;
    let mut again = Vec::new();
    while let Some(m) = lease(store, poll("R", MessageKind::Request, at(1))).await {
        again.push(m.message.id);
    }
    assert_eq!(again, [400, 401, 402].map(mid).to_vec());
}

/// Push delivery: a push lease takes only push-mode messages, of any node (a poll takes either
/// mode); a failed attempt keeps its lease until the retry time; a successful one acknowledges
/// (or leaves the lease, for an explicit ack); a dead letter leaves the queue, is listed with its
/// reason and filters, and a replay queues it again for a new round of attempts. Every attempt
/// is a `PushAttempt` event with its delivery count.
pub async fn push_leases_and_dead_letters(store: &dyn Store) {
    let push = |n: u32| {
        let mut m = request(n, "S", "R");
        m.delivery_mode = DeliveryMode::Push;
        m
    };
    put(store, push(1)).await;
    let mut polled = push(2);
    polled.delivery_mode = DeliveryMode::Poll;
    put(store, polled).await;
    let mut bound = push(3);
    bound.target_node_id = Some("A".to_owned());
    put(store, bound).await;
    put(store, push(4)).await;
    let pushing = |now| LeaseRequest {
        push: true,
        lease: Duration::seconds(500),
        ..poll("R", MessageKind::Request, now)
    };
    assert_eq!(lease_id(store, pushing(at(1))).await, Some(mid(1)));
    assert_eq!(
        lease_id(store, pushing(at(1))).await,
        Some(mid(3)),
        "a push lease ignores the node a message is bound to"
    );
    assert_eq!(lease_id(store, pushing(at(1))).await, Some(mid(4)));
    assert_eq!(
        lease_id(store, pushing(at(1))).await,
        None,
        "a poll-mode message is not pushed"
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1))).await,
        Some(mid(2))
    );

    // 1 fails and is retried after at(100): not before.
    let retry = |until| LeaseOutcome::Retry {
        detail: "POST http://127.0.0.1:1/ → HTTP 503 in 3 ms".to_owned(),
        until,
    };
    assert!(
        !store
            .settle_lease(&mn("R"), &mid(1), 2, retry(at(100)), at(2))
            .await
            .expect("settle"),
        "another lease's count settles nothing"
    );
    assert!(
        store
            .settle_lease(&mn("R"), &mid(1), 1, retry(at(100)), at(2))
            .await
            .expect("settle")
    );
    let one = get(store, 1).await;
    assert_eq!(one.state, DeliveryState::Leased);
    assert_eq!(one.lease_until, Some(at(100)));
    assert_eq!(lease_id(store, pushing(at(100))).await, None);
    let again = lease(store, pushing(at(101))).await.expect("the retry");
    assert_eq!(
        (again.message.id.clone(), again.delivery_count),
        (mid(1), 2)
    );
    // Then it is taken, and acknowledged on the recipient's behalf.
    let ack = PushAck {
        status: InteractionStatus::RequestIsAcceptedBySmev,
        notice: Some("доставлено".to_owned()),
    };
    assert!(
        store
            .settle_lease(
                &mn("R"),
                &mid(1),
                2,
                LeaseOutcome::Pushed {
                    detail: "POST http://127.0.0.1:1/ → HTTP 200 in 2 ms".to_owned(),
                    ack: Some(ack),
                },
                at(102),
            )
            .await
            .expect("settle")
    );
    let one = get(store, 1).await;
    assert_eq!(one.state, DeliveryState::Acked);
    assert_eq!(one.status, InteractionStatus::RequestIsAcceptedBySmev);
    assert_eq!(one.accepted, Some(true));
    assert_eq!(one.acked_at, Some(at(102)));
    assert_eq!(
        journal_kinds(store, 1).await,
        vec![
            JournalKind::Accepted,
            JournalKind::Delivered,
            JournalKind::PushAttempt,
            JournalKind::Redelivered,
            JournalKind::PushAttempt,
            JournalKind::Acked,
        ]
    );
    let events = store.journal(&mid(1)).await.expect("journal");
    let attempts: Vec<_> = events
        .iter()
        .filter(|e| e.kind == JournalKind::PushAttempt)
        .map(|e| {
            (
                e.attempt,
                e.actor.as_deref(),
                e.detail.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        vec![
            (
                Some(1),
                Some("R"),
                "POST http://127.0.0.1:1/ → HTTP 503 in 3 ms"
            ),
            (
                Some(2),
                Some("R"),
                "POST http://127.0.0.1:1/ → HTTP 200 in 2 ms"
            ),
        ]
    );
    let notice = take_notice(store, "S").await.expect("the ack's notice");
    assert_eq!(notice.details.as_deref(), Some("доставлено"));

    // 4 is taken without an ack (the recipient acknowledges itself): the lease stays.
    assert!(
        store
            .settle_lease(
                &mn("R"),
                &mid(4),
                1,
                LeaseOutcome::Pushed {
                    detail: "HTTP 202".to_owned(),
                    ack: None,
                },
                at(3),
            )
            .await
            .expect("settle")
    );
    let four = get(store, 4).await;
    assert_eq!(
        (four.state, four.lease_until),
        (DeliveryState::Leased, Some(at(501)))
    );

    // 3 gives up: a dead letter, out of the queue.
    assert!(
        store
            .settle_lease(
                &mn("R"),
                &mid(3),
                1,
                LeaseOutcome::DeadLetter {
                    detail: "POST http://127.0.0.1:1/ → connection refused".to_owned(),
                    reason: "10 attempts failed; the last: connection refused".to_owned(),
                },
                at(4),
            )
            .await
            .expect("settle")
    );
    let three = get(store, 3).await;
    assert_eq!(
        (three.state, three.lease_until),
        (DeliveryState::DeadLetter, None)
    );
    assert_eq!(
        journal_kinds(store, 3).await[2..],
        [JournalKind::PushAttempt, JournalKind::DeadLettered]
    );
    assert_eq!(
        lease_id(store, pushing(at(1000))).await,
        Some(mid(4)),
        "4's lease ran out"
    );
    assert_eq!(
        lease_id(store, pushing(at(1000))).await,
        None,
        "a dead letter is not leased"
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1000))).await,
        Some(mid(2)),
        "2's poll lease ran out"
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1000))).await,
        None,
        "a dead letter is not polled either"
    );
    assert_eq!(
        depths(store, "R").await.iter().map(|d| d.2).sum::<u64>(),
        2,
        "2 and 4 are pending; 1 is acknowledged, 3 dead"
    );
    let all = store
        .dead_letters(DeadLetterQuery::default())
        .await
        .expect("dead_letters");
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.id, mid(3));
    assert_eq!(
        (letter.sender.as_str(), letter.recipient.as_str()),
        ("S", "R")
    );
    assert_eq!(letter.kind, MessageKind::Request);
    assert_eq!(letter.vs_id, three.message.vs_id);
    assert_eq!(letter.message_type, three.message.message_type);
    assert_eq!(letter.sent_at, three.message.sent_at);
    assert_eq!((letter.dead_at, letter.attempts), (at(4), 1));
    assert_eq!(
        letter.reason,
        "10 attempts failed; the last: connection refused"
    );
    for (query, found) in [
        (
            DeadLetterQuery {
                recipient: Some(mn("S")),
                ..DeadLetterQuery::default()
            },
            0,
        ),
        (
            DeadLetterQuery {
                recipient: Some(mn("R")),
                sender: Some(mn("S")),
                ..DeadLetterQuery::default()
            },
            1,
        ),
        (
            DeadLetterQuery {
                vs_id: Some("other".to_owned()),
                ..DeadLetterQuery::default()
            },
            0,
        ),
        (
            DeadLetterQuery {
                id: Some(mid(1)),
                ..DeadLetterQuery::default()
            },
            0,
        ),
        (
            DeadLetterQuery {
                dead_from: Some(at(4)),
                dead_to: Some(at(5)),
                ..DeadLetterQuery::default()
            },
            1,
        ),
        (
            DeadLetterQuery {
                dead_to: Some(at(4)),
                ..DeadLetterQuery::default()
            },
            0,
        ),
        (
            DeadLetterQuery {
                before_seq: Some(letter.seq),
                ..DeadLetterQuery::default()
            },
            0,
        ),
    ] {
        assert_eq!(
            store
                .dead_letters(query.clone())
                .await
                .expect("dead_letters")
                .len(),
            found,
            "{query:?}"
        );
    }
    assert_eq!(
        store
            .replay_dead_letters(
                DeadLetterQuery {
                    recipient: Some(mn("S")),
                    ..DeadLetterQuery::default()
                },
                None,
                at(5),
            )
            .await
            .expect("replay"),
        0
    );
    assert_eq!(
        store
            .replay_dead_letters(
                DeadLetterQuery {
                    id: Some(mid(3)),
                    limit: 0,
                    ..DeadLetterQuery::default()
                },
                Some("admin".to_owned()),
                at(6),
            )
            .await
            .expect("replay"),
        1
    );
    let three = get(store, 3).await;
    assert_eq!(
        (three.state, three.delivery_count, three.first_delivered_at),
        (DeliveryState::Queued, 0, None)
    );
    let replayed = store.journal(&mid(3)).await.expect("journal");
    let last = replayed.last().expect("events");
    assert_eq!(
        (last.kind, last.actor.as_deref(), last.at),
        (JournalKind::Replayed, Some("admin"), at(6))
    );
    assert!(
        store
            .dead_letters(DeadLetterQuery::default())
            .await
            .expect("dead_letters")
            .is_empty()
    );
    let back = lease(store, pushing(at(7))).await.expect("replayed");
    assert_eq!((back.message.id, back.delivery_count), (mid(3), 1));
    assert_eq!(depths(store, "R").await.iter().map(|d| d.2).sum::<u64>(), 3);
}

/// `settle_lease`: a released lease makes the message available at once, in its place (same
/// delivery count, `Released` journaled); an undeliverable one leaves the queue for good (state
/// `Undeliverable`, status `cancelled`, journaled with the reason, a notice for the sender, no
/// longer pending, never leased or acknowledged again). Only a leased delivery of that recipient
/// is settled.
pub async fn settle_lease(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    put(store, request(2, "S", "R")).await;
    let dead = || LeaseOutcome::Undeliverable {
        reason: "the answer cannot be built".into(),
        notice: "не может быть доставлено".into(),
    };
    // Nothing leased yet: nothing settles.
    assert!(
        !store
            .settle_lease(&mn("R"), &mid(1), 0, LeaseOutcome::Release, at(5))
            .await
            .expect("settle")
    );
    assert!(
        !store
            .settle_lease(&mn("R"), &mid(1), 0, dead(), at(5))
            .await
            .expect("settle")
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(10))).await,
        Some(mid(1))
    );
    // Not the recipient's: nothing settles.
    assert!(
        !store
            .settle_lease(&mn("S"), &mid(1), 1, LeaseOutcome::Release, at(11))
            .await
            .expect("settle")
    );
    assert!(
        store
            .settle_lease(&mn("R"), &mid(1), 1, LeaseOutcome::Release, at(11))
            .await
            .expect("settle")
    );
    let released = get(store, 1).await;
    assert_eq!(released.state, DeliveryState::Queued);
    assert_eq!(released.lease_until, None);
    assert_eq!(released.delivery_count, 1);
    // Available at once, before message 2.
    let again = lease(store, poll("R", MessageKind::Request, at(12)))
        .await
        .expect("released message");
    assert_eq!(again.message.id, mid(1));
    assert_eq!(again.delivery_count, 2);
    // The earlier lease (count 1) is over: settling it changes nothing.
    assert!(
        !store
            .settle_lease(&mn("R"), &mid(1), 1, dead(), at(12))
            .await
            .expect("settle")
    );
    assert_eq!(get(store, 1).await.state, DeliveryState::Leased);
    assert!(
        store
            .settle_lease(&mn("R"), &mid(1), 2, dead(), at(13))
            .await
            .expect("settle")
    );
    let gone = get(store, 1).await;
    assert_eq!(gone.state, DeliveryState::Undeliverable);
    assert_eq!(gone.status, InteractionStatus::Cancelled);
    assert_eq!(gone.lease_until, None);
    assert_eq!(
        journal(store, 1).await,
        vec![
            (JournalKind::Accepted, request(1, "S", "R").sent_at),
            (JournalKind::Delivered, at(10)),
            (JournalKind::Released, at(11)),
            (JournalKind::Redelivered, at(12)),
            (JournalKind::Undeliverable, at(13)),
        ]
    );
    let events = store.journal(&mid(1)).await.expect("journal");
    assert_eq!(
        events.last().and_then(|e| e.detail.as_deref()),
        Some("the answer cannot be built")
    );
    let notice = take_notice(store, "S")
        .await
        .expect("a notice for the sender");
    assert_eq!(notice.original_message_id, mid(1));
    assert_eq!(notice.status, InteractionStatus::Cancelled);
    assert_eq!(notice.details.as_deref(), Some("не может быть доставлено"));
    assert_eq!(notice.created_at, at(13));
    assert_eq!(take_notice(store, "S").await, None);
    assert_eq!(depths(store, "R").await, vec![("REQUEST", req_type(), 1)]);
    // Never again: not after any lease time, not acknowledged, not settled twice.
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(14))).await,
        Some(mid(2))
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(10_000))).await,
        Some(mid(2))
    );
    assert_eq!(
        ack(store, "R", 1, true, at(10_001)).await,
        AckOutcome::NotFound
    );
    assert!(
        !store
            .settle_lease(&mn("R"), &mid(1), 2, dead(), at(10_002))
            .await
            .expect("settle")
    );
    assert!(
        !store
            .settle_lease(&mn("R"), &mid(1), 2, LeaseOutcome::Release, at(10_002))
            .await
            .expect("settle")
    );
    assert_eq!(get(store, 1).await.state, DeliveryState::Undeliverable);
}

/// `set_status` changes the status and journals it; `false` for an unknown id; a notice only
/// when one is given.
pub async fn set_status_and_journal(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    let changed = store
        .set_status(
            &mid(99),
            InteractionStatus::Cancelled,
            Some("x".into()),
            at(1),
        )
        .await;
    assert!(!changed.expect("set_status"), "unknown id");
    assert_eq!(take_notice(store, "S").await, None);

    let changed = store
        .set_status(&mid(1), InteractionStatus::UnderProcessing, None, at(5))
        .await
        .expect("set_status");
    assert!(changed);
    let stored = get(store, 1).await;
    assert_eq!(stored.status, InteractionStatus::UnderProcessing);
    assert_eq!(
        stored.state,
        DeliveryState::Queued,
        "the delivery is not affected"
    );
    assert_eq!(
        take_notice(store, "S").await,
        None,
        "no notice unless given"
    );

    let details = "Запрос обрабатывается".to_owned();
    let changed = store
        .set_status(
            &mid(1),
            InteractionStatus::RequestIsProcessed,
            Some(details.clone()),
            at(6),
        )
        .await;
    assert!(changed.expect("set_status"));
    let notice = take_notice(store, "S").await.expect("notice");
    assert_eq!(
        (
            notice.recipient,
            notice.original_message_id,
            notice.status,
            notice.details,
            notice.created_at
        ),
        (
            mn("S"),
            mid(1),
            InteractionStatus::RequestIsProcessed,
            Some(details),
            at(6)
        )
    );
    assert_eq!(
        take_notice(store, "R").await,
        None,
        "notices go to the sender"
    );
    assert_eq!(
        get(store, 1).await.status,
        InteractionStatus::RequestIsProcessed
    );
    assert_eq!(
        journal(store, 1)
            .await
            .into_iter()
            .skip(1)
            .collect::<Vec<_>>(),
        vec![
            (JournalKind::StatusChanged, at(5)),
            (JournalKind::StatusChanged, at(6))
        ]
    );
}

/// Each notice is delivered once, per recipient, oldest first.
pub async fn status_notices_once_in_order(store: &dyn Store) {
    put(store, request(1, "S", "R")).await;
    put(store, request(2, "S", "R")).await;
    put(store, request(3, "T", "R")).await;
    let steps = [
        (1, InteractionStatus::UnderProcessing, Some("a"), at(1)),
        (3, InteractionStatus::UnderProcessing, Some("t"), at(2)),
        (
            2,
            InteractionStatus::RequestIsRejectedBySmev,
            Some("b"),
            at(3),
        ),
        (1, InteractionStatus::RequestIsProcessed, None, at(4)),
        (1, InteractionStatus::Cancelled, Some("c"), at(4)),
    ];
    for (n, status, details, now) in steps {
        assert!(
            store
                .set_status(&mid(n), status, details.map(str::to_owned), now)
                .await
                .expect("set_status")
        );
    }
    let mut taken = Vec::new();
    while let Some(notice) = take_notice(store, "S").await {
        taken.push(notice);
    }
    let summary: Vec<_> = taken
        .iter()
        .map(|n| {
            (
                n.original_message_id.clone(),
                n.status,
                n.details.clone(),
                n.created_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                mid(1),
                InteractionStatus::UnderProcessing,
                Some("a".to_owned()),
                at(1)
            ),
            (
                mid(2),
                InteractionStatus::RequestIsRejectedBySmev,
                Some("b".to_owned()),
                at(3)
            ),
            (
                mid(1),
                InteractionStatus::Cancelled,
                Some("c".to_owned()),
                at(4)
            ),
        ]
    );
    assert!(
        taken.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq grows: {taken:?}"
    );
    assert!(taken.iter().all(|n| n.recipient == mn("S")));
    let t = take_notice(store, "T").await.expect("T's notice");
    assert_eq!(
        (t.original_message_id, t.details),
        (mid(3), Some("t".to_owned()))
    );
    assert_eq!(take_notice(store, "T").await, None);
    assert_eq!(take_notice(store, "S").await, None);
    assert_eq!(take_notice(store, "NOBODY").await, None);
}

/// Pending = queued or leased, per queue kind and message type, for one recipient.
pub async fn queue_depths(store: &dyn Store) {
    let t2 = QName::new("urn://example.test/other/1.0", "Other");
    put(store, request(1, "S", "R")).await;
    put(store, request(2, "S", "R")).await;
    put(store, request(3, "S", "R")).await;
    let mut other = request(4, "S", "R");
    other.message_type = t2.clone();
    put(store, other).await;
    put(store, response(5, "P", "R", None)).await;
    put(store, request(6, "S", "R2")).await;
    assert_eq!(depths(store, "NOBODY").await, vec![]);
    assert_eq!(
        depths(store, "R").await,
        vec![
            ("REQUEST", t2.clone(), 1),
            ("REQUEST", req_type(), 3),
            ("RESPONSE", resp_type(), 1)
        ]
    );
    assert_eq!(depths(store, "R2").await, vec![("REQUEST", req_type(), 1)]);

    let typed = LeaseRequest {
        message_type: Some(req_type()),
        ..poll("R", MessageKind::Request, at(1))
    };
    assert_eq!(lease_id(store, typed.clone()).await, Some(mid(1)));
    assert_eq!(lease_id(store, typed).await, Some(mid(2)));
    assert_eq!(
        depths(store, "R").await[1],
        ("REQUEST", req_type(), 3),
        "leased ones are pending"
    );
    assert_eq!(ack(store, "R", 1, true, at(2)).await, AckOutcome::Acked);
    assert_eq!(ack(store, "R", 2, false, at(2)).await, AckOutcome::Acked);
    assert_eq!(
        depths(store, "R").await,
        vec![
            ("REQUEST", t2, 1),
            ("REQUEST", req_type(), 1),
            ("RESPONSE", resp_type(), 1)
        ]
    );
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Response, at(3))).await,
        Some(mid(5))
    );
    assert_eq!(ack(store, "R", 5, true, at(4)).await, AckOutcome::Acked);
    assert!(
        depths(store, "R").await.iter().all(|d| d.0 == "REQUEST"),
        "a queue with nothing pending is omitted"
    );
}

/// The journal lists every state change of a message in order, with the times given by the
/// callers (`sent_at` for acceptance); a response records `Answered` on its request.
pub async fn journal_order_and_times(store: &dyn Store) {
    assert_eq!(journal(store, 1).await, vec![], "unknown id: empty");
    let q = request(1, "CONS", "PROV");
    put(store, q.clone()).await;
    let mut short = poll("PROV", MessageKind::Request, at(10));
    short.lease = Duration::seconds(5);
    assert_eq!(lease_id(store, short).await, Some(mid(1)));
    let mut p = response(2, "PROV", "CONS", Some(1));
    p.sent_at = at(15);
    put_with(store, p, InteractionStatus::ResponseIsQueued).await;
    assert_eq!(
        lease_id(store, poll("PROV", MessageKind::Request, at(20))).await,
        Some(mid(1))
    );
    assert_eq!(
        ack(store, "PROV", 1, false, at(30)).await,
        AckOutcome::Acked
    );
    assert!(
        store
            .set_status(&mid(1), InteractionStatus::RequestIsProcessed, None, at(40))
            .await
            .expect("set_status")
    );
    let events = store.journal(&mid(1)).await.expect("journal");
    let summary: Vec<_> = events.iter().map(|e| (e.kind, e.at)).collect();
    assert_eq!(
        summary,
        vec![
            (JournalKind::Accepted, q.sent_at),
            (JournalKind::Delivered, at(10)),
            (JournalKind::Answered, at(15)),
            (JournalKind::Redelivered, at(20)),
            (JournalKind::Refused, at(30)),
            (JournalKind::StatusChanged, at(40)),
        ]
    );
    assert_eq!(
        journal(store, 2).await,
        vec![(JournalKind::Accepted, at(15))]
    );

    // A response to an unknown request is stored; nothing else is journaled.
    let mut orphan = response(3, "PROV", "CONS", Some(77));
    orphan.sent_at = at(50);
    put(store, orphan).await;
    assert_eq!(
        journal(store, 3).await,
        vec![(JournalKind::Accepted, at(50))]
    );
    assert_eq!(journal(store, 77).await, vec![]);
    assert_eq!(store.message(&mid(77)).await.expect("message"), None);
}

/// Versions count from 1; `expected` must match the current version (or `None` = none yet)
/// unless `force`; every version is kept and the newest is returned.
pub async fn registry_versions(store: &dyn Store) {
    assert_eq!(store.registry().await.expect("registry"), None);
    match store
        .save_registry("x".into(), Some(1), false, at(0), None)
        .await
    {
        Err(StoreError::RegistryConflict { current: 0 }) => {}
        other => panic!("expected a conflict at version 0, got {other:?}"),
    }
    let text1 = format!("# Реестр\n[participants]\n{}", "a = 1\n".repeat(20_000));
    let v1 = store
        .save_registry(text1.clone(), None, false, at(1), None)
        .await
        .expect("first save");
    assert_eq!(
        (v1.version, v1.text.as_str(), v1.saved_at),
        (1, text1.as_str(), at(1))
    );
    assert_eq!(store.registry().await.expect("registry"), Some(v1.clone()));

    match store
        .save_registry("stale".into(), None, false, at(2), None)
        .await
    {
        Err(StoreError::RegistryConflict { current: 1 }) => {}
        other => panic!("None when one exists: expected a conflict at 1, got {other:?}"),
    }
    let v2 = store
        .save_registry("второй".into(), Some(1), false, at(3), None)
        .await
        .expect("second save");
    assert_eq!(
        (v2.version, v2.text.as_str(), v2.saved_at),
        (2, "второй", at(3))
    );
    match store
        .save_registry("stale".into(), Some(1), false, at(4), None)
        .await
    {
        Err(StoreError::RegistryConflict { current: 2 }) => {}
        other => panic!("expected a conflict at 2, got {other:?}"),
    }
    assert_eq!(store.registry().await.expect("registry"), Some(v2));

    let v3 = store
        .save_registry("forced".into(), Some(1), true, at(5), None)
        .await
        .expect("forced save");
    assert_eq!(v3.version, 3);
    let v4 = store
        .save_registry(String::new(), None, true, at(6), None)
        .await
        .expect("forced save without expected");
    assert_eq!((v4.version, v4.text.as_str(), v4.saved_at), (4, "", at(6)));
    let v5 = store
        .save_registry("five".into(), Some(4), true, at(7), None)
        .await
        .expect("forced with the right version");
    assert_eq!(v5.version, 5);
    assert_eq!(store.registry().await.expect("registry"), Some(v5));
}

/// 8 OS threads, each with its own `block_on`, lease 100 messages concurrently: every message
/// is handed out exactly once.
pub async fn concurrent_leases_from_threads(store: &dyn Store) {
    for n in 1..=100 {
        put(store, request(n, "S", "R")).await;
    }
    let per_thread: Vec<Vec<MessageId>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    block_on(async {
                        let mut got = Vec::new();
                        while let Some(id) =
                            lease_id(store, poll("R", MessageKind::Request, at(1))).await
                        {
                            got.push(id);
                        }
                        got
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("leasing thread"))
            .collect()
    });
    check_each_once(per_thread, 100);
    assert_eq!(depths(store, "R").await, vec![("REQUEST", req_type(), 100)]);
}

/// 8 `lease_next` loops polled concurrently in the caller's task: every message is handed out
/// exactly once.
pub async fn concurrent_leases_in_one_task(store: &dyn Store) {
    for n in 1..=100 {
        put(store, request(n, "S", "R")).await;
    }
    let workers: Vec<BoxFuture<'_, Vec<MessageId>>> = (0..8)
        .map(|_| {
            Box::pin(async {
                let mut got = Vec::new();
                while let Some(id) = lease_id(store, poll("R", MessageKind::Request, at(1))).await {
                    got.push(id);
                }
                got
            }) as BoxFuture<'_, Vec<MessageId>>
        })
        .collect();
    check_each_once(join_all(workers).await, 100);
}

/// 8 concurrent enqueues of one id: exactly one is accepted.
pub async fn concurrent_duplicate_enqueues(store: &dyn Store) {
    let calls: Vec<BoxFuture<'_, Result<Enqueued, StoreError>>> = (0..8)
        .map(|i| {
            let mut message = request(1, "S", "R");
            message.sender = mn(&format!("S{i}"));
            store.enqueue(message, InteractionStatus::RequestIsQueued, NO_QUOTA)
                as BoxFuture<'_, Result<Enqueued, StoreError>>
        })
        .collect();
    let outcomes: Vec<Enqueued> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("enqueue"))
        .collect();
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, Enqueued::Accepted { .. }))
        .count();
    assert_eq!(accepted, 1, "{outcomes:?}");
    let winner = get(store, 1).await.message.sender;
    for outcome in &outcomes {
        if let Enqueued::Duplicate { sender, .. } = outcome {
            assert_eq!(sender, &winner);
        }
    }
    assert_eq!(journal_kinds(store, 1).await, vec![JournalKind::Accepted]);
    assert_eq!(depths(store, "R").await, vec![("REQUEST", req_type(), 1)]);
}

/// Attachments given as files ([`Blob::File`]) are taken over by the store: after `enqueue`
/// returns, the message reads back with the same bytes even when the given file is gone, both
/// when leased and by id; a duplicate or a full queue keeps nothing of them (the given file may
/// or may not be there any more, and nothing stored refers to it). Two attachments given as
/// the same file both read back whole.
pub async fn file_attachments(store: &dyn Store) {
    let dir = std::env::temp_dir().join(format!(
        "opensmev-conformance-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("writing a fixture file");
        Blob::File {
            path,
            len: bytes.len() as u64,
        }
    };
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut message = request(1, "C01", "P01");
    message.attachments = vec![
        Attachment {
            content_id: "big".to_owned(),
            mime_type: "application/octet-stream".to_owned(),
            data: write("big", &big),
        },
        Attachment {
            content_id: "small".to_owned(),
            mime_type: "text/plain".to_owned(),
            data: Blob::Bytes(b"small".to_vec()),
        },
        Attachment {
            content_id: "empty-file".to_owned(),
            mime_type: "application/pdf".to_owned(),
            data: write("empty", b""),
        },
    ];
    // A second attachment with the same file (two `xop:Include`s of one MIME part).
    let again = Attachment {
        content_id: "big-again".to_owned(),
        ..message.attachments[0].clone()
    };
    message.attachments.push(again);
    let mut want = message.clone();
    want.attachments[0].data = Blob::Bytes(big.clone());
    want.attachments[2].data = Blob::Bytes(Vec::new());
    want.attachments[3].data = Blob::Bytes(big.clone());
    put(store, message).await;
    // Whatever the store left of the given files, the caller removes.
    let _ = std::fs::remove_dir_all(&dir);
    let leased = lease(store, poll("P01", MessageKind::Request, at(1)))
        .await
        .expect("the message is leased");
    assert_same_message(&leased.message, &want, "leased with file attachments");
    assert_same_message(&get(store, 1).await.message, &want, "read by id");

    // A duplicate and a full queue take nothing over.
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    let mut duplicate = request(1, "C01", "P01");
    duplicate.attachments = vec![Attachment {
        content_id: "other".to_owned(),
        mime_type: "application/octet-stream".to_owned(),
        data: write("dup", b"duplicate bytes"),
    }];
    let outcome = store
        .enqueue(duplicate, InteractionStatus::RequestIsQueued, NO_QUOTA)
        .await
        .expect("enqueue of a duplicate");
    assert!(matches!(outcome, Enqueued::Duplicate { .. }), "{outcome:?}");
    let mut over = request(2, "C01", "P01");
    over.attachments = vec![Attachment {
        content_id: "over".to_owned(),
        mime_type: "application/octet-stream".to_owned(),
        data: write("over", b"over quota"),
    }];
    let outcome = store
        .enqueue(over, InteractionStatus::RequestIsQueued, 1)
        .await
        .expect("enqueue into a full queue");
    assert!(matches!(outcome, Enqueued::QueueFull { .. }), "{outcome:?}");
    let _ = std::fs::remove_dir_all(&dir);
    assert_same_message(&get(store, 1).await.message, &want, "after the duplicate");
    assert!(
        store.message(&mid(2)).await.expect("reading").is_none(),
        "a message refused for its quota is not stored"
    );
}

/// A client id is unique per sender: another message of that sender with it is a duplicate
/// naming the first (`by_client_id: true`) and nothing changes — into a full queue, as a
/// response, after the first was acknowledged; the same client id from another sender is
/// another message; messages without one never collide. [`Store::message_by_client_id`] finds
/// by sender and client id together.
pub async fn client_ids(store: &dyn Store) {
    let with = |n: u32, sender: &str, client_id: Option<&str>| NewMessage {
        client_id: client_id.map(str::to_owned),
        ..request(n, sender, "R")
    };
    let first = with(1, "S1", Some("заказ-1"));
    put(store, first.clone()).await;
    assert_eq!(
        get(store, 1).await.message.client_id.as_deref(),
        Some("заказ-1")
    );
    let by_client_id = Enqueued::Duplicate {
        id: mid(1),
        sender: mn("S1"),
        sent_at: first.sent_at,
        by_client_id: true,
    };
    let status = InteractionStatus::RequestIsQueued;
    let outcome = store
        .enqueue(with(2, "S1", Some("заказ-1")), status, NO_QUOTA)
        .await
        .expect("enqueue");
    assert_eq!(outcome, by_client_id, "same sender, same client id");
    let outcome = store
        .enqueue(with(3, "S1", Some("заказ-1")), status, 1)
        .await
        .expect("enqueue");
    assert_eq!(outcome, by_client_id, "a duplicate wins over a full queue");
    let answer = NewMessage {
        client_id: Some("заказ-1".to_owned()),
        ..response(4, "S1", "C", Some(1))
    };
    let outcome = store
        .enqueue_response(
            answer,
            InteractionStatus::ResponseIsAcceptedBySmev,
            NO_QUOTA,
            InteractionStatus::Cancelled,
        )
        .await
        .expect("enqueue_response");
    assert_eq!(outcome, by_client_id, "a response of that sender");
    for n in [2, 3, 4] {
        assert_eq!(store.message(&mid(n)).await.expect("message"), None);
        assert_eq!(journal(store, n).await, vec![]);
    }
    assert_eq!(
        get(store, 1).await.status,
        InteractionStatus::RequestIsQueued,
        "the refused response changed nothing"
    );
    assert_eq!(journal_kinds(store, 1).await, vec![JournalKind::Accepted]);
    assert_eq!(depths(store, "R").await, vec![("REQUEST", req_type(), 1)]);
    assert_eq!(depths(store, "C").await, vec![]);

    // Another sender may use the same client id.
    put(store, with(5, "S2", Some("заказ-1"))).await;
    // A known MessageID is reported as such, whatever the client id.
    let outcome = store
        .enqueue(with(1, "S1", Some("заказ-2")), status, NO_QUOTA)
        .await
        .expect("enqueue");
    assert_eq!(
        outcome,
        Enqueued::Duplicate {
            id: mid(1),
            sender: mn("S1"),
            sent_at: first.sent_at,
            by_client_id: false,
        }
    );
    let outcome = store
        .enqueue(with(5, "S1", Some("заказ-1")), status, NO_QUOTA)
        .await
        .expect("enqueue");
    assert_eq!(
        outcome,
        Enqueued::Duplicate {
            id: mid(5),
            sender: mn("S2"),
            sent_at: with(5, "S2", None).sent_at,
            by_client_id: false,
        },
        "the MessageID is looked at first"
    );
    // No client id: no collision. A client id only refused before is free.
    put(store, with(6, "S1", None)).await;
    put(store, with(7, "S1", None)).await;
    put(store, with(8, "S1", Some("заказ-2"))).await;

    let find = |sender: &str, client_id: &str| {
        let sender = mn(sender);
        let client_id = client_id.to_owned();
        async move {
            store
                .message_by_client_id(&sender, &client_id)
                .await
                .expect("message_by_client_id")
                .map(|m| m.message.id)
        }
    };
    assert_eq!(find("S1", "заказ-1").await, Some(mid(1)));
    assert_eq!(find("S2", "заказ-1").await, Some(mid(5)));
    assert_eq!(find("S1", "заказ-2").await, Some(mid(8)));
    assert_eq!(find("S3", "заказ-1").await, None);
    assert_eq!(find("S1", "заказ").await, None, "no prefix match");
    assert_eq!(find("S1", "ЗАКАЗ-1").await, None, "case-sensitive");
    let found = store
        .message_by_client_id(&mn("S1"), "заказ-1")
        .await
        .expect("message_by_client_id");
    assert_eq!(found, Some(get(store, 1).await), "the whole stored message");

    // Still a duplicate after the first was delivered and acknowledged.
    assert_eq!(
        lease_id(store, poll("R", MessageKind::Request, at(1))).await,
        Some(mid(1))
    );
    assert_eq!(ack(store, "R", 1, true, at(2)).await, AckOutcome::Acked);
    let outcome = store
        .enqueue(with(9, "S1", Some("заказ-1")), status, NO_QUOTA)
        .await
        .expect("enqueue");
    assert_eq!(outcome, by_client_id);
}

/// 8 concurrent enqueues of one sender's messages with different ids and one client id:
/// exactly one is accepted, the others name it.
pub async fn concurrent_client_id_enqueues(store: &dyn Store) {
    let calls: Vec<BoxFuture<'_, Result<Enqueued, StoreError>>> = (1..=8)
        .map(|n| {
            let message = NewMessage {
                client_id: Some("один".to_owned()),
                ..request(n, "S", "R")
            };
            store.enqueue(message, InteractionStatus::RequestIsQueued, NO_QUOTA)
                as BoxFuture<'_, Result<Enqueued, StoreError>>
        })
        .collect();
    let outcomes: Vec<Enqueued> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("enqueue"))
        .collect();
    let accepted: Vec<u32> = (1..=8)
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, Enqueued::Accepted { .. }))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(accepted.len(), 1, "{outcomes:?}");
    let winner = accepted[0];
    for (n, outcome) in (1..=8).zip(&outcomes) {
        if n != winner {
            assert_eq!(
                outcome,
                &Enqueued::Duplicate {
                    id: mid(winner),
                    sender: mn("S"),
                    sent_at: request(winner, "S", "R").sent_at,
                    by_client_id: true,
                }
            );
            assert_eq!(store.message(&mid(n)).await.expect("message"), None);
        }
    }
    assert_eq!(depths(store, "R").await, vec![("REQUEST", req_type(), 1)]);
}

/// A journal event as (kind, time, actor, attempt), checking its node.
fn who(event: &JournalEvent) -> (JournalKind, OffsetDateTime, Option<&str>, Option<u32>) {
    assert_eq!(
        event.node.as_deref(),
        Some(NODE),
        "every event names the store's node: {event:?}"
    );
    (event.kind, event.at, event.actor.as_deref(), event.attempt)
}

/// Every journal event names the node the store was opened on and who caused it: the sender
/// (`Accepted`), the responder (`Answered`, and the request's `StatusChanged` its response
/// causes), the recipient (hand-outs, releases, acks); nobody for the bus's own doing (expiry,
/// undeliverable, a status set by the bus). Hand-outs and releases carry the attempt: the
/// delivery count after the hand-out, the released lease's count.
pub async fn journal_node_actor_attempt(store: &dyn Store) {
    let q = request(1, "C", "P");
    put(store, q.clone()).await;
    let mut short = poll("P", MessageKind::Request, at(10));
    short.lease = Duration::seconds(10);
    assert_eq!(lease_id(store, short).await, Some(mid(1)));
    // The lease runs out: handed out again.
    let again = lease(store, poll("P", MessageKind::Request, at(30)))
        .await
        .expect("redelivered");
    assert_eq!(again.delivery_count, 2);
    assert!(
        store
            .settle_lease(&mn("P"), &mid(1), 2, LeaseOutcome::Release, at(31))
            .await
            .expect("settle_lease")
    );
    assert_eq!(
        lease(store, poll("P", MessageKind::Request, at(32)))
            .await
            .map(|m| m.delivery_count),
        Some(3)
    );
    let mut answer = response(2, "P", "C", Some(1));
    answer.sent_at = at(33);
    let outcome = store
        .enqueue_response(
            answer,
            InteractionStatus::ResponseIsAcceptedBySmev,
            NO_QUOTA,
            InteractionStatus::ResponseIsQueued,
        )
        .await
        .expect("enqueue_response");
    assert!(matches!(outcome, Enqueued::Accepted { .. }), "{outcome:?}");
    assert_eq!(ack(store, "P", 1, true, at(34)).await, AckOutcome::Acked);
    assert!(
        store
            .set_status(&mid(1), InteractionStatus::RequestIsProcessed, None, at(35))
            .await
            .expect("set_status")
    );
    assert_eq!(
        lease_id(store, poll("C", MessageKind::Response, at(36))).await,
        Some(mid(2))
    );
    assert_eq!(ack(store, "C", 2, false, at(37)).await, AckOutcome::Acked);

    let events = store.journal(&mid(1)).await.expect("journal");
    let mut got: Vec<_> = events.iter().map(who).collect();
    assert_eq!(got.len(), 9, "{events:?}");
    // The response's two events on the request are recorded together, in either order.
    got[5..7].sort_by_key(|e| e.0.code());
    assert_eq!(
        got,
        vec![
            (JournalKind::Accepted, q.sent_at, Some("C"), None),
            (JournalKind::Delivered, at(10), Some("P"), Some(1)),
            (JournalKind::Redelivered, at(30), Some("P"), Some(2)),
            (JournalKind::Released, at(31), Some("P"), Some(2)),
            (JournalKind::Redelivered, at(32), Some("P"), Some(3)),
            (JournalKind::Answered, at(33), Some("P"), None),
            (JournalKind::StatusChanged, at(33), Some("P"), None),
            (JournalKind::Acked, at(34), Some("P"), None),
            (JournalKind::StatusChanged, at(35), None, None),
        ]
    );
    let events = store.journal(&mid(2)).await.expect("journal");
    assert_eq!(
        events.iter().map(who).collect::<Vec<_>>(),
        vec![
            (JournalKind::Accepted, at(33), Some("P"), None),
            (JournalKind::Delivered, at(36), Some("C"), Some(1)),
            (JournalKind::Refused, at(37), Some("C"), None),
        ]
    );

    // The bus's own doing: expiry, undeliverable.
    let mut expiring = request(3, "C", "P2");
    expiring.eol = Some(at(100));
    put(store, expiring).await;
    assert_eq!(
        lease_id(store, poll("P2", MessageKind::Request, at(101))).await,
        None
    );
    put(store, request(4, "C", "P3")).await;
    assert_eq!(
        lease_id(store, poll("P3", MessageKind::Request, at(200))).await,
        Some(mid(4))
    );
    let dead = LeaseOutcome::Undeliverable {
        reason: "cannot be built".to_owned(),
        notice: "не может быть доставлено".to_owned(),
    };
    assert!(
        store
            .settle_lease(&mn("P3"), &mid(4), 1, dead, at(201))
            .await
            .expect("settle_lease")
    );
    let events = store.journal(&mid(3)).await.expect("journal");
    assert_eq!(
        events.iter().map(who).collect::<Vec<_>>(),
        vec![
            (
                JournalKind::Accepted,
                request(3, "C", "P2").sent_at,
                Some("C"),
                None
            ),
            (JournalKind::Expired, at(101), None, None),
        ]
    );
    let events = store.journal(&mid(4)).await.expect("journal");
    assert_eq!(
        events.iter().map(who).collect::<Vec<_>>(),
        vec![
            (
                JournalKind::Accepted,
                request(4, "C", "P3").sent_at,
                Some("C"),
                None
            ),
            (JournalKind::Delivered, at(200), Some("P3"), Some(1)),
            (JournalKind::Undeliverable, at(201), None, None),
        ]
    );
}

/// A query with no condition and room for everything.
fn everything() -> MessageQuery {
    MessageQuery {
        limit: 1000,
        ..MessageQuery::default()
    }
}

/// The ids [`Store::search_messages`] finds, in its order.
async fn found(store: &dyn Store, query: MessageQuery) -> Vec<MessageId> {
    search(store, query)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect()
}

async fn search(store: &dyn Store, query: MessageQuery) -> Vec<MessageSummary> {
    store.search_messages(query).await.expect("search_messages")
}

/// `search_messages`: every condition given must hold (each one alone, and together); newest
/// first; at most `limit` (at least 1); the summary describes the message as stored.
pub async fn search_filters(store: &dyn Store) {
    let at_secs = |mut m: NewMessage, secs: i64| {
        m.sent_at = at(secs);
        m
    };
    let mut first = at_secs(request(1, "C1", "P1"), 1);
    first.vs_id = "VS-A".to_owned();
    first.client_id = Some("k-1".to_owned());
    first.test_message = true;
    let seq1 = put(store, first.clone()).await;
    let mut second = at_secs(request(2, "C2", "P1"), 2);
    second.vs_id = "VS-B".to_owned();
    put(store, second).await;
    let mut third = at_secs(response(3, "P1", "C1", Some(1)), 3);
    third.vs_id = "VS-A".to_owned();
    put(store, third).await;
    let mut fourth = at_secs(request(4, "C1", "P2"), 4);
    fourth.vs_id = "VS-B".to_owned();
    fourth.client_id = Some("k-2".to_owned());
    put(store, fourth).await;
    let mut fifth = at_secs(response(5, "P2", "C1", Some(4)), 5);
    fifth.client_id = Some("k-1".to_owned());
    put(store, fifth).await;
    put(store, at_secs(request(6, "C2", "P2"), 6)).await;
    // 1 acknowledged, 4 leased, 6 cancelled; the rest queued.
    assert_eq!(
        lease_id(store, poll("P1", MessageKind::Request, at(10))).await,
        Some(mid(1))
    );
    assert_eq!(ack(store, "P1", 1, true, at(11)).await, AckOutcome::Acked);
    assert_eq!(
        lease_id(store, poll("P2", MessageKind::Request, at(12))).await,
        Some(mid(4))
    );
    assert!(
        store
            .set_status(&mid(6), InteractionStatus::Cancelled, None, at(13))
            .await
            .expect("set_status")
    );

    let ids = |ns: &[u32]| ns.iter().copied().map(mid).collect::<Vec<_>>();
    let q = everything;
    assert_eq!(found(store, q()).await, ids(&[6, 5, 4, 3, 2, 1]));
    let cases: Vec<(&str, MessageQuery, Vec<MessageId>)> = vec![
        (
            "system",
            MessageQuery {
                system: Some(mn("C1")),
                ..q()
            },
            ids(&[5, 4, 3, 1]),
        ),
        (
            "sender",
            MessageQuery {
                sender: Some(mn("C1")),
                ..q()
            },
            ids(&[4, 1]),
        ),
        (
            "recipient",
            MessageQuery {
                recipient: Some(mn("P1")),
                ..q()
            },
            ids(&[2, 1]),
        ),
        (
            "recipient of responses",
            MessageQuery {
                recipient: Some(mn("C1")),
                ..q()
            },
            ids(&[5, 3]),
        ),
        (
            "vs_id",
            MessageQuery {
                vs_id: Some("VS-A".to_owned()),
                ..q()
            },
            ids(&[3, 1]),
        ),
        (
            "kind",
            MessageQuery {
                kind: Some(MessageKind::Response),
                ..q()
            },
            ids(&[5, 3]),
        ),
        (
            "from (inclusive) and to (exclusive)",
            MessageQuery {
                from: Some(at(2)),
                to: Some(at(5)),
                ..q()
            },
            ids(&[4, 3, 2]),
        ),
        (
            "from in another offset",
            MessageQuery {
                from: Some(at(5).to_offset(time::macros::offset!(+3))),
                ..q()
            },
            ids(&[6, 5]),
        ),
        (
            "to",
            MessageQuery {
                to: Some(at(2)),
                ..q()
            },
            ids(&[1]),
        ),
        (
            "status",
            MessageQuery {
                status: Some(InteractionStatus::Cancelled),
                ..q()
            },
            ids(&[6]),
        ),
        (
            "status after ack",
            MessageQuery {
                status: Some(InteractionStatus::MessageIsDelivered),
                ..q()
            },
            ids(&[1]),
        ),
        (
            "state leased",
            MessageQuery {
                state: Some(DeliveryState::Leased),
                ..q()
            },
            ids(&[4]),
        ),
        (
            "state queued",
            MessageQuery {
                state: Some(DeliveryState::Queued),
                ..q()
            },
            ids(&[6, 5, 3, 2]),
        ),
        (
            "state acked",
            MessageQuery {
                state: Some(DeliveryState::Acked),
                ..q()
            },
            ids(&[1]),
        ),
        (
            "message_id",
            MessageQuery {
                message_id: Some(mid(3)),
                ..q()
            },
            ids(&[3]),
        ),
        (
            "unknown message_id",
            MessageQuery {
                message_id: Some(mid(99)),
                ..q()
            },
            ids(&[]),
        ),
        (
            "client_id of two senders",
            MessageQuery {
                client_id: Some("k-1".to_owned()),
                ..q()
            },
            ids(&[5, 1]),
        ),
        (
            "client_id and sender",
            MessageQuery {
                client_id: Some("k-1".to_owned()),
                sender: Some(mn("C1")),
                ..q()
            },
            ids(&[1]),
        ),
        (
            "original_message_id",
            MessageQuery {
                original_message_id: Some(mid(1)),
                ..q()
            },
            ids(&[3]),
        ),
        (
            "system and kind",
            MessageQuery {
                system: Some(mn("C1")),
                kind: Some(MessageKind::Request),
                ..q()
            },
            ids(&[4, 1]),
        ),
        (
            "system and sender",
            MessageQuery {
                system: Some(mn("P1")),
                sender: Some(mn("C2")),
                ..q()
            },
            ids(&[2]),
        ),
        (
            "sender and recipient",
            MessageQuery {
                sender: Some(mn("C2")),
                recipient: Some(mn("P2")),
                ..q()
            },
            ids(&[6]),
        ),
        (
            "conditions that exclude each other",
            MessageQuery {
                sender: Some(mn("C1")),
                kind: Some(MessageKind::Response),
                ..q()
            },
            ids(&[]),
        ),
        (
            "unknown system",
            MessageQuery {
                system: Some(mn("NOBODY")),
                ..q()
            },
            ids(&[]),
        ),
        ("limit", MessageQuery { limit: 2, ..q() }, ids(&[6, 5])),
        (
            "a limit of 0 is 1",
            MessageQuery { limit: 0, ..q() },
            ids(&[6]),
        ),
    ];
    for (what, query, want) in cases {
        assert_eq!(found(store, query).await, want, "{what}");
    }

    let summary = search(
        store,
        MessageQuery {
            message_id: Some(mid(1)),
            ..q()
        },
    )
    .await;
    assert_eq!(
        summary,
        vec![MessageSummary {
            seq: seq1,
            id: mid(1),
            kind: MessageKind::Request,
            sender: mn("C1"),
            recipient: mn("P1"),
            message_type: req_type(),
            vs_id: "VS-A".to_owned(),
            client_id: Some("k-1".to_owned()),
            original_message_id: None,
            sent_at: at(1),
            state: DeliveryState::Acked,
            delivery_count: 1,
            status: InteractionStatus::MessageIsDelivered,
            test_message: true,
        }]
    );
    let summary = search(
        store,
        MessageQuery {
            message_id: Some(mid(3)),
            ..q()
        },
    )
    .await;
    assert_eq!(summary.len(), 1);
    let s = &summary[0];
    assert_eq!(
        (
            s.kind,
            s.original_message_id.clone(),
            s.state,
            s.delivery_count,
            s.client_id.clone(),
            s.test_message,
            s.message_type.clone()
        ),
        (
            MessageKind::Response,
            Some(mid(1)),
            DeliveryState::Queued,
            0,
            None,
            false,
            resp_type()
        )
    );
    let all = search(store, q()).await;
    assert!(
        all.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first by seq: {all:?}"
    );
}

/// Paging by `before` (the last `seq` of the previous page) walks every matching message once,
/// newest first, while new messages arrive.
pub async fn search_paging_is_stable(store: &dyn Store) {
    let mut n = 0;
    let mut next = |sender: &str| {
        n += 1;
        request(n, sender, "R")
    };
    // S's messages 1, 3, 5, …, 13 between T's.
    let mut mine = Vec::new();
    for _ in 0..7 {
        let message = next("S");
        mine.push(message.id.clone());
        put(store, message).await;
        put(store, next("T")).await;
    }
    let page = |before: Option<i64>| MessageQuery {
        sender: Some(mn("S")),
        before,
        limit: 3,
        ..MessageQuery::default()
    };
    let mut walked: Vec<MessageId> = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let got = search(store, page(before)).await;
        if got.is_empty() {
            break;
        }
        pages += 1;
        assert!(got.len() <= 3);
        assert!(
            got.windows(2).all(|w| w[0].seq > w[1].seq),
            "newest first: {got:?}"
        );
        assert!(
            before.is_none_or(|b| got.iter().all(|s| s.seq < b)),
            "below the cursor"
        );
        before = got.last().map(|s| s.seq);
        walked.extend(got.into_iter().map(|s| s.id));
        // New messages of S arrive while paging; they are newer than the cursor.
        let message = next("S");
        put(store, message).await;
    }
    mine.reverse();
    assert_eq!(walked, mine, "every message once, newest first");
    assert_eq!(pages, 3);
    let newest = found(store, page(None)).await;
    assert_eq!(newest.len(), 3);
    assert!(
        newest.iter().all(|id| !walked.contains(id)),
        "the first page now shows the new messages"
    );
}

/// `text` is a plain, case-sensitive substring of the business content (the sender's data, not
/// the signature): `%`, `_`, `\`, `*`, `[`, `?` are only characters.
pub async fn search_text_is_literal(store: &dyn Store) {
    let bodies = [
        "<q>100% верно</q>",
        "<q>100 процентов</q>",
        "<q>a_b</q>",
        "<q>axb</q>",
        "<q>Привет, Мир</q>",
        "<q>x\\y</q>",
        "<q>[ab]*?</q>",
        "<q>a</q>",
    ];
    for (n, body) in (1..).zip(bodies) {
        let mut message = request(n, if n % 2 == 0 { "EVEN" } else { "ODD" }, "R");
        message.sender_data = body.to_owned();
        if n == 8 {
            message.sender_signature = Some("<ds:Signature>ТОЛЬКО-ПОДПИСЬ</ds:Signature>".into());
        }
        put(store, message).await;
    }
    let text = |t: &str| MessageQuery {
        text: Some(t.to_owned()),
        ..everything()
    };
    let ids = |ns: &[u32]| ns.iter().copied().map(mid).collect::<Vec<_>>();
    for (needle, want) in [
        ("%", ids(&[1])),
        ("100%", ids(&[1])),
        ("0% в", ids(&[1])),
        ("%%", ids(&[])),
        ("_", ids(&[3])),
        ("a_b", ids(&[3])),
        ("a%b", ids(&[])),
        ("Мир", ids(&[5])),
        ("мир", ids(&[])),
        ("ПРИВЕТ", ids(&[])),
        ("\\", ids(&[6])),
        ("x\\y", ids(&[6])),
        ("[ab]", ids(&[7])),
        ("*", ids(&[7])),
        ("?", ids(&[7])),
        ("ТОЛЬКО-ПОДПИСЬ", ids(&[])),
        ("100", ids(&[2, 1])),
        ("</q>", ids(&[8, 7, 6, 5, 4, 3, 2, 1])),
    ] {
        assert_eq!(found(store, text(needle)).await, want, "text {needle:?}");
    }
    let odd = MessageQuery {
        sender: Some(mn("ODD")),
        ..text("100")
    };
    assert_eq!(found(store, odd).await, ids(&[1]), "text and sender");
}

/// An audit entry fixture.
fn audit_entry(secs: i64, actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: at(secs),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: format!("{action} of {target}:\n- было\n+ стало"),
    }
}

/// Every audit entry, newest first.
async fn audit_all(store: &dyn Store) -> Vec<AuditEntry> {
    store
        .audit(AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("audit")
}

/// The audit log's (actor, action, target), newest first.
async fn audit_actions(store: &dyn Store) -> Vec<(String, String, String)> {
    audit_all(store)
        .await
        .into_iter()
        .map(|e| (e.entry.actor, e.entry.action, e.entry.target))
        .collect()
}

fn action(actor: &str, action: &str, target: &str) -> (String, String, String) {
    (actor.to_owned(), action.to_owned(), target.to_owned())
}

/// A token fixture: secret hash `[n; 32]`, created at `at(created)`.
fn token(n: u8, id: &str, created: i64) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        secret_hash: [n; 32],
        name: format!("ЕПГУ, продуктив {n}"),
        role: Role::Is,
        system: Some(mn("ЕПГУ_01")),
        account: None,
        created_by: "system".to_owned(),
        created_at: at(created),
        expires_at: None,
        revoked_at: None,
    }
}

/// Tokens: created with their audit entry, found by secret hash (revoked ones too), listed
/// oldest first; a known id or secret hash is [`StoreError::Exists`] and changes nothing;
/// revoking works once.
pub async fn tokens(store: &dyn Store) {
    assert_eq!(store.tokens().await.expect("tokens"), vec![]);
    assert_eq!(
        store
            .token_by_secret_hash(&[1; 32])
            .await
            .expect("token_by_secret_hash"),
        None
    );
    let first = TokenRecord {
        role: Role::Admin,
        system: None,
        account: Some("admin".to_owned()),
        created_by: "admin".to_owned(),
        expires_at: Some(at(1000).to_offset(time::macros::offset!(+3))),
        ..token(1, "tok_1", 10)
    };
    let create = |t: &TokenRecord| {
        let (t, audit) = (
            t.clone(),
            audit_entry(
                t.created_at.unix_timestamp(),
                "admin",
                "token.create",
                &t.id,
            ),
        );
        store.create_token(t, audit)
    };
    create(&first).await.expect("create_token");
    let second = token(2, "tok_2", 20);
    create(&second).await.expect("create_token");
    let by_hash = |hash: [u8; 32]| async move {
        store
            .token_by_secret_hash(&hash)
            .await
            .expect("token_by_secret_hash")
    };
    assert_eq!(by_hash([1; 32]).await, Some(first.clone()));
    assert_eq!(by_hash([2; 32]).await, Some(second.clone()));
    assert_eq!(by_hash([3; 32]).await, None);

    // A known id, a known secret hash: refused, nothing stored, nothing audited.
    match create(&token(3, "tok_1", 30)).await {
        Err(StoreError::Exists(_)) => {}
        other => panic!("a known token id: expected Exists, got {other:?}"),
    }
    assert_eq!(by_hash([3; 32]).await, None);
    match create(&token(2, "tok_3", 30)).await {
        Err(StoreError::Exists(_)) => {}
        other => panic!("a known secret hash: expected Exists, got {other:?}"),
    }
    assert_eq!(by_hash([2; 32]).await, Some(second.clone()));
    assert_eq!(
        store.tokens().await.expect("tokens"),
        vec![first.clone(), second.clone()]
    );

    // Oldest first (by creation time; ties in the order of creation).
    let older = token(4, "tok_older", 5);
    let tie = token(5, "tok_tie", 20);
    create(&older).await.expect("create_token");
    create(&tie).await.expect("create_token");
    let listed: Vec<String> = store
        .tokens()
        .await
        .expect("tokens")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ["tok_older", "tok_1", "tok_2", "tok_tie"]);

    let revoke = |id: &'static str, secs: i64| {
        store.revoke_token(id, at(secs), audit_entry(secs, "admin", "token.revoke", id))
    };
    assert!(revoke("tok_1", 50).await.expect("revoke_token"));
    let revoked = by_hash([1; 32])
        .await
        .expect("a revoked token is still found");
    assert_eq!(
        revoked,
        TokenRecord {
            revoked_at: Some(at(50)),
            ..first.clone()
        }
    );
    assert!(
        !revoke("tok_1", 60).await.expect("revoke_token"),
        "revoked already"
    );
    assert_eq!(
        by_hash([1; 32]).await.and_then(|t| t.revoked_at),
        Some(at(50)),
        "the first revocation stays"
    );
    assert!(!revoke("tok_missing", 61).await.expect("revoke_token"));
    assert_eq!(by_hash([2; 32]).await, Some(second), "others untouched");

    assert_eq!(
        audit_actions(store).await,
        vec![
            action("admin", "token.revoke", "tok_1"),
            action("admin", "token.create", "tok_tie"),
            action("admin", "token.create", "tok_older"),
            action("admin", "token.create", "tok_2"),
            action("admin", "token.create", "tok_1"),
        ],
        "one entry per change, none for refused ones"
    );
}

/// An account fixture.
fn account(login: &str, role: Role) -> Account {
    Account {
        login: login.to_owned(),
        name: format!("Сотрудник {login}"),
        role,
        system: None,
        password_hash: None,
        must_change_password: false,
        disabled: false,
        created_at: at(1),
    }
}

/// Accounts: created with their audit entry (a known login is [`StoreError::Exists`]; logins
/// are case-sensitive), read by login, listed by login, replaced whole by `update_account`
/// (`false` for an unknown login).
pub async fn accounts(store: &dyn Store) {
    assert_eq!(store.account("admin").await.expect("account"), None);
    assert_eq!(store.accounts().await.expect("accounts"), vec![]);
    let admin = Account {
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        must_change_password: true,
        created_at: at(2).to_offset(time::macros::offset!(+3)),
        ..account("admin", Role::Admin)
    };
    let ivan = Account {
        system: Some(mn("ЕПГУ_01")),
        ..account("иван", Role::Is)
    };
    let all = [
        account("zoe", Role::Operator),
        admin.clone(),
        account("Admin", Role::Auditor),
        ivan.clone(),
    ];
    for a in &all {
        store
            .create_account(
                a.clone(),
                audit_entry(3, "root", "account.create", &a.login),
            )
            .await
            .expect("create_account");
    }
    match store
        .create_account(
            account("admin", Role::Operator),
            audit_entry(4, "root", "account.create", "admin"),
        )
        .await
    {
        Err(StoreError::Exists(_)) => {}
        other => panic!("a known login: expected Exists, got {other:?}"),
    }
    assert_eq!(store.account("admin").await.expect("account"), Some(admin));
    assert_eq!(
        store
            .account("Admin")
            .await
            .expect("account")
            .map(|a| a.role),
        Some(Role::Auditor),
        "logins are case-sensitive"
    );
    assert_eq!(store.account("ADMIN").await.expect("account"), None);
    assert_eq!(store.account("иван").await.expect("account"), Some(ivan));
    let logins: Vec<String> = store
        .accounts()
        .await
        .expect("accounts")
        .into_iter()
        .map(|a| a.login)
        .collect();
    assert_eq!(logins, ["Admin", "admin", "zoe", "иван"], "by login");

    let changed = Account {
        name: "Иван Петров".to_owned(),
        role: Role::Operator,
        system: None,
        password_hash: Some("$argon2id$new".to_owned()),
        must_change_password: false,
        disabled: true,
        created_at: at(9),
        ..account("иван", Role::Is)
    };
    assert!(
        store
            .update_account(
                changed.clone(),
                audit_entry(5, "root", "account.update", "иван")
            )
            .await
            .expect("update_account")
    );
    assert_eq!(store.account("иван").await.expect("account"), Some(changed));
    assert!(
        !store
            .update_account(
                account("nobody", Role::Admin),
                audit_entry(6, "root", "account.update", "nobody")
            )
            .await
            .expect("update_account")
    );
    assert_eq!(store.account("nobody").await.expect("account"), None);
    assert_eq!(store.accounts().await.expect("accounts").len(), 4);
    assert_eq!(
        audit_actions(store).await,
        vec![
            action("root", "account.update", "иван"),
            action("root", "account.create", "иван"),
            action("root", "account.create", "Admin"),
            action("root", "account.create", "admin"),
            action("root", "account.create", "zoe"),
        ],
        "one entry per change, none for refused ones"
    );
}

/// The audit log: `append_audit` returns increasing `seq`s; entries read back whole, newest
/// first, filtered by actor, action prefix (plain text) and time, paged by `before`.
pub async fn audit_log(store: &dyn Store) {
    assert_eq!(audit_all(store).await, vec![]);
    let entries = [
        audit_entry(10, "admin", "registry.change", "registry"),
        audit_entry(20, "token:tok_1", "token.create", "tok_2"),
        audit_entry(30, "admin", "registry_import", "registry"),
        audit_entry(40, "system", "account.update", "иван"),
        NewAuditEntry {
            at: at(40).to_offset(time::macros::offset!(-5)),
            ..audit_entry(40, "admin", "registry.change", "registry")
        },
    ];
    let mut seqs = Vec::new();
    for entry in &entries {
        seqs.push(
            store
                .append_audit(entry.clone())
                .await
                .expect("append_audit"),
        );
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let all = audit_all(store).await;
    let want: Vec<AuditEntry> = seqs
        .iter()
        .zip(&entries)
        .rev()
        .map(|(&seq, entry)| AuditEntry {
            seq,
            entry: entry.clone(),
        })
        .collect();
    assert_eq!(all, want, "every entry, whole, newest first");

    let q = || AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let numbers = |got: Vec<AuditEntry>| -> Vec<usize> {
        got.iter()
            .map(|e| seqs.iter().position(|&s| s == e.seq).map_or(0, |i| i + 1))
            .collect()
    };
    let prefix = |p: &str| AuditQuery {
        action_prefix: Some(p.to_owned()),
        ..q()
    };
    let cases: Vec<(&str, AuditQuery, Vec<usize>)> = vec![
        (
            "actor",
            AuditQuery {
                actor: Some("admin".to_owned()),
                ..q()
            },
            vec![5, 3, 1],
        ),
        (
            "unknown actor",
            AuditQuery {
                actor: Some("Admin".to_owned()),
                ..q()
            },
            vec![],
        ),
        ("prefix registry.", prefix("registry."), vec![5, 1]),
        ("prefix registry", prefix("registry"), vec![5, 3, 1]),
        (
            "prefix registry_ (no pattern)",
            prefix("registry_"),
            vec![3],
        ),
        ("prefix %", prefix("%"), vec![]),
        ("prefix _", prefix("_"), vec![]),
        ("prefix is case-sensitive", prefix("Registry"), vec![]),
        ("empty prefix", prefix(""), vec![5, 4, 3, 2, 1]),
        ("whole action", prefix("token.create"), vec![2]),
        (
            "from (inclusive)",
            AuditQuery {
                from: Some(at(30)),
                ..q()
            },
            vec![5, 4, 3],
        ),
        (
            "to (exclusive)",
            AuditQuery {
                to: Some(at(30)),
                ..q()
            },
            vec![2, 1],
        ),
        (
            "from and to",
            AuditQuery {
                from: Some(at(20)),
                to: Some(at(40)),
                ..q()
            },
            vec![3, 2],
        ),
        (
            "before",
            AuditQuery {
                before: Some(seqs[3]),
                ..q()
            },
            vec![3, 2, 1],
        ),
        ("limit", AuditQuery { limit: 2, ..q() }, vec![5, 4]),
        ("a limit of 0 is 1", AuditQuery { limit: 0, ..q() }, vec![5]),
        (
            "everything together",
            AuditQuery {
                actor: Some("admin".to_owned()),
                action_prefix: Some("registry.".to_owned()),
                before: Some(seqs[4]),
                from: Some(at(0)),
                to: Some(at(100)),
                limit: 10,
            },
            vec![1],
        ),
    ];
    for (what, query, want) in cases {
        let got = store.audit(query).await.expect("audit");
        assert_eq!(numbers(got), want, "{what}");
    }

    // Paging: pages of 2 by the cursor, while new entries arrive.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit(AuditQuery {
                before,
                limit: 2,
                ..AuditQuery::default()
            })
            .await
            .expect("audit");
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        walked.extend(numbers(page));
        store
            .append_audit(audit_entry(50, "admin", "late", "x"))
            .await
            .expect("append_audit");
    }
    assert_eq!(walked, vec![5, 4, 3, 2, 1]);
}

/// `save_registry` with an audit entry writes both or neither: a refused save (a conflict)
/// leaves no entry; `registry_version` reads every saved version back.
pub async fn registry_audit_and_versions(store: &dyn Store) {
    let version =
        |v: u64| async move { store.registry_version(v).await.expect("registry_version") };
    assert_eq!(version(0).await, None);
    assert_eq!(version(1).await, None);
    let change = |secs: i64| audit_entry(secs, "admin", "registry.change", "registry");
    let v1 = store
        .save_registry("[первый]".into(), None, false, at(1), Some(change(1)))
        .await
        .expect("save_registry");
    assert_eq!(v1.version, 1);
    let entries = audit_all(store).await;
    assert_eq!(
        entries.iter().map(|e| e.entry.clone()).collect::<Vec<_>>(),
        vec![change(1)]
    );
    match store
        .save_registry("stale".into(), None, false, at(2), Some(change(2)))
        .await
    {
        Err(StoreError::RegistryConflict { current: 1 }) => {}
        other => panic!("expected a conflict at 1, got {other:?}"),
    }
    assert_eq!(
        audit_all(store).await,
        entries,
        "a refused save is not audited"
    );
    assert_eq!(version(2).await, None);
    let v2 = store
        .save_registry("second".into(), Some(1), false, at(3), None)
        .await
        .expect("save_registry");
    assert_eq!(audit_all(store).await, entries, "no entry without one");
    let v3 = store
        .save_registry(String::new(), None, true, at(4), Some(change(4)))
        .await
        .expect("save_registry");
    assert_eq!(audit_all(store).await.len(), 2);
    assert_eq!(version(1).await, Some(v1));
    assert_eq!(version(2).await, Some(v2));
    assert_eq!(version(3).await, Some(v3.clone()));
    assert_eq!(version(4).await, None);
    assert_eq!(version(u64::MAX).await, None);
    assert_eq!(store.registry().await.expect("registry"), Some(v3));
}

fn check_each_once(per_worker: Vec<Vec<MessageId>>, total: u32) {
    let mut all: Vec<MessageId> = per_worker.into_iter().flatten().collect();
    let handed_out = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), handed_out, "a message was handed out twice");
    let mut want: Vec<MessageId> = (1..=total).map(mid).collect();
    want.sort();
    assert_eq!(all, want, "every message is handed out");
}

// ------------------------------------------------------------------------------------------------
// Tiny executors (std only)

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

// ------------------------------------------------------------------------------------------------
// Several nodes: signals, job claims, the sweep; copying a store

/// Sleeps without any async runtime (a thread wakes the task).
async fn pause(ms: u64) {
    let mut started: Option<Arc<std::sync::atomic::AtomicBool>> = None;
    std::future::poll_fn(move |cx| match &started {
        Some(done) if done.load(std::sync::atomic::Ordering::Acquire) => Poll::Ready(()),
        Some(_) => Poll::Pending,
        None => {
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            started = Some(Arc::clone(&done));
            let waker = cx.waker().clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                done.store(true, std::sync::atomic::Ordering::Release);
                waker.wake();
            });
            Poll::Pending
        }
    })
    .await
}

/// Collects the signals a store gives.
#[derive(Debug, Default, Clone)]
struct Signals(Arc<std::sync::Mutex<Vec<QueueSignal>>>);

impl Signals {
    fn listen(&self, store: &dyn Store) {
        let seen = Arc::clone(&self.0);
        store.listen(Arc::new(move |signal| {
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(signal)
        }));
    }

    fn taken(&self) -> Vec<QueueSignal> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits (up to 10 s: a shared database delivers signals asynchronously) until `want` has
    /// arrived, then a little longer for anything unexpected, and returns all that came.
    async fn expect(&self, want: &[QueueSignal]) -> Vec<QueueSignal> {
        let mut got = Vec::new();
        for _ in 0..200 {
            got.extend(self.taken());
            if want.iter().all(|w| got.contains(w)) {
                break;
            }
            pause(50).await;
        }
        pause(200).await;
        got.extend(self.taken());
        got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        got.dedup();
        got
    }
}

fn signal(recipient: &str, kind: MessageKind, node: Option<&str>) -> QueueSignal {
    QueueSignal {
        recipient: mn(recipient),
        kind,
        node: node.map(str::to_owned),
    }
}

/// An accepted enqueue and a released lease signal their queue (with the message's node); a
/// duplicate, a full queue, a lease and an ack signal nothing.
pub async fn signals_follow_availability(store: &dyn Store) {
    let signals = Signals::default();
    signals.listen(store);
    put(store, request(1, "S", "R")).await;
    let want = [signal("R", MessageKind::Request, None)];
    assert_eq!(signals.expect(&want).await, want, "an accepted request");

    let mut bound = response(2, "R", "S", Some(1));
    bound.target_node_id = Some("узел-Б".to_owned());
    put_with(store, bound, InteractionStatus::ResponseIsQueued).await;
    let want = [signal("S", MessageKind::Response, Some("узел-Б"))];
    assert_eq!(
        signals.expect(&want).await,
        want,
        "a response bound to a node"
    );

    // Refused enqueues and hand-outs signal nothing.
    assert!(matches!(
        store
            .enqueue(
                request(1, "S", "R"),
                InteractionStatus::RequestIsQueued,
                NO_QUOTA
            )
            .await
            .expect("enqueue"),
        Enqueued::Duplicate { .. }
    ));
    assert!(matches!(
        store
            .enqueue(request(3, "S", "R"), InteractionStatus::RequestIsQueued, 1)
            .await
            .expect("enqueue"),
        Enqueued::QueueFull { .. }
    ));
    let leased = lease(store, poll("R", MessageKind::Request, at(10)))
        .await
        .expect("leased");
    assert_eq!(signals.expect(&[]).await, vec![], "refusals and a lease");

    // A released lease queues the message again.
    assert!(
        store
            .settle_lease(
                &mn("R"),
                &leased.message.id,
                leased.delivery_count,
                LeaseOutcome::Release,
                at(11),
            )
            .await
            .expect("settle_lease")
    );
    let want = [signal("R", MessageKind::Request, None)];
    assert_eq!(signals.expect(&want).await, want, "a released lease");
    let leased = lease(store, poll("R", MessageKind::Request, at(12)))
        .await
        .expect("leased again");
    assert_eq!(leased.message.id, mid(1));
    assert_eq!(ack(store, "R", 1, true, at(13)).await, AckOutcome::Acked);
    assert_eq!(signals.expect(&[]).await, vec![], "an ack");
}

/// One holder at a time; a renewal keeps the fence, a takeover raises it; work under a stale
/// claim is refused; a released claim is free at once.
pub async fn job_claims_and_fencing(store: &dyn Store) {
    let ttl = Duration::seconds(10);
    let claim = |holder: &'static str, now| store.claim_job("sweep", holder, ttl, now);
    let a = claim("node-a", at(0))
        .await
        .expect("claim_job")
        .expect("a free job is claimed");
    assert_eq!((a.job.as_str(), a.holder.as_str()), ("sweep", "node-a"));
    assert_eq!(a.until, at(10));
    assert_eq!(claim("node-b", at(5)).await.expect("claim_job"), None);
    assert_eq!(
        claim("node-b", at(10)).await.expect("claim_job"),
        None,
        "a claim runs until `now > until`"
    );
    let renewed = claim("node-a", at(9))
        .await
        .expect("claim_job")
        .expect("renewed");
    assert_eq!(renewed.fence, a.fence, "a renewal keeps the fence");
    assert_eq!(renewed.until, at(19));
    // Another job is claimed independently.
    let other = store
        .claim_job("rollup", "node-b", ttl, at(9))
        .await
        .expect("claim_job")
        .expect("another job");
    assert_eq!(other.holder, "node-b");

    // node-a stalls past its claim; node-b takes over with a higher fence.
    let b = claim("node-b", at(20))
        .await
        .expect("claim_job")
        .expect("taken over");
    assert!(b.fence > a.fence, "fence {} after {}", b.fence, a.fence);
    match store.sweep(&renewed, at(20), 100).await {
        Err(StoreError::LostClaim { job, fence }) => {
            assert_eq!((job.as_str(), fence), ("sweep", a.fence))
        }
        other => panic!("a sweep under a lost claim: {other:?}"),
    }
    // node-a's claim call now fails: node-b holds the job.
    assert_eq!(claim("node-a", at(21)).await.expect("claim_job"), None);
    // A claim run out is refused even to its own holder's sweep.
    match store.sweep(&b, at(31), 100).await {
        Err(StoreError::LostClaim { .. }) => {}
        other => panic!("a sweep after the claim ran out: {other:?}"),
    }
    store.sweep(&b, at(30), 100).await.expect("a current claim");
    assert!(!store.release_job(&a).await.expect("release_job"), "stale");
    assert!(store.release_job(&b).await.expect("release_job"));
    let again = claim("node-a", at(22))
        .await
        .expect("claim_job")
        .expect("a released job is free at once");
    assert!(again.fence > b.fence);
    match store.sweep(&b, at(22), 100).await {
        Err(StoreError::LostClaim { .. }) => {}
        other => panic!("a sweep under a released claim: {other:?}"),
    }
}

/// The sweep expires pending messages whose EOL passed (not under a live lease) exactly as a poll
/// would, and signals the queues of leases that ran out since the previous sweep, once.
pub async fn sweep_expires_and_signals(store: &dyn Store) {
    let signals = Signals::default();
    signals.listen(store);
    let claim = store
        .claim_job("sweep", "node-a", Duration::seconds(1000), at(0))
        .await
        .expect("claim_job")
        .expect("claimed");
    let with_eol = |n, eol| NewMessage {
        eol: Some(at(eol)),
        ..request(n, "S", "R")
    };
    put(store, with_eol(1, 10)).await; // expires at the sweep
    put(store, with_eol(2, 100)).await; // still valid
    put(store, with_eol(3, 10)).await; // leased past its EOL
    put(store, request(4, "S", "R2")).await; // leased, lease runs out
    // Lease all three of R's queue, then give 1 and 2 back: 3 stays leased past its EOL.
    let mut leased = Vec::new();
    while let Some(m) = lease(store, poll("R", MessageKind::Request, at(5))).await {
        leased.push(m);
    }
    assert_eq!(leased.len(), 3);
    for m in leased.iter().filter(|m| m.message.id != mid(3)) {
        assert!(
            store
                .settle_lease(
                    &mn("R"),
                    &m.message.id,
                    m.delivery_count,
                    LeaseOutcome::Release,
                    at(6)
                )
                .await
                .expect("settle_lease")
        );
    }
    let four = lease(store, poll("R2", MessageKind::Request, at(7)))
        .await
        .expect("leased");
    assert_eq!(four.lease_until, Some(at(67)));
    signals
        .expect(&[signal("R", MessageKind::Request, None)])
        .await;
    let _ = signals.taken();

    let report = store.sweep(&claim, at(20), 100).await.expect("sweep");
    assert_eq!(report.expired, 1, "{report:?}");
    assert_eq!(report.leases_run_out, 0, "{report:?}");
    let one = get(store, 1).await;
    assert_eq!(one.state, DeliveryState::Expired);
    assert_eq!(one.status, InteractionStatus::Cancelled);
    assert_eq!(
        journal_kinds(store, 1).await,
        vec![
            JournalKind::Accepted,
            JournalKind::Delivered,
            JournalKind::Released,
            JournalKind::Expired
        ]
    );
    let notice = take_notice(store, "S")
        .await
        .expect("a notice for the sender");
    assert_eq!(notice.original_message_id, mid(1));
    assert_eq!(notice.status, InteractionStatus::Cancelled);
    assert_eq!(take_notice(store, "S").await, None);
    assert_eq!(
        get(store, 3).await.state,
        DeliveryState::Leased,
        "a live lease"
    );
    assert_eq!(get(store, 2).await.state, DeliveryState::Queued);
    assert_eq!(
        depths(store, "R").await,
        vec![("REQUEST", req_type(), 2)],
        "expired messages leave the counts"
    );

    // Lease of 3 runs out at 65 (EOL passed: expired by the next sweep); lease of 4 at 67.
    let report = store.sweep(&claim, at(70), 100).await.expect("sweep");
    assert_eq!(report.expired, 1, "{report:?}");
    assert_eq!(get(store, 3).await.state, DeliveryState::Expired);
    assert_eq!(report.leases_run_out, 1, "{report:?}");
    let want = [signal("R2", MessageKind::Request, None)];
    assert_eq!(signals.expect(&want).await, want);
    let report = store.sweep(&claim, at(80), 100).await.expect("sweep");
    assert_eq!(report, crate::SweepReport::default(), "signalled once");
    assert_eq!(signals.expect(&[]).await, vec![]);
    // The run-out lease is taken again by a poll.
    let again = lease(store, poll("R2", MessageKind::Request, at(81)))
        .await
        .expect("redelivered");
    assert_eq!(again.delivery_count, 2);

    // The limit bounds one sweep's expiries.
    for n in 10..15 {
        put(store, with_eol(n, 90)).await;
    }
    let report = store.sweep(&claim, at(95), 2).await.expect("sweep");
    assert_eq!(report.expired, 2);
    let report = store.sweep(&claim, at(96), 100).await.expect("sweep");
    assert_eq!(
        report.expired, 3,
        "the other three (message 2's EOL is ahead)"
    );
    assert_eq!(get(store, 2).await.state, DeliveryState::Queued);
}

async fn export_all(store: &dyn Store, section: Section) -> Vec<Record> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.export(section, after, 2).await.expect("export");
        if batch.is_empty() {
            return out;
        }
        after = crate::copy::next_after(section, after, &batch);
        out.extend(batch);
    }
}

/// What `export` gives, `import` writes as it was (seqs, states, journals, attachments), on
/// another store of the same or another backend; sequences go on after the imported ones; a
/// record whose key exists is refused whole.
pub async fn export_import_round_trip(from: &dyn Store, to: &dyn Store) {
    // A populated store: every section, messages in every state.
    let mut big = full_request(1);
    let dir = std::env::temp_dir().join(format!(
        "opensmev-conformance-copy-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let file = dir.join("big");
    let bytes: Vec<u8> = (0..2_500_000u32).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::write(&file, &bytes).expect("fixture file");
    big.attachments.push(Attachment {
        content_id: "file".to_owned(),
        mime_type: "application/octet-stream".to_owned(),
        data: Blob::File {
            path: file.clone(),
            len: bytes.len() as u64,
        },
    });
    put(from, big).await;
    let _ = std::fs::remove_file(&file);
    for n in 2..=6 {
        put(from, request(n, "S", "R")).await;
    }
    put_with(
        from,
        response(7, "R", "S", Some(2)),
        InteractionStatus::ResponseIsQueued,
    )
    .await;
    let two = lease(from, poll("R", MessageKind::Request, at(10)))
        .await
        .expect("leased");
    assert_eq!(two.message.id, mid(2));
    assert_eq!(ack(from, "R", 2, true, at(11)).await, AckOutcome::Acked);
    lease(from, poll("R", MessageKind::Request, at(12)))
        .await
        .expect("leased");
    from.set_status(
        &mid(4),
        InteractionStatus::RequestIsQueued,
        Some("уведомление".into()),
        at(13),
    )
    .await
    .expect("set_status");
    from.save_registry("[v1]".into(), None, false, at(14), None)
        .await
        .expect("registry");
    from.save_registry(
        "[v2]".into(),
        Some(1),
        false,
        at(15),
        Some(audit_entry(15, "admin", "registry.save", "2")),
    )
    .await
    .expect("registry");
    for (n, id) in [(1u8, "tok_b"), (2, "tok_a")] {
        from.create_token(
            token(n, id, 20 + i64::from(n)),
            audit_entry(20, "admin", "token.create", id),
        )
        .await
        .expect("token");
    }
    for login in ["оператор", "admin"] {
        from.create_account(
            account(login, Role::Operator),
            audit_entry(30, "admin", "account.create", login),
        )
        .await
        .expect("account");
    }

    let report = crate::copy::copy(from, to, |_, _| {}).await.expect("copy");
    assert!(report.matches(), "{report:#?}");
    let counts: Vec<(&str, u64)> = report.to.iter().map(|p| (p.name, p.count)).collect();
    assert_eq!(
        counts,
        vec![
            ("registry", 2),
            ("messages", 7),
            // Accepted ×7, Answered, Delivered ×2, Acked, StatusChanged.
            ("journal", 12),
            ("notices", 1),
            ("tokens", 2),
            ("accounts", 2),
            ("audit", 5),
        ],
        "{report:#?}"
    );
    for section in Section::ALL {
        let (a, b) = (
            export_all(from, section).await,
            export_all(to, section).await,
        );
        assert_eq!(a.len(), b.len(), "{section:?}");
        if section != Section::Messages {
            assert_eq!(a, b, "{section:?}");
        }
    }
    // Messages: equal but for where attachment files live.
    let one_from = get(from, 1).await;
    let one_to = get(to, 1).await;
    assert_eq!(one_to.seq, one_from.seq);
    assert_eq!(one_to.message.sender_data, one_from.message.sender_data);
    let file_to = one_to
        .message
        .attachments
        .iter()
        .find(|a| a.content_id == "file")
        .expect("the file attachment");
    assert_eq!(file_to.data.to_vec().expect("read"), bytes);
    assert_eq!(journal(to, 2).await, journal(from, 2).await);
    assert_eq!(
        to.journal(&mid(3)).await.expect("journal"),
        from.journal(&mid(3)).await.expect("journal"),
        "node, actor and attempt kept"
    );
    assert_eq!(get(to, 3).await.state, DeliveryState::Leased);
    assert_eq!(depths(to, "R").await, depths(from, "R").await);
    assert_eq!(
        from.registry().await.expect("registry"),
        to.registry().await.expect("registry")
    );

    // The copy goes on working: the leased message is redelivered after its lease, the queued
    // ones are leased in order, new seqs follow the imported ones.
    let next = lease(to, poll("R", MessageKind::Request, at(100)))
        .await
        .expect("leased");
    assert_eq!(next.message.id, mid(3));
    assert_eq!(next.delivery_count, 2);
    let seq = put(to, request(8, "S", "R")).await;
    assert!(seq > get(to, 7).await.seq, "new seq {seq}");
    let audit_seq = to
        .append_audit(audit_entry(40, "admin", "x", "y"))
        .await
        .expect("append_audit");
    assert!(audit_seq > 5, "new audit seq {audit_seq}");
    let saved = to
        .save_registry("[v3]".into(), Some(2), false, at(41), None)
        .await
        .expect("registry");
    assert_eq!(saved.version, 3);

    // A second import of the same records is refused whole.
    let again = export_all(from, Section::Messages).await;
    match to.import(again).await {
        Err(StoreError::Exists(_)) => {}
        other => panic!("a second import: {other:?}"),
    }
    let tokens = export_all(from, Section::Tokens).await;
    assert!(matches!(
        to.import(tokens).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(export_all(to, Section::Tokens).await.len(), 2);
    // A target that is not empty is refused by `copy`.
    assert!(matches!(
        crate::copy::copy(from, to, |_, _| {}).await,
        Err(crate::copy::CopyError::TargetNotEmpty(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a future to completion on the current thread, parking it while the future waits.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Polls all futures concurrently in the current task; outputs in input order.
async fn join_all<'a, T>(mut futures: Vec<BoxFuture<'a, T>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(out) => *output = Some(out),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// The web cabinet's records

fn web_session(n: u8, login: &str, expires: i64) -> WebSession {
    WebSession {
        id_hash: [n; 32],
        login: login.to_owned(),
        csrf: format!("csrf-{n}"),
        created_at: at(0),
        last_seen: at(0),
        expires_at: at(expires),
    }
}

/// Sessions: created once, read back exactly, touched, ended one by one, by account, and by
/// expiry.
pub async fn web_sessions(store: &dyn Store) {
    let one = web_session(1, "оператор", 100);
    store.create_session(one.clone()).await.expect("create");
    assert!(matches!(
        store.create_session(web_session(1, "другой", 5)).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        store.session(&[1; 32]).await.expect("read"),
        Some(one.clone())
    );
    assert_eq!(store.session(&[9; 32]).await.expect("read"), None);
    assert!(
        store
            .touch_session(&[1; 32], at(50), at(150))
            .await
            .expect("touch")
    );
    assert!(
        !store
            .touch_session(&[9; 32], at(50), at(150))
            .await
            .expect("touch")
    );
    let touched = store.session(&[1; 32]).await.expect("read").expect("there");
    assert_eq!((touched.last_seen, touched.expires_at), (at(50), at(150)));
    assert_eq!(touched.created_at, at(0));

    store
        .create_session(web_session(2, "оператор", 10))
        .await
        .expect("create");
    store
        .create_session(web_session(3, "admin", 10))
        .await
        .expect("create");
    store
        .create_session(web_session(4, "admin", 1000))
        .await
        .expect("create");
    // Expired before 100: sessions 2 and 3 (10), not 1 (150) nor 4 (1000).
    assert_eq!(store.purge_sessions(at(100)).await.expect("purge"), 2);
    assert!(store.session(&[2; 32]).await.expect("read").is_none());
    assert!(store.session(&[1; 32]).await.expect("read").is_some());
    assert_eq!(
        store.delete_sessions_of("оператор").await.expect("delete"),
        1
    );
    assert!(store.session(&[1; 32]).await.expect("read").is_none());
    assert!(store.delete_session(&[4; 32]).await.expect("delete"));
    assert!(!store.delete_session(&[4; 32]).await.expect("delete"));
}

/// Failed logins: counted within the window, restarted after it, per login name, forgotten.
pub async fn login_failures(store: &dyn Store) {
    let window = Duration::seconds(60);
    assert_eq!(store.login_failures("x").await.expect("read"), None);
    let first = store
        .note_login_failure("x", at(0), window)
        .await
        .expect("note");
    assert_eq!(
        first,
        LoginFailures {
            count: 1,
            since: at(0)
        }
    );
    store
        .note_login_failure("x", at(30), window)
        .await
        .expect("note");
    let third = store
        .note_login_failure("x", at(60), window)
        .await
        .expect("note");
    assert_eq!(
        third,
        LoginFailures {
            count: 3,
            since: at(0)
        }
    );
    assert_eq!(store.login_failures("x").await.expect("read"), Some(third));
    // Another name is counted apart.
    let other = store
        .note_login_failure("y", at(60), window)
        .await
        .expect("note");
    assert_eq!(other.count, 1);
    // Past the window, the count starts again.
    let again = store
        .note_login_failure("x", at(61), window)
        .await
        .expect("note");
    assert_eq!(
        again,
        LoginFailures {
            count: 1,
            since: at(61)
        }
    );
    store.clear_login_failures("x").await.expect("clear");
    assert_eq!(store.login_failures("x").await.expect("read"), None);
    assert_eq!(
        store
            .login_failures("y")
            .await
            .expect("read")
            .map(|f| f.count),
        Some(1)
    );
    // Concurrent failures all count.
    let futures: Vec<BoxFuture<'_, LoginFailures>> = (0..8)
        .map(|_| {
            Box::pin(async move {
                store
                    .note_login_failure("z", at(100), window)
                    .await
                    .expect("note")
            }) as BoxFuture<'_, LoginFailures>
        })
        .collect();
    join_all(futures).await;
    assert_eq!(
        store
            .login_failures("z")
            .await
            .expect("read")
            .map(|f| f.count),
        Some(8)
    );
}

fn draft(id: &str, owner: &str, saved: i64) -> Draft {
    Draft {
        id: id.to_owned(),
        owner: owner.to_owned(),
        vs_id: "VS00001v001-PFR001".to_owned(),
        form: "request".to_owned(),
        request_id: None,
        title: format!("Черновик {id}"),
        values: r#"[["f.Root.Snils","112-233-445 95"]]"#.to_owned(),
        updated_at: at(saved),
    }
}

/// Drafts: saved, replaced by their owner only, listed newest first per owner, deleted by their
/// owner only.
pub async fn drafts(store: &dyn Store) {
    store
        .save_draft(draft("a", "anna", 10))
        .await
        .expect("save");
    store
        .save_draft(draft("b", "anna", 20))
        .await
        .expect("save");
    store
        .save_draft(draft("c", "boris", 30))
        .await
        .expect("save");
    assert_eq!(
        store.draft("a").await.expect("read"),
        Some(draft("a", "anna", 10))
    );
    let mut answer = draft("a", "anna", 40);
    answer.form = "response".to_owned();
    answer.request_id = Some(mid(7).to_string());
    answer.values = "[]".to_owned();
    store.save_draft(answer.clone()).await.expect("replace");
    assert_eq!(store.draft("a").await.expect("read"), Some(answer.clone()));
    // Someone else's id: refused, unchanged.
    assert!(matches!(
        store.save_draft(draft("a", "boris", 50)).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(store.draft("a").await.expect("read"), Some(answer));
    let ids = |list: Vec<Draft>| list.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(store.drafts("anna").await.expect("list")), ["a", "b"]);
    assert_eq!(ids(store.drafts("boris").await.expect("list")), ["c"]);
    assert!(!store.delete_draft("a", "boris").await.expect("delete"));
    assert!(store.delete_draft("a", "anna").await.expect("delete"));
    assert_eq!(store.draft("a").await.expect("read"), None);
    assert_eq!(ids(store.drafts("anna").await.expect("list")), ["b"]);
}

// ------------------------------------------------------------------------------------------------
// Settings and cases

fn settings_audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: at(0),
        actor: "admin".into(),
        action: action.into(),
        target: "cabinet/P".into(),
        detail: String::new(),
    }
}

/// Settings documents: versions from 1, the expected version checked, each save audited.
pub async fn settings_versions(store: &dyn Store) {
    assert_eq!(store.settings("cabinet/P").await.expect("read"), None);
    let first = store
        .save_settings(
            "cabinet/P",
            "a = 1".into(),
            Some(0),
            at(1),
            settings_audit("settings.save"),
        )
        .await
        .expect("first");
    assert_eq!((first.version, first.text.as_str()), (1, "a = 1"));
    assert!(matches!(
        store
            .save_settings(
                "cabinet/P",
                "a = 2".into(),
                Some(0),
                at(2),
                settings_audit("x")
            )
            .await,
        Err(StoreError::VersionConflict { current: 1, .. })
    ));
    let second = store
        .save_settings(
            "cabinet/P",
            "a = 3".into(),
            Some(1),
            at(3),
            settings_audit("settings.save"),
        )
        .await
        .expect("second");
    assert_eq!(second.version, 2);
    let third = store
        .save_settings(
            "cabinet/P",
            "a = 4".into(),
            None,
            at(4),
            settings_audit("settings.save"),
        )
        .await
        .expect("third, whatever the version");
    assert_eq!(third.version, 3);
    let now = store
        .settings("cabinet/P")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(
        (now.version, now.text.as_str(), now.saved_at),
        (3, "a = 4", at(4))
    );
    assert_eq!(store.settings("cabinet/Q").await.expect("read"), None);
    let saves = audit_all(store)
        .await
        .into_iter()
        .filter(|e| e.entry.action == "settings.save")
        .count();
    assert_eq!(saves, 3, "every save, and only saves, audited");
    // Once-keys: the first record wins, whoever asks again is told so.
    assert!(store.once("answer:1:anna", at(5)).await.expect("once"));
    assert!(!store.once("answer:1:anna", at(6)).await.expect("twice"));
    assert!(
        store
            .once("answer:1:boris", at(6))
            .await
            .expect("another key")
    );
    store.forget_once("answer:1:anna").await.expect("forget");
    assert!(
        store
            .once("answer:1:anna", at(8))
            .await
            .expect("again after forgetting")
    );
    let futures: Vec<BoxFuture<'_, bool>> = (0..8)
        .map(|_| {
            Box::pin(async move { store.once("race", at(7)).await.expect("once") })
                as BoxFuture<'_, bool>
        })
        .collect();
    assert_eq!(
        join_all(futures)
            .await
            .into_iter()
            .filter(|won| *won)
            .count(),
        1,
        "one winner"
    );
}

fn event(secs: i64, actor: &str, action: &str, detail: Option<&str>) -> CaseEvent {
    CaseEvent {
        at: at(secs),
        actor: actor.into(),
        action: action.into(),
        detail: detail.map(str::to_owned),
    }
}

/// Cases: opened once per request, listed by system/department/state/deadline, changed with
/// their events in order, closed once; the requests without a case are found after the newest
/// case.
pub async fn cases_lifecycle(store: &dyn Store) {
    let seqs: Vec<i64> = {
        let mut out = Vec::new();
        for n in 1..=4 {
            out.push(put(store, request(n, "C", "P")).await);
        }
        out
    };
    put(store, request(9, "C", "Q")).await;
    // Every request to P lacks a case, oldest first; Q's are not P's.
    let without = store
        .requests_without_case(&mn("P"), at(-100), 10)
        .await
        .expect("without");
    assert_eq!(
        without.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        (1..=4).map(mid).collect::<Vec<_>>()
    );
    let case_of = |n: u32, seq: i64, department: Option<&str>, due: Option<i64>| Case {
        request: mid(n),
        request_seq: seq,
        system: mn("P"),
        sender: mn("C"),
        vs_id: "VS1".into(),
        received_at: at(0),
        department: department.map(str::to_owned),
        due_at: due.map(at),
        closed_at: None,
        outcome: None,
    };
    assert!(
        store
            .open_case(
                case_of(1, seqs[0], Some("a"), Some(100)),
                event(1, "system", "assigned", Some("a"))
            )
            .await
            .expect("open")
    );
    assert!(
        store
            .open_case(
                case_of(2, seqs[1], Some("b"), Some(50)),
                event(1, "system", "assigned", Some("b"))
            )
            .await
            .expect("open")
    );
    assert!(
        !store
            .open_case(
                case_of(1, seqs[0], Some("b"), None),
                event(2, "system", "assigned", None)
            )
            .await
            .expect("again")
    );
    // After the newest case (request 2): requests 3 and 4.
    let without = store
        .requests_without_case(&mn("P"), at(-100), 10)
        .await
        .expect("without");
    assert_eq!(
        without.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        vec![mid(3), mid(4)]
    );
    assert!(
        store
            .open_case(
                case_of(3, seqs[2], None, None),
                event(1, "system", "assigned", None)
            )
            .await
            .expect("open")
    );

    let query = |department: Option<&str>, open: Option<bool>, due: Option<i64>| CaseQuery {
        system: mn("P"),
        department: department.map(str::to_owned),
        open,
        due_before: due.map(at),
        vs_id: None,
        before: None,
        limit: 10,
    };
    let ids = |cases: Vec<Case>| cases.into_iter().map(|c| c.request).collect::<Vec<_>>();
    assert_eq!(
        ids(store.cases(query(None, None, None)).await.expect("all")),
        vec![mid(3), mid(2), mid(1)]
    );
    assert_eq!(
        ids(store.cases(query(Some("a"), None, None)).await.expect("a")),
        vec![mid(1)]
    );
    assert_eq!(
        ids(store.cases(query(None, None, Some(60))).await.expect("due")),
        vec![mid(2)]
    );
    let mut paged = query(None, None, None);
    paged.before = Some(seqs[2]);
    paged.limit = 1;
    assert_eq!(ids(store.cases(paged).await.expect("page")), vec![mid(2)]);

    // Reassigned, then answered: both recorded, closed once.
    let moved = CaseChange {
        department: Some(Some("b".into())),
        close: None,
    };
    assert!(
        store
            .change_case(
                &mid(1),
                moved,
                event(10, "иванова", "reassigned", Some("a → b: отпуск"))
            )
            .await
            .expect("move")
    );
    let close = CaseChange {
        department: None,
        close: Some("answered".into()),
    };
    assert!(
        store
            .change_case(
                &mid(1),
                close.clone(),
                event(20, "петров", "answered", None)
            )
            .await
            .expect("close")
    );
    assert!(
        store
            .change_case(
                &mid(1),
                CaseChange {
                    close: Some("rejected".into()),
                    ..CaseChange::default()
                },
                event(30, "петров", "rejected", None)
            )
            .await
            .expect("again")
    );
    let (case, events) = store.case(&mid(1)).await.expect("read").expect("there");
    assert_eq!(case.department.as_deref(), Some("b"));
    assert_eq!(
        (case.closed_at, case.outcome.as_deref()),
        (Some(at(20)), Some("answered"))
    );
    assert_eq!(
        events
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("system", "assigned"),
            ("иванова", "reassigned"),
            ("петров", "answered"),
            ("петров", "rejected")
        ]
    );
    assert_eq!(events[1].detail.as_deref(), Some("a → b: отпуск"));
    assert!(
        !store
            .change_case(&mid(4), close, event(40, "x", "answered", None))
            .await
            .expect("no case")
    );
    assert_eq!(
        ids(store
            .cases(query(None, Some(true), None))
            .await
            .expect("open")),
        vec![mid(3), mid(2)]
    );
    assert_eq!(
        ids(store
            .cases(query(None, Some(false), None))
            .await
            .expect("closed")),
        vec![mid(1)]
    );
    assert_eq!(
        ids(store.cases(query(Some("b"), None, None)).await.expect("b")),
        vec![mid(2), mid(1)]
    );
    // Requests accepted before `since` are not offered.
    assert!(
        store
            .requests_without_case(&mn("P"), at(1000), 10)
            .await
            .expect("since")
            .is_empty()
    );
}
