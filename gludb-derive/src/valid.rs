//! Checks of the parsed input that the compiler would not make, or would make
//! with an error far from the user's mistake.
//!
//! Three checks are left to the compiler on purpose, with the generated code
//! spanned so its errors land on the user's tokens: that each base is
//! `Storable`, that each index names a field or a method, and that the table
//! and index names are valid SQL names. The last one is gludb-core's own
//! rule (`gludb_core::names`), a `const fn` the generated code evaluates at
//! compile time (see `expand.rs`), so the derive and the runtime cannot
//! disagree on what a valid name is.

use crate::ast::{Field, Input};
use quote::quote;
use syn::ext::IdentExt;
use syn::{Error, Ident, Type, spanned::Spanned};

/// The keys besides `id` that gludb writes into every record itself (see
/// `encode` in gludb-core's `record.rs`), overwriting a field's value.
const TIMESTAMP_KEYS: [&str; 2] = ["_create_date", "_last_update"];

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
        check_reserved_keys(fields, errors);
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

/// No field may use a key that gludb writes into every record itself: the
/// data layer would overwrite its value on every save, without a word.
///
/// Both the key a field is written under and the keys it is read from count
/// (a field read from `_last_update` would read the timestamp). A field that
/// is not written (`skip`, `skip_serializing`, `flatten`) is fine: it can
/// only read what gludb wrote.
fn check_reserved_keys(fields: &[Field], errors: &mut Errors) {
    for field in fields.iter().filter(|field| field.serde.written) {
        let name = field.ident.unraw().to_string();
        let serde = &field.serde;
        let name_is_a_key = !(serde.renamed_ser && serde.renamed_de);
        if name_is_a_key && TIMESTAMP_KEYS.contains(&name.as_str()) {
            errors.push(Error::new(
                field.ident.span(),
                format!(
                    "a Storable type cannot have a field named `{name}`: gludb writes the keys \
                     `_create_date` and `_last_update` into every record itself, so the value \
                     saved in this field would be replaced by a timestamp; rename the field, or \
                     mark it `#[serde(skip_serializing)]` if it is only meant to read gludb's \
                     timestamp"
                ),
            ));
        }
        for key in &serde.keys {
            let key_name = key.value();
            let holds = if TIMESTAMP_KEYS.contains(&key_name.as_str()) {
                "`_create_date` and `_last_update` are set to timestamps on every save"
            } else if key_name == "id" && name != "id" {
                "it holds the record id, taken from the `id` field"
            } else {
                continue;
            };
            errors.push(Error::new(
                key.span(),
                format!(
                    "`#[serde(...)]` gives field `{name}` the key `{key_name}`, which gludb \
                     writes into every record itself ({holds}), so the field's value would be \
                     lost; choose another key"
                ),
            ));
        }
    }
}

