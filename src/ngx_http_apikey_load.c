
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the one record loader.
 *
 * Every record reaches the zone through this file: a full load (SCAN,
 * then pipelined HGETALL, records parsed straight into a batch applied
 * under one lock hold), or one record read again for an event or a change
 * log entry.  A first load puts records live as they come, and the policy
 * refuses requests until it completes.  A later full load stages the
 * records that differ and makes them visible only once the whole set was
 * read, so requests are always decided from a complete set; its end
 * (staged records promoted, keys gone from Redis swept) runs in small
 * steps from the event loop, and the sweep only when the zone counts
 * something for it to find: the syncing worker also serves requests.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <sodium.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_sync.h"


static ngx_int_t ngx_http_apikey_sync_parse(ngx_http_apikey_sync_t *s,
    u_char *digest, ngx_uint_t scheme, redisReply *reply,
    ngx_http_apikey_record_t *rec, size_t *size);
static ngx_int_t ngx_http_apikey_sync_flush(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_finish_load(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_finish_step(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_finished(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_superseded(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_end_load(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_discard(ngx_http_apikey_sync_t *s);
static u_char *ngx_http_apikey_sync_stage(ngx_http_apikey_sync_t *s);
static u_char *ngx_http_apikey_sync_staged(ngx_http_apikey_sync_t *s,
    ngx_uint_t i);


void
ngx_http_apikey_sync_start_load(ngx_http_apikey_sync_t *s,
    ngx_uint_t explicit)
{
    ngx_http_apikey_shctx_t  *sh;

    if (s->loading) {
        s->again = 1;
        return;
    }

    sh = s->zone->sh;

    if (s->resync.timer_set) {
        ngx_del_timer(&s->resync);
    }

    s->loading = 1;
    s->again = 0;
    s->full = 0;
    s->scan_done = 0;
    s->finishing = 0;
    s->sweeping = 0;
    s->sweep_all = s->must_sweep;
#if (NGX_HTTP_APIKEY_TEST)
    s->test_hold = 0;
#endif
    s->load++;
    s->explicit = explicit;
    s->tip_len = 0;
    s->applied_len = 0;
    s->load_has_epoch = 0;
    s->scans = 0;
    s->outstanding = 0;
    s->keys = 0;
    s->changed = 0;
    s->skipped = 0;
    s->removed = 0;
    s->promoted = 0;
    s->bucket = 0;
    s->batch_used = 0;
    s->batch_n = 0;
    s->nstaged = 0;
    s->start = ngx_current_msec;

    ngx_shmtx_lock(&s->zone->shpool->mutex);

    if ((ngx_pid_t) sh->owner != ngx_pid) {
        ngx_shmtx_unlock(&s->zone->shpool->mutex);
        s->loading = 0;
        (void) ngx_http_apikey_sync_owned(s);
        return;
    }

    s->first = !sh->loaded;
    s->generation = ngx_http_apikey_new_generation_locked(s->zone);

    ngx_shmtx_unlock(&s->zone->shpool->mutex);

    sh->sync_state = NGX_HTTP_APIKEY_SYNC_LOADING;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: %s load, generation %uD",
                   s->first ? "first" : "full", s->generation);

    /*
     * the epoch and the stream's last entry before the first SCAN: the
     * load holds every change made before that entry, and the log is read
     * after it
     */

    if (ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_LOAD_EPOCH,
                                  "GET %b", s->epoch_key.data,
                                  s->epoch_key.len)
        != NGX_OK
        || ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_TIP,
                                     "XREVRANGE %b + - COUNT 1",
                                     s->stream.data, s->stream.len)
           != NGX_OK
        || ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_SCAN,
                                     "SCAN 0 MATCH %b COUNT "
                                     NGX_HTTP_APIKEY_SYNC_SCAN_COUNT,
                                     s->match.data, s->match.len)
           != NGX_OK)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "SCAN not sent");
    }
}


