//! Reading the journal of messages as a principal: the searches and message views every edge
//! (the integration API, the web cabinet) offers, with the same scoping — an information
//! system's people and tokens see only their own system's messages, and another system's
//! message is "not found" to them (logged and counted as a refusal).

use opensmev_store::{JournalEvent, MessageQuery, MessageSummary, StoreError, StoredMessage};
use opensmev_types::MessageId;

use crate::auth::{Action, Denied, Principal};
use crate::bus::Bus;

/// Why a read of the journal gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No such message, or not one the principal may know of.
    #[error("no such message")]
    NotFound,
    /// The principal's role may not read it.
    #[error("{0}")]
    Denied(Denied),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message with its journal.
#[derive(Debug, Clone)]
pub struct MessageView {
    /// The message.
    pub stored: StoredMessage,
    /// Its journal, oldest first.
    pub events: Vec<JournalEvent>,
}

impl Bus {
    /// Messages matching `query` that `principal` may see, newest first. For an information
    /// system's principal the query is limited to its system (a filter naming another system
    /// finds nothing).
    pub async fn search_messages_as(
        &self,
        principal: &Principal,
        mut query: MessageQuery,
    ) -> Result<Vec<MessageSummary>, ReadError> {
        let own = principal.own_system().cloned();
        let action = if own.is_some() {
            Action::SearchOwnMessages
        } else {
            Action::SearchAllMessages
        };
        self.authorize(principal, action)
            .map_err(ReadError::Denied)?;
        if let Some(own) = own {
            match &query.system {
                Some(s) if *s != own => return Ok(Vec::new()),
                _ => query.system = Some(own),
            }
        }
        Ok(self.store().search_messages(query).await?)
    }

    /// Decides whether `principal` may read `stored` ([`ReadError::NotFound`] for an
    /// information system's principal and another system's message).
    pub fn may_read(&self, principal: &Principal, stored: &StoredMessage) -> Result<(), ReadError> {
        let m = &stored.message;
        let action = Action::ReadMessage {
            sender: &m.sender,
            recipient: &m.recipient,
        };
        match self.authorize(principal, action) {
            Ok(()) => Ok(()),
            // An IS may not learn which ids exist among other systems' messages.
            Err(_) if principal.own_system().is_some() => Err(ReadError::NotFound),
            Err(denied) => Err(ReadError::Denied(denied)),
        }
    }

    /// One message with its journal, if `principal` may read it.
    pub async fn message_as(
        &self,
        principal: &Principal,
        id: &MessageId,
    ) -> Result<MessageView, ReadError> {
        let stored = self.store().message(id).await?.ok_or(ReadError::NotFound)?;
        self.view_as(principal, stored).await
    }

    /// [`Bus::message_as`] of a message already read.
    pub async fn view_as(
        &self,
        principal: &Principal,
        stored: StoredMessage,
    ) -> Result<MessageView, ReadError> {
        self.may_read(principal, &stored)?;
        let mut events = self.store().journal(&stored.message.id).await?;
        // How the recipient's endpoint answered is the recipient's and the operators' business:
        // another system (the sender) sees that attempts were made, not their details.
        if principal
            .own_system()
            .is_some_and(|own| *own != stored.message.recipient)
        {
            for e in &mut events {
                if matches!(
                    e.kind,
                    opensmev_store::JournalKind::PushAttempt
                        | opensmev_store::JournalKind::DeadLettered
                ) {
                    e.detail = None;
                }
            }
        }
        Ok(MessageView { stored, events })
    }
}
