//! [`SchemaSet`]: a set of named XSD texts with one or more entry points, shareable across threads,
//! compiled lazily once per thread into a thread-local cache keyed by the set's content hash.
//!
//! Several entry points (a kind whose request root and response root live in different files)
//! are compiled as one schema through a synthetic driver: a schema without a target namespace
//! that imports each entry point's namespace (or includes a no-namespace entry point). libxml2
//! honours only the first `xs:import` of a namespace, so entry points that share a namespace are
//! first gathered by an intermediate schema of that namespace that `xs:include`s each of them,
//! and the driver imports that one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::engine::{self, Compiled, DRIVER, ROOT};
use crate::error::{SchemaError, ValidationIssue};

/// Compiled sets kept per thread; the least recently used one is dropped beyond this.
const CACHE_CAPACITY: usize = 64;

/// The texts of a set, immutable once built; what the compiler's loader serves from.
pub(crate) struct Sources {
    files: Vec<(String, String)>,
    index: HashMap<String, usize>,
    /// The entry points, distinct, in the order given (at least one).
    entries: Vec<String>,
    aliases: HashMap<String, String>,
    /// The synthetic driver schemas (URL under [`DRIVER`], text) when there are several entry
    /// points; the first one is the schema compiled.
    drivers: Vec<(String, String)>,
    hash: [u8; 32],
}

impl Sources {
    /// The URL libxml2 compiles: the entry point, or the driver of several.
    pub(crate) fn root_url(&self) -> String {
        match self.drivers.first() {
            Some((url, _)) => url.clone(),
            None => format!("{ROOT}{}", self.entries[0]),
        }
    }

    /// The file a URL requested by libxml2 stands for, as (its canonical URL, its text): a driver,
    /// an alias (exact match), or a location under the set's virtual root that names a file of
    /// the set.
    pub(crate) fn resolve(&self, url: &str) -> Option<(String, &str)> {
        if let Some((driver, text)) = self.drivers.iter().find(|(u, _)| u == url) {
            return Some((driver.clone(), text));
        }
        let index = match self.aliases.get(url) {
            Some(name) => self.index.get(name),
            None => self
                .index
                .get(&engine::percent_decode(url.strip_prefix(ROOT)?)),
        }?;
        let (name, text) = &self.files[*index];
        Some((format!("{ROOT}{name}"), text))
    }

    /// The `schemaLocation` written in file `from` that resolves to `url` (a location libxml2
    /// asked for and the loader refused), if there is one.
    pub(crate) fn written_location(&self, from: &str, url: &str) -> Option<String> {
        let text = &self.files[*self.index.get(from)?].1;
        let wanted = engine::percent_decode(url);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("schemaLocation") {
            rest = &rest[at + "schemaLocation".len()..];
            let value = rest.trim_start().strip_prefix('=')?.trim_start();
            let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            let Some(end) = value[1..].find(quote) else {
                continue;
            };
            let written = &value[1..1 + end];
            if resolve_reference(from, written.trim()) == wanted {
                return Some(written.trim().to_owned());
            }
        }
        None
    }
}

/// A reference written in the set's file `from`, resolved as libxml2 does (RFC 3986 against
/// the file's URL under [`ROOT`]), for finding what a file wrote.
fn resolve_reference(from: &str, reference: &str) -> String {
    if reference.contains("://") || reference.starts_with("file:") {
        return engine::percent_decode(reference);
    }
    let authority = ROOT.trim_end_matches('/');
    let path = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let dir = from.rfind('/').map_or("", |i| &from[..=i]);
        format!("/{dir}{reference}")
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    engine::percent_decode(&format!("{authority}/{}", segments.join("/")))
}

