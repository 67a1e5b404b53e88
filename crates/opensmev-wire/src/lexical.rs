//! XML Schema lexical rules the codec needs (xs:dateTime, xs:boolean, xs:int, xs:NCName,
//! base64Binary, the SMEV UUID and MIME patterns) and XML escaping for output.

use base64::Engine as _;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The offset given to an `xs:dateTime` written without a time zone: Moscow time, the clock of
/// the real SMEV (a Java service reading such a value in its default zone does the same).
pub const NAIVE_DATETIME_OFFSET: UtcOffset = match UtcOffset::from_hms(3, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// XML white space (the four characters of the `S` production).
pub(crate) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `whiteSpace = collapse` for values that cannot contain inner spaces: leading and trailing
/// white space removed.
pub(crate) fn collapse(text: &str) -> &str {
    text.trim_matches(is_xml_space)
}

/// Parses an `xs:dateTime` (XSD 1.0 lexical form, white space collapsed). A value without a
/// time zone is read as [`NAIVE_DATETIME_OFFSET`]; `24:00:00` is the first instant of the next
/// day; fractions beyond nanoseconds are truncated.
pub fn parse_date_time(text: &str) -> Result<OffsetDateTime, String> {
    let s = collapse(text);
    let bad = || format!("'{s}' is not a valid xs:dateTime");
    let b = s.as_bytes();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    let year_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let year_digits = &s[year_start..i];
    if year_digits.len() < 4 || (year_digits.len() > 4 && year_digits.starts_with('0')) {
        return Err(bad());
    }
    let year: i32 = year_digits.parse().map_err(|_| bad())?;
    if year == 0 {
        return Err(format!("'{s}': year 0000 is not allowed in xs:dateTime"));
    }
    let year = if negative { -year } else { year };
    let rest = &s[i..];
    let two = |t: &str, at: usize| -> Option<u8> {
        let d = t.as_bytes().get(at..at + 2)?;
        if d.iter().all(u8::is_ascii_digit) {
            Some((d[0] - b'0') * 10 + (d[1] - b'0'))
        } else {
            None
        }
    };
    // -MM-DDThh:mm:ss
    let rb = rest.as_bytes();
    if rb.len() < 15
        || rb[0] != b'-'
        || rb[3] != b'-'
        || rb[6] != b'T'
        || rb[9] != b':'
        || rb[12] != b':'
    {
        return Err(bad());
    }
    let month = two(rest, 1).ok_or_else(bad)?;
    let day = two(rest, 4).ok_or_else(bad)?;
    let hour = two(rest, 7).ok_or_else(bad)?;
    let minute = two(rest, 10).ok_or_else(bad)?;
    let second = two(rest, 13).ok_or_else(bad)?;
    let mut tail = &rest[15..];
    let mut nanos: u32 = 0;
    let mut fraction_nonzero = false;
    if let Some(f) = tail.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        for (k, d) in f[..digits].bytes().enumerate() {
            let d = u32::from(d - b'0');
            if d != 0 {
                fraction_nonzero = true;
            }
            if k < 9 {
                nanos += d * 10u32.pow(8 - k as u32);
            }
        }
        tail = &f[digits..];
    }
    let offset = match tail {
        "" => NAIVE_DATETIME_OFFSET,
        "Z" => UtcOffset::UTC,
        _ => {
            let tb = tail.as_bytes();
            if tb.len() != 6 || !matches!(tb[0], b'+' | b'-') || tb[3] != b':' {
                return Err(bad());
            }
            let h = two(tail, 1).ok_or_else(bad)?;
            let m = two(tail, 4).ok_or_else(bad)?;
            if h > 14 || m > 59 || (h == 14 && m != 0) {
                return Err(bad());
            }
            let sign = if tb[0] == b'-' { -1 } else { 1 };
            UtcOffset::from_hms(sign * h as i8, sign * m as i8, 0).map_err(|_| bad())?
        }
    };
    let month = Month::try_from(month).map_err(|_| bad())?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let end_of_day = hour == 24;
    if end_of_day && (minute != 0 || second != 0 || fraction_nonzero) {
        return Err(bad());
    }
    if minute > 59 || second > 59 {
        return Err(bad());
    }
    let time = if end_of_day {
        Time::MIDNIGHT
    } else {
        Time::from_hms_nano(hour, minute, second, nanos).map_err(|_| bad())?
    };
    let mut value = PrimitiveDateTime::new(date, time).assume_offset(offset);
    if end_of_day {
        value = value.checked_add(time::Duration::DAY).ok_or_else(bad)?;
    }
    Ok(value)
}

