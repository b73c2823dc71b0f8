//! Finding a table's real name in the catalog.
//!
//! PostgreSQL folds unquoted identifiers to lower case: the original GLUDB,
//! which writes table and column names unquoted, created `SimpleTest` as
//! `simpletest`, while a quoted `"SimpleTest"` keeps its case. So a table
//! name a type asks for is looked up case-insensitively among the visible
//! tables (`lower(relname) = lower(name)`): one match is the table, whatever
//! its case; none means it is missing; two or more (`"SimpleTest"` and
//! `simpletest`) is [`Error::AmbiguousTable`], before anything is read or
//! written. Index columns are matched the same way among the table's
//! columns.
//!
//! The comparison folds ASCII letters only (`lower(... COLLATE "C")`, and
//! [`str::eq_ignore_ascii_case`] in Rust), as PostgreSQL folds unquoted
//! ASCII names; the names asked for are validated ASCII identifiers, so a
//! real name that matches one is the same ASCII identifier up to case, and
//! quoting it with [`quote`] is exact.
//!
//! [`TableCache`] keeps the resolutions of one [`super::Postgres`] so
//! ordinary operations don't query the catalog each time; a statement that
//! reports a missing table or column drops the entry.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use deadpool_postgres::GenericClient;

use super::error;
use crate::{Error, IndexName, Result, TableName, names::quote};

/// The visible tables whose names fold to `$1` (lower case), with their
/// columns, sorted by name.
const RESOLVE: &str = "SELECT c.relname::text, \
     ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a \
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
           ORDER BY a.attnum) \
     FROM pg_catalog.pg_class c \
     WHERE c.relkind IN ('r', 'p') \
     AND pg_catalog.lower(c.relname::text COLLATE \"C\") = $1 \
     AND pg_catalog.pg_table_is_visible(c.oid) \
     ORDER BY c.relname::text COLLATE \"C\"";

/// A table as the catalog names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgTable {
    /// The name asked for (a type's table name, with prefix): what errors name.
    pub(crate) requested: TableName,
    /// The real name, as stored in the catalog.
    pub(crate) name: String,
    /// The real name, quoted for SQL.
    pub(crate) quoted: String,
    /// The real names of its columns.
    columns: Vec<String>,
}

impl PgTable {
    fn new(requested: &TableName, name: String, columns: Vec<String>) -> Self {
        PgTable {
            requested: requested.clone(),
            quoted: quote(&name),
            name,
            columns,
        }
    }

    /// The real name of the column for index `index` (matched ignoring
    /// ASCII case), `None` if the table has none. Two matches (`"byName"`
    /// and `byname`) are an error naming both.
    pub(crate) fn column(&self, index: &IndexName) -> Result<Option<&str>> {
        let mut matches = self
            .columns
            .iter()
            .filter(|c| c.eq_ignore_ascii_case(index.as_str()));
        let Some(first) = matches.next() else {
            return Ok(None);
        };
        let others: Vec<&String> = matches.collect();
        if others.is_empty() {
            return Ok(Some(first));
        }
        let all: Vec<String> = std::iter::once(first)
            .chain(others)
            .map(|c| format!("{c:?}"))
            .collect();
        Err(error::backend(
            format!(
                "finding the column of index {index:?} in {:?}",
                self.requested
            ),
            format!(
                "the table {:?} has columns whose names differ only in case ({}): \
                 keep one of them",
                self.name,
                all.join(", ")
            ),
        ))
    }

    /// The quoted column of each index: the real column, or the name as
    /// given when the table lacks it (the statement then fails naming it).
    pub(crate) fn index_columns(&self, indexes: &[IndexName]) -> Result<Vec<String>> {
        indexes
            .iter()
            .map(|index| Ok(quote(self.column(index)?.unwrap_or(index.as_str()))))
            .collect()
    }

    /// Whether every index has exactly one column (so a cached entry is
    /// not missing a column added since).
    fn has_columns(&self, indexes: &[IndexName]) -> bool {
        indexes
            .iter()
            .all(|index| matches!(self.column(index), Ok(Some(_))))
    }

    /// A table with these names, for unit tests of the SQL text.
    #[cfg(test)]
    pub(crate) fn for_tests(requested: &str, name: &str, columns: &[&str]) -> Self {
        PgTable::new(
            &TableName::new(requested).expect("a valid test table name"),
            name.to_owned(),
            columns.iter().map(|c| (*c).to_owned()).collect(),
        )
    }

    /// Records that `ensure_table` added the column `name`.
    pub(crate) fn add_column(&mut self, name: String) {
        self.columns.push(name);
    }
}

