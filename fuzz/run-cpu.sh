#!/usr/bin/env bash
# Fuzzes one target until its process has used CPU_SECONDS of CPU time (not wall time), so a
# run shares a busy machine without shortening what it records:
#
#   fuzz/run-cpu.sh TARGET [CPU_SECONDS]        # default 3630: an hour and a little
#
# The fuzzer runs at nice 19 (its autogroup too) and is stopped with SIGINT, on which libFuzzer prints its final
# statistics (executions, peak RSS) to fuzz/fuzz-TARGET.log. The last progress line there
# (`#N ... cov: EDGES ft: FEATURES corp: UNITS/SIZE`) gives coverage; the CPU and wall
# seconds are printed here at the end. A finding stops the run early and leaves the input
# under fuzz/artifacts/TARGET/. Bounded: gives up after 6 hours of wall time.
set -euo pipefail
cd "$(dirname "$0")"

[[ $# -ge 1 ]] || { echo "usage: fuzz/run-cpu.sh TARGET [CPU_SECONDS]" >&2; exit 2; }
TARGET="$1"
LIMIT="${2:-3630}"
LOG="fuzz-$TARGET.log"
TICKS="$(getconf CLK_TCK)"

nice -n 19 cargo +nightly fuzz run "$TARGET" -- -max_total_time=21600 -print_final_stats=1 \
    -rss_limit_mb=4096 >"$LOG" 2>&1 &
runner=$!

pid=""
cpu=0
for ((i = 0; i < 6 * 3600 / 10; i++)); do
    sleep 10
    pid="$(pgrep -f "release/$TARGET -artifact" | head -1 || true)"
    if [[ -z "$pid" ]]; then
        kill -0 "$runner" 2>/dev/null || break # the run ended by itself: a finding or a build error
        continue                               # still building
    fi
    # nice counts only within the process's autogroup (its session, with autogroups on):
    # lower the group too, so the run yields to other sessions as well.
    [[ -w "/proc/$pid/autogroup" ]] && echo 19 >"/proc/$pid/autogroup" 2>/dev/null || true
    cpu=$(($(awk '{ print $14 + $15 }' "/proc/$pid/stat") / TICKS))
    if ((cpu >= LIMIT)); then
        wall="$(ps -o etimes= -p "$pid" | tr -d ' ')"
        kill -INT "$pid"
        wait "$runner" || true
        echo "$TARGET: stopped after ${cpu} s of CPU, ${wall} s of wall time"
        grep -E '^#[0-9]+' "$LOG" | tail -1
        grep -E '^stat::' "$LOG"
        exit 0
    fi
done
wait "$runner" || true
echo "$TARGET: ended by itself after ${cpu} s of CPU; see fuzz/$LOG" >&2
tail -20 "$LOG" >&2
exit 1
