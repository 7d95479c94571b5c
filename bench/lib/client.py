#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""Small clients for bench/run.sh (Python stdlib only).

    client.py loop PORT PATH N HEADER...
        N keep-alive GETs on one connection (for the callgrind runs, which
        need an exact request count); prints the status counts.

    client.py revoke NGINX_PORT REDIS_PORT PREFIX KEY DIGEST TRIES
        revocation latency: for each try, HSET active=0 on the key's hash,
        PUBLISH its digest, then GET with the key in a tight loop until 401,
        timing from the PUBLISH; then restore (active=1, PUBLISH) and wait
        for 200.  Prints one line: tries p50 p90 p99 max (ms) polls/try.
"""

import http.client
import socket
import sys
import time


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))

    def reply(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"+":
            return rest
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)

    def call(self, *args):
        self.send(*args)
        return self.reply()


def get(conn, path, headers):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.read()
    return r.status


def loop(port, path, n, hdrs):
    headers = dict(h.split(": ", 1) for h in hdrs)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    counts = {}
    for _ in range(n):
        st = get(conn, path, headers)
        counts[st] = counts.get(st, 0) + 1
    print(" ".join("%d:%d" % kv for kv in sorted(counts.items())))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1)]


def revoke(nport, rport, prefix, key, digest, tries):
    r = Redis(rport)
    conn = http.client.HTTPConnection("127.0.0.1", nport)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hdr = {"X-Secret-Key": key}
    name = prefix + "key:" + digest
    chan = prefix + "events"
    lat, polls = [], 0

    def wait_for(status, limit=5.0):
        nonlocal polls
        t_end = time.perf_counter() + limit
        while True:
            st = get(conn, "/api/ok.txt", hdr)
            polls += 1
            if st == status:
                return time.perf_counter()
            if time.perf_counter() > t_end:
                raise RuntimeError("no %d within %.0f s (last %d)"
                                   % (status, limit, st))

    if get(conn, "/api/ok.txt", hdr) != 200:
        raise RuntimeError("the revocation key is not accepted to start with")

    for _ in range(tries):
        r.call("HSET", name, "active", "0")
        t0 = time.perf_counter()
        if r.call("PUBLISH", chan, digest) < 1:
            raise RuntimeError("nobody subscribed to " + chan)
        t1 = wait_for(401)
        lat.append((t1 - t0) * 1000.0)

        r.call("HSET", name, "active", "1")
        r.call("PUBLISH", chan, digest)
        wait_for(200)

    print("%d %.3f %.3f %.3f %.3f %.1f" % (
        tries, pct(lat, 50), pct(lat, 90), pct(lat, 99), max(lat),
        polls / float(tries)))


def main():
    cmd = sys.argv[1]
    if cmd == "loop":
        loop(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    elif cmd == "revoke":
        a = sys.argv[2:]
        revoke(int(a[0]), int(a[1]), a[2], a[3], a[4], int(a[5]))
    else:
        sys.exit("usage: client.py loop|revoke ...")


if __name__ == "__main__":
    main()
