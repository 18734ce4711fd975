//! Waiting for a boot's readiness marker (contract §2.2), with a deadline.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::wait;

use super::{Container, READY_DEADLINE, READY_MARKER, tail};

/// Stage 2's per-boot step log (`/run` is fresh each boot, so its lines are this boot's).
const BOOT_STEPS: &str = "/run/hermes/boot-steps.log";
/// What the readiness probe prints when stage 2 logged that it gave up.
const GAVE_UP: &str = "hermes-conformance: boot gave up";
/// How long one exec looks for the marker before the harness looks again (and checks that
/// the container still runs).
const SLICE: Duration = Duration::from_secs(5);

/// The wait inside the container: until the marker holds something other than `$PREV` (the
/// last boot's), stage 2 logs that it gave up, or [`SLICE`] passes. Builtins but for `sleep`.
fn in_container_wait() -> String {
    format!(
        r#"read -r up _ </proc/uptime; end=$(( ${{up%.*}} + {slice} ))
while :; do
  m=; read -r m 2>/dev/null <{READY_MARKER}
  if [ -n "$m" ] && [ "$m" != "$PREV" ]; then printf '%s\n' "$m"; exit 0; fi
  while read -r l; do [ "$l" = 'user-bundle failed' ] && {{ echo '{GAVE_UP}' >&2; exit 1; }}; done 2>/dev/null <{BOOT_STEPS}
  read -r up _ </proc/uptime
  [ "${{up%.*}}" -lt "$end" ] || {{ if [ -z "$m" ]; then echo 'no marker' >&2; else echo "marker still from the previous boot ($m)" >&2; fi; exit 1; }}
  sleep 0.02
done"#,
        slice = SLICE.as_secs()
    )
}

impl Container {
    /// Wait until the readiness marker of a boot other than the last one seen exists.
    pub async fn wait_ready(&mut self) -> Result<String> {
        let previous = self.boot_id.clone();
        let docker = self.docker.clone();
        let id = self.id.clone();
        let me = &*self;
        let marker = wait::poll_until(
            &format!("readiness marker {READY_MARKER} in {}", self.name),
            READY_DEADLINE,
            || {
                let previous = previous.clone();
                let docker = docker.clone();
                let id = id.clone();
                async move {
                    // A container that already exited, or a boot whose stage 2 gave up on the
                    // user bundle (it then never writes the marker), will never become ready:
                    // the answer is that, at once, not a wait until the deadline.
                    if let Ok(info) = docker.inspect_container(&id, None).await {
                        let state = info.state.unwrap_or_default();
                        if state.running == Some(false) {
                            return Ok(Some(Err(format!(
                                "container is not running (exit code {:?})",
                                state.exit_code
                            ))));
                        }
                    }
                    // Read as hermes: the marker must be readable by the user that waits on it.
                    // The container polls it itself (every 20 ms, for a slice of the deadline),
                    // so a boot costs one exec rather than one per look: the suite is bound by
                    // the machine's CPU, and each exec is a runc start.
                    let o = me
                        .exec_full(
                            "hermes",
                            &["sh", "-c", &in_container_wait()],
                            &[("PREV", previous.as_deref().unwrap_or(""))],
                            SLICE + Duration::from_secs(10),
                        )
                        .await?;
                    if !o.success() {
                        if o.stderr.contains(GAVE_UP) {
                            return Ok(Some(Err(format!(
                                "this boot will never be ready: {BOOT_STEPS} says `user-bundle failed`"
                            ))));
                        }
                        anyhow::bail!(
                            "{READY_MARKER} after {SLICE:?} of looking: exit {:?}: {}",
                            o.code,
                            o.stderr.trim()
                        );
                    }
                    let content = o.out().to_string();
                    Ok(Some(Ok(content)))
                }
            },
        )
        .await;
        match marker.and_then(|m| m.map_err(anyhow::Error::msg)) {
            Ok(m) => {
                self.boot_id = Some(m.clone());
                Ok(m)
            }
            Err(e) => {
                let logs = self.logs().await.unwrap_or_default();
                bail!("{e}\ncontainer log (last 40 lines):\n{}", tail(&logs, 40))
            }
        }
    }
}
