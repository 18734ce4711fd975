use super::*;

/// A fake system whose bug needs `create a`, then `start a`, then a docker restart.
fn fake(ops: &[Op]) -> Result<(), Failure> {
    let mut stage = 0;
    for (step, op) in ops.iter().enumerate() {
        stage = match (stage, op) {
            (0, Op::Create(p)) if p == "a" => 1,
            (1, Op::Start(p)) if p == "a" => 2,
            (2, Op::DockerRestart) => {
                return Err(Failure {
                    step,
                    op: op.to_string(),
                    detail: "a: s6-svstat up=false wantedup=false, model up=true".into(),
                });
            }
            (s, _) => s,
        };
    }
    Ok(())
}

#[test]
fn a_failure_shrinks_to_the_ops_it_needs() {
    let noise = |i: usize| match i % 4 {
        0 => Op::Create("b".into()),
        1 => Op::Stop("b".into()),
        2 => Op::Kill9("b".into()),
        _ => Op::CreateInvalid("Bad".into()),
    };
    let mut ops: Vec<Op> = (0..20).map(noise).collect();
    ops.insert(3, Op::Create("a".into()));
    ops.insert(9, Op::Start("a".into()));
    ops.insert(17, Op::DockerRestart);
    ops.extend((0..5).map(noise));
    let failure = fake(&ops).unwrap_err();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (min, f) = rt
        .block_on(shrink_with(&ops, &failure, |c| async move { Ok(fake(&c)) }))
        .unwrap();
    assert_eq!(
        min,
        [
            Op::Create("a".into()),
            Op::Start("a".into()),
            Op::DockerRestart
        ]
    );
    assert_eq!(f.step, 2);
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
    assert_eq!(parse_duration("600s"), Some(Duration::from_secs(600)));
    assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("x"), None);
}

#[test]
fn signatures_ignore_names_and_numbers() {
    let f = |d: &str| Failure {
        step: 3,
        op: "start a".into(),
        detail: d.into(),
    };
    assert_eq!(
        f("a: s6-svstat up=false wantedup=false, model up=true").signature(),
        f("b: s6-svstat up=true wantedup=true, model up=false").signature()
    );
    assert_ne!(f("leftovers: x").signature(), f("exit: y").signature());
}
