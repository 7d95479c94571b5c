
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Reading the key from the request: which headers count (the built-in ones
 * and the operator's own, "header:<name>", whose names are checked here at
 * configuration time), duplicates and disagreements, the key's syntax
 * (token characters, prefix, checksum), the masked form that is safe to
 * log, and removing the key from what is passed upstream.
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
static ngx_int_t ngx_http_apikey_custom_index(ngx_http_apikey_names_t *names,
    ngx_uint_t mask, ngx_table_elt_t *h, ngx_str_t *value);
static ngx_uint_t ngx_http_apikey_same(ngx_str_t *a, ngx_str_t *b);
static char *ngx_http_apikey_bad_name(ngx_str_t *name);
static ngx_int_t ngx_http_apikey_name_body(ngx_conf_t *cf,
    ngx_http_apikey_loc_conf_t *alcf, ngx_str_t *name);
static ngx_uint_t ngx_http_apikey_read_method(ngx_str_t *value);
static void ngx_http_apikey_trim(ngx_str_t *src, ngx_str_t *dst);


#define NGX_HTTP_APIKEY_HEADER_OVERRIDE  0x10000     /* above the custom */


/* the error style's 401 body, around the names of the custom headers */

#define NGX_HTTP_APIKEY_BODY_START                                            \
    "{\"error\":\"Unauthorized\",\"message\":\"Invalid or missing "
#define NGX_HTTP_APIKEY_BODY_END    " header\",\"status_code\":401}"
#define NGX_HTTP_APIKEY_BODY_OR     " or "


/* RFC 9110's token characters, the only ones a header name may hold */

#define ngx_http_apikey_tchar(c)                                              \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9')                                            \
     || ((c) != '\0' && ngx_strchr("!#$%&'*+-.^_`|~", (c)) != NULL))


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
 * Reads the request's headers once: the key headers of every kind, the
 * custom headers named anywhere in the http block included (the
 * location's apikey_headers is applied later, so that a redirect into a
 * location that reads other headers still sees them), and the method
 * override headers.  One pass over the list, which the request needs
 * anyway; a redirect or a subrequest reuses what it found.  Without any
 * custom header configured, a header costs what it did before they
 * existed: one test of names.
 */

ngx_int_t
ngx_http_apikey_scan_headers(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx)
{
    ngx_int_t                  n;
    ngx_str_t                  value;
    ngx_uint_t                 i;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h;
    ngx_http_apikey_custom_t  *c;
    ngx_http_apikey_names_t   *names;

    names = alcf->names;

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

            if (names == NULL) {
                break;
            }

            n = ngx_http_apikey_custom_index(names,
                                             NGX_HTTP_APIKEY_HEADER_CUSTOM_ALL,
                                             &h[i], &value);
            if (n == NGX_DECLINED) {
                break;
            }

            if (ctx->custom == NULL) {
                ctx->custom = ngx_pcalloc(r->pool, names->n
                                          * sizeof(ngx_http_apikey_custom_t));
                if (ctx->custom == NULL) {
                    return NGX_ERROR;
                }
            }

            c = &ctx->custom[n];

            if (c->n < 2) {
                c->n++;
            }

            c->value = value;
            break;
        }
    }

    ctx->scanned = 1;

    return NGX_OK;
}


/*
 * The key header kinds the location reads that the request sent (at the
 * first pass: a redirect finds them in the context).
 */

