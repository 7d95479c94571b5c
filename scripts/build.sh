#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Builds the dynamic module against Debian's nginx-dev (so that Debian's
# /usr/sbin/nginx loads it) and apikeyctl, into build/.
#
#   scripts/build.sh            module + apikeyctl
#   APIKEY_TEST=1 scripts/build.sh   also compiles the test-only clock offset
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD_DIR:-$top/build}"

[ "${APIKEY_SKIP_DEPS:-}" = 1 ] || bash "$top/scripts/deps.sh"

mkdir -p "$build"
src=/usr/share/nginx/src
work="$build/nginx"

stamp="$build/.configured"
want="$(cat "$top/config") test=${APIKEY_TEST:-0}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$work"
    cp -a "$src" "$work"
    # shellcheck disable=SC1091
    . "$work/conf_flags"
    extra=()
    [ "${APIKEY_TEST:-0}" = 1 ] && extra+=(--with-cc-opt="-DNGX_HTTP_APIKEY_TEST=1")
    (cd "$work" && ./configure "${NGX_CONF_FLAGS[@]}" "${extra[@]}" \
        --add-dynamic-module="$top" >"$build/configure.log" 2>&1) || {
        tail -30 "$build/configure.log"; exit 1; }
    printf '%s' "$want" > "$stamp"
fi

make -C "$work" -f objs/Makefile modules >"$build/make.log" 2>&1 || {
    grep -E "error|warning|Stop" -A3 "$build/make.log" | head -60; exit 1; }
grep -E "warning:" "$build/make.log" | head -20 || true

mkdir -p "$build/modules"
cp "$work/objs/ngx_http_apikey_module.so" "$build/modules/"

if [ -f "$top/tools/Makefile" ] && [ "${APIKEY_TEST:-0}" != 1 ]; then
    make -s -C "$top/tools" BUILD="$build"
fi
echo "build: $build/modules/ngx_http_apikey_module.so"
