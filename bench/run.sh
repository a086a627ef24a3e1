#!/usr/bin/env bash
# make bench: crmauthz against OPA, side by side, on this machine, in one run.
#  1. generate a tenant of the benchmark size, as crmauthz objects and as OPA data + Rego;
#  2. refuse to report unless both decide the same 1,000 generated requests alike;
#  3. serve each in turn (same port range, server pinned to CPU 0, load to CPU 1), load
#     it with wrk at the same concurrency: throughput, p50, p99; then p99 at half of
#     the server's own peak, open loop (bench/cmd/loadgen); then the same load on a
#     server that does nothing (bench/cmd/floor): this machine's own tail latency;
#  4. in-process: crmauthz's engine and service layer against OPA's Go library;
#  5. propagation: write through a real API server (envtest), time until enforced.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
BIN=$ROOT/bin
OPA_VERSION=${OPA_VERSION:-v1.22.2}
CONC=${CONCURRENCY:-32}
DUR=${DURATION:-10}
WRITES=${PROPAGATION_WRITES:-300}

echo "== building crmauthz, OPA $OPA_VERSION and the load generator"
make -s -C "$ROOT" build >/dev/null
OPA=$BIN/opa-$OPA_VERSION
if [ ! -x "$OPA" ]; then
  GOBIN=$BIN/opa-$OPA_VERSION.d go install "github.com/open-policy-agent/opa@$OPA_VERSION"
  ln -sf "opa-$OPA_VERSION.d/opa" "$OPA"
fi
go build -o "$BIN/loadgen" ./cmd/loadgen
go build -o "$BIN/floor" ./cmd/floor
# wrk when it is installed (apt-get install -y wrk); else the repository's own load
# generator measures the closed loop too (bench/cmd/loadgen: the same figures).
# BENCH_WRK=0 leaves wrk out even when it is installed.
HAVE_WRK=${BENCH_WRK:-1}
if [ "$HAVE_WRK" = 1 ] && ! command -v wrk >/dev/null; then HAVE_WRK=0; fi
[ "$HAVE_WRK" = 1 ] || echo "== without wrk: bench/cmd/loadgen measures the closed loop alone"

echo "== generating the tenant and 1,000 requests"
go run ./cmd/gen -out out
echo "== equivalence"
go run ./cmd/equiv -out out || { echo "The two services disagree: refusing to report a benchmark."; exit 1; }

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER="taskset -c 0"; CLIENT="taskset -c 1"; PIN="server on CPU 0, load on CPU 1"
else
  SERVER=""; CLIENT=""; PIN="not pinned (fewer than 2 CPUs)"
fi

to_us() { # wrk's "759.00us" / "2.78ms" / "1.02s" → microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'
}

# half NAME URL BODIES RATE: p99 at RATE req/s, open loop, with $CONC and with 8
# connections; prints "p99 due_p99 p99_8 due_p99_8" (µs).
half() {
  local name=$1 url=$2 bodies=$3 rate=$4 h1 h2
  h1=$($CLIENT "$BIN/loadgen" -url "$url" -bodies "$bodies" -c "$CONC" -d "${DUR}s" -rate "$rate")
  h2=$($CLIENT "$BIN/loadgen" -url "$url" -bodies "$bodies" -c 8 -d "${DUR}s" -rate "$rate")
  echo "$name at $rate req/s, $CONC conns: $h1" >&2
  echo "$name at $rate req/s, 8 conns: $h2" >&2
  echo "$(field p99_us "$h1") $(field due_p99_us "$h1") $(field p99_us "$h2") $(field due_p99_us "$h2")"
}

# serve NAME HEALTH_URL CMD...: starts a server pinned to its CPU, waits until healthy.
serve() {
  local name=$1 health=$2; shift 2
  $SERVER "$@" >"out/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -sf "$health" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$name did not come up:"; cat "out/$name.log"; exit 1
}

