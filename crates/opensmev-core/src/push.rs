//! Push delivery's rules: an information system's delivery settings (registry key `delivery` of
//! its `[[systems]]` entry), the delivery mode of each message, the retry policy (exponential
//! back-off with full jitter, limits by attempts and by age), and the bus functions the delivery
//! engine (`opensmev-delivery`) and the edges call: lease for push, settle an attempt, list and
//! replay dead letters.

use std::collections::BTreeMap;
use std::time::Duration;

use opensmev_store::{
    DeadLetter, DeadLetterQuery, LeaseOutcome, LeaseRequest, PushAck, StoredMessage,
};
use opensmev_types::{DeliveryMode, MessageKind, Mnemonic, SchemaVersion};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::registry::RegistryError;
use crate::{Bus, BusError};

/// The registry key of a `[[systems]]` entry that holds its [`DeliverySettings`].
pub const DELIVERY_KEY: &str = "delivery";

/// A delivery mode as written in the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    /// The IS polls (SMEV 3's own model).
    #[default]
    Poll,
    /// The bus pushes to the IS's endpoint.
    Push,
}

/// What a pushed message looks like on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushFormat {
    /// A SOAP 1.1 POST whose body is the signed `GetRequestResponse` / `GetResponseResponse` a
    /// poll would have returned (attachments inline, base64), of the bus's schema version.
    #[default]
    Soap,
    /// A JSON POST in the shape of the integration API's delivery
    /// (`POST /api/v1/inbox/requests/next`).
    Rest,
}

/// When a push counts as delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    /// A 2xx answer acknowledges the message (on the IS's behalf, `accepted = true`).
    #[default]
    Http,
    /// A 2xx answer only hands it over: the IS acknowledges it itself (SOAP `Ack` or
    /// `POST /api/v1/messages/{id}/ack`) within `explicit_ack_wait_s`, or it is pushed again.
    Explicit,
}

/// An information system's delivery settings (`[systems.delivery]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// The mode of the IS's messages (requests to it and responses to it): `poll` (default) or
    /// `push`.
    #[serde(default)]
    pub mode: ModeName,
    /// The mode per kind of information (ВС id → `poll` / `push`), over `mode`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, ModeName>,
    /// The URL pushed messages are POSTed to (`http://` or `https://`); required when anything
    /// is pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `soap` (default) or `rest`.
    #[serde(default)]
    pub format: PushFormat,
    /// The SMEV schema version of SOAP pushes: `"1.1"`, `"1.2"` or `"1.3"` (default).
    #[serde(default = "defaults::soap_version")]
    pub soap_version: String,
    /// `http` (default: a 2xx answer acknowledges) or `explicit`.
    #[serde(default)]
    pub ack: AckMode,
    /// How long the IS has to acknowledge a message it took, with `ack = "explicit"`.
    #[serde(default = "defaults::explicit_ack_wait_s")]
    pub explicit_ack_wait_s: u64,
    /// Concurrent deliveries to the IS per node (1–64; default 2).
    #[serde(default = "defaults::channels")]
    pub channels: u32,
    /// At most this many attempts per second per node (absent: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<u32>,
    /// How long one attempt may take, connection included (default 10 000 ms).
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before a message becomes a dead letter (default 10).
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Seconds after its first attempt after which a failing message becomes a dead letter
    /// (default 86 400).
    #[serde(default = "defaults::max_age_s")]
    pub max_age_s: u64,
    /// The first back-off (default 1 000 ms); it doubles with every failed attempt.
    #[serde(default = "defaults::backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// The longest back-off (default 300 000 ms).
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// The senders' shares of the IS's queues (mnemonic → weight 1–1000; default 1): among
    /// messages of one priority, senders that keep a queue busy are served in proportion to
    /// their shares — for polls and pushes alike.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shares: BTreeMap<String, u32>,
    /// Consecutive failures of the endpoint that open its circuit breaker (default 5).
    #[serde(default = "defaults::breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker stops attempts before one trial attempt (default 30 000 ms).
    #[serde(default = "defaults::breaker_open_ms")]
    pub breaker_open_ms: u64,
}

