//! A throwaway PostgreSQL cluster for tests and benchmarks.
//!
//! [`PgCluster::start`] runs `initdb` into a temporary directory and starts
//! `postgres` with `pg_ctl` on `127.0.0.1` on a free port, tuned for speed
//! (`fsync`, `synchronous_commit` and `full_page_writes` off: a crash loses
//! data, which is fine for a cluster that is deleted afterwards).
//!
//! `initdb` refuses to run as root. When the current process is root (the
//! effective uid in `/proc/self/status` is 0), the testkit runs `initdb` and
//! `pg_ctl` as the OS user `postgres` through `runuser -u postgres --`, after
//! `chown -R postgres: <tmpdir>` so that user owns the cluster's directory.
//! Clients (`psql`) run as the current user and connect over TCP.
//!
//! Directory layout: `<tmpdir>/data` (the cluster), `<tmpdir>/postgres.log`
//! (server log; its tail is included in errors) and the Unix socket in
//! `<tmpdir>` itself (so clusters never share a socket lock file).

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tempfile::TempDir;

/// Environment variable naming an existing server to use instead of starting one.
pub const POSTGRES_URL_ENV: &str = "GLUDB_TEST_POSTGRES_URL";

/// OS user that runs the server when the current process is root.
const OS_USER: &str = "postgres";

/// Database superuser created by `initdb`.
const DB_USER: &str = "postgres";

/// Seconds `pg_ctl -w` waits for start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "30";

/// Attempts to start a new cluster, each on a newly chosen free port (another
/// process may grab the port between choosing and binding it).
const START_ATTEMPTS: usize = 3;

/// A PostgreSQL server for tests: either a new throwaway cluster owned by this
/// value (stopped and deleted on drop), or the external server named by
/// `GLUDB_TEST_POSTGRES_URL`.
///
/// Superuser `postgres`, `trust` authentication, database `postgres`, nothing
/// else is created. Use [`PgCluster::create_database`] to give each test its
/// own database.
#[derive(Debug)]
pub struct PgCluster {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    External { url: String, port: u16 },
    Owned(Owned),
}

/// A cluster this process created.
#[derive(Debug)]
struct Owned {
    port: u16,
    data: PathBuf,
    log: PathBuf,
    bins: Bins,
    /// `Some("postgres")` when server commands run through `runuser`.
    run_as: Option<&'static str>,
    /// Whether the server is running; the lock also serializes start/stop.
    running: Mutex<bool>,
    /// Dropped last: removes the whole cluster directory.
    dir: TempDir,
}

/// Absolute paths of the PostgreSQL programs used.
#[derive(Debug, Clone)]
struct Bins {
    pg_ctl: PathBuf,
    psql: PathBuf,
}

impl PgCluster {
    /// `GLUDB_TEST_POSTGRES_URL` if set (then nothing is started and Drop does nothing), else a new cluster.
    ///
    /// Returns `Ok(None)` when neither is possible (no `initdb`/`pg_ctl` on
    /// `PATH`, or running as root without `runuser` or a `postgres` OS user),
    /// after printing the reason on stderr, so callers can say loudly that
    /// they skipped; `CI=true` callers turn that into a failure. Errors are
    /// failures of an attempted start (their message includes the server
    /// log's tail).
    ///
    /// The external URL must be a `postgres://` or `postgresql://` URL.
    pub fn start() -> io::Result<Option<PgCluster>> {
        if let Some(url) = std::env::var_os(POSTGRES_URL_ENV) {
            let url = url
                .into_string()
                .map_err(|_| invalid_input(format!("{POSTGRES_URL_ENV} is not UTF-8")))?;
            let port = url_port(&url).ok_or_else(|| {
                invalid_input(format!(
                    "{POSTGRES_URL_ENV} is not a postgres:// URL with a valid port: {url:?}"
                ))
            })?;
            return Ok(Some(PgCluster {
                inner: Inner::External { url, port },
            }));
        }

        let Some(initdb) = find_program("initdb", None) else {
            return Ok(skip("no `initdb` on PATH"));
        };
        // Prefer the programs next to initdb (the same PostgreSQL version):
        // /usr/bin/psql may be a version-picking wrapper.
        let bin_dir = std::fs::canonicalize(&initdb)?
            .parent()
            .map(Path::to_path_buf);
        let (Some(pg_ctl), Some(psql)) = (
            find_program("pg_ctl", bin_dir.as_deref()),
            find_program("psql", bin_dir.as_deref()),
        ) else {
            return Ok(skip("`initdb` found but no `pg_ctl` or `psql`"));
        };
        let bins = Bins { pg_ctl, psql };

        let run_as = if is_root()? {
            if find_program("runuser", None).is_none() {
                return Ok(skip(
                    "running as root, and no `runuser` on PATH to run initdb as another user",
                ));
            }
            if !os_user_exists(OS_USER)? {
                return Ok(skip(
                    "running as root, and there is no `postgres` OS user to run initdb as",
                ));
            }
            Some(OS_USER)
        } else {
            None
        };

        let dir = tempfile::Builder::new().prefix("gludb-pg-").tempdir()?;
        if let Some(user) = run_as {
            let mut chown = Command::new("chown");
            chown.arg("-R").arg(format!("{user}:")).arg(dir.path());
            run(&mut chown, "chown the cluster directory", None)?;
        }
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        let mut owned = Owned {
            port: 0,
            data,
            log,
            bins,
            run_as,
            running: Mutex::new(false),
            dir,
        };

        let mut initdb_cmd = owned.server_command(&initdb);
        initdb_cmd
            .arg("-D")
            .arg(&owned.data)
            .args(["-A", "trust", "-U", DB_USER, "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"]);
        run(&mut initdb_cmd, "initdb", None)?;

        // Settings go into an included file that is rewritten on each attempt.
        let mut conf = std::fs::read_to_string(owned.data.join("postgresql.conf"))?;
        conf.push_str("\ninclude_if_exists = 'gludb_testkit.conf'\n");
        std::fs::write(owned.data.join("postgresql.conf"), conf)?;

        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            owned.port = free_port()?;
            owned.write_settings()?;
            match owned.start_server() {
                Ok(()) => {
                    return Ok(Some(PgCluster {
                        inner: Inner::Owned(owned),
                    }));
                }
                Err(e) => {
                    // Maybe it half-started: make sure nothing is left running.
                    owned.kill();
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("PostgreSQL did not start")))
    }

