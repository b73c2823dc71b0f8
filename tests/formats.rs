//! Archive options: zstd compression and age encryption, end to end — the
//! stored object is what its name says (checked with the `zstd` and `age`
//! command-line tools), and every reader reads it back.

#[path = "backup/models.rs"]
mod models;
#[path = "backup/support.rs"]
mod support;

use std::{path::Path, process::Command};

use futures_util::TryStreamExt;
use gludb::{
    Databases,
    backup::{
        Backup, BackupError, BackupStore, Restore,
        archive::{ArchiveError, Codec, Identity},
    },
};
use models::*;
use support::*;

/// A record text that would show if the archive were stored in the clear.
const MARKER: &str = "plaintext-marker-7d1c";

async fn seeded() -> Db {
    let db = sqlite_file().await;
    ensure_related_tables(&db.dbs).await;
    save_simple_records(&db.dbs, 2000, |i| format!("{MARKER} {i}")).await;
    db
}

/// Whether a command-line tool is on PATH; a missing one fails the test in
/// CI (`.ci/run` installs it) and skips it elsewhere.
fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{name}` is missing (apt-get install {name})"
        );
        eprintln!("SKIPPED: `{name}` is not installed");
    }
    found
}

/// Records of the restored `SimpleData` table.
async fn restored_count(dbs: &Databases) -> usize {
    let db = dbs.default_database().unwrap();
    rows_of(db.as_ref(), "SimpleTest")
        .await
        .unwrap_or_default()
        .len()
}

/// Members of a plain (decompressed) tar file, as Python's tarfile reads it.
fn python_members(tar: &Path, mode: &str) -> Vec<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, tarfile; print('\\n'.join(tarfile.open(sys.argv[1], sys.argv[2]).getnames()))",
        ])
        .arg(tar)
        .arg(mode)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zstd_backup_is_a_tar_zst_every_reader_reads() {
    let source = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let store = BackupStore::from_url(&file_url(dir.path())).unwrap();
    let report = Backup::on(&store)
        .with_class::<SimpleData>()
        .with_zstd(3)
        .run_backup(&source.dbs)
        .await
        .unwrap();
    assert!(report.key.ends_with(".tar.zst"), "{}", report.key);
    let listed = store.list().await.unwrap();
    assert_eq!(listed[0].key, report.key);

    // The `zstd` tool reads it as one stream of frames.
    if tool("zstd") {
        let tar = dir.path().join("plain.tar");
        let status = Command::new("zstd")
            .args(["-q", "-d", "-o"])
            .arg(&tar)
            .arg(dir.path().join(&report.key))
            .status()
            .unwrap();
        assert!(status.success());
        let members = python_members(&tar, "r:");
        assert_eq!(
            members,
            ["SimpleData--SimpleTest.json", "gludb-manifest.json"]
        );
    }

    let verified = Restore::on(&store).verify(&report.key).await.unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    let target = Databases::new(gludb::sqlite::Sqlite::open_in_memory().await.unwrap());
    Restore::on(&store)
        .restore(&report.key, &target)
        .await
        .unwrap();
    assert_eq!(restored_count(&target).await, 2000);
    let read: Vec<SimpleData> = store
        .read(&report.key)
        .records::<SimpleData>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.len(), 2000);
    assert_eq!(
        store.inspect(&report.key).await.unwrap().listing.key,
        report.key
    );

    // A gzip archive named `.tar.zst` is refused, not guessed at.
    let gzip = Backup::on(&store)
        .with_class::<SimpleData>()
        .run_backup(&source.dbs)
        .await
        .unwrap()
        .key;
    let renamed = gzip.replace(".tar.gz", ".tar.zst");
    std::fs::rename(dir.path().join(&gzip), dir.path().join(&renamed)).unwrap();
    let err = Restore::on(&store).verify(&renamed).await.unwrap_err();
    assert!(
        matches!(
            &err,
            BackupError::Archive {
                source: ArchiveError::FormatMismatch { found: "gzip", .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(Codec::Zstd, listed_codec(&store, &report.key).await);
}

async fn listed_codec(store: &BackupStore, key: &str) -> Codec {
    let _ = store;
    gludb::backup::archive::BackupKey::parse(key)
        .unwrap()
        .format()
        .codec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_backup_hides_its_records_and_opens_with_either_key() {
    let source = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob, eve) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let store = BackupStore::from_url(&file_url(dir.path())).unwrap();
    let report = Backup::on(&store)
        .with_class::<SimpleData>()
        .encrypt_to([alice.to_public(), bob.to_public()])
        .run_backup(&source.dbs)
        .await
        .unwrap();
    assert!(report.key.ends_with(".tar.gz.age"), "{}", report.key);
    let stored = std::fs::read(dir.path().join(&report.key)).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(MARKER.as_bytes()));
    assert!(!contains(b"SimpleData--SimpleTest.json"));

    // No key, the wrong key: typed errors, nothing restored.
    let target = Databases::new(gludb::sqlite::Sqlite::open_in_memory().await.unwrap());
    let err = Restore::on(&store)
        .restore(&report.key, &target)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BackupError::Archive {
                source: ArchiveError::IdentityRequired,
                ..
            }
        ),
        "{err}"
    );
    let err = Restore::on(&store.with_identities([eve]))
        .restore(&report.key, &target)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BackupError::Archive {
                source: ArchiveError::NoMatchingIdentity,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(restored_count(&target).await, 0);

    // Either recipient reads it: verify, restore, read, inspect.
    for identity in [alice.clone(), bob] {
        let keyed = store.with_identities([identity]);
        let verified = Restore::on(&keyed).verify(&report.key).await.unwrap();
        assert!(verified.is_ok(), "{verified:?}");
        let read: Vec<String> = keyed
            .read(&report.key)
            .raw("SimpleData")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(read.len(), 2000);
        assert!(
            keyed
                .inspect(&report.key)
                .await
                .unwrap()
                .problems
                .is_empty()
        );
    }
    let keyed = store.with_identities([alice.clone()]);
    Restore::on(&keyed)
        .restore(&report.key, &target)
        .await
        .unwrap();
    assert_eq!(restored_count(&target).await, 2000);

    // The key is nowhere: not in the history, the report, or Debug output.
    let secret = alice.secret_text();
    let history = serde_json::to_string(&history(&source.dbs).await).unwrap();
    assert!(!history.contains(&secret) && !history.contains("AGE-SECRET-KEY"));
    assert!(
        !serde_json::to_string(&report)
            .unwrap()
            .contains("AGE-SECRET-KEY")
    );
    assert!(!format!("{keyed:?} {alice:?}").contains("AGE-SECRET-KEY"));

    // A cut file fails its authentication: refused, nothing restored.
    let cut = "Backup_UTC_2001-01-01T00_00_00.000000_abcdef-01234567.tar.gz.age";
    std::fs::write(dir.path().join(cut), &stored[..stored.len() - 100]).unwrap();
    let fresh = Databases::new(gludb::sqlite::Sqlite::open_in_memory().await.unwrap());
    let err = Restore::on(&keyed).restore(cut, &fresh).await.unwrap_err();
    assert!(
        matches!(
            &err,
            BackupError::Archive {
                source: ArchiveError::Corrupt(_),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(restored_count(&fresh).await, 0);

    // The `age` tool decrypts it into a plain .tar.gz, with either key.
    if tool("age") {
        let key_file = dir.path().join("alice.key");
        std::fs::write(&key_file, format!("# test key\n{secret}\n")).unwrap();
        let plain = dir.path().join("plain.tar.gz");
        let status = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&key_file)
            .arg("-o")
            .arg(&plain)
            .arg(dir.path().join(&report.key))
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            python_members(&plain, "r:gz"),
            ["SimpleData--SimpleTest.json", "gludb-manifest.json"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_and_age_together() {
    let source = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let identity = Identity::generate();
    let store = BackupStore::from_url(&file_url(dir.path()))
        .unwrap()
        .with_identities([identity.clone()]);
    let key = Backup::on(&store)
        .with_class::<SimpleData>()
        .with_zstd(5)
        .encrypt_to([identity.to_public()])
        .run_backup(&source.dbs)
        .await
        .unwrap()
        .key;
    assert!(key.ends_with(".tar.zst.age"), "{key}");
    let read: Vec<SimpleData> = store
        .read(&key)
        .records::<SimpleData>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.len(), 2000);
    // Pruning counts it with the set's other backups.
    assert_eq!(store.list_set("Backup").await.unwrap().len(), 1);

    // An empty list of recipients (from configuration, say) is an error,
    // never a backup in the clear.
    let err = Backup::on(&store)
        .with_class::<SimpleData>()
        .encrypt_to([])
        .run_backup(&source.dbs)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::InvalidOption { .. }), "{err}");
    assert_eq!(store.list().await.unwrap().len(), 1);
}
