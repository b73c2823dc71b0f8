//! Backups and restores with PostgreSQL, against real parts only: a
//! throwaway PostgreSQL cluster from the testkit, the in-process S3 server,
//! SQLite files and in-memory databases.
//!
//! * one snapshot per backup while a writer keeps committing,
//! * mixed mappings (some types in SQLite, others in PostgreSQL),
//! * SQLite → backup → PostgreSQL → backup again gives the same records,
//! * the server stopped in the middle of a backup.
//!
//! Every test gets a fresh database on the cluster shared by this test
//! binary, except the one that stops the server, which starts its own.
//! Without PostgreSQL they print `SKIPPED` and pass, except when `CI=true`,
//! where they fail (see `tests/common/pg.rs`).

#[path = "../backup/models.rs"]
mod models;
#[path = "../common/pg.rs"]
mod pg;
#[path = "../backup/support.rs"]
mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use gludb::{
    Backend, Databases, Error, RestoreMode, Row, Storable,
    backup::{Backup, BackupError, BackupHistory, BackupStatus, Bases, Restore, archive::Manifest},
    postgres::Postgres,
    sqlite::Sqlite,
};
use models::*;
use pg::{create_database, loud, own_cluster, shared_cluster, shared_database};
use serde::{Deserialize, Serialize};
use support::*;

// ---------------------------------------------------------------------------
// PostgreSQL for a test, or a loud skip.
// ---------------------------------------------------------------------------

/// A fresh database on the shared cluster, connected.
async fn shared_postgres(test: &str) -> Option<Postgres> {
    let url = shared_database(test).await?;
    Some(
        Postgres::connect(&url)
            .await
            .expect("connect to PostgreSQL"),
    )
}

// ---------------------------------------------------------------------------
// Shared helpers.
// ---------------------------------------------------------------------------

async fn memory_sqlite() -> Sqlite {
    Sqlite::open_in_memory().await.unwrap()
}

/// The archive's members by name, checked against its manifest (last
/// member): record counts, byte sizes and SHA-256 of every member.
fn checked_members(gz: &[u8]) -> (BTreeMap<String, Vec<u8>>, Manifest) {
    let mut members = read_archive(gz);
    let (name, manifest) = members.pop().expect("a manifest");
    assert_eq!(name, "gludb-manifest.json");
    let manifest: Manifest = serde_json::from_slice(&manifest).unwrap();
    assert_manifest_matches(&manifest, &members);
    (members.into_iter().collect(), manifest)
}

/// Writes `rows` into `table` of `db` in one restore transaction (much
/// faster than one save per record).
async fn write_rows(db: &dyn Backend, spec: &gludb::TableSpec, rows: Vec<Row>) {
    let mut tx = db.begin_restore().await.unwrap();
    tx.ensure_table(spec).await.unwrap();
    let n = rows.len() as u64;
    assert_eq!(
        tx.write(spec, rows, RestoreMode::Overwrite).await.unwrap(),
        n
    );
    tx.commit().await.unwrap();
}

/// The backup test classes, with text that must survive every hop byte for
/// byte: non-ASCII, escapes, control characters.
async fn seed(dbs: &Databases) {
    ensure_related_tables(dbs).await;
    save_simple_records(dbs, 120, |i| {
        if i % 5 == 0 {
            "Zoë 🦀 \"quoted\" 中文\nline two\r\n\ttab \\ backslash \u{1} \u{7f}".into()
        } else {
            "plain".into()
        }
    })
    .await;
    for i in 0..60 {
        ComplexData {
            name: format!("complex{i}"),
            complex_data: vec![("a".into(), i), ("ü\"b".into(), -i), ("".into(), i64::MIN)],
            ..Default::default()
        }
        .save(dbs)
        .await
        .unwrap();
    }
    for i in 0..30 {
        InheritedData {
            only_inherited: i * 1_000_000_007,
            ..Default::default()
        }
        .save(dbs)
        .await
        .unwrap();
    }
}

const CLASSES: [(&str, &str); 3] = [
    ("InheritedData--InheritedTest", "InheritedTest"),
    ("SimpleData--SimpleTest", "SimpleTest"),
    ("ComplexData--ComplexTest", "ComplexTest"),
];

