//! Operators' commands for gludb backups, for the person at the shell at
//! 3 a.m.: `backup`, `list`, `inspect`, `verify`, `restore`, `prune`,
//! `cat` and `orphans`.
//!
//! Two ways to get them:
//!
//! - **In the service's own binary** (`gludb`'s `cli` feature,
//!   `gludb::cli`), where the service's `#[derive(Storable)]` types are
//!   registered and its databases open: every command, `backup` and
//!   `restore` included. [`App::new`] parses the whole command line;
//!   [`Operator`] mounts as a subcommand of a clap CLI the service has.
//! - **The standalone `gludb` binary** (`cargo install gludb-cli`): the
//!   commands that need no types (`list`, `inspect`, `verify`, `prune`,
//!   `cat`, `orphans`), on any application's backups, including archives
//!   the original Python GLUDB wrote.
//!
//! Conventions, as restic, litestream and pgBackRest users expect them:
//! destinations are URLs (`--destination` or `GLUDB_BACKUP_URL`; S3 keys
//! and endpoint from `AWS_*`); progress on stderr (a bar on a terminal,
//! plain lines in a log, nothing with `--quiet`); `--json` prints each
//! result as one JSON object per line on stdout; an error is one line on
//! stderr (`--verbose` adds its causes); and the exit code says what
//! happened:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | the operation failed (store, database, configuration) |
//! | 2 | the command line is wrong (unknown option, class or module) |
//! | 3 | the backup is damaged, does not match its manifest, or holds records that do not decode; or a new backup holds less than asked (a class's table does not exist: it is kept, and its warnings say so) |
//! | 4 | no backup under that key, or the class is not in it |
//! | 130 | interrupted (Ctrl-C or SIGTERM): a running backup was cancelled and left nothing |
//! | 141 | stdout was closed before everything was written (`\| head`) by a command that otherwise succeeded |
//!
//! ```no_run
//! # async fn service(dbs: gludb_core::Databases) {
//! // In the service's main: its types are registered, its databases open.
//! let exit = gludb_cli::App::new(&dbs)
//!     .default_destination("file:///var/backups/myapp")
//!     .run()
//!     .await;
//! std::process::exit(i32::from(exit.code()));
//! # }
//! ```
//!
//! Mounted in a clap CLI the service already has:
//!
//! ```no_run
//! use clap::{Parser, Subcommand};
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(subcommand)]
//!     command: Command,
//! }
//!
//! #[derive(Subcommand)]
//! enum Command {
//!     /// Serve requests.
//!     Serve,
//!     /// Back up, list, verify and restore the service's data.
//!     Backups(gludb_cli::Operator),
//! }
//!
//! # async fn run(dbs: gludb_core::Databases) {
//! match Cli::parse().command {
//!     Command::Serve => { /* ... */ }
//!     Command::Backups(operator) => {
//!         let exit = gludb_cli::App::new(&dbs).execute(operator).await;
//!         std::process::exit(i32::from(exit.code()));
//!     }
//! }
//! # }
//! ```

#![warn(missing_docs)]

mod args;
mod commands;
mod output;
mod progress;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser};
use gludb_core::Databases;

pub use args::{
    BackupArgs, CatArgs, Command, GlobalOptions, KeyArgs, ListArgs, ModeArg, Operator, OrphansArgs,
    PruneArgs, RestoreArgs, VerifyArgs,
};
pub use output::Exit;

/// Runs the process's command line as the operator commands of a service
/// whose databases are `dbs` (the destination from `--destination` or
/// `GLUDB_BACKUP_URL`): [`App::new`]`(dbs).run()`.
pub async fn run(dbs: &Databases) -> Exit {
    App::new(dbs).run().await
}

/// The whole command line, when the operator commands are all there is.
#[derive(Parser)]
#[command(
    about = "Back up, list, inspect, verify, restore and prune gludb backups",
    after_help = "Exit codes: 0 done, 1 failed, 2 usage, 3 the backup has a problem, 4 not found, 130 interrupted, 141 output cut short.\nDestinations: --destination URL or GLUDB_BACKUP_URL (file:///dir, s3://bucket/prefix with AWS_* credentials, gs://, az://)."
)]
struct Cli {
    #[command(flatten)]
    operator: Operator,
}

/// The program the commands run in: a service (its databases, its
/// registered types) or the standalone binary (neither).
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    dbs: Option<&'a Databases>,
    default_destination: Option<&'a str>,
    name: Option<&'static str>,
}

impl<'a> App<'a> {
    /// The commands of a service whose databases are `dbs`.
    pub fn new(dbs: &'a Databases) -> App<'a> {
        App {
            dbs: Some(dbs),
            default_destination: None,
            name: None,
        }
    }

    /// The commands that need no types or databases (the `gludb` binary):
    /// `backup` and `restore` are hidden and refused.
    pub fn standalone() -> App<'static> {
        App {
            dbs: None,
            default_destination: None,
            name: Some("gludb"),
        }
    }

    /// The destination when neither `--destination` nor `GLUDB_BACKUP_URL`
    /// gives one.
    pub fn default_destination(mut self, url: &'a str) -> App<'a> {
        self.default_destination = Some(url);
        self
    }

    /// Parses the process's command line and runs it.
    pub async fn run(&self) -> Exit {
        self.run_from(std::env::args_os()).await
    }

    /// Parses `args` (the program's name first) and runs them. `--help`
    /// prints the help and returns [`Exit::Ok`]; a usage error prints it
    /// and returns [`Exit::Usage`].
    pub async fn run_from<I, T>(&self, args: I) -> Exit
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Cli::command();
        if let Some(name) = self.name {
            command = command.name(name).bin_name(name);
        }
        if self.dbs.is_none() {
            command = command
                .mut_subcommand("backup", |c| c.hide(true))
                .mut_subcommand("restore", |c| c.hide(true));
        }
        let parsed = command
            .try_get_matches_from(args)
            .and_then(|matches| Cli::from_arg_matches(&matches));
        match parsed {
            Ok(cli) => self.execute(cli.operator).await,
            Err(error) => {
                let _ = error.print();
                if error.use_stderr() {
                    Exit::Usage
                } else {
                    Exit::Ok
                }
            }
        }
    }

    /// Runs a parsed command (mounted in the service's own clap CLI).
    pub async fn execute(&self, operator: Operator) -> Exit {
        let Operator { options, command } = operator;
        let mut output = output::Output::new(options.json, options.quiet, options.verbose);
        output.standalone = self.dbs.is_none();
        let context = commands::Context {
            dbs: self.dbs,
            options: &options,
            default_destination: self.default_destination,
        };
        commands::run(command, &context, &mut output).await
    }
}
