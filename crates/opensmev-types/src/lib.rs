//! Domain types of OpenSMEV, shared by the wire codec, the core and the stores.
//!
//! Newtypes whose constructors enforce their invariants (a [`MessageId`] is always a lower-case
//! RFC 4122 version-1 UUID; a [`Mnemonic`] is never empty), plus the small enums of the SMEV 3
//! message model. No I/O, no serde: serialization happens at the edges.

mod id;
mod model;

pub use id::{MessageId, MessageIdError};
pub use model::{
    DeliveryMode, InteractionStatus, MessageKind, Mnemonic, MnemonicError, Priority, QName, Role,
    SchemaVersion,
};
