
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Hourly limits (docs/limits.md): the per-key counters kept in the zone
 * node, the UTC clock-hour window, and the X-RateLimit-* and Retry-After
 * headers, added by a header filter so that they reach the upstream's
 * response as well as our own refusals.
 *
 * Every counted request also feeds node->pending, which the syncing worker
 * writes back to Redis (per-key usage, and the shared count of the
 * cluster scope): see ngx_http_apikey_usage.c.  The cluster scope's
 * leases are ngx_http_apikey_quota.c's.
 */


#include "ngx_http_apikey.h"


static ngx_int_t ngx_http_apikey_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_apikey_add_header(ngx_http_request_t *r,
    ngx_str_t *name, uint64_t value);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_apikey_limit_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_apikey_header_filter;

    return NGX_OK;
}


/*
 * Counts the request against the key, unless over its limit (NGX_BUSY).
 * A record's "limit" overrides the location's default, even "off"; a
 * redirected request that was counted once is not counted again.  In
 * cluster scope a limited key is admitted from this instance's lease
 * (ngx_http_apikey_quota.c), and NGX_AGAIN means: wait for a grant.
 *
 * A dry run lets the request over the limit through, so it is counted as
 * any request that reaches the upstream is (docs/limits.md), and NGX_BUSY
 * still says that it went over.
 */

ngx_int_t
ngx_http_apikey_count_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx)
{
    time_t                        now;
    uint32_t                      window, limit, used;
    ngx_int_t                     rc;
    ngx_uint_t                    limited, cluster;
    ngx_http_apikey_main_conf_t  *amcf;

    switch (node->record.limit) {

    case NGX_HTTP_APIKEY_LIMIT_DEFAULT:
        limit = (uint32_t) alcf->rate_limit;
        limited = (limit != NGX_HTTP_APIKEY_RATE_OFF);
        break;

    case NGX_HTTP_APIKEY_LIMIT_UNLIMITED:
        limit = 0;
        limited = 0;
        break;

    default:
        limit = node->record.limit;
        limited = 1;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apikey_module);
    cluster = (amcf->scope == NGX_HTTP_APIKEY_SCOPE_CLUSTER
               && limited && limit > 0);

    now = ngx_http_apikey_now(r);
    window = (uint32_t) (now / 3600);

    if (node->window != window) {
        ngx_http_apikey_quota_new_window_locked(zone, node,
                                                limited ? limit : 0, window);
    }

    used = node->count + node->remote;

    if (limited) {
        ctx->rate_headers = 1;
        ctx->limit = limit;
        ctx->reset = (time_t) (window + 1) * 3600;
    }

    if (!cluster) {
        node->quota.limit = 0;
    }

    if (limited && !ctx->counted) {

        if (cluster) {
            rc = ngx_http_apikey_quota_count_locked(r, zone, node, limit,
                                                    ctx);

        } else {
            rc = (used >= limit) ? NGX_BUSY : NGX_OK;
        }

        if (rc == NGX_AGAIN || (rc == NGX_BUSY && !ctx->dry_run)) {
            ctx->remaining = 0;
            return rc;
        }

        ctx->over_limit = (rc == NGX_BUSY);
    }

    if (!ctx->counted) {
        ctx->counted = 1;
        node->count++;

        /* the request that reaches 90% of the quota, once per window */

        if (limited && used + 1 == limit - limit / 10) {
            ctx->near_limit = 1;
        }

        if (node->pending++ == 0 && !node->quota.ask) {
            ngx_http_apikey_mark_dirty_locked(zone, node);
        }

        node->last_used = (uint32_t) now;
        used++;
    }

    ctx->remaining = (limited && used < limit) ? limit - used : 0;

    if (limited && ctx->over_limit) {
        /* a redirect after a dry run's pass finds it over, as it was */
        return NGX_BUSY;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_header_filter(ngx_http_request_t *r)
{
    time_t                  now;
    ngx_http_apikey_ctx_t  *ctx;

    static ngx_str_t  limit_name = ngx_string("X-RateLimit-Limit");
    static ngx_str_t  remaining_name = ngx_string("X-RateLimit-Remaining");
    static ngx_str_t  reset_name = ngx_string("X-RateLimit-Reset");
    static ngx_str_t  retry_name = ngx_string("Retry-After");

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_apikey_find_ctx(r);

    /*
     * A dry run sends none: they would announce a limit that is not
     * enforced, and clients that pace themselves on them would change
     * the traffic the dry run is there to watch.
     */

    if (ctx == NULL || !ctx->rate_headers || ctx->headers_sent
        || ctx->dry_run)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx->headers_sent = 1;

    if (ngx_http_apikey_add_header(r, &limit_name, ctx->limit) != NGX_OK
        || ngx_http_apikey_add_header(r, &remaining_name, ctx->remaining)
           != NGX_OK
        || ngx_http_apikey_add_header(r, &reset_name, ctx->reset) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->decision == NGX_HTTP_APIKEY_LIMITED) {
        now = ngx_http_apikey_now(r);

        if (ngx_http_apikey_add_header(r, &retry_name,
                                       ctx->reset > now ? ctx->reset - now
                                                        : 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_apikey_add_header(ngx_http_request_t *r, ngx_str_t *name,
    uint64_t value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key = *name;
    h->value.len = ngx_sprintf(h->value.data, "%uL", value) - h->value.data;

    return NGX_OK;
}


/*
 * Test builds only (-DNGX_HTTP_APIKEY_TEST=1): the request header
 * "X-Apikey-Test-Now: <unix seconds>" stands in for the clock of the
 * hourly windows, of the "expires" check and of the Sunset warnings
 * (ngx_http_apikey_sunset.c), so that the suite sees a window roll over
 * without waiting an hour, and a key reach its end at the second.
 * Production builds never read it.
 */

time_t
ngx_http_apikey_now(ngx_http_request_t *r)
{
#if (NGX_HTTP_APIKEY_TEST)
    ngx_int_t         n;
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

        if (h[i].key.len == 17
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Apikey-Test-Now",
                               17) == 0)
        {
            n = ngx_atotm(h[i].value.data, h[i].value.len);

            if (n != NGX_ERROR) {
                return (time_t) n;
            }
        }
    }
#endif

    return ngx_time();
}
