//! PostgreSQL for a test, or a loud skip: one copy of the skip/CI rule and
//! of the per-test database naming, for every test binary that needs a
//! server (included with `#[path = "../common/pg.rs"]` or
//! `#[path = "common/pg.rs"]`).
//!
//! Without PostgreSQL a test prints `SKIPPED` and passes, except when
//! `CI=true`, where it fails.

// Shared by several test binaries: each uses only part of it.
#![allow(dead_code)]

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use gludb_testkit::PgCluster;

/// Straight to stderr: the test harness captures `eprintln!`.
pub fn loud(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// What starting a cluster gave, or `None` after a loud `SKIPPED` on stderr
/// when there is no PostgreSQL; with `CI=true` that is a failure instead.
pub fn available<C>(test: &str, started: std::io::Result<Option<C>>) -> Option<C> {
    let reason = match started {
        Ok(Some(cluster)) => return Some(cluster),
        Ok(None) => {
            "PgCluster::start found no initdb/pg_ctl, or cannot run them as a non-root user"
                .to_owned()
        }
        Err(e) => format!("starting a cluster failed: {e}"),
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "PostgreSQL is required when CI=true: {reason}"
    );
    loud(&format!(
        "SKIPPED: PostgreSQL not available ({reason}; set GLUDB_TEST_POSTGRES_URL to use a server): {test}"
    ));
    None
}

/// The cluster shared by this test binary ([`PgCluster::shared`]).
pub async fn shared_cluster(test: &str) -> Option<&'static PgCluster> {
    let started = tokio::task::spawn_blocking(PgCluster::shared)
        .await
        .expect("PgCluster::shared does not panic");
    available(test, started)
}

/// A cluster of the test's own, which it may stop and restart.
pub async fn own_cluster(test: &str) -> Option<PgCluster> {
    let started = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .expect("PgCluster::start does not panic");
    let cluster = available(test, started)?;
    if !cluster.is_owned() {
        loud(&format!(
            "SKIPPED: stopping or restarting the server needs a cluster started by \
             the testkit, not GLUDB_TEST_POSTGRES_URL: {test}"
        ));
        return None;
    }
    Some(cluster)
}

/// The URL of a fresh database on `cluster`, unique per call (also on a
/// long-lived `GLUDB_TEST_POSTGRES_URL` server). Needs a multi-threaded
/// runtime: `psql` runs synchronously on this worker.
pub fn create_database(cluster: &PgCluster, test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "{}_{}_{}_{nanos}",
        &test[..test.len().min(32)],
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    // Keep the runtime's other workers going while `psql` runs.
    tokio::task::block_in_place(|| cluster.create_database(&name)).expect("create a database")
}

/// The URL of a fresh database on the shared cluster, or `None` after a
/// loud skip.
pub async fn shared_database(test: &str) -> Option<String> {
    let cluster = shared_cluster(test).await?;
    Some(create_database(cluster, test))
}
