
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Reading the key from the request: which headers count, duplicates and
 * disagreements, the key's syntax (token characters, prefix, checksum),
 * the masked form that is safe to log, and removing the key from what is
 * passed upstream.
 */


#include "ngx_http_apikey.h"

#include <sodium.h>
#include "ngx_apikey_format.h"


static ngx_int_t ngx_http_apikey_process_authorization(ngx_http_request_t *r,
    ngx_table_elt_t *h, ngx_uint_t offset);
static void ngx_http_apikey_restore_headers_in(void *data);
static ngx_int_t ngx_http_apikey_bearer(ngx_str_t *value, ngx_str_t *key);
static ngx_uint_t ngx_http_apikey_header_kind(ngx_uint_t mask,
    ngx_table_elt_t *h, ngx_str_t *value);
static ngx_uint_t ngx_http_apikey_read_method(ngx_str_t *value);
static void ngx_http_apikey_trim(ngx_str_t *src, ngx_str_t *dst);


#define NGX_HTTP_APIKEY_HEADER_OVERRIDE  0x04


static ngx_http_header_handler_pt  ngx_http_apikey_authorization_original;
static ngx_uint_t                  ngx_http_apikey_patch_count;


/*
 * nginx refuses a second Authorization header with 400 before any module
 * runs; the decision (docs/decision.md) answers 401 "invalid" for it in
 * guarded locations.  We keep the first copy where nginx keeps it and
 * remember the duplicate in the request's context; the access handler then
 * answers 401 where the module is on and nginx's own 400 everywhere else.
 */

ngx_int_t
ngx_http_apikey_patch_headers_in(ngx_conf_t *cf)
{
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    for (i = 0; ngx_http_headers_in[i].name.len; i++) {
        if (ngx_http_headers_in[i].name.len == 13
            && ngx_strncasecmp(ngx_http_headers_in[i].name.data,
                               (u_char *) "Authorization", 13) == 0)
        {
            break;
        }
    }

    if (ngx_http_headers_in[i].name.len == 0) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_apikey_patch_count++ == 0) {
        ngx_http_apikey_authorization_original =
                                            ngx_http_headers_in[i].handler;
        ngx_http_headers_in[i].handler =
                                        ngx_http_apikey_process_authorization;
    }

    /* a cycle that no longer loads the module must get nginx's handler */

    cln->handler = ngx_http_apikey_restore_headers_in;
    cln->data = &ngx_http_headers_in[i];

    return NGX_OK;
}


static void
ngx_http_apikey_restore_headers_in(void *data)
{
    ngx_http_header_t  *hh = data;

    if (--ngx_http_apikey_patch_count == 0) {
        hh->handler = ngx_http_apikey_authorization_original;
    }
}


static ngx_int_t
ngx_http_apikey_process_authorization(ngx_http_request_t *r,
    ngx_table_elt_t *h, ngx_uint_t offset)
{
    ngx_table_elt_t        **ph;
    ngx_http_apikey_ctx_t   *ctx;

    ph = (ngx_table_elt_t **) ((char *) &r->headers_in + offset);

    if (*ph == NULL) {
        *ph = h;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        return NGX_OK;
    }

    /* a context that an internal redirect finds again */

    ctx = ngx_http_apikey_get_ctx(r);

    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    ctx->duplicate_authorization = 1;

    return NGX_OK;
}


/*
 * Reads the request's headers once: the key headers of both kinds (the
 * location's apikey_headers is applied later, so that a redirect into a
 * location that reads other headers still sees them), and the method
 * override headers.  One pass over the list, which the request needs
 * anyway; a redirect or a subrequest reuses what it found.
 */

void
ngx_http_apikey_scan_headers(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx)
{
    ngx_str_t         value;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        switch (ngx_http_apikey_header_kind(NGX_HTTP_APIKEY_HEADER_BEARER
                                            |NGX_HTTP_APIKEY_HEADER_XSECRET,
                                            &h[i], &value))
        {

        case NGX_HTTP_APIKEY_HEADER_XSECRET:
            if (ctx->nsecret < 2) {
                ctx->nsecret++;
            }

            ctx->secret = value;
            break;

        case NGX_HTTP_APIKEY_HEADER_BEARER:
            if (ctx->nbearer < 2) {
                ctx->nbearer++;
            }

            ctx->bearer = value;
            break;

        case NGX_HTTP_APIKEY_HEADER_OVERRIDE:
            if (!ngx_http_apikey_read_method(&value)) {
                ctx->override_write = 1;
            }

            break;

        default:
            break;
        }
    }

    ctx->scanned = 1;
}


