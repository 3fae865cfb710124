#!/bin/bash
# Resource limits on a host WITHOUT a usable cgroup v2 (cgroup v1 or hybrid; enforcement on
# cgroup v2 is proven in the qemu guest by tests/vm): one warning line, said once per user
# (a marker in the state directory), a refusal (125) at every run for a limit asked for on the
# command line, --best-effort-limits, and what caps a fork bomb instead: RLIMIT_NPROC rootless,
# a cgroup v1 pids group as root (RLIMIT_NPROC would not bind a container user that is host root), observed here
# from the host.
. "$(dirname "$0")/lib.sh"

[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] &&
    skip_all "this host has cgroup v2: enforcement is tested by the VM suite (meson test --suite vm)"

lines() { printf '%s\n' "$1" | grep -c .; }

# v1 pids as root: where cage's groups go (below the pids cgroup this shell is in).
V1_PIDS=''
if [ "$MODE" = root ] && [ "$(stat -f -c %T /sys/fs/cgroup/pids 2>/dev/null)" = cgroupfs ]; then
    own=$(awk -F: '$2 ~ /(^|,)pids(,|$)/ {print $3}' /proc/self/cgroup)
    [ -n "$own" ] && V1_PIDS=/sys/fs/cgroup/pids${own%/}/cage
fi

# The state directory that holds the "said once" marker. Rootless: XDG_STATE_HOME, so each
# test can start afresh in a scratch directory (fresh_state). Root: /var/lib/cage/state, which
# nothing overrides; its marker is set aside here and put back at exit.
if [ "$MODE" = root ]; then
    STATE=/var/lib/cage/state
    MARKER=$STATE/limits-warning
    if [ -e "$MARKER" ]; then
        mv "$MARKER" "$MARKER.t-cgroups-$$"
        on_exit "mv -f '$MARKER.t-cgroups-$$' '$MARKER'"
    else
        on_exit "rm -f '$MARKER'"
    fi
fi
fresh_state() {
    if [ "$MODE" = root ]; then rm -f "$MARKER"; return; fi
    STATE=$(scratch_dir)/state
    MARKER=$STATE/cage/limits-warning
}
fresh_state
# crun [cage run options...] -- COMMAND...: cage_run with the state directory above.
crun() { as_user env XDG_STATE_HOME="$STATE" "$CAGE" run --rootfs "$ROOTFS" "$@"; }

# --- the warning, said once ---------------------------------------------------------------
err=$(crun -- true 2>&1 >/dev/null)
is "$?" 0 "no cgroup v2: cage still runs"
is "$(lines "$err")" 1 "... with exactly one line on stderr"
if [ -n "$V1_PIDS" ]; then
    like "$err" "^cage: warning: resource limits are partly not enforced: the pids limit is, by the cgroup v1 pids controller; the memory limit is not: no cgroup v2 at /sys/fs/cgroup \(a cgroup v1 or hybrid host\)" \
        "... a warning that says which limits are enforced (pids, by v1 pids), which are not, and why"
    unlike "$err" "RLIMIT_NPROC" "... and no RLIMIT_NPROC, which would not bind host root"
else
    like "$err" "^cage: warning: resource limits are not enforced: no cgroup v2 at /sys/fs/cgroup \(a cgroup v1 or hybrid host\)" \
        "... a warning that says limits are not enforced, and why"
    like "$err" "capped by RLIMIT_NPROC 512 instead" "... and what caps processes instead"
fi
like "$err" "systemd.unified_cgroup_hierarchy=1" "... and how to enable them"
is "$(cat "$MARKER" 2>/dev/null)" "${err#cage: warning: }" "... recorded in the state directory ($MARKER)"
is "$(stat -c %U "$MARKER" 2>/dev/null)" "$CAGE_USER" "... by the user, in a file of theirs"
is "$(crun -- true 2>&1 >/dev/null)" "" "the second run says nothing"
is "$(crun -- true 2>&1 >/dev/null)" "" "... nor the third"
if [ "$MODE" = root ]; then
    rm -f "$MARKER"
    like "$(crun -- true 2>&1 >/dev/null)" "^cage: warning: resource limits are" "with the marker gone, cage warns again"
else
    fresh_state
    like "$(crun -- true 2>&1 >/dev/null)" "^cage: warning: resource limits are" "a fresh state directory (XDG_STATE_HOME): cage warns again"
    is "$(crun -- true 2>&1 >/dev/null)" "" "... once"
    locked=$(scratch_dir)
    chown root:root "$locked" 2>/dev/null
    chmod 555 "$locked"
    first=$(as_user env XDG_STATE_HOME="$locked/state" "$CAGE" run --rootfs "$ROOTFS" -- true 2>&1 >/dev/null)
    second=$(as_user env XDG_STATE_HOME="$locked/state" "$CAGE" run --rootfs "$ROOTFS" -- true 2>&1 >/dev/null)
    like "$first" "^cage: warning: resource limits are" "a state directory that cannot be written: cage warns"
    like "$second" "^cage: warning: resource limits are" "... at every run"
