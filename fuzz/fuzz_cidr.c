
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Fuzzes the "ips" of a record: ngx_apikey_parse_cidr()
 * (src/ngx_apikey_format.c, the schema library) and
 * ngx_http_apikey_address_allowed() (src/ngx_http_apikey_policy.c).
 *
 * Input: byte 0 picks the client's socket (bits 0-1: 0 AF_INET, 1 AF_INET6,
 * 2 AF_INET6 with an IPv4-mapped address, 3 AF_UNIX) and, bits 2-4, how
 * many bytes precede the CIDR array in the record (the array is not
 * aligned); bytes 1-16 are the client's address; the rest is CIDRs
 * separated by spaces.
 *
 * Invariants: a parsed CIDR is AF_INET with at most 32 bits or AF_INET6
 * with at most 128, with no bit set past its prefix; where inet_pton()
 * reads the address and the prefix is plain decimal, parse_cidr() agrees
 * with it; address_allowed() is true exactly when a bit-by-bit comparison
 * of the client's address (an IPv4-mapped one as IPv4) with some CIDR
 * matches, and never for a unix socket.
 */


#include <arpa/inet.h>
#include <sys/un.h>

#include "fuzz_common.h"


static ngx_uint_t
fuzz_bit(const u_char *a, ngx_uint_t i)
{
    return (a[i / 8] >> (7 - i % 8)) & 1;
}


static ngx_uint_t
fuzz_ref_match(ngx_http_apikey_cidr_t *c, ngx_uint_t family, u_char *addr)
{
    ngx_uint_t  i;

    if (c->family != family) {
        return 0;
    }

    for (i = 0; i < c->bits; i++) {
        if (fuzz_bit(c->addr, i) != fuzz_bit(addr, i)) {
            return 0;
        }
    }

    return 1;
}


/* "addr[/n]" read with inet_pton() and strict decimal; 0 if it cannot */

static ngx_uint_t
fuzz_ref_parse(u_char *p, size_t len, ngx_http_apikey_cidr_t *c)
{
    char        text[64];
    char       *slash;
    size_t      i;
    ngx_uint_t  bits, max, plen;

    if (len == 0 || len >= sizeof(text)) {
        return 0;
    }

    memcpy(text, p, len);
    text[len] = '\0';

    if (strlen(text) != len) {
        return 0;
    }

    ngx_memzero(c, sizeof(ngx_http_apikey_cidr_t));

    slash = strchr(text, '/');
    if (slash) {
        *slash++ = '\0';
    }

    /*
     * nginx's ngx_inet6_addr() refuses a trailing "::" that stands for one
     * group ("1:2:3:4:5:6:7::"), which inet_pton() reads: not ours to judge
     */

    plen = strlen(text);

    if (plen >= 2 && text[plen - 1] == ':' && text[plen - 2] == ':') {
        return 0;
    }

    if (inet_pton(AF_INET, text, c->addr) == 1) {
        c->family = AF_INET;
        max = 32;

    } else if (inet_pton(AF_INET6, text, c->addr) == 1) {
        c->family = AF_INET6;
        max = 128;

    } else {
        return 0;
    }

    bits = max;

    if (slash) {
        plen = strlen(slash);

        if (plen == 0 || plen > 3 || (plen > 1 && slash[0] == '0')) {
            return 0;
        }

        bits = 0;

        for (i = 0; i < plen; i++) {
            if (slash[i] < '0' || slash[i] > '9') {
                return 0;
            }

            bits = bits * 10 + (slash[i] - '0');
        }

        if (bits > max) {
            return 0;
        }
    }

    c->bits = (uint8_t) bits;

    /* host bits are cleared, as nginx's "allow" does */

    for (i = bits; i < 128; i++) {
        c->addr[i / 8] &= (u_char) ~(0x80 >> (i % 8));
    }

    return 1;
}


