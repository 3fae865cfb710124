# Shared by the agent tests (sourced after ../integration/lib.sh): cage run as the test user
# (root, or the unprivileged user of the rootless suite) from the workspace $work, with an
# image store and data directory of its own, and the builder of this source tree.
command -v mmdebstrap >/dev/null || skip_all "mmdebstrap is not installed"
command -v npm >/dev/null || skip_all "npm is not installed (the builder fetches with it)"

BUILDER=$SOURCE_ROOT/rootfs-builder/cage-build
work=$(scratch_dir)
data=$work/data
as_user mkdir -p "$data"
if [ "$MODE" = root ]; then
    homes=/var/lib/cage/homes
    build_cache=/var/cache/cage/build
    layouts=/var/cache/cage/build-layouts
else
    user_home=$(getent passwd "$CAGE_USER" | cut -d: -f6)
    homes=$data/cage/homes
    build_cache=$user_home/.cache/cage/build
    layouts=$user_home/.cache/cage/build-layouts
fi

cage_in() {
    (cd "$work" && "${AS_USER[@]}" env CAGE_BUILDER="$BUILDER" CAGE_IMAGE_STORE="$work/store" \
        XDG_DATA_HOME="$data" "$CAGE" "$@")
}
# cage_in, its stderr kept in $work/err, the cgroup v1 host's limits warning left out.
quiet() { "$@" 2>"$work/err" | without_limits_warning; }
