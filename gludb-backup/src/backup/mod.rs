//! The backup side: `Backup` says what to back up, where, and how; a run
//! flows through its stages in order:
//!
//! - [`selection`]: which registered types (by class, by package, with bases);
//! - [`set`]: the backup set the run belongs to, claimed in this process;
//! - [`snapshot`]: one read snapshot per database, every table measured;
//! - `archive::writer` and `archive::gzip`: tar members, compressed in parallel;
//! - `store::upload`: the object store, aborted on any failure;
//! - [`history`]: the `BackupHistory` record, and the [`report`].
//!
//! [`run`] drives one run from start to end.

pub(crate) mod history;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod selection;
pub(crate) mod set;
pub(crate) mod snapshot;

pub use history::{BackupHistory, BackupStatus, ClassCount};
pub use report::{BackupReport, ClassReport, Progress};
pub use run::RunningBackup;
pub use selection::{Bases, Selection, Subpackages};

use std::sync::Arc;

use gludb_core::Databases;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::{
    BackupError, BackupListing, BackupStore, Destination, PruneReport, Result, Retention,
    archive::{ArchiveFormat, BackupKey, Codec, SetName, next_run_time},
    store::{
        Place, SetFilter, list_backups, prune,
        upload::{MAX_PART_SIZE, S3_MIN_PART_SIZE},
    },
};
use run::Run;
use set::SetId;

/// Most parts uploaded at once.
const MAX_UPLOAD_CONCURRENCY: usize = 256;

/// The default gzip level: libdeflate's level 1 makes the benchmark's
/// records as small as `gzip -6` (1.01×) in about a quarter less time than
/// zlib-rs' level 2 of the same size (docs/PERFORMANCE.md).
const DEFAULT_GZIP_LEVEL: u32 = 1;

/// Tuning of the archive and its upload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    pub(crate) compression_level: u32,
    /// gzip (the default) or zstd, at `zstd_level` for zstd.
    pub(crate) codec: Codec,
    pub(crate) zstd_level: i32,
    pub(crate) part_size: Option<usize>,
    pub(crate) upload_concurrency: usize,
}

impl Tuning {
    /// Settings out of range are errors, not silently changed values.
    fn check(&self) -> Result<()> {
        if self.codec == Codec::Zstd {
            if !cfg!(feature = "zstd") {
                return Err(BackupError::FeatureNotEnabled {
                    destination: "a .tar.zst archive".to_owned(),
                    feature: "zstd",
                });
            }
            if !(1..=22).contains(&self.zstd_level) {
                return Err(BackupError::InvalidOption {
                    option: "compression level",
                    reason: format!("{} is not a zstd level (1 to 22)", self.zstd_level),
                });
            }
        }
        if !(1..=9).contains(&self.compression_level) {
            return Err(BackupError::InvalidOption {
                option: "compression level",
                reason: format!("{} is not a gzip level (1 to 9)", self.compression_level),
            });
        }
        if let Some(size) = self.part_size
            && !(S3_MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size)
        {
            return Err(BackupError::InvalidOption {
                option: "part size",
                reason: format!("{size} bytes is outside S3's limits for a part (5 MiB to 5 GiB)"),
            });
        }
        if !(1..=MAX_UPLOAD_CONCURRENCY).contains(&self.upload_concurrency) {
            return Err(BackupError::InvalidOption {
                option: "upload concurrency",
                reason: format!(
                    "{} parts at once; use 1 to {MAX_UPLOAD_CONCURRENCY}",
                    self.upload_concurrency
                ),
            });
        }
        Ok(())
    }
}

