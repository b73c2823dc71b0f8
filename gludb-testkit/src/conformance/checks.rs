//! The checks: each takes a [`Databases`] whose default database is a
//! fresh, empty database of the backend under test, and asserts what a
//! user of the data layer sees. They panic on failure, as tests do.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt};
use gludb_core::{Databases, Error, IndexName, RestoreMode, Row, Storable, TableName, TableSpec};
use serde_json::Value;

use super::models::{
    ConformanceFragile as FragileData, ConformanceIndexed as IndexedData,
    ConformanceSimple as SimpleData,
};

/// A table name the test knows is valid.
fn table(name: &str) -> TableName {
    TableName::new(name).expect("a valid table name")
}

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

/// `save` gives a new object a 32-hex-char id and stores `_create_date` = `_last_update`; `ensure_table` is idempotent.
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

/// Saving again keeps the stored `_create_date` (even from a copy read back) and moves `_last_update`.
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

/// `find_one` of an id that is not stored is `None`, not an error.
pub async fn find_one_of_a_missing_id_is_none(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let missing = SimpleData::find_one(dbs, "0123456789abcdef0123456789abcdef").await;
    assert_eq!(missing.unwrap(), None);
}

/// `find_all` streams every record in id order over several pages, and saving while iterating neither deadlocks nor breaks the stream.
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

/// `find_by_index` finds by the current index values after updates; an undeclared index is `Error::UnknownIndex`.
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

/// `delete` says whether the record existed and removes only it.
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

/// Reading or writing a table that was never created is `Error::UnknownTable` naming it.
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
/// Malformed JSON is either refused by the backend (naming the record, nothing stored) or stored and then an `Error::Decode` naming the type, table and record.
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
                ("ConformanceSimple", "SimpleTest", "badjson")
            );
        }
        other => panic!("expected Decode, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("badjson") && message.contains("ConformanceSimple"),
        "{message}"
    );
    let results: Vec<_> = SimpleData::find_all(dbs).collect().await;
    assert_eq!(results.len(), 1);
    assert!(matches!(results[0], Err(Error::Decode { .. })));
}

