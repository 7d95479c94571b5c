
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Counts written back to Redis: every counted request adds to its key's
 * node->pending; the syncing worker reports each key's count in batches,
 * never on the request path, through one Lua script per key and hour
 * (EVALSHA): it adds to "<prefix>usage:<id>:<hour>" (the per-key usage the
 * dashboard shows, kept 8 days) what this instance counted since its last
 * report, and the same to "<prefix>usage:<id>:day:<day>" (the day's total,
 * which the cluster scope's daily limits read back: see
 * ngx_http_apikey_limit.c), and records "<prefix>usage:<id>:last".  The
 * report carries the instance's running count for the hour, not a delta,
 * and Redis keeps the last one it applied per instance
 * ("<prefix>quota:<id>:<hour>"): a report
 * sent twice (its reply lost, the syncing worker killed, a reload) adds
 * nothing twice, so the usage adds up exactly to the requests admitted.
 *
 * With apikey_rate_limit_scope cluster, the same script grants quota
 * leases (see ngx_http_apikey_quota.c): it is the one place where the
 * instances' counts and leases meet, atomically.
 *
 * Keys to flush are found through a ring of digests (each followed by its
 * digest scheme's byte) in the zone, filled
 * when a key's pending count leaves zero, so a flush costs the keys used
 * since the last one, not a walk of the whole table.  The ring is this
 * file's alone.
 */


#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"

#include <ngx_sha1.h>
#include <sodium.h>


#define NGX_HTTP_APIKEY_USAGE_BATCH    512
#define NGX_HTTP_APIKEY_FLUSH_CLUSTER  50
#define NGX_HTTP_APIKEY_FLUSH_LOCAL    1000
#define NGX_HTTP_APIKEY_ASK_POLL       2       /* ms, the owner, cluster */
#define NGX_HTTP_APIKEY_LEASE_TTL_MS   "10000"
#define NGX_HTTP_APIKEY_LEASE_IDLE     2000    /* ms, then it goes back */

/* a ring entry: the digest, then its scheme */
#define NGX_HTTP_APIKEY_RING_ENTRY     (NGX_HTTP_APIKEY_DIGEST_LEN + 1)


/*
 * KEYS: usage:<id>:<hour>, quota:<id>:<hour>, quota:instances,
 * usage:<id>:last, usage:<id>:day:<day>.  ARGV: instance, count (this
 * hour, running), lease held, lease wanted, limit (0: none), now (ms),
 * lease TTL (ms), last use.  The quota hash holds per instance "<count
 * applied>:<lease>:<expiry>"; what a report adds to the hour is added to
 * the day too.  Returns {usage, grant, free before the grant, others'
 * leases, instances, the day's usage}.
 */

static const char  ngx_http_apikey_usage_script[] =
    "local seen, lease = 0, tonumber(ARGV[3]) "
    "local f = redis.call('HGET', KEYS[2], ARGV[1]) "
    "if f then seen = tonumber(string.match(f, '^(%d+)')) or 0 end "
    "local count, usage, day = tonumber(ARGV[2]) "
    "if count > seen then "
      "usage = redis.call('INCRBY', KEYS[1], count - seen) "
      "day = redis.call('INCRBY', KEYS[5], count - seen) "
      "seen = count "
    "else "
      "usage = tonumber(redis.call('GET', KEYS[1]) or '0') "
      "day = tonumber(redis.call('GET', KEYS[5]) or '0') "
    "end "
    "redis.call('EXPIRE', KEYS[1], 691200) "
    "redis.call('EXPIRE', KEYS[5], 691200) "
    "redis.call('SET', KEYS[4], ARGV[8]) "
    "local limit, now = tonumber(ARGV[5]), tonumber(ARGV[6]) "
    "local grant, free, others, n = 0, 0, 0, 0 "
    "if limit > 0 then "
      "redis.call('ZADD', KEYS[3], now, ARGV[1]) "
      "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000) "
      "n = redis.call('ZCARD', KEYS[3]) "
      "local all = redis.call('HGETALL', KEYS[2]) "
      "for i = 1, #all, 2 do "
        "if all[i] ~= ARGV[1] then "
          "local l, e = string.match(all[i + 1], '^%d+:(%d+):(%d+)$') "
          "if l and tonumber(e) > now then others = others + tonumber(l) end "
        "end "
      "end "
      "free = limit - usage - others - lease "
      "local want = tonumber(ARGV[4]) "
      "if want > 0 and free > 0 then "
        "grant = math.min(want, math.ceil(free / (2 * n))) "
      "end "
    "else "
      "lease = 0 "
    "end "
    "redis.call('HSET', KEYS[2], ARGV[1], "
               "seen .. ':' .. (lease + grant) .. ':' "
               ".. string.format('%.0f', now + tonumber(ARGV[7]))) "
    "redis.call('EXPIRE', KEYS[2], 7200) "
    "return {usage, grant, free, others, n, day}";


/* what a reply needs to settle a key's counts */

typedef struct {
    u_char                      digest[NGX_HTTP_APIKEY_DIGEST_LEN];
    ngx_uint_t                  scheme;
    uint32_t                    window;
    uint32_t                    count;      /* running, for the hour */
    uint32_t                    lease;
    uint32_t                    want;
    uint32_t                    limit;
    uint32_t                    epoch;
    time_t                      sent;
    ngx_uint_t                  prev;       /* the previous hour's */
} ngx_http_apikey_flush_t;


typedef struct {
    ngx_http_apikey_flush_t     flush;
    uint32_t                    last_used;
    size_t                      id_len;
    u_char                      id[NGX_HTTP_APIKEY_MAX_STR];
} ngx_http_apikey_batch_item_t;


struct ngx_http_apikey_ring_s {
    u_char                     *digests;
    ngx_uint_t                  size;
    ngx_uint_t                  start;
    ngx_uint_t                  n;
    ngx_uint_t                  overflow;   /* keys were left out */
};


/* a walk of the table for the keys the overflowed ring lost */

typedef struct {
    ngx_http_apikey_zone_t        *zone;
    ngx_http_apikey_batch_item_t  *batch;
    ngx_uint_t                     n;
} ngx_http_apikey_usage_walk_t;


static void ngx_http_apikey_usage_timer(ngx_event_t *ev);
static void ngx_http_apikey_usage_flush(ngx_event_t *ev);
static void ngx_http_apikey_usage_new_owner(ngx_http_apikey_zone_t *zone);
static ngx_int_t ngx_http_apikey_usage_node_locked(
    ngx_http_apikey_node_t *node, void *data);
static ngx_uint_t ngx_http_apikey_collect_locked(
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    ngx_http_apikey_batch_item_t *item, ngx_uint_t prev);
static ngx_int_t ngx_http_apikey_usage_send(ngx_http_apikey_batch_item_t *item,
    ngx_log_t *log);
static void ngx_http_apikey_usage_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_apikey_usage_settle_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, ngx_http_apikey_flush_t *item,
    redisReply *reply);
