use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Audit")]
struct Audit {
    #[serde(rename = "key")]
    id: String,
    #[serde(rename = "_create_date")]
    created: String,
    #[serde(default, rename(serialize = "_last_update", deserialize = "changed"))]
    changed: String,
    #[serde(rename = "id")]
    external_id: String,
}

fn main() {}
