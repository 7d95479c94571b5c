#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Builds the Debian packages libnginx-mod-http-apikey and apikeyctl from
# debian/, the way Debian builds its libnginx-mod-* packages
# (dh-sequence-nginx from nginx-dev), into build/deb/.  The build runs in a
# copy of the tree (tracked and untracked files, not build/ or the test
# servroots), so the working tree gets no debian/ build litter.  Prints
# the paths of the two .deb files.  A tree already built is not built again.
#
#   scripts/package.sh            build (or reuse) the packages
#   scripts/package.sh --force    build even if the tree has not changed
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/deb"
work="$top/build/deb-src"

[ "${APIKEY_SKIP_DEPS:-}" = 1 ] || \
    bash "$top/scripts/deps.sh" debhelper dpkg-dev fakeroot nginx-dev

cd "$top"

# the tree as it is, with its content hash: git's file list when there is a
# repository, every file but build outputs otherwise
list_files() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z -co --exclude-standard
    else
        find . -path ./build -prune -o -path './t/servroot*' -prune \
            -o -path ./.git -prune -o -type f -printf '%P\0'
    fi
}

# what the packages are made of: not the tests, benchmarks or fuzzers
sum=$(list_files | grep -zv -e '^t/' -e '^bench/' -e '^fuzz/' -e '^\.github/' \
      | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)

if [ "${1:-}" != --force ] && [ -f "$out/.tree" ] \
    && [ "$(cat "$out/.tree")" = "$sum" ] \
    && ls "$out"/libnginx-mod-http-apikey_*.deb "$out"/apikeyctl_*.deb \
        >/dev/null 2>&1
then
    ls "$out"/libnginx-mod-http-apikey_*.deb "$out"/apikeyctl_*.deb
    exit 0
fi

rm -rf "$work" "$out"
mkdir -p "$work/src" "$out"
list_files | tar -C "$top" --null -T - -cf - | tar -C "$work/src" -xf -

# dpkg-buildpackage writes the packages next to the source directory
(cd "$work/src" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} noddebs" \
    dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1 || {
    tail -40 "$out/build.log"
    echo "package: dpkg-buildpackage failed, see $out/build.log" >&2
    exit 1
}

mv "$work"/*.deb "$out/"
rm -rf "$work"
printf '%s' "$sum" > "$out/.tree"
ls "$out"/libnginx-mod-http-apikey_*.deb "$out"/apikeyctl_*.deb
