#[derive(gludb::Storable, serde::Deserialize)]
#[gludb(table = "T")]
struct T { id: String }
fn main() {}
