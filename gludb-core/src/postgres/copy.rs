//! Bulk transfer with `COPY`, PostgreSQL's own fast path, for the two
//! operations that move whole tables:
//!
//! - a backup reads a table with `COPY (SELECT id::text, value::text ...)
//!   TO STDOUT (FORMAT binary)`: one message per row, each field a length
//!   and raw UTF-8 bytes, parsed straight into [`LineBatch`]es. Against a
//!   cursor fetched in pages, this saves the round trip per page and the
//!   driver's row decoding and two `String`s per record;
//! - a restore into an empty table ([`RestoreMode::RefuseNonEmpty`](crate::RestoreMode::RefuseNonEmpty))
//!   writes with `COPY ... FROM STDIN` in the text format (which works for
//!   every column type: `json`, the original GLUDB's `jsonb`, `text`,
//!   `char(32)`), a `COPY` kept open across batches for up to 64 MiB or
//!   100,000 rows. A duplicate id fails the `COPY` as it fails a plain
//!   `INSERT`, so the restore's semantics are those of the statement path;
//!   the server names a refused row by its line, which [`CopyIn`] turns
//!   back into the record's id.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use deadpool_postgres::Transaction;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{CopyInSink, NoTls};

use super::{error, sql, tables::PgTable};
use crate::{Error, LineBatch, Result, Row, TableName, TableSpec};

/// A batch is sent once it holds this many bytes of lines.
const BATCH_BYTES: usize = 256 * 1024;

/// Restore rows are sent to the server in pieces of about this size.
const SEND_BYTES: usize = 256 * 1024;

/// A restore's `COPY` ends (and reports what the server refused) after
/// about this many bytes or rows, and the next batch starts another: a bad
/// record near the start of a big table fails the restore within a piece
/// instead of after the whole table, and an error can name its record.
const COPY_BYTES: usize = 64 * 1024 * 1024;
const COPY_ROWS: usize = 100_000;

/// Where a table read sends its batches.
pub(crate) type LineSender = mpsc::Sender<Result<LineBatch>>;

/// How a table read ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Every row was sent.
    Complete,
    /// The consumer went away before the end. The `COPY` was cancelled and
    /// drained; the transaction may be aborted, so the caller must end it.
    Abandoned,
}

/// Sends every record of `table` to `out` as line batches, in storage order.
pub(crate) async fn send_line_batches(
    tx: &Transaction<'_>,
    table: &PgTable,
    out: &LineSender,
) -> Result<Read> {
    let name = &table.requested;
    let failed = |e| error::query(format!("reading {name:?}"), name, e);
    let query = format!(
        "COPY (SELECT id::text, value::text FROM {}) TO STDOUT (FORMAT binary)",
        table.quoted
    );
    let stream = tx.copy_out(query.as_str()).await.map_err(failed)?;
    let mut stream = std::pin::pin!(stream);
    let mut rows = BinaryRows::default();
    let mut batch = LineBatch::with_capacity(BATCH_BYTES + 4096);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(failed)?;
        rows.feed(&chunk, |id, value| batch.push(name.as_str(), id, value))
            .map_err(|e| in_table(e, name))?;
        if batch.len() >= BATCH_BYTES {
            let full = std::mem::replace(&mut batch, LineBatch::with_capacity(BATCH_BYTES + 4096));
            if out.send(Ok(full)).await.is_err() {
                // Stop the server instead of receiving the rest of the
                // table for nothing, then wait for the stream to end so
                // nothing of this `COPY` is left on the connection.
                let _ = tx.cancel_token().cancel_query(NoTls).await;
                // The stream ends with its last row or its first error (the
                // cancellation); after an error it would only repeat errors.
                while let Some(Ok(_)) = stream.next().await {}
                return Ok(Read::Abandoned);
            }
        }
    }
    rows.finish().map_err(|e| in_table(e, name))?;
    if !batch.is_empty() && out.send(Ok(batch)).await.is_err() {
        return Ok(Read::Abandoned);
    }
    Ok(Read::Complete)
}

