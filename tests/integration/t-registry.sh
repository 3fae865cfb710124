#!/bin/bash
# cage pull / login / logout against Debian's docker-registry on 127.0.0.1 (started here,
# storage in a scratch directory), images pushed with skopeo from layouts built here.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

command -v docker-registry >/dev/null || skip_all "no docker-registry (apt-get install docker-registry)"
command -v skopeo >/dev/null || skip_all "no skopeo (apt-get install skopeo)"
command -v htpasswd >/dev/null || skip_all "no htpasswd (apt-get install apache2-utils)"

PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
MKIMAGE="$PYTHON $HERE/helpers/mkimage.py"
umask 022
BUILD=$(scratch_dir)
STORE=$(scratch_dir)/store
AUTH=$(scratch_dir)/auth.json
# cagei: cage on the test's store. Runs ask for no limits, so that on a host without cgroup
# v2 cage has no warning to print into the output these tests compare.
cagei() {
    if [ "$1" = run ]; then shift; set -- run --memory max --pids max "$@"; fi
    as_user env CAGE_IMAGE_STORE="$STORE" REGISTRY_AUTH_FILE="$AUTH" "$CAGE" "$@"
}

free_port() { $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME ADDRESS [htpasswd-file]: a registry in $BUILD/NAME; sets REGISTRY.
start_registry() {
    local name=$1 address=$2 htpasswd=${3:-} port dir=$BUILD/$1 i
    port=$(free_port)
    mkdir -p "$dir"
    {
        echo "version: 0.1"
        echo "log: {level: error}"
        echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
        echo "http: {addr: '$address:$port'}"
        [ -n "$htpasswd" ] && echo "auth: {htpasswd: {realm: cage-test, path: $htpasswd}}"
    } >"$dir/config.yml"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
    REGISTRY=$address:$port
    for i in $(seq 100); do
        curl -s -o /dev/null "http://$REGISTRY/v2/" && return 0
        sleep 0.1
    done
    bail "the registry at $REGISTRY did not start: $(cat "$dir/log")"
}
push() { skopeo copy -q --dest-tls-verify=false "$@" >/dev/null 2>"$BUILD/push.err" || bail "skopeo push failed: $(cat "$BUILD/push.err")"; }

$MKIMAGE dirlayer "$BUILD/base.tar.gz" "$ROOTFS" || bail "cannot build the base layer"
$MKIMAGE layer "$BUILD/app.tar" 'f:etc/motd=pulled from a registry'
$MKIMAGE oci "$BUILD/app" --tag v1 --config '{"Cmd":["/bin/cat","/etc/motd"]}' "$BUILD/base.tar.gz" "$BUILD/app.tar"

start_registry open 127.0.0.1
OPEN=$REGISTRY
push "oci:$BUILD/app:v1" "docker://$OPEN/test/app:v1"

# --- pull and run -----------------------------------------------------------------------
out=$(cagei pull "$OPEN/test/app:v1" 2>"$BUILD/err")
is "$?" 0 "cage pull from a local registry (plain HTTP allowed for 127.0.0.1)"
is "$out" "$OPEN/test/app:v1" "it prints the canonical reference"
is "$(cagei run -T "$OPEN/test/app:v1" 2>&1)" "pulled from a registry" "the pulled image runs"
like "$(cagei images)" "^REFERENCE.*
$OPEN/test/app:v1 " "cage images lists it"
digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$OPEN/test/app:v1")
is "$(cagei pull "$OPEN/test/app@$digest" 2>/dev/null)" "$OPEN/test/app@$digest" "pull by digest"
is "$(cagei run -T "$OPEN/test/app@$digest" 2>&1)" "pulled from a registry" "and run by digest"
bad=sha256:$(printf '%064d' 1)
like "$(cagei pull "$OPEN/test/app@$bad" 2>&1)" "^cage: no such image in the registry|does not match" "a digest the registry does not have is refused"
like "$(cagei pull "$OPEN/test/missing:v1" 2>&1)" "^cage: no such image in the registry \[http://$OPEN/v2/test/missing/manifests/v1\]" "a missing image is a clear error"

# A layout that skopeo itself writes (its own gzip, its own annotations) imports.
skopeo copy -q --src-tls-verify=false "docker://$OPEN/test/app:v1" "oci:$BUILD/skopeo-layout:fromreg" >/dev/null 2>&1
is "$(cagei import "$BUILD/skopeo-layout" 2>/dev/null)" "localhost/skopeo-layout:fromreg" "an OCI layout written by skopeo imports"
is "$(cagei run -T localhost/skopeo-layout:fromreg 2>&1)" "pulled from a registry" "and runs"

# --- an index: the host's architecture, or --arch ---------------------------------------------
$MKIMAGE oci "$BUILD/multi" --tag m --index "$BUILD/base.tar.gz"
push --all "oci:$BUILD/multi:m" "docker://$OPEN/test/multi:m"
cagei pull "$OPEN/test/multi:m" >/dev/null 2>&1
host_arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
is "$(cagei run -T "$OPEN/test/multi:m" /bin/sh -c 'echo $ARCH' 2>&1)" "$host_arch" "an image index resolves to this machine's architecture"
cagei pull --arch arm64 "$OPEN/test/multi:m" >/dev/null 2>&1
is "$(cagei run -T "$OPEN/test/multi:m" /bin/sh -c 'echo $ARCH' 2>&1)" "arm64" "--arch picks another entry"
like "$(cagei pull --arch s390x "$OPEN/test/multi:m" 2>&1)" "^cage: the image has no linux/s390x variant" "a missing architecture is a clear error"

# --- plain HTTP elsewhere needs --insecure ----------------------------------------------------
start_registry other 127.0.0.2
push "oci:$BUILD/app:v1" "docker://$REGISTRY/test/app:v1"
like "$(cagei pull "$REGISTRY/test/app:v1" 2>&1)" "^cage: HTTP request failed" "a registry that is not localhost is not spoken to over plain HTTP"
is "$(cagei pull --insecure "$REGISTRY/test/app:v1" 2>/dev/null)" "$REGISTRY/test/app:v1" "--insecure allows it"

# --- a tampered blob ------------------------------------------------------------------------------
$MKIMAGE layer "$BUILD/fresh.tar" 'f:fresh=1' 'z:pad=5000'
$MKIMAGE oci "$BUILD/fresh" --tag f "$BUILD/base.tar.gz" "$BUILD/fresh.tar"
push "oci:$BUILD/fresh:f" "docker://$OPEN/test/fresh:f"
layer=$(skopeo inspect --tls-verify=false --format '{{index .Layers 1}}' "docker://$OPEN/test/fresh:f")
data=$BUILD/open/data/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer:7}/data
[ -f "$data" ] || bail "cannot find the pushed blob $data"
size=$(stat -c %s "$data")
head -c "$size" /dev/urandom >"$data"
out=$(cagei pull "$OPEN/test/fresh:f" 2>&1)
is "$?" 125 "a blob whose content does not match its digest is refused"
like "$out" "^cage: refused blob: its content does not match its digest" "with a clear message"
unlike "$(cagei images)" "fresh" "and the image is not stored"
is "$(find "$STORE" -name '.tmp-*' | wc -l)" 0 "no temporary blob stays behind"

