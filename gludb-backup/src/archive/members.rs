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

/// The one rule for what a class member is: `<TypeName>--<table>.json` at
/// the archive's top level. Its `(backup name, type name, table)`.
pub(crate) fn class_parts(member: &str) -> Option<(&str, &str, &str)> {
    let backup_name = member
        .strip_suffix(".json")
        .filter(|name| !name.contains('/'))?;
    let (type_name, table) = backup_name.split_once("--")?;
    Some((backup_name, type_name, table))
}

/// Classifies a member by name; with a selection, only selected types count.
pub(crate) fn classify(name: &str, selection: Option<&Selection>) -> MemberKind {
    if name == MANIFEST_NAME {
        return MemberKind::Manifest;
    }
    let Some((backup_name, _, _)) = class_parts(name) else {
        return MemberKind::Unknown;
    };
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
/// A name listed or present more than once is a problem of its own: a
/// reader keyed by name would check only one of them.
pub(crate) fn compare_with_manifest(
    manifest: &Manifest,
    digests: &[MemberDigest],
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for entry in &manifest.members {
        if seen.contains(&entry.name.as_str()) {
            continue;
        }
        seen.push(&entry.name);
        let listed = manifest
            .members
            .iter()
            .filter(|m| m.name == entry.name)
            .count();
        let present = digests.iter().filter(|d| d.name == entry.name).count();
        if listed > 1 || present > 1 {
            problems.push((
                entry.name.clone(),
                format!(
                    "the manifest lists it {listed} times and the archive holds it {present} times; a backup holds each member once"
                ),
            ));
            continue;
        }
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
    for (i, digest) in digests.iter().enumerate() {
        let first = digests.iter().position(|d| d.name == digest.name) == Some(i);
        if !first {
            continue;
        }
        if !manifest.members.iter().any(|m| m.name == digest.name) {
            let present = digests.iter().filter(|d| d.name == digest.name).count();
            let problem = if present > 1 {
                format!("not listed in the manifest, and present {present} times")
            } else {
                "not listed in the manifest".to_owned()
            };
            problems.push((digest.name.clone(), problem));
        }
    }
    problems
}

/// The selected classes no archive member matched, and a hint when the
/// manifest shows the same type under another table (a renamed table) —
/// for the restore's and verify's "you asked for X, it is not there".
pub(crate) fn missing_from_archive(
    selection: &Selection,
    found: &[&'static TypeInfo],
    manifest: Option<&Manifest>,
    member_names: &[String],
) -> Option<(Vec<String>, String)> {
    let missing: Vec<&'static TypeInfo> = selection
        .classes()
        .iter()
        .copied()
        .filter(|class| !found.iter().any(|f| f.same_type(class)))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut hints = Vec::new();
    for class in &missing {
        let same_type = |type_name: &str, table: &str, module: Option<&str>| {
            type_name == class.type_name()
                && table != class.table()
                && module.is_none_or(|m| m == class.module_path())
        };
        let renamed: Vec<String> = match manifest {
            Some(manifest) => manifest
                .members
                .iter()
                .filter(|m| same_type(&m.type_name, &m.table, Some(&m.module_path)))
                .map(|m| m.table.clone())
                .collect(),
            // Archives without a manifest: the member names alone.
            None => member_names
                .iter()
                .filter_map(|n| class_parts(n))
                .filter(|(_, type_name, table)| same_type(type_name, table, None))
                .map(|(_, _, table)| table.to_owned())
                .collect(),
        };
        for table in renamed {
            hints.push(format!(
                "`{}` was backed up from table {table:?} but is now stored in {:?}: was the table renamed? Restore that member with a type whose table is {table:?}",
                class.full_name(),
                class.table()
            ));
        }
    }
    let hint = if hints.is_empty() {
        String::new()
    } else {
        format!(" ({})", hints.join("; "))
    };
    Some((missing.iter().map(|c| c.backup_name()).collect(), hint))
}

/// The `id` of a record line that failed to decode, if it has one.
pub(crate) fn id_of(line: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    serde_json::from_str::<IdOnly>(line).ok().and_then(|r| r.id)
}
