use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "People", indexes(nickname))]
struct Person {
    id: String,
    nickname: Option<String>,
}

fn main() {}
