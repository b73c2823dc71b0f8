//! Where backups go: an S3 bucket given by key, secret and name (as in the
//! original GLUDB), or any `object_store` URL (`s3://`, `file://`,
//! `memory://`, `gs://`, `az://`, ...).
//!
//! `file://` and `memory://` are always there; each cloud store comes with
//! a Cargo feature (`aws`, `gcp`, `azure`), and a destination whose
//! feature is off is a [`BackupError::FeatureNotEnabled`] naming it.
//!
//! A destination holds credentials, so nothing here prints one: `Debug` and
//! `Display` show the URL without user, password or query string, and
//! option values are never shown.

use std::{
    collections::HashMap,
    fmt,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::Duration,
};

use crate::archive::open::Keys;
use object_store::{
    ObjectStore, ObjectStoreScheme, local::LocalFileSystem, memory::InMemory, path::Path,
};
#[cfg(feature = "aws")]
use object_store::{
    RetryConfig,
    aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey},
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

#[derive(Clone)]
enum Target {
    /// The original's form: key, secret and bucket; the rest of the S3
    /// settings from the `AWS_*` environment.
    S3 {
        access_key: String,
        // Read only by the S3 client (feature `aws`).
        #[cfg_attr(not(feature = "aws"), allow(dead_code))]
        secret_key: Secret,
        bucket: String,
        prefix: String,
    },
    /// An object_store URL (it may hold a password or a signed query).
    Url(Url),
}

/// The cloud stores, each behind a Cargo feature of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    Aws,
    Gcp,
    Azure,
}

impl Cloud {
    /// The Cargo feature (of `gludb` and `gludb-backup`) that brings it.
    fn feature(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Azure => "azure",
        }
    }

    /// Whether this build has that feature.
    fn enabled(self) -> bool {
        match self {
            Cloud::Aws => cfg!(feature = "aws"),
            Cloud::Gcp => cfg!(feature = "gcp"),
            Cloud::Azure => cfg!(feature = "azure"),
        }
    }
}

impl Target {
    /// The cloud store this is, as `object_store` reads the URL (so
    /// `https://s3.<region>.amazonaws.com/...` is S3 too); `None` for
    /// `file://`, `memory://`, plain HTTP and schemes nobody knows.
    fn cloud(&self) -> Option<Cloud> {
        let url = match self {
            Target::S3 { .. } => return Some(Cloud::Aws),
            Target::Url(url) => url,
        };
        if matches!(url.scheme(), "s3" | "s3a") {
            return Some(Cloud::Aws);
        }
        match ObjectStoreScheme::parse(url).ok()?.0 {
            ObjectStoreScheme::AmazonS3 => Some(Cloud::Aws),
            ObjectStoreScheme::GoogleCloudStorage => Some(Cloud::Gcp),
            ObjectStoreScheme::MicrosoftAzure => Some(Cloud::Azure),
            _ => None,
        }
    }
}

/// The HTTPS client of the cloud stores (reqwest with rustls) needs a
/// rustls crypto provider. gludb builds rustls with ring alone (aws-lc-rs,
/// object_store's default, takes minutes to build: docs/PERFORMANCE.md),
/// and reqwest does not pick one by itself then: ring becomes the
/// process default here, unless the application installed one first.
#[cfg(feature = "_cloud")]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only if another thread installed one meanwhile: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
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
/// assert!(!format!("{s3:?}").contains("secret"));
/// # Ok::<(), gludb_backup::BackupError>(())
/// ```
#[derive(Clone)]
pub struct Destination {
    target: Target,
    /// Extra `object_store` configuration (e.g. `aws_endpoint`); values
    /// given here win over the environment.
    options: Vec<(String, Secret)>,
    /// Retries of failed requests: (most retries, give up after).
    retry: Option<(usize, Duration)>,
    /// How long one request may take.
    timeout: Option<Duration>,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let option_keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        let mut debug = f.debug_struct("Destination");
        debug.field("url", &self.to_string());
        if let Target::S3 { access_key, .. } = &self.target {
            // An access key id is not a secret (it appears in every request).
            debug.field("access_key", access_key);
        }
        debug
            .field("options", &option_keys)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Display for Destination {
    /// The destination as a URL without credentials, for logs and reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::S3 { bucket, prefix, .. } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Target::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
            Target::Url(url) => f.write_str(&without_credentials(url)),
        }
    }
}

