#!/bin/bash
# fetch-kernel.sh [DIR]: Debian's current kernel for the cgroup v2 VM tests, fetched with
# `apt-get download` (no root, nothing installed, /boot untouched) and unpacked with dpkg-deb
# into DIR (default ${CAGE_VM_DIR:-${XDG_CACHE_HOME:-~/.cache}/cage-vm}/kernel). Prints the
# directory; DIR/boot/vmlinuz-* and DIR/lib/modules/* are what run-in-vm.sh needs
# (VM_KERNEL, VM_MODROOT). Does nothing when a kernel is already there.
set -euo pipefail
dir=${1:-${CAGE_VM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cage-vm}/kernel}
die() { echo "fetch-kernel: $*" >&2; exit 1; }

if ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1 && ls -d "$dir"/lib/modules/*/kernel >/dev/null 2>&1; then
    echo "$dir"
    exit 0
fi
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian/Ubuntu)"
package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$package" ] || die "apt-cache knows no linux-image-amd64 (run apt-get update)"
mkdir -p "$(dirname "$dir")"
work=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
# As root, apt's download sandbox user _apt needs to write the directory.
chmod 755 "$work"
(cd "$work" && apt-get download -q "$package" >&2) || die "apt-get download $package failed"
dpkg-deb -x "$work/${package}"_*.deb "$work/root" || die "dpkg-deb -x failed"
rm -f "$work/${package}"_*.deb
rm -rf "$dir"
mv -T "$work/root" "$dir"
echo "$dir"
