//! The restore side: `Restore` verifies and restores backups. A restore
//! flows through its stages in order:
//!
//! - `store::listing`: the object, streamed;
//! - `archive::reader`: gunzip and tar, every size bounded;
//! - [`walk`]: members classified, the manifest checked (shared with
//!   [`verify`]);
//! - decode (here): every record with its registered type, its indexes
//!   computed, batches bounded in rows and bytes;
//! - [`writer`]: one task and one transaction per database.
//!
//! All or nothing, as far as databases allow: every database's writes must
//! succeed before any is committed, so a bad archive, a record that does not
//! decode, a missing class or a database error changes nothing anywhere.
//! Only the commits themselves happen one database after another (there is
//! no transaction spanning SQLite and PostgreSQL): if a commit fails, the
//! databases committed before it keep the restored records, and the error
//! ([`BackupError::PartialRestore`]) names them.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use gludb_core::{Backend, Databases, RestoreMode, Row, TableSpec, TypeInfo};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

mod verify;
mod writer;

pub use verify::{ClassCheck, VerifyReport};

use crate::archive::walk::{Visit, Walk, manifest_problem};
use crate::{
    BackupError, BackupStore, Destination, RecordProblem, Result, Selection,
    archive::{
        ArchiveError, ArchiveReader, Limits, Member,
        members::{MemberKind, id_of},
    },
    store::{
        ArchiveMeter, BackupBytes, BackupListing, Connected, Place, StoreKind, archive_error,
        open_backup_metered,
    },
};
use verify::verify;
use writer::{Job, TransactionWriter};

/// Most records written per database round trip...
const BATCH_ROWS: usize = 4096;
/// ...and at most about this many bytes of values: with the writer's queue
/// of two batches, the bound on what a restore holds whatever the records'
/// sizes.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// One class in a [`RestoreReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassRestore {
    /// `<TypeName>--<table>`.
    pub name: String,
    /// The table written (prefix included).
    pub table: String,
    /// Records in the archive.
    pub records: u64,
    /// Records written (fewer than `records` when existing ids were skipped
    /// or records were set aside).
    pub written: u64,
    /// Records that did not decode and were set aside in the quarantine
    /// file (see [`Restore::with_quarantine`]).
    pub quarantined: u64,
    /// How the registered type differs from the class as it was backed up
    /// (see [`Restore::refuse_schema_drift`]); `None` when it is the same
    /// or the archive did not record it.
    pub schema_drift: Option<String>,
}

/// The outcome of a successful [`Restore::restore`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The backup's key.
    pub key: String,
    /// Whether the archive had a manifest (and so was checked against it).
    pub has_manifest: bool,
    /// Restored classes, in archive order.
    pub classes: Vec<ClassRestore>,
    /// Members not restored: unknown, unregistered or not selected.
    pub skipped_members: Vec<String>,
    /// Where records that did not decode were written, if any were.
    pub quarantine_file: Option<PathBuf>,
}

impl RestoreReport {
    /// Records set aside over all classes.
    pub fn quarantined(&self) -> u64 {
        self.classes.iter().map(|c| c.quarantined).sum()
    }
}

/// Lists, verifies and restores backups at a destination.
///
/// ```
/// # use gludb_core::{Databases, Storable, sqlite::Sqlite};
/// # use gludb_backup::{Backup, Restore};
/// # #[derive(gludb_derive::Storable, serde::Serialize, serde::Deserialize)]
/// # #[gludb(table = "Memo", crate = "gludb_core")]
/// # struct Memo { id: String, text: String }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("file://{}", dir.path().display());
/// # let source = Databases::new(Sqlite::open_in_memory().await?);
/// # Memo::ensure_table(&source).await?;
/// # Memo { id: String::new(), text: "hi".into() }.save(&source).await?;
/// # let mut backup = Backup::from_url(&url)?;
/// # backup.add_class::<Memo>();
/// # backup.run_backup(&source).await?;
/// let restore = Restore::from_url(&url)?;             // every registered class in the archive
/// let newest = &restore.list().await?[0];
/// assert!(restore.verify(&newest.key).await?.is_ok());
/// let target = Databases::new(Sqlite::open_in_memory().await?);
/// let report = restore.restore(&newest.key, &target).await?;
/// assert_eq!(report.classes[0].written, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Restore {
    place: Place,
    selection: Selection,
    mode: RestoreMode,
    limits: Limits,
    require_manifest: bool,
    refuse_drift: bool,
    quarantine: Option<PathBuf>,
    progress: Option<RestoreProgressCallback>,
}

