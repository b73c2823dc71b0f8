#[derive(gludb::Storable)]
#[gludb(table = "T")]
struct T { id: String }
fn main() {}
