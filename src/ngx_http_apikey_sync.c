
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the sync's ownership and connections.
 *
 * One worker at a time, the owner, syncs.  Every worker runs the
 * ownership tick: the owner keeps a heartbeat in the zone (and checks the
 * epoch every few seconds), the others take over when it exits, dies or
 * stops beating.  The owner keeps three connections to Redis: the
 * subscriber ("<prefix>events", version 1), the command connection
 * (record lookups, full loads, epoch and position checks, and the usage
 * write-back, all in order), and the change log's (XREAD BLOCK only).
 * Losing any of them closes all three and reconnects with a backoff; what
 * happens then is the change log's decision (ngx_http_apikey_changes.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <sodium.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_sync.h"


static void ngx_http_apikey_sync_tick_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_apikey_sync_owner_gone(ngx_http_apikey_shctx_t *sh,
    ngx_pid_t owner);
static void ngx_http_apikey_sync_connect(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_reconnect_handler(ngx_event_t *ev);
static void ngx_http_apikey_sync_resync_handler(ngx_event_t *ev);
static void ngx_http_apikey_sync_ready(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_sync_closed(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_sync_stop(ngx_http_apikey_sync_t *s,
    ngx_uint_t discard);
static void ngx_http_apikey_sync_release(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_sub_handler(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_apikey_sync_event(ngx_http_apikey_sync_t *s,
    redisReply *payload);
static ngx_http_apikey_sync_cmd_t *ngx_http_apikey_sync_pending(
    ngx_http_apikey_sync_t *s, ngx_uint_t kind);
static void ngx_http_apikey_sync_cmd_handler(redisAsyncContext *ac, void *r,
    void *privdata);


static ngx_http_apikey_sync_t       *ngx_http_apikey_sync;


ngx_int_t
ngx_http_apikey_sync_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf)
{
    u_char                  *p;
    size_t                   len;
    ngx_str_t               *prefix;
    ngx_uint_t               i;
    ngx_pool_t              *pool;
    ngx_http_apikey_sync_t  *s;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    s = ngx_pcalloc(pool, sizeof(ngx_http_apikey_sync_t));
    if (s == NULL) {
        goto failed;
    }

    s->amcf = amcf;
    s->zone = amcf->shm_zone->data;
    s->log = cycle->log;
    s->pool = pool;
    s->backoff = NGX_HTTP_APIKEY_SYNC_BACKOFF_MIN;

    prefix = &amcf->redis->prefix;

    s->channel.len = prefix->len + sizeof("events") - 1;
    s->channel.data = ngx_pnalloc(pool, s->channel.len);
    if (s->channel.data == NULL) {
        goto failed;
    }

    ngx_sprintf(s->channel.data, "%Vevents", prefix);

    s->stream.len = prefix->len + sizeof("changes") - 1;
    s->stream.data = ngx_pnalloc(pool, s->stream.len);
    s->epoch_key.len = prefix->len + sizeof("epoch") - 1;
    s->epoch_key.data = ngx_pnalloc(pool, s->epoch_key.len);

    if (s->stream.data == NULL || s->epoch_key.data == NULL) {
        goto failed;
    }

    ngx_sprintf(s->stream.data, "%Vchanges", prefix);
    ngx_sprintf(s->epoch_key.data, "%Vepoch", prefix);

    /*
     * "HGETALL <prefix>key:<digest>" in RESP, sent for every key of a load
     * with only the digest's 64 characters changed; the name in it is
     * key_name, also used to name a key in logs.  One of each per digest
     * scheme: "<prefix>key:sha256:<digest>" for imported keys.
     */

    for (i = 0; i < 2; i++) {
        len = prefix->len + sizeof("key:") - 1 + NGX_HTTP_APIKEY_HEX_LEN
              + (i ? NGX_APIKEY_SHA256_TAG_LEN : 0);

        s->hgetall[i].data = ngx_pnalloc(pool, sizeof("*2" CRLF "$7" CRLF
                                                      "HGETALL" CRLF "$"
                                                      CRLF CRLF) - 1
                                               + NGX_SIZE_T_LEN + len);
        if (s->hgetall[i].data == NULL) {
            goto failed;
        }

        p = ngx_sprintf(s->hgetall[i].data, "*2" CRLF "$7" CRLF "HGETALL"
                        CRLF "$%uz" CRLF, len);

        s->key_name[i].data = p;
        s->key_name[i].len = len;

        p = ngx_sprintf(p, "%Vkey:%s", prefix,
                        i ? NGX_APIKEY_SHA256_TAG : "");
        ngx_memset(p, '0', NGX_HTTP_APIKEY_HEX_LEN);
        p += NGX_HTTP_APIKEY_HEX_LEN;
        *p++ = CR;
        *p++ = LF;

        s->hgetall[i].len = p - s->hgetall[i].data;
    }

    s->key_prefix.data = s->key_name[0].data;
    s->key_prefix.len = prefix->len + sizeof("key:") - 1;

    /* the SCAN pattern: the prefix with its glob characters escaped */

    len = 2 * prefix->len + sizeof("key:*") - 1;

    s->match.data = ngx_pnalloc(pool, len);
    if (s->match.data == NULL) {
        goto failed;
    }

    p = s->match.data;

    for (i = 0; i < prefix->len; i++) {
        switch (prefix->data[i]) {
        case '*':
        case '?':
        case '[':
        case ']':
        case '\\':
            *p++ = '\\';
            break;
        }

        *p++ = prefix->data[i];
    }

    p = ngx_cpymem(p, "key:*", sizeof("key:*") - 1);
    s->match.len = p - s->match.data;

    s->rec_max = ngx_http_apikey_record_max_size();

    s->rec = ngx_palloc(pool, s->rec_max);
    s->batch = ngx_palloc(pool, NGX_HTTP_APIKEY_SYNC_BATCH_SIZE);
    s->fields = ngx_palloc(pool, NGX_HTTP_APIKEY_SYNC_MAX_FIELDS
                                 * sizeof(ngx_str_t));

    if (s->rec == NULL || s->batch == NULL || s->fields == NULL) {
        goto failed;
    }

    if (ngx_array_init(&s->pending, pool, 256,
                       sizeof(ngx_http_apikey_sync_cmd_t))
        != NGX_OK
        || ngx_array_init(&s->staged, pool, 64, sizeof(u_char *))
           != NGX_OK)
    {
        goto failed;
    }

    s->sub.conf = amcf->redis;
    s->sub.log = cycle->log;
    s->sub.connect_timeout = NGX_HTTP_APIKEY_SYNC_CONNECT_TIMEOUT;
    s->sub.reply_timeout = NGX_HTTP_APIKEY_SYNC_REPLY_TIMEOUT;
    s->sub.ready = ngx_http_apikey_sync_ready;
    s->sub.closed = ngx_http_apikey_sync_closed;
    s->sub.data = s;
    s->sub.name = "subscriber";
    s->sub.max_reply = NGX_HTTP_APIKEY_SYNC_MAX_REPLY;
    s->sub.heard = &s->zone->sh->health.heard;

    s->cmd = s->sub;
    s->cmd.name = "commands";

    s->changes = s->sub;
    s->changes.name = "change log";
    s->changes.reply_timeout = NGX_HTTP_APIKEY_SYNC_BLOCK_TIMEOUT;

    s->tick.handler = ngx_http_apikey_sync_tick_handler;
    s->tick.data = s;
    s->tick.log = cycle->log;
    s->tick.cancelable = 1;

    s->reconnect.handler = ngx_http_apikey_sync_reconnect_handler;
    s->reconnect.data = s;
    s->reconnect.log = cycle->log;
    s->reconnect.cancelable = 1;

    s->resync.handler = ngx_http_apikey_sync_resync_handler;
    s->resync.data = s;
    s->resync.log = cycle->log;
    s->resync.cancelable = 1;

    s->finish.handler = ngx_http_apikey_sync_finish_handler;
    s->finish.data = s;
    s->finish.log = cycle->log;

    ngx_http_apikey_sync = s;

    /* the first tick as soon as the loop runs: a fresh start has no owner */
    ngx_add_timer(&s->tick, 1);

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


void
ngx_http_apikey_sync_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_apikey_sync_t  *s;

    s = ngx_http_apikey_sync;

    if (s == NULL) {
        return;
    }

    ngx_http_apikey_sync_release(s);

    /* whether it synced or not, nothing may point into s after this */

    if (s->finish.posted) {
        ngx_delete_posted_event(&s->finish);
    }

    if (s->reconnect.timer_set) {
        ngx_del_timer(&s->reconnect);
    }

    if (s->resync.timer_set) {
        ngx_del_timer(&s->resync);
    }

    ngx_http_apikey_redis_close(&s->sub);
    ngx_http_apikey_redis_close(&s->cmd);
    ngx_http_apikey_redis_close(&s->changes);
    ngx_http_apikey_redis_cleanup_replies(&s->sub);
    ngx_http_apikey_redis_cleanup_replies(&s->cmd);
    ngx_http_apikey_redis_cleanup_replies(&s->changes);

    ngx_http_apikey_sync = NULL;

    ngx_destroy_pool(s->pool);
}


ngx_uint_t
ngx_http_apikey_sync_is_owner(void)
{
    return ngx_http_apikey_sync && ngx_http_apikey_sync->owner;
}


ngx_int_t
ngx_http_apikey_sync_command(redisCallbackFn *fn, void *privdata,
    const char *format, ...)
{
    va_list                  args;
    ngx_int_t                rv;
    ngx_http_apikey_sync_t  *s;

    s = ngx_http_apikey_sync;

    if (s == NULL || !s->owner || !s->cmd.is_ready) {
        return NGX_DECLINED;
    }

    va_start(args, format);
    rv = ngx_http_apikey_redis_vcommand(&s->cmd, fn, privdata, format, args);
    va_end(args);

    return rv;
}


ngx_int_t
ngx_http_apikey_sync_command_argv(redisCallbackFn *fn, void *privdata,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_apikey_sync_t  *s;

    s = ngx_http_apikey_sync;

    if (s == NULL || !s->owner || !s->cmd.is_ready) {
        return NGX_DECLINED;
    }

    return ngx_http_apikey_redis_command_argv(&s->cmd, fn, privdata, argc,
                                              argv, argvlen);
}


/*
 * Every worker, every NGX_HTTP_APIKEY_SYNC_TICK ms: the owner beats, the
 * others check that it still does.
 */

static void
ngx_http_apikey_sync_tick_handler(ngx_event_t *ev)
{
    ngx_pid_t                 owner;
    ngx_http_apikey_sync_t   *s;
    ngx_http_apikey_shctx_t  *sh;

    s = ev->data;
    sh = s->zone->sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_apikey_sync_release(s);
        return;
    }

    owner = (ngx_pid_t) sh->owner;

    if (owner == ngx_pid) {
        sh->heartbeat = (ngx_atomic_uint_t) ngx_current_msec;

        if (!s->owner) {
            s->owner = 1;
            s->must_sweep = 1;
            ngx_http_apikey_sync_connect(s);
        }

    } else {
        (void) ngx_http_apikey_sync_owned(s);

        if (owner == 0 || ngx_http_apikey_sync_owner_gone(sh, owner)) {

            /*
             * beat before taking over, so that no other worker finds
             * the new owner with the old owner's stale heartbeat
             */

            sh->heartbeat = (ngx_atomic_uint_t) ngx_current_msec;
            ngx_memory_barrier();

            if (ngx_atomic_cmp_set(&sh->owner, (ngx_atomic_uint_t) owner,
                                   (ngx_atomic_uint_t) ngx_pid))
            {
                if (owner) {
                    ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                                  "apikey: taking the sync over from "
                                  "process %P", owner);

                } else {
                    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, s->log, 0,
                                   "apikey: taking the sync");
                }

                /*
                 * whoever synced may have died in the middle of a change
                 * of the zone: the first load walks every bucket
                 */

                s->owner = 1;
                s->must_sweep = 1;
                ngx_http_apikey_sync_connect(s);
            }
        }
    }

    if (s->owner && s->cmd.is_ready && !s->initial
        && s->cmd.ac->replies.head == NULL
        && ngx_current_msec - s->last_ping >= NGX_HTTP_APIKEY_SYNC_PING)
    {
        /*
         * the subscription and the change log are silent when nothing
         * happens: a dead Redis shows on the command connection, as a
         * reply timeout; and the epoch read tells a Redis that lost its
         * data (or holds another dataset) from one that kept it
         */

        s->last_ping = ngx_current_msec;

        if (ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_EPOCH_CHECK,
                                      "GET %b", s->epoch_key.data,
                                      s->epoch_key.len)
            == NGX_ERROR)
        {
            ngx_http_apikey_sync_failed(s, &s->cmd, "GET not sent");

        } else if (s->amcf->snapshot.len && sh->loaded && !s->loading) {

            /* changes from the log reach the snapshot too, unless none */

            (void) ngx_http_apikey_snapshot_write(s->zone, s->amcf, 1,
                                                  s->log);
        }
    }

    ngx_add_timer(ev, NGX_HTTP_APIKEY_SYNC_TICK);
}


