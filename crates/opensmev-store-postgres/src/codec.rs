//! How values are stored in columns, how rows are read back, and how database errors become
//! [`StoreError`]s.
//!
//! # Times
//!
//! Every time is a `timestamptz` column, which keeps microseconds: a finer part is dropped
//! (the time is cut towards the past, before it is stored and before it is compared with stored
//! times), as the store contract allows; the bus's clock gives whole microseconds anyway. Offsets
//! are not kept: a time comes back in UTC, equal as an instant. Years 0000–9999 (UTC) are stored,
//! as by the embedded store; others are refused as `Backend` errors rather than stored wrongly.
//!
//! # Other values
//!
//! Enums by their stable `code()`s (`InteractionStatus`, `DeliveryState`, `JournalKind`, `Role`),
//! `MessageKind::as_str`, `SchemaVersion::as_str` and `poll`/`push`; priorities as `smallint`;
//! counts as `bigint`; token secret hashes as 32-byte `bytea`. Text must not contain NUL
//! characters (PostgreSQL's `text` cannot hold them; such a value is a `Backend` error). Anything
//! that does not read back is [`StoreError::Corrupt`] naming the table, row and column.
//!
//! # Errors
//!
//! Connection-level failures (a closed or refused connection, an I/O error, a timeout, a server
//! shutting down, a read-only server after a failover, a cancelled statement) are
//! [`StoreError::Unavailable`]; deadlocks and serialization failures are retried by the caller
//! (`Fail::retry`); everything else is [`StoreError::Backend`] naming the operation.

use std::fmt::Display;

use deadpool_postgres::PoolError;
use opensmev_store::{DeliveryState, JournalKind, StoreError};
use opensmev_types::{
    DeliveryMode, InteractionStatus, MessageId, MessageKind, Mnemonic, Role, SchemaVersion,
};
use time::{OffsetDateTime, UtcOffset};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;

/// A failure inside the store: the error to report, and the SQLSTATE when the database gave one
/// (the caller retries deadlocks and maps unique violations where they mean something).
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) error: StoreError,
    pub(crate) state: Option<SqlState>,
}

impl Fail {
    /// A deadlock or a serialization failure: the transaction may simply be run again.
    pub(crate) fn retry(&self) -> bool {
        matches!(
            &self.state,
            Some(s) if *s == SqlState::T_R_DEADLOCK_DETECTED
                || *s == SqlState::T_R_SERIALIZATION_FAILURE
        )
    }

    /// A unique constraint refused a row.
    pub(crate) fn unique(&self) -> bool {
        self.state.as_ref() == Some(&SqlState::UNIQUE_VIOLATION)
    }
}

impl From<StoreError> for Fail {
    fn from(error: StoreError) -> Fail {
        Fail { error, state: None }
    }
}

/// `Result` inside the store.
pub(crate) type Res<T> = Result<T, Fail>;

/// Maps a database error; `what` says what was being done.
pub(crate) fn pg_error(e: tokio_postgres::Error, what: &str) -> Fail {
    if let Some(db) = e.as_db_error() {
        let code = db.code().clone();
        let mut text = format!("{what}: {} (SQLSTATE {})", db.message(), code.code());
        if let Some(detail) = db.detail() {
            text.push_str(": ");
            text.push_str(detail);
        }
        let error = if unavailable_state(&code) {
            StoreError::Unavailable(text)
        } else {
            StoreError::Backend(text)
        };
        return Fail {
            error,
            state: Some(code),
        };
    }
    let source = std::error::Error::source(&e).map(ToString::to_string);
    let text = match &source {
        Some(source) => format!("{what}: {e}: {source}"),
        None => format!("{what}: {e}"),
    };
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    let display = e.to_string();
    let connection = e.is_closed()
        || io
        || display.starts_with("error connecting")
        || display.starts_with("error communicating")
        || display.starts_with("timeout")
        || display.starts_with("error performing TLS");
    Fail {
        error: if connection {
            StoreError::Unavailable(text)
        } else {
            StoreError::Backend(text)
        },
        state: None,
    }
}

/// SQLSTATEs that mean the server cannot serve now (connection exceptions, shutdown, too many
/// connections, a read-only standby after a failover, a statement or lock timeout).
fn unavailable_state(code: &SqlState) -> bool {
    let text = code.code();
    text.starts_with("08")
        || text.starts_with("57P")
        || *code == SqlState::TOO_MANY_CONNECTIONS
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::QUERY_CANCELED
        || *code == SqlState::LOCK_NOT_AVAILABLE
}

/// Maps a failure to get a pooled connection.
pub(crate) fn pool_error(e: PoolError, what: &str) -> Fail {
    match e {
        PoolError::Backend(e) => pg_error(e, &format!("{what}: connecting")),
        PoolError::Timeout(kind) => StoreError::Unavailable(format!(
            "{what}: no database connection within the timeout ({kind:?})"
        ))
        .into(),
        PoolError::Closed => {
            StoreError::Unavailable(format!("{what}: the connection pool is closed")).into()
        }
        other => StoreError::Unavailable(format!("{what}: {other}")).into(),
    }
}

// ------------------------------------------------------------------------------------------------
// Times

/// The stored form of a time: UTC, cut (towards the past) to whole microseconds.
pub(crate) fn stamp(t: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .filter(|u| (0..=9999).contains(&u.year()))
        .ok_or_else(|| {
            StoreError::Backend(format!(
                "time {t} cannot be stored (UTC year outside 0000–9999)"
            ))
        })?;
    let nanos = utc.nanosecond();
    utc.replace_nanosecond(nanos - nanos % 1000)
        .map_err(|e| StoreError::Backend(format!("time {t}: {e}")))
}

