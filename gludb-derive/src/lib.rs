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
//! Keys of `#[gludb(...)]` (they may be split over several attributes):
//! - `table = "Name"` (required): the SQL table, `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes;
//! - `bases(PathA, PathB, ...)`: other `Storable` types this one "inherits" from;
//! - `indexes(name, ...)`: methods `fn name(&self) -> impl ToString` whose values are indexed;
//! - `crate = "path"`: where the runtime lives (default `::gludb`).
//!
//! gludb writes the keys `id`, `_create_date` and `_last_update` into every
//! record itself, so no field may be written under or read from
//! `_create_date` or `_last_update`, whether by its name or by
//! `#[serde(rename = ...)]` / `#[serde(alias = ...)]`. Only the `id` field may
//! use `id`. A field that is never written (`#[serde(skip_serializing)]`)
//! may read these keys.

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `gludb::Storable` for a struct with named fields and an
/// `id: String` field, and registers the type so backups can find it.
///
/// See the crate documentation for the `#[gludb(...)]` keys.
#[proc_macro_derive(Storable, attributes(gludb))]
pub fn derive_storable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
