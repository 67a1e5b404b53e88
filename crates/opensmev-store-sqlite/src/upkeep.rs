//! Background jobs on the embedded store: job claims with fencing tokens and the sweep
//! ([`Store::claim_job`](opensmev_store::Store::claim_job),
//! [`Store::sweep`](opensmev_store::Store::sweep)).
//!
//! One process uses an embedded store, but the claims work the same as on PostgreSQL (the
//! `jobs` table, migration 5), so the server runs one code path on both: a claim row per job
//! with its holder, fence and end; the sweep checks the claim in its own transaction.

use opensmev_store::{JobClaim, QueueSignal, StoreError, SweepReport};
use opensmev_types::QName;
use rusqlite::{Connection, OptionalExtension, params};
use time::{Duration, OffsetDateTime};

use crate::codec::{Context, parse_kind, parse_mnemonic, parse_opt_time, parse_time, time_text};
use crate::ops::{Expiring, expire_one};

/// [`Store::claim_job`](opensmev_store::Store::claim_job).
pub(crate) fn claim_job(
    conn: &Connection,
    job: &str,
    holder: &str,
    ttl: Duration,
    now: OffsetDateTime,
) -> Result<Option<JobClaim>, StoreError> {
    let until = now
        .checked_add(ttl)
        .ok_or_else(|| StoreError::Backend(format!("claim_job: {now} + {ttl} is out of range")))?;
    let until_text = time_text(until)?;
    let current: Option<(String, i64, String)> = conn
        .prepare_cached("SELECT holder, fence, until FROM jobs WHERE name = ?1")
        .and_then(|mut s| {
            s.query_row([job], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .ctx("claim_job: read")?;
    let fence = match current {
        None => {
            conn.prepare_cached(
                "INSERT INTO jobs (name, holder, fence, until) VALUES (?1, ?2, 1, ?3)",
            )
            .and_then(|mut s| s.execute(params![job, holder, until_text]))
            .ctx("claim_job: insert")?;
            1
        }
        Some((current, fence, current_until)) => {
            let current_until = parse_time(&current_until, &format!("jobs {job}"))?;
            let fence = if current == holder && now <= current_until {
                fence
            } else if now > current_until {
                fence + 1
            } else {
                return Ok(None);
            };
            conn.prepare_cached(
                "UPDATE jobs SET holder = ?2, fence = ?3, until = ?4 WHERE name = ?1",
            )
            .and_then(|mut s| s.execute(params![job, holder, fence, until_text]))
            .ctx("claim_job: update")?;
            fence
        }
    };
    Ok(Some(JobClaim {
        job: job.to_owned(),
        holder: holder.to_owned(),
        fence,
        until,
    }))
}

/// [`Store::release_job`](opensmev_store::Store::release_job): the claim ends now (its `until`
/// goes back to the claim's own start of time, so any holder may take the job).
pub(crate) fn release_job(conn: &Connection, claim: &JobClaim) -> Result<bool, StoreError> {
    let released = conn
        .prepare_cached(
            "UPDATE jobs SET until = '0001-01-01T00:00:00.000000000Z'
             WHERE name = ?1 AND holder = ?2 AND fence = ?3",
        )
        .and_then(|mut s| s.execute(params![claim.job, claim.holder, claim.fence]))
        .ctx("release_job")?;
    Ok(released > 0)
}

/// [`Store::sweep`](opensmev_store::Store::sweep): the report and the queues to signal (after
/// the commit).
pub(crate) fn sweep(
    conn: &Connection,
    node: Option<&str>,
    claim: &JobClaim,
    now: OffsetDateTime,
    limit: usize,
) -> Result<(SweepReport, Vec<QueueSignal>), StoreError> {
    let at = format!("jobs {}", claim.job);
    let row: Option<(String, i64, String, Option<String>)> = conn
        .prepare_cached("SELECT holder, fence, until, last_sweep FROM jobs WHERE name = ?1")
        .and_then(|mut s| {
            s.query_row([&claim.job], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
        })
        .ctx("sweep: claim")?;
    let lost = || StoreError::LostClaim {
        job: claim.job.clone(),
        fence: claim.fence,
    };
    let Some((holder, fence, until, last_sweep)) = row else {
        return Err(lost());
    };
    if holder != claim.holder || fence != claim.fence || now > parse_time(&until, &at)? {
        return Err(lost());
    }
    let last_sweep = parse_opt_time(last_sweep, &at)?;
    let now_text = time_text(now)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);

    // EOL passed, not under a live lease.
    type Row = (i64, String, String, String, String, String, String);
    let expiring: Vec<Row> = conn
        .prepare_cached(
            "SELECT d.message_seq, m.id, m.sender, d.recipient, d.kind, d.type_ns, d.type_local
             FROM deliveries d JOIN messages m ON m.seq = d.message_seq
             WHERE d.eol IS NOT NULL AND d.state IN ('queued', 'leased') AND d.eol < ?1
               AND (d.state = 'queued' OR d.lease_until < ?1)
             ORDER BY d.eol LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![now_text, limit], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect()
        })
        .ctx("sweep: find expired")?;
    let mut report = SweepReport::default();
    for (seq, id, sender, recipient, kind, ns, local) in &expiring {
        expire_one(
            conn,
            node,
            Expiring {
                seq: *seq,
                id,
                sender,
                recipient,
                kind,
                message_type: &QName {
                    ns: ns.clone(),
                    local: local.clone(),
                },
            },
            &now_text,
        )?;
        report.expired += 1;
    }

    // Leases that ran out since the previous sweep.
    let since = match last_sweep {
        Some(t) => time_text(t)?,
        None => String::new(),
    };
    let run_out: Vec<(String, String, Option<String>, i64)> = conn
        .prepare_cached(
            "SELECT recipient, kind, target_node_id, count(*) FROM deliveries
             WHERE state = 'leased' AND lease_until < ?1 AND lease_until >= ?2
             GROUP BY recipient, kind, target_node_id",
        )
        .and_then(|mut s| {
            s.query_map(params![now_text, since], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })
        .ctx("sweep: find run-out leases")?;
    let mut signals = Vec::with_capacity(run_out.len());
    for (recipient, kind, target, count) in run_out {
        report.leases_run_out += u64::try_from(count).unwrap_or(0);
        signals.push(QueueSignal {
            recipient: parse_mnemonic(&recipient, &"deliveries")?,
            kind: parse_kind(&kind, &"deliveries")?,
            node: target,
        });
    }
    conn.prepare_cached("UPDATE jobs SET last_sweep = ?2 WHERE name = ?1")
        .and_then(|mut s| s.execute(params![claim.job, now_text]))
        .ctx("sweep: record")?;
    Ok((report, signals))
}
