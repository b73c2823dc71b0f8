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
        Ok(BackupStore::open_url(self.url()?)?)
    }

    /// The store, reading encrypted backups with `--identity`'s keys.
    fn with_identities(&self, store: BackupStore) -> Result<BackupStore, Failure> {
        let Some(path) = &self.options.identity else {
            return Ok(store);
        };
        // The path is never repeated in an error: what was given may be a
        // key itself (pasted where a file was expected).
        if path.to_string_lossy().trim().starts_with("AGE-SECRET-KEY-") {
            return Err(Failure::Usage(
                "--identity / GLUDB_AGE_IDENTITY_FILE takes a file, and was given a secret key itself: put the key in a file readable only by you".into(),
            ));
        }
        #[cfg(feature = "age")]
        {
            let text = read_identity_file(path).map_err(|e| {
                Failure::Usage(format!(
                    "cannot read the identity file given by --identity / GLUDB_AGE_IDENTITY_FILE: {e}"
                ))
            })?;
            let identities =
                gludb_backup::archive::Identity::from_file_text(&text).map_err(|e| {
                    Failure::Usage(format!("the identity file given by --identity: {e}"))
                })?;
            Ok(store.with_identities(identities))
        }
        #[cfg(not(feature = "age"))]
        Err(Failure::Usage(
            "--identity: this build has no age support (feature `age`)".into(),
        ))
    }

    /// [`store`](Self::store), reading encrypted archives with the keys of
    /// `--identity` (only the commands that open archives load them).
    fn archive_store(&self) -> Result<BackupStore, Failure> {
        self.with_identities(self.store()?)
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

/// An identity file's text: at most 1 MiB (one is a few hundred bytes; a
/// device or a wrong path must not be read forever).
#[cfg(feature = "age")]
fn read_identity_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    const MAX: u64 = 1024 * 1024;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX {
        return Err(std::io::Error::other(
            "larger than 1 MiB: not an identity file",
        ));
    }
    Ok(text)
}
