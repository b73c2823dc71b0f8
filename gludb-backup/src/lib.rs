//! Backups of gludb stored objects: pick classes from the registry, stream
//! them from one read snapshot through tar and gzip into S3 or any object
//! store, in bounded memory; a manifest with SHA-256 hashes makes every
//! backup verifiable; restores are all or nothing.
//!
//! Use it through the `gludb` crate (`gludb::backup`).
//!
//! `file://` and `memory://` destinations are always there; the cloud
//! stores are Cargo features: `aws` (default: `s3://`, [`Destination::s3`]),
//! `gcp` (`gs://`) and `azure` (`az://`). A destination whose feature is off
//! is [`BackupError::FeatureNotEnabled`].

#![warn(missing_docs)]

pub mod archive;
mod backup;
mod compress;
mod destination;
mod error;
mod history;
mod members;
mod orphans;
mod report;
mod restore;
mod restore_writer;
mod retention;
mod retry;
mod run;
mod selection;
mod set;
mod source;
mod upload;
mod verify;

pub use backup::Backup;
pub use destination::Destination;
pub use error::{BackupError, RecordProblem, Result};
pub use gludb_core::RestoreMode;
pub use history::{BackupHistory, BackupStatus, ClassCount};
pub use orphans::{Orphan, OrphanKind, OrphanReport};
pub use report::{BackupReport, ClassReport, Progress};
pub use restore::{ClassRestore, Restore, RestoreReport};
pub use retention::{PruneReport, Retention};
pub use run::RunningBackup;
pub use selection::Selection;
pub use source::BackupListing;
pub use verify::{ClassCheck, VerifyReport};