static void ngx_http_apikey_usage_away(ngx_http_apikey_zone_t *zone,
    ngx_log_t *log);


static ngx_event_t                   ngx_http_apikey_usage_event;
static ngx_event_t                   ngx_http_apikey_usage_ask_event;
static ngx_http_apikey_main_conf_t  *ngx_http_apikey_usage_conf;
static ngx_msec_t                    ngx_http_apikey_usage_last;
static ngx_uint_t                    ngx_http_apikey_usage_owner;
static ngx_uint_t                    ngx_http_apikey_usage_loaded;
static u_char                        ngx_http_apikey_usage_sha[40];

/* a static batch: its key names are too large for the stack */
static ngx_http_apikey_batch_item_t
                         ngx_http_apikey_batch[NGX_HTTP_APIKEY_USAGE_BATCH];


ngx_int_t
ngx_http_apikey_usage_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf)
{
    u_char                   sha[20], id[NGX_HTTP_APIKEY_INSTANCE_LEN / 2];
    ngx_sha1_t               sha1;
    ngx_http_apikey_zone_t  *zone;

    ngx_http_apikey_usage_conf = amcf;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, ngx_http_apikey_usage_script,
                    sizeof(ngx_http_apikey_usage_script) - 1);
    ngx_sha1_final(sha, &sha1);
    ngx_hex_dump(ngx_http_apikey_usage_sha, sha, 20);

    /*
     * The instance's name in Redis lives as long as the zone, as do the
     * counts it reports: a reload keeps both, a new zone starts afresh.
     */

    zone = amcf->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->quota_scope = amcf->scope;
    zone->sh->quota_policy = amcf->offline;

    if (zone->sh->instance[0] == '\0') {
        randombytes_buf(id, sizeof(id));
        ngx_hex_dump(zone->sh->instance, id, sizeof(id));
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_apikey_usage_event.handler = ngx_http_apikey_usage_timer;
    ngx_http_apikey_usage_event.log = cycle->log;
    ngx_http_apikey_usage_event.data = amcf;
    ngx_http_apikey_usage_event.cancelable = 1;

    ngx_http_apikey_usage_ask_event.handler = ngx_http_apikey_usage_flush;
    ngx_http_apikey_usage_ask_event.log = cycle->log;
    ngx_http_apikey_usage_ask_event.data = amcf;

    ngx_add_timer(&ngx_http_apikey_usage_event,
                  NGX_HTTP_APIKEY_FLUSH_CLUSTER);

    return NGX_OK;
}


