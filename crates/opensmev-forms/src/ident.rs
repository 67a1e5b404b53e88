//! Russian identifiers: detection by element/type name and facets, check digits, masks, samples.

use crate::model::{Builtin, SimpleType};
use crate::regex;

/// A Russian identifier recognised in a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentKind {
    /// СНИЛС: 11 digits with a checksum.
    Snils,
    /// ИНН of a legal entity: 10 digits.
    Inn10,
    /// ИНН of a person: 12 digits.
    Inn12,
    /// ИНН of either kind (by the value's length).
    Inn,
    /// ОГРН: 13 digits (a value of 15 digits is checked as ОГРНИП when the type allows it).
    Ogrn,
    /// ОГРНИП: 15 digits.
    Ogrnip,
    /// КПП: 9 characters.
    Kpp,
    /// Passport series: 4 digits.
    PassportSeries,
    /// Passport number: 6 digits.
    PassportNumber,
}

impl IdentKind {
    /// The `data-mask` name used by the HTML and the JS.
    pub fn mask(self) -> &'static str {
        match self {
            IdentKind::Snils => "snils",
            IdentKind::Inn10 => "inn10",
            IdentKind::Inn12 => "inn12",
            IdentKind::Inn => "inn",
            IdentKind::Ogrn => "ogrn",
            IdentKind::Ogrnip => "ogrnip",
            IdentKind::Kpp => "kpp",
            IdentKind::PassportSeries => "passport-series",
            IdentKind::PassportNumber => "passport-number",
        }
    }

    /// A valid sample value (digits only).
    pub(crate) fn sample(self) -> &'static str {
        match self {
            IdentKind::Snils => "11223344595",
            IdentKind::Inn10 | IdentKind::Inn => "7707083893",
            IdentKind::Inn12 => "500100732259",
            IdentKind::Ogrn => "1027700132195",
            IdentKind::Ogrnip => "304500116000157",
            IdentKind::Kpp => "770701001",
            IdentKind::PassportSeries => "4510",
            IdentKind::PassportNumber => "123456",
        }
    }

    fn probes(self) -> &'static [&'static str] {
        match self {
            IdentKind::Snils => &[
                "11223344595",
                "112-233-445 95",
                "112-233-445-95",
                "112 233 445 95",
            ],
            IdentKind::Inn => &["7707083893", "500100732259"],
            IdentKind::Ogrn => &["1027700132195", "304500116000157"],
            k => std::slice::from_ref(match k {
                IdentKind::Inn10 => &"7707083893",
                IdentKind::Inn12 => &"500100732259",
                IdentKind::Ogrnip => &"304500116000157",
                IdentKind::Kpp => &"770701001",
                IdentKind::PassportSeries => &"4510",
                _ => &"123456",
            }),
        }
    }
}

/// Whether an 11-digit SNILS (digits only or `123-456-789 01`) has a correct checksum.
pub fn snils_valid(value: &str) -> bool {
    let d: Vec<u32> = value
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .filter_map(|c| c.to_digit(10))
        .collect();
    if d.len() != 11
        || value
            .chars()
            .any(|c| !c.is_ascii_digit() && c != '-' && c != ' ')
    {
        return false;
    }
    let number: u64 = d[..9].iter().fold(0, |a, &x| a * 10 + u64::from(x));
    let check = d[9] * 10 + d[10];
    if number <= 1_001_998 {
        return true;
    }
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, &x)| x * (9 - i as u32))
        .sum();
    let expected = match sum {
        s if s < 100 => s,
        100 | 101 => 0,
        s => {
            let r = s % 101;
            if r == 100 { 0 } else { r }
        }
    };
    check == expected
}

fn digits(value: &str, len: usize) -> Option<Vec<u32>> {
    if value.len() != len || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.bytes().map(|b| u32::from(b - b'0')).collect())
}

fn weighted(d: &[u32], w: &[u32]) -> u32 {
    d.iter().zip(w).map(|(a, b)| a * b).sum::<u32>() % 11 % 10
}

