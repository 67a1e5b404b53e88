//! Sending the cabinet's e-mail notifications: every `notify_interval_ms` one node of all
//! (the holder of the `notify` job claim) asks the bus which notices are due and sends them by
//! SMTP (`smtp_url`, lettre). Each notice is recorded once ([`opensmev_store::Store::once`])
//! before it is sent and forgotten again when sending fails, so it is sent once across nodes and
//! retried at the next round after a failure.

use std::sync::Arc;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::app::State;

/// The background job's name.
const JOB: &str = "notify";

/// The notification loop (returns at once when no `smtp_url` is configured).
pub(crate) async fn run(state: Arc<State>, node: String, base_url: String) {
    let Some(url) = state.config.smtp_url.clone() else {
        return;
    };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&url) {
        Ok(builder) => builder.build(),
        Err(e) => {
            tracing::error!(error = %e, "smtp_url cannot be used: no e-mail notifications");
            return;
        }
    };
    let from = match state.config.smtp_from.parse() {
        Ok(from) => from,
        Err(e) => {
            tracing::error!(error = %e, "smtp_from is not an address: no e-mail notifications");
            return;
        }
    };
    let interval = std::time::Duration::from_millis(state.config.notify_interval_ms);
    let ttl = time::Duration::try_from(interval * 5)
        .unwrap_or(time::Duration::seconds(5))
        .max(time::Duration::seconds(5));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let bus = &state.bus;
        match bus.store().claim_job(JOB, &node, ttl, bus.now()).await {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "the notifications job cannot be claimed now");
                continue;
            }
        }
        let notices = match bus.due_notices(&base_url).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "the due notifications cannot be read now");
                continue;
            }
        };
        for notice in notices {
            match bus.store().once(&notice.key, bus.now()).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "recording a notification");
                    continue;
                }
            }
            let sent = match notice.to.parse() {
                Ok(to) => match Message::builder()
                    .from(Clone::clone(&from))
                    .to(to)
                    .subject(notice.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(notice.body.clone())
                {
                    Ok(message) => transport
                        .send(message)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(format!("the address {:?}: {e}", notice.to)),
            };
            match sent {
                Ok(()) => {
                    tracing::info!(login = %notice.login, key = %notice.key, "a notification was sent")
                }
                Err(e) => {
                    tracing::warn!(login = %notice.login, key = %notice.key, error = %e,
                        "a notification could not be sent; it is tried again at the next round");
                    if let Err(e) = bus.store().forget_once(&notice.key).await {
                        tracing::error!(error = %e, key = %notice.key, "forgetting a notification that was not sent");
                    }
                }
            }
        }
    }
}
