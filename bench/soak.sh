#!/usr/bin/env bash
# Soak of the release server under a mixed load (issue 16, "Soak and faults under load").
# Not part of CI.
#
#   bench/soak.sh                         # 30 minutes, from the repository root
#   DURATION=2m bench/soak.sh             # a short check
#
# What it does:
#   1. builds tokenmint and examples/soak_driver.rs in release mode;
#   2. writes a configuration with one client per grant (client_credentials and token
#      exchange with a secret, password + refresh_token, private_key_jwt, the jwt-bearer
#      grant of a trusted issuer whose keys the driver holds), a client that only ever
#      gets wrong secrets, and a fast key schedule with automatic rotation (a new key every
#      ROTATE_EVERY, published 45 s before it signs);
#   3. starts tokenmint pinned to core 0 on 127.0.0.1:$PORT, and the driver pinned to core 1
#      (TASKS concurrent loops for DURATION): valid token requests of every grant, each
#      access token verified with `tokenmint::verify` against the live JWKS; JWKS with and
#      without If-None-Match; introspection; 22% hostile requests (wrong secrets, garbage
#      bodies, a 1 MiB declared body, non-HTTP bytes, forged tokens at introspection, wrong
#      passwords from 127.0.0.2);
#   4. meanwhile, as an operator would: SIGHUP every SIGHUP_EVERY, a configuration edit
#      (a client added or removed, picked up by the file watch) every CONFIG_EVERY, and
#      `tokenmint keys list`, `keys rotate` and `keys prune` every CLI_EVERY;
#   5. samples the server's resident memory, open descriptors and threads from /proc every
#      SAMPLE_EVERY into samples.csv;
#   6. prints the verdict and a markdown summary for docs/reliability.md. Pass: zero 5xx,
#      zero requests without an answer, zero unexpected answers (a hostile request served
#      or a valid one refused), zero failed verifications, no failed operator command, the
#      server alive at the end, at least one rotation when the run is longer than two
#      rotation periods, and resident memory and descriptors flat after warm-up: the median
#      of the last 5 samples less than 10% above the median of the 5 samples that end the
#      warm-up.
#
# Environment: DURATION (30m; s, m or h suffix, or seconds), WARMUP (10% of DURATION, at
# least 30s), TASKS (driver loops, 16), ROTATE_EVERY (2m, more than 45s), SIGHUP_EVERY
# (60s), CONFIG_EVERY (150s), CLI_EVERY (90s), SAMPLE_EVERY (5s), PORT (18180), OUT
# (results directory, default $CARGO_TARGET_DIR/soak/<UTC time>; kept: config, logs, samples.csv,
# summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "bench/soak.sh: $*" >&2
    exit 1
}
log() { echo "== $*" >&2; }

# Seconds in a duration: 90, 90s, 2m, 1h.
seconds() {
    case "$1" in
        *[0-9]h) echo $((${1%h} * 3600)) ;;
        *[0-9]m) echo $((${1%m} * 60)) ;;
        *[0-9]s) echo "${1%s}" ;;
        '' | *[!0-9]*) die "not a duration: '$1' (use 90, 90s, 2m or 1h)" ;;
        *) echo "$1" ;;
    esac
}

DURATION="${DURATION:-30m}"
TASKS="${TASKS:-16}"
ROTATE_EVERY="${ROTATE_EVERY:-2m}"
SIGHUP_EVERY="${SIGHUP_EVERY:-60s}"
CONFIG_EVERY="${CONFIG_EVERY:-150s}"
CLI_EVERY="${CLI_EVERY:-90s}"
SAMPLE_EVERY="${SAMPLE_EVERY:-5s}"
PORT="${PORT:-18180}"
DURATION_S="$(seconds "$DURATION")"
default_warmup=$((DURATION_S / 10 > 30 ? DURATION_S / 10 : 30))
WARMUP="${WARMUP:-${default_warmup}s}"
WARMUP_S="$(seconds "$WARMUP")"
ROTATE_S="$(seconds "$ROTATE_EVERY")"
SIGHUP_S="$(seconds "$SIGHUP_EVERY")"
CONFIG_S="$(seconds "$CONFIG_EVERY")"
CLI_S="$(seconds "$CLI_EVERY")"
SAMPLE_S="$(seconds "$SAMPLE_EVERY")"
[[ "$ROTATE_S" -gt 45 ]] || die "ROTATE_EVERY must be longer than publish_ahead (45s)"
[[ "$WARMUP_S" -lt "$DURATION_S" ]] || die "WARMUP must be shorter than DURATION"
for n in "$SIGHUP_S" "$CONFIG_S" "$CLI_S" "$SAMPLE_S" "$TASKS"; do
    [[ "$n" -gt 0 ]] || die "periods and TASKS must be greater than zero"
