//! `gludb`: the operator commands that need no types — `list`, `inspect`,
//! `verify`, `prune`, `cat`, `orphans` — on any application's backups.
//! `backup` and `restore` live in the service's own binary (`gludb::cli`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    gludb_cli::App::standalone().run().await.into()
}
