//! Verifying a backup without writing anything: every member against the
//! manifest, every record against its registered type.

use serde::Serialize;

use crate::{
    Result, Selection,
    archive::{ArchiveReader, Limits, Manifest, MemberDigest},
    destination::Connected,
    members::{MemberKind, classify, compare_with_manifest, id_of, missing_from_archive},
    source::{BackupBytes, archive_error, open_backup},
};

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
    /// Members that are neither classes nor the manifest (skipped).
    pub unknown_members: Vec<String>,
    /// Problems of the archive as a whole (corruption, missing members).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong (a missing manifest alone is not wrong).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.classes.iter().all(|c| c.problems.is_empty())
    }
}

pub(crate) async fn verify(
    connected: &Connected,
    key: &str,
    limits: Limits,
    selection: Option<&Selection>,
) -> Result<VerifyReport> {
    let mut reader = open_backup(connected, key, limits).await?;
    let mut report = VerifyReport {
        key: key.to_owned(),
        has_manifest: false,
        classes: Vec::new(),
        unknown_members: Vec::new(),
        problems: Vec::new(),
    };
    // Reading stops at the first archive-level error; what was read so far
    // is still reported.
    match read_all(&mut reader, limits, selection, &mut report).await {
        Ok(()) => {}
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

async fn read_all(
    reader: &mut ArchiveReader<BackupBytes>,
    limits: Limits,
    selection: Option<&Selection>,
    report: &mut VerifyReport,
) -> std::result::Result<(), crate::archive::ArchiveError> {
    let mut digests: Vec<MemberDigest> = Vec::new();
    let mut found = Vec::new();
    let mut manifest = None;
    while let Some(mut member) = reader.next_member().await? {
        if manifest.is_some() {
            report
                .problems
                .push(format!("member {} follows the manifest", member.name()));
        }
        match classify(member.name(), selection) {
            MemberKind::Manifest => {
                report.has_manifest = true;
                match member.read_all(limits.max_manifest_bytes).await? {
                    Some(bytes) => match Manifest::from_json(&bytes) {
                        Ok(parsed) => manifest = Some(parsed),
                        Err(e) => report
                            .problems
                            .push(format!("the manifest is unusable: {e}")),
                    },
                    None => report.problems.push("the manifest is too large".to_owned()),
                }
            }
            MemberKind::Unknown => {
                member.skip().await?;
                report.unknown_members.push(member.name().to_owned());
            }
            kind => {
                let mut problems = Vec::new();
                let mut failures = 0usize;
                let info = match kind {
                    MemberKind::Class(info) => Some(info),
                    // Decoding with a guessed type would prove nothing: say
                    // so, as a restore would refuse it too.
                    MemberKind::Ambiguous(candidates) => {
                        let names: Vec<_> = candidates.iter().map(|c| c.full_name()).collect();
                        problems.push(format!(
                            "named like several registered types ({}); select one with `add_class` to check or restore it",
                            names.join(", ")
                        ));
                        None
                    }
                    _ => None,
                };
                match info {
                    Some(info) => {
                        found.push(info);
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
                    None => member.skip().await?,
                }
                if failures > problems.len() {
                    problems.push(format!(
                        "... {} more records do not decode",
                        failures - problems.len()
                    ));
                }
                let digest = member.digest();
                report.classes.push(ClassCheck {
                    name: digest.name.trim_end_matches(".json").to_owned(),
                    registered: info.is_some(),
                    records: digest.lines,
                    bytes: digest.bytes,
                    sha256: digest.sha256.clone(),
                    problems,
                });
                digests.push(digest);
                continue;
            }
        }
    }
    if let Some(selection) = selection {
        let names: Vec<String> = digests.iter().map(|d| d.name.clone()).collect();
        if let Some((missing, hint)) =
            missing_from_archive(selection, &found, manifest.as_ref(), &names)
        {
            report.problems.push(format!(
                "the archive holds no records of {}{hint}",
                missing.join(", ")
            ));
        }
    }
    if let Some(manifest) = &manifest {
        for (member, problem) in compare_with_manifest(manifest, &digests) {
            let name = member.trim_end_matches(".json");
            match report.classes.iter_mut().find(|c| c.name == name) {
                Some(class) => class.problems.push(problem),
                None => report.problems.push(format!("{member}: {problem}")),
            }
        }
    }
    Ok(())
}
