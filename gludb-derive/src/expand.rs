//! Generation of the `Storable` impl, the typed finders and the registry
//! entry, or, after an error, of the errors plus a minimal fallback impl.
//!
//! Everything is generated inside one `const _: () = { ... };` that starts
//! with `use <crate>::__private_v<version> as __gludb_rt;`: the one place
//! the runtime is named, so a missing or mismatched runtime is one error.

use crate::ast::Input;
use crate::valid::{self, Errors};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{DeriveInput, LitStr};

/// Expands `#[derive(Storable)]` on `node`: the impl, or every error found
/// plus a fallback impl.
pub fn derive(node: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let input = Input::from_syn(node, &mut errors);
    valid::check(&input, &mut errors);
    match errors.finish() {
        Ok(()) => impl_storable(&input),
        Err(err) => {
            let errors = err.to_compile_error();
            let fallback = fallback(&input);
            quote!(#errors #fallback)
        }
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
    let name_checks = name_checks(input);
    let finders = finders(input);
    let shape = crate::shape::of(input);

    // Spanned at the user's path so that "the trait bound `X: Storable` is not
    // satisfied" points at the base in the attribute, not at the derive.
    let bases = input
        .attrs
        .bases
        .iter()
        .map(|base| quote_spanned!(base.span()=> <#base as __gludb_rt::Storable>::type_info));
    let index_names = input
        .attrs
        .indexes
        .iter()
        .map(|index| index.unraw().to_string());
    // An index is the struct's field of that name if it has one, else a
    // method `fn name(&self) -> impl ToString`. Spanned at the index name so
    // "no function or associated item named ..." (neither a field nor a
    // method) and a missing `ToString` point at the name in the attribute.
    let index_values = input.attrs.indexes.iter().map(|index| match input.field(index) {
        Some(field) => {
            let field = field.ident;
            quote_spanned!(index.span()=> ::std::string::ToString::to_string(&self.#field))
        }
        None => {
            quote_spanned!(index.span()=> ::std::string::ToString::to_string(&Self::#index(self)))
        }
    });

    quote! {
        // An unnamed const keeps the runtime's alias and the registry static
        // out of the user's namespace.
        const _: () = {
            use #rt as __gludb_rt;

            #name_checks

            #[automatically_derived]
            impl #impl_generics __gludb_rt::Storable for #ident #ty_generics #where_clause {
                fn type_info() -> &'static __gludb_rt::TypeInfo {
                    static __GLUDB_TYPE_INFO: __gludb_rt::TypeInfo = __gludb_rt::TypeInfo::__new(
                        #type_name,
                        #table,
                        ::core::module_path!(),
                        &[#(#bases),*],
                        &[#(#index_names),*],
                        #shape,
                        __gludb_rt::decode_record::<#ident>,
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

            #finders

            __gludb_rt::register!(#ident);
        };
    }
}

/// What follows the errors of an input that failed a check: the name checks
/// (so every bad name still shows), and an impl of `Storable` and the typed
/// finders whose bodies are never run, so code that uses the type as
/// `Storable` does not add errors of its own ("one mistake, one error", as
/// thiserror does). Nothing is registered: the build fails anyway.
///
/// A generic type gets no fallback impl: it is one of the errors, and an
/// impl for every `T` would add errors of its own (serde's bounds).
fn fallback(input: &Input) -> TokenStream {
    let rt = input.attrs.runtime();
    let ident = input.ident;
    let name_checks = name_checks(input);
    let impls = input.generics.params.is_empty().then(|| {
        let finders = finders(input);
        quote! {
            #[automatically_derived]
            impl __gludb_rt::Storable for #ident {
                fn type_info() -> &'static __gludb_rt::TypeInfo {
                    ::core::unreachable!("#[derive(Storable)] failed")
                }

                fn id(&self) -> &str {
                    ::core::unreachable!("#[derive(Storable)] failed")
                }

                fn set_id(&mut self, _: ::std::string::String) {
                    ::core::unreachable!("#[derive(Storable)] failed")
                }

                fn index_values(&self) -> ::std::vec::Vec<::std::string::String> {
                    ::core::unreachable!("#[derive(Storable)] failed")
                }
            }

            #finders
        }
    });
    quote! {
        const _: () = {
            use #rt as __gludb_rt;

            #name_checks

            #impls
        };
    }
}

/// One `const` item per table and index name that evaluates gludb-core's
/// name rule at compile time, spanned at the name in the attribute: an
/// invalid name fails the build there with the runtime's own message
/// ("evaluation panicked: invalid table name: ..."). The derive does not
/// re-implement the rule.
fn name_checks(input: &Input) -> TokenStream {
    let table = input.attrs.table.iter().map(|lit| {
        quote_spanned! {lit.span()=>
            const _: () = if let ::core::option::Option::Some(message) =
                __gludb_rt::table_name_error(#lit)
            {
                ::core::panic!("{}", message)
            };
        }
    });
    let indexes = input.attrs.indexes.iter().map(|index| {
        let name = LitStr::new(&index.unraw().to_string(), index.span());
        quote_spanned! {index.span()=>
            const _: () = if let ::core::option::Option::Some(message) =
                __gludb_rt::index_name_error(#name)
            {
                ::core::panic!("{}", message)
            };
        }
    });
    quote!(#(#table)* #(#indexes)*)
}

/// `find_by_<index>(dbs, value)` for each index: `find_by_index` without a
/// string key that could name an undeclared index.
fn finders(input: &Input) -> TokenStream {
    if input.attrs.indexes.is_empty() {
        return TokenStream::new();
    }
    let ident = input.ident;
    let vis = input.vis;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // One finder per index name: a duplicate (an error already) must not
    // add "duplicate definitions" to it in the fallback.
    let mut seen: Vec<String> = Vec::new();
    let unique = input.attrs.indexes.iter().filter(|index| {
        let name = index.unraw().to_string();
        let first = !seen.iter().any(|s| s.eq_ignore_ascii_case(&name));
        seen.push(name);
        // An `Option` field is an error already; its finder would add one.
        let optional = input.field(index).is_some_and(|f| valid::is_option(f.ty));
        first && !optional
    });
    let finders = unique.map(|index| {
        let name = index.unraw().to_string();
        let finder = format_ident!("find_by_{}", name, span = index.span());
        let doc = format!(
            "The stored `{ident}` objects whose index `{name}` has the value `value` (as \
             `to_string()` writes it), ordered by id: `Storable::find_by_index(dbs, \"{name}\", \
             value)` without the string key. An index on a field takes a value of the field's \
             type. Generated by `#[derive(Storable)]`."
        );
        // An index on a field takes a value of the field's type (`&str`
        // for a `String`), so `find_by_age(dbs, "forty")` does not compile;
        // one on a method, whose return type the derive cannot see,
        // anything `ToString`.
        let output = quote! {
            impl ::core::future::Future<
                Output = __gludb_rt::Result<::std::vec::Vec<Self>>,
            > + ::core::marker::Send
        };
        let body = quote! {
            let value = ::std::string::ToString::to_string(&value);
            async move {
                <Self as __gludb_rt::Storable>::find_by_index(dbs, #name, &value).await
            }
        };
        match input.field(index) {
            // The future borrows `dbs` only: `value` is made a string first.
            Some(field) => {
                let ty = if valid::is_string(field.ty) {
                    quote!(str)
                } else {
                    let ty = field.ty;
                    quote!(#ty)
                };
                quote! {
                    #[doc = #doc]
                    #vis fn #finder<'gludb>(
                        dbs: &'gludb __gludb_rt::Databases,
                        value: &#ty,
                    ) -> #output + use<'gludb> {
                        #body
                    }
                }
            }
            None => quote! {
                #[doc = #doc]
                #vis fn #finder(
                    dbs: &__gludb_rt::Databases,
                    value: impl ::std::string::ToString,
                ) -> #output + '_ {
                    #body
                }
            },
        }
    });
    quote! {
        // `find_by_byName` for an index `byName` is as the user named it;
        // a private type's finders may go unused.
        #[automatically_derived]
        #[allow(dead_code, non_snake_case)]
        impl #impl_generics #ident #ty_generics #where_clause {
            #(#finders)*
        }
    }
}
