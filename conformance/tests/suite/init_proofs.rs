use conformance::run;
use conformance::scenarios::init_proofs;

#[test]
fn svscan_handover_passes_on_a_pending_term() {
    run(init_proofs::svscan_handover_passes_on_a_pending_term);
}

#[test]
fn skalibs_imports_signalfd() {
    run(init_proofs::skalibs_imports_signalfd);
}
