//! Client-side encryption with age (Cargo feature `age`): whoever can read
//! the bucket cannot read the backups. A backup is encrypted to one or more
//! X25519 public keys (`age1...`); reading it takes a matching secret key
//! (`AGE-SECRET-KEY-1...`), which gludb never stores, logs or shows. The
//! stream is age's own format (`age -d` decrypts it into the plain
//! `.tar.gz` / `.tar.zst`), encrypted and decrypted in 64 KiB chunks, so
//! memory stays bounded; a cut or altered file fails its authentication.

use std::{
    fmt, io,
    io::Write,
    str::FromStr,
    sync::{Arc, Mutex, PoisonError},
};

use futures_util::{Stream, StreamExt, stream};
use tokio::io::AsyncBufRead;
use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

use super::{ArchiveError, compress::Decoded};

/// A public key backups are encrypted to: an age X25519 recipient,
/// `age1...`. Safe to keep in configuration.
///
/// ```
/// use gludb_backup::archive::{Identity, Recipient};
/// let identity = Identity::generate();
/// let recipient: Recipient = identity.to_public().to_string().parse()?;
/// assert!(recipient.to_string().starts_with("age1"));
/// # Ok::<(), gludb_backup::archive::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Recipient(age::x25519::Recipient);

/// A secret key that reads backups encrypted to its public key: an age
/// X25519 identity, `AGE-SECRET-KEY-1...`. Its `Debug` shows nothing of
/// it, and gludb never writes it anywhere.
#[derive(Clone)]
pub struct Identity(age::x25519::Identity);

/// A key that does not parse (the text is not repeated: it may be secret).
#[derive(Debug, thiserror::Error)]
#[error("not an age {kind} key ({reason})")]
pub struct KeyError {
    kind: &'static str,
    reason: &'static str,
}

impl FromStr for Recipient {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        age::x25519::Recipient::from_str(text.trim())
            .map(Recipient)
            .map_err(|_| KeyError {
                kind: "public",
                reason: "expected age1... (X25519)",
            })
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.0)
    }
}

impl Identity {
    /// A new random identity.
    pub fn generate() -> Identity {
        Identity(age::x25519::Identity::generate())
    }

    /// The secret key as age writes it (`AGE-SECRET-KEY-1...`), to keep
    /// in an identity file: handle it as the secret it is.
    pub fn secret_text(&self) -> String {
        use age::secrecy::ExposeSecret;
        self.0.to_string().expose_secret().to_owned()
    }

    /// Its public key, to encrypt backups to.
    pub fn to_public(&self) -> Recipient {
        Recipient(self.0.to_public())
    }

    /// The identities in an age identity file (one `AGE-SECRET-KEY-1...`
    /// per line; `#` comments and blank lines are skipped), as `age-keygen`
    /// writes it.
    pub fn from_file_text(text: &str) -> Result<Vec<Identity>, KeyError> {
        let keys: Vec<Identity> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(Identity::from_str)
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Err(KeyError {
                kind: "secret",
                reason: "the file holds no AGE-SECRET-KEY-1... line",
            });
        }
        Ok(keys)
    }
}

impl FromStr for Identity {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        age::x25519::Identity::from_str(text.trim())
            .map(Identity)
            .map_err(|_| KeyError {
                kind: "secret",
                reason: "expected AGE-SECRET-KEY-1... (X25519)",
            })
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity(for {})", self.0.to_public())
    }
}

/// What the encrypting writer writes into: drained after every write.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The compressed archive `members`, encrypted to `recipients` as one age
/// file, in the same pieces.
pub(crate) fn encrypt<S>(
    members: S,
    recipients: &[Recipient],
) -> io::Result<impl Stream<Item = io::Result<Vec<u8>>> + use<S>>
where
    S: Stream<Item = io::Result<Vec<u8>>>,
{
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| &r.0 as &dyn age::Recipient))
            .map_err(io::Error::other)?;
    let sink = Sink::default();
    let writer = encryptor.wrap_output(sink.clone())?;
    // Each piece goes through the writer; what it emitted is yielded. The
    // end of the input finishes the age stream (its last, marked chunk).
    let pieces = members.map(Some).chain(stream::once(async { None }));
    Ok(pieces.scan(Some(writer), move |writer, piece| {
        let out = match (piece, writer.take()) {
            (Some(Ok(piece)), Some(mut open)) => {
                let written = open.write_all(&piece);
                *writer = Some(open);
                written.map(|()| sink.take())
            }
            (Some(Err(e)), _) => Err(e),
            (None, Some(open)) => open.finish().map(|_| sink.take()),
            // Already failed or finished.
            (_, None) => return std::future::ready(None),
        };
        std::future::ready(Some(out))
    }))
}

/// The plaintext of the age file `input`, decrypted with `identities`.
pub(crate) async fn decrypt<R>(input: R, identities: &[Identity]) -> Result<Decoded, ArchiveError>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    if identities.is_empty() {
        return Err(ArchiveError::IdentityRequired);
    }
    let decryptor = age::Decryptor::new_async_buffered(input.compat())
        .await
        .map_err(|e| ArchiveError::Corrupt(io::Error::other(e)))?;
    let plain = decryptor
        .decrypt_async(identities.iter().map(|i| &i.0 as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => ArchiveError::NoMatchingIdentity,
            other => ArchiveError::Corrupt(io::Error::other(other)),
        })?;
    Ok(Box::pin(plain.compat()))
}
