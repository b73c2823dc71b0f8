use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "user-data")]
struct UserData {
    id: String,
}

fn main() {}
