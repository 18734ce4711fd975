//! `root_steps_use_only_safe_walk`: root-step modules call no path-based file operation
//! (contract §10 promise 5). A text check over the sources, as a unit test, so it runs with
//! every `cargo test` and names file and line.

use std::fs;
use std::path::{Path, PathBuf};

/// The modules whose code runs as root on paths (contract §10 promise 5): every file
/// operation there goes through this module. Every file of `boot/` is one.
const ROOT_STEP_MODULES: &[&str] = &[
    "src/s6/scandir.rs",
    "src/s6/slot.rs",
    "src/registrar/mod.rs",
    "src/registrar/server.rs",
    "src/bin/hermes-boot.rs",
    "src/bin/hermes-registrar.rs",
];

/// Calls that name a path to the kernel (or bypass this module's `*at` funnel). A
/// `.name(` method call on a `Dir` is this module's own and allowed.
const FORBIDDEN: &[&str] = &[
    "chown(",
    "lchown(",
    "set_permissions(",
    "create_dir",
    "DirBuilder",
    "rename(",
    "fs::write(",
    "fs::read",
    "fs::copy(",
    "fs::remove_",
    "remove_dir_all(",
    "remove_file(",
    "File::create(",
    "File::open(",
    "OpenOptions",
    "symlink(",
    "mkfifo(",
    "fchmodat(",
    "fchownat(",
    "mkdirat(",
    "openat(",
    "openat2(",
    "renameat",
    "unlinkat(",
    "fcntl::open(",
    "read_to_string(",
    "read_link(",
    "read_dir(",
    "metadata(",
    "canonicalize(",
];

/// The forbidden calls in `src`, outside its `#[cfg(test)] mod tests` and comments:
/// `(line number, call)`. A method call (`x.create_dir(`) is not one.
fn path_calls(src: &str) -> Vec<(usize, &'static str)> {
    let body = src.split("#[cfg(test)]\nmod tests").next().unwrap_or(src);
    let mut found = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for pat in FORBIDDEN {
            let mut from = 0;
            while let Some(i) = code[from..].find(pat) {
                let at = from + i;
                let before = code[..at].chars().next_back();
                let method = before == Some('.');
                let ident = before.is_some_and(|c| c.is_alphanumeric() || c == '_');
                if !method && !ident {
                    found.push((n + 1, *pat));
                }
                from = at + pat.len();
            }
        }
    }
    found
}

#[test]
fn root_steps_use_only_safe_walk() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ROOT_STEP_MODULES.iter().map(|f| root.join(f)).collect();
    // Every file below boot/, but the test modules split out as `<module>/tests.rs`.
    let mut dirs = vec![root.join("src/boot")];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n != "tests.rs") {
                files.push(path);
            }
        }
    }
    let mut offences = Vec::new();
    for f in &files {
        let src = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (line, call) in path_calls(&src) {
            offences.push(format!("{}:{line}: `{call}`", f.display()));
        }
    }
    assert!(
        offences.is_empty(),
        "root-step modules must reach and change paths through `safe_walk` only \
         (contract §10 promise 5); path-based calls found:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_lint_sees_what_it_forbids() {
    let src = "fn a() {\n    std::fs::rename(a, b);\n    chown(&p, u, g)?;\n    \
               d.chown(n, u, g)?; // chown( in a comment\n    fchown(fd)?;\n}\n\
               #[cfg(test)]\nmod tests {\n    fs::write(x, y);\n}\n";
    assert_eq!(path_calls(src), vec![(2, "rename("), (3, "chown(")]);
}
