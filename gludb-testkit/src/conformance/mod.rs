//! The backend conformance suite (feature `conformance`): the checks every
//! [`gludb_core::Backend`] passes, for a third-party backend to run on
//! itself, as `object_store` exports its `integration` tests.
//!
//! Each check is an `async fn(&Databases)` that needs a fresh, empty
//! database of the backend under test as the default database of its
//! [`Databases`], and panics on failure. Three ways to run them:
//!
//! * [`conformance_tests!`](crate::conformance_tests): one `#[test]` per
//!   check, each on a database from your factory (what gludb's own
//!   `tests/conformance/` does for SQLite file, SQLite in memory and
//!   PostgreSQL);
//! * [`run_all`]: every check in one test, reporting every failing check;
//! * the checks one by one (they are `pub`), e.g. from your own test
//!   functions; [`CHECKS`] lists their names.
//!
//! A factory is an `async fn(&'static str) -> Option<Fixture>`: given the
//! check's name (to name a database after it, say), it returns a [`Fixture`]
//! holding a new database, or `None` to skip the check (e.g. when a server
//! is not available).
//!
//! ```
//! // tests/conformance.rs of a crate with its own backend:
//! use gludb_testkit::conformance::Fixture;
//!
//! async fn fresh(_check: &'static str) -> Option<Fixture> {
//!     # use gludb_core::sqlite::Sqlite as MyBackend;
//!     let db = MyBackend::open_in_memory().await.expect("open");
//!     Some(Fixture::new(db))
//! }
//!
//! gludb_testkit::conformance_tests!(fresh);
//! # fn main() {}
//! ```
//!
//! ```
//! # use gludb_testkit::conformance::{Fixture, run_all};
//! # #[tokio::main]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let ran = run_all(async |check| {
//!     let path = dir.path().join(format!("{check}.sqlite"));
//!     Some(Fixture::new(gludb_core::sqlite::Sqlite::open(path).await.ok()?))
//! })
//! .await;
//! assert_eq!(ran, gludb_testkit::conformance::CHECKS.len());
//! # }
//! ```
//!
//! The checks use three stored types of the suite's own
//! ([`models`]), in tables `SimpleTest`, `FragileTest` and `IndexedTest`
//! (plus the tables some checks create through the `Backend` directly).

pub mod checks;
pub mod models;

use std::{any::Any, future::Future, panic::AssertUnwindSafe};

use futures_util::FutureExt;
use gludb_core::{Backend, Databases};

#[doc(inline)]
pub use checks::*;

/// A fresh database of the backend under test, as a check needs it: the
/// default database of a [`Databases`], and whatever must live as long as
/// it (a temporary directory, a server).
pub struct Fixture {
    dbs: Databases,
    _keep: Vec<Box<dyn Any + Send + Sync>>,
}

impl Fixture {
    /// A fixture whose default database is `backend`.
    pub fn new(backend: impl Backend) -> Fixture {
        Fixture {
            dbs: Databases::new(backend),
            _keep: Vec::new(),
        }
    }

    /// Keeps `guard` alive (dropped after the check), e.g. the
    /// `tempfile::TempDir` a database file lives in.
    pub fn keeping(mut self, guard: impl Any + Send + Sync) -> Fixture {
        self._keep.push(Box::new(guard));
        self
    }

    /// The databases a check runs on.
    pub fn databases(&self) -> &Databases {
        &self.dbs
    }
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").field("dbs", &self.dbs).finish()
    }
}

/// Calls the macro `[path]` with `{ args }` and the names of every check,
/// in order: the one list of checks ([`CHECKS`], [`run_all`],
/// [`conformance_tests!`](crate::conformance_tests)).
#[doc(hidden)]
#[macro_export]
macro_rules! __gludb_conformance_checks {
    ([$($callback:tt)*] { $($args:tt)* }) => {
        $($callback)*! {
            { $($args)* }
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
            empty_table_restore_is_verbatim_and_refuses_repeated_ids,
            snapshot_refuses_a_value_spanning_lines,
            hostile_names_cannot_reach_the_backend,
            odd_but_valid_names_work_in_every_method,
            find_one_with_meta_reads_the_automatic_keys,
            indexes_on_fields_and_methods_have_typed_finders,
        }
    };
}

macro_rules! names {
    ({} $($name:ident),* $(,)?) => {
        /// The names of every check, in the order [`run_all`] runs them.
        pub const CHECKS: &[&str] = &[$(stringify!($name)),*];
    };
}

__gludb_conformance_checks!([names] {});

/// One `#[test]` per check, each on a fixture from `fresh`, an
/// `async fn(&'static str) -> Option<Fixture>` (`None` skips the check).
///
/// The tests run on a multi-threaded Tokio runtime with two workers (so a
/// factory may use `tokio::task::block_in_place`); the calling crate needs
/// no Tokio of its own. Put each backend's tests in a module of its own:
///
/// ```
/// use gludb_testkit::conformance::Fixture;
///
/// async fn sqlite_memory(_check: &'static str) -> Option<Fixture> {
///     let db = gludb_core::sqlite::Sqlite::open_in_memory().await.ok()?;
///     Some(Fixture::new(db))
/// }
///
/// mod sqlite_memory_backend {
///     gludb_testkit::conformance_tests!(super::sqlite_memory);
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::__gludb_conformance_checks!([$crate::__gludb_conformance_tests] { $fresh });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __gludb_conformance_tests {
    ({ $fresh:path } $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::__runtime().block_on(async {
                    let ::core::option::Option::Some(fixture) = $fresh(stringify!($name)).await
                    else {
                        return;
                    };
                    $crate::conformance::$name(fixture.databases()).await;
                });
            }
        )*
    };
}

/// The runtime [`conformance_tests!`](crate::conformance_tests) runs each
/// test on. Not a stable API.
#[doc(hidden)]
pub fn __runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        // A test helper: without a runtime there is no test to run.
        .expect("a Tokio runtime for the conformance tests")
}

/// Runs every check, in order, each on a fixture from `fresh` (`None`
/// skips the check), and panics at the end naming every check that
/// failed (each one's panic message was printed when it failed). Returns
/// how many checks ran (were not skipped).
///
/// Needs a multi-threaded Tokio runtime if `fresh` blocks.
pub async fn run_all<F, Fut>(mut fresh: F) -> usize
where
    F: FnMut(&'static str) -> Fut,
    Fut: Future<Output = Option<Fixture>>,
{
    let mut ran = 0;
    let mut failed: Vec<&'static str> = Vec::new();
    macro_rules! run {
        ({} $($name:ident),* $(,)?) => {
            $(
                if let Some(fixture) = fresh(stringify!($name)).await {
                    ran += 1;
                    let check = checks::$name(fixture.databases());
                    if AssertUnwindSafe(check).catch_unwind().await.is_err() {
                        failed.push(stringify!($name));
                    }
                }
            )*
        };
    }
    __gludb_conformance_checks!([run] {});
    assert!(
        failed.is_empty(),
        "{} of {} conformance checks failed: {}",
        failed.len(),
        CHECKS.len(),
        failed.join(", ")
    );
    ran
}
