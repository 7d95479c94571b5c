#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Builds everything and starts a working demo on loopback: its own Redis
# (127.0.0.1:16400) and nginx (127.0.0.1:8080) with the module, demo keys of
# each access level, and ready curl lines.
#
#   bash scripts/demo.sh          build, start, print keys and curl lines
#   bash scripts/demo.sh stop     stop the demo's nginx and Redis
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/build/demo"
redis_port=16400
http_port=8080
ctl="$top/build/apikeyctl --redis 127.0.0.1:$redis_port"

stop() {
    if [ -f "$run/logs/nginx.pid" ]; then
        /usr/sbin/nginx -p "$run/" -c conf/nginx.conf -s quit 2>/dev/null || true
    fi
    if [ -f "$run/redis.pid" ]; then
        kill "$(cat "$run/redis.pid")" 2>/dev/null || true
    fi
    sleep 0.3
    echo "demo: stopped"
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

bash "$top/scripts/build.sh"

[ -d "$run" ] && stop >/dev/null
rm -rf "$run"
mkdir -p "$run/conf" "$run/logs" "$run/html"

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize yes --dir "$run" \
    --pidfile "$run/redis.pid" --logfile "$run/redis.log"

for _ in $(seq 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

full=$($ctl create --id demo-full --owner acme --name "Full access" \
       --access full 2>/dev/null)
read=$($ctl create --id demo-read --owner acme --name "Read only" \
       --access read 2>/dev/null)
limited=$($ctl create --id demo-limited --owner acme --name "Orders only" \
          --access limited --grant orders:rw 2>/dev/null)
quota=$($ctl create --id demo-quota --owner acme --name "Five per hour" \
        --access full --limit 5 2>/dev/null)

cat > "$run/conf/nginx.conf" <<CONF
worker_processes 2;
error_log logs/error.log notice;
pid logs/nginx.pid;
load_module $top/build/modules/ngx_http_apikey_module.so;

events { worker_connections 1024; }

http {
    apikey_zone  keys:16m;
    apikey_redis 127.0.0.1:$redis_port;

    log_format apikey '\$remote_addr "\$request" \$status '
                      'key=\$apikey_masked id=\$apikey_id '
                      'decision=\$apikey_status';
    access_log logs/access.log apikey;

    server {
        listen 127.0.0.1:$http_port;

        # the API, guarded; the upstream never sees the key
        location /api/ {
            apikey on;
            apikey_prefix taapit_;
            apikey_checksum on;
            apikey_rate_limit 1000/h;
            proxy_pass http://127.0.0.1:$http_port/backend/;
        }

        # a resource that limited keys need a grant for
        location /orders/ {
            apikey on;
            apikey_resource orders;
            proxy_pass http://127.0.0.1:$http_port/backend/;
        }

        location /backend/ {
            default_type application/json;
            return 200 '{"ok":true,"key_id":"\$http_x_apikey_id"}\n';
        }

        location = /status {
            allow 127.0.0.1;
            deny all;
            apikey_status;
        }
    }
}
CONF

# the backend learns who called from a header the module's variables fill
sed -i 's|proxy_pass http://127.0.0.1:'"$http_port"'/backend/;|proxy_set_header X-Apikey-Id $apikey_id;\n            &|' \
    "$run/conf/nginx.conf"

/usr/sbin/nginx -p "$run/" -c conf/nginx.conf

u="http://127.0.0.1:$http_port"
cat <<TEXT

The demo is running: nginx on $u, Redis on 127.0.0.1:$redis_port.

Demo keys (each shown once, as a key-issuing dashboard would):
  full     $full
  read     $read
  limited  $limited   (grant orders:rw)
  quota    $quota   (5 requests per hour)

Try:
  curl -i $u/api/hello                                        # 401 missing
  curl -i -H 'X-Secret-Key: $full' $u/api/hello
  curl -i -H 'Authorization: Bearer $full' -X DELETE $u/api/hello
  curl -i -H 'X-Secret-Key: $read' $u/api/hello
  curl -i -H 'X-Secret-Key: $read' -X POST $u/api/hello          # 403
  curl -i -H 'X-Secret-Key: $limited' -X POST $u/orders/1
  curl -i -H 'X-Secret-Key: $limited' $u/api/hello               # 403
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code} ' -H 'X-Secret-Key: $quota' $u/api/x; done; echo
  curl -s $u/status; curl -s '$u/status?format=prometheus'

Manage keys:
  $ctl list
  $ctl revoke demo-read        # then the read key gets 401 at once
  $ctl usage demo-full

Logs: $run/logs/access.log (masked keys only), $run/logs/error.log
Stop: bash scripts/demo.sh stop
TEXT
