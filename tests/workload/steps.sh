#!/bin/bash
# The real workloads an agent runs, as TAP, inside a container of the Debian workload rootfs
# (rootfs-builder/make-workload-rootfs.sh). Runs in the current directory (the workspace),
# with HOME and the caches in /tmp. Each step prints "ok N - what" or "not ok N - what".
set -u
export HOME=/tmp/home GOCACHE=/tmp/gocache GOPATH=/tmp/gopath GOFLAGS=-mod=mod GOTOOLCHAIN=local
export npm_config_cache=/tmp/npm-cache npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false
mkdir -p "$HOME"
n=0
step() { # step DESCRIPTION COMMAND...
    local what=$1; shift
    n=$((n + 1))
    local out
    if out=$("$@" 2>&1); then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what"
        printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
    fi
}

node_threads() {
    cat >threads.js <<'JS'
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { execFileSync, spawn } = require('child_process');
if (isMainThread) {
  const results = [];
  let done = 0;
  for (let i = 0; i < 4; i++) {
    const w = new Worker(__filename, { workerData: i });
    w.on('message', (m) => { results[i] = m; if (++done === 4) finish(results); });
    w.on('error', (e) => { console.error(e); process.exit(1); });
  }
} else {
  let s = 0; for (let k = 0; k <= 1000 * (workerData + 1); k++) s += k;
  parentPort.postMessage(s);
}
function finish(results) {
  const echoed = execFileSync('sh', ['-c', 'echo child-$((6*7))']).toString().trim();
  const child = spawn(process.execPath, ['-e', 'process.stdout.write(String(require("os").cpus().length > 0))']);
  let out = '';
  child.stdout.on('data', (d) => out += d);
  child.on('exit', (code) => {
    const ok = results.join(',') === '500500,2001000,4501500,8002000' && echoed === 'child-42' && out === 'true' && code === 0;
    console.log(ok ? 'node-ok' : 'node-bad ' + results + ' ' + echoed + ' ' + out);
    process.exit(ok ? 0 : 1);
  });
}
JS
    node threads.js | grep -qx node-ok
}

npm_local() {
    mkdir -p pkg app
    cat >pkg/package.json <<'JSON'
{ "name": "cage-local-pkg", "version": "1.2.3", "main": "index.js" }
JSON
    echo 'module.exports = () => "from-local-pkg";' >pkg/index.js
    (cd pkg && npm pack --silent >/dev/null) || return 1
    cd app && npm init -y >/dev/null && npm install --no-audit --offline ../pkg/cage-local-pkg-1.2.3.tgz >/dev/null &&
        node -e 'console.log(require("cage-local-pkg")())' | grep -qx from-local-pkg
}

python_venv() {
    python3 -m venv venv && venv/bin/python - <<'PY'
import ssl, sqlite3, multiprocessing, sys
db = sqlite3.connect(":memory:")
db.execute("create table t (x)"); db.execute("insert into t values (42)")
assert db.execute("select x from t").fetchone()[0] == 42
assert ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED
with multiprocessing.Pool(2) as pool:
    assert pool.map(abs, [-1, -2, 3]) == [1, 2, 3]
assert sys.prefix.endswith("venv")
PY
}

git_round_trip() {
    git config --global user.email agent@example.com && git config --global user.name agent &&
        git config --global init.defaultBranch main &&
        git init -q repo && echo hello >repo/file && git -C repo add file && git -C repo commit -qm first &&
        git -C repo log --oneline | grep -q first && git clone -q repo clone && test "$(cat clone/file)" = hello
}

gcc_build() {
    printf '#include <stdio.h>\n#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) { pthread_t t; void *r; pthread_create(&t, 0, f, (void *)42); pthread_join(t, &r); printf("%%ld\\n", (long)r); return 0; }\n' >prog.c &&
        gcc -O2 -pthread -o prog prog.c && test "$(./prog)" = 42
}

go_module() {
    mkdir -p gomod && cd gomod && cat >go.mod <<'GO'
module example.com/cagework

go 1.19
GO
    cat >sum.go <<'GO'
package cagework

func Sum(xs ...int) int {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total
}
GO
    cat >sum_test.go <<'GO'
package cagework

import "testing"

func TestSum(t *testing.T) {
	if Sum(1, 2, 3) != 6 {
		t.Fatal("sum")
	}
}
GO
    mkdir -p cmd/hello && cat >cmd/hello/main.go <<'GO'
package main

import (
	"fmt"
	"sync"

	"example.com/cagework"
)

func main() {
	var wg sync.WaitGroup
	results := make([]int, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) { defer wg.Done(); results[i] = cagework.Sum(i, i) }(i)
	}
	wg.Wait()
	fmt.Println(cagework.Sum(results...))
}
GO
    go build -o hello ./cmd/hello && test "$(./hello)" = 56 && go test ./... >/dev/null
}

bash_job_control() {
    bash -ic 'sleep 30 & sleep 31 & jobs | grep -c Running; kill %1; wait %1; jobs -l | grep -c Running; kill %2; wait' 2>/dev/null | tr '\n' ' ' | grep -q '^2 1 $'
}

step "node: worker threads and child processes" node_threads
step "npm: install a package from a local tarball" npm_local
step "python3: venv, ssl, sqlite3, multiprocessing" python_venv
step "git: init, add, commit, log, clone" git_round_trip
step "gcc: compile and run a threaded C program" gcc_build
step "go: build and test a module" go_module
step "bash: job control" bash_job_control
echo "1..$n"
