//! The backend conformance suite: one set of tests, run against every
//! backend (SQLite file, SQLite in memory, PostgreSQL), in the spirit of
//! object_store's `integration.rs`.
//!
//! PostgreSQL: every test gets a fresh database on one throwaway cluster
//! shared by this test binary (`PgCluster::shared`, stopped by an `atexit`
//! hook when the binary exits), or on `GLUDB_TEST_POSTGRES_URL`'s server.
//! Without either, the PostgreSQL tests print `SKIPPED` and pass, except
//! when `CI=true`, where they fail.

mod models;
#[path = "../common/pg.rs"]
mod pg;
mod suite;

use gludb::{Databases, postgres::Postgres, sqlite::Sqlite};

/// A database for one test, kept alive (with its files) while the test runs.
pub struct Fixture {
    pub dbs: Databases,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite_file(_test: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Sqlite::open(dir.path().join("conformance.sqlite"))
        .await
        .expect("open SQLite file");
    Some(Fixture {
        dbs: Databases::new(db),
        _dir: Some(dir),
    })
}

async fn sqlite_memory(_test: &str) -> Option<Fixture> {
    let db = Sqlite::open_in_memory()
        .await
        .expect("open SQLite in memory");
    Some(Fixture {
        dbs: Databases::new(db),
        _dir: None,
    })
}

/// A fresh database for `test` on the shared PostgreSQL cluster; `None`
/// (after a loud SKIPPED) when no server is available, a panic if `CI=true`.
async fn postgres(test: &str) -> Option<Fixture> {
    let url = pg::shared_database(test).await?;
    let db = Postgres::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    Some(Fixture {
        dbs: Databases::new(db),
        _dir: None,
    })
}

/// Generates one `#[tokio::test]` per suite function for a backend.
macro_rules! conformance {
    ($backend:ident, $fixture:path) => {
        mod $backend {
            conformance!(@tests $fixture;
                save_assigns_id_and_timestamps,
                save_again_keeps_create_date_and_updates_last_update,
                find_one_of_a_missing_id_is_none,
                find_all_streams_every_record_in_id_order,
                find_by_index_follows_updates,
                delete_reports_whether_the_record_existed,
                missing_table_is_a_typed_error,
                malformed_json_is_a_decode_error_naming_the_record,
                record_of_the_wrong_shape_is_a_decode_error,
                failed_save_changes_nothing,
                unicode_and_escapes_round_trip,
                table_prefix_names_the_table,
                closed_database_is_a_typed_error,
                snapshot_sees_one_point_in_time,
                snapshot_of_a_missing_table_is_empty,
                restore_transaction_commits_all_or_nothing,
                restore_modes_handle_existing_ids,
                snapshot_refuses_a_value_spanning_lines,
            );
        }
    };
    (@tests $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(fixture) = $fixture(stringify!($name)).await else {
                    return;
                };
                crate::suite::$name(&fixture.dbs).await;
            }
        )*
    };
}

conformance!(sqlite_file_backend, crate::sqlite_file);
conformance!(sqlite_memory_backend, crate::sqlite_memory);
conformance!(postgres_backend, crate::postgres);
