//! A dedicated thread that owns one SQLite connection and runs jobs on it.
//!
//! rusqlite is blocking; giving each connection its own thread keeps the
//! async runtime free, and the job queue orders work on that connection.
//! Dropping the last handle ends the thread and closes the connection.

use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{Error, Result};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handle to a connection thread; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
    database: String,
}

impl Worker {
    /// Starts a thread, opens the connection on it with `open`, and returns
    /// once it is open (or why it could not be opened).
    pub(crate) async fn start(
        database: String,
        open: impl FnOnce() -> Result<Connection> + Send + 'static,
    ) -> Result<Worker> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened_tx, opened_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("gludb-sqlite".into())
            .spawn(move || {
                let mut conn = match open() {
                    Ok(conn) => {
                        let _ = opened_tx.send(Ok(()));
                        conn
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| Error::Task(format!("cannot start a SQLite thread: {e}")))?;
        opened_rx
            .await
            .map_err(|_| Error::Task("the SQLite thread stopped while opening".into()))??;
        Ok(Worker { jobs, database })
    }

    /// Runs `job` on the connection's thread and returns its result.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                // The caller may have stopped waiting (e.g. a cancelled task).
                let _ = reply_tx.send(job(conn));
            }))
            .map_err(|_| self.closed())?;
        reply_rx.await.map_err(|_| {
            Error::Task(format!(
                "the SQLite thread of {} stopped during a call",
                self.database
            ))
        })?
    }

    /// Queues `job` without waiting for it (used for streaming jobs that
    /// report through their own channel).
    pub(crate) fn spawn(&self, job: impl FnOnce(&mut Connection) + Send + 'static) -> Result<()> {
        self.jobs.send(Box::new(job)).map_err(|_| self.closed())
    }

    /// Creates a table (and missing index columns) on this connection.
    pub(crate) async fn ensure_table(&self, spec: &crate::TableSpec) -> Result<()> {
        let spec = spec.clone();
        self.call(move |conn| {
            super::sql::ensure_table(conn, &spec)
                .map_err(|e| Error::sqlite(format!("creating table {:?}", spec.table), e))
        })
        .await
    }

    fn closed(&self) -> Error {
        Error::Closed {
            database: self.database.clone(),
        }
    }
}
