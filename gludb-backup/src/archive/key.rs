//! Backup object names. A name says when a backup was taken, what it
//! selected, which run wrote it and which backup set it belongs to, so a
//! listing can group and order backups without opening them; and it keeps
//! the original GLUDB's shape, so lifecycle rules and scripts written for
//! the original (which match on `Backup_UTC_`) keep working:
//!
//! ```text
//! Backup_UTC_<YYYY-MM-DDTHH_MM_SS.ffffff>_<selection>-<run>[_<set>].tar.gz
//! ```
//!
//! The time is UTC, with `:` replaced by `_` as the original does, always
//! with its microseconds (so names sort by time); `<selection>` is 6 hex
//! digits of a hash of the selected types (two backups of one name but
//! different selections are apart: retention applies to each on its own);
//! `<run>` is 8 random hex digits, so two runs in the same microsecond, in
//! this process or any other, write two objects; `<set>` is the backup's
//! name, left out for the default set `Backup`. Names the original Python GLUDB wrote
//! (`Backup_UTC_<time>.tar.gz`, the fraction left out when it is zero) and
//! gludb-rs wrote before sets (`Backup_<time>Z.tar.gz`) belong to the set
//! `Backup`.

use super::ArchiveFormat;
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

/// The original's time when its microseconds were 0 (Python's `isoformat`).
const KEY_TIME_WITHOUT_FRACTION: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]_[minute]_[second]");

/// Length of a formatted [`KEY_TIME`]: `2026-11-27T02_03_04.500000`.
const KEY_TIME_LEN: usize = 26;

/// What every name starts with, as the original GLUDB's do.
const PREFIX: &str = "Backup_UTC_";

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

/// The file name of one backup: when it was taken, what it selected, the
/// run that wrote it, and its set.
///
/// ```
/// use gludb_backup::archive::{BackupKey, SetName, selection_tag};
/// let t = time::macros::datetime!(2026-11-27 02:03:04.5 UTC);
/// let selection = selection_tag(&["app::model::Order".to_owned()]);
/// let key = BackupKey::new(SetName::new("nightly")?, &selection, t);
/// assert_eq!(key.selection(), Some(selection.as_str()));
/// let name = key.file_name();
/// assert!(name.starts_with("Backup_UTC_2026-11-27T02_03_04.500000_"));
/// assert!(name.ends_with("_nightly.tar.gz"));
/// assert_eq!(BackupKey::parse(&format!("daily/{name}")), Some(key));
/// let original = BackupKey::parse("Backup_UTC_2015-01-02T03_04_05.000006.tar.gz").unwrap();
/// assert_eq!(original.set().as_str(), "Backup");
/// assert!(BackupKey::parse("notes.txt").is_none());
/// # Ok::<(), gludb_backup::BackupError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKey {
    set: SetName,
    /// `None` for names written before selections were tagged.
    selection: Option<String>,
    time: OffsetDateTime,
    /// The file name, as written or as found.
    name: String,
    /// What the name's suffix says the archive is.
    format: ArchiveFormat,
}

/// The tag of a selection (see [`BackupKey`]): 6 hex digits of the SHA-256
/// of its types' full names, sorted, so the same types give the same tag
/// on every machine and build.
pub fn selection_tag(full_names: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut names: Vec<&str> = full_names.iter().map(String::as_str).collect();
    names.sort_unstable();
    let hash = Sha256::digest(names.join("\n").as_bytes());
    format!("{:x}", hash)[..SELECTION_TAG_LEN].to_owned()
}

/// Hex digits of a selection tag.
const SELECTION_TAG_LEN: usize = 6;

