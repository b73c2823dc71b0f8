//! Loading an empty table in id order.
//!
//! A restore into an empty table ([`RestoreMode::RefuseNonEmpty`](crate::RestoreMode::RefuseNonEmpty))
//! receives records in the archive's order, which for gludb's random ids is
//! random key order: every insert lands on a random page of the
//! primary-key index, and once that index outgrows the page cache each
//! insert reads and rewrites pages all over it. Inserted in id order, both
//! B-trees (the table's rowids and the id index) only append, so each page
//! is written once.
//!
//! So rows are collected instead of inserted: batches are held until they
//! reach [`RUN_BYTES`], sorted by id and written to an anonymous temporary
//! file (a "run"); when the table's rows are complete (the restore moves to
//! another table, counts, or commits) the runs are merged and inserted in
//! one pass. Memory holds one run plus a read buffer per run; temporary
//! disk holds about the table's size until the merge ends (the files are
//! deleted by the OS when closed, also if the process dies). At most
//! [`MAX_RUNS`] run files are open at once: reaching it merges them into
//! one. A repeated id is an error as soon as its run is sorted when both
//! copies fall in one run, at the insert otherwise.
//!
//! Everything happens inside the restore's transaction, so the
//! all-or-nothing guarantee is the one of the plain path: a duplicate id
//! or a full temporary disk fails the restore and rolls it back.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fs::File,
    io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write},
    sync::mpsc,
};

use rusqlite::Connection;

use super::sql;
use crate::{Error, RestoreMode, Result, Row, TableSpec};

/// Rows held in memory before they are sorted and spilled as one run.
const RUN_BYTES: usize = 16 * 1024 * 1024;

/// Each run's read buffer during the merge (a 10M-record table of 4 GiB
/// makes about 260 runs).
const READ_BUFFER: usize = 32 * 1024;

/// Run files open at once, at most: reaching it merges them into one (an
/// extra pass over the data, for tables over 8 GiB), so a restore stays
/// well within the usual limit of 1,024 open files.
const MAX_RUNS: usize = 512;

/// The page cache while appending, in KiB (as `PRAGMA cache_size` takes
/// it: negative).
const SORTED_CACHE_KIB: i64 = -4 * 1024;

/// A run file's write buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// Rows per batch from the merging thread to the inserting one, and
/// batches queued between them.
const MERGED_BATCH_ROWS: usize = 1024;
const MERGED_BATCHES_IN_FLIGHT: usize = 2;

/// The rows of one table, collected until [`SortedLoad::finish`].
pub(crate) struct SortedLoad {
    spec: TableSpec,
    /// [`RUN_BYTES`] and [`MAX_RUNS`], smaller in tests.
    run_bytes: usize,
    max_runs: usize,
    /// Batches not yet spilled, and their size.
    held: Vec<Vec<Row>>,
    held_bytes: usize,
    /// Spilled runs, each sorted by id.
    runs: Vec<File>,
}

impl SortedLoad {
    pub(crate) fn new(spec: TableSpec) -> SortedLoad {
        SortedLoad {
            spec,
            run_bytes: RUN_BYTES,
            max_runs: MAX_RUNS,
            held: Vec::new(),
            held_bytes: 0,
            runs: Vec::new(),
        }
    }

    /// The table being loaded.
    pub(crate) fn spec(&self) -> &TableSpec {
        &self.spec
    }

    /// Adds a batch; spills a run once enough is held.
    pub(crate) fn push(&mut self, rows: Vec<Row>) -> Result<()> {
        if let Some(bad) = rows
            .iter()
            .find(|r| r.index_values.len() != self.spec.indexes.len())
        {
            return Err(Error::index_count(
                "SQLite",
                &self.spec.table,
                bad,
                self.spec.indexes.len(),
            ));
        }
        self.held_bytes += rows.iter().map(row_bytes).sum::<usize>();
        self.held.push(rows);
        if self.held_bytes >= self.run_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts what is held and writes it to a new run file. A repeated id
    /// within the run is an error now rather than at the insert; once
    /// [`MAX_RUNS`] files are open, they are merged into one.
    fn spill(&mut self) -> Result<()> {
        let mut rows: Vec<&Row> = self.held.iter().flatten().collect();
        rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = rows.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(Error::Backend {
                backend: "SQLite",
                context: format!(
                    "restoring record {:?} into {:?}",
                    pair[0].id, self.spec.table
                ),
                source: "the restore holds two records with this id (UNIQUE constraint failed)"
                    .into(),
            });
        }
        let run = write_run(rows.into_iter().map(Ok)).map_err(|e| self.io_error(e))?;
        self.runs.push(run);
        self.held.clear();
        self.held_bytes = 0;
        if self.runs.len() >= self.max_runs {
            let indexes = self.spec.indexes.len();
            let readers = self
                .runs
                .drain(..)
                .map(|file| RunReader::new(file, indexes))
                .collect();
            let compacted = Merger::new(readers).and_then(|mut merger| {
                write_run(std::iter::from_fn(move || merger.next().transpose()))
            });
            self.runs.push(compacted.map_err(|e| self.io_error(e))?);
        }
        Ok(())
    }

