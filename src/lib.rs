//! # gludb
//!
//! A small data layer for Rust services, after Python's GLUDB: declare stored
//! types with `#[derive(Storable)]`, keep them in SQLite (the embedded
//! default), and back them up into one verifiable `tar.gz` in S3 or any
//! object store.
//!
//! ```
//! use gludb::{Databases, Storable, sqlite::Sqlite};
//!
//! #[derive(Storable, serde::Serialize, serde::Deserialize)]
//! #[gludb(table = "SimpleTest", indexes(reversed_name))]
//! struct SimpleData { id: String, name: String, age: u32 }
//!
//! impl SimpleData {
//!     fn reversed_name(&self) -> String { self.name.chars().rev().collect() }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> gludb::Result<()> {
//! let dbs = Databases::new(Sqlite::open_in_memory().await?);
//! SimpleData::ensure_table(&dbs).await?;
//! let mut alice = SimpleData { id: String::new(), name: "Alice".into(), age: 42 };
//! alice.save(&dbs).await?;
//! let found = SimpleData::find_by_index(&dbs, "reversed_name", "ecilA").await?;
//! assert_eq!(found[0].id, alice.id);
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | brings |
//! | --- | --- | --- |
//! | `sqlite` | yes | [`sqlite::Sqlite`], the embedded backend (rusqlite, SQLite bundled) |
//! | `postgres` | | `postgres::Postgres`, the PostgreSQL backend (tokio-postgres, deadpool) |
//! | `aws` | yes | backups to Amazon S3 and S3-compatible servers: `s3://` URLs, [`backup::Backup::new`] / [`backup::Restore::new`] |
//! | `gcp` | | backups to Google Cloud Storage: `gs://` URLs |
//! | `azure` | | backups to Azure Blob Storage: `az://`, `abfs[s]://` URLs |
//!
//! The derive, the registry, [`Databases`] and backups to `file://` and
//! `memory://` need no feature. The smallest build for SQLite and local
//! backups:
//!
//! ```toml
//! gludb = { version = "0.1", default-features = false, features = ["sqlite"] }
//! ```
//!
//! A module whose feature is off is not there (`gludb::postgres` without
//! `postgres`); a destination whose feature is off is refused with
//! [`backup::BackupError::FeatureNotEnabled`], which names the feature.
//! The cloud stores use rustls with the ring crypto provider, which gludb
//! installs as the process default on its first connection to one unless
//! the application installed a provider first.

pub use gludb_core::*;
pub use gludb_derive::Storable;

/// Backups: pick classes, stream them into an object store, list, verify
/// and restore them.
pub mod backup {
    pub use gludb_backup::*;
}
