//! `backup`: the service's registered classes, picked by name, module or
//! all, with progress; Ctrl-C cancels the run (which then leaves nothing).

use std::sync::{Arc, PoisonError};

use gludb_backup::{Backup, Bases, Subpackages};
use gludb_core::{TypeInfo, registry};

use super::Context;
use crate::{
    args::BackupArgs,
    output::{Exit, Failure, Output, count, size},
    progress::RunProgress,
};

pub(super) async fn backup(
    args: BackupArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    let dbs = context.databases("backup")?;
    let store = context.store_to_write()?;
    let mut backup = Backup::on(&store).with_name(&args.name);
    select(&mut backup, &args)?;
    if let Some(level) = args.zstd {
        backup = backup.with_zstd(level);
    }
    backup = encrypt(backup, &args.encrypt_to)?;

    let progress = RunProgress::new(output, "backup");
    let feed = Arc::clone(&progress);
    let backup = backup.with_progress(move |p| {
        feed.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(p.into());
    });
    let running = backup.start(dbs)?;
    output.note(&format!("backing up to {}", store.description()));
    let mut running = std::pin::pin!(running);
    let outcome = tokio::select! {
        outcome = &mut running => outcome,
        () = interrupted() => {
            output.note("interrupted: cancelling the backup (interrupt again to quit at once)...");
            running.cancel();
            tokio::select! {
                outcome = &mut running => outcome,
                () = interrupted() => {
                    // The upload may be left: `orphans --clean` finds it.
                    output.note("quit before the cancelled backup had cleaned up: see `orphans`");
                    return Ok(Exit::Interrupted);
                }
            }
        }
    };
    progress
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .finish();
    let report = outcome?;
    for warning in &report.warnings {
        output.note(&format!("warning: {warning}"));
    }
    let human = format!(
        "backed up {} records of {} classes ({} compressed) to {}\nkey: {}",
        count(report.total_records()),
        report.classes.len(),
        size(report.archive_bytes),
        report.destination,
        report.key
    );
    output.result(&report, &human)?;
    // A backup that holds less than asked (a class whose table does not
    // exist) is kept, but is not a plain success.
    Ok(if report.warnings.is_empty() {
        Exit::Ok
    } else {
        Exit::Problem
    })
}

/// The backup encrypted to `recipients` (`age1...`), if any.
fn encrypt(backup: Backup, recipients: &[String]) -> Result<Backup, Failure> {
    if recipients.is_empty() {
        return Ok(backup);
    }
    #[cfg(feature = "age")]
    {
        let recipients = recipients
            .iter()
            .map(|r| r.parse::<gludb_backup::archive::Recipient>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::Usage(format!("--encrypt-to: {e}")))?;
        Ok(backup.encrypt_to(recipients))
    }
    #[cfg(not(feature = "age"))]
    Err(Failure::Usage(
        "--encrypt-to: this build has no age support (feature `age`)".into(),
    ))
}

/// Ctrl-C, or SIGTERM (how a service manager stops a process).
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    // Without a handler, the signal's default action stands (the process
    // ends); a future that never completes keeps the backup running.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Adds what the command line names; every name must match something.
fn select(backup: &mut Backup, args: &BackupArgs) -> Result<(), Failure> {
    if args.all {
        // gludb's own history is the service's record of its backups, not
        // its data: restoring it over the current one would lose that.
        let data = registry::all()
            .into_iter()
            .filter(|info| !info.module_path().starts_with("gludb_backup"));
        for info in data {
            backup.add_type(info, Bases::Exclude);
        }
    }
    for name in &args.classes {
        backup.add_type(registered(name)?, Bases::Include);
    }
    for package in &args.packages {
        if registry::in_package(package, true).is_empty() {
            return Err(Failure::Usage(format!(
                "module {package} has no registered classes; registered: {}",
                registered_names()
            )));
        }
        backup.add_package_with(package, Subpackages::Include, Bases::Include);
    }
    if backup.selection().is_empty() {
        return Err(Failure::Usage(
            "choose what to back up: --all, --class NAME or --package MODULE".into(),
        ));
    }
    Ok(())
}

/// The one registered type `name` (type name or full path) names.
pub(super) fn registered(name: &str) -> Result<&'static TypeInfo, Failure> {
    let found = registry::find_by_name(name);
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(Failure::Usage(format!(
            "no registered class {name}; registered: {}",
            registered_names()
        ))),
        several => Err(Failure::Usage(format!(
            "{name} names several registered classes ({}); use the full path",
            several
                .iter()
                .map(|t| t.full_name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn registered_names() -> String {
    let names: Vec<String> = registry::all().iter().map(|t| t.full_name()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
