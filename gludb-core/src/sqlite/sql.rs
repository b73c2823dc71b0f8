//! The SQL statements of the SQLite backend. Every table and column name
//! reaching here is a [`TableName`] or an [`IndexName`] (or, for an index,
//! built from them), which hold plain identifiers only, so quoting is exact.

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::{
    Error, IndexName, RestoreMode, Result, Row, StoredRecord, TableName, TableSpec, TableStats,
    names::quote,
};

/// Maps rusqlite's errors to ours: a missing table becomes
/// [`Error::UnknownTable`], the rest keep their context.
pub(crate) fn error(context: impl Into<String>, table: &TableName, e: rusqlite::Error) -> Error {
    let missing_table = matches!(&e, rusqlite::Error::SqliteFailure(_, Some(msg))
        if msg.starts_with("no such table"));
    if missing_table {
        Error::UnknownTable {
            table: table.to_string(),
        }
    } else {
        Error::sqlite(context, e)
    }
}

/// `CREATE TABLE IF NOT EXISTS` plus any index columns the table lacks (a
/// type may gain an index after its table was created).
pub(crate) fn ensure_table(conn: &Connection, spec: &TableSpec) -> rusqlite::Result<()> {
    let table = quote(spec.table.as_str());
    let mut columns = String::from("id text primary key, value text");
    for index in &spec.indexes {
        columns.push_str(&format!(", {} text", quote(index.as_str())));
    }
    conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS {table} ({columns})"))?;
    let existing: Vec<String> = conn
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{}')",
            spec.table
        ))?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for index in &spec.indexes {
        // SQLite's column names ignore ASCII case, as its `pragma` does not.
        if !existing
            .iter()
            .any(|c| c.eq_ignore_ascii_case(index.as_str()))
        {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {} text",
                quote(index.as_str())
            ))?;
        }
        let index_name = quote(&index_name(&spec.table, index));
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS {index_name} ON {table} ({})",
            quote(index.as_str())
        ))?;
    }
    Ok(())
}

/// The name of the index on `index`: `<table>_<index>_idx`, as the original
/// GLUDB names it, except for a table named `sqlite` (in any case), whose
/// index names would start with `sqlite_`, which SQLite reserves: those get
/// `gludb_` in front.
fn index_name(table: &TableName, index: &IndexName) -> String {
    let name = format!("{table}_{index}_idx");
    let reserved = name
        .as_bytes()
        .get(..7)
        .is_some_and(|start| start.eq_ignore_ascii_case(b"sqlite_"));
    if reserved {
        format!("gludb_{name}")
    } else {
        name
    }
}

fn insert_head(spec: &TableSpec) -> String {
    let mut columns = String::from("id, value");
    let mut placeholders = String::from("?1, ?2");
    for (i, index) in spec.indexes.iter().enumerate() {
        columns.push_str(&format!(", {}", quote(index.as_str())));
        placeholders.push_str(&format!(", ?{}", i + 3));
    }
    format!(
        "INSERT INTO {} ({columns}) VALUES ({placeholders})",
        quote(spec.table.as_str())
    )
}

fn index_updates(spec: &TableSpec) -> String {
    spec.indexes
        .iter()
        .map(|index| format!(", {0} = excluded.{0}", quote(index.as_str())))
        .collect()
}

/// Upsert that keeps the stored `_create_date` (one statement, so atomic).
pub(crate) fn upsert_sql(spec: &TableSpec) -> String {
    let table = quote(spec.table.as_str());
    format!(
        "{} ON CONFLICT(id) DO UPDATE SET value = json_set(excluded.value, '$._create_date', \
         coalesce(json_extract({table}.value, '$._create_date'), \
         json_extract(excluded.value, '$._create_date'))){}",
        insert_head(spec),
        index_updates(spec)
    )
}

/// The statement a restore writes with: values verbatim.
pub(crate) fn restore_sql(spec: &TableSpec, mode: RestoreMode) -> String {
    match mode {
        RestoreMode::SkipExisting => format!("{} ON CONFLICT(id) DO NOTHING", insert_head(spec)),
        RestoreMode::RefuseNonEmpty => insert_head(spec),
        // Overwrite, and any later mode, replaces the stored record.
        _ => format!(
            "{} ON CONFLICT(id) DO UPDATE SET value = excluded.value{}",
            insert_head(spec),
            index_updates(spec)
        ),
    }
}

/// Runs a prepared insert/upsert for one row; returns the rows changed.
pub(crate) fn write_row(conn: &Connection, sql: &str, row: &Row) -> rusqlite::Result<usize> {
    let mut statement = conn.prepare_cached(sql)?;
    execute_row(&mut statement, row)
}

