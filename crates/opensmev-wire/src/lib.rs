//! The SMEV 3 wire codec of OpenSMEV: from an HTTP body to a checked, decoded request, and from
//! the core's answers to complete SOAP envelopes, for schema versions 1.1, 1.2 and 1.3.
//!
//! Layers:
//! * [`transport`]: `Content-Type` handling, a synchronous `multipart/related` (MTOM/XOP) parser
//!   ([`split_http_body`]), `SOAPAction` ([`soap_action_operation`]);
//! * [`frame`]: the body of an answer that delivers attachments ([`frame_answer`]): the signed
//!   XML around the attachments' bytes, base64 or MTOM parts, for the caller to stream;
//! * [`decode_request`]: the SOAP envelope and the SMEV request, checked against the version's
//!   schema while being read, into a [`Request`] with owned values and the element ids the core
//!   verifies signatures on;
//! * [`encode`]: every operation's answer ([`send_request_response`], …), exactly in the
//!   schema's element order, without `SMEVSignature` (the core signs afterwards);
//! * [`compose`]: the client calls that carry content ([`send_request_call`],
//!   [`send_response_call`]), unsigned, for an edge that signs on an information system's behalf
//!   and then decodes the call like any other;
//! * [`fault()`]: SOAP faults with the version's fault element;
//! * [`standalone`] and [`rewrite_sender_data`]: the sender's signed data as a stored fragment,
//!   byte-exact or mapped to another version.
//!
//! Architecture invariant: pure and synchronous — no tokio, no HTTP server, no I/O. All XML is
//! read through `opensmev_xmldsig::xml` (the hardened reader).

pub mod compose;
pub mod decode;
pub mod encode;
pub mod error;
pub mod fault;
pub mod fragment;
pub mod frame;
pub mod lexical;
pub mod multipart;
pub mod ns;
pub mod operation;
pub mod request;
pub mod transport;

pub use compose::{
    CALLER_SIGNED_ID, ComposedAttachment, ComposedRequest, ComposedResponse,
    ComposedResponseContent, send_request_call, send_response_call,
};
pub use decode::{FoundPart, PartLookup, decode_request};
pub use encode::{
    AsyncStatusResponse, DeliveredRequest, DeliveredResponse, FsAttachment, InteractionType,
    MessageMetadata, Participant, StatusItem, ack_response, async_status_sender_data,
    get_request_response, get_response_response, get_status_response, queue_statistics_response,
    send_request_response, send_response_response,
};
pub use error::WireError;
pub use fault::{
    FAULT_HTTP_STATUS, Fault, FaultKind, MAX_FAULT_TEXT_CHARS, MAX_ITEM_CHARS,
    MAX_VALIDATION_ERRORS, ValidationErrorItem, fault,
};
pub use fragment::{rewrite_sender_data, standalone};
pub use frame::{AnswerAttachment, FramedAnswer, Segment, base64_len, frame_answer};
pub use lexical::{NAIVE_DATETIME_OFFSET, format_date_time, parse_date_time};
pub use multipart::{MultipartReader, PartSink};
pub use operation::Operation;
pub use request::*;
pub use transport::{
    MTOM_ROOT_CONTENT_ID, MultipartType, Part, RootPart, SoapPayload, TEXT_XML_UTF8,
    multipart_type, part_content_id, part_content_type, soap_action_operation, split_http_body,
};
