//! Getting data back: list, verify and restore, from `file://` and from a
//! real S3 server; hostile and damaged archives never change the target.

#[path = "../backup/models.rs"]
mod models;
#[path = "../backup/support.rs"]
mod support;

use std::{collections::BTreeMap, path::Path};

use futures_util::TryStreamExt;
use gludb::{
    Databases, Error, Storable,
    backup::{
        Backup, BackupError, Bases, Restore, RestoreMode,
        archive::{ArchiveError, Limits},
    },
    sqlite::Sqlite,
};
use models::*;
use support::*;

async fn seed(dbs: &Databases) {
    ensure_related_tables(dbs).await;
    save_simple_records(dbs, 1500, |i| {
        if i % 7 == 0 {
            "ünïcödé\nwith \"escapes\"".into()
        } else {
            "plain".into()
        }
    })
    .await;
    ComplexData {
        name: "c".into(),
        complex_data: vec![("x".into(), 1)],
        ..Default::default()
    }
    .save(dbs)
    .await
    .unwrap();
    InheritedData {
        only_inherited: 5,
        ..Default::default()
    }
    .save(dbs)
    .await
    .unwrap();
}

/// Every (id, stored value) of every table of the test classes.
async fn snapshot_of(dbs: &Databases) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut tables = BTreeMap::new();
    for info in [
        SimpleData::type_info(),
        ComplexData::type_info(),
        InheritedData::type_info(),
    ] {
        let db = dbs.database_for(info).unwrap();
        let table = dbs.table_name(info).unwrap().to_string();
        let rows = rows_of(db.as_ref(), &table).await.unwrap_or_default();
        tables.insert(table, rows);
    }
    tables
}

/// A restore from the local backup directory `dir`, as most tests read back.
fn local_restore(dir: &Path) -> Restore {
    Restore::from_url(&file_url(dir)).unwrap()
}

async fn backup_to(dir: &Path, dbs: &Databases) -> String {
    let mut backup = Backup::from_url(&file_url(dir)).unwrap();
    backup.add_class::<InheritedData>();
    backup.run_backup(dbs).await.unwrap().key
}

/// A seeded source database and one backup of it in a temp directory:
/// where most tests start.
struct BackedUp {
    dir: tempfile::TempDir,
    source: Db,
    key: String,
}

async fn seeded_backup() -> BackedUp {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file().await;
    seed(&source.dbs).await;
    let key = backup_to(dir.path(), &source.dbs).await;
    BackedUp { dir, source, key }
}

