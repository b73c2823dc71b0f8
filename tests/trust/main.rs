//! Backups you can trust: every path where a backup used to be lost,
//! skipped, overwritten or silently empty while reporting success, tried at
//! the public API against real SQLite files, a real S3 server and real
//! directories. Each test names the failure it closes.

#[path = "../backup/models.rs"]
mod models;
#[path = "../backup/support.rs"]
mod support;

use std::{
    collections::BTreeSet,
    sync::{Arc, Barrier},
    time::Duration,
};

use gludb::{
    Databases, Storable,
    backup::{
        Backup, BackupError, BackupStatus, BackupStore, Bases, OrphanKind, Restore, Retention,
        archive::Manifest,
    },
    sqlite::Sqlite,
};
use models::*;
use serde::{Deserialize, Serialize};
use support::*;

/// Stored as `CaseNote` by gludb; the application's own SQL made the
/// table `casenote`.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[gludb(table = "CaseNote")]
pub struct CaseNote {
    pub id: String,
    pub text: String,
}

/// Two types of one name in two modules, stored in one table: one member
/// name, `Twin--TwinTable`.
mod first {
    use super::*;
    #[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
    #[gludb(table = "TwinTable")]
    pub struct Twin {
        pub id: String,
    }
}
mod second {
    use super::*;
    #[derive(Storable, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
    #[gludb(table = "TwinTable")]
    pub struct Twin {
        pub id: String,
    }
}

async fn seeded() -> Db {
    let db = sqlite_file().await;
    ensure_related_tables(&db.dbs).await;
    save_simple_records(&db.dbs, 5, |i| format!("record {i}")).await;
    let mut complex = ComplexData {
        name: "c".into(),
        complex_data: vec![("x".into(), 1)],
        ..Default::default()
    };
    complex.save(&db.dbs).await.unwrap();
    db
}

fn local(url: &str) -> Backup {
    Backup::from_url(url).unwrap()
}

fn keys(listing: &[gludb::backup::BackupListing]) -> BTreeSet<String> {
    listing.iter().map(|b| b.key.clone()).collect()
}

/// 1. Listing and pruning at a bucket root used to reach into another
///    application's `appB/` prefix, and two backups with different
///    selections under one prefix pruned each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_pruning_see_exactly_one_backup_set() {
    let db = seeded().await;
    let server = s3_server();
    // App A at the bucket root (the original's form), app B under `appB/`.
    let mut app_a = s3_backup(&server, SECRET_KEY);
    app_a.add_class::<SimpleData>();
    let mut app_b = s3_backup(&server, SECRET_KEY).with_destination(|d| d.with_prefix("appB"));
    app_b.add_class::<SimpleData>();
    for _ in 0..3 {
        app_a.run_backup(&db.dbs).await.unwrap();
    }
    let b1 = app_b.run_backup(&db.dbs).await.unwrap().key;
    let b2 = app_b.run_backup(&db.dbs).await.unwrap().key;
    assert!(b1.starts_with("appB/") && b2.starts_with("appB/"));

    let root = s3_restore(&server, SECRET_KEY);
    assert_eq!(root.list().await.unwrap().len(), 3, "appB/ is not listed");
    let pruned = app_a.prune(&Retention::new().keep_last(1)).await.unwrap();
    assert_eq!(pruned.deleted.len(), 2);
    let objects = server.objects();
    assert!(
        objects.contains(&b1) && objects.contains(&b2),
        "{objects:?}"
    );
    assert_eq!(app_b.list().await.unwrap().len(), 2);

    // Two backups with different selections under one prefix: two sets.
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let mut everything = local(&url).with_name("everything");
    everything.add_class::<SimpleData>();
    everything.add_class::<ComplexData>();
    let mut orders = local(&url).with_name("orders");
    orders.add_class::<ComplexData>();
    let mut all_keys = Vec::new();
    for _ in 0..2 {
        all_keys.push(everything.run_backup(&db.dbs).await.unwrap().key);
        all_keys.push(orders.run_backup(&db.dbs).await.unwrap().key);
    }
    // Same day for all four: keep_daily(1) keeps one *per set*.
    let report = orders.prune(&Retention::new().keep_daily(1)).await.unwrap();
    assert_eq!(report.set, "orders");
    assert_eq!(report.deleted, [all_keys[1].clone()]);
    let everything_left = everything.list().await.unwrap();
    assert_eq!(
        everything_left.len(),
        2,
        "another set's retention deleted nothing"
    );
    assert!(everything_left.iter().all(|b| b.set == "everything"));
    let listed = Restore::from_url(&url).unwrap().list().await.unwrap();
    assert_eq!(
        keys(&listed),
        [&all_keys[0], &all_keys[2], &all_keys[3]]
            .into_iter()
            .cloned()
            .collect()
    );
    // An operator prunes a named set without the backup's configuration.
    let store = BackupStore::from_url(&url).unwrap();
    let dry = store
        .prune_set_dry_run("everything", &Retention::new().keep_last(1))
        .await
        .unwrap();
    assert_eq!(dry.deleted, [all_keys[0].clone()]);
}

