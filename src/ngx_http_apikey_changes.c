
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the change log and the epoch.
 *
 * "<prefix>changes" is read with XREAD BLOCK, on its own connection, from
 * the last entry applied (the mirror's position, kept in the zone and the
 * snapshot); each entry's record is read again and applied in order.
 * After connecting, the epoch and the position decide: read on from the
 * position (no full load), load everything (a first start, a position
 * trimmed away, no stream: version 1), or hold the mirror (Redis has no
 * epoch or another one: data loss is not revocation) until a full load is
 * asked for ("d *").  See docs/replication.md.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <sodium.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_sync.h"


static ngx_int_t ngx_http_apikey_sync_epoch_of(ngx_http_apikey_sync_t *s,
    redisReply *reply, u_char *epoch);
static void ngx_http_apikey_sync_hold(ngx_http_apikey_sync_t *s,
    ngx_uint_t dataset);
static ngx_int_t ngx_http_apikey_sync_check_position(
    ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_connected(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_log_handler(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_apikey_sync_entry(ngx_http_apikey_sync_t *s,
    redisReply *entry);
static ngx_int_t ngx_http_apikey_sync_entry_id(redisReply *r, u_char *id,
    size_t *len);


/*
 * Connected, subscribed: whether the mirror can go on from the change log
 * or must load everything depends on what Redis holds, its epoch first.
 */

void
ngx_http_apikey_sync_begin(ngx_http_apikey_sync_t *s)
{
    if (ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_EPOCH_CONNECT,
                                  "GET %b", s->epoch_key.data,
                                  s->epoch_key.len)
        != NGX_OK)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "GET not sent");
    }
}


/* NGX_OK: the epoch's digest in epoch; NGX_DECLINED: none; NGX_ERROR */

static ngx_int_t
ngx_http_apikey_sync_epoch_of(ngx_http_apikey_sync_t *s, redisReply *reply,
    u_char *epoch)
{
    if (reply->type == REDIS_REPLY_NIL) {
        return NGX_DECLINED;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_http_apikey_sync_failed(s, &s->cmd, "GET %V failed: %*s",
                                    &s->epoch_key,
                                    reply->type == REDIS_REPLY_ERROR
                                    ? ngx_min(reply->len, 80) : 0,
                                    reply->type == REDIS_REPLY_ERROR
                                    ? reply->str : "");
        return NGX_ERROR;
    }

    /* any length: the mirror keeps a digest of it */

    crypto_generichash(epoch, NGX_HTTP_APIKEY_DIGEST_LEN,
                       (u_char *) reply->str, reply->len, NULL, 0);

    return NGX_OK;
}


