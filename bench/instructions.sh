#!/usr/bin/env bash
# Instructions the release spv-server executes per request, counted by valgrind's
# callgrind: unlike req/s on a shared 2-core machine, the count repeats to within a
# fraction of a percent from run to run, so it shows what a change to the request path
# costs. It counts user space only (no kernel, no waiting), and SHA-256 runs in software
# under valgrind (no SHA extensions), so the cache key's hashing weighs about 10,000
# instructions here and far less on hardware.
#
#   bench/instructions.sh                     # cached thumbnail GET, 2000 requests
#   ENDPOINT=document N=4000 bench/instructions.sh
#   BIN=/path/to/other/spv-server bench/instructions.sh
#   BASELINE=1 bench/instructions.sh          # the bare hyper ceiling (examples/baseline)
#
# Needs valgrind and python3. The requests carry what wrk sends (Host, Authorization).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
ENDPOINT=${ENDPOINT:-thumbnail}
PORT=${PORT:-3931}
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
vpid=
cleanup() { [ -n "$vpid" ] && kill "$vpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/hammer.py" <<'PY'
# URL TOKEN N CONNECTIONS: N keep-alive GETs spread over CONNECTIONS threads.
import http.client, sys, threading, urllib.parse
url, token, n, conns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlsplit(url)
path = u.path + ("?" + u.query if u.query else "")
def work(k):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    for _ in range(k):
        c.putrequest("GET", path, skip_accept_encoding=True)
        c.putheader("Authorization", "Bearer " + token)
        c.endheaders()
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
threads = [threading.Thread(target=work, args=(n // conns,)) for _ in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
PY

url() { for _ in $(seq 1 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done; echo "instructions.sh: $1 did not come up" >&2; exit 1; }
token=none
if [ -n "${BASELINE:-}" ]; then
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "${BIN:-$target/release/examples/baseline}" "127.0.0.1:$PORT" 22000 >/dev/null 2>"$work/log" &
    vpid=$!
    endpoint="http://127.0.0.1:$PORT/"
    url "$endpoint"
else
    SPV_DATA_DIR="$work/data" SPV_BIND_ADDR="127.0.0.1:$PORT" SPV_ADMIN_PASSWORD=bench-password-1 \
        SPV_PROMETHEUS_ENABLED=true SPV_RENDERER=cpu RUST_LOG=warn \
        valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "${BIN:-$target/release/spv-server}" >/dev/null 2>"$work/log" &
    vpid=$!
    spv="http://127.0.0.1:$PORT"
    url "$spv/health"
    token=$(curl -fs "$spv/api/v1/auth/token" -d grant_type=password -d username=admin -d password=bench-password-1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    doc=$(curl -fs "$spv/api/v1/documents" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
        --data-binary @examples/docs/poster.glyph | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    case $ENDPOINT in
        thumbnail) endpoint="$spv/api/v1/documents/$doc/thumbnail?size=256&format=png" ;;
        document) endpoint="$spv/api/v1/documents/$doc" ;;
        health) endpoint="$spv/health" ;;
        *) echo "instructions.sh: ENDPOINT is thumbnail, document or health" >&2; exit 2 ;;
    esac
fi
# Warm up (connections, caches, the first render), then count N requests only.
python3 "$work/hammer.py" "$endpoint" "$token" 200 4
callgrind_control -z "$vpid" >/dev/null
python3 "$work/hammer.py" "$endpoint" "$token" "$N" 4
callgrind_control -d "$vpid" >/dev/null
total=$(callgrind_annotate "$work/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
label=$ENDPOINT
[ -n "${BASELINE:-}" ] && label=baseline
echo "$label: $((total / N)) instructions per request ($N requests)"