mod defaults {
    pub(super) fn soap_version() -> String {
        "1.3".to_owned()
    }
    pub(super) fn explicit_ack_wait_s() -> u64 {
        300
    }
    pub(super) fn channels() -> u32 {
        2
    }
    pub(super) fn timeout_ms() -> u64 {
        10_000
    }
    pub(super) fn max_attempts() -> u32 {
        10
    }
    pub(super) fn max_age_s() -> u64 {
        86_400
    }
    pub(super) fn backoff_initial_ms() -> u64 {
        1_000
    }
    pub(super) fn backoff_max_ms() -> u64 {
        300_000
    }
    pub(super) fn breaker_failures() -> u32 {
        5
    }
    pub(super) fn breaker_open_ms() -> u64 {
        30_000
    }
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            mode: ModeName::Poll,
            kinds: BTreeMap::new(),
            endpoint: None,
            format: PushFormat::Soap,
            soap_version: defaults::soap_version(),
            ack: AckMode::Http,
            explicit_ack_wait_s: defaults::explicit_ack_wait_s(),
            channels: defaults::channels(),
            rate_per_s: None,
            timeout_ms: defaults::timeout_ms(),
            max_attempts: defaults::max_attempts(),
            max_age_s: defaults::max_age_s(),
            backoff_initial_ms: defaults::backoff_initial_ms(),
            backoff_max_ms: defaults::backoff_max_ms(),
            shares: BTreeMap::new(),
            breaker_failures: defaults::breaker_failures(),
            breaker_open_ms: defaults::breaker_open_ms(),
        }
    }
}

