//! Shared pieces of the backup tests: databases, the S3 server, reading
//! archives back the way any tar/gzip reader would.

// Shared by several test binaries: each uses only part of it.
#![allow(dead_code)]

use std::io::Read;

use gludb::{Databases, sqlite::Sqlite};
use gludb_testkit::S3Server;
use sha2::{Digest, Sha256};

pub const ACCESS_KEY: &str = "AKIDGLUDBTEST";
pub const SECRET_KEY: &str = "gludb-test-secret-5f0c2a";
pub const BUCKET: &str = "gludb-backups";

/// A SQLite file database in its own temp dir.
pub struct Db {
    pub dbs: Databases,
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub async fn sqlite_file() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sqlite");
    let dbs = Databases::new(Sqlite::open(&path).await.unwrap());
    Db {
        dbs,
        path,
        _dir: dir,
    }
}

pub fn s3_server() -> S3Server {
    S3Server::start(ACCESS_KEY, SECRET_KEY, BUCKET).expect("start the S3 server")
}

/// A backup to the test server, as a user would configure it.
pub fn s3_backup(server: &S3Server, secret: &str) -> gludb::backup::Backup {
    let endpoint = server.endpoint();
    gludb::backup::Backup::new(ACCESS_KEY, secret, server.bucket()).with_destination(|d| {
        d.with_endpoint(&endpoint)
            .with_s3_option("aws_region", "us-east-1")
    })
}

/// An archive's members, in order: (name, bytes).
pub fn read_archive(gz: &[u8]) -> Vec<(String, Vec<u8>)> {
    let decoder = flate2::read::MultiGzDecoder::new(gz);
    let mut archive = tar::Archive::new(decoder);
    let mut members = Vec::new();
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("a tar entry");
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.push((name, bytes));
    }
    members
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Text that barely compresses: SHA-256 chains rendered as 64 symbols.
pub fn noise(seed: u64, len: usize) -> String {
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(len);
    let mut state = Sha256::digest(seed.to_le_bytes());
    while out.len() < len {
        for byte in state.iter() {
            out.push(SYMBOLS[(*byte & 63) as usize] as char);
        }
        state = Sha256::digest(state);
    }
    out.truncate(len);
    out
}
