#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""The fleet benchmark's driver (run by bench/fleet.sh, which starts Redis
and sets FLEET_*): keys, instances, measurements, the Markdown table.

    fleet.py KEYS REVOCATIONS IDLE_SECONDS N [N ...]
"""

import hashlib
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

WORK = os.environ["FLEET_WORK"]
RP = int(os.environ["FLEET_REDIS_PORT"])
BASE = int(os.environ["FLEET_PORT_BASE"])
NGINX = os.environ["FLEET_NGINX"]
MODULE = os.environ["FLEET_MODULE"]
ZONE = os.environ["FLEET_ZONE"]


class Redis:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", RP))
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-"):
            return rest.decode()
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(line)

    def info(self, section):
        d = {}
        for ln in self.call("INFO", section).splitlines():
            if ":" in ln:
                k, v = ln.split(":", 1)
                d[k] = v
        return d


def key_of(i):
    return "fleetkey%024d" % i


def digest(key):
    return hashlib.blake2b(key.encode(), digest_size=32).hexdigest()


def load_keys(r, n):
    # records whose keys are known: key i is fleetkey<i>
    script = """
    for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
        redis.call('HSET', 'apikey:key:' .. ARGV[i - tonumber(ARGV[1]) + 3],
                   'id', 'k' .. i, 'access', 'full', 'owner', 'fleet')
    end
    return 1
    """
    step = 10000
    for lo in range(0, n, step):
        hi = min(n, lo + step) - 1
        r.call("EVAL", script, 0, lo, hi,
               *[digest(key_of(i)) for i in range(lo, hi + 1)])
    r.call("SET", "apikey:epoch", "fleet-epoch")
    r.call("XADD", "apikey:changes", "*", "d", "*")


def conf(i, snapshot):
    d = os.path.join(WORK, "n%d" % i)
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    # a static file: "return" would answer before the access phase
    os.makedirs(os.path.join(d, "html", "api"), exist_ok=True)
    with open(os.path.join(d, "html", "api", "x"), "w") as f:
        f.write("ok\n")
    os.chmod(d, 0o777)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write("""load_module %s;
