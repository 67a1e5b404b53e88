//! The writer thread (group commit) and the reader threads.
//!
//! Callers never touch a connection: they send a job over a `std::sync::mpsc` channel and await a
//! `tokio::sync::oneshot` reply, which needs no runtime on either side.
//!
//! The writer blocks for one job, then takes up to [`MAX_BATCH`]` - 1` more that are already
//! waiting, and runs them all in ONE transaction (`BEGIN IMMEDIATE` … `COMMIT`), each job inside
//! its own `SAVEPOINT`, so a job that fails (or panics) is rolled back alone. Replies are sent
//! only after `COMMIT` returned — with `synchronous=FULL` in WAL mode that includes the fsync — so
//! `Ok` always means durable. If the transaction cannot be committed, every job of the batch gets
//! the error. While one batch is being synced, the next one queues up: under load the number of
//! fsyncs per job drops towards `1 / MAX_BATCH`.
//!
//! Readers share one job queue (a `Mutex<Receiver>`); each owns a read-only connection.
//!
//! Shutdown: when the last `Sender` is dropped, each thread finishes the jobs already queued
//! (mpsc delivers everything sent before the disconnect) and exits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use opensmev_store::StoreError;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::MAX_BATCH;

/// What the writer does with a job after running it, once the batch's fate is known: the
/// argument is `Err(why)` when the batch was rolled back.
pub(crate) type Finish = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// A state change, run by the writer inside a savepoint.
pub(crate) trait WriteJob: Send {
    /// Runs; `(true, _)` when it failed and its savepoint must be rolled back.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finish);
    /// Replies with an error without running.
    fn abort(self: Box<Self>, why: &str);
}

/// A [`WriteJob`] from a closure and its reply channel.
pub(crate) struct Job<T, F> {
    pub(crate) what: &'static str,
    pub(crate) f: F,
    pub(crate) reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finish) {
        let Job { what, f, reply } = *self;
        let result = f(conn);
        let failed = result.is_err();
        let finish: Finish = Box::new(move |batch| {
            let result = match (result, batch) {
                (Ok(_), Err(why)) => Err(StoreError::Backend(format!("{what}: {why}"))),
                (result, _) => result,
            };
            // The caller may have gone away (its future was dropped): nothing to do then.
            let _ = reply.send(result);
        });
        (failed, finish)
    }

    fn abort(self: Box<Self>, why: &str) {
        let _ = self
            .reply
            .send(Err(StoreError::Backend(format!("{}: {why}", self.what))));
    }
}

/// A read, run by a reader thread, which sends its own reply.
pub(crate) type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// The writer thread's body.
pub(crate) fn writer(conn: Connection, jobs: Receiver<Box<dyn WriteJob>>, commits: Arc<AtomicU64>) {
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if run_batch(&conn, &mut batch) {
            commits.fetch_add(1, Ordering::Relaxed);
        }
    }
    // All senders are gone and the queue is drained. Dropping the connection closes it; the last
    // connection to close checkpoints the WAL.
}

/// Runs a batch in one transaction and replies to every job; true when it was committed.
fn run_batch(conn: &Connection, batch: &mut Vec<Box<dyn WriteJob>>) -> bool {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let why = format!("cannot begin a transaction: {e}");
        batch.drain(..).for_each(|job| job.abort(&why));
        return false;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for job in batch.drain(..) {
        if let Some(why) = &broken {
            job.abort(why);
            continue;
        }
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            let why = format!("cannot start a savepoint: {e}");
            job.abort(&why);
            broken = Some(why);
            continue;
        }
        let (failed, finish) = match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok((failed, finish)) => (failed, Some(finish)),
            // The job's reply sender was dropped while unwinding: its caller gets `Unavailable`.
            Err(_) => (true, None),
        };
        let end = if failed {
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        } else {
            exec(conn, "RELEASE job")
        };
        if let Err(e) = end {
            broken = Some(format!("cannot end a savepoint: {e}"));
        }
        finishes.extend(finish);
    }
    let outcome = match broken {
        Some(why) => Err(why),
        None => exec(conn, "COMMIT").map_err(|e| format!("commit failed: {e}")),
    };
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    let batch_result = outcome.as_ref().map(|_| ()).map_err(String::as_str);
    for finish in finishes {
        finish(batch_result);
    }
    outcome.is_ok()
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// A reader thread's body.
pub(crate) fn reader(mut conn: Connection, jobs: Arc<Mutex<Receiver<ReadJob>>>) {
    loop {
        let job = {
            let queue = jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            queue.recv()
        };
        let Ok(job) = job else { break };
        // A panicking read drops its reply sender (the caller gets `Unavailable`); the thread
        // goes on serving.
        let _ = catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}
