#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# `config` probes libsodium, hiredis and zlib with auto/feature: with one
# of them missing, configure stops with the sentence that names it and its
# Debian package.  A library is made to go missing for one configure run
# by mounting an empty file or directory over its headers in a private
# mount namespace (unshare), so the machine's own headers are untouched.
# hiredis is also tried with HIREDIS_INC/HIREDIS_LIB pointing at bogus
# directories.  Prints TAP.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/config-probes.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

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

if ! unshare --mount true 2>/dev/null; then
    echo "1..0 # SKIP no private mount namespaces here (unshare --mount)"
    exit 0
fi

echo "1..7"

mkdir -p "$tmp/probe/auto" "$tmp/probe/objs" "$tmp/empty"
cp /usr/share/nginx/src/auto/feature "$tmp/probe/auto/"
: > "$tmp/probe/auto/module"
: > "$tmp/empty.h"

# Runs `config` as nginx's auto/modules does, with nginx's own auto/feature
# and what it needs from configure, and with HIDE (a header file or
# directory) mounted empty.  A full configure takes a minute on a loaded
# machine, so only the last test runs one.
probe() {
    local hide=$1; shift
    (
        cd "$tmp/probe" &&
        unshare --mount sh -c '
            if [ -d "$2" ]; then
                mount --bind "$1/empty" "$2"
            else
                mount --bind "$1/empty.h" "$2"
            fi || exit 99
            shift 2
            export "$@" CC=cc NGX_AUTOTEST=objs/autotest \
                NGX_AUTOCONF_ERR=objs/autoconf.err \
                NGX_INCLUDE_UNISTD_H="#include <unistd.h>" \
                ngx_n=-n ngx_c= ngx_addon_dir="'"$top"'"
            . "$ngx_addon_dir/config"
            echo "libs:$ngx_module_libs"
        ' sh "$tmp" "$hide" "$@"
    ) > "$tmp/out" 2>&1
}

expect_missing() {
    local hide=$1 lib=$2 pkg=$3 var=$4; shift 4

    probe "$hide" "$@"
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 99 ] \
        && grep -q "error: ngx_http_apikey_module requires the $lib library;" \
                "$tmp/out" \
        && grep -q "install it (Debian: $pkg) or point ${var}_INC and ${var}_LIB at it." \
                "$tmp/out"
    ok $? "$lib hidden${*:+ with $*}: config fails naming it and $pkg"
    [ $rc -ne 0 ] && [ $rc -ne 99 ] || sed 's/^/#   /' "$tmp/out" | tail -15
}

expect_missing /usr/include/sodium.h libsodium libsodium-dev SODIUM
expect_missing /usr/include/hiredis hiredis libhiredis-dev HIREDIS
expect_missing /usr/include/zlib.h zlib zlib1g-dev ZLIB
expect_missing /usr/include/hiredis hiredis libhiredis-dev HIREDIS \
    HIREDIS_INC=/nonexistent/include HIREDIS_LIB=/nonexistent/lib

# nothing hidden (an unrelated header is): every probe passes, with the
# libraries for the module's link line
probe "$tmp/empty.h"
grep -q "libs: -lsodium -lhiredis -lz$" "$tmp/out" \
    && grep -q "checking for libsodium ... found" "$tmp/out" \
    && grep -q "checking for hiredis ... found" "$tmp/out" \
    && grep -q "checking for zlib ... found" "$tmp/out"
ok $? "with every library present each probe is found"

# the bogus directories are searched, before the system's
probe "$tmp/empty.h" HIREDIS_INC=/nonexistent/include \
    HIREDIS_LIB=/nonexistent/lib
grep -q "libs: -lsodium -L/nonexistent/lib -lhiredis -lz$" "$tmp/out"
ok $? "HIREDIS_LIB is on the link line"

# and once through nginx's real configure (the tree Debian's nginx-dev
# ships), with hiredis hidden
cp -a /usr/share/nginx/src "$tmp/nginx"
(cd "$tmp/nginx" && unshare --mount sh -c '
    mount --bind "$1/empty" /usr/include/hiredis || exit 99
    exec ./configure --without-pcre --without-http_rewrite_module \
        --without-http_gzip_module --add-dynamic-module="$2"
' sh "$tmp" "$top") > "$tmp/out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 99 ] \
    && grep -q "^./configure: error: ngx_http_apikey_module requires the hiredis library;" \
            "$tmp/out"
ok $? "nginx's configure stops with the sentence when hiredis is missing"

[ $failed -eq 0 ]
