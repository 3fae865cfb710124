#!/bin/bash
# The user-mode network (--network slirp4netns, and the agents' profiles): the container gets
# tap0 (10.0.2.100/24, default route via 10.0.2.2, DNS at 10.0.2.3) that slirp4netns connects
# to the host's sockets. Outbound connections reach the host's network; the host's loopback
# does not answer through 10.0.2.2; slirp4netns ends with the container, also when cage is
# killed; a host where it cannot run gets a one-line error, or, for a profile's default, a
# warning and no network.
#
# The test runs in a network and mount namespace of its own (root makes them): "the host's
# network" is a veth address, 10.99.0.1, and the host's loopback is the namespace's. There an
# unprivileged user may open /dev/net/tun (mode 0666, as udev makes it on a standard Debian
# or Ubuntu) whatever its mode on this machine.
if [ "$(id -u)" -eq 0 ] && [ -z "${CAGE_USERNET_NS:-}" ] && command -v unshare >/dev/null; then
    exec env CAGE_USERNET_NS=1 unshare --net --mount -- bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
[ -n "${CAGE_USERNET_NS:-}" ] || skip_all "the test makes a network namespace of its own: it needs root and unshare"
command -v slirp4netns >/dev/null || skip_all "slirp4netns is not installed"
[ -c /dev/net/tun ] || skip_all "this host has no /dev/net/tun"

ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 10.99.0.1/24 dev v0 &&
    ip link set v0 up && ip link set v1 up || bail "cannot set up the test's network namespace"
# A tun device node of the test's own over /dev/net/tun, in this mount namespace only.
tun_dir=$(scratch_dir)
mount -t tmpfs -o mode=0755 tmpfs "$tun_dir" && on_exit "umount '$tun_dir'" &&
    mknod -m 0666 "$tun_dir/tun" c 10 200 && mount --bind "$tun_dir/tun" /dev/net/tun &&
    on_exit "umount /dev/net/tun" || bail "cannot make a /dev/net/tun for the test"

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && { echo "$port"; return; }
    done
}
# listen ADDRESS PORT TEXT: a background TCP listener that sends TEXT to whoever connects.
listen() {
    local i
    (while :; do echo "$3" | busybox nc -l -p "$2" "$1" >/dev/null 2>&1; done) &
    LISTENER=$!
    on_exit "stop_listener $LISTENER"
    for i in $(seq 100); do
        ss -Htln "sport = :$2" 2>/dev/null | grep -q . && return 0
        sleep 0.05
    done
    return 1
}
stop_listener() { _kill_tree "$1"; wait "$1" 2>/dev/null; }
# slirp_of CAGE-PID: the slirp4netns that cage started for its container, waiting for it to
# appear. (Not cage's child: it is left to the host's reaper. Its command line names the
# container's pid 1, which is cage's child.)
slirp_of() {
    local i init pid
    for i in $(seq 100); do
        for init in $(pgrep -P "$1" -x cage-init 2>/dev/null); do
            for pid in $(pgrep -x slirp4netns 2>/dev/null); do
                [[ " $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" == *" $init tap0 "* ]] && { echo "$pid"; return 0; }
            done
        done
        sleep 0.05
    done
    return 1
}
gone_within_5s() {
    local i
    for i in $(seq 100); do
        _gone "$1" && return 0
    done
    return 1
}

# What the container sees.
is "$(cage_run --network slirp4netns -- ls /sys/class/net | LC_ALL=C sort | tr '\n' ' ')" "lo tap0 " \
    "--network slirp4netns: lo and tap0, nothing of the host's"
like "$(cage_run --network slirp4netns --seccomp unconfined -- ip -o -4 addr show dev tap0)" \
    "inet 10\.0\.2\.100/24 " "tap0 has 10.0.2.100/24"
is "$(cage_run --network slirp4netns --seccomp unconfined -- ip route | awk '$1 == "default" {print $1, $2, $3}')" \
    "default via 10.0.2.2" "the default route goes through slirp4netns's gateway"
is "$(cage_run --network slirp4netns -- cat /sys/class/net/lo/flags)" 0x9 "lo is up"
is "$(cage_run --network slirp4netns -- cat /etc/resolv.conf)" "nameserver 10.0.2.3" \
    "/etc/resolv.conf names slirp4netns's DNS forwarder"
like "$(cage_run --network slirp4netns --user 0 -- /bin/sh -c 'echo nameserver 6.6.6.6 > /etc/resolv.conf' 2>&1)" \
    "[Rr]ead-only file system" "the container's root cannot rewrite /etc/resolv.conf"
