#!/bin/bash
# seccomp: the default profile refuses every family it names with EPERM (and the refusal shows
# in the audit log, read back from the host), newer and fallback calls get ENOSYS unaudited,
# argument guards see exactly the 32 bits the kernel uses, foreign ABIs are refused; strict,
# unconfined, Docker/OCI JSON profiles; bad profiles stop cage before anything starts; the
# compiled filter is cached and a damaged cache entry is never used.
. "$(dirname "$0")/lib.sh"

run_id=$$x$RANDOM
named() { echo "sc-$run_id-$1"; }
log_of() { as_user "$CAGE" logs --json "$1" 2>/dev/null | grep '^{'; }
# calls NAME [cage options] -- "SYSCALL ARGS" ...: run each through the probe in one container
# named NAME; prints "SYSCALL ARGS=RESULT" per line. cage's stderr goes to $NAME.err.
calls() {
    local name=$1 opts=() script=''
    shift
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    for call in "$@"; do script="$script echo \"$call=\$(cage-probe syscall $call)\";"; done
    cage_run --name "$name" "${opts[@]}" -- /bin/sh -c "$script" 2>"$WORKSPACE/$name.err.all"
    without_limits_warning <"$WORKSPACE/$name.err.all" >"$WORKSPACE/$name.err"
}

# --- every refused family, with EPERM, audited --------------------------------------------
refused=(
    "mount 0 0 0 0 0" "umount2 buf 0" "pivot_root buf buf" "move_mount -1 buf -1 buf 0" "open_tree -1 buf 0"
    "fsopen buf 0" "fsconfig -1 0 0 0 0" "fsmount -1 0 0" "fspick -1 buf 0"
    "ptrace 16 1" "process_vm_readv 1 buf 1 buf 1 0" "process_vm_writev 1 buf 1 buf 1 0"
    "kexec_load 0 0 0 0" "kexec_file_load -1 -1 0 buf 0" "init_module buf 0 buf" "finit_module -1 buf 0" "delete_module buf 0"
    "bpf 0 buf 0" "perf_event_open buf 0 -1 -1 0" "userfaultfd 0"
    "keyctl 0 0" "add_key buf buf 0 0 0" "request_key buf buf 0 0"
    "open_by_handle_at -1 buf 0" "name_to_handle_at -1 buf buf buf 0"
    "setns -1 0" "unshare 0x10000000" "unshare 0x20000" "clone 0x40000011" "clone 0x20000011"
    "personality 0x20000" "personality 0x0400000"
    "reboot 0 0 0 0" "swapon buf 0" "swapoff buf" "acct 0" "quotactl 0 buf 0 0" "syslog 3 buf 10"
    "settimeofday buf 0" "clock_settime 0 buf" "vhangup"
    "ioctl 0 0x5412 buf" "ioctl 0 0x541C buf" "ioctl 0 0xffffffff00005412 buf" "ioctl 0 0x1000000005412 buf"
    "socket 16 3 0" "socket 17 3 0" "socket 40 1 0" "socketpair 2 1 0 buf"
)
[ "$(uname -m)" = x86_64 ] && refused+=("iopl 3" "ioperm 0 1 1" "uselib buf")
name=$(named families)
out=$(calls "$name" -- "${refused[@]}")
for call in "${refused[@]}"; do
    is "$(printf '%s\n' "$out" | grep -F -x -- "$call=EPERM" || printf '%s\n' "$out" | grep -F -- "$call=")" "$call=EPERM" \
        "default profile: $call is refused with EPERM"
done
log=$(log_of "$name")
for syscall in $(printf '%s\n' "${refused[@]}" | cut -d' ' -f1 | sort -u); do
    like "$log" "\"syscall\":\"$syscall\"" "the audit log records the refused $syscall"
done
records=$(printf '%s\n' "$log" | grep -c '"errno":"EPERM"')
is "$records" "${#refused[@]}" "the audit log has one EPERM record per refused call"
like "$(printf '%s\n' "$log" | head -1)" '"command":"cage-probe".*"pid":[0-9]+.*"time":"20[0-9-]+T' \
    "a record names the command, its pid and the time"