void
ngx_http_apikey_sync_scan_reply(ngx_http_apikey_sync_t *s, redisReply *reply)
{
    u_char       digest[NGX_HTTP_APIKEY_DIGEST_LEN];
    size_t       len;
    ngx_uint_t   i, scheme;
    redisReply  *cursor, *keys, *key;

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_sync_failed(s, &s->cmd, "SCAN failed: %*s",
                                    ngx_min(reply->len, 80), reply->str);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len == 0
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "unexpected SCAN reply");
        return;
    }

    cursor = reply->element[0];
    keys = reply->element[1];

    s->scans++;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: SCAN #%ui: %uz names, cursor %*s",
                   s->scans, keys->elements, cursor->len, cursor->str);

    /* "<prefix>key:<hex>", and "<prefix>key:sha256:<hex>" (imported) */

    len = s->key_prefix.len;

    for (i = 0; i < keys->elements; i++) {
        key = keys->element[i];

        if (key->type != REDIS_REPLY_STRING
            || key->len < len + NGX_HTTP_APIKEY_HEX_LEN
            || ngx_memcmp(key->str, s->key_prefix.data, len) != 0
            || ngx_http_apikey_digest_name((u_char *) key->str + len,
                                           key->len - len, &scheme, digest)
               != NGX_OK)
        {
            /* the name is not shown: a careless writer might use keys */

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->log, 0,
                           "apikey: ignoring a name of %uz bytes that is "
                           "not a key hash name",
                           key->type == REDIS_REPLY_STRING ? key->len : 0);
            continue;
        }

        s->keys++;

        if (s->full) {
            continue;   /* only counted, for the log */
        }

        if (ngx_http_apikey_sync_hgetall(s, NGX_HTTP_APIKEY_CMD_LOAD, digest,
                                         scheme, (u_char *) key->str
                                                 + key->len
                                                 - NGX_HTTP_APIKEY_HEX_LEN,
                                         NULL, 0)
            != NGX_OK)
        {
            ngx_http_apikey_sync_failed(s, &s->cmd, "HGETALL not sent");
            return;
        }

        s->outstanding++;
    }

    if (cursor->len == 1 && cursor->str[0] == '0') {
        s->scan_done = 1;

        if (s->outstanding == 0) {
            ngx_http_apikey_sync_finish_load(s);
        }

        return;
    }

    if (s->scans >= NGX_HTTP_APIKEY_SYNC_MAX_SCANS) {
        ngx_http_apikey_sync_failed(s, &s->cmd,
                                    "SCAN did not finish after %ui calls",
                                    s->scans);
        return;
    }

    /* the next SCAN goes behind the HGETALLs: the pipeline stays full */

    if (ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_SCAN,
                                  "SCAN %b MATCH %b COUNT "
                                  NGX_HTTP_APIKEY_SYNC_SCAN_COUNT,
                                  cursor->str, cursor->len,
                                  s->match.data, s->match.len)
        != NGX_OK)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "SCAN not sent");
    }
}


void
ngx_http_apikey_sync_load_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply)
{
    size_t      size;
    u_char     *p;
    ngx_int_t   rc;

    s->outstanding--;

    if (reply->type == REDIS_REPLY_ERROR) {

        /*
         * an error (LOADING, MOVED, NOPERM...) says nothing about the
         * key: counted as skipped, its record would be swept as gone
         */

        ngx_http_apikey_sync_failed(s, &s->cmd,
                                    "HGETALL failed during a full load: %*s",
                                    ngx_min(reply->len, 80), reply->str);
        return;
    }

    /* the record is parsed straight into the batch, where it waits */

    if (!s->full
        && s->batch_used + sizeof(size_t) + s->rec_max
           > NGX_HTTP_APIKEY_SYNC_BATCH_SIZE
        && ngx_http_apikey_sync_flush(s) == NGX_ABORT)
    {
        return;
    }

    if (!s->full) {
        p = s->batch + s->batch_used;

        rc = ngx_http_apikey_sync_parse(s, cmd->digest, cmd->scheme, reply,
                                        (ngx_http_apikey_record_t *)
                                            (p + sizeof(size_t)),
                                        &size);

        if (rc == NGX_OK) {
            *(size_t *) p = size;

            s->batch_used += ngx_align(sizeof(size_t) + size,
                                       sizeof(size_t));
            s->batch_n++;

            if (s->batch_n >= NGX_HTTP_APIKEY_SYNC_BATCH
                && ngx_http_apikey_sync_flush(s) == NGX_ABORT)
            {
                return;
            }

        } else if (rc == NGX_ERROR) {
            s->skipped++;
            (void) ngx_atomic_fetch_add(&s->zone->sh->skipped_records, 1);
        }

        /* NGX_DECLINED: deleted since SCAN saw it */
    }

    if (s->scan_done && s->outstanding == 0) {
        ngx_http_apikey_sync_finish_load(s);
    }
}


