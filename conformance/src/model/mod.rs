//! State-machine testing of the lifecycle: a reference model of contract §3, §5
//! and §6 (`state`), operation sequences generated from a seed (`ops`), the check after every
//! step against the real container (`check`), and running, shrinking and replaying sequences
//! (`run`). The scenario is `scenarios::model`.

pub mod check;
pub mod ops;
pub mod run;
pub mod state;
