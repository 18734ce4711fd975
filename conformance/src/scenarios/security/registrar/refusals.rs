//! The registrar refuses what is not hermes' to ask: foreign uids, bad names, paths, unknown
//! verbs, extra arguments, `default` and reserved names; nothing is created or removed.

use anyhow::{Context, Result, anyhow, ensure};

use crate::scenarios::security::kit::{
    Breaches, LIVE_COPIES, record_traces, supervision_is_live, tree,
};
use crate::support::{
    REGISTRAR_SOCK, SCANDIR, STATE_DEADLINE, STATIC_SERVICES, assert_absent, first_line,
    registrar_as, slot_dir, stat_as_root, supervised,
};
use crate::{Ctx, wait};

/// The registrar refuses foreign uids, bad names, names that are paths (to a static service
/// or the scandir itself), unknown verbs and extra arguments: exit 1 or 2, one line, nothing
/// created or removed, the static services still supervised.
pub async fn registrar_refusals(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let registrar = format!("{SCANDIR}/registrar");
    let o = h.exec(&["test", "-e", &registrar]).await?;
    ensure!(
        o.success(),
        "precondition: there is no registrar: {registrar} does not exist (docs/contract.md §3.3), so its refusals cannot be tested"
    );
    // Precondition: the registrar serves hermes (a valid register and unregister work and are
    // logged), so every refusal below is the registrar's decision.
    let o = h.exec(&["test", "-S", REGISTRAR_SOCK]).await?;
    if !o.success() {
        o.fail_because(&format!(
            "precondition: the registrar's socket {REGISTRAR_SOCK} is not a socket"
        ));
    }
    registrar_as(&h, "hermes", &["register", "secok"])
        .await?
        .succeeds();
    supervised(&h, &slot_dir("secok")).await?;
    wait::poll_until("the registrar's log line", STATE_DEADLINE, || async {
        let logs = h.logs().await?;
        if logs.contains("hermes-registrar: uid=10000 verb=register profile=secok result=") {
            Ok(Some(()))
        } else {
            Err(anyhow!(
                "no `hermes-registrar: uid=10000 verb=register profile=secok result=` line"
            ))
        }
    })
    .await?;
    registrar_as(&h, "hermes", &["unregister", "secok"])
        .await?
        .succeeds();
    assert_absent(
        &h,
        &slot_dir("secok"),
        "precondition: unregister left the slot",
    )
    .await?;

    let roots = [SCANDIR, LIVE_COPIES, "/opt/data/profiles"];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();

    // Foreign uids (Docker gives a bare uid the root group: try it with and without).
    for user in ["4242", "4242:4242"] {
        for args in [&["register", "x4242"][..], &["unregister", "default"][..]] {
            let o = registrar_as(&h, user, args).await?;
            if o.success() {
                b.allowed.push(format!(
                    "`{}` as {user} exited 0: the registrar served a foreign uid",
                    o.command_line()
                ));
            }
        }
    }

    let long = "a".repeat(65);
    let requests: Vec<Vec<&str>> = vec![
        vec!["register", "../x"],
        vec!["register", "Bad"],
        vec!["register", ""],
        vec!["register", "default/.."],
        vec!["register", long.as_str()],
        vec!["register", "../dashboard"],
        vec!["unregister", "../dashboard"],
        vec!["unregister", "../registrar"],
        vec!["unregister", "default/.."],
        vec!["unregister", "../x"],
        vec!["chmod", "alpha"],
        vec!["register-all"],
        vec![],
        vec!["register"],
        vec!["register", "alpha", "extra"],
        vec!["register", "alpha", "--start", "extra"],
        vec!["register", "alpha", "--stop"],
        vec!["unregister", "alpha", "extra"],
    ];
    for args in &requests {
        let o = registrar_as(&h, "hermes", args).await?;
        let lines = o
            .stdout
            .lines()
            .chain(o.stderr.lines())
            .filter(|l| !l.trim().is_empty())
            .count();
        if !matches!(o.code, Some(1 | 2)) || lines != 1 {
            b.allowed.push(format!(
                "{} (want exit 1 or 2 and exactly one line, got {lines} line(s); stdout {:?} stderr {:?})",
                o.headline("registrar request not refused as specified"),
                o.stdout.trim(),
                o.stderr.trim()
            ));
        }
    }
    record_traces(&mut b, &before, &tree(&h, &roots).await?);
    for svc in STATIC_SERVICES {
        if let Err(e) = supervised(&h, &format!("{SCANDIR}/{svc}")).await {
            b.effects
                .push(format!("static service {svc} lost: {}", first_line(&e)));
        }
    }
    if let Err(e) = supervised(&h, &slot_dir("default")).await {
        b.effects
            .push(format!("gateway-default lost: {}", first_line(&e)));
    }
    // And the registrar itself still serves hermes after all that.
    let again = registrar_as(&h, "hermes", &["register", "secok2"]).await?;
    if !again.success() {
        b.effects
            .push(again.headline("the registrar stopped serving hermes"));
    }
    b.verdict("registrar refusals")?;
    h.remove().await
}

/// Finding 3 (contract §3.1): no request creates or deletes `default`, nor any reserved name.
/// As hermes, `s6-sudo -e /run/hermes/registrar.sock unregister default` (and `register default
/// [--start]`, and each reserved name with both verbs) exits 2 with one line naming the name;
/// gateway-default stays, supervised.
pub async fn registrar_refuses_default_and_reserved(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let default_slot = slot_dir("default");
    supervised(&h, &default_slot)
        .await
        .context("precondition: gateway-default is supervised")?;
    // Precondition: the registrar serves hermes, so a refusal below is its decision.
    registrar_as(&h, "hermes", &["unregister", "nosuchslot"])
        .await?
        .succeeds_or(
            "precondition: the registrar serves hermes (unregister of a missing slot is ok)",
        );
    let mut bad = Vec::new();
    for name in ["default", "hermes", "test", "tmp", "root", "sudo"] {
        for req in [
            vec!["unregister", name],
            vec!["register", name],
            vec!["register", name, "--start"],
        ] {
            let o = registrar_as(&h, "hermes", &req).await?;
            let lines: Vec<&str> = o
                .stdout
                .lines()
                .chain(o.stderr.lines())
                .filter(|l| !l.trim().is_empty())
                .collect();
            if o.code != Some(2) || lines.len() != 1 || !lines[0].contains(&format!("\"{name}\"")) {
                bad.push(format!(
                    "`{}` as hermes: want exit 2 and one line naming {name:?}; got exit {:?}, stdout {:?}, stderr {:?}",
                    o.command_line(),
                    o.code,
                    o.stdout.trim(),
                    o.stderr.trim()
                ));
            }
        }
    }
    let o = h.exec(&["test", "-d", &default_slot]).await?;
    if !o.success() {
        bad.push(format!(
            "{default_slot} (root 0755, gateway-default) is gone after the requests above: {}",
            stat_as_root(&h, &[&default_slot]).await
        ));
    } else if let Err(e) = supervised(&h, &default_slot).await {
        bad.push(format!(
            "gateway-default no longer supervised: {}",
            first_line(&e)
        ));
    }
    ensure!(
        bad.is_empty(),
        "the registrar did not refuse default/reserved names:\n  - {}",
        bad.join("\n  - ")
    );
    h.remove().await
}
