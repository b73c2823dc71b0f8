//! The PostgreSQL cluster, for real, checked with `psql`.

use std::net::TcpStream;
use std::process::Command;
use std::time::Instant;

use gludb_testkit::PgCluster;

/// Starts a cluster, or skips loudly (fails when `CI=true`).
fn cluster() -> Option<PgCluster> {
    let t = Instant::now();
    let cluster = PgCluster::start().unwrap();
    eprintln!("PgCluster::start took {:?}", t.elapsed());
    if cluster.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is required when CI=true"
        );
        eprintln!("SKIPPED: no PostgreSQL available");
    }
    cluster
}

/// Runs `psql -c sql` against `url`; `Err(stderr)` if it fails.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn create_database_and_query() {
    let Some(pg) = cluster() else { return };
    if pg.is_owned() {
        assert_eq!(
            pg.url(),
            format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
        );
    }
    assert_eq!(psql(&pg.url(), "select 1").unwrap(), "1");

    let t = Instant::now();
    let url = pg.create_database("testkit_create").unwrap();
    eprintln!("create_database took {:?}", t.elapsed());
    // The database replaces the URL's path; the query of an external URL is kept.
    assert!(
        url.split('?').next().unwrap().ends_with("/testkit_create"),
        "{url}"
    );
    assert_eq!(psql(&url, "select 1").unwrap(), "1");
    assert_eq!(
        psql(&url, "select current_database()").unwrap(),
        "testkit_create"
    );
    psql(
        &url,
        "create table t (id int primary key); insert into t values (1), (2)",
    )
    .unwrap();
    assert_eq!(psql(&url, "select count(*) from t").unwrap(), "2");
    // Settings from the testkit are in effect (only for our own cluster).
    if pg.is_owned() {
        assert_eq!(psql(&url, "show fsync").unwrap(), "off");
        assert_eq!(psql(&url, "show listen_addresses").unwrap(), "127.0.0.1");
    }

    // Another database does not see the table; names are validated; duplicates fail.
    let other = pg.create_database("Testkit-Other_2").unwrap();
    assert!(psql(&other, "select count(*) from t").is_err());
    assert!(pg.create_database("testkit_create").is_err());
    for bad in ["", "a b", "x\"y", "semi;colon", &"x".repeat(64)] {
        let err = pg.create_database(bad).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
    }
}

#[test]
fn restart_keeps_the_port_and_data_and_drop_stops_the_server() {
    let Some(pg) = cluster() else { return };
    if !pg.is_owned() {
        eprintln!("SKIPPED: restart needs a cluster started by the testkit");
        assert!(pg.restart().is_err());
        return;
    }
    let port = pg.port();
    let url = pg.create_database("testkit_restart").unwrap();
    psql(
        &url,
        "create table kept (v text); insert into kept values ('yes')",
    )
    .unwrap();

    let t = Instant::now();
    pg.restart().unwrap();
    eprintln!("restart took {:?}", t.elapsed());
    assert_eq!(pg.port(), port);
    assert_eq!(psql(&url, "select v from kept").unwrap(), "yes");

    pg.stop_server().unwrap();
    pg.stop_server().unwrap(); // already stopped: no-op
    assert!(psql(&url, "select 1").is_err(), "the server is stopped");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // A start failure reports the server log's tail.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let err = pg.start_server().unwrap_err().to_string();
    eprintln!("expected start failure: {err}");
    assert!(
        err.contains("tail of") && err.contains("could not"),
        "{err}"
    );
    drop(squatter);
    pg.start_server().unwrap();
    pg.start_server().unwrap(); // already running: no-op
    assert_eq!(pg.port(), port);
    assert_eq!(psql(&url, "select v from kept").unwrap(), "yes");

    let t = Instant::now();
    drop(pg);
    eprintln!("PgCluster::drop took {:?}", t.elapsed());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "drop stops the server"
    );
}

#[test]
fn parallel_clusters_get_different_ports() {
    let (Some(a), Some(b)) = (cluster(), cluster()) else {
        return;
    };
    if a.is_owned() {
        assert_ne!(a.port(), b.port());
    }
    assert_eq!(psql(&a.url(), "select 1").unwrap(), "1");
    assert_eq!(psql(&b.url(), "select 1").unwrap(), "1");
}
