use gludb::{Databases, Storable};
#[derive(Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "T", indexes(index))]
struct T { id: String, index: String }
async fn f(dbs: &Databases) -> gludb::Result<()> {
    // The README's string-keyed finder, for an index chosen at run time:
    let _ = T::find_by_index(dbs, "index", "x").await?;
    Ok(())
}
fn main() { let _ = f; }
