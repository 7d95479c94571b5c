#!/usr/bin/env python3
#
# Copyright (C) The ngx_http_apikey_module authors
#
# Writes the seed corpora of fuzz/corpus/<harness>/ (committed; run again
# only to change them).  Each file is one meaningful input in the layout
# its harness's header comment describes.
import os
import struct
import zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def checksum(body):
    crc = zlib.crc32(body) & 0xffffffff
    out = ""
    for _ in range(6):
        out = B62[crc % 62] + out
        crc //= 62
    return out.encode()


def key(prefix=b"taapit_", rnd=b"4fQm8ZbX1cLk9Tq2Wn7Rv3Hs6Jd0Pa5Y"):
    body = prefix + rnd
    return body + checksum(body)


def write(name, seeds):
    d = os.path.join(top, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for fname, data in seeds:
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


K = key()
K2 = key(rnd=b"Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp")

# header: flags byte (bit 0 checksum, bits 1-2 headers, bit 3 duplicate
# Authorization, bits 4-6 prefix: 1 = "taapit_", 7 = first line, bit 7
# the custom headers X-API-Key and api-key read), lines
write("header", [
    ("bearer", b"\x00Authorization: Bearer " + K),
    ("xsecret-checksum", b"\x11X-Secret-Key: " + K),
    ("both-same", b"\x11Authorization: Bearer " + K + b"\nX-Secret-Key: " + K),
    ("both-differ", b"\x10Authorization: Bearer " + K
        + b"\nX-Secret-Key: " + K2),
    ("xsecret-twice", b"\x00X-Secret-Key: a\nX-Secret-Key: a"),
    ("basic", b"\x00Authorization: Basic dXNlcjpwYXNz"),
    ("lowercase-tab", b"\x00authorization: bEaReR\tkey0123456789abcdef==\t"),
    ("bearer-empty", b"\x00Authorization: Bearer"),
    ("bad-char", b"\x00Authorization: Bearer abc$def"),
    ("too-long", b"\x00X-Secret-Key: " + b"a" * 257),
    ("prefix-line", b"\x70pfx_\nX-Secret-Key: pfx_abcdefghijklmnopqrstuv"),
    ("duplicate-auth", b"\x08Authorization: Bearer " + K),
    ("xsecret-only", b"\x04Authorization: Bearer " + K),
    ("many-headers", b"\x13Host: example.com\nAccept: */*\nUser-Agent: c\n"
        b"Cookie: a=b\nX-Secret-Key: " + K + b"\nX-Other: 1"),
    ("bad-checksum", b"\x01X-Secret-Key: " + K[:-1] + b"0"),
    ("custom", b"\x91X-API-Key: " + K),
    ("custom-twice", b"\x80x-api-key: " + K + b"\nX-API-Key: " + K),
    ("custom-differ", b"\x80X-API-Key: " + K + b"\napi-key: " + K2),
    ("custom-not-read", b"\x00X-API-Key: " + K),
    ("custom-and-bearer", b"\x80Authorization: Bearer " + K
        + b"\nApi-Key: \t" + K),
])


def rec(*fields):
    return b"\0".join(f if isinstance(f, bytes) else f.encode()
                      for f in fields)


ips64 = " ".join("10.%d.0.0/16" % i for i in range(64))
ips65 = ips64 + " 192.168.0.1"
write("record", [
    ("minimal-full", rec("id", "k1", "access", "full")),
    ("everything", rec("id", "key_01", "owner", "ws_42", "name", "CI deploy",
        "access", "limited", "grants", "orders:rw users:r",
        "expires", "1999999999", "active", "1", "limit", "1000",
        "ips", "10.0.0.0/8 2001:db8::/32")),
    ("read-unlimited", rec("id", "k3", "access", "read",
        "limit", "unlimited")),
    ("inactive", rec("id", "k4", "access", "full", "active", "0")),
    ("bad-access", rec("id", "k5", "access", "FULL")),
    ("bad-expires", rec("id", "k6", "access", "read", "expires", "12x")),
    ("deprecated", rec("id", "k16", "access", "full", "expires",
        "1900000000", "deprecated", "1899900000")),
    ("bad-deprecated", rec("id", "k17", "access", "full", "deprecated",
        "-1")),
    ("bad-cidr", rec("id", "k7", "access", "full", "ips", "10.0.0.0/33")),
    ("empty-ips", rec("id", "k8", "access", "full", "ips", " , ")),
    ("odd", rec("id", "k9", "access")),
    ("no-id", rec("access", "full", "owner", "x")),
    ("control-id", rec("id", "k\x01", "access", "full")),
    ("ips-64", rec("id", "k10", "access", "full", "ips", ips64)),
    ("ips-65", rec("id", "k11", "access", "full", "ips", ips65)),
    ("repeated-access", rec("id", "k12", "access", "full",
        "access", "read")),
    ("hex-digest", rec("id", "k13", "access", "full", "digest",
        "0123456789abcdef" * 4)),
    ("limit-max", rec("id", "k14", "access", "full", "limit", "4294967280",
        "expires", "4294967295")),
    ("long-grants", rec("id", "k15", "access", "limited", "grants",
        " ".join("r%03d:rw" % i for i in range(600)))),
    ("limit-windows", rec("id", "k16", "access", "full",
        "limit", " 1000000/s 5/m  1000 9/d")),
    ("limit-unit-twice", rec("id", "k17", "access", "full",
        "limit", "5/s 6/s")),
])

# grants: method index (0 GET, 3 POST, 4 PUT, 5 DELETE), skip, resource,
# '\n', the grants field
write("grants", [
    ("get-r", b"\x00\x00orders\norders:r"),
    ("post-r", b"\x03\x01orders\norders:r"),
    ("post-rw", b"\x03\x02orders\norders:rw"),
    ("put-wr", b"\x04\x03orders\norders:wr"),
    ("delete-w", b"\x05\x04orders\norders:w users:r"),
    ("colon-name", b"\x03\x05a:b\na:b:w"),
    ("no-resource", b"\x00\x00\norders:rw"),
    ("union", b"\x03\x07orders\norders:r orders:w"),
    ("spaces", b"\x00\x00orders\n  orders:r   users:w  "),
    ("bad-perm", b"\x00\x00orders\norders:x"),
    ("no-name", b"\x00\x00orders\n:r"),
    ("no-colon", b"\x00\x00orders\norders"),
    ("tab", b"\x03\x00orders\norders:rw\tusers:r"),
    ("name-255", b"\x03\x00" + b"n" * 255 + b"\n" + b"n" * 255 + b":w"),
    ("name-256", b"\x03\x00" + b"n" * 256 + b"\n" + b"n" * 256 + b":w"),
    ("prefix-name", b"\x03\x00order\norders:w order:r"),
])


def v4(a):
    return bytes(int(x) for x in a.split(".")) + b"\0" * 12


def v6(words):
    return struct.pack("!8H", *words)


# cidr: kind | skip << 2 (kind 0 v4, 1 v6, 2 v4-mapped, 3 unix),
# 16 address bytes, CIDRs
write("cidr", [
    ("v4-in", b"\x00" + v4("10.1.2.3") + b"10.0.0.0/8"),
    ("v4-second", b"\x04" + v4("192.168.1.1") + b"10.0.0.0/8 192.168.0.0/16"),
    ("v6-in", b"\x01" + v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])
        + b"2001:db8::/32"),
    ("mapped", b"\x0a" + v4("10.1.2.3") + b"10.0.0.0/8"),
    ("mapped-v6-cidr", b"\x01" + v6([0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203])
        + b"::ffff:10.0.0.0/104 10.0.0.0/8"),
    ("unix", b"\x03" + v4("0.0.0.0") + b"0.0.0.0/0 ::/0"),
    ("anywhere", b"\x1c" + v4("8.8.8.8") + b"0.0.0.0/0"),
    ("host-bits", b"\x00" + v4("10.9.9.9") + b"10.1.2.3/8"),
    ("bad-bits", b"\x00" + v4("10.1.2.3") + b"10.0.0.0/33"),
    ("host", b"\x00" + v4("1.2.3.4") + b"1.2.3.4/32 1.2.3.4"),
    ("zone", b"\x01" + v6([0xfe80, 0, 0, 0, 0, 0, 0, 1]) + b"fe80::1%eth0"),
    ("odd-bits", b"\x00" + v4("11.255.0.1") + b"10.0.0.0/7"),
    ("v6-129", b"\x01" + v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])
        + b"2001:db8::/129"),
    ("leading-zero", b"\x00" + v4("127.0.0.1") + b"127.0.0.1/011"),
    ("v6-odd", b"\x15" + v6([0x2001, 0xdb8, 0x8000, 0, 0, 0, 0, 1])
        + b"2001:db8:8000::/33 2001:db8::/33"),
])

