//! Queue signals across nodes: `NOTIFY` in the transaction that makes a message available, and
//! one `LISTEN` connection per store handle that hands each notification to the listener.
//!
//! A change that makes a message available (an accepted enqueue, a released lease, leases found
//! run out by a sweep, a poll that held a message it did not take, replayed dead letters) calls
//! `pg_notify('opensmev_queue', payload)` inside its transaction: PostgreSQL sends the
//! notification at commit, to every listening session (every node, including the one that made
//! the change), and never for a transaction that rolled back.
//!
//! The payload is small text: the queue's kind (`REQUEST`/`RESPONSE`), a tab, the recipient, and
//! for a message bound to a node, a tab and the node. `%` and control characters (tab included)
//! in the recipient and the node are written `%XX` (their UTF-8 bytes), so any text survives.
//! PostgreSQL refuses payloads of 8000 bytes or more: a node id too long for that is left out,
//! which wakes the whole queue instead of one node's pollers (signals are hints).
//!
//! The listening connection is not pooled. When it breaks (a database restart, a failover) a
//! background task reconnects with a growing pause (0.2 s doubling up to 5 s) and listens again,
//! logging each failure; it also checks the connection every [`PING_EVERY`] so a connection
//! that died silently is noticed. Signals sent meanwhile are lost, which is harmless: pollers
//! poll again at their deadline anyway. The task ends when the store is dropped.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use opensmev_store::{QueueSignal, SignalListener, StoreError};
use opensmev_types::{MessageKind, Mnemonic};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::codec::pg_error;

/// The notification channel.
pub(crate) const CHANNEL: &str = "opensmev_queue";

/// The longest payload sent (PostgreSQL's limit is 8000 bytes, exclusive).
const MAX_PAYLOAD: usize = 7999;

/// The first pause before reconnecting, and the longest.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));

/// How often the listening connection is checked with a query.
const PING_EVERY: Duration = Duration::from_secs(30);

/// How long a check, or the `LISTEN` itself, may take.
const STATEMENT: Duration = Duration::from_secs(10);

/// The current listener, shared by the store and its listening task.
pub(crate) type Slot = RwLock<Option<SignalListener>>;

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        if c == '%' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The payload of a signal for `recipient`'s `kind` queue, bound to `node` or to none.
pub(crate) fn encode(recipient: &str, kind: MessageKind, node: Option<&str>) -> String {
    let mut out = String::from(kind.as_str());
    out.push('\t');
    escape(recipient, &mut out);
    if let Some(node) = node {
        let mut escaped = String::new();
        escape(node, &mut escaped);
        if out.len() + 1 + escaped.len() <= MAX_PAYLOAD {
            out.push('\t');
            out.push_str(&escaped);
        }
    }
    out
}