void
ngx_http_apikey_sync_event_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply)
{
    size_t                   size;
    ngx_int_t                rc, put;
    ngx_http_apikey_zone_t  *zone;

    zone = s->zone;

    if (reply->type == REDIS_REPLY_ERROR) {

        /*
         * an error reply is never a deletion: the record stays as it is,
         * and the change is read again after the reconnection (from the
         * log's position, or by a full load)
         */

        ngx_http_apikey_sync_failed(s, &s->cmd,
                                    "HGETALL failed, the key's record is "
                                    "kept: %*s",
                                    ngx_min(reply->len, 80), reply->str);
        return;
    }

    /* load replies that came before this one are applied before it */

    if (ngx_http_apikey_sync_flush(s) == NGX_ABORT) {
        return;
    }

    rc = ngx_http_apikey_sync_parse(s, cmd->digest, cmd->scheme, reply,
                                    s->rec, &size);

    put = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (rc == NGX_OK) {
        put = ngx_http_apikey_put_locked(zone, s->rec, size, 0);

        if (put == NGX_ERROR) {
            /* the old record must not outlive a revocation */
            (void) ngx_http_apikey_delete_locked(zone, cmd->digest,
                                                 cmd->scheme, 0);
        }

    } else {
        (void) ngx_http_apikey_delete_locked(zone, cmd->digest, cmd->scheme,
                                             0);
    }

    if (cmd->id_len) {
        ngx_http_apikey_sync_set_position_locked(s, cmd->id, cmd->id_len);
    }

#if (NGX_HTTP_APIKEY_TEST)
    ngx_http_apikey_check_locked(zone, s->log);
#endif

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (rc == NGX_ERROR) {
        (void) ngx_atomic_fetch_add(&zone->sh->skipped_records, 1);
    }

    if (put == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "apikey zone \"%V\" is full, an updated key was "
                      "removed instead", &zone->name);
    }

    (void) ngx_atomic_fetch_add(&zone->sh->events_applied, 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: event for %s%*xs applied",
                   cmd->scheme ? NGX_APIKEY_SHA256_TAG : "",
                   (size_t) NGX_HTTP_APIKEY_DIGEST_LEN, cmd->digest);
}


/*
 * An HGETALL reply as the record parser wants it: NGX_OK with rec (room
 * for s->rec_max bytes) and *size filled, NGX_DECLINED when there is no
 * such key, NGX_ERROR when the hash is broken (logged).  The record keeps
 * the digest scheme its name said.
 */

static ngx_int_t
ngx_http_apikey_sync_parse(ngx_http_apikey_sync_t *s, u_char *digest,
    ngx_uint_t scheme, redisReply *reply, ngx_http_apikey_record_t *rec,
    size_t *size)
{
    ngx_int_t    rc;
    ngx_uint_t   i;
    redisReply  *e;

    if (reply->type == REDIS_REPLY_ARRAY
        && reply->elements <= NGX_HTTP_APIKEY_SYNC_MAX_FIELDS)
    {
        for (i = 0; i < reply->elements; i++) {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_STRING) {
                goto broken;
            }

            s->fields[i].len = e->len;
            s->fields[i].data = (u_char *) e->str;
        }

        rc = ngx_http_apikey_parse_record(s->log, digest, s->fields,
                                          reply->elements, rec, size);

        rec->scheme = (uint8_t) scheme;

        return rc;
    }

