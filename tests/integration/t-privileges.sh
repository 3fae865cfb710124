#!/bin/bash
# Privileges: no capability in any set and no_new_privs, for the command and for cage's pid 1,
# as the default user and as container root, seen from the host and from inside; what that
# refuses (mount, umount, mknod, chroot, chown, hostname, permission bypass, setuid, signals and
# /proc access to pid 1); and that no file descriptor of cage's caller reaches the container.
. "$(dirname "$0")/lib.sh"

cap_sets="CapInh CapPrm CapEff CapBnd CapAmb"
status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

for user in default 0:0; do
    opts=()
    [ "$user" = default ] || opts=(--user "$user")
    start_probe "${opts[@]}" || bail "the container's command never appeared on the host"
    for who in command init; do
        pid=$PROBE_PID
        [ $who = init ] && pid=$PROBE_INIT
        sets=
        for set in $cap_sets; do sets="$sets $set=$(status_field "$pid" $set)"; done
        is "$sets" " CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000" \
            "--user $user: the $who holds no capability in any set (seen from the host)"
        is "$(status_field "$pid" NoNewPrivs)" 1 "--user $user: the $who has no_new_privs (seen from the host)"
    done
    stop_probe
    inside=$(cage_run "${opts[@]}" -- /usr/bin/cage-probe status | grep -E '^(Cap|NoNewPrivs)' | tr '\n' ' ')
    is "$inside" "CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000 NoNewPrivs=1 " \
        "--user $user: the same seen from inside"
done

# What capabilities would allow, container root included, is refused.
for user in 1000 0; do
    is "$(cage_run --user $user -- /usr/bin/cage-probe mount)" mount=EPERM "--user $user: mount(2) is refused"
    is "$(cage_run --user $user --read-write -- /usr/bin/cage-probe mount)" mount=EPERM "--user $user --read-write: mount(2) is refused"
    is "$(cage_run --user $user -- /usr/bin/cage-probe umount /proc)" umount=EPERM "--user $user: umount /proc is refused"
    is "$(cage_run --user $user -- /usr/bin/cage-probe umount /work)" umount=EPERM "--user $user: umount /work is refused"
    is "$(cage_run --user $user -- /bin/sh -c 'umount /proc/kcore 2>/dev/null; /usr/bin/cage-probe kcore')" "$(probe kcore)" \
        "--user $user: a masked path cannot be unmasked"
done
refusals=$(cage_run --user 0 -- /bin/sh -c '
    mknod /tmp/null c 1 3 2>/dev/null && echo mknod || echo no-mknod
    chroot / /bin/true 2>/dev/null && echo chroot || echo no-chroot
    touch /tmp/mine && chown 1000:1000 /tmp/mine 2>/dev/null && echo chown || echo no-chown
    echo secret > /tmp/locked && chmod 000 /tmp/locked && { cat /tmp/locked 2>/dev/null && echo dac-bypass || echo no-dac-bypass; }
    hostname other 2>/dev/null && echo sethostname || echo no-sethostname
    echo "0 0 1" 2>/dev/null > /proc/self/uid_map && echo uid_map || echo no-uid_map
    renice -n -5 $$ >/dev/null 2>&1 && echo renice || echo no-renice
' | tr '\n' ' ')
is "$refusals" "no-mknod no-chroot no-chown no-dac-bypass no-sethostname no-uid_map no-renice " \
    "container root cannot mknod, chroot, chown, bypass file modes, set the hostname, write an id map or raise its priority"

# SIGKILL and SIGSTOP to pid 1 from inside: the kernel drops them, the command runs on.
is "$(cage_run -- /bin/sh -c 'kill -KILL 1; kill -STOP 1; sleep 0.2; grep "^State:" /proc/1/status | cut -f2 | cut -c1; echo alive')" "S
alive" "SIGKILL and SIGSTOP to pid 1 from inside neither kill nor stop the container"

# cage's pid 1 cannot be inspected from inside, not even by container root.
for user in 1000 0; do
    got=$(cage_run --user $user -- /bin/sh -c '
        cat /proc/1/environ >/dev/null 2>&1 && echo environ
        readlink /proc/1/exe >/dev/null 2>&1 && echo exe
        readlink /proc/1/root >/dev/null 2>&1 && echo root
        readlink /proc/1/cwd >/dev/null 2>&1 && echo cwd
        ls -l /proc/1/fd 2>/dev/null | grep -q -- "->" && echo fd
        cat /proc/1/maps 2>/dev/null | grep -q . && echo maps
        head -c1 /proc/1/mem >/dev/null 2>&1 && echo mem
        echo done' | tr '\n' ' ')
    is "$got" "done " "--user $user: pid 1's environ, exe, root, cwd, fds, maps and memory are closed to the command"
done

# A setuid-root program gives nothing under no_new_privs. The copy of the rootfs holds a
# setuid cage-probe owned by container root: on disk, uid 0 as root (the layers are
# idmapped), the host id container root maps to rootless.
if [ "$(id -u)" -eq 0 ]; then
    suid_root=$(scratch_dir)/rootfs
    cp -a "$ROOTFS" "$suid_root"
    cp "$ROOTFS/usr/bin/cage-probe" "$suid_root/usr/bin/suid-probe"
    start_probe || bail "the container's command never appeared on the host"
    map_root=$(awk '$1 == 0 {print $2}' /proc/$PROBE_PID/uid_map)
    stop_probe
    if [ -n "$map_root" ]; then
        [ "$MODE" = root ] && map_root=0
        chown "$map_root" "$suid_root/usr/bin/suid-probe" && chmod 4755 "$suid_root/usr/bin/suid-probe"
        is "$(as_user "$CAGE" run --rootfs "$suid_root" -- /usr/bin/cage-probe stat /usr/bin/suid-probe | cut -d' ' -f1,3)" "uid=0 mode=4755" \
            "the rootfs copy holds a setuid program owned by container root"
        is "$(as_user "$CAGE" run --rootfs "$suid_root" -- /usr/bin/suid-probe ids)" "uid=1000 gid=1000 euid=1000 egid=1000" \
            "executing it does not change the effective uid (no_new_privs)"
    else
        skip "container root is not mapped (single-id map)"
        skip "container root is not mapped (single-id map)"
    fi
else
    skip "the setuid test needs root on the host to chown"
fi

# No file descriptor of cage's caller reaches the container: neither the command nor pid 1.
host_dir=$(scratch_dir)
echo host-secret > "$host_dir/secret"
chmod 644 "$host_dir/secret"
exec 7<"$host_dir" 8<"$host_dir/secret"
start_probe || bail "the container's command never appeared on the host"
exec 7<&- 8<&-
fds_of() { ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.* \([0-9]*\) -> \(.*\)/\1 -> \2/p' | sort -n; }
is "$(fds_of "$PROBE_PID" | cut -d' ' -f1 | tr '\n' ' ')" "0 1 2 " "the command holds only stdin, stdout and stderr"
leaked=$(fds_of "$PROBE_INIT" | grep -F -- "$host_dir")
is "$leaked" "" "cage's pid 1 holds no descriptor of the caller's files (a directory and a file were open)"
stop_probe
is "$( (exec 7<"$host_dir"; cage_run -- /usr/bin/cage-probe fds) | cut -d' ' -f1 | tr '\n' ' ')" "0 1 2 " \
    "inside, the command lists only descriptors 0, 1 and 2"
done_testing