/// Whether `ty` is written as `String`, `std::string::String` or similar.
///
/// Only the spelling can be checked here; the generated `&self.id` as `&str`
/// catches a type alias to something else.
pub(crate) fn is_string(ty: &Type) -> bool {
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

/// `table` is required; whether it is a valid SQL name is checked by the
/// generated code (see the module documentation).
fn check_table(input: &Input, errors: &mut Errors) {
    // After a syntax error the `table` key may simply not have been read.
    if input.attrs.table.is_none() && input.attrs.complete {
        errors.push(Error::new(
            input.ident.span(),
            "#[derive(Storable)] needs #[gludb(table = \"...\")] naming the table that stores \
             this type",
        ));
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

/// Each index becomes a column, so it is listed once; column names ignore
/// ASCII case in SQLite (and in the PostgreSQL backend's new columns), so
/// `by_name` and `BY_NAME` are the same index. Whether a name is a valid SQL
/// name is checked by the generated code (see the module documentation).
fn check_indexes(input: &Input, errors: &mut Errors) {
    let mut seen: Vec<String> = Vec::new();
    for index in &input.attrs.indexes {
        let name = index.unraw().to_string();
        if let Some(first) = seen.iter().find(|s| s.eq_ignore_ascii_case(&name)) {
            let same = if *first == name {
                String::new()
            } else {
                format!(" (as `{first}`: column names ignore case)")
            };
            errors.push(Error::new(
                index.span(),
                format!("duplicate index `{name}`{same}; each index is listed once"),
            ));
        } else if name == "index" {
            // The generated `find_by_index` would hide the string-keyed
            // `Storable::find_by_index` every type has.
            errors.push(Error::new(
                index.span(),
                "`index` cannot be an index name: its finder `find_by_index` would hide \
                 `Storable::find_by_index(dbs, name, value)`; give the index another name",
            ));
        } else {
            if let Some(field) = input.field(index).filter(|f| is_option(f.ty)) {
                // `Option` has no `to_string`: say what to do instead of
                // letting the generated code fail on a trait bound.
                errors.push(Error::new(
                    field.ty.span(),
                    format!(
                        "index `{name}` is an `Option`, which has no single value to index; \
                         index a method instead, e.g. `fn {name}_or_empty(&self) -> String`"
                    ),
                ));
            }
            seen.push(name);
        }
    }
}

/// Whether `ty` is spelt `Option<..>` (or a path ending in it).
pub(crate) fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(path)
        if path.qself.is_none()
            && path.path.segments.last().is_some_and(|last| last.ident == "Option"))
}

#[cfg(test)]
mod tests {
    use super::{Errors, check};
    use crate::ast::Input;
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::{DeriveInput, parse_quote};

    /// The messages of every error the checks find in a struct holding `id`
    /// and `field`.
    fn errors_with(field: TokenStream) -> Vec<String> {
        let node: DeriveInput = parse_quote! {
            #[gludb(table = "T")]
            struct T { id: String, #field }
        };
        let mut errors = Errors::default();
        let input = Input::from_syn(&node, &mut errors);
        check(&input, &mut errors);
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn rejects_fields_using_gludbs_keys() {
        let field_named = "a Storable type cannot have a field named";
        let key_given = "which gludb writes into every record itself";
        for (field, expected) in [
            (quote!(_last_update: String), field_named),
            (quote!(r#_create_date: String), field_named),
            // Still read from its name.
            (
                quote!(#[serde(rename(serialize = "x"))] _last_update: String),
                field_named,
            ),
            (
                quote!(#[serde(skip_serializing_if = "str::is_empty")] _last_update: String),
                field_named,
            ),
            (
                quote!(#[serde(rename = "_last_update")] a: String),
                key_given,
            ),
            (
                quote!(#[serde(rename(serialize = "_create_date"))] a: String),
                key_given,
            ),
            (
                quote!(#[serde(rename(deserialize = "_last_update"))] a: String),
                key_given,
            ),
            (
                quote!(#[serde(alias = "_create_date")] a: String),
                key_given,
            ),
            (quote!(#[serde(rename = "id")] a: String), key_given),
            (
                quote!(#[serde(default)] #[serde(bound(serialize = "T: X"), rename = "_last_update")] a: String),
                key_given,
            ),
        ] {
            let errors = errors_with(field.clone());
            assert_eq!(errors.len(), 1, "{field}: {errors:?}");
            assert!(errors[0].contains(expected), "{field}: {errors:?}");
        }
        // The `id` field itself must not be moved onto a timestamp either.
        let node: DeriveInput = parse_quote! {
            #[gludb(table = "T")]
            struct T { #[serde(rename = "_create_date")] id: String }
        };
        let mut errors = Errors::default();
        check(&Input::from_syn(&node, &mut errors), &mut errors);
        let err = errors.finish().expect_err("id renamed to a timestamp key");
        assert!(
            err.to_string()
                .contains("gives field `id` the key `_create_date`"),
            "{err}"
        );
    }

    #[test]
    fn accepts_fields_that_keep_off_gludbs_keys() {
        for field in [
            quote!(last_update: String),
            quote!(#[serde(skip_serializing)] _last_update: String),
            quote!(#[serde(skip)] _create_date: String),
            quote!(#[serde(flatten)] _create_date: std::collections::BTreeMap<String, u8>),
            quote!(#[serde(rename = "updated")] _last_update: String),
            quote!(#[serde(rename(serialize = "a", deserialize = "b"))] _last_update: String),
            quote!(#[serde(skip_serializing, rename = "id")] read_only_id: String),
            quote!(#[serde(default, with = "m", bound(serialize = "T: X"), rename = "ok")] a: String),
            quote!(#[serde(serialize_with = "f", deserialize_with = "g", alias = "b")] a: String),
            // Malformed: serde reports it, not this check.
            quote!(#[serde(rename = 5)] a: String),
            quote!(#[doc = "_last_update"] a: String),
        ] {
            assert_eq!(errors_with(field.clone()), Vec::<String>::new(), "{field}");
        }
    }

    #[test]
    fn duplicate_indexes_are_found_ignoring_case() {
        let node: DeriveInput = parse_quote! {
            #[gludb(table = "T", indexes(by_name, r#by_age, BY_NAME, by_age))]
            struct T { id: String }
        };
        let mut errors = Errors::default();
        check(&Input::from_syn(&node, &mut errors), &mut errors);
        let messages: Vec<String> = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        };
        assert_eq!(
            messages,
            [
                "duplicate index `BY_NAME` (as `by_name`: column names ignore case); each index \
                 is listed once",
                "duplicate index `by_age`; each index is listed once",
            ]
        );
    }
}
