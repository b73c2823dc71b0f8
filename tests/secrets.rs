//! Secrets never show: for every public constructor that can hold a
//! credential, its `Debug` and `Display`, the errors of operations that use
//! it, everything logged meanwhile, and the history records it writes
//! contain none of the secret.

#[path = "backup/models.rs"]
mod models;
#[path = "backup/support.rs"]
mod support;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use gludb::{
    Storable,
    backup::{Backup, Destination, Restore},
    postgres::Postgres,
};
use models::SimpleData;
use support::*;

/// Everything logged by this test binary, at every level.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    }))
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The error and every source below it, in `Display` and `Debug`.
fn whole_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{error} {error:?}");
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(&format!(" | {e} {e:?}"));
        cause = e.source();
    }
    text
}

fn assert_hidden(secret: &str, shown: &str, what: &str) {
    assert!(
        !shown.contains(secret),
        "{what} shows the secret {secret:?}: {shown}"
    );
}

/// A backup destination built each way a user can hold a credential, with
/// the secret it holds. Endpoints point at a closed local port, so every
/// operation fails (and its error is checked too).
fn destinations() -> Vec<(&'static str, &'static str, Destination)> {
    let closed = "http://127.0.0.1:9";
    vec![
        (
            "Destination::s3 secret key",
            "s3cr3t-key-value",
            Destination::s3("AKIDEXAMPLE", "s3cr3t-key-value", "bucket").with_endpoint(closed),
        ),
        (
            "with_s3_option session token",
            "t0ken-value",
            Destination::s3("AKIDEXAMPLE", "other", "bucket")
                .with_endpoint(closed)
                .with_s3_option("aws_session_token", "t0ken-value"),
        ),
        (
            "with_s3_option secret",
            "opt-s3cr3t",
            Destination::from_url("s3://bucket/prefix")
                .unwrap()
                .with_endpoint(closed)
                .with_s3_option("aws_access_key_id", "AKIDEXAMPLE")
                .with_s3_option("aws_secret_access_key", "opt-s3cr3t"),
        ),
        (
            "URL password",
            "url-pa55word",
            Destination::from_url("http://user:url-pa55word@127.0.0.1:9/backups").unwrap(),
        ),
        (
            "URL signature",
            "sig-value-123",
            Destination::from_url(
                "http://127.0.0.1:9/backups?sig=sig-value-123&X-Amz-Signature=sig-value-123",
            )
            .unwrap(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_shows_in_debug_display_errors_logs_or_history() {
    let logs = captured_logs();
    let db = sqlite_file().await;
    SimpleData::ensure_table(&db.dbs).await.unwrap();
    save_simple_records(&db.dbs, 2, |i| format!("r{i}")).await;
    let retries = |d: Destination| d.with_retries(0, std::time::Duration::from_secs(1));

    for (what, secret, destination) in destinations() {
        let destination = retries(destination);
        assert_hidden(secret, &format!("{destination:?} {destination}"), what);
        let mut backup = Backup::at(destination.clone());
        backup.add_class::<SimpleData>();
        assert_hidden(secret, &format!("{backup:?}"), what);
        let err = backup.run_backup(&db.dbs).await.unwrap_err();
        assert_hidden(secret, &whole_error(&err), what);
        let restore = Restore::at(destination);
        assert_hidden(secret, &format!("{restore:?}"), what);
        for err in [
            restore.list().await.unwrap_err(),
            restore.verify("Backup_x.tar.gz").await.unwrap_err(),
        ] {
            assert_hidden(secret, &whole_error(&err), what);
        }
        // Only S3 has uploads to list; the other stores answer at once.
        let orphans = match restore.store() {
            Ok(store) => store.find_orphans().await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(err) = orphans {
            assert_hidden(secret, &whole_error(&err), what);
        }
    }
    // The original's form, with the secret from the environment's place.
    let original = Backup::new("AKIDEXAMPLE", "orig-s3cr3t", "bucket");
    assert_hidden("orig-s3cr3t", &format!("{original:?}"), "Backup::new");
    let original = Restore::new("AKIDEXAMPLE", "orig-s3cr3t", "bucket");
    assert_hidden("orig-s3cr3t", &format!("{original:?}"), "Restore::new");
    // An unparsable URL is named without what may be a password.
    let err = Destination::from_url("s3://user:p@ss-w0rd@[bad/x").unwrap_err();
    assert_hidden("ss-w0rd", &whole_error(&err), "an unparsable URL");

    // PostgreSQL: the builder, and connection errors, also with a password
    // holding an unescaped `@`.
    for (url, secret) in [
        ("postgres://app:pg-s3cr3t@127.0.0.1:9/db", "pg-s3cr3t"),
        ("postgres://app:p@g-s3cr3t@127.0.0.1:9/db", "g-s3cr3t"),
        (
            "host=127.0.0.1 port=9 user=app password=kv-s3cr3t dbname=db",
            "kv-s3cr3t",
        ),
    ] {
        let builder = Postgres::builder(url);
        assert_hidden(secret, &format!("{builder:?}"), url);
        let err = builder.connect().await.unwrap_err();
        assert_hidden(secret, &whole_error(&err), url);
    }

    let history = history(&db.dbs).await;
    assert!(!history.is_empty());
    let stored = format!("{history:?}");
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!logged.is_empty(), "the subscriber captured the run's logs");
    for (what, secret, _) in destinations() {
        assert_hidden(secret, &stored, what);
        assert_hidden(secret, &logged, what);
    }
    for secret in ["pg-s3cr3t", "g-s3cr3t", "kv-s3cr3t", "ss-w0rd"] {
        assert_hidden(secret, &logged, "the logs");
    }
}
