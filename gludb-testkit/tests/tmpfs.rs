//! The tmpfs helper, for real: a full disk (`ENOSPC`) and a read-only
//! remount (`EROFS`), with std and with object_store's `LocalFileSystem`.
#![cfg(target_os = "linux")]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use gludb_testkit::TmpfsMount;
use object_store::ObjectStoreExt;
use object_store::local::LocalFileSystem;

const MIB: u64 = 1024 * 1024;

/// Mounts a tmpfs, or skips loudly (fails when `CI=true`).
fn mount(size: u64) -> Option<TmpfsMount> {
    match TmpfsMount::new(size).unwrap() {
        Some(mount) => Some(mount),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "mounting a tmpfs is required when CI=true"
            );
            eprintln!("SKIPPED: cannot mount a tmpfs here");
            None
        }
    }
}

/// Whether `path` is a mount point now (per `/proc/self/mountinfo`).
fn is_mounted(path: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_str().unwrap();
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(path))
}

fn is_enospc(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENOSPC) || err.kind() == io::ErrorKind::StorageFull
}

fn is_erofs(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EROFS) || err.kind() == io::ErrorKind::ReadOnlyFilesystem
}

#[test]
fn fills_up_goes_read_only_and_unmounts_on_drop() {
    let Some(mut fs) = mount(MIB) else { return };
    let root = fs.path().to_owned();
    assert!(is_mounted(&root), "{} is a mount point", root.display());
    assert_eq!(fs.size(), MIB);
    assert!(!fs.is_read_only());

    // More than the size: ENOSPC, after writing up to about the size.
    let big = root.join("big");
    let err = std::fs::write(&big, vec![7u8; 2 * MIB as usize]).unwrap_err();
    eprintln!("writing 2 MiB into a 1 MiB tmpfs: {err} ({:?})", err.kind());
    assert!(is_enospc(&err), "{err:?}");
    let written = std::fs::metadata(&big).unwrap().len();
    assert!(written <= MIB, "wrote {written} bytes");
    std::fs::remove_file(&big).unwrap();

    // Under the size works; then read-only: existing files read, nothing new.
    std::fs::write(root.join("kept"), b"still here").unwrap();
    fs.remount_read_only().unwrap();
    assert!(fs.is_read_only());
    assert_eq!(std::fs::read(root.join("kept")).unwrap(), b"still here");
    let err = File::create(root.join("new")).unwrap_err();
    eprintln!(
        "creating a file on the read-only tmpfs: {err} ({:?})",
        err.kind()
    );
    assert!(is_erofs(&err), "{err:?}");
    let err = OpenOptions::new()
        .append(true)
        .open(root.join("kept"))
        .unwrap_err();
    assert!(is_erofs(&err), "{err:?}");

    // And back.
    fs.remount_read_write().unwrap();
    assert!(!fs.is_read_only());
    std::fs::write(root.join("new"), b"x").unwrap();

    drop(fs);
    assert!(!is_mounted(&root), "drop unmounts");
    assert!(!root.exists(), "drop deletes the mount point");
}

#[test]
fn a_file_open_for_writing_blocks_the_read_only_remount_and_not_the_drop() {
    let Some(mut fs) = mount(MIB) else { return };
    let root = fs.path().to_owned();
    let mut writer = File::create(root.join("in-progress")).unwrap();
    writer.write_all(b"partial").unwrap();

    // The kernel refuses to make a filesystem read-only under an open writer.
    let err = fs.remount_read_only().unwrap_err();
    eprintln!("remount read-only with a writer open: {err}");
    assert_eq!(err.raw_os_error(), Some(libc::EBUSY), "{err:?}");
    assert!(!fs.is_read_only());

    // Drop with the file still open: a lazy unmount, no hang, no error.
    drop(fs);
    assert!(!is_mounted(&root));
    drop(writer);
}

#[tokio::test(flavor = "multi_thread")]
async fn object_store_local_filesystem_on_a_full_or_read_only_disk() {
    let Some(mut fs) = mount(MIB) else { return };
    let store = LocalFileSystem::new_with_prefix(fs.path()).unwrap();
    let key = object_store::path::Path::from("backups/too-big.bin");

    let err = store
        .put(&key, vec![1u8; 2 * MIB as usize].into())
        .await
        .unwrap_err();
    eprintln!("LocalFileSystem put of 2 MiB into 1 MiB: {err:?}");
    let leftovers = list_files(fs.path());
    eprintln!("files left after the failed put: {leftovers:?}");
    assert!(
        leftovers.is_empty(),
        "neither the object nor LocalFileSystem's staging file (`<key>#<n>`) is left: {leftovers:?}"
    );
    assert!(error_chain_has(&err, is_enospc), "{err:?}");

    let small = object_store::path::Path::from("backups/small.bin");
    store.put(&small, b"fits".to_vec().into()).await.unwrap();
    fs.remount_read_only().unwrap();
    let err = store
        .put(
            &object_store::path::Path::from("backups/after-ro.bin"),
            b"x".to_vec().into(),
        )
        .await
        .unwrap_err();
    eprintln!("LocalFileSystem put on a read-only mount: {err:?}");
    assert!(error_chain_has(&err, is_erofs), "{err:?}");
    let got = store.get(&small).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"fits");
}

/// Whether some error in `err`'s source chain is an `io::Error` matching `pred`.
fn error_chain_has(err: &object_store::Error, pred: fn(&io::Error) -> bool) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<io::Error>().is_some_and(pred) {
            return true;
        }
        source = e.source();
    }
    false
}

/// Every file under `dir`, relative, sorted.
fn list_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}
