//! The SQL statements of the PostgreSQL backend. Every table and column name
//! reaching a statement is a [`crate::TableName`] or [`IndexName`] (which
//! hold plain identifiers only), a name built from them, or a real name from
//! the catalog that equals one up to ASCII case (see [`super::tables`]), so
//! quoting with [`quote`] is exact.
//!
//! The functions take any [`GenericClient`]: a pooled connection or a
//! transaction (a restore runs them inside its transaction), and a
//! [`PgTable`]: the table's real name, resolved beforehand.
//!
//! Ids are read as `id::text`: in a table of the original GLUDB the id is
//! `char(32)`, which would come back padded with spaces if shorter; for a
//! `text` id the cast changes nothing.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::{Row as PgRow, types::ToSql};

use super::{
    error,
    tables::{self, PgTable},
};
use crate::{
    IndexName, RestoreMode, Result, Row, StoredRecord, TableName, TableSpec, TableStats,
    names::{MAX_NAME_LEN, quote},
};

/// How often an upsert tries when the stored row changes between reading
/// and writing it (concurrent saves of the same record).
const UPSERT_ATTEMPTS: usize = 32;

/// At most this many rows go into one multi-row restore statement...
const RESTORE_ROWS_PER_STATEMENT: usize = 1000;
/// ...and at most about this many bytes of values.
const RESTORE_BYTES_PER_STATEMENT: usize = 8 << 20;

/// The name of the index on `index`: `<table>_<index>_idx`, as the original
/// GLUDB names it. A name longer than PostgreSQL's 63 bytes
/// ([`MAX_NAME_LEN`]; the server would truncate it) is cut to 54
/// bytes plus `_` and 8 hex digits of a stable hash of the full name, so
/// long names sharing a prefix stay distinct (where the server's own
/// truncation would make them clash).
pub(crate) fn index_name(table: &str, index: &str) -> String {
    let full = format!("{table}_{index}_idx");
    if full.len() <= MAX_NAME_LEN {
        return full;
    }
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash = full.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    // Validated names are ASCII, so any byte index is a char boundary.
    format!("{}_{hash:08x}", &full[..MAX_NAME_LEN - 9])
}

/// Finds the table `spec` names (see [`super::tables`]) or creates it,
/// and adds the index columns and indexes it lacks (a type may gain an
/// index after its table was created). Returns the table as it now is.
///
/// A new table and its new columns are named in lower case, as unquoted
/// SQL (and the original GLUDB) names them. Index names are
/// `<table>_<column>_idx` from the real names, so the original's indexes
/// (`simpletest_name_idx`) are recognised.
///
/// Runs inside a transaction holding an advisory lock on the folded table
/// name, so concurrent `ensure_table` calls (e.g. several processes starting
/// at once) don't race on the catalog. DDL is only issued for what is
/// missing: an `ALTER TABLE` or `CREATE INDEX` would lock the table even
/// when it changes nothing, and wait behind a running backup. Two tables
/// whose names differ only in case are [`crate::Error::AmbiguousTable`], before
/// any DDL.
pub(crate) async fn ensure_table<C: GenericClient>(tx: &C, spec: &TableSpec) -> Result<PgTable> {
    let context = || format!("creating table {:?}", spec.table);
    let plain = |e| error::plain(context(), e);
    tx.execute(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))",
        &[&format!(
            "gludb table {}",
            tables::new_name(spec.table.as_str())
        )],
    )
    .await
    .map_err(plain)?;

    let mut table = match tables::resolve(tx, &spec.table).await? {
        Some(table) => table,
        None => {
            let mut columns =
                String::from("id text COLLATE \"C\" PRIMARY KEY, value json NOT NULL");
            for index in &spec.indexes {
                columns.push_str(&format!(
                    ", {} text",
                    quote(&tables::new_name(index.as_str()))
                ));
            }
            let name = quote(&tables::new_name(spec.table.as_str()));
            tx.batch_execute(&format!("CREATE TABLE IF NOT EXISTS {name} ({columns})"))
                .await
                .map_err(plain)?;
            // `IF NOT EXISTS` skips silently when a view, sequence, ... has
            // the name: then there is still no table.
            tables::resolve(tx, &spec.table).await?.ok_or_else(|| {
                error::backend(
                    context(),
                    format!(
                        "a relation named {name} that is not a table (a view, a sequence, \
                         an index...) is in the way: rename or drop it"
                    ),
                )
            })?
        }
    };

    for index in &spec.indexes {
        if table.column(index)?.is_none() {
            let column = tables::new_name(index.as_str());
            tx.batch_execute(&format!(
                "ALTER TABLE {} ADD COLUMN {} text",
                table.quoted,
                quote(&column)
            ))
            .await
            .map_err(plain)?;
            table.add_column(column);
        }
    }

    let mut wanted = Vec::with_capacity(spec.indexes.len());
    for index in &spec.indexes {
        // Every index has its column now (added above if it was missing).
        let column = table.column(index)?.unwrap_or(index.as_str()).to_owned();
        wanted.push((index_name(&table.name, &column), column));
    }
    let names: Vec<&str> = wanted.iter().map(|(name, _)| name.as_str()).collect();
    let present: HashSet<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c \
             WHERE c.relkind IN ('i', 'I') AND c.relname::text = ANY($1) \
             AND pg_catalog.pg_table_is_visible(c.oid)",
            &[&names],
        )
        .await
        .map_err(plain)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(plain)?;
    for (name, column) in &wanted {
        if !present.contains(name) {
            tx.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                quote(name),
                table.quoted,
                quote(column)
            ))
            .await
            .map_err(plain)?;
        }
    }
    Ok(table)
}

