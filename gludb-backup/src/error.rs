//! The one error type of backups, listing, verification and restore.

use std::io;

/// Result with [`BackupError`].
pub type Result<T, E = BackupError> = std::result::Result<T, E>;

/// Everything that can go wrong with a backup or a restore. Messages say
/// what to do next and never contain a secret key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A credential or the bucket is missing: nothing was read or written.
    #[error("missing {what}: pass it to `Backup::new` or set {env}")]
    MissingCredential {
        /// "access key", "secret key" or "bucket name".
        what: &'static str,
        /// Where it may come from instead.
        env: &'static str,
    },

    /// The destination URL or an option is not usable.
    #[error("invalid backup destination {destination}: {reason}")]
    InvalidDestination {
        /// The destination, without credentials.
        destination: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The destination is a store this build of gludb cannot reach: the
    /// Cargo feature that brings it is off (`s3://` needs `aws`, `gs://`
    /// needs `gcp`, `az://` needs `azure`). Nothing was read or written.
    #[error(
        "the backup destination {destination} needs gludb's `{feature}` feature, which this build does not have: enable it in Cargo.toml (gludb = {{ version = \"...\", features = [\"{feature}\"] }})"
    )]
    FeatureNotEnabled {
        /// The destination, without credentials.
        destination: String,
        /// The Cargo feature to enable: `aws`, `gcp` or `azure`.
        feature: &'static str,
    },

    /// `run_backup` was called with no classes selected.
    #[error("nothing to back up: select classes with `add_class` or `add_package` first")]
    NothingSelected,

    /// The object store refused the credentials (wrong key or secret, or
    /// missing permission). Nothing was left in the bucket.
    #[error(
        "access to {destination} was denied while {context}: check the access key, the secret key and the bucket's permissions ({source})"
    )]
    AccessDenied {
        /// The destination.
        destination: String,
        /// What was being done.
        context: String,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },

    /// Any other object store error (after `object_store`'s own retries).
    #[error("object store error at {destination} while {context}: {source}")]
    Store {
        /// The destination.
        destination: String,
        /// What was being done.
        context: String,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },

    /// The data layer failed (database error, missing mapping, ...).
    #[error(transparent)]
    Database(#[from] gludb_core::Error),

    /// A table changed size inside what should have been one snapshot.
    #[error("table {table:?} changed while it was being read ({detail}); the backup was aborted")]
    SnapshotMismatch {
        /// The table.
        table: String,
        /// Expected against found.
        detail: String,
    },

    /// The archive is not a usable backup (corrupt, truncated, hostile,
    /// or not matching its manifest).
    #[error("backup {key} is not usable: {source}")]
    Archive {
        /// The backup's key.
        key: String,
        /// What is wrong.
        #[source]
        source: crate::archive::ArchiveError,
    },

    /// A record in the archive does not decode into its registered type.
    #[error("{0}")]
    BadRecord(Box<RecordProblem>),

    /// A `file://` destination to read from does not exist (nothing was
    /// created).
    #[error("no backup directory {destination}: check the path (is the disk mounted?)")]
    DestinationMissing {
        /// The destination.
        destination: String,
    },

    /// No backup under that key.
    #[error("no backup {key} at {destination}")]
    NotFound {
        /// The destination.
        destination: String,
        /// The key asked for.
        key: String,
    },

    /// Several registered types share a member's `<TypeName>--<table>` name.
    #[error(
        "member {member} matches several registered types ({candidates}); select the one to restore with `add_class`"
    )]
    AmbiguousType {
        /// The member.
        member: String,
        /// The matching types' full names.
        candidates: String,
    },

    /// A read names a class by a type or table name that several members of
    /// the backup have.
    #[error(
        "{class} names several members of backup {key} ({candidates}); name one as <Type>--<table>"
    )]
    AmbiguousClass {
        /// The backup's key.
        key: String,
        /// The name asked for.
        class: String,
        /// The members it matches.
        candidates: String,
    },

    /// A registered type differs from its class in the backup, and the
    /// restore was told to refuse that (`Restore::refuse_schema_drift`).
    #[error(
        "class {class} of backup {key} was backed up with another schema ({drift}); nothing was restored"
    )]
    SchemaDrift {
        /// The backup's key.
        key: String,
        /// The class, `<TypeName>--<table>`.
        class: String,
        /// What changed.
        drift: String,
    },

    /// A backup set name that cannot be used in object names.
    #[error("invalid backup set name {name:?}: {reason}")]
    InvalidSetName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A setting outside what the store (or this library) can honour.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// Which setting.
        option: &'static str,
        /// What is allowed.
        reason: String,
    },

    /// A run of this backup set is already in progress in this process.
    #[error("a backup of set {set:?} to {destination} is already running; wait for it to finish")]
    AlreadyRunning {
        /// The set's name.
        set: String,
        /// The destination.
        destination: String,
    },

    /// The run was cancelled through its [`crate::RunningBackup`] handle; the
    /// upload was aborted.
    #[error("the backup was cancelled; nothing was left at the destination")]
    Cancelled,

    /// A read of a backup ([`crate::BackupStore::read`]) stopped before the
    /// end of the archive: its task was ended (the runtime shutting down).
    #[error(
        "reading backup {key} stopped before the end of the archive; the records read so far may be incomplete"
    )]
    ReadInterrupted {
        /// The backup's key.
        key: String,
    },

    /// Code running inside a backup or restore (a progress callback, most
    /// likely) panicked; the upload was aborted, or the restore rolled back.
    #[error("the run stopped because code inside it panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },

    /// Two selected classes would write archive members of the same name.
    #[error(
        "{types} would all be backed up as member {member}; a backup holds one member per name, so select only one of them"
    )]
    DuplicateMember {
        /// The member name.
        member: String,
        /// The clashing types' full names.
        types: String,
    },

    /// A selected class's table does not exist and the backup was told to
    /// require every table.
    #[error("table {table:?} of {class} does not exist (was it renamed, or never created?)")]
    MissingTable {
        /// `<TypeName>--<table>`.
        class: String,
        /// The table looked for (prefix included).
        table: String,
    },

    /// A selected class's table held records in the last completed backup
    /// of this set and does not exist now. Backing it up as empty would
    /// let retention delete the last backup that holds its records.
    #[error(
        "table {table:?} of {class} held {records} records in the last backup of this set and does not exist now (dropped or renamed?); nothing was backed up"
    )]
    TableGone {
        /// `<TypeName>--<table>`.
        class: String,
        /// The table looked for (prefix included).
        table: String,
        /// Records it held in the last completed backup.
        records: u64,
    },

    /// The archive holds no member this program can restore (no type of
    /// it is registered here): restoring it would change nothing.
    #[error(
        "backup {key} holds no records of a type registered in this program (it holds {held}); link the crate that defines them"
    )]
    NothingToRestore {
        /// The backup's key.
        key: String,
        /// What it holds instead.
        held: String,
    },

    /// Classes asked for by the restore's selection have no member in the
    /// archive: nothing was restored.
    #[error("backup {key} holds no records of {missing}; it holds {available}{hint}")]
    ClassesNotInBackup {
        /// The backup's key.
        key: String,
        /// The selected classes without a member (`<TypeName>--<table>`).
        missing: String,
        /// The class members the archive does hold.
        available: String,
        /// What may explain it (a renamed table), or empty.
        hint: String,
    },

    /// A restore into several databases failed while committing: the
    /// databases listed in `committed` hold the restored records, the rest
    /// were rolled back.
    #[error(
        "the restore committed {committed:?} but then failed to commit {failed}; those were rolled back: {source}"
    )]
    PartialRestore {
        /// Databases that were committed (as `Backend::describe` gives them).
        committed: Vec<String>,
        /// The database whose commit failed.
        failed: String,
        /// Why.
        #[source]
        source: Box<gludb_core::Error>,
    },

    /// This kind of store cannot do what was asked.
    #[error("{what} is not supported for {destination}")]
    Unsupported {
        /// What was asked.
        what: &'static str,
        /// The destination.
        destination: String,
    },

    /// A local I/O error.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Where and why a record in an archive does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line} of {member} in backup {key} (record {id:?}) does not decode into `{type_name}`: {reason}"
)]
pub struct RecordProblem {
    /// The backup's key.
    pub key: String,
    /// The member.
    pub member: String,
    /// 1-based line number.
    pub line: u64,
    /// The record's id, if it has one.
    pub id: Option<String>,
    /// The type it should decode into.
    pub type_name: String,
    /// What is wrong.
    pub reason: String,
}

