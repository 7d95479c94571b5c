"""Redis servers for the transport tests (t/014-tls.t): Redis behind TLS,
with a CA made here with openssl.  Reached through the control server
(t/ctl/ctl.py) as actions named "tx-...".

Ports follow TEST_NGINX_REDIS_PORT (P), so that suites run side by side
on other ports do not meet:
    P+4  TLS, client certificates optional    (plaintext P+5 for the tests)
    P+6  TLS, client certificates required    (plaintext P+7)
Every server writes redis-<port>.pid in TEST_REDIS_DIR, where
scripts/test.sh finds and stops it.
"""

import os
import subprocess
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


def act(action, q):
    if action == "tx-tls-start":
        return tls_start()
    if action == "tx-redis":
        r = ctl.redis(*q["a"], port=int(q["port"][0]))
        return r if isinstance(r, str) else ctl.json.dumps(r)
    return "unknown action " + action
