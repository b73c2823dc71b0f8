//! The standalone `gludb` binary, run as an operator runs it: on backups
//! of an application it knows nothing about (this test's own type, which
//! the binary does not register), and on archives of the original GLUDB.

use std::{
    path::Path,
    process::{Command, Output},
};

use gludb_backup::{Backup, BackupStore};
use gludb_core::{Databases, Storable, sqlite::Sqlite};
use serde_json::Value;

/// The application's type: registered in this test, not in `gludb`.
#[derive(gludb_derive::Storable, serde::Serialize, serde::Deserialize, Debug, Clone)]
#[gludb(table = "Notes", crate = "gludb_core")]
struct Note {
    id: String,
    text: String,
    stars: u32,
}

const NOTES: u32 = 250;

fn gludb(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gludb"))
        .args(args)
        .env("GLUDB_BACKUP_URL", format!("file://{}", dir.display()))
        .env_remove("AWS_ACCESS_KEY_ID")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

/// Every stdout line as JSON (the `--json` contract).
fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One error line on stderr, nothing on stdout.
fn assert_one_error_line(output: &Output, contains: &str) {
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains(contains),
        "{err}"
    );
    assert!(output.stdout.is_empty(), "{}", stdout(output));
}

/// A database holding `NOTES` notes.
async fn notes() -> Databases {
    let dbs = Databases::new(Sqlite::open_in_memory().await.unwrap());
    Note::ensure_table(&dbs).await.unwrap();
    for i in 0..NOTES {
        Note {
            id: String::new(),
            text: format!("note {i}"),
            stars: i % 5,
        }
        .save(&dbs)
        .await
        .unwrap();
    }
    dbs
}

