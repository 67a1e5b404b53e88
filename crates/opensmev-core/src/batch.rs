//! Batches: many business requests in one submission. SMEV 3 has no batch: each item becomes one
//! ordinary SMEV request with its own `MessageID`, routed, validated, queued and answered on its
//! own, carrying the batch's id as its `TransactionCode` (unless the item gives one). The batch
//! itself — its id and its items' `MessageID`s, in order — is kept as a document of the store
//! (`batch/<system>/<id>`), written before any item is sent, so a batch sent again with the same
//! id (a retry after a lost answer) sends the same messages, which the bus reports as already
//! accepted instead of sending them twice. Its status is read from its items' messages.

use opensmev_store::{DeliveryState, NewAuditEntry, StoreError};
use opensmev_types::{InteractionStatus, MessageId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::AccessError;
use crate::integration::OutgoingRequest;
use crate::{Accepted, Bus, BusError, Caller};

/// The most items one batch may have.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// How many items of a batch are sent at once.
const CONCURRENCY: usize = 4;

/// The stored document of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BatchDoc {
    id: String,
    created_at: String,
    items: Vec<ItemDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ItemDoc {
    message_id: String,
}

/// What became of one item of a batch sent.
#[derive(Debug)]
pub struct ItemSent {
    /// Its `MessageID`.
    pub message_id: String,
    /// Accepted, or refused with the bus's reason (a message accepted by an earlier send of the
    /// same batch is [`BusError::MessageIsAlreadySent`]).
    pub outcome: Result<Accepted, BusError>,
}

/// A batch sent.
#[derive(Debug)]
pub struct BatchSent {
    /// Its id.
    pub id: String,
    /// Its items, in order.
    pub items: Vec<ItemSent>,
}

/// The state of one item of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    /// Its `MessageID`.
    pub message_id: MessageId,
    /// Its delivery state and interaction status; `None` when it was never accepted.
    pub message: Option<(DeliveryState, InteractionStatus)>,
}

/// A batch's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchState {
    /// Its id.
    pub id: String,
    /// When it was first sent.
    pub created_at: OffsetDateTime,
    /// Its items, in order.
    pub items: Vec<ItemState>,
}

fn doc_name(caller: &Caller, id: &str) -> String {
    format!("batch/{}/{id}", caller.system.mnemonic)
}

fn invalid(field: &'static str, message: impl Into<String>) -> AccessError {
    AccessError::Invalid {
        field,
        message: message.into(),
    }
}

fn check_id(id: &str) -> Result<(), AccessError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "batch_id",
            format!("«{id}»: 1–64 characters of A–Z, a–z, 0–9, '-', '_', '.'"),
        ))
    }
}

impl Bus {
    /// Sends `items` as one batch of `caller` (recorded by `actor` in the audit log): each an
    /// ordinary request, its `MessageID` fixed in the batch's document first. `id`: the caller's
    /// batch id (sending a batch again with it resends the same messages); `None`: the bus makes
    /// one.
    pub async fn send_batch_as(
        &self,
        caller: &Caller,
        actor: &str,
        id: Option<String>,
        mut items: Vec<OutgoingRequest>,
    ) -> Result<BatchSent, AccessError> {
        if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
            return Err(invalid(
                "items",
                format!(
                    "a batch has 1 to {MAX_BATCH_ITEMS} items, not {}",
                    items.len()
                ),
            ));
        }
        let id = match id {
            Some(id) => {
                check_id(&id)?;
                id
            }
            None => self.new_message_id()?.to_string(),
        };
        let name = doc_name(caller, &id);
        let now = self.now();
        let existing = self
            .store()
            .settings(&name)
            .await
            .map_err(BusError::Store)?;
        let doc = match existing {
            Some(found) => {
                let doc: BatchDoc = serde_json::from_str(&found.text).map_err(|e| {
                    BusError::Internal(format!("the stored batch {name} does not read: {e}"))
                })?;
                if doc.items.len() != items.len() {
                    return Err(AccessError::Conflict(format!(
                        "batch {id} was sent with {} items, not {}",
                        doc.items.len(),
                        items.len()
                    )));
                }
                doc
            }
            None => {
                let mut planned = Vec::with_capacity(items.len());
                for item in &items {
                    let message_id = match &item.message_id {
                        Some(m) => m.clone(),
                        None => self.new_message_id()?.to_string(),
                    };
                    planned.push(ItemDoc { message_id });
                }
                let doc = BatchDoc {
                    id: id.clone(),
                    created_at: crate::registry::rfc3339(now),
                    items: planned,
                };
                let text = serde_json::to_string(&doc)
                    .map_err(|e| BusError::Internal(format!("writing batch {id}: {e}")))?;
                let audit = NewAuditEntry {
                    at: now,
                    actor: actor.to_owned(),
                    action: "batch.send".into(),
                    target: format!("batch {id}"),
                    detail: format!(
                        "{} requests from {}",
                        doc.items.len(),
                        caller.system.mnemonic
                    ),
                };
                match self
                    .store()
                    .save_settings(&name, text, Some(0), now, audit)
                    .await
                {
                    Ok(_) => doc,
                    Err(StoreError::VersionConflict { .. }) => {
                        return Err(AccessError::Conflict(format!(
                            "batch {id} is being sent by another call"
                        )));
                    }
                    Err(e) => return Err(BusError::Store(e).into()),
                }
            }
        };
        for (item, planned) in items.iter_mut().zip(&doc.items) {
            item.message_id = Some(planned.message_id.clone());
            if item.transaction_code.is_none() {
                item.transaction_code = Some(id.clone());
            }
        }
        use futures_util::StreamExt as _;
        let sent: Vec<ItemSent> = futures_util::stream::iter(items.into_iter().map(|item| {
            let message_id = item.message_id.clone().unwrap_or_default();
            async move {
                let outcome = self.send_request_as(caller, item).await;
                ItemSent {
                    message_id,
                    outcome,
                }
            }
        }))
        .buffered(CONCURRENCY)
        .collect()
        .await;
        let accepted = sent.iter().filter(|i| i.outcome.is_ok()).count();
        tracing::info!(batch = %id, system = %caller.system.mnemonic, items = sent.len(), accepted,
            "a batch is sent");
        Ok(BatchSent { id, items: sent })
    }

    /// A batch of `caller` with the state of each item.
    pub async fn batch_as(&self, caller: &Caller, id: &str) -> Result<BatchState, AccessError> {
        check_id(id)?;
        let name = doc_name(caller, id);
        let Some(found) = self
            .store()
            .settings(&name)
            .await
            .map_err(BusError::Store)?
        else {
            return Err(AccessError::NotFound(format!("batch {id}")));
        };
        let doc: BatchDoc = serde_json::from_str(&found.text).map_err(|e| {
            BusError::Internal(format!("the stored batch {name} does not read: {e}"))
        })?;
        let created_at = OffsetDateTime::parse(
            &doc.created_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or(found.saved_at);
        let mut items = Vec::with_capacity(doc.items.len());
        for item in doc.items {
            let message_id = MessageId::parse(&item.message_id)
                .map_err(|e| BusError::Internal(format!("batch {id}: {}: {e}", item.message_id)))?;
            let message = self
                .store()
                .message(&message_id)
                .await
                .map_err(BusError::Store)?
                .filter(|m| m.message.sender == caller.system.mnemonic)
                .map(|m| (m.state, m.status));
            items.push(ItemState {
                message_id,
                message,
            });
        }
        Ok(BatchState {
            id: doc.id,
            created_at,
            items,
        })
    }
}
