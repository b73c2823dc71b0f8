//! How the PostgreSQL backend reports errors: a missing table becomes
//! [`Error::UnknownTable`], everything else [`Error::Backend`] with
//! `backend: "PostgreSQL"`, what was being done, and a source whose message
//! carries the server's own (severity, message, SQLSTATE, detail, hint) or
//! the cause of a connection failure.

use std::{error::Error as StdError, fmt};

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

use crate::{Error, TableName};

/// The backend name in [`Error::Backend`].
pub(crate) const BACKEND: &str = "PostgreSQL";

/// A `tokio_postgres::Error` whose message includes its cause.
///
/// `tokio_postgres::Error`'s own message is only its kind ("db error",
/// "error connecting to server"); the useful part is in its source. This
/// wrapper prints both, and its [`source`](StdError::source) is the
/// `tokio_postgres::Error` itself (so callers can still inspect the SQLSTATE).
#[derive(Debug)]
pub(crate) struct PgError(pub(crate) tokio_postgres::Error);

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            write!(
                f,
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            )?;
            if let Some(detail) = db.detail() {
                write!(f, "; detail: {detail}")?;
            }
            if let Some(hint) = db.hint() {
                write!(f, "; hint: {hint}")?;
            }
            return Ok(());
        }
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl StdError for PgError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// [`Error::Backend`] for PostgreSQL with any source.
pub(crate) fn backend(
    context: impl Into<String>,
    source: impl Into<Box<dyn StdError + Send + Sync>>,
) -> Error {
    Error::Backend {
        backend: BACKEND,
        context: context.into(),
        source: source.into(),
    }
}

/// Maps a driver error: SQLSTATE 42P01 (undefined_table) becomes
/// [`Error::UnknownTable`] for `table`, the rest [`Error::Backend`].
pub(crate) fn query(
    context: impl Into<String>,
    table: &TableName,
    e: tokio_postgres::Error,
) -> Error {
    if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
        Error::UnknownTable {
            table: table.to_string(),
        }
    } else {
        plain(context, e)
    }
}

/// Whether `e` says a table or column is missing: a cached resolution of
/// its real name may be stale (the table was dropped, renamed or altered
/// behind the backend's back).
pub(crate) fn is_missing_name(e: &Error) -> bool {
    match e {
        Error::UnknownTable { .. } => true,
        Error::Backend { source, .. } => source
            .downcast_ref::<PgError>()
            .is_some_and(|e| e.0.code() == Some(&SqlState::UNDEFINED_COLUMN)),
        _ => false,
    }
}

/// Maps a driver error that cannot mean a missing table.
pub(crate) fn plain(context: impl Into<String>, e: tokio_postgres::Error) -> Error {
    backend(context, PgError(e))
}

/// Maps an error from the connection pool of `database` (its description).
pub(crate) fn pool(
    e: PoolError,
    database: &str,
    pool_size: usize,
    wait: std::time::Duration,
) -> Error {
    match e {
        PoolError::Closed => Error::Closed {
            database: database.to_owned(),
        },
        PoolError::Backend(e) => plain(format!("connecting to {database}"), e),
        PoolError::Timeout(TimeoutType::Wait) => backend(
            format!("waiting for a free connection to {database}"),
            format!(
                "all {pool_size} pooled connections stayed busy for {wait:?}: finish or drop \
                 open find_all streams, snapshots and restores, or raise the pool size"
            ),
        ),
        other => backend(format!("connecting to {database}"), other),
    }
}
