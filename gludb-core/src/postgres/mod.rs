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
//! read a `records` stream to its end (or drop it) before awaiting the
//! snapshot's next request. Its `records` come in storage order (a
//! sequential scan), like the SQLite backend's.
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
//! A missing table is [`Error::UnknownTable`]; any other failure is
//! [`Error::Backend`] with `backend: "PostgreSQL"`, what was being done, and
//! a source that prints the server's message and SQLSTATE (the source's own
//! source is the `tokio_postgres::Error`).

mod cursor;
mod error;
mod restore;
mod session;
mod snapshot;
mod sql;

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
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::{Backend, Error, RestoreTransaction, Result, Row, Snapshot, StoredRecord, TableSpec};

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
}

/// Options for [`Postgres`]: `Postgres::builder(url).pool_size(4).connect().await`.
#[derive(Debug, Clone)]
pub struct PostgresBuilder {
    url: String,
    pool_size: usize,
    fetch_size: usize,
    wait_timeout: Duration,
}

impl PostgresBuilder {
    /// Most connections open at once (default 10, at least 2). Each open
    /// `find_all` stream, snapshot and restore holds one until it ends.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(2);
        self
    }

    /// Rows fetched per round trip by `find_all` and snapshot reads, which
    /// is also the size of the batches a snapshot yields (default 500).
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
    pub async fn connect(self) -> Result<Postgres> {
        // The parse error never quotes the URL, so no password leaks into it.
        let mut config = Config::from_str(&self.url)
            .map_err(|e| error::plain("parsing the PostgreSQL connection URL", e))?;
        let description = describe_config(&config);
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
        let db = Postgres {
            inner: Arc::new(Inner {
                pool,
                description,
                pool_size: self.pool_size,
                fetch_size: self.fetch_size,
                wait_timeout: self.wait_timeout,
                closed: AtomicBool::new(false),
            }),
        };
        drop(db.client().await?);
        Ok(db)
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
async fn read_all(db: Postgres, table: String, out: cursor::BatchSender) {
    let result = async {
        let quoted = sql::table_name(&table)?;
        let context = || format!("reading all of {table:?}");
        let mut client = db.client().await?;
        let tx = client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .map_err(|e| error::plain(context(), e))?;
        cursor::send_batches(
            &tx,
            &sql::select_all_in_id_order(&quoted),
            db.inner.fetch_size,
            &out,
        )
        .await
        .map_err(|e| error::query(context(), &table, e))?;
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
        sql::ensure_table(&tx, spec).await?;
        tx.commit().await.map_err(|e| error::plain(context(), e))
    }

    async fn upsert(&self, spec: &TableSpec, row: Row) -> Result<()> {
        let client = self.client().await?;
        sql::upsert(&client, spec, &row).await
    }

    async fn find_one(&self, table: &str, id: &str) -> Result<Option<StoredRecord>> {
        let client = self.client().await?;
        sql::find_one(&client, table, id).await
    }

    async fn find_by_index(
        &self,
        table: &str,
        index: &str,
        value: &str,
    ) -> Result<Vec<StoredRecord>> {
        let client = self.client().await?;
        sql::find_by_index(&client, table, index, value).await
    }

    fn find_all(&self, table: &str) -> BoxStream<'static, Result<StoredRecord>> {
        // The task starts on the first poll (inside the caller's runtime);
        // it holds its own connection, so the caller may save meanwhile.
        let (db, table) = (self.clone(), table.to_owned());
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

    async fn delete(&self, table: &str, id: &str) -> Result<bool> {
        let client = self.client().await?;
        sql::delete(&client, table, id).await
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
            snapshot::PgSnapshot::begin(client, self.inner.fetch_size).await?,
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
