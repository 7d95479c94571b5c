#!/usr/bin/env python3
"""Test control server: actions a Test::Nginx block performs between its
requests (write Redis, publish, stop and start Redis, signal nginx), reached
through a location of the nginx under test that proxies to it:

    location /ctl/ { proxy_pass http://127.0.0.1:$TEST_NGINX_CTL_PORT/; }

so that every t/*.t stays in the data-driven form.  Loopback only; started
and stopped by scripts/test.sh.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

REDIS_PORT = int(os.environ.get("TEST_NGINX_REDIS_PORT", "16380"))
REDIS_DIR = os.environ.get("TEST_REDIS_DIR", "/tmp")
NGINX_PORT = int(os.environ.get("TEST_NGINX_SERVER_PORT", "1984"))
SERVROOT = os.environ.get("TEST_NGINX_SERVROOT", "t/servroot")


def resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t in (b"+", b"-"):
        return rest.decode()
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise ValueError("bad reply %r" % line)


def redis(*args, port=REDIS_PORT):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(resp_encode(args))
        return resp_read(s.makefile("rb"))


def redis_start(port=REDIS_PORT):
    subprocess.run(["redis-server", "--port", str(port), "--bind",
                    "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", REDIS_DIR, "--dbfilename", "dump-%d.rdb" % port,
                    "--daemonize", "yes", "--pidfile",
                    os.path.join(REDIS_DIR, "redis-%d.pid" % port),
                    "--logfile", os.path.join(REDIS_DIR, "redis-%d.log" % port)],
                   check=True)
    for _ in range(200):
        try:
            redis("PING", port=port)
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("redis did not start")


def redis_stop(port=REDIS_PORT):
    try:
        redis("SHUTDOWN", "SAVE", port=port)
    except (OSError, ConnectionError):
        pass
    for _ in range(200):
        try:
            redis("PING", port=port)
            time.sleep(0.01)
        except OSError:
            return


def nginx_master():
    with open(os.path.join(SERVROOT, "logs", "nginx.pid")) as f:
        return int(f.read().strip())


SERVROOT2 = SERVROOT.rstrip("/") + "2"


def nginx2_start(conf):
    """A second nginx (another instance sharing the Redis), configured by
    a file the block wrote with --- user_files."""
    import shutil
    nginx2_stop()
    shutil.rmtree(SERVROOT2, ignore_errors=True)
    for d in ("conf", "logs", "html"):
        os.makedirs(os.path.join(SERVROOT2, d))
    shutil.copy(os.path.join(SERVROOT, "html", conf),
                os.path.join(SERVROOT2, "conf", "nginx.conf"))
    binary = os.environ.get("TEST_NGINX_BINARY", "nginx")
    subprocess.run([binary, "-p", SERVROOT2 + "/", "-c", "conf/nginx.conf",
                    "-e", "logs/error.log"], check=True)
    time.sleep(0.3)
    return "started"


def nginx2_stop():
    pidfile = os.path.join(SERVROOT2, "logs", "nginx.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return "not running"
    try:
        os.kill(pid, signal.SIGQUIT)
    except OSError:
        return "not running"
    for _ in range(300):
        try:
            os.kill(pid, 0)
            time.sleep(0.01)
        except OSError:
            break
    return "stopped"


def hammer(n, c, path, key, ports):
    """n GETs of path with the key, c at a time, straight to nginx (spread
    over the given ports); returns the count of each status, e.g.
    "200=50 429=350"."""
    import collections
    import concurrent.futures
    import http.client

    def one(i):
        conn = http.client.HTTPConnection("127.0.0.1", ports[i % len(ports)],
                                          timeout=10)
        try:
            conn.request("GET", path, headers={"X-Secret-Key": key})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(c) as pool:
        counts = collections.Counter(pool.map(one, range(n)))
    return " ".join("%d=%d" % kv for kv in sorted(counts.items()))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass

    def reply(self, code, text):
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        action = u.path.strip("/")
        try:
            out = self.act(action, q)
        except Exception as e:  # the test sees the failure in the body
            return self.reply(500, "ctl error: %s" % e)
        delay = float(q.get("sleep", ["0"])[0])
        if delay:
            time.sleep(delay)
        self.reply(200, out)

    def act(self, action, q):
        if action == "redis":
            r = redis(*q["a"])
            return r if isinstance(r, str) else json.dumps(r)
        if action == "sleep":
            return "slept"
        if action == "redis-stop":
            redis_stop()
            return "stopped"
        if action == "redis-start":
            redis_start()
            return "started"
        if action == "nginx-signal":
            os.kill(nginx_master(), getattr(signal, "SIG" + q["sig"][0]))
            return "signalled"
        if action == "hammer":
            ports = [int(p) for p in q.get("ports", [str(NGINX_PORT)])[0]
                     .split(",")]
            return hammer(int(q["n"][0]), int(q["c"][0]), q["path"][0],
                          q["key"][0], ports)
        if action == "nginx2-start":
            return nginx2_start(q["conf"][0])
        if action == "nginx2-stop":
            return nginx2_stop()
        return "unknown action " + action


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(
        os.environ.get("TEST_NGINX_CTL_PORT", "16381"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.serve_forever()


if __name__ == "__main__":
    main()
