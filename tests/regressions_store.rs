//! Regressions from the second hostile review (of the store as a value,
//! typed names and the backup crate's layout). Every test asserts what a
//! user would expect: `regression_*` were findings, fixed since; `holds_*`
//! are attacks that held up from the start.

#[path = "backup/models.rs"]
mod models;
#[path = "backup/support.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use gludb::{
    Databases, Storable,
    backup::{
        Backup, BackupError, BackupStatus, BackupStore, Bases, Destination, Restore, Retention,
    },
    sqlite::Sqlite,
};
use models::*;
use object_store::{ObjectStore, local::LocalFileSystem, memory::InMemory};
use support::*;

async fn seeded() -> Db {
    let db = sqlite_file().await;
    ensure_related_tables(&db.dbs).await;
    save_simple_records(&db.dbs, 5, |i| format!("record {i}")).await;
    db
}

/// The service's own `object_store` for a directory, as a service builds
/// it at start-up (once per process).
fn service_store(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap())
}

// ---------------------------------------------------------------------------
// The store as a value: `BackupStore::from_object_store`
// ---------------------------------------------------------------------------

/// `from_object_store` once made the set's identity from the `Arc`'s
/// address, and that identity is what `BackupHistory` records and
/// `run_if_due` looks up: a restarted service (another address) lost its
/// schedule. The identity is now the store's description plus prefix.
/// Modelled here with two handles alive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_from_object_store_schedule_survives_a_restart() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let before_restart = BackupStore::from_object_store(service_store(dir.path()), "nightly");
    let backup = Backup::on(&before_restart)
        .with_name("nightly")
        .with_class::<SimpleData>();
    let first = backup
        .run_if_due(&db.dbs, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(first.is_some(), "the first tick runs");

    // The service restarts: same directory, same prefix, same database.
    let after_restart = BackupStore::from_object_store(service_store(dir.path()), "nightly");
    let backup = Backup::on(&after_restart)
        .with_name("nightly")
        .with_class::<SimpleData>();
    assert!(
        backup.last_completed(&db.dbs).await.unwrap().is_some(),
        "the set completed a run a moment ago; stored identity: {:?}",
        history(&db.dbs)
            .await
            .iter()
            .map(|h| h.store.clone())
            .collect::<Vec<_>>()
    );
    let second = backup
        .run_if_due(&db.dbs, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        second.is_none(),
        "ran again right after a restart although the last run ended seconds ago: {:?}",
        second.map(|r| r.key)
    );
}

/// The same identity guards against `TableGone`: after a restart, a table
/// that held records in the last backup and is gone now is backed up as
/// empty (`CompletedWithWarnings`, `Ok`), and `keep_last(1)` then deletes
/// the only backup that holds the records: the data-loss path the previous
/// review closed for `from_url` destinations is open for `from_object_store`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_from_object_store_restart_keeps_table_gone() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let before_restart = BackupStore::from_object_store(service_store(dir.path()), "nightly");
    let good = Backup::on(&before_restart)
        .with_name("nightly")
        .with_class::<SimpleData>()
        .run_backup(&db.dbs)
        .await
        .unwrap();
    assert_eq!(good.classes[0].records, 5);
    rusqlite::Connection::open(&db.path)
        .unwrap()
        .execute_batch("DROP TABLE SimpleTest")
        .unwrap();

    let after_restart = BackupStore::from_object_store(service_store(dir.path()), "nightly");
    let backup = Backup::on(&after_restart)
        .with_name("nightly")
        .with_class::<SimpleData>();
    let outcome = backup.run_backup(&db.dbs).await;
    let pruned = backup.prune(&Retention::new().keep_last(1)).await.unwrap();
    assert!(
        matches!(outcome, Err(BackupError::TableGone { records: 5, .. })),
        "expected TableGone, got {:?}; prune then deleted {:?}",
        outcome.map(|r| (r.key, r.classes[0].records)),
        pruned.deleted
    );
}

