//! The S3 server, for real: raw unsigned HTTP and signed `object_store` requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use gludb_testkit::S3Server;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer, AwsCredential};
use object_store::buffered::BufWriter;
use object_store::client::HttpRequestBody;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

const KEY: &str = "testkit-access";
const SECRET: &str = "testkit-secret-0123456789";
const BUCKET: &str = "gludb-test";

fn store(server: &S3Server, secret: &str) -> Arc<dyn ObjectStore> {
    // rustls without a built-in provider in a workspace build: use ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::new().with_bucket_name(server.bucket());
    for (key, value) in server.object_store_options() {
        let key: AmazonS3ConfigKey = key.parse().unwrap();
        let value = if key == AmazonS3ConfigKey::SecretAccessKey {
            secret.to_owned()
        } else {
            value
        };
        builder = builder.with_config(key, value);
    }
    Arc::new(builder.build().unwrap())
}

/// Sends a raw, unsigned HTTP/1.1 request and returns the whole response.
fn raw_request(server: &S3Server, method: &str, path: &str) -> String {
    let addr = server.endpoint().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Deterministic, non-repeating-looking bytes.
fn data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Waits (at most 30 s) until a multipart upload has stored a part: an
/// upload is only in flight, to be aborted or dropped, once one has.
async fn wait_for_an_uploaded_part(server: &S3Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.orphaned_parts().iter().any(|f| f.contains(".part-")) {
        assert!(
            Instant::now() < deadline,
            "no part was uploaded: {:?}",
            server.orphaned_parts()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn starts_without_a_runtime_refuses_unsigned_requests_and_has_the_bucket() {
    let t = Instant::now();
    let server = S3Server::start(KEY, SECRET, BUCKET).unwrap();
    eprintln!("S3Server::start took {:?}", t.elapsed());

    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(server.bucket(), BUCKET);
    assert_eq!(server.access_key(), KEY);
    assert_eq!(server.secret_key(), SECRET);
    assert!(
        server.root_dir().join(BUCKET).is_dir(),
        "the bucket directory exists"
    );
    assert_eq!(
        server.object_path("a/b.txt"),
        server.root_dir().join(BUCKET).join("a").join("b.txt")
    );
    assert!(server.objects().is_empty());
    assert!(server.orphaned_parts().is_empty());

    let options = server.object_store_options();
    let get = |k: &str| {
        options
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("aws_access_key_id"), Some(KEY));
    assert_eq!(get("aws_secret_access_key"), Some(SECRET));
    assert_eq!(get("aws_endpoint"), Some(server.endpoint().as_str()));
    assert_eq!(get("aws_allow_http"), Some("true"));
    assert_eq!(get("aws_region"), Some("us-east-1"));

    // An unsigned object write/read and bucket listing must be refused.
    std::fs::write(server.object_path("secret.txt"), b"top secret").unwrap();
    for (method, path) in [
        ("GET", format!("/{BUCKET}/secret.txt")),
        ("GET", format!("/{BUCKET}?list-type=2")),
        ("PUT", format!("/{BUCKET}/new.txt")),
        ("GET", "/".to_owned()),
    ] {
        let response = raw_request(&server, method, &path);
        let status = response.lines().next().unwrap_or_default();
        assert!(
            status.starts_with("HTTP/1.1 403"),
            "{method} {path}: {response}"
        );
        assert!(
            response.contains("AccessDenied"),
            "{method} {path}: {response}"
        );
        assert!(!response.contains("top secret"));
    }
    assert_eq!(server.objects(), ["secret.txt"]);

    let root = server.root_dir().to_owned();
    let t = Instant::now();
    drop(server);
    eprintln!("S3Server::drop took {:?}", t.elapsed());
    assert!(!root.exists(), "drop removes the data directory");
}

#[test]
fn rejects_invalid_bucket_names() {
    let err = S3Server::start(KEY, SECRET, "Not_A_Bucket").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn drop_does_not_hang_on_idle_connections() {
    let server = S3Server::start(KEY, SECRET, BUCKET).unwrap();
    let addr = server.endpoint().trim_start_matches("http://").to_owned();
    // One connection that never sends anything, one that is idle after a response.
    let _silent = TcpStream::connect(&addr).unwrap();
    let mut keep_alive = TcpStream::connect(&addr).unwrap();
    write!(keep_alive, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = [0; 512];
    keep_alive
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(keep_alive.read(&mut buf).unwrap() > 0);

    let t = Instant::now();
    drop(server);
    eprintln!(
        "S3Server::drop with idle connections took {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "drop took {:?}",
        t.elapsed()
    );
    // The port is closed.
    assert!(TcpStream::connect(&addr).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_requests_put_get_multipart_list_and_abort() {
    let server = S3Server::start(KEY, SECRET, BUCKET).unwrap();
    let store = store(&server, SECRET);

    // Plain put + get of a nested key.
    let small_key = "prefix/Backup_x.tar.gz";
    let small = data(100_000);
    store
        .put(&Path::from(small_key), small.clone().into())
        .await
        .unwrap();
    let got = store
        .get(&Path::from(small_key))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), small.as_slice());
    assert_eq!(std::fs::read(server.object_path(small_key)).unwrap(), small);
    assert_eq!(server.objects(), [small_key]);

    // Multipart upload of 12 MiB through BufWriter (10 MiB parts → 2 parts).
    let big_key = "prefix/nested/Backup_big.tar.gz";
    let big = data(12 * 1024 * 1024 + 123);
    let t = Instant::now();
    let mut writer = BufWriter::new(Arc::clone(&store), Path::from(big_key));
    for chunk in big.chunks(64 * 1024) {
        writer.write_all(chunk).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    eprintln!("12 MiB multipart upload took {:?}", t.elapsed());
    let meta = store.head(&Path::from(big_key)).await.unwrap();
    assert_eq!(meta.size, big.len() as u64);
    assert!(
        meta.e_tag.unwrap_or_default().contains("-2"),
        "a two-part multipart ETag"
    );
    let got = store
        .get(&Path::from(big_key))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        got.as_ref() == big.as_slice(),
        "multipart object reads back identical"
    );
    assert!(std::fs::read(server.object_path(big_key)).unwrap() == big);
    assert!(
        server.orphaned_parts().is_empty(),
        "{:?}",
        server.orphaned_parts()
    );

    // List (object_store returns no particular order).
    let mut listed: Vec<String> = store
        .list(Some(&Path::from("prefix")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    listed.sort();
    assert_eq!(listed, [small_key, big_key]);
    assert_eq!(server.objects(), [small_key, big_key]);

    // A wrong secret is refused and writes nothing.
    let wrong = store_with_wrong_secret(&server);
    let err = wrong
        .put(&Path::from("prefix/evil"), b"evil".to_vec().into())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("403") || msg.contains("SignatureDoesNotMatch"),
        "{msg}"
    );
    assert!(wrong.get(&Path::from(small_key)).await.is_err());
    assert_eq!(server.objects(), [small_key, big_key]);

    // An aborted multipart upload leaves no parts behind.
    let aborted_key = "prefix/aborted.tar.gz";
    let mut writer = BufWriter::new(Arc::clone(&store), Path::from(aborted_key));
    writer.write_all(&big).await.unwrap();
    wait_for_an_uploaded_part(&server).await;
    eprintln!("in flight: {:?}", server.orphaned_parts());
    writer.abort().await.unwrap();
    assert!(
        server.orphaned_parts().is_empty(),
        "{:?}",
        server.orphaned_parts()
    );
    assert_eq!(server.objects(), [small_key, big_key]);

    // A dropped (neither completed nor aborted) upload is reported.
    let mut writer = BufWriter::new(Arc::clone(&store), Path::from("prefix/dropped"));
    writer.write_all(&big).await.unwrap();
    wait_for_an_uploaded_part(&server).await;
    drop(writer);
    assert!(!server.orphaned_parts().is_empty());
    assert_eq!(server.objects(), [small_key, big_key]);
}

fn store_with_wrong_secret(server: &S3Server) -> Arc<dyn ObjectStore> {
    store(server, "not-the-secret")
}

/// Sends a GET signed (SigV4) with the server's keys; returns status and body.
async fn signed_get(server: &S3Server, path_and_query: &str) -> (u16, String) {
    let uri = format!("{}{path_and_query}", server.endpoint());
    let mut request = hyper::Request::get(&uri)
        .body(HttpRequestBody::empty())
        .unwrap();
    let credential = AwsCredential {
        key_id: KEY.to_owned(),
        secret_key: SECRET.to_owned(),
        token: None,
    };
    AwsAuthorizer::new(&credential, "s3", "us-east-1")
        .try_authorize(&mut request, None)
        .unwrap();
    let (parts, _) = request.into_parts();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client
        .request(hyper::Request::from_parts(parts, Empty::new()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The text of every `<tag>…</tag>` in `xml`, in order.
fn tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        found.push(rest[..end].to_owned());
        rest = &rest[end + close.len()..];
    }
    found
}

/// Upload ids of the in-flight uploads, from s3s-fs's `.upload-<id>.json` markers.
fn upload_markers(server: &S3Server) -> Vec<String> {
    server
        .orphaned_parts()
        .iter()
        .filter_map(|f| f.strip_prefix(".upload-")?.strip_suffix(".json"))
        .map(str::to_owned)
        .collect()
}

/// Starts a multipart upload (and uploads one part if `part`), returning it
/// and its upload id (the one new marker on disk).
async fn start_upload(
    server: &S3Server,
    store: &Arc<dyn ObjectStore>,
    key: &str,
    part: bool,
) -> (Box<dyn object_store::MultipartUpload>, String) {
    let before = upload_markers(server);
    let mut upload = store.put_multipart(&Path::from(key)).await.unwrap();
    if part {
        upload.put_part(data(1000).into()).await.unwrap();
    }
    let new: Vec<_> = upload_markers(server)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert_eq!(new.len(), 1, "one new upload for {key}: {new:?}");
    (upload, new[0].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn list_multipart_uploads_shows_uploads_in_flight_until_aborted() {
    let server = S3Server::start(KEY, SECRET, BUCKET).unwrap();
    let store = store(&server, SECRET);

    let (status, body) = signed_get(&server, &format!("/{BUCKET}?uploads")).await;
    assert_eq!(status, 200, "{body}");
    assert!(tags(&body, "Key").is_empty(), "{body}");
    assert_eq!(tags(&body, "IsTruncated"), ["false"], "{body}");

    let (mut a, id_a) = start_upload(&server, &store, "backups/2024/a.tar.gz", true).await;
    let (mut b, id_b) = start_upload(&server, &store, "other/b", true).await;
    let (mut c, id_c) = start_upload(&server, &store, "backups/x y+z.tar.gz", false).await;

    // All of them, sorted by key, each with its id and initiation time.
    let (status, body) = signed_get(&server, &format!("/{BUCKET}?uploads")).await;
    eprintln!("ListMultipartUploads: {body}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(tags(&body, "Bucket"), [BUCKET]);
    assert_eq!(
        tags(&body, "Key"),
        ["backups/2024/a.tar.gz", "backups/x y+z.tar.gz", "other/b"]
    );
    assert_eq!(tags(&body, "UploadId"), [id_a.as_str(), &id_c, &id_b]);
    assert_eq!(tags(&body, "Initiated").len(), 3, "{body}");
    assert_eq!(tags(&body, "IsTruncated"), ["false"]);

    // Prefix.
    let (status, body) = signed_get(&server, &format!("/{BUCKET}?uploads&prefix=backups%2F")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        tags(&body, "Key"),
        ["backups/2024/a.tar.gz", "backups/x y+z.tar.gz"]
    );
    assert_eq!(tags(&body, "UploadId"), [id_a.as_str(), &id_c]);

    // Pages of one, following the markers.
    let mut pages = Vec::new();
    let mut query = format!("/{BUCKET}?uploads&max-uploads=1");
    loop {
        let (status, body) = signed_get(&server, &query).await;
        assert_eq!(status, 200, "{body}");
        pages.push((tags(&body, "Key"), tags(&body, "UploadId")));
        if tags(&body, "IsTruncated") != ["true"] {
            break;
        }
        let key_marker = &tags(&body, "NextKeyMarker")[0];
        let id_marker = &tags(&body, "NextUploadIdMarker")[0];
        query = format!(
            "/{BUCKET}?uploads&max-uploads=1&key-marker={}&upload-id-marker={id_marker}",
            key_marker
                .replace('/', "%2F")
                .replace(' ', "%20")
                .replace('+', "%2B")
        );
        assert!(pages.len() < 10, "pagination does not end: {pages:?}");
    }
    assert_eq!(
        pages,
        [
            (vec!["backups/2024/a.tar.gz".to_owned()], vec![id_a.clone()]),
            (vec!["backups/x y+z.tar.gz".to_owned()], vec![id_c.clone()]),
            (vec!["other/b".to_owned()], vec![id_b.clone()]),
        ]
    );

    // encoding-type=url percent-encodes keys.
    let (status, body) = signed_get(
        &server,
        &format!("/{BUCKET}?uploads&encoding-type=url&prefix=backups%2Fx"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tags(&body, "Key"), ["backups/x%20y%2Bz.tar.gz"]);
    assert_eq!(tags(&body, "EncodingType"), ["url"]);

    // Refused rather than ignored.
    let (status, body) = signed_get(&server, &format!("/{BUCKET}?uploads&delimiter=%2F")).await;
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("NotImplemented"), "{body}");
    let (status, body) = signed_get(&server, "/no-such-bucket?uploads").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("NoSuchBucket"), "{body}");
    let response = raw_request(&server, "GET", &format!("/{BUCKET}?uploads"));
    assert!(response.starts_with("HTTP/1.1 403"), "unsigned: {response}");

    // Aborted uploads disappear from the listing; completed ones too.
    a.abort().await.unwrap();
    let (_, body) = signed_get(&server, &format!("/{BUCKET}?uploads")).await;
    assert_eq!(tags(&body, "Key"), ["backups/x y+z.tar.gz", "other/b"]);
    assert_eq!(tags(&body, "UploadId"), [id_c.as_str(), &id_b]);
    c.abort().await.unwrap();
    b.complete().await.unwrap();
    let (status, body) = signed_get(&server, &format!("/{BUCKET}?uploads")).await;
    assert_eq!(status, 200, "{body}");
    assert!(tags(&body, "Key").is_empty(), "{body}");
    assert!(tags(&body, "UploadId").is_empty(), "{body}");
    assert_eq!(server.objects(), ["other/b"]);
    assert!(server.orphaned_parts().is_empty());
}
