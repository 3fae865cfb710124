#!/bin/bash
# SIGKILL of cage at any moment of a start, not only once the command runs (t-lifecycle):
# while it reads its options, while newuidmap/newgidmap write the maps, while pid 1 builds the
# root, while the parent makes the idmapped binds or the cgroup, right after the command's
# execve. Whatever the start had made goes with cage: no process (cage's pid 1, the command,
# an id-map helper, the user namespace holder of the idmapped binds, the cgroup janitor), no
# cgroup, no directory. Observed from the host.
. "$(dirname "$0")/lib.sh"

before=$(state_dirs)

# A sleep without a fork (the sleep program alone takes about a millisecond to start).
exec {never}<> <(:)
pause() { read -r -t "$1" -u "$never" _ || true; }

# How long a whole start takes here (the fastest of five, timed without a fork), so that the
# kills spread over all of it.
usec() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
whole=
for i in 1 2 3 4 5; do
    start=$(usec)
    cage_run -- /bin/true >/dev/null 2>&1
    took=$(( $(usec) - start ))
    [ -z "$whole" ] || [ "$took" -lt "$whole" ] && whole=$took
done
diag "a whole start takes ${whole} us here; the kills come 0 to $((whole * 5 / 4)) us after cage is spawned"

token=killstart-$$-$RANDOM
killed=()
rounds=80
for round in $(seq "$rounds"); do
    # Spread over the start and a little past it, in an order unrelated to the round.
    delay=$(( (round * 7919) % (whole * 5 / 4 + 1) ))
    cage_bg -- /usr/bin/cage-probe sleep 60 "$token" >/dev/null 2>&1
    pause "$(printf '0.%06d' "$delay")"
    kill -9 "$CAGE_BG" 2>/dev/null
    wait "$CAGE_BG" 2>/dev/null
    killed+=("$CAGE_BG")
done

# Everything a killed start made is gone within a few seconds (pid 1 and the helpers end on
# their own once cage is gone; the janitor removes the cgroup, then exits).
left=
for i in $(seq 100); do
    left=$(pgrep -f -- "$token" | grep -v "^$$\$" || true)
    [ -z "$left" ] && break
    sleep 0.1
done
is "$left" "" "no process of a killed start is left: cage, pid 1, the command, helpers, janitors"
[ -n "$left" ] && for p in $left; do diag "left: $p $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | cut -c1-120)"; done

groups=
for pid in "${killed[@]}"; do
    groups+=$(find /sys/fs/cgroup -maxdepth 7 -type d -name "cage-$pid" 2>/dev/null)
done
is "$groups" "" "no cgroup of a killed start is left"
is "$(state_dirs)" "$before" "no directory of a killed start is left"
is "$(cage_run -- /bin/sh -c 'echo alive')" alive "cage starts normally afterwards"
done_testing
