//! Hostile review scratch tests (PostgreSQL COPY paths). Not part of the suite.

#[path = "backup/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "common/pg.rs"]
mod pg;
#[path = "backup/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gludb::{Backend, Databases, RestoreMode, Row, Storable, backup::Restore, postgres::Postgres};
use pg::*;
use serde::{Deserialize, Serialize};
use support::*;

#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "RvBig")]
struct Big {
    id: String,
    pad: String,
}

#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "RvWeird", indexes(tag))]
struct Weird {
    id: String,
    text: String,
    tag: String,
}

impl Weird {
    fn tag(&self) -> String {
        self.tag.clone()
    }
}

async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(connection);
    client
}

/// `n` Big records of `pad` bytes each, written with one Overwrite restore.
async fn fill_big(db: &Postgres, dbs: &Databases, n: usize, pad: usize) {
    Big::ensure_table(dbs).await.unwrap();
    let spec = dbs.table_spec(Big::type_info()).unwrap();
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let id = format!("{:032x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let value = format!(r#"{{"id":"{id}","pad":"{}"}}"#, "x".repeat(pad));
            Row {
                id,
                value,
                index_values: vec![],
            }
        })
        .collect();
    let mut tx = db.begin_restore().await.unwrap();
    tx.write(&spec, rows, RestoreMode::Overwrite).await.unwrap();
    tx.commit().await.unwrap();
}

async fn activity(raw: &tokio_postgres::Client) -> Vec<String> {
    raw.query(
        "SELECT coalesce(state,'') || ' | ' || left(query, 80) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// A records stream dropped in the middle of a big table: the COPY is
/// cancelled mid-stream; the snapshot should end promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_drop_records_mid_copy_of_big_table() {
    let Some(url) = shared_database("rv_drop_mid").await else {
        return;
    };
    let db = Postgres::builder(&url)
        .pool_size(2)
        .connect()
        .await
        .unwrap();
    let dbs = Databases::new(db.clone());
    fill_big(&db, &dbs, 3000, 10_000).await; // ~30 MB
    let raw = raw_client(&url).await;
    let table = gludb::TableName::new("RvBig").unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    let mut batches = snapshot.records(&table);
    batches.next().await.unwrap().unwrap();
    drop(batches);
    let t = Instant::now();
    let after = tokio::time::timeout(Duration::from_secs(20), snapshot.table_stats(&table)).await;
    eprintln!(
        "RV after drop: {:?} in {:?}",
        after
            .as_ref()
            .map(|r| r.as_ref().map_err(|e| e.to_string())),
        t.elapsed()
    );
    eprintln!("RV activity: {:#?}", activity(&raw).await);
    if after.is_err() {
        eprintln!("RV FINDING: snapshot request hangs after dropping a records stream mid-COPY");
        // The stuck task would keep the runtime from shutting down.
        std::process::exit(1);
    }
}

/// A records stream dropped just after its first batch of a table slightly
/// over one batch: the cancel may land after the COPY has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_cancel_race_hits_next_pool_user() {
    let Some(url) = shared_database("rv_cancel_race").await else {
        return;
    };
    let db = Postgres::builder(&url)
        .pool_size(1)
        .connect()
        .await
        .unwrap();
    let dbs = Databases::new(db.clone());
    fill_big(&db, &dbs, 30, 10_000).await; // ~300 KB: two batches
    // Another table the "application" reads right after.
    fill_other(&db, &dbs).await;
    let table = gludb::TableName::new("RvBig").unwrap();
    let mut errors = Vec::new();
    for i in 0..60 {
        let mut snapshot = db.snapshot().await.unwrap();
        let mut batches = snapshot.records(&table);
        batches.next().await.unwrap().unwrap();
        drop(batches);
        drop(snapshot);
        // The application's next requests on the pool.
        for _ in 0..5 {
            let t = Instant::now();
            let found = tokio::time::timeout(
                Duration::from_secs(20),
                futures_util::TryStreamExt::try_collect::<Vec<_>>(Weird::find_all(&dbs)),
            )
            .await;
            match found {
                Err(_) => {
                    eprintln!("RV iteration {i}: find_all HANGS");
                    std::process::exit(1);
                }
                Ok(Err(e)) => errors.push(format!("iteration {i} after {:?}: {e}", t.elapsed())),
                Ok(Ok(_)) => {}
            }
        }
    }
    eprintln!("RV errors seen by the app: {}: {errors:#?}", errors.len());
}

