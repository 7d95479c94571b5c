#!/usr/bin/env bash
#
# The JavaScript client package (clients/js) against a live nginx with the
# module and a private Redis (t/clients/env.sh), with node's test runner:
# its keys are accepted, revoked ones refused, and its records are
# apikeyctl's byte for byte.  Its dependency (the redis package) comes from
# the npm registry, as package-lock.json pins it.
#
#   prove t/clients/js.t              (after scripts/test.sh built things)

redis_offset=2
. "$(dirname "$0")/env.sh"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1
then
    echo "1..0 # SKIP node or npm is not installed (scripts/deps.sh)"
    exit 0
fi

cd "$top/clients/js"

if [ ! -d node_modules/redis ] || [ package-lock.json -nt node_modules ]; then
    if ! npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1; then
        echo "Bail out! npm ci failed in clients/js (is the npm registry" \
             "reachable?)"
        sed 's/^/# /' "$tmp/npm.log" | tail -10
        exit 1
    fi
fi

node --test --test-reporter=tap test/
