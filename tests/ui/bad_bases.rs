use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "SimpleTest")]
struct SimpleData {
    id: String,
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Looped", bases(SimpleData, Looped, SimpleData))]
struct Looped {
    id: String,
}

fn main() {}
