//! `BackupHistory`: one stored record per backup run, success or failure.
//! Unlike the original GLUDB's, it never holds a secret key.

use gludb_core::{Databases, Storable};
use serde::{Deserialize, Serialize};

/// How a backup run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    /// The archive is complete in the destination.
    Completed,
    /// The run failed; nothing was left in the destination.
    Failed,
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
    /// The backup's name (see `Backup::with_name`).
    pub name: String,
    /// When the run started, GLUDB format (`UTC:...`).
    pub timestamp: String,
    /// The destination, without credentials.
    pub destination: String,
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
}

impl BackupHistory {
    /// Index on the backup's name, to find a backup's previous runs.
    fn by_name(&self) -> String {
        self.name.clone()
    }

    /// When the backup named `name` last completed, from its history
    /// records (none if it never has, or there is no history yet).
    pub async fn last_completed(
        dbs: &Databases,
        name: &str,
    ) -> gludb_core::Result<Option<time::OffsetDateTime>> {
        let runs = match BackupHistory::find_by_index(dbs, "by_name", name).await {
            Ok(runs) => runs,
            Err(gludb_core::Error::UnknownTable { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(runs
            .iter()
            .filter(|run| run.status == BackupStatus::Completed)
            .filter_map(|run| gludb_core::record::parse_timestamp(&run.timestamp))
            .max())
    }

    /// Saves the record; a failure is logged, never hides the backup's own
    /// outcome. Returns the record's id when saved.
    pub(crate) async fn record(mut self, dbs: &Databases) -> Option<String> {
        let saved = async {
            BackupHistory::ensure_table(dbs).await?;
            self.save(dbs).await
        }
        .await;
        match saved {
            Ok(()) => Some(self.id),
            Err(e) => {
                tracing::warn!(error = %e, "could not save the BackupHistory record");
                None
            }
        }
    }
}