/// The stored form of an optional time.
pub(crate) fn opt_stamp(t: Option<OffsetDateTime>) -> Result<Option<OffsetDateTime>, StoreError> {
    t.map(stamp).transpose()
}

/// The time in column `name`.
pub(crate) fn time_col(
    row: &Row,
    name: &str,
    where_: &dyn Display,
) -> Result<OffsetDateTime, StoreError> {
    col(row, name, where_)
}

/// The optional time in column `name`.
pub(crate) fn opt_time_col(
    row: &Row,
    name: &str,
    where_: &dyn Display,
) -> Result<Option<OffsetDateTime>, StoreError> {
    col(row, name, where_)
}

// ------------------------------------------------------------------------------------------------
// Columns

/// A column of a row by name; a value of the wrong type (or a missing column) is corruption.
pub(crate) fn col<'a, T: FromSql<'a>>(
    row: &'a Row,
    name: &str,
    where_: &dyn Display,
) -> Result<T, StoreError> {
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("{where_}: column {name}: {e}")))
}

pub(crate) fn kind_text(kind: MessageKind) -> &'static str {
    kind.as_str()
}

pub(crate) fn parse_kind(text: &str, at: &dyn Display) -> Result<MessageKind, StoreError> {
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

pub(crate) fn parse_mode(text: &str, at: &dyn Display) -> Result<DeliveryMode, StoreError> {
    match text {
        "poll" => Ok(DeliveryMode::Poll),
        "push" => Ok(DeliveryMode::Push),
        _ => Err(StoreError::Corrupt(format!(
            "{at}: bad delivery mode {text:?}"
        ))),
    }
}

pub(crate) fn parse_version(text: &str, at: &dyn Display) -> Result<SchemaVersion, StoreError> {
    SchemaVersion::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad schema version {text:?}")))
}

pub(crate) fn parse_status(text: &str, at: &dyn Display) -> Result<InteractionStatus, StoreError> {
    InteractionStatus::from_code(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad status {text:?}")))
}

pub(crate) fn parse_state(text: &str, at: &dyn Display) -> Result<DeliveryState, StoreError> {
    DeliveryState::from_code(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad delivery state {text:?}")))
}

pub(crate) fn parse_journal_kind(text: &str, at: &dyn Display) -> Result<JournalKind, StoreError> {
    JournalKind::from_code(text)
        .ok_or_else(|| StoreError::Corrupt(format!("{at}: bad journal kind {text:?}")))
}

pub(crate) fn parse_role(text: &str, at: &dyn Display) -> Result<Role, StoreError> {
    Role::from_code(text).ok_or_else(|| StoreError::Corrupt(format!("{at}: bad role {text:?}")))
}

/// A stored SHA-256 digest.
pub(crate) fn parse_hash(bytes: &[u8], at: &dyn Display) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        StoreError::Corrupt(format!(
            "{at}: a secret hash of {} bytes, 32 expected",
            bytes.len()
        ))
    })
}

pub(crate) fn parse_id(text: &str, at: &dyn Display) -> Result<MessageId, StoreError> {
    MessageId::parse(text)
        .map_err(|e| StoreError::Corrupt(format!("{at}: bad message id {text:?}: {e}")))
}

pub(crate) fn parse_opt_id(
    text: Option<String>,
    at: &dyn Display,
) -> Result<Option<MessageId>, StoreError> {
    text.map(|t| parse_id(&t, at)).transpose()
}

pub(crate) fn parse_mnemonic(text: &str, at: &dyn Display) -> Result<Mnemonic, StoreError> {
    Mnemonic::parse(text).map_err(|e| StoreError::Corrupt(format!("{at}: {e}")))
}

pub(crate) fn parse_opt_mnemonic(
    text: Option<String>,
    at: &dyn Display,
) -> Result<Option<Mnemonic>, StoreError> {
    text.map(|t| parse_mnemonic(&t, at)).transpose()
}

pub(crate) fn parse_u8(value: i16, at: &dyn Display) -> Result<u8, StoreError> {
    u8::try_from(value).map_err(|_| StoreError::Corrupt(format!("{at}: {value} is not in 0..=255")))
}

pub(crate) fn parse_u32(value: i64, at: &dyn Display) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{at}: {value} is not a u32")))
}

pub(crate) fn parse_u64(value: i64, at: &dyn Display) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{at}: {value} is negative")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_cut_to_the_microsecond_towards_the_past() {
        let t = datetime!(2026-11-24 13:00:00.123456789 +03:00);
        assert_eq!(stamp(t).unwrap(), datetime!(2026-11-24 10:00:00.123456 UTC));
        let early = datetime!(1969-12-31 23:59:59.999999999 UTC);
        assert_eq!(
            stamp(early).unwrap(),
            datetime!(1969-12-31 23:59:59.999999 UTC)
        );
        let whole = datetime!(2026-11-24 10:00:00.000001 UTC);
        assert_eq!(stamp(whole).unwrap(), whole);
        assert!(stamp(datetime!(-0001-01-01 00:00 UTC)).is_err());
        assert!(stamp(datetime!(9999-12-31 23:00 -05:00)).is_err());
        assert!(stamp(datetime!(9999-12-31 23:59:59.999999999 UTC)).is_ok());
    }
}