done

COMMAND="DURATION=$DURATION WARMUP=$WARMUP TASKS=$TASKS ROTATE_EVERY=$ROTATE_EVERY SIGHUP_EVERY=$SIGHUP_EVERY CONFIG_EVERY=$CONFIG_EVERY CLI_EVERY=$CLI_EVERY SAMPLE_EVERY=$SAMPLE_EVERY bench/soak.sh"
SERVER_CORE=0
DRIVER_CORE=1
HOST=127.0.0.1
URL="http://$HOST:$PORT"
# Where cargo builds (CARGO_TARGET_DIR, as cargo reads it).
TARGET="${CARGO_TARGET_DIR:-target}"
TOKENMINT="$TARGET/release/tokenmint"
DRIVER="$TARGET/release/examples/soak_driver"
# Every secret client shares one secret; both users share one password (mallory only
# ever gets wrong ones).
export SOAK_SECRET="soak-secret-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
export SOAK_PASSWORD="soak-password-correct-horse"

OUT="${OUT:-$TARGET/soak/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT/keys" "$OUT/driver"
OUT="$(cd "$OUT" && pwd)"
CONFIG="$OUT/soak.toml"
SERVER_LOG="$OUT/server.log"
SAMPLES="$OUT/samples.csv"
EVENTS="$OUT/operator.log"
PIDS=() # every process this script starts, ended on exit

# Ends every process we started (and the sleep a loop of ours may be in), by pid.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        pkill -P "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    echo "results kept in $OUT" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------

command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v curl >/dev/null || die "curl is missing"
[[ "$(nproc)" -ge 2 ]] || die "needs at least 2 cores (server on core $SERVER_CORE, driver on core $DRIVER_CORE)"
[[ -f examples/soak_driver.rs ]] || die "examples/soak_driver.rs is missing"
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    die "port $PORT is already in use on $HOST"
fi

log "building release binaries"
cargo build --release >&2
cargo build --release --example soak_driver >&2

SECRET_HASH="$(printf '%s' "$SOAK_SECRET" | "$TOKENMINT" hash-secret)"
[[ "$SECRET_HASH" == sha256:* ]] || die "hash-secret printed '$SECRET_HASH'"
PASSWORD_HASH="$(printf '%s' "$SOAK_PASSWORD" | "$TOKENMINT" hash-password)"
[[ "$PASSWORD_HASH" == '$argon2id$'* ]] || die "hash-password printed '$PASSWORD_HASH'"
"$DRIVER" keygen "$OUT/driver" >&2

# write_config EXTRA: the soak configuration, with client `soak-extra` when EXTRA is 1,
# replaced atomically (a reader never sees half a file).
write_config() {
    cat >"$CONFIG.tmp" <<EOF
issuer = "$URL"

[server]
shutdown_delay = "0s"

[tokens]
ttl = "60s"
max_ttl = "60s"
leeway = "5s"
refresh_ttl = "10m"
algorithm = "ES256"
# Every jti of the last assertion lifetime is remembered; room for any rate this machine makes.
assertion_replay_capacity = 2000000

# publish_ahead (45 s) > jwks_max_age (20 s) + poll_interval (5 s) + leeway (5 s).
[keys]
dir = "$OUT/keys"
rotate_every = "${ROTATE_S}s"
publish_ahead = "45s"
jwks_max_age = "20s"
poll_interval = "5s"
auto_rotate = true

[[trusted_issuers]]
issuer = "https://idp.soak.test"
jwks_file = "$OUT/driver/idp.jwks.json"

[[clients]]
id = "soak-cc"
secret_hashes = ["$SECRET_HASH"]
grant_types = ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
scopes = ["read", "write"]
default_scopes = ["read"]
audiences = ["https://api.soak.test"]

[[clients]]
id = "soak-pw"
secret_hashes = ["$SECRET_HASH"]
grant_types = ["password", "refresh_token"]
scopes = ["read"]
default_scopes = ["read"]
audiences = ["https://api.soak.test"]

[[clients]]
id = "soak-pkjwt"
jwks_file = "$OUT/driver/client.jwks.json"
scopes = ["read"]
default_scopes = ["read"]
audiences = ["https://api.soak.test"]

[[clients]]
id = "soak-fed"
grant_types = ["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
scopes = ["read"]
default_scopes = ["read"]
audiences = ["https://api.soak.test"]
federated_identities = [{ issuer = "https://idp.soak.test", subject = "workload-1" }]

[[clients]]
id = "soak-victim"
secret_hashes = ["$SECRET_HASH"]
audiences = ["https://api.soak.test"]

[[users]]
username = "alice"
password_hash = "$PASSWORD_HASH"
scopes = ["read"]

[[users]]
username = "mallory"
password_hash = "$PASSWORD_HASH"
scopes = ["read"]
EOF
    if [[ "$1" == 1 ]]; then
        printf '\n[[clients]]\nid = "soak-extra"\nsecret_hashes = ["%s"]\naudiences = ["https://api.soak.test"]\n' \
            "$SECRET_HASH" >>"$CONFIG.tmp"
    fi
    mv "$CONFIG.tmp" "$CONFIG"
}
write_config 0
"$TOKENMINT" --config "$CONFIG" config check >&2 || die "the soak configuration is invalid"

# ---------------------------------------------------------------------------------------
# Server, sampler, operator, driver
# ---------------------------------------------------------------------------------------

log "starting tokenmint on $URL (core $SERVER_CORE)"
taskset -c "$SERVER_CORE" env RUST_LOG=info "$TOKENMINT" serve --bind "$HOST:$PORT" --config "$CONFIG" \
    >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
ready=0
for _ in $(seq 1 500); do
    if curl -sf -o /dev/null --max-time 1 "$URL/readyz"; then
        ready=1
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.02
done
[[ "$ready" == 1 ]] || die "tokenmint did not become ready: $(tail -5 "$SERVER_LOG")"

# One line per SAMPLE_EVERY until the run's end (bounded by the sample count).
sampler() {
    local t0 i now rss threads fds keys
    t0="$(date +%s)"
    echo "elapsed_s,rss_kib,fds,threads,key_files" >"$SAMPLES"
    for ((i = 0; i <= DURATION_S / SAMPLE_S + 1; i++)); do
        [[ -r "/proc/$SERVER_PID/status" ]] || break
        now=$(($(date +%s) - t0))
        rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status")"
        threads="$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")"
        fds="$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
        keys="$(find "$OUT/keys" -maxdepth 1 -name '*.pem' | wc -l)"
        echo "$now,$rss,$fds,$threads,$keys" >>"$SAMPLES"
        sleep "$SAMPLE_S"
    done
}
sampler &
PIDS+=("$!")

