#[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "T", indexes(initial, nothing))]
struct T { id: String, name: String }
impl T {
    fn initial(&self, upper: bool) -> char { let _ = upper; 'a' }
    fn nothing(&self) {}
}
fn main() {}
