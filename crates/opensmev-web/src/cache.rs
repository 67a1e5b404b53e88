//! Form models compiled from the kinds' XSD sets, kept per set (by its content hash) so a page
//! does not parse the schemas again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opensmev_core::registry::Kind;

/// Compiled form schemas by XSD-set content hash.
#[derive(Default)]
pub struct FormCache {
    compiled: Mutex<HashMap<[u8; 32], Arc<opensmev_forms::Schema>>>,
}

impl std::fmt::Debug for FormCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormCache").finish_non_exhaustive()
    }
}

impl FormCache {
    /// The form schema of a kind (`None` when the kind has no XSD set); an XSD the generator
    /// cannot read is an error text.
    pub fn schema(&self, kind: &Kind) -> Result<Option<Arc<opensmev_forms::Schema>>, String> {
        let Some(set) = &kind.schema else {
            return Ok(None);
        };
        let hash = set.content_hash();
        if let Some(found) = self.lock().get(&hash) {
            return Ok(Some(Arc::clone(found)));
        }
        // The print form (an XSLT file of the set) is no schema.
        let files: Vec<(String, String)> = set
            .files()
            .filter(|(name, _)| kind.extras.print_form.as_deref() != Some(*name))
            .map(|(name, text)| (name.to_owned(), text.to_owned()))
            .collect();
        let schema = Arc::new(opensmev_forms::Schema::compile(&files).map_err(|e| e.to_string())?);
        let mut map = self.lock();
        if map.len() > 256 {
            map.clear();
        }
        map.insert(hash, Arc::clone(&schema));
        Ok(Some(schema))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<opensmev_forms::Schema>>> {
        self.compiled.lock().unwrap_or_else(|e| e.into_inner())
    }
}
