#!/bin/bash
# Resource limits on a host WITHOUT a usable cgroup v2 (cgroup v1 or hybrid; enforcement on
# cgroup v2 is proven in the qemu guest by tests/vm): one warning line, a refusal (125) for a
# limit asked for on the command line, --best-effort-limits, and RLIMIT_NPROC capping a fork
# bomb instead.
. "$(dirname "$0")/lib.sh"

[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] &&
    skip_all "this host has cgroup v2: enforcement is tested by the VM suite (meson test --suite vm)"

status_of() { "$@" >/dev/null 2>&1; echo $?; }
lines() { printf '%s\n' "$1" | grep -c .; }

err=$(cage_run -- true 2>&1 >/dev/null)
is "$?" 0 "no cgroup v2: cage still runs"
is "$(lines "$err")" 1 "... with exactly one line on stderr"
like "$err" "^cage: warning: resource limits are not enforced: no cgroup v2 at /sys/fs/cgroup \(a cgroup v1 or hybrid host\)" \
    "... a warning that says limits are not enforced, and why"
like "$err" "systemd.unified_cgroup_hierarchy=1" "... and how to enable them"
like "$err" "capped by RLIMIT_NPROC 512 instead" "... and what caps processes instead"

for limit in "--memory 1G:memory" "--memory-swap 1G:memory" "--pids 100:pids" "--cpus 0.5:cpu" "--io-weight 200:io"; do
    option=${limit%%:*} controller=${limit##*:}
    # shellcheck disable=SC2086 # the option and its value are two words
    err=$(cage_run $option -- true 2>&1 >/dev/null)
    is "$?" 125 "an explicit $option that cannot be enforced: refused, exit 125"
    like "$err" "^cage: cannot enforce the requested $controller limit \[/sys/fs/cgroup\]; no cgroup v2 at /sys/fs/cgroup .*--best-effort-limits\)$" \
        "... in one line naming the limit, why, and the way out"
done

err=$(cage_run --memory 1G --pids 100 --best-effort-limits -- true 2>&1 >/dev/null)
is "$?" 0 "--best-effort-limits: runs anyway"
like "$err" "^cage: warning: resource limits are not enforced" "... and warns"
is "$(lines "$err")" 1 "... in one line"

err=$(cage_run --memory max --pids max -- /bin/sh -c 'ulimit -u' 2>&1)
is "$err" 16384 "--memory max --pids max: nothing to enforce, no warning, the usual RLIMIT_NPROC"

is "$(cage_run -- /bin/sh -c 'ulimit -u' 2>/dev/null)" 512 "the fallback: RLIMIT_NPROC is the default pids limit, 512"
is "$(cage_run --pids 64 --best-effort-limits -- /bin/sh -c 'ulimit -u' 2>/dev/null)" 64 "... or the --pids given"

if [ "$MODE" = root ]; then
    like "$(cage_run -- true 2>&1)" "which binds no process of host root" \
        "as root, the warning says RLIMIT_NPROC does not bind (the kernel exempts host uid 0)"
    skip "a fork bomb as root: the kernel exempts host root from RLIMIT_NPROC (rootless run covers it)"
else
    start=$(date +%s%N)
    out=$(cage_run --pids 64 --best-effort-limits -- /usr/bin/cage-probe fork-until-refused 5000 0 2>/dev/null)
    status=$?
    elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
    like "$out" "^forked=6[0-3] refused=EAGAIN$" "a fork bomb is capped by RLIMIT_NPROC in the user namespace (${out})"
    is "$status" 0 "... and cage returns"
    ok $([ "$elapsed" -lt 20000 ] && echo 0 || echo 1) "... promptly (${elapsed} ms)"
    out=$(cage_run -- /usr/bin/cage-probe fork-until-refused 5000 0 2>/dev/null)
    like "$out" "^forked=5[01][0-9] refused=EAGAIN$" "with the default, at about 512 (${out})"
fi

for bad in "--memory 0" "--memory 12Q" "--memory -1G" "--memory-swap x" "--pids 0" "--pids -3" "--cpus 0" "--cpus abc" \
    "--io-weight 0" "--io-weight 10001"; do
    # shellcheck disable=SC2086
    err=$(cage_run $bad -- true 2>&1 >/dev/null)
    is "$?|$(lines "$err")" "125|1" "a bad value, $bad: a usage error (125, one line)"
done
help=$(as_user "$CAGE" run --help)
like "$help" "--memory SIZE" "cage run --help documents --memory"
like "$help" "--best-effort-limits" "... and --best-effort-limits"
like "$help" "Delegate=yes" "... and how to delegate cgroups"
done_testing
