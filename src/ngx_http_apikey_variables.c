
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The $apikey_* variables (docs/directives.md): what the decision found, for
 * logs and for the upstream.  None of them can hold the raw key: $apikey_masked
 * shows at most eight of its characters.
 */


#include "ngx_http_apikey.h"


static ngx_int_t ngx_http_apikey_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_apikey_variable_access(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_apikey_variable_status(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_apikey_variable_masked(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_apikey_variable_remaining(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_apikey_vars[] = {

    { ngx_string("apikey_id"), NULL, ngx_http_apikey_variable_str,
      offsetof(ngx_http_apikey_ctx_t, id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apikey_owner"), NULL, ngx_http_apikey_variable_str,
      offsetof(ngx_http_apikey_ctx_t, owner), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apikey_name"), NULL, ngx_http_apikey_variable_str,
      offsetof(ngx_http_apikey_ctx_t, name), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apikey_access"), NULL, ngx_http_apikey_variable_access,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apikey_status"), NULL, ngx_http_apikey_variable_status,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apikey_masked"), NULL, ngx_http_apikey_variable_masked,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apikey_rate_remaining"), NULL,
      ngx_http_apikey_variable_remaining, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_str_t  ngx_http_apikey_decision_names[] = {
    ngx_string("ok"),
    ngx_string("missing"),
    ngx_string("invalid"),
    ngx_string("expired"),
    ngx_string("ip"),
    ngx_string("forbidden"),
    ngx_string("limited"),
    ngx_string("unavailable"),
    ngx_null_string
};


static ngx_str_t  ngx_http_apikey_access_names[] = {
    ngx_null_string,
    ngx_string("full"),
    ngx_string("read"),
    ngx_string("limited")
};


ngx_int_t
ngx_http_apikey_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_apikey_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_http_apikey_ctx_t *
ngx_http_apikey_decided_ctx(ngx_http_request_t *r)
{
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_apikey_find_ctx(r);

    if (ctx == NULL || !ctx->decided) {
        return NULL;
    }

    return ctx;
}


static void
ngx_http_apikey_set_value(ngx_http_variable_value_t *v, ngx_str_t *s)
{
    if (s->len == 0) {
        v->not_found = 1;
        return;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;
}


static ngx_int_t
ngx_http_apikey_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_apikey_decided_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_apikey_set_value(v, (ngx_str_t *) ((char *) ctx + data));

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_variable_access(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_apikey_decided_ctx(r);

    if (ctx == NULL || ctx->access > NGX_HTTP_APIKEY_ACCESS_LIMITED) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_apikey_set_value(v, &ngx_http_apikey_access_names[ctx->access]);

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_variable_status(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_apikey_decided_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_apikey_set_value(v,
                              &ngx_http_apikey_decision_names[ctx->decision]);

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_variable_masked(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                    masked;
    ngx_http_apikey_ctx_t       *ctx;
    ngx_http_apikey_loc_conf_t  *alcf;

    ctx = ngx_http_apikey_decided_ctx(r);

    /* a key that failed the syntax check may hold anything: show nothing */

    if (ctx == NULL || !ctx->syntax_ok) {
        v->not_found = 1;
        return NGX_OK;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apikey_module);

    masked.data = ngx_pnalloc(r->pool, alcf->prefix.len + 11);
    if (masked.data == NULL) {
        return NGX_ERROR;
    }

    masked.len = ngx_http_apikey_mask(masked.data, &ctx->key, &alcf->prefix);

    ngx_http_apikey_set_value(v, &masked);

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_variable_remaining(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               remaining;
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_apikey_decided_ctx(r);

    if (ctx == NULL || !ctx->rate_headers) {
        v->not_found = 1;
        return NGX_OK;
    }

    remaining.data = ngx_pnalloc(r->pool, NGX_INT32_LEN);
    if (remaining.data == NULL) {
        return NGX_ERROR;
    }

    remaining.len = ngx_sprintf(remaining.data, "%uD", ctx->remaining)
                    - remaining.data;

    ngx_http_apikey_set_value(v, &remaining);

    return NGX_OK;
}
