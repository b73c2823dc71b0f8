//! Backup sets. A set is a name at a destination, and what it selects: its
//! runs write `<prefix>/Backup_UTC_<time>_<selection>-<run>_<name>.tar.gz`,
//! retention deletes only objects of that name and selection directly under
//! that prefix, and `run_if_due` schedules it from the history records of
//! that name, destination and selection. Two backups that share a name but
//! select different types are two sets: neither prunes nor postpones the
//! other (a backup whose selection changes starts a new set; the old one
//! keeps what its retention last kept).
//!
//! Within one process this module makes sure a set runs once at a time (a
//! manual run and a scheduled one cannot overlap), and knows which keys
//! its runs are writing (the orphan clean-up must leave those alone).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, OnceLock, PoisonError},
};

use crate::{
    BackupError, Result, Selection,
    archive::{SetName, selection_tag},
    store::Connected,
};

/// A set, as this process tells sets apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SetId {
    /// The store and prefix (see [`Connected::identity`]).
    store: String,
    name: SetName,
    /// The selection's tag (see [`selection_tag`]).
    selection: String,
}

impl SetId {
    pub(crate) fn new(connected: &Connected, name: &SetName, selection: &Selection) -> SetId {
        SetId {
            store: connected.identity.clone(),
            name: name.clone(),
            selection: selection_tag(&full_names(selection)),
        }
    }

    /// The selection's tag.
    pub(crate) fn selection(&self) -> &str {
        &self.selection
    }
}

/// The keys being written by the runs in progress, by set.
fn running() -> MutexGuard<'static, HashMap<SetId, String>> {
    static RUNNING: OnceLock<Mutex<HashMap<SetId, String>>> = OnceLock::new();
    RUNNING
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The selection's types by full name, sorted: what history records and
/// what [`selection_tag`] hashes.
pub(crate) fn full_names(selection: &Selection) -> Vec<String> {
    let mut names: Vec<String> = selection.classes().iter().map(|c| c.full_name()).collect();
    names.sort();
    names
}

/// Whether a run of `id` is in progress in this process.
pub(crate) fn is_running(id: &SetId) -> bool {
    running().contains_key(id)
}

/// Marks a run of `id` writing `key` as started, unless one already is
/// (checked and marked under one lock, so two tasks starting at once
/// cannot both pass). The run is over when the returned guard is dropped,
/// however the run ends (error, panic, cancelled task).
pub(crate) fn begin_run(id: &SetId, destination: &str, key: &str) -> Result<RunGuard> {
    let mut running = running();
    if running.contains_key(id) {
        return Err(BackupError::AlreadyRunning {
            set: id.name.to_string(),
            destination: destination.to_owned(),
        });
    }
    running.insert(id.clone(), key.to_owned());
    Ok(RunGuard { id: id.clone() })
}

/// Whether this process is writing `key` to the store `store_identity`
/// right now (orphan clean-up must leave such uploads alone).
pub(crate) fn is_being_written(store_identity: &str, key: &str) -> bool {
    running()
        .iter()
        .any(|(id, running_key)| id.store == store_identity && running_key == key)
}

/// A run in progress; see [`begin_run`].
#[derive(Debug)]
pub(crate) struct RunGuard {
    id: SetId,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        running().remove(&self.id);
    }
}
