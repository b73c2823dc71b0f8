//! The archive format, a contract with every reader old and new:
//!
//! - one gzip'd tar;
//! - one member per class, `<TypeName>--<table>.json`, holding each record's
//!   stored JSON verbatim, one per line, `\n`-terminated (what the original
//!   Python GLUDB writes);
//! - then, last, [`MANIFEST_NAME`]: counts, sizes and SHA-256 of every
//!   member. Its presence means the backup is complete.
//!
//! Object names are
//! `Backup_UTC_<UTC ISO-8601 time>_<selection>-<run>[_<set>].tar.gz` with `:`
//! replaced by `_` (see [`BackupKey`]).

pub(crate) mod compress;
#[cfg(feature = "age")]
pub(crate) mod encrypt;
mod format;
mod key;
mod manifest;
pub(crate) mod members;
pub(crate) mod open;
mod reader;
mod schema;
pub(crate) mod walk;
mod writer;

#[cfg(feature = "age")]
pub use encrypt::{Identity, KeyError, Recipient};
pub(crate) use format::Magic;
pub use format::{ArchiveFormat, Codec};
pub(crate) use key::next_run_time;
pub use key::{BackupKey, DEFAULT_SET, SetName, selection_tag};
pub use manifest::{
    FORMAT, FORMAT_VERSION, MANIFEST_NAME, Manifest, ManifestError, MemberManifest,
};
pub use reader::{ArchiveError, ArchiveReader, Limits, Member, MemberDigest};
pub use schema::{drift, fingerprint};
pub(crate) use writer::ArchiveWriter;
