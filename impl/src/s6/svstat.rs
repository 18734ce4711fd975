//! Parsing of `s6-svstat -o up,wantedup,normallyup,pid,exitcode,signal,updownfor,updownsince,
//! readysince`, never the
//! human-readable line (its wording changes between s6 versions).

use serde::Serialize;

/// The field list passed to `s6-svstat -o`; `parse` expects exactly these, in this order.
pub const FIELDS: &str =
    "up,wantedup,normallyup,pid,exitcode,signal,updownfor,updownsince,readysince";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SvStat {
    pub up: bool,
    pub wanted_up: bool,
    pub normally_up: bool,
    /// `None` when down (s6 prints -1).
    pub pid: Option<u32>,
    /// Last exit code of `run`; `None` when up or killed by a signal.
    pub exit_code: Option<i32>,
    /// Signal name that killed `run` last; `None` when up or not signalled (`NA`).
    pub signal: Option<String>,
    /// Seconds since the last up/down change.
    pub updown_for: u64,
    /// Down with no `./finish` running any more. s6-svstat's own `ready` field is false for
    /// every down service (it masks readiness with the pid), so this is read from the stamps:
    /// s6-supervise stamps `readysince` when `./finish` exits, after `updownsince` (the death
    /// of `./run`); while `./finish` runs, `readysince` is older. TAI64N labels of one length
    /// compare as strings.
    pub finish_done: bool,
}

pub fn parse(line: &str) -> Result<SvStat, String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != 9 {
        return Err(format!(
            "s6-svstat: expected 9 fields ({FIELDS}), got {:?}",
            line.trim()
        ));
    }
    let boolean = |i: usize| match f[i] {
        "true" | "throttled" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("s6-svstat: field {i} is not a boolean: {other:?}")),
    };
    let int = |i: usize| {
        f[i].parse::<i64>()
            .map_err(|_| format!("s6-svstat: field {i} is not an integer: {:?}", f[i]))
    };
    let pid = int(3)?;
    let exit = int(4)?;
    Ok(SvStat {
        up: boolean(0)?,
        wanted_up: boolean(1)?,
        normally_up: boolean(2)?,
        pid: u32::try_from(pid).ok().filter(|p| *p > 0),
        exit_code: (exit >= 0).then_some(exit as i32),
        signal: (f[5] != "NA").then(|| f[5].to_string()),
        updown_for: int(6)?.max(0) as u64,
        finish_done: !boolean(0)? && f[8] >= f[7],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up() {
        let s = parse(
            "true true false 42 -1 NA 17 @400000006b0c5375000000a0 @400000006b0c5375000000a0\n",
        )
        .unwrap();
        assert!(s.up && s.wanted_up && !s.normally_up);
        assert_eq!(s.pid, Some(42));
        assert_eq!(s.exit_code, None);
        assert_eq!(s.signal, None);
        assert_eq!(s.updown_for, 17);
    }

    #[test]
    fn down_after_signal() {
        let s = parse(
            "false false true -1 -1 SIGTERM 3 @400000006b0c5375000000a0 @400000006b0c5376000000a0",
        )
        .unwrap();
        assert!(!s.up && !s.wanted_up && s.normally_up);
        assert_eq!(s.pid, None);
        assert_eq!(s.signal.as_deref(), Some("SIGTERM"));
        assert!(
            s.finish_done,
            "readysince after updownsince: ./finish is done"
        );
    }

    #[test]
    fn down_after_exit() {
        let s =
            parse("false true true -1 78 NA 0 @400000006b0c5376000000a0 @400000006b0c5375000000a0")
                .unwrap();
        assert_eq!(s.exit_code, Some(78));
        assert!(
            !s.finish_done,
            "readysince before updownsince: ./finish still runs"
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("up (pid 42) 17 seconds").is_err());
        assert!(parse("yes true false 42 -1 NA 17").is_err());
        assert!(parse("true true false x -1 NA 17").is_err());
    }
}