/// Parses [`encode`]; `None` for anything else.
pub(crate) fn decode(payload: &str) -> Option<QueueSignal> {
    let mut parts = payload.split('\t');
    let kind = match parts.next()? {
        "REQUEST" => MessageKind::Request,
        "RESPONSE" => MessageKind::Response,
        _ => return None,
    };
    let recipient = Mnemonic::parse(&unescape(parts.next()?)?).ok()?;
    let node = match parts.next() {
        Some(node) => Some(unescape(node)?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(QueueSignal {
        recipient,
        kind,
        node,
    })
}

/// Starts the listening task on `handle`; the receiver hears once whether the first `LISTEN`
/// succeeded. The task ends when `shutdown`'s sender is dropped.
pub(crate) fn start(
    handle: &tokio::runtime::Handle,
    config: Config,
    slot: Arc<Slot>,
    shutdown: watch::Receiver<()>,
) -> oneshot::Receiver<Result<(), StoreError>> {
    let (ready, first) = oneshot::channel();
    handle.spawn(listen_forever(config, slot, shutdown, ready));
    first
}

/// Why a listening session ended.
enum Ended {
    /// The store was dropped.
    Shutdown,
    /// The connection failed or broke.
    Lost(StoreError),
}

async fn listen_forever(
    config: Config,
    slot: Arc<Slot>,
    mut shutdown: watch::Receiver<()>,
    ready: oneshot::Sender<Result<(), StoreError>>,
) {
    let mut ready = Some(ready);
    let mut pause = BACKOFF.0;
    loop {
        match session(&config, &slot, &mut shutdown, &mut ready, &mut pause).await {
            Ended::Shutdown => return,
            Ended::Lost(error) => {
                if let Some(ready) = ready.take() {
                    // The first attempt failed: `connect` reports it (and drops the store).
                    let _ = ready.send(Err(error));
                    return;
                }
                tracing::warn!(
                    %error,
                    retry_in_ms = pause.as_millis() as u64,
                    "the connection listening for queue signals was lost; reconnecting"
                );
            }
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(BACKOFF.1);
    }
}

/// One connection: connect, `LISTEN`, then forward notifications until it breaks or the store
/// is dropped.
async fn session(
    config: &Config,
    slot: &Slot,
    shutdown: &mut watch::Receiver<()>,
    ready: &mut Option<oneshot::Sender<Result<(), StoreError>>>,
    pause: &mut Duration,
) -> Ended {
    let what = "listening for queue signals";
    let connecting = tokio::select! {
        _ = shutdown.changed() => return Ended::Shutdown,
        connected = config.connect(NoTls) => connected,
    };
    let (client, mut connection) = match connecting {
        Ok(pair) => pair,
        Err(e) => return Ended::Lost(pg_error(e, what).error),
    };
    let (sender, mut notifications) = mpsc::unbounded_channel();
    // The connection is driven by a task of its own, which also receives the notifications.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if sender.send(Ok(n)).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let _ = sender.send(Err(e));
                    return;
                }
                None => return,
            }
        }
    });
    let _abort = AbortOnDrop(driver.abort_handle());
    let listening = tokio::time::timeout(
        STATEMENT,
        client.batch_execute(&format!("LISTEN {CHANNEL}")),
    )
    .await;
    match listening {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Ended::Lost(pg_error(e, what).error),
        Err(_) => {
            return Ended::Lost(StoreError::Unavailable(format!(
                "{what}: LISTEN had no answer within {} s",
                STATEMENT.as_secs()
            )));
        }
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(Ok(()));
    } else {
        tracing::info!("listening for queue signals again");
    }
    *pause = BACKOFF.0;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ended::Shutdown,
            notification = notifications.recv() => match notification {
                Some(Ok(n)) if n.channel() == CHANNEL => deliver(slot, n.payload()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Lost(pg_error(e, what).error),
                None => {
                    return Ended::Lost(StoreError::Unavailable(format!(
                        "{what}: the connection closed"
                    )));
                }
            },
            _ = ping.tick() => {
                match tokio::time::timeout(STATEMENT, client.simple_query("")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Ended::Lost(pg_error(e, what).error),
                    Err(_) => {
                        return Ended::Lost(StoreError::Unavailable(format!(
                            "{what}: the connection did not answer a check within {} s",
                            STATEMENT.as_secs()
                        )));
                    }
                }
            }
        }
    }
}

/// Aborts the connection's task when the session ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn deliver(slot: &Slot, payload: &str) {
    let Some(signal) = decode(payload) else {
        tracing::debug!(payload, "ignoring a queue signal that does not parse");
        return;
    };
    let listener = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(listener) = listener {
        listener(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_any_node_id() {
        let cases = [
            ("PFR01", MessageKind::Request, None),
            ("МВД_01", MessageKind::Response, Some("узел-1")),
            ("C", MessageKind::Response, Some("")),
            (
                "A%B",
                MessageKind::Request,
                Some("tab\there, newline\n, 100%, %41"),
            ),
            ("X", MessageKind::Request, Some("\u{0}\u{1f}\u{7f}\u{85}")),
        ];
        for (recipient, kind, node) in cases {
            let payload = encode(recipient, kind, node);
            assert!(payload.len() <= MAX_PAYLOAD);
            assert_eq!(payload.split('\t').count(), 2 + usize::from(node.is_some()));
            let signal = decode(&payload).unwrap();
            assert_eq!(signal.recipient.as_str(), recipient);
            assert_eq!(signal.kind, kind);
            assert_eq!(signal.node.as_deref(), node);
        }
    }

    #[test]
    fn a_node_id_too_long_wakes_the_whole_queue() {
        let long = "ы".repeat(5000);
        let payload = encode("R", MessageKind::Request, Some(&long));
        assert!(payload.len() <= MAX_PAYLOAD);
        assert_eq!(decode(&payload).unwrap().node, None);
        let fits = "n".repeat(MAX_PAYLOAD - "REQUEST\tR\t".len());
        let payload = encode("R", MessageKind::Request, Some(&fits));
        assert_eq!(payload.len(), MAX_PAYLOAD);
        assert_eq!(
            decode(&payload).unwrap().node.as_deref(),
            Some(fits.as_str())
        );
    }

    #[test]
    fn malformed_payloads_are_ignored() {
        for payload in [
            "",
            "REQUEST",
            "QUEUE\tR",
            "REQUEST\t",
            "REQUEST\tR\tn\textra",
            "REQUEST\tR\t%4",
            "REQUEST\tR\t%ZZ",
            "REQUEST\tR\t%FF",
            "REQUEST\twith space",
        ] {
            assert_eq!(decode(payload), None, "{payload:?}");
        }
    }
}
