//! The stored types the conformance checks exercise. Their names are the
//! suite's own, so linking the suite into a binary that has types named
//! `SimpleData` does not make registry lookups by name ambiguous.

use std::collections::BTreeMap;

use gludb_derive::Storable;
use serde::{Deserialize, Serialize};

/// A type with one method index, as the original GLUDB's `SimpleTest`.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "SimpleTest", indexes(reversed_name), crate = "gludb_core")]
pub struct ConformanceSimple {
    /// Record id.
    pub id: String,
    /// A name, indexed reversed.
    pub name: String,
    /// A description.
    pub descrip: String,
    /// An age.
    pub age: u32,
}

impl ConformanceSimple {
    /// An unsaved object.
    pub fn new(name: &str, age: u32) -> Self {
        ConformanceSimple {
            id: String::new(),
            name: name.into(),
            descrip: format!("{name} is {age}"),
            age,
        }
    }

    fn reversed_name(&self) -> String {
        self.name.chars().rev().collect()
    }
}

/// A type whose serialisation can be made to fail, to prove a failed save
/// changes nothing.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "FragileTest", crate = "gludb_core")]
pub struct ConformanceFragile {
    /// Record id.
    pub id: String,
    /// A label.
    pub label: String,
    /// JSON object keys must be strings: a non-empty map with `Vec` keys
    /// does not serialise.
    #[serde(default)]
    pub bad_keys: BTreeMap<Vec<u8>, u32>,
}

/// A type whose indexes are two fields and a method.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(
    table = "IndexedTest",
    indexes(tag, count, loud_tag),
    crate = "gludb_core"
)]
pub struct ConformanceIndexed {
    /// Record id.
    pub id: String,
    /// Indexed as it is.
    pub tag: String,
    /// Indexed as its decimal text.
    pub count: u32,
}

impl ConformanceIndexed {
    /// An unsaved object.
    pub fn new(tag: &str, count: u32) -> Self {
        ConformanceIndexed {
            id: String::new(),
            tag: tag.into(),
            count,
        }
    }

    fn loud_tag(&self) -> String {
        self.tag.to_uppercase()
    }
}
