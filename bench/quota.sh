#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Cluster quotas under load (docs/limits.md, docs/benchmarks.md):
#
#   bench/quota.sh [--duration S] [--limit N] [--out FILE]
#                  [--runs "2:4 4:256 ..."] [--parts 123]
#
# 1. Overshoot and false refusals: 2 and 4 nginx instances (2 workers
#    each) sharing one Redis, apikey_rate_limit_scope cluster, one key of
#    limit N (default 1000) per run; wrk at full speed on every instance at
#    once, 4, 16, 64 and 256 connections in all, for S seconds (default 2).
#    Overshoot: admitted beyond the limit; false refusals: 429s decided
#    before the run's last 200 (while the quota was not spent), by the
#    servers' clock (an access log of $msec, millisecond resolution), plus
#    any quota left unused at the end while requests were refused; the
#    same count by the clients' clock is shown too (it includes how late
#    a loaded machine delivers answers).
#    Also: Redis EVAL/EVALSHA calls (the usage reports) in the run, whole
#    quota and refusals after it, and per 1,000 requests admitted; and
#    whether Redis's usage counter equals the requests admitted.
# 2. Steady state: a key of limit 10^9 at full speed on 2 instances,
#    reports per 1,000 requests.
# 3. CPU per request: one instance with one worker per scope (local,
#    cluster), the same key of limit 10^9, wrk -c16, alternating, CPU time
#    of the worker from /proc.
#
# Starts its own redis-server and nginx instances on loopback: Redis on
# BENCH_QUOTA_REDIS_PORT (default 16398), nginx on BENCH_QUOTA_PORT_BASE
# (default 18191) and the five ports after it.  Stops all it started.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench="$top/bench"

DUR=2
LIMIT=1000
OUT=
RUNS="2:4 2:16 2:64 2:256 4:4 4:16 4:64 4:256"
PARTS=123
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DUR=$2; shift ;;
    --runs)     RUNS=$2; shift ;;       # "instances:connections ..."
    --parts)    PARTS=$2; shift ;;      # e.g. 1: the first part only
    --limit)    LIMIT=$2; shift ;;
    --out)      OUT=$2; shift ;;
    *) echo "usage: bench/quota.sh [--duration S] [--limit N] [--out F]" >&2
       exit 1 ;;
    esac
    shift
done

RP=${BENCH_QUOTA_REDIS_PORT:-16398}
PB=${BENCH_QUOTA_PORT_BASE:-18191}

log() { printf '[quota %s] %s\n' "$(date +%T)" "$*" >&2; }

if [ "${APIKEY_SKIP_DEPS:-}" != 1 ]; then
    bash "$top/scripts/deps.sh" wrk
fi

build="${BENCH_BUILD_DIR:-$top/build/bench}"
APIKEY_SKIP_DEPS=1 BUILD_DIR="$build" bash "$top/scripts/build.sh" >&2
MODULE="$build/modules/ngx_http_apikey_module.so"

work=$(mktemp -d /tmp/apikey-quota.XXXXXX)
chmod 755 "$work"         # the workers read html/ as another user
pids=()