static ngx_uint_t
ngx_http_apikey_sync_owner_gone(ngx_http_apikey_shctx_t *sh, ngx_pid_t owner)
{
    ngx_msec_int_t  age;

    if (kill(owner, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return 1;
    }

    /*
     * ngx_current_msec comes from the monotonic clock (or gettimeofday()
     * where there is none): the same for every process on the machine
     */

    age = (ngx_msec_int_t) (ngx_current_msec - (ngx_msec_t) sh->heartbeat);

    return age > NGX_HTTP_APIKEY_SYNC_STALE;
}


static void
ngx_http_apikey_sync_connect(ngx_http_apikey_sync_t *s)
{
    ngx_http_apikey_redis_t  *rc;

    s->zone->sh->sync_state = NGX_HTTP_APIKEY_SYNC_CONNECTING;

    s->subscribed = 0;
    s->initial = 1;
    s->announce = 1;
    s->pending.nelts = 0;
    s->pending_head = 0;

    s->read_from_len = 0;
    s->reading = 0;

    rc = &s->sub;

    if (ngx_http_apikey_redis_connect(rc) == NGX_OK) {
        rc = &s->cmd;

        if (ngx_http_apikey_redis_connect(rc) == NGX_OK) {
            rc = &s->changes;

            if (ngx_http_apikey_redis_connect(rc) == NGX_OK) {
                return;
            }
        }
    }

    ngx_http_apikey_sync_failed(s, rc, NULL);
}


static void
ngx_http_apikey_sync_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_apikey_sync_t  *s;

    s = ev->data;

    if (!s->owner || !ngx_http_apikey_sync_owned(s)) {
        return;
    }

    ngx_http_apikey_redis_close(&s->sub);
    ngx_http_apikey_redis_close(&s->cmd);
    ngx_http_apikey_redis_close(&s->changes);

    (void) ngx_atomic_fetch_add(&s->zone->sh->reconnects, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: reconnecting to redis %V",
                   &s->amcf->redis->address);

    ngx_http_apikey_sync_connect(s);
}


