//! PostgreSQL, for when an application outgrows one machine.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> gludb_core::Result<()> {
//! use gludb_core::{Databases, postgres::Postgres};
//! let db = Postgres::connect("postgres://app:secret@db.example:5432/app").await?;
//! assert_eq!(db.describe_url(), "postgres://app@db.example:5432/app");
//! let dbs = Databases::new(db);
//! # Ok(()) }
//! ```
//!
//! # Schema
//!
//! One table per stored type, as in the original GLUDB, but with
//! `id text COLLATE "C" PRIMARY KEY, value json NOT NULL` (plus one `text`
//! column and one index `<table>_<index>_idx` per declared index) instead of
//! the original's `id char(32), value jsonb`:
//!
//! * `json`, not `jsonb`: `jsonb` re-serialises what it stores (key order,
//!   spacing, duplicate keys), so a restored record would not be
//!   byte-identical to the backup, and a backup of a restore would differ
//!   from the first. `json` keeps the exact text and still refuses
//!   malformed JSON, so every stored value is valid JSON. (A malformed value
//!   passed to [`Backend::upsert`] is an [`Error::Backend`] and nothing is
//!   stored.) Values are read back with `value::text`, verbatim.
//! * `text COLLATE "C"`, not `char(32)`: restored and hand-made records may
//!   have ids of any length, and the `C` collation makes the primary-key
//!   index order the byte order, which `find_all` and `find_by_index`
//!   promise (like SQLite's), without a sort.
//!
//! An existing table gains missing index columns (and their indexes) in
//! [`Backend::ensure_table`]; nothing else is ever altered.
//!
//! ## Table names and the original GLUDB's tables
//!
//! The original GLUDB writes names unquoted, so PostgreSQL folds them to
//! lower case: its `SimpleTest` is the table `simpletest`. Every table name
//! is therefore looked up case-insensitively among the tables visible on the
//! search path, and the table found is used under its real name, whatever
//! its case (so tables created quoted in mixed case, `"SimpleTest"`, keep
//! working too). Index columns are found the same way. New tables and
//! columns are created in lower case, as unquoted SQL names them, so a
//! Python GLUDB application sharing the database sees the same tables.
//! Index names are `<table>_<column>_idx` from the real names, which
//! recognises the original's indexes.
//!
//! If two tables answer to one name (`"SimpleTest"` and `simpletest`),
//! every operation on it is [`Error::AmbiguousTable`] and nothing is read
//! or written: move the records into one of them and drop the other.
//!
//! The real names found are cached per [`Postgres`] (clones share the
//! cache); a statement that finds its table or column missing (the table
//! was renamed or dropped meanwhile) drops the entry, and `upsert`,
//! `find_one`, `find_by_index` and `delete` then look the name up again and
//! retry once. Snapshots and restores look names up inside their own
//! transaction.
//!
//! The original's tables (`id char(32)`, `value jsonb`) are read and
//! written as they are: values are sent as text and cast to the column's
//! type, and ids are read as `id::text` (without `char`'s padding). Keep in
//! mind what these column types do:
//!
//! * records in a `jsonb` table come back normalised by PostgreSQL, not
//!   byte-identical to what was saved or restored (keys sorted by length
//!   then bytes, duplicate keys dropped, `", "` and `": "` spacing), and a
//!   `\u0000` escape is refused;
//! * `char(32)` refuses ids longer than 32 characters.
//!
//! ## Server encodings
//!
//! Connections always exchange UTF-8; the server converts to and from the
//! database's encoding (a character the encoding lacks cannot be saved:
//! [`Error::Backend`]). A snapshot's [`Snapshot::table_stats`] counts the
//! UTF-8 bytes it will send, so it matches what [`Snapshot::records`]
//! yields in any encoding. `SQL_ASCII` databases are refused by
//! [`Postgres::connect`] with [`Error::UnsupportedEncoding`]: their bytes
//! have no defined encoding, so they cannot be converted to UTF-8.
//!
//! # Saving
//!
//! [`Backend::upsert`] is `INSERT ... ON CONFLICT (id) DO UPDATE` that keeps
//! the stored `_create_date`: the stored record is read, its `_create_date`
//! is patched into the new value in Rust (with `serde_json`, keeping the key
//! order, so for a value gludb encoded nothing else changes, as with
//! SQLite's `json_set`), and the write only applies if the stored row is
//! still the version read (`xmin`); after a concurrent save of the same
//! record it reads again. Atomic, without holding a lock across round trips.
//!
//! # Reading
//!
//! `find_all` reads a server-side cursor (a portal) in its own read-only
//! transaction, [`PostgresBuilder::fetch_size`] rows per round trip, in id
//! order. A [`Snapshot`] serves its requests in order on its connection:
//! read a `records` stream to its end before awaiting the snapshot's next
//! request (dropping it early ends the snapshot). Its `records` come in
//! storage order from a binary `COPY ... TO STDOUT`, like the SQLite
//! backend's sequential scan.
//!
//! # Restoring
//!
//! A restore is one transaction on one connection; into an empty table
//! ([`crate::RestoreMode::RefuseNonEmpty`]) it writes with
//! `COPY ... FROM STDIN`, otherwise with multi-row `INSERT ... ON CONFLICT`.
//! Its
//! [`RestoreTransaction::count`] (what [`crate::RestoreMode::RefuseNonEmpty`]
//! checks) locks the table `IN EXCLUSIVE MODE` until the restore ends: the
//! application's reads go on, its writes wait, so no record of its own can
//! mix with the restored ones.
//!
//! # Connections
//!
//! A pool ([`deadpool_postgres`]) of at most [`PostgresBuilder::pool_size`]
//! connections. Every `find_all` stream, [`Snapshot`] and restore holds one
//! connection of its own until it ends (so a caller can save while
//! iterating); ordinary operations borrow one per call. A connection is
//! checked with `SELECT 1` before it is reused, so after a server restart
//! or a network failure the operation that saw the failure returns an
//! error, and the next one reconnects.
//!
//! TLS is not supported yet: connections are plain TCP (or Unix sockets);
//! `sslmode=prefer` (the default) falls back to plain, `sslmode=require` is
//! refused by [`Postgres::connect`].
//!
//! # Errors
//!
//! A missing table is [`Error::UnknownTable`]; a name two tables answer
//! to is [`Error::AmbiguousTable`]; any other failure is
//! [`Error::Backend`] with `backend: "PostgreSQL"`, what was being done, and
//! a source that prints the server's message and SQLSTATE (the source's own
//! source is the `tokio_postgres::Error`).

