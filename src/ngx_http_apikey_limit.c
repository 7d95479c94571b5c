
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Limits (docs/limits.md): the windows of a key's limit (per second,
 * minute, hour and day), their counters in the zone node, and the
 * X-RateLimit-*, RateLimit-Policy, RateLimit and Retry-After headers,
 * added by a header filter so that they reach the upstream's response as
 * well as our own refusals.
 *
 * The hour's counters live in the node itself: every key has them.  The
 * others live in a small block of the zone (ngx_http_apikey_windows_t),
 * allocated by the first request that meets a per-second, per-minute or
 * per-day limit, so that a key without them pays a pointer.  Seconds are
 * a token bucket of N requests refilled at N per second (counted in
 * thousandths of a request, to the millisecond), so that no burst of
 * more than N passes across a second's boundary; minutes, hours and days
 * are UTC clock windows.
 *
 * Every counted request also feeds node->pending, which the syncing worker
 * writes back to Redis (per-key usage, and the shared counts of the
 * cluster scope): see ngx_http_apikey_usage.c.  The cluster scope's
 * hourly leases are ngx_http_apikey_quota.c's; its daily count is the
 * total that the usage reports read back (ngx_http_apikey_day_settle_locked).
 */


#include "ngx_http_apikey.h"


/*
 * Cluster scope: a daily count Redis has not confirmed for this long is
 * confirmed before a request of the key is admitted, waiting at most
 * NGX_HTTP_APIKEY_DAY_WAIT for the answer.
 */
#define NGX_HTTP_APIKEY_DAY_FRESH      1000    /* ms */
#define NGX_HTTP_APIKEY_DAY_WAIT       1000    /* ms */


/* what a window says of the request: see ngx_http_apikey_window_state() */

typedef struct {
    uint32_t                    limit;
    uint32_t                    remaining;
    uint32_t                    used;
    time_t                      reset;      /* unix time */
    time_t                      retry;      /* seconds, when refused */
} ngx_http_apikey_window_state_t;


static ngx_http_apikey_windows_t *ngx_http_apikey_windows_locked(
    ngx_http_request_t *r, ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, ngx_apikey_limits_t *lim, uint64_t now_ms);
static ngx_int_t ngx_http_apikey_day_fresh_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    ngx_http_apikey_ctx_t *ctx);
static ngx_uint_t ngx_http_apikey_windows_refuse(
    ngx_http_apikey_windows_t *win, ngx_apikey_limits_t *lim);
static void ngx_http_apikey_windows_count(ngx_http_apikey_windows_t *win,
    ngx_apikey_limits_t *lim);
static void ngx_http_apikey_window_state(ngx_http_apikey_node_t *node,
    ngx_apikey_limits_t *lim, ngx_uint_t w, uint64_t now_ms,
    ngx_http_apikey_window_state_t *st);
static void ngx_http_apikey_report(ngx_http_apikey_node_t *node,
    ngx_http_apikey_ctx_t *ctx, ngx_uint_t refused, uint64_t now_ms);
static ngx_int_t ngx_http_apikey_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_apikey_x_headers(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx);
static ngx_int_t ngx_http_apikey_ietf_headers(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx, time_t now);
static ngx_int_t ngx_http_apikey_add_header(ngx_http_request_t *r,
    ngx_str_t *name, uint64_t value);
static uint64_t ngx_http_apikey_now_ms(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* the policy names of the IETF fields, and each window's seconds */

static ngx_str_t  ngx_http_apikey_window_names[] = {
    ngx_string("1s"), ngx_string("1m"), ngx_string("1h"), ngx_string("1d")
};

static time_t  ngx_http_apikey_window_secs[] = { 1, 60, 3600, 86400 };


ngx_int_t
ngx_http_apikey_limit_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_apikey_header_filter;

    return NGX_OK;
}


