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
//! let found = SimpleData::find_by_reversed_name(&dbs, "ecilA").await?;
//! assert_eq!(found[0].id, alice.id);
//! # Ok(()) }
//! ```
//!
//! The `#[gludb(...)]` keys (table, indexes on fields or methods, bases)
//! are documented on the derive, [`Storable`](macro@Storable).
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

/// Derives [`Storable`](trait@Storable): stores a struct with named fields
/// and an `id: String` field as one JSON record per object, and registers
/// the type so backups and restores find it by name.
///
/// ```
/// use gludb::{Databases, Storable, sqlite::Sqlite};
///
/// #[derive(Storable, serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// #[gludb(table = "Person", indexes(city, initial))]
/// struct Person {
///     id: String,
///     name: String,
///     city: String,
/// }
///
/// impl Person {
///     // An index may be a method returning anything `ToString`...
///     fn initial(&self) -> char {
///         self.name.chars().next().unwrap_or(' ')
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> gludb::Result<()> {
/// let dbs = Databases::new(Sqlite::open_in_memory().await?);
/// Person::ensure_table(&dbs).await?;
/// let mut ada = Person { id: String::new(), name: "Ada".into(), city: "London".into() };
/// ada.save(&dbs).await?;
///
/// // ...or a field; each index gets a typed finder `find_by_<index>`.
/// assert_eq!(Person::find_by_city(&dbs, "London").await?, [ada]);
/// assert_eq!(Person::find_by_initial(&dbs, 'A').await?.len(), 1);
/// // The string-keyed form, for an index chosen at run time:
/// assert_eq!(Person::find_by_index(&dbs, "city", "Paris").await?, []);
/// # Ok(()) }
/// ```
///
/// # The `#[gludb(...)]` keys
///
/// Keys may be split over several `#[gludb(...)]` attributes; each is given
/// once.
///
/// | key | required | meaning |
/// | --- | --- | --- |
/// | `table = "Name"` | yes | the table that stores the type (with the prefix of [`Databases::with_table_prefix`], if any) |
/// | `indexes(a, b, ...)` | no | indexed values, each a field of the struct or else a method `fn a(&self) -> impl ToString` (a field of that name wins); each becomes a text column holding the value's `to_string()`, and a typed finder `find_by_a(dbs, value)` |
/// | `bases(TypeA, TypeB, ...)` | no | other `Storable` types this one "inherits" from, as a Python GLUDB class does: [`Databases::map`] for a base applies to this type, and a backup of a class with `include_bases` takes them too |
/// | `crate = "path"` | no | where the runtime lives, `gludb` by default (e.g. `"::my_crate::gludb"` for a re-export) |
///
/// Table and index names are SQL names: `[A-Za-z_][A-Za-z0-9_]*`, at most
/// 63 bytes, a table not starting with `sqlite_`, an index not `id` or
/// `value` (in any case); the rule is [`names`]'s, checked at compile time.
/// The generated finders have the struct's visibility.
///
/// # Keys gludb writes itself
///
/// Every record holds `id` (from the `id` field: 32 hex characters, set by
/// the first `save`), `_create_date` and `_last_update`. No field may be
/// written under `_create_date` or `_last_update`, nor under `id` other than
/// the `id` field, whether by its name or by `#[serde(rename = ...)]` /
/// `#[serde(alias = ...)]`: its value would be lost. Read the times with
/// [`Storable::find_one_with_meta`], or into a field that is never written:
///
/// ```
/// # use gludb::{Databases, Storable, sqlite::Sqlite};
/// #[derive(Storable, serde::Serialize, serde::Deserialize)]
/// #[gludb(table = "Note")]
/// struct Note {
///     id: String,
///     text: String,
///     /// Read from the stored record; `save` neither writes nor updates it.
///     #[serde(skip_serializing, default)]
///     _last_update: String,
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> gludb::Result<()> {
/// # let dbs = Databases::new(Sqlite::open_in_memory().await?);
/// # Note::ensure_table(&dbs).await?;
/// let mut note = Note { id: String::new(), text: "hi".into(), _last_update: String::new() };
/// note.save(&dbs).await?;
/// let stored = Note::find_one(&dbs, &note.id).await?.expect("saved");
/// assert!(stored._last_update.starts_with("UTC:"));
/// # Ok(()) }
/// ```
///
/// # Mistakes are compile errors
///
/// A missing `table` or `id`, an `id` that is not a `String`, a generic
/// type, an enum, a duplicate key, base or index, a field using gludb's
/// keys, an invalid table or index name, an index that is neither a field
/// nor a method and a base that is not `Storable` are each one compile
/// error pointing at the mistake:
///
/// ```compile_fail,E0080
/// #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
/// #[gludb(table = "user-data")] // error: invalid table name: only ASCII letters, digits and `_` are allowed; ...
/// struct UserData { id: String }
/// ```
pub use gludb_derive::Storable;

/// Backups: pick classes, stream them into an object store, list, verify
/// and restore them.
pub mod backup {
    pub use gludb_backup::*;
}

/// Operators' commands (backup, list, inspect, verify, restore, prune, cat,
/// orphans) for the service's own binary: `gludb::cli::App::new(&dbs).run()`
/// (feature `cli`). See the `gludb-cli` crate for the conventions and exit
/// codes.
#[cfg(feature = "cli")]
pub use gludb_cli as cli;
