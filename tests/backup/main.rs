//! Backups end to end: selection as in the original GLUDB, archives in a
//! real S3-compatible server on 127.0.0.1 and in a local directory, read
//! back with ordinary tar/gzip readers (and Python's `tarfile`, GNU tar).

mod models;
mod support;
mod testpkg;

use std::collections::BTreeMap;

use gludb::{
    Storable,
    backup::{
        Backup, BackupError, BackupHistory, BackupStatus, Bases, Subpackages, archive::Manifest,
    },
};
use models::*;
use support::*;
use testpkg::{
    module::TopData, subpkg1::module::MidData1, subpkg1::subsubpkg::module::BottomData,
    subpkg2::module::MidData2,
};

#[test]
fn add_class_counts_like_the_original() {
    let mut backup = Backup::new("key", "secret", "bucket");
    assert_eq!(backup.add_class::<InheritedData>(), 3);
    assert_eq!(backup.add_class::<InheritedData>(), 0, "already added");
    assert_eq!(backup.add_class::<SimpleData>(), 0, "added as a base");
    let names: Vec<_> = backup
        .selection()
        .classes()
        .iter()
        .map(|c| c.backup_name())
        .collect();
    assert_eq!(
        names,
        [
            "InheritedData--InheritedTest",
            "SimpleData--SimpleTest",
            "ComplexData--ComplexTest"
        ]
    );

    let mut without_bases = Backup::new("key", "secret", "bucket");
    assert_eq!(
        without_bases.add_class_with::<InheritedData>(Bases::Exclude),
        1
    );
    assert_eq!(
        without_bases.add_class_with::<SimpleData>(Bases::Exclude),
        1
    );
}

#[test]
fn add_package_scans_modules_like_python_packages() {
    let package = format!("{}::testpkg", module_path!());
    let mut backup = Backup::new("key", "secret", "bucket");
    assert_eq!(backup.add_package(&package), 4);
    for info in [
        TopData::type_info(),
        MidData1::type_info(),
        MidData2::type_info(),
        BottomData::type_info(),
    ] {
        assert!(backup.selection().contains(info), "{}", info.type_name());
    }

    let mut shallow = Backup::new("key", "secret", "bucket");
    assert_eq!(
        shallow.add_package_with(&package, Subpackages::Exclude, Bases::Include),
        1
    );
    assert!(shallow.selection().contains(TopData::type_info()));

    // Python's dotted form names the same package.
    let mut dotted = Backup::new("key", "secret", "bucket");
    assert_eq!(dotted.add_package(&package.replace("::", ".")), 4);

    let mut nothing = Backup::new("key", "secret", "bucket");
    assert_eq!(nothing.add_package("no_such_crate::model"), 0);
    assert!(
        nothing
            .selection()
            .log()
            .iter()
            .any(|l| l.contains("no_such_crate::model"))
    );
}

async fn save_samples(dbs: &gludb::Databases) -> Vec<String> {
    ensure_related_tables(dbs).await;
    EmptyData::ensure_table(dbs).await.unwrap();
    let mut ids = save_simple_records(dbs, 250, |_| "plain".into()).await;
    let mut tricky = SimpleData {
        name: "Zoë 🦀 \"quoted\" 中文".into(),
        descrip: "line one\nline two\r\n\ttab \\ backslash \u{1}".into(),
        age: 7,
        ..Default::default()
    };
    tricky.save(dbs).await.unwrap();
    ids.push(tricky.id);
    ComplexData {
        name: "complex".into(),
        complex_data: vec![("a".into(), 1), ("b".into(), -2)],
        ..Default::default()
    }
    .save(dbs)
    .await
    .unwrap();
    InheritedData {
        only_inherited: 42,
        ..Default::default()
    }
    .save(dbs)
    .await
    .unwrap();
    ids
}

