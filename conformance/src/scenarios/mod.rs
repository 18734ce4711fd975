//! Scenarios, one module per area of the contract, named as the test modules of
//! `tests/suite/` are: a body's path here is its test's name there. Every module stands on
//! `crate::support` and the harness only; none imports another.
//! Every exec runs as hermes (the scenario user) unless a comment says why root is needed.

pub mod boot;
pub mod cli;
pub mod container_lifecycle;
pub mod dashboard;
pub mod detection;
pub mod gateway;
pub mod image;
pub mod init_proofs;
pub mod lifecycle;
pub mod model;
pub mod parity;
pub mod ports;
pub mod restart;
pub mod security;
pub mod zombies;

/// The `#[test]` functions of one area of `tests/suite/`, each named once: the test is named
/// after its scenario body (`conformance::scenarios::<area>::<name>`, or `conformance::<area>::
/// <name>` for the catalogue's own scenarios in `regressions`) and calls it with its
/// parameters in order, so the name `--list`, the report, JUnit and the catalogue show is the
/// body's path. Attributes (`#[test]`, `#[rstest]`, cases, doc comments) pass through.
///
/// ```ignore
/// conformance::scenario_tests! { security;
///     #[test]
///     fn scanner_control_refused();
///     #[rstest]
///     fn new_slot_never_runs_as_root(#[values(false, true)] noexec_run: bool);
/// }
/// ```
#[macro_export]
macro_rules! scenario_tests {
    (regressions; $(
        $(#[$meta:meta])*
        fn $name:ident($($(#[$param_meta:meta])* $param:ident: $ty:ty),* $(,)?);
    )*) => {$(
        $(#[$meta])*
        fn $name($($(#[$param_meta])* $param: $ty),*) {
            $crate::run(|ctx| $crate::regressions::$name(ctx $(, $param)*));
        }
    )*};
    ($area:ident; $(
        $(#[$meta:meta])*
        fn $name:ident($($(#[$param_meta:meta])* $param:ident: $ty:ty),* $(,)?);
    )*) => {$(
        $(#[$meta])*
        fn $name($($(#[$param_meta])* $param: $ty),*) {
            $crate::run(|ctx| $crate::scenarios::$area::$name(ctx $(, $param)*));
        }
    )*};
}
