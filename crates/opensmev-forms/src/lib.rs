//! Web forms generated at run time from the XSD set of a kind of information.
//!
//! The crate is pure (no I/O): the caller hands it the files of one XSD set, it compiles them into
//! a [`Schema`], builds a [`Form`] (a tree of [`Node`]s) for a global element, renders the form as
//! an HTML fragment ([`render_html`], with [`FORM_JS`] and [`FORM_CSS`]), turns submitted values
//! ([`FormValues`]) into instance XML ([`Form::build_xml`]) after friendly per-field checks
//! (required fields, SNILS/INN/OGRN/OGRNIP/KPP/passport check digits and formats, dates, numbers,
//! enumerations, lengths, patterns), reads values back from an existing instance
//! ([`Form::values_from_xml`]) and makes sample values that satisfy the types
//! ([`Form::sample_values`], [`Form::sample_values_full`]). Full XSD validation is not done here:
//! the bus validates the built XML with libxml2 afterwards, and [`Built::field_at_line`] maps an
//! error line back to the field.
//!
//! # Field paths
//!
//! Every input of the form has a *path*, used as its HTML `name` and as the key in [`FormValues`]:
//!
//! * the root element is `f.Root`; a child element is `<parent>.Name` (the local name, Cyrillic
//!   names are kept as they are);
//! * an element that may repeat (`maxOccurs` > 1) gets an index: `f.Root.Period[0].Employer`;
//! * an attribute is `<element>.@name`; the text of a simple element (or of an element with
//!   simple content) is the element's own path;
//! * a `xs:choice` is `<parent>.#c0` (`#c1`, … numbered in the element's content); its value is
//!   the index of the chosen branch (from 0) and the fields of branch `j` live under
//!   `<parent>.#c0.b<j>`, e.g. `f.Root.#c0.b1.Snils`;
//! * a `xs:sequence`/`xs:all` that is optional or repeats is `<parent>.#g0` (indexed when it
//!   repeats: `f.Root.#g0[2].Name`); a sequence that occurs exactly once adds no segment;
//! * a `xs:any` wildcard is `<parent>.#any0`, its value raw XML.
//!
//! Markers (never values of the XML):
//!
//! * `<repeat path>#n` (e.g. `f.Root.Period#n`): how many items the form holds; items are
//!   `0..max(#n, highest index seen + 1)`, gaps and items whose fields are all empty are skipped,
//!   so a client may remove items without renumbering;
//! * `<optional path>#on`: `0` means an optional section is switched off (its fields are ignored),
//!   `1` means it is present even if all its fields are empty; without the marker an optional
//!   element is present when any field under it is non-empty. The HTML posts a hidden `#on=0`
//!   before the checkbox `#on=1`; [`FormValues::from_pairs`] keeps the last value of a name.
//!
//! [`Form::field_id`] turns a path into an ASCII HTML id (`x` + the path with every byte other than
//! ASCII letters, digits and `_` written as `-hh`), so the repeat placeholder `__i__` survives in
//! ids as it does in names.

mod build;
mod check;
mod html;
mod ident;
mod model;
mod prefill;
mod regex;
mod sample;
mod values;
mod xsd;

pub use build::{BuildOptions, Built, FieldError};
pub use html::{FORM_CSS, FORM_JS, render_html};
pub use ident::{IdentKind, inn_valid, kpp_valid, ogrn_valid, ogrnip_valid, snils_valid};
pub use model::{
    Any, Attribute, Builtin, Content, Element, Facets, Form, Group, GroupKind, Node, SimpleType,
    Variety,
};
pub use values::FormValues;
pub use xsd::Schema;

/// The language of the user-visible texts of the HTML and of the field errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Russian (the default).
    #[default]
    Ru,
    /// English.
    En,
}

impl Lang {
    pub(crate) fn t<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ru => ru,
            Lang::En => en,
        }
    }
}

/// The one error type of the crate.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// A file of the set is not well-formed XML.
    #[error("{file}: not well-formed XML: {message}")]
    Xml {
        /// The file's relative path.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// The set holds no `xs:schema` document.
    #[error("no XSD schema in the files")]
    NoSchema,
    /// A reference (type, element, group, attribute) names a component not declared in the set.
    #[error("unresolved {kind} {{{namespace}}}{local}")]
    Unresolved {
        /// `type`, `element`, `group`, `attributeGroup` or `attribute`.
        kind: &'static str,
        /// The namespace of the name.
        namespace: String,
        /// The local name.
        local: String,
    },
    /// The requested root is not a global element of the set.
    #[error("no global element {{{namespace}}}{local}")]
    NoSuchRoot {
        /// The namespace asked for.
        namespace: String,
        /// The local name asked for.
        local: String,
    },
    /// The schema is too deep or too large to make a form of.
    #[error("the form is too large: {0}")]
    TooLarge(String),
    /// The XML given to prefill a form is not well-formed or has another root.
    #[error("instance: {0}")]
    Instance(String),
}
