//! `#[derive(Storable)]` for gludb.
//!
//! Use it through the `gludb` crate (`gludb::Storable`), which re-exports this
//! macro next to the runtime it targets. The macro reads the `#[gludb(...)]`
//! attributes, checks them and the struct's shape, and writes the
//! `Storable` impl plus the type's entry in the global registry of stored types
//! (which backups and restores walk without naming the Rust types).
//!
//! ```ignore
//! #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
//! #[gludb(table = "InheritedTest", bases(SimpleData), indexes(reversed_name))]
//! struct InheritedData {
//!     id: String,
//!     only_inherited: i64,
//! }
//! ```
//!
//! The keys of `#[gludb(...)]`, with examples, are documented on the
//! `gludb::Storable` derive re-export, where users look. In short (keys may
//! be split over several attributes):
//! - `table = "Name"` (required): the SQL table;
//! - `indexes(name, ...)`: fields, or else methods `fn name(&self) -> impl
//!   ToString`, whose values are indexed; each gets a typed finder
//!   `find_by_<name>(dbs, value)`;
//! - `bases(PathA, PathB, ...)`: other `Storable` types this one "inherits" from;
//! - `crate = "path"`: where the runtime lives (default `::gludb`).
//!
//! Table and index names follow gludb-core's one rule (`gludb_core::names`):
//! the generated code evaluates it in a `const` item spanned at the name, so
//! a bad name is a compile error at it, with the runtime's own message, and
//! this macro has no copy of the rule.
//!
//! gludb writes the keys `id`, `_create_date` and `_last_update` into every
//! record itself, so no field may be written under or read from
//! `_create_date` or `_last_update`, whether by its name or by
//! `#[serde(rename = ...)]` / `#[serde(alias = ...)]`. Only the `id` field may
//! use `id`. A field that is never written (`#[serde(skip_serializing)]`)
//! may read these keys.
//!
//! The generated code names the runtime through one `use
//! <crate>::__private_v<version> as __gludb_rt;` (`__private_v0_1` for
//! 0.1.x), so a derive and a runtime of different releases are one
//! "unresolved import" error. After an error, the macro still emits a
//! `Storable` impl whose bodies are never run (as thiserror does), so the
//! mistake is the only error.

mod ast;
mod attr;
mod expand;
mod shape;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `gludb::Storable` for a struct with named fields and an
/// `id: String` field, generates a typed finder per index, and registers the
/// type so backups can find it.
///
/// See `gludb::Storable` (the derive's re-export) for the `#[gludb(...)]`
/// keys.
#[proc_macro_derive(Storable, attributes(gludb))]
pub fn derive_storable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
