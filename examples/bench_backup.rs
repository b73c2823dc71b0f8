//! The backup benchmark: populate a database, back it up, restore it, each
//! printing one JSON object of figures as its last line.
//!
//! ```text
//! cargo run --release --example bench_backup -- populate --records 1000000 --db bench.sqlite
//! cargo run --release --example bench_backup -- backup --db bench.sqlite --url file:///tmp/bench-out
//! cargo run --release --example bench_backup -- restore --db restored.sqlite --url file:///tmp/bench-out --key Backup_...
//! cargo run --release --example bench_backup -- read --url file:///tmp/bench-out --key Backup_... [--as-it-goes]
//! ```
//! With the `postgres` feature, `--pg postgres://...` replaces `--db` in
//! `populate`, `backup` and `restore` (a PostgreSQL database instead of a
//! SQLite file).
//! `--in-process-s3` (backup, restore) starts the test S3 server on
//! 127.0.0.1 and uses `s3://bench/<url path>` on it instead of `--url`.
//! `scripts/bench.sh` runs the whole comparison of docs/PERFORMANCE.md.

use std::{error::Error, path::PathBuf, time::Instant};

use clap::{Args, Parser, Subcommand};
use gludb::{
    Databases, RestoreMode, Row, Storable,
    backup::{Backup, Destination, Restore},
    sqlite::Sqlite,
};
use serde::Serialize;

#[path = "shared/bench_data.rs"]
mod bench_data;

use bench_data::{BenchData, Extra};

/// A record as the data layer stores it: the fields plus GLUDB's keys.
#[derive(Serialize)]
struct Stored<'a> {
    id: &'a str,
    name: String,
    descrip: String,
    age: u64,
    extra: Extra,
    _create_date: &'a str,
    _last_update: &'a str,
}

/// The database a command works on: a SQLite file or a PostgreSQL URL.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct Target {
    /// A SQLite database file.
    #[arg(long)]
    db: Option<PathBuf>,
    /// A PostgreSQL database (feature `postgres`).
    #[arg(long)]
    pg: Option<String>,
}

impl Target {
    async fn open(&self) -> Result<Databases, Box<dyn Error>> {
        if let Some(path) = &self.db {
            return Ok(Databases::new(Sqlite::open(path).await?));
        }
        #[cfg(feature = "postgres")]
        if let Some(url) = &self.pg {
            return Ok(Databases::new(
                gludb::postgres::Postgres::connect(url).await?,
            ));
        }
        Err("--pg needs the `postgres` feature".into())
    }

    fn describe(&self) -> String {
        match (&self.db, &self.pg) {
            (Some(path), _) => path.display().to_string(),
            (_, Some(url)) => url.clone(),
            _ => String::new(),
        }
    }
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create (or reuse, if it already holds N rows) the benchmark database.
    Populate {
        #[arg(long)]
        records: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Back up `BenchData` once.
    Backup {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "file:///tmp/gludb-bench")]
        url: String,
        #[arg(long)]
        in_process_s3: bool,
        /// gzip level (1-9).
        #[arg(long)]
        level: Option<u32>,
        /// zstd at this level instead of gzip (feature `zstd`).
        #[arg(long)]
        zstd: Option<i32>,
        /// Encrypt with age to a fresh key (feature `age`).
        #[arg(long)]
        encrypt: bool,
    },
    /// Read `BenchData` from a backup without restoring it (typed), with
    /// the check before the first record (spooled) or as it goes.
    Read {
        #[arg(long, default_value = "file:///tmp/gludb-bench")]
        url: String,
        #[arg(long)]
        key: String,
        /// Yield records as they are read (no spool file).
        #[arg(long)]
        as_it_goes: bool,
    },
    /// Restore a backup into an empty database.
    Restore {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "file:///tmp/gludb-bench")]
        url: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        in_process_s3: bool,
    },
}

const TIMESTAMP: &str = "UTC:2020-01-01T00:00:00.000000";

async fn populate(records: u64, target: &Target) -> Result<serde_json::Value, Box<dyn Error>> {
    let start = Instant::now();
    let dbs = target.open().await?;
    BenchData::ensure_table(&dbs).await?;
    let (db, spec) = dbs.resolve(BenchData::type_info())?;
    let mut tx = db.begin_restore().await?;
    let existing = tx.count(&spec.table).await?;
    if existing != records {
        if existing != 0 {
            return Err(format!(
                "{} holds {existing} records, not {records}: use a new database",
                target.describe()
            )
            .into());
        }
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..records {
            let id = gludb::record::new_id();
            let value = serde_json::to_string(&Stored {
                id: &id,
                name: format!("Name{i}"),
                descrip: format!(
                    "Record number {i} of the gludb backup benchmark: a plain sentence of roughly one hundred chars."
                ),
                age: i % 100,
                extra: Extra {
                    a: i,
                    tags: vec!["x".into(), "y".into()],
                },
                _create_date: TIMESTAMP,
                _last_update: TIMESTAMP,
            })?;
            batch.push(Row {
                id,
                value,
                index_values: Vec::new(),
            });
            if batch.len() == batch.capacity() {
                tx.write(
                    &spec,
                    std::mem::take(&mut batch),
                    RestoreMode::RefuseNonEmpty,
                )
                .await?;
                batch.reserve(10_000);
            }
        }
        if !batch.is_empty() {
            tx.write(&spec, batch, RestoreMode::RefuseNonEmpty).await?;
        }
    }
    tx.commit().await?;
    Ok(serde_json::json!({
        "command": "populate",
        "records": records,
        "reused": existing == records,
        "seconds": start.elapsed().as_secs_f64(),
    }))
}