async fn empty_sqlite() -> Databases {
    Databases::new(Sqlite::open_in_memory().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_restore_gives_identical_rows_and_working_indexes() {
    let BackedUp { dir, source, key } = seeded_backup().await;

    let target = empty_sqlite().await;
    let restore = local_restore(dir.path());
    let report = restore.restore(&key, &target).await.unwrap();
    assert!(report.has_manifest);
    let counts: Vec<_> = report
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.records, c.written))
        .collect();
    assert_eq!(
        counts,
        [
            ("InheritedData--InheritedTest", 1, 1),
            ("SimpleData--SimpleTest", 1500, 1500),
            ("ComplexData--ComplexTest", 1, 1)
        ]
    );
    assert_eq!(snapshot_of(&target).await, snapshot_of(&source.dbs).await);
    let found = SimpleData::find_by_index(&target, "reversed_name", "7emaN")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].age, 7);
    assert!(report.skipped_members.is_empty());

    // Restoring again overwrites: same rows, nothing duplicated.
    restore.restore(&key, &target).await.unwrap();
    assert_eq!(snapshot_of(&target).await, snapshot_of(&source.dbs).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_from_s3_with_a_selection() {
    let server = s3_server();
    let source = sqlite_file().await;
    seed(&source.dbs).await;
    let mut backup = s3_backup(&server, SECRET_KEY);
    backup.add_class::<InheritedData>();
    let key = backup.run_backup(&source.dbs).await.unwrap().key;

    let mut restore = s3_restore(&server, SECRET_KEY);
    assert_eq!(restore.add_class_with::<ComplexData>(Bases::Exclude), 1);
    let listed = restore.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    assert!(restore.verify(&key).await.unwrap().is_ok());

    let target = empty_sqlite().await;
    let report = restore.restore(&key, &target).await.unwrap();
    assert_eq!(report.classes.len(), 1);
    assert_eq!(report.classes[0].name, "ComplexData--ComplexTest");
    assert_eq!(report.skipped_members.len(), 2);
    let restored = snapshot_of(&target).await;
    assert_eq!(
        restored["ComplexTest"],
        snapshot_of(&source.dbs).await["ComplexTest"]
    );
    assert!(restored["SimpleTest"].is_empty());

    let wrong = s3_restore(&server, "wrong-secret");
    let denied = wrong.list().await;
    assert!(
        matches!(denied, Err(BackupError::AccessDenied { .. })),
        "{denied:?}"
    );
    let missing = restore
        .restore("Backup_UTC_2001-01-01T00_00_00.000000.tar.gz", &target)
        .await;
    assert!(
        matches!(missing, Err(BackupError::NotFound { .. })),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_is_newest_first_and_skips_other_objects() {
    let BackedUp {
        dir,
        source,
        key: first,
    } = seeded_backup().await;
    let second = backup_to(dir.path(), &source.dbs).await;
    std::fs::write(dir.path().join("notes.txt"), "not a backup").unwrap();
    std::fs::write(
        dir.path().join("Backup_garbage.tar.gz"),
        "not a backup either",
    )
    .unwrap();

    let listed = local_restore(dir.path()).list().await.unwrap();
    let keys: Vec<_> = listed.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(keys, [second.as_str(), first.as_str()]);
    assert!(listed[0].time >= listed[1].time);
    assert_eq!(
        listed[0].size,
        std::fs::metadata(dir.path().join(&second)).unwrap().len()
    );
}

/// Asserts that `err` is an archive error whose source matches the
/// pattern: the check every refused archive shares.
macro_rules! assert_archive_error {
    ($err:expr, $source:pat) => {{
        let err = $err;
        assert!(
            matches!(
                err,
                BackupError::Archive {
                    source: $source,
                    ..
                }
            ),
            "{err}"
        );
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_of_the_original_python_gludb_verify_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-06-01T12_00_00.000000.tar.gz";
    write_python_original(&dir.path().join(key));

    let restore = local_restore(dir.path());
    assert_eq!(restore.list().await.unwrap()[0].key, key);
    let verified = restore.verify(key).await.unwrap();
    assert!(!verified.has_manifest);
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(verified.classes[0].records, 3);

    let target = empty_sqlite().await;
    let report = restore.restore(key, &target).await.unwrap();
    assert!(!report.has_manifest);
    assert_eq!(report.classes[0].written, 3);
    let db = target.default_database().unwrap();
    let stored = db
        .find_one(
            &gludb::TableName::new("SimpleTest").unwrap(),
            &format!("{:032x}", 2),
        )
        .await
        .unwrap()
        .unwrap();
    // Python's own spacing, byte for byte.
    assert!(
        stored
            .value
            .starts_with(r#"{"id": "00000000000000000000000000000002", "name": "Py2""#),
        "{}",
        stored.value
    );
    let found = SimpleData::find_by_index(&target, "reversed_name", "2yP")
        .await
        .unwrap();
    assert_eq!(found[0].descrip, "made by Python");

    let strict = local_restore(dir.path()).require_manifest(true);
    let err = strict
        .restore(key, &empty_sqlite().await)
        .await
        .unwrap_err();
    assert_archive_error!(err, ArchiveError::MissingManifest);
}

/// A target that already holds data: after a failed restore it must hold
/// exactly the same.
async fn populated_target() -> Databases {
    let dbs = empty_sqlite().await;
    SimpleData::ensure_table(&dbs).await.unwrap();
    for i in 0..5 {
        SimpleData {
            name: format!("Existing{i}"),
            ..Default::default()
        }
        .save(&dbs)
        .await
        .unwrap();
    }
    dbs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_archives_fail_cleanly_and_change_nothing() {
    let BackedUp { dir, key, .. } = seeded_backup().await;
    let original = std::fs::read(dir.path().join(&key)).unwrap();
    let restore = local_restore(dir.path());
    let restored_clean = {
        let clean = empty_sqlite().await;
        restore.restore(&key, &clean).await.unwrap();
        snapshot_of(&clean).await
    };

    let mut failures = 0;
    let step = (original.len() / 60).max(1);
    for (n, offset) in (0..original.len()).step_by(step).enumerate() {
        let mut damaged = original.clone();
        damaged[offset] ^= 0x5a;
        let name = format!("Backup_UTC_2000-01-01T00_00_{:02}.000000.tar.gz", n % 60);
        std::fs::write(dir.path().join(&name), &damaged).unwrap();
        let target = populated_target().await;
        let before = snapshot_of(&target).await;
        match restore.restore(&name, &target).await {
            Err(_) => {
                failures += 1;
                assert_eq!(
                    snapshot_of(&target).await,
                    before,
                    "flip at {offset} changed the target"
                );
            }
            // Bytes no check covers (the gzip header's time and OS fields)
            // may change: then the restored data must be exactly right.
            Ok(_) => {
                let check = empty_sqlite().await;
                restore.restore(&name, &check).await.unwrap();
                assert_eq!(
                    snapshot_of(&check).await,
                    restored_clean,
                    "flip at {offset} restored wrong data"
                );
            }
        }
    }
    assert!(failures > 50, "only {failures} flips were detected");

    let target = populated_target().await;
    let before = snapshot_of(&target).await;
    // Every length, stepped, plus each cut inside the gzip trailer (CRC and
    // size), where all the data is already there.
    let trailer = original.len() - 8..original.len();
    for len in (0..original.len() - 1).step_by(step).chain(trailer) {
        let name = "Backup_UTC_2000-01-02T00_00_00.000000.tar.gz";
        std::fs::write(dir.path().join(name), &original[..len]).unwrap();
        let err = restore.restore(name, &target).await;
        assert!(err.is_err(), "truncated to {len} bytes was accepted");
        assert_eq!(snapshot_of(&target).await, before);
        let verified = restore.verify(name).await.unwrap();
        assert!(
            !verified.is_ok() || !verified.has_manifest,
            "verify accepted a truncation at {len}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_members_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let restore = local_restore(dir.path());
    let target = populated_target().await;
    let before = snapshot_of(&target).await;
    let good_line = br#"{"id":"0123456789abcdef0123456789abcdef","name":"x","descrip":"y","age":1}
"#;

    // A member named to escape the directory (the tar crate refuses to
    // write such names, so set the header bytes directly).
    write_tar(
        dir.path(),
        "Backup_UTC_2001-01-01T00_00_00.000000.tar.gz",
        |tar| {
            let mut header = tar::Header::new_gnu();
            let name = b"../SimpleData--SimpleTest.json";
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_size(good_line.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append(&header, &good_line[..]).unwrap();
        },
    );
    let err = restore
        .restore("Backup_UTC_2001-01-01T00_00_00.000000.tar.gz", &target)
        .await
        .unwrap_err();
    assert_archive_error!(err, ArchiveError::UnsafeName(_));

    // A symbolic link.
    write_tar(
        dir.path(),
        "Backup_UTC_2001-01-02T00_00_00.000000.tar.gz",
        |tar| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, "SimpleData--SimpleTest.json", "/etc/passwd")
                .unwrap();
        },
    );
    let err = restore
        .restore("Backup_UTC_2001-01-02T00_00_00.000000.tar.gz", &target)
        .await
        .unwrap_err();
    assert_archive_error!(err, ArchiveError::NotAFile { .. });

    // A line over the limit, and a compressed "bomb" of one endless line:
    // both stop at the limit instead of filling memory.
    let long_line = vec![b'a'; 4096];
    write_archive(
        dir.path(),
        "Backup_UTC_2001-01-03T00_00_00.000000.tar.gz",
        &[("SimpleData--SimpleTest.json", &long_line)],
    );
    let small = local_restore(dir.path()).with_limits(Limits {
        max_line_bytes: 1024,
        ..Limits::default()
    });
    let err = small
        .restore("Backup_UTC_2001-01-03T00_00_00.000000.tar.gz", &target)
        .await
        .unwrap_err();
    assert_archive_error!(err, ArchiveError::LineTooLong { line: 1, .. });
    let bomb = vec![b'{'; 64 * 1024 * 1024];
    write_archive(
        dir.path(),
        "Backup_UTC_2001-01-04T00_00_00.000000.tar.gz",
        &[("SimpleData--SimpleTest.json", &bomb)],
    );
    drop(bomb);
    let bounded = local_restore(dir.path()).with_limits(Limits {
        max_line_bytes: 1024 * 1024,
        ..Limits::default()
    });
    let err = bounded
        .restore("Backup_UTC_2001-01-04T00_00_00.000000.tar.gz", &target)
        .await
        .unwrap_err();
    assert_archive_error!(err, ArchiveError::LineTooLong { .. });

    // A record that does not decode: named by line and id.
    let bad = b"{\"id\":\"aaaabbbbccccddddeeeeffff00001111\",\"name\":\"ok\",\"descrip\":\"d\",\"age\":1}\n{\"id\":\"badbadbadbadbadbadbadbadbadbadba\",\"name\":7}\n";
    write_archive(
        dir.path(),
        "Backup_UTC_2001-01-05T00_00_00.000000.tar.gz",
        &[("SimpleData--SimpleTest.json", bad)],
    );
    let err = restore
        .restore("Backup_UTC_2001-01-05T00_00_00.000000.tar.gz", &target)
        .await
        .unwrap_err();
    match &err {
        BackupError::BadRecord(problem) => {
            assert_eq!(problem.line, 2);
            assert_eq!(
                problem.id.as_deref(),
                Some("badbadbadbadbadbadbadbadbadbadba")
            );
            assert_eq!(problem.type_name, "SimpleData");
        }
        other => panic!("expected BadRecord, got {other}"),
    }
    let verified = restore
        .verify("Backup_UTC_2001-01-05T00_00_00.000000.tar.gz")
        .await
        .unwrap();
    assert!(!verified.is_ok());
    assert!(
        verified.classes[0].problems[0].contains("line 2"),
        "{:?}",
        verified.classes[0].problems
    );

    assert_eq!(
        snapshot_of(&target).await,
        before,
        "no hostile archive changed the target"
    );

    // Unknown members are skipped with a warning; the rest restores.
    write_archive(
        dir.path(),
        "Backup_UTC_2001-01-06T00_00_00.000000.tar.gz",
        &[
            ("README.txt", b"hello"),
            ("SimpleData--SimpleTest.json", good_line),
            ("Nobody--Nowhere.json", b"{}\n"),
        ],
    );
    let report = restore
        .restore("Backup_UTC_2001-01-06T00_00_00.000000.tar.gz", &target)
        .await
        .unwrap();
    assert_eq!(
        report.skipped_members,
        ["README.txt", "Nobody--Nowhere.json"]
    );
    assert_eq!(report.classes[0].written, 1);
    let verified = restore
        .verify("Backup_UTC_2001-01-06T00_00_00.000000.tar.gz")
        .await
        .unwrap();
    // Verify and restore skip, and say so, alike.
    assert_eq!(verified.skipped_members, report.skipped_members);
    assert!(!verified.classes[1].registered);
}

/// The stored description of the `SimpleData` record `id`: what a restore
/// mode keeps or overwrites.
async fn stored_descrip(dbs: &Databases, id: &str) -> String {
    SimpleData::find_one(dbs, id)
        .await
        .unwrap()
        .expect("stored")
        .descrip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_modes_decide_what_happens_to_existing_rows() {
    let BackedUp { dir, key, .. } = seeded_backup().await;
    let restore = local_restore(dir.path());

    let target = populated_target().await;
    let before = snapshot_of(&target).await;
    let refuse = restore.clone().with_mode(RestoreMode::RefuseNonEmpty);
    let err = refuse.restore(&key, &target).await.unwrap_err();
    assert!(
        matches!(err, BackupError::Database(Error::TableNotEmpty { .. })),
        "{err}"
    );
    assert_eq!(snapshot_of(&target).await, before);
    refuse
        .restore(&key, &empty_sqlite().await)
        .await
        .expect("an empty target is fine");

    // Skip existing: a changed row keeps its current value.
    let target = empty_sqlite().await;
    restore.restore(&key, &target).await.unwrap();
    let mut changed = SimpleData::find_all(&target)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .remove(0);
    changed.descrip = "changed after the backup".into();
    changed.save(&target).await.unwrap();
    let report = restore
        .clone()
        .with_mode(RestoreMode::SkipExisting)
        .restore(&key, &target)
        .await
        .unwrap();
    assert_eq!(report.classes[1].written, 0);
    assert_eq!(
        stored_descrip(&target, &changed.id).await,
        "changed after the backup"
    );
    // Overwrite puts the backed-up value back.
    restore.restore(&key, &target).await.unwrap();
    assert_ne!(
        stored_descrip(&target, &changed.id).await,
        "changed after the backup"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_mismatch_is_caught_by_verify_and_restore() {
    let BackedUp { dir, key, .. } = seeded_backup().await;
    let members = read_archive(&std::fs::read(dir.path().join(&key)).unwrap());
    // Re-pack with one record altered but the original manifest.
    let mut altered = members.clone();
    let text = String::from_utf8(altered[1].1.clone())
        .unwrap()
        .replacen("Name1", "Name9", 1);
    altered[1].1 = text.into_bytes();
    let refs: Vec<(&str, &[u8])> = altered
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    write_archive(
        dir.path(),
        "Backup_UTC_2002-01-01T00_00_00.000000.tar.gz",
        &refs,
    );

    let restore = local_restore(dir.path());
    let verified = restore
        .verify("Backup_UTC_2002-01-01T00_00_00.000000.tar.gz")
        .await
        .unwrap();
    assert!(!verified.is_ok());
    assert!(
        verified.classes[1]
            .problems
            .iter()
            .any(|p| p.contains("SHA-256")),
        "{verified:?}"
    );
    assert!(verified.classes[0].problems.is_empty());

    let target = populated_target().await;
    let before = snapshot_of(&target).await;
    let err = restore
        .restore("Backup_UTC_2002-01-01T00_00_00.000000.tar.gz", &target)
        .await
        .unwrap_err();
    assert_archive_error!(err, ArchiveError::Mismatch { .. });
    assert_eq!(snapshot_of(&target).await, before);
}

/// Two types that share one backup name, `Twin--TwinTable`.
mod twins {
    pub mod first {
        #[derive(gludb::Storable, serde::Serialize, serde::Deserialize, Default)]
        #[gludb(table = "TwinTable")]
        pub struct Twin {
            pub id: String,
        }
    }
    pub mod second {
        #[derive(gludb::Storable, serde::Serialize, serde::Deserialize, Default)]
        #[gludb(table = "TwinTable")]
        pub struct Twin {
            pub id: String,
            pub extra: u32,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_matching_two_types_must_be_chosen_by_selection() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file().await;
    twins::first::Twin::ensure_table(&db.dbs).await.unwrap();
    twins::first::Twin::default().save(&db.dbs).await.unwrap();
    let mut backup = Backup::from_url(&file_url(dir.path())).unwrap();
    backup.add_class::<twins::first::Twin>();
    let key = backup.run_backup(&db.dbs).await.unwrap().key;

    let restore = Restore::from_url(&file_url(dir.path())).unwrap();
    let verified = restore.verify(&key).await.unwrap();
    assert!(!verified.is_ok());
    assert!(
        verified.classes[0].problems[0].contains("several registered types"),
        "{verified:?}"
    );
    let err = restore
        .restore(&key, &empty_sqlite().await)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::AmbiguousType { .. }), "{err}");

    // Selecting one type settles it for both verify and restore.
    let mut chosen = Restore::from_url(&file_url(dir.path())).unwrap();
    chosen.add_class::<twins::first::Twin>();
    assert!(chosen.verify(&key).await.unwrap().is_ok());
    let report = chosen.restore(&key, &empty_sqlite().await).await.unwrap();
    assert_eq!(report.classes[0].written, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_progress_counts_records_and_archive_bytes_and_a_panic_rolls_back() {
    let BackedUp {
        dir,
        source: _source,
        key,
    } = seeded_backup().await;
    let size = std::fs::metadata(dir.path().join(&key)).unwrap().len();

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let restore = local_restore(dir.path()).with_progress(move |p| {
        sink.lock().unwrap().push(p.clone());
    });
    let report = restore.restore(&key, &empty_sqlite().await).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let total: u64 = report.classes.iter().map(|c| c.records).sum();
    assert_eq!(seen.last().unwrap().records, total);
    assert!(seen.windows(2).all(
        |w| w[0].records <= w[1].records && w[0].archive_bytes_read <= w[1].archive_bytes_read
    ));
    assert!(
        seen.iter()
            .all(|p| p.archive_bytes == size && p.archive_bytes_read <= size)
    );
    let classes: Vec<&str> = seen.iter().map(|p| p.class.as_str()).collect();
    assert!(classes.contains(&"SimpleData--SimpleTest"), "{classes:?}");

    // A callback that panics: a typed error, and the target unchanged.
    let target = populated_target().await;
    let before = snapshot_of(&target).await;
    let err = local_restore(dir.path())
        .with_mode(RestoreMode::Overwrite)
        .with_progress(|_| panic!("the progress bar broke"))
        .restore(&key, &target)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackupError::Panicked { message } if message.contains("progress bar broke")),
        "{err}"
    );
    assert_eq!(snapshot_of(&target).await, before);
}
