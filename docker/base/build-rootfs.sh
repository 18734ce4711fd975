#!/bin/sh
# Build the offline Debian bookworm base root filesystem for hermes-s6.
#
#   docker/base/build-rootfs.sh OUT.tar
#
# Exactly the packages listed in packages.txt, nothing else (no apt, dpkg, perl, debconf):
# mmdebstrap (variant extract, nothing of its own) sets up an empty root and apt with the
# host's own apt sources (no mirror host name is written anywhere in this repository), and its
# extract hook, populate.sh, downloads, checks and extracts the packages and writes the few
# files their maintainer scripts would have.
# Import the result with e.g. `docker import OUT.tar hermes-s6-base:dev`.
#
# Downloaded packages are kept in the user's cache, one directory per packages.txt content
# ($XDG_CACHE_HOME/hermes-s6/debs/<sha256 of packages.txt, 16 hex>, else ~/.cache/...), as cargo
# keeps its registry outside the clone: a second clone on the same machine downloads nothing.
# populate.sh takes a cached file only if its SHA256 is the one the package index gives for
# the version apt would download now. HERMES_DEB_CACHE=off turns the cache off.
# Progress goes to stderr; exits non-zero with a message starting "build-rootfs:" on failure.
set -eu

me=build-rootfs
die() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT.tar"
out=$1
case $out in
  *.tar) ;;
  *) die "output must end in .tar (got '$out')" ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
pkgfile=$here/packages.txt
populate=$here/populate.sh
[ -r "$pkgfile" ] || die "cannot read $pkgfile"
[ -r "$populate" ] || die "cannot read $populate"
command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap not found (apt-get install mmdebstrap)"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found"

# The package list (comments, blank lines and waived '!name' entries left out), for the log.
pkgs=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' -e '/^!/d' "$pkgfile" | paste -sd' ' -)
[ -n "$pkgs" ] || die "no packages in $pkgfile"

# The host's apt sources: deb822 first, then the one-line format.
sources=
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
  if [ -s "$f" ] && grep -Eq '^[[:space:]]*(URIs:|deb[[:space:]])' "$f"; then
    sources=$f; break
  fi
done
[ -n "$sources" ] || die "no usable host apt sources (looked at /etc/apt/sources.list.d/debian.sources, /etc/apt/sources.list)"

# The cache directory, decided here as the invoking user (mmdebstrap's hook may see another
# HOME), and created now so that its owner is that user.
cache=
if [ "${HERMES_DEB_CACHE-}" != off ]; then
  key=$(sha256sum <"$pkgfile" | cut -c1-16)
  cache_root=${XDG_CACHE_HOME:-${HOME:-}/.cache}
  case $cache_root in
    /*) cache=$cache_root/hermes-s6/debs/$key
        mkdir -p "$cache" 2>/dev/null || { printf '%s: cannot create %s: no package cache\n' "$me" "$cache" >&2; cache=; } ;;
    *) printf '%s: no absolute XDG_CACHE_HOME or HOME: no package cache\n' "$me" >&2 ;;
  esac
fi

outdir=$(cd "$(dirname "$out")" 2>/dev/null && pwd) || die "output directory of '$out' does not exist"
final=$outdir/$(basename "$out")
tmp=$outdir/.$(basename "$out").tmp$$.tar
trap 'rm -f "$tmp"' EXIT INT TERM

printf '%s: packages: %s\n' "$me" "$pkgs" >&2
printf '%s: apt sources: %s\n' "$me" "$sources" >&2
printf '%s: package cache: %s\n' "$me" "${cache:-off}" >&2

# Variant extract with no --include: mmdebstrap installs nothing itself; populate.sh (the
# extract hook) brings in exactly packages.txt. Its own cleanup is skipped: populate.sh has
# removed everything apt and dpkg left, including the directories that cleanup would visit.
if ! mmdebstrap \
      --variant=extract \
      --extract-hook="sh '$populate' \"\$1\" '$pkgfile' '$cache'" \
      --skip=cleanup \
      bookworm "$tmp" "$sources" >/dev/null; then
  die "mmdebstrap failed (see messages above); is the apt mirror from $sources reachable?"
fi

mv -f "$tmp" "$final" || die "cannot move result to $final"
trap - EXIT INT TERM
printf '%s: wrote %s (%s bytes)\n' "$me" "$final" "$(wc -c <"$final")" >&2
