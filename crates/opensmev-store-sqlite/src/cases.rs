//! Settings documents and the cabinet's cases on the embedded store (migration 7).

use opensmev_store::{
    Case, CaseChange, CaseEvent, CaseQuery, MessageSummary, NewAuditEntry, Settings, StoreError,
};
use opensmev_types::{MessageId, Mnemonic};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use time::OffsetDateTime;

use crate::codec::{
    Context, col, opt_time_text, parse_id, parse_mnemonic, parse_opt_time, parse_time, parse_u64,
    time_text,
};
use crate::ops::audit_add;

pub(crate) fn settings(conn: &Connection, name: &str) -> Result<Option<Settings>, StoreError> {
    let row: Option<(i64, String, String)> = conn
        .prepare_cached(
            "SELECT version, text, saved_at FROM settings WHERE name = ?1
             ORDER BY version DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .ctx("settings")?;
    let at = format!("settings {name}");
    row.map(|(version, text, saved_at)| {
        Ok(Settings {
            name: name.to_owned(),
            version: parse_u64(version, &at)?,
            text,
            saved_at: parse_time(&saved_at, &at)?,
        })
    })
    .transpose()
}

pub(crate) fn save_settings(
    conn: &Connection,
    name: &str,
    text: &str,
    expected: Option<u64>,
    now: OffsetDateTime,
    audit: &NewAuditEntry,
) -> Result<Settings, StoreError> {
    let current = settings(conn, name)?.map(|s| s.version).unwrap_or(0);
    if expected.is_some_and(|e| e != current) {
        return Err(StoreError::VersionConflict {
            name: name.to_owned(),
            current,
        });
    }
    let version = current + 1;
    let stored = i64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("settings {name}: version overflows")))?;
    conn.prepare_cached(
        "INSERT INTO settings (name, version, text, saved_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![name, stored, text, time_text(now).map_err(to_sql)?]))
    .ctx("save_settings")?;
    audit_add(conn, audit)?;
    Ok(Settings {
        name: name.to_owned(),
        version,
        text: text.to_owned(),
        saved_at: now,
    })
}

fn to_sql(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(e.to_string())))
}

const CASE_COLUMNS: &str = "SELECT request, request_seq, system, sender, vs_id, received_at,
    department, due_at, closed_at, outcome FROM cases";

fn decode_case(row: &Row<'_>) -> Result<Case, StoreError> {
    let request: String = col(row, 0, &"cases")?;
    let at = format!("cases {request}");
    let at = &at as &dyn std::fmt::Display;
    Ok(Case {
        request: parse_id(&request, at)?,
        request_seq: col(row, 1, at)?,
        system: parse_mnemonic(&col::<String>(row, 2, at)?, at)?,
        sender: parse_mnemonic(&col::<String>(row, 3, at)?, at)?,
        vs_id: col(row, 4, at)?,
        received_at: parse_time(&col::<String>(row, 5, at)?, at)?,
        department: col(row, 6, at)?,
        due_at: parse_opt_time(col(row, 7, at)?, at)?,
        closed_at: parse_opt_time(col(row, 8, at)?, at)?,
        outcome: col(row, 9, at)?,
    })
}

fn add_event(conn: &Connection, request: &MessageId, e: &CaseEvent) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO case_events (request, at, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            request.as_str(),
            time_text(e.at).map_err(to_sql)?,
            e.actor,
            e.action,
            e.detail
        ])
    })
    .ctx("case event")?;
    Ok(())
}

pub(crate) fn open_case(
    conn: &Connection,
    c: &Case,
    event: &CaseEvent,
) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO cases (request, request_seq, system, sender, vs_id, received_at,
               department, due_at, closed_at, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (request) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                c.request.as_str(),
                c.request_seq,
                c.system.as_str(),
                c.sender.as_str(),
                c.vs_id,
                time_text(c.received_at).map_err(to_sql)?,
                c.department,
                opt_time_text(c.due_at).map_err(to_sql)?,
                opt_time_text(c.closed_at).map_err(to_sql)?,
                c.outcome
            ])
        })
        .ctx("open_case")?;
    if inserted == 0 {
        return Ok(false);
    }
    add_event(conn, &c.request, event)?;
    Ok(true)
}