/// Two `from_object_store` handles to the same bucket and prefix (a
/// service that builds its client per component, or per request) are two
/// sets: `start` of one while the other runs is not `AlreadyRunning`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_from_object_store_two_handles_to_one_place_are_one_set() {
    let db = seeded().await;
    save_blobs(&db.dbs, 8).await;
    let dir = tempfile::tempdir().unwrap();
    let a = BackupStore::from_object_store(service_store(dir.path()), "p");
    let b = BackupStore::from_object_store(service_store(dir.path()), "p");
    let backup_a = Backup::on(&a).with_name("n").with_class::<BlobData>();
    let backup_b = Backup::on(&b).with_name("n").with_class::<BlobData>();
    let running = backup_a.start(&db.dbs).unwrap();
    let second = backup_b.start(&db.dbs);
    let second_ok = second.is_ok();
    if let Ok(second) = second {
        let _ = second.wait().await;
    }
    let _ = running.wait().await;
    assert!(
        !second_ok,
        "a second run of set `n` at the same place started while the first was running"
    );
}

/// Holds: `memory://name` end to end through one `BackupStore`: back up,
/// list, stat, verify, restore, prune, orphans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_memory_store_end_to_end() {
    let db = seeded().await;
    let store = BackupStore::from_url("memory://review2-e2e/nightly").unwrap();
    let backup = Backup::on(&store).with_name("n").with_class::<SimpleData>();
    let r1 = backup.run_backup(&db.dbs).await.unwrap();
    let r2 = backup.run_backup(&db.dbs).await.unwrap();
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].key, r2.key);
    assert_eq!(store.stat(&r1.key).await.unwrap().set, "n");
    let again = BackupStore::from_url("memory://review2-e2e/nightly").unwrap();
    assert!(Restore::on(&again).verify(&r1.key).await.unwrap().is_ok());
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    let restored = Restore::on(&again).restore(&r1.key, &target).await.unwrap();
    assert_eq!(restored.classes[0].written, 5);
    let pruned = store
        .prune_set("n", &Retention::new().keep_last(1))
        .await
        .unwrap();
    assert_eq!(pruned.deleted, [r1.key]);
    assert!(store.find_orphans().await.unwrap().is_empty());
    let json = serde_json::to_value(&store.list().await.unwrap()[0]).unwrap();
    assert!(
        json["time"].as_str().unwrap().ends_with('Z'),
        "RFC 3339: {json}"
    );
}

/// Holds: prefixes with `%`, spaces and non-ASCII through
/// `from_object_store`, a store that is itself prefixed, and two prefixes
/// of one store (one nested in the other) keep to themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_odd_prefixes_and_prefixed_stores() {
    let db = seeded().await;
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let prefixed: Arc<dyn ObjectStore> = Arc::new(object_store::prefix::PrefixStore::new(
        Arc::clone(&inner),
        "tenant 1",
    ));
    for (store, prefix) in [
        (Arc::clone(&inner), "50% off/é ü"),
        (Arc::clone(&inner), "50% off"),
        (Arc::clone(&prefixed), "a b/%2F"),
        (Arc::clone(&prefixed), ""),
    ] {
        let store = BackupStore::from_object_store(store, prefix);
        let report = Backup::on(&store)
            .with_class::<SimpleData>()
            .run_backup(&db.dbs)
            .await
            .unwrap();
        let listed = store.list().await.unwrap();
        assert_eq!(listed.len(), 1, "{prefix:?}: {listed:?}");
        assert_eq!(listed[0].key, report.key, "{prefix:?}");
        let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
        let restored = Restore::on(&store)
            .restore(&listed[0].key, &target)
            .await
            .unwrap();
        assert_eq!(restored.classes[0].written, 5, "{prefix:?}");
        assert!(matches!(
            store.find_orphans().await,
            Err(BackupError::Unsupported { .. })
        ));
    }
}

