//! `inspect` and `cat`: reading a backup without restoring it.

use futures_util::StreamExt;
use gludb_backup::{Inspection, ReadCheck};

use super::Context;
use crate::{
    args::{CatArgs, KeyArgs},
    output::{Exit, Failure, Output, count, size},
    progress::Spinner,
};

pub(super) async fn inspect(
    args: KeyArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    let store = context.archive_store()?;
    let inspection = {
        let _spinner = Spinner::start(output, format!("reading {}", args.key));
        store.inspect(&args.key).await?
    };
    output.result(&inspection, &describe(&inspection))?;
    Ok(if inspection.problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Problem
    })
}

fn describe(inspection: &Inspection) -> String {
    let listing = &inspection.listing;
    let time = listing
        .time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut text = format!(
        "{}\n  set {}  taken {time}  {} compressed\n",
        listing.key,
        listing.set,
        size(listing.size)
    );
    match (&inspection.writer, inspection.has_manifest) {
        (Some(writer), true) => text.push_str(&format!("  written by {writer}\n")),
        (None, true) => text.push_str("  manifest without a writer\n"),
        (_, false) if inspection.problems.is_empty() => text.push_str(
            "  no manifest (an archive of the original GLUDB): figures measured from the archive\n",
        ),
        (_, false) => text.push_str("  no manifest was read: see the problems below\n"),
    }
    text.push_str(&format!(
        "  {} records in {} classes\n",
        count(inspection.total_records()),
        inspection.classes.len()
    ));
    for class in &inspection.classes {
        text.push_str(&format!(
            "  {}  {} records  {}  sha256 {}",
            class.name,
            count(class.records),
            size(class.bytes),
            class.sha256
        ));
        if let Some(module) = &class.module_path {
            text.push_str(&format!("  ({module}::{})", class.type_name));
        }
        text.push('\n');
        if let Some(fingerprint) = &class.fingerprint {
            text.push_str(&format!("    schema {fingerprint}"));
            if let Some(shape) = &class.shape {
                text.push_str(&format!(": {shape}"));
            }
            text.push('\n');
        }
        if let Some(drift) = &class.schema_drift {
            text.push_str(&format!("    schema drift in this program: {drift}\n"));
        }
    }
    for member in &inspection.other_members {
        text.push_str(&format!("  other member: {member}\n"));
    }
    for problem in &inspection.problems {
        text.push_str(&format!("  problem: {problem}\n"));
    }
    text
}

pub(super) async fn cat(
    args: CatArgs,
    context: &Context<'_>,
    output: &mut Output,
) -> Result<Exit, Failure> {
    output.stdout_is_data = true;
    let store = context.archive_store()?;
    let check = if args.as_it_goes {
        ReadCheck::AsItGoes
    } else {
        ReadCheck::BeforeFirstRecord
    };
    let mut spinner = Some(Spinner::start(
        output,
        format!("reading and checking {}", args.key),
    ));
    let mut lines = store.read(&args.key).check(check).raw(&args.class).await?;
    while let Some(line) = lines.next().await {
        spinner = None;
        output.line(&line?)?;
    }
    drop(spinner);
    if lines.has_manifest() == Some(false) {
        output.note(&format!(
            "note: {} has no manifest (an archive of the original GLUDB): its records could not be checked against one",
            args.key
        ));
    }
    Ok(Exit::Ok)
}