/// 2. Every unnamed backup was one schedule, a long backup restarted at
///    once, and a manual run overlapped the scheduled one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_per_set_and_runs_of_a_set_never_overlap() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let hour = Duration::from_secs(3600);

    // Two configurations under one (default) name are two sets: each keeps
    // its own schedule, and neither prunes the other.
    let mut simple = local(&url);
    simple.add_class::<SimpleData>();
    let mut complex = local(&url);
    complex.add_class::<ComplexData>();
    assert!(simple.run_if_due(&db.dbs, hour).await.unwrap().is_some());
    assert!(complex.run_if_due(&db.dbs, hour).await.unwrap().is_some());
    assert!(complex.run_if_due(&db.dbs, hour).await.unwrap().is_none());
    assert!(simple.run_if_due(&db.dbs, hour).await.unwrap().is_none());
    let policy = Retention::new().keep_last(1);
    assert!(complex.prune(&policy).await.unwrap().deleted.is_empty());
    assert_eq!(simple.list().await.unwrap().len(), 1);
    assert_eq!(complex.list().await.unwrap().len(), 1);

    // A run in progress: a second start is refused, a scheduled tick skips.
    let gate = Arc::new(Barrier::new(2));
    let release = Arc::clone(&gate);
    let mut slow = local(&url).with_name("slow").with_progress(move |_| {
        release.wait();
        std::thread::sleep(Duration::from_millis(1500));
    });
    slow.add_class::<SimpleData>();
    let running = slow.start(&db.dbs).unwrap();
    tokio::task::spawn_blocking({
        let gate = Arc::clone(&gate);
        move || gate.wait()
    })
    .await
    .unwrap();
    let err = slow.start(&db.dbs).unwrap_err();
    assert!(matches!(err, BackupError::AlreadyRunning { .. }), "{err}");
    assert!(
        slow.run_if_due(&db.dbs, Duration::ZERO)
            .await
            .unwrap()
            .is_none()
    );
    running.wait().await.unwrap();

    // The interval counts from the end of the last run: the run above took
    // longer than a second, yet is not due again a second after it started.
    assert!(
        slow.run_if_due(&db.dbs, Duration::from_secs(1))
            .await
            .unwrap()
            .is_none(),
        "a run longer than the interval must not restart at once"
    );
    assert_eq!(slow.list().await.unwrap().len(), 1);
}

