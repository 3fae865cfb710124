#!/bin/bash
# Persistent agent homes: the command's profile (sh -> base) has a home under the data
# directory, mounted at /home/agent, so a file written to ~ in one run is there in the next;
# --ephemeral-home and root runs (--user 0) do without it.
. "$(dirname "$0")/../integration/lib.sh"

if [ "$CAGE_USER" = root ]; then
    home=/var/lib/cage/homes/base
else
    home=$(getent passwd "$CAGE_USER" | cut -d: -f6)/.local/share/cage/homes/base
fi
token=note-$$-$RANDOM
on_exit "rm -f '$home/$token'"

is "$(cage_run -- /bin/sh -c "echo remembered >~/$token && echo \$HOME")" /home/agent "a run writes a file to its home, \$HOME"
is "$(cage_run -- /bin/sh -c "cat ~/$token")" remembered "the next run of the profile finds it"
ok "$(test -f "$home/$token"; echo $?)" "it is kept on the host in the profile's home ($home)"
is "$(stat -c %U "$home/$token")" "$CAGE_USER" "and belongs to the user who ran cage"
is "$(stat -c %a "$home")" 700 "the home is private to that user"
is "$(cage_run --ephemeral-home -- /bin/sh -c "cat ~/$token 2>/dev/null || echo absent")" absent \
    "--ephemeral-home runs without the persistent home"
is "$(cage_run --user 0:0 -- /bin/sh -c "cat /home/agent/$token 2>/dev/null || echo absent")" absent \
    "a root run (--user 0) gets no agent home"
is "$(cage_run -- /bin/sh -c 'grep " /home/agent " /proc/self/mounts | wc -l')" 1 "the home is one bind mount"

# With the home, /home/agent is the only place besides /tmp and /work that takes writes.
out=$(cage_run -- /usr/bin/cage-probe write-everywhere)
like "$(printf '%s\n' "$out" | grep '^wrote /home/agent/')" . "write-everywhere could write to the agent home"
is "$(printf '%s\n' "$out" | grep '^wrote ' | grep -Ev '^wrote /(tmp|work|home/agent)(/| )')" "" \
    "and nowhere else outside /tmp and /work"
done_testing
