//! A fault-injecting HTTP proxy for S3 traffic: [`FaultProxy`].
//!
//! Whether a backup survives a flaky object store depends on how the client
//! (`object_store`) and the backup code above it react to throttling, server
//! errors, connections cut in the middle of a body, truncated responses and
//! hangs. Real S3 does all of these now and then; this proxy does them on
//! demand and deterministically, between a real client and the real test
//! server ([`S3Server`]), so the reliability suite can assert
//! on what happens instead of hoping to observe it.
//!
//! # Why signatures still verify
//!
//! The client is pointed at the proxy and signs its requests (SigV4) for the
//! proxy's address: `Host: 127.0.0.1:<proxy port>` is part of the signature.
//! The proxy forwards the method, the request target (path and query), every
//! header in order with its name's case and its value byte for byte (`Host`
//! included) and the body unchanged, only to another socket; the server
//! checks the signature against what it receives, so it verifies.
//! Responses come back unchanged too. (Only the framing is hyper's: a
//! chunked body may be re-chunked.)
//!
//! # Faults
//!
//! Each request is classified into a [`RequestKind`] from its method, path
//! and query (path-style S3 requests: `/<bucket>/<key>`). The rules
//! ([`Fault`]s) decide, per request, whether to forward it untouched or to
//! apply one [`FaultAction`]. Everything is counted, faulted or not, so a
//! test can check how many requests (retries) the client made.
//!
//! The proxy speaks HTTP/1.1 only (what `object_store` uses for `http://`
//! endpoints), with hyper on both sides: no hand-written HTTP.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RANGE, TRANSFER_ENCODING};
use hyper::http::uri::{Authority, Scheme, Uri};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot, watch};

use crate::S3Server;

/// How long [`Drop`] waits for the proxy's tasks after cutting its connections.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a cut response waits after sending its partial body before it
/// ends the connection, so that the partial body is flushed to the client
/// first rather than discarded along with the connection.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(100);

/// Error of the proxy's service and bodies: why it cut a connection (hyper
/// drops the connection on either, and the message goes nowhere else).
#[derive(Debug)]
struct ProxyError(String);

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyError {}

/// Body of the responses the proxy sends.
type ProxyBody = BoxBody<Bytes, ProxyError>;

/// The S3 operation a request is, as far as the proxy can tell from its
/// method, path and query (path-style: `/<bucket>` or `/<bucket>/<key>`).
///
/// Headers are not looked at: CopyObject (a PUT with `x-amz-copy-source`) is a
/// [`RequestKind::PutObject`], UploadPartCopy an [`RequestKind::UploadPart`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `PUT /<bucket>/<key>` without `uploadId`.
    PutObject,
    /// `POST /<bucket>/<key>?uploads`.
    CreateMultipartUpload,
    /// `PUT /<bucket>/<key>?partNumber=N&uploadId=U`.
    UploadPart,
    /// `POST /<bucket>/<key>?uploadId=U`.
    CompleteMultipartUpload,
    /// `DELETE /<bucket>/<key>?uploadId=U`.
    AbortMultipartUpload,
    /// `GET /<bucket>/<key>` (not ListParts, which has `uploadId`).
    GetObject,
    /// `HEAD /<bucket>/<key>`.
    HeadObject,
    /// `GET /<bucket>` listing objects (`list-type=2`, or V1 without a subresource).
    ListObjects,
    /// `GET /<bucket>?uploads`.
    ListMultipartUploads,
    /// `DELETE /<bucket>/<key>` without `uploadId`.
    DeleteObject,
    /// `POST /<bucket>?delete`: the bulk delete object_store uses for every
    /// delete on S3.
    DeleteObjects,
    /// Anything else: bucket operations, ListBuckets, ListParts, …
    Other,
}

