#!/bin/sh
# One install step of a child layer, run by the builder inside `unshare --mount --pid --fork`:
# an overlay of LOWER (the parent layers, unpacked) with UPPER (empty: it receives exactly the
# layer's changes), a minimal /dev, /proc, the host's resolv.conf and the build CONTEXT at
# /cage-build, then CONTEXT/install.sh in a chroot with a clean environment.
#
# Why not `cage run`: cage drops every capability, also of the container's root, and dpkg and
# apt need CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER and CAP_SETUID to install packages.
# Usage: step.sh LOWER UPPER WORK MERGED CONTEXT [KEY=VALUE...]
set -eu
lower=$1 upper=$2 work=$3 merged=$4 context=$5
shift 5

# In a user namespace of a rootless build, overlayfs may not use trusted.* xattrs: it keeps
# opaque directories in user.overlay.* instead (the layer packer reads both).
options="lowerdir=$lower,upperdir=$upper,workdir=$work"
if ! awk '$1 == 0 && $2 == 0 && $3 == 4294967295 { full = 1 } END { exit !full }' /proc/self/uid_map; then
    options="$options,userxattr"
fi
mount -t overlay overlay -o "$options" "$merged"
mount -t proc -o nosuid,nodev,noexec proc "$merged/proc"
mount -t tmpfs -o nosuid,mode=755 dev "$merged/dev"
for node in null zero full random urandom tty; do
    touch "$merged/dev/$node"
    mount --bind "/dev/$node" "$merged/dev/$node"
done
mkdir -p "$merged/dev/shm" "$merged/dev/pts"
ln -s /proc/self/fd "$merged/dev/fd"
mount -t tmpfs -o nosuid,nodev tmpfs "$merged/tmp"
rm -f "$merged/etc/resolv.conf"
touch "$merged/etc/resolv.conf"
mount --bind -o ro /etc/resolv.conf "$merged/etc/resolv.conf"
mkdir -p "$merged/cage-build"
mount --bind "$context" "$merged/cage-build"
exec chroot "$merged" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@" \
    /bin/sh /cage-build/install.sh
