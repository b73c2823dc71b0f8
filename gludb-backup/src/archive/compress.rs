//! Compression, both ways. Writing is parallel: the tar stream is cut into
//! fixed-size chunks; each chunk is compressed on a blocking thread into an
//! independent gzip member (or zstd frame), and they are written out in
//! order. A concatenation of gzip members is one valid `.gz` file (RFC
//! 1952, 2.2) that `gzip`, GNU tar and Python's `tarfile` read like any
//! other, and a concatenation of zstd frames one valid `.zst` (RFC 8878,
//! 3.1); compressing chunks independently costs well under 1% in size and
//! lets every core compress.

use std::{
    cell::RefCell,
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures_util::{Stream, StreamExt, stream};
use libdeflater::{CompressionLvl, Compressor};
use tokio::{
    io::{AsyncBufRead, AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_util::sync::PollSender;

use super::{ArchiveError, Codec};

/// A codec and its level, as a backup compresses: gzip 1 to 9, zstd 1 to 22.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compression {
    pub(crate) codec: Codec,
    pub(crate) level: i32,
}

/// A decompressed (and decrypted) archive: the plain tar stream.
pub(crate) type Decoded = std::pin::Pin<Box<dyn AsyncRead + Send>>;

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
/// members (zstd frames) yielded in order until the channel closes.
pub(crate) fn compress_chunks(
    chunks: mpsc::Receiver<Vec<u8>>,
    compression: Compression,
    workers: usize,
) -> impl Stream<Item = io::Result<Vec<u8>>> {
    let incoming = stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    // `buffered` keeps order and bounds the chunks being compressed at once.
    incoming
        .map(move |chunk| tokio::task::spawn_blocking(move || compress(&chunk, compression)))
        .buffered(workers.max(1))
        .map(|member| member.map_err(io::Error::other)?)
}

/// The reading side: a gzip stream of one or more members (ours are
/// many; `gzip` and the original GLUDB write one), decompressed as one.
pub(crate) fn gzip_decoder<R: AsyncBufRead>(
    input: R,
) -> async_compression::tokio::bufread::GzipDecoder<R> {
    let mut gzip = async_compression::tokio::bufread::GzipDecoder::new(input);
    gzip.multiple_members(true);
    gzip
}

/// The tar stream inside `input`, compressed with `codec`.
pub(crate) fn decoder<R: AsyncBufRead + Send + 'static>(
    input: R,
    codec: Codec,
) -> Result<Decoded, ArchiveError> {
    match codec {
        Codec::Gzip => Ok(Box::pin(gzip_decoder(input))),
        #[cfg(feature = "zstd")]
        Codec::Zstd => {
            let mut zstd = async_compression::tokio::bufread::ZstdDecoder::new(input);
            zstd.multiple_members(true);
            Ok(Box::pin(zstd))
        }
        #[cfg(not(feature = "zstd"))]
        Codec::Zstd => Err(ArchiveError::NeedsFeature("zstd")),
    }
}

/// One chunk, compressed on its own.
fn compress(data: &[u8], compression: Compression) -> io::Result<Vec<u8>> {
    match compression.codec {
        Codec::Gzip => gzip_member(data, compression.level.clamp(1, 9).unsigned_abs()),
        #[cfg(feature = "zstd")]
        Codec::Zstd => zstd::bulk::compress(data, compression.level),
        // A backup refuses zstd without the feature before it starts.
        #[cfg(not(feature = "zstd"))]
        Codec::Zstd => Err(io::Error::other("zstd needs gludb's `zstd` feature")),
    }
}

/// A compressing thread's libdeflate compressor, its level, and the
/// buffer it compresses into.
struct Deflate {
    level: u32,
    compressor: Compressor,
    scratch: Vec<u8>,
}

thread_local! {
    /// Reused from chunk to chunk instead of allocated (and zeroed) again.
    static DEFLATE: RefCell<Option<Deflate>> = const { RefCell::new(None) };
}

/// One complete gzip member holding `data` (RFC 1952), compressed by
/// libdeflate at `level` (1 to 9 here; libdeflate's own scale).
pub(crate) fn gzip_member(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let level = level.clamp(1, 9);
    DEFLATE.with_borrow_mut(|slot| {
        let deflate = match slot {
            Some(kept) if kept.level == level => kept,
            _ => {
                // `clamp` keeps the level inside libdeflate's 0 to 12.
                let lvl = CompressionLvl::new(level as i32)
                    .map_err(|e| io::Error::other(format!("compression level {level}: {e:?}")))?;
                slot.insert(Deflate {
                    level,
                    compressor: Compressor::new(lvl),
                    scratch: Vec::new(),
                })
            }
        };
        let bound = deflate.compressor.gzip_compress_bound(data.len());
        if deflate.scratch.len() < bound {
            deflate.scratch.resize(bound, 0);
        }
        let written = deflate
            .compressor
            .gzip_compress(data, &mut deflate.scratch)
            .map_err(|e| io::Error::other(format!("gzip compression: {e:?}")))?;
        // An exact-size copy: members wait in the upload's buffer, where
        // the worst-case capacity of each would add up.
        Ok(deflate.scratch[..written].to_vec())
    })
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
        let gzip = Compression {
            codec: Codec::Gzip,
            level: 3,
        };
        let consume = compress_chunks(chunks, gzip, 2).collect::<Vec<_>>();
        let (produced, members) = tokio::join!(produce, consume);
        produced.unwrap();
        let out: Vec<u8> = members.into_iter().flat_map(Result::unwrap).collect();
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(out.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, data);
    }

    #[test]
    fn reused_compressors_write_standard_gzip_members() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect();
        // Levels repeat and change: a compressor is reused or replaced.
        for level in [1, 3, 3, 9, 1] {
            for piece in [&data[..], &data[..10], &[]] {
                let ours = gzip_member(piece, level).unwrap();
                assert_eq!(ours[..3], [0x1f, 0x8b, 8], "a gzip header");
                let mut decoded = Vec::new();
                flate2::read::MultiGzDecoder::new(ours.as_slice())
                    .read_to_end(&mut decoded)
                    .unwrap();
                assert_eq!(decoded, piece, "level {level}");
            }
        }
        // Compressible data shrinks.
        assert!(gzip_member(&data, 1).unwrap().len() < data.len() / 4);
    }
}
