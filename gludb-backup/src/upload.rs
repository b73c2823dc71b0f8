//! The object store sink. An archive that fits one part is written with a
//! single conditional PUT (create, never overwrite, where the store can
//! check that); a larger one is a multipart upload. Every error path
//! aborts, and the upload is written so that a caller's future can be
//! dropped at any await (a cancelled run) and [`Upload::abort`] still finds
//! everything to clean up: no object, no orphaned parts.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{
    MultipartUpload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart,
    path::Path,
};
use tokio::task::JoinHandle;

/// S3's limit on the number of parts of one upload.
const MAX_PARTS: u64 = 10_000;
/// Smallest part size we use by default (S3's minimum is 5 MiB).
pub(crate) const MIN_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's minimum part size (all parts but the last).
pub(crate) const S3_MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's maximum part size.
pub(crate) const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;

/// A part size that fits an archive of at most `archive_bound` bytes into
/// S3's 10,000 parts, with 10% to spare, in whole MiB.
pub(crate) fn part_size_for(archive_bound: u64) -> usize {
    const MIB: u64 = 1024 * 1024;
    let needed = archive_bound.div_ceil(MAX_PARTS * 9 / 10);
    let size = needed.div_ceil(MIB) * MIB;
    size.clamp(MIN_PART_SIZE as u64, MAX_PART_SIZE as u64) as usize
}

enum State {
    /// Less than one part so far: kept in memory.
    Buffering(Vec<Bytes>),
    /// The multipart upload is being created on its own task (so dropping
    /// a caller mid-request cannot lose the upload id), with what was
    /// buffered.
    Creating(
        JoinHandle<object_store::Result<Box<dyn MultipartUpload>>>,
        Vec<Bytes>,
    ),
    /// Parts are being uploaded.
    Multipart(WriteMultipart),
    /// Completed or aborted.
    Ended,
}

/// An upload to `path`.
pub(crate) struct Upload {
    store: Arc<dyn ObjectStore>,
    path: Path,
    part_size: usize,
    concurrency: usize,
    state: State,
    buffered: usize,
    sent: u64,
}

impl Upload {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        part_size: usize,
        concurrency: usize,
    ) -> Self {
        Upload {
            store,
            path,
            part_size,
            concurrency: concurrency.max(1),
            state: State::Buffering(Vec::new()),
            buffered: 0,
            sent: 0,
        }
    }

    /// Changes the part size; only before the first byte is written.
    pub(crate) fn set_part_size(&mut self, part_size: usize) {
        if self.sent == 0 {
            self.part_size = part_size;
        }
    }

    /// Bytes handed to the upload so far.
    pub(crate) fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Adds `data` to the object, waiting while `concurrency` parts are in
    /// flight.
    pub(crate) async fn put(&mut self, data: Vec<u8>) -> object_store::Result<()> {
        let data = Bytes::from(data);
        self.sent += data.len() as u64;
        if let State::Buffering(pending) = &mut self.state {
            if self.buffered + data.len() < self.part_size {
                self.buffered += data.len();
                pending.push(data);
                return Ok(());
            }
            let pending = std::mem::take(pending);
            let (store, path) = (Arc::clone(&self.store), self.path.clone());
            let create = tokio::spawn(async move { store.put_multipart(&path).await });
            self.state = State::Creating(create, pending);
        }
        let concurrency = self.concurrency;
        let writer = self.multipart().await?;
        writer.wait_for_capacity(concurrency).await?;
        writer.put(data);
        Ok(())
    }

    /// The multipart writer, once its upload has been created.
    async fn multipart(&mut self) -> object_store::Result<&mut WriteMultipart> {
        if let State::Creating(create, _) = &mut self.state {
            let created = create.await.map_err(|e| object_store::Error::Generic {
                store: "gludb",
                source: Box::new(e),
            });
            let State::Creating(_, pending) = std::mem::replace(&mut self.state, State::Ended)
            else {
                return Err(ended());
            };
            let mut writer = WriteMultipart::new_with_chunk_size(created??, self.part_size);
            for chunk in pending {
                writer.put(chunk);
            }
            self.state = State::Multipart(writer);
        }
        match &mut self.state {
            State::Multipart(writer) => Ok(writer),
            _ => Err(ended()),
        }
    }

    /// Completes the object: a conditional PUT for a small archive, the
    /// multipart completion otherwise. On failure nothing is left behind
    /// (object_store aborts a multipart upload whose completion fails).
    pub(crate) async fn finish(&mut self) -> object_store::Result<()> {
        if matches!(self.state, State::Creating(..)) {
            self.multipart().await?;
        }
        match std::mem::replace(&mut self.state, State::Ended) {
            State::Buffering(pending) => {
                let payload: PutPayload = pending.into_iter().collect();
                let create = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                match self
                    .store
                    .put_opts(&self.path, payload.clone(), create)
                    .await
                {
                    // A store that cannot create conditionally: the key is
                    // unique by construction (see `archive::key`).
                    Err(object_store::Error::NotImplemented { .. }) => {
                        self.store.put(&self.path, payload).await.map(drop)
                    }
                    other => other.map(drop),
                }
            }
            State::Multipart(writer) => writer.finish().await.map(drop),
            State::Creating(..) | State::Ended => Err(ended()),
        }
    }

    /// Aborts the upload: no object appears and uploaded parts are deleted.
    /// Safe to call in any state, also after a caller's future was dropped
    /// mid-request.
    pub(crate) async fn abort(&mut self) -> object_store::Result<()> {
        if matches!(self.state, State::Creating(..)) {
            // The creation may have reached the store: finish it to learn
            // the upload id, then abort that upload.
            if self.multipart().await.is_err() {
                return Ok(());
            }
        }
        match std::mem::replace(&mut self.state, State::Ended) {
            State::Multipart(writer) => writer.abort().await,
            _ => Ok(()),
        }
    }
}

fn ended() -> object_store::Error {
    object_store::Error::Generic {
        store: "gludb",
        source: "the upload has already ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_keeps_uploads_within_s3s_part_limit() {
        assert_eq!(part_size_for(0), MIN_PART_SIZE);
        assert_eq!(part_size_for(10 << 30), MIN_PART_SIZE);
        for bound in [100u64 << 30, 1 << 40, 4 << 40] {
            let size = part_size_for(bound) as u64;
            assert!(bound.div_ceil(size) <= MAX_PARTS, "{bound}");
            assert_eq!(size % (1024 * 1024), 0);
        }
        assert_eq!(part_size_for(u64::MAX), MAX_PART_SIZE);
    }
}