// ---------------------------------------------------------------------------
// 1. One snapshot while a writer keeps committing.
// ---------------------------------------------------------------------------

/// Two tables written together: every writer transaction touches both.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "PairLeft")]
struct PairLeft {
    id: String,
    seq: u64,
    touched: u64,
    pad: String,
}

#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "PairRight")]
struct PairRight {
    id: String,
    seq: u64,
    touched: u64,
    pad: String,
}

/// Seeded rows per table, `seed-00000` ...
const PAIR_SEED: u64 = 3000;

fn pair_row(id: String, seq: u64, touched: u64) -> Row {
    let value = format!(
        r#"{{"id":"{id}","seq":{seq},"touched":{touched},"pad":"{}"}}"#,
        "p".repeat(200)
    );
    Row {
        id,
        value,
        index_values: Vec::new(),
    }
}

fn seed_id(i: u64) -> String {
    format!("seed-{i:05}")
}

/// What both tables hold once writer transactions `1..=n` have committed:
/// (seq, touched) by id.
fn pair_state(n: u64) -> BTreeMap<String, (u64, u64)> {
    let mut state: BTreeMap<String, (u64, u64)> =
        (0..PAIR_SEED).map(|i| (seed_id(i), (0, 0))).collect();
    for k in 1..=n {
        state.insert(format!("new-{k:08}"), (k, k));
        state.insert(seed_id(k % PAIR_SEED), (0, k));
    }
    state
}

fn parse_pairs(member: &[u8]) -> BTreeMap<String, (u64, u64)> {
    lines_by_id(member)
        .into_iter()
        .map(|(id, line)| {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let (seq, touched) = (v["seq"].as_u64().unwrap(), v["touched"].as_u64().unwrap());
            (id, (seq, touched))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_reads_one_snapshot_while_a_writer_commits() {
    let Some(db) = shared_postgres("backup_reads_one_snapshot_while_a_writer_commits").await else {
        return;
    };
    let dbs = Databases::new(db.clone());
    let left = dbs.table_spec(PairLeft::type_info()).unwrap();
    let right = dbs.table_spec(PairRight::type_info()).unwrap();
    for spec in [&left, &right] {
        let rows = (0..PAIR_SEED).map(|i| pair_row(seed_id(i), 0, 0)).collect();
        write_rows(&db, spec, rows).await;
    }

    // Transaction k inserts `new-k` into both tables and updates the seed
    // row k % PAIR_SEED of both: a backup that read the two tables at
    // different moments would see them disagree.
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, committed) = (db.clone(), stop.clone(), committed.clone());
        let (left, right) = (left.clone(), right.clone());
        tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                k += 1;
                let mut tx = db.begin_restore().await.unwrap();
                for spec in [&left, &right] {
                    let rows = vec![
                        pair_row(format!("new-{k:08}"), k, k),
                        pair_row(seed_id(k % PAIR_SEED), 0, k),
                    ];
                    tx.write(spec, rows, RestoreMode::Overwrite).await.unwrap();
                }
                tx.commit().await.unwrap();
                committed.store(k, Ordering::SeqCst);
            }
            k
        })
    };
    while committed.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let server = s3_server();
    let mut backup = s3_backup(&server, SECRET_KEY);
    backup.add_class::<PairLeft>();
    backup.add_class::<PairRight>();
    let before = committed.load(Ordering::SeqCst);
    let t = Instant::now();
    let report = backup.run_backup(&dbs).await.expect("backup");
    let elapsed = t.elapsed();
    let after = committed.load(Ordering::SeqCst);
    // Let the writer commit at least once more after the backup returned.
    while committed.load(Ordering::SeqCst) < after + 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let last = writer.await.unwrap();

    let gz = std::fs::read(server.object_path(&report.key)).unwrap();
    let (members, manifest) = checked_members(&gz);
    let archived_left = parse_pairs(&members["PairLeft--PairLeft.json"]);
    let archived_right = parse_pairs(&members["PairRight--PairRight.json"]);
    let n = archived_left
        .keys()
        .filter(|id| id.starts_with("new-"))
        .count() as u64;
    loud(&format!(
        "snapshot backup: {elapsed:?}, {} commits while it ran, archive as of commit {n} \
         (committed before: {before}, after: {after}, last: {last})",
        after - before
    ));
    // Exactly the state after commit n, in both tables: n is a single point
    // in time, within the backup's run, and nothing written later is in.
    assert_eq!(archived_left, pair_state(n), "PairLeft as of commit {n}");
    assert_eq!(archived_right, pair_state(n), "PairRight as of commit {n}");
    assert!(
        (before..=after + 1).contains(&n),
        "commit {n} is not within the backup's run ({before}..={})",
        after + 1
    );
    assert!(n < last, "rows committed after the backup are absent");
    // Hundreds of commits land while a backup of this size reads (one
    // every millisecond or two, for hundreds of milliseconds): the two
    // tables really were read while they changed.
    assert!(n < after, "no commit landed while the backup was reading");
    assert_eq!(
        record_counts(&report),
        [
            ("PairLeft--PairLeft", PAIR_SEED + n),
            ("PairRight--PairRight", PAIR_SEED + n)
        ]
    );
    assert!(manifest.members.iter().all(|m| m.records == PAIR_SEED + n));
    // The database itself moved on.
    let stored = rows_of(&db, "PairLeft").await.unwrap();
    assert_eq!(stored.len() as u64, PAIR_SEED + last);
}

