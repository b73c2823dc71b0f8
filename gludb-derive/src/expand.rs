//! Generation of the `Storable` impl and the registry entry.

use crate::ast::Input;
use crate::valid::{self, Errors};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

/// Expands `#[derive(Storable)]` on `node`: the impl, or every error found.
pub fn derive(node: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let input = Input::from_syn(node, &mut errors);
    valid::check(&input, &mut errors);
    match errors.finish() {
        Ok(()) => impl_storable(&input),
        Err(err) => err.to_compile_error(),
    }
}

/// The impl for an input that passed every check.
fn impl_storable(input: &Input) -> TokenStream {
    let rt = input.attrs.runtime();
    let ident = input.ident;
    let type_name = ident.unraw().to_string();
    // Always `Some` here: a missing table fails the checks before expansion.
    let table = input.attrs.table.as_ref();
    // Generic parameters are rejected by the checks, but a `where` clause
    // without parameters is legal Rust, so keep it.
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    // Spanned at the user's path so that "the trait bound `X: Storable` is not
    // satisfied" points at the base in the attribute, not at the derive.
    let bases = input
        .attrs
        .bases
        .iter()
        .map(|base| quote_spanned!(base.span()=> <#base as #rt::Storable>::type_info));
    let index_names = input
        .attrs
        .indexes
        .iter()
        .map(|index| index.unraw().to_string());
    // Spanned at the index name so "no function or associated item named ..."
    // (and a missing `ToString`) points at the name in the attribute.
    let index_values = input.attrs.indexes.iter().map(|index| {
        quote_spanned!(index.span()=> ::std::string::ToString::to_string(&Self::#index(self)))
    });

    quote! {
        // An unnamed const keeps the registry static out of the user's namespace.
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #rt::Storable for #ident #ty_generics #where_clause {
                fn type_info() -> &'static #rt::TypeInfo {
                    static __GLUDB_TYPE_INFO: #rt::TypeInfo = #rt::TypeInfo::__new(
                        #type_name,
                        #table,
                        ::core::module_path!(),
                        &[#(#bases),*],
                        &[#(#index_names),*],
                        #rt::decode_record::<#ident>,
                    );
                    &__GLUDB_TYPE_INFO
                }

                fn id(&self) -> &str {
                    &self.id
                }

                fn set_id(&mut self, id: ::std::string::String) {
                    self.id = id;
                }

                fn index_values(&self) -> ::std::vec::Vec<::std::string::String> {
                    ::std::vec![#(#index_values),*]
                }
            }

            #[#rt::linkme::distributed_slice(#rt::STORABLES)]
            #[linkme(crate = #rt::linkme)]
            static __GLUDB_STORABLE: fn() -> &'static #rt::TypeInfo =
                <#ident as #rt::Storable>::type_info;
        };
    }
}