/// The table `table` names, looked up through `client` (inside its
/// transaction, if it is one): `None` if there is none, an error if several
/// tables' names differ from it only in case.
pub(crate) async fn resolve<C: GenericClient>(
    client: &C,
    table: &TableName,
) -> Result<Option<PgTable>> {
    let context = || format!("looking up table {table:?}");
    let statement = client
        .prepare_cached(RESOLVE)
        .await
        .map_err(|e| error::plain(context(), e))?;
    let rows = client
        .query(&statement, &[&table.as_str().to_ascii_lowercase()])
        .await
        .map_err(|e| error::plain(context(), e))?;
    let mut found = rows
        .iter()
        .map(|row| Ok((row.try_get::<_, String>(0)?, row.try_get(1)?)))
        .collect::<std::result::Result<Vec<(String, Vec<String>)>, tokio_postgres::Error>>()
        .map_err(|e| error::plain(context(), e))?;
    match found.len() {
        0 => Ok(None),
        1 => {
            let (name, columns) = found.remove(0);
            Ok(Some(PgTable::new(table, name, columns)))
        }
        _ => Err(Error::AmbiguousTable {
            table: table.to_string(),
            candidates: found.into_iter().map(|(name, _)| name).collect(),
        }),
    }
}

/// The name a new table or column gets: folded to lower case, as unquoted
/// SQL (and the original GLUDB) would name it, so an application using
/// unquoted names sees the same table.
pub(crate) fn new_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Resolutions of one database's tables, keyed by the name asked for (so
/// errors name the table as the caller spelled it). Only found tables are
/// kept: a missing one is looked up again next time.
#[derive(Debug, Default)]
pub(crate) struct TableCache {
    tables: Mutex<HashMap<TableName, Arc<PgTable>>>,
}

impl TableCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<TableName, Arc<PgTable>>> {
        // Every critical section is one map operation, so a panic elsewhere
        // cannot leave the map half-updated: a poisoned lock is still sound.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The table `table` names, and whether it came from the cache.
    /// Queries the catalog through `client` when the cache has no entry,
    /// or one without a column for each of `indexes`.
    pub(crate) async fn lookup<C: GenericClient>(
        &self,
        client: &C,
        table: &TableName,
        indexes: &[IndexName],
    ) -> Result<Option<(Arc<PgTable>, bool)>> {
        if let Some(cached) = self.map().get(table).cloned()
            && cached.has_columns(indexes)
        {
            return Ok(Some((cached, true)));
        }
        match resolve(client, table).await? {
            Some(found) => {
                let found = Arc::new(found);
                self.map().insert(table.clone(), Arc::clone(&found));
                Ok(Some((found, false)))
            }
            None => {
                self.map().remove(table);
                Ok(None)
            }
        }
    }

    /// Keeps a resolution made (and committed) elsewhere, e.g. by `ensure_table`.
    pub(crate) fn store(&self, table: PgTable) {
        self.map().insert(table.requested.clone(), Arc::new(table));
    }

    /// Forgets `table`, after a statement found it (or a column) missing.
    pub(crate) fn forget(&self, table: &TableName) {
        self.map().remove(table);
    }
}

/// Resolutions made inside one transaction (a snapshot's or a restore's),
/// valid for as long as it lasts.
#[derive(Debug, Default)]
pub(crate) struct TxTables {
    tables: HashMap<TableName, Arc<PgTable>>,
}

impl TxTables {
    /// The table `table` names, as seen by the transaction `tx`.
    pub(crate) async fn lookup<C: GenericClient>(
        &mut self,
        tx: &C,
        table: &TableName,
    ) -> Result<Option<Arc<PgTable>>> {
        if let Some(found) = self.tables.get(table) {
            return Ok(Some(Arc::clone(found)));
        }
        let found = resolve(tx, table).await?.map(Arc::new);
        if let Some(found) = &found {
            self.tables.insert(table.clone(), Arc::clone(found));
        }
        Ok(found)
    }

    /// Keeps the resolution `ensure_table` made in this transaction.
    pub(crate) fn store(&mut self, table: PgTable) {
        self.tables.insert(table.requested.clone(), Arc::new(table));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str) -> IndexName {
        IndexName::new(name).unwrap()
    }

    fn table(columns: &[&str]) -> PgTable {
        PgTable::for_tests("SimpleTest", "simpletest", columns)
    }

    #[test]
    fn columns_are_matched_ignoring_ascii_case() {
        let t = table(&["id", "value", "byname"]);
        assert_eq!(t.quoted, "\"simpletest\"");
        assert_eq!(t.column(&index("byName")).unwrap(), Some("byname"));
        assert_eq!(t.column(&index("other")).unwrap(), None);
        assert_eq!(
            t.index_columns(&[index("byName"), index("other")]).unwrap(),
            ["\"byname\"", "\"other\""]
        );
        assert!(t.has_columns(&[index("BYNAME")]));
        assert!(!t.has_columns(&[index("other")]));
    }

    #[test]
    fn columns_differing_only_in_case_are_an_error() {
        let t = table(&["id", "value", "byName", "byname"]);
        let err = t.column(&index("byname")).unwrap_err().to_string();
        assert!(err.contains("\"byName\", \"byname\""), "{err}");
        assert!(!t.has_columns(&[index("byname")]));
    }
}
