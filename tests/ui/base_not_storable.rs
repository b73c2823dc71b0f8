use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "SimpleTest")]
struct SimpleData {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct PlainData {
    id: String,
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "InheritedTest", bases(SimpleData, PlainData))]
struct InheritedData {
    id: String,
}

fn main() {}
