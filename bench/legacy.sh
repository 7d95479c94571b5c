#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# The cost of a miss with apikey_legacy_hash: requests with an unknown key
# (valid syntax, prefix and checksum, in no record: 401) against three
# configurations in the same run: the directive off, "sha256", and
# "sha256 pepper_file=" (HMAC-SHA-256).  With the directive on, a miss
# computes the SHA-256 digest and looks it up after the BLAKE2b one.
#
#   bench/legacy.sh [requests] [rounds]     default 3000 and 5
#
# Two measures of each:
#   - instructions per request, by callgrind (as bench/callgrind.sh: the
#     measure that does not depend on how busy the machine is);
#   - server CPU per request in microseconds: the ticks (utime + stime) of
#     the single nginx process over 20 x [requests] keep-alive requests,
#     the three configurations taking turns for [rounds] rounds, so that
#     a busy machine slows all three alike; the median round is printed.
# A known key is measured too, with the directive on, to show that a hit
# costs nothing more.
#
# The mirror holds the 1,000 keys of bench/lib/keys.py and 1,000 imported
# records (apikeyctl import).  BENCH_MODULE=/path/to/module.so measures
# another build.  Ports: Redis BENCH_REDIS_PORT+3 (16399), nginx
# BENCH_PORT_BASE+8 (18178).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench="$top/bench"
# shellcheck source=bench/lib/conf.sh
. "$bench/lib/conf.sh"
N=${1:-3000}
ROUNDS=${2:-5}
RP=$(( ${BENCH_REDIS_PORT:-16396} + 3 ))
PORT=$(( ${BENCH_PORT_BASE:-18170} + 8 ))
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
CTL=${BENCH_APIKEYCTL:-$top/build/apikeyctl}

log() { printf '[legacy %s] %s\n' "$(date +%T)" "$*" >&2; }

if [ "${APIKEY_SKIP_DEPS:-}" != 1 ]; then
    bash "$top/scripts/deps.sh" valgrind
fi

bench_module

[ -x "$CTL" ] || make -s -C "$top/tools" BUILD="$top/build" >&2

bench_work legacy
bench_small_redis "$RP"

# 1,000 imported records, their digests made with the pepper
printf 'a pepper for the benchmark\n' > "$work/pepper.key"
python3 - "$work" <<'EOF'
import hashlib, hmac, sys
with open(sys.argv[1] + "/legacy.csv", "w") as f:
    for i in range(1000):
        key = b"legacy_bench_%026d" % i
        d = hmac.new(b"a pepper for the benchmark", key,
                     hashlib.sha256).hexdigest()
        f.write("%s,legacy-%d,bench,read\n" % (d, i))
EOF
"$CTL" --redis "127.0.0.1:$RP" import --pepper-scheme hmac-sha256 \
    "$work/legacy.csv" >&2

mkdir -p "$work/html/api"
printf 'ok\n' > "$work/html/api/ok.txt"
chmod -R a+rX "$work/html"

conf() {   # conf NAME LEGACY
    bench_conf "$work/$1" "$PORT" "$work/html" "load_module $MODULE;" \
        "    apikey_zone keys:16m;
    apikey_redis 127.0.0.1:$RP;
    $2" "            apikey on;
            apikey_prefix taapit_;
            apikey_checksum on;" single
}

conf off "apikey_legacy_hash off;"
conf on "apikey_legacy_hash sha256;"
conf pepper "apikey_legacy_hash sha256 pepper_file=$work/pepper.key;"

ready() {   # ready: the mirror answers the known key
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' \
             -H "X-Secret-Key: $VALID_KEY" \
             "http://127.0.0.1:$PORT/api/ok.txt")" = 200 ] && return 0
        sleep 0.1
    done
    log "nginx did not answer"
    exit 1
}

stop() {
    kill -TERM "$vp"
    for _ in $(seq 100); do
        kill -0 "$vp" 2>/dev/null || break
        curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT/" || true
        sleep 0.2
    done
    wait "$vp" 2>/dev/null || true
    vp=
}

