//! Backup sets. A set is a name at a destination: every run of it writes
//! `<prefix>/Backup_UTC_<time>_<run>_<name>.tar.gz`, its retention policy deletes only
//! objects of that name directly under that prefix, and `run_if_due`
//! schedules it from the history records of that name and destination.
//!
//! Within one process this module makes sure a set means one thing: two
//! backups that claim the same set with different selections are refused
//! (each would schedule and prune the other's archives), and a set runs
//! once at a time (a manual run and a scheduled one cannot overlap).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, OnceLock, PoisonError},
};

use crate::{BackupError, Result, Selection, archive::SetName, store::Connected};

/// A set, as this process tells sets apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SetId {
    /// The store and prefix (see [`Connected::identity`]).
    store: String,
    name: SetName,
}

impl SetId {
    pub(crate) fn new(connected: &Connected, name: &SetName) -> SetId {
        SetId {
            store: connected.identity.clone(),
            name: name.clone(),
        }
    }
}

#[derive(Debug)]
struct SetState {
    /// Full names of the selected classes, sorted.
    selection: Vec<String>,
    /// The key being written by the run in progress, if one is.
    running: Option<String>,
}

fn sets() -> MutexGuard<'static, HashMap<SetId, SetState>> {
    static SETS: OnceLock<Mutex<HashMap<SetId, SetState>>> = OnceLock::new();
    SETS.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The selection as a set remembers it: full type names, sorted.
pub(crate) fn fingerprint(selection: &Selection) -> Vec<String> {
    let mut names: Vec<String> = selection.classes().iter().map(|c| c.full_name()).collect();
    names.sort();
    names
}

/// Records that this process uses `id` with `selection`, refusing a
/// different selection under the same set. Returns whether a run of the
/// set is in progress.
pub(crate) fn register(id: &SetId, selection: &[String], destination: &str) -> Result<bool> {
    let mut sets = sets();
    let state = sets.entry(id.clone()).or_insert_with(|| SetState {
        selection: selection.to_vec(),
        running: None,
    });
    if state.selection != selection {
        return Err(BackupError::SetConflict {
            set: id.name.to_string(),
            destination: destination.to_owned(),
            detail: format!(
                "one selects {}, the other {}",
                state.selection.join(", "),
                selection.join(", ")
            ),
        });
    }
    Ok(state.running.is_some())
}

/// Marks a run of `id` writing `key` as started, unless one already is.
/// The run is over when the returned guard is dropped, however the run
/// ends (error, panic, cancelled task).
pub(crate) fn begin_run(
    id: &SetId,
    selection: &[String],
    destination: &str,
    key: &str,
) -> Result<RunGuard> {
    if register(id, selection, destination)? {
        return Err(BackupError::AlreadyRunning {
            set: id.name.to_string(),
            destination: destination.to_owned(),
        });
    }
    if let Some(state) = sets().get_mut(id) {
        state.running = Some(key.to_owned());
    }
    Ok(RunGuard { id: id.clone() })
}

/// Whether this process is writing `key` to the store `store_identity`
/// right now (orphan clean-up must leave such uploads alone).
pub(crate) fn is_being_written(store_identity: &str, key: &str) -> bool {
    sets()
        .iter()
        .any(|(id, state)| id.store == store_identity && state.running.as_deref() == Some(key))
}

/// A run in progress; see [`begin_run`].
#[derive(Debug)]
pub(crate) struct RunGuard {
    id: SetId,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(state) = sets().get_mut(&self.id) {
            state.running = None;
        }
    }
}
