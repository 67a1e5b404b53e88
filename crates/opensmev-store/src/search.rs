//! Searching the journal of messages: the query and the summary rows it returns.

use opensmev_types::{InteractionStatus, MessageId, MessageKind, Mnemonic, QName};
use time::OffsetDateTime;

use crate::DeliveryState;

/// Which messages [`crate::Store::search_messages`] returns: every given condition holds. Order:
/// newest first (by the store's sequence number, which is the order of acceptance), stable
/// under concurrent inserts; paging by `before`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    /// The system is the sender or the recipient.
    pub system: Option<Mnemonic>,
    /// The sender.
    pub sender: Option<Mnemonic>,
    /// The recipient.
    pub recipient: Option<Mnemonic>,
    /// The kind of information (ВС) id.
    pub vs_id: Option<String>,
    /// Requests or responses.
    pub kind: Option<MessageKind>,
    /// Accepted at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Accepted before this time.
    pub to: Option<OffsetDateTime>,
    /// The current interaction status.
    pub status: Option<InteractionStatus>,
    /// The delivery state.
    pub state: Option<DeliveryState>,
    /// This `MessageID`.
    pub message_id: Option<MessageId>,
    /// This client id (the sender's own id, given through the integration API).
    pub client_id: Option<String>,
    /// Responses to this request.
    pub original_message_id: Option<MessageId>,
    /// The text occurs in the business content (the sender's signed data), case-sensitively.
    pub text: Option<String>,
    /// Only messages with `seq` below this (the cursor of the previous page).
    pub before: Option<i64>,
    /// At most this many (at least 1).
    pub limit: u32,
}

/// One message found by [`crate::Store::search_messages`]: everything but its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    /// Store-assigned sequence number (the cursor).
    pub seq: i64,
    /// `MessageID`.
    pub id: MessageId,
    /// Request or response.
    pub kind: MessageKind,
    /// Sender.
    pub sender: Mnemonic,
    /// Recipient.
    pub recipient: Mnemonic,
    /// The business root element.
    pub message_type: QName,
    /// The kind of information (ВС) id.
    pub vs_id: String,
    /// The sender's own id, if given.
    pub client_id: Option<String>,
    /// For responses: the request.
    pub original_message_id: Option<MessageId>,
    /// Accepted at.
    pub sent_at: OffsetDateTime,
    /// Delivery state.
    pub state: DeliveryState,
    /// How many times it was handed out.
    pub delivery_count: u32,
    /// The current interaction status.
    pub status: InteractionStatus,
    /// `TestMessage`.
    pub test_message: bool,
}