# instructions per request: callgrind over N requests with KEY
callgrind() {   # callgrind NAME KEY STATUS
    local name=$1 key=$2 want=$3 out
    out="$work/$name-$want"
    valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$out.out" "$NGINX" -p "$work/$name" \
        -c "$work/$name/nginx.conf" 2>"$out.valgrind.log" &
    vp=$!
    ready
    python3 "$bench/lib/client.py" loop "$PORT" /api/ok.txt 50 \
        "X-Secret-Key: $key" >/dev/null
    callgrind_control -i on "$vp" >/dev/null
    python3 "$bench/lib/client.py" loop "$PORT" /api/ok.txt "$N" \
        "X-Secret-Key: $key" > "$out.statuses"
    callgrind_control -i off "$vp" >/dev/null
    stop
    grep -q "^$want:" "$out.statuses" \
        || { log "$name: no $want answers"; cat "$out.statuses" >&2; exit 1; }
    callgrind_annotate --auto=no --threshold=100 "$out.out" 2>/dev/null \
        | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1;
                                           done = 1 }'
}

# server CPU ticks of one nginx process over 20 * N requests
ticks() {   # ticks PID KEY
    local before after
    before=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
    python3 "$bench/lib/client.py" loop "$PORT" /api/ok.txt $(( 20 * N )) \
        "X-Secret-Key: $2" > /dev/null
    after=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
    echo $(( after - before ))
}

declare -A IR
for name in off on pepper; do
    log "callgrind: $name, $N requests with an unknown key"
    IR[$name]=$(callgrind "$name" "$UNKNOWN_KEY" 401)
done
log "callgrind: on, $N requests with a known key"
IR[hit]=$(callgrind on "$VALID_KEY" 200)
log "callgrind: off, $N requests with a known key"
IR[hitoff]=$(callgrind off "$VALID_KEY" 200)

declare -A TICKS
for r in $(seq "$ROUNDS"); do
    for name in off on pepper; do
        "$NGINX" -p "$work/$name" -c "$work/$name/nginx.conf" \
            2>"$work/$name.err" &
        vp=$!
        ready
        TICKS[$name]="${TICKS[$name]:-} $(ticks "$vp" "$UNKNOWN_KEY")"
        stop
    done
    log "round $r: ticks off/on/pepper:${TICKS[off]##* } ${TICKS[on]##* }" \
        "${TICKS[pepper]##* }"
done

hz=$(getconf CLK_TCK)

python3 - "$N" "$hz" "${IR[off]}" "${IR[on]}" "${IR[pepper]}" \
    "${IR[hitoff]}" "${IR[hit]}" "${TICKS[off]}" "${TICKS[on]}" \
    "${TICKS[pepper]}" <<'EOF'
import statistics, sys
n, hz = int(sys.argv[1]), int(sys.argv[2])
ir = [int(x) / n for x in sys.argv[3:8]]
ticks = [[int(t) for t in s.split()] for s in sys.argv[8:11]]
us = [statistics.median(t) * 1e6 / hz / (20 * n) for t in ticks]
print("unknown key (401), per request       Ir      CPU us (median of %d)"
      % len(ticks[0]))
for name, i, u in zip(("apikey_legacy_hash off", "sha256", "sha256 pepper"),
                      ir[:3], us):
    print("  %-30s %9.0f %9.1f" % (name, i, u))
print("  %-30s %+9.0f %+9.1f" % ("sha256 - off", ir[1] - ir[0], us[1] - us[0]))
print("  %-30s %+9.0f %+9.1f" % ("pepper - off", ir[2] - ir[0], us[2] - us[0]))
print("known key (200), per request         Ir")
print("  %-30s %9.0f" % ("apikey_legacy_hash off", ir[3]))
print("  %-30s %9.0f" % ("sha256", ir[4]))
print("  %-30s %+9.0f" % ("sha256 - off", ir[4] - ir[3]))
EOF