/// A set of XSD files (name, text) with one or more entry points, validated as one schema.
///
/// With several entry points (e.g. the request root's file and the response root's file of a
/// kind of information), a document is validated against a schema that sees all of them: any
/// global element declared by any entry point (or by what it imports) may be the root.
///
/// `xs:import`/`xs:include`/`xs:redefine` locations are resolved among the files of the set only:
/// a relative `schemaLocation` resolves against the referring file's name with ordinary URI rules
/// (`types.xsd` imported from `a/root.xsd` is `a/types.xsd`; `../common.xsd` from there is
/// `common.xsd`), and an absolute one must be declared as an alias (see
/// [`SchemaSet::with_aliases`]). Anything else is refused with
/// [`SchemaError::ImportOutsideSet`]; nothing is ever read from disk or the network.
///
/// The value holds only the texts and their SHA-256, so it is `Send + Sync` and cheap to clone.
/// libxml2's compiled schemas are not thread-safe: each thread compiles the set the first time it
/// validates with it and keeps the compiled schema and a validation context in a thread-local
/// cache keyed by the hash (sets with identical content share one entry). [`SchemaSet::new`]
/// compiles once on the calling thread, so a broken set fails there, and that compilation is
/// kept in the calling thread's cache.
#[derive(Clone)]
pub struct SchemaSet {
    sources: Arc<Sources>,
}

impl SchemaSet {
    /// Builds a set from `files` (name, text) whose entry point is the file named `entry`.
    ///
    /// File names are relative paths with `/` separators, made of ASCII letters, digits and
    /// ``-._~!$&'()*+,;=@``, with no empty, `.` or `..` segment.
    ///
    /// # Errors
    /// [`SchemaError::InvalidSet`] for a bad name, duplicate or missing entry;
    /// [`SchemaError::Malformed`] for a file that is not well-formed or has a DOCTYPE;
    /// [`SchemaError::ImportOutsideSet`] and [`SchemaError::Compile`] from compiling the set.
    pub fn new(files: Vec<(String, String)>, entry: &str) -> Result<SchemaSet, SchemaError> {
        SchemaSet::with_aliases(files, entry, Vec::new())
    }

    /// Like [`SchemaSet::new`], with `aliases` (location, file name): a `schemaLocation` that
    /// resolves exactly to `location` loads the named file of the set. Used for sets whose files
    /// import each other by absolute URL, e.g. the 1.2 schemas served by the test SMEV
    /// (`http://smev3-n0.test.gosuslugi.ru:7500/smev/v1.2/ws?xsd=smev-message-exchange-basic-1.2.xsd`).
    ///
    /// # Errors
    /// As [`SchemaSet::new`], and [`SchemaError::InvalidSet`] for an alias to a file not in the set.
    pub fn with_aliases(
        files: Vec<(String, String)>,
        entry: &str,
        aliases: Vec<(String, String)>,
    ) -> Result<SchemaSet, SchemaError> {
        SchemaSet::build(files, &[entry], aliases)
    }

    /// Builds a set from `files` whose entry points are the files named in `entries` (at least
    /// one; repeats are ignored): a kind of information whose request root is declared in one
    /// file and its response root in another names both. Validation sees every entry point.
    ///
    /// # Errors
    /// As [`SchemaSet::new`]; [`SchemaError::InvalidSet`] when `entries` is empty or names a file
    /// that is not in the set.
    pub fn with_entries(
        files: Vec<(String, String)>,
        entries: &[&str],
    ) -> Result<SchemaSet, SchemaError> {
        SchemaSet::build(files, entries, Vec::new())
    }

