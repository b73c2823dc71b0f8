//! `Backup`: what to back up, where, and how; `run_backup` hands the work
//! to [`crate::run`].

use std::sync::Arc;

use gludb_core::Databases;
use time::OffsetDateTime;

use crate::{
    BackupError, BackupHistory, BackupReport, Destination, Progress, Result, Selection, run::Run,
};

/// Tuning of the archive and its upload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    pub(crate) compression_level: u32,
    pub(crate) part_size: Option<usize>,
    pub(crate) upload_concurrency: usize,
}

/// A backup of the classes you select, into S3 or any object store.
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
/// assert!(report.key.starts_with("Backup_"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Backup {
    destination: Destination,
    pub(crate) selection: Selection,
    pub(crate) name: String,
    pub(crate) tuning: Tuning,
    pub(crate) progress: Option<ProgressCallback>,
}

/// What [`Backup::with_progress`] calls.
type ProgressCallback = Arc<dyn Fn(&Progress) + Send + Sync>;

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup")
            .field("destination", &self.destination)
            .field("selection", &self.selection)
            .field("name", &self.name)
            .field("tuning", &self.tuning)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
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
        Backup::to(Destination::s3(access_key, secret_key, bucket))
    }

    /// A backup to a destination URL: `s3://bucket[/prefix]`, `file:///dir`,
    /// `memory://`, ... (see [`Destination::from_url`]).
    pub fn from_url(url: &str) -> Result<Backup> {
        Ok(Backup::to(Destination::from_url(url)?))
    }

    /// A backup to `destination`.
    pub fn to(destination: Destination) -> Backup {
        Backup {
            destination,
            selection: Selection::default(),
            name: "backup".to_owned(),
            tuning: Tuning {
                compression_level: 3,
                part_size: None,
                upload_concurrency: 2,
            },
            progress: None,
        }
    }

    /// Changes the destination's settings (endpoint, prefix, S3 options).
    pub fn with_destination(mut self, change: impl FnOnce(Destination) -> Destination) -> Backup {
        self.destination = change(self.destination);
        self
    }

    /// Calls `report` after each batch of records with how far the backup
    /// has come (for progress bars, logs, or JSON lines).
    pub fn with_progress(mut self, report: impl Fn(&Progress) + Send + Sync + 'static) -> Backup {
        self.progress = Some(Arc::new(report));
        self
    }

    /// Names the backup in its history records (default `backup`).
    pub fn with_name(mut self, name: &str) -> Backup {
        self.name = name.to_owned();
        self
    }

    /// gzip level, 1 (fastest) to 9 (smallest); default 3, which with
    /// zlib-rs compresses about as well as `gzip -6`.
    pub fn with_compression_level(mut self, level: u32) -> Backup {
        self.tuning.compression_level = level.clamp(1, 9);
        self
    }

    /// Multipart part size in bytes (at least 5 MiB). By default it grows
    /// with the data so any backup fits S3's 10,000 parts.
    pub fn with_part_size(mut self, bytes: usize) -> Backup {
        self.tuning.part_size = Some(bytes.max(5 * 1024 * 1024));
        self
    }

    /// Parts uploaded at once (default 2). Memory is about
    /// `(concurrency + 1) × part size`.
    pub fn with_upload_concurrency(mut self, parts: usize) -> Backup {
        self.tuning.upload_concurrency = parts.max(1);
        self
    }

    crate::selection::selection_methods!();

    /// The destination.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// Runs the backup unless one of the same name (see
    /// [`with_name`](Self::with_name)) completed less than `min_interval`
    /// ago, according to the `BackupHistory` records: a service can call this
    /// on every tick. `Ok(None)` when it was not due.
    pub async fn run_if_due(
        &self,
        dbs: &Databases,
        min_interval: std::time::Duration,
    ) -> Result<Option<BackupReport>> {
        if let Some(last) = BackupHistory::last_completed(dbs, &self.name).await? {
            let since = OffsetDateTime::now_utc() - last;
            if since < min_interval {
                tracing::info!(name = %self.name, %since, "backup not due yet");
                return Ok(None);
            }
        }
        self.run_backup(dbs).await.map(Some)
    }

    /// Runs the backup: every selected class of each database is read inside
    /// one snapshot and streamed into `Backup_<time>.tar.gz` at the
    /// destination. A `BackupHistory` record is saved for the run, success
    /// or failure. On failure the upload is aborted: nothing is left behind.
    ///
    /// The work runs on its own task: dropping the returned future does not
    /// leave a half-written upload; the run completes or aborts cleanly.
    #[doc(alias = "perform_backup")]
    pub async fn run_backup(&self, dbs: &Databases) -> Result<BackupReport> {
        if self.selection.is_empty() {
            return Err(BackupError::NothingSelected);
        }
        let connected = self.destination.connect()?;
        let run = Run {
            backup: self.clone(),
            dbs: dbs.clone(),
            connected,
            started: OffsetDateTime::now_utc(),
        };
        tokio::spawn(run.execute())
            .await
            .map_err(|e| BackupError::io("running the backup", std::io::Error::other(e)))?
    }
}
