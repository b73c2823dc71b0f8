//! One run of a backup: a snapshot per database, the tar, gzip and upload
//! stages running at once, then the history record and the report.
//!
//! Whatever happens to the data phase — an error, a panic in code it calls
//! (a progress callback), a cancel through the handle — the run ends the
//! same way: the upload is aborted and a `Failed` history record says why.
//! Once the upload is being completed the run is no longer cancellable:
//! stopping half-way through a completion would leave nobody knowing
//! whether the object exists.

use std::{future::Future, panic::AssertUnwindSafe, pin::Pin, sync::Arc, task};

use futures_util::{FutureExt, StreamExt};
use gludb_core::{Backend, Databases, Snapshot, TableSpec, TableStats, TypeInfo, record};
use object_store::{ObjectStoreExt, path::Path};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    Backup, BackupError, BackupHistory, BackupReport, BackupStatus, ClassCount, ClassReport,
    Progress, Result,
    archive::{ArchiveWriter, Manifest, MemberManifest, SetName},
    compress::{ChunkWriter, chunk_channel, compress_chunks},
    destination::Connected,
    orphans,
    set::{self, RunGuard},
    upload::{Upload, part_size_for},
};

/// A backup running on its own task (see [`Backup::start`]).
///
/// Dropping the handle leaves the run going; [`wait`](Self::wait) for it,
/// or [`cancel`](Self::cancel) it: a cancelled run aborts its upload,
/// records a `Failed` history entry, and ends with
/// [`BackupError::Cancelled`].
#[derive(Debug)]
pub struct RunningBackup {
    key: String,
    cancel: CancellationToken,
    task: JoinHandle<Result<BackupReport>>,
}

impl RunningBackup {
    pub(crate) fn new(
        key: String,
        cancel: CancellationToken,
        task: JoinHandle<Result<BackupReport>>,
    ) -> Self {
        RunningBackup { key, cancel, task }
    }

    /// The key the run writes (prefix included).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Asks the run to stop. It aborts its upload and records a `Failed`
    /// history entry; [`wait`](Self::wait) returns when it has. A run that
    /// is already completing its upload finishes instead.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the run to end and returns its outcome.
    pub async fn wait(self) -> Result<BackupReport> {
        self.await
    }
}

impl Future for RunningBackup {
    type Output = Result<BackupReport>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> task::Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(if e.is_panic() {
                    BackupError::Panicked {
                        message: panic_message(e.into_panic()),
                    }
                } else {
                    BackupError::io(
                        "running the backup",
                        std::io::Error::other("the runtime shut down before the run ended"),
                    )
                })
            })
        })
    }
}

/// The text of a panic payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// One run of a backup, owned by its task.
pub(crate) struct Run {
    pub(crate) backup: Backup,
    pub(crate) dbs: Databases,
    pub(crate) connected: Connected,
    pub(crate) set: SetName,
    pub(crate) started: OffsetDateTime,
    pub(crate) path: Path,
    pub(crate) cancel: CancellationToken,
    /// Marks the set as running until the run (and with it this task) ends.
    pub(crate) _guard: RunGuard,
}

/// A selected class with where it is read from.
struct Source {
    info: &'static TypeInfo,
    spec: TableSpec,
    snapshot: usize,
}

/// What the archive ended up holding.
struct Written {
    members: Vec<MemberManifest>,
    /// Classes whose table did not exist (backed up empty).
    missing: Vec<String>,
    warnings: Vec<String>,
    sent: u64,
}