    fn build(
        files: Vec<(String, String)>,
        entries: &[&str],
        aliases: Vec<(String, String)>,
    ) -> Result<SchemaSet, SchemaError> {
        let mut sources = Sources::build(files, entries, aliases)?;
        for (name, text) in &sources.files {
            engine::check_well_formed(text).map_err(|issues| SchemaError::Malformed {
                file: name.clone(),
                issues,
            })?;
        }
        sources.drivers = drivers(&sources);
        let sources = Arc::new(sources);
        let compiled = engine::compile(&sources)?;
        let set = SchemaSet { sources };
        // Keep the check's compilation for this thread (unless the thread is being torn down).
        let _ = CACHE.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                cache.insert(set.sources.hash, compiled);
            }
        });
        Ok(set)
    }

    /// Parses `xml` strictly (no recovery, no DTD, no external loads, no entity expansion) and
    /// validates it against the set.
    ///
    /// # Errors
    /// Every issue libxml2 reported (at most 100, then a count): well-formedness errors, a refused
    /// DOCTYPE, or schema-validity errors, each with line and column.
    pub fn validate(&self, xml: &str) -> Result<(), Vec<ValidationIssue>> {
        let hash = self.sources.hash;
        let cached = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return None;
            };
            if cache.get(&hash).is_none() {
                match engine::compile(&self.sources) {
                    Ok(compiled) => cache.insert(hash, compiled),
                    Err(e) => return Some(Err(compile_failure(&e))),
                }
            }
            cache.get(&hash).map(|compiled| compiled.validate(xml))
        });
        match cached {
            Ok(Some(result)) => result,
            // No usable cache (thread teardown or re-entrance): compile for this call only.
            _ => match engine::compile(&self.sources) {
                Ok(mut compiled) => compiled.validate(xml),
                Err(e) => Err(compile_failure(&e)),
            },
        }
    }

    /// Name of the (first) entry-point file.
    pub fn entry(&self) -> &str {
        &self.sources.entries[0]
    }

    /// Names of the entry-point files, distinct, in the order given.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.sources.entries.iter().map(String::as_str)
    }

    /// Whether the set declares a global element `{namespace}local` that a document may have as
    /// its root (an abstract one counts). `namespace` empty: an element in no namespace.
    pub fn declares_element(&self, namespace: &str, local: &str) -> bool {
        let probe = if namespace.is_empty() {
            format!("<{local}/>")
        } else {
            format!("<p:{local} xmlns:p=\"{}\"/>", escape_attribute(namespace))
        };
        if engine::check_well_formed(&probe).is_err() {
            return false; // not a name an element can have
        }
        match self.validate(&probe) {
            Ok(()) => true,
            // Invalid content (an empty element where content is required) still means the
            // element is declared; only these two messages say it is not (or cannot tell).
            Err(issues) => !issues.iter().any(|i| {
                i.message.contains(NO_GLOBAL_DECLARATION)
                    || i.message.contains("the schema set does not compile")
            }),
        }
    }

    /// The files of the set (name, text), in the order given.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sources
            .files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
    }

    /// The text of one file of the set.
    pub fn file(&self, name: &str) -> Option<&str> {
        self.sources
            .index
            .get(name)
            .map(|i| self.sources.files[*i].1.as_str())
    }

    /// SHA-256 over the entry name, the files (sorted by name) and the aliases: the key of the
    /// per-thread cache. Equal hashes mean equal sets.
    pub fn content_hash(&self) -> [u8; 32] {
        self.sources.hash
    }
}

impl fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hash: String = self.sources.hash[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("SchemaSet")
            .field("entries", &self.sources.entries)
            .field(
                "files",
                &self
                    .sources
                    .files
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("hash", &format_args!("{hash}…"))
            .finish()
    }
}

impl PartialEq for SchemaSet {
    fn eq(&self, other: &Self) -> bool {
        self.sources.hash == other.sources.hash
    }
}

impl Eq for SchemaSet {}

fn compile_failure(e: &SchemaError) -> Vec<ValidationIssue> {
    vec![ValidationIssue::without_position(format!(
        "the schema set does not compile on this thread: {e}"
    ))]
}