is "$(cage_run --network slirp4netns --read-write --user 0 -- /bin/sh -c 'rm /etc/resolv.conf 2>/dev/null; cat /etc/resolv.conf')" \
    "nameserver 10.0.2.3" "nor remove it (it is a mount point)"

# Outbound: a listener on the host's network answers.
port=$(free_port)
if listen 10.99.0.1 "$port" hello-from-the-host; then
    is "$(cage_run --network slirp4netns -- /bin/sh -c "nc -w 5 10.99.0.1 $port </dev/null")" hello-from-the-host \
        "a TCP connection from the container reaches the host's network"
    is "$(cage_run -- /bin/sh -c "nc -w 2 10.99.0.1 $port </dev/null 2>/dev/null; echo end")" end \
        "control: --network none reaches nothing"
else
    skip "could not start a listener on 10.99.0.1"
    skip "could not start a listener on 10.99.0.1"
fi
stop_listener "$LISTENER"

# The host's loopback is refused, through the gateway and directly.
port=$(free_port)
if listen 127.0.0.1 "$port" hello-from-loopback; then
    is "$(cage_run --network slirp4netns -- /bin/sh -c "nc -w 3 10.0.2.2 $port </dev/null 2>/dev/null; echo end")" end \
        "10.0.2.2 does not lead to a listener on the host's 127.0.0.1"
    is "$(cage_run --network slirp4netns -- /bin/sh -c "nc -w 3 127.0.0.1 $port </dev/null 2>/dev/null; echo end")" end \
        "the container's 127.0.0.1 is its own"
    is "$(cage_run --network host -- /bin/sh -c "nc -w 3 127.0.0.1 $port </dev/null")" hello-from-loopback \
        "control: --network host reaches it"
else
    for i in 1 2 3; do skip "could not start a listener on 127.0.0.1"; done
fi
stop_listener "$LISTENER"
is "$(cage_run --network host -- cat /etc/resolv.conf)" "$(cat /etc/resolv.conf)" \
    "--network host: /etc/resolv.conf is the host's"

# A user without subordinate ids (one id mapped, the container's root unmapped): slirp4netns
# cannot confine itself as the container's root there, and runs without its mount sandbox.
if [ "$MODE" = rootless ]; then
    : >"$tun_dir/no-ranges"
    mount --bind "$tun_dir/no-ranges" /etc/subuid && mount --bind "$tun_dir/no-ranges" /etc/subgid
    is "$(cage_run --network slirp4netns -- /bin/sh -c 'cat /proc/self/uid_map | wc -l; ls /sys/class/net' 2>/dev/null | tr -s ' \n' ' ')" \
        "1 lo tap0 " "without subordinate ids (a one-id map) the user-mode network works too"
    umount /etc/subgid /etc/subuid
else
    skip "root has no single-id map"
fi

# slirp4netns lives as long as the container: it is gone after a normal end, and after a
# SIGKILL of cage.
cage_bg --network slirp4netns -- /bin/sh -c 'sleep 1'
slirp=$(slirp_of "$CAGE_BG")
ok $? "cage runs slirp4netns while the container runs"
wait "$CAGE_BG"
is "$?" 0 "the container ends normally"
gone_within_5s "$slirp"
ok $? "slirp4netns is gone after the container's end"
cage_bg --network slirp4netns -- /bin/sh -c 'sleep 60'
slirp=$(slirp_of "$CAGE_BG")
ok $? "(again, for a kill)"
like "$(cat "/proc/$slirp/status" 2>/dev/null | awk '$1 == "Uid:" {print $2}')" "^$CAGE_UID\$" \
    "slirp4netns runs with the ids of the user who runs cage"
{ kill -KILL "$CAGE_BG"; wait "$CAGE_BG"; } 2>/dev/null
gone_within_5s "$slirp"
ok $? "slirp4netns is gone after SIGKILL of cage"

# A kill at any moment of a start: before slirp4netns, while it sets up, once it is ready.
usec() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
exec {never}<> <(:)
pause() { read -r -t "$1" -u "$never" _ || true; }
slirps_before=$(pgrep -u "$CAGE_UID" -x slirp4netns | wc -l)
start=$(usec)
cage_run --network slirp4netns -- /bin/true >/dev/null 2>&1
whole=$(( $(usec) - start ))
for round in $(seq 30); do
    cage_bg --network slirp4netns -- /bin/sh -c 'sleep 60' >/dev/null 2>&1
    pause "$(printf '0.%06d' $(( (round * 7919) % (whole * 5 / 4 + 1) )))"
    kill -KILL "$CAGE_BG" 2>/dev/null
    wait "$CAGE_BG" 2>/dev/null
