//! What an archive is made of besides tar: its compression (gzip, the
//! default and the original's; or zstd, opt-in) and whether it is
//! encrypted (age, opt-in). The name says it (`.tar.gz`, `.tar.zst`, then
//! `.age`), and the first bytes confirm it: a name and contents that
//! disagree are refused rather than guessed at.

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// gzip: what the original GLUDB and every tar tool read.
    Gzip,
    /// zstd (Cargo feature `zstd`): faster at the same size, or smaller.
    Zstd,
}

/// An archive's format: its codec, and whether it is encrypted with age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ArchiveFormat {
    /// The compression.
    pub codec: Codec,
    /// Encrypted to age recipients (Cargo feature `age`).
    pub encrypted: bool,
}

/// The formats' name suffixes, longest first so `.tar.gz.age` is not read
/// as something ending in `.age` alone.
const SUFFIXES: [(&str, ArchiveFormat); 4] = [
    (".tar.gz.age", ArchiveFormat::new(Codec::Gzip, true)),
    (".tar.zst.age", ArchiveFormat::new(Codec::Zstd, true)),
    (".tar.gz", ArchiveFormat::new(Codec::Gzip, false)),
    (".tar.zst", ArchiveFormat::new(Codec::Zstd, false)),
];

/// What the first bytes of an object say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Magic {
    Gzip,
    Zstd,
    Age,
}

impl ArchiveFormat {
    /// The original's format, and the default: gzip, not encrypted.
    pub const GZIP: ArchiveFormat = ArchiveFormat::new(Codec::Gzip, false);

    /// A format.
    pub const fn new(codec: Codec, encrypted: bool) -> ArchiveFormat {
        ArchiveFormat { codec, encrypted }
    }

    /// The name suffix: `.tar.gz`, `.tar.zst`, `.tar.gz.age`, `.tar.zst.age`.
    pub fn suffix(self) -> &'static str {
        match (self.codec, self.encrypted) {
            (Codec::Gzip, false) => ".tar.gz",
            (Codec::Zstd, false) => ".tar.zst",
            (Codec::Gzip, true) => ".tar.gz.age",
            (Codec::Zstd, true) => ".tar.zst.age",
        }
    }

    /// `name` without its format suffix, and the format it names.
    pub(crate) fn strip(name: &str) -> Option<(&str, ArchiveFormat)> {
        SUFFIXES
            .iter()
            .find_map(|(suffix, format)| name.strip_suffix(suffix).map(|stem| (stem, *format)))
    }

    /// Whether the object's first bytes fit this format (`None` if they do
    /// not say: too few, or something else, which the reader then refuses).
    pub(crate) fn fits(self, magic: Option<Magic>) -> bool {
        match magic {
            None => true,
            Some(Magic::Age) => self.encrypted,
            Some(Magic::Gzip) => !self.encrypted && self.codec == Codec::Gzip,
            Some(Magic::Zstd) => !self.encrypted && self.codec == Codec::Zstd,
        }
    }
}

impl Magic {
    /// What `head` (an object's first bytes) starts like.
    pub(crate) fn of(head: &[u8]) -> Option<Magic> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Magic::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Magic::Zstd)
        } else if head.starts_with(b"age-encryption.org/") {
            Some(Magic::Age)
        } else {
            None
        }
    }

    /// The format an unnamed object of this magic has (an encrypted one's
    /// codec shows only once decrypted: gzip is assumed, then checked).
    pub(crate) fn format(self) -> ArchiveFormat {
        match self {
            Magic::Gzip => ArchiveFormat::GZIP,
            Magic::Zstd => ArchiveFormat::new(Codec::Zstd, false),
            Magic::Age => ArchiveFormat::new(Codec::Gzip, true),
        }
    }
}

impl std::fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.suffix().trim_start_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_magic_agree_on_each_format() {
        for (suffix, format) in SUFFIXES {
            assert_eq!(format.suffix(), suffix);
            assert_eq!(
                ArchiveFormat::strip(&format!("Backup_x{suffix}")),
                Some(("Backup_x", format))
            );
        }
        assert_eq!(ArchiveFormat::strip("Backup_x.tar"), None);
        assert!(ArchiveFormat::GZIP.fits(Magic::of(&[0x1f, 0x8b, 8])));
        assert!(!ArchiveFormat::GZIP.fits(Magic::of(&[0x28, 0xb5, 0x2f, 0xfd])));
        assert!(!ArchiveFormat::GZIP.fits(Magic::of(b"age-encryption.org/v1\n")));
        assert!(ArchiveFormat::new(Codec::Zstd, true).fits(Magic::of(b"age-encryption.org/v1\n")));
    }
}