/// A stored record of the wrong shape is an `Error::Decode` naming it.
pub async fn record_of_the_wrong_shape_is_a_decode_error(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    insert_raw(dbs, "wrongshape", r#"{"id":"wrongshape","name":7}"#).await;
    let err = SimpleData::find_one(dbs, "wrongshape").await.unwrap_err();
    assert!(
        matches!(err, Error::Decode { ref id, .. } if id == "wrongshape"),
        "{err}"
    );
}

/// A save that fails to encode leaves the stored record as it was.
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

/// Non-ASCII text, escapes and `\u0000` round-trip through save, `find_one` and `find_by_index`.
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

/// `with_table_prefix` stores in `<prefix>_<table>`; an invalid prefix is `Error::InvalidName`.
pub async fn table_prefix_names_the_table(dbs: &Databases) {
    let prefixed = dbs.clone().with_table_prefix("myapp").unwrap();
    SimpleData::ensure_table(&prefixed).await.unwrap();
    let mut d = SimpleData::new("Prefixed", 1);
    d.save(&prefixed).await.unwrap();
    let db = prefixed.default_database().unwrap();
    assert!(
        db.find_one(&table("myapp_SimpleTest"), &d.id)
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

/// After `close`, operations and snapshots are `Error::Closed`.
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

async fn snapshot_ids(snapshot: &mut dyn gludb_core::Snapshot, name: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut batches = snapshot.records(&table(name));
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

/// A snapshot sees the database as of its start across tables, whatever writers do meanwhile, and its stats match its records.
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
    let stats = snapshot.table_stats(&table("SimpleTest")).await.unwrap();
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
    let fragile = snapshot.table_stats(&table("FragileTest")).await.unwrap();
    assert_eq!(
        fragile.records, 0,
        "a write after the snapshot began is not seen"
    );
    let stats_again = snapshot.table_stats(&table("SimpleTest")).await.unwrap();
    assert_eq!(stats_again, stats);
    let value_bytes: u64 = {
        let mut total = 0;
        let mut batches = snapshot.records(&table("SimpleTest"));
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

/// A snapshot reports a missing table as `exists: false` and streams nothing for it.
pub async fn snapshot_of_a_missing_table_is_empty(dbs: &Databases) {
    let db = dbs.default_database().unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    let stats = snapshot.table_stats(&table("NeverCreated")).await.unwrap();
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

/// A restore transaction's writes (and the tables it creates) vanish on rollback or drop and appear verbatim on commit.
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

/// `SkipExisting` keeps stored records, `Overwrite` replaces them, and index columns are written.
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
        .find_by_index(&spec.table, &spec.indexes[0], "x")
        .await
        .unwrap();
    assert_eq!(by_index.len(), 2);
}

/// Into an empty table (`RefuseNonEmpty`, a backend's bulk path) values are stored verbatim, a repeated id is an error by `flush` at the latest, and a failed load leaves nothing.
pub async fn empty_table_restore_is_verbatim_and_refuses_repeated_ids(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    let spec = spec_of::<SimpleData>(dbs);
    let db = dbs.default_database().unwrap();
    // Characters a bulk format might treat specially: a raw tab (JSON
    // whitespace), backslashes, escaped line breaks, `\.`, non-ASCII.
    let odd = "{\"id\":\"odd\",\t\"s\":\"tab\\t back\\\\ nl\\n \\\\. \u{e9}\u{1f600}\"}";
    let rows: Vec<Row> = (0..2000)
        .map(|i| {
            row(
                &format!("r{:04}", (i * 7) % 2000),
                &format!("{{\"n\": {i}}}"),
            )
        })
        .chain([row("odd", odd)])
        .collect();
    let mut tx = db.begin_restore().await.unwrap();
    for chunk in rows.chunks(300) {
        tx.write(&spec, chunk.to_vec(), RestoreMode::RefuseNonEmpty)
            .await
            .unwrap();
    }
    tx.flush().await.unwrap();
    assert_eq!(tx.count(&spec.table).await.unwrap(), 2001);
    tx.commit().await.unwrap();
    assert_eq!(
        db.find_one(&spec.table, "odd")
            .await
            .unwrap()
            .unwrap()
            .value,
        odd
    );
    assert_eq!(
        db.find_one(&spec.table, "r0007")
            .await
            .unwrap()
            .unwrap()
            .value,
        "{\"n\": 1}"
    );
    let indexed = db
        .find_by_index(&spec.table, &spec.indexes[0], "x")
        .await
        .unwrap();
    assert_eq!(indexed.len(), 2001);

    // A repeated id, in another batch: an error, and nothing of the load stays.
    let mut tx = db.begin_restore().await.unwrap();
    let mode = RestoreMode::RefuseNonEmpty;
    let mut failed = tx
        .write(&spec, vec![row("new1", "{}"), row("dup", "{}")], mode)
        .await
        .is_err();
    if !failed {
        failed = tx
            .write(&spec, vec![row("dup", "{}"), row("new2", "{}")], mode)
            .await
            .is_err();
    }
    if !failed {
        failed = tx.flush().await.is_err();
    }
    assert!(
        failed,
        "a repeated id fails the load by flush at the latest"
    );
    tx.rollback().await.unwrap();
    assert_eq!(db.find_one(&spec.table, "new1").await.unwrap(), None);
    assert_eq!(db.find_one(&spec.table, "dup").await.unwrap(), None);
}

/// A snapshot refuses a stored value with a raw line break with `Error::MultiLineRecord` naming it.
pub async fn snapshot_refuses_a_value_spanning_lines(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    // Valid JSON, but not one line: it cannot go into a JSON-lines archive.
    insert_raw(dbs, "pretty", "{\n\"id\": \"pretty\"}").await;
    let db = dbs.default_database().unwrap();
    let mut snapshot = db.snapshot().await.unwrap();
    let first = snapshot
        .records(&table("SimpleTest"))
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

/// Names that must never reach a backend, for every kind of name: SQL
/// injection, spaces, empty, one byte too long, non-ASCII, control
/// characters, quotes of every SQL dialect.
fn hostile_names() -> Vec<String> {
    [
        "x\"; DROP TABLE y; --",
        "y; DROP TABLE y",
        "a b",
        "",
        "é",
        "naïve",
        "Δelta",
        "tab\tname",
        "new\nline",
        "nul\0",
        "quote'd",
        "back`tick",
        "[bracket]",
        "semi;colon",
        "dash-ed",
        "dot.ted",
        "1st",
        "x/*comment*/",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(["a".repeat(64), format!("{}é", "a".repeat(61))])
    .collect()
}

/// Asserts `result` is `Error::InvalidName` for `name` of `kind`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: gludb_core::Result<T>, kind: &str, name: &str) {
    match result {
        Err(Error::InvalidName {
            kind: refused_kind,
            name: refused,
            ..
        }) => {
            assert_eq!((refused_kind, refused.as_str()), (kind, name));
        }
        other => panic!("{kind} name {name:?} was not refused: {other:?}"),
    }
}

/// A hostile name cannot even be built as a [`TableName`] or an
/// [`IndexName`] (by `new`, `parse`, `TryFrom`), nor inside a
/// [`TableSpec`] or as a table prefix; the trait's methods take only those
/// types, so no such name can be passed to any `Backend`, `Snapshot` or
/// `RestoreTransaction` method (a `&str` does not compile: see the
/// `compile_fail` example of `gludb_core::names`). The backend's tables
/// are untouched.
pub async fn hostile_names_cannot_reach_the_backend(dbs: &Databases) {
    let db = dbs.default_database().expect("a default database");
    let victim = TableSpec::parse("y", &[]).expect("valid");
    db.ensure_table(&victim).await.unwrap();
    let row = Row {
        id: "kept".into(),
        value: "{\"id\":\"kept\"}".into(),
        index_values: vec![],
    };
    db.upsert(&victim, row).await.unwrap();

    for name in hostile_names() {
        assert_refused(TableName::new(&name), "table", &name);
        assert_refused(name.parse::<TableName>(), "table", &name);
        assert_refused(TableName::try_from(name.as_str()), "table", &name);
        assert_refused(TableName::try_from(name.clone()), "table", &name);
        assert_refused(IndexName::new(&name), "index", &name);
        assert_refused(name.parse::<IndexName>(), "index", &name);
        assert_refused(TableSpec::parse(&name, &[]), "table", &name);
        assert_refused(TableSpec::parse("t", &["ok", &name]), "index", &name);
        assert_refused(dbs.clone().with_table_prefix(&name), "table prefix", &name);
    }
    // Names one kind keeps for itself.
    for name in ["sqlite_master", "SQLITE_SEQUENCE", "sqlite_x"] {
        assert_refused(TableName::new(name), "table", name);
        assert!(IndexName::new(name).is_ok(), "{name} is a fine column name");
    }
    assert_refused(
        dbs.clone().with_table_prefix("sqlite"),
        "table prefix",
        "sqlite",
    );
    for name in ["id", "value", "ID", "Value"] {
        assert_refused(IndexName::new(name), "index", name);
        assert!(TableName::new(name).is_ok(), "{name} is a fine table name");
    }
    // A prefix that makes a type's table name too long is refused when
    // the table is resolved, naming the whole name.
    let long = dbs.clone().with_table_prefix("p".repeat(55)).unwrap();
    let err = SimpleData::find_one(&long, "x").await.unwrap_err();
    assert_refused::<()>(Err(err), "table", &format!("{}_SimpleTest", "p".repeat(55)));

    assert_eq!(
        db.find_one(&victim.table, "kept")
            .await
            .unwrap()
            .map(|r| r.id),
        Some("kept".to_owned()),
        "the backend's tables are untouched"
    );
}

/// Valid names that look odd (SQL keywords, `_`, mixed case, 63 bytes)
/// work in every `Backend`, `Snapshot` and `RestoreTransaction` method.
pub async fn odd_but_valid_names_work_in_every_method(dbs: &Databases) {
    let db = dbs.default_database().expect("a default database");
    let long_table = format!("T{}", "x".repeat(62));
    let long_index = format!("i{}", "y".repeat(62));
    let tables = [
        "select",
        "Order",
        "user",
        "_",
        "_1",
        "sqlite",
        long_table.as_str(),
    ];
    let indexes = ["from", "GROUP", "_", "where_", "ids", long_index.as_str()];
    let indexes: Vec<IndexName> = indexes
        .iter()
        .map(|i| IndexName::new(i).expect("valid"))
        .collect();
    for name in tables {
        let spec = TableSpec::new(table(name), indexes.clone());
        let t = &spec.table;
        let row = |id: &str, n: u32| Row {
            id: id.into(),
            value: format!("{{\"id\":\"{id}\",\"n\":{n}}}"),
            index_values: (0..spec.indexes.len())
                .map(|i| format!("{id}-{i}"))
                .collect(),
        };
        db.ensure_table(&spec).await.unwrap();
        db.ensure_table(&spec).await.unwrap();
        db.upsert(&spec, row("r1", 1)).await.unwrap();
        db.upsert(&spec, row("r2", 2)).await.unwrap();
        let found = db.find_one(t, "r1").await.unwrap().expect("stored");
        assert_eq!(found.value, row("r1", 1).value, "{name}");
        for (i, index) in spec.indexes.iter().enumerate() {
            let found = db
                .find_by_index(t, index, &format!("r2-{i}"))
                .await
                .unwrap();
            let ids: Vec<_> = found.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, ["r2"], "{name}.{index}");
        }
        let all: Vec<_> = db.find_all(t).try_collect().await.unwrap();
        let ids: Vec<_> = all.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r1", "r2"], "{name}");
        assert!(db.delete(t, "r2").await.unwrap(), "{name}");
        assert!(!db.delete(t, "r2").await.unwrap(), "{name}");

        let mut snapshot = db.snapshot().await.unwrap();
        let stats = snapshot.table_stats(t).await.unwrap();
        assert!(stats.exists && stats.records == 1, "{name}: {stats:?}");
        let batches: Vec<_> = snapshot.records(t).try_collect().await.unwrap();
        let lines: Vec<u8> = batches.iter().flat_map(|b| b.lines().to_vec()).collect();
        assert_eq!(
            lines,
            format!("{}\n", row("r1", 1).value).into_bytes(),
            "{name}"
        );
        snapshot.finish().await.unwrap();

        let mut tx = db.begin_restore().await.unwrap();
        tx.ensure_table(&spec).await.unwrap();
        assert_eq!(tx.count(t).await.unwrap(), 1, "{name}");
        let written = tx
            .write(
                &spec,
                vec![row("r1", 10), row("r3", 3)],
                RestoreMode::Overwrite,
            )
            .await
            .unwrap();
        assert_eq!(written, 2, "{name}");
        tx.commit().await.unwrap();
        let found = db.find_one(t, "r1").await.unwrap().expect("restored");
        assert_eq!(found.value, row("r1", 10).value, "{name}");
        let found = db.find_by_index(t, &spec.indexes[5], "r3-5").await.unwrap();
        assert_eq!(found.len(), 1, "{name}");
    }
}

/// `find_one_with_meta` returns the object with when its record was
/// created and last saved, as stored; `None` for a missing id; no times for
/// a record without the keys.
pub async fn find_one_with_meta_reads_the_automatic_keys(dbs: &Databases) {
    use gludb_core::record::parse_timestamp;

    SimpleData::ensure_table(dbs).await.unwrap();
    let mut d = SimpleData::new("Meta", 1);
    d.save(dbs).await.unwrap();
    let (found, meta) = SimpleData::find_one_with_meta(dbs, &d.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(found, d);
    let json = stored_json(dbs, &d.id).await;
    let stored = |key: &str| parse_timestamp(json[key].as_str().expect("a string"));
    assert_eq!(meta.created, stored("_create_date"));
    assert_eq!(meta.last_update, stored("_last_update"));
    assert!(meta.created.is_some());
    assert_eq!(meta.created, meta.last_update);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    d.age = 2;
    d.save(dbs).await.unwrap();
    let (_, again) = SimpleData::find_one_with_meta(dbs, &d.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(again.created, meta.created);
    assert!(again.last_update > meta.last_update, "{again:?} {meta:?}");

    assert!(
        SimpleData::find_one_with_meta(dbs, "0123456789abcdef0123456789abcdef")
            .await
            .unwrap()
            .is_none()
    );
    insert_raw(
        dbs,
        "bare",
        r#"{"id":"bare","name":"n","descrip":"d","age":1}"#,
    )
    .await;
    let (_, bare) = SimpleData::find_one_with_meta(dbs, "bare")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((bare.created, bare.last_update), (None, None));
}

/// An index may be a field (indexed by its `to_string()`) or a method; each
/// gets a typed finder `find_by_<index>`, which agrees with the string-keyed
/// `find_by_index` and follows updates.
pub async fn indexes_on_fields_and_methods_have_typed_finders(dbs: &Databases) {
    assert_eq!(
        IndexedData::type_info().indexes(),
        ["tag", "count", "loud_tag"]
    );
    IndexedData::ensure_table(dbs).await.unwrap();
    let mut a = IndexedData::new("a", 3);
    a.save(dbs).await.unwrap();
    let mut b = IndexedData::new("b", 3);
    b.save(dbs).await.unwrap();
    let ids = |found: Vec<IndexedData>| {
        let mut ids: Vec<String> = found.into_iter().map(|d| d.id).collect();
        ids.sort();
        ids
    };
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();

    assert_eq!(
        ids(IndexedData::find_by_tag(dbs, "a").await.unwrap()),
        [a.id.clone()]
    );
    // A field index's finder takes the field's own type.
    assert_eq!(
        ids(IndexedData::find_by_count(dbs, &3).await.unwrap()),
        both
    );
    assert_eq!(
        ids(IndexedData::find_by_loud_tag(dbs, "B").await.unwrap()),
        [b.id.clone()]
    );
    assert_eq!(
        ids(IndexedData::find_by_index(dbs, "tag", "a").await.unwrap()),
        [a.id.clone()]
    );
    assert!(IndexedData::find_by_tag(dbs, "A").await.unwrap().is_empty());

    a.tag = "c".into();
    a.count = 4;
    a.save(dbs).await.unwrap();
    assert!(IndexedData::find_by_tag(dbs, "a").await.unwrap().is_empty());
    assert_eq!(
        ids(IndexedData::find_by_loud_tag(dbs, "C").await.unwrap()),
        [a.id.clone()]
    );
    assert_eq!(
        ids(IndexedData::find_by_count(dbs, &3).await.unwrap()),
        [b.id.clone()]
    );
    assert_eq!(IndexedData::find_by_count(dbs, &4).await.unwrap(), vec![a]);
}