/// Writes an `xs:dateTime` like the real SMEV: milliseconds and the value's own offset
/// (`2021-10-21T10:07:19.000+03:00`; `Z` for UTC).
pub fn format_date_time(value: OffsetDateTime) -> String {
    let year = value.year();
    let sign = if year < 0 { "-" } else { "" };
    let mut out = format!(
        "{sign}{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        year.unsigned_abs(),
        u8::from(value.month()),
        value.day(),
        value.hour(),
        value.minute(),
        value.second(),
        value.millisecond()
    );
    let offset = value.offset();
    if offset.is_utc() {
        out.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        out.push_str(&format!(
            "{sign}{:02}:{:02}",
            h.unsigned_abs(),
            m.unsigned_abs()
        ));
    }
    out
}

/// Parses an `xs:boolean` (`true`, `false`, `1`, `0`; white space collapsed).
pub(crate) fn parse_boolean(text: &str) -> Option<bool> {
    match collapse(text) {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Parses an `xs:int`.
pub(crate) fn parse_int(text: &str) -> Option<i32> {
    let s = collapse(text);
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    s.parse().ok()
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `text` is an `xs:NCName` (also the lexical space of `xs:ID`).
pub fn is_ncname(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Whether `text` matches `basic:UUID`
/// (`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`; no white space allowed).
pub fn is_smev_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                matches!(c, b'0'..=b'9' | b'a'..=b'f')
            }
        })
}

/// Whether `text` matches `basic:RFC2046MimeTypesType`
/// (`(text|image|audio|video|application)/[a-zA-Z0-9\-+.]*`).
pub fn is_smev_mime_type(text: &str) -> bool {
    let Some((top, sub)) = text.split_once('/') else {
        return false;
    };
    matches!(top, "text" | "image" | "audio" | "video" | "application")
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
}

/// Decodes `xs:base64Binary` (white space anywhere is ignored, padding is required), in chunks:
/// no white-space-free copy of a large text is made.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    const CHUNK: usize = 64 * 1024; // a multiple of 4: chunks decode independently
    let engine = &base64::engine::general_purpose::STANDARD;
    let bad = |e: base64::DecodeError| format!("not valid base64: {e}");
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK.min(text.len()));
    let mut decoded = 0usize;
    for &b in text.as_bytes() {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        chunk.push(b);
        if chunk.len() == CHUNK {
            // Padding may only end the whole text: a full chunk with `=` inside is an error
            // unless nothing but white space follows, which the last chunk handles.
            if chunk.contains(&b'=') {
                continue;
            }
            engine
                .decode_vec(&chunk, &mut out)
                .map_err(|e| bad(shift(e, decoded)))?;
            decoded += chunk.len();
            chunk.clear();
        }
    }
    engine
        .decode_vec(&chunk, &mut out)
        .map_err(|e| bad(shift(e, decoded)))?;
    Ok(out)
}

/// A decode error of a chunk, its offset made relative to the whole (white-space-free) text.
fn shift(e: base64::DecodeError, by: usize) -> base64::DecodeError {
    match e {
        base64::DecodeError::InvalidByte(at, b) => base64::DecodeError::InvalidByte(at + by, b),
        base64::DecodeError::InvalidLastSymbol(at, b) => {
            base64::DecodeError::InvalidLastSymbol(at + by, b)
        }
        other => other,
    }
}

