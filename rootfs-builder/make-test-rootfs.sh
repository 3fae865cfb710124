#!/bin/bash
# make-test-rootfs.sh OUTDIR PROBE
# Builds the tiny test rootfs from Debian's busybox-static package: busybox with every applet,
# an `agent` user (uid 1000), and the in-container probe at /usr/bin/cage-probe. Built in a
# temporary sibling directory and renamed into place, so an interrupted build never leaves half
# a rootfs at OUTDIR. Works as root and unprivileged.
set -euo pipefail

die() { echo "make-test-rootfs: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: make-test-rootfs.sh OUTDIR PROBE"
out=$1
probe=$2
[ -x "$probe" ] || die "the probe is not an executable file: $probe"

work=$(mktemp -d "${out%/}.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT

# busybox-static's /bin/busybox, or the package's copy fetched unprivileged with apt-get download.
find_busybox() {
    if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
        echo /bin/busybox
        return
    fi
    local deb_dir="$work/.deb"
    mkdir -p "$deb_dir"
    (cd "$deb_dir" && apt-get download busybox-static >/dev/null 2>&1) ||
        die "busybox-static is not installed and could not be downloaded (apt-get install busybox-static)"
    dpkg-deb -x "$deb_dir"/busybox-static_*.deb "$deb_dir/x"
    echo "$deb_dir/x/bin/busybox"
}

root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,work,home/agent,root,proc,sys,dev,usr/bin,var,run,mnt}
chmod 1777 "$root/tmp"
install -m 0755 "$(find_busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
[ -e "$root/bin/sh" ] || die "busybox has no sh applet"
install -m 0755 "$probe" "$root/usr/bin/cage-probe"

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
chmod -R a+rX "$root"

rm -rf "$out"
mv "$root" "$out"
