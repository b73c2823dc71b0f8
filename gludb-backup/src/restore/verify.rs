//! Verifying a backup without writing anything: every member against the
//! manifest, every record against its registered type.

use serde::Serialize;

use crate::archive::walk::{Visit, Walk, manifest_problem};
use crate::{
    Result, Selection,
    archive::{
        ArchiveError, Limits,
        members::{MemberKind, id_of},
    },
    store::{Connected, archive_error, open_backup},
};

/// What every stored record is, whatever its type: checked for members of
/// types this binary does not register.
#[derive(serde::Deserialize)]
struct RecordShape {
    #[allow(dead_code)] // Read to check that it is there.
    id: String,
}

/// Decode problems listed per class before the rest are only counted.
const MAX_LISTED_PROBLEMS: usize = 20;

/// The verdict on one class member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassCheck {
    /// `<TypeName>--<table>`.
    pub name: String,
    /// Whether a type of that name is registered in this binary (only then
    /// are records decoded).
    pub registered: bool,
    /// Records (lines) read.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// SHA-256 of the member.
    pub sha256: String,
    /// What is wrong; empty when the class is OK.
    pub problems: Vec<String>,
    /// How the registered type differs from the class as it was backed up
    /// (its schema fingerprint changed), even if every record decodes;
    /// `None` when it is the same, or the archive did not record it.
    pub schema_drift: Option<String>,
}

/// The outcome of [`crate::Restore::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The backup's key.
    pub key: String,
    /// Whether the archive has a manifest. Archives of the original Python
    /// GLUDB have none: only their records can be checked.
    pub has_manifest: bool,
    /// One entry per class member, in archive order.
    pub classes: Vec<ClassCheck>,
    /// Members whose records were not decoded with a type: names that are
    /// not class members, and types this binary does not register (or the
    /// selection leaves out). Their sizes and hashes are still checked, and
    /// the lines of class members are checked to be JSON objects with an
    /// `id`.
    pub skipped_members: Vec<String>,
    /// Problems of the archive as a whole (corruption, missing members).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong (a missing manifest alone is not wrong,
    /// nor is schema drift: see [`has_schema_drift`](Self::has_schema_drift)).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.classes.iter().all(|c| c.problems.is_empty())
    }

    /// Whether a registered type differs from its class in the backup.
    pub fn has_schema_drift(&self) -> bool {
        self.classes.iter().any(|c| c.schema_drift.is_some())
    }
}

pub(crate) async fn verify(
    connected: &Connected,
    key: &str,
    limits: Limits,
    selection: Option<&Selection>,
) -> Result<VerifyReport> {
    let reader = open_backup(connected, key, limits).await?;
    let mut report = VerifyReport {
        key: key.to_owned(),
        has_manifest: false,
        classes: Vec::new(),
        skipped_members: Vec::new(),
        problems: Vec::new(),
    };
    // Reading stops at the first error the walk cannot go past (a corrupt
    // stream); what was read so far is still reported.
    let mut walk = Walk::new(reader, limits, selection, false);
    let mut types = Vec::new();
    match check_all(&mut walk, &mut report, &mut types)
        .await
        .and_then(|()| walk.finish())
    {
        Ok(summary) => {
            if let Some(manifest) = &summary.manifest {
                for (class, info) in report.classes.iter_mut().zip(&types) {
                    let entry = manifest
                        .members
                        .iter()
                        .find(|m| m.class_name() == class.name);
                    class.schema_drift = info.zip(entry).and_then(|(info, m)| m.schema_drift(info));
                }
            }
            report.has_manifest = summary.has_manifest;
            if let Some(problem) = manifest_problem(key, summary.has_manifest, false) {
                report.problems.push(problem.to_string());
            }
            for problem in summary.problems {
                let text = problem.error.to_string();
                let class = problem
                    .member
                    .as_deref()
                    .and_then(|m| m.strip_suffix(".json"));
                match report
                    .classes
                    .iter_mut()
                    .find(|c| Some(c.name.as_str()) == class)
                {
                    Some(class) => class.problems.push(text),
                    None => report.problems.push(text),
                }
            }
            if let Some((missing, hint)) = summary.missing {
                report.problems.push(format!(
                    "the archive holds no records of {}{hint}",
                    missing.join(", ")
                ));
            }
        }
        Err(e) => {
            let error = archive_error(connected, key, e);
            if matches!(error, crate::BackupError::Archive { .. }) {
                report.problems.push(error.to_string());
            } else {
                return Err(error);
            }
        }
    }
    Ok(report)
}

/// Reads every member: class members' records are decoded with their
/// type, everything is hashed.
/// `types` gets the registered type of each class member (in the order of
/// `report.classes`).
async fn check_all(
    walk: &mut Walk<'_>,
    report: &mut VerifyReport,
    types: &mut Vec<Option<&'static gludb_core::TypeInfo>>,
) -> Result<(), ArchiveError> {
    while let Some(Visit { mut member, kind }) = walk.next().await? {
        let mut problems = Vec::new();
        let mut failures = 0usize;
        let named_like_class = !matches!(kind, MemberKind::Unknown | MemberKind::Manifest);
        let ambiguous = matches!(kind, MemberKind::Ambiguous(_));
        let unregistered = matches!(kind, MemberKind::Unregistered);
        let info = match kind {
            MemberKind::Class(info) => Some(info),
            // Decoding with a guessed type would prove nothing: say so, as
            // a restore would refuse it too.
            MemberKind::Ambiguous(candidates) => {
                let names: Vec<_> = candidates.iter().map(|c| c.full_name()).collect();
                problems.push(format!(
                    "named like several registered types ({}); select one with `add_class` to check or restore it",
                    names.join(", ")
                ));
                None
            }
            MemberKind::Unregistered | MemberKind::Unknown | MemberKind::Manifest => None,
        };
        match info {
            Some(info) => {
                while let Some((number, line)) = member.next_line().await? {
                    if let Err(e) = info.decode(line) {
                        failures += 1;
                        if problems.len() < MAX_LISTED_PROBLEMS {
                            problems.push(format!(
                                "line {} (id {:?}) does not decode into `{}`: {e}",
                                number,
                                id_of(line),
                                info.type_name()
                            ));
                        }
                    }
                }
            }
            // Without the type, each line is still checked to be what every
            // stored record is: a JSON object with a string `id`.
            None if unregistered => {
                while let Some((number, line)) = member.next_line().await? {
                    if let Err(e) = serde_json::from_str::<RecordShape>(line) {
                        failures += 1;
                        if problems.len() < MAX_LISTED_PROBLEMS {
                            problems.push(format!(
                                "line {number} is not a stored record (a JSON object with a string `id`): {e}"
                            ));
                        }
                    }
                }
            }
            None => member.skip().await?,
        }
        if failures > problems.len() {
            problems.push(format!(
                "... {} more records are not valid",
                failures - problems.len()
            ));
        }
        let digest = walk.done(member);
        if info.is_none() && !ambiguous {
            report.skipped_members.push(digest.name.clone());
        }
        if named_like_class {
            types.push(info);
            report.classes.push(ClassCheck {
                name: digest.name.trim_end_matches(".json").to_owned(),
                registered: info.is_some(),
                records: digest.lines,
                bytes: digest.bytes,
                sha256: digest.sha256,
                problems,
                schema_drift: None,
            });
        }
    }
    Ok(())
}
