//! Restart survival (docs/contract.md §5, §6.3): every boot rebuilds each profile's slot from
//! `$HERMES_HOME` and starts exactly those whose intent was `running`.

mod intents;
mod repair;

pub use intents::{
    Expect, INTENTS, Intent, Prior, intent_matrix_survives_restart,
    recreate_on_same_volume_restores_everything, running_gateway_survives_docker_kill,
};
pub use repair::{
    bad_profile_dirs_are_skipped, default_registered_first, hard_links_are_not_chowned,
    newline_profile_dir_forges_nothing, root_leftovers_are_repaired, stale_pid_files_removed,
    symlink_to_shadow_is_refused,
};