    /// Inserts every row, in id order, on `conn` (inside the restore's
    /// transaction); returns how many.
    ///
    /// The runs are merged on a thread of their own, which hands sorted
    /// batches to this one: reading and merging the runs overlaps with
    /// SQLite's inserts.
    pub(crate) fn finish(self, conn: &Connection) -> Result<u64> {
        // Appending touches only the rightmost pages of each B-tree: the
        // large page cache a random-order restore needs would only hold
        // dirty pages longer.
        let cache = Pragma::set(conn, "cache_size", SORTED_CACHE_KIB)
            .map_err(|e| Error::sqlite("sizing the page cache", e))?;
        let inserted = self.insert_all(conn);
        cache
            .restore(conn)
            .map_err(|e| Error::sqlite("sizing the page cache", e))?;
        inserted
    }

    fn insert_all(mut self, conn: &Connection) -> Result<u64> {
        let insert = sql::restore_sql(&self.spec, RestoreMode::RefuseNonEmpty);
        let table = self.spec.table.clone();
        let mut statement = conn
            .prepare_cached(&insert)
            .map_err(|e| sql::error(format!("restoring into {table:?}"), &table, e))?;
        let mut execute = |row: &Row| {
            sql::execute_row(&mut statement, row).map_err(|e| {
                sql::error(
                    format!("restoring record {:?} into {table:?}", row.id),
                    &table,
                    e,
                )
            })
        };
        if self.runs.is_empty() {
            // Everything fits in memory: no file at all.
            let mut rows: Vec<Row> = self.held.drain(..).flatten().collect();
            rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            for row in &rows {
                execute(row)?;
            }
            return Ok(rows.len() as u64);
        }
        if !self.held.is_empty() {
            self.spill()?;
        }
        let indexes = self.spec.indexes.len();
        let runs: Vec<RunReader> = self
            .runs
            .drain(..)
            .map(|file| RunReader::new(file, indexes))
            .collect();
        let (sender, batches) = mpsc::sync_channel(MERGED_BATCHES_IN_FLIGHT);
        let merger = std::thread::Builder::new()
            .name("gludb-sort-merge".into())
            .spawn(move || merge(runs, &sender))
            .map_err(|e| self.io_error(e))?;
        let mut written = 0;
        let inserted = batches.iter().try_for_each(|batch| {
            for row in &batch.map_err(|e| self.io_error(e))? {
                execute(row)?;
                written += 1;
            }
            Ok(())
        });
        // On an error the receiver is gone, so the merger stops at its
        // next batch.
        drop(batches);
        let _ = merger.join();
        inserted.map(|()| written)
    }

    fn io_error(&self, e: io::Error) -> Error {
        run_error(&self.spec, e)
    }
}

fn run_error(spec: &TableSpec, e: io::Error) -> Error {
    Error::Backend {
        backend: "SQLite",
        context: format!(
            "sorting the records restored into {:?} through temporary files in {} (TMPDIR; \
             they take about the table's size)",
            spec.table,
            std::env::temp_dir().display()
        ),
        source: Box::new(e),
    }
}

/// The bytes a row takes in memory, roughly: its text plus the `String`s.
fn row_bytes(row: &Row) -> usize {
    row.id.len()
        + row.value.len()
        + row.index_values.iter().map(String::len).sum::<usize>()
        + std::mem::size_of::<Row>()
        + row.index_values.len() * std::mem::size_of::<String>()
}