/* the ring, in a new zone: about one entry per 2k of zone */

ngx_int_t
ngx_http_apikey_usage_init_zone(ngx_http_apikey_zone_t *zone, size_t size)
{
    ngx_http_apikey_ring_t  *ring;

    ring = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_apikey_ring_t));
    if (ring == NULL) {
        return NGX_ERROR;
    }

    ring->size = ngx_max(256, ngx_min(65536, size / 2048));

    ring->digests = ngx_slab_alloc(zone->shpool,
                                   ring->size * NGX_HTTP_APIKEY_RING_ENTRY);
    if (ring->digests == NULL) {
        return NGX_ERROR;
    }

    zone->sh->ring = ring;

    return NGX_OK;
}


/* called under the lock when a key's pending count leaves zero */

void
ngx_http_apikey_mark_dirty_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node)
{
    ngx_uint_t               i;
    ngx_http_apikey_ring_t  *ring;

    ring = zone->sh->ring;

    if (ring->n == ring->size) {
        ring->overflow = 1;
        return;
    }

    i = (ring->start + ring->n) % ring->size;

    ngx_memcpy(ring->digests + i * NGX_HTTP_APIKEY_RING_ENTRY,
               node->record.digest, NGX_HTTP_APIKEY_DIGEST_LEN);
    ring->digests[i * NGX_HTTP_APIKEY_RING_ENTRY
                  + NGX_HTTP_APIKEY_DIGEST_LEN] = node->record.scheme;

    ring->n++;
}


/*
 * A request of this worker wants a grant: when this worker is the owner,
 * flush once the current event is handled; the others' asks are seen by
 * the owner's timer within NGX_HTTP_APIKEY_ASK_POLL ms.
 */

void
ngx_http_apikey_usage_ask(void)
{
    if (ngx_http_apikey_usage_owner
        && !ngx_http_apikey_usage_ask_event.posted)
    {
        ngx_post_event(&ngx_http_apikey_usage_ask_event, &ngx_posted_events);
    }
}