impl RequestKind {
    /// Classifies a request from its method (`"PUT"`, …) and its path and
    /// query (`/bucket/key?uploadId=…`, the request target of HTTP/1.1).
    pub fn classify(method: &str, path_and_query: &str) -> RequestKind {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let has = |name: &str| {
            query
                .split('&')
                .any(|pair| pair.split_once('=').map_or(pair, |(k, _)| k) == name)
        };
        // `/bucket/key…`: an object request needs a non-empty key after the bucket.
        let path = path.trim_start_matches('/');
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return RequestKind::Other;
        }
        let object = !key.is_empty();
        match (method, object) {
            ("PUT", true) if has("uploadId") && has("partNumber") => RequestKind::UploadPart,
            ("PUT", true) if !has("uploadId") => RequestKind::PutObject,
            ("POST", true) if has("uploads") => RequestKind::CreateMultipartUpload,
            ("POST", true) if has("uploadId") => RequestKind::CompleteMultipartUpload,
            ("DELETE", true) if has("uploadId") => RequestKind::AbortMultipartUpload,
            ("DELETE", true) => RequestKind::DeleteObject,
            ("GET", true) if !has("uploadId") => RequestKind::GetObject,
            ("HEAD", true) => RequestKind::HeadObject,
            ("GET", false) if has("uploads") => RequestKind::ListMultipartUploads,
            ("POST", false) if has("delete") => RequestKind::DeleteObjects,
            ("GET", false) => {
                // V2 has `list-type=2`; V1 has no subresource (only list parameters).
                const LIST_PARAMS: [&str; 9] = [
                    "list-type",
                    "prefix",
                    "delimiter",
                    "marker",
                    "max-keys",
                    "continuation-token",
                    "start-after",
                    "encoding-type",
                    "fetch-owner",
                ];
                let only_list_params = query.split('&').filter(|p| !p.is_empty()).all(|pair| {
                    LIST_PARAMS.contains(&pair.split_once('=').map_or(pair, |(k, _)| k))
                });
                if only_list_params {
                    RequestKind::ListObjects
                } else {
                    RequestKind::Other
                }
            }
            _ => RequestKind::Other,
        }
    }
}

/// What a fault does to a request it fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status and an S3 XML error body
    /// (`<Error><Code>…</Code><Message>…</Message></Error>`), without
    /// forwarding. The request body is read (and discarded) first. Codes:
    /// 503 `SlowDown`, 500 `InternalError`, 403 `AccessDenied`, 404
    /// `NoSuchKey`, 501 `NotImplemented`, other 5xx `InternalError`, other
    /// 4xx `InvalidRequest`.
    Status(u16),
    /// Cut the connection (TCP reset) in the middle of a body. A request with
    /// a body (PutObject, UploadPart, CompleteMultipartUpload): about half of
    /// it is read, then the connection is reset without an answer and nothing
    /// is forwarded. A request without a body: it is forwarded, and the
    /// response headers and about half of the response body are sent before
    /// the reset (if the response has no body, the reset replaces it: the
    /// server did the work, the client never hears of it).
    ResetMidBody,
    /// Hold the request this long before handling it normally (forwarding
    /// it). [`FaultProxy::clear`] releases held requests early, and dropping
    /// the proxy drops them, so `Duration::MAX` means "until cleared".
    Stall(Duration),
    /// Forward, then send the response headers with the real
    /// `Content-Length` but only the first half of the body, and close the
    /// connection (a clean close, not a reset). If the response has no body,
    /// the connection is closed instead of answering.
    TruncateBody,
}

/// A rule of a [`FaultProxy`]: which requests it applies to and what it does.
///
/// Build it with [`Fault::on`] or [`Fault::on_any`]:
///
/// ```
/// use gludb_testkit::fault::{Fault, RequestKind};
/// // The 2nd and 3rd part uploads get 503 SlowDown; the others pass.
/// let fault = Fault::on(RequestKind::UploadPart).after(1).times(2).status(503);
/// # let _ = fault;
/// ```
///
/// Counting is per rule, from the moment the rule is injected: each request
/// of the rule's kind counts as one match of the rule, whatever happens to
/// it. The first `after` matches pass; each later match fires the rule until
/// it has fired `times` times (once unless set; [`FaultBuilder::always`] for
/// no limit). When several rules are due for one request, the first
/// injected fires; the others count the match but don't fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    kind: Option<RequestKind>,
    after: usize,
    times: Option<usize>,
    action: FaultAction,
}

/// A [`Fault`] being built: which requests, how often. Finish it with an
/// action method ([`status`](FaultBuilder::status),
/// [`reset_mid_body`](FaultBuilder::reset_mid_body),
/// [`stall`](FaultBuilder::stall),
/// [`truncate_body`](FaultBuilder::truncate_body)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a FaultBuilder does nothing until an action method makes it a Fault"]
pub struct FaultBuilder {
    kind: Option<RequestKind>,
    after: usize,
    times: Option<usize>,
}

