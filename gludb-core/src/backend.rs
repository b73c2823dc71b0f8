//! The one small trait every storage backend implements (SQLite, PostgreSQL),
//! in the spirit of `object_store::ObjectStore`: rows are `(id, JSON text)`
//! plus one text column per index.

use std::fmt::Debug;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::{
    Error, Result,
    names::{IndexName, TableName, TableSpec},
};

/// One stored record: its id and the JSON text exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's id (32 hex chars for records gludb created).
    pub id: String,
    /// The stored JSON text, verbatim.
    pub value: String,
}

/// Records as JSON lines: each stored value, verbatim, followed by `\n`.
/// What a [`Snapshot`] streams, so a backup writes rows without a copy or
/// an allocation per record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineBatch {
    lines: Vec<u8>,
    records: u64,
}

impl LineBatch {
    /// An empty batch with room for `bytes` bytes of lines.
    pub fn with_capacity(bytes: usize) -> LineBatch {
        LineBatch {
            lines: Vec::with_capacity(bytes),
            records: 0,
        }
    }

    /// Appends one record of `table`. A value with a raw line break would
    /// split its line: that is [`Error::MultiLineRecord`], naming the record.
    pub fn push(&mut self, table: &str, id: &str, value: &str) -> Result<()> {
        if value.as_bytes().contains(&b'\n') {
            return Err(Error::MultiLineRecord {
                table: table.to_owned(),
                id: id.to_owned(),
            });
        }
        self.lines.extend_from_slice(value.as_bytes());
        self.lines.push(b'\n');
        self.records += 1;
        Ok(())
    }

    /// The batch of `records`, in order.
    pub fn from_records(table: &str, records: &[StoredRecord]) -> Result<LineBatch> {
        let bytes = records.iter().map(|r| r.value.len() + 1).sum();
        let mut batch = LineBatch::with_capacity(bytes);
        for record in records {
            batch.push(table, &record.id, &record.value)?;
        }
        Ok(batch)
    }

    /// The lines.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }

    /// The lines, owned.
    pub fn into_lines(self) -> Vec<u8> {
        self.lines
    }

    /// How many records (lines) the batch holds.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Size of the lines in bytes.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

/// A record to write: id, JSON text, and one value per index of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The record's id.
    pub id: String,
    /// The JSON text to store.
    pub value: String,
    /// One value per [`TableSpec::indexes`] entry, same order.
    pub index_values: Vec<String>,
}

/// Size of one table inside a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    /// Whether the table exists at all.
    pub exists: bool,
    /// How many records it holds.
    pub records: u64,
    /// Sum of the stored values' UTF-8 byte lengths.
    pub value_bytes: u64,
}

/// What a restore does with a record whose id is already in the target table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RestoreMode {
    /// Replace the stored record (upsert).
    #[default]
    Overwrite,
    /// Keep the stored record, skip the one from the backup.
    SkipExisting,
    /// Fail, changing nothing, unless every target table is empty.
    RefuseNonEmpty,
}

