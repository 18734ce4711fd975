//! The one way a root step reaches and changes a path (contract §10 promise 5).
//!
//! hermes can write below `$HERMES_HOME` (and in `/tmp` and friends), so any component of a
//! path there may be swapped for a symlink between two system calls. A root step that names
//! such a path to the kernel again and again (`chown(path)`, `open(path)`) can be steered:
//! `O_NOFOLLOW` guards the *last* component only, and a link one level up (`nest -> /opt`)
//! made root hand hermes `/opt/hermes`. So every root file operation goes through here:
//!
//! - a path is reached from a root-owned anchor (`/`) with **no symlink in any component**:
//!   `openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH)` (Linux ≥ 5.6),
//!   or, where the kernel lacks it, one `openat(O_NOFOLLOW | O_DIRECTORY)` per component;
//! - everything after the walk is done **through the held descriptor** (`*at` calls on a
//!   single name relative to it, or `f*` calls on a handle), never by path again.
//!
//! Root-step modules call path-based `chown`/`chmod`/`open`/`create_dir`/`rename` nowhere
//! else; a unit test (`root_steps_use_only_safe_walk`) fails if one does.
//!
//! Over 500 lines on purpose: this file is the whole of what root may do to a path, the walk
//! and every `*at` operation on its descriptor, so that a reviewer of root's file access reads
//! one file; its tests (`tests.rs`) and the lint (`lint.rs`) are beside it.

use nix::dir::Dir as NixDir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, RenameFlags, ResolveFlag, openat, openat2, renameat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, mkfifoat, symlinkat, unlinkat};
use std::ffi::{CStr, OsStr, OsString};
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Deeper trees than this are not ours; a walk or removal stops instead of recursing forever.
pub const MAX_DEPTH: usize = 64;

// ------------------------------------------------------------------------------------------
// How the walk is made: openat2, or the per-component fallback

/// Test switch: walk component by component even where `openat2` exists, so the fallback is
/// exercised on every kernel (`force_fallback(true)` in tests; nothing in production sets it).
static FORCE_FALLBACK: AtomicBool = AtomicBool::new(false);
/// 0 unknown, 1 `openat2` works, 2 it does not (ENOSYS, or a seccomp filter saying EPERM).
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// Makes every later walk of this process use the per-component fallback (tests).
pub fn force_fallback(on: bool) {
    FORCE_FALLBACK.store(on, Ordering::SeqCst);
}

/// Which walk this process uses: `"openat2"` or `"fallback"` (for logs and tests).
pub fn method() -> &'static str {
    if FORCE_FALLBACK.load(Ordering::SeqCst) || OPENAT2.load(Ordering::SeqCst) == 2 {
        "fallback"
    } else {
        "openat2"
    }
}

// ------------------------------------------------------------------------------------------
// Errors

/// Why a path could not be reached or changed; `Display` names the path and, for a link,
/// says `refusing`.
#[derive(Debug)]
pub enum WalkError {
    /// Not absolute, not normalised, or has `.`/`..` components.
    Invalid(PathBuf, &'static str),
    /// A component is a symlink (or the walk would leave the anchor): refused, not followed.
    Link(PathBuf),
    /// A component is not a directory.
    NotDir(PathBuf),
    /// Any other error of the system call, with the path it was about.
    Sys(PathBuf, Errno),
}

impl WalkError {
    pub fn errno(&self) -> Option<Errno> {
        match self {
            WalkError::Sys(_, e) => Some(*e),
            WalkError::Link(_) => Some(Errno::ELOOP),
            WalkError::NotDir(_) => Some(Errno::ENOTDIR),
            WalkError::Invalid(..) => None,
        }
    }
    pub fn is_link(&self) -> bool {
        matches!(self, WalkError::Link(_))
    }
    /// A refusal (a link, or a path that is not absolute and normalised) rather than a failure:
    /// the safe outcome, which a root step reports without failing.
    pub fn is_refusal(&self) -> bool {
        matches!(self, WalkError::Link(_) | WalkError::Invalid(..))
    }
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(Errno::ENOENT)
    }
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Invalid(p, why) => write!(f, "refusing {}: {why}", p.display()),
            WalkError::Link(p) => write!(
                f,
                "refusing to follow symlink {} (a component of the path is a link)",
                p.display()
            ),
            WalkError::NotDir(p) => write!(f, "{} is not a directory", p.display()),
            WalkError::Sys(p, e) => write!(f, "{}: {}", p.display(), e.desc()),
        }
    }
}

