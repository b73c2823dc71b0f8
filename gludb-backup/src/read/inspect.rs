//! What a backup holds, from its manifest (or, for an archive without one,
//! from reading it): the `inspect` of operators' tools.

use gludb_core::registry;
use serde::Serialize;

use crate::{
    BackupListing, BackupStore, Result,
    archive::{
        Limits,
        members::class_parts,
        walk::{Walk, manifest_problem},
    },
    store::{archive_error, open_backup, stat_any},
};

/// One class member of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectedClass {
    /// `<TypeName>--<table>`.
    pub name: String,
    /// The type's name (from the manifest, else from the member name).
    pub type_name: String,
    /// The type's module path, when the manifest records it.
    pub module_path: Option<String>,
    /// The table it was read from.
    pub table: String,
    /// Records (lines).
    pub records: u64,
    /// Uncompressed bytes.
    pub bytes: u64,
    /// SHA-256 of the member, lowercase hex.
    pub sha256: String,
    /// The class's schema fingerprint when it was backed up, if recorded.
    pub fingerprint: Option<String>,
    /// The shape that fingerprint is of (table, bases, indexes, fields).
    pub shape: Option<String>,
    /// How the type this program registers under the class's name differs
    /// from it, if it does.
    pub schema_drift: Option<String>,
}

/// What [`BackupStore::inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// The backup as listed: key, set, time, compressed size.
    #[serde(flatten)]
    pub listing: BackupListing,
    /// Whether the archive has a manifest (those of the original Python
    /// GLUDB have none; their figures below are measured).
    pub has_manifest: bool,
    /// When the manifest says the backup was taken.
    pub created: Option<String>,
    /// The program that wrote it (`gludb-backup <version>`), if recorded.
    pub writer: Option<String>,
    /// The class members, in archive order.
    pub classes: Vec<InspectedClass>,
    /// Members that are not class members.
    pub other_members: Vec<String>,
    /// Where the archive disagrees with its manifest, or cannot be read.
    pub problems: Vec<String>,
}

impl Inspection {
    /// Records in the backup, all classes.
    pub fn total_records(&self) -> u64 {
        self.classes.iter().map(|c| c.records).sum()
    }
}

pub(super) async fn inspect(store: &BackupStore, key: &str, limits: Limits) -> Result<Inspection> {
    let connected = store.connected();
    let listing = stat_any(connected, key).await?;
    let reader = open_backup(connected, key, limits).await?;
    let mut inspection = Inspection {
        listing,
        has_manifest: false,
        created: None,
        writer: None,
        classes: Vec::new(),
        other_members: Vec::new(),
        problems: Vec::new(),
    };
    let mut walk = Walk::new(reader, limits, None, false);
    let walked = async {
        while let Some(mut visit) = walk.next().await? {
            visit.member.skip().await?;
            walk.done(visit.member);
        }
        walk.finish()
    }
    .await;
    let summary = match walked {
        Ok(summary) => summary,
        Err(e) => {
            // A corrupt stream: say so, as verify does.
            let error = archive_error(connected, key, e);
            if !matches!(error, crate::BackupError::Archive { .. }) {
                return Err(error);
            }
            inspection.problems.push(error.to_string());
            return Ok(inspection);
        }
    };
    inspection.has_manifest = summary.has_manifest;
    if let Some(problem) = manifest_problem(key, summary.has_manifest, false) {
        inspection.problems.push(problem.to_string());
    }
    inspection
        .problems
        .extend(summary.problems.iter().map(|p| p.error.to_string()));
    if let Some(manifest) = &summary.manifest {
        inspection.created = Some(manifest.created.clone());
        inspection.writer.clone_from(&manifest.writer);
        inspection.classes = manifest
            .members
            .iter()
            .map(|m| InspectedClass {
                name: m.class_name().to_owned(),
                type_name: m.type_name.clone(),
                module_path: Some(m.module_path.clone()),
                table: m.table.clone(),
                records: m.records,
                bytes: m.bytes,
                sha256: m.sha256.clone(),
                fingerprint: m.fingerprint.clone(),
                shape: m.shape.clone(),
                schema_drift: match registry::find_by_backup_name(m.class_name()).as_slice() {
                    [info] => m.schema_drift(info),
                    _ => None,
                },
            })
            .collect();
    }
    for digest in &summary.digests {
        match class_parts(&digest.name) {
            Some((name, type_name, table)) if summary.manifest.is_none() => {
                inspection.classes.push(InspectedClass {
                    name: name.to_owned(),
                    type_name: type_name.to_owned(),
                    module_path: None,
                    table: table.to_owned(),
                    records: digest.lines,
                    bytes: digest.bytes,
                    sha256: digest.sha256.clone(),
                    fingerprint: None,
                    shape: None,
                    schema_drift: None,
                });
            }
            Some(_) => {}
            None => inspection.other_members.push(digest.name.clone()),
        }
    }
    Ok(inspection)
}