/// 3. A table created as `casenote` was backed up as "does not exist", and
///    a moved or deleted database file was backed up as a new empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_never_silently_empty() {
    let db = sqlite_file().await;
    let raw = rusqlite::Connection::open(&db.path).unwrap();
    raw.execute_batch(
        "CREATE TABLE casenote (id text primary key, value text);
         INSERT INTO casenote VALUES ('a', '{\"id\":\"a\",\"text\":\"lower-case table\"}');",
    )
    .unwrap();
    assert_eq!(
        CaseNote::find_one(&db.dbs, "a")
            .await
            .unwrap()
            .unwrap()
            .text,
        "lower-case table",
        "the application reads the table"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut backup = local(&file_url(dir.path()));
    backup.add_class::<CaseNote>();
    let report = backup.run_backup(&db.dbs).await.unwrap();
    assert_eq!(record_counts(&report), [("CaseNote--CaseNote", 1)]);
    assert!(report.is_clean(), "{:?}", report.warnings);

    // The file moved away under a running application.
    let moved = db.path.with_extension("moved");
    std::fs::rename(&db.path, &moved).unwrap();
    let err = backup.run_backup(&db.dbs).await.unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::Database(gludb::Error::DatabaseFile { .. })
        ),
        "{err}"
    );
    assert!(
        !db.path.exists(),
        "no empty database was created in its place"
    );
    // Replaced by another file at the same path.
    Sqlite::open(&db.path).await.unwrap();
    let err = backup.run_backup(&db.dbs).await.unwrap_err();
    assert!(err.to_string().contains("no longer the file"), "{err}");
    assert_eq!(
        Restore::from_url(&file_url(dir.path()))
            .unwrap()
            .list()
            .await
            .unwrap()
            .len(),
        1
    );
}

/// 4. `memory://` backups could never be listed or restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backups_can_be_listed_and_restored() {
    let db = seeded().await;
    let mut backup = Backup::from_url("memory://trust-tests/nightly").unwrap();
    backup.add_class::<SimpleData>();
    let report = backup.run_backup(&db.dbs).await.unwrap();
    let restore = Restore::from_url("memory://trust-tests/nightly").unwrap();
    assert_eq!(restore.list().await.unwrap()[0].key, report.key);
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    let restored = restore.restore(&report.key, &target).await.unwrap();
    assert_eq!(restored.classes[0].written, 5);
}