/// A backup of the classes you select, into S3 or any object store.
///
/// Every backup belongs to a *backup set*: its name ([`with_name`],
/// `Backup` by default) at its destination. The set is what
/// [`prune`](Self::prune) applies a retention policy to and what
/// [`run_if_due`](Self::run_if_due) schedules; another set's objects,
/// under the same prefix or elsewhere in the bucket, are never touched.
///
/// ```
/// use gludb_backup::Backup; // `gludb::backup::Backup` through the facade
/// use gludb_core::{Databases, Storable, sqlite::Sqlite};
///
/// #[derive(gludb_derive::Storable, serde::Serialize, serde::Deserialize)]
/// #[gludb(table = "Note", crate = "gludb_core")] // plain `#[gludb(table = "Note")]` via `gludb`
/// struct Note { id: String, text: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dbs = Databases::new(Sqlite::open_in_memory().await?);
/// Note::ensure_table(&dbs).await?;
/// Note { id: String::new(), text: "hello".into() }.save(&dbs).await?;
///
/// let dir = tempfile::tempdir()?;
/// let url = format!("file://{}", dir.path().display());
/// let mut backup = Backup::from_url(&url)?;    // or Backup::new(key, secret, bucket) for S3
/// assert_eq!(backup.add_class::<Note>(), 1);
/// let report = backup.run_backup(&dbs).await?;
/// assert_eq!(report.classes[0].records, 1);
/// assert!(report.key.starts_with("Backup_UTC_"));
/// # Ok(()) }
/// ```
///
/// [`with_name`]: Self::with_name
#[derive(Clone)]
pub struct Backup {
    place: Place,
    pub(crate) selection: Selection,
    pub(crate) name: String,
    pub(crate) tuning: Tuning,
    pub(crate) progress: Option<ProgressCallback>,
    pub(crate) require_tables: bool,
    pub(crate) check_records: bool,
    /// age public keys the archive is encrypted to (`None`: not encrypted).
    #[cfg(feature = "age")]
    pub(crate) recipients: Option<Vec<crate::archive::Recipient>>,
}

/// What [`Backup::with_progress`] calls.
pub(crate) type ProgressCallback = Arc<dyn Fn(&Progress) + Send + Sync>;

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup")
            .field("place", &self.place)
            .field("selection", &self.selection)
            .field("name", &self.name)
            .field("tuning", &self.tuning)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("require_tables", &self.require_tables)
            .field("check_records", &self.check_records)
            .finish()
    }
}

impl Backup {
    /// A backup to an S3 bucket, as the original's
    /// `Backup(aws_access_key, aws_secret_key, bucketname)`. Empty key or
    /// secret fall back to `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`;
    /// nothing is checked until [`run_backup`](Self::run_backup), which
    /// fails before touching anything if one is missing.
    pub fn new(access_key: &str, secret_key: &str, bucket: &str) -> Backup {
        Backup::at(Destination::s3(access_key, secret_key, bucket))
    }

    /// A backup to a destination URL: `s3://bucket[/prefix]`, `file:///dir`,
    /// `memory://`, ... (see [`Destination::from_url`]).
    pub fn from_url(url: &str) -> Result<Backup> {
        Ok(Backup::at(Destination::from_url(url)?))
    }

    /// A backup to `destination` (connected when the backup starts).
    pub fn at(destination: Destination) -> Backup {
        Backup::with_place(Place::Destination(destination))
    }

    /// A backup into a store connected already (one a service configured
    /// once, or its own `object_store`: see [`BackupStore`]).
    pub fn on(store: &BackupStore) -> Backup {
        Backup::with_place(Place::Store(store.clone()))
    }

    fn with_place(place: Place) -> Backup {
        Backup {
            place,
            selection: Selection::default(),
            name: SetName::default_set().to_string(),
            tuning: Tuning {
                compression_level: DEFAULT_GZIP_LEVEL,
                codec: Codec::Gzip,
                zstd_level: 3,
                part_size: None,
                upload_concurrency: 2,
            },
            progress: None,
            require_tables: false,
            check_records: false,
            #[cfg(feature = "age")]
            recipients: None,
        }
    }

    /// Changes the destination's settings (endpoint, prefix, S3 options);
    /// nothing for a backup [`on`](Self::on) a connected store.
    pub fn with_destination(mut self, change: impl FnOnce(Destination) -> Destination) -> Backup {
        self.place = self.place.change(change);
        self
    }