void
ngx_http_apikey_sync_epoch_reply(ngx_http_apikey_sync_t *s, ngx_uint_t kind,
    redisReply *reply)
{
    ngx_int_t                 rc;
    ngx_uint_t                present, differs;
    ngx_http_apikey_zone_t   *zone;
    ngx_http_apikey_shctx_t  *sh;
    u_char                    epoch[NGX_HTTP_APIKEY_DIGEST_LEN];

    rc = ngx_http_apikey_sync_epoch_of(s, reply, epoch);
    if (rc == NGX_ERROR) {
        return;
    }

    zone = s->zone;
    sh = zone->sh;

    present = (rc == NGX_OK);
    differs = sh->has_epoch
              && (!present
                  || ngx_memcmp(epoch, sh->epoch, NGX_HTTP_APIKEY_DIGEST_LEN)
                     != 0);

    if (kind == NGX_HTTP_APIKEY_CMD_LOAD_EPOCH) {

        /*
         * a load nobody asked for (a reconnection, a trimmed position)
         * never replaces the mirror with another dataset, or with none
         */

        if (differs && sh->loaded && !s->explicit) {
            ngx_http_apikey_sync_abort_load(s, 1);
            ngx_http_apikey_sync_hold(s, present
                                         ? NGX_HTTP_APIKEY_DATASET_CHANGED
                                         : NGX_HTTP_APIKEY_DATASET_MISSING);
            return;
        }

        s->load_has_epoch = present;
        ngx_memcpy(s->load_epoch, epoch, NGX_HTTP_APIKEY_DIGEST_LEN);

        return;
    }

    if (kind == NGX_HTTP_APIKEY_CMD_EPOCH_CHECK) {

        if (!sh->loaded || s->loading) {
            return;
        }

        if (differs) {
            ngx_http_apikey_sync_hold(s, present
                                         ? NGX_HTTP_APIKEY_DATASET_CHANGED
                                         : NGX_HTTP_APIKEY_DATASET_MISSING);
            return;
        }

        if (sh->dataset != NGX_HTTP_APIKEY_DATASET_OK) {
            ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                          "apikey: redis %V holds the mirror's dataset "
                          "again", &s->amcf->redis->address);

            sh->dataset = NGX_HTTP_APIKEY_DATASET_OK;

            if (ngx_http_apikey_sync_check_position(s) != NGX_OK) {
                ngx_http_apikey_sync_failed(s, &s->cmd, "XRANGE not sent");
            }

            return;
        }

        if (!sh->has_epoch && present) {

            /* the first writer of the key set named it: that is ours */

            ngx_shmtx_lock(&zone->shpool->mutex);
            ngx_memcpy(sh->epoch, epoch, NGX_HTTP_APIKEY_DIGEST_LEN);
            sh->has_epoch = 1;
            ngx_shmtx_unlock(&zone->shpool->mutex);
        }

        return;
    }

    /* NGX_HTTP_APIKEY_CMD_EPOCH_CONNECT */

    if (!sh->loaded) {
        ngx_http_apikey_sync_start_load(s, 0);
        return;
    }

    if (differs) {
        ngx_http_apikey_sync_hold(s, present
                                     ? NGX_HTTP_APIKEY_DATASET_CHANGED
                                     : NGX_HTTP_APIKEY_DATASET_MISSING);
        return;
    }

    if (!sh->has_epoch && present) {
        ngx_shmtx_lock(&zone->shpool->mutex);
        ngx_memcpy(sh->epoch, epoch, NGX_HTTP_APIKEY_DIGEST_LEN);
        sh->has_epoch = 1;
        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    sh->dataset = NGX_HTTP_APIKEY_DATASET_OK;

    if (sh->position_len) {
        if (ngx_http_apikey_sync_check_position(s) != NGX_OK) {
            ngx_http_apikey_sync_failed(s, &s->cmd, "XRANGE not sent");
        }

        return;
    }

    /* version 1: what happened while away is known only by loading */

    ngx_http_apikey_sync_start_load(s, 0);
}


/*
 * Data loss is not revocation: Redis without the mirror's epoch, or with
 * another one, does not replace the mirror.  Decisions go on from it,
 * changes of single keys from the log and the channel still apply, and a
 * full load waits until one is asked for ("d *" or, with no stream, "*").
 */

static void
ngx_http_apikey_sync_hold(ngx_http_apikey_sync_t *s, ngx_uint_t dataset)
{
    ngx_http_apikey_shctx_t  *sh;

    sh = s->zone->sh;

    if (sh->dataset != dataset) {
        sh->dataset = dataset;

        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "apikey: redis %V %s, the %ui keys of the mirror stay "
                      "in use until it returns or a full load is asked for "
                      "(apikeyctl accept-dataset)",
                      &s->amcf->redis->address,
                      dataset == NGX_HTTP_APIKEY_DATASET_MISSING
                      ? "has lost the dataset (no epoch)"
                      : "holds another dataset (another epoch)",
                      sh->nkeys);
    }

    ngx_http_apikey_sync_connected(s);

    if (s->read_from_len == 0) {
        if (sh->position_len) {
            ngx_memcpy(s->read_from, sh->position, sh->position_len);
            s->read_from_len = sh->position_len;

        } else {
            s->read_from_len = ngx_cpymem(s->read_from, "0-0", 3)
                               - s->read_from;
        }
    }

    ngx_http_apikey_sync_read(s);
}


