//! A restore's write transaction: one pooled connection, one transaction
//! until commit, so a failed restore leaves the database as it was. The
//! tables it creates are rolled back too (PostgreSQL DDL is transactional).
//!
//! As for a snapshot, a task owns the connection and its transaction and
//! serves requests in order. Dropping the restore without committing ends
//! the task, whose transaction then rolls back before the connection goes
//! back to the pool (the rollback is queued on the connection ahead of
//! anything a later user sends).

use async_trait::async_trait;
use deadpool_postgres::Object;
use tokio::sync::{mpsc, oneshot};

use super::{error, spawn, sql};
use crate::{Error, RestoreMode, RestoreTransaction, Result, Row, TableSpec};

enum Request {
    EnsureTable {
        spec: TableSpec,
        reply: oneshot::Sender<Result<()>>,
    },
    Count {
        table: String,
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
    requests: mpsc::UnboundedSender<Request>,
}

impl PgRestore {
    pub(crate) async fn begin(client: Object) -> Result<Self> {
        let (requests, queue) = mpsc::unbounded_channel();
        let (started_tx, started) = oneshot::channel();
        spawn(serve(client, queue, started_tx))?;
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
    Error::Task("the restore transaction has already ended (its connection task stopped)".into())
}

async fn serve(
    mut client: Object,
    mut queue: mpsc::UnboundedReceiver<Request>,
    started: oneshot::Sender<Result<()>>,
) {
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(e) => {
            let _ = started.send(Err(error::plain("starting a restore transaction", e)));
            return;
        }
    };
    if started.send(Ok(())).is_err() {
        return;
    }
    while let Some(request) = queue.recv().await {
        match request {
            Request::EnsureTable { spec, reply } => {
                let _ = reply.send(sql::ensure_table(&tx, &spec).await);
            }
            Request::Count { table, reply } => {
                let _ = reply.send(sql::count(&tx, &table).await);
            }
            Request::Write {
                spec,
                rows,
                mode,
                reply,
            } => {
                let _ = reply.send(sql::restore_rows(&tx, &spec, &rows, mode).await);
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

#[async_trait]
impl RestoreTransaction for PgRestore {
    async fn ensure_table(&mut self, spec: &TableSpec) -> Result<()> {
        let spec = spec.clone();
        self.call(|reply| Request::EnsureTable { spec, reply })
            .await
    }

    async fn count(&mut self, table: &str) -> Result<u64> {
        let table = table.to_owned();
        self.call(|reply| Request::Count { table, reply }).await
    }

    async fn write(&mut self, spec: &TableSpec, rows: Vec<Row>, mode: RestoreMode) -> Result<u64> {
        let spec = spec.clone();
        self.call(|reply| Request::Write {
            spec,
            rows,
            mode,
            reply,
        })
        .await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.call(|reply| Request::End {
            commit: true,
            reply,
        })
        .await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.call(|reply| Request::End {
            commit: false,
            reply,
        })
        .await
    }
}
