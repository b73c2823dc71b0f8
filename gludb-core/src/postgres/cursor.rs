//! Reading a whole table with bounded memory: the query is bound as a
//! server-side cursor (a portal of the extended protocol, inside the
//! caller's transaction) and fetched `fetch_size` rows at a time; each batch
//! goes into a bounded channel, so a slow consumer makes the reader wait
//! instead of buffering the table.

use deadpool_postgres::Transaction;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc;

use super::sql;
use crate::{Result, StoredRecord};

/// Batches in flight between a reading task and its consumer: with the
/// batch being read, memory holds at most `BATCHES_IN_FLIGHT + 2` batches.
pub(crate) const BATCHES_IN_FLIGHT: usize = 2;

/// Where a reading task sends its batches.
pub(crate) type BatchSender = mpsc::Sender<Result<Vec<StoredRecord>>>;

/// A channel for one table read: the task's end and the consumer's stream.
pub(crate) fn channel() -> (BatchSender, BoxStream<'static, Result<Vec<StoredRecord>>>) {
    let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
    let batches = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|batch| (batch, rx))
    });
    (tx, batches.boxed())
}

/// Runs `query` (selecting `id, value::text`) as a portal in `tx` and sends
/// its rows in batches of `fetch_size`. Stops early, without error, when the
/// consumer has gone away.
pub(crate) async fn send_batches(
    tx: &Transaction<'_>,
    query: &str,
    fetch_size: usize,
    out: &BatchSender,
) -> std::result::Result<(), tokio_postgres::Error> {
    let max_rows = i32::try_from(fetch_size.max(1)).unwrap_or(i32::MAX);
    let statement = tx.prepare_cached(query).await?;
    let portal = tx.bind(&statement, &[]).await?;
    loop {
        let rows = tx.query_portal(&portal, max_rows).await?;
        // A short batch means the portal is exhausted.
        let done = rows.len() < fetch_size.max(1);
        if !rows.is_empty() {
            let batch = sql::records(&rows)?;
            drop(rows);
            if out.send(Ok(batch)).await.is_err() {
                return Ok(());
            }
        }
        if done {
            return Ok(());
        }
    }
}
