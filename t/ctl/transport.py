# Copyright (C) The ngx_http_apikey_module authors

"""Redis servers for the transport tests (t/018-tls.t, t/019-sentinel.t,
t/020-redis-cluster.t): Redis behind TLS, with a CA made here with openssl; a
master, a replica and three sentinels; a cluster of three masters.  Reached through the control server (t/ctl/ctl.py)
as actions named "tx-...".

Ports follow TEST_NGINX_REDIS_PORT (P), so that suites run side by side
on other ports do not meet:
    P+4  TLS, client certificates optional    (plaintext P+5 for the tests)
    P+6  TLS, client certificates required    (plaintext P+7)
    P+10 the first master, P+11 its replica, P+12..P+14 sentinels
    P+15..P+17 a cluster of three masters (bus ports 10000 higher)
    P+18 two Redis, on 127.0.0.2 and 127.0.0.3; P+19 (UDP) a DNS server
         that answers every A question with one of them
Every server writes redis-<port>.pid in TEST_REDIS_DIR, where
scripts/test.sh finds and stops it.
"""

import json
import os
import signal
import subprocess
import threading
import time

import ctl

P = ctl.REDIS_PORT
TLS_DIR = os.path.join(ctl.REDIS_DIR, "tls")

TLS_SERVERS = {
    # tls port: (plaintext port, tls-auth-clients)
    P + 4: (P + 5, "no"),
    P + 6: (P + 7, "yes"),
}


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, cwd=TLS_DIR,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs():
    """ca.crt signs server.crt (localhost, 127.0.0.1) and client.crt;
    other-ca.crt signs nothing we use.  True when they are new."""
    if os.path.exists(os.path.join(TLS_DIR, "done")):
        return False
    os.makedirs(TLS_DIR, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *key, "-keyout", ca + ".key", "-out",
                ca + ".crt", "-days", "3", "-subj", "/CN=apikey test " + ca)
    with open(os.path.join(TLS_DIR, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn in (("server", "localhost"), ("client", "apikey-client")):
        openssl("req", *key, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + cn)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "3",
                "-out", name + ".crt",
                *(["-extfile", "san.ext"] if name == "server" else []))
    open(os.path.join(TLS_DIR, "done"), "w").close()
    return True


def redis_up(port):
    try:
        ctl.redis("PING", port=port)
        return True
    except OSError:
        return False


def tls_start():
    new = make_certs()
    for tls_port, (port, auth) in TLS_SERVERS.items():
        if new:
            # one left by an earlier run has certificates of another CA
            ctl.redis_stop(port)
        elif redis_up(port):
            continue
        t = lambda f: os.path.join(TLS_DIR, f)
        subprocess.run(
            ["redis-server", "--port", str(port), "--tls-port", str(tls_port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--tls-cert-file", t("server.crt"),
             "--tls-key-file", t("server.key"),
             "--tls-ca-cert-file", t("ca.crt"),
             "--tls-auth-clients", auth,
             "--dir", ctl.REDIS_DIR, "--daemonize", "yes",
             "--pidfile", os.path.join(ctl.REDIS_DIR, "redis-%d.pid" % port),
             "--logfile", os.path.join(ctl.REDIS_DIR,
                                       "redis-%d.log" % port)],
            check=True)
        for _ in range(300):
            if redis_up(port):
                break
            time.sleep(0.01)
        else:
            raise RuntimeError("TLS redis on %d did not start" % tls_port)
    return "tls started"


SENTINEL_MASTER = "apikeymaster"
DATA_PORTS = (P + 10, P + 11)
SENTINEL_PORTS = (P + 12, P + 13, P + 14)


def pidfile(port):
    return os.path.join(ctl.REDIS_DIR, "redis-%d.pid" % port)


def kill_port(port):
    try:
        with open(pidfile(port)) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass
    for _ in range(300):
        if not redis_up(port):
            return
        time.sleep(0.01)


def wait_up(port):
    for _ in range(500):
        if redis_up(port):
            return
        time.sleep(0.01)
    raise RuntimeError("redis on %d did not start" % port)


def sentinel_start():
    """A fresh group: the master on P+10, its replica, three sentinels
    that fail over after a second of silence."""
    for port in SENTINEL_PORTS + DATA_PORTS:
        kill_port(port)
    for port in DATA_PORTS:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", ctl.REDIS_DIR,
                "--dbfilename", "dump-%d.rdb" % port,
                "--daemonize", "yes", "--pidfile", pidfile(port),
                "--logfile", os.path.join(ctl.REDIS_DIR,
                                          "redis-%d.log" % port)]
        if port != DATA_PORTS[0]:
            args += ["--replicaof", "127.0.0.1", str(DATA_PORTS[0])]
        subprocess.run(args, check=True)
        wait_up(port)
    for port in SENTINEL_PORTS:
        conf = os.path.join(ctl.REDIS_DIR, "sentinel-%d.conf" % port)
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndaemonize yes\n"
                    "pidfile %s\nlogfile %s\ndir %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 2\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 4000\n"
                    % (port, pidfile(port),
                       os.path.join(ctl.REDIS_DIR, "sentinel-%d.log" % port),
                       ctl.REDIS_DIR, SENTINEL_MASTER, DATA_PORTS[0],
                       SENTINEL_MASTER, SENTINEL_MASTER))
        subprocess.run(["redis-sentinel", conf], check=True)
        wait_up(port)
    # ready when every sentinel knows the replica and the other two
    deadline = time.time() + 30
    while time.time() < deadline:
        ok = 0
        for port in SENTINEL_PORTS:
            m = ctl.redis("SENTINEL", "MASTER", SENTINEL_MASTER, port=port)
            d = dict(zip(m[::2], m[1::2]))
            if (int(d.get("num-slaves", 0)) >= 1
                    and int(d.get("num-other-sentinels", 0)) >= 2):
                ok += 1
        info = ctl.redis("INFO", "replication", port=DATA_PORTS[1])
        if ok == len(SENTINEL_PORTS) and "master_link_status:up" in info:
            return "sentinel started"
        time.sleep(0.1)
    raise RuntimeError("the sentinels did not settle")


