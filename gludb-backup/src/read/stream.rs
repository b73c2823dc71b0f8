//! The streams a read returns: raw lines, or records decoded as `T`.

use std::{
    marker::PhantomData,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::Stream;
use gludb_core::Storable;
use tokio::{sync::mpsc, task::AbortHandle};

use super::produce::Message;
use crate::{BackupError, RecordProblem, Result, archive::members::id_of};

/// One stored record as read from a backup: its JSON text, verbatim.
struct Line {
    member: Arc<str>,
    number: u64,
    text: String,
}

/// The stored JSON lines of one class of a backup, in archive order
/// (a `Stream` of `Result<String>`). Ends with `None` only after the
/// archive checked out; a problem is an `Err` item, and nothing follows it.
/// Dropping the stream stops the reading.
pub struct RawRecords {
    rx: mpsc::Receiver<Message>,
    task: AbortHandle,
    key: String,
    batch: std::vec::IntoIter<(u64, String)>,
    member: Arc<str>,
    finished: bool,
    has_manifest: Option<bool>,
}

impl std::fmt::Debug for RawRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRecords")
            .field("key", &self.key)
            .finish()
    }
}

impl RawRecords {
    pub(super) fn new(rx: mpsc::Receiver<Message>, task: AbortHandle, key: String) -> Self {
        RawRecords {
            rx,
            task,
            key,
            batch: Vec::new().into_iter(),
            member: Arc::from(""),
            finished: false,
            has_manifest: None,
        }
    }

    /// Once the stream has ended (`None`): whether the archive had a
    /// manifest its records were checked against. Archives of the original
    /// Python GLUDB have none (`Some(false)`); `None` before the end.
    pub fn has_manifest(&self) -> Option<bool> {
        self.has_manifest
    }

    /// The backup's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Line>>> {
        loop {
            if let Some((number, text)) = self.batch.next() {
                return Poll::Ready(Some(Ok(Line {
                    member: Arc::clone(&self.member),
                    number,
                    text,
                })));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(Message::Lines { member, lines }) => {
                    self.member = member;
                    self.batch = lines.into_iter();
                }
                Some(Message::Done { has_manifest }) => {
                    self.finished = true;
                    self.has_manifest = Some(has_manifest);
                }
                Some(Message::Failed(error)) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(error)));
                }
                // The task ended without saying it was done (the runtime
                // is shutting down, or it panicked): the records so far
                // may be incomplete, which must not look like an end.
                None => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(BackupError::ReadInterrupted {
                        key: self.key.clone(),
                    })));
                }
            }
        }
    }
}

impl Drop for RawRecords {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for RawRecords {
    type Item = Result<String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_line(cx)
            .map(|line| line.map(|line| line.map(|line| line.text)))
    }
}

/// The records of one class of a backup, decoded as `T`, in archive order
/// (a `Stream` of `Result<T>`). A record that does not decode is a
/// [`BackupError::BadRecord`] naming its line and id; like
/// [`RawRecords`], an `Err` item ends the stream.
pub struct Records<T> {
    raw: RawRecords,
    type_name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Records<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("key", &self.raw.key)
            .field("type", &self.type_name)
            .finish()
    }
}

impl<T: Storable> Records<T> {
    pub(super) fn new(raw: RawRecords, type_name: &'static str) -> Self {
        Records {
            raw,
            type_name,
            _type: PhantomData,
        }
    }

    /// The backup's key.
    pub fn key(&self) -> &str {
        self.raw.key()
    }

    /// Once the stream has ended: whether the archive had a manifest (see
    /// [`RawRecords::has_manifest`]).
    pub fn has_manifest(&self) -> Option<bool> {
        self.raw.has_manifest()
    }
}

impl<T: Storable> Stream for Records<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let line = match std::task::ready!(self.raw.poll_line(cx)) {
            Some(Ok(line)) => line,
            Some(Err(error)) => return Poll::Ready(Some(Err(error))),
            None => return Poll::Ready(None),
        };
        Poll::Ready(Some(serde_json::from_str(&line.text).map_err(|e| {
            // Nothing follows a bad record.
            self.raw.finished = true;
            self.raw.batch = Vec::new().into_iter();
            self.raw.task.abort();
            BackupError::BadRecord(Box::new(RecordProblem {
                key: self.raw.key.clone(),
                member: line.member.to_string(),
                line: line.number,
                id: id_of(&line.text),
                type_name: self.type_name.to_owned(),
                reason: e.to_string(),
            }))
        })))
    }
}