impl Fault {
    /// A fault for requests of this kind (firing once unless told otherwise).
    pub fn on(kind: RequestKind) -> FaultBuilder {
        FaultBuilder {
            kind: Some(kind),
            after: 0,
            times: Some(1),
        }
    }

    /// A fault for requests of any kind (firing once unless told otherwise).
    pub fn on_any() -> FaultBuilder {
        FaultBuilder {
            kind: None,
            after: 0,
            times: Some(1),
        }
    }
}

impl FaultBuilder {
    /// Lets the first `n` matching requests through before firing.
    pub fn after(mut self, n: usize) -> FaultBuilder {
        self.after = n;
        self
    }

    /// Fires at most `n` times (the default is once).
    pub fn times(mut self, n: usize) -> FaultBuilder {
        self.times = Some(n);
        self
    }

    /// Fires on every matching request (after the first `after`).
    pub fn always(mut self) -> FaultBuilder {
        self.times = None;
        self
    }

    /// Answers with this HTTP status and an S3 error body ([`FaultAction::Status`]).
    ///
    /// # Panics
    ///
    /// If `code` is not an error status (400–599): a test bug.
    pub fn status(self, code: u16) -> Fault {
        assert!(
            (400..=599).contains(&code),
            "FaultBuilder::status({code}): not an HTTP error status (400-599)"
        );
        self.action(FaultAction::Status(code))
    }

    /// Resets the connection in the middle of a body ([`FaultAction::ResetMidBody`]).
    pub fn reset_mid_body(self) -> Fault {
        self.action(FaultAction::ResetMidBody)
    }

    /// Holds the request this long first ([`FaultAction::Stall`]).
    pub fn stall(self, duration: Duration) -> Fault {
        self.action(FaultAction::Stall(duration))
    }

    /// Holds the request until [`FaultProxy::clear`] or the proxy is dropped.
    pub fn stall_until_cleared(self) -> Fault {
        self.action(FaultAction::Stall(Duration::MAX))
    }

    /// Sends only half of the response body, then closes ([`FaultAction::TruncateBody`]).
    pub fn truncate_body(self) -> Fault {
        self.action(FaultAction::TruncateBody)
    }

    /// Makes the fault with this action.
    ///
    /// Unlike [`FaultBuilder::status`], a [`FaultAction::Status`] outside
    /// 400–599 is not checked here; such a status is answered as `500`.
    pub fn action(self, action: FaultAction) -> Fault {
        Fault {
            kind: self.kind,
            after: self.after,
            times: self.times,
            action,
        }
    }
}

/// One request the proxy received, as recorded by [`FaultProxy::requests`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// Its classification.
    pub kind: RequestKind,
    /// The HTTP method (`GET`, `PUT`, …).
    pub method: String,
    /// Path and query as received (`/bucket/key?partNumber=1&uploadId=…`).
    pub path_and_query: String,
    /// The `Range` header, if any (a GET resumed after a cut body has one).
    pub range: Option<String>,
    /// The fault applied to it, if one fired.
    pub fault: Option<FaultAction>,
}

