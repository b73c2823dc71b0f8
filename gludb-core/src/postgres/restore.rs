//! A restore's write transaction: one pooled connection, one transaction
//! until commit, so a failed restore leaves the database as it was. The
//! tables it creates are rolled back too (PostgreSQL DDL is transactional).
//!
//! As for a snapshot, a task owns the connection and its transaction and
//! serves requests in order. Dropping the restore without committing ends
//! the task, whose transaction then rolls back before the connection goes
//! back to the pool (the rollback is queued on the connection ahead of
//! anything a later user sends).
//!
//! Table names are resolved (see [`super::tables`]) inside the transaction,
//! once per table: `ensure_table` finds or creates the table, and `count`
//! and `write` use what it found.
//!
//! `count` locks the table (`EXCLUSIVE` mode) until the transaction ends:
//! the application's readers go on, its writers wait, so a table found
//! empty for [`RestoreMode::RefuseNonEmpty`] only holds restored records
//! when the restore commits.

use async_trait::async_trait;
use deadpool_postgres::Object;
use tokio::sync::{mpsc, oneshot};

use super::{
    error,
    session::{Session, Started, report_start},
    sql,
    tables::{PgTable, TxTables},
};
use crate::{Error, RestoreMode, RestoreTransaction, Result, Row, TableName, TableSpec};

enum Request {
    EnsureTable {
        spec: TableSpec,
        reply: oneshot::Sender<Result<()>>,
    },
    Count {
        table: TableName,
        reply: oneshot::Sender<Result<u64>>,
    },
    Write {
        spec: TableSpec,
        rows: Vec<Row>,
        mode: RestoreMode,
        reply: oneshot::Sender<Result<u64>>,
    },
    End {
        commit: bool,
        reply: oneshot::Sender<Result<()>>,
    },
}

pub(crate) struct PgRestore {
    session: Session<Request>,
}

impl PgRestore {
    pub(crate) async fn begin(client: Object) -> Result<Self> {
        let session = Session::begin(
            "the restore transaction has already ended (its connection task stopped)",
            |queue, started| serve(client, queue, started),
        )
        .await?;
        Ok(Self { session })
    }

    /// Commits or rolls back: the one request that ends the task.
    async fn end(&self, commit: bool) -> Result<()> {
        self.session
            .call(|reply| Request::End { commit, reply })
            .await
    }
}

async fn serve(mut client: Object, mut queue: mpsc::UnboundedReceiver<Request>, started: Started) {
    let begun = client
        .transaction()
        .await
        .map_err(|e| error::plain("starting a restore transaction", e));
    let Some(tx) = report_start(started, begun) else {
        return;
    };
    let mut tables = TxTables::default();
    while let Some(request) = queue.recv().await {
        match request {
            Request::EnsureTable { spec, reply } => {
                let done = sql::ensure_table(&tx, &spec).await;
                let _ = reply.send(done.map(|table| tables.store(table)));
            }
            Request::Count { table, reply } => {
                let count = async {
                    let found = existing(&mut tables, &tx, &table).await?;
                    sql::lock_and_count(&tx, &found).await
                };
                let _ = reply.send(count.await);
            }
            Request::Write {
                spec,
                rows,
                mode,
                reply,
            } => {
                let written = async {
                    let found = existing(&mut tables, &tx, &spec.table).await?;
                    sql::restore_rows(&tx, &found, &spec, &rows, mode).await
                };
                let _ = reply.send(written.await);
            }
            Request::End { commit, reply } => {
                let result = if commit {
                    tx.commit().await
                } else {
                    tx.rollback().await
                };
                let _ =
                    reply.send(result.map_err(|e| error::plain("ending a restore transaction", e)));
                return;
            }
        }
    }
    // Dropped without commit: dropping `tx` rolls back.
}

/// The table `table` names, as the transaction sees it, or
/// [`Error::UnknownTable`].
async fn existing(
    tables: &mut TxTables,
    tx: &deadpool_postgres::Transaction<'_>,
    table: &TableName,
) -> Result<std::sync::Arc<PgTable>> {
    tables
        .lookup(tx, table)
        .await?
        .ok_or_else(|| Error::UnknownTable {
            table: table.to_string(),
        })
}

#[async_trait]
impl RestoreTransaction for PgRestore {
    async fn ensure_table(&mut self, spec: &TableSpec) -> Result<()> {
        let spec = spec.clone();
        self.session
            .call(|reply| Request::EnsureTable { spec, reply })
            .await
    }

    async fn count(&mut self, table: &TableName) -> Result<u64> {
        let table = table.clone();
        self.session
            .call(|reply| Request::Count { table, reply })
            .await
    }

    async fn write(&mut self, spec: &TableSpec, rows: Vec<Row>, mode: RestoreMode) -> Result<u64> {
        let spec = spec.clone();
        self.session
            .call(|reply| Request::Write {
                spec,
                rows,
                mode,
                reply,
            })
            .await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.end(true).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.end(false).await
    }
}
