#!/usr/bin/env bash
# No-op jobs per second on PostgreSQL with 1, 2 and 4 worker processes, and the
# enqueue-to-start latency across processes (spv/benches/jobs_pg.rs; issue 13).
#
#   bench/jobs.sh postgres://postgres@127.0.0.1:5432/test [extra options]
#
# Options after the URL go to the benchmark: --processes 1,2,4 --workers 4 --jobs 20000
# --latency-jobs 200 --gap-ms 5. Each row uses a fresh schema, dropped afterwards.
# PROFILE=dev runs a debug build (a quick check that it works, not a measurement).
set -euo pipefail
url="${1:-${DATABASE_URL:-}}"
if [[ -z "$url" ]]; then
    echo "usage: bench/jobs.sh postgres://USER@HOST:PORT/DB [options]" >&2
    exit 2
fi
shift || true
cd "$(dirname "$0")/.."
if [[ "${PROFILE:-bench}" == dev ]]; then
    exe=$(cargo test --workspace --features spv/store --bench jobs_pg --no-run --message-format=json \
        | sed -n 's/.*"executable":"\([^"]*jobs_pg[^"]*\)".*/\1/p' | tail -1)
    exec "$exe" --database-url "$url" "$@"
fi
exec cargo bench -p spv --features store --bench jobs_pg -- --database-url "$url" "$@"
