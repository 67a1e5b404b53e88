//! The only module that talks to libxml2 (through `libxml::bindings`): one-time initialisation,
//! the process-wide external entity loader that keeps every load inside a schema set, error
//! collection, strict parsing and schema compilation/validation.
//!
//! Everything here runs on the calling thread and leaves no libxml2 object behind except the
//! [`Compiled`] value it returns, which is `!Send` and lives in the thread-local cache of `set.rs`.
//!
//! How loads are confined: libxml2 routes every external load (the entry schema, each
//! `schemaLocation`, DTD subsets, external entities) through one process-wide "external entity
//! loader". This module installs its own loader once. The loader looks at a thread-local mode:
//! * while this thread compiles a set, it serves only the set's files (by resolved location or
//!   alias) and records every other location as refused;
//! * while this thread parses a document, it refuses everything and records it;
//! * otherwise (other code on this thread, or any other thread) it delegates to the loader that
//!   was installed before, so the rest of the process sees no change.
//!
//! How errors are collected without printing to stderr: libxml2 prefers a structured error handler
//! over its default (printing) one, and that handler is per thread. Every operation here installs
//! a collecting handler for its duration and restores the previous one after ([`ErrorSink`]).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::{Arc, Once, OnceLock};

use libxml::bindings as x;

use crate::error::{CompileIssue, SchemaError, ValidationIssue};
use crate::set::Sources;

/// Base of the virtual URLs of the files of a set: file `a/b.xsd` is `opensmev-set://schemas/a/b.xsd`.
/// Relative `schemaLocation`s resolve against it with ordinary URI rules; nothing with this scheme
/// can be fetched by libxml2's own handlers.
pub(crate) const ROOT: &str = "opensmev-set://schemas/";

/// Base of the URLs of the synthetic driver schemas of a set with several entry points (see
/// `set.rs`); no file of a set has such a URL.
pub(crate) const DRIVER: &str = "opensmev-set://driver/";

/// At most this many issues are reported for one document (libxml2 can emit one per element).
const MAX_ISSUES: usize = 100;

/// A validation context is replaced after this many documents: its dictionary keeps every QName
/// value it interned, which would otherwise grow for as long as the thread lives.
const VALIDATION_CONTEXT_REUSE: u32 = 10_000;

/// Parser options for documents and for the well-formedness check of schema files: no recovery,
/// no network, no DTD loading, no entity substitution (none of `XML_PARSE_RECOVER`, `NOENT`,
/// `DTDLOAD`, `DTDATTR`, `DTDVALID`, `XINCLUDE`, `HUGE`), the text is UTF-8 whatever its XML
/// declaration says (it is a Rust `&str`), line numbers beyond 65535 kept.
const PARSE_OPTIONS: c_int = (x::xmlParserOption_XML_PARSE_NONET
    | x::xmlParserOption_XML_PARSE_IGNORE_ENC
    | x::xmlParserOption_XML_PARSE_BIG_LINES) as c_int;

// ---------------------------------------------------------------------------------------------
// Initialisation and the external entity loader

/// The loader that was installed before ours; used for loads that are none of our business.
static PREVIOUS_LOADER: OnceLock<x::xmlExternalEntityLoader> = OnceLock::new();

pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        libxml::init_parser();
        // `xmlSchemaParse` lazily calls `xmlSchemaInitTypes`, which is not thread-safe. The
        // `libxml` crate serialises that call behind a private `OnceLock` that runs when it compiles
        // a schema, so compile a trivial schema through the crate once before any compile of ours.
        let mut parser = libxml::schemas::SchemaParserContext::from_buffer(
            "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>",
        );
        let _ = libxml::schemas::SchemaValidationContext::from_parser(&mut parser);
        // SAFETY: plain libxml2 calls; the loader is a valid `extern "C"` function for the life
        // of the process.
        unsafe {
            let _ = PREVIOUS_LOADER.set(x::xmlGetExternalEntityLoader());
            x::xmlSetExternalEntityLoader(Some(entity_loader));
        }
    });
}

fn loader_is_ours() -> bool {
    // SAFETY: reads a libxml2 global.
    let current = unsafe { x::xmlGetExternalEntityLoader() };
    current.is_some_and(|f| {
        std::ptr::fn_addr_eq(
            f,
            entity_loader
                as unsafe extern "C" fn(
                    *const c_char,
                    *const c_char,
                    x::xmlParserCtxtPtr,
                ) -> x::xmlParserInputPtr,
        )
    })
}