impl Run {
    pub(crate) async fn execute(self) -> Result<BackupReport> {
        let key = self.path.to_string();
        let mut log = vec![format!(
            "Starting backup at {}",
            record::format_timestamp(self.started)
        )];
        log.extend(self.backup.selection.log().iter().cloned());
        tracing::info!(destination = %self.connected.description, %key, "backup started");
        let mut history = self.history(&key);
        history.backup_log.clone_from(&log);
        history.record(&self.dbs).await;

        let outcome = self.write_archive(&mut log).await;
        match &outcome {
            Ok(written) => {
                log.push(format!(
                    "Sent {} bytes to {} with key {key}",
                    written.sent, self.connected.description
                ));
                for warning in &written.warnings {
                    log.push(format!("Warning: {warning}"));
                    tracing::warn!(%key, "{warning}");
                }
                log.push("Backup completed".to_owned());
                tracing::info!(%key, bytes = written.sent, "backup completed");
            }
            Err(e) => {
                log.push(format!("Backup failed: {e}"));
                tracing::error!(%key, error = %e, "backup failed");
            }
        }
        finish_history(&mut history, &outcome, log.clone());
        let history_id = history.record(&self.dbs).await;
        let written = outcome?;
        Ok(BackupReport {
            set: self.set.to_string(),
            bucket: self.connected.location.clone(),
            key,
            destination: self.connected.description.clone(),
            classes: written
                .members
                .iter()
                .map(|m| ClassReport {
                    name: m.class_name().to_owned(),
                    records: m.records,
                    bytes: m.bytes,
                    sha256: m.sha256.clone(),
                    table_missing: written.missing.iter().any(|c| c == m.class_name()),
                })
                .collect(),
            archive_bytes: written.sent,
            log,
            history_id,
            warnings: written.warnings,
        })
    }

    /// The run's `BackupHistory` record as it starts.
    fn history(&self, key: &str) -> BackupHistory {
        BackupHistory {
            id: String::new(),
            name: self.set.to_string(),
            timestamp: record::format_timestamp(self.started),
            finished: None,
            destination: self.connected.description.clone(),
            bucketname: self.connected.location.clone(),
            key: key.to_owned(),
            classes: Vec::new(),
            archive_bytes: 0,
            backup_log: Vec::new(),
            status: BackupStatus::Running,
            error: None,
            warnings: Vec::new(),
            selection: set::fingerprint(&self.backup.selection),
        }
    }

