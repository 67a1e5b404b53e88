//! The web cabinet's records on the embedded store (migration 6): sessions, failed logins and
//! drafts ([`Store::create_session`](opensmev_store::Store::create_session) and the rest).

use opensmev_store::{Draft, LoginFailures, StoreError, WebSession};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::{Duration, OffsetDateTime};

use crate::codec::{Context, col, parse_time, time_text};

const SESSION_COLUMNS: &str =
    "SELECT id_hash, login, csrf, created_at, last_seen, expires_at FROM web_sessions";

fn decode_session(row: &Row<'_>) -> Result<WebSession, StoreError> {
    let at = &"web_sessions" as &dyn std::fmt::Display;
    let hash: Vec<u8> = col(row, 0, at)?;
    let id_hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("web_sessions: id_hash is not 32 bytes".into()))?;
    Ok(WebSession {
        id_hash,
        login: col(row, 1, at)?,
        csrf: col(row, 2, at)?,
        created_at: parse_time(&col::<String>(row, 3, at)?, at)?,
        last_seen: parse_time(&col::<String>(row, 4, at)?, at)?,
        expires_at: parse_time(&col::<String>(row, 5, at)?, at)?,
    })
}

pub(crate) fn create_session(conn: &Connection, s: &WebSession) -> Result<(), StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM web_sessions WHERE id_hash = ?1")
        .and_then(|mut st| st.exists([s.id_hash.as_slice()]))
        .ctx("create_session: uniqueness")?;
    if exists {
        return Err(StoreError::Exists("a session with this id".into()));
    }
    conn.prepare_cached(
        "INSERT INTO web_sessions (id_hash, login, csrf, created_at, last_seen, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.id_hash.as_slice(),
            s.login,
            s.csrf,
            time_text(s.created_at).map_err(to_sql)?,
            time_text(s.last_seen).map_err(to_sql)?,
            time_text(s.expires_at).map_err(to_sql)?,
        ])
    })
    .ctx("create_session")?;
    Ok(())
}

fn to_sql(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(e.to_string())))
}

