//! From stored bytes to the plain tar stream: the format named by the key,
//! confirmed by the first bytes, then decryption (age) and decompression
//! (gzip or zstd). The one place every reader (verify, restore, read,
//! inspect) turns an object into a tar.

use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::{
    ArchiveError, ArchiveFormat, Codec, Magic,
    compress::{Decoded, decoder},
};

/// The secret keys a store reads encrypted backups with (none by default).
#[derive(Clone, Default)]
pub(crate) struct Keys {
    #[cfg(feature = "age")]
    pub(crate) identities: Arc<Vec<super::Identity>>,
    #[cfg(not(feature = "age"))]
    _none: Arc<()>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(feature = "age")]
        return write!(f, "Keys({} identities)", self.identities.len());
        #[cfg(not(feature = "age"))]
        f.write_str("Keys(none)")
    }
}

/// The magic of what `input` starts with, without consuming it.
async fn peek<R: AsyncBufRead + Unpin>(input: &mut R) -> Result<Option<Magic>, ArchiveError> {
    let head = input.fill_buf().await.map_err(ArchiveError::Corrupt)?;
    Ok(Magic::of(head))
}

fn mismatch(named: ArchiveFormat, magic: Option<Magic>) -> ArchiveError {
    ArchiveError::FormatMismatch {
        named,
        found: match magic {
            Some(Magic::Gzip) => "gzip",
            Some(Magic::Zstd) => "zstd",
            Some(Magic::Age) => "an age file",
            None => "none of gzip, zstd or age",
        },
    }
}

/// The tar stream in `input`, an object whose name says `named` (if it is
/// a backup name).
pub(crate) async fn plain_tar<R>(
    mut input: R,
    named: Option<ArchiveFormat>,
    keys: &Keys,
) -> Result<Decoded, ArchiveError>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    let magic = peek(&mut input).await?;
    let format = match named {
        Some(format) if !format.fits(magic) => return Err(mismatch(format, magic)),
        Some(format) => format,
        None => magic.map_or(ArchiveFormat::GZIP, Magic::format),
    };
    if !format.encrypted {
        return decoder(input, format.codec);
    }
    let plain = decrypted(input, keys).await?;
    let mut plain = BufReader::with_capacity(64 * 1024, plain);
    // The codec shows once decrypted; a name says it too.
    let inner = peek(&mut plain).await?;
    let codec = match (named, inner) {
        (_, Some(Magic::Zstd)) => Codec::Zstd,
        (_, Some(Magic::Gzip)) => Codec::Gzip,
        (Some(named), _) => named.codec,
        (None, _) => Codec::Gzip,
    };
    if let (Some(named), Some(Magic::Gzip | Magic::Zstd)) = (named, inner)
        && named.codec != codec
    {
        return Err(mismatch(named, inner));
    }
    decoder(plain, codec)
}

#[cfg(feature = "age")]
async fn decrypted<R>(input: R, keys: &Keys) -> Result<Decoded, ArchiveError>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    super::encrypt::decrypt(input, &keys.identities).await
}

#[cfg(not(feature = "age"))]
async fn decrypted<R>(_input: R, _keys: &Keys) -> Result<Decoded, ArchiveError>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    Err(ArchiveError::NeedsFeature("age"))
}
