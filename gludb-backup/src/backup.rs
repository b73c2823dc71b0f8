//! `Backup`: pick classes, then stream them from one snapshot per database
//! into one archive in the destination.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use gludb_core::{Backend, Databases, Snapshot, TableSpec, TypeInfo, record};
use time::OffsetDateTime;

use crate::{
    BackupError, BackupHistory, BackupReport, BackupStatus, ClassCount, ClassReport, Destination,
    Progress, Result, Selection,
    archive::{ArchiveWriter, Manifest, MemberManifest, backup_file_name},
    compress::{ChunkWriter, chunk_channel, compress_chunks},
    destination::Connected,
    upload::{Upload, part_size_for},
};

/// Tuning of the archive and its upload.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    compression_level: u32,
    part_size: Option<usize>,
    upload_concurrency: usize,
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
    selection: Selection,
    name: String,
    tuning: Tuning,
    progress: Option<ProgressCallback>,
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

/// One run of a backup, owned by its task.
struct Run {
    backup: Backup,
    dbs: Databases,
    connected: Connected,
    started: OffsetDateTime,
}

/// A selected class with where it is read from.
struct Source {
    info: &'static TypeInfo,
    spec: TableSpec,
    snapshot: usize,
}

impl Run {
    async fn execute(self) -> Result<BackupReport> {
        let file_name = backup_file_name(self.started);
        let path = self.connected.path_of(&file_name);
        let key = path.to_string();
        let mut log = vec![format!(
            "Starting backup at {}",
            record::format_timestamp(self.started)
        )];
        log.extend(self.backup.selection.log().iter().cloned());
        tracing::info!(destination = %self.connected.description, %key, "backup started");

        let outcome = self.write_archive(&path, &mut log).await;
        let (members, sent) = match &outcome {
            Ok((members, sent)) => (members.clone(), *sent),
            Err(_) => (Vec::new(), 0),
        };
        let classes: Vec<ClassCount> = members
            .iter()
            .map(|m| ClassCount {
                name: m.name.trim_end_matches(".json").to_owned(),
                records: m.records,
            })
            .collect();
        match &outcome {
            Ok(_) => {
                log.push(format!(
                    "Sent {sent} bytes to {} with key {key}",
                    self.connected.description
                ));
                log.push("Backup completed".to_owned());
                tracing::info!(%key, bytes = sent, "backup completed");
            }
            Err(e) => {
                log.push(format!("Backup failed: {e}"));
                tracing::error!(%key, error = %e, "backup failed");
            }
        }
        let history = BackupHistory {
            id: String::new(),
            name: self.backup.name.clone(),
            timestamp: record::format_timestamp(self.started),
            destination: self.connected.description.clone(),
            bucketname: self.connected.location.clone(),
            key: key.clone(),
            classes,
            archive_bytes: sent,
            backup_log: log.clone(),
            status: if outcome.is_ok() {
                BackupStatus::Completed
            } else {
                BackupStatus::Failed
            },
            error: outcome.as_ref().err().map(ToString::to_string),
        };
        let history_id = history.record(&self.dbs).await;
        outcome?;
        Ok(BackupReport {
            bucket: self.connected.location.clone(),
            key,
            destination: self.connected.description.clone(),
            classes: members
                .into_iter()
                .map(|m| ClassReport {
                    name: m.name.trim_end_matches(".json").to_owned(),
                    records: m.records,
                    bytes: m.bytes,
                    sha256: m.sha256,
                })
                .collect(),
            archive_bytes: sent,
            log,
            history_id,
        })
    }

