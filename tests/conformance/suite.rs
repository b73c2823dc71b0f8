//! The conformance tests: each takes a `Databases` whose default database is
//! the backend under test, and asserts what a user of the data layer sees.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt};
use gludb::{Databases, Error, RestoreMode, Row, Storable, TableSpec};
use serde_json::Value;

use crate::models::{FragileData, SimpleData};

fn spec_of<T: Storable>(dbs: &Databases) -> TableSpec {
    dbs.table_spec(T::type_info()).expect("valid table")
}

async fn stored_json(dbs: &Databases, id: &str) -> Value {
    let spec = spec_of::<SimpleData>(dbs);
    let db = dbs.database_for(SimpleData::type_info()).expect("mapped");
    let record = db
        .find_one(&spec.table, id)
        .await
        .expect("read")
        .expect("stored");
    serde_json::from_str(&record.value).expect("stored JSON")
}

fn is_gludb_timestamp(value: &Value) -> bool {
    let Some(s) = value.as_str() else {
        return false;
    };
    // UTC:2026-11-27T02:00:00.123456
    s.len() == 30 && s.starts_with("UTC:") && s.as_bytes()[14] == b'T' && s.as_bytes()[23] == b'.'
}

pub async fn save_assigns_id_and_timestamps(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    SimpleData::ensure_table(dbs)
        .await
        .expect("ensure_table is idempotent");
    let mut alice = SimpleData::new("Alice", 42);
    alice.save(dbs).await.unwrap();
    assert_eq!(alice.id.len(), 32);
    assert!(
        alice
            .id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    let json = stored_json(dbs, &alice.id).await;
    assert_eq!(json["id"], alice.id.as_str());
    assert_eq!(json["name"], "Alice");
    assert_eq!(json["age"], 42);
    assert!(is_gludb_timestamp(&json["_create_date"]), "{json}");
    assert_eq!(json["_create_date"], json["_last_update"]);

    let found = SimpleData::find_one(dbs, &alice.id).await.unwrap();
    assert_eq!(found, Some(alice));
}

pub async fn save_again_keeps_create_date_and_updates_last_update(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let mut bob = SimpleData::new("Bob", 30);
    bob.save(dbs).await.unwrap();
    let first = stored_json(dbs, &bob.id).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // A fresh copy read back has no timestamps of its own: saving it must
    // still keep the stored creation date.
    let mut copy = SimpleData::find_one(dbs, &bob.id).await.unwrap().unwrap();
    copy.age = 31;
    copy.save(dbs).await.unwrap();
    let second = stored_json(dbs, &bob.id).await;
    assert_eq!(second["age"], 31);
    assert_eq!(second["_create_date"], first["_create_date"]);
    assert_ne!(second["_last_update"], first["_last_update"]);
    assert!(is_gludb_timestamp(&second["_last_update"]));
}

pub async fn find_one_of_a_missing_id_is_none(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let missing = SimpleData::find_one(dbs, "0123456789abcdef0123456789abcdef").await;
    assert_eq!(missing.unwrap(), None);
}

pub async fn find_all_streams_every_record_in_id_order(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    // More than one page of the SQLite backend's keyset pagination.
    let mut ids = Vec::new();
    for i in 0..1234 {
        let mut d = SimpleData::new(&format!("n{i}"), i % 100);
        d.save(dbs).await.unwrap();
        ids.push(d.id);
    }
    ids.sort();
    let all: Vec<SimpleData> = SimpleData::find_all(dbs).try_collect().await.unwrap();
    let found: Vec<_> = all.iter().map(|d| d.id.clone()).collect();
    assert_eq!(found, ids);

    // Saving while iterating neither deadlocks nor breaks the stream.
    let mut stream = SimpleData::find_all(dbs);
    let mut seen = 0;
    while let Some(item) = stream.next().await {
        let mut d = item.unwrap();
        if seen < 3 {
            d.age += 1;
            d.save(dbs).await.unwrap();
        }
        seen += 1;
    }
    assert_eq!(seen, 1234);
}

pub async fn find_by_index_follows_updates(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let mut alice = SimpleData::new("Alice", 1);
    alice.save(dbs).await.unwrap();
    let mut other = SimpleData::new("Alice", 2);
    other.save(dbs).await.unwrap();
    SimpleData::new("Eve", 3).save(dbs).await.unwrap();

    let found = SimpleData::find_by_index(dbs, "reversed_name", "ecilA")
        .await
        .unwrap();
    let mut ids: Vec<_> = found.iter().map(|d| d.id.as_str()).collect();
    let mut expected = vec![alice.id.as_str(), other.id.as_str()];
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);

    alice.name = "Carol".into();
    alice.save(dbs).await.unwrap();
    let found = SimpleData::find_by_index(dbs, "reversed_name", "loraC")
        .await
        .unwrap();
    assert_eq!(found, vec![alice.clone()]);
    let found = SimpleData::find_by_index(dbs, "reversed_name", "ecilA")
        .await
        .unwrap();
    assert_eq!(found, vec![other]);

    let err = SimpleData::find_by_index(dbs, "no_such_index", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownIndex { .. }), "{err}");
}