/// A connection setting changed for a while.
struct Pragma {
    name: &'static str,
    before: i64,
}

impl Pragma {
    fn set(conn: &Connection, name: &'static str, value: i64) -> rusqlite::Result<Pragma> {
        let before = conn.pragma_query_value(None, name, |row| row.get(0))?;
        conn.pragma_update(None, name, value)?;
        Ok(Pragma { name, before })
    }

    fn restore(self, conn: &Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, self.name, self.before)
    }
}

/// Sorted runs read as one sorted sequence (a k-way merge on a heap of
/// each run's smallest row).
struct Merger {
    runs: Vec<RunReader>,
    heads: BinaryHeap<Reverse<Head>>,
}

impl Merger {
    fn new(mut runs: Vec<RunReader>) -> io::Result<Merger> {
        let mut heads = BinaryHeap::with_capacity(runs.len());
        for (run, reader) in runs.iter_mut().enumerate() {
            if let Some(row) = reader.next()? {
                heads.push(Reverse(Head { row, run }));
            }
        }
        Ok(Merger { runs, heads })
    }

    fn next(&mut self) -> io::Result<Option<Row>> {
        let Some(Reverse(Head { row, run })) = self.heads.pop() else {
            return Ok(None);
        };
        if let Some(next) = self.runs[run].next()? {
            self.heads.push(Reverse(Head { row: next, run }));
        }
        Ok(Some(row))
    }
}

/// Merges sorted runs into sorted batches sent to `out`, until the runs
/// end or the receiver is gone.
fn merge(runs: Vec<RunReader>, out: &mpsc::SyncSender<io::Result<Vec<Row>>>) {
    let merged = (|| {
        let mut merger = Merger::new(runs)?;
        let mut batch = Vec::with_capacity(MERGED_BATCH_ROWS);
        while let Some(row) = merger.next()? {
            batch.push(row);
            if batch.len() == MERGED_BATCH_ROWS {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(MERGED_BATCH_ROWS));
                if out.send(Ok(full)).is_err() {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            let _ = out.send(Ok(batch));
        }
        Ok(())
    })();
    if let Err(e) = merged {
        let _ = out.send(Err(e));
    }
}

/// A run's smallest row not merged yet, ordered by id.
struct Head {
    row: Row,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.row.id == other.row.id
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.row.id.cmp(&other.row.id)
    }
}

