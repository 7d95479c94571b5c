
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Cluster-wide hourly quotas (apikey_rate_limit_scope cluster): how a
 * request of a limited key is admitted from this instance's lease, waits
 * for a grant, or falls back to this instance's share while Redis is away.
 *
 * Each instance holds, per key and hour, a lease: quota taken from Redis
 * atomically by the script of ngx_http_apikey_usage.c, which never grants
 * more than the limit minus what every instance counted and holds.  The
 * lease is spent here, in the zone, with no round trip; when half of the
 * last grant is spent, a new grant is asked for in the background.  Grants
 * shrink with the quota left (at most the free quota / 2 / instances), so
 * in the last part of the quota a request that finds no lease waits for
 * the syncing worker's round trip: it polls the zone from a timer of its
 * own worker, like limit_req's delay, since only the syncing worker talks
 * to Redis and the grant reaches the other workers through the zone.
 *
 * A dry run (apikey_dry_run) never waits: where a request would wait for
 * a grant, it asks for one and goes on at once, refused only if Redis's
 * last answer said the quota was spent, and counted either way.
 *
 * The node's counters live in node->quota, under the zone's lock.
 */


#include "ngx_http_apikey.h"


#define NGX_HTTP_APIKEY_LEASE_TTL      10      /* s, in Redis */
#define NGX_HTTP_APIKEY_LEASE_MARGIN   2       /* s, spent before that */
#define NGX_HTTP_APIKEY_LEASE_MIN      4
#define NGX_HTTP_APIKEY_QUOTA_POLL     1       /* ms, a waiting request */
#define NGX_HTTP_APIKEY_QUOTA_WAIT     1000    /* ms, then as if offline */
#define NGX_HTTP_APIKEY_RECHECK        1000    /* ms, the quota is spent */


static ngx_int_t ngx_http_apikey_quota_offline_locked(
    ngx_http_request_t *r, ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node);
static void ngx_http_apikey_quota_ask_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node);
static void ngx_http_apikey_quota_spent(ngx_http_apikey_quota_t *q,
    time_t now);
static void ngx_http_apikey_quota_wait_handler(ngx_http_request_t *r);


/*
 * NGX_OK: admitted, the caller counts it; NGX_BUSY: refused; NGX_AGAIN:
 * the request waits for a grant (ctx->wait is set), never in a dry run.
 */

ngx_int_t
ngx_http_apikey_quota_count_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    uint32_t limit, ngx_http_apikey_ctx_t *ctx)
{
    time_t                    now;
    ngx_http_apikey_quota_t  *q;

    q = &node->quota;
    q->limit = limit;
    now = ngx_time();

    if (q->lease && (time_t) q->lease_expires <= now) {
        /* Redis forgets the lease soon: it is not ours to spend */
        q->lease = 0;
    }

    if (q->lease) {
        q->lease--;
        ngx_http_apikey_quota_spent(q, now);

        if (q->lease <= q->last_grant / 2 && !q->ask && !q->asked) {
            ngx_http_apikey_quota_ask_locked(zone, node);
        }

        return NGX_OK;
    }

    if (zone->sh->quota_offline) {
        return ngx_http_apikey_quota_offline_locked(r, zone, node);
    }

    if (q->exhausted
        && (int32_t) (q->recheck - (uint32_t) ngx_current_msec) > 0)
    {
        return NGX_BUSY;
    }

    if (ctx->waiting
        && ngx_current_msec - ctx->wait_start >= NGX_HTTP_APIKEY_QUOTA_WAIT)
    {
        if ((int32_t) (q->answered - (uint32_t) ctx->wait_start) > 0) {
            /*
             * Redis answers, but others hold what is left and do not
             * spend it: a lease stranded on an instance that stopped, or
             * stopped receiving this key, until it expires.
             */
            return NGX_BUSY;
        }

        /*
         * No answer in time: Redis (or the syncing worker) is as good as
         * away, until a report is answered again.
         */
        if (zone->sh->quota_offline == 0) {
            zone->sh->quota_offline = ngx_time();
        }

        return ngx_http_apikey_quota_offline_locked(r, zone, node);
    }

    if (ctx->dry_run) {
        if (!q->ask && !q->asked) {
            ngx_http_apikey_quota_ask_locked(zone, node);
        }

        if (q->exhausted) {
            return NGX_BUSY;
        }

        ngx_http_apikey_quota_spent(q, now);

        return NGX_OK;
    }

    if (!ctx->waiting) {
        ctx->waiting = 1;
        ctx->wait_start = ngx_current_msec;
        q->waiters++;
        (void) ngx_atomic_fetch_add(&zone->sh->quota_waits, 1);
    }

    if (!q->ask && !q->asked) {
        ngx_http_apikey_quota_ask_locked(zone, node);
    }

    ctx->wait = 1;

    return NGX_AGAIN;
}


