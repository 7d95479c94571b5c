#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# The C style check that OpenResty's ngx-releng runs for lua-nginx-module
# in CI, on every tracked C source and header: no line over 80 columns,
# no tab, no trailing white space, and the file ends with a newline.
# Prints TAP.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "1..0 # SKIP not a git checkout"
    exit 0
fi

n=0
failed=0

check() {   # name, then the offending lines (empty: ok)
    n=$((n + 1))
    if [ -z "$2" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        printf '%s\n' "$2" | head -20 | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
}

mapfile -d '' files < <(git ls-files -z -- '*.c' '*.h')

echo "1..5"

check "there are C files to check" \
    "$([ ${#files[@]} -gt 0 ] || echo 'no *.c or *.h file tracked')"
check "no line over 80 columns" \
    "$(grep -nE '^.{81,}' -- "${files[@]}")"
check "no tab" "$(grep -nP '\t' -- "${files[@]}")"
check "no trailing white space" "$(grep -nE '[[:space:]]+$' -- "${files[@]}")"
check "every file ends with a newline" \
    "$(for f in "${files[@]}"; do
           [ -s "$f" ] && [ "$(tail -c1 "$f" | od -An -c | tr -d ' ')" != '\n' ] \
               && echo "$f"
       done)"

[ $failed -eq 0 ]
