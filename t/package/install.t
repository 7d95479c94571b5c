#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# The Debian packages, as an operator uses them: scripts/package.sh builds
# libnginx-mod-http-apikey and apikeyctl; they are installed into Debian's
# nginx; "nginx -t" passes with Debian's own nginx.conf (the module loaded
# through modules-enabled); an nginx started on a test port with the
# packaged module, worker user www-data and a snapshot in the packaged
# /var/lib/nginx/apikey answers a request with a key made by the installed
# apikeyctl; then both packages are purged and /etc/nginx is as it was.
# Ports: nginx TEST_NGINX_SERVER_PORT+2, Redis TEST_NGINX_REDIS_PORT+21.
# Prints TAP.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pkg-install.XXXXXX")
chmod 755 "$tmp"
port=$(( ${TEST_NGINX_SERVER_PORT:-1984} + 2 ))
rport=$(( ${TEST_NGINX_REDIS_PORT:-16380} + 21 ))
pkgs="libnginx-mod-http-apikey apikeyctl"
apt_opts="-y -qq -o DPkg::Lock::Timeout=600"

n=0
failed=0

ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
    fi
}

purge() {
    DEBIAN_FRONTEND=noninteractive apt-get purge $apt_opts $pkgs \
        >> "$tmp/apt.log" 2>&1
}

