#!/bin/bash
# Real workloads under the default seccomp profile, in the Debian workload rootfs
# (rootfs-builder/make-workload-rootfs.sh): node with worker threads and child processes, npm
# installing a local tarball, python3 venv with ssl/sqlite3/multiprocessing, git round trip,
# gcc, go build and test, bash job control. Each step of steps.sh becomes one test here; the
# audit log is checked for what the profile refused on the way.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"

: "${WORKLOAD_ROOTFS:=}"
[ -n "$WORKLOAD_ROOTFS" ] && [ -f "$WORKLOAD_ROOTFS/.complete" ] ||
    skip_all "no workload rootfs (build it: rootfs-builder/make-workload-rootfs.sh DIR; set WORKLOAD_ROOTFS=DIR)"

cp "$here/steps.sh" "$WORKSPACE/steps.sh" && chmod a+r "$WORKSPACE/steps.sh"
name=workload-$$x$RANDOM
profile=${SECCOMP_PROFILE:-default}
output=$(as_user "$CAGE" run --name "$name" --seccomp "$profile" --rootfs "$WORKLOAD_ROOTFS" -T -- bash steps.sh 2>"$WORKSPACE/stderr")
status=$?
is "$status" 0 "cage ran the workload script to its end under the $profile profile"
steps=0
while IFS= read -r line; do
    case $line in
        "ok "*) steps=$((steps + 1)); ok 0 "${line#ok * - }" ;;
        "not ok "*) steps=$((steps + 1)); ok 1 "${line#not ok * - }" ;;
        "#"*) echo "$line" ;;
    esac
done <<<"$output"
is "$steps" 7 "all seven workload steps ran"

# What the profile refused on the way: only npm's netlink socket (os.networkInterfaces(),
# which npm tolerates) is expected. Anything else is a call the workloads need.
refused=$(as_user "$CAGE" logs --json "$name" | grep '^{' | sed -n 's/.*"syscall":"\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ')
diag "refused: ${refused:-nothing}" "cage said: $(cat "$WORKSPACE/stderr")"
ok "$([[ $refused =~ ^(socket )?$ ]]; echo $?)" "the profile refused nothing the workloads need"
families=$(as_user "$CAGE" logs --json "$name" | grep '"syscall":"socket"' | sed -n 's/.*"args":\["\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ')
ok "$([[ $families =~ ^(0x10 )?$ ]]; echo $?)" "the only refused sockets are netlink (AF_NETLINK, 0x10)"
done_testing
