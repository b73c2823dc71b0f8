//! Hostile review scratch tests (SQLite sorted load, checkpoints, stats,
//! gzip). Not part of the suite.

#[path = "backup/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "backup/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::Instant;

use gludb::{
    Backend, Databases, RestoreMode, Storable,
    backup::{Backup, Bases, Restore},
    sqlite::Sqlite,
};
use models::*;
use support::*;

const KEY: &str = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";

fn simple(id: &str, name: &str) -> String {
    format!("{{\"id\":\"{id}\",\"name\":\"{name}\",\"descrip\":\"d\",\"age\":1}}\n")
}

fn complex(id: &str, name: &str) -> String {
    format!("{{\"id\":\"{id}\",\"name\":\"{name}\",\"complex_data\":[]}}\n")
}

/// RefuseNonEmpty restore into two databases; the second database's
/// member repeats an id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_duplicate_id_in_second_database_partial_commit() {
    let dir = tempfile::tempdir().unwrap();
    let simples: String = (0..5).map(|i| simple(&format!("s{i}"), "n")).collect();
    let complexes = complex("dup", "first") + &complex("x", "x") + &complex("dup", "second");
    write_archive(
        dir.path(),
        KEY,
        &[
            ("SimpleData--SimpleTest.json", simples.as_bytes()),
            ("ComplexData--ComplexTest.json", complexes.as_bytes()),
        ],
    );
    let one = Sqlite::open_in_memory().await.unwrap();
    let two = Sqlite::open_in_memory().await.unwrap();
    let target = Databases::new(one.clone()).map::<ComplexData>(two.clone());
    let r = Restore::from_url(&file_url(dir.path()))
        .unwrap()
        .with_mode(RestoreMode::RefuseNonEmpty)
        .restore(KEY, &target)
        .await;
    eprintln!(
        "RV multi-db dup: {:?}",
        r.as_ref().map(|_| ()).map_err(|e| e.to_string())
    );
    let kept = rows_of(&one, "SimpleTest").await;
    eprintln!(
        "RV first db SimpleTest after the failed restore: {:?}",
        kept.as_ref().map(|k| k.len())
    );
    let kept2 = rows_of(&two, "ComplexTest").await;
    eprintln!(
        "RV second db ComplexTest: {:?}",
        kept2.as_ref().map(|k| k.len())
    );
    assert!(r.is_err());
    assert!(
        kept.is_none_or(|k| k.is_empty()),
        "RefuseNonEmpty: a data problem in the archive committed the first database"
    );
}

/// The same restore into one database: what the error says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_duplicate_id_single_database_error() {
    let dir = tempfile::tempdir().unwrap();
    let simples = simple("dup", "a") + &simple("b", "b") + &simple("dup", "c");
    write_archive(
        dir.path(),
        KEY,
        &[("SimpleData--SimpleTest.json", simples.as_bytes())],
    );
    let one = Sqlite::open_in_memory().await.unwrap();
    let target = Databases::new(one.clone());
    let err = Restore::from_url(&file_url(dir.path()))
        .unwrap()
        .with_mode(RestoreMode::RefuseNonEmpty)
        .restore(KEY, &target)
        .await
        .unwrap_err();
    eprintln!("RV single-db dup error: {err}\n   {err:?}");
    eprintln!("RV rows: {:?}", rows_of(&one, "SimpleTest").await);
}

/// What SQLite's octet_length and the data path say for values other
/// programs may have stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_stats_vs_streamed_bytes_for_odd_values() {
    let cases: &[(&str, &str)] = &[
        (
            "multibyte",
            "'{\"id\":\"m\",\"name\":\"é€😀\",\"descrip\":\"d\",\"age\":1}'",
        ),
        (
            "raw NUL",
            "'{\"id\":\"z\",\"name\":\"a' || char(0) || 'b\",\"descrip\":\"d\",\"age\":1}'",
        ),
        (
            "blob",
            "CAST('{\"id\":\"b\",\"name\":\"n\",\"descrip\":\"d\",\"age\":1}' AS BLOB)",
        ),
        ("integer", "42"),
        ("empty", "''"),
        ("invalid utf8", "CAST(X'7B22696422FF7D' AS TEXT)"),
    ];
    for (label, value) in cases {
        let db = sqlite_file().await;
        SimpleData::ensure_table(&db.dbs).await.unwrap();
        SimpleData {
            name: "ok".into(),
            ..Default::default()
        }
        .save(&db.dbs)
        .await
        .unwrap();
        {
            let conn = rusqlite::Connection::open(&db.path).unwrap();
            conn.execute_batch(&format!(
                "INSERT INTO SimpleTest (id, value, reversed_name) VALUES ('odd', {value}, 'x')"
            ))
            .unwrap();
        }
        let out = tempfile::tempdir().unwrap();
        let mut backup = Backup::from_url(&file_url(out.path())).unwrap();
        backup.add_class_with::<SimpleData>(Bases::Exclude);
        let r = backup.run_backup(&db.dbs).await;
        let report = match &r {
            Ok(rep) => {
                let bytes = std::fs::read(out.path().join(&rep.key)).unwrap();
                let members = read_archive(&bytes);
                format!(
                    "ok: {:?}",
                    members
                        .iter()
                        .map(|(n, d)| (n.clone(), d.len()))
                        .collect::<Vec<_>>()
                )
            }
            Err(e) => format!("error: {e}"),
        };
        eprintln!("RV value {label}: {report}");
    }
}

