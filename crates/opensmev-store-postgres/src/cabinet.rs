//! The web cabinet's records on PostgreSQL (migration 2): sessions, failed logins and drafts
//! ([`Store::create_session`](opensmev_store::Store::create_session) and the rest).

use deadpool_postgres::GenericClient;
use opensmev_store::{Draft, LoginFailures, StoreError, WebSession};
use time::{Duration, OffsetDateTime};
use tokio_postgres::Row;

use crate::codec::{Res, col, stamp, time_col};
use crate::db::{execute, query_all, query_opt};

const SESSION_COLUMNS: &str =
    "SELECT id_hash, login, csrf, created_at, last_seen, expires_at FROM web_sessions";

fn decode_session(row: &Row) -> Result<WebSession, StoreError> {
    let at = &"web_sessions" as &dyn std::fmt::Display;
    let hash: Vec<u8> = col(row, "id_hash", at)?;
    let id_hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("web_sessions: id_hash is not 32 bytes".into()))?;
    Ok(WebSession {
        id_hash,
        login: col(row, "login", at)?,
        csrf: col(row, "csrf", at)?,
        created_at: time_col(row, "created_at", at)?,
        last_seen: time_col(row, "last_seen", at)?,
        expires_at: time_col(row, "expires_at", at)?,
    })
}

pub(crate) async fn create_session<C: GenericClient>(c: &C, s: &WebSession) -> Res<()> {
    let hash = s.id_hash.as_slice();
    let (created, seen, expires) = (
        stamp(s.created_at)?,
        stamp(s.last_seen)?,
        stamp(s.expires_at)?,
    );
    let inserted = execute(
        c,
        "create_session",
        "INSERT INTO web_sessions (id_hash, login, csrf, created_at, last_seen, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id_hash) DO NOTHING",
        &[&hash, &s.login, &s.csrf, &created, &seen, &expires],
    )
    .await?;
    if inserted == 0 {
        return Err(StoreError::Exists("a session with this id".into()).into());
    }
    Ok(())
}

pub(crate) async fn session<C: GenericClient>(
    c: &C,
    id_hash: &[u8; 32],
) -> Res<Option<WebSession>> {
    let hash = id_hash.as_slice();
    let row = query_opt(
        c,
        "session",
        &format!("{SESSION_COLUMNS} WHERE id_hash = $1"),
        &[&hash],
    )
    .await?;
    Ok(row.map(|r| decode_session(&r)).transpose()?)
}

