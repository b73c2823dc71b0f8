//! A restore's write transaction: one connection, `BEGIN IMMEDIATE` until
//! commit, so a failed restore leaves the database as it was.

use async_trait::async_trait;

use super::{sql, worker::Worker};
use crate::{Error, RestoreMode, RestoreTransaction, Result, Row, TableName, TableSpec};

pub(crate) struct SqliteRestore {
    /// `None` after commit or rollback.
    worker: Option<Worker>,
}

impl SqliteRestore {
    pub(crate) async fn begin(worker: Worker) -> Result<Self> {
        worker
            .call(|conn| {
                conn.execute_batch("BEGIN IMMEDIATE")
                    .map_err(|e| Error::sqlite("starting a restore transaction", e))
            })
            .await?;
        Ok(Self {
            worker: Some(worker),
        })
    }

    fn worker(&self) -> Result<&Worker> {
        self.worker
            .as_ref()
            .ok_or_else(|| Error::Task("the restore transaction has already ended".into()))
    }

    async fn end(mut self: Box<Self>, statement: &'static str) -> Result<()> {
        let worker = self.worker.take();
        match worker {
            Some(worker) => {
                worker
                    .call(move |conn| {
                        conn.execute_batch(statement)
                            .map_err(|e| Error::sqlite("ending a restore transaction", e))
                    })
                    .await
            }
            None => Ok(()),
        }
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
        self.worker()?.ensure_table(spec).await
    }

    async fn count(&mut self, table: &TableName) -> Result<u64> {
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

    async fn commit(self: Box<Self>) -> Result<()> {
        self.end("COMMIT").await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.end("ROLLBACK").await
    }
}
