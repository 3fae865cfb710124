#!/bin/bash
# CVE-2019-5736: no process of the container can write the cage binary on disk through
# /proc/PID/exe. cage runs in place when the binary is root's and no id of the container is
# host root (rootless, and root with idmapped binds); as root with the container user as host
# root (a bind that cannot be idmapped) through a read-only bind of itself; rootless with a
# binary the user owns from a sealed memfd copy. CVE-2024-21626: no host fd leaks in, the
# working directory is inside.
. "$(dirname "$0")/lib.sh"

# sealed_run BINARY: start a container with that cage binary and check it runs sealed.
check_sealed() {
    is "$(readlink /proc/$PROBE_CAGE/exe)" "/memfd:cage (deleted)" "$1: cage runs from a memfd copy of itself"
    is "$(readlink /proc/$PROBE_INIT/exe)" "/memfd:cage (deleted)" "$1: so does the container's pid 1"
    seals=$(python3 -c 'import fcntl,os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); print(fcntl.fcntl(fd, 1034) & 15)' /proc/$PROBE_CAGE/exe 2>/dev/null)
    is "$seals" 15 "$1: the copy is sealed against writes, growth, shrinking and resealing"
    python3 -c 'import os,sys; os.open(sys.argv[1], os.O_WRONLY)' /proc/$PROBE_CAGE/exe 2>/dev/null
    isnt "$?" 0 "$1: the copy cannot be opened for writing even from the host"
}

# check_read_only_bind: cage and its pid 1 run the binary through a read-only mount; holding
# the file past cage's end (as the CVE's exploit does) still gives no way to write it.
check_read_only_bind() {
    local writable
    for pid in "$PROBE_CAGE" "$PROBE_INIT"; do
        is "$(python3 -c 'import os,sys; print(os.statvfs(sys.argv[1]).f_flag & os.ST_RDONLY)' /proc/$pid/exe)" 1 \
            "root: /proc/$pid/exe (cage, then its pid 1) is on a read-only mount"
    done
    is "$(stat -L -c %i /proc/$PROBE_CAGE/exe)" "$(stat -c %i "$CAGE")" "root: it is the binary itself, not a copy"
    exec 6</proc/$PROBE_CAGE/exe
    stop_probe
    # ETXTBSY comes before EROFS while any process runs the binary: other tests run it
    # concurrently, so wait (up to 10 s) for a moment when none does.
    writable=$(python3 -c 'import errno, os, time
for attempt in range(200):
    try:
        os.open("/proc/self/fd/6", os.O_WRONLY); print("writable"); break
    except OSError as e:
        if e.errno != errno.ETXTBSY or attempt == 199: print(e.strerror); break
        time.sleep(0.05)' 2>&1)
    is "$writable" "Read-only file system" "root: after cage ends, the binary it ran cannot be opened for writing even by host root"
    exec 6<&-
}

exec 7</etc/hostname 8>"$WORKSPACE/extra-fd" 9</
start_probe || bail "the container never started"
owner=$(stat -c %u "$CAGE")
if [ "$MODE" = rootless ] && [ "$owner" = 0 ] && [ -z "$(find "$CAGE" -perm /022)" ]; then
    # Nothing in a rootless container can write a root-owned binary: it runs in place.
    is "$(readlink /proc/$PROBE_CAGE/exe)" "$(readlink -f "$CAGE")" "a root-owned binary runs in place rootless"
    as_user test -w "$CAGE"
    isnt "$?" 0 "the user the container maps to cannot write it"
elif [ "$MODE" = root ]; then
    is "$(readlink /proc/$PROBE_CAGE/exe)" "$(readlink -f "$CAGE")" "root: cage runs in place"
    is "$(awk '$2 == 0' /proc/$PROBE_PID/uid_map)" "" "root: because host root is no id of the container"
    command_uid=$(awk '$1 == "Uid:" {print $2}' /proc/$PROBE_PID/status)
    setpriv --reuid "$command_uid" --regid "$command_uid" --clear-groups test -w "$CAGE"
    isnt "$?" 0 "root: the host id the command runs as ($command_uid) cannot write the binary"
else
    check_sealed "the binary"
fi
is "$(ls /proc/$PROBE_PID/fd | sort -n | tr '\n' ' ')" "0 1 2 " "the command holds only stdio (seen from the host)"
# (By kind: the numbers depend on what cage held open when it made them, a cgroup for one.)
init_fds=$(for fd in $(ls /proc/$PROBE_INIT/fd); do
    case $fd:$(readlink "/proc/$PROBE_INIT/fd/$fd") in
    [012]:*) echo "$fd" ;;
    *:socket:*) echo socket ;;
    *:'anon_inode:[signalfd]') echo signalfd ;;
    *) echo "$fd:$(readlink "/proc/$PROBE_INIT/fd/$fd")" ;;
    esac
done | sort | tr '\n' ' ')
is "$init_fds" "0 1 2 signalfd socket " "pid 1 holds only stdio, its signalfd and the sync socket"
stop_probe
exec 7<&- 8>&- 9<&-

if [ "$MODE" = rootless ]; then
    # A binary the user owns (say ~/.local/bin/cage) is writable from the container: sealed.
    own=$(scratch_dir)
    cp "$CAGE" "$own/cage" && chown "$CAGE_UID:$CAGE_GID" "$own/cage"
    saved=$CAGE
    CAGE=$own/cage
    start_probe || bail "the container never started with a user-owned cage"
    check_sealed "a user-owned binary"
    stop_probe
    CAGE=$saved
fi

if [ "$MODE" = root ]; then
    # A workspace that cannot be idmapped (ramfs) makes the container user host root.
    ramfs_dir || bail "cannot mount a ramfs"
    start_probe --workspace "$RAMFS_DIR" || bail "the container never started with a ramfs workspace"
    like "$(awk '{print $1, $2, $3}' /proc/$PROBE_PID/uid_map | tr '\n' ';')" "(^|;)1000 0 1;" "root, ramfs workspace: the container user is host root"
    check_read_only_bind
fi

exec 7</ 8</etc
fds=$(probe fds | awk '{print $1}' | tr '\n' ' ')
is "$fds" "0 1 2 " "inside, the command has only fds 0 1 2 although cage was given 7 and 8"
exec 7<&- 8<&-
is "$(probe cwd)" /work "the working directory is inside the container"
probe readlink /proc/1/exe >/dev/null 2>&1
isnt "$?" 0 "/proc/1/exe cannot be resolved from inside"
is "$(probe open-write /proc/1/exe)" "open=EACCES" "nor opened for writing"
done_testing
