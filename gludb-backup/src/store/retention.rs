//! Retention: which backups to keep (the last N, the newest of each of the
//! last N days and months), and deleting the rest.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    Connected,
    listing::{SetFilter, key_path, list_backups},
    retry::once_more,
};
use crate::{BackupError, BackupListing, Result, archive::SetName};

/// Which backups of a set [`crate::Backup::prune`] keeps; the set's other
/// backups are deleted.
///
/// ```
/// use gludb_backup::Retention;
/// let policy = Retention::new().keep_last(3).keep_daily(7).keep_monthly(12);
/// // Or from a service's configuration:
/// let configured: Retention = serde_json::from_str(r#"{"last": 3, "daily": 7, "monthly": 12}"#)?;
/// assert_eq!(configured, policy);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    last: usize,
    daily: usize,
    monthly: usize,
}

impl Retention {
    /// A policy that keeps nothing yet: add at least one rule.
    pub fn new() -> Retention {
        Retention::default()
    }

    /// Keep the `n` newest backups.
    pub fn keep_last(mut self, n: usize) -> Retention {
        self.last = n;
        self
    }

    /// Keep the newest backup of each of the `n` most recent days that have one.
    pub fn keep_daily(mut self, n: usize) -> Retention {
        self.daily = n;
        self
    }

    /// Keep the newest backup of each of the `n` most recent months that have one.
    pub fn keep_monthly(mut self, n: usize) -> Retention {
        self.monthly = n;
        self
    }

    /// Splits `backups` (newest first, as listed) into (kept, deleted).
    pub fn apply(&self, backups: &[BackupListing]) -> (Vec<BackupListing>, Vec<BackupListing>) {
        let mut keep = BTreeSet::new();
        keep.extend(0..self.last.min(backups.len()));
        keep_newest_per_period(backups, self.daily, &mut keep, |b| {
            (b.time.year(), b.time.ordinal() as u32)
        });
        keep_newest_per_period(backups, self.monthly, &mut keep, |b| {
            (b.time.year(), u8::from(b.time.month()) as u32)
        });
        let (kept, deleted): (Vec<_>, Vec<_>) = backups
            .iter()
            .enumerate()
            .partition(|(i, _)| keep.contains(i));
        (
            kept.into_iter().map(|(_, b)| b.clone()).collect(),
            deleted.into_iter().map(|(_, b)| b.clone()).collect(),
        )
    }

    fn keeps_nothing(&self) -> bool {
        self.last == 0 && self.daily == 0 && self.monthly == 0
    }
}

/// Marks the newest backup of each of the `periods` most recent periods.
fn keep_newest_per_period(
    backups: &[BackupListing],
    periods: usize,
    keep: &mut BTreeSet<usize>,
    period_of: impl Fn(&BackupListing) -> (i32, u32),
) {
    let mut seen = Vec::new();
    for (index, backup) in backups.iter().enumerate() {
        if seen.len() == periods {
            break;
        }
        let period = period_of(backup);
        if !seen.contains(&period) {
            seen.push(period);
            keep.insert(index);
        }
    }
}

/// What [`crate::Backup::prune`] did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// The backup set pruned.
    pub set: String,
    /// Backups kept, newest first.
    pub kept: Vec<String>,
    /// Backups deleted (or to delete, in a dry run), newest first.
    pub deleted: Vec<String>,
}

/// Applies `policy` to the backups of the set `name` directly under the
/// destination's prefix — to each of its selections on its own (or to the
/// one given) — deleting (unless `dry_run`) those it does not keep.
pub(crate) async fn prune(
    connected: &Connected,
    name: &SetName,
    selection: Option<&str>,
    policy: &Retention,
    dry_run: bool,
) -> Result<PruneReport> {
    if policy.keeps_nothing() {
        return Err(BackupError::InvalidOption {
            option: "retention policy",
            reason: "a policy that keeps nothing would delete every backup; set keep_last, keep_daily or keep_monthly".into(),
        });
    }
    let filter = SetFilter { name, selection };
    let backups = list_backups(connected, Some(filter)).await?;
    // One group per selection (names without one are a group of their own).
    let mut groups: Vec<(Option<String>, Vec<BackupListing>)> = Vec::new();
    for backup in backups {
        match groups.iter_mut().find(|(tag, _)| *tag == backup.selection) {
            Some((_, group)) => group.push(backup),
            None => groups.push((backup.selection.clone(), vec![backup])),
        }
    }
    let (mut kept, mut deleted) = (Vec::new(), Vec::new());
    for (_, group) in &groups {
        let (keep, delete) = policy.apply(group);
        kept.extend(keep);
        deleted.extend(delete);
    }
    let newest_first =
        |a: &BackupListing, b: &BackupListing| b.time.cmp(&a.time).then_with(|| b.key.cmp(&a.key));
    kept.sort_by(newest_first);
    deleted.sort_by(newest_first);
    if !dry_run {
        for backup in &deleted {
            let path = key_path(&backup.key);
            once_more(|| object_store::ObjectStoreExt::delete(connected.store.as_ref(), &path))
                .await
                .map_err(|e| {
                    BackupError::store(
                        &connected.description,
                        &format!("deleting {}", backup.key),
                        e,
                    )
                })?;
            tracing::info!(key = %backup.key, set = %name, "deleted an old backup");
        }
    }
    Ok(PruneReport {
        set: name.to_string(),
        kept: kept.into_iter().map(|b| b.key).collect(),
        deleted: deleted.into_iter().map(|b| b.key).collect(),
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn listing(time: time::OffsetDateTime) -> BackupListing {
        let key = crate::archive::BackupKey::new(SetName::default(), "0a1b2c", time);
        BackupListing {
            key: key.file_name(),
            set: key.set().to_string(),
            selection: key.selection().map(str::to_owned),
            time,
            size: 1,
        }
    }

    #[test]
    fn keeps_the_last_and_the_newest_of_each_day_and_month() {
        // Newest first, as `list` returns them.
        let backups = vec![
            listing(datetime!(2026-11-27 12:00 UTC)),
            listing(datetime!(2026-11-27 06:00 UTC)),
            listing(datetime!(2026-11-26 23:00 UTC)),
            listing(datetime!(2026-11-26 01:00 UTC)),
            listing(datetime!(2026-11-01 00:00 UTC)),
            listing(datetime!(2026-10-15 00:00 UTC)),
            listing(datetime!(2026-09-30 00:00 UTC)),
        ];
        let names = |v: Vec<BackupListing>| v.into_iter().map(|b| b.time).collect::<Vec<_>>();

        let (kept, deleted) = Retention::new().keep_last(2).apply(&backups);
        assert_eq!(names(kept), [backups[0].time, backups[1].time]);
        assert_eq!(deleted.len(), 5);

        let (kept, _) = Retention::new().keep_daily(2).apply(&backups);
        assert_eq!(names(kept), [backups[0].time, backups[2].time]);

        let (kept, _) = Retention::new().keep_monthly(3).apply(&backups);
        assert_eq!(
            names(kept),
            [backups[0].time, backups[5].time, backups[6].time]
        );

        let (kept, deleted) = Retention::new()
            .keep_last(1)
            .keep_daily(2)
            .keep_monthly(2)
            .apply(&backups);
        assert_eq!(kept.len() + deleted.len(), backups.len());
        assert_eq!(
            names(kept),
            [backups[0].time, backups[2].time, backups[5].time]
        );
    }
}