pub async fn delete_reports_whether_the_record_existed(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let mut d = SimpleData::new("Gone", 1);
    d.save(dbs).await.unwrap();
    let kept = {
        let mut k = SimpleData::new("Kept", 2);
        k.save(dbs).await.unwrap();
        k
    };
    assert!(d.delete(dbs).await.unwrap());
    assert!(!d.delete(dbs).await.unwrap());
    assert_eq!(SimpleData::find_one(dbs, &d.id).await.unwrap(), None);
    assert_eq!(
        SimpleData::find_one(dbs, &kept.id).await.unwrap(),
        Some(kept)
    );
}

pub async fn missing_table_is_a_typed_error(dbs: &Databases) {
    let err = SimpleData::find_one(dbs, "x").await.unwrap_err();
    match err {
        Error::UnknownTable { table } => assert_eq!(table, "SimpleTest"),
        other => panic!("expected UnknownTable, got {other}"),
    }
    let err = SimpleData::new("A", 1).save(dbs).await.unwrap_err();
    assert!(matches!(err, Error::UnknownTable { .. }), "{err}");
    let first = SimpleData::find_all(dbs).next().await.expect("one item");
    assert!(matches!(first, Err(Error::UnknownTable { .. })));
}

async fn insert_raw(dbs: &Databases, id: &str, value: &str) {
    let spec = spec_of::<SimpleData>(dbs);
    let db = dbs.database_for(SimpleData::type_info()).unwrap();
    let row = Row {
        id: id.into(),
        value: value.into(),
        index_values: vec![String::new()],
    };
    db.upsert(&spec, row).await.unwrap();
}