/// 6. A selected class the archive does not hold restored "nothing", Ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_refuses_classes_the_archive_does_not_hold() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let mut backup = local(&url);
    backup.add_class_with::<SimpleData>(Bases::Exclude);
    let key = backup.run_backup(&db.dbs).await.unwrap().key;

    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    let mut restore = Restore::from_url(&url).unwrap();
    restore.add_class_with::<SimpleData>(Bases::Exclude);
    restore.add_class_with::<ComplexData>(Bases::Exclude);
    let err = restore.restore(&key, &target).await.unwrap_err();
    assert!(
        matches!(err, BackupError::ClassesNotInBackup { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("ComplexData--ComplexTest") && text.contains("SimpleData--SimpleTest"),
        "names what is missing and what is there: {text}"
    );
    assert_eq!(
        rows_of(target.default_database().unwrap().as_ref(), "SimpleTest").await,
        None
    );
    let verdict = restore.verify(&key).await.unwrap();
    assert!(!verdict.is_ok());

    // The manifest says the type was backed up from another table.
    let mut manifest = Manifest::new("2026-11-27T00:00:00Z".into(), Vec::new());
    let line = b"{\"id\":\"x1\",\"name\":\"n\",\"descrip\":\"d\",\"age\":1}\n";
    manifest.members.push(simple_member(
        "SimpleData--SimpleTestOld.json",
        "SimpleTestOld",
        line,
    ));
    let json = serde_json::to_vec(&manifest).unwrap();
    let renamed = "Backup_2026-11-27T00_00_00.000000Z.tar.gz";
    write_archive(
        dir.path(),
        renamed,
        &[
            ("SimpleData--SimpleTestOld.json", line),
            ("gludb-manifest.json", &json),
        ],
    );
    let mut restore = Restore::from_url(&url).unwrap();
    restore.add_class_with::<SimpleData>(Bases::Exclude);
    let err = restore.restore(renamed, &target).await.unwrap_err();
    assert!(err.to_string().contains("SimpleTestOld"), "{err}");
    assert!(err.to_string().contains("renamed"), "{err}");
}

/// 7. Two selected types with one member name wrote two members of that
///    name, and the manifest check passed the second unchecked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_member_names_are_refused() {
    let db = sqlite_file().await;
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let mut backup = local(&url);
    backup.add_class::<first::Twin>();
    backup.add_class::<second::Twin>();
    let err = backup.run_backup(&db.dbs).await.unwrap_err();
    assert!(matches!(err, BackupError::DuplicateMember { .. }), "{err}");
    assert!(err.to_string().contains("Twin--TwinTable.json"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // An archive holding one member twice, listed once.
    let line = b"{\"id\":\"a\",\"name\":\"n\",\"descrip\":\"d\",\"age\":1}\n";
    let other = b"{\"id\":\"b\",\"name\":\"evil\",\"descrip\":\"d\",\"age\":2}\n";
    let mut manifest = Manifest::new("2026-11-27T00:00:00Z".into(), Vec::new());
    manifest.members.push(simple_member(
        "SimpleData--SimpleTest.json",
        "SimpleTest",
        line,
    ));
    let json = serde_json::to_vec(&manifest).unwrap();
    let key = "Backup_2026-11-27T00_00_00.000001Z.tar.gz";
    write_archive(
        dir.path(),
        key,
        &[
            ("SimpleData--SimpleTest.json", line),
            ("SimpleData--SimpleTest.json", other),
            ("gludb-manifest.json", &json),
        ],
    );
    let restore = Restore::from_url(&url).unwrap();
    let verdict = restore.verify(key).await.unwrap();
    assert!(!verdict.is_ok(), "{verdict:?}");
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    restore.restore(key, &target).await.unwrap_err();
    assert_eq!(
        rows_of(target.default_database().unwrap().as_ref(), "SimpleTest").await,
        None
    );
}

/// 9. A panicking progress callback left an open multipart upload and no
///    history; a service shutting down had no way to stop a run cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_or_a_cancel_aborts_the_upload_and_is_recorded() {
    let server = s3_server();
    let db = sqlite_file().await;
    save_incompressible_blobs(&db.dbs).await;
    let mut backup = s3_backup(&server, SECRET_KEY)
        .with_part_size(5 * 1024 * 1024)
        .with_progress(|p| {
            if p.bytes > 6 * 1024 * 1024 {
                panic!("progress bar exploded");
            }
        });
    backup.add_class::<BlobData>();
    let err = backup.run_backup(&db.dbs).await.unwrap_err();
    assert!(
        matches!(err, BackupError::Panicked { ref message } if message.contains("exploded")),
        "{err}"
    );
    assert!(server.objects().is_empty(), "{:?}", server.objects());
    assert!(
        server.orphaned_parts().is_empty(),
        "{:?}",
        server.orphaned_parts()
    );
    let runs = history(&db.dbs).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, BackupStatus::Failed);
    assert!(runs[0].error.as_deref().unwrap().contains("panicked"));

    // A cancel: the run stops at once, aborts, and says so.
    let gate = Arc::new(Barrier::new(2));
    let release = Arc::clone(&gate);
    let once = std::sync::Once::new();
    let mut backup = s3_backup(&server, SECRET_KEY)
        .with_name("cancelled")
        .with_part_size(5 * 1024 * 1024)
        .with_progress(move |p| {
            if p.bytes > 6 * 1024 * 1024 {
                once.call_once(|| {
                    release.wait();
                });
            }
        });
    backup.add_class::<BlobData>();
    let running = backup.start(&db.dbs).unwrap();
    let key = running.key().to_owned();
    tokio::task::spawn_blocking(move || gate.wait())
        .await
        .unwrap();
    running.cancel();
    let err = running.wait().await.unwrap_err();
    assert!(matches!(err, BackupError::Cancelled), "{err}");
    assert!(!server.objects().contains(&key));
    assert!(
        server.orphaned_parts().is_empty(),
        "{:?}",
        server.orphaned_parts()
    );
    let runs = history(&db.dbs).await;
    let cancelled = runs.iter().find(|r| r.key == key).unwrap();
    assert_eq!(cancelled.status, BackupStatus::Failed);
    assert!(cancelled.error.as_deref().unwrap().contains("cancelled"));
}

