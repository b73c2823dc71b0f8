//! `list`, `prune` and `orphans`: what is in the store, and tidying it.

use gludb_backup::{BackupListing, OrphanKind, Retention};
use time::format_description::well_known::Rfc3339;

use super::Context;
use crate::{
    args::{ListArgs, OrphansArgs, PruneArgs},
    output::{Exit, Failure, Output, size},
};

pub(super) async fn list(
    args: ListArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    let store = context.store()?;
    let backups = match &args.set {
        Some(set) => store.list_set(set).await?,
        None => store.list().await?,
    };
    if backups.is_empty() {
        output.note(&format!("no backups at {}", store.description()));
    }
    for backup in &backups {
        output.result(backup, &describe(backup))?;
    }
    Ok(Exit::Ok)
}

fn describe(backup: &BackupListing) -> String {
    format!(
        "{}  {}  {:>10}  {}",
        backup.time.format(&Rfc3339).unwrap_or_default(),
        backup.set,
        size(backup.size),
        backup.key
    )
}

pub(super) async fn prune(
    args: PruneArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    let store = context.store()?;
    let mut policy = Retention::new();
    if let Some(n) = args.keep_last {
        policy = policy.keep_last(n);
    }
    if let Some(n) = args.keep_daily {
        policy = policy.keep_daily(n);
    }
    if let Some(n) = args.keep_monthly {
        policy = policy.keep_monthly(n);
    }
    if policy == Retention::new() {
        return Err(Failure::Usage(
            "give a policy: --keep-last, --keep-daily and/or --keep-monthly".into(),
        ));
    }
    let report = if args.dry_run {
        store.prune_set_dry_run(&args.set, &policy).await?
    } else {
        store.prune_set(&args.set, &policy).await?
    };
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut human = format!(
        "set {}: kept {}, {verb} {}\n",
        report.set,
        report.kept.len(),
        report.deleted.len()
    );
    for key in &report.deleted {
        human.push_str(&format!("  {verb} {key}\n"));
    }
    #[derive(serde::Serialize)]
    struct Pruned<'a> {
        dry_run: bool,
        #[serde(flatten)]
        report: &'a gludb_backup::PruneReport,
    }
    output.result(
        &Pruned {
            dry_run: args.dry_run,
            report: &report,
        },
        &human,
    )?;
    Ok(Exit::Ok)
}

pub(super) async fn orphans(
    args: OrphansArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    let store = context.store()?;
    if args.clean {
        let report = store.clean_orphans(args.older_than).await?;
        let mut human = format!(
            "cleaned {}, left {} (younger than {}, or being written)\n",
            report.cleaned.len(),
            report.kept.len(),
            humantime::format_duration(args.older_than)
        );
        for orphan in &report.cleaned {
            human.push_str(&format!(
                "  cleaned {} ({})\n",
                orphan.key,
                kind(&orphan.kind)
            ));
        }
        for failed in &report.failed {
            human.push_str(&format!(
                "  FAILED {} ({}): {}\n",
                failed.orphan.key,
                kind(&failed.orphan.kind),
                failed.error
            ));
        }
        output.result(&report, &human)?;
        if !report.is_clean() {
            return Ok(Exit::Failed);
        }
    } else {
        let found = store.find_orphans().await?;
        if found.is_empty() {
            output.note(&format!("no orphans at {}", store.description()));
        }
        for orphan in &found {
            let started = orphan
                .started
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_else(|| "?".to_owned());
            output.result(
                orphan,
                &format!("{started}  {}  {}", orphan.key, kind(&orphan.kind)),
            )?;
        }
    }
    Ok(Exit::Ok)
}

fn kind(kind: &OrphanKind) -> String {
    match kind {
        OrphanKind::MultipartUpload { upload_id } => format!("multipart upload {upload_id}"),
        OrphanKind::StagingFile { path } => format!("staging file {}", path.display()),
        _ => "leftover".to_owned(),
    }
}