# --- authentication -------------------------------------------------------------------------------
htpasswd -Bbn tester s3cret >"$BUILD/htpasswd" 2>/dev/null
chmod 644 "$BUILD/htpasswd"
start_registry private 127.0.0.1 "$BUILD/htpasswd"
PRIVATE=$REGISTRY
push --dest-creds tester:s3cret "oci:$BUILD/app:v1" "docker://$PRIVATE/team/app:v1"
like "$(cagei pull "$PRIVATE/team/app:v1" 2>&1)" "^cage: the registry needs credentials \[$PRIVATE\]; run 'cage login $PRIVATE'" "without credentials the pull is refused"
like "$(cagei login -u tester -p wrong "$PRIVATE" 2>&1)" "^cage: the registry refused the credentials" "login with a wrong password fails"
[ ! -s "$AUTH" ]
ok $? "and stores nothing"
like "$(echo s3cret | cagei login -u tester --password-stdin "$PRIVATE" 2>&1)" "^Login succeeded: $PRIVATE" "login with the right password succeeds"
is "$(stat -c %a "$AUTH")" 600 "the auth file is private"
is "$(cagei pull "$PRIVATE/team/app:v1" 2>/dev/null)" "$PRIVATE/team/app:v1" "then the pull works"
is "$(cagei run -T "$PRIVATE/team/app:v1" 2>&1)" "pulled from a registry" "and the image runs"
like "$(cagei logout "$PRIVATE" 2>&1)" "^Removed login credentials for $PRIVATE" "logout"
like "$(cagei pull "$PRIVATE/team/app:v1" 2>&1)" "needs credentials" "after logout the pull is refused again"
home=$(scratch_dir)
mkdir -p "$home/.docker"
printf '{"auths":{"http://%s":{"auth":"%s"}}}\n' "$PRIVATE" "$(printf tester:s3cret | base64)" >"$home/.docker/config.json"
chown -R "$CAGE_UID:$CAGE_GID" "$home/.docker"
out=$(as_user env HOME="$home" CAGE_IMAGE_STORE="$STORE" "$CAGE" pull "$PRIVATE/team/app:v1" 2>&1)
is "$?" 0 "credentials in ~/.docker/config.json are used"