/// A storage backend. Implemented by [`crate::sqlite::Sqlite`] and
/// [`crate::postgres::Postgres`]; application
/// code talks to it through [`crate::Storable`] and [`crate::Databases`].
///
/// Table and index names reach it only as [`TableName`] and [`IndexName`]
/// (also inside [`TableSpec`]), which can only hold plain identifiers (see
/// [`crate::names`]): an implementation may quote them into SQL as they
/// are. `gludb-testkit`'s `conformance` feature exports the suite every
/// backend passes.
#[async_trait]
pub trait Backend: Debug + Send + Sync + 'static {
    /// A short description for logs and errors, never containing secrets
    /// (e.g. `sqlite:app.db`).
    fn describe(&self) -> String;

    /// The same number for every handle to the same open database, so that
    /// a backup reads each database once, in one snapshot.
    fn instance_id(&self) -> usize;

    /// Creates the table and its index columns if they are missing.
    async fn ensure_table(&self, spec: &TableSpec) -> Result<()>;

    /// Inserts or replaces a record, keeping the stored `_create_date` of a
    /// record that already exists.
    async fn upsert(&self, spec: &TableSpec, row: Row) -> Result<()>;

    /// The record with this id, if any.
    async fn find_one(&self, table: &TableName, id: &str) -> Result<Option<StoredRecord>>;

    /// The records whose index column `index` equals `value`, ordered by id.
    async fn find_by_index(
        &self,
        table: &TableName,
        index: &IndexName,
        value: &str,
    ) -> Result<Vec<StoredRecord>>;

    /// Every record of the table, ordered by id, read in pages so memory
    /// stays bounded however large the table is.
    fn find_all(&self, table: &TableName) -> BoxStream<'static, Result<StoredRecord>>;

    /// Deletes the record; `true` if it existed.
    async fn delete(&self, table: &TableName, id: &str) -> Result<bool>;

    /// Closes the database: later operations fail with [`crate::Error::Closed`].
    async fn close(&self) -> Result<()>;

    /// Starts a read-only snapshot: every table read through it sees the
    /// database at one point in time, whatever writers do meanwhile.
    async fn snapshot(&self) -> Result<Box<dyn Snapshot>>;

    /// Starts a write transaction for a restore: nothing it writes is visible
    /// or kept until [`RestoreTransaction::commit`].
    async fn begin_restore(&self) -> Result<Box<dyn RestoreTransaction>>;
}

/// A consistent read view of one database (see [`Backend::snapshot`]).
#[async_trait]
pub trait Snapshot: Send {
    /// Record count and value bytes of a table; a missing table reports
    /// `exists: false` and zeros.
    async fn table_stats(&mut self, table: &TableName) -> Result<TableStats>;

    /// The table's records in storage order (the fastest read), as batches
    /// of JSON lines; empty for a missing table.
    fn records(&mut self, table: &TableName) -> BoxStream<'static, Result<LineBatch>>;

    /// Ends the snapshot.
    async fn finish(self: Box<Self>) -> Result<()>;
}

/// One write transaction of a restore (see [`Backend::begin_restore`]).
/// Dropping it without [`commit`](RestoreTransaction::commit) rolls back.
#[async_trait]
pub trait RestoreTransaction: Send {
    /// Creates the table and its index columns if missing, inside the transaction.
    async fn ensure_table(&mut self, spec: &TableSpec) -> Result<()>;

    /// How many records the table holds now; the table stays closed to
    /// other writers until the transaction ends, so the count stays true
    /// for the rest of the restore (what [`RestoreMode::RefuseNonEmpty`]
    /// relies on: a restore calls this after [`ensure_table`](Self::ensure_table)).
    ///
    /// Readers may go on meanwhile; other writers wait (or fail on their
    /// own lock timeout). PostgreSQL takes `LOCK TABLE ... IN EXCLUSIVE
    /// MODE`; SQLite's restore transaction already holds the database's
    /// write lock (`BEGIN IMMEDIATE`) from its start.
    async fn count(&mut self, table: &TableName) -> Result<u64>;

    /// Writes records verbatim; returns how many were written (skipped ones
    /// in [`RestoreMode::SkipExisting`] are not counted). A backend's bulk
    /// path ([`RestoreMode::RefuseNonEmpty`]) may hold rows back and count
    /// them as taken: a row it refuses then fails a later call, at the
    /// latest [`flush`](Self::flush) or [`commit`](Self::commit).
    async fn write(&mut self, spec: &TableSpec, rows: Vec<Row>, mode: RestoreMode) -> Result<u64>;

    /// Completes writes the transaction still holds back (a bulk load that
    /// waits for its table to be complete, such as an empty-table restore's
    /// sorted load or `COPY`) and reports their errors, so a restore knows
    /// that every database's writes succeeded before it commits any.
    /// [`commit`](Self::commit) does it too; the default does nothing.
    async fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// Makes everything written visible, at once.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Discards everything written.
    async fn rollback(self: Box<Self>) -> Result<()>;
}
