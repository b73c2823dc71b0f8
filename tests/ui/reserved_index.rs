use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Reserved", indexes(value, by_name, by_name))]
struct Reserved {
    id: String,
    name: String,
}

impl Reserved {
    fn value(&self) -> u8 {
        0
    }

    fn by_name(&self) -> &str {
        &self.name
    }
}

fn main() {}