async fn fill_other(_db: &Postgres, dbs: &Databases) {
    Weird::ensure_table(dbs).await.unwrap();
    for i in 0..2000 {
        Weird {
            id: String::new(),
            text: format!("text {i} {}", "y".repeat(200)),
            tag: "t".into(),
        }
        .save(dbs)
        .await
        .unwrap();
    }
}

fn weird_lines() -> Vec<u8> {
    let big = "z".repeat(2 * 1024 * 1024 + 3);
    let lines: Vec<String> = vec![
        r#"{"id":"tab\there","text":"back\\slash \\. \\N end\\","tag":"t\tab"}"#.into(),
        "{\t\"id\":\"rawtab\",\r\"text\":\"x\" ,\"tag\":\"\\\\N\"}".into(),
        r#"{"id":"new\nline\r","text":"z","tag":"nl\nnl\rcr"}"#.into(),
        r#"{"id":"\\N","text":"\\.","tag":""}"#.into(),
        r#"{"id":"\\.","text":"é😀\u2028 \u0000 nul","tag":"é😀"}"#.into(),
        format!(r#"{{"id":"big","text":"{big}","tag":"b"}}"#),
        r#"{"id":"crlf","text":"crlf line","tag":"c"}"#.to_string() + "\r",
    ];
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

async fn dump(
    raw: &tokio_postgres::Client,
    table: &str,
    index: &str,
) -> Vec<(String, String, String)> {
    raw.query(
        &format!(
            "SELECT id::text, value::text, {index}::text FROM {table} ORDER BY id COLLATE \"C\""
        ),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Special characters restored with COPY (RefuseNonEmpty) vs INSERT
/// (Overwrite) vs the archive itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_copy_restore_of_special_values_matches_insert() {
    let Some(cluster) = shared_cluster("rv_special").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";
    let data = weird_lines();
    write_archive(dir.path(), key, &[("Weird--RvWeird.json", &data)]);
    let restore = Restore::from_url(&file_url(dir.path())).unwrap();
    let mut dumps = Vec::new();
    for mode in [RestoreMode::RefuseNonEmpty, RestoreMode::Overwrite] {
        let url = create_database(cluster, "rv_special");
        let db = Postgres::connect(&url).await.unwrap();
        let dbs = Databases::new(db.clone());
        let r = restore.clone().with_mode(mode).restore(key, &dbs).await;
        eprintln!(
            "RV {mode:?}: {:?}",
            r.as_ref()
                .map(|r| r
                    .classes
                    .iter()
                    .map(|c| (c.records, c.written))
                    .collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        );
        let raw = raw_client(&url).await;
        let rows = if r.is_ok() {
            dump(&raw, "\"RvWeird\"", "\"tag\"").await
        } else {
            vec![]
        };
        dumps.push(rows);
    }
    let archive: Vec<String> = String::from_utf8(data)
        .unwrap()
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    for (a, b) in dumps[0].iter().zip(&dumps[1]) {
        if a != b {
            eprintln!("RV DIFF copy={:?} insert={:?}", trunc(a), trunc(b));
        }
    }
    eprintln!(
        "RV counts copy={} insert={}",
        dumps[0].len(),
        dumps[1].len()
    );
    for (id, value, tag) in &dumps[0] {
        if !archive.contains(value) {
            eprintln!(
                "RV copy-restored value not verbatim: id={id:?} tag={tag:?} value={:?}",
                &value[..value.len().min(100)]
            );
        }
    }
    assert_eq!(dumps[0], dumps[1]);
}

fn trunc(t: &(String, String, String)) -> (String, String, String) {
    (t.0.clone(), t.1.chars().take(80).collect(), t.2.clone())
}

/// Duplicate ids in one member, RefuseNonEmpty, single database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_duplicate_ids_copy_error() {
    let Some(cluster) = shared_cluster("rv_dup").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";
    let data = b"{\"id\":\"a\",\"text\":\"1\",\"tag\":\"t\"}\n{\"id\":\"dupe-id\",\"text\":\"1\",\"tag\":\"t\"}\n{\"id\":\"dupe-id\",\"text\":\"2\",\"tag\":\"t\"}\n";
    write_archive(dir.path(), key, &[("Weird--RvWeird.json", data)]);
    let url = create_database(cluster, "rv_dup");
    let db = Postgres::connect(&url).await.unwrap();
    let dbs = Databases::new(db.clone());
    let err = Restore::from_url(&file_url(dir.path()))
        .unwrap()
        .with_mode(RestoreMode::RefuseNonEmpty)
        .restore(key, &dbs)
        .await
        .unwrap_err();
    eprintln!("RV dup error: {err}\n  debug: {err:?}");
    let rows = rows_of(&db, "RvWeird").await;
    eprintln!("RV rows after: {rows:?}");
}

/// A NUL in an index value: the error COPY gives vs the INSERT path's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_nul_index_value_errors() {
    let Some(cluster) = shared_cluster("rv_nul").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";
    let mut data = Vec::new();
    for i in 0..3000 {
        data.extend_from_slice(
            format!("{{\"id\":\"id{i:05}\",\"text\":\"t\",\"tag\":\"ok\"}}\n").as_bytes(),
        );
    }
    data.extend_from_slice(b"{\"id\":\"the-bad-one\",\"text\":\"t\",\"tag\":\"a\\u0000b\"}\n");
    for i in 3000..3100 {
        data.extend_from_slice(
            format!("{{\"id\":\"id{i:05}\",\"text\":\"t\",\"tag\":\"ok\"}}\n").as_bytes(),
        );
    }
    write_archive(dir.path(), key, &[("Weird--RvWeird.json", &data)]);
    for mode in [RestoreMode::RefuseNonEmpty, RestoreMode::Overwrite] {
        let url = create_database(cluster, "rv_nul");
        let db = Postgres::connect(&url).await.unwrap();
        let dbs = Databases::new(db.clone());
        let err = Restore::from_url(&file_url(dir.path()))
            .unwrap()
            .with_mode(mode)
            .restore(key, &dbs)
            .await
            .unwrap_err();
        eprintln!("RV {mode:?} NUL error: {err}");
    }
}

/// Row-level security forced on the table (a policy that allows all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_rls_table_refuse_non_empty() {
    let Some(cluster) = shared_cluster("rv_rls").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";
    let data = b"{\"id\":\"a\",\"text\":\"1\",\"tag\":\"t\"}\n";
    write_archive(dir.path(), key, &[("Weird--RvWeird.json", data)]);
    for mode in [RestoreMode::RefuseNonEmpty, RestoreMode::Overwrite] {
        let url = create_database(cluster, "rv_rls");
        let db = Postgres::connect(&url).await.unwrap();
        let dbs = Databases::new(db.clone());
        Weird::ensure_table(&dbs).await.unwrap();
        raw_client(&url)
            .await
            .batch_execute(
                "ALTER TABLE \"RvWeird\" ENABLE ROW LEVEL SECURITY; \
                 ALTER TABLE \"RvWeird\" FORCE ROW LEVEL SECURITY; \
                 CREATE POLICY everything ON \"RvWeird\" USING (true) WITH CHECK (true);",
            )
            .await
            .unwrap();
        let r = Restore::from_url(&file_url(dir.path()))
            .unwrap()
            .with_mode(mode)
            .restore(key, &dbs)
            .await;
        eprintln!(
            "RV RLS {mode:?}: {:?}",
            r.map(|r| r.classes[0].written).map_err(|e| e.to_string())
        );
    }
}

/// Dropping a restore transaction with a COPY open, then reusing the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_drop_restore_mid_copy_then_reuse_pool() {
    let Some(url) = shared_database("rv_drop_restore").await else {
        return;
    };
    let db = Postgres::builder(&url)
        .pool_size(1)
        .connect()
        .await
        .unwrap();
    let dbs = Databases::new(db.clone());
    let spec = dbs.table_spec(Big::type_info()).unwrap();
    let raw = raw_client(&url).await;
    for how in ["drop", "rollback"] {
        let mut tx = db.begin_restore().await.unwrap();
        tx.ensure_table(&spec).await.unwrap();
        assert_eq!(tx.count(&spec.table).await.unwrap(), 0);
        let rows: Vec<Row> = (0..2000)
            .map(|i| Row {
                id: format!("r{i}"),
                value: format!(r#"{{"id":"r{i}","pad":"{}"}}"#, "p".repeat(500)),
                index_values: vec![],
            })
            .collect();
        let n = tx
            .write(&spec, rows, RestoreMode::RefuseNonEmpty)
            .await
            .unwrap();
        eprintln!("RV {how}: write said {n}");
        if how == "drop" {
            drop(tx);
        } else {
            tx.rollback().await.unwrap();
        }
        let t = Instant::now();
        let found = tokio::time::timeout(
            Duration::from_secs(20),
            futures_util::TryStreamExt::try_collect::<Vec<_>>(Big::find_all(&dbs)),
        )
        .await;
        eprintln!(
            "RV {how}: find_all after: {:?} in {:?}",
            found.map(|r| r.map(|v| v.len()).map_err(|e| e.to_string())),
            t.elapsed()
        );
        let mut b = Big {
            id: String::new(),
            pad: "after".into(),
        };
        let saved = b.save(&dbs).await;
        eprintln!(
            "RV {how}: save after: {:?}",
            saved.map_err(|e| e.to_string())
        );
        eprintln!("RV {how}: activity {:#?}", activity(&raw).await);
        let _ = raw.batch_execute("DROP TABLE IF EXISTS \"RvBig\"").await;
    }
}

/// The restore future dropped (a timeout) while a COPY is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_restore_future_dropped_mid_copy() {
    let Some(url) = shared_database("rv_restore_timeout").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";
    let mut data = Vec::new();
    for i in 0..200_000 {
        data.extend_from_slice(
            format!(
                "{{\"id\":\"id{i:07}\",\"text\":\"{}\",\"tag\":\"ok\"}}\n",
                "w".repeat(200)
            )
            .as_bytes(),
        );
    }
    write_archive(dir.path(), key, &[("Weird--RvWeird.json", &data)]);
    let db = Postgres::builder(&url)
        .pool_size(1)
        .connect()
        .await
        .unwrap();
    let dbs = Databases::new(db.clone());
    let restore = Restore::from_url(&file_url(dir.path()))
        .unwrap()
        .with_mode(RestoreMode::RefuseNonEmpty);
    let r = tokio::time::timeout(Duration::from_millis(1500), restore.restore(key, &dbs)).await;
    eprintln!("RV restore timed out: {}", r.is_err());
    let raw = raw_client(&url).await;
    eprintln!("RV activity right after: {:#?}", activity(&raw).await);
    let t = Instant::now();
    let found = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::TryStreamExt::try_collect::<Vec<_>>(Weird::find_all(&dbs)),
    )
    .await;
    eprintln!(
        "RV find_all after: {:?} in {:?}",
        found.map(|r| r.map(|v| v.len()).map_err(|e| e.to_string())),
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    eprintln!("RV activity later: {:#?}", activity(&raw).await);
}

