//! The S3 service behind [`S3Server`](super::S3Server): s3s-fs, plus ListMultipartUploads.
//!
//! s3s-fs 0.14.1 answers `NotImplemented` to ListMultipartUploads (the default
//! of the [`S3`] trait), but the backup library needs it to find orphaned
//! multipart uploads, and its tests must run it against a real server. So
//! [`Store`] wraps [`FileSystem`], delegates every operation s3s-fs implements
//! to it unchanged, and implements `list_multipart_uploads` itself from
//! s3s-fs's on-disk layout (see the module docs of [`super`]):
//!
//! * `<root>/.upload-<uuid>.json` exists while upload `<uuid>` is in flight
//!   (created, neither completed nor aborted);
//! * `<root>/.bucket-<b64>.object-<b64>.upload-<uuid>.metadata.json` names its
//!   bucket and key, each encoded with base64's URL-safe alphabet without
//!   padding (`base64_simd::URL_SAFE_NO_PAD`, as in s3s-fs's
//!   `FileSystem::get_metadata_path`). That alphabet has no `.`, so the name
//!   splits unambiguously.
//!
//! s3s-fs writes the marker before the metadata file, so an upload is listed
//! from the moment `CreateMultipartUpload` has answered.
//!
//! Supported: `prefix`, `key-marker` / `upload-id-marker`, `max-uploads`
//! (clamped to 1..=1000, with `IsTruncated` and the next markers) and
//! `encoding-type=url`. Uploads are sorted by key, then upload id (so the
//! markers page exactly). `delimiter` is refused with `NotImplemented` rather
//! than ignored, so a caller that relies on it finds out.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

/// Largest page ListMultipartUploads returns (S3's limit too).
const MAX_UPLOADS: i32 = 1000;

/// s3s-fs's store with ListMultipartUploads added.
pub(super) struct Store {
    fs: FileSystem,
    /// The root directory `fs` was opened on.
    root: PathBuf,
}

impl Store {
    /// Opens the s3s-fs store rooted at `root` (an existing directory).
    pub(super) fn new(root: &Path) -> Result<Store, s3s_fs::Error> {
        Ok(Store {
            fs: FileSystem::new(root)?,
            root: root.to_owned(),
        })
    }
}

/// One in-flight multipart upload found on disk.
#[derive(Debug, PartialEq, Eq)]
struct Upload {
    key: String,
    upload_id: String,
    initiated: SystemTime,
}

#[async_trait::async_trait]
impl S3 for Store {
    // ListMultipartUploads, from the files s3s-fs keeps for in-flight uploads.
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        if input.delimiter.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "the test server's ListMultipartUploads does not support delimiter"
            ));
        }
        let url_encode = match input.encoding_type.as_ref().map(EncodingType::as_str) {
            None => false,
            Some(EncodingType::URL) => true,
            Some(other) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "invalid encoding-type {other:?}: only \"url\" is allowed"
                ));
            }
        };
        if !self.root.join(&input.bucket).is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }

        let root = self.root.clone();
        let bucket = input.bucket.clone();
        let mut uploads = tokio::task::spawn_blocking(move || in_flight_uploads(&root, &bucket))
            .await
            .map_err(|e| s3_error!(InternalError, "listing uploads panicked: {e}"))?
            .map_err(|e| s3_error!(InternalError, "cannot list uploads: {e}"))?;

        let prefix = input.prefix.clone().unwrap_or_default();
        uploads.retain(|u| u.key.starts_with(&prefix));
        uploads.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        if let Some(key_marker) = input.key_marker.as_deref().filter(|m| !m.is_empty()) {
            // S3: with only key-marker, uploads of keys after it; with
            // upload-id-marker too, also the marker key's later upload ids.
            let id_marker = input.upload_id_marker.as_deref().filter(|m| !m.is_empty());
            uploads.retain(|u| match id_marker {
                Some(id_marker) => (u.key.as_str(), u.upload_id.as_str()) > (key_marker, id_marker),
                None => u.key.as_str() > key_marker,
            });
        }

        let max_uploads = input
            .max_uploads
            .unwrap_or(MAX_UPLOADS)
            .clamp(1, MAX_UPLOADS);
        // `max_uploads` is in 1..=1000, so the conversion cannot fail.
        let page = usize::try_from(max_uploads).unwrap_or(1000);
        let is_truncated = uploads.len() > page;
        uploads.truncate(page);
        let (next_key_marker, next_upload_id_marker) = match uploads.last() {
            Some(last) if is_truncated => (
                Some(encode_key(&last.key, url_encode)),
                Some(last.upload_id.clone()),
            ),
            _ => (None, None),
        };

        let uploads = uploads
            .into_iter()
            .map(|u| MultipartUpload {
                key: Some(encode_key(&u.key, url_encode)),
                upload_id: Some(u.upload_id),
                initiated: Some(Timestamp::from(u.initiated)),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..Default::default()
            })
            .collect();
        let output = ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            encoding_type: input.encoding_type,
            is_truncated: Some(is_truncated),
            key_marker: input.key_marker,
            max_uploads: Some(max_uploads),
            next_key_marker,
            next_upload_id_marker,
            prefix: input.prefix.map(|p| encode_key(&p, url_encode)),
            upload_id_marker: input.upload_id_marker,
            uploads: Some(uploads),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    // Everything below: s3s-fs, unchanged.

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.fs.put_object(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await
    }
}