/* Redis is away: apikey_rate_limit_offline decides */

static ngx_int_t
ngx_http_apikey_quota_offline_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node)
{
    ngx_http_apikey_quota_t      *q;
    ngx_http_apikey_main_conf_t  *amcf;

    q = &node->quota;

    /*
     * Keep asking: the report that is answered again ends the away mode,
     * even when nothing is admitted meanwhile.
     */

    if (!q->ask && !q->asked) {
        ngx_http_apikey_quota_ask_locked(zone, node);
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apikey_module);

    switch (amcf->offline) {

    case NGX_HTTP_APIKEY_OFFLINE_OPEN:
        break;

    case NGX_HTTP_APIKEY_OFFLINE_CLOSED:
        return NGX_BUSY;

    default: /* NGX_HTTP_APIKEY_OFFLINE_SHARE */

        if (q->offline_left == 0) {
            return NGX_BUSY;
        }

        q->offline_left--;
    }

    (void) ngx_atomic_fetch_add(&zone->sh->quota_offline_admits, 1);
    ngx_http_apikey_quota_spent(q, ngx_time());

    return NGX_OK;
}


/* the request rate, per second, sizes the next grant */

static void
ngx_http_apikey_quota_spent(ngx_http_apikey_quota_t *q, time_t now)
{
    if (q->rate_sec != (uint32_t) now) {
        q->rate_last = (q->rate_sec + 1 == (uint32_t) now) ? q->rate_n : 0;
        q->rate_sec = (uint32_t) now;
        q->rate_n = 0;
    }

    q->rate_n++;
}


static void
ngx_http_apikey_quota_ask_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node)
{
    /* a node with something to send is in the ring or in flight already */

    if (node->pending == 0 && !node->quota.ask
        && !(node->flags & NGX_HTTP_APIKEY_NODE_INFLIGHT))
    {
        ngx_http_apikey_mark_dirty_locked(zone, node);
    }

    node->quota.ask = 1;
    (void) ngx_atomic_fetch_add(&zone->sh->quota_asks, 1);

    ngx_http_apikey_usage_ask();
}


/*
 * A new hour: the counts Redis has not acknowledged yet move aside, to be
 * written to the hour they belong to; the lease of the last hour is void.
 */

void
ngx_http_apikey_quota_new_window_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, uint32_t limit, uint32_t window)
{
    ngx_uint_t                instances;
    ngx_http_apikey_quota_t  *q;

    q = &node->quota;

    if (node->window != 0 && node->count > q->reported) {

        if (q->prev_count) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "apikey: %uD counts of hour %uD could not be "
                          "written to redis", q->prev_count, q->prev_window);
        }

        q->prev_window = node->window;
        q->prev_count = node->count;
    }

    node->window = window;
    node->count = 0;
    node->remote = 0;

    q->reported = 0;
    q->lease = 0;
    q->last_grant = 0;
    q->exhausted = 0;
    q->waiters = 0;

    instances = zone->sh->quota_instances;
    q->offline_left = limit / (instances ? instances : 1);

    node->pending = q->prev_count ? 1 : 0;
}


/* what a report asks for: a quarter second of requests, or the waiters */

uint32_t
ngx_http_apikey_quota_want_locked(ngx_http_apikey_node_t *node)
{
    uint32_t                  want;
    ngx_http_apikey_quota_t  *q;

    q = &node->quota;

    if (!q->ask || q->limit == 0) {
        return 0;
    }

    want = ngx_max(q->rate_n, q->rate_last) / 4;
    want = ngx_max(want, q->waiters);
    want = ngx_max(want, NGX_HTTP_APIKEY_LEASE_MIN);

    return want;
}


/*
 * The script's answer to this instance's report, sent at "sent": the grant
 * (the lease Redis now records is the lease sent plus the grant, renewed
 * until sent + NGX_HTTP_APIKEY_LEASE_TTL), the quota still free before
 * the grant, what the other instances hold, and the instances seen in the
 * last minute.
 */