impl std::error::Error for WalkError {}

impl From<WalkError> for io::Error {
    fn from(e: WalkError) -> io::Error {
        let kind = match e.errno() {
            Some(errno) => io::Error::from(errno).kind(),
            None => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e.to_string())
    }
}

fn sys(path: &Path) -> impl Fn(Errno) -> WalkError + '_ {
    move |e| match e {
        Errno::ELOOP | Errno::EXDEV => WalkError::Link(path.to_path_buf()),
        Errno::ENOTDIR => WalkError::NotDir(path.to_path_buf()),
        e => WalkError::Sys(path.to_path_buf(), e),
    }
}

// ------------------------------------------------------------------------------------------
// Validation

/// An absolute, normalised path with no `.` or `..` component and no empty one (`//`, a
/// trailing `/`): what `HERMES_HOME` must be before any root step reaches for it.
pub fn validate_absolute(path: &Path) -> Result<(), WalkError> {
    let bad = |why| Err(WalkError::Invalid(path.to_path_buf(), why));
    if !path.is_absolute() {
        return bad("not an absolute path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return bad("it has a `..` component");
    }
    let rebuilt: PathBuf = path.components().collect();
    if rebuilt.as_os_str() != path.as_os_str() {
        return bad("not normalised (`.` component, `//`, or a trailing `/`)");
    }
    Ok(())
}

/// A single entry name: not empty, no `/`, not `.` or `..`.
fn check_name(name: &OsStr) -> Result<(), Errno> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Directories reached safely

/// A directory reached with no symlink in any component, held by descriptor. Its `path` is
/// for messages only: nothing here ever resolves it again.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// What one entry of a directory is, looked at without following it.
pub type Stat = FileStat;

impl Dir {
    /// Walks from `/` to `path` (absolute, normalised): no component may be a symlink.
    pub fn open(path: &Path) -> Result<Dir, WalkError> {
        validate_absolute(path)?;
        let root = nix::fcntl::open("/", DIR_FLAGS, Mode::empty()).map_err(sys(Path::new("/")))?;
        let anchor = Dir {
            fd: root,
            path: PathBuf::from("/"),
        };
        let rel = path.strip_prefix("/").unwrap_or(path);
        if rel.as_os_str().is_empty() {
            return Ok(anchor);
        }
        anchor.open_beneath(rel)
    }

    /// Walks from this directory to `rel` (relative, normalised, beneath it): no component
    /// may be a symlink, none may be `..`.
    pub fn open_beneath(&self, rel: &Path) -> Result<Dir, WalkError> {
        let full = self.path.join(rel);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(WalkError::Invalid(full, "not a path beneath its anchor"));
        }
        let fd = if method() == "openat2" {
            match open2(self.fd.as_fd(), rel) {
                Err(Errno::ENOSYS) | Err(Errno::EPERM) => {
                    // No openat2 here (old kernel, or a seccomp profile that refuses it).
                    OPENAT2.store(2, Ordering::SeqCst);
                    walk_components(self, rel)?
                }
                Err(e) => return Err(self.locate(rel, e)),
                Ok(fd) => {
                    OPENAT2.store(1, Ordering::SeqCst);
                    fd
                }
            }
        } else {
            walk_components(self, rel)?
        };
        Ok(Dir { fd, path: full })
    }

    /// The child directory `name` (one component, never followed if a link).
    pub fn dir(&self, name: &OsStr) -> Result<Dir, WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        let fd = open_child(self.fd.as_fd(), name, &path)?;
        Ok(Dir { fd, path })
    }

    /// openat2 says only that *some* component was a link (ELOOP/EXDEV): name the first one,
    /// so the refusal line points at what hermes planted.
    fn locate(&self, rel: &Path, e: Errno) -> WalkError {
        if !matches!(e, Errno::ELOOP | Errno::EXDEV | Errno::ENOTDIR) {
            return WalkError::Sys(self.path.join(rel), e);
        }
        match walk_components(self, rel) {
            Err(found) => found,
            Ok(_) => WalkError::Link(self.path.join(rel)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The directory itself.
    pub fn stat(&self) -> Result<Stat, WalkError> {
        fstat(self.fd.as_fd()).map_err(sys(&self.path))
    }

    /// `name` itself, a link not followed.
    pub fn lstat(&self, name: &OsStr) -> Result<Stat, WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        fstatat(self.fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(sys(&path))
    }

    /// Does `name` exist (as anything, a dangling link included)?
    pub fn exists(&self, name: &OsStr) -> bool {
        self.lstat(name).is_ok()
    }

    /// Where the link `name` points (read, never followed).
    pub fn read_link(&self, name: &OsStr) -> Result<PathBuf, WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        nix::fcntl::readlinkat(self.fd.as_fd(), name)
            .map(PathBuf::from)
            .map_err(sys(&path))
    }

    /// Names in the directory (without `.`/`..`), sorted.
    pub fn list(&self) -> Result<Vec<OsString>, WalkError> {
        let dup = self
            .fd
            .try_clone()
            .map_err(|e| WalkError::Sys(self.path.clone(), io_errno(&e)))?;
        let mut d = NixDir::from_fd(dup).map_err(sys(&self.path))?;
        let mut out = Vec::new();
        for entry in d.iter() {
            let entry = entry.map_err(sys(&self.path))?;
            let name: &CStr = entry.file_name();
            let bytes = name.to_bytes();
            if bytes != b"." && bytes != b".." {
                out.push(OsStr::from_bytes(bytes).to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// A handle on `name` itself (`O_PATH | O_NOFOLLOW`: a link is the link), with what it
    /// is: a check on the handle and the change made through it are about the same inode,
    /// whatever happens to the name in between.
    pub fn entry(&self, name: &OsStr) -> Result<Entry, WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| WalkError::Sys(path.clone(), e))?;
        let stat = fstat(fd.as_fd()).map_err(|e| WalkError::Sys(path.clone(), e))?;
        Ok(Entry { fd, stat, path })
    }

    // ---------------------------------------------------------------- changes, by fd only

    /// chown of the directory itself.
    pub fn chown_self(&self, uid: u32, gid: u32) -> Result<(), WalkError> {
        fchown(
            self.fd.as_fd(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
        )
        .map_err(sys(&self.path))
    }

    /// chmod of the directory itself (all 12 bits: setgid and sticky too).
    pub fn chmod_self(&self, mode: u32) -> Result<(), WalkError> {
        fchmod(self.fd.as_fd(), Mode::from_bits_truncate(mode)).map_err(sys(&self.path))
    }

    /// chown of `name` itself, never of what it points to.
    pub fn chown(&self, name: &OsStr, uid: u32, gid: u32) -> Result<(), WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        fchownat(
            self.fd.as_fd(),
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(sys(&path))
    }

    /// `mkdir name` (EEXIST is an error: see `ensure_dir`).
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> Result<(), WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        mkdirat(
            self.fd.as_fd(),
            name,
            Mode::from_bits_truncate(mode & 0o777),
        )
        .map_err(sys(&path))
    }

    /// A new directory `name`, opened, with exactly `owner` and `mode` (set through its
    /// descriptor, so neither the umask nor a swapped name changes what is set).
    pub fn create_dir(
        &self,
        name: &OsStr,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<Dir, WalkError> {
        self.mkdir(name, 0o700)?;
        let dir = self.dir(name)?;
        if let Some((uid, gid)) = owner {
            dir.chown_self(uid, gid)?;
        }
        dir.chmod_self(mode)?;
        Ok(dir)
    }

    /// `name` made if missing, then opened (a link there is refused, never followed).
    pub fn ensure_dir(&self, name: &OsStr, mode: u32) -> Result<Dir, WalkError> {
        match self.mkdir(name, mode) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        self.dir(name)
    }

    /// A new regular file `name` holding `body`, with `mode` (and `owner`): `O_CREAT | O_EXCL
    /// | O_NOFOLLOW`, so an existing file, link or FIFO there is an error, never written
    /// through.
    pub fn write_new(
        &self,
        name: &OsStr,
        body: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(), WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(sys(&path))?;
        if let Some((uid, gid)) = owner {
            fchown(
                fd.as_fd(),
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
            )
            .map_err(sys(&path))?;
        }
        fchmod(fd.as_fd(), Mode::from_bits_truncate(mode)).map_err(sys(&path))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(body)
            .map_err(|e| WalkError::Sys(path.clone(), io_errno(&e)))?;
        Ok(())
    }

    /// Opens (creating if missing, mode `mode`) the regular file `name` for writing, never
    /// through a link and never a FIFO or device (checked on the open file): for lock files.
    pub fn open_regular_rw(&self, name: &OsStr, mode: u32) -> Result<std::fs::File, WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_RDWR
                | OFlag::O_CREAT
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map_err(sys(&path))?;
        let st = fstat(fd.as_fd()).map_err(sys(&path))?;
        if kind(&st) != SFlag::S_IFREG {
            return Err(WalkError::Invalid(path, "not a regular file"));
        }
        Ok(std::fs::File::from(fd))
    }

    /// `name` -> `target` (the link is ours: made here, never followed by us).
    pub fn symlink(&self, target: &Path, name: &OsStr) -> Result<(), WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        symlinkat(target, self.fd.as_fd(), name).map_err(sys(&path))
    }

    /// A new FIFO `name` with exactly `mode`, owned by `owner`.
    pub fn mkfifo(&self, name: &OsStr, mode: u32, owner: (u32, u32)) -> Result<(), WalkError> {
        let path = self.path.join(name);
        check_name(name).map_err(sys(&path))?;
        mkfifoat(self.fd.as_fd(), name, Mode::from_bits_truncate(0o600)).map_err(sys(&path))?;
        self.chown(name, owner.0, owner.1)?;
        self.chmod_fifo(name, mode)
    }

    /// chmod of the FIFO `name` (checked to be one, not a link: `fchmodat` cannot refuse to
    /// follow on every kernel, so the check comes first and the directory must be one hermes
    /// cannot write, as every `supervise/` is).
    pub fn chmod_fifo(&self, name: &OsStr, mode: u32) -> Result<(), WalkError> {
        let path = self.path.join(name);
        let st = self.lstat(name)?;
        if kind(&st) != SFlag::S_IFIFO {
            return Err(WalkError::Invalid(path, "not a FIFO"));
        }
        nix::sys::stat::fchmodat(
            self.fd.as_fd(),
            name,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(sys(&path))
    }

    /// Renames `from` (in this directory) to `to` in `dest`; with `noreplace`, an existing
    /// `to` is an error (`RENAME_NOREPLACE`), never replaced.
    pub fn rename(
        &self,
        from: &OsStr,
        dest: &Dir,
        to: &OsStr,
        noreplace: bool,
    ) -> Result<(), WalkError> {
        let path = self.path.join(from);
        check_name(from).map_err(sys(&path))?;
        check_name(to).map_err(sys(&dest.path.join(to)))?;
        let flags = if noreplace {
            RenameFlags::RENAME_NOREPLACE
        } else {
            RenameFlags::empty()
        };
        renameat2(self.fd.as_fd(), from, dest.fd.as_fd(), to, flags).map_err(|e| match e {
            Errno::EEXIST | Errno::ENOTEMPTY => WalkError::Sys(dest.path.join(to), e),
            e => WalkError::Sys(path.clone(), e),
        })
    }

    /// Removes `name` — a file, a link (the link itself) or a whole directory tree — without
    /// following any link; nothing there is fine.
    pub fn remove_tree(&self, name: &OsStr) -> Result<(), WalkError> {
        self.remove_tree_at(name, 0)
    }

    fn remove_tree_at(&self, name: &OsStr, depth: usize) -> Result<(), WalkError> {
        let st = match self.lstat(name) {
            Ok(st) => st,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let path = self.path.join(name);
        if kind(&st) == SFlag::S_IFDIR {
            if depth > MAX_DEPTH {
                return Err(WalkError::Sys(path, Errno::ELOOP));
            }
            let sub = self.dir(name)?;
            for child in sub.list()? {
                sub.remove_tree_at(&child, depth + 1)?;
            }
            unlinkat(self.fd.as_fd(), name, UnlinkatFlags::RemoveDir).map_err(sys(&path))
        } else {
            unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir).map_err(sys(&path))
        }
    }
}

/// One entry held by an `O_PATH` handle, with its stat from that handle.
#[derive(Debug)]
pub struct Entry {
    fd: OwnedFd,
    pub stat: Stat,
    pub path: PathBuf,
}

impl Entry {
    pub fn is_symlink(&self) -> bool {
        kind(&self.stat) == SFlag::S_IFLNK
    }
    pub fn is_dir(&self) -> bool {
        kind(&self.stat) == SFlag::S_IFDIR
    }
    /// chown of the inode the handle holds (`AT_EMPTY_PATH`: whatever the name now is).
    pub fn chown(&self, uid: u32, gid: u32) -> Result<(), WalkError> {
        fchownat(
            self.fd.as_fd(),
            "",
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_EMPTY_PATH,
        )
        .map_err(|e| WalkError::Sys(self.path.clone(), e))
    }
}

/// Reads a small regular file at an absolute path reached with the walk (at most 64 KiB; a
/// link, FIFO or device is refused, never opened as such).
pub fn read_small_file(path: &Path) -> Result<Vec<u8>, WalkError> {
    use std::io::Read;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(WalkError::Invalid(path.to_path_buf(), "not a file path"));
    };
    let dir = Dir::open(dir)?;
    let fd = openat(
        dir.fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys(path))?;
    let st = fstat(fd.as_fd()).map_err(sys(path))?;
    if kind(&st) != SFlag::S_IFREG {
        return Err(WalkError::Invalid(path.to_path_buf(), "not a regular file"));
    }
    let mut body = Vec::new();
    std::fs::File::from(fd)
        .take(64 * 1024)
        .read_to_end(&mut body)
        .map_err(|e| WalkError::Sys(path.to_path_buf(), io_errno(&e)))?;
    Ok(body)
}

/// Regression `home-midpath-symlink-followed` only (contract §9): how `01` opened the home
/// before this module existed — by path, `O_NOFOLLOW` guarding the last component alone, so a
/// link planted one or two levels up was followed.
#[cfg(feature = "regression")]
pub fn regress_open_last_component_nofollow(path: &Path) -> Result<Dir, WalkError> {
    let fd = nix::fcntl::open(path, DIR_FLAGS, Mode::empty()).map_err(sys(path))?;
    Ok(Dir {
        fd,
        path: path.to_path_buf(),
    })
}

pub fn kind(st: &Stat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

pub fn is_dir(st: &Stat) -> bool {
    kind(st) == SFlag::S_IFDIR
}

pub fn is_symlink(st: &Stat) -> bool {
    kind(st) == SFlag::S_IFLNK
}

pub fn is_fifo(st: &Stat) -> bool {
    kind(st) == SFlag::S_IFIFO
}

fn io_errno(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// `openat2` beneath `dir` with no symlink (and no magic link) anywhere on the way.
fn open2(dir: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new().flags(DIR_FLAGS).resolve(
        ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS
            | ResolveFlag::RESOLVE_BENEATH,
    );
    loop {
        match openat2(dir, rel, how) {
            // The kernel asks to retry when a rename raced the lookup (RESOLVE_BENEATH).
            Err(Errno::EAGAIN) => continue,
            r => return r,
        }
    }
}

/// One directory component, `O_DIRECTORY | O_NOFOLLOW`: a link is refused and named as one
/// (the kernel says ELOOP, or ENOTDIR for this flag pair on some file systems).
fn open_child(dir: BorrowedFd<'_>, name: &OsStr, path: &Path) -> Result<OwnedFd, WalkError> {
    match openat(dir, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::ELOOP) => Err(WalkError::Link(path.to_path_buf())),
        Err(Errno::ENOTDIR) => match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if is_symlink(&st) => Err(WalkError::Link(path.to_path_buf())),
            _ => Err(WalkError::NotDir(path.to_path_buf())),
        },
        Err(e) => Err(WalkError::Sys(path.to_path_buf(), e)),
    }
}

/// The fallback: one `openat(O_DIRECTORY | O_NOFOLLOW)` per component, each from the
/// descriptor of the one before. A link at any component fails with ELOOP (or ENOTDIR), and
/// that component is named.
fn walk_components(from: &Dir, rel: &Path) -> Result<OwnedFd, WalkError> {
    let mut path = from.path.clone();
    let mut fd = from
        .fd
        .try_clone()
        .map_err(|e| WalkError::Sys(path.clone(), io_errno(&e)))?;
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(WalkError::Invalid(
                from.path.join(rel),
                "not a path beneath its anchor",
            ));
        };
        path.push(name);
        fd = open_child(fd.as_fd(), name, &path)?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests;

/// The lint that keeps every root step on this module (a unit test over the sources).
#[cfg(test)]
mod lint;