fi
is "$(cage_run -- true 2>&1 >/dev/null | without_limits_warning)" "" "without_limits_warning filters the warning for the other tests"

# --- limits asked for on the command line ---------------------------------------------------
refused=("--memory 1G:memory" "--memory-swap 1G:memory" "--cpus 0.5:cpu" "--io-weight 200:io")
[ -n "$V1_PIDS" ] || refused+=("--pids 100:pids")
for limit in "${refused[@]}"; do
    option=${limit%%:*} controller=${limit##*:}
    # shellcheck disable=SC2086 # the option and its value are two words
    err=$(crun $option -- true 2>&1 >/dev/null)
    is "$?" 125 "an explicit $option that cannot be enforced: refused, exit 125 (the warning was said already)"
    like "$err" "^cage: cannot enforce the requested $controller limit \[/sys/fs/cgroup\]; no cgroup v2 at /sys/fs/cgroup .*--best-effort-limits\)$" \
        "... in one line naming the limit, why, and the way out"
done
err=$(crun --memory 1G -- true 2>&1 >/dev/null)
is "$?|$(lines "$err")" "125|1" "refused again at the next run"
if [ -n "$V1_PIDS" ]; then
    is "$(crun --pids 100 -- true 2>&1)" "" "as root, an explicit --pids is enforced (v1 pids): runs, nothing to say"
fi

err=$(crun --memory 1G --pids 100 --best-effort-limits -- true 2>&1 >/dev/null)
is "$?" 0 "--best-effort-limits: runs anyway"
like "$err" "^cage: warning: resource limits are (partly )?not enforced" "... and warns, though the warning was said already"
is "$(lines "$err")" 1 "... in one line"
is "$(lines "$(crun --memory 1G --best-effort-limits -- true 2>&1 >/dev/null)")" 1 "... at every run"

err=$(crun --memory max --pids max -- /bin/sh -c 'ulimit -u' 2>&1)
is "$err" 16384 "--memory max --pids max: nothing to enforce, no warning, the usual RLIMIT_NPROC"

# --- what caps a fork bomb ------------------------------------------------------------------
if [ "$MODE" = rootless ]; then
    is "$(crun -- /bin/sh -c 'ulimit -u' 2>/dev/null)" 512 "the fallback: RLIMIT_NPROC is the default pids limit, 512"
    is "$(crun --pids 64 --best-effort-limits -- /bin/sh -c 'ulimit -u' 2>/dev/null)" 64 "... or the --pids given"
    start=$(date +%s%N)
    out=$(crun --pids 64 --best-effort-limits -- /usr/bin/cage-probe fork-until-refused 5000 0 2>/dev/null)
    status=$?
    elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
    like "$out" "^forked=6[0-3] refused=EAGAIN$" "a fork bomb is capped by RLIMIT_NPROC in the user namespace (${out})"
    is "$status" 0 "... and cage returns"
    ok $([ "$elapsed" -lt 20000 ] && echo 0 || echo 1) "... promptly (${elapsed} ms)"
    out=$(crun -- /usr/bin/cage-probe fork-until-refused 5000 0 2>/dev/null)
    like "$out" "^forked=5[01][0-9] refused=EAGAIN$" "with the default, at about 512 (${out})"
elif [ -z "$V1_PIDS" ]; then
    like "$(crun -- true 2>&1)" "except where the container's user is host root" \
        "as root without a v1 pids hierarchy, the warning says where RLIMIT_NPROC does not bind (the kernel exempts host uid 0)"
    skip "a fork bomb as root: no cgroup v1 pids hierarchy at /sys/fs/cgroup/pids"
else
    is "$(crun -- /bin/sh -c 'ulimit -u' 2>/dev/null)" 16384 "as root, no RLIMIT_NPROC fallback (pids.max does it)"
    # A fork bomb that holds its children for 3 s, watched from the host meanwhile.
    out=$WORKSPACE/bomb.out
    cage_bg --pids 64 -- /usr/bin/cage-probe fork-until-refused 5000 3 >"$out" 2>&1
    group=$V1_PIDS/cage-$CAGE_BG
    for i in $(seq 100); do grep -q forked "$out" && break; sleep 0.05; done
    is "$(cat "$group/pids.max" 2>/dev/null)" 64 "as root: the container has a v1 pids group of its own, $group, with pids.max 64"
    current=$(cat "$group/pids.current" 2>/dev/null)
    is "$current" 64 "... the fork bomb fills it: pids.current is 64"
    probe=''
    for pid in $(pgrep -f -- "cage-probe fork-until-refused 5000 3"); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = cage-probe ] && probe=$pid && break
    done
    like "$(cat /proc/"$probe"/cgroup 2>/dev/null)" "pids:${V1_PIDS#/sys/fs/cgroup/pids}/cage-$CAGE_BG\$" \
        "... the container's processes are in it (/proc/PID/cgroup, seen from the host)"
    start=$(date +%s%N)
    wait "$CAGE_BG"
    status=$?
    elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
    like "$(cat "$out")" "^forked=6[0-2] refused=EAGAIN$" "a fork bomb as root is capped at pids.max ($(cat "$out"))"
    is "$status" 0 "... and cage returns"
    ok $([ "$elapsed" -lt 20000 ] && echo 0 || echo 1) "... promptly (${elapsed} ms, 3 s of it the bomb's own hold)"
    ok $([ ! -e "$group" ] && echo 0 || echo 1) "... and the group is gone after exit"
    out=$(crun -- /usr/bin/cage-probe fork-until-refused 5000 0 2>/dev/null)
    like "$out" "^forked=5[01][0-9] refused=EAGAIN$" "with the default, at about 512 (${out})"

    # Inside, the cgroup namespace is rooted at the container's own group.
    is "$(crun -- cat /proc/self/cgroup | awk -F: '$2 == "pids" {print $3}')" / "inside, the pids group is / (cgroup namespace)"

    # cage killed: its janitor kills what is left and removes the group.
    start_probe || bail "the container's command never appeared on the host"
    group=$V1_PIDS/cage-$PROBE_CAGE
    like "$(cat "$group/cgroup.procs" 2>/dev/null | tr '\n' ' ')" "(^| )$PROBE_PID " "a running container's processes are listed in its group"
    stop_probe
    ok $? "kill -9 of cage: the container's processes are gone"
    for i in $(seq 100); do [ -e "$group" ] || break; sleep 0.05; done
    ok $([ ! -e "$group" ] && echo 0 || echo 1) "... and its group too (cage-cgroup-gc)"

    # A timeout kills every process in the group, a double-forked one too.
    err=$(crun --timeout 1s -- /bin/sh -c '(/usr/bin/cage-probe sleep 60 doublefork$$ &) ; exec /usr/bin/cage-probe sleep 60 main' 2>&1)
    is "$?" 124 "a timeout as root: exit 124"
    sleep 0.2
    is "$(pgrep -f 'cage-probe sleep 60 doublefork')" "" "... and a double-forked process in the group is gone too"
    # Overlapping containers: the last one out removes "cage" too.
    cage_bg -- /bin/sleep 1 >/dev/null 2>&1
    crun -- true 2>/dev/null
    wait "$CAGE_BG"
    left=$(ls -d "$V1_PIDS"/cage-* 2>/dev/null | while read -r dir; do
        pid=${dir##*/cage-}; [ -d "/proc/$pid" ] || echo "$dir"; done)
    is "$left" "" "no v1 pids group of a finished cage is left in $V1_PIDS"
    if [ -z "$(ls -d "$V1_PIDS"/cage-* 2>/dev/null)" ]; then
        ok $([ ! -e "$V1_PIDS" ] && echo 0 || echo 1) "... and after overlapping runs, $V1_PIDS itself is gone"
        # One an administrator made, with a limit shared by all containers, stays.
        mkdir "$V1_PIDS" && echo 1000 >"$V1_PIDS/pids.max" && on_exit "rmdir '$V1_PIDS' 2>/dev/null"
        crun -- true 2>/dev/null
        is "$(cat "$V1_PIDS/pids.max" 2>/dev/null)" 1000 "a $V1_PIDS with a pids.max of its own is kept"
        rmdir "$V1_PIDS"
    else
        skip "another cage is running: $V1_PIDS is in use"
        skip "another cage is running: $V1_PIDS is in use"
    fi
fi

for bad in "--memory 0" "--memory 12Q" "--memory -1G" "--memory-swap x" "--pids 0" "--pids -3" "--cpus 0" "--cpus abc" \
    "--io-weight 0" "--io-weight 10001"; do
    # shellcheck disable=SC2086
    err=$(crun $bad -- true 2>&1 >/dev/null)
    is "$?|$(lines "$err")" "125|1" "a bad value, $bad: a usage error (125, one line)"
done
help=$(as_user "$CAGE" run --help)
like "$help" "--memory SIZE" "cage run --help documents --memory"
like "$help" "--best-effort-limits" "... and --best-effort-limits"
like "$help" "Delegate=yes" "... and how to delegate cgroups"
like "$help" "once per user" "... and that the warning is said once per user"
done_testing
