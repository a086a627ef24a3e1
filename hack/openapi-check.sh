#!/usr/bin/env bash
# Checks the decision API's OpenAPI document (api/openapi/openapi.json) with tools we
# did not write, pinned in hack/openapi/package-lock.json and installed with npm ci:
#   - redocly lint, with the recommended rules as errors (hack/openapi/redocly.yaml).
# Needs Node.js (>= 20.19) and npm, and the npm registry. CI runs it (.ci/run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/hack/openapi"

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
start=$SECONDS
echo "== openapi: node $(node --version), npm $(npm --version)"
npm ci --no-audit --no-fund --loglevel=error
echo "== openapi: redocly lint ($(npx --no-install redocly --version))"
npx --no-install redocly lint --config redocly.yaml --format=stylish "$root/api/openapi/openapi.json"
echo "== openapi: checked in $((SECONDS - start)) s"
