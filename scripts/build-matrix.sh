#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Builds the module against each given nginx source tree (an upstream
# tarball or a checkout of github.com/nginx/nginx) twice: as a dynamic
# module with --with-compat, and compiled in (--add-module), both with
# -Werror and HTTP/2; then runs a short smoke suite against each binary,
# over HTTP/1.1 and HTTP/2 (cleartext, prior knowledge): a valid key, no
# key, an unknown key, a read-only key writing, the status location.
# Prints a table (docs/testing.md keeps the last one).  The trees are not
# modified: each build works in a copy under build/matrix/.
#
#   scripts/build-matrix.sh /tmp/nginx-1.18.0 /tmp/nginx-1.26.3 ...
#
# Needs what scripts/deps.sh installs (and build/apikeyctl, built here if
# absent).  Ports: nginx TEST_NGINX_SERVER_PORT+3 (HTTP/1.1) and +4
# (HTTP/2), Redis TEST_NGINX_REDIS_PORT+22.  MATRIX_REUSE=1 keeps builds
# already made in build/matrix/ and only runs the smoke suite again.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
work="$top/build/matrix"
port=$(( ${TEST_NGINX_SERVER_PORT:-1984} + 3 ))
port2=$(( ${TEST_NGINX_SERVER_PORT:-1984} + 4 ))
rport=$(( ${TEST_NGINX_REDIS_PORT:-16380} + 22 ))
jobs=${MATRIX_JOBS:-2}

