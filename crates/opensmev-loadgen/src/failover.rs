//! `opensmev-load failover`: a load run over the integration API (`/api/v1`) spread over several
//! nodes of one bus, with a disruption in the middle (a shell command: kill a node, fail the
//! database over) and exact bookkeeping of every message, so that the run proves — or refutes —
//! that nothing the bus accepted was lost or handed over twice.
//!
//! The clients are information systems with API tokens of role `is` (the demo's consumer and
//! provider; the request is the demo kind's, as in `--rest --workload demo`):
//! * consumer `i` sends requests (`POST /requests`, with its own `MessageID` and a client id) to
//!   node `i % n`, one at a time. A message counts as ACCEPTED only on the `201` answer. On a
//!   connection error or a `5xx` the answer is uncertain: the consumer moves to the next node and
//!   sends the SAME message again; a duplicate answer there (`409` `SMEV-111`, or
//!   `api.client-id-used` naming the same message) means an earlier attempt was accepted, and it
//!   counts once. A refusal after an uncertain attempt says nothing about that attempt, so the
//!   same message is sent again until an answer settles it; one whose sends stayed unsettled
//!   until `send_retry_timeout` is a LOST ANSWER: it may or may not have been accepted, and may
//!   legally be delivered.
//! * provider `j` long-polls `POST /inbox/requests/next?wait=` on node `j % n` and acknowledges
//!   every delivery on the node it polls (`POST /messages/{id}/ack`); on a connection error it
//!   moves to the next node. Every delivery (id, `attempt`, node) and every acknowledgement is
//!   recorded; an ack answered `404 SMEV-115` (the message's lease ran out, it was redelivered
//!   and acknowledged by another) is counted apart, not as a failure.
//! * with `lost_deliveries` N (and a disruption, which is taken to kill the FIRST node), from
//!   one second before the disruption the next N deliveries the providers take from the first
//!   node are LOST WITH THE NODE: the provider that took one behaves as a client whose answer
//!   went down with the node — it never acknowledges that delivery anywhere — and then goes on
//!   as before (on the surviving node once the first is gone). Each such message must be
//!   delivered again, through another node, no earlier than the lease allows, and acknowledged
//!   once: the path of a lease held by a dead node, which a kill alone seldom catches.
//! * after `duration` the consumers stop sending; the providers go on until every accepted
//!   message (and every one lost with the node) is acknowledged and a poll finds nothing, or the
//!   drain timeout passes.
//!
//! The verdict ([`Verdict`], computed from the [`Ledger`] by the pure function `judge`) lists
//! every check; the run passes only when all hold. What a check means is in `judge`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::LoadError;
use crate::envelope::clip;
use crate::rest::{self, Inbox};
use crate::workload::{Expected, Scenario, Workload};

/// The first pause after a failed call; doubled on each failure in a row up to [`MAX_PAUSE`].
const MIN_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause between retries (short: a client back late would lengthen the measured
/// failover time).
const MAX_PAUSE: Duration = Duration::from_millis(250);
/// How many moves, errors and ids the text summary lists before it only counts.
const LIST_LIMIT: usize = 12;
/// How long before the disruption deliveries start being lost with the first node.
const LOSE_BEFORE: Duration = Duration::from_secs(1);
/// How much sooner than the lease a redelivery may come, as measured by the clients (the lease
/// starts on the server before the first delivery's answer arrives; clock granularity).
const LEASE_SLACK: Duration = Duration::from_millis(500);

/// A disruption: a shell command (`sh -c`) run once, this long after the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disruption {
    /// When, from the start of the run.
    pub at: Duration,
    /// The command.
    pub command: String,
}

/// A failover run.
#[derive(Debug, Clone)]
pub struct FailoverConfig {
    /// The nodes: `http://host:port` (or their `/api/v1`), at least two. The first is the one
    /// the disruption is taken to kill (see `lost_deliveries`).
    pub nodes: Vec<String>,
    /// The consumer system's API token (role `is`).
    pub consumer_token: String,
    /// The provider system's API token (role `is`).
    pub provider_token: String,
    /// Consumer clients (consumer `i` starts on node `i % n`).
    pub consumers: usize,
    /// Provider clients (provider `j` starts on node `j % n`).
    pub providers: usize,
    /// How long messages are sent.
    pub duration: Duration,
    /// The disruption, if any.
    pub disruption: Option<Disruption>,
    /// Deliveries taken from the first node from [`LOSE_BEFORE`] before the disruption and
    /// never acknowledged (lost with the node); 0: none. Needs a disruption.
    pub lost_deliveries: usize,
    /// The servers' lease (`lease_seconds`): for the report and the default drain timeout.
    pub lease: Duration,
    /// `?wait=` of every receive, seconds.
    pub wait_s: u64,
    /// After sending stopped, how long the providers may take to acknowledge everything.
    pub drain_timeout: Duration,
    /// How long one message's sends are retried while their answers stay uncertain.
    pub send_retry_timeout: Duration,
    /// Timeout of each call (a receive gets its `wait` on top).
    pub http_timeout: Duration,
    /// A progress line on stderr every second.
    pub progress: bool,
    /// The command line, for the report.
    pub command_line: String,
}

impl FailoverConfig {
    /// Defaults: 4 consumers, 4 providers, 20 s, no disruption, no lost deliveries, lease 300 s
    /// (the server's default), wait 5 s, drain timeout lease + 60 s, send retries for 60 s,
    /// calls 30 s.
    pub fn new(nodes: Vec<String>, consumer_token: String, provider_token: String) -> Self {
        let lease = Duration::from_secs(300);
        FailoverConfig {
            nodes,
            consumer_token,
            provider_token,
            consumers: 4,
            providers: 4,
            duration: Duration::from_secs(20),
            disruption: None,
            lost_deliveries: 0,
            lease,
            wait_s: 5,
            drain_timeout: lease + Duration::from_secs(60),
            send_retry_timeout: Duration::from_secs(60),
            http_timeout: Duration::from_secs(30),
            progress: true,
            command_line: String::new(),
        }
    }

    fn check(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Setup(m));
        if self.nodes.len() < 2 {
            return bad(format!(
                "failover needs at least two --node (got {})",
                self.nodes.len()
            ));
        }
        if self.consumers == 0 || self.providers == 0 {
            return bad("at least one consumer and one provider are needed".into());
        }
        if self.duration.is_zero() {
            return bad("--duration must be positive".into());
        }
        if self.consumer_token.is_empty() || self.provider_token.is_empty() {
            return bad("--consumer-token and --provider-token are needed".into());
        }
        if let Some(d) = &self.disruption {
            if d.at >= self.duration {
                return bad(format!(
                    "--at {:.1} s is not within --duration {:.1} s",
                    d.at.as_secs_f64(),
                    self.duration.as_secs_f64()
                ));
            }
            if d.command.trim().is_empty() {
                return bad("--run is empty".into());
            }
            // A delivery lost just before the disruption comes back after its lease: within
            // the drain, with a few seconds to spare for the polls.
            let back = d.at.saturating_sub(LOSE_BEFORE) + self.lease + Duration::from_secs(5);
            if self.lost_deliveries > 0 && back > self.duration + self.drain_timeout {
                return bad(format!(
                    "--drain-timeout {:.1} s is too short: deliveries lost at {:.1} s come back after the lease ({} s), at {:.1} s",
                    self.drain_timeout.as_secs_f64(),
                    d.at.saturating_sub(LOSE_BEFORE).as_secs_f64(),
                    self.lease.as_secs(),
                    back.as_secs_f64()
                ));
            }
        } else if self.lost_deliveries > 0 {
            return bad("--lost-deliveries needs a disruption (--at, --run)".into());
        }
        Ok(())
    }
}

/// `http://host:port` or `http://host:port/api/v1` → `http://host:port/api/v1`.
fn api_base(node: &str) -> String {
    let n = node.trim_end_matches('/');
    if n.ends_with("/api/v1") {
        n.to_owned()
    } else {
        format!("{n}/api/v1")
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger: what happened, recorded as it happened (times from the start of the run).

/// Who a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Client {
    Consumer(usize),
    Provider(usize),
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Client::Consumer(i) => write!(f, "consumer {i}"),
            Client::Provider(j) => write!(f, "provider {j}"),
        }
    }
}

/// How one message's sending ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SendOutcome {
    /// `201` for this `MessageID`.
    Accepted,
    /// A duplicate answer after an uncertain attempt: an earlier attempt was accepted.
    AcceptedOnRetry,
    /// Every answer was uncertain until the retry timeout: accepted or not, nobody knows.
    LostAnswer,
    /// Refused (a definite answer that is not an acceptance).
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SendRecord {
    id: String,
    consumer: usize,
    outcome: SendOutcome,
    /// When the final answer came.
    at: Duration,
    /// Calls made.
    attempts: u32,
    /// The node of the final answer.
    node: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DeliveryRecord {
    /// `None`: a delivery without a readable `message_id`.
    id: Option<String>,
    /// `attempt` as the API reports it.
    attempt: u32,
    node: usize,
    provider: usize,
    at: Duration,
    /// Why the delivery does not check out (kind, sender, content, ЭП-ОВ).
    problem: Option<String>,
    /// Lost with the node (`lost_deliveries`): never acknowledged.
    lost_with_node: bool,
}

/// How one acknowledgement ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AckOutcome {
    /// `204`.
    Acked,
    /// `404 SMEV-115` after an uncertain attempt: the earlier attempt acknowledged it.
    AckedOnRetry,
    /// `404 SMEV-115` at the first answer: the lease ran out and another delivery was acked.
    NotLeased,
    /// No certain answer until the drain deadline (or the send retry timeout).
    Abandoned,
    /// Refused otherwise.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AckRecord {
    id: String,
    node: usize,
    provider: usize,
    at: Duration,
    outcome: AckOutcome,
}

/// Why a client moved to the next node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MoveReason {
    /// The node did not answer (refused, reset, timed out).
    Connection,
    /// The node answered `5xx`.
    ServerError,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MoveRecord {
    client: Client,
    from: usize,
    to: usize,
    at: Duration,
    reason: MoveReason,
    detail: String,
}

/// The disruption as it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DisruptionRecord {
    command: String,
    started_at: Duration,
    finished_at: Duration,
    /// `None`: killed by a signal, or it could not be started (`output` says).
    exit_code: Option<i32>,
    output: String,
}

/// Everything the clients saw.
#[derive(Debug, Clone, Default)]
struct Ledger {
    sends: Vec<SendRecord>,
    deliveries: Vec<DeliveryRecord>,
    acks: Vec<AckRecord>,
    moves: Vec<MoveRecord>,
    /// Failed calls by kind (`send:connection`, `receive:HTTP 500 SMEV-500`, …).
    errors: BTreeMap<String, u64>,
    /// The first few failed calls, with their time.
    error_samples: Vec<String>,
}

impl Ledger {
    fn error(&mut self, at: Duration, kind: String, text: &str) {
        if self.error_samples.len() < 50 {
            self.error_samples.push(format!(
                "{:.3} s {kind}: {}",
                at.as_secs_f64(),
                clip(text, 300)
            ));
        }
        *self.errors.entry(kind).or_default() += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Answers and what they mean (pure).

/// An HTTP answer, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Reply {
        status: u16,
        /// The problem document's `code`.
        code: Option<String>,
        /// The problem document's `detail`.
        detail: String,
        body: String,
    },
    /// No (complete) answer: refused, reset, timed out.
    Transport(String),
}

impl Answer {
    /// A short name for error counts: `connection`, `HTTP 500 SMEV-500`.
    fn kind(&self) -> String {
        match self {
            Answer::Transport(_) => "connection".into(),
            Answer::Reply { status, code, .. } => match code {
                Some(c) => format!("HTTP {status} {c}"),
                None => format!("HTTP {status}"),
            },
        }
    }

    fn text(&self) -> String {
        match self {
            Answer::Transport(t) => t.clone(),
            Answer::Reply { detail, body, .. } if detail.is_empty() => clip(body, 300),
            Answer::Reply { detail, .. } => detail.clone(),
        }
    }
}

