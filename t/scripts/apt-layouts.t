#!/usr/bin/env bash
#
# scripts/nginx-source.sh finds Debian's mirror in either apt layout: the
# one-line sources.list, and deb822 .sources files only (fresh Debian 12
# images have no sources.list at all), and fuzz/run.sh shows a failing
# build's output instead of exiting silently.  Prints TAP.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/apt-layouts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0

is() {
    n=$((n + 1))
    if [ "$1" = "$2" ]; then
        echo "ok $n - $3"
    else
        echo "not ok $n - $3"
        echo "#   got:      '$1'"
        echo "#   expected: '$2'"
        failed=$((failed + 1))
    fi
}

mirror() {
    APT_CONFIG="$tmp/apt.conf" bash "$top/scripts/nginx-source.sh" --mirror
}

echo "1..5"

mkdir -p "$tmp/parts"
cat > "$tmp/apt.conf" <<CONF
Dir::Etc::sourcelist "$tmp/sources.list";
Dir::Etc::sourceparts "$tmp/parts";
CONF

# deb822 only, as a fresh Debian 12 image keeps it
cat > "$tmp/parts/debian.sources" <<'SRC'
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://ftp.one.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://ftp.one.debian.org/debian-security
Suites: bookworm-security
Components: main
SRC
is "$(mirror)" "http://ftp.one.debian.org/debian" \
   "deb822 .sources with no sources.list"

# one-line format in sources.list, with options
rm -f "$tmp/parts/debian.sources"
echo 'deb [arch=amd64] http://ftp.two.debian.org/debian bookworm main' \
    > "$tmp/sources.list"
is "$(mirror)" "http://ftp.two.debian.org/debian" "one-line sources.list"

# one-line .list in the parts folder, no sources.list
rm -f "$tmp/sources.list"
echo 'deb http://ftp.three.debian.org/debian/ bookworm main' \
    > "$tmp/parts/mirror.list"
is "$(mirror)" "http://ftp.three.debian.org/debian/" "one-line .list file"

# nothing at all: the default mirror, exit 0
rm -f "$tmp/parts/mirror.list"
out=$(mirror)
is "$?:$out" "0:http://deb.debian.org/debian" "no sources: the default"

# a failing fuzz build is shown, not hidden (CC that cannot link)
out=$(CC=false FUZZ_OUT="$tmp/fuzz" NGINX_SRC=/nonexistent \
      bash "$top/fuzz/run.sh" 1 header 2>&1)
rc=$?
case "$rc:$out" in
    1:*"fuzz/build.sh failed"*"cannot link"*) got=shown ;;
    *) got="rc=$rc: $out" ;;
esac
is "$got" "shown" "fuzz/run.sh shows a failing build's output"

[ "$failed" = 0 ]
