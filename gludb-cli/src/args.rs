//! The command line, as clap parses it. Kept apart from what the commands
//! do, so a service can mount [`Operator`] in its own clap CLI.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

/// The operator commands with their global options: mount it in a
/// service's own clap CLI as a subcommand (`myapp backups list`), or let
/// [`crate::App::run`] parse the whole command line with it.
#[derive(Debug, Args)]
pub struct Operator {
    /// Options every command takes.
    #[command(flatten)]
    pub options: GlobalOptions,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalOptions {
    /// Where the backups are: `file:///dir`, `s3://bucket/prefix` (keys and
    /// endpoint from `AWS_*`), `gs://...`, `az://...`, `memory://`.
    #[arg(
        short = 'd',
        long,
        env = "GLUDB_BACKUP_URL",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub destination: Option<String>,
    /// Print each result as one JSON object per line on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress and no notes on stderr; errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// On an error, print its whole chain of causes.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// An age identity file (`AGE-SECRET-KEY-1...` lines, as `age-keygen`
    /// writes) to read encrypted backups (`.age`) with. The key is never
    /// printed.
    #[arg(
        long,
        env = "GLUDB_AGE_IDENTITY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub identity: Option<std::path::PathBuf>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up the service's registered classes (service binaries only).
    #[command(after_help = "\
Examples:
  backup --all
  backup --all --zstd 3 --encrypt-to age1...   # .tar.zst.age
  backup --class Order --class Person --name nightly
  backup --package myapp::model -d s3://bucket/myapp")]
    Backup(BackupArgs),
    /// List the backups at the destination, newest first.
    #[command(after_help = "\
Examples:
  list -d file:///var/backups/myapp
  list --set nightly --json | jq -r .key")]
    List(ListArgs),
    /// Show what a backup holds: classes, counts, sizes, hashes, when and
    /// by which version it was written.
    #[command(after_help = "\
Example:
  inspect Backup_UTC_2026-11-27T02_00_00.123456_1a2b3c-4d5e6f70.tar.gz")]
    Inspect(KeyArgs),
    /// Check a backup against its manifest: every member's size, count and
    /// SHA-256, every record (decoded with its type where registered, else
    /// checked to be a JSON object with an id). Exit code 3 if anything is
    /// wrong.
    #[command(after_help = "\
Examples:
  verify Backup_UTC_2026-11-27T02_00_00.123456_1a2b3c-4d5e6f70.tar.gz || page-someone
  verify <key> --fail-on-drift      # exit 3 if a type changed since the backup")]
    Verify(VerifyArgs),
    /// Restore a backup into the service's databases, or into `--into`
    /// (service binaries only). All or nothing.
    #[command(after_help = "\
Examples:
  restore <key>                                 # refuses tables that hold rows
  restore <key> --mode overwrite --class Order
  restore <key> --into sqlite:/tmp/restored.sqlite")]
    Restore(RestoreArgs),
    /// Delete the backups of one set that a retention policy does not keep.
    #[command(after_help = "\
Examples:
  prune --set nightly --keep-daily 7 --keep-monthly 12 --dry-run
  prune --set Backup --keep-last 30")]
    Prune(PruneArgs),
    /// Print one class of a backup as JSON lines on stdout (the records as
    /// stored), checked against the manifest before the first line.
    #[command(after_help = "\
Examples:
  cat <key> Order | jq -s 'map(.total_cents) | add'
  cat <key> Order--OrderRecord --as-it-goes | head")]
    Cat(CatArgs),
    /// Find (and with `--clean`, remove) what interrupted backups left:
    /// unfinished S3 multipart uploads and `file://` staging files.
    #[command(after_help = "\
Examples:
  orphans
  orphans --clean --older-than 24h")]
    Orphans(OrphansArgs),
}

impl Command {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Backup(_) => "backup",
            Command::List(_) => "list",
            Command::Inspect(_) => "inspect",
            Command::Verify(_) => "verify",
            Command::Restore(_) => "restore",
            Command::Prune(_) => "prune",
            Command::Cat(_) => "cat",
            Command::Orphans(_) => "orphans",
        }
    }
}

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// A registered class by type name (`Order`) or full path
    /// (`myapp::model::Order`), with its bases; repeatable.
    #[arg(short, long = "class", value_name = "CLASS")]
    pub classes: Vec<String>,
    /// Every registered class in a module and below (`myapp::model`);
    /// repeatable.
    #[arg(short, long = "package", value_name = "MODULE")]
    pub packages: Vec<String>,
    /// Every registered class (except gludb's own backup history).
    #[arg(long, conflicts_with_all = ["classes", "packages"])]
    pub all: bool,
    /// The backup set's name (its retention and schedule are its own).
    #[arg(short, long, default_value = "Backup")]
    pub name: String,
    /// Compress with zstd at this level (1-22) into `.tar.zst` instead of
    /// gzip (which the original GLUDB's readers need).
    #[arg(long, value_name = "LEVEL")]
    pub zstd: Option<i32>,
    /// Encrypt to this age public key (`age1...`; repeatable, or
    /// comma-separated in GLUDB_AGE_RECIPIENTS): `.tar.gz.age`.
    #[arg(
        long = "encrypt-to",
        value_name = "RECIPIENT",
        env = "GLUDB_AGE_RECIPIENTS",
        value_delimiter = ','
    )]
    pub encrypt_to: Vec<String>,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this backup set.
    #[arg(long)]
    pub set: Option<String>,
}

