//! The crate's error type ([`SchemaError`]) and the issue records reported by validation
//! ([`ValidationIssue`]) and schema compilation ([`CompileIssue`]).

use std::fmt;

/// One problem found while parsing or validating a document.
///
/// `line` and `column` are 1-based; 0 means libxml2 gave no position (for example "the document
/// has no root element"). For schema-validity errors the position is the start (`<`) of the element
/// the error is about (libxml2 itself reports only the line); for well-formedness errors it is where
/// the parser stopped. Columns count characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    /// 1-based line, 0 if unknown.
    pub line: u32,
    /// 1-based column in characters, 0 if unknown.
    pub column: u32,
    /// libxml2's message, trimmed (or this crate's own message for refused DTDs and the like).
    pub message: String,
}

impl ValidationIssue {
    pub(crate) fn without_position(message: impl Into<String>) -> Self {
        ValidationIssue {
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

/// One error reported by libxml2 while compiling a schema set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileIssue {
    /// Name of the file of the set the error is in ("" if libxml2 did not say).
    pub file: String,
    /// 1-based line in that file, 0 if unknown.
    pub line: u32,
    /// libxml2's message, trimmed.
    pub message: String,
}

impl fmt::Display for CompileIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.file.is_empty(), self.line) {
            (true, _) => f.write_str(&self.message),
            (false, 0) => write!(f, "{}: {}", self.file, self.message),
            (false, line) => write!(f, "{}:{}: {}", self.file, line, self.message),
        }
    }
}

/// Why a [`SchemaSet`](crate::SchemaSet) could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The set itself is unusable: empty, duplicate or malformed file names, entry point not in the
    /// set, a file too large for libxml2.
    #[error("invalid schema set: {0}")]
    InvalidSet(String),
    /// A file of the set is not well-formed XML, or carries a DOCTYPE (refused, like in documents).
    #[error("schema file '{file}' is not acceptable XML: {}", join(.issues))]
    Malformed {
        /// The file's name in the set.
        file: String,
        /// What the parser reported.
        issues: Vec<ValidationIssue>,
    },
    /// An `xs:import`, `xs:include` or `xs:redefine` names a location that is not a file of the set
    /// (nothing outside the set is ever read: no file system, no network).
    #[error("schema file '{}' refers to '{location}', which is not in the schema set", .from.as_deref().unwrap_or("?"))]
    ImportOutsideSet {
        /// The file that holds the reference, when libxml2 said which one.
        from: Option<String>,
        /// The `schemaLocation` as the referring file wrote it (`../common/types.xsd`), or, when
        /// it cannot be found there, as libxml2 resolved it (relative to the set when it points
        /// into it).
        location: String,
    },
    /// libxml2 rejected the schemas.
    #[error("schema compilation failed: {}", join(.issues))]
    Compile {
        /// libxml2's errors, in the order it reported them.
        issues: Vec<CompileIssue>,
    },
    /// libxml2 is not in the state this crate needs (out of memory, or another component replaced
    /// the process-wide external entity loader that keeps compilation inside the set).
    #[error("libxml2: {0}")]
    Environment(String),
    /// A print form (XSLT) that does not compile, or that fails on a document.
    #[error("print form: {0}")]
    PrintForm(String),
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