/// Every stored (id, value) of `T`'s table, straight from the database.
async fn stored_rows<T: Storable>(dbs: &gludb::Databases) -> BTreeMap<String, String> {
    let db = dbs.database_for(T::type_info()).unwrap();
    let table = dbs.table_name(T::type_info()).unwrap().to_string();
    rows_of(db.as_ref(), &table)
        .await
        .expect("the table exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_to_s3_holds_every_record_verbatim() {
    let server = s3_server();
    let db = sqlite_file().await;
    let ids = save_samples(&db.dbs).await;

    let mut backup = s3_backup(&server, SECRET_KEY);
    assert_eq!(backup.add_class::<InheritedData>(), 3);
    assert_eq!(backup.add_class::<EmptyData>(), 1);
    let report = backup.run_backup(&db.dbs).await.expect("backup");

    assert_eq!(report.bucket, BUCKET);
    assert!(
        report.key.starts_with("Backup_UTC_") && report.key.ends_with(".tar.gz"),
        "{}",
        report.key
    );
    assert!(!report.key.contains(':'));
    assert_eq!(server.objects(), vec![report.key.clone()]);
    assert!(server.orphaned_parts().is_empty());
    assert_eq!(
        record_counts(&report),
        [
            ("InheritedData--InheritedTest", 1),
            ("SimpleData--SimpleTest", 251),
            ("ComplexData--ComplexTest", 1),
            ("EmptyData--EmptyTest", 0)
        ]
    );

    let gz = std::fs::read(server.object_path(&report.key)).unwrap();
    assert_eq!(report.archive_bytes, gz.len() as u64);
    let members = read_archive(&gz);
    let names: Vec<_> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "InheritedData--InheritedTest.json",
            "SimpleData--SimpleTest.json",
            "ComplexData--ComplexTest.json",
            "EmptyData--EmptyTest.json",
            "gludb-manifest.json"
        ]
    );

    // Byte-identical to what is stored: not re-serialised, `_last_update` untouched.
    let simple = lines_by_id(&members[1].1);
    assert_eq!(simple, stored_rows::<SimpleData>(&db.dbs).await);
    assert_eq!(simple.keys().cloned().collect::<Vec<_>>(), {
        let mut sorted = ids.clone();
        sorted.sort();
        sorted
    });
    assert_eq!(
        lines_by_id(&members[0].1),
        stored_rows::<InheritedData>(&db.dbs).await
    );
    assert_eq!(
        lines_by_id(&members[2].1),
        stored_rows::<ComplexData>(&db.dbs).await
    );
    assert!(members[3].1.is_empty());

    let manifest: Manifest = serde_json::from_slice(&members[4].1).unwrap();
    assert_eq!(manifest.format, "gludb-backup");
    assert_eq!(manifest.members.len(), 4);
    assert_manifest_matches(&manifest, &members[..4]);
    assert_eq!(manifest.members[1].indexes, ["reversed_name"]);

    // The original's log lines.
    let log = report.log.join("\n");
    for expected in [
        "Starting backup at UTC:",
        "Adding class SimpleData--SimpleTest",
        "SimpleData--SimpleTest => 251 records backed up",
        "EmptyData--EmptyTest => 0 records backed up",
        &format!("Sent {} bytes", gz.len()),
        "Backup completed",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in\n{log}");
    }

    // A history record, without the secret anywhere.
    let history = history(&db.dbs).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, BackupStatus::Completed);
    assert_eq!(history[0].key, report.key);
    assert_eq!(history[0].bucketname, BUCKET);
    assert_eq!(Some(history[0].id.clone()), report.history_id);
    assert_eq!(history[0].classes[1].records, 251);
    let raw = stored_rows::<BackupHistory>(&db.dbs).await;
    assert!(!raw.values().any(|v| v.contains(SECRET_KEY)));
    assert!(!format!("{report:?} {backup:?}").contains(SECRET_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_backup_goes_multipart_and_completes() {
    let server = s3_server();
    let db = sqlite_file().await;
    save_incompressible_blobs(&db.dbs).await;
    let mut backup = s3_backup(&server, SECRET_KEY).with_part_size(5 * 1024 * 1024);
    backup.add_class::<BlobData>();
    let report = backup.run_backup(&db.dbs).await.expect("backup");
    assert!(
        report.archive_bytes > 5 * 1024 * 1024,
        "{}",
        report.archive_bytes
    );
    assert!(server.orphaned_parts().is_empty());
    // S3 gives a multipart object an ETag ending in `-<parts>`.
    install_crypto_provider();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .build()
        .unwrap();
    let head = object_store::ObjectStoreExt::head(&store, &report.key.as_str().into())
        .await
        .unwrap();
    assert!(
        head.e_tag
            .unwrap_or_default()
            .trim_matches('"')
            .ends_with("-2"),
        "uploaded in two parts"
    );

    let gz = std::fs::read(server.object_path(&report.key)).unwrap();
    assert_eq!(gz.len() as u64, report.archive_bytes);
    let members = read_archive(&gz);
    assert_eq!(
        lines_by_id(&members[0].1),
        stored_rows::<BlobData>(&db.dbs).await
    );
    assert_eq!(report.classes[0].sha256, sha256_hex(&members[0].1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_a_typed_error_and_leaves_nothing() {
    let server = s3_server();
    let db = sqlite_file().await;
    save_samples(&db.dbs).await;
    let mut backup = s3_backup(&server, "not-the-secret");
    backup.add_class::<InheritedData>();
    let err = backup.run_backup(&db.dbs).await.unwrap_err();
    assert!(matches!(err, BackupError::AccessDenied { .. }), "{err}");
    assert!(!err.to_string().contains("not-the-secret"));
    assert!(server.objects().is_empty());
    assert!(server.orphaned_parts().is_empty());

    let history = history(&db.dbs).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, BackupStatus::Failed);
    assert!(
        history[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("denied")
    );
    assert!(
        !stored_rows::<BackupHistory>(&db.dbs)
            .await
            .values()
            .any(|v| v.contains("not-the-secret"))
    );
}

/// Runs `sql` on the SQLite file directly, to store rows gludb itself
/// never writes.
fn execute_behind_gludb(db: &Db, sql: &str) {
    let raw = rusqlite::Connection::open(&db.path).unwrap();
    raw.execute(sql, []).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_error_mid_backup_aborts_the_upload() {
    let server = s3_server();
    let db = sqlite_file().await;
    save_incompressible_blobs(&db.dbs).await;
    SimpleData::ensure_table(&db.dbs).await.unwrap();
    // A row the database cannot hand out as text, after parts are uploaded.
    execute_behind_gludb(
        &db,
        "INSERT INTO SimpleTest (id, value) VALUES ('broken', NULL)",
    );

    let mut backup = s3_backup(&server, SECRET_KEY).with_part_size(5 * 1024 * 1024);
    backup.add_class::<BlobData>();
    backup.add_class::<SimpleData>();
    let err = backup.run_backup(&db.dbs).await.unwrap_err();
    assert!(matches!(err, BackupError::Database(_)), "{err}");
    assert!(server.objects().is_empty(), "{:?}", server.objects());
    assert!(
        server.orphaned_parts().is_empty(),
        "{:?}",
        server.orphaned_parts()
    );

    let history = history(&db.dbs).await;
    assert_eq!(history[0].status, BackupStatus::Failed);
    assert!(
        history[0]
            .backup_log
            .iter()
            .any(|l| l.starts_with("Backup failed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_spanning_lines_is_refused_not_split() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file().await;
    SimpleData::ensure_table(&db.dbs).await.unwrap();
    execute_behind_gludb(
        &db,
        "INSERT INTO SimpleTest (id, value) VALUES ('pretty', '{\n\"id\": \"pretty\"}')",
    );
    let mut backup = Backup::from_url(&file_url(dir.path())).unwrap();
    backup.add_class::<SimpleData>();
    let err = backup.run_backup(&db.dbs).await.unwrap_err();
    assert!(
        matches!(&err, BackupError::Database(gludb::Error::MultiLineRecord { id, .. }) if id == "pretty"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_selected_is_an_error_before_any_work() {
    let db = sqlite_file().await;
    let err = Backup::new("k", "s", "b")
        .run_backup(&db.dbs)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::NothingSelected));
}

/// Runs `command` and returns its standard output, asserting it succeeded
/// (with its standard error as the message): the outside readers' check.
fn stdout_of(command: &mut std::process::Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backups_read_in_python_and_gnu_tar() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file().await;
    save_samples(&db.dbs).await;
    let url = file_url(&dir.path().join("nested/backups"));
    let mut backup = Backup::from_url(&url).unwrap();
    backup.add_class::<InheritedData>();
    let first = backup.run_backup(&db.dbs).await.unwrap();
    let second = backup.run_backup(&db.dbs).await.unwrap();
    assert_ne!(first.key, second.key, "each run is a new backup");
    let path = dir.path().join("nested/backups").join(&first.key);
    assert!(path.is_file());

    assert_eq!(
        stdout_of(std::process::Command::new("tar").arg("tzf").arg(&path)),
        "InheritedData--InheritedTest.json\nSimpleData--SimpleTest.json\nComplexData--ComplexTest.json\ngludb-manifest.json\n"
    );

    let script = r#"
import json, sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as tar:
    for member in tar.getmembers():
        data = tar.extractfile(member).read()
        if member.name.endswith("--SimpleTest.json"):
            rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
            print(member.name, len(rows), sorted(rows[0].keys()))
        else:
            print(member.name, len(data))
"#;
    let out = stdout_of(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&path),
    );
    assert!(
        out.contains("SimpleData--SimpleTest.json 251 ['_create_date', '_last_update', 'age', 'descrip', 'id', 'name']"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_reach_the_known_totals() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file().await;
    save_samples(&db.dbs).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let mut backup = Backup::from_url(&file_url(dir.path()))
        .unwrap()
        .with_progress(move |p| sink.lock().unwrap().push(p.clone()));
    backup.add_class::<InheritedData>();
    let report = backup.run_backup(&db.dbs).await.unwrap();

    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    let last = seen.last().unwrap();
    assert_eq!(last.records, report.total_records());
    assert_eq!(last.total_records, report.total_records());
    assert_eq!(
        last.bytes,
        report.classes.iter().map(|c| c.bytes).sum::<u64>()
    );
    assert_eq!(last.fraction(), 1.0);
    assert!(
        seen.windows(2)
            .all(|w| w[0].bytes <= w[1].bytes && w[0].records <= w[1].records)
    );
    assert!(seen.iter().any(|p| p.class == "SimpleData--SimpleTest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_if_due_skips_a_backup_that_ran_recently() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file().await;
    save_samples(&db.dbs).await;
    let url = file_url(dir.path());
    let hour = std::time::Duration::from_secs(3600);
    let mut daily = Backup::from_url(&url).unwrap().with_name("daily");
    daily.add_class::<SimpleData>();

    assert!(
        daily.run_if_due(&db.dbs, hour).await.unwrap().is_some(),
        "never ran: due"
    );
    assert!(
        daily.run_if_due(&db.dbs, hour).await.unwrap().is_none(),
        "ran a moment ago"
    );
    let zero = std::time::Duration::ZERO;
    assert!(daily.run_if_due(&db.dbs, zero).await.unwrap().is_some());

    // Another name has its own schedule; failed runs do not count.
    let mut other = Backup::from_url(&url).unwrap().with_name("hourly");
    other.add_class::<SimpleData>();
    assert!(other.run_if_due(&db.dbs, hour).await.unwrap().is_some());
    let listed = gludb::backup::Restore::from_url(&url)
        .unwrap()
        .list()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    let weekly = daily.clone().with_name("weekly");
    assert!(weekly.last_completed(&db.dbs).await.unwrap().is_none());
    assert!(daily.last_completed(&db.dbs).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_what_the_policy_says() {
    use gludb::backup::Retention;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file().await;
    save_samples(&db.dbs).await;
    let url = file_url(dir.path());
    let mut backup = Backup::from_url(&url).unwrap();
    backup.add_class::<ComplexData>();
    let mut keys = Vec::new();
    for _ in 0..5 {
        keys.push(backup.run_backup(&db.dbs).await.unwrap().key);
    }
    std::fs::write(dir.path().join("notes.txt"), "not a backup").unwrap();
    let restore = backup.clone();

    let dry = restore
        .prune_dry_run(&Retention::new().keep_last(2))
        .await
        .unwrap();
    assert_eq!(dry.kept, [keys[4].clone(), keys[3].clone()]);
    assert_eq!(dry.deleted.len(), 3);
    assert_eq!(
        restore.list().await.unwrap().len(),
        5,
        "a dry run deletes nothing"
    );

    let err = restore.prune(&Retention::new()).await.unwrap_err();
    assert!(err.to_string().contains("keeps nothing"), "{err}");

    let done = restore.prune(&Retention::new().keep_last(2)).await.unwrap();
    assert_eq!(done.deleted, dry.deleted);
    let left: Vec<_> = restore
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.key)
        .collect();
    assert_eq!(left, [keys[4].clone(), keys[3].clone()]);
    assert!(
        dir.path().join("notes.txt").exists(),
        "other objects are left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_caller_leaves_a_complete_backup_or_nothing() {
    let server = s3_server();
    let db = sqlite_file().await;
    save_incompressible_blobs(&db.dbs).await;
    let mut backup = s3_backup(&server, SECRET_KEY).with_part_size(5 * 1024 * 1024);
    backup.add_class::<BlobData>();
    // So that the history can be polled before the run writes to it.
    BackupHistory::ensure_table(&db.dbs).await.unwrap();

    // The caller gives up long before a 12 MB backup can finish.
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(20),
        backup.run_backup(&db.dbs),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the backup was expected to outlast the timeout"
    );

    // The run goes on by itself and ends cleanly: one complete object, no
    // parts left behind, and its history record.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while history(&db.dbs)
        .await
        .iter()
        .all(|run| run.status == BackupStatus::Running)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the backup never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let runs = history(&db.dbs).await;
    assert_eq!(runs[0].status, BackupStatus::Completed);
    assert_eq!(server.objects(), vec![runs[0].key.clone()]);
    assert!(server.orphaned_parts().is_empty());
    let members = read_archive(&std::fs::read(server.object_path(&runs[0].key)).unwrap());
    assert_eq!(lines_by_id(&members[0].1).len(), 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_whose_table_was_never_created_backs_up_empty_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file().await;
    let mut backup = Backup::from_url(&file_url(dir.path())).unwrap();
    backup.add_class::<EmptyData>();
    let report = backup.run_backup(&db.dbs).await.unwrap();
    assert_eq!(record_counts(&report), [("EmptyData--EmptyTest", 0)]);
    assert!(report.classes[0].table_missing);
    assert!(!report.is_clean());
    assert!(
        report.warnings[0].contains("EmptyTest"),
        "{:?}",
        report.warnings
    );
    let runs = history(&db.dbs).await;
    assert_eq!(runs[0].status, BackupStatus::CompletedWithWarnings);
    assert_eq!(runs[0].warnings, report.warnings);

    // Told to require every table, the same backup fails and leaves nothing.
    let strict = backup.clone().require_tables(true);
    let err = strict.run_backup(&db.dbs).await.unwrap_err();
    assert!(
        matches!(err, gludb::backup::BackupError::MissingTable { ref table, .. } if table == "EmptyTest"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert!(
        report
            .log
            .iter()
            .any(|l| l.contains("EmptyTest") && l.contains("does not exist")),
        "{:?}",
        report.log
    );
    let members = read_archive(&std::fs::read(dir.path().join(&report.key)).unwrap());
    assert_eq!(members[0].0, "EmptyData--EmptyTest.json");
    assert!(members[0].1.is_empty());
}
