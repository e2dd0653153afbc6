//! The `#[runtime::main]` and `#[runtime::test]` attributes of evloop.
//!
//! Both turn an `async fn` into a plain function that starts a runtime and runs the
//! body to completion on it with `block_on`. They are re-exported by the `runtime`
//! crate; use them as `#[runtime::main]` and `#[runtime::test]`.
//!
//! # Arguments
//!
//! Both attributes accept the same optional arguments, separated by commas:
//!
//! | argument           | meaning                                                          |
//! |--------------------|------------------------------------------------------------------|
//! | `backend = "poll"` | run on this event backend (`epoll`, `kqueue`, `poll`, or io_uring as `uring` or `io_uring`) instead of the best one the system has; a backend the system lacks makes the runtime's start panic |
//! | `crate = "path"`   | the path of the runtime crate, when it is not `::runtime` (for example when another crate re-exports it) |
//! | `timeout_secs = N` | `#[runtime::test]` only: how long the test may run, in seconds (default 60) |
//! | `start_paused = true` | `#[runtime::test]` only: the runtime's clock starts paused (`runtime::time::pause`), so timers fire by auto-advance without real waits |
//!
//! # The test watchdog
//!
//! A `#[runtime::test]` runs under a watchdog: if the test has not finished (returned
//! or panicked) after its limit, the watchdog prints the test's name on stderr and
//! aborts the test process, so a hang fails the run with the name of the test that hung
//! instead of stalling it. `timeout_secs = N` changes the limit; the environment
//! variable `EVLOOP_TEST_TIMEOUT_SCALE` multiplies every limit, for slow runs such as
//! under valgrind.
//!
//! # Errors
//!
//! Bad input is a `compile_error!` spanned at the offending token. The function is still
//! emitted next to the error, so that editors and the rest of the crate keep working.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, quote, quote_spanned};

mod args;

use args::Args;

/// Runs an `async fn main` on the evloop runtime.
///
/// ```text
/// #[runtime::main]
/// async fn main() -> std::io::Result<()> {
///     runtime::spawn(async { println!("hello from a task") }).await.unwrap();
///     Ok(())
/// }
/// ```
///
/// expands to
///
/// ```text
/// fn main() -> std::io::Result<()> {
///     let body = async move {
///         runtime::spawn(async { println!("hello from a task") }).await.unwrap();
///         Ok(())
///     };
///     ::runtime::Runtime::new()
///         .expect("failed to start the evloop runtime")
///         .block_on(body)
/// }
/// ```
///
/// Attributes, visibility and the return type are kept. The function takes no
/// parameters and no generics. See the [crate documentation](crate) for the arguments
/// (`backend = "poll"`, `crate = "path"`).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh evloop runtime.
///
/// ```text
/// #[runtime::test]
/// async fn spawned_task_runs() {
///     assert_eq!(runtime::spawn(async { 1 + 1 }).await.unwrap(), 2);
/// }
/// ```
///
/// becomes a `#[test]` function that builds a runtime and runs the body with
/// `block_on`, under a watchdog that aborts the test process, naming the test, if it
/// runs for more than 60 s (`timeout_secs = N` sets another limit). A `Result` return
/// type is kept, and so are other attributes such as `#[should_panic]` or `#[ignore]`.
/// Do not add `#[test]` yourself. See the [crate documentation](crate) for the
/// arguments.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "#[runtime::main]",
            Kind::Test => "#[runtime::test]",
        }
    }
}

/// Collects errors so that every problem is reported at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn to_compile_errors(&self) -> TokenStream2 {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut errors = Errors::default();
    let args = match Args::parse(kind, args) {
        Ok(args) => args,
        Err(e) => {
            errors.push(e);
            Args::default()
        }
    };
    let function: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let message = format!(
                "the `{}` attribute can only be applied to an `async fn`",
                kind.attribute()
            );
            errors.push(syn::Error::new(first_token_span(&item), message));
            let errors = errors.to_compile_errors();
            return quote! { #errors #item };
        }
    };
    if function.sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            function.sig.fn_token,
            "the `async` keyword is missing from the function declaration",
        ));
        // Emitted unchanged: a plain `fn` compiles, so only our error is reported.
        let errors = errors.to_compile_errors();
        return quote! { #errors #function };
    }
    check_signature(kind, &function, &mut errors);
    let expanded = rewrite(kind, &args, function, errors.is_empty());
    let errors = errors.to_compile_errors();
    quote! { #errors #expanded }
}

/// The span of the first token of `item`, or the call site when it is empty.
fn first_token_span(item: &TokenStream2) -> Span {
    item.clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

fn check_signature(kind: Kind, function: &syn::ItemFn, errors: &mut Errors) {
    let sig = &function.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let message = match kind {
            Kind::Main => "the `main` function cannot have generic parameters",
            Kind::Test => "a test function cannot have generic parameters",
        };
        errors.push(syn::Error::new_spanned(&sig.generics, message));
    }
    if !sig.inputs.is_empty() {
        let message = match kind {
            Kind::Main => "the `main` function cannot take parameters",
            Kind::Test => "a test function cannot take parameters",
        };
        errors.push(syn::Error::new_spanned(&sig.inputs, message));
    }
    if kind == Kind::Test {
        for attr in &function.attrs {
            if is_test_attribute(attr) {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "`#[runtime::test]` already adds `#[test]`; remove this attribute",
                ));
            }
        }
    }
}

/// Whether `attr` is `#[test]` (or a path ending in `test`, like `#[core::prelude::v1::test]`).
fn is_test_attribute(attr: &syn::Attribute) -> bool {
    matches!(attr.meta, syn::Meta::Path(_))
        && attr
            .path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "test")
}

/// The sync function that runs the async body on a runtime. `valid` is false when an
/// error was reported: a test then gets no `#[test]`, so rustc adds no errors of its own.
fn rewrite(kind: Kind, args: &Args, mut function: syn::ItemFn, valid: bool) -> TokenStream2 {
    function.sig.asyncness = None;
    let body = &function.block;
    let end = body.brace_token.span.close();
    let runtime = args.runtime_expr();
    let body_binding = match (&function.sig.output, kind) {
        // A test's body is pinned behind `dyn Future<Output = R>` so that `?` and
        // `Ok(())` in it are inferred against the declared return type.
        (syn::ReturnType::Type(_, ty), Kind::Test) => quote! {
            let body = ::core::pin::pin!(async move #body);
            let body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output = #ty>> = body;
        },
        _ => quote! { let body = async move #body; },
    };
    let watchdog = match kind {
        Kind::Test => {
            let krate = args.crate_path();
            let limit = args.watchdog_limit();
            let name = &function.sig.ident;
            quote! {
                let _watchdog = #krate::__private::Watchdog::start(
                    ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                    #limit,
                );
            }
        }
        Kind::Main => TokenStream2::new(),
    };
    let block = quote_spanned! {end=>
        {
            #watchdog
            #body_binding
            #[allow(clippy::expect_used, clippy::needless_return)]
            {
                return #runtime.block_on(body);
            }
        }
    };
    let test_attr = match (kind, valid) {
        (Kind::Test, true) => quote! { #[::core::prelude::v1::test] },
        (Kind::Test, false) => quote! { #[allow(dead_code)] },
        (Kind::Main, _) => TokenStream2::new(),
    };
    let syn::ItemFn {
        attrs, vis, sig, ..
    } = &function;
    let mut out = quote! { #test_attr };
    for attr in attrs {
        attr.to_tokens(&mut out);
    }
    out.extend(quote! { #vis #sig });
    out.extend(block);
    out
}