/// Hex digits of a run tag.
const RUN_TAG_LEN: usize = 8;

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl BackupKey {
    /// A new key for a run of `set` selecting what `selection` (a
    /// [`selection_tag`]) tags, started at `time`, with a fresh random run
    /// tag.
    pub fn new(set: SetName, selection: &str, time: OffsetDateTime) -> BackupKey {
        let time = time.to_offset(UtcOffset::UTC);
        let run = &uuid::Uuid::new_v4().simple().to_string()[..RUN_TAG_LEN];
        // Formatting a valid date with a fixed description cannot fail; fall
        // back to the Unix time rather than panic all the same.
        let stamp = time
            .format(KEY_TIME)
            .unwrap_or_else(|_| time.unix_timestamp().to_string());
        let name = if set.as_str() == DEFAULT_SET {
            format!("{PREFIX}{stamp}_{selection}-{run}{SUFFIX}")
        } else {
            format!("{PREFIX}{stamp}_{selection}-{run}_{set}{SUFFIX}")
        };
        BackupKey {
            set,
            selection: Some(selection.to_owned()),
            time,
            name,
            format: ArchiveFormat::GZIP,
        }
    }

    /// The same key for an archive of `format` (its name's suffix).
    pub fn with_format(mut self, format: ArchiveFormat) -> BackupKey {
        if let Some((stem, _)) = ArchiveFormat::strip(&self.name) {
            self.name = format!("{stem}{}", format.suffix());
            self.format = format;
        }
        self
    }

    /// What the name says the archive is (compression, encryption).
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// The set the backup belongs to.
    pub fn set(&self) -> &SetName {
        &self.set
    }

    /// The tag of what the backup selected, if its name says.
    pub fn selection(&self) -> Option<&str> {
        self.selection.as_deref()
    }

    /// When the backup was taken (UTC, microseconds).
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// Whether gludb-rs wrote it (its name has a selection tag, or is the
    /// `Backup_<time>Z` form of gludb-rs before sets: gludb-rs has always
    /// written a manifest), and so with a manifest: an archive of this name
    /// without one was cut short or had its manifest removed. Only the
    /// original Python GLUDB's names (`Backup_UTC_<time>`) have none.
    pub fn has_manifest_by_name(&self) -> bool {
        self.selection.is_some() || !self.name.starts_with(PREFIX)
    }

    /// The file name.
    pub fn file_name(&self) -> String {
        self.name.clone()
    }

    /// The key of a backup file name (or object key: any prefix is
    /// ignored), if it is one: `Backup_UTC_<time>_<selection>-<run>[_<set>].tar.gz`,
    /// and the older forms `Backup_UTC_<time>.tar.gz` (the original Python
    /// GLUDB) and `Backup_<time>Z.tar.gz` (gludb-rs before sets), both of
    /// the set `Backup`.
    pub fn parse(key: &str) -> Option<BackupKey> {
        let name = key.rsplit('/').next()?;
        let (stem, format) = ArchiveFormat::strip(name)?;
        let (time, selection, set) = match stem.strip_prefix(PREFIX) {
            Some(rest) => parse_ours(rest)?,
            // gludb-rs before sets: `Backup_<time>Z`.
            None => {
                let stamp = stem.strip_prefix("Backup_")?.strip_suffix('Z')?;
                (parse_time(stamp)?, None, SetName::default_set())
            }
        };
        Some(BackupKey {
            set,
            selection,
            time,
            name: name.to_owned(),
            format,
        })
    }
}

/// What follows `Backup_UTC_`: the time (with or without a fraction), then
/// nothing (the original), or `_<selection>-<run>` and optionally `_<set>`.
fn parse_ours(rest: &str) -> Option<(OffsetDateTime, Option<String>, SetName)> {
    let (stamp, tail) = split_time(rest)?;
    let time = parse_time(stamp)?;
    if tail.is_empty() {
        return Some((time, None, SetName::default_set()));
    }
    let tail = tail.strip_prefix('_')?;
    let (tags, set) = match tail.split_once('_') {
        Some((tags, set)) => (tags, SetName::new(set).ok()?),
        None => (tail, SetName::default_set()),
    };
    let (selection, run) = tags.split_once('-')?;
    if !is_hex(selection, SELECTION_TAG_LEN) || !is_hex(run, RUN_TAG_LEN) {
        return None;
    }
    Some((time, Some(selection.to_owned()), set))
}

