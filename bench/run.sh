#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# The benchmark of docs/benchmarks.md, in one command:
#
#   bench/run.sh            full run (5 rounds x 5 s per contender, 1M keys,
#                           1000 revocations, callgrind), about 7 minutes
#   bench/run.sh --quick    3 rounds x 2 s, 200 revocations, shorter
#                           callgrind, about 2.5 minutes (still 1M keys)
#
# Options: --rounds N  --duration S  --keys N (the big key set)
#          --tries N (revocations)  --no-profile  --keep (keep the work dir)
#          --out FILE (also write the Markdown report there)
#          --conns N (wrk connections, default 32)
#          --wait-idle S (before measuring, wait up to S seconds for both
#          CPUs to be 90% idle: for machines shared with other work)
#          --sched nice|fifo (default nice: our processes at nice -10,
#          BENCH_NICE; fifo: nginx, wrk and Redis under SCHED_FIFO, which
#          keeps other work on the machine out of the measurement but lets
#          the kernel's RT throttling (5% per second) into the latencies)
#          --serve (set everything up, print the ports, wait for Ctrl-C)
#
# It installs what is missing through apt-get (scripts/deps.sh), builds the
# module (scripts/build.sh, into build/bench), starts its own redis-server
# and nginx instances on loopback (Redis 16396-16397, nginx 18171-18179;
# override with BENCH_REDIS_PORT and BENCH_PORT_BASE), runs everything,
# prints the table and stops everything it started.
#
# Method: nginx instances run with one worker each, pinned to CPU 0
# (taskset -c 0); wrk -t1 -c32 (keep-alive) and Redis run on CPU 1, all
# at nice -10 (BENCH_NICE) so that other work on the machine disturbs less.
# Contenders are measured in ONE interleaved run (A B C ... A B C ...), and
# every ratio is the median over rounds of the ratio within a round.  The
# server's CPU time per request is read from /proc/<worker>/stat (utime +
# stime) around every wrk run, and so is the CPU time every other process
# on the machine used meanwhile.  See docs/benchmarks.md.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench="$top/bench"
# shellcheck source=bench/lib/conf.sh
. "$bench/lib/conf.sh"

ROUNDS=5
DUR=5
NBIG=1000000
TRIES=1000
SYNC_DUR=20
CG_REQS=3000
PROFILE=1
KEEP=0
OUT=
MODE=default
SERVE=0
CONNS=32
WAIT_IDLE=0
SCHED=nice

while [ $# -gt 0 ]; do
    case "$1" in
    --quick)      MODE=quick; ROUNDS=3; DUR=2; TRIES=200; SYNC_DUR=10
                  CG_REQS=1000 ;;
    --rounds)     ROUNDS=$2; shift ;;
    --duration)   DUR=$2; shift ;;
    --keys)       NBIG=$2; shift ;;
    --tries)      TRIES=$2; shift ;;
    --no-profile) PROFILE=0 ;;
    --keep)       KEEP=1 ;;
    --out)        OUT=$2; shift ;;
    --serve)      SERVE=1 ;;
    --conns)      CONNS=$2; shift ;;
    --wait-idle)  WAIT_IDLE=$2; shift ;;
    --sched)      SCHED=$2; shift ;;
    -h|--help)    sed -n '2,34p' "$0"; exit 0 ;;
    *)            echo "bench: unknown option $1" >&2; exit 1 ;;
    esac
    shift
done

RP=${BENCH_REDIS_PORT:-16396}
base=${BENCH_PORT_BASE:-18170}
P_PLAIN=$((base + 1)) P_MOD=$((base + 2)) P_RL=$((base + 3))
P_LUA=$((base + 4)) P_AUTH=$((base + 5)) P_BIG=$((base + 6))
P_PROF=$((base + 7))    # bench/callgrind.sh (and Redis on RP + 1)
P_PPLAIN=$((base + 8)) P_PMOD=$((base + 9))
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
ZONE=${BENCH_ZONE:-300m}
HZ=$(getconf CLK_TCK)
# our processes get a higher CPU priority than whatever else the machine
# runs (0 to leave it alone); negative values need root
NICE=${BENCH_NICE:--10}
[ "$(id -u)" = 0 ] || NICE=0
# (not for commands put in the background: $! must be the command's pid)
case "$SCHED" in
nice)
    run0() { nice -n "$NICE" taskset -c 0 "$@"; }   # on nginx's CPU
    run1() { nice -n "$NICE" taskset -c 1 "$@"; }   # on the client's CPU
    ;;