// ---------------------------------------------------------------------------
// 2. Mixed mappings.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_sqlite_and_postgres_back_up_together_and_restore_to_their_databases() {
    let Some(cluster) = shared_cluster("mixed_sqlite_and_postgres_back_up_together").await else {
        return;
    };
    let source_pg = Postgres::connect(&create_database(cluster, "mixed_source"))
        .await
        .unwrap();
    let source_sqlite = sqlite_file().await;
    // ComplexData in PostgreSQL; InheritedData (bases SimpleData, ComplexData)
    // follows its first mapped base along the MRO, so PostgreSQL too;
    // SimpleData and BackupHistory stay in the default, SQLite.
    let source = source_sqlite
        .dbs
        .clone()
        .map::<ComplexData>(source_pg.clone());
    seed(&source).await;
    let sqlite_db = source.default_database().unwrap().clone();
    let in_sqlite = |table: &str| table == "SimpleTest";
    for (_, table) in CLASSES {
        let (home, other): (&dyn Backend, &dyn Backend) = if in_sqlite(table) {
            (sqlite_db.as_ref(), &source_pg)
        } else {
            (&source_pg, sqlite_db.as_ref())
        };
        assert!(
            rows_of(home, table).await.is_some(),
            "{table} in {}",
            home.describe()
        );
        assert!(
            rows_of(other, table).await.is_none(),
            "{table} not in {}",
            other.describe()
        );
    }

    let server = s3_server();
    let mut backup = s3_backup(&server, SECRET_KEY);
    assert_eq!(backup.add_class::<InheritedData>(), 3);
    let report = backup.run_backup(&source).await.expect("backup");
    assert_eq!(
        record_counts(&report),
        [
            ("InheritedData--InheritedTest", 30),
            ("SimpleData--SimpleTest", 120),
            ("ComplexData--ComplexTest", 60)
        ]
    );
    let gz = std::fs::read(server.object_path(&report.key)).unwrap();
    let (members, _) = checked_members(&gz);
    let mut source_rows = BTreeMap::new();
    for (class, table) in CLASSES {
        let home: &dyn Backend = if in_sqlite(table) {
            sqlite_db.as_ref()
        } else {
            &source_pg
        };
        let rows = rows_of(home, table).await.unwrap();
        // Every record of both databases, verbatim.
        assert_eq!(
            lines_by_id(&members[&format!("{class}.json")]),
            rows,
            "{class}"
        );
        source_rows.insert(table, rows);
    }
    // The history went to the default database, SQLite.
    let runs = history(&source).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, BackupStatus::Completed);
    assert!(rows_of(&source_pg, "BackupHistory").await.is_none());

    // Restore into a fresh mixed pair.
    let target_pg = Postgres::connect(&create_database(cluster, "mixed_target"))
        .await
        .unwrap();
    let target_sqlite = memory_sqlite().await;
    let target = Databases::new(target_sqlite.clone()).map::<ComplexData>(target_pg.clone());
    let restored = s3_restore(&server, SECRET_KEY)
        .restore(&report.key, &target)
        .await
        .expect("restore");
    let written: Vec<_> = restored
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.written))
        .collect();
    assert_eq!(
        written,
        [
            ("InheritedData--InheritedTest", 30),
            ("SimpleData--SimpleTest", 120),
            ("ComplexData--ComplexTest", 60)
        ]
    );
    for (_, table) in CLASSES {
        let (home, other): (&dyn Backend, &dyn Backend) = if in_sqlite(table) {
            (&target_sqlite, &target_pg)
        } else {
            (&target_pg, &target_sqlite)
        };
        assert_eq!(
            rows_of(home, table).await.as_ref(),
            Some(&source_rows[table]),
            "{table} restored byte for byte into {}",
            home.describe()
        );
        assert_eq!(
            rows_of(other, table).await,
            None,
            "{table} not created in {}",
            other.describe()
        );
    }
    // Indexes were restored too, in the right database.
    let found = SimpleData::find_by_index(&target, "reversed_name", "7emaN")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].age, 7);
    let some_complex = source_rows["ComplexTest"].keys().next().unwrap();
    let complex = target_pg
        .find_one(&gludb::TableName::new("ComplexTest").unwrap(), some_complex)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(complex.value, source_rows["ComplexTest"][some_complex]);
}