# --- bearer tokens, as docker.io hands them out ----------------------------------------------------
# start_token_front NAME [USER:PASSWORD]: a token-demanding front of the open registry; sets FRONT.
start_token_front() {
    local port i
    port=$(free_port)
    $PYTHON "$HERE/helpers/token-registry.py" "$port" "$OPEN" "$BUILD/$1.log" ${2:+"$2"} &
    on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
    FRONT=127.0.0.1:$port
    for i in $(seq 100); do
        curl -s -o /dev/null "http://$FRONT/v2/" && return 0
        sleep 0.1
    done
    bail "the token front did not start"
}
start_token_front anon
is "$(cagei pull "$FRONT/test/app:v1" 2>/dev/null)" "$FRONT/test/app:v1" "an anonymous bearer token from the realm of the challenge"
like "$(cat "$BUILD/anon.log")" "token scope=repository:test/app:pull user=-" "asked for pull access to that repository, without credentials"
start_token_front tokened tester:s3cret
like "$(cagei pull "$FRONT/test/app:v1" 2>&1)" "^cage: the registry refused the credentials \[$FRONT\]; run 'cage login $FRONT'" "a token service that wants credentials refuses an anonymous pull"
cagei login -u tester -p s3cret "$FRONT" >/dev/null 2>&1
ok $? "login through the token service"
is "$(cagei pull "$FRONT/test/app:v1" 2>/dev/null)" "$FRONT/test/app:v1" "then the pull gets a token with the credentials"
like "$(tail -1 "$BUILD/tokened.log")" "token scope=repository:test/app:pull user=tester" "which were sent to the token service"
cagei logout "$FRONT" >/dev/null 2>&1

# --- a killed pull ---------------------------------------------------------------------------------
$MKIMAGE layer "$BUILD/bulk1.tar.gz" "z:bulk/a=60000000" 'f:bulk/one=1'
$MKIMAGE layer "$BUILD/bulk2.tar.gz" "z:bulk/b=60000000" 'f:bulk/two=2'
$MKIMAGE oci "$BUILD/bulk" --tag b "$BUILD/base.tar.gz" "$BUILD/bulk1.tar.gz" "$BUILD/bulk2.tar.gz"
push "oci:$BUILD/bulk:b" "docker://$OPEN/test/bulk:b"
(exec "${AS_USER[@]}" env CAGE_IMAGE_STORE="$STORE" "$CAGE" pull "$OPEN/test/bulk:b" >/dev/null 2>&1) &
job=$!
sleep 0.3
kill -KILL "$job" 2>/dev/null
wait "$job" 2>/dev/null
cagei images --format json | $PYTHON -c 'import json,sys; json.load(sys.stdin)'
ok $? "after kill -9 during a pull, cage images reads a consistent store"
cagei images | grep -q "bulk" && diag "(the first attempt had completed before the kill)"
is "$(cagei pull "$OPEN/test/bulk:b" 2>/dev/null)" "$OPEN/test/bulk:b" "the pull, run again, completes"
is "$(cagei run -T "$OPEN/test/bulk:b" /bin/sh -c 'cat /bulk/one /bulk/two; echo; wc -c </bulk/b' 2>&1)" "12
60000000" "and the image is whole"
is "$(find "$STORE" -name '.tmp-*' | wc -l)" 0 "no temporary files remain"

done_testing