/// `id, value, <index columns>`, for an insert. `columns` are quoted.
pub(crate) fn insert_columns(columns: &[String]) -> String {
    let mut list = String::from("id, value");
    for column in columns {
        list.push_str(", ");
        list.push_str(column);
    }
    list
}

fn index_updates(columns: &[String]) -> String {
    columns
        .iter()
        .map(|column| format!(", {column} = excluded.{column}"))
        .collect()
}

/// The conditional upsert: inserts, or updates only while the stored row
/// is still the version read before (its `xmin`, `$N`; NULL when there was
/// no row). 0 rows affected means "read again and retry".
///
/// The value is sent as text and cast to `json`; PostgreSQL's assignment
/// cast turns that into `jsonb` for a table of the original GLUDB.
fn upsert_sql(table: &PgTable, columns: &[String]) -> String {
    let name = &table.quoted;
    let n = columns.len();
    let placeholders: String = (0..n).map(|i| format!(", ${}", i + 3)).collect();
    format!(
        "INSERT INTO {name} ({}) VALUES ($1, $2::text::json{placeholders}) \
         ON CONFLICT (id) DO UPDATE SET value = excluded.value{} \
         WHERE {name}.xmin::text IS NOT DISTINCT FROM ${}",
        insert_columns(columns),
        index_updates(columns),
        n + 3
    )
}

/// The stored record's `_create_date`, if it has one.
fn stored_create_date(stored: &str) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Dates {
        #[serde(rename = "_create_date")]
        create_date: Option<Value>,
    }
    // Only an object (serde would also read a struct from an array); other
    // keys are skipped without being kept.
    if !stored.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Dates>(stored).ok()?.create_date
}

/// `value` with its top-level `_create_date` set to `date`, re-serialised
/// only if that changes it. A value that is not a JSON object is returned
/// as is (the `json` column refuses malformed text).
fn with_create_date(value: &str, date: Value) -> String {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(value) else {
        return value.to_owned();
    };
    if fields.get("_create_date") == Some(&date) {
        return value.to_owned();
    }
    // `preserve_order` keeps the other keys where they were, and an existing
    // `_create_date` keeps its place.
    fields.insert("_create_date".to_owned(), date);
    serde_json::to_string(&fields).unwrap_or_else(|_| value.to_owned())
}