impl Sources {
    fn build(
        files: Vec<(String, String)>,
        entries: &[&str],
        aliases: Vec<(String, String)>,
    ) -> Result<Sources, SchemaError> {
        if files.is_empty() {
            return Err(SchemaError::InvalidSet("no files".to_owned()));
        }
        let mut index = HashMap::with_capacity(files.len());
        for (i, (name, text)) in files.iter().enumerate() {
            check_name(name)?;
            if i32::try_from(text.len()).is_err() {
                return Err(SchemaError::InvalidSet(format!(
                    "file '{name}' is too large for libxml2"
                )));
            }
            if index.insert(name.clone(), i).is_some() {
                return Err(SchemaError::InvalidSet(format!(
                    "file '{name}' appears twice"
                )));
            }
        }
        if entries.is_empty() {
            return Err(SchemaError::InvalidSet("no entry point".to_owned()));
        }
        let mut distinct: Vec<String> = Vec::with_capacity(entries.len());
        for entry in entries {
            if !index.contains_key(*entry) {
                return Err(SchemaError::InvalidSet(format!(
                    "entry point '{entry}' is not one of the files"
                )));
            }
            if !distinct.iter().any(|e| e == entry) {
                distinct.push((*entry).to_owned());
            }
        }
        let mut alias_map = HashMap::with_capacity(aliases.len());
        for (location, name) in aliases {
            if !index.contains_key(&name) {
                return Err(SchemaError::InvalidSet(format!(
                    "alias '{location}' names '{name}', which is not in the set"
                )));
            }
            if location.is_empty() || location.contains('\0') {
                return Err(SchemaError::InvalidSet("empty alias location".to_owned()));
            }
            alias_map.insert(location, name);
        }

        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        let mut sorted_entries: Vec<&String> = distinct.iter().collect();
        sorted_entries.sort();
        field(&(sorted_entries.len() as u64).to_le_bytes());
        for entry in sorted_entries {
            field(entry.as_bytes());
        }
        let mut sorted: Vec<&(String, String)> = files.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, text) in sorted {
            field(name.as_bytes());
            field(text.as_bytes());
        }
        let mut sorted_aliases: Vec<(&String, &String)> = alias_map.iter().collect();
        sorted_aliases.sort();
        for (location, name) in sorted_aliases {
            field(location.as_bytes());
            field(name.as_bytes());
        }
        let hash = hasher.finalize().into();

        Ok(Sources {
            files,
            index,
            entries: distinct,
            aliases: alias_map,
            drivers: Vec::new(),
            hash,
        })
    }
}

/// libxml2's message for a document whose root element no global declaration matches.
const NO_GLOBAL_DECLARATION: &str =
    "No matching global declaration available for the validation root";

const XS: &str = "http://www.w3.org/2001/XMLSchema";

/// `text` escaped for a double-quoted XML attribute value.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// The driver schemas of a set with several entry points (none for one): the first is the
/// schema compiled. It has no target namespace and imports each entry point's namespace — from
/// the entry point itself, or, when several entry points share the namespace, from an
/// intermediate schema of that namespace that includes each of them (libxml2 loads only the
/// first location given for a namespace and skips the others). Entry points without a target
/// namespace are included by the driver directly. Namespaces with several entry points come
/// first, so that no entry point's own imports claim such a namespace before the driver does.
fn drivers(sources: &Sources) -> Vec<(String, String)> {
    if sources.entries.len() < 2 {
        return Vec::new();
    }
    // (namespace, entry points), in the order of the first entry point of each namespace.
    let mut groups: Vec<(Option<String>, Vec<&str>)> = Vec::new();
    for entry in &sources.entries {
        let text = sources
            .index
            .get(entry)
            .map_or("", |i| sources.files[*i].1.as_str());
        let namespace = engine::target_namespace(text).filter(|ns| !ns.is_empty());
        match groups.iter_mut().find(|(ns, _)| *ns == namespace) {
            Some((_, members)) => members.push(entry),
            None => groups.push((namespace, vec![entry])),
        }
    }
    groups.sort_by_key(|(ns, members)| (ns.is_none(), members.len() < 2));
    let location = |name: &str| escape_attribute(&format!("{ROOT}{name}"));
    let mut intermediates = Vec::new();
    let mut driver = format!("<xs:schema xmlns:xs=\"{XS}\">\n");
    for (namespace, members) in &groups {
        match (namespace, members.as_slice()) {
            (None, members) => {
                for member in members {
                    driver.push_str(&format!(
                        "  <xs:include schemaLocation=\"{}\"/>\n",
                        location(member)
                    ));
                }
            }
            (Some(ns), [single]) => driver.push_str(&format!(
                "  <xs:import namespace=\"{}\" schemaLocation=\"{}\"/>\n",
                escape_attribute(ns),
                location(single)
            )),
            (Some(ns), members) => {
                let url = format!("{DRIVER}namespace-{}.xsd", intermediates.len() + 1);
                let mut text = format!(
                    "<xs:schema xmlns:xs=\"{XS}\" targetNamespace=\"{}\">\n",
                    escape_attribute(ns)
                );
                for member in members {
                    text.push_str(&format!(
                        "  <xs:include schemaLocation=\"{}\"/>\n",
                        location(member)
                    ));
                }
                text.push_str("</xs:schema>\n");
                driver.push_str(&format!(
                    "  <xs:import namespace=\"{}\" schemaLocation=\"{}\"/>\n",
                    escape_attribute(ns),
                    escape_attribute(&url)
                ));
                intermediates.push((url, text));
            }
        }
    }
    driver.push_str("</xs:schema>\n");
    let mut out = vec![(format!("{DRIVER}driver.xsd"), driver)];
    out.extend(intermediates);
    out
}