/// Whether an INN (10 digits: legal entity, 12 digits: person) has correct check digits.
pub fn inn_valid(value: &str) -> bool {
    if let Some(d) = digits(value, 10) {
        return weighted(&d[..9], &[2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[9];
    }
    if let Some(d) = digits(value, 12) {
        let n11 = weighted(&d[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        let n12 = weighted(&d[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        return n11 == d[10] && n12 == d[11];
    }
    false
}

fn mod_check(value: &str, len: usize, modulus: u64) -> bool {
    let Some(d) = digits(value, len) else {
        return false;
    };
    let n: u64 = d[..len - 1].iter().fold(0, |a, &x| a * 10 + u64::from(x));
    (n % modulus % 10) as u32 == d[len - 1]
}

/// Whether a 13-digit OGRN has a correct check digit (mod 11).
pub fn ogrn_valid(value: &str) -> bool {
    mod_check(value, 13, 11)
}

/// Whether a 15-digit OGRNIP has a correct check digit (mod 13).
pub fn ogrnip_valid(value: &str) -> bool {
    mod_check(value, 15, 13)
}

/// Whether a KPP has the form `NNNNXXNNN` (X: digit or Latin capital letter).
pub fn kpp_valid(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 9
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4..6]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && b[6..].iter().all(u8::is_ascii_digit)
}

/// Checks and normalises a value of an identifier field. Err: (Russian, English) message.
pub(crate) fn check(
    kind: IdentKind,
    value: &str,
    check_digits: bool,
) -> Result<String, (String, String)> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\u{a0}'))
        .collect();
    let bad = |ru: &str, en: &str| Err((ru.to_string(), en.to_string()));
    let all_digits = compact.bytes().all(|b| b.is_ascii_digit());
    match kind {
        IdentKind::Snils => {
            if compact.len() != 11 || !all_digits {
                return bad("СНИЛС: нужно 11 цифр", "SNILS: 11 digits expected");
            }
            if check_digits && !snils_valid(&compact) {
                return bad("СНИЛС: неверная контрольная сумма", "SNILS: wrong checksum");
            }
        }
        IdentKind::Inn10 | IdentKind::Inn12 | IdentKind::Inn => {
            let want: &[usize] = match kind {
                IdentKind::Inn10 => &[10],
                IdentKind::Inn12 => &[12],
                _ => &[10, 12],
            };
            if !all_digits || !want.contains(&compact.len()) {
                return match kind {
                    IdentKind::Inn10 => bad(
                        "ИНН организации: нужно 10 цифр",
                        "INN of an organisation: 10 digits expected",
                    ),
                    IdentKind::Inn12 => bad(
                        "ИНН физического лица: нужно 12 цифр",
                        "INN of a person: 12 digits expected",
                    ),
                    _ => bad("ИНН: нужно 10 или 12 цифр", "INN: 10 or 12 digits expected"),
                };
            }
            if check_digits && !inn_valid(&compact) {
                return bad("ИНН: неверные контрольные цифры", "INN: wrong check digits");
            }
        }
        IdentKind::Ogrn | IdentKind::Ogrnip => {
            let ok_len = if kind == IdentKind::Ogrnip {
                compact.len() == 15
            } else {
                matches!(compact.len(), 13 | 15)
            };
            if !all_digits || !ok_len {
                return if kind == IdentKind::Ogrnip {
                    bad("ОГРНИП: нужно 15 цифр", "OGRNIP: 15 digits expected")
                } else {
                    bad("ОГРН: нужно 13 цифр", "OGRN: 13 digits expected")
                };
            }
            let valid = if compact.len() == 13 {
                ogrn_valid(&compact)
            } else {
                ogrnip_valid(&compact)
            };
            if check_digits && !valid {
                return bad(
                    "ОГРН: неверная контрольная цифра",
                    "OGRN: wrong check digit",
                );
            }
        }
        IdentKind::Kpp => {
            let up = compact.to_uppercase();
            if !kpp_valid(&up) {
                return bad(
                    "КПП: 9 знаков — 4 цифры, 2 цифры или заглавные латинские буквы, 3 цифры",
                    "KPP: 9 characters — 4 digits, 2 digits or capital Latin letters, 3 digits",
                );
            }
            return Ok(up);
        }
        IdentKind::PassportSeries => {
            if compact.len() != 4 || !all_digits {
                return bad(
                    "Серия паспорта: нужно 4 цифры",
                    "Passport series: 4 digits expected",
                );
            }
        }
        IdentKind::PassportNumber => {
            if compact.len() != 6 || !all_digits {
                return bad(
                    "Номер паспорта: нужно 6 цифр",
                    "Passport number: 6 digits expected",
                );
            }
        }
    }
    Ok(compact)
}

/// Writes a normalised identifier in the form the type's facets want (SNILS with or without
/// dashes and space; passport series as `NNNN` or `NN NN`).
pub(crate) fn format_for(kind: IdentKind, compact: &str, st: &SimpleType) -> String {
    let mut candidates = vec![compact.to_string()];
    if kind == IdentKind::Snils && compact.len() == 11 {
        let (a, b, c, d) = (
            &compact[0..3],
            &compact[3..6],
            &compact[6..9],
            &compact[9..11],
        );
        candidates.push(format!("{a}-{b}-{c} {d}"));
        candidates.push(format!("{a}-{b}-{c}-{d}"));
        candidates.push(format!("{a} {b} {c} {d}"));
        candidates.push(format!("{a}-{b}-{c}  {d}"));
    }
    if kind == IdentKind::PassportSeries && compact.len() == 4 {
        candidates.push(format!("{} {}", &compact[..2], &compact[2..]));
    }
    for c in &candidates {
        if fits_facets(c, st) {
            return c.clone();
        }
    }
    compact.to_string()
}

pub(crate) fn fits_facets(value: &str, st: &SimpleType) -> bool {
    let n = value.chars().count() as u32;
    let f = &st.facets;
    if f.length.is_some_and(|l| n != l)
        || f.min_length.is_some_and(|l| n < l)
        || f.max_length.is_some_and(|l| n > l)
    {
        return false;
    }
    regex::matches_all(&f.patterns, value)
}

/// Whether `abbr` (upper case) occurs in `name` as an abbreviation: at a word or camel-case
/// boundary on both sides (or written in capitals).
fn has_abbr(name: &str, abbr: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let a: Vec<char> = abbr.chars().collect();
    if a.is_empty() || n.len() < a.len() {
        return false;
    }
    for i in 0..=n.len() - a.len() {
        let seg = &n[i..i + a.len()];
        if !seg
            .iter()
            .zip(&a)
            .all(|(x, y)| x.to_uppercase().eq(y.to_uppercase()))
        {
            continue;
        }
        let all_caps = seg.iter().all(|c| !c.is_lowercase());
        let start_ok = i == 0 || !n[i - 1].is_alphabetic() || seg[0].is_uppercase();
        let end = i + a.len();
        let end_ok = end == n.len()
            || !n[end].is_alphabetic()
            || n[end].is_uppercase()
            || (all_caps && !n[end].is_lowercase());
        let caps_ok = !seg[0].is_lowercase() || i == 0 || !n[i - 1].is_alphabetic();
        if start_ok && end_ok && caps_ok {
            return true;
        }
    }
    false
}

fn name_has(names: &[&str], abbrs: &[&str]) -> bool {
    names.iter().any(|n| abbrs.iter().any(|a| has_abbr(n, a)))
}

fn probes_fit(kind: IdentKind, st: &SimpleType) -> Vec<&'static str> {
    kind.probes()
        .iter()
        .copied()
        .filter(|p| fits_facets(p, st))
        .collect()
}

/// Recognises an identifier by the field's name, its type's name, its parent's names and the
/// facets (which must admit a valid value of the identifier).
pub(crate) fn detect(
    name: &str,
    st: &SimpleType,
    parent: &str,
    parent_type: &str,
) -> Option<IdentKind> {
    if !st.facets.enumeration.is_empty() || !(st.base.is_text() || st.base == Builtin::Integer) {
        return None;
    }
    let tname = st.type_name.as_deref().unwrap_or("");
    let names = [name, tname];
    let kind = if name_has(&names, &["OGRNIP", "ОГРНИП"]) {
        IdentKind::Ogrnip
    } else if name_has(&names, &["OGRN", "ОГРН"]) {
        IdentKind::Ogrn
    } else if name_has(&names, &["SNILS", "СНИЛС"]) {
        IdentKind::Snils
    } else if name_has(&names, &["KPP", "КПП"]) {
        IdentKind::Kpp
    } else if name_has(&names, &["INNFL", "ИННФЛ", "INNIP", "ИННИП"]) {
        IdentKind::Inn12
    } else if name_has(&names, &["INNUL", "ИННЮЛ", "INNYL", "INNLE"]) {
        IdentKind::Inn10
    } else if name_has(&names, &["INN", "ИНН"]) {
        IdentKind::Inn
    } else {
        let lname = name.to_lowercase();
        let parents = format!("{} {}", parent.to_lowercase(), parent_type.to_lowercase());
        let passportish = parents.contains("passport") || parents.contains("паспорт");
        let documentish = passportish
            || parents.contains("document")
            || parents.contains("документ")
            || parents.contains("удлич")
            || parents.contains("identity");
        let series = lname.contains("passportseries")
            || lname.contains("серияпаспорт")
            || (documentish && (lname.starts_with("seri") || lname.starts_with("сери")));
        let number = lname.contains("passportnumber")
            || lname.contains("номерпаспорт")
            || (documentish && (lname.starts_with("num") || lname.starts_with("номер")));
        let explicit = lname.contains("passport") || lname.contains("паспорт") || passportish;
        let kind = if series {
            IdentKind::PassportSeries
        } else if number {
            IdentKind::PassportNumber
        } else {
            return None;
        };
        // For generic documents the facets must pin the passport form down.
        let f = &st.facets;
        let pinned = f.length.is_some() || !f.patterns.is_empty();
        if !explicit && !pinned {
            return None;
        }
        return (!probes_fit(kind, st).is_empty()).then_some(kind);
    };
    let fit = probes_fit(kind, st);
    match kind {
        IdentKind::Inn => match (fit.contains(&"7707083893"), fit.contains(&"500100732259")) {
            (true, true) => Some(IdentKind::Inn),
            (true, false) => Some(IdentKind::Inn10),
            (false, true) => Some(IdentKind::Inn12),
            _ => None,
        },
        IdentKind::Ogrn => match (
            fit.contains(&"1027700132195"),
            fit.contains(&"304500116000157"),
        ) {
            (true, _) => Some(IdentKind::Ogrn),
            (false, true) => Some(IdentKind::Ogrnip),
            _ => None,
        },
        k => (!fit.is_empty()).then_some(k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snils() {
        assert!(snils_valid("112-233-445 95"));
        assert!(snils_valid("11223344595"));
        assert!(!snils_valid("112-233-445 96"));
        assert!(!snils_valid("11223344495"));
        assert!(!snils_valid("1122334459"));
        assert!(check(IdentKind::Snils, "112-233-445 95", true).is_ok());
        assert!(check(IdentKind::Snils, "112-233-445 94", true).is_err());
    }

    #[test]
    fn inn() {
        assert!(inn_valid("7707083893"));
        assert!(inn_valid("500100732259"));
        assert!(!inn_valid("7707083894"));
        assert!(!inn_valid("500100732258"));
        assert!(!inn_valid("500100732249"));
        assert!(!inn_valid("77070838931"));
        assert!(check(IdentKind::Inn12, "7707083893", true).is_err());
        assert!(check(IdentKind::Inn10, "7707083893", true).is_ok());
        assert!(check(IdentKind::Inn, "500100732259", true).is_ok());
    }

    #[test]
    fn ogrn() {
        assert!(ogrn_valid("1027700132195"));
        assert!(!ogrn_valid("1027700132196"));
        assert!(!ogrn_valid("102770013219"));
        assert!(ogrnip_valid("304500116000157"));
        assert!(!ogrnip_valid("304500116000158"));
        assert!(check(IdentKind::Ogrn, "304500116000157", true).is_ok());
        assert!(check(IdentKind::Ogrnip, "1027700132195", true).is_err());
    }

    #[test]
    fn kpp_and_passport() {
        assert!(kpp_valid("773601001"));
        assert!(kpp_valid("7736AB001"));
        assert!(!kpp_valid("7736ab001"));
        assert!(!kpp_valid("77360100"));
        assert_eq!(
            check(IdentKind::Kpp, "7736ab001", true).unwrap(),
            "7736AB001"
        );
        assert!(check(IdentKind::PassportSeries, "45 10", true).is_ok());
        assert!(check(IdentKind::PassportSeries, "451", true).is_err());
        assert!(check(IdentKind::PassportNumber, "123456", true).is_ok());
        assert!(check(IdentKind::PassportNumber, "12345a", true).is_err());
    }

    #[test]
    fn abbreviations() {
        assert!(has_abbr("Snils", "SNILS"));
        assert!(has_abbr("PersonINN", "INN"));
        assert!(has_abbr("innFl", "INN"));
        assert!(has_abbr("ИННЮЛ", "ИНН"));
        assert!(has_abbr("ДатаОГРН", "ОГРН"));
        assert!(!has_abbr("Dinner", "INN"));
        assert!(!has_abbr("InnerCode", "INN"));
        assert!(!has_abbr("Длинный", "ИНН"));
    }

    #[test]
    fn detection() {
        let mut st = SimpleType::string();
        assert_eq!(detect("Snils", &st, "", ""), Some(IdentKind::Snils));
        assert_eq!(detect("ИННФЛ", &st, "", ""), Some(IdentKind::Inn12));
        assert_eq!(detect("INN", &st, "", ""), Some(IdentKind::Inn));
        st.facets.length = Some(10);
        assert_eq!(detect("INN", &st, "", ""), Some(IdentKind::Inn10));
        assert_eq!(
            detect("Series", &SimpleType::string(), "Passport", ""),
            Some(IdentKind::PassportSeries)
        );
        assert_eq!(
            detect("Series", &SimpleType::string(), "Document", ""),
            None
        );
        let mut digits4 = SimpleType::string();
        digits4.facets.patterns.push(vec!["\\d{4}".into()]);
        assert_eq!(
            detect("Серия", &digits4, "Документ", ""),
            Some(IdentKind::PassportSeries)
        );
        let mut snils_fmt = SimpleType::string();
        snils_fmt
            .facets
            .patterns
            .push(vec!["\\d{3}-\\d{3}-\\d{3} \\d{2}".into()]);
        assert_eq!(detect("СНИЛС", &snils_fmt, "", ""), Some(IdentKind::Snils));
        assert_eq!(
            format_for(IdentKind::Snils, "11223344595", &snils_fmt),
            "112-233-445 95"
        );
        assert_eq!(
            format_for(IdentKind::Snils, "11223344595", &SimpleType::string()),
            "11223344595"
        );
    }
}
