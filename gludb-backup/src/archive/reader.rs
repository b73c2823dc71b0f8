//! Reads an archive back, member by member and line by line, from any byte
//! stream, trusting nothing in it: every size is bounded, names are checked,
//! links are refused, and no input makes it panic or use unbounded memory.

use std::{
    io,
    path::{Component, Path},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use async_compression::tokio::bufread::GzipDecoder;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio_tar::{Archive, Entry, EntryType};

/// Bounds on what an archive may make the reader hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest record line, in bytes (default 64 MiB).
    pub max_line_bytes: usize,
    /// Largest manifest, in bytes (default 16 MiB).
    pub max_manifest_bytes: usize,
    /// Longest member name, in bytes (default 4 KiB).
    pub max_name_bytes: usize,
    /// Most members in one archive (default 100,000).
    pub max_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 64 * 1024 * 1024,
            max_manifest_bytes: 16 * 1024 * 1024,
            max_name_bytes: 4096,
            max_members: 100_000,
        }
    }
}

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The gzip or tar stream is corrupt or truncated, or reading failed.
    #[error("the archive is corrupt or truncated: {0}")]
    Corrupt(#[source] io::Error),
    /// A member name that could escape a directory (`..`, absolute).
    #[error("member {0:?} has an unsafe name")]
    UnsafeName(String),
    /// A link or other non-file member.
    #[error("member {name:?} is a {kind}, not a file")]
    NotAFile {
        /// The member name.
        name: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// A member name longer than [`Limits::max_name_bytes`].
    #[error("a member name is longer than {0} bytes")]
    NameTooLong(usize),
    /// More members than [`Limits::max_members`].
    #[error("the archive has more than {0} members")]
    TooManyMembers(usize),
    /// A line longer than [`Limits::max_line_bytes`].
    #[error("line {line} of {member} is longer than {limit} bytes")]
    LineTooLong {
        /// The member.
        member: String,
        /// 1-based line number.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// A line that is not UTF-8.
    #[error("line {line} of {member} is not UTF-8")]
    NotUtf8 {
        /// The member.
        member: String,
        /// 1-based line number.
        line: u64,
    },
    /// The manifest is larger than [`Limits::max_manifest_bytes`] or not valid.
    #[error("the manifest is unusable: {0}")]
    BadManifest(#[source] super::ManifestError),
    /// A member follows the manifest, which must be last.
    #[error("member {0:?} follows the manifest, which must be the last member")]
    AfterManifest(String),
    /// The archive has no manifest and one was required.
    #[error("the archive has no manifest (it may be incomplete, or made by the original GLUDB)")]
    MissingManifest,
    /// The archive has no manifest, though its name says gludb-rs wrote
    /// it (always with one): the manifest was removed, or the archive cut.
    #[error(
        "the archive has no manifest, though its name says gludb-rs wrote it (always with one): it was cut short or its manifest removed"
    )]
    ManifestRemoved,
    /// The archive is encrypted and no identity was given to read it.
    #[error("the archive is encrypted with age: give the identity (secret key) that reads it")]
    IdentityRequired,
    /// The archive is encrypted to none of the identities given.
    #[error("the archive is encrypted with age to none of the identities given")]
    NoMatchingIdentity,
    /// The archive's format needs a Cargo feature this build does not have.
    #[error("the archive needs gludb's `{0}` feature to be read")]
    NeedsFeature(&'static str),
    /// The archive's name and its first bytes say different formats.
    #[error("the archive's name says {named}, but its contents are not (they start like {found})")]
    FormatMismatch {
        /// What the name says.
        named: super::ArchiveFormat,
        /// What the bytes look like.
        found: &'static str,
    },
    /// A member does not match its manifest entry.
    #[error("member {member} does not match the manifest: {detail}")]
    Mismatch {
        /// The member.
        member: String,
        /// What differs.
        detail: String,
    },
}

impl ArchiveError {
    /// The I/O error inside, if reading (not the archive) failed, e.g. the
    /// object store connection.
    pub(crate) fn take_store_error(self) -> Result<object_store::Error, ArchiveError> {
        match self {
            ArchiveError::Corrupt(e)
                if e.get_ref().is_some_and(|i| i.is::<object_store::Error>()) =>
            {
                match e.into_inner().map(|i| i.downcast::<object_store::Error>()) {
                    Some(Ok(store)) => Ok(*store),
                    Some(Err(other)) => Err(ArchiveError::Corrupt(io::Error::other(other))),
                    // Unreachable: `get_ref` was Some.
                    None => Err(ArchiveError::Corrupt(io::Error::other("read failed"))),
                }
            }
            other => Err(other),
        }
    }
}

/// The tar reader over the plain tar stream `R`.
type Input<R> = Archive<EofTracker<R>>;

/// Notes when the decompressed stream ends. A tar archive ends with zero
/// blocks *before* its data runs out; a stream that runs out while the tar
/// reader still wants a header was cut short (possibly exactly at a gzip
/// member boundary, where gzip itself cannot tell).
struct EofTracker<T> {
    inner: T,
    reached: Arc<AtomicBool>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for EofTracker<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &polled
            && buf.filled().len() == before
            && buf.remaining() > 0
        {
            self.reached.store(true, Ordering::Relaxed);
        }
        polled
    }
}

/// Streams an archive's members.
pub struct ArchiveReader<R: AsyncRead + Unpin + Send> {
    /// Raw entries: GNU long names and PAX paths are handled here, with
    /// bounds the tar crate does not apply.
    entries: BoxStream<'static, io::Result<Entry<Input<R>>>>,
    limits: Limits,
    members: usize,
    eof: Arc<AtomicBool>,
    /// The decompressed stream itself, to read what follows the tar's end.
    archive: Input<R>,
}

impl<I: AsyncBufRead + Unpin + Send + 'static> ArchiveReader<GzipDecoder<I>> {
    /// Reads the gzip'd tar coming from `input` (several concatenated gzip
    /// members are one stream, as `gzip` itself reads them).
    pub fn new(input: I, limits: Limits) -> Result<Self, ArchiveError> {
        ArchiveReader::from_tar(super::compress::gzip_decoder(input), limits)
    }
}

