//! [`WireError`]: everything the codec refuses, with enough detail for the bus to pick the fault.
//!
//! The errors carry structured data ([`Problem`], [`MultipartProblem`]) so that the server can
//! say them in its fault language; their `Display` is the English text.

use std::fmt;

use opensmev_xmldsig::xml::XmlError;

/// What is expected at a position of a child sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Local names of the elements that could come (in schema order).
    pub names: Vec<String>,
    /// The parent's local name when its end could come too.
    pub end_of: Option<String>,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut all: Vec<String> = self.names.clone();
        if let Some(parent) = &self.end_of {
            all.push(format!("the end of {parent}"));
        }
        match all.as_slice() {
            [] => f.write_str("nothing"),
            [one] => f.write_str(one),
            many => write!(f, "one of {}", many.join(", ")),
        }
    }
}

/// Why a SOAP envelope or an SMEV message is invalid (the data of [`WireError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The root is a SOAP 1.2 envelope.
    Soap12Envelope,
    /// The root is not a SOAP envelope at all (its name in Clark notation).
    NotAnEnvelope { root: String },
    /// The envelope has no `soap:Body`.
    MissingBody,
    /// `soap:Body` has no element.
    EmptyBody,
    /// `soap:Body` has a second element.
    SecondBodyElement { found: String },
    /// An element of the SOAP namespace after `soap:Body`.
    AfterBody { found: String },
    /// A header entry with `soap:mustUnderstand="1"`.
    MustUnderstand { entry: String },
    /// Character data where only elements may be.
    CharacterData { snippet: String },
    /// An attribute the schema does not allow.
    AttributeNotAllowed { name: String },
    /// A required attribute is missing.
    AttributeMissing { name: String },
    /// An element where another was expected.
    UnexpectedElement { found: String, expected: Expected },
    /// An element in the wrong namespace (`expected` in Clark notation).
    WrongNamespace { found: String, expected: String },
    /// A required element is missing.
    MissingElement { expected: Expected },
    /// More repetitions than allowed.
    TooMany { name: String, max: usize },
    /// A simple-content element contains an element.
    ElementInSimpleContent { parent: String, found: String },
    /// A value longer than allowed.
    TooLong { max: usize, length: usize },
    /// A value that is not of its type (`expected`: the type or pattern, e.g. `xs:int`).
    InvalidValue { value: String, expected: String },
    /// Any other problem, said in English.
    Other(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Soap12Envelope => write!(
                f,
                "SOAP 1.2 envelopes are not supported: SMEV uses SOAP 1.1 ({})",
                crate::ns::SOAP_ENV_NS
            ),
            Problem::NotAnEnvelope { root } => write!(
                f,
                "the document is not a SOAP 1.1 envelope: the root element is {root}"
            ),
            Problem::MissingBody => f.write_str("missing soap:Body"),
            Problem::EmptyBody => {
                f.write_str("soap:Body is empty: it must contain the SMEV request element")
            }
            Problem::SecondBodyElement { found } => write!(
                f,
                "soap:Body must contain exactly one element, found a second one: {found}"
            ),
            Problem::AfterBody { found } => write!(f, "unexpected element {found} after soap:Body"),
            Problem::MustUnderstand { entry } => write!(
                f,
                "header entry {entry} has soap:mustUnderstand=\"1\" and is not understood"
            ),
            Problem::CharacterData { snippet } => {
                write!(f, "character data is not allowed here (found {snippet:?})")
            }
            Problem::AttributeNotAllowed { name } => write!(f, "attribute {name} is not allowed"),
            Problem::AttributeMissing { name } => {
                write!(f, "the required attribute {name} is missing")
            }
            Problem::UnexpectedElement { found, expected } => {
                write!(f, "unexpected element {found}; expected {expected}")
            }
            Problem::WrongNamespace { found, expected } => write!(
                f,
                "element {found} is in the wrong namespace: expected {expected}"
            ),
            Problem::MissingElement { expected } => {
                write!(f, "missing required element: expected {expected}")
            }
            Problem::TooMany { name, max } => {
                write!(f, "at most {max} {name} elements are allowed")
            }
            Problem::ElementInSimpleContent { parent, found } => write!(
                f,
                "{parent} has simple content: element {found} is not allowed inside"
            ),
            Problem::TooLong { max, length } => {
                write!(f, "value is longer than {max} characters ({length})")
            }
            Problem::InvalidValue { value, expected } => {
                write!(f, "{value:?} is not a valid {expected}")
            }
            Problem::Other(text) => f.write_str(text),
        }
    }
}

impl From<String> for Problem {
    fn from(text: String) -> Problem {
        Problem::Other(text)
    }
}

impl From<&str> for Problem {
    fn from(text: &str) -> Problem {
        Problem::Other(text.to_owned())
    }
}

/// Why a `multipart/related` (MTOM/XOP) body is malformed (the data of
/// [`WireError::Multipart`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultipartProblem {
    /// `multipart/related` without a `boundary` parameter.
    NoBoundary,
    /// A boundary that cannot be used.
    UnusableBoundary(String),
    /// The boundary never occurs in the body.
    BoundaryNotFound,
    /// The body ends without the closing boundary.
    NotClosed,
    /// The body has no parts.
    NoParts,
    /// No part is the root (with the `start` Content-ID when one was named).
    NoRoot { start: Option<String> },
    /// Two parts have the same Content-ID.
    DuplicateContentId(String),
    /// More parts than allowed.
    TooManyParts(usize),
    /// A part header block over the limit (bytes).
    HeaderTooLarge(usize),
    /// The XML root part over the limit (bytes).
    RootTooLarge(usize),
    /// A part header that cannot be read.
    MalformedHeader(String),
    /// An unsupported `Content-Transfer-Encoding`.
    UnsupportedEncoding(String),
    /// A part whose base64 content is invalid (the decoder's English detail).
    InvalidBase64(String),
    /// An invalid quoted-printable escape.
    InvalidQuotedPrintable,
    /// Any other problem, said in English.
    Other(String),
}

