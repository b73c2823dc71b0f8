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
use gludb_core::{Databases, record};
use object_store::{ObjectStoreExt, path::Path};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    set::{self, RunGuard},
    snapshot::Snapshots,
};
use crate::{
    Backup, BackupError, BackupHistory, BackupReport, BackupStatus, BackupStore, ClassCount,
    ClassReport, Progress, Result,
    archive::{
        ArchiveWriter, Codec, Manifest, MemberManifest, SetName,
        compress::{ChunkWriter, Compression, chunk_channel, compress_chunks},
        selection_tag,
    },
    store::{
        orphans,
        upload::{Upload, part_size_for},
    },
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
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
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
    pub(crate) store: BackupStore,
    pub(crate) set: SetName,
    pub(crate) started: OffsetDateTime,
    pub(crate) path: Path,
    pub(crate) cancel: CancellationToken,
    /// Marks the set as running until the run (and with it this task) ends.
    pub(crate) _guard: RunGuard,
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
        tracing::info!(destination = %self.store.connected().description, %key, "backup started");
        let mut history = self.history(&key);
        let outcome = self.write_archive(&mut log, &mut history).await;
        match &outcome {
            Ok(written) => {
                log.push(format!(
                    "Sent {} bytes to {} with key {key}",
                    written.sent,
                    self.store.connected().description
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
            bucket: self.store.connected().location.clone(),
            key,
            destination: self.store.connected().description.clone(),
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
            destination: self.store.connected().description.clone(),
            store: self.store.connected().identity.clone(),
            bucketname: self.store.connected().location.clone(),
            key: key.to_owned(),
            classes: Vec::new(),
            archive_bytes: 0,
            backup_log: Vec::new(),
            status: BackupStatus::Running,
            error: None,
            warnings: Vec::new(),
            selection: set::full_names(&self.backup.selection),
        }
    }

    /// Streams every class into the upload and completes it; aborts the
    /// upload on any error, panic or cancel.
    async fn write_archive(
        &self,
        log: &mut Vec<String>,
        history: &mut BackupHistory,
    ) -> Result<Written> {
        let tuning = self.backup.tuning;
        // The part size is settled once the tables are measured; until
        // then nothing is uploaded.
        let mut upload = Upload::new(
            Arc::clone(&self.store.connected().store),
            self.path.clone(),
            tuning.part_size.unwrap_or(usize::MAX),
            tuning.upload_concurrency,
        );
        let data_phase =
            AssertUnwindSafe(self.stream_data(&mut upload, log, history)).catch_unwind();
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
            match orphans::abort_uploads_of(self.store.connected(), self.path.as_ref()).await {
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
        let destination = &self.store.connected().description;
        let Err(error) = upload.finish().await else {
            return Ok(());
        };
        match self.store.connected().store.head(&self.path).await {
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
    async fn stream_data(
        &self,
        upload: &mut Upload,
        log: &mut Vec<String>,
        history: &mut BackupHistory,
    ) -> Result<Written> {
        // A table the last completed run backed up records of must not
        // have vanished (dropped, renamed): backing it up as empty would
        // let retention rotate out the last backup that holds its data.
        let last = BackupHistory::last_completed_run(
            &self.dbs,
            &self.set,
            &self.store.connected().identity,
            &selection_tag(&history.selection),
        )
        .await?;
        let had_records = |class: &str| {
            last.as_ref().and_then(|run| {
                run.classes
                    .iter()
                    .find(|c| c.name == class && c.records > 0)
                    .map(|c| c.records)
            })
        };
        let mut snapshots = Snapshots::open(
            &self.dbs,
            &self.backup.selection,
            self.backup.require_tables,
            &had_records,
        )
        .await?;
        // Recorded once the snapshots are open, so that a backup of the
        // history table does not hold this run as `Running`.
        history.backup_log.clone_from(log);
        history.record(&self.dbs).await;
        if self.backup.tuning.part_size.is_none() {
            // gzip can grow incompressible data a little.
            let bound = snapshots.tar_bound();
            upload.set_part_size(part_size_for(bound + bound / 100));
        }
        // Three stages run at once: the database thread reads records, this
        // task frames them as tar, blocking threads compress chunks.
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let (chunk_writer, chunks) = chunk_channel(workers + 1);
        let mtime = self.started.unix_timestamp().max(0) as u64;
        let archive = ArchiveWriter::new(chunk_writer, mtime);
        let produce = self.produce(archive, &mut snapshots, log);
        let destination = &self.store.connected().description;
        let tuning = &self.backup.tuning;
        let compression = Compression {
            codec: tuning.codec,
            level: match tuning.codec {
                Codec::Gzip => i32::try_from(tuning.compression_level).unwrap_or(9),
                Codec::Zstd => tuning.zstd_level,
            },
        };
        let compress = async {
            let members = compress_chunks(chunks, compression, workers);
            #[cfg(feature = "age")]
            let members: futures_util::stream::BoxStream<'_, std::io::Result<Vec<u8>>> =
                match &self.backup.recipients {
                    None => members.boxed(),
                    Some(recipients) => crate::archive::encrypt::encrypt(members, recipients)
                        .map_err(|e| BackupError::io("starting the encryption", e))?
                        .boxed(),
                };
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
        let (missing, mut warnings) = (
            std::mem::take(&mut snapshots.missing),
            std::mem::take(&mut snapshots.warnings),
        );
        snapshots.finish().await;
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
        snapshots: &mut Snapshots,
        log: &mut Vec<String>,
    ) -> Result<(Vec<MemberManifest>, Vec<String>)> {
        let sources = &snapshots.sources;
        let mut members = Vec::with_capacity(sources.len());
        let mut warnings = Vec::new();
        let mut progress = Progress {
            class: String::new(),
            records: 0,
            total_records: sources.iter().map(|s| s.stats.records).sum(),
            bytes: 0,
            total_bytes: sources
                .iter()
                .map(|s| s.stats.value_bytes + s.stats.records)
                .sum(),
        };
        for source in sources {
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
            let records = snapshots.snapshots[source.snapshot].records(&source.spec.table);
            let check = self.backup.check_records.then_some(source.info);
            let written = archive
                .write_member(
                    source.info,
                    source.spec.table.as_str(),
                    source.stats,
                    records,
                    check,
                    &mut on_batch,
                )
                .await
                .map_err(|e| match e {
                    BackupError::Io { context, source } => BackupError::from_pipeline(
                        source,
                        &self.store.connected().description,
                        &context,
                    ),
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
            BackupError::from_pipeline(
                e,
                &self.store.connected().description,
                "writing the manifest",
            )
        })?;
        Ok((members, warnings))
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