enum LoaderMode {
    /// Not inside an operation of this crate: delegate to the previous loader.
    Inactive,
    /// Parsing a document: refuse every load.
    Deny,
    /// Compiling a set: serve its files, refuse anything else.
    Set(Arc<Sources>),
}

thread_local! {
    static LOADER_MODE: RefCell<LoaderMode> = const { RefCell::new(LoaderMode::Inactive) };
    /// Locations refused by the loader during the current operation of this thread.
    static REFUSED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// How many schemas this thread has compiled (see [`compiles_on_this_thread`]).
    static COMPILES: Cell<u64> = const { Cell::new(0) };
}

/// Sets the loader mode of this thread for the guard's lifetime (and clears the refusal list).
struct LoaderGuard;

impl LoaderGuard {
    fn enter(mode: LoaderMode) -> LoaderGuard {
        LOADER_MODE.with(|m| *m.borrow_mut() = mode);
        REFUSED.with(|r| r.borrow_mut().clear());
        LoaderGuard
    }

    fn refused(&self) -> Vec<String> {
        REFUSED.with(|r| std::mem::take(&mut *r.borrow_mut()))
    }
}

impl Drop for LoaderGuard {
    fn drop(&mut self) {
        LOADER_MODE.with(|m| *m.borrow_mut() = LoaderMode::Inactive);
        REFUSED.with(|r| r.borrow_mut().clear());
    }
}

/// What the loader decided for one URL.
enum Decision {
    Delegate,
    Serve { url: String, text: String },
    Refuse,
}

unsafe extern "C" fn entity_loader(
    url: *const c_char,
    id: *const c_char,
    ctxt: x::xmlParserCtxtPtr,
) -> x::xmlParserInputPtr {
    let requested = if url.is_null() {
        String::new()
    } else {
        // SAFETY: libxml2 passes a NUL-terminated string valid for the call.
        unsafe { CStr::from_ptr(url) }
            .to_string_lossy()
            .into_owned()
    };
    let decision = LOADER_MODE.with(|mode| match &*mode.borrow() {
        LoaderMode::Inactive => Decision::Delegate,
        LoaderMode::Deny => Decision::Refuse,
        LoaderMode::Set(sources) => match sources.resolve(&requested) {
            Some((url, text)) => Decision::Serve {
                url,
                text: parse_view(text).into_owned(),
            },
            None => Decision::Refuse,
        },
    });
    match decision {
        Decision::Delegate => match PREVIOUS_LOADER.get().copied().flatten() {
            // SAFETY: forwarding the arguments we were given to the previously installed loader.
            Some(previous) => unsafe { previous(url, id, ctxt) },
            None => ptr::null_mut(),
        },
        Decision::Refuse => {
            REFUSED.with(|r| r.borrow_mut().push(requested));
            ptr::null_mut()
        }
        // SAFETY: `ctxt` is the parser context libxml2 gave us (may be null, which libxml2 accepts).
        Decision::Serve { url, text } => unsafe { input_from_memory(ctxt, &text, &url) },
    }
}

/// A parser input over a copy of `text`, whose base URL (for resolving relative locations in it)
/// is `url`.
unsafe fn input_from_memory(
    ctxt: x::xmlParserCtxtPtr,
    text: &str,
    url: &str,
) -> x::xmlParserInputPtr {
    let (Ok(len), Ok(c_url)) = (c_int::try_from(text.len()), CString::new(url)) else {
        return ptr::null_mut();
    };
    // SAFETY: libxml2 copies the bytes into its own buffer; the input takes ownership of the
    // buffer and of the `filename` string (freed with xmlFree, matching xmlCharStrdup).
    unsafe {
        let buffer = x::xmlParserInputBufferCreateMem(
            text.as_ptr().cast(),
            len,
            x::xmlCharEncoding_XML_CHAR_ENCODING_NONE,
        );
        if buffer.is_null() {
            return ptr::null_mut();
        }
        let input = x::xmlNewIOInputStream(ctxt, buffer, x::xmlCharEncoding_XML_CHAR_ENCODING_NONE);
        if input.is_null() {
            x::xmlFreeParserInputBuffer(buffer);
            return ptr::null_mut();
        }
        (*input).filename = x::xmlCharStrdup(c_url.as_ptr()) as *const c_char;
        input
    }
}

