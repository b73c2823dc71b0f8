//! PostgreSQL-specific behaviour, against a real cluster: connection loss
//! and recovery, descriptions without secrets, streaming with bounded
//! batches, and what a dropped snapshot or restore leaves behind.
//!
//! Tests that stop or restart the server start a cluster of their own; the
//! others share one per test binary (`PgCluster::shared`). Without
//! PostgreSQL they print `SKIPPED` and pass, except when `CI=true`.

#[path = "common/pg.rs"]
mod pg;

use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt};
use gludb::{Backend, Databases, Error, RestoreMode, Row, Storable, postgres::Postgres};
use pg::{create_database, loud, own_cluster, shared_database};
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "PgItem", indexes(by_group))]
struct Item {
    id: String,
    group: u32,
    payload: String,
}

impl Item {
    /// A record not saved yet (no id): most tests only vary these two fields.
    fn unsaved(group: u32, payload: &str) -> Self {
        Item {
            id: String::new(),
            group,
            payload: payload.into(),
        }
    }

    fn by_group(&self) -> String {
        self.group.to_string()
    }
}

/// A raw client on `url`, to look at the server from outside the backend.
async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(connection);
    client
}

/// `n` records written in one restore (much faster than `n` saves).
async fn fill(db: &Postgres, dbs: &Databases, n: usize) -> Vec<String> {
    Item::ensure_table(dbs).await.unwrap();
    let spec = dbs.table_spec(Item::type_info()).unwrap();
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let id = format!("{:032x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let value = format!(
                r#"{{"id":"{id}","group":{},"payload":"{}"}}"#,
                i % 7,
                "x".repeat(100)
            );
            Row {
                id,
                value,
                index_values: vec![(i % 7).to_string()],
            }
        })
        .collect();
    let mut ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let mut tx = db.begin_restore().await.unwrap();
    assert_eq!(
        tx.write(&spec, rows, RestoreMode::Overwrite).await.unwrap(),
        n as u64
    );
    tx.commit().await.unwrap();
    ids
}

