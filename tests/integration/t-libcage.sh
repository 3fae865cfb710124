#!/bin/bash
# libcage embedded in another program: examples/embed.cpp, built against the static library.
. "$(dirname "$0")/lib.sh"
[ -n "${EMBED_EXAMPLE:-}" ] && [ -x "$EMBED_EXAMPLE" ] || skip_all "EMBED_EXAMPLE is not built"

out=$(as_user "$EMBED_EXAMPLE" "$ROOTFS" /bin/sh -c 'echo embedded from $(hostname); exit 3')
is "$?" 3 "the embedder gets the command's exit status"
like "$out" "^embedded from embedded" "the command ran in the container the Spec described"
like "$out" "embed: exit 3 after [0-9.]+ ms" "the Result reports the status and the elapsed time"
out=$(as_user "$EMBED_EXAMPLE" "$ROOTFS" /bin/sh -c 'cage-probe syscall mount 0 0 0 0 0; cage-probe syscall getpid' 2>&1)
like "$out" "^EPERM" "the embedder's seccomp filter (the built-in default) refuses mount"
like "$out" "embed: refused mount \(pid [0-9]+, cage-probe\)" "and the embedder's on_denial callback hears of it"
like "$out" "ok" "what the filter allows goes through"
out=$(as_user "$EMBED_EXAMPLE" /nonexistent-rootfs /bin/true 2>&1)
is "$?" 125 "an error comes back as cage::Error with exit code 125"
like "$out" "^embed: cannot use the root filesystem: No such file or directory \[/nonexistent-rootfs\]" "and its message names the path"
out=$(as_user "$EMBED_EXAMPLE" "$ROOTFS" /nope 2>&1)
is "$?" 127 "command not found: 127"
done_testing