/// Two backups of `NOTES` notes in `dir`; their keys, oldest first.
async fn two_backups(dir: &Path) -> (Databases, Vec<String>) {
    let dbs = notes().await;
    let store = BackupStore::from_url(&format!("file://{}", dir.display())).unwrap();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let report = Backup::on(&store)
            .with_class::<Note>()
            .run_backup(&dbs)
            .await
            .unwrap();
        keys.push(report.key);
    }
    (dbs, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_inspect_verify_and_cat_a_backup_of_unknown_types() {
    let dir = tempfile::tempdir().unwrap();
    let (_dbs, keys) = two_backups(dir.path()).await;

    let listed = gludb(dir.path(), &["list", "--json"]);
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let listed = json_lines(&listed);
    let listed_keys: Vec<&str> = listed.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(
        listed_keys,
        [keys[1].as_str(), keys[0].as_str()],
        "newest first"
    );
    for line in &listed {
        assert_eq!(line["set"], "Backup");
        assert!(line["size"].as_u64().unwrap() > 0);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
    }
    let human = gludb(dir.path(), &["list"]);
    assert!(stdout(&human).contains(&keys[0]));

    let inspected = gludb(dir.path(), &["inspect", &keys[0], "--json"]);
    assert_eq!(code(&inspected), 0, "{}", stderr(&inspected));
    let inspected = &json_lines(&inspected)[0];
    assert_eq!(inspected["has_manifest"], true);
    assert_eq!(inspected["classes"][0]["name"], "Note--Notes");
    assert_eq!(inspected["classes"][0]["records"], NOTES);
    assert_eq!(
        inspected["classes"][0]["sha256"].as_str().unwrap().len(),
        64
    );
    assert!(
        inspected["writer"]
            .as_str()
            .unwrap()
            .starts_with("gludb-backup")
    );

    let verified = gludb(dir.path(), &["verify", &keys[0], "--json"]);
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
    let verified = &json_lines(&verified)[0];
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["classes"][0]["registered"], false);
    assert_eq!(verified["classes"][0]["records"], NOTES);

    let cat = gludb(dir.path(), &["cat", &keys[0], "Note"]);
    assert_eq!(code(&cat), 0, "{}", stderr(&cat));
    let records = json_lines(&cat);
    assert_eq!(records.len(), NOTES as usize);
    let mut texts: Vec<&str> = records
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    let mut expected: Vec<String> = (0..NOTES).map(|i| format!("note {i}")).collect();
    expected.sort_unstable();
    assert_eq!(texts, expected);
    // Piped into `head`: a closed pipe ends it quietly.
    let head = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' cat '{}' Notes | head -n 1",
            env!("CARGO_BIN_EXE_gludb"),
            keys[0]
        ))
        .env(
            "GLUDB_BACKUP_URL",
            format!("file://{}", dir.path().display()),
        )
        .output()
        .unwrap();
    assert_eq!(stdout(&head).lines().count(), 1);
    assert!(stderr(&head).is_empty(), "{}", stderr(&head));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_missing_keys_and_classes_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (_dbs, keys) = two_backups(dir.path()).await;

    // A record altered inside the archive, the manifest kept.
    let bytes = std::fs::read(dir.path().join(&keys[0])).unwrap();
    let mut members = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        members.push((name, data));
    }
    let text = String::from_utf8(members[0].1.clone()).unwrap();
    members[0].1 = text.replacen("\"stars\":0", "\"stars\":5", 1).into_bytes();
    let altered = "Backup_UTC_2001-01-01T00_00_00.000000.tar.gz";
    let file = std::fs::File::create(dir.path().join(altered)).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    for (name, data) in &members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();

    let verified = gludb(dir.path(), &["verify", altered, "--json"]);
    assert_eq!(code(&verified), 3, "{}", stderr(&verified));
    assert_eq!(json_lines(&verified)[0]["ok"], false);
    let verified = gludb(dir.path(), &["verify", altered]);
    assert_eq!(code(&verified), 3);
    assert!(
        stdout(&verified).contains("PROBLEMS FOUND"),
        "{}",
        stdout(&verified)
    );

    let cat = gludb(dir.path(), &["cat", altered, "Note"]);
    assert_eq!(code(&cat), 3);
    assert_one_error_line(&cat, "SHA-256");
    let inspected = gludb(dir.path(), &["inspect", altered]);
    assert_eq!(code(&inspected), 3);

    let missing = gludb(
        dir.path(),
        &["verify", "Backup_UTC_2000-01-01T00_00_00.000000.tar.gz"],
    );
    assert_eq!(code(&missing), 4);
    assert_one_error_line(&missing, "no backup");

    let no_class = gludb(dir.path(), &["cat", &keys[0], "Order"]);
    assert_eq!(code(&no_class), 4);
    assert_one_error_line(&no_class, "Note--Notes");

    // --json: the error is a JSON line too...
    let bad_set = gludb(dir.path(), &["list", "--set", "no such set!", "--json"]);
    let line = &json_lines(&bad_set)[0];
    assert_eq!(line["exit_code"], 2);
    assert!(line["error"].as_str().unwrap().contains("no such set!"));
    // ...but not in `cat`'s stream of records, where it would read as one.
    let no_class = gludb(dir.path(), &["cat", &keys[0], "Order", "--json"]);
    assert_eq!(code(&no_class), 4);
    assert!(no_class.stdout.is_empty(), "{}", stdout(&no_class));

    // A reader that goes away: the command's own verdict stands (3), and a
    // command that succeeded says its output was cut (141).
    // stdout is a pipe whose reader is already gone: every write fails.
    let piped = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Command::new(env!("CARGO_BIN_EXE_gludb"))
            .args(args)
            .env(
                "GLUDB_BACKUP_URL",
                format!("file://{}", dir.path().display()),
            )
            .stdout(writer)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .code()
            .unwrap()
    };
    assert_eq!(piped(&["verify", altered]), 3);
    assert_eq!(piped(&["cat", &keys[0], "Note"]), 141);
    assert_eq!(piped(&["list"]), 141);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_dry_run_deletes_nothing_and_prune_deletes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (_dbs, keys) = two_backups(dir.path()).await;

    let dry = gludb(
        dir.path(),
        &["prune", "--keep-last", "1", "--dry-run", "--json"],
    );
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let report = &json_lines(&dry)[0];
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["deleted"][0], keys[0].as_str());
    assert!(dir.path().join(&keys[0]).exists());

    let pruned = gludb(dir.path(), &["prune", "--keep-last", "1"]);
    assert_eq!(code(&pruned), 0, "{}", stderr(&pruned));
    assert!(!dir.path().join(&keys[0]).exists());
    assert!(dir.path().join(&keys[1]).exists());

    let no_policy = gludb(dir.path(), &["prune"]);
    assert_eq!(code(&no_policy), 2);
    assert_one_error_line(&no_policy, "--keep-last");
}