/// 9. What a killed run leaves is found and cleaned up by the orphan
///    tools, and only that: other applications' uploads stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_tools_find_and_clean_only_backup_leftovers() {
    use object_store::{ObjectStoreExt, aws::AmazonS3Builder, path::Path as StorePath};
    let server = s3_server();
    install_crypto_provider();
    let store = AmazonS3Builder::new()
        .with_bucket_name(server.bucket())
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .build()
        .unwrap();
    // What a killed backup leaves: an upload with a part, never completed.
    let killed = StorePath::from("Backup_UTC_2026-11-27T02_00_00.000000_0a1b2c-0123abcd.tar.gz");
    let mut upload = store.put_multipart(&killed).await.unwrap();
    upload
        .put_part(vec![0u8; 5 * 1024 * 1024].into())
        .await
        .unwrap();
    std::mem::forget(upload);
    // Another application's upload, and one in a sub-folder.
    let foreign = StorePath::from("videos/cat.mp4");
    std::mem::forget(store.put_multipart(&foreign).await.unwrap());
    std::mem::forget(
        store
            .put_multipart(&StorePath::from(
                "appB/Backup_UTC_2026-11-27T02_00_00.000000_0a1b2c-0123abcd.tar.gz",
            ))
            .await
            .unwrap(),
    );

    let restore = s3_restore(&server, SECRET_KEY).store().unwrap();
    let orphans = restore.find_orphans().await.unwrap();
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert_eq!(orphans[0].key, killed.to_string());
    assert!(matches!(
        orphans[0].kind,
        OrphanKind::MultipartUpload { .. }
    ));
    let kept = restore
        .clean_orphans(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!((kept.cleaned.len(), kept.kept.len()), (0, 1), "too recent");
    let cleaned = restore.clean_orphans(Duration::ZERO).await.unwrap();
    assert_eq!(cleaned.cleaned.len(), 1);
    assert!(restore.find_orphans().await.unwrap().is_empty());
    let left = server.orphaned_parts();
    assert!(!left.iter().any(|f| f.contains(".part-")), "{left:?}");

    // file://: the staging file a killed local backup leaves.
    let dir = tempfile::tempdir().unwrap();
    let staging = dir
        .path()
        .join("Backup_UTC_2026-11-27T02_00_00.000000_0a1b2c-0123abcd_nightly.tar.gz#1");
    std::fs::write(&staging, b"half an archive").unwrap();
    std::fs::write(dir.path().join("notes.txt#1"), b"not ours").unwrap();
    let restore = BackupStore::from_url(&file_url(dir.path())).unwrap();
    let orphans = restore.find_orphans().await.unwrap();
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert_eq!(orphans[0].set, "nightly");
    restore.clean_orphans(Duration::ZERO).await.unwrap();
    assert!(!staging.exists());
    assert!(dir.path().join("notes.txt#1").exists());
}

/// 13. Numbers a caller passes never panic: they are typed errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_supplied_numbers_never_panic() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let mut base = local(&url);
    base.add_class::<SimpleData>();
    for backup in [
        base.clone().with_part_size(usize::MAX),
        base.clone().with_part_size(0),
        base.clone().with_upload_concurrency(0),
        base.clone().with_upload_concurrency(usize::MAX),
        base.clone().with_compression_level(0),
        base.clone().with_compression_level(u32::MAX),
        base.clone().with_name(""),
    ] {
        let err = backup.run_backup(&db.dbs).await.unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::InvalidOption { .. } | BackupError::InvalidSetName { .. }
            ),
            "{err}"
        );
    }
    let key = base.run_backup(&db.dbs).await.unwrap().key;
    let extremes = gludb::backup::archive::Limits {
        max_line_bytes: usize::MAX,
        max_manifest_bytes: usize::MAX,
        max_name_bytes: usize::MAX,
        max_members: usize::MAX,
    };
    let restore = Restore::from_url(&url).unwrap().with_limits(extremes);
    assert!(restore.verify(&key).await.unwrap().is_ok());
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    restore.restore(&key, &target).await.unwrap();
    let zero = gludb::backup::archive::Limits {
        max_line_bytes: 0,
        max_manifest_bytes: 0,
        max_name_bytes: 0,
        max_members: 0,
    };
    let restore = Restore::from_url(&url).unwrap().with_limits(zero);
    assert!(!restore.verify(&key).await.unwrap().is_ok());
    restore.restore(&key, &target).await.unwrap_err();
    let policy = Retention::new()
        .keep_last(usize::MAX)
        .keep_daily(usize::MAX);
    assert!(base.prune(&policy).await.unwrap().deleted.is_empty());
}

