#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Builds the libFuzzer harnesses of fuzz/ into build/fuzz/.
#
# nginx 1.22.1 (from scripts/nginx-source.sh, or NGINX_SRC) is configured
# with clang, ASan+UBSan and libFuzzer's coverage instrumentation, with the
# module compiled in statically (--add-module: this build also proves the
# static build works).  Each harness is then linked against every object of
# that tree; objs/src/core/nginx.o keeps all of nginx's core, only its
# main() is renamed (objcopy) so that libFuzzer's main() runs.
#
#   fuzz/build.sh            configure (once) and build
#   FUZZ_REBUILD=1 fuzz/build.sh    configure again from scratch
#   FUZZ_OUT=dir fuzz/build.sh      build elsewhere than build/fuzz/
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="${FUZZ_OUT:-$top/build/fuzz}"
src="${NGINX_SRC:-$(bash "$top/scripts/nginx-source.sh")}"
work="$out/nginx"
cc=${CC:-clang}

harnesses=(header record grants cidr checksum logscrub resp)

# UBSan reports are recoverable so that fuzz/ubsan.supp can silence a
# finding already reported; fuzz/run.sh sets UBSAN_OPTIONS=halt_on_error=1
# so that every other report stops the run like a crash

san="-fsanitize=address,undefined"
cflags="-g -O1 -fno-omit-frame-pointer $san -fsanitize=fuzzer-no-link"

# nginx builds with -Werror; clang warns where gcc does not (e.g.
# -Wconditional-uninitialized): report those, do not stop on them
cflags="$cflags -Wno-error=conditional-uninitialized"

if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' \
    | $cc -x c - -fsanitize=fuzzer -o /dev/null 2>/dev/null
then
    echo "fuzz: $cc cannot link -fsanitize=fuzzer;" \
         "apt-get install libclang-rt-14-dev" >&2
    exit 1
fi

mkdir -p "$out"

stamp="$out/.configured"
want="$(cat "$top/config") $cc $cflags"
if [ "${FUZZ_REBUILD:-0}" = 1 ] || [ ! -f "$stamp" ] \
    || [ "$(cat "$stamp")" != "$want" ]
then
    rm -rf "$work"
    cp -a "$src" "$work"
    (cd "$work" && ./configure \
        --with-cc="$cc" \
        --with-cc-opt="$cflags" \
        --with-ld-opt="$san" \
        --with-debug \
        --without-http_rewrite_module \
        --without-http_gzip_module \
        --add-module="$top" >"$out/configure.log" 2>&1) || {
        tail -30 "$out/configure.log" || true; exit 1; }
    printf '%s' "$want" > "$stamp"
fi

# the whole nginx binary: proves the static --add-module build links

make -C "$work" -f objs/Makefile -j"$(nproc)" >"$out/make.log" 2>&1 || {
    grep -E "error:|Error|Stop" -A3 "$out/make.log" | head -60 || true
    exit 1; }
grep -E "warning:" -A2 "$out/make.log" | head -20 || true

objcopy --redefine-sym main=ngx_fuzz_nginx_main \
    "$work/objs/src/core/nginx.o" "$out/nginx_nomain.o"

objs=()
while IFS= read -r o; do
    objs+=("$o")
done < <(find "$work/objs" -name '*.o' ! -path '*/src/core/nginx.o' | sort)

incs=()
for d in "$work/objs" "$work"/src/{core,event,event/modules,os/unix} \
         "$work"/src/{http,http/modules} "$top/src"
do
    incs+=(-I "$d")
done

hwarn="-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare"

# what the nginx link line adds after the objects: our module's libraries

libs=$(sed -n '/^objs\/nginx:/,/-Wl,-E/p' "$work/objs/Makefile" \
       | grep -o -- ' -[lL][^ ]*' | tr -d '\n')
[ -n "$libs" ] || { echo "fuzz: no libraries in objs/Makefile" >&2; exit 1; }

# shellcheck disable=SC2086
$cc $cflags $hwarn "${incs[@]}" -c "$top/fuzz/fuzz_common.c" \
    -o "$out/fuzz_common.o"

for h in "${harnesses[@]}"; do
    # shellcheck disable=SC2086
    $cc $cflags $hwarn "${incs[@]}" -c "$top/fuzz/fuzz_$h.c" \
        -o "$out/fuzz_$h.o"
    # shellcheck disable=SC2086
    $cc $san -fsanitize=fuzzer -o "$out/fuzz_$h" \
        "$out/fuzz_$h.o" "$out/fuzz_common.o" "$out/nginx_nomain.o" \
        "${objs[@]}" $libs
    echo "fuzz: $out/fuzz_$h"
done
