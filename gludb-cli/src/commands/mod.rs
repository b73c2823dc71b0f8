//! What each command does, given the parsed command line and the program
//! it runs in (a service with its types and databases, or the standalone
//! binary with neither).

mod backup;
mod read;
mod restore;
mod store;

use gludb_backup::BackupStore;
use gludb_core::Databases;

use crate::{
    args::{Command, GlobalOptions},
    output::{Exit, Failure, Output},
};

/// What a command runs with.
pub(crate) struct Context<'a> {
    pub(crate) dbs: Option<&'a Databases>,
    pub(crate) options: &'a GlobalOptions,
    pub(crate) default_destination: Option<&'a str>,
}

impl Context<'_> {
    /// The destination, connected (nothing is requested yet), to read: a
    /// `file://` directory that does not exist is an error, not created.
    fn store(&self) -> Result<BackupStore, Failure> {
        self.with_identities(BackupStore::open_url(self.url()?)?)
    }

    /// The store, reading encrypted backups with `--identity`'s keys.
    fn with_identities(&self, store: BackupStore) -> Result<BackupStore, Failure> {
        let Some(path) = &self.options.identity else {
            return Ok(store);
        };
        #[cfg(feature = "age")]
        {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Usage(format!(
                    "cannot read the identity file {}: {e}",
                    path.display()
                ))
            })?;
            let identities = gludb_backup::archive::Identity::from_file_text(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            Ok(store.with_identities(identities))
        }
        #[cfg(not(feature = "age"))]
        Err(Failure::Usage(format!(
            "--identity {}: this build has no age support (feature `age`)",
            path.display()
        )))
    }

    /// The destination to write a backup to (a `file://` directory is
    /// created if missing).
    fn store_to_write(&self) -> Result<BackupStore, Failure> {
        Ok(BackupStore::from_url(self.url()?)?)
    }

    fn url(&self) -> Result<&str, Failure> {
        self.options
            .destination
            .as_deref()
            .or(self.default_destination)
            .ok_or_else(|| {
                Failure::Usage(
                    "no destination: pass --destination URL or set GLUDB_BACKUP_URL".into(),
                )
            })
    }

    /// The service's databases; commands that write need them.
    fn databases(&self, command: &str) -> Result<&Databases, Failure> {
        self.dbs.ok_or_else(|| {
            Failure::Usage(format!(
                "`{command}` needs the application's types and databases: run it from the service's own binary (gludb::cli), not the standalone `gludb`"
            ))
        })
    }
}

/// Runs `command`; the exit code says how it ended.
pub(crate) async fn run(command: Command, context: &Context<'_>, output: &mut Output) -> Exit {
    let ran = match command {
        Command::Backup(args) => backup::backup(args, context, output).await,
        Command::List(args) => store::list(args, context, output).await,
        Command::Inspect(args) => read::inspect(args, context, output).await,
        Command::Verify(args) => restore::verify(args, context, output).await,
        Command::Restore(args) => restore::restore(args, context, output).await,
        Command::Prune(args) => store::prune(args, context, output).await,
        Command::Cat(args) => read::cat(args, context, output).await,
        Command::Orphans(args) => store::orphans(args, context, output).await,
    };
    match ran {
        Ok(exit) => output.finish(exit),
        Err(failure) => {
            // What was printed before the failure (records of `cat
            // --as-it-goes`) goes out first.
            let _ = output.flush();
            output.fail(failure)
        }
    }
}
