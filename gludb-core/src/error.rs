//! The one error type of the data layer.

/// Result with the data layer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the data layer. Every variant names the
/// type, table or record it concerns, so a message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No database is mapped for the type or any of its bases, and there is no default.
    #[error(
        "no database for `{type_name}`: map one for it (or a base) with `Databases::map`, or set a default"
    )]
    NoDatabase {
        /// The type that needed a database.
        type_name: String,
    },

    /// A table, index or prefix name that is not a plain SQL identifier.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// What the name is for: "table", "index", "table prefix".
        kind: &'static str,
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The bases declared with `#[gludb(bases(...))]` have no C3 linearisation.
    #[error("inconsistent bases for `{type_name}`: {detail}")]
    InconsistentHierarchy {
        /// The type whose method resolution order was asked for.
        type_name: String,
        /// Which bases conflict.
        detail: String,
    },

    /// `find_by_index` named an index the type does not declare.
    #[error("`{type_name}` has no index `{index}` (declared: {declared:?})")]
    UnknownIndex {
        /// The type queried.
        type_name: String,
        /// The index asked for.
        index: String,
        /// The indexes the type declares.
        declared: &'static [&'static str],
    },

    /// The table does not exist: call `ensure_table` first.
    #[error("table {table:?} does not exist: call `ensure_table` for its type first")]
    UnknownTable {
        /// The missing table (with prefix).
        table: String,
    },

    /// Several tables answer to the name, differing only in case (e.g.
    /// `"SimpleTest"` and `simpletest`), so the PostgreSQL backend cannot
    /// tell which one holds the type's records. Nothing was read or written.
    ///
    /// PostgreSQL folds unquoted names to lower case: the original GLUDB
    /// creates `simpletest`, while a table created with a quoted name keeps
    /// its case (`"SimpleTest"`). Move the records into one of them and drop
    /// (or rename) the others.
    #[error(
        "table {table:?} is ambiguous: the database has {} tables whose names differ only in case ({}); \
         gludb cannot tell which one holds the records, so it read and wrote nothing: \
         move the records into one of them and drop or rename the others",
        candidates.len(),
        candidates.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousTable {
        /// The table asked for (with prefix).
        table: String,
        /// The real names of the matching tables, sorted.
        candidates: Vec<String>,
    },

    /// The database's server encoding cannot be read as UTF-8 text.
    ///
    /// PostgreSQL's `SQL_ASCII` stores bytes without saying what encoding
    /// they are in, so records can neither be converted to UTF-8 nor
    /// measured reliably. Every other server encoding is supported.
    #[error(
        "the database {database} has server encoding {encoding}, whose bytes have no defined \
         character encoding and cannot be converted to UTF-8: create the database with \
         ENCODING 'UTF8' (and move the data into it) to use it with gludb"
    )]
    UnsupportedEncoding {
        /// Which database (as [`crate::Backend::describe`] gives it).
        database: String,
        /// The server encoding it reported (e.g. `SQL_ASCII`).
        encoding: String,
    },

    /// A stored record could not be decoded into its type (malformed JSON or a
    /// shape that does not match the type).
    #[error("record {id:?} in table {table:?} does not decode into `{type_name}`: {source}")]
    Decode {
        /// The type the record should decode into.
        type_name: String,
        /// The table it was read from.
        table: String,
        /// The record's id.
        id: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },

    /// An object could not be turned into a stored record.
    #[error("`{type_name}` cannot be stored: {reason}")]
    Encode {
        /// The type being saved.
        type_name: String,
        /// Why (serde's message, or "it does not serialize to a JSON object").
        reason: String,
    },

    /// The database was closed with `close()`.
    #[error("the database {database} is closed")]
    Closed {
        /// Which database (as [`crate::Backend::describe`] gives it).
        database: String,
    },

    /// An error of a backend (SQLite, PostgreSQL), with what was being
    /// done; `backend` names which. The source is the driver's error (a
    /// `rusqlite::Error` or a `tokio_postgres::Error` underneath), kept out
    /// of this type so that the drivers are not part of gludb's API.
    #[error("{backend} error while {context}: {source}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What the data layer was doing.
        context: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A restore found the target table not empty in `RestoreMode::RefuseNonEmpty`.
    #[error(
        "table {table:?} is not empty: restore refuses to mix records (choose overwrite or skip-existing)"
    )]
    TableNotEmpty {
        /// The table that holds records.
        table: String,
    },

    /// A stored value contains a raw line break, so it cannot be exported
    /// as one JSON line verbatim.
    #[error(
        "record {id:?} of table {table:?} contains a line break outside a JSON string; re-save it so it is stored on one line"
    )]
    MultiLineRecord {
        /// The table.
        table: String,
        /// The record's id.
        id: String,
    },

    /// The database file is not where (or not what) it was when the
    /// database was opened; nothing was read from or written to the path.
    #[error("the database file of {database} {problem}")]
    DatabaseFile {
        /// Which database (as [`crate::Backend::describe`] gives it).
        database: String,
        /// What is wrong with the file.
        problem: String,
    },

    /// A blocking database task was cancelled or panicked.
    #[error("a database task failed: {0}")]
    Task(String),
}

impl Error {
    /// A restore row of `table` whose index values do not match the
    /// table's `indexes` (one rule for every backend's restore path).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn index_count(
        backend: &'static str,
        table: &crate::TableName,
        row: &crate::Row,
        indexes: usize,
    ) -> Self {
        Error::Backend {
            backend,
            context: format!("restoring record {:?} into {table:?}", row.id),
            source: format!(
                "the row has {} index values but the table has {indexes} indexes",
                row.index_values.len()
            )
            .into(),
        }
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite(context: impl Into<String>, source: rusqlite::Error) -> Self {
        Error::Backend {
            backend: "SQLite",
            context: context.into(),
            source: Box::new(source),
        }
    }
}