/// A database file another program created in UTF-16.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_utf16_database_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u16.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA encoding = 'UTF-16le'; CREATE TABLE t (x); DROP TABLE t;")
            .unwrap();
    }
    let dbs = Databases::new(Sqlite::open(&path).await.unwrap());
    SimpleData::ensure_table(&dbs).await.unwrap();
    for i in 0..3 {
        SimpleData {
            name: format!("name é {i}"),
            ..Default::default()
        }
        .save(&dbs)
        .await
        .unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let mut backup = Backup::from_url(&file_url(out.path())).unwrap();
    backup.add_class_with::<SimpleData>(Bases::Exclude);
    let r = backup.run_backup(&dbs).await;
    match &r {
        Ok(rep) => {
            let bytes = std::fs::read(out.path().join(&rep.key)).unwrap();
            let members = read_archive(&bytes);
            eprintln!(
                "RV utf16 backup ok: {:?}",
                members
                    .iter()
                    .map(|(n, d)| (
                        n.clone(),
                        d.len(),
                        String::from_utf8_lossy(d)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ))
                    .collect::<Vec<_>>()
            );
            let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
            let rr = Restore::from_url(&file_url(out.path()))
                .unwrap()
                .restore(&rep.key, &target)
                .await;
            eprintln!(
                "RV utf16 restore: {:?}",
                rr.map(|r| r.classes.iter().map(|c| c.written).collect::<Vec<_>>())
                    .map_err(|e| e.to_string())
            );
        }
        Err(e) => eprintln!("RV utf16 backup error: {e}"),
    }
}

/// Restore, then close at once / write at once / restore again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_checkpoint_after_restore() {
    let src = sqlite_file().await;
    SimpleData::ensure_table(&src.dbs).await.unwrap();
    let big = "q".repeat(20_000);
    for i in 0..2000 {
        SimpleData {
            name: format!("n{i}"),
            descrip: big.clone(),
            ..Default::default()
        }
        .save(&src.dbs)
        .await
        .unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let mut backup = Backup::from_url(&file_url(out.path())).unwrap();
    backup.add_class_with::<SimpleData>(Bases::Exclude);
    let key = backup.run_backup(&src.dbs).await.unwrap().key;
    let restore = Restore::from_url(&file_url(out.path()))
        .unwrap()
        .with_mode(RestoreMode::RefuseNonEmpty);

    // 1. close right after
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let db = Sqlite::open(&path).await.unwrap();
    let dbs = Databases::new(db.clone());
    let t = Instant::now();
    restore.restore(&key, &dbs).await.unwrap();
    let restored = t.elapsed();
    let wal = dir.path().join("t.sqlite-wal");
    let wal_before = std::fs::metadata(&wal).map(|m| m.len()).ok();
    let t = Instant::now();
    db.close().await.unwrap();
    eprintln!(
        "RV restore {restored:?}; WAL {wal_before:?} before close; close took {:?}; WAL after close {:?}; db {:?}",
        t.elapsed(),
        std::fs::metadata(&wal).map(|m| m.len()).ok(),
        std::fs::metadata(&path).map(|m| m.len()).ok()
    );
    let db = Sqlite::open(&path).await.unwrap();
    eprintln!(
        "RV rows after reopen: {:?}",
        rows_of(&db, "SimpleTest").await.map(|r| r.len())
    );

    // 2. write right after, then restore again (refused), then another app write
    let dbs = Databases::new(db.clone());
    SimpleData::ensure_table(&dbs).await.unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = Sqlite::open(dir2.path().join("t2.sqlite")).await.unwrap();
    let dbs2 = Databases::new(db2.clone());
    restore.restore(&key, &dbs2).await.unwrap();
    let t = Instant::now();
    SimpleData {
        name: "app".into(),
        ..Default::default()
    }
    .save(&dbs2)
    .await
    .unwrap();
    eprintln!("RV app save right after restore took {:?}", t.elapsed());
    let again = restore.restore(&key, &dbs2).await;
    eprintln!(
        "RV second RefuseNonEmpty restore: {:?}",
        again.map(|_| ()).map_err(|e| e.to_string())
    );
    let over = Restore::from_url(&file_url(out.path()))
        .unwrap()
        .restore(&key, &dbs2)
        .await;
    eprintln!(
        "RV Overwrite restore right after: {:?}",
        over.map(|r| r.classes[0].written)
            .map_err(|e| e.to_string())
    );
    eprintln!(
        "RV rows db2: {:?}",
        rows_of(&db2, "SimpleTest").await.map(|r| r.len())
    );
    db2.close().await.unwrap();

    // 3. in memory
    let mem = Sqlite::open_in_memory().await.unwrap();
    let dbs3 = Databases::new(mem.clone());
    let r = restore.restore(&key, &dbs3).await;
    eprintln!(
        "RV in-memory restore: {:?}",
        r.map(|r| r.classes[0].written).map_err(|e| e.to_string())
    );
    eprintln!(
        "RV rows mem: {:?}",
        rows_of(&mem, "SimpleTest").await.map(|r| r.len())
    );
    let t = Instant::now();
    mem.close().await.unwrap();
    eprintln!("RV mem close {:?}", t.elapsed());
}

