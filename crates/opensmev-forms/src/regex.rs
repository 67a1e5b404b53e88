//! XSD regular expressions: translation to `regex-syntax`, a small matcher, sample generation,
//! and the check whether a pattern can be given to the browser as an HTML `pattern`.

use std::collections::BTreeSet;

use regex_syntax::hir::{Class, Hir, HirKind};

fn block(name: &str) -> &'static str {
    match name {
        "BasicLatin" => "\\x{0}-\\x{7F}",
        "Latin-1Supplement" => "\\x{80}-\\x{FF}",
        "LatinExtended-A" => "\\x{100}-\\x{17F}",
        "Greek" | "GreekandCoptic" => "\\x{370}-\\x{3FF}",
        "Cyrillic" => "\\x{400}-\\x{4FF}",
        "CyrillicSupplement" | "CyrillicSupplementary" => "\\x{500}-\\x{52F}",
        "GeneralPunctuation" => "\\x{2000}-\\x{206F}",
        _ => "\\p{L}",
    }
}

/// Translates an XSD pattern into the syntax of `regex-syntax` (`\i`, `\c`, `\p{IsBlock}`,
/// class subtraction `[a-z-[aeiou]]`, literal `^`/`$`).
pub(crate) fn translate(xsd: &str) -> String {
    let c: Vec<char> = xsd.chars().collect();
    let mut out = String::with_capacity(xsd.len() + 8);
    let mut depth = 0usize;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let in_class = depth > 0;
        match ch {
            '\\' if i + 1 < c.len() => {
                let n = c[i + 1];
                i += 2;
                let (name_start, name_char, neg) = match n {
                    'i' => ("_:A-Za-z", true, false),
                    'I' => ("_:A-Za-z", true, true),
                    'c' => ("\\-._:A-Za-z0-9", true, false),
                    'C' => ("\\-._:A-Za-z0-9", true, true),
                    _ => ("", false, false),
                };
                if name_char {
                    if in_class {
                        out.push_str(name_start);
                    } else {
                        out.push_str(if neg { "[^" } else { "[" });
                        out.push_str(name_start);
                        out.push(']');
                    }
                    continue;
                }
                if (n == 'p' || n == 'P') && i < c.len() && c[i] == '{' {
                    let end = c[i..].iter().position(|&x| x == '}').map(|p| p + i);
                    if let Some(end) = end {
                        let name: String = c[i + 1..end].iter().collect();
                        i = end + 1;
                        if let Some(b) = name.strip_prefix("Is") {
                            let r = block(b);
                            if in_class {
                                out.push_str(r);
                            } else {
                                out.push_str(if n == 'P' { "[^" } else { "[" });
                                out.push_str(r);
                                out.push(']');
                            }
                        } else {
                            out.push('\\');
                            out.push(n);
                            out.push('{');
                            out.push_str(&name);
                            out.push('}');
                        }
                        continue;
                    }
                }
                out.push('\\');
                out.push(n);
            }
            '[' => {
                depth += 1;
                out.push('[');
                i += 1;
            }
            ']' if in_class => {
                depth -= 1;
                out.push(']');
                i += 1;
            }
            '-' if in_class && c.get(i + 1) == Some(&'[') => {
                out.push_str("--");
                i += 1;
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(ch);
                i += 1;
            }
            '^' if !in_class => {
                out.push_str("\\^");
                i += 1;
            }
            '^' if in_class && i > 0 && c[i - 1] != '[' => {
                out.push_str("\\^");
                i += 1;
            }
            '$' => {
                out.push_str("\\$");
                i += 1;
            }
            _ => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// Parses an XSD pattern; `None` when it cannot be translated.
pub(crate) fn parse(xsd: &str) -> Option<Hir> {
    let t = translate(xsd);
    regex_syntax::ParserBuilder::new()
        .unicode(true)
        .utf8(true)
        .nest_limit(100)
        .build()
        .parse(&t)
        .ok()
}

fn class_has(class: &Class, ch: char) -> bool {
    match class {
        Class::Unicode(u) => u.ranges().iter().any(|r| r.start() <= ch && ch <= r.end()),
        Class::Bytes(b) => {
            let v = ch as u32;
            v < 256
                && b.ranges()
                    .iter()
                    .any(|r| u32::from(r.start()) <= v && v <= u32::from(r.end()))
        }
    }
}

fn ends(h: &Hir, s: &[char], at: &BTreeSet<usize>, budget: &mut u32) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    if *budget == 0 {
        return out;
    }
    *budget -= 1;
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => out = at.clone(),
        HirKind::Literal(lit) => {
            let text = String::from_utf8_lossy(&lit.0);
            let lc: Vec<char> = text.chars().collect();
            for &i in at {
                if s.len() >= i + lc.len() && s[i..i + lc.len()] == lc[..] {
                    out.insert(i + lc.len());
                }
            }
        }
        HirKind::Class(class) => {
            for &i in at {
                if i < s.len() && class_has(class, s[i]) {
                    out.insert(i + 1);
                }
            }
        }
        HirKind::Capture(cap) => out = ends(&cap.sub, s, at, budget),
        HirKind::Concat(items) => {
            let mut cur = at.clone();
            for it in items {
                cur = ends(it, s, &cur, budget);
                if cur.is_empty() {
                    break;
                }
            }
            out = cur;
        }
        HirKind::Alternation(items) => {
            for it in items {
                out.extend(ends(it, s, at, budget));
            }
        }
        HirKind::Repetition(rep) => {
            let mut cur = at.clone();
            if rep.min == 0 {
                out.extend(cur.iter().copied());
            }
            let max = rep.max.unwrap_or(u32::MAX);
            let mut k = 0u32;
            let mut seen = cur.clone();
            while k < max && !cur.is_empty() {
                k += 1;
                let next = ends(&rep.sub, s, &cur, budget);
                if k >= rep.min {
                    out.extend(next.iter().copied());
                }
                if k >= rep.min && next.iter().all(|p| seen.contains(p)) {
                    break;
                }
                seen.extend(next.iter().copied());
                cur = next;
                if k as usize > s.len() + 1 && k >= rep.min {
                    break;
                }
            }
        }
    }
    out
}

