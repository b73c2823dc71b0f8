//! Reading backups back from a destination: listing them and opening one.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use futures_util::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};
use time::OffsetDateTime;
use tokio_util::io::StreamReader;

use crate::{
    BackupError, Result,
    archive::open::plain_tar,
    archive::{ArchiveError, ArchiveReader, BackupKey, Limits, SetName},
    store::destination::Connected,
    store::retry::once_more,
};

/// A backup found at a destination. Serializes with its time in RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupListing {
    /// The object's key, prefix included.
    pub key: String,
    /// The backup set it belongs to (from its name).
    pub set: String,
    /// The tag of what it selected (from its name; `None` for names
    /// written before selections were tagged, e.g. by the original GLUDB).
    pub selection: Option<String>,
    /// When the backup was taken (from its name).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Compressed size in bytes.
    pub size: u64,
}

/// Which backups a listing keeps: one set's name, and optionally one of
/// its selections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetFilter<'a> {
    pub(crate) name: &'a SetName,
    pub(crate) selection: Option<&'a str>,
}

impl SetFilter<'_> {
    fn keeps(&self, key: &BackupKey) -> bool {
        self.name == key.set()
            && self
                .selection
                .is_none_or(|selection| key.selection() == Some(selection))
    }
}

/// The backups directly under the destination's prefix (of one set only,
/// if given), newest first. Objects in sub-folders belong to other
/// destinations and are not listed; objects whose names are not backup
/// names are skipped.
pub(crate) async fn list_backups(
    connected: &Connected,
    filter: Option<SetFilter<'_>>,
) -> Result<Vec<BackupListing>> {
    let prefix = (!connected.prefix.as_ref().is_empty()).then_some(&connected.prefix);
    let listed = once_more(|| connected.store.list_with_delimiter(prefix))
        .await
        .map_err(|e| BackupError::store(&connected.description, "listing backups", e))?;
    let mut backups: Vec<BackupListing> = listed
        .objects
        .into_iter()
        .filter_map(|meta| {
            let key = meta.location.to_string();
            let parsed = BackupKey::parse(&key)?;
            if filter.is_some_and(|filter| !filter.keeps(&parsed)) {
                return None;
            }
            Some(BackupListing {
                key,
                set: parsed.set().to_string(),
                selection: parsed.selection().map(str::to_owned),
                time: parsed.time(),
                size: meta.size,
            })
        })
        .collect();
    // Stores list in no particular order.
    backups.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.key.cmp(&a.key)));
    Ok(backups)
}

/// See `BackupStore::stat`.
pub(crate) async fn stat(connected: &Connected, key: &str) -> Result<BackupListing> {
    let parsed = BackupKey::parse(key).ok_or_else(|| not_found(connected, key))?;
    let (path, meta) = head(connected, key).await?;
    Ok(BackupListing {
        key: path.to_string(),
        set: parsed.set().to_string(),
        selection: parsed.selection().map(str::to_owned),
        time: parsed.time(),
        size: meta.size,
    })
}

/// [`stat`], also for an object whose name is not a backup name (a
/// renamed archive can still be read): its set is empty and its time the
/// object's last modification.
pub(crate) async fn stat_any(connected: &Connected, key: &str) -> Result<BackupListing> {
    if BackupKey::parse(key).is_some() {
        return stat(connected, key).await;
    }
    let (path, meta) = head(connected, key).await?;
    let time = OffsetDateTime::from_unix_timestamp(meta.last_modified.timestamp())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Ok(BackupListing {
        key: path.to_string(),
        set: String::new(),
        selection: None,
        time,
        size: meta.size,
    })
}

fn not_found(connected: &Connected, key: &str) -> BackupError {
    BackupError::NotFound {
        destination: connected.description.clone(),
        key: key.to_owned(),
    }
}