    /// Streams every class into the upload and completes it; aborts the
    /// upload on any error, panic or cancel.
    async fn write_archive(&self, log: &mut Vec<String>) -> Result<Written> {
        let tuning = self.backup.tuning;
        // The part size is settled once the tables are measured; until
        // then nothing is uploaded.
        let mut upload = Upload::new(
            Arc::clone(&self.connected.store),
            self.path.clone(),
            tuning.part_size.unwrap_or(usize::MAX),
            tuning.upload_concurrency,
        );
        let data_phase = AssertUnwindSafe(self.stream_data(&mut upload, log)).catch_unwind();
        let outcome = tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(BackupError::Cancelled),
            streamed = data_phase => streamed.unwrap_or_else(|panic| {
                Err(BackupError::Panicked { message: panic_message(panic) })
            }),
        };
        let outcome = match outcome {
            Ok(written) => self.complete(&mut upload).await.map(|()| Written {
                sent: upload.bytes_sent(),
                ..written
            }),
            Err(e) => Err(e),
        };
        if outcome.is_err()
            && let Err(abort) = upload.abort().await
        {
            tracing::error!(error = %abort, "aborting the upload failed; parts may remain");
        }
        if upload.multipart_requested() {
            // An upload created for this run whose answer was lost (the
            // client retried and used another) is left over otherwise.
            match orphans::abort_uploads_of(&self.connected, self.path.as_ref()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(key = %self.path, n, "aborted stray uploads of this run"),
                Err(e) => tracing::warn!(key = %self.path, error = %e,
                    "could not check for stray uploads of this run; `find_orphans` will list any"),
            }
        }
        outcome
    }

    /// Completes the upload. If the store reports a failure but the object
    /// is there with every byte (a completion whose answer was lost and
    /// whose retry was refused), the backup did complete.
    async fn complete(&self, upload: &mut Upload) -> Result<()> {
        let destination = &self.connected.description;
        let Err(error) = upload.finish().await else {
            return Ok(());
        };
        match self.connected.store.head(&self.path).await {
            Ok(meta) if meta.size == upload.bytes_sent() => {
                tracing::warn!(key = %self.path, error = %error,
                    "completing the upload reported an error, but the object is complete");
                Ok(())
            }
            _ => Err(BackupError::store(
                destination,
                "completing the upload",
                error,
            )),
        }
    }

    /// Opens one snapshot per database, then streams every class through
    /// tar and gzip into the upload.
    async fn stream_data(&self, upload: &mut Upload, log: &mut Vec<String>) -> Result<Written> {
        let (sources, mut snapshots) = self.open_snapshots().await?;
        let mut stats = Vec::with_capacity(sources.len());
        let mut missing = Vec::new();
        let mut warnings = Vec::new();
        for source in &sources {
            let table_stats = snapshots[source.snapshot]
                .table_stats(&source.spec.table)
                .await?;
            if !table_stats.exists {
                let class = source.info.backup_name();
                if self.backup.require_tables {
                    return Err(BackupError::MissingTable {
                        class,
                        table: source.spec.table.to_string(),
                    });
                }
                warnings.push(format!(
                    "table {} of {class} does not exist: backed up as empty",
                    source.spec.table
                ));
                missing.push(class);
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
        if self.backup.tuning.part_size.is_none() {
            upload.set_part_size(part_size_for(tar_bound + tar_bound / 100));
        }
        // Three stages run at once: the database thread reads records, this
        // task frames them as tar, blocking threads compress chunks.
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let (chunk_writer, chunks) = chunk_channel(workers + 1);
        let mtime = self.started.unix_timestamp().max(0) as u64;
        let archive = ArchiveWriter::new(chunk_writer, mtime);
        let produce = self.produce(archive, &sources, &stats, &mut snapshots, log);
        let destination = &self.connected.description;
        let compress = async {
            let members = compress_chunks(chunks, self.backup.tuning.compression_level, workers);
            let mut members = std::pin::pin!(members);
            while let Some(member) = members.next().await {
                let member = member.map_err(|e| BackupError::io("compressing", e))?;
                upload
                    .put(member)
                    .await
                    .map_err(|e| BackupError::store(destination, "uploading", e))?;
            }
            Ok::<(), BackupError>(())
        };
        let (produced, compressed) = tokio::join!(produce, compress);
        for snapshot in snapshots {
            if let Err(e) = snapshot.finish().await {
                tracing::warn!(error = %e, "ending a read snapshot failed");
            }
        }
        // A failed upload stops the compressor, which then makes the tar
        // side fail too: the compressor's error is the cause.
        compressed?;
        let (members, record_warnings) = produced?;
        warnings.extend(record_warnings);
        Ok(Written {
            members,
            missing,
            warnings,
            sent: 0,
        })
    }

    /// Writes every class, then the manifest, into the tar stream. Takes the
    /// archive by value: dropping it when done (or failed) closes the chunk
    /// channel, which ends the compressor.
    async fn produce(
        &self,
        mut archive: ArchiveWriter<ChunkWriter>,
        sources: &[Source],
        stats: &[TableStats],
        snapshots: &mut [Box<dyn Snapshot>],
        log: &mut Vec<String>,
    ) -> Result<(Vec<MemberManifest>, Vec<String>)> {
        let mut members = Vec::with_capacity(sources.len());
        let mut warnings = Vec::new();
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
            let check = self.backup.check_records.then_some(source.info);
            let written = archive
                .write_member(
                    source.info,
                    source.spec.table.as_str(),
                    *stats,
                    records,
                    check,
                    &mut on_batch,
                )
                .await
                .map_err(|e| match e {
                    BackupError::Io { context, source } => {
                        BackupError::from_pipeline(source, &self.connected.description, &context)
                    }
                    other => other,
                })?;
            log.push(format!(
                "{name} => {} records backed up",
                written.manifest.records
            ));
            tracing::info!(class = %name, records = written.manifest.records, "class backed up");
            warnings.extend(written.problems);
            members.push(written.manifest);
        }
        let created = self
            .started
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let manifest = Manifest::new(created, members.clone()).with_set(self.set.as_str());
        archive.finish(&manifest).await.map_err(|e| {
            BackupError::from_pipeline(e, &self.connected.description, "writing the manifest")
        })?;
        Ok((members, warnings))
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

/// Fills in how the run ended.
fn finish_history(history: &mut BackupHistory, outcome: &Result<Written>, log: Vec<String>) {
    history.finished = Some(record::now_timestamp());
    history.backup_log = log;
    match outcome {
        Ok(written) => {
            history.classes = written
                .members
                .iter()
                .map(|m| ClassCount {
                    name: m.class_name().to_owned(),
                    records: m.records,
                })
                .collect();
            history.archive_bytes = written.sent;
            history.warnings.clone_from(&written.warnings);
            history.status = if written.warnings.is_empty() {
                BackupStatus::Completed
            } else {
                BackupStatus::CompletedWithWarnings
            };
        }
        Err(e) => {
            history.status = BackupStatus::Failed;
            history.error = Some(e.to_string());
        }
    }
}