/// The bucket an S3 URL names, read as `object_store` reads it when the
/// store is built (its builder only learns the bucket then): the host of
/// `s3://bucket/p`, the first path segment of path-style
/// `https://s3.<region>.amazonaws.com/bucket/p` (and of R2), the first label
/// of virtual-hosted `https://bucket.s3.<region>.amazonaws.com/p`.
#[cfg(feature = "aws")]
fn s3_bucket_in_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let first_segment = || {
        url.path_segments()
            .and_then(|mut segments| segments.next())
            .unwrap_or_default()
            .to_owned()
    };
    match url.scheme() {
        "s3" | "s3a" => host.to_owned(),
        _ if host.ends_with("r2.cloudflarestorage.com") || host.starts_with("s3.") => {
            first_segment()
        }
        _ => host.split('.').next().unwrap_or_default().to_owned(),
    }
}

/// What a connection is for: only writing a backup creates a `file://`
/// directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Write,
    Read,
}

/// `text` (an error quoting `url`) without the URL's secrets.
fn scrub(text: &str, url: &Url) -> String {
    let mut text = text.replace(url.as_str(), &without_credentials(url));
    for secret in [url.password(), url.query()].into_iter().flatten() {
        if !secret.is_empty() {
            text = text.replace(secret, "***");
        }
    }
    text
}

/// A URL without user, password or query string (signatures live there).
fn without_credentials(url: &Url) -> String {
    let mut url = url.clone();
    // Fails only for URLs that cannot have credentials at all. The user
    // name stays: it is no secret (an access key id), and some stores keep
    // more in it (`abfss://<container>@<account>`).
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// What kind of store a destination resolved to, for what only some
/// stores can do (listing unfinished uploads, finding staging files).
#[derive(Debug, Clone)]
pub(crate) enum StoreKind {
    /// Amazon S3 or an S3-compatible server.
    #[cfg(feature = "aws")]
    S3(S3Access),
    /// A local directory: its path.
    Local(PathBuf),
    /// A `memory://` store of this process.
    Memory,
    /// Anything else (GCS, Azure, HTTP, a store the service configured).
    Other,
}

/// What the orphan tools need to talk to an S3 bucket directly.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub(crate) struct S3Access {
    pub(crate) store: Arc<AmazonS3>,
    /// `https://s3.<region>.amazonaws.com/<bucket>` or the endpoint's form.
    pub(crate) bucket_url: String,
    pub(crate) region: String,
    /// Request settings (timeouts) as configured.
    pub(crate) client_options: Vec<(String, String)>,
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
    /// Which store this is, beyond its description: the endpoint of an
    /// S3-compatible server, the canonical directory of a `file://` one.
    /// Backup sets are told apart by it (two servers may both have a
    /// bucket `backups`).
    pub(crate) identity: String,
    pub(crate) kind: StoreKind,
    /// The secret keys encrypted backups are read with (none by default).
    pub(crate) keys: Keys,
}

impl Connected {
    /// The full key of a backup file name under the prefix.
    pub(crate) fn path_of(&self, file_name: &str) -> Path {
        self.prefix.clone().join(file_name)
    }
}

/// `memory://` stores of this process, by name: every connect to
/// `memory://name` reaches the same store, so what a backup writes there
/// can be listed and restored until the process ends.
fn memory_store(name: &str) -> Arc<InMemory> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(
        stores
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(InMemory::new())),
    )
}

impl Destination {
    /// An S3 bucket, as the original GLUDB's `Backup(aws_access_key=...,
    /// aws_secret_key=..., bucketname=...)`. An empty key or secret falls back
    /// to `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`; region, endpoint
    /// (`AWS_ENDPOINT`), `AWS_ALLOW_HTTP` and the rest come from the `AWS_*`
    /// environment as `object_store` reads it.
    ///
    /// Needs the `aws` feature: without it, a backup or restore to this
    /// destination fails with [`BackupError::FeatureNotEnabled`] before
    /// anything is read or written.
    pub fn s3(access_key: &str, secret_key: &str, bucket: &str) -> Destination {
        Destination {
            target: Target::S3 {
                access_key: access_key.to_owned(),
                secret_key: Secret(secret_key.to_owned()),
                bucket: bucket.to_owned(),
                prefix: String::new(),
            },
            options: Vec::new(),
            retry: None,
            timeout: None,
        }
    }

