#!/usr/bin/env bash
# Checks the decision API's OpenAPI document (api/openapi/openapi.json) with tools we
# did not write, pinned in hack/openapi/package-lock.json and installed with npm ci:
#   1. redocly lint, with the recommended rules as errors (hack/openapi/redocly.yaml);
#   2. Prism's validating proxy (prism proxy --errors) in front of `crmauthz serve
#      --policies config/samples`: the README's and docs/api.md's requests and a corpus
#      of valid and malformed requests generated from the document
#      (hack/openapi/prism-corpus.mjs) go through it and straight to the server; no
#      answer may break the document, none may be a 5xx, and no request the document
#      refuses may be answered 2xx;
#   3. a TypeScript client generated from the document, type-checked and run against
#      the same server (hack/openapi/client/example.mts).
# OPENAPI_CHECK_PRISM=0 skips steps 2 and 3.
# Needs Node.js (>= 20.19), npm and the npm registry, and Go. CI runs it (.ci/run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/hack/openapi"

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
start=$SECONDS
echo "== openapi: node $(node --version), npm $(npm --version)"
npm ci --no-audit --no-fund --loglevel=error
echo "== openapi: redocly lint ($(node_modules/.bin/redocly --version 2>/dev/null))"
node_modules/.bin/redocly lint --config redocly.yaml --format=stylish "$root/api/openapi/openapi.json" 2>&1 | grep -v '[║╔╚]'

if [[ "${OPENAPI_CHECK_PRISM:-1}" == 0 ]]; then
  echo "== openapi: Prism skipped (OPENAPI_CHECK_PRISM=0); checked in $((SECONDS - start)) s"
  exit 0
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# wait_for URL LOG WHAT: waits up to 60 s for URL to answer.
wait_for() {
  for _ in $(seq 1 600); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  cat "$2"; echo "FAIL: $3 did not start"; exit 1
}

echo "== openapi: Prism $(node_modules/.bin/prism --version) in front of crmauthz serve"
(cd "$root" && go build -o "$tmp/crmauthz" ./cmd/crmauthz)
sport=$(free_port)
"$tmp/crmauthz" serve --policies "$root/config/samples" --addr "127.0.0.1:$sport" --decision-log=false >"$tmp/serve.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$sport/readyz" "$tmp/serve.log" "crmauthz serve"
pport=$(free_port)
node_modules/.bin/prism proxy "$root/api/openapi/openapi.json" "http://127.0.0.1:$sport" --errors \
  --host 127.0.0.1 --port "$pport" >"$tmp/prism.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$pport/healthz" "$tmp/prism.log" "prism proxy"
if ! node prism-corpus.mjs "http://127.0.0.1:$pport" "http://127.0.0.1:$sport" "$root"; then
  grep -i 'violation\|error' "$tmp/prism.log" | head -40 || true
  exit 1
fi

# 3. A TypeScript client generated from the document (openapi-typescript), type-checked
#    strictly and run against the same server (client/example.mts).
echo "== openapi: TypeScript client (openapi-typescript $(node_modules/.bin/openapi-typescript --version 2>/dev/null | tail -1), tsc $(node_modules/.bin/tsc --version))"
node_modules/.bin/openapi-typescript "$root/api/openapi/openapi.json" -o client/schema.d.ts --silent
rm -rf client/dist
node_modules/.bin/tsc -p client --outDir client/dist   # beside node_modules, where node finds openapi-fetch
node client/dist/example.mjs "http://127.0.0.1:$sport"
echo "== openapi: checked in $((SECONDS - start)) s"
