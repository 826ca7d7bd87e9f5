#!/usr/bin/env bash
# Load benchmarks of issue 13 with wrk against release spv-server processes on 127.0.0.1,
# each figure against a baseline measured in the same run (interleaved rounds):
#
#   limits   cached thumbnail GET (one node, SQLite) with the rate limits off (baseline),
#            the default limits in process, and the default limits on Redis (REDIS_URL)
#   nodes    document and cached thumbnail GETs on PostgreSQL + Redis: one node
#            (baseline) against two nodes in the same wrk run (wrk's threads split over
#            the two ports), and the thumbnail GET served by the Redis tier (memory
#            cache off) against the memory cache
#
#   bench/scale.sh                 # both, 3 rounds of 10 s, 8 connections
#   SUITES=limits ROUNDS=5 bench/scale.sh
#   NO_BUILD=1 BIN=/path/to/spv-server bench/scale.sh
#
# Needs wrk, curl, python3, a PostgreSQL at $PG_URL (default the CI one) and redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-8}
SUITES=${SUITES:-"limits nodes"}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PORT=${PORT:-3910}
command -v wrk >/dev/null || { echo "scale.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --locked -p spv-server --bin spv-server >&2
fi
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=${BIN:-$target/release/spv-server}
work=$(mktemp -d)
pids=()
dbs=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for db in "${dbs[@]}"; do psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

wait_for() {
    for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "scale.sh: $1 did not come up" >&2; exit 1
}

# Redis of this run, on a port of its own.
REDIS_PORT=$((PORT + 50))
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# serve NAME PORT [VAR=VALUE ...]: a server with its own data directory and the env given.
serve() {
    local name=$1 port=$2; shift 2
    env SPV_DATA_DIR="$work/data-$name" SPV_BIND_ADDR="127.0.0.1:$port" \
        SPV_ADMIN_PASSWORD=bench-password-1 JWT_SECRET=bench-jwt-secret-0123456789abcdef \
        RUST_LOG=warn "$@" "$BIN" 2>"$work/server-$name.log" &
    pids+=($!)
    wait_for "http://127.0.0.1:$port/health"
}
# token PORT: an admin access token.
token() {
    curl -fs "http://127.0.0.1:$1/api/v1/auth/token" -d grant_type=password -d username=admin \
        -d password=bench-password-1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# document PORT TOKEN: stores the poster, answers its id.
document() {
    curl -fs "http://127.0.0.1:$1/api/v1/documents" -H "Authorization: Bearer $2" \
        -H 'content-type: application/json' --data-binary @examples/docs/poster.glyph |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

cat > "$work/report.lua" <<'LUA'
-- ADDRS="host:port host:port": wrk's threads spread over these (one run, several nodes).
local addrs = {}
local n = 0
for a in string.gmatch(os.getenv("ADDRS") or "", "%S+") do
  local host, port = a:match("([^:]+):(%d+)")
  table.insert(addrs, wrk.lookup(host, port)[1])
end
function setup(thread)
  if #addrs > 0 then
    n = n + 1
    thread.addr = addrs[(n - 1) % #addrs + 1]
  end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.requests))
end
LUA

results="$work/results"
: > "$results"
run() { # round suite name url header [addrs]
    local round=$1 suite=$2 name=$3 url=$4 header=$5 addrs=${6:-}
    local line
    line=$(ADDRS="$addrs" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$work/report.lua" \
        -H "$header" "$url" | grep '^RESULT')
    echo "$round $suite $name ${line#RESULT }" | tee -a "$results" >&2
}

if [[ " $SUITES " == *" limits "* ]]; then
    serve off $((PORT + 1)) SPV_RATE_LIMITS=auth=off,anonymous=off,api=off,render=off
    serve local $((PORT + 2))
    serve redis $((PORT + 3)) REDIS_URL="$REDIS_URL" SPV_REDIS_PREFIX=bench-limits:
    declare -A lim_url lim_auth
    for v in off:1 local:2 redis:3; do
        name=${v%%:*}; port=$((PORT + ${v##*:}))
        t=$(token "$port"); d=$(document "$port" "$t")
        lim_url[$name]="http://127.0.0.1:$port/api/v1/documents/$d/thumbnail?size=256&format=png"
        lim_auth[$name]="Authorization: Bearer $t"
        curl -fs -o /dev/null "${lim_url[$name]}" -H "${lim_auth[$name]}"
    done
fi

if [[ " $SUITES " == *" nodes "* ]]; then
    db="spv_bench_$(date +%s)_$$"
    psql "$PG_URL" -qAtc "CREATE DATABASE $db"
    dbs+=("$db")
    db_url="${PG_URL%/*}/$db"
    shared=(DATABASE_URL="$db_url" REDIS_URL="$REDIS_URL" SPV_REDIS_PREFIX=bench-nodes:
        SPV_BLOB_URL="$work/shared-blobs")
    serve a $((PORT + 11)) "${shared[@]}"
    serve b $((PORT + 12)) "${shared[@]}"
    # The Redis tier alone: no memory cache on this node.
    serve tier $((PORT + 13)) "${shared[@]}" SPV_THUMBNAIL_CACHE_BYTES=0
    nt=$(token $((PORT + 11))); nd=$(document $((PORT + 11)) "$nt")
    node_auth="Authorization: Bearer $nt"
    for p in 11 12 13; do
        curl -fs -o /dev/null "http://127.0.0.1:$((PORT + p))/api/v1/documents/$nd/thumbnail?size=256&format=png" -H "$node_auth"
    done
    doc_path="/api/v1/documents/$nd"
    thumb_path="/api/v1/documents/$nd/thumbnail?size=256&format=png"
    two="127.0.0.1:$((PORT + 11)) 127.0.0.1:$((PORT + 12))"
fi

for round in $(seq 1 "$ROUNDS"); do
    if [[ " $SUITES " == *" limits "* ]]; then
        for name in off local redis; do
            run "$round" limits "thumbnail-limits-$name" "${lim_url[$name]}" "${lim_auth[$name]}"
        done
    fi
    if [[ " $SUITES " == *" nodes "* ]]; then
        a="http://127.0.0.1:$((PORT + 11))"
        run "$round" nodes-doc "document-one-node" "$a$doc_path" "$node_auth"
        run "$round" nodes-doc "document-two-nodes" "$a$doc_path" "$node_auth" "$two"
        run "$round" nodes-thumb "thumbnail-one-node" "$a$thumb_path" "$node_auth"
        run "$round" nodes-thumb "thumbnail-two-nodes" "$a$thumb_path" "$node_auth" "$two"
        run "$round" nodes-thumb "thumbnail-redis-tier" "http://127.0.0.1:$((PORT + 13))$thumb_path" "$node_auth"
    fi
done

echo "$(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $ROUNDS rounds; $(date -u +%F)"
python3 - "$results" <<'PY'
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
order = []
for line in open(sys.argv[1]):
    rnd, suite, name, rps, p50, p95, p99, errors, total = line.split()
    if (suite, name) not in runs:
        order.append((suite, name))
    runs[(suite, name)].append((rnd, float(rps), float(p50), float(p95), float(p99), int(errors), int(total)))
first = {}
for suite, name in order:
    first.setdefault(suite, name)
print("| suite | row | req/s (median) | × baseline | per-round × baseline | p50 ms | p95 ms | p99 ms | p95 − baseline p95 ms | errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for suite, name in order:
    rs = runs[(suite, name)]
    base = {r[0]: r for r in runs[(suite, first[suite])]}
    med = lambda i, rows=rs: statistics.median(r[i] for r in rows)
    ratios = [r[1] / base[r[0]][1] for r in rs]
    dp95 = med(3) - med(3, runs[(suite, first[suite])])
    errors = sum(r[5] for r in rs)
    total = sum(r[6] for r in rs)
    print(f"| {suite} | {name} | {med(1):,.0f} | {med(1) / med(1, runs[(suite, first[suite])]):.3f} | "
          f"{min(ratios):.2f} to {max(ratios):.2f} | {med(2):.3f} | {med(3):.3f} | {med(4):.3f} | {dp95:+.3f} | {errors}/{total} |")
PY
