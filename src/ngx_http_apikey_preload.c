
/*
 * The first load, done by the master at start before any worker exists,
 * so that a freshly started nginx decides from a complete mirror from its
 * first request instead of answering 503 until a worker has synced.
 *
 * This is the one place that speaks to Redis synchronously: it runs in the
 * master, during start-up, under a short deadline, never in a worker and
 * never on a reload that reuses a loaded zone.  If Redis is not there in
 * time the zone stays unloaded and the syncing worker takes over as usual.
 */


#include "ngx_http_apikey.h"
#include "ngx_http_apikey_transport.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_APIKEY_PRELOAD_CONNECT  500
#define NGX_HTTP_APIKEY_PRELOAD_DEADLINE 10000
#define NGX_HTTP_APIKEY_PRELOAD_BATCH    1000


static ngx_int_t ngx_http_apikey_preload_batch(ngx_http_apikey_zone_t *zone,
    redisContext *rc, redisReply *keys, ngx_str_t *prefix,
    ngx_http_apikey_record_t *rec, ngx_log_t *log);
static redisReply *ngx_http_apikey_preload_command(redisContext *rc,
    ngx_log_t *log, int argc, const char **argv, const size_t *argvlen);


ngx_int_t
ngx_http_apikey_preload(ngx_cycle_t *cycle, ngx_http_apikey_main_conf_t *amcf)
{
    size_t                         len;
    ngx_int_t                      rc;
    ngx_uint_t                     cursor_bucket, nkeys;
    ngx_msec_t                     start, elapsed;
    ngx_time_t                    *tp;
    redisReply                    *reply;
    redisContext                  *ctx;
    struct timeval                 tv;
    ngx_http_apikey_zone_t        *zone;
    ngx_http_apikey_record_t      *rec;
    ngx_http_apikey_redis_conf_t  *rcf;
    const char                    *argv[6];
    size_t                         argvlen[6];
    u_char                         pattern[2 * NGX_HTTP_APIKEY_MAX_PREFIX + 8];
    char                           cursor[32], db[NGX_INT_T_LEN + 1];

    zone = amcf->shm_zone->data;
    rcf = amcf->redis;

    /*
     * a reload that finds old workers syncing leaves the load to them;
     * so does a Redis behind TLS, which a plaintext connection must not
     * try
     */

    if (zone->sh->loaded || zone->sh->owner
        || !ngx_http_apikey_transport_plain(rcf))
    {
        return NGX_DECLINED;
    }

    tp = ngx_timeofday();
    start = (ngx_msec_t) (tp->sec * 1000 + tp->msec);

    tv.tv_sec = 0;
    tv.tv_usec = NGX_HTTP_APIKEY_PRELOAD_CONNECT * 1000;

    if (rcf->unix_path.len) {
        ctx = redisConnectUnixWithTimeout((char *) rcf->unix_path.data, tv);

    } else {
        ctx = redisConnectWithTimeout((char *) rcf->host.data,
                                      (int) rcf->port, tv);
    }

    if (ctx == NULL || ctx->err) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "apikey: redis at \"%V\" is not reachable at start "
                      "(%s), the workers will keep trying",
                      &rcf->address, ctx ? ctx->errstr : "no memory");
        if (ctx) {
            redisFree(ctx);
        }
        return NGX_DECLINED;
    }

    tv.tv_sec = 2;
    tv.tv_usec = 0;
    (void) redisSetTimeout(ctx, tv);

    rec = ngx_alloc(ngx_http_apikey_record_max_size(), cycle->log);
    if (rec == NULL) {
        redisFree(ctx);
        return NGX_ERROR;
    }

    rc = NGX_DECLINED;

    if (rcf->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (char *) (rcf->user.len ? rcf->user.data
                                          : rcf->password.data);
        argvlen[1] = rcf->user.len ? rcf->user.len : rcf->password.len;
        argv[2] = (char *) rcf->password.data;
        argvlen[2] = rcf->password.len;

        reply = ngx_http_apikey_preload_command(ctx, cycle->log,
                                                rcf->user.len ? 3 : 2,
                                                argv, argvlen);
        if (reply == NULL) {
            goto done;
        }

        freeReplyObject(reply);
    }

    if (rcf->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = ngx_sprintf((u_char *) db, "%i", rcf->db) - (u_char *) db;

        reply = ngx_http_apikey_preload_command(ctx, cycle->log, 2, argv,
                                                argvlen);
        if (reply == NULL) {
            goto done;
        }

        freeReplyObject(reply);
    }

    len = ngx_http_apikey_glob_escape(pattern, &rcf->prefix,
                                      NGX_HTTP_APIKEY_MAX_PREFIX)
          - pattern;
    len = ngx_cpymem(pattern + len, "key:*", 5) - pattern;

    ngx_shmtx_lock(&zone->shpool->mutex);
    (void) ngx_http_apikey_new_generation_locked(zone);
    zone->sh->sync_state = NGX_HTTP_APIKEY_SYNC_LOADING;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_cpystrn((u_char *) cursor, (u_char *) "0", sizeof(cursor));

    do {
        argv[0] = "SCAN";
        argvlen[0] = 4;
        argv[1] = cursor;
        argvlen[1] = ngx_strlen(cursor);
        argv[2] = "MATCH";
        argvlen[2] = 5;
        argv[3] = (char *) pattern;
        argvlen[3] = len;
        argv[4] = "COUNT";
        argvlen[4] = 5;
        argv[5] = "1000";
        argvlen[5] = 4;

        reply = ngx_http_apikey_preload_command(ctx, cycle->log, 6, argv,
                                                argvlen);
        if (reply == NULL) {
            goto failed;
        }

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[0]->len >= sizeof(cursor)
            || reply->element[1]->type != REDIS_REPLY_ARRAY)
        {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "apikey: unexpected SCAN reply from redis");
            freeReplyObject(reply);
            goto failed;
        }

        ngx_cpystrn((u_char *) cursor, (u_char *) reply->element[0]->str,
                    reply->element[0]->len + 1);

        rc = ngx_http_apikey_preload_batch(zone, ctx, reply->element[1],
                                           &rcf->prefix, rec, cycle->log);

        freeReplyObject(reply);

        if (rc != NGX_OK) {
            goto failed;
        }

        tp = ngx_timeofday();
        ngx_time_update();
        elapsed = (ngx_msec_t) (tp->sec * 1000 + tp->msec) - start;

        if (elapsed > NGX_HTTP_APIKEY_PRELOAD_DEADLINE) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "apikey: the first load did not end within %M ms, "
                          "the workers will finish it",
                          (ngx_msec_t) NGX_HTTP_APIKEY_PRELOAD_DEADLINE);
            goto failed;
        }

    } while (ngx_strcmp(cursor, "0") != 0);

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* a fresh zone has nothing older: no walk of every bucket */

    if (ngx_http_apikey_stale_locked(zone)) {
        cursor_bucket = 0;

        while (cursor_bucket <= zone->sh->mask) {
            (void) ngx_http_apikey_sweep_locked(zone, &cursor_bucket, 65536,
                                                zone->sh->generation);
        }

        ngx_http_apikey_swept_locked(zone, cycle->log);
    }

    ngx_time_update();
    tp = ngx_timeofday();

    zone->sh->loaded = 1;
    zone->sh->full_syncs++;
    zone->sh->last_full_sync = tp->sec;
    zone->sh->last_full_sync_ms = (ngx_msec_t) (tp->sec * 1000 + tp->msec)
                                  - start;
    zone->sh->sync_state = NGX_HTTP_APIKEY_SYNC_IDLE;
    nkeys = zone->sh->nkeys;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "apikey: loaded %ui keys from redis at \"%V\" in %Mms",
                  nkeys, &rcf->address, zone->sh->last_full_sync_ms);

    rc = NGX_OK;
    goto done;

