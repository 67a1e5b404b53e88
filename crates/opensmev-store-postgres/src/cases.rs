//! Settings documents and the cabinet's cases on PostgreSQL (migration 3).

use deadpool_postgres::GenericClient;
use opensmev_store::{
    Case, CaseChange, CaseEvent, CaseQuery, MessageSummary, NewAuditEntry, Settings, StoreError,
};
use opensmev_types::{MessageId, Mnemonic};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::codec::{
    Res, col, opt_stamp, opt_time_col, parse_id, parse_mnemonic, parse_u64, stamp, time_col,
};
use crate::db::{execute, query, query_all, query_opt};
use crate::ops::{SUMMARY_COLUMNS, audit_add, decode_summary};

pub(crate) async fn settings<C: GenericClient>(c: &C, name: &str) -> Res<Option<Settings>> {
    let row = query_opt(
        c,
        "settings",
        "SELECT version, text, saved_at FROM settings WHERE name = $1
         ORDER BY version DESC LIMIT 1",
        &[&name],
    )
    .await?;
    let at = format!("settings {name}");
    Ok(row
        .map(|r| -> Result<Settings, StoreError> {
            Ok(Settings {
                name: name.to_owned(),
                version: parse_u64(col(&r, "version", &at)?, &at)?,
                text: col(&r, "text", &at)?,
                saved_at: time_col(&r, "saved_at", &at)?,
            })
        })
        .transpose()?)
}

pub(crate) async fn save_settings<C: GenericClient>(
    c: &C,
    name: &str,
    text: &str,
    expected: Option<u64>,
    now: OffsetDateTime,
    audit: &NewAuditEntry,
) -> Res<Settings> {
    let current = settings(c, name).await?.map(|s| s.version).unwrap_or(0);
    let conflict = |current| StoreError::VersionConflict {
        name: name.to_owned(),
        current,
    };
    if expected.is_some_and(|e| e != current) {
        return Err(conflict(current).into());
    }
    let version = current + 1;
    let stored = i64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("settings {name}: version overflows")))?;
    let saved_at = stamp(now)?;
    // Two nodes saving at once: the second insert of a version finds it taken.
    let inserted = execute(
        c,
        "save_settings",
        "INSERT INTO settings (name, version, text, saved_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name, version) DO NOTHING",
        &[&name, &stored, &text, &saved_at],
    )
    .await?;
    if inserted == 0 {
        return Err(conflict(version).into());
    }
    audit_add(c, audit).await?;
    Ok(Settings {
        name: name.to_owned(),
        version,
        text: text.to_owned(),
        saved_at,
    })
}

const CASE_COLUMNS: &str = "SELECT request, request_seq, system, sender, vs_id, received_at,
    department, due_at, closed_at, outcome FROM cases";

fn decode_case(row: &Row) -> Result<Case, StoreError> {
    let request: String = col(row, "request", &"cases")?;
    let at = format!("cases {request}");
    Ok(Case {
        request: parse_id(&request, &at)?,
        request_seq: col(row, "request_seq", &at)?,
        system: parse_mnemonic(&col::<String>(row, "system", &at)?, &at)?,
        sender: parse_mnemonic(&col::<String>(row, "sender", &at)?, &at)?,
        vs_id: col(row, "vs_id", &at)?,
        received_at: time_col(row, "received_at", &at)?,
        department: col(row, "department", &at)?,
        due_at: opt_time_col(row, "due_at", &at)?,
        closed_at: opt_time_col(row, "closed_at", &at)?,
        outcome: col(row, "outcome", &at)?,
    })
}

async fn add_event<C: GenericClient>(c: &C, request: &MessageId, e: &CaseEvent) -> Res<()> {
    let at = stamp(e.at)?;
    execute(
        c,
        "case event",
        "INSERT INTO case_events (request, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&request.as_str(), &at, &e.actor, &e.action, &e.detail],
    )
    .await?;
    Ok(())
}

pub(crate) async fn open_case<C: GenericClient>(c: &C, k: &Case, event: &CaseEvent) -> Res<bool> {
    let (received, due, closed) = (
        stamp(k.received_at)?,
        opt_stamp(k.due_at)?,
        opt_stamp(k.closed_at)?,
    );
    let inserted = execute(
        c,
        "open_case",
        "INSERT INTO cases (request, request_seq, system, sender, vs_id, received_at,
           department, due_at, closed_at, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (request) DO NOTHING",
        &[
            &k.request.as_str(),
            &k.request_seq,
            &k.system.as_str(),
            &k.sender.as_str(),
            &k.vs_id,
            &received,
            &k.department,
            &due,
            &closed,
            &k.outcome,
        ],
    )
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    add_event(c, &k.request, event).await?;
    Ok(true)
}