/// The destination: `--url`, or the in-process S3 server (kept alive by the
/// returned guard).
fn destination(
    url: &str,
    in_process_s3: bool,
) -> Result<(Destination, Option<gludb_testkit::S3Server>), Box<dyn Error>> {
    if !in_process_s3 {
        return Ok((Destination::from_url(url)?, None));
    }
    let server = gludb_testkit::S3Server::start("AKIDBENCH", "bench-secret", "bench")?;
    let prefix = url
        .rsplit("://")
        .next()
        .unwrap_or_default()
        .trim_matches('/')
        .replace('/', "-");
    let destination = Destination::s3("AKIDBENCH", "bench-secret", "bench")
        .with_endpoint(&server.endpoint())
        .with_s3_option("aws_region", "us-east-1")
        .with_prefix(&prefix);
    Ok((destination, Some(server)))
}

/// How a backup is written: gzip level, zstd level, encryption.
struct Format {
    level: Option<u32>,
    zstd: Option<i32>,
    encrypt: bool,
}

async fn backup(
    target: &Target,
    url: &str,
    in_process_s3: bool,
    format: Format,
) -> Result<serde_json::Value, Box<dyn Error>> {
    let (destination, _server) = destination(url, in_process_s3)?;
    let dbs = target.open().await?;
    let mut backup = Backup::at(destination);
    if let Some(level) = format.level {
        backup = backup.with_compression_level(level);
    }
    if let Some(level) = format.zstd {
        backup = backup.with_zstd(level);
    }
    if format.encrypt {
        #[cfg(feature = "age")]
        {
            let identity = gludb::backup::archive::Identity::generate();
            backup = backup.encrypt_to([identity.to_public()]);
        }
        #[cfg(not(feature = "age"))]
        return Err("--encrypt needs the `age` feature".into());
    }
    backup.add_class::<BenchData>();
    let start = Instant::now();
    let report = backup.run_backup(&dbs).await?;
    let seconds = start.elapsed().as_secs_f64();
    let records = report.total_records();
    Ok(serde_json::json!({
        "command": "backup",
        "key": report.key,
        "records": records,
        "seconds": seconds,
        "archive_bytes": report.archive_bytes,
        "records_per_second": records as f64 / seconds,
    }))
}

async fn restore(
    target: &Target,
    url: &str,
    key: &str,
    in_process_s3: bool,
) -> Result<serde_json::Value, Box<dyn Error>> {
    let (destination, _server) = destination(url, in_process_s3)?;
    let dbs = target.open().await?;
    let start = Instant::now();
    let report = Restore::at(destination)
        .with_mode(RestoreMode::RefuseNonEmpty)
        .restore(key, &dbs)
        .await?;
    let seconds = start.elapsed().as_secs_f64();
    // Closing waits for the checkpoint that copies SQLite's WAL into the
    // database file, which runs after the restore has returned.
    if let Some(db) = dbs.default_database() {
        db.close().await?;
    }
    let closed_seconds = start.elapsed().as_secs_f64();
    let records: u64 = report.classes.iter().map(|c| c.written).sum();
    Ok(serde_json::json!({
        "command": "restore",
        "records": records,
        "seconds": seconds,
        "closed_seconds": closed_seconds,
        "records_per_second": records as f64 / seconds,
    }))
}

async fn read(url: &str, key: &str, as_it_goes: bool) -> Result<serde_json::Value, Box<dyn Error>> {
    use futures_util::TryStreamExt;
    let store = gludb::backup::BackupStore::from_url(url)?;
    let check = if as_it_goes {
        gludb::backup::ReadCheck::AsItGoes
    } else {
        gludb::backup::ReadCheck::BeforeFirstRecord
    };
    let start = Instant::now();
    let mut records = store.read(key).check(check).records::<BenchData>().await?;
    let (mut count, mut ages) = (0u64, 0u64);
    let mut first_record = None;
    while let Some(record) = records.try_next().await? {
        first_record.get_or_insert_with(|| start.elapsed().as_secs_f64());
        count += 1;
        ages += u64::from(record.age);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "command": "read",
        "as_it_goes": as_it_goes,
        "records": count,
        "age_sum": ages,
        "seconds": seconds,
        "first_record_seconds": first_record,
        "records_per_second": count as f64 / seconds,
    }))
}

#[tokio::main]
async fn main() {
    let figures = match Cli::parse().command {
        Command::Populate { records, target } => populate(records, &target).await,
        Command::Backup {
            target,
            url,
            in_process_s3,
            level,
            zstd,
            encrypt,
        } => {
            let format = Format {
                level,
                zstd,
                encrypt,
            };
            backup(&target, &url, in_process_s3, format).await
        }
        Command::Restore {
            target,
            url,
            key,
            in_process_s3,
        } => restore(&target, &url, &key, in_process_s3).await,
        Command::Read {
            url,
            key,
            as_it_goes,
        } => read(&url, &key, as_it_goes).await,
    };
    match figures {
        Ok(figures) => println!("{figures}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