/// Runs an insert/upsert statement already prepared for one row.
pub(crate) fn execute_row(
    statement: &mut rusqlite::Statement<'_>,
    row: &Row,
) -> rusqlite::Result<usize> {
    let params = [row.id.as_str(), row.value.as_str()]
        .into_iter()
        .chain(row.index_values.iter().map(String::as_str));
    statement.execute(params_from_iter(params))
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord {
        id: row.get(0)?,
        value: row.get(1)?,
    })
}

pub(crate) fn find_one(
    conn: &Connection,
    table: &TableName,
    id: &str,
) -> rusqlite::Result<Option<StoredRecord>> {
    conn.prepare_cached(&format!(
        "SELECT id, value FROM {} WHERE id = ?1",
        quote(table.as_str())
    ))?
    .query_row([id], record)
    .optional()
}

pub(crate) fn find_by_index(
    conn: &Connection,
    table: &TableName,
    index: &IndexName,
    value: &str,
) -> Result<Vec<StoredRecord>> {
    let sql = format!(
        "SELECT id, value FROM {} WHERE {} = ?1 ORDER BY id",
        quote(table.as_str()),
        quote(index.as_str())
    );
    let query = || -> rusqlite::Result<Vec<StoredRecord>> {
        conn.prepare_cached(&sql)?
            .query_map([value], record)?
            .collect()
    };
    query().map_err(|e| error(format!("finding by index {index:?} in {table:?}"), table, e))
}

/// One page of `find_all`: the records after `after` in id order.
pub(crate) fn page_after(
    conn: &Connection,
    table: &TableName,
    after: &str,
    limit: usize,
) -> rusqlite::Result<Vec<StoredRecord>> {
    conn.prepare_cached(&format!(
        "SELECT id, value FROM {} WHERE id > ?1 ORDER BY id LIMIT ?2",
        quote(table.as_str())
    ))?
    .query_map(params![after, limit as i64], record)?
    .collect()
}

pub(crate) fn delete(conn: &Connection, table: &TableName, id: &str) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(&format!(
            "DELETE FROM {} WHERE id = ?1",
            quote(table.as_str())
        ))?
        .execute([id])?;
    Ok(changed > 0)
}

/// Whether the table exists. SQLite's table names are case-insensitive
/// (`casenote` and `CaseNote` are one table), so the lookup is too.
pub(crate) fn table_exists(conn: &Connection, table: &TableName) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
    )?
    .exists([table.as_str()])
}

pub(crate) fn count(conn: &Connection, table: &TableName) -> rusqlite::Result<u64> {
    conn.query_row(
        &format!("SELECT count(*) FROM {}", quote(table.as_str())),
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
}

/// Count and UTF-8 byte size of the table's values, as a snapshot will
/// stream them. In a UTF-8 database (every database gludb creates) the
/// size is each value's length from its record header (`octet_length`,
/// without loading the text). A database created in UTF-16 by another
/// program stores other byte lengths than the UTF-8 SQLite hands out: there
/// the values are converted and measured one by one.
pub(crate) fn table_stats(conn: &Connection, table: &TableName) -> rusqlite::Result<TableStats> {
    if !table_exists(conn, table)? {
        return Ok(TableStats::default());
    }
    let name = quote(table.as_str());
    let encoding: String = conn.pragma_query_value(None, "encoding", |row| row.get(0))?;
    let (records, value_bytes) = if encoding == "UTF-8" {
        let (records, bytes) = conn.query_row(
            &format!("SELECT count(*), coalesce(sum(octet_length(value)), 0) FROM {name}"),
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        )?;
        (records.max(0) as u64, bytes.max(0) as u64)
    } else {
        let mut statement = conn.prepare(&format!("SELECT value FROM {name}"))?;
        let mut rows = statement.query([])?;
        let (mut records, mut bytes) = (0u64, 0u64);
        while let Some(row) = rows.next()? {
            records += 1;
            // A NULL or a blob fails the snapshot's read with its own error.
            bytes += row.get_ref(0)?.as_str().map_or(0, str::len) as u64;
        }
        (records, bytes)
    };
    Ok(TableStats {
        exists: true,
        records,
        value_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_never_start_with_sqlite_() {
        let name =
            |t: &str, i: &str| index_name(&TableName::new(t).unwrap(), &IndexName::new(i).unwrap());
        assert_eq!(name("SimpleTest", "by_name"), "SimpleTest_by_name_idx");
        assert_eq!(name("Sqlite", "x"), "gludb_Sqlite_x_idx");
        assert_eq!(name("sqlitex", "x"), "sqlitex_x_idx");
        assert_eq!(name("a", "b"), "a_b_idx");
    }
}
