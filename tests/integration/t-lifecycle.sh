#!/bin/bash
# Timeouts, stop signals, zombies, and what is left on the host after normal exit, timeout
# and SIGKILL of cage: no process, no mount, no directory.
. "$(dirname "$0")/lib.sh"

# host_state: what must be the same before and after a container: mounts and directories.
host_state() { echo "mounts=$(wc -l < /proc/self/mountinfo)"; state_dirs; }
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '$1 == "State:" {print $2}' /proc/$1/status 2>/dev/null)" != Z ]; }
token_procs() { pgrep -f -- "$1" | grep -v "^$$\$" || true; }
wait_gone() { # wait_gone PID... : up to 5 s for every pid to disappear
    local i pid any
    for i in $(seq 50); do
        any=
        for pid in "$@"; do alive "$pid" && any=1; done
        [ -z "$any" ] && return 0
        sleep 0.1
    done
    return 1
}

before=$(host_state)
start=$(date +%s%N)
err=$(cage_run --timeout 1s -- /bin/sleep 30 2>&1)
status=$?
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
is "$status" 124 "--timeout: exit 124"
like "$err" "^cage: timed out after 1s: the container was killed$" "--timeout: one line saying so"
ok $([ "$elapsed" -lt 4000 ] && echo 0 || echo 1) "--timeout 1s ends the run promptly (${elapsed} ms)"
err=$(cage_run --timeout 5x -- true 2>&1)
is "$?|$err" "125|cage: invalid duration (use 30s, 15m, 1h or 250ms) [5x]; see 'cage run --help'" "a bad duration: 125"

token=daemon-$$-$RANDOM
cage_run --timeout 2s -- /bin/sh -c "/usr/bin/cage-probe daemon 60 /tmp/pid-$token; exec /usr/bin/cage-probe sleep 60 $token" >/dev/null 2>&1
is "$?" 124 "a container with a double-forked daemon times out"
daemons=$(token_procs "$token")
is "$daemons" "" "the timeout killed every process, the daemon too"
is "$(host_state)" "$before" "no mount or directory is left after a timeout"

# Stop requests reach the command.
stop_test() { # stop_test SIGNAL: the command gets it, reports it and exits 0
    local out=$WORKSPACE/out-$1 pid i
    : > "$out"; chmod 666 "$out"
    cage_bg -- /usr/bin/cage-probe signal-wait > "$out" 2>&1
    pid=$CAGE_BG
    for i in $(seq 50); do grep -q ready "$out" && break; sleep 0.1; done
    kill -"$1" "$pid"
    timeout 10 tail --pid="$pid" -f /dev/null
    wait "$pid"
    is "$?:$(tail -1 "$out")" "0:got=SIG$1" "SIG$1 to cage reaches the command, which exits 0"
}
stop_test TERM
stop_test INT
stop_test HUP

token=stubborn-$$-$RANDOM
cage_bg -- /bin/sh -c "trap '' TERM; exec /usr/bin/cage-probe sleep 60 $token" >/dev/null 2>&1
pid=$CAGE_BG
find_probe_pid "$token" >/dev/null
start=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
status=$?
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
is "$status" 137 "a command that ignores SIGTERM is killed after the grace period"
ok $([ "$elapsed" -ge 4000 ] && [ "$elapsed" -lt 9000 ] && echo 0 || echo 1) "the grace period is about 5 s (${elapsed} ms)"

token=twice-$$-$RANDOM
cage_bg -- /bin/sh -c "trap '' TERM; exec /usr/bin/cage-probe sleep 60 $token" >/dev/null 2>&1
pid=$CAGE_BG
find_probe_pid "$token" >/dev/null
start=$(date +%s%N)
kill -TERM "$pid"; sleep 0.2; kill -TERM "$pid"
wait "$pid"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
ok $([ "$elapsed" -lt 2000 ] && echo 0 || echo 1) "a second stop signal kills at once (${elapsed} ms)"

is "$(probe zombie)" "zombies=0" "pid 1 reaps orphaned zombies"

# SIGKILL of cage: everything goes.
before=$(host_state)
token=killed-$$-$RANDOM
cage_bg -- /bin/sh -c "/usr/bin/cage-probe daemon 60 /tmp/d; /usr/bin/cage-probe spawn-sleepers 3 60 $token" >/dev/null 2>&1
runner=$CAGE_BG
sleeper=$(find_probe_pid "$token")
ok $([ -n "$sleeper" ] && echo 0 || echo 1) "the container is running"
init=$sleeper
while [ -n "$init" ] && [ "$init" -gt 1 ] && [ "$(cat /proc/$init/comm 2>/dev/null)" != cage-init ]; do
    init=$(awk '$1 == "PPid:" {print $2}' /proc/$init/status 2>/dev/null)
done
cage_pid=$(awk '$1 == "PPid:" {print $2}' /proc/$init/status 2>/dev/null)
is "$(cat /proc/$init/comm 2>/dev/null)" cage-init "found cage's pid 1 on the host"
pids="$init $(pgrep -P "$init" | tr '\n' ' ') $(token_procs "$token" | tr '\n' ' ')"
kill -9 "$cage_pid"
wait "$runner" 2>/dev/null
wait_gone $pids
ok $? "SIGKILL of cage kills every process of the container"
is "$(token_procs "$token")" "" "no process of the container is left"
is "$(pgrep -x cage-init | while read -r p; do [ "$(awk '$1 == "PPid:" {print $2}' /proc/$p/status)" = "$cage_pid" ] && echo "$p"; done)" "" "no cage-init is left"
is "$(host_state)" "$before" "no mount or directory is left after SIGKILL of cage"

before=$(host_state)
cage_run --read-write -- /bin/sh -c 'echo x > /etc/x; echo y > /tmp/y' >/dev/null
is "$(host_state)" "$before" "no mount or directory is left after a normal exit"
done_testing
