//! Everything that talks to s6 — and nothing else: detection, program calls, `s6-svstat`
//! parsing, the slot template, adding and removing slots (root, the registrar's code path) and
//! controlling them (hermes). Gateway intent lives with the gateway (`crate::gateway`).

pub mod control;
pub mod detect;
pub mod programs;
pub mod scandir;
pub mod slot;
pub mod svstat;

use crate::names::NameError;
use programs::S6Error;
use std::fmt;
use std::io;
use std::path::Path;

/// What can go wrong when adding, removing or controlling a slot.
#[derive(Debug)]
pub enum Error {
    Name(NameError),
    NotRegistered(String),
    AlreadyRegistered(String),
    S6(S6Error),
    Io(String, io::Error),
    /// A bounded wait ran out; the message says for what.
    Timeout(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Name(e) => e.fmt(f),
            Error::NotRegistered(p) => write!(
                f,
                "no such gateway '{p}': create it with `hermes profile create {p}`"
            ),
            Error::AlreadyRegistered(p) => write!(f, "gateway '{p}' is already registered"),
            Error::S6(e) => e.fmt(f),
            Error::Io(ctx, e) => write!(f, "{ctx}: {e}"),
            Error::Timeout(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {}

impl From<S6Error> for Error {
    fn from(e: S6Error) -> Self {
        Error::S6(e)
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Error::Name(e)
    }
}

/// `ctx path: error` for an I/O failure on `path`.
pub(crate) fn io_err(ctx: impl fmt::Display, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let ctx = format!("{ctx} {}", path.display());
    move |e| Error::Io(ctx, e)
}