write("checksum", [
    ("key", b"taapit_4fQm8ZbX1cLk9Tq2Wn7Rv3Hs6Jd0Pa5Y"),
    ("no-prefix", b"4fQm8ZbX1cLk9Tq2Wn7Rv3Hs6Jd0Pa5Y"),
    ("one", b"a"),
    ("six", b"abcdef"),
    ("seven", b"abcdefg"),
    ("four-bytes", b"\x9d\x0a\xd9\x6d"),
    ("binary", bytes(range(256))),
    ("long", b"x" * 1024),
    ("with-sum", K),
    ("equals", b"taapit_abc=="),
    ("nul", b"\0\0\0\0\0\0\0\0"),
    ("ff", b"\xff" * 32),
])

# logscrub: one request header line, "Name: value"
write("logscrub", [
    ("xsecret", b"X-Secret-Key: " + K),
    ("bearer", b"Authorization: Bearer " + K),
    ("bearer-tab", b"Authorization: Bearer\t" + K),
    ("bearer-spaces", b"Authorization: bearer    " + K + b"  "),
    ("lowercase", b"x-secret-key: " + K),
    ("quoted", b"X-Secret-Key: \"" + K + b"\""),
    ("basic", b"Authorization: Basic dXNlcjpwYXNzd29yZA=="),
    ("other", b"X-Api-Key: " + K),
    ("two-bearers", b"Authorization: Bearer bearer " + K),
    ("empty", b"X-Secret-Key: "),
    ("crlf", b"X-Secret-Key: abc\r\n" + K),
    ("no-prefix", b"X-Secret-Key: 4fQm8ZbX1cLk9Tq2Wn7Rv3Hs6Jd0Pa5Y=="),
    ("near-miss", b"X_Secret_Key: " + K),
    ("near-miss-quoted", b"X_Secret_Key: \"x\" " + K),
    ("tab", b"X-Secret-Key:\t" + K + b"\t"),
    ("short", b"X_Secret_Key: abcdefghijklmno"),
    ("custom", b"api-key: " + K),
    ("custom-short", b"API-KEY: \tshort"),
])