/// Writes rows, already sorted, to a new anonymous temporary file, and
/// rewinds it for reading.
fn write_run<R: std::borrow::Borrow<Row>>(
    rows: impl Iterator<Item = io::Result<R>>,
) -> io::Result<File> {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, tempfile::tempfile()?);
    for row in rows {
        write_row(&mut out, row?.borrow())?;
    }
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// A row in a run file: each text as a little-endian `u32` length and its
/// bytes, id, value, then the index values (their number is the table's).
fn write_row(out: &mut impl Write, row: &Row) -> io::Result<()> {
    for text in [&row.id, &row.value].into_iter().chain(&row.index_values) {
        let len = u32::try_from(text.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a value over 4 GiB"))?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// Reads a run file row by row.
struct RunReader {
    input: BufReader<File>,
    indexes: usize,
}

impl RunReader {
    fn new(file: File, indexes: usize) -> RunReader {
        RunReader {
            input: BufReader::with_capacity(READ_BUFFER, file),
            indexes,
        }
    }

    /// The next row, or `None` at the end of the run.
    fn next(&mut self) -> io::Result<Option<Row>> {
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let id = read_text(&mut self.input, len)?;
        let value = read_len_and_text(&mut self.input)?;
        let index_values = (0..self.indexes)
            .map(|_| read_len_and_text(&mut self.input))
            .collect::<io::Result<_>>()?;
        Ok(Some(Row {
            id,
            value,
            index_values,
        }))
    }
}

fn read_len_and_text(input: &mut impl Read) -> io::Result<String> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    read_text(input, len)
}

/// Reads `len` bytes of UTF-8.
fn read_text(input: &mut impl Read, len: [u8; 4]) -> io::Result<String> {
    let mut bytes = vec![0; u32::from_le_bytes(len) as usize];
    input.read_exact(&mut bytes)?;
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a run file holds non-UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IndexName, TableName};

    fn spec() -> TableSpec {
        TableSpec {
            table: TableName::new("Item").unwrap(),
            indexes: vec![IndexName::new("by_n").unwrap()],
        }
    }

    fn table(conn: &Connection) {
        sql::ensure_table(conn, &spec()).unwrap();
    }

    fn row(id: &str, n: usize) -> Row {
        Row {
            id: id.to_owned(),
            value: format!(r#"{{"id":"{id}","text":"tab\t, line\\n, é {n}"}}"#),
            index_values: vec![n.to_string()],
        }
    }

    /// Every stored (id, value, index value), in insertion (rowid) order.
    fn stored(conn: &Connection) -> Vec<(String, String, String)> {
        conn.prepare("SELECT id, value, by_n FROM Item ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Ids in a scrambled but repeatable order.
    fn scrambled(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{:08x}", (i * 7919) % n)).collect()
    }

    #[test]
    fn rows_spilled_over_many_runs_arrive_in_id_order_verbatim() {
        let conn = Connection::open_in_memory().unwrap();
        table(&conn);
        let mut load = SortedLoad::new(spec());
        load.run_bytes = 4096;
        let ids = scrambled(3000);
        for chunk in ids.chunks(70) {
            load.push(chunk.iter().map(|id| row(id, id.len())).collect())
                .unwrap();
        }
        assert!(load.runs.len() > 20, "{} runs", load.runs.len());
        assert_eq!(load.finish(&conn).unwrap(), 3000);
        let stored = stored(&conn);
        let mut sorted = ids.clone();
        sorted.sort();
        let want: Vec<(String, String, String)> = sorted
            .iter()
            .map(|id| {
                let r = row(id, id.len());
                (r.id, r.value, r.index_values[0].clone())
            })
            .collect();
        assert_eq!(stored, want, "every row, verbatim, inserted in id order");
    }

    #[test]
    fn runs_beyond_the_open_file_budget_are_merged_into_one() {
        let conn = Connection::open_in_memory().unwrap();
        table(&conn);
        let mut load = SortedLoad::new(spec());
        load.run_bytes = 1;
        load.max_runs = 4;
        let ids = scrambled(500);
        for chunk in ids.chunks(9) {
            load.push(chunk.iter().map(|id| row(id, 1)).collect())
                .unwrap();
            assert!(load.runs.len() < 4, "{} runs open", load.runs.len());
        }
        assert_eq!(load.finish(&conn).unwrap(), 500);
        let stored: Vec<String> = stored(&conn).into_iter().map(|(id, _, _)| id).collect();
        let mut sorted = ids;
        sorted.sort();
        assert_eq!(stored, sorted);
    }

    #[test]
    fn a_repeated_id_within_a_run_is_an_error_when_it_is_spilled() {
        let mut load = SortedLoad::new(spec());
        load.run_bytes = 1;
        let err = load
            .push(vec![row("a", 1), row("twice", 2), row("twice", 3)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"twice\""), "{err}");
    }

    #[test]
    fn a_small_load_never_touches_a_file() {
        let conn = Connection::open_in_memory().unwrap();
        table(&conn);
        let mut load = SortedLoad::new(spec());
        load.push(vec![row("b", 1), row("a", 2)]).unwrap();
        assert!(load.runs.is_empty());
        assert_eq!(load.finish(&conn).unwrap(), 2);
        let first: String = conn
            .query_row("SELECT id FROM Item ORDER BY rowid LIMIT 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(first, "a");
    }

    #[test]
    fn a_repeated_id_in_different_runs_is_an_error_naming_it() {
        let conn = Connection::open_in_memory().unwrap();
        table(&conn);
        let mut load = SortedLoad::new(spec());
        load.run_bytes = 1;
        load.push(vec![row("x", 1), row("dup", 2)]).unwrap();
        load.push(vec![row("dup", 3), row("y", 4)]).unwrap();
        assert_eq!(load.runs.len(), 2);
        let err = load.finish(&conn).unwrap_err().to_string();
        assert!(err.contains("\"dup\""), "{err}");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_index_values_is_refused() {
        let mut load = SortedLoad::new(spec());
        let mut bad = row("a", 1);
        bad.index_values.clear();
        let err = load.push(vec![bad]).unwrap_err().to_string();
        assert!(err.contains("index values"), "{err}");
    }
}
