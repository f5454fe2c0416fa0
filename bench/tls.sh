#!/usr/bin/env bash
# Transport benchmark (issue 19): ES256 issuance over TLS with keep-alive against the same
# over plain HTTP, full TLS handshakes per second (one token per connection), and HTTP/2
# with many streams on few connections, over TLS and h2c; the handshakes against
# examples/bare_reference with --tls (bare axum + rustls on aws-lc-rs, minting ES256 with no
# authentication), the reference the issue names. Not part of CI.
#
#   bench/tls.sh                      # from the repository root
#   DURATION=5 RUNS=1 bench/tls.sh    # a quick run
#
# The server is pinned to core 0, the load (wrk for HTTP/1.1, h2load for HTTP/2) to core 1;
# one tokenmint process at a time, plain and TLS alternating RUNS times; medians reported.
# Needs wrk (Debian's wrk), h2load (Debian's nghttp2-client), openssl, taskset; installs the
# first two when missing. Environment: DURATION (seconds per run, default 10), RUNS
# (default 3), KEEP_WORKDIR=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
KEEP_WORKDIR="${KEEP_WORKDIR:-0}"
HOST=127.0.0.1
PLAIN_PORT=18180
TLS_PORT=18181
BARE_PORT=18182
TOKENMINT=target/release/tokenmint
BARE=target/release/examples/bare_reference
WORK="$(mktemp -d /tmp/tokenmint-tls-bench.XXXXXX)"
PID=""

log() { echo "== $*" >&2; }
cleanup() {
    [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    if [[ "$KEEP_WORKDIR" == 1 ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in wrk h2load; do
    if ! command -v "$tool" >/dev/null; then
        log "installing $tool"
        package=$tool
        [[ "$tool" == h2load ]] && package=nghttp2-client
        if [[ "$(id -u)" == 0 ]]; then SUDO=(); else SUDO=(sudo); fi
        "${SUDO[@]}" apt-get install -y -qq "$package" >&2
    fi
done

log "building tokenmint and bare_reference (release)"
cargo build --release --bin tokenmint >&2
cargo build --release --example bare_reference >&2

# A CA and a server certificate for 127.0.0.1 (P-256, as most certificates are).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1') -out "$WORK/tls.crt" 2>/dev/null

hash="$(printf '%s' "$BENCH_SECRET" | "$TOKENMINT" hash-secret)"
basic="$(printf 'bench:%s' "$BENCH_SECRET" | base64 -w0)"
mkdir -p "$WORK/keys"
write_config() { # PORT [tls]
    printf 'issuer = "https://%s:%s"\n[server]\nbind = "%s:%s"\nshutdown_delay = "0s"\n' "$HOST" "$1" "$HOST" "$1"
    if [[ "${2:-}" == tls ]]; then
        printf '[server.tls]\ncert_file = "%s"\nkey_file = "%s"\n' "$WORK/tls.crt" "$WORK/tls.key"
    fi
    printf '[keys]\ndir = "%s"\n' "$WORK/keys"
    bench_client bench "$hash"
}
write_config "$PLAIN_PORT" >"$WORK/plain.toml"
write_config "$TLS_PORT" tls >"$WORK/tls.toml"
printf '%s' "$TOKEN_FORM" >"$WORK/form.txt"

start() { # CONFIG URL [COMMAND...]: tokenmint with CONFIG, or COMMAND, ready at URL
    local config=$1 url=$2
    shift 2
    if (($#)); then
        taskset -c 0 "$@" >"$WORK/server.log" 2>&1 &
    else
        RUST_LOG=warn taskset -c 0 "$TOKENMINT" --config "$config" serve >"$WORK/server.log" 2>&1 &
    fi
    PID=$!
    set -- "$config" "$url"
    for _ in $(seq 100); do
        # Any answer (bare_reference has no /healthz: 404) means it listens.
        curl -s -o /dev/null --cacert "$WORK/ca.crt" "$2/healthz" && return
        sleep 0.1
    done
    echo "tokenmint did not start: $(cat "$WORK/server.log")" >&2
    exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# Requests per second of one wrk run: wrk URL [extra wrk args...] (URL/oauth2/token, or the
# whole URL of PATH when it ends in a path of its own).
wrk_rps() {
    local url=$1
    shift
    [[ "$url" == */mint ]] || url="$url/oauth2/token"
    BENCH_FORM="$TOKEN_FORM" BENCH_BASIC="$basic" taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" \
        -s bench/post_form.lua "$@" "$url" | awk '/^Requests\/sec/ { print $2 }'
}
# Requests per second of one h2load run: 4 connections, 32 streams each.
h2load_rps() {
    taskset -c 1 h2load -c4 -m32 -D"$DURATION" -d "$WORK/form.txt" \
        -H "content-type: application/x-www-form-urlencoded" -H "authorization: Basic $basic" \
        "$1/oauth2/token" 2>/dev/null | awk '/^finished in/ { gsub(",", ""); print $4 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$WORK/results"
# One round on one transport: round NAME CONFIG URL KEEPALIVE CLOSE H2 (the last three
# name the results).
round() {
    log "round $1"
    start "$2" "$3"
    wrk_rps "$3" >/dev/null # warm-up
    echo "$4 $(wrk_rps "$3")" >>"$WORK/results"
    echo "$5 $(wrk_rps "$3" -H 'Connection: close')" >>"$WORK/results"
    echo "$6 $(h2load_rps "$3")" >>"$WORK/results"
    stop
}
for r in $(seq "$RUNS"); do
    round "$r/$RUNS, plain HTTP" "$WORK/plain.toml" "http://$HOST:$PLAIN_PORT" plain_keepalive plain_close h2c
    round "$r/$RUNS, TLS" "$WORK/tls.toml" "https://$HOST:$TLS_PORT" tls_keepalive tls_close h2_tls
    log "round $r/$RUNS, bare_reference over TLS"
    start "" "https://$HOST:$BARE_PORT" "$BARE" --bind "$HOST:$BARE_PORT" --tls "$WORK/tls.crt" "$WORK/tls.key"
    wrk_rps "https://$HOST:$BARE_PORT/mint" -H 'Connection: close' >/dev/null # warm-up
    echo "bare_tls_close $(wrk_rps "https://$HOST:$BARE_PORT/mint" -H 'Connection: close')" >>"$WORK/results"
    stop
done

m() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/results" | median; }
plain=$(m plain_keepalive)
tls=$(m tls_keepalive)
cat <<EOF
| Transport (ES256, one core, median of $RUNS runs of ${DURATION}s) | Tokens/s |
|---|---|
| HTTP/1.1, keep-alive, 32 connections | $plain |
| HTTP/1.1 over TLS, keep-alive, 32 connections | $tls |
| HTTP/1.1, a new connection per token | $(m plain_close) |
| HTTP/1.1 over TLS, a new connection (full handshake) per token | $(m tls_close) |
| bare axum + rustls, a new connection (full handshake) per token | $(m bare_tls_close) |
| h2c, 4 connections × 32 streams | $(m h2c) |
| h2 over TLS, 4 connections × 32 streams | $(m h2_tls) |

TLS keep-alive / plain keep-alive: $(awk -v a="$tls" -v b="$plain" 'BEGIN { printf "%.3f", a / b }') (target ≥ 0.85)
Full handshakes per token, tokenmint / bare axum + rustls: $(awk -v a="$(m tls_close)" -v b="$(m bare_tls_close)" 'BEGIN { printf "%.3f", a / b }')
EOF
