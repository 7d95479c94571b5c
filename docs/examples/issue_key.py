#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
"""Issue, revoke and rotate API keys the way a key-issuing application does.

An example for docs/keys.md: python3 and its standard library only (Redis
is spoken through the tiny RESP client below), writing exactly the schema
that ngx_http_apikey_module reads and apikeyctl writes.

    issue_key.py [--redis host:port|unix:/path] [--prefix apikey:]
                 [--hash-secret FILE] [--db N] [--user U] [--password P]
                 COMMAND ...

    issue  [--id ID] [--owner O] [--name N] [--access full|read|limited]
           [--grant RES:r|w|rw ...] [--expires UNIX] [--limit L]
           [--ip CIDR ...] [--key-prefix taapit_]   prints the key once
    revoke ID
    rotate ID [--grace SECONDS]                     prints the new key once
    hash                                            stdin key -> digest

The three rules: show the key once, store only its digest, publish the
digest on S events after every write.  Each write also appends the digest
to the change log S changes and names the dataset (S epoch, SET NX), in
the same transaction (docs/replication.md).
"""

import argparse
import hashlib
import ipaddress
import os
import secrets
import socket
import sys
import time
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# --- the key and its digest -------------------------------------------------

def checksum(body):
    """CRC-32 (zlib) of body, in base62, most significant digit first,
    left-padded with '0' to 6 characters."""
    crc = zlib.crc32(body.encode())
    out = ""
    for _ in range(6):
        crc, d = divmod(crc, 62)
        out = ALPHABET[d] + out
    return out


def make_key(prefix="taapit_"):
    """The prefix, 32 base62 characters from the OS CSPRNG, the checksum."""
    body = prefix + "".join(secrets.choice(ALPHABET) for _ in range(32))
    return body + checksum(body)


def new_id():
    return "k_" + "".join(secrets.choice(ALPHABET) for _ in range(12))


def digest(key, secret=None):
    """BLAKE2b-256 of the key, keyed with the hash secret if any: the same
    bytes as libsodium's crypto_generichash(out, 32, key, len, secret)."""
    return hashlib.blake2b(key.encode(), digest_size=32,
                           key=secret or b"").hexdigest()


def read_secret(path):
    """As apikey_hash_secret: the file's bytes, one trailing newline
    dropped, 32 to 64 bytes."""
    with open(path, "rb") as f:
        data = f.read(66)
    if data.endswith(b"\n"):
        data = data[:-1]
    if not 32 <= len(data) <= 64:
        sys.exit("issue_key: --hash-secret must hold 32 to 64 bytes")
    return data


# --- a tiny Redis client ----------------------------------------------------

class RedisError(Exception):
    pass