/// Malformed JSON reaching the backend has one of two outcomes a user finds
/// correct: the backend refuses to store it (PostgreSQL's `json` column) with
/// a typed error naming the record, and nothing is stored; or it stores it
/// (SQLite) and reading it is a decode error naming the record.
pub async fn malformed_json_is_a_decode_error_naming_the_record(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let spec = spec_of::<SimpleData>(dbs);
    let db = dbs.database_for(SimpleData::type_info()).unwrap();
    let row = Row {
        id: "badjson".into(),
        value: "{this is not json".into(),
        index_values: vec![String::new()],
    };
    if let Err(err) = db.upsert(&spec, row).await {
        assert!(
            !matches!(err, Error::UnknownTable { .. } | Error::Closed { .. }),
            "refused for the wrong reason: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("badjson") && message.contains("SimpleTest"),
            "{message}"
        );
        assert_eq!(SimpleData::find_one(dbs, "badjson").await.unwrap(), None);
        let results: Vec<_> = SimpleData::find_all(dbs).collect().await;
        assert!(results.is_empty(), "nothing is stored");
        return;
    }
    let err = SimpleData::find_one(dbs, "badjson").await.unwrap_err();
    match &err {
        Error::Decode {
            type_name,
            table,
            id,
            ..
        } => {
            assert_eq!(
                (type_name.as_str(), table.as_str(), id.as_str()),
                ("SimpleData", "SimpleTest", "badjson")
            );
        }
        other => panic!("expected Decode, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("badjson") && message.contains("SimpleData"),
        "{message}"
    );
    let results: Vec<_> = SimpleData::find_all(dbs).collect().await;
    assert_eq!(results.len(), 1);
    assert!(matches!(results[0], Err(Error::Decode { .. })));
}

pub async fn record_of_the_wrong_shape_is_a_decode_error(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    insert_raw(dbs, "wrongshape", r#"{"id":"wrongshape","name":7}"#).await;
    let err = SimpleData::find_one(dbs, "wrongshape").await.unwrap_err();
    assert!(
        matches!(err, Error::Decode { ref id, .. } if id == "wrongshape"),
        "{err}"
    );
}

pub async fn failed_save_changes_nothing(dbs: &Databases) {
    FragileData::ensure_table(dbs).await.unwrap();
    let mut d = FragileData {
        id: String::new(),
        label: "original".into(),
        bad_keys: BTreeMap::new(),
    };
    d.save(dbs).await.unwrap();
    let before = FragileData::find_one(dbs, &d.id).await.unwrap();

    d.label = "changed".into();
    d.bad_keys.insert(vec![1, 2], 3);
    let err = d.save(dbs).await.unwrap_err();
    assert!(matches!(err, Error::Encode { .. }), "{err}");
    assert_eq!(FragileData::find_one(dbs, &d.id).await.unwrap(), before);
    assert_eq!(before.unwrap().label, "original");
}

pub async fn unicode_and_escapes_round_trip(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let mut d = SimpleData::new("Zoë 🦀 \"quoted\"", 7);
    d.descrip = "line one\nline two\ttab \\ backslash \u{0}nul é 中文".into();
    d.save(dbs).await.unwrap();
    let found = SimpleData::find_one(dbs, &d.id).await.unwrap();
    assert_eq!(found, Some(d.clone()));
    let found = SimpleData::find_by_index(
        dbs,
        "reversed_name",
        &d.name.chars().rev().collect::<String>(),
    )
    .await
    .unwrap();
    assert_eq!(found, vec![d.clone()]);

    // Saving such a record again (which reads the stored one to keep its
    // `_create_date`) works too.
    let first = stored_json(dbs, &d.id).await;
    d.age += 1;
    d.save(dbs).await.unwrap();
    assert_eq!(
        SimpleData::find_one(dbs, &d.id).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(
        stored_json(dbs, &d.id).await["_create_date"],
        first["_create_date"]
    );
}

pub async fn table_prefix_names_the_table(dbs: &Databases) {
    let prefixed = dbs.clone().with_table_prefix("myapp").unwrap();
    SimpleData::ensure_table(&prefixed).await.unwrap();
    let mut d = SimpleData::new("Prefixed", 1);
    d.save(&prefixed).await.unwrap();
    let db = prefixed.default_database().unwrap();
    assert!(
        db.find_one("myapp_SimpleTest", &d.id)
            .await
            .unwrap()
            .is_some()
    );
    // The unprefixed table was never created.
    let err = SimpleData::find_one(dbs, &d.id).await.unwrap_err();
    assert!(matches!(err, Error::UnknownTable { .. }), "{err}");

    let err = dbs
        .clone()
        .with_table_prefix("x\"; drop table y; --")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err}");
}

pub async fn closed_database_is_a_typed_error(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let mut d = SimpleData::new("Before close", 1);
    d.save(dbs).await.unwrap();
    dbs.default_database().unwrap().close().await.unwrap();
    let err = SimpleData::find_one(dbs, &d.id).await.unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err}");
    let err = d.save(dbs).await.unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err}");
    let err = dbs
        .default_database()
        .unwrap()
        .snapshot()
        .await
        .err()
        .expect("closed");
    assert!(matches!(err, Error::Closed { .. }), "{err}");
}

async fn snapshot_ids(snapshot: &mut dyn gludb::Snapshot, table: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut batches = snapshot.records(table);
    while let Some(batch) = batches.next().await {
        let batch = batch.unwrap();
        let text = std::str::from_utf8(batch.lines()).unwrap();
        assert_eq!(text.lines().count() as u64, batch.records());
        for line in text.lines() {
            let json: Value = serde_json::from_str(line).expect("one JSON record per line");
            ids.push(json["id"].as_str().unwrap().to_owned());
        }
    }
    ids.sort();
    ids
}

