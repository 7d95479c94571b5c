
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * A key's Redis hash (docs/keys.md) turned into the packed record image
 * the zone stores, and the key digest.  The rules of each field are the
 * schema library's (ngx_apikey_format.c), shared with apikeyctl.  A
 * record that breaks the schema is refused whole, with one error-log line
 * naming its id: a key is never loaded half, nor with more power than its
 * record gives.
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
    ngx_str_t                   deprecated;
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
    ngx_http_apikey_field(deprecated),
    ngx_http_apikey_field(active),
    ngx_http_apikey_field(limit),
    ngx_http_apikey_field(ips),
    { ngx_null_string, 0 }
};


size_t
ngx_http_apikey_record_max_size(void)
{
    return offsetof(ngx_http_apikey_record_t, data)
           + 3 * NGX_HTTP_APIKEY_MAX_STR
           + NGX_HTTP_APIKEY_MAX_IPS * sizeof(ngx_http_apikey_cidr_t)
           + NGX_HTTP_APIKEY_MAX_GRANTS_LEN
           + (NGX_HTTP_APIKEY_NWINDOWS - 1) * sizeof(uint32_t);
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
    ngx_int_t                  rc;
    ngx_uint_t                 i, j, w;
    unsigned                   nips;
    ngx_apikey_limits_t        limits;
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

    if (!ngx_apikey_id_valid(rf.id.data, rf.id.len)
        || !ngx_apikey_text_valid(rf.owner.data, rf.owner.len)
        || !ngx_apikey_text_valid(rf.name.data, rf.name.len))
    {
        why = "control characters in \"id\", \"owner\" or \"name\"";
        goto invalid;
    }

    rc = ngx_apikey_parse_access(rf.access.data, rf.access.len);

    if (rc == NGX_APIKEY_BAD) {
        why = "unknown \"access\"";
        goto invalid;
    }

    rec->access = (uint8_t) rc;
    rec->active = 1;

    if (rf.active.data) {
        rc = ngx_apikey_parse_active(rf.active.data, rf.active.len);

        if (rc == NGX_APIKEY_BAD) {
            why = "\"active\" is not 1 or 0";
            goto invalid;
        }

        rec->active = (uint8_t) rc;
    }

    rec->expires = 0;

    if (rf.expires.data
        && ngx_apikey_parse_expires(rf.expires.data, rf.expires.len,
                                    &rec->expires)
           != NGX_APIKEY_OK)
    {
        why = "\"expires\" is not a number of seconds";
        goto invalid;
    }

    rec->deprecated = 0;

    if (rf.deprecated.data
        && ngx_apikey_parse_deprecated(rf.deprecated.data, rf.deprecated.len,
                                       &rec->deprecated)
           != NGX_APIKEY_OK)
    {
        why = "\"deprecated\" is not a number of seconds";
        goto invalid;
    }

    rec->limit = NGX_HTTP_APIKEY_LIMIT_DEFAULT;
    limits.set = 0;

    if (rf.limit.data) {
        if (ngx_apikey_parse_limit(rf.limit.data, rf.limit.len, &limits)
            != NGX_APIKEY_OK)
        {
            why = "\"limit\" is not a number or \"unlimited\" or terms "
                  "such as \"20/s 1000/h\"";
            goto invalid;
        }

        rec->limit = (limits.set & (1 << NGX_HTTP_APIKEY_HOUR))
                     ? limits.n[NGX_HTTP_APIKEY_HOUR]
                     : NGX_HTTP_APIKEY_LIMIT_UNLIMITED;
        rec->windows = (uint8_t) (limits.set
                                  & ~(1 << NGX_HTTP_APIKEY_HOUR));
    }

    nips = 0;

    if (rf.ips.data
        && ngx_apikey_parse_ips(rf.ips.data, rf.ips.len, cidr, &nips)
           == NGX_APIKEY_BAD)
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
        && ngx_apikey_parse_grants(rf.grants.data, rf.grants.len, p, &len)
           != NGX_APIKEY_OK)
    {
        why = "bad \"grants\"";
        goto invalid;
    }

    rec->grants_len = (uint16_t) len;

    p += len;

    for (w = 0; w < NGX_HTTP_APIKEY_NWINDOWS; w++) {
        if (rec->windows & (1 << w)) {
            p = ngx_cpymem(p, &limits.n[w], sizeof(uint32_t));
        }
    }

    *size = ngx_http_apikey_record_size(rec);

    return NGX_OK;

invalid:

    id = &rf.id;

    if (!ngx_apikey_id_valid(id->data, id->len)) {
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


/*
 * The terms of a record's "limit" (limits->set 0: "unlimited"); NGX_DECLINED
 * when the record has none, and the location's default applies.
 */

ngx_int_t
ngx_http_apikey_record_get_limits(ngx_http_apikey_record_t *rec,
    ngx_apikey_limits_t *limits)
{
    u_char      *p;
    ngx_uint_t   w;

    ngx_memzero(limits, sizeof(ngx_apikey_limits_t));

    if (rec->limit == NGX_HTTP_APIKEY_LIMIT_DEFAULT) {
        return NGX_DECLINED;
    }

    if (rec->limit != NGX_HTTP_APIKEY_LIMIT_UNLIMITED) {
        limits->n[NGX_HTTP_APIKEY_HOUR] = rec->limit;
        limits->set = 1 << NGX_HTTP_APIKEY_HOUR;
    }

    p = ngx_http_apikey_record_limits(rec);

    for (w = 0; w < NGX_HTTP_APIKEY_NWINDOWS; w++) {
        if (rec->windows & (1 << w)) {
            ngx_memcpy(&limits->n[w], p, sizeof(uint32_t));
            limits->set |= 1 << w;
            p += sizeof(uint32_t);
        }
    }

    return NGX_OK;
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
