#!/bin/bash
# The rootfs is never modified: not by writes, deletions, renames, links, mode and owner
# changes, as the default user or container root, with or without --read-write; the root is a
# read-only overlay by default; --read-write changes live only as long as the container, are
# private to it, and --keep keeps them where it says, owned by the invoking user.
. "$(dirname "$0")/lib.sh"

manifest() { # path, type, mode, numeric owner, size, mtime, link target; then file hashes
    (cd "$1" && find . -printf '%p %y %m %U %G %s %T@ %l\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}
only_tmp_and_work() { printf '%s\n' "$1" | grep '^wrote ' | grep -Ev '^wrote /(tmp|work)(/| )'; }

before=$(manifest "$ROOTFS")

# Default: a read-only root; only /tmp and /work take writes. With every mount point present
# in the rootfs it is the rootfs itself, bound read-only (no overlay is needed: nothing can be
# written); a rootfs that lacks one gets a read-only overlay whose tmpfs upper holds it.
is "$(cage_run -- awk '$5 == "/" { for (i = 7; $i != "-"; i++); split($6, o, ","); root = $(i + 1) " " o[1] } END { print root }' /proc/self/mountinfo)" \
    "$(df --output=fstype "$ROOTFS" | tail -1) ro" "the root is the rootfs bound read-only"
bare=$(scratch_dir)
cp -a "$ROOTFS/." "$bare/" && rmdir "$bare/work" "$bare/tmp" "$bare/mnt"
bare_before=$(manifest "$bare")
is "$(cage_run --rootfs "$bare" -v "$bare/etc:/mnt/etc:ro" -- /bin/sh -c 'awk '"'"'$5 == "/" { for (i = 7; $i != "-"; i++); split($6, o, ","); print $(i + 1), o[1] }'"'"' /proc/self/mountinfo; ls -d /work /tmp /mnt/etc/passwd' | tr '\n' ' ')" \
    "overlay ro /mnt/etc/passwd /tmp /work " "a rootfs without /work, /tmp and a volume's mount point gets a read-only overlay holding them"
is "$(manifest "$bare")" "$bare_before" "and that rootfs is not modified: the mount points live in the overlay's upper"
for user in 1000 0; do
    out=$(cage_run --user $user --ephemeral-home -- /usr/bin/cage-probe write-everywhere)  # agent home: t-home
    like "$(printf '%s\n' "$out" | tail -1)" "^attempts=[1-9][0-9]+ succeeded=[1-9]" "--user $user: write-everywhere made its attempts"
    is "$(only_tmp_and_work "$out")" "" "--user $user: no write outside /tmp and /work succeeded"
done
is "$(cage_run --user 0 -- /usr/bin/cage-probe try-write / /etc /usr /bin/busybox /tmp /work | tr '\n' ' ')" \
    "/ EROFS /etc EROFS /usr EROFS /bin/busybox EROFS /tmp ok /work ok " "container root: EROFS on /, /etc, /usr and a binary; /tmp and /work ok"

# --read-write: everything writable, for this run only.
for user in 1000 0; do
    out=$(cage_run --user $user --read-write -- /usr/bin/cage-probe write-everywhere)
    isnt "$(only_tmp_and_work "$out")" "" "--user $user --read-write: writes to the root succeed inside"
done
is "$(cage_run --user "$ROOTFS_OWNER" --read-write -- /bin/sh -c '
    echo changed > /etc/passwd; rm -f /bin/ls; rm -rf /home; mv /etc /etc.moved && mkdir /etc
    ln /usr/bin/cage-probe /usr/bin/hardlink; ln -s /nowhere /usr/bin/dangling
    chmod 777 /usr/bin/cage-probe; touch -d 2001-01-01 /bin/busybox; mkfifo /fifo
    ls -d /etc.moved /usr/bin/hardlink /fifo; test -e /bin/ls || echo ls-gone' | tr '\n' ' ')" \
    "/etc.moved /fifo /usr/bin/hardlink ls-gone " "--read-write: deletions, renames, links, chmod and touch take effect inside"
is "$(cage_run --read-write -- /bin/sh -c 'ls -d /etc/passwd /bin/ls /home /etc.moved /usr/bin/hardlink 2>&1' | tr '\n' ' ')" \
    "ls: /etc.moved: No such file or directory ls: /usr/bin/hardlink: No such file or directory /bin/ls /etc/passwd /home " \
    "the next run sees the original root again"
is "$(cage_run -- cat /etc/passwd | head -1)" "root:x:0:0:root:/root:/bin/sh" "/etc/passwd is intact inside the next run"

# Two --read-write containers at once do not see each other's changes.
start_probe --user "$ROOTFS_OWNER" --read-write -- 'echo a > /etc/only-in-a' || bail "the container's command never appeared on the host"
is "$(cat /proc/$PROBE_PID/root/etc/only-in-a 2>/dev/null)" a "the first container wrote /etc/only-in-a"
is "$(cage_run --read-write -- /bin/sh -c 'cat /etc/only-in-a 2>/dev/null || echo absent')" absent "a second container does not see it"
ok "$([ ! -e "$ROOTFS/etc/only-in-a" ]; echo $?)" "nor does the rootfs on the host"
stop_probe

is "$(manifest "$ROOTFS")" "$before" "after all of that the rootfs is byte-identical (paths, types, modes, owners, sizes, mtimes, links, contents)"

# --keep: the upper directory stays, in the data directory of the invoking user.
if [ "$MODE" = root ]; then
    data=/var/lib/cage
else
    data=$(getent passwd "$CAGE_USER" | cut -d: -f6)/.local/share/cage
fi
name=keep-$$-$RANDOM
on_exit "rm -rf '$data/containers/$name'"
err=$(cage_run --keep --name "$name" --user "$ROOTFS_OWNER" --read-write -- /bin/sh -c 'echo kept > /etc/kept; rm /etc/group' 2>&1 >/dev/null)
upper=$data/containers/$name/upper
like "$err" "$upper" "--keep names $upper on stderr"
is "$(cat "$upper/etc/kept" 2>/dev/null)" kept "the kept file is in the upper directory on the host"
# The owner on the host is the writer's mapped id: the invoking user for the agent (rootless);
# for container root (as root), the first id of root's subordinate range.
owner_on_host=$(cage_run --user "$ROOTFS_OWNER" -- /bin/sh -c "awk '\$1 == $ROOTFS_OWNER {print \$2}' /proc/self/uid_map")
is "$(stat -c %u "$upper/etc/kept" 2>/dev/null)" "$owner_on_host" "it belongs to the writer's id on the host ($owner_on_host)"
is "$(stat -c %F "$upper/etc/group" 2>/dev/null)" "character special file" "the deletion is kept as a whiteout"
ok "$([ ! -e "$ROOTFS/etc/kept" ] && [ -e "$ROOTFS/etc/group" ]; echo $?)" "the rootfs itself is unchanged"
is "$(cage_run --read-write -- /bin/sh -c 'cat /etc/kept 2>/dev/null || echo absent')" absent "another container does not see the kept changes"
rm -rf "$data/containers/$name"

if [ "$MODE" = rootless ]; then
    xdg=$(scratch_dir)
    as_user env XDG_DATA_HOME="$xdg" "$CAGE" run --rootfs "$ROOTFS" --keep --name "$name" --read-write -- /bin/sh -c 'echo x > /etc/xdg' 2>/dev/null
    is "$(cat "$xdg/cage/containers/$name/upper/etc/xdg" 2>/dev/null)" x "rootless --keep honours XDG_DATA_HOME"
fi

# Without --keep nothing of the container stays on the host.
list_state() { ls -A "$data/containers" 2>/dev/null; }
state=$(list_state)
cage_run --read-write -- /bin/sh -c 'dd if=/dev/zero of=/big bs=1k count=64 2>/dev/null; echo x > /etc/y'
is "$(list_state)" "$state" "a --read-write run without --keep leaves nothing in the containers directory"
is "$(manifest "$ROOTFS")" "$before" "the rootfs is still byte-identical at the end"
done_testing