/// Inserts or updates a record, keeping the stored `_create_date`.
///
/// Optimistic and atomic without holding a lock: read the stored row and
/// its version (`xmin`), patch its `_create_date` into the new value in Rust
/// (re-serialised with its key order kept, only when it differs), then write with a
/// statement that only applies while the stored row is still that version.
/// If a concurrent save got in between (0 rows affected), read again.
///
/// The stored value is parsed in Rust, not with PostgreSQL's JSON
/// operators: those fail on any value holding a `\u0000` escape, which the
/// `json` type stores fine.
pub(crate) async fn upsert<C: GenericClient>(
    client: &C,
    table: &PgTable,
    spec: &TableSpec,
    row: &Row,
) -> Result<()> {
    let context = || format!("saving record {:?} in {:?}", row.id, spec.table);
    let map = |e| error::query(context(), &spec.table, e);
    let columns = table.index_columns(&spec.indexes)?;
    let read = client
        .prepare_cached(&format!(
            "SELECT xmin::text, value::text FROM {} WHERE id = $1",
            table.quoted
        ))
        .await
        .map_err(map)?;
    let write = client
        .prepare_cached(&upsert_sql(table, &columns))
        .await
        .map_err(map)?;
    for _ in 0..UPSERT_ATTEMPTS {
        let (version, value) = match client.query_opt(&read, &[&row.id]).await.map_err(map)? {
            Some(stored) => {
                let version: String = stored.try_get(0).map_err(map)?;
                let old: String = stored.try_get(1).map_err(map)?;
                let value = match stored_create_date(&old) {
                    Some(date) => with_create_date(&row.value, date),
                    None => row.value.clone(),
                };
                (Some(version), value)
            }
            None => (None, row.value.clone()),
        };
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&row.id, &value];
        params.extend(row.index_values.iter().map(|v| v as &(dyn ToSql + Sync)));
        params.push(&version);
        if client.execute(&write, &params).await.map_err(map)? == 1 {
            return Ok(());
        }
    }
    Err(error::backend(
        context(),
        format!(
            "the record changed during each of {UPSERT_ATTEMPTS} attempts to save it \
             (concurrent saves of the same record): try again"
        ),
    ))
}

fn record(row: &PgRow) -> std::result::Result<StoredRecord, tokio_postgres::Error> {
    Ok(StoredRecord {
        id: row.try_get(0)?,
        value: row.try_get(1)?,
    })
}

/// Rows of `(id, value text)` into records.
pub(crate) fn records(
    rows: &[PgRow],
) -> std::result::Result<Vec<StoredRecord>, tokio_postgres::Error> {
    rows.iter().map(record).collect()
}

pub(crate) async fn find_one<C: GenericClient>(
    client: &C,
    table: &PgTable,
    id: &str,
) -> Result<Option<StoredRecord>> {
    let name = &table.requested;
    let map = |e| error::query(format!("reading record {id:?} of {name:?}"), name, e);
    let statement = client
        .prepare_cached(&format!(
            "SELECT id::text, value::text FROM {} WHERE id = $1",
            table.quoted
        ))
        .await
        .map_err(map)?;
    match client.query_opt(&statement, &[&id]).await.map_err(map)? {
        Some(row) => record(&row).map(Some).map_err(map),
        None => Ok(None),
    }
}

pub(crate) async fn find_by_index<C: GenericClient>(
    client: &C,
    table: &PgTable,
    index: &IndexName,
    value: &str,
) -> Result<Vec<StoredRecord>> {
    let name = &table.requested;
    let map = |e| error::query(format!("finding by index {index:?} in {name:?}"), name, e);
    let column = quote(table.column(index)?.unwrap_or(index.as_str()));
    let statement = client
        .prepare_cached(&format!(
            "SELECT id::text, value::text FROM {} WHERE {column} = $1 ORDER BY id COLLATE \"C\"",
            table.quoted
        ))
        .await
        .map_err(map)?;
    let rows = client.query(&statement, &[&value]).await.map_err(map)?;
    records(&rows).map_err(map)
}

/// `find_all`'s query: every record in id (byte) order.
pub(crate) fn select_all_in_id_order(table: &PgTable) -> String {
    format!(
        "SELECT id::text, value::text FROM {} ORDER BY id COLLATE \"C\"",
        table.quoted
    )
}

pub(crate) async fn delete<C: GenericClient>(
    client: &C,
    table: &PgTable,
    id: &str,
) -> Result<bool> {
    let name = &table.requested;
    let map = |e| error::query(format!("deleting record {id:?} of {name:?}"), name, e);
    let statement = client
        .prepare_cached(&format!("DELETE FROM {} WHERE id = $1", table.quoted))
        .await
        .map_err(map)?;
    Ok(client.execute(&statement, &[&id]).await.map_err(map)? > 0)
}

