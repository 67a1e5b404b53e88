//! How values are stored in columns, and how database errors become [`StoreError`]s.
//!
//! Times are TEXT in one fixed-width RFC 3339 form, always UTC with nine fractional digits
//! (`2026-11-24T09:00:00.123456789Z`), so that text order is time order and SQL can compare them
//! (`eol < ?now`, `lease_until < ?now`). Years 0000–9999 are representable (all the `time` crate
//! offers without `large-dates`); a time outside that range, or whose UTC form would be, is refused
//! as a `Backend` error rather than stored wrongly. Offsets are not kept: a time comes back in UTC,
//! equal (as an instant, which is what `OffsetDateTime`'s `==` compares) to what was stored.
//!
//! Enums are stored by their stable `code()`s (`InteractionStatus`, `DeliveryState`,
//! `JournalKind`, `Role`), `MessageKind::as_str`, `SchemaVersion::as_str` and `poll`/`push`;
//! token secret hashes as 32-byte BLOBs. Anything that
//! does not read back is [`StoreError::Corrupt`] naming the table, row and column.

use opensmev_store::{DeliveryState, JournalKind, StoreError};
use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Role, SchemaVersion,
};
use rusqlite::types::FromSql;
use rusqlite::{ErrorCode, Row};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const TIME_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// The stored form of a time.
pub(crate) fn time_text(t: OffsetDateTime) -> Result<String, StoreError> {
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .filter(|u| (0..=9999).contains(&u.year()))
        .ok_or_else(|| {
            StoreError::Backend(format!(
                "time {t} cannot be stored (UTC year outside 0000–9999)"
            ))
        })?;
    utc.format(TIME_FORMAT)
        .map_err(|e| StoreError::Backend(format!("formatting time {t}: {e}")))
}

/// The stored form of an optional time.
pub(crate) fn opt_time_text(t: Option<OffsetDateTime>) -> Result<Option<String>, StoreError> {
    t.map(time_text).transpose()
}

/// Parses [`time_text`].
pub(crate) fn parse_time(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<OffsetDateTime, StoreError> {
    PrimitiveDateTime::parse(text, TIME_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| StoreError::Corrupt(format!("{at}: bad time {text:?}: {e}")))
}

/// Parses an optional [`time_text`].
pub(crate) fn parse_opt_time(
    text: Option<String>,
    at: &dyn std::fmt::Display,
) -> Result<Option<OffsetDateTime>, StoreError> {
    text.map(|t| parse_time(&t, at)).transpose()
}

pub(crate) fn kind_text(kind: MessageKind) -> &'static str {
    kind.as_str()
}

pub(crate) fn parse_kind(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<MessageKind, StoreError> {
    match text {
        "REQUEST" => Ok(MessageKind::Request),
        "RESPONSE" => Ok(MessageKind::Response),
        _ => Err(StoreError::Corrupt(format!(
            "{at}: bad message kind {text:?}"
        ))),
    }
}

pub(crate) fn mode_text(mode: DeliveryMode) -> &'static str {
    match mode {
        DeliveryMode::Poll => "poll",
        DeliveryMode::Push => "push",
    }
}

