//! Reading a backup without restoring it: one class's records as a stream,
//! typed (`T`) or raw (the stored JSON lines), for tools that examine a
//! snapshot or feed an ETL job; and [`inspect`](crate::BackupStore::inspect),
//! what an archive holds.
//!
//! The archive is walked with the walk verify and restore share (member
//! names, the manifest last, sizes, counts and SHA-256 compared), straight
//! from the object store in bounded memory. Because the manifest comes last,
//! a member can only be checked once the whole archive is read, so the
//! default ([`ReadCheck::BeforeFirstRecord`]) spools the class to a
//! temporary file while it is hashed and yields nothing until the archive
//! checked out: a corrupted or altered backup is an error, never a wrong
//! record. [`ReadCheck::AsItGoes`] yields records as they are read (no
//! disk), and a mismatch found at the end is the stream's last item.
//!
//! Data flow: (store) download → (archive) walk → `produce` (a task) →
//! bounded channel → [`RawRecords`] / [`Records`] (decode) → the caller.

mod inspect;
mod produce;
mod stream;

pub use inspect::{InspectedClass, Inspection};
pub use stream::{RawRecords, Records};

use gludb_core::Storable;

use crate::{BackupStore, Bases, Result, Selection, archive::Limits, store::open_backup};
use produce::Wanted;

/// When a read checks the archive against its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadCheck {
    /// Read the whole archive first, spooling the class to a temporary
    /// file, and yield records only if every member matches the manifest
    /// (the default): no record of a corrupted backup is ever yielded.
    #[default]
    BeforeFirstRecord,
    /// Yield records as they are read, with no temporary file; a mismatch
    /// with the manifest (found when the archive has been read) ends the
    /// stream with an error after the records it concerns.
    AsItGoes,
}

/// One backup to read, and how: made by [`BackupStore::read`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::TryStreamExt;
/// use gludb_backup::{BackupError, BackupStore};
/// let store = BackupStore::from_url("memory://read-docs")?;
/// // No such backup: a typed error before any record.
/// let missing = store.read("Backup_UTC_2026-11-27T02_00_00.000000_000000-00000000.tar.gz")
///     .raw("Order")
///     .await;
/// assert!(matches!(missing, Err(BackupError::NotFound { .. })));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a read does nothing until `records` or `raw` is awaited"]
pub struct ReadRequest {
    store: BackupStore,
    key: String,
    check: ReadCheck,
    limits: Limits,
    require_manifest: bool,
}

impl ReadRequest {
    pub(crate) fn new(store: BackupStore, key: &str) -> ReadRequest {
        ReadRequest {
            store,
            key: key.to_owned(),
            check: ReadCheck::default(),
            limits: Limits::default(),
            require_manifest: false,
        }
    }

    /// When the archive is checked against its manifest (default
    /// [`ReadCheck::BeforeFirstRecord`]).
    pub fn check(mut self, check: ReadCheck) -> ReadRequest {
        self.check = check;
        self
    }

    /// Bounds on what the archive may make the reader hold in memory.
    pub fn limits(mut self, limits: Limits) -> ReadRequest {
        self.limits = limits;
        self
    }

    /// Refuse archives without a manifest (those of the original Python
    /// GLUDB have none: their records cannot be checked). Off by default.
    pub fn require_manifest(mut self, required: bool) -> ReadRequest {
        self.require_manifest = required;
        self
    }

    /// The records of `T` in the backup, decoded as `T`.
    pub async fn records<T: Storable>(self) -> Result<Records<T>> {
        let mut selection = Selection::default();
        selection.add_type(T::type_info(), Bases::Exclude);
        let raw = self.start(Wanted::Type(selection)).await?;
        Ok(Records::new(raw, T::type_info().type_name()))
    }

    /// The stored JSON lines of one class, for tools without the type.
    /// `class` is a member's `<TypeName>--<table>` name, or the type name
    /// or the table name alone when only one member has it.
    pub async fn raw(self, class: &str) -> Result<RawRecords> {
        self.start(Wanted::Named(class.to_owned())).await
    }

    async fn start(self, wanted: Wanted) -> Result<RawRecords> {
        // Opened here, so that a missing key is an error of this call.
        let reader = open_backup(self.store.connected(), &self.key, self.limits).await?;
        Ok(produce::spawn(self, reader, wanted))
    }
}

impl BackupStore {
    /// Reads one class of the backup `key` without restoring it (see
    /// [`ReadRequest`]).
    ///
    /// ```no_run
    /// # async fn f(store: gludb_backup::BackupStore) -> Result<(), gludb_backup::BackupError> {
    /// # #[derive(gludb_derive::Storable, serde::Serialize, serde::Deserialize)]
    /// # #[gludb(crate = "gludb_core", table = "Orders")]
    /// # struct Order { id: String, total_cents: u64 }
    /// use futures_util::TryStreamExt;
    /// let newest = &store.list().await?[0];
    /// let mut orders = store.read(&newest.key).records::<Order>().await?;
    /// let mut total = 0;
    /// while let Some(order) = orders.try_next().await? {
    ///     total += order.total_cents;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn read(&self, key: &str) -> ReadRequest {
        ReadRequest::new(self.clone(), key)
    }

    /// What the backup `key` holds: its manifest (classes, counts, sizes,
    /// hashes, when and by which version it was written) or, for an archive
    /// without one, what reading it found. The whole archive is read (the
    /// manifest comes last) and checked; problems are listed, not raised.
    pub async fn inspect(&self, key: &str) -> Result<Inspection> {
        inspect::inspect(self, key, Limits::default()).await
    }
}