#[test]
fn orphans_are_found_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir
        .path()
        .join("Backup_UTC_2020-01-01T00_00_00.000000_abcdef-01234567.tar.gz#1");
    std::fs::write(&staging, b"half an upload").unwrap();
    std::fs::write(dir.path().join("notes.txt#1"), b"not ours").unwrap();
    // A directory named like a staging file is not one.
    std::fs::create_dir(
        dir.path()
            .join("Backup_UTC_2020-01-01T00_00_00.000000_abcdef-76543210.tar.gz#2"),
    )
    .unwrap();

    let found = gludb(dir.path(), &["orphans", "--json"]);
    assert_eq!(code(&found), 0, "{}", stderr(&found));
    let found = json_lines(&found);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]["key"]
            .as_str()
            .unwrap()
            .starts_with("Backup_UTC_2020")
    );

    let young = gludb(dir.path(), &["orphans", "--clean"]);
    assert_eq!(code(&young), 0);
    assert!(staging.exists(), "younger than 24h: left alone");

    let cleaned = gludb(dir.path(), &["orphans", "--clean", "--older-than", "0s"]);
    assert_eq!(code(&cleaned), 0, "{}", stderr(&cleaned));
    assert!(!staging.exists());
    assert!(dir.path().join("notes.txt#1").exists());
}

#[test]
fn usage_errors_exit_2_and_help_shows_the_commands_that_work_here() {
    let dir = tempfile::tempdir().unwrap();
    let help = gludb(dir.path(), &["--help"]);
    assert_eq!(code(&help), 0);
    let text = stdout(&help);
    for command in ["list", "inspect", "verify", "prune", "cat", "orphans"] {
        assert!(text.contains(command), "{text}");
    }
    assert!(!text.contains("  backup"), "{text}");
    assert!(text.contains("Exit codes"));

    let backup = gludb(dir.path(), &["backup", "--all"]);
    assert_eq!(code(&backup), 2);
    assert_one_error_line(&backup, "service's own binary");

    assert_eq!(code(&gludb(dir.path(), &["frobnicate"])), 2);
    assert_eq!(code(&gludb(dir.path(), &["cat", "only-a-key"])), 2);

    // A directory that is not there: exit 4, and nothing is created.
    let missing = dir.path().join("typo").join("backups");
    for command in [&["list"][..], &["prune", "--keep-last", "1"], &["orphans"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_gludb"))
            .args(command)
            .env("GLUDB_BACKUP_URL", format!("file://{}", missing.display()))
            .output()
            .unwrap();
        assert_eq!(code(&out), 4, "{command:?}: {}", stderr(&out));
        assert_one_error_line(&out, "no backup directory");
    }
    assert!(!dir.path().join("typo").exists());

    let no_destination = Command::new(env!("CARGO_BIN_EXE_gludb"))
        .arg("list")
        .env_remove("GLUDB_BACKUP_URL")
        .output()
        .unwrap();
    assert_eq!(code(&no_destination), 2);
    assert_one_error_line(&no_destination, "GLUDB_BACKUP_URL");
}

#[test]
fn secrets_in_a_destination_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gludb"))
        .args(["list", "--verbose", "--json"])
        .env(
            "GLUDB_BACKUP_URL",
            "s3://AKIDLEAK:s3cr3t-v4lue@bucket/p?X-Amz-Signature=sig-v4lue",
        )
        .env("AWS_ENDPOINT", "http://127.0.0.1:9")
        .env("AWS_ALLOW_HTTP", "true")
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("s3cr3t-v4lue") && !all.contains("sig-v4lue"),
        "{all}"
    );
    // A store object_store does not know, and an S3 endpoint with a
    // password: their errors quote URLs.
    for (url, endpoint) in [
        ("ftp://backup:hunter2-v4lue@host/x", "http://127.0.0.1:9"),
        ("s3://bucket/p", "http://minio:hunter2-v4lue@127.0.0.1:9"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_gludb"))
            .args(["list", "--verbose", "--json"])
            .env("GLUDB_BACKUP_URL", url)
            .env("AWS_ENDPOINT", endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKID")
            .env("AWS_SECRET_ACCESS_KEY", "secret-key-v4lue")
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{url}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains("hunter2-v4lue") && !all.contains("secret-key-v4lue"),
            "{all}"
        );
    }
    let help = gludb(dir.path(), &["--help"]);
    assert!(!stdout(&help).contains(&dir.path().display().to_string()));
}

