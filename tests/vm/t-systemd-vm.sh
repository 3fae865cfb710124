#!/bin/bash
# The systemd driver, INSIDE a qemu guest booted with systemd as PID 1 (vm-test.sh systemd):
# cage runs as an unprivileged user from a cgroup that is not delegated (a system service),
# finds the user's systemd manager, re-executes itself under
# `systemd-run --user --scope -p Delegate=yes`, and then enforces the limits there.
cp -a "${ROOTFS:?}" /tmp/cage-vm-rootfs && ROOTFS=/tmp/cage-vm-rootfs
. "${SOURCE_ROOT:?}/tests/integration/lib.sh"
[ "$MODE" = rootless ] || bail "the systemd suite runs rootless"
AS_USER+=(XDG_RUNTIME_DIR="/run/user/$CAGE_UID")
CG=/sys/fs/cgroup
APPS=$CG/user.slice/user-$CAGE_UID.slice/user@$CAGE_UID.service/app.slice
[ -S "/run/user/$CAGE_UID/systemd/private" ] || bail "no systemd user manager for $CAGE_USER"
cgroup_of() { echo "$CG$(sed -n 's/^0:://p' "/proc/$1/cgroup")"; }
diag "the suite runs in $(sed -n 's/^0:://p' /proc/self/cgroup), not delegated to $CAGE_USER"

err=$(cage_run --pids 33 -- cat /proc/self/cgroup 2>&1)
is "$?|$err" "0|0::/" "without a delegated cgroup, cage runs in a systemd scope, no warning"

start_probe --pids 33 --memory 96M || bail "the probe container did not start"
cg=$(cgroup_of "$PROBE_PID")
like "$cg" "^$APPS/cage-[0-9]+\.scope/cage-[0-9]+$" "the container's cgroup is inside a cage-PID.scope of the user's manager"
scope=${cg%/*}
is "$(cgroup_of "$PROBE_CAGE")" "$scope/cage-supervisor" "cage moved itself into the scope's cage-supervisor"
is "$(cat "$cg/pids.max")|$(cat "$cg/memory.max")" "33|100663296" "the limits are written there"
stop_probe
for i in $(seq 100); do [ -d "$scope" ] || break; sleep 0.1; done
ok $([ ! -d "$scope" ] && echo 0 || echo 1) "after SIGKILL of cage the scope and everything in it are gone"

err=$(cage_run --memory 64M -- /usr/bin/cage-probe hog 200 2>&1 >/dev/null)
is "$?" 137 "a 200 MiB hog under --memory 64M in the scope: killed, 137"
like "$err" "^cage: killed: out of memory \(limit 64 MiB, peak 6[0-9]\.[0-9] MiB\)$" "cage says so"
for i in $(seq 50); do [ -z "$(find "$APPS" -maxdepth 1 -name 'cage-*.scope')" ] && break; sleep 0.1; done
is "$(find "$APPS" -maxdepth 1 -name 'cage-*.scope')" "" "no scope is left behind"
done_testing
