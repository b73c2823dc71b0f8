//! Backup object names. A name says which backup set an object belongs to
//! and when it was taken, so a listing can group and order backups without
//! opening them:
//!
//! ```text
//! <set>_<YYYY-MM-DDTHH_MM_SS.ffffff>Z-<run>.tar.gz
//! ```
//!
//! `<set>` is the backup's name (`Backup` unless [`crate::Backup::with_name`]
//! says otherwise, which gives the original GLUDB's `Backup_<time>.tar.gz`
//! look), the time is UTC with `:` replaced by `_`, and `<run>` is 8 random
//! hex digits: two runs of one set in the same microsecond, in this process
//! or any other, still write two objects. Names written before sets existed
//! (`Backup_<time>Z.tar.gz`) and by the original Python GLUDB
//! (`Backup_UTC_<time>.tar.gz`) belong to the set `Backup`.

use std::{
    fmt,
    sync::atomic::{AtomicI64, Ordering},
};

use time::{
    OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::FormatItem,
    macros::format_description,
};

use crate::{BackupError, Result};

const KEY_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]_[minute]_[second].[subsecond digits:6]");

/// Length of a formatted [`KEY_TIME`]: `2026-11-27T02_03_04.500000`.
const KEY_TIME_LEN: usize = 26;

/// The only archive suffix written so far.
const SUFFIX: &str = ".tar.gz";

/// The set every unnamed backup belongs to.
pub const DEFAULT_SET: &str = "Backup";

/// Longest set name, in bytes.
const MAX_SET_NAME: usize = 64;

/// The name of a backup set: what one retention policy governs and what
/// `run_if_due` schedules. 1 to 64 ASCII letters, digits, `-` and `_`,
/// starting with a letter or digit.
///
/// ```
/// use gludb_backup::archive::SetName;
/// assert!(SetName::new("nightly-orders").is_ok());
/// assert!(SetName::new("../etc").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetName(String);

impl SetName {
    /// Checks `name` and makes it a set name.
    pub fn new(name: &str) -> Result<SetName> {
        let invalid = |reason: &str| BackupError::InvalidSetName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let first = name.chars().next().ok_or_else(|| invalid("it is empty"))?;
        if !first.is_ascii_alphanumeric() {
            return Err(invalid("it must start with an ASCII letter or digit"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "only ASCII letters, digits, `-` and `_` are allowed",
            ));
        }
        if name.len() > MAX_SET_NAME {
            return Err(invalid("it is longer than 64 bytes"));
        }
        Ok(SetName(name.to_owned()))
    }