fifo)
    [ "$(id -u)" = 0 ] || { echo "bench: --sched fifo needs root" >&2; exit 1; }
    run0() { chrt -f 10 taskset -c 0 "$@"; }
    run1() { chrt -f 10 taskset -c 1 "$@"; }
    ;;
*)  echo "bench: --sched nice|fifo" >&2; exit 1 ;;
esac

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- what it needs ----------------------------------------------------------

if [ "${APIKEY_SKIP_DEPS:-}" != 1 ]; then
    bash "$top/scripts/deps.sh" wrk libnginx-mod-http-lua lua-nginx-redis \
        linux-perf valgrind time
fi

if [ -n "${BENCH_MODULE:-}" ]; then
    MODULE=$BENCH_MODULE          # a module built elsewhere, e.g. a variant
    log "using the module $MODULE"
else
    build="${BENCH_BUILD_DIR:-$top/build/bench}"
    log "building the module into $build"
    APIKEY_SKIP_DEPS=1 BUILD_DIR="$build" bash "$top/scripts/build.sh" >&2
    MODULE="$build/modules/ngx_http_apikey_module.so"
fi

[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (nginx on CPU 0, wrk on CPU 1)"

for p in "$RP" "$((RP + 1))" "$P_PLAIN" "$P_MOD" "$P_RL" "$P_LUA" \
         "$P_AUTH" "$P_BIG" "$P_PROF" "$P_PPLAIN" "$P_PMOD"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is in use (set BENCH_REDIS_PORT or BENCH_PORT_BASE)"
    fi
done

work=$(mktemp -d /tmp/apikey-bench.XXXXXX)
chmod 755 "$work"
bg_pids=()

cleanup() {
    local rc=$? f pid i
    set +e
    for pid in "${bg_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    local masters=()
    for f in "$work"/*/logs/nginx.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null && masters+=("$pid")
    done
    for pid in "${masters[@]}"; do
        for i in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    if [ -f "$work/redis.pid" ]; then
        kill "$(cat "$work/redis.pid")" 2>/dev/null
    fi
    if [ "$KEEP" = 1 ]; then
        log "work directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Redis and keys -------------------------------------------------------

log "redis-server on 127.0.0.1:$RP (CPU 1)"
run1 redis-server --port "$RP" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize yes --dir "$work" \
    --pidfile "$work/redis.pid" --logfile "$work/redis.log" >/dev/null
for _ in $(seq 50); do
    redis-cli -p "$RP" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$RP" ping >/dev/null || die "redis did not start"

log "generating keys (1,000 real; $NBIG in the big set, 100,000 of them real)"
python3 "$bench/lib/keys.py" "$work" "$NBIG"
# shellcheck disable=SC1091
. "$work/keys.env"
redis-cli -p "$RP" --pipe < "$work/small.resp" >/dev/null
head -1000 "$work/big-keys.txt" > "$work/big-hot-keys.txt"

mkdir -p "$work/html/api"
printf 'ok\n' > "$work/html/api/ok.txt"
chmod -R a+rX "$work/html"

# --- nginx instances ---------------------------------------------------------

# conf NAME PORT MAIN HTTP LOCATION [single] [LOGLEVEL]: writes
# $work/NAME/nginx.conf (bench/lib/conf.sh)
conf() {
    bench_conf "$work/$1" "$2" "$work/html" "$3" "$4" "$5" "${6:-}" \
        "${7:-notice}"
}

MOD_MAIN="load_module $MODULE;"
# the periodic re-sync is left out of the throughput rounds (it would land
# on whichever contender runs at that moment); re-syncs are measured apart
MOD_HTTP="    apikey_zone keys:$ZONE;
    apikey_redis 127.0.0.1:$RP;
    apikey_sync_interval 1h;"
MOD_LOC="            apikey on;
            apikey_prefix taapit_;
            apikey_checksum on;"

conf plain "$P_PLAIN" "" "" ""
conf mod "$P_MOD" "$MOD_MAIN" "$MOD_HTTP" "$MOD_LOC"
conf rl "$P_RL" "$MOD_MAIN" "$MOD_HTTP" "$MOD_LOC
            apikey_rate_limit 1000000000/h;"
conf big "$P_BIG" "$MOD_MAIN" "    apikey_zone keys:$ZONE;
    apikey_redis 127.0.0.1:$RP prefix=big:;
    apikey_sync_interval 1h;" "$MOD_LOC" "" info
conf lua "$P_LUA" "load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
env BENCH_REDIS_PORT;" "    lua_package_path \"$bench/lua/?.lua;/usr/share/lua/5.1/?.lua;;\";
    lua_shared_dict apikey_cache 32m;
    lua_shared_dict apikey_counts 32m;" \
"            access_by_lua_block { require(\"apikey_check\").check() }"
conf auth "$P_AUTH" "" "    map_hash_bucket_size 256;
    map_hash_max_size 8192;
    map \$http_x_secret_key \$bench_key_ok {
        default 0;
$(cat "$work/authmap.conf")
    }" "            auth_request /_auth;
        }
        location = /_auth {
            internal;
            if (\$bench_key_ok = 0) { return 401; }
            return 204;"

# an API gateway's case: the same file through proxy_pass to an upstream
# (a location of the same worker, over keep-alive), with and without the
# check in front
proxy_http() {
    echo "    upstream self_up { server 127.0.0.1:$1; keepalive 16; }"
}
PROXY_LOC="            proxy_pass http://self_up/up/;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
        location /up/ {
            alias $work/html/api/;"
conf pplain "$P_PPLAIN" "" "$(proxy_http "$P_PPLAIN")" "$PROXY_LOC"
conf pmod "$P_PMOD" "$MOD_MAIN" "$MOD_HTTP
$(proxy_http "$P_PMOD")" "$MOD_LOC
$PROXY_LOC"

export BENCH_REDIS_PORT=$RP

start() {
    local name=$1
    "$NGINX" -t -q -p "$work/$name" -c "$work/$name/nginx.conf" \
        || die "nginx -t failed for $name"
    run0 "$NGINX" -p "$work/$name" -c "$work/$name/nginx.conf"
}

worker_of() {
    local master
    master=$(cat "$work/$1/logs/nginx.pid")
    ps --ppid "$master" -o pid= | head -1 | tr -d ' '
}

# status PORT EXPR: a field of the module's status JSON (python expression
# over the dict d), or nothing
status() {
    curl -s -m 5 "http://127.0.0.1:$1/status" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print(eval(sys.argv[1], {}, {"d": d}))
except Exception:
    pass' "$2"
}

# wait_sync PORT KEYS MIN_FULL_SYNCS [SECONDS]
wait_sync() {
    local t=0 st
    while [ "$t" -lt $((${4:-60} * 10)) ]; do
        st=$(status "$1" \
            '"%s %s %s" % (d["sync"]["state"], d["keys"], d["sync"]["full_syncs"])')
        if [ -n "$st" ]; then
            read -r s k f <<<"$st"
            if [ "$s" = synced ] && [ "$k" = "$2" ] && [ "$f" -ge "$3" ]; then
                return 0
            fi
        fi
        sleep 0.1
        t=$((t + 1))
    done
    die "port $1: no full sync to $2 keys (status: ${st:-none})"
}

code() {   # code PORT HEADER -> HTTP status
    curl -s -o /dev/null -w '%{http_code}' -m 5 ${2:+-H "$2"} \
        "http://127.0.0.1:$1/api/ok.txt"
}

log "starting nginx instances (one worker each, CPU 0)"
for n in plain mod rl lua auth big pplain pmod; do
    start "$n"
done

wait_sync "$P_MOD" 1000 1
wait_sync "$P_RL" 1000 1
wait_sync "$P_PMOD" 1000 1
wait_sync "$P_BIG" 0 1

# the empty zone, then the big set through a full re-sync
empty_used=$(status "$P_BIG" 'd["zone_bytes"]["used"]')
zone_size=$(status "$P_BIG" 'd["zone_bytes"]["size"]')
log "seeding $NBIG keys under big: (redis-cli --pipe)"
t0=$(date +%s.%N)
redis-cli -p "$RP" --pipe < "$work/big.resp" >/dev/null
t1=$(date +%s.%N)
rm -f "$work/big.resp"
syncs=$(status "$P_BIG" 'd["sync"]["full_syncs"]')
redis-cli -p "$RP" publish big:events '*' >/dev/null
wait_sync "$P_BIG" "$NBIG" $((syncs + 1)) 120
first_sync_ms=$(status "$P_BIG" 'd["sync"]["last_full_sync_ms"]')
big_used=$(status "$P_BIG" 'd["zone_bytes"]["used"]')
log "seeded in $(python3 -c "print('%.1f' % ($t1 - $t0))") s; loaded $NBIG keys in $first_sync_ms ms"

# an unchanged re-sync, idle
syncs=$(status "$P_BIG" 'd["sync"]["full_syncs"]')
redis-cli -p "$RP" publish big:events '*' >/dev/null
wait_sync "$P_BIG" "$NBIG" $((syncs + 1)) 120
idle_sync_ms=$(status "$P_BIG" 'd["sync"]["last_full_sync_ms"]')

# --- every contender answers what it should ----------------------------------

XS="X-Secret-Key: $VALID_KEY"
BR="Authorization: Bearer $VALID_KEY"
UK="X-Secret-Key: $UNKNOWN_KEY"

check() {   # check NAME PORT HEADER WANT
    local got
    got=$(code "$2" "$3")
    [ "$got" = "$4" ] || die "$1: expected $4, got $got"
}
check plain "$P_PLAIN" "$XS" 200
check module "$P_MOD" "$XS" 200
check module "$P_MOD" "$BR" 200
check module "$P_MOD" "$UK" 401
check module "$P_MOD" "" 401
check module "$P_MOD" "X-Secret-Key: taapit_garbage" 401
check rate-limit "$P_RL" "$XS" 200
check lua "$P_LUA" "$XS" 200
check lua "$P_LUA" "$BR" 200
check lua "$P_LUA" "" 401
check lua "$P_LUA" "$UK" 401
check auth_request "$P_AUTH" "$XS" 200
check auth_request "$P_AUTH" "" 401
check auth_request "$P_AUTH" "$UK" 401
check 1M "$P_BIG" "$XS" 200
check 1M "$P_BIG" "$UK" 401
check proxy-plain "$P_PPLAIN" "$XS" 200
check proxy-module "$P_PMOD" "$XS" 200
check proxy-module "$P_PMOD" "$UK" 401
hdrs=$(curl -s -D - -o /dev/null -H "$XS" "http://127.0.0.1:$P_RL/api/ok.txt")
grep -qi '^X-RateLimit-Limit: 1000000000' <<<"$hdrs" \
    || die "rate-limit contender: no X-RateLimit-Limit header"
body=$(curl -s -H "$UK" "http://127.0.0.1:$P_MOD/api/ok.txt")
[ "$body" = '{"detail":"Invalid API key"}' ] \
    || die "module: unexpected 401 body: $body"

if [ "$SERVE" = 1 ]; then
    log "serving: plain $P_PLAIN, module $P_MOD, rate-limit $P_RL, lua $P_LUA,"
    log "auth_request $P_AUTH, 1M keys $P_BIG; redis $RP; work dir $work"
    log "valid key $VALID_KEY, unknown key $UNKNOWN_KEY; Ctrl-C stops"
    while :; do
        sleep 3600 &
        bg_pids+=("$!")
        wait "$!"
    done
fi

# --- the interleaved run -----------------------------------------------------

# name|port|header|expected status
contenders=(
    "plain|$P_PLAIN|$XS|200"
    "x-secret-key|$P_MOD|$XS|200"
    "bearer|$P_MOD|$BR|200"
    "unknown-key|$P_MOD|$UK|401"
    "rate-limit|$P_RL|$XS|200"
    "lua|$P_LUA|$XS|200"
    "auth_request|$P_AUTH|$XS|200"
    "1k-random|$P_MOD|@$work/small-keys.txt|200"
    "1M-hot1k|$P_BIG|@$work/big-hot-keys.txt|200"
    "1M-random|$P_BIG|@$work/big-keys.txt|200"
    "proxy-plain|$P_PPLAIN|$XS|200"
    "proxy-module|$P_PMOD|$XS|200"
)

declare -A wpid
wpid[$P_PLAIN]=$(worker_of plain)
wpid[$P_MOD]=$(worker_of mod)
wpid[$P_RL]=$(worker_of rl)
wpid[$P_LUA]=$(worker_of lua)
wpid[$P_AUTH]=$(worker_of auth)
wpid[$P_BIG]=$(worker_of big)
wpid[$P_PPLAIN]=$(worker_of pplain)
wpid[$P_PMOD]=$(worker_of pmod)

# our long-running processes: Redis, every nginx master and worker
ours=("$(cat "$work/redis.pid")")
for f in "$work"/*/logs/nginx.pid; do
    m=$(cat "$f")
    ours+=("$m")
    for w in $(ps --ppid "$m" -o pid=); do
        ours+=("$w")
    done
done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# busy ticks (user, nice, system, irq, softirq) of CPU 0 and CPU 1 so far
# (for --wait-idle)
cpu_busy() {
    awk '/^cpu[01] / { printf "%d ", $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

# wrk_run PORT HEADER SECONDS OUTFILE: wrk's own CPU seconds go to
# $work/wrk.cpu.  HEADER "@FILE" sends a random key of FILE with every
# request instead (bench/lib/randkey.lua).
wrk_run() {
    local how=(-H "$2") args=()
    if [ "${2:0:1}" = @ ]; then
        how=(-s "$bench/lib/randkey.lua")
        args=(-- "${2:1}")
    fi
    run1 /usr/bin/time -f '%U %S' -o "$work/wrk.cpu" \
        wrk -t1 -c"$CONNS" -d"$3"s --latency "${how[@]}" \
        "http://127.0.0.1:$1/api/ok.txt" "${args[@]}" > "$4"
}

# parse_wrk FILE -> "requests rps non2xx p50_ms p99_ms max_ms"
parse_wrk() {
    awk '
    function ms(v) {
        if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
        if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
        if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
        return v
    }
    /^ +Latency +[0-9]/        { max = ms($4) }
    /^ +50% /                 { p50 = ms($2) }
    /^ +99% /                 { p99 = ms($2) }
    / requests in /           { req = $1 }
    /Non-2xx or 3xx/          { non = $NF }
    /^Requests\/sec:/         { rps = $2 }
    END { printf "%d %s %d %.3f %.3f %.3f\n", req, rps, non, p50, p99, max }
    ' "$1"
}

results="$work/results.tsv"
printf 'round\tcontender\trequests\trps\tnon2xx\tp50_ms\tp99_ms\tmax_ms\tcpu_ticks\texpect\twrk_cpu_s\tother_ticks\n' \
    > "$results"

if [ "$WAIT_IDLE" -gt 0 ]; then
    log "waiting up to ${WAIT_IDLE}s for both CPUs to be 90% idle"
    waited=0
    while [ "$waited" -lt "$WAIT_IDLE" ]; do
        read -r b0 b1 <<<"$(cpu_busy)"
        sleep 3
        read -r e0 e1 <<<"$(cpu_busy)"
        if [ $((e0 - b0)) -le $((3 * HZ / 10)) ] \
           && [ $((e1 - b1)) -le $((3 * HZ / 10)) ]; then
            break
        fi
        waited=$((waited + 3))
    done
    log "CPU busy over the last 3 s: $((e0 - b0)) and $((e1 - b1)) ticks"
fi

log "warm-up"
for c in "${contenders[@]}"; do
    IFS='|' read -r name port hdr want <<<"$c"
    wrk_run "$port" "$hdr" 1 /dev/null
done

total=$(( ${#contenders[@]} * ROUNDS * (DUR + 1) ))
log "interleaved run: ${#contenders[@]} contenders x $ROUNDS rounds x ${DUR}s (about ${total}s)"
for r in $(seq "$ROUNDS"); do
    for c in "${contenders[@]}"; do
        IFS='|' read -r name port hdr want <<<"$c"
        pid=${wpid[$port]}
        python3 "$bench/lib/procticks.py" snap "$work/procs.0"
        t0=$(ticks "$pid")
        wrk_run "$port" "$hdr" "$DUR" "$work/wrk.out"
        t1=$(ticks "$pid")
        python3 "$bench/lib/procticks.py" snap "$work/procs.1"
        read -r req rps non p50 p99 max <<<"$(parse_wrk "$work/wrk.out")"
        [ "$req" -gt 0 ] || die "$name: wrk got no responses: $(cat "$work/wrk.out")"
        wcpu=$(awk '{ print $1 + $2 }' "$work/wrk.cpu")
        # ticks of processes that are not ours: other work on the machine
        other=$(python3 "$bench/lib/procticks.py" delta "$work/procs.0" \
                "$work/procs.1" "${ours[@]}")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$r" "$name" "$req" "$rps" "$non" "$p50" "$p99" "$max" \
            $((t1 - t0)) "$want" "$wcpu" "$other" >> "$results"
        sleep 0.5
    done
    log "round $r/$ROUNDS done"
done

# --- a full re-sync of the big set under load ---------------------------------

log "the $NBIG-key instance: ${SYNC_DUR}s of load without, then with full re-syncs"
wrk_run "$P_BIG" "$XS" "$SYNC_DUR" "$work/wrk-nosync.out"
read -r nreq nrps nnon np50 np99 nmax <<<"$(parse_wrk "$work/wrk-nosync.out")"
syncs0=$(status "$P_BIG" 'd["sync"]["full_syncs"]')
lines0=$(wc -l < "$work/big/logs/error.log")
(
    while :; do
        redis-cli -p "$RP" publish big:events '*' >/dev/null 2>&1 || true
        sleep 0.5
    done
) &
pub=$!
bg_pids+=("$pub")
wrk_run "$P_BIG" "$XS" "$SYNC_DUR" "$work/wrk-sync.out"
kill "$pub" 2>/dev/null || true
wait "$pub" 2>/dev/null || true
syncs1=$(status "$P_BIG" 'd["sync"]["full_syncs"]')
wait_sync "$P_BIG" "$NBIG" "$syncs1" 120
sleep 1
# every full sync that ran during the load, in ms (logged at "info")
load_sync_ms=$(tail -n +$((lines0 + 1)) "$work/big/logs/error.log" \
               | grep -o 'full sync of [0-9]* keys in [0-9]* ms' \
               | awk '{ print $7 }' | paste -sd, -) || true
read -r sreq srps snon sp50 sp99 smax <<<"$(parse_wrk "$work/wrk-sync.out")"
during_syncs=$((syncs1 - syncs0))

# --- revocation ------------------------------------------------------------------

log "revocation: $TRIES tries against the $NBIG-key instance"
read -r rv_n rv_p50 rv_p90 rv_p99 rv_max rv_polls <<<"$(run1 \
    python3 "$bench/lib/client.py" revoke "$P_BIG" "$RP" big: \
    "$REVOKE_KEY" "$REVOKE_DIGEST" "$TRIES")"

# --- profiles --------------------------------------------------------------------

perf_top=
cg_mod=
cg_plain=
if [ "$PROFILE" = 1 ]; then
    log "perf record of the module's worker (x-secret-key, ${DUR}s)"
    pid=${wpid[$P_MOD]}
    nice -n "$NICE" taskset -c 1 perf record -q -e cpu-clock -F 2999 -g -p "$pid" \
        -o "$work/perf.data" -- sleep "$DUR" 2>/dev/null &
    pp=$!
    bg_pids+=("$pp")
    wrk_run "$P_MOD" "$XS" "$DUR" /dev/null
    wait "$pp" || true
    perf report -i "$work/perf.data" --no-children --sort dso,symbol \
        --stdio -g none --percent-limit 0.7 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -40 > "$work/perf-top.txt" || true
    perf report -i "$work/perf.data" --no-children --sort dso --stdio \
        -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 \
        > "$work/perf-dso.txt" || true

    log "perf record of the $NBIG-key worker during an idle full re-sync"
    pid=${wpid[$P_BIG]}
    syncs=$(status "$P_BIG" 'd["sync"]["full_syncs"]')
    nice -n "$NICE" taskset -c 1 perf record -q -e cpu-clock -F 1999 -g -p "$pid" \
        -o "$work/perf-sync.data" 2>/dev/null &
    pp=$!
    bg_pids+=("$pp")
    sleep 0.5
    redis-cli -p "$RP" publish big:events '*' >/dev/null
    wait_sync "$P_BIG" "$NBIG" $((syncs + 1)) 120
    kill -INT "$pp" 2>/dev/null || true
    wait "$pp" || true
    perf report -i "$work/perf-sync.data" --no-children --sort dso,symbol \
        --stdio -g none --percent-limit 1.5 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -25 > "$work/perf-sync.txt" || true

    log "callgrind: $CG_REQS requests, plain nginx and the module"
    run0 env APIKEY_SKIP_DEPS=1 BENCH_MODULE="$MODULE" CG_OUT="$work" \
        BENCH_REDIS_PORT="$RP" BENCH_PORT_BASE="$base" \
        bash "$bench/callgrind.sh" "$CG_REQS" > "$work/cg-table.md"
fi

# --- the report ----------------------------------------------------------------

cat > "$work/facts.env" <<EOF
mode=$MODE
rounds=$ROUNDS
duration=$DUR
nbig=$NBIG
zone=$ZONE
zone_size=$zone_size
empty_used=$empty_used
big_used=$big_used
first_sync_ms=$first_sync_ms
idle_sync_ms=$idle_sync_ms
load_sync_ms=${load_sync_ms:-}
during_syncs=$during_syncs
sync_dur=$SYNC_DUR
sync_requests=$sreq
sync_rps=$srps
nosync_rps=$nrps
nosync_p50=$np50
nosync_p99=$np99
nosync_max=$nmax
nice=$NICE
sched=$SCHED
conns=$CONNS
sync_non2xx=$snon
sync_p50=$sp50
sync_p99=$sp99
sync_max=$smax
rv_tries=$rv_n
rv_p50=$rv_p50
rv_p90=$rv_p90
rv_p99=$rv_p99
rv_max=$rv_max
rv_polls=$rv_polls
hz=$HZ
cg_reqs=$CG_REQS
profile=$PROFILE
nproc=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
kernel=$(uname -r)
nginx=$("$NGINX" -v 2>&1 | sed 's/.*version: //')
wrk=$(wrk --version 2>&1 | head -1 | awk '{ print $2 }')
redis=$(redis-server --version | awk '{ print $3 }' | sed 's/v=//')
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
date=$(date -u +%Y-%m-%dT%H:%MZ)
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
EOF

python3 "$bench/lib/report.py" "$work" > "$work/report.md"
cat "$work/report.md"
if [ -n "$OUT" ]; then
    cp "$work/report.md" "$OUT"
    log "report written to $OUT"
fi
