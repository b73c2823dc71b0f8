//! SQLite, the embedded default backend: a file, or a database in memory.
//!
//! Each open database has one connection on its own thread for ordinary
//! operations; a backup snapshot and a restore each get a connection of their
//! own, so they neither block nor see half of the other's work. Files use
//! WAL, so readers and a writer proceed together.

mod restore;
mod snapshot;
mod sorted_load;
mod sql;
mod worker;

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};
use rusqlite::{
    Connection, OpenFlags,
    backup::{Backup, StepResult},
};

use crate::{
    Backend, Error, IndexName, RestoreTransaction, Result, Row, Snapshot, StoredRecord, TableName,
    TableSpec,
};
use worker::Worker;

/// How many records one `find_all` page reads.
const PAGE_SIZE: usize = 500;

/// Page cache of a restore's connection, in KiB (as `PRAGMA cache_size`
/// takes it: negative).
const RESTORE_CACHE_KIB: i64 = -32 * 1024;

/// Largest WAL file kept after a checkpoint, in bytes.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// How long a writer waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the database lives.
#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A `memdb` database shared by this process's connections under a
    /// unique name, so snapshots and restores can open their own connection.
    Memory(String),
}

/// A SQLite database (a file, or in memory). Cheap to clone: clones share
/// the connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> gludb_core::Result<()> {
/// use gludb_core::{Databases, sqlite::Sqlite};
/// let dir = tempfile::tempdir().unwrap();
/// let dbs = Databases::new(Sqlite::open(dir.path().join("app.sqlite")).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Sqlite {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    location: Location,
    description: String,
    /// Device and inode of the file when it was opened: a snapshot or a
    /// restore must reach that file, not whatever is at the path now.
    file_id: Option<(u64, u64)>,
    /// `None` once closed.
    worker: Mutex<Option<Worker>>,
    /// Checkpoints still running after committed restores.
    checkpoints: restore::Checkpoints,
}

impl Sqlite {
    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Sqlite> {
        let path = path.as_ref().to_path_buf();
        Self::start(
            Location::File(path.clone()),
            format!("sqlite:{}", path.display()),
        )
        .await
    }

    /// A new, empty database in memory, private to this handle and its clones.
    pub async fn open_in_memory() -> Result<Sqlite> {
        let name = format!("file:/gludb-{}?vfs=memdb", crate::record::new_id());
        Self::start(Location::Memory(name), "sqlite::memory:".to_owned()).await
    }

    async fn start(location: Location, description: String) -> Result<Sqlite> {
        let worker = open_worker(&location, &description, Mode::Main).await?;
        let file_id = match &location {
            Location::File(path) => file_id(path),
            Location::Memory(_) => None,
        };
        Ok(Sqlite {
            inner: Arc::new(Inner {
                location,
                description,
                file_id,
                worker: Mutex::new(Some(worker)),
                checkpoints: restore::Checkpoints::default(),
            }),
        })
    }

    fn worker(&self) -> Result<Worker> {
        self.inner
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Error::Closed {
                database: self.inner.description.clone(),
            })
    }

    /// A new connection of its own (for a snapshot or a restore), refused
    /// once the database is closed, and refused if the file at the path is
    /// no longer the file the database was opened from: a backup of a
    /// moved or deleted database must not read (or create) an empty one.
    async fn own_connection(&self, mode: Mode) -> Result<Worker> {
        self.worker()?;
        if let Location::File(path) = &self.inner.location {
            let problem = match (file_id(path), self.inner.file_id) {
                (None, _) => Some("no longer exists (was it moved or deleted?)"),
                (Some(now), Some(opened)) if now != opened => Some(
                    "is no longer the file this database was opened from (was it moved or replaced?)",
                ),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(Error::DatabaseFile {
                    database: self.inner.description.clone(),
                    problem: problem.to_owned(),
                });
            }
        }
        open_worker(&self.inner.location, &self.inner.description, mode).await
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Main,
    Snapshot,
    Restore,
}

async fn open_worker(location: &Location, description: &str, mode: Mode) -> Result<Worker> {
    let location = location.clone();
    let context = format!("opening {description}");
    Worker::start(description.to_owned(), move || {
        open_connection(&location, mode).map_err(|e| Error::sqlite(context, e))
    })
    .await
}

/// The (device, inode) of the file at `path`, where the platform has them.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((metadata.dev(), metadata.ino()))
    }
    #[cfg(not(unix))]
    {
        // Without inode numbers, only "the file exists" can be checked.
        let _ = metadata;
        Some((0, 0))
    }
}

/// Copies the whole of `source` into `copy` in one step of SQLite's online
/// backup, retrying while a writer holds the source (as long as a busy
/// connection would wait).
fn copy_all(source: &Connection, copy: &mut Connection) -> rusqlite::Result<()> {
    let backup = Backup::new(source, copy)?;
    let started = std::time::Instant::now();
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            // Not with -1 (every page in one step); harmless if it were.
            StepResult::More => {}
            _ if started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some(
                        "the in-memory database stayed locked while its snapshot was copied".into(),
                    ),
                ));
            }
        }
    }
}