impl<R: AsyncRead + Unpin + Send + 'static> ArchiveReader<R> {
    /// Reads a plain tar stream (decompressed, decrypted).
    pub fn from_tar(tar: R, limits: Limits) -> Result<Self, ArchiveError> {
        let eof = Arc::new(AtomicBool::new(false));
        let tracked = EofTracker {
            inner: tar,
            reached: Arc::clone(&eof),
        };
        let mut archive = Archive::new(tracked);
        let entries = archive
            .entries_raw()
            .map_err(ArchiveError::Corrupt)?
            .boxed();
        Ok(ArchiveReader {
            entries,
            limits,
            members: 0,
            eof,
            archive,
        })
    }

    /// The next file member, or `None` at the end of the archive.
    pub async fn next_member(&mut self) -> Result<Option<Member<R>>, ArchiveError> {
        let mut long_name: Option<String> = None;
        loop {
            let Some(entry) = self.entries.next().await else {
                if self.eof.load(Ordering::Relaxed) {
                    return Err(ArchiveError::Corrupt(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the archive ends before its end-of-archive marker",
                    )));
                }
                // Read on to the end of the gzip stream (tar padding), so
                // that gzip checks its trailer: a file cut inside the last
                // CRC is corrupt even though every member was read.
                tokio::io::copy(&mut self.archive, &mut tokio::io::sink())
                    .await
                    .map_err(ArchiveError::Corrupt)?;
                return Ok(None);
            };
            let mut entry = entry.map_err(ArchiveError::Corrupt)?;
            let kind = entry.header().entry_type();
            if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
                let data = read_bounded(&mut entry, self.limits.max_name_bytes)
                    .await?
                    .ok_or(ArchiveError::NameTooLong(self.limits.max_name_bytes))?;
                if kind.is_gnu_longname() {
                    let name = data.split(|b| *b == 0).next().unwrap_or_default();
                    long_name = Some(String::from_utf8_lossy(name).into_owned());
                } else if let Some(path) = pax_path(&data)? {
                    long_name = Some(path);
                }
                continue;
            }
            if kind.is_pax_global_extensions() {
                continue;
            }
            let name = match long_name.take() {
                Some(name) => name,
                None => {
                    let raw = entry.path_bytes().map_err(ArchiveError::Corrupt)?;
                    String::from_utf8_lossy(&raw).into_owned()
                }
            };
            check_name(&name)?;
            // `tar -C dir -czf x.tar.gz .` names members `./X--T.json`: the
            // same member as `X--T.json`.
            let name = strip_current_dir(&name).to_owned();
            self.members += 1;
            if self.members > self.limits.max_members {
                return Err(ArchiveError::TooManyMembers(self.limits.max_members));
            }
            // A tar of a directory (`tar -czf x.tar.gz .`) holds the
            // directory itself: no data, nothing to refuse.
            if kind.is_dir() {
                continue;
            }
            if !(kind.is_file() || kind == EntryType::Continuous) {
                return Err(ArchiveError::NotAFile {
                    name,
                    kind: describe(kind),
                });
            }
            return Ok(Some(Member {
                name,
                reader: BufReader::with_capacity(64 * 1024, entry),
                hasher: Sha256::new(),
                bytes: 0,
                lines: 0,
                line: Vec::new(),
                max_line: self.limits.max_line_bytes,
            }));
        }
    }
}

