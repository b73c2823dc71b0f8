//! An in-process S3-compatible server ([`s3s`] + [`s3s_fs`]) for tests and benchmarks.
//!
//! # On-disk layout (s3s-fs 0.14.1)
//!
//! The server stores everything under one root directory (a [`TempDir`]):
//!
//! * `<root>/<bucket>/` is the bucket; an object with key `a/b/c` is the file
//!   `<root>/<bucket>/a/b/c`. Nothing else is ever stored inside a bucket
//!   directory (writes go to a temporary file at the root and are renamed into
//!   place), so every file in it is a complete object.
//! * `<root>/.upload-<uuid>.json` marks a multipart upload that was created and
//!   is neither completed nor aborted; `<root>/.upload_id-<uuid>.part-<n>` are
//!   its uploaded parts and `<root>/.bucket-<b64>.object-<b64>.upload-<uuid>.metadata.json`
//!   its attributes. Completing or aborting the upload removes all of them.
//! * `<root>/.bucket-<b64>.object-<b64>.internal.json` / `.metadata.json` hold
//!   ETags, checksums and attributes of complete objects, and
//!   `<root>/.tmp.<n>.internal.part` are writes in progress.
//!
//! # Operations
//!
//! Everything s3s-fs implements (bucket create/head/delete, Put/Get/Head/
//! Delete/Copy object, DeleteObjects, ListObjects(V2), the multipart upload
//! calls and ListParts), plus ListMultipartUploads, which s3s-fs lacks and the
//! testkit adds from the layout above (module `store`), so code that
//! looks for orphaned uploads can be tested against this server.

mod store;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tempfile::TempDir;
use tokio::sync::oneshot;

use self::store::Store;

/// How long [`Drop`] waits for in-flight requests before cutting connections.
const GRACEFUL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// An S3-compatible HTTP server listening on `127.0.0.1` on a free port, with
/// SigV4 authentication on and one bucket, storing objects in a temporary
/// directory. It answers ListMultipartUploads too (`GET /<bucket>?uploads`,
/// with `prefix`, markers and `max-uploads`), which s3s-fs alone does not.
///
/// The server runs on its own thread with its own two-worker tokio runtime, so
/// it can be started from synchronous code (benchmarks) as well as from any
/// kind of async test, and it keeps serving while the caller's runtime blocks.
/// Dropping it stops the server, joins the thread and deletes all data.
///
/// Requests must be path-style (`http://127.0.0.1:PORT/<bucket>/<key>`), which
/// is what `object_store` does when an endpoint is set. Unsigned requests and
/// requests signed with another key pair are refused with `403`.
#[derive(Debug)]
pub struct S3Server {
    addr: SocketAddr,
    bucket: String,
    access_key: String,
    secret_key: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Root directory of the s3s-fs store; dropped (deleted) after the thread
    /// has been joined.
    root: TempDir,
}