static void
ngx_http_apikey_sync_resync_handler(ngx_event_t *ev)
{
    ngx_http_apikey_sync_t  *s;

    s = ev->data;

    if (!s->owner || !ngx_http_apikey_sync_owned(s)
        || !s->subscribed || !s->cmd.is_ready || s->loading
        || s->zone->sh->position_len)
    {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, s->log, 0, "apikey: periodic re-sync");

    ngx_http_apikey_sync_start_load(s, 0);
}


static void
ngx_http_apikey_sync_ready(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_sync_t *s = rc->data;

    if (rc == &s->sub) {
        rc->waiting = 1;

        if (ngx_http_apikey_redis_command(rc, ngx_http_apikey_sync_sub_handler,
                                          s, "SUBSCRIBE %b", s->channel.data,
                                          s->channel.len)
            != NGX_OK)
        {
            ngx_http_apikey_sync_failed(s, rc, "SUBSCRIBE not sent");
        }

        return;
    }

    if (rc == &s->changes) {
        ngx_http_apikey_sync_read(s);
        return;
    }

    if (s->subscribed && s->initial) {
        s->initial = 0;
        ngx_http_apikey_sync_begin(s);
    }
}


static void
ngx_http_apikey_sync_closed(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_sync_t      *s;
    ngx_http_apikey_sync_cmd_t  *cmd;

    s = rc->data;

    /*
     * a record over the reply bound: the command whose reply it was is
     * the first pending one; when it is read again, its record is refused
     * as broken instead, so that one record cannot stop the sync
     */

    if (rc == &s->cmd && rc->reply_size > rc->max_reply
        && s->pending_head < s->pending.nelts)
    {
        cmd = (ngx_http_apikey_sync_cmd_t *) s->pending.elts
              + s->pending_head;

        if (cmd->kind == NGX_HTTP_APIKEY_CMD_LOAD
            || cmd->kind == NGX_HTTP_APIKEY_CMD_EVENT)
        {
            ngx_memcpy(s->oversized, cmd->digest, NGX_HTTP_APIKEY_DIGEST_LEN);
            s->oversized_scheme = cmd->scheme;
            s->has_oversized = 1;

            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "apikey: redis key \"%V\" is over the reply "
                          "bound of %uz bytes, its record is refused",
                          ngx_http_apikey_sync_key_name(s, cmd->digest,
                                                        cmd->scheme),
                          rc->max_reply);
        }
    }

    ngx_http_apikey_sync_failed(s, rc, NULL);
}


