//! The request channel of a connection task: a snapshot and a restore each
//! have a task that owns a pooled connection and its transaction and serves
//! requests in order. This is the caller's side of that task, shared so
//! both begin, call and report a stopped task the same way.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::spawn;
use crate::{Error, Result};

/// How a connection task tells [`Session::begin`] whether its transaction
/// began.
pub(super) type Started = oneshot::Sender<Result<()>>;

/// Reports to [`Session::begin`] how starting the task's transaction went:
/// the transaction if the task should go on serving, `None` if it failed or
/// nobody waits for it any more (dropping it rolls back).
pub(super) fn report_start<T>(started: Started, begun: Result<T>) -> Option<T> {
    match begun {
        Ok(tx) => started.send(Ok(())).is_ok().then_some(tx),
        Err(e) => {
            let _ = started.send(Err(e));
            None
        }
    }
}

/// The sending half of a connection task's request queue.
pub(super) struct Session<R> {
    requests: mpsc::UnboundedSender<R>,
    /// What [`Session::stopped`] says once the task has ended.
    ended: &'static str,
}

impl<R> Session<R> {
    /// Spawns `serve` on a new request queue and waits until it reports
    /// that its transaction has begun (or why it could not).
    pub(super) async fn begin<F>(
        ended: &'static str,
        serve: impl FnOnce(mpsc::UnboundedReceiver<R>, Started) -> F,
    ) -> Result<Self>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (requests, queue) = mpsc::unbounded_channel();
        let (started_tx, started) = oneshot::channel();
        spawn(serve(queue, started_tx))?;
        let session = Self { requests, ended };
        started.await.map_err(|_| session.stopped())??;
        Ok(session)
    }

    /// Sends the request `request` builds around a reply channel and waits
    /// for the answer.
    pub(super) async fn call<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T>>) -> R,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(request(reply))?;
        answer.await.map_err(|_| self.stopped())?
    }

    /// Queues a request that answers on a channel of its own.
    pub(super) fn send(&self, request: R) -> Result<()> {
        self.requests.send(request).map_err(|_| self.stopped())
    }

    /// The error for a request to a task that has already ended.
    pub(super) fn stopped(&self) -> Error {
        Error::Task(self.ended.into())
    }
}
