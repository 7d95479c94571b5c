
/*
 * Counts written back to Redis: every counted request adds to its key's
 * node->pending; the syncing worker sends those counts in batches, never
 * on the request path, as INCRBY on "<prefix>usage:<id>:<hour>" (the
 * per-key usage the dashboard shows, kept 8 days), and records
 * "<prefix>usage:<id>:last".  With apikey_rate_limit_scope cluster, the
 * total that INCRBY returns is every instance's count for the hour, and
 * what the others counted becomes node->remote.
 *
 * Keys to flush are found through a ring of digests in the zone, filled
 * when a key's pending count leaves zero, so a flush costs the keys used
 * since the last one, not a walk of the whole table.
 */


#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"


#define NGX_HTTP_APIKEY_USAGE_BATCH    512
#define NGX_HTTP_APIKEY_USAGE_TTL      "691200"        /* 8 days */
#define NGX_HTTP_APIKEY_FLUSH_CLUSTER  50
#define NGX_HTTP_APIKEY_FLUSH_NEAR     10      /* a key nears its limit */
#define NGX_HTTP_APIKEY_FLUSH_LOCAL    1000


/* what a reply needs to settle a key's counts */

typedef struct {
    u_char                      digest[NGX_HTTP_APIKEY_DIGEST_LEN];
    uint32_t                    window;
    uint32_t                    delta;
} ngx_http_apikey_flush_t;


typedef struct {
    ngx_http_apikey_flush_t     flush;
    uint32_t                    last_used;
    size_t                      base_len;   /* "<prefix>usage:<id>:" */
    u_char                      name[NGX_HTTP_APIKEY_MAX_PREFIX + 6
                                     + NGX_HTTP_APIKEY_MAX_STR + 1
                                     + NGX_INT32_LEN];
} ngx_http_apikey_batch_item_t;


static void ngx_http_apikey_usage_timer(ngx_event_t *ev);
static ngx_uint_t ngx_http_apikey_collect_locked(ngx_http_apikey_node_t *node,
    ngx_http_apikey_batch_item_t *item);
static ngx_int_t ngx_http_apikey_usage_send(ngx_http_apikey_batch_item_t *item,
    ngx_log_t *log);
static void ngx_http_apikey_usage_reply(redisAsyncContext *ac, void *r,
    void *privdata);


static ngx_event_t                   ngx_http_apikey_usage_event;
static ngx_http_apikey_main_conf_t  *ngx_http_apikey_usage_conf;
static ngx_uint_t                    ngx_http_apikey_usage_offline;

/* a static batch: its key names are too large for the stack */
static ngx_http_apikey_batch_item_t
                         ngx_http_apikey_batch[NGX_HTTP_APIKEY_USAGE_BATCH];


ngx_int_t
ngx_http_apikey_usage_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf)
{
    ngx_http_apikey_usage_conf = amcf;

    ngx_http_apikey_usage_event.handler = ngx_http_apikey_usage_timer;
    ngx_http_apikey_usage_event.log = cycle->log;
    ngx_http_apikey_usage_event.data = amcf;
    ngx_http_apikey_usage_event.cancelable = 1;

    ngx_add_timer(&ngx_http_apikey_usage_event,
                  NGX_HTTP_APIKEY_FLUSH_CLUSTER);

    return NGX_OK;
}


/* called under the lock when a key's pending count leaves zero */

void
ngx_http_apikey_mark_dirty_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node)
{
    ngx_uint_t                i;
    ngx_http_apikey_shctx_t  *sh;

    sh = zone->sh;

    if (sh->dirty_n == sh->dirty_size) {
        sh->dirty_overflow = 1;
        return;
    }

    i = (sh->dirty_start + sh->dirty_n) % sh->dirty_size;

    ngx_memcpy(sh->dirty + i * NGX_HTTP_APIKEY_DIGEST_LEN,
               node->record.digest, NGX_HTTP_APIKEY_DIGEST_LEN);

    sh->dirty_n++;
}


