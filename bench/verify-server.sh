#!/usr/bin/env bash
# `tokenmint verify-server` behind nginx `auth_request` (issue 20): verifications per second
# per core of the verify-server, with its verified-token cache (one token reused, as a
# client does) and without it (`--cache-size 0`). Not part of CI.
#
#   bench/verify-server.sh            # from the repository root; DURATION=10s per case
#
# verify-server runs alone on core 0; tokenmint serve (the issuer: one token, then only
# the JWKS), nginx (one worker; the upstream is a second nginx server that answers 204, since
# a `return` in the protected location would answer before `auth_request` runs) and wrk share
# core 1.
# The figure is requests answered 204 through nginx divided by the CPU seconds
# verify-server used meanwhile (from /proc/PID/stat), so it measures verify-server's cost
# per verification, not how much of core 1 nginx and wrk could get. Needs nginx (with
# auth_request), wrk and curl; prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT_ISSUER="${PORT_ISSUER:-18380}"
PORT_VERIFY="${PORT_VERIFY:-18381}"
PORT_NGINX="${PORT_NGINX:-18382}"
PORT_UPSTREAM="${PORT_UPSTREAM:-18383}"
DIR="$(mktemp -d /tmp/tokenmint-verify-server.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
for tool in nginx wrk curl taskset; do
    command -v "$tool" >/dev/null || { echo "bench/verify-server.sh: needs $tool" >&2; exit 1; }
done

cargo build --release >&2
BIN="${CARGO_TARGET_DIR:-target}/release/tokenmint"
ISSUER="http://127.0.0.1:$PORT_ISSUER"

# Waits until $1 answers, for at most ten seconds.
wait_for() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "bench/verify-server.sh: $1 never answered" >&2
    exit 1
}

# CPU ticks (user + system) of process $1.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

cat >"$DIR/tokenmint.toml" <<EOF
issuer = "$ISSUER"
[server]
bind = "127.0.0.1:$PORT_ISSUER"
[keys]
dir = "$DIR/keys"
[[clients]]
id = "bench"
secret_hashes = ["sha256:$(printf 'bench-secret' | sha256sum | cut -d' ' -f1)"]
scopes = ["read"]
default_scopes = ["read"]
audiences = ["https://api.bench"]
EOF
RUST_LOG=warn taskset -c 1 "$BIN" --config "$DIR/tokenmint.toml" serve 2>"$DIR/issuer.log" &
PIDS+=($!)
wait_for "$ISSUER/.well-known/jwks.json"
TOKEN="$(curl -s -u bench:bench-secret -d grant_type=client_credentials "$ISSUER/oauth2/token" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
[ -n "$TOKEN" ] || { echo "bench/verify-server.sh: no token" >&2; exit 1; }

mkdir -p "$DIR/nginx"
cat >"$DIR/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $DIR/nginx/body; proxy_temp_path $DIR/nginx/proxy;
    fastcgi_temp_path $DIR/nginx/fastcgi; uwsgi_temp_path $DIR/nginx/uwsgi; scgi_temp_path $DIR/nginx/scgi;
    upstream verify { server 127.0.0.1:$PORT_VERIFY; keepalive 64; }
    upstream app { server 127.0.0.1:$PORT_UPSTREAM; keepalive 64; }
    server { listen 127.0.0.1:$PORT_UPSTREAM; location / { return 204; } }
    server {
        listen 127.0.0.1:$PORT_NGINX;
        location / {
            auth_request /_auth;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /_auth {
            internal;
            proxy_pass http://verify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
    }
}
EOF

# One case: verify-server with the extra flags "$@"; prints "rate verified-per-cpu-second".
run_case() {
    RUST_LOG=warn taskset -c 0 "$BIN" verify-server --issuer "$ISSUER" --audience https://api.bench \
        --bind "127.0.0.1:$PORT_VERIFY" --require-scope read "$@" 2>"$DIR/verify.log" &
    local verify=$!
    PIDS+=("$verify")
    wait_for "http://127.0.0.1:$PORT_VERIFY/"
    taskset -c 1 nginx -p "$DIR/nginx" -c nginx.conf &
    local nginx=$!
    PIDS+=("$nginx")
    wait_for "http://127.0.0.1:$PORT_NGINX/"
    local status
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT_NGINX/x")"
    [ "$status" = 204 ] || { echo "bench/verify-server.sh: a genuine token got $status" >&2; exit 1; }
    status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_NGINX/x")"
    [ "$status" = 401 ] || { echo "bench/verify-server.sh: no token got $status, not 401" >&2; exit 1; }
    local before after out
    before="$(ticks "$verify")"
    out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT_NGINX/x")"
    after="$(ticks "$verify")"
    kill "$nginx" "$verify"
    wait "$nginx" "$verify" 2>/dev/null || true
    if grep -q "Non-2xx" <<<"$out"; then
        echo "bench/verify-server.sh: refused requests during the run:" >&2
        echo "$out" >&2
        exit 1
    fi
    local rate requests hz
    rate="$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")"
    requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
    hz="$(getconf CLK_TCK)"
    awk -v r="$rate" -v n="$requests" -v t=$((after - before)) -v hz="$hz" \
        'BEGIN { printf "%.0f %.0f %.0f%%\n", r, n / (t / hz), 100 * (t / hz) / (n / r) }'
}

run_case >"$DIR/cached.txt"
run_case --cache-size 0 >"$DIR/uncached.txt"
read -r cached_rate cached_per_cpu cached_busy <"$DIR/cached.txt"
read -r uncached_rate uncached_per_cpu uncached_busy <"$DIR/uncached.txt"

echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1); verify-server on core 0, nginx + wrk + issuer on core 1"
echo "Command: DURATION=$DURATION CONNECTIONS=$CONNECTIONS bench/verify-server.sh (one ES256 token, wrk -t1 -c$CONNECTIONS)"
echo
echo "| verify-server | requests/s through nginx | verifications per CPU second of verify-server | verify-server core busy |"
echo "|---|---:|---:|---:|"
echo "| verified-token cache (default) | $cached_rate | $cached_per_cpu | $cached_busy |"
echo "| no cache (\`--cache-size 0\`) | $uncached_rate | $uncached_per_cpu | $uncached_busy |"