/// How many records the table holds, after locking it against other
/// writers until the caller's transaction ends (`EXCLUSIVE` mode: plain
/// reads go on, inserts, updates and deletes wait), so the count stays true
/// for the rest of a restore.
pub(crate) async fn lock_and_count<C: GenericClient>(tx: &C, table: &PgTable) -> Result<u64> {
    let name = &table.requested;
    let context = || format!("counting {name:?}");
    tx.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", table.quoted))
        .await
        .map_err(|e| error::query(format!("locking {name:?}"), name, e))?;
    let row = tx
        .query_one(&format!("SELECT count(*) FROM {}", table.quoted), &[])
        .await
        .map_err(|e| error::query(context(), name, e))?;
    let n: i64 = row.try_get(0).map_err(|e| error::plain(context(), e))?;
    Ok(n.max(0) as u64)
}

/// How [`table_stats`] measures values: the UTF-8 length of the text
/// `value::text` returns, which the client receives in UTF-8 whatever the
/// server encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// The server encoding is UTF-8: its byte length is the UTF-8 length.
    Utf8,
    /// Any other (convertible) server encoding: the length after
    /// converting to UTF-8, as the client will receive it.
    Converted,
}

/// Count and UTF-8 byte size of the table's values (see [`Measure`]);
/// `exists: false` for a missing table (`None`).
pub(crate) async fn table_stats<C: GenericClient>(
    client: &C,
    table: Option<&PgTable>,
    measure: Measure,
) -> Result<TableStats> {
    let Some(table) = table else {
        return Ok(TableStats::default());
    };
    let name = &table.requested;
    let context = || format!("measuring {name:?}");
    let length = match measure {
        Measure::Utf8 => "octet_length(value::text)",
        Measure::Converted => "octet_length(convert_to(value::text, 'UTF8'))",
    };
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum({length}), 0)::bigint FROM {}",
                table.quoted
            ),
            &[],
        )
        .await
        .map_err(|e| error::query(context(), name, e))?;
    let records: i64 = row.try_get(0).map_err(|e| error::plain(context(), e))?;
    let bytes: i64 = row.try_get(1).map_err(|e| error::plain(context(), e))?;
    Ok(TableStats {
        exists: true,
        records: records.max(0) as u64,
        value_bytes: bytes.max(0) as u64,
    })
}

/// The multi-row statement a restore writes with: one text array per
/// column, unnested, values stored verbatim (cast to `json`; the
/// assignment cast makes that `jsonb` for a table of the original GLUDB).
fn restore_sql(table: &PgTable, index_columns: &[String], mode: RestoreMode) -> String {
    let columns = index_columns.len() + 2;
    let arrays: Vec<String> = (1..=columns).map(|i| format!("${i}::text[]")).collect();
    let aliases: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let mut select = vec!["c0".to_owned(), "c1::json".to_owned()];
    select.extend(aliases[2..].iter().cloned());
    let head = format!(
        "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS r({})",
        table.quoted,
        insert_columns(index_columns),
        select.join(", "),
        arrays.join(", "),
        aliases.join(", ")
    );
    match mode {
        RestoreMode::SkipExisting => format!("{head} ON CONFLICT (id) DO NOTHING"),
        RestoreMode::RefuseNonEmpty => head,
        // Overwrite, and any later mode, replaces the stored record.
        _ => format!(
            "{head} ON CONFLICT (id) DO UPDATE SET value = excluded.value{}",
            index_updates(index_columns)
        ),
    }
}

/// Splits rows into statements: bounded in rows and bytes, and never two
/// rows with the same id in one statement (PostgreSQL refuses to update a
/// row twice in one `ON CONFLICT DO UPDATE`), so the result is the same as
/// writing the rows one by one.
fn restore_chunks(rows: &[Row]) -> Vec<&[Row]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    let mut ids = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let full = i - start >= RESTORE_ROWS_PER_STATEMENT
            || (i > start && bytes + row.value.len() > RESTORE_BYTES_PER_STATEMENT)
            || ids.contains(row.id.as_str());
        if full {
            chunks.push(&rows[start..i]);
            start = i;
            bytes = 0;
            ids.clear();
        }
        bytes += row.value.len();
        ids.insert(row.id.as_str());
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

/// A restore row whose index values do not match the table's indexes.
pub(crate) fn index_count_error(table: &TableName, row: &Row, indexes: usize) -> crate::Error {
    crate::Error::index_count(error::BACKEND, table, row, indexes)
}