failed:

    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_http_apikey_wipe_locked(zone);
    zone->sh->sync_state = NGX_HTTP_APIKEY_SYNC_IDLE;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    rc = NGX_DECLINED;

done:

    ngx_free(rec);
    redisFree(ctx);

    return rc;
}


static ngx_int_t
ngx_http_apikey_preload_batch(ngx_http_apikey_zone_t *zone,
    redisContext *rc, redisReply *keys, ngx_str_t *prefix,
    ngx_http_apikey_record_t *rec, ngx_log_t *log)
{
    void        *r;
    size_t       size, hlen;
    ngx_int_t    parsed, put;
    ngx_uint_t   i, j, n, sent;
    ngx_str_t    fields[NGX_HTTP_APIKEY_MAX_FIELDS];
    redisReply  *reply, *key;
    u_char       digest[NGX_HTTP_APIKEY_DIGEST_LEN];

    sent = 0;

    for (i = 0; i < keys->elements; i++) {
        key = keys->element[i];

        if (key->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (redisAppendCommand(rc, "HGETALL %b", key->str, key->len)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }

        sent++;
    }

    n = 0;

    for (i = 0; i < keys->elements; i++) {
        key = keys->element[i];

        if (key->type != REDIS_REPLY_STRING) {
            continue;
        }

        n++;

        if (redisGetReply(rc, &r) != REDIS_OK) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "apikey: redis failed during the first load: %s",
                          rc->errstr);
            return NGX_ERROR;
        }

        reply = r;

        hlen = key->len - prefix->len - 4;

        if (key->len <= prefix->len + 4
            || ngx_http_apikey_hex_to_digest((u_char *) key->str
                                             + prefix->len + 4,
                                             hlen, digest)
               != NGX_OK
            || reply->type != REDIS_REPLY_ARRAY
            || reply->elements > NGX_HTTP_APIKEY_MAX_FIELDS)
        {
            if (reply->type == REDIS_REPLY_ARRAY
                && reply->elements > NGX_HTTP_APIKEY_MAX_FIELDS)
            {
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              "apikey: skipped a record with %uz fields",
                              reply->elements);
                (void) ngx_atomic_fetch_add(&zone->sh->skipped_records, 1);
            }

            freeReplyObject(reply);
            continue;
        }

        for (j = 0; j < reply->elements; j++) {
            fields[j].data = (u_char *) reply->element[j]->str;
            fields[j].len = reply->element[j]->len;

            if (reply->element[j]->type != REDIS_REPLY_STRING) {
                fields[j].len = 0;
            }
        }

        parsed = ngx_http_apikey_parse_record(log, digest, fields,
                                              reply->elements, rec, &size);

        freeReplyObject(reply);

        if (parsed == NGX_ERROR) {
            (void) ngx_atomic_fetch_add(&zone->sh->skipped_records, 1);
            continue;
        }

        if (parsed != NGX_OK) {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);
        put = ngx_http_apikey_put_locked(zone, rec, size, 0);
        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (put == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "apikey: zone \"%V\" is too small for the keys in "
                          "redis; none are served until it is made larger",
                          &zone->name);

            /* drain the pipeline so the connection stays usable */

            for (n++; n <= sent; n++) {
                if (redisGetReply(rc, &r) != REDIS_OK) {
                    break;
                }

                freeReplyObject(r);
            }

            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static redisReply *
ngx_http_apikey_preload_command(redisContext *rc, ngx_log_t *log, int argc,
    const char **argv, const size_t *argvlen)
{
    redisReply  *reply;

    reply = redisCommandArgv(rc, argc, argv, argvlen);

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "apikey: redis %s failed: %s", argv[0], rc->errstr);
        return NULL;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "apikey: redis %s failed: %*s", argv[0],
                      reply->len, reply->str);
        freeReplyObject(reply);
        return NULL;
    }

    return reply;
}


/* the prefix as a SCAN MATCH pattern matches only itself */

u_char *
ngx_http_apikey_glob_escape(u_char *dst, ngx_str_t *src, size_t max)
{
    size_t  i;

    for (i = 0; i < src->len && i < max; i++) {
        switch (src->data[i]) {
        case '*':
        case '?':
        case '[':
        case ']':
        case '\\':
            *dst++ = '\\';
            /* fall through */
        default:
            *dst++ = src->data[i];
        }
    }

    return dst;
}
