//! A backup's read snapshot: one pooled connection holding one
//! `REPEATABLE READ READ ONLY` transaction, so every table is read as of the
//! same moment.
//!
//! The transaction borrows its connection, and [`Snapshot::records`] must
//! return a `'static` stream, so a task owns both and serves requests in
//! order (like the SQLite backend's connection thread). Dropping the
//! snapshot ends the task: the transaction is rolled back and the
//! connection goes back to the pool.
//!
//! Table names are resolved (see [`super::tables`]) inside the snapshot's
//! transaction, so a table created after the snapshot began is not seen,
//! and each table is looked up once per snapshot.
//!
//! `table_stats` counts the UTF-8 bytes the client will receive, whatever
//! the server encoding ([`Measure`]), so it matches what `records` yields.
//!
//! `records` reads with a binary `COPY` (see [`super::copy`]). A records
//! stream dropped before its end cancels that `COPY`, which may abort the
//! transaction: the snapshot then ends, and later requests say so.

use async_trait::async_trait;
use deadpool_postgres::{
    Object,
    tokio_postgres::{self, IsolationLevel},
};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::{
    copy::{self, Read},
    cursor, error,
    session::{Session, Started, report_start},
    sql::{self, Measure},
    tables::TxTables,
};
use crate::{LineBatch, Result, Snapshot, TableName, TableStats};

enum Request {
    Stats {
        table: TableName,
        reply: oneshot::Sender<Result<TableStats>>,
    },
    Records {
        table: TableName,
        out: copy::LineSender,
    },
    Finish {
        reply: oneshot::Sender<Result<()>>,
    },
}

pub(crate) struct PgSnapshot {
    session: Session<Request>,
}

impl PgSnapshot {
    pub(crate) async fn begin(client: Object, measure: Measure) -> Result<Self> {
        let session = Session::begin(
            "the PostgreSQL snapshot has ended (its connection task stopped, or a table's \
             records were dropped before their end)",
            |queue, started| serve(client, queue, started, measure),
        )
        .await?;
        Ok(Self { session })
    }
}

async fn serve(
    mut client: Object,
    mut queue: mpsc::UnboundedReceiver<Request>,
    started: Started,
    measure: Measure,
) {
    let begun = async {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        // A REPEATABLE READ transaction takes its snapshot at its first
        // statement, not at BEGIN: take it now. A whole table is one `COPY`
        // statement, as long as the table is big: a `statement_timeout`
        // set for the application's queries must not cut it.
        tx.batch_execute("SET LOCAL statement_timeout = 0; SELECT 1")
            .await?;
        Ok::<_, tokio_postgres::Error>(tx)
    }
    .await
    .map_err(|e| error::plain("starting a read snapshot", e));
    let Some(tx) = report_start(started, begun) else {
        return;
    };
    let mut tables = TxTables::default();
    while let Some(request) = queue.recv().await {
        match request {
            Request::Stats { table, reply } => {
                let stats = async {
                    let found = tables.lookup(&tx, &table).await?;
                    sql::table_stats(&tx, found.as_deref(), measure).await
                };
                let _ = reply.send(stats.await);
            }
            Request::Records { table, out } => {
                let result = async {
                    match tables.lookup(&tx, &table).await? {
                        Some(found) => copy::send_line_batches(&tx, &found, &out).await,
                        None => Ok(Read::Complete),
                    }
                }
                .await;
                match result {
                    Ok(Read::Complete) => {}
                    // The transaction may be aborted: end the snapshot.
                    Ok(Read::Abandoned) => return,
                    Err(e) => {
                        let _ = out.send(Err(e)).await;
                    }
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
    async fn table_stats(&mut self, table: &TableName) -> Result<TableStats> {
        let table = table.clone();
        self.session
            .call(|reply| Request::Stats { table, reply })
            .await
    }

    fn records(&mut self, table: &TableName) -> BoxStream<'static, Result<LineBatch>> {
        let (out, mut batches) = mpsc::channel(cursor::BATCHES_IN_FLIGHT);
        let request = Request::Records {
            table: table.clone(),
            out,
        };
        match self.session.send(request) {
            Ok(()) => stream::poll_fn(move |cx| batches.poll_recv(cx)).boxed(),
            Err(stopped) => stream::once(async { Err(stopped) }).boxed(),
        }
    }

    async fn finish(self: Box<Self>) -> Result<()> {
        self.session.call(|reply| Request::Finish { reply }).await
    }
}
