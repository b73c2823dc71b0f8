//! Shared pieces of the backup tests: databases, the S3 server, reading
//! archives back the way any tar/gzip reader would.

// Shared by several test binaries: each uses only part of it.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    fs::File,
    io::{Read, Write},
    path::Path,
};

use flate2::write::GzEncoder;

use futures_util::TryStreamExt;
use gludb::{
    Backend, Databases, Error, Storable,
    backup::{BackupHistory, BackupReport, Restore, archive::Manifest},
    sqlite::Sqlite,
};
use gludb_testkit::S3Server;
use sha2::{Digest, Sha256};

use crate::models::{BlobData, ComplexData, InheritedData, SimpleData};

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

/// Creates the tables of `InheritedData` and its two bases, which every
/// seeded source database holds.
pub async fn ensure_related_tables(dbs: &Databases) {
    SimpleData::ensure_table(dbs).await.unwrap();
    ComplexData::ensure_table(dbs).await.unwrap();
    InheritedData::ensure_table(dbs).await.unwrap();
}

/// Saves `count` `SimpleData` records, `Name{i}` aged `i`, described by
/// `descrip(i)`, and returns their ids: the tests' seeds differ only in
/// size and text.
pub async fn save_simple_records(
    dbs: &Databases,
    count: u32,
    descrip: impl Fn(u32) -> String,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let mut record = SimpleData {
            name: format!("Name{i}"),
            descrip: descrip(i),
            age: i,
            ..Default::default()
        };
        record.save(dbs).await.unwrap();
        ids.push(record.id);
    }
    ids
}

/// 48 records of 256 KiB of noise, ~12 MB that compresses to ~9 MB: two
/// 5 MiB parts at least, so a backup of them goes multipart.
pub async fn save_incompressible_blobs(dbs: &gludb::Databases) {
    save_blobs(dbs, 48).await;
}

/// `count` records of 256 KiB of noise (it compresses to about three
/// quarters: 32 make an archive of ~6 MiB, two 5 MiB parts).
pub async fn save_blobs(dbs: &gludb::Databases, count: u64) {
    BlobData::ensure_table(dbs).await.unwrap();
    for i in 0..count {
        BlobData {
            noise: noise(i, 256 * 1024),
            ..Default::default()
        }
        .save(dbs)
        .await
        .unwrap();
    }
}

/// A test that builds an object_store S3 client of its own needs a rustls
/// crypto provider first: gludb installs ring's only when it connects to a
/// store itself (its rustls has no provider built in).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
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

/// A restore from the test server, configured like [`s3_backup`]: the
/// tests that read back what an S3 backup wrote all need the same one.
pub fn s3_restore(server: &S3Server, secret: &str) -> Restore {
    let endpoint = server.endpoint();
    Restore::new(ACCESS_KEY, secret, server.bucket()).with_destination(|d| {
        d.with_endpoint(&endpoint)
            .with_s3_option("aws_region", "us-east-1")
    })
}

/// The `file://` URL of a local backup directory.
pub fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// Every (id, stored value) of `table`, straight from the database; `None`
/// if the table does not exist there. The one row dump every comparison of
/// a source and a restored database is built on.
pub async fn rows_of(db: &dyn Backend, table: &str) -> Option<BTreeMap<String, String>> {
    let name = gludb::TableName::new(table).expect("a valid table name");
    match db
        .find_all(&name)
        .map_ok(|r| (r.id, r.value))
        .try_collect()
        .await
    {
        Ok(rows) => Some(rows),
        Err(Error::UnknownTable { .. }) => None,
        Err(e) => panic!("reading {table} of {}: {e}", db.describe()),
    }
}

/// Every backup run recorded in `dbs`, as the history API returns them.
pub async fn history(dbs: &Databases) -> Vec<BackupHistory> {
    BackupHistory::find_all(dbs).try_collect().await.unwrap()
}

/// (class, records) of every class of a backup report, in report order:
/// the shape the tests compare reports in.
pub fn record_counts(report: &BackupReport) -> Vec<(&str, u64)> {
    report
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.records))
        .collect()
}