/// `Restore::on(&store)` and `BackupStore::stat` take any key of the
/// bucket, not only keys under the store's prefix: a store for `appA`
/// verifies, stats and restores `appB`'s backups (in the axum example, any
/// HTTP caller can restore another application's backup into this
/// service's database by putting `appB%2F...` in the path), while the
/// README says other applications' backups under another prefix "are never
/// touched".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_store_never_reads_keys_outside_its_prefix() {
    let db = seeded().await;
    let app_b = BackupStore::from_url("memory://review2-prefix/appB").unwrap();
    let theirs = Backup::on(&app_b)
        .with_class::<SimpleData>()
        .run_backup(&db.dbs)
        .await
        .unwrap();
    assert!(theirs.key.starts_with("appB/"));
    let app_a = BackupStore::from_url("memory://review2-prefix/appA").unwrap();
    let stat = app_a.stat(&theirs.key).await;
    let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
    let restored = Restore::on(&app_a).restore(&theirs.key, &target).await;
    assert!(
        matches!(stat, Err(BackupError::NotFound { .. }))
            && matches!(restored, Err(BackupError::NotFound { .. })),
        "appA's store reached appB's backup: stat {:?}, restore wrote {:?}",
        stat.map(|s| s.key),
        restored.map(|r| r.classes[0].written)
    );
}

// ---------------------------------------------------------------------------
// Destinations
// ---------------------------------------------------------------------------

/// `https://s3.<region>.amazonaws.com/bucket` is listed under `aws` in the
/// README's Features, but it does not go through gludb's S3 path: no typed
/// `MissingCredential` (object_store falls back to instance metadata), an
/// unknown option is silently ignored instead of `InvalidDestination`, and
/// `find_orphans` is `Unsupported` on what is an S3 bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_https_amazonaws_destination_is_s3() {
    let s3 = Destination::from_url("s3://gludb-backups/daily")
        .unwrap()
        .with_s3_option("aws_access_key_id", "AKID")
        .with_s3_option("aws_secret_access_key", "secret")
        .with_s3_option("aws_acess_key_id", "typo");
    let https = Destination::from_url("https://s3.us-east-1.amazonaws.com/gludb-backups/daily")
        .unwrap()
        .with_s3_option("aws_access_key_id", "AKID")
        .with_s3_option("aws_secret_access_key", "secret")
        .with_s3_option("aws_acess_key_id", "typo");
    let s3_err = BackupStore::connect(&s3).map(|s| s.description().to_owned());
    let https_err = BackupStore::connect(&https).map(|s| s.description().to_owned());
    let no_credentials = BackupStore::from_url("https://s3.us-east-1.amazonaws.com/bucket/daily")
        .map(|s| s.description().to_owned());
    assert!(
        matches!(s3_err, Err(BackupError::InvalidDestination { .. })),
        "{s3_err:?}"
    );
    assert!(
        matches!(https_err, Err(BackupError::InvalidDestination { .. }))
            && matches!(no_credentials, Err(BackupError::MissingCredential { .. })),
        "s3:// refuses the misspelt option, the https:// form of the same bucket \
         takes it: {https_err:?}; without any credential: {no_credentials:?}"
    );
}

