#[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "T", indexes(city))]
struct T { id: String, city: String }
impl T { fn find_by_city() {} }
fn main() {}