like "$(cat "$WORKSPACE/$name.err")" "^cage: refused ${#refused[@]} syscalls: .* \\(see cage logs $name\\)\$" \
    "cage prints a one-line summary of the refusals at exit"

# --- what is allowed, ENOSYS, foreign ABIs ------------------------------------------------
name=$(named allowed)
out=$(calls "$name" -- "getpid" "clone 0x11" "unshare 0x400" "personality 0xffffffff" "personality 0" \
    "socket 1 1 0" "socket 2 1 0" "socket 10 2 0" "socketpair 1 1 0 buf" "ioctl 0 0x5413 buf" "memfd_create buf 0" \
    "clone3 buf 88" "1000" "470")
like "$out" "getpid=ok" "getpid is allowed"
like "$out" "clone 0x11=ok" "clone without namespace flags (fork) is allowed"
like "$out" "unshare 0x400=ok" "unshare(CLONE_FILES) is allowed"
like "$out" "personality 0xffffffff=ok" "personality query is allowed"
like "$out" "personality 0=ok" "the default personality is allowed"
like "$out" "socket 1 1 0=ok" "AF_UNIX sockets are allowed"
like "$out" "socket 2 1 0=ok" "AF_INET sockets are allowed"
like "$out" "socket 10 2 0=ok" "AF_INET6 sockets are allowed"
like "$out" "socketpair 1 1 0 buf=ok" "AF_UNIX socket pairs are allowed"
unlike "$out" "ioctl 0 0x5413 buf=EPERM" "other ioctls (TIOCGWINSZ) are not refused"
like "$out" "memfd_create buf 0=ok" "default profile: memfd_create is allowed"
like "$out" "clone3 buf 88=ENOSYS" "clone3 gets ENOSYS (libc falls back to clone)"
like "$out" "1000=ENOSYS" "an unknown system call number gets ENOSYS"
like "$out" "470=ENOSYS" "a system call newer than the profile gets ENOSYS"
is "$(log_of "$name")" "" "ENOSYS answers are not audited, and nothing allowed is"
like "$(as_user "$CAGE" logs "$name")" "^no refused system calls recorded for $name\$" "cage logs says so for a sandbox that refused nothing"
is "$(cat "$WORKSPACE/$name.err")" "" "no summary when nothing was refused"

if [ "$(uname -m)" = x86_64 ]; then
    name=$(named abi)
    out=$(cage_run --name "$name" -- /bin/sh -c 'cage-probe int80 20; cage-probe syscall 1073741863' 2>/dev/null | tr '\n' ' ')
    is "$out" "EPERM EPERM " "the i386 (int 0x80) and x32 ABIs are refused"
    like "$(log_of "$name")" '"syscall":"i386:getpid".*' "the audit log names the i386 call"
    like "$(log_of "$name")" '"syscall":"x32:getpid"' "the audit log names the x32 call"
else
    skip "foreign ABIs: x86_64 only"; skip "i386 log"; skip "x32 log"
fi

# --- seen from the host: the command runs under a filter -----------------------------------
start_probe || bail "the container's command never appeared on the host"
is "$(awk '$1 == "Seccomp:" {print $2}' /proc/$PROBE_PID/status)" 2 "the command is in seccomp filter mode (seen from the host)"
is "$(awk '$1 == "Seccomp:" {print $2}' /proc/$PROBE_INIT/status)" 0 "cage's pid 1 loads no filter (it only reaps and forwards)"
stop_probe

# --- strict and unconfined -----------------------------------------------------------------
name=$(named strict)
out=$(calls "$name" --seccomp strict -- "memfd_create buf 0" "io_uring_setup 1 buf" "execveat -1 buf buf buf 0" "getpid")
like "$out" "memfd_create buf 0=EPERM" "strict: memfd_create is refused"
like "$out" "io_uring_setup 1 buf=EPERM" "strict: io_uring is refused"
like "$out" "execveat -1 buf buf buf 0=EPERM" "strict: execveat is refused"
like "$out" "getpid=ok" "strict: getpid is allowed"
like "$(log_of "$name")" '"syscall":"memfd_create"' "strict: refusals are audited"

