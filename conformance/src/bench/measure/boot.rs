//! The boot section: `docker start` → ready and `docker stop`, product against a bare
//! s6-svscan floor.

use anyhow::Result;

use super::{
    Bench, SVSCAN_FLOOR_INIT, WAIT_MARKER, WAIT_SVSCAN, current_marker, section_stopped,
    start_until,
};
use crate::bench::figures::*;
use crate::bench::progress;
use crate::container::ContainerSpec;

impl Bench {
    /// `docker start` → ready, against a floor container of the same base image whose PID 1 is
    /// a bare `s6-svscan /tmp/scan` (ready = it accepts `s6-svscanctl -z`). Interleaved, so a
    /// change of load hits both alike.
    pub async fn boot(&mut self) {
        if let Err(e) = self.boot_inner().await {
            self.results.push(section_stopped(&BOOT_PRODUCT, "boot", e));
        }
    }

    async fn boot_inner(&mut self) -> Result<()> {
        progress(format!(
            "boot: docker start → ready, product and floor, x{}",
            self.opts.boot_reps
        ));
        let product = self.start("boot", ContainerSpec::default()).await?;
        let floor = self.floor("boot-floor", SVSCAN_FLOOR_INIT, &[]).await?;
        let mut marker = current_marker(&product).await?;

        let (mut p_start, mut p_stop, mut f_start, mut f_stop) = (vec![], vec![], vec![], vec![]);
        for _ in 0..self.opts.boot_reps {
            f_stop.push(floor.stop().await?);
            f_start.push(start_until(&floor, WAIT_SVSCAN, &[]).await?.0);
            p_stop.push(product.stop().await?);
            let (d, m) = start_until(&product, WAIT_MARKER, &[&marker]).await?;
            p_start.push(d);
            marker = m;
        }
        product.remove().await?;
        floor.remove().await?;
        self.results.push(
            BOOT_FLOOR.durations(&f_start)
                .note("same base image, PID 1 `s6-svscan /tmp/scan` (via sh -c mkdir), ready = `s6-svscanctl -z` succeeds, polled every 10 ms in one exec"),
        );
        self.results.push(
            BOOT_PRODUCT.durations(&p_start)
                .note("default command; the marker is polled every 10 ms inside one exec started right after docker start"),
        );
        self.results.push(BOOT_FLOOR_STOP.durations(&f_stop));
        self.results.push(BOOT_PRODUCT_STOP.durations(&p_stop));
        self.results
            .set_ratios(&BOOT_FLOOR, "s6-svscan", &[&BOOT_PRODUCT]);
        self.results
            .set_ratios(&BOOT_FLOOR_STOP, "s6-svscan", &[&BOOT_PRODUCT_STOP]);
        Ok(())
    }
}
