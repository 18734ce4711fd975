//! Thin no-follow filesystem helpers over directory fds.

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstatat};
use nix::unistd::{Gid, Uid, fchownat};
use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Opens a directory; fails with ELOOP (or ENOTDIR) if the last component is a symlink.
pub fn open_dir(path: &Path) -> nix::Result<OwnedFd> {
    open(path, DIR_FLAGS, Mode::empty())
}

pub fn open_dir_at<F: AsFd>(dir: F, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(dir, name, DIR_FLAGS, Mode::empty())
}

pub fn lstat_at<F: AsFd>(dir: F, name: &OsStr) -> nix::Result<FileStat> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

pub fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

pub fn is_symlink(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFLNK
}

pub fn is_dir(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFDIR
}

pub fn is_fifo(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFIFO
}

/// chown of `name` inside `dir` itself, never of what it points to.
pub fn chown_at<F: AsFd>(dir: F, name: &OsStr, uid: u32, gid: u32) -> nix::Result<()> {
    fchownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// An `O_PATH` handle on `name` itself (a link is not followed: the handle is the link):
/// what `fstat_fd`/`chown_fd` act on, so a check and the change that follows it are about the
/// same inode, whatever happens to the name in between.
pub fn open_path_at<F: AsFd>(dir: F, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

pub fn fstat_fd<F: AsFd>(fd: F) -> nix::Result<FileStat> {
    nix::sys::stat::fstat(fd)
}

/// chown of the inode an fd refers to (`O_PATH` handles included).
pub fn chown_fd<F: AsFd>(fd: F, uid: u32, gid: u32) -> nix::Result<()> {
    fchownat(
        fd,
        "",
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_EMPTY_PATH,
    )
}

/// chmod through an fd of a directory we opened without following links.
pub fn chmod_dir_fd<F: AsFd>(fd: F, mode: u32) -> nix::Result<()> {
    fchmod(fd, Mode::from_bits_truncate(mode))
}

/// Names in a directory (without `.`/`..`), sorted.
pub fn list<F: AsFd>(dir: F) -> nix::Result<Vec<std::ffi::OsString>> {
    let dup = dir
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let mut d = Dir::from_fd(dup)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            out.push(OsStr::from_bytes(bytes).to_owned());
        }
    }
    out.sort();
    Ok(out)
}