# resp: byte 0 the piece size (n % 64 + 1), then what a Redis server sends
D = b"0" * 64


def bulk(s):
    return b"$%d\r\n%s\r\n" % (len(s), s)


def arr(*xs):
    return b"*%d\r\n" % len(xs) + b"".join(xs)


hgetall = arr(bulk(b"id"), bulk(b"k_1"), bulk(b"access"), bulk(b"full"),
              bulk(b"owner"), bulk(b"o"), bulk(b"name"), bulk(b"n"))
write("resp", [
    ("hgetall", b"\x07" + hgetall),
    ("hgetall-bytewise", b"\x00" + hgetall),
    ("scan", b"\x10" + arr(bulk(b"17"), arr(bulk(b"apikey:key:" + D),
                                            bulk(b"apikey:key:" + D)))),
    ("message", b"\x05" + arr(bulk(b"message"), bulk(b"apikey:events"),
                              bulk(D))),
    ("subscribe", b"\x3f" + arr(bulk(b"subscribe"), bulk(b"apikey:events"),
                                b":1\r\n")),
    ("status-error-int", b"\x02+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n"),
    ("nil", b"\x01$-1\r\n*-1\r\n*0\r\n"),
    ("nested", b"\x03" + arr(arr(arr(b":1\r\n", bulk(b"")), b"$-1\r\n"),
                             b"+x\r\n")),
    ("pipeline", b"\x3f" + hgetall + b"*0\r\n" + hgetall + b"+PONG\r\n"),
    ("bad-type", b"\x3f?what\r\n"),
    ("bad-length", b"\x3f$abc\r\nxyz\r\n"),
    ("binary", b"\x3f" + bulk(bytes(range(256)))),
])
