//! What the backup tool survives, shown under injected faults: a proxy
//! between the client and a real S3 server answers 500 / 503 SlowDown /
//! 403, cuts connections mid-body, stalls past timeouts and truncates
//! responses, once (transient) or for good (persistent); a real tmpfs fills
//! up or turns read-only under a `file://` destination; a backup process is
//! killed with SIGKILL at three points.
//!
//! Every case asserts what a user would notice: a transient fault is
//! survived through object_store's retries; a persistent one is a typed
//! error in bounded time that leaves 0 visible objects, 0 orphaned parts,
//! a `Failed` history record, and 0 rows changed by a restore.
//!
//! `cargo test --test faults -- --nocapture` prints the table of
//! docs/RELIABILITY.md; with `GLUDB_RELIABILITY_OUT=<file>` it also writes
//! it there (`python3 scripts/reliability.py` does both).

#[path = "../backup/models.rs"]
mod models;
#[path = "../backup/support.rs"]
mod support;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::Mutex,
    time::{Duration, Instant},
};

use futures_util::{StreamExt, stream};
use gludb::{
    Databases, Storable,
    backup::{Backup, BackupError, BackupStatus, Bases, Destination, Restore, Retention},
    sqlite::Sqlite,
};
use gludb_testkit::{Fault, FaultAction, FaultProxy, RequestKind, TmpfsMount};
use models::*;
use support::*;

/// How long an operation may take to fail under a persistent fault: the
/// retry budget below plus a margin.
const FAIL_WITHIN: Duration = Duration::from_secs(30);

/// Requests time out after a second and are retried three times within five
/// seconds: a persistent fault fails within seconds, not object_store's
/// default three minutes.
fn tuned(destination: Destination) -> Destination {
    destination
        .with_request_timeout(Duration::from_secs(1))
        .with_retries(3, Duration::from_secs(5))
}

/// The operations under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// A ~6 MiB archive: a multipart upload of two parts.
    Backup,
    /// A small backup: one conditional PUT.
    SmallBackup,
    Verify,
    Restore,
    List,
    Prune,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Backup => "backup (multipart)",
            Op::SmallBackup => "backup (single PUT)",
            Op::Verify => "verify",
            Op::Restore => "restore",
            Op::List => "list",
            Op::Prune => "prune",
        }
    }

    /// The requests of this operation a fault is aimed at.
    fn targets(self) -> &'static [RequestKind] {
        match self {
            Op::Backup => &[
                RequestKind::CreateMultipartUpload,
                RequestKind::UploadPart,
                RequestKind::CompleteMultipartUpload,
            ],
            Op::SmallBackup => &[RequestKind::PutObject],
            Op::Verify | Op::Restore => &[RequestKind::GetObject],
            Op::List => &[RequestKind::ListObjects],
            Op::Prune => &[RequestKind::DeleteObjects],
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Case {
    op: Op,
    on: RequestKind,
    action: FaultAction,
    persistent: bool,
}

impl Case {
    fn fault(&self) -> Fault {
        let rule = Fault::on(self.on);
        let rule = if self.persistent { rule.always() } else { rule };
        rule.action(self.action)
    }

    fn kind(&self) -> &'static str {
        if self.persistent {
            "persistent"
        } else {
            "transient"
        }
    }

    /// What must happen: `true` for success.
    fn must_succeed(&self) -> bool {
        // The answer to a completion is lost, but the object is complete:
        // the run checks, and reports the truth.
        if self.on == RequestKind::CompleteMultipartUpload
            && self.action == FaultAction::TruncateBody
        {
            return true;
        }
        // 4xx is not retried: a refused request is a refused request.
        !self.persistent && self.action != FaultAction::Status(403)
    }
}

