//! What a finished backup reports.

use serde::Serialize;

/// One class in a [`BackupReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassReport {
    /// `<TypeName>--<table>`, the original's backup name.
    pub name: String,
    /// Records backed up.
    pub records: u64,
    /// Uncompressed bytes of the class's member.
    pub bytes: u64,
    /// SHA-256 of the member, as in the manifest.
    pub sha256: String,
    /// Whether the class's table was missing (then it was backed up empty,
    /// and the report's `warnings` say so).
    pub table_missing: bool,
}

/// The outcome of a successful [`crate::Backup::run_backup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// The backup set (the backup's name).
    pub set: String,
    /// The bucket (or, for other stores, the destination) written to.
    pub bucket: String,
    /// The object's key, prefix included.
    pub key: String,
    /// The destination, without credentials.
    pub destination: String,
    /// Per-class counts, in archive order.
    pub classes: Vec<ClassReport>,
    /// Compressed size of the archive sent, in bytes.
    pub archive_bytes: u64,
    /// The human-readable log of the run (the original's `backup_log`).
    pub log: Vec<String>,
    /// Id of the `BackupHistory` record, if it could be saved.
    pub history_id: Option<String>,
    /// What the archive holds less of than asked (a class whose table does
    /// not exist, records that would not restore); empty for a clean run.
    pub warnings: Vec<String>,
}

impl BackupReport {
    /// `(bucket, key)`, what the original's `run_backup` returned.
    pub fn location(&self) -> (&str, &str) {
        (&self.bucket, &self.key)
    }

    /// Total records over all classes.
    pub fn total_records(&self) -> u64 {
        self.classes.iter().map(|c| c.records).sum()
    }

    /// Whether the run completed without warnings.
    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty()
    }
}

/// How far a running backup has come: handed to the callback of
/// [`crate::Backup::with_progress`] after each batch of records. Totals are
/// known up front (measured inside the snapshot), so percent and ETA are
/// exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The class being written, `<TypeName>--<table>`.
    pub class: String,
    /// Records written so far, all classes.
    pub records: u64,
    /// Records in the backup, all classes.
    pub total_records: u64,
    /// Uncompressed bytes written so far.
    pub bytes: u64,
    /// Uncompressed bytes in the backup.
    pub total_bytes: u64,
}

impl Progress {
    /// Done so far, from 0.0 to 1.0 (by bytes).
    pub fn fraction(&self) -> f64 {
        if self.total_bytes == 0 {
            1.0
        } else {
            self.bytes as f64 / self.total_bytes as f64
        }
    }
}
