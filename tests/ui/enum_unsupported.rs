use gludb::Storable;
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "Shape")]
enum Shape {
    Circle { id: String, radius: f64 },
    Square { id: String, side: f64 },
}

// The fallback impl keeps this from adding an error of its own.
fn main() {
    let _ = <Shape as Storable>::type_info;
}