/*
 * Finds the key.  Returns NGX_HTTP_APIKEY_OK with the key set,
 * NGX_HTTP_APIKEY_MISSING or NGX_HTTP_APIKEY_INVALID (duplicates and
 * disagreements); ctx->key is set whenever some key was presented, so that
 * the 401 can say error="invalid_token".
 */

ngx_http_apikey_decision_e
ngx_http_apikey_read_key(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx,
    ngx_str_t *key)
{
    ngx_uint_t  nsecret, nbearer;

    if (!ctx->scanned) {
        ngx_http_apikey_scan_headers(r, ctx);
    }

    nbearer = (alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
              ? ctx->nbearer : 0;
    nsecret = (alcf->headers & NGX_HTTP_APIKEY_HEADER_XSECRET)
              ? ctx->nsecret : 0;

    if (nbearer == 0 && nsecret == 0) {

        if ((alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
            && ctx->duplicate_authorization)
        {
            return NGX_HTTP_APIKEY_INVALID;
        }

        ngx_str_null(&ctx->key);

        return NGX_HTTP_APIKEY_MISSING;
    }

    *key = nbearer ? ctx->bearer : ctx->secret;
    ctx->key = *key;

    if (nbearer > 1 || nsecret > 1
        || ((alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
            && ctx->duplicate_authorization))
    {
        return NGX_HTTP_APIKEY_INVALID;
    }

    if (nbearer && nsecret
        && (ctx->bearer.len != ctx->secret.len
            || sodium_memcmp(ctx->bearer.data, ctx->secret.data,
                             ctx->bearer.len)
               != 0))
    {
        return NGX_HTTP_APIKEY_INVALID;
    }

    return NGX_HTTP_APIKEY_OK;
}


/*
 * A method override header's value: 1 if it names a method that only
 * reads (GET, HEAD, OPTIONS, in any case), 0 for anything else, so that
 * an unknown or empty value is taken as a write.
 */

static ngx_uint_t
ngx_http_apikey_read_method(ngx_str_t *value)
{
    switch (value->len) {

    case 3:
        return ngx_strncasecmp(value->data, (u_char *) "GET", 3) == 0;

    case 4:
        return ngx_strncasecmp(value->data, (u_char *) "HEAD", 4) == 0;

    case 7:
        return ngx_strncasecmp(value->data, (u_char *) "OPTIONS", 7) == 0;

    default:
        return 0;
    }
}


/* "Bearer <token>", the scheme in any case; NGX_DECLINED for others */

static ngx_int_t
ngx_http_apikey_bearer(ngx_str_t *value, ngx_str_t *key)
{
    u_char      *p, *last;
    ngx_uint_t   i;

    p = value->data;
    last = p + value->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (last - p < 6) {
        return NGX_DECLINED;
    }

    /* for letters, | 0x20 is exactly a lowercase compare */

    for (i = 0; i < 6; i++) {
        if ((p[i] | 0x20) != "bearer"[i]) {
            return NGX_DECLINED;
        }
    }

    p += 6;

    if (p < last && *p != ' ' && *p != '\t') {
        return NGX_DECLINED;
    }

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    key->data = p;
    key->len = last - p;

    return NGX_OK;
}


/*
 * The key's syntax (docs/decision.md).  With alcf == NULL only the characters
 * are checked (used to validate apikey_prefix at configuration time).
 */

ngx_int_t
ngx_http_apikey_check_syntax(ngx_http_apikey_loc_conf_t *alcf,
    ngx_str_t *key)
{
    if (!ngx_apikey_key_syntax(key->data, key->len)) {
        return NGX_DECLINED;
    }

    if (alcf == NULL) {
        return NGX_OK;
    }

    if (alcf->prefix.len) {
        if (key->len <= alcf->prefix.len
            || ngx_memcmp(key->data, alcf->prefix.data, alcf->prefix.len)
               != 0)
        {
            return NGX_DECLINED;
        }
    }

    if (alcf->checksum
        && !ngx_apikey_checksum_valid(key->data, key->len))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * "taapit_abcd...wxyz": the configured prefix, then at most the first and
 * last four characters of the rest, and only when the rest is long enough
 * (16 or more) that eight characters leave plenty unknown.  dst must hold
 * prefix->len + 11 bytes.
 */

size_t
ngx_http_apikey_mask(u_char *dst, ngx_str_t *key, ngx_str_t *prefix)
{
    u_char  *p, *start;
    size_t   len;

    p = dst;
    start = key->data;
    len = key->len;

    if (prefix->len && len > prefix->len
        && ngx_memcmp(key->data, prefix->data, prefix->len) == 0)
    {
        p = ngx_cpymem(p, prefix->data, prefix->len);
        start += prefix->len;
        len -= prefix->len;
    }

    if (len < 16) {
        return ngx_cpymem(p, "...", 3) - dst;
    }

    p = ngx_cpymem(p, start, 4);
    p = ngx_cpymem(p, "...", 3);
    p = ngx_cpymem(p, start + len - 4, 4);

    return p - dst;
}


/*
 * The key is for us: the upstream must not see it, unless asked for.
 * The request's headers are copied into a new list without the key
 * headers, rather than shifted in place, so that every pointer nginx and
 * other modules keep into the old list still reads the header it read.
 */

ngx_int_t
ngx_http_apikey_remove_key_headers(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf)
{
    ngx_str_t         value;
    ngx_uint_t        i, n;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&headers, r->pool, n ? n : 1, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_apikey_header_kind(alcf->headers, &h[i], &value)
            & (NGX_HTTP_APIKEY_HEADER_BEARER|NGX_HTTP_APIKEY_HEADER_XSECRET))
        {
            if (r->headers_in.authorization == &h[i]) {
                r->headers_in.authorization = NULL;
            }

            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    r->headers_in.headers = headers;

    return NGX_OK;
}


/*
 * Which key header h is (of the kinds in mask), with its key in value; a
 * method override header, with its value; 0 for other headers.  nginx
 * gives every request header its name in lowercase, so a plain memcmp()
 * does what a case-insensitive compare would.  nginx skips only spaces
 * around a value: tabs are skipped here.
 */

static ngx_uint_t
ngx_http_apikey_header_kind(ngx_uint_t mask, ngx_table_elt_t *h,
    ngx_str_t *value)
{
    switch (h->key.len) {

    case 12:
        if ((mask & NGX_HTTP_APIKEY_HEADER_XSECRET)
            && ngx_memcmp(h->lowcase_key, "x-secret-key", 12) == 0)
        {
            ngx_http_apikey_trim(&h->value, value);
            return NGX_HTTP_APIKEY_HEADER_XSECRET;
        }

        return 0;

    case 13:
        if (ngx_memcmp(h->lowcase_key, "authorization", 13) == 0) {

            if ((mask & NGX_HTTP_APIKEY_HEADER_BEARER)
                && ngx_http_apikey_bearer(&h->value, value) == NGX_OK)
            {
                return NGX_HTTP_APIKEY_HEADER_BEARER;
            }

            return 0;
        }

        break;

    case 17:
    case 22:
        break;

    default:
        return 0;
    }

    if ((h->key.len == 13
         && ngx_memcmp(h->lowcase_key, "x-http-method", 13) == 0)
        || (h->key.len == 17
            && ngx_memcmp(h->lowcase_key, "x-method-override", 17) == 0)
        || (h->key.len == 22
            && ngx_memcmp(h->lowcase_key, "x-http-method-override", 22)
               == 0))
    {
        ngx_http_apikey_trim(&h->value, value);
        return NGX_HTTP_APIKEY_HEADER_OVERRIDE;
    }

    return 0;
}


static void
ngx_http_apikey_trim(ngx_str_t *src, ngx_str_t *dst)
{
    u_char  *p, *last;

    p = src->data;
    last = p + src->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    dst->data = p;
    dst->len = last - p;
}
