//! The main job: a small service's binary with gludb's operator commands
//! mounted (the `cli` feature). With no command it saves sample records
//! and backs them up, with a progress bar on a terminal.
//!
//! ```text
//! cargo run --features cli --example backup_demo                        # save samples, back up
//! cargo run --features cli --example backup_demo -- list                # newest first
//! cargo run --features cli --example backup_demo -- inspect <key>       # classes, counts, hashes
//! cargo run --features cli --example backup_demo -- verify <key>        # exit code 3 if damaged
//! cargo run --features cli --example backup_demo -- cat <key> Order     # JSON lines
//! cargo run --features cli --example backup_demo -- restore <key> --into sqlite:restored.sqlite
//! cargo run --features cli --example backup_demo -- prune --keep-last 5 --dry-run
//! cargo run --features cli --example backup_demo -- --help
//! ```
//!
//! `GLUDB_DEMO_DB` names the SQLite file (default `gludb-demo.sqlite`);
//! `GLUDB_DEMO_ORDERS` how many orders each run saves (default 500);
//! `GLUDB_BACKUP_URL` (or `--destination`) the destination (default
//! `file://<cwd>/backups`; an `s3://bucket/prefix` URL takes credentials and
//! endpoint from `AWS_*`).

use std::{path::PathBuf, process::ExitCode};

use gludb::{Databases, Storable, sqlite::Sqlite};

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

fn database_path() -> PathBuf {
    std::env::var_os("GLUDB_DEMO_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("gludb-demo.sqlite"))
}

fn default_destination() -> std::io::Result<String> {
    let dir = std::env::current_dir()?.join("backups");
    Ok(format!("file://{}", dir.display()))
}

/// Two people and their orders (`GLUDB_DEMO_ORDERS`, default 500), each
/// with a priority order: something to back up.
async fn save_samples(dbs: &Databases) -> gludb::Result<()> {
    Person::ensure_table(dbs).await?;
    Order::ensure_table(dbs).await?;
    PriorityOrder::ensure_table(dbs).await?;
    let orders: u32 = std::env::var("GLUDB_DEMO_ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    for (name, email) in [("Alice", "alice@example.com"), ("Bob", "bob@example.com")] {
        let mut person = Person {
            id: String::new(),
            name: name.into(),
            email: email.into(),
        };
        person.save(dbs).await?;
        for n in 0..orders / 2 {
            let mut order = Order {
                id: String::new(),
                person_id: person.id.clone(),
                items: vec!["tea".into(), "scones".into()],
                total_cents: 1250 + u64::from(n % 7) * 100,
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
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let dbs = match Sqlite::open(database_path()).await {
        Ok(db) => Databases::new(db),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let destination = match default_destination() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("error: no current directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = gludb::cli::App::new(&dbs).default_destination(&destination);
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() == 1 {
        // The main job: new records, then a backup of every class.
        if let Err(e) = save_samples(&dbs).await {
            eprintln!("error: saving the sample records: {e}");
            return ExitCode::FAILURE;
        }
        args.extend(["backup".into(), "--all".into()]);
    }
    app.run_from(args).await.into()
}