fn assert_postgres_error(err: &Error) {
    assert!(
        matches!(
            err,
            Error::Backend {
                backend: "PostgreSQL",
                ..
            }
        ),
        "expected a PostgreSQL error, got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_errors_never_contain_the_password() {
    let Some(url) = shared_database("describe").await else {
        return;
    };
    // The test cluster trusts everyone, so any password is accepted.
    let with_password = url.replacen("postgres://postgres@", "postgres://postgres:hunter2@", 1);
    if with_password == url {
        loud("SKIPPED: GLUDB_TEST_POSTGRES_URL has its own credentials");
        return;
    }
    let db = Postgres::connect(&with_password).await.unwrap();
    let described = db.describe();
    assert!(
        described.starts_with("postgres://postgres@127.0.0.1:"),
        "{described}"
    );
    assert!(!described.contains("hunter2"), "{described}");
    assert!(!format!("{db:?}").contains("hunter2"), "{db:?}");

    // A failed connection names the database, not the password.
    let port = described
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = with_password.replacen(&format!(":{port}/"), &format!(":{closed_port}/"), 1);
    let err = Postgres::connect(&unreachable).await.unwrap_err();
    assert_postgres_error(&err);
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{closed_port}")),
        "{message}"
    );
    assert!(
        !message.contains("hunter2") && !format!("{err:?}").contains("hunter2"),
        "{message}"
    );

    let err = Postgres::connect(&format!("{with_password}?sslmode=require"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS is not supported"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_all_streams_5000_records_in_bounded_batches() {
    let Some(url) = shared_database("stream").await else {
        return;
    };
    const FETCH: usize = 100;
    let db = Postgres::builder(&url)
        .fetch_size(FETCH)
        .connect()
        .await
        .unwrap();
    let dbs = Databases::new(db.clone());
    let t = Instant::now();
    let ids = fill(&db, &dbs, 5000).await;
    eprintln!("restore-wrote 5000 records in {:?}", t.elapsed());

    // Mid-stream, the cursor is open on the server: the stream has not
    // read the table and finished, it waits for the consumer.
    let mut stream = Item::find_all(&dbs);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.id, ids[0]);
    let observer = raw_client(&url).await;
    let open_cursors: i64 = observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'idle in transaction' AND query LIKE 'SELECT id, value::text FROM \"PgItem\" ORDER BY id%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        open_cursors, 1,
        "the find_all cursor is open while the stream is paused"
    );
    // Saving meanwhile works (the stream holds its own connection).
    let mut extra = Item::unsaved(1, "late");
    extra.save(&dbs).await.unwrap();
    let t = Instant::now();
    let mut rest: Vec<String> = vec![first.id];
    while let Some(item) = stream.next().await {
        rest.push(item.unwrap().id);
    }
    eprintln!("streamed 5000 records in {:?}", t.elapsed());
    assert_eq!(
        rest, ids,
        "every record, in id order, as of the stream's start"
    );
    drop(stream);

    // A snapshot yields the same records in batches of at most FETCH.
    let mut snapshot = db.snapshot().await.unwrap();
    let mut batches = snapshot.records("PgItem");
    let (mut count, mut sizes) = (0, Vec::new());
    while let Some(batch) = batches.next().await {
        let batch = batch.unwrap();
        sizes.push(batch.records() as usize);
        count += batch.records() as usize;
    }
    drop(batches);
    snapshot.finish().await.unwrap();
    assert_eq!(count, 5001);
    assert!(sizes.iter().all(|&n| n <= FETCH), "{sizes:?}");
    assert_eq!(sizes.len(), 5001usize.div_ceil(FETCH));

    let all: Vec<Item> = Item::find_all(&dbs).try_collect().await.unwrap();
    assert_eq!(all.len(), 5001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_snapshots_and_restores_leave_clean_connections() {
    let Some(url) = shared_database("dropped").await else {
        return;
    };
    // Two connections: whatever a dropped snapshot or restore leaves on
    // its connection, the next operations would run into it.
    let db = Postgres::connect_with(&url, 2).await.unwrap();
    let dbs = Databases::new(db.clone());
    Item::ensure_table(&dbs).await.unwrap();
    let spec = dbs.table_spec(Item::type_info()).unwrap();
    for i in 0..3 {
        let mut tx = db.begin_restore().await.unwrap();
        let row = Row {
            id: format!("restored{i}"),
            value: "{}".into(),
            index_values: vec!["0".into()],
        };
        tx.write(&spec, vec![row], RestoreMode::Overwrite)
            .await
            .unwrap();
        drop(tx);
        let mut snapshot = db.snapshot().await.unwrap();
        snapshot.table_stats("PgItem").await.unwrap();
        drop(snapshot);
    }
    let mut saved = Vec::new();
    for i in 0..6 {
        // A save on a connection still inside the read-only snapshot would
        // fail; one still inside the restore would not be visible below.
        let mut item = Item::unsaved(i, "after");
        item.save(&dbs).await.unwrap();
        saved.push(item.id);
    }
    let observer = raw_client(&url).await;
    let ids: Vec<String> = observer
        .query("SELECT id FROM \"PgItem\" ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    saved.sort();
    assert_eq!(
        ids, saved,
        "saves are committed, dropped restores left nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_of_one_record_keep_its_create_date() {
    let Some(url) = shared_database("concurrent_saves").await else {
        return;
    };
    let db = Postgres::connect_with(&url, 8).await.unwrap();
    let dbs = Databases::new(db.clone());
    Item::ensure_table(&dbs).await.unwrap();
    let mut item = Item::unsaved(0, "first");
    item.save(&dbs).await.unwrap();
    let created = db
        .find_one("PgItem", &item.id)
        .await
        .unwrap()
        .unwrap()
        .value;
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;

    // Copies without timestamps, saved at once from 8 tasks, 10 times each.
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (dbs, id) = (dbs.clone(), item.id.clone());
            tokio::spawn(async move {
                for i in 0..10 {
                    let mut copy = Item {
                        id: id.clone(),
                        group: t,
                        payload: format!("{t}/{i}"),
                    };
                    copy.save(&dbs).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stored = db
        .find_one("PgItem", &item.id)
        .await
        .unwrap()
        .unwrap()
        .value;
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["_create_date"], created["_create_date"]);
    assert_ne!(stored["_last_update"], created["_last_update"]);
    assert!(
        stored["payload"].as_str().unwrap().ends_with("/9"),
        "{stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_is_taken_when_it_begins() {
    let Some(url) = shared_database("snapshot_begin").await else {
        return;
    };
    let db = Postgres::connect(&url).await.unwrap();
    let dbs = Databases::new(db.clone());
    Item::ensure_table(&dbs).await.unwrap();
    let mut before = Item::unsaved(1, "before");
    before.save(&dbs).await.unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    // Written after the snapshot began but before it read anything.
    let mut after = Item::unsaved(2, "after");
    after.save(&dbs).await.unwrap();
    let stats = snapshot.table_stats("PgItem").await.unwrap();
    assert_eq!(stats.records, 1);
    let batches: Vec<_> = snapshot.records("PgItem").try_collect().await.unwrap();
    let lines: Vec<u8> = batches.iter().flat_map(|b| b.lines().to_vec()).collect();
    let text = String::from_utf8(lines).unwrap();
    let records: Vec<&str> = text.lines().collect();
    assert_eq!(records.len(), 1);
    let json: serde_json::Value = serde_json::from_str(records[0]).unwrap();
    assert_eq!(json["id"], before.id.as_str());
    assert_eq!(stats.value_bytes, records[0].len() as u64);
    snapshot.finish().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_loss_is_a_typed_error_and_the_next_operation_reconnects() {
    let Some(cluster) =
        own_cluster("connection_loss_is_a_typed_error_and_the_next_operation_reconnects").await
    else {
        return;
    };
    let url = create_database(&cluster, "loss");
    let db = Postgres::builder(&url)
        .fetch_size(100)
        .connect()
        .await
        .unwrap();
    let dbs = Databases::new(db.clone());
    let ids = fill(&db, &dbs, 3000).await;

    // Server down: a typed error, no panic, no hang.
    cluster.stop_server().unwrap();
    let t = Instant::now();
    let err = Item::find_one(&dbs, &ids[0]).await.unwrap_err();
    eprintln!("with the server down: {err} (after {:?})", t.elapsed());
    assert_postgres_error(&err);
    let err = Item::unsaved(0, "x").save(&dbs).await.unwrap_err();
    assert_postgres_error(&err);
    let err = db
        .snapshot()
        .await
        .err()
        .expect("no snapshot without a server");
    assert_postgres_error(&err);
    // Server back: the next operation reconnects.
    cluster.start_server().unwrap();
    let found = Item::find_one(&dbs, &ids[0])
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(found.id, ids[0]);

    // Restarted in the middle of a stream, a snapshot and a restore.
    let mut stream = Item::find_all(&dbs);
    stream.next().await.unwrap().unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    let spec = dbs.table_spec(Item::type_info()).unwrap();
    let mut restore = db.begin_restore().await.unwrap();
    let row = Row {
        id: "during_restart".into(),
        value: "{}".into(),
        index_values: vec!["0".into()],
    };
    restore
        .write(&spec, vec![row.clone()], RestoreMode::Overwrite)
        .await
        .unwrap();

    let t = Instant::now();
    cluster.restart().unwrap();
    eprintln!("restart took {:?}", t.elapsed());

    let mut read = 1;
    let err = loop {
        match stream.next().await {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error after {read} records"),
        }
    };
    eprintln!("find_all after {read} records: {err}");
    assert!(read < 3000);
    assert_postgres_error(&err);
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );

    let err = snapshot.table_stats("PgItem").await.unwrap_err();
    assert_postgres_error(&err);
    drop(snapshot);
    let err = restore.commit().await.unwrap_err();
    eprintln!("commit after restart: {err}");
    assert_postgres_error(&err);

    // Everything works again, on new connections; the restore left nothing.
    assert_eq!(db.find_one("PgItem", "during_restart").await.unwrap(), None);
    let mut item = Item::unsaved(3, "after restart");
    item.save(&dbs).await.unwrap();
    let by_group = Item::find_by_index(&dbs, "by_group", "3").await.unwrap();
    assert!(by_group.iter().any(|i| i.id == item.id));
    let all: Vec<Item> = Item::find_all(&dbs).try_collect().await.unwrap();
    assert_eq!(all.len(), 3001);
    let mut snapshot = db.snapshot().await.unwrap();
    assert_eq!(snapshot.table_stats("PgItem").await.unwrap().records, 3001);
    snapshot.finish().await.unwrap();
    let mut restore = db.begin_restore().await.unwrap();
    restore
        .write(&spec, vec![row], RestoreMode::Overwrite)
        .await
        .unwrap();
    restore.commit().await.unwrap();
    assert!(
        db.find_one("PgItem", "during_restart")
            .await
            .unwrap()
            .is_some()
    );
}