broken:

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "apikey: redis key \"%V\" is not a valid key hash%s%*s",
                  ngx_http_apikey_sync_key_name(s, digest, scheme),
                  reply->type == REDIS_REPLY_ERROR ? ": " : "",
                  reply->type == REDIS_REPLY_ERROR
                  ? ngx_min(reply->len, 80) : 0,
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "");

    return NGX_ERROR;
}


/*
 * Applies the buffered load records under one lock hold.  A zone that
 * overflows ends the load's chances: a first load empties the zone, a
 * re-sync forgets what it staged and the last complete set stays.
 */

static ngx_int_t
ngx_http_apikey_sync_flush(ngx_http_apikey_sync_t *s)
{
    u_char                    *p, *last, *d;
    size_t                     size;
    ngx_int_t                  rc;
    ngx_http_apikey_zone_t    *zone;
    ngx_http_apikey_record_t  *rec;

    if (s->batch_n == 0) {
        return NGX_OK;
    }

    zone = s->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (zone->sh->generation != s->generation) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_http_apikey_sync_superseded(s);
        return NGX_ABORT;
    }

    p = s->batch;
    last = s->batch + s->batch_used;

    while (p < last) {
        size = *(size_t *) p;
        rec = (ngx_http_apikey_record_t *) (p + sizeof(size_t));

        p += ngx_align(sizeof(size_t) + size, sizeof(size_t));

        rc = ngx_http_apikey_put_locked(zone, rec, size, !s->first);

        if (rc == NGX_ERROR) {
            s->full = 1;
            break;
        }

#if (NGX_HTTP_APIKEY_TEST)
        if (rec->id_len == sizeof(NGX_HTTP_APIKEY_SYNC_TEST_HOLD) - 1
            && ngx_memcmp(ngx_http_apikey_record_id(rec),
                          NGX_HTTP_APIKEY_SYNC_TEST_HOLD,
                          sizeof(NGX_HTTP_APIKEY_SYNC_TEST_HOLD) - 1)
               == 0)
        {
            s->test_hold = 1;
        }
#endif

        if (rc == NGX_OK) {
            s->changed++;

            if (!s->first) {
                d = ngx_http_apikey_sync_stage(s);
                if (d == NULL) {
                    /* keep it from being promoted half-way: treat as full */
                    (void) ngx_http_apikey_delete_locked(zone, rec->digest,
                                                         rec->scheme, 1);
                    s->full = 1;
                    break;
                }

                ngx_memcpy(d, rec->digest, NGX_HTTP_APIKEY_DIGEST_LEN);
                d[NGX_HTTP_APIKEY_DIGEST_LEN] = rec->scheme;
            }
        }
    }

    if (s->full && s->first) {
        ngx_http_apikey_wipe_locked(zone);
    }

#if (NGX_HTTP_APIKEY_TEST)
    ngx_http_apikey_check_locked(zone, s->log);
#endif

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: applied %ui records, %ui changed so far",
                   s->batch_n, s->changed);

    s->batch_used = 0;
    s->batch_n = 0;

    if (s->full && !s->first) {
        ngx_http_apikey_sync_discard(s);
    }

    return NGX_OK;
}