/*
 * Counts the request against the key in every window of its limit, unless
 * one of them is full (NGX_BUSY): then it counts nowhere.  A record's
 * "limit" overrides the location's default, even "off"; a redirected
 * request that was counted once is not counted again.  In cluster scope a
 * key with an hourly limit is admitted from this instance's lease
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
    uint64_t                      now_ms;
    ngx_int_t                     rc;
    ngx_uint_t                    limited, cluster, refused;
    ngx_apikey_limits_t          *lim;
    ngx_http_apikey_windows_t    *win;
    ngx_http_apikey_main_conf_t  *amcf;

    lim = &ctx->limits;

    if (ngx_http_apikey_record_get_limits(&node->record, lim)
        == NGX_DECLINED)
    {
        *lim = alcf->rate_limit;
    }

    limited = (lim->set & (1 << NGX_HTTP_APIKEY_HOUR)) != 0;
    limit = limited ? lim->n[NGX_HTTP_APIKEY_HOUR] : 0;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apikey_module);
    cluster = (amcf->scope == NGX_HTTP_APIKEY_SCOPE_CLUSTER
               && limited && limit > 0);

    now_ms = ngx_http_apikey_now_ms(r);
    now = (time_t) (now_ms / 1000);
    window = (uint32_t) (now / 3600);

    if (node->window != window) {
        ngx_http_apikey_quota_new_window_locked(zone, node,
                                                limited ? limit : 0, window);
    }

    used = node->count + node->remote;

    if (!cluster) {
        node->quota.limit = 0;
    }

    ctx->rate_headers = (lim->set != 0);

    win = NULL;
    refused = 0;

    if (lim->set & ~(1 << NGX_HTTP_APIKEY_HOUR)) {
        win = ngx_http_apikey_windows_locked(r, zone, node, lim, now_ms);

        if (win == NULL) {
            /* no room to count them: the limits hold, closed */
            refused = lim->set & ~(1 << NGX_HTTP_APIKEY_HOUR);
        }
    }

    if (!ctx->counted) {

        if (win
            && !ctx->dry_run
            && amcf->scope == NGX_HTTP_APIKEY_SCOPE_CLUSTER
            && (lim->set & (1 << NGX_HTTP_APIKEY_DAY))
            && ngx_http_apikey_day_fresh_locked(r, zone, node, ctx)
               == NGX_AGAIN)
        {
            return NGX_AGAIN;
        }

        if (win) {
            refused = ngx_http_apikey_windows_refuse(win, lim);
        }

        if (limited && refused == 0 && cluster) {
            rc = ngx_http_apikey_quota_count_locked(r, zone, node, limit,
                                                    ctx);
            if (rc == NGX_AGAIN) {
                return rc;
            }

            if (rc != NGX_OK) {
                refused |= 1 << NGX_HTTP_APIKEY_HOUR;
            }

        } else if (limited && !cluster && used >= limit) {
            refused |= 1 << NGX_HTTP_APIKEY_HOUR;
        }

        if (refused) {
            ngx_http_apikey_report(node, ctx, refused, now_ms);

            if (!ctx->dry_run) {
                return NGX_BUSY;
            }

            /* let through: counted as any request that goes on is */

            ctx->over_limit = 1;
        }

        ctx->counted = 1;
        node->count++;

        if (win) {
            ngx_http_apikey_windows_count(win, lim);
        }

        /* the request that reaches 90% of the hour's quota, once */

        if (limited && used + 1 == limit - limit / 10) {
            ctx->near_limit = 1;
        }

        if (node->pending++ == 0 && !node->quota.ask) {
            ngx_http_apikey_mark_dirty_locked(zone, node);
        }

        node->last_used = (uint32_t) now;
    }

    if (ctx->over_limit) {
        /* a dry run's pass, or a redirect after it, finds it over */
        return NGX_BUSY;
    }

    if (ctx->rate_headers) {
        ngx_http_apikey_report(node, ctx, 0, now_ms);
    }

    return NGX_OK;
}


/*
 * The node's counters of the other windows, allocated on first use, moved
 * to the current minute and day, the bucket refilled.  NULL: the zone is
 * full (logged).
 */

