# Copyright (C) The ngx_http_apikey_module authors

"""Writes the module's Redis schema (docs/keys.md) exactly as apikeyctl
does: each change is one MULTI/EXEC, guarded by WATCH, that writes the
record and its id string, publishes the digest on <prefix>events and
appends it to the change log, the stream <prefix>changes ("d <digest>",
trimmed to about CHANGES_MAXLEN entries), naming the dataset with
SET <prefix>epoch <random> NX if no writer did yet."""

import collections
import secrets
import time

import redis

from . import schema

ATTEMPTS = 8
CHANGES_MAXLEN = "100000"

Issued = collections.namedtuple("Issued", "id key digest")
Issued.__doc__ = """A new key: show .key to its user once; keep .id."""


class UnknownId(LookupError):
    """No record has this id."""


class Conflict(RuntimeError):
    """The names kept changing under the write; nothing was written."""


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def _b(v):
    return v.encode() if isinstance(v, str) else v


class Issuer:
    """Creates, revokes, rotates and deletes keys through a redis-py
    client (any redis.Redis; decode_responses may be on or off).

    prefix: the Redis prefix of apikey_redis ... prefix= (default
    "apikey:"); hash_secret: the bytes of apikey_hash_secret, or None;
    key_prefix: the start of every key made (apikey_prefix)."""

    def __init__(self, client, prefix="apikey:", hash_secret=None,
                 key_prefix="taapit_"):
        schema.check_prefix(prefix)
        schema.check_secret(hash_secret)
        schema.check_key_prefix(key_prefix)
        self.r = client
        self.prefix = prefix
        self.secret = hash_secret
        self.key_prefix = key_prefix

    read_secret = staticmethod(schema.read_secret)

    def _name(self, kind, part=""):
        return self.prefix + kind + part

    def digest(self, key):
        return schema.digest(key, self.secret)

    def _exec(self, p, cmds):
        """MULTI, the commands, then for each PUBLISH its change log entry,
        and the epoch if there is none; EXEC (WatchError: retry)."""
        p.multi()
        for c in cmds:
            p.execute_command(*c)
        log = [["XADD", self._name("changes"), "MAXLEN", "~", CHANGES_MAXLEN,
                "*", "d", c[2]] for c in cmds if c[0] == "PUBLISH"]
        for c in log:
            p.execute_command(*c)
        if log:
            p.execute_command("SET", self._name("epoch"),
                              secrets.token_hex(16), "NX")
        p.execute()

    # --- create -------------------------------------------------------------

    def create(self, id=None, owner=None, name=None, access="full",
               grants=None, expires=None, limit=None, ips=None,
               active=True, key_prefix=None):
        """A new key and its record; returns Issued(id, key, digest).
        expires: unix seconds (None or 0: never); limit: requests per hour,
        "unlimited", or terms such as "20/s 1000/h" (None: the location's
        default); ips: CIDRs."""
        key_prefix = self.key_prefix if key_prefix is None else key_prefix
        schema.check_key_prefix(key_prefix)
        if id is not None:
            schema.check_id(id, new=True)
        if owner is not None:
            schema.check_text("owner", owner)
        if name is not None:
            schema.check_text("name", name)
        schema.check_access(access)
        if grants and access != "limited":
            raise ValueError("grants need access \"limited\"")
        if expires is not None:
            schema.check_expires(expires)

        # the fields in apikeyctl's order, so that the hashes are alike
        fields = []
        if owner is not None:
            fields += ["owner", owner]
        if name is not None:
            fields += ["name", name]
        fields += ["access", access]
        if grants:
            fields += ["grants", schema.grants_text(grants)]
        if expires:
            fields += ["expires", str(expires)]
        fields += ["active", "1" if active else "0"]
        if limit is not None:
            fields += ["limit", schema.limit_text(limit)]
        if ips:
            fields += ["ips", schema.ips_text(ips)]

        events = self._name("events")

        for _ in range(ATTEMPTS):
            kid = id or schema.new_id()
            key = schema.make_key(key_prefix)
            d = self.digest(key)
            rname, iname = self._name("key:", d), self._name("id:", kid)

            with self.r.pipeline() as p:
                try:
                    p.watch(iname, rname)
                    if p.exists(iname):
                        p.unwatch()
                        if id is not None:
                            raise ValueError("id %r already exists" % id)
                        continue
                    if p.exists(rname):
                        p.unwatch()
                        continue
                    self._exec(p, [["HSET", rname, "id", kid] + fields,
                                   ["SET", iname, d],
                                   ["PUBLISH", events, d]])
                except redis.WatchError:
                    continue
            return Issued(kid, key, d)

        raise Conflict("the keys kept changing; nothing written")

    # --- find, revoke, delete -----------------------------------------------

    def _lookup(self, p, kid):
        """WATCHes the id string and the record; the digest, or "" when
        the id string points to no record of that id."""
        schema.check_id(kid)
        iname = self._name("id:", kid)
        p.watch(iname)
        d = _s(p.get(iname))
        if d is None:
            p.unwatch()
            raise UnknownId(kid)
        if len(d) != 64 or d.strip("0123456789abcdef"):
            return ""
        rname = self._name("key:", d)
        p.watch(rname)
        if _b(p.hget(rname, "id")) != _b(kid):
            return ""
        return d

    def revoke(self, kid):
        """active=0: the key is refused everywhere; returns its digest."""
        for _ in range(ATTEMPTS):
            with self.r.pipeline() as p:
                try:
                    d = self._lookup(p, kid)
                    if not d:
                        p.unwatch()
                        raise UnknownId(kid)
                    self._exec(p, [["HSET", self._name("key:", d),
                                    "active", "0"],
                                   ["PUBLISH", self._name("events"), d]])
                except redis.WatchError:
                    continue
            return d
        raise Conflict("the keys kept changing; nothing written")

    def delete(self, kid):
        """Removes the record and its id string; returns the digest ("" if
        the id string pointed to no record, and only it was removed)."""
        for _ in range(ATTEMPTS):
            with self.r.pipeline() as p:
                try:
                    d = self._lookup(p, kid)
                    cmds = [["DEL", self._name("id:", kid)]]
                    if d:
                        cmds = [["DEL", self._name("key:", d)], cmds[0],
                                ["PUBLISH", self._name("events"), d]]
                    self._exec(p, cmds)
                except redis.WatchError:
                    continue
            return d
        raise Conflict("the keys kept changing; nothing written")

    # --- rotate -------------------------------------------------------------

    def rotate(self, kid, grace=86400, expires=None, key_prefix=None):
        """A new key with the same record, a new id and rotated_from; the
        old key expires after grace seconds (or keeps its own expiry if
        sooner), and its deprecated field says when it was replaced (now,
        or its first rotation).  expires: the new key's, replacing the copied one (0:
        never).  Returns Issued(id, key, digest) of the new key."""
        key_prefix = self.key_prefix if key_prefix is None else key_prefix
        schema.check_key_prefix(key_prefix)
        if isinstance(grace, bool) or not isinstance(grace, int) \
                or grace < 0:
            raise ValueError("invalid grace %r: seconds" % grace)
        if expires is not None:
            schema.check_expires(expires)

        events = self._name("events")

        for _ in range(ATTEMPTS):
            with self.r.pipeline() as p:
                try:
                    d = self._lookup(p, kid)
                    if not d:
                        p.unwatch()
                        raise UnknownId(kid)
                    rname = self._name("key:", d)
                    old = p.execute_command("HGETALL", rname)
                    if isinstance(old, dict):
                        old = [x for fv in old.items() for x in fv]
                    if not old:
                        p.unwatch()
                        raise UnknownId(kid)
                    pairs = list(zip(old[0::2], old[1::2]))

                    now = int(time.time())
                    until = now + grace
                    since = now
                    for f, v in pairs:
                        v = _s(v)
                        if not (v.isascii() and v.isdigit() and len(v) <= 10):
                            continue
                        if _s(f) == "expires" and 0 < int(v) < until:
                            until = int(v)
                        if _s(f) == "deprecated" and 0 < int(v) < since:
                            since = int(v)

                    nid = schema.new_id()
                    key = schema.make_key(key_prefix)
                    nd = self.digest(key)
                    nrname = self._name("key:", nd)
                    niname = self._name("id:", nid)
                    p.watch(niname, nrname)
                    if p.exists(niname, nrname):
                        p.unwatch()
                        continue

                    fields = ["id", nid]
                    for f, v in pairs:
                        if _s(f) in ("id", "rotated_from", "deprecated") \
                                or (expires is not None
                                    and _s(f) == "expires"):
                            continue
                        fields += [f, v]
                    if expires:
                        fields += ["expires", str(expires)]
                    fields += ["rotated_from", kid]

                    self._exec(p, [["HSET", nrname] + fields,
                                   ["SET", niname, nd],
                                   ["HSET", rname, "expires", str(until),
                                    "deprecated", str(since)],
                                   ["PUBLISH", events, nd],
                                   ["PUBLISH", events, d]])
                except redis.WatchError:
                    continue
            return Issued(nid, key, nd)

        raise Conflict("the keys kept changing; nothing written")
