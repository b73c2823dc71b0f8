//! `save` refuses a value whose stored JSON would not decode again, and
//! stores nothing: such a record would fail every read, and make every backup
//! that copies it unrestorable.

use futures_util::TryStreamExt;
use gludb::{Databases, Error, Storable, sqlite::Sqlite};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "Measurement")]
struct Measurement {
    id: String,
    label: String,
    reading: f64,
}

#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "Document")]
struct Document {
    id: String,
    body: Value,
}

/// Rejects the keys gludb adds to every record, so it can never be read back.
#[derive(Storable, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[gludb(table = "Strict")]
#[serde(deny_unknown_fields)]
struct Strict {
    id: String,
    name: String,
}

async fn database() -> Databases {
    let dbs = Databases::new(Sqlite::open_in_memory().await.expect("open SQLite"));
    Measurement::ensure_table(&dbs).await.expect("table");
    Document::ensure_table(&dbs).await.expect("table");
    Strict::ensure_table(&dbs).await.expect("table");
    dbs
}

fn measurement(reading: f64) -> Measurement {
    Measurement {
        id: String::new(),
        label: "probe".into(),
        reading,
    }
}

/// `value` inside `depth` nested arrays.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("bottom"), |inner, _| json!([inner]))
}

async fn all<T: Storable>(dbs: &Databases) -> Vec<T> {
    T::find_all(dbs).try_collect().await.expect("find_all")
}

/// The reason of an `Error::Encode` for `type_name`; panics on anything else.
fn encode_reason(err: Error, type_name: &str) -> String {
    let message = err.to_string();
    match err {
        Error::Encode {
            type_name: name,
            reason,
        } => {
            assert_eq!(name, type_name, "{message}");
            assert!(
                message.starts_with(&format!("`{type_name}` cannot be stored: ")),
                "{message}"
            );
            reason
        }
        other => panic!("expected Error::Encode, got {other:?}"),
    }
}

#[tokio::test]
async fn non_finite_floats_are_refused_and_nothing_is_stored() {
    let dbs = database().await;
    for reading in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let mut m = measurement(reading);
        let err = m
            .save(&dbs)
            .await
            .expect_err("a non-finite float must be refused");
        let reason = encode_reason(err, "Measurement");
        assert!(
            reason.starts_with("the value would not read back: invalid type: null, expected f64"),
            "{reason}"
        );
        assert!(reason.contains("NaN or infinite"), "{reason}");
        assert_eq!(Measurement::find_one(&dbs, &m.id).await.unwrap(), None);
    }
    assert_eq!(all::<Measurement>(&dbs).await, []);
}

#[tokio::test]
async fn a_refused_update_keeps_the_stored_value() {
    let dbs = database().await;
    let mut m = measurement(21.5);
    m.save(&dbs).await.unwrap();
    let stored = m.clone();

    for reading in [f64::INFINITY, f64::NAN] {
        m.reading = reading;
        let err = m.save(&dbs).await.expect_err("must be refused");
        encode_reason(err, "Measurement");
        assert_eq!(
            Measurement::find_one(&dbs, &m.id).await.unwrap(),
            Some(stored.clone())
        );
    }
    assert_eq!(all::<Measurement>(&dbs).await, [stored]);

    // The object is still usable: a finite value saves over the old one.
    m.reading = 22.0;
    m.save(&dbs).await.unwrap();
    assert_eq!(all::<Measurement>(&dbs).await, [m]);
}

#[tokio::test]
async fn json_nested_past_the_read_limit_is_refused() {
    let dbs = database().await;
    let mut doc = Document {
        id: String::new(),
        body: nested(200),
    };
    let err = doc.save(&dbs).await.expect_err("too deep to read back");
    let reason = encode_reason(err, "Document");
    assert!(
        reason.starts_with("the value would not read back: recursion limit exceeded"),
        "{reason}"
    );
    assert!(reason.contains("128 levels"), "{reason}");
    assert_eq!(Document::find_one(&dbs, &doc.id).await.unwrap(), None);
    assert_eq!(all::<Document>(&dbs).await, []);
}

#[tokio::test]
async fn json_nested_within_the_read_limit_round_trips() {
    let dbs = database().await;
    let mut doc = Document {
        id: String::new(),
        body: nested(100),
    };
    doc.save(&dbs).await.expect("100 levels read back");
    assert_eq!(
        Document::find_one(&dbs, &doc.id).await.unwrap(),
        Some(doc.clone())
    );
    assert_eq!(all::<Document>(&dbs).await, [doc]);
}

#[tokio::test]
async fn ordinary_and_extreme_finite_values_save_as_before() {
    let dbs = database().await;
    let mut saved = Vec::new();
    for reading in [
        0.0,
        -0.0,
        1.5,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
    ] {
        let mut m = measurement(reading);
        m.save(&dbs).await.unwrap();
        let found = Measurement::find_one(&dbs, &m.id)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(found.reading.to_bits(), reading.to_bits(), "{reading}");
        saved.push(m);
    }
    let mut found = all::<Measurement>(&dbs).await;
    found.sort_by(|a, b| a.id.cmp(&b.id));
    saved.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, saved);

    let mut doc = Document {
        id: String::new(),
        body: json!({"list": [1, 2.5, null, "x"], "nested": {"ok": true}}),
    };
    doc.save(&dbs).await.unwrap();
    assert_eq!(Document::find_one(&dbs, &doc.id).await.unwrap(), Some(doc));
}

/// Not a float or depth problem: the same check catches a type that can
/// never read its own records.
#[tokio::test]
async fn a_type_rejecting_gludbs_keys_is_refused_at_save() {
    let dbs = database().await;
    let mut strict = Strict {
        id: String::new(),
        name: "x".into(),
    };
    let err = strict.save(&dbs).await.expect_err("never reads back");
    let reason = encode_reason(err, "Strict");
    assert!(reason.contains("unknown field `_create_date`"), "{reason}");
    assert_eq!(all::<Strict>(&dbs).await, []);
}
