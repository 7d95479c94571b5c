
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The key schema: see ngx_apikey_format.h.  zlib provides the CRC-32 and
 * libc's inet_pton() reads addresses; this file only fixes the rules, so
 * that the module, apikeyctl and the fuzz harnesses cannot disagree.
 */


#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <zlib.h>

#include "ngx_apikey_format.h"


static int ngx_apikey_match(const unsigned char *p, size_t len,
    const char *word);


static const char  ngx_apikey_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


/*
 * Token characters of RFC 6750's b64token: A-Z a-z 0-9 - . _ ~ + /.
 * A byte per character rather than a bit: the check runs on every request.
 */

static const unsigned char  ngx_apikey_token[256] = {
    /* 0x00 - 0x2a */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* + , - . / */
    1, 0, 1, 1, 1,
    /* 0 - 9 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* : ; < = > ? @ */
    0, 0, 0, 0, 0, 0, 0,
    /* A - Z */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1,
    /* [ \ ] ^ _ ` */
    0, 0, 0, 0, 1, 0,
    /* a - z */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1,
    /* { | } ~ */
    0, 0, 0, 1
    /* 0x7f - 0xff: 0 */
};


void
ngx_apikey_checksum(const unsigned char *p, size_t len, unsigned char *out)
{
    int            i;
    unsigned long  crc;

    crc = crc32(0L, Z_NULL, 0);

    /* zlib takes a uInt length; feed long inputs in slices */

    while (len > 0) {
        uInt  n = len > 0x40000000 ? 0x40000000 : (uInt) len;

        crc = crc32(crc, p, n);
        p += n;
        len -= n;
    }

    for (i = NGX_APIKEY_CHECKSUM_LEN - 1; i >= 0; i--) {
        out[i] = (unsigned char) ngx_apikey_base62[crc % 62];
        crc /= 62;
    }
}


int
ngx_apikey_checksum_valid(const unsigned char *key, size_t len)
{
    unsigned char  sum[NGX_APIKEY_CHECKSUM_LEN];

    if (len <= NGX_APIKEY_CHECKSUM_LEN) {
        return 0;
    }

    ngx_apikey_checksum(key, len - NGX_APIKEY_CHECKSUM_LEN, sum);

    return memcmp(sum, key + len - NGX_APIKEY_CHECKSUM_LEN,
                  NGX_APIKEY_CHECKSUM_LEN) == 0;
}


/* 1: 1..256 bytes, token characters and then any '=' padding; else 0 */

int
ngx_apikey_key_syntax(const unsigned char *key, size_t len)
{
    const unsigned char  *p, *last;

    if (len == 0 || len > NGX_APIKEY_MAX_KEY_LEN) {
        return 0;
    }

    p = key;
    last = key + len;

    while (p < last && ngx_apikey_token[*p]) {
        p++;
    }

    if (p == key) {
        return 0;
    }

    while (p < last && *p == '=') {
        p++;
    }

    return p == last;
}


/*
 * 1: a key prefix (apikey_prefix, apikeyctl --key-prefix): 1 to
 * NGX_APIKEY_MAX_KEY_PREFIX token characters, no '=' (padding ends a
 * key), so that a generated key (prefix, 32 random and 6 checksum
 * characters) still has the key syntax
 */

int
ngx_apikey_key_prefix_valid(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_APIKEY_MAX_KEY_PREFIX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_apikey_token[p[i]]) {
            return 0;
        }
    }

    return 1;
}


/*
 * The digest part of a record's name (what follows "<prefix>key:", what
 * "<prefix>id:<id>" holds, what an event or a change log entry names):
 * 64 lowercase hex digits, NGX_APIKEY_SCHEME_BLAKE2B; "sha256:" and 64
 * lowercase hex digits, NGX_APIKEY_SCHEME_SHA256; otherwise NGX_APIKEY_BAD.
 * The hex digits are always the last NGX_APIKEY_HEX_LEN bytes.
 */

