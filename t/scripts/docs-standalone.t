#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# The repository stands alone: no tracked file sends its reader to a
# contract or style guide kept outside it (a spec file, its section
# numbers, a shared folder next to the checkout).  What such a file said
# belongs in docs/.  Prints TAP.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

# the patterns are built from pieces so that this file does not match them
S=SPEC
pattern="\\b$S\\b|$S\\.md|STYLE\\.md|\\.\\./shared|/work/shared"
pattern="$pattern|product contract|[Tt]he spec('s)?\\b"

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "1..0 # SKIP not a git checkout"
    exit 0
fi

echo "1..2"

# a file that cites the outside contract is found (the check can fail)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/docs-standalone.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf 'See %s section 3.\n' "$S" > "$tmp/probe.md"
if grep -qE "$pattern" "$tmp/probe.md"; then
    echo "ok 1 - the pattern finds a citation"
else
    echo "not ok 1 - the pattern finds a citation"
fi

hits=()
while IFS= read -r hit; do
    case "${hit%%:*}" in
        t/scripts/docs-standalone.t) continue ;;
        LICENSE|debian/copyright) continue ;;    # legal text
    esac
    hits+=("$hit")
done < <(git ls-files -z | xargs -0 grep -nIE "$pattern" -- 2>/dev/null)

if [ ${#hits[@]} -eq 0 ]; then
    echo "ok 2 - no tracked file cites an outside contract"
else
    echo "not ok 2 - no tracked file cites an outside contract"
    printf '#   %s\n' "${hits[@]}"
fi

[ ${#hits[@]} -eq 0 ]