/*
 * Anything that breaks the sync: both connections go, a load in progress
 * is abandoned, and the owner reconnects after a backoff.
 */

void
ngx_http_apikey_sync_failed(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_redis_t *rc, const char *fmt, ...)
{
    u_char      *p, why[NGX_HTTP_APIKEY_REDIS_ERRLEN + 32];
    va_list      args;
    ngx_msec_t   delay;

    if (fmt) {
        va_start(args, fmt);
        p = ngx_vslprintf(why, why + sizeof(why) - 1, fmt, args);
        va_end(args);

    } else {
        p = ngx_slprintf(why, why + sizeof(why) - 1, "%s",
                         rc->error[0] ? (char *) rc->error : "failed");
    }

    *p = '\0';

    ngx_http_apikey_sync_stop(s, 1);

    if (!s->owner) {
        return;
    }

    s->zone->sh->sync_state = NGX_HTTP_APIKEY_SYNC_DOWN;

    if (!s->down) {
        s->down = 1;

        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "apikey: redis %V, %s connection: %s, reconnecting",
                      &s->amcf->redis->address, rc->name, why);

    } else {
        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "apikey: redis %V, %s connection: %s",
                      &s->amcf->redis->address, rc->name, why);
    }

    delay = s->backoff + randombytes_uniform((uint32_t) (s->backoff / 2 + 1));

    s->backoff = ngx_min(s->backoff * 2, NGX_HTTP_APIKEY_SYNC_BACKOFF_MAX);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: reconnecting in %M ms", delay);

    ngx_add_timer(&s->reconnect, delay);
}


