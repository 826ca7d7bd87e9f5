#!/usr/bin/env bash
# Load benchmark of the release spv-server on 127.0.0.1 with wrk (Debian package `wrk`):
# a cached thumbnail GET, a document metadata GET, and, in the same run, a bare hyper
# server answering a body of the thumbnail's size (the ceiling). Prints a Markdown table
# for BENCHMARKS.md: req/s, p50/p95/p99 and each figure's ratio to the ceiling.
#
# wrk and the servers share the machine's cores, so one run of each moves by 10 to 20%
# with whatever else the machine does. The runs are interleaved (ceiling, thumbnail,
# document; again) for ROUNDS rounds, and the table shows each row's median over the
# rounds, its ratio to the ceiling's median, and the range of the per-round ratios.
#
#   bench/load.sh                 # 3 rounds of 10 s runs, 8 and 64 connections
#   DURATION=30s ROUNDS=5 bench/load.sh
#   NO_BUILD=1 bench/load.sh      # use the release binaries already built
#   OLD_BIN=/path/to/old/spv-server bench/load.sh
#                                 # also an older binary, in the same rounds (rows *-old)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-"8 64"}
SPV_PORT=${SPV_PORT:-3901}
BASE_PORT=${BASE_PORT:-3902}
command -v wrk >/dev/null || { echo "load.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --locked -p spv-server --bin spv-server --example baseline >&2
fi
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for() {
    for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "load.sh: $1 did not come up" >&2; exit 1
}

# start NAME BINARY PORT: a server on fresh data with the poster stored and its thumbnail
# rendered once (every later GET is a cache hit); sets auth_NAME, thumb_NAME, meta_NAME.
start() {
    local name=$1 bin=$2 port=$3
    SPV_DATA_DIR="$work/data-$name" SPV_BIND_ADDR="127.0.0.1:$port" SPV_ADMIN_PASSWORD=bench-password-1 \
        SPV_PROMETHEUS_ENABLED=true RUST_LOG=warn "$bin" 2>"$work/server-$name.log" &
    pids+=($!)
    local spv="http://127.0.0.1:$port"
    wait_for "$spv/health"
    local token doc
    token=$(curl -fs "$spv/api/v1/auth/token" -d grant_type=password -d username=admin -d password=bench-password-1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    printf -v "auth_$name" '%s' "Authorization: Bearer $token"
    local auth_var="auth_$name"
    doc=$(curl -fs "$spv/api/v1/documents" -H "${!auth_var}" -H 'content-type: application/json' \
        --data-binary @examples/docs/poster.glyph | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    printf -v "thumb_$name" '%s' "$spv/api/v1/documents/$doc/thumbnail?size=256&format=png"
    printf -v "meta_$name" '%s' "$spv/api/v1/documents/$doc"
}
start new "${BIN:-$target/release/spv-server}" "$SPV_PORT"
auth=$auth_new thumb=$thumb_new meta=$meta_new
size=$(curl -fs "$thumb" -H "$auth" | wc -c)
[ "$size" -gt 0 ] || { echo "load.sh: no thumbnail" >&2; exit 1; }
if [ -n "${OLD_BIN:-}" ]; then
    start old "$OLD_BIN" $((SPV_PORT + 10))
    old_size=$(curl -fs "$thumb_old" -H "$auth_old" | wc -c)
    [ "$old_size" -gt 0 ] || { echo "load.sh: no thumbnail from $OLD_BIN" >&2; exit 1; }
fi

"$target/release/examples/baseline" "127.0.0.1:$BASE_PORT" "$size" 2>/dev/null &
pids+=($!)
base="http://127.0.0.1:$BASE_PORT/"
wait_for "$base"

cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.requests))
end
LUA

results="$work/results"
run() { # round name connections url [header]
    local round=$1 name=$2 conns=$3 url=$4; shift 4
    local line
    line=$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" -s "$work/report.lua" "$@" "$url" | grep '^RESULT')
    echo "$round $name $conns ${line#RESULT }" | tee -a "$results" >&2
}
for round in $(seq 1 "$ROUNDS"); do
    for c in $CONNECTIONS; do
        run "$round" baseline "$c" "$base"
        run "$round" thumbnail "$c" "$thumb" -H "$auth"
        run "$round" document "$c" "$meta" -H "$auth"
        if [ -n "${OLD_BIN:-}" ]; then
            run "$round" thumbnail-old "$c" "$thumb_old" -H "$auth_old"
            run "$round" document-old "$c" "$meta_old" -H "$auth_old"
        fi
    done
done

echo "thumbnail body: $size bytes; $(nproc) cores; wrk -t$THREADS -d$DURATION; $ROUNDS rounds; $(date -u +%F)"
python3 - "$results" <<'PY'
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)  # (name, connections) -> [(round, rps, p50, p95, p99, errors, total)]
for line in open(sys.argv[1]):
    rnd, name, conns, rps, p50, p95, p99, errors, total = line.split()
    runs[(name, conns)].append((rnd, float(rps), float(p50), float(p95), float(p99), int(errors), int(total)))
ceiling = {conns: statistics.median(r[1] for r in rs) for (name, conns), rs in runs.items() if name == "baseline"}
per_round = {(conns, r[0]): r[1] for (name, conns), rs in runs.items() if name == "baseline" for r in rs}
print("| endpoint | connections | req/s (median) | × ceiling | per-round × ceiling | p50 ms | p95 ms | p99 ms | errors |")
print("|---|---|---|---|---|---|---|---|---|")
for (name, conns), rs in runs.items():
    med = lambda i: statistics.median(r[i] for r in rs)
    ratios = [r[1] / per_round[(conns, r[0])] for r in rs]
    spread = f"{min(ratios):.2f} to {max(ratios):.2f}"
    errors = sum(r[5] for r in rs)
    total = sum(r[6] for r in rs)
    print(f"| {name} | {conns} | {med(1):,.0f} | {med(1) / ceiling[conns]:.2f} | {spread} | "
          f"{med(2):.3f} | {med(3):.3f} | {med(4):.3f} | {errors}/{total} |")
PY
