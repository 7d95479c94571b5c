#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# The version is defined once, in src/ngx_http_apikey_version.h; CHANGES,
# debian/changelog, the man page and apikeyctl --version must name the
# same one
# (docs/releasing.md).  Prints TAP.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

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

h=src/ngx_http_apikey_version.h
v=$(sed -n 's/^#define NGX_HTTP_APIKEY_VERSION *"\(.*\)"$/\1/p' "$h")
num=$(sed -n 's/^#define ngx_http_apikey_version_num *\([0-9]*\)$/\1/p' "$h")

echo "1..7"

[[ "$v" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]
is "$?" 0 "the version ($v) is X.Y.Z"
is "$num" "$(( BASH_REMATCH[1] * 1000000 + BASH_REMATCH[2] * 1000
               + BASH_REMATCH[3] ))" "ngx_http_apikey_version_num matches it"
is "$(sed -n '2s/^Changes with ngx_http_apikey_module \([^ ]*\) .*/\1/p' \
      CHANGES)" "$v" "CHANGES starts with it"
is "$(sed -n '2p' CHANGES | awk '{ print length($0) }')" 76 \
   "CHANGES' header line is 76 columns, as nginx's"
is "$(dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null \
      | sed 's/-[^-]*$//')" "$v" "debian/changelog's version"
is "$(sed -n 's/^\.TH APIKEYCTL 1 ".*" "apikeyctl \([^"]*\)".*/\1/p' \
      debian/apikeyctl.1)" "$v" "the man page's version"
ctl=${TEST_NGINX_APIKEYCTL:-$top/build/apikeyctl}
is "$("$ctl" --version 2>&1)" "apikeyctl $v" "apikeyctl --version"

[ $failed -eq 0 ]
