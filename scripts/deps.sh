#!/usr/bin/env bash
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Installs, through apt-get, everything the build, the demo and the suite use.
# Safe to run again: it installs only what is missing.
set -euo pipefail

pkgs=(build-essential nginx-core nginx-dev libsodium-dev libhiredis-dev
      redis-server redis-sentinel redis-tools zlib1g-dev libpcre3-dev libssl-dev libtest-base-perl
      libwww-perl libjson-pp-perl curl python3 procps openssl
      clang libclang-rt-14-dev binutils python3-redis nodejs)
# the client packages' tests (clients/); node from another source (e.g.
# NodeSource) brings its own npm, which Debian's npm package conflicts with
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts the packaged servers; ours run on their own ports, so
# stopping theirs keeps the machine quiet (ignored where there is no systemd).
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now redis-server nginx >/dev/null 2>&1 || true
fi
exit 0