/// A database whose sessions have a statement_timeout (common for web
/// apps): a long COPY is one statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_statement_timeout_long_copy() {
    let Some(url) = shared_database("rv_stmt_timeout").await else {
        return;
    };
    let raw = raw_client(&url).await;
    let name: String = raw
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    raw.batch_execute(&format!(
        "ALTER DATABASE \"{name}\" SET statement_timeout = '2s'"
    ))
    .await
    .unwrap();
    let db = Postgres::builder(&url)
        .pool_size(2)
        .connect()
        .await
        .unwrap();
    let dbs = Databases::new(db.clone());
    fill_big(&db, &dbs, 3000, 10_000).await; // ~30 MB
    let table = gludb::TableName::new("RvBig").unwrap();
    // A backup whose upload is slow: the consumer takes ~4 s for the table.
    let mut snapshot = db.snapshot().await.unwrap();
    let mut batches = snapshot.records(&table);
    let (mut n, mut err) = (0u64, None);
    let t = Instant::now();
    while let Some(b) = batches.next().await {
        match b {
            Ok(b) => n += b.records(),
            Err(e) => {
                err = Some(e.to_string());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(35)).await;
    }
    eprintln!(
        "RV slow snapshot read: {n} records, error {err:?}, {:?}",
        t.elapsed()
    );
    drop(batches);
    drop(snapshot);

    // A restore of a big member, RefuseNonEmpty (COPY) vs Overwrite (INSERT).
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";
    let mut data = Vec::new();
    for i in 0..400_000 {
        data.extend_from_slice(
            format!(
                "{{\"id\":\"id{i:07}\",\"text\":\"{}\",\"tag\":\"ok{i}\"}}\n",
                "w".repeat(300)
            )
            .as_bytes(),
        );
    }
    write_archive(dir.path(), key, &[("Weird--RvWeird.json", &data)]);
    for mode in [RestoreMode::RefuseNonEmpty, RestoreMode::Overwrite] {
        let _ = raw.batch_execute("DROP TABLE IF EXISTS \"RvWeird\"").await;
        let t = Instant::now();
        let r = Restore::from_url(&file_url(dir.path()))
            .unwrap()
            .with_mode(mode)
            .restore(key, &dbs)
            .await;
        eprintln!(
            "RV {mode:?} restore under statement_timeout: {:?} in {:?}",
            r.map(|r| r.classes[0].written).map_err(|e| e.to_string()),
            t.elapsed()
        );
    }
}