ngx_uint_t
ngx_http_apikey_present(ngx_http_apikey_loc_conf_t *alcf,
    ngx_http_apikey_ctx_t *ctx)
{
    ngx_uint_t  i, present;

    present = (ctx->nbearer ? NGX_HTTP_APIKEY_HEADER_BEARER : 0)
              | (ctx->nsecret ? NGX_HTTP_APIKEY_HEADER_XSECRET : 0);

    if (ctx->custom && alcf->names) {
        for (i = 0; i < alcf->names->n; i++) {
            if (ctx->custom[i].n) {
                present |= NGX_HTTP_APIKEY_HEADER_CUSTOM(i);
            }
        }
    }

    return present & alcf->headers;
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
    ngx_str_t                 *custom;
    ngx_uint_t                 i, nsecret, nbearer, ncustom, twice;
    ngx_http_apikey_custom_t  *c;

    if (!ctx->scanned
        && ngx_http_apikey_scan_headers(r, alcf, ctx) != NGX_OK)
    {
        return NGX_HTTP_APIKEY_NDECISIONS;
    }

    nbearer = (alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
              ? ctx->nbearer : 0;
    nsecret = (alcf->headers & NGX_HTTP_APIKEY_HEADER_XSECRET)
              ? ctx->nsecret : 0;

    /* the custom headers the location reads, where some were sent */

    ncustom = 0;
    twice = 0;
    custom = NULL;

    if (ctx->custom && (alcf->headers & NGX_HTTP_APIKEY_HEADER_CUSTOM_ALL)) {

        for (i = 0; i < alcf->names->n; i++) {
            c = &ctx->custom[i];

            if (c->n == 0
                || !(alcf->headers & NGX_HTTP_APIKEY_HEADER_CUSTOM(i)))
            {
                continue;
            }

            if (custom == NULL) {
                custom = &c->value;
            }

            twice |= (c->n > 1);
            ncustom++;
        }
    }

    if (nbearer == 0 && nsecret == 0 && ncustom == 0) {

        if ((alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
            && ctx->duplicate_authorization)
        {
            return NGX_HTTP_APIKEY_INVALID;
        }

        ngx_str_null(&ctx->key);

        return NGX_HTTP_APIKEY_MISSING;
    }

    *key = nbearer ? ctx->bearer : (nsecret ? ctx->secret : *custom);
    ctx->key = *key;

    if (nbearer > 1 || nsecret > 1 || twice
        || ((alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER)
            && ctx->duplicate_authorization))
    {
        return NGX_HTTP_APIKEY_INVALID;
    }

    if (nbearer && nsecret
        && !ngx_http_apikey_same(&ctx->bearer, &ctx->secret))
    {
        return NGX_HTTP_APIKEY_INVALID;
    }

    /* every enabled header sent must carry the same key */

    for (i = 0; ncustom && i < alcf->names->n; i++) {
        c = &ctx->custom[i];

        if (c->n
            && (alcf->headers & NGX_HTTP_APIKEY_HEADER_CUSTOM(i))
            && !ngx_http_apikey_same(key, &c->value))
        {
            return NGX_HTTP_APIKEY_INVALID;
        }
    }

    return NGX_HTTP_APIKEY_OK;
}


/* two keys compared in constant time (for equal lengths) */

static ngx_uint_t
ngx_http_apikey_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len && sodium_memcmp(a->data, b->data, a->len) == 0;
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
    ngx_uint_t        i, n, kind, custom;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    custom = alcf->names
             && (alcf->headers & NGX_HTTP_APIKEY_HEADER_CUSTOM_ALL);

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

        kind = ngx_http_apikey_header_kind(alcf->headers, &h[i], &value);

        if (kind == 0
            && custom
            && ngx_http_apikey_custom_index(alcf->names, alcf->headers, &h[i],
                                            &value)
               != NGX_DECLINED)
        {
            kind = NGX_HTTP_APIKEY_HEADER_CUSTOM(0);
        }

        if (kind & ~NGX_HTTP_APIKEY_HEADER_OVERRIDE) {
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


/*
 * Which of the custom headers in mask h is, with its key in value, or
 * NGX_DECLINED.  Names are compared with the lowercase name nginx gives
 * every request header (HTTP/2's are lowercase already).
 */

static ngx_int_t
ngx_http_apikey_custom_index(ngx_http_apikey_names_t *names, ngx_uint_t mask,
    ngx_table_elt_t *h, ngx_str_t *value)
{
    ngx_uint_t  i;

    for (i = 0; i < names->n; i++) {

        if (h->key.len == names->name[i].len
            && (mask & NGX_HTTP_APIKEY_HEADER_CUSTOM(i))
            && ngx_memcmp(h->lowcase_key, names->name[i].data, h->key.len)
               == 0)
        {
            ngx_http_apikey_trim(&h->value, value);
            return i;
        }
    }

    return NGX_DECLINED;
}


/*
 * apikey_headers header:<name>: checks the name, gives it its place in the
 * http block's table of names (*names) and its kind in alcf->headers, and
 * names it in the location's error style 401 body.
 */

ngx_int_t
ngx_http_apikey_custom_header(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_names_t **names,
    ngx_str_t *value)
{
    u_char     *p;
    char       *why;
    ngx_str_t   name;
    ngx_uint_t  i;

    name.data = value->data + 7;
    name.len = value->len - 7;

    why = ngx_http_apikey_bad_name(&name);

    if (why) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, %s",
                           value, &cmd->name, why);
        return NGX_ERROR;
    }

    if (*names == NULL) {
        *names = ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_names_t));
        if (*names == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < (*names)->n; i++) {
        if ((*names)->name[i].len == name.len
            && ngx_strncasecmp((*names)->name[i].data, name.data, name.len)
               == 0)
        {
            break;
        }
    }

    if (i == NGX_HTTP_APIKEY_MAX_CUSTOM) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "the http block may name at most %d different "
                           "headers", value, &cmd->name,
                           NGX_HTTP_APIKEY_MAX_CUSTOM);
        return NGX_ERROR;
    }

    if (i == (*names)->n) {
        p = ngx_pnalloc(cf->pool, name.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(p, name.data, name.len);
        p[name.len] = ':';

        (*names)->name[i].data = p;
        (*names)->name[i].len = name.len;
        (*names)->n++;
    }

    if (alcf->headers & NGX_HTTP_APIKEY_HEADER_CUSTOM(i)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "the header is named twice", value, &cmd->name);
        return NGX_ERROR;
    }

    alcf->headers |= NGX_HTTP_APIKEY_HEADER_CUSTOM(i);

    return ngx_http_apikey_name_body(cf, alcf, &name);
}