static void
ngx_http_apikey_usage_timer(ngx_event_t *ev)
{
    ngx_msec_t                    interval;
    ngx_uint_t                    owner;
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_main_conf_t  *amcf;

    amcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    zone = amcf->shm_zone->data;
    owner = ngx_http_apikey_sync_is_owner();

    if (owner && !ngx_http_apikey_usage_owner) {
        ngx_http_apikey_usage_new_owner(zone);
    }

    ngx_http_apikey_usage_owner = owner;

    if (amcf->scope == NGX_HTTP_APIKEY_SCOPE_LOCAL) {
        interval = NGX_HTTP_APIKEY_FLUSH_LOCAL;

    } else {
        interval = owner ? NGX_HTTP_APIKEY_ASK_POLL
                         : NGX_HTTP_APIKEY_FLUSH_CLUSTER;
    }

    ngx_add_timer(ev, interval);

    if (!owner) {
        return;
    }

    /* between flushes, the owner only looks for asks */

    if (amcf->scope == NGX_HTTP_APIKEY_SCOPE_CLUSTER
        && zone->sh->quota_asks == 0
        && ngx_current_msec - ngx_http_apikey_usage_last
           < NGX_HTTP_APIKEY_FLUSH_CLUSTER)
    {
        return;
    }

    ngx_http_apikey_usage_flush(ev);
}


/*
 * This worker has just become the owner: a report its predecessor sent
 * may never be answered, so every node in flight is collected again (a
 * report repeated adds nothing twice), and the walk below finds the nodes
 * that left the ring with it.
 */

static void
ngx_http_apikey_usage_new_owner(ngx_http_apikey_zone_t *zone)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->quota_epoch++;
    zone->sh->ring->overflow = 1;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_apikey_usage_loaded = 0;
}


