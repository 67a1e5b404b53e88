//! Running statements: every one through the connection's statement cache and under a
//! client-side timeout, every failure mapped with what was being done; transactions retried on
//! deadlocks.
//!
//! Timeouts: the server cancels a statement after [`STATEMENT_TIMEOUT`] (`statement_timeout`,
//! set for every pooled connection at connect), and the client gives up [`CLIENT_MARGIN`] later
//! (a server that stopped answering at all: a frozen host, a network that drops packets).
//! Either way the call fails with [`opensmev_store::StoreError::Unavailable`]; the connection
//! goes back to the pool, which checks it before reuse (`RecyclingMethod::Verified`, under its
//! recycle timeout) and drops it if it is broken.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use opensmev_store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::codec::{Res, pg_error};

/// How long the server lets one statement run (`statement_timeout`).
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much longer the client waits for an answer before it gives up on the server.
pub(crate) const CLIENT_MARGIN: Duration = Duration::from_secs(5);

/// How many times a transaction that lost a deadlock (or a serialization conflict) is run again.
pub(crate) const RETRIES: u32 = 5;

/// Statement parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Awaits a database call under the client-side timeout.
pub(crate) async fn timed<T>(
    what: &str,
    call: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Res<T> {
    match tokio::time::timeout(STATEMENT_TIMEOUT + CLIENT_MARGIN, call).await {
        Ok(result) => result.map_err(|e| pg_error(e, what)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "{what}: no answer from the database within {} s",
            (STATEMENT_TIMEOUT + CLIENT_MARGIN).as_secs()
        ))
        .into()),
    }
}

/// Every row of a statement.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    what: &str,
    sql: &str,
    params: Params<'_>,
) -> Res<Vec<Row>> {
    timed(what, async {
        let statement = c.prepare_cached(sql).await?;
        c.query(&statement, params).await
    })
    .await
}

/// The rows of a statement, each decoded with `decode`.
pub(crate) async fn query_all<C: GenericClient, T>(
    c: &C,
    what: &str,
    sql: &str,
    params: Params<'_>,
    decode: fn(&Row) -> Result<T, StoreError>,
) -> Res<Vec<T>> {
    let rows = query(c, what, sql, params).await?;
    Ok(rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?)
}

/// The row of a statement that returns at most one.
pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    what: &str,
    sql: &str,
    params: Params<'_>,
) -> Res<Option<Row>> {
    timed(what, async {
        let statement = c.prepare_cached(sql).await?;
        c.query_opt(&statement, params).await
    })
    .await
}

/// The row of a statement that returns exactly one.
pub(crate) async fn query_one<C: GenericClient>(
    c: &C,
    what: &str,
    sql: &str,
    params: Params<'_>,
) -> Res<Row> {
    timed(what, async {
        let statement = c.prepare_cached(sql).await?;
        c.query_one(&statement, params).await
    })
    .await
}

/// Runs a statement; the number of rows it changed.
pub(crate) async fn execute<C: GenericClient>(
    c: &C,
    what: &str,
    sql: &str,
    params: Params<'_>,
) -> Res<u64> {
    timed(what, async {
        let statement = c.prepare_cached(sql).await?;
        c.execute(&statement, params).await
    })
    .await
}

/// Starts a transaction (READ COMMITTED, the server's default).
pub(crate) async fn begin<'c>(
    client: &'c mut deadpool_postgres::Client,
    what: &str,
) -> Res<deadpool_postgres::Transaction<'c>> {
    timed(what, client.transaction()).await
}

/// Commits (`keep`) or rolls back a transaction. `Ok` after a commit means the server reported
/// it committed, which (with `synchronous_commit` on, the default) means durable.
pub(crate) async fn finish(
    tx: deadpool_postgres::Transaction<'_>,
    keep: bool,
    what: &str,
) -> Res<()> {
    if keep {
        timed(what, tx.commit()).await
    } else {
        timed(what, tx.rollback()).await
    }
}

/// Gives a connection back to the pool after a call, or closes it when the call failed on the
/// connection's level ([`StoreError::Unavailable`]: broken, timed out, or on a server that can
/// no longer write, such as a former primary): the pool must not hand it out again.
pub(crate) fn release<T>(client: deadpool_postgres::Client, result: &Res<T>) {
    if let Err(fail) = result
        && matches!(fail.error, StoreError::Unavailable(_))
    {
        drop(deadpool_postgres::Object::take(client));
    }
}

/// Runs `$body` (a future using the pooled connection `$client`) and gives the connection back
/// ([`release`]). Evaluates to `Res<value>`.
macro_rules! read {
    ($inner:expr, $what:expr, |$client:ident| $body:expr) => {{
        let what: &str = $what;
        let $client = $inner.client(what).await?;
        let result: $crate::codec::Res<_> = $body.await;
        $crate::db::release($client, &result);
        result
    }};
}

pub(crate) use read;

/// Runs `$body` (a future using the transaction `$tx`) in a transaction on a pooled connection
/// of `$inner`, commits it — or rolls it back when `$keep` (given `&value`) is false — and runs
/// the whole again when the database chose it as a deadlock's victim; the connection goes back
/// to the pool as by [`release`]. Evaluates to `Res<value>`.
macro_rules! transaction {
    ($inner:expr, $what:expr, |$tx:ident| $body:expr) => {
        $crate::db::transaction!($inner, $what, |$tx| $body, |_value| true)
    };
    ($inner:expr, $what:expr, |$tx:ident| $body:expr, |$value:ident| $keep:expr) => {{
        let what: &str = $what;
        let mut attempt = 0u32;
        loop {
            let mut client = $inner.client(what).await?;
            let result: $crate::codec::Res<_> = async {
                let $tx = $crate::db::begin(&mut client, what).await?;
                let value = $body.await?;
                let keep = {
                    let $value = &value;
                    $keep
                };
                $crate::db::finish($tx, keep, what).await?;
                Ok(value)
            }
            .await;
            $crate::db::release(client, &result);
            match result {
                Err(fail) if fail.retry() && attempt < $crate::db::RETRIES => {
                    attempt += 1;
                    tracing::debug!(
                        operation = what,
                        attempt,
                        error = %fail.error,
                        "retrying a transaction"
                    );
                }
                other => break other,
            }
        }
    }};
}

pub(crate) use transaction;