mod copy;
mod cursor;
mod error;
mod restore;
mod session;
mod snapshot;
mod sql;
mod tables;

use std::{
    future::Future,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
    tokio_postgres::{Config, NoTls, config::Host, config::SslMode},
};
use futures_util::{
    future::BoxFuture,
    stream::{self, BoxStream, StreamExt},
};

use crate::{
    Backend, Error, IndexName, RestoreTransaction, Result, Row, Snapshot, StoredRecord, TableName,
    TableSpec,
};
use sql::Measure;
use tables::{PgTable, TableCache};

/// Default number of pooled connections.
const DEFAULT_POOL_SIZE: usize = 10;
/// Default rows per round trip when streaming a table.
const DEFAULT_FETCH_SIZE: usize = 500;
/// Default time to wait for a free pooled connection.
const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time to open a connection, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `ensure_table` waits for a lock held by another session.
const ENSURE_TABLE_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '30s'";
/// Time for the `SELECT 1` that checks a connection before reuse.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL database, reached through a pool of connections. Cheap to
/// clone: clones share the pool.
///
/// See the [module documentation](self) for the schema, the pool and errors.
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("Postgres")
            .field("database", &self.inner.description)
            .field("pool_size", &self.inner.pool_size)
            .field("connections", &status.size)
            .field("idle", &status.available)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

struct Inner {
    pool: Pool,
    /// `postgres://user@host:port/db`, never a password.
    description: String,
    pool_size: usize,
    fetch_size: usize,
    wait_timeout: Duration,
    closed: AtomicBool,
    /// How a snapshot measures values in UTF-8 bytes (from the server encoding).
    measure: Measure,
    /// The real names of the tables found so far.
    tables: TableCache,
}

/// Options for [`Postgres`]: `Postgres::builder(url).pool_size(4).connect().await`.
/// Its `Debug` shows the database without the password.
#[derive(Clone)]
pub struct PostgresBuilder {
    url: String,
    pool_size: usize,
    fetch_size: usize,
    wait_timeout: Duration,
}