    /// A destination URL: `s3://bucket[/prefix]` (credentials from the `AWS_*`
    /// environment or [`with_s3_option`](Self::with_s3_option)),
    /// `file:///dir` (created if missing), `memory://[name][/prefix]` (one
    /// store per name for the life of the process), `gs://bucket[/prefix]`,
    /// `az://container[/prefix]`, or anything else
    /// `object_store::parse_url_opts` understands.
    ///
    /// A cloud store whose Cargo feature is off (`s3://` without `aws`,
    /// `gs://` without `gcp`, `az://` without `azure`) is a
    /// [`BackupError::FeatureNotEnabled`] naming the feature.
    ///
    /// The cloud stores talk HTTPS with rustls on the ring crypto provider,
    /// which gludb installs as the process default on first connect unless
    /// the application installed a provider of its own before.
    pub fn from_url(url: &str) -> Result<Destination> {
        let parsed = Url::parse(url).map_err(|e| BackupError::InvalidDestination {
            destination: redact_url(url),
            reason: e.to_string(),
        })?;
        // `s3:/key:secret@bucket` (one slash) parses with everything in the
        // path: shown, it would show the secret. A store URL has a host.
        let local = matches!(parsed.scheme(), "file" | "memory");
        if !local && parsed.host_str().is_none_or(str::is_empty) {
            return Err(BackupError::InvalidDestination {
                destination: redact_url(url),
                reason: "it names no bucket or host (is a `/` missing after the scheme?)".into(),
            });
        }
        let destination = Destination {
            target: Target::Url(parsed),
            options: Vec::new(),
            retry: None,
            timeout: None,
        };
        destination.check_feature()?;
        Ok(destination)
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
    /// `aws_server_side_encryption`, `timeout`); it wins over the environment.
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

    /// How long one S3 request may take before it counts as failed (and is
    /// retried); `object_store`'s default is 30 s.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Destination {
        self.timeout = Some(timeout);
        self
    }

    /// Retries of a failed S3 request (server errors, throttling, dropped
    /// connections, timeouts): at most `max_retries`, and none once
    /// `give_up_after` has passed since the first attempt. `object_store`'s
    /// default is 10 retries within 3 minutes; an operation fails with a
    /// typed error after that.
    pub fn with_retries(mut self, max_retries: usize, give_up_after: Duration) -> Destination {
        self.retry = Some((max_retries, give_up_after));
        self
    }

    /// Resolves the destination to a store, checking credentials first: a
    /// missing key, secret or bucket is an error before anything is touched.
    pub(crate) fn connect(&self) -> Result<Connected> {
        self.connect_for(Access::Write)
    }

    /// Connects to backups that must already be there: a `file://`
    /// directory that does not exist is an error, not a new empty one.
    pub(crate) fn connect_existing(&self) -> Result<Connected> {
        self.connect_for(Access::Read)
    }