/// Whether `value` matches the whole XSD pattern. An unparsable pattern matches everything (the
/// bus's libxml2 validation has the last word).
pub(crate) fn matches(pattern: &str, value: &str) -> bool {
    let Some(h) = parse(pattern) else { return true };
    let s: Vec<char> = value.chars().collect();
    let mut budget = 200_000;
    let start = BTreeSet::from([0usize]);
    ends(&h, &s, &start, &mut budget).contains(&s.len()) || budget == 0
}

/// Whether `value` matches every step (each step: any of its patterns).
pub(crate) fn matches_all(steps: &[Vec<String>], value: &str) -> bool {
    steps
        .iter()
        .all(|step| step.is_empty() || step.iter().any(|p| matches(p, value)))
}

const PREFERRED: [char; 8] = ['А', 'а', 'A', 'a', '1', '0', 'Б', 'б'];

fn pick(class: &Class) -> Option<char> {
    if let Some(c) = PREFERRED.iter().find(|&&c| class_has(class, c)) {
        return Some(*c);
    }
    match class {
        Class::Unicode(u) => {
            let printable = u.ranges().iter().find_map(|r| {
                let lo = r.start().max('!');
                (lo <= r.end()).then_some(lo)
            });
            printable.or_else(|| u.ranges().first().map(|r| r.start()))
        }
        Class::Bytes(b) => b.ranges().first().map(|r| r.start() as char),
    }
}

struct Gen {
    extra: usize,
    last_alt: bool,
    steps: u32,
}

impl Gen {
    fn emit(&mut self, h: &Hir, out: &mut String) -> bool {
        self.steps += 1;
        if self.steps > 100_000 {
            return false;
        }
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => true,
            HirKind::Literal(lit) => {
                out.push_str(&String::from_utf8_lossy(&lit.0));
                true
            }
            HirKind::Class(class) => match pick(class) {
                Some(c) => {
                    out.push(c);
                    true
                }
                None => false,
            },
            HirKind::Capture(cap) => self.emit(&cap.sub, out),
            HirKind::Concat(items) => items.iter().all(|it| self.emit(it, out)),
            HirKind::Alternation(items) => {
                let order: Vec<&Hir> = if self.last_alt {
                    items.iter().rev().collect()
                } else {
                    items.iter().collect()
                };
                for it in order {
                    let mark = out.len();
                    if self.emit(it, out) {
                        return true;
                    }
                    out.truncate(mark);
                }
                false
            }
            HirKind::Repetition(rep) => {
                let mut n = 0;
                while n < rep.min {
                    if !self.emit(&rep.sub, out) {
                        return false;
                    }
                    n += 1;
                }
                let max = rep.max.unwrap_or(u32::MAX);
                while self.extra > 0 && n < max {
                    let before = out.chars().count();
                    let mark = out.len();
                    if !self.emit(&rep.sub, out) {
                        out.truncate(mark);
                        break;
                    }
                    let added = out.chars().count() - before;
                    if added == 0 {
                        break;
                    }
                    self.extra = self.extra.saturating_sub(added);
                    n += 1;
                }
                true
            }
        }
    }
}

/// Candidate strings matching an XSD pattern: the shortest deterministic one, and longer ones
/// aimed at `want_len` characters.
pub(crate) fn generate(pattern: &str, want_len: usize) -> Vec<String> {
    let Some(h) = parse(pattern) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for last_alt in [false, true] {
        let mut s = String::new();
        let mut g = Gen {
            extra: 0,
            last_alt,
            steps: 0,
        };
        if !g.emit(&h, &mut s) {
            continue;
        }
        let len = s.chars().count();
        out.push(s);
        if want_len > len {
            let mut s2 = String::new();
            let mut g = Gen {
                extra: want_len - len,
                last_alt,
                steps: 0,
            };
            if g.emit(&h, &mut s2) {
                out.push(s2);
            }
        }
    }
    out
}