cleanup() {
    for d in "$work"/n*; do
        [ -f "$d/logs/nginx.pid" ] \
            && kill "$(cat "$d/logs/nginx.pid")" 2>/dev/null || true
    done
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null \
        || true
    rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --dir "$work" \
    --logfile "$work/redis.log"
for _ in $(seq 100); do
    redis-cli -p "$RP" ping >/dev/null 2>&1 && break
    sleep 0.05
done

q() { python3 "$bench/lib/quota.py" "$@"; }

# nginx_conf DIR PORT WORKERS SCOPE
nginx_conf() {
    mkdir -p "$1/logs" "$1/html/api"
    echo ok > "$1/html/api/x"
    cat > "$1/nginx.conf" <<EOF
load_module $MODULE;
worker_processes $3;
pid $1/logs/nginx.pid;
error_log $1/logs/error.log notice;
events { worker_connections 4096; }
http {
    access_log off;
    log_format decided '\$msec \$status';
    keepalive_requests 100000000;
    apikey_zone keys:8m;
    apikey_redis 127.0.0.1:$RP;
    apikey_rate_limit_scope $4;
    server {
        listen 127.0.0.1:$2;
        root $1/html;
        location /api/ {
            apikey on;
            access_log $1/logs/decided.log decided buffer=1m;
        }
        location = /status { apikey_status; }
    }
}
EOF
}

start_nginx() {
    nginx -p "$1" -c "$1/nginx.conf" -e "$1/logs/error.log"
    for _ in $(seq 100); do
        curl -s "http://127.0.0.1:$2/status" | grep -q '"loaded":true' \
            && return
        sleep 0.05
    done
    log "nginx on $2 did not load its keys"; exit 1
}

stop_nginx() {
    [ -f "$1/logs/nginx.pid" ] || return 0
    local pid
    pid=$(cat "$1/logs/nginx.pid")
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# wrk_all KEY CONNS DUR PORT...: wrk on every port at once, CONNS split
# among them; prints "admitted refused other false_refusals", the last
# being the 429s answered before the run's last 200
wrk_all() {
    local key=$1 conns=$2 dur=$3 i=0 n
    shift 3
    n=$#
    for port in "$@"; do
        local c=$(( conns / n ))
        [ "$c" -ge 1 ] || c=1
        wrk -t1 -c"$c" -d"${dur}s" -H "X-Secret-Key: $key" \
            -s "$bench/lua/status_count.lua" \
            "http://127.0.0.1:$port/api/x" > "$work/wrk.$i" 2>&1 &
        i=$((i + 1))
    done
    wait
    cat "$work"/wrk.* | awk '
        /^STATUS/ {
            o += $2; l += $3; x += $4
            if ($5 > last) last = $5
            for (i = 6; i <= NF; i++) t[n++] = $i
        }
        END {
            for (i = 0; i < n; i++) if (t[i] + 0 < last + 0) {
                f++
                if (last - t[i] > gap) gap = last - t[i]
            }
            printf "early 429s up to %.1f ms before the last 200\n",
                   gap / 1000 > "/dev/stderr"
            print o + 0, l + 0, x + 0, f + 0
        }'
    rm -f "$work"/wrk.*
}

ports() { local i; for i in $(seq 0 $(($1 - 1))); do echo $((PB + i)); done; }

# --- 1. overshoot and false refusals -----------------------------------------

table="| instances | connections | admitted | overshoot | false refusals | 429 before the last 200, client clock | refused | scripts run (per 1,000 admitted) | usage = admitted |
|---|---|---|---|---|---|---|---|---|"

run=0
for spec in $RUNS; do
    inst=${spec%%:*} conns=${spec##*:}
    {
        run=$((run + 1))
        id="bench-$run-$$"
        key=$(q seed "$RP" "$id" "$LIMIT")
        mapfile -t ps < <(ports "$inst")
        for i in $(seq 0 $((inst - 1))); do
            nginx_conf "$work/n$i" "${ps[$i]}" 2 cluster
            start_nginx "$work/n$i" "${ps[$i]}"
        done
        e0=$(q evals "$RP")
        read -r ok refused other early <<<"$(wrk_all "$key" "$conns" \
                                                    "$DUR" "${ps[@]}")"
        e1=$(q evals "$RP")
        sleep 0.5
        usage=$(q usage "$RP" "$id")
        over=$(( ok > LIMIT ? ok - LIMIT : 0 ))
        per=$(awk -v e=$((e1 - e0)) -v r="$ok" \
              'BEGIN { printf "%d (%.0f)", e, r ? e * 1000 / r : 0 }')
        same=$([ "$usage" = "$ok" ] && echo yes || echo "no ($usage)")
        log "$inst instances, $conns conns: admitted $ok, refused $refused" \
            "(before the last 200: $early)," \
            "other $other, evals $((e1 - e0)), usage $usage"
        grep -h "redis is\|could not\|refused a" "$work"/n*/logs/error.log \
            >&2 || true
        for i in $(seq 0 $((inst - 1))); do stop_nginx "$work/n$i"; done
        # by the servers' clock: 429s logged before the last 200
        early_srv=$(cat "$work"/n*/logs/decided.log | awk '
            $2 == 200 && $1 > last { last = $1 }
            { t[n] = $1; s[n++] = $2 }
            END { for (i = 0; i < n; i++) if (s[i] == 429 && t[i] < last) f++
                  print f + 0 }')
        rm -f "$work"/n*/logs/decided.log
        unused=$(( ok < LIMIT && refused > 0 ? LIMIT - ok : 0 ))
        false_ref=$(( early_srv + unused ))
        log "  429s logged before the last 200: $early_srv"
        table="$table
| $inst | $conns | $ok | $over | $false_ref | $early | $refused | $per | $same |"
    }
done

steady=- sok=0 ulocal=- ucluster=- extra=-

# --- 2. steady state ---------------------------------------------------------

if [[ $PARTS == *2* ]]; then
id="bench-steady-$$"
key=$(q seed "$RP" "$id" 1000000000)
mapfile -t ps < <(ports 2)
for i in 0 1; do
    nginx_conf "$work/n$i" "${ps[$i]}" 2 cluster
    start_nginx "$work/n$i" "${ps[$i]}"
done
wrk_all "$key" 16 1 "${ps[@]}" >/dev/null         # warm up: leases taken
e0=$(q evals "$RP")
read -r sok _ _ <<<"$(wrk_all "$key" 16 "$((DUR * 2))" "${ps[@]}")"
e1=$(q evals "$RP")
steady=$(awk -v e=$((e1 - e0)) -v r="$sok" \
         'BEGIN { printf "%.2f", r ? e * 1000 / r : 0 }')
log "steady state: $sok requests, $((e1 - e0)) evals"
for i in 0 1; do stop_nginx "$work/n$i"; done
fi

# --- 3. CPU per request, local against cluster -------------------------------

declare -A cpu req
cpu[local]=0; cpu[cluster]=0; req[local]=0; req[cluster]=0

if [[ $PARTS == *3* ]]; then
id="bench-cpu-$$"
key=$(q seed "$RP" "$id" 1000000000)
nginx_conf "$work/n4" "$((PB + 4))" 1 local
nginx_conf "$work/n5" "$((PB + 5))" 1 cluster
start_nginx "$work/n4" "$((PB + 4))"
start_nginx "$work/n5" "$((PB + 5))"

worker_of() { pgrep -P "$(cat "$1/logs/nginx.pid")" | head -1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for round in 1 2 3; do
    for scope in local cluster; do
        d=$work/n4; port=$((PB + 4))
        [ "$scope" = cluster ] && { d=$work/n5; port=$((PB + 5)); }
        w=$(worker_of "$d")
        t0=$(ticks "$w")
        read -r n _ _ <<<"$(wrk_all "$key" 16 "$DUR" "$port")"
        t1=$(ticks "$w")
        cpu[$scope]=$(( cpu[$scope] + t1 - t0 ))
        req[$scope]=$(( req[$scope] + n ))
    done
done
hz=$(getconf CLK_TCK)
us() { awk -v t="$1" -v n="$2" -v hz="$hz" \
       'BEGIN { printf "%.1f", n ? t * 1000000 / hz / n : 0 }'; }
ulocal=$(us "${cpu[local]}" "${req[local]}")
ucluster=$(us "${cpu[cluster]}" "${req[cluster]}")
extra=$(awk -v a="$ucluster" -v b="$ulocal" 'BEGIN { printf "%.1f", a - b }')
fi

report="Cluster quotas, limit $LIMIT/h, wrk for ${DUR}s at full speed on
every instance at once ($(nproc) CPUs, shared; $(date -u +%F)).

$table

Steady state (limit 10^9, 2 instances, 16 connections): $steady
EVAL/EVALSHA per 1,000 requests ($sok requests).

CPU per request, one worker, 16 connections, 3 rounds of ${DUR}s: local
scope $ulocal µs, cluster scope $ucluster µs (difference $extra µs;
${req[local]} and ${req[cluster]} requests)."

echo "$report"
[ -z "$OUT" ] || echo "$report" > "$OUT"