impl std::fmt::Debug for PostgresBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let database = match Config::from_str(&self.url) {
            Ok(config) => describe_config(&config),
            Err(_) => "(an unparsable connection URL)".to_owned(),
        };
        f.debug_struct("PostgresBuilder")
            .field("database", &database)
            .field("pool_size", &self.pool_size)
            .field("fetch_size", &self.fetch_size)
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

impl PostgresBuilder {
    /// Most connections open at once (default 10, at least 2). Each open
    /// `find_all` stream, snapshot and restore holds one until it ends.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(2);
        self
    }

    /// Rows fetched per round trip by `find_all` (default 500). A
    /// snapshot reads whole tables with `COPY` instead.
    pub fn fetch_size(mut self, rows: usize) -> Self {
        self.fetch_size = rows.max(1);
        self
    }

    /// How long an operation waits for a free pooled connection before
    /// failing (default 30 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Connects: parses the URL, builds the pool and opens one connection,
    /// so a wrong URL, password or an unreachable server fails here.
    ///
    /// The URL is a libpq connection URI (`postgres://user:password@host:port/db?options`)
    /// or `key=value` string. `sslmode=require` is refused: TLS is not supported yet.
    ///
    /// A database whose server encoding is `SQL_ASCII` is refused with
    /// [`Error::UnsupportedEncoding`]: its bytes have no defined encoding, so
    /// they cannot be converted to UTF-8. Any other encoding works (the
    /// connection always talks UTF-8; the server converts).
    pub async fn connect(self) -> Result<Postgres> {
        // The parse error never quotes the URL, so no password leaks into it.
        let mut config = Config::from_str(&self.url)
            .map_err(|e| error::plain("parsing the PostgreSQL connection URL", e))?;
        let description = describe_config(&config);
        // `postgres://user:p@ss@host/db` parses as password `p`, host
        // `ss@host`: the rest of the password would end up in DNS lookups
        // and error messages.
        let host_with_at = config
            .get_hosts()
            .iter()
            .any(|host| matches!(host, Host::Tcp(name) if name.contains('@')));
        if host_with_at {
            return Err(error::backend(
                format!("connecting to {description}"),
                "the URL's host part contains `@`: a password (or user name) with `@` must be \
                 written percent-encoded, as `%40`",
            ));
        }
        if matches!(config.get_ssl_mode(), SslMode::Require) {
            return Err(error::backend(
                format!("connecting to {description}"),
                "sslmode=require, but TLS is not supported yet: use a TLS-terminating \
                 proxy on a trusted network, or a URL without sslmode=require",
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("gludb");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.wait_timeout))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|e| {
                error::backend(format!("creating a connection pool for {description}"), e)
            })?;
        let mut inner = Inner {
            pool,
            description,
            pool_size: self.pool_size,
            fetch_size: self.fetch_size,
            wait_timeout: self.wait_timeout,
            closed: AtomicBool::new(false),
            measure: Measure::Utf8,
            tables: TableCache::default(),
        };
        inner.measure = server_encoding(&inner).await?;
        Ok(Postgres {
            inner: Arc::new(inner),
        })
    }
}

impl Postgres {
    /// Connects with the default options (see [`PostgresBuilder::connect`]).
    pub async fn connect(url: &str) -> Result<Postgres> {
        Self::builder(url).connect().await
    }

    /// Connects with a pool of at most `pool_size` connections (at least 2).
    pub async fn connect_with(url: &str, pool_size: usize) -> Result<Postgres> {
        Self::builder(url).pool_size(pool_size).connect().await
    }

