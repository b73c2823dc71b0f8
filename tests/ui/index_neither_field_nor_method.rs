use gludb::Storable;
use serde::{Deserialize, Serialize};

// `name` is a field, `by_name` a method, `by_age` neither.
#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Person", indexes(name, by_name, by_age))]
struct Person {
    id: String,
    name: String,
    age: u32,
}

impl Person {
    fn by_name(&self) -> String {
        self.name.to_lowercase()
    }
}

fn main() {}