/// Names the table in a format error.
fn in_table(e: Error, table: &TableName) -> Error {
    match e {
        Error::Backend { source, .. } if source.is::<FormatError>() => {
            error::backend(format!("reading {table:?}"), source)
        }
        other => other,
    }
}

/// The binary `COPY` stream was not what the query asks for.
#[derive(Debug, thiserror::Error)]
#[error("unexpected COPY data from the server: {0}")]
struct FormatError(&'static str);

fn format_error(what: &'static str) -> Error {
    error::backend("reading a table", FormatError(what))
}

/// The signature that starts a binary `COPY` stream.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// A parser of binary `COPY` rows of two non-null text fields, fed the
/// stream's chunks as they come; a row split across chunks waits in
/// `pending`.
#[derive(Default)]
struct BinaryRows {
    pending: Vec<u8>,
    state: ParseState,
}

#[derive(Default)]
struct ParseState {
    header_read: bool,
    ended: bool,
}

impl BinaryRows {
    /// Parses every complete row in what was fed so far plus `chunk`,
    /// calling `row(id, value)` for each.
    fn feed(&mut self, chunk: &[u8], mut row: impl FnMut(&str, &str) -> Result<()>) -> Result<()> {
        if self.pending.is_empty() {
            let used = self.state.parse(chunk, &mut row)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let used = self.state.parse(&self.pending, &mut row)?;
            self.pending.drain(..used);
        }
        Ok(())
    }

    /// Checks that the stream ended where it should: after its trailer,
    /// with nothing left over.
    fn finish(&self) -> Result<()> {
        if !self.state.ended || !self.pending.is_empty() {
            return Err(format_error("the stream ended in the middle of a row"));
        }
        Ok(())
    }
}

impl ParseState {
    /// Parses the complete rows at the start of `buf`; returns how many
    /// bytes they took (the rest is an incomplete row).
    fn parse(
        &mut self,
        buf: &[u8],
        row: &mut impl FnMut(&str, &str) -> Result<()>,
    ) -> Result<usize> {
        let mut at = 0;
        if !self.header_read {
            // Signature, flags (i32), header extension length (i32), extension.
            let Some(extension) = read_i32(buf, 15) else {
                return Ok(0);
            };
            if &buf[..11] != SIGNATURE {
                return Err(format_error("no binary COPY signature"));
            }
            let extension =
                usize::try_from(extension).map_err(|_| format_error("a negative header length"))?;
            if buf.len() < 19 + extension {
                return Ok(0);
            }
            at = 19 + extension;
            self.header_read = true;
        }
        loop {
            if self.ended {
                return if at == buf.len() {
                    Ok(at)
                } else {
                    Err(format_error("data after the end of the rows"))
                };
            }
            let Some(fields) = read_i16(buf, at) else {
                return Ok(at);
            };
            match fields {
                -1 => {
                    self.ended = true;
                    at += 2;
                    continue;
                }
                2 => {}
                _ => return Err(format_error("a row without exactly two fields")),
            }
            let Some((id, next)) = field(buf, at + 2)? else {
                return Ok(at);
            };
            let Some((value, next)) = field(buf, next)? else {
                return Ok(at);
            };
            row(id, value)?;
            at = next;
        }
    }
}

/// The text field at `at` and where the next one starts, or `None` if
/// `buf` ends first.
fn field(buf: &[u8], at: usize) -> Result<Option<(&str, usize)>> {
    let Some(len) = read_i32(buf, at) else {
        return Ok(None);
    };
    // -1 is NULL: neither an id nor a stored value may be.
    let len = usize::try_from(len).map_err(|_| format_error("a NULL id or value"))?;
    let start = at + 4;
    let Some(bytes) = buf.get(start..start + len) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(bytes).map_err(|_| format_error("text that is not UTF-8"))?;
    Ok(Some((text, start + len)))
}

fn read_i16(buf: &[u8], at: usize) -> Option<i16> {
    let bytes = buf.get(at..at + 2)?;
    Some(i16::from_be_bytes([bytes[0], bytes[1]]))
}

fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    let bytes = buf.get(at..at + 4)?;
    Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// A `COPY ... FROM STDIN` into one table, open across restore batches.
pub(crate) struct CopyIn {
    table: TableName,
    indexes: usize,
    sink: Pin<Box<CopyInSink<Bytes>>>,
    buf: BytesMut,
    /// The ids sent, in order: the server names a refused row by its line.
    ids: Vec<String>,
    bytes: usize,
}

impl CopyIn {
    /// Starts copying into `table` (as found in the transaction), into the
    /// columns `spec` names.
    pub(crate) async fn start(
        tx: &Transaction<'_>,
        table: &PgTable,
        spec: &TableSpec,
    ) -> Result<CopyIn> {
        let columns = sql::insert_columns(&table.index_columns(&spec.indexes)?);
        let statement = format!("COPY {} ({columns}) FROM STDIN", table.quoted);
        let sink = tx.copy_in(statement.as_str()).await.map_err(|e| {
            error::query(
                format!("restoring records into {:?}", spec.table),
                &spec.table,
                e,
            )
        })?;
        Ok(CopyIn {
            table: spec.table.clone(),
            indexes: spec.indexes.len(),
            sink: Box::pin(sink),
            buf: BytesMut::with_capacity(SEND_BYTES + 4096),
            ids: Vec::new(),
            bytes: 0,
        })
    }

    /// Whether this `COPY` has taken its share and should be finished.
    pub(crate) fn is_full(&self) -> bool {
        self.bytes >= COPY_BYTES || self.ids.len() >= COPY_ROWS
    }

    /// The table this `COPY` writes.
    pub(crate) fn table(&self) -> &TableName {
        &self.table
    }

    /// Sends `rows`; returns how many. A row the server refuses fails this
    /// call or a later one, at the latest [`CopyIn::finish`].
    pub(crate) async fn send(&mut self, rows: &[Row]) -> Result<u64> {
        for row in rows {
            if row.index_values.len() != self.indexes {
                return Err(sql::index_count_error(&self.table, row, self.indexes));
            }
            push_escaped(&mut self.buf, &row.id);
            self.buf.extend_from_slice(b"\t");
            push_escaped(&mut self.buf, &row.value);
            for value in &row.index_values {
                self.buf.extend_from_slice(b"\t");
                push_escaped(&mut self.buf, value);
            }
            self.buf.extend_from_slice(b"\n");
            self.ids.push(row.id.clone());
            if self.buf.len() >= SEND_BYTES {
                let piece = self.buf.split().freeze();
                self.bytes += piece.len();
                self.sink.send(piece).await.map_err(|e| self.refused(e))?;
            }
        }
        Ok(rows.len() as u64)
    }

    /// Ends the `COPY`; returns how many rows the server took. Dropping a
    /// `CopyIn` instead aborts it (the driver sends `CopyFail`).
    pub(crate) async fn finish(mut self) -> Result<u64> {
        if !self.buf.is_empty() {
            let piece = self.buf.split().freeze();
            self.sink.send(piece).await.map_err(|e| self.refused(e))?;
        }
        match self.sink.as_mut().finish().await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(self.refused(e)),
        }
    }

    /// The error for `e`, naming the record the server refused when it
    /// says which line of the `COPY` that was.
    fn refused(&self, e: tokio_postgres::Error) -> Error {
        let record = e
            .as_db_error()
            .and_then(|db| db.where_())
            .and_then(copy_line)
            .and_then(|line| self.ids.get(line.checked_sub(1)?));
        let context = match record {
            Some(id) => format!("restoring record {id:?} into {:?}", self.table),
            None => format!("restoring records into {:?}", self.table),
        };
        error::query(context, &self.table, e)
    }
}

