//! What the registry knows about one stored type.

/// The id and index values of one decoded record, as the data layer stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKeys {
    /// The record's `id`.
    pub id: String,
    /// One value per index, in the order of [`TypeInfo::indexes`].
    pub index_values: Vec<String>,
}

/// The fingerprint of a type's shape: the first 16 hex digits of its
/// SHA-256. The same source gives the same fingerprint on every build and
/// machine.
///
/// ```
/// let a = gludb_core::fingerprint("table=Notes;bases=;indexes=;fields=id:String");
/// assert_eq!(a.len(), 16);
/// assert_ne!(a, gludb_core::fingerprint("table=Notes;bases=;indexes=;fields=id:u64"));
/// ```
pub fn fingerprint(shape: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(shape.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a stored record (its JSON text) into the type and computes its keys.
pub type DecodeFn = fn(&str) -> Result<RecordKeys, serde_json::Error>;

/// Registry entry of one `#[derive(Storable)]` type: everything the backup and
/// restore need to know about it without naming the Rust type.
///
/// Built by the derive macro; read it through [`crate::Storable::type_info`] or
/// the [`crate::registry`] functions.
#[derive(Debug)]
pub struct TypeInfo {
    type_name: &'static str,
    table: &'static str,
    module_path: &'static str,
    bases: &'static [fn() -> &'static TypeInfo],
    indexes: &'static [&'static str],
    shape: &'static str,
    decode: DecodeFn,
}

impl TypeInfo {
    /// Used by the code `#[derive(Storable)]` generates; not a stable API.
    #[doc(hidden)]
    pub const fn __new(
        type_name: &'static str,
        table: &'static str,
        module_path: &'static str,
        bases: &'static [fn() -> &'static TypeInfo],
        indexes: &'static [&'static str],
        shape: &'static str,
        decode: DecodeFn,
    ) -> Self {
        Self {
            type_name,
            table,
            module_path,
            bases,
            indexes,
            shape,
            decode,
        }
    }

    /// The type's shape as `#[derive(Storable)]` read it from the source:
    /// table, bases, indexes, and each field's name, type and
    /// `#[serde(...)]` attributes (sorted by name), e.g.
    /// `table=Notes;bases=;indexes=;fields=id:String,text:String`. Its hash
    /// is the schema fingerprint backups record per class.
    pub fn shape(&self) -> &'static str {
        self.shape
    }

    /// The schema fingerprint: [`fingerprint`] of the [`shape`](Self::shape).
    /// Backups record it per class, so a restore can tell when the type
    /// changed since.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.shape)
    }

    /// The Rust type's name, e.g. `SimpleData` (GLUDB's class name).
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The table name declared with `#[gludb(table = "...")]`, before any prefix.
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// `module_path!()` where the type is declared, e.g. `myapp::model`.
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// `module_path::TypeName`: unique for each type in one binary.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.module_path, self.type_name)
    }

    /// GLUDB's backup name of the class: `<TypeName>--<table>`.
    pub fn backup_name(&self) -> String {
        format!("{}--{}", self.type_name, self.table)
    }

    /// The declared direct bases, in declaration order.
    pub fn bases(&self) -> impl ExactSizeIterator<Item = &'static TypeInfo> + '_ {
        self.bases.iter().map(|base| base())
    }

    /// Names of the type's indexes, in declaration order.
    pub fn indexes(&self) -> &'static [&'static str] {
        self.indexes
    }

    /// Decodes a stored record into the type and returns its id and index values.
    ///
    /// This is how a restore checks a record against the type's current schema
    /// without knowing the Rust type.
    pub fn decode(&self, json: &str) -> Result<RecordKeys, serde_json::Error> {
        (self.decode)(json)
    }

    /// Whether `self` and `other` describe the same type.
    pub fn same_type(&self, other: &TypeInfo) -> bool {
        std::ptr::eq(self, other)
            || (self.type_name == other.type_name && self.module_path == other.module_path)
    }
}