/// A member's lines by record id (every line `\n`-terminated, one JSON
/// object, ids unique): archives are compared with databases this way.
pub fn lines_by_id(member: &[u8]) -> BTreeMap<String, String> {
    let text = std::str::from_utf8(member).expect("UTF-8 member");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every line is \\n-terminated"
    );
    let lines: BTreeMap<String, String> = text
        .lines()
        .map(|line| {
            let json: serde_json::Value =
                serde_json::from_str(line).expect("one JSON object per line");
            (json["id"].as_str().unwrap().to_owned(), line.to_owned())
        })
        .collect();
    assert_eq!(lines.len(), text.lines().count(), "ids are unique");
    lines
}

/// Checks a manifest against the data members it describes (the archive's
/// members without the manifest itself): names, record counts, byte sizes
/// and SHA-256, in order.
pub fn assert_manifest_matches(manifest: &Manifest, members: &[(String, Vec<u8>)]) {
    assert_eq!(manifest.members.len(), members.len());
    for (entry, (name, bytes)) in manifest.members.iter().zip(members) {
        assert_eq!(&entry.name, name);
        assert_eq!(
            entry.records,
            bytes.iter().filter(|b| **b == b'\n').count() as u64,
            "{name}"
        );
        assert_eq!(entry.bytes, bytes.len() as u64, "{name}");
        assert_eq!(entry.sha256, sha256_hex(bytes), "{name}");
    }
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

/// Writes a gzip'd tar under `name` whose entries `add` appends (with the
/// `tar` crate): crafted and hostile archives differ only in their entries.
pub fn write_tar(dir: &Path, name: &str, add: impl FnOnce(&mut tar::Builder<GzEncoder<File>>)) {
    let file = File::create(dir.join(name)).unwrap();
    let mut tar = tar::Builder::new(GzEncoder::new(file, flate2::Compression::default()));
    add(&mut tar);
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

/// Writes `members` as a gzip'd tar of plain files under `name`.
pub fn write_archive(dir: &Path, name: &str, members: &[(&str, &[u8])]) {
    write_tar(dir, name, |tar| {
        for (member, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, member, *data).unwrap();
        }
    });
}

/// This test binary again, running only its test `child_process` with
/// `job` in the environment variable `job_var`: how tests run a backup in
/// another process (to race it, or to kill it).
pub fn this_binary_again(job_var: &str, job: &str) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(job_var, job);
    command
}

/// The manifest entry of a `SimpleData` member named `name` holding the
/// lines `data`, as if backed up from `table`: for hand-made archives.
pub fn simple_member(
    name: &str,
    table: &str,
    data: &[u8],
) -> gludb::backup::archive::MemberManifest {
    gludb::backup::archive::MemberManifest {
        name: name.into(),
        type_name: "SimpleData".into(),
        module_path: SimpleData::type_info().module_path().into(),
        table: table.into(),
        indexes: vec!["reversed_name".into()],
        records: data.iter().filter(|b| **b == b'\n').count() as u64,
        bytes: data.len() as u64,
        sha256: sha256_hex(data),
        fingerprint: None,
        shape: None,
    }
}

/// What the original Python GLUDB writes: a gzip'd tar with one member per
/// class and no manifest (three `SimpleData` records, Python's spacing).
const PYTHON_ORIGINAL_FORMAT: &str = r#"
import io, json, sys, tarfile
rows = [
    {"id": "%032x" % i, "name": "Py%d" % i, "descrip": "made by Python", "age": i,
     "_create_date": "UTC:2015-06-01T12:00:00.000000", "_last_update": "UTC:2015-06-01T12:00:00.000000"}
    for i in range(1, 4)
]
data = "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
with tarfile.open(sys.argv[1], "w:gz") as tar:
    info = tarfile.TarInfo("SimpleData--SimpleTest.json")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
"#;

/// Writes an archive as the original Python GLUDB does (with python3) to `path`.
pub fn write_python_original(path: &Path) {
    let made = std::process::Command::new("python3")
        .args(["-c", PYTHON_ORIGINAL_FORMAT])
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}
