//! Contract §10.1 and the privilege map: the declared paths root touches
//! (`table`), the trace variant's strace logs read into root operations (`strace`), and the
//! map every run writes and compares with `docs/privilege-map.md` (`map`).

pub mod map;
pub mod strace;
mod strace_line;
pub mod table;
