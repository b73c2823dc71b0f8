//! Reading 1,000,000 records of a backup: memory stays flat (the class is
//! streamed, not collected), and a corrupted copy yields no record.
//!
//! The reading runs in a child process (this binary again) so that its
//! peak RSS is its own.

#[path = "backup/models.rs"]
mod models;
#[path = "backup/support.rs"]
mod support;

use std::{
    io::{Read, Write},
    path::Path,
};

use futures_util::{StreamExt, TryStreamExt};
use gludb::backup::{BackupStore, archive::Manifest};
use models::SimpleData;
use sha2::{Digest, Sha256};
use support::{file_url, this_binary_again};

const RECORDS: u64 = 1_000_000;
const KEY: &str = "Backup_UTC_2026-01-01T00_00_00.000000.tar.gz";
const CORRUPTED: &str = "Backup_UTC_2026-01-02T00_00_00.000000.tar.gz";
const JOB: &str = "GLUDB_READ_MILLION_DIR";
/// Peak RSS the reading process may reach: the class holds about 190 MB
/// of records, so any reader that gathers them goes far past it.
const MAX_PEAK_RSS_KIB: u64 = 64 * 1024;

/// Record `i`'s stored line (about 190 bytes).
fn line(i: u64) -> String {
    format!(
        "{{\"id\":\"{i:032x}\",\"name\":\"Name{i}\",\"descrip\":\"record {i} of the million-record read test, padded to a realistic size\",\"age\":{},\"_create_date\":\"UTC:2026-01-01T00:00:00.000000\"}}\n",
        i % 100
    )
}

/// The member's lines, generated as they are read.
struct Lines {
    next: u64,
    pending: Vec<u8>,
    offset: usize,
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset == self.pending.len() {
            if self.next == RECORDS {
                return Ok(0);
            }
            self.pending = line(self.next).into_bytes();
            self.offset = 0;
            self.next += 1;
        }
        let n = buf.len().min(self.pending.len() - self.offset);
        buf[..n].copy_from_slice(&self.pending[self.offset..n + self.offset]);
        self.offset += n;
        Ok(n)
    }
}

fn lines() -> Lines {
    Lines {
        next: 0,
        pending: Vec::new(),
        offset: 0,
    }
}

/// Writes the backup: one `SimpleData` member and its manifest.
fn write_backup(dir: &Path) {
    let (mut bytes, mut hasher) = (0u64, Sha256::new());
    let mut all = lines();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = all.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    let name = "SimpleData--SimpleTest.json";
    let mut entry = support::simple_member(name, "SimpleTest", b"");
    entry.records = RECORDS;
    entry.bytes = bytes;
    entry.sha256 = format!("{:x}", hasher.finalize());
    let manifest = Manifest::new("UTC:2026-01-01T00:00:00.000000".into(), vec![entry]);
    let manifest = serde_json::to_vec(&manifest).unwrap();

    let file = std::fs::File::create(dir.join(KEY)).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes);
    header.set_mode(0o644);
    tar.append_data(&mut header, name, lines()).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "gludb-manifest.json", manifest.as_slice())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();

    // One byte flipped in the middle of the compressed stream.
    let mut corrupted = std::fs::read(dir.join(KEY)).unwrap();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0x40;
    std::fs::write(dir.join(CORRUPTED), corrupted).unwrap();
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_million_records_read_in_flat_memory_and_corruption_yields_none() {
    let dir = tempfile::tempdir().unwrap();
    write_backup(dir.path());
    let output = this_binary_again(JOB, dir.path().to_str().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(field("typed records:"), RECORDS);
    assert_eq!(
        field("age sum:"),
        (0..RECORDS).map(|i| i % 100).sum::<u64>()
    );
    assert_eq!(field("raw records:"), RECORDS);
    assert_eq!(field("records before the error:"), 0);
    let peak = field("peak RSS KiB:");
    assert!(
        peak <= MAX_PEAK_RSS_KIB,
        "reading 1M records peaked at {peak} KiB"
    );
}

/// The reading side, in its own process.
#[test]
fn child_process() {
    let Ok(dir) = std::env::var(JOB) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = BackupStore::from_url(&file_url(Path::new(&dir))).unwrap();
        let mut records = store.read(KEY).records::<SimpleData>().await.unwrap();
        let (mut count, mut ages) = (0u64, 0u64);
        while let Some(record) = records.try_next().await.unwrap() {
            count += 1;
            ages += u64::from(record.age);
        }
        // On a line of its own (the test harness prints the test's name).
        println!();
        println!("typed records: {count}");
        println!("age sum: {ages}");

        let raw = store
            .read(KEY)
            .check(gludb::backup::ReadCheck::AsItGoes)
            .raw("SimpleData")
            .await
            .unwrap();
        let count = raw
            .try_fold(0u64, |n, line| async move {
                assert!(line.starts_with("{\"id\":"));
                Ok(n + 1)
            })
            .await
            .unwrap();
        println!("raw records: {count}");

        let mut corrupted = store.read(CORRUPTED).raw("SimpleData").await.unwrap();
        let mut before_error = 0;
        loop {
            match corrupted.next().await {
                Some(Ok(_)) => before_error += 1,
                Some(Err(e)) => {
                    println!("error: {e}");
                    break;
                }
                None => panic!("a corrupted archive read to its end"),
            }
        }
        println!("records before the error: {before_error}");
        println!("peak RSS KiB: {}", peak_rss_kib());
    });
}
