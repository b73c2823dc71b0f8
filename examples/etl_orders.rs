//! Reading a backup without restoring it: last night's orders, totalled per
//! customer, straight from the backup (no database involved).
//!
//! ```text
//! cargo run --features cli --example backup_demo   # make a backup first
//! cargo run --example etl_orders                   # then read it
//! ```
//!
//! The destination is `GLUDB_BACKUP_URL` (default `file://<cwd>/backups`, as
//! the demo's); the newest backup there is read.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use gludb::{Storable, backup::BackupStore};
use serde::{Deserialize, Serialize};

/// The demo's order, as this job knows it: the same type name and table
/// (`Order--OrderRecord` in the archive); fields it does not need are
/// ignored.
#[derive(Storable, Serialize, Deserialize, Debug)]
#[gludb(table = "OrderRecord")]
struct Order {
    id: String,
    person_id: String,
    total_cents: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::var("GLUDB_BACKUP_URL") {
        Ok(url) => url,
        Err(_) => format!(
            "file://{}",
            std::env::current_dir()?.join("backups").display()
        ),
    };
    let store = BackupStore::from_url(&url)?;
    let Some(newest) = store.list().await?.into_iter().next() else {
        return Err(format!("no backups at {url}: run the demo first").into());
    };

    // Checked against the manifest before the first record arrives.
    let mut orders = store.read(&newest.key).records::<Order>().await?;
    let mut per_customer: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    while let Some(order) = orders.try_next().await? {
        let entry = per_customer.entry(order.person_id).or_default();
        entry.0 += 1;
        entry.1 += order.total_cents;
    }

    println!("{}", newest.key);
    for (person, (count, cents)) in &per_customer {
        println!(
            "{person}  {count} orders  {}.{:02}",
            cents / 100,
            cents % 100
        );
    }
    Ok(())
}
