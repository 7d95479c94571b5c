# Copyright (C) The ngx_http_apikey_module authors
#
# The package against a live nginx with the module and a private Redis
# (t/clients/env.sh sets the environment): keys it creates are accepted,
# revoked, rotated and deleted ones refused as the module decides, and its
# records are those apikeyctl writes, byte for byte.

import http.client
import os
import subprocess
import time
import unittest

import redis

import apikey_issuer
from apikey_issuer import Issuer, UnknownId, schema

REDIS_PORT = int(os.environ.get("APIKEY_TEST_REDIS_PORT", "16480"))
NGINX_PORT = int(os.environ.get("APIKEY_TEST_NGINX_PORT", "1985"))
SECRET_FILE = os.environ.get("APIKEY_TEST_SECRET")
APIKEYCTL = os.environ.get("APIKEYCTL")


def request(key, method="GET", path="/api/x"):
    c = http.client.HTTPConnection("127.0.0.1", NGINX_PORT, timeout=10)
    c.request(method, path, headers={"X-Secret-Key": key})
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    c.close()
    return r.status, body


def status_becomes(key, want, method="GET", path="/api/x", timeout=5.0):
    """Polls: the module applies a published change within 100 ms on a
    healthy connection, but the machine may be loaded."""
    end = time.time() + timeout
    while True:
        st = request(key, method, path)[0]
        if st == want or time.time() > end:
            return st
        time.sleep(0.05)


def ctl(*args):
    return subprocess.run([APIKEYCTL, "--redis", "127.0.0.1:%d" % REDIS_PORT,
                           "--hash-secret", SECRET_FILE] + list(args),
                          capture_output=True, text=True, timeout=20)