    /// Calls `report` after each batch of records with how far the backup
    /// has come (for progress bars, logs, or JSON lines). A callback that
    /// panics fails the run cleanly (upload aborted, history recorded).
    pub fn with_progress(mut self, report: impl Fn(&Progress) + Send + Sync + 'static) -> Backup {
        self.progress = Some(Arc::new(report));
        self
    }

    /// Names the backup set (default `Backup`): the last part of every
    /// object name (left out for `Backup`), the name in history records,
    /// and, with the destination and the selection, what retention and
    /// scheduling group by. 1 to 64 ASCII letters, digits, `-` and `_`
    /// (checked when the backup starts).
    pub fn with_name(mut self, name: &str) -> Backup {
        self.name = name.to_owned();
        self
    }

    /// Fail instead of backing up a class whose table does not exist (by
    /// default it is backed up as an empty member, and the run completes
    /// with a warning: `BackupStatus::CompletedWithWarnings`).
    pub fn require_tables(mut self, required: bool) -> Backup {
        self.require_tables = required;
        self
    }

    /// Decode every record with its registered type while backing up, and
    /// report those that would not restore (as warnings; the records are
    /// still backed up verbatim). Costs about one JSON parse per record.
    pub fn check_records(mut self, check: bool) -> Backup {
        self.check_records = check;
        self
    }

    /// gzip level, 1 (fastest) to 9 (smallest), on libdeflate's scale;
    /// default 1, which compresses records as small as `gzip -6` at a
    /// fifth of its time (see docs/PERFORMANCE.md).
    pub fn with_compression_level(mut self, level: u32) -> Backup {
        self.tuning.compression_level = level;
        self
    }

    /// Compress with zstd at `level` (1 to 22; 3 is zstd's default) into
    /// `Backup_…tar.zst`, on all cores, instead of gzip: faster at the same
    /// size, or smaller. Readers of the original GLUDB's format (gzip) cannot
    /// read it; every reader of gludb-rs can. Needs the `zstd` feature (a
    /// backup without it is [`BackupError::FeatureNotEnabled`]).
    pub fn with_zstd(mut self, level: i32) -> Backup {
        self.tuning.codec = Codec::Zstd;
        self.tuning.zstd_level = level;
        self
    }

    /// Encrypt the archive to these age public keys (`age1...`) into
    /// `Backup_…tar.gz.age` (`.tar.zst.age`): whoever can read the bucket
    /// cannot read the backup; any one of the matching secret keys can
    /// (`BackupStore::with_identities`, or `age -d`).
    #[cfg(feature = "age")]
    pub fn encrypt_to(
        mut self,
        recipients: impl IntoIterator<Item = crate::archive::Recipient>,
    ) -> Backup {
        self.recipients = Some(recipients.into_iter().collect());
        self
    }

    /// The format the archive is written in.
    pub(crate) fn format(&self) -> ArchiveFormat {
        #[cfg(feature = "age")]
        let encrypted = self.recipients.is_some();
        #[cfg(not(feature = "age"))]
        let encrypted = false;
        ArchiveFormat::new(self.tuning.codec, encrypted)
    }

    /// Multipart part size in bytes, 5 MiB to 5 GiB (checked when the
    /// backup starts). By default it grows with the data so any backup
    /// fits S3's 10,000 parts.
    pub fn with_part_size(mut self, bytes: usize) -> Backup {
        self.tuning.part_size = Some(bytes);
        self
    }

    /// Parts uploaded at once, 1 to 256 (default 2). Memory is about
    /// `(concurrency + 1) × part size`.
    pub fn with_upload_concurrency(mut self, parts: usize) -> Backup {
        self.tuning.upload_concurrency = parts;
        self
    }

    crate::backup::selection::selection_methods!();

    /// The store the backup writes to, connected.
    pub fn store(&self) -> Result<BackupStore> {
        self.place.store()
    }