int
ngx_apikey_digest_name(const unsigned char *p, size_t len)
{
    int     scheme;
    size_t  i;

    scheme = NGX_APIKEY_SCHEME_BLAKE2B;

    if (len == NGX_APIKEY_MAX_DIGEST_NAME
        && memcmp(p, NGX_APIKEY_SHA256_TAG, NGX_APIKEY_SHA256_TAG_LEN) == 0)
    {
        scheme = NGX_APIKEY_SCHEME_SHA256;
        p += NGX_APIKEY_SHA256_TAG_LEN;
        len -= NGX_APIKEY_SHA256_TAG_LEN;
    }

    if (len != NGX_APIKEY_HEX_LEN) {
        return NGX_APIKEY_BAD;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return NGX_APIKEY_BAD;
        }
    }

    return scheme;
}


/* 1: "id": 1..255 bytes without control characters */

int
ngx_apikey_id_valid(const unsigned char *p, size_t len)
{
    return len > 0 && ngx_apikey_text_valid(p, len);
}


/* 1: "owner", "name": 0..255 bytes without control characters */

int
ngx_apikey_text_valid(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len > NGX_APIKEY_MAX_STR) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* "access": NGX_APIKEY_ACCESS_FULL, _READ, _LIMITED or NGX_APIKEY_BAD */

int
ngx_apikey_parse_access(const unsigned char *p, size_t len)
{
    if (ngx_apikey_match(p, len, "full")) {
        return NGX_APIKEY_ACCESS_FULL;
    }

    if (ngx_apikey_match(p, len, "read")) {
        return NGX_APIKEY_ACCESS_READ;
    }

    if (ngx_apikey_match(p, len, "limited")) {
        return NGX_APIKEY_ACCESS_LIMITED;
    }

    return NGX_APIKEY_BAD;
}


/* "active": 1, 0 or NGX_APIKEY_BAD */

int
ngx_apikey_parse_active(const unsigned char *p, size_t len)
{
    if (len == 1 && (p[0] == '0' || p[0] == '1')) {
        return p[0] - '0';
    }

    return NGX_APIKEY_BAD;
}


/* 1..10 decimal digits, at most max */

int
ngx_apikey_parse_number(const unsigned char *p, size_t len, uint32_t max,
    uint32_t *n)
{
    size_t    i;
    uint64_t  v;

    if (len == 0 || len > 10) {
        return NGX_APIKEY_BAD;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_APIKEY_BAD;
        }

        v = v * 10 + (p[i] - '0');
    }

    if (v > max) {
        return NGX_APIKEY_BAD;
    }

    *n = (uint32_t) v;

    return NGX_APIKEY_OK;
}


/* "expires": unix seconds, 0 (never) to 4294967295 */

int
ngx_apikey_parse_expires(const unsigned char *p, size_t len,
    uint32_t *expires)
{
    return ngx_apikey_parse_number(p, len, NGX_APIKEY_MAX_EXPIRES, expires);
}


/*
 * "deprecated": unix seconds of the rotation that replaced the key, 0 (not
 * deprecated) to 4294967295, as "expires"
 */

int
ngx_apikey_parse_deprecated(const unsigned char *p, size_t len,
    uint32_t *deprecated)
{
    return ngx_apikey_parse_number(p, len, NGX_APIKEY_MAX_EXPIRES, deprecated);
}


/*
 * "limit": "unlimited" (limits->set is then 0), or the terms of
 * ngx_apikey_parse_limits().
 */

int
ngx_apikey_parse_limit(const unsigned char *p, size_t len,
    ngx_apikey_limits_t *limits)
{
    memset(limits, 0, sizeof(ngx_apikey_limits_t));

    if (ngx_apikey_match(p, len, "unlimited")) {
        return NGX_APIKEY_OK;
    }

    return ngx_apikey_parse_limits(p, len, limits);
}


/*
 * One or more terms separated by spaces, added to limits (which the
 * caller zeroes first, and may fill over several calls): "N/s" (N at
 * most NGX_APIKEY_LIMIT_MAX_SECOND), "N/m", "N/h", "N/d" or a bare "N"
 * (per hour), N of 1 to 10 digits, at most NGX_APIKEY_LIMIT_MAX.  A unit
 * given twice, no term at all, or anything else is NGX_APIKEY_BAD.
 */

