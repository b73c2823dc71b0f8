//! gzip, both ways. Writing is parallel: the tar stream is cut into
//! fixed-size chunks; each chunk is compressed on a blocking thread into an
//! independent gzip member, and the members are written out in order. A concatenation of gzip members is
//! one valid `.gz` file (RFC 1952, 2.2) that `gzip`, GNU tar and Python's
//! `tarfile` read like any other; compressing chunks independently costs
//! well under 1% in size and lets both cores compress.

use std::{
    io::{self, Write},
    pin::Pin,
    task::{Context, Poll, ready},
};

use flate2::{Compression, write::GzEncoder};
use futures_util::{Stream, StreamExt, stream};
use tokio::{io::AsyncWrite, sync::mpsc};
use tokio_util::sync::PollSender;

/// Bytes of tar stream per gzip member.
pub(crate) const CHUNK_SIZE: usize = 1024 * 1024;

/// The tar side: an `AsyncWrite` that hands out full chunks through a
/// bounded channel (the bound keeps memory flat when compression is slower).
pub(crate) struct ChunkWriter {
    sender: PollSender<Vec<u8>>,
    buffer: Vec<u8>,
}

/// A chunk writer and the receiving end the compressor reads from.
pub(crate) fn chunk_channel(depth: usize) -> (ChunkWriter, mpsc::Receiver<Vec<u8>>) {
    let (sender, receiver) = mpsc::channel(depth.max(1));
    let writer = ChunkWriter {
        sender: PollSender::new(sender),
        buffer: Vec::with_capacity(CHUNK_SIZE),
    };
    (writer, receiver)
}

impl ChunkWriter {
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.sender.poll_reserve(cx)).map_err(|_| compressor_gone())?;
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_SIZE));
        self.sender
            .send_item(chunk)
            .map_err(|_| compressor_gone())?;
        Poll::Ready(Ok(()))
    }
}

fn compressor_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the compression stage stopped")
}

impl AsyncWrite for ChunkWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.buffer.len() >= CHUNK_SIZE {
            ready!(self.poll_send(cx))?;
        }
        let n = data.len().min(CHUNK_SIZE - self.buffer.len());
        self.buffer.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Chunks go out when full; flushing mid-chunk would only make
        // smaller gzip members.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.buffer.is_empty() {
            ready!(self.poll_send(cx))?;
        }
        self.sender.close();
        Poll::Ready(Ok(()))
    }
}

/// Compresses the chunks from `chunks`, `workers` at a time, into gzip
/// members yielded in order until the channel closes.
pub(crate) fn compress_chunks(
    chunks: mpsc::Receiver<Vec<u8>>,
    level: u32,
    workers: usize,
) -> impl Stream<Item = io::Result<Vec<u8>>> {
    let level = Compression::new(level.clamp(1, 9));
    let incoming = stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    // `buffered` keeps order and bounds the chunks being compressed at once.
    incoming
        .map(move |chunk| tokio::task::spawn_blocking(move || gzip_member(&chunk, level)))
        .buffered(workers.max(1))
        .map(|member| member.map_err(io::Error::other)?)
}

/// The reading side: a gzip stream of one or more members (ours are
/// many; `gzip` and the original GLUDB write one), decompressed as one.
pub(crate) fn decoder<R: tokio::io::AsyncBufRead>(
    input: R,
) -> async_compression::tokio::bufread::GzipDecoder<R> {
    let mut gzip = async_compression::tokio::bufread::GzipDecoder::new(input);
    gzip.multiple_members(true);
    gzip
}

/// One complete gzip member holding `data`.
pub(crate) fn gzip_member(data: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), level);
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_decode_in_order_as_one_stream() {
        let data: Vec<u8> = (0..3 * CHUNK_SIZE + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        let (mut writer, chunks) = chunk_channel(2);
        let produce = async {
            for piece in data.chunks(70_000) {
                writer.write_all(piece).await?;
            }
            writer.shutdown().await
        };
        let consume = compress_chunks(chunks, 3, 2).collect::<Vec<_>>();
        let (produced, members) = tokio::join!(produce, consume);
        produced.unwrap();
        let out: Vec<u8> = members.into_iter().flat_map(Result::unwrap).collect();
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(out.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, data);
    }
}