def master_port():
    a = ctl.redis("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER,
                  port=SENTINEL_PORTS[0])
    return int(a[1])


def nginx_status(key):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", ctl.NGINX_PORT, timeout=5)
    try:
        conn.request("GET", "/api/x", headers={"X-Secret-Key": key})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def failover(key, digest, prefix):
    """Kills the master.  At the sentinels' +switch-master, revokes the key
    on the new master and times until nginx refuses it.  Also times the
    replica's own promotion (ROLE), which comes before the announcement."""
    import socket
    old = master_port()
    new = [p for p in DATA_PORTS if p != old][0]
    sub = socket.create_connection(("127.0.0.1", SENTINEL_PORTS[0]),
                                   timeout=30)
    sub.sendall(ctl.resp_encode(["SUBSCRIBE", "+switch-master"]))
    f = sub.makefile("rb")
    ctl.resp_read(f)
    promoted = []

    def watch_role():
        end = time.time() + 30
        while time.time() < end and not promoted:
            try:
                if ctl.redis("ROLE", port=new)[0] == "master":
                    promoted.append(time.time())
            except (OSError, ConnectionError):
                pass
            time.sleep(0.005)

    t0 = time.time()
    kill_port(old)
    threading.Thread(target=watch_role, daemon=True).start()
    while True:
        m = ctl.resp_read(f)
        if m[0] == "message" and m[2].startswith(SENTINEL_MASTER + " "):
            break
    switched = time.time()
    sub.close()
    ctl.redis("HSET", prefix + "key:" + digest, "active", "0", port=new)
    ctl.redis("PUBLISH", prefix + "events", digest, port=new)
    refused = None
    while time.time() < switched + 10:
        if nginx_status(key) == 401:
            refused = time.time()
            break
        time.sleep(0.005)
    ms = lambda a, b: int((b - a) * 1000) if a and b else -1
    return ("switched to %d after %d ms; refused %d ms after the switch, "
            "%d ms after the promotion"
            % (new, ms(t0, switched), ms(switched, refused),
               ms(promoted[0] if promoted else None, refused)))


CLUSTER_PORTS = (P + 15, P + 16, P + 17)
TAG = "apikey"