static void
ngx_http_apikey_usage_flush(ngx_event_t *ev)
{
    u_char                        *digest;
    ngx_uint_t                     i, m, n, cursor;
    ngx_http_apikey_node_t        *node;
    ngx_http_apikey_zone_t        *zone;
    ngx_http_apikey_ring_t        *ring;
    ngx_http_apikey_shctx_t       *sh;
    ngx_http_apikey_main_conf_t   *amcf;
    ngx_http_apikey_usage_walk_t   walk;
    ngx_http_apikey_batch_item_t  *batch;

    amcf = ev->data;

    if (!ngx_http_apikey_sync_is_owner()
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        return;
    }

    zone = amcf->shm_zone->data;
    sh = zone->sh;
    ring = sh->ring;

    ngx_http_apikey_usage_last = ngx_current_msec;
    sh->quota_asks = 0;

    if (ring->n == 0 && !ring->overflow) {
        return;
    }

    batch = ngx_http_apikey_batch;
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* what the ring holds now: keys put back meanwhile wait for the next */

    m = ring->n;

    while (m && n + 1 < NGX_HTTP_APIKEY_USAGE_BATCH) {
        m--;
        digest = ring->digests + ring->start * NGX_HTTP_APIKEY_RING_ENTRY;
        ring->start = (ring->start + 1) % ring->size;
        ring->n--;

        node = ngx_http_apikey_lookup_locked(zone, digest,
                                          digest[NGX_HTTP_APIKEY_DIGEST_LEN]);

        if (node == NULL) {
            continue;
        }

        n += ngx_http_apikey_collect_locked(zone, node, &batch[n], 1);
        n += ngx_http_apikey_collect_locked(zone, node, &batch[n], 0);
    }

    /* the ring overflowed: find the rest by walking the table once */

    if (m == 0 && ring->overflow) {
        ring->overflow = 0;

        walk.zone = zone;
        walk.batch = batch;
        walk.n = n;

        cursor = 0;

        (void) ngx_http_apikey_walk_locked(zone, &cursor, (ngx_uint_t) -1,
                                           ngx_http_apikey_usage_node_locked,
                                           &walk);
        n = walk.n;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    for (i = 0; i < n; i++) {
        if (ngx_http_apikey_usage_send(&batch[i], ev->log) != NGX_OK) {
            break;
        }
    }

    if (i == n) {
        return;
    }

    /* not sent: the counts stay pending, for the next flush */

    ngx_http_apikey_usage_away(zone, ev->log);

    ngx_shmtx_lock(&zone->shpool->mutex);

    for ( /* void */ ; i < n; i++) {
        node = ngx_http_apikey_lookup_locked(zone, batch[i].flush.digest,
                                             batch[i].flush.scheme);

        if (node == NULL) {
            continue;
        }

        if (batch[i].flush.prev) {
            node->quota.prev_inflight = 0;

        } else {
            node->flags &= ~NGX_HTTP_APIKEY_NODE_INFLIGHT;
            node->quota.asked = 0;

            if (batch[i].flush.want) {
                node->quota.ask = 1;
            }
        }

        ngx_http_apikey_mark_dirty_locked(zone, node);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Redis cannot be told: requests that find no lease get this instance's
 * share (apikey_rate_limit_offline) until a report is answered again.
 */

static void
ngx_http_apikey_usage_away(ngx_http_apikey_zone_t *zone, ngx_log_t *log)
{
    if (zone->sh->quota_offline) {
        return;
    }

    zone->sh->quota_offline = ngx_time();

    if (ngx_http_apikey_usage_conf->scope == NGX_HTTP_APIKEY_SCOPE_CLUSTER) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "apikey: redis is away, hourly counts are kept "
                      "locally until it returns");
    }
}


/*
 * Takes a node's report into a batch item: the previous hour's counts
 * (prev), or this hour's with the lease held and wanted.  Returns 1 when
 * there is something to send.
 */

/*
 * A key with counts to write back: into the batch while it has room,
 * back into the ring otherwise, for the next flush.
 */

static ngx_int_t
ngx_http_apikey_usage_node_locked(ngx_http_apikey_node_t *node, void *data)
{
    ngx_http_apikey_usage_walk_t *walk = data;

    if (node->pending == 0 && !node->quota.ask) {
        return NGX_OK;
    }

    if (walk->n + 1 < NGX_HTTP_APIKEY_USAGE_BATCH) {
        walk->n += ngx_http_apikey_collect_locked(walk->zone, node,
                                                  &walk->batch[walk->n], 1);
        walk->n += ngx_http_apikey_collect_locked(walk->zone, node,
                                                  &walk->batch[walk->n], 0);
        return NGX_OK;
    }

    ngx_http_apikey_mark_dirty_locked(walk->zone, node);

    return NGX_OK;
}


static ngx_uint_t
ngx_http_apikey_collect_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, ngx_http_apikey_batch_item_t *item,
    ngx_uint_t prev)
{
    ngx_http_apikey_quota_t  *q;
    ngx_http_apikey_flush_t  *flush;

    q = &node->quota;
    flush = &item->flush;

    if (prev) {
        if (q->prev_count == 0 || q->prev_inflight) {
            return 0;
        }

        flush->window = q->prev_window;
        flush->count = q->prev_count;
        flush->lease = 0;
        flush->want = 0;
        flush->limit = 0;
        q->prev_inflight = 1;

    } else {
        if (node->flags & NGX_HTTP_APIKEY_NODE_INFLIGHT) {

            if (q->epoch == (uint32_t) zone->sh->quota_epoch) {
                return 0;
            }

            /* its predecessor's report may have asked: ask again */
            q->ask = q->asked;
        }

        if (node->count == q->reported && !q->ask) {
            node->flags &= ~NGX_HTTP_APIKEY_NODE_INFLIGHT;

            if (q->lease == 0 || q->limit == 0) {
                return 0;
            }

            if ((uint32_t) ngx_current_msec - q->answered
                < NGX_HTTP_APIKEY_LEASE_IDLE)
            {
                ngx_http_apikey_mark_dirty_locked(zone, node);
                return 0;
            }

            /*
             * No request here since the last answer, 2 s ago: the lease
             * goes back to the pool, and the answer tells this instance
             * what is free now, for its share should Redis go away.
             */

            q->lease = 0;
        }

        flush->window = node->window;
        flush->count = node->count;
        flush->lease = q->lease;
        flush->want = ngx_http_apikey_quota_want_locked(node);
        flush->limit = q->limit;

        q->ask = 0;
        q->asked = (flush->want != 0);
        q->epoch = (uint32_t) zone->sh->quota_epoch;
        node->flags |= NGX_HTTP_APIKEY_NODE_INFLIGHT;
    }

    flush->prev = prev;
    flush->epoch = (uint32_t) zone->sh->quota_epoch;
    flush->sent = ngx_time();

    ngx_memcpy(flush->digest, node->record.digest,
               NGX_HTTP_APIKEY_DIGEST_LEN);
    flush->scheme = node->record.scheme;

    item->last_used = node->last_used;
    item->id_len = node->record.id_len;
    ngx_memcpy(item->id, ngx_http_apikey_record_id(&node->record),
               item->id_len);

    return 1;
}