impl fmt::Display for MultipartProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartProblem::NoBoundary => {
                f.write_str("multipart/related without a boundary parameter")
            }
            MultipartProblem::UnusableBoundary(b) => write!(f, "unusable boundary {b:?}"),
            MultipartProblem::BoundaryNotFound => {
                f.write_str("the boundary does not occur in the body")
            }
            MultipartProblem::NotClosed => f.write_str("the body ends without a closing boundary"),
            MultipartProblem::NoParts => f.write_str("the multipart body has no parts"),
            MultipartProblem::NoRoot { start: Some(start) } => {
                write!(f, "no part has the start Content-ID <{start}>")
            }
            MultipartProblem::NoRoot { start: None } => f.write_str("no root part"),
            MultipartProblem::DuplicateContentId(id) => {
                write!(f, "Content-ID <{id}> is used by two parts")
            }
            MultipartProblem::TooManyParts(max) => write!(f, "more than {max} parts"),
            MultipartProblem::HeaderTooLarge(max) => {
                write!(f, "a part header block is larger than {max} bytes")
            }
            MultipartProblem::RootTooLarge(max) => {
                write!(f, "the XML root part is larger than {max} bytes")
            }
            MultipartProblem::MalformedHeader(line) => write!(f, "malformed part header {line:?}"),
            MultipartProblem::UnsupportedEncoding(e) => {
                write!(f, "unsupported Content-Transfer-Encoding {e}")
            }
            MultipartProblem::InvalidBase64(detail) => write!(f, "base64 part: {detail}"),
            MultipartProblem::InvalidQuotedPrintable => {
                f.write_str("invalid quoted-printable escape")
            }
            MultipartProblem::Other(text) => f.write_str(text),
        }
    }
}

impl From<String> for MultipartProblem {
    fn from(text: String) -> MultipartProblem {
        MultipartProblem::Other(text)
    }
}

impl From<&str> for MultipartProblem {
    fn from(text: &str) -> MultipartProblem {
        MultipartProblem::Other(text.to_owned())
    }
}

/// Why an input of a composer ([`crate::compose`]) cannot go into a call (the data of
/// [`WireError::Compose`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComposeProblem {
    /// The XML is not one well-formed element standing alone: the hardened reader's verdict
    /// (not well-formed, a DTD, an undeclared prefix, no or a second root element, text outside
    /// the element, …); its offset is into that input.
    Xml(XmlError),
    /// The input is read but does not fit its place in the call: a value the schema does not
    /// allow, too long, a character XML 1.0 forbids, an element of the wrong kind.
    Invalid(Problem),
}

impl fmt::Display for ComposeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeProblem::Xml(e) => e.fmt(f),
            ComposeProblem::Invalid(problem) => problem.fmt(f),
        }
    }
}

/// Why an HTTP body or a SOAP message cannot be decoded.
///
/// Mapping at the edge (the server's job): [`WireError::Invalid`] and [`WireError::Xml`] are
/// `InvalidContent` faults (the message is not what the schema allows);
/// [`WireError::UnknownOperation`] is a client error without an SMEV fault element (the real
/// SMEV, an Apache CXF service, answers "unexpected wrapper element"); the transport variants are
/// HTTP-level refusals (415 / 400). [`WireError::Compose`] never comes from a received message:
/// it refuses what a caller asked a composer to write.
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
    Multipart(MultipartProblem),
    /// The XML is not well-formed or not acceptable to the hardened reader.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The SOAP envelope or the SMEV message violates the schema (missing, misplaced or unknown
    /// element, bad value, …).
    #[error("{}", invalid_text(path, problem))]
    Invalid {
        /// The path of the element concerned (empty when the problem names it).
        path: String,
        /// What is wrong.
        problem: Problem,
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
    /// An input of a composer ([`crate::send_request_call`], [`crate::send_response_call`])
    /// cannot go into the call. The caller's input is at fault, not a received message: an edge
    /// that composes on a caller's behalf answers it as a bad request, not as an SMEV fault.
    #[error("{input}: {problem}")]
    Compose {
        /// The input concerned, named as the composer's field (`business_xml`,
        /// `personal_signature_xml`, `transaction_code`, `attachments[1].id`, …).
        input: String,
        /// What is wrong with it.
        problem: ComposeProblem,
    },
}

fn invalid_text(path: &str, problem: &Problem) -> String {
    if path.is_empty() {
        problem.to_string()
    } else {
        format!("{path}: {problem}")
    }
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

    /// An invalid message whose English `message` names the element itself.
    pub(crate) fn invalid(message: impl Into<String>, position: Option<usize>) -> WireError {
        WireError::invalid_at(String::new(), Problem::Other(message.into()), position)
    }

    /// An invalid element at `path`.
    pub(crate) fn invalid_at(
        path: impl Into<String>,
        problem: impl Into<Problem>,
        position: Option<usize>,
    ) -> WireError {
        WireError::Invalid {
            path: path.into(),
            problem: problem.into(),
            position,
        }
    }

    /// A malformed multipart body.
    pub fn multipart(problem: impl Into<MultipartProblem>) -> WireError {
        WireError::Multipart(problem.into())
    }
}
