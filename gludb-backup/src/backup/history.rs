//! `BackupHistory`: one stored record per backup run, success or failure.
//! Unlike the original GLUDB's, it never holds a secret key.

use gludb_core::{Databases, Storable};

use crate::archive::{SetName, selection_tag};
use serde::{Deserialize, Serialize};

/// How a backup run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackupStatus {
    /// The run has started and not ended. A record left in this state by
    /// a process that is gone marks a run that was killed: its upload may
    /// have left an orphan (see `BackupStore::find_orphans`).
    Running,
    /// The archive is complete in the destination.
    Completed,
    /// The archive is complete, but holds less than asked for: see the
    /// record's `warnings` (e.g. a selected class whose table does not
    /// exist was backed up empty).
    CompletedWithWarnings,
    /// The run failed; nothing was left in the destination.
    Failed,
}

impl BackupStatus {
    /// Whether the archive was written (possibly with warnings).
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            BackupStatus::Completed | BackupStatus::CompletedWithWarnings
        )
    }
}

/// Records backed up for one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    /// `<TypeName>--<table>`.
    pub name: String,
    /// Records written.
    pub records: u64,
}

/// The history record of one backup run, stored in table `BackupHistory` of
/// the database mapped for it (by default, the default database).
#[derive(gludb_derive::Storable, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[gludb(table = "BackupHistory", indexes(by_name), crate = "gludb_core")]
pub struct BackupHistory {
    /// Record id.
    pub id: String,
    /// The backup's name, which is its set's name (see `Backup::with_name`).
    pub name: String,
    /// When the run started, GLUDB format (`UTC:...`).
    pub timestamp: String,
    /// When the run ended, GLUDB format; `None` while it runs.
    #[serde(default)]
    pub finished: Option<String>,
    /// The destination, without credentials.
    pub destination: String,
    /// Which store and prefix, told apart from others of the same bucket
    /// name (S3: with the endpoint; `file://`: the canonical directory).
    #[serde(default)]
    pub store: String,
    /// The bucket (or local destination).
    pub bucketname: String,
    /// The key written (or that would have been).
    pub key: String,
    /// Records per class.
    pub classes: Vec<ClassCount>,
    /// Compressed bytes sent.
    pub archive_bytes: u64,
    /// The run's log lines.
    pub backup_log: Vec<String>,
    /// How it ended.
    pub status: BackupStatus,
    /// The error, for a failed run.
    pub error: Option<String>,
    /// What a run that completed with warnings did not back up.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Full names of the selected classes.
    #[serde(default)]
    pub selection: Vec<String>,
}

impl BackupHistory {
    /// Index on the backup's name, to find a backup's previous runs.
    fn by_name(&self) -> String {
        self.name.clone()
    }

    /// When the backup set `name` in `store` (a [`BackupHistory::store`])
    /// selecting what `selection` tags last completed a run, from its
    /// history records: the end of that run. `None` if it never has, or
    /// there is no history yet. `Backup::last_completed` asks this for a
    /// backup.
    pub(crate) async fn last_completed(
        dbs: &Databases,
        name: &SetName,
        store: &str,
        selection: &str,
    ) -> gludb_core::Result<Option<time::OffsetDateTime>> {
        Ok(Self::last_completed_run(dbs, name, store, selection)
            .await?
            .and_then(|run| run.ended()))
    }

    /// The record of the last completed run of a set (see
    /// [`last_completed`](Self::last_completed)).
    pub(crate) async fn last_completed_run(
        dbs: &Databases,
        name: &SetName,
        store: &str,
        selection: &str,
    ) -> gludb_core::Result<Option<BackupHistory>> {
        let runs = match BackupHistory::find_by_index(dbs, "by_name", name.as_str()).await {
            Ok(runs) => runs,
            Err(gludb_core::Error::UnknownTable { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(runs
            .into_iter()
            .filter(|run| {
                run.status.is_completed()
                    && run.store == store
                    && selection_tag(&run.selection) == selection
            })
            .filter_map(|run| Some((run.ended()?, run)))
            .max_by_key(|(ended, _)| *ended)
            .map(|(_, run)| run))
    }

    /// When the run ended (its start, for records written before ends
    /// were recorded).
    pub(crate) fn ended(&self) -> Option<time::OffsetDateTime> {
        gludb_core::record::parse_timestamp(self.finished.as_deref().unwrap_or(&self.timestamp))
    }

    /// Saves the record (a new one, or the same run's record again when
    /// `id` is set); a failure is logged, never hides the backup's own
    /// outcome. Returns the record's id when saved.
    pub(crate) async fn record(&mut self, dbs: &Databases) -> Option<String> {
        let saved = async {
            BackupHistory::ensure_table(dbs).await?;
            self.save(dbs).await
        }
        .await;
        match saved {
            Ok(()) => Some(self.id.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "could not save the BackupHistory record");
                None
            }
        }
    }
}