class Redis:
    def __init__(self, address, timeout=2.0):
        if address.startswith("unix:"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(address[5:])
        else:
            host, _, port = address.rpartition(":")
            self.sock = socket.create_connection(
                (host.strip("[]") or "127.0.0.1", int(port)), timeout)
        self.sock.settimeout(5.0)
        self.rfile = self.sock.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        reply = self._read()
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def _read(self):
        line = self.rfile.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.rfile.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ConnectionError("bad reply from Redis")


# entries the change log keeps, about (XADD MAXLEN ~)
CHANGES_MAXLEN = "100000"


def change_log(commands):
    """The change log's commands for the digests the commands publish:
    XADD S changes ... d <digest> each, and SET S epoch <random> NX."""
    log = []
    for c in commands:
        if c[0] == "PUBLISH" and c[1].endswith("events"):
            prefix = c[1][:-len("events")]
            log.append(["XADD", prefix + "changes", "MAXLEN", "~",
                        CHANGES_MAXLEN, "*", "d", c[2]])
    if log:
        log.append(["SET", prefix + "epoch", secrets.token_hex(16), "NX"])
    return log


def transaction(r, commands):
    """MULTI, commands (and their change log entries), EXEC: False when a
    WATCHed key changed."""
    r.call("MULTI")
    for c in commands + change_log(commands):
        r.call(*c)
    replies = r.call("EXEC")
    if replies is None:
        return False
    for reply in replies:
        if isinstance(reply, RedisError):
            raise reply
    return True


# --- the three writes -------------------------------------------------------

def issue(r, a, secret):
    fields = {"owner": a.owner, "name": a.name, "access": a.access}
    if a.grant:
        fields["grants"] = " ".join(a.grant)
    if a.expires:
        fields["expires"] = str(a.expires)
    fields["active"] = "1"
    if a.limit is not None:
        fields["limit"] = a.limit
    if a.ip:
        fields["ips"] = " ".join(a.ip)

    for _ in range(8):
        key = make_key(a.key_prefix)
        d = digest(key, secret)
        kid = a.id or new_id()
        r.call("WATCH", a.prefix + "id:" + kid, a.prefix + "key:" + d)
        if r.call("EXISTS", a.prefix + "id:" + kid, a.prefix + "key:" + d):
            r.call("UNWATCH")
            if a.id:
                sys.exit("issue_key: id %s already exists" % kid)
            continue
        record = ["id", kid]
        for f, v in fields.items():
            if v is not None:
                record += [f, v]
        if transaction(r, [
                ["HSET", a.prefix + "key:" + d] + record,
                ["SET", a.prefix + "id:" + kid, d],
                ["PUBLISH", a.prefix + "events", d]]):
            print(key)                      # the only time it is shown
            print("issued id %s" % kid, file=sys.stderr)
            return
    sys.exit("issue_key: the keys kept changing")


def lookup(r, a, kid):
    """WATCHes and returns the digest of an id, or exits with 2."""
    r.call("WATCH", a.prefix + "id:" + kid)
    d = r.call("GET", a.prefix + "id:" + kid)
    if d is None:
        r.call("UNWATCH")
        print("issue_key: unknown id %s" % kid, file=sys.stderr)
        sys.exit(2)
    r.call("WATCH", a.prefix + "key:" + d)
    if r.call("HGET", a.prefix + "key:" + d, "id") != kid:
        r.call("UNWATCH")
        print("issue_key: unknown id %s" % kid, file=sys.stderr)
        sys.exit(2)
    return d


def revoke(r, a, secret):
    for _ in range(8):
        d = lookup(r, a, a.id)
        if transaction(r, [["HSET", a.prefix + "key:" + d, "active", "0"],
                           ["PUBLISH", a.prefix + "events", d]]):
            print("revoked %s" % a.id)
            return
    sys.exit("issue_key: the keys kept changing")


def rotate(r, a, secret):
    for _ in range(8):
        d = lookup(r, a, a.id)
        old = r.call("HGETALL", a.prefix + "key:" + d)
        record = dict(zip(old[0::2], old[1::2]))

        # the old key lives on for the grace period, or less if it had less
        now = int(time.time())
        until = now + a.grace
        expires = int(record.get("expires") or 0)
        if 0 < expires < until:
            until = expires
        # and says since when it is deprecated: now, or its first rotation
        since = now
        deprecated = record.pop("deprecated", "")
        if deprecated.isascii() and deprecated.isdigit() \
                and 0 < int(deprecated) < since:
            since = int(deprecated)

        key = make_key(a.key_prefix)
        nd = digest(key, secret)
        kid = new_id()
        record["id"] = kid
        record["rotated_from"] = a.id
        fields = ["id", kid] + [x for f, v in record.items() if f != "id"
                                for x in (f, v)]
        if transaction(r, [
                ["HSET", a.prefix + "key:" + nd] + fields,
                ["SET", a.prefix + "id:" + kid, nd],
                ["HSET", a.prefix + "key:" + d, "expires", str(until),
                 "deprecated", str(since)],
                ["PUBLISH", a.prefix + "events", nd],
                ["PUBLISH", a.prefix + "events", d]]):
            print(key)                      # the only time it is shown
            print("rotated %s to %s; the old key expires at %d"
                  % (a.id, kid, until), file=sys.stderr)
            return
    sys.exit("issue_key: the keys kept changing")


def hash_stdin(a, secret):
    key = sys.stdin.read()
    if key.endswith("\n"):
        key = key[:-2] if key.endswith("\r\n") else key[:-1]
    if not key or "\n" in key:
        sys.exit("issue_key: give one key on stdin")
    print(digest(key, secret))


# --- command line -----------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):             # exit 1 on bad flags, as apikeyctl
        self.print_usage(sys.stderr)
        sys.exit("issue_key: " + message)


def limit(value):
    """unlimited, or terms such as "20/s 1000/h" (a bare N per hour), at
    most one per unit; written as apikeyctl writes it: the terms in the
    order s, m, h, d, and an hourly limit alone as a bare number"""
    if value == "unlimited":
        return value
    terms = {}
    for t in value.split(" "):
        n, _, unit = t.partition("/")
        unit = unit or "h"
        if t and (not (n.isdigit() and n.isascii() and len(n) <= 10)
                  or unit not in ("s", "m", "h", "d") or unit in terms
                  or int(n) > (1000000 if unit == "s" else 4294967280)):
            raise argparse.ArgumentTypeError(
                "use unlimited or terms such as \"20/s 1000/h\"")
        if t:
            terms[unit] = int(n)
    if not terms:
        raise argparse.ArgumentTypeError("use unlimited or terms")
    if list(terms) == ["h"]:
        return str(terms["h"])
    return " ".join("%d/%s" % (terms[u], u) for u in "smhd" if u in terms)


def grant(value):
    res, _, perm = value.rpartition(":")
    if not res or " " in res or ":" in res or perm not in ("r", "w", "rw"):
        raise argparse.ArgumentTypeError("use resource:r, :w or :rw")
    return value


def cidr(value):
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return value


def main():
    p = Parser(description=__doc__.split("\n")[0])
    p.add_argument("--redis", default="127.0.0.1:6379")
    p.add_argument("--prefix", default="apikey:")
    p.add_argument("--hash-secret")
    p.add_argument("--db", type=int, default=0)
    p.add_argument("--user")
    p.add_argument("--password", default=os.environ.get("APIKEYCTL_PASSWORD"))
    p.add_argument("--key-prefix", default="taapit_")
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("issue")
    i.add_argument("--id")
    i.add_argument("--owner")
    i.add_argument("--name")
    i.add_argument("--access", default="full",
                   choices=["full", "read", "limited"])
    i.add_argument("--grant", action="append", type=grant)
    i.add_argument("--expires", type=int, help="unix seconds")
    i.add_argument("--limit", type=limit)
    i.add_argument("--ip", action="append", type=cidr)

    sub.add_parser("revoke").add_argument("id")
    ro = sub.add_parser("rotate")
    ro.add_argument("id")
    ro.add_argument("--grace", type=int, default=86400, help="seconds")
    sub.add_parser("hash")

    a = p.parse_args()
    secret = read_secret(a.hash_secret) if a.hash_secret else None

    if a.command == "hash":
        return hash_stdin(a, secret)

    if a.command == "issue" and a.grant and a.access != "limited":
        p.error("--grant needs --access limited")

    try:
        r = Redis(a.redis)
        if a.password is not None:
            r.call(*(["AUTH"] + ([a.user] if a.user else []) + [a.password]))
        if a.db:
            r.call("SELECT", a.db)
        {"issue": issue, "revoke": revoke, "rotate": rotate}[a.command](
            r, a, secret)
    except (OSError, RedisError) as e:
        print("issue_key: Redis at %s: %s" % (a.redis, e), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