static void
ngx_http_apikey_sync_finish_load(ngx_http_apikey_sync_t *s)
{
    ngx_http_apikey_zone_t   *zone;
    ngx_http_apikey_shctx_t  *sh;

    if (ngx_http_apikey_sync_flush(s) == NGX_ABORT) {
        return;
    }

    zone = s->zone;
    sh = zone->sh;

    if (s->full) {
        if (s->first) {
            ngx_shmtx_lock(&zone->shpool->mutex);

            if (sh->generation == s->generation) {
                ngx_http_apikey_wipe_locked(zone);
            }

            ngx_shmtx_unlock(&zone->shpool->mutex);
        }

        sh->sync_state = sh->loaded ? NGX_HTTP_APIKEY_SYNC_SYNCED
                                    : NGX_HTTP_APIKEY_SYNC_LOADING;

        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "apikey zone \"%V\" is too small for %ui keys, %s",
                      &zone->name, s->keys,
                      s->first ? "requests are refused until it fits"
                               : "the previous set of keys stays in use");

        ngx_http_apikey_sync_end_load(s);
        return;
    }

#if (NGX_HTTP_APIKEY_TEST)

    /*
     * Test builds only: a re-sync that read a record with the id
     * NGX_HTTP_APIKEY_SYNC_TEST_HOLD stops here with its changes staged,
     * and so stays until its worker is killed, as if it had died right
     * now (see t/006-processes.t); the first load of a worker that took
     * the sync over never stops.
     */

    if (s->test_hold && !s->first && !s->sweep_all) {
        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "apikey: test: full load held with %ui records staged",
                      s->nstaged);
        return;
    }

#endif

    /*
     * Everything was read.  The changed records become visible, then what
     * Redis no longer has goes: a step at a time, each under one lock hold
     * and each in its own turn of the event loop, so that the requests
     * this worker serves meanwhile wait for one step at most.  The load is
     * still "loading" until the last step: a "*" meanwhile sets s->again.
     */

    s->finishing = 1;
    s->sweeping = 0;
    s->promoted = 0;
    s->bucket = 0;

    ngx_http_apikey_sync_finish_step(s);
}


void
ngx_http_apikey_sync_finish_handler(ngx_event_t *ev)
{
    ngx_http_apikey_sync_t  *s;

    s = ev->data;

    if (!s->loading || !s->finishing || !ngx_http_apikey_sync_owned(s)) {
        return;
    }

    ngx_http_apikey_sync_finish_step(s);
}


/*
 * One step: up to NGX_HTTP_APIKEY_SYNC_PROMOTE staged records promoted, or
 * NGX_HTTP_APIKEY_SYNC_SWEEP buckets swept.  The sweep is skipped, or cut
 * short, once the zone counts nothing a sweep could remove: an unchanged
 * set of keys costs no walk of the buckets at all.
 */

static void
ngx_http_apikey_sync_finish_step(ngx_http_apikey_sync_t *s)
{
    u_char                   *d;
    ngx_uint_t                n;
    ngx_http_apikey_zone_t   *zone;
    ngx_http_apikey_shctx_t  *sh;

    zone = s->zone;
    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sh->generation != s->generation) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_http_apikey_sync_superseded(s);
        return;
    }

    if (!s->sweeping) {
        n = ngx_min(s->nstaged - s->promoted, NGX_HTTP_APIKEY_SYNC_PROMOTE);

        while (n--) {
            d = ngx_http_apikey_sync_staged(s, s->promoted);
            (void) ngx_http_apikey_promote_locked(zone, d,
                                            d[NGX_HTTP_APIKEY_DIGEST_LEN]);
            s->promoted++;
        }

        if (s->promoted < s->nstaged) {
            goto next;
        }

#if (NGX_HTTP_APIKEY_TEST)
        ngx_http_apikey_check_locked(zone, s->log);
#endif

        /*
         * every staged record of this load is live now: a staged node
         * left is a dead worker's, and a live node of an older generation
         * is a key Redis no longer has (or one whose record broke)
         */

        s->nstaged = 0;
        s->promoted = 0;
        s->sweeping = 1;

        if (!s->sweep_all && ngx_http_apikey_stale_locked(zone) == 0) {
            goto done;
        }

        goto next;
    }

    if (ngx_http_apikey_sweep_locked(zone, &s->bucket,
                                     NGX_HTTP_APIKEY_SYNC_SWEEP,
                                     s->generation, &s->removed)
        == NGX_OK)
    {
        ngx_http_apikey_swept_locked(zone, s->log);
        s->must_sweep = 0;
        goto done;
    }

    if (!s->sweep_all && ngx_http_apikey_stale_locked(zone) == 0) {
        goto done;
    }

next:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /*
     * ngx_posted_next_events: after the events that are ready now, and the
     * next epoll pass (ngx_posted_events would run it in this very pass
     * again and again)
     */

    ngx_post_event(&s->finish, &ngx_posted_next_events);

    return;

done:

#if (NGX_HTTP_APIKEY_TEST)

    /* whatever the sweep skipped, nothing stale or staged may be left */

    ngx_http_apikey_check_locked(zone, s->log);

    if (sh->stale || sh->nstaged) {
        ngx_log_error(NGX_LOG_ALERT, s->log, 0,
                      "apikey: a full load ended with %ui stale and %ui "
                      "staged nodes", sh->stale, sh->nstaged);
        ngx_abort();
    }

#endif

    if (s->first) {
        sh->loaded = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_apikey_sync_finished(s);
}


static void
ngx_http_apikey_sync_finished(ngx_http_apikey_sync_t *s)
{
    ngx_msec_t                ms;
    ngx_http_apikey_zone_t   *zone;
    ngx_http_apikey_shctx_t  *sh;

    zone = s->zone;
    sh = zone->sh;

    ms = ngx_current_msec - s->start;

    /*
     * the mirror now holds the dataset read at the start, and every change
     * up to the stream's last entry then, or the last one applied since
     */

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_memcpy(sh->epoch, s->load_epoch, NGX_HTTP_APIKEY_DIGEST_LEN);
    sh->has_epoch = s->load_has_epoch;
    sh->dataset = NGX_HTTP_APIKEY_DATASET_OK;

    if (ngx_http_apikey_sync_id_cmp(s->applied, s->applied_len,
                                    s->tip, s->tip_len)
        > 0)
    {
        ngx_memcpy(sh->position, s->applied, s->applied_len);
        sh->position_len = s->applied_len;

    } else {
        ngx_memcpy(sh->position, s->tip, s->tip_len);
        sh->position_len = s->tip_len;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    sh->from_snapshot = 0;
    sh->last_full_sync = ngx_time();
    sh->last_full_sync_ms = ms;
    sh->sync_state = NGX_HTTP_APIKEY_SYNC_SYNCED;
    (void) ngx_atomic_fetch_add(&sh->full_syncs, 1);

    if (s->announce) {
        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "apikey: redis %V connected, loaded %ui keys in %M ms",
                      &s->amcf->redis->address, sh->nkeys, ms);

    } else {
        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "apikey: full sync of %ui keys in %M ms: "
                      "%ui changed, %ui removed, %ui skipped",
                      sh->nkeys, ms, s->changed, s->removed, s->skipped);
    }

    s->announce = 0;
    s->down = 0;
    s->backoff = NGX_HTTP_APIKEY_SYNC_BACKOFF_MIN;

    if (s->amcf->snapshot.len) {
        (void) ngx_http_apikey_snapshot_write(zone, s->amcf, 0, s->log);
    }

    ngx_http_apikey_sync_end_load(s);
}


/*
 * Another process bumped the generation: it syncs now, and what this load
 * would promote or sweep is no longer its to touch.
 */

static void
ngx_http_apikey_sync_superseded(ngx_http_apikey_sync_t *s)
{
    ngx_log_error(NGX_LOG_WARN, s->log, 0,
                  "apikey: full load abandoned, another process syncs");

    ngx_http_apikey_sync_abort_load(s, 0);

    if (ngx_http_apikey_sync_owned(s)) {
        ngx_http_apikey_sync_failed(s, &s->cmd, "full load superseded");
    }
}