static void
ngx_http_apikey_usage_timer(ngx_event_t *ev)
{
    u_char                        *digest;
    ngx_msec_t                     interval;
    ngx_uint_t                     i, n, bucket;
    ngx_http_apikey_node_t        *node;
    ngx_http_apikey_zone_t        *zone;
    ngx_http_apikey_shctx_t       *sh;
    ngx_http_apikey_main_conf_t   *amcf;
    ngx_http_apikey_batch_item_t  *batch;

    amcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    zone = amcf->shm_zone->data;
    sh = zone->sh;

    if (amcf->scope == NGX_HTTP_APIKEY_SCOPE_LOCAL) {
        interval = NGX_HTTP_APIKEY_FLUSH_LOCAL;

    } else if (sh->flush_soon) {
        interval = NGX_HTTP_APIKEY_FLUSH_NEAR;

    } else {
        interval = NGX_HTTP_APIKEY_FLUSH_CLUSTER;
    }

    ngx_add_timer(ev, interval);

    if (!ngx_http_apikey_sync_is_owner()) {
        return;
    }

    sh->flush_soon = 0;

    if (sh->dirty_n == 0 && !sh->dirty_overflow) {
        return;
    }

    batch = ngx_http_apikey_batch;
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    while (sh->dirty_n && n < NGX_HTTP_APIKEY_USAGE_BATCH) {
        digest = sh->dirty + sh->dirty_start * NGX_HTTP_APIKEY_DIGEST_LEN;
        sh->dirty_start = (sh->dirty_start + 1) % sh->dirty_size;
        sh->dirty_n--;

        node = ngx_http_apikey_lookup_locked(zone, digest);

        if (node && ngx_http_apikey_collect_locked(node, &batch[n])) {
            n++;
        }
    }

    /* the ring overflowed: find the rest by walking the table once */

    if (sh->dirty_n == 0 && sh->dirty_overflow) {
        sh->dirty_overflow = 0;

        for (bucket = 0; bucket <= sh->mask; bucket++) {
            for (node = sh->buckets[bucket]; node; node = node->next) {
                if (node->pending == 0
                    || (node->flags & (NGX_HTTP_APIKEY_NODE_STAGED
                                       |NGX_HTTP_APIKEY_NODE_INFLIGHT)))
                {
                    continue;
                }

                if (n < NGX_HTTP_APIKEY_USAGE_BATCH
                    && ngx_http_apikey_collect_locked(node, &batch[n]))
                {
                    n++;
                    continue;
                }

                ngx_http_apikey_mark_dirty_locked(zone, node);
            }
        }
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

    if (amcf->scope == NGX_HTTP_APIKEY_SCOPE_CLUSTER
        && !ngx_http_apikey_usage_offline)
    {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "apikey: redis is away, hourly counts are kept "
                      "locally until it returns");
        ngx_http_apikey_usage_offline = 1;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    for ( /* void */ ; i < n; i++) {
        node = ngx_http_apikey_lookup_locked(zone, batch[i].flush.digest);

        if (node) {
            node->flags &= ~NGX_HTTP_APIKEY_NODE_INFLIGHT;
            ngx_http_apikey_mark_dirty_locked(zone, node);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * INCRBY <prefix>usage:<id>:<hour> <delta>, EXPIRE it, and
 * SET <prefix>usage:<id>:last <unix time>; only the INCRBY's reply counts.
 */

static ngx_int_t
ngx_http_apikey_usage_send(ngx_http_apikey_batch_item_t *item,
    ngx_log_t *log)
{
    u_char                   *p;
    ngx_int_t                 rc;
    const char               *argv[3];
    size_t                    argvlen[3];
    ngx_http_apikey_flush_t  *flush;
    u_char                    value[NGX_INT64_LEN],
                              last[sizeof(item->name)];

    flush = ngx_alloc(sizeof(ngx_http_apikey_flush_t), log);
    if (flush == NULL) {
        return NGX_ERROR;
    }

    *flush = item->flush;

    p = ngx_sprintf(item->name + item->base_len, "%uD", flush->window);

    argv[0] = "INCRBY";
    argvlen[0] = 6;
    argv[1] = (char *) item->name;
    argvlen[1] = p - item->name;
    argv[2] = (char *) value;
    argvlen[2] = ngx_sprintf(value, "%uD", flush->delta) - value;

    rc = ngx_http_apikey_sync_command_argv(ngx_http_apikey_usage_reply, flush,
                                           3, argv, argvlen);
    if (rc != NGX_OK) {
        ngx_free(flush);
        return NGX_DECLINED;
    }

    argv[0] = "EXPIRE";
    argv[2] = NGX_HTTP_APIKEY_USAGE_TTL;
    argvlen[2] = sizeof(NGX_HTTP_APIKEY_USAGE_TTL) - 1;

    (void) ngx_http_apikey_sync_command_argv(NULL, NULL, 3, argv, argvlen);

    p = ngx_cpymem(last, item->name, item->base_len);
    p = ngx_cpymem(p, "last", 4);

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) last;
    argvlen[1] = p - last;
    argv[2] = (char *) value;
    argvlen[2] = ngx_sprintf(value, "%uD", item->last_used) - value;

    (void) ngx_http_apikey_sync_command_argv(NULL, NULL, 3, argv, argvlen);

    return NGX_OK;
}


/* takes a node's pending count into a batch item, with its key's name */

static ngx_uint_t
ngx_http_apikey_collect_locked(ngx_http_apikey_node_t *node,
    ngx_http_apikey_batch_item_t *item)
{
    u_char     *p;
    ngx_str_t  *prefix;

    if (node->pending == 0
        || (node->flags & NGX_HTTP_APIKEY_NODE_INFLIGHT))
    {
        return 0;
    }

    prefix = &ngx_http_apikey_usage_conf->redis->prefix;

    p = ngx_cpymem(item->name, prefix->data, prefix->len);
    p = ngx_cpymem(p, "usage:", 6);
    p = ngx_cpymem(p, ngx_http_apikey_record_id(&node->record),
                   node->record.id_len);
    *p++ = ':';

    item->base_len = p - item->name;
    item->last_used = node->last_used;

    ngx_memcpy(item->flush.digest, node->record.digest,
               NGX_HTTP_APIKEY_DIGEST_LEN);
    item->flush.window = node->window;
    item->flush.delta = node->pending;

    node->flags |= NGX_HTTP_APIKEY_NODE_INFLIGHT;

    return 1;
}


static void
ngx_http_apikey_usage_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_http_apikey_flush_t  *item = privdata;

    uint32_t                  acked;
    ngx_http_apikey_node_t   *node;
    ngx_http_apikey_zone_t   *zone;

    zone = ngx_http_apikey_usage_conf->shm_zone->data;

    ngx_http_apikey_redis_write_failed(reply, "usage write-back");

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_apikey_lookup_locked(zone, item->digest);

    if (node == NULL) {
        goto done;
    }

    node->flags &= ~NGX_HTTP_APIKEY_NODE_INFLIGHT;

    if (reply && reply->type == REDIS_REPLY_INTEGER
        && node->window == item->window)
    {
        node->pending -= ngx_min(item->delta, node->pending);

        if (ngx_http_apikey_usage_conf->scope
            == NGX_HTTP_APIKEY_SCOPE_CLUSTER)
        {
            /* what Redis holds beyond what this instance told it */

            acked = node->count - node->pending;
            node->remote = (reply->integer > (long long) acked)
                           ? (uint32_t) (reply->integer - acked) : 0;
        }

        if (ngx_http_apikey_usage_offline) {
            ngx_http_apikey_usage_offline = 0;
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "apikey: redis is back, hourly counts are shared "
                          "again");
        }
    }

    if (node->pending) {
        ngx_http_apikey_mark_dirty_locked(zone, node);
    }

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(item);
}
