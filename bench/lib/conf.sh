# Copyright (C) The ngx_http_apikey_module authors
#
# The nginx.conf of every bench instance (sourced by bench/run.sh,
# bench/callgrind.sh and bench/legacy.sh): one worker, no access log, a
# file cache, the contender's directives in `location /api/`, and the
# module's status endpoint where the module is loaded; and the set-up that
# the callgrind measurements share.
#
# bench_conf DIR PORT ROOT MAIN HTTP LOCATION [single] [LOGLEVEL]: writes
# DIR/nginx.conf; "single" runs nginx as one process in the foreground
bench_conf() {
    local d=$1 port=$2 root=$3 main=$4 http=$5 loc=$6 single=${7:-}
    local level=${8:-notice}
    mkdir -p "$d/logs" "$d/tmp"
    {
        echo "$main"
        if [ -n "$single" ]; then
            echo "master_process off; daemon off;"
        fi
        cat <<EOF
worker_processes 1;
pid $d/logs/nginx.pid;
error_log $d/logs/error.log $level;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 100000000;
    open_file_cache max=64 inactive=600s;
    open_file_cache_valid 600s;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
$http
    server {
        listen 127.0.0.1:$port;
        root $root;
        location /api/ {
$loc
        }
        location = /status { apikey_status; }
    }
}
EOF
    } > "$d/nginx.conf"
    if [ -z "$(printf '%s' "$main" | grep apikey)" ]; then
        sed -i '/apikey_status/d' "$d/nginx.conf"
    fi
}

# bench_module: MODULE, the .so measured: BENCH_MODULE, or the tree's own
# build into BENCH_BUILD_DIR (default build/bench)
bench_module() {
    if [ -n "${BENCH_MODULE:-}" ]; then
        MODULE=$BENCH_MODULE
    else
        local build="${BENCH_BUILD_DIR:-$top/build/bench}"
        APIKEY_SKIP_DEPS=1 BUILD_DIR="$build" bash "$top/scripts/build.sh" >&2
        MODULE="$build/modules/ngx_http_apikey_module.so"
    fi
}

# bench_work NAME: work, a new directory removed at exit with the Redis
# started in it and the process $vp (valgrind), if any
bench_work() {
    work=$(mktemp -d "/tmp/apikey-$1.XXXXXX")
    chmod 755 "$work"
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local rc=$?
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null
    [ -n "${vp:-}" ] && kill "$vp" 2>/dev/null
    rm -rf "$work"
    exit $rc
}

# bench_small_redis PORT: a Redis in $work holding the 1,000 keys of
# bench/lib/keys.py, whose names (VALID_KEY, ...) it sets
bench_small_redis() {
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --dir "$work" --pidfile "$work/redis.pid" \
        --logfile "$work/redis.log"
    for _ in $(seq 50); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && break
        sleep 0.1
    done

    python3 "$bench/lib/keys.py" "$work" 0 0 >/dev/null
    redis-cli -p "$1" --pipe < "$work/small.resp" >/dev/null
    # shellcheck disable=SC1091
    . "$work/keys.env"
}
