//! `MessageID`: an RFC 4122 version-1 (time-based) UUID in lower-case text form.

use time::OffsetDateTime;

/// Why a string is not an acceptable SMEV `MessageID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdError {
    /// Not `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with lower-case hex digits.
    #[error("not a lower-case UUID in 8-4-4-4-12 form")]
    Syntax,
    /// A UUID, but not version 1.
    #[error("UUID version {0}, but SMEV requires version 1 (time-based)")]
    Version(u8),
    /// A version-1 UUID with a variant other than RFC 4122.
    #[error("UUID variant is not RFC 4122")]
    Variant,
}

/// A validated SMEV message identifier (RFC 4122 version 1, lower case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

/// 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
const UUID_EPOCH_OFFSET: u64 = 0x01B2_1DD2_1381_4000;

impl MessageId {
    /// Parses and validates.
    pub fn parse(text: &str) -> Result<MessageId, MessageIdError> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return Err(MessageIdError::Syntax);
        }
        for (i, b) in bytes.iter().enumerate() {
            let ok = if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                matches!(b, b'0'..=b'9' | b'a'..=b'f')
            };
            if !ok {
                return Err(MessageIdError::Syntax);
            }
        }
        let version = hex(bytes[14]);
        if version != 1 {
            return Err(MessageIdError::Version(version));
        }
        if hex(bytes[19]) & 0b1100 != 0b1000 {
            return Err(MessageIdError::Variant);
        }
        Ok(MessageId(text.to_owned()))
    }

    /// Builds a version-1 UUID from a time, a clock sequence and a node id (for the bus's own
    /// messages and for tests).
    pub fn from_parts(at: OffsetDateTime, clock_seq: u16, node: [u8; 6]) -> MessageId {
        let nanos = at.unix_timestamp_nanos();
        let ticks = (nanos / 100).max(0) as u64 + UUID_EPOCH_OFFSET;
        let time_low = (ticks & 0xFFFF_FFFF) as u32;
        let time_mid = ((ticks >> 32) & 0xFFFF) as u16;
        let time_hi = ((ticks >> 48) & 0x0FFF) as u16 | 0x1000;
        let clock = (clock_seq & 0x3FFF) | 0x8000;
        let node_hex: String = node.iter().map(|b| format!("{b:02x}")).collect();
        MessageId(format!(
            "{time_low:08x}-{time_mid:04x}-{time_hi:04x}-{clock:04x}-{node_hex}"
        ))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The time encoded in the UUID (60-bit count of 100 ns since 1582-10-15).
    pub fn timestamp(&self) -> OffsetDateTime {
        let b = self.0.as_bytes();
        let field = |range: std::ops::Range<usize>| {
            b[range]
                .iter()
                .fold(0u64, |acc, c| (acc << 4) | u64::from(hex(*c)))
        };
        let time_low = field(0..8);
        let time_mid = field(9..13);
        let time_hi = field(15..18); // skip the version nibble at 14
        let ticks = (time_hi << 48) | (time_mid << 32) | time_low;
        let unix_100ns = ticks as i128 - UUID_EPOCH_OFFSET as i128;
        OffsetDateTime::from_unix_timestamp_nanos(unix_100ns * 100)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn real_ids_parse_and_carry_their_time() {
        let id = MessageId::parse("db0486d0-3c08-11e5-95e2-d4c9eff07b77").unwrap();
        // The MR example was made on 2015-08-06 (UTC).
        let t = id.timestamp();
        assert_eq!((t.year(), t.month() as u8, t.day()), (2015, 8, 6));
    }

    #[test]
    fn bad_ids_are_refused_with_a_reason() {
        assert_eq!(
            MessageId::parse("DB0486D0-3C08-11E5-95E2-D4C9EFF07B77"),
            Err(MessageIdError::Syntax)
        );
        assert_eq!(
            MessageId::parse("db0486d0-3c08-41e5-95e2-d4c9eff07b77"),
            Err(MessageIdError::Version(4))
        );
        assert_eq!(
            MessageId::parse("db0486d0-3c08-11e5-c5e2-d4c9eff07b77"),
            Err(MessageIdError::Variant)
        );
        assert_eq!(MessageId::parse("db0486d0"), Err(MessageIdError::Syntax));
        assert_eq!(
            MessageId::parse("db0486d0-3c08-11e5-95e2-d4c9eff07b7g"),
            Err(MessageIdError::Syntax)
        );
    }

    #[test]
    fn generated_ids_round_trip_their_time() {
        let at = datetime!(2026-11-24 12:34:56.789 UTC);
        let id = MessageId::from_parts(at, 0x1234, [1, 2, 3, 4, 5, 6]);
        let parsed = MessageId::parse(id.as_str()).unwrap();
        assert_eq!(parsed.timestamp(), at);
    }
}