/* is the mirror's position still in the change log? */

static ngx_int_t
ngx_http_apikey_sync_check_position(ngx_http_apikey_sync_t *s)
{
    ngx_http_apikey_shctx_t  *sh;

    sh = s->zone->sh;

    return ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_RESUME,
                                     "XRANGE %b %b + COUNT 1",
                                     s->stream.data, s->stream.len,
                                     sh->position, sh->position_len);
}


void
ngx_http_apikey_sync_resume_reply(ngx_http_apikey_sync_t *s,
    redisReply *reply)
{
    size_t                    len;
    ngx_http_apikey_shctx_t  *sh;
    u_char                    id[NGX_HTTP_APIKEY_STREAM_ID_LEN];

    sh = s->zone->sh;

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_apikey_sync_failed(s, &s->cmd, "XRANGE failed: %*s",
                                    reply->type == REDIS_REPLY_ERROR
                                    ? ngx_min(reply->len, 80) : 0,
                                    reply->type == REDIS_REPLY_ERROR
                                    ? reply->str : "");
        return;
    }

    if (s->loading) {
        return;
    }

    if (reply->elements >= 1
        && reply->element[0]->type == REDIS_REPLY_ARRAY
        && reply->element[0]->elements == 2
        && ngx_http_apikey_sync_entry_id(reply->element[0]->element[0], id,
                                         &len)
           == NGX_OK
        && len == sh->position_len
        && ngx_memcmp(id, sh->position, len) == 0)
    {
        ngx_memcpy(s->read_from, sh->position, sh->position_len);
        s->read_from_len = sh->position_len;

        if (s->announce) {
            ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                          "apikey: redis %V connected, %ui keys, reading "
                          "the change log after %*s",
                          &s->amcf->redis->address, sh->nkeys,
                          s->read_from_len, s->read_from);
        }

        ngx_http_apikey_sync_connected(s);
        ngx_http_apikey_sync_read(s);
        return;
    }

    /* trimmed away (or the stream is gone): changes may have been missed */

    ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                  "apikey: the change log no longer holds entry %*s, "
                  "loading everything", sh->position_len, sh->position);

    ngx_http_apikey_sync_start_load(s, 0);
}


void
ngx_http_apikey_sync_tip_reply(ngx_http_apikey_sync_t *s, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_apikey_sync_failed(s, &s->cmd, "XREVRANGE failed: %*s",
                                    reply->type == REDIS_REPLY_ERROR
                                    ? ngx_min(reply->len, 80) : 0,
                                    reply->type == REDIS_REPLY_ERROR
                                    ? reply->str : "");
        return;
    }

    s->tip_len = 0;

    if (reply->elements >= 1
        && reply->element[0]->type == REDIS_REPLY_ARRAY
        && reply->element[0]->elements == 2
        && ngx_http_apikey_sync_entry_id(reply->element[0]->element[0],
                                         s->tip, &s->tip_len)
           != NGX_OK)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "unexpected XREVRANGE reply");
        return;
    }

    if (s->read_from_len == 0) {

        /* with no stream yet, its first entries are read when it comes */

        if (s->tip_len) {
            ngx_memcpy(s->read_from, s->tip, s->tip_len);
            s->read_from_len = s->tip_len;

        } else {
            s->read_from_len = ngx_cpymem(s->read_from, "0-0", 3)
                               - s->read_from;
        }

        ngx_http_apikey_sync_read(s);
    }
}


void
ngx_http_apikey_sync_star_reply(ngx_http_apikey_sync_t *s, redisReply *reply)
{
    ngx_http_apikey_zone_t  *zone;

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_apikey_sync_failed(s, &s->cmd, "EXISTS failed");
        return;
    }

    if (reply->integer) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, s->log, 0,
                       "apikey: \"*\" ignored, the change log exists");
        return;
    }

    /* the stream is gone: back to version 1 */

    zone = s->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);
    zone->sh->position_len = 0;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_apikey_sync_full_request(s);
}