def cluster_start():
    for port in CLUSTER_PORTS:
        kill_port(port)
        try:
            os.unlink(os.path.join(ctl.REDIS_DIR, "nodes-%d.conf" % port))
        except OSError:
            pass
        subprocess.run(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", ctl.REDIS_DIR,
             "--dbfilename", "dump-%d.rdb" % port,
             "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes-%d.conf" % port,
             "--cluster-node-timeout", "2000",
             "--daemonize", "yes", "--pidfile", pidfile(port),
             "--logfile", os.path.join(ctl.REDIS_DIR, "redis-%d.log" % port)],
            check=True)
        wait_up(port)
    subprocess.run(["redis-cli", "--cluster", "create"]
                   + ["127.0.0.1:%d" % p for p in CLUSTER_PORTS]
                   + ["--cluster-replicas", "0", "--cluster-yes"],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    deadline = time.time() + 30
    while time.time() < deadline:
        if all("cluster_state:ok" in ctl.redis("CLUSTER", "INFO", port=p)
               for p in CLUSTER_PORTS):
            return "cluster started"
        time.sleep(0.1)
    raise RuntimeError("the cluster did not settle")


def slot():
    return ctl.redis("CLUSTER", "KEYSLOT", TAG, port=CLUSTER_PORTS[0])


def owner():
    s = slot()
    for port in CLUSTER_PORTS:
        for r in ctl.redis("CLUSTER", "SLOTS", port=port):
            if r[0] <= s <= r[1]:
                return r[2][1]
    raise RuntimeError("no owner of slot %d" % s)


def node_id(port):
    return ctl.redis("CLUSTER", "MYID", port=port)


def migrate(step, key=None):
    """Moves the slot of the hash tag from its owner to the next node:
    step "begin" marks it migrating/importing, "key" moves one key, "all"
    moves the keys left, "end" gives the slot to the target everywhere."""
    s = slot()
    src = owner()
    dst = CLUSTER_PORTS[(CLUSTER_PORTS.index(src) + 1) % len(CLUSTER_PORTS)]
    if step in ("begin", "whole"):
        ctl.redis("CLUSTER", "SETSLOT", str(s), "IMPORTING", node_id(src),
                  port=dst)
        ctl.redis("CLUSTER", "SETSLOT", str(s), "MIGRATING", node_id(dst),
                  port=src)
    if step == "key":
        ctl.redis("MIGRATE", "127.0.0.1", str(dst), key, "0", "5000",
                  port=src)
    if step in ("all", "whole"):
        while True:
            keys = ctl.redis("CLUSTER", "GETKEYSINSLOT", str(s), "100",
                             port=src)
            if not keys:
                break
            ctl.redis("MIGRATE", "127.0.0.1", str(dst), "", "0", "5000",
                      "KEYS", *keys, port=src)
    if step in ("end", "whole"):
        for port in (dst, src) + tuple(p for p in CLUSTER_PORTS
                                       if p not in (src, dst)):
            ctl.redis("CLUSTER", "SETSLOT", str(s), "NODE", node_id(dst),
                      port=port)
    return "slot %d of %d to %d" % (s, src, dst)


def revoke(key, digest, prefix, port=None):
    """Revokes the key (active 0, and its event) on the slot's owner, and
    times until nginx refuses it."""
    port = port or owner()
    ctl.redis("HSET", prefix + "key:" + digest, "active", "0", port=port)
    t0 = time.time()
    ctl.redis("PUBLISH", prefix + "events", digest, port=port)
    while time.time() < t0 + 10:
        if nginx_status(key) == 401:
            return "refused after %d ms" % ((time.time() - t0) * 1000)
        time.sleep(0.005)
    return "not refused"


def ask_revoke(key, digest, prefix):
    """A key revoked and moved while its slot is being migrated: the
    event's lookup on the old owner gets ASK.  Then the migration ends."""
    migrate("begin")
    src = owner()
    ctl.redis("HSET", prefix + "key:" + digest, "active", "0", port=src)
    migrate("key", prefix + "key:" + digest)
    ctl.redis("PUBLISH", prefix + "events", digest, port=src)
    time.sleep(0.5)
    during = nginx_status(key)
    migrate("all")
    migrate("end")
    t0 = time.time()
    while time.time() < t0 + 10:
        if nginx_status(key) == 401:
            return ("during the migration %d; refused %d ms after its end"
                    % (during, (time.time() - t0) * 1000))
        time.sleep(0.005)
    return "during the migration %d; not refused" % during


def apikeyctl(args):
    """apikeyctl with exactly these arguments; for "create", the key it
    printed is then sent to nginx: "exit=0 200" when it passes."""
    binary = os.environ.get("TEST_NGINX_APIKEYCTL", "build/apikeyctl")
    p = subprocess.run([binary] + args, capture_output=True, text=True,
                       timeout=20)
    out = "exit=%d" % p.returncode
    if p.returncode == 0 and "create" in args:
        key = p.stdout.strip().splitlines()[-1]
        for _ in range(200):
            status = nginx_status(key)
            if status == 200:
                break
            time.sleep(0.01)
        out += " %d" % status
    elif p.returncode:
        out += " " + p.stderr.strip().replace("\n", " ")
    return out


DNS_REDIS_PORT = P + 18
DNS_PORT = P + 19
DNS_IPS = ("127.0.0.2", "127.0.0.3")


class Dns:
    """Answers every A question with self.ip, every other with nothing."""

    def __init__(self):
        self.ip = DNS_IPS[0]
        self.sock = None

    def start(self):
        import socket
        if self.sock:
            return
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", DNS_PORT))
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import struct
        while True:
            q, addr = self.sock.recvfrom(512)
            i = 12
            while q[i]:
                i += q[i] + 1
            qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
            question = q[12:i + 5]
            answer = b""
            if qtype == 1:
                answer = (b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 1, 4)
                          + bytes(int(x) for x in self.ip.split(".")))
            head = q[:2] + struct.pack(">HHHHH", 0x8180, 1,
                                       1 if answer else 0, 0, 0)
            self.sock.sendto(head + question + answer, addr)


