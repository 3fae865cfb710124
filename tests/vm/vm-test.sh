#!/bin/bash
# vm-test.sh MODE: meson's entry for the cgroup v2 VM suite. Boots one qemu guest
# (run-in-vm.sh) that runs t-cgroups-vm.sh in MODE (root | rootless), or t-systemd-vm.sh in a
# guest booted with systemd (MODE systemd), and passes its TAP output
# and exit status back. Skips (TAP "1..0 # SKIP", exit 77) when qemu, a static busybox or the
# kernel tools are missing, or no kernel can be had (fetch-kernel.sh is tried first).
# Environment (set by tests/meson.build): CAGE, ROOTFS, SOURCE_ROOT, BUILD_ROOT, and
# SKIP_STATUS=0: meson's TAP parser counts "1..0 # SKIP" as skipped but exit 77 as an error.
# VM_QEMU names the qemu binary (default qemu-system-x86_64).
set -u
mode=${1:?usage: vm-test.sh root|rootless|systemd}
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "1..0 # SKIP $*"; exit "${SKIP_STATUS:-77}"; }

command -v "${VM_QEMU:-qemu-system-x86_64}" >/dev/null || skip "${VM_QEMU:-qemu-system-x86_64} missing (apt-get install qemu-system-x86)"
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || skip "no static /bin/busybox (apt-get install busybox-static)"
for tool in depmod modprobe cpio readelf xz; do
    command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null ||
        skip "$tool missing (apt-get install kmod cpio binutils xz-utils)"
done
export PATH=$PATH:/usr/sbin:/sbin
if [ -z "${VM_KERNEL:-}" ]; then
    kdir=$("$here/fetch-kernel.sh" 2>/dev/null) || skip "no kernel for the VM (tests/vm/fetch-kernel.sh failed: no Debian mirror?)"
    VM_KERNEL=$(ls -1 "$kdir"/boot/vmlinuz-* | sort -V | tail -1)
    export VM_KERNEL VM_MODROOT=$kdir
fi

# "systemd": the guest boots systemd, and the systemd-driver suite runs rootless.
suite=t-cgroups-vm.sh
if [ "$mode" = systemd ]; then
    [ -x /lib/systemd/systemd ] && command -v systemd-run >/dev/null || skip "systemd is not installed on this host"
    export VM_INIT=systemd
    mode=rootless suite=t-systemd-vm.sh
fi
# The guest sees the host's / read-only but has a /tmp of its own, and only the shared
# directory is writable: share one that holds the build and the test sources (a checkout
# under /tmp is otherwise invisible in the guest), or copy the tests into the build.
share=${BUILD_ROOT:?}
case "$BUILD_ROOT/" in
    "${SOURCE_ROOT:?}"/*) share=$SOURCE_ROOT ;;
    *) rm -rf "$BUILD_ROOT/vm-sources" && mkdir -p "$BUILD_ROOT/vm-sources" &&
        cp -a "$SOURCE_ROOT/tests" "$BUILD_ROOT/vm-sources/" && SOURCE_ROOT=$BUILD_ROOT/vm-sources ;;
esac
export VM_TIMING=1
"$here/run-in-vm.sh" -t "${VM_TIMEOUT:-500}" "$share" \
    env MODE="$mode" CAGE="${CAGE:?}" ROOTFS="${ROOTFS:?}" SOURCE_ROOT="${SOURCE_ROOT:?}" CAGE_TEST_USER=cagevm \
    EMBED_EXAMPLE="${EMBED_EXAMPLE:-}" \
    bash "$SOURCE_ROOT/tests/vm/$suite"
status=$?
[ "$status" -eq 125 ] && echo "Bail out! the VM did not run the suite (run-in-vm.sh exit 125)"
exit "$status"
