#!/bin/bash
# Images: import of OCI layouts and docker archives built here from the test rootfs, runs
# from them, whiteouts across layers, zstd, 128 layers, hostile layers refused, a killed
# import, rmi and prune. Each run has its own store (CAGE_IMAGE_STORE).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

# Debian's python3 when there is one: a python3 found first in PATH may be a slow shim.
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
MKIMAGE="$PYTHON $HERE/helpers/mkimage.py"
BUILD=$(scratch_dir)
STORE=$(scratch_dir)/store
# cagei: cage on the test's store. Runs ask for no limits, so that on a host without cgroup
# v2 cage has no warning to print into the output these tests compare.
cagei() {
    if [ "$1" = run ]; then shift; set -- run --memory max --pids max "$@"; fi
    as_user env CAGE_IMAGE_STORE="$STORE" "$CAGE" "$@"
}
# Files written as root must be readable by the cage user.
umask 022

$MKIMAGE dirlayer "$BUILD/base.tar.gz" "$ROOTFS" || bail "cannot build the base layer"
BASE=$BUILD/base.tar.gz

# --- a plain image: config applies, options override -----------------------------------
$MKIMAGE layer "$BUILD/app.tar" 'f:etc/motd=hello from the image' 'd:srv/app' 'x:usr/bin/greet=#!/bin/sh
echo "greet:$*:$GREETING:$(pwd)"'
$MKIMAGE oci "$BUILD/app" --tag v1 --config \
    '{"Env":["PATH=/usr/bin:/bin","GREETING=hi"],"Entrypoint":["/usr/bin/greet"],"Cmd":["default"],"WorkingDir":"/srv/app"}' \
    "$BASE" "$BUILD/app.tar"
