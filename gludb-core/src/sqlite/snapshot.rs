//! A backup's read snapshot: one connection holding one read transaction.

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};
use rusqlite::Connection;
use tokio::sync::mpsc;

use super::{sql, worker::Worker};
use crate::{Error, LineBatch, Result, Snapshot, TableName, TableStats, names::quote};

/// Bytes of JSON lines per batch sent from the connection thread.
const BATCH_BYTES: usize = 256 * 1024;
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
    async fn table_stats(&mut self, table: &TableName) -> Result<TableStats> {
        let table = table.clone();
        self.worker
            .call(move |conn| {
                sql::table_stats(conn, &table)
                    .map_err(|e| sql::error(format!("measuring {table:?}"), &table, e))
            })
            .await
    }

    fn records(&mut self, table: &TableName) -> BoxStream<'static, Result<LineBatch>> {
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let table = table.clone();
        let queued = self.worker.spawn(move |conn| {
            if let Err(e) = stream_table(conn, &table, &tx) {
                let _ = tx.blocking_send(Err(e));
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
    table: &TableName,
    tx: &mpsc::Sender<Result<LineBatch>>,
) -> Result<()> {
    let read_error = |e| sql::error(format!("reading {table:?}"), table, e);
    if !sql::table_exists(conn, table).map_err(read_error)? {
        return Ok(());
    }
    // Storage (rowid) order: a plain table scan, the fastest read.
    let mut statement = conn
        .prepare(&format!("SELECT id, value FROM {}", quote(table.as_str())))
        .map_err(read_error)?;
    let mut rows = statement.query([]).map_err(read_error)?;
    let mut batch = LineBatch::with_capacity(BATCH_BYTES + 4096);
    while let Some(row) = rows.next().map_err(read_error)? {
        // Borrowed text: no allocation per record.
        let id = text(row, 0).map_err(read_error)?;
        let value = text(row, 1).map_err(read_error)?;
        batch.push(table.as_str(), id, value)?;
        if batch.len() >= BATCH_BYTES {
            let full = std::mem::replace(&mut batch, LineBatch::with_capacity(BATCH_BYTES + 4096));
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

/// Column `index` as UTF-8 text (a NULL or a blob is an error).
fn text<'row>(row: &'row rusqlite::Row<'_>, index: usize) -> rusqlite::Result<&'row str> {
    row.get_ref(index)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}