# What an operator does during the run, once a second at most, for DURATION (bounded by
# the tick count). Each action is a line of operator.log; a failed command is a FAILED line.
operator() {
    local tick extra=0 code
    for ((tick = 1; tick < DURATION_S; tick++)); do
        sleep 1
        if ((tick % SIGHUP_S == 0)); then
            kill -HUP "$SERVER_PID" && echo "$tick sighup" >>"$EVENTS"
        fi
        if ((tick % CONFIG_S == 0)); then
            extra=$((1 - extra))
            write_config "$extra"
            echo "$tick config soak-extra=$extra" >>"$EVENTS"
        fi
        if ((tick % CLI_S == 0)); then
            for cmd in list rotate prune; do
                code=0
                taskset -c "$DRIVER_CORE" "$TOKENMINT" --config "$CONFIG" keys "$cmd" >>"$OUT/cli.log" 2>&1 || code=$?
                if [[ "$code" == 0 ]]; then
                    echo "$tick keys $cmd" >>"$EVENTS"
                else
                    echo "$tick keys $cmd FAILED (exit $code)" >>"$EVENTS"
                fi
            done
        fi
    done
}
: >"$EVENTS"
operator &
PIDS+=("$!")

log "driving for ${DURATION_S}s with $TASKS loops (core $DRIVER_CORE); warm-up ${WARMUP_S}s"
driver_code=0
taskset -c "$DRIVER_CORE" "$DRIVER" run "$OUT/driver" "$URL" "$DURATION_S" "$TASKS" >"$OUT/operations.md" ||
    driver_code=$?
server_alive=0
kill -0 "$SERVER_PID" 2>/dev/null && server_alive=1

# ---------------------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------------------

[[ -f "$OUT/driver/summary.env" ]] || die "the driver wrote no summary (exit $driver_code)"
# shellcheck source=/dev/null
source "$OUT/driver/summary.env"

