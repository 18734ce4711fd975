//! The permission dump printed with a failed exec that hit EACCES: modes and owners of the
//! scanner's control files and of each relevant slot's `supervise/`, `control`, `event/`, plus
//! the `s6-svstat -o` line — the facts that explain a permission failure without a re-run.

/// The `s6-svstat -o` fields the product itself relies on (`docs/contract.md` §3.3).
pub const SVSTAT_FIELDS: &str = "up,wantedup,normallyup,pid,exitcode,signal,updownfor";

/// The slots a command line names (`/run/service/<slot>` or `-p <profile>`), if any.
pub fn slots_named_in(command: &str) -> Vec<String> {
    let mut slots = Vec::new();
    for word in command.split(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        if let Some(rest) = word.strip_prefix("/run/service/") {
            let slot = rest.split('/').next().unwrap_or_default();
            if !slot.is_empty() && !slots.iter().any(|s| s == slot) {
                slots.push(slot.to_string());
            }
        }
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    for pair in words.windows(2) {
        if pair[0] == "-p" || pair[0] == "--profile" {
            let slot = format!("gateway-{}", pair[1].trim_matches('\''));
            if !slots.contains(&slot) {
                slots.push(slot);
            }
        }
    }
    slots
}

/// A POSIX sh script (run as root) printing the dump for `command`'s slots, or for every slot
/// when the command names none.
pub fn script_for(command: &str) -> String {
    let named = slots_named_in(command);
    let targets = if named.is_empty() {
        "/run/service/*".to_string()
    } else {
        named
            .iter()
            .map(|s| format!("/run/service/{s}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        r#"show() {{ for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then stat -c '%A %U:%G %n' "$p"; else echo "(absent) $p"; fi; done; }}
echo "scanner:"
show /run/service /run/service/.s6-svscan /run/service/.s6-svscan/control /run/service/.s6-svscan/lock
for s in {targets}; do
  [ -e "$s" ] || {{ echo "(absent) $s"; continue; }}
  for d in "$s" "$s/log"; do
    [ -d "$d" ] || continue
    echo "slot $d:"
    show "$d" "$d/supervise" "$d/supervise/control" "$d/supervise/lock" "$d/supervise/status" "$d/event"
    printf 's6-svstat -o {SVSTAT_FIELDS}: '
    /command/s6-svstat -o {SVSTAT_FIELDS} "$d" 2>&1
  done
done"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_slots_by_path_and_profile_flag() {
        assert_eq!(
            slots_named_in("/command/s6-svc -u /run/service/gateway-p/log"),
            vec!["gateway-p"]
        );
        assert_eq!(
            slots_named_in("hermes -p alpha gateway start"),
            vec!["gateway-alpha"]
        );
        assert!(slots_named_in("id -u").is_empty());
    }

    #[test]
    fn script_covers_named_slots_only() {
        let s = script_for("s6-svstat /run/service/dashboard");
        assert!(s.contains("for s in /run/service/dashboard;"));
        assert!(script_for("true").contains("for s in /run/service/*;"));
    }
}
