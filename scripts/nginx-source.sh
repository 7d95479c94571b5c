#!/usr/bin/env bash
# Full nginx sources matching Debian's nginx, for the builds that need more
# than nginx-dev's headers (fuzzing, AddressSanitizer, valgrind): the
# upstream tarball of Debian's source package, unpacked into
# build/nginx-<version>.  Adds a deb-src line for Debian's mirror if there
# is none, and picks a source version the mirror actually serves.
# Prints the source directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
upstream=$(dpkg-query -W -f='${Version}' nginx-core 2>/dev/null \
           | sed 's/-.*//')
upstream=${upstream:-1.22.1}
dest="$top/build/nginx-$upstream"

if [ -f "$dest/src/core/nginx.c" ]; then
    echo "$dest"
    exit 0
fi

if [ -z "$(apt-cache showsrc nginx 2>/dev/null)" ]; then
    uri=$(grep -rhoE 'https?://[^ ]*debian[^ ]*/debian/?' \
              /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
          | head -1)
    uri=${uri:-http://deb.debian.org/debian}
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
