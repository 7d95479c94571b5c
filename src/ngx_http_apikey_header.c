
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
static ngx_uint_t ngx_http_apikey_header_kind(
    ngx_http_apikey_loc_conf_t *alcf, ngx_table_elt_t *h, ngx_str_t *value);


static ngx_http_header_handler_pt  ngx_http_apikey_authorization_original;
static ngx_uint_t                  ngx_http_apikey_patch_count;


/*
 * nginx refuses a second Authorization header with 400 before any module
 * runs; SPEC 3.2 wants 401 "invalid" for it in guarded locations.  We keep
 * the first copy where nginx keeps it and remember the duplicate in the
 * request's context; the access handler then answers 401 where the module
 * is on and nginx's own 400 everywhere else.
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

    ctx = ngx_http_get_module_ctx(r, ngx_http_apikey_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_apikey_ctx_t));
        if (ctx == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_apikey_module);
    }

    ctx->duplicate_authorization = 1;

    return NGX_OK;
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
    ngx_str_t         bearer, secret, value;
    ngx_uint_t        i, nsecret, nbearer;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    nbearer = 0;
    nsecret = 0;
    ngx_str_null(&bearer);
    ngx_str_null(&secret);

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

        switch (ngx_http_apikey_header_kind(alcf, &h[i], &value)) {

        case NGX_HTTP_APIKEY_HEADER_XSECRET:
            nsecret++;
            secret = value;
            break;

        case NGX_HTTP_APIKEY_HEADER_BEARER:
            nbearer++;
            bearer = value;
            break;

        default:
            break;
        }
    }

    if (nbearer == 0 && nsecret == 0) {

        if ((alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
            && ctx->duplicate_authorization)
        {
            return NGX_HTTP_APIKEY_INVALID;
        }

        return NGX_HTTP_APIKEY_MISSING;
    }

    *key = nbearer ? bearer : secret;
    ctx->key = *key;

    if (nbearer > 1 || nsecret > 1
        || ((alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
            && ctx->duplicate_authorization))
    {
        return NGX_HTTP_APIKEY_INVALID;
    }

    if (nbearer && nsecret
        && (bearer.len != secret.len
            || sodium_memcmp(bearer.data, secret.data, bearer.len) != 0))
    {
        return NGX_HTTP_APIKEY_INVALID;
    }

    return NGX_HTTP_APIKEY_OK;
}


/* "Bearer <token>", the scheme in any case; NGX_DECLINED for others */

static ngx_int_t
ngx_http_apikey_bearer(ngx_str_t *value, ngx_str_t *key)
{
    u_char      *p, *last;
    ngx_uint_t   i;

    if (value->len < 6) {
        return NGX_DECLINED;
    }

    /* for letters, | 0x20 is exactly a lowercase compare */

    for (i = 0; i < 6; i++) {
        if ((value->data[i] | 0x20) != "bearer"[i]) {
            return NGX_DECLINED;
        }
    }

    p = value->data + 6;
    last = value->data + value->len;

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
 * SPEC 3.3.  With alcf == NULL only the characters are checked (used to
 * validate apikey_prefix at configuration time).
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

        if (ngx_http_apikey_header_kind(alcf, &h[i], &value)) {
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
 * Which key header h is, with its key in value; 0 for other headers.
 * nginx gives every request header its name in lowercase, so a plain
 * memcmp() does what a case-insensitive compare would.
 */

static ngx_uint_t
ngx_http_apikey_header_kind(ngx_http_apikey_loc_conf_t *alcf,
    ngx_table_elt_t *h, ngx_str_t *value)
{
    if (h->key.len == 12
        && (alcf->headers & NGX_HTTP_APIKEY_HEADER_XSECRET)
        && ngx_memcmp(h->lowcase_key, "x-secret-key", 12) == 0)
    {
        *value = h->value;
        return NGX_HTTP_APIKEY_HEADER_XSECRET;
    }

    if (h->key.len == 13
        && (alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
        && ngx_memcmp(h->lowcase_key, "authorization", 13) == 0
        && ngx_http_apikey_bearer(&h->value, value) == NGX_OK)
    {
        return NGX_HTTP_APIKEY_HEADER_BEARER;
    }

    return 0;
}
