//! Checks of the parsed input that the compiler would not make, or would make
//! with an error far from the user's mistake.
//!
//! Two checks are left to the compiler on purpose, with the generated code
//! spanned so its errors land on the user's tokens: that each base is
//! `Storable`, and that each index names a method.

use crate::ast::{Field, Input};
use quote::quote;
use syn::ext::IdentExt;
use syn::{Error, Ident, Type};

/// The longest SQL name accepted: `PostgreSQL` truncates identifiers past 63 bytes.
const MAX_SQL_NAME_LEN: usize = 63;

/// Index names that clash with the columns every table has.
const RESERVED_INDEX_NAMES: [&str; 2] = ["id", "value"];

/// Collects every error found, so one build shows them all.
#[derive(Default)]
pub struct Errors(Option<Error>);

impl Errors {
    /// Records `err` next to the errors found before it.
    pub fn push(&mut self, err: Error) {
        match &mut self.0 {
            Some(first) => first.combine(err),
            None => self.0 = Some(err),
        }
    }

    /// `Err` with all recorded errors, or `Ok` when there were none.
    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// Runs every check on `input`, recording problems in `errors`.
pub fn check(input: &Input, errors: &mut Errors) {
    check_generics(input, errors);
    if let Some(fields) = &input.fields {
        check_id_field(input.ident, fields, errors);
    }
    check_table(input, errors);
    check_bases(input, errors);
    check_indexes(input, errors);
}

/// A stored type maps to one table and is restored by name, so it cannot be
/// generic.
fn check_generics(input: &Input, errors: &mut Errors) {
    let generics = input.generics;
    if !generics.params.is_empty() {
        errors.push(Error::new_spanned(
            generics,
            format!(
                "Storable does not support generic types: `{}` is stored in one table and \
                 restored by its name alone, so it cannot have type, lifetime or const parameters",
                input.ident
            ),
        ));
    }
}

/// The record id lives in an `id: String` field that the data layer reads and
/// fills in.
fn check_id_field(ident: &Ident, fields: &[Field], errors: &mut Errors) {
    match fields.iter().find(|field| field.ident.unraw() == "id") {
        None => errors.push(Error::new(
            ident.span(),
            "a Storable type needs an `id: String` field: GLUDB's 32-hex-char record id, \
             filled in on first save",
        )),
        Some(field) if !is_string(field.ty) => {
            let ty = field.ty;
            errors.push(Error::new_spanned(
                ty,
                format!(
                    "the `id` field of a Storable type must be a `String` (GLUDB's 32-hex-char \
                     record id, filled in on first save), not `{}`",
                    quote!(#ty).to_string().replace(' ', "")
                ),
            ));
        }
        Some(_) => {}
    }
}

/// Whether `ty` is written as `String`, `std::string::String` or similar.
///
/// Only the spelling can be checked here; the generated `&self.id` as `&str`
/// catches a type alias to something else.
fn is_string(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "String" && last.arguments.is_none()),
        Type::Group(group) => is_string(&group.elem),
        Type::Paren(paren) => is_string(&paren.elem),
        _ => false,
    }
}

/// `table` is required and becomes an SQL table name.
fn check_table(input: &Input, errors: &mut Errors) {
    match &input.attrs.table {
        Some(lit) => {
            let name = lit.value();
            if let Some(problem) = sql_name_problem(&name) {
                errors.push(Error::new(
                    lit.span(),
                    format!(
                        "invalid table name \"{name}\": {problem}; the table name is used in SQL, \
                         so it must match [A-Za-z_][A-Za-z0-9_]* and be at most \
                         {MAX_SQL_NAME_LEN} bytes"
                    ),
                ));
            }
        }
        // After a syntax error the `table` key may simply not have been read.
        None if input.attrs.complete => errors.push(Error::new(
            input.ident.span(),
            "#[derive(Storable)] needs #[gludb(table = \"...\")] naming the table that stores \
             this type",
        )),
        None => {}
    }
}

/// Bases must be distinct and other types; whether they are `Storable` is
/// left to the compiler.
fn check_bases(input: &Input, errors: &mut Errors) {
    let mut seen = Vec::new();
    for base in &input.attrs.bases {
        let text = quote!(#base).to_string().replace(' ', "");
        if base.is_ident(input.ident) || base.is_ident("Self") {
            errors.push(Error::new_spanned(
                base,
                format!("`{}` cannot be a base of itself", input.ident),
            ));
        } else if seen.contains(&text) {
            errors.push(Error::new_spanned(
                base,
                format!("duplicate base `{text}`; each base is listed once"),
            ));
        } else {
            seen.push(text);
        }
    }
}

/// Index names become SQL names and must not clash with each other or with
/// the `id` and `value` columns.
fn check_indexes(input: &Input, errors: &mut Errors) {
    let mut seen = Vec::new();
    for index in &input.attrs.indexes {
        let name = index.unraw().to_string();
        if let Some(problem) = sql_name_problem(&name) {
            errors.push(Error::new(
                index.span(),
                format!(
                    "invalid index name `{name}`: {problem}; index names are used in SQL, so \
                     they must match [A-Za-z_][A-Za-z0-9_]* and be at most {MAX_SQL_NAME_LEN} \
                     bytes"
                ),
            ));
        } else if RESERVED_INDEX_NAMES.contains(&name.as_str()) {
            errors.push(Error::new(
                index.span(),
                format!(
                    "`{name}` cannot be an index name: `id` and `value` are reserved for the \
                     columns holding the record id and its JSON"
                ),
            ));
        } else if seen.contains(&name) {
            errors.push(Error::new(
                index.span(),
                format!("duplicate index `{name}`; each index is listed once"),
            ));
        } else {
            seen.push(name);
        }
    }
}

/// Why `name` is not a valid SQL name under `^[A-Za-z_][A-Za-z0-9_]*$` and
/// the 63-byte limit, or `None` if it is valid.
pub fn sql_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Some("it is empty".to_owned());
    };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Some(format!(
            "it starts with `{first}` but must start with an ASCII letter or `_`"
        ));
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Some(format!(
            "`{bad}` is not allowed, only ASCII letters, digits and `_` are"
        ));
    }
    if name.len() > MAX_SQL_NAME_LEN {
        return Some(format!("it is {} bytes long", name.len()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::sql_name_problem;

    #[test]
    fn accepts_sql_identifiers() {
        for name in ["a", "_", "SimpleTest", "inherited_test_2", &"x".repeat(63)] {
            assert_eq!(sql_name_problem(name), None, "{name}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for name in [
            "",
            "1abc",
            "has space",
            "dash-ed",
            "quo\"te",
            "semi;colon",
            "naïve",
            "é",
            &"x".repeat(64),
        ] {
            assert!(sql_name_problem(name).is_some(), "{name:?}");
        }
    }
}
