use gludb::Storable;
use serde::{Deserialize, Serialize};

/// Stands for a gludb runtime of another release than the derive.
mod old_gludb {
    #[doc(hidden)]
    pub mod __private_v0_0 {}
}

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Mismatch", indexes(name), crate = "old_gludb")]
struct Mismatch {
    id: String,
    name: String,
}

fn main() {}
