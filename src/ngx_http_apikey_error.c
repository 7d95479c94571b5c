
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Refusals: the exact JSON bodies of docs/decision.md in both dialects (the
 * error style's 401 naming the location's custom key headers, if any), the
 * status codes, and WWW-Authenticate on 401s where bearer keys are read.
 * The response is sent from the access phase, so error_page does not
 * rewrite it.  Each refusal, sent or let through by a dry run, has its
 * line in the error log.
 */


#include "ngx_http_apikey.h"


typedef struct {
    ngx_uint_t                  status;
    ngx_str_t                   body[2];    /* detail, error */
} ngx_http_apikey_error_t;


#define ngx_http_apikey_unauthorized(message)                                 \
    "{\"error\":\"Unauthorized\",\"message\":\"" message                      \
    "\",\"status_code\":401}"

#define ngx_http_apikey_forbidden(message)                                    \
    "{\"error\":\"Forbidden\",\"message\":\"" message                         \
    "\",\"status_code\":403}"


/* indexed by ngx_http_apikey_decision_e */

static ngx_http_apikey_error_t  ngx_http_apikey_errors[] = {

    { NGX_HTTP_OK, { ngx_null_string, ngx_null_string } },

    { NGX_HTTP_UNAUTHORIZED,
      { ngx_string("{\"detail\":\"Missing API key\"}"),
        ngx_string(ngx_http_apikey_unauthorized(
                       "Invalid or missing X-Secret-Key header")) } },

    { NGX_HTTP_UNAUTHORIZED,
      { ngx_string("{\"detail\":\"Invalid API key\"}"),
        ngx_string(ngx_http_apikey_unauthorized(
                       "Invalid or missing X-Secret-Key header")) } },

    { NGX_HTTP_UNAUTHORIZED,
      { ngx_string("{\"detail\":\"API key expired\"}"),
        ngx_string(ngx_http_apikey_unauthorized("Secret key expired")) } },

    { NGX_HTTP_FORBIDDEN,
      { ngx_string("{\"detail\":"
                   "\"Client address not allowed for this API key\"}"),
        ngx_string(ngx_http_apikey_forbidden(
                       "Client address not allowed")) } },

    { NGX_HTTP_FORBIDDEN,
      { ngx_string("{\"detail\":"
                   "\"API key lacks permission for this operation\"}"),
        ngx_string(ngx_http_apikey_forbidden(
                       "Secret key lacks permissions")) } },

    { NGX_HTTP_TOO_MANY_REQUESTS,
      { ngx_string("{\"detail\":\"Rate limit exceeded\"}"),
        ngx_string("{\"error\":\"Too Many Requests\","
                   "\"message\":\"Rate limit exceeded\","
                   "\"status_code\":429}") } },

    { NGX_HTTP_SERVICE_UNAVAILABLE,
      { ngx_string("{\"detail\":\"Authentication unavailable\"}"),
        ngx_string("{\"error\":\"Service Unavailable\","
                   "\"message\":\"Authentication unavailable\","
                   "\"status_code\":503}") } }
};


/*
 * Sends the refusal and finalizes the request; the access phase must then
 * stop (NGX_DONE).
 */

ngx_int_t
ngx_http_apikey_send_error(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_str_t                  type, *body;
    ngx_table_elt_t           *h;
    ngx_http_apikey_error_t   *err;
    ngx_http_complex_value_t   cv;

    err = &ngx_http_apikey_errors[ctx->decision];

    ngx_http_apikey_log_refusal(r, alcf, ctx);

    if (err->status == NGX_HTTP_UNAUTHORIZED
        && (alcf->headers & NGX_HTTP_APIKEY_HEADER_BEARER))
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        ngx_str_set(&h->key, "WWW-Authenticate");

        if (ctx->decision == NGX_HTTP_APIKEY_MISSING) {
            ngx_str_set(&h->value, "Bearer");

        } else {
            ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");
        }

        r->headers_out.www_authenticate = h;
    }

    ngx_str_set(&type, "application/json");

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    body = &err->body[alcf->error_style];

    if (alcf->unauthorized.len
        && alcf->error_style == NGX_HTTP_APIKEY_STYLE_ERROR
        && (ctx->decision == NGX_HTTP_APIKEY_MISSING
            || ctx->decision == NGX_HTTP_APIKEY_INVALID))
    {
        body = &alcf->unauthorized;
    }

    cv.value = *body;

    rc = ngx_http_send_response(r, err->status, &type, &cv);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * "apikey: refusing request[, dry run]: expired (401), key "taapit_AbCd...
 * WxYz", id "k1"", at the info level, as nginx logs what clients do wrong.
 * The key is masked as $apikey_masked shows it, and only when it passed
 * the syntax check; the id is $apikey_id's.
 */

void
ngx_http_apikey_log_refusal(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx)
{
    u_char  *p;
    u_char   buf[NGX_HTTP_APIKEY_MAX_PREFIX + NGX_HTTP_APIKEY_MAX_STR + 32];

    if (r->connection->log->log_level < NGX_LOG_INFO) {
        return;
    }

    p = buf;

    if (ctx->syntax_ok) {
        p = ngx_cpymem(p, ", key \"", 7);
        p += ngx_http_apikey_mask(p, &ctx->key, &alcf->prefix);
        *p++ = '"';
    }

    /* a redirect's earlier pass may have found a key this one misses */

    if (ctx->identity && ctx->decision != NGX_HTTP_APIKEY_MISSING) {
        p = ngx_cpymem(p, ", id \"", 6);
        p = ngx_cpymem(p, ctx->id.data, ctx->id.len);
        *p++ = '"';
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "apikey: refusing request%s: %V (%ui)%*s",
                  ctx->dry_run ? ", dry run" : "",
                  &ngx_http_apikey_decision_names[ctx->decision],
                  ngx_http_apikey_errors[ctx->decision].status,
                  p - buf, buf);
}