pub(crate) async fn touch_session<C: GenericClient>(
    c: &C,
    id_hash: &[u8; 32],
    last_seen: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Res<bool> {
    let (hash, seen, expires) = (id_hash.as_slice(), stamp(last_seen)?, stamp(expires_at)?);
    let changed = execute(
        c,
        "touch_session",
        "UPDATE web_sessions SET last_seen = $2, expires_at = $3 WHERE id_hash = $1",
        &[&hash, &seen, &expires],
    )
    .await?;
    Ok(changed > 0)
}

pub(crate) async fn delete_session<C: GenericClient>(c: &C, id_hash: &[u8; 32]) -> Res<bool> {
    let hash = id_hash.as_slice();
    let changed = execute(
        c,
        "delete_session",
        "DELETE FROM web_sessions WHERE id_hash = $1",
        &[&hash],
    )
    .await?;
    Ok(changed > 0)
}

pub(crate) async fn delete_sessions_of<C: GenericClient>(c: &C, login: &str) -> Res<u64> {
    execute(
        c,
        "delete_sessions_of",
        "DELETE FROM web_sessions WHERE login = $1",
        &[&login],
    )
    .await
}

pub(crate) async fn purge_sessions<C: GenericClient>(c: &C, now: OffsetDateTime) -> Res<u64> {
    let now = stamp(now)?;
    execute(
        c,
        "purge_sessions",
        "DELETE FROM web_sessions WHERE expires_at < $1",
        &[&now],
    )
    .await
}

fn decode_failures(row: &Row) -> Result<LoginFailures, StoreError> {
    let at = &"login_failures" as &dyn std::fmt::Display;
    let count: i32 = col(row, "count", at)?;
    Ok(LoginFailures {
        count: u32::try_from(count).unwrap_or(0),
        since: time_col(row, "since", at)?,
    })
}

pub(crate) async fn login_failures<C: GenericClient>(
    c: &C,
    login: &str,
) -> Res<Option<LoginFailures>> {
    let row = query_opt(
        c,
        "login_failures",
        "SELECT count, since FROM login_failures WHERE login = $1",
        &[&login],
    )
    .await?;
    Ok(row.map(|r| decode_failures(&r)).transpose()?)
}

pub(crate) async fn note_login_failure<C: GenericClient>(
    c: &C,
    login: &str,
    now: OffsetDateTime,
    window: Duration,
) -> Res<LoginFailures> {
    let now = stamp(now)?;
    let start = stamp(now - window)?;
    // One statement, so concurrent failures on several nodes all count.
    let row = query_opt(
        c,
        "note_login_failure",
        "INSERT INTO login_failures AS f (login, count, since) VALUES ($1, 1, $2)
         ON CONFLICT (login) DO UPDATE SET
           count = CASE WHEN f.since >= $3 THEN f.count + 1 ELSE 1 END,
           since = CASE WHEN f.since >= $3 THEN f.since ELSE $2 END
         RETURNING count, since",
        &[&login, &now, &start],
    )
    .await?
    .ok_or_else(|| StoreError::Backend("note_login_failure: no row returned".into()))?;
    Ok(decode_failures(&row)?)
}

pub(crate) async fn clear_login_failures<C: GenericClient>(c: &C, login: &str) -> Res<()> {
    execute(
        c,
        "clear_login_failures",
        "DELETE FROM login_failures WHERE login = $1",
        &[&login],
    )
    .await?;
    Ok(())
}

const DRAFT_COLUMNS: &str =
    "SELECT id, owner, vs_id, form, request_id, title, draft_values, updated_at FROM drafts";

fn decode_draft(row: &Row) -> Result<Draft, StoreError> {
    let at = &"drafts" as &dyn std::fmt::Display;
    Ok(Draft {
        id: col(row, "id", at)?,
        owner: col(row, "owner", at)?,
        vs_id: col(row, "vs_id", at)?,
        form: col(row, "form", at)?,
        request_id: col(row, "request_id", at)?,
        title: col(row, "title", at)?,
        values: col(row, "draft_values", at)?,
        updated_at: time_col(row, "updated_at", at)?,
    })
}

pub(crate) async fn save_draft<C: GenericClient>(c: &C, d: &Draft) -> Res<()> {
    let updated = stamp(d.updated_at)?;
    let changed = execute(
        c,
        "save_draft",
        "INSERT INTO drafts AS d (id, owner, vs_id, form, request_id, title, draft_values, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET vs_id = excluded.vs_id, form = excluded.form,
           request_id = excluded.request_id, title = excluded.title,
           draft_values = excluded.draft_values, updated_at = excluded.updated_at
         WHERE d.owner = excluded.owner",
        &[
            &d.id,
            &d.owner,
            &d.vs_id,
            &d.form,
            &d.request_id,
            &d.title,
            &d.values,
            &updated,
        ],
    )
    .await?;
    if changed == 0 {
        return Err(StoreError::Exists(format!("draft {} of another account", d.id)).into());
    }
    Ok(())
}

pub(crate) async fn draft<C: GenericClient>(c: &C, id: &str) -> Res<Option<Draft>> {
    let row = query_opt(
        c,
        "draft",
        &format!("{DRAFT_COLUMNS} WHERE id = $1"),
        &[&id],
    )
    .await?;
    Ok(row.map(|r| decode_draft(&r)).transpose()?)
}

pub(crate) async fn drafts<C: GenericClient>(c: &C, owner: &str) -> Res<Vec<Draft>> {
    query_all(
        c,
        "drafts",
        &format!("{DRAFT_COLUMNS} WHERE owner = $1 ORDER BY updated_at DESC, id COLLATE \"C\""),
        &[&owner],
        decode_draft,
    )
    .await
}

pub(crate) async fn delete_draft<C: GenericClient>(c: &C, id: &str, owner: &str) -> Res<bool> {
    let changed = execute(
        c,
        "delete_draft",
        "DELETE FROM drafts WHERE id = $1 AND owner = $2",
        &[&id, &owner],
    )
    .await?;
    Ok(changed > 0)
}
