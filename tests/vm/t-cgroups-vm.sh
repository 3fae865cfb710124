#!/bin/bash
# The cgroup v2 suite, run INSIDE the qemu guest (tests/vm/vm-test.sh boots it) as root, in
# MODE=root or MODE=rootless (then cage runs as $CAGE_TEST_USER from inside the subtree
# delegated to that user, /sys/fs/cgroup/delegated). Proves that the limits are enforced, that
# stop and timeout kill every process of the cgroup, and that no cgroup is left behind.
# The rootfs from the 9p share is copied to the guest's tmpfs: faster, and a plain directory.
cp -a "${ROOTFS:?}" /tmp/cage-vm-rootfs && ROOTFS=/tmp/cage-vm-rootfs
. "${SOURCE_ROOT:?}/tests/integration/lib.sh"

CG=/sys/fs/cgroup
[ "$(stat -f -c %T $CG 2>/dev/null)" = cgroup2fs ] || bail "no cgroup2 at $CG: not the cgroup v2 guest"
if [ "$MODE" = rootless ]; then
    BASE=$CG/delegated
    # This shell and all it starts live in the delegated leaf, as a user's session would.
    echo $$ > "$BASE/init/cgroup.procs" || bail "cannot enter $BASE/init"
else
    BASE=$CG
fi
diag "cage runs as $CAGE_USER, container cgroups under $BASE"

