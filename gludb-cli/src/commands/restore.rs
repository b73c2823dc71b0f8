//! `verify` and `restore`: the two commands that check every record.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, PoisonError},
};

use gludb_backup::{Restore, RestoreMode, RestoreReport, VerifyReport};
use gludb_core::Databases;

use super::{Context, backup::registered};
use crate::{
    args::{ModeArg, RestoreArgs, VerifyArgs},
    output::{Exit, Failure, Output, count, size},
    progress::{RunProgress, Spinner},
};

pub(super) async fn verify(
    args: VerifyArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    if args.fail_on_drift && context.dbs.is_none() {
        return Err(Failure::Usage(
            "--fail-on-drift compares the backup with the service's types: run it from the service's own binary".into(),
        ));
    }
    let store = context.archive_store()?;
    let report = {
        let _spinner = Spinner::start(output, format!("verifying {}", args.key));
        Restore::on(&store).verify(&args.key).await?
    };
    #[derive(serde::Serialize)]
    struct Verdict<'a> {
        ok: bool,
        #[serde(flatten)]
        report: &'a VerifyReport,
    }
    let ok = report.is_ok() && !(args.fail_on_drift && report.has_schema_drift());
    output.result(
        &Verdict {
            ok,
            report: &report,
        },
        &describe_verify(&report),
    )?;
    Ok(if ok { Exit::Ok } else { Exit::Problem })
}

fn describe_verify(report: &VerifyReport) -> String {
    let mut text = format!(
        "{}: {}\n",
        report.key,
        if report.is_ok() {
            "OK"
        } else {
            "PROBLEMS FOUND"
        }
    );
    if !report.has_manifest && report.problems.is_empty() {
        text.push_str("  no manifest (an archive of the original GLUDB): records checked, sizes and hashes not comparable\n");
    }
    for class in &report.classes {
        text.push_str(&format!(
            "  {}  {} records  {}  sha256 {}  {}\n",
            class.name,
            count(class.records),
            size(class.bytes),
            &class.sha256[..class.sha256.len().min(16)],
            if class.registered {
                "decoded with its type"
            } else {
                "checked as JSON objects with an id"
            }
        ));
        for problem in &class.problems {
            text.push_str(&format!("    problem: {problem}\n"));
        }
        if let Some(drift) = &class.schema_drift {
            text.push_str(&format!("    schema drift since the backup: {drift}\n"));
        }
    }
    let others: Vec<&str> = report
        .skipped_members
        .iter()
        .map(String::as_str)
        .filter(|m| {
            !report
                .classes
                .iter()
                .any(|c| m.strip_suffix(".json") == Some(c.name.as_str()))
        })
        .collect();
    if !others.is_empty() {
        text.push_str(&format!(
            "  other members (sizes and hashes checked, not their contents): {}\n",
            others.join(", ")
        ));
    }
    for problem in &report.problems {
        text.push_str(&format!("  problem: {problem}\n"));
    }
    text
}

pub(super) async fn restore(
    args: RestoreArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    let own = context.databases("restore")?;
    let store = context.archive_store()?;
    // The key first: a typo must not create an empty target database.
    store.stat(&args.key).await?;
    let mut restore = Restore::on(&store).with_mode(match args.mode {
        ModeArg::RefuseNonEmpty => RestoreMode::RefuseNonEmpty,
        ModeArg::Overwrite => RestoreMode::Overwrite,
        ModeArg::SkipExisting => RestoreMode::SkipExisting,
    });
    for name in &args.classes {
        restore.add_type(registered(name)?, gludb_backup::Bases::Exclude);
    }
    if let Some(path) = &args.quarantine {
        restore = restore.with_quarantine(path);
    }
    restore = restore.refuse_schema_drift(args.refuse_drift);
    let (opened, created) = match &args.into {
        Some(spec) => {
            let (databases, new_file) = open_target(spec).await?;
            (Some(databases), new_file)
        }
        None => (None, None),
    };
    let target = opened.as_ref().unwrap_or(own);
    // As the backend describes itself: never with a password.
    let target_name = target
        .default_database()
        .map_or_else(|| "the service's databases".to_owned(), |db| db.describe());
    let progress = RunProgress::new(output, "restore");
    let feed = Arc::clone(&progress);
    let restore = restore.with_progress(move |p| {
        feed.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(p.into());
    });
    output.note(&format!("restoring {} into {target_name}", args.key));
    let restored = restore.restore(&args.key, target).await;
    progress
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .finish();
    if let (Err(_), Some(file)) = (&restored, &created) {
        // Nothing was restored: the file `--into` made is not left behind.
        drop(opened);
        remove_sqlite_files(file);
    }
    let report = restored?;
    output.result(&report, &describe_restore(&report, &target_name))?;
    Ok(Exit::Ok)
}

fn describe_restore(report: &RestoreReport, target: &str) -> String {
    let written: u64 = report.classes.iter().map(|c| c.written).sum();
    let mut text = format!(
        "restored {} records of {} classes from {} into {target}\n",
        count(written),
        report.classes.len(),
        report.key
    );
    for class in &report.classes {
        text.push_str(&format!(
            "  {} → {}: {} of {} records written",
            class.name,
            class.table,
            count(class.written),
            count(class.records)
        ));
        if class.quarantined > 0 {
            text.push_str(&format!(", {} set aside", count(class.quarantined)));
        }
        text.push('\n');
        if let Some(drift) = &class.schema_drift {
            text.push_str(&format!("    schema drift since the backup: {drift}\n"));
        }
    }
    if let Some(file) = &report.quarantine_file {
        text.push_str(&format!(
            "records that did not decode are in {}\n",
            file.display()
        ));
    }
    if !report.skipped_members.is_empty() {
        text.push_str(&format!(
            "not restored (not registered here, or not selected): {}\n",
            report.skipped_members.join(", ")
        ));
    }
    text
}

/// The database named by `--into`, and the SQLite file it created, if it
/// made a new one.
async fn open_target(spec: &str) -> Result<(Databases, Option<PathBuf>), Failure> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        if path.is_empty() || path.starts_with(':') {
            return Err(Failure::Usage(
                "--into sqlite: takes a file: sqlite:/path/to/restored.sqlite".into(),
            ));
        }
        #[cfg(feature = "sqlite")]
        {
            let path = PathBuf::from(path);
            let new_file = (!path.exists()).then(|| path.clone());
            let db = gludb_core::sqlite::Sqlite::open(&path).await?;
            return Ok((Databases::new(db), new_file));
        }
        #[cfg(not(feature = "sqlite"))]
        return Err(Failure::Usage(format!(
            "--into sqlite:{path} needs gludb's `sqlite` feature"
        )));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok((
            Databases::new(gludb_core::postgres::Postgres::connect(spec).await?),
            None,
        ));
        #[cfg(not(feature = "postgres"))]
        return Err(Failure::Usage(
            "--into postgres://... needs gludb's `postgres` feature".into(),
        ));
    }
    Err(Failure::Usage(
        "--into takes sqlite:<file> or postgres://...".into(),
    ))
}

/// Removes a SQLite database file and its companions (best effort: they
/// hold nothing).
fn remove_sqlite_files(file: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}
