//! `Restore`: list, verify and restore backups. A restore streams the
//! archive, decodes every record with its registered type, and writes the
//! stored JSON verbatim inside one transaction per database: a restore that
//! fails for any reason leaves every target as it was.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use gludb_core::{Backend, Databases, RestoreMode, Row, TableSpec, TypeInfo};
use serde::Serialize;

use crate::{
    BackupError, Destination, RecordProblem, Result, Selection,
    archive::{ArchiveError, ArchiveReader, Limits, Manifest, Member, MemberDigest},
    destination::Connected,
    members::{MemberKind, classify, compare_with_manifest, id_of},
    restore_writer::{Job, TransactionWriter},
    retention::{PruneReport, Retention, prune},
    source::{BackupBytes, BackupListing, archive_error, list_backups, open_backup},
    verify::{VerifyReport, verify},
};

/// Records written per database round trip.
const BATCH_ROWS: usize = 4096;

/// One class in a [`RestoreReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassRestore {
    /// `<TypeName>--<table>`.
    pub name: String,
    /// The table written (prefix included).
    pub table: String,
    /// Records in the archive.
    pub records: u64,
    /// Records written (fewer than `records` when existing ids were skipped).
    pub written: u64,
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
#[derive(Debug, Clone)]
pub struct Restore {
    destination: Destination,
    selection: Selection,
    mode: RestoreMode,
    limits: Limits,
    require_manifest: bool,
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

    /// Backups at `destination`.
    pub fn at(destination: Destination) -> Restore {
        Restore {
            destination,
            selection: Selection::default(),
            mode: RestoreMode::default(),
            limits: Limits::default(),
            require_manifest: false,
        }
    }

