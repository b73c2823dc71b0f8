//! A restore's writes run on one task per database, in order, so that
//! decoding the next records overlaps writing the previous ones.

use std::{collections::HashMap, sync::Arc};

use gludb_core::{Backend, RestoreMode, RestoreTransaction, Row, TableSpec};
use tokio::{sync::mpsc, task::JoinHandle};

/// Jobs queued per database: the bound keeps memory flat when writing is
/// slower than reading.
const JOBS_IN_FLIGHT: usize = 2;

/// One unit of work for a database's restore transaction.
pub(crate) enum Job {
    /// Create the table (inside the transaction) and, if asked, refuse a
    /// table that already holds records.
    Prepare {
        spec: TableSpec,
        refuse_non_empty: bool,
    },
    /// Write rows of the class at position `class` of the report.
    Write {
        class: usize,
        spec: TableSpec,
        rows: Vec<Row>,
        mode: RestoreMode,
    },
}

/// How a writer ended: its transaction (to commit or roll back) and the
/// rows written per class, or the first error.
pub(crate) struct Finished {
    pub(crate) transaction: Option<Box<dyn RestoreTransaction>>,
    pub(crate) outcome: gludb_core::Result<HashMap<usize, u64>>,
}

/// The sending side of one database's writer task.
pub(crate) struct TransactionWriter {
    jobs: mpsc::Sender<Job>,
    task: JoinHandle<Finished>,
}

impl TransactionWriter {
    /// Begins the database's restore transaction and starts its task.
    pub(crate) async fn begin(db: &Arc<dyn Backend>) -> gludb_core::Result<TransactionWriter> {
        let transaction = db.begin_restore().await?;
        let (jobs, queue) = mpsc::channel(JOBS_IN_FLIGHT);
        let task = tokio::spawn(run(transaction, queue));
        Ok(TransactionWriter { jobs, task })
    }

    /// Queues a job; `false` if the writer has stopped (after an error,
    /// which [`finish`](Self::finish) returns).
    pub(crate) async fn send(&self, job: Job) -> bool {
        self.jobs.send(job).await.is_ok()
    }

    /// Waits until every queued job is done.
    pub(crate) async fn finish(self) -> Finished {
        drop(self.jobs);
        match self.task.await {
            Ok(finished) => finished,
            // The task panicked: its transaction was dropped, which rolls back.
            Err(e) => Finished {
                transaction: None,
                outcome: Err(gludb_core::Error::Task(format!(
                    "a restore writer failed: {e}"
                ))),
            },
        }
    }
}

async fn run(
    mut transaction: Box<dyn RestoreTransaction>,
    mut queue: mpsc::Receiver<Job>,
) -> Finished {
    let mut written: HashMap<usize, u64> = HashMap::new();
    while let Some(job) = queue.recv().await {
        let done = match job {
            Job::Prepare {
                spec,
                refuse_non_empty,
            } => prepare(transaction.as_mut(), &spec, refuse_non_empty).await,
            Job::Write {
                class,
                spec,
                rows,
                mode,
            } => transaction
                .write(&spec, rows, mode)
                .await
                .map(|n| *written.entry(class).or_default() += n),
        };
        if let Err(e) = done {
            // Dropping the queue makes the reader's next send fail, so it
            // stops reading.
            return Finished {
                transaction: Some(transaction),
                outcome: Err(e),
            };
        }
    }
    Finished {
        transaction: Some(transaction),
        outcome: Ok(written),
    }
}

async fn prepare(
    transaction: &mut dyn RestoreTransaction,
    spec: &TableSpec,
    refuse_non_empty: bool,
) -> gludb_core::Result<()> {
    transaction.ensure_table(spec).await?;
    if refuse_non_empty && transaction.count(&spec.table).await? > 0 {
        return Err(gludb_core::Error::TableNotEmpty {
            table: spec.table.to_string(),
        });
    }
    Ok(())
}