/*
 * Closes both connections and forgets what was in flight.  "discard"
 * removes the nodes a re-sync staged, unless another worker owns the sync
 * by now (its own re-sync sweeps them).
 */

static void
ngx_http_apikey_sync_stop(ngx_http_apikey_sync_t *s, ngx_uint_t discard)
{
    ngx_http_apikey_sync_abort_load(s, discard);

    ngx_http_apikey_redis_close(&s->sub);
    ngx_http_apikey_redis_close(&s->cmd);
    ngx_http_apikey_redis_close(&s->changes);

    s->subscribed = 0;
    s->initial = 0;
    s->reading = 0;
    s->read_from_len = 0;
    s->pending.nelts = 0;
    s->pending_head = 0;

    if (s->resync.timer_set) {
        ngx_del_timer(&s->resync);
    }

    if (s->reconnect.timer_set) {
        ngx_del_timer(&s->reconnect);
    }

    if ((ngx_pid_t) s->zone->sh->owner != ngx_pid) {
        s->owner = 0;
    }
}


static void
ngx_http_apikey_sync_release(ngx_http_apikey_sync_t *s)
{
    ngx_http_apikey_shctx_t  *sh;

    sh = s->zone->sh;

    if (s->tick.timer_set) {
        ngx_del_timer(&s->tick);
    }

    if (!s->owner) {
        return;
    }

    ngx_http_apikey_sync_stop(s, 1);

    if ((ngx_pid_t) sh->owner == ngx_pid) {
        sh->sync_state = NGX_HTTP_APIKEY_SYNC_IDLE;
        (void) ngx_atomic_cmp_set(&sh->owner, (ngx_atomic_uint_t) ngx_pid, 0);

        ngx_log_error(NGX_LOG_INFO, s->log, 0, "apikey: sync released");
    }

    s->owner = 0;
}


