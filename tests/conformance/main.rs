//! The backend conformance suite, exported by `gludb-testkit` (feature
//! `conformance`), run on every backend: SQLite file, SQLite in memory and
//! PostgreSQL, one `#[test]` per check and backend.
//!
//! PostgreSQL: every test gets a fresh database on one throwaway cluster
//! shared by this test binary (`PgCluster::shared`, stopped by an `atexit`
//! hook when the binary exits), or on `GLUDB_TEST_POSTGRES_URL`'s server.
//! Without either, the PostgreSQL tests print `SKIPPED` and pass, except
//! when `CI=true`, where they fail.

#[path = "../common/pg.rs"]
mod pg;

use gludb::{postgres::Postgres, sqlite::Sqlite};
use gludb_testkit::conformance::Fixture;

async fn sqlite_file(_check: &'static str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Sqlite::open(dir.path().join("conformance.sqlite"))
        .await
        .expect("open SQLite file");
    Some(Fixture::new(db).keeping(dir))
}

async fn sqlite_memory(_check: &'static str) -> Option<Fixture> {
    let db = Sqlite::open_in_memory()
        .await
        .expect("open SQLite in memory");
    Some(Fixture::new(db))
}

/// A fresh database for `check` on the shared PostgreSQL cluster; `None`
/// (after a loud SKIPPED) when no server is available, a panic if `CI=true`.
async fn postgres(check: &'static str) -> Option<Fixture> {
    let url = pg::shared_database(check).await?;
    let db = Postgres::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    Some(Fixture::new(db))
}

mod sqlite_file_backend {
    gludb_testkit::conformance_tests!(super::sqlite_file);
}

mod sqlite_memory_backend {
    gludb_testkit::conformance_tests!(super::sqlite_memory);
}

mod postgres_backend {
    gludb_testkit::conformance_tests!(super::postgres);
}

/// `run_all`, the suite's other entry point, runs every check (and would
/// name the ones that fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_runs_every_check() {
    let ran = gludb_testkit::conformance::run_all(sqlite_memory).await;
    assert_eq!(ran, gludb_testkit::conformance::CHECKS.len());
    assert_eq!(ran, 23);
}