/// The object of `key` under this destination, and its metadata.
async fn head(
    connected: &Connected,
    key: &str,
) -> Result<(object_store::path::Path, object_store::ObjectMeta)> {
    let path = own_key(connected, key)?;
    let meta = once_more(|| connected.store.head(&path))
        .await
        .map_err(|e| match e {
            object_store::Error::NotFound { .. } => not_found(connected, key),
            other => BackupError::store(&connected.description, &format!("reading {key}"), other),
        })?;
    Ok((path, meta))
}

/// The store path of a backup of this destination: a key as listed
/// (`<prefix>/<name>`), or a bare name (joined to the prefix). A key under
/// another prefix belongs to another destination (another application's,
/// maybe): for this one, there is no such backup.
pub(crate) fn own_key(connected: &Connected, key: &str) -> Result<object_store::path::Path> {
    if key.is_empty() || key.ends_with('/') {
        return Err(not_found(connected, key));
    }
    let prefix = connected.prefix.as_ref();
    let path = match key.rsplit_once('/') {
        Some((parent, _)) if parent == prefix => key_path(key),
        None if prefix.is_empty() => key_path(key),
        None => key_path(&format!("{prefix}/{key}")),
        Some(_) => return Err(not_found(connected, key)),
    };
    Ok(path)
}

/// The store path of a key as listed or reported: its text is the path's
/// own, already escaped (`Path::from` would escape a `%` in it again).
pub(crate) fn key_path(key: &str) -> object_store::path::Path {
    object_store::path::Path::parse(key).unwrap_or_else(|_| object_store::path::Path::from(key))
}

/// The plain tar stream of a stored backup (decrypted, decompressed), as
/// the archive reader takes it.
pub(crate) type BackupBytes = crate::archive::compress::Decoded;

/// Opens the backup `key` (a full key, as listed) for streaming.
pub(crate) async fn open_backup(
    connected: &Connected,
    key: &str,
    limits: Limits,
) -> Result<ArchiveReader<BackupBytes>> {
    Ok(open_backup_metered(connected, key, limits).await?.0)
}

/// How much of an archive has been read: bytes as stored (compressed).
#[derive(Debug, Clone)]
pub(crate) struct ArchiveMeter {
    read: Arc<AtomicU64>,
    /// The object's size.
    pub(crate) size: u64,
}

impl ArchiveMeter {
    pub(crate) fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

/// [`open_backup`], counting the bytes read from the store (for progress).
pub(crate) async fn open_backup_metered(
    connected: &Connected,
    key: &str,
    limits: Limits,
) -> Result<(ArchiveReader<BackupBytes>, ArchiveMeter)> {
    let path = own_key(connected, key)?;
    let found = connected.store.get(&path).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => not_found(connected, key),
        other => BackupError::store(&connected.description, &format!("reading {key}"), other),
    })?;
    let meter = ArchiveMeter {
        read: Arc::new(AtomicU64::new(0)),
        size: found.meta.size,
    };
    let counter = Arc::clone(&meter.read);
    let bytes = found
        .into_stream()
        .inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        })
        .map_err(std::io::Error::from)
        .boxed();
    // The name says the format; the first bytes must agree.
    let named = BackupKey::parse(key).map(|k| k.format());
    let tar = plain_tar(StreamReader::new(bytes), named, &connected.keys)
        .await
        .map_err(|e| archive_error(connected, key, e))?;
    let reader =
        ArchiveReader::from_tar(tar, limits).map_err(|e| archive_error(connected, key, e))?;
    Ok((reader, meter))
}

/// An archive error, unless it was really the store failing mid-read.
pub(crate) fn archive_error(connected: &Connected, key: &str, error: ArchiveError) -> BackupError {
    if let ArchiveError::NeedsFeature(feature) = error {
        return BackupError::FeatureNotEnabled {
            destination: format!("{key} at {}", connected.description),
            feature,
        };
    }
    match error.take_store_error() {
        Ok(store) => BackupError::store(&connected.description, &format!("reading {key}"), store),
        Err(source) => BackupError::Archive {
            key: key.to_owned(),
            source,
        },
    }
}
