use gludb::Storable;
#[derive(Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "bad name", indexes(city))]
struct T { id: String, city: String }
async fn f(dbs: &gludb::Databases) -> gludb::Result<()> {
    T::ensure_table(dbs).await?;
    let _ = T::find_by_city(dbs, "x").await?;
    let _ = T::find_one_with_meta(dbs, "x").await?;
    Ok(())
}
fn main() { let _ = f; }