pub async fn snapshot_sees_one_point_in_time(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    FragileData::ensure_table(dbs).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..700 {
        let mut d = SimpleData::new(&format!("s{i}"), i);
        d.save(dbs).await.unwrap();
        ids.push(d.id);
    }
    ids.sort();
    let db = dbs.default_database().unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    let stats = snapshot.table_stats("SimpleTest").await.unwrap();
    assert!(stats.exists);
    assert_eq!(stats.records, 700);

    // Writers go on (on the file backend; an in-memory SQLite database
    // serialises writers behind the snapshot, so write from another task
    // and only wait for it after the snapshot ends).
    let writer = {
        let dbs = dbs.clone();
        tokio::spawn(async move {
            let mut late = SimpleData::new("late", 1);
            late.save(&dbs).await.unwrap();
            let mut f = FragileData {
                id: String::new(),
                label: "late".into(),
                bad_keys: BTreeMap::new(),
            };
            f.save(&dbs).await.unwrap();
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(snapshot_ids(snapshot.as_mut(), "SimpleTest").await, ids);
    let fragile = snapshot.table_stats("FragileTest").await.unwrap();
    assert_eq!(
        fragile.records, 0,
        "a write after the snapshot began is not seen"
    );
    let stats_again = snapshot.table_stats("SimpleTest").await.unwrap();
    assert_eq!(stats_again, stats);
    let value_bytes: u64 = {
        let mut total = 0;
        let mut batches = snapshot.records("SimpleTest");
        while let Some(batch) = batches.next().await {
            let batch = batch.unwrap();
            // Each value plus its `\n`.
            total += batch.len() as u64 - batch.records();
        }
        total
    };
    assert_eq!(value_bytes, stats.value_bytes);
    snapshot.finish().await.unwrap();
    writer.await.unwrap();
    let all: Vec<SimpleData> = SimpleData::find_all(dbs).try_collect().await.unwrap();
    assert_eq!(all.len(), 701);
}

pub async fn snapshot_of_a_missing_table_is_empty(dbs: &Databases) {
    let db = dbs.default_database().unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    let stats = snapshot.table_stats("NeverCreated").await.unwrap();
    assert!(!stats.exists);
    assert_eq!(stats.records, 0);
    assert!(
        snapshot_ids(snapshot.as_mut(), "NeverCreated")
            .await
            .is_empty()
    );
    snapshot.finish().await.unwrap();
}

fn row(id: &str, value: &str) -> Row {
    Row {
        id: id.into(),
        value: value.into(),
        index_values: vec!["x".into()],
    }
}

pub async fn restore_transaction_commits_all_or_nothing(dbs: &Databases) {
    let spec = spec_of::<SimpleData>(dbs);
    let db = dbs.default_database().unwrap();

    // Rolled back: the table it created and the rows it wrote are gone.
    let mut tx = db.begin_restore().await.unwrap();
    tx.ensure_table(&spec).await.unwrap();
    assert_eq!(
        tx.write(
            &spec,
            vec![row("a", "{\"id\":\"a\"}")],
            RestoreMode::Overwrite
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(tx.count(&spec.table).await.unwrap(), 1);
    tx.rollback().await.unwrap();
    assert!(matches!(
        db.find_one(&spec.table, "a").await,
        Err(Error::UnknownTable { .. })
    ));

    // Dropped without commit: same.
    SimpleData::ensure_table(dbs).await.unwrap();
    {
        let mut tx = db.begin_restore().await.unwrap();
        tx.write(
            &spec,
            vec![row("b", "{\"id\":\"b\"}")],
            RestoreMode::Overwrite,
        )
        .await
        .unwrap();
    }
    assert_eq!(db.find_one(&spec.table, "b").await.unwrap(), None);

    // Committed: values are stored verbatim (spacing and key order kept).
    let verbatim = "{ \"z\": 1,  \"id\": \"c\" }";
    let mut tx = db.begin_restore().await.unwrap();
    tx.write(&spec, vec![row("c", verbatim)], RestoreMode::Overwrite)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let stored = db.find_one(&spec.table, "c").await.unwrap().unwrap();
    assert_eq!(stored.value, verbatim);
}

pub async fn restore_modes_handle_existing_ids(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let spec = spec_of::<SimpleData>(dbs);
    let db = dbs.default_database().unwrap();
    let mut tx = db.begin_restore().await.unwrap();
    tx.write(&spec, vec![row("a", "{\"v\":1}")], RestoreMode::Overwrite)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = db.begin_restore().await.unwrap();
    let written = tx
        .write(
            &spec,
            vec![row("a", "{\"v\":2}"), row("b", "{\"v\":2}")],
            RestoreMode::SkipExisting,
        )
        .await
        .unwrap();
    assert_eq!(written, 1);
    tx.commit().await.unwrap();
    assert_eq!(
        db.find_one(&spec.table, "a").await.unwrap().unwrap().value,
        "{\"v\":1}"
    );

    let mut tx = db.begin_restore().await.unwrap();
    tx.write(&spec, vec![row("a", "{\"v\":3}")], RestoreMode::Overwrite)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        db.find_one(&spec.table, "a").await.unwrap().unwrap().value,
        "{\"v\":3}"
    );
    let by_index = db
        .find_by_index(&spec.table, "reversed_name", "x")
        .await
        .unwrap();
    assert_eq!(by_index.len(), 2);
}

pub async fn snapshot_refuses_a_value_spanning_lines(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    // Valid JSON, but not one line: it cannot go into a JSON-lines archive.
    insert_raw(dbs, "pretty", "{\n\"id\": \"pretty\"}").await;
    let db = dbs.default_database().unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    let first = snapshot
        .records("SimpleTest")
        .next()
        .await
        .expect("an item");
    match first {
        Err(Error::MultiLineRecord { table, id }) => {
            assert_eq!((table.as_str(), id.as_str()), ("SimpleTest", "pretty"));
        }
        other => panic!("expected MultiLineRecord, got {other:?}"),
    }
}
