//! What the commands print, and how they end: results on stdout (human
//! text, or one JSON object per line with `--json`), notes and errors on
//! stderr, and the documented exit codes.

use std::{
    error::Error as StdError,
    io::{self, IsTerminal, Write},
    process::ExitCode,
};

use gludb_backup::BackupError;
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
    /// records that do not decode (what `verify` exists to find).
    Problem,
    /// 4: no backup under that key, or the class is not in it.
    NotFound,
    /// 130: interrupted (Ctrl-C); a running backup was cancelled and left
    /// nothing behind.
    Interrupted,
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
        }
    }

    /// The exit code an error means.
    pub fn of(error: &BackupError) -> Exit {
        match error {
            BackupError::NotFound { .. } | BackupError::ClassesNotInBackup { .. } => Exit::NotFound,
            BackupError::Archive { .. } | BackupError::BadRecord(_) => Exit::Problem,
            BackupError::Cancelled => Exit::Interrupted,
            BackupError::AmbiguousType { .. }
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
    /// stdout was closed by its reader (`gludb cat ... | head`): stop quietly.
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
    stdout: io::BufWriter<io::Stdout>,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool, verbose: bool) -> Output {
        Output {
            json,
            quiet,
            verbose,
            stderr_is_terminal: io::stderr().is_terminal(),
            stdout: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }

    /// One result: `value` as a JSON line with `--json`, else `human`.
    pub(crate) fn result<T: Serialize>(&mut self, value: &T, human: &str) -> Result<(), Failure> {
        if self.json {
            serde_json::to_writer(&mut self.stdout, value).map_err(io::Error::from)?;
            self.stdout.write_all(b"\n")?;
        } else if !human.is_empty() {
            self.stdout.write_all(human.as_bytes())?;
            if !human.ends_with('\n') {
                self.stdout.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// One line of data, verbatim (what `cat` prints, JSON or not).
    pub(crate) fn line(&mut self, line: &str) -> Result<(), Failure> {
        self.stdout.write_all(line.as_bytes())?;
        self.stdout.write_all(b"\n")?;
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<(), Failure> {
        self.stdout.flush()?;
        Ok(())
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
            Failure::ClosedPipe => return Exit::Ok,
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
        if self.json {
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