type RestoreProgressCallback = Arc<dyn Fn(&RestoreProgress) + Send + Sync>;

impl std::fmt::Debug for Restore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restore")
            .field("place", &self.place)
            .field("selection", &self.selection)
            .field("mode", &self.mode)
            .field("limits", &self.limits)
            .field("require_manifest", &self.require_manifest)
            .field("refuse_drift", &self.refuse_drift)
            .field("quarantine", &self.quarantine)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .finish()
    }
}

/// How far a running restore has come: handed to the callback of
/// [`Restore::with_progress`] after each batch of records. The archive's
/// stored size is known up front, so [`fraction`](Self::fraction) (and an
/// ETA from it) is by bytes of the archive read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreProgress {
    /// The class being restored, `<TypeName>--<table>`.
    pub class: String,
    /// Records read so far, all classes.
    pub records: u64,
    /// Bytes of the stored (compressed) archive read so far.
    pub archive_bytes_read: u64,
    /// The stored archive's size.
    pub archive_bytes: u64,
}

impl RestoreProgress {
    /// Done so far, from 0.0 to 1.0 (by bytes of the archive read).
    pub fn fraction(&self) -> f64 {
        if self.archive_bytes == 0 {
            1.0
        } else {
            (self.archive_bytes_read as f64 / self.archive_bytes as f64).min(1.0)
        }
    }
}

impl Restore {
    /// Backups in an S3 bucket (credentials as for [`crate::Backup::new`]).
    pub fn new(access_key: &str, secret_key: &str, bucket: &str) -> Restore {
        Restore::at(Destination::s3(access_key, secret_key, bucket))
    }

    /// Backups at a destination URL (see [`Destination::from_url`]).
    pub fn from_url(url: &str) -> Result<Restore> {
        Ok(Restore::at(Destination::from_url(url)?))
    }

    /// Backups at `destination` (connected when first used).
    pub fn at(destination: Destination) -> Restore {
        Restore::with_place(Place::Destination(destination))
    }

    /// Backups in a store connected already.
    pub fn on(store: &BackupStore) -> Restore {
        Restore::with_place(Place::Store(store.clone()))
    }

    fn with_place(place: Place) -> Restore {
        Restore {
            place,
            selection: Selection::default(),
            mode: RestoreMode::default(),
            limits: Limits::default(),
            require_manifest: false,
            refuse_drift: false,
            quarantine: None,
            progress: None,
        }
    }

    /// Changes the destination's settings (endpoint, prefix, S3 options);
    /// nothing for a restore [`on`](Self::on) a connected store.
    pub fn with_destination(mut self, change: impl FnOnce(Destination) -> Destination) -> Restore {
        self.place = self.place.change(change);
        self
    }

    /// The store the backups are read from, connected (a `file://`
    /// directory must exist: see [`BackupStore::open`]).
    pub fn store(&self) -> Result<BackupStore> {
        self.place.existing_store()
    }

    /// What to do with ids already in a target table (default: overwrite).
    pub fn with_mode(mut self, mode: RestoreMode) -> Restore {
        self.mode = mode;
        self
    }

    /// Bounds on what an archive may make the reader hold (default: lines
    /// up to 64 MiB).
    pub fn with_limits(mut self, limits: Limits) -> Restore {
        self.limits = limits;
        self
    }

    /// Refuse archives without a manifest (default: accept them, as the
    /// original Python GLUDB wrote none).
    pub fn require_manifest(mut self, required: bool) -> Restore {
        self.require_manifest = required;
        self
    }

    /// Set aside records that do not decode into their type instead of
    /// failing the whole restore: each is appended to the JSON-lines file
    /// at `path` (member, line, id, type, reason, and the record verbatim),
    /// counted in the report, and not written to the database. Everything
    /// else about the archive is still checked; a corrupt archive still
    /// restores nothing.
    pub fn with_quarantine(mut self, path: impl AsRef<Path>) -> Restore {
        self.quarantine = Some(path.as_ref().to_path_buf());
        self
    }

