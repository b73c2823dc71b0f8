//! A backup's read snapshot: one pooled connection holding one
//! `REPEATABLE READ READ ONLY` transaction, so every table is read as of the
//! same moment.
//!
//! The transaction borrows its connection, and [`Snapshot::records`] must
//! return a `'static` stream, so a task owns both and serves requests in
//! order (like the SQLite backend's connection thread). Dropping the
//! snapshot ends the task: the transaction is rolled back and the
//! connection goes back to the pool.

use async_trait::async_trait;
use deadpool_postgres::{Object, tokio_postgres::IsolationLevel};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::{cursor, error, spawn, sql};
use crate::{Error, LineBatch, Result, Snapshot, TableStats};

enum Request {
    Stats {
        table: String,
        reply: oneshot::Sender<Result<TableStats>>,
    },
    Records {
        table: String,
        out: cursor::BatchSender,
    },
    Finish {
        reply: oneshot::Sender<Result<()>>,
    },
}

pub(crate) struct PgSnapshot {
    requests: mpsc::UnboundedSender<Request>,
}

impl PgSnapshot {
    pub(crate) async fn begin(client: Object, fetch_size: usize) -> Result<Self> {
        let (requests, queue) = mpsc::unbounded_channel();
        let (started_tx, started) = oneshot::channel();
        spawn(serve(client, queue, started_tx, fetch_size))?;
        started.await.map_err(|_| stopped())??;
        Ok(Self { requests })
    }

    async fn call<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T>>) -> Request,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(request(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Error {
    Error::Task("the PostgreSQL snapshot has ended (its connection task stopped)".into())
}

async fn serve(
    mut client: Object,
    mut queue: mpsc::UnboundedReceiver<Request>,
    started: oneshot::Sender<Result<()>>,
    fetch_size: usize,
) {
    let context = "starting a read snapshot";
    let tx = match client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
    {
        Ok(tx) => tx,
        Err(e) => {
            let _ = started.send(Err(error::plain(context, e)));
            return;
        }
    };
    // A REPEATABLE READ transaction takes its snapshot at its first
    // statement, not at BEGIN: take it now.
    if let Err(e) = tx.batch_execute("SELECT 1").await {
        let _ = started.send(Err(error::plain(context, e)));
        return;
    }
    if started.send(Ok(())).is_err() {
        return;
    }
    while let Some(request) = queue.recv().await {
        match request {
            Request::Stats { table, reply } => {
                let _ = reply.send(sql::table_stats(&tx, &table).await);
            }
            Request::Records { table, out } => {
                let result = async {
                    let quoted = sql::table_name(&table)?;
                    let context = || format!("reading {table:?}");
                    let exists = sql::table_exists(&tx, &table)
                        .await
                        .map_err(|e| error::plain(context(), e))?;
                    if exists {
                        cursor::send_batches(&tx, &sql::select_all(&quoted), fetch_size, &out)
                            .await
                            .map_err(|e| error::query(context(), &table, e))?;
                    }
                    Ok(())
                }
                .await;
                if let Err(e) = result {
                    let _ = out.send(Err(e)).await;
                }
            }
            Request::Finish { reply } => {
                let result = tx
                    .commit()
                    .await
                    .map_err(|e| error::plain("ending a read snapshot", e));
                let _ = reply.send(result);
                return;
            }
        }
    }
    // The snapshot was dropped: dropping `tx` rolls back, then the
    // connection returns to the pool.
}

#[async_trait]
impl Snapshot for PgSnapshot {
    async fn table_stats(&mut self, table: &str) -> Result<TableStats> {
        let table = table.to_owned();
        self.call(|reply| Request::Stats { table, reply }).await
    }

    fn records(&mut self, table: &str) -> BoxStream<'static, Result<LineBatch>> {
        let (out, batches) = cursor::channel();
        let request = Request::Records {
            table: table.to_owned(),
            out,
        };
        match self.requests.send(request) {
            Ok(()) => {
                let table = table.to_owned();
                batches
                    .map(move |batch| LineBatch::from_records(&table, &batch?))
                    .boxed()
            }
            Err(_) => stream::once(async { Err(stopped()) }).boxed(),
        }
    }

    async fn finish(self: Box<Self>) -> Result<()> {
        self.call(|reply| Request::Finish { reply }).await
    }
}