/// Whether an XSD pattern can be used as-is as an HTML `pattern` attribute (browsers compile it
/// with the `v` flag, which rejects many escapes XSD allows): a conservative whitelist.
pub(crate) fn js_safe(xsd: &str) -> bool {
    if parse(xsd).is_none() {
        return false;
    }
    let c: Vec<char> = xsd.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    let mut prev_lit: Option<char> = None;
    while i < c.len() {
        let ch = c[i];
        if in_class {
            match ch {
                ']' if !class_start => in_class = false,
                '^' if class_start => {}
                '\\' => {
                    let n = c.get(i + 1).copied().unwrap_or(' ');
                    if !"dsDS-.\\".contains(n) {
                        return false;
                    }
                    prev_lit = if n == '-' || n == '.' { Some(n) } else { None };
                    i += 2;
                    class_start = false;
                    continue;
                }
                '-' => {
                    let next = c.get(i + 1).copied().unwrap_or(']');
                    let ok = prev_lit.is_some_and(char::is_alphanumeric) && next.is_alphanumeric();
                    if !ok {
                        return false;
                    }
                }
                '(' | ')' | '[' | '{' | '}' | '/' | '|' => return false,
                c2 if c2.is_alphanumeric() || " ,.'+*?_@#:;\"№!%<>=".contains(c2) => {
                    if !c2.is_alphanumeric() && prev_lit == Some(c2) {
                        return false;
                    }
                }
                _ => return false,
            }
            prev_lit = if ch == '-' { None } else { Some(ch) };
            class_start = false;
            i += 1;
            continue;
        }
        match ch {
            '[' => {
                in_class = true;
                class_start = true;
                prev_lit = None;
            }
            '\\' => {
                let n = c.get(i + 1).copied().unwrap_or(' ');
                if !"dDsS.+()*?[]{}|\\/".contains(n) {
                    return false;
                }
                i += 2;
                continue;
            }
            '{' => {
                let end = c[i..].iter().position(|&x| x == '}').map(|p| p + i);
                let Some(end) = end else { return false };
                let body: String = c[i + 1..end].iter().collect();
                let ok = !body.is_empty()
                    && body.split(',').count() <= 2
                    && body.split(',').enumerate().all(|(k, p)| {
                        (k == 1 && p.is_empty())
                            || p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty()
                    });
                if !ok {
                    return false;
                }
                i = end + 1;
                continue;
            }
            '}' | ']' | '^' | '$' => return false,
            c2 if c2.is_alphanumeric() || " ()|?*+.,-'_@:/№\"".contains(c2) => {}
            _ => return false,
        }
        i += 1;
    }
    !in_class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_and_matching() {
        assert!(matches("\\d{3}-\\d{3}-\\d{3} \\d{2}", "112-233-445 95"));
        assert!(!matches("\\d{3}-\\d{3}-\\d{3} \\d{2}", "11223344595"));
        assert!(matches("[a-z-[aeiou]]+", "bcd"));
        assert!(!matches("[a-z-[aeiou]]+", "bad"));
        assert!(matches("\\i\\c*", "x-1"));
        assert!(matches("\\p{IsCyrillic}+", "Привет"));
        assert!(matches("^a$", "^a$"));
        assert!(matches("\\S+[\\S\\s]*\\S+", "ab c"));
        assert!(!matches("\\S+[\\S\\s]*\\S+", "a"));
        assert!(matches("[0-9]{2}([0-9]{2})|([А-Я]{2})", "АБ"));
    }

    #[test]
    fn generation() {
        for p in [
            "\\d{11}",
            "[125]{1}\\d{12}",
            "([0-9]{1}[1-9]{1}|[1-9]{1}[0-9]{1})[0-9]{8}",
            "[0-9a-zA-Z_.\\-]{2,50}[@]{1}[0-9a-zA-Z_./-]{2,50}[.]{1}[a-zA-Z]{2,5}",
            "\\S+[\\S\\s]*\\S+",
            "[IVXLCDM]{1,10}[\\-][А-Я]{2}",
            "(((0[1-9]{1}|[1-2]{1}[0-9]{1})\\.(0[1-9]{1}|1[0-2]{1}))|((30)\\.(01|0[3-9]{1}|1[0-2]{1})))\\.(18[0-9]{2}|19[0-9]{2}|20[0-9]{2})",
            "[a-z-[aeiou]]{3}",
        ] {
            let g = generate(p, 0);
            assert!(!g.is_empty(), "{p}");
            assert!(matches(p, &g[0]), "{p} -> {}", g[0]);
        }
        let long = generate("[А-Я]{1,50}", 10);
        assert_eq!(long[1].chars().count(), 10);
    }

    #[test]
    fn js() {
        assert!(js_safe("\\d{11}"));
        assert!(js_safe("[0-9а-яА-ЯA-Za-z]{1,25}"));
        assert!(js_safe("\\d{3}-\\d{3}-\\d{3} \\d{2}"));
        assert!(!js_safe("[a-z-[aeiou]]"));
        assert!(!js_safe("\\i\\c*"));
        assert!(js_safe("[а-яА-ЯёЁ\\-\\s,.0-9]{1,200}"));
        assert!(!js_safe("^a$"));
        assert!(!js_safe("[0-9a-zA-Z_./-]{2,50}"));
    }
}
