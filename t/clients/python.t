#!/usr/bin/env bash
#
# The Python client package (clients/python) against a live nginx with the
# module and a private Redis (t/clients/env.sh): its keys are accepted,
# revoked ones refused, and its records are apikeyctl's byte for byte.
#
#   prove t/clients/python.t          (after scripts/test.sh built things)

redis_offset=1
. "$(dirname "$0")/env.sh"

# Debian's python3, where python3-redis is installed
py=/usr/bin/python3
[ -x "$py" ] || py=python3

if ! "$py" -c 'import redis' 2>/dev/null; then
    echo "1..0 # SKIP python3-redis is not installed (scripts/deps.sh)"
    exit 0
fi

cd "$top/clients/python"
PYTHONPATH=src tap_from "$py" -m unittest discover -s tests -v