fn open_connection(location: &Location, mode: Mode) -> rusqlite::Result<Connection> {
    let conn = match location {
        Location::File(path) => match mode {
            Mode::Main => Connection::open(path)?,
            // A snapshot or a restore works on the application's file:
            // never create one.
            Mode::Snapshot | Mode::Restore => Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
        },
        Location::Memory(uri) => {
            let conn = Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            if let Mode::Snapshot = mode {
                // An in-memory database has no WAL: a snapshot's open read
                // transaction would block every write (the application's
                // saves, the backup's own history record) until the backup
                // ends. It reads a private copy of one moment instead,
                // made with SQLite's online backup.
                let mut copy = Connection::open_in_memory()?;
                copy_all(&conn, &mut copy)?;
                copy
            } else {
                conn
            }
        }
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if let (Location::File(_), Mode::Main) = (location, mode) {
        // WAL lets a backup's snapshot read while the application writes.
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    // Settings are per connection. In WAL mode NORMAL keeps the database
    // consistent through a crash and skips an fsync per commit. A restore
    // commits once, and must be durable when it says it is done: FULL.
    let synchronous = match mode {
        Mode::Restore => "FULL",
        Mode::Main | Mode::Snapshot => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    // Truncate the WAL after a checkpoint instead of keeping a file as large
    // as the largest transaction (a big restore) on disk.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    if let Mode::Restore = mode {
        // A restore inserts ids in random order into the primary-key index:
        // a larger page cache keeps that index's hot pages in memory.
        conn.pragma_update(None, "cache_size", RESTORE_CACHE_KIB)?;
        // Its commit does not copy the WAL into the database file on the
        // way out (the automatic checkpoint): that runs after the restore
        // has returned (see `restore::Checkpoints`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    Ok(conn)
}

#[async_trait]
impl Backend for Sqlite {
    fn describe(&self) -> String {
        self.inner.description.clone()
    }

    fn instance_id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    async fn ensure_table(&self, spec: &TableSpec) -> Result<()> {
        self.worker()?.ensure_table(spec).await
    }

    async fn upsert(&self, spec: &TableSpec, row: Row) -> Result<()> {
        let spec = spec.clone();
        self.worker()?
            .call(move |conn| {
                sql::write_row(conn, &sql::upsert_sql(&spec), &row)
                    .map(drop)
                    .map_err(|e| {
                        sql::error(
                            format!("saving record {:?} in {:?}", row.id, spec.table),
                            &spec.table,
                            e,
                        )
                    })
            })
            .await
    }

    async fn find_one(&self, table: &TableName, id: &str) -> Result<Option<StoredRecord>> {
        let (table, id) = (table.clone(), id.to_owned());
        self.worker()?
            .call(move |conn| {
                sql::find_one(conn, &table, &id).map_err(|e| {
                    sql::error(format!("reading record {id:?} of {table:?}"), &table, e)
                })
            })
            .await
    }

    async fn find_by_index(
        &self,
        table: &TableName,
        index: &IndexName,
        value: &str,
    ) -> Result<Vec<StoredRecord>> {
        let (table, index, value) = (table.clone(), index.clone(), value.to_owned());
        self.worker()?
            .call(move |conn| sql::find_by_index(conn, &table, &index, &value))
            .await
    }

    fn find_all(&self, table: &TableName) -> BoxStream<'static, Result<StoredRecord>> {
        // Keyset pagination: each page is a short read, so a caller that
        // saves while iterating neither deadlocks nor holds a lock.
        struct Pages {
            db: Sqlite,
            table: TableName,
            after: Option<String>,
            buffer: VecDeque<StoredRecord>,
            done: bool,
        }
        let pages = Pages {
            db: self.clone(),
            table: table.clone(),
            after: Some(String::new()),
            buffer: VecDeque::new(),
            done: false,
        };
        stream::unfold(pages, |mut pages| async move {
            loop {
                if let Some(record) = pages.buffer.pop_front() {
                    return Some((Ok(record), pages));
                }
                if pages.done {
                    return None;
                }
                let after = pages.after.take().unwrap_or_default();
                let table = pages.table.clone();
                let page = match pages.db.worker() {
                    Ok(worker) => {
                        worker
                            .call(move |conn| {
                                sql::page_after(conn, &table, &after, PAGE_SIZE).map_err(|e| {
                                    sql::error(format!("reading all of {table:?}"), &table, e)
                                })
                            })
                            .await
                    }
                    Err(e) => Err(e),
                };
                match page {
                    Ok(page) => {
                        pages.done = page.len() < PAGE_SIZE;
                        pages.after = page.last().map(|r| r.id.clone());
                        pages.buffer.extend(page);
                    }
                    Err(e) => {
                        pages.done = true;
                        return Some((Err(e), pages));
                    }
                }
            }
        })
        .boxed()
    }

    async fn delete(&self, table: &TableName, id: &str) -> Result<bool> {
        let (table, id) = (table.clone(), id.to_owned());
        self.worker()?
            .call(move |conn| {
                sql::delete(conn, &table, &id).map_err(|e| {
                    sql::error(format!("deleting record {id:?} of {table:?}"), &table, e)
                })
            })
            .await
    }

    async fn close(&self) -> Result<()> {
        // Dropping the handle ends the thread, which closes the connection
        // once queued jobs are done.
        self.inner
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // A process that exits right after a big restore would otherwise
        // leave its whole WAL for the next user of the file to copy.
        self.inner.checkpoints.wait().await;
        Ok(())
    }

    async fn snapshot(&self) -> Result<Box<dyn Snapshot>> {
        let worker = self.own_connection(Mode::Snapshot).await?;
        Ok(Box::new(snapshot::SqliteSnapshot::begin(worker).await?))
    }

    async fn begin_restore(&self) -> Result<Box<dyn RestoreTransaction>> {
        let worker = self.own_connection(Mode::Restore).await?;
        Ok(Box::new(
            restore::SqliteRestore::begin(worker, self.inner.checkpoints.clone()).await?,
        ))
    }
}
