//! A restore's write transaction: one connection, `BEGIN IMMEDIATE` until
//! commit, so a failed restore leaves the database as it was.
//!
//! Into an empty table ([`RestoreMode::RefuseNonEmpty`]) rows are
//! collected and inserted in id order when the table is complete (see
//! [`super::sorted_load`]); the other modes insert each batch as it comes.
//!
//! The commit is durable (`synchronous = FULL`: the WAL is synced) and
//! visible to every connection when `commit` returns. Copying the WAL into
//! the database file (a checkpoint, as long again as writing it for a big
//! restore) then runs on the restore's connection thread, in SQLite's
//! `PASSIVE` mode so the application's reads and writes go on; closing the
//! database ([`crate::Backend::close`]) waits for it.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::{sorted_load::SortedLoad, sql, worker::Worker};
use crate::{Error, RestoreMode, RestoreTransaction, Result, Row, TableName, TableSpec};

/// The checkpoints still running after committed restores, so closing the
/// database can wait for them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checkpoints(Arc<Mutex<Vec<oneshot::Receiver<()>>>>);

impl Checkpoints {
    /// Queues a `PASSIVE` checkpoint on `worker`'s connection.
    fn start(&self, worker: &Worker) {
        let (done, finished) = oneshot::channel();
        let queued = worker.spawn(move |conn| {
            // Best effort: a checkpoint that cannot finish now (readers on
            // old snapshots) is completed by a later one.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            let _ = done.send(());
        });
        if queued.is_ok() {
            let mut running = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            running
                .retain_mut(|r| matches!(r.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
            running.push(finished);
        }
    }

    /// Waits until every checkpoint started so far has ended.
    pub(crate) async fn wait(&self) {
        let running = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for finished in running {
            let _ = finished.await;
        }
    }
}

pub(crate) struct SqliteRestore {
    /// `None` after commit or rollback.
    worker: Option<Worker>,
    checkpoints: Checkpoints,
    /// The empty-table load in progress, if any.
    load: Option<SortedLoad>,
}

impl SqliteRestore {
    pub(crate) async fn begin(worker: Worker, checkpoints: Checkpoints) -> Result<Self> {
        worker
            .call(|conn| {
                conn.execute_batch("BEGIN IMMEDIATE")
                    .map_err(|e| Error::sqlite("starting a restore transaction", e))
            })
            .await?;
        Ok(Self {
            worker: Some(worker),
            checkpoints,
            load: None,
        })
    }

    /// Inserts the rows of the load in progress, if any, so the next
    /// statement sees them.
    async fn finish_load(&mut self) -> Result<()> {
        if let Some(load) = self.load.take() {
            self.worker()?
                .call(move |conn| load.finish(conn).map(drop))
                .await?;
        }
        Ok(())
    }

    fn worker(&self) -> Result<&Worker> {
        self.worker
            .as_ref()
            .ok_or_else(|| Error::Task("the restore transaction has already ended".into()))
    }

    /// Commits (after inserting the load in progress) or rolls back. A
    /// commit whose load fails rolls back instead.
    async fn end(mut self: Box<Self>, commit: bool) -> Result<()> {
        let load = self.load.take();
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        let ended = worker
            .call(move |conn| {
                let ended = |conn: &rusqlite::Connection, statement| {
                    conn.execute_batch(statement)
                        .map_err(|e| Error::sqlite("ending a restore transaction", e))
                };
                if !commit {
                    drop(load);
                    return ended(conn, "ROLLBACK");
                }
                if let Some(load) = load
                    && let Err(e) = load.finish(conn)
                {
                    let _ = ended(conn, "ROLLBACK");
                    return Err(e);
                }
                ended(conn, "COMMIT")
            })
            .await;
        if commit && ended.is_ok() {
            self.checkpoints.start(&worker);
        }
        ended
    }
}

impl Drop for SqliteRestore {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            // Not committed: roll back before the connection closes (closing
            // would roll back too; being explicit keeps the intent visible).
            let _ = worker.spawn(|conn| {
                let _ = conn.execute_batch("ROLLBACK");
            });
        }
    }
}

#[async_trait]
impl RestoreTransaction for SqliteRestore {
    async fn ensure_table(&mut self, spec: &TableSpec) -> Result<()> {
        self.finish_load().await?;
        self.worker()?.ensure_table(spec).await
    }

    async fn count(&mut self, table: &TableName) -> Result<u64> {
        self.finish_load().await?;
        let table = table.clone();
        self.worker()?
            .call(move |conn| {
                sql::count(conn, &table)
                    .map_err(|e| sql::error(format!("counting {table:?}"), &table, e))
            })
            .await
    }

    async fn write(
        &mut self,
        spec: &TableSpec,
        mut rows: Vec<Row>,
        mode: RestoreMode,
    ) -> Result<u64> {
        if mode == RestoreMode::RefuseNonEmpty {
            if self.load.as_ref().is_some_and(|load| load.spec() != spec) {
                self.finish_load().await?;
            }
            let load = self
                .load
                .take()
                .unwrap_or_else(|| SortedLoad::new(spec.clone()));
            let taken = rows.len() as u64;
            let load = self
                .worker()?
                .call(move |_| {
                    let mut load = load;
                    load.push(rows)?;
                    Ok(load)
                })
                .await?;
            self.load = Some(load);
            return Ok(taken);
        }
        self.finish_load().await?;
        let spec = spec.clone();
        // Inserting in key order walks the primary-key index from left to
        // right instead of jumping around it. The sort is stable, so a
        // repeated id still ends with its last value.
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        self.worker()?
            .call(move |conn| {
                let mut statement = conn
                    .prepare_cached(&sql::restore_sql(&spec, mode))
                    .map_err(|e| {
                        sql::error(format!("restoring into {:?}", spec.table), &spec.table, e)
                    })?;
                let mut written = 0;
                for row in &rows {
                    let changed = sql::execute_row(&mut statement, row).map_err(|e| {
                        sql::error(
                            format!("restoring record {:?} into {:?}", row.id, spec.table),
                            &spec.table,
                            e,
                        )
                    })?;
                    written += changed as u64;
                }
                Ok(written)
            })
            .await
    }

    async fn flush(&mut self) -> Result<()> {
        self.finish_load().await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.end(true).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.end(false).await
    }
}