static ngx_http_apikey_windows_t *
ngx_http_apikey_windows_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    ngx_apikey_limits_t *lim, uint64_t now_ms)
{
    time_t                      now;
    int32_t                     elapsed;
    uint32_t                    n, cap, stamp;
    ngx_http_apikey_windows_t  *win;

    win = node->windows;

    if (win == NULL) {
        win = ngx_slab_calloc_locked(zone->shpool,
                                     sizeof(ngx_http_apikey_windows_t));
        if (win == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "apikey zone \"%V\" is full: no room for the "
                          "per-second, minute or day counters of key "
                          "\"%*s\", refused", &zone->name,
                          (size_t) node->record.id_len,
                          ngx_http_apikey_record_id(&node->record));
            return NULL;
        }

        node->windows = win;
    }

    now = (time_t) (now_ms / 1000);

    if (win->minute != (uint32_t) (now / 60)) {
        win->minute = (uint32_t) (now / 60);
        win->minute_count = 0;
    }

    if (win->day != (uint32_t) (now / 86400)) {
        win->day = (uint32_t) (now / 86400);
        win->day_count = 0;
        win->day_remote = 0;
    }

    if (!(lim->set & (1 << NGX_HTTP_APIKEY_SECOND))) {
        return win;
    }

    /* the bucket: N requests, refilled at N a second, in thousandths */

    n = ngx_min(lim->n[NGX_HTTP_APIKEY_SECOND],
                NGX_APIKEY_LIMIT_MAX_SECOND);
    cap = n * 1000;
    stamp = (uint32_t) now_ms;
    stamp = stamp ? stamp : 1;

    if (win->stamp == 0) {
        win->tokens = cap;
        win->stamp = stamp;
    }

    /* workers' clocks differ by a few ms: time never goes back here */

    elapsed = (int32_t) (stamp - win->stamp);

    if (elapsed > 0) {
        if (elapsed >= 1000 || win->tokens + (uint32_t) elapsed * n >= cap) {
            win->tokens = cap;

        } else {
            win->tokens += (uint32_t) elapsed * n;
        }

        win->stamp = stamp;
    }

    if (win->tokens > cap) {
        /* a lower limit than the bucket was filled for */
        win->tokens = cap;
    }

    return win;
}


/*
 * The other instances' counts of the day reach this one in the answers to
 * its reports, sent every 50 ms while the key is used here.  A key unused
 * here for a while has an old view of them: its request asks for a report
 * and waits for the answer (NGX_AGAIN), as a request waits for a lease,
 * so that an instance that was idle does not admit a burst the others
 * already spent.  Redis away: decided with what is known; no answer within
 * NGX_HTTP_APIKEY_DAY_WAIT: the same, and Redis is marked away, as a
 * request that waits for a lease in vain does.
 */

static ngx_int_t
ngx_http_apikey_day_fresh_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    ngx_http_apikey_ctx_t *ctx)
{
    ngx_http_apikey_quota_t  *q;

    q = &node->quota;

    if (zone->sh->quota_offline
        || (uint32_t) ngx_current_msec - q->answered
           < NGX_HTTP_APIKEY_DAY_FRESH)
    {
        return NGX_OK;
    }

    if (!ctx->day_wait) {
        ctx->day_wait = 1;
        ctx->wait_start = ngx_current_msec;
    }

    if (ngx_current_msec - ctx->wait_start >= NGX_HTTP_APIKEY_DAY_WAIT) {

        /* no answer in time: Redis is as good as away, as for leases */

        if ((int32_t) (q->answered - (uint32_t) ctx->wait_start) <= 0
            && zone->sh->quota_offline == 0)
        {
            zone->sh->quota_offline = ngx_time();
        }

        return NGX_OK;
    }

    if (node->pending == 0 && !q->ask
        && !(node->flags & NGX_HTTP_APIKEY_NODE_INFLIGHT))
    {
        ngx_http_apikey_mark_dirty_locked(zone, node);
    }

    if (!q->ask) {
        q->ask = 1;
        (void) ngx_atomic_fetch_add(&zone->sh->quota_asks, 1);
        ngx_http_apikey_usage_ask();
    }

    ctx->wait = 1;

    return NGX_AGAIN;
}


/* the windows other than the hour that are full: a bit for each */

