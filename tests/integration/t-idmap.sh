#!/bin/bash
# User and group id maps, read by the host from /proc/PID/{uid,gid}_map of the running command.
# Rootless: the invoking user is the container user (1000, or --user), every other container id
# falls in the user's /etc/subuid and /etc/subgid ranges. As root: every container id falls in
# root's range, and the workspace is an idmapped mount on which host root's files are the
# container user's. No other host account is reachable; and the ownership that follows, in
# both directions, on the workspace.
. "$(dirname "$0")/lib.sh"

map_of() { awk '{print $1, $2, $3}' "/proc/$1/$2" | tr '\n' ';'; }
# subordinate FILE NAME ID: "start count" of the first range of NAME or ID.
subordinate() { awk -F: -v n="$2" -v i="$3" '($1 == n || $1 == i) {print $2, $3; exit}' "$1" 2>/dev/null; }
# expected_map INSIDE HOST-ID START COUNT: the map cage must write for that container id.
expected_map() {
    local inside=$1 host=$2 start=$3 count=$4 below
    below=$((inside < count ? inside : count))
    [ "$below" -gt 0 ] && printf '0 %s %s;' "$start" "$below"
    printf '%s %s 1;' "$inside" "$host"
    [ $((count - below)) -gt 0 ] && printf '%s %s %s;' $((inside + 1)) $((start + below)) $((count - below))
    echo
}

if [ "$MODE" = rootless ]; then
    read -r uid_start uid_count <<<"$(subordinate /etc/subuid "$CAGE_USER" "$CAGE_UID")"
    read -r gid_start gid_count <<<"$(subordinate /etc/subgid "$CAGE_USER" "$CAGE_UID")"
    [ -n "$uid_start" ] && [ -n "$gid_start" ] || skip_all "$CAGE_USER has no range in /etc/subuid and /etc/subgid"
else  # root's range, or cage's default for root
    read -r uid_start uid_count <<<"$(subordinate /etc/subuid root 0)"
    read -r gid_start gid_count <<<"$(subordinate /etc/subgid root 0)"
    uid_start=${uid_start:-1000000000} uid_count=${uid_count:-65536}
    gid_start=${gid_start:-1000000000} gid_count=${gid_count:-65536}
fi

