# Copyright (C) The ngx_http_apikey_module authors

"""The key format and the record's field rules of ngx_http_apikey_module
(docs/keys.md), as the module's schema library (src/ngx_apikey_format.c)
and apikeyctl apply them: a value refused here is one the module would
refuse, or one apikeyctl would not write."""

import hashlib
import re
import secrets
import socket
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

RANDOM_LEN = 32
CHECKSUM_LEN = 6
MAX_KEY_LEN = 256
MAX_KEY_PREFIX = MAX_KEY_LEN - RANDOM_LEN - CHECKSUM_LEN      # 218
MAX_PREFIX = 128
MAX_STR = 255
MAX_IPS = 64
MAX_GRANTS_LEN = 4096
MAX_EXPIRES = 4294967295
LIMIT_MAX = 4294967280
SECRET_MIN, SECRET_MAX = 32, 64

_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]*\Z")
_NEW_ID = re.compile(r"[A-Za-z0-9._~:@+-]+\Z")


# --- the key and its digest -------------------------------------------------

def checksum(body):
    """CRC-32 (zlib) of body, in base62, most significant digit first,
    left-padded with '0' to 6 characters."""
    if isinstance(body, str):
        body = body.encode()
    crc = zlib.crc32(body)
    out = ""
    for _ in range(CHECKSUM_LEN):
        crc, d = divmod(crc, 62)
        out = ALPHABET[d] + out
    return out


def checksum_valid(key):
    return len(key) > CHECKSUM_LEN and \
        checksum(key[:-CHECKSUM_LEN]) == key[-CHECKSUM_LEN:]


def random_base62(n):
    """n characters, each drawn uniformly from the OS CSPRNG."""
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def make_key(prefix="taapit_"):
    """The prefix, 32 random base62 characters, the checksum."""
    check_key_prefix(prefix)
    body = prefix + random_base62(RANDOM_LEN)
    return body + checksum(body)


def new_id():
    """apikeyctl's default id: "k_" and 12 random base62 characters."""
    return "k_" + random_base62(12)


def digest(key, secret=None):
    """Lowercase hex of BLAKE2b-256 of the key, keyed with the hash secret
    if any: libsodium's crypto_generichash(out, 32, key, len, secret)."""
    if isinstance(key, str):
        key = key.encode()
    return hashlib.blake2b(key, digest_size=32, key=secret or b"").hexdigest()


def read_secret(path):
    """As apikey_hash_secret: the file's bytes, one trailing newline
    dropped, 32 to 64 bytes."""
    with open(path, "rb") as f:
        data = f.read(SECRET_MAX + 2)
    if data.endswith(b"\n") and len(data) <= SECRET_MAX + 1:
        data = data[:-1]
    check_secret(data)
    return data


def check_secret(secret):
    if secret is not None and not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise ValueError("the hash secret must hold %d to %d bytes"
                         % (SECRET_MIN, SECRET_MAX))


# --- the rules --------------------------------------------------------------

def _bytes(s):
    return s.encode() if isinstance(s, str) else bytes(s)


def _printable(b):
    return not any(c < 0x20 or c == 0x7f for c in b)


def check_key_prefix(p):
    """"" (no prefix) or 1..218 token characters, as apikey_prefix."""
    if len(p) > MAX_KEY_PREFIX or not p.isascii() or not _TOKEN.match(p):
        raise ValueError("invalid key prefix %r: use up to %d letters, "
                         "digits and - . _ ~ + /" % (p, MAX_KEY_PREFIX))


def check_prefix(p):
    """The prefix of every Redis name, at most 128 bytes."""
    if len(_bytes(p)) > MAX_PREFIX:
        raise ValueError("the Redis prefix is longer than %d bytes"
                         % MAX_PREFIX)


def check_id(i, new=False):
    """1..255 bytes without control characters (any id the module
    loads); a new id also keeps to letters, digits and - . _ ~ : @ +."""
    b = _bytes(i)
    if not 1 <= len(b) <= MAX_STR or not _printable(b):
        raise ValueError("invalid id %r: 1..%d bytes without control "
                         "characters" % (i, MAX_STR))
    if new and not (i.isascii() and _NEW_ID.match(i)):
        raise ValueError("invalid id %r: use letters, digits and "
                         "- . _ ~ : @ +" % i)


def check_text(what, s):
    """owner, name: up to 255 bytes without control characters."""
    b = _bytes(s)
    if len(b) > MAX_STR or not _printable(b):
        raise ValueError("invalid %s: up to %d bytes without control "
                         "characters" % (what, MAX_STR))


def check_access(a):
    if a not in ("full", "read", "limited"):
        raise ValueError("invalid access %r: use full, read or limited" % a)