    /// The URL of the `postgres` database, `postgres://postgres@127.0.0.1:PORT/postgres`
    /// (or `GLUDB_TEST_POSTGRES_URL` as given).
    pub fn url(&self) -> String {
        match &self.inner {
            Inner::External { url, .. } => url.clone(),
            Inner::Owned(owned) => owned.url_for("postgres"),
        }
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        match &self.inner {
            Inner::External { port, .. } => *port,
            Inner::Owned(owned) => owned.port,
        }
    }

    /// Whether this value started the server (`false` for `GLUDB_TEST_POSTGRES_URL`).
    pub fn is_owned(&self) -> bool {
        matches!(self.inner, Inner::Owned(_))
    }

    /// Creates a fresh database and returns its URL, so parallel tests don't share tables.
    ///
    /// `name` must be 1–63 characters of `A-Z`, `a-z`, `0-9`, `_`, `-`; it is
    /// used as a quoted identifier, so case is kept. Runs `psql -c 'CREATE
    /// DATABASE ..'` against [`PgCluster::url`]; fails if the database exists.
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        let valid = (1..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(invalid_input(format!(
                "database name {name:?} must be 1-63 characters of A-Z, a-z, 0-9, _ and -"
            )));
        }
        let (psql, log) = match &self.inner {
            Inner::External { .. } => (
                find_program("psql", None)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no `psql` on PATH"))?,
                None,
            ),
            Inner::Owned(owned) => (owned.bins.psql.clone(), Some(owned.log.as_path())),
        };
        let mut cmd = Command::new(psql);
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url())
            .arg("-c")
            .arg(format!("CREATE DATABASE \"{name}\""));
        run(&mut cmd, "create the database", log)?;
        Ok(match &self.inner {
            Inner::External { url, .. } => url_with_database(url, name),
            Inner::Owned(owned) => owned.url_for(name),
        })
    }

    /// Stops and starts the server again on the same port (for connection-loss tests).
    ///
    /// Stopping uses `pg_ctl stop -m fast`: open sessions are terminated.
    pub fn restart(&self) -> io::Result<()> {
        let owned = self.owned("restart")?;
        owned.stop_server()?;
        owned.start_server()
    }

    /// Stops the server (`pg_ctl stop -m fast`: open sessions are terminated).
    /// Does nothing if it is already stopped.
    pub fn stop_server(&self) -> io::Result<()> {
        self.owned("stop")?.stop_server()
    }

    /// Starts the stopped server again on the same port and waits until it
    /// accepts connections. Does nothing if it is running.
    pub fn start_server(&self) -> io::Result<()> {
        self.owned("start")?.start_server()
    }

    /// One cluster for every test of this process (this test binary),
    /// started on first use and stopped when the process exits.
    ///
    /// Rust never drops statics, so the cluster is stopped (`pg_ctl stop -m
    /// immediate`) and its directory removed by an `atexit` hook registered
    /// when it starts; the test harness exits through `exit()` whether tests
    /// pass or fail. (A process killed by a signal skips `atexit`: the
    /// cluster is then left running in its temp dir.)
    ///
    /// Returns what [`PgCluster::start`] returned, the same for every
    /// caller. Tests sharing it must not stop or restart it: a test that
    /// does should start a cluster of its own.
    pub fn shared() -> io::Result<Option<&'static PgCluster>> {
        static SHARED: OnceLock<Result<Option<PgCluster>, String>> = OnceLock::new();

        extern "C" fn stop_shared() {
            // Never unwind out of an `extern "C"` function.
            let _ = std::panic::catch_unwind(|| {
                if let Some(Ok(Some(cluster))) = SHARED.get() {
                    cluster.stop_and_remove();
                }
            });
        }

        let started = SHARED.get_or_init(|| {
            let started = PgCluster::start().map_err(|e| e.to_string());
            if let Ok(Some(cluster)) = &started
                && cluster.is_owned()
            {
                // SAFETY: `stop_shared` is a plain `extern "C" fn()` that
                // never unwinds, as `atexit` requires.
                if unsafe { libc::atexit(stop_shared) } != 0 {
                    eprintln!(
                        "gludb-testkit: cannot register the atexit hook: the shared PostgreSQL \
                         cluster on port {} will be left running",
                        cluster.port()
                    );
                }
            }
            started
        });
        match started {
            Ok(cluster) => Ok(cluster.as_ref()),
            Err(e) => Err(io::Error::other(e.clone())),
        }
    }

    /// Stops a cluster this value started and removes its directory, without
    /// needing ownership (for [`PgCluster::shared`], which is never dropped).
    fn stop_and_remove(&self) {
        if let Inner::Owned(owned) = &self.inner {
            owned.kill();
            let _ = std::fs::remove_dir_all(owned.dir.path());
        }
    }

    fn owned(&self, what: &str) -> io::Result<&Owned> {
        match &self.inner {
            Inner::Owned(owned) => Ok(owned),
            Inner::External { .. } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "cannot {what} the server of {POSTGRES_URL_ENV}: the testkit does not control it"
                ),
            )),
        }
    }
}

