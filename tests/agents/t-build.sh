#!/bin/bash
# cage build, as root and rootless: the base recipe and a small child recipe become an OCI
# image layout; building again from scratch (--no-cache) gives the same digests; a recipe
# naming a missing package fails with one line and leaves no output and no image; built into
# the image store, the child image runs (whiteouts honoured, owners as the image has them).
. "$(dirname "$0")/../integration/lib.sh"
. "$SOURCE_ROOT/tests/agents/agents.sh"
cat >"$work/child.yaml" <<'YAML'
# A child of base: a Debian package, a file added, a file of base deleted (a whiteout).
name: cage-test-child
parent: base
packages: [hello]
run:
  - echo built-by-cage-test >/etc/cage-test-marker
  - rm /etc/issue.net
env:
  CAGE_TEST: "yes"
entrypoint: [hello]
YAML
cat >"$work/missing.yaml" <<'YAML'
name: cage-test-missing
parent: base
packages: [cage-no-such-package]
YAML

# digest_of LAYOUT REF: the manifest digest the layout's index gives REF.
digest_of() {
    python3 -c 'import json, sys
for m in json.load(open(sys.argv[1] + "/index.json"))["manifests"]:
    if m["annotations"]["org.opencontainers.image.ref.name"] == sys.argv[2]: print(m["digest"])' "$1" "$2"
}

start=$(date +%s)
cage_in build "$work/child.yaml" --output "$work/one" >"$work/one.out" 2>"$work/one.err"
ok $? "cage build of a child recipe (and base) succeeds"
diag "first build (cached layers reused): $(( $(date +%s) - start ))s"
is "$(cat "$work/one.out")" "$work/one" "cage build prints the layout it wrote"
like "$(cat "$work/one.err")" "cage build: cage-test-child: (built|cached) sha256:" "progress is shown on stderr"
like "$(tail -1 "$work/one.err")" "^cage: built cage-test-child:latest into the OCI image layout $work/one\$" \
    "cage build names the image it built (the store's integration point)"
ok "$(test -f "$work/one/oci-layout" && test -f "$work/one/index.json"; echo $?)" "the output is an OCI image layout"
base=$(digest_of "$work/one" base:latest)
child=$(digest_of "$work/one" cage-test-child:latest)
like "$base" '^sha256:[0-9a-f]{64}$' "the layout names base:latest"
like "$child" '^sha256:[0-9a-f]{64}$' "the layout names cage-test-child:latest"
if command -v umoci >/dev/null; then
    umoci stat --image "$work/one:cage-test-child:latest" >/dev/null 2>"$work/umoci.err"
    ok $? "umoci reads the image"
fi
if command -v skopeo >/dev/null; then
    config=$(skopeo inspect --config "oci:$work/one:cage-test-child:latest" 2>&1)
    is "$(printf '%s' "$config" | python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["Entrypoint"])')" \
        "['hello']" "skopeo reads the image config (Entrypoint from the recipe)"
    like "$config" 'CAGE_TEST=yes' "the recipe's env is in the image config"
    like "$config" '"User": "agent"' "the user is inherited from base"
fi

if [ "$MODE" = root ]; then
    start=$(date +%s)
    cage_in build --no-cache "$work/child.yaml" --output "$work/two" >/dev/null 2>"$work/two.err"
    ok $? "rebuilding everything with --no-cache succeeds"
    diag "rebuild from scratch: $(( $(date +%s) - start ))s"
    what="rebuilt from scratch"
else
    # Root's build of the same recipes (from root's layer cache, filled by the root suite).
    "$BUILDER" build "$work/child.yaml" --output "$work/two" >/dev/null 2>"$work/two.err"
    ok $? "the same recipes build as root"
    what="built by root"
fi
is "$(digest_of "$work/two" base:latest)" "$base" "base $what has the same digest"
is "$(digest_of "$work/two" cage-test-child:latest)" "$child" "the child $what has the same digest"

cage_in build "$work/missing.yaml" --output "$work/missing" >/dev/null 2>"$work/missing.err"
is "$?" 125 "a recipe naming a missing package fails with exit status 125"
errors=$(grep -v '^cage build: ' "$work/missing.err")
is "$(printf '%s\n' "$errors" | wc -l)" 1 "with exactly one line on stderr besides progress" || diag "$errors"
like "$errors" '^cage: building cage-test-missing failed: Unable to locate package cage-no-such-package \[/.*\.log\]$' \
    "the line names the recipe, the missing package and the build log"
ok "$(test ! -e "$work/missing"; echo $?)" "no output is left behind"
ok "$(ls "$build_cache/tmp" | grep -c '^cage-test-missing\.' | grep -qx 0; echo $?)" "nor scratch files in the cache"

# Into the image store: every image of the chain, the child's named localhost/...; a failed
# build stores nothing.
as_user mkdir -p "$layouts/layout.killed1/layout/blobs"  # what a killed build leaves
is "$(cage_in build "$work/child.yaml" 2>"$work/store.err")" "localhost/base:latest
localhost/cage-test-child:latest" "cage build stores base and the child, and prints their references"
like "$(tail -1 "$work/store.err")" '^cage: built localhost/cage-test-child:latest and stored it' "and says so"
ok "$(test ! -e "$layouts/layout.killed1"; echo $?)" "the scratch layout of a killed build is removed by the next build"
before=$(cage_in images --format json)
cage_in build "$work/missing.yaml" >/dev/null 2>"$work/missing-store.err"
is "$?" 125 "a failed build into the store exits 125"
is "$(grep -v '^cage build: ' "$work/missing-store.err" | wc -l)" 1 "with one line on stderr"
is "$(cage_in images --format json)" "$before" "and leaves no partial image in the store"
is "$(ls -A "$layouts" 2>/dev/null)" "" "nor a layout under construction"

out=$(quiet cage_in run --image cage-test-child --entrypoint '' --ephemeral-home -- sh -c \
    'hello; cat /etc/cage-test-marker; test -e /etc/issue.net && echo issue.net-still-there; id -un; pwd')
is "$out" "Hello, world!
built-by-cage-test
agent
/work" "the stored image runs: hello works, the added file is there, the deleted one is gone, as agent in /work"

# The layers record the image's owners (root's files 0:0, the agent's home 1000:1000) whoever
# built them: a rootless build's user namespace maps them like root's.
owners() { # owners LAYOUT REF PATH...: "uid:gid path" of each PATH in the image's layers
    python3 - "$@" <<'PY'
import json, sys, tarfile
layout, ref, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
blob = lambda digest: f"{layout}/blobs/sha256/{digest.split(':')[1]}"
entry = [m for m in json.load(open(f"{layout}/index.json"))["manifests"]
         if m["annotations"]["org.opencontainers.image.ref.name"] == ref][0]
found = {}
for layer in json.load(open(blob(entry["digest"])))["layers"]:
    with tarfile.open(blob(layer["digest"])) as tar:
        for member in tar:
            if member.name.rstrip("/") in paths:
                found[member.name.rstrip("/")] = f"{member.uid}:{member.gid}"
print("\n".join(f"{found.get(path, 'missing')} {path}" for path in paths))
PY
}
is "$(owners "$work/one" cage-test-child:latest etc/passwd home/agent usr/bin/hello etc/cage-test-marker)" \
    "0:0 etc/passwd
1000:1000 home/agent
0:0 usr/bin/hello
0:0 etc/cage-test-marker" "the layers record the owners the image has, as the build's root made them"
diag "layout: $(du -sh "$work/one" | cut -f1)"
done_testing
