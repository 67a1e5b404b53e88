//! [`WireError`]: everything the codec refuses, with enough detail for the bus to pick the fault.

use opensmev_xmldsig::xml::XmlError;

/// Why an HTTP body or a SOAP message cannot be decoded.
///
/// Mapping at the edge (the server's job): [`WireError::Invalid`] and [`WireError::Xml`] are
/// `InvalidContent` faults (the message is not what the schema allows);
/// [`WireError::UnknownOperation`] is a client error without an SMEV fault element (the real
/// SMEV, an Apache CXF service, answers "unexpected wrapper element"); the transport variants are
/// HTTP-level refusals (415 / 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The `Content-Type` is not one the SMEV binding uses.
    #[error("unsupported content type: {0}")]
    UnsupportedContentType(String),
    /// A charset other than UTF-8 was declared.
    #[error("unsupported charset {0:?}: only UTF-8 is accepted")]
    UnsupportedCharset(String),
    /// The `multipart/related` (MTOM/XOP) body is malformed.
    #[error("malformed multipart body: {0}")]
    Multipart(String),
    /// The XML is not well-formed or not acceptable to the hardened reader.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The SOAP envelope or the SMEV message violates the schema (missing, misplaced or unknown
    /// element, bad value, …).
    #[error("{message}")]
    Invalid {
        /// What is wrong, with the path of the element concerned.
        message: String,
        /// Byte offset of the element concerned in the XML, when known.
        position: Option<usize>,
    },
    /// The body element is not an operation of any supported schema version.
    #[error("unknown operation {{{namespace}}}{local}")]
    UnknownOperation {
        /// Namespace URI of the body element (`""` when none).
        namespace: String,
        /// Its local name.
        local: String,
    },
}

impl WireError {
    /// Byte offset in the XML where the problem was found, when known.
    pub fn position(&self) -> Option<usize> {
        match self {
            WireError::Invalid { position, .. } => *position,
            WireError::Xml(e) => Some(e.offset),
            _ => None,
        }
    }

    /// The error as an `InvalidContent/ValidationError` item: the message, and the byte offset
    /// as `errorPosition` (`None`, written `-1`, when unknown or beyond `i32`).
    pub fn to_validation_error(&self) -> crate::fault::ValidationErrorItem {
        crate::fault::ValidationErrorItem {
            text: self.to_string(),
            position: self.position().and_then(|p| i32::try_from(p).ok()),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>, position: Option<usize>) -> WireError {
        WireError::Invalid {
            message: message.into(),
            position,
        }
    }
}
