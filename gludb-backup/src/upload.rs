//! The object store sink: a multipart upload that is aborted on every error
//! path, so a failed backup leaves no object and no orphaned parts.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use object_store::{ObjectStore, buffered::BufWriter, path::Path};
use tokio::io::AsyncWrite;

/// S3's limit on the number of parts of one upload.
const MAX_PARTS: u64 = 10_000;
/// Smallest part size we use (S3's minimum is 5 MiB).
pub(crate) const MIN_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's maximum part size.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// A part size that fits an archive of at most `archive_bound` bytes into
/// S3's 10,000 parts, with 10% to spare, in whole MiB.
pub(crate) fn part_size_for(archive_bound: u64) -> usize {
    const MIB: u64 = 1024 * 1024;
    let needed = archive_bound.div_ceil(MAX_PARTS * 9 / 10);
    let size = needed.div_ceil(MIB) * MIB;
    size.clamp(MIN_PART_SIZE as u64, MAX_PART_SIZE) as usize
}

/// An upload to `path`: one PUT if it fits one part, else multipart.
pub(crate) struct Upload {
    writer: BufWriter,
    /// Once shutdown has begun, completing (or its own abort) is the
    /// writer's business: `abort` must not be called any more.
    shutting_down: bool,
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
            writer: BufWriter::with_capacity(store, path, part_size)
                .with_max_concurrency(concurrency.max(1)),
            shutting_down: false,
            sent: 0,
        }
    }

    /// Bytes handed to the upload so far.
    pub(crate) fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Aborts the upload: no object appears and started parts are deleted.
    pub(crate) async fn abort(&mut self) -> object_store::Result<()> {
        if self.shutting_down {
            // Completion failed inside `BufWriter`, which aborts by itself.
            return Ok(());
        }
        self.shutting_down = true;
        self.writer.abort().await
    }
}

impl AsyncWrite for Upload {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.writer).poll_write(cx, buf))?;
        self.sent += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shutting_down = true;
        Pin::new(&mut self.writer).poll_shutdown(cx)
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
        assert_eq!(part_size_for(u64::MAX), MAX_PART_SIZE as usize);
    }
}