/// The line number in a `COPY` error's context (`COPY t, line 12, ...`;
/// other lines of the context, such as a JSON error's, come first).
fn copy_line(context: &str) -> Option<usize> {
    let copy = context.lines().find(|line| line.starts_with("COPY "))?;
    let after = &copy[copy.find(", line ")? + ", line ".len()..];
    let digits = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    after[..digits].parse().ok()
}

/// Appends `text` as a field of `COPY`'s text format: backslash, newline,
/// carriage return and tab are the bytes it escapes.
fn push_escaped(out: &mut BytesMut, text: &str) {
    let mut rest = text.as_bytes();
    while let Some(i) = next_special(rest) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => b"\\t",
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// The first byte `COPY` escapes. `memchr3` finds three of the four; a
/// carriage return is only looked for before the first of those.
fn next_special(bytes: &[u8]) -> Option<usize> {
    let first = memchr::memchr3(b'\\', b'\n', b'\t', bytes);
    memchr::memchr(b'\r', &bytes[..first.unwrap_or(bytes.len())]).or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(rows: &[(&str, &str)]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        for (id, value) in rows {
            out.extend_from_slice(&2i16.to_be_bytes());
            for field in [id, value] {
                out.extend_from_slice(&(field.len() as i32).to_be_bytes());
                out.extend_from_slice(field.as_bytes());
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    fn parse_in_pieces(data: &[u8], piece: usize) -> Result<Vec<(String, String)>> {
        let mut rows = BinaryRows::default();
        let mut seen = Vec::new();
        for chunk in data.chunks(piece) {
            rows.feed(chunk, |id, value| {
                seen.push((id.to_owned(), value.to_owned()));
                Ok(())
            })?;
        }
        rows.finish()?;
        Ok(seen)
    }

    #[test]
    fn rows_split_anywhere_parse_the_same() {
        let rows = [("a", r#"{"x":"é\\n"}"#), ("b", ""), ("c", "{}")];
        let data = stream(&rows);
        let want: Vec<(String, String)> = rows
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        for piece in 1..=data.len() {
            assert_eq!(
                parse_in_pieces(&data, piece).unwrap(),
                want,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn truncated_or_malformed_streams_are_errors() {
        let data = stream(&[("a", "{}")]);
        assert!(parse_in_pieces(&data[..data.len() - 2], 7).is_err());
        assert!(parse_in_pieces(&data[..data.len() - 3], 7).is_err());
        let mut bad = data.clone();
        bad[0] = b'X';
        assert!(parse_in_pieces(&bad, 64).is_err());
        let mut extra = data.clone();
        extra.push(0);
        assert!(parse_in_pieces(&extra, 64).is_err());
        let mut null = stream(&[]);
        null.truncate(null.len() - 2);
        null.extend_from_slice(&2i16.to_be_bytes());
        null.extend_from_slice(&1i32.to_be_bytes());
        null.push(b'a');
        null.extend_from_slice(&(-1i32).to_be_bytes());
        null.extend_from_slice(&(-1i16).to_be_bytes());
        assert!(parse_in_pieces(&null, 64).is_err());
    }

    #[test]
    fn the_line_of_a_copy_error_is_found_in_its_context() {
        assert_eq!(copy_line("COPY t, line 12, column value: \"x\""), Some(12));
        assert_eq!(copy_line("COPY t, line 7"), Some(7));
        assert_eq!(
            copy_line("JSON data, line 1: {\nCOPY t, line 2001, column value"),
            Some(2001)
        );
        assert_eq!(copy_line("COPY t"), None);
    }

    #[test]
    fn text_fields_escape_what_copy_reads_specially() {
        let mut out = BytesMut::new();
        push_escaped(&mut out, "a\\b\tc\nd\re\\.");
        assert_eq!(&out[..], b"a\\\\b\\tc\\nd\\re\\\\.");
        out.clear();
        push_escaped(&mut out, "r\rn\\");
        assert_eq!(&out[..], b"r\\rn\\\\");
        out.clear();
        push_escaped(&mut out, "plain {\"json\": 1}");
        assert_eq!(&out[..], b"plain {\"json\": 1}");
    }
}
