//! The shape of a stored type, as text: what its schema fingerprint is
//! computed from (`gludb_core::TypeInfo::fingerprint`). Built from the
//! tokens as written, so the same source gives the same text on every
//! build and machine; fields are sorted by name, because the order of a
//! JSON object's keys does not change what it stores.
//!
//! `table=Orders;bases=Order;indexes=by_email;fields=email:String,id:String,total:u64#[serde(default)]`

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
        "table={table};bases={};indexes={};fields={}",
        bases.join(","),
        indexes.join(","),
        fields.join(",")
    )
}

/// Tokens as text without the spaces the printer puts between them.
fn tokens(node: impl ToTokens) -> String {
    node.to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}