/// An HTTP/1.1 reverse proxy on `127.0.0.1` (free port) in front of an S3
/// server, forwarding requests unchanged and injecting [`Fault`]s by rule.
///
/// Like [`S3Server`], it runs on its own thread with its own small tokio
/// runtime, so it works from synchronous code and from any async test, and
/// dropping it stops it (cutting open connections, releasing stalled
/// requests) and joins the thread; a stall never makes drop hang.
///
/// ```no_run
/// use gludb_testkit::S3Server;
/// use gludb_testkit::fault::{Fault, FaultProxy, RequestKind};
///
/// let server = S3Server::start("key", "secret-secret", "bucket")?;
/// let proxy = FaultProxy::start(&server.endpoint())?;
/// proxy.inject(Fault::on(RequestKind::PutObject).times(2).status(503));
/// // Point the client at `proxy.object_store_options(&server)` …
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream`, an `http://host:port` base URL
    /// such as [`S3Server::endpoint`] (a trailing `/` is allowed, a path is not).
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] for any other URL.
    pub fn start(upstream: &str) -> io::Result<FaultProxy> {
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("FaultProxy upstream must be http://host:port, got {upstream:?}"),
            )
        };
        let uri: Uri = upstream.parse().map_err(|_| invalid())?;
        let path_is_empty = uri
            .path_and_query()
            .is_none_or(|pq| pq.as_str().is_empty() || pq.as_str() == "/");
        if uri.scheme() != Some(&Scheme::HTTP) || !path_is_empty {
            return Err(invalid());
        }
        let upstream = uri.authority().cloned().ok_or_else(invalid)?;

        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;

        let (release, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            arrived_async: Notify::new(),
            release,
        });

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gludb-fault-proxy")
            .enable_all()
            .build()?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("gludb-fault-proxy-{}", addr.port()))
                .spawn(move || {
                    runtime.block_on(serve(listener, shared, shutdown_rx));
                    // Drops every connection task, stalled ones included.
                    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
                })?
        };

        Ok(FaultProxy {
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT` (no trailing slash): the
    /// endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// [`S3Server::object_store_options`] with `aws_endpoint` replaced by
    /// this proxy's endpoint: the server's keys and bucket, through the proxy.
    pub fn object_store_options(&self, server: &S3Server) -> Vec<(String, String)> {
        server
            .object_store_options()
            .into_iter()
            .map(|(key, value)| {
                if key == "aws_endpoint" {
                    (key, self.endpoint())
                } else {
                    (key, value)
                }
            })
            .collect()
    }

    /// Adds a rule. It applies to requests that arrive from now on; rules
    /// are checked in the order they were injected.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().rules.push(Rule {
            fault,
            matched: 0,
            fired: 0,
        });
    }

    /// Removes every rule and releases the requests held by a
    /// [`FaultAction::Stall`] (they are then forwarded). Counts are kept.
    pub fn clear(&self) {
        let mut state = self.shared.lock();
        state.rules.clear();
        // Under the lock, so a request that picked a stall before this sees the change.
        self.shared
            .release
            .send_modify(|generation| *generation += 1);
    }

    /// How many requests of this kind have arrived so far, faulted or not.
    pub fn seen(&self, kind: RequestKind) -> usize {
        self.shared.lock().seen.get(&kind).copied().unwrap_or(0)
    }

    /// How many requests have arrived so far, of any kind.
    pub fn seen_total(&self) -> usize {
        self.shared.lock().log.len()
    }

    /// How many times a fault has fired so far (all rules, cleared ones included).
    pub fn fired(&self) -> usize {
        self.shared.lock().fired
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.lock().log.clone()
    }

    /// Blocks until at least `n` requests of `kind` have arrived (counting
    /// from the proxy's start), or `timeout` has passed; returns whether they
    /// did.
    ///
    /// Fine from synchronous code and from a multi-threaded runtime (it blocks
    /// one worker); on a current-thread runtime use
    /// [`FaultProxy::wait_for_async`], or the client tasks that should send
    /// the requests cannot run.
    pub fn wait_for(&self, kind: RequestKind, n: usize, timeout: Duration) -> bool {
        let start = std::time::Instant::now();
        let mut state = self.shared.lock();
        loop {
            if state.seen.get(&kind).copied().unwrap_or(0) >= n {
                return true;
            }
            let Some(left) = timeout.checked_sub(start.elapsed()) else {
                return false;
            };
            state = match self.shared.arrived.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// [`FaultProxy::wait_for`] for async code: waits without blocking the
    /// thread. Needs a tokio runtime with the time driver (any `#[tokio::test]`).
    pub async fn wait_for_async(&self, kind: RequestKind, n: usize, timeout: Duration) -> bool {
        let arrived = async {
            loop {
                let notified = self.shared.arrived_async.notified();
                let mut notified = std::pin::pin!(notified);
                // Register before checking, so an arrival in between is not missed.
                notified.as_mut().enable();
                if self.seen(kind) >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, arrived).await.is_ok()
    }
}

impl Drop for FaultProxy {
    /// Stops accepting connections, cuts the open ones (stalled requests
    /// included) and joins the proxy's thread.
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // An error means the proxy loop already ended: nothing to stop.
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the proxy thread has already been reported on stderr.
            let _ = thread.join();
        }
    }
}