/// Encodes bytes as `xs:base64Binary` (one line).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Whether XML 1.0 allows the character.
fn is_xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Escapes character data. Characters XML 1.0 forbids become U+FFFD; CR is kept as `&#13;`.
pub(crate) fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '\r') || !is_xml_char(c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Escapes an attribute value (quoted with `"`); TAB, LF and CR are written as references so
/// that attribute-value normalisation keeps them.
pub(crate) fn escape_attr(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\t' | '\n' | '\r') || !is_xml_char(c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first `max` characters of `text` (schema `maxLength` facets count characters).
pub(crate) fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Number of characters (for `maxLength` checks).
pub(crate) fn char_len(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn date_times_parse() {
        assert_eq!(
            parse_date_time("2021-10-21T10:07:19.000+03:00").unwrap(),
            datetime!(2021-10-21 10:07:19 +03:00)
        );
        assert_eq!(
            parse_date_time(" 2021-10-21T10:07:19Z\n").unwrap(),
            datetime!(2021-10-21 10:07:19 UTC)
        );
        assert_eq!(
            parse_date_time("2021-10-21T10:07:19.1234567891").unwrap(),
            datetime!(2021-10-21 10:07:19.123456789 +03:00)
        );
        assert_eq!(
            parse_date_time("2021-12-31T24:00:00-05:30").unwrap(),
            datetime!(2022-01-01 00:00:00 -05:30)
        );
        for bad in [
            "",
            "2021-10-21",
            "2021-10-21 10:07:19",
            "2021-13-01T00:00:00",
            "2021-02-29T00:00:00",
            "2021-10-21T10:60:00",
            "2021-10-21T24:00:01",
            "2021-10-21T10:07:19.",
            "2021-10-21T10:07:19+3:00",
            "2021-10-21T10:07:19+15:00",
            "0000-01-01T00:00:00",
            "02021-01-01T00:00:00",
            "2021-10-21T10:07:19ZZ",
            "２０２１-10-21T10:07:19",
        ] {
            assert!(parse_date_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_times_format_like_smev() {
        assert_eq!(
            format_date_time(datetime!(2021-10-21 10:07:19.5 +03:00)),
            "2021-10-21T10:07:19.500+03:00"
        );
        assert_eq!(
            format_date_time(datetime!(2021-10-21 07:07:19 UTC)),
            "2021-10-21T07:07:19.000Z"
        );
        assert_eq!(
            format_date_time(datetime!(2021-10-21 07:07:19 -02:30)),
            "2021-10-21T07:07:19.000-02:30"
        );
        let v = datetime!(2021-10-21 07:07:19.250 +05:00);
        assert_eq!(parse_date_time(&format_date_time(v)).unwrap(), v);
    }

    #[test]
    fn simple_types() {
        assert_eq!(parse_boolean(" true "), Some(true));
        assert_eq!(parse_boolean("0"), Some(false));
        assert_eq!(parse_boolean("TRUE"), None);
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("+7"), Some(7));
        assert_eq!(parse_int("2147483648"), None);
        assert_eq!(parse_int("1e3"), None);
        assert!(is_ncname("SIGNED_BY_CONSUMER"));
        assert!(is_ncname("Подпись-1"));
        assert!(!is_ncname("1abc"));
        assert!(!is_ncname("a:b"));
        assert!(!is_ncname(""));
        assert!(is_smev_uuid("db0486d0-3c08-11e5-95e2-d4c9eff07b77"));
        assert!(!is_smev_uuid("DB0486D0-3C08-11E5-95E2-D4C9EFF07B77"));
        assert!(is_smev_mime_type("application/pdf"));
        assert!(is_smev_mime_type("application/vnd.ms-excel+xml"));
        assert!(!is_smev_mime_type("model/x3d"));
        assert!(!is_smev_mime_type("application/pdf; charset=x"));
        assert_eq!(decode_base64("aGVs\n bG8=").unwrap(), b"hello");
        assert!(decode_base64("aGVsbG8").is_err());
        // Chunked decoding gives what one decode of the compacted text gives, for any layout.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        for len in [0usize, 1, 2, 3, 49_151, 49_152, 49_153, 200_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let text = b64.encode(&bytes);
            let wrapped: String = text
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\r\n ");
            assert_eq!(decode_base64(&text).unwrap(), bytes, "{len}");
            assert_eq!(decode_base64(&wrapped).unwrap(), bytes, "{len} wrapped");
        }
        let long = b64.encode(vec![1u8; 100_000]);
        let mut bad = long.clone();
        bad.insert(70_000, '=');
        assert!(decode_base64(&bad).is_err());
        let mut bad = long.clone();
        bad.replace_range(70_001..70_002, "*");
        let err = decode_base64(&bad).unwrap_err();
        assert!(err.contains("70001"), "{err}");
        assert!(decode_base64(&long[..long.len() - 1]).is_err());
        assert_eq!(escape_text("a<&>\u{1}\r"), "a&lt;&amp;&gt;\u{FFFD}&#13;");
        assert_eq!(escape_attr("\"\t"), "&quot;&#9;");
        assert_eq!(truncate_chars("абвгд", 3), "абв");
    }
}
