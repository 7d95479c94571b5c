# Copyright (C) The ngx_http_apikey_module authors
#
# Sourced by t/clients/*.t: a private redis-server and an nginx with the
# module (the suite's test build) for the client packages' own tests,
# which reach them through the environment:
#
#   APIKEY_TEST_REDIS_PORT   the Redis (127.0.0.1)
#   APIKEY_TEST_NGINX_PORT   nginx: /api/ (apikey_prefix taapit_,
#                            apikey_checksum on), /orders/ (resource
#                            "orders"); 200 "backend ..." when allowed
#   APIKEY_TEST_SECRET       the apikey_hash_secret file nginx reads
#   APIKEYCTL                apikeyctl, to compare the records it writes
#
# Ports: the Redis on APIKEY_TEST_REDIS_PORT + $redis_offset (set by the
# file: 1 for python.t, 2 for js.t; default base 16479), nginx on
# TEST_NGINX_SERVER_PORT2 (default 1985); prove runs the files one at a
# time, so the suite's other users of them are idle.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
redis_port=$(( ${APIKEY_TEST_REDIS_PORT:-16479} + ${redis_offset:-1} ))
nginx_port=${TEST_NGINX_SERVER_PORT2:-1985}
nginx=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
module=${TEST_NGINX_APIKEY_MODULE:-$top/build/test/modules/ngx_http_apikey_module.so}
apikeyctl=${TEST_NGINX_APIKEYCTL:-$top/build/apikeyctl}

if ! command -v redis-server >/dev/null 2>&1 || [ ! -f "$module" ] \
   || [ ! -x "$apikeyctl" ]
then
    echo "1..0 # SKIP no redis-server, module or apikeyctl (scripts/test.sh)"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/apikey-clients.XXXXXX")

# stops what this file started, by pid, and waits until it is gone, so
# that the next file finds the ports free
clients_cleanup() {
    local pids=() p
    for p in "$tmp/nginx.pid" "$tmp/redis.pid"; do
        [ -f "$p" ] && pids+=("$(cat "$p")")
    done
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for _ in $(seq 1 100); do
        local alive=
        for p in "${pids[@]}"; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ -n "$alive" ] || break
        sleep 0.1
    done
    rm -rf "$tmp"
}
trap clients_cleanup EXIT
trap 'exit 1' INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize yes --pidfile "$tmp/redis.pid" --dir "$tmp" \
    --logfile "$tmp/redis.log" >/dev/null 2>&1

printf '%s\n' 0123456789abcdef0123456789abcdef > "$tmp/secret"
mkdir -p "$tmp/logs" "$tmp/conf"

cat > "$tmp/conf/nginx.conf" <<_EOC_
load_module $module;
daemon on;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log info;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    apikey_zone clients:1m;
    apikey_redis 127.0.0.1:$redis_port;
    apikey_hash_secret $tmp/secret;
    server {
        listen 127.0.0.1:$nginx_port;
        location /api/ {
            apikey on;
            apikey_prefix taapit_;
            apikey_checksum on;
            proxy_pass http://127.0.0.1:$nginx_port/backend/;
        }
        location /orders/ {
            apikey on;
            apikey_resource orders;
            proxy_pass http://127.0.0.1:$nginx_port/backend/;
        }
        location /backend/ { return 200 "backend \$request_method\n"; }
    }
}
_EOC_

up=
for _ in $(seq 1 100); do
    if redis-cli -p "$redis_port" PING 2>/dev/null | grep -q PONG; then
        up=1
        break
    fi
    sleep 0.1
done

# a file before this one may still be letting the port go
started=
for _ in $(seq 1 40); do
    [ -n "$up" ] || break
    if "$nginx" -p "$tmp/" -c "$tmp/conf/nginx.conf" \
                -e "$tmp/logs/error.log" 2>"$tmp/nginx.err"
    then
        started=1
        break
    fi
    sleep 0.25
done

if [ -z "$started" ]; then
    echo "Bail out! cannot start redis-server on $redis_port or nginx on" \
         "$nginx_port"
    sed 's/^/# /' "$tmp/nginx.err" "$tmp/redis.log" 2>/dev/null | tail -5
    exit 1
fi

export APIKEY_TEST_REDIS_PORT=$redis_port APIKEY_TEST_NGINX_PORT=$nginx_port
export APIKEY_TEST_SECRET=$tmp/secret APIKEYCTL=$apikeyctl

# unittest's verbose lines to TAP: the file's only output
# tap_from CMD...
tap_from() {
    "$@" >"$tmp/out" 2>&1
    local rc=$?
    "${py:-python3}" - "$tmp/out" "$rc" <<'_EOP_'
import re, sys
text = open(sys.argv[1], errors="replace").read()
n = 0
bad = 0
for line in text.splitlines():
    m = re.match(r"(\w+) \(([\w.]+)\) \.\.\. (ok|FAIL|ERROR|skipped.*)$", line)
    if m:
        n += 1
        ok = m.group(3) != "FAIL" and m.group(3) != "ERROR"
        bad += not ok
        print("%s %d - %s" % ("ok" if ok else "not ok", n, m.group(1)))
        continue
if bad or int(sys.argv[2]) != 0 or n == 0:
    for line in text.splitlines()[-60:]:
        print("# " + line)
    if not bad:
        n += 1
        print("not ok %d - the run exited %s" % (n, sys.argv[2]))
print("1..%d" % n)
_EOP_
}