/// The text of a schema file as libxml2 should parse it: the Rust string is UTF-8, so an XML
/// declaration that names another encoding is rewritten to say UTF-8 (same line count). The stored
/// and served text is never changed.
pub(crate) fn parse_view(text: &str) -> std::borrow::Cow<'_, str> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let offset = text.len() - body.len();
    if !body.starts_with("<?xml") {
        return text.into();
    }
    let Some(end) = body.find("?>") else {
        return text.into();
    };
    let decl = &body[..end];
    let Some(at) = decl.find("encoding") else {
        return text.into();
    };
    let rest = &decl[at + "encoding".len()..];
    let Some(eq) = rest.find('=') else {
        return text.into();
    };
    let value = rest[eq + 1..].trim_start();
    let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return text.into();
    };
    let Some(len) = value[1..].find(quote) else {
        return text.into();
    };
    let name = &value[1..1 + len];
    if name.eq_ignore_ascii_case("utf-8") || name.eq_ignore_ascii_case("utf8") {
        return text.into();
    }
    let start = offset + (decl.len() - value.len()) + 1;
    let mut owned = String::with_capacity(text.len());
    owned.push_str(&text[..start]);
    owned.push_str("UTF-8");
    owned.push_str(&text[start + len..]);
    owned.into()
}

// ---------------------------------------------------------------------------------------------
// Error collection

/// One error as libxml2 reported it.
struct RawError {
    level: x::xmlErrorLevel,
    message: String,
    file: String,
    line: i32,
    column: i32,
    /// The node the error is about (an address in the document being validated), or 0.
    node: usize,
}

/// Installs a collecting structured error handler for this thread and restores the previous one
/// on drop. While it is installed nothing reaches libxml2's default handler (stderr).
struct ErrorSink {
    /// Boxed so that its address, which libxml2 holds, does not move with the sink.
    #[allow(clippy::box_collection)]
    errors: Box<Vec<RawError>>,
    saved_handler: x::xmlStructuredErrorFunc,
    saved_context: *mut c_void,
}

impl ErrorSink {
    fn install() -> ErrorSink {
        let mut errors: Box<Vec<RawError>> = Box::default();
        // SAFETY: the per-thread handler slots are read and written on this thread only; the
        // context pointer stays valid until `drop` restores the previous handler.
        unsafe {
            let saved_handler = *x::__xmlStructuredError();
            let saved_context = *x::__xmlStructuredErrorContext();
            let context = (&mut *errors as *mut Vec<RawError>).cast::<c_void>();
            x::xmlSetStructuredErrorFunc(context, structured_handler());
            ErrorSink {
                errors,
                saved_handler,
                saved_context,
            }
        }
    }

    fn take(&mut self) -> Vec<RawError> {
        std::mem::take(&mut *self.errors)
    }
}

impl Drop for ErrorSink {
    fn drop(&mut self) {
        // SAFETY: restores what `install` saved, on the same thread.
        unsafe { x::xmlSetStructuredErrorFunc(self.saved_context, self.saved_handler) }
    }
}

/// The collecting handler, typed for the installed libxml2 (its error parameter became `const` in
/// 2.12; the ABI is the same).
#[allow(clippy::missing_transmute_annotations)]
fn structured_handler() -> x::xmlStructuredErrorFunc {
    let handler: unsafe extern "C" fn(*mut c_void, *const x::xmlError) = collect_error;
    // SAFETY: only the constness of a pointer parameter can differ between the two types.
    Some(unsafe {
        std::mem::transmute::<unsafe extern "C" fn(*mut c_void, *const x::xmlError), _>(handler)
    })
}

/// The most libxml2 messages collected for one parse or validation.
const MAX_COLLECTED_ERRORS: usize = 1000;

unsafe extern "C" fn collect_error(context: *mut c_void, error: *const x::xmlError) {
    if context.is_null() || error.is_null() {
        return;
    }
    // SAFETY: `context` is the `Vec` installed by `ErrorSink::install` on this thread; `error` is
    // valid for the duration of the call.
    unsafe {
        let sink = &mut *context.cast::<Vec<RawError>>();
        if sink.len() >= MAX_COLLECTED_ERRORS {
            return; // enough to report; a hostile document may cause millions
        }
        let error = &*error;
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        sink.push(RawError {
            level: error.level,
            message: text(error.message).trim().to_owned(),
            file: text(error.file),
            line: error.line,
            column: error.int2,
            node: error.node as usize,
        });
    }
}

