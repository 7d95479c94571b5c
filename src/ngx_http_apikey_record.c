
/*
 * A key's Redis hash (SPEC section 4) turned into the packed record image
 * the zone stores, and the key digest.  A record that breaks the schema is
 * refused whole, with one error-log line naming its id: a key is never
 * loaded half, nor with more power than its record gives.
 */


#include "ngx_http_apikey.h"

#include <sodium.h>


typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   owner;
    ngx_str_t                   name;
    ngx_str_t                   access;
    ngx_str_t                   grants;
    ngx_str_t                   expires;
    ngx_str_t                   active;
    ngx_str_t                   limit;
    ngx_str_t                   ips;
} ngx_http_apikey_fields_t;


#define ngx_http_apikey_field(f)                                              \
    { ngx_string(#f), offsetof(ngx_http_apikey_fields_t, f) }

static struct {
    ngx_str_t                   name;
    size_t                      offset;
} ngx_http_apikey_field_names[] = {
    ngx_http_apikey_field(id),
    ngx_http_apikey_field(owner),
    ngx_http_apikey_field(name),
    ngx_http_apikey_field(access),
    ngx_http_apikey_field(grants),
    ngx_http_apikey_field(expires),
    ngx_http_apikey_field(active),
    ngx_http_apikey_field(limit),
    ngx_http_apikey_field(ips),
    { ngx_null_string, 0 }
};


static ngx_int_t ngx_http_apikey_parse_number(ngx_str_t *value,
    uint32_t max, uint32_t *n);
static ngx_int_t ngx_http_apikey_parse_ips(ngx_str_t *value,
    ngx_http_apikey_cidr_t *cidr, ngx_uint_t *n);
static ngx_uint_t ngx_http_apikey_printable(ngx_str_t *s);


size_t
ngx_http_apikey_record_max_size(void)
{
    return offsetof(ngx_http_apikey_record_t, data)
           + 3 * NGX_HTTP_APIKEY_MAX_STR
           + NGX_HTTP_APIKEY_MAX_IPS * sizeof(ngx_http_apikey_cidr_t)
           + NGX_HTTP_APIKEY_MAX_GRANTS_LEN;
}


/*
 * fields: the HGETALL reply, names and values alternating.  rec must hold
 * ngx_http_apikey_record_max_size() bytes.  NGX_DECLINED: no such key;
 * NGX_ERROR: the record breaks the schema (already logged).
 */

ngx_int_t
ngx_http_apikey_parse_record(ngx_log_t *log, u_char *digest,
    ngx_str_t *fields, ngx_uint_t nfields, ngx_http_apikey_record_t *rec,
    size_t *size)
{
    u_char                    *p, hex[NGX_HTTP_APIKEY_HEX_LEN];
    size_t                     len;
    ngx_str_t                 *f, *id;
    ngx_uint_t                 i, j, nips;
    const char                *why;
    ngx_http_apikey_fields_t   rf;
    ngx_http_apikey_cidr_t     cidr[NGX_HTTP_APIKEY_MAX_IPS];

    if (nfields == 0) {
        return NGX_DECLINED;
    }

    ngx_memzero(&rf, sizeof(ngx_http_apikey_fields_t));
    ngx_memzero(rec, offsetof(ngx_http_apikey_record_t, data));

    why = NULL;

    if (nfields % 2) {
        why = "odd field count";
        goto invalid;
    }

    for (i = 0; i < nfields; i += 2) {
        for (j = 0; ngx_http_apikey_field_names[j].name.len; j++) {
            if (fields[i].len == ngx_http_apikey_field_names[j].name.len
                && ngx_strncmp(fields[i].data,
                               ngx_http_apikey_field_names[j].name.data,
                               fields[i].len) == 0)
            {
                f = (ngx_str_t *) ((u_char *) &rf
                                   + ngx_http_apikey_field_names[j].offset);
                *f = fields[i + 1];
                break;
            }
        }
    }

    ngx_memcpy(rec->digest, digest, NGX_HTTP_APIKEY_DIGEST_LEN);

    if (rf.id.len == 0) {
        why = "no \"id\"";
        goto invalid;
    }

    if (rf.id.len > NGX_HTTP_APIKEY_MAX_STR
        || rf.owner.len > NGX_HTTP_APIKEY_MAX_STR
        || rf.name.len > NGX_HTTP_APIKEY_MAX_STR)
    {
        why = "\"id\", \"owner\" or \"name\" longer than 255 bytes";
        goto invalid;
    }

    if (!ngx_http_apikey_printable(&rf.id)
        || !ngx_http_apikey_printable(&rf.owner)
        || !ngx_http_apikey_printable(&rf.name))
    {
        why = "control characters in \"id\", \"owner\" or \"name\"";
        goto invalid;
    }

    if (rf.access.len == 4 && ngx_strncmp(rf.access.data, "full", 4) == 0) {
        rec->access = NGX_HTTP_APIKEY_ACCESS_FULL;

    } else if (rf.access.len == 4
               && ngx_strncmp(rf.access.data, "read", 4) == 0)
    {
        rec->access = NGX_HTTP_APIKEY_ACCESS_READ;

    } else if (rf.access.len == 7
               && ngx_strncmp(rf.access.data, "limited", 7) == 0)
    {
        rec->access = NGX_HTTP_APIKEY_ACCESS_LIMITED;

    } else {
        why = "unknown \"access\"";
        goto invalid;
    }

    rec->active = 1;

    if (rf.active.data) {
        if (rf.active.len == 1 && rf.active.data[0] == '1') {
            rec->active = 1;

        } else if (rf.active.len == 1 && rf.active.data[0] == '0') {
            rec->active = 0;

        } else {
            why = "\"active\" is not 1 or 0";
            goto invalid;
        }
    }

    rec->expires = 0;

    if (rf.expires.data
        && ngx_http_apikey_parse_number(&rf.expires, 0xffffffff,
                                        &rec->expires)
           != NGX_OK)
    {
        why = "\"expires\" is not a number of seconds";
        goto invalid;
    }

    rec->limit = NGX_HTTP_APIKEY_LIMIT_DEFAULT;

    if (rf.limit.data) {
        if (rf.limit.len == 9
            && ngx_strncmp(rf.limit.data, "unlimited", 9) == 0)
        {
            rec->limit = NGX_HTTP_APIKEY_LIMIT_UNLIMITED;

        } else if (ngx_http_apikey_parse_number(&rf.limit,
                                                NGX_HTTP_APIKEY_LIMIT_MAX,
                                                &rec->limit)
                   != NGX_OK)
        {
            why = "\"limit\" is not a number or \"unlimited\"";
            goto invalid;
        }
    }

    nips = 0;

    if (rf.ips.data
        && ngx_http_apikey_parse_ips(&rf.ips, cidr, &nips) != NGX_OK)
    {
        why = "bad CIDR in \"ips\"";
        goto invalid;
    }

    /* an "ips" that lists nothing must not mean "anywhere" */

    if (rf.ips.data && nips == 0) {
        why = "empty \"ips\"";
        goto invalid;
    }

    rec->nips = (uint8_t) nips;
    rec->id_len = (uint8_t) rf.id.len;
    rec->owner_len = (uint8_t) rf.owner.len;
    rec->name_len = (uint8_t) rf.name.len;

    /* absent fields have no data at all: copy only what is there */

    p = ngx_cpymem(rec->data, rf.id.data, rf.id.len);

    if (rf.owner.len) {
        p = ngx_cpymem(p, rf.owner.data, rf.owner.len);
    }

    if (rf.name.len) {
        p = ngx_cpymem(p, rf.name.data, rf.name.len);
    }

    if (nips) {
        p = ngx_cpymem(p, cidr, nips * sizeof(ngx_http_apikey_cidr_t));
    }

    len = 0;

    if (rf.grants.data
        && ngx_http_apikey_parse_grants(rf.grants.data, rf.grants.len, p,
                                        &len)
           != NGX_OK)
    {
        why = "bad \"grants\"";
        goto invalid;
    }

    rec->grants_len = (uint16_t) len;

    *size = ngx_http_apikey_record_size(rec);

    return NGX_OK;

invalid:

    id = &rf.id;

    if (id->len == 0 || id->len > NGX_HTTP_APIKEY_MAX_STR
        || !ngx_http_apikey_printable(id))
    {
        ngx_hex_dump(hex, digest, NGX_HTTP_APIKEY_DIGEST_LEN);

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "apikey: skipped the record of key %*s...: %s",
                      (size_t) 12, hex, why);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "apikey: skipped the record with id \"%V\": %s", id, why);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_apikey_parse_number(ngx_str_t *value, uint32_t max, uint32_t *n)
{
    u_char    *p, *last;
    uint64_t   v;

    if (value->len == 0 || value->len > 10) {
        return NGX_ERROR;
    }

    v = 0;
    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        v = v * 10 + (*p - '0');
    }

    if (v > max) {
        return NGX_ERROR;
    }

    *n = (uint32_t) v;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_parse_ips(ngx_str_t *value, ngx_http_apikey_cidr_t *cidr,
    ngx_uint_t *n)
{
    u_char  *p, *last, *start;

    *n = 0;
    p = value->data;
    last = p + value->len;

    for ( ;; ) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        if (p == last) {
            return NGX_OK;
        }

        start = p;

        while (p < last && *p != ' ' && *p != ',') {
            p++;
        }

        if (*n == NGX_HTTP_APIKEY_MAX_IPS
            || ngx_http_apikey_parse_cidr(start, p - start, &cidr[*n])
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        (*n)++;
    }
}


/* "a.b.c.d[/n]" or an IPv6 address "[/n]", host bits must be zero */

ngx_int_t
ngx_http_apikey_parse_cidr(u_char *p, size_t len,
    ngx_http_apikey_cidr_t *cidr)
{
    ngx_int_t   rc;
    ngx_cidr_t  c;
    ngx_str_t   text;

    if (len == 0 || len > NGX_INET6_ADDRSTRLEN + 4) {
        return NGX_ERROR;
    }

    text.data = p;
    text.len = len;

    /* NGX_DONE: host bits were set and are masked, as nginx's "allow" does */

    rc = ngx_ptocidr(&text, &c);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_memzero(cidr, sizeof(ngx_http_apikey_cidr_t));

    cidr->family = (uint8_t) c.family;

    switch (c.family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        ngx_memcpy(cidr->addr, c.u.in6.addr.s6_addr, 16);
        for (cidr->bits = 0; cidr->bits < 128; cidr->bits++) {
            if (!(c.u.in6.mask.s6_addr[cidr->bits / 8]
                  & (0x80 >> (cidr->bits % 8))))
            {
                break;
            }
        }
        break;
#endif

    case AF_INET:
        ngx_memcpy(cidr->addr, &c.u.in.addr, 4);
        cidr->bits = 0;
        while (cidr->bits < 32
               && (ntohl(c.u.in.mask) & (0x80000000u >> cidr->bits)))
        {
            cidr->bits++;
        }
        break;

    default:
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "res:r res:w res:rw" into [perm][len][name]... ; a resource granted
 * twice gets the union of its permissions.
 */

ngx_int_t
ngx_http_apikey_parse_grants(u_char *p, size_t len, u_char *out,
    size_t *out_len)
{
    u_char   *last, *start, *colon, *g, *end, perm;
    size_t    name_len;

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
                return NGX_ERROR;
            }

            p++;
        }

        if (colon == NULL || colon == start) {
            return NGX_ERROR;
        }

        name_len = colon - start;

        if (name_len > 255) {
            return NGX_ERROR;
        }

        if (p - colon == 2 && colon[1] == 'r') {
            perm = NGX_HTTP_APIKEY_GRANT_READ;

        } else if (p - colon == 2 && colon[1] == 'w') {
            perm = NGX_HTTP_APIKEY_GRANT_READ|NGX_HTTP_APIKEY_GRANT_WRITE;

        } else if (p - colon == 3
                   && ((colon[1] == 'r' && colon[2] == 'w')
                       || (colon[1] == 'w' && colon[2] == 'r')))
        {
            perm = NGX_HTTP_APIKEY_GRANT_READ|NGX_HTTP_APIKEY_GRANT_WRITE;

        } else {
            return NGX_ERROR;
        }

        for (g = out; g < end; g += 2 + g[1]) {
            if (g[1] == name_len && ngx_memcmp(g + 2, start, name_len) == 0) {
                g[0] |= perm;
                break;
            }
        }

        if (g < end) {
            continue;
        }

        if ((size_t) (end - out) + 2 + name_len
            > NGX_HTTP_APIKEY_MAX_GRANTS_LEN)
        {
            return NGX_ERROR;
        }

        *end++ = perm;
        *end++ = (u_char) name_len;
        end = ngx_cpymem(end, start, name_len);
    }

    *out_len = end - out;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_apikey_printable(ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_apikey_digest(ngx_str_t *secret, u_char *key, size_t len,
    u_char *digest)
{
    if (crypto_generichash(digest, NGX_HTTP_APIKEY_DIGEST_LEN, key, len,
                           secret->len ? secret->data : NULL, secret->len)
        != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The value of each lowercase hex digit (the schema's key names are
 * lowercase), 16 for every other byte: decoding and checking a name is one
 * lookup per character and one test at the end, without a branch per
 * character, as a full sync decodes every name it scans.  Digests are not
 * secret, so nothing needs constant time here.
 */

static const u_char  ngx_http_apikey_hex_value[256] = {
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16
};


/* NGX_ERROR: not 64 lowercase hex digits (digest is then garbage) */

ngx_int_t
ngx_http_apikey_hex_to_digest(u_char *hex, size_t len, u_char *digest)
{
    u_char      hi, lo, bad;
    ngx_uint_t  i;

    if (len != NGX_HTTP_APIKEY_HEX_LEN) {
        return NGX_ERROR;
    }

    bad = 0;

    for (i = 0; i < NGX_HTTP_APIKEY_DIGEST_LEN; i++) {
        hi = ngx_http_apikey_hex_value[hex[2 * i]];
        lo = ngx_http_apikey_hex_value[hex[2 * i + 1]];

        bad |= hi | lo;
        digest[i] = (u_char) ((hi << 4) | lo);
    }

    return (bad & 0x10) ? NGX_ERROR : NGX_OK;
}
