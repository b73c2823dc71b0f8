//! Reading a backup without restoring it: one class, typed or raw, checked
//! against the manifest; and `inspect`.

#[path = "../backup/models.rs"]
mod models;
#[path = "../backup/support.rs"]
mod support;

use std::path::Path;

use futures_util::{StreamExt, TryStreamExt};
use gludb::{
    Databases, Storable,
    backup::{
        Backup, BackupError, BackupStore, ReadCheck,
        archive::{ArchiveError, Manifest},
    },
};
use models::*;
use support::*;

async fn seed(dbs: &Databases) {
    ensure_related_tables(dbs).await;
    save_simple_records(dbs, 1500, |i| format!("record {i}")).await;
    ComplexData {
        name: "c".into(),
        complex_data: vec![("x".into(), 1)],
        ..Default::default()
    }
    .save(dbs)
    .await
    .unwrap();
}

/// A seeded database and one backup of `InheritedData` (with its bases) in
/// a temp directory.
struct BackedUp {
    dir: tempfile::TempDir,
    source: Db,
    key: String,
    store: BackupStore,
}

async fn seeded_backup() -> BackedUp {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file().await;
    seed(&source.dbs).await;
    let store = BackupStore::from_url(&file_url(dir.path())).unwrap();
    let key = Backup::on(&store)
        .with_class::<InheritedData>()
        .run_backup(&source.dbs)
        .await
        .unwrap()
        .key;
    BackedUp {
        dir,
        source,
        key,
        store,
    }
}

/// The first item of a raw read of `class` in `key`, which must be an error.
async fn first_error(store: &BackupStore, key: &str, class: &str) -> BackupError {
    store
        .read(key)
        .raw(class)
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap_err()
}