    /// Refuse the restore (nothing is written) when a registered type's
    /// schema differs from its class in the backup, though every record may
    /// still decode: a field added, removed, renamed or retyped since the
    /// backup. Off by default: the drift is then only reported, per class.
    pub fn refuse_schema_drift(mut self, refuse: bool) -> Restore {
        self.refuse_drift = refuse;
        self
    }

    /// Calls `report` after each batch of records restored (a progress
    /// bar, a log line). A callback that panics ends the restore with
    /// [`BackupError::Panicked`]; nothing is committed.
    pub fn with_progress(
        mut self,
        report: impl Fn(&RestoreProgress) + Send + Sync + 'static,
    ) -> Restore {
        self.progress = Some(Arc::new(report));
        self
    }

    crate::backup::selection::selection_methods!();

    /// A quarantine file inside a `file://` destination could overwrite a
    /// backup (the one being read, even): refused.
    fn check_quarantine(&self, connected: &Connected) -> Result<()> {
        let (Some(path), StoreKind::Local(dir)) = (&self.quarantine, &connected.kind) else {
            return Ok(());
        };
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
        if parent.starts_with(dir) {
            return Err(BackupError::InvalidOption {
                option: "quarantine file",
                reason: format!(
                    "{} is inside the backup directory {}: put it elsewhere",
                    path.display(),
                    dir.display()
                ),
            });
        }
        Ok(())
    }

    /// The backups directly under the destination's prefix, every set,
    /// newest first (each listing names its set). See [`BackupStore`] for
    /// pruning a set and cleaning up after interrupted runs.
    pub async fn list(&self) -> Result<Vec<BackupListing>> {
        self.store()?.list().await
    }

    /// Checks a backup without writing anything (only the selected classes'
    /// records are decoded, if a selection was made): every member against the
    /// manifest (counts, sizes, SHA-256), every record against its
    /// registered type, and that every selected class is in the archive.
    pub async fn verify(&self, key: &str) -> Result<VerifyReport> {
        let selection = (!self.selection.is_empty()).then_some(&self.selection);
        verify(self.store()?.connected(), key, self.limits, selection).await
    }

    /// Restores the selected classes (by default every registered class in
    /// the archive) into the databases `dbs` maps them to. A selected class
    /// the archive does not hold is an error that names what it does hold.
    ///
    /// All or nothing, as far as databases allow: every database's writes
    /// must succeed before any is committed, so a bad archive, a record
    /// that does not decode, a missing class or a database error changes
    /// nothing anywhere. Only the commits themselves happen one database
    /// after another (no transaction spans SQLite and PostgreSQL): if a
    /// commit fails, the databases committed before it keep the restored
    /// records, and [`BackupError::PartialRestore`] names them.
    pub async fn restore(&self, key: &str, dbs: &Databases) -> Result<RestoreReport> {
        let store = self.store()?;
        let connected = store.connected();
        self.check_quarantine(connected)?;
        let (reader, meter) = open_backup_metered(connected, key, self.limits).await?;
        let mut run = RestoreRun {
            restore: self,
            dbs,
            connected,
            key,
            meter,
            records: 0,
            writers: Vec::new(),
            prepared: Vec::new(),
            writer_stopped: false,
            quarantine: None,
        };
        let read = run.read_and_write(reader).await;
        // Wait for every writer, then decide: all commit, or all roll back.
        let mut transactions = Vec::new();
        let mut written: HashMap<usize, u64> = HashMap::new();
        let mut write_error = None;
        for (_, database, writer) in run.writers.drain(..) {
            let finished = writer.finish().await;
            if let Some(transaction) = finished.transaction {
                transactions.push((database, transaction));
            }
            match finished.outcome {
                Ok(counts) => counts
                    .into_iter()
                    .for_each(|(class, n)| *written.entry(class).or_default() += n),
                Err(e) => {
                    write_error.get_or_insert(e);
                }
            }
        }
        let outcome = match (read, write_error) {
            (Err(e), _) if !run.writer_stopped => Err(e),
            (_, Some(e)) => Err(BackupError::Database(e)),
            (Err(e), None) => Err(e),
            (Ok(mut report), None) => {
                for (position, class) in report.classes.iter_mut().enumerate() {
                    class.written = written.get(&position).copied().unwrap_or(0);
                }
                Ok(report)
            }
        };
        // Bulk loads finish before any commit, so a duplicate id found at
        // the end of one database's load rolls back every database.
        let outcome = match outcome {
            Ok(report) => flush_all(&mut transactions).await.map(|()| report),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(report) => {
                commit_all(transactions).await?;
                tracing::info!(key, classes = report.classes.len(), "restore completed");
                Ok(report)
            }
            Err(e) => {
                for (_, transaction) in transactions {
                    if let Err(rollback) = transaction.rollback().await {
                        tracing::error!(error = %rollback, "rolling back a restore failed");
                    }
                }
                tracing::error!(key, error = %e, "restore failed; nothing was changed");
                Err(e)
            }
        }
    }
}