/// gzip: what other tools say of an archive, and the level checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_gzip_archives_readable_by_tools() {
    let src = sqlite_file().await;
    SimpleData::ensure_table(&src.dbs).await.unwrap();
    EmptyData::ensure_table(&src.dbs).await.unwrap();
    for i in 0..3000 {
        SimpleData {
            name: format!("n{i} é"),
            descrip: noise(i, 700),
            ..Default::default()
        }
        .save(&src.dbs)
        .await
        .unwrap();
    }
    for level in [1u32, 2, 5, 9, 0, 10] {
        let out = tempfile::tempdir().unwrap();
        let mut backup = Backup::from_url(&file_url(out.path()))
            .unwrap()
            .with_compression_level(level);
        backup.add_class_with::<SimpleData>(Bases::Exclude);
        backup.add_class_with::<EmptyData>(Bases::Exclude);
        match backup.run_backup(&src.dbs).await {
            Err(e) => eprintln!("RV level {level}: error {e}"),
            Ok(rep) => {
                let file = out.path().join(&rep.key);
                let bytes = std::fs::read(&file).unwrap();
                let gz = std::process::Command::new("gzip")
                    .arg("-t")
                    .arg(&file)
                    .output()
                    .unwrap();
                let tar = std::process::Command::new("tar")
                    .arg("tzvf")
                    .arg(&file)
                    .output()
                    .unwrap();
                let py = std::process::Command::new("python3")
                    .arg("-c")
                    .arg("import sys,tarfile\nt=tarfile.open(sys.argv[1])\nfor m in t: print(m.name, m.size, len(t.extractfile(m).read()))")
                    .arg(&file)
                    .output()
                    .unwrap();
                eprintln!(
                    "RV level {level}: {} bytes, xfl={} os={}; gzip -t {} {}; tar {} {}; python {} {}",
                    bytes.len(),
                    bytes[8],
                    bytes[9],
                    gz.status,
                    String::from_utf8_lossy(&gz.stderr),
                    tar.status,
                    String::from_utf8_lossy(&tar.stdout).lines().count(),
                    py.status,
                    String::from_utf8_lossy(&py.stdout).replace('\n', "; ")
                        + &String::from_utf8_lossy(&py.stderr)
                );
                let target = Databases::new(Sqlite::open_in_memory().await.unwrap());
                let rr = Restore::from_url(&file_url(out.path()))
                    .unwrap()
                    .restore(&rep.key, &target)
                    .await;
                eprintln!(
                    "RV level {level} restore: {:?}",
                    rr.map(|r| r.classes.iter().map(|c| c.written).collect::<Vec<_>>())
                        .map_err(|e| e.to_string())
                );
            }
        }
    }
}
