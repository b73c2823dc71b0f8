//! The fault proxy, for real: `object_store` → [`FaultProxy`] → [`S3Server`].
//!
//! Each test shows one fault and what `object_store` 0.14 does about it; the
//! `eprintln!` lines are there to be read with `--nocapture` (they document
//! the client's behaviour for the reliability suite).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gludb_testkit::fault::SeenRequest;
use gludb_testkit::{Fault, FaultAction, FaultProxy, RequestKind, S3Server};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

const KEY: &str = "testkit-access";
const SECRET: &str = "testkit-secret-0123456789";
const BUCKET: &str = "gludb-test";

/// Client settings for a test: request timeout and retries (fast backoff).
struct Client {
    timeout: Duration,
    max_retries: usize,
    retry_timeout: Duration,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        }
    }
}

fn store_via(proxy: &FaultProxy, server: &S3Server, client: Client) -> Arc<dyn ObjectStore> {
    store_with_options(proxy.object_store_options(server), server, client)
}

fn store_with_options(
    options: Vec<(String, String)>,
    server: &S3Server,
    client: Client,
) -> Arc<dyn ObjectStore> {
    // rustls without a built-in provider in a workspace build: use ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(server.bucket())
        .with_client_options(ClientOptions::new().with_timeout(client.timeout))
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(100),
                base: 2.0,
            },
            max_retries: client.max_retries,
            retry_timeout: client.retry_timeout,
        });
    for (key, value) in options {
        let key: AmazonS3ConfigKey = key.parse().unwrap();
        builder = builder.with_config(key, value);
    }
    Arc::new(builder.build().unwrap())
}

/// Deterministic, non-repeating-looking bytes.
fn data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_F491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn start() -> (S3Server, FaultProxy) {
    let server = S3Server::start(KEY, SECRET, BUCKET).unwrap();
    let proxy = FaultProxy::start(&server.endpoint()).unwrap();
    (server, proxy)
}