impl Drop for PgCluster {
    /// For a cluster it started: `pg_ctl stop -m immediate` (killing the
    /// postmaster if that fails), then the directory is removed. Nothing for
    /// `GLUDB_TEST_POSTGRES_URL`.
    fn drop(&mut self) {
        if let Inner::Owned(owned) = &self.inner {
            owned.kill();
        }
    }
}

impl Owned {
    fn url_for(&self, database: &str) -> String {
        format!("postgres://{DB_USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A command for a server-side program, run as the cluster's OS user.
    fn server_command(&self, program: &Path) -> Command {
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        // The caller's working directory may not be accessible to that user.
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = self.server_command(&self.bins.pg_ctl);
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-t", PG_CTL_TIMEOUT_SECS, "-w"]);
        cmd
    }

    fn write_settings(&self) -> io::Result<()> {
        let socket_dir = self.dir.path().to_string_lossy().replace('\'', "''");
        let settings = format!(
            "# Written by gludb-testkit.\n\
             port = {port}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{socket_dir}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n",
            port = self.port,
        );
        let path = self.data.join("gludb_testkit.conf");
        std::fs::write(&path, settings)?;
        // Written by us (maybe root): make sure the server's user can read it.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        // The flag stays meaningful even if a holder panicked.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn start_server(&self) -> io::Result<()> {
        let mut running = self.lock();
        if *running {
            return Ok(());
        }
        let mut cmd = self.pg_ctl();
        cmd.arg("-l").arg(&self.log).arg("start");
        run(&mut cmd, "start PostgreSQL (pg_ctl start)", Some(&self.log))?;
        *running = true;
        Ok(())
    }

    fn stop_server(&self) -> io::Result<()> {
        let mut running = self.lock();
        if !*running {
            return Ok(());
        }
        let mut cmd = self.pg_ctl();
        cmd.args(["-m", "fast", "stop"]);
        run(&mut cmd, "stop PostgreSQL (pg_ctl stop)", Some(&self.log))?;
        *running = false;
        Ok(())
    }

    /// Best-effort immediate stop, used on drop and after failed starts.
    fn kill(&self) {
        let mut running = self.lock();
        let pid_file = self.data.join("postmaster.pid");
        if !pid_file.exists() {
            *running = false;
            return;
        }
        let mut cmd = self.pg_ctl();
        cmd.args(["-m", "immediate", "stop"]);
        if run(&mut cmd, "stop PostgreSQL", None).is_err() {
            // The first line of postmaster.pid is the postmaster's PID.
            let pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
            if let Some(pid) = pid {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        *running = false;
    }
}

/// Prints why PostgreSQL tests cannot run here, and returns `None`.
fn skip(reason: &str) -> Option<PgCluster> {
    eprintln!(
        "gludb-testkit: cannot start PostgreSQL: {reason} (set {POSTGRES_URL_ENV} to use an existing server)"
    );
    None
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Runs a command to completion, turning a non-zero exit into an error that
/// carries its output and, if given, the tail of the server log.
fn run(cmd: &mut Command, what: &str, log: Option<&Path>) -> io::Result<Output> {
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot {what}: cannot run {:?}: {e}", cmd.get_program()),
        )
    })?;
    if output.status.success() {
        return Ok(output);
    }
    let mut msg = format!("cannot {what}: {cmd:?} exited with {}", output.status);
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if !text.is_empty() {
            let _ = write!(msg, "\n--- {name} ---\n{text}");
        }
    }
    if let Some(log) = log {
        let _ = write!(
            msg,
            "\n--- tail of {} ---\n{}",
            log.display(),
            log_tail(log)
        );
    }
    Err(io::Error::other(msg))
}

/// The last lines of the server log (at most about 4 KiB).
fn log_tail(path: &Path) -> String {
    const MAX: usize = 4096;
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(MAX);
            let text = String::from_utf8_lossy(&bytes[start..]);
            // Drop a probably partial first line.
            match (start > 0, text.find('\n')) {
                (true, Some(i)) => text[i + 1..].trim_end().to_owned(),
                _ => text.trim_end().to_owned(),
            }
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// `dir/name` if it is an executable file there, else the first one on `PATH`.
fn find_program(name: &str, dir: Option<&Path>) -> Option<PathBuf> {
    let is_executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(candidate) = dir.map(|d| d.join(name))
        && is_executable(&candidate)
    {
        return Some(candidate);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// Whether the effective uid is 0, from `/proc/self/status` (falling back to `id -u`).
fn is_root() -> io::Result<bool> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Uid:"))
        && let Some(euid) = line.split_whitespace().nth(2)
    {
        // Fields: real, effective, saved, filesystem uid.
        return Ok(euid == "0");
    }
    let output = run(Command::new("id").arg("-u"), "run `id -u`", None)?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Whether an OS user exists, by `id -u <user>`.
fn os_user_exists(user: &str) -> io::Result<bool> {
    let status = Command::new("id")
        .args([OsStr::new("-u"), OsStr::new(user)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    Ok(status.success())
}

/// Splits `scheme://authority/path?query` into (`scheme://authority`, `/path`, `?query`).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let base_len = url.len() - rest.len() + authority_len;
    let (base, tail) = url.split_at(base_len);
    let query_start = tail.find('?').unwrap_or(tail.len());
    let (path, query) = tail.split_at(query_start);
    Some((base, path, query))
}

/// The port of a `postgres://` URL (5432 when absent).
fn url_port(url: &str) -> Option<u16> {
    let (base, _, _) = split_url(url)?;
    let authority = base.split_once("://")?.1;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // Only the last host of a multi-host URL; `]` ends an IPv6 literal.
    let host_port = host_port.rsplit(',').next().unwrap_or(host_port);
    let after_v6 = host_port
        .rfind(']')
        .map_or(host_port, |i| &host_port[i + 1..]);
    match after_v6.rsplit_once(':') {
        Some((_, port)) => port.parse().ok(),
        None => Some(5432),
    }
}

/// The same URL with another database path, keeping user, host and query.
fn url_with_database(url: &str, database: &str) -> String {
    match split_url(url) {
        Some((base, _, query)) => format!("{base}/{database}{query}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_helpers() {
        assert_eq!(
            url_port("postgres://u:p@db.example:6543/x?sslmode=disable"),
            Some(6543)
        );
        assert_eq!(url_port("postgresql://localhost/x"), Some(5432));
        assert_eq!(url_port("postgres://[::1]:7000/x"), Some(7000));
        assert_eq!(url_port("postgres://[::1]/x"), Some(5432));
        assert_eq!(url_port("mysql://localhost/x"), None);
        assert_eq!(
            url_with_database("postgres://u:p@h:1/old?sslmode=disable", "new_db"),
            "postgres://u:p@h:1/new_db?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://h:1", "n"), "postgres://h:1/n");
        assert_eq!(
            url_with_database("postgres://h:1?a=b", "n"),
            "postgres://h:1/n?a=b"
        );
    }
}