fn is_error(e: &RawError) -> bool {
    e.level >= x::xmlErrorLevel_XML_ERR_ERROR
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// State shared with the SAX hooks through `ctxt->_private` during one parse.
#[derive(Default)]
struct ParseState {
    /// (element node address, byte offset just past its start tag's name and attributes).
    elements: Vec<(usize, usize)>,
    /// Position of a refused DOCTYPE.
    doctype: Option<(u32, u32)>,
}

unsafe extern "C" fn on_start_element(
    ctx: *mut c_void,
    localname: *const x::xmlChar,
    prefix: *const x::xmlChar,
    uri: *const x::xmlChar,
    nb_namespaces: c_int,
    namespaces: *mut *const x::xmlChar,
    nb_attributes: c_int,
    nb_defaulted: c_int,
    attributes: *mut *const x::xmlChar,
) {
    // SAFETY: `ctx` is the parser context (its `userData` is itself); we first let libxml2's own
    // SAX2 handler build the element, then note where its start tag ends.
    unsafe {
        x::xmlSAX2StartElementNs(
            ctx,
            localname,
            prefix,
            uri,
            nb_namespaces,
            namespaces,
            nb_attributes,
            nb_defaulted,
            attributes,
        );
        let ctxt = ctx as x::xmlParserCtxtPtr;
        let state = (*ctxt)._private.cast::<ParseState>();
        let node = (*ctxt).node;
        if !state.is_null() && !node.is_null() {
            let consumed = x::xmlByteConsumed(ctxt);
            if let Ok(offset) = usize::try_from(consumed) {
                (*state).elements.push((node as usize, offset));
            }
        }
    }
}

unsafe extern "C" fn on_doctype(
    ctx: *mut c_void,
    _name: *const x::xmlChar,
    _external_id: *const x::xmlChar,
    _system_id: *const x::xmlChar,
) {
    // SAFETY: as above; stopping the parser here means no entity or DTD declaration is processed.
    unsafe {
        let ctxt = ctx as x::xmlParserCtxtPtr;
        let state = (*ctxt)._private.cast::<ParseState>();
        if !state.is_null() && (*state).doctype.is_none() {
            let input = (*ctxt).input;
            let position = if input.is_null() {
                (0, 0)
            } else {
                (
                    u32::try_from((*input).line).unwrap_or(0),
                    u32::try_from((*input).col).unwrap_or(0),
                )
            };
            (*state).doctype = Some(position);
        }
        x::xmlStopParser(ctxt);
    }
}

/// A parsed document, freed on drop.
struct Doc(x::xmlDocPtr);

impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: the document was returned by libxml2 and is owned by this value.
        unsafe { x::xmlFreeDoc(self.0) }
    }
}

/// Parses strictly and, if `vctxt` is given, validates. The document never outlives the call.
fn check_document(
    xml: &str,
    vctxt: Option<x::xmlSchemaValidCtxtPtr>,
) -> Result<(), Vec<ValidationIssue>> {
    init();
    let Ok(len) = c_int::try_from(xml.len()) else {
        return Err(vec![ValidationIssue::without_position(
            "document too large for libxml2 (2 GiB or more)",
        )]);
    };
    let loads = LoaderGuard::enter(LoaderMode::Deny);
    let mut sink = ErrorSink::install();
    let mut state = ParseState::default();

    // SAFETY: a fresh parser context per document (a reused one would keep every name it ever saw
    // in its dictionary); the SAX hooks read `_private`, which points at `state` for the parse only.
    let doc = unsafe {
        let ctxt = x::xmlNewParserCtxt();
        if ctxt.is_null() {
            return Err(vec![ValidationIssue::without_position(
                "libxml2: cannot allocate a parser context",
            )]);
        }
        let sax = (*ctxt).sax;
        (*sax).startElementNs = Some(on_start_element);
        (*sax).internalSubset = Some(on_doctype);
        (*ctxt)._private = (&mut state as *mut ParseState).cast();
        let doc = x::xmlCtxtReadMemory(
            ctxt,
            xml.as_ptr().cast(),
            len,
            ptr::null(),
            ptr::null(),
            PARSE_OPTIONS,
        );
        (*ctxt)._private = ptr::null_mut();
        x::xmlFreeParserCtxt(ctxt);
        if doc.is_null() { None } else { Some(Doc(doc)) }
    };

    let positions = Positions::new(xml, &state.elements);
    if let Some((line, column)) = state.doctype {
        return Err(vec![ValidationIssue {
            line,
            column,
            message: "DOCTYPE is not allowed: DTDs and entity declarations are refused".to_owned(),
        }]);
    }
    let refused = loads.refused();
    if !refused.is_empty() {
        return Err(refused
            .into_iter()
            .map(|url| {
                ValidationIssue::without_position(format!(
                    "refused to load external resource '{url}'"
                ))
            })
            .collect());
    }
    let parse_errors: Vec<RawError> = sink.take().into_iter().filter(is_error).collect();
    let Some(doc) = doc.filter(|_| parse_errors.is_empty()) else {
        // The document (if any) is gone: map parse errors by libxml2's own positions only.
        let mut issues = positions.issues(parse_errors, false);
        if issues.is_empty() {
            issues.push(ValidationIssue::without_position(
                "document is not well-formed",
            ));
        }
        return Err(issues);
    };
    let Some(vctxt) = vctxt else { return Ok(()) };

    // SAFETY: `vctxt` is a live validation context of this thread, `doc` a live document.
    let rc = unsafe { x::xmlSchemaValidateDoc(vctxt, doc.0) };
    if rc == 0 {
        return Ok(());
    }
    let mut issues = positions.issues(sink.take().into_iter().filter(is_error).collect(), true);
    if issues.is_empty() {
        issues.push(ValidationIssue::without_position(format!(
            "schema validation failed (libxml2 status {rc}) without a diagnostic"
        )));
    }
    Err(issues)
}