/// A URL without an authority (`s3:/...`, one slash: a typo) would keep
/// `user:password@` in its path: such a URL is refused, and neither the
/// error nor anything else shows the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_secret_in_a_url_without_authority_is_never_shown() {
    const SECRET: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY";
    let url = format!("s3:/AKIAEXAMPLE:{SECRET}@my-bucket/daily");
    let backup = match Backup::from_url(&url) {
        Ok(backup) => format!("{backup:?}"),
        Err(e) => format!("{e} {e:?}"),
    };
    let gs = format!("gs:/service:{SECRET}@bucket");
    let gs_error = match Restore::from_url(&gs) {
        Ok(restore) => restore.list().await.map(|_| ()).unwrap_err().to_string(),
        Err(e) => format!("{e} {e:?}"),
    };
    assert!(
        !backup.contains(SECRET) && !gs_error.contains(SECRET),
        "backup: {backup}\nerror: {gs_error}"
    );
    assert!(
        matches!(
            Backup::from_url(&url),
            Err(BackupError::InvalidDestination { .. })
        ),
        "a URL without a bucket is refused"
    );
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/// Two `Databases` over one SQLite file whose table prefixes differ only in
/// case (tenants `Acme` and `acme`) would share every table: SQLite (and
/// the PostgreSQL backend, which finds tables case-insensitively) ignore
/// the case of names. A prefix is lower case, so the two cannot both exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_table_prefixes_differing_in_case_cannot_share_tables() {
    let db = sqlite_file().await;
    let upper = db.dbs.clone().with_table_prefix("Acme");
    assert!(
        matches!(upper, Err(gludb::Error::InvalidName { .. })),
        "an upper-case prefix is refused: {:?}",
        upper.err()
    );
    let acme = db.dbs.clone().with_table_prefix("acme").unwrap();
    let other = db.dbs.clone().with_table_prefix("acme2").unwrap();
    SimpleData::ensure_table(&acme).await.unwrap();
    SimpleData::ensure_table(&other).await.unwrap();
    let mut secret = SimpleData {
        name: "Acme's customer".into(),
        ..Default::default()
    };
    secret.save(&acme).await.unwrap();
    assert!(
        SimpleData::find_one(&other, &secret.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        SimpleData::find_one(&acme, &secret.id)
            .await
            .unwrap()
            .is_some()
    );
}

/// Holds: a prefix that makes names too long or `sqlite_` is refused, and
/// the prefixed name is checked when the table is resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_table_prefix_rules() {
    let dbs = Databases::new(Sqlite::open_in_memory().await.unwrap());
    for bad in ["sqlite", "SQLite", "sqlite_x", "", "1a", "a-b", "a;b"] {
        assert!(dbs.clone().with_table_prefix(bad).is_err(), "{bad:?}");
    }
    let long = dbs.clone().with_table_prefix("p".repeat(53)).unwrap();
    let err = SimpleData::ensure_table(&long).await.unwrap_err();
    assert!(
        matches!(err, gludb::Error::InvalidName { kind: "table", .. }),
        "{err}"
    );
    let mut d = SimpleData::default();
    assert!(d.save(&long).await.is_err());
    let err = dbs.clone().with_table_prefix("p".repeat(63)).unwrap_err();
    assert!(matches!(err, gludb::Error::InvalidName { .. }), "{err}");
}

// ---------------------------------------------------------------------------
// Records and their keys
// ---------------------------------------------------------------------------