pub(crate) fn case(
    conn: &Connection,
    request: &MessageId,
) -> Result<Option<(Case, Vec<CaseEvent>)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{CASE_COLUMNS} WHERE request = ?1"))
        .ctx("case")?;
    let mut rows = stmt.query([request.as_str()]).ctx("case")?;
    let Some(row) = rows.next().ctx("case")? else {
        return Ok(None);
    };
    let found = decode_case(row)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, actor, action, detail FROM case_events WHERE request = ?1 ORDER BY seq",
        )
        .ctx("case events")?;
    let mut rows = stmt.query([request.as_str()]).ctx("case events")?;
    let mut events = Vec::new();
    let at = &"case_events" as &dyn std::fmt::Display;
    while let Some(row) = rows.next().ctx("case events")? {
        events.push(CaseEvent {
            at: parse_time(&col::<String>(row, 0, at)?, at)?,
            actor: col(row, 1, at)?,
            action: col(row, 2, at)?,
            detail: col(row, 3, at)?,
        });
    }
    Ok(Some((found, events)))
}

pub(crate) fn change_case(
    conn: &Connection,
    request: &MessageId,
    change: &CaseChange,
    event: &CaseEvent,
) -> Result<bool, StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM cases WHERE request = ?1")
        .and_then(|mut s| s.exists([request.as_str()]))
        .ctx("change_case")?;
    if !exists {
        return Ok(false);
    }
    if let Some(department) = &change.department {
        conn.prepare_cached("UPDATE cases SET department = ?2 WHERE request = ?1")
            .and_then(|mut s| s.execute(params![request.as_str(), department]))
            .ctx("change_case: department")?;
    }
    if let Some(outcome) = &change.close {
        conn.prepare_cached(
            "UPDATE cases SET closed_at = ?2, outcome = ?3 WHERE request = ?1 AND closed_at IS NULL",
        )
        .and_then(|mut s| {
            s.execute(params![request.as_str(), time_text(event.at).map_err(to_sql)?, outcome])
        })
        .ctx("change_case: close")?;
    }
    add_event(conn, request, event)?;
    Ok(true)
}

pub(crate) fn cases(conn: &Connection, q: &CaseQuery) -> Result<Vec<Case>, StoreError> {
    let mut sql = format!("{CASE_COLUMNS} WHERE system = ?1");
    let mut args: Vec<Value> = vec![Value::Text(q.system.as_str().to_owned())];
    let mut add = |condition: &str, value: Value| {
        args.push(value);
        sql.push_str(&format!(
            " AND {}",
            condition.replace("?N", &format!("?{}", args.len()))
        ));
    };
    if let Some(d) = &q.department {
        add("department = ?N", Value::Text(d.clone()));
    }
    match q.open {
        Some(true) => add("closed_at IS NULL AND ?N", Value::Integer(1)),
        Some(false) => add("closed_at IS NOT NULL AND ?N", Value::Integer(1)),
        None => {}
    }
    if let Some(due) = q.due_before {
        add(
            "closed_at IS NULL AND due_at < ?N",
            Value::Text(time_text(due)?),
        );
    }
    if let Some(vs) = &q.vs_id {
        add("vs_id = ?N", Value::Text(vs.clone()));
    }
    if let Some(before) = q.before {
        add("request_seq < ?N", Value::Integer(before));
    }
    args.push(Value::Integer(i64::from(q.limit.max(1))));
    sql.push_str(&format!(" ORDER BY request_seq DESC LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql).ctx("cases")?;
    let mut rows = stmt.query(params_from_iter(&args)).ctx("cases")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("cases")? {
        out.push(decode_case(row)?);
    }
    Ok(out)
}

pub(crate) fn requests_without_case(
    conn: &Connection,
    recipient: &Mnemonic,
    since: OffsetDateTime,
    limit: u32,
) -> Result<Vec<MessageSummary>, StoreError> {
    let sql = format!(
        "{} WHERE m.recipient = ?1 AND m.kind = 'REQUEST' AND m.sent_at >= ?2
           AND m.seq > (SELECT coalesce(max(request_seq), 0) FROM cases WHERE system = ?1)
         ORDER BY m.seq LIMIT ?3",
        crate::ops::SUMMARY_COLUMNS
    );
    let mut stmt = conn.prepare_cached(&sql).ctx("requests_without_case")?;
    let mut rows = stmt
        .query(params![
            recipient.as_str(),
            time_text(since)?,
            i64::from(limit.max(1))
        ])
        .ctx("requests_without_case")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("requests_without_case")? {
        out.push(crate::ops::decode_summary(row)?);
    }
    Ok(out)
}

pub(crate) fn once(conn: &Connection, key: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO once_keys (key, at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![key, time_text(at).map_err(to_sql)?]))
        .ctx("once")?;
    Ok(inserted > 0)
}

pub(crate) fn forget_once(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM once_keys WHERE key = ?1")
        .and_then(|mut s| s.execute([key]))
        .ctx("forget_once")?;
    Ok(())
}