/// One file member being read.
pub struct Member<R: AsyncRead + Unpin + Send> {
    name: String,
    reader: BufReader<Entry<Input<R>>>,
    hasher: Sha256,
    bytes: u64,
    lines: u64,
    line: Vec<u8>,
    max_line: usize,
}

/// Size, line count and hash of a member that was read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDigest {
    /// The member name.
    pub name: String,
    /// Bytes read.
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

impl<R: AsyncRead + Unpin + Send + 'static> Member<R> {
    /// The member's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next line without its `\n`, with its 1-based number, or `None`
    /// at the end of the member.
    pub async fn next_line(&mut self) -> Result<Option<(u64, &str)>, ArchiveError> {
        self.line.clear();
        let limit = (self.max_line as u64).saturating_add(1);
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .await
            .map_err(ArchiveError::Corrupt)?;
        if read == 0 {
            return Ok(None);
        }
        self.hasher.update(&self.line);
        self.bytes += read as u64;
        self.lines += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        if self.line.len() > self.max_line {
            return Err(ArchiveError::LineTooLong {
                member: self.name.clone(),
                line: self.lines,
                limit: self.max_line,
            });
        }
        let number = self.lines;
        std::str::from_utf8(&self.line)
            .map(|line| Some((number, line)))
            .map_err(|_| ArchiveError::NotUtf8 {
                member: self.name.clone(),
                line: self.lines,
            })
    }

    /// Reads the rest of the member, hashing it, without keeping it. Lines
    /// are counted as [`next_line`](Self::next_line) counts them: a last
    /// line without its `\n` is a line.
    pub async fn skip(&mut self) -> Result<(), ArchiveError> {
        let mut open_line = false;
        loop {
            let buffer = self
                .reader
                .fill_buf()
                .await
                .map_err(ArchiveError::Corrupt)?;
            let Some(&last) = buffer.last() else {
                if open_line {
                    self.lines += 1;
                }
                return Ok(());
            };
            let n = buffer.len();
            self.hasher.update(buffer);
            self.bytes += n as u64;
            self.lines += buffer.iter().filter(|b| **b == b'\n').count() as u64;
            open_line = last != b'\n';
            self.reader.consume(n);
        }
    }

    /// Reads the whole member if it is at most `max` bytes.
    pub async fn read_all(&mut self, max: usize) -> Result<Option<Vec<u8>>, ArchiveError> {
        let data = read_bounded(&mut self.reader, max).await?;
        if let Some(data) = &data {
            self.hasher.update(data);
            self.bytes += data.len() as u64;
        }
        Ok(data)
    }

    /// The member's size, lines and hash (of everything read).
    pub fn digest(self) -> MemberDigest {
        MemberDigest {
            name: self.name,
            bytes: self.bytes,
            lines: self.lines,
            sha256: format!("{:x}", self.hasher.finalize()),
        }
    }
}

