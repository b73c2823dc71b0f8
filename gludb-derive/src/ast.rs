//! The derive input reduced to what the macro needs: the type's name, its
//! generics, its `#[gludb(...)]` attributes and its named fields (with the
//! keys their `#[serde(...)]` attributes give them).

use crate::attr::{self, Attrs, SerdeField};
use crate::valid::Errors;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Error, Fields, Generics, Ident, Type, Visibility};

/// A `#[derive(Storable)]` input.
pub struct Input<'a> {
    /// The type's name; the default span for errors about the whole type.
    pub ident: &'a Ident,
    /// The type's visibility, which its generated finders get.
    pub vis: &'a Visibility,
    /// Kept so the checks can reject generic parameters at their span.
    pub generics: &'a Generics,
    /// The parsed `#[gludb(...)]` keys.
    pub attrs: Attrs,
    /// The struct's attributes, as written (the schema fingerprint counts
    /// its `#[serde(...)]` ones: `rename_all`, `default`, ... change what is
    /// stored).
    pub raw_attrs: &'a [syn::Attribute],
    /// The named fields, or `None` when the input is not a struct with named
    /// fields (that error is already recorded, so the field checks are skipped
    /// instead of piling follow-up errors on top of it).
    pub fields: Option<Vec<Field<'a>>>,
}

/// One named field of the struct.
pub struct Field<'a> {
    /// The field's name.
    pub ident: &'a Ident,
    /// The field's type, where a wrong `id` type is reported.
    pub ty: &'a Type,
    /// The JSON keys its `#[serde(...)]` attributes give it.
    pub serde: SerdeField,
    /// Its attributes, as written (the schema fingerprint counts the
    /// `#[serde(...)]` ones: they change what is stored).
    pub attrs: &'a [syn::Attribute],
}

impl<'a> Input<'a> {
    /// Reads `node`, recording every problem in `errors` and carrying on, so
    /// that one build reports all of them rather than one at a time.
    pub fn from_syn(node: &'a DeriveInput, errors: &mut Errors) -> Self {
        let attrs = attr::get(&node.attrs, errors);
        let fields = named_fields(node, errors);
        Input {
            ident: &node.ident,
            vis: &node.vis,
            generics: &node.generics,
            attrs,
            raw_attrs: &node.attrs,
            fields,
        }
    }
}

impl Input<'_> {
    /// The named field `name` (compared without `r#`), if the struct has one.
    pub fn field(&self, name: &Ident) -> Option<&Field<'_>> {
        let name = name.unraw();
        self.fields
            .as_deref()?
            .iter()
            .find(|field| field.ident.unraw() == name)
    }
}

/// The struct's named fields, or `None` (with an error) for any other shape.
fn named_fields<'a>(node: &'a DeriveInput, errors: &mut Errors) -> Option<Vec<Field<'a>>> {
    let ident = &node.ident;
    // Each kind points at the tokens that show what is wrong: the keyword and
    // name for enums, unions and unit structs, the tuple fields for tuple structs.
    let (tokens, kind) = match &node.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => {
                let fields = named
                    .named
                    .iter()
                    .filter_map(|field| {
                        // Named fields always have an ident; `filter_map`
                        // just avoids an unwrap.
                        field.ident.as_ref().map(|ident| Field {
                            ident,
                            ty: &field.ty,
                            serde: attr::serde_field(&field.attrs),
                            attrs: &field.attrs,
                        })
                    })
                    .collect();
                return Some(fields);
            }
            Fields::Unnamed(unnamed) => (quote!(#unnamed), "tuple structs are"),
            Fields::Unit => {
                let token = &data.struct_token;
                (quote!(#token #ident), "unit structs are")
            }
        },
        Data::Enum(data) => {
            let token = &data.enum_token;
            (quote!(#token #ident), "enums are")
        }
        Data::Union(data) => {
            let token = &data.union_token;
            (quote!(#token #ident), "unions are")
        }
    };
    errors.push(Error::new_spanned(
        tokens,
        format!(
            "Storable stores a struct with named fields, e.g. `struct {ident} {{ id: String, ... }}`; \
             {kind} not supported"
        ),
    ));
    None
}
