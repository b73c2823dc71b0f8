use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Event")]
struct Event {
    id: String,
    name: String,
    _last_update: String,
    r#_create_date: String,
}

fn main() {}
