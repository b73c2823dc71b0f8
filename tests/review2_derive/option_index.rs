#[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "T", indexes(nickname))]
struct T { id: String, nickname: Option<String> }
fn main() {}