check_maps() { # check_maps LABEL CONTAINER-UID CONTAINER-GID [cage run options]
    local label=$1 cuid=$2 cgid=$3 uid_map gid_map host_uid=$CAGE_UID host_gid=$CAGE_GID
    shift 3
    start_probe "$@" || bail "the container's command never appeared on the host"
    uid_map=$(map_of "$PROBE_PID" uid_map)
    gid_map=$(map_of "$PROBE_PID" gid_map)
    if [ "$MODE" = rootless ]; then
        is "$uid_map" "$(expected_map "$cuid" "$CAGE_UID" "$uid_start" "$uid_count")" "$label: uid_map is $cuid -> $CAGE_UID plus the /etc/subuid range around it"
        is "$gid_map" "$(expected_map "$cgid" "$CAGE_GID" "$gid_start" "$gid_count")" "$label: gid_map is $cgid -> $CAGE_GID plus the /etc/subgid range around it"
    else
        is "$uid_map" "0 $uid_start $uid_count;" "$label: uid_map is root's range, the container user's id too"
        is "$gid_map" "0 $gid_start $gid_count;" "$label: gid_map is root's range, the container group's id too"
        host_uid=$((uid_start + cuid)) host_gid=$((gid_start + cgid))
        is "$(awk '$1 == "Uid:" {print $2}' /proc/$PROBE_INIT/status) $(awk '$1 == "Gid:" {print $2}' /proc/$PROBE_INIT/status)" \
            "$host_uid $host_gid" "$label: pid 1 has the command's ids too, not host root's"
    fi
    # No host account other than the invoking user is reachable through the maps.
    local reachable
    reachable=$(getent passwd | awk -F: -v me="$CAGE_UID" -v map="$uid_map" '
        BEGIN { n = split(map, r, ";") }
        $3 != me { for (i = 1; i <= n; i++) { split(r[i], f, " "); if (r[i] != "" && $3 >= f[2] && $3 < f[2] + f[3]) print $1 } }')
    is "$reachable" "" "$label: no other host account is mapped into the container"
    is "$(awk '$1 == "Uid:" {print $2, $3, $4, $5}' /proc/$PROBE_PID/status)" "$host_uid $host_uid $host_uid $host_uid" "$label: on the host, the command runs as $host_uid (rootless: the invoking user)"
    is "$(awk '$1 == "Gid:" {print $2, $3, $4, $5}' /proc/$PROBE_PID/status)" "$host_gid $host_gid $host_gid $host_gid" "$label: ... in group $host_gid"
    stop_probe
}
check_maps default 1000 1000
check_maps "--user 0:0" 0 0 --user 0:0
check_maps "--user 1234:5678" 1234 5678 --user 1234:5678

# The ids the command has inside.
is "$(probe ids)" "uid=1000 gid=1000 euid=1000 egid=1000" "by default the command is 1000:1000"
is "$(cage_run --user 0:0 -- /usr/bin/cage-probe ids)" "uid=0 gid=0 euid=0 egid=0" "--user 0:0 is container root"
is "$(cage_run --user 1234:5678 -- /usr/bin/cage-probe ids)" "uid=1234 gid=5678 euid=1234 egid=5678" "--user 1234:5678"
is "$(cage_run --user 4321 -- /usr/bin/cage-probe ids)" "uid=4321 gid=4321 euid=4321 egid=4321" "--user UID alone takes the same number as its group"
is "$(probe status | sed -n 's/^Groups=//p' | tr -d ' ')" 1000 "the only supplementary group is the container group"

# Supplementary groups of the caller do not follow it in.
if [ "$(id -u)" -eq 0 ] && getent group disk >/dev/null; then
    disk=$(getent group disk | cut -d: -f3)
    if [ "$MODE" = root ]; then
        groups_in=$(setpriv --groups "$disk" "$CAGE" run --rootfs "$ROOTFS" -- /usr/bin/cage-probe status)
    else
        groups_in=$(runuser -u "$CAGE_USER" -g "$(id -gn "$CAGE_USER")" -G disk -- env -i PATH=/usr/bin:/bin \
            HOME="$(getent passwd "$CAGE_USER" | cut -d: -f6)" "$CAGE" run --rootfs "$ROOTFS" -- /usr/bin/cage-probe status)
    fi
    is "$(printf '%s\n' "$groups_in" | sed -n 's/^Groups=//p' | tr -d ' ')" 1000 "the caller's supplementary group disk ($disk) does not reach the container"
else
    skip "needs root and a disk group on the host"
fi

# Workspace files: what the container writes belongs to the invoking user on the host,
# whatever --user says, and it cannot give a file away.
cage_run -- /bin/sh -c 'echo a > /work/by-default; mkdir /work/dir-by-default'
is "$(stat -c %u:%g "$WORKSPACE/by-default" "$WORKSPACE/dir-by-default" | tr '\n' ' ')" "$CAGE_UID:$CAGE_GID $CAGE_UID:$CAGE_GID " \
    "files and directories created as 1000 belong to the invoking user on the host"
cage_run --user 1234:5678 -- /bin/sh -c 'echo b > /work/by-1234'
is "$(stat -c %u:%g "$WORKSPACE/by-1234")" "$CAGE_UID:$CAGE_GID" "a file created as --user 1234:5678 belongs to the invoking user on the host"
cage_run --user 0:0 -- /bin/sh -c 'echo c > /work/by-root; chown 1001:1001 /work/by-root 2>/dev/null; chown 0:0 /work/by-root 2>/dev/null; chgrp 1001 /work/by-root 2>/dev/null; true'
is "$(stat -c %u:%g "$WORKSPACE/by-root")" "$CAGE_UID:$CAGE_GID" "container root cannot give a workspace file to another (subordinate) id"

# Host files in the workspace appear inside with the container ids their owners map to.
if [ "$(id -u)" -eq 0 ]; then
    touch "$WORKSPACE/f-user" "$WORKSPACE/f-host-root" "$WORKSPACE/f-unmapped"
    chown "$CAGE_UID:$CAGE_GID" "$WORKSPACE/f-user"
    chown 0:0 "$WORKSPACE/f-host-root"
    unmapped=4242
    [ "$MODE" = root ] || unmapped=$((uid_start + uid_count + 10))
    chown "$unmapped:$unmapped" "$WORKSPACE/f-unmapped"
    owner_inside() { cage_run "${@:2}" -- /usr/bin/cage-probe stat "/work/$1" | cut -d' ' -f1,2; }
    is "$(owner_inside f-user)" "uid=1000 gid=1000" "a file of the invoking user is 1000:1000 inside"
    if [ "$MODE" = root ]; then
        is "$(owner_inside f-host-root)" "uid=1000 gid=1000" "root mode: a file of host root is 1000:1000 inside (root is the invoking user)"
        touch "$WORKSPACE/f-sub5"
        chown "$((uid_start + 5)):$((gid_start + 5))" "$WORKSPACE/f-sub5"
        is "$(owner_inside f-sub5)" "uid=5 gid=5" "root mode: a file of subordinate id start+5 is container id 5's"
        is "$(owner_inside f-sub5 --user 5)" "uid=65534 gid=65534" "root mode: with --user 5, host root's files are 5's and start+5 is nobody's"
        cage_run --user 5 -- /bin/sh -c 'echo x > /work/by-5'
        is "$(stat -c %u:%g "$WORKSPACE/by-5")" "0:0" "root mode: what --user 5 writes is host root's"
    else
        is "$(owner_inside f-host-root)" "uid=65534 gid=65534" "rootless: a file of host root is the overflow id 65534 inside"
        touch "$WORKSPACE/f-sub0" "$WORKSPACE/f-sub1005"
        chown "$uid_start:$gid_start" "$WORKSPACE/f-sub0"
        chown "$((uid_start + 1005)):$((gid_start + 1005))" "$WORKSPACE/f-sub1005"
        is "$(owner_inside f-sub0)" "uid=0 gid=0" "rootless: the first subordinate id ($uid_start) is container root"
        is "$(owner_inside f-sub1005)" "uid=1006 gid=1006" "rootless: subordinate id start+1005 is container id 1006"
        is "$(cage_run --user 0:0 -- /usr/bin/cage-probe try-write /work/f-host-root)" "/work/f-host-root EACCES" \
            "rootless: container root cannot write a file of host root"
    fi
    is "$(owner_inside f-unmapped)" "uid=65534 gid=65534" "a file of an unmapped host id ($unmapped) is 65534 inside"
    is "$(owner_inside f-user --user 0:0)" "uid=0 gid=0" "with --user 0:0 the invoking user's files are root's inside"
else
    skip "the ownership checks need root on the host to chown"
fi

# The root filesystem's own files. As root, each layer is an idmapped mount through the
# container's user namespace: an owner on disk shows as the same id inside, for the read-only
# bind and for the overlay alike. Rootless cannot idmap a host filesystem: the files show as
# their host owners map (the user's own: the agent's).
rootfs_owner() { cage_run "${@:2}" -- /usr/bin/cage-probe stat "$1" | cut -d' ' -f1,2; }
if [ "$MODE" = root ]; then
    is "$(rootfs_owner /bin/busybox)" "uid=0 gid=0" "root mode: a rootfs file of host root is root's inside"
    is "$(rootfs_owner /bin/busybox --read-write)" "uid=0 gid=0" "root mode: ... through the overlay too"
    owned=$(scratch_dir)
    cp -a "$ROOTFS/." "$owned/"
    touch "$owned/agent-file" "$owned/other-file"
    chown 1000:1000 "$owned/agent-file"
    chown 4242:4242 "$owned/other-file"
    is "$(rootfs_owner /agent-file --rootfs "$owned")" "uid=1000 gid=1000" "root mode: a rootfs file owned by 1000 on disk is the agent's"
    is "$(rootfs_owner /other-file --rootfs "$owned")" "uid=4242 gid=4242" "root mode: a rootfs file owned by 4242 on disk is 4242 inside"
    is "$(cage_run --rootfs "$owned" --read-write --user 0:0 -- /bin/sh -c 'echo x >> /bin/busybox-copy-up; cp /etc/passwd /etc/passwd.new && /usr/bin/cage-probe stat /etc/passwd.new' | cut -d' ' -f1,2)" \
        "uid=0 gid=0" "root mode: container root writes the overlay as root"
    is "$(stat -c %u:%g "$owned/bin/busybox" "$owned/agent-file" | tr '\n' ' ')" "0:0 1000:1000 " "root mode: the rootfs on disk keeps its owners"
else
    is "$(rootfs_owner /bin/busybox)" "uid=1000 gid=1000" "rootless: the rootfs, a copy the user owns, is all the agent's (no idmapping without root)"
fi

# As root, where a bind cannot be idmapped (ramfs has no idmapped mounts, nor tmpfs before
# Linux 6.3), the container user is host root itself, the other ids still in root's range
# (and cage runs from a read-only bind of itself: t-exe-seal).
if [ "$MODE" = root ]; then
    ramfs_dir || bail "cannot mount a ramfs"
    ram=$RAMFS_DIR
    start_probe --workspace "$ram" || bail "the container's command never appeared on the host"
    is "$(map_of "$PROBE_PID" uid_map)" "$(expected_map 1000 0 "$uid_start" "$uid_count")" "fallback: uid_map is 1000 -> host root plus root's range around it"
    is "$(awk '$1 == "Uid:" {print $2}' /proc/$PROBE_PID/status)" 0 "fallback: on the host, the command runs as root"
    stop_probe
    cage_run --workspace "$ram" -- /bin/sh -c 'echo x > /work/by-default'
    is "$(stat -c %u:%g "$ram/by-default")" "0:0" "fallback: what the command writes is host root's"
    is "$(cage_run --workspace "$ram" -- /usr/bin/cage-probe stat /bin/busybox | cut -d' ' -f1,2)" "uid=0 gid=0" "fallback: the layers are still idmapped"

    # The fallback re-executes cage (t-exe-seal), and tells the copy through CAGE_HOST_ROOT_MAPS,
    # holding the pid that exec keeps, to start with host root's maps at once instead of
    # finding out again. Only cage's own pid counts: an inherited value changes nothing.
    own_map='awk "{print \$1, \$2, \$3}" /proc/self/uid_map | tr "\n" ";"'
    is "$(export CAGE_HOST_ROOT_MAPS=$BASHPID; exec "$CAGE" run --rootfs "$ROOTFS" -- /bin/sh -c "$own_map")" \
        "$(expected_map 1000 0 "$uid_start" "$uid_count")" "fallback: the re-executed cage (its pid in CAGE_HOST_ROOT_MAPS) maps host root at once"
    is "$(export CAGE_HOST_ROOT_MAPS=1; exec "$CAGE" run --rootfs "$ROOTFS" -- /bin/sh -c "$own_map")" \
        "0 $uid_start $uid_count;" "an inherited CAGE_HOST_ROOT_MAPS (not cage's pid) leaves the shifted maps"
    is "$(CAGE_HOST_ROOT_MAPS=1 "$CAGE" run --rootfs "$ROOTFS" --env CAGE_HOST_ROOT_MAPS -- /bin/sh -c 'echo "[$CAGE_HOST_ROOT_MAPS]"')" "[]" \
        "CAGE_HOST_ROOT_MAPS is cage's alone: --env cannot pass it into a container"
fi
done_testing