done
for i in $(seq 100); do
    [ "$(pgrep -u "$CAGE_UID" -x slirp4netns | wc -l)" -le "$slirps_before" ] && break
    sleep 0.05
done
slirps_after=$(pgrep -u "$CAGE_UID" -x slirp4netns | wc -l)
[ "$slirps_after" -le "$slirps_before" ]
ok $? "no slirp4netns is left after 30 kills of cage spread over a start (${whole} us)" ||
    diag "slirp4netns processes of $CAGE_USER: $slirps_before before, $slirps_after after"

# The agents' profiles: a command named like an agent (here a script in the workspace) gets
# the user-mode network unless --network says otherwise; where slirp4netns cannot run, a
# warning and no network.
printf '#!/bin/sh\nls /sys/class/net | tr "\\n" " "\n' >"$WORKSPACE/claude"
chmod 755 "$WORKSPACE/claude"
is "$(cage_run --ephemeral-home -- /work/claude 2>&1)" "lo tap0 " "the claude profile runs with the user-mode network"
is "$(cage_run --ephemeral-home --network none -- /work/claude 2>&1)" "lo " "--network none overrides the profile"
is "$(cage_run --ephemeral-home -- /bin/sh -c 'ls /sys/class/net | tr "\n" " "' 2>&1)" "lo " \
    "a command of no agent's profile has no network"
out=$(as_user env PATH=/nonexistent "$CAGE" run --rootfs "$ROOTFS" --ephemeral-home -- /work/claude 2>&1)
is "$?" 0 "without slirp4netns the profile's agent still runs"
like "$out" "^cage: warning: running the agent without a network: slirp4netns is not installed" \
    "with a warning that says why"
like "$out" "lo \$" "and no network"

# A failure inside while slirp4netns starts is reported as what it is.
mkdir -p "$WORKSPACE/a-directory"
out=$(cage_run --network slirp4netns -v "$WORKSPACE/a-directory:/etc/passwd" -- true 2>&1)
is "$?" 125 "a mount that fails in pid 1 while slirp4netns starts: exit 125"
like "$(printf '%s' "$out" | without_limits_warning)" '^cage: open inside the container root: Not a directory \[/etc/passwd\]$' \
    "with pid 1's error, not slirp4netns's"

# Errors: --network slirp4netns where it cannot run is refused with one line and 125.
out=$(as_user env PATH=/nonexistent "$CAGE" run --rootfs "$ROOTFS" --network slirp4netns -- true 2>&1)
is "$?" 125 "--network slirp4netns without slirp4netns: exit 125"
like "$(printf '%s' "$out" | without_limits_warning | grep -v 'newuidmap/newgidmap not found')" \
    "^cage: the user-mode network needs slirp4netns, which is not installed; install it \(apt-get install slirp4netns\), or run with --network none\$" \
    "the error says what is missing and what to do"
if [ "$MODE" = rootless ]; then
    mknod -m 0600 "$tun_dir/closed" c 10 200 && mount --bind "$tun_dir/closed" /dev/net/tun
    out=$(cage_run --network slirp4netns -- true 2>&1)
    is "$?" 125 "a /dev/net/tun the user cannot open: exit 125"
    like "$(printf '%s' "$out" | without_limits_warning)" \
        '^cage: start the user-mode network: slirp4netns failed: open\("/dev/net/tun"\): Permission denied; slirp4netns needs /dev/net/tun readable and writable by you \(udev makes it mode 0666\); or run with --network none$' \
        "the error names /dev/net/tun and its mode"
    like "$(cage_run --ephemeral-home -- /work/claude 2>&1)" \
        "^cage: warning: running the agent without a network: /dev/net/tun is not readable and writable by you \(Permission denied\)" \
        "the profile's default warns instead"
    umount /dev/net/tun
    for i in $(seq 100); do  # (those of the runs above end on their own, in a moment)
        [ "$(pgrep -u "$CAGE_UID" -x slirp4netns | wc -l)" -eq 0 ] && break
        sleep 0.05
    done
    is "$(pgrep -u "$CAGE_UID" -x slirp4netns | wc -l)" 0 "no slirp4netns is left of the failed starts"
else
    for i in 1 2 3 4; do skip "root opens any /dev/net/tun"; done
fi
done_testing
