#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Runs the test suite (scripts/test.sh) against the ASan/UBSan build of
# nginx and the module (scripts/asan.sh, a test build), then fails if any
# sanitizer report was written, even where the tests themselves passed.
#
#   scripts/asan-suite.sh               every test file
#   scripts/asan-suite.sh t/001-*.t     some
#
# Sanitizer reports go to build/asan/reports/{asan,ubsan}.<pid> (nginx
# would otherwise bury them in its error log or lose them with a worker).
# ASan stops the process at the first error (abort_on_error=1); UBSan goes
# on, so one run lists every report.  Known reports of nginx's own code
# are suppressed by the list written below; nothing of the module's is.
#
# The suite runs in t/servroot-asan with its own ports (TEST_NGINX_*_PORT
# may be preset), so a plain scripts/test.sh can run at the same time.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/deps.sh

paths=$(APIKEY_SKIP_DEPS=1 APIKEY_TEST=1 bash scripts/asan.sh)
nginx=$(sed -n 's/^nginx: //p' <<<"$paths")
module=$(sed -n 's/^module: //p' <<<"$paths")

out="$top/build/asan"
reports="$out/reports"
rm -rf "$reports"
mkdir -p "$reports"

# nginx's own undefined behaviour, harmless in practice: memcpy() from a
# NULL source for 0 bytes.  Function names only, never a file of ours.
supp="$out/ubsan-nginx.supp"
cat > "$supp" <<'SUPP'
nonnull-attribute:ngx_pstrdup
SUPP

export TEST_NGINX_BINARY="$nginx"
export TEST_NGINX_APIKEY_MODULE="$module"
export TEST_BUILD_DIR="$out/debian-test"     # test.sh builds its module here
export TEST_NGINX_SERVROOT="$top/t/servroot-asan"
export TEST_REDIS_DIR="$top/t/servroot-asan-redis"
export TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-19840}
export TEST_NGINX_REDIS_PORT=${TEST_NGINX_REDIS_PORT:-16390}
export TEST_NGINX_CTL_PORT=${TEST_NGINX_CTL_PORT:-16391}
export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-10}

# ngx_module_names is defined by the binary and by every dynamic module:
# that is how nginx is built, not an error of ours
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_odr_violation=0\
:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan\
:suppressions=$supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# the suite's short fuzz run (scripts/test.sh) is not what this run is for
export APIKEY_FUZZ_SECONDS=${APIKEY_FUZZ_SECONDS:-0}

# scripts/test.sh leaves preset values alone; its test build goes to
# TEST_BUILD_DIR, not the one a concurrent scripts/test.sh rewrites

suite=(bash scripts/test.sh)

rc=0
"${suite[@]}" "$@" || rc=$?

found=0
for f in "$reports"/asan.* "$reports"/ubsan.*; do
    [ -s "$f" ] || continue
    found=1
    echo "asan-suite: sanitizer report $f:" >&2
    grep -E "ERROR: AddressSanitizer|runtime error|SUMMARY" "$f" \
        | head -5 >&2 || true
done

if [ "$found" = 1 ]; then
    echo "asan-suite: FAILED: sanitizer reports in $reports" >&2
    exit 1
fi

if [ "$rc" != 0 ]; then
    echo "asan-suite: FAILED: the suite failed under ASan (exit $rc)" >&2
    exit "$rc"
fi

echo "asan-suite: the suite passed, no sanitizer report"