    /// Options for a connection to `url`.
    pub fn builder(url: &str) -> PostgresBuilder {
        PostgresBuilder {
            url: url.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            fetch_size: DEFAULT_FETCH_SIZE,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }

    /// The URL without its password, as [`Backend::describe`] gives it:
    /// `postgres://user@host:port/db`.
    pub fn describe_url(&self) -> &str {
        &self.inner.description
    }

    /// A pooled connection, or why there is none.
    async fn client(&self) -> Result<Object> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(self.closed());
        }
        inner
            .pool
            .get()
            .await
            .map_err(|e| error::pool(e, &inner.description, inner.pool_size, inner.wait_timeout))
    }

    fn closed(&self) -> Error {
        Error::Closed {
            database: self.inner.description.clone(),
        }
    }

    /// Runs `op` on the table `table` names (its real name, from the cache
    /// or looked up through `client`; see [`tables`]), with a column for
    /// each of `indexes` if the table has one.
    ///
    /// A missing table is [`Error::UnknownTable`] before any statement. If
    /// `op` finds the table or a column missing, the cached name was stale
    /// (the table was renamed, dropped or altered meanwhile): it is
    /// forgotten and, if it came from the cache, `op` runs once more on a
    /// fresh lookup.
    async fn on_table<'a, T>(
        &self,
        client: &Object,
        table: &TableName,
        indexes: &[IndexName],
        op: impl Fn(Arc<PgTable>) -> BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        let cache = &self.inner.tables;
        let mut retried = false;
        loop {
            let Some((resolved, cached)) = cache.lookup(client, table, indexes).await? else {
                return Err(Error::UnknownTable {
                    table: table.to_string(),
                });
            };
            match op(resolved).await {
                Err(e) if error::is_missing_name(&e) => {
                    cache.forget(table);
                    if !cached || retried {
                        return Err(e);
                    }
                    retried = true;
                }
                done => return done,
            }
        }
    }
}

/// Opens the first connection and reads the database's server encoding:
/// how values are measured in UTF-8 bytes, or
/// [`Error::UnsupportedEncoding`] for `SQL_ASCII`.
async fn server_encoding(inner: &Inner) -> Result<Measure> {
    let client = inner
        .pool
        .get()
        .await
        .map_err(|e| error::pool(e, &inner.description, inner.pool_size, inner.wait_timeout))?;
    let context = || format!("reading the server encoding of {}", inner.description);
    let encoding: String = client
        .query_one("SELECT pg_catalog.current_setting('server_encoding')", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| error::plain(context(), e))?;
    match encoding.as_str() {
        "UTF8" => Ok(Measure::Utf8),
        "SQL_ASCII" => Err(Error::UnsupportedEncoding {
            database: inner.description.clone(),
            encoding,
        }),
        _ => Ok(Measure::Converted),
    }
}

/// `postgres://user@host:port,host2:port2/db` from the parsed config:
/// everything that identifies the database, never the password.
fn describe_config(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                // After an unescaped `@` in a password (refused by
                // `connect`): only what follows the last `@` is the host.
                Host::Tcp(name) if name.contains('@') => {
                    format!("***@{}", name.rsplit('@').next().unwrap_or_default())
                }
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            // One port for all hosts, or one per host.
            match ports.get(i).or(if ports.len() == 1 {
                ports.first()
            } else {
                None
            }) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

/// Starts `task` on the current Tokio runtime (tokio-postgres needs Tokio).
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| Error::Task(format!("the PostgreSQL backend needs a Tokio runtime: {e}")))?;
    drop(handle.spawn(task));
    Ok(())
}

/// `find_all`'s reading task: one pooled connection, one read-only
/// transaction, a cursor over the table in id order.
///
/// The table's real name comes from the cache; if the read finds it
/// missing, the entry is forgotten (the stream ends with the error, and
/// the next call looks the name up again).
async fn read_all(db: Postgres, table: TableName, out: cursor::BatchSender) {
    let result = async {
        let context = || format!("reading all of {table:?}");
        let mut client = db.client().await?;
        let Some((resolved, _)) = db.inner.tables.lookup(&client, &table, &[]).await? else {
            return Err(Error::UnknownTable {
                table: table.to_string(),
            });
        };
        let tx = client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .map_err(|e| error::plain(context(), e))?;
        let read = cursor::send_batches(
            &tx,
            &sql::select_all_in_id_order(&resolved),
            db.inner.fetch_size,
            &out,
        )
        .await
        .map_err(|e| error::query(context(), &table, e));
        if read.as_ref().is_err_and(error::is_missing_name) {
            db.inner.tables.forget(&table);
        }
        read?;
        // Read-only: commit or rollback end it the same way.
        tx.commit().await.map_err(|e| error::plain(context(), e))
    }
    .await;
    if let Err(e) = result {
        let _ = out.send(Err(e)).await;
    }
}