static void
ngx_http_apikey_sync_end_load(ngx_http_apikey_sync_t *s)
{
    ngx_http_apikey_shctx_t  *sh;

    sh = s->zone->sh;

    s->loading = 0;
    s->finishing = 0;
    s->sweeping = 0;
    s->nstaged = 0;
    s->promoted = 0;
    s->batch_used = 0;
    s->batch_n = 0;

    if (!sh->loaded) {
        sh->sync_state = NGX_HTTP_APIKEY_SYNC_LOADING;
    }

    if (s->again) {
        s->again = 0;
        ngx_http_apikey_sync_start_load(s, 1);
        return;
    }

    /*
     * with the change log nothing is missed, even across a lost
     * connection; the periodic re-sync is for version 1 only
     */

    if (s->amcf->sync_interval && sh->position_len == 0) {
        ngx_add_timer(&s->resync, s->amcf->sync_interval);
    }
}


void
ngx_http_apikey_sync_abort_load(ngx_http_apikey_sync_t *s,
    ngx_uint_t discard)
{
    if (!s->loading) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: load abandoned, %ui staged, %ui promoted",
                   s->nstaged, s->promoted);

    if (s->finish.posted) {
        ngx_delete_posted_event(&s->finish);
    }

    /*
     * what was promoted stays (each record is one Redis had), the rest of
     * what was staged goes: the next full load completes the set
     */

    if (discard && !s->first
        && (ngx_pid_t) s->zone->sh->owner == ngx_pid)
    {
        ngx_http_apikey_sync_discard(s);
    }

    s->loading = 0;
    s->again = 0;
    s->finishing = 0;
    s->sweeping = 0;
    s->load++;
    s->nstaged = 0;
    s->promoted = 0;
    s->batch_used = 0;
    s->batch_n = 0;
}


static void
ngx_http_apikey_sync_discard(ngx_http_apikey_sync_t *s)
{
    u_char                  *d;
    ngx_uint_t               i, n;
    ngx_http_apikey_zone_t  *zone;

    zone = s->zone;

    /* those already promoted are live, and not this load's to take back */

    for (i = s->promoted; i < s->nstaged; /* void */) {
        n = ngx_min(s->nstaged - i, NGX_HTTP_APIKEY_SYNC_CHUNK);

        ngx_shmtx_lock(&zone->shpool->mutex);

        while (n--) {
            d = ngx_http_apikey_sync_staged(s, i);
            (void) ngx_http_apikey_delete_locked(zone, d,
                                             d[NGX_HTTP_APIKEY_DIGEST_LEN],
                                             1);
            i++;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    s->nstaged = 0;
}


/* room for one more staged digest and its scheme; NULL: out of memory */

static u_char *
ngx_http_apikey_sync_stage(ngx_http_apikey_sync_t *s)
{
    u_char  **block;

    if (s->nstaged == s->staged.nelts * NGX_HTTP_APIKEY_SYNC_STAGED_BLOCK) {
        block = ngx_array_push(&s->staged);
        if (block == NULL) {
            return NULL;
        }

        *block = ngx_palloc(s->pool, NGX_HTTP_APIKEY_SYNC_STAGED_BLOCK
                                     * NGX_HTTP_APIKEY_SYNC_STAGED_LEN);
        if (*block == NULL) {
            s->staged.nelts--;
            return NULL;
        }
    }

    return ngx_http_apikey_sync_staged(s, s->nstaged++);
}


static u_char *
ngx_http_apikey_sync_staged(ngx_http_apikey_sync_t *s, ngx_uint_t i)
{
    u_char  **blocks;

    blocks = s->staged.elts;

    return blocks[i / NGX_HTTP_APIKEY_SYNC_STAGED_BLOCK]
           + (i % NGX_HTTP_APIKEY_SYNC_STAGED_BLOCK)
             * NGX_HTTP_APIKEY_SYNC_STAGED_LEN;
}