#[test]
fn archives_of_the_original_python_gludb() {
    let dir = tempfile::tempdir().unwrap();
    let key = "Backup_UTC_2015-06-01T12_00_00.000000.tar.gz";
    let script = r#"
import io, json, sys, tarfile
rows = [{"id": "%032x" % i, "name": "Py%d" % i} for i in range(1, 4)]
data = "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
with tarfile.open(sys.argv[1], "w:gz") as tar:
    info = tarfile.TarInfo("SimpleData--SimpleTest.json")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
"#;
    let made = Command::new("python3")
        .args(["-c", script])
        .arg(dir.path().join(key))
        .status()
        .unwrap();
    assert!(made.success());

    let listed = json_lines(&gludb(dir.path(), &["list", "--json"]));
    assert_eq!(listed[0]["key"], key);
    let verified = gludb(dir.path(), &["verify", key, "--json"]);
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
    assert_eq!(json_lines(&verified)[0]["has_manifest"], false);
    let cat = gludb(dir.path(), &["cat", key, "SimpleTest"]);
    assert_eq!(code(&cat), 0, "{}", stderr(&cat));
    assert_eq!(json_lines(&cat)[1]["name"], "Py2");
    let inspected = gludb(dir.path(), &["inspect", key]);
    assert_eq!(code(&inspected), 0);
    assert!(stdout(&inspected).contains("no manifest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_and_encrypted_backups_with_and_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = notes().await;
    let identity = gludb_backup::archive::Identity::generate();
    let store = BackupStore::from_url(&format!("file://{}", dir.path().display())).unwrap();
    let key = Backup::on(&store)
        .with_class::<Note>()
        .with_zstd(3)
        .encrypt_to([identity.to_public()])
        .run_backup(&dbs)
        .await
        .unwrap()
        .key;
    assert!(key.ends_with(".tar.zst.age"));

    // Without the key: exit 2, saying what is needed.
    let locked = gludb(dir.path(), &["cat", &key, "Note"]);
    assert_eq!(code(&locked), 2, "{}", stderr(&locked));
    assert_one_error_line(&locked, "identity");

    let key_file = dir.path().join("ops.key");
    std::fs::write(
        &key_file,
        format!("# created: today\n{}\n", identity.secret_text()),
    )
    .unwrap();
    let key_arg = key_file.to_str().unwrap();
    let cat = gludb(dir.path(), &["cat", &key, "Note", "--identity", key_arg]);
    assert_eq!(code(&cat), 0, "{}", stderr(&cat));
    assert_eq!(json_lines(&cat).len(), NOTES as usize);
    let verified = gludb(
        dir.path(),
        &["verify", &key, "--identity", key_arg, "--json"],
    );
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
    let inspected = gludb(dir.path(), &["inspect", &key, "--identity", key_arg]);
    assert_eq!(code(&inspected), 0, "{}", stderr(&inspected));
    let shown = format!("{}{}", stdout(&inspected), stderr(&inspected));
    assert!(shown.contains("schema "), "{shown}");
    assert!(!shown.contains("AGE-SECRET-KEY"));

    // The key itself where its file was expected: refused, never repeated.
    let pasted = Command::new(env!("CARGO_BIN_EXE_gludb"))
        .args(["cat", &key, "Note", "--json"])
        .env(
            "GLUDB_BACKUP_URL",
            format!("file://{}", dir.path().display()),
        )
        .env("GLUDB_AGE_IDENTITY_FILE", identity.secret_text())
        .output()
        .unwrap();
    assert_eq!(code(&pasted), 2);
    let shown = format!("{}{}", stdout(&pasted), stderr(&pasted));
    assert!(!shown.contains(&identity.secret_text()[20..]), "{shown}");
    // Commands that open no archive do not load the identity at all.
    let listed = Command::new(env!("CARGO_BIN_EXE_gludb"))
        .arg("list")
        .env(
            "GLUDB_BACKUP_URL",
            format!("file://{}", dir.path().display()),
        )
        .env("GLUDB_AGE_IDENTITY_FILE", dir.path().join("gone.key"))
        .output()
        .unwrap();
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));

    // The wrong key: exit 2 too.
    let other = dir.path().join("other.key");
    std::fs::write(
        &other,
        gludb_backup::archive::Identity::generate().secret_text(),
    )
    .unwrap();
    let wrong = gludb(
        dir.path(),
        &["cat", &key, "Note", "--identity", other.to_str().unwrap()],
    );
    assert_eq!(code(&wrong), 2, "{}", stderr(&wrong));
    assert!(!stderr(&wrong).contains("AGE-SECRET-KEY"));
}