    /// The backup set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&self) -> Result<SetName> {
        SetName::new(&self.name)
    }

    /// Runs the backup: every selected class of each database is read inside
    /// one snapshot and streamed into `Backup_UTC_<time>_<run>[_<name>].tar.gz` at the
    /// destination. A `BackupHistory` record is saved when the run starts
    /// (status `Running`) and updated when it ends, success or failure. On
    /// failure the upload is aborted: nothing is left behind.
    ///
    /// The work runs on its own task: dropping the returned future does
    /// not stop it. To stop a run (a service shutting down), use
    /// [`start`](Self::start) and its handle.
    #[doc(alias = "perform_backup")]
    pub async fn run_backup(&self, dbs: &Databases) -> Result<BackupReport> {
        self.start(dbs)?.wait().await
    }

    /// Starts the backup on its own task and returns a handle to wait for
    /// it or cancel it. Everything that can be checked without the
    /// databases is checked first: the selection, the set name, the
    /// options, the destination's credentials, and that no other run of
    /// this set is in progress in this process.
    ///
    /// Must be called inside a Tokio runtime. If the runtime shuts down
    /// while the run is in progress, the run cannot abort its upload; a
    /// service should [`cancel`](RunningBackup::cancel) and wait for its
    /// runs before shutting down (an upload left behind is found by
    /// `BackupStore::find_orphans`).
    pub fn start(&self, dbs: &Databases) -> Result<RunningBackup> {
        if self.selection.is_empty() {
            return Err(BackupError::NothingSelected);
        }
        let set_name = self.set_name()?;
        self.tuning.check()?;
        #[cfg(feature = "age")]
        if self.recipients.as_ref().is_some_and(Vec::is_empty) {
            // An empty list from configuration must not mean "in the clear".
            return Err(BackupError::InvalidOption {
                option: "encryption",
                reason: "encrypt_to was given no recipients: the backup would not be encrypted"
                    .into(),
            });
        }
        check_member_names(&self.selection)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            BackupError::io("starting a backup", std::io::Error::other(e.to_string()))
        })?;
        let store = self.place.store()?;
        let started = next_run_time();
        let connected = store.connected();
        let id = SetId::new(connected, &set_name, &self.selection);
        let key =
            BackupKey::new(set_name.clone(), id.selection(), started).with_format(self.format());
        let path = connected.path_of(&key.file_name());
        let guard = set::begin_run(&id, &connected.description, path.as_ref())?;
        let cancel = CancellationToken::new();
        let run = Run {
            backup: self.clone(),
            dbs: dbs.clone(),
            store: store.clone(),
            set: set_name,
            started,
            path: path.clone(),
            cancel: cancel.clone(),
            _guard: guard,
        };
        Ok(RunningBackup::new(
            path.to_string(),
            cancel,
            runtime.spawn(run.execute()),
        ))
    }

    /// Runs the backup unless its set completed a run less than
    /// `min_interval` ago (measured from the end of that run) whose archive
    /// is still in the store, or a run of the set is in progress in this
    /// process. Reads the `BackupHistory`
    /// records, so a restarted service keeps its schedule: a service can
    /// call this on every tick. `Ok(None)` when it was not due.
    pub async fn run_if_due(
        &self,
        dbs: &Databases,
        min_interval: std::time::Duration,
    ) -> Result<Option<BackupReport>> {
        match self.start_if_due(dbs, min_interval).await? {
            Some(running) => running.wait().await.map(Some),
            None => Ok(None),
        }
    }

    /// [`run_if_due`](Self::run_if_due) that returns the run's handle
    /// instead of waiting for it, so a service can cancel it on shutdown.
    pub async fn start_if_due(
        &self,
        dbs: &Databases,
        min_interval: std::time::Duration,
    ) -> Result<Option<RunningBackup>> {
        let set_name = self.set_name()?;
        let store = self.place.store()?;
        let id = SetId::new(store.connected(), &set_name, &self.selection);
        if set::is_running(&id) {
            tracing::debug!(set = %set_name, "backup not due: a run is in progress");
            return Ok(None);
        }
        let last = BackupHistory::last_completed_run(
            dbs,
            &set_name,
            &store.connected().identity,
            id.selection(),
        )
        .await?;
        if let Some((ended, key)) = last.and_then(|run| Some((run.ended()?, run.key))) {
            let since = OffsetDateTime::now_utc() - ended;
            // The history is only a claim: a recent run whose archive is no
            // longer in the store (deleted, or a new store that describes
            // itself as the old one did) protects nothing, so run now.
            if since < min_interval && self.archive_still_there(&store, &key).await {
                tracing::debug!(set = %set_name, %since, "backup not due yet");
                return Ok(None);
            }
        }
        match self.start(dbs) {
            Ok(running) => Ok(Some(running)),
            // Another task started the set between the check and now.
            Err(BackupError::AlreadyRunning { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the archive of the set's last completed run is still in the
    /// store. A store that cannot be asked right now is given the benefit
    /// of the doubt (the history says the archive is there; a run would
    /// fail on the same store anyway).
    async fn archive_still_there(&self, store: &BackupStore, key: &str) -> bool {
        match store.stat(key).await {
            Ok(_) => true,
            Err(BackupError::NotFound { .. }) => {
                tracing::info!(
                    key,
                    "the last completed backup is no longer in the store: running now"
                );
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, key, "could not check the last backup is still in the store");
                true
            }
        }
    }

    /// When this backup's set last completed a run (the end of that run),
    /// from the `BackupHistory` records in `dbs`: what
    /// [`run_if_due`](Self::run_if_due) measures from. `None` if it never
    /// has.
    pub async fn last_completed(&self, dbs: &Databases) -> Result<Option<OffsetDateTime>> {
        let set_name = self.set_name()?;
        let store = self.place.store()?;
        let id = SetId::new(store.connected(), &set_name, &self.selection);
        Ok(BackupHistory::last_completed(
            dbs,
            &set_name,
            &store.connected().identity,
            id.selection(),
        )
        .await?)
    }

    /// This set's backups at the destination, newest first (other sets'
    /// objects — other names, other selections — and anything in
    /// sub-folders are not listed).
    pub async fn list(&self) -> Result<Vec<BackupListing>> {
        let set_name = self.set_name()?;
        let store = self.place.store()?;
        let id = SetId::new(store.connected(), &set_name, &self.selection);
        let filter = SetFilter {
            name: &set_name,
            selection: Some(id.selection()),
        };
        list_backups(store.connected(), Some(filter)).await
    }

    /// Deletes this set's backups that `policy` does not keep. Only this
    /// set's objects directly under the destination's prefix are
    /// considered: other sets and other applications' objects are never
    /// touched. A policy that keeps nothing is refused.
    pub async fn prune(&self, policy: &Retention) -> Result<PruneReport> {
        self.prune_with(policy, false).await
    }

    /// What [`prune`](Self::prune) would delete, deleting nothing.
    pub async fn prune_dry_run(&self, policy: &Retention) -> Result<PruneReport> {
        self.prune_with(policy, true).await
    }

    async fn prune_with(&self, policy: &Retention, dry_run: bool) -> Result<PruneReport> {
        let set_name = self.set_name()?;
        let store = self.place.store()?;
        let id = SetId::new(store.connected(), &set_name, &self.selection);
        prune(
            store.connected(),
            &set_name,
            Some(id.selection()),
            policy,
            dry_run,
        )
        .await
    }
}

/// Two selected types with one member name would write two members of
/// that name, and a reader would see only one of them.
fn check_member_names(selection: &Selection) -> Result<()> {
    let classes = selection.classes();
    for (i, class) in classes.iter().enumerate() {
        let name = class.backup_name();
        let clashing: Vec<String> = classes[i..]
            .iter()
            .filter(|other| other.backup_name() == name)
            .map(|other| format!("`{}`", other.full_name()))
            .collect();
        if clashing.len() > 1 {
            return Err(BackupError::DuplicateMember {
                member: format!("{name}.json"),
                types: clashing.join(" and "),
            });
        }
    }
    Ok(())
}
