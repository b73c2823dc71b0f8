use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "NumericId")]
struct NumericId {
    id: u64,
    name: String,
}

fn main() {}
