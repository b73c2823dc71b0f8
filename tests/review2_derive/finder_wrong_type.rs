use gludb::Databases;
#[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
#[gludb(table = "T", indexes(age, active))]
struct T { id: String, age: u32, active: bool }
async fn f(dbs: &Databases) -> gludb::Result<()> {
    // An index of a u32 and of a bool, queried with a &str and an integer: compiles.
    let _ = T::find_by_age(dbs, "forty").await?;
    let _ = T::find_by_active(dbs, 1).await?;
    Ok(())
}
fn main() { let _ = f; }
