#!/bin/bash
# The python and go recipes build, and their tools work inside under the default seccomp
# profile, as the agent user: python3 with venv and pip, go building and running a program.
# Root only (the builder needs root); layers come from the build cache when built before.
. "$(dirname "$0")/../integration/lib.sh"

[ "$MODE" = root ] || skip_all "the image builder needs root"
command -v mmdebstrap >/dev/null || skip_all "mmdebstrap is not installed"
export CAGE_BUILDER=$SOURCE_ROOT/rootfs-builder/cage-build

work=$(scratch_dir)
run_in() { (cd "$work" && "$CAGE" run --rootfs "$work/$1" --ephemeral-home -- "${@:2}" 2>&1) | without_limits_warning; }

for image in python go; do
    start=$(date +%s)
    "$CAGE" build "$image" --output "$work/layout" >/dev/null 2>"$work/$image.err"
    ok $? "cage build $image succeeds" || diag "$(cat "$work/$image.err")"
    diag "$image: $(( $(date +%s) - start ))s; $(grep -E "$image: (built|cached)" "$work/$image.err")"
    "$CAGE_BUILDER" unpack "$work/layout" "$image" "$work/$image"
    ok $? "the $image image unpacks"
done

like "$(run_in python sh -c 'python3 -m venv /tmp/venv && /tmp/venv/bin/python -c "import sys; print(sys.prefix)"')" \
    '^/tmp/venv$' "python3 makes and runs a venv"
like "$(run_in python pip --version)" '^pip [0-9]+' "pip runs"
cat >"$work/hello.go" <<'GO'
package main

import "fmt"

func main() { fmt.Println("hello from go") }
GO
is "$(run_in go sh -c 'cd /tmp && cp /work/hello.go . && GOCACHE=/tmp/cache go run hello.go')" "hello from go" \
    "go builds and runs a program"
done_testing