fn check_name(name: &str) -> Result<(), SchemaError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=@".contains(c);
    let ok = !name.is_empty()
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg.chars().all(allowed));
    if ok {
        Ok(())
    } else {
        Err(SchemaError::InvalidSet(format!(
            "file name '{name}' is not a relative path of ASCII letters, digits and -._~!$&'()*+,;=@"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Per-thread cache

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

#[derive(Default)]
struct Cache {
    entries: HashMap<[u8; 32], (Compiled, u64)>,
    clock: u64,
}

impl Cache {
    fn get(&mut self, hash: &[u8; 32]) -> Option<&mut Compiled> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(hash).map(|(compiled, used)| {
            *used = clock;
            compiled
        })
    }

    fn insert(&mut self, hash: [u8; 32], compiled: Compiled) {
        if self.entries.len() >= CACHE_CAPACITY
            && !self.entries.contains_key(&hash)
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
        {
            self.entries.remove(&oldest);
        }
        self.clock += 1;
        self.entries.insert(hash, (compiled, self.clock));
    }
}

/// How many schema compilations the current thread has done (each [`SchemaSet::new`] compiles
/// once; each other thread compiles a set once, on its first validation with it, until the set
/// falls out of the thread's cache of 64 sets). A test and monitoring hook.
pub fn compiles_on_this_thread() -> u64 {
    engine::compiles_on_this_thread()
}

/// How many compiled sets the current thread's cache holds.
pub fn cached_on_this_thread() -> usize {
    CACHE
        .try_with(|c| c.try_borrow().map_or(0, |c| c.entries.len()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in [
            "",
            "/a.xsd",
            "a//b.xsd",
            "../a.xsd",
            "a/./b.xsd",
            "a b.xsd",
            "a?.xsd",
            "a%20.xsd",
            "схема.xsd",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for good in ["a.xsd", "dir/sub/a-1.0_x.xsd", "Types(1).xsd"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn hash_ignores_file_order() {
        let a = ("a.xsd".to_owned(), "<a/>".to_owned());
        let b = ("b.xsd".to_owned(), "<b/>".to_owned());
        let one = Sources::build(vec![a.clone(), b.clone()], &["a.xsd"], vec![]).unwrap();
        let two = Sources::build(vec![b, a], &["a.xsd"], vec![]).unwrap();
        assert_eq!(one.hash, two.hash);
    }

    #[test]
    fn set_is_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<SchemaSet>();
    }
}