// ---------------------------------------------------------------------------
// 3. SQLite → backup → PostgreSQL → backup again.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_round_trip_keeps_every_record() {
    let Some(pg) = shared_postgres("sqlite_to_postgres_round_trip_keeps_every_record").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let source = sqlite_file().await;
    seed(&source.dbs).await;
    let mut backup = Backup::from_url(&url).unwrap();
    backup.add_class::<InheritedData>();
    let first = backup.run_backup(&source.dbs).await.expect("SQLite backup");

    let target = Databases::new(pg.clone());
    let restored = Restore::from_url(&url)
        .unwrap()
        .restore(&first.key, &target)
        .await
        .expect("restore into PostgreSQL");
    assert!(restored.classes.iter().all(|c| c.written == c.records));
    let second = backup.run_backup(&target).await.expect("PostgreSQL backup");
    assert_ne!(first.key, second.key);

    let (a, manifest_a) = checked_members(&std::fs::read(dir.path().join(&first.key)).unwrap());
    let (b, manifest_b) = checked_members(&std::fs::read(dir.path().join(&second.key)).unwrap());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert_eq!(a.len(), 3);
    for (class, table) in CLASSES {
        let member = format!("{class}.json");
        let (lines_a, lines_b) = (lines_by_id(&a[&member]), lines_by_id(&b[&member]));
        assert!(!lines_a.is_empty());
        assert_eq!(
            lines_a.keys().collect::<Vec<_>>(),
            lines_b.keys().collect::<Vec<_>>(),
            "{class}: the same ids"
        );
        for (id, line) in &lines_a {
            let (va, vb): (serde_json::Value, serde_json::Value) = (
                serde_json::from_str(line).unwrap(),
                serde_json::from_str(&lines_b[id]).unwrap(),
            );
            assert_eq!(va, vb, "{class} {id}: semantically equal");
        }
        // Stronger, and it holds: the PostgreSQL backend stores `json`
        // (not `jsonb`, which would reorder keys and respace), restore
        // writes each archived line verbatim, and the snapshot reads
        // `value::text` back verbatim, so every record is byte-identical.
        assert_eq!(lines_a, lines_b, "{class}: byte-identical records");
        assert_eq!(
            rows_of(&pg, table).await.unwrap(),
            rows_of(source.dbs.default_database().unwrap().as_ref(), table)
                .await
                .unwrap(),
            "{table}: stored values identical in both databases"
        );
    }
    // Same counts and sizes (hashes depend on the row order, which is
    // storage order in both backends, so they are not compared).
    let sizes = |m: &Manifest| -> Vec<(String, u64, u64)> {
        m.members
            .iter()
            .map(|e| (e.name.clone(), e.records, e.bytes))
            .collect()
    };
    assert_eq!(sizes(&manifest_a), sizes(&manifest_b));
    assert_eq!(record_counts(&first), record_counts(&second));
}

// ---------------------------------------------------------------------------
// 4. The server stops in the middle of a backup.
// ---------------------------------------------------------------------------