class TestIssuer(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.r = redis.Redis(port=REDIS_PORT)
        cls.secret = Issuer.read_secret(SECRET_FILE)
        cls.iss = Issuer(cls.r, hash_secret=cls.secret)

    def hgetall(self, d):
        # the fields in the order Redis keeps them, as raw bytes (redis-py
        # makes a dict of the reply, which keeps that order)
        h = self.r.hgetall("apikey:key:" + d)
        return [x for fv in h.items() for x in fv]

    def test_create_is_accepted_and_revoke_refuses(self):
        k = self.iss.create(owner="acme", name="py key")
        self.assertTrue(k.key.startswith("taapit_"))
        self.assertTrue(apikey_issuer.checksum_valid(k.key))
        self.assertEqual(status_becomes(k.key, 200), 200)
        self.assertEqual(self.r.get("apikey:id:" + k.id).decode(), k.digest)
        self.assertEqual(self.iss.revoke(k.id), k.digest)
        self.assertEqual(status_becomes(k.key, 401), 401)

    def test_digest_is_apikeyctls(self):
        k = self.iss.create()
        out = subprocess.run([APIKEYCTL, "--hash-secret", SECRET_FILE,
                              "hash"], input=k.key + "\n",
                             capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), k.digest)

    def test_record_is_apikeyctls_byte_for_byte(self):
        opts = dict(owner="ac me", name="caf\u00e9", access="limited",
                    grants=["users:r", "orders:w", "users:w"],
                    expires=1900000000, limit=5000,
                    ips=["10.0.0.0/8", "2001:db8::/32"])
        k = self.iss.create(id="py-same", **opts)
        p = ctl("create", "--id", "ctl-same", "--owner", "ac me",
                "--name", "caf\u00e9", "--access", "limited",
                "--grant", "users:r", "--grant", "orders:w",
                "--grant", "users:w", "--expires", "1900000000",
                "--limit", "5000", "--ip", "10.0.0.0/8",
                "--ip", "2001:db8::/32")
        self.assertEqual(p.returncode, 0, p.stderr)
        d = self.r.get("apikey:id:ctl-same").decode()
        mine = self.hgetall(k.digest)
        theirs = self.hgetall(d)
        self.assertEqual(mine[:2], [b"id", b"py-same"])
        self.assertEqual(mine[2:], theirs[2:])
        self.assertIn(b"users:rw orders:w", mine)

        # rotated alike: copy, the new expiry, rotated_from last
        n1 = self.iss.rotate("py-same", grace=3600, expires=2000000000)
        p = ctl("rotate", "ctl-same", "--grace", "3600",
                "--expires", "2000000000")
        self.assertEqual(p.returncode, 0, p.stderr)
        n2 = self.hgetall(schema.digest(p.stdout.strip(), self.secret))
        m1 = self.hgetall(n1.digest)
        self.assertEqual(m1[2:-1], n2[2:-1])
        self.assertEqual(m1[-2:], [b"rotated_from", b"py-same"])

        # and the old records alike: the same fields in the same order,
        # the end of the grace and the time of each rotation
        o1 = self.hgetall(k.digest)
        o2 = self.hgetall(d)
        self.assertEqual(o1[0::2], o2[0::2])
        self.assertEqual(o1[-2], b"deprecated")
        f1, f2 = dict(zip(o1[0::2], o1[1::2])), dict(zip(o2[0::2], o2[1::2]))
        for f in f1:
            if f not in (b"id", b"expires", b"deprecated"):
                self.assertEqual(f1[f], f2[f], f)
        for f in (f1, f2):
            self.assertEqual(int(f[b"expires"]), int(f[b"deprecated"]) + 3600)
        self.assertLessEqual(abs(int(f1[b"deprecated"])
                                 - int(f2[b"deprecated"])), 5)

    def test_limit_windows_are_apikeyctls_and_decide(self):
        for given, written in (("1000/h  20/s", b"20/s 1000/h"),
                               (["5/d", "7/m"], b"7/m 5/d"),
                               ("0005/h", b"5"), ("9", b"9")):
            k = self.iss.create(limit=given)
            text = given if isinstance(given, str) else " ".join(given)
            p = ctl("create", "--limit", text)
            self.assertEqual(p.returncode, 0, p.stderr)
            d = schema.digest(p.stdout.strip(), self.secret)
            self.assertEqual(self.r.hget("apikey:key:" + k.digest, "limit"),
                             written)
            self.assertEqual(self.r.hget("apikey:key:" + d, "limit"),
                             written)
        two = self.iss.create(limit="2/s 100/h")
        self.assertEqual(status_becomes(two.key, 200), 200)
        codes = [request(two.key)[0] for _ in range(3)]
        self.assertIn(429, codes)

    def test_limited_grants_decide(self):
        k = self.iss.create(access="limited", grants=["orders:rw"])
        r = self.iss.create(access="limited", grants=["orders:r"])
        self.assertEqual(status_becomes(k.key, 200, "POST", "/orders/1"),
                         200)
        self.assertEqual(status_becomes(r.key, 200, "GET", "/orders/1"), 200)
        self.assertEqual(request(r.key, "POST", "/orders/1")[0], 403)

    def test_inactive_expired_ip_limit(self):
        off = self.iss.create(active=False)
        old = self.iss.create(expires=1000000000)
        far = self.iss.create(ips=["192.0.2.0/24"])
        one = self.iss.create(limit=1)
        ok = self.iss.create()
        self.assertEqual(status_becomes(ok.key, 200), 200)
        self.assertEqual(request(off.key)[0], 401)
        self.assertEqual(request(old.key), (401,
                         '{"detail":"API key expired"}'))
        self.assertEqual(request(far.key)[0], 403)
        self.assertEqual(request(one.key)[0], 200)
        self.assertEqual(request(one.key)[0], 429)

    def test_rotate_keeps_old_for_grace(self):
        k = self.iss.create(owner="rot")
        self.assertEqual(status_becomes(k.key, 200), 200)
        t0 = int(time.time())
        n = self.iss.rotate(k.id, grace=3600)
        t1 = int(time.time())
        old = "apikey:key:" + k.digest
        dep = int(self.r.hget(old, "deprecated"))
        self.assertTrue(t0 <= dep <= t1, (t0, dep, t1))
        self.assertEqual(int(self.r.hget(old, "expires")), dep + 3600)
        self.assertIsNone(self.r.hget("apikey:key:" + n.digest,
                                      "deprecated"))
        # a second rotation keeps the first deprecation, and its new key
        # is not deprecated
        self.r.hset(old, "deprecated", str(dep - 100))
        n2 = self.iss.rotate(k.id, grace=3600)
        self.assertEqual(int(self.r.hget(old, "deprecated")), dep - 100)
        self.assertIsNone(self.r.hget("apikey:key:" + n2.digest,
                                      "deprecated"))
        self.assertNotEqual(n.id, k.id)
        self.assertEqual(status_becomes(n.key, 200), 200)
        self.assertEqual(request(k.key)[0], 200)
        self.assertEqual(self.r.hget("apikey:key:" + n.digest,
                                     "rotated_from").decode(), k.id)
        m = self.iss.rotate(n.id, grace=0)
        self.assertEqual(status_becomes(m.key, 200), 200)
        self.assertEqual(status_becomes(n.key, 401), 401)

    def test_delete_refuses(self):
        k = self.iss.create()
        self.assertEqual(status_becomes(k.key, 200), 200)
        self.assertEqual(self.iss.delete(k.id), k.digest)
        self.assertEqual(status_becomes(k.key, 401), 401)
        self.assertFalse(self.r.exists("apikey:id:" + k.id))
        with self.assertRaises(UnknownId):
            self.iss.delete(k.id)

    def test_unknown_ids(self):
        for f in (self.iss.revoke, self.iss.rotate, self.iss.delete):
            with self.assertRaises(UnknownId):
                f("no-such-id")

    def test_existing_id_is_refused(self):
        self.iss.create(id="py-dup")
        with self.assertRaises(ValueError):
            self.iss.create(id="py-dup")

    def test_bad_values_are_refused_before_writing(self):
        before = self.r.dbsize()
        bad = [dict(key_prefix="k" * 219), dict(key_prefix="tk:"),
               dict(id="a b"), dict(owner="a\nb"), dict(name="n" * 256),
               dict(access="admin"), dict(grants=["users:r"]),
               dict(access="limited", grants=["users:x"]),
               dict(access="limited", grants=["a b:r"]),
               dict(access="limited", grants=[":r"]),
               dict(expires=2 ** 32), dict(expires=-1),
               dict(limit=4294967281), dict(limit="lots"),
               dict(limit="5/s 6/s"), dict(limit="1000001/s"),
               dict(limit="5/w"), dict(limit=""), dict(limit="5/s,6/h"),
               dict(limit="10 5/h"), dict(limit="unlimited 5/s"),
               dict(ips=["10.0.0.1/8"]), dict(ips=["010.0.0.0/8"]),
               dict(ips=["10.0.0.0/33"]), dict(ips=["::1/129"]),
               dict(ips=["10.0.0.0/8"] * 65), dict(ips=["foo"])]
        for b in bad:
            with self.assertRaises(ValueError, msg=repr(b)):
                self.iss.create(**b)
        self.assertEqual(self.r.dbsize(), before)

    def test_longest_key_prefix_is_the_modules(self):
        k = self.iss.create(key_prefix="taapit_" + "x" * 211)
        self.assertEqual(len(k.key), 256)
        self.assertEqual(status_becomes(k.key, 200), 200)

    def test_change_log_and_epoch(self):
        k = self.iss.create()
        epoch = self.r.get("apikey:epoch")
        self.assertRegex(epoch.decode(), "^[0-9a-f]{32}$")
        self.iss.revoke(k.id)
        n = self.iss.rotate(k.id, grace=60)
        self.iss.delete(n.id)
        tail = self.r.xrange("apikey:changes")[-5:]
        self.assertEqual([f for _, f in tail],
                         [{b"d": x.encode()} for x in
                          (k.digest, k.digest, n.digest, k.digest,
                           n.digest)])
        self.assertEqual(self.r.get("apikey:epoch"), epoch)

    def test_other_prefix_and_no_secret(self):
        other = Issuer(self.r, prefix="other:", key_prefix="sk_")
        k = other.create(id="o1")
        self.assertEqual(self.r.get("other:id:o1").decode(), k.digest)
        self.assertEqual(k.digest, apikey_issuer.digest(k.key))
        self.assertEqual(request(k.key)[0], 401)
        other.delete("o1")


if __name__ == "__main__":
    unittest.main()