    /// Changes the destination's settings (endpoint, prefix, S3 options).
    pub fn with_destination(mut self, change: impl FnOnce(Destination) -> Destination) -> Restore {
        self.destination = change(self.destination);
        self
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

    crate::selection::selection_methods!();

    /// The backups at the destination, newest first.
    pub async fn list(&self) -> Result<Vec<BackupListing>> {
        list_backups(&self.destination.connect()?).await
    }

    /// Deletes the backups `policy` does not keep (of those named like
    /// backups under the destination's prefix). A policy that keeps nothing
    /// is refused.
    pub async fn prune(&self, policy: &Retention) -> Result<PruneReport> {
        let connected = self.destination.connect()?;
        let backups = list_backups(&connected).await?;
        prune(&connected, backups, policy, false).await
    }

    /// What [`prune`](Self::prune) would delete, deleting nothing.
    pub async fn prune_dry_run(&self, policy: &Retention) -> Result<PruneReport> {
        let connected = self.destination.connect()?;
        let backups = list_backups(&connected).await?;
        prune(&connected, backups, policy, true).await
    }

    /// Checks a backup without writing anything (only the selected classes'
    /// records are decoded, if a selection was made): every member against the
    /// manifest (counts, sizes, SHA-256) and every record against its
    /// registered type.
    pub async fn verify(&self, key: &str) -> Result<VerifyReport> {
        let selection = (!self.selection.is_empty()).then_some(&self.selection);
        verify(&self.destination.connect()?, key, self.limits, selection).await
    }

    /// Restores the selected classes (by default every registered class in
    /// the archive) into the databases `dbs` maps them to. All or nothing:
    /// on any error every transaction is rolled back.
    pub async fn restore(&self, key: &str, dbs: &Databases) -> Result<RestoreReport> {
        let connected = self.destination.connect()?;
        let reader = open_backup(&connected, key, self.limits).await?;
        let mut run = RestoreRun {
            restore: self,
            dbs,
            connected: &connected,
            key,
            writers: Vec::new(),
            prepared: HashSet::new(),
            writer_stopped: false,
        };
        let read = run.read_and_write(reader).await;
        // Wait for every writer, then decide: all commit, or all roll back.
        let mut transactions = Vec::new();
        let mut written: HashMap<usize, u64> = HashMap::new();
        let mut write_error = None;
        for (_, writer) in run.writers.drain(..) {
            let finished = writer.finish().await;
            transactions.extend(finished.transaction);
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
        match outcome {
            Ok(report) => {
                for transaction in transactions {
                    transaction.commit().await?;
                }
                tracing::info!(key, classes = report.classes.len(), "restore completed");
                Ok(report)
            }
            Err(e) => {
                for transaction in transactions {
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

/// One restore in progress.
struct RestoreRun<'a> {
    restore: &'a Restore,
    dbs: &'a Databases,
    connected: &'a Connected,
    key: &'a str,
    /// One writer (and its transaction) per database, by instance id.
    writers: Vec<(usize, TransactionWriter)>,
    /// Tables created and checked, by database instance id.
    prepared: HashSet<(usize, String)>,
    /// A writer stopped early: its error, not the reader's, is the cause.
    writer_stopped: bool,
}

impl RestoreRun<'_> {
    async fn read_and_write(
        &mut self,
        mut reader: ArchiveReader<BackupBytes>,
    ) -> Result<RestoreReport> {
        let selection = (!self.restore.selection.is_empty()).then_some(&self.restore.selection);
        let mut report = RestoreReport {
            key: self.key.to_owned(),
            has_manifest: false,
            classes: Vec::new(),
            skipped_members: Vec::new(),
        };
        let mut digests: Vec<MemberDigest> = Vec::new();
        let mut manifest = None;
        while let Some(mut member) = reader.next_member().await.map_err(|e| self.archive(e))? {
            if manifest.is_some() {
                return Err(self.archive(ArchiveError::AfterManifest(member.name().to_owned())));
            }
            match classify(member.name(), selection) {
                MemberKind::Manifest => {
                    report.has_manifest = true;
                    let bytes = member
                        .read_all(self.restore.limits.max_manifest_bytes)
                        .await
                        .map_err(|e| self.archive(e))?
                        .ok_or_else(|| {
                            self.archive(ArchiveError::BadManifest("too large".into()))
                        })?;
                    let parsed = Manifest::from_json(&bytes)
                        .map_err(|e| self.archive(ArchiveError::BadManifest(e)))?;
                    manifest = Some(parsed);
                }
                MemberKind::Class(info) => {
                    let position = report.classes.len();
                    let class = self.restore_member(info, position, &mut member).await?;
                    report.classes.push(class);
                    digests.push(member.digest());
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
                    digests.push(member.digest());
                }
            }
        }
        match &manifest {
            Some(manifest) => {
                if let Some((member, detail)) =
                    compare_with_manifest(manifest, &digests).into_iter().next()
                {
                    return Err(self.archive(ArchiveError::Mismatch { member, detail }));
                }
            }
            None if self.restore.require_manifest => {
                return Err(self.archive(ArchiveError::MissingManifest));
            }
            None => tracing::warn!(
                key = self.key,
                "the archive has no manifest: restored without hash checks"
            ),
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
        let mut records = 0u64;
        let name = member.name().to_owned();
        while let Some((number, line)) = member.next_line().await.map_err(|e| self.archive(e))? {
            let problem = |id, reason| {
                BackupError::BadRecord(Box::new(RecordProblem {
                    key: self.key.to_owned(),
                    member: name.clone(),
                    line: number,
                    id,
                    type_name: info.type_name().to_owned(),
                    reason,
                }))
            };
            let keys = info
                .decode(line)
                .map_err(|e| problem(id_of(line), e.to_string()))?;
            if keys.id.is_empty() {
                return Err(problem(None, "the record has no id".to_owned()));
            }
            batch.push(Row {
                id: keys.id,
                value: line.to_owned(),
                index_values: keys.index_values,
            });
            records += 1;
            if batch.len() == BATCH_ROWS {
                let rows = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                self.write(&db, position, &spec, rows, mode).await?;
            }
        }
        if !batch.is_empty() {
            self.write(&db, position, &spec, batch, mode).await?;
        }
        Ok(ClassRestore {
            name: info.backup_name(),
            table: spec.table,
            records,
            // Filled in from the writer's counts once it has finished.
            written: 0,
        })
    }

    /// Creates the table inside the transaction and, in
    /// [`RestoreMode::RefuseNonEmpty`], checks it is empty.
    async fn prepare_table(&mut self, db: &Arc<dyn Backend>, spec: &TableSpec) -> Result<()> {
        if !self.prepared.insert((db.instance_id(), spec.table.clone())) {
            return Ok(());
        }
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
        let index = match self.writers.iter().position(|(known, _)| *known == id) {
            Some(index) => index,
            None => {
                let writer = TransactionWriter::begin(db).await?;
                self.writers.push((id, writer));
                self.writers.len() - 1
            }
        };
        if self.writers[index].1.send(job).await {
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
