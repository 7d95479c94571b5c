
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Fuzzes key extraction and key syntax (src/ngx_http_apikey_header.c):
 * ngx_http_apikey_read_key() on a fake request, then
 * ngx_http_apikey_check_syntax(), ngx_http_apikey_mask() and
 * ngx_http_apikey_remove_key_headers().
 *
 * Input: byte 0 chooses the location's configuration (bit 0: checksum on;
 * bits 1-2: headers, 0 meaning both; bit 3: a duplicate Authorization was
 * seen; bits 4-6: the prefix, from a table or, for 7, the first line of the
 * rest; bit 7: the custom headers X-API-Key and api-key are read too, as
 * "apikey_headers ... header:X-API-Key header:api-key" says; without it
 * they are named elsewhere in the http block, so scanned but not read).
 * The rest is the request's header lines "Name: value", one per '\n';
 * the whole rest is also checked as a key by itself.
 *
 * Invariants: read_key answers OK, MISSING or INVALID, and an OK key lies
 * inside the value of an enabled key header; check_syntax agrees with a
 * reference written from docs/decision.md, step 3; mask agrees with a
 * reference, never writes past prefix + 11 bytes and never shows more
 * than eight characters after the prefix; remove_key_headers leaves every
 * other header, in order, and no X-Secret-Key, Bearer Authorization or
 * custom header of an enabled kind, and r->headers_in.authorization never
 * points to a removed header.
 */


#include "fuzz_common.h"
#include "ngx_apikey_format.h"


#define FUZZ_MAX_HEADERS  64


/* the http block's custom headers, each name followed by its ':' */

static ngx_http_apikey_names_t  fuzz_names = {
    2, { { 9, (u_char *) "x-api-key:" }, { 7, (u_char *) "api-key:" } }
};

#define FUZZ_CUSTOM                                                           \
    (NGX_HTTP_APIKEY_HEADER_CUSTOM(0)|NGX_HTTP_APIKEY_HEADER_CUSTOM(1))


static ngx_str_t  fuzz_prefixes[] = {
    ngx_null_string,
    ngx_string("taapit_"),
    ngx_string("sk_"),
    ngx_string("t"),
    ngx_string("key-"),
    ngx_string("=x"),
    ngx_string("taapit_taapit_"),
};


static ngx_uint_t
fuzz_token_char(u_char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~' || c == '+'
           || c == '/';
}


/* docs/decision.md, step 3, written independently of the module */

static ngx_int_t
fuzz_ref_syntax(ngx_http_apikey_loc_conf_t *alcf, ngx_str_t *key)
{
    size_t  i;

    if (key->len < 1 || key->len > 256) {
        return NGX_DECLINED;
    }

    for (i = 0; i < key->len && fuzz_token_char(key->data[i]); i++) {
        /* void */
    }

    if (i == 0) {
        return NGX_DECLINED;
    }

    for ( /* void */ ; i < key->len; i++) {
        if (key->data[i] != '=') {
            return NGX_DECLINED;
        }
    }

    if (alcf->prefix.len
        && (key->len <= alcf->prefix.len
            || memcmp(key->data, alcf->prefix.data, alcf->prefix.len) != 0))
    {
        return NGX_DECLINED;
    }

    if (alcf->checksum && !ngx_apikey_checksum_valid(key->data, key->len)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static size_t
fuzz_ref_mask(u_char *dst, ngx_str_t *key, ngx_str_t *prefix)
{
    u_char  *p;
    size_t   skip, rest;

    p = dst;
    skip = 0;

    if (prefix->len && key->len > prefix->len
        && memcmp(key->data, prefix->data, prefix->len) == 0)
    {
        memcpy(p, prefix->data, prefix->len);
        p += prefix->len;
        skip = prefix->len;
    }

    rest = key->len - skip;

    if (rest >= 16) {
        memcpy(p, key->data + skip, 4);
        p += 4;
    }

    memcpy(p, "...", 3);
    p += 3;

    if (rest >= 16) {
        memcpy(p, key->data + key->len - 4, 4);
        p += 4;
    }

    return p - dst;
}


static void
fuzz_key(ngx_http_apikey_loc_conf_t *alcf, ngx_str_t *key)
{
    u_char     *dst, ref[NGX_HTTP_APIKEY_MAX_PREFIX + 11];
    size_t      n, m, cap;
    ngx_int_t   rc;

    rc = ngx_http_apikey_check_syntax(alcf, key);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED,
               "check_syntax returned something else than OK or DECLINED");
    fuzz_check(rc == fuzz_ref_syntax(alcf, key),
               "check_syntax disagrees with the reference");

    rc = ngx_http_apikey_check_syntax(NULL, key);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED,
               "check_syntax(NULL) returned something else");

    /* the module masks any key presented, valid or not */

    cap = alcf->prefix.len + 11;
    dst = malloc(cap);
    if (dst == NULL) {
        abort();
    }

    n = ngx_http_apikey_mask(dst, key, &alcf->prefix);
    m = fuzz_ref_mask(ref, key, &alcf->prefix);

    fuzz_check(n <= cap, "mask wrote more than prefix + 11 bytes");
    fuzz_check(n == m && memcmp(dst, ref, n) == 0,
               "mask disagrees with the reference");

    free(dst);
}


