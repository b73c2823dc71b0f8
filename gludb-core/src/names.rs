//! SQL names as types: a [`TableName`] or an [`IndexName`] can only be
//! built from a name that passes the one identifier rule of this module, so
//! every name a backend formats into SQL is a plain identifier (as
//! `object_store` does with its `path::Path`).
//!
//! The rule, [`table_name_problem`] and [`index_name_problem`], is a `const
//! fn`: `#[derive(Storable)]` evaluates it at compile time on the names in
//! `#[gludb(...)]` (a bad name is a compile error pointing at it), and the
//! runtime evaluates the same function when a name is built, e.g. with a
//! table prefix.
//!
//! A name is valid when it
//! * is not empty, at most [`MAX_NAME_LEN`] (63) bytes (PostgreSQL
//!   truncates longer identifiers),
//! * starts with an ASCII letter or `_`, followed by ASCII letters, digits
//!   or `_` (`[A-Za-z_][A-Za-z0-9_]*`);
//! * for a table, does not start with `sqlite_` in any case (SQLite
//!   reserves those names);
//! * for an index, is not `id` or `value` in any case (every table's own
//!   columns; SQLite and the PostgreSQL backend's new columns ignore case).
//!
//! ```
//! use gludb_core::{IndexName, TableName};
//!
//! let table = TableName::new("SimpleTest")?;
//! assert_eq!(table.as_str(), "SimpleTest");
//! assert!(TableName::new("x\"; DROP TABLE y; --").is_err());
//! assert!(IndexName::new("by_name").is_ok());
//! assert!(IndexName::new("Value").is_err());
//! # Ok::<(), gludb_core::Error>(())
//! ```
//!
//! A backend method takes the types, never a `&str`:
//!
//! ```compile_fail,E0308
//! # async fn f(db: &dyn gludb_core::Backend) {
//! db.find_one("x\"; DROP TABLE y; --", "id").await;
//! # }
//! ```

use std::{borrow::Borrow, fmt, str::FromStr, sync::Arc};

use crate::{Error, Result};

/// The longest name, in bytes: PostgreSQL truncates identifiers past 63
/// bytes (`NAMEDATALEN - 1`), so longer ones are refused instead.
pub const MAX_NAME_LEN: usize = 63;

/// The table names SQLite keeps for itself (`sqlite_master`, ...).
const SQLITE_RESERVED_PREFIX: &[u8] = b"sqlite_";

/// The columns every table has, which an index column may not shadow.
const RECORD_COLUMNS: [&[u8]; 2] = [b"id", b"value"];

/// Defines [`NameProblem`] with its reasons, and the whole messages the
/// derive's compile-time check shows, from one list.
macro_rules! problems {
    ($($(#[$doc:meta])* $variant:ident => $reason:literal,)*) => {
        /// Why a name is not a valid table or index name (see the
        /// [module documentation](self) for the rule).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum NameProblem {
            $($(#[$doc])* $variant,)*
        }

        impl NameProblem {
            /// Why the name is refused, e.g. "it is empty".
            pub const fn reason(self) -> &'static str {
                match self {
                    $(NameProblem::$variant => $reason,)*
                }
            }

            /// The whole message for a table name: what
            /// `#[derive(Storable)]` shows at compile time.
            pub const fn table_message(self) -> &'static str {
                match self {
                    $(NameProblem::$variant => concat!(
                        "invalid table name: ", $reason,
                        "; a table name is used in SQL, so it must match [A-Za-z_][A-Za-z0-9_]*, \
                         be at most 63 bytes and not start with `sqlite_`"
                    ),)*
                }
            }

            /// The whole message for an index name: what
            /// `#[derive(Storable)]` shows at compile time.
            pub const fn index_message(self) -> &'static str {
                match self {
                    $(NameProblem::$variant => concat!(
                        "invalid index name: ", $reason,
                        "; an index name is a column name in SQL, so it must match \
                         [A-Za-z_][A-Za-z0-9_]*, be at most 63 bytes and not be `id` or `value`"
                    ),)*
                }
            }
        }
    };
}

problems! {
    /// The name is empty.
    Empty => "it is empty",
    /// The first character is not an ASCII letter or `_`.
    BadStart => "it must start with an ASCII letter or `_`",
    /// A character other than an ASCII letter, digit or `_`.
    BadChar => "only ASCII letters, digits and `_` are allowed",
    /// Longer than [`MAX_NAME_LEN`] bytes.
    TooLong => "it is longer than 63 bytes",
    /// A table name starting with `sqlite_` (in any case).
    SqliteReserved => "names starting with `sqlite_` are reserved by SQLite",
    /// An index named `id` or `value` (in any case).
    RecordColumn => "`id` and `value` are the columns holding the record id and its JSON",
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Why `name` is not a plain SQL identifier (`[A-Za-z_][A-Za-z0-9_]*`, at
/// most 63 bytes), or `None`. The part of the rule shared by every kind of
/// name; a table prefix only has to pass this.
pub const fn identifier_problem(name: &str) -> Option<NameProblem> {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return Some(NameProblem::Empty);
    };
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return Some(NameProblem::BadStart);
    }
    let mut i = 1;
    while i < bytes.len() {
        // Any byte of a non-ASCII character is >= 0x80, so refused here.
        if !(bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            return Some(NameProblem::BadChar);
        }
        i += 1;
    }
    if bytes.len() > MAX_NAME_LEN {
        return Some(NameProblem::TooLong);
    }
    None
}

