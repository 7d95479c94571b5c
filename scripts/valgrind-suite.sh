#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Runs test files (by default a few quick functional ones) with every
# nginx process under valgrind's memcheck, then fails if memcheck reported
# any error, even where the tests themselves passed.
#
#   scripts/valgrind-suite.sh               t/001, t/002, t/003
#   scripts/valgrind-suite.sh t/004-*.t     some others
#
# Our runner (t/compat) has no TEST_NGINX_USE_VALGRIND; instead
# TEST_NGINX_BINARY points at a wrapper, build/valgrind/nginx, that execs
# "valgrind ... /usr/sbin/nginx $@" (VALGRIND_NGINX selects another
# binary).  The runner starts nginx with "daemon on": memcheck follows the
# fork, so the daemon is checked too, but the wrapper's exit status is the
# short-lived parent's; hence every process logs to
# build/valgrind/reports/vg.<pid>.log and this script reads those logs.
# The module is the suite's usual test build, which scripts/test.sh makes
# (here into build/valgrind/module/, see TEST_BUILD_DIR below).
#
# Under memcheck nginx runs 20-50 times slower: the timing tests (a
# revocation within 100 ms, hourly windows, two-worker exactness,
# t/005, t/006, t/007, t/009) are expected to fail for that reason alone
# and are not in the default list.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/deps.sh valgrind

out="$top/build/valgrind"
reports="$out/reports"
rm -rf "$reports"
mkdir -p "$reports"

wrapper="$out/nginx"
cat > "$wrapper" <<WRAP
#!/bin/sh
# written by scripts/valgrind-suite.sh
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=no \\
    --num-callers=30 --track-fds=no --trace-children=no \\
    --log-file="$reports/vg.%p.log" \\
    "\${VALGRIND_NGINX:-/usr/sbin/nginx}" "\$@"
WRAP
chmod +x "$wrapper"

export TEST_NGINX_BINARY="$wrapper"
export TEST_BUILD_DIR="$out/module"
export TEST_NGINX_APIKEY_MODULE="$TEST_BUILD_DIR/modules/\
ngx_http_apikey_module.so"
export TEST_NGINX_SERVROOT="$top/t/servroot-valgrind"
export TEST_REDIS_DIR="$top/t/servroot-valgrind-redis"
export TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-19850}
export TEST_NGINX_REDIS_PORT=${TEST_NGINX_REDIS_PORT:-16392}
export TEST_NGINX_CTL_PORT=${TEST_NGINX_CTL_PORT:-16393}
export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-30}

# the suite's short fuzz run (scripts/test.sh) is not what this run is for
export APIKEY_FUZZ_SECONDS=${APIKEY_FUZZ_SECONDS:-0}

# scripts/test.sh leaves preset values alone; its test build goes to
# TEST_BUILD_DIR, not the one a concurrent scripts/test.sh rewrites

suite=(bash scripts/test.sh)

rc=0
"${suite[@]}" "$@" || rc=$?

found=0
n=0
for f in "$reports"/vg.*.log; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    if grep -Eq "ERROR SUMMARY: [1-9]" "$f"; then
        found=1
        echo "valgrind-suite: memcheck errors in $f:" >&2
        kinds="Invalid|Conditional|Use of|Jump|Syscall|Mismatch|Source and"
        kinds="$kinds|Argument|Process terminating"
        grep -E -A4 "== ($kinds)" "$f" | head -12 >&2 || true
    elif ! grep -q "ERROR SUMMARY" "$f"; then
        # a process killed before memcheck could sum up (SIGKILL)
        echo "valgrind-suite: no summary in $f (killed?)" >&2
    fi
done

echo "valgrind-suite: $n processes checked"

if [ "$found" = 1 ]; then
    echo "valgrind-suite: FAILED: memcheck errors in $reports" >&2
    exit 1
fi

if [ "$rc" != 0 ]; then
    echo "valgrind-suite: FAILED: the tests failed under valgrind" \
         "(exit $rc)" >&2
    exit "$rc"
fi

echo "valgrind-suite: the tests passed, memcheck found nothing"
