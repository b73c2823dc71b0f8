use gludb::{Databases};
#[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "T", indexes(r#type, r#match))]
struct T { id: String, r#type: String }
impl T { fn r#match(&self) -> bool { true } }
async fn f(dbs: &Databases) -> gludb::Result<()> {
    let _ = T::find_by_type(dbs, "x").await?;
    let _ = T::find_by_match(dbs, true).await?;
    Ok(())
}
fn main() { let _ = f; }