name=$(named unconfined)
out=$(calls "$name" --seccomp unconfined -- "setns -1 0" "clone3 0 0")
like "$out" "setns -1 0=EBADF" "unconfined: setns reaches the kernel (EBADF for a bad fd)"
unlike "$out" "clone3 0 0=ENOSYS" "unconfined: clone3 reaches the kernel"
start_probe --seccomp unconfined || bail "no unconfined probe"
is "$(awk '$1 == "Seccomp:" {print $2}' /proc/$PROBE_PID/status)" 0 "unconfined: no filter (seen from the host)"
stop_probe

# --- Docker/OCI JSON profiles --------------------------------------------------------------
cat >"$WORKSPACE/docker.json" <<'EOF'
{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 38,
	"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
	"syscalls": [
		{ "names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
		{ "names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
		  "includes": { "caps": ["CAP_SYS_ADMIN"] } },
		{ "names": ["some_future_call", "read", "write", "close", "execve", "exit_group", "exit", "brk", "mmap",
		            "mprotect", "munmap", "arch_prctl", "set_tid_address", "rt_sigaction", "rt_sigprocmask",
		            "sendmsg", "getpid", "fstat", "newfstatat", "ioctl", "chdir", "rseq", "set_robust_list",
		            "prlimit64", "getrandom", "readlinkat", "uname", "openat", "access", "pread64"],
		  "action": "SCMP_ACT_ALLOW" },
		{ "names": ["personality"], "action": "SCMP_ACT_ALLOW",
		  "args": [ { "index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ" } ] },
		{ "names": ["socket"], "action": "SCMP_ACT_ALLOW",
		  "args": [ { "index": 0, "value": 4294967294, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" } ] }
	]
}
EOF
name=$(named docker)
out=$(cage_run --name "$name" --seccomp "$WORKSPACE/docker.json" -- /usr/bin/cage-probe syscall getpid 2>&1 | without_limits_warning)
is "$out" ok "a Docker JSON profile loads and lets its allowed calls through"
out=$(cage_run --name "$name" --seccomp "$WORKSPACE/docker.json" -- /usr/bin/cage-probe cwd 2>&1 | without_limits_warning)
like "$out" "EACCES|Permission denied" "a Docker JSON rule's errnoRet applies (getcwd gets EACCES)"
out=$(cage_run --name "$name" --seccomp "$WORKSPACE/docker.json" -- /usr/bin/cage-probe syscall personality 8)
is "$out" ENOSYS "a Docker JSON profile's defaultErrnoRet applies to what it does not allow"
out=$(cage_run --name "$name" --seccomp "$WORKSPACE/docker.json" -- /usr/bin/cage-probe syscall socket 1 1 0)
is "$out" ok "a masked_eq argument rule admits what it matches (AF_UNIX)"
out=$(cage_run --name "$name" --seccomp "$WORKSPACE/docker.json" -- /usr/bin/cage-probe syscall socket 2 1 0)
is "$out" ENOSYS "a masked_eq argument rule refuses what it does not match (AF_INET)"
like "$(log_of "$name")" '"syscall":"getcwd","time"' "refusals under a JSON profile are audited"
if [ -f /usr/share/containers/seccomp.json ]; then
    out=$(cage_run --seccomp /usr/share/containers/seccomp.json -- /bin/sh -c 'echo hi; cage-probe syscall kexec_load 0 0 0 0' 2>/dev/null | tr '\n' ' ')
    is "$out" "hi EPERM " "podman's own seccomp.json (containers-common) loads and applies"
else
    skip "containers-common's seccomp.json is not installed"
fi

# --- bad profiles: refused before anything starts --------------------------------------------
check_refused() { # check_refused PROFILE-FILE REGEX DESCRIPTION
    local out status
    rm -f "$WORKSPACE/started"
    out=$(cage_run --seccomp "$1" -- /bin/sh -c 'touch /work/started' 2>&1)
    status=$?
    is "$status" 125 "$3: exit 125"
    like "$out" "$2" "$3: the error names the file, the line and the offending name"
    is "$(printf '%s\n' "$out" | wc -l)" 1 "$3: one line"
    ok "$([ ! -e "$WORKSPACE/started" ]; echo $?)" "$3: nothing started"
}
printf 'allow:\n  - read\n  - wirte\n' >"$WORKSPACE/typo.yaml"
check_refused "$WORKSPACE/typo.yaml" "^cage: bad seccomp profile: unknown system call 'wirte' \\[$WORKSPACE/typo.yaml:3\\]" "an unknown system call name"
printf 'errno:\n  EPRM: [mount]\n' >"$WORKSPACE/errno.yaml"
check_refused "$WORKSPACE/errno.yaml" "unknown errno 'EPRM'.*errno.yaml:2\\]" "an unknown errno"
printf 'allow: [read\n' >"$WORKSPACE/syntax.yaml"
check_refused "$WORKSPACE/syntax.yaml" "bad seccomp profile: .*syntax.yaml:[0-9]+\\]" "a YAML syntax error"
printf 'guards:\n  - syscall: ioctl\n    arg: 1\n    deny: [TIOCSTJ]\n' >"$WORKSPACE/guard.yaml"
check_refused "$WORKSPACE/guard.yaml" "bad argument value 'TIOCSTJ'.*guard.yaml:4\\]" "an unknown guard value"
printf '{\n  "defaultAction": "SCMP_ACT_ERRNO",\n  "syscalls": [\n    { "names": ["read"], "action": "SCMP_ACT_ALOW" }\n  ]\n}\n' >"$WORKSPACE/action.json"
check_refused "$WORKSPACE/action.json" "unsupported action 'SCMP_ACT_ALOW'.*action.json:4\\]" "an unknown JSON action"
printf '{\n  "defaultAction": "SCMP_ACT_ERRNO",\n  "syscalls": [,]\n}\n' >"$WORKSPACE/broken.json"
check_refused "$WORKSPACE/broken.json" "not valid JSON.*broken.json:3\\]" "a JSON syntax error"
printf 'allow: [read, write]\n' >"$WORKSPACE/noexec.yaml"
check_refused "$WORKSPACE/noexec.yaml" "refuses execve, which cage needs.*noexec.yaml" "a profile that refuses execve"
check_refused "$WORKSPACE/missing.yaml" "cannot read the seccomp profile: No such file.*missing.yaml" "a missing profile file"
check_refused "defualt" "unknown seccomp profile 'defualt'.*use default, strict, unconfined" "an unknown built-in name"

# --- the compiled filter is cached by content; a damaged entry is never used ----------------
[ "$MODE" = root ] && cache=/var/cache/cage/seccomp || cache=$(getent passwd "$CAGE_USER" | cut -d: -f6)/.cache/cage/seccomp
printf 'extends: default\nerrno:\n  EACCES: [getppid]\n# %s\n' "$run_id" >"$WORKSPACE/cached.yaml"
before=$(ls "$cache" 2>/dev/null | wc -l)
is "$(cage_run --seccomp "$WORKSPACE/cached.yaml" -- /usr/bin/cage-probe syscall getppid 2>/dev/null)" EACCES \
    "a profile extending default applies its own refusals"
after=$(ls "$cache" 2>/dev/null | wc -l)
is "$after" "$((before + 1))" "the compiled filter was stored in the cache"
entry=$(grep -l "" "$cache"/*.bpf 2>/dev/null | xargs ls -t 2>/dev/null | head -1)
if [ -n "$entry" ]; then
    # Cut the program short: a kernel would accept the shorter filter; cage must not use it.
    truncate -s 200 "$entry"
    is "$(cage_run --seccomp "$WORKSPACE/cached.yaml" -- /usr/bin/cage-probe syscall getppid 2>/dev/null)" EACCES \
        "a truncated cache entry is not used: the profile is compiled again"
    ok "$([ "$(stat -c %s "$entry")" -gt 200 ]; echo $?)" "the damaged entry was replaced"
else
    skip "no cache entry found"; skip "no cache entry found"
fi
done_testing