worker_processes 1;
pid %s/logs/nginx.pid;
error_log %s/logs/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    apikey_zone keys:%s;
    apikey_redis 127.0.0.1:%d;
    %s
    server {
        listen 127.0.0.1:%d;
        root %s/html;
        location /api/ { apikey on; }
        location = /status { apikey_status; }
    }
}
""" % (MODULE, d, d, ZONE, RP,
       ("apikey_snapshot %s/keys.snap;" % d) if snapshot else "", BASE + i,
       d))
    return d


def start(i, snapshot=True):
    d = conf(i, snapshot)
    t0 = time.time()
    subprocess.run([NGINX, "-p", d + "/", "-c", d + "/nginx.conf"],
                   check=True, timeout=60)
    return time.time() - t0


def stop(i):
    d = os.path.join(WORK, "n%d" % i)
    try:
        pid = int(open(os.path.join(d, "logs", "nginx.pid")).read())
        os.kill(pid, 15)
        for _ in range(500):
            os.kill(pid, 0)
            time.sleep(0.01)
    except (OSError, ValueError):
        pass


def get(port, path, key=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"X-Secret-Key": key} if key else {})
    r = c.getresponse()
    body = r.read()
    if conn is None:
        c.close()
    return r.status, body


def wait_decides(i, key, deadline=600):
    """seconds until instance i answers 200 for key"""
    t0 = time.time()
    while time.time() - t0 < deadline:
        try:
            if get(BASE + i, "/api/x", key)[0] == 200:
                return time.time() - t0
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("instance %d never decided" % i)


def wait_snapshot(i, deadline=600):
    p = os.path.join(WORK, "n%d" % i, "keys.snap")
    t0 = time.time()
    last = -1
    while time.time() - t0 < deadline:
        if os.path.exists(p) and os.path.getsize(p) == last and last > 0:
            return p
        last = os.path.getsize(p) if os.path.exists(p) else -1
        time.sleep(1)
    raise RuntimeError("no snapshot")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def steady(r, seconds):
    a, s1 = r.info("cpu"), r.info("stats")
    time.sleep(seconds)
    b, s2 = r.info("cpu"), r.info("stats")
    cpu = sum(float(b[k]) - float(a[k])
              for k in ("used_cpu_sys", "used_cpu_user"))
    cmds = (int(s2["total_commands_processed"])
            - int(s1["total_commands_processed"]) - 2)
    return cpu, cmds * 60.0 / seconds


def revocations(r, n, count, first):
    conns = [http.client.HTTPConnection("127.0.0.1", BASE + i, timeout=10)
             for i in range(n)]
    times = []
    for j in range(count):
        k = key_of(first - j)
        d = digest(k)
        t0 = time.time()
        r.call("MULTI")
        r.call("HSET", "apikey:key:" + d, "active", "0")
        r.call("XADD", "apikey:changes", "MAXLEN", "~", "100000", "*", "d", d)
        r.call("PUBLISH", "apikey:events", d)
        r.call("EXEC")
        pending = set(range(n))
        while pending:
            for i in list(pending):
                if get(BASE + i, "/api/x", k, conns[i])[0] == 401:
                    pending.discard(i)
            if time.time() - t0 > 10:
                missed(pending)
                break
        else:
            times.append((time.time() - t0) * 1000)
    return times


def missed(pending):
    """An instance that did not refuse a revoked key within 10 s: what its
    status and error log say, so that the run goes on and shows why."""
    for i in sorted(pending):
        st = get(BASE + i, "/status")[1].decode(errors="replace")
        m = re.search(r'"sync":\{[^}]*\}', st)
        log = os.path.join(WORK, "n%d" % i, "logs", "error.log")
        tail = open(log).read().splitlines()[-3:] if os.path.exists(log) else []
        print("instance %d missed a revocation: %s; %s"
              % (i, m.group(0) if m else st[:200], " | ".join(tail)),
              file=sys.stderr)


def main():
    nkeys, nrev, idle = (int(x) for x in sys.argv[1:4])
    fleet = [int(x) for x in sys.argv[4:]]
    r = Redis()
    out = []
    rows = []

    t0 = time.time()
    load_keys(r, nkeys)
    print("loaded %d keys into Redis in %.1f s" % (nkeys, time.time() - t0),
          file=sys.stderr)

    probe = key_of(0)

    # cold start without a snapshot: instance 0 loads everything
    cmd = start(0)
    decide = wait_decides(0, probe)
    snap = wait_snapshot(0)
    out.append("cold start, no snapshot: nginx command %.2f s, first 200 "
               "after %.1f s" % (cmd, decide))

    running = 1
    revoked = 0
    for n in fleet:
        while running < n:
            d = os.path.join(WORK, "n%d" % running)
            os.makedirs(d, exist_ok=True)
            shutil.copy(snap, os.path.join(d, "keys.snap"))
            os.chmod(os.path.join(d, "keys.snap"), 0o666)
            c = start(running)
            w = wait_decides(running, probe)
            if running == 1:
                out.append("start from a snapshot: nginx command %.2f s, "
                           "first 200 after %.2f s" % (c, w))
            running += 1
        time.sleep(5)
        cpu, cpm = steady(r, idle)
        print("N=%d idle: Redis CPU %.3f s/min, %.0f commands/min"
              % (n, cpu * 60.0 / idle, cpm), file=sys.stderr)
        rev = revocations(r, n, nrev, nkeys - 1 - revoked)
        revoked += nrev
        rows.append("| %d | %.3f | %.0f | %.1f | %.1f | %.1f | %d |"
                   % (n, cpu * 60.0 / idle, cpm, statistics.median(rev),
                      pct(rev, 99), max(rev), len(rev)))
        if len(rev) < nrev:
            out.append("N=%d: %d of %d revocations not seen on every "
                       "instance within 10 s" % (n, nrev - len(rev), nrev))
        print(rows[-1], file=sys.stderr)

    st = get(BASE, "/status")[1].decode()
    out.append("instance 0 status: " + st.strip())

    for i in range(running):
        stop(i)

    print("\n".join(out))
    print()
    print("| N | Redis CPU s/min idle | commands/min idle | revocation p50 ms "
          "| p99 ms | max ms | revocations |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
