use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Shape")]
enum Shape {
    Circle { id: String, radius: f64 },
    Square { id: String, side: f64 },
}

fn main() {}
