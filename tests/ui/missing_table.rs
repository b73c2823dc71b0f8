use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(indexes(by_name))]
struct NoTable {
    id: String,
    name: String,
}

impl NoTable {
    fn by_name(&self) -> &str {
        &self.name
    }
}

fn main() {}
