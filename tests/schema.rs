//! Schema fingerprints: stable for the same source, different when a field
//! is added, removed, renamed or retyped; recorded per class in the
//! manifest; drift reported by verify, restore and inspect, and refused on
//! request.

#[path = "backup/models.rs"]
mod models;
#[path = "backup/support.rs"]
mod support;

use gludb::{
    Databases, Storable,
    backup::{
        Backup, BackupError, BackupStore, Restore,
        archive::{Manifest, fingerprint},
    },
};
use support::*;

/// One document type as it evolves: each module is a version of it.
mod v1 {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        pub title: String,
        pub pages: u32,
    }
}

mod reordered {
    /// The same fields in another order, with comments: the same shape.
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        /// How long it is.
        pub pages: u32,
        pub id: String,
        // The title.
        pub title: String,
    }
}

mod added {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        pub title: String,
        pub pages: u32,
        #[serde(default)]
        pub author: String,
    }
}

mod removed {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        pub title: String,
    }
}

mod renamed {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        pub heading: String,
        pub pages: u32,
    }
}

mod renamed_in_json {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        #[serde(rename = "heading")]
        pub title: String,
        pub pages: u32,
    }
}

mod retyped {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        pub title: String,
        pub pages: u64,
    }
}

mod camel_case {
    /// Every stored key renamed by the struct's own serde attribute.
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    #[serde(rename_all = "camelCase")]
    pub struct Doc {
        pub id: String,
        pub title: String,
        pub pages: u32,
    }
}

mod spaced_key {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        #[serde(rename = "the title")]
        pub title: String,
        pub pages: u32,
    }
}

mod unspaced_key {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs")]
    pub struct Doc {
        pub id: String,
        #[serde(rename = "thetitle")]
        pub title: String,
        pub pages: u32,
    }
}

mod indexed {
    #[derive(gludb::Storable, serde::Serialize, serde::Deserialize)]
    #[gludb(table = "Docs", indexes(title))]
    pub struct Doc {
        pub id: String,
        pub title: String,
        pub pages: u32,
    }
}

#[test]
fn a_fingerprint_is_stable_and_changes_with_the_fields() {
    let v1 = v1::Doc::type_info();
    // The same text and hash on every build and machine: these are the
    // values any build of this source computes.
    assert_eq!(
        v1.shape(),
        "table=Docs;bases=;indexes=;serde=;fields=id:String,pages:u32,title:String"
    );
    assert_eq!(fingerprint(v1.shape()), "ff1f8ac450c004e7");
    assert_eq!(reordered::Doc::type_info().shape(), v1.shape());

    for (change, info) in [
        ("a field added", added::Doc::type_info()),
        ("a field removed", removed::Doc::type_info()),
        ("a field renamed", renamed::Doc::type_info()),
        ("a field renamed in JSON", renamed_in_json::Doc::type_info()),
        ("a field retyped", retyped::Doc::type_info()),
        ("an index added", indexed::Doc::type_info()),
        (
            "the struct's serde attributes",
            camel_case::Doc::type_info(),
        ),
    ] {
        assert_ne!(
            fingerprint(info.shape()),
            fingerprint(v1.shape()),
            "{change}: {}",
            info.shape()
        );
    }
    assert_eq!(
        gludb::backup::archive::drift(v1.shape(), retyped::Doc::type_info().shape()).unwrap(),
        "field pages: u32 → u64"
    );
    // A space inside a string literal is part of the key it names.
    assert_ne!(
        spaced_key::Doc::type_info().shape(),
        unspaced_key::Doc::type_info().shape()
    );
}

/// The type backed up and restored in the drift test.
#[derive(gludb::Storable, serde::Serialize, serde::Deserialize, Default)]
#[gludb(table = "Memos")]
struct Memo {
    id: String,
    text: String,
    #[serde(default)]
    stars: u32,
}

