//! Where backups live. A [`Destination`] says where (credentials, URL,
//! options); [`BackupStore`] is that destination connected once: it lists,
//! verifies, prunes and cleans up, and `Backup` and `Restore` run against
//! it. Its modules:
//!
//! - `destination`: configuration, and connecting it;
//! - `listing`: what backups are there (one set, or every set, directly
//!   under the prefix), and opening one for reading;
//! - `retention`: which of a set's backups to keep, deleting the rest;
//! - `upload`: writing a new backup (conditional PUT or multipart);
//! - `orphans`: what killed runs left behind;
//! - `retry`: one more try where object_store does not retry.

mod destination;
mod listing;
pub(crate) mod orphans;
mod retention;
pub(crate) mod retry;
pub(crate) mod upload;

use std::{fmt, sync::Arc, time::Duration};

use object_store::{ObjectStore, path::Path};

pub use destination::Destination;
#[cfg(feature = "aws")]
pub(crate) use destination::S3Access;
pub(crate) use destination::{Connected, StoreKind};
pub use listing::BackupListing;
pub(crate) use listing::{
    ArchiveMeter, BackupBytes, SetFilter, archive_error, list_backups, open_backup,
    open_backup_metered, stat_any,
};
pub use orphans::{FailedOrphan, Orphan, OrphanKind, OrphanReport};
pub(crate) use retention::prune;
pub use retention::{PruneReport, Retention};

use crate::{Result, archive::SetName};

/// A connected backup store: a destination resolved once, or an
/// `object_store` the service already has. Cheap to clone; `Backup::on`
/// and `Restore::on` run against it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use gludb_backup::{BackupStore, Retention};
/// let store = BackupStore::from_url("memory://docs-example/nightly")?;
/// assert!(store.list().await?.is_empty());
/// let pruned = store.prune_set_dry_run("Backup", &Retention::new().keep_last(7)).await?;
/// assert!(pruned.deleted.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BackupStore {
    connected: Arc<Connected>,
}

impl fmt::Debug for BackupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupStore")
            .field("destination", &self.connected.description)
            .finish()
    }
}

impl BackupStore {
    /// Connects a destination (checking its credentials and options;
    /// nothing is requested from the store yet).
    pub fn connect(destination: &Destination) -> Result<BackupStore> {
        Ok(BackupStore {
            connected: Arc::new(destination.connect()?),
        })
    }

    /// [`connect`](Self::connect) for a destination URL.
    pub fn from_url(url: &str) -> Result<BackupStore> {
        BackupStore::connect(&Destination::from_url(url)?)
    }

    /// Connects to backups that are already there, to read, verify or
    /// prune them: unlike [`connect`](Self::connect), a `file://`
    /// directory that does not exist is
    /// [`BackupError::DestinationMissing`](crate::BackupError::DestinationMissing)
    /// rather than a new, empty directory with "no backups" in it.
    pub fn open(destination: &Destination) -> Result<BackupStore> {
        Ok(BackupStore {
            connected: Arc::new(destination.connect_existing()?),
        })
    }

    /// [`open`](Self::open) for a destination URL.
    pub fn open_url(url: &str) -> Result<BackupStore> {
        BackupStore::open(&Destination::from_url(url)?)
    }

    /// Backups in a store the service already configured, under `prefix`
    /// (`""` for none). Finding orphaned uploads is not available through
    /// a store of unknown kind. The store is known by what its `Display`
    /// says (its kind, bucket or directory) and the prefix: a handle made
    /// again after a restart is the same store for schedules and backup
    /// sets, and two stores that print the same are one.
    pub fn from_object_store(store: Arc<dyn ObjectStore>, prefix: &str) -> BackupStore {
        let prefix = Path::from(prefix.trim_matches('/'));
        let description = if prefix.as_ref().is_empty() {
            store.to_string()
        } else {
            format!("{store}/{prefix}")
        };
        // Told apart from other stores by what it says it is, which a
        // restarted service's new handle says too (its schedule and its
        // sets' history must carry over).
        let identity = format!("object_store {description}");
        BackupStore {
            connected: Arc::new(Connected {
                store,
                prefix,
                location: description.clone(),
                identity,
                description,
                kind: StoreKind::Other,
                keys: Default::default(),
            }),
        }
    }

