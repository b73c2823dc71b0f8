use gludb::{Databases, Storable};
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "NoId", indexes(key))]
struct NoId {
    key: String,
    name: String,
}

// The one mistake above is the one error: the type is still `Storable`
// (a fallback impl), with its typed finder.
async fn use_it(dbs: &Databases) -> gludb::Result<()> {
    NoId::ensure_table(dbs).await?;
    let _found: Option<NoId> = NoId::find_one(dbs, "x").await?;
    let _by_key: Vec<NoId> = NoId::find_by_key(dbs, "k").await?;
    let mut backup = gludb::backup::Backup::from_url("memory://ui").unwrap();
    backup.add_class::<NoId>();
    Ok(())
}

fn main() {
    let _ = use_it;
}
