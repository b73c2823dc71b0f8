//! What interrupted backups leave behind, and cleaning it up.
//!
//! A run that is killed (`kill -9`, a runtime shut down mid-run, a machine
//! that loses power) cannot abort its own upload. On S3 its multipart
//! upload stays open, invisible to listings, its parts billed until it is
//! aborted; on a `file://` destination object_store's staging file
//! `<key>#<n>` stays next to where the backup would have been. Neither is
//! a backup, and neither is seen by `list` or `prune`.
//!
//! `object_store` has no call that lists multipart uploads, so for S3 this
//! module sends `ListMultipartUploads` itself, signed with object_store's
//! own SigV4 signer and sent with its HTTP client. Only uploads and files
//! named like backups directly under the destination's prefix are
//! reported: another application's uploads in the same bucket are not ours
//! to abort. (S3 can also do this by itself: an
//! `AbortIncompleteMultipartUpload` lifecycle rule on the bucket.)

use std::{path::PathBuf, time::Duration};

use serde::Serialize;
use time::OffsetDateTime;

use super::{Connected, StoreKind};
use crate::{BackupError, Result, archive::BackupKey, backup::set};
// S3 multipart uploads: only with the `aws` feature.
#[cfg(feature = "aws")]
use {
    super::{S3Access, listing::key_path},
    object_store::{
        ClientConfigKey, ClientOptions,
        aws::AwsAuthorizer,
        client::{HttpConnector, HttpRequestBody, ReqwestConnector},
        multipart::MultipartStore,
    },
    serde::Deserialize,
    std::str::FromStr,
    time::format_description::well_known::Rfc3339,
};

/// What an interrupted backup left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// The key the backup was being written to (prefix included).
    pub key: String,
    /// The backup set it belongs to.
    pub set: String,
    /// When the upload was started (S3) or the file last written.
    #[serde(skip)]
    pub started: Option<OffsetDateTime>,
    /// What it is.
    pub kind: OrphanKind,
}

/// The kinds of leftovers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum OrphanKind {
    /// An S3 multipart upload neither completed nor aborted.
    MultipartUpload {
        /// The upload's id.
        upload_id: String,
    },
    /// A `file://` staging file.
    StagingFile {
        /// Its path.
        path: PathBuf,
    },
}

/// What [`crate::BackupStore::clean_orphans`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrphanReport {
    /// Aborted uploads and deleted staging files.
    pub cleaned: Vec<Orphan>,
    /// Left alone: younger than asked, or being written by this process.
    pub kept: Vec<Orphan>,
    /// Could not be cleaned, with why (the others were cleaned all the
    /// same).
    pub failed: Vec<FailedOrphan>,
}

impl OrphanReport {
    /// Whether everything old enough was cleaned.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty()
    }
}

/// An orphan [`crate::BackupStore::clean_orphans`] could not remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedOrphan {
    /// What it is.
    pub orphan: Orphan,
    /// Why it could not be removed.
    pub error: String,
}

/// The orphans under the destination's prefix, oldest first.
pub(crate) async fn find(connected: &Connected) -> Result<Vec<Orphan>> {
    let mut found = match &connected.kind {
        #[cfg(feature = "aws")]
        StoreKind::S3(access) => multipart_uploads(connected, access).await?,
        StoreKind::Local(dir) => staging_files(connected, dir)?,
        // A memory store has nothing half-written that outlives its writer.
        StoreKind::Memory => Vec::new(),
        // Multipart uploads of GCS or Azure, or of a store the service
        // configured, cannot be listed here: saying "none" would be a guess.
        StoreKind::Other => {
            return Err(BackupError::Unsupported {
                what: "finding orphaned uploads",
                destination: connected.description.clone(),
            });
        }
    };
    found.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.key.cmp(&b.key)));
    Ok(found)
}

/// Cleans up the orphans older than `older_than`.
pub(crate) async fn clean(connected: &Connected, older_than: Duration) -> Result<OrphanReport> {
    let mut report = OrphanReport::default();
    let now = OffsetDateTime::now_utc();
    for orphan in find(connected).await? {
        let recent = orphan
            .started
            .is_none_or(|started| now - started < older_than);
        if recent || set::is_being_written(&connected.identity, &orphan.key) {
            report.kept.push(orphan);
            continue;
        }
        // One that cannot be removed does not stop the others (nor hide
        // what was cleaned before it).
        let removed: Result<()> = match (&orphan.kind, &connected.kind) {
            #[cfg(feature = "aws")]
            (OrphanKind::MultipartUpload { upload_id }, StoreKind::S3(access)) => access
                .store
                .abort_multipart(&key_path(&orphan.key), upload_id)
                .await
                .map_err(|e| {
                    BackupError::store(
                        &connected.description,
                        &format!("aborting the upload of {}", orphan.key),
                        e,
                    )
                }),
            (OrphanKind::StagingFile { path }, _) => match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                // Finished or removed meanwhile: nothing left to clean.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(BackupError::io(
                    &format!("deleting the staging file {}", path.display()),
                    e,
                )),
            },
            _ => continue,
        };
        match removed {
            Ok(()) => {
                tracing::info!(key = %orphan.key, "cleaned up what an interrupted backup left");
                report.cleaned.push(orphan);
            }
            Err(e) => {
                tracing::warn!(key = %orphan.key, error = %e, "could not clean up an orphan");
                report.failed.push(FailedOrphan {
                    orphan,
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(report)
}

/// The set of a key directly under the destination's prefix that is named
/// like a backup.
fn backup_set_of(connected: &Connected, key: &str) -> Option<String> {
    let (parent, _) = key.rsplit_once('/').unwrap_or(("", key));
    if parent != connected.prefix.as_ref() {
        return None;
    }
    BackupKey::parse(key).map(|parsed| parsed.set().to_string())
}

/// `file://`: object_store stages a write to `<key>` in `<key>#<n>`.
fn staging_files(connected: &Connected, dir: &std::path::Path) -> Result<Vec<Orphan>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(BackupError::io(&format!("listing {}", dir.display()), e));
        }
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        // object_store stages into plain files: a directory named like one
        // is someone else's.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some((key, counter)) = name.rsplit_once('#') else {
            continue;
        };
        if counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Some(set) = backup_set_of(connected, key) else {
            continue;
        };
        let started = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .map(OffsetDateTime::from);
        found.push(Orphan {
            key: key.to_owned(),
            set,
            started,
            kind: OrphanKind::StagingFile { path: entry.path() },
        });
    }
    Ok(found)
}

