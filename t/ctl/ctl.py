#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
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
import threading
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


def redis(*args, port=REDIS_PORT, host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(resp_encode(args))
        return resp_read(s.makefile("rb"))


def redis_start(port=REDIS_PORT):
    subprocess.run(["redis-server", "--port", str(port), "--bind",
                    "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--enable-debug-command", "local", "--dir", REDIS_DIR, "--dbfilename", "dump-%d.rdb" % port,
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

# keys printed by apikeyctl, by the name a test saved them under
KEYS = {}


def apikeyctl(args, save, out=False):
    """Runs apikeyctl against the suite's Redis; with save=NAME, keeps the
    key it prints (create, rotate) for later /send requests; with out=1,
    its standard output and error follow the exit status."""
    binary = os.environ.get("TEST_NGINX_APIKEYCTL", "build/apikeyctl")
    p = subprocess.run([binary, "--redis", "127.0.0.1:%d" % REDIS_PORT]
                       + args, capture_output=True, text=True, timeout=30)
    if save and p.returncode == 0:
        KEYS[save] = p.stdout.strip().splitlines()[-1]
    if out:
        return "exit=%d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    return "exit=%d" % p.returncode


def send(key, method, path):
    """One request to nginx with a saved key; returns its status and body."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", NGINX_PORT, timeout=10)
    conn.request(method, path, headers={"X-Secret-Key": key})
    r = conn.getresponse()
    body = r.read().decode(errors="replace").strip()
    conn.close()
    return "%d %s" % (r.status, body)


def wait_for(path, pattern, timeout):
    """Polls a path of the nginx under test until its body matches the
    regular expression; returns "matched", or what it last got."""
    import http.client
    import re
    deadline = time.time() + timeout
    body = ""
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", NGINX_PORT,
                                              timeout=5)
            conn.request("GET", path)
            body = conn.getresponse().read().decode(errors="replace")
            conn.close()
            if re.search(pattern, body):
                return "matched"
        except OSError:
            pass
        time.sleep(0.2)
    return "timed out: " + body[:400]


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
    t0 = time.time()
    subprocess.run([binary, "-p", SERVROOT2 + "/", "-c", "conf/nginx.conf",
                    "-e", "logs/error.log"], check=True, timeout=30)
    ms = (time.time() - t0) * 1000
    time.sleep(0.3)
    return "started in %d ms" % ms


def children(pid):
    """The pids of the processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


def poll(cond, timeout=15.0):
    """Waits until cond() is true; returns whether it became so."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie is gone for our purpose (its parent has not reaped it yet)
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError):
        return False


# the old master of a binary upgrade under way
UPGRADE = {}


def nginx2_upgrade(old, new, step=None):
    """A binary upgrade of the second nginx, its configuration changed
    from old to new on the way (e.g. the zone's size), as an operator does
    it: step "usr2" sends USR2 to the master and waits for the new master
    and its worker; step "finish" sends WINCH to the old master, waits for
    its workers to exit, then QUIT and waits for it to exit.  Without a
    step, both."""
    pidfile = os.path.join(SERVROOT2, "logs", "nginx.pid")
    if step in (None, "usr2"):
        conf = os.path.join(SERVROOT2, "conf", "nginx.conf")
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace(old, new))
        with open(pidfile) as f:
            oldpid = int(f.read().strip())
        UPGRADE["old"] = oldpid
        os.kill(oldpid, signal.SIGUSR2)

        def new_master():
            try:
                with open(pidfile) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                return False
            return pid != oldpid and len(children(pid)) > 0

        if not poll(new_master):
            return "no new master"
        if step == "usr2":
            return "new master"
    oldpid = UPGRADE.pop("old")
    with open(pidfile) as f:
        newpid = int(f.read().strip())
    os.kill(oldpid, signal.SIGWINCH)
    # the new master is a child of the old one too
    if not poll(lambda: not [p for p in children(oldpid)
                             if p != newpid and alive(p)]):
        return "old workers still running"
    os.kill(oldpid, signal.SIGQUIT)
    if not poll(lambda: not alive(oldpid)):
        return "old master still running"
    return "upgraded"


def wait_key(port, key, path, status, timeout):
    """Polls path on port with the key until it answers status; returns
    "matched", or the status it last got."""
    import http.client
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers={"X-Secret-Key": key})
            r = conn.getresponse()
            r.read()
            conn.close()
            got = r.status
            if got == status:
                return "matched"
        except (OSError, http.client.HTTPException) as e:
            got = e
        time.sleep(0.02)
    return "timed out: %s" % got


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
        except (OSError, http.client.HTTPException):
            return 0        # e.g. the worker was killed meanwhile
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(c) as pool:
        counts = collections.Counter(pool.map(one, range(n)))
    return " ".join("%d=%d" % kv for kv in sorted(counts.items()))


# admitted requests (200s) per tally name, summed over hammer runs, and
# the requests whose answer was lost (status 0, or a 502 from an upstream
# that was killed after the request was admitted)
TALLY = {}
BACKGROUND = {}


def tally_add(name, result):
    if not name:
        return
    t = TALLY.setdefault(name, [0, 0])
    for kv in result.split():
        status, _, n = kv.partition("=")
        if status == "200":
            t[0] += int(n)
        elif status != "429":
            t[1] += int(n)


def tally_check(name, key, lo=0, hi=1 << 62, timeout=10.0):
    """Waits until the Redis usage counter `key` holds the tally's admitted
    requests (up to the lost answers more: those were counted before the
    worker died); returns "usage=tally" when it does and the tally is
    within [lo, hi], or what it saw instead."""
    ok, lost = TALLY.get(name, [0, 0])
    if not lo <= ok <= hi:
        return "tally=%d lost=%d outside [%d, %d]" % (ok, lost, lo, hi)
    deadline = time.time() + timeout
    while True:
        try:
            usage = int(redis("GET", key) or 0)
        except (OSError, ConnectionError, ValueError):
            usage = -1
        if ok <= usage <= ok + lost:
            return "usage=tally"
        if time.time() > deadline:
            return "usage=%d tally=%d lost=%d" % (usage, ok, lost)
        time.sleep(0.05)


def kill_owner():
    """SIGKILLs the syncing worker of the nginx under test, 0.1 s after
    answering."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", NGINX_PORT, timeout=5)
    conn.request("GET", "/status")
    body = conn.getresponse().read().decode()
    conn.close()
    pid = json.loads(body)["sync"]["owner_pid"]
    # a moment later: this very request may pass through that worker
    threading.Timer(0.1, os.kill, (pid, signal.SIGKILL)).start()
    return "killed"


class Load:
    """Background load: c threads send GETs of path, cycling through the
    keys, until stopped; stop() returns the statuses seen per key and the
    slowest answer, e.g. "a:200=950 b:401=940 max_ms=12"."""

    def __init__(self):
        self.threads = []
        self.running = False

    def start(self, path, keys, c, port=NGINX_PORT):
        import collections
        import http.client
        self.stop()
        self.running = True
        self.counts = collections.Counter()
        self.max_ms = 0.0
        self.lock = threading.Lock()

        def worker(n):
            i = n
            while self.running:
                name, _, key = keys[i % len(keys)].partition(":")
                i += 1
                t0 = time.time()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port,
                                                      timeout=10)
                    conn.request("GET", path, headers={"X-Secret-Key": key})
                    r = conn.getresponse()
                    r.read()
                    status = r.status
                    conn.close()
                except OSError:
                    status = "error"
                ms = (time.time() - t0) * 1000
                with self.lock:
                    self.counts[(name, status)] += 1
                    self.max_ms = max(self.max_ms, ms)

        self.threads = [threading.Thread(target=worker, args=(n,))
                        for n in range(c)]
        for t in self.threads:
            t.start()
        return "load started"

    def stop(self, check=None):
        if not self.threads:
            return "no load"
        self.running = False
        for t in self.threads:
            t.join()
        self.threads = []
        out = " ".join("%s:%s=%d" % (k[0], k[1], v)
                       for k, v in sorted(self.counts.items(),
                                          key=lambda kv: str(kv[0])))
        return "%s max_ms=%d" % (out, self.max_ms)


LOAD = Load()


class FakeRedis:
    """A Redis that is not one: "garbage" answers every command with bytes
    that break the protocol, "slow" answers one byte a second, "silent"
    accepts and never answers."""

    def __init__(self):
        self.sock = None

    def start(self, port, mode):
        import socketserver
        self.stop()

        class H(socketserver.BaseRequestHandler):
            def handle(h):
                h.request.settimeout(30)
                try:
                    while h.request.recv(4096):
                        if mode == "garbage":
                            h.request.sendall(b"?!garbage\r\n\x00\xff*-1x\r\n")
                        elif mode == "slow":
                            # a Redis answering one byte a second
                            for b in b"+OK\r\n" * 30:
                                h.request.sendall(bytes([b]))
                                time.sleep(1)
                except OSError:
                    pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.sock = socketserver.ThreadingTCPServer(("127.0.0.1", port), H)
        self.sock.daemon_threads = True
        threading.Thread(target=self.sock.serve_forever, daemon=True).start()
        return "fake redis started"

    def stop(self):
        if self.sock:
            self.sock.shutdown()
            self.sock.server_close()
            self.sock = None
        return "fake redis stopped"


FAKE = FakeRedis()


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
        if action == "redis-restart-empty":
            # a Redis that comes back without its data
            try:
                redis("SHUTDOWN", "NOSAVE")
            except (OSError, ConnectionError):
                pass
            redis_stop()
            try:
                os.unlink(os.path.join(REDIS_DIR, "dump-%d.rdb" % REDIS_PORT))
            except OSError:
                pass
            redis_start()
            return "restarted empty"
        if action == "redis-seq":
            # commands on one connection, in order (MULTI ... EXEC works);
            # each c= is a command, its arguments separated by spaces
            with socket.create_connection(("127.0.0.1", REDIS_PORT),
                                          timeout=5) as c:
                f = c.makefile("rb")
                out = []
                for cmd in q["c"]:
                    c.sendall(resp_encode(cmd.split(" ")))
                    out.append(resp_read(f))
            return json.dumps(out)
        if action == "nginx2-upgrade":
            return nginx2_upgrade(q.get("from", [""])[0],
                                  q.get("to", [""])[0],
                                  q.get("step", [None])[0])
        if action in ("nginx-log", "nginx2-log"):
            # the lines of the error log of the nginx under test (or of
            # the second one) that match, after the first line matching
            # after= if given; with wait=S, once at least one does (or S
            # seconds have passed)
            import re
            root = SERVROOT if action == "nginx-log" else SERVROOT2
            after = q.get("after", [None])[0]

            def count():
                n, on = 0, after is None
                with open(os.path.join(root, "logs", "error.log"),
                          errors="replace") as f:
                    for line in f:
                        if on and re.search(q["match"][0], line):
                            n += 1
                        elif not on and re.search(after, line):
                            on = True
                return n

            poll(lambda: count() > 0, float(q.get("wait", ["0"])[0]))
            return "lines=%d" % count()
        if action == "snap-watch":
            # how often a file is renamed over (a snapshot rewritten) in
            # seconds=S, while the record of digest= changes (HSET, XADD)
            # every half second; until=1 returns at the first rewrite;
            # count=N returns at the Nth with the seconds between the last
            # two files' mtimes (gap=G), which the time the changes took to
            # start does not enter
            path, d = q["path"][0], q["digest"][0]
            until = q.get("until", ["0"])[0] == "1"
            count = int(q.get("count", ["0"])[0])
            mtimes = []

            def ident():
                try:
                    st = os.stat(path)
                    return (st.st_ino, st.st_mtime_ns)
                except OSError:
                    return None

            seen, n, i = ident(), 0, 0
            end = time.time() + float(q["seconds"][0])
            while time.time() < end:
                i += 1
                redis("HSET", "apikey:key:" + d, "name", "w%d" % i)
                redis("XADD", "apikey:changes", "*", "d", d)
                t = time.time() + 0.5
                while time.time() < t:
                    now = ident()
                    if now != seen:
                        seen, n = now, n + 1
                        if until:
                            return "rewrites=%d" % n
                        if now is not None:
                            mtimes.append(now[1])
                        if count and n >= count and len(mtimes) >= 2:
                            return "gap=%d" % ((mtimes[-1] - mtimes[-2])
                                               // 1000000000)
                    time.sleep(0.05)
            return "rewrites=%d" % n
        if action == "lock-file":
            # another process writing a file: it is created if need be,
            # and locked (fcntl, as nginx locks) for seconds=S
            import fcntl
            fd = os.open(q["path"][0], os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"another writer\n")
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            threading.Timer(float(q["seconds"][0]), os.close, (fd,)).start()
            return "locked"
        if action == "wait-key":
            return wait_key(int(q["port"][0]), q["key"][0], q["path"][0],
                            int(q["status"][0]),
                            float(q.get("timeout", ["10"])[0]))
        if action == "nginx-signal":
            os.kill(nginx_master(), getattr(signal, "SIG" + q["sig"][0]))
            return "signalled"
        if action in ("hammer", "hammer-bg"):
            ports = [int(p) for p in q.get("ports", [str(NGINX_PORT)])[0]
                     .split(",")]
            name = q.get("tally", [None])[0]

            def run():
                out = hammer(int(q["n"][0]), int(q["c"][0]), q["path"][0],
                             q["key"][0], ports)
                tally_add(name, out)
                return out

            if action == "hammer":
                return run()
            import concurrent.futures
            BACKGROUND[q["id"][0]] = \
                concurrent.futures.ThreadPoolExecutor(1).submit(run)
            return "running"
        if action == "hammer-wait":
            return BACKGROUND.pop(q["id"][0]).result()
        if action == "tally":
            return tally_check(q["name"][0], q["key"][0],
                               int(q.get("min", ["0"])[0]),
                               int(q.get("max", [str(1 << 62)])[0]))
        if action == "tally-reset":
            TALLY.pop(q["name"][0], None)
            return "reset"
        if action == "kill-owner":
            return kill_owner()
        if action == "redis-kill":
            # a crash, after a SAVE so the data comes back with it
            redis("SAVE")
            with open(os.path.join(REDIS_DIR,
                                   "redis-%d.pid" % REDIS_PORT)) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
            time.sleep(0.1)
            return "killed"
        if action == "redis-stall":
            # DEBUG SLEEP from a thread: the reply comes when Redis wakes
            secs = q["seconds"][0]

            def stall():
                try:
                    with socket.create_connection(("127.0.0.1", REDIS_PORT),
                                                  timeout=60) as c:
                        c.sendall(resp_encode(["DEBUG", "SLEEP", secs]))
                        c.recv(64)
                except OSError:
                    pass

            threading.Thread(target=stall, daemon=True).start()
            time.sleep(0.05)
            return "stalled"
        if action == "load-start":
            return LOAD.start(q["path"][0], q["key"], int(q["c"][0]),
                              int(q.get("port", [NGINX_PORT])[0]))
        if action == "load-stop":
            return LOAD.stop(q.get("check", [None])[0])
        if action == "fake-redis-start":
            return FAKE.start(int(q["port"][0]), q["mode"][0])
        if action == "fake-redis-stop":
            return FAKE.stop()
        if action == "apikeyctl":
            return apikeyctl(q["a"], q.get("save", [None])[0],
                             q.get("out", ["0"])[0] == "1")
        if action == "send":
            return send(KEYS[q["key"][0]], q.get("method", ["GET"])[0],
                        q["path"][0])
        if action == "wait":
            return wait_for(q["path"][0], q["match"][0],
                            float(q.get("timeout", ["30"])[0]))
        if action == "nginx2-start":
            return nginx2_start(q["conf"][0])
        if action == "nginx2-stop":
            return nginx2_stop()
        if action.startswith("tx-"):
            import transport    # TLS, Sentinel and Cluster servers
            return transport.act(action, q)
        return "unknown action " + action


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(
        os.environ.get("TEST_NGINX_CTL_PORT", "16381"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.serve_forever()


if __name__ == "__main__":
    main()
