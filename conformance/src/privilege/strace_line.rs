//! One line of strace's output (`strace -f -y -s 4096`) read as a call: its name, its
//! top-level arguments (strings, brackets and `-y` fd paths honoured), its return value and
//! the path `-y` printed for a returned descriptor. Syntax only: what the calls mean is
//! `strace`'s replay.

/// One call, joined.
pub(super) struct Call {
    pub(super) pid: i64,
    pub(super) name: String,
    pub(super) args: Vec<String>,
    pub(super) ret: Option<i64>,
    /// The `-y` path of the returned descriptor.
    pub(super) ret_path: Option<String>,
    pub(super) text: String,
}

/// Walks strace's argument text one character at a time, knowing whether a character is
/// inside a string (`"…"`, with `\\` escapes) or a `-y` fd path (`3</run/x>`), and how deep in
/// brackets, braces and parentheses it is: what both `split_args` and `closing_paren` need.
#[derive(Default)]
struct Scanner {
    depth: i32,
    in_str: bool,
    in_fd: bool,
    esc: bool,
    prev: char,
}

impl Scanner {
    /// Takes `c`; returns it when it is structure (outside strings and fd paths), else `None`.
    /// Nesting is counted as the character is taken.
    fn take(&mut self, c: char) -> Option<char> {
        let prev = std::mem::replace(&mut self.prev, c);
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if c == '\\' {
                self.esc = true;
            } else if c == '"' {
                self.in_str = false;
            }
            return None;
        }
        if self.in_fd {
            if c == '>' {
                self.in_fd = false;
            }
            return None;
        }
        match c {
            '"' => self.in_str = true,
            '<' if prev.is_ascii_alphanumeric() || prev == '_' => self.in_fd = true,
            '(' | '[' | '{' => self.depth += 1,
            ')' | ']' | '}' => self.depth -= 1,
            _ => {}
        }
        Some(c)
    }
}

/// Split `s` at its top-level commas, honouring strings, brackets, braces and `<…>` fd paths.
pub(super) fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut scan = Scanner::default();
    for c in s.chars() {
        if scan.take(c) == Some(',') && scan.depth == 0 {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Index of the `)` closing the argument list that starts at `open` (the `(`).
fn closing_paren(s: &str, open: usize) -> Option<usize> {
    let mut scan = Scanner::default();
    s.char_indices()
        .skip_while(|(i, _)| *i < open)
        .find(|&(_, c)| matches!(scan.take(c), Some(')' | ']' | '}')) && scan.depth == 0)
        .map(|(i, _)| i)
}

/// A C-quoted string as strace prints it, unquoted (`"a\nb"` → `a` newline `b`).
pub fn unquote(s: &str) -> Option<String> {
    let s = s.strip_suffix("...").unwrap_or(s);
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        match b[i] {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'x' if i + 2 < b.len() + 1 => {
                let hex = std::str::from_utf8(&b[i + 1..(i + 3).min(b.len())]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            d @ b'0'..=b'7' => {
                let mut v = u32::from(d - b'0');
                let mut n = 1;
                while n < 3 && i + 1 < b.len() && (b'0'..=b'7').contains(&b[i + 1]) {
                    i += 1;
                    v = v * 8 + u32::from(b[i] - b'0');
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The path of a `-y` descriptor argument: `5</a/b>` or `AT_FDCWD</cwd>`.
pub(super) fn fd_path(arg: &str) -> Option<String> {
    let start = arg.find('<')?;
    let inner = arg[start + 1..].strip_suffix('>')?;
    Some(
        inner
            .strip_suffix(" (deleted)")
            .unwrap_or(inner)
            .to_string(),
    )
}

/// A call's return value and the `-y` path of a returned descriptor.
fn parse_ret(s: &str) -> (Option<i64>, Option<String>) {
    let s = s.trim_start();
    let Some(s) = s.strip_prefix('=') else {
        return (None, None);
    };
    let s = s.trim_start();
    let end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let ret = s[..end].parse().ok();
    let path = s[end..]
        .strip_prefix('<')
        .and_then(|r| r.find('>').map(|e| r[..e].to_string()))
        .map(|p| p.strip_suffix(" (deleted)").unwrap_or(&p).to_string());
    (ret, path)
}

/// `text` = `name(args) = ret…`.
pub(super) fn parse_call(pid: i64, text: &str) -> Option<Call> {
    let open = text.find('(')?;
    let name = text[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let close = closing_paren(text, open)?;
    let (ret, ret_path) = parse_ret(&text[close + 1..]);
    Some(Call {
        pid,
        name: name.to_string(),
        args: split_args(&text[open + 1..close]),
        ret,
        ret_path,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_unquote() {
        assert_eq!(unquote(r#""a\nb\"c\\""#).unwrap(), "a\nb\"c\\");
        assert_eq!(unquote(r#""\x41\101""#).unwrap(), "AA");
    }
}
