//! PID 1 reaps orphans (docs/contract.md §2.2 point 8): no zombie outlives a second.

use std::time::Duration;

use anyhow::Result;

use crate::Ctx;

/// How long each orphan lives before it exits.
const ORPHAN_LIFE_MS: u64 = 200;
/// The contract's bound: a second from an orphan's exit to its reaping.
const REAP_WITHIN_MS: u64 = 1000;

/// Start `count` orphans as hermes (each a `sleep` whose parent exits at once, so it is
/// re-parented to PID 1), then watch them from inside the container — with shell builtins
/// only, so the watching costs no forks and no `docker exec` latency — until every one is gone
/// from `/proc`: reaped, not lingering as `Z`. The last orphan exits at most `ORPHAN_LIFE_MS`
/// after the spawning ends; the watch fails `REAP_WITHIN_MS` after that, listing what is left
/// and which of it are zombies.
pub async fn orphans_are_reaped(ctx: Ctx, count: usize) -> Result<()> {
    let h = ctx.start_default().await?;
    let life = format!("0.{ORPHAN_LIFE_MS:03}");
    let budget_ns = (ORPHAN_LIFE_MS + REAP_WITHIN_MS) * 1_000_000;
    let script = format!(
        r#"pids=''
i=0
while [ $i -lt {count} ]; do pids="$pids $(sh -c 'sleep {life} >/dev/null 2>&1 & echo $!')"; i=$((i+1)); done
n=$(echo $pids | wc -w)
[ "$n" -eq {count} ] || {{ echo "spawned $n of {count} orphans"; exit 2; }}
start=$(date +%s%N)
while :; do
  left=''; zombies=''
  for p in $pids; do
    if [ -r /proc/$p/stat ] && read -r line < /proc/$p/stat 2>/dev/null; then
      left="$left $p"
      set -- ${{line##*) }}
      [ "$1" = Z ] && zombies="$zombies $p"
    fi
  done
  now=$(date +%s%N)
  [ -z "$left" ] && {{ echo "all {count} reaped $(( (now - start) / 1000000 )) ms after spawning"; exit 0; }}
  if [ $((now - start)) -gt {budget_ns} ]; then
    echo "after $(( (now - start) / 1000000 )) ms still present:$left; zombies:${{zombies:- none}}"; exit 1
  fi
done"#
    );
    let o = h
        .exec_full(
            &h.user,
            &["sh", "-c", &script],
            &[],
            Duration::from_secs(60),
        )
        .await?;
    o.succeeds_or(&format!(
        "{count} orphan(s) not all reaped by PID 1 within {REAP_WITHIN_MS} ms of their exit"
    ));
    crate::image::progress(format!("zombies: {}", o.out()));
    // Nor anything else of the container: every zombie there now (a child that exited a moment
    // ago and whose parent has yet to wait, which a loaded machine shows now and then) must be
    // gone within the contract's second. One exec, looking every 20 ms.
    let o = h.exec(&["sh", "-c", &lingering_zombies_script()]).await?;
    o.succeeds_or(&format!(
        "a zombie outlived {REAP_WITHIN_MS} ms in the container (pid ppid stat comm)"
    ));
    h.remove().await
}

/// Exits 1 listing `pid ppid stat comm` of each process that was a zombie at the start and
/// still is [`REAP_WITHIN_MS`] later; 0 as soon as none is (reaped, or its pid reused by a
/// live process, which also means reaped).
fn lingering_zombies_script() -> String {
    format!(
        r#"zombies() {{ for p in "$@"; do ps -o pid=,ppid=,stat=,comm= -p "$p" 2>/dev/null | while read -r pid ppid st comm; do case $st in Z*) echo "$pid $ppid $st $comm";; esac; done; done; }}
first=$(ps -eo pid=,stat= | while read -r pid st; do case $st in Z*) echo "$pid";; esac; done)
[ -z "$first" ] && exit 0
start=$(date +%s%N)
while :; do
  left=$(zombies $first)
  [ -z "$left" ] && exit 0
  [ $(( ($(date +%s%N) - start) / 1000000 )) -gt {REAP_WITHIN_MS} ] && {{ echo "$left"; exit 1; }}
  sleep 0.02
done"#
    )
}