int
ngx_apikey_parse_limits(const unsigned char *p, size_t len,
    ngx_apikey_limits_t *limits)
{
    unsigned              w, nterms;
    uint32_t              n, max;
    const unsigned char  *last, *start, *slash;

    last = p + len;
    nterms = 0;

    for ( ;; ) {
        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last) {
            return nterms ? NGX_APIKEY_OK : NGX_APIKEY_BAD;
        }

        start = p;
        slash = NULL;

        while (p < last && *p != ' ') {
            if (*p == '/' && slash == NULL) {
                slash = p;
            }

            p++;
        }

        w = NGX_APIKEY_WINDOW_HOUR;
        max = NGX_APIKEY_LIMIT_MAX;

        if (slash) {
            if (p - slash != 2) {
                return NGX_APIKEY_BAD;
            }

            switch (slash[1]) {
            case 's':
                w = NGX_APIKEY_WINDOW_SECOND;
                max = NGX_APIKEY_LIMIT_MAX_SECOND;
                break;
            case 'm':
                w = NGX_APIKEY_WINDOW_MINUTE;
                break;
            case 'h':
                break;
            case 'd':
                w = NGX_APIKEY_WINDOW_DAY;
                break;
            default:
                return NGX_APIKEY_BAD;
            }

        } else {
            slash = p;
        }

        if (ngx_apikey_parse_number(start, slash - start, max, &n)
            != NGX_APIKEY_OK
            || (limits->set & (1u << w)))
        {
            return NGX_APIKEY_BAD;
        }

        limits->n[w] = n;
        limits->set |= 1u << w;
        nterms++;
    }
}


/*
 * The canonical text of limits, as writers store it: the terms in the
 * order s, m, h, d, one space apart; an hourly limit alone is the bare
 * number every version of the module reads; no term: "unlimited".  out
 * holds NGX_APIKEY_LIMITS_TEXT_LEN bytes; returns the length, no NUL.
 */

size_t
ngx_apikey_limits_text(const ngx_apikey_limits_t *limits, unsigned char *out)
{
    int             n;
    char            buf[16];
    unsigned        w;
    unsigned char  *p;

    static const char  units[] = "smhd";

    if (limits->set == 0) {
        memcpy(out, "unlimited", 9);
        return 9;
    }

    p = out;

    for (w = 0; w < NGX_APIKEY_NWINDOWS; w++) {
        if (!(limits->set & (1u << w))) {
            continue;
        }

        if (limits->set == (1u << NGX_APIKEY_WINDOW_HOUR)) {
            n = snprintf(buf, sizeof(buf), "%u", (unsigned) limits->n[w]);

        } else {
            n = snprintf(buf, sizeof(buf), "%s%u/%c", p == out ? "" : " ",
                         (unsigned) limits->n[w], units[w]);
        }

        memcpy(p, buf, n);
        p += n;
    }

    return p - out;
}


/*
 * "a.b.c.d[/n]" or an IPv6 address "[/n]", as inet_pton() reads them.
 * NGX_APIKEY_MASKED: host bits past the prefix were set and are cleared,
 * as nginx's "allow" does; a writer refuses such a CIDR instead.
 */

int
ngx_apikey_parse_cidr(const unsigned char *p, size_t len,
    ngx_apikey_cidr_t *cidr)
{
    int                   rc;
    char                  addr[INET6_ADDRSTRLEN];
    size_t                n, i, max;
    unsigned              bits;
    unsigned char         mask;
    const unsigned char  *slash;

    slash = memchr(p, '/', len);
    n = slash ? (size_t) (slash - p) : len;

    if (n == 0 || n >= sizeof(addr)) {
        return NGX_APIKEY_BAD;
    }

    memcpy(addr, p, n);
    addr[n] = '\0';

    memset(cidr, 0, sizeof(ngx_apikey_cidr_t));

    if (memchr(addr, ':', n)) {
        cidr->family = AF_INET6;
        max = 128;

    } else {
        cidr->family = AF_INET;
        max = 32;
    }

    if (inet_pton(cidr->family, addr, cidr->addr) != 1) {
        return NGX_APIKEY_BAD;
    }

    bits = max;

    if (slash) {
        slash++;
        n = len - (slash - p);

        if (n == 0 || n > 3) {
            return NGX_APIKEY_BAD;
        }

        bits = 0;

        for (i = 0; i < n; i++) {
            if (slash[i] < '0' || slash[i] > '9') {
                return NGX_APIKEY_BAD;
            }

            bits = bits * 10 + (slash[i] - '0');
        }

        if (bits > max) {
            return NGX_APIKEY_BAD;
        }
    }

    cidr->bits = (uint8_t) bits;

    rc = NGX_APIKEY_OK;

    for (i = 0; i < max / 8; i++) {
        if (bits >= 8 * (i + 1)) {
            continue;
        }

        mask = (bits <= 8 * i) ? 0
                               : (unsigned char) (0xff << (8 - (bits - 8 * i)));

        if (cidr->addr[i] & (unsigned char) ~mask) {
            cidr->addr[i] &= mask;
            rc = NGX_APIKEY_MASKED;
        }
    }

    return rc;
}


