//! hermes' ids, remapped at boot (contract §1) so that a bind-mounted host directory's owner can
//! be matched — the s6-overlay world's `PUID`/`PGID` habit. `HERMES_UID`/`HERMES_GID` win over
//! `PUID`/`PGID`; a value is taken only as digits in 1..65534. Done first, as root, before any
//! step grants or checks ownership: every later step reads hermes' ids from the user database.
//!
//! `/etc/passwd` and `/etc/group` are edited in place (root's, in `/etc`), as `usermod -u` and
//! `groupmod -o -g` would: the group id may be shared with another group (a NAS's `users`), the
//! user id may not be another user's. What the ids were is recorded for `01-hermes-setup`, which
//! hands hermes' files under `$HERMES_HOME` to the new ids.

use std::fs;
use std::io;
use std::path::Path;

/// One line per decision, for the container log.
pub type Lines = Vec<String>;

/// A requested id, or why the request is ignored.
fn requested(
    primary: (&str, Option<String>),
    fallback: (&str, Option<String>),
) -> Result<Option<u32>, String> {
    let (var, value) = match primary {
        (var, Some(v)) if !v.is_empty() => (var, v),
        _ => match fallback {
            (var, Some(v)) if !v.is_empty() => (var, v),
            _ => return Ok(None),
        },
    };
    match value.parse::<u32>() {
        Ok(id) if (1..=65534).contains(&id) && value.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(id))
        }
        _ => Err(format!(
            "ignoring {var}={}: an id must be digits in 1..65534",
            value.escape_debug()
        )),
    }
}

/// The fields of `user`'s line in a passwd-format text.
fn find<'a>(db: &'a str, name: &str) -> Option<Vec<&'a str>> {
    db.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == name)
}

/// `db` with field `index` of `name`'s line set to `value` (every other line untouched).
fn with_field(db: &str, name: &str, index: usize, value: u32) -> String {
    let mut out = String::with_capacity(db.len());
    for line in db.lines() {
        let mut f: Vec<String> = line.split(':').map(str::to_string).collect();
        if f.len() > index && f[0] == name {
            f[index] = value.to_string();
        }
        out.push_str(&f.join(":"));
        out.push('\n');
    }
    out
}

/// Applies the remap the environment asks for to the databases under `etc`; records the old
/// and new ids in `record` when they changed. Returns the lines to log.
pub fn apply(env: impl Fn(&str) -> Option<String>, etc: &Path, record: &Path) -> Lines {
    let mut lines = Lines::new();
    let uid = requested(("HERMES_UID", env("HERMES_UID")), ("PUID", env("PUID")));
    let gid = requested(("HERMES_GID", env("HERMES_GID")), ("PGID", env("PGID")));
    let (uid, gid) = match (uid, gid) {
        (Ok(u), Ok(g)) => (u, g),
        (u, g) => {
            lines.extend(u.as_ref().err().cloned());
            lines.extend(g.as_ref().err().cloned());
            (u.ok().flatten(), g.ok().flatten())
        }
    };
    if uid.is_none() && gid.is_none() {
        return lines;
    }
    match remap(etc, uid, gid) {
        Ok(Some((old, new))) => {
            lines.push(format!(
                "remapped hermes from uid {} gid {} to uid {} gid {}",
                old.0, old.1, new.0, new.1
            ));
            let body = format!("{} {} {} {}\n", old.0, old.1, new.0, new.1);
            if let Err(e) = fs::write(record, body) {
                lines.push(format!(
                    "cannot record the remap in {}: {e}",
                    record.display()
                ));
            }
        }
        Ok(None) => {}
        Err(e) => lines.push(format!("cannot remap hermes, keeping its ids: {e}")),
    }
    lines
}

type Ids = (u32, u32);