void
ngx_http_apikey_sync_full_request(ngx_http_apikey_sync_t *s)
{
    if (s->loading) {
        s->again = 1;

    } else if (s->cmd.is_ready) {
        ngx_http_apikey_sync_start_load(s, 1);
    }
}


/* the sync is on: the mirror is current, or held (see above) */

static void
ngx_http_apikey_sync_connected(ngx_http_apikey_sync_t *s)
{
    ngx_http_apikey_shctx_t  *sh;

    sh = s->zone->sh;

    sh->sync_state = NGX_HTTP_APIKEY_SYNC_SYNCED;
    sh->from_snapshot = 0;

    s->announce = 0;
    s->down = 0;
    s->backoff = NGX_HTTP_APIKEY_SYNC_BACKOFF_MIN;
}


/* one XREAD BLOCK at a time on the change log's own connection */

void
ngx_http_apikey_sync_read(ngx_http_apikey_sync_t *s)
{
    if (s->read_from_len == 0 || s->reading || !s->changes.is_ready) {
        return;
    }

    if (ngx_http_apikey_redis_command(&s->changes,
                                      ngx_http_apikey_sync_log_handler, s,
                                      "XREAD COUNT "
                                      NGX_HTTP_APIKEY_SYNC_XREAD_COUNT
                                      " BLOCK " NGX_HTTP_APIKEY_SYNC_BLOCK
                                      " STREAMS %b %b",
                                      s->stream.data, s->stream.len,
                                      s->read_from, s->read_from_len)
        != NGX_OK)
    {
        ngx_http_apikey_sync_failed(s, &s->changes, "XREAD not sent");
        return;
    }

    s->reading = 1;
}


static void
ngx_http_apikey_sync_log_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply              *reply = r;
    ngx_http_apikey_sync_t  *s = privdata;

    ngx_uint_t   i, j;
    redisReply  *stream, *entries;

    if (reply == NULL || ac != s->changes.ac) {
        return;
    }

    s->reading = 0;

    if (!ngx_http_apikey_sync_owned(s)) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_sync_failed(s, &s->changes, "XREAD failed: %*s",
                                    ngx_min(reply->len, 80), reply->str);
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            stream = reply->element[i];

            if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2
                || stream->element[1]->type != REDIS_REPLY_ARRAY)
            {
                ngx_http_apikey_sync_failed(s, &s->changes,
                                            "unexpected XREAD reply");
                return;
            }

            entries = stream->element[1];

            for (j = 0; j < entries->elements; j++) {
                ngx_http_apikey_sync_entry(s, entries->element[j]);

                if (s->changes.ac != ac) {
                    return;     /* the sync failed */
                }
            }
        }

    } else if (reply->type != REDIS_REPLY_NIL) {
        ngx_http_apikey_sync_failed(s, &s->changes, "unexpected XREAD reply");
        return;
    }

    ngx_http_apikey_sync_read(s);
}


/*
 * one entry of the change log: "d <digest>" ("d sha256:<digest>" for an
 * imported key), or "d *" for everything
 */