    /// This store, reading encrypted backups (`.age`) with these secret
    /// keys: verify, restore, read and inspect decrypt with whichever
    /// matches. The keys stay in memory: never stored, logged or shown.
    ///
    /// ```
    /// use gludb_backup::{BackupStore, archive::Identity};
    /// let identity = Identity::generate();
    /// let store = BackupStore::from_url("memory://age-docs")?.with_identities([identity]);
    /// assert!(!format!("{store:?}").contains("AGE-SECRET-KEY"));
    /// # Ok::<(), gludb_backup::BackupError>(())
    /// ```
    #[cfg(feature = "age")]
    pub fn with_identities(
        &self,
        identities: impl IntoIterator<Item = crate::archive::Identity>,
    ) -> BackupStore {
        let mut connected = (*self.connected).clone();
        connected.keys = crate::archive::open::Keys {
            identities: Arc::new(identities.into_iter().collect()),
        };
        BackupStore {
            connected: Arc::new(connected),
        }
    }

    /// The destination, without credentials (`s3://bucket/prefix`, ...).
    pub fn description(&self) -> &str {
        &self.connected.description
    }

    pub(crate) fn connected(&self) -> &Connected {
        &self.connected
    }

    /// The backups directly under the prefix, every set, newest first
    /// (each listing names its set).
    pub async fn list(&self) -> Result<Vec<BackupListing>> {
        list_backups(&self.connected, None).await
    }

    /// One backup's listing (its set, time and size), or
    /// [`BackupError::NotFound`](crate::BackupError::NotFound): a cheap check
    /// that a key exists before anything is done with it.
    pub async fn stat(&self, key: &str) -> Result<BackupListing> {
        listing::stat(&self.connected, key).await
    }

    /// The backups of the set `set`, newest first.
    pub async fn list_set(&self, set: &str) -> Result<Vec<BackupListing>> {
        let name = SetName::new(set)?;
        let filter = SetFilter {
            name: &name,
            selection: None,
        };
        list_backups(&self.connected, Some(filter)).await
    }

    /// Deletes the backups of the set named `set` (directly under the
    /// prefix) that `policy` does not keep, applying it to each selection
    /// the name was used with on its own; no other object is touched. A
    /// policy that keeps nothing is refused. A backup prunes its own set
    /// with `Backup::prune`.
    pub async fn prune_set(&self, set: &str, policy: &Retention) -> Result<PruneReport> {
        prune(&self.connected, &SetName::new(set)?, None, policy, false).await
    }

    /// What [`prune_set`](Self::prune_set) would delete, deleting nothing.
    pub async fn prune_set_dry_run(&self, set: &str, policy: &Retention) -> Result<PruneReport> {
        prune(&self.connected, &SetName::new(set)?, None, policy, true).await
    }

    /// What interrupted backups left directly under the prefix: S3
    /// multipart uploads that were neither completed nor aborted (S3 bills
    /// their parts until they are), and `file://` staging files. Only
    /// uploads named like backups are reported; other applications'
    /// uploads are not touched.
    pub async fn find_orphans(&self) -> Result<Vec<Orphan>> {
        orphans::find(&self.connected).await
    }

    /// Aborts the orphaned uploads and deletes the staging files
    /// [`find_orphans`](Self::find_orphans) reports that are older than
    /// `older_than` (so that a backup another process is running right now
    /// is left alone: pick more than your longest backup takes). Uploads
    /// this process is writing are never touched.
    pub async fn clean_orphans(&self, older_than: Duration) -> Result<OrphanReport> {
        orphans::clean(&self.connected, older_than).await
    }
}

/// Where a `Backup` or `Restore` works: a destination connected when
/// needed (so that `Backup::new(key, secret, bucket)` cannot fail), or a
/// store connected already.
#[derive(Debug, Clone)]
pub(crate) enum Place {
    Destination(Destination),
    Store(BackupStore),
}

impl Place {
    pub(crate) fn store(&self) -> Result<BackupStore> {
        match self {
            Place::Destination(destination) => BackupStore::connect(destination),
            Place::Store(store) => Ok(store.clone()),
        }
    }

    /// [`store`](Self::store) for reading: nothing is created.
    pub(crate) fn existing_store(&self) -> Result<BackupStore> {
        match self {
            Place::Destination(destination) => BackupStore::open(destination),
            Place::Store(store) => Ok(store.clone()),
        }
    }

    /// Applies `change` to a destination (a connected store has none).
    pub(crate) fn change(self, change: impl FnOnce(Destination) -> Destination) -> Place {
        match self {
            Place::Destination(destination) => Place::Destination(change(destination)),
            store => store,
        }
    }
}