/*
 * "ips": CIDRs separated by spaces or commas, at most NGX_APIKEY_MAX_IPS
 * of them, into cidr[] (room for NGX_APIKEY_MAX_IPS).  An empty list
 * gives *n = 0: a record's "ips" that lists nothing must not mean
 * "anywhere", and the caller refuses it.  NGX_APIKEY_MASKED: some CIDR
 * had host bits set.
 */

int
ngx_apikey_parse_ips(const unsigned char *p, size_t len,
    ngx_apikey_cidr_t *cidr, unsigned *n)
{
    int                   rc, masked;
    const unsigned char  *last, *start;

    *n = 0;
    masked = 0;
    last = p + len;

    for ( ;; ) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        if (p == last) {
            return masked ? NGX_APIKEY_MASKED : NGX_APIKEY_OK;
        }

        start = p;

        while (p < last && *p != ' ' && *p != ',') {
            p++;
        }

        if (*n == NGX_APIKEY_MAX_IPS) {
            return NGX_APIKEY_BAD;
        }

        rc = ngx_apikey_parse_cidr(start, p - start, &cidr[*n]);

        if (rc == NGX_APIKEY_BAD) {
            return NGX_APIKEY_BAD;
        }

        masked |= (rc == NGX_APIKEY_MASKED);
        (*n)++;
    }
}


/*
 * "grants": "res:r res:w res:rw" (or "wr"), separated by spaces, into
 * [perm][len][name]... in out (room for NGX_APIKEY_MAX_GRANTS_LEN); the
 * resource is what precedes the last ':' of an item, 1..255 bytes
 * without control characters; "w" implies "r"; a resource granted twice
 * gets the union of its permissions.
 */

int
ngx_apikey_parse_grants(const unsigned char *p, size_t len,
    unsigned char *out, size_t *out_len)
{
    size_t                name_len;
    unsigned char         perm, *g, *end;
    const unsigned char  *last, *start, *colon;

    last = p + len;
    end = out;

    for ( ;; ) {
        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last) {
            break;
        }

        start = p;
        colon = NULL;

        while (p < last && *p != ' ') {
            if (*p == ':') {
                colon = p;
            }

            if (*p < 0x21 || *p == 0x7f) {
                return NGX_APIKEY_BAD;
            }

            p++;
        }

        if (colon == NULL || colon == start) {
            return NGX_APIKEY_BAD;
        }

        name_len = colon - start;

        if (name_len > NGX_APIKEY_MAX_STR) {
            return NGX_APIKEY_BAD;
        }

        if (p - colon == 2 && colon[1] == 'r') {
            perm = NGX_APIKEY_GRANT_READ;

        } else if (p - colon == 2 && colon[1] == 'w') {
            perm = NGX_APIKEY_GRANT_READ|NGX_APIKEY_GRANT_WRITE;

        } else if (p - colon == 3
                   && ((colon[1] == 'r' && colon[2] == 'w')
                       || (colon[1] == 'w' && colon[2] == 'r')))
        {
            perm = NGX_APIKEY_GRANT_READ|NGX_APIKEY_GRANT_WRITE;

        } else {
            return NGX_APIKEY_BAD;
        }

        for (g = out; g < end; g += 2 + g[1]) {
            if (g[1] == name_len && memcmp(g + 2, start, name_len) == 0) {
                g[0] |= perm;
                break;
            }
        }

        if (g < end) {
            continue;
        }

        if ((size_t) (end - out) + 2 + name_len > NGX_APIKEY_MAX_GRANTS_LEN) {
            return NGX_APIKEY_BAD;
        }

        *end++ = perm;
        *end++ = (unsigned char) name_len;
        memcpy(end, start, name_len);
        end += name_len;
    }

    *out_len = end - out;

    return NGX_APIKEY_OK;
}


static int
ngx_apikey_match(const unsigned char *p, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(p, word, len) == 0;
}