def check_expires(t):
    """unix seconds, 0 (never) to 4294967295 (2106-02-07T06:28:15Z)."""
    if isinstance(t, bool) or not isinstance(t, int) \
            or not 0 <= t <= MAX_EXPIRES:
        raise ValueError("invalid expires %r: unix seconds up to %d"
                         % (t, MAX_EXPIRES))


LIMIT_MAX_SECOND = 1000000
_UNITS = "smhd"
_TERM = re.compile(r"([0-9]{1,10})(?:/([smhd]))?\Z")


def limit_text(n):
    """The "limit" field, as the module and apikeyctl write it: a number
    of requests per hour (0..4294967280), "unlimited", or terms such as
    "20/s 1000/h" (a string, or a list of terms): N/s (N up to 1000000),
    N/m, N/h, N/d, at most one per unit, a bare N per hour.  Terms are
    written in the order s, m, h, d; an hourly limit alone as a bare
    number."""
    if n == "unlimited":
        return n
    if isinstance(n, (list, tuple)) and all(isinstance(t, str) for t in n):
        n = " ".join(n)
    if isinstance(n, str) and n.isascii():
        return _terms_text(n)
    if isinstance(n, bool) or not isinstance(n, int) \
            or not 0 <= n <= LIMIT_MAX:
        raise _bad_limit(n)
    return str(n)


def _bad_limit(n):
    return ValueError("invalid limit %r: a number of requests per hour "
                      "(0..%d), \"unlimited\", or terms such as \"20/s "
                      "1000/h\": N/s (N up to %d), N/m, N/h, N/d, at most "
                      "one per unit" % (n, LIMIT_MAX, LIMIT_MAX_SECOND))


def _terms_text(text):
    limits = {}
    for term in text.split(" "):
        if term == "":
            continue
        m = _TERM.match(term)
        if not m:
            raise _bad_limit(text)
        unit = m.group(2) or "h"
        value = int(m.group(1))
        if unit in limits \
                or value > (LIMIT_MAX_SECOND if unit == "s" else LIMIT_MAX):
            raise _bad_limit(text)
        limits[unit] = value
    if not limits:
        raise _bad_limit(text)
    if list(limits) == ["h"]:
        return str(limits["h"])
    return " ".join("%d/%s" % (limits[u], u) for u in _UNITS if u in limits)


def check_cidr(c):
    """An IPv4 or IPv6 address or CIDR as the module reads it (libc's
    inet_pton(), a /bits of 1 to 3 digits), without host bits set past
    the mask (the module would mask them; a writer refuses them)."""
    addr, slash, bits = c.partition("/")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    top = 128 if family == socket.AF_INET6 else 32
    try:
        raw = socket.inet_pton(family, addr)
    except (OSError, ValueError):
        raw = None
    ok = raw is not None and (
        not slash or (1 <= len(bits) <= 3 and bits.isascii()
                      and bits.isdigit() and int(bits) <= top))
    if not ok:
        raise ValueError("invalid CIDR %r: use an IPv4 or IPv6 address or "
                         "CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32" % c)
    n = int(bits) if slash else top
    if int.from_bytes(raw, "big") & ((1 << (top - n)) - 1):
        raise ValueError("invalid CIDR %r: the address has bits set beyond "
                         "the /mask" % c)


def ips_text(ips):
    ips = list(ips)
    if not 1 <= len(ips) <= MAX_IPS:
        raise ValueError("give 1 to %d CIDRs" % MAX_IPS)
    for c in ips:
        check_cidr(c)
    return " ".join(ips)


def grants_text(grants):
    """"resource:r", ":w" or ":rw" items (the resource is what precedes
    the last ':', 1..255 bytes without spaces or control characters),
    merged per resource as apikeyctl merges them, at most 4096 bytes once
    parsed by the module (2 bytes and the resource each)."""
    merged = {}
    for g in grants:
        res, colon, perm = g.rpartition(":")
        rb = _bytes(res)
        if not colon or not 1 <= len(rb) <= MAX_STR \
                or any(c <= 0x20 or c == 0x7f for c in rb) \
                or perm not in ("r", "w", "rw", "wr"):
            raise ValueError("invalid grant %r: use resource:r, resource:w "
                             "or resource:rw" % g)
        bits = {"r": 1, "w": 2}.get(perm, 3)
        merged[res] = merged.get(res, 0) | bits
    if sum(2 + len(_bytes(r)) for r in merged) > MAX_GRANTS_LEN:
        raise ValueError("the grants take more than the %d bytes the "
                         "module allows" % MAX_GRANTS_LEN)
    return " ".join("%s:%s" % (r, {1: "r", 2: "w", 3: "rw"}[p])
                    for r, p in merged.items())