/* why a header name cannot carry keys, or NULL */

static char *
ngx_http_apikey_bad_name(ngx_str_t *name)
{
    ngx_uint_t  i;

    static ngx_str_t  overrides[] = {
        ngx_string("X-HTTP-Method-Override"),
        ngx_string("X-HTTP-Method"),
        ngx_string("X-Method-Override"),
        ngx_null_string
    };

    if (name->len == 0) {
        return "the header name is empty";
    }

    if (name->len > NGX_HTTP_APIKEY_MAX_HEADER_NAME) {
        return "the header name is longer than 64 characters";
    }

    for (i = 0; i < name->len; i++) {
        if (!ngx_http_apikey_tchar(name->data[i])) {
            return "the header name must be token characters "
                   "(A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)";
        }
    }

    if (name->len == 13
        && ngx_strncasecmp(name->data, (u_char *) "Authorization", 13) == 0)
    {
        return "Authorization is read by \"bearer\"";
    }

    if (name->len == 12
        && ngx_strncasecmp(name->data, (u_char *) "X-Secret-Key", 12) == 0)
    {
        return "X-Secret-Key is read by \"x-secret-key\"";
    }

    for (i = 0; overrides[i].len; i++) {
        if (name->len == overrides[i].len
            && ngx_strncasecmp(name->data, overrides[i].data, name->len) == 0)
        {
            return "a method override header cannot carry keys";
        }
    }

    /*
     * nginx reads these itself and keeps pointers to them (Host, Cookie,
     * User-Agent...): removing the key from the list would not remove it
     * from there.
     */

    for (i = 0; ngx_http_headers_in[i].name.len; i++) {
        if (name->len == ngx_http_headers_in[i].name.len
            && ngx_strncasecmp(name->data, ngx_http_headers_in[i].name.data,
                               name->len)
               == 0)
        {
            return "nginx reads that header itself";
        }
    }

    return NULL;
}


/*
 * The error style's 401 says which header was missing or invalid: with
 * custom headers, their names as configured, joined by " or ".  A name
 * holds token characters only, none of which JSON escapes.
 */

static ngx_int_t
ngx_http_apikey_name_body(ngx_conf_t *cf, ngx_http_apikey_loc_conf_t *alcf,
    ngx_str_t *name)
{
    u_char     *p, *start;
    size_t      len, keep;
    ngx_str_t  *body;

    body = &alcf->unauthorized;

    /* what comes before the new name: the start, or the names so far */

    if (body->len == 0) {
        start = (u_char *) NGX_HTTP_APIKEY_BODY_START;
        keep = sizeof(NGX_HTTP_APIKEY_BODY_START) - 1;

    } else {
        start = body->data;
        keep = body->len - (sizeof(NGX_HTTP_APIKEY_BODY_END) - 1);
    }

    len = keep + (body->len ? sizeof(NGX_HTTP_APIKEY_BODY_OR) - 1 : 0)
          + name->len + sizeof(NGX_HTTP_APIKEY_BODY_END) - 1;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    p = ngx_cpymem(p, start, keep);

    if (body->len) {
        p = ngx_cpymem(p, NGX_HTTP_APIKEY_BODY_OR,
                       sizeof(NGX_HTTP_APIKEY_BODY_OR) - 1);
    }

    p = ngx_cpymem(p, name->data, name->len);
    ngx_memcpy(p, NGX_HTTP_APIKEY_BODY_END,
               sizeof(NGX_HTTP_APIKEY_BODY_END) - 1);

    body->len = len;

    return NGX_OK;
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
