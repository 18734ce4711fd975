//! docs/contract.md §10, links: root s6-supervise never writes through a link hermes planted
//! in `supervise/` or `event/`.

use std::time::Duration;

use anyhow::{Result, bail};

use super::evidence::Canary;
use super::kit::{
    Breaches, FTRIG_NAME, bounce, cycle_gateway, profile_with_slot, supervision_is_live,
};
use crate::support::{SCANDIR, stat_as_root};
use crate::{Ctx, wait};

/// One link hermes tries to plant, pointing at its own canary.
struct Plant {
    /// Where the link goes.
    link: String,
    /// The directory that must refuse it.
    dir: String,
    canary: Canary,
}

/// Plant a link to a fresh canary at each `dir/name`, then make every state change hermes is
/// entitled to (gateway start/stop, logger down/up, `main-hermes` down/up): no canary may
/// change, and no link may be in place.
async fn links_not_written_through(
    ctx: Ctx,
    targets: &[(&str, &str)],
    attack: &str,
    effect: &str,
) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let slot = profile_with_slot(&h, "alpha").await?;
    let main = format!("{SCANDIR}/main-hermes");
    let mut plants = Vec::new();
    for (dir_rel, name) in targets {
        let dir = format!("{SCANDIR}/{dir_rel}");
        h.exec(&["test", "-d", &dir]).as_root("the target dir may be one hermes cannot stat (that is the point); it must exist, or a refusal would prove nothing.").await?.succeeds();
        let label = format!("{dir_rel}/{name}").replace(['/', ':', '@'], ".");
        let canary = Canary::new(&h, &label).await?;
        plants.push(Plant {
            link: format!("{dir}/{name}"),
            dir,
            canary,
        });
    }
    let mut b = Breaches::default();
    for p in &plants {
        b.must_refuse(
            &h,
            &format!("ln -sfn {} '{}'", p.canary.path, p.link),
            &[&p.dir],
        )
        .await?;
    }
    for p in &plants {
        let o = h
            .exec(&["test", "-L", &p.link])
            .as_root("hermes cannot look inside these dirs when they are right.")
            .await?;
        if o.success() {
            b.traces.push(format!(
                "link in place: {}",
                stat_as_root(&h, &[&p.link]).await
            ));
        }
    }
    let r = cycle_gateway(&h, "alpha").await;
    b.trigger("gateway start/stop of alpha", r)?;
    let r = bounce(&h, &format!("{slot}/log")).await;
    b.trigger("s6-svc -d/-u of gateway-alpha/log", r)?;
    let r = bounce(&h, &main).await;
    b.trigger("s6-svc -d/-u of main-hermes", r)?;
    // s6-supervise may write just after the new state becomes visible: keep watching the
    // canaries for a moment (a change ends the window at once; it is reported below).
    let _ = wait::holds_for("canaries unchanged", Duration::from_secs(1), || async {
        for p in &plants {
            if let Some(change) = p.canary.changed(&h).await? {
                bail!("{change}");
            }
        }
        Ok(())
    })
    .await;
    for p in &plants {
        if let Some(change) = p.canary.changed(&h).await? {
            b.effects
                .push(format!("{effect} through {}: {change}", p.link));
        }
    }
    b.verdict(attack)?;
    h.remove().await
}

/// Links in `supervise/` (ours, the logger's, a static service's): root s6-supervise writes
/// `status.new` and `death_tally` there, following a link hermes planted.
pub async fn supervise_links_not_written_through(ctx: Ctx) -> Result<()> {
    links_not_written_through(
        ctx,
        &[
            ("gateway-alpha/supervise", "status.new"),
            ("gateway-alpha/supervise", "death_tally"),
            ("gateway-alpha/log/supervise", "status.new"),
            ("gateway-alpha/log/supervise", "death_tally"),
            ("main-hermes/supervise", "status.new"),
            ("main-hermes/supervise", "death_tally"),
        ],
        "links in supervise/",
        "root s6-supervise wrote its state",
    )
    .await
}

/// Subscriber links in `event/` (ours, the logger's, a static service's): at every state
/// change root s6-supervise writes the event byte into every `ftrig1:…` entry.
pub async fn event_links_not_written_through(ctx: Ctx) -> Result<()> {
    links_not_written_through(
        ctx,
        &[
            ("gateway-alpha/event", FTRIG_NAME),
            ("gateway-alpha/log/event", FTRIG_NAME),
            ("main-hermes/event", FTRIG_NAME),
        ],
        "subscriber links in event/",
        "root s6-supervise wrote an event byte",
    )
    .await
}
