#!/bin/bash
# Namespaces, seen from the host on running containers: every one of the seven is new (net
# excepted with --network host), the command and pid 1 share them, two containers share none,
# and what each namespace hides (pids, hostname, SysV IPC, cgroup paths, mounts) stays hidden.
. "$(dirname "$0")/lib.sh"

all_ns="user mnt pid net uts ipc cgroup"
ns_of() { readlink "/proc/$1/ns/$2" 2>/dev/null; }

# The command writes its own view of its namespaces to the workspace before it sleeps.
mountinfo_host=$(cat /proc/self/mountinfo)
start_probe -- '/usr/bin/cage-probe ns > /work/ns-inside; /usr/bin/cage-probe hostname > /work/hostname-inside' || bail "the container's command never appeared on the host"
A=$PROBE_PID A_INIT=$PROBE_INIT A_CAGE=$PROBE_CAGE
for ns in $all_ns; do
    isnt "$(ns_of "$A" $ns)" "$(ns_of self $ns)" "$ns: the command's namespace is not the host's"
    is "$(ns_of "$A_INIT" $ns)" "$(ns_of "$A" $ns)" "$ns: pid 1 is in the same namespace as the command"
    is "$(sed -n "s/^$ns=//p" "$WORKSPACE/ns-inside")" "$(ns_of "$A" $ns)" "$ns: what the command sees inside is what the host sees"
done
is "$(ns_of "$A_CAGE" user)" "$(ns_of self user)" "cage itself stays in the host's namespaces"

# pid: the command is pid 2 under cage's init, which has no parent inside.
is "$(awk '$1 == "NSpid:" {print $2, $3}' /proc/$A/status)" "$A 2" "the command is host pid $A and pid 2 inside"
is "$(awk '$1 == "NSpid:" {print $2, $3}' /proc/$A_INIT/status)" "$A_INIT 1" "cage-init is pid 1 inside"
is "$(cat /proc/$A_INIT/comm)" cage-init "pid 1 is cage's init"
is "$(cage_run -- /bin/sh -c 'cat /proc/1/comm; awk "/^PPid:/ {print \$2}" /proc/1/status' | tr '\n' ' ')" "cage-init 0 " \
    "inside, pid 1 is cage-init and its parent is outside the namespace"
is "$(cage_run -- /bin/sh -c "kill -0 $$ 2>/dev/null && echo visible || echo invisible")" invisible \
    "a host process (the test, pid $$) cannot be signalled from inside"
is "$(cage_run -- /bin/sh -c "ls -d /proc/$A 2>/dev/null || echo absent")" absent "another container's processes are not in /proc"

# mnt: none of the container's mounts is visible on the host while it runs.
is "$(cat /proc/self/mountinfo)" "$mountinfo_host" "the host's mount table is unchanged while a container runs"

# Two containers at once share no namespace.
start_probe || bail "the second container's command never appeared on the host"
B=$PROBE_PID B_CAGE=$PROBE_CAGE
for ns in $all_ns; do
    isnt "$(ns_of "$B" $ns)" "$(ns_of "$A" $ns)" "$ns: two containers have different namespaces"
done
stop_probe "$B_CAGE"
ok $? "the second container is gone after SIGKILL of its cage"

# --network host shares the host's network namespace, and only that one.
start_probe --network host || bail "the container's command never appeared on the host"
for ns in $all_ns; do
    if [ $ns = net ]; then
        is "$(ns_of "$PROBE_PID" net)" "$(ns_of self net)" "--network host: net is the host's namespace"
    else
        isnt "$(ns_of "$PROBE_PID" $ns)" "$(ns_of self $ns)" "--network host: $ns is still a new namespace"
    fi
done
stop_probe

# uts: the hostname is the container's own, and the host's never changes.
host_name=$(hostname)
like "$(cat "$WORKSPACE/hostname-inside")" "^cage-[0-9a-f]{6}$" "the default hostname is the sandbox name (cage-XXXXXX)"
is "$(cage_run --hostname inside-name -- /usr/bin/cage-probe hostname)" inside-name "--hostname sets the container's hostname"
is "$(cage_run --name fixed-name -- /bin/sh -c 'hostname changed 2>/dev/null; hostname')" fixed-name "the command cannot change its hostname"
is "$(hostname)" "$host_name" "the host's hostname is untouched"

# ipc: a SysV shared memory segment of the host is not visible inside.
if command -v ipcmk >/dev/null && shm=$(ipcmk -M 4096 2>/dev/null | awk '{print $NF}') && [ -n "$shm" ]; then
    on_exit "ipcrm -m $shm 2>/dev/null"
    is "$(cage_run -- /bin/sh -c 'tail -n +2 /proc/sysvipc/shm | wc -l' | tr -d ' ')" 0 "the host's SysV shared memory is not visible inside"
    ipcrm -m "$shm"
else
    skip "ipcmk cannot create a SysV segment here"
fi

# cgroup: the container sees its own cgroup as the root of every hierarchy.
is "$(cage_run -- cat /proc/self/cgroup | awk -F: '$3 != "/"')" "" "inside, every cgroup path is / (cgroup namespace)"

# Mounts made on the host after the container started do not propagate into it.
if [ "$(id -u)" -eq 0 ]; then
    mkdir "$WORKSPACE/later"
    start_probe || bail "the container's command never appeared on the host"
    if mount -t tmpfs -o size=1m cage-test-later "$WORKSPACE/later"; then
        on_exit "umount '$WORKSPACE/later' 2>/dev/null"
        touch "$WORKSPACE/later/on-host-mount"
        unlike "$(cat /proc/$PROBE_PID/mountinfo)" "cage-test-later" "a mount made on the host later does not appear in the container"
        is "$(ls -A /proc/$PROBE_PID/root/work/later)" "" "the container still sees the directory under it"
        umount "$WORKSPACE/later"
    else
        skip "cannot mount a tmpfs on the host"
        skip "cannot mount a tmpfs on the host"
    fi
    stop_probe
else
    skip "mount propagation needs root on the host"
fi

# Killing cage takes the whole container with it.
stop_probe "$A_CAGE"
ok $? "the container's pid 1 and command are gone after SIGKILL of cage"
ok "$([ -z "$(pgrep -f -- "cage-probe sleep 60 probe$$")" ]; echo $?)" "no probe process of this test is left"
done_testing
