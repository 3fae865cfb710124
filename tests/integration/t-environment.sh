#!/bin/bash
# The environment: only TERM, LANG, LC_*, TZ, COLORTERM and --env variables reach the command,
# plus PATH, HOME and USER of the container user; nothing else of the caller's environment,
# secrets in particular, is in any process of the container.
. "$(dirname "$0")/lib.sh"

HOST_HOME=$(getent passwd "$CAGE_USER" | cut -d: -f6)
# run_env VAR=VALUE... -- CAGE-RUN-ARGS...: cage run with exactly these variables in its
# environment (plus a PATH and HOME for cage itself), whatever the mode.
run_env() {
    local vars=()
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    as_user env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOST_HOME" "${vars[@]}" "$CAGE" run --rootfs "$ROOTFS" "$@"
}
keys() { cut -d= -f1 | tr '\n' ' '; }
value() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }
secrets=(SECRET=hunter2 AWS_SECRET_ACCESS_KEY=aws-secret GITHUB_TOKEN=ghp_secret ANTHROPIC_API_KEY=sk-secret
    LD_LIBRARY_PATH=/nonexistent BASH_ENV=/evil.sh ENV=/evil.sh SSH_AUTH_SOCK=/tmp/agent.sock)
passed=(TERM=xterm-test LANG=C.UTF-8 LC_ALL=C LC_MESSAGES=POSIX TZ=Europe/Paris COLORTERM=truecolor)

env_in=$(run_env "${secrets[@]}" "${passed[@]}" -- -- /usr/bin/cage-probe env)
is "$(printf '%s\n' "$env_in" | keys)" "COLORTERM HOME LANG LC_ALL LC_MESSAGES PATH TERM TZ USER " \
    "exactly the pass-through variables plus PATH, HOME and USER reach the command"
for kv in "${passed[@]}"; do
    is "$(value "$env_in" "${kv%%=*}")" "${kv#*=}" "${kv%%=*} keeps its value"
done
is "$(value "$env_in" PATH)" /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "PATH is the container's default, not the caller's"
is "$(value "$env_in" HOME) $(value "$env_in" USER)" "/home/agent agent" "HOME and USER of uid 1000 come from the rootfs's /etc/passwd"
is "$(run_env -- -- /usr/bin/cage-probe env | keys)" "HOME PATH USER " "with an empty caller environment: PATH, HOME and USER only"

# HOME and USER follow --user.
is "$(run_env -- --user 0:0 -- /usr/bin/cage-probe env | grep -E '^(HOME|USER)=' | tr '\n' ' ')" "HOME=/root USER=root " "--user 0: HOME=/root USER=root"
is "$(run_env -- --user 65534 -- /usr/bin/cage-probe env | grep -E '^(HOME|USER)=' | tr '\n' ' ')" "HOME=/nonexistent USER=nobody " "--user 65534: nobody's HOME and USER"

# --env
got=$(run_env SECRET=hunter2 COPIED=from-host TERM=xterm-test -- --env K=V --env COPIED --env MISSING --env EMPTY= \
    --env 'EQ=a=b' --env 'SPACE=a b' --env TERM=dumb --env PATH=/bin --env HOME=/tmp -- /usr/bin/cage-probe env)
is "$(value "$got" K)" V "--env K=V sets K"
is "$(value "$got" COPIED)" from-host "--env K copies K from the caller's environment"
is "$(printf '%s\n' "$got" | grep -c '^MISSING=')" 0 "--env K for a variable the caller does not have: K is absent"
is "$(printf '%s\n' "$got" | grep -c '^EMPTY=$')" 1 "--env K= sets K to the empty string"
is "$(value "$got" EQ)" a=b "--env K=a=b: the value keeps its '='"
is "$(value "$got" SPACE)" "a b" "--env keeps spaces"
is "$(value "$got" TERM)" dumb "--env overrides a pass-through variable"
is "$(value "$got" PATH) $(value "$got" HOME)" "/bin /tmp" "--env overrides PATH and HOME"
is "$(printf '%s\n' "$got" | grep -c '^SECRET=')" 0 "a secret the caller has is still not passed"
is "$(run_env SECRET=hunter2 -- --env SECRET -- /usr/bin/cage-probe env | grep '^SECRET=')" SECRET=hunter2 "--env SECRET passes it on request"

# No process of the container holds the caller's secrets: the command nor cage's pid 1
# (seen from the host, /proc/PID/environ).
secret_token=cage-secret-$$-$RANDOM
as_user env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOST_HOME" CAGE_TEST_SECRET="$secret_token" \
    "$CAGE" run --rootfs "$ROOTFS" -- /usr/bin/cage-probe sleep 60 "tok-$secret_token" >/dev/null 2>&1 &
job=$!
on_exit "_kill_job $job"
pid=$(find_probe_pid "tok-$secret_token")
if [ -n "$pid" ]; then
    init=$(awk '$1 == "PPid:" {print $2}' /proc/$pid/status)
    is "$(tr '\0' '\n' </proc/$pid/environ | grep -c "$secret_token")" 0 "the command's environment (from the host) holds no secret"
    is "$(cat /proc/$init/comm)" cage-init "found the container's pid 1"
    is "$(tr '\0' '\n' </proc/$init/environ | grep -c "$secret_token")" 0 "cage's pid 1 inside the container holds no secret of the caller either"
else
    ok 1 "the container's command appeared on the host"
fi
_kill_job "$job"

# The working directory and the process's view of itself.
is "$(probe cwd)" /work "the command starts in /work"
is "$(cage_run --workdir /src -- /usr/bin/cage-probe cwd)" /src "--workdir moves the start directory"
is "$(cage_run -- /bin/sh -c 'for a; do printf "[%s]" "$a"; done' sh 'a  b' '' '*' '$HOME' "'")" "[a  b][][*][\$HOME][']" \
    "arguments reach the command unchanged (spaces, empty, glob, \$, quote)"
is "$( (trap '' INT QUIT PIPE HUP; cage_run -- /bin/grep -E '^Sig(Blk|Ign)' /proc/self/status) | tr -s '\t' ' ' | tr '\n' ' ')" \
    "SigBlk: 0000000000000000 SigIgn: 0000000000000000 " "the command starts with no blocked and no ignored signal, even if the caller ignored some"

# An agent's profile passes its own credentials from the caller's environment, when set there,
# and no other agent's. (A script in the workspace named claude selects claude's profile.)
printf '#!/bin/sh
env | grep -E "^(ANTHROPIC|OPENAI)_" | sort
' >"$WORKSPACE/claude"
chmod 755 "$WORKSPACE/claude"
with_keys() { as_user env ANTHROPIC_API_KEY=sk-test-$$ OPENAI_API_KEY=other-$$ "$CAGE" run --rootfs "$ROOTFS" \
    --ephemeral-home --network none "$@"; }
is "$(with_keys -- /work/claude)" "ANTHROPIC_API_KEY=sk-test-$$" "claude's profile passes ANTHROPIC_API_KEY, not codex's key"
is "$(with_keys --env ANTHROPIC_API_KEY=given -- /work/claude)" "ANTHROPIC_API_KEY=given" "--env wins over the profile's"
is "$(with_keys -- /bin/sh -c 'echo ${ANTHROPIC_API_KEY:-unset} ${OPENAI_API_KEY:-unset}')" "unset unset" \
    "a command of no agent's profile gets neither"
done_testing