/// Edits passwd and group; `Ok(Some((old, new)))` when something changed.
fn remap(etc: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<Option<(Ids, Ids)>> {
    let passwd_path = etc.join("passwd");
    let group_path = etc.join("group");
    let passwd = fs::read_to_string(&passwd_path)?;
    let group = fs::read_to_string(&group_path)?;
    let hermes = find(&passwd, "hermes").ok_or_else(|| io::Error::other("no user hermes"))?;
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| io::Error::other(format!("hermes' entry has an invalid id {s:?}")))
    };
    let old = (parse(hermes[2])?, parse(hermes[3])?);
    let new = (uid.unwrap_or(old.0), gid.unwrap_or(old.1));
    if new == old {
        return Ok(None);
    }
    if new.0 != old.0
        && let Some(other) = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && f[0] != "hermes" && f[2].parse::<u32>().ok() == Some(new.0))
    {
        return Err(io::Error::other(format!(
            "uid {} belongs to user {:?}",
            new.0, other[0]
        )));
    }
    let passwd = with_field(&with_field(&passwd, "hermes", 2, new.0), "hermes", 3, new.1);
    let group = with_field(&group, "hermes", 2, new.1);
    replace(&group_path, &group)?;
    replace(&passwd_path, &passwd)?;
    Ok(Some((old, new)))
}

/// Temp file next to it, then rename: a reader never sees half a user database.
fn replace(path: &Path, body: &str) -> io::Result<()> {
    let tmp = path.with_extension("hermes-remap");
    fs::write(&tmp, body)?;
    let perms = fs::metadata(path)?.permissions();
    fs::set_permissions(&tmp, perms)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nhermes:x:10000:10000:hermes:/opt/data:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\nusers:x:100:\nhermes:x:10000:\n";

    fn etc(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hermes-remap-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("passwd"), PASSWD).unwrap();
        fs::write(d.join("group"), GROUP).unwrap();
        d
    }

    fn run(d: &Path, vars: &[(&str, &str)]) -> Lines {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        apply(|k| vars.get(k).cloned(), d, &d.join("record"))
    }

    #[test]
    fn hermes_vars_win_over_puid_and_the_change_is_recorded() {
        let d = etc("win");
        let lines = run(
            &d,
            &[
                ("PUID", "1000"),
                ("PGID", "1000"),
                ("HERMES_UID", "2000"),
                ("HERMES_GID", "2001"),
            ],
        );
        assert_eq!(
            lines,
            ["remapped hermes from uid 10000 gid 10000 to uid 2000 gid 2001"]
        );
        let passwd = fs::read_to_string(d.join("passwd")).unwrap();
        assert!(
            passwd.contains("hermes:x:2000:2001:hermes:/opt/data:"),
            "{passwd}"
        );
        assert!(passwd.starts_with("root:x:0:0:"));
        assert!(
            fs::read_to_string(d.join("group"))
                .unwrap()
                .contains("hermes:x:2001:")
        );
        assert_eq!(
            fs::read_to_string(d.join("record")).unwrap(),
            "10000 10000 2000 2001\n"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_nas_group_may_be_shared() {
        let d = etc("nas");
        let lines = run(&d, &[("PUID", "99"), ("PGID", "100")]);
        assert_eq!(
            lines,
            ["remapped hermes from uid 10000 gid 10000 to uid 99 gid 100"]
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_values_are_ignored_with_one_line_each() {
        let d = etc("bad");
        for (v, why) in [
            ("0", "PUID=0"),
            ("abc", "PUID=abc"),
            ("70000", "PUID=70000"),
            ("+5", "PUID=+5"),
        ] {
            let lines = run(&d, &[("PUID", v)]);
            assert_eq!(lines.len(), 1, "{v}: {lines:?}");
            assert!(
                lines[0].contains(why) && lines[0].contains("ignoring"),
                "{lines:?}"
            );
        }
        assert_eq!(fs::read_to_string(d.join("passwd")).unwrap(), PASSWD);
        assert!(!d.join("record").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn another_users_uid_is_refused() {
        let d = etc("taken");
        let lines = run(&d, &[("PUID", "1")]);
        assert!(lines[0].contains("belongs to user \"daemon\""), "{lines:?}");
        assert_eq!(fs::read_to_string(d.join("passwd")).unwrap(), PASSWD);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn nothing_asked_nothing_done() {
        let d = etc("none");
        assert!(run(&d, &[]).is_empty());
        assert!(run(&d, &[("PUID", "10000")]).is_empty());
        fs::remove_dir_all(&d).unwrap();
    }
}
