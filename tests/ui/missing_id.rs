use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "NoId")]
struct NoId {
    key: String,
    name: String,
}

fn main() {}
