//! Waiting for a boot's readiness marker (contract §2.2), with a deadline.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::wait;

use super::{Container, READY_DEADLINE, READY_MARKER, tail};

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
                    // A container that already exited will never become ready: say so at once.
                    if let Ok(info) = docker.inspect_container(&id, None).await {
                        let state = info.state.unwrap_or_default();
                        if state.running == Some(false) {
                            return Err(format!(
                                "container is not running (exit code {:?})",
                                state.exit_code
                            ));
                        }
                    }
                    // Read as hermes: the marker must be readable by the user that waits on it.
                    let o = me
                        .exec_full(
                            "hermes",
                            &["cat", READY_MARKER],
                            &[],
                            Duration::from_secs(10),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    if !o.success() {
                        return Err(format!(
                            "cat {READY_MARKER}: exit {:?}: {}",
                            o.code,
                            o.stderr.trim()
                        ));
                    }
                    let content = o.out().to_string();
                    if previous.as_deref() == Some(content.as_str()) {
                        return Err(format!("marker still from the previous boot ({content})"));
                    }
                    Ok(Some(content))
                }
            },
        )
        .await;
        match marker {
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