/// Splits `<time>_<tail>` where the time is `YYYY-MM-DDTHH_MM_SS` with an
/// optional `.ffffff`: the time has a fixed shape, so its end is known.
fn split_time(rest: &str) -> Option<(&str, &str)> {
    const WITHOUT_FRACTION: usize = "2026-11-27T02_03_04".len();
    let end = if rest.as_bytes().get(WITHOUT_FRACTION) == Some(&b'.') {
        KEY_TIME_LEN
    } else {
        WITHOUT_FRACTION
    };
    (rest.len() >= end && rest.is_char_boundary(end)).then(|| rest.split_at(end))
}

fn parse_time(stamp: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(stamp, KEY_TIME)
        .or_else(|_| PrimitiveDateTime::parse(stamp, KEY_TIME_WITHOUT_FRACTION))
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
    fn names_round_trip_keep_the_original_prefix_and_sort_by_time() {
        let early = time::macros::datetime!(2026-01-02 03:04:05.000006 UTC);
        let late = time::macros::datetime!(2026-11-27 00:00:00 UTC);
        for set in ["Backup", "nightly_db-1"] {
            let set = SetName::new(set).unwrap();
            let (a, b) = (
                BackupKey::new(set.clone(), "0a1b2c", early),
                BackupKey::new(set.clone(), "0a1b2c", late),
            );
            assert!(
                a.file_name()
                    .starts_with("Backup_UTC_2026-01-02T03_04_05.000006_")
            );
            assert!(!a.file_name().contains(':'));
            assert!(a.file_name() < b.file_name());
            assert_eq!(BackupKey::parse(&a.file_name()), Some(a.clone()));
            assert_eq!(
                BackupKey::parse(&format!("prefix/{}", b.file_name())),
                Some(b.clone())
            );
            assert_eq!(b.time(), late, "a zero fraction is still written");
            assert_ne!(
                a.file_name(),
                BackupKey::new(set, "0a1b2c", early).file_name()
            );
            assert_eq!(a.selection(), Some("0a1b2c"));
        }
        let default = BackupKey::new(SetName::default_set(), "0a1b2c", late).file_name();
        assert_eq!(
            default.len(),
            "Backup_UTC_2026-11-27T00_00_00.000000_0a1b2c-01234567.tar.gz".len()
        );
        assert_eq!(
            selection_tag(&["b".into(), "a".into()]),
            selection_tag(&["a".into(), "b".into()])
        );
        assert_ne!(selection_tag(&["a".into()]), selection_tag(&["b".into()]));
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
        assert_eq!(
            original.file_name(),
            "Backup_UTC_2015-01-02T03_04_05.000006.tar.gz"
        );
        let whole_second = BackupKey::parse("Backup_UTC_2015-01-02T03_04_05.tar.gz").unwrap();
        assert_eq!(
            whole_second.time(),
            time::macros::datetime!(2015-01-02 03:04:05 UTC)
        );
        for junk in [
            "Backup_garbage.tar.gz",
            "Backup_UTC_garbage.tar.gz",
            "Backup_UTC_2026-11-27T02_03_04.500000_xyz.tar.gz",
            "Backup_UTC_2026-11-27T02_03_04.500000_01234567.tar.gz",
            "Backup_UTC_2026-11-27T02_03_04.500000_0a1b2c-01234567_a b.tar.gz",
            "Backup_UTC_2026-11-27T02_03_04.500000_0a1b2c-01234567_.tar.gz",
            "Backup_UTC_2026-11-27T02_03_04.500000_0a1b2c-01234567.tar.gz#1",
            "Backup_UTC_2026-11-27T02_03_04.500000_0a1b2c-01234567_é.tar.gz",
            "nightly_2026-11-27T02_03_04.500000Z.tar.gz",
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