cleanup() {
    [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
    [ -f "$tmp/redis.pid" ] && kill "$(cat "$tmp/redis.pid")" 2>/dev/null
    if dpkg-query -W -f='${Status}' libnginx-mod-http-apikey 2>/dev/null \
        | grep -q installed
    then
        purge
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP installing packages needs root"
    exit 0
fi

echo "1..14"

# a listing of /etc/nginx that sees any added, removed or changed file,
# link or mode
etc_listing() {
    find /etc/nginx -printf '%p %y %m %u:%g %l\n' | LC_ALL=C sort
    find /etc/nginx -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
}

# a leftover of an interrupted run would make the "before" listing wrong
dpkg-query -W -f='${Status}' $pkgs 2>/dev/null | grep -q installed && purge

debs=$(bash "$top/scripts/package.sh" 2>"$tmp/package.err")
ok $? "scripts/package.sh builds the packages"
mod_deb=$(echo "$debs" | grep '/libnginx-mod-http-apikey_.*\.deb$')
ctl_deb=$(echo "$debs" | grep '/apikeyctl_.*\.deb$')
[ -f "$mod_deb" ] && [ -f "$ctl_deb" ]
ok $? "both .deb files exist" || sed 's/^/#   /' "$tmp/package.err"

dpkg-deb -f "$mod_deb" Depends | grep -q 'nginx-abi-' \
    && dpkg-deb -f "$mod_deb" Depends | grep -q 'libsodium' \
    && dpkg-deb -f "$mod_deb" Depends | grep -q 'libhiredis' \
    && dpkg-deb -f "$ctl_deb" Depends | grep -q 'libhiredis'
ok $? "Depends: nginx-abi and the libraries ($(dpkg-deb -f "$mod_deb" Depends))"

etc_listing > "$tmp/etc.before"

DEBIAN_FRONTEND=noninteractive apt-get install $apt_opts \
    "$mod_deb" "$ctl_deb" > "$tmp/apt.log" 2>&1
ok $? "apt-get installs both" || tail -20 "$tmp/apt.log" | sed 's/^/#   /'

[ "$(readlink /etc/nginx/modules-enabled/50-mod-http-apikey.conf)" \
  = /usr/share/nginx/modules-available/mod-http-apikey.conf ] \
    && grep -qx 'load_module modules/ngx_http_apikey_module.so;' \
            /usr/share/nginx/modules-available/mod-http-apikey.conf \
    && grep -q 'dpkg-trigger --no-await nginx-reload' \
            /var/lib/dpkg/info/libnginx-mod-http-apikey.postinst
ok $? "modules-enabled link, modules-available conf, nginx-reload trigger"

[ "$(stat -c %U:%G /var/lib/nginx/apikey)" = www-data:www-data ]
ok $? "/var/lib/nginx/apikey belongs to www-data"

nginx -t -q > "$tmp/t.log" 2>&1
ok $? "nginx -t with Debian's nginx.conf and the module enabled" \
    || sed 's/^/#   /' "$tmp/t.log"

[ -s /usr/share/man/man1/apikeyctl.1.gz ] \
    && /usr/bin/apikeyctl --help 2>&1 | grep -q '^Usage: apikeyctl'
ok $? "apikeyctl and its man page are installed"

redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$tmp/redis.pid" --dir "$tmp" \
    --logfile "$tmp/redis.log"
for _ in $(seq 50); do
    redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break
    sleep 0.2
done

mkdir -p "$tmp/logs"
cat > "$tmp/nginx.conf" <<CONF
include /etc/nginx/modules-enabled/*.conf;
user www-data;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    apikey_zone keys:4m;
    apikey_redis 127.0.0.1:$rport prefix=pkgtest:;
    apikey_snapshot /var/lib/nginx/apikey/pkgtest.snap;
    server {
        listen 127.0.0.1:$port;
        location /api/ {
            apikey on;
            proxy_set_header X-Id \$apikey_id;
            proxy_pass http://127.0.0.1:$port/backend/;
        }
        location /backend/ { return 200 "backend \$http_x_id\n"; }
        location = /status { apikey_status; }
    }
}
CONF
nginx -c "$tmp/nginx.conf" > "$tmp/start.log" 2>&1
ok $? "nginx starts with the packaged module on port $port" \
    || sed 's/^/#   /' "$tmp/start.log"

key=$(/usr/bin/apikeyctl --redis "127.0.0.1:$rport" --prefix pkgtest: \
      create --id pkg-1 --owner debian --access full 2>"$tmp/ctl.err")
[ -n "$key" ]
ok $? "the installed apikeyctl creates a key" \
    || sed 's/^/#   /' "$tmp/ctl.err"

code= body=
for _ in $(seq 100); do
    body=$(curl -s -H "X-Secret-Key: $key" "http://127.0.0.1:$port/api/x")
    [ "$body" = "backend pkg-1" ] && break
    sleep 0.2
done
[ "$body" = "backend pkg-1" ]
ok $? "the key is let through (got '$body')"

code=$(curl -s -o /dev/null -w '%{http_code}' \
       -H "X-Secret-Key: ${key%??????}AAAAAA" "http://127.0.0.1:$port/api/x")
[ "$code" = 401 ]
ok $? "a wrong key gets 401 (got $code)"

# the syncing worker, as www-data, writes the snapshot after its load
for _ in $(seq 100); do
    [ -s /var/lib/nginx/apikey/pkgtest.snap ] && break
    sleep 0.2
done
[ "$(stat -c %U /var/lib/nginx/apikey/pkgtest.snap 2>/dev/null)" = www-data ]
ok $? "the worker (www-data) writes its snapshot in /var/lib/nginx/apikey" \
    || grep -i snapshot "$tmp/logs/error.log" | tail -3 | sed 's/^/#   /'

kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
for _ in $(seq 50); do
    [ -f "$tmp/nginx.pid" ] || break
    sleep 0.2
done
rm -f "$tmp/nginx.pid"

purge
etc_listing > "$tmp/etc.after"
diff "$tmp/etc.before" "$tmp/etc.after" > "$tmp/etc.diff" \
    && ! dpkg-query -W -f='${Status}' $pkgs 2>/dev/null | grep -q installed \
    && [ ! -e /var/lib/nginx/apikey ] && [ ! -e /usr/bin/apikeyctl ]
ok $? "purged: /etc/nginx is as it was, nothing left" \
    || sed 's/^/#   /' "$tmp/etc.diff"

[ $failed -eq 0 ]
