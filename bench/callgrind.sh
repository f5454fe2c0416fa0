#!/usr/bin/env bash
# Instructions per token request, counted by valgrind's callgrind: deterministic where the
# load benchmarks are noisy, so it shows where the instructions of a request go. It does not
# measure time (a change that saves instructions can be worth nothing in time, see
# BENCHMARKS.md); judge a change with bench/ab.sh. Not part of CI.
#
#   bench/callgrind.sh [BINARY]          # default target/release/tokenmint
#   REQUESTS=2000 bench/callgrind.sh     # requests counted, after 300 unmeasured ones
#
# Starts BINARY under callgrind with one client (ES256, info logging to a file, as
# bench/ab.sh runs it), sends the requests one at a time over one keep-alive connection
# (Python's http.client), zeroes the counters after the warm-up and dumps them after the
# counted requests. Prints the total per request and the functions with the most
# instructions of their own; the dump stays in the work directory for callgrind_annotate.
# Needs valgrind, python3 and curl.
set -euo pipefail

BINARY="$(realpath -m "${1:-$(dirname "$0")/../target/release/tokenmint}")"
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
REQUESTS="${REQUESTS:-2000}"
PORT="${PORT:-18195}"
HOST=127.0.0.1

for tool in valgrind callgrind_control callgrind_annotate python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench/callgrind.sh: needs $tool" >&2; exit 1; }
done
[ -x "$BINARY" ] || { echo "bench/callgrind.sh: no binary at $BINARY (cargo build --release)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/tokenmint-callgrind.XXXXXX)"
hash="$(printf '%s' "$BENCH_SECRET" | "$BINARY" hash-secret)"
one_client_config "http://$HOST:$PORT" "$WORK/keys" "$hash" >"$WORK/one.toml"

# load.py N: N token requests on one connection; fails unless every one is answered 200.
cat >"$WORK/load.py" <<PY
import base64, http.client, sys
auth = "Basic " + base64.b64encode(b"bench:$BENCH_SECRET").decode()
headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
connection = http.client.HTTPConnection("$HOST", $PORT, timeout=60)
for _ in range(int(sys.argv[1])):
    connection.request("POST", "/oauth2/token", "$TOKEN_FORM", headers)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"status {response.status}")
PY

RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$BINARY" --config "$WORK/one.toml" serve --bind "$HOST:$PORT" >"$WORK/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
    curl -sf -o /dev/null --max-time 2 "http://$HOST:$PORT/readyz" && break
    kill -0 "$pid" 2>/dev/null || { tail -5 "$WORK/server.log" >&2; exit 1; }
    sleep 0.3
done
python3 "$WORK/load.py" 300
# callgrind takes the command to zero its counters when the server next runs (it waits
# in epoll between requests): one request after the command makes sure it has been taken
# before the counted requests start, and is counted with them (REQUESTS + 1 in all).
callgrind_control -z "$pid" >/dev/null 2>&1
python3 "$WORK/load.py" 1
python3 "$WORK/load.py" "$REQUESTS"
callgrind_control -d "$pid" >/dev/null 2>&1
kill "$pid"
wait "$pid" 2>/dev/null || true
trap - EXIT

dump="$(ls "$WORK"/callgrind.out.* | head -1)"
callgrind_annotate --threshold=100 --inclusive=no "$dump" 2>/dev/null |
    awk -v n="$((REQUESTS + 1))" '
        /PROGRAM TOTALS/ { gsub(",", "", $1); printf "%d instructions per request (%s requests)\n", $1 / n, n; next }
        /^ *[0-9,]+ \(/ && shown < 25 && $0 !~ /thread_start|call_once|backtrace|clone\.S|start_thread/ {
            count = $1; gsub(",", "", count)
            name = $0; sub(/^[^)]*\) +/, "", name); sub(/ \[[^]]*\]$/, "", name)
            printf "%8d  %s\n", count / n, substr(name, 1, 120); shown++
        }'
echo "dump: $dump (callgrind_annotate --inclusive=yes --tree=calling $dump)"