/// Commands on one backup.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The backup's key, as `list` shows it.
    pub key: String,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup's key, as `list` shows it.
    pub key: String,
    /// Exit 3 when a registered type's schema differs from its class in
    /// the backup (a field added, removed, renamed or retyped), even if
    /// every record decodes.
    #[arg(long)]
    pub fail_on_drift: bool,
}

/// What a restore does with rows already in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Refuse, writing nothing, unless every target table is empty.
    RefuseNonEmpty,
    /// Replace a stored record that has the same id (upsert).
    Overwrite,
    /// Keep a stored record that has the same id; skip the backup's.
    SkipExisting,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup's key, as `list` shows it.
    pub key: String,
    /// What to do with rows already in a table.
    #[arg(long, value_enum, default_value = "refuse-non-empty")]
    pub mode: ModeArg,
    /// Restore only these classes (type name or full path); default: every
    /// class in the backup that this program registers.
    #[arg(short, long = "class", value_name = "CLASS")]
    pub classes: Vec<String>,
    /// Restore into this database instead of the service's own:
    /// `sqlite:<file>` (created if missing) or `postgres://...`.
    #[arg(long, value_name = "DATABASE")]
    pub into: Option<String>,
    /// Set aside records that do not decode in this file (JSON lines)
    /// instead of refusing the whole restore.
    #[arg(long, value_name = "FILE")]
    pub quarantine: Option<std::path::PathBuf>,
    /// Restore nothing if a registered type's schema differs from its class
    /// in the backup (the drift is reported either way).
    #[arg(long)]
    pub refuse_drift: bool,
}

/// `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The backup set to prune (each set's policy is its own).
    #[arg(long, default_value = "Backup")]
    pub set: String,
    /// Keep the newest N backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep the newest backup of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,
    /// Keep the newest backup of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<usize>,
    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// The backup's key, as `list` shows it.
    pub key: String,
    /// The class: `<TypeName>--<table>` as `inspect` shows it, or its type
    /// or table name alone.
    pub class: String,
    /// Print records as they are read (no temporary file); a mismatch with
    /// the manifest is then found only at the end (exit code 3).
    #[arg(long)]
    pub as_it_goes: bool,
}

/// `orphans`.
#[derive(Debug, Args)]
pub struct OrphansArgs {
    /// Abort / delete them (only those older than `--older-than`).
    #[arg(long)]
    pub clean: bool,
    /// Leave alone what is younger than this (a backup running right now):
    /// more than your longest backup takes.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub older_than: Duration,
}
