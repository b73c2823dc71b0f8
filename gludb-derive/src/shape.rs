//! The shape of a stored type, as text: what its schema fingerprint is
//! computed from (`gludb_core::TypeInfo::fingerprint`). Built from the
//! tokens as written, so the same source gives the same text on every
//! build and machine; fields are sorted by name, because the order of a
//! JSON object's keys does not change what it stores.
//!
//! `table=Orders;bases=Order;indexes=by_email;serde=#[serde(rename_all="camelCase")];fields=email:String,id:String,total:u64#[serde(default)]`
//!
//! The text is the source as written: `String` and `std::string::String`
//! differ, and a change inside another struct a field holds is not seen.

use quote::ToTokens;
use syn::ext::IdentExt;

use crate::ast::Input;

/// The shape text of `input` (which passed every check).
pub fn of(input: &Input) -> String {
    let table = input
        .attrs
        .table
        .as_ref()
        .map(syn::LitStr::value)
        .unwrap_or_default();
    let bases: Vec<String> = input.attrs.bases.iter().map(tokens).collect();
    let indexes: Vec<String> = input
        .attrs
        .indexes
        .iter()
        .map(|index| index.unraw().to_string())
        .collect();
    // Struct-level `#[serde(...)]` (`rename_all`, `default`, `tag`, ...)
    // changes every stored key or how missing ones read.
    let serde: String = input
        .raw_attrs
        .iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .map(tokens)
        .collect();
    let mut fields: Vec<String> = input
        .fields
        .iter()
        .flatten()
        .map(|field| {
            // `#[serde(...)]` changes the stored keys (rename, skip,
            // flatten, default): part of the shape. Doc comments are not.
            let serde: String = field
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("serde"))
                .map(tokens)
                .collect();
            format!("{}:{}{serde}", field.ident.unraw(), tokens(field.ty))
        })
        .collect();
    fields.sort();
    format!(
        "table={table};bases={};indexes={};serde={serde};fields={}",
        bases.join(","),
        indexes.join(","),
        fields.join(",")
    )
}

/// Tokens as text, with a space only where two words would otherwise run
/// together (`dyn Trait`); literals keep their text, spaces included
/// (`rename = "first name"` is not `rename = "firstname"`).
fn tokens(node: impl ToTokens) -> String {
    let mut out = String::new();
    write_tokens(node.to_token_stream(), &mut out);
    out
}

fn write_tokens(stream: proc_macro2::TokenStream, out: &mut String) {
    use proc_macro2::{Delimiter, TokenTree};
    for tree in stream {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_tokens(group.stream(), out);
                out.push_str(close);
            }
            TokenTree::Punct(punct) => out.push(punct.as_char()),
            word @ (TokenTree::Ident(_) | TokenTree::Literal(_)) => {
                if out.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '"') {
                    out.push(' ');
                }
                out.push_str(&word.to_string());
            }
        }
    }
}
