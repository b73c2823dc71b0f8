//! A service that backs up on a schedule: on every tick it runs the backup
//! if the last one completed long enough ago (from the `BackupHistory`
//! records, so restarts keep the schedule) and prunes its old backups. On
//! Ctrl-C it cancels a run in progress and waits for it, so the upload is
//! aborted and the history says why, before the process exits.
//!
//! ```text
//! cargo run --example scheduled_backup -- --every-secs 2 --min-interval-secs 3 --ticks 5 --keep-last 2
//! ```
//! Settings as in `backup_demo`: `GLUDB_DEMO_DB`, `GLUDB_BACKUP_URL`.

use std::{error::Error, path::PathBuf, time::Duration};

use clap::Parser;
use gludb::{
    Databases, Storable,
    backup::{Backup, BackupError, Retention},
    sqlite::Sqlite,
};
use serde::{Deserialize, Serialize};

/// What the service stores: one event per tick.
#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "ServiceEvent")]
struct ServiceEvent {
    id: String,
    tick: u64,
}

#[derive(Parser)]
struct Cli {
    /// Seconds between ticks.
    #[arg(long, default_value_t = 60)]
    every_secs: u64,
    /// Back up only if the last backup completed at least this long ago.
    #[arg(long, default_value_t = 3600)]
    min_interval_secs: u64,
    /// Stop after this many ticks (0: run until stopped).
    #[arg(long, default_value_t = 0)]
    ticks: u64,
    /// Backups to keep when pruning.
    #[arg(long, default_value_t = 24)]
    keep_last: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let cli = Cli::parse();
    let path = std::env::var_os("GLUDB_DEMO_DB")
        .map_or_else(|| PathBuf::from("gludb-demo.sqlite"), PathBuf::from);
    let url = match std::env::var("GLUDB_BACKUP_URL") {
        Ok(url) => url,
        Err(_) => format!(
            "file://{}",
            std::env::current_dir()?.join("backups").display()
        ),
    };
    let dbs = Databases::new(Sqlite::open(&path).await?);
    ServiceEvent::ensure_table(&dbs).await?;

    let mut backup = Backup::from_url(&url)?.with_name("scheduled");
    backup.add_class::<ServiceEvent>();
    let policy = Retention::new().keep_last(cli.keep_last);
    let min_interval = Duration::from_secs(cli.min_interval_secs);

    let mut clock = tokio::time::interval(Duration::from_secs(cli.every_secs));
    let mut tick = 0;
    while cli.ticks == 0 || tick < cli.ticks {
        clock.tick().await;
        tick += 1;
        ServiceEvent {
            id: String::new(),
            tick,
        }
        .save(&dbs)
        .await?;
        let Some(mut running) = backup.start_if_due(&dbs, min_interval).await? else {
            println!("tick {tick}: not due");
            continue;
        };
        let outcome = tokio::select! {
            outcome = &mut running => outcome,
            _ = tokio::signal::ctrl_c() => {
                println!("shutting down: cancelling the backup in progress");
                running.cancel();
                let outcome = running.wait().await;
                if let Err(e) = &outcome {
                    println!("backup ended: {e}");
                }
                return Ok(());
            }
        };
        match outcome {
            Ok(report) => println!(
                "tick {tick}: backed up {} records to {}",
                report.total_records(),
                report.key
            ),
            Err(BackupError::AlreadyRunning { .. }) => println!("tick {tick}: still running"),
            Err(e) => return Err(e.into()),
        }
        let pruned = backup.prune(&policy).await?;
        if !pruned.deleted.is_empty() {
            println!("tick {tick}: pruned {}", pruned.deleted.join(", "));
        }
    }
    Ok(())
}
