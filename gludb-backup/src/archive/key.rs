//! Backup key names: `Backup_2026-11-27T02_00_00.123456Z.tar.gz`.

use time::{
    OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::FormatItem,
    macros::format_description,
};

const KEY_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]_[minute]_[second].[subsecond digits:6]");

/// The file name of a backup taken at `time`: `Backup_` + the UTC ISO-8601
/// time with `:` replaced by `_` + `.tar.gz`, so names sort by time.
///
/// ```
/// let t = time::macros::datetime!(2026-11-27 02:03:04.5 UTC);
/// assert_eq!(gludb_backup::archive::backup_file_name(t), "Backup_2026-11-27T02_03_04.500000Z.tar.gz");
/// ```
pub fn backup_file_name(time: OffsetDateTime) -> String {
    let time = time.to_offset(UtcOffset::UTC);
    // Formatting a valid date with a fixed description cannot fail; fall back
    // to the Unix time rather than panic all the same.
    let stamp = time
        .format(KEY_TIME)
        .unwrap_or_else(|_| time.unix_timestamp().to_string());
    format!("Backup_{stamp}Z.tar.gz")
}

/// The time in a backup file name (or key: any prefix is ignored), if it is
/// one. Accepts ours and the original's forms (`Backup_UTC_...`, no `Z`).
///
/// ```
/// use gludb_backup::archive::parse_backup_time;
/// assert!(parse_backup_time("daily/Backup_2026-11-27T02_03_04.500000Z.tar.gz").is_some());
/// assert!(parse_backup_time("Backup_UTC_2015-01-02T03_04_05.000006.tar.gz").is_some());
/// assert!(parse_backup_time("notes.txt").is_none());
/// ```
pub fn parse_backup_time(key: &str) -> Option<OffsetDateTime> {
    let file_name = key.rsplit('/').next()?;
    let stamp = file_name.strip_prefix("Backup_")?.strip_suffix(".tar.gz")?;
    let stamp = stamp.strip_prefix("UTC_").unwrap_or(stamp);
    let stamp = stamp.strip_suffix('Z').unwrap_or(stamp);
    PrimitiveDateTime::parse(stamp, KEY_TIME)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_time() {
        let early = time::macros::datetime!(2026-01-02 03:04:05.000006 UTC);
        let late = time::macros::datetime!(2026-11-27 00:00:00 UTC);
        let (a, b) = (backup_file_name(early), backup_file_name(late));
        assert!(!a.contains(':'));
        assert!(a < b);
        assert_eq!(parse_backup_time(&a), Some(early));
        assert_eq!(parse_backup_time(&format!("prefix/{b}")), Some(late));
        assert_eq!(parse_backup_time("Backup_garbage.tar.gz"), None);
    }
}
