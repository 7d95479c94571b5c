
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Expiry warnings (apikey_expiry_warning, docs/directives.md): a header
 * filter that tells the client of a key about to end, before the key
 * fails, in the headers of RFC 8594 and RFC 9745:
 *
 *     Sunset: <the key's "expires" as an IMF-fixdate HTTP-date>
 *     Deprecation: @<the record's "deprecated", unix seconds>
 *     Link: <URL>; rel="deprecation"
 *     Link: <URL>; rel="sunset"
 *
 * Sunset goes on the responses of a key whose "expires" is at most the
 * configured time away; Deprecation too when the key was replaced by a
 * rotation ("deprecated", written by apikeyctl rotate); each Link where
 * the directive names a documentation URL.  The filter runs for the
 * upstream's response as for the module's own 403 forbidden and 429: the
 * responses to a known, unexpired key used from an allowed address.  The
 * access phase copies "expires" and "deprecated" from the record into the
 * request's context (ngx_http_apikey_policy.c).
 */


#include "ngx_http_apikey.h"


/* the longest time the warning may start before the end: a year */
#define NGX_HTTP_APIKEY_WARNING_MAX  (365 * 24 * 3600)


static ngx_int_t ngx_http_apikey_sunset_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_apikey_sunset_link(ngx_http_request_t *r,
    ngx_str_t *url, ngx_str_t *rel);
static ngx_uint_t ngx_http_apikey_link_valid(ngx_str_t *url);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_apikey_sunset_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_apikey_sunset_filter;

    return NGX_OK;
}


/* apikey_expiry_warning time [link=URL] | off; */

char *
ngx_http_apikey_expiry_warning(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_apikey_loc_conf_t *alcf = conf;

    time_t      t;
    ngx_str_t  *value, url;

    if (alcf->expiry_warning != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {

        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive: \"off\" takes none",
                               &value[2], &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->expiry_warning = 0;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 1);

    if (t == (time_t) NGX_ERROR || t <= 0
        || t > NGX_HTTP_APIKEY_WARNING_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a time from 1s to 365d, or \"off\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts > 2) {

        if (value[2].len <= 5
            || ngx_strncmp(value[2].data, "link=", 5) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive, it must be \"link=URL\"",
                               &value[2], &cmd->name);
            return NGX_CONF_ERROR;
        }

        url.data = value[2].data + 5;
        url.len = value[2].len - 5;

        if (!ngx_http_apikey_link_valid(&url)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid URL \"%V\" in \"%V\" directive, "
                               "it must be printable ASCII without spaces, "
                               "\"<\", \">\" or '\"'", &url, &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->expiry_link = url;
    }

    alcf->expiry_warning = t;

    return NGX_CONF_OK;
}


/*
 * A URI reference as RFC 3986 writes it is printable ASCII; what would
 * end the <...> of a Link header, or quote it, is refused.
 */

static ngx_uint_t
ngx_http_apikey_link_valid(ngx_str_t *url)
{
    ngx_uint_t  i;

    for (i = 0; i < url->len; i++) {
        if (url->data[i] <= 0x20 || url->data[i] >= 0x7f
            || url->data[i] == '<' || url->data[i] == '>'
            || url->data[i] == '"')
        {
            return 0;
        }
    }

    return url->len > 0;
}


static ngx_int_t
ngx_http_apikey_sunset_filter(ngx_http_request_t *r)
{
    u_char                      *p;
    time_t                       now, expires;
    ngx_http_apikey_ctx_t       *ctx;
    ngx_http_apikey_loc_conf_t  *alcf;

    static ngx_str_t  sunset = ngx_string("Sunset");
    static ngx_str_t  deprecation = ngx_string("Deprecation");
    static ngx_str_t  rel_sunset = ngx_string("sunset");
    static ngx_str_t  rel_deprecation = ngx_string("deprecation");

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apikey_module);

    if (alcf->expiry_warning == 0) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_apikey_find_ctx(r);

    if (ctx == NULL || !ctx->decided || ctx->sunset_sent
        || ctx->expires == 0)
    {
        return ngx_http_next_header_filter(r);
    }

    /*
     * A key that has ended got 401 expired: no warning.  Neither do the
     * refusals of keys unknown, revoked, or used from an address outside
     * their "ips": who sent it may not be the key's holder, and learns
     * nothing of the key.
     */

    switch (ctx->decision) {

    case NGX_HTTP_APIKEY_OK:
    case NGX_HTTP_APIKEY_FORBIDDEN:
    case NGX_HTTP_APIKEY_LIMITED:
        break;

    default:
        return ngx_http_next_header_filter(r);
    }

    expires = (time_t) ctx->expires;
    now = ngx_http_apikey_now(r);

    if (now < expires - alcf->expiry_warning) {
        return ngx_http_next_header_filter(r);
    }

    ctx->sunset_sent = 1;

    /*
     * RFC 9745: Sunset must not be earlier than Deprecation.  A record
     * that says so (written by hand: rotate never does) keeps its
     * Sunset and loses its Deprecation.
     */

    if (ctx->deprecated && ctx->deprecated <= ctx->expires) {
        p = ngx_pnalloc(r->pool, sizeof("@4294967295") - 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_apikey_add_text(r, &deprecation, p,
                                     ngx_sprintf(p, "@%uD", ctx->deprecated)
                                     - p)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (alcf->expiry_link.len
            && ngx_http_apikey_sunset_link(r, &alcf->expiry_link,
                                           &rel_deprecation)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    p = ngx_pnalloc(r->pool, sizeof("Mon, 28 Sep 1970 06:00:00 GMT") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_apikey_add_text(r, &sunset, p,
                                 ngx_http_time(p, expires) - p)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (alcf->expiry_link.len
        && ngx_http_apikey_sunset_link(r, &alcf->expiry_link, &rel_sunset)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_apikey_sunset_link(ngx_http_request_t *r, ngx_str_t *url,
    ngx_str_t *rel)
{
    u_char  *p, *last;
    size_t   len;

    static ngx_str_t  link = ngx_string("Link");

    len = sizeof("<>; rel=\"\"") - 1 + url->len + rel->len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "<%V>; rel=\"%V\"", url, rel);

    return ngx_http_apikey_add_text(r, &link, p, last - p);
}
