//! Figures of docs/RELIABILITY.md that need release builds and real sizes:
//! each subcommand prints one JSON object as its last line.
//!
//! ```text
//! # the application saving while a 1M-record backup runs, and reading while a restore runs
//! cargo run --release --example bench_reliability -- load --db bench-1000000.sqlite
//! # peak memory of restoring 1,500 lines of 1 MiB followed by a record that does not decode
//! cargo run --release --example bench_reliability -- big-lines
//! ```
//! `python3 scripts/reliability.py` runs both (and the fault suite) and
//! writes docs/RELIABILITY.md.

use std::{
    error::Error,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand};
use gludb::{
    Databases, RestoreMode, Storable,
    backup::{Backup, BackupError, Restore},
    sqlite::Sqlite,
};
use serde::{Deserialize, Serialize};

#[path = "shared/bench_data.rs"]
mod bench_data;

use bench_data::BenchData;

/// What the application saves and reads meanwhile.
#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "AppEvent")]
struct AppEvent {
    id: String,
    task: u32,
    n: u64,
    text: String,
}

/// One record of the big-lines archive: about 1 MiB of text.
#[derive(Storable, Serialize, Deserialize)]
#[gludb(table = "BigLine")]
struct BigLine {
    id: String,
    text: String,
    n: u64,
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Saves from 4 tasks without, then during, backups of the database's
    /// `BenchData`; then reads during a restore of it into a copy.
    Load {
        /// A database `bench_backup populate` made.
        #[arg(long)]
        db: PathBuf,
        /// Seconds of saving without a backup.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Writes the archive `big-lines` restores: 1,500 records of 1 MiB,
    /// then one that does not decode.
    MakeBigLines {
        #[arg(long, default_value = "/tmp/gludb-bench/big-lines")]
        dir: PathBuf,
    },
    /// Restores that archive with default limits (it fails at the last
    /// record and changes nothing); reports the process's peak memory.
    BigLines {
        #[arg(long, default_value = "/tmp/gludb-bench/big-lines")]
        dir: PathBuf,
    },
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Latencies of the operations 4 tasks make until `stop`, and failures.
struct Workers {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Duration>>>,
}

impl Workers {
    /// 4 tasks saving new events, or reading random ones among `ids`.
    fn start(dbs: &Databases, ids: Option<Arc<Vec<String>>>) -> Workers {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let tasks = (0..4)
            .map(|task| {
                let (dbs, stop, failures, ids) =
                    (dbs.clone(), stop.clone(), failures.clone(), ids.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let ok = match &ids {
                            None => AppEvent {
                                id: String::new(),
                                task,
                                n,
                                text: format!("event {n} of task {task}"),
                            }
                            .save(&dbs)
                            .await
                            .is_ok(),
                            Some(ids) => {
                                let id = &ids[(n as usize * 7919 + task as usize) % ids.len()];
                                matches!(AppEvent::find_one(&dbs, id).await, Ok(Some(_)))
                            }
                        };
                        latencies.push(started.elapsed());
                        if !ok {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                    latencies
                })
            })
            .collect();
        Workers {
            stop,
            failures,
            tasks,
        }
    }

    async fn finish(self) -> serde_json::Value {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.unwrap_or_default());
        }
        all.sort();
        serde_json::json!({
            "operations": all.len(),
            "failures": self.failures.load(Ordering::Relaxed),
            "p50_ms": percentile(&all, 0.50),
            "p99_ms": percentile(&all, 0.99),
            "max_ms": all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        })
    }
}