status_of() { "$@" >/dev/null 2>&1; echo $?; }
cgroups_left() { find "$BASE" -mindepth 1 -maxdepth 2 -type d -name 'cage-[0-9]*' | sort; }
# cgroup_of PID: the cgroup directory of a host process.
cgroup_of() { echo "$CG$(sed -n 's/^0:://p' "/proc/$1/cgroup")"; }
wait_no_dir() { local i; for i in $(seq 100); do [ -d "$1" ] || return 0; sleep 0.1; done; return 1; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

is "$(cgroups_left)" "" "no cage cgroup before the suite"

# --- placement and the cgroup namespace ---
start_probe || bail "the probe container did not start"
cg=$(cgroup_of "$PROBE_PID")
is "$cg" "$BASE/cage-$PROBE_CAGE" "the command runs in cage-PID under $BASE (CLONE_INTO_CGROUP)"
is "$(cgroup_of "$PROBE_INIT")" "$cg" "pid 1 of the container is in the same cgroup"
isnt "$(cgroup_of "$PROBE_CAGE")" "$cg" "cage itself is not in the container's cgroup"
is "$(cat "$cg/memory.max")|$(cat "$cg/memory.swap.max")|$(cat "$cg/pids.max")" "4294967296|0|512" \
    "default limits: memory 4 GiB, swap 0, 512 pids"
is "$(cat "$cg/memory.oom.group")" 1 "an OOM kill takes the whole container (memory.oom.group)"
stop_probe
ok $? "SIGKILL of cage ends the container"
wait_no_dir "$cg"
ok $? "after SIGKILL of cage, its cgroup is removed (by the janitor)"
is "$(cage_run -- cat /proc/self/cgroup)" "0::/" "inside, the cgroup namespace shows the container's cgroup as /"

start_probe --memory 96M --memory-swap 32M --pids 40 --cpus 0.5 --io-weight 300 || bail "probe with limits"
cg=$(cgroup_of "$PROBE_PID")
is "$(cat "$cg/memory.max")|$(cat "$cg/memory.swap.max")|$(cat "$cg/pids.max")|$(cat "$cg/cpu.max")" \
    "100663296|33554432|40|50000 100000" "--memory, --memory-swap, --pids, --cpus are written"
like "$(cat "$cg/io.weight" 2>/dev/null || cat "$cg/io.bfq.weight" 2>/dev/null)" "default 300" "--io-weight is written"
stop_probe
wait_no_dir "$cg"; ok $? "cgroup removed"

# --- memory ---
start=$(date +%s%N)
err=$(cage_run --memory 64M -- /usr/bin/cage-probe hog 200 2>&1 >/dev/null)
status=$?
is "$status" 137 "a 200 MiB hog under --memory 64M (swap 0) is killed: exit 137"
like "$err" "^cage: killed: out of memory \(limit 64 MiB, peak 6[0-9]\.[0-9] MiB\)$" "cage says so, with the limit and the peak"
diag "OOM run took $(ms_since "$start") ms: $err"
is "$(cage_run --memory 64M -- /usr/bin/cage-probe hog 16 2>&1)" "hogged=16" "a 16 MiB process under the same limit survives"
is "$(cage_run --memory 64M --memory-swap 160M -- /usr/bin/cage-probe hog 100 2>&1)" "hogged=100" \
    "with --memory-swap 160M, a 100 MiB process survives by swapping"
is "$(cgroups_left)" "" "no cgroup left after normal exits and OOM kills"

if [ -n "${EMBED_EXAMPLE:-}" ] && [ -x "$EMBED_EXAMPLE" ]; then
    like "$(as_user "$EMBED_EXAMPLE" "$ROOTFS" /usr/bin/cage-probe hog 8)" "embed: exit 0 after [0-9.]+ ms, peak memory [1-9][0-9]{6,} bytes" \
        "libcage: Result.memory_peak reports the container's peak (a 8 MiB hog)"
else
    skip "libcage: no EMBED_EXAMPLE"
fi

# --- processes ---
out=$(cage_run --pids 24 -- /usr/bin/cage-probe fork-until-refused 1000 0 2>&1)
status=$?
is "$status" 0 "a fork bomb under --pids 24: cage returns, exit 0"
like "$out" "^forked=2[0-2] refused=EAGAIN$" "fork fails with EAGAIN at pids.max (pid 1 and the probe count too)"
start=$(date +%s%N)
token=bomb$$x$RANDOM
cage_bg --pids 24 --timeout 8s -- /usr/bin/cage-probe fork-until-refused 1000 60 "$token" >/dev/null 2>&1
bomb=$CAGE_BG
current='' events=''
for i in $(seq 200); do
    current=$(cat "$BASE/cage-$bomb/pids.current" 2>/dev/null) events=$(cat "$BASE/cage-$bomb/pids.events" 2>/dev/null)
    [ "$current" = 24 ] && [ -n "$(printf '%s' "$events" | grep '^max [1-9]')" ] && break
    sleep 0.05
done
is "$current" 24 "the bomb holds exactly pids.max processes"
like "$events" "^max [1-9]" "pids.events counts the refused forks"
wait "$bomb"
is "$?" 124 "the supervisor stays responsive: --timeout ends the pinned container (124)"
elapsed=$(ms_since "$start")
ok $([ "$elapsed" -lt 45000 ] && echo 0 || echo 1) "... long before the bomb's 60 s hold ends (${elapsed} ms)"
is "$(pgrep -f -- "$token")" "" "no process of the bomb survives"
wait_no_dir "$BASE/cage-$bomb"; ok $? "its cgroup is removed"

# --- CPU ---
start_probe --cpus 0.2 -- "/usr/bin/cage-probe busy 1.5 > /work/busy.out" || bail "cpu probe"
cg=$(cgroup_of "$PROBE_PID")
like "$(cat "$WORKSPACE/busy.out")" "^cpu_ms=" "the busy loop ran"
cpu_ms=$(sed -n 's/^cpu_ms=//p' "$WORKSPACE/busy.out")
diag "busy loop: ${cpu_ms} ms of CPU in 1.5 s under --cpus 0.2; $(tr '\n' ' ' < "$cg/cpu.stat")"
ok $([ "${cpu_ms:-9999}" -lt 900 ] && echo 0 || echo 1) "--cpus 0.2 throttles a 1.5 s busy loop (${cpu_ms} ms CPU < 900)"
like "$(grep nr_throttled "$cg/cpu.stat")" "^nr_throttled [1-9]" "cpu.stat nr_throttled > 0"
stop_probe
wait_no_dir "$cg"; ok $? "cgroup removed"

# --- double-forked daemons, timeout: every process of the cgroup goes ---
token=daemon$$x$RANDOM
start_probe -- "/usr/bin/cage-probe daemon 60 /tmp/d.pid $token" || bail "daemon probe"
daemon=''
for pid in $(pgrep -f -- "daemon 60 /tmp/d.pid $token"); do  # cage's own command line names it too
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = cage-probe ] && daemon=$pid
done
is "$(cgroup_of "${daemon:-0}" 2>/dev/null)" "$BASE/cage-$PROBE_CAGE" "a double-forked daemon stays in the container's cgroup"
cg=$BASE/cage-$PROBE_CAGE
stop_probe
wait_no_dir "$cg"; ok $? "SIGKILL of cage: the janitor kills everything and removes the cgroup"
is "$(pgrep -f -- "$token")" "" "... the daemon too"