pub(crate) fn session(
    conn: &Connection,
    id_hash: &[u8; 32],
) -> Result<Option<WebSession>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{SESSION_COLUMNS} WHERE id_hash = ?1"))
        .ctx("session")?;
    let mut rows = stmt.query([id_hash.as_slice()]).ctx("session")?;
    match rows.next().ctx("session")? {
        Some(row) => decode_session(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn touch_session(
    conn: &Connection,
    id_hash: &[u8; 32],
    last_seen: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let (last_seen, expires_at) = (time_text(last_seen)?, time_text(expires_at)?);
    let changed = conn
        .prepare_cached(
            "UPDATE web_sessions SET last_seen = ?2, expires_at = ?3 WHERE id_hash = ?1",
        )
        .and_then(|mut s| s.execute(params![id_hash.as_slice(), last_seen, expires_at]))
        .ctx("touch_session")?;
    Ok(changed > 0)
}

pub(crate) fn delete_session(conn: &Connection, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("DELETE FROM web_sessions WHERE id_hash = ?1")
        .and_then(|mut s| s.execute([id_hash.as_slice()]))
        .ctx("delete_session")?;
    Ok(changed > 0)
}

pub(crate) fn delete_sessions_of(conn: &Connection, login: &str) -> Result<u64, StoreError> {
    let changed = conn
        .prepare_cached("DELETE FROM web_sessions WHERE login = ?1")
        .and_then(|mut s| s.execute([login]))
        .ctx("delete_sessions_of")?;
    Ok(changed as u64)
}

pub(crate) fn purge_sessions(conn: &Connection, now: OffsetDateTime) -> Result<u64, StoreError> {
    let now = time_text(now)?;
    let changed = conn
        .prepare_cached("DELETE FROM web_sessions WHERE expires_at < ?1")
        .and_then(|mut s| s.execute([now]))
        .ctx("purge_sessions")?;
    Ok(changed as u64)
}

pub(crate) fn login_failures(
    conn: &Connection,
    login: &str,
) -> Result<Option<LoginFailures>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT count, since FROM login_failures WHERE login = ?1")
        .and_then(|mut s| {
            s.query_row([login], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("login_failures")?;
    row.map(|(count, since)| {
        Ok(LoginFailures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            since: parse_time(&since, &"login_failures")?,
        })
    })
    .transpose()
}

pub(crate) fn note_login_failure(
    conn: &Connection,
    login: &str,
    now: OffsetDateTime,
    window: Duration,
) -> Result<LoginFailures, StoreError> {
    let next = match login_failures(conn, login)? {
        Some(f) if f.since + window >= now => LoginFailures {
            count: f.count.saturating_add(1),
            since: f.since,
        },
        _ => LoginFailures {
            count: 1,
            since: now,
        },
    };
    conn.prepare_cached(
        "INSERT INTO login_failures (login, count, since) VALUES (?1, ?2, ?3)
         ON CONFLICT (login) DO UPDATE SET count = excluded.count, since = excluded.since",
    )
    .and_then(|mut s| {
        s.execute(params![
            login,
            i64::from(next.count),
            time_text(next.since).map_err(to_sql)?
        ])
    })
    .ctx("note_login_failure")?;
    Ok(next)
}

pub(crate) fn clear_login_failures(conn: &Connection, login: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM login_failures WHERE login = ?1")
        .and_then(|mut s| s.execute([login]))
        .ctx("clear_login_failures")?;
    Ok(())
}

const DRAFT_COLUMNS: &str =
    "SELECT id, owner, vs_id, form, request_id, title, draft_values, updated_at FROM drafts";

fn decode_draft(row: &Row<'_>) -> Result<Draft, StoreError> {
    let at = &"drafts" as &dyn std::fmt::Display;
    Ok(Draft {
        id: col(row, 0, at)?,
        owner: col(row, 1, at)?,
        vs_id: col(row, 2, at)?,
        form: col(row, 3, at)?,
        request_id: col(row, 4, at)?,
        title: col(row, 5, at)?,
        values: col(row, 6, at)?,
        updated_at: parse_time(&col::<String>(row, 7, at)?, at)?,
    })
}

pub(crate) fn save_draft(conn: &Connection, d: &Draft) -> Result<(), StoreError> {
    let owner: Option<String> = conn
        .prepare_cached("SELECT owner FROM drafts WHERE id = ?1")
        .and_then(|mut s| s.query_row([&d.id], |r| r.get(0)).optional())
        .ctx("save_draft: owner")?;
    if owner.is_some_and(|o| o != d.owner) {
        return Err(StoreError::Exists(format!(
            "draft {} of another account",
            d.id
        )));
    }
    conn.prepare_cached(
        "INSERT INTO drafts (id, owner, vs_id, form, request_id, title, draft_values, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET vs_id = excluded.vs_id, form = excluded.form,
           request_id = excluded.request_id, title = excluded.title,
           draft_values = excluded.draft_values, updated_at = excluded.updated_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.id,
            d.owner,
            d.vs_id,
            d.form,
            d.request_id,
            d.title,
            d.values,
            time_text(d.updated_at).map_err(to_sql)?,
        ])
    })
    .ctx("save_draft")?;
    Ok(())
}

pub(crate) fn draft(conn: &Connection, id: &str) -> Result<Option<Draft>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{DRAFT_COLUMNS} WHERE id = ?1"))
        .ctx("draft")?;
    let mut rows = stmt.query([id]).ctx("draft")?;
    match rows.next().ctx("draft")? {
        Some(row) => decode_draft(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn drafts(conn: &Connection, owner: &str) -> Result<Vec<Draft>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{DRAFT_COLUMNS} WHERE owner = ?1 ORDER BY updated_at DESC, id"
        ))
        .ctx("drafts")?;
    let mut rows = stmt.query([owner]).ctx("drafts")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("drafts")? {
        out.push(decode_draft(row)?);
    }
    Ok(out)
}

pub(crate) fn delete_draft(conn: &Connection, id: &str, owner: &str) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("DELETE FROM drafts WHERE id = ?1 AND owner = ?2")
        .and_then(|mut s| s.execute([id, owner]))
        .ctx("delete_draft")?;
    Ok(changed > 0)
}
