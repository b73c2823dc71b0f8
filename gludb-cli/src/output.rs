//! What the commands print, and how they end: results on stdout (human
//! text, or one JSON object per line with `--json`), notes and errors on
//! stderr, and the documented exit codes.

use std::{
    error::Error as StdError,
    io::{self, IsTerminal, Write},
    process::ExitCode,
};

use gludb_backup::{BackupError, archive::ArchiveError};
use serde::Serialize;

/// How a command ended; the process exit code is [`Exit::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: the operation failed (store, database, configuration, ...).
    Failed,
    /// 2: the command line is wrong (unknown option, class or module).
    Usage,
    /// 3: the backup is damaged, does not match its manifest, or holds
    /// records that do not decode (what `verify` exists to find); or a new
    /// backup holds less than asked (its warnings say what).
    Problem,
    /// 4: no backup under that key, or the class is not in it.
    NotFound,
    /// 130: interrupted (Ctrl-C or SIGTERM); a running backup was
    /// cancelled and left nothing behind.
    Interrupted,
    /// 141: stdout was closed before everything was written (`| head`),
    /// and the command itself succeeded.
    ClosedPipe,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Problem => 3,
            Exit::NotFound => 4,
            Exit::Interrupted => 130,
            Exit::ClosedPipe => 141,
        }
    }

    /// The exit code an error means.
    pub fn of(error: &BackupError) -> Exit {
        match error {
            BackupError::NotFound { .. }
            | BackupError::ClassesNotInBackup { .. }
            | BackupError::NothingToRestore { .. }
            | BackupError::DestinationMissing { .. } => Exit::NotFound,
            // The backup is fine: the key given does not open it.
            BackupError::Archive {
                source: ArchiveError::IdentityRequired | ArchiveError::NoMatchingIdentity,
                ..
            } => Exit::Usage,
            BackupError::Archive { .. }
            | BackupError::BadRecord(_)
            | BackupError::SchemaDrift { .. } => Exit::Problem,
            BackupError::Cancelled => Exit::Interrupted,
            BackupError::AmbiguousType { .. }
            | BackupError::AmbiguousClass { .. }
            | BackupError::DuplicateMember { .. }
            | BackupError::InvalidDestination { .. }
            | BackupError::InvalidSetName { .. }
            | BackupError::InvalidOption { .. }
            | BackupError::FeatureNotEnabled { .. }
            | BackupError::NothingSelected => Exit::Usage,
            _ => Exit::Failed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Why a command stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// From the backup library.
    Backup(BackupError),
    /// From the data layer (opening a database, ...).
    Core(gludb_core::Error),
    /// The command line names something that is not there.
    Usage(String),
    /// stdout was closed by its reader (`gludb cat ... | head`): stop
    /// quietly (exit 141).
    ClosedPipe,
    /// Writing the output failed.
    Output(io::Error),
}

impl From<BackupError> for Failure {
    fn from(e: BackupError) -> Self {
        Failure::Backup(e)
    }
}

impl From<gludb_core::Error> for Failure {
    fn from(e: gludb_core::Error) -> Self {
        Failure::Core(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::ClosedPipe
        } else {
            Failure::Output(e)
        }
    }
}

/// Where results, notes and errors go.
pub(crate) struct Output {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    /// Whether stderr is a terminal (progress bars) or a log (plain lines).
    pub(crate) stderr_is_terminal: bool,
    /// stdout carries data (`cat`): an error is not written into it.
    pub(crate) stdout_is_data: bool,
    /// The reader of stdout went away: nothing more is written to it.
    pub(crate) stdout_closed: bool,
    /// Without the service's types (the standalone binary).
    pub(crate) standalone: bool,
    stdout: io::BufWriter<io::Stdout>,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool, verbose: bool) -> Output {
        Output {
            json,
            quiet,
            verbose,
            stderr_is_terminal: io::stderr().is_terminal(),
            stdout_is_data: false,
            stdout_closed: false,
            standalone: false,
            stdout: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }

    /// One result: `value` as a JSON line with `--json`, else `human`. A
    /// closed stdout is not an error of the command (its verdict stands):
    /// the rest of its output is dropped.
    pub(crate) fn result<T: Serialize>(&mut self, value: &T, human: &str) -> Result<(), Failure> {
        let mut text = if self.json {
            serde_json::to_string(value).map_err(io::Error::from)?
        } else {
            human.to_owned()
        };
        if text.is_empty() {
            return Ok(());
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        match self.write(text.as_bytes()) {
            Err(Failure::ClosedPipe) => Ok(()),
            other => other,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        if self.stdout_closed {
            return Err(Failure::ClosedPipe);
        }
        let written = self.stdout.write_all(bytes).map_err(Failure::from);
        if let Err(Failure::ClosedPipe) = written {
            self.stdout_closed = true;
        }
        written
    }

    /// One line of data, verbatim (what `cat` prints, JSON or not).
    pub(crate) fn line(&mut self, line: &str) -> Result<(), Failure> {
        self.write(line.as_bytes())?;
        self.write(b"\n")
    }

    pub(crate) fn flush(&mut self) -> Result<(), Failure> {
        if self.stdout_closed {
            return Ok(());
        }
        match self.stdout.flush().map_err(Failure::from) {
            Err(Failure::ClosedPipe) => {
                self.stdout_closed = true;
                Ok(())
            }
            other => other,
        }
    }

    /// The exit code of a command that ended with `exit`: its own, unless
    /// it succeeded but could not write everything.
    pub(crate) fn finish(&mut self, exit: Exit) -> Exit {
        match self.flush() {
            Ok(()) if exit == Exit::Ok && self.stdout_closed => Exit::ClosedPipe,
            Ok(()) => exit,
            Err(failure) => self.fail(failure),
        }
    }

    /// A note for the person at the terminal (or the log), on stderr.
    pub(crate) fn note(&self, note: &str) {
        if !self.quiet {
            eprintln!("{note}");
        }
    }

    /// Reports a failure on stderr (with `--json`, also as a JSON line on
    /// stdout) and returns the exit code it means.
    pub(crate) fn fail(&mut self, failure: Failure) -> Exit {
        let (exit, message, chain) = match &failure {
            Failure::ClosedPipe => return Exit::ClosedPipe,
            Failure::Backup(e) => (Exit::of(e), e.to_string(), causes(e)),
            Failure::Core(e) => (Exit::Failed, e.to_string(), causes(e)),
            Failure::Usage(message) => (Exit::Usage, message.clone(), Vec::new()),
            Failure::Output(e) => (
                Exit::Failed,
                format!("cannot write the output: {e}"),
                Vec::new(),
            ),
        };
        eprintln!("error: {message}");
        if self.verbose {
            for cause in &chain {
                eprintln!("  caused by: {cause}");
            }
        }
        if let (true, Failure::Backup(BackupError::FeatureNotEnabled { feature, .. })) =
            (self.standalone, &failure)
        {
            eprintln!(
                "  (this gludb was built without it: cargo install gludb-cli --features {feature})"
            );
        }
        // Into a data stream (`cat`), an error object would read as a record.
        if self.json && !self.stdout_is_data {
            let line = serde_json::json!({
                "error": message,
                "causes": chain,
                "exit_code": exit.code(),
            });
            // Best effort: the error is on stderr already.
            let _ = self.result(&line, "").and_then(|()| self.flush());
        }
        exit
    }
}

/// The error's causes, outermost first, without repeating a cause whose
/// text the error already shows.
fn causes(error: &dyn StdError) -> Vec<String> {
    let mut shown = error.to_string();
    let mut chain = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !shown.contains(&text) {
            chain.push(text.clone());
        }
        shown = text;
        next = cause.source();
    }
    chain
}

/// `1234567` → `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes for people: `1.5 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let not_found = BackupError::NotFound {
            destination: "file:///x".into(),
            key: "k".into(),
        };
        assert_eq!(Exit::of(&not_found).code(), 4);
        assert_eq!(Exit::of(&BackupError::Cancelled).code(), 130);
        assert_eq!(Exit::of(&BackupError::NothingSelected).code(), 2);
    }
}
