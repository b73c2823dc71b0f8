//! The stored types the conformance suite exercises.

use std::collections::BTreeMap;

use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "SimpleTest", indexes(reversed_name))]
pub struct SimpleData {
    pub id: String,
    pub name: String,
    pub descrip: String,
    pub age: u32,
}

impl SimpleData {
    pub fn new(name: &str, age: u32) -> Self {
        SimpleData {
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
#[gludb(table = "FragileTest")]
pub struct FragileData {
    pub id: String,
    pub label: String,
    /// JSON object keys must be strings: a non-empty map with `Vec` keys
    /// does not serialise.
    #[serde(default)]
    pub bad_keys: BTreeMap<Vec<u8>, u32>,
}
