//! Backups of gludb stored objects: pick classes from the registry, stream
//! them from one read snapshot through tar and gzip into S3 or any object
//! store, in bounded memory; a manifest with SHA-256 hashes makes every
//! backup verifiable.
//!
//! Use it through the `gludb` crate (`gludb::backup`).

#![warn(missing_docs)]

pub mod archive;
mod backup;
mod destination;
mod error;
mod history;
mod report;
mod selection;
mod upload;

pub use backup::Backup;
pub use destination::Destination;
pub use error::{BackupError, Result};
pub use history::{BackupHistory, BackupStatus, ClassCount};
pub use report::{BackupReport, ClassReport};
pub use selection::Selection;