/// What `Memo` looked like before it had `stars`.
const OLD_MEMO_SHAPE: &str = "table=Memos;bases=;indexes=;serde=;fields=id:String,text:String";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_recorded_reported_and_refused_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file().await;
    Memo::ensure_table(&source.dbs).await.unwrap();
    for i in 0..3 {
        Memo {
            text: format!("memo {i}"),
            ..Default::default()
        }
        .save(&source.dbs)
        .await
        .unwrap();
    }
    let store = BackupStore::from_url(&file_url(dir.path())).unwrap();
    let key = Backup::on(&store)
        .with_class::<Memo>()
        .run_backup(&source.dbs)
        .await
        .unwrap()
        .key;

    // The manifest records the class's fingerprint and shape.
    let members = read_archive(&std::fs::read(dir.path().join(&key)).unwrap());
    let manifest = Manifest::from_json(&members.last().unwrap().1).unwrap();
    let entry = &manifest.members[0];
    assert_eq!(entry.shape.as_deref(), Some(Memo::type_info().shape()));
    assert_eq!(
        entry.fingerprint.as_deref(),
        Some(fingerprint(Memo::type_info().shape()).as_str())
    );
    let inspection = store.inspect(&key).await.unwrap();
    assert_eq!(inspection.classes[0].fingerprint, entry.fingerprint);
    assert_eq!(inspection.classes[0].schema_drift, None);
    let verified = Restore::on(&store).verify(&key).await.unwrap();
    assert!(!verified.has_schema_drift());

    // The same backup as an older version of the program wrote it: every
    // record still decodes (`stars` has a default), but the schema drifted.
    let mut old = manifest.clone();
    old.members[0].shape = Some(OLD_MEMO_SHAPE.to_owned());
    old.members[0].fingerprint = Some(fingerprint(OLD_MEMO_SHAPE));
    let old_json = serde_json::to_vec(&old).unwrap();
    let old_key = "Backup_UTC_2020-01-01T00_00_00.000000_abcdef-01234567.tar.gz";
    write_archive(
        dir.path(),
        old_key,
        &[
            (members[0].0.as_str(), members[0].1.as_slice()),
            ("gludb-manifest.json", old_json.as_slice()),
        ],
    );

    let verified = Restore::on(&store).verify(old_key).await.unwrap();
    assert!(verified.is_ok(), "drift alone is not damage: {verified:?}");
    assert_eq!(
        verified.classes[0].schema_drift.as_deref(),
        Some("field stars: u32#[serde(default)] added")
    );
    let inspection = store.inspect(old_key).await.unwrap();
    assert!(inspection.classes[0].schema_drift.is_some());

    let target = Databases::new(gludb::sqlite::Sqlite::open_in_memory().await.unwrap());
    let err = Restore::on(&store)
        .refuse_schema_drift(true)
        .restore(old_key, &target)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackupError::SchemaDrift { class, .. } if class == "Memo--Memos"),
        "{err}"
    );
    let db = target.default_database().unwrap();
    assert_eq!(
        rows_of(db.as_ref(), "Memos")
            .await
            .unwrap_or_default()
            .len(),
        0,
        "nothing restored"
    );

    let report = Restore::on(&store).restore(old_key, &target).await.unwrap();
    assert_eq!(report.classes[0].written, 3);
    assert!(report.classes[0].schema_drift.is_some());

    // A manifest with a fingerprint only (no shape) still shows drift, and
    // one whose fingerprint is not its shape's was edited.
    for (fingerprint_of, shape, expected) in [
        (OLD_MEMO_SHAPE, None, "when backed up"),
        ("something else", Some(Memo::type_info().shape()), "edited"),
    ] {
        let mut edited = manifest.clone();
        edited.members[0].fingerprint = Some(fingerprint(fingerprint_of));
        edited.members[0].shape = shape.map(str::to_owned);
        let json = serde_json::to_vec(&edited).unwrap();
        let key = "Backup_UTC_2020-01-02T00_00_00.000000_abcdef-01234567.tar.gz";
        write_archive(
            dir.path(),
            key,
            &[
                (members[0].0.as_str(), members[0].1.as_slice()),
                ("gludb-manifest.json", json.as_slice()),
            ],
        );
        let verified = Restore::on(&store).verify(key).await.unwrap();
        let drift = verified.classes[0].schema_drift.clone().unwrap_or_default();
        assert!(drift.contains(expected), "{drift}");
    }
}