out=$(cagei import "$BUILD/app" 2>"$BUILD/err")
is "$out" "localhost/app:v1" "import of an OCI layout names it localhost/<dir>:<ref.name>"
is "$(cagei run -T localhost/app:v1 2>&1)" "greet:default:hi:/srv/app" "Entrypoint, Cmd, Env and WorkingDir apply"
is "$(cagei run -T app:v1 one two 2>&1)" "greet:one two:hi:/srv/app" "COMMAND replaces Cmd after the Entrypoint; short name found"
is "$(cagei run -T -e GREETING=yo --workdir /work app:v1 x 2>&1)" "greet:x:yo:/work" "--env and --workdir override the image"
is "$(cagei run -T --image app:v1 -- x 2>&1)" "greet:x:hi:/srv/app" "--image REF works too"
id=$(cagei images --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"][7:19])')
is "$(cagei run -T "$id" x 2>&1)" "greet:x:hi:/srv/app" "an image id prefix names the image"
echo data >"$WORKSPACE/file"
is "$(cagei run -T --workdir /work app:v1 2>&1; cat "$WORKSPACE/file")" "greet:default:hi:/work
data" "the workspace is still mounted at /work"
like "$(cagei images)" "localhost/app:v1 +[0-9a-f]{12} " "cage images lists it"

# --- User from the image --------------------------------------------------------------
$MKIMAGE layer "$BUILD/user.tar" 'f:etc/passwd=root:x:0:0:root:/root:/bin/sh
svc:x:4321:4322:svc:/home/svc:/bin/sh
' 'f:etc/group=svc:x:4322:
other:x:77:
'
$MKIMAGE oci "$BUILD/user" --config '{"User":"svc"}' "$BASE" "$BUILD/user.tar"
$MKIMAGE oci "$BUILD/user2" --config '{"User":"svc:other"}' "$BASE" "$BUILD/user.tar"
cagei import "$BUILD/user" userimg >/dev/null 2>&1
cagei import "$BUILD/user2" userimg:2 >/dev/null 2>&1
is "$(cagei run -T userimg /bin/sh -c 'echo $(id -u):$(id -g):$HOME' 2>&1)" "4321:4322:/home/svc" "the image's User (a name) applies, with its group and home"
is "$(cagei run -T userimg:2 /bin/sh -c 'echo $(id -u):$(id -g)' 2>&1)" "4321:77" "User name:group resolves both"
is "$(cagei run -T -u 1000 userimg /bin/id -u 2>&1)" "1000" "--user overrides the image's User"

# --- whiteouts across three layers ----------------------------------------------------
$MKIMAGE layer "$BUILD/w1.tar" 'f:a/keep=1' 'f:a/gone=1' 'f:b/old=1' 'f:c=1' 'f:d/x=1'
$MKIMAGE layer "$BUILD/w2.tar" 'w:a/gone' 'd:b' 'o:b' 'f:b/new=2' 'w:d'
$MKIMAGE layer "$BUILD/w3.tar" 'w:c' 'f:a/gone=3' 'd:d' 'f:d/y=3'
$MKIMAGE oci "$BUILD/wh" "$BASE" "$BUILD/w1.tar" "$BUILD/w2.tar" "$BUILD/w3.tar"
cagei import "$BUILD/wh" wh >/dev/null 2>&1
out=$(cagei run -T wh /bin/sh -c 'cd /; for f in a/keep a/gone b/old b/new c d/x d/y; do
    if [ -e $f ]; then echo "$f=$(cat $f)"; else echo "$f:absent"; fi; done; ls -A /b | tr "\n" " "' 2>&1)
is "$out" "a/keep=1
a/gone=3
b/old:absent
b/new=2
c:absent
d/x:absent
d/y=3
new " "whiteouts and opaque directories hide lower layers; a higher layer brings names back"
layer2=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$BUILD/w2.tar")
ls -ln "$STORE/layers/$layer2/a/gone" 2>/dev/null | grep -q '^c.* 0, *0 ' 
ok $? "a whiteout is stored as a 0:0 character device"

# The same layer twice (identical COPY steps make such images): overlayfs takes a directory once.
$MKIMAGE layer "$BUILD/same.tar" 'f:same=same'
$MKIMAGE oci "$BUILD/dup" "$BASE" "$BUILD/same.tar" "$BUILD/w1.tar" "$BUILD/same.tar"
cagei import "$BUILD/dup" dup >/dev/null 2>&1
is "$(cagei run -T dup /bin/sh -c 'cat /same; cat /a/keep' 2>&1)" "same1" "an image with the same layer twice runs"

# Modes, owners, extended attributes and device nodes.
$MKIMAGE layer "$BUILD/meta.tar" 'u:owned=4242' 'a:tagged=hello' 'c:node=1,3'
$MKIMAGE oci "$BUILD/meta" "$BASE" "$BUILD/meta.tar"
cagei import "$BUILD/meta" meta >/dev/null 2>&1
layer=$($PYTHON -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$BUILD/meta.tar")
is "$(stat -c %a "$STORE/layers/$layer/owned")" 4750 "file modes are kept, setuid included (the root is mounted nosuid)"
is "$($PYTHON -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.cage").decode())' "$STORE/layers/$layer/tagged" 2>&1)" hello "user.* extended attributes are kept"
if [ "$MODE" = root ]; then
    is "$(stat -c %u:%g "$STORE/layers/$layer/owned")" 4242:4242 "as root, ownership is kept"
    is "$(stat -c %F:%t,%T "$STORE/layers/$layer/node")" "character special file:1,3" "as root, device nodes are created"
else
    is "$(stat -c %u:%g "$STORE/layers/$layer/owned")" "$CAGE_UID:$CAGE_GID" "rootless, files belong to the invoking user"
    [ ! -e "$STORE/layers/$layer/node" ]
    ok $? "rootless, device nodes are skipped"
fi

# --- zstd and docker-archive ------------------------------------------------------------
zstd -q -c -d "$BASE" >/dev/null 2>&1  # (gzip input: zstd may refuse; the next line decides)
gzip -dc "$BASE" | zstd -q -c >"$BUILD/base.tar.zst"
$MKIMAGE oci "$BUILD/zst" --tag z "$BUILD/base.tar.zst" "$BUILD/app.tar"
cagei import "$BUILD/zst" >/dev/null 2>&1
is "$(cagei run -T localhost/zst:z /bin/cat /etc/motd 2>&1)" "hello from the image" "a zstd-compressed layer unpacks"
$MKIMAGE docker "$BUILD/saved.tar" --tag example/saved:3 --config '{"Cmd":["/bin/cat","/etc/motd"]}' "$BASE" "$BUILD/app.tar"
is "$(cagei import "$BUILD/saved.tar" 2>/dev/null)" "docker.io/example/saved:3" "a docker-archive tarball imports under its RepoTags"
is "$(cagei run -T example/saved:3 2>&1)" "hello from the image" "and runs"
tar -C "$BUILD/app" -cf "$BUILD/app-layout.tar" .
is "$(cagei import "$BUILD/app-layout.tar" tarred:1 2>/dev/null)" "localhost/tarred:1" "a tar of an OCI layout imports, with a NAME"

# --- 128 layers ---------------------------------------------------------------------------
$MKIMAGE oci "$BUILD/many" --generate 127 "$BASE"
cagei import "$BUILD/many" many >/dev/null 2>&1
ok $? "a 128-layer image imports"
is "$(cagei run -T many /bin/sh -c 'ls /layers | wc -l; cat /top' 2>&1)" "127
127" "a 128-layer image runs, every layer visible, the top one wins"

# --- hostile layers -------------------------------------------------------------------------
OUTSIDE=$(scratch_dir)
echo original >"$OUTSIDE/victim"
chmod 666 "$OUTSIDE/victim"
layers_before=$(ls -A "$STORE/layers" | sort)
refuse() { # refuse DESCRIPTION EXPECTED-REGEX ENTRY...
    local what=$1 regex=$2 dir
    shift 2
    dir=$BUILD/evil$RANDOM$RANDOM
    $MKIMAGE layer "$dir.tar" "$@"
    $MKIMAGE oci "$dir" "$BASE" "$dir.tar"
    out=$(cagei import "$dir" evil:x 2>&1)
    local rc=$?
    [ $rc -eq 125 ] && printf '%s' "$out" | grep -Eq -- "$regex"
    ok $? "refused: $what"
    [ $rc -eq 125 ] || diag "exit $rc: $out"
    printf '%s' "$out" | grep -Eq -- "$regex" || diag "message: $out"
}
refuse "a ../ traversal" "^cage: refused layer entry: '\.\.' in name \[\.\./\.\./" "f:../../$OUTSIDE/new=x"
refuse "an absolute name" "^cage: refused layer entry: absolute name \[/" "f:$OUTSIDE/new=x"
refuse "a file through a symlink to the outside" "through a symlink \[esc/new\]" "l:esc=$OUTSIDE" "f:esc/new=x"
refuse "a file through a relative symlink escape" "through a symlink" "l:up=../../../../../../..$OUTSIDE" "f:up/new=x"
refuse "a directory through a symlinked parent" "through a symlink" "d:sub" "l:sub/link=$OUTSIDE" "d:sub/link/dir"
refuse "a hard link to an absolute path" "hard link target: absolute name" "h:hl=$OUTSIDE/victim"
refuse "a hard link with ../" "hard link target: '\.\.' in name" "h:hl=../../..$OUTSIDE/victim"
refuse "a hard link through a symlink" "through a symlink" "l:out=$OUTSIDE" "h:hl=out/victim"
refuse "a hard link to a name not in the layer" "(is not|does not exist) in the layer" "h:hl=etc/nonexistent"
$MKIMAGE layer "$BUILD/big.tar.gz" "z:big=2000000"
$MKIMAGE oci "$BUILD/big" "$BASE" "$BUILD/big.tar.gz"
out=$(as_user env CAGE_IMAGE_STORE="$STORE" CAGE_MAX_LAYER_BYTES=1000000 "$CAGE" import "$BUILD/big" big:1 2>&1)
is "$?" 125 "a layer over CAGE_MAX_LAYER_BYTES is refused"
like "$out" "larger than the limit of 1000000 bytes" "with a clear message"
is "$(ls -A "$OUTSIDE")" "victim" "nothing was written outside the store"
is "$(cat "$OUTSIDE/victim")" "original" "the hard link targets are untouched"
is "$(ls -A "$STORE/layers" | sort)" "$layers_before" "no layer of a refused image stays in the store"
unlike "$(cagei images)" "evil|big" "refused images are not listed"

# A manifest whose layer does not hash to its diff_id, and a blob that does not match.
$MKIMAGE layer "$BUILD/plain.tar" 'f:plain=1'
$MKIMAGE oci "$BUILD/baddiff" --raw-diff-id "1=sha256:$(printf '%064d' 0)" "$BASE" "$BUILD/plain.tar"
like "$(cagei import "$BUILD/baddiff" 2>&1)" "does not match the image's diff_id" "a layer whose content does not match its diff_id is refused"
$MKIMAGE layer "$BUILD/fresh.tar" 'f:fresh=1' 'z:pad=4000'
$MKIMAGE oci "$BUILD/tampered" "$BASE" "$BUILD/fresh.tar"
blob=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"][1]["digest"][7:])' "$BUILD/tampered")
chmod u+w "$BUILD/tampered/blobs/sha256/$blob"
printf 'X' | dd of="$BUILD/tampered/blobs/sha256/$blob" bs=1 seek=600 conv=notrunc 2>/dev/null
like "$(cagei import "$BUILD/tampered" 2>&1)" "does not match its digest" "a blob whose digest does not match is refused"

# --- a killed import ----------------------------------------------------------------------
$MKIMAGE layer "$BUILD/bulk.tar.gz" "z:bulk/zeros=100000000" $(for i in $(seq 500); do echo "f:bulk/f$i=$i"; done)
$MKIMAGE oci "$BUILD/bulk" "$BASE" "$BUILD/bulk.tar.gz"
(exec "${AS_USER[@]}" env CAGE_IMAGE_STORE="$STORE" "$CAGE" import "$BUILD/bulk" bulk:1 >/dev/null 2>&1) &
job=$!
sleep 0.4
kill -KILL "$job" 2>/dev/null
wait "$job" 2>/dev/null
cagei images --format json | python3 -c 'import json,sys; json.load(sys.stdin)'
ok $? "after kill -9 during import, cage images still reads a consistent store"
cagei images | grep -q "bulk" && diag "(the first attempt had completed before the kill)"
cagei import "$BUILD/bulk" bulk:1 >/dev/null 2>&1
ok $? "the import, run again, completes"
is "$(cagei run -T bulk:1 /bin/sh -c 'ls /bulk | wc -l; wc -c </bulk/zeros' 2>&1)" "501
100000000" "and the image is whole"
is "$(find "$STORE" -name '.tmp-*' | wc -l)" 0 "no temporary files remain"

# --- rmi and prune ----------------------------------------------------------------------------
cagei rmi bulk:1 >/dev/null
unlike "$(cagei images)" "bulk" "rmi removes the reference"
out=$(cagei prune 2>&1)
like "$out" "freed [0-9.]+ MB \([0-9]+ layers, [0-9]+ blobs\)" "prune says what it freed"
is "$(cagei run -T many /bin/cat /top 2>&1)" "127" "images still referenced keep working after prune"
for ref in $(cagei images --format json | python3 -c 'import json,sys; print(" ".join(i["reference"] for i in json.load(sys.stdin)))'); do
    cagei rmi "$ref" >/dev/null
done
cagei prune >/dev/null
is "$(ls -A "$STORE/layers" "$STORE/blobs/sha256" | grep -v '^$' | grep -vc ':$')" 0 "with no image left, prune empties the store"
like "$(cagei run -T nosuch:1 2>&1)" "^cage: no such image \[nosuch:1\]" "an unknown image is a clear error"
# A word that is no stored image and no reference is a command, run in its profile's image
# (base here), which is built when missing; a builder without recipes cannot.
like "$(as_user env CAGE_IMAGE_STORE="$STORE" CAGE_BUILDER=/nonexistent/cage-build "$CAGE" run -T nosuch 2>&1)" \
    "^cage: 'nosuch' runs in the base image, which is not stored and has no recipe to build it from \[base\]" \
    "a command whose image is missing and cannot be built is a clear error"

done_testing
