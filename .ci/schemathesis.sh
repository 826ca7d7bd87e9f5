#!/usr/bin/env bash
# schemathesis (4.x, from PyPI) against a real spv-server: every operation of
# /openapi.json, every check (`--checks all`), the stateful phase following the document's
# OpenAPI links (document → thumbnail → job → output), as an administrator. Any failure
# fails the script.
#
# Run alone: `bash .ci/schemathesis.sh` (builds the debug spv-server if it is not there).
# Settings (environment): SPV_SERVER_BIN (the binary), SCHEMATHESIS_VENV (default
# $HOME/.cache/spv-schemathesis), SCHEMATHESIS_MAX_EXAMPLES (per operation and phase,
# default 10), SCHEMATHESIS_TIMEOUT (seconds the run may take before it is stopped and
# fails, default 280), SCHEMATHESIS_MAX_TIME (when set, schemathesis keeps generating
# until that many seconds are spent), SCHEMATHESIS_SEED, SCHEMATHESIS_REPORT_DIR (where the
# JUnit report and the server's log go; default a temporary directory, removed).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spv-target}"
VENV="${SCHEMATHESIS_VENV:-$HOME/.cache/spv-schemathesis}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-10}"
TIMEOUT="${SCHEMATHESIS_TIMEOUT:-280}"

# schemathesis 4.x in a virtual environment kept between runs (as the moto step does).
if [ ! -x "$VENV/bin/schemathesis" ]; then
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
  python3 -m venv "$VENV" || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q 'schemathesis>=4,<5'
fi
"$VENV/bin/schemathesis" --version

server="${SPV_SERVER_BIN:-$CARGO_TARGET_DIR/debug/spv-server}"
if [ ! -x "$server" ]; then
  cargo build --workspace --locked --bin spv-server
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/spv-schemathesis.XXXXXX")
report="${SCHEMATHESIS_REPORT_DIR:-$work/report}"
mkdir -p "$report"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ -z "${SCHEMATHESIS_REPORT_DIR:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# A fresh server: its own data directory, a port the kernel picks (read back from its
# log), a known admin password, the CPU renderer and small thumbnails (generated sizes up
# to the limit stay quick on a debug build; the document states the limit it runs with).
# Rate limits stay at their defaults but `auth`, which the token route would meet.
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
log="$report/spv-server.log"
SPV_BIND_ADDR=127.0.0.1:0 \
  SPV_DATA_DIR="$work/data" \
  SPV_ADMIN_USER=admin \
  SPV_ADMIN_PASSWORD="$password" \
  SPV_RENDERER=cpu \
  SPV_MAX_THUMBNAIL_SIZE=512 \
  SPV_JOB_WORKERS=2 \
  SPV_RATE_LIMITS=auth=off \
  SPV_LOG_FORMAT=json \
  RUST_LOG=info \
  "$server" >"$log" 2>&1 &
pid=$!

addr=""
for _ in $(seq 1 300); do
  addr=$(sed -n 's/.*"addr":"\([0-9.:]*\)".*spv-server listening.*/\1/p; s/.*"message":"spv-server listening".*"addr":"\([0-9.:]*\)".*/\1/p' "$log" | head -n 1)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "spv-server exited"; exit 1; }
  sleep 0.2
done
[ -n "$addr" ] || { cat "$log"; echo "spv-server did not say where it listens"; exit 1; }
base="http://$addr"
echo "spv-server on $base (log: $log)"

# The admin's access token (a JWT; schemathesis may revoke API keys, never this).
token=$(curl -fsS "$base/api/v1/auth/token" -H 'content-type: application/json' \
  --data "{\"grant_type\":\"password\",\"username\":\"admin\",\"password\":\"$password\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

extra=()
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then extra+=(--seed "$SCHEMATHESIS_SEED"); fi
if [ -n "${SCHEMATHESIS_MAX_TIME:-}" ]; then extra+=(--max-time "$SCHEMATHESIS_MAX_TIME"); fi
status=0
# Answers within the server's own request timeout (SPV_REQUEST_TIMEOUT_SECS, 30 s) pass
# `max_response_time`: a debug build on a shared CI machine is slow. Generating `.glyph`
# documents (a recursive schema) is slow too, so that health check is off.
# The hooks bring generated valid cases within the rules that tie values together (which
# JSON Schema cannot state; see the module's docs).
PYTHONPATH="$PWD/.ci${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  timeout "$TIMEOUT" "$VENV/bin/schemathesis" --config-file .ci/schemathesis.toml \
  run "$base/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$MAX_EXAMPLES" \
  --max-response-time 30 \
  --suppress-health-check too_slow \
  --request-timeout 30 \
  --workers 2 \
  --report junit --report-dir "$report" \
  "${extra[@]}" || status=$?
if [ "$status" = 124 ]; then echo "schemathesis ran past ${TIMEOUT}s"; fi

if ! kill -0 "$pid" 2>/dev/null; then
  echo "spv-server died during the run"; tail -n 50 "$log"; exit 1
fi
if grep -q '"level":"ERROR"' "$log"; then
  echo "the server logged errors:"; grep '"level":"ERROR"' "$log" | head -n 20
fi
exit "$status"
