#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Runs the whole suite: builds the module (a test build, see
# docs/testing.md) and apikeyctl, starts a private redis-server and the
# control server on loopback ports, then runs every t/ test with prove.
#
#   scripts/test.sh              everything
#   scripts/test.sh t/001-*.t    some files
#
# The real Test::Nginx is used where `perl -MTest::Nginx::Socket -e1` works;
# otherwise our compatible runner in t/compat.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/deps.sh
test_build=${TEST_BUILD_DIR:-$top/build/test}
# APIKEY_SKIP_BUILD=1: test an installed module and apikeyctl, named by
# TEST_NGINX_APIKEY_MODULE and TEST_NGINX_APIKEYCTL (debian/tests/suite)
if [ "${APIKEY_SKIP_BUILD:-0}" != 1 ]; then
    APIKEY_SKIP_DEPS=1 bash scripts/build.sh
    APIKEY_SKIP_DEPS=1 APIKEY_TEST=1 BUILD_DIR="$test_build" \
        bash scripts/build.sh
fi

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-1984}
export TEST_NGINX_PORT=$TEST_NGINX_SERVER_PORT
export TEST_NGINX_SERVER_PORT2=${TEST_NGINX_SERVER_PORT2:-1985}
export TEST_NGINX_REDIS_PORT=${TEST_NGINX_REDIS_PORT:-16380}
export TEST_NGINX_CTL_PORT=${TEST_NGINX_CTL_PORT:-16381}
export TEST_NGINX_APIKEY_MODULE="${TEST_NGINX_APIKEY_MODULE:-$test_build/modules/ngx_http_apikey_module.so}"
export TEST_NGINX_APIKEYCTL="${TEST_NGINX_APIKEYCTL:-$top/build/apikeyctl}"
export TEST_NGINX_SERVROOT="${TEST_NGINX_SERVROOT:-$top/t/servroot}"
export TEST_REDIS_DIR="${TEST_REDIS_DIR:-$top/t/servroot-redis}"

rm -rf "$TEST_REDIS_DIR"
mkdir -p "$TEST_REDIS_DIR"

cleanup() {
    [ -n "${ctl_pid:-}" ] && kill "$ctl_pid" 2>/dev/null || true
    for f in "$TEST_REDIS_DIR"/redis-*.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    if [ -f "$TEST_NGINX_SERVROOT/logs/nginx.pid" ]; then
        kill "$(cat "$TEST_NGINX_SERVROOT/logs/nginx.pid")" 2>/dev/null || true
    fi
}
trap cleanup EXIT

python3 t/ctl/ctl.py "$TEST_NGINX_CTL_PORT" &
ctl_pid=$!
python3 -c 'import sys; sys.path.insert(0, "t/ctl"); import ctl; ctl.redis_start()'

inc=(-I t/lib)
if perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    echo "test: using the installed Test::Nginx"
else
    echo "test: using the compatible runner in t/compat"
    inc=(-I t/compat -I t/lib)
fi

if [ $# -gt 0 ]; then
    files=("$@")
else
    files=(t/*.t t/runner/*.t t/tools/*.t t/scripts/*.t t/clients/*.t t/package/*.t)

    # a short run of every fuzz harness on its seeds (docs/fuzzing.md has
    # the long ones); before prove, so that prove's summary ends the output
    fuzz_secs=${APIKEY_FUZZ_SECONDS:-5}
    if [ "$fuzz_secs" != 0 ]; then
        echo "test: fuzzing each harness for ${fuzz_secs}s"
        bash fuzz/run.sh "$fuzz_secs"
    fi
fi

prove "${inc[@]}" "${files[@]}"