/// What a send's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SendStep {
    /// `201` for the message.
    Accepted,
    /// The `MessageID` (or its client id) was accepted before.
    Duplicate,
    /// Uncertain (no answer, `5xx`): the same message again on the next node.
    RetryElsewhere(MoveReason),
    /// Definitely not accepted, but worth another try here later (`429`: the queue is full).
    RetryHere,
    /// Refused.
    Refused(String),
}

fn classify_send(answer: &Answer, id: &str) -> SendStep {
    match answer {
        Answer::Transport(_) => SendStep::RetryElsewhere(MoveReason::Connection),
        Answer::Reply {
            status,
            code,
            detail,
            body,
        } => match (*status, code.as_deref()) {
            (201, _) => {
                let got = serde_json::from_str::<Value>(body).ok().and_then(|v| {
                    v.get("message_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                });
                if got.as_deref() == Some(id) {
                    SendStep::Accepted
                } else {
                    SendStep::Refused(format!("201 for message {got:?}, not {id}"))
                }
            }
            (409, Some("SMEV-111")) => SendStep::Duplicate,
            (409, Some("api.client-id-used")) if detail.contains(id) => SendStep::Duplicate,
            (429, _) => SendStep::RetryHere,
            (s, _) if s >= 500 => SendStep::RetryElsewhere(MoveReason::ServerError),
            _ => SendStep::Refused(format!("{}: {}", answer.kind(), clip(&answer.text(), 200))),
        },
    }
}

/// What an acknowledgement's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AckStep {
    Acked,
    /// `404 SMEV-115`: not (any more) a delivered, unacknowledged message.
    NotLeased,
    /// No answer: the node is gone; ack on the next one.
    Move,
    /// `5xx`: uncertain; again on the same node.
    Retry,
    Refused(String),
}

fn classify_ack(answer: &Answer) -> AckStep {
    match answer {
        Answer::Transport(_) => AckStep::Move,
        Answer::Reply { status, code, .. } => match (*status, code.as_deref()) {
            (204, _) => AckStep::Acked,
            (404, Some("SMEV-115")) => AckStep::NotLeased,
            (s, _) if s >= 500 => AckStep::Retry,
            _ => AckStep::Refused(format!("{}: {}", answer.kind(), clip(&answer.text(), 200))),
        },
    }
}

/// What a receive's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReceiveStep {
    Delivery,
    Empty,
    /// No answer: the node is gone.
    Move,
    /// `5xx` or another status: pause and poll again.
    Retry,
}

fn classify_receive(answer: &Answer) -> ReceiveStep {
    match answer {
        Answer::Transport(_) => ReceiveStep::Move,
        Answer::Reply { status: 200, .. } => ReceiveStep::Delivery,
        Answer::Reply { status: 204, .. } => ReceiveStep::Empty,
        Answer::Reply { .. } => ReceiveStep::Retry,
    }
}

/// What a consumer does after an answer to one of a message's sends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SendNext {
    /// Settled.
    Done(SendOutcome),
    /// The same message again: on the next node (`Some`: the answer was uncertain), or here.
    Again(Option<MoveReason>),
}

/// The decision after a send's answer; `uncertain` (an earlier attempt of this message had no
/// certain answer) is updated.
fn next_after_send(step: SendStep, uncertain: &mut bool) -> SendNext {
    match step {
        SendStep::Accepted => SendNext::Done(SendOutcome::Accepted),
        SendStep::Duplicate if *uncertain => SendNext::Done(SendOutcome::AcceptedOnRetry),
        SendStep::Duplicate => SendNext::Done(SendOutcome::Refused(
            "a duplicate answer with no earlier attempt".into(),
        )),
        // A refusal after an uncertain attempt says nothing about that attempt: the same
        // message again, until an answer tells (201, or a duplicate) or the time is up.
        SendStep::Refused(_) if *uncertain => SendNext::Again(None),
        SendStep::Refused(why) => SendNext::Done(SendOutcome::Refused(why)),
        SendStep::RetryHere => SendNext::Again(None),
        SendStep::RetryElsewhere(reason) => {
            *uncertain = true;
            SendNext::Again(Some(reason))
        }
    }
}

/// How a message's sending ends when its time is up.
fn send_timed_out(uncertain: bool, last: &str) -> SendOutcome {
    if uncertain {
        SendOutcome::LostAnswer
    } else {
        SendOutcome::Refused(format!("not accepted in time: {last}"))
    }
}

/// What a provider does after an answer to one of an acknowledgement's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AckNext {
    Done(AckOutcome),
    /// Again: on the next node (`true`: this one is gone), or here.
    Again(bool),
}

/// The decision after an ack's answer; `uncertain` is updated.
fn next_after_ack(step: AckStep, uncertain: &mut bool) -> AckNext {
    match step {
        AckStep::Acked => AckNext::Done(AckOutcome::Acked),
        AckStep::NotLeased if *uncertain => AckNext::Done(AckOutcome::AckedOnRetry),
        AckStep::NotLeased => AckNext::Done(AckOutcome::NotLeased),
        // After an uncertain attempt only 204 or SMEV-115 tell what became of it.
        AckStep::Refused(_) if *uncertain => AckNext::Again(false),
        AckStep::Refused(why) => AckNext::Done(AckOutcome::Refused(why)),
        AckStep::Move => {
            *uncertain = true;
            AckNext::Again(true)
        }
        AckStep::Retry => {
            *uncertain = true;
            AckNext::Again(false)
        }
    }
}

/// A delivery's id and attempt, and what is wrong with it (checked as `--rest` checks: kind,
/// sender, business content, the sender's ЭП-ОВ valid and registered; and the content sent).
fn read_delivery(
    body: &str,
    peer: &str,
    expected: &Expected,
) -> (Option<String>, u32, Option<String>) {
    let value: Option<Value> = serde_json::from_str(body).ok();
    let id = value
        .as_ref()
        .and_then(|v| v.get("message_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let attempt = value
        .as_ref()
        .and_then(|v| v.get("attempt"))
        .and_then(Value::as_u64)
        .map_or(0, |a| a.min(u64::from(u32::MAX)) as u32);
    let problem = match rest::delivered(body, Inbox::Requests, peer) {
        Err(f) => Some(format!("{}: {}", f.kind, clip(&f.text, 300))),
        Ok(d) if d.content != *expected => Some(format!(
            "content {{{}}}{} «{}», expected {{{}}}{} «{}»",
            d.content.ns,
            d.content.local,
            clip(&d.content.text, 80),
            expected.ns,
            expected.local,
            clip(&expected.text, 80)
        )),
        Ok(_) if attempt == 0 => Some("no attempt in the delivery".into()),
        Ok(_) => None,
    };
    (id, attempt, problem)
}

// ---------------------------------------------------------------------------------------------
// The verdict (pure).

/// One check of the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What must hold.
    pub name: &'static str,
    /// Whether it did.
    pub passed: bool,
    /// The evidence (counts, the first offending ids).
    pub detail: String,
}

/// The longest stretch without a success.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Gap {
    from: Duration,
    to: Duration,
}

impl Gap {
    fn length(self) -> Duration {
        self.to.saturating_sub(self.from)
    }

    fn json(self) -> Value {
        json!({
            "seconds": secs(self.length()),
            "from_s": secs(self.from),
            "to_s": secs(self.to),
        })
    }
}

/// The intervals between consecutive `times` within `[from, to]`, and from the last of them
/// to `to` (so a stall that lasts until the end counts; the time before the first event is
/// start-up, not a stall). No events: the whole window.
fn gaps(times: &[Duration], from: Duration, to: Duration) -> Vec<Gap> {
    let mut points: Vec<Duration> = times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= to)
        .collect();
    if points.is_empty() {
        points.push(from);
    }
    points.push(to);
    points.sort();
    points
        .windows(2)
        .map(|w| Gap {
            from: w[0],
            to: w[1],
        })
        .collect()
}

/// The longest interval between consecutive `times` within `[from, to]` (see [`gaps`]).
fn longest_gap(times: &[Duration], from: Duration, to: Duration) -> Gap {
    gaps(times, from, to)
        .into_iter()
        .max_by_key(|g| g.length())
        .unwrap_or_default()
}

/// The longest interval without events that overlaps `[start, end]` (the disruption's run):
/// the outage the disruption caused, whatever other stalls the run had.
fn outage(times: &[Duration], window: Duration, start: Duration, end: Duration) -> Gap {
    gaps(times, Duration::ZERO, window)
        .into_iter()
        .filter(|g| g.to >= start && g.from <= end)
        .max_by_key(|g| g.length())
        .unwrap_or_default()
}

/// Events per second within `[from, to)`.
fn rate(times: &[Duration], from: Duration, to: Duration) -> f64 {
    let span = to.saturating_sub(from).as_secs_f64();
    if span <= 0.0 {
        return 0.0;
    }
    times.iter().filter(|t| **t >= from && **t < to).count() as f64 / span
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts {
    /// Messages the consumers tried to send.
    sent: usize,
    accepted: usize,
    /// Of `accepted`: known by a duplicate answer after an uncertain attempt.
    accepted_on_retry: usize,
    lost_answers: usize,
    refused: usize,
    /// Delivery events.
    deliveries: usize,
    /// Distinct ids delivered.
    delivered: usize,
    /// Ids delivered with `attempt > 1`.
    redelivered: usize,
    /// Distinct ids acknowledged (`204`, or `SMEV-115` after an uncertain ack).
    acked: usize,
    /// `204` answers.
    acks_204: usize,
    /// Ids with more than one `204`.
    duplicate_acks: usize,
    /// `SMEV-115` at the first answer.
    acks_not_leased: usize,
    acks_abandoned: usize,
    acks_refused: usize,
    bad_deliveries: usize,
    /// Deliveries lost with the node (`lost_deliveries`).
    lost_with_node: usize,
    moves: usize,
    errors: u64,
}

/// Rates before and after the disruption.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rates {
    before_accepted: f64,
    before_acked: f64,
    after_accepted: f64,
    after_acked: f64,
    /// After the longest gap ended (when it ended after the disruption started).
    recovered_accepted: f64,
    recovered_acked: f64,
    overall_accepted: f64,
    overall_acked: f64,
}

/// The result of a run: checks, counts, rates and the failover time.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    checks: Vec<Check>,
    counts: Counts,
    /// Ids with `attempt > 1`, with their highest attempt.
    redelivered: BTreeMap<String, u32>,
    lost_answers: Vec<String>,
    accepted_ids: Vec<String>,
    /// The longest stretch with no successful send or receive (the failover time).
    gap: Gap,
    /// The longest such stretch overlapping the disruption's run (the outage it caused).
    disruption_gap: Option<Gap>,
    /// The longest stretch one consumer had no send accepted, and who.
    consumer_gap: (Gap, usize),
    rates: Rates,
    /// The deliveries lost with the node and what became of them.
    lost: LostWithNode,
}

impl Verdict {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The checks.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }
}

/// The first ids of a set, for a check's detail.
fn some_ids<'a>(ids: impl IntoIterator<Item = &'a String>) -> String {
    let all: Vec<&String> = ids.into_iter().collect();
    let shown: Vec<&str> = all.iter().take(5).map(|s| s.as_str()).collect();
    let more = all.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn check(name: &'static str, passed: bool, detail: String) -> Check {
    Check {
        name,
        passed,
        detail,
    }
}

/// A check that passes when there are no `offenders`: its detail is then `ok()`, else their
/// number, `what` (if any) and the first of them.
fn none_of<'a>(
    name: &'static str,
    offenders: impl IntoIterator<Item = &'a String>,
    what: &str,
    ok: impl FnOnce() -> String,
) -> Check {
    let offenders: Vec<&String> = offenders.into_iter().collect();
    let passed = offenders.is_empty();
    let detail = match (offenders.len(), what) {
        (0, _) => ok(),
        (n, "") => format!("{n}: {}", some_ids(offenders)),
        (n, what) => format!("{n} {what}: {}", some_ids(offenders)),
    };
    check(name, passed, detail)
}

