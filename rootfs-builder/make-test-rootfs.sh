#!/bin/bash
# make-test-rootfs.sh OUTDIR PROBE
# Builds the tiny rootfs the integration tests run in: Debian's static busybox with every
# applet linked in /bin, users root, agent (1000) and nobody, and the in-container probe at
# /usr/bin/cage-probe. It is built in a temporary sibling directory and swapped in with
# renames, so an interrupted build never leaves half a rootfs at OUTDIR; rerunning replaces
# it. Works as root and unprivileged: the files belong to whoever runs it.
set -euo pipefail
# Readable by everyone: rootless tests may use a rootfs that root built, whose owner is then
# unmapped inside the container.
umask 022

die() { echo "make-test-rootfs: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: make-test-rootfs.sh OUTDIR PROBE"
out=${1%/}
probe=$2
[ -n "$out" ] || die "OUTDIR is empty"
[ -f "$probe" ] && [ -x "$probe" ] || die "the probe is not an executable file: $probe"

work=$(mktemp -d "$out.tmp.$$.XXXXXX")
trap 'rm -rf "$work"' EXIT

is_static() { # is_static FILE: an ELF without a program interpreter
    if command -v file >/dev/null; then
        file -L "$1" | grep -Eq 'statically linked|static-pie linked'
    else
        dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'
    fi
}

# The installed /bin/busybox if it is the static one, else busybox-static's copy, fetched
# unprivileged with apt-get download and unpacked with dpkg-deb.
find_busybox() {
    if [ -x /bin/busybox ] && is_static /bin/busybox; then
        echo /bin/busybox
        return
    fi
    local deb_dir=$work/deb
    mkdir -p "$deb_dir"
    (cd "$deb_dir" && apt-get download busybox-static >/dev/null 2>&1) &&
        dpkg-deb -x "$deb_dir"/busybox-static_*.deb "$deb_dir/x" 2>/dev/null &&
        [ -x "$deb_dir/x/bin/busybox" ] ||
        die "no static busybox: /bin/busybox is missing or dynamic and 'apt-get download busybox-static' failed (apt-get install busybox-static)"
    echo "$deb_dir/x/bin/busybox"
}

busybox=$(find_busybox)
root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,work,home/agent,root,proc,sys,dev,usr/bin,var,run,mnt}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    case $applet in busybox | */*) continue ;; esac
    ln -s busybox "$root/bin/$applet"
done
[ -L "$root/bin/sh" ] || die "$busybox has no sh applet"
cp "$probe" "$root/usr/bin/cage-probe"
chmod 0755 "$root/usr/bin/cage-probe"

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
agent:x:1000:1000:agent:/home/agent:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
agent:x:1000:
nogroup:x:65534:
GROUP
echo "cage test rootfs (busybox-static)" >"$root/etc/cage-test-rootfs"
chmod 0644 "$root"/etc/{passwd,group,cage-test-rootfs}

# Swap it in: each step is a rename, and the old tree is deleted with $work on exit.
if [ -e "$out" ] || [ -L "$out" ]; then
    mv -T "$out" "$work/old"
fi
mv -T "$root" "$out"