static ngx_uint_t
ngx_http_apikey_windows_refuse(ngx_http_apikey_windows_t *win,
    ngx_apikey_limits_t *lim)
{
    ngx_uint_t  refused;

    refused = 0;

    if ((lim->set & (1 << NGX_HTTP_APIKEY_SECOND)) && win->tokens < 1000) {
        refused |= 1 << NGX_HTTP_APIKEY_SECOND;
    }

    if ((lim->set & (1 << NGX_HTTP_APIKEY_MINUTE))
        && win->minute_count >= lim->n[NGX_HTTP_APIKEY_MINUTE])
    {
        refused |= 1 << NGX_HTTP_APIKEY_MINUTE;
    }

    if ((lim->set & (1 << NGX_HTTP_APIKEY_DAY))
        && (uint64_t) win->day_count + win->day_remote
           >= lim->n[NGX_HTTP_APIKEY_DAY])
    {
        refused |= 1 << NGX_HTTP_APIKEY_DAY;
    }

    return refused;
}


/*
 * An admitted request: counted in the minute and the day whatever this
 * location's limit says, as the hour is, so that each window's count is
 * the key's; the bucket only where it limits.
 */

static void
ngx_http_apikey_windows_count(ngx_http_apikey_windows_t *win,
    ngx_apikey_limits_t *lim)
{
    if (lim->set & (1 << NGX_HTTP_APIKEY_SECOND)) {
        /* a dry run counts a request the bucket had no token for */
        win->tokens = (win->tokens >= 1000) ? win->tokens - 1000 : 0;
    }

    win->minute_count++;
    win->day_count++;
}


/*
 * A cluster's daily count: the answer to a report of hour's count
 * (reported), the total of the key's day in Redis, every instance's
 * reports included.  What this instance counted since that report is
 * added; what is left beyond this instance's own day count is the others'.
 */

void
ngx_http_apikey_day_settle_locked(ngx_http_apikey_node_t *node,
    uint32_t hour, uint32_t reported, int64_t total)
{
    int64_t                     remote;
    ngx_http_apikey_windows_t  *win;

    win = node->windows;

    if (win == NULL || win->day != hour / 24 || node->window != hour) {
        return;
    }

    remote = total + (int64_t) node->count - reported - win->day_count;

    win->day_remote = (remote > 0)
                      ? (uint32_t) ngx_min(remote, NGX_MAX_UINT32_VALUE) : 0;
}


/* one window's numbers, for the headers */

static void
ngx_http_apikey_window_state(ngx_http_apikey_node_t *node,
    ngx_apikey_limits_t *lim, ngx_uint_t w, uint64_t now_ms,
    ngx_http_apikey_window_state_t *st)
{
    time_t                      now;
    uint32_t                    n, need;
    uint64_t                    used, ms;
    ngx_http_apikey_windows_t  *win;

    now = (time_t) (now_ms / 1000);
    n = lim->n[w];
    win = node->windows;

    st->limit = n;

    switch (w) {

    case NGX_HTTP_APIKEY_SECOND:

        if (win == NULL) {
            st->remaining = 0;
            st->used = n;
            st->reset = now + 1;
            st->retry = 1;
            return;
        }

        st->remaining = win->tokens / 1000;
        st->used = n - st->remaining;

        /* the next whole request the bucket refills, and the one missing */

        need = 1000 - win->tokens % 1000;
        ms = (n && win->tokens < n * 1000) ? (need + n - 1) / n : 0;
        st->reset = (time_t) ((now_ms + ms + 999) / 1000);

        ms = n ? ((uint64_t) (win->tokens < 1000 ? 1000 - win->tokens : 0)
                  + n - 1) / n
               : 1000;
        st->retry = ngx_max((time_t) ((now_ms + ms + 999) / 1000) - now, 1);
        return;

    case NGX_HTTP_APIKEY_MINUTE:
        used = win ? win->minute_count : n;
        st->reset = (now / 60 + 1) * 60;
        break;

    case NGX_HTTP_APIKEY_HOUR:
        used = (uint64_t) node->count + node->remote;
        st->reset = (now / 3600 + 1) * 3600;
        break;

    default: /* NGX_HTTP_APIKEY_DAY */
        used = win ? (uint64_t) win->day_count + win->day_remote : n;
        st->reset = (now / 86400 + 1) * 86400;
        break;
    }

    st->used = (uint32_t) ngx_min(used, NGX_MAX_UINT32_VALUE);
    st->remaining = (used < n) ? n - (uint32_t) used : 0;
    st->retry = ngx_max(st->reset - now, 1);
}


