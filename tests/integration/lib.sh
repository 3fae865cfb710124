# TAP helpers for cage's integration tests. Each test file sources this, uses ok/is/like/skip
# and ends with done_testing (which prints the plan). Environment (set by tests/meson.build):
#   CAGE        the cage binary
#   ROOTFS      the busybox test rootfs (with /usr/bin/cage-probe)
#   MODE        root | rootless
#   CAGE_TEST_USER  for MODE=rootless when the suite runs as root: the unprivileged user
#                   cage runs as (created by .ci/run with /etc/subuid and /etc/subgid ranges)
# Observations are made from the host side as root (or as the invoking user when not root).
set -u

_tap_n=0
_tap_failed=0
_tap_cleanup=()

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }  # every line of a multi-line value stays a comment
ok() { # ok CONDITION-EXIT-STATUS DESCRIPTION   (use: ok $? "desc", or cmd; ok $? ...)
    _tap_n=$((_tap_n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $_tap_n - $2"; else echo "not ok $_tap_n - $2"; _tap_failed=$((_tap_failed + 1)); fi
}
is() { # is GOT EXPECTED DESCRIPTION
    if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; diag "got:      '$1'" "expected: '$2'"; fi
}
isnt() { if [ "$1" != "$2" ]; then ok 0 "$3"; else ok 1 "$3"; diag "got '$1', expected something else"; fi; }
like() { # like GOT REGEX DESCRIPTION
    if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else ok 1 "$3"; diag "got:   '$1'" "regex: '$2'"; fi
}
unlike() { if printf '%s' "$1" | grep -Eq -- "$2"; then ok 1 "$3"; diag "got: '$1'" "must not match: '$2'"; else ok 0 "$3"; fi; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $1"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
bail() { echo "Bail out! $1"; exit 1; }

on_exit() { _tap_cleanup+=("$1"); }
_tap_finish() {
    local i
    for ((i = ${#_tap_cleanup[@]} - 1; i >= 0; i--)); do eval "${_tap_cleanup[$i]}" || true; done
}
trap _tap_finish EXIT
# Scratch directories are listed in a file, so that those made in a command substitution,
# $(scratch_dir), are removed too (an on_exit there would only reach the subshell). Last to run.
_tap_scratch_list=$(mktemp /tmp/cage-test-scratch.XXXXXX)
on_exit 'while IFS= read -r _d; do rm -rf "$_d"; done <"$_tap_scratch_list"; rm -f "$_tap_scratch_list"'

: "${CAGE:?CAGE must point at the cage binary}"
: "${ROOTFS:?ROOTFS must point at the test rootfs}"
MODE=${MODE:-root}

# Who runs cage: root as itself; rootless as CAGE_TEST_USER (when we are root) or ourselves.
if [ "$MODE" = root ]; then
    [ "$(id -u)" -eq 0 ] || skip_all "root mode needs root"
    CAGE_USER=root
elif [ "$(id -u)" -eq 0 ]; then
    CAGE_USER=${CAGE_TEST_USER:-cagetest}
    [ -n "$CAGE_USER" ] && id "$CAGE_USER" >/dev/null 2>&1 || skip_all "rootless mode needs CAGE_TEST_USER (an unprivileged user)"
else
    CAGE_USER=$(id -un)
fi
CAGE_UID=$(id -u "$CAGE_USER")
CAGE_GID=$(id -g "$CAGE_USER")

# Rootless, the rootfs belongs to the user who runs cage (as one they unpacked themselves
# would), and the binaries must be reachable by that user (a checkout under /root is not).
if [ "$MODE" = rootless ] && [ "$(id -u)" -eq 0 ]; then
    _stage=$(mktemp -d /tmp/cage-test-stage.XXXXXX)
    chmod 755 "$_stage"
    on_exit "rm -rf '$_stage'"
    cp -a "$ROOTFS" "$_stage/rootfs" && chown -R "$CAGE_UID:$CAGE_GID" "$_stage/rootfs" && ROOTFS=$_stage/rootfs
    if ! runuser -u "$CAGE_USER" -- test -x "$CAGE"; then
        # cage runs cage-image, beside it, for pull and import.
        [ -x "$(dirname "$CAGE")/cage-image" ] && cp "$(dirname "$CAGE")/cage-image" "$_stage/cage-image"
        cp "$CAGE" "$_stage/cage" && CAGE=$_stage/cage
        if [ -n "${EMBED_EXAMPLE:-}" ] && [ -f "$EMBED_EXAMPLE" ]; then
            cp "$EMBED_EXAMPLE" "$_stage/embed" && EMBED_EXAMPLE=$_stage/embed
        fi
        chmod a+rx "$_stage"/*
    fi
fi

# AS_USER: the command prefix that runs something as the user cage runs as, with a clean
# environment of that user; empty when that is us. setpriv and env exec, so the command keeps
# the pid they started with.
AS_USER=()
if [ "$(id -u)" -ne "$CAGE_UID" ]; then
    AS_USER=(setpriv --reuid="$CAGE_UID" --regid="$CAGE_GID" --init-groups
        env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$(getent passwd "$CAGE_USER" | cut -d: -f6)" USER="$CAGE_USER")
fi
as_user() { "${AS_USER[@]}" "$@"; }

# cage_bg [cage run options...] -- COMMAND...: cage run in the background; CAGE_BG is the pid
# of cage itself (signals sent to it reach cage, not a wrapper).
cage_bg() {
    (exec "${AS_USER[@]}" "$CAGE" run --rootfs "$ROOTFS" "$@") &
    CAGE_BG=$!
}

# A scratch directory owned by the cage user; removed at exit (also from a subshell).
# ramfs_dir (root): set RAMFS_DIR to a new directory on a ramfs, a filesystem without
# idmapped mounts, unmounted at exit. Not in $(...): the unmount would be the subshell's.
ramfs_dir() {
    RAMFS_DIR=$(scratch_dir)/ram
    mkdir "$RAMFS_DIR" && mount -t ramfs ramfs "$RAMFS_DIR" && on_exit "umount '$RAMFS_DIR'"
}
scratch_dir() {
    local dir
    dir=$(mktemp -d /tmp/cage-test.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$CAGE_UID:$CAGE_GID" "$dir"
    echo "$dir" >>"$_tap_scratch_list"
    echo "$dir"
}

# cage_run [cage run options...] -- COMMAND...: cage run on the test rootfs, as the cage user,
# in the current directory (which becomes the workspace unless -w is given).
cage_run() { as_user "$CAGE" run --rootfs "$ROOTFS" "$@"; }
# The container user who owns the rootfs's files, and so may change them with --read-write:
# as root, root (the layers are idmapped: host root's files are container root's); rootless,
# the agent (the rootfs is the user's own copy, and host ids cannot be idmapped without root).
ROOTFS_OWNER=$([ "$MODE" = root ] && echo 0 || echo 1000)

# probe SUBCOMMAND ARGS...: the in-container helper through cage, stdout only.
probe() { cage_run -- /usr/bin/cage-probe "$@"; }

# The host pid of the process running `cage-probe ... TOKEN` (a unique argument), waiting for
# it to appear. Empty when it never does.
find_probe_pid() {
    local token=$1 tries=0 pid
    while [ $tries -lt 100 ]; do
        for pid in $(pgrep -f -- "cage-probe .*$token" 2>/dev/null); do
            if [ "$(cat /proc/$pid/comm 2>/dev/null)" = cage-probe ]; then echo "$pid"; return 0; fi
        done
        sleep 0.05
        tries=$((tries + 1))
    done
    return 1
}

# without_limits_warning: stdin without the one line cage prints on a host where it cannot
# enforce its default resource limits (t-cgroups.sh tests that line; elsewhere it is noise).
without_limits_warning() { grep -v '^cage: warning: resource limits are' || true; }

# Print the plan (TAP allows it last) and fail the file when any test failed.
done_testing() {
    [ "$_tap_n" -gt 0 ] || bail "no test ran"
    echo "1..$_tap_n"
    [ "$_tap_failed" -eq 0 ]
}

# The test is run from a workspace the cage user owns.
WORKSPACE=$(scratch_dir)
cd "$WORKSPACE" || bail "cannot enter $WORKSPACE"

# state_dirs: what cage may leave on the host's disk, to compare before and after. Entries
# named after cage that the cage user created in the temporary directories since the test
# started (the test's own scratch directories aside; other activity on the machine is not
# ours to judge), and cage's kept containers.
STARTED=$(mktemp /tmp/cage-test-started.XXXXXX)
echo "$STARTED" >>"$_tap_scratch_list"
state_dirs() {
    local home
    home=$(getent passwd "$CAGE_USER" | cut -d: -f6)
    find /tmp /var/tmp "${XDG_RUNTIME_DIR:-/run/user/$CAGE_UID}" -mindepth 1 -maxdepth 1 -user "$CAGE_UID" \
        -newer "$STARTED" -name '*cage*' ! -name 'cage-test*' 2>/dev/null | sort
    ls -A "$home/.local/share/cage/containers" /var/lib/cage/containers 2>/dev/null
}

# start_probe [cage run options...] [-- SHELL-SNIPPET]: start, in the background, a container
# whose command ends as `cage-probe sleep 60 TOKEN` (after SHELL-SNIPPET, run by /bin/sh, if
# given), and set PROBE_PID (its host pid), PROBE_INIT (cage's pid 1) and PROBE_CAGE (the cage
# process). Returns 1 when the command never appears (PROBE_PID is then empty).
# stop_probe [CAGE-PID]: SIGKILL that cage (default $PROBE_CAGE) and wait until the container's
# processes are gone; returns 1 if one survives 5 s. Whatever is still running stops at exit.
start_probe() {
    local opts=() snippet='' token=probe$$x$RANDOM$RANDOM job
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; snippet=$*; }
    PROBE_PID='' PROBE_INIT='' PROBE_CAGE=''
    if [ -n "$snippet" ]; then
        cage_run "${opts[@]}" -- /bin/sh -c "$snippet
exec /usr/bin/cage-probe sleep 60 $token" >/dev/null 2>&1 &
    else
        cage_run "${opts[@]}" -- /usr/bin/cage-probe sleep 60 "$token" >/dev/null 2>&1 &
    fi
    job=$!
    on_exit "_kill_job $job"
    PROBE_PID=$(find_probe_pid "$token") || { _kill_job "$job"; PROBE_PID=''; return 1; }
    PROBE_INIT=$(awk '$1 == "PPid:" {print $2}' "/proc/$PROBE_PID/status" 2>/dev/null)
    PROBE_CAGE=$(awk '$1 == "PPid:" {print $2}' "/proc/$PROBE_INIT/status" 2>/dev/null)
    [ -n "$PROBE_INIT" ] && [ -n "$PROBE_CAGE" ] || return 1
    eval "_probe_job_$PROBE_CAGE=$job _probe_procs_$PROBE_CAGE='$PROBE_INIT $PROBE_PID'"
}
stop_probe() {
    local cage=${1:-$PROBE_CAGE} job='' procs='' pid i
    case $cage in '' | *[!0-9]*) return 1 ;; esac
    eval "job=\${_probe_job_$cage:-} procs=\${_probe_procs_$cage:-}"
    [ -n "$job" ] || return 1
    kill -KILL "$cage" 2>/dev/null
    wait "$job" 2>/dev/null
    for i in $(seq 100); do
        for pid in $procs; do _gone "$pid" || continue 2; done
        return 0
    done
    return 1
}
# _gone PID: no such process, or only a zombie left.
_gone() {
    local state
    state=$(awk '$1 == "State:" {print $2}' "/proc/$1/status" 2>/dev/null)
    [ -z "$state" ] || [ "$state" = Z ] || { sleep 0.05; return 1; }
}
# _kill_job PID: if PID is still a background job of this shell, SIGKILL it and its descendants.
_kill_job() {
    [ "$(awk '$1 == "PPid:" {print $2}' "/proc/$1/status" 2>/dev/null)" = "$$" ] || return 0
    _kill_tree "$1"
    wait "$1" 2>/dev/null
    return 0
}
_kill_tree() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do _kill_tree "$child"; done
    kill -KILL "$1" 2>/dev/null
}
