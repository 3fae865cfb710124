#!/bin/bash
# `cage run COMMAND` picks the image by the command's agent profile and builds it into the
# image store when it is missing: claude and gemini print their versions, python3 computes,
# a plain command runs in base; all as the agent user (uid 1000) in /work, as root and
# rootless, from an empty image store (the builder's layer cache makes later runs fast).
. "$(dirname "$0")/../integration/lib.sh"
. "$SOURCE_ROOT/tests/agents/agents.sh"

start=$(date +%s)
stored=$(cage_in build claude 2>"$work/build.err")
ok $? "cage build claude builds base, node and claude and stores them" || diag "$(tail -5 "$work/build.err")"
diag "build: $(( $(date +%s) - start ))s; $(grep -E 'built|cached' "$work/build.err" | tr '\n' ';')"
is "$stored" "localhost/base:latest
localhost/node:latest
localhost/claude:latest" "it prints every image of the chain it stored, claude's last"
like "$(cage_in images)" "localhost/claude:latest" "cage images lists the claude image"

# claude runs with the user-mode network where this user can open /dev/net/tun (mode 0666, as
# udev makes it; without udev it may be root's alone), else with none and a warning.
if command -v slirp4netns >/dev/null && as_user test -r /dev/net/tun -a -w /dev/net/tun; then
    usernet=yes no_network_warning='^$'
else
    usernet=no no_network_warning='^cage: warning: running the agent without a network: '
fi
version=$(quiet cage_in run claude --version)
like "$version" '^[0-9]+\.[0-9]+\.[0-9]+ \(Claude Code\)$' "cage run claude --version prints Claude Code's version"
is "$(grep -v -e '^cage: warning: resource limits' -e "$no_network_warning" "$work/err")" "" \
    "and nothing else: the image was there, nothing was built"
if [ $usernet = yes ]; then
    is "$(quiet cage_in run --image claude --entrypoint '' -- sh -c 'cat /etc/resolv.conf; ls /sys/class/net | tr "\n" " "')" \
        "nameserver 10.0.2.3
lo tap0 " "claude runs with the user-mode network: tap0, and slirp4netns's DNS forwarder"
else
    like "$(cat "$work/err")" "$no_network_warning" "claude runs without a network here, and says so ($CAGE_USER cannot open /dev/net/tun)"
fi
is "$(quiet cage_in run --image claude --entrypoint '' -- sh -c 'id -u; id -un; pwd; command -v claude')" "1000
agent
/work
/usr/local/bin/claude" "claude's image runs as the agent user (uid 1000) in /work"

# The home of the claude profile persists between runs, on the host.
token=note-$$-$RANDOM
on_exit "rm -f '$homes/claude/$token'"
quiet cage_in run --image claude --entrypoint sh -- -c "echo kept >~/$token"
is "$(quiet cage_in run --image claude --entrypoint cat -- "/home/agent/$token")" kept \
    "a file written to ~ in one run is there in the next"
is "$(stat -c %U "$homes/claude/$token" 2>&1)" "$CAGE_USER" "it is kept on the host in the claude profile's home"

start=$(date +%s)
version=$(quiet cage_in run gemini --version)
like "$version" '^[0-9]+\.[0-9]+\.[0-9]+$' "cage run gemini --version builds the gemini image and prints Gemini CLI's version"
like "$(head -1 "$work/err")" '^cage: the gemini image is not built yet: building it from its recipe' \
    "with a one-line notice first"
like "$(cat "$work/err")" 'cage build: gemini: (built|cached) sha256:' "and the build's progress"
diag "gemini: $(( $(date +%s) - start ))s"

is "$(quiet cage_in run python3 -c 'print(6*7)')" 42 "cage run python3 -c 'print(6*7)' prints 42 (in the python image)"
like "$(cage_in images)" "localhost/python:latest" "the python image was built for it"

is "$(quiet cage_in run sh -c 'id -u; pwd; test -e /usr/bin/node && echo node || echo no-node')" "1000
/work
no-node" "a command no profile claims runs in base, as uid 1000 in /work"
touch "$work/workspace-marker"
like "$(quiet cage_in run ls /work)" workspace-marker "the workspace is the current directory"

cage_in run registry.invalid/no/such:1 true >/dev/null 2>"$work/err"
is "$?" 125 "a word that reads like a reference is an image: a missing one is an error (exit 125)"
like "$(grep -v '^cage: warning' "$work/err")" '^cage: no such image' "saying so"
done_testing
