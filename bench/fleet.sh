#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# The fleet benchmark of docs/replication.md: N nginx instances (one worker
# each) against one Redis holding many keys, with the change log.
#
#   bench/fleet.sh [--keys 1000000] [--fleet "1 10 50"] [--revocations 1000]
#                  [--idle 60] [--zone 320m]
#
# For each N it reports: Redis CPU seconds and commands per minute while
# nothing changes (steady state, --idle seconds), the time from a
# revocation (one MULTI/EXEC: HSET, XADD, PUBLISH) to the first refusal on
# every instance (p50, p99, max), and the start time of one more nginx
# with and without a snapshot (the nginx command, and until it decides).
# The first instance loads everything; the others start from a copy of
# its snapshot and catch up from the change log, as a fleet would.
#
# Ports: Redis BENCH_REDIS_PORT (default 16398), nginx from
# BENCH_PORT_BASE (default 18200) upwards, one per instance.  It builds
# the module (scripts/build.sh, into build/bench) and stops everything it
# started.  Memory: about 300 MB of zone per instance at 1M keys.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
keys=1000000
fleet="1 10 50"
revocations=1000
idle=60
zone=320m

while [ $# -gt 0 ]; do
    case $1 in
    --keys) keys=$2; shift 2 ;;
    --fleet) fleet=$2; shift 2 ;;
    --revocations) revocations=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --zone) zone=$2; shift 2 ;;
    *) echo "fleet.sh: unknown option $1" >&2; exit 1 ;;
    esac
done

RP=${BENCH_REDIS_PORT:-16398}
base=${BENCH_PORT_BASE:-18200}
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
work=$(mktemp -d "${TMPDIR:-/tmp}/apikey-fleet.XXXXXX")
chmod 755 "$work"      # the workers (nobody) write snapshots in it

if [ -n "${BENCH_MODULE:-}" ]; then
    MODULE=$BENCH_MODULE
else
    build="${BENCH_BUILD_DIR:-$top/build/bench}"
    APIKEY_SKIP_DEPS=${APIKEY_SKIP_DEPS:-} BUILD_DIR="$build" \
        bash "$top/scripts/build.sh" >&2
    MODULE=$build/modules/ngx_http_apikey_module.so
fi

cleanup() {
    for p in "$work"/n*/logs/nginx.pid; do
        [ -f "$p" ] && kill -QUIT "$(cat "$p")" 2>/dev/null || true
    done
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" \
        2>/dev/null || true
    sleep 1
    [ -n "${FLEET_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --dir "$work" \
    --logfile "$work/redis.log" >/dev/null

export FLEET_WORK=$work FLEET_REDIS_PORT=$RP FLEET_PORT_BASE=$base \
       FLEET_NGINX=$NGINX FLEET_MODULE=$MODULE FLEET_ZONE=$zone

python3 "$top/bench/lib/fleet.py" "$keys" "$revocations" "$idle" $fleet
