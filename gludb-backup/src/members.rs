//! What each archive member is, and whether the members match the manifest:
//! shared by verify and restore.

use gludb_core::{TypeInfo, registry};

use crate::{
    Selection,
    archive::{MANIFEST_NAME, Manifest, MemberDigest},
};

/// What a member holds.
pub(crate) enum MemberKind {
    /// The manifest.
    Manifest,
    /// Records of a registered type.
    Class(&'static TypeInfo),
    /// Named like records of a type this binary has not registered (or that
    /// the selection leaves out).
    Unregistered,
    /// Named like records of several registered types.
    Ambiguous(Vec<&'static TypeInfo>),
    /// Anything else: skipped with a warning.
    Unknown,
}

/// Classifies a member by name; with a selection, only selected types count.
pub(crate) fn classify(name: &str, selection: Option<&Selection>) -> MemberKind {
    if name == MANIFEST_NAME {
        return MemberKind::Manifest;
    }
    let Some(backup_name) = name.strip_suffix(".json").filter(|n| n.contains("--")) else {
        return MemberKind::Unknown;
    };
    if backup_name.contains('/') {
        return MemberKind::Unknown;
    }
    let mut candidates = registry::find_by_backup_name(backup_name);
    if let Some(selection) = selection {
        candidates.retain(|info| selection.contains(info));
    }
    match candidates.len() {
        0 => MemberKind::Unregistered,
        1 => MemberKind::Class(candidates[0]),
        _ => MemberKind::Ambiguous(candidates),
    }
}

/// Each way the members differ from the manifest, as (member, problem).
pub(crate) fn compare_with_manifest(
    manifest: &Manifest,
    digests: &[MemberDigest],
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for entry in &manifest.members {
        let Some(digest) = digests.iter().find(|d| d.name == entry.name) else {
            problems.push((entry.name.clone(), "missing from the archive".to_owned()));
            continue;
        };
        let mut differences = Vec::new();
        if digest.lines != entry.records {
            differences.push(format!(
                "{} records, manifest says {}",
                digest.lines, entry.records
            ));
        }
        if digest.bytes != entry.bytes {
            differences.push(format!(
                "{} bytes, manifest says {}",
                digest.bytes, entry.bytes
            ));
        }
        if digest.sha256 != entry.sha256 {
            differences.push("SHA-256 differs from the manifest".to_owned());
        }
        if !differences.is_empty() {
            problems.push((entry.name.clone(), differences.join("; ")));
        }
    }
    for digest in digests {
        if !manifest.members.iter().any(|m| m.name == digest.name) {
            problems.push((digest.name.clone(), "not listed in the manifest".to_owned()));
        }
    }
    problems
}

/// The `id` of a record line that failed to decode, if it has one.
pub(crate) fn id_of(line: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    serde_json::from_str::<IdOnly>(line).ok().and_then(|r| r.id)
}
