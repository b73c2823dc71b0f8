use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Typo", index(by_name))]
struct Typo {
    id: String,
    name: String,
}

fn main() {}