if [ $# -eq 0 ]; then
    echo "usage: $0 NGINX_SOURCE_DIR..." >&2
    exit 1
fi

[ -x "$top/build/apikeyctl" ] || make -s -C "$top/tools" BUILD="$top/build"
ctl="$top/build/apikeyctl"

mkdir -p "$work"
rm -f "$work/rows.md"
rdir=$(mktemp -d)

cleanup() {
    [ -f "$rdir/redis.pid" ] && kill "$(cat "$rdir/redis.pid")" 2>/dev/null
    rm -rf "$rdir"
}
trap cleanup EXIT

redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$rdir/redis.pid" --dir "$rdir" \
    --logfile "$rdir/redis.log"
for _ in $(seq 50); do
    redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break
    sleep 0.2
done

r() { redis-cli -p "$rport" "$@" >/dev/null; }

# what the smoke suite does not use is left out, to halve the build time
lean="--without-http_gzip_module --without-http_ssi_module
      --without-http_userid_module --without-http_auth_basic_module
      --without-http_mirror_module --without-http_autoindex_module
      --without-http_geo_module --without-http_map_module
      --without-http_split_clients_module --without-http_referer_module
      --without-http_fastcgi_module --without-http_uwsgi_module
      --without-http_scgi_module --without-http_grpc_module
      --without-http_memcached_module --without-http_limit_conn_module
      --without-http_limit_req_module --without-http_empty_gif_module
      --without-http_browser_module --without-http_upstream_hash_module
      --without-http_upstream_ip_hash_module
      --without-http_upstream_least_conn_module
      --without-http_upstream_random_module
      --without-http_upstream_zone_module"

# builds one variant; prints "ok" or "FAIL" and leaves the log
build() {
    local src=$1 dir=$2 how=$3
    local conf

    if [ "${MATRIX_REUSE:-0}" = 1 ] && [ -x "$dir/prefix/sbin/nginx" ]; then
        echo ok
        return
    fi

    rm -rf "$dir"
    mkdir -p "$dir"
    cp -a "$src/." "$dir/src"
    conf=./configure
    [ -x "$dir/src/configure" ] || conf=auto/configure

    (
        cd "$dir/src" &&
        $conf --prefix="$dir/prefix" --with-http_v2_module --with-threads \
            --with-cc-opt="-Werror" $lean \
            $how="$top" &&
        make -j"$jobs" &&
        make install
    ) > "$dir/build.log" 2>&1 && echo ok || echo FAIL
}

# the smoke suite against one built nginx; prints "ok" or what failed
smoke() {
    local dir=$1 load=$2
    local full read code body fails=""

    r FLUSHALL
    full=$("$ctl" --redis "127.0.0.1:$rport" create --id m-full \
           --access full 2>/dev/null)
    read=$("$ctl" --redis "127.0.0.1:$rport" create --id m-read \
           --access read 2>/dev/null)

    mkdir -p "$dir/prefix/logs"
    cat > "$dir/prefix/conf/smoke.conf" <<CONF
$load
worker_processes 2;
error_log logs/error.log info;
events { worker_connections 128; }
http {
    access_log off;
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$rport;
    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$port2 http2;
        location /api/ {
            apikey on;
            proxy_set_header X-Id \$apikey_id;
            proxy_pass http://127.0.0.1:$port/backend/;
        }
        location /backend/ { return 200 "backend \$http_x_id"; }
        location = /status { apikey_status; }
    }
}
CONF
    # older nginx versions do not know "http2 on"; "listen ... http2" is
    # what every supported version takes (newer ones only warn), and before
    # 1.19 such a port speaks only HTTP/2, hence a port for each
    "$dir/prefix/sbin/nginx" -p "$dir/prefix" -c conf/smoke.conf \
        > "$dir/smoke.log" 2>&1 || { echo "start"; return; }

    for _ in $(seq 100); do
        curl -s "http://127.0.0.1:$port/status" \
            | grep -q '"loaded":true' && break
        sleep 0.2
    done

    t() {   # name, expected, curl args...
        local name=$1 want=$2; shift 2
        local got
        got=$(curl -s -o "$dir/body" -w '%{http_version} %{http_code}' "$@")
        got="$got $(head -c 60 "$dir/body" 2>/dev/null | tr -d '\0')"
        rm -f "$dir/body"
        case "$got" in
            $want) ;;
            *) fails="$fails $name"; echo "$name: got '$got'" >> "$dir/smoke.log";;
        esac
    }

    for v in --http1.1 --http2-prior-knowledge; do
        p=h1 u="http://127.0.0.1:$port"
        [ $v = --http1.1 ] || p=h2 u="http://127.0.0.1:$port2"
        t $p-valid "* 200 backend m-full" $v -H "X-Secret-Key: $full" "$u/api/x"
        t $p-bearer "* 200 backend m-read" $v -H "Authorization: Bearer $read" "$u/api/x"
        t $p-missing '* 401 {"detail":"*' $v "$u/api/x"
        t $p-unknown '* 401 {"detail":"*' $v -H "X-Secret-Key: ${full%??????}AAAAAA" "$u/api/x"
        t $p-readonly '* 403 {"detail":"*' $v -X POST -H "X-Secret-Key: $read" "$u/api/x"
    done
    t status '2 200 {"zone":"keys"*' --http2-prior-knowledge "$u/status"
    u="http://127.0.0.1:$port"

    "$ctl" --redis "127.0.0.1:$rport" revoke m-full >/dev/null 2>&1
    for _ in $(seq 50); do
        code=$(curl -s -o /dev/null -w '%{http_code}' \
               -H "X-Secret-Key: $full" "$u/api/x")
        [ "$code" = 401 ] && break
        sleep 0.1
    done
    [ "$code" = 401 ] || fails="$fails revoke"

    grep -E '\[(alert|emerg)\]|signal [0-9]+ \(core' \
        "$dir/prefix/logs/error.log" >> "$dir/smoke.log" \
        && fails="$fails alerts"

    kill "$(cat "$dir/prefix/logs/nginx.pid")" 2>/dev/null
    for _ in $(seq 50); do
        [ -f "$dir/prefix/logs/nginx.pid" ] || break
        sleep 0.1
    done

    if [ -z "$fails" ]; then echo ok; else echo "FAIL:$fails"; fi
}

rows=()
for src in "$@"; do
    src=$(cd "$src" && pwd)
    ver=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
          "$src/src/core/nginx.h")
    [ -d "$src/.git" ] && ver="$ver ($(git -C "$src" describe --always))"

    echo "matrix: nginx $ver" >&2
    d="$work/$(basename "$src")"

    dyn=$(build "$src" "$d/dynamic" "--with-compat --add-dynamic-module")
    sdyn=-
    if [ "$dyn" = ok ]; then
        sdyn=$(smoke "$d/dynamic" \
               "load_module modules/ngx_http_apikey_module.so;")
    fi

    sta=$(build "$src" "$d/static" "--add-module")
    ssta=-
    [ "$sta" = ok ] && ssta=$(smoke "$d/static" "")

    rows+=("| $ver | $dyn | $sdyn | $sta | $ssta |")
    echo "${rows[-1]}" >> "$work/rows.md"
    [ "$dyn$sdyn$sta$ssta" = okokokok ] || echo "matrix: logs in $d" >&2
done

echo
echo "| nginx | dynamic, --with-compat, -Werror | smoke (HTTP/1.1, HTTP/2) | static, -Werror | smoke (HTTP/1.1, HTTP/2) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"

for row in "${rows[@]}"; do
    case "$row" in *FAIL*|*start*) exit 1;; esac
done
exit 0
