//! Credentials and settings from the standard `AWS_*` environment. One test
//! in its own binary: it changes the process environment.

use gludb::{Databases, Storable, backup::Backup, backup::BackupError, sqlite::Sqlite};
use serde::{Deserialize, Serialize};

#[derive(Storable, Serialize, Deserialize, Debug, Default)]
#[gludb(table = "EnvTest")]
struct EnvData {
    id: String,
}

/// An in-memory database with one saved record: each phase of the test
/// starts from such a database.
async fn database_with_a_record() -> Databases {
    let dbs = Databases::new(Sqlite::open_in_memory().await.unwrap());
    EnvData::ensure_table(&dbs).await.unwrap();
    EnvData::default().save(&dbs).await.unwrap();
    dbs
}

/// A backup of `EnvData` with explicit settings (`""` = not given, so taken
/// from the environment): every case differs only in these.
fn env_backup(access_key: &str, secret_key: &str, bucket: &str) -> Backup {
    let mut backup = Backup::new(access_key, secret_key, bucket);
    backup.add_class::<EnvData>();
    backup
}

#[test]
fn credentials_fall_back_to_the_aws_environment() {
    let server =
        gludb_testkit::S3Server::start("AKIDENV", "env-secret-value", "env-bucket").unwrap();
    let runtime_env = [
        ("AWS_ENDPOINT", server.endpoint()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ];
    // SAFETY: this binary's only test sets the environment before starting
    // any runtime; the S3 server's thread does not read the environment.
    unsafe {
        std::env::remove_var("AWS_ACCESS_KEY_ID");
        std::env::remove_var("AWS_SECRET_ACCESS_KEY");
        for (key, value) in &runtime_env {
            std::env::set_var(key, value);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dbs = database_with_a_record().await;

        // No key, secret or bucket anywhere: a typed error naming it, before
        // anything is read or written.
        for (access_key, secret_key, bucket, missing) in [
            ("", "", "env-bucket", "access key"),
            ("AKIDENV", "", "env-bucket", "secret key"),
            ("AKIDENV", "env-secret-value", "", "bucket name"),
        ] {
            let err = env_backup(access_key, secret_key, bucket)
                .run_backup(&dbs)
                .await
                .unwrap_err();
            assert!(
                matches!(err, BackupError::MissingCredential { what, .. } if what == missing),
                "{err}"
            );
        }
        assert!(server.objects().is_empty());
        let db = dbs.default_database().unwrap();
        assert!(
            matches!(
                db.find_one(&gludb::TableName::new("BackupHistory").unwrap(), "x")
                    .await,
                Err(gludb::Error::UnknownTable { .. })
            ),
            "nothing was written, not even a history record"
        );
    });

    // SAFETY: as above; the runtime is idle between the two phases.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDENV");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "env-secret-value");
    }
    runtime.block_on(async {
        let dbs = database_with_a_record().await;

        let report = env_backup("", "", "env-bucket")
            .run_backup(&dbs)
            .await
            .expect("credentials from the environment");
        assert_eq!(report.classes[0].records, 1);

        let mut by_url = Backup::from_url("s3://env-bucket/daily").unwrap();
        by_url.add_class::<EnvData>();
        let report = by_url
            .run_backup(&dbs)
            .await
            .expect("s3:// URL with the environment");
        assert!(report.key.starts_with("daily/Backup_"), "{}", report.key);
        assert_eq!(server.objects().len(), 2);
    });
}
