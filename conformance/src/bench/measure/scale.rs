//! The scale section: registering N profiles, and `docker restart` → ready with N on disk.

use std::time::Duration;

use anyhow::{Result, bail};

use super::{
    Bench, CREATE_LOOP, WAIT_MARKER, current_marker, gateway_slots, ms, restart_until, sh,
};
use crate::bench::figures::*;
use crate::bench::progress;
use crate::container::ContainerSpec;

impl Bench {
    /// Registering N profiles (one exec, `hermes profile create` in a loop) and boot-to-ready
    /// (`docker restart` → new marker) with N profiles on disk.
    pub async fn scale(&mut self) {
        let mut sizes: Vec<usize> = vec![0];
        sizes.extend(self.opts.scale_sizes.iter().copied().filter(|n| *n > 0));
        sizes.dedup();
        for n in sizes {
            if let Err(e) = self.scale_one(n).await {
                self.results.push(SCALE_BOOT.at(n).failed(&e));
            }
        }
    }

    async fn scale_one(&mut self, n: usize) -> Result<()> {
        progress(format!(
            "scale: {n} profiles: register x{}, restart → ready x{}",
            if n == 0 { 0 } else { self.opts.scale_reps },
            self.opts.scale_boot_reps
        ));
        let mut per_op = Vec::new();
        let mut boots = Vec::new();
        let reps = if n == 0 { 1 } else { self.opts.scale_reps };
        for rep in 0..reps {
            let h = self
                .start(&format!("scale-{n}"), ContainerSpec::default())
                .await?;
            if n > 0 {
                let deadline = Duration::from_secs(30 + 2 * n as u64);
                let o = sh(&h, CREATE_LOOP, &[&n.to_string()], deadline).await?;
                per_op.push(ms(o.elapsed) / n as f64);
            }
            if rep == 0 {
                let mut marker = current_marker(&h).await?;
                for _ in 0..self.opts.scale_boot_reps {
                    let r = restart_until(&h, 10, WAIT_MARKER, &[&marker], Duration::from_secs(40))
                        .await?;
                    boots.push(r.total);
                    marker = r.out;
                }
                // The boot must really have brought every profile back as a slot.
                let slots = gateway_slots(&h, "s").await?;
                if slots != n {
                    bail!("after the restarts {slots} gateway slots are registered, expected {n}");
                }
            }
            h.remove().await?;
        }
        if n > 0 {
            self.results.push(
                SCALE_CREATE.at(n).measured(per_op)
                .note(format!("one exec running `hermes profile create` {n} times in a loop, divided by {n}; one sample per fresh container")),
            );
        }
        self.results.push(SCALE_BOOT.at(n).durations(&boots).note(
            "includes the graceful stop of the previous boot; profiles registered, gateways down",
        ));
        if n > 0 {
            self.results
                .set_ratios(&SCALE_BOOT.at(0), "0 profiles", &[&SCALE_BOOT.at(n)]);
        }
        Ok(())
    }
}