void
ngx_http_apikey_quota_granted_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, uint32_t grant, uint32_t want,
    int64_t free, int64_t others, uint32_t instances, time_t sent)
{
    ngx_http_apikey_quota_t  *q;

    q = &node->quota;

    if (instances) {
        zone->sh->quota_instances = instances;
    }

    q->lease += grant;
    q->lease_expires = (uint32_t) (sent + NGX_HTTP_APIKEY_LEASE_TTL
                                   - NGX_HTTP_APIKEY_LEASE_MARGIN);

    if (want) {
        q->last_grant = grant;
        q->waiters = 0;
    }

    if (grant) {
        (void) ngx_atomic_fetch_add(&zone->sh->quota_grants, 1);
    }

    free -= grant;

    q->offline_left = (free > 0)
                      ? (uint32_t) (free / (instances ? instances : 1)) : 0;

    if (want && grant < want && free <= 0 && others <= 0) {
        /*
         * Spent, and nobody holds a lease that could still be: refused
         * without asking, until the hour ends or a recheck finds the
         * limit raised.  While others hold leases, the quota may not be
         * spent yet: the waiting requests ask again, one round trip each.
         */
        q->exhausted = 1;
        q->recheck = (uint32_t) ngx_current_msec
                     + NGX_HTTP_APIKEY_RECHECK;

    } else if (grant) {
        q->exhausted = 0;
    }
}


/*
 * The request waits for the syncing worker's answer, which arrives in the
 * zone: it polls every NGX_HTTP_APIKEY_QUOTA_POLL ms, re-running the
 * access phase, as limit_req's delay does.
 */

ngx_int_t
ngx_http_apikey_quota_wait(ngx_http_request_t *r, ngx_http_apikey_ctx_t *ctx)
{
    ctx->wait = 0;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_apikey_quota_wait_handler;

    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, NGX_HTTP_APIKEY_QUOTA_POLL);

    return NGX_AGAIN;
}


static void
ngx_http_apikey_quota_wait_handler(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {

        /* woken by something else than the timer */

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/* the status location's "quota" object, or its Prometheus lines */

u_char *
ngx_http_apikey_quota_status(u_char *p, ngx_http_apikey_shctx_t *snap,
    ngx_str_t *zone, ngx_uint_t prometheus)
{
    ngx_str_t  *redis;

    static ngx_str_t  scopes[] = {
        ngx_string("local"), ngx_string("cluster")
    };

    static ngx_str_t  policies[] = {
        ngx_string("share"), ngx_string("open"), ngx_string("closed")
    };

    static ngx_str_t  shared = ngx_string("shared");
    static ngx_str_t  away = ngx_string("away");

    redis = snap->quota_offline ? &away : &shared;

    if (!prometheus) {
        return ngx_sprintf(p, "\"quota\":{\"scope\":\"%V\",\"redis\":\"%V\","
                           "\"away_since\":%uA,\"when_away\":\"%V\","
                           "\"instances\":%uA,\"reports\":%uA,"
                           "\"grants\":%uA,\"waits\":%uA,"
                           "\"admitted_away\":%uA},",
                           &scopes[snap->quota_scope & 1], redis,
                           snap->quota_offline,
                           &policies[snap->quota_policy % 3],
                           snap->quota_instances, snap->quota_reports,
                           snap->quota_grants, snap->quota_waits,
                           snap->quota_offline_admits);
    }

    return ngx_sprintf(p,
            "# HELP apikey_quota_redis_away "
            "Whether Redis is away and each instance admits its share.\n"
            "# TYPE apikey_quota_redis_away gauge\n"
            "apikey_quota_redis_away{zone=\"%V\"} %d\n"
            "# HELP apikey_quota_instances Instances last seen by Redis.\n"
            "# TYPE apikey_quota_instances gauge\n"
            "apikey_quota_instances{zone=\"%V\"} %uA\n"
            "# HELP apikey_quota_reports_total Usage reports answered.\n"
            "# TYPE apikey_quota_reports_total counter\n"
            "apikey_quota_reports_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_quota_grants_total Quota leases granted.\n"
            "# TYPE apikey_quota_grants_total counter\n"
            "apikey_quota_grants_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_quota_waits_total "
            "Requests that waited for a grant.\n"
            "# TYPE apikey_quota_waits_total counter\n"
            "apikey_quota_waits_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_quota_admitted_away_total "
            "Requests admitted from the share while Redis was away.\n"
            "# TYPE apikey_quota_admitted_away_total counter\n"
            "apikey_quota_admitted_away_total{zone=\"%V\"} %uA\n",
            zone, snap->quota_offline ? 1 : 0,
            zone, snap->quota_instances, zone, snap->quota_reports,
            zone, snap->quota_grants, zone, snap->quota_waits,
            zone, snap->quota_offline_admits);
}