/*
 * The window the headers report: when refused, the refusing window with
 * the longest wait; otherwise the window closest to its limit, with the
 * lowest remaining / limit (a limit of 0 counts as nothing remaining).
 * Ties go to the longer window.
 */

static void
ngx_http_apikey_report(ngx_http_apikey_node_t *node,
    ngx_http_apikey_ctx_t *ctx, ngx_uint_t refused, uint64_t now_ms)
{
    uint64_t                         a, b;
    ngx_uint_t                       w, best;
    ngx_http_apikey_window_state_t   st, bst;

    best = NGX_HTTP_APIKEY_NWINDOWS;

    for (w = 0; w < NGX_HTTP_APIKEY_NWINDOWS; w++) {

        if (!(ctx->limits.set & (1 << w))
            || (refused && !(refused & (1 << w))))
        {
            continue;
        }

        ngx_http_apikey_window_state(node, &ctx->limits, w, now_ms, &st);

        if (best != NGX_HTTP_APIKEY_NWINDOWS) {

            if (refused) {
                if (st.retry < bst.retry) {
                    continue;
                }

            } else {
                /* st.remaining / st.limit > bst.remaining / bst.limit */

                a = (uint64_t) st.remaining * ngx_max(bst.limit, 1);
                b = (uint64_t) bst.remaining * ngx_max(st.limit, 1);

                if (a > b) {
                    continue;
                }
            }
        }

        best = w;
        bst = st;
    }

    if (best == NGX_HTTP_APIKEY_NWINDOWS) {
        return;
    }

    ctx->window = best;
    ctx->limit = bst.limit;
    ctx->remaining = refused ? 0 : bst.remaining;
    ctx->used = bst.used;
    ctx->reset = bst.reset;
    ctx->retry = bst.retry;
}


