//! Submitted form values: a map from field path to text.

use std::collections::BTreeMap;

/// The values of a form: field path → text (see the crate docs for the path scheme and the
/// `#n` / `#on` markers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormValues {
    map: BTreeMap<String, String>,
}

impl FormValues {
    /// No values.
    pub fn new() -> FormValues {
        FormValues::default()
    }

    /// From the pairs of an `application/x-www-form-urlencoded` body (already decoded). Names that
    /// do not start with `f.` are ignored; when a name repeats, the last value wins.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> FormValues {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if k.starts_with("f.") {
                map.insert(k, v);
            }
        }
        FormValues { map }
    }

    /// The value of a path.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.map.get(path).map(String::as_str)
    }

    /// Sets a value.
    pub fn set(&mut self, path: impl Into<String>, value: impl Into<String>) {
        self.map.insert(path.into(), value.into());
    }

    /// Removes a value.
    pub fn remove(&mut self, path: &str) -> Option<String> {
        self.map.remove(path)
    }

    /// All values, ordered by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// As (path, value) pairs (e.g. to store a draft).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The value trimmed, `None` when absent or blank.
    pub(crate) fn text(&self, path: &str) -> Option<&str> {
        self.get(path).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whether any non-marker value under `path` (the path itself, `path.…`, `path[…`) is
    /// non-blank, ignoring sections switched off with `#on=0`.
    pub(crate) fn has_values(&self, path: &str) -> bool {
        for (k, v) in self.map.range(path.to_string()..) {
            if !k.starts_with(path) {
                break;
            }
            let rest = &k[path.len()..];
            if !(rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')) {
                continue;
            }
            if is_marker(k) || v.trim().is_empty() {
                continue;
            }
            if self.switched_off_between(path, k) {
                continue;
            }
            return true;
        }
        false
    }

    /// Whether some optional section strictly under `base` and containing `key` is switched off.
    fn switched_off_between(&self, base: &str, key: &str) -> bool {
        let mut idx = base.len();
        while let Some(p) = key[idx..].find(['.', '[']) {
            let cut = idx + p;
            if cut > base.len() && self.get(&format!("{}#on", &key[..cut])) == Some("0") {
                return true;
            }
            idx = cut + 1;
        }
        false
    }

    /// `Some(true)` / `Some(false)` when the `#on` marker of `path` says so.
    pub(crate) fn switch(&self, path: &str) -> Option<bool> {
        match self.get(&format!("{path}#on")).map(str::trim) {
            Some("0") | Some("off") | Some("false") => Some(false),
            Some("") | None => None,
            Some(_) => Some(true),
        }
    }

    /// How many items a repeat at `path` (without index) holds: `max(#n, highest index + 1)`.
    pub(crate) fn count(&self, path: &str) -> usize {
        let n = self
            .get(&format!("{path}#n"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let prefix = format!("{path}[");
        let mut max = 0;
        for (k, _) in self.map.range(prefix.clone()..) {
            let Some(rest) = k.strip_prefix(&prefix) else {
                break;
            };
            if let Some((num, _)) = rest.split_once(']')
                && let Ok(i) = num.parse::<usize>()
            {
                max = max.max(i + 1);
            }
        }
        n.max(max).min(10_000)
    }
}

/// Whether a key is a marker (`#n`, `#on`, a choice selector), not a value.
pub(crate) fn is_marker(key: &str) -> bool {
    if key.ends_with("#n") || key.ends_with("#on") {
        return true;
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    last.starts_with("#c")
}
