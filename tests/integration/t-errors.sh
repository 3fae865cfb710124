#!/bin/bash
# Host problems reported on one line with the fix: user namespaces refused, newuidmap
# missing or failing.
. "$(dirname "$0")/lib.sh"

# User namespaces refused: inside a user namespace whose user.max_user_namespaces is 0 (the
# sysctl is per user namespace), cage's clone3 is refused as on a host that disabled them.
# Only the namespace's privileged owner may lower it, so this runs as root.
if [ "$MODE" = root ]; then
    out=$(unshare --user --map-root-user sh -c \
        'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" run --rootfs "$1" -- /bin/true' \
        "$CAGE" "$ROOTFS" 2>&1)
    status=$?
    out=$(printf '%s\n' "$out" | without_limits_warning)
    is "$status" 125 "user namespaces refused: exit 125"
    is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "user namespaces refused: one line"
    like "$out" "^cage: create the container's namespaces: .*\[/proc/sys/user/max_user_namespaces\]; .*sysctl -w user.max_user_namespaces=" "it names the sysctl and the fix"
else
    skip "lowering user.max_user_namespaces needs root (covered by the root run)"
fi

if [ "$MODE" = root ]; then
    skip "newuidmap: root writes its maps itself"
    skip "newuidmap: root writes its maps itself"
    skip "newuidmap: root writes its maps itself"
    skip "newuidmap: root writes its maps itself"
    skip "newuidmap: root writes its maps itself"
    skip "newuidmap: root writes its maps itself"
    done_testing
    exit $?
fi

# Without newuidmap/newgidmap on PATH: a single-id map and one warning line.
bin=$(scratch_dir)
for tool in sh cat; do ln -s "$(command -v $tool)" "$bin/$tool"; done
out=$(as_user env PATH="$bin" "$CAGE" run --rootfs "$ROOTFS" -- /bin/cat /proc/self/uid_map 2>"$WORKSPACE/err")
is "$(printf '%s\n' "$out" | awk '{print $1, $2, $3}')" "1000 $CAGE_UID 1" "without newuidmap: only uid 1000 is mapped"
like "$(cat "$WORKSPACE/err")" "^cage: warning: newuidmap/newgidmap not found: mapping only uid 1000 and gid 1000 \(install the uidmap package" "and one warning says how to get the range"

# fake_helpers SCRIPT: a directory holding a newuidmap and a newgidmap that are SCRIPT.
fake_helpers() {
    local dir
    dir=$(scratch_dir)
    printf '%b' "$1" > "$dir/newuidmap"
    cp "$dir/newuidmap" "$dir/newgidmap"
    chmod 755 "$dir/newuidmap" "$dir/newgidmap"
    echo "$dir"
}

# A newuidmap that fails: cage stops with its message.
fake=$(fake_helpers '#!/bin/sh\necho "newuidmap: write to uid_map failed: Operation not permitted" >&2\nexit 1\n')
out=$(as_user env PATH="$fake:/usr/bin:/bin" "$CAGE" run --rootfs "$ROOTFS" -- /bin/true 2>&1)
is "$?" 125 "a failing newuidmap: exit 125"
like "$out" "^cage: $fake/new[ug]idmap failed: newuidmap: write to uid_map failed: Operation not permitted; check the user's ranges in /etc/subuid" "a failing newuidmap: one line with its error and what to check"

# A newuidmap that cannot even be executed (its interpreter is missing): the same one line.
broken=$(fake_helpers '#!/nonexistent/interpreter\n')
out=$(as_user env PATH="$broken:/usr/bin:/bin" "$CAGE" run --rootfs "$ROOTFS" -- /bin/true 2>&1)
is "$?" 125 "a newuidmap that cannot run: exit 125"
like "$out" "^cage: $broken/new[ug]idmap failed: cannot execute it: No such file or directory; check the user's ranges" "a newuidmap that cannot run: one line naming it and why"
done_testing
