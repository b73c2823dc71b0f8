//! Writes the tar stream: members streamed record by record into any
//! `AsyncWrite` (the parallel gzip stage), with bounded memory.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures_util::{Stream, stream::BoxStream};
use gludb_core::{LineBatch, TableStats, TypeInfo};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tar::{Builder, EntryType, Header};

use super::{MANIFEST_NAME, Manifest, MemberManifest};
use crate::{BackupError, Result};

/// A tar stream being written to `W`.
pub(crate) struct ArchiveWriter<W: AsyncWrite + Unpin + Send> {
    tar: Builder<W>,
    /// Modification time of every member (the backup's start), Unix seconds.
    mtime: u64,
}

impl<W: AsyncWrite + Unpin + Send> ArchiveWriter<W> {
    pub(crate) fn new(inner: W, mtime: u64) -> Self {
        ArchiveWriter {
            tar: Builder::new_non_terminated(inner),
            mtime,
        }
    }

    /// Writes one class's member: exactly `stats.records` lines totalling
    /// `stats.value_bytes + stats.records` bytes, or an error. With `check`,
    /// every record is decoded with that type on the way, and those that
    /// would not restore are reported (they are still written verbatim).
    pub(crate) async fn write_member(
        &mut self,
        info: &TypeInfo,
        table: &str,
        stats: TableStats,
        records: BoxStream<'static, gludb_core::Result<LineBatch>>,
        check: Option<&TypeInfo>,
        on_batch: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<WrittenMember> {
        let name = format!("{}.json", info.backup_name());
        let size = stats.value_bytes + stats.records;
        let mut reader = RecordReader::new(records, on_batch);
        reader.check = check.map(|info| RecordCheck {
            info_name: info.type_name(),
            member: name.clone(),
            decode: info,
            problems: Vec::new(),
            failures: 0,
        });
        let mut bounded = (&mut reader).take(size);
        let header = self.header(size);
        self.tar
            .append_data(&mut header.clone(), &name, &mut bounded)
            .await
            .map_err(|e| BackupError::from_pipeline(e, "", &format!("writing {name}")))?;
        // Anything past the announced size means the table changed under us.
        let mut probe = [0u8; 1];
        let extra = reader
            .read(&mut probe)
            .await
            .map_err(|e| BackupError::from_pipeline(e, "", &format!("reading {name}")))?;
        if reader.records != stats.records || reader.bytes != size || extra != 0 {
            return Err(BackupError::SnapshotMismatch {
                table: table.to_owned(),
                detail: format!(
                    "expected {} records / {size} bytes, read {} / {}{}",
                    stats.records,
                    reader.records,
                    reader.bytes,
                    if extra != 0 { " and more" } else { "" }
                ),
            });
        }
        let problems = reader
            .check
            .take()
            .map(RecordCheck::report)
            .unwrap_or_default();
        Ok(WrittenMember {
            manifest: MemberManifest {
                name,
                type_name: info.type_name().to_owned(),
                module_path: info.module_path().to_owned(),
                table: info.table().to_owned(),
                indexes: info.indexes().iter().map(|s| (*s).to_owned()).collect(),
                records: reader.records,
                bytes: reader.bytes,
                sha256: format!("{:x}", reader.hasher.finalize()),
                fingerprint: Some(info.fingerprint()),
                shape: Some(info.shape().to_owned()),
            },
            problems,
        })
    }

    /// Writes the manifest as the last member and the tar terminator, then
    /// shuts the inner writer down.
    pub(crate) async fn finish(&mut self, manifest: &Manifest) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
        let mut header = self.header(json.len() as u64);
        self.tar
            .append_data(&mut header, MANIFEST_NAME, json.as_slice())
            .await?;
        self.tar.finish().await?;
        self.tar.get_mut().shutdown().await
    }

    fn header(&self, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header
    }
}

/// A member as written: its manifest entry, and what a record check found.
pub(crate) struct WrittenMember {
    pub(crate) manifest: MemberManifest,
    pub(crate) problems: Vec<String>,
}

/// Records that would not decode, listed up to this many per member.
const MAX_LISTED_PROBLEMS: usize = 20;

/// Decodes every record of a member with its type while it is written.
struct RecordCheck<'a> {
    info_name: &'static str,
    member: String,
    decode: &'a TypeInfo,
    problems: Vec<String>,
    failures: u64,
}

impl RecordCheck<'_> {
    fn check(&mut self, first_line: u64, lines: &[u8]) {
        let lines = lines.strip_suffix(b"\n").unwrap_or(lines);
        for (number, line) in (first_line..).zip(lines.split(|b| *b == b'\n')) {
            let decoded = std::str::from_utf8(line)
                .map_err(|e| e.to_string())
                .and_then(|line| self.decode.decode(line).map_err(|e| e.to_string()));
            if let Err(reason) = decoded {
                self.failures += 1;
                if self.problems.len() < MAX_LISTED_PROBLEMS {
                    self.problems.push(format!(
                        "line {number} of {} does not decode into `{}` and would not restore: {reason}",
                        self.member, self.info_name
                    ));
                }
            }
        }
    }

    fn report(mut self) -> Vec<String> {
        let unlisted = self.failures - self.problems.len() as u64;
        if unlisted > 0 {
            self.problems.push(format!(
                "... and {unlisted} more records of {} that would not restore",
                self.member
            ));
        }
        self.problems
    }
}

/// Reads a stream of JSON-line batches, hashing and counting what it hands
/// out.
struct RecordReader<'a> {
    batches: BoxStream<'static, gludb_core::Result<LineBatch>>,
    /// Told (records, bytes) of every batch, for progress reports.
    on_batch: &'a mut (dyn FnMut(u64, u64) + Send),
    chunk: Vec<u8>,
    position: usize,
    done: bool,
    hasher: Sha256,
    records: u64,
    bytes: u64,
    check: Option<RecordCheck<'a>>,
}

impl<'a> RecordReader<'a> {
    fn new(
        batches: BoxStream<'static, gludb_core::Result<LineBatch>>,
        on_batch: &'a mut (dyn FnMut(u64, u64) + Send),
    ) -> Self {
        RecordReader {
            batches,
            on_batch,
            chunk: Vec::new(),
            position: 0,
            done: false,
            hasher: Sha256::new(),
            records: 0,
            bytes: 0,
            check: None,
        }
    }

    fn accept(&mut self, batch: LineBatch) {
        let batch_records = batch.records();
        if let Some(check) = &mut self.check {
            check.check(self.records + 1, batch.lines());
        }
        self.records += batch_records;
        self.chunk = batch.into_lines();
        self.position = 0;
        self.hasher.update(&self.chunk);
        self.bytes += self.chunk.len() as u64;
        (self.on_batch)(batch_records, self.chunk.len() as u64);
    }
}

impl AsyncRead for RecordReader<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.position < self.chunk.len() {
                let n = buf.remaining().min(self.chunk.len() - self.position);
                let start = self.position;
                buf.put_slice(&self.chunk[start..start + n]);
                self.position += n;
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.batches).poll_next(cx)) {
                Some(Ok(batch)) => self.accept(batch),
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                None => self.done = true,
            }
        }
    }
}