/// State shared by the [`FaultProxy`] handle and its connections.
#[derive(Debug)]
struct Shared {
    /// `host:port` of the server requests are forwarded to.
    upstream: Authority,
    state: Mutex<State>,
    /// Signalled on every arrival, for [`FaultProxy::wait_for`].
    arrived: Condvar,
    /// Notified on every arrival, for [`FaultProxy::wait_for_async`].
    arrived_async: Notify,
    /// Bumped by [`FaultProxy::clear`]: releases stalled requests.
    release: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    seen: HashMap<RequestKind, usize>,
    fired: usize,
    log: Vec<SeenRequest>,
}

/// An injected [`Fault`] and its counters.
#[derive(Debug)]
struct Rule {
    fault: Fault,
    /// Requests of the rule's kind since it was injected.
    matched: usize,
    /// Times it fired.
    fired: usize,
}

impl Shared {
    /// The state, even if a thread panicked while holding the lock (counters
    /// and rules stay meaningful: every update is a single step).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an arriving request, picks the fault to apply (if any), wakes
    /// the waiters. The receiver tells a stall when [`FaultProxy::clear`] ran.
    fn arrive(
        &self,
        kind: RequestKind,
        request: &Request<Incoming>,
    ) -> (Option<FaultAction>, watch::Receiver<u64>) {
        let mut state = self.lock();
        *state.seen.entry(kind).or_default() += 1;
        let mut action = None;
        for rule in &mut state.rules {
            if rule.fault.kind.is_some_and(|k| k != kind) {
                continue;
            }
            rule.matched += 1;
            let due = rule.matched > rule.fault.after
                && rule.fault.times.is_none_or(|times| rule.fired < times);
            if due && action.is_none() {
                rule.fired += 1;
                action = Some(rule.fault.action);
            }
        }
        if action.is_some() {
            state.fired += 1;
        }
        state.log.push(SeenRequest {
            kind,
            method: request.method().as_str().to_owned(),
            path_and_query: path_and_query(request).to_owned(),
            range: request
                .headers()
                .get(RANGE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            fault: action,
        });
        let release = self.release.subscribe();
        drop(state);
        self.arrived.notify_all();
        self.arrived_async.notify_waiters();
        (action, release)
    }
}

/// The request target, `/` if the URI has none.
fn path_and_query(request: &Request<Incoming>) -> &str {
    request.uri().path_and_query().map_or("/", |pq| pq.as_str())
}

/// Accepts connections until `shutdown` fires (or its sender is dropped).
/// Open connections are not waited for: the runtime's shutdown drops them.
async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let Some(listener) = crate::accept::register(listener, "fault proxy") else {
        return;
    };
    // Header names keep their case both ways (hyper lowercases them otherwise).
    let client = Client::builder(TokioExecutor::new())
        .http1_preserve_header_case(true)
        .build_http::<Incoming>();
    while let Some(socket) = crate::accept::next_connection(&listener, &mut shutdown).await {
        let reset = Arc::new(AtomicBool::new(false));
        let connection = Arc::new(Connection {
            shared: Arc::clone(&shared),
            client: client.clone(),
            reset: Arc::clone(&reset),
        });
        let service = hyper::service::service_fn(move |request| {
            let connection = Arc::clone(&connection);
            async move { connection.handle(request).await }
        });
        let io = TokioIo::new(ResettableStream {
            stream: socket,
            reset,
        });
        tokio::spawn(async move {
            // Errors are expected: faults cut connections, clients give up.
            let _ = hyper::server::conn::http1::Builder::new()
                .preserve_header_case(true)
                .serve_connection(io, service)
                .await;
        });
    }
}

/// One client connection to the proxy.
struct Connection {
    shared: Arc<Shared>,
    client: Client<HttpConnector, Incoming>,
    /// Set to make the connection end with a TCP reset when it is dropped.
    reset: Arc<AtomicBool>,
}