    /// Opens one snapshot per database, then streams every class into the
    /// upload; aborts the upload on any error.
    async fn write_archive(
        &self,
        path: &object_store::path::Path,
        log: &mut Vec<String>,
    ) -> Result<(Vec<MemberManifest>, u64)> {
        let (sources, mut snapshots) = self.open_snapshots().await?;
        let mut stats = Vec::with_capacity(sources.len());
        for source in &sources {
            let table_stats = snapshots[source.snapshot]
                .table_stats(&source.spec.table)
                .await?;
            if !table_stats.exists {
                log.push(format!(
                    "Table {} of {} does not exist: backed up as empty",
                    source.spec.table,
                    source.info.backup_name()
                ));
            }
            stats.push(table_stats);
        }
        // Tar adds at most a 512-byte header, 511 bytes of padding and a
        // long-name entry per member; gzip can grow incompressible data a little.
        let tar_bound: u64 = stats
            .iter()
            .map(|s| s.value_bytes + s.records + 2048)
            .sum::<u64>()
            + 64 * 1024;
        let tuning = self.backup.tuning;
        let part_size = tuning
            .part_size
            .unwrap_or_else(|| part_size_for(tar_bound + tar_bound / 100));
        let mut upload = Upload::new(
            Arc::clone(&self.connected.store),
            path.clone(),
            part_size,
            tuning.upload_concurrency,
        );
        // Three stages run at once: the database thread reads records, this
        // task frames them as tar, blocking threads compress chunks.
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let (chunk_writer, chunks) = chunk_channel(workers + 1);
        let mtime = self.started.unix_timestamp().max(0) as u64;
        let archive = ArchiveWriter::new(chunk_writer, mtime);
        let produce = self.produce(archive, &sources, &stats, &mut snapshots, log);
        let compress = compress_chunks(chunks, tuning.compression_level, workers, &mut upload);
        let (produced, compressed) = tokio::join!(produce, compress);
        let destination = &self.connected.description;
        // A failed upload stops the compressor, which then makes the tar
        // side fail too: the compressor's error is the cause.
        let outcome =
            match (produced, compressed) {
                (_, Err(e)) => Err(BackupError::from_pipeline(e, destination, "uploading")),
                (Err(e), Ok(())) => Err(e),
                (Ok(members), Ok(())) => upload.shutdown().await.map(|()| members).map_err(|e| {
                    BackupError::from_pipeline(e, destination, "completing the upload")
                }),
            };
        for snapshot in snapshots {
            if let Err(e) = snapshot.finish().await {
                tracing::warn!(error = %e, "ending a read snapshot failed");
            }
        }
        match outcome {
            Ok(members) => Ok((members, upload.bytes_sent())),
            Err(e) => {
                if let Err(abort) = upload.abort().await {
                    tracing::error!(error = %abort, "aborting the upload failed; parts may remain");
                }
                Err(e)
            }
        }
    }

    /// Writes every class, then the manifest, into the tar stream. Takes the
    /// archive by value: dropping it when done (or failed) closes the chunk
    /// channel, which ends the compressor.
    async fn produce(
        &self,
        mut archive: ArchiveWriter<ChunkWriter>,
        sources: &[Source],
        stats: &[gludb_core::TableStats],
        snapshots: &mut [Box<dyn Snapshot>],
        log: &mut Vec<String>,
    ) -> Result<Vec<MemberManifest>> {
        let mut members = Vec::with_capacity(sources.len());
        let mut progress = Progress {
            class: String::new(),
            records: 0,
            total_records: stats.iter().map(|s| s.records).sum(),
            bytes: 0,
            total_bytes: stats.iter().map(|s| s.value_bytes + s.records).sum(),
        };
        for (source, stats) in sources.iter().zip(stats) {
            let name = source.info.backup_name();
            log.push(format!("Backing up {name}"));
            progress.class.clone_from(&name);
            let mut on_batch = |records: u64, bytes: u64| {
                progress.records += records;
                progress.bytes += bytes;
                if let Some(report) = &self.backup.progress {
                    report(&progress);
                }
            };
            let records = snapshots[source.snapshot].records(&source.spec.table);
            let member = archive
                .write_member(
                    source.info,
                    &source.spec.table,
                    *stats,
                    records,
                    &mut on_batch,
                )
                .await
                .map_err(|e| match e {
                    BackupError::Io { context, source } => {
                        BackupError::from_pipeline(source, &self.connected.description, &context)
                    }
                    other => other,
                })?;
            log.push(format!("{name} => {} records backed up", member.records));
            tracing::info!(class = %name, records = member.records, "class backed up");
            members.push(member);
        }
        let created = self
            .started
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let manifest = Manifest::new(created, members.clone());
        archive.finish(&manifest).await.map_err(|e| {
            BackupError::from_pipeline(e, &self.connected.description, "writing the manifest")
        })?;
        Ok(members)
    }

    /// One snapshot per distinct database, opened before any data is read.
    async fn open_snapshots(&self) -> Result<(Vec<Source>, Vec<Box<dyn Snapshot>>)> {
        let mut databases: Vec<Arc<dyn Backend>> = Vec::new();
        let mut sources = Vec::new();
        for &info in self.backup.selection.classes() {
            let (db, spec) = self.dbs.resolve(info)?;
            let snapshot = match databases
                .iter()
                .position(|known| known.instance_id() == db.instance_id())
            {
                Some(index) => index,
                None => {
                    databases.push(Arc::clone(db));
                    databases.len() - 1
                }
            };
            sources.push(Source {
                info,
                spec,
                snapshot,
            });
        }
        let mut snapshots = Vec::with_capacity(databases.len());
        for db in &databases {
            snapshots.push(db.snapshot().await?);
        }
        Ok((sources, snapshots))
    }
}