impl BackupError {
    /// Turns an I/O error from the archive pipeline back into the typed
    /// error it carries (database, store), or an I/O error.
    pub(crate) fn from_pipeline(error: io::Error, destination: &str, context: &str) -> Self {
        let typed = error.get_ref().is_some_and(|e| {
            e.is::<BackupError>() || e.is::<gludb_core::Error>() || e.is::<object_store::Error>()
        });
        if !typed {
            return Self::io(context, error);
        }
        let Some(inner) = error.into_inner() else {
            // Unreachable: `get_ref` returned Some above.
            return Self::io(context, io::Error::other("an error without details"));
        };
        let inner = match inner.downcast::<BackupError>() {
            Ok(backup) => return *backup,
            Err(inner) => inner,
        };
        let inner = match inner.downcast::<gludb_core::Error>() {
            Ok(db) => return BackupError::Database(*db),
            Err(inner) => inner,
        };
        match inner.downcast::<object_store::Error>() {
            Ok(store) => Self::store(destination, context, *store),
            Err(inner) => Self::io(context, io::Error::other(inner)),
        }
    }

    /// Classifies an object store error: refused credentials are their own case.
    pub(crate) fn store(destination: &str, context: &str, source: object_store::Error) -> Self {
        let destination = destination.to_owned();
        let context = context.to_owned();
        let source = Box::new(source);
        if refused_credentials(&source) {
            BackupError::AccessDenied {
                destination,
                context,
                source,
            }
        } else {
            BackupError::Store {
                destination,
                context,
                source,
            }
        }
    }

    pub(crate) fn io(context: &str, source: io::Error) -> Self {
        BackupError::Io {
            context: context.to_owned(),
            source,
        }
    }
}

/// Whether the store refused the request's credentials: `object_store` says
/// so for object requests; for listing it only reports the HTTP status (its
/// retry error type is private), so look for 401/403 in the error chain.
pub(crate) fn refused_credentials(error: &object_store::Error) -> bool {
    if matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) {
        return true;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        let text = current.to_string();
        if text.contains("403 Forbidden") || text.contains("401 Unauthorized") {
            return true;
        }
        cause = current.source();
    }
    false
}
