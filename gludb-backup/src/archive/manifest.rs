//! The manifest: the archive's last member, proof that it is complete and
//! what every member must hash to.

use serde::{Deserialize, Serialize};

/// The manifest's member name.
pub const MANIFEST_NAME: &str = "gludb-manifest.json";

/// The format name written into every manifest.
pub const FORMAT: &str = "gludb-backup";

/// The version of the archive format this crate writes.
pub const FORMAT_VERSION: u32 = 1;

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// It is not the JSON of a manifest.
    #[error("it is not a valid manifest: {0}")]
    Json(#[source] serde_json::Error),
    /// It names another format than `gludb-backup`.
    #[error("it is of an unknown format {0:?}")]
    UnknownFormat(String),
    /// It was written by a newer version of the format.
    #[error("its format version {found} is newer than this reader's ({supported}): upgrade gludb")]
    NewerVersion {
        /// The version in the manifest.
        found: u32,
        /// The newest version this reader knows.
        supported: u32,
    },
    /// It is larger than `Limits::max_manifest_bytes`.
    #[error("it is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// What a backup holds: written as the last member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `gludb-backup`.
    pub format: String,
    /// Format version (1).
    pub format_version: u32,
    /// When the backup started, RFC 3339 UTC.
    pub created: String,
    /// The backup set that wrote it (absent in archives written before
    /// sets existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// The library that wrote it, e.g. `gludb-backup 0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// One entry per class member, in archive order.
    pub members: Vec<MemberManifest>,
}

/// One class member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberManifest {
    /// Member name, `<TypeName>--<table>.json`.
    pub name: String,
    /// The Rust type name (GLUDB's class name).
    pub type_name: String,
    /// The module the type was declared in.
    pub module_path: String,
    /// The table the records were read from (without any prefix).
    pub table: String,
    /// The type's index names at backup time (a schema fingerprint).
    pub indexes: Vec<String>,
    /// Number of records (lines).
    pub records: u64,
    /// Member size in bytes (values plus one `\n` each).
    pub bytes: u64,
    /// SHA-256 of the member's bytes, lowercase hex.
    pub sha256: String,
    /// The class's schema fingerprint at backup time (see
    /// [`fingerprint`](super::fingerprint)); absent in archives of older
    /// writers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The shape the fingerprint is of (`gludb_core::TypeInfo::shape`), so
    /// a drift can be described, not only detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
}

impl MemberManifest {
    /// The class's backup name, `<TypeName>--<table>` (the member name
    /// without `.json`).
    pub fn class_name(&self) -> &str {
        self.name.strip_suffix(".json").unwrap_or(&self.name)
    }

    /// How the running type `info` differs from the class as it was backed
    /// up, if the manifest recorded its shape.
    /// The recorded fingerprint is compared too: a manifest with only a
    /// fingerprint still shows drift, and one whose fingerprint is not its
    /// shape's was edited.
    pub fn schema_drift(&self, info: &gludb_core::TypeInfo) -> Option<String> {
        match (&self.fingerprint, &self.shape) {
            (Some(recorded), Some(shape)) if *recorded != super::fingerprint(shape) => {
                Some(format!(
                    "the manifest's fingerprint {recorded} is not that of its shape (was it edited?)"
                ))
            }
            (_, Some(shape)) => super::drift(shape, info.shape()),
            (Some(recorded), None) if *recorded != info.fingerprint() => Some(format!(
                "schema {recorded} when backed up, {} now",
                info.fingerprint()
            )),
            _ => None,
        }
    }
}

impl Manifest {
    /// Parses a manifest member, refusing other formats and newer versions.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
        if manifest.format != FORMAT {
            return Err(ManifestError::UnknownFormat(manifest.format));
        }
        if manifest.format_version > FORMAT_VERSION {
            return Err(ManifestError::NewerVersion {
                found: manifest.format_version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(manifest)
    }

    /// A manifest of the current format.
    pub fn new(created: String, members: Vec<MemberManifest>) -> Manifest {
        Manifest {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            created,
            set: None,
            writer: Some(concat!("gludb-backup ", env!("CARGO_PKG_VERSION")).to_owned()),
            members,
        }
    }

    /// The manifest of a backup of the set `set`.
    pub fn with_set(mut self, set: &str) -> Manifest {
        self.set = Some(set.to_owned());
        self
    }
}
