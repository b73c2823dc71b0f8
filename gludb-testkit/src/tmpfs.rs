//! Small real filesystems for `file://` fault tests: [`TmpfsMount`].
//!
//! A backup written to a local directory (object_store's `LocalFileSystem`)
//! can fail because the disk is full (`ENOSPC`) or was remounted read-only
//! (`EROFS`, what ext4 does after an I/O error). Neither can be provoked in
//! an ordinary temporary directory, and faking the errors would test the
//! fake. A tmpfs of a few hundred KiB fills up for real, and `mount -o
//! remount,ro` makes it read-only for real, so the kernel returns the same
//! errors a production disk would.
//!
//! Mounting needs root or `CAP_SYS_ADMIN`. Without it [`TmpfsMount::new`]
//! returns `Ok(None)` after printing why on stderr, so a test can print
//! `SKIPPED` and carry on (and fail instead when `CI=true`, like the
//! PostgreSQL helper [`PgCluster::start`](crate::PgCluster::start)).
//!
//! The mount is made with the `mount(2)` system call rather than `mount(8)`,
//! so "not permitted" is an `EPERM` to test for, not a message to parse.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tempfile::TempDir;

/// Source name shown in `/proc/mounts` for the testkit's mounts.
const SOURCE: &CStr = c"gludb-testkit";

/// A tmpfs of a fixed size mounted on a new temporary directory; unmounted
/// and the directory deleted on drop.
///
/// Only the current process's threads should write into it while it is
/// mounted (it is mode `0700`, owned by the current user).
#[derive(Debug)]
pub struct TmpfsMount {
    size: u64,
    /// The mount point as a C string, for the system calls.
    target: CString,
    read_only: bool,
    /// Dropped last: removed once the filesystem is unmounted.
    dir: TempDir,
}

impl TmpfsMount {
    /// Mounts a tmpfs of `size` bytes (the kernel rounds it up to whole
    /// pages) on a new temporary directory.
    ///
    /// Returns `Ok(None)`, after printing the reason on stderr, when the
    /// process may not mount (`EPERM`/`EACCES`: not root, no
    /// `CAP_SYS_ADMIN`). Other failures are errors, the OS error of
    /// `mount(2)` unchanged (`raw_os_error()` works). `size` 0 is refused with
    /// [`io::ErrorKind::InvalidInput`] (tmpfs would read it as "no limit").
    pub fn new(size: u64) -> io::Result<Option<TmpfsMount>> {
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TmpfsMount needs a size above 0 (tmpfs reads size=0 as unlimited)",
            ));
        }
        let dir = tempfile::Builder::new().prefix("gludb-tmpfs-").tempdir()?;
        let target = c_path(dir.path())?;
        let options = c_string(format!("size={size},mode=0700"))?;
        // SAFETY: every pointer is a valid NUL-terminated string that outlives
        // the call (`SOURCE` is static; `target`, `fstype` and `options` are
        // locals); mount(2) only reads them.
        let rc = unsafe {
            libc::mount(
                SOURCE.as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                eprintln!(
                    "gludb-testkit: cannot mount a tmpfs on {} ({err}); mounting needs root or CAP_SYS_ADMIN",
                    dir.path().display()
                );
                return Ok(None);
            }
            return Err(err);
        }
        Ok(Some(TmpfsMount {
            size,
            target,
            read_only: false,
            dir,
        }))
    }

    /// The mount point (an empty directory at first).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The size asked for, in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the filesystem is mounted read-only now.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Remounts the filesystem read-only (`mount -o remount,ro`): files stay
    /// readable, every write and every file creation fails with `EROFS`.
    ///
    /// Errors are the OS error of `mount(2)` unchanged. It fails with `EBUSY`
    /// while a file in it is open for writing: close writers first (so a
    /// write in progress cannot be frozen this way).
    pub fn remount_read_only(&mut self) -> io::Result<()> {
        self.remount(true)
    }

    /// Remounts the filesystem read-write again (a disk that recovered).
    /// Errors are the OS error of `mount(2)` unchanged.
    pub fn remount_read_write(&mut self) -> io::Result<()> {
        self.remount(false)
    }

    fn remount(&mut self, read_only: bool) -> io::Result<()> {
        // Read-only-ness is the flag; the options must not drop the size.
        let options = c_string(format!("size={}", self.size))?;
        let mut flags = libc::MS_REMOUNT;
        if read_only {
            flags |= libc::MS_RDONLY;
        }
        // SAFETY: as in `new`: valid NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                SOURCE.as_ptr(),
                self.target.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.read_only = read_only;
        Ok(())
    }
}

impl Drop for TmpfsMount {
    /// Unmounts (lazily if a file in it is still open, so drop never fails or
    /// blocks), then deletes the mount point.
    fn drop(&mut self) {
        // SAFETY: `target` is a valid NUL-terminated string owned by self.
        let rc = unsafe { libc::umount2(self.target.as_ptr(), 0) };
        if rc != 0 {
            // Busy (an open file): detach now, the kernel frees it when closed.
            // SAFETY: as above.
            let rc = unsafe { libc::umount2(self.target.as_ptr(), libc::MNT_DETACH) };
            if rc != 0 {
                eprintln!(
                    "gludb-testkit: cannot unmount the tmpfs on {}: {}",
                    self.path().display(),
                    io::Error::last_os_error()
                );
            }
        }
        // `self.dir` (TempDir) removes the now empty mount point when the fields drop.
    }
}

/// `path` as a C string (paths of temporary directories have no NUL byte).
fn c_path(path: &Path) -> io::Result<CString> {
    c_string(path.as_os_str().as_bytes())
}

/// `s` as a C string; an inner NUL byte is [`io::ErrorKind::InvalidInput`].
fn c_string(s: impl Into<Vec<u8>>) -> io::Result<CString> {
    CString::new(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}