/// Writes restore rows verbatim; returns how many were written.
pub(crate) async fn restore_rows<C: GenericClient>(
    client: &C,
    table: &PgTable,
    spec: &TableSpec,
    rows: &[Row],
    mode: RestoreMode,
) -> Result<u64> {
    if let Some(bad) = rows
        .iter()
        .find(|r| r.index_values.len() != spec.indexes.len())
    {
        return Err(index_count_error(&spec.table, bad, spec.indexes.len()));
    }
    let map = |first: &str, e| {
        error::query(
            format!(
                "restoring records into {:?} (from id {first:?})",
                spec.table
            ),
            &spec.table,
            e,
        )
    };
    let sql = restore_sql(table, &table.index_columns(&spec.indexes)?, mode);
    let mut written = 0;
    for chunk in restore_chunks(rows) {
        let first = chunk.first().map_or("", |r| r.id.as_str());
        let statement = client
            .prepare_cached(&sql)
            .await
            .map_err(|e| map(first, e))?;
        let mut columns: Vec<Vec<&str>> = vec![
            chunk.iter().map(|r| r.id.as_str()).collect(),
            chunk.iter().map(|r| r.value.as_str()).collect(),
        ];
        for i in 0..spec.indexes.len() {
            columns.push(chunk.iter().map(|r| r.index_values[i].as_str()).collect());
        }
        let params: Vec<&(dyn ToSql + Sync)> =
            columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        written += client
            .execute(&statement, &params)
            .await
            .map_err(|e| map(first, e))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, value: &str) -> Row {
        Row {
            id: id.into(),
            value: value.into(),
            index_values: vec![],
        }
    }

    #[test]
    fn long_index_names_are_shortened_without_collisions() {
        assert_eq!(
            index_name("SimpleTest", "by_name"),
            "SimpleTest_by_name_idx"
        );
        let a = index_name(&"t".repeat(40), &format!("{}a", "i".repeat(30)));
        let b = index_name(&"t".repeat(40), &format!("{}b", "i".repeat(30)));
        assert_eq!(a.len(), 63);
        assert_ne!(a, b);
        assert!(IndexName::new(&a).is_ok());
    }

    #[test]
    fn create_date_is_patched_without_moving_keys() {
        let new = r#"{"id":"x","name":"n","_create_date":"UTC:new","_last_update":"UTC:new"}"#;
        let old = || Value::from("UTC:old");
        assert_eq!(
            with_create_date(new, old()),
            r#"{"id":"x","name":"n","_create_date":"UTC:old","_last_update":"UTC:new"}"#
        );
        assert_eq!(with_create_date(new, Value::from("UTC:new")), new);
        assert_eq!(with_create_date("{not json", old()), "{not json");
        assert_eq!(with_create_date("[1]", old()), "[1]");
        assert_eq!(
            with_create_date(r#"{"a":1}"#, old()),
            r#"{"a":1,"_create_date":"UTC:old"}"#
        );
        let stored = r#"{"a":"nul \u0000","_create_date":"UTC:old","b":[1,{"_create_date":2}]}"#;
        assert_eq!(stored_create_date(stored), Some(old()));
        assert_eq!(stored_create_date(r#"{"a":1}"#), None);
        assert_eq!(stored_create_date("[1]"), None);
    }

    #[test]
    fn restore_chunks_split_on_duplicate_ids() {
        let rows = vec![row("a", "1"), row("b", "1"), row("a", "2"), row("c", "3")];
        let chunks = restore_chunks(&rows);
        let ids: Vec<Vec<&str>> = chunks
            .iter()
            .map(|c| c.iter().map(|r| r.id.as_str()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["a", "b"], vec!["a", "c"]]);
        let many: Vec<Row> = (0..2500).map(|i| row(&i.to_string(), "{}")).collect();
        let sizes: Vec<usize> = restore_chunks(&many).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
        assert!(restore_chunks(&[]).is_empty());
    }

    #[test]
    fn upsert_writes_only_over_the_version_it_read() {
        let table = PgTable::for_tests("T", "T", &["id", "value", "by_x"]);
        let columns = table
            .index_columns(&[IndexName::new("by_x").unwrap()])
            .unwrap();
        assert_eq!(
            upsert_sql(&table, &columns),
            "INSERT INTO \"T\" (id, value, \"by_x\") VALUES ($1, $2::text::json, $3) \
             ON CONFLICT (id) DO UPDATE SET value = excluded.value, \"by_x\" = excluded.\"by_x\" \
             WHERE \"T\".xmin::text IS NOT DISTINCT FROM $4"
        );
    }
}
