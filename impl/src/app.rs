//! What every front end of the `hermes` binary shares: where things are and whether s6
//! supervises them. The CLI's command handlers and the dashboard both take a `Ctx`; neither
//! reaches into the other for it.

use crate::paths::Paths;
use crate::registrar::client::Client as Registrar;
use crate::s6::control::Control;
use crate::s6::detect::{self, Detection};
use crate::s6::programs::Programs;

#[derive(Debug, Clone)]
pub struct Ctx {
    pub paths: Paths,
    pub detection: Detection,
}

impl Ctx {
    pub fn from_env() -> Self {
        let paths = Paths::from_env();
        let detection = detect::detect(&paths.proc_root, &paths.s6_basedir);
        Ctx { paths, detection }
    }

    /// Controls slots as hermes (`s6-svc`, `s6-svstat`).
    pub fn control(&self) -> Control {
        Control::new(self.paths.clone())
    }

    /// Asks the root registrar to add or remove slots.
    pub fn registrar(&self) -> Registrar {
        Registrar::new(Programs::new(&self.paths.command_dir))
    }
}
