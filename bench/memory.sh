#!/usr/bin/env bash
# Where the release spv-server's memory goes (issue 15): one server on the embedded
# default (SQLite, blobs in a directory), a cached 256 px thumbnail GET under wrk with
# CONNECTIONS connections (default 64) for DURATION, the RSS sampled every 0.2 s.
# Printed for BENCHMARKS.md: RSS at rest (after start, after the first render), its peak
# under load, and where the resident memory lies at that peak (/proc/PID/smaps: the
# binary, the heap, thread stacks, shared libraries, the rest), once for each renderer
# setting in RENDERERS (default "auto cpu": `auto` probes for a GPU).
#
#   bench/memory.sh
#   NO_BUILD=1 BIN=/path/to/spv-server CONNECTIONS=64 DURATION=20s bench/memory.sh
#
# Needs wrk, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
RENDERERS=${RENDERERS:-"auto cpu"}
PORT=${PORT:-3930}
command -v wrk >/dev/null || { echo "memory.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --locked -p spv-server --bin spv-server >&2
fi
if [ -z "${BIN:-}" ]; then
    target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    BIN=$target/release/spv-server
fi
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# smaps PID: resident KiB by kind of mapping, one "kind KiB" per line.
smaps() {
    python3 - "$1" "$BIN" <<'PY'
import re, sys
pid, binary = sys.argv[1], sys.argv[2]
kinds = {}
name = None
for line in open(f"/proc/{pid}/smaps"):
    head = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
    if head:
        name = head.group(1)
        continue
    if line.startswith("Rss:"):
        kib = int(line.split()[1])
        if name and name.endswith(binary.rsplit("/", 1)[-1]):
            kind = "the spv-server binary (code and data)"
        elif name == "[heap]" or name == "":
            # mimalloc's segments and the threads' stacks are anonymous mappings.
            kind = "anonymous (the heap: mimalloc's segments; thread stacks)"
        elif name.startswith("[stack"):
            kind = "the main thread's stack"
        elif ".so" in name:
            kind = "shared libraries"
        else:
            kind = f"other ({name})"
        kinds[kind] = kinds.get(kind, 0) + kib
for kind, kib in sorted(kinds.items(), key=lambda kv: -kv[1]):
    if kib >= 64:
        print(f"{kib} {kind}")
PY
}

for renderer in $RENDERERS; do
    data="$work/data-$renderer"
    SPV_DATA_DIR="$data" SPV_BIND_ADDR="127.0.0.1:$PORT" SPV_RENDERER="$renderer" \
        SPV_ADMIN_PASSWORD=bench-password-1 JWT_SECRET=bench-jwt-secret-0123456789abcdef \
        RUST_LOG=warn "$BIN" 2>"$work/server-$renderer.log" &
    pid=$!
    for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/health" && break; sleep 0.1; done
    sleep 1
    at_start=$(rss "$pid")
    token=$(curl -fs "http://127.0.0.1:$PORT/api/v1/auth/token" -d grant_type=password \
        -d username=admin -d password=bench-password-1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    doc=$(curl -fs "http://127.0.0.1:$PORT/api/v1/documents" -H "Authorization: Bearer $token" \
        -H 'content-type: application/json' --data-binary @examples/docs/poster.glyph |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    url="http://127.0.0.1:$PORT/api/v1/documents/$doc/thumbnail?size=256&format=png"
    curl -fs -o /dev/null "$url" -H "Authorization: Bearer $token"
    sleep 1
    after_render=$(rss "$pid")
    threads=$(ls "/proc/$pid/task" | wc -l)

    # The load, sampled; the mappings read at the largest sample.
    peak=0
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $token" "$url" \
        >"$work/wrk-$renderer.txt" &
    wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null; do
        now=$(rss "$pid")
        if [ "$now" -gt "$peak" ]; then
            peak=$now
            smaps "$pid" >"$work/peak-$renderer.txt"
        fi
        sleep 0.2
    done
    wait "$wrk_pid"
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    sleep 2
    after_load=$(rss "$pid")
    reqs=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$renderer.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk-$renderer.txt")

    echo
    echo "### SPV_RENDERER=$renderer, $CONNECTIONS connections for $DURATION"
    echo
    echo "| | RSS MiB |"
    echo "|---|---|"
    printf '| at rest, after start | %.1f |\n' "$(echo "$at_start / 1024" | bc -l)"
    printf '| at rest, after the first render | %.1f |\n' "$(echo "$after_render / 1024" | bc -l)"
    printf '| peak sampled under load (VmHWM %.1f) | %.1f |\n' "$(echo "$hwm / 1024" | bc -l)" "$(echo "$peak / 1024" | bc -l)"
    printf '| 2 s after the load | %.1f |\n' "$(echo "$after_load / 1024" | bc -l)"
    echo
    echo "${reqs:-?} req/s, ${non2xx:-0} non-2xx answers, $threads threads."
    echo
    echo "Resident at the peak, by mapping:"
    echo
    echo "| mapping | MiB |"
    echo "|---|---|"
    while read -r kib kind; do
        printf '| %s | %.1f |\n' "$kind" "$(echo "$kib / 1024" | bc -l)"
    done <"$work/peak-$renderer.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
done
