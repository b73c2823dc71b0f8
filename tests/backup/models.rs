//! The original's backup test classes.

use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[gludb(table = "SimpleTest", indexes(reversed_name))]
pub struct SimpleData {
    pub id: String,
    pub name: String,
    pub descrip: String,
    pub age: u32,
}

impl SimpleData {
    fn reversed_name(&self) -> String {
        self.name.chars().rev().collect()
    }
}

#[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[gludb(table = "ComplexTest")]
pub struct ComplexData {
    pub id: String,
    pub name: String,
    pub complex_data: Vec<(String, i64)>,
}

#[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[gludb(table = "InheritedTest", bases(SimpleData, ComplexData))]
pub struct InheritedData {
    pub id: String,
    pub only_inherited: i64,
}

/// Incompressible payloads, to push an archive past one multipart part.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[gludb(table = "BlobTest")]
pub struct BlobData {
    pub id: String,
    pub noise: String,
}

/// Never saved: backs up as an empty member.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[gludb(table = "EmptyTest")]
pub struct EmptyData {
    pub id: String,
}