impl DeliverySettings {
    /// Checks the settings of system `mnemonic` against the registered kinds.
    pub fn check(
        &self,
        mnemonic: &str,
        kind_known: impl Fn(&str) -> bool,
    ) -> Result<(), RegistryError> {
        let bad = |what: String| {
            Err(RegistryError(format!(
                "system {mnemonic}: {DELIVERY_KEY}: {what}"
            )))
        };
        if let Some(unknown) = self.kinds.keys().find(|k| !kind_known(k)) {
            return bad(format!(
                "kinds names {unknown}, which is not a registered kind"
            ));
        }
        if self.pushes_anything() {
            match &self.endpoint {
                None => return bad("endpoint is required when messages are pushed".into()),
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    return bad(format!(
                        "endpoint «{url}» is not an http:// or https:// URL"
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some((sender, share)) = self.shares.iter().find(|(_, w)| !(1..=1000).contains(*w)) {
            return bad(format!(
                "shares: {sender} = {share}, a share must be 1 to 1000"
            ));
        }
        if SchemaVersion::parse(&self.soap_version).is_none() {
            return bad(format!(
                "soap_version must be 1.1, 1.2 or 1.3, not «{}»",
                self.soap_version
            ));
        }
        for (name, value, max) in [
            ("timeout_ms", self.timeout_ms, 600_000),
            ("explicit_ack_wait_s", self.explicit_ack_wait_s, 7 * 86_400),
            ("max_age_s", self.max_age_s, 90 * 86_400),
            ("backoff_initial_ms", self.backoff_initial_ms, 86_400_000),
            ("backoff_max_ms", self.backoff_max_ms, 86_400_000),
            ("breaker_open_ms", self.breaker_open_ms, 86_400_000),
            ("max_attempts", u64::from(self.max_attempts), 1_000),
            ("breaker_failures", u64::from(self.breaker_failures), 1_000),
            (
                "rate_per_s",
                u64::from(self.rate_per_s.unwrap_or(1)),
                100_000,
            ),
        ] {
            if value > max {
                return bad(format!("{name} must be at most {max}, not {value}"));
            }
        }
        if !(1..=64).contains(&self.channels) {
            return bad(format!("channels must be 1 to 64, not {}", self.channels));
        }
        if self.rate_per_s == Some(0) {
            return bad("rate_per_s must be at least 1 (leave it out for no limit)".into());
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1".into());
        }
        if self.timeout_ms == 0 || self.backoff_initial_ms == 0 || self.breaker_failures == 0 {
            return bad(
                "timeout_ms, backoff_initial_ms and breaker_failures must be above 0".into(),
            );
        }
        if self.backoff_initial_ms > self.backoff_max_ms {
            return bad(format!(
                "backoff_initial_ms ({}) is above backoff_max_ms ({})",
                self.backoff_initial_ms, self.backoff_max_ms
            ));
        }
        Ok(())
    }

    /// The schema version of SOAP pushes.
    pub fn schema_version(&self) -> SchemaVersion {
        SchemaVersion::parse(&self.soap_version).unwrap_or(SchemaVersion::V1_3)
    }

    /// Whether any of the IS's messages are pushed.
    pub fn pushes_anything(&self) -> bool {
        self.mode == ModeName::Push || self.kinds.values().any(|m| *m == ModeName::Push)
    }

    /// The mode of a message of kind `vs_id` to this IS.
    pub fn mode_of(&self, vs_id: &str) -> DeliveryMode {
        match self.kinds.get(vs_id).copied().unwrap_or(self.mode) {
            ModeName::Poll => DeliveryMode::Poll,
            ModeName::Push => DeliveryMode::Push,
        }
    }

    /// The back-off after failed attempt `attempt` (from 1), before jitter: `backoff_initial_ms`
    /// doubled `attempt - 1` times, at most `backoff_max_ms`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .backoff_initial_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(40));
        Duration::from_millis(doubled.min(self.backoff_max_ms))
    }

    /// The retry decision after failed attempt `attempt` of a message first tried at `first`,
    /// now: the time of the next attempt, or why there is none. `jitter` (0.0–1.0) picks the
    /// wait within the back-off ("full jitter": uniformly in `[backoff/2, backoff]`, so retries
    /// of many messages spread out and none comes sooner than half the back-off).
    pub fn next_attempt(
        &self,
        attempt: u32,
        first: OffsetDateTime,
        now: OffsetDateTime,
        jitter: f64,
    ) -> Result<OffsetDateTime, String> {
        if attempt >= self.max_attempts {
            return Err(format!("{attempt} of {} attempts made", self.max_attempts));
        }
        let backoff = self.backoff(attempt);
        let wait = backoff.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        let far = || "the next attempt would come too far in the future".to_owned();
        let next = now
            .checked_add(time::Duration::try_from(wait).map_err(|_| far())?)
            .ok_or_else(far)?;
        let deadline = first
            .checked_add(time::Duration::seconds(
                i64::try_from(self.max_age_s).unwrap_or(i64::MAX),
            ))
            .unwrap_or(OffsetDateTime::new_utc(
                time::Date::MAX,
                time::Time::MIDNIGHT,
            ));
        if next > deadline {
            return Err(format!(
                "the next attempt would come {} s after the first, over the limit of {} s",
                (next - first).whole_seconds(),
                self.max_age_s
            ));
        }
        Ok(next)
    }

    /// Why a message handed out `attempt` times, first at `first`, gets no more attempts now:
    /// more hand-outs than `max_attempts` (leases that ran out, pushes never acknowledged), or
    /// older than `max_age_s` since the first.
    pub fn exhausted(
        &self,
        attempt: u32,
        first: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Option<String> {
        if attempt > self.max_attempts {
            return Some(format!(
                "handed out {attempt} times, over the limit of {} attempts",
                self.max_attempts
            ));
        }
        let deadline = first?.checked_add(time::Duration::seconds(
            i64::try_from(self.max_age_s).unwrap_or(i64::MAX),
        ))?;
        (now > deadline).then(|| {
            format!(
                "first handed out more than {} s ago, over the age limit",
                self.max_age_s
            )
        })
    }

    /// How long a push lease lasts: the attempt's timeout and a margin (for `explicit` acks,
    /// the wait for the ack).
    pub fn lease(&self) -> Duration {
        let attempt = Duration::from_millis(self.timeout_ms) + Duration::from_secs(30);
        match self.ack {
            AckMode::Http => attempt,
            AckMode::Explicit => attempt.max(Duration::from_secs(self.explicit_ack_wait_s)),
        }
    }
}

/// An endpoint as journals and logs show it: without user information, query or fragment
/// (where credentials tend to be), e.g. `https://pfr.example:8443/smev/in`.
pub fn shown(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", endpoint));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

/// How a push attempt ended, for [`Bus::settle_push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    /// The endpoint took it (2xx).
    Taken,
    /// It failed: why (the HTTP status and the start of the body, a timeout, a refused
    /// connection).
    Failed(String),
}

impl Bus {
    /// The systems whose messages are pushed, with their settings.
    pub fn push_targets(&self) -> Vec<(Mnemonic, std::sync::Arc<DeliverySettings>)> {
        self.registry()
            .systems()
            .filter_map(|s| {
                let d = s.delivery.clone()?;
                (d.pushes_anything() && d.endpoint.is_some()).then(|| (s.mnemonic.clone(), d))
            })
            .collect()
    }

    /// Leases the next message of `recipient`'s `kind` queue for a push attempt.
    pub async fn lease_for_push(
        &self,
        recipient: &Mnemonic,
        kind: MessageKind,
        lease: Duration,
    ) -> Result<Option<StoredMessage>, BusError> {
        let request = LeaseRequest {
            recipient: recipient.clone(),
            kind,
            message_type: None,
            node_id: None,
            lease: time::Duration::try_from(lease).unwrap_or(time::Duration::MAX),
            now: self.now(),
            push: true,
            fair_first: self.fair_turn(recipient, kind),
        };
        Ok(self.store().lease_next(request).await?)
    }

    /// Settles push attempt `stored.delivery_count` of `stored` after `result`, described by
    /// `detail` (endpoint, outcome, latency): taken (acknowledged on the IS's behalf unless it
    /// acknowledges itself), retried after the back-off, or a dead letter. `false` when the
    /// lease was no longer there (it ran out and another attempt took it, or the IS acked).
    pub async fn settle_push(
        &self,
        stored: &StoredMessage,
        settings: &DeliverySettings,
        result: PushResult,
        detail: String,
        jitter: f64,
    ) -> Result<bool, BusError> {
        let m = &stored.message;
        let now = self.now();
        let outcome = match result {
            PushResult::Taken => LeaseOutcome::Pushed {
                detail,
                ack: (settings.ack == AckMode::Http).then(|| {
                    let (status, notice) = crate::bus::ack_rule(m.kind, true);
                    PushAck {
                        status,
                        notice: notice.map(str::to_owned),
                    }
                }),
            },
            PushResult::Failed(failure) => {
                let first = stored.first_delivered_at.unwrap_or(now);
                match settings.next_attempt(stored.delivery_count, first, now, jitter) {
                    Ok(until) => LeaseOutcome::Retry { detail, until },
                    Err(limit) => LeaseOutcome::DeadLetter {
                        detail,
                        reason: opensmev_xmldsig::xml::cut_chars(
                            &format!("{limit}; the last: {failure}"),
                            crate::bus::MAX_REASON_CHARS,
                        )
                        .into_owned(),
                    },
                }
            }
        };
        Ok(self
            .store()
            .settle_lease(&m.recipient, &m.id, stored.delivery_count, outcome, now)
            .await?)
    }

    /// Takes `stored` out of its queue for good after its push lease: the bus cannot build a
    /// message that carries it (as a poll does; journaled, its sender notified).
    pub async fn settle_undeliverable(
        &self,
        stored: &StoredMessage,
        reason: &str,
    ) -> Result<bool, BusError> {
        let m = &stored.message;
        let reason =
            opensmev_xmldsig::xml::cut_chars(reason, crate::bus::MAX_REASON_CHARS).into_owned();
        tracing::warn!(message_id = %m.id, recipient = %m.recipient, %reason,
            "a message can never be delivered; it leaves the queue");
        let outcome = LeaseOutcome::Undeliverable {
            reason,
            notice: crate::bus::UNDELIVERABLE_NOTICE.to_owned(),
        };
        Ok(self
            .store()
            .settle_lease(
                &m.recipient,
                &m.id,
                stored.delivery_count,
                outcome,
                self.now(),
            )
            .await?)
    }

    /// Dead letters matching `query`, newest first.
    pub async fn dead_letters(&self, query: DeadLetterQuery) -> Result<Vec<DeadLetter>, BusError> {
        Ok(self.store().dead_letters(query).await?)
    }

    /// Queues the dead letters matching `query` again, for a new round of attempts; `actor`
    /// (who asked) is journaled. Returns how many.
    pub async fn replay_dead_letters(
        &self,
        query: DeadLetterQuery,
        actor: &str,
    ) -> Result<u64, BusError> {
        let count = self
            .store()
            .replay_dead_letters(query, Some(actor.to_owned()), self.now())
            .await?;
        if count > 0 {
            tracing::info!(count, actor, "dead letters replayed");
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn backoff_doubles_up_to_its_limit() {
        let s = DeliverySettings {
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            ..DeliverySettings::default()
        };
        let got: Vec<u128> = (1..=6).map(|a| s.backoff(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(s.backoff(200).as_millis(), 1_000, "no overflow");
    }

    #[test]
    fn retries_stop_at_the_attempt_and_age_limits() {
        let s = DeliverySettings {
            max_attempts: 3,
            max_age_s: 10,
            backoff_initial_ms: 2_000,
            backoff_max_ms: 8_000,
            ..DeliverySettings::default()
        };
        let t0 = datetime!(2026-12-01 10:00 UTC);
        // Jitter 0 waits half the back-off, 1 the whole.
        assert_eq!(
            s.next_attempt(1, t0, t0, 0.0),
            Ok(t0 + Duration::from_secs(1))
        );
        assert_eq!(
            s.next_attempt(1, t0, t0, 1.0),
            Ok(t0 + Duration::from_secs(2))
        );
        assert_eq!(
            s.next_attempt(2, t0, t0, 1.0),
            Ok(t0 + Duration::from_secs(4))
        );
        let by_count = s.next_attempt(3, t0, t0, 0.0).unwrap_err();
        assert!(by_count.contains("3 of 3 attempts"), "{by_count}");
        let late = t0 + Duration::from_secs(8);
        let by_age = s.next_attempt(2, t0, late, 1.0).unwrap_err();
        assert!(by_age.contains("limit of 10 s"), "{by_age}");
    }

    #[test]
    fn endpoints_are_shown_without_credentials() {
        assert_eq!(
            shown("https://user:secret@pfr.example:8443/smev/in?token=x#f"),
            "https://pfr.example:8443/smev/in"
        );
        assert_eq!(shown("http://127.0.0.1:9/in"), "http://127.0.0.1:9/in");
        assert_eq!(shown("http://host?key=1"), "http://host");
    }

    #[test]
    fn a_message_handed_out_too_often_or_too_long_is_exhausted() {
        let s = DeliverySettings {
            max_attempts: 3,
            max_age_s: 60,
            ..DeliverySettings::default()
        };
        let t0 = datetime!(2026-12-01 10:00 UTC);
        assert_eq!(s.exhausted(3, Some(t0), t0), None);
        assert!(s.exhausted(4, Some(t0), t0).unwrap().contains("4 times"));
        let late = t0 + Duration::from_secs(61);
        assert!(s.exhausted(1, Some(t0), late).unwrap().contains("60 s"));
        assert_eq!(s.exhausted(1, None, late), None, "never handed out: no age");
        // Far-off limits do not overflow.
        let huge = DeliverySettings {
            max_age_s: u64::MAX,
            backoff_initial_ms: u64::MAX / 2,
            backoff_max_ms: u64::MAX,
            ..DeliverySettings::default()
        };
        assert_eq!(huge.exhausted(1, Some(t0), late), None);
        assert!(huge.next_attempt(1, t0, t0, 1.0).is_err());
    }

    #[test]
    fn settings_are_checked() {
        let known = |k: &str| k == "VS1";
        let push = DeliverySettings {
            mode: ModeName::Push,
            ..DeliverySettings::default()
        };
        let e = push.check("IS", known).unwrap_err();
        assert!(e.0.contains("endpoint is required"), "{}", e.0);
        let ftp = DeliverySettings {
            endpoint: Some("ftp://x".into()),
            ..push.clone()
        };
        assert!(
            ftp.check("IS", known)
                .unwrap_err()
                .0
                .contains("not an http")
        );
        let ok = DeliverySettings {
            endpoint: Some("http://127.0.0.1:9/in".into()),
            ..push.clone()
        };
        ok.check("IS", known).unwrap();
        let mut kinds = ok.clone();
        kinds.kinds.insert("VS2".into(), ModeName::Poll);
        assert!(kinds.check("IS", known).unwrap_err().0.contains("VS2"));
        let long = DeliverySettings {
            max_age_s: 365 * 86_400,
            ..ok.clone()
        };
        assert!(
            long.check("IS", known)
                .unwrap_err()
                .0
                .contains("max_age_s must be at most")
        );
        let zero = DeliverySettings {
            channels: 0,
            ..ok.clone()
        };
        assert!(zero.check("IS", known).unwrap_err().0.contains("channels"));
        // Per-kind modes over the IS's mode.
        let mut mixed = ok.clone();
        mixed.kinds.insert("VS1".into(), ModeName::Poll);
        assert_eq!(mixed.mode_of("VS1"), DeliveryMode::Poll);
        assert_eq!(mixed.mode_of("VS9"), DeliveryMode::Push);
    }
}
