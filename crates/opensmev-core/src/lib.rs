//! The OpenSMEV bus: one service function per SMEV operation, independent of any transport.
//!
//! The SOAP layer (and later the REST API) decodes a call into one of the `*Input` structs,
//! calls the matching [`Bus`] method, and encodes the result or maps the [`BusError`] to its
//! fault. The bus owns the rules: who the caller is (the certificate of its signature, matched
//! against the [`registry`]), whether the signature is valid, message-id rules, routing by the
//! business root element, grants, XSD validation, attachment checks, quotas, and the durable
//! hand-over to the [`Store`]. Nothing here knows HTTP, SOAP envelopes or SQL.
//!
//! Architecture invariant: a send is answered only after [`Store::enqueue`] returned, i.e. after
//! the message is durable.

pub mod admin;
pub mod auth;
pub mod batch;
pub mod cases;
pub mod delivery;
pub mod integration;
pub mod journal;
pub mod notify;
pub mod push;
pub mod registry;
pub mod session;
pub mod upkeep;

mod bus;
mod error;

pub use bus::{
    Accepted, AckInput, AttachmentsInput, Bus, BusConfig, Caller, Clock, FAIR_EVERY, HandOutError,
    ManualClock, PollInput, PollSpec, ReplyToken, ResponseBody, SendRequestInput,
    SendResponseInput, Signed, StatusInput, SystemClock,
};
pub use error::{
    BusError, ContentIssue, GrantPeriods, IssueText, Miscoordination, Recipient, Unsupported,
};
