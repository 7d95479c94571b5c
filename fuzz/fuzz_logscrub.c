
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Fuzzes the error-log guard of src/ngx_http_apikey_log.c: the writer that
 * ngx_http_apikey_guard_log() puts on a log must keep raw keys out of
 * nginx's own lines (docs/security.md: the raw key never appears in any
 * log line, at any level).
 *
 * Input: one request header line, "Name: value" (split at the first ':',
 * spaces after it skipped).  nginx logs it at debug level as
 * http header: "Name: value"; the line goes through the guarded log.
 *
 * Invariant: where ngx_http_apikey_read_key() finds a key in that header
 * (both built-in headers enabled, and the custom headers X-API-Key and
 * api-key, which the guard knows as the http block's) and the key has the
 * syntax of a key, the value
 * part of the line written, after the scheme, does not contain it (the
 * name may, by chance: "Authoriza" is in "Authorization"; so may the
 * scheme and "[hidden]").  The line never grows.
 *
 * The same header is also logged as nginx logs a header it refuses
 * ('client sent invalid header line: "Name: value"', as for a near-miss
 * name like "X_Secret_Key") and as a variable's value at debug level
 * ('http script var: "value"').  Invariant: a value that looks like a key
 * (the syntax of a key, 16 characters or more, spaces and tabs around it
 * aside) is not in what follows the name in those lines.
 */


#include "fuzz_common.h"


/* the http block's custom headers, each name followed by its ':' */

static ngx_http_apikey_names_t  fuzz_names = {
    2, { { 9, (u_char *) "x-api-key:" }, { 7, (u_char *) "api-key:" } }
};

static ngx_log_t        fuzz_guarded;
static ngx_open_file_t  fuzz_guarded_file;
static u_char           fuzz_line[NGX_MAX_ERROR_STR + 1];
static size_t           fuzz_line_len;
static ngx_uint_t       fuzz_nlines;


static void
fuzz_capture(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    if (len > NGX_MAX_ERROR_STR) {
        len = NGX_MAX_ERROR_STR;
    }

    ngx_memcpy(fuzz_line, buf, len);
    fuzz_line_len = len;
    fuzz_nlines++;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_conf_t   cf;
    ngx_pool_t  *pool;

    fuzz_init();

    pool = ngx_create_pool(4096, fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.log = fuzz_log;

    fuzz_guarded_file.fd = ngx_stderr;
    fuzz_guarded.file = &fuzz_guarded_file;
    fuzz_guarded.log_level = NGX_LOG_DEBUG_ALL;
    fuzz_guarded.writer = fuzz_capture;

    if (ngx_http_apikey_guard_log(&cf, &fuzz_guarded, &fuzz_names) != NGX_OK
        || fuzz_guarded.writer == fuzz_capture)
    {
        fprintf(stderr, "ngx_http_apikey_guard_log() put no writer\n");
        abort();
    }

    /* pool kept: the guard's state lives in it */

    return 0;
}


static u_char *
fuzz_find(u_char *hay, size_t n, u_char *needle, size_t m)
{
    size_t  i;

    for (i = 0; i + m <= n; i++) {
        if (ngx_memcmp(hay + i, needle, m) == 0) {
            return hay + i;
        }
    }

    return NULL;
}


/*
 * Logs the header as an invalid header line, or its value as a script
 * variable's, through the guarded log; checks that a key-looking value is
 * not in the line after the name.
 */

static void
fuzz_log_value(ngx_table_elt_t *h, ngx_str_t *value, ngx_uint_t script)
{
    u_char      *p, *last;
    ngx_uint_t   nlines;

    nlines = fuzz_nlines;
    fuzz_line_len = 0;

    if (script) {
        ngx_log_error(NGX_LOG_DEBUG, &fuzz_guarded, 0,
                      "http script var: \"%V\"", &h->value);

    } else {
        ngx_log_error(NGX_LOG_INFO, &fuzz_guarded, 0,
                      "client sent invalid header line: \"%V: %V\"",
                      &h->key, &h->value);
    }

    fuzz_check(fuzz_nlines == nlines + 1, "the guarded log wrote no line");
    fuzz_check(fuzz_line_len <= NGX_MAX_ERROR_STR, "the line grew");

    if (value->len < 16
        || ngx_http_apikey_check_syntax(NULL, value) != NGX_OK)
    {
        return;
    }

    last = fuzz_line + fuzz_line_len;

    p = fuzz_find(fuzz_line, fuzz_line_len,
                  (u_char *) (script ? "var: \"" : "line: \""), 6);
    fuzz_check(p != NULL, "the line lost its text");

    p += 6;

    if (!script) {

        /* a value inside the name is the name's business */

        if (fuzz_find(h->key.data, h->key.len, value->data, value->len)) {
            return;
        }

        if ((size_t) (last - p) >= h->key.len
            && ngx_memcmp(p, h->key.data, h->key.len) == 0)
        {
            p += h->key.len;
        }
    }

    fuzz_check(fuzz_find(p, last - p, value->data, value->len) == NULL,
               "a key-looking value is in an invalid-header or "
               "script-var line");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                      *copy, *colon, *v, *last, *p, *lowcase;
    ngx_str_t                    key, trimmed;
    ngx_pool_t                  *pool;
    ngx_uint_t                   nlines;
    ngx_table_elt_t             *h;
    ngx_http_request_t          *r;
    ngx_http_apikey_ctx_t        ctx;
    ngx_http_apikey_loc_conf_t   alcf;
    ngx_http_apikey_decision_e   d;

    if (size == 0 || size > 1024) {
        return 0;
    }

    copy = fuzz_dup(data, size);
    last = copy + size;

    colon = memchr(copy, ':', size);
    if (colon == NULL) {
        free(copy);
        return 0;
    }

    r = calloc(1, sizeof(ngx_http_request_t));
    pool = ngx_create_pool(1024, fuzz_log);
    if (r == NULL || pool == NULL) {
        abort();
    }

    r->pool = pool;

    if (ngx_list_init(&r->headers_in.headers, pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        abort();
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        abort();
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    v = colon + 1;

    while (v < last && *v == ' ') {
        v++;
    }

    h->hash = 1;
    h->key.data = copy;
    h->key.len = colon - copy;
    h->value.data = v;
    h->value.len = last - v;
    lowcase = fuzz_dup(copy, h->key.len);
    h->lowcase_key = lowcase;

    /* nginx's parser lowercases names; the module relies on it */
    for (p = lowcase; p < lowcase + h->key.len; p++) {
        *p = ngx_tolower(*p);
    }

    ngx_memzero(&alcf, sizeof(ngx_http_apikey_loc_conf_t));
    ngx_memzero(&ctx, sizeof(ngx_http_apikey_ctx_t));
    alcf.enable = 1;
    alcf.headers = NGX_HTTP_APIKEY_HEADER_BEARER
                   |NGX_HTTP_APIKEY_HEADER_XSECRET
                   |NGX_HTTP_APIKEY_HEADER_CUSTOM(0)
                   |NGX_HTTP_APIKEY_HEADER_CUSTOM(1);
    alcf.names = &fuzz_names;

    ngx_str_null(&key);
    d = ngx_http_apikey_read_key(r, &alcf, &ctx, &key);

    /* the value without the spaces and tabs around it */

    trimmed = h->value;

    while (trimmed.len
           && (trimmed.data[0] == ' ' || trimmed.data[0] == '\t'))
    {
        trimmed.data++;
        trimmed.len--;
    }

    while (trimmed.len
           && (trimmed.data[trimmed.len - 1] == ' '
               || trimmed.data[trimmed.len - 1] == '\t'))
    {
        trimmed.len--;
    }

    fuzz_log_value(h, &trimmed, 0);
    fuzz_log_value(h, &trimmed, 1);

    /* what ngx_http_process_request_headers() logs for every header */

    nlines = fuzz_nlines;
    fuzz_line_len = 0;

    ngx_log_error(NGX_LOG_DEBUG, &fuzz_guarded, 0,
                  "http header: \"%V: %V\"", &h->key, &h->value);

    fuzz_check(fuzz_nlines == nlines + 1, "the guarded log wrote no line");
    fuzz_check(fuzz_line_len <= NGX_MAX_ERROR_STR, "the line grew");

    if (d != NGX_HTTP_APIKEY_OK
        || ngx_http_apikey_check_syntax(NULL, &key) != NGX_OK)
    {
        goto done;
    }

    /* the value starts after 'http header: "' and "Name: " */

    p = fuzz_find(fuzz_line, fuzz_line_len, (u_char *) "http header: \"", 14);
    fuzz_check(p != NULL, "the line lost its text");

    p += 14;
    last = fuzz_line + fuzz_line_len;

    if ((size_t) (last - p) < h->key.len + 2
        || ngx_memcmp(p, h->key.data, h->key.len) != 0)
    {
        /* the scrubber took something in the name for a value */
        goto done;
    }

    p += h->key.len + 2;

    /* the scheme, and "[hidden]" itself, may hold a short key by chance */

    if (last - p >= 6 && ngx_strncasecmp(p, (u_char *) "bearer", 6) == 0) {
        p += 6;
    }

    if (fuzz_find((u_char *) "[hidden]", 8, key.data, key.len)) {
        goto done;
    }

    fuzz_check(fuzz_find(p, last - p, key.data, key.len) == NULL,
               "a key the module reads is in the log line");

done:

    ngx_destroy_pool(pool);
    free(lowcase);
    free(r);
    free(copy);

    return 0;
}
