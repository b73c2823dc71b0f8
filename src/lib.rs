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

pub use gludb_core::*;
pub use gludb_derive::Storable;

/// Backups: pick classes, stream them into an object store, list, verify
/// and restore them.
pub mod backup {
    pub use gludb_backup::*;
}