pub(crate) fn parse_mode(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<DeliveryMode, StoreError> {
    match text {
        "poll" => Ok(DeliveryMode::Poll),
        "push" => Ok(DeliveryMode::Push),
        _ => Err(StoreError::Corrupt(format!(
            "{at}: bad delivery mode {text:?}"
        ))),
    }
}

pub(crate) fn parse_version(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<SchemaVersion, StoreError> {
    SchemaVersion::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad schema version {text:?}")))
}

pub(crate) fn parse_status(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<InteractionStatus, StoreError> {
    InteractionStatus::from_code(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad status {text:?}")))
}

pub(crate) fn parse_state(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<DeliveryState, StoreError> {
    DeliveryState::from_code(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad delivery state {text:?}")))
}

pub(crate) fn parse_journal_kind(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<JournalKind, StoreError> {
    JournalKind::from_code(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad journal kind {text:?}")))
}

pub(crate) fn parse_role(text: &str, at: &dyn std::fmt::Display) -> Result<Role, StoreError> {
    Role::from_code(text).ok_or_else(|| StoreError::Corrupt(format!("{at}: bad role {text:?}")))
}

/// A stored SHA-256 digest.
pub(crate) fn parse_hash(bytes: &[u8], at: &dyn std::fmt::Display) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        StoreError::Corrupt(format!(
            "{at}: a secret hash of {} bytes, 32 expected",
            bytes.len()
        ))
    })
}

pub(crate) fn parse_opt_mnemonic(
    text: Option<String>,
    at: &dyn std::fmt::Display,
) -> Result<Option<Mnemonic>, StoreError> {
    text.map(|t| parse_mnemonic(&t, at)).transpose()
}

pub(crate) fn parse_id(text: &str, at: &dyn std::fmt::Display) -> Result<MessageId, StoreError> {
    MessageId::parse(text)
        .map_err(|e| StoreError::Corrupt(format!("{at}: bad message id {text:?}: {e}")))
}

pub(crate) fn parse_opt_id(
    text: Option<String>,
    at: &dyn std::fmt::Display,
) -> Result<Option<MessageId>, StoreError> {
    text.map(|t| parse_id(&t, at)).transpose()
}

pub(crate) fn parse_mnemonic(
    text: &str,
    at: &dyn std::fmt::Display,
) -> Result<Mnemonic, StoreError> {
    Mnemonic::parse(text).map_err(|e| StoreError::Corrupt(format!("{at}: {e}")))
}

pub(crate) fn parse_bool(value: i64, at: &dyn std::fmt::Display) -> Result<bool, StoreError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(StoreError::Corrupt(format!("{at}: bad boolean {value}"))),
    }
}

pub(crate) fn parse_u8(value: i64, at: &dyn std::fmt::Display) -> Result<u8, StoreError> {
    u8::try_from(value).map_err(|_| StoreError::Corrupt(format!("{at}: {value} is not in 0..=255")))
}

pub(crate) fn parse_u32(value: i64, at: &dyn std::fmt::Display) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{at}: {value} is not a u32")))
}

pub(crate) fn parse_u64(value: i64, at: &dyn std::fmt::Display) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{at}: {value} is negative")))
}

/// A column of a row; a value of the wrong type is corruption.
pub(crate) fn col<T: FromSql>(
    row: &Row<'_>,
    index: usize,
    at: &dyn std::fmt::Display,
) -> Result<T, StoreError> {
    row.get(index).map_err(|e| match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => {
            StoreError::Corrupt(format!("{at}: column {index}: {e}"))
        }
        other => db_error(other, &format!("{at}: column {index}")),
    })
}

/// Maps a database error: damaged files are `Corrupt`, values that do not convert are `Corrupt`,
/// everything else is `Backend`; `context` says what was being done.
pub(crate) fn db_error(e: rusqlite::Error, context: &str) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) =>
        {
            StoreError::Corrupt(format!("{context}: {e}"))
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => {
            StoreError::Corrupt(format!("{context}: {e}"))
        }
        _ => StoreError::Backend(format!("{context}: {e}")),
    }
}

/// `.ctx("doing what")` on rusqlite results.
pub(crate) trait Context<T> {
    fn ctx(self, context: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn ctx(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|e| db_error(e, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_fixed_width_utc_and_round_trip() {
        let t = datetime!(2026-11-24 13:00:00.000000001 +03:00);
        let text = time_text(t).unwrap();
        assert_eq!(text, "2026-11-24T10:00:00.000000001Z");
        assert_eq!(parse_time(&text, &"t").unwrap(), t);
        let early = time_text(datetime!(0001-01-01 00:00 UTC)).unwrap();
        let late = time_text(datetime!(9999-12-31 23:59:59.999999999 UTC)).unwrap();
        assert!(early < text && text < late);
        assert_eq!(early.len(), text.len());
        assert_eq!(late.len(), text.len());
        assert!(time_text(datetime!(-0001-01-01 00:00 UTC)).is_err());
        assert!(time_text(datetime!(9999-12-31 23:00 -05:00)).is_err());
        assert!(matches!(
            parse_time("2026-11-24T10:00:00Z", &"t"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