# measure NAME PORT PATH BODIES CMD...: prints wrk's "rps p50 p99", the rate that is
# half of the peak, then half's figures at that rate (µs).
measure() {
  local name=$1 port=$2 path=$3 bodies=$4; shift 4
  serve "$name" "http://127.0.0.1:$port/$([ "$name" = opa ] && echo health || echo readyz)" "$@"
  local url="http://127.0.0.1:$port$path"
  local rps p50 p99
  if [ "$HAVE_WRK" = 1 ]; then
    BODIES=$bodies $CLIENT wrk -t1 -c"$CONC" -d3s -s post.lua "$url" >/dev/null            # warm-up
    local w; w=$(BODIES=$bodies $CLIENT wrk -t1 -c"$CONC" -d"${DUR}s" --latency -s post.lua "$url")
    grep -q "Non-2xx" <<<"$w" && { echo "$name answered errors:"; echo "$w"; kill $pid; exit 1; }
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
    p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$w")")
    p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$w")")
  else
    $CLIENT "$BIN/loadgen" -url "$url" -bodies "$bodies" -c "$CONC" -d 3s >/dev/null        # warm-up
  fi
  # Peak is the higher of wrk's and loadgen's closed-loop throughput: wrk's Lua body
  # picking can be the bottleneck for a fast server, and half of an understated peak
  # would flatter it.
  local closed; closed=$($CLIENT "$BIN/loadgen" -url "$url" -bodies "$bodies" -c "$CONC" -d "${DUR}s")
  echo "$name closed loop, $CONC conns (loadgen): $closed" >&2
  [ "$(field errors "$closed")" = 0 ] || { echo "$name answered errors: $closed"; kill $pid; exit 1; }
  if [ "$HAVE_WRK" = 0 ]; then
    rps=$(field rps "$closed"); p50=$(field p50_us "$closed"); p99=$(field p99_us "$closed")
  fi
  local rate; rate=$(awk -v a="$rps" -v b="$(field rps "$closed")" 'BEGIN {printf "%d", (a > b ? a : b) / 2}')
  local h; h=$(half "$name" "$url" "$bodies" "$rate")
  kill $pid; wait $pid 2>/dev/null || true
  echo "$rps $p50 $p99 $rate $h"
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; } # field NAME "loadgen output"

echo "== HTTP: $CONC connections, ${DUR}s each, $PIN"
read -r o_rps o_p50 o_p99 o_rate o_h1 o_d1 o_h2 o_d2 < <(measure opa 18282 /v1/data/crm/decision out/requests-opa.jsonl \
  "$OPA" run --server --addr 127.0.0.1:18282 --log-level error opa/policy.rego out/opa/data.json)
read -r c_rps c_p50 c_p99 c_rate c_h1 c_d1 c_h2 c_d2 < <(measure crmauthz 18181 /v1/check out/requests.jsonl \
  "$BIN/crmauthz" serve --policies out/objects --namespace acme --addr 127.0.0.1:18181 --decision-log=false)