/// The verdict on a ledger: `window` is how long messages were sent; `expected` the disruption
/// that was asked for (its record `disruption` when it ran).
fn judge(
    ledger: &Ledger,
    expected: Option<&Disruption>,
    disruption: Option<&DisruptionRecord>,
    window: Duration,
) -> Verdict {
    let mut v = Verdict::default();
    let c = &mut v.counts;

    // Sends.
    let mut accepted: BTreeSet<&String> = BTreeSet::new();
    let mut lost: BTreeSet<&String> = BTreeSet::new();
    let mut refused: Vec<String> = Vec::new();
    for s in &ledger.sends {
        c.sent += 1;
        match &s.outcome {
            SendOutcome::Accepted => {
                accepted.insert(&s.id);
            }
            SendOutcome::AcceptedOnRetry => {
                accepted.insert(&s.id);
                c.accepted_on_retry += 1;
            }
            SendOutcome::LostAnswer => {
                lost.insert(&s.id);
            }
            SendOutcome::Refused(why) => refused.push(format!("{}: {why}", s.id)),
        }
    }
    c.accepted = accepted.len();
    c.lost_answers = lost.len();
    c.refused = refused.len();

    // Deliveries.
    let mut delivered: BTreeSet<&String> = BTreeSet::new();
    let mut attempts_seen: HashMap<(&String, u32), usize> = HashMap::new();
    let mut bad: Vec<String> = Vec::new();
    for d in &ledger.deliveries {
        c.deliveries += 1;
        if let Some(problem) = &d.problem {
            bad.push(format!(
                "{}: {problem}",
                d.id.as_deref().unwrap_or("(no message_id)")
            ));
        }
        let Some(id) = &d.id else { continue };
        delivered.insert(id);
        *attempts_seen.entry((id, d.attempt)).or_default() += 1;
        if d.attempt > 1 {
            let a = v.redelivered.entry(id.clone()).or_default();
            *a = (*a).max(d.attempt);
        }
    }
    c.delivered = delivered.len();
    c.redelivered = v.redelivered.len();
    c.bad_deliveries = bad.len();

    // Acknowledgements.
    let mut acked: BTreeSet<&String> = BTreeSet::new();
    let mut ok_acks: HashMap<&String, usize> = HashMap::new();
    let mut ack_problems: Vec<String> = Vec::new();
    for a in &ledger.acks {
        match &a.outcome {
            AckOutcome::Acked => {
                c.acks_204 += 1;
                *ok_acks.entry(&a.id).or_default() += 1;
                acked.insert(&a.id);
            }
            AckOutcome::AckedOnRetry => {
                acked.insert(&a.id);
            }
            AckOutcome::NotLeased => c.acks_not_leased += 1,
            AckOutcome::Abandoned => {
                c.acks_abandoned += 1;
                ack_problems.push(format!("{}: abandoned (no certain answer)", a.id));
            }
            AckOutcome::Refused(why) => {
                c.acks_refused += 1;
                ack_problems.push(format!("{}: {why}", a.id));
            }
        }
    }
    c.acked = acked.len();
    let twice: BTreeSet<&String> = ok_acks
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    c.duplicate_acks = twice.len();
    c.moves = ledger.moves.len();
    c.errors = ledger.errors.values().sum();

    // The checks.
    let undelivered: Vec<&String> = accepted.difference(&delivered).copied().collect();
    v.checks.push(none_of(
        "every accepted message was delivered",
        undelivered,
        &format!("of {} never delivered", accepted.len()),
        || format!("{} accepted, all delivered", accepted.len()),
    ));
    let unacked: Vec<&String> = accepted.difference(&acked).copied().collect();
    v.checks.push(none_of(
        "every accepted message was acknowledged",
        unacked,
        &format!("of {} not acknowledged", accepted.len()),
        || format!("{} accepted, all acknowledged", accepted.len()),
    ));
    v.checks.push(none_of(
        "no message was acknowledged (204) twice",
        twice.iter().copied(),
        "messages acknowledged more than once",
        || {
            format!(
                "{} acknowledgements, {} messages",
                c.acks_204,
                ok_acks.len()
            )
        },
    ));
    let foreign: Vec<&String> = delivered
        .iter()
        .filter(|id| !accepted.contains(*id) && !lost.contains(*id))
        .copied()
        .collect();
    let lost_delivered = delivered.iter().filter(|id| lost.contains(*id)).count();
    v.checks.push(none_of(
        "nothing was delivered that was not accepted (or whose answer was lost)",
        foreign,
        "delivered that were never accepted",
        || {
            format!(
                "{} delivered: {} accepted, {lost_delivered} with a lost answer",
                delivered.len(),
                delivered.len() - lost_delivered
            )
        },
    ));
    let mut double: Vec<String> = attempts_seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|((id, attempt), n)| format!("{id} attempt {attempt} ×{n}"))
        .collect();
    double.sort();
    v.checks.push(none_of(
        "no message was handed out twice under one attempt (two live leases)",
        &double,
        "",
        || format!("{} deliveries", c.deliveries),
    ));
    v.checks.push(none_of(
        "every delivery checked out (kind, sender, content, ЭП-ОВ)",
        &bad,
        "bad",
        || format!("{} deliveries", c.deliveries),
    ));
    v.checks
        .push(none_of("no send was refused", &refused, "refused", || {
            format!("{} messages sent", c.sent)
        }));
    v.checks.push(none_of(
        "no acknowledgement was refused or abandoned (SMEV-115 after a redelivery aside)",
        &ack_problems,
        "",
        || format!("{} not leased any more (counted apart)", c.acks_not_leased),
    ));

    // Providers that lost their node after the disruption received on another one.
    let since = disruption.map(|d| d.started_at).unwrap_or_default();
    let mut first_move: BTreeMap<usize, &MoveRecord> = BTreeMap::new();
    for m in &ledger.moves {
        if let Client::Provider(p) = m.client
            && m.reason == MoveReason::Connection
            && m.at >= since
        {
            first_move.entry(p).or_insert(m);
        }
    }
    let stranded: Vec<String> = first_move
        .iter()
        .filter(|(p, m)| {
            !ledger
                .deliveries
                .iter()
                .any(|d| d.provider == **p && d.node != m.from && d.at >= m.at)
        })
        .map(|(p, m)| format!("provider {p} (left node {} at {:.2} s)", m.from, secs(m.at)))
        .collect();
    v.checks.push(check(
        "every provider that lost its node received messages on another node",
        stranded.is_empty(),
        if first_move.is_empty() {
            "no provider lost its node".into()
        } else if stranded.is_empty() {
            format!(
                "{} providers moved, each received on its new node",
                first_move.len()
            )
        } else {
            format!("received nothing after moving: {}", stranded.join(", "))
        },
    ));

    if let Some(asked) = expected {
        let (passed, detail) = match disruption {
            None => (false, format!("`{}` did not run", asked.command)),
            Some(d) => (
                d.exit_code == Some(0),
                format!(
                    "`{}` ran {:.2}–{:.2} s, exit {}",
                    d.command,
                    secs(d.started_at),
                    secs(d.finished_at),
                    d.exit_code
                        .map_or_else(|| "none (signal, or not started)".into(), |c| c.to_string())
                ),
            ),
        };
        v.checks
            .push(check("the disruption ran and exited 0", passed, detail));
    }

    // Failover time and rates.
    let accepted_times: Vec<Duration> = ledger
        .sends
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                SendOutcome::Accepted | SendOutcome::AcceptedOnRetry
            )
        })
        .map(|s| s.at)
        .collect();
    let delivery_times: Vec<Duration> = ledger.deliveries.iter().map(|d| d.at).collect();
    let acked_times: Vec<Duration> = ledger
        .acks
        .iter()
        .filter(|a| a.outcome == AckOutcome::Acked)
        .map(|a| a.at)
        .collect();
    let mut progress = accepted_times.clone();
    progress.extend(&delivery_times);
    v.gap = longest_gap(&progress, Duration::ZERO, window);
    v.disruption_gap = disruption.map(|d| outage(&progress, window, d.started_at, d.finished_at));
    let consumers: BTreeSet<usize> = ledger.sends.iter().map(|s| s.consumer).collect();
    for consumer in consumers {
        let times: Vec<Duration> = ledger
            .sends
            .iter()
            .filter(|s| {
                s.consumer == consumer
                    && matches!(
                        s.outcome,
                        SendOutcome::Accepted | SendOutcome::AcceptedOnRetry
                    )
            })
            .map(|s| s.at)
            .collect();
        let gap = longest_gap(&times, Duration::ZERO, window);
        if gap.length() > v.consumer_gap.0.length() {
            v.consumer_gap = (gap, consumer);
        }
    }
    let at = disruption
        .map(|d| d.started_at)
        .or(expected.map(|d| d.at))
        .unwrap_or(window)
        .min(window);
    let recovered = if v.gap.to > at { v.gap.to } else { at };
    v.rates = Rates {
        before_accepted: rate(&accepted_times, Duration::ZERO, at),
        before_acked: rate(&acked_times, Duration::ZERO, at),
        after_accepted: rate(&accepted_times, at, window),
        after_acked: rate(&acked_times, at, window),
        recovered_accepted: rate(&accepted_times, recovered, window),
        recovered_acked: rate(&acked_times, recovered, window),
        overall_accepted: rate(&accepted_times, Duration::ZERO, window),
        overall_acked: rate(&acked_times, Duration::ZERO, window),
    };
    v.lost_answers = lost.iter().map(|s| (*s).clone()).collect();
    v.accepted_ids = accepted.iter().map(|s| (*s).clone()).collect();
    v
}

/// The delivery of a message after the one lost with the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Redelivery {
    at: Duration,
    node: usize,
    attempt: u32,
    provider: usize,
}

/// A delivery lost with the node (never acknowledged by its provider) and what became of its
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LostDelivery {
    id: String,
    provider: usize,
    node: usize,
    attempt: u32,
    at: Duration,
    /// The first later delivery of the message with a higher attempt.
    redelivery: Option<Redelivery>,
    /// `204` answers for the message.
    acks_204: usize,
    /// Acknowledged (`204`, or `SMEV-115` after an uncertain ack).
    acked: bool,
}

impl LostDelivery {
    /// From the lost delivery to the next one, as the clients saw them.
    fn delay(&self) -> Option<Duration> {
        self.redelivery.map(|r| r.at.saturating_sub(self.at))
    }

    /// What went wrong (`None`: delivered again through another node no sooner than the lease
    /// allows, and acknowledged exactly once).
    fn problem(&self, lease: Duration) -> Option<String> {
        let mut wrong: Vec<String> = Vec::new();
        match (self.redelivery, self.delay()) {
            (Some(r), Some(delay)) => {
                if r.node == self.node {
                    wrong.push(format!(
                        "delivered again through the same node {} (attempt {})",
                        r.node, r.attempt
                    ));
                }
                if delay + LEASE_SLACK < lease {
                    wrong.push(format!(
                        "delivered again {:.3} s later, before its lease of {} s ran out",
                        delay.as_secs_f64(),
                        lease.as_secs()
                    ));
                }
            }
            _ => wrong.push("never delivered again".into()),
        }
        if !self.acked {
            wrong.push("not acknowledged".into());
        }
        if self.acks_204 > 1 {
            wrong.push(format!("acknowledged (204) {} times", self.acks_204));
        }
        (!wrong.is_empty()).then(|| format!("{}: {}", self.id, wrong.join(", ")))
    }
}

/// The deliveries lost with the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LostWithNode {
    /// How many were asked for (`lost_deliveries`).
    requested: usize,
    /// In the order they were taken.
    deliveries: Vec<LostDelivery>,
    /// The shortest and longest time to the next delivery.
    delay: Option<(Duration, Duration)>,
}

impl LostWithNode {
    fn ids(&self) -> Vec<String> {
        self.deliveries.iter().map(|d| d.id.clone()).collect()
    }
}

