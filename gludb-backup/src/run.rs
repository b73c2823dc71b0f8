//! One run of a backup: a snapshot per database, the tar, gzip and upload
//! stages running at once, then the history record and the report.

use std::sync::Arc;

use gludb_core::{Backend, Databases, Snapshot, TableSpec, TableStats, TypeInfo, record};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use crate::{
    Backup, BackupError, BackupHistory, BackupReport, BackupStatus, ClassCount, ClassReport,
    Progress, Result,
    archive::{ArchiveWriter, Manifest, MemberManifest, backup_file_name},
    compress::{ChunkWriter, chunk_channel, compress_chunks},
    destination::Connected,
    upload::{Upload, part_size_for},
};

/// One run of a backup, owned by its task.
pub(crate) struct Run {
    pub(crate) backup: Backup,
    pub(crate) dbs: Databases,
    pub(crate) connected: Connected,
    pub(crate) started: OffsetDateTime,
}

/// A selected class with where it is read from.
struct Source {
    info: &'static TypeInfo,
    spec: TableSpec,
    snapshot: usize,
}

impl Run {
    pub(crate) async fn execute(self) -> Result<BackupReport> {
        let path = self.connected.path_of(&backup_file_name(self.started));
        let key = path.to_string();
        let mut log = vec![format!(
            "Starting backup at {}",
            record::format_timestamp(self.started)
        )];
        log.extend(self.backup.selection.log().iter().cloned());
        tracing::info!(destination = %self.connected.description, %key, "backup started");

        let outcome = self.write_archive(&path, &mut log).await;
        match &outcome {
            Ok((_, sent)) => {
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
        let history_id = self.history(&outcome, &key, &log).record(&self.dbs).await;
        let (members, sent) = outcome?;
        Ok(BackupReport {
            bucket: self.connected.location.clone(),
            key,
            destination: self.connected.description.clone(),
            classes: members
                .into_iter()
                .map(|m| ClassReport {
                    name: m.class_name().to_owned(),
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

    /// The run's `BackupHistory` record, for success or failure alike.
    fn history(
        &self,
        outcome: &Result<(Vec<MemberManifest>, u64)>,
        key: &str,
        log: &[String],
    ) -> BackupHistory {
        let (classes, archive_bytes, status, error) = match outcome {
            Ok((members, sent)) => {
                let classes = members
                    .iter()
                    .map(|m| ClassCount {
                        name: m.class_name().to_owned(),
                        records: m.records,
                    })
                    .collect();
                (classes, *sent, BackupStatus::Completed, None)
            }
            Err(e) => (Vec::new(), 0, BackupStatus::Failed, Some(e.to_string())),
        };
        BackupHistory {
            id: String::new(),
            name: self.backup.name.clone(),
            timestamp: record::format_timestamp(self.started),
            destination: self.connected.description.clone(),
            bucketname: self.connected.location.clone(),
            key: key.to_owned(),
            classes,
            archive_bytes,
            backup_log: log.to_vec(),
            status,
            error,
        }
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
        stats: &[TableStats],
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
