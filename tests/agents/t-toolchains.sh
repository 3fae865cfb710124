#!/bin/bash
# The python and go images, chosen by command and built into the store when missing: python3
# with venv and pip, go building and running a program, under the default seccomp profile as
# the agent user. Root only: the rootless build path is covered by t-build and t-claude, and
# these checks do not depend on the mode (a second go build would only add CI minutes).
. "$(dirname "$0")/../integration/lib.sh"
[ "$MODE" = root ] || skip_all "toolchain images are checked as root (rootless builds: t-build, t-claude)"
. "$SOURCE_ROOT/tests/agents/agents.sh"

like "$(quiet cage_in run python3 -c 'import sys; print(sys.version_info >= (3, 11))')" '^True$' \
    "cage run python3 builds the python image and runs python3" || diag "$(tail -3 "$work/err")"
like "$(quiet cage_in run --image python --entrypoint '' -- sh -c 'python3 -m venv /tmp/venv && /tmp/venv/bin/python -c "import sys; print(sys.prefix)"')" \
    '^/tmp/venv$' "python3 makes and runs a venv"
like "$(quiet cage_in run pip --version)" '^pip [0-9]+' "cage run pip runs pip (in the python image)"
cat >"$work/hello.go" <<'GO'
package main

import "fmt"

func main() { fmt.Println("hello from go") }
GO
chmod a+r "$work/hello.go"
is "$(quiet cage_in run --env GOCACHE=/tmp/cache go run hello.go)" "hello from go" \
    "cage run go builds the go image and go runs a program from the workspace" || diag "$(tail -3 "$work/err")"
done_testing