/// Why `name` is not a valid table name, or `None`: [`identifier_problem`],
/// and not starting with `sqlite_` in any case.
///
/// ```
/// use gludb_core::names::{NameProblem, table_name_problem};
/// assert_eq!(table_name_problem("SimpleTest"), None);
/// assert_eq!(table_name_problem("user-data"), Some(NameProblem::BadChar));
/// assert_eq!(table_name_problem("SQLite_stat1"), Some(NameProblem::SqliteReserved));
/// ```
pub const fn table_name_problem(name: &str) -> Option<NameProblem> {
    if let Some(problem) = identifier_problem(name) {
        return Some(problem);
    }
    if starts_with_ignore_ascii_case(name.as_bytes(), SQLITE_RESERVED_PREFIX) {
        return Some(NameProblem::SqliteReserved);
    }
    None
}

/// Why `name` is not a valid index name, or `None`: [`identifier_problem`],
/// and not `id` or `value` in any case.
///
/// ```
/// use gludb_core::names::{NameProblem, index_name_problem};
/// assert_eq!(index_name_problem("by_name"), None);
/// assert_eq!(index_name_problem("ID"), Some(NameProblem::RecordColumn));
/// ```
pub const fn index_name_problem(name: &str) -> Option<NameProblem> {
    if let Some(problem) = identifier_problem(name) {
        return Some(problem);
    }
    let mut i = 0;
    while i < RECORD_COLUMNS.len() {
        let column = RECORD_COLUMNS[i];
        if name.len() == column.len() && starts_with_ignore_ascii_case(name.as_bytes(), column) {
            return Some(NameProblem::RecordColumn);
        }
        i += 1;
    }
    None
}

/// `bytes` starts with `prefix`, ignoring ASCII case (byte by byte:
/// `u8::eq_ignore_ascii_case` is `const` on every toolchain gludb supports,
/// the slice method only on recent ones).
const fn starts_with_ignore_ascii_case(bytes: &[u8], prefix: &[u8]) -> bool {
    if bytes.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if !bytes[i].eq_ignore_ascii_case(&prefix[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Checks that `name` is a plain identifier ([`identifier_problem`]);
/// `kind` names it in the error ("table prefix", ...).
///
/// ```
/// use gludb_core::names::validate_identifier;
/// assert!(validate_identifier("table prefix", "myapp").is_ok());
/// assert!(validate_identifier("table prefix", "x; drop table y").is_err());
/// ```
pub fn validate_identifier(kind: &'static str, name: &str) -> Result<()> {
    match identifier_problem(name) {
        None => Ok(()),
        Some(problem) => Err(invalid(kind, name, problem)),
    }
}

fn invalid(kind: &'static str, name: &str, problem: NameProblem) -> Error {
    Error::InvalidName {
        kind,
        name: name.to_owned(),
        reason: problem.reason(),
    }
}

/// Quotes a name for SQL: a [`TableName`], an [`IndexName`], or a name
/// built from them or found in a catalog that equals one up to case.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "only the backends quote")
)]
pub(crate) fn quote(name: &str) -> String {
    // Such names contain no `"`, so this quoting is exact; quoting keeps the
    // original's mixed-case table names (e.g. `SimpleTest`) as they are.
    format!("\"{name}\"")
}

/// Defines a validated name type: construction, access, conversions.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $problem:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            #[doc = concat!("Validates `name` as ", $kind, " name; [`Error::InvalidName`] (naming it, with the")]
            #[doc = "reason) if it is not one."]
            pub fn new(name: impl AsRef<str>) -> Result<Self> {
                let name = name.as_ref();
                match $problem(name) {
                    None => Ok(Self(Arc::from(name))),
                    Some(problem) => Err(invalid(concat!($kind), name, problem)),
                }
            }

            /// The name, as it was given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(name: &str) -> Result<Self> {
                Self::new(name)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(name: String) -> Result<Self> {
                Self::new(name)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(name: &str) -> Result<Self> {
                Self::new(name)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0.to_string()
            }
        }
    };
}

name_type! {
    /// A table name that passed [`table_name_problem`]: the only way a table
    /// name reaches a [`crate::Backend`], so no caller of the trait can put
    /// anything but a plain identifier into its SQL. Cheap to clone.
    ///
    /// ```
    /// use gludb_core::TableName;
    /// let name: TableName = "app_SimpleTest".parse()?;
    /// assert_eq!(name, "app_SimpleTest");
    /// let err = TableName::new("a b").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid table name \"a b\": only ASCII letters, digits and `_` are allowed"
    /// );
    /// # Ok::<(), gludb_core::Error>(())
    /// ```
    TableName, "table", table_name_problem
}

