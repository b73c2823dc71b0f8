use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Indexed", indexes(index))]
struct Indexed {
    id: String,
    index: String,
}

fn main() {}
