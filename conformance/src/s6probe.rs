//! Kept only for `bench/`, which imports these names from here; the scenarios' support layer
//! is `crate::support`. Delete this file once `bench/` imports `crate::support` directly.

pub use crate::support::{expected_port, slot_dir, wait_http};