static void
ngx_http_apikey_sync_sub_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply              *reply = r;
    ngx_http_apikey_sync_t  *s = privdata;

    redisReply  *type;

    if (reply == NULL || ac != s->sub.ac || !ngx_http_apikey_sync_owned(s)) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_http_apikey_sync_failed(s, &s->sub,
                                    "unexpected reply on the subscription");
        return;
    }

    type = reply->element[0];

    if (type->len == 7 && ngx_strncasecmp((u_char *) type->str,
                                          (u_char *) "message", 7) == 0)
    {
        ngx_http_apikey_sync_event(s, reply->element[2]);
        return;
    }

    if (type->len == 9 && ngx_strncasecmp((u_char *) type->str,
                                          (u_char *) "subscribe", 9) == 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->log, 0,
                       "apikey: subscribed to \"%V\"", &s->channel);

        s->sub.waiting = 0;
        s->subscribed = 1;

        if (s->cmd.is_ready && s->initial) {
            s->initial = 0;
            ngx_http_apikey_sync_begin(s);
        }

        return;
    }
}


static void
ngx_http_apikey_sync_event(ngx_http_apikey_sync_t *s, redisReply *payload)
{
    ngx_uint_t  scheme;
    u_char      digest[NGX_HTTP_APIKEY_DIGEST_LEN];

    if (payload->type != REDIS_REPLY_STRING) {
        goto invalid;
    }

    if (payload->len == 1 && payload->str[0] == '*') {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, s->log, 0,
                       "apikey: event: full re-sync requested");

        if (s->zone->sh->position_len == 0) {
            ngx_http_apikey_sync_full_request(s);
            return;
        }

        /*
         * where the change log exists, a writer asks for a full load with
         * "d *" in it, and its "*" on the channel is for version-1 readers:
         * only a "*" with no stream left is acted on
         */

        if (ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_STAR,
                                      "EXISTS %b", s->stream.data,
                                      s->stream.len)
            == NGX_ERROR)
        {
            ngx_http_apikey_sync_failed(s, &s->cmd, "EXISTS not sent");
        }

        return;
    }

    if (ngx_http_apikey_digest_name((u_char *) payload->str, payload->len,
                                    &scheme, digest)
        != NGX_OK)
    {
        goto invalid;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: event: %*s", payload->len, payload->str);

    if (ngx_http_apikey_sync_hgetall(s, NGX_HTTP_APIKEY_CMD_EVENT, digest,
                                     scheme, (u_char *) payload->str
                                             + payload->len
                                             - NGX_HTTP_APIKEY_HEX_LEN,
                                     NULL, 0)
        == NGX_ERROR)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "HGETALL not sent");
    }

    return;

