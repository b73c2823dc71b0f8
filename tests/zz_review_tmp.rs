//! Hostile review scratch test: the sorted load's temporary files (TMPDIR,
//! file descriptors). Not part of the suite. Run alone: it changes TMPDIR
//! and RLIMIT_NOFILE of its process.

#[path = "backup/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "backup/support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Instant,
};

use gludb::{Backend, Databases, RestoreMode, backup::Restore, sqlite::Sqlite};
use support::*;

const KEY: &str = "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz";

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn restore_into(dir: &Path, backups: &Path, name: &str) -> (String, Option<usize>, usize) {
    let path = dir.join(name);
    let db = Sqlite::open(&path).await.unwrap();
    let dbs = Databases::new(db.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, max) = (stop.clone(), max.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                max.fetch_max(open_fds(), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let t = Instant::now();
    let r = Restore::from_url(&file_url(backups))
        .unwrap()
        .with_mode(RestoreMode::RefuseNonEmpty)
        .restore(KEY, &dbs)
        .await;
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let outcome = format!(
        "{:?} in {:?}",
        r.map(|r| r.classes[0].written).map_err(|e| e.to_string()),
        t.elapsed()
    );
    let rows = rows_of(&db, "SimpleTest").await.map(|r| r.len());
    db.close().await.unwrap();
    (outcome, rows, max.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rv_tmpdir_and_fd_limits() {
    std::fs::create_dir_all("/work/rvscratch").unwrap();
    let work = tempfile::Builder::new()
        .tempdir_in("/work/rvscratch")
        .unwrap();
    let backups = work.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    // ~190 MiB of rows: about 12 runs of 16 MiB.
    let records = std::env::var("RV_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000usize);
    let descrip = "d".repeat(64 * 1024);
    let mut data = Vec::with_capacity(records * (descrip.len() + 100));
    for i in 0..records {
        // Scrambled ids.
        let id = format!(
            "{:032x}",
            (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        );
        data.extend_from_slice(
            format!(
                "{{\"id\":\"{id}\",\"name\":\"n{i}\",\"descrip\":\"{descrip}\",\"age\":{i}}}\n"
            )
            .as_bytes(),
        );
    }
    write_archive(&backups, KEY, &[("SimpleData--SimpleTest.json", &data)]);
    drop(data);

    let baseline = open_fds();
    let (outcome, rows, max) = restore_into(work.path(), &backups, "a.sqlite").await;
    eprintln!(
        "RV normal: {outcome}; rows {rows:?}; fds baseline {baseline}, max during restore {max}"
    );

    // TMPDIR that does not exist.
    let old = std::env::var_os("TMPDIR");
    unsafe { std::env::set_var("TMPDIR", "/nonexistent/rv-tmp") };
    let (outcome, rows, _) = restore_into(work.path(), &backups, "b.sqlite").await;
    eprintln!("RV TMPDIR missing: {outcome}; rows {rows:?}");
    // TMPDIR that is a file.
    let file = work.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    unsafe { std::env::set_var("TMPDIR", &file) };
    let (outcome, rows, _) = restore_into(work.path(), &backups, "b2.sqlite").await;
    eprintln!("RV TMPDIR a file: {outcome}; rows {rows:?}");
    match old {
        Some(v) => unsafe { std::env::set_var("TMPDIR", v) },
        None => unsafe { std::env::remove_var("TMPDIR") },
    }

    // A descriptor limit a few above what is open now.
    let extra: u64 = std::env::var("RV_EXTRA_FDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let mut old_limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old_limit) };
    let now = open_fds() as u64;
    let limit = libc::rlimit {
        rlim_cur: now + extra,
        rlim_max: old_limit.rlim_max,
    };
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    let (outcome, rows, max) = restore_into(work.path(), &backups, "c.sqlite").await;
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old_limit) };
    eprintln!(
        "RV RLIMIT_NOFILE {} (open before: {now}): {outcome}; rows {rows:?}; max fds {max}",
        now + extra
    );
    eprintln!("RV leftover fds at end: {}", open_fds());

    // Phases of a normal restore: when reading ended, when it returned.
    let path = work.path().join("d.sqlite");
    let db = Sqlite::open(&path).await.unwrap();
    let dbs = Databases::new(db.clone());
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    let t0 = Instant::now();
    let l2 = last.clone();
    Restore::from_url(&file_url(&backups))
        .unwrap()
        .with_mode(RestoreMode::RefuseNonEmpty)
        .with_progress(move |_| *l2.lock().unwrap() = Instant::now())
        .restore(KEY, &dbs)
        .await
        .unwrap();
    let total = t0.elapsed();
    let read = last.lock().unwrap().duration_since(t0);
    eprintln!("RV phases: reading done at {read:?}, restore returned at {total:?}");
    db.close().await.unwrap();

    // Cancel the restore (a timeout) half-way through its commit phase.
    let path = work.path().join("e.sqlite");
    let db = Sqlite::open(&path).await.unwrap();
    let dbs = Databases::new(db.clone());
    let cut = read + (total - read) / 2;
    let r = tokio::time::timeout(
        cut,
        Restore::from_url(&file_url(&backups))
            .unwrap()
            .with_mode(RestoreMode::RefuseNonEmpty)
            .restore(KEY, &dbs),
    )
    .await;
    eprintln!(
        "RV restore cancelled at {cut:?}: timed out = {}",
        r.is_err()
    );
    let t = Instant::now();
    let saved = models::SimpleData {
        name: "app write".into(),
        ..Default::default()
    };
    let mut saved = saved;
    let s = gludb::Storable::save(&mut saved, &dbs).await;
    eprintln!(
        "RV app save right after the cancel: {:?} after {:?}",
        s.map_err(|e| e.to_string()),
        t.elapsed()
    );
    for _ in 0..30 {
        let n = rows_of(&db, "SimpleTest").await.map(|r| r.len());
        eprintln!("RV rows after cancel, t+{:?}: {n:?}", t.elapsed());
        if n.unwrap_or(0) > 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    db.close().await.unwrap();
}
