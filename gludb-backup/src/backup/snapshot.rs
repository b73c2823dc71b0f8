//! The snapshot stage: one read snapshot per database, opened before any
//! data is read, so every class is backed up as of one moment per
//! database; then every selected table is measured inside its snapshot
//! (tar headers need each member's size before its bytes, and the progress
//! totals are exact).

use std::sync::Arc;

use gludb_core::{Backend, Databases, Snapshot, TableSpec, TableStats, TypeInfo};

use crate::{BackupError, Result, Selection};

/// A selected class, where it is read from, and its size.
pub(crate) struct Source {
    pub(crate) info: &'static TypeInfo,
    pub(crate) spec: TableSpec,
    /// Index into [`Snapshots::snapshots`].
    pub(crate) snapshot: usize,
    pub(crate) stats: TableStats,
}

/// The open snapshots and what they hold of the selection.
pub(crate) struct Snapshots {
    pub(crate) sources: Vec<Source>,
    pub(crate) snapshots: Vec<Box<dyn Snapshot>>,
    /// Classes whose table does not exist (backed up empty).
    pub(crate) missing: Vec<String>,
    /// What the run should warn about (the missing tables).
    pub(crate) warnings: Vec<String>,
}

impl Snapshots {
    /// Opens one snapshot per distinct database of the selection and
    /// measures every table. A missing table is an error with
    /// `require_tables`, or when `had_records` says the class held records
    /// (in the last completed run), else a warning.
    pub(crate) async fn open(
        dbs: &Databases,
        selection: &Selection,
        require_tables: bool,
        had_records: &(dyn Fn(&str) -> Option<u64> + Sync),
    ) -> Result<Snapshots> {
        let mut databases: Vec<Arc<dyn Backend>> = Vec::new();
        let mut placed = Vec::new();
        for &info in selection.classes() {
            let (db, spec) = dbs.resolve(info)?;
            let index = match databases
                .iter()
                .position(|known| known.instance_id() == db.instance_id())
            {
                Some(index) => index,
                None => {
                    databases.push(Arc::clone(db));
                    databases.len() - 1
                }
            };
            placed.push((info, spec, index));
        }
        let mut snapshots = Vec::with_capacity(databases.len());
        for db in &databases {
            snapshots.push(db.snapshot().await?);
        }
        let mut measured = Snapshots {
            sources: Vec::with_capacity(placed.len()),
            snapshots,
            missing: Vec::new(),
            warnings: Vec::new(),
        };
        for (info, spec, snapshot) in placed {
            let stats = measured.snapshots[snapshot]
                .table_stats(&spec.table)
                .await?;
            if !stats.exists {
                let class = info.backup_name();
                if let Some(records) = had_records(&class) {
                    return Err(BackupError::TableGone {
                        class,
                        table: spec.table.to_string(),
                        records,
                    });
                }
                if require_tables {
                    return Err(BackupError::MissingTable {
                        class,
                        table: spec.table.to_string(),
                    });
                }
                measured.warnings.push(format!(
                    "table {} of {class} does not exist: backed up as empty",
                    spec.table
                ));
                measured.missing.push(class);
            }
            measured.sources.push(Source {
                info,
                spec,
                snapshot,
                stats,
            });
        }
        Ok(measured)
    }

    /// An upper bound of the tar stream's size: records, one `\n` each,
    /// and per member at most a 512-byte header, 511 bytes of padding and
    /// a long-name entry, plus the manifest.
    pub(crate) fn tar_bound(&self) -> u64 {
        self.sources
            .iter()
            .map(|s| s.stats.value_bytes + s.stats.records + 2048)
            .sum::<u64>()
            + 64 * 1024
    }

    /// Ends every snapshot (a failure to end a read-only snapshot changes
    /// nothing: it is only logged).
    pub(crate) async fn finish(self) {
        for snapshot in self.snapshots {
            if let Err(e) = snapshot.finish().await {
                tracing::warn!(error = %e, "ending a read snapshot failed");
            }
        }
    }
}