invalid:

    /* what was published is not shown: it might be a key */

    ngx_log_error(NGX_LOG_WARN, s->log, 0,
                  "apikey: ignored an event of %uz bytes on \"%V\", "
                  "neither a digest nor \"*\"",
                  payload->type == REDIS_REPLY_STRING ? payload->len : 0,
                  &s->channel);
}


/*
 * Queues one of our commands on the command connection, remembering what
 * its reply is for; replies come back in order.  NGX_DECLINED: there is no
 * command connection now (its loss restarts everything anyway).
 */

ngx_int_t
ngx_http_apikey_sync_send(ngx_http_apikey_sync_t *s, ngx_uint_t kind,
    const char *format, ...)
{
    va_list    args;
    ngx_int_t  rv;

    if (ngx_http_apikey_sync_pending(s, kind) == NULL) {
        return s->cmd.ac ? NGX_ERROR : NGX_DECLINED;
    }

    va_start(args, format);
    rv = ngx_http_apikey_redis_vcommand(&s->cmd,
                                        ngx_http_apikey_sync_cmd_handler, s,
                                        format, args);
    va_end(args);

    if (rv != NGX_OK) {
        s->pending.nelts--;
    }

    return rv;
}


/*
 * HGETALL of a key, as ngx_http_apikey_sync_send() would send it, from
 * the prepared command of its digest scheme with the key's 64 hex digits
 * put in: a load sends one per key, so it is not formatted anew each time.
 */

ngx_int_t
ngx_http_apikey_sync_hgetall(ngx_http_apikey_sync_t *s, ngx_uint_t kind,
    u_char *digest, ngx_uint_t scheme, u_char *hex, u_char *id,
    size_t id_len)
{
    ngx_int_t                    rv;
    ngx_http_apikey_sync_cmd_t  *cmd;

    cmd = ngx_http_apikey_sync_pending(s, kind);
    if (cmd == NULL) {
        return s->cmd.ac ? NGX_ERROR : NGX_DECLINED;
    }

    ngx_memcpy(cmd->digest, digest, NGX_HTTP_APIKEY_DIGEST_LEN);
    cmd->scheme = scheme;
    ngx_memcpy(cmd->id, id, id_len);
    cmd->id_len = id_len;

    if (s->has_oversized
        && s->oversized_scheme == scheme
        && ngx_memcmp(s->oversized, digest, NGX_HTTP_APIKEY_DIGEST_LEN) == 0)
    {
        /* a PING in its place: its reply is a broken record, in order */

        s->has_oversized = 0;

        rv = ngx_http_apikey_redis_command(&s->cmd,
                                           ngx_http_apikey_sync_cmd_handler,
                                           s, "PING");
        if (rv != NGX_OK) {
            s->pending.nelts--;
        }

        return rv;
    }
    ngx_memcpy(s->key_name[scheme].data + s->key_name[scheme].len
               - NGX_HTTP_APIKEY_HEX_LEN, hex, NGX_HTTP_APIKEY_HEX_LEN);

    rv = ngx_http_apikey_redis_formatted(&s->cmd,
                                         ngx_http_apikey_sync_cmd_handler, s,
                                         s->hgetall[scheme].data,
                                         s->hgetall[scheme].len);

    if (rv != NGX_OK) {
        s->pending.nelts--;
    }

    return rv;
}


/* the record of a command about to be sent; NULL: none can be sent */

static ngx_http_apikey_sync_cmd_t *
ngx_http_apikey_sync_pending(ngx_http_apikey_sync_t *s, ngx_uint_t kind)
{
    ngx_http_apikey_sync_cmd_t  *cmd;

    if (s->cmd.ac == NULL) {
        return NULL;
    }

    cmd = ngx_array_push(&s->pending);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->kind = kind;
    cmd->load = s->load;
    cmd->id_len = 0;

    return cmd;
}