pub(crate) async fn case<C: GenericClient>(
    c: &C,
    request: &MessageId,
) -> Res<Option<(Case, Vec<CaseEvent>)>> {
    let Some(row) = query_opt(
        c,
        "case",
        &format!("{CASE_COLUMNS} WHERE request = $1"),
        &[&request.as_str()],
    )
    .await?
    else {
        return Ok(None);
    };
    let found = decode_case(&row)?;
    let events = query_all(
        c,
        "case events",
        "SELECT at, actor, action, detail FROM case_events WHERE request = $1 ORDER BY seq",
        &[&request.as_str()],
        |r| {
            let at = &"case_events" as &dyn std::fmt::Display;
            Ok(CaseEvent {
                at: time_col(r, "at", at)?,
                actor: col(r, "actor", at)?,
                action: col(r, "action", at)?,
                detail: col(r, "detail", at)?,
            })
        },
    )
    .await?;
    Ok(Some((found, events)))
}

pub(crate) async fn change_case<C: GenericClient>(
    c: &C,
    request: &MessageId,
    change: &CaseChange,
    event: &CaseEvent,
) -> Res<bool> {
    let exists = query_opt(
        c,
        "change_case",
        "SELECT 1 FROM cases WHERE request = $1 FOR UPDATE",
        &[&request.as_str()],
    )
    .await?;
    if exists.is_none() {
        return Ok(false);
    }
    if let Some(department) = &change.department {
        execute(
            c,
            "change_case: department",
            "UPDATE cases SET department = $2 WHERE request = $1",
            &[&request.as_str(), department],
        )
        .await?;
    }
    if let Some(outcome) = &change.close {
        let at = stamp(event.at)?;
        execute(
            c,
            "change_case: close",
            "UPDATE cases SET closed_at = $2, outcome = $3 WHERE request = $1 AND closed_at IS NULL",
            &[&request.as_str(), &at, outcome],
        )
        .await?;
    }
    add_event(c, request, event).await?;
    Ok(true)
}

pub(crate) async fn cases<C: GenericClient>(c: &C, q: &CaseQuery) -> Res<Vec<Case>> {
    let mut sql = format!("{CASE_COLUMNS} WHERE system = $1");
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(q.system.as_str().to_owned())];
    let mut add = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        args.push(value);
        sql.push_str(&format!(
            " AND {}",
            condition.replace("$N", &format!("${}", args.len()))
        ));
    };
    if let Some(d) = &q.department {
        add("department = $N", Box::new(d.clone()));
    }
    match q.open {
        Some(true) => add("closed_at IS NULL AND $N", Box::new(true)),
        Some(false) => add("closed_at IS NOT NULL AND $N", Box::new(true)),
        None => {}
    }
    if let Some(due) = q.due_before {
        add("closed_at IS NULL AND due_at < $N", Box::new(stamp(due)?));
    }
    if let Some(vs) = &q.vs_id {
        add("vs_id = $N", Box::new(vs.clone()));
    }
    if let Some(before) = q.before {
        add("request_seq < $N", Box::new(before));
    }
    args.push(Box::new(i64::from(q.limit.max(1))));
    sql.push_str(&format!(" ORDER BY request_seq DESC LIMIT ${}", args.len()));
    let params: Vec<&(dyn ToSql + Sync)> = args
        .iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = query(c, "cases", &sql, &params).await?;
    Ok(rows
        .iter()
        .map(decode_case)
        .collect::<Result<Vec<_>, _>>()?)
}

pub(crate) async fn requests_without_case<C: GenericClient>(
    c: &C,
    recipient: &Mnemonic,
    since: OffsetDateTime,
    limit: u32,
) -> Res<Vec<MessageSummary>> {
    let since = stamp(since)?;
    let sql = format!(
        "{SUMMARY_COLUMNS} WHERE m.recipient = $1 AND m.kind = 'REQUEST' AND m.sent_at >= $2
           AND m.seq > (SELECT coalesce(max(request_seq), 0) FROM cases WHERE system = $1)
         ORDER BY m.seq LIMIT $3"
    );
    query_all(
        c,
        "requests_without_case",
        &sql,
        &[&recipient.as_str(), &since, &i64::from(limit.max(1))],
        decode_summary,
    )
    .await
}

pub(crate) async fn once<C: GenericClient>(c: &C, key: &str, at: OffsetDateTime) -> Res<bool> {
    let at = stamp(at)?;
    let inserted = execute(
        c,
        "once",
        "INSERT INTO once_keys (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        &[&key, &at],
    )
    .await?;
    Ok(inserted > 0)
}

pub(crate) async fn forget_once<C: GenericClient>(c: &C, key: &str) -> Res<()> {
    execute(
        c,
        "forget_once",
        "DELETE FROM once_keys WHERE key = $1",
        &[&key],
    )
    .await?;
    Ok(())
}