impl Connection {
    /// Handles one request: forwards it, or applies the fault picked for it.
    ///
    /// An `Err` makes hyper drop the connection without answering (with a
    /// reset if `self.reset` is set).
    async fn handle(&self, request: Request<Incoming>) -> Result<Response<ProxyBody>, ProxyError> {
        let kind = RequestKind::classify(request.method().as_str(), path_and_query(&request));
        let (action, release) = self.shared.arrive(kind, &request);
        match action {
            None => self.forward(request).await,
            Some(FaultAction::Stall(duration)) => {
                stall(duration, release).await;
                self.forward(request).await
            }
            Some(FaultAction::Status(code)) => {
                let head = request.method() == Method::HEAD;
                drain(request.into_body()).await;
                Ok(s3_error_response(code, head))
            }
            Some(FaultAction::ResetMidBody) => {
                if request.body().is_end_stream() {
                    let response = self.forward(request).await?;
                    self.cut(response, Cut::Reset).await
                } else {
                    read_about_half(request.into_body()).await;
                    self.reset.store(true, Ordering::SeqCst);
                    Err(ProxyError(
                        "FaultProxy: connection reset in the middle of the request body".into(),
                    ))
                }
            }
            Some(FaultAction::TruncateBody) => {
                let response = self.forward(request).await?;
                self.cut(response, Cut::Close).await
            }
        }
    }

    /// Sends the request upstream unchanged (only the URI gains the upstream
    /// authority; the `Host` header stays the client's); a failure to reach
    /// the upstream becomes `502 Bad Gateway`.
    async fn forward(&self, request: Request<Incoming>) -> Result<Response<ProxyBody>, ProxyError> {
        let (mut parts, body) = request.into_parts();
        let mut uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.shared.upstream.clone());
        if let Some(pq) = parts.uri.path_and_query() {
            uri = uri.path_and_query(pq.clone());
        }
        parts.uri = uri
            .build()
            .map_err(|e| ProxyError(format!("FaultProxy: bad upstream URI: {e}")))?;
        match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => Ok(response.map(|body| {
                body.map_err(|e| ProxyError(format!("upstream response body: {e}")))
                    .boxed()
            })),
            Err(e) => Ok(xml_error(
                StatusCode::BAD_GATEWAY,
                "BadGateway",
                &format!("FaultProxy cannot reach the upstream server: {e}"),
                false,
            )),
        }
    }

    /// Sends `response`'s headers (with the full `Content-Length`) and the
    /// first half of its body, then ends the connection as `cut` says.
    async fn cut(
        &self,
        response: Response<ProxyBody>,
        cut: Cut,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        if cut == Cut::Reset {
            self.reset.store(true, Ordering::SeqCst);
        }
        let (mut parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return Err(e),
        };
        if body.is_empty() {
            return Err(ProxyError(
                "FaultProxy: response cut before it was sent".into(),
            ));
        }
        parts.headers.remove(TRANSFER_ENCODING);
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let half = body.slice(..body.len() / 2);
        let body = CutBody {
            first: Some(half),
            pause: Box::pin(tokio::time::sleep(FLUSH_BEFORE_CUT)),
            cut,
        };
        Ok(Response::from_parts(parts, body.boxed()))
    }
}

/// How a cut body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Body ends early: hyper sees fewer bytes than `Content-Length` and
    /// closes the connection (FIN).
    Close,
    /// Body fails: hyper drops the connection, whose socket resets it (RST).
    Reset,
}

/// A response body that yields one chunk, pauses, then ends as its [`Cut`] says.
struct CutBody {
    first: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
    cut: Cut,
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = ProxyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ProxyError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        match self.cut {
            Cut::Close => Poll::Ready(None),
            Cut::Reset => Poll::Ready(Some(Err(ProxyError(
                "FaultProxy: connection reset in the middle of the response body".into(),
            )))),
        }
    }
}

/// Waits `duration`, or until [`FaultProxy::clear`] bumps `release`.
async fn stall(duration: Duration, mut release: watch::Receiver<u64>) {
    let released = async {
        // An error means the proxy is going away: stop holding.
        let _ = release.changed().await;
    };
    match tokio::time::Instant::now().checked_add(duration) {
        Some(deadline) => {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = released => {}
            }
        }
        None => released.await,
    }
}

/// Reads and discards the whole body (errors end it early).
async fn drain(mut body: Incoming) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// Reads about half of the body (by its `Content-Length`; at least one
/// chunk if the length is unknown), then stops.
async fn read_about_half(mut body: Incoming) {
    let target = body.size_hint().exact().map_or(1, |len| (len / 2).max(1));
    let mut read = 0u64;
    while read < target {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read += data.len() as u64;
                }
            }
            _ => return,
        }
    }
}