    fn connect_for(&self, access: Access) -> Result<Connected> {
        self.check_feature()?;
        let description = self.to_string();
        match &self.target {
            Target::S3 { .. } => self.connect_s3(),
            // Every form of S3 URL (`s3://`, `https://…amazonaws.com/…`)
            // goes through the S3 client: credentials checked, options
            // validated, orphan tools available.
            Target::Url(_) if self.target.cloud() == Some(Cloud::Aws) => self.connect_s3(),
            Target::Url(url) => match url.scheme() {
                "http" | "https" if self.target.cloud().is_none() => Err(self.invalid(
                    "plain HTTP(S) stores are not supported: for an S3-compatible server use `s3://bucket` with `with_endpoint`",
                )),
                "file" => {
                    let dir = url
                        .to_file_path()
                        .map_err(|()| self.invalid("not a local path"))?;
                    match access {
                        Access::Write => std::fs::create_dir_all(&dir).map_err(|e| {
                            BackupError::io(
                                &format!("creating the backup directory {}", dir.display()),
                                e,
                            )
                        })?,
                        // A mistyped path, or a disk that is not mounted:
                        // "no backups here" would be a lie.
                        Access::Read if !dir.is_dir() => {
                            return Err(BackupError::DestinationMissing {
                                destination: description,
                            });
                        }
                        Access::Read => {}
                    }
                    // The same directory reached by two spellings is one store.
                    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
                    let description = format!("file://{}", dir.display());
                    let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                        BackupError::store(&description, "opening the directory", e)
                    })?;
                    Ok(Connected {
                        store: Arc::new(store),
                        prefix: Path::default(),
                        location: description.clone(),
                        identity: description.clone(),
                        description,
                        kind: StoreKind::Local(dir),
                        keys: Keys::default(),
                    })
                }
                "memory" => {
                    let name = url.host_str().unwrap_or_default();
                    let prefix = Path::from_url_path(url.path()).map_err(|e| {
                        self.invalid(&format!("the prefix is not a valid path: {e}"))
                    })?;
                    let description = format!("memory://{name}/{prefix}");
                    Ok(Connected {
                        store: memory_store(name),
                        identity: description.clone(),
                        prefix,
                        location: description.clone(),
                        description,
                        kind: StoreKind::Memory,
                        keys: Keys::default(),
                    })
                }
                _ => {
                    #[cfg(feature = "_cloud")]
                    install_crypto_provider();
                    let options = self.options.iter().map(|(k, v)| (k.as_str(), v.0.as_str()));
                    // Its error quotes the URL as given, password included.
                    let (store, prefix) = object_store::parse_url_opts(url, options)
                        .map_err(|e| self.invalid(&scrub(&e.to_string(), url)))?;
                    Ok(Connected {
                        store: Arc::from(store),
                        prefix,
                        location: description.clone(),
                        identity: description.clone(),
                        description,
                        kind: StoreKind::Other,
                        keys: Keys::default(),
                    })
                }
            },
        }
    }

    /// [`BackupError::FeatureNotEnabled`] if the store needs a Cargo
    /// feature this build does not have.
    fn check_feature(&self) -> Result<()> {
        match self.target.cloud() {
            Some(cloud) if !cloud.enabled() => Err(self.feature_not_enabled(cloud)),
            _ => Ok(()),
        }
    }

    fn feature_not_enabled(&self, cloud: Cloud) -> BackupError {
        BackupError::FeatureNotEnabled {
            destination: self.to_string(),
            feature: cloud.feature(),
        }
    }

    /// Without the `aws` feature there is no S3 client.
    #[cfg(not(feature = "aws"))]
    fn connect_s3(&self) -> Result<Connected> {
        Err(self.feature_not_enabled(Cloud::Aws))
    }

    /// An S3 bucket, from key, secret and bucket or from an `s3://` URL,
    /// with the rest of the settings from the `AWS_*` environment.
    #[cfg(feature = "aws")]
    fn connect_s3(&self) -> Result<Connected> {
        install_crypto_provider();
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
                self.build_s3(builder, Path::from(prefix.as_str()), bucket.clone())
            }
            Target::Url(url) => {
                // `s3://bucket/p`, `https://s3.<region>.amazonaws.com/bucket/p`,
                // `https://bucket.s3.amazonaws.com/p`: object_store reads the
                // bucket (and region) from each form.
                let builder =
                    self.s3_builder(AmazonS3Builder::from_env().with_url(url.as_str()))?;
                let bucket = s3_bucket_in_url(url);
                if bucket.is_empty() {
                    return Err(BackupError::MissingCredential {
                        what: "bucket name",
                        env: "the s3://bucket URL",
                    });
                }
                let (_, prefix) = ObjectStoreScheme::parse(url)
                    .map_err(|e| self.invalid(&format!("the prefix is not a valid path: {e}")))?;
                self.build_s3(builder, prefix, bucket)
            }
        }
    }

    #[cfg(feature = "aws")]
    fn s3_builder(&self, mut builder: AmazonS3Builder) -> Result<AmazonS3Builder> {
        for (key, value) in &self.options {
            let key = <AmazonS3ConfigKey as std::str::FromStr>::from_str(key)
                .map_err(|_| self.invalid(&format!("unknown S3 option {key:?}")))?;
            builder = builder.with_config(key, &value.0);
        }
        if let Some(timeout) = self.timeout {
            // object_store reads it as text; u64 milliseconds is its limit.
            let millis = u64::try_from(timeout.as_millis().max(1)).map_err(|_| {
                BackupError::InvalidOption {
                    option: "request timeout",
                    reason: format!("{timeout:?} is longer than object_store can wait"),
                }
            })?;
            builder = builder.with_config(
                AmazonS3ConfigKey::Client(object_store::ClientConfigKey::Timeout),
                format!("{millis}ms"),
            );
        }
        // An endpoint with a password in it (`http://user:pass@host`, from
        // an option or AWS_ENDPOINT) would be printed in every request
        // error: S3 takes credentials as the key and secret only.
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        if endpoint
            .as_deref()
            .and_then(|e| Url::parse(e).ok())
            .is_some_and(|e| e.password().is_some() || !e.username().is_empty())
        {
            return Err(self.invalid(
                "the S3 endpoint URL has credentials in it: give them as the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) instead",
            ));
        }
        if let Some((max_retries, retry_timeout)) = self.retry {
            builder = builder.with_retry(RetryConfig {
                max_retries,
                retry_timeout,
                ..RetryConfig::default()
            });
        }
        Ok(builder)
    }

    #[cfg(feature = "aws")]
    fn build_s3(
        &self,
        builder: AmazonS3Builder,
        prefix: Path,
        bucket: String,
    ) -> Result<Connected> {
        // Shown and compared the same however the URL was spelled
        // (`s3://b/p` and `s3://b/p/` are one place).
        let description = if prefix.as_ref().is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        let config = |key| builder.get_config_value(&key).filter(|v| !v.is_empty());
        if config(AmazonS3ConfigKey::AccessKeyId).is_none() {
            return Err(BackupError::MissingCredential {
                what: "access key",
                env: "AWS_ACCESS_KEY_ID",
            });
        }
        if config(AmazonS3ConfigKey::SecretAccessKey).is_none() {
            return Err(BackupError::MissingCredential {
                what: "secret key",
                env: "AWS_SECRET_ACCESS_KEY",
            });
        }
        let region = config(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = config(AmazonS3ConfigKey::Endpoint);
        let virtual_hosted = config(AmazonS3ConfigKey::VirtualHostedStyleRequest)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        // As object_store builds it (aws/builder.rs).
        let bucket_url = match (&endpoint, virtual_hosted) {
            (Some(endpoint), true) => endpoint.clone(),
            (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        };
        let client_options = ["timeout", "connect_timeout"]
            .into_iter()
            .filter_map(|key| {
                let config = <AmazonS3ConfigKey as std::str::FromStr>::from_str(key).ok()?;
                Some((key.to_owned(), builder.get_config_value(&config)?))
            })
            .collect();
        let store = Arc::new(
            builder
                .build()
                .map_err(|e| BackupError::store(&description, "configuring S3", e))?,
        );
        Ok(Connected {
            store: Arc::clone(&store) as Arc<dyn ObjectStore>,
            prefix,
            identity: format!("{description} at {}", bucket_url.trim_end_matches('/')),
            description,
            location: bucket,
            kind: StoreKind::S3(S3Access {
                store,
                bucket_url,
                region,
                client_options,
            }),
            keys: Keys::default(),
        })
    }

    fn invalid(&self, reason: &str) -> BackupError {
        BackupError::InvalidDestination {
            destination: self.to_string(),
            reason: reason.to_owned(),
        }
    }
}

/// A URL that did not parse, for an error message: its scheme only.
/// Anything after `://` may be a key and secret (a secret may hold `/`,
/// so where the authority ends cannot be told), or a signed query.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _))
            if scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            format!("(an invalid {scheme}:// URL)")
        }
        _ => "(an invalid URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsable_urls_are_shown_without_anything_secret() {
        assert_eq!(
            redact_url("s3://user:p@ss@host/x?sig=1"),
            "(an invalid s3:// URL)"
        );
        assert_eq!(
            redact_url("s3://AKIA:wJal/K7/bPx@b/p"),
            "(an invalid s3:// URL)"
        );
        assert_eq!(redact_url("nonsense"), "(an invalid URL)");
    }

    #[cfg(feature = "aws")]
    #[test]
    fn the_bucket_is_read_from_every_form_of_s3_url() {
        for (url, bucket) in [
            ("s3://env-bucket/daily", "env-bucket"),
            ("s3a://b", "b"),
            (
                "https://s3.us-east-1.amazonaws.com/gludb-backups/daily",
                "gludb-backups",
            ),
            ("https://s3.dualstack.eu-west-1.amazonaws.com/bk", "bk"),
            ("https://bk.s3.eu-west-1.amazonaws.com/daily", "bk"),
            ("https://acct.r2.cloudflarestorage.com/bk/p", "bk"),
        ] {
            assert_eq!(s3_bucket_in_url(&Url::parse(url).unwrap()), bucket, "{url}");
        }
    }

    #[cfg(feature = "aws")]
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

    #[test]
    fn memory_destinations_share_a_store_per_name() {
        let a = Destination::from_url("memory://shared-test/x").unwrap();
        let b = Destination::from_url("memory://shared-test/y").unwrap();
        let c = Destination::from_url("memory://other-test").unwrap();
        let (a, b, c) = (
            a.connect().unwrap(),
            b.connect().unwrap(),
            c.connect().unwrap(),
        );
        assert!(Arc::ptr_eq(&a.store, &b.store));
        assert!(!Arc::ptr_eq(&a.store, &c.store));
        assert_ne!(a.identity, b.identity);
    }

    /// Every way of naming a cloud store, and the store it is.
    const CLOUD_URLS: [(&str, Cloud); 7] = [
        ("s3://bucket/daily", Cloud::Aws),
        ("s3a://bucket", Cloud::Aws),
        (
            "https://s3.eu-west-1.amazonaws.com/bucket/daily",
            Cloud::Aws,
        ),
        ("gs://bucket/daily", Cloud::Gcp),
        ("az://container/daily", Cloud::Azure),
        (
            "abfss://container@account.dfs.core.windows.net/daily",
            Cloud::Azure,
        ),
        (
            "https://account.blob.core.windows.net/container/daily",
            Cloud::Azure,
        ),
    ];

    #[test]
    fn urls_name_the_cloud_store_they_need() {
        for (url, cloud) in CLOUD_URLS {
            let target = Target::Url(Url::parse(url).unwrap());
            assert_eq!(target.cloud(), Some(cloud), "{url}");
        }
        for url in [
            "file:///tmp/x",
            "memory://",
            "memory://name/p",
            "http://host/p",
        ] {
            let target = Target::Url(Url::parse(url).unwrap());
            assert_eq!(target.cloud(), None, "{url}");
        }
    }

    /// Built without at least one cloud feature (CI runs this crate's tests
    /// with the default features, `aws` only, and with none).
    #[cfg(not(all(feature = "aws", feature = "gcp", feature = "azure")))]
    #[tokio::test]
    async fn a_cloud_store_without_its_feature_is_a_typed_error_naming_it() {
        let mut checked = 0;
        for (url, cloud) in CLOUD_URLS {
            if cloud.enabled() {
                continue;
            }
            let err = Destination::from_url(url).unwrap_err();
            let BackupError::FeatureNotEnabled {
                destination,
                feature,
            } = &err
            else {
                panic!("{url}: {err:?}");
            };
            assert_eq!(*feature, cloud.feature(), "{url}");
            // Shown as every destination is: without user, password or query.
            let shown = without_credentials(&Url::parse(url).unwrap());
            assert_eq!(*destination, shown, "{url}");
            let message = err.to_string();
            assert!(
                message.contains(&format!("features = [\"{}\"]", cloud.feature())),
                "{message}"
            );
            checked += 1;
        }
        assert!(checked > 0);
        if !Cloud::Aws.enabled() {
            // The original's form cannot fail when built: it fails on use,
            // before any request, the same way.
            let err = crate::Restore::at(Destination::s3("key", "secret", "bucket"))
                .list()
                .await
                .unwrap_err();
            assert!(
                matches!(err, BackupError::FeatureNotEnabled { feature: "aws", .. }),
                "{err:?}"
            );
            assert!(!err.to_string().contains("secret"));
        }
        // The stores that need no feature work in every build.
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path()).unwrap();
        for url in [url.as_str(), "memory://feature-test"] {
            let listed = crate::Restore::from_url(url).unwrap().list().await;
            assert!(listed.unwrap().is_empty(), "{url}");
        }
    }

    /// A server on 127.0.0.1 that takes one connection, keeps what the
    /// client sent first (an HTTP request head, or a TLS ClientHello) and
    /// answers `403 Forbidden` (not retried by object_store).
    #[cfg(feature = "_cloud")]
    fn one_request_server() -> (String, std::thread::JoinHandle<Vec<u8>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let mut socket = loop {
                match listener.accept() {
                    Ok((socket, _)) => break socket,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => return Vec::new(),
                }
            };
            socket.set_nonblocking(false).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            while !received.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
                // A TLS client waits for the server's answer to its hello.
                if received.first() == Some(&0x16) {
                    break;
                }
            }
            let _ = socket.write_all(
                b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            received
        });
        (format!("127.0.0.1:{}", address.port()), thread)
    }

    /// With `gcp`, a `gs://` destination is a Google Cloud Storage client:
    /// listing sends a real request for the bucket.
    #[cfg(feature = "gcp")]
    #[tokio::test]
    async fn gs_destinations_reach_google_cloud_storage_with_the_gcp_feature() {
        let (address, server) = one_request_server();
        let destination = Destination::from_url("gs://gludbbucket/daily")
            .unwrap()
            .with_s3_option("google_base_url", &format!("http://{address}"))
            .with_s3_option("google_bearer_token", "test-token")
            .with_s3_option("allow_http", "true");
        let err = crate::Restore::at(destination).list().await.unwrap_err();
        assert!(
            !matches!(err, BackupError::FeatureNotEnabled { .. }),
            "{err:?}"
        );
        let request = String::from_utf8_lossy(&server.join().unwrap()).into_owned();
        assert!(request.starts_with("GET /"), "{request:?}");
        assert!(request.contains("gludbbucket"), "{request:?}");
        assert!(request.contains("prefix=daily"), "{request:?}");
        assert!(request.contains("Bearer test-token"), "{request:?}");
    }

    /// With `azure`, an `az://` destination is an Azure Blob Storage client.
    #[cfg(feature = "azure")]
    #[tokio::test]
    async fn az_destinations_reach_azure_blob_storage_with_the_azure_feature() {
        let (address, server) = one_request_server();
        let destination = Destination::from_url("az://gludb-container/daily")
            .unwrap()
            .with_s3_option("azure_storage_account_name", "gludbaccount")
            .with_s3_option("azure_storage_endpoint", &format!("http://{address}"))
            .with_s3_option("azure_skip_signature", "true")
            .with_s3_option("allow_http", "true");
        let err = crate::Restore::at(destination).list().await.unwrap_err();
        assert!(
            !matches!(err, BackupError::FeatureNotEnabled { .. }),
            "{err:?}"
        );
        let request = String::from_utf8_lossy(&server.join().unwrap()).into_owned();
        assert!(request.starts_with("GET /"), "{request:?}");
        assert!(request.contains("gludb-container"), "{request:?}");
        assert!(request.contains("comp=list"), "{request:?}");
    }

    /// With `aws`, S3 over HTTPS speaks TLS: rustls with the ring provider
    /// gludb installs (no provider is built into its rustls).
    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn s3_over_https_speaks_tls_with_the_aws_feature() {
        let (address, server) = one_request_server();
        let destination = Destination::s3("key", "secret", "bucket")
            .with_endpoint(&format!("https://{address}"))
            .with_retries(0, Duration::from_secs(5));
        let err = crate::Restore::at(destination).list().await.unwrap_err();
        assert!(
            !matches!(err, BackupError::FeatureNotEnabled { .. }),
            "{err:?}"
        );
        let hello = server.join().unwrap();
        // A TLS record of type handshake (22), version 3.x, whose first
        // message is a ClientHello (1).
        assert!(hello.len() > 5, "{hello:?}");
        assert_eq!(
            (hello[0], hello[1], hello[5]),
            (0x16, 0x03, 0x01),
            "{hello:?}"
        );
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
