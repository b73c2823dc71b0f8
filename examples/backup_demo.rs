//! The main job: keep a few kinds of records in SQLite and back them up.
//!
//! ```text
//! cargo run --example backup_demo            # save sample records, back them up
//! ```
//!
//! `GLUDB_DEMO_DB` names the SQLite file (default `gludb-demo.sqlite`);
//! `GLUDB_BACKUP_URL` the destination (default `file://<cwd>/backups`; an
//! `s3://bucket/prefix` URL takes credentials and endpoint from `AWS_*`).

use std::{error::Error, path::PathBuf};

use clap::Parser;
use gludb::{Databases, Storable, backup::Backup, sqlite::Sqlite};

/// The application's model, in nested modules like a real one.
mod model {
    pub mod people {
        use gludb::Storable;
        use serde::{Deserialize, Serialize};

        /// Someone using the application.
        #[derive(Storable, Serialize, Deserialize, Debug)]
        #[gludb(table = "Person", indexes(by_email))]
        pub struct Person {
            pub id: String,
            pub name: String,
            pub email: String,
        }

        impl Person {
            fn by_email(&self) -> String {
                self.email.to_lowercase()
            }
        }
    }

    pub mod orders {
        use gludb::Storable;
        use serde::{Deserialize, Serialize};

        /// An order.
        #[derive(Storable, Serialize, Deserialize, Debug)]
        #[gludb(table = "OrderRecord")]
        pub struct Order {
            pub id: String,
            pub person_id: String,
            pub items: Vec<String>,
            pub total_cents: u64,
        }

        /// An order with a deadline: based on `Order`, backed up with it.
        #[derive(Storable, Serialize, Deserialize, Debug)]
        #[gludb(table = "PriorityOrder", bases(Order))]
        pub struct PriorityOrder {
            pub id: String,
            pub order_id: String,
            pub deadline: String,
        }
    }
}

use model::{
    orders::{Order, PriorityOrder},
    people::Person,
};

#[derive(Parser)]
#[command(about = "gludb demo: store records in SQLite and back them up")]
struct Cli {}

fn database_path() -> PathBuf {
    std::env::var_os("GLUDB_DEMO_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("gludb-demo.sqlite"))
}

fn backup_url() -> Result<String, Box<dyn Error>> {
    if let Ok(url) = std::env::var("GLUDB_BACKUP_URL") {
        return Ok(url);
    }
    let dir = std::env::current_dir()?.join("backups");
    Ok(format!("file://{}", dir.display()))
}

async fn save_samples(dbs: &Databases) -> gludb::Result<()> {
    Person::ensure_table(dbs).await?;
    Order::ensure_table(dbs).await?;
    PriorityOrder::ensure_table(dbs).await?;
    for (name, email) in [("Alice", "alice@example.com"), ("Bob", "bob@example.com")] {
        let mut person = Person {
            id: String::new(),
            name: name.into(),
            email: email.into(),
        };
        person.save(dbs).await?;
        let mut order = Order {
            id: String::new(),
            person_id: person.id.clone(),
            items: vec!["tea".into(), "scones".into()],
            total_cents: 1250,
        };
        order.save(dbs).await?;
        PriorityOrder {
            id: String::new(),
            order_id: order.id.clone(),
            deadline: "tomorrow".into(),
        }
        .save(dbs)
        .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let _cli = Cli::parse();
    let path = database_path();
    let dbs = Databases::new(Sqlite::open(&path).await?);
    save_samples(&dbs).await?;

    let url = backup_url()?;
    let mut backup = Backup::from_url(&url)?;
    backup.add_class::<Person>();
    // Every type in the orders module, with its bases.
    backup.add_package(&format!("{}::model::orders", module_path!()));
    let report = backup.run_backup(&dbs).await?;

    println!("database:    {}", path.display());
    println!("destination: {}", report.destination);
    println!("key:         {}", report.key);
    for class in &report.classes {
        println!("  {:<40} {:>8} records", class.name, class.records);
    }
    println!("archive:     {} bytes", report.archive_bytes);
    Ok(())
}