/// `ListMultipartUploadsResult`, as far as we read it.
#[cfg(feature = "aws")]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadListing {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<UploadEntry>,
}

#[cfg(feature = "aws")]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
    #[serde(default)]
    initiated: Option<String>,
}

/// Every open multipart upload named like a backup under the prefix.
#[cfg(feature = "aws")]
async fn multipart_uploads(connected: &Connected, access: &S3Access) -> Result<Vec<Orphan>> {
    let prefix = match connected.prefix.as_ref() {
        "" => String::new(),
        prefix => format!("{prefix}/"),
    };
    let mut found = Vec::new();
    for upload in list_uploads(connected, access, &prefix).await? {
        let Some(set) = backup_set_of(connected, &upload.key) else {
            continue;
        };
        let started = upload
            .initiated
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        found.push(Orphan {
            key: upload.key,
            set,
            started,
            kind: OrphanKind::MultipartUpload {
                upload_id: upload.upload_id,
            },
        });
    }
    Ok(found)
}

/// Aborts every open multipart upload of `key`, a key unique to one run
/// (see `archive::key`), so that each is that run's own: an upload whose
/// creation was answered but whose answer was lost (the client retried and
/// used another) is invisible to the run otherwise. Returns how many were
/// aborted. Only S3 has such uploads.
#[cfg(feature = "aws")]
pub(crate) async fn abort_uploads_of(connected: &Connected, key: &str) -> Result<usize> {
    let StoreKind::S3(access) = &connected.kind else {
        return Ok(0);
    };
    let mut aborted = 0;
    for upload in list_uploads(connected, access, key).await? {
        if upload.key != key {
            continue;
        }
        access
            .store
            .abort_multipart(&key_path(key), &upload.upload_id)
            .await
            .map_err(|e| {
                BackupError::store(
                    &connected.description,
                    &format!("aborting a stray upload of {key}"),
                    e,
                )
            })?;
        aborted += 1;
    }
    Ok(aborted)
}

/// Without the `aws` feature no store has multipart uploads to abort.
#[cfg(not(feature = "aws"))]
pub(crate) async fn abort_uploads_of(_connected: &Connected, _key: &str) -> Result<usize> {
    Ok(0)
}

/// `ListMultipartUploads` under `prefix`, every page.
#[cfg(feature = "aws")]
async fn list_uploads(
    connected: &Connected,
    access: &S3Access,
    prefix: &str,
) -> Result<Vec<UploadEntry>> {
    let failed = |e: object_store::Error| {
        BackupError::store(
            &connected.description,
            "listing unfinished multipart uploads",
            e,
        )
    };
    let mut options = ClientOptions::new().with_allow_http(access.bucket_url.starts_with("http:"));
    for (key, value) in &access.client_options {
        if let Ok(key) = ClientConfigKey::from_str(key) {
            options = options.with_config(key, value);
        }
    }
    let client = ReqwestConnector::default()
        .connect(&options)
        .map_err(failed)?;
    let credential = access
        .store
        .credentials()
        .get_credential()
        .await
        .map_err(failed)?;
    let mut markers: Option<(String, String)> = None;
    let mut found = Vec::new();
    loop {
        let mut url = url::Url::parse(&format!("{}?uploads", access.bucket_url))
            .map_err(|e| failed(generic_error(e.to_string())))?;
        url.query_pairs_mut().append_pair("prefix", prefix);
        if let Some((key, upload)) = &markers {
            url.query_pairs_mut()
                .append_pair("key-marker", key)
                .append_pair("upload-id-marker", upload);
        }
        let mut request = http::Request::builder()
            .method(http::Method::GET)
            .uri(url.as_str())
            .body(HttpRequestBody::empty())
            .map_err(|e| failed(generic_error(e.to_string())))?;
        AwsAuthorizer::new(&credential, "s3", &access.region)
            .try_authorize(&mut request, None)
            .map_err(failed)?;
        let response = client
            .execute(request)
            .await
            .map_err(|e| failed(generic_error(e.to_string())))?;
        let status = response.status();
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|e| failed(generic_error(e.to_string())))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let error = generic_error(format!("the server answered {status}: {text}"));
            return Err(match status.as_u16() {
                401 | 403 => BackupError::AccessDenied {
                    destination: connected.description.clone(),
                    context: "listing unfinished multipart uploads".into(),
                    source: Box::new(error),
                },
                _ => failed(error),
            });
        }
        let text = String::from_utf8_lossy(&body);
        let listing: UploadListing = quick_xml::de::from_str(&text)
            .map_err(|e| failed(generic_error(format!("unreadable upload listing: {e}"))))?;
        found.extend(listing.uploads);
        match (
            listing.is_truncated,
            listing.next_key_marker,
            listing.next_upload_id_marker,
        ) {
            (true, Some(key), Some(upload)) => markers = Some((key, upload)),
            _ => return Ok(found),
        }
    }
}

#[cfg(feature = "aws")]
fn generic_error(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: message.into(),
    }
}
