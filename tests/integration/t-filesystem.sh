#!/bin/bash
# The container's filesystem: an immutable rootfs, masked kernel files, /dev, /tmp, the
# workspace, volumes, and mount targets that try to point outside the root.
. "$(dirname "$0")/lib.sh"

manifest() { # every path with type, mode, owner, size, mtime, link target, and file hashes
    (cd "$1" && find . -printf '%p %y %m %u %g %s %T@ %l\n' | sort &&
        find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

before=$(manifest "$ROOTFS")
out=$(cage_run --ephemeral-home -- /usr/bin/cage-probe write-everywhere)  # no agent home (t-home)
summary=$(printf '%s\n' "$out" | tail -1)
like "$summary" "^attempts=[0-9]+ succeeded=" "write-everywhere ran ($summary)"
unlike "$(printf '%s\n' "$out" | grep '^wrote' | grep -Ev '^wrote /(tmp|work)[/ ]')" "." "only /tmp and /work accepted writes"
cage_run --user "$ROOTFS_OWNER" --read-write -- /usr/bin/cage-probe write-everywhere >/dev/null
cage_run --user "$ROOTFS_OWNER" --read-write -- /bin/sh -c 'echo changed > /etc/passwd; rm -f /bin/ls; mkdir /newdir'
is "$(manifest "$ROOTFS")" "$before" "the rootfs is byte-identical after runs that tried to write everywhere"

is "$(cage_run --user "$ROOTFS_OWNER" -- /usr/bin/cage-probe try-write /etc/passwd /usr/bin /)" "/etc/passwd EROFS
/usr/bin EROFS
/ EROFS" "the root is read-only by default"
is "$(cage_run --user "$ROOTFS_OWNER" --read-write -- /bin/sh -c 'echo new > /etc/x && cat /etc/x')" new "--read-write lets the command write to the root"
is "$(cage_run --read-write -- /bin/sh -c 'cat /etc/x 2>/dev/null || echo absent')" absent "writes to the root are gone in the next run"

name=keep-$$-$RANDOM
err=$(cage_run --keep --name "$name" --user "$ROOTFS_OWNER" --read-write -- /bin/sh -c 'echo kept > /etc/kept' 2>&1 >/dev/null)
upper=$(printf '%s' "$err" | sed -n 's/^cage: kept the container.s changes in //p')
like "$upper" "/cage/containers/$name/upper$" "--keep reports where the changes are"
[ -n "$upper" ] && on_exit "rm -rf '$(dirname "$upper")'"
is "$(cat "$upper/etc/kept" 2>/dev/null)" kept "--keep keeps the upper directory on the host"

# /proc and /sys: masked and read-only paths.
kcore=$(probe kcore)
if [ -e /proc/kcore ]; then is "$kcore" "bytes=0" "/proc/kcore is masked"; else is "$kcore" "error=ENOENT" "/proc/kcore is absent (as on the host)"; fi
is "$(cage_run -- /bin/sh -c 'wc -c < /proc/timer_list; wc -c < /proc/keys' | tr -d ' ' | tr '\n' ' ')" "0 0 " "/proc/timer_list and /proc/keys are masked"
is "$(cage_run -- /usr/bin/cage-probe stat /proc/keys | sed 's/.*type=\([a-z]*\) rdev=\(.*\)/\1 \2/')" "char 1:3" "a masked file is /dev/null"
is "$(cage_run -- /bin/sh -c 'ls -A /sys/firmware | wc -l' | tr -d ' ')" 0 "/sys/firmware is empty"
like "$(cage_run --user 0 -- /usr/bin/cage-probe try-write /proc/sys/kernel/hostname)" "^/proc/sys/kernel/hostname (EROFS|EACCES)$" "/proc/sys refuses writes"
like "$(cage_run -- /bin/sh -c 'grep " /proc/sys " /proc/self/mountinfo')" " ro," "/proc/sys is a read-only mount"
like "$(cage_run --user 0 -- /usr/bin/cage-probe try-write /proc/sysrq-trigger /proc/irq)" "^/proc/sysrq-trigger (EROFS|ENOENT)
/proc/irq EROFS$" "/proc/sysrq-trigger and /proc/irq are read-only"
like "$(cage_run --user 0 -- /usr/bin/cage-probe try-write /sys/kernel/uevent_helper /sys/class)" "EROFS" "/sys is read-only"
is "$(cage_run -- /bin/sh -c 'exec ls /proc' | grep -c '^[0-9]')" 2 "/proc shows only the container's processes (init and ls)"

# /dev
is "$(cage_run -- /bin/sh -c 'ls -A /dev | tr "\n" " "')" "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " "/dev holds only the minimal set"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    is "$(probe stat /dev/${node%%:*} | sed 's/.*type=\([a-z]*\) rdev=\(.*\)/\1:\2/')" "char:${node#*:}" "/dev/${node%%:*} is the right device"
done
is "$(cage_run -- /bin/sh -c 'echo x > /dev/null && head -c 4 /dev/zero | wc -c' | tr -d ' ')" 4 "/dev/null and /dev/zero work"
host_modes() { stat -c %a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | tr '\n' ' '; }
modes=$(host_modes)
[ "$MODE" = root ] && on_exit "chmod 666 /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty"
for user in 1000 0; do
    is "$(cage_run --user $user --read-write -- /bin/sh -c 'chmod 600 /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty 2>&1; touch /dev/null 2>&1; echo $?')" \
        "chmod: /dev/null: Read-only file system
chmod: /dev/zero: Read-only file system
chmod: /dev/full: Read-only file system
chmod: /dev/random: Read-only file system
chmod: /dev/urandom: Read-only file system
chmod: /dev/tty: Read-only file system
touch: /dev/null: Read-only file system
1" "user $user cannot chmod or touch the device nodes: they are the host's inodes"
    is "$(host_modes)" "$modes" "the host's device nodes keep their modes after user $user tried"
done
is "$(probe stat /dev/shm | sed 's/.*mode=\([0-7]*\).*/\1/')" 1777 "/dev/shm is a sticky world-writable tmpfs"

# /tmp and the workspace
is "$(probe stat /tmp | sed 's/.*mode=\([0-7]*\).*/\1/')" 1777 "/tmp is sticky and world-writable"
is "$(cage_run -- /bin/sh -c 'for d in /dev /dev/shm /tmp; do /usr/bin/cage-probe stat $d | cut -d" " -f1,2; done' | tr '\n' ' ')" \
    "uid=0 gid=0 uid=0 gid=0 uid=0 gid=0 " "/dev, /dev/shm and /tmp belong to container root"
is "$(probe try-write /dev/new-node)" "/dev/new-node EACCES" "the command cannot add entries to /dev"
is "$(cage_run -- /bin/sh -c 'grep " /tmp " /proc/mounts | cut -d" " -f3')" tmpfs "/tmp is a tmpfs"
is "$(probe cwd)" /work "the workspace is the working directory"
echo hello > "$WORKSPACE/hello"
is "$(cage_run -- cat /work/hello)" hello "the current directory is mounted at /work"
is "$(cage_run --workdir /src -- /bin/sh -c 'pwd; cat hello')" "/src
hello" "--workdir moves it"
other=$(scratch_dir)
echo other > "$other/file"
is "$(cage_run -w "$other" -- cat /work/file)" other "-w picks another workspace"
vol=$(scratch_dir)
echo vol > "$vol/v"
chmod 666 "$vol/v"
is "$(cage_run --volume "$vol:/data" -- /bin/sh -c 'cat /data/v; echo w > /data/w && echo wrote')" "vol
wrote" "--volume SRC:DST mounts read-write"
is "$(cage_run --volume "$vol:/data:ro" -- /usr/bin/cage-probe try-write /data/v)" "/data/v EROFS" "--volume SRC:DST:ro is read-only"
is "$(cage_run --volume "$vol/v:/etc/v.conf:ro" -- cat /etc/v.conf)" vol "a single file can be a volume"

# A rootfs whose mount targets are symlinks pointing outside it: the mounts must land inside.
evil=$(scratch_dir)
cp -a "$ROOTFS/." "$evil/"
chmod -R a+rX "$evil"
target=$(scratch_dir)
rm -rf "$evil/work" "$evil/tmp" "$evil/dev"
ln -s "$target" "$evil/work"
var_target=$(mktemp -d /var/tmp/cage-evil.XXXXXX)
chmod 777 "$var_target"
on_exit "rm -rf '$var_target'"
mkdir -p "$evil$var_target" && chmod 777 "$evil$var_target"
ln -s "../../../../../..$var_target" "$evil/tmp"
mountinfo_before=$(wc -l < /proc/self/mountinfo)
out=$(as_user "$CAGE" run --rootfs "$evil" -- /bin/sh -c 'echo inside > /work/marker; echo t > /tmp/marker && echo started' 2>&1 | without_limits_warning)
is "$out" started "the container starts with /work and /tmp as symlinks out of the rootfs"
is "$(ls -A "$target" "$var_target")" "$target:

$var_target:" "mounts through symlinks in the rootfs never reach the host paths they name"
is "$(readlink "$evil/work")" "$target" "the hostile rootfs itself is unchanged"
is "$(wc -l < /proc/self/mountinfo)" "$mountinfo_before" "the host's mount table is unchanged"
rm -rf "$evil/dev"
ln -s /proc/self/cwd "$evil/dev"
out=$(as_user "$CAGE" run --rootfs "$evil" -- /bin/true 2>&1)
status=$?
is "$status" 125 "a mount target through a magic link is refused"
like "$out" "^cage: open inside the container root: Too many levels of symbolic links \[/dev\]$" "with one line naming the path"
done_testing
