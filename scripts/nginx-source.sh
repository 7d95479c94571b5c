#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Full nginx sources matching Debian's nginx, for the builds that need more
# than nginx-dev's headers (fuzzing, AddressSanitizer, valgrind): the
# upstream tarball of Debian's source package, unpacked into
# build/nginx-<version>.  Adds a deb-src line for Debian's mirror if there
# is none, and picks a source version the mirror actually serves.
# Prints the source directory.  Works with one-line and deb822 apt sources.
#
#   scripts/nginx-source.sh            the source directory
#   scripts/nginx-source.sh --mirror   the Debian mirror it would use
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

# The first Debian mirror apt knows, from one-line sources.list files or
# deb822 .sources files (the only layout of fresh Debian 12 images); the
# folders come from apt itself, so APT_CONFIG can point elsewhere.
mirror_uri() {
    local list parts

    eval "$(apt-config shell list Dir::Etc::sourcelist/f \
                             parts Dir::Etc::sourceparts/d)"
    list=${list:-/etc/apt/sources.list}
    parts=${parts:-/etc/apt/sources.list.d/}

    {
        [ -f "$list" ] && cat "$list"
        find "$parts" -maxdepth 1 \( -name '*.list' -o -name '*.sources' \) \
            -type f -exec cat {} + 2>/dev/null
    } | sed -n -e 's/^[[:space:]]*deb\(-src\)\{0,1\}[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\).*/\3/p' \
               -e 's/^[[:space:]]*URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
      | grep -m1 -E '^https?://[^ ]*debian[^ ]*/debian/?$' || true
}

if [ "${1:-}" = --mirror ]; then
    uri=$(mirror_uri)
    echo "${uri:-http://deb.debian.org/debian}"
    exit 0
fi

upstream=$(dpkg-query -W -f='${Version}' nginx-core 2>/dev/null \
           | sed 's/-.*//')
upstream=${upstream:-1.22.1}
dest="$top/build/nginx-$upstream"

if [ -f "$dest/src/core/nginx.c" ]; then
    echo "$dest"
    exit 0
fi

if [ -z "$(apt-cache showsrc nginx 2>/dev/null)" ]; then
    uri=$(mirror_uri)
    uri=${uri:-http://deb.debian.org/debian}
    echo "nginx-source: adding deb-src $uri bookworm main" >&2
    echo "deb-src $uri bookworm main" \
        > /etc/apt/sources.list.d/apikey-deb-src.list
    apt-get update -qq >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for v in $(apt-cache showsrc nginx | awk '/^Version:/ {print $2}' \
           | grep "^$upstream-" | sort -rV); do
    if (cd "$work" && apt-get source -d -qq "nginx=$v" >/dev/null 2>&1) \
        && [ -f "$work/nginx_$upstream.orig.tar.gz" ]
    then
        break
    fi
    rm -f "$work"/*
done

tarball="$work/nginx_$upstream.orig.tar.gz"

if [ ! -f "$tarball" ]; then
    echo "nginx-source: no nginx $upstream source on the mirror" >&2
    exit 1
fi

mkdir -p "$top/build"
tar -xzf "$tarball" -C "$top/build"
echo "$dest"