/// Maps libxml2 errors to issues with line and column.
struct Positions<'a> {
    xml: &'a str,
    elements: &'a [(usize, usize)],
    /// Built on first use: most documents have no error to place.
    by_node: OnceCell<HashMap<usize, usize>>,
}

impl<'a> Positions<'a> {
    fn new(xml: &'a str, elements: &'a [(usize, usize)]) -> Self {
        Positions {
            xml,
            elements,
            by_node: OnceCell::new(),
        }
    }

    /// `with_nodes` only while the document the errors point into is alive.
    fn issues(&self, errors: Vec<RawError>, with_nodes: bool) -> Vec<ValidationIssue> {
        let total = errors.len();
        let mut issues: Vec<ValidationIssue> = errors
            .into_iter()
            .take(MAX_ISSUES)
            .map(|e| self.issue(e, with_nodes))
            .collect();
        if total > MAX_ISSUES {
            issues.push(ValidationIssue::without_position(format!(
                "… and {} more",
                total - MAX_ISSUES
            )));
        }
        issues
    }

    fn issue(&self, error: RawError, with_nodes: bool) -> ValidationIssue {
        let node = if with_nodes { error.node } else { 0 };
        let (line, column) = self
            .element_start(node)
            .map(|offset| line_and_column(self.xml, offset))
            .unwrap_or((
                u32::try_from(error.line).unwrap_or(0),
                u32::try_from(error.column).unwrap_or(0),
            ));
        ValidationIssue {
            line,
            column,
            message: error.message,
        }
    }

    /// Byte offset of the `<` that starts the element an error is about (or the element that holds
    /// the attribute or text it is about).
    fn element_start(&self, node: usize) -> Option<usize> {
        if node == 0 || self.elements.is_empty() {
            return None;
        }
        let by_node = self
            .by_node
            .get_or_init(|| self.elements.iter().copied().collect());
        let mut node = node as x::xmlNodePtr;
        // SAFETY: the error's node belongs to the document, which is still alive when errors are
        // mapped (they are mapped before `check_document` returns); walk up at most a few levels.
        unsafe {
            for _ in 0..4 {
                if node.is_null() {
                    return None;
                }
                if let Some(&end) = by_node.get(&(node as usize)) {
                    // The start tag ends at `end`; `<` cannot occur inside a tag, so the last `<`
                    // before it starts the tag.
                    let end = end.min(self.xml.len());
                    return self.xml.as_bytes()[..end].iter().rposition(|b| *b == b'<');
                }
                node = if (*node).type_ == x::xmlElementType_XML_ATTRIBUTE_NODE {
                    (*node.cast::<x::xmlAttr>()).parent
                } else {
                    (*node).parent
                };
            }
        }
        None
    }
}

