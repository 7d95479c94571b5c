#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Runs every libFuzzer harness of fuzz/ (built by fuzz/build.sh) for a
# while, each on a scratch copy of its committed seed corpus, so that what
# the run finds never grows fuzz/corpus/.  Crash reproducers land in
# build/fuzz/artifacts/<harness>/; the exit status is non-zero if any
# harness crashed or broke an invariant.
#
#   fuzz/run.sh [seconds] [harness...]     default: 60 s, all harnesses
#   FUZZ_JOBS=2 fuzz/run.sh 600            two harnesses at a time
#   FUZZ_KEEP=1 fuzz/run.sh                keep the grown corpora
#   FUZZ_BUILD=0 fuzz/run.sh               do not run fuzz/build.sh first
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="${FUZZ_OUT:-$top/build/fuzz}"
secs=${1:-60}
shift || true

if [ $# -gt 0 ]; then
    harnesses=("$@")
else
    harnesses=(header record grants cidr checksum logscrub resp)
fi

# the build's output goes to a log; a failing build shows it
if [ "${FUZZ_BUILD:-1}" != 0 ]; then
    mkdir -p "$out"
    if ! bash "$top/fuzz/build.sh" >"$out/build.log" 2>&1; then
        echo "fuzz: fuzz/build.sh failed; its output ($out/build.log):" >&2
        tail -40 "$out/build.log" >&2
        exit 1
    fi
fi

export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:\
suppressions=$top/fuzz/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

work=$(mktemp -d "$out/run.XXXXXX")
[ "${FUZZ_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

run_one() {
    local h=$1 corpus="$work/$1" art="$out/artifacts/$1" rc=0

    mkdir -p "$corpus" "$art"
    cp "$top/fuzz/corpus/$h"/* "$corpus/"

    "$out/fuzz_$h" "$corpus" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" \
        >"$out/$h.log" 2>&1 || rc=$?

    echo "$rc" > "$work/$h.rc"
}

summary() {
    local h=$1 rc execs rate

    rc=$(cat "$work/$h.rc")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$h.log")

    if [ "$rc" = 0 ]; then
        printf '%-10s ok     %12s execs %8s/s  %s files\n' "$h" \
            "${execs:-?}" "${rate:-?}" "$(find "$work/$h" -type f | wc -l)"
    else
        printf '%-10s FAILED (exit %s), see %s and %s\n' "$h" "$rc" \
            "$out/$h.log" "$out/artifacts/$h/"
        grep -E "INVARIANT|ERROR: (Address|Undefined|libFuzzer)|runtime error" \
            -A1 "$out/$h.log" | head -6 || true
    fi
}

jobs=${FUZZ_JOBS:-1}
running=0

for h in "${harnesses[@]}"; do
    [ -x "$out/fuzz_$h" ] || { echo "run: no $out/fuzz_$h" >&2; exit 2; }
    run_one "$h" &
    running=$((running + 1))

    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done

wait

failed=0
for h in "${harnesses[@]}"; do
    summary "$h" | tee -a "$out/summary.txt"
    [ "$(cat "$work/$h.rc")" = 0 ] || failed=1
done

[ "${FUZZ_KEEP:-0}" != 1 ] || echo "run: grown corpora kept in $work"
exit "$failed"
