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
    /// Whether a multipart upload was asked for (its creation may have
    /// reached the store even if its answer did not reach us).
    multipart_requested: bool,
}

/// How long an abort waits for the parts in flight to end.
const PARTS_IN_FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

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
            multipart_requested: false,
        }
    }

    /// Whether the upload asked the store for a multipart upload.
    pub(crate) fn multipart_requested(&self) -> bool {
        self.multipart_requested
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
            let create = tokio::spawn(create_multipart(store, path));
            self.multipart_requested = true;
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
                put_new(self.store.as_ref(), &self.path, payload).await
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
            State::Multipart(mut writer) => {
                // A part whose request is cancelled mid-flight may still land
                // after the abort, an orphan billed until aborted again (S3
                // says as much): let the parts in flight end first, for a
                // bounded time, then abort.
                let drain = async {
                    while writer.wait_for_capacity(0).await.is_err() {
                        // A failed part is joined; wait for the others.
                    }
                };
                let _ = tokio::time::timeout(PARTS_IN_FLIGHT_WAIT, drain).await;
                writer.abort().await
            }
            _ => Ok(()),
        }
    }
}

/// Writes the whole object with a conditional PUT (create, never
/// overwrite). object_store does not retry it when the connection drops (a
/// blind retry of a conditional request can fail on its own success), so
/// this retries: an "already exists" after a failed attempt is that
/// attempt's success if the object has our size (the key belongs to this
/// run alone).
async fn put_new(
    store: &dyn ObjectStore,
    path: &Path,
    payload: PutPayload,
) -> object_store::Result<()> {
    const ATTEMPTS: u32 = 4;
    let create = || PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let mut attempt = 1;
    loop {
        match store.put_opts(path, payload.clone(), create()).await {
            Ok(_) => return Ok(()),
            // A store that cannot create conditionally: the key is
            // unique by construction (see `archive::key`), and a plain
            // PUT is retried by object_store.
            Err(object_store::Error::NotImplemented { .. }) => {
                return store.put(path, payload).await.map(drop);
            }
            Err(e @ object_store::Error::AlreadyExists { .. }) if attempt > 1 => {
                let ours = store
                    .head(path)
                    .await
                    .is_ok_and(|meta| meta.size == payload.content_length() as u64);
                return if ours { Ok(()) } else { Err(e) };
            }
            Err(e @ object_store::Error::Generic { .. }) if attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "writing the backup failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Tries to create a multipart upload a few times. object_store does not
/// retry a creation whose answer was lost (it is not idempotent for S3: a
/// second request creates a second upload); for us it is safe, because the
/// key belongs to this run alone and the run aborts every other upload of
/// its key when it ends (see `orphans::abort_uploads_of`).
async fn create_multipart(
    store: Arc<dyn ObjectStore>,
    path: Path,
) -> object_store::Result<Box<dyn MultipartUpload>> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        match store.put_multipart(&path).await {
            // Transport and server errors; a refusal (403, 404, ...) is final.
            Err(e @ object_store::Error::Generic { .. }) if attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "creating the multipart upload failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
            other => return other,
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