/// 1-based line and character column of a byte offset (lines end at `\n`, as libxml2 counts them).
fn line_and_column(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Checks that `text` parses under the strict options (used for every file of a schema set).
pub(crate) fn check_well_formed(text: &str) -> Result<(), Vec<ValidationIssue>> {
    check_document(text, None)
}

/// The `targetNamespace` of a schema document's root element: `None` when it has none (or the
/// text does not parse under the strict options; every file of a set was checked before).
pub(crate) fn target_namespace(text: &str) -> Option<String> {
    init();
    let view = parse_view(text);
    let len = c_int::try_from(view.len()).ok()?;
    let _loads = LoaderGuard::enter(LoaderMode::Deny);
    let _sink = ErrorSink::install();
    // SAFETY: a document parsed here and freed by `Doc` on return; the attribute and its text
    // nodes belong to it and are only read while it lives.
    unsafe {
        let doc = x::xmlReadMemory(
            view.as_ptr().cast(),
            len,
            ptr::null(),
            ptr::null(),
            PARSE_OPTIONS,
        );
        if doc.is_null() {
            return None;
        }
        let doc = Doc(doc);
        let root = x::xmlDocGetRootElement(doc.0);
        if root.is_null() {
            return None;
        }
        let attr = x::xmlHasProp(root, c"targetNamespace".as_ptr().cast());
        if attr.is_null() {
            return None;
        }
        let mut value = String::new();
        let mut child = (*attr).children;
        while !child.is_null() {
            if !(*child).content.is_null() {
                value.push_str(&CStr::from_ptr((*child).content.cast()).to_string_lossy());
            }
            child = (*child).next;
        }
        Some(value)
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation and validation

/// A compiled schema with its validation context. `!Send`: it stays on the thread that built it.
pub(crate) struct Compiled {
    schema: x::xmlSchemaPtr,
    vctxt: x::xmlSchemaValidCtxtPtr,
    uses: u32,
}

impl Compiled {
    pub(crate) fn validate(&mut self, xml: &str) -> Result<(), Vec<ValidationIssue>> {
        if self.uses >= VALIDATION_CONTEXT_REUSE {
            // SAFETY: the schema is alive; the old context is freed only once a new one exists.
            unsafe {
                let fresh = x::xmlSchemaNewValidCtxt(self.schema);
                if !fresh.is_null() {
                    x::xmlSchemaFreeValidCtxt(self.vctxt);
                    self.vctxt = fresh;
                    self.uses = 0;
                }
            }
        }
        self.uses += 1;
        check_document(xml, Some(self.vctxt))
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        // SAFETY: both were created by `compile` and are owned by this value; context first.
        unsafe {
            x::xmlSchemaFreeValidCtxt(self.vctxt);
            x::xmlSchemaFree(self.schema);
        }
    }
}

/// Number of schema compilations done on the current thread so far.
pub(crate) fn compiles_on_this_thread() -> u64 {
    COMPILES.with(Cell::get)
}

/// Compiles the set on the current thread, loading only its own files.
pub(crate) fn compile(sources: &Arc<Sources>) -> Result<Compiled, SchemaError> {
    init();
    if !loader_is_ours() {
        return Err(SchemaError::Environment(
            "another component replaced libxml2's external entity loader; refusing to compile \
             schemas whose imports could then escape the set"
                .to_owned(),
        ));
    }
    COMPILES.with(|c| c.set(c.get() + 1));
    let entry = CString::new(sources.root_url())
        .map_err(|_| SchemaError::InvalidSet("entry name contains NUL".to_owned()))?;
    let loads = LoaderGuard::enter(LoaderMode::Set(Arc::clone(sources)));
    let mut sink = ErrorSink::install();
    // SAFETY: plain libxml2 calls on objects created here; the parser context is freed before
    // returning, the schema is either freed or handed to `Compiled`.
    let schema = unsafe {
        let pctxt = x::xmlSchemaNewParserCtxt(entry.as_ptr());
        if pctxt.is_null() {
            return Err(SchemaError::Environment(
                "cannot allocate a schema parser context".to_owned(),
            ));
        }
        let schema = x::xmlSchemaParse(pctxt);
        x::xmlSchemaFreeParserCtxt(pctxt);
        schema
    };
    let errors = sink.take();
    let refused = loads.refused();
    drop(sink);
    drop(loads);

    if let Some(location) = refused.into_iter().next() {
        if !schema.is_null() {
            // SAFETY: created above, not handed out.
            unsafe { x::xmlSchemaFree(schema) };
        }
        let from = errors
            .iter()
            .find(|e| e.message.contains(&location) && !e.file.is_empty())
            .map(|e| set_name(&e.file));
        // The location as the file wrote it (`../../etc/passwd`), when it can be found there.
        let written = from
            .as_deref()
            .and_then(|name| sources.written_location(name, &location));
        return Err(SchemaError::ImportOutsideSet {
            from,
            location: written.unwrap_or_else(|| set_name(&location)),
        });
    }
    if schema.is_null() {
        let mut issues: Vec<CompileIssue> = errors
            .iter()
            .filter(|e| is_error(e))
            .map(|e| CompileIssue {
                file: set_name(&e.file),
                line: u32::try_from(e.line).unwrap_or(0),
                message: e.message.clone(),
            })
            .collect();
        if issues.is_empty() {
            issues.push(CompileIssue {
                file: String::new(),
                line: 0,
                message: "libxml2 rejected the schema without a diagnostic".to_owned(),
            });
        }
        return Err(SchemaError::Compile { issues });
    }
    // SAFETY: `schema` is a live compiled schema owned here.
    let vctxt = unsafe { x::xmlSchemaNewValidCtxt(schema) };
    if vctxt.is_null() {
        // SAFETY: as above.
        unsafe { x::xmlSchemaFree(schema) };
        return Err(SchemaError::Environment(
            "cannot allocate a schema validation context".to_owned(),
        ));
    }
    Ok(Compiled {
        schema,
        vctxt,
        uses: 0,
    })
}

/// A location as the user knows it: a file of the set by its name, anything else verbatim.
fn set_name(location: &str) -> String {
    location
        .strip_prefix(ROOT)
        .map_or_else(|| location.to_owned(), percent_decode)
}

/// Decodes `%XX` escapes (libxml2 escapes some characters when it resolves relative URIs).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// XSLT print forms (libxslt)
//
// A print form is compiled and applied within one call, on the calling thread, under a
// process-wide lock: libxslt reports its own errors through a process-global "generic error"
// slot (not per thread), which is pointed at an in-memory stream for the duration of the call
// (nothing reaches stderr) and reset after. Loads are refused (the loader's `Deny` mode: no
// `xsl:import`, `xsl:include` or `document()`), and the transformation runs under security
// preferences that forbid reading and writing files and the network.

static XSLT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// libxslt's messages during an operation, collected from an in-memory stream.
struct XsltMessages {
    stream: *mut libc::FILE,
    buffer: *mut c_char,
    size: libc::size_t,
}

impl XsltMessages {
    fn install() -> Option<Box<XsltMessages>> {
        let mut messages = Box::new(XsltMessages {
            stream: ptr::null_mut(),
            buffer: ptr::null_mut(),
            size: 0,
        });
        // SAFETY: `open_memstream` writes the buffer pointer and size into the boxed fields,
        // whose addresses stay fixed until `finish`; the stream is libxslt's error sink until
        // then (the caller holds `XSLT_LOCK`).
        unsafe {
            let m = &mut *messages;
            m.stream = libc::open_memstream(&mut m.buffer, &mut m.size);
            if m.stream.is_null() {
                return None;
            }
            libxslt::bindings::xsltSetGenericErrorFunc(m.stream.cast(), None);
        }
        Some(messages)
    }

    /// Stops collecting and returns the text collected (consumes the box whose fields the
    /// stream wrote to).
    #[allow(clippy::boxed_local)]
    fn finish(self: Box<Self>) -> String {
        // SAFETY: resets libxslt's sink before the stream is closed; the buffer is then owned here.
        unsafe {
            libxslt::bindings::xsltSetGenericErrorFunc(ptr::null_mut(), None);
            libc::fclose(self.stream);
            let text = if self.buffer.is_null() {
                String::new()
            } else {
                let bytes = std::slice::from_raw_parts(self.buffer.cast::<u8>(), self.size);
                String::from_utf8_lossy(bytes).into_owned()
            };
            libc::free(self.buffer.cast());
            text
        }
    }
}

/// The messages worth showing: trimmed, without empty lines, at most 20.
fn xslt_text(messages: String, structured: Vec<RawError>) -> String {
    let mut lines: Vec<String> = messages
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    lines.extend(structured.into_iter().filter(is_error).map(|e| {
        if e.line > 0 {
            format!("line {}: {}", e.line, e.message.trim())
        } else {
            e.message.trim().to_owned()
        }
    }));
    lines.truncate(20);
    lines.join("; ")
}

/// Parses `text` strictly into a libxml2 document (`None` on any error; the errors are in the
/// sink).
fn read_strict(text: &str, url: &str) -> Option<Doc> {
    let len = c_int::try_from(text.len()).ok()?;
    let url = CString::new(url).ok()?;
    // SAFETY: `text` outlives the call; the result is owned by the returned `Doc`.
    let doc = unsafe {
        x::xmlReadMemory(
            text.as_ptr().cast(),
            len,
            url.as_ptr(),
            ptr::null(),
            PARSE_OPTIONS,
        )
    };
    (!doc.is_null()).then_some(Doc(doc))
}

/// Compiles the print form `stylesheet` and, when `xml` is given, applies it to `xml`; the
/// serialised result (as the stylesheet's `xsl:output` says). Errors name what libxslt said.
pub(crate) fn xslt(stylesheet: &str, xml: Option<&str>) -> Result<String, String> {
    use libxslt::bindings as xs;
    init();
    libxslt::register_exslt();
    let _serial = XSLT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _loads = LoaderGuard::enter(LoaderMode::Deny);
    let mut sink = ErrorSink::install();
    let Some(messages) = XsltMessages::install() else {
        return Err("libxslt: cannot open a message stream".into());
    };
    let outcome = (|| -> Result<String, ()> {
        if stylesheet.contains("<!DOCTYPE") {
            return Err(());
        }
        let style_doc = read_strict(stylesheet, "opensmev-print-form:///form.xsl").ok_or(())?;
        // SAFETY: on success the stylesheet owns `style_doc` (freed with it); on failure libxslt
        // has not taken it and the `Doc` guard frees it.
        let style = unsafe { xs::xsltParseStylesheetDoc(style_doc.0) };
        if style.is_null() {
            return Err(());
        }
        std::mem::forget(style_doc);
        struct Style(xs::xsltStylesheetPtr);
        impl Drop for Style {
            fn drop(&mut self) {
                // SAFETY: frees the stylesheet (and its document) once.
                unsafe { xs::xsltFreeStylesheet(self.0) }
            }
        }
        let style = Style(style);
        let Some(xml) = xml else {
            return Ok(String::new());
        };
        if xml.contains("<!DOCTYPE") {
            return Err(());
        }
        let doc = read_strict(xml, "opensmev-print-form:///document.xml").ok_or(())?;
        // SAFETY: a transform context for this stylesheet and document, freed below; the
        // security preferences forbid file and network access and live until it is freed.
        unsafe {
            let ctxt = xs::xsltNewTransformContext(style.0, doc.0);
            if ctxt.is_null() {
                return Err(());
            }
            let prefs = xs::xsltNewSecurityPrefs();
            for option in [
                xs::xsltSecurityOption_XSLT_SECPREF_READ_FILE,
                xs::xsltSecurityOption_XSLT_SECPREF_WRITE_FILE,
                xs::xsltSecurityOption_XSLT_SECPREF_CREATE_DIRECTORY,
                xs::xsltSecurityOption_XSLT_SECPREF_READ_NETWORK,
                xs::xsltSecurityOption_XSLT_SECPREF_WRITE_NETWORK,
            ] {
                xs::xsltSetSecurityPrefs(prefs, option, Some(xs::xsltSecurityForbid));
            }
            xs::xsltSetCtxtSecurityPrefs(prefs, ctxt);
            let result = xs::xsltApplyStylesheetUser(
                style.0,
                doc.0,
                ptr::null_mut(),
                ptr::null(),
                ptr::null_mut(),
                ctxt,
            );
            let failed = (*ctxt).state != xs::xsltTransformState_XSLT_STATE_OK;
            xs::xsltFreeTransformContext(ctxt);
            xs::xsltFreeSecurityPrefs(prefs);
            if result.is_null() {
                return Err(());
            }
            let result = Doc(result);
            if failed {
                return Err(());
            }
            let mut text: *mut x::xmlChar = ptr::null_mut();
            let mut len: c_int = 0;
            if xs::xsltSaveResultToString(&mut text, &mut len, result.0, style.0) != 0 {
                return Err(());
            }
            if text.is_null() {
                return Ok(String::new());
            }
            let bytes =
                std::slice::from_raw_parts(text.cast::<u8>(), usize::try_from(len).unwrap_or(0));
            let out = String::from_utf8_lossy(bytes).into_owned();
            libc::free(text.cast());
            Ok(out)
        }
    })();
    let said = xslt_text(messages.finish(), sink.take());
    outcome.map_err(|()| {
        if said.is_empty() {
            "the print form cannot be applied (libxslt gave no reason)".to_owned()
        } else {
            said
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_view_rewrites_only_foreign_encodings() {
        let utf8 = "<?xml version=\"1.0\" encoding=\"utf-8\"?><a/>";
        assert!(matches!(parse_view(utf8), std::borrow::Cow::Borrowed(_)));
        let cp = "\u{feff}<?xml version='1.0' encoding='windows-1251'?>\n<a/>";
        assert_eq!(
            parse_view(cp),
            "\u{feff}<?xml version='1.0' encoding='UTF-8'?>\n<a/>"
        );
        assert!(matches!(parse_view("<a/>"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "<a>\n  <б><c/></б>";
        let offset = text.find("<c").unwrap();
        assert_eq!(line_and_column(text, offset), (2, 6));
        assert_eq!(line_and_column(text, 0), (1, 1));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }
}
