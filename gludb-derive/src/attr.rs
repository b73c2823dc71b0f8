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
    /// The path of the runtime module the generated code names:
    /// `<crate>::__private_v<version>`, by default `::gludb::__private_v0_1`.
    /// Its name carries this macro's version (see [`runtime_module`]), so a
    /// runtime of another release is one "unresolved import" error.
    pub fn runtime(&self) -> TokenStream {
        // At the derive: an unresolved import is reported there, saying
        // which module is missing from which crate.
        let module = Ident::new(&runtime_module(), proc_macro2::Span::call_site());
        match &self.krate {
            Some(path) => quote!(#path::#module),
            None => quote!(::gludb::#module),
        }
    }
}

/// `__private_v<major>_<minor>` before 1.0 (every 0.x release may break),
/// `__private_v<major>` after: the module of the runtime released with
/// this macro (gludb-core's lib.rs defines it under the same name).
pub fn runtime_module() -> String {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let minor = env!("CARGO_PKG_VERSION_MINOR");
    if major == "0" {
        format!("__private_v0_{minor}")
    } else {
        format!("__private_v{major}")
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
            let indexes = list_value::<Ident>(meta, "indexes(field_or_method, ...)")?;
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

/// What a field's `#[serde(...)]` attributes say about the JSON keys it is
/// written under and read from, as far as the reserved-key check needs.
///
/// Everything else in `#[serde(...)]`, and any syntax error there, is left
/// to serde's own derive, which reports it.
pub struct SerdeField {
    /// False for `skip`, `skip_serializing` and `flatten`: nothing is written
    /// under the field's own key, so gludb cannot overwrite it.
    pub written: bool,
    /// `rename = "..."` or `rename(serialize = "...")` replaces the field's
    /// name as the key it is written under.
    pub renamed_ser: bool,
    /// `rename = "..."` or `rename(deserialize = "...")` replaces the field's
    /// name as the key it is read from.
    pub renamed_de: bool,
    /// Every key given by `rename` or `alias`, kept as literals so errors can
    /// point at them.
    pub keys: Vec<LitStr>,
}

/// Reads the `#[serde(...)]` attributes of one field.
pub fn serde_field(attrs: &[Attribute]) -> SerdeField {
    let mut out = SerdeField {
        written: true,
        renamed_ser: false,
        renamed_de: false,
        keys: Vec::new(),
    };
    for attr in attrs {
        if attr.path().is_ident("serde") {
            // A syntax error is serde's to report; what was read before it
            // is kept.
            let _ = attr.parse_nested_meta(|meta| parse_serde_key(&meta, &mut out));
        }
    }
    out
}

/// Parses one `key ...` entry of a field's `#[serde(...)]` list.
fn parse_serde_key(meta: &ParseNestedMeta, out: &mut SerdeField) -> Result<()> {
    if meta.path.is_ident("rename") {
        if meta.input.peek(Token![=]) {
            out.keys.push(meta.value()?.parse()?);
            out.renamed_ser = true;
            out.renamed_de = true;
        } else {
            // `rename(serialize = "...", deserialize = "...")`
            meta.parse_nested_meta(|inner| {
                if inner.path.is_ident("serialize") {
                    out.renamed_ser = true;
                } else if inner.path.is_ident("deserialize") {
                    out.renamed_de = true;
                } else {
                    return skip_serde_value(&inner);
                }
                out.keys.push(inner.value()?.parse()?);
                Ok(())
            })?;
        }
    } else if meta.path.is_ident("alias") {
        out.keys.push(meta.value()?.parse()?);
    } else if meta.path.is_ident("skip")
        || meta.path.is_ident("skip_serializing")
        || meta.path.is_ident("flatten")
    {
        out.written = false;
    } else {
        skip_serde_value(meta)?;
    }
    Ok(())
}

/// Consumes the value of a serde key this macro does not need, whatever its
/// form: `key`, `key = value` or `key(...)`.
fn skip_serde_value(meta: &ParseNestedMeta) -> Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(token::Paren) {
        meta.input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}
