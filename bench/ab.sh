#!/usr/bin/env bash
# Head-to-head issuance of two tokenmint binaries: how much faster B is than A.
#
#   bench/ab.sh A_BINARY B_BINARY            # e.g. a build of the previous commit, and this one
#   PAIRS=6 ROUNDS=6 SECONDS_PER_ROUND=3 bench/ab.sh A B
#   ALONE=1 bench/ab.sh A B                  # each loaded alone, in turn
#
# For each of PAIRS pairs, both binaries are started fresh (one client, ES256, info logging
# to a file, as bench/run.sh runs tokenmint), both pinned to core 0, and warmed up for
# WARMUP seconds each. Then ROUNDS rounds load both at once for SECONDS_PER_ROUND seconds,
# one `wrk -t1 -c32` each on core 1, the start order swapped every round. Core 0 is split
# evenly between two busy servers, so the ratio of their requests per second is the inverse
# ratio of their CPU cost per request, and the machine's swings hit both alike. Two processes
# of one binary differ by up to ~1.5% for as long as they live, so every pair is a fresh
# draw of that luck, and the figure is the mean over pairs.
#
# With ALONE=1 each round loads A alone, then B alone (the order swapped every round): the
# ratio then also shows time a server spends unable to use its core (waiting on a thread of
# its own, say), which a head-to-head round hides by giving that time to the other server.
#
# Prints one line per pair (mean of its rounds, B ÷ A), then "B / A = MEAN (MIN–MAX over
# pairs)". Needs wrk, curl and taskset, and at least 2 cores. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

[[ $# -eq 2 ]] || { echo "usage: bench/ab.sh A_BINARY B_BINARY" >&2; exit 2; }
A="$(realpath "$1")"
B="$(realpath "$2")"
PAIRS="${PAIRS:-6}"
ROUNDS="${ROUNDS:-6}"
SECONDS_PER_ROUND="${SECONDS_PER_ROUND:-3}"
ALONE="${ALONE:-0}"
WARMUP="${WARMUP:-2}"
HOST=127.0.0.1
PORT_A=18180
PORT_B=18181

for tool in wrk curl taskset; do
    command -v "$tool" >/dev/null || { echo "bench/ab.sh: $tool is missing" >&2; exit 1; }
done
[[ "$(nproc)" -ge 2 ]] || { echo "bench/ab.sh: needs at least 2 cores" >&2; exit 1; }

WORK="$(mktemp -d /tmp/tokenmint-ab.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hash="$(printf '%s' "$BENCH_SECRET" | "$A" hash-secret)"
mkdir -p "$WORK/keys"
one_client_config "http://$HOST:$PORT_A" "$WORK/keys" "$hash" >"$WORK/one.toml"

# start BINARY PORT LOG: prints the pid once the server is ready.
start() {
    taskset -c 0 env RUST_LOG=info "$1" serve --bind "$HOST:$2" --config "$WORK/one.toml" >"$3" 2>&1 &
    local pid=$! i
    for ((i = 0; i < 5000; i++)); do
        curl -sf -o /dev/null --max-time 1 "http://$HOST:$2/readyz" && { echo "$pid"; return; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.002
    done
    echo "bench/ab.sh: $1 did not become ready: $(tail -3 "$3")" >&2
    exit 1
}

# load SECONDS PORT OUT: one wrk on core 1.
load() {
    BENCH_FORM="$TOKEN_FORM" BENCH_BASIC="$(printf 'bench:%s' "$BENCH_SECRET" | base64 -w0)" \
        taskset -c 1 wrk -t1 -c32 -d"$1s" -s bench/post_form.lua "http://$HOST:$2/oauth2/token" >"$3" </dev/null
}

rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }

pair_means=()
for ((pair = 1; pair <= PAIRS; pair++)); do
    pid_a="$(start "$A" "$PORT_A" "$WORK/a.log")"
    PIDS+=("$pid_a")
    pid_b="$(start "$B" "$PORT_B" "$WORK/b.log")"
    PIDS+=("$pid_b")
    load "$WARMUP" "$PORT_A" /dev/null
    load "$WARMUP" "$PORT_B" /dev/null
    ratios=()
    rates=()
    for ((round = 1; round <= ROUNDS; round++)); do
        if [[ "$ALONE" == 1 ]]; then
            if ((round % 2)); then
                load "$SECONDS_PER_ROUND" "$PORT_A" "$WORK/a.txt"
                load "$SECONDS_PER_ROUND" "$PORT_B" "$WORK/b.txt"
            else
                load "$SECONDS_PER_ROUND" "$PORT_B" "$WORK/b.txt"
                load "$SECONDS_PER_ROUND" "$PORT_A" "$WORK/a.txt"
            fi
        elif ((round % 2)); then
            load "$SECONDS_PER_ROUND" "$PORT_A" "$WORK/a.txt" &
            first=$!
            load "$SECONDS_PER_ROUND" "$PORT_B" "$WORK/b.txt" &
        else
            load "$SECONDS_PER_ROUND" "$PORT_B" "$WORK/b.txt" &
            first=$!
            load "$SECONDS_PER_ROUND" "$PORT_A" "$WORK/a.txt" &
        fi
        [[ "$ALONE" == 1 ]] || wait "$first" "$!"
        ratios+=("$(awk -v a="$(rps "$WORK/a.txt")" -v b="$(rps "$WORK/b.txt")" 'BEGIN { printf "%.4f", b / a }')")
        rates+=("$(rps "$WORK/a.txt")/$(rps "$WORK/b.txt")")
    done
    kill "$pid_a" "$pid_b"
    # Started in a command substitution, the servers are not this shell's children: `wait`
    # cannot wait for them, so poll until both have exited (bounded).
    for ((i = 0; i < 500; i++)); do
        kill -0 "$pid_a" 2>/dev/null || kill -0 "$pid_b" 2>/dev/null || break
        sleep 0.02
    done
    PIDS=()
    mean="$(printf '%s\n' "${ratios[@]}" | awk '{ s += $1 } END { printf "%.4f", s / NR }')"
    echo "pair $pair: B / A = $mean (rounds: ${ratios[*]}; requests/s A/B: ${rates[*]})"
    pair_means+=("$mean")
done
printf '%s\n' "${pair_means[@]}" | awk '
    NR == 1 { min = $1; max = $1 }
    { s += $1; if ($1 < min) min = $1; if ($1 > max) max = $1 }
    END { printf "B / A = %.3f (%.3f–%.3f over %d pairs)\n", s / NR, min, max, NR }'
