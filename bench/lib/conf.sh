# Copyright (C) The ngx_http_apikey_module authors
#
# The nginx.conf of every bench instance (sourced by bench/run.sh and
# bench/callgrind.sh): one worker, no access log, a file cache, the
# contender's directives in `location /api/`, and the module's status
# endpoint where the module is loaded.
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
