#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Instructions per request, plain nginx against the module, by callgrind:
# the part of bench/run.sh that does not depend on how busy the machine is
# (callgrind counts instructions, not time), in about a minute.
#
#   bench/callgrind.sh [requests]      default 3000
#
# BENCH_MODULE=/path/to/module.so measures another build; the header sent
# is X-Secret-Key unless CG_HEADER says otherwise (e.g. "Authorization:
# Bearer" to measure that form).  CG_OUT=DIR also keeps the two listings
# there as cg-plain.self.txt and cg-mod.self.txt (bench/run.sh does).
# CG_LOC adds directives to the module's location, e.g.
# CG_LOC="apikey_rate_limit 1000000000/h;" for the cost of the limits.  Ports: Redis BENCH_REDIS_PORT+1 (16397),
# nginx BENCH_PORT_BASE+7 (18177).  It prints the Ir per request of each,
# the difference and where the difference goes (self cost, top 20).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench="$top/bench"
# shellcheck source=bench/lib/conf.sh
. "$bench/lib/conf.sh"
N=${1:-3000}
RP=$(( ${BENCH_REDIS_PORT:-16396} + 1 ))
PORT=$(( ${BENCH_PORT_BASE:-18170} + 7 ))
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}

log() { printf '[callgrind %s] %s\n' "$(date +%T)" "$*" >&2; }

if [ "${APIKEY_SKIP_DEPS:-}" != 1 ]; then
    bash "$top/scripts/deps.sh" valgrind
fi

bench_module

bench_work callgrind
bench_small_redis "$RP"

mkdir -p "$work/html/api"
printf 'ok\n' > "$work/html/api/ok.txt"
chmod -R a+rX "$work/html"

case "${CG_HEADER:-X-Secret-Key}" in
X-Secret-Key)          HDR="X-Secret-Key: $VALID_KEY" ;;
"Authorization: Bearer") HDR="Authorization: Bearer $VALID_KEY" ;;
*)                     echo "CG_HEADER: X-Secret-Key or" \
                            "\"Authorization: Bearer\"" >&2; exit 1 ;;
esac

conf() {   # conf NAME MAIN HTTP LOC
    bench_conf "$work/$1" "$PORT" "$work/html" "$2" "$3" "$4" single
}

run() {   # run NAME
    local name=$1 i
    valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$work/$name.out" "$NGINX" -p "$work/$name" \
        -c "$work/$name/nginx.conf" 2>"$work/$name/valgrind.log" &
    vp=$!
    for i in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$HDR" \
             "http://127.0.0.1:$PORT/api/ok.txt")" = 200 ] && break
        sleep 0.1
    done
    python3 "$bench/lib/client.py" loop "$PORT" /api/ok.txt 50 "$HDR" \
        >/dev/null
    callgrind_control -i on "$vp" >/dev/null
    python3 "$bench/lib/client.py" loop "$PORT" /api/ok.txt "$N" "$HDR" \
        > "$work/$name.statuses"
    callgrind_control -i off "$vp" >/dev/null
    kill -TERM "$vp"
    for i in $(seq 100); do
        kill -0 "$vp" 2>/dev/null || break
        curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT/" || true
        sleep 0.2
    done
    wait "$vp" 2>/dev/null || true
    vp=
    grep -q '^200:' "$work/$name.statuses" \
        || { log "$name: no 200 answers"; cat "$work/$name.statuses" >&2;
             exit 1; }
    callgrind_annotate --auto=no --threshold=100 "$work/$name.out" \
        > "$work/$name.self.txt" 2>/dev/null
}

conf plain "" "" ""
conf mod "load_module $MODULE;" "    apikey_zone keys:16m;
    apikey_redis 127.0.0.1:$RP;" "            apikey on;
            apikey_prefix taapit_;
            apikey_checksum on;
            ${CG_LOC:-}"

log "plain nginx, $N requests"
run plain
log "module, $N requests, ${CG_HEADER:-X-Secret-Key}"
run mod

if [ -n "${CG_OUT:-}" ]; then    # bench/run.sh keeps the listings
    cp "$work/plain.self.txt" "$CG_OUT/cg-plain.self.txt"
    cp "$work/mod.self.txt" "$CG_OUT/cg-mod.self.txt"
fi

python3 "$bench/lib/cgdiff.py" "$work/plain.self.txt" "$work/mod.self.txt" \
    "$N" 20
