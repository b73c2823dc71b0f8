//! Backups of gludb stored objects: pick classes from the registry, stream
//! them from one read snapshot through tar and gzip into S3 or any object
//! store, in bounded memory; a manifest with SHA-256 hashes makes every
//! backup verifiable; restores are all or nothing.
//!
//! Use it through the `gludb` crate (`gludb::backup`).
//!
//! The modules follow the data:
//!
//! ```text
//! backup/   selection → snapshot → (archive) tar → gzip → (store) upload → history
//! restore/  (store) download → (archive) gunzip → tar → walk → decode → writer
//! read/     (store) download → (archive) walk → one class's lines → decode → you
//! archive/  the format both sides share: names, members, manifest, tar,
//!           compression (gzip; zstd), encryption (age), schema fingerprints,
//!           and `open`: an object → its plain tar, for every reader
//! store/    where backups live: destinations, the connected store, listing,
//!           retention, uploads, orphans
//! ```
//!
//! `file://` and `memory://` destinations are always there; the cloud
//! stores are Cargo features: `aws` (default: `s3://`, [`Destination::s3`]),
//! `gcp` (`gs://`) and `azure` (`az://`). A destination whose feature is off
//! is [`BackupError::FeatureNotEnabled`]. The archive options are features
//! too: `zstd` ([`Backup::with_zstd`]) and `age` (`Backup::encrypt_to`,
//! `BackupStore::with_identities`).

#![warn(missing_docs)]

pub mod archive;
mod backup;
mod error;
mod read;
mod restore;
mod store;

pub use backup::{
    Backup, BackupHistory, BackupReport, BackupStatus, Bases, ClassCount, ClassReport, Progress,
    RunningBackup, Selection, Subpackages,
};
pub use error::{BackupError, RecordProblem, Result};
pub use gludb_core::RestoreMode;
pub use read::{InspectedClass, Inspection, RawRecords, ReadCheck, ReadRequest, Records};
pub use restore::{
    ClassCheck, ClassRestore, Restore, RestoreProgress, RestoreReport, VerifyReport,
};
pub use store::{
    BackupListing, BackupStore, Destination, FailedOrphan, Orphan, OrphanKind, OrphanReport,
    PruneReport, Retention,
};