/// Holds: `#[serde(rename_all = ...)]` on the struct cannot put a field on
/// gludb's own keys (serde's field rules leave `_Last_Update` as it is for
/// `lowercase`/`snake_case`; no rule maps another name onto `_last_update`),
/// though the derive looks at field-level `rename`/`alias` only.
#[derive(Storable, serde::Serialize, serde::Deserialize, Debug, Default)]
#[gludb(table = "RenameAllTest")]
#[serde(rename_all = "lowercase")]
#[allow(non_snake_case)]
struct RenameAll {
    id: String,
    _Last_Update: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_rename_all_cannot_put_a_field_on_a_timestamp_key() {
    let dbs = Databases::new(Sqlite::open_in_memory().await.unwrap());
    RenameAll::ensure_table(&dbs).await.unwrap();
    let mut value = RenameAll {
        id: String::new(),
        _Last_Update: "the user's own value".into(),
    };
    value.save(&dbs).await.unwrap();
    let stored = RenameAll::find_one(&dbs, &value.id).await.unwrap().unwrap();
    assert_eq!(
        stored._Last_Update, "the user's own value",
        "the value was replaced by gludb's timestamp without a word"
    );
}

/// Holds: `RecordMeta` reads the original GLUDB's timestamps (no fraction,
/// Python's `isoformat`) and is `None` for missing or garbage keys.
#[test]
fn holds_record_meta_of_original_and_odd_records() {
    use gludb::RecordMeta;
    let original = RecordMeta::of_json(
        r#"{"id":"a","_create_date":"UTC:2015-01-02T03:04:05","_last_update":"UTC:2015-01-02T03:04:05.000001"}"#,
    );
    assert_eq!(
        original.created,
        Some(time::macros::datetime!(2015-01-02 03:04:05 UTC))
    );
    assert!(original.last_update.is_some());
    for json in [
        r#"{"id":"a"}"#,
        r#"{"id":"a","_create_date":null,"_last_update":7}"#,
        r#"{"id":"a","_create_date":"UTC:2015-13-45T99:00:00"}"#,
        r#"{"id":"a","_create_date":"UTC:2015-01-02T03:04:60"}"#,
        r#"{"id":"a","_create_date":"UTC:"}"#,
        r#"["not", "an", "object"]"#,
        "",
        "{",
    ] {
        assert_eq!(RecordMeta::of_json(json).created, None, "{json}");
    }
}

/// Holds: `Retention` from JSON refuses unknown fields, negative and
/// oversized numbers; an empty policy deserializes but prune refuses it as
/// `InvalidOption`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_retention_from_json() {
    for bad in [
        r#"{"last": 3, "weekly": 4}"#,
        r#"{"last": -1}"#,
        r#"{"last": 1.5}"#,
        r#"{"last": 18446744073709551616}"#,
        r#"{"last": null}"#,
        r#"{"Last": 3}"#,
    ] {
        assert!(serde_json::from_str::<Retention>(bad).is_err(), "{bad}");
    }
    let empty: Retention = serde_json::from_str("{}").unwrap();
    let store = BackupStore::from_url("memory://review2-retention").unwrap();
    let err = store.prune_set("Backup", &empty).await.unwrap_err();
    assert!(matches!(err, BackupError::InvalidOption { .. }), "{err}");
    let huge: Retention = serde_json::from_str(r#"{"daily": 18446744073709551615}"#).unwrap();
    store.prune_set("Backup", &huge).await.unwrap();
}

/// A big `u64` saved twice: the second save goes through SQLite's
/// `json_set` (to keep `_create_date`). If SQLite rewrote the number, the
/// record would no longer decode.
#[derive(Storable, serde::Serialize, serde::Deserialize, Debug, Default, PartialEq)]
#[gludb(table = "BigNumberTest")]
struct BigNumber {
    id: String,
    big: u64,
    small: i64,
    float: f64,
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_second_save_keeps_values_readable() {
    let dbs = Databases::new(Sqlite::open_in_memory().await.unwrap());
    BigNumber::ensure_table(&dbs).await.unwrap();
    let mut value = BigNumber {
        id: String::new(),
        big: u64::MAX,
        small: i64::MIN,
        float: 1.0e308,
        text: "\u{0}\u{2028}\"\\/\u{1F600}".into(),
    };
    value.save(&dbs).await.unwrap();
    value.save(&dbs).await.unwrap();
    let stored = BigNumber::find_one(&dbs, &value.id).await.unwrap().unwrap();
    assert_eq!(stored, value);
}

/// Holds: the run history never keeps a record `Running` after a set
/// finishes through `Backup::on`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_history_of_runs_on_a_store() {
    let db = seeded().await;
    let store = BackupStore::from_url("memory://review2-history").unwrap();
    Backup::on(&store)
        .with_class::<SimpleData>()
        .run_backup(&db.dbs)
        .await
        .unwrap();
    let mut excluded = Backup::on(&store);
    excluded.add_class_with::<InheritedData>(Bases::Exclude);
    excluded.run_backup(&db.dbs).await.unwrap();
    for run in history(&db.dbs).await {
        assert!(run.status != BackupStatus::Running, "{run:?}");
    }
}

/// Two `InMemory` stores describe themselves alike (`InMemory`), and the
/// second may even get the first's address: a fresh, empty store must not
/// inherit the schedule of the old one. `run_if_due` runs when the last
/// completed run's archive is not in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_new_empty_store_described_alike_is_due() {
    let db = seeded().await;
    let first: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    {
        let store = BackupStore::from_object_store(first, "");
        let ran = Backup::on(&store)
            .with_class::<SimpleData>()
            .run_if_due(&db.dbs, Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(ran.is_some());
    }
    // The service reconfigures its store: a new, empty one (which may even
    // get the first one's address).
    let second: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = BackupStore::from_object_store(second, "");
    let ran = Backup::on(&store)
        .with_class::<SimpleData>()
        .run_if_due(&db.dbs, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        ran.is_some(),
        "the new store holds no backup, yet the set is 'not due': {:?}",
        store.list().await.unwrap()
    );
}

/// `abfss://<container>@<account>.dfs.core.windows.net/...` names the
/// container in the user part of the URL, which gludb strips from every
/// destination as a credential. Two containers of one account are then one
/// destination: shown alike, and one set (identity = description): a run
/// into one container makes the other `AlreadyRunning` (and they share
/// `run_if_due`'s schedule and `TableGone`'s memory, as two S3 servers did
/// before the previous review).
#[cfg(feature = "azure")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_abfss_containers_of_one_account_are_distinct() {
    let db = seeded().await;
    let at = |container: &str| {
        Destination::from_url(&format!(
            "abfss://{container}@gludbacct.dfs.core.windows.net/daily"
        ))
        .unwrap()
        .with_s3_option("azure_storage_account_key", "a2V5")
    };
    let (orders, audit) = (at("orders"), at("audit"));
    let shown = (orders.to_string(), audit.to_string());
    let one = Backup::at(orders).with_class::<SimpleData>();
    let other = Backup::at(audit).with_class::<SimpleData>();
    let running = one.start(&db.dbs).unwrap();
    let second = other.start(&db.dbs);
    running.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(60), running.wait()).await;
    let second_error = second.as_ref().err().map(ToString::to_string);
    if let Ok(second) = second {
        second.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(60), second.wait()).await;
    }
    assert!(
        shown.0 != shown.1 && second_error.is_none(),
        "containers `orders` and `audit` shown as {shown:?}; starting a backup into `audit` \
         while one into `orders` runs: {second_error:?}"
    );
}

