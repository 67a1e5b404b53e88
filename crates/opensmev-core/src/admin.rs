//! Changing the registry as a person or token (the integration API, the cabinet): checked as a
//! whole, stored as a new version together with its audit entry (who, when, a readable diff),
//! and put in force at once.

use opensmev_store::{NewAuditEntry, StoreError};

use crate::registry::Registry;
use crate::{Bus, BusError};

/// The longest diff kept in an audit entry, in characters (a larger one is cut, saying so).
const MAX_DIFF_CHARS: usize = 64 * 1024;

/// Why a registry change was not made.
#[derive(Debug, thiserror::Error)]
pub enum RegistryChangeError {
    /// The document does not check out (the registry's own message).
    #[error("the registry is refused: {0}")]
    Invalid(String),
    /// It was based on another version than the one in the store now.
    #[error("the registry is at version {current}, the change was based on version {expected}")]
    Conflict {
        /// The version the change was based on.
        expected: u64,
        /// The version now.
        current: u64,
    },
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// A unified diff of two registry texts.
pub fn registry_diff(old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header("до", "после")
        .to_string();
    let cut = opensmev_xmldsig::xml::cut_chars(&diff, MAX_DIFF_CHARS);
    cut.into_owned()
}

impl Bus {
    /// Replaces the registry with `text` (TOML, the import/export format) as `by`: checked as a
    /// whole, saved as a new version with an audit entry holding the diff, in force at once.
    /// `expected`: the version the change was based on (a concurrent change is a conflict);
    /// `None` to replace whatever is there. Returns the new version (the current one when
    /// nothing changed).
    pub async fn change_registry(
        &self,
        by: &str,
        text: &str,
        expected: Option<u64>,
    ) -> Result<u64, RegistryChangeError> {
        Registry::from_toml(text, 0).map_err(|e| RegistryChangeError::Invalid(e.0))?;
        let current = self.store().registry().await.map_err(BusError::Store)?;
        let (old_text, current_version) = current
            .as_ref()
            .map(|d| (d.text.as_str(), d.version))
            .unwrap_or(("", 0));
        if let Some(expected) = expected
            && expected != current_version
        {
            return Err(RegistryChangeError::Conflict {
                expected,
                current: current_version,
            });
        }
        if old_text == text {
            return Ok(current_version);
        }
        let now = self.now();
        let audit = NewAuditEntry {
            at: now,
            actor: by.to_owned(),
            action: "registry.change".into(),
            target: "registry".into(),
            detail: registry_diff(old_text, text),
        };
        let base = current.as_ref().map(|d| d.version);
        let saved = match self
            .store()
            .save_registry(text.to_owned(), base, false, now, Some(audit))
            .await
        {
            Ok(doc) => doc,
            Err(StoreError::RegistryConflict { current }) => {
                return Err(RegistryChangeError::Conflict {
                    expected: current_version,
                    current,
                });
            }
            Err(e) => return Err(BusError::Store(e).into()),
        };
        self.reload_registry().await?;
        Ok(saved.version)
    }
}
