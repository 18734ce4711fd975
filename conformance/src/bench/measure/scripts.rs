//! The shell the bench runs inside containers: the one in-container wait ([`poll_sh!`]) and
//! the scripts built on it, checked here with `sh` on this machine.

/// The bench's one in-container wait, put in front of every script that waits for s6 or the
/// boot: `poll WHAT COND [ARG…]` runs `COND ARG…` every 10 ms until it succeeds, at most
/// `$max_polls` times (3000, i.e. 30 s, unless the script sets it), the count shared by all of
/// a script's polls; a timeout names WHAT and what `COND` last left in `$seen`. The exec's
/// deadline bounds it again from outside.
macro_rules! poll_sh {
    ($body:literal) => {
        concat!(
            r#"polls=0 seen=
poll() {
  what=$1; shift
  until "$@"; do
    polls=$((polls+1))
    [ "$polls" -lt "${max_polls:-3000}" ] || { echo "$what: not after $polls polls of 10 ms; last seen: ${seen:-nothing}" >&2; return 1; }
    sleep 0.01
  done
}
"#,
            $body
        )
    };
}

/// `$1` = the previous boot's marker, `$2` = at most so many polls (3000): until the readiness
/// marker is another one; prints it.
pub(super) const WAIT_MARKER: &str = poll_sh!(
    r#"prev=$1 max_polls=${2:-3000}
new_marker() { seen=$(cat /run/hermes/ready 2>/dev/null) && [ -n "$seen" ] && [ "$seen" != "$prev" ]; }
poll "a readiness marker other than ($prev)" new_marker && printf '%s\n' "$seen""#
);

/// Until the floor's s6-svscan accepts a control command (its control FIFO has a reader).
pub(super) const WAIT_SVSCAN: &str = poll_sh!(
    r#"answers() { /usr/bin/s6-svscanctl -z /tmp/scan 2>/dev/null; }
poll "s6-svscan on /tmp/scan to answer" answers"#
);

/// `$1` = s6-svstat's path, `$2` = `up`, `down` or `restarted` (up with a pid other than `$4`),
/// `$3` = the service dir, `$5…` = a command: run it, then poll s6-svstat until it says so. The
/// gateways (`hermes gateway start`) and the s6 floor (`s6-svc -u`) are timed by this script.
pub(super) const COMMAND_THEN_STATE: &str = poll_sh!(
    r#"svstat=$1 want=$2 dir=$3 old=$4; shift 4
"$@" >/dev/null || exit 1
state_is() {
  seen=$("$svstat" -o up,pid "$dir") || return 1
  case $want:$seen in
    up:true\ *|down:false\ *) return 0 ;;
    restarted:"true $old") return 1 ;;
    restarted:true\ *) return 0 ;;
  esac
  return 1
}
poll "$dir $want" state_is"#
);

/// s6-svstat in the product image (under `/command`) and in the base image the floors run.
pub(super) const PRODUCT_SVSTAT: &str = "/command/s6-svstat";
pub(super) const FLOOR_SVSTAT: &str = "/usr/bin/s6-svstat";

/// PID 1 of the boot and curves floors: a bare s6-svscan on an empty `/tmp/scan`.
pub(super) const SVSCAN_FLOOR_INIT: &str =
    "mkdir -p /tmp/scan && exec /usr/bin/s6-svscan /tmp/scan";

/// The s6 floor of start/stop/restart: PID 1 a bare `s6-svscan /tmp/scan` from the base
/// image, with `$1` trivial services `svc<i>` (`exec sleep`), each starting down.
pub(super) const S6_FLOOR_INIT: &str = r#"i=0
while [ $i -lt "$1" ]; do
  d=/tmp/scan/svc$i; mkdir -p $d; printf '#!/bin/sh\nexec /bin/sleep 86400\n' >$d/run
  chmod 755 $d/run; touch $d/down; i=$((i+1))
done
exec /usr/bin/s6-svscan /tmp/scan"#;

/// `$1` = count: create profiles s1..s<count>, one `hermes profile create` each.
pub(super) const CREATE_LOOP: &str = r#"i=0
while [ $i -lt "$1" ]; do i=$((i+1)); hermes profile create "s$i" >/dev/null || exit 1; done"#;

/// Resident set (kB) of each pid given, one per line.
pub(super) const RSS_OF: &str = r#"for pid in "$@"; do
  sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$pid/status" || exit 1
done"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::READY_MARKER;

    /// Runs `script` with `sh` on this machine, `$1…` = `args`, at most `max_polls` polls.
    fn run_sh(script: &str, args: &[&str], max_polls: &str) -> std::process::Output {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args)
            .env("max_polls", max_polls)
            .output()
            .expect("sh runs")
    }

    #[test]
    fn the_in_container_scripts_parse() {
        for script in [
            WAIT_MARKER,
            WAIT_SVSCAN,
            COMMAND_THEN_STATE,
            S6_FLOOR_INIT,
            CREATE_LOOP,
            RSS_OF,
        ] {
            let o = std::process::Command::new("sh")
                .args(["-n", "-c", script])
                .output()
                .expect("sh runs");
            assert!(o.status.success(), "{script}\n{o:?}");
        }
    }

    /// The poll helper through `COMMAND_THEN_STATE`, with a stand-in for s6-svstat that
    /// reports `true 7`: up and restarted-from-6 hold at once; down and restarted-from-7
    /// never do, and the timeout names what was awaited and what was last seen.
    #[test]
    fn command_then_state_polls_until_s6_says_so() {
        let dir = std::env::temp_dir().join(format!("bench-poll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let svstat = dir.join("s6-svstat");
        std::fs::write(&svstat, "#!/bin/sh\necho 'true 7'\n").expect("write");
        std::fs::set_permissions(&svstat, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let svstat = svstat.to_str().expect("utf-8");
        let run = |want: &str, old: &str| {
            run_sh(
                COMMAND_THEN_STATE,
                &[svstat, want, "/svc", old, "true"],
                "3",
            )
        };
        assert!(run("up", "").status.success());
        assert!(run("restarted", "6").status.success());
        for (want, old) in [("down", ""), ("restarted", "7")] {
            let o = run(want, old);
            assert!(!o.status.success());
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(&format!(
                    "/svc {want}: not after 3 polls of 10 ms; last seen: true 7"
                )),
                "{err}"
            );
        }
        // The command's failure is the script's, before any poll.
        let o = run_sh(
            COMMAND_THEN_STATE,
            &[svstat, "up", "/svc", "", "false"],
            "3",
        );
        assert!(!o.status.success() && o.stderr.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn wait_marker_prints_the_new_marker() {
        let dir = std::env::temp_dir().join(format!("bench-marker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let marker = dir.join("ready");
        std::fs::write(&marker, "boot=2\n").expect("write");
        let script = WAIT_MARKER.replace(READY_MARKER, marker.to_str().expect("utf-8"));
        let o = run_sh(&script, &["boot=1"], "3");
        assert!(o.status.success(), "{o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "boot=2\n");
        let o = run_sh(&script, &["boot=2", "3"], "");
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("not after 3 polls of 10 ms; last seen: boot=2"),
            "{o:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
