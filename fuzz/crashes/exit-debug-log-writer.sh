#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Reproducer (found by scripts/asan-suite.sh and scripts/valgrind-suite.sh,
# not by a fuzzer): the error-log writer that src/ngx_http_apikey_log.c
# installs on the cycle's logs outlives the module.  On exit nginx destroys
# the cycle pool; the load_module cleanup dlclose()s the module, and the
# next "run cleanup" debug line calls log->writer, now unmapped: SIGSEGV.
# Workers then "exited on signal 11" and the master dies on exit.
#
#   fuzz/crashes/exit-debug-log-writer.sh [module.so] [nginx]
#
# Exit status 0 when nginx exits cleanly, 1 when it crashed.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
module=${1:-$top/build/modules/ngx_http_apikey_module.so}
nginx=${2:-/usr/sbin/nginx}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/logs"

cat > "$dir/nginx.conf" <<CONF
load_module $module;
error_log $dir/logs/error.log debug;
pid $dir/logs/nginx.pid;
master_process off;
daemon off;
events {}
http {
    access_log off;
    apikey_zone keys:1m;
    apikey_redis 127.0.0.1:1;
    server {
        listen unix:$dir/http.sock;
        location / { apikey on; }
    }
}
CONF

"$nginx" -p "$dir/" -c "$dir/nginx.conf" &
pid=$!
sleep 1
kill -QUIT "$pid"
rc=0
wait "$pid" || rc=$?

if [ "$rc" = 0 ]; then
    echo "nginx exited cleanly"
    exit 0
fi

echo "nginx exited with status $rc (139: SIGSEGV): the bug is there"
exit 1