/// Holds: hostile keys and prefixes are errors (or nothing), never panics,
/// and never reach outside a `file://` directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_hostile_keys_and_prefixes_do_not_panic() {
    let db = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.tar.gz");
    std::fs::write(&outside, b"not a backup").unwrap();
    let inner = dir.path().join("inner");
    let long = "k".repeat(10_000);
    for prefix in [
        "\0", "..", ".", "a/../..", "%", "a\\b", "#1", "\n", "/", "//a//",
    ] {
        let store = BackupStore::from_object_store(service_store(dir.path()), prefix);
        let _ = Backup::on(&store)
            .with_class::<SimpleData>()
            .run_backup(&db.dbs)
            .await;
        let _ = store.list().await;
    }
    std::fs::create_dir_all(&inner).unwrap();
    let store = BackupStore::from_url(&file_url(&inner)).unwrap();
    let restore = Restore::on(&store);
    for key in [
        "",
        "/",
        "..",
        "../outside.tar.gz",
        "%2E%2E/outside.tar.gz",
        "a/../../outside.tar.gz",
        "\0",
        "%",
        "Backup_UTC_.tar.gz",
        long.as_str(),
    ] {
        assert!(store.stat(key).await.is_err(), "{key:?}");
        assert!(restore.verify(key).await.is_err(), "{key:?}");
        assert!(restore.restore(key, &db.dbs).await.is_err(), "{key:?}");
    }
    assert!(outside.exists());
}
