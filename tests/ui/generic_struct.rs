use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Wrapper")]
struct Wrapper<T> {
    id: String,
    inner: T,
}

fn main() {}