/// Completes every database's held-back writes (see
/// [`gludb_core::RestoreTransaction::flush`]); the first error stops.
async fn flush_all(
    transactions: &mut [(String, Box<dyn gludb_core::RestoreTransaction>)],
) -> Result<()> {
    for (_, transaction) in transactions.iter_mut() {
        transaction.flush().await.map_err(BackupError::Database)?;
    }
    Ok(())
}

/// Commits each database's transaction in turn; after a failed commit the
/// rest are rolled back and the error names what was committed.
async fn commit_all(
    transactions: Vec<(String, Box<dyn gludb_core::RestoreTransaction>)>,
) -> Result<()> {
    let mut committed = Vec::new();
    let mut pending = transactions.into_iter();
    while let Some((database, transaction)) = pending.next() {
        if let Err(source) = transaction.commit().await {
            for (_, rest) in pending {
                if let Err(rollback) = rest.rollback().await {
                    tracing::error!(error = %rollback, "rolling back a restore failed");
                }
            }
            return Err(BackupError::PartialRestore {
                committed,
                failed: database,
                source: Box::new(source),
            });
        }
        committed.push(database);
    }
    Ok(())
}

/// Where records that do not decode are set aside.
struct Quarantine {
    path: PathBuf,
    file: tokio::fs::File,
}

/// One restore in progress.
struct RestoreRun<'a> {
    restore: &'a Restore,
    dbs: &'a Databases,
    connected: &'a Connected,
    key: &'a str,
    /// One writer (and its transaction) per database: instance id, description.
    writers: Vec<(usize, String, TransactionWriter)>,
    /// Tables created and checked: database instance id, table.
    prepared: Vec<(usize, String)>,
    /// A writer stopped early: its error, not the reader's, is the cause.
    writer_stopped: bool,
    /// Opened at the first record set aside.
    quarantine: Option<Quarantine>,
    /// How much of the archive has been read.
    meter: ArchiveMeter,
    /// Records read, all classes.
    records: u64,
}