impl S3Server {
    /// Starts a server with one existing bucket, accepting exactly this key pair.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] if `bucket` is not a valid S3
    /// bucket name (3–63 characters of `a-z`, `0-9`, `.`, `-`).
    pub fn start(access_key: &str, secret_key: &str, bucket: &str) -> io::Result<S3Server> {
        if !s3s::path::check_bucket_name(bucket) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid S3 bucket name {bucket:?}"),
            ));
        }
        let root = tempfile::Builder::new().prefix("gludb-s3-").tempdir()?;
        // s3s-fs maps a bucket to a directory directly under its root.
        std::fs::create_dir(root.path().join(bucket))?;

        let store = Store::new(root.path()).map_err(|e| {
            io::Error::other(format!(
                "cannot open s3s-fs root {}: {e:?}",
                root.path().display()
            ))
        })?;
        let service = {
            let mut builder = S3ServiceBuilder::new(store);
            builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
            builder.build()
        };

        // Bind here, so the port is known and errors are reported synchronously.
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gludb-s3-server")
            .enable_all()
            .build()?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("gludb-s3-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(serve(listener, service, shutdown_rx));
                // Don't wait forever for blocking file operations of cut connections.
                runtime.shutdown_timeout(GRACEFUL_SHUTDOWN_TIMEOUT);
            })?;

        Ok(S3Server {
            addr,
            bucket: bucket.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            root,
        })
    }

    /// The server's base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The name of the bucket that exists from the start.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The access key id the server accepts.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret access key the server accepts.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// Env-style options for `object_store` (`parse_url_opts` or
    /// `AmazonS3Builder::with_config`): `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_endpoint`, `aws_allow_http` = `true` and
    /// `aws_region` = `us-east-1`. The bucket is not included.
    pub fn object_store_options(&self) -> Vec<(String, String)> {
        [
            ("aws_access_key_id", self.access_key.clone()),
            ("aws_secret_access_key", self.secret_key.clone()),
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".to_owned()),
            ("aws_region", "us-east-1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Keys of the complete objects in the bucket (sorted), excluding in-flight
    /// multipart part files and any s3s-fs internal files (those live at the
    /// store's root, outside the bucket directory).
    ///
    /// Keys use `/` as separator. Unreadable directories are skipped.
    pub fn objects(&self) -> Vec<String> {
        let bucket_dir = self.root.path().join(&self.bucket);
        let mut keys = Vec::new();
        let mut dirs = vec![bucket_dir.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if file_type.is_dir() {
                    dirs.push(path);
                } else if file_type.is_file()
                    && let Ok(rel) = path.strip_prefix(&bucket_dir)
                {
                    let key: Vec<_> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect();
                    keys.push(key.join("/"));
                }
            }
        }
        keys.sort();
        keys
    }

    /// Files of multipart uploads that were started but neither completed nor
    /// aborted (sorted file names, relative to the store's root).
    ///
    /// s3s-fs keeps these at the root of its store, outside the bucket: the
    /// parts `.upload_id-<uuid>.part-<n>`, the upload marker
    /// `.upload-<uuid>.json` and the attributes
    /// `.bucket-<b64>.object-<b64>.upload-<uuid>.metadata.json`. So an upload that
    /// was created but got no part yet is reported too. Empty when every
    /// upload was completed or aborted.
    pub fn orphaned_parts(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root.path()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| is_upload_file(name))
            .collect();
        names.sort();
        names
    }

    /// Path of the object's file on disk, to read it back in tests.
    ///
    /// The file exists only if the object does (see [`S3Server::objects`]).
    pub fn object_path(&self, key: &str) -> PathBuf {
        let mut path = self.root.path().join(&self.bucket);
        path.extend(key.split('/').filter(|s| !s.is_empty()));
        path
    }

    /// The root directory of the s3s-fs store (the bucket is a subdirectory).
    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for S3Server {
    /// Stops accepting connections, lets in-flight requests finish (for up to
    /// two seconds, then cuts them), joins the server thread and deletes the
    /// store's directory.
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // An error means the server loop already ended: nothing to stop.
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has already been reported on stderr.
            let _ = thread.join();
        }
        // `self.root` (TempDir) is removed when the fields are dropped, i.e. after the join.
    }
}

/// Whether a file name at the store's root belongs to an unfinished multipart upload.
fn is_upload_file(name: &str) -> bool {
    name.starts_with(".upload_id-")
        || (name.starts_with(".upload-") && name.ends_with(".json"))
        || (name.starts_with(".bucket-")
            && name.contains(".upload-")
            && name.ends_with(".metadata.json"))
}

/// Accepts connections until `shutdown` fires (or its sender is dropped), then
/// shuts the open connections down gracefully, cutting them after a timeout.
async fn serve(
    listener: std::net::TcpListener,
    service: S3Service,
    mut shutdown: oneshot::Receiver<()>,
) {
    let Some(listener) = crate::accept::register(listener, "S3 server") else {
        return;
    };
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    while let Some(socket) = crate::accept::next_connection(&listener, &mut shutdown).await {
        let conn = http.serve_connection(TokioIo::new(socket), service.clone());
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            // Errors are the client's business (closed connections, bad requests).
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(GRACEFUL_SHUTDOWN_TIMEOUT, graceful.shutdown()).await;
}
