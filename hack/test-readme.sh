#!/usr/bin/env bash
# Runs every command in README.md's ```sh blocks as a newcomer would paste them, and
# fails on the first that does not do what the README says: exit 0, or exit 1 where the
# line says "# exit 1". A line ending in "&" starts a server in the background. Lines
# saying "not run by hack/test-readme.sh" are skipped (the reason is on the line: make
# test is CI's own step). `make run` is run last, in the background, with the lines that
# say "(needs make run)"; then it gets Ctrl-C and must leave nothing running.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"   # so `kubectl crmauthz` finds bin/kubectl-crmauthz

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

mapfile -t lines < <(awk '/^```sh$/{on=1; next} /^```/{on=0} on' README.md)
later=()
ran=0

# run LINE: runs one README line and checks its exit status.
run() {
  local line=$1 cmd want=0 out got
  cmd=$(sed 's/[[:space:]]*#.*$//' <<<"$line")
  [[ "$line" == *"# exit 1"* ]] && want=1
  echo "-- $cmd"
  if [[ "$cmd" == *"&" ]]; then
    bash -c "exec ${cmd%&}" > "/tmp/readme-bg.$$.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -sf localhost:8080/readyz >/dev/null 2>&1 && return 0; sleep 0.1; done
    cat "/tmp/readme-bg.$$.log"; fail "$cmd did not become ready"
  fi
  out=$(bash -c "$cmd" 2>&1); got=$?
  printf '%s\n' "$out" | head -4
  [[ $got -eq $want ]] || { printf '%s\n' "$out"; fail "exit $got, the README says $want: $cmd"; }
  if [[ "$cmd" == curl* ]] && ! grep -q '"revision"\|"tenant"' <<<"$out"; then fail "no decision in the answer of: $cmd"; fi
  ran=$((ran+1))
}

for line in "${lines[@]}"; do
  cmd=$(sed 's/[[:space:]]*#.*$//' <<<"$line")
  [[ -z "${cmd// }" ]] && continue
  if [[ "$line" == *"not run by hack/test-readme.sh"* ]]; then echo "-- skipped: $cmd"; continue; fi
  if [[ "$cmd" == "make run"* || "$line" == *"(needs make run)"* ]]; then later+=("$line"); continue; fi
  run "$line"
done
cleanup; pids=()

# make run, in its own process group so that Ctrl-C (SIGINT) reaches all of it.
before=$(pgrep -c -f 'bin/k8s/(kube-apiserver|etcd)' || true)
log=/tmp/readme-run.$$.log
for line in "${later[@]}"; do
  cmd=$(sed 's/[[:space:]]*#.*$//' <<<"$line")
  if [[ "$cmd" == "make run"* ]]; then
    echo "-- $cmd   (in the background)"
    setsid bash -c "exec $cmd" > "$log" 2>&1 &
    runpid=$!
    for _ in $(seq 1 1800); do grep -q "Press Ctrl-C" "$log" && break; kill -0 $runpid 2>/dev/null || break; sleep 0.2; done
    grep -q "Press Ctrl-C" "$log" || { cat "$log"; fail "make run did not come up"; }
    export KUBECONFIG=$PWD/bin/run/kubeconfig
    continue
  fi
  run "$line"
done
if [[ -n "${runpid:-}" ]]; then
  echo "-- Ctrl-C"
  kill -INT -- -"$runpid"
  for _ in $(seq 1 150); do kill -0 "$runpid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$runpid" 2>/dev/null && fail "make run did not stop on Ctrl-C"
  sleep 1
  after=$(pgrep -c -f 'bin/k8s/(kube-apiserver|etcd)' || true)
  [[ "$after" -le "$before" ]] || fail "make run left $((after-before)) control-plane process(es) running"
  grep -q "Stopping the control plane" "$log" || fail "make run did not stop its control plane"
fi
echo "README: $ran commands ran as documented"