fn action_name(action: FaultAction) -> String {
    match action {
        FaultAction::Status(503) => "503 SlowDown".into(),
        FaultAction::Status(500) => "500 InternalError".into(),
        FaultAction::Status(403) => "403 AccessDenied".into(),
        FaultAction::Status(code) => format!("{code}"),
        FaultAction::ResetMidBody => "connection reset mid-body".into(),
        FaultAction::Stall(_) => "stall past the timeout".into(),
        FaultAction::TruncateBody => "truncated response body".into(),
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for op in [
        Op::Backup,
        Op::SmallBackup,
        Op::Verify,
        Op::Restore,
        Op::List,
        Op::Prune,
    ] {
        for &on in op.targets() {
            let mut actions = vec![
                FaultAction::Status(500),
                FaultAction::Status(503),
                FaultAction::Status(403),
                FaultAction::ResetMidBody,
                FaultAction::Stall(Duration::from_secs(3600)),
            ];
            if matches!(
                on,
                RequestKind::GetObject | RequestKind::CompleteMultipartUpload
            ) {
                actions.push(FaultAction::TruncateBody);
            }
            for action in actions {
                for persistent in [false, true] {
                    cases.push(Case {
                        op,
                        on,
                        action,
                        persistent,
                    });
                }
            }
        }
    }
    cases
}

/// What one case did.
#[derive(Debug)]
struct Outcome {
    error: Option<BackupError>,
    elapsed: Duration,
    objects_before: Vec<String>,
    objects_after: Vec<String>,
    orphaned_parts: usize,
    rows_changed: Option<usize>,
    history: Option<BackupStatus>,
    retries: usize,
}

/// One server, one proxy, one case.
async fn run_case(case: Case, source: &Databases) -> Outcome {
    let server = s3_server();
    let proxy = FaultProxy::start(&server.endpoint()).unwrap();
    let destination = tuned(
        Destination::s3(ACCESS_KEY, SECRET_KEY, server.bucket())
            .with_endpoint(&proxy.endpoint())
            .with_s3_option("aws_region", "us-east-1"),
    );
    let mut blobs = Backup::at(destination.clone()).with_part_size(5 * 1024 * 1024);
    blobs.add_class::<BlobData>();
    let mut small = Backup::at(destination.clone()).with_name("small");
    small.add_class_with::<SimpleData>(Bases::Exclude);
    let restore = Restore::at(destination.clone());

    // What the read operations work on, made before any fault.
    let mut existing = Vec::new();
    match case.op {
        Op::Verify | Op::Restore => existing.push(blobs.run_backup(source).await.unwrap().key),
        Op::List | Op::Prune => {
            for _ in 0..3 {
                existing.push(small.run_backup(source).await.unwrap().key);
            }
        }
        Op::Backup | Op::SmallBackup => {}
    }
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    BlobData::ensure_table(&target).await.unwrap();
    BlobData {
        id: "already-there".into(),
        noise: "kept".into(),
    }
    .save(&target)
    .await
    .unwrap();
    let target_before = rows_of(target.default_database().unwrap().as_ref(), "BlobTest").await;

    let objects_before = server.objects();
    let seen_before = proxy.seen(case.on);
    proxy.inject(case.fault());
    let started = Instant::now();
    let mut key = None;
    let error = match case.op {
        Op::Backup | Op::SmallBackup => {
            let backup = if case.op == Op::Backup {
                &blobs
            } else {
                &small
            };
            let running = backup.start(source).unwrap();
            key = Some(running.key().to_owned());
            running.wait().await.err()
        }
        Op::Verify => match restore.verify(&existing[0]).await {
            Ok(report) if report.is_ok() => None,
            Ok(report) => panic!("{case:?}: verify reported a damaged archive: {report:?}"),
            Err(e) => Some(e),
        },
        Op::Restore => restore.restore(&existing[0], &target).await.err(),
        Op::List => match restore.list().await {
            Ok(listed) => {
                assert_eq!(listed.len(), 3, "{case:?}");
                None
            }
            Err(e) => Some(e),
        },
        Op::Prune => small.prune(&Retention::new().keep_last(1)).await.err(),
    };
    let elapsed = started.elapsed();
    let retries = proxy.seen(case.on) - seen_before;
    // Release anything still held, then let the server settle.
    proxy.clear();
    drop(proxy);

    let history = match &key {
        Some(key) => history(source)
            .await
            .into_iter()
            .find(|run| &run.key == key)
            .map(|run| run.status),
        None => None,
    };
    let rows_changed = if case.op == Op::Restore {
        let after = rows_of(target.default_database().unwrap().as_ref(), "BlobTest").await;
        let (before, after) = (target_before.unwrap_or_default(), after.unwrap_or_default());
        let changed = after
            .iter()
            .filter(|(id, value)| before.get(*id) != Some(*value))
            .count()
            + before.keys().filter(|id| !after.contains_key(*id)).count();
        Some(changed)
    } else {
        None
    };
    Outcome {
        error,
        elapsed,
        objects_before,
        objects_after: server.objects(),
        orphaned_parts: server.orphaned_parts().len(),
        rows_changed,
        history,
        retries,
    }
}

/// Checks one case against what a user is promised; returns the table row.
fn check(case: Case, outcome: &Outcome) -> String {
    let what = format!(
        "{} / {:?} / {} / {}",
        case.op.name(),
        case.on,
        action_name(case.action),
        case.kind()
    );
    assert!(
        outcome.retries > 0,
        "{what}: the request under test was never made"
    );
    assert_eq!(outcome.orphaned_parts, 0, "{what}: parts left behind");
    let new_objects = outcome
        .objects_after
        .iter()
        .filter(|o| !outcome.objects_before.contains(o))
        .count();
    let deleted = outcome
        .objects_before
        .iter()
        .filter(|o| !outcome.objects_after.contains(o))
        .count();
    let result = match &outcome.error {
        None => {
            assert!(
                case.must_succeed(),
                "{what}: succeeded, expected a typed error"
            );
            match case.op {
                Op::Backup | Op::SmallBackup => {
                    assert_eq!(new_objects, 1, "{what}");
                    assert!(
                        matches!(outcome.history, Some(BackupStatus::Completed)),
                        "{what}: {:?}",
                        outcome.history
                    );
                }
                Op::Prune => assert_eq!(outcome.objects_after.len(), 1, "{what}"),
                _ => assert_eq!(outcome.objects_after, outcome.objects_before, "{what}"),
            }
            if let Some(rows) = outcome.rows_changed {
                assert!(rows > 0, "{what}: a successful restore wrote nothing");
            }
            "succeeds".to_owned()
        }
        Some(error) => {
            assert!(
                !case.must_succeed(),
                "{what}: failed, expected to survive: {error}"
            );
            assert!(
                matches!(
                    error,
                    BackupError::Store { .. } | BackupError::AccessDenied { .. }
                ),
                "{what}: not a typed store error: {error:?}"
            );
            assert!(
                outcome.elapsed < FAIL_WITHIN,
                "{what}: took {:?} to fail",
                outcome.elapsed
            );
            assert_eq!(
                outcome.objects_after, outcome.objects_before,
                "{what}: objects changed by a failed operation"
            );
            if matches!(case.op, Op::Backup | Op::SmallBackup) {
                assert_eq!(outcome.history, Some(BackupStatus::Failed), "{what}");
            }
            if let Some(rows) = outcome.rows_changed {
                assert_eq!(rows, 0, "{what}: a failed restore changed rows");
            }
            match error {
                BackupError::AccessDenied { .. } => "fails: AccessDenied".to_owned(),
                _ => "fails: Store".to_owned(),
            }
        }
    };
    let time_to_fail = match &outcome.error {
        Some(_) => format!("{:.1} s", outcome.elapsed.as_secs_f64()),
        None => "—".to_owned(),
    };
    format!(
        "| {} | {:?} | {} | {} | {} | {} | +{} −{} | {} | {} | {} |",
        case.op.name(),
        case.on,
        action_name(case.action),
        case.kind(),
        result,
        outcome.retries,
        new_objects,
        deleted,
        outcome.orphaned_parts,
        outcome
            .rows_changed
            .map_or_else(|| "—".to_owned(), |n| n.to_string()),
        time_to_fail,
    )
}

/// Rows of the reliability table, gathered from the tests of this binary.
static TABLE: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

/// Prints the table (and writes it where `GLUDB_RELIABILITY_OUT` says).
fn publish(section: &str, header: &str, rows: Vec<String>) {
    let mut text = format!("{header}\n");
    for row in &rows {
        writeln!(text, "{row}").unwrap();
    }
    println!("\n{text}");
    let mut table = TABLE.lock().unwrap();
    table.insert(section.to_owned(), vec![text]);
    if let Ok(path) = std::env::var("GLUDB_RELIABILITY_OUT") {
        let all: String = table
            .iter()
            .map(|(name, texts)| format!("### {name}\n\n{}\n", texts.join("\n")))
            .collect();
        std::fs::write(path, all).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_faults_are_survived_or_fail_cleanly() {
    let source = sqlite_file().await;
    SimpleData::ensure_table(&source.dbs).await.unwrap();
    save_simple_records(&source.dbs, 20, |i| format!("record {i}")).await;
    save_blobs(&source.dbs, 32).await;
    let cases = cases();
    let rows: Vec<String> = stream::iter(cases)
        .map(|case| {
            let dbs = source.dbs.clone();
            async move {
                let outcome = run_case(case, &dbs).await;
                check(case, &outcome)
            }
        })
        .buffered(4)
        .collect()
        .await;
    publish(
        "S3 faults (fault proxy in front of the S3 server)",
        "| operation | request | fault | kind | outcome | requests of that kind | objects created / deleted | unfinished uploads left | rows changed | time to fail |\n|---|---|---|---|---|---|---|---|---|---|",
        rows,
    );
}

// ---------------------------------------------------------------------------
// A backup process killed with SIGKILL, and a file system that fills up or
// turns read-only.
// ---------------------------------------------------------------------------

/// Environment variable that makes [`child_process`] run a backup.
const CHILD_JOB: &str = "GLUDB_FAULTS_CHILD_JOB";

/// Not a test of its own: the entry point of the backup processes the kill
/// tests start and kill (it does nothing unless `GLUDB_FAULTS_CHILD_JOB` is
/// set). It backs up `BlobData` from the SQLite file `GLUDB_DB` to the S3
/// endpoint `GLUDB_ENDPOINT` or the URL `GLUDB_URL`, in 5 MiB parts, prints
/// the key, and with `GLUDB_STALL_AFTER` set stops (forever) once that many
/// bytes were read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Ok(job) = std::env::var(CHILD_JOB) else {
        return;
    };
    assert_eq!(job, "backup");
    let var = |name: &str| std::env::var(name).ok();
    let dbs = Databases::new(Sqlite::open(var("GLUDB_DB").unwrap()).await.unwrap());
    let destination = match var("GLUDB_ENDPOINT") {
        Some(endpoint) => tuned(
            Destination::s3(ACCESS_KEY, SECRET_KEY, BUCKET)
                .with_endpoint(&endpoint)
                .with_s3_option("aws_region", "us-east-1"),
        ),
        None => Destination::from_url(&var("GLUDB_URL").unwrap()).unwrap(),
    };
    let stall_after: Option<u64> = var("GLUDB_STALL_AFTER").map(|b| b.parse().unwrap());
    let mut backup = Backup::at(destination)
        .with_part_size(5 * 1024 * 1024)
        .with_progress(move |p| {
            if stall_after.is_some_and(|limit| p.bytes > limit) {
                std::thread::sleep(Duration::from_secs(3600));
            }
        });
    backup.add_class::<BlobData>();
    let running = backup.start(&dbs).unwrap();
    println!("\nKEY {}", running.key());
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    running.wait().await.unwrap();
}

/// Starts a backup process; returns it and the key it writes.
fn spawn_backup(envs: &[(&str, String)]) -> (std::process::Child, String) {
    let mut command = this_binary_again(CHILD_JOB, "backup");
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let Some(key) = lines.find_map(|line| Some(line.ok()?.split_once("KEY ")?.1.to_owned())) else {
        let output = child.wait_with_output().unwrap();
        panic!(
            "the backup process ended without a key: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    (child, key)
}

/// SIGKILL, and reap.
fn kill(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_leaves_nothing_visible_and_its_leftovers_are_cleaned() {
    let source = sqlite_file().await;
    // ~12 MiB, ~9 MiB compressed: two parts.
    save_blobs(&source.dbs, 48).await;
    let mut rows = Vec::new();
    for (point, on, after) in [
        (
            "early (creating the upload)",
            RequestKind::CreateMultipartUpload,
            0,
        ),
        ("mid-upload (second part)", RequestKind::UploadPart, 1),
        ("during completion", RequestKind::CompleteMultipartUpload, 0),
    ] {
        let server = s3_server();
        let proxy = FaultProxy::start(&server.endpoint()).unwrap();
        proxy.inject(Fault::on(on).after(after).stall_until_cleared());
        let (child, key) = spawn_backup(&[
            ("GLUDB_DB", source.path.display().to_string()),
            ("GLUDB_ENDPOINT", proxy.endpoint()),
        ]);
        assert!(
            proxy
                .wait_for_async(on, after + 1, Duration::from_secs(60))
                .await,
            "{point}: the backup never got there"
        );
        kill(child);
        // Held requests die with the proxy: they never reach the server.
        drop(proxy);

        assert!(
            !server.objects().contains(&key),
            "{point}: {:?}",
            server.objects()
        );
        let run = history(&source.dbs)
            .await
            .into_iter()
            .find(|run| run.key == key)
            .expect("the run recorded its start");
        assert_eq!(
            run.status,
            BackupStatus::Running,
            "{point}: a killed run stays Running"
        );

        let restore = s3_restore(&server, SECRET_KEY);
        let found = restore.store().unwrap().find_orphans().await.unwrap();
        let expected = usize::from(on != RequestKind::CreateMultipartUpload);
        assert_eq!(found.len(), expected, "{point}: {found:?}");
        assert!(found.iter().all(|o| o.key == key));
        let cleaned = restore
            .store()
            .unwrap()
            .clean_orphans(Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(cleaned.cleaned.len(), expected, "{point}");
        assert!(
            server.orphaned_parts().is_empty(),
            "{point}: {:?}",
            server.orphaned_parts()
        );

        // The next run succeeds.
        let mut again = s3_backup(&server, SECRET_KEY).with_part_size(5 * 1024 * 1024);
        again.add_class::<BlobData>();
        let report = again.run_backup(&source.dbs).await.unwrap();
        assert!(restore.verify(&report.key).await.unwrap().is_ok());
        assert_eq!(
            server.objects(),
            std::slice::from_ref(&report.key),
            "{point}"
        );
        rows.push(format!(
            "| S3, SIGKILL {point} | nothing | Running | {} found, {} aborted | succeeds |",
            found.len(),
            cleaned.cleaned.len()
        ));
    }

    // file://: object_store's staging file is what a killed run leaves.
    // The run is killed the moment its staging file appears; should it
    // win the race and finish first, the scenario starts over.
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let mut caught = None;
    for _ in 0..5 {
        let (child, key) = spawn_backup(&[
            ("GLUDB_DB", source.path.display().to_string()),
            ("GLUDB_URL", url.clone()),
        ]);
        let staging = dir.path().join(format!("{key}#1"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !staging.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        kill(child);
        if staging.exists() {
            caught = Some((key, staging));
            break;
        }
        // Finished before the kill: clear the directory and try again.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
    let (key, staging) = caught.expect("a run was killed while writing");
    assert!(!dir.path().join(&key).exists());
    let run = history(&source.dbs)
        .await
        .into_iter()
        .find(|run| run.key == key)
        .expect("the run recorded its start");
    assert_eq!(run.status, BackupStatus::Running);
    let restore = Restore::from_url(&url).unwrap();
    assert!(
        restore.list().await.unwrap().is_empty(),
        "a staging file is not a backup"
    );
    let found = restore.store().unwrap().find_orphans().await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let cleaned = restore
        .store()
        .unwrap()
        .clean_orphans(Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(cleaned.cleaned.len(), 1);
    assert!(!staging.exists());
    let mut again = Backup::from_url(&url).unwrap();
    again.add_class::<BlobData>();
    let report = again.run_backup(&source.dbs).await.unwrap();
    assert!(restore.verify(&report.key).await.unwrap().is_ok());
    rows.push(format!(
        "| file://, SIGKILL mid-upload | nothing | Running | {} found, {} deleted | succeeds |",
        found.len(),
        cleaned.cleaned.len()
    ));
    publish(
        "A backup process killed with SIGKILL",
        "| killed | visible under its key | its history record | orphan tools | next run |\n|---|---|---|---|---|",
        rows,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_read_only_backup_directory_fails_cleanly() {
    let Some(mut mount) = tmpfs_or_skip() else {
        return;
    };
    let source = sqlite_file().await;
    save_blobs(&source.dbs, 32).await;
    let url = file_url(mount.path());
    let mut rows = Vec::new();
    for fault in ["full (ENOSPC)", "read-only (EROFS)"] {
        if fault.starts_with("read-only") {
            mount.remount_read_only().unwrap();
        }
        let mut backup = Backup::from_url(&url).unwrap();
        backup.add_class::<BlobData>();
        let started = Instant::now();
        let running = backup.start(&source.dbs);
        let (key, err) = match running {
            Ok(running) => {
                let key = running.key().to_owned();
                (Some(key), running.wait().await.unwrap_err())
            }
            Err(e) => (None, e),
        };
        let elapsed = started.elapsed();
        assert!(
            matches!(err, BackupError::Store { .. } | BackupError::Io { .. }),
            "{fault}: {err:?}"
        );
        let left: Vec<_> = std::fs::read_dir(mount.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{fault}: {left:?}");
        if let Some(key) = &key {
            let run = history(&source.dbs)
                .await
                .into_iter()
                .find(|run| &run.key == key)
                .unwrap();
            assert_eq!(run.status, BackupStatus::Failed, "{fault}");
        }
        rows.push(format!(
            "| backup to a {fault} tmpfs | fails: {} | 0 | {} | {:.1} s |",
            match err {
                BackupError::Store { .. } => "Store",
                _ => "Io",
            },
            if key.is_some() {
                "Failed"
            } else {
                "— (refused before starting)"
            },
            elapsed.as_secs_f64()
        ));
    }
    publish(
        "file:// destination on a full or read-only file system",
        "| fault | outcome | files left | history | time to fail |\n|---|---|---|---|---|",
        rows,
    );
}

/// A 2 MiB tmpfs, or a loud skip (a failure with `CI=true`).
fn tmpfs_or_skip() -> Option<TmpfsMount> {
    match TmpfsMount::new(2 * 1024 * 1024) {
        Ok(Some(mount)) => Some(mount),
        other => {
            let reason = format!("{other:?}");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "mounting a tmpfs is required when CI=true: {reason}"
            );
            eprintln!("SKIPPED: cannot mount a tmpfs ({reason})");
            None
        }
    }
}