/// The uploads of `bucket` that are in flight, in no particular order.
///
/// Files that do not parse (other buckets' uploads, complete objects'
/// metadata, names that are not valid base64 or UTF-8) are skipped; so are
/// uploads whose marker disappeared meanwhile (completed or aborted).
fn in_flight_uploads(root: &Path, bucket: &str) -> std::io::Result<Vec<Upload>> {
    let mut uploads = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some((upload_bucket, key, upload_id)) = parse_upload_metadata_name(&name) else {
            continue;
        };
        if upload_bucket != bucket {
            continue;
        }
        let marker = root.join(format!(".upload-{upload_id}.json"));
        let Ok(marker) = std::fs::metadata(&marker) else {
            continue;
        };
        uploads.push(Upload {
            key,
            upload_id: upload_id.to_owned(),
            initiated: marker.modified()?,
        });
    }
    Ok(uploads)
}

/// Splits `.bucket-<b64>.object-<b64>.upload-<uuid>.metadata.json` into the
/// decoded bucket, decoded key and the upload id.
fn parse_upload_metadata_name(name: &str) -> Option<(String, String, &str)> {
    let rest = name
        .strip_prefix(".bucket-")?
        .strip_suffix(".metadata.json")?;
    let (bucket, rest) = rest.split_once(".object-")?;
    let (key, upload_id) = rest.split_once(".upload-")?;
    // An upload id is a UUID: never empty, never a path.
    if upload_id.is_empty()
        || !upload_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-')
    {
        return None;
    }
    let decode = |s: &str| {
        let bytes = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()?;
        String::from_utf8(bytes).ok()
    };
    Some((decode(bucket)?, decode(key)?, upload_id))
}

/// The key as it goes into the response: percent-encoded (all but unreserved
/// characters and `/`) for `encoding-type=url`, else unchanged.
fn encode_key(key: &str, url_encode: bool) -> String {
    if !url_encode {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upload_metadata_names_as_s3s_fs_writes_them() {
        let b64 = |s: &str| base64_simd::URL_SAFE_NO_PAD.encode_to_string(s);
        // "??>" encodes to "Pz8-": the URL-safe alphabet (`-`, `_`), no padding.
        let key = "dir/ä ??>.tar.gz";
        let name = format!(
            ".bucket-{}.object-{}.upload-0e7c6b1a-5f7e-4a55-9d0b-6f3c2f1d9a10.metadata.json",
            b64("my-bucket"),
            b64(key)
        );
        assert!(b64(key).contains('-') || b64(key).contains('_'));
        assert_eq!(
            parse_upload_metadata_name(&name),
            Some((
                "my-bucket".to_owned(),
                key.to_owned(),
                "0e7c6b1a-5f7e-4a55-9d0b-6f3c2f1d9a10"
            ))
        );
        // A complete object's metadata, and the upload marker, are not uploads.
        let object = format!(".bucket-{}.object-{}.metadata.json", b64("b"), b64("k"));
        assert_eq!(parse_upload_metadata_name(&object), None);
        assert_eq!(
            parse_upload_metadata_name(".upload-0e7c6b1a-5f7e-4a55-9d0b-6f3c2f1d9a10.json"),
            None
        );
    }

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved_characters() {
        assert_eq!(encode_key("a b/ä+x~y", true), "a%20b/%C3%A4%2Bx~y");
        assert_eq!(encode_key("a b", false), "a b");
    }
}