/// The deliveries of the ledger lost with the node, each with its message's next delivery
/// (the earliest one with a higher attempt) and acknowledgements.
fn lost_with_node(ledger: &Ledger, requested: usize) -> LostWithNode {
    let mut deliveries: Vec<LostDelivery> = ledger
        .deliveries
        .iter()
        .filter(|d| d.lost_with_node)
        .filter_map(|lost| {
            let id = lost.id.as_ref()?;
            let redelivery = ledger
                .deliveries
                .iter()
                .filter(|d| d.id.as_ref() == Some(id) && d.attempt > lost.attempt)
                .min_by_key(|d| d.at)
                .map(|d| Redelivery {
                    at: d.at,
                    node: d.node,
                    attempt: d.attempt,
                    provider: d.provider,
                });
            let mut acks_204 = 0;
            let mut acked = false;
            for a in ledger.acks.iter().filter(|a| &a.id == id) {
                match a.outcome {
                    AckOutcome::Acked => {
                        acks_204 += 1;
                        acked = true;
                    }
                    AckOutcome::AckedOnRetry => acked = true,
                    _ => {}
                }
            }
            Some(LostDelivery {
                id: id.clone(),
                provider: lost.provider,
                node: lost.node,
                attempt: lost.attempt,
                at: lost.at,
                redelivery,
                acks_204,
                acked,
            })
        })
        .collect();
    deliveries.sort_by_key(|d| d.at);
    let delays: Vec<Duration> = deliveries.iter().filter_map(LostDelivery::delay).collect();
    let delay = delays
        .iter()
        .min()
        .copied()
        .zip(delays.iter().max().copied());
    LostWithNode {
        requested,
        deliveries,
        delay,
    }
}