static void
ngx_http_apikey_sync_entry(ngx_http_apikey_sync_t *s, redisReply *entry)
{
    size_t       len;
    ngx_uint_t   i, scheme;
    redisReply  *fields, *d;
    u_char       id[NGX_HTTP_APIKEY_STREAM_ID_LEN];
    u_char       digest[NGX_HTTP_APIKEY_DIGEST_LEN];

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || ngx_http_apikey_sync_entry_id(entry->element[0], id, &len)
           != NGX_OK)
    {
        ngx_http_apikey_sync_failed(s, &s->changes, "unexpected XREAD entry");
        return;
    }

    ngx_memcpy(s->read_from, id, len);
    s->read_from_len = len;

    fields = entry->element[1];
    d = NULL;

    if (fields->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < fields->elements; i += 2) {
            if (fields->element[i]->type == REDIS_REPLY_STRING
                && fields->element[i]->len == 1
                && fields->element[i]->str[0] == 'd'
                && fields->element[i + 1]->type == REDIS_REPLY_STRING)
            {
                d = fields->element[i + 1];
                break;
            }
        }
    }

    if (d && d->len == 1 && d->str[0] == '*') {
        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "apikey: change log entry %*s asks for a full load",
                      len, id);

        ngx_http_apikey_sync_full_request(s);
        return;
    }

    if (d == NULL
        || ngx_http_apikey_digest_name((u_char *) d->str, d->len, &scheme,
                                       digest)
           != NGX_OK)
    {
        /* what was written is not shown: it might be a key */

        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "apikey: ignored change log entry %*s, its \"d\" is "
                      "neither a digest nor \"*\"", len, id);
        return;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: change log entry %*s: %*s",
                   len, id, (size_t) d->len, d->str);

    if (ngx_http_apikey_sync_hgetall(s, NGX_HTTP_APIKEY_CMD_EVENT, digest,
                                     scheme, (u_char *) d->str + d->len
                                             - NGX_HTTP_APIKEY_HEX_LEN,
                                     id, len)
        == NGX_ERROR)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "HGETALL not sent");
    }
}


/* a stream entry id, "<ms>-<seq>", as Redis writes it */

static ngx_int_t
ngx_http_apikey_sync_entry_id(redisReply *r, u_char *id, size_t *len)
{
    size_t      i;
    ngx_uint_t  dash;

    if (r->type != REDIS_REPLY_STRING || r->len < 3
        || r->len >= NGX_HTTP_APIKEY_STREAM_ID_LEN)
    {
        return NGX_ERROR;
    }

    dash = 0;

    for (i = 0; i < r->len; i++) {
        if (r->str[i] == '-' && i > 0 && i + 1 < r->len && !dash) {
            dash = 1;
            continue;
        }

        if (r->str[i] < '0' || r->str[i] > '9') {
            return NGX_ERROR;
        }
    }

    if (!dash) {
        return NGX_ERROR;
    }

    ngx_memcpy(id, r->str, r->len);
    *len = r->len;

    return NGX_OK;
}


/* <0, 0, >0 as stream ids a and b compare; an empty id is the least */

ngx_int_t
ngx_http_apikey_sync_id_cmp(u_char *a, size_t alen, u_char *b, size_t blen)
{
    size_t     i, j;
    uint64_t   x, y;
    ngx_uint_t part;

    if (alen == 0 || blen == 0) {
        return (ngx_int_t) alen - (ngx_int_t) blen;
    }

    i = 0;
    j = 0;

    for (part = 0; part < 2; part++) {
        for (x = 0; i < alen && a[i] != '-'; i++) {
            x = x * 10 + (a[i] - '0');
        }

        for (y = 0; j < blen && b[j] != '-'; j++) {
            y = y * 10 + (b[j] - '0');
        }

        if (x != y) {
            return x < y ? -1 : 1;
        }

        i++;
        j++;
    }

    return 0;
}


/*
 * An entry was applied.  While a full load runs, the mirror's position
 * waits for its end: the load may yet be abandoned, and then its changes
 * must be read again.
 */

void
ngx_http_apikey_sync_set_position_locked(ngx_http_apikey_sync_t *s,
    u_char *id, size_t len)
{
    ngx_http_apikey_shctx_t  *sh;

    if (s->loading) {
        if (ngx_http_apikey_sync_id_cmp(id, len, s->applied, s->applied_len)
            > 0)
        {
            ngx_memcpy(s->applied, id, len);
            s->applied_len = len;
        }

        return;
    }

    sh = s->zone->sh;

    ngx_memcpy(sh->position, id, len);
    sh->position_len = len;
}
