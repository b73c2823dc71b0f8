//! Which database stores which type: a default plus per-type mappings,
//! resolved along the method resolution order like the original GLUDB.

use std::{collections::HashMap, fmt, sync::Arc};

use crate::{
    Backend, Error, Result, Storable, TypeInfo,
    mro::mro,
    names::{IndexName, TableName, TableSpec, identifier_problem, table_name_problem},
};

/// The database configuration of an application: a value you pass around, so
/// tests (and tenants) can each have their own.
///
/// ```
/// # async fn demo() -> gludb_core::Result<()> {
/// use gludb_core::{Databases, sqlite::Sqlite};
/// let dbs = Databases::new(Sqlite::open_in_memory().await?)
///     .with_table_prefix("myapp")?; // tables are named `myapp_<table>`
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Databases {
    default: Option<Arc<dyn Backend>>,
    by_type: HashMap<String, Arc<dyn Backend>>,
    prefix: Option<String>,
}

impl fmt::Debug for Databases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mapped: HashMap<_, _> = self
            .by_type
            .iter()
            .map(|(t, db)| (t.as_str(), db.describe()))
            .collect();
        f.debug_struct("Databases")
            .field("default", &self.default.as_ref().map(|db| db.describe()))
            .field("by_type", &mapped)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Databases {
    /// A configuration whose default database is `default`.
    pub fn new(default: impl Backend) -> Self {
        Self {
            default: Some(Arc::new(default)),
            ..Self::default()
        }
    }

    /// A configuration with no default: every type needs a mapping.
    pub fn without_default() -> Self {
        Self::default()
    }

    /// Stores `T` (and every type that has `T` as a base, unless it or a
    /// nearer base is mapped itself) in `db`.
    pub fn map<T: Storable>(self, db: impl Backend) -> Self {
        self.map_shared::<T>(Arc::new(db))
    }

    /// Like [`map`](Self::map), for a database handle already shared.
    pub fn map_shared<T: Storable>(mut self, db: Arc<dyn Backend>) -> Self {
        self.by_type.insert(T::type_info().full_name(), db);
        self
    }

    /// Prefixes every table name: `<prefix>_<table>`.
    ///
    /// The prefix must be a plain identifier (see [`crate::names`]) that
    /// does not make table names start with `sqlite_`; otherwise
    /// [`Error::InvalidName`]. A prefixed name longer than 63 bytes is
    /// refused when the type's table is resolved.
    pub fn with_table_prefix(mut self, prefix: impl Into<String>) -> Result<Self> {
        let prefix = prefix.into();
        // A valid `<prefix>_` makes every `<prefix>_<table>` valid but for
        // its length (a valid table name starts with no digit).
        let problem =
            identifier_problem(&prefix).or_else(|| table_name_problem(&format!("{prefix}_")));
        if let Some(problem) = problem {
            return Err(Error::InvalidName {
                kind: "table prefix",
                name: prefix,
                reason: problem.reason(),
            });
        }
        // SQLite and PostgreSQL (as gludb finds tables) ignore the case of
        // names: `Acme` and `acme` would be one set of tables, so tenants
        // told apart by case would share records.
        if prefix.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Error::InvalidName {
                kind: "table prefix",
                name: prefix,
                reason: "it must be lower case: SQL names ignore case, so prefixes that differ only in case would name the same tables",
            });
        }
        self.prefix = Some(prefix);
        Ok(self)
    }

    /// The default database, if any.
    pub fn default_database(&self) -> Option<&Arc<dyn Backend>> {
        self.default.as_ref()
    }

    /// The database that stores `info`'s type: the first explicit mapping
    /// along its method resolution order, else the default.
    pub fn database_for(&self, info: &'static TypeInfo) -> Result<&Arc<dyn Backend>> {
        if !self.by_type.is_empty() {
            for class in mro(info)? {
                if let Some(db) = self.by_type.get(&class.full_name()) {
                    return Ok(db);
                }
            }
        }
        self.default.as_ref().ok_or_else(|| Error::NoDatabase {
            type_name: info.type_name().to_owned(),
        })
    }

    /// The table `info`'s records live in, prefix included;
    /// [`Error::InvalidName`] if the prefixed name is too long.
    pub fn table_name(&self, info: &TypeInfo) -> Result<TableName> {
        match &self.prefix {
            Some(prefix) => TableName::new(format!("{prefix}_{}", info.table())),
            None => TableName::new(info.table()),
        }
    }

    /// The table and index names of `info`'s type.
    pub fn table_spec(&self, info: &TypeInfo) -> Result<TableSpec> {
        let indexes = info
            .indexes()
            .iter()
            .map(IndexName::new)
            .collect::<Result<_>>()?;
        Ok(TableSpec::new(self.table_name(info)?, indexes))
    }

    /// Database and validated table of `info`'s type in one call.
    pub fn resolve(&self, info: &'static TypeInfo) -> Result<(&Arc<dyn Backend>, TableSpec)> {
        Ok((self.database_for(info)?, self.table_spec(info)?))
    }
}
