//! XSD 1.0 validation for OpenSMEV on libxml2 (through the `libxml` crate): the official SMEV 3
//! schemas embedded in the binary, and schema sets (business XSDs) resolved in memory.
//!
//! * [`official_file`], [`official_files`]: the published 1.1/1.2/1.3 XSD and WSDL files, byte for
//!   byte, for serving at `?wsdl` / `?xsd=NAME` ([`official_file_for_endpoint`] points their
//!   locations at this bus);
//! * [`validate_official`]: a message-exchange element against the schemas of its version;
//! * [`SchemaSet`]: named XSD texts with an entry point, imports resolved among themselves only,
//!   `Send + Sync`, compiled once per thread into a thread-local cache;
//! * [`PrintForm`]: an XSLT print form of a kind of information (libxslt), applied to business
//!   content with every load and file or network access forbidden.
//!
//! Documents are parsed strictly: no recovery, no network, no DTD (a DOCTYPE is refused), no entity
//! expansion, no external load of any kind; libxml2's messages are collected, never printed.
//!
//! Architecture invariant: pure and synchronous; no tokio, HTTP or SQL. All unsafe code (libxml2
//! and libxslt calls) is in the private `engine` module.

mod engine;
mod error;
mod official;
mod print;
mod set;
mod translate;

pub use error::{CompileIssue, SchemaError, ValidationIssue};
pub use official::{
    OFFICIAL_VERSIONS, official_file, official_file_for_endpoint, official_files,
    official_schema_set, validate_official,
};
pub use print::PrintForm;
pub use set::{SchemaSet, cached_on_this_thread, compiles_on_this_thread};
pub use translate::message_ru;
