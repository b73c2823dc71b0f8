//! A backup's read snapshot: one connection holding one read transaction.

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};
use rusqlite::Connection;
use tokio::sync::mpsc;

use super::{sql, worker::Worker};
use crate::{Error, Result, Snapshot, StoredRecord, TableStats, names::quote};

/// Records per batch sent from the connection thread.
const BATCH_RECORDS: usize = 512;
/// Batches in flight between the connection thread and the consumer: the
/// bound that keeps memory flat when the consumer is slower.
const BATCHES_IN_FLIGHT: usize = 4;

pub(crate) struct SqliteSnapshot {
    worker: Worker,
}

impl SqliteSnapshot {
    pub(crate) async fn begin(worker: Worker) -> Result<Self> {
        worker
            .call(|conn| {
                // A deferred transaction takes its snapshot at the first
                // read, so read something now.
                conn.execute_batch("BEGIN DEFERRED")
                    .and_then(|()| {
                        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                    })
                    .map_err(|e| Error::sqlite("starting a read snapshot", e))
            })
            .await?;
        Ok(Self { worker })
    }
}

#[async_trait]
impl Snapshot for SqliteSnapshot {
    async fn table_stats(&mut self, table: &str) -> Result<TableStats> {
        let table = table.to_owned();
        self.worker
            .call(move |conn| {
                sql::table_stats(conn, &table)
                    .map_err(|e| sql::error(format!("measuring {table:?}"), &table, e))
            })
            .await
    }

    fn records(&mut self, table: &str) -> BoxStream<'static, Result<Vec<StoredRecord>>> {
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let table = table.to_owned();
        let queued = self.worker.spawn(move |conn| {
            if let Err(e) = stream_table(conn, &table, &tx) {
                let _ = tx.blocking_send(Err(sql::error(format!("reading {table:?}"), &table, e)));
            }
        });
        if let Err(e) = queued {
            return stream::once(async move { Err(e) }).boxed();
        }
        stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|batch| (batch, rx))
        })
        .boxed()
    }

    async fn finish(self: Box<Self>) -> Result<()> {
        self.worker
            .call(|conn| {
                conn.execute_batch("COMMIT")
                    .map_err(|e| Error::sqlite("ending a read snapshot", e))
            })
            .await
    }
}

/// Sends the table's records in batches; stops early if the receiver is gone.
fn stream_table(
    conn: &Connection,
    table: &str,
    tx: &mpsc::Sender<Result<Vec<StoredRecord>>>,
) -> rusqlite::Result<()> {
    if !sql::table_exists(conn, table)? {
        return Ok(());
    }
    // Storage (rowid) order: a plain table scan, the fastest read.
    let mut statement = conn.prepare(&format!("SELECT id, value FROM {}", quote(table)))?;
    let mut rows = statement.query([])?;
    let mut batch = Vec::with_capacity(BATCH_RECORDS);
    while let Some(row) = rows.next()? {
        batch.push(StoredRecord {
            id: row.get(0)?,
            value: row.get(1)?,
        });
        if batch.len() == BATCH_RECORDS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_RECORDS));
            if tx.blocking_send(Ok(full)).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(Ok(batch));
    }
    Ok(())
}