static void
ngx_http_apikey_sync_cmd_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply              *reply = r;
    ngx_http_apikey_sync_t  *s = privdata;

    ngx_http_apikey_sync_cmd_t   cmd, *cmds;

    if (reply == NULL || ac != s->cmd.ac) {
        return;
    }

    if (s->pending_head == s->pending.nelts) {
        ngx_log_error(NGX_LOG_ALERT, s->log, 0,
                      "apikey: reply to no command of the sync");
        return;
    }

    cmds = s->pending.elts;
    cmd = cmds[s->pending_head++];

    if (s->pending_head == s->pending.nelts) {
        s->pending_head = 0;
        s->pending.nelts = 0;

    } else if (s->pending_head >= 1024
               && s->pending_head * 2 >= s->pending.nelts)
    {
        s->pending.nelts -= s->pending_head;
        ngx_memmove(cmds, &cmds[s->pending_head],
                    s->pending.nelts * sizeof(ngx_http_apikey_sync_cmd_t));
        s->pending_head = 0;
    }

    if (!ngx_http_apikey_sync_owned(s)) {
        return;
    }

    switch (cmd.kind) {

    case NGX_HTTP_APIKEY_CMD_SCAN:
        if (s->loading && cmd.load == s->load) {
            ngx_http_apikey_sync_scan_reply(s, reply);
        }
        break;

    case NGX_HTTP_APIKEY_CMD_LOAD:
        if (s->loading && cmd.load == s->load) {
            ngx_http_apikey_sync_load_reply(s, &cmd, reply);
        }
        break;

    case NGX_HTTP_APIKEY_CMD_EPOCH_CONNECT:
    case NGX_HTTP_APIKEY_CMD_EPOCH_CHECK:
        ngx_http_apikey_sync_epoch_reply(s, cmd.kind, reply);
        break;

    case NGX_HTTP_APIKEY_CMD_LOAD_EPOCH:
        if (s->loading && cmd.load == s->load) {
            ngx_http_apikey_sync_epoch_reply(s, cmd.kind, reply);
        }
        break;

    case NGX_HTTP_APIKEY_CMD_TIP:
        if (s->loading && cmd.load == s->load) {
            ngx_http_apikey_sync_tip_reply(s, reply);
        }
        break;

    case NGX_HTTP_APIKEY_CMD_RESUME:
        ngx_http_apikey_sync_resume_reply(s, reply);
        break;

    case NGX_HTTP_APIKEY_CMD_STAR:
        ngx_http_apikey_sync_star_reply(s, reply);
        break;

    default: /* NGX_HTTP_APIKEY_CMD_EVENT */
        ngx_http_apikey_sync_event_reply(s, &cmd, reply);
    }
}


/*
 * Whether this worker still owns the sync; if it does not, it stops (any
 * timer or reply may find out first, not only the tick).
 */

ngx_uint_t
ngx_http_apikey_sync_owned(ngx_http_apikey_sync_t *s)
{
    ngx_pid_t  owner;

    owner = (ngx_pid_t) s->zone->sh->owner;

    if (owner == ngx_pid) {
        return 1;
    }

    if (s->owner) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "apikey: process %P took the sync over", owner);

        /* its own re-sync sweeps whatever this one staged */
        ngx_http_apikey_sync_stop(s, 0);
    }

    return 0;
}


ngx_str_t *
ngx_http_apikey_sync_key_name(ngx_http_apikey_sync_t *s, u_char *digest,
    ngx_uint_t scheme)
{
    (void) ngx_hex_dump(s->key_name[scheme].data + s->key_name[scheme].len
                        - NGX_HTTP_APIKEY_HEX_LEN,
                        digest, NGX_HTTP_APIKEY_DIGEST_LEN);

    return &s->key_name[scheme];
}