/// 15. A record that would not restore made the whole archive
///     unrestorable, and nothing said so until the restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_would_not_restore_are_named_and_can_be_set_aside() {
    let db = seeded().await;
    let raw = rusqlite::Connection::open(&db.path).unwrap();
    raw.execute(
        "INSERT INTO SimpleTest (id, value) VALUES ('bad', '{\"id\":\"bad\",\"age\":\"not a number\"}')",
        [],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let mut backup = local(&url).check_records(true);
    backup.add_class_with::<SimpleData>(Bases::Exclude);
    let report = backup.run_backup(&db.dbs).await.unwrap();
    assert_eq!(
        report.classes[0].records, 6,
        "the record is still backed up"
    );
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("would not restore"));
    let runs = history(&db.dbs).await;
    assert!(
        runs.iter()
            .any(|r| r.status == BackupStatus::CompletedWithWarnings)
    );

    let restore = Restore::from_url(&url).unwrap();
    let verdict = restore.verify(&report.key).await.unwrap();
    assert!(
        verdict.classes[0].problems[0].contains("\"bad\""),
        "{verdict:?}"
    );
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    let err = restore.restore(&report.key, &target).await.unwrap_err();
    assert!(matches!(err, BackupError::BadRecord(_)), "{err}");
    assert_eq!(
        rows_of(target.default_database().unwrap().as_ref(), "SimpleTest").await,
        None
    );

    // Not in the backup directory: that is refused.
    let refused = restore
        .clone()
        .with_quarantine(dir.path().join("quarantine.jsonl"))
        .restore(&report.key, &target)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, BackupError::InvalidOption { .. }),
        "{refused}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let quarantine = elsewhere.path().join("quarantine.jsonl");
    let restored = restore
        .with_quarantine(&quarantine)
        .restore(&report.key, &target)
        .await
        .unwrap();
    assert_eq!(restored.classes[0].written, 5);
    assert_eq!(restored.quarantined(), 1);
    assert_eq!(
        restored.quarantine_file.as_deref(),
        Some(quarantine.as_path())
    );
    let set_aside: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&quarantine).unwrap().trim()).unwrap();
    assert_eq!(set_aside["id"], "bad");
    assert_eq!(
        set_aside["record"],
        "{\"id\":\"bad\",\"age\":\"not a number\"}"
    );
}

/// The history shows a run while it runs, and when it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_records_a_run_from_start_to_end() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Barrier::new(2));
    let release = Arc::clone(&gate);
    // The run stops in its progress callback until the history was read.
    let once = std::sync::Once::new();
    let mut backup = local(&file_url(dir.path())).with_progress(move |_| {
        once.call_once(|| {
            release.wait();
            release.wait();
        });
    });
    backup.add_class::<SimpleData>();
    let running = backup.start(&db.dbs).unwrap();
    let dbs = db.dbs.clone();
    let seen_running = tokio::task::spawn_blocking({
        let gate = Arc::clone(&gate);
        move || {
            gate.wait();
            let runs = tokio::runtime::Handle::current().block_on(history(&dbs));
            gate.wait();
            runs
        }
    })
    .await
    .unwrap();
    assert_eq!(seen_running.len(), 1);
    assert_eq!(seen_running[0].status, BackupStatus::Running);
    assert!(seen_running[0].finished.is_none());
    running.wait().await.unwrap();
    let runs = history(&db.dbs).await;
    assert_eq!(runs.len(), 1, "the same record, updated");
    assert_eq!(runs[0].status, BackupStatus::Completed);
    assert!(runs[0].finished.is_some());
    assert_eq!(runs[0].selection, [SimpleData::type_info().full_name()]);
    assert!(backup.last_completed(&db.dbs).await.unwrap().is_some());
}