token=daemon$$y$RANDOM
err=$(cage_run --timeout 3s -- /bin/sh -c "/usr/bin/cage-probe daemon 60 /tmp/d.pid $token; exec /usr/bin/cage-probe sleep 60 $token" 2>&1 >/dev/null)
is "$?" 124 "--timeout with a double-forked daemon inside: exit 124"
like "$err" "^cage: timed out after 3s" "... saying so"
is "$(pgrep -f -- "$token")" "" "the timeout killed every process, the daemon too"
is "$(cgroups_left)" "" "no cgroup left after the timeout"

# --- rootless specifics ---
if [ "$MODE" = rootless ]; then
    # cage alone in a delegated cgroup (what systemd-run --user --scope -p Delegate=yes gives):
    # cage moves itself to cage-supervisor and the container gets a sibling below.
    scope=$BASE/scope-$$
    as_user mkdir "$scope"
    out=$(as_user sh -c "echo \$\$ > $scope/cgroup.procs && exec $CAGE run --rootfs $ROOTFS --pids 33 -- cat /proc/self/cgroup" 2>&1)
    is "$out" "0::/" "in a delegated scope of its own, cage runs the container"
    like "$(cat "$scope/cgroup.subtree_control")" "pids" "... after enabling the controllers in that scope"
    is "$(ls -d "$scope"/cage-* 2>/dev/null)" "$scope/cage-supervisor" "... and only cage's own supervisor cgroup is left"
    rmdir "$scope/cage-supervisor" "$scope"
    # Without delegation (a root-owned cgroup): warned (once per user: a fresh state directory
    # here), or refused when a limit was asked for.
    mkdir -p "$CG/plain"
    state=$(scratch_dir)
    err=$(sh -c "echo \$\$ > $CG/plain/cgroup.procs && exec ${AS_USER[*]} env XDG_STATE_HOME=$state $CAGE run --rootfs $ROOTFS -- true" 2>&1)
    is "$?" 0 "a user without a delegated cgroup still runs"
    like "$err" "^cage: warning: resource limits are not enforced: no cgroup v2 subtree is delegated" \
        "... with one warning line that says why"
    is "$(printf '%s\n' "$err" | wc -l)" 1 "... exactly one line"
    err=$(sh -c "echo \$\$ > $CG/plain/cgroup.procs && exec ${AS_USER[*]} $CAGE run --rootfs $ROOTFS --memory 64M -- true" 2>&1)
    is "$?" 125 "an explicit --memory that cannot be enforced is refused (125)"
    like "$err" "^cage: cannot enforce the requested memory limit" "... saying so"
    rmdir "$CG/plain"
fi

is "$(cgroups_left)" "" "no cage cgroup left at the end"
for i in $(seq 50); do [ -z "$(pgrep -x cage-cgroup-gc)" ] && break; sleep 0.1; done
is "$(pgrep -x cage-cgroup-gc)" "" "no janitor left running"
done_testing