impl RestoreRun<'_> {
    async fn read_and_write(
        &mut self,
        reader: ArchiveReader<BackupBytes>,
    ) -> Result<RestoreReport> {
        let restore = self.restore;
        let selection = (!restore.selection.is_empty()).then_some(&restore.selection);
        let mut report = RestoreReport {
            key: self.key.to_owned(),
            has_manifest: false,
            classes: Vec::new(),
            skipped_members: Vec::new(),
            quarantine_file: None,
        };
        // The registered type of each class restored, in report order.
        let mut types = Vec::new();
        let mut walk = Walk::new(reader, restore.limits, selection, true);
        while let Some(Visit { mut member, kind }) =
            walk.next().await.map_err(|e| self.archive(e))?
        {
            match kind {
                MemberKind::Class(info) => {
                    let position = report.classes.len();
                    let class = self.restore_member(info, position, &mut member).await?;
                    report.classes.push(class);
                    types.push(info);
                }
                MemberKind::Ambiguous(candidates) => {
                    let names: Vec<_> = candidates.iter().map(|c| c.full_name()).collect();
                    return Err(BackupError::AmbiguousType {
                        member: member.name().to_owned(),
                        candidates: names.join(", "),
                    });
                }
                kind => {
                    member.skip().await.map_err(|e| self.archive(e))?;
                    if matches!(kind, MemberKind::Unknown) {
                        tracing::warn!(
                            member = member.name(),
                            "skipping an unknown archive member"
                        );
                    }
                    report.skipped_members.push(member.name().to_owned());
                }
            }
            walk.done(member);
        }
        let summary = walk.finish().map_err(|e| self.archive(e))?;
        report.has_manifest = summary.has_manifest;
        if let Some(manifest) = &summary.manifest {
            for (class, info) in report.classes.iter_mut().zip(&types) {
                let entry = manifest
                    .members
                    .iter()
                    .find(|m| m.class_name() == class.name);
                class.schema_drift = entry.and_then(|m| m.schema_drift(info));
                if let (true, Some(drift)) = (restore.refuse_drift, &class.schema_drift) {
                    return Err(BackupError::SchemaDrift {
                        key: self.key.to_owned(),
                        class: class.name.clone(),
                        drift: drift.clone(),
                    });
                }
            }
        }
        if let Some(problem) =
            manifest_problem(self.key, summary.has_manifest, restore.require_manifest)
        {
            return Err(self.archive(problem));
        }
        if !summary.has_manifest {
            tracing::warn!(
                key = self.key,
                "the archive has no manifest: restored without hash checks"
            );
        }
        if selection.is_none() && report.classes.is_empty() {
            return Err(BackupError::NothingToRestore {
                key: self.key.to_owned(),
                held: if report.skipped_members.is_empty() {
                    "no members".to_owned()
                } else {
                    report.skipped_members.join(", ")
                },
            });
        }
        if let Some((missing, hint)) = summary.missing {
            return Err(BackupError::ClassesNotInBackup {
                key: self.key.to_owned(),
                missing: missing.join(", "),
                available: if summary.classes_held.is_empty() {
                    "no class members".to_owned()
                } else {
                    summary.classes_held.join(", ")
                },
                hint,
            });
        }
        if let Some(quarantine) = &mut self.quarantine {
            quarantine
                .file
                .flush()
                .await
                .map_err(|e| BackupError::io("writing the quarantine file", e))?;
            report.quarantine_file = Some(quarantine.path.clone());
        }
        Ok(report)
    }

    async fn restore_member(
        &mut self,
        info: &'static TypeInfo,
        position: usize,
        member: &mut Member<BackupBytes>,
    ) -> Result<ClassRestore> {
        let (db, spec) = self.dbs.resolve(info)?;
        let db = Arc::clone(db);
        self.prepare_table(&db, &spec).await?;
        let mode = self.restore.mode;
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        let mut batch_bytes = 0;
        let mut records = 0u64;
        let mut quarantined = 0u64;
        let name = member.name().to_owned();
        while let Some((number, line)) = member.next_line().await.map_err(|e| self.archive(e))? {
            records += 1;
            let problem = |id, reason| RecordProblem {
                key: self.key.to_owned(),
                member: name.clone(),
                line: number,
                id,
                type_name: info.type_name().to_owned(),
                reason,
            };
            let keys = match info.decode(line) {
                Ok(keys) if keys.id.is_empty() => {
                    Err(problem(None, "the record has no id".to_owned()))
                }
                Ok(keys) => Ok(keys),
                Err(e) => Err(problem(id_of(line), e.to_string())),
            };
            let keys = match keys {
                Ok(keys) => keys,
                Err(problem) if self.restore.quarantine.is_some() => {
                    self.set_aside(&problem, line).await?;
                    quarantined += 1;
                    continue;
                }
                Err(problem) => return Err(BackupError::BadRecord(Box::new(problem))),
            };
            batch_bytes += line.len();
            batch.push(Row {
                id: keys.id,
                value: line.to_owned(),
                index_values: keys.index_values,
            });
            if batch.len() == BATCH_ROWS || batch_bytes >= BATCH_BYTES {
                let rows = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                batch_bytes = 0;
                self.records += rows.len() as u64;
                self.write(&db, position, &spec, rows, mode).await?;
                self.report_progress(&name)?;
            }
        }
        if !batch.is_empty() {
            self.records += batch.len() as u64;
            self.write(&db, position, &spec, batch, mode).await?;
        }
        self.report_progress(&name)?;
        Ok(ClassRestore {
            name: info.backup_name(),
            table: spec.table.to_string(),
            records,
            // Filled in from the writer's counts once it has finished.
            written: 0,
            quarantined,
            schema_drift: None,
        })
    }

    /// Hands the progress so far to the restore's callback, if it has one.
    fn report_progress(&self, member: &str) -> Result<()> {
        let Some(report) = &self.restore.progress else {
            return Ok(());
        };
        let progress = RestoreProgress {
            class: member.strip_suffix(".json").unwrap_or(member).to_owned(),
            records: self.records,
            archive_bytes_read: self.meter.read(),
            archive_bytes: self.meter.size,
        };
        // A panic here must not unwind past the open transactions: it
        // becomes an error, and the restore rolls back like any other.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| report(&progress))).map_err(
            |payload| BackupError::Panicked {
                message: crate::backup::run::panic_message(payload),
            },
        )
    }

    /// Appends a record that does not decode to the quarantine file.
    async fn set_aside(&mut self, problem: &RecordProblem, line: &str) -> Result<()> {
        let quarantine = match &mut self.quarantine {
            Some(quarantine) => quarantine,
            None => {
                let Some(path) = self.restore.quarantine.clone() else {
                    return Ok(());
                };
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .await
                    .map_err(|e| {
                        BackupError::io(
                            &format!("opening the quarantine file {}", path.display()),
                            e,
                        )
                    })?;
                self.quarantine.insert(Quarantine { path, file })
            }
        };
        let entry = serde_json::json!({
            "backup": problem.key,
            "member": problem.member,
            "line": problem.line,
            "id": problem.id,
            "type": problem.type_name,
            "reason": problem.reason,
            "record": line,
        });
        let mut text = entry.to_string();
        text.push('\n');
        quarantine
            .file
            .write_all(text.as_bytes())
            .await
            .map_err(|e| BackupError::io("writing the quarantine file", e))?;
        tracing::warn!(member = %problem.member, line = problem.line, "a record that does not decode was set aside");
        Ok(())
    }

    /// Creates the table inside the transaction and, in
    /// [`RestoreMode::RefuseNonEmpty`], checks it is empty (and keeps other
    /// writers out of it until the restore ends).
    async fn prepare_table(&mut self, db: &Arc<dyn Backend>, spec: &TableSpec) -> Result<()> {
        let table = (db.instance_id(), spec.table.to_string());
        if self.prepared.contains(&table) {
            return Ok(());
        }
        self.prepared.push(table);
        let job = Job::Prepare {
            spec: spec.clone(),
            refuse_non_empty: self.restore.mode == RestoreMode::RefuseNonEmpty,
        };
        self.send(db, job).await
    }

    async fn write(
        &mut self,
        db: &Arc<dyn Backend>,
        class: usize,
        spec: &TableSpec,
        rows: Vec<Row>,
        mode: RestoreMode,
    ) -> Result<()> {
        let job = Job::Write {
            class,
            spec: spec.clone(),
            rows,
            mode,
        };
        self.send(db, job).await
    }

    /// Queues a job on `db`'s writer, begun on first use.
    async fn send(&mut self, db: &Arc<dyn Backend>, job: Job) -> Result<()> {
        let id = db.instance_id();
        let index = match self.writers.iter().position(|(known, ..)| *known == id) {
            Some(index) => index,
            None => {
                let writer = TransactionWriter::begin(db).await?;
                self.writers.push((id, db.describe(), writer));
                self.writers.len() - 1
            }
        };
        if self.writers[index].2.send(job).await {
            Ok(())
        } else {
            self.writer_stopped = true;
            Err(BackupError::io(
                "restoring",
                std::io::Error::other("a database writer stopped"),
            ))
        }
    }

    fn archive(&self, error: ArchiveError) -> BackupError {
        archive_error(self.connected, self.key, error)
    }
}