name_type! {
    /// An index (column) name that passed [`index_name_problem`]: the only
    /// way an index name reaches a [`crate::Backend`]. Cheap to clone.
    ///
    /// ```
    /// use gludb_core::IndexName;
    /// assert_eq!(IndexName::new("by_name")?.as_str(), "by_name");
    /// assert!(IndexName::new("id").is_err());
    /// # Ok::<(), gludb_core::Error>(())
    /// ```
    IndexName, "index", index_name_problem
}

/// The names of one table: the table and its index columns, validated by
/// their types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table name, prefix included.
    pub table: TableName,
    /// The index column names, in the type's declaration order.
    pub indexes: Vec<IndexName>,
}

impl TableSpec {
    /// The spec of `table` with `indexes`.
    pub fn new(table: TableName, indexes: Vec<IndexName>) -> Self {
        Self { table, indexes }
    }

    /// Validates the names and builds the spec: [`Error::InvalidName`] for
    /// the first invalid one.
    ///
    /// ```
    /// use gludb_core::TableSpec;
    /// let spec = TableSpec::parse("SimpleTest", &["reversed_name"])?;
    /// assert_eq!(spec.indexes[0], "reversed_name");
    /// assert!(TableSpec::parse("SimpleTest", &["value"]).is_err());
    /// # Ok::<(), gludb_core::Error>(())
    /// ```
    pub fn parse(table: &str, indexes: &[&str]) -> Result<Self> {
        Ok(Self {
            table: TableName::new(table)?,
            indexes: indexes.iter().map(IndexName::new).collect::<Result<_>>()?,
        })
    }

    /// The declared index named `name`, if any.
    pub fn index(&self, name: &str) -> Option<&IndexName> {
        self.indexes.iter().find(|index| *index == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names no kind of name accepts, and why.
    const BAD: &[(&str, NameProblem)] = &[
        ("", NameProblem::Empty),
        ("1abc", NameProblem::BadStart),
        ("-a", NameProblem::BadStart),
        ("é", NameProblem::BadStart),
        ("a-b", NameProblem::BadChar),
        ("a b", NameProblem::BadChar),
        ("a\"b", NameProblem::BadChar),
        ("x\"; DROP TABLE y; --", NameProblem::BadChar),
        ("naïve", NameProblem::BadChar),
        ("a\0", NameProblem::BadChar),
        ("tab\t", NameProblem::BadChar),
    ];

    #[test]
    fn every_kind_refuses_what_is_not_a_plain_identifier() {
        let long = "a".repeat(64);
        let bad = BAD
            .iter()
            .copied()
            .chain([(long.as_str(), NameProblem::TooLong)]);
        for (name, problem) in bad {
            assert_eq!(identifier_problem(name), Some(problem), "{name:?}");
            assert_eq!(table_name_problem(name), Some(problem), "{name:?}");
            assert_eq!(index_name_problem(name), Some(problem), "{name:?}");
            assert!(TableName::new(name).is_err(), "{name:?}");
            assert!(IndexName::new(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn plain_identifiers_are_accepted() {
        let long = "a".repeat(63);
        for name in ["a", "_", "SimpleTest", "app_SimpleTest", "select", &long] {
            assert_eq!(table_name_problem(name), None, "{name:?}");
            assert_eq!(index_name_problem(name), None, "{name:?}");
            assert_eq!(TableName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn kinds_differ_only_in_their_reserved_names() {
        for name in ["sqlite_master", "SQLITE_x", "Sqlite_"] {
            assert_eq!(table_name_problem(name), Some(NameProblem::SqliteReserved));
            assert_eq!(index_name_problem(name), None);
        }
        for name in ["sqlite", "sqlitex", "my_sqlite_t"] {
            assert_eq!(table_name_problem(name), None);
        }
        for name in ["id", "ID", "value", "Value", "VALUE"] {
            assert_eq!(index_name_problem(name), Some(NameProblem::RecordColumn));
            assert_eq!(table_name_problem(name), None);
        }
        for name in ["ids", "values", "i", "value_"] {
            assert_eq!(index_name_problem(name), None);
        }
    }

    #[test]
    fn errors_name_the_kind_the_name_and_the_reason() {
        let err = IndexName::new("Value").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid index name \"Value\": `id` and `value` are the columns holding the record \
             id and its JSON"
        );
        assert!(
            NameProblem::TooLong
                .table_message()
                .starts_with("invalid table name: it is longer than 63 bytes; ")
        );
    }

    #[test]
    fn the_rule_runs_at_compile_time() {
        const _: () = assert!(table_name_problem("SimpleTest").is_none());
        const _: () = assert!(matches!(
            table_name_problem("a b"),
            Some(NameProblem::BadChar)
        ));
    }

    #[test]
    fn specs_validate_every_name() {
        assert!(TableSpec::parse("t", &["value"]).is_err());
        assert!(TableSpec::parse("t t", &["by_name"]).is_err());
        let spec = TableSpec::parse("t", &["by_name"]).unwrap();
        assert_eq!(
            spec.index("by_name").map(IndexName::as_str),
            Some("by_name")
        );
        assert_eq!(spec.index("other"), None);
    }
}