static ngx_int_t
ngx_http_apikey_usage_send(ngx_http_apikey_batch_item_t *item,
    ngx_log_t *log)
{
    u_char                   *p;
    ngx_int_t                 rc;
    ngx_str_t                *prefix;
    ngx_time_t               *tp;
    ngx_http_apikey_zone_t   *zone;
    const char               *argv[16];
    size_t                    argvlen[16];
    ngx_http_apikey_flush_t  *flush;
    u_char                    names[5][NGX_HTTP_APIKEY_MAX_PREFIX + 10
                                       + NGX_HTTP_APIKEY_MAX_STR + 1
                                       + NGX_INT32_LEN],
                              args[6][NGX_INT64_LEN];

    flush = ngx_alloc(sizeof(ngx_http_apikey_flush_t), log);
    if (flush == NULL) {
        return NGX_ERROR;
    }

    *flush = item->flush;

    prefix = &ngx_http_apikey_usage_conf->redis->prefix;

    p = ngx_sprintf(names[0], "%Vusage:%*s:%uD", prefix, item->id_len,
                    item->id, flush->window);
    argv[3] = (char *) names[0];
    argvlen[3] = p - names[0];

    p = ngx_sprintf(names[1], "%Vquota:%*s:%uD", prefix, item->id_len,
                    item->id, flush->window);
    argv[4] = (char *) names[1];
    argvlen[4] = p - names[1];

    p = ngx_sprintf(names[2], "%Vquota:instances", prefix);
    argv[5] = (char *) names[2];
    argvlen[5] = p - names[2];

    p = ngx_sprintf(names[3], "%Vusage:%*s:last", prefix, item->id_len,
                    item->id);
    argv[6] = (char *) names[3];
    argvlen[6] = p - names[3];

    p = ngx_sprintf(names[4], "%Vusage:%*s:day:%uD", prefix, item->id_len,
                    item->id, flush->window / 24);
    argv[7] = (char *) names[4];
    argvlen[7] = p - names[4];

    zone = ngx_http_apikey_usage_conf->shm_zone->data;

    argv[8] = (char *) zone->sh->instance;
    argvlen[8] = NGX_HTTP_APIKEY_INSTANCE_LEN;

    tp = ngx_timeofday();

    p = args[0];
    argv[9] = (char *) p;
    argvlen[9] = ngx_sprintf(p, "%uD", flush->count) - p;
    p = args[1];
    argv[10] = (char *) p;
    argvlen[10] = ngx_sprintf(p, "%uD", flush->lease) - p;
    p = args[2];
    argv[11] = (char *) p;
    argvlen[11] = ngx_sprintf(p, "%uD", flush->want) - p;
    p = args[3];
    argv[12] = (char *) p;
    argvlen[12] = ngx_sprintf(p, "%uD", flush->limit) - p;
    p = args[4];
    argv[13] = (char *) p;
    argvlen[13] = ngx_sprintf(p, "%T%03M", tp->sec, tp->msec) - p;
    argv[14] = NGX_HTTP_APIKEY_LEASE_TTL_MS;
    argvlen[14] = sizeof(NGX_HTTP_APIKEY_LEASE_TTL_MS) - 1;
    p = args[5];
    argv[15] = (char *) p;
    argvlen[15] = ngx_sprintf(p, "%uD", item->last_used) - p;

    argv[2] = "5";
    argvlen[2] = 1;

    /* EVAL once per connection of this owner, EVALSHA after that */

    if (ngx_http_apikey_usage_loaded) {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (char *) ngx_http_apikey_usage_sha;
        argvlen[1] = 40;

    } else {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = ngx_http_apikey_usage_script;
        argvlen[1] = sizeof(ngx_http_apikey_usage_script) - 1;
    }

    rc = ngx_http_apikey_sync_command_argv(ngx_http_apikey_usage_reply, flush,
                                           16, argv, argvlen);
    if (rc != NGX_OK) {
        ngx_free(flush);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_apikey_usage_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_http_apikey_flush_t  *item = privdata;

    ngx_http_apikey_node_t   *node;
    ngx_http_apikey_zone_t   *zone;

    zone = ngx_http_apikey_usage_conf->shm_zone->data;

    if (reply == NULL) {
        /* the connection went away: the report is sent again later */
        ngx_http_apikey_usage_away(zone, ngx_cycle->log);

    } else if (reply->type == REDIS_REPLY_ERROR) {

        if (ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            ngx_http_apikey_usage_loaded = 0;

        } else {
            /* counted, and logged every 10 s while it lasts */
            ngx_http_apikey_redis_write_failed(reply, "usage write-back");
        }

    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 6) {
        ngx_http_apikey_usage_loaded = 1;

        if (zone->sh->quota_offline) {
            zone->sh->quota_offline = 0;
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "apikey: redis is back, hourly counts are shared "
                          "again");
        }

        (void) ngx_atomic_fetch_add(&zone->sh->quota_reports, 1);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_apikey_lookup_locked(zone, item->digest, item->scheme);

    if (node) {
        ngx_http_apikey_usage_settle_locked(zone, node, item, reply);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(item);
}


static void
ngx_http_apikey_usage_settle_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, ngx_http_apikey_flush_t *item,
    redisReply *reply)
{
    ngx_uint_t                ok, i;
    long long                 v[6];
    ngx_http_apikey_quota_t  *q;

    q = &node->quota;

    ok = (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 6);

    for (i = 0; ok && i < 6; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            ok = 0;
            break;
        }

        v[i] = reply->element[i]->integer;
    }

    if (item->prev) {
        q->prev_inflight = 0;

        if (ok && q->prev_window == item->window
            && q->prev_count == item->count)
        {
            q->prev_count = 0;
        }

        goto done;
    }

    if (item->epoch != q->epoch) {
        /* a report of a previous owner's: the new one sent it again */
        goto done;
    }

    node->flags &= ~NGX_HTTP_APIKEY_NODE_INFLIGHT;
    q->asked = 0;

    if (!ok) {
        if (item->want) {
            q->ask = 1;
        }

        goto done;
    }

    if (node->window != item->window) {
        goto done;
    }

    if (item->count > q->reported) {
        q->reported = item->count;
    }

    q->answered = (uint32_t) ngx_current_msec;

    /* cluster scope: what Redis holds beyond what this instance told it */

    if (ngx_http_apikey_usage_conf->scope == NGX_HTTP_APIKEY_SCOPE_CLUSTER) {
        node->remote = (v[0] > (long long) item->count)
                       ? (uint32_t) (v[0] - item->count) : 0;

        ngx_http_apikey_day_settle_locked(node, item->window, item->count,
                                          v[5]);
    }

    if (item->limit) {
        ngx_http_apikey_quota_granted_locked(zone, node, (uint32_t) v[1],
                                             item->want, v[2], v[3],
                                             (uint32_t) v[4], item->sent);
    }

done:

    node->pending = (node->count - q->reported) + (q->prev_count ? 1 : 0);

    /* a lease held stays in the ring: it goes back when not used */

    if (node->pending || q->ask || (q->lease && q->limit)) {
        ngx_http_apikey_mark_dirty_locked(zone, node);
    }
}
