#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""Keys and Redis seed data for bench/run.sh (Python stdlib only).

    keys.py OUTDIR NBIG [NREAL]

writes into OUTDIR:

  keys.env     shell assignments: VALID_KEY, UNKNOWN_KEY, REVOKE_KEY,
               REVOKE_DIGEST (the digests of docs/keys.md: BLAKE2b-256,
               no hash secret)
  small.resp   RESP commands for `redis-cli --pipe`: 1,000 real keys under
               the prefix "apikey:" (the schema of docs/keys.md, with the
               id strings), and the same 1,000 keys under "lua:key:<sha1>"
               for the Lua contender
  big.resp     NBIG records under the prefix "big:": the first NREAL
               (default 100,000) are real keys, listed in big-keys.txt
               (the valid and the revocation key among them); the others
               have random digests, nobody holds their keys
  small-keys.txt, big-keys.txt   the real keys, one a line, for wrk's
               random-key script (bench/lib/randkey.lua)
  authmap.conf the 1,000 keys as `map` entries for the auth_request contender

Keys are in the format of docs/keys.md section 1: "taapit_", 32 base62
characters, the base62 CRC-32 checksum.
"""

import hashlib
import os
import random
import sys
import zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
rng = random.Random(20240601)     # reproducible key set


def checksum(body):
    crc = zlib.crc32(body.encode())
    out = ""
    for _ in range(6):
        out = B62[crc % 62] + out
        crc //= 62
    return out


def make_key(prefix="taapit_"):
    body = prefix + "".join(rng.choice(B62) for _ in range(32))
    return body + checksum(body)


def digest(key):
    return hashlib.blake2b(key.encode(), digest_size=32).hexdigest()


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def new_id():
    # apikeyctl's default: "k_" and 12 base62 characters
    return "k_" + "".join(rng.choice(B62) for _ in range(12))


def record(kid, n):
    # a typical short record: apikeyctl's id, an owner, a name, full access
    return ["id", kid, "owner", "acme-%04d" % (n % 10000),
            "name", "svc key %d" % n, "access", "full"]


def main():
    outdir, nbig = sys.argv[1], int(sys.argv[2])
    nreal = min(nbig, int(sys.argv[3]) if len(sys.argv) > 3 else 100000)

    small = [make_key() for _ in range(1000)]
    valid, revoke = small[0], small[1]
    unknown = make_key()              # well-formed, checksum right, not stored

    with open(os.path.join(outdir, "keys.env"), "w") as f:
        f.write("VALID_KEY=%s\nUNKNOWN_KEY=%s\nREVOKE_KEY=%s\n"
                "VALID_DIGEST=%s\nREVOKE_DIGEST=%s\n"
                % (valid, unknown, revoke, digest(valid), digest(revoke)))

    with open(os.path.join(outdir, "small.resp"), "wb") as f:
        for n, k in enumerate(small):
            d = digest(k)
            kid = new_id()
            f.write(resp("HSET", "apikey:key:" + d, *record(kid, n)))
            f.write(resp("SET", "apikey:id:" + kid, d))
            # the Lua contender's copy: keyed by SHA-1 of the raw key
            f.write(resp("HSET", "lua:key:" + hashlib.sha1(k.encode())
                         .hexdigest(), *record(kid, n)))

    with open(os.path.join(outdir, "small-keys.txt"), "w") as f:
        f.write("".join(k + "\n" for k in small))

    with open(os.path.join(outdir, "authmap.conf"), "w") as f:
        for k in small:
            f.write('        "%s" 1;\n' % k)

    real = [valid, revoke] + [make_key() for _ in range(nreal - 2)]
    with open(os.path.join(outdir, "big-keys.txt"), "w") as f:
        f.write("".join(k + "\n" for k in real))

    with open(os.path.join(outdir, "big.resp"), "wb") as f:
        buf = []
        for n in range(nbig):
            if n < nreal:
                d = digest(real[n])
            else:
                d = os.urandom(32).hex()
            buf.append(resp("HSET", "big:key:" + d, *record("k_%012d" % n, n)))
            if len(buf) >= 10000:
                f.write(b"".join(buf))
                buf = []
        f.write(b"".join(buf))


if __name__ == "__main__":
    main()