/// Adds the deliveries lost with the node to a verdict, with their check when any were asked
/// for (or taken): each message delivered again through another node no sooner than `lease`
/// after the lost delivery (less [`LEASE_SLACK`]), and acknowledged exactly once; and at least
/// one was taken.
fn judge_lost(v: &mut Verdict, ledger: &Ledger, lease: Duration, requested: usize) {
    let lost = lost_with_node(ledger, requested);
    v.counts.lost_with_node = lost.deliveries.len();
    if requested > 0 || !lost.deliveries.is_empty() {
        let problems: Vec<String> = lost
            .deliveries
            .iter()
            .filter_map(|d| d.problem(lease))
            .collect();
        let taken = lost.deliveries.len();
        let (passed, detail) = if taken == 0 {
            (
                false,
                format!(
                    "none of {requested} taken: no delivery came from the first node between {} s before the disruption and its end",
                    LOSE_BEFORE.as_secs()
                ),
            )
        } else if !problems.is_empty() {
            (
                false,
                format!(
                    "{} of {taken}: {}",
                    problems.len(),
                    some_ids(problems.iter())
                ),
            )
        } else {
            let (min, max) = lost.delay.unwrap_or_default();
            (
                true,
                format!(
                    "{taken} of {requested} taken; each delivered again through another node {:.3}–{:.3} s later (lease {} s) and acknowledged once",
                    min.as_secs_f64(),
                    max.as_secs_f64(),
                    lease.as_secs()
                ),
            )
        };
        v.checks.push(check(
            "every delivery lost with the node was delivered again through another node after its lease and acknowledged once",
            passed,
            detail,
        ));
    }
    v.lost = lost;
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------------
// The run.

/// What the run's clients share.
#[derive(Debug)]
struct Run {
    start: Instant,
    /// `…/api/v1` of each node.
    nodes: Vec<String>,
    http: reqwest::Client,
    consumer_auth: String,
    provider_auth: String,
    /// The consumer system (the sender every delivery must come from).
    peer: String,
    business: String,
    expected: Expected,
    /// `{ns}local` of the request (`?type=`).
    message_type: String,
    wait_s: u64,
    http_timeout: Duration,
    send_end: Instant,
    send_retry_timeout: Duration,
    live: Mutex<Live>,
    /// Every consumer has stopped.
    sending_done: AtomicBool,
    /// Sending is done and every accepted message is acknowledged.
    drained: AtomicBool,
    /// Set when sending is done.
    drain_deadline: Mutex<Option<Instant>>,
    /// From when deliveries from the first node are lost with it (`None`: never).
    lose_from: Option<Instant>,
    /// How many more deliveries are to be lost with the first node.
    lost_left: AtomicUsize,
}

#[derive(Debug, Default)]
struct Live {
    ledger: Ledger,
    accepted: HashSet<String>,
    acked: HashSet<String>,
    /// Messages whose delivery was lost with the node.
    lost: HashSet<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Run {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn next(&self, node: usize) -> usize {
        (node + 1) % self.nodes.len()
    }

    fn error(&self, what: &str, answer: &Answer) {
        let at = self.now();
        lock(&self.live)
            .ledger
            .error(at, format!("{what}:{}", answer.kind()), &answer.text());
    }

    fn moved(&self, client: Client, from: usize, to: usize, reason: MoveReason, answer: &Answer) {
        let at = self.now();
        lock(&self.live).ledger.moves.push(MoveRecord {
            client,
            from,
            to,
            at,
            reason,
            detail: clip(&format!("{}: {}", answer.kind(), answer.text()), 300),
        });
    }

    fn deadline_passed(&self) -> bool {
        lock(&self.drain_deadline).is_some_and(|d| Instant::now() >= d)
    }

    /// Whether a delivery just taken from `node` is to be lost with it (and counts it).
    fn take_lost(&self, node: usize) -> bool {
        node == 0
            && self.lose_from.is_some_and(|t| Instant::now() >= t)
            && self
                .lost_left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
    }

    /// Sending is over and every accepted message, and every one lost with the node, is
    /// acknowledged (stays true once true).
    fn drained(&self) -> bool {
        if self.drained.load(Ordering::Acquire) {
            return true;
        }
        if !self.sending_done.load(Ordering::Acquire) {
            return false;
        }
        let live = lock(&self.live);
        let done = live
            .accepted
            .iter()
            .chain(&live.lost)
            .all(|id| live.acked.contains(id));
        drop(live);
        if done {
            self.drained.store(true, Ordering::Release);
        }
        done
    }

    fn receive_url(&self, node: usize, wait: u64) -> String {
        let mut url =
            match reqwest::Url::parse(&format!("{}/inbox/requests/next", self.nodes[node])) {
                Ok(u) => u,
                Err(_) => return format!("{}/inbox/requests/next", self.nodes[node]),
            };
        url.query_pairs_mut()
            .append_pair("type", &self.message_type);
        if wait > 0 {
            url.query_pairs_mut().append_pair("wait", &wait.to_string());
        }
        url.into()
    }
}

/// The message and its source chain of a transport error.
fn transport_text(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        format!("timeout: {e}")
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    clip(&text, 400)
}

/// `POST url` with the token (and a JSON body).
async fn post(
    http: &reqwest::Client,
    url: &str,
    authorization: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Answer {
    let mut request = http
        .post(url)
        .header("Authorization", authorization)
        .timeout(timeout);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_owned());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Answer::Transport(transport_text(&e)),
    };
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/problem+json"));
    let body = match response.text().await {
        Ok(b) => b,
        Err(e) => return Answer::Transport(transport_text(&e)),
    };
    let (code, detail) = if problem {
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let field = |f: &str| v.get(f).and_then(Value::as_str).map(str::to_owned);
        (field("code"), field("detail").unwrap_or_default())
    } else {
        (None, String::new())
    };
    Answer::Reply {
        status,
        code,
        detail,
        body,
    }
}

/// Sends one message until it is accepted, refused, or its answers stayed uncertain too long.
async fn send_one(run: &Run, consumer: usize, id: &str, node: &mut usize) -> SendRecord {
    let body = json!({
        "business_xml": run.business,
        "message_id": id,
        "client_id": format!("failover-{id}"),
        "test_message": true,
    })
    .to_string();
    let deadline = Instant::now() + run.send_retry_timeout;
    let mut uncertain = false;
    let mut attempts = 0u32;
    let mut failures = 0usize;
    let mut pause = MIN_PAUSE;
    loop {
        attempts += 1;
        let url = format!("{}/requests", run.nodes[*node]);
        let answer = post(
            &run.http,
            &url,
            &run.consumer_auth,
            Some(&body),
            run.http_timeout,
        )
        .await;
        let mut moved = false;
        let outcome = match next_after_send(classify_send(&answer, id), &mut uncertain) {
            SendNext::Done(outcome) => Some(outcome),
            SendNext::Again(None) => {
                run.error("send", &answer);
                None
            }
            SendNext::Again(Some(reason)) => {
                moved = true;
                run.error("send", &answer);
                let to = run.next(*node);
                run.moved(Client::Consumer(consumer), *node, to, reason, &answer);
                *node = to;
                None
            }
        };
        let outcome = match outcome {
            Some(o) => Some(o),
            None if Instant::now() >= deadline => Some(send_timed_out(uncertain, &answer.kind())),
            None => None,
        };
        if let Some(outcome) = outcome {
            return SendRecord {
                id: id.to_owned(),
                consumer,
                outcome,
                at: run.now(),
                attempts,
                node: *node,
            };
        }
        // Straight to the next node; a pause once every node failed in a row, and before
        // asking the same node again.
        failures += 1;
        if failures.is_multiple_of(run.nodes.len()) || !moved {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

async fn consumer(run: Arc<Run>, index: usize) {
    let mut node = index % run.nodes.len();
    while Instant::now() < run.send_end {
        let id = opensmev_client::new_message_id();
        let record = send_one(&run, index, &id, &mut node).await;
        let mut live = lock(&run.live);
        if matches!(
            record.outcome,
            SendOutcome::Accepted | SendOutcome::AcceptedOnRetry
        ) {
            live.accepted.insert(record.id.clone());
        }
        live.ledger.sends.push(record);
    }
}

/// Acknowledges `id` on the provider's node (moving on when the node is gone) until a certain
/// answer, the drain deadline or the send retry timeout.
async fn acknowledge(run: &Run, provider: usize, node: &mut usize, id: &str) -> AckRecord {
    let give_up = Instant::now() + run.send_retry_timeout;
    let mut uncertain = false;
    let mut failures = 0usize;
    let mut pause = MIN_PAUSE;
    loop {
        let url = format!("{}/messages/{id}/ack", run.nodes[*node]);
        let answer = post(&run.http, &url, &run.provider_auth, None, run.http_timeout).await;
        let outcome = match next_after_ack(classify_ack(&answer), &mut uncertain) {
            AckNext::Done(outcome) => Some(outcome),
            AckNext::Again(false) => {
                run.error("ack", &answer);
                None
            }
            AckNext::Again(true) => {
                run.error("ack", &answer);
                let to = run.next(*node);
                run.moved(
                    Client::Provider(provider),
                    *node,
                    to,
                    MoveReason::Connection,
                    &answer,
                );
                *node = to;
                None
            }
        };
        let outcome = match outcome {
            Some(o) => o,
            None if run.deadline_passed() || Instant::now() >= give_up => AckOutcome::Abandoned,
            None => {
                failures += 1;
                if failures.is_multiple_of(run.nodes.len())
                    || matches!(answer, Answer::Reply { .. })
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                continue;
            }
        };
        if outcome == AckOutcome::Acked || outcome == AckOutcome::AckedOnRetry {
            lock(&run.live).acked.insert(id.to_owned());
        }
        return AckRecord {
            id: id.to_owned(),
            node: *node,
            provider,
            at: run.now(),
            outcome,
        };
    }
}

async fn provider(run: Arc<Run>, index: usize) {
    let mut node = index % run.nodes.len();
    let mut failures = 0usize;
    let mut pause = MIN_PAUSE;
    loop {
        if run.deadline_passed() {
            break;
        }
        let drained = run.drained();
        let wait = if drained { 0 } else { run.wait_s };
        let url = run.receive_url(node, wait);
        let answer = post(
            &run.http,
            &url,
            &run.provider_auth,
            None,
            run.http_timeout + Duration::from_secs(wait),
        )
        .await;
        match classify_receive(&answer) {
            ReceiveStep::Empty => {
                failures = 0;
                pause = MIN_PAUSE;
                if drained {
                    break;
                }
                if wait == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            ReceiveStep::Delivery => {
                failures = 0;
                pause = MIN_PAUSE;
                let Answer::Reply { body, .. } = &answer else {
                    continue;
                };
                let (id, attempt, problem) = read_delivery(body, &run.peer, &run.expected);
                let at = run.now();
                // A delivery lost with the node: never acknowledged, by this provider or
                // any other, as if its answer had gone down with the node.
                let lost = id.is_some() && run.take_lost(node);
                {
                    let mut live = lock(&run.live);
                    live.ledger.deliveries.push(DeliveryRecord {
                        id: id.clone(),
                        attempt,
                        node,
                        provider: index,
                        at,
                        problem,
                        lost_with_node: lost,
                    });
                    if lost && let Some(id) = &id {
                        live.lost.insert(id.clone());
                    }
                }
                if let Some(id) = id.filter(|_| !lost) {
                    let record = acknowledge(&run, index, &mut node, &id).await;
                    lock(&run.live).ledger.acks.push(record);
                }
            }
            ReceiveStep::Move => {
                run.error("receive", &answer);
                let to = run.next(node);
                run.moved(
                    Client::Provider(index),
                    node,
                    to,
                    MoveReason::Connection,
                    &answer,
                );
                node = to;
                failures += 1;
                if failures.is_multiple_of(run.nodes.len()) {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
            ReceiveStep::Retry => {
                run.error("receive", &answer);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Runs the disruption at its time; its output goes to a temporary file (a daemon it starts
/// may keep a pipe open for ever).
async fn disrupt(run: Arc<Run>, d: Disruption) -> DisruptionRecord {
    tokio::time::sleep_until((run.start + d.at).into()).await;
    let started_at = run.now();
    let command = d.command.clone();
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<(Option<i32>, String)> {
        use std::io::{Read as _, Seek as _};
        let mut out = tempfile::tempfile()?;
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out.try_clone()?)
            .status()?;
        let mut text = String::new();
        out.rewind()?;
        let mut bytes = Vec::new();
        out.read_to_end(&mut bytes)?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        Ok((status.code(), text))
    })
    .await;
    let (exit_code, output) = match result {
        Ok(Ok((code, text))) => (code, text),
        Ok(Err(e)) => (None, format!("could not run: {e}")),
        Err(e) => (None, format!("could not run: {e}")),
    };
    DisruptionRecord {
        command: d.command,
        started_at,
        finished_at: run.now(),
        exit_code,
        output: clip(output.trim(), 2000),
    }
}

async fn progress(run: Arc<Run>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let live = lock(&run.live);
        let l = &live.ledger;
        eprintln!(
            "failover {:5.1} s: accepted {} delivered {} acked {} lost with the node {} moves {} errors {}",
            run.now().as_secs_f64(),
            live.accepted.len(),
            l.deliveries.len(),
            live.acked.len(),
            live.lost.len(),
            l.moves.len(),
            l.errors.values().sum::<u64>()
        );
    }
}

/// `GET /api/v1/me` with a token on a node: the system of an `is` token.
async fn system_of(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    what: &str,
) -> Result<String, LoadError> {
    let setup = |m: String| LoadError::Setup(format!("{what} token on {base}: {m}"));
    let response = http
        .get(format!("{base}/me"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .map_err(|e| setup(transport_text(&e)))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| setup(transport_text(&e)))?;
    if status != 200 {
        return Err(setup(format!(
            "GET /me answered {status}: {}",
            clip(&body, 300)
        )));
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| setup(e.to_string()))?;
    match (
        v.get("role").and_then(Value::as_str),
        v.get("system").and_then(Value::as_str),
    ) {
        (Some("is"), Some(system)) => Ok(system.to_owned()),
        _ => Err(setup(format!(
            "not a token of role is: {}",
            clip(&body, 300)
        ))),
    }
}

/// A failover run's result.
#[derive(Debug)]
pub struct FailoverReport {
    config: FailoverConfig,
    ledger: Ledger,
    verdict: Verdict,
    disruption: Option<DisruptionRecord>,
    /// When the last consumer stopped.
    sending_finished: Duration,
    /// When the last provider stopped.
    drain_finished: Duration,
    /// The drain ended by its timeout.
    drain_timed_out: bool,
}

/// Runs the load, the disruption and the drain, and judges the ledger.
pub async fn run(config: FailoverConfig) -> Result<FailoverReport, LoadError> {
    config.check()?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| LoadError::Setup(format!("HTTP client: {e}")))?;
    let nodes: Vec<String> = config.nodes.iter().map(|n| api_base(n)).collect();
    let scenario = Scenario::new(Workload::Demo, false, 0, 0);
    for base in &nodes {
        let consumer = system_of(&http, base, &config.consumer_token, "the consumer").await?;
        let provider = system_of(&http, base, &config.provider_token, "the provider").await?;
        if consumer != scenario.consumer || provider != scenario.provider {
            return Err(LoadError::Setup(format!(
                "the tokens are of {consumer} and {provider}; the demo request goes from {} to {}",
                scenario.consumer, scenario.provider
            )));
        }
    }
    let (business, expected) = scenario.request("", 0);
    let start = Instant::now();
    let run = Arc::new(Run {
        start,
        nodes,
        http,
        consumer_auth: format!("Bearer {}", config.consumer_token),
        provider_auth: format!("Bearer {}", config.provider_token),
        peer: scenario.consumer.to_owned(),
        business,
        expected,
        message_type: format!("{{{}}}{}", scenario.ns, scenario.request_root),
        wait_s: config.wait_s,
        http_timeout: config.http_timeout,
        send_end: start + config.duration,
        send_retry_timeout: config.send_retry_timeout,
        live: Mutex::new(Live::default()),
        sending_done: AtomicBool::new(false),
        drained: AtomicBool::new(false),
        drain_deadline: Mutex::new(None),
        lose_from: config
            .disruption
            .as_ref()
            .filter(|_| config.lost_deliveries > 0)
            .map(|d| start + d.at.saturating_sub(LOSE_BEFORE)),
        lost_left: AtomicUsize::new(config.lost_deliveries),
    });
    let ticker = config
        .progress
        .then(|| tokio::spawn(progress(Arc::clone(&run))));
    let disruption = config
        .disruption
        .clone()
        .map(|d| tokio::spawn(disrupt(Arc::clone(&run), d)));
    let providers: Vec<_> = (0..config.providers)
        .map(|j| tokio::spawn(provider(Arc::clone(&run), j)))
        .collect();
    let consumers: Vec<_> = (0..config.consumers)
        .map(|i| tokio::spawn(consumer(Arc::clone(&run), i)))
        .collect();
    for c in consumers {
        let _ = c.await;
    }
    let sending_finished = run.now();
    *lock(&run.drain_deadline) = Some(Instant::now() + config.drain_timeout);
    run.sending_done.store(true, Ordering::Release);
    for p in providers {
        let _ = p.await;
    }
    let drain_finished = run.now();
    let drain_timed_out = !run.drained();
    let disruption = match disruption {
        Some(task) => task.await.ok(),
        None => None,
    };
    if let Some(t) = ticker {
        t.abort();
    }
    let ledger = std::mem::take(&mut lock(&run.live).ledger);
    let mut verdict = judge(
        &ledger,
        config.disruption.as_ref(),
        disruption.as_ref(),
        config.duration,
    );
    judge_lost(&mut verdict, &ledger, config.lease, config.lost_deliveries);
    Ok(FailoverReport {
        config,
        ledger,
        verdict,
        disruption,
        sending_finished,
        drain_finished,
        drain_timed_out,
    })
}

impl FailoverReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.verdict.passed()
    }

    /// The verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// The report as JSON (with every accepted id, for checking the database afterwards).
    pub fn to_json(&self) -> Value {
        let v = &self.verdict;
        let c = &v.counts;
        let r = &v.rates;
        let moves: Vec<Value> = self
            .ledger
            .moves
            .iter()
            .map(|m| {
                json!({
                    "client": m.client.to_string(),
                    "from": self.config.nodes[m.from],
                    "to": self.config.nodes[m.to],
                    "at_s": secs(m.at),
                    "reason": match m.reason {
                        MoveReason::Connection => "connection",
                        MoveReason::ServerError => "5xx",
                    },
                    "detail": m.detail,
                })
            })
            .collect();
        let mut per_node: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for s in &self.ledger.sends {
            if matches!(
                s.outcome,
                SendOutcome::Accepted | SendOutcome::AcceptedOnRetry
            ) {
                per_node
                    .entry(self.config.nodes[s.node].as_str())
                    .or_default()
                    .0 += 1;
            }
        }
        for d in &self.ledger.deliveries {
            per_node
                .entry(self.config.nodes[d.node].as_str())
                .or_default()
                .1 += 1;
        }
        let lost = &v.lost;
        let lost_messages: Vec<Value> = lost
            .deliveries
            .iter()
            .map(|d| {
                json!({
                    "id": d.id,
                    "provider": d.provider,
                    "node": self.config.nodes[d.node],
                    "attempt": d.attempt,
                    "delivered_at_s": secs(d.at),
                    "redelivered_at_s": d.redelivery.map(|r| secs(r.at)),
                    "redelivered_node": d.redelivery.map(|r| self.config.nodes[r.node].as_str()),
                    "redelivered_attempt": d.redelivery.map(|r| r.attempt),
                    "redelivered_to_provider": d.redelivery.map(|r| r.provider),
                    "redelivered_after_s": d.delay().map(secs),
                    "acks_204": d.acks_204,
                    "acked": d.acked,
                    "problem": d.problem(self.config.lease),
                })
            })
            .collect();
        json!({
            "tool": "opensmev-load failover",
            "command_line": self.config.command_line,
            "nodes": self.config.nodes,
            "consumers": self.config.consumers,
            "providers": self.config.providers,
            "duration_s": secs(self.config.duration),
            "lease_seconds": self.config.lease.as_secs(),
            "wait_s": self.config.wait_s,
            "drain_timeout_s": secs(self.config.drain_timeout),
            "lost_deliveries": self.config.lost_deliveries,
            "disruption": self.disruption.as_ref().map(|d| json!({
                "command": d.command,
                "at_s": self.config.disruption.as_ref().map(|x| secs(x.at)),
                "started_at_s": secs(d.started_at),
                "finished_at_s": secs(d.finished_at),
                "exit_code": d.exit_code,
                "output": d.output,
            })),
            "passed": v.passed(),
            "checks": v.checks.iter().map(|c| json!({
                "name": c.name, "passed": c.passed, "detail": c.detail,
            })).collect::<Vec<_>>(),
            "counts": {
                "sent": c.sent,
                "accepted": c.accepted,
                "accepted_on_retry": c.accepted_on_retry,
                "lost_answers": c.lost_answers,
                "refused": c.refused,
                "deliveries": c.deliveries,
                "delivered": c.delivered,
                "redelivered": c.redelivered,
                "acked": c.acked,
                "acks_204": c.acks_204,
                "duplicate_acks": c.duplicate_acks,
                "acks_not_leased": c.acks_not_leased,
                "acks_abandoned": c.acks_abandoned,
                "acks_refused": c.acks_refused,
                "bad_deliveries": c.bad_deliveries,
                "lost_with_node": c.lost_with_node,
                "moves": c.moves,
                "errors": c.errors,
            },
            "rates_per_s": {
                "before": {"accepted": r.before_accepted, "acked": r.before_acked},
                "after": {"accepted": r.after_accepted, "acked": r.after_acked},
                "after_recovery": {"accepted": r.recovered_accepted, "acked": r.recovered_acked},
                "overall": {"accepted": r.overall_accepted, "acked": r.overall_acked},
            },
            "failover_gap": v.gap.json(),
            "disruption_gap": v.disruption_gap.map(Gap::json),
            "longest_consumer_gap": {
                "consumer": v.consumer_gap.1,
                "gap": v.consumer_gap.0.json(),
            },
            "per_node": per_node.iter().map(|(n, (a, d))| json!({
                "node": n, "accepted": a, "deliveries": d,
            })).collect::<Vec<_>>(),
            "sending_finished_s": secs(self.sending_finished),
            "drain_finished_s": secs(self.drain_finished),
            "drain_timed_out": self.drain_timed_out,
            "moves": moves,
            "redelivered": v.redelivered.iter().map(|(id, a)| json!({"id": id, "attempt": a})).collect::<Vec<_>>(),
            "lost_answers": v.lost_answers,
            "lost_with_node": {
                "node": self.config.nodes.first(),
                "requested": lost.requested,
                "taken": lost.deliveries.len(),
                "ids": lost.ids(),
                "redelivered_after_s": lost.delay.map(|(min, max)| json!({
                    "min": secs(min), "max": secs(max),
                })),
                "messages": lost_messages,
            },
            "errors": self.ledger.errors,
            "error_samples": self.ledger.error_samples,
            "accepted_ids": v.accepted_ids,
        })
    }

    /// The summary for a terminal.
    pub fn to_text(&self) -> String {
        let v = &self.verdict;
        let c = &v.counts;
        let r = &v.rates;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "failover run: {} nodes, {} consumers, {} providers, {:.0} s of sending (stopped at {:.1} s), drain until {:.1} s{}",
            self.config.nodes.len(),
            self.config.consumers,
            self.config.providers,
            self.config.duration.as_secs_f64(),
            self.sending_finished.as_secs_f64(),
            self.drain_finished.as_secs_f64(),
            if self.drain_timed_out {
                " (TIMED OUT)"
            } else {
                ""
            }
        );
        match (&self.config.disruption, &self.disruption) {
            (Some(_), Some(d)) => {
                let _ = writeln!(
                    t,
                    "disruption: `{}` ran {:.2}–{:.2} s, exit {}{}",
                    d.command,
                    d.started_at.as_secs_f64(),
                    d.finished_at.as_secs_f64(),
                    d.exit_code
                        .map_or_else(|| "none".to_owned(), |c| c.to_string()),
                    if d.output.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", clip(&d.output.replace('\n', " | "), 300))
                    }
                );
            }
            (Some(d), None) => {
                let _ = writeln!(t, "disruption: `{}` did NOT run", d.command);
            }
            _ => {
                let _ = writeln!(t, "disruption: none");
            }
        }
        let _ = writeln!(
            t,
            "sent {}: accepted {} ({} of them known by a duplicate answer after a lost one), lost answers {}, refused {}",
            c.sent, c.accepted, c.accepted_on_retry, c.lost_answers, c.refused
        );
        let _ = writeln!(
            t,
            "delivered {} messages in {} deliveries; redelivered {} (attempt > 1)",
            c.delivered, c.deliveries, c.redelivered
        );
        let _ = writeln!(
            t,
            "acked {} (204: {}), duplicate acks {}, not leased any more (SMEV-115) {}, abandoned {}, refused {}",
            c.acked,
            c.acks_204,
            c.duplicate_acks,
            c.acks_not_leased,
            c.acks_abandoned,
            c.acks_refused
        );
        let _ = writeln!(
            t,
            "rates (accepted/s, acked/s): before {:.1}, {:.1}; after {:.1}, {:.1}; after recovery {:.1}, {:.1}; overall {:.1}, {:.1}",
            r.before_accepted,
            r.before_acked,
            r.after_accepted,
            r.after_acked,
            r.recovered_accepted,
            r.recovered_acked,
            r.overall_accepted,
            r.overall_acked
        );
        let _ = writeln!(
            t,
            "failover gap (longest with no send accepted and nothing received): {:.3} s ({:.3}–{:.3} s); longest of one consumer: {:.3} s (consumer {}, {:.3}–{:.3} s)",
            v.gap.length().as_secs_f64(),
            v.gap.from.as_secs_f64(),
            v.gap.to.as_secs_f64(),
            v.consumer_gap.0.length().as_secs_f64(),
            v.consumer_gap.1,
            v.consumer_gap.0.from.as_secs_f64(),
            v.consumer_gap.0.to.as_secs_f64()
        );
        if let Some(g) = v.disruption_gap {
            let _ = writeln!(
                t,
                "outage around the disruption (longest gap overlapping its run): {:.3} s ({:.3}–{:.3} s)",
                g.length().as_secs_f64(),
                g.from.as_secs_f64(),
                g.to.as_secs_f64()
            );
        }
        if !v.redelivered.is_empty() {
            let _ = writeln!(
                t,
                "redelivered: {}",
                some_ids(
                    &v.redelivered
                        .iter()
                        .map(|(id, a)| format!("{id} (attempt {a})"))
                        .collect::<Vec<_>>()
                )
            );
        }
        if !v.lost_answers.is_empty() {
            let _ = writeln!(t, "lost answers: {}", some_ids(&v.lost_answers));
        }
        let lost = &v.lost;
        if lost.requested > 0 || !lost.deliveries.is_empty() {
            let _ = writeln!(
                t,
                "lost with the node (taken from {} in the {:.1} s before the disruption, never acknowledged): {} of {} requested; delivered again after {} (lease {} s)",
                self.config.nodes.first().map_or("-", String::as_str),
                LOSE_BEFORE.as_secs_f64(),
                lost.deliveries.len(),
                lost.requested,
                lost.delay.map_or_else(
                    || "-".to_owned(),
                    |(min, max)| format!("{:.3}–{:.3} s", min.as_secs_f64(), max.as_secs_f64())
                ),
                self.config.lease.as_secs()
            );
            for d in lost.deliveries.iter().take(LIST_LIMIT) {
                let again = match d.redelivery {
                    Some(r) => format!(
                        "attempt {} on {} at {:.3} s (provider {}), {:.3} s later",
                        r.attempt,
                        self.config.nodes[r.node],
                        r.at.as_secs_f64(),
                        r.provider,
                        d.delay().unwrap_or_default().as_secs_f64()
                    ),
                    None => "never delivered again".to_owned(),
                };
                let _ = writeln!(
                    t,
                    "  {}: attempt {} to provider {} at {:.3} s; {again}; {}",
                    d.id,
                    d.attempt,
                    d.provider,
                    d.at.as_secs_f64(),
                    match (d.acked, d.acks_204) {
                        (false, _) => "NOT acknowledged".to_owned(),
                        (true, 0) => "acknowledged (SMEV-115 after an uncertain ack)".to_owned(),
                        (true, 1) => "acknowledged once".to_owned(),
                        (true, n) => format!("acknowledged {n} TIMES"),
                    }
                );
            }
        }
        // Moves: the first of each client, and how many in all.
        let mut firsts: BTreeMap<Client, (&MoveRecord, usize)> = BTreeMap::new();
        for m in &self.ledger.moves {
            firsts.entry(m.client).or_insert((m, 0)).1 += 1;
        }
        if firsts.is_empty() {
            let _ = writeln!(t, "moves: none");
        } else {
            let _ = writeln!(
                t,
                "clients moved to another node (clients of the dead node moved; first move of each):"
            );
            for (client, (m, n)) in firsts.iter().take(LIST_LIMIT) {
                let _ = writeln!(
                    t,
                    "  {client}: {} → {} at {:.3} s ({}){}",
                    self.config.nodes[m.from],
                    self.config.nodes[m.to],
                    m.at.as_secs_f64(),
                    clip(&m.detail, 120),
                    if *n > 1 {
                        format!(", {n} moves in all")
                    } else {
                        String::new()
                    }
                );
            }
        }
        if !self.ledger.errors.is_empty() {
            let _ = writeln!(t, "failed calls (retried):");
            for (kind, n) in self.ledger.errors.iter().take(LIST_LIMIT) {
                let _ = writeln!(t, "  {kind}: {n}");
            }
        }
        let _ = writeln!(t, "checks:");
        for check in &v.checks {
            let _ = writeln!(
                t,
                "  {} {} — {}",
                if check.passed { "PASS" } else { "FAIL" },
                check.name,
                check.detail
            );
        }
        let _ = writeln!(
            t,
            "verdict: {}",
            if v.passed() { "PASSED" } else { "FAILED" }
        );
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn send(id: &str, consumer: usize, outcome: SendOutcome, at: u64) -> SendRecord {
        SendRecord {
            id: id.into(),
            consumer,
            outcome,
            at: ms(at),
            attempts: 1,
            node: consumer % 2,
        }
    }

    fn delivery(id: &str, attempt: u32, node: usize, provider: usize, at: u64) -> DeliveryRecord {
        DeliveryRecord {
            id: Some(id.into()),
            attempt,
            node,
            provider,
            at: ms(at),
            problem: None,
            lost_with_node: false,
        }
    }

    fn ack(id: &str, outcome: AckOutcome, at: u64) -> AckRecord {
        AckRecord {
            id: id.into(),
            node: 0,
            provider: 0,
            at: ms(at),
            outcome,
        }
    }

    fn failed(v: &Verdict) -> Vec<&'static str> {
        v.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect()
    }

    /// Two accepted messages, both delivered and acked; one redelivered after its first
    /// delivery's lease ran out (the late ack is SMEV-115, counted apart).
    fn clean() -> Ledger {
        Ledger {
            sends: vec![
                send("a", 0, SendOutcome::Accepted, 100),
                send("b", 1, SendOutcome::AcceptedOnRetry, 9000),
            ],
            deliveries: vec![
                delivery("a", 1, 0, 0, 150),
                delivery("b", 1, 0, 0, 9100),
                delivery("b", 2, 1, 1, 15000),
            ],
            acks: vec![
                ack("a", AckOutcome::Acked, 160),
                ack("b", AckOutcome::Acked, 15010),
                ack("b", AckOutcome::NotLeased, 15500),
            ],
            ..Ledger::default()
        }
    }

    #[test]
    fn a_clean_run_passes_with_its_counts() {
        let v = judge(&clean(), None, None, ms(20_000));
        assert!(v.passed(), "{:?}", v.checks);
        let c = &v.counts;
        assert_eq!((c.sent, c.accepted, c.accepted_on_retry), (2, 2, 1));
        assert_eq!((c.deliveries, c.delivered, c.redelivered), (3, 2, 1));
        assert_eq!(
            (c.acked, c.acks_204, c.duplicate_acks, c.acks_not_leased),
            (2, 2, 0, 1)
        );
        assert_eq!(v.redelivered.get("b"), Some(&2));
        assert_eq!(v.accepted_ids, vec!["a".to_owned(), "b".to_owned()]);
    }

    #[test]
    fn a_lost_accepted_message_fails() {
        let mut l = clean();
        l.sends.push(send("c", 0, SendOutcome::Accepted, 200));
        let v = judge(&l, None, None, ms(20_000));
        assert_eq!(
            failed(&v),
            vec![
                "every accepted message was delivered",
                "every accepted message was acknowledged"
            ]
        );
        // Delivered but never acknowledged.
        l.deliveries.push(delivery("c", 1, 1, 1, 300));
        let v = judge(&l, None, None, ms(20_000));
        assert_eq!(failed(&v), vec!["every accepted message was acknowledged"]);
        // An ack after a lost answer, confirmed by SMEV-115 on the retry, counts.
        l.acks.push(ack("c", AckOutcome::AckedOnRetry, 400));
        assert!(judge(&l, None, None, ms(20_000)).passed());
    }

    #[test]
    fn a_second_successful_ack_fails() {
        let mut l = clean();
        l.acks.push(ack("a", AckOutcome::Acked, 170));
        let v = judge(&l, None, None, ms(20_000));
        assert_eq!(failed(&v), vec!["no message was acknowledged (204) twice"]);
        assert_eq!(v.counts.duplicate_acks, 1);
    }

    #[test]
    fn deliveries_of_unaccepted_messages_fail_unless_the_answer_was_lost() {
        let mut l = clean();
        l.deliveries.push(delivery("x", 1, 0, 0, 500));
        l.acks.push(ack("x", AckOutcome::Acked, 510));
        let v = judge(&l, None, None, ms(20_000));
        assert_eq!(
            failed(&v),
            vec!["nothing was delivered that was not accepted (or whose answer was lost)"]
        );
        l.sends.push(send("x", 0, SendOutcome::LostAnswer, 60_000));
        let v = judge(&l, None, None, ms(20_000));
        assert!(v.passed(), "{:?}", v.checks);
        assert_eq!(v.lost_answers, vec!["x".to_owned()]);
        // A lost answer that was never delivered is legal too.
        l.sends.push(send("y", 0, SendOutcome::LostAnswer, 60_000));
        assert!(judge(&l, None, None, ms(20_000)).passed());
        // A refused message delivered is not.
        l.sends
            .push(send("z", 1, SendOutcome::Refused("422".into()), 700));
        l.deliveries.push(delivery("z", 1, 0, 0, 800));
        l.acks.push(ack("z", AckOutcome::Acked, 810));
        assert_eq!(
            failed(&judge(&l, None, None, ms(20_000))),
            vec![
                "nothing was delivered that was not accepted (or whose answer was lost)",
                "no send was refused"
            ]
        );
    }

    #[test]
    fn two_live_leases_and_bad_deliveries_fail() {
        let mut l = clean();
        l.deliveries.push(delivery("a", 1, 1, 2, 155));
        let v = judge(&l, None, None, ms(20_000));
        assert_eq!(
            failed(&v),
            vec!["no message was handed out twice under one attempt (two live leases)"]
        );
        let mut l = clean();
        l.deliveries[0].problem = Some("signature: invalid".into());
        assert_eq!(
            failed(&judge(&l, None, None, ms(20_000))),
            vec!["every delivery checked out (kind, sender, content, ЭП-ОВ)"]
        );
        let mut l = clean();
        l.acks.push(ack("a", AckOutcome::Abandoned, 30_000));
        assert_eq!(
            failed(&judge(&l, None, None, ms(20_000))),
            vec!["no acknowledgement was refused or abandoned (SMEV-115 after a redelivery aside)"]
        );
    }

    fn kill_at_8s() -> (Disruption, DisruptionRecord) {
        (
            Disruption {
                at: ms(8000),
                command: "kill -9 1".into(),
            },
            DisruptionRecord {
                command: "kill -9 1".into(),
                started_at: ms(8000),
                finished_at: ms(8010),
                exit_code: Some(0),
                output: String::new(),
            },
        )
    }

    fn provider_move(p: usize, from: usize, at: u64) -> MoveRecord {
        MoveRecord {
            client: Client::Provider(p),
            from,
            to: 1 - from,
            at: ms(at),
            reason: MoveReason::Connection,
            detail: "connection".into(),
        }
    }

    #[test]
    fn providers_of_the_dead_node_must_receive_elsewhere() {
        let (asked, ran) = kill_at_8s();
        let mut l = clean();
        // Provider 0 left node 0 at 8.02 s and received "b" on node 1 later: fine.
        l.moves.push(provider_move(0, 0, 8020));
        l.deliveries.push(delivery("b", 3, 1, 0, 16_000));
        l.acks.push(ack("b", AckOutcome::NotLeased, 16_010));
        let v = judge(&l, Some(&asked), Some(&ran), ms(20_000));
        assert!(v.passed(), "{:?}", v.checks);
        // Provider 2 moved too and received nothing afterwards.
        l.moves.push(provider_move(2, 0, 8030));
        let v = judge(&l, Some(&asked), Some(&ran), ms(20_000));
        assert_eq!(
            failed(&v),
            vec!["every provider that lost its node received messages on another node"]
        );
        // A move before the disruption does not count.
        let mut l = clean();
        l.moves.push(provider_move(2, 0, 1000));
        assert!(judge(&l, Some(&asked), Some(&ran), ms(20_000)).passed());
    }

    #[test]
    fn the_disruption_must_run_and_succeed() {
        let (asked, mut ran) = kill_at_8s();
        let l = clean();
        assert_eq!(
            failed(&judge(&l, Some(&asked), None, ms(20_000))),
            vec!["the disruption ran and exited 0"]
        );
        ran.exit_code = Some(1);
        assert_eq!(
            failed(&judge(&l, Some(&asked), Some(&ran), ms(20_000))),
            vec!["the disruption ran and exited 0"]
        );
        ran.exit_code = Some(0);
        assert!(judge(&l, Some(&asked), Some(&ran), ms(20_000)).passed());
    }

    #[test]
    fn gaps_and_rates() {
        let times = [ms(100), ms(200), ms(300), ms(2300), ms(2400)];
        let g = longest_gap(&times, Duration::ZERO, ms(3000));
        assert_eq!((g.from, g.to), (ms(300), ms(2300)));
        // The bounds count: a stall until the end is a gap.
        let g = longest_gap(&times, Duration::ZERO, ms(6000));
        assert_eq!((g.from, g.to), (ms(2400), ms(6000)));
        // Events outside the window are ignored.
        let g = longest_gap(&[ms(50), ms(9000)], ms(100), ms(1000));
        assert_eq!((g.from, g.to), (ms(100), ms(1000)));
        assert_eq!(longest_gap(&[], ms(0), ms(10)).length(), ms(10));
        // The outage of a disruption that ran from 0.35 to 0.4 s: the gap from 0.3 to 2.3 s,
        // not a longer stall elsewhere.
        let g = outage(&times, ms(6000), ms(350), ms(400));
        assert_eq!((g.from, g.to), (ms(300), ms(2300)));
        let g = outage(&times, ms(6000), ms(150), ms(160));
        assert_eq!((g.from, g.to), (ms(100), ms(200)));
        assert!((rate(&times, Duration::ZERO, ms(1000)) - 3.0).abs() < 1e-9);
        assert!((rate(&times, ms(1000), ms(3000)) - 1.0).abs() < 1e-9);
        assert_eq!(rate(&times, ms(5), ms(5)), 0.0);
    }

    #[test]
    fn the_failover_gap_and_the_rates_come_from_the_ledger() {
        let (asked, ran) = kill_at_8s();
        let mut l = Ledger::default();
        // Accepted every 100 ms, except from 8.0 s to 9.5 s.
        for k in 1..200u64 {
            let at = k * 100;
            if (8000..9500).contains(&at) {
                continue;
            }
            let id = format!("m{k}");
            l.sends
                .push(send(&id, (k % 4) as usize, SendOutcome::Accepted, at));
            l.deliveries.push(delivery(
                &id,
                1,
                (k % 2) as usize,
                (k % 4) as usize,
                at + 20,
            ));
            l.acks.push(ack(&id, AckOutcome::Acked, at + 30));
        }
        let v = judge(&l, Some(&asked), Some(&ran), ms(20_000));
        assert!(v.passed(), "{:?}", v.checks);
        assert_eq!((v.gap.from, v.gap.to), (ms(7920), ms(9500)));
        assert_eq!(v.disruption_gap, Some(v.gap));
        assert!(
            (v.rates.before_accepted - 10.0).abs() < 0.2,
            "{:?}",
            v.rates
        );
        assert!(v.rates.after_accepted < v.rates.before_accepted);
        assert!(
            (v.rates.recovered_accepted - 10.0).abs() < 0.2,
            "{:?}",
            v.rates
        );
        // One consumer sends every 400 ms: its own gap is longer than the system's.
        assert!(v.consumer_gap.0.length() >= v.gap.length());
    }

    /// The clean ledger and message "c", accepted at 7 s and delivered on node 0 at 7.1 s to
    /// provider 0, which lost the delivery with the node.
    fn with_lost() -> Ledger {
        let mut l = clean();
        l.sends.push(send("c", 2, SendOutcome::Accepted, 7000));
        let mut lost = delivery("c", 1, 0, 0, 7100);
        lost.lost_with_node = true;
        l.deliveries.push(lost);
        l
    }

    /// The verdict with the lost deliveries judged (lease 5 s).
    fn judged(l: &Ledger, requested: usize) -> Verdict {
        let mut v = judge(l, None, None, ms(20_000));
        judge_lost(&mut v, l, Duration::from_secs(5), requested);
        v
    }

    const LOST_CHECK: &str = "every delivery lost with the node was delivered again through another node after its lease and acknowledged once";

    #[test]
    fn a_delivery_lost_with_the_node_comes_back_through_another_node_after_its_lease() {
        let mut l = with_lost();
        // Attempt 2 on node 1 (provider 1) 5.1 s later, acknowledged there.
        l.deliveries.push(delivery("c", 2, 1, 1, 12_200));
        l.acks.push(ack("c", AckOutcome::Acked, 12_210));
        let v = judged(&l, 1);
        assert!(v.passed(), "{:?}", v.checks);
        assert_eq!(v.counts.lost_with_node, 1);
        assert_eq!(v.lost.ids(), vec!["c".to_owned()]);
        assert_eq!(v.lost.requested, 1);
        let d = &v.lost.deliveries[0];
        assert_eq!((d.provider, d.node, d.attempt, d.at), (0, 0, 1, ms(7100)));
        assert_eq!(
            d.redelivery,
            Some(Redelivery {
                at: ms(12_200),
                node: 1,
                attempt: 2,
                provider: 1
            })
        );
        assert_eq!((d.acks_204, d.acked), (1, true));
        assert_eq!(v.lost.delay, Some((ms(5100), ms(5100))));
        let check = v.checks.iter().find(|c| c.name == LOST_CHECK).unwrap();
        assert!(check.detail.contains("1 of 1 taken"), "{}", check.detail);
        assert!(check.detail.contains("5.100–5.100 s"), "{}", check.detail);
        // A message "b" delivered twice (attempts 1 and 2) but not lost is not counted.
        assert!(v.lost.deliveries.iter().all(|d| d.id != "b"));
        // An ack whose first answer was lost, confirmed by SMEV-115, counts as the one.
        let mut l = with_lost();
        l.deliveries.push(delivery("c", 2, 1, 1, 12_200));
        l.acks.push(ack("c", AckOutcome::AckedOnRetry, 12_400));
        assert!(judged(&l, 1).passed());
    }

    #[test]
    fn a_lost_delivery_never_delivered_again_fails() {
        let l = with_lost();
        let v = judged(&l, 1);
        assert_eq!(
            failed(&v),
            vec!["every accepted message was acknowledged", LOST_CHECK]
        );
        let d = &v.lost.deliveries[0];
        assert_eq!(
            d.problem(Duration::from_secs(5)).unwrap(),
            "c: never delivered again, not acknowledged"
        );
        assert_eq!(v.lost.delay, None);
    }

    #[test]
    fn a_lost_delivery_must_come_back_through_another_node_and_not_too_soon() {
        let lease = Duration::from_secs(5);
        // Through the same node.
        let mut l = with_lost();
        l.deliveries.push(delivery("c", 2, 0, 2, 12_200));
        l.acks.push(ack("c", AckOutcome::Acked, 12_210));
        let v = judged(&l, 1);
        assert_eq!(failed(&v), vec![LOST_CHECK]);
        assert!(
            v.lost.deliveries[0]
                .problem(lease)
                .unwrap()
                .contains("through the same node 0")
        );
        // 4.4 s after: sooner than the lease less the slack.
        let mut l = with_lost();
        l.deliveries.push(delivery("c", 2, 1, 1, 11_500));
        l.acks.push(ack("c", AckOutcome::Acked, 11_510));
        let v = judged(&l, 1);
        assert_eq!(failed(&v), vec![LOST_CHECK]);
        assert!(
            v.lost.deliveries[0]
                .problem(lease)
                .unwrap()
                .contains("4.400 s later, before its lease of 5 s ran out")
        );
        // 4.6 s after: within the slack (the lease starts before the answer arrives).
        let mut l = with_lost();
        l.deliveries.push(delivery("c", 2, 1, 1, 11_700));
        l.acks.push(ack("c", AckOutcome::Acked, 11_710));
        assert!(judged(&l, 1).passed());
        // The next delivery is the earliest with a higher attempt, whatever comes later.
        l.deliveries.push(delivery("c", 3, 0, 0, 17_000));
        let v = judged(&l, 1);
        assert_eq!(v.lost.deliveries[0].redelivery.unwrap().at, ms(11_700));
        assert_eq!(failed(&v), Vec::<&str>::new());
    }

    #[test]
    fn a_lost_delivery_acknowledged_twice_fails() {
        let mut l = with_lost();
        l.deliveries.push(delivery("c", 2, 1, 1, 12_200));
        l.acks.push(ack("c", AckOutcome::Acked, 12_210));
        l.acks.push(ack("c", AckOutcome::Acked, 12_300));
        let v = judged(&l, 1);
        assert_eq!(
            failed(&v),
            vec!["no message was acknowledged (204) twice", LOST_CHECK]
        );
        assert!(
            v.lost.deliveries[0]
                .problem(Duration::from_secs(5))
                .unwrap()
                .contains("acknowledged (204) 2 times")
        );
    }

    #[test]
    fn lost_deliveries_asked_for_must_be_taken_and_are_measured_together() {
        // Asked for and none taken: nothing was exercised.
        let v = judged(&clean(), 4);
        assert_eq!(failed(&v), vec![LOST_CHECK]);
        assert!(
            v.checks
                .last()
                .unwrap()
                .detail
                .starts_with("none of 4 taken")
        );
        // Not asked for: no check at all.
        let v = judged(&clean(), 0);
        assert!(v.passed());
        assert!(v.checks.iter().all(|c| c.name != LOST_CHECK));
        assert_eq!(v.counts.lost_with_node, 0);
        // Two of four taken (fewer is allowed: "up to"), measured 5.1 and 6.3 s.
        let mut l = with_lost();
        l.deliveries.push(delivery("c", 2, 1, 1, 12_200));
        l.acks.push(ack("c", AckOutcome::Acked, 12_210));
        l.sends.push(send("d", 3, SendOutcome::Accepted, 7050));
        let mut lost = delivery("d", 1, 0, 2, 7080);
        lost.lost_with_node = true;
        l.deliveries.push(lost);
        l.deliveries.push(delivery("d", 2, 1, 3, 13_380));
        l.acks.push(ack("d", AckOutcome::Acked, 13_390));
        let v = judged(&l, 4);
        assert!(v.passed(), "{:?}", v.checks);
        assert_eq!(v.lost.ids(), vec!["d".to_owned(), "c".to_owned()]);
        assert_eq!(v.lost.delay, Some((ms(5100), ms(6300))));
        assert_eq!(v.counts.lost_with_node, 2);
    }

    fn reply(status: u16, code: Option<&str>, detail: &str, body: &str) -> Answer {
        Answer::Reply {
            status,
            code: code.map(str::to_owned),
            detail: detail.into(),
            body: body.into(),
        }
    }

    #[test]
    fn send_answers_are_classified() {
        let id = "6b1f6a50-0000-1000-8000-000000000001";
        assert_eq!(
            classify_send(
                &reply(201, None, "", &format!("{{\"message_id\":\"{id}\"}}")),
                id
            ),
            SendStep::Accepted
        );
        assert!(matches!(
            classify_send(&reply(201, None, "", "{\"message_id\":\"other\"}"), id),
            SendStep::Refused(_)
        ));
        assert_eq!(
            classify_send(&reply(409, Some("SMEV-111"), "already", ""), id),
            SendStep::Duplicate
        );
        assert_eq!(
            classify_send(
                &reply(
                    409,
                    Some("api.client-id-used"),
                    &format!(
                        "the client id «failover-{id}» was used for message {id} accepted at …"
                    ),
                    ""
                ),
                id
            ),
            SendStep::Duplicate
        );
        assert!(matches!(
            classify_send(
                &reply(
                    409,
                    Some("api.client-id-used"),
                    "used for message other",
                    ""
                ),
                id
            ),
            SendStep::Refused(_)
        ));
        assert_eq!(
            classify_send(&Answer::Transport("connection refused".into()), id),
            SendStep::RetryElsewhere(MoveReason::Connection)
        );
        assert_eq!(
            classify_send(&reply(500, Some("SMEV-500"), "", ""), id),
            SendStep::RetryElsewhere(MoveReason::ServerError)
        );
        assert_eq!(
            classify_send(&reply(503, None, "", "overloaded"), id),
            SendStep::RetryElsewhere(MoveReason::ServerError)
        );
        assert_eq!(
            classify_send(&reply(429, Some("SMEV-110"), "", ""), id),
            SendStep::RetryHere
        );
        assert!(matches!(
            classify_send(&reply(422, Some("SMEV-102"), "bad", ""), id),
            SendStep::Refused(_)
        ));
    }

    /// The outcome of a message whose sends got these answers, in order.
    fn sends(steps: Vec<SendStep>) -> Option<SendOutcome> {
        let mut uncertain = false;
        for step in steps {
            if let SendNext::Done(outcome) = next_after_send(step, &mut uncertain) {
                return Some(outcome);
            }
        }
        Some(send_timed_out(uncertain, "HTTP 500"))
    }

    #[test]
    fn a_message_is_settled_only_by_a_certain_answer() {
        use SendStep::*;
        let lost = RetryElsewhere(MoveReason::Connection);
        let failed = RetryElsewhere(MoveReason::ServerError);
        let refused = || Refused("HTTP 401 auth.token-unknown".into());
        assert_eq!(sends(vec![Accepted]), Some(SendOutcome::Accepted));
        assert_eq!(
            sends(vec![lost.clone(), Accepted]),
            Some(SendOutcome::Accepted),
            "the lost attempt was not accepted: the retry was"
        );
        assert_eq!(
            sends(vec![lost.clone(), Duplicate]),
            Some(SendOutcome::AcceptedOnRetry)
        );
        assert!(matches!(
            sends(vec![Duplicate]),
            Some(SendOutcome::Refused(_))
        ));
        assert!(matches!(
            sends(vec![refused()]),
            Some(SendOutcome::Refused(_))
        ));
        // A 500 whose commit went through, then a refusal: the refusal settles nothing.
        assert_eq!(
            sends(vec![failed.clone(), refused(), refused(), Duplicate]),
            Some(SendOutcome::AcceptedOnRetry)
        );
        assert_eq!(
            sends(vec![failed.clone(), refused()]),
            Some(SendOutcome::LostAnswer)
        );
        assert_eq!(
            sends(vec![RetryHere, RetryHere, Accepted]),
            Some(SendOutcome::Accepted)
        );
        assert!(matches!(
            sends(vec![RetryHere]),
            Some(SendOutcome::Refused(_))
        ));
        let mut uncertain = false;
        assert_eq!(
            next_after_send(failed, &mut uncertain),
            SendNext::Again(Some(MoveReason::ServerError))
        );
        assert!(uncertain);
    }

    /// The outcome of an acknowledgement that got these answers, in order (`None`: unsettled).
    fn acks(steps: Vec<AckStep>) -> Option<AckOutcome> {
        let mut uncertain = false;
        steps
            .into_iter()
            .find_map(|step| match next_after_ack(step, &mut uncertain) {
                AckNext::Done(o) => Some(o),
                AckNext::Again(_) => None,
            })
    }

    #[test]
    fn an_acknowledgement_is_settled_only_by_a_certain_answer() {
        use AckStep::*;
        let refused = || Refused("HTTP 401 auth.token-unknown".into());
        assert_eq!(acks(vec![Acked]), Some(AckOutcome::Acked));
        assert_eq!(acks(vec![NotLeased]), Some(AckOutcome::NotLeased));
        assert_eq!(acks(vec![Move, NotLeased]), Some(AckOutcome::AckedOnRetry));
        assert_eq!(acks(vec![Retry, Acked]), Some(AckOutcome::Acked));
        assert!(matches!(
            acks(vec![refused()]),
            Some(AckOutcome::Refused(_))
        ));
        assert_eq!(
            acks(vec![Retry, refused(), NotLeased]),
            Some(AckOutcome::AckedOnRetry)
        );
        assert_eq!(acks(vec![Retry, refused()]), None);
        let mut uncertain = false;
        assert_eq!(next_after_ack(Move, &mut uncertain), AckNext::Again(true));
        assert_eq!(next_after_ack(Retry, &mut uncertain), AckNext::Again(false));
    }

    #[test]
    fn ack_and_receive_answers_are_classified() {
        assert_eq!(classify_ack(&reply(204, None, "", "")), AckStep::Acked);
        assert_eq!(
            classify_ack(&reply(404, Some("SMEV-115"), "", "")),
            AckStep::NotLeased
        );
        assert_eq!(
            classify_ack(&Answer::Transport("reset".into())),
            AckStep::Move
        );
        assert_eq!(
            classify_ack(&reply(500, Some("SMEV-500"), "", "")),
            AckStep::Retry
        );
        assert!(matches!(
            classify_ack(&reply(401, Some("auth.token-unknown"), "", "")),
            AckStep::Refused(_)
        ));
        assert_eq!(
            classify_receive(&reply(200, None, "", "{}")),
            ReceiveStep::Delivery
        );
        assert_eq!(
            classify_receive(&reply(204, None, "", "")),
            ReceiveStep::Empty
        );
        assert_eq!(
            classify_receive(&Answer::Transport("refused".into())),
            ReceiveStep::Move
        );
        assert_eq!(
            classify_receive(&reply(500, Some("SMEV-500"), "", "")),
            ReceiveStep::Retry
        );
    }

    #[test]
    fn deliveries_are_read_and_checked() {
        let scenario = Scenario::new(Workload::Demo, false, 0, 0);
        let (business, expected) = scenario.request("", 0);
        let body = json!({
            "message_id": "m1",
            "kind": "request",
            "sender": "MFC01",
            "content_kind": "business",
            "business_xml": business,
            "attachments": [],
            "signatures": [{"role": "ЭП-ОВ", "valid": true, "registered_system": "MFC01"}],
            "attempt": 2,
        })
        .to_string();
        assert_eq!(
            read_delivery(&body, "MFC01", &expected),
            (Some("m1".into()), 2, None)
        );
        let (id, attempt, problem) = read_delivery(&body, "FNS01", &expected);
        assert_eq!((id.as_deref(), attempt), (Some("m1"), 2));
        assert!(problem.unwrap().starts_with("mismatch"));
        let other = Expected {
            text: "other".into(),
            ..expected.clone()
        };
        assert!(
            read_delivery(&body, "MFC01", &other)
                .2
                .unwrap()
                .starts_with("content")
        );
        assert_eq!(read_delivery("not json", "MFC01", &expected).0, None);
    }

    #[test]
    fn bases_and_configuration() {
        assert_eq!(
            api_base("http://127.0.0.1:7501"),
            "http://127.0.0.1:7501/api/v1"
        );
        assert_eq!(api_base("http://h:1/api/v1/"), "http://h:1/api/v1");
        let mut c = FailoverConfig::new(vec!["http://a".into()], "c".into(), "p".into());
        assert!(c.check().is_err(), "one node");
        c.nodes.push("http://b".into());
        assert!(c.check().is_ok());
        c.disruption = Some(Disruption {
            at: Duration::from_secs(30),
            command: "true".into(),
        });
        assert!(c.check().is_err(), "--at after the end");
        assert_eq!(c.drain_timeout, Duration::from_secs(360));
        // Lost deliveries need a disruption, and a drain long enough for their lease.
        c.disruption = None;
        c.lost_deliveries = 4;
        assert!(c.check().is_err(), "lost deliveries without a disruption");
        c.disruption = Some(Disruption {
            at: Duration::from_secs(8),
            command: "true".into(),
        });
        assert!(
            c.check().is_ok(),
            "lost at 7 s, back after 300 s, drain 360 s"
        );
        c.drain_timeout = Duration::from_secs(200);
        assert!(
            c.check().is_err(),
            "the drain ends before the lease runs out"
        );
        c.lease = Duration::from_secs(5);
        c.drain_timeout = Duration::from_secs(65);
        assert!(c.check().is_ok());
    }
}
