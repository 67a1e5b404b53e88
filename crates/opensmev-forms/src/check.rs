//! Friendly per-field checks of a submitted value against its simple type (not full XSD
//! validation: libxml2 has the last word).

use crate::Lang;
use crate::ident;
use crate::model::{Builtin, SimpleType, Variety};
use crate::regex;

fn msg(lang: Lang, ru: &str, en: &str) -> String {
    lang.t(ru, en).to_string()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_date(y: &str, m: &str, d: &str) -> bool {
    if y.len() != 4
        || m.len() != 2
        || d.len() != 2
        || !is_digits(y)
        || !is_digits(m)
        || !is_digits(d)
    {
        return false;
    }
    let (y, m, d): (u32, u32, u32) = (
        y.parse().unwrap_or(0),
        m.parse().unwrap_or(0),
        d.parse().unwrap_or(0),
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn split_tz(s: &str) -> (&str, &str) {
    if let Some(p) = s.strip_suffix('Z') {
        return (p, "Z");
    }
    if s.len() > 6 && s.is_char_boundary(s.len() - 6) {
        let cut = s.len() - 6;
        let tail = &s[cut..];
        let b = tail.as_bytes();
        if (b[0] == b'+' || b[0] == b'-')
            && b[3] == b':'
            && is_digits(&tail[1..3])
            && is_digits(&tail[4..])
        {
            return (&s[..cut], tail);
        }
    }
    (s, "")
}

/// `YYYY-MM-DD` (also accepts `DD.MM.YYYY` and converts it).
fn date(v: &str) -> Option<String> {
    let (d, tz) = split_tz(v);
    if let [dd, mm, yy] = d.split('.').collect::<Vec<_>>()[..]
        && valid_date(yy, mm, dd)
    {
        return Some(format!("{yy}-{mm}-{dd}{tz}"));
    }
    match d.split('-').collect::<Vec<_>>()[..] {
        [y, m, dd] if valid_date(y, m, dd) => Some(format!("{d}{tz}")),
        _ => None,
    }
}

fn time(v: &str) -> Option<String> {
    let (t, tz) = split_tz(v);
    let parts: Vec<&str> = t.split(':').collect();
    let ok2 = |s: &str, max: u32| {
        s.len() == 2 && is_digits(s) && s.parse::<u32>().is_ok_and(|n| n <= max)
    };
    match parts[..] {
        [h, m] if ok2(h, 23) && ok2(m, 59) => Some(format!("{h}:{m}:00{tz}")),
        [h, m, s] if ok2(h, 23) && ok2(m, 59) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
            (ok2(whole, 59) && is_digits(frac)).then(|| format!("{t}{tz}"))
        }
        _ => None,
    }
}

fn date_time(v: &str) -> Option<String> {
    let v = v.replacen(' ', "T", 1);
    let (d, t) = v.split_once('T')?;
    let d = date(d)?;
    let t = time(t)?;
    Some(format!("{d}T{t}"))
}

fn number(v: &str) -> Option<f64> {
    v.parse::<f64>().ok()
}

fn digits_of(v: &str) -> (usize, usize) {
    let v = v.trim_start_matches(['-', '+']);
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    (int.len() + frac.len(), frac.len())
}

/// Checks a non-empty value against its type; returns the value to write (normalised) or a
/// message.
pub(crate) fn check_value(st: &SimpleType, value: &str, lang: Lang) -> Result<String, String> {
    check_value_opts(st, value, lang, true)
}

/// [`check_value`] with the identifiers' check digits optional (test data often has fake ones).
pub(crate) fn check_value_opts(
    st: &SimpleType,
    value: &str,
    lang: Lang,
    check_digits: bool,
) -> Result<String, String> {
    let v = value.trim();
    if st.variety == Variety::Union {
        let mut first_err = None;
        for m in &st.members {
            match check_value_opts(m, v, lang, check_digits) {
                Ok(x) => return Ok(x),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        return match first_err {
            Some(e) if !st.members.is_empty() => Err(e),
            _ => Ok(v.to_string()),
        };
    }
    if st.variety == Variety::List {
        return Ok(v.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if let Some(kind) = st.ident {
        return match ident::check(kind, v, check_digits) {
            // Kept as typed when the facets accept it, else written the way they want.
            Ok(_)
                if ident::fits_facets(v, st)
                    && (kind != crate::IdentKind::Kpp || v == v.to_uppercase()) =>
            {
                Ok(v.to_string())
            }
            Ok(compact) => Ok(ident::format_for(kind, &compact, st)),
            Err((ru, en)) => Err(msg(lang, &ru, &en)),
        };
    }
    let f = &st.facets;
    if !f.enumeration.is_empty() {
        return if f.enumeration.iter().any(|(e, _)| e == v) {
            Ok(v.to_string())
        } else {
            Err(msg(
                lang,
                "Выберите значение из списка",
                "Choose a value from the list",
            ))
        };
    }
    let out = match st.base {
        Builtin::Boolean => match v.to_lowercase().as_str() {
            "true" | "1" | "on" | "да" | "yes" => "true".to_string(),
            "false" | "0" | "нет" | "no" => "false".to_string(),
            _ => return Err(msg(lang, "Нужно «да» или «нет»", "Yes or no expected")),
        },
        Builtin::Integer | Builtin::Decimal | Builtin::Float => {
            let n = v.replace(',', ".").replace([' ', '\u{a0}'], "");
            let well_formed = match st.base {
                Builtin::Integer => {
                    let d = n.strip_prefix(['-', '+']).unwrap_or(&n);
                    is_digits(d)
                }
                Builtin::Decimal => {
                    let d = n.strip_prefix(['-', '+']).unwrap_or(&n);
                    let (a, b) = d.split_once('.').unwrap_or((d, "0"));
                    (is_digits(a) || a.is_empty()) && is_digits(b)
                }
                _ => number(&n).is_some() || matches!(n.as_str(), "INF" | "-INF" | "NaN"),
            };
            if !well_formed {
                return Err(if st.base == Builtin::Integer {
                    msg(lang, "Нужно целое число", "An integer expected")
                } else {
                    msg(lang, "Нужно число", "A number expected")
                });
            }
            if st.base != Builtin::Float {
                let (total, frac) = digits_of(&n);
                if f.total_digits.is_some_and(|t| total > t as usize) {
                    return Err(format!(
                        "{} {}",
                        msg(
                            lang,
                            "Слишком много цифр, не больше",
                            "Too many digits, at most"
                        ),
                        f.total_digits.unwrap_or(0)
                    ));
                }
                if f.fraction_digits.is_some_and(|t| frac > t as usize) {
                    return Err(format!(
                        "{} {}",
                        msg(
                            lang,
                            "Слишком много знаков после запятой, не больше",
                            "Too many fraction digits, at most"
                        ),
                        f.fraction_digits.unwrap_or(0)
                    ));
                }
            }
            if let Some(x) = number(&n) {
                let lo_in = f.min_inclusive.as_deref().and_then(number);
                let hi_in = f.max_inclusive.as_deref().and_then(number);
                let lo_ex = f.min_exclusive.as_deref().and_then(number);
                let hi_ex = f.max_exclusive.as_deref().and_then(number);
                let low = lo_in.is_some_and(|b| x < b) || lo_ex.is_some_and(|b| x <= b);
                let high = hi_in.is_some_and(|b| x > b) || hi_ex.is_some_and(|b| x >= b);
                if low || high {
                    let lo = f
                        .min_inclusive
                        .clone()
                        .or(f.min_exclusive.clone())
                        .unwrap_or_else(|| "…".into());
                    let hi = f
                        .max_inclusive
                        .clone()
                        .or(f.max_exclusive.clone())
                        .unwrap_or_else(|| "…".into());
                    return Err(format!(
                        "{} {lo} — {hi}",
                        msg(lang, "Число вне диапазона", "Number out of range")
                    ));
                }
            }
            n
        }
        Builtin::Date => date(v)
            .ok_or_else(|| msg(lang, "Нужна дата ГГГГ-ММ-ДД", "A date YYYY-MM-DD expected"))?,
        Builtin::DateTime => date_time(v).ok_or_else(|| {
            msg(
                lang,
                "Нужны дата и время ГГГГ-ММ-ДДTчч:мм:сс",
                "A date and time YYYY-MM-DDThh:mm:ss expected",
            )
        })?,
        Builtin::Time => {
            time(v).ok_or_else(|| msg(lang, "Нужно время чч:мм:сс", "A time hh:mm:ss expected"))?
        }
        Builtin::GYear => {
            if !(v.len() == 4 && is_digits(v)) {
                return Err(msg(lang, "Нужен год ГГГГ", "A year YYYY expected"));
            }
            v.to_string()
        }
        Builtin::GYearMonth => {
            let ok = v.is_ascii()
                && v.len() == 7
                && v.as_bytes()[4] == b'-'
                && is_digits(&v[..4])
                && valid_date(&v[..4], &v[5..], "01");
            if !ok {
                return Err(msg(lang, "Нужен месяц ГГГГ-ММ", "A month YYYY-MM expected"));
            }
            v.to_string()
        }
        Builtin::Base64 => v.split_whitespace().collect(),
        _ => match f.white_space.as_deref() {
            Some("collapse") => v.split_whitespace().collect::<Vec<_>>().join(" "),
            _ if st.base == Builtin::Token => v.split_whitespace().collect::<Vec<_>>().join(" "),
            _ => v.to_string(),
        },
    };
    if !st.base.is_numeric() {
        let n = out.chars().count() as u32;
        if let Some(l) = f.length
            && n != l
        {
            return Err(format!(
                "{} {l}",
                msg(lang, "Нужно символов:", "Characters required:")
            ));
        }
        if let Some(l) = f.min_length
            && n < l
        {
            return Err(format!(
                "{} {l}",
                msg(
                    lang,
                    "Слишком коротко, символов не меньше",
                    "Too short, at least"
                )
            ));
        }
        if let Some(l) = f.max_length
            && n > l
        {
            return Err(format!(
                "{} {l}",
                msg(
                    lang,
                    "Слишком длинно, символов не больше",
                    "Too long, at most"
                )
            ));
        }
    }
    if !regex::matches_all(&f.patterns, &out) {
        return Err(msg(
            lang,
            "Значение не подходит под формат поля",
            "The value does not match the field's format",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_numbers() {
        let mut st = SimpleType::string();
        st.base = Builtin::Date;
        assert_eq!(
            check_value(&st, "15.01.2024", Lang::Ru).unwrap(),
            "2024-01-15"
        );
        assert_eq!(
            check_value(&st, "2024-02-29", Lang::Ru).unwrap(),
            "2024-02-29"
        );
        assert!(check_value(&st, "2023-02-29", Lang::Ru).is_err());
        st.base = Builtin::DateTime;
        assert_eq!(
            check_value(&st, "2024-01-15T10:00", Lang::Ru).unwrap(),
            "2024-01-15T10:00:00"
        );
        st.base = Builtin::Decimal;
        st.facets.fraction_digits = Some(2);
        assert_eq!(check_value(&st, "12,50", Lang::Ru).unwrap(), "12.50");
        assert!(check_value(&st, "12.555", Lang::Ru).is_err());
        assert!(check_value(&st, "abc", Lang::En).is_err());
        st.base = Builtin::Integer;
        st.facets.min_inclusive = Some("1".into());
        assert!(check_value(&st, "0", Lang::Ru).is_err());
        assert!(check_value(&st, "5", Lang::Ru).is_ok());
    }

    #[test]
    fn odd_input_never_panics() {
        use Builtin::*;
        let inputs = [
            "",
            "ЖЖЖЖЖЖЖЖ",
            "2024-ЖЖ-01",
            "Ж2024-01",
            "12:ЖЖ",
            "-",
            "+",
            ".",
            "1e999",
            "ЖЖЖ+03:00",
            "T",
            "2024-01-15TЖ",
        ];
        for base in [
            String, Boolean, Decimal, Integer, Float, Date, DateTime, Time, GYear, GYearMonth,
            GOther, Base64, Token,
        ] {
            let mut st = SimpleType::string();
            st.base = base;
            st.facets.total_digits = Some(3);
            st.facets.min_inclusive = Some("x".into());
            for v in inputs {
                let _ = check_value(&st, v, Lang::Ru);
            }
        }
    }
}