static ngx_uint_t
fuzz_inside_a_value(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char           *lo, *hi;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            lo = h[i].value.data;
            hi = lo + h[i].value.len;

            if (key->data >= lo && key->data + key->len <= hi) {
                return 1;
            }
        }
    }

    return 0;
}


/* docs/decision.md, step 2: which headers carry a key, read
 * independently of the module */

static ngx_uint_t
fuzz_is_key_header(ngx_http_apikey_loc_conf_t *alcf, ngx_table_elt_t *h)
{
    u_char  *v, *last;

    if ((alcf->headers & NGX_HTTP_APIKEY_HEADER_XSECRET)
        && h->key.len == 12
        && ngx_strncasecmp(h->key.data, (u_char *) "x-secret-key", 12) == 0)
    {
        return 1;
    }

    if ((alcf->headers & NGX_HTTP_APIKEY_HEADER_CUSTOM(0))
        && h->key.len == 9
        && ngx_strncasecmp(h->key.data, (u_char *) "X-API-Key", 9) == 0)
    {
        return 1;
    }

    if ((alcf->headers & NGX_HTTP_APIKEY_HEADER_CUSTOM(1))
        && h->key.len == 7
        && ngx_strncasecmp(h->key.data, (u_char *) "api-key", 7) == 0)
    {
        return 1;
    }

    if (!(alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
        || h->key.len != 13
        || ngx_strncasecmp(h->key.data, (u_char *) "authorization", 13) != 0)
    {
        return 0;
    }

    /* spaces and tabs before the scheme are skipped (docs/decision.md) */

    v = h->value.data;
    last = v + h->value.len;

    while (v < last && (*v == ' ' || *v == '\t')) {
        v++;
    }

    if (last - v < 6 || ngx_strncasecmp(v, (u_char *) "bearer", 6) != 0) {
        return 0;
    }

    v += 6;

    return v == last || *v == ' ' || *v == '\t';
}


static void
fuzz_check_removed(ngx_http_request_t *r, ngx_list_t *orig,
    ngx_http_apikey_loc_conf_t *alcf)
{
    ngx_uint_t        i, j, found;
    ngx_list_part_t  *part, *npart;
    ngx_table_elt_t  *h, *nh;

    npart = &r->headers_in.headers.part;
    nh = npart->elts;
    j = 0;
    found = (r->headers_in.authorization == NULL);

    for (part = &orig->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (fuzz_is_key_header(alcf, &h[i])) {
                fuzz_check(r->headers_in.authorization != &h[i],
                           "headers_in.authorization points to a removed "
                           "key header");
                continue;
            }

            while (npart && j >= npart->nelts) {
                npart = npart->next;
                nh = npart ? npart->elts : NULL;
                j = 0;
            }

            fuzz_check(npart != NULL, "a header that is no key was removed");
            fuzz_check(nh[j].key.data == h[i].key.data
                       && nh[j].value.data == h[i].value.data,
                       "the headers left are not the others, in order");

            if (r->headers_in.authorization == &h[i]
                || r->headers_in.authorization == &nh[j])
            {
                found = 1;
            }

            j++;
        }
    }

    while (npart && j >= npart->nelts) {
        npart = npart->next;
        j = 0;
    }

    fuzz_check(npart == NULL, "remove_key_headers added headers");
    fuzz_check(found, "headers_in.authorization points to no header");
}