#[async_trait]
impl Backend for Postgres {
    fn describe(&self) -> String {
        self.inner.description.clone()
    }

    fn instance_id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    async fn ensure_table(&self, spec: &TableSpec) -> Result<()> {
        let context = || format!("creating table {:?}", spec.table);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| error::plain(context(), e))?;
        // Fail rather than wait forever, e.g. behind an uncommitted restore
        // that creates the same table (and holds its advisory lock).
        tx.batch_execute(ENSURE_TABLE_LOCK_TIMEOUT)
            .await
            .map_err(|e| error::plain(context(), e))?;
        let table = sql::ensure_table(&tx, spec).await;
        if table.is_err() {
            self.inner.tables.forget(&spec.table);
        }
        let table = table?;
        tx.commit().await.map_err(|e| error::plain(context(), e))?;
        self.inner.tables.store(table);
        Ok(())
    }

    async fn upsert(&self, spec: &TableSpec, row: Row) -> Result<()> {
        let client = self.client().await?;
        let (client, row) = (&client, &row);
        self.on_table(client, &spec.table, &spec.indexes, |table| {
            Box::pin(async move { sql::upsert(client, &table, spec, row).await })
        })
        .await
    }

    async fn find_one(&self, table: &TableName, id: &str) -> Result<Option<StoredRecord>> {
        let client = self.client().await?;
        let client = &client;
        self.on_table(client, table, &[], |table| {
            Box::pin(async move { sql::find_one(client, &table, id).await })
        })
        .await
    }

    async fn find_by_index(
        &self,
        table: &TableName,
        index: &IndexName,
        value: &str,
    ) -> Result<Vec<StoredRecord>> {
        let client = self.client().await?;
        let client = &client;
        self.on_table(client, table, std::slice::from_ref(index), |table| {
            Box::pin(async move { sql::find_by_index(client, &table, index, value).await })
        })
        .await
    }

    fn find_all(&self, table: &TableName) -> BoxStream<'static, Result<StoredRecord>> {
        // The task starts on the first poll (inside the caller's runtime);
        // it holds its own connection, so the caller may save meanwhile.
        let (db, table) = (self.clone(), table.clone());
        let batches = stream::once(async move {
            let (out, batches) = cursor::channel();
            match spawn(read_all(db, table, out)) {
                Ok(()) => batches,
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten();
        batches
            .flat_map(|batch| match batch {
                Ok(records) => stream::iter(records.into_iter().map(Ok)).left_stream(),
                Err(e) => stream::once(async move { Err(e) }).right_stream(),
            })
            .boxed()
    }

    async fn delete(&self, table: &TableName, id: &str) -> Result<bool> {
        let client = self.client().await?;
        let client = &client;
        self.on_table(client, table, &[], |table| {
            Box::pin(async move { sql::delete(client, &table, id).await })
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        // Idle connections close now; busy ones (an open stream, snapshot
        // or restore) when they are returned.
        self.inner.closed.store(true, Ordering::Release);
        self.inner.pool.close();
        Ok(())
    }

    async fn snapshot(&self) -> Result<Box<dyn Snapshot>> {
        let client = self.client().await?;
        Ok(Box::new(
            snapshot::PgSnapshot::begin(client, self.inner.measure).await?,
        ))
    }

    async fn begin_restore(&self) -> Result<Box<dyn RestoreTransaction>> {
        let client = self.client().await?;
        Ok(Box::new(restore::PgRestore::begin(client).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(url: &str) -> String {
        describe_config(&Config::from_str(url).unwrap())
    }

    #[test]
    fn descriptions_never_contain_the_password() {
        assert_eq!(
            describe("postgres://app:s3cret@db.example:6543/appdb?sslmode=disable"),
            "postgres://app@db.example:6543/appdb"
        );
        assert_eq!(
            describe("postgresql://localhost/x"),
            "postgres://localhost:5432/x"
        );
        assert_eq!(
            describe("postgres://u:pw@[::1]:7000/x"),
            "postgres://u@[::1]:7000/x"
        );
        assert_eq!(
            describe("host=h1,h2 port=1,2 user=u password=pw dbname=d"),
            "postgres://u@h1:1,h2:2/d"
        );
        assert!(!describe("user=u password=hunter2 host=h").contains("hunter2"));
    }
}
