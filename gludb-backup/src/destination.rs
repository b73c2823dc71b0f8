//! Where backups go: an S3 bucket given by key, secret and name (as in the
//! original GLUDB), or any `object_store` URL (`s3://`, `file://`,
//! `memory://`, `gs://`, `az://`, ...).

use std::{fmt, str::FromStr, sync::Arc};

use object_store::{
    ObjectStore,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    local::LocalFileSystem,
    memory::InMemory,
    path::Path,
};
use url::Url;

use crate::{BackupError, Result};

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, Default)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

#[derive(Debug, Clone)]
enum Target {
    /// The original's form: key, secret and bucket; the rest of the S3
    /// settings from the `AWS_*` environment.
    S3 {
        access_key: String,
        secret_key: Secret,
        bucket: String,
        prefix: String,
    },
    /// An object_store URL.
    Url(Url),
}

/// A backup destination. Build it from credentials ([`Destination::s3`]) or a
/// URL ([`Destination::from_url`]), then refine it with options.
///
/// ```
/// use gludb_backup::Destination;
/// let local = Destination::from_url("file:///var/backups/myapp")?;
/// let s3 = Destination::s3("AKIA...", "secret", "my-backup-bucket")
///     .with_prefix("daily")
///     .with_s3_option("aws_server_side_encryption", "AES256");
/// assert_eq!(s3.to_string(), "s3://my-backup-bucket/daily");
/// # Ok::<(), gludb_backup::BackupError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Destination {
    target: Target,
    /// Extra `object_store` configuration (e.g. `aws_endpoint`); values
    /// given here win over the environment.
    options: Vec<(String, Secret)>,
}

impl fmt::Display for Destination {
    /// The destination as a URL without credentials, for logs and reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::S3 { bucket, prefix, .. } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Target::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
            Target::Url(url) => {
                let mut url = url.clone();
                // Credentials in a URL never reach a log.
                let _ = url.set_password(None);
                let _ = url.set_username("");
                url.set_query(None);
                write!(f, "{url}")
            }
        }
    }
}

/// A destination resolved to a store: what backups, listing and restore use.
#[derive(Debug, Clone)]
pub(crate) struct Connected {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// Key prefix inside the store (empty for none).
    pub(crate) prefix: Path,
    /// The destination as shown to users, without credentials.
    pub(crate) description: String,
    /// The bucket (S3) or the destination itself (other stores).
    pub(crate) location: String,
}

impl Connected {
    /// The full key of a backup file name under the prefix.
    pub(crate) fn path_of(&self, file_name: &str) -> Path {
        self.prefix.clone().join(file_name)
    }
}

impl Destination {
    /// An S3 bucket, as the original GLUDB's `Backup(aws_access_key=...,
    /// aws_secret_key=..., bucketname=...)`. An empty key or secret falls back
    /// to `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`; region, endpoint
    /// (`AWS_ENDPOINT`), `AWS_ALLOW_HTTP` and the rest come from the `AWS_*`
    /// environment as `object_store` reads it.
    pub fn s3(access_key: &str, secret_key: &str, bucket: &str) -> Destination {
        Destination {
            target: Target::S3 {
                access_key: access_key.to_owned(),
                secret_key: Secret(secret_key.to_owned()),
                bucket: bucket.to_owned(),
                prefix: String::new(),
            },
            options: Vec::new(),
        }
    }

    /// A destination URL: `s3://bucket[/prefix]` (credentials from the `AWS_*`
    /// environment or [`with_s3_option`](Self::with_s3_option)),
    /// `file:///dir` (created if missing), `memory://`, or anything else
    /// `object_store::parse_url_opts` understands.
    pub fn from_url(url: &str) -> Result<Destination> {
        let parsed = Url::parse(url).map_err(|e| BackupError::InvalidDestination {
            destination: redact_url(url),
            reason: e.to_string(),
        })?;
        Ok(Destination {
            target: Target::Url(parsed),
            options: Vec::new(),
        })
    }

    /// Keys go under this prefix (`daily` → `daily/Backup_....tar.gz`).
    pub fn with_prefix(mut self, new_prefix: &str) -> Destination {
        let new_prefix = new_prefix.trim_matches('/').to_owned();
        match &mut self.target {
            Target::S3 { prefix, .. } => *prefix = new_prefix,
            Target::Url(url) => {
                let path = format!("{}/{new_prefix}", url.path().trim_end_matches('/'));
                url.set_path(&path);
            }
        }
        self
    }

    /// Sets an `object_store` configuration key for S3 (e.g.
    /// `aws_endpoint`, `aws_region`, `aws_allow_http`,
    /// `aws_server_side_encryption`); it wins over the environment.
    pub fn with_s3_option(mut self, key: &str, value: &str) -> Destination {
        self.options
            .push((key.to_ascii_lowercase(), Secret(value.to_owned())));
        self
    }

    /// An S3-compatible server's endpoint, e.g. `http://127.0.0.1:9000`
    /// (plain HTTP is allowed for `http://` endpoints).
    pub fn with_endpoint(self, endpoint: &str) -> Destination {
        let allow_http = endpoint.starts_with("http://");
        let with = self.with_s3_option("aws_endpoint", endpoint);
        if allow_http {
            with.with_s3_option("aws_allow_http", "true")
        } else {
            with
        }
    }

