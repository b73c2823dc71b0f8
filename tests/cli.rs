//! The operator commands as a service's operators meet them: the built
//! `backup_demo` example (a small service that mounts `gludb::cli`), run as
//! a process — in a log (stderr a pipe), in a real pseudo-terminal (the
//! progress bar), with `--json`, and interrupted with Ctrl-C.

use std::{
    io::Read,
    os::fd::{FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use serde_json::Value;

/// An example binary, as `cargo build --examples` leaves it next to this
/// test (`cargo test` builds examples under hashed names, some of them as
/// test harnesses: scripts/test.sh builds the examples first).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let example = dir.join("examples").join(name);
    assert!(
        example.exists(),
        "{} is missing: `cargo build --features cli --examples` first (scripts/test.sh does)",
        example.display()
    );
    example
}

fn demo_binary() -> PathBuf {
    example_binary("backup_demo")
}

/// A service's working directory: its database and its backups.
struct Service {
    dir: tempfile::TempDir,
}

impl Service {
    fn new() -> Service {
        Service {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn backups(&self) -> PathBuf {
        self.dir.path().join("backups")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(demo_binary());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("GLUDB_DEMO_DB", self.dir.path().join("service.sqlite"))
            .env("GLUDB_DEMO_ORDERS", "40")
            .env_remove("GLUDB_BACKUP_URL")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The archives in the backup directory.
    fn archives(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.backups()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_main_job_in_a_log_writes_plain_lines() {
    let service = Service::new();
    let out = service.run(&[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("backed up 82 records of 3 classes"),
        "{stdout}"
    );
    assert!(stdout.contains("key: Backup_UTC_"), "{stdout}");
    // One line per class, and no terminal control characters in a log.
    assert!(
        stderr.contains("backup: Order--OrderRecord 40 records"),
        "{stderr}"
    );
    assert!(
        stderr.contains("backup: Person--Person 2 records"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert_eq!(service.archives().len(), 1);

    // The README's ETL example reads that backup: 20 orders per customer.
    let etl = Command::new(example_binary("etl_orders"))
        .current_dir(service.dir.path())
        .env_remove("GLUDB_BACKUP_URL")
        .output()
        .unwrap();
    let report = text(&etl.stdout);
    assert!(etl.status.success(), "{report}{}", text(&etl.stderr));
    let customers: Vec<&str> = report.lines().skip(1).collect();
    assert_eq!(customers.len(), 2, "{report}");
    assert!(
        customers.iter().all(|c| c.contains("  20 orders  ")),
        "{report}"
    );
}

#[test]
fn json_quiet_restore_and_exit_codes() {
    let service = Service::new();
    assert!(service.run(&[]).status.success());

    let out = service.run(&["backup", "--class", "Person", "--json", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let report = &json_lines(&out)[0];
    let key = report["key"].as_str().unwrap().to_owned();
    assert_eq!(report["classes"][0]["name"], "Person--Person");
    assert_eq!(report["classes"][0]["records"], 2);

    let target = service.dir.path().join("restored.sqlite");
    let into = format!("sqlite:{}", target.display());
    let out = service.run(&["restore", &key, "--into", &into, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_lines(&out)[0]["classes"][0]["written"], 2);
    // Again: the table holds rows now, and the default mode refuses.
    let out = service.run(&["restore", &key, "--into", &into]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    let out = service.run(&["restore", &key, "--into", &into, "--mode", "overwrite"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // A wrong key: exit 4, and no database file made for nothing.
    let elsewhere = service.dir.path().join("never.sqlite");
    let out = service.run(&[
        "restore",
        "Backup_UTC_2000-01-01T00_00_00.000000.tar.gz",
        "--into",
        &format!("sqlite:{}", elsewhere.display()),
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(!elsewhere.exists());

    // A damaged backup (cut short): exit 3, and the new file is not left.
    let bytes = std::fs::read(service.backups().join(&key)).unwrap();
    let cut = "Backup_UTC_2001-01-01T00_00_00.000000_abcdef-01234567.tar.gz";
    std::fs::write(service.backups().join(cut), &bytes[..bytes.len() / 2]).unwrap();
    let fresh = service.dir.path().join("fresh.sqlite");
    let out = service.run(&[
        "restore",
        cut,
        "--into",
        &format!("sqlite:{}", fresh.display()),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(!fresh.exists());

    // A class whose table was never created: the backup is kept but is not
    // a plain success (exit 3, a warning naming the table).
    let fresh_service = Service::new();
    let out = fresh_service.run(&["backup", "--class", "Person"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning:"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fresh_service.archives().len(), 1);

    // A class this service does not have: exit 2, naming what it has.
    let out = service.run(&["backup", "--class", "Invoice"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("backup_demo::model::people::Person"));

    // Typed verify in the service's binary: records decoded with the types.
    let out = service.run(&["verify", &key, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_lines(&out)[0]["classes"][0]["registered"], true);
}

/// A pseudo-terminal: (our end, the end the child gets as stderr).
fn pseudo_terminal() -> (std::fs::File, OwnedFd) {
    let (mut ours, mut theirs) = (0, 0);
    let size = libc::winsize {
        ws_row: 30,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the two integers; the
    // name, termios and window-size arguments are null or point to a live
    // value. Each descriptor is then owned by exactly one Rust value.
    let made = unsafe {
        libc::openpty(
            &mut ours,
            &mut theirs,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(made, 0, "openpty failed");
    // SAFETY: as above, both are fresh descriptors owned by no one else.
    unsafe {
        (
            std::fs::File::from_raw_fd(ours),
            OwnedFd::from_raw_fd(theirs),
        )
    }
}

#[test]
fn a_terminal_gets_a_progress_bar() {
    let service = Service::new();
    let (mut terminal, child_end) = pseudo_terminal();
    let mut child = service
        .command(&[])
        .env("TERM", "xterm-256color")
        .env("GLUDB_DEMO_ORDERS", "2000")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(child_end))
        .spawn()
        .unwrap();
    // Read what the terminal shows until the child closes it (Linux then
    // reports EIO on our end).
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buffer = [0; 4096];
        loop {
            match terminal.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => shown.extend_from_slice(&buffer[..n]),
            }
        }
        shown
    });
    let status = child.wait().unwrap();
    assert!(status.success());
    let shown = text(&reader.join().unwrap());
    assert!(shown.contains("ETA"), "the bar: {shown:?}");
    assert!(
        shown.contains("/4,002 records"),
        "records of all classes: {shown:?}"
    );
    assert!(
        shown.contains('\x1b'),
        "drawn with terminal control: {shown:?}"
    );
    assert!(
        shown.contains("Order--OrderRecord 2,000 records"),
        "a line per class: {shown:?}"
    );
}

#[test]
fn ctrl_c_or_sigterm_cancels_a_backup_and_leaves_nothing() {
    let service = Service::new();
    // Enough records that the backup is still running when Ctrl-C comes:
    // stored directly, as the service's tables hold them.
    let db = service.dir.path().join("service.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE \"OrderRecord\" (id text primary key, value text); BEGIN;",
        )
        .unwrap();
        let mut insert = conn
            .prepare("INSERT INTO \"OrderRecord\" (id, value) VALUES (?1, ?2)")
            .unwrap();
        for i in 0..400_000u32 {
            let id = format!("{i:032x}");
            let value = format!(
                "{{\"id\":\"{id}\",\"person_id\":\"p\",\"items\":[\"item {i}\",\"more\"],\"total_cents\":{i}}}"
            );
            insert.execute((id.as_str(), value.as_str())).unwrap();
        }
        drop(insert);
        conn.execute_batch("COMMIT;").unwrap();
    }
    // Ctrl-C, then SIGTERM (how a service manager stops a process).
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let mut child = service
            .command(&["backup", "--class", "Order"])
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // The run has started once it says where it is backing up to.
        let mut stderr = child.stderr.take().unwrap();
        let mut seen = Vec::new();
        let mut byte = [0; 1];
        while !text(&seen).contains("backing up to") {
            assert_eq!(stderr.read(&mut byte).unwrap(), 1, "{}", text(&seen));
            seen.push(byte[0]);
        }
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: kill(2) with the pid of our own running child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert_eq!(status.code(), Some(130), "{name}: {}{rest}", text(&seen));
        assert!(rest.contains("cancelled"), "{name}: {rest}");
        assert!(
            service.archives().is_empty(),
            "{name}: {:?}",
            service.archives()
        );
    }

    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut statuses = conn
        .prepare("SELECT value FROM \"BackupHistory\"")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|value| {
            let value: Value = serde_json::from_str(&value.unwrap()).unwrap();
            value["status"].as_str().unwrap().to_owned()
        })
        .collect::<Vec<_>>();
    statuses.sort();
    assert_eq!(statuses, ["failed", "failed"]);
}
