#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Builds nginx 1.22.1 and the module as a dynamic module in the same tree
# (so that the module's ABI is that binary's) with AddressSanitizer and
# UndefinedBehaviorSanitizer, into build/asan/, and prints the paths of the
# nginx binary and of the module's .so.
#
# The configure flags are Debian's (/usr/share/nginx/src/conf_flags), with
# every absolute path moved under build/asan/root/ so that nothing outside
# the build directory is read or written.  nginx relies on unaligned loads
# on x86 by design, so UBSan's alignment check is left out.
#
#   scripts/asan.sh                   build (configure once), print paths
#   APIKEY_TEST=1 scripts/asan.sh     with the test-only clock offset, as
#                                     the suite needs (docs/testing.md)
#   NGINX_SRC=dir CC=clang scripts/asan.sh
#
# Output: two lines, "nginx: <path>" and "module: <path>" (build logs are
# in build/asan/*.log).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="${ASAN_BUILD_DIR:-$top/build/asan}"
[ "${APIKEY_TEST:-0}" = 1 ] && [ -z "${ASAN_BUILD_DIR:-}" ] && out="$out/test"
src="${NGINX_SRC:-$(bash "$top/scripts/nginx-source.sh")}"
flags="${NGINX_CONF_FLAGS_FILE:-/usr/share/nginx/src/conf_flags}"
cc=${CC:-cc}
work="$out/nginx"
root="$out/root"

[ "${APIKEY_SKIP_DEPS:-}" = 1 ] || bash "$top/scripts/deps.sh" >&2

if [ ! -x "$src/configure" ]; then
    echo "asan: no nginx sources in $src (set NGINX_SRC)" >&2
    exit 1
fi

san="-fsanitize=address,undefined -fno-sanitize=alignment"
cflags="-g -O1 -fno-omit-frame-pointer $san"
[ "${APIKEY_TEST:-0}" = 1 ] && cflags="$cflags -DNGX_HTTP_APIKEY_TEST=1"

# Debian's flags, absolute paths moved under $root ("stderr" stays)

# shellcheck disable=SC1090
. "$flags"

conf=()
for f in "${NGX_CONF_FLAGS[@]}"; do
    case "$f" in
    --*=/*)
        conf+=("${f%%=*}=$root/${f#*=/}")
        ;;
    *)
        conf+=("$f")
        ;;
    esac
done

mkdir -p "$out"

stamp="$out/.configured"
want="$(cat "$top/config") $src $cc $cflags ${conf[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$work"
    cp -a "$src" "$work"
    (cd "$work" && ./configure "${conf[@]}" \
        --with-cc="$cc" \
        --with-cc-opt="$cflags" \
        --with-ld-opt="$san" \
        --add-dynamic-module="$top" >"$out/configure.log" 2>&1) || {
        tail -30 "$out/configure.log" >&2 || true; exit 1; }
    printf '%s' "$want" > "$stamp"
fi

# the binary and the module, from the same objs/

make -C "$work" -f objs/Makefile -j"$(nproc)" >"$out/make.log" 2>&1 || {
    grep -E "error:|Error|Stop|undefined reference" -A3 "$out/make.log" \
        | head -60 >&2 || true
    exit 1; }
grep -E "warning:" -A2 "$out/make.log" | head -20 >&2 || true

# the temp and log directories the compiled-in paths name

for f in "${conf[@]}"; do
    case "$f" in
    --http-*-temp-path=*) mkdir -p "${f#*=}" ;;
    --http-log-path=*|--pid-path=*|--lock-path=*|--conf-path=*)
        mkdir -p "$(dirname "${f#*=}")" ;;
    esac
done

mkdir -p "$out/sbin" "$out/modules"
cp "$work/objs/nginx" "$out/sbin/nginx"
cp "$work/objs/ngx_http_apikey_module.so" "$out/modules/"

echo "nginx: $out/sbin/nginx"
echo "module: $out/modules/ngx_http_apikey_module.so"
