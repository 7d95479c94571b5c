#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""Redis side of bench/quota.sh (Python stdlib only).

    quota.py seed PORT ID LIMIT     writes a key record (the schema of
                                    docs/keys.md, no hash secret) with that
                                    id and hourly limit; prints the key
    quota.py evals PORT             EVAL + EVALSHA calls so far (INFO
                                    commandstats): the usage reports
    quota.py usage PORT ID          this hour's usage counter of the id
"""

import hashlib
import random
import socket
import sys
import time
import zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum(body):
    crc = zlib.crc32(body.encode())
    out = ""
    for _ in range(6):
        out = B62[crc % 62] + out
        crc //= 62
    return out


def redis(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        s.sendall(b"".join(out))
        f = s.makefile("rb")
        line = f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:-2].decode()
        return rest.decode()


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "seed":
        ident, limit = sys.argv[3], sys.argv[4]
        body = "taapit_" + "".join(random.choice(B62) for _ in range(32))
        key = body + checksum(body)
        d = hashlib.blake2b(key.encode(), digest_size=32).hexdigest()
        redis(port, "HSET", "apikey:key:" + d, "id", ident, "access",
              "full", "owner", "bench", "limit", limit)
        redis(port, "SET", "apikey:id:" + ident, d)
        redis(port, "PUBLISH", "apikey:events", d)
        print(key)
    elif cmd == "evals":
        info = redis(port, "INFO", "commandstats")
        n = 0
        for line in info.splitlines():
            if line.startswith(("cmdstat_eval:", "cmdstat_evalsha:")):
                n += int(line.split("calls=")[1].split(",")[0])
        print(n)
    elif cmd == "usage":
        hour = int(time.time()) // 3600
        print(redis(port, "GET", "apikey:usage:%s:%d" % (sys.argv[3], hour))
              or 0)


if __name__ == "__main__":
    main()