DNS = Dns()


def dns_start(digest, prefix):
    """Both Redis, the key active on the first and inactive on the
    second, and the DNS server pointing at the first."""
    DNS.ip = DNS_IPS[0]
    DNS.start()
    for ip in DNS_IPS:
        try:
            ctl.redis("SHUTDOWN", "NOSAVE", port=DNS_REDIS_PORT, host=ip)
        except (OSError, ConnectionError):
            pass
        name = "redis-%d-%s" % (DNS_REDIS_PORT, ip)
        subprocess.run(
            ["redis-server", "--port", str(DNS_REDIS_PORT), "--bind", ip,
             "--save", "", "--appendonly", "no", "--dir", ctl.REDIS_DIR,
             "--daemonize", "yes",
             "--pidfile", os.path.join(ctl.REDIS_DIR, name + ".pid"),
             "--logfile", os.path.join(ctl.REDIS_DIR, name + ".log")],
            check=True)
        for _ in range(300):
            try:
                ctl.redis("PING", port=DNS_REDIS_PORT, host=ip)
                break
            except OSError:
                time.sleep(0.01)
        ctl.redis("HSET", prefix + "key:" + digest, "id", "k-dns",
                  "access", "full", "active",
                  "1" if ip == DNS_IPS[0] else "0",
                  port=DNS_REDIS_PORT, host=ip)
    return "dns started"


def dns_switch():
    """The name now points at the second Redis; the first goes away."""
    DNS.ip = DNS_IPS[1]
    try:
        ctl.redis("SHUTDOWN", "NOSAVE", port=DNS_REDIS_PORT, host=DNS_IPS[0])
    except (OSError, ConnectionError):
        pass
    return "switched"


def wait_status(key, want):
    t0 = time.time()
    while time.time() < t0 + 10:
        status = nginx_status(key)
        if status == want:
            return "%d after %d ms" % (want, (time.time() - t0) * 1000)
        time.sleep(0.01)
    return "still %d" % status


def act(action, q):
    if action == "tx-dns-start":
        return dns_start(q["digest"][0], q.get("prefix", ["apikey:"])[0])
    if action == "tx-dns-switch":
        return dns_switch()
    if action == "tx-wait-status":
        return wait_status(q["key"][0], int(q["want"][0]))
    if action == "tx-apikeyctl":
        return apikeyctl(q["a"])
    if action == "tx-cluster-start":
        return cluster_start()
    if action == "tx-cluster-owner":
        return str(owner())
    if action == "tx-cluster-redis":
        # a command on the node that serves the schema's slot now
        r = ctl.redis(*q["a"], port=owner())
        return r if isinstance(r, str) else json.dumps(r)
    if action == "tx-cluster-migrate":
        return migrate(q.get("step", ["whole"])[0])
    if action == "tx-cluster-revoke":
        return revoke(q["key"][0], q["digest"][0],
                      q.get("prefix", ["{apikey}:"])[0])
    if action == "tx-cluster-ask-revoke":
        return ask_revoke(q["key"][0], q["digest"][0],
                          q.get("prefix", ["{apikey}:"])[0])
    if action == "tx-sentinel-start":
        return sentinel_start()
    if action == "tx-sentinel-failover":
        return failover(q["key"][0], q["digest"][0],
                        q.get("prefix", ["apikey:"])[0])
    if action == "tx-master-port":
        return str(master_port())
    if action == "tx-tls-start":
        return tls_start()
    if action == "tx-redis":
        r = ctl.redis(*q["a"], port=int(q["port"][0]))
        return r if isinstance(r, str) else ctl.json.dumps(r)
    return "unknown action " + action
