#!/bin/bash
# Namespaces, capabilities, id maps and privileges, observed from the host on a running
# container command.
. "$(dirname "$0")/lib.sh"

# start_probe VAR ARGS...: start `cage run ... cage-probe sleep 30 TOKEN` in the background
# and set VAR to the host pid of the probe process.
start_sleeper() {
    local token=tok$$_$RANDOM
    cage_run "$@" -- /usr/bin/cage-probe sleep 30 "$token" >/dev/null 2>&1 &
    SLEEPER_CAGE=$!
    on_exit "kill -9 $SLEEPER_CAGE 2>/dev/null; wait $SLEEPER_CAGE 2>/dev/null"
    SLEEPER=$(find_probe_pid "$token")
}
stop_sleeper() { kill -9 "$SLEEPER_CAGE" 2>/dev/null; wait "$SLEEPER_CAGE" 2>/dev/null; }

start_sleeper
[ -n "$SLEEPER" ] || bail "the container's command never appeared on the host"
for ns in user mnt pid net uts ipc cgroup; do
    isnt "$(readlink /proc/$SLEEPER/ns/$ns)" "$(readlink /proc/self/ns/$ns)" "$ns namespace differs from the host's"
done
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
    is "$(awk -v k="$set:" '$1 == k {print $2}' /proc/$SLEEPER/status)" 0000000000000000 "$set is empty (seen from the host)"
done
is "$(awk '$1 == "NoNewPrivs:" {print $2}' /proc/$SLEEPER/status)" 1 "no_new_privs is set (seen from the host)"

# The uid map. Rootless: the invoking user is uid 1000 inside; with a range, 0..999 and 1001..
# map into it. As root: every id into root's range, none to host root (t-idmap has the rest).
uid_map=$(awk '{print $1, $2, $3}' /proc/$SLEEPER/uid_map | tr '\n' ';')
if [ "$MODE" = rootless ]; then
    like "$uid_map" "(^|;)1000 $CAGE_UID 1;" "uid 1000 inside is the invoking user ($CAGE_UID) on the host"
    start=$(awk -F: -v u="$CAGE_USER" '$1 == u {print $2; exit}' /etc/subuid)
    like "$uid_map" "^0 $start 1000;" "container root maps to the start of the user's subordinate range"
    is "$(awk '$1 == "Uid:" {print $2}' /proc/$SLEEPER/status)" "$CAGE_UID" "the command's host uid is the invoking user's"
else
    like "$uid_map" "^0 [1-9][0-9]* [0-9]+;$" "every container uid maps into one range of unprivileged host ids"
    start=${uid_map#0 } start=${start%% *}
    is "$(awk '$1 == "Uid:" {print $2}' /proc/$SLEEPER/status)" "$((start + 1000))" "the command's host uid is uid 1000 of that range, not host root"
fi
pid1=$(awk '$1 == "PPid:" {print $2}' /proc/$SLEEPER/status)
is "$(cat /proc/$pid1/comm)" cage-init "the command's parent is cage's pid 1"
is "$(awk '$1 == "NSpid:" {print $NF}' /proc/$pid1/status)" 1 "cage-init is pid 1 of the container"
is "$(awk '$1 == "CapEff:" {print $2}' /proc/$pid1/status)" 0000000000000000 "pid 1 keeps no capabilities"
stop_sleeper

start_sleeper --network host
is "$(readlink /proc/$SLEEPER/ns/net)" "$(readlink /proc/self/ns/net)" "--network host shares the host's network namespace"
stop_sleeper

# From inside.
status=$(probe status)
like "$status" "CapEff=0000000000000000" "inside: CapEff empty"
like "$status" "CapBnd=0000000000000000" "inside: CapBnd empty"
like "$status" "NoNewPrivs=1" "inside: NoNewPrivs 1"
is "$(probe ids)" "uid=1000 gid=1000 euid=1000 egid=1000" "the command runs as 1000:1000"
root_status=$(cage_run --user 0:0 -- /usr/bin/cage-probe status)
like "$root_status" "Uid=0" "--user 0:0 runs as container root"
like "$root_status" "CapEff=0000000000000000" "container root has no effective capabilities"
like "$root_status" "CapPrm=0000000000000000" "container root has no permitted capabilities"
like "$root_status" "CapBnd=0000000000000000" "container root has an empty bounding set"
is "$(probe mount)" "mount=EPERM" "mount(2) is refused"
is "$(cage_run --user 0 -- /usr/bin/cage-probe mount)" "mount=EPERM" "mount(2) is refused to container root"
is "$(probe umount /proc)" "umount=EPERM" "umount(2) is refused"
probe readlink /proc/1/exe >/dev/null 2>&1
isnt "$?" 0 "pid 1's executable cannot be resolved from inside"
is "$(probe open-write /proc/1/mem)" "open=EACCES" "pid 1's memory cannot be opened from inside"
like "$(probe hostname)" "^cage-[0-9a-f]{6}$" "the hostname defaults to the sandbox name"
is "$(cage_run --hostname box-1 -- /usr/bin/cage-probe hostname)" box-1 "--hostname sets it"
is "$(cage_run --name named-1 -- /usr/bin/cage-probe hostname)" named-1 "--name names the sandbox and its hostname"
like "$(probe pid)" "^pid=2 ppid=1$" "the command is pid 2 under cage's init"

# Files the container writes to the workspace belong to the invoking user on the host.
cage_run -- /bin/sh -c 'echo data > /work/created'
is "$(stat -c %u:%g "$WORKSPACE/created")" "$CAGE_UID:$CAGE_GID" "a file written to /work belongs to the invoking user on the host"
cage_run --user 0:0 -- /bin/sh -c 'echo r > /work/by-root'
is "$(stat -c %u:%g "$WORKSPACE/by-root")" "$CAGE_UID:$CAGE_GID" "whatever --user is, the invoking user owns what it writes on the host"
done_testing