async fn load(path: &Path, seconds: u64) -> Result<serde_json::Value, Box<dyn Error>> {
    let dbs = Databases::new(Sqlite::open(path).await?);
    AppEvent::ensure_table(&dbs).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("file://{}", dir.path().display());

    // Saves alone.
    let idle = Workers::start(&dbs, None);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let saves_alone = idle.finish().await;

    // Saves while backups of the 1M records run, back to back.
    let mut backup = Backup::from_url(&url)?;
    backup.add_class::<BenchData>();
    let busy = Workers::start(&dbs, None);
    let mut backups = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let report = backup.run_backup(&dbs).await?;
        backups.push((report, started.elapsed().as_secs_f64()));
    }
    let saves_during_backup = busy.finish().await;
    let (last, _) = backups.last().ok_or("no backup ran")?;

    // Reads while the 1M records are restored into a copy of the database.
    let copy = dir.path().join("restored.sqlite");
    std::fs::copy(path, &copy)?;
    let target = Databases::new(Sqlite::open(&copy).await?);
    let ids: Vec<String> = {
        use futures_util::TryStreamExt;
        AppEvent::find_all(&target)
            .map_ok(|event| event.id)
            .try_collect::<Vec<_>>()
            .await?
    };
    let raw = rusqlite::Connection::open(&copy)?;
    raw.execute("DELETE FROM BenchData", [])?;
    drop(raw);
    let ids = Arc::new(ids);
    let idle = Workers::start(&target, Some(ids.clone()));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let reads_alone = idle.finish().await;
    let readers = Workers::start(&target, Some(ids));
    let started = Instant::now();
    let restored = Restore::from_url(&url)?
        .with_mode(RestoreMode::RefuseNonEmpty)
        .restore(&last.key, &target)
        .await?;
    let restore_seconds = started.elapsed().as_secs_f64();
    let reads_during_restore = readers.finish().await;

    Ok(serde_json::json!({
        "command": "load",
        "records": last.total_records(),
        "backup_seconds": backups.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        "saves_alone": saves_alone,
        "saves_during_backup": saves_during_backup,
        "restore_seconds": restore_seconds,
        "restored": restored.classes.iter().map(|c| c.written).sum::<u64>(),
        "reads_alone": reads_alone,
        "reads_during_restore": reads_during_restore,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

async fn make_big_lines(dir: &Path) -> Result<serde_json::Value, Box<dyn Error>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let url = format!("file://{}", dir.display());
    let source_path = dir.join("source.sqlite");
    let source = Databases::new(Sqlite::open(&source_path).await?);
    BigLine::ensure_table(&source).await?;
    let text = "x".repeat(1024 * 1024);
    for n in 0..1500 {
        BigLine {
            id: format!("{n:032x}"),
            text: text.clone(),
            n,
        }
        .save(&source)
        .await?;
    }
    // gludb refuses to save it; the application's own SQL did.
    let raw = rusqlite::Connection::open(&source_path)?;
    raw.execute(
        "INSERT INTO BigLine (id, value) VALUES ('zzzz', '{\"id\":\"zzzz\",\"text\":1}')",
        [],
    )?;
    let mut backup = Backup::from_url(&url)?;
    backup.add_class::<BigLine>();
    let report = backup.run_backup(&source).await?;
    std::fs::remove_file(&source_path)?;
    Ok(serde_json::json!({
        "command": "make-big-lines",
        "key": report.key,
        "archive_bytes": report.archive_bytes,
        "member_bytes": report.classes[0].bytes,
    }))
}

async fn big_lines(dir: &Path) -> Result<serde_json::Value, Box<dyn Error>> {
    let url = format!("file://{}", dir.display());
    let key = Restore::from_url(&url)?
        .list()
        .await?
        .first()
        .ok_or("no archive: run make-big-lines first")?
        .key
        .clone();
    let target_dir = tempfile::tempdir()?;
    let target_path = target_dir.path().join("t.sqlite");
    let target = Databases::new(Sqlite::open(&target_path).await?);
    let before = peak_rss_mib();
    let started = Instant::now();
    let outcome = Restore::from_url(&url)?.restore(&key, &target).await;
    let seconds = started.elapsed().as_secs_f64();
    let refused = matches!(outcome, Err(BackupError::BadRecord(_)));
    let tables = rusqlite::Connection::open(&target_path)?.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = 'BigLine'",
        [],
        |row| row.get::<_, i64>(0),
    )?;
    Ok(serde_json::json!({
        "command": "big-lines",
        "records": 1501,
        "refused_the_bad_record": refused,
        "tables_left_in_target": tables,
        "seconds": seconds,
        "peak_rss_mib_before_restore": before,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

#[tokio::main]
async fn main() {
    let figures = match Cli::parse().command {
        Command::Load { db, seconds } => load(&db, seconds).await,
        Command::MakeBigLines { dir } => make_big_lines(&dir).await,
        Command::BigLines { dir } => big_lines(&dir).await,
    };
    match figures {
        Ok(figures) => println!("{figures}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