echo "== the machine's floor: a server that reads the body and answers a fixed decision"
read -r f_rps _ _ f_rate f_h1 f_d1 f_h2 f_d2 < <(measure floor 18383 /v1/check out/requests.jsonl "$BIN/floor" -addr 127.0.0.1:18383)
serve floor http://127.0.0.1:18383/readyz "$BIN/floor" -addr 127.0.0.1:18383
read -r g_h1 g_d1 g_h2 g_d2 < <(half floor http://127.0.0.1:18383/v1/check out/requests.jsonl "$c_rate")
kill $pid; wait $pid 2>/dev/null || true

echo "== in-process (go test -bench, 1,000 requests in turn)"
ip=$(go test -run '^$' -bench . -benchtime 2s -count 3 . | grep '^Benchmark')
echo "$ip"
med() { grep "^Benchmark$1-" <<<"$ip" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
e_ns=$(med CrmauthzEngine); s_ns=$(med CrmauthzService); j_ns=$(med CrmauthzServiceJSON); opa_ns=$(med OPAEval)
s_allocs=$(grep "^BenchmarkCrmauthzService-" <<<"$ip" | awk '{print $7}' | sort -n | tail -1)

echo "== propagation: $WRITES writes through a real API server (envtest)"
prop=$(cd "$ROOT" && make -s envtest >/dev/null && CRMAUTHZ_PROPAGATION_WRITES=$WRITES KUBEBUILDER_ASSETS=$ROOT/bin/k8s \
  go test ./test/e2e/ -count=1 -v -args -ginkgo.focus="enforces a policy change" -ginkgo.no-color | grep -o 'writes=.*' | head -1)

verdict() { if awk "BEGIN {exit !($1)}"; then echo "met"; else echo "MISSED"; fi; }
echo
printf '%-42s %-14s %-16s %s\n' "" "OPA $OPA_VERSION" "crmauthz" "ratio / target"
printf '%-42s %-14s %-16s %.1fx  (>= 3x: %s)\n' "HTTP throughput (req/s)" "$o_rps" "$c_rps" "$(awk "BEGIN{print $c_rps/$o_rps}")" "$(verdict "$c_rps >= 3*$o_rps")"
printf '%-42s %-14s %-16s %.0f%%  (>= 70%%: %s)\n' "  vs the floor server's throughput" "floor: $f_rps" "$c_rps" "$(awk "BEGIN{print 100*$c_rps/$f_rps}")" "$(verdict "$c_rps >= 0.7*$f_rps")"
printf '%-42s %-14s %-16s\n' "HTTP p50 at peak (us)" "$o_p50" "$c_p50"
printf '%-42s %-14s %-16s\n' "HTTP p99 at peak (us)" "$o_p99" "$c_p99"
# p99row LABEL OPA CRMAUTHZ FLOOR_OWN FLOOR_AT_OURS: one p99 line against the target:
# at most twice the floor server's p99 at the same rate.
p99row() { printf '%-42s %-14s %-16s (<= 2x floor at our rate: %s)   floor: %s / %s\n' "$1" "$2" "$3" "$(verdict "$3 <= 2*$5")" "$4" "$5"; }
p99row "p99 at half of own peak, $CONC conns (us)" "$o_h1" "$c_h1" "$f_h1" "$g_h1"
p99row "p99 at half of own peak, 8 conns (us)" "$o_h2" "$c_h2" "$f_h2" "$g_h2"
p99row "  same, $CONC conns, timed from due (us)" "$o_d1" "$c_d1" "$f_d1" "$g_d1"
p99row "  same, 8 conns, timed from due (us)" "$o_d2" "$c_d2" "$f_d2" "$g_d2"
echo "  half of peak: OPA $o_rate req/s, crmauthz $c_rate req/s. floor: a server that only reads the body and"
echo "  answers a fixed decision, at half of its own peak ($f_rate req/s) / at crmauthz's rate: this machine's own tail."
printf '%-42s %-14s %-16s %.0fx  (>= 20x: %s)\n' "in-process check (ns/op), engine" "$opa_ns" "$e_ns" "$(awk "BEGIN{print $opa_ns/$e_ns}")" "$(verdict "$opa_ns >= 20*$e_ns")"
printf '%-42s %-14s %-16s %.0fx  (<= 400 ns, <= 1 alloc: %s)\n' "in-process check (ns/op), service layer" "$opa_ns" "$s_ns ($s_allocs allocs)" "$(awk "BEGIN{print $opa_ns/$s_ns}")" "$(verdict "$s_ns <= 400 && $s_allocs <= 1")"
printf '%-42s %-14s %-16s %.0fx\n' "  same, from the JSON body (strict decode)" "$opa_ns" "$j_ns" "$(awk "BEGIN{print $opa_ns/$j_ns}")"
echo "propagation (write -> enforced): $prop  (goal: median <= 100ms, p99 <= 500ms)"
