//! One walk over an archive, shared by verify, restore and reading: members are
//! classified by name, the manifest is read and must come last, every
//! member is hashed and counted, and at the end the members are compared
//! with the manifest (counts, sizes, SHA-256, duplicates) and with the
//! selection (a selected class the archive lacks). The caller decides only
//! what to do with each member it is handed: decode its records, write
//! them, or skip it.
//!
//! A restore walks strictly (the first problem ends it, before anything is
//! committed); verify walks leniently (problems are collected and the walk
//! goes on, so the report says everything that is wrong).

use gludb_core::TypeInfo;

use crate::{
    Selection,
    archive::{
        ArchiveError, ArchiveReader, BackupKey, Limits, MANIFEST_NAME, Manifest, ManifestError,
        Member, MemberDigest,
        members::{MemberKind, class_parts, classify, compare_with_manifest, missing_from_archive},
    },
    store::BackupBytes,
};

/// What is wrong with an archive that has no manifest, if anything: one
/// whose name says gludb-rs wrote it had one (it was removed, or the
/// archive cut); any other is the original GLUDB's, refused only if a
/// manifest is `required`.
pub(crate) fn manifest_problem(
    key: &str,
    has_manifest: bool,
    required: bool,
) -> Option<ArchiveError> {
    if has_manifest {
        None
    } else if BackupKey::parse(key).is_some_and(|k| k.has_manifest_by_name()) {
        Some(ArchiveError::ManifestRemoved)
    } else if required {
        Some(ArchiveError::MissingManifest)
    } else {
        None
    }
}

/// A member handed to the caller, with what its name says it is.
pub(crate) struct Visit {
    pub(crate) member: Member<BackupBytes>,
    pub(crate) kind: MemberKind,
}

/// Something wrong with the archive as a whole, or with one member.
#[derive(Debug)]
pub(crate) struct Problem {
    /// The member it concerns, if one.
    pub(crate) member: Option<String>,
    pub(crate) error: ArchiveError,
}

/// What a finished walk found.
pub(crate) struct Summary {
    pub(crate) has_manifest: bool,
    /// Every problem, in the order found (a strict walk stops at the first).
    pub(crate) problems: Vec<Problem>,
    /// Selected classes the archive does not hold, and a hint (a renamed
    /// table) when the manifest suggests one.
    pub(crate) missing: Option<(Vec<String>, String)>,
    /// The class members the archive holds (`<TypeName>--<table>`).
    pub(crate) classes_held: Vec<String>,
    /// The manifest, if the archive has a readable one.
    pub(crate) manifest: Option<Manifest>,
    /// Every member read, in archive order (the manifest excluded).
    pub(crate) digests: Vec<MemberDigest>,
}

pub(crate) struct Walk<'a> {
    reader: ArchiveReader<BackupBytes>,
    limits: Limits,
    selection: Option<&'a Selection>,
    strict: bool,
    has_manifest: bool,
    manifest: Option<Manifest>,
    digests: Vec<MemberDigest>,
    /// Registered types whose member was handed out.
    found: Vec<&'static TypeInfo>,
    problems: Vec<Problem>,
}

impl<'a> Walk<'a> {
    /// A walk; with `strict`, the first problem is an error.
    pub(crate) fn new(
        reader: ArchiveReader<BackupBytes>,
        limits: Limits,
        selection: Option<&'a Selection>,
        strict: bool,
    ) -> Self {
        Walk {
            reader,
            limits,
            selection,
            strict,
            has_manifest: false,
            manifest: None,
            digests: Vec::new(),
            found: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Records a problem; in a strict walk it ends the walk.
    fn problem(&mut self, member: Option<String>, error: ArchiveError) -> Result<(), ArchiveError> {
        if self.strict {
            return Err(error);
        }
        self.problems.push(Problem { member, error });
        Ok(())
    }

    /// The next member that is not the manifest, or `None` at the end.
    /// Hand it back with [`done`](Self::done) once read (or skipped).
    pub(crate) async fn next(&mut self) -> Result<Option<Visit>, ArchiveError> {
        loop {
            let Some(mut member) = self.reader.next_member().await? else {
                return Ok(None);
            };
            if self.manifest.is_some() || self.has_manifest {
                let name = member.name().to_owned();
                self.problem(Some(name.clone()), ArchiveError::AfterManifest(name))?;
            }
            let kind = classify(member.name(), self.selection);
            if let MemberKind::Manifest = kind {
                self.read_manifest(&mut member).await?;
                continue;
            }
            if let MemberKind::Class(info) = kind {
                if self.found.iter().any(|f| f.same_type(info)) {
                    let name = member.name().to_owned();
                    self.problem(
                        Some(name.clone()),
                        ArchiveError::Mismatch {
                            member: name,
                            detail: "the archive holds this member more than once".into(),
                        },
                    )?;
                }
                self.found.push(info);
            }
            return Ok(Some(Visit { member, kind }));
        }
    }

    async fn read_manifest(
        &mut self,
        member: &mut Member<BackupBytes>,
    ) -> Result<(), ArchiveError> {
        self.has_manifest = true;
        let parsed = match member.read_all(self.limits.max_manifest_bytes).await? {
            Some(bytes) => Manifest::from_json(&bytes),
            None => Err(ManifestError::TooLarge {
                limit: self.limits.max_manifest_bytes,
            }),
        };
        match parsed {
            Ok(manifest) => self.manifest = Some(manifest),
            Err(e) => self.problem(Some(MANIFEST_NAME.to_owned()), ArchiveError::BadManifest(e))?,
        }
        Ok(())
    }

    /// Takes back a member handed out by [`next`](Self::next), read to its
    /// end or skipped, and returns its digest.
    pub(crate) fn done(&mut self, member: Member<BackupBytes>) -> MemberDigest {
        let digest = member.digest();
        self.digests.push(digest.clone());
        digest
    }

    /// Compares what was read with the manifest and the selection.
    pub(crate) fn finish(mut self) -> Result<Summary, ArchiveError> {
        let digests = std::mem::take(&mut self.digests);
        if let Some(manifest) = &self.manifest {
            for (member, detail) in compare_with_manifest(manifest, &digests) {
                self.problem(
                    Some(member.clone()),
                    ArchiveError::Mismatch { member, detail },
                )?;
            }
        }
        let names: Vec<String> = digests.iter().map(|d| d.name.clone()).collect();
        let missing = self.selection.and_then(|selection| {
            missing_from_archive(selection, &self.found, self.manifest.as_ref(), &names)
        });
        let classes_held = names
            .iter()
            .filter_map(|n| class_parts(n))
            .map(|(backup_name, _, _)| backup_name.to_owned())
            .collect();
        Ok(Summary {
            has_manifest: self.has_manifest,
            problems: self.problems,
            missing,
            classes_held,
            manifest: self.manifest,
            digests,
        })
    }
}
