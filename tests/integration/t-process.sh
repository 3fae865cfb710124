#!/bin/bash
# Exit statuses, stdio, and cage's own errors: one line each, exit 125/126/127.
. "$(dirname "$0")/lib.sh"

status_of() { "$@" >/dev/null 2>&1; echo $?; }
one_line_error() { # one_line_error DESCRIPTION REGEX CMD...: exactly one stderr line matching REGEX
    local description=$1 regex=$2 err
    shift 2
    err=$("$@" 2>&1 >/dev/null | without_limits_warning)
    is "$(printf '%s\n' "$err" | wc -l | tr -d ' ')" 1 "$description: one line on stderr"
    like "$err" "$regex" "$description: says what failed"
}

is "$(status_of cage_run -- /usr/bin/cage-probe exit 0)" 0 "exit 0"
is "$(status_of cage_run -- /usr/bin/cage-probe exit 7)" 7 "exit 7 is passed through"
is "$(status_of cage_run -- /usr/bin/cage-probe exit 255)" 255 "exit 255 is passed through"
is "$(status_of cage_run -- /usr/bin/cage-probe kill-self 9)" 137 "killed by SIGKILL: 137"
is "$(status_of cage_run -- /usr/bin/cage-probe kill-self 15)" 143 "killed by SIGTERM: 143"
is "$(status_of cage_run -- nosuch-command)" 127 "a missing command: 127"
one_line_error "a missing command" "^cage: command not found \[nosuch-command\]" cage_run -- nosuch-command
is "$(status_of cage_run -- /etc/passwd)" 126 "a file that is not executable: 126"
one_line_error "a non-executable file" "^cage: cannot execute the command: Permission denied \[/etc/passwd\]; it has no execute permission: chmod \+x it$" cage_run -- /etc/passwd
is "$(status_of cage_run -- /etc)" 126 "a directory: 126"
one_line_error "a directory" "^cage: cannot execute the command: Permission denied \[/etc\]; it is a directory$" cage_run -- /etc
printf '\001\002\003garbage\n' >"$WORKSPACE/garbage" && chmod 755 "$WORKSPACE/garbage" && chown "$CAGE_UID:$CAGE_GID" "$WORKSPACE/garbage"
is "$(status_of cage_run -- /work/garbage)" 126 "a file no kernel loader takes (ENOEXEC): 126"
one_line_error "a file no kernel loader takes" "^cage: cannot execute the command: Exec format error \[/work/garbage\]; it is not a program this machine runs" cage_run -- /work/garbage
# A workspace on a noexec file system: the bind keeps the flag, and the error names it. (The
# tmpfs is mounted in a mount namespace of its own: other tests count the host's mounts.)
noexec=$(scratch_dir)
on_noexec_tmpfs() {
    unshare -m --propagation private sh -c 'mount -t tmpfs -o noexec,mode=0777 tmpfs "$1" &&
        printf "#!/bin/sh\necho ran\n" >"$1/script" && chmod 755 "$1/script" && shift && exec "$@"' \
        sh "$noexec" "$@"
}
is "$(status_of on_noexec_tmpfs "${AS_USER[@]}" "$CAGE" run --rootfs "$ROOTFS" -w "$noexec" -- /work/script)" 126 "a script on a noexec file system: 126"
one_line_error "a script on a noexec file system" "^cage: cannot execute the command: Permission denied \[/work/script\]; its file system is mounted noexec$" \
    on_noexec_tmpfs "${AS_USER[@]}" "$CAGE" run --rootfs "$ROOTFS" -w "$noexec" -- /work/script
is "$(status_of as_user "$CAGE" run --rootfs /nonexistent-rootfs -- true)" 125 "a missing rootfs: 125"
one_line_error "a missing rootfs" "^cage: cannot use the root filesystem: No such file or directory \[/nonexistent-rootfs\]" as_user "$CAGE" run --rootfs /nonexistent-rootfs -- true
is "$(status_of cage_run -w /nonexistent-ws -- true)" 125 "a missing workspace: 125"
one_line_error "a missing workspace" "^cage: cannot use the workspace: No such file or directory \[/nonexistent-ws\]" cage_run -w /nonexistent-ws -- true
is "$(status_of cage_run --volume /nonexistent-vol:/x -- true)" 125 "a missing volume source: 125"
is "$(status_of cage_run --bogus -- true)" 125 "an unknown option: 125"
one_line_error "an unknown option" "^cage: unknown option \[--bogus\]; see 'cage run --help'$" cage_run --bogus -- true
is "$(status_of cage_run --volume relative -- true)" 125 "a bad volume: 125"
is "$(status_of cage_run --user abc -- true)" 125 "a bad user: 125"
is "$(status_of cage_run --network bridge -- true)" 125 "a bad network mode: 125"
is "$(status_of cage_run --name 'bad/name' -- true)" 125 "a bad sandbox name: 125"
is "$(status_of as_user "$CAGE" run -T)" 125 "no image, rootfs or command: 125"
is "$(status_of cage_run)" 125 "no command: 125"
is "$(status_of as_user "$CAGE" run --help)" 0 "cage run --help exits 0"
like "$(as_user "$CAGE" run --help)" "^Usage: cage run" "cage run --help prints the usage"
like "$(as_user "$CAGE" --version)" "^cage [0-9]+\.[0-9]+\.[0-9]+$" "cage --version"
is "$(status_of as_user "$CAGE" bogus-verb)" 125 "an unknown verb: 125"

# stdio: pipes pass straight through when there is no terminal.
is "$(echo hi | cage_run -- cat)" hi "echo hi | cage run cat prints hi"
head -c 5000000 /dev/urandom > "$WORKSPACE/random.bin"
chmod 644 "$WORKSPACE/random.bin"
is "$(cage_run -- /usr/bin/cage-probe cat < "$WORKSPACE/random.bin" | sha256sum)" "$(sha256sum < "$WORKSPACE/random.bin")" "5 MB through stdin and stdout arrive byte-identical"
out=$(cage_run -- /bin/sh -c 'echo out; echo err >&2' 2>"$WORKSPACE/err")
is "$out|$(without_limits_warning < "$WORKSPACE/err")" "out|err" "stdout and stderr stay separate"
is "$(cage_run -- /usr/bin/cage-probe isatty < /dev/null)" "0=0 1=0 2=0" "no terminal: no pty inside"
is "$(cage_run -- cat < /dev/null | wc -c | tr -d ' ')" 0 "stdin from /dev/null gives EOF at once"
is "$(status_of cage_run -- /bin/sh -c 'read x' < /dev/null)" 1 "read on EOF fails as it should"
done_testing
