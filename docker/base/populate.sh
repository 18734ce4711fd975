#!/bin/sh
# mmdebstrap extract hook of build-rootfs.sh: fills the (empty, merged-/usr) root ROOT with
# exactly the packages of packages.txt.
#
#   populate.sh ROOT PACKAGES.TXT [CACHE]   (MMDEBSTRAP_APT_CONFIG set by mmdebstrap)
#
# 1. downloads each listed package by name, with mmdebstrap's apt configuration (the host's
#    sources): no dependency resolution, so nothing unlisted comes in. With CACHE (a directory
#    build-rootfs.sh chose), a package whose file is there with the SHA256 the package index
#    gives for the version apt would download is taken from it instead, and what is
#    downloaded is added to it (temp + rename);
# 2. checks that every Depends/Pre-Depends of every downloaded package is satisfied by a listed
#    package (or what it Provides) or waived with `!name` in packages.txt: a new dependency
#    after a point release fails the build here instead of at run time;
# 3. extracts them (dpkg-deb | tar, owners numeric) without docs, man pages, info, locales,
#    lintian overrides (copyright files kept) and glibc's gconv modules (8 MB of iconv charsets:
#    there are no locales here, everything runs in the C locale, and UTF-8/ASCII/UCS are built
#    into libc); no maintainer script runs;
# 4. does by hand what the image needs of what those scripts and of what passwd/base-passwd,
#    libc-bin and usrmerge would have done: the user database, /etc/shells, nsswitch.conf,
#    /run/lock with /var/run and /var/lock as links, ld.so.cache;
# 5. checks that every ELF program and library resolves all its libraries in ROOT;
# 6. records the packages in /var/lib/dpkg/status (a plain file for image scanners: there is
#    no dpkg) and removes what mmdebstrap put there for apt.
# Messages start with "populate:"; exits non-zero on any failure.
set -eu

me=populate
die() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$me" "$*" >&2; }

[ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: $0 ROOT PACKAGES.TXT [CACHE]"
root=$1
pkgfile=$2
cache=${3-}
[ -d "$root" ] || die "no root directory $root"
[ -n "${MMDEBSTRAP_APT_CONFIG-}" ] || die "MMDEBSTRAP_APT_CONFIG not set (run as mmdebstrap's extract hook)"
APT_CONFIG=$MMDEBSTRAP_APT_CONFIG
export APT_CONFIG

entries=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$pkgfile")
wanted=$(printf '%s\n' "$entries" | grep -v '^!' || true)
waived=$(printf '%s\n' "$entries" | sed -n 's/^!//p')
[ -n "$wanted" ] || die "no packages in $pkgfile"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/debs"
# apt drops privileges to _apt for downloads where it can.
chmod 0755 "$work"
chown _apt "$work/debs" 2>/dev/null || true

# ---------------------------------------------------------------- 1. download
n=$(printf '%s\n' "$wanted" | wc -l)
# The index's pool file name and SHA256 of the version apt would download now, one
# "package file sha256" line per package.
: >"$work/index"
for p in $wanted; do
  info=$(apt-cache show --no-all-versions "$p" 2>/dev/null) || die "no package '$p' in the apt index"
  file=$(printf '%s\n' "$info" | sed -n 's/^Filename: //p' | head -n 1)
  sum=$(printf '%s\n' "$info" | sed -n 's/^SHA256: //p' | head -n 1)
  [ -n "$file" ] && [ -n "$sum" ] || die "the apt index gives no Filename/SHA256 for '$p'"
  printf '%s %s %s\n' "$p" "${file##*/}" "$sum" >>"$work/index"
done
need=
hits=0
while read -r p file sum; do
  if [ -n "$cache" ] && [ -f "$cache/$file" ] \
     && [ "$(sha256sum <"$cache/$file" | cut -d' ' -f1)" = "$sum" ]; then
    cp "$cache/$file" "$work/debs/$file" || die "cannot copy $cache/$file"
    hits=$((hits + 1))
  else
    need="$need $p"
  fi
done <"$work/index"
[ -z "$cache" ] || say "package cache $cache: $hits of $n packages there and verified"
if [ -n "$need" ]; then
  say "downloading$( [ -n "$cache" ] && printf ' %s of' "$(printf '%s\n' $need | wc -l)") $n packages (no dependencies resolved: packages.txt is the whole list)"
  # shellcheck disable=SC2086
  if ! (cd "$work/debs" && apt-get download -q=2 $need); then
    die "apt-get download failed for:$need"
  fi
fi
if [ -n "$cache" ] && [ -n "$need" ]; then
  # apt-get download names files after the version (an epoch's colon as %3a), the index after
  # the pool; the cache uses the pool's name. Files already verified by apt.
  for p in $need; do
    set -- $(awk -v p="$p" '$1 == p' "$work/index")
    got=$(ls "$work/debs/${p}"_*.deb 2>/dev/null | head -n 1)
    if [ -n "$got" ] && [ "$(sha256sum <"$got" | cut -d' ' -f1)" = "$3" ]; then
      cp "$got" "$cache/.$2.tmp$$" 2>/dev/null && mv -f "$cache/.$2.tmp$$" "$cache/$2" \
        || { rm -f "$cache/.$2.tmp$$"; say "could not add $2 to the cache (build goes on)"; }
    fi
  done
fi
ls "$work/debs"/*.deb >/dev/null 2>&1 || die "nothing downloaded"

# ---------------------------------------------------------------- 2. dependencies
: >"$work/have"
for deb in "$work/debs"/*.deb; do
  dpkg-deb -f "$deb" Package >>"$work/have"
  dpkg-deb -f "$deb" Provides | tr ',' '\n' | sed -e 's/(.*//' -e 's/:.*//' -e 's/[[:space:]]//g' -e '/^$/d' >>"$work/have"
done
printf '%s\n' "$waived" | sed '/^$/d' >"$work/waived"
missing=
for deb in "$work/debs"/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  deps=$( { dpkg-deb -f "$deb" Pre-Depends; dpkg-deb -f "$deb" Depends; } | tr '\n' ',' )
  # One alternative group per line; each alternative without version or arch qualifier.
  groups=$(printf '%s\n' "$deps" | tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/:[a-z0-9]*//g' -e 's/[[:space:]]//g' -e '/^$/d')
  for g in $groups; do
    ok=
    for alt in $(printf '%s\n' "$g" | tr '|' ' '); do
      if grep -qxF "$alt" "$work/have" || grep -qxF "$alt" "$work/waived"; then ok=1; break; fi
    done
    [ -n "$ok" ] || missing="$missing $pkg->$g"
  done
done
[ -z "$missing" ] || die "unsatisfied dependencies:$missing (list each in $pkgfile, or waive it with '!name' and say why)"
for w in $(cat "$work/waived"); do
  grep -qxF "$w" "$work/have" && die "'$w' is both listed and waived in $pkgfile"
done
say "dependencies: every one listed or waived ($(tr '\n' ' ' <"$work/waived"| sed 's/ $//') waived)"

# ---------------------------------------------------------------- 3. extract
# Merged /usr (as bookworm's usrmerge does): each top-level directory the packages ship
# programs or libraries in (bin, sbin, lib, and lib64 where the loader lives there) is a link
# into /usr, made before extraction so that tar keeps it.
tops=$(for deb in "$work/debs"/*.deb; do dpkg-deb --fsys-tarfile "$deb" | tar -t; done \
  | sed -nE 's#^\./(s?bin|lib[a-z0-9]*)/.*#\1#p' | sort -u)
for d in $tops; do
  mkdir -p "$root/usr/$d"
  [ -L "$root/$d" ] || ln -s "usr/$d" "$root/$d"
done
for deb in "$work/debs"/*.deb; do
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root" --numeric-owner --keep-directory-symlink \
    --exclude='./usr/share/man/*' --exclude='./usr/share/info/*' \
    --exclude='./usr/share/locale/*' --exclude='./usr/share/lintian/*' \
    --exclude='./usr/share/doc-base/*' --exclude='./usr/share/bug/*' \
    --exclude='./usr/share/menu/*' --exclude='./usr/lib/*/gconv/*' \
    || die "extracting $(basename "$deb") failed"
done
# Docs: only the copyright files stay.
find "$root/usr/share/doc" -type f ! -name copyright -delete
find "$root/usr/share/doc" -depth -type d -empty -delete
for d in man info locale lintian doc-base bug menu; do
  rmdir "$root/usr/share/$d" 2>/dev/null || true
done

# ---------------------------------------------------------------- 4. what the scripts would do
# The user database (what base-passwd would write, reduced to the entries anything here uses:
# tty for devpts, shadow for /etc/shadow, staff for /var/local, users for PGID=100 remaps).
# hermes itself is added by docker/Dockerfile.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
mail:x:8:
shadow:x:42:
utmp:x:43:
staff:x:50:
users:x:100:
nogroup:x:65534:
EOF
cat >"$root/etc/shadow" <<'EOF'
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
bin:*:19000:0:99999:7:::
sys:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chown 0:42 "$root/etc/shadow"
chmod 0640 "$root/etc/shadow"
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
EOF
printf '/bin/sh\n/usr/bin/sh\n/bin/dash\n/usr/bin/dash\n/bin/bash\n/usr/bin/bash\n' >"$root/etc/shells"
printf 'include /etc/ld.so.conf.d/*.conf\n' >"$root/etc/ld.so.conf"
chmod 0644 "$root/etc/nsswitch.conf" "$root/etc/shells" "$root/etc/ld.so.conf"
# base-files' postinst: /opt, /run/lock 1777, /var/run -> /run, /var/lock -> /run/lock (a
# world-writable /var/lock would be one more directory hermes can write: contract §10).
mkdir -p "$root/opt" "$root/run/lock" "$root/root"
chmod 0755 "$root/opt"; chmod 1777 "$root/run/lock"; chmod 0700 "$root/root"
for l in var/run:/run var/lock:/run/lock; do
  p=$root/${l%%:*}
  if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir "$p"; fi
  [ -L "$p" ] || ln -s "${l#*:}" "$p"
done
# The library cache (libc-bin's ldconfig, run from the host on ROOT).
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
"$ldconfig" -r "$root" || die "ldconfig -r $root failed"

# ---------------------------------------------------------------- 5. every library resolves
ld=$(cd "$root" && ls lib64/ld-linux-*.so.* lib/ld-linux-*.so.* lib/*/ld-linux-*.so.* 2>/dev/null | head -n 1)
[ -n "$ld" ] || die "no dynamic loader in $root"
unresolved=
for f in $(cd "$root" && find usr/bin usr/sbin usr/lib usr/libexec -type f \( -perm -0100 -o -name '*.so*' \) 2>/dev/null); do
  head -c 4 "$root/$f" | grep -q 'ELF' || continue
  out=$(chroot "$root" "/$ld" --list "/$f" 2>&1) || true
  case $out in
    *"not found"*) unresolved="$unresolved /$f:$(printf '%s\n' "$out" | grep 'not found' | sed 's/=>.*//' | tr -d '\t\n')" ;;
  esac
done
[ -z "$unresolved" ] || die "libraries not found:$unresolved"
say "every program and library resolves its libraries"

# ---------------------------------------------------------------- 6. record, clean up
mkdir -p "$root/var/lib/dpkg"
: >"$root/var/lib/dpkg/status.new"
for deb in "$work/debs"/*.deb; do
  {
    dpkg-deb -f "$deb" Package
    echo "Status: install ok installed"
    dpkg-deb -f "$deb" Source Version Architecture Multi-Arch Maintainer Installed-Size
    echo
  } >>"$root/var/lib/dpkg/status.new"
done
# Not a dpkg database: only the list, for scanners. apt and dpkg themselves are absent.
find "$root/var/lib/dpkg" -mindepth 1 ! -name status.new -exec rm -rf {} + 2>/dev/null || true
mv "$root/var/lib/dpkg/status.new" "$root/var/lib/dpkg/status"
chmod 0644 "$root/var/lib/dpkg/status"
rm -rf "$root/etc/apt" "$root/etc/dpkg/dpkg.cfg.d" "$root/var/lib/apt" "$root/var/cache/apt" \
  "$root/var/log/apt" "$root/etc/hostname" "$root/etc/resolv.conf" "$root/etc/fstab" \
  "$root/var/cache/ldconfig/aux-cache" "$MMDEBSTRAP_APT_CONFIG"
say "installed: $(printf '%s ' $wanted)"
