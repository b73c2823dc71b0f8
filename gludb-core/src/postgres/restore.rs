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
//! Into an empty table ([`RestoreMode::RefuseNonEmpty`]) rows go through
//! `COPY ... FROM STDIN` (see [`super::copy`]; not where row-level
//! security applies, which `COPY FROM` refuses), kept open across `write`
//! calls up to 64 MiB and finished before any other request runs; a row
//! the server refuses fails the `write` that ended its `COPY` or a later
//! request (at the latest `flush`), and the restore rolls back. The
//! transaction lifts `statement_timeout` for itself.
//!
//! `count` locks the table (`EXCLUSIVE` mode) until the transaction ends:
//! the application's readers go on, its writers wait, so a table found
//! empty for [`RestoreMode::RefuseNonEmpty`] only holds restored records
//! when the restore commits.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::Object;
use tokio::sync::{mpsc, oneshot};

use super::{
    copy::CopyIn,
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
    Flush {
        reply: oneshot::Sender<Result<()>>,
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
    let begun = async {
        let tx = client.transaction().await?;
        // A table's bulk load is one `COPY` statement per 64 MiB: a
        // `statement_timeout` set for the application's queries must not
        // cut it (the setting ends with the transaction).
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        Ok::<_, tokio_postgres::Error>(tx)
    }
    .await
    .map_err(|e| error::plain("starting a restore transaction", e));
    let Some(tx) = report_start(started, begun) else {
        return;
    };
    let mut tables = TxTables::default();
    // The `COPY` open into one table, if any, and whether each table
    // written so far takes `COPY`.
    let mut copying: Option<CopyIn> = None;
    let mut checked = HashMap::new();
    while let Some(request) = queue.recv().await {
        match request {
            Request::EnsureTable { spec, reply } => {
                let done = async {
                    finish_copy(&mut copying).await?;
                    sql::ensure_table(&tx, &spec).await
                };
                let _ = reply.send(done.await.map(|table| tables.store(table)));
            }
            Request::Count { table, reply } => {
                let count = async {
                    finish_copy(&mut copying).await?;
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
                    if copying.as_ref().is_some_and(|c| *c.table() != spec.table) {
                        finish_copy(&mut copying).await?;
                    }
                    let found = existing(&mut tables, &tx, &spec.table).await?;
                    let bulk = mode == RestoreMode::RefuseNonEmpty
                        && copyable(&mut checked, &tx, &found).await?;
                    if !bulk {
                        finish_copy(&mut copying).await?;
                        return sql::restore_rows(&tx, &found, &spec, &rows, mode).await;
                    }
                    let copy = match &mut copying {
                        Some(copy) => copy,
                        None => copying.insert(CopyIn::start(&tx, &found, &spec).await?),
                    };
                    let sent = copy.send(&rows).await?;
                    if copy.is_full() {
                        finish_copy(&mut copying).await?;
                    }
                    Ok(sent)
                };
                let _ = reply.send(written.await);
            }
            Request::Flush { reply } => {
                let _ = reply.send(finish_copy(&mut copying).await);
            }
            Request::End { commit, reply } => {
                let result = if commit {
                    match finish_copy(&mut copying).await {
                        Ok(()) => tx
                            .commit()
                            .await
                            .map_err(|e| error::plain("ending a restore transaction", e)),
                        // Dropping `tx` rolls back.
                        Err(e) => Err(e),
                    }
                } else {
                    // Dropping the `COPY` aborts it before the rollback.
                    drop(copying.take());
                    tx.rollback()
                        .await
                        .map_err(|e| error::plain("ending a restore transaction", e))
                };
                let _ = reply.send(result);
                return;
            }
        }
    }
    // Dropped without commit: dropping the `COPY` aborts it, dropping `tx`
    // rolls back.
}

/// Whether rows can go into `table` with `COPY FROM`: not when row-level
/// security applies to this user there (PostgreSQL refuses `COPY FROM`
/// then, and an `INSERT` is checked against the policies). Asked once per
/// table.
async fn copyable(
    checked: &mut HashMap<String, bool>,
    tx: &deadpool_postgres::Transaction<'_>,
    table: &PgTable,
) -> Result<bool> {
    if let Some(&copyable) = checked.get(&table.quoted) {
        return Ok(copyable);
    }
    let row = tx
        .query_one(
            "SELECT NOT pg_catalog.row_security_active($1::text::regclass)",
            &[&table.quoted],
        )
        .await
        .map_err(|e| {
            error::query(
                format!("restoring into {:?}", table.requested),
                &table.requested,
                e,
            )
        })?;
    let copyable: bool = row
        .try_get(0)
        .map_err(|e| error::plain(format!("restoring into {:?}", table.requested), e))?;
    checked.insert(table.quoted.clone(), copyable);
    Ok(copyable)
}

/// Ends the open `COPY`, if any, so the next statement can run; a row the
/// server refused shows here at the latest.
async fn finish_copy(copying: &mut Option<CopyIn>) -> Result<()> {
    if let Some(copy) = copying.take() {
        copy.finish().await?;
    }
    Ok(())
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

    async fn flush(&mut self) -> Result<()> {
        self.session.call(|reply| Request::Flush { reply }).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.end(true).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.end(false).await
    }
}