static ngx_int_t
ngx_http_apikey_header_filter(ngx_http_request_t *r)
{
    time_t                       now;
    ngx_http_apikey_ctx_t       *ctx;
    ngx_http_apikey_loc_conf_t  *alcf;

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

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apikey_module);
    now = (time_t) (ngx_http_apikey_now_ms(r) / 1000);

    if ((alcf->ratelimit_headers & NGX_HTTP_APIKEY_RLH_X)
        && ngx_http_apikey_x_headers(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((alcf->ratelimit_headers & NGX_HTTP_APIKEY_RLH_IETF)
        && ngx_http_apikey_ietf_headers(r, ctx, now) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->decision == NGX_HTTP_APIKEY_LIMITED
        && ngx_http_apikey_add_header(r, &retry_name, ctx->retry) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/* X-RateLimit-*, with GitHub's X-RateLimit-Used */

static ngx_int_t
ngx_http_apikey_x_headers(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    static ngx_str_t  limit_name = ngx_string("X-RateLimit-Limit");
    static ngx_str_t  remaining_name = ngx_string("X-RateLimit-Remaining");
    static ngx_str_t  reset_name = ngx_string("X-RateLimit-Reset");
    static ngx_str_t  used_name = ngx_string("X-RateLimit-Used");

    if (ngx_http_apikey_add_header(r, &limit_name, ctx->limit) != NGX_OK
        || ngx_http_apikey_add_header(r, &remaining_name, ctx->remaining)
           != NGX_OK
        || ngx_http_apikey_add_header(r, &reset_name, ctx->reset) != NGX_OK
        || ngx_http_apikey_add_header(r, &used_name, ctx->used) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The IETF draft's structured fields (RFC 9651 lists of items):
 *
 *     RateLimit-Policy: "1s";q=20;w=1, "1h";q=1000;w=3600
 *     RateLimit: "1h";r=998;t=1800
 *
 * every window of the key's limit in the policy, shortest first, and the
 * window reported in RateLimit, t being the seconds until more quota is
 * available (0: the bucket is full).
 */

static ngx_int_t
ngx_http_apikey_ietf_headers(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx, time_t now)
{
    u_char      *p, *start;
    ngx_uint_t   w;

    static ngx_str_t  policy_name = ngx_string("RateLimit-Policy");
    static ngx_str_t  ratelimit_name = ngx_string("RateLimit");

    start = ngx_pnalloc(r->pool, NGX_HTTP_APIKEY_NWINDOWS
                                 * (sizeof("\"1s\";q=;w=, ") - 1
                                    + NGX_INT32_LEN + NGX_TIME_T_LEN));
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    for (w = 0; w < NGX_HTTP_APIKEY_NWINDOWS; w++) {
        if (ctx->limits.set & (1 << w)) {
            p = ngx_sprintf(p, "%s\"%V\";q=%uD;w=%T",
                            p == start ? "" : ", ",
                            &ngx_http_apikey_window_names[w],
                            ctx->limits.n[w],
                            ngx_http_apikey_window_secs[w]);
        }
    }

    if (ngx_http_apikey_add_text(r, &policy_name, start, p - start)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    start = ngx_pnalloc(r->pool, sizeof("\"1s\";r=;t=") - 1
                                 + NGX_INT32_LEN + NGX_TIME_T_LEN);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(start, "\"%V\";r=%uD;t=%T",
                    &ngx_http_apikey_window_names[ctx->window],
                    ctx->remaining,
                    ctx->reset > now ? ctx->reset - now : (time_t) 0);

    return ngx_http_apikey_add_text(r, &ratelimit_name, start, p - start);
}


static ngx_int_t
ngx_http_apikey_add_header(ngx_http_request_t *r, ngx_str_t *name,
    uint64_t value)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_apikey_add_text(r, name, p,
                                    ngx_sprintf(p, "%uL", value) - p);
}


/*
 * A response header of the module's (rate limits, Sunset): text stays
 * where it is, in the request's pool or static.
 */

ngx_int_t
ngx_http_apikey_add_text(ngx_http_request_t *r, ngx_str_t *name,
    u_char *text, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key = *name;
    h->value.data = text;
    h->value.len = len;

    return NGX_OK;
}


/*
 * The clock of the windows, in unix milliseconds.  Test builds only
 * (-DNGX_HTTP_APIKEY_TEST=1): the request header "X-Apikey-Test-Now:
 * <unix seconds>[.<milliseconds>]" stands in for it, and so for the clock
 * of the "expires" check and of the Sunset warnings
 * (ngx_http_apikey_now()), so that the suite sees windows roll over
 * without waiting, and a key reach its end at the second.  Production
 * builds never read it.
 */

static uint64_t
ngx_http_apikey_now_ms(ngx_http_request_t *r)
{
    ngx_time_t       *tp;
#if (NGX_HTTP_APIKEY_TEST)
    u_char           *dot, *last;
    ngx_int_t         n, ms;
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

        if (h[i].key.len != 17
            || ngx_strncasecmp(h[i].key.data, (u_char *) "X-Apikey-Test-Now",
                               17) != 0)
        {
            continue;
        }

        last = h[i].value.data + h[i].value.len;
        dot = ngx_strlchr(h[i].value.data, last, '.');

        n = ngx_atotm(h[i].value.data,
                      (dot ? dot : last) - h[i].value.data);
        ms = 0;

        if (dot && last - dot == 4) {
            ms = ngx_atoi(dot + 1, 3);

        } else if (dot) {
            ms = NGX_ERROR;
        }

        if (n != NGX_ERROR && ms != NGX_ERROR) {
            return (uint64_t) n * 1000 + ms;
        }
    }
#endif

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/* the same clock in seconds, for the files that decide by the second */

time_t
ngx_http_apikey_now(ngx_http_request_t *r)
{
    return (time_t) (ngx_http_apikey_now_ms(r) / 1000);
}