/// Reads at most `max` bytes; `None` if there are more.
async fn read_bounded<T: tokio::io::AsyncRead + Unpin>(
    reader: &mut T,
    max: usize,
) -> Result<Option<Vec<u8>>, ArchiveError> {
    let mut data = Vec::new();
    reader
        .take((max as u64).saturating_add(1))
        .read_to_end(&mut data)
        .await
        .map_err(ArchiveError::Corrupt)?;
    Ok((data.len() <= max).then_some(data))
}

/// The `path` record of a PAX extended header, if any. A `size` record is
/// refused: readers that disagree on sizes can be made to see different
/// members (CVE-2025-62518).
fn pax_path(data: &[u8]) -> Result<Option<String>, ArchiveError> {
    let mut path = None;
    let mut rest = data;
    while !rest.is_empty() {
        // Each record is "<len> <key>=<value>\n", <len> counting the whole record.
        let space = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or_else(|| bad_pax("a record has no length"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|len| *len > space && *len <= rest.len())
            .ok_or_else(|| bad_pax("a record length is invalid"))?;
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            match &record[..eq] {
                b"path" => path = Some(String::from_utf8_lossy(&record[eq + 1..]).into_owned()),
                b"size" => return Err(bad_pax("it overrides a member size")),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    Ok(path)
}

fn bad_pax(why: &str) -> ArchiveError {
    ArchiveError::Corrupt(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad PAX header: {why}"),
    ))
}

/// `name` without leading `./` components.
fn strip_current_dir(mut name: &str) -> &str {
    while let Some(rest) = name.strip_prefix("./") {
        name = rest.trim_start_matches('/');
    }
    name
}

/// Member names must stay inside a directory: no absolute paths, no `..`.
fn check_name(name: &str) -> Result<(), ArchiveError> {
    let path = Path::new(name);
    let safe = !name.is_empty()
        && !name.contains('\0')
        && !name.starts_with('/')
        && !name.starts_with('\\')
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && !name.split(['/', '\\']).any(|part| part == "..");
    if safe {
        Ok(())
    } else {
        Err(ArchiveError::UnsafeName(name.to_owned()))
    }
}

fn describe(kind: EntryType) -> &'static str {
    if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_hard_link() {
        "hard link"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_gnu_sparse() {
        "sparse file"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_current_directory_is_not_part_of_a_name() {
        assert_eq!(strip_current_dir("./X--T.json"), "X--T.json");
        assert_eq!(strip_current_dir("././/X--T.json"), "X--T.json");
        assert_eq!(strip_current_dir("X--T.json"), "X--T.json");
        assert_eq!(strip_current_dir("a/./b"), "a/./b");
    }

    #[test]
    fn names_that_escape_are_unsafe() {
        for bad in [
            "../x.json",
            "/etc/passwd",
            "a/../../b",
            "..",
            "",
            "a\\..\\b",
            "\\abs",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["X--T.json", "dir/x.json", "./x.json", "a..b.json"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn pax_headers_give_paths_and_never_sizes() {
        assert_eq!(
            pax_path(b"14 path=a.txt\n").unwrap().as_deref(),
            Some("a.txt")
        );
        assert!(pax_path(b"13 size=9999\n").is_err());
        assert!(pax_path(b"999 path=a\n").is_err());
        assert!(pax_path(b"x").is_err());
        assert_eq!(pax_path(b"").unwrap(), None);
    }
}