static void
fuzz_check_cidr(ngx_http_apikey_cidr_t *c)
{
    ngx_uint_t  i;

    fuzz_check(c->family == AF_INET || c->family == AF_INET6,
               "a CIDR neither AF_INET nor AF_INET6");
    fuzz_check(c->bits <= (c->family == AF_INET ? 32 : 128),
               "a CIDR with too many bits");

    for (i = c->bits; i < 128; i++) {
        fuzz_check(!fuzz_bit(c->addr, i), "a bit set past the prefix");
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                    *p, *last, *start, *text, *caddr;
    size_t                     skip;
    ngx_int_t                  rc;
    ngx_uint_t                 n, i, kind, family, want, got;
    struct sockaddr           *sa;
    struct sockaddr_un         sun;
    struct sockaddr_in         sin;
    struct sockaddr_in6        sin6;
    ngx_http_apikey_cidr_t     cidr[NGX_HTTP_APIKEY_MAX_IPS], ref;
    ngx_http_apikey_record_t  *rec;

    if (size < 17 || size > 4096) {
        return 0;
    }

    kind = data[0] & 0x03;
    skip = (data[0] >> 2) & 0x07;

    ngx_memzero(&sin, sizeof(struct sockaddr_in));
    ngx_memzero(&sin6, sizeof(struct sockaddr_in6));
    ngx_memzero(&sun, sizeof(struct sockaddr_un));

    switch (kind) {

    case 0:
        sin.sin_family = AF_INET;
        memcpy(&sin.sin_addr, data + 1, 4);
        sa = (struct sockaddr *) &sin;
        family = AF_INET;
        caddr = (u_char *) &sin.sin_addr;
        break;

    case 1:
        sin6.sin6_family = AF_INET6;
        memcpy(sin6.sin6_addr.s6_addr, data + 1, 16);
        sa = (struct sockaddr *) &sin6;

        if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
            family = AF_INET;
            caddr = sin6.sin6_addr.s6_addr + 12;

        } else {
            family = AF_INET6;
            caddr = sin6.sin6_addr.s6_addr;
        }

        break;

    case 2:
        sin6.sin6_family = AF_INET6;
        memset(sin6.sin6_addr.s6_addr + 10, 0xff, 2);
        memcpy(sin6.sin6_addr.s6_addr + 12, data + 1, 4);
        sa = (struct sockaddr *) &sin6;
        family = AF_INET;
        caddr = sin6.sin6_addr.s6_addr + 12;
        break;

    default:
        sun.sun_family = AF_UNIX;
        sa = (struct sockaddr *) &sun;
        family = AF_UNIX;
        caddr = NULL;
        break;
    }

    data += 17;
    size -= 17;

    /* the CIDRs, each an exact-size copy */

    n = 0;
    p = (u_char *) data;
    last = p + size;

    while (n < NGX_HTTP_APIKEY_MAX_IPS) {
        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last) {
            break;
        }

        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        text = fuzz_dup(start, p - start);

        rc = ngx_apikey_parse_cidr(text, p - start, &cidr[n]);

        fuzz_check(rc == NGX_APIKEY_OK || rc == NGX_APIKEY_MASKED
                   || rc == NGX_APIKEY_BAD,
                   "parse_cidr returned an unexpected code");

        if (fuzz_ref_parse(text, p - start, &ref)) {
            fuzz_check(rc != NGX_APIKEY_BAD,
                       "parse_cidr refused what inet_pton reads");
            fuzz_check(memcmp(&ref, &cidr[n], sizeof(ref)) == 0,
                       "parse_cidr disagrees with inet_pton");
        }

        free(text);

        if (rc != NGX_APIKEY_BAD) {
            fuzz_check_cidr(&cidr[n]);
            n++;
        }
    }

    rec = malloc(offsetof(ngx_http_apikey_record_t, data) + skip
                 + n * sizeof(ngx_http_apikey_cidr_t));
    if (rec == NULL) {
        abort();
    }

    ngx_memzero(rec, offsetof(ngx_http_apikey_record_t, data));
    memset(rec->data, 'x', skip);
    rec->id_len = (uint8_t) skip;
    rec->nips = (uint8_t) n;
    memcpy(ngx_http_apikey_record_ips(rec), cidr,
           n * sizeof(ngx_http_apikey_cidr_t));

    want = 0;

    for (i = 0; caddr && i < n; i++) {
        if (fuzz_ref_match(&cidr[i], family, caddr)) {
            want = 1;
        }
    }

    got = ngx_http_apikey_address_allowed(rec, sa);

    fuzz_check(got == want,
               "address_allowed disagrees with the bit-by-bit reference");

    free(rec);

    return 0;
}