/// The answer to a [`FaultAction::Status`] fault.
fn s3_error_response(code: u16, head: bool) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (s3_code, message) = match status.as_u16() {
        503 => ("SlowDown", "Please reduce your request rate."),
        403 => ("AccessDenied", "Access Denied"),
        404 => ("NoSuchKey", "The specified key does not exist."),
        501 => (
            "NotImplemented",
            "A header you provided implies functionality that is not implemented.",
        ),
        // 500 and the other server errors.
        500..=599 => (
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        _ => ("InvalidRequest", "Invalid Request"),
    };
    xml_error(
        status,
        s3_code,
        &format!("{message} (injected by FaultProxy)"),
        head,
    )
}

/// An S3-style XML error response; no body for `HEAD` (as S3 does).
fn xml_error(status: StatusCode, code: &str, message: &str, head: bool) -> Response<ProxyBody> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><RequestId>gludb-fault-proxy</RequestId></Error>",
            xml_escape(message)
        ))
    };
    let mut response = Response::new(Full::new(body).map_err(|e: Infallible| match e {}).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// Escapes text for an XML element.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The proxy's side of a client connection: a TCP stream that is closed with
/// a reset (RST, `SO_LINGER` 0) instead of a FIN when dropped with `reset` set.
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // `SO_LINGER` with a zero timeout never blocks (the deprecation
            // warns about non-zero ones); failing to set it leaves a FIN.
            #[allow(deprecated)]
            let _ = self.stream.set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_path_style_s3_requests() {
        use RequestKind::*;
        let cases = [
            ("PUT", "/b/k", PutObject),
            ("PUT", "/b/dir/k.tar.gz", PutObject),
            ("POST", "/b/k?uploads", CreateMultipartUpload),
            ("POST", "/b/k?uploads=", CreateMultipartUpload),
            ("PUT", "/b/k?partNumber=3&uploadId=abc", UploadPart),
            ("POST", "/b/k?uploadId=abc", CompleteMultipartUpload),
            ("DELETE", "/b/k?uploadId=abc", AbortMultipartUpload),
            ("GET", "/b/k", GetObject),
            ("HEAD", "/b/k", HeadObject),
            ("GET", "/b?list-type=2&prefix=p%2F", ListObjects),
            ("GET", "/b/?list-type=2", ListObjects),
            ("GET", "/b", ListObjects),
            ("GET", "/b?uploads", ListMultipartUploads),
            ("GET", "/b?uploads&prefix=x", ListMultipartUploads),
            ("DELETE", "/b/k", DeleteObject),
            ("GET", "/b/k?uploadId=abc", Other), // ListParts
            ("GET", "/b?location", Other),       // GetBucketLocation
            ("PUT", "/b", Other),                // CreateBucket
            ("HEAD", "/b", Other),               // HeadBucket
            ("POST", "/b?delete", DeleteObjects),
            ("GET", "/", Other),                 // ListBuckets
            ("PUT", "/b/k?uploadId=abc", Other), // no part number
        ];
        for (method, target, kind) in cases {
            assert_eq!(
                RequestKind::classify(method, target),
                kind,
                "{method} {target}"
            );
        }
    }

    #[test]
    fn builder_defaults_to_firing_once() {
        let fault = Fault::on(RequestKind::GetObject).truncate_body();
        assert_eq!(
            fault,
            Fault {
                kind: Some(RequestKind::GetObject),
                after: 0,
                times: Some(1),
                action: FaultAction::TruncateBody
            }
        );
        let fault = Fault::on_any().after(2).always().stall_until_cleared();
        assert_eq!(fault.times, None);
        assert_eq!(fault.after, 2);
        assert_eq!(fault.action, FaultAction::Stall(Duration::MAX));
    }

    #[test]
    #[should_panic(expected = "not an HTTP error status")]
    fn status_must_be_an_error() {
        let _ = Fault::on_any().status(200);
    }

    #[test]
    fn rejects_upstreams_that_are_not_http_host_port() {
        for bad in [
            "https://127.0.0.1:9",
            "127.0.0.1:9",
            "http://127.0.0.1:9/bucket",
            "not a url",
        ] {
            let err = FaultProxy::start(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn error_bodies_are_s3_xml() {
        let response = s3_error_response(503, false);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("<Error><Code>SlowDown</Code><Message>"),
            "{body}"
        );
    }
}
