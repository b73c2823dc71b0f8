//! The main job: keep a few kinds of records in SQLite and back them up.
//!
//! ```text
//! cargo run --example backup_demo                      # save sample records, back them up
//! cargo run --example backup_demo -- list              # the backups, newest first
//! cargo run --example backup_demo -- verify <key>      # check one against its manifest
//! cargo run --example backup_demo -- restore <key> --into restored.sqlite
//! ```
//!
//! `GLUDB_DEMO_DB` names the SQLite file (default `gludb-demo.sqlite`);
//! `GLUDB_BACKUP_URL` the destination (default `file://<cwd>/backups`; an
//! `s3://bucket/prefix` URL takes credentials and endpoint from `AWS_*`).

use std::{error::Error, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use gludb::{
    Databases, Storable,
    backup::{Backup, Restore, RestoreMode},
    sqlite::Sqlite,
};
use time::format_description::well_known::Rfc3339;

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

/// `println!` that ends the program quietly when stdout is a closed pipe
/// (`backup_demo list | head -1`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => { say_line(format_args!($($arg)*)) };
}

fn say_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

#[derive(Parser)]
#[command(about = "gludb demo: store records in SQLite, back them up, get them back")]
struct Cli {
    /// Print each report as one JSON object, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Save sample records and back them up (the default).
    Backup,
    /// List the backups at GLUDB_BACKUP_URL, newest first.
    List,
    /// Check a backup against its manifest and the registered types.
    Verify {
        /// The backup's key, as `list` shows it.
        key: String,
    },
    /// Restore a backup into a SQLite file.
    Restore {
        /// The backup's key, as `list` shows it.
        key: String,
        /// The SQLite file to restore into (created if missing).
        #[arg(long)]
        into: PathBuf,
        /// What to do with records whose id is already there.
        #[arg(long, value_enum, default_value_t = Mode::Overwrite)]
        mode: Mode,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Overwrite,
    SkipExisting,
    RefuseNonEmpty,
}

impl From<Mode> for RestoreMode {
    fn from(mode: Mode) -> RestoreMode {
        match mode {
            Mode::Overwrite => RestoreMode::Overwrite,
            Mode::SkipExisting => RestoreMode::SkipExisting,
            Mode::RefuseNonEmpty => RestoreMode::RefuseNonEmpty,
        }
    }
}

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

async fn backup(json: bool) -> Result<(), Box<dyn Error>> {
    let path = database_path();
    let dbs = Databases::new(Sqlite::open(&path).await?);
    save_samples(&dbs).await?;

    let mut backup = Backup::from_url(&backup_url()?)?;
    backup.add_class::<Person>();
    // Every type in the orders module, with its bases.
    backup.add_package(&format!("{}::model::orders", module_path!()));
    let report = backup.run_backup(&dbs).await?;
    if json {
        say!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    say!("database:    {}", path.display());
    say!("destination: {}", report.destination);
    say!("key:         {}", report.key);
    for class in &report.classes {
        say!("  {:<40} {:>8} records", class.name, class.records);
    }
    say!("archive:     {} bytes", report.archive_bytes);
    Ok(())
}

async fn list(json: bool) -> Result<(), Box<dyn Error>> {
    let restore = Restore::from_url(&backup_url()?)?;
    for backup in restore.list().await? {
        if json {
            let time = backup.time.format(&Rfc3339)?;
            let line = serde_json::json!({"key": backup.key, "time": time, "size": backup.size});
            say!("{line}");
            continue;
        }
        let time = backup.time.format(&Rfc3339)?;
        say!("{time}  {:>10} bytes  {}", backup.size, backup.key);
    }
    Ok(())
}

async fn verify(key: &str, json: bool) -> Result<(), Box<dyn Error>> {
    let report = Restore::from_url(&backup_url()?)?.verify(key).await?;
    if json {
        say!("{}", serde_json::to_string(&report)?);
        return if report.is_ok() {
            Ok(())
        } else {
            Err("the backup did not verify".into())
        };
    }
    say!("backup:   {}", report.key);
    say!(
        "manifest: {}",
        if report.has_manifest {
            "present"
        } else {
            "none (records checked only)"
        }
    );
    for class in &report.classes {
        let verdict = if class.problems.is_empty() {
            "OK".to_owned()
        } else {
            class.problems.join("; ")
        };
        say!(
            "  {:<40} {:>8} records  {verdict}",
            class.name,
            class.records
        );
    }
    for problem in &report.problems {
        say!("  problem: {problem}");
    }
    if !report.is_ok() {
        return Err("the backup did not verify".into());
    }
    say!("verified: OK");
    Ok(())
}

async fn restore(key: &str, into: &PathBuf, mode: Mode, json: bool) -> Result<(), Box<dyn Error>> {
    let restore = Restore::from_url(&backup_url()?)?.with_mode(mode.into());
    // A wrong key must not leave an empty database file behind.
    restore.store()?.stat(key).await?;
    let dbs = Databases::new(Sqlite::open(into).await?);
    let report = restore.restore(key, &dbs).await?;
    if json {
        say!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    say!("restored {} into {}", report.key, into.display());
    for class in &report.classes {
        say!(
            "  {:<40} {:>8} records  {:>8} written",
            class.name,
            class.records,
            class.written
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    let outcome = match cli.command.unwrap_or(Command::Backup) {
        Command::Backup => backup(json).await,
        Command::List => list(json).await,
        Command::Verify { key } => verify(&key, json).await,
        Command::Restore { key, into, mode } => restore(&key, &into, mode, json).await,
    };
    if let Err(e) = outcome {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
