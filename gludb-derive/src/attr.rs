//! Parsing of the `#[gludb(...)]` attributes into [`Attrs`].
//!
//! Only the syntax is checked here; what the values mean (valid table name,
//! no duplicate bases, ...) is checked in `valid.rs`.

use crate::valid::Errors;
use proc_macro2::TokenStream;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Attribute, Error, Ident, LitStr, Path, Result, Token, parenthesized, token};

/// The keys read from every `#[gludb(...)]` attribute of the type.
pub struct Attrs {
    /// `table = "Name"`, kept as the literal so errors can point at it.
    pub table: Option<LitStr>,
    /// `bases(...)`, in declaration order.
    pub bases: Vec<Path>,
    /// `indexes(...)`, in declaration order.
    pub indexes: Vec<Ident>,
    /// `crate = "path"`, already parsed as a path.
    pub krate: Option<Path>,
    /// False when an attribute had a syntax error: keys after the error were
    /// never read, so "missing `table`" would be a false alarm.
    pub complete: bool,
}

impl Attrs {
    /// The path of the runtime module the generated code names (`RT`):
    /// `<crate>::__private`, by default `::gludb::__private`.
    pub fn runtime(&self) -> TokenStream {
        if let Some(path) = &self.krate {
            quote!(#path::__private)
        } else {
            quote!(::gludb::__private)
        }
    }
}

/// The keys `#[gludb(...)]` accepts, for duplicate detection and messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Table,
    Bases,
    Indexes,
    Crate,
}

impl Key {
    /// How the key is spelled in the attribute.
    fn name(self) -> &'static str {
        match self {
            Key::Table => "table",
            Key::Bases => "bases",
            Key::Indexes => "indexes",
            Key::Crate => "crate",
        }
    }
}

/// Reads all `#[gludb(...)]` attributes in `attrs`, recording problems in
/// `errors` and keeping whatever could be read.
pub fn get(attrs: &[Attribute], errors: &mut Errors) -> Attrs {
    let mut out = Attrs {
        table: None,
        bases: Vec::new(),
        indexes: Vec::new(),
        krate: None,
        complete: true,
    };
    let mut seen = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("gludb") {
            continue;
        }
        let parsed = attr.parse_nested_meta(|meta| parse_key(&meta, &mut out, &mut seen, errors));
        if let Err(err) = parsed {
            errors.push(err);
            out.complete = false;
        }
    }
    out
}

/// Parses one `key ...` entry of a `#[gludb(...)]` list.
///
/// Returns `Err` only for syntax errors, after which the rest of that
/// attribute cannot be read; other problems go to `errors`.
fn parse_key(
    meta: &ParseNestedMeta,
    out: &mut Attrs,
    seen: &mut Vec<Key>,
    errors: &mut Errors,
) -> Result<()> {
    let key = if meta.path.is_ident("table") {
        Key::Table
    } else if meta.path.is_ident("bases") {
        Key::Bases
    } else if meta.path.is_ident("indexes") {
        Key::Indexes
    } else if meta.path.is_ident("crate") {
        Key::Crate
    } else {
        let path = &meta.path;
        let name = quote!(#path).to_string().replace(' ', "");
        return Err(meta.error(format!(
            "unknown gludb attribute `{name}`; expected `table`, `bases`, `indexes` or `crate`"
        )));
    };
    // The value is parsed even for a duplicate, so that the parse can go on
    // to the keys after it.
    match key {
        Key::Table => {
            let lit = string_value(meta, "table = \"TableName\"")?;
            out.table.get_or_insert(lit);
        }
        Key::Bases => {
            let bases = list_value::<Path>(meta, "bases(BaseType, ...)")?;
            if !seen.contains(&key) {
                out.bases = bases;
            }
        }
        Key::Indexes => {
            let indexes = list_value::<Ident>(meta, "indexes(method_name, ...)")?;
            if !seen.contains(&key) {
                out.indexes = indexes;
            }
        }
        Key::Crate => {
            let lit = string_value(meta, "crate = \"path::to::gludb\"")?;
            let path = lit.parse_with(Path::parse_mod_style).map_err(|_| {
                Error::new(
                    lit.span(),
                    format!(
                        "`crate` must name the path of the gludb crate, e.g. \"gludb\" or \
                         \"::my_crate::gludb\"; \"{}\" is not a path",
                        lit.value()
                    ),
                )
            })?;
            out.krate.get_or_insert(path);
        }
    }
    if seen.contains(&key) {
        errors.push(Error::new_spanned(
            &meta.path,
            format!(
                "duplicate gludb attribute `{}`; it is already set earlier",
                key.name()
            ),
        ));
    } else {
        seen.push(key);
    }
    Ok(())
}

/// Parses the `= "..."` of a `key = "..."` entry.
fn string_value(meta: &ParseNestedMeta, expected: &str) -> Result<LitStr> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!("expected `{expected}`")));
    }
    meta.value()?.parse()
}

/// Parses the `(a, b, ...)` of a `key(a, b, ...)` entry.
fn list_value<T: syn::parse::Parse>(meta: &ParseNestedMeta, expected: &str) -> Result<Vec<T>> {
    if !meta.input.peek(token::Paren) {
        return Err(meta.error(format!("expected `{expected}`")));
    }
    let content;
    parenthesized!(content in meta.input);
    let items = Punctuated::<T, Token![,]>::parse_terminated(&content)?;
    Ok(items.into_iter().collect())
}
