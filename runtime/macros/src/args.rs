//! The arguments of `#[runtime::main(..)]` and `#[runtime::test(..)]`.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;

use crate::Kind;

/// The event backends a user may name, as `reactor::BackendKind::from_name` spells them.
/// Every check and error message of the macros reads this one list; a new backend is
/// one more name here (and in the crate documentation's table).
const BACKENDS: &[&str] = &["epoll", "kqueue", "poll", "uring", "io_uring"];

/// The backend names joined with `separator`, each in double quotes:
/// `"epoll" | "kqueue" | ...`.
fn quoted_backends(separator: &str) -> String {
    BACKENDS
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(separator)
}

/// The arguments `kind` accepts, as listed in error messages.
fn accepted_arguments(kind: Kind) -> String {
    let backend = format!("`backend = {}`", quoted_backends(" | "));
    match kind {
        Kind::Main => format!("{backend} and `crate = \"path\"`"),
        Kind::Test => {
            format!("{backend}, `crate = \"path\"`, `timeout_secs = N` and `start_paused = true`")
        }
    }
}

/// Parsed arguments. Every field is optional; `None` means the default.
#[derive(Default)]
pub(crate) struct Args {
    /// `backend = "poll"`: the event backend's name, checked against [`BACKENDS`].
    backend: Option<syn::LitStr>,
    /// `crate = "path"`: the path of the runtime crate.
    crate_path: Option<syn::Path>,
    /// `timeout_secs = N` (tests only): the watchdog's limit, a positive integer.
    timeout_secs: Option<u64>,
    /// `start_paused = true` (tests only): the runtime's clock starts paused.
    start_paused: Option<bool>,
}

impl Args {
    /// Parses the attribute's argument list; the first bad argument is the error.
    pub(crate) fn parse(kind: Kind, tokens: TokenStream2) -> syn::Result<Args> {
        let mut args = Args::default();
        syn::meta::parser(|meta| args.parse_one(kind, meta)).parse2(tokens)?;
        Ok(args)
    }

    fn parse_one(&mut self, kind: Kind, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path.is_ident("backend") {
            let lit = string_value(&meta, "backend", "\"poll\"")?;
            if !BACKENDS.contains(&lit.value().as_str()) {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown backend `{}`; expected one of {}",
                        lit.value(),
                        quoted_backends(", ")
                    ),
                ));
            }
            set_once(&meta, &mut self.backend, lit, "backend")
        } else if meta.path.is_ident("crate") {
            let lit = string_value(&meta, "crate", "\"my_crate::runtime\"")?;
            let path = lit.parse::<syn::Path>().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    format!("`{}` is not a path to the runtime crate", lit.value()),
                )
            })?;
            set_once(&meta, &mut self.crate_path, path, "crate")
        } else if meta.path.is_ident("timeout_secs") {
            test_only(
                kind,
                &meta,
                "`timeout_secs` is for `#[runtime::test]`; `#[runtime::main]` runs without a limit",
            )?;
            let secs = positive_integer(&meta, "timeout_secs")?;
            set_once(&meta, &mut self.timeout_secs, secs, "timeout_secs")
        } else if meta.path.is_ident("start_paused") {
            test_only(
                kind,
                &meta,
                "`start_paused` is for `#[runtime::test]`; a program's clock runs with real time",
            )?;
            let paused = bool_value(&meta, "start_paused")?;
            set_once(&meta, &mut self.start_paused, paused, "start_paused")
        } else {
            let name = path_to_string(&meta.path);
            Err(meta.error(format!(
                "unknown argument `{name}` for `{}`; the accepted arguments are {}",
                kind.attribute(),
                accepted_arguments(kind)
            )))
        }
    }

    /// The test watchdog's limit in seconds: `timeout_secs`, or the default (60 s).
    pub(crate) fn watchdog_limit(&self) -> TokenStream2 {
        let krate = self.crate_path();
        match self.timeout_secs {
            Some(secs) => quote!(::core::time::Duration::from_secs(#secs)),
            None => quote!(#krate::__private::DEFAULT_TEST_TIMEOUT),
        }
    }

    /// The path of the runtime crate: `crate = ".."` or `::runtime`.
    pub(crate) fn crate_path(&self) -> TokenStream2 {
        match &self.crate_path {
            Some(path) => quote!(#path),
            None => quote!(::runtime),
        }
    }

    /// An expression that builds the runtime, panicking with a clear message on failure.
    pub(crate) fn runtime_expr(&self) -> TokenStream2 {
        let krate = self.crate_path();
        let paused = self.start_paused.unwrap_or(false);
        if self.backend.is_none() && !paused {
            return quote! {
                #krate::Runtime::new().expect("failed to start the evloop runtime")
            };
        }
        let backend = self.backend.as_ref().map(|name| {
            quote! {
                .backend(
                    <#krate::BackendKind as ::core::str::FromStr>::from_str(#name)
                        .expect("the event backend named in the attribute is not available"),
                )
            }
        });
        let start_paused = paused.then(|| quote! { .start_paused(true) });
        quote! {
            #krate::Builder::new()
                #backend
                #start_paused
                .build()
                .expect("failed to start the evloop runtime")
        }
    }
}

/// The error `why`, spanned at the argument, unless the attribute is `#[runtime::test]`.
fn test_only(kind: Kind, meta: &ParseNestedMeta<'_>, why: &str) -> syn::Result<()> {
    match kind {
        Kind::Test => Ok(()),
        Kind::Main => Err(meta.error(why)),
    }
}

/// Reads `= "..."` after `name`, or explains what was expected.
fn string_value(meta: &ParseNestedMeta<'_>, name: &str, example: &str) -> syn::Result<syn::LitStr> {
    let expected = || format!("`{name}` expects a string literal, as in `{name} = {example}`");
    let value = meta
        .value()
        .map_err(|e| syn::Error::new(e.span(), expected()))?;
    let expr: syn::Expr = value.parse()?;
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(other, expected())),
    }
}

/// Reads `= true` or `= false` after `name`.
fn bool_value(meta: &ParseNestedMeta<'_>, name: &str) -> syn::Result<bool> {
    let expected = || format!("`{name}` expects `true` or `false`, as in `{name} = true`");
    let value = meta
        .value()
        .map_err(|e| syn::Error::new(e.span(), expected()))?;
    let expr: syn::Expr = value.parse()?;
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(lit),
            ..
        }) => Ok(lit.value),
        other => Err(syn::Error::new_spanned(other, expected())),
    }
}

/// Reads `= N` after `name`, where N is an integer literal above zero.
fn positive_integer(meta: &ParseNestedMeta<'_>, name: &str) -> syn::Result<u64> {
    let expected =
        || format!("`{name}` expects a whole number of seconds above zero, as in `{name} = 120`");
    let value = meta
        .value()
        .map_err(|e| syn::Error::new(e.span(), expected()))?;
    let expr: syn::Expr = value.parse()?;
    let lit = match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) => lit,
        other => return Err(syn::Error::new_spanned(other, expected())),
    };
    match lit.base10_parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(secs),
        _ => Err(syn::Error::new(lit.span(), expected())),
    }
}

fn set_once<T>(
    meta: &ParseNestedMeta<'_>,
    slot: &mut Option<T>,
    value: T,
    name: &str,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("`{name}` is set more than once")));
    }
    *slot = Some(value);
    Ok(())
}

fn path_to_string(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
