use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "First")]
#[gludb(table = "Second")]
struct Twice {
    id: String,
}

fn main() {}
