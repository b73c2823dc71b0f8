use gludb::backup::{Backup, BackupStore, Restore};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for url in [
        "S3://bucket/daily",
        "s3a://bucket",
        "https://bucket.s3.amazonaws.com/daily",
        "https://s3.amazonaws.com/bucket",
        "https://account.r2.cloudflarestorage.com/bucket",
        "GS://bucket",
        "https://storage.googleapis.com/bucket/daily",
        "AZ://container",
        "abfss://container@account.dfs.core.windows.net/daily",
        "https://account.blob.core.windows.net/container",
        "http://minio.internal:9000/bucket",
        "s3://AKIA:topsecret@bucket/daily",
        "s3:/AKIA:topsecret@bucket/daily",
        "gs://bucket/daily?X-Goog-Signature=topsecret",
        "az://user:topsecret@container",
    ] {
        let via_backup = Backup::from_url(url).map(|_| "Ok");
        let via_store = BackupStore::from_url(url).map(|s| s.description().to_owned());
        println!("{url}\n  Backup::from_url: {via_backup:?}\n  BackupStore::from_url: {via_store:?}");
        if let Err(e) = &via_store {
            println!("  message: {e}");
        }
    }
    let err = Restore::new("AKIA", "topsecret", "bucket").list().await.unwrap_err();
    println!("Restore::new(..).list(): {err:?}");
}