static void
fuzz_free_headers(ngx_list_t *list)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &list->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            free(h[i].key.data);
            free(h[i].lowcase_key);
            free(h[i].value.data);
        }
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
    u_char                       flags, *colon, *v;
    size_t                       nlen;
    ngx_str_t                    key, whole;
    ngx_list_t                   orig;
    ngx_uint_t                   i, n, first, kind, enabled;
    ngx_pool_t                  *pool;
    fuzz_piece_t                 lines[FUZZ_MAX_HEADERS + 1];
    ngx_table_elt_t             *h;
    ngx_http_request_t          *r;
    ngx_http_apikey_ctx_t        ctx;
    ngx_http_apikey_loc_conf_t   alcf;
    ngx_http_apikey_decision_e   d;

    if (size < 1 || size > 8192) {
        return 0;
    }

    flags = data[0];

    ngx_memzero(&alcf, sizeof(ngx_http_apikey_loc_conf_t));
    ngx_memzero(&ctx, sizeof(ngx_http_apikey_ctx_t));

    alcf.enable = 1;
    alcf.checksum = flags & 0x01;
    alcf.headers = (flags >> 1) & 0x03;
    if (alcf.headers == 0) {
        alcf.headers = NGX_HTTP_APIKEY_HEADER_BEARER
                       |NGX_HTTP_APIKEY_HEADER_XSECRET;
    }

    ctx.duplicate_authorization = (flags >> 3) & 0x01;

    alcf.names = &fuzz_names;

    if (flags & 0x80) {
        alcf.headers |= FUZZ_CUSTOM;
    }

    data++;
    size--;

    n = fuzz_split(data, size, '\n', lines, FUZZ_MAX_HEADERS + 1);
    first = 0;

    i = (flags >> 4) & 0x07;

    if (i < sizeof(fuzz_prefixes) / sizeof(ngx_str_t)) {
        alcf.prefix = fuzz_prefixes[i];

    } else if (n > 1 && lines[0].len <= NGX_HTTP_APIKEY_MAX_PREFIX) {
        alcf.prefix.data = lines[0].data;
        alcf.prefix.len = lines[0].len;
        first = 1;
    }

    /* the whole input as one key */

    whole.data = fuzz_dup(data, size);
    whole.len = size;
    fuzz_key(&alcf, &whole);
    free(whole.data);

    /* the request */

    r = calloc(1, sizeof(ngx_http_request_t));
    pool = ngx_create_pool(1024, fuzz_log);
    if (r == NULL || pool == NULL) {
        abort();
    }

    r->pool = pool;

    /* two elements a part, so that the walk crosses parts */

    if (ngx_list_init(&r->headers_in.headers, pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        abort();
    }

    enabled = 0;

    for (i = first; i < n; i++) {
        colon = memchr(lines[i].data, ':', lines[i].len);
        if (colon == NULL) {
            continue;
        }

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            abort();
        }

        ngx_memzero(h, sizeof(ngx_table_elt_t));

        nlen = colon - lines[i].data;
        v = colon + 1;

        while (v < lines[i].data + lines[i].len && *v == ' ') {
            v++;
        }

        h->hash = 1;
        h->key.len = nlen;
        h->key.data = fuzz_dup(lines[i].data, nlen);
        h->value.len = lines[i].data + lines[i].len - v;
        h->value.data = fuzz_dup(v, h->value.len);
        h->lowcase_key = fuzz_dup(lines[i].data, nlen);

        /* nginx's parser lowercases names; the module relies on it */
        for (v = h->lowcase_key; v < h->lowcase_key + nlen; v++) {
            *v = ngx_tolower(*v);
        }

        kind = 0;

        if (nlen == 12 && ngx_strncasecmp(h->key.data,
                                          (u_char *) "X-Secret-Key", 12) == 0)
        {
            kind = NGX_HTTP_APIKEY_HEADER_XSECRET;

        } else if (nlen == 13
                   && ngx_strncasecmp(h->key.data, (u_char *) "Authorization",
                                      13) == 0)
        {
            kind = NGX_HTTP_APIKEY_HEADER_BEARER;

        } else if (nlen == 9
                   && ngx_strncasecmp(h->key.data, (u_char *) "X-API-Key",
                                      9) == 0)
        {
            kind = NGX_HTTP_APIKEY_HEADER_CUSTOM(0);

        } else if (nlen == 7
                   && ngx_strncasecmp(h->key.data, (u_char *) "api-key",
                                      7) == 0)
        {
            kind = NGX_HTTP_APIKEY_HEADER_CUSTOM(1);
        }

        enabled += (kind & alcf.headers) ? 1 : 0;

        if (kind == NGX_HTTP_APIKEY_HEADER_BEARER
            && r->headers_in.authorization == NULL)
        {
            r->headers_in.authorization = h;
        }
    }

    ngx_str_null(&key);

    d = ngx_http_apikey_read_key(r, &alcf, &ctx, &key);

    fuzz_check(d == NGX_HTTP_APIKEY_OK || d == NGX_HTTP_APIKEY_MISSING
               || d == NGX_HTTP_APIKEY_INVALID,
               "read_key returned an unexpected decision");

    if (enabled == 0) {
        fuzz_check(d != NGX_HTTP_APIKEY_OK,
                   "a key was found without any enabled key header");
    }

    if (d == NGX_HTTP_APIKEY_OK) {
        fuzz_check(!ctx.duplicate_authorization
                   || !(alcf.headers & NGX_HTTP_APIKEY_HEADER_BEARER),
                   "OK although a duplicate Authorization was seen");
        fuzz_check(ctx.key.data == key.data && ctx.key.len == key.len,
                   "ctx->key is not the key returned");

        fuzz_check(fuzz_inside_a_value(r, &key),
                   "the key does not lie inside a header value");

        fuzz_key(&alcf, &key);
    }

    orig = r->headers_in.headers;

    fuzz_check(ngx_http_apikey_remove_key_headers(r, &alcf) == NGX_OK,
               "remove_key_headers failed");

    fuzz_check_removed(r, &orig, &alcf);

    fuzz_free_headers(&orig);
    ngx_destroy_pool(pool);
    free(r);
    fuzz_free_pieces(lines, n);

    return 0;
}