fn faults(requests: &[SeenRequest]) -> Vec<Option<FaultAction>> {
    requests.iter().map(|r| r.fault).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_requests_pass_unchanged_and_signatures_still_verify() {
    let (server, proxy) = start();
    assert!(proxy.endpoint().starts_with("http://127.0.0.1:"));
    assert_ne!(proxy.endpoint(), server.endpoint());
    let store = store_via(&proxy, &server, Client::default());

    let key = Path::from("dir/clean.bin");
    let body = data(300_000);
    store.put(&key, body.clone().into()).await.unwrap();
    let got = store.get(&key).await.unwrap().bytes().await.unwrap();
    assert!(
        got.as_ref() == body.as_slice(),
        "the object reads back identical"
    );
    assert_eq!(store.head(&key).await.unwrap().size, body.len() as u64);
    assert_eq!(
        std::fs::read(server.object_path("dir/clean.bin")).unwrap(),
        body
    );

    assert_eq!(proxy.seen(RequestKind::PutObject), 1);
    assert_eq!(proxy.seen(RequestKind::GetObject), 1);
    assert_eq!(proxy.seen(RequestKind::HeadObject), 1);
    assert_eq!(proxy.seen_total(), 3);
    assert_eq!(proxy.fired(), 0);
    let requests = proxy.requests();
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(requests[0].path_and_query, "/gludb-test/dir/clean.bin");
    assert_eq!(faults(&requests), [None, None, None]);

    // The server still checks signatures behind the proxy: a wrong secret is refused.
    let mut options = proxy.object_store_options(&server);
    for (key, value) in &mut options {
        if key == "aws_secret_access_key" {
            *value = "not-the-secret".to_owned();
        }
    }
    let wrong = store_with_options(options, &server, Client::default());
    let err = wrong
        .put(&Path::from("evil"), b"evil".to_vec().into())
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::PermissionDenied { .. }),
        "{err:?}"
    );
    assert_eq!(server.objects(), ["dir/clean.bin"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_down_twice_then_the_put_succeeds_by_retrying() {
    let (server, proxy) = start();
    let store = store_via(&proxy, &server, Client::default());
    proxy.inject(Fault::on(RequestKind::PutObject).times(2).status(503));

    let body = data(10_000);
    store
        .put(&Path::from("retried"), body.clone().into())
        .await
        .unwrap();
    assert_eq!(std::fs::read(server.object_path("retried")).unwrap(), body);
    assert_eq!(
        proxy.seen(RequestKind::PutObject),
        3,
        "two 503s, then the retry that worked"
    );
    assert_eq!(proxy.fired(), 2);
    assert_eq!(
        faults(&proxy.requests()),
        [
            Some(FaultAction::Status(503)),
            Some(FaultAction::Status(503)),
            None
        ]
    );

    // `after`: the first GET passes, the second gets a 500 and is retried.
    proxy.inject(Fault::on(RequestKind::GetObject).after(1).status(500));
    for _ in 0..2 {
        let got = store
            .get(&Path::from("retried"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(got.as_ref() == body.as_slice());
    }
    assert_eq!(proxy.seen(RequestKind::GetObject), 3);
    assert_eq!(proxy.fired(), 3);

    // More 503s than retries: the error surfaces, after max_retries + 1 requests.
    proxy.inject(Fault::on(RequestKind::PutObject).always().status(503));
    let t = Instant::now();
    let err = store
        .put(&Path::from("never"), b"x".to_vec().into())
        .await
        .unwrap_err();
    eprintln!(
        "put under permanent 503 failed after {:?}: {err}",
        t.elapsed()
    );
    assert!(err.to_string().contains("SlowDown"), "{err}");
    assert_eq!(
        proxy.seen(RequestKind::PutObject),
        3 + 4,
        "1 try + 3 retries"
    );
    assert!(!server.objects().contains(&"never".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_is_a_permission_error_and_not_retried() {
    let (server, proxy) = start();
    let store = store_via(&proxy, &server, Client::default());
    proxy.inject(Fault::on(RequestKind::PutObject).always().status(403));

    let err = store
        .put(&Path::from("denied"), b"data".to_vec().into())
        .await
        .unwrap_err();
    eprintln!("put under 403: {err:?}");
    assert!(
        matches!(err, object_store::Error::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert_eq!(proxy.seen(RequestKind::PutObject), 1, "4xx is not retried");
    assert_eq!(proxy.fired(), 1);
    assert!(server.objects().is_empty());

    // A 403 on HEAD has no body, and is still a permission error.
    proxy.inject(Fault::on(RequestKind::HeadObject).status(403));
    let err = store.head(&Path::from("denied")).await.unwrap_err();
    assert!(
        matches!(err, object_store::Error::PermissionDenied { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_get_is_resumed_or_fails_but_never_returns_short_data() {
    let (server, proxy) = start();
    let store = store_via(&proxy, &server, Client::default());
    let key = Path::from("truncated.bin");
    let body = data(1024 * 1024 + 7);
    store.put(&key, body.clone().into()).await.unwrap();

    // Once: object_store notices the early end and resumes with a Range request.
    proxy.inject(Fault::on(RequestKind::GetObject).truncate_body());
    let got = store.get(&key).await.unwrap().bytes().await;
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::GetObject)
        .collect();
    eprintln!("GETs for one truncated read: {gets:#?}");
    let got = got.unwrap();
    assert_eq!(got.len(), body.len(), "no short read reported as success");
    assert!(got.as_ref() == body.as_slice());
    assert_eq!(gets.len(), 2, "the cut GET, then one resuming GET");
    assert_eq!(gets[0].range, None);
    // object_store asks for exactly the missing bytes: `bytes=<received>-<last>`.
    let (resumed_from, last): (usize, usize) = gets[1]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(start, end)| Some((start.parse().ok()?, end.parse().ok()?)))
        .unwrap_or_else(|| panic!("resume with a Range: {:?}", gets[1].range));
    assert_eq!(last, body.len() - 1);
    assert!(
        resumed_from <= body.len() / 2,
        "resumed from {resumed_from}"
    );

    // Always: every try is cut; the read fails instead of returning fewer bytes.
    proxy.clear();
    proxy.inject(Fault::on(RequestKind::GetObject).always().truncate_body());
    let before = proxy.seen(RequestKind::GetObject);
    let result = match store.get(&key).await {
        Ok(get) => get.bytes().await,
        Err(e) => Err(e),
    };
    let tries = proxy.seen(RequestKind::GetObject) - before;
    match result {
        Ok(bytes) => panic!(
            "a read cut every time returned Ok with {} of {} bytes",
            bytes.len(),
            body.len()
        ),
        Err(err) => eprintln!("read cut on every try ({tries} GETs): {err}"),
    }
    assert!(tries >= 2, "it retried ({tries} GETs)");

    // Without retries, the first cut is the error.
    let no_retries = store_via(
        &proxy,
        &server,
        Client {
            max_retries: 0,
            ..Client::default()
        },
    );
    let before = proxy.seen(RequestKind::GetObject);
    let result = match no_retries.get(&key).await {
        Ok(get) => get.bytes().await,
        Err(e) => Err(e),
    };
    let err = result.expect_err("a truncated body must be an error");
    eprintln!("truncated read without retries: {err:?}");
    assert_eq!(proxy.seen(RequestKind::GetObject) - before, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_in_the_middle_of_an_upload_part_is_retried_and_the_upload_completes() {
    let (server, proxy) = start();
    let store = store_via(&proxy, &server, Client::default());
    proxy.inject(Fault::on(RequestKind::UploadPart).reset_mid_body());

    let key = Path::from("multi/part.bin");
    let part1 = data(5 * 1024 * 1024);
    let part2 = data(1000);
    let mut upload = store.put_multipart(&key).await.unwrap();
    upload.put_part(part1.clone().into()).await.unwrap();
    upload.put_part(part2.clone().into()).await.unwrap();
    upload.complete().await.unwrap();

    let stored = std::fs::read(server.object_path("multi/part.bin")).unwrap();
    assert!(stored.len() == part1.len() + part2.len());
    assert!(stored[..part1.len()] == part1[..] && stored[part1.len()..] == part2[..]);
    assert!(
        server.orphaned_parts().is_empty(),
        "{:?}",
        server.orphaned_parts()
    );
    assert_eq!(proxy.seen(RequestKind::CreateMultipartUpload), 1);
    assert_eq!(
        proxy.seen(RequestKind::UploadPart),
        3,
        "part 1 was sent twice"
    );
    assert_eq!(proxy.seen(RequestKind::CompleteMultipartUpload), 1);
    assert_eq!(proxy.fired(), 1);
    let parts: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::UploadPart)
        .collect();
    eprintln!("UploadPart requests: {parts:#?}");
    assert_eq!(parts[0].fault, Some(FaultAction::ResetMidBody));
    assert_eq!(
        parts[0].path_and_query, parts[1].path_and_query,
        "the same part, retried"
    );

    // A PutObject cut mid-body is retried the same way.
    proxy.inject(Fault::on(RequestKind::PutObject).reset_mid_body());
    let body = data(200_000);
    store
        .put(&Path::from("put-reset"), body.clone().into())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(server.object_path("put-reset")).unwrap(),
        body
    );
    assert_eq!(proxy.seen(RequestKind::PutObject), 2);

    // A GET whose response is reset mid-body is resumed like a truncated one.
    proxy.inject(Fault::on(RequestKind::GetObject).reset_mid_body());
    let got = store.get(&key).await.unwrap().bytes().await.unwrap();
    assert!(got.len() == stored.len() && got.as_ref() == stored.as_slice());
    assert_eq!(proxy.seen(RequestKind::GetObject), 2);
    eprintln!(
        "GET after a reset: {:?}",
        proxy
            .requests()
            .iter()
            .filter(|r| r.kind == RequestKind::GetObject)
            .map(|r| (r.range.clone(), r.fault))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_complete_answer_is_an_error_although_the_object_exists() {
    // The server completes the upload, but the client never sees the answer:
    // object_store reads the body of a CompleteMultipartUpload answer (to
    // spot a 200 with an error inside) and does not retry a failed read.
    let (server, proxy) = start();
    let store = store_via(&proxy, &server, Client::default());
    proxy.inject(Fault::on(RequestKind::CompleteMultipartUpload).truncate_body());

    let key = Path::from("lost-answer.bin");
    let mut upload = store.put_multipart(&key).await.unwrap();
    upload.put_part(data(5 * 1024 * 1024).into()).await.unwrap();
    upload.put_part(data(10).into()).await.unwrap();
    let err = upload
        .complete()
        .await
        .expect_err("the answer was cut, so complete() cannot know it worked");
    eprintln!("complete() whose answer was cut: {err:?}");
    assert_eq!(
        proxy.seen(RequestKind::CompleteMultipartUpload),
        1,
        "not retried"
    );
    // Yet the server did complete the upload.
    assert_eq!(server.objects(), ["lost-answer.bin"]);
    assert!(server.orphaned_parts().is_empty());
    assert_eq!(
        store.head(&key).await.unwrap().size,
        5 * 1024 * 1024 + 10,
        "a HEAD tells the truth"
    );

    // Through BufWriter: shutdown() fails, then it aborts the finished upload.
    proxy.inject(Fault::on(RequestKind::CompleteMultipartUpload).truncate_body());
    let key = Path::from("lost-answer-bufwriter.bin");
    let mut writer = object_store::buffered::BufWriter::with_capacity(
        Arc::clone(&store),
        key.clone(),
        5 * 1024 * 1024,
    );
    use tokio::io::AsyncWriteExt;
    writer.write_all(&data(6 * 1024 * 1024)).await.unwrap();
    let result = writer.shutdown().await;
    eprintln!(
        "BufWriter::shutdown() whose complete answer was cut: {result:?}; aborts sent: {}; objects: {:?}",
        proxy.seen(RequestKind::AbortMultipartUpload),
        server.objects()
    );
    assert!(result.is_err());
    assert_eq!(proxy.seen(RequestKind::AbortMultipartUpload), 1);
    assert_eq!(
        server.objects(),
        ["lost-answer-bufwriter.bin", "lost-answer.bin"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stall_longer_than_the_client_timeout_fails_in_bounded_time() {
    let (server, proxy) = start();
    let key = Path::from("stalled");
    let body = data(1000);
    store_via(&proxy, &server, Client::default())
        .put(&key, body.clone().into())
        .await
        .unwrap();

    let impatient = store_via(
        &proxy,
        &server,
        Client {
            timeout: Duration::from_secs(1),
            max_retries: 1,
            retry_timeout: Duration::from_secs(10),
        },
    );
    proxy.inject(
        Fault::on(RequestKind::GetObject)
            .always()
            .stall_until_cleared(),
    );
    let t = Instant::now();
    let err = impatient.get(&key).await.unwrap_err();
    let elapsed = t.elapsed();
    eprintln!("GET stalled forever failed after {elapsed:?}: {err}");
    assert!(
        elapsed >= Duration::from_secs(2),
        "two tries of 1 s: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert_eq!(
        proxy.seen(RequestKind::GetObject),
        2,
        "a timed-out GET is retried once"
    );

    // A PUT (object_store marks it idempotent) is retried after a timeout too.
    proxy.inject(
        Fault::on(RequestKind::PutObject)
            .always()
            .stall(Duration::from_secs(30)),
    );
    let t = Instant::now();
    let err = impatient
        .put(&Path::from("stalled-put"), b"x".to_vec().into())
        .await
        .unwrap_err();
    eprintln!("PUT stalled 30 s failed after {:?}: {err}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(6));
    assert_eq!(proxy.seen(RequestKind::PutObject), 1 + 2);

    // clear() releases held requests and removes the rules: reads work again.
    proxy.clear();
    let got = impatient.get(&key).await.unwrap().bytes().await.unwrap();
    assert!(got.as_ref() == body.as_slice());

    // clear() also lets a request held right now go on: it is forwarded.
    proxy.inject(Fault::on(RequestKind::GetObject).stall_until_cleared());
    let patient = store_via(&proxy, &server, Client::default());
    let before = proxy.seen(RequestKind::GetObject);
    let held = tokio::spawn(async move {
        let t = Instant::now();
        let got = patient.get(&Path::from("stalled")).await?.bytes().await;
        got.map(|bytes| (bytes, t.elapsed()))
    });
    assert!(
        proxy
            .wait_for_async(RequestKind::GetObject, before + 1, Duration::from_secs(10))
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "the GET is held");
    proxy.clear();
    let (got, waited) = held.await.unwrap().unwrap();
    assert!(got.as_ref() == body.as_slice());
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert_eq!(
        proxy.seen(RequestKind::GetObject),
        before + 1,
        "released, not retried"
    );

    // A request stalled "forever" does not make the proxy's drop hang.
    proxy.inject(Fault::on(RequestKind::GetObject).stall_until_cleared());
    let patient = store_via(&proxy, &server, Client::default());
    let before = proxy.seen(RequestKind::GetObject);
    let pending =
        tokio::spawn(async move { patient.get(&Path::from("stalled")).await.map(|_| ()) });
    assert!(
        proxy
            .wait_for_async(RequestKind::GetObject, before + 1, Duration::from_secs(10))
            .await
    );
    let t = Instant::now();
    drop(proxy);
    eprintln!(
        "FaultProxy::drop with a stalled request took {:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let result = tokio::time::timeout(Duration::from_secs(30), pending)
        .await
        .expect("the stalled client request ends once the proxy is gone")
        .unwrap();
    eprintln!("the stalled GET, proxy dropped: {result:?}");
    assert!(result.is_err());
}

#[test]
fn wait_for_blocks_until_requests_arrive_or_times_out() {
    let (_server, proxy) = start();
    let addr = proxy.endpoint().trim_start_matches("http://").to_owned();
    assert!(!proxy.wait_for(RequestKind::GetObject, 1, Duration::from_millis(100)));

    // An unsigned GET still counts (the server refuses it with 403).
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "GET /{BUCKET}/some/key HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    });
    let t = Instant::now();
    assert!(proxy.wait_for(RequestKind::GetObject, 1, Duration::from_secs(10)));
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    let response = sender.join().unwrap();
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(proxy.seen(RequestKind::GetObject), 1);
    assert_eq!(proxy.seen(RequestKind::PutObject), 0);

    let t = Instant::now();
    assert!(!proxy.wait_for(RequestKind::GetObject, 2, Duration::from_millis(300)));
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "current_thread")]
async fn wait_for_async_works_on_a_current_thread_runtime() {
    let (server, proxy) = start();
    let store = store_via(&proxy, &server, Client::default());
    let put = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        store.put(&Path::from("async"), b"x".to_vec().into()).await
    });
    assert!(
        proxy
            .wait_for_async(RequestKind::PutObject, 1, Duration::from_secs(10))
            .await
    );
    put.await.unwrap().unwrap();
    assert!(
        !proxy
            .wait_for_async(RequestKind::PutObject, 2, Duration::from_millis(200))
            .await
    );
}

/// Sends raw bytes on a new connection to the proxy and reads until EOF or
/// error: (bytes read, how the read ended).
fn raw_exchange(proxy: &FaultProxy, request: &[u8]) -> (Vec<u8>, io::Result<()>) {
    let addr = proxy.endpoint().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A write may fail already if the proxy reset the connection meanwhile.
    let written = stream.write_all(request);
    let mut response = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let end = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    (response, written.and(end))
}

/// The `Content-Length` of a raw response and the length of its body.
fn lengths(response: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let declared = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("Content-Length")
        .parse()
        .unwrap();
    (declared, body.len())
}

#[test]
fn truncate_closes_cleanly_and_reset_mid_body_resets_the_connection() {
    let (_server, proxy) = start();
    let addr = proxy.endpoint().trim_start_matches("http://").to_owned();
    // Unsigned, so the server answers 403 with an XML body: enough to cut.
    let get = format!("GET /{BUCKET}/k HTTP/1.1\r\nHost: {addr}\r\n\r\n");

    proxy.inject(Fault::on(RequestKind::GetObject).truncate_body());
    let (response, end) = raw_exchange(&proxy, get.as_bytes());
    let (declared, received) = lengths(&response);
    eprintln!("truncated: Content-Length {declared}, received {received}, end {end:?}");
    assert!(end.is_ok(), "a clean close (FIN): {end:?}");
    assert_eq!(received, declared / 2);

    proxy.inject(Fault::on(RequestKind::GetObject).reset_mid_body());
    let (response, end) = raw_exchange(&proxy, get.as_bytes());
    eprintln!(
        "reset mid-response: {} bytes received, end {end:?}",
        response.len()
    );
    let err = end.expect_err("the connection is reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");

    // A request body cut in the middle: the proxy reads about half, forwards
    // nothing, answers nothing and resets.
    let len = 4 * 1024 * 1024;
    let mut put =
        format!("PUT /{BUCKET}/k HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\r\n")
            .into_bytes();
    put.extend(std::iter::repeat_n(b'x', len));
    proxy.inject(Fault::on(RequestKind::PutObject).reset_mid_body());
    let (response, end) = raw_exchange(&proxy, &put);
    eprintln!(
        "reset mid-request: {} bytes received, end {end:?}",
        response.len()
    );
    assert!(response.is_empty(), "no answer");
    let err = end.expect_err("the connection is reset");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{err:?}"
    );
    assert_eq!(proxy.fired(), 3);
}

#[test]
fn forwards_request_and_response_heads_byte_for_byte() {
    // A bare TCP upstream, to see exactly what the proxy sends.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let received = std::thread::spawn(move || {
        let (mut socket, _) = upstream.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            socket.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let mut body = [0u8; 5];
        socket.read_exact(&mut body).unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\nX-Amz-Request-Id: ABC\r\nETag: \"e\"\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        (String::from_utf8(head).unwrap(), body)
    });

    let proxy = FaultProxy::start(&format!("http://{upstream_addr}")).unwrap();
    let addr = proxy.endpoint().trim_start_matches("http://").to_owned();
    let head = format!(
        "PUT /{BUCKET}/dir/k%20x?x-id=PutObject HTTP/1.1\r\n\
         Host: {addr}\r\n\
         X-Amz-Date: 20260101T000000Z\r\n\
         x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00\r\n\
         x-amz-meta-Mixed:   spaced  value\r\n\
         Content-Length: 5\r\n\r\n"
    );
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"hello").unwrap();
    let mut response = vec![0u8; 4096];
    let n = stream.read(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response[..n]).into_owned();

    let (forwarded, body) = received.join().unwrap();
    // HTTP strips the optional whitespace around a header value.
    assert_eq!(
        forwarded,
        head.replace(
            "x-amz-meta-Mixed:   spaced  value",
            "x-amz-meta-Mixed: spaced  value"
        )
    );
    assert_eq!(&body, b"hello");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("X-Amz-Request-Id: ABC\r\n"), "{response}");
    assert!(response.contains("ETag: \"e\"\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nok"), "{response}");
    assert_eq!(proxy.seen(RequestKind::PutObject), 1);
}
