//! Fuzz target `transform`: arbitrary bytes through the SMEV transform and exclusive C14N.
//!
//! * `transform::transform_document` with both flavors (Woodstox and JDK);
//! * `Document::parse`, then `c14n::canonicalize_to_vec` of the root (with no and with a
//!   `#default` inclusive prefix list);
//! * for the first few elements of a parsed document, the element-level entry points the
//!   signature code uses on sub-trees: `transform_element` and `canonicalize_element` (a walker
//!   re-seeded with the inherited namespace scope), `start_tag`, `text_content` and `path`.
//!
//! Errors are expected for most inputs; a panic (including an overflow or a failed debug
//! assertion, since cargo-fuzz builds with debug assertions) is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opensmev_xmldsig::c14n;
use opensmev_xmldsig::transform::{self, Flavor};
use opensmev_xmldsig::xml::{Document, Limits};

/// Sub-trees re-read per input, to keep executions fast.
const MAX_ELEMENTS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    for flavor in [Flavor::Woodstox, Flavor::Jdk] {
        let _ = transform::transform_document(data, limits, flavor);
    }
    let Ok(doc) = Document::parse(data, limits) else {
        return;
    };
    let _ = c14n::canonicalize_to_vec(&doc.root(), &[]);
    let _ = c14n::canonicalize_to_vec(&doc.root(), &["#default".to_owned()]);
    for element in doc.elements().skip(1).take(MAX_ELEMENTS) {
        let _ = element.start_tag();
        let _ = element.text_content();
        let _ = element.path();
        let _ = c14n::canonicalize_to_vec(&element, &[]);
        for flavor in [Flavor::Woodstox, Flavor::Jdk] {
            let _ = transform::transform_element(&element, None, flavor, &mut std::io::sink());
        }
    }
});
