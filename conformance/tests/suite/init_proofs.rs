//! The stop-during-boot fix (`/init`'s trampoline and the preloaded `svscan-handover`) proven
//! without timing, and the dynamic import it relies on.

conformance::scenario_tests! { init_proofs;

#[test]
fn svscan_handover_passes_on_a_pending_term();

#[test]
fn skalibs_imports_signalfd();
}
