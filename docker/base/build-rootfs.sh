#!/bin/sh
# Build the offline Debian bookworm base root filesystem for hermes-s6.
#
#   docker/base/build-rootfs.sh OUT.tar
#
# Uses mmdebstrap (variant minbase) plus the packages listed in packages.txt, with the
# host's own apt sources (no mirror host name is written anywhere in this repository).
# Import the result with e.g. `docker import OUT.tar hermes-s6-base:dev`.
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
[ -r "$pkgfile" ] || die "cannot read $pkgfile"
command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap not found (apt-get install mmdebstrap)"

# Comma-separated package list, comments and blank lines ignored.
pkgs=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$pkgfile" | paste -sd, -)
[ -n "$pkgs" ] || die "no packages in $pkgfile"

# The host's apt sources: deb822 first, then the one-line format.
sources=
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
  if [ -s "$f" ] && grep -Eq '^[[:space:]]*(URIs:|deb[[:space:]])' "$f"; then
    sources=$f; break
  fi
done
[ -n "$sources" ] || die "no usable host apt sources (looked at /etc/apt/sources.list.d/debian.sources, /etc/apt/sources.list)"

outdir=$(cd "$(dirname "$out")" 2>/dev/null && pwd) || die "output directory of '$out' does not exist"
final=$outdir/$(basename "$out")
tmp=$outdir/.$(basename "$out").tmp$$.tar
trap 'rm -f "$tmp"' EXIT INT TERM

printf '%s: packages: %s\n' "$me" "$pkgs" >&2
printf '%s: apt sources: %s\n' "$me" "$sources" >&2

# Keep it small: no docs, man pages or locales (copyright files kept), no apt lists/caches.
if ! mmdebstrap \
      --variant=minbase \
      --include="$pkgs" \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --dpkgopt='path-exclude=/usr/share/lintian/*' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old "$1"/var/log/*.log "$1"/var/log/apt/*' \
      bookworm "$tmp" "$sources" >/dev/null; then
  die "mmdebstrap failed (see messages above); is the apt mirror from $sources reachable?"
fi

mv -f "$tmp" "$final" || die "cannot move result to $final"
trap - EXIT INT TERM
printf '%s: wrote %s (%s bytes)\n' "$me" "$final" "$(wc -c <"$final")" >&2
