//! SQL identifiers: every table, index and prefix name passes through here, so
//! a name that could inject SQL is an error and never reaches a statement.

use crate::{Error, Result};

/// PostgreSQL truncates identifiers longer than 63 bytes; refuse them instead.
const MAX_IDENTIFIER_LEN: usize = 63;

/// Checks that `name` is a plain identifier: ASCII letter or `_`, then
/// letters, digits or `_`, at most 63 bytes.
///
/// ```
/// use gludb_core::names::validate_identifier;
/// assert!(validate_identifier("table", "SimpleTest").is_ok());
/// assert!(validate_identifier("table", "x; drop table y").is_err());
/// ```
pub fn validate_identifier(kind: &'static str, name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidName {
            kind,
            name: name.to_owned(),
            reason,
        })
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return invalid("it is empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return invalid("it must start with an ASCII letter or `_`");
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return invalid("only ASCII letters, digits and `_` are allowed");
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        return invalid("it is longer than 63 bytes");
    }
    Ok(())
}

/// Quotes an identifier that [`validate_identifier`] accepted.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, reason = "only the backends quote")
)]
pub(crate) fn quote(name: &str) -> String {
    // Validated names contain no `"`, so this quoting is exact; quoting keeps
    // the original's mixed-case table names (e.g. `SimpleTest`) as they are.
    format!("\"{name}\"")
}

/// The validated names of one table: the table and its index columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table name, prefix included.
    pub table: String,
    /// The index column names.
    pub indexes: Vec<String>,
}

impl TableSpec {
    /// Validates the names and builds the spec.
    pub fn new(table: String, indexes: &[&str]) -> Result<Self> {
        validate_identifier("table", &table)?;
        for index in indexes {
            validate_identifier("index", index)?;
            if matches!(*index, "id" | "value") {
                return Err(Error::InvalidName {
                    kind: "index",
                    name: (*index).to_owned(),
                    reason: "`id` and `value` are the record's own columns",
                });
            }
        }
        Ok(Self {
            table,
            indexes: indexes.iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_anything_that_is_not_a_plain_identifier() {
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "a\"b",
            "x;drop table y",
            "é",
            &"a".repeat(64),
        ] {
            assert!(validate_identifier("table", bad).is_err(), "{bad:?}");
        }
        for good in ["a", "_", "SimpleTest", "app_SimpleTest", &"a".repeat(63)] {
            assert!(validate_identifier("table", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn index_columns_may_not_shadow_the_record_columns() {
        assert!(TableSpec::new("t".into(), &["value"]).is_err());
        assert!(TableSpec::new("t".into(), &["by_name"]).is_ok());
    }
}