// ---------------------------------------------------------------------------
// Other processes: this test binary run again as a child with one job.
// ---------------------------------------------------------------------------

/// Environment variable that makes [`child_process`] do a job.
const CHILD_JOB: &str = "GLUDB_TRUST_CHILD_JOB";

/// This binary again, running only [`child_process`] with `job`.
fn child(job: &str) -> std::process::Command {
    this_binary_again(CHILD_JOB, job)
}

/// Not a test of its own: the entry point of the child processes the
/// tests start (it does nothing unless `GLUDB_TRUST_CHILD_JOB` is set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Ok(job) = std::env::var(CHILD_JOB) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    match job.as_str() {
        // One backup of the set `Backup` from the database at
        // GLUDB_DB to GLUDB_URL, started at the Unix time (ms) GLUDB_AT.
        "backup-at" => {
            let dbs = Databases::new(Sqlite::open(var("GLUDB_DB")).await.unwrap());
            let mut backup = Backup::from_url(&var("GLUDB_URL")).unwrap();
            backup.add_class_with::<SimpleData>(Bases::Exclude);
            let at: u128 = var("GLUDB_AT").parse().unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            if at > now {
                std::thread::sleep(Duration::from_millis((at - now) as u64));
            }
            let report = backup.run_backup(&dbs).await.unwrap();
            println!("\nKEY {}", report.key);
        }
        other => panic!("unknown child job {other:?}"),
    }
}

/// 5. Two backups could share a key (the microsecond time) and the second
///    overwrote the first. Eight processes back up the same set to one
///    directory in the same instant: eight objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_started_at_once_by_several_processes_never_share_a_key() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let children: Vec<_> = (0..8)
        .map(|_| {
            child("backup-at")
                .env("GLUDB_DB", &db.path)
                .env("GLUDB_URL", &url)
                .env("GLUDB_AT", at.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut reported = BTreeSet::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let key = stdout
            .lines()
            .find_map(|l| Some(l.split_once("KEY ")?.1))
            .unwrap()
            .to_owned();
        reported.insert(key);
    }
    assert_eq!(reported.len(), 8, "{reported:?}");
    let listed = Restore::from_url(&url).unwrap().list().await.unwrap();
    assert_eq!(keys(&listed), reported);
    for listing in &listed {
        let restore = Restore::from_url(&url).unwrap();
        assert!(restore.verify(&listing.key).await.unwrap().is_ok());
    }
}

/// A service passes the object store it already configured: backups run
/// and restore against it, once connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_backs_up_into_its_own_object_store() {
    let db = seeded().await;
    let own: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let store = BackupStore::from_object_store(Arc::clone(&own), "svc/backups");
    let report = Backup::on(&store)
        .with_class::<SimpleData>()
        .run_backup(&db.dbs)
        .await
        .unwrap();
    assert!(
        report.key.starts_with("svc/backups/Backup_UTC_"),
        "{}",
        report.key
    );
    assert_eq!(store.list().await.unwrap()[0].key, report.key);
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    let restored = Restore::on(&store)
        .restore(&report.key, &target)
        .await
        .unwrap();
    assert_eq!(restored.classes[0].written, 5);
    // Its uploads cannot be listed: saying "no orphans" would be a guess.
    let err = store.find_orphans().await.unwrap_err();
    assert!(matches!(err, BackupError::Unsupported { .. }), "{err}");
}