    /// The set of unnamed backups, `Backup`.
    pub fn default_set() -> SetName {
        SetName(DEFAULT_SET.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SetName {
    fn default() -> Self {
        SetName::default_set()
    }
}

impl fmt::Display for SetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file name of one backup: its set, when it was taken, and the run
/// that wrote it.
///
/// ```
/// use gludb_backup::archive::{BackupKey, SetName};
/// let t = time::macros::datetime!(2026-11-27 02:03:04.5 UTC);
/// let key = BackupKey::new(SetName::new("nightly")?, t);
/// let name = key.file_name();
/// assert!(name.starts_with("nightly_2026-11-27T02_03_04.500000Z-"));
/// assert_eq!(BackupKey::parse(&format!("daily/{name}")), Some(key));
/// assert_eq!(BackupKey::parse("Backup_UTC_2015-01-02T03_04_05.000006.tar.gz").unwrap().set().as_str(), "Backup");
/// assert!(BackupKey::parse("notes.txt").is_none());
/// # Ok::<(), gludb_backup::BackupError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKey {
    set: SetName,
    time: OffsetDateTime,
    /// `None` for names written before runs were tagged.
    run: Option<String>,
}

impl BackupKey {
    /// A new key for a run of `set` started at `time`, with a fresh random
    /// run tag.
    pub fn new(set: SetName, time: OffsetDateTime) -> BackupKey {
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        BackupKey {
            set,
            time: time.to_offset(UtcOffset::UTC),
            run: Some(run),
        }
    }

    /// The set the backup belongs to.
    pub fn set(&self) -> &SetName {
        &self.set
    }

    /// When the backup was taken (UTC, microseconds).
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// The file name, `<set>_<time>Z-<run>.tar.gz`.
    pub fn file_name(&self) -> String {
        // Formatting a valid date with a fixed description cannot fail; fall
        // back to the Unix time rather than panic all the same.
        let stamp = self
            .time
            .format(KEY_TIME)
            .unwrap_or_else(|_| self.time.unix_timestamp().to_string());
        match &self.run {
            Some(run) => format!("{}_{stamp}Z-{run}{SUFFIX}", self.set),
            None => format!("{}_{stamp}Z{SUFFIX}", self.set),
        }
    }

    /// The key of a backup file name (or object key: any prefix is
    /// ignored), if it is one: `<set>_<time>Z-<run>.tar.gz`, and the older
    /// forms `Backup_<time>Z.tar.gz` and the original Python GLUDB's
    /// `Backup_UTC_<time>.tar.gz` (both of the set `Backup`).
    pub fn parse(key: &str) -> Option<BackupKey> {
        let file_name = key.rsplit('/').next()?;
        let stem = file_name.strip_suffix(SUFFIX)?;
        // The original Python GLUDB: `Backup_UTC_<time>` without `Z`.
        if let Some(stamp) = stem.strip_prefix("Backup_UTC_") {
            return Some(BackupKey {
                set: SetName::default_set(),
                time: parse_time(stamp)?,
                run: None,
            });
        }
        let (rest, run) = match stem.rsplit_once("Z-") {
            Some((rest, run)) if run.len() == 8 && run.bytes().all(|b| b.is_ascii_hexdigit()) => {
                (rest, Some(run.to_owned()))
            }
            _ => (stem.strip_suffix('Z')?, None),
        };
        let split = rest.len().checked_sub(KEY_TIME_LEN + 1)?;
        if !rest.is_char_boundary(split) {
            return None;
        }
        let (set, stamp) = rest.split_at(split);
        let stamp = stamp.strip_prefix('_')?;
        Some(BackupKey {
            set: SetName::new(set).ok()?,
            time: parse_time(stamp)?,
            run,
        })
    }
}

fn parse_time(stamp: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(stamp, KEY_TIME)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// The start time of a new run: now, in microseconds, and always later than
/// any time this process handed out before, so runs started in one process
/// order as they were started even within one clock tick.
pub(crate) fn next_run_time() -> OffsetDateTime {
    static LAST_MICROS: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = OffsetDateTime::now_utc();
    let now_micros = (now.unix_timestamp_nanos() / 1_000) as i64;
    let previous = LAST_MICROS
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            Some(now_micros.max(last.saturating_add(1)))
        })
        .unwrap_or(now_micros);
    let micros = now_micros.max(previous.saturating_add(1));
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_time_within_a_set() {
        let early = time::macros::datetime!(2026-01-02 03:04:05.000006 UTC);
        let late = time::macros::datetime!(2026-11-27 00:00:00 UTC);
        let set = SetName::new("nightly_db-1").unwrap();
        let (a, b) = (
            BackupKey::new(set.clone(), early),
            BackupKey::new(set.clone(), late),
        );
        assert!(!a.file_name().contains(':'));
        assert!(a.file_name() < b.file_name());
        assert_eq!(BackupKey::parse(&a.file_name()), Some(a.clone()));
        assert_eq!(
            BackupKey::parse(&format!("prefix/{}", b.file_name())),
            Some(b)
        );
        assert_ne!(a.file_name(), BackupKey::new(set, early).file_name());
    }

    #[test]
    fn older_names_belong_to_the_default_set() {
        let ours = BackupKey::parse("Backup_2026-11-27T02_03_04.500000Z.tar.gz").unwrap();
        assert_eq!(ours.set().as_str(), DEFAULT_SET);
        assert_eq!(
            ours.time(),
            time::macros::datetime!(2026-11-27 02:03:04.5 UTC)
        );
        let original = BackupKey::parse("x/Backup_UTC_2015-01-02T03_04_05.000006.tar.gz").unwrap();
        assert_eq!(original.set().as_str(), DEFAULT_SET);
        for junk in [
            "Backup_garbage.tar.gz",
            "_2026-11-27T02_03_04.500000Z.tar.gz",
            "a b_2026-11-27T02_03_04.500000Z.tar.gz",
            "Backup_2026-11-27T02_03_04.500000Z-xyz.tar.gz",
            "Backup_2026-11-27T02_03_04.500000Z.tar.gz#1",
            "é_2026-11-27T02_03_04.500000Z.tar.gz",
        ] {
            assert_eq!(BackupKey::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn run_times_never_repeat_in_one_process() {
        let times: Vec<_> = (0..1000).map(|_| next_run_time()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn set_names_are_checked() {
        for bad in ["", "-x", "a/b", "a.b", "a b", &"x".repeat(65)] {
            assert!(SetName::new(bad).is_err(), "{bad:?}");
        }
        for good in ["Backup", "nightly", "db_1-hourly", &"x".repeat(64)] {
            assert!(SetName::new(good).is_ok(), "{good:?}");
        }
    }
}
