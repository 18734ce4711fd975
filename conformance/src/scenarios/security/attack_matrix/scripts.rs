//! The shell each round runs in the container: hermes' side (its dirs, the plants, the
//! cleanup) and root's (the leftovers and hard links a root `docker exec` would make, and the
//! snapshot of what root must leave alone).

use std::fmt::Write as _;

use super::model::{CANARY_DIR, Case, Plant, VOLUME};

pub(super) fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// hermes' directories a round's components sit in (a profile dir of its own making).
pub(super) fn hermes_prepare(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        if let Some(needs) = c.comp.needs() {
            let dir = format!("{VOLUME}/{}", needs.replace("{u}", &c.id.to_string()));
            let _ = write!(s, "mkdir -p {} && ", q(&dir));
        }
    }
    s + "true"
}

/// Root's side of a round, before hermes plants: the private entries and hard-link sources.
pub(super) fn root_sources(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        let src = q(&c.source());
        match c.plant {
            Plant::Private if c.comp.dir => {
                let _ = write!(
                    s,
                    "mkdir {src} && echo secret >{src}/inner && chmod 0600 {src}/inner && chmod 0700 {src} && "
                );
            }
            Plant::Private | Plant::HardLink => {
                let mode = if c.plant == Plant::Private {
                    "0600"
                } else {
                    "0644"
                };
                let _ = write!(s, "echo secret >{src} && chmod {mode} {src} && ");
            }
            _ => {}
        }
    }
    s + "true"
}

/// hermes' side: the real component set aside, then the plant (a hard link is root's, after).
pub(super) fn hermes_plants(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        let (p, aside) = (q(&c.path()), q(&c.aside()));
        let _ = write!(
            s,
            "{{ [ ! -e {p} ] && [ ! -L {p} ] || mv {p} {aside}; }} && "
        );
        let plant = match c.plant {
            Plant::SymFile => format!("ln -s {CANARY_DIR}/file {p}"),
            Plant::SymDir => match c.comp.walk_canary("") {
                Some((dir, _)) => format!("ln -s {dir} {p}"),
                None => format!("ln -s {CANARY_DIR}/dir {p}"),
            },
            // Root's, once the component is aside (`root_hardlinks`).
            Plant::HardLink => continue,
            Plant::Fifo => format!("mkfifo {p}"),
            Plant::Private => format!("mv {} {p}", q(&c.source())),
        };
        let _ = write!(s, "{plant} && ");
    }
    s + "true"
}

pub(super) fn root_hardlinks(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round.iter().filter(|c| c.plant == Plant::HardLink) {
        let _ = write!(s, "ln {} {} && ", q(&c.source()), q(&c.path()));
    }
    s + "true"
}

/// What root must have left alone: owner, mode, links, size and content of everything under
/// `/etc`, `/opt/hermes` and the canaries, plus each case's root source.
pub(super) fn snapshot_script(round: &[Case]) -> String {
    let mut s = format!(
        "find /etc /opt/hermes {CANARY_DIR} -xdev -printf '%U:%G %m %n %s %y %p\\n' \
         | grep -v -e ' /etc/hosts$' -e ' /etc/hostname$' -e ' /etc/resolv.conf$' | sort; \
         sha256sum {CANARY_DIR}/file {CANARY_DIR}/dir/file /opt/hermes/bin/* | sed 's/^/sha /'; "
    );
    for c in round {
        match c.plant {
            Plant::Private => {
                let _ = write!(
                    s,
                    "echo \"case {} $(stat -c '%u:%g %a' {p}) $(stat -c '%u:%g %a' {p}/inner 2>/dev/null)\"; ",
                    c.id,
                    p = q(&c.path())
                );
            }
            Plant::HardLink => {
                let _ = write!(
                    s,
                    "echo \"case {} $(stat -c '%u:%g %a %h' {p}) $(cat {p})\"; ",
                    c.id,
                    p = q(&c.source())
                );
            }
            _ => {}
        }
    }
    s
}

/// hermes' cleanup: the plant removed, the real component back.
pub(super) fn hermes_restore(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        let (p, aside) = (q(&c.path()), q(&c.aside()));
        let trash = q(&c.trash());
        let _ = write!(
            s,
            "{{ [ ! -e {p} ] && [ ! -L {p} ] || mv {p} {trash}; }} && {{ [ ! -e {aside} ] || mv {aside} {p}; }} && "
        );
    }
    s + "true"
}