    /// Resolves the destination to a store, checking credentials first: a
    /// missing key, secret or bucket is an error before anything is touched.
    pub(crate) fn connect(&self) -> Result<Connected> {
        let description = self.to_string();
        match &self.target {
            Target::S3 {
                access_key,
                secret_key,
                bucket,
                prefix,
            } => {
                let mut builder = self.s3_builder(AmazonS3Builder::from_env())?;
                if !access_key.is_empty() {
                    builder = builder.with_config(AmazonS3ConfigKey::AccessKeyId, access_key);
                }
                if !secret_key.0.is_empty() {
                    builder =
                        builder.with_config(AmazonS3ConfigKey::SecretAccessKey, &secret_key.0);
                }
                if bucket.is_empty() {
                    return Err(BackupError::MissingCredential {
                        what: "bucket name",
                        env: "an s3://bucket URL",
                    });
                }
                builder = builder.with_bucket_name(bucket);
                self.build_s3(builder, prefix, description, bucket.clone())
            }
            Target::Url(url) => match url.scheme() {
                "s3" | "s3a" => {
                    let builder =
                        self.s3_builder(AmazonS3Builder::from_env().with_url(url.as_str()))?;
                    let bucket = url.host_str().unwrap_or_default().to_owned();
                    if bucket.is_empty() {
                        return Err(BackupError::MissingCredential {
                            what: "bucket name",
                            env: "the s3://bucket URL",
                        });
                    }
                    self.build_s3(builder, url.path(), description, bucket)
                }
                "file" => {
                    let dir = url
                        .to_file_path()
                        .map_err(|()| self.invalid("not a local path"))?;
                    std::fs::create_dir_all(&dir).map_err(|e| {
                        BackupError::io(
                            &format!("creating the backup directory {}", dir.display()),
                            e,
                        )
                    })?;
                    let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                        BackupError::store(&description, "opening the directory", e)
                    })?;
                    Ok(Connected {
                        store: Arc::new(store),
                        prefix: Path::default(),
                        location: description.clone(),
                        description,
                    })
                }
                "memory" => Ok(Connected {
                    store: Arc::new(InMemory::new()),
                    prefix: Path::from(url.path()),
                    location: description.clone(),
                    description,
                }),
                _ => {
                    let options = self.options.iter().map(|(k, v)| (k.as_str(), v.0.as_str()));
                    let (store, prefix) =
                        object_store::parse_url_opts(url, options).map_err(|e| {
                            BackupError::store(&description, "opening the destination", e)
                        })?;
                    Ok(Connected {
                        store: Arc::from(store),
                        prefix,
                        location: description.clone(),
                        description,
                    })
                }
            },
        }
    }

    fn s3_builder(&self, mut builder: AmazonS3Builder) -> Result<AmazonS3Builder> {
        for (key, value) in &self.options {
            let key = AmazonS3ConfigKey::from_str(key)
                .map_err(|_| self.invalid(&format!("unknown S3 option {key:?}")))?;
            builder = builder.with_config(key, &value.0);
        }
        Ok(builder)
    }

    fn build_s3(
        &self,
        builder: AmazonS3Builder,
        prefix: &str,
        description: String,
        bucket: String,
    ) -> Result<Connected> {
        let present = |key| {
            builder
                .get_config_value(&key)
                .is_some_and(|v| !v.is_empty())
        };
        if !present(AmazonS3ConfigKey::AccessKeyId) {
            return Err(BackupError::MissingCredential {
                what: "access key",
                env: "AWS_ACCESS_KEY_ID",
            });
        }
        if !present(AmazonS3ConfigKey::SecretAccessKey) {
            return Err(BackupError::MissingCredential {
                what: "secret key",
                env: "AWS_SECRET_ACCESS_KEY",
            });
        }
        let store = builder
            .build()
            .map_err(|e| BackupError::store(&description, "configuring S3", e))?;
        Ok(Connected {
            store: Arc::new(store),
            prefix: Path::from(prefix.trim_matches('/')),
            description,
            location: bucket,
        })
    }

    fn invalid(&self, reason: &str) -> BackupError {
        BackupError::InvalidDestination {
            destination: self.to_string(),
            reason: reason.to_owned(),
        }
    }
}

/// A URL for an error message, without anything after `//user:pass@`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let d = Destination::s3("AKIAEXAMPLE", "very-secret-value", "bucket")
            .with_s3_option("aws_session_token", "token-secret");
        let shown = format!("{d:?} {d}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(!shown.contains("token-secret"), "{shown}");
        let url = Destination::from_url("https://user:pw-secret@host/x?sig=abc").unwrap();
        assert!(!url.to_string().contains("pw-secret"));
        assert!(!redact_url("s3://user:pw-secret@host").contains("pw-secret"));
    }

    #[test]
    fn missing_credentials_are_typed_errors_before_any_request() {
        let no_bucket = Destination::s3("key", "secret", "").connect().unwrap_err();
        assert!(matches!(
            no_bucket,
            BackupError::MissingCredential {
                what: "bucket name",
                ..
            }
        ));
        let bad_option = Destination::s3("key", "secret", "b")
            .with_s3_option("no_such_option", "x")
            .connect()
            .unwrap_err();
        assert!(matches!(bad_option, BackupError::InvalidDestination { .. }));
    }
}
