use gludb::{Databases, Storable};
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "People", indexes(age, name))]
struct Person {
    id: String,
    name: String,
    age: u32,
}

async fn find(dbs: &Databases) -> gludb::Result<()> {
    // A field index takes the field's type: these compile...
    Person::find_by_name(dbs, "Bob").await?;
    Person::find_by_age(dbs, &42).await?;
    // ...and this does not.
    Person::find_by_age(dbs, &"forty").await?;
    Ok(())
}

fn main() {
    let _ = find;
}