/// Many small records, read one per round trip: a tail that keeps the
/// backup reading from PostgreSQL for a second or more.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "TickTest")]
struct Tick {
    id: String,
    n: u64,
}

/// 256 KiB records of barely compressible text: 16 MiB, about 12 MiB of
/// gzip. The first 5 MiB part is uploaded while they are read, whatever
/// the pipeline buffers between reading and uploading (bounded, a few MiB).
const BLOBS: u64 = 64;
const TICKS: u64 = 200_000;

/// Whether the backup's snapshot is reading `table` right now: its
/// connection's last statement is the table's full read, and its
/// transaction is still open. (gludb creates tables in lower case, as
/// unquoted SQL names them.)
async fn snapshot_reading(observer: &tokio_postgres::Client, table: &str) -> bool {
    let query = format!(
        "COPY (SELECT id::text, value::text FROM \"{}\") TO STDOUT (FORMAT binary)",
        table.to_ascii_lowercase()
    );
    let reading: i64 = observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND query = $1 AND state IN ('active', 'idle in transaction')",
            &[&query],
        )
        .await
        .unwrap()
        .get(0);
    reading > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_backup_aborts_the_upload_and_the_next_backup_works() {
    let Some(cluster) = own_cluster("server_stopped_mid_backup_aborts_the_upload").await else {
        return;
    };
    let url = create_database(&cluster, "stopped_mid_backup");
    let pg = Postgres::connect(&url).await.unwrap();
    // The history goes to SQLite, which stays reachable.
    let history_db = memory_sqlite().await;
    let dbs = Databases::new(pg.clone()).map::<BackupHistory>(history_db);

    let blobs = dbs.table_spec(BlobData::type_info()).unwrap();
    let rows = (0..BLOBS)
        .map(|i| {
            let id = format!("blob-{i:04}");
            let value = format!(r#"{{"id":"{id}","noise":"{}"}}"#, noise(i, 256 * 1024));
            Row {
                id,
                value,
                index_values: Vec::new(),
            }
        })
        .collect();
    write_rows(&pg, &blobs, rows).await;
    let ticks = dbs.table_spec(Tick::type_info()).unwrap();
    let rows = (0..TICKS)
        .map(|n| {
            let id = format!("tick-{n:08}");
            Row {
                value: format!(r#"{{"id":"{id}","n":{n}}}"#),
                id,
                index_values: Vec::new(),
            }
        })
        .collect();
    write_rows(&pg, &ticks, rows).await;

    let server = s3_server();
    // The ticks are read slowly (a pause per batch of lines, holding the
    // `COPY` open), so the server surely stops in the middle of them.
    let mut backup = s3_backup(&server, SECRET_KEY)
        .with_part_size(5 * 1024 * 1024)
        .with_compression_level(1)
        .with_progress(|progress| {
            if progress.class.contains("Tick") {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    backup.add_class::<BlobData>();
    backup.add_class::<Tick>();
    let observer = {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("observer connection");
        tokio::spawn(connection);
        client
    };
    let t = Instant::now();
    let running = {
        let (backup, dbs) = (backup.clone(), dbs.clone());
        tokio::spawn(async move { backup.run_backup(&dbs).await })
    };
    // Stop the server once (a) a part of the multipart upload is stored
    // and (b) the snapshot is reading the ticks, with dozens of paused
    // batches still to come: surely in the middle of the stream.
    let mut first_part = None;
    loop {
        if first_part.is_none() && server.orphaned_parts().iter().any(|f| f.contains(".part-")) {
            first_part = Some(t.elapsed());
        }
        if first_part.is_some() && snapshot_reading(&observer, "TickTest").await {
            break;
        }
        assert!(
            !running.is_finished(),
            "the backup ended before the server was stopped (first part: {first_part:?}): {:?}",
            running.await.unwrap().map(|r| r.archive_bytes)
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no part was uploaded or the ticks were never read"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let reading_ticks = t.elapsed();
    drop(observer);
    tokio::task::block_in_place(|| cluster.stop_server()).unwrap();
    let stopped = t.elapsed();
    let err = running
        .await
        .unwrap()
        .expect_err("the backup cannot succeed without its server");
    loud(&format!(
        "first part after {first_part:?}, reading the ticks at {reading_ticks:?}, server \
         stopped after {stopped:?}, backup failed after {:?}: {err}",
        t.elapsed()
    ));
    assert!(
        matches!(
            err,
            BackupError::Database(Error::Backend {
                backend: "PostgreSQL",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(server.objects().is_empty(), "{:?}", server.objects());
    assert!(
        server.orphaned_parts().is_empty(),
        "the upload was aborted: {:?}",
        server.orphaned_parts()
    );
    let runs = history(&dbs).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, BackupStatus::Failed);
    assert_eq!(runs[0].error.as_deref(), Some(err.to_string().as_str()));
    assert!(
        runs[0]
            .backup_log
            .iter()
            .any(|l| l.starts_with("Backup failed")),
        "{:?}",
        runs[0].backup_log
    );

    // Server back: the same backup, on the same pool, reconnects and completes.
    tokio::task::block_in_place(|| cluster.start_server()).unwrap();
    let t = Instant::now();
    let report = backup.run_backup(&dbs).await.expect("backup after restart");
    loud(&format!("backup after the restart: {:?}", t.elapsed()));
    assert_eq!(
        record_counts(&report),
        [("BlobData--BlobTest", BLOBS), ("Tick--TickTest", TICKS)]
    );
    assert_eq!(server.objects(), std::slice::from_ref(&report.key));
    assert!(server.orphaned_parts().is_empty());
    let (members, _) = checked_members(&std::fs::read(server.object_path(&report.key)).unwrap());
    let blob_ids: BTreeSet<String> = lines_by_id(&members["BlobData--BlobTest.json"])
        .into_keys()
        .collect();
    assert_eq!(
        blob_ids,
        (0..BLOBS).map(|i| format!("blob-{i:04}")).collect()
    );
    assert_eq!(
        lines_by_id(&members["Tick--TickTest.json"]).len() as u64,
        TICKS
    );
    let runs = history(&dbs).await;
    let statuses: BTreeSet<_> = runs.iter().map(|r| format!("{:?}", r.status)).collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["Completed".into(), "Failed".into()])
    );
}

/// A restore into SQLite and PostgreSQL whose PostgreSQL commit fails (a
/// deferred constraint only checked at commit) says which database was
/// committed, and leaves the other rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_in_a_multi_database_restore_names_what_was_committed() {
    let Some(cluster) = shared_cluster("a_failed_commit_in_a_multi_database_restore").await else {
        return;
    };
    let source = sqlite_file().await;
    seed(&source.dbs).await;
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let mut backup = Backup::from_url(&url).unwrap();
    backup.add_class_with::<SimpleData>(Bases::Exclude);
    backup.add_class_with::<ComplexData>(Bases::Exclude);
    let key = backup.run_backup(&source.dbs).await.unwrap().key;

    let pg_url = create_database(cluster, "partial_restore");
    let pg = Postgres::connect(&pg_url).await.unwrap();
    let sqlite = memory_sqlite().await;
    let target = Databases::new(sqlite.clone()).map::<ComplexData>(pg.clone());
    ComplexData::ensure_table(&target).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&pg_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE parent (id text PRIMARY KEY);
             ALTER TABLE complextest ADD CONSTRAINT needs_parent FOREIGN KEY (id)
                 REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED;",
        )
        .await
        .unwrap();

    let err = Restore::from_url(&url)
        .unwrap()
        .restore(&key, &target)
        .await
        .unwrap_err();
    match &err {
        BackupError::PartialRestore {
            committed, failed, ..
        } => {
            assert_eq!(committed, &[sqlite.describe()]);
            assert_eq!(failed, &pg.describe());
        }
        other => panic!("expected a partial restore, got {other}"),
    }
    assert!(err.to_string().contains("committed"), "{err}");
    assert_eq!(
        rows_of(&sqlite, "SimpleTest").await.unwrap().len(),
        rows_of(
            source.dbs.default_database().unwrap().as_ref(),
            "SimpleTest"
        )
        .await
        .unwrap()
        .len(),
        "the committed database holds the restored records"
    );
    assert!(
        rows_of(&pg, "ComplexTest").await.unwrap().is_empty(),
        "the failed one was rolled back"
    );
}
