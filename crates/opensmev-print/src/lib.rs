//! Printable documents of the web cabinet: a message's business content rendered to PDF.
//!
//! The crate is pure (no I/O): the caller builds a [`Document`] (a title, label–value meta rows,
//! a body of [`Block`]s and an optional footer line) and [`pdf`] returns the bytes of a PDF.
//!
//! # Layout
//!
//! A4 pages with 20 mm margins. The title is in PT Sans Bold 16 pt, wrapped over the full width,
//! followed by the meta rows (9.5 pt) and a rule. Each [`Block::Row`] is two columns: the label on
//! the left (40 % of the row's width, grey) and the value on the right (black, 10 pt), separated
//! from the next row by a thin rule. A [`Block::Section`] prints its title in bold 11 pt and
//! indents its body by 14 pt per level (at most 30 % of the width, however deep the nesting).
//! Text is wrapped by the fonts' advance widths: at spaces, and by characters inside words longer
//! than their column (Base64, ids); `\n` starts a new line. Pages break between rows; a row is
//! split across pages only when it is longer than a page, and a section title never ends a page
//! on its own. The footer of every page carries the caller's line on the left and
//! "стр. N из M" on the right.
//!
//! Text is arbitrary: control and invisible format characters are dropped, characters the fonts
//! lack (emoji, say) print as `?`. [`pdf`] never panics on any input; a document longer than
//! [`MAX_PAGES`] pages is refused with [`PrintError::TooLong`].
//!
//! # Font
//!
//! PT Sans Regular and Bold by ParaType (TrueType, full Cyrillic), embedded in the binary with
//! `include_bytes!` and subset into each PDF by krilla. The files come from Debian's
//! `fonts-paratype` package (version 20181108-3: `PTS55F.ttf`, `PTS75F.ttf`) and are distributed
//! under the ParaType Free Font License; see `fonts/README.md` and `fonts/LICENSE.txt`.

mod font;
mod layout;
mod render;

/// The most pages [`pdf`] produces; longer documents are refused.
pub const MAX_PAGES: usize = 5000;

/// A document to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// The heading of the first page.
    pub title: String,
    /// Label–value rows printed under the title (message id, kind, sender, date…).
    pub meta: Vec<(String, String)>,
    /// The content.
    pub body: Vec<Block>,
    /// A line at the bottom of each page; the page numbers are added to it.
    pub footer: Option<String>,
}

/// Content: a label–value row, or a titled section of blocks (nested to any depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A label and its value, printed side by side.
    Row {
        /// The field's name.
        label: String,
        /// The field's value.
        value: String,
    },
    /// A titled group of blocks, printed indented under its title.
    Section {
        /// The section's heading.
        title: String,
        /// The section's content.
        body: Vec<Block>,
    },
}

/// Why a document could not be printed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrintError {
    /// The document would take more than [`MAX_PAGES`] pages.
    #[error("the document would take {pages} pages, more than the limit of {limit}")]
    TooLong {
        /// Pages the document would take.
        pages: usize,
        /// [`MAX_PAGES`].
        limit: usize,
    },
    /// An embedded font file could not be read (a build defect).
    #[error("the embedded font {0} cannot be read")]
    Font(&'static str),
    /// The PDF writer failed.
    #[error("cannot write the PDF: {0}")]
    Pdf(String),
    /// The PDF writer panicked; the panic was caught.
    #[error("the PDF writer failed unexpectedly: {0}")]
    Internal(String),
}

/// Renders `doc` as a PDF (A4, PT Sans embedded) and returns its bytes.
///
/// # Errors
///
/// [`PrintError::TooLong`] for a document of more than [`MAX_PAGES`] pages; the other variants
/// only for defects (unreadable embedded fonts, a failure or panic in the PDF writer).
pub fn pdf(doc: &Document) -> Result<Vec<u8>, PrintError> {
    // The layout is ours and written not to panic; the guard keeps a defect in the PDF writer
    // from taking down the caller's thread with arbitrary input.
    std::panic::catch_unwind(|| render_pdf(doc)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        Err(PrintError::Internal(message))
    })
}

fn render_pdf(doc: &Document) -> Result<Vec<u8>, PrintError> {
    let faces = font::Faces::load()?;
    let layout = layout::layout(doc, &faces);
    if layout.pages.len() > MAX_PAGES {
        return Err(PrintError::TooLong {
            pages: layout.pages.len(),
            limit: MAX_PAGES,
        });
    }
    let title = faces.regular.prepare(&doc.title).replace('\n', " ");
    render::render(&layout, &faces, title.trim())
}