/// Re-packs the backup with one `SimpleData` record altered but the
/// original manifest, under a new key.
fn altered_copy(dir: &Path, key: &str) -> String {
    let mut members = read_archive(&std::fs::read(dir.join(key)).unwrap());
    let simple = members
        .iter_mut()
        .find(|(name, _)| name.starts_with("SimpleData--"))
        .unwrap();
    let text = String::from_utf8(simple.1.clone())
        .unwrap()
        .replacen("record 1\"", "record 9\"", 1);
    assert_ne!(text.as_bytes(), simple.1.as_slice());
    simple.1 = text.into_bytes();
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let altered = "Backup_UTC_2002-01-01T00_00_00.000000.tar.gz";
    write_archive(dir, altered, &refs);
    altered.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_and_raw_reads_give_the_records_backed_up() {
    let BackedUp {
        dir: _dir,
        source,
        key,
        store,
    } = seeded_backup().await;

    let mut expected: Vec<SimpleData> = SimpleData::find_all(&source.dbs)
        .try_collect()
        .await
        .unwrap();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    for check in [ReadCheck::BeforeFirstRecord, ReadCheck::AsItGoes] {
        let mut read: Vec<SimpleData> = store
            .read(&key)
            .check(check)
            .records::<SimpleData>()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        read.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(read, expected, "{check:?}");
    }

    // Raw: the stored JSON, byte for byte, by any of the member's names.
    let stored = rows_of(
        source.dbs.default_database().unwrap().as_ref(),
        "SimpleTest",
    )
    .await
    .unwrap();
    for name in ["SimpleData--SimpleTest", "SimpleData", "SimpleTest"] {
        let lines: Vec<String> = store
            .read(&key)
            .raw(name)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(lines.len(), 1500, "{name}");
        for line in &lines {
            let id: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(&stored[id["id"].as_str().unwrap()], line);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_archive_yields_no_record_by_default() {
    let BackedUp {
        dir,
        source: _source,
        key,
        store,
    } = seeded_backup().await;
    let altered = altered_copy(dir.path(), &key);

    // Checked before the first record: the error is the first item.
    let mut records = store.read(&altered).records::<SimpleData>().await.unwrap();
    let first = records.next().await.unwrap();
    assert!(
        matches!(
            first,
            Err(BackupError::Archive {
                source: ArchiveError::Mismatch { .. },
                ..
            })
        ),
        "{first:?}"
    );
    assert!(records.next().await.is_none(), "nothing follows an error");

    // As it goes: the records come first, and the mismatch ends the stream.
    let items: Vec<_> = store
        .read(&altered)
        .check(ReadCheck::AsItGoes)
        .raw("SimpleData")
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 1500);
    let last = items.last().unwrap();
    assert!(
        matches!(
            last,
            Err(BackupError::Archive {
                source: ArchiveError::Mismatch { member, .. },
                ..
            }) if member.starts_with("SimpleData--")
        ),
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_archive_is_an_error_not_an_end() {
    let BackedUp {
        dir,
        source: _source,
        key,
        store,
    } = seeded_backup().await;
    let bytes = std::fs::read(dir.path().join(&key)).unwrap();
    let cut = "Backup_UTC_2003-01-01T00_00_00.000000.tar.gz";
    std::fs::write(dir.path().join(cut), &bytes[..bytes.len() * 2 / 3]).unwrap();
    for check in [ReadCheck::BeforeFirstRecord, ReadCheck::AsItGoes] {
        let items: Vec<_> = store
            .read(cut)
            .check(check)
            .raw("SimpleData")
            .await
            .unwrap()
            .collect()
            .await;
        let last = items.last().unwrap();
        assert!(
            matches!(
                last,
                Err(BackupError::Archive {
                    source: ArchiveError::Corrupt(_),
                    ..
                })
            ),
            "{check:?}: {last:?}"
        );
        if check == ReadCheck::BeforeFirstRecord {
            assert_eq!(items.len(), 1, "no record of a corrupt archive");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_what_the_backup_lacks_is_a_clear_error() {
    let BackedUp {
        dir,
        source: _source,
        key,
        store,
    } = seeded_backup().await;

    let missing = store
        .read("Backup_UTC_2001-01-01T00_00_00.000000.tar.gz")
        .records::<SimpleData>()
        .await;
    assert!(
        matches!(missing, Err(BackupError::NotFound { .. })),
        "{missing:?}"
    );

    let err = store
        .read(&key)
        .records::<BlobData>()
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    match &err {
        BackupError::ClassesNotInBackup {
            missing, available, ..
        } => {
            assert_eq!(missing, "BlobData--BlobTest");
            assert!(available.contains("SimpleData--SimpleTest"), "{err}");
        }
        other => panic!("{other}"),
    }

    let err = first_error(&store, &key, "NoSuchClass").await;
    assert!(
        matches!(&err, BackupError::ClassesNotInBackup { missing, .. } if missing == "NoSuchClass"),
        "{err}"
    );

    // Two members answer to one table name.
    let members = read_archive(&std::fs::read(dir.path().join(&key)).unwrap());
    let simple = &members
        .iter()
        .find(|(n, _)| n.starts_with("SimpleData--"))
        .unwrap()
        .1;
    let twins = "Backup_UTC_2004-01-01T00_00_00.000000.tar.gz";
    write_archive(
        dir.path(),
        twins,
        &[
            ("SimpleData--SimpleTest.json", simple),
            ("OtherData--SimpleTest.json", simple),
        ],
    );
    let err = first_error(&store, twins, "SimpleTest").await;
    assert!(
        matches!(&err, BackupError::AmbiguousClass { candidates, .. }
            if candidates == "SimpleData--SimpleTest, OtherData--SimpleTest"),
        "{err}"
    );
    // The same member twice is a damaged archive, not an ambiguous name.
    let twice = "Backup_UTC_2004-01-02T00_00_00.000000.tar.gz";
    write_archive(
        dir.path(),
        twice,
        &[
            ("SimpleData--SimpleTest.json", simple),
            ("./SimpleData--SimpleTest.json", simple),
        ],
    );
    let err = first_error(&store, twice, "SimpleData").await;
    assert!(
        matches!(
            &err,
            BackupError::Archive {
                source: ArchiveError::Mismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    // A member in a sub-directory is no class member.
    let nested = "Backup_UTC_2004-01-03T00_00_00.000000.tar.gz";
    write_archive(
        dir.path(),
        nested,
        &[("evil/SimpleData--SimpleTest.json", simple)],
    );
    let err = first_error(&store, nested, "SimpleData").await;
    assert!(
        matches!(&err, BackupError::ClassesNotInBackup { .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_does_not_decode_names_its_line_and_ends_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"{\"id\":\"a\",\"name\":\"A\",\"descrip\":\"\",\"age\":1}\n{\"id\":\"b\",\"name\":\"B\",\"descrip\":\"\",\"age\":\"old\"}\n{\"id\":\"c\",\"name\":\"C\",\"descrip\":\"\",\"age\":3}\n";
    let key = "Backup_UTC_2005-01-01T00_00_00.000000.tar.gz";
    write_archive(dir.path(), key, &[("SimpleData--SimpleTest.json", data)]);
    let store = BackupStore::from_url(&file_url(dir.path())).unwrap();
    let items: Vec<_> = store
        .read(key)
        .records::<SimpleData>()
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 2, "the good record, then the error; no more");
    assert_eq!(items[0].as_ref().unwrap().name, "A");
    match &items[1] {
        Err(BackupError::BadRecord(problem)) => {
            assert_eq!(problem.line, 2);
            assert_eq!(problem.id.as_deref(), Some("b"));
            assert_eq!(problem.type_name, "SimpleData");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_of_the_original_python_gludb_read_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-06-01T12_00_00.000000.tar.gz";
    write_python_original(&dir.path().join(key));
    let store = BackupStore::from_url(&file_url(dir.path())).unwrap();

    let read: Vec<SimpleData> = store
        .read(key)
        .records::<SimpleData>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        read.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["Py1", "Py2", "Py3"]
    );

    let refused = store
        .read(key)
        .require_manifest(true)
        .raw("SimpleData")
        .await
        .unwrap()
        .next()
        .await
        .unwrap();
    assert!(
        matches!(
            refused,
            Err(BackupError::Archive {
                source: ArchiveError::MissingManifest,
                ..
            })
        ),
        "{refused:?}"
    );

    let inspection = store.inspect(key).await.unwrap();
    assert!(!inspection.has_manifest);
    assert!(inspection.problems.is_empty(), "{inspection:?}");
    assert_eq!(inspection.classes.len(), 1);
    assert_eq!(inspection.classes[0].name, "SimpleData--SimpleTest");
    assert_eq!(inspection.classes[0].records, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_shows_the_manifest_and_what_disagrees_with_it() {
    let BackedUp {
        dir,
        source: _source,
        key,
        store,
    } = seeded_backup().await;
    let members = read_archive(&std::fs::read(dir.path().join(&key)).unwrap());
    let manifest = Manifest::from_json(&members.last().unwrap().1).unwrap();

    let inspection = store.inspect(&key).await.unwrap();
    assert!(inspection.has_manifest);
    assert!(inspection.problems.is_empty(), "{inspection:?}");
    assert_eq!(inspection.listing.key, key);
    assert_eq!(
        inspection.created.as_deref(),
        Some(manifest.created.as_str())
    );
    assert!(
        inspection
            .writer
            .as_deref()
            .is_some_and(|w| w.starts_with("gludb-backup ")),
        "{inspection:?}"
    );
    let classes: Vec<_> = inspection
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.records, c.sha256.as_str()))
        .collect();
    let expected: Vec<_> = manifest
        .members
        .iter()
        .map(|m| (m.class_name(), m.records, m.sha256.as_str()))
        .collect();
    assert_eq!(classes, expected);
    assert_eq!(inspection.total_records(), 1501);
    let json = serde_json::to_value(&inspection).unwrap();
    assert_eq!(json["key"], key.as_str());
    assert!(json["time"].as_str().unwrap().ends_with('Z'));

    let altered = altered_copy(dir.path(), &key);
    let inspection = store.inspect(&altered).await.unwrap();
    assert!(
        inspection.problems.iter().any(|p| p.contains("SHA-256")),
        "{inspection:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_read_midway_stops_it() {
    let BackedUp {
        dir: _dir,
        source: _source,
        key,
        store,
    } = seeded_backup().await;
    let mut lines = store
        .read(&key)
        .check(ReadCheck::AsItGoes)
        .raw("SimpleData")
        .await
        .unwrap();
    assert!(lines.next().await.unwrap().is_ok());
    drop(lines);
    // The store is still usable at once (nothing holds the object).
    let again: Vec<String> = store
        .read(&key)
        .raw("SimpleData")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(again.len(), 1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_ours_without_its_manifest_is_refused_everywhere() {
    let BackedUp {
        dir,
        source: _source,
        key,
        store,
    } = seeded_backup().await;
    // The same archive without its manifest, under a name of ours (with a
    // selection tag), and under the original GLUDB's form of name.
    let mut members = read_archive(&std::fs::read(dir.path().join(&key)).unwrap());
    members.retain(|(name, _)| name != "gludb-manifest.json");
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let ours = "Backup_UTC_2006-01-01T00_00_00.000000_abcdef-01234567.tar.gz";
    let original = "Backup_UTC_2006-01-02T00_00_00.000000.tar.gz";
    write_archive(dir.path(), ours, &refs);
    write_archive(dir.path(), original, &refs);

    for check in [ReadCheck::BeforeFirstRecord, ReadCheck::AsItGoes] {
        let items: Vec<_> = store
            .read(ours)
            .check(check)
            .raw("SimpleData")
            .await
            .unwrap()
            .collect()
            .await;
        assert!(
            matches!(
                items.last().unwrap(),
                Err(BackupError::Archive {
                    source: ArchiveError::ManifestRemoved,
                    ..
                })
            ),
            "{check:?}"
        );
    }
    let verified = gludb::backup::Restore::on(&store)
        .verify(ours)
        .await
        .unwrap();
    assert!(!verified.is_ok());
    assert!(
        verified.problems.iter().any(|p| p.contains("manifest")),
        "{verified:?}"
    );
    let inspection = store.inspect(ours).await.unwrap();
    assert!(!inspection.problems.is_empty());
    let target = Databases::new(gludb::sqlite::Sqlite::open_in_memory().await.unwrap());
    let err = gludb::backup::Restore::on(&store)
        .restore(ours, &target)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::Archive {
                source: ArchiveError::ManifestRemoved,
                ..
            }
        ),
        "{err}"
    );

    // The original's name: no manifest is expected, and its records read.
    let mut lines = store.read(original).raw("SimpleData").await.unwrap();
    let mut count = 0;
    while let Some(line) = lines.next().await {
        line.unwrap();
        count += 1;
    }
    assert_eq!(count, 1500);
    assert_eq!(lines.has_manifest(), Some(false));
    assert!(store.inspect(original).await.unwrap().problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_counts_a_last_line_without_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2007-01-01T00_00_00.000000.tar.gz";
    let data = b"{\"id\":\"a\",\"name\":\"A\",\"descrip\":\"\",\"age\":1}\n{\"id\":\"b\",\"name\":\"B\",\"descrip\":\"\",\"age\":2}";
    write_archive(dir.path(), key, &[("SimpleData--SimpleTest.json", data)]);
    let store = BackupStore::from_url(&file_url(dir.path())).unwrap();
    let read: Vec<String> = store
        .read(key)
        .raw("SimpleData")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(store.inspect(key).await.unwrap().classes[0].records, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_from_a_directory_that_does_not_exist_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo").join("backups");
    let url = file_url(&missing);
    let err = BackupStore::open_url(&url).unwrap_err();
    assert!(
        matches!(err, BackupError::DestinationMissing { .. }),
        "{err}"
    );
    let err = gludb::backup::Restore::from_url(&url)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackupError::DestinationMissing { .. }),
        "{err}"
    );
    assert!(!dir.path().join("typo").exists(), "nothing was created");
    // A backup creates its directory.
    let source = sqlite_file().await;
    seed(&source.dbs).await;
    Backup::from_url(&url)
        .unwrap()
        .with_class::<SimpleData>()
        .run_backup(&source.dbs)
        .await
        .unwrap();
    let listed = BackupStore::open_url(&url).unwrap().list().await.unwrap();
    assert_eq!(listed.len(), 1);
}