# growth COLUMN: "warm end max growth%" of a samples.csv column: the medians of the 5 samples
# that end the warm-up and of the last 5 samples, and the largest value after warm-up.
growth() {
    awk -F, -v col="$1" -v warm="$WARMUP_S" '
        function median(a, from, k,   i, j, tmp, b) {
            for (i = 0; i < k; i++) b[i] = a[from + i]
            for (i = 0; i < k; i++) for (j = i + 1; j < k; j++) if (b[j] < b[i]) { tmp = b[i]; b[i] = b[j]; b[j] = tmp }
            return b[int(k / 2)]
        }
        NR > 1 { t[n] = $1; v[n] = $col; n++ }
        END {
            last_warm = -1
            for (i = 0; i < n; i++) if (t[i] <= warm) last_warm = i
            if (last_warm < 4 || n - last_warm < 6) { print "- - - -"; exit }
            w = median(v, last_warm - 4, 5); e = median(v, n - 5, 5)
            max = 0; for (i = last_warm; i < n; i++) if (v[i] > max) max = v[i]
            printf "%s %s %s %.1f\n", w, e, max, (e - w) * 100 / w
        }' "$SAMPLES"
}
read -r rss_warm rss_end rss_max rss_growth <<<"$(growth 2)"
read -r fds_warm fds_end fds_max fds_growth <<<"$(growth 3)"
threads_max="$(awk -F, 'NR > 1 && $4 > m { m = $4 } END { print m + 0 }' "$SAMPLES")"
created="$(grep -c 'rotation: created the next key' "$SERVER_LOG" || true)"
switched="$(grep -c 'signing key changed' "$SERVER_LOG" || true)"
sighups="$(grep -c ' sighup$' "$EVENTS" || true)"
config_edits="$(grep -c ' config ' "$EVENTS" || true)"
reloads="$(grep -c 'configuration reloaded' "$SERVER_LOG" || true)"
cli_runs="$(grep -c ' keys ' "$EVENTS" || true)"
cli_failed="$(grep -c 'FAILED' "$EVENTS" || true)"

failures=()
[[ "$driver_code" == 0 ]] || failures+=("the driver exited with $driver_code")
[[ "$server_alive" == 1 ]] || failures+=("the server was not running at the end")
[[ "$DRIVER_5XX" == 0 ]] || failures+=("$DRIVER_5XX answers were 5xx")
[[ "$DRIVER_NO_ANSWER" == 0 ]] || failures+=("$DRIVER_NO_ANSWER requests got no answer")
[[ "$DRIVER_UNEXPECTED" == 0 ]] || failures+=("$DRIVER_UNEXPECTED answers were not the required one")
[[ "$DRIVER_VERIFY_FAILURES" == 0 ]] || failures+=("$DRIVER_VERIFY_FAILURES access tokens failed verification")
[[ "$DRIVER_VERIFIED" -gt 0 ]] || failures+=("no access token was verified")
[[ "$cli_failed" == 0 ]] || failures+=("$cli_failed operator commands failed (cli.log)")
if [[ "$DURATION_S" -ge $((2 * ROTATE_S)) && "$switched" -lt 1 ]]; then
    failures+=("no rotation in a run of more than two rotation periods")
fi
if [[ "$config_edits" -gt 0 && "$reloads" -lt 1 ]]; then
    failures+=("$config_edits configuration edits, no reload in the log")
fi
for pair in "resident memory:$rss_growth" "descriptors:$fds_growth"; do
    what="${pair%%:*}" value="${pair#*:}"
    if [[ "$value" == - ]]; then
        failures+=("$what: too few samples to judge (the run is too short for its warm-up)")
    elif awk -v g="$value" 'BEGIN { exit !(g >= 10) }'; then
        failures+=("$what grew ${value}% after warm-up")
    fi
done
verdict=PASS
[[ "${#failures[@]}" == 0 ]] || verdict=FAIL

{
    echo "## Soak: $verdict"
    echo
    echo "Command: \`$COMMAND\`"
    echo
    echo "$(date -u +%Y-%m-%d), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc) cores), server on core $SERVER_CORE, driver on core $DRIVER_CORE, $(rustc --version)"
    echo
    echo "| duration | requests (rps) | 5xx | no answer | unexpected | tokens verified / failed | key rotations (created / signing changes) | SIGHUPs / config edits (reloads) / keys commands | resident memory KiB: warm-up end → end (max) | descriptors: warm-up end → end (max) | threads (max) |"
    echo "|---|---:|---:|---:|---:|---|---|---|---|---|---:|"
    echo "| ${DRIVER_SECONDS}s (warm-up ${WARMUP_S}s) | $DRIVER_REQUESTS ($DRIVER_RPS/s) | $DRIVER_5XX | $DRIVER_NO_ANSWER | $DRIVER_UNEXPECTED | $DRIVER_VERIFIED / $DRIVER_VERIFY_FAILURES | $created / $switched | $sighups / $config_edits ($reloads) / $cli_runs | $rss_warm → $rss_end ($rss_max), ${rss_growth}% | $fds_warm → $fds_end ($fds_max), ${fds_growth}% | $threads_max |"
    echo
    echo "Per operation:"
    echo
    cat "$OUT/operations.md"
    if [[ "$verdict" == FAIL ]]; then
        echo
        echo "Failed:"
        printf -- '- %s\n' "${failures[@]}"
        echo
        echo "First problems the driver saw ($OUT/driver/details.txt):"
        echo
        sed 's/^/    /' "$OUT/driver/details.txt" | head -20
    fi
} | tee "$OUT/summary.md"

[[ "$verdict" == PASS ]]
