#!/bin/bash
# The claude recipe (base -> node -> claude, from Debian and the npm registry) builds, and
# Claude Code runs in it under cage's default seccomp profile: `claude --version` as the agent
# user, from the layout unpacked for cage run --rootfs. Also node and npm of the node image.
# Root only (the builder needs root); the layers come from the build cache when built before.
. "$(dirname "$0")/../integration/lib.sh"

[ "$MODE" = root ] || skip_all "the image builder needs root"
command -v mmdebstrap >/dev/null || skip_all "mmdebstrap is not installed"
command -v npm >/dev/null || skip_all "npm is not installed (the builder fetches with it)"
export CAGE_BUILDER=$SOURCE_ROOT/rootfs-builder/cage-build

work=$(scratch_dir)
start=$(date +%s)
"$CAGE" build claude --output "$work/layout" >/dev/null 2>"$work/build.err"
ok $? "cage build claude succeeds" || diag "$(cat "$work/build.err")"
diag "build: $(( $(date +%s) - start ))s; $(grep -E 'built|cached' "$work/build.err" | tr '\n' ';')"

"$CAGE_BUILDER" unpack "$work/layout" claude "$work/claude"
ok $? "the claude image unpacks"
version=$(cd "$work" && "$CAGE" run --rootfs "$work/claude" --ephemeral-home -- claude --version 2>&1)
like "$version" '^[0-9]+\.[0-9]+\.[0-9]+ \(Claude Code\)' "claude --version runs inside, as agent, under the default seccomp profile"
is "$(cd "$work" && "$CAGE" run --rootfs "$work/claude" --ephemeral-home -- node -e 'console.log(process.versions.node.split(".")[0] >= 20)')" \
    true "node is 20 or newer"
like "$(cd "$work" && "$CAGE" run --rootfs "$work/claude" --ephemeral-home -- npm --version 2>&1)" '^[0-9]+\.' "npm runs"
diag "unpacked claude image: $(du -sh "$work/claude" | cut -f1)"
done_testing
