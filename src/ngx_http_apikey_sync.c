
/*
 * ngx_http_apikey_module: the sync, which keeps the shared key mirror equal
 * to Redis.
 *
 * One worker at a time, the owner, syncs.  It subscribes to "<prefix>events"
 * on one connection and, once subscribed, loads every "<prefix>key:<digest>"
 * hash over a second one (SCAN, then pipelined HGETALL), applies the events
 * as they come, and loads everything again every apikey_sync_interval to
 * heal missed events.  Every worker runs the ownership tick: the owner
 * keeps a heartbeat in the zone, the others take over when it exits, dies
 * or stops beating.
 *
 * A first load puts records live as they come, and the policy refuses
 * requests until it completes.  A re-sync stages the records that differ
 * and makes them visible only once the whole set was read, so requests are
 * always decided from a complete set.  Events and load replies arrive in
 * order on the one command connection and are applied in that order.
 *
 * The end of a load (staged records promoted, keys gone from Redis swept)
 * runs in small steps from the event loop, and the sweep only when the
 * zone counts something for it to find: the syncing worker also serves
 * requests.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <sodium.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"


#define NGX_HTTP_APIKEY_SYNC_STALE            1000  /* heartbeat age, ms */
#define NGX_HTTP_APIKEY_SYNC_CONNECT_TIMEOUT  1000
#define NGX_HTTP_APIKEY_SYNC_REPLY_TIMEOUT    5000
#define NGX_HTTP_APIKEY_SYNC_BACKOFF_MIN      100
#define NGX_HTTP_APIKEY_SYNC_BACKOFF_MAX      10000

/* an idle command connection is checked with a PING this often */
#define NGX_HTTP_APIKEY_SYNC_PING             5000

#define NGX_HTTP_APIKEY_SYNC_SCAN_COUNT       "1000"
#define NGX_HTTP_APIKEY_SYNC_MAX_SCANS        100000

/* records per lock hold, and the buffer that keeps them until then */
#define NGX_HTTP_APIKEY_SYNC_BATCH            1000
#define NGX_HTTP_APIKEY_SYNC_BATCH_SIZE       (1024 * 1024)

/* staged digests discarded per lock hold */
#define NGX_HTTP_APIKEY_SYNC_CHUNK            1000

/*
 * staged digests are kept in blocks of this many, never moved: an array
 * that doubled would copy megabytes at once in the middle of a load
 */
#define NGX_HTTP_APIKEY_SYNC_STAGED_BLOCK     2048

/*
 * staged digests promoted, and buckets swept, per step of the end of a
 * load: one step per turn of the event loop, each well under a millisecond
 * even with the nodes out of the cache
 */
#define NGX_HTTP_APIKEY_SYNC_PROMOTE          256
#define NGX_HTTP_APIKEY_SYNC_SWEEP            4096

#if (NGX_HTTP_APIKEY_TEST)
/* the id of a record that makes a re-sync stop before its end, see below */
#define NGX_HTTP_APIKEY_SYNC_TEST_HOLD        "apikey-test-hold"
#endif

/* HGETALL elements (names and values) beyond which a hash is broken */
#define NGX_HTTP_APIKEY_SYNC_MAX_FIELDS       256


typedef enum {
    NGX_HTTP_APIKEY_CMD_SCAN = 0,
    NGX_HTTP_APIKEY_CMD_LOAD,
    NGX_HTTP_APIKEY_CMD_EVENT
} ngx_http_apikey_cmd_e;


/* one command of ours on the command connection, awaiting its reply */
typedef struct {
    ngx_uint_t                    kind;
    ngx_uint_t                    load;
    u_char                        digest[NGX_HTTP_APIKEY_DIGEST_LEN];
} ngx_http_apikey_sync_cmd_t;



typedef struct {
    ngx_http_apikey_main_conf_t  *amcf;
    ngx_http_apikey_zone_t       *zone;
    ngx_log_t                    *log;
    ngx_pool_t                   *pool;

    ngx_event_t                   tick;
    ngx_event_t                   reconnect;
    ngx_event_t                   resync;
    ngx_event_t                   finish;       /* the next step of the end
                                                   of a load, posted */

    ngx_http_apikey_redis_t       sub;
    ngx_http_apikey_redis_t       cmd;

    ngx_str_t                     channel;      /* <prefix>events */
    ngx_str_t                     match;        /* <prefix>key:*, escaped */
    ngx_str_t                     key_prefix;   /* <prefix>key: */
    u_char                       *key_name;     /* key_prefix, 64 hex */
    ngx_str_t                     hgetall;      /* HGETALL key_name, RESP */

    ngx_array_t                   pending;      /* ngx_http_apikey_sync_cmd_t */
    ngx_uint_t                    pending_head;

    ngx_array_t                   staged;       /* of u_char *: blocks of
                                                   staged digests, kept */
    ngx_uint_t                    nstaged;      /* digests in them */
    ngx_str_t                    *fields;
    ngx_http_apikey_record_t     *rec;
    size_t                        rec_max;

    u_char                       *batch;
    size_t                        batch_used;
    ngx_uint_t                    batch_n;

    ngx_msec_t                    backoff;
    ngx_msec_t                    last_ping;

    unsigned                      owner:1;      /* sh->owner is us */
    unsigned                      down:1;       /* the loss was logged */
    unsigned                      subscribed:1;
    unsigned                      initial:1;    /* load once connected */
    unsigned                      announce:1;   /* log when loaded */
    unsigned                      must_sweep:1; /* sweep all once: just took
                                                   the sync over */

    /* the full load in progress */
    unsigned                      loading:1;
    unsigned                      again:1;      /* "*" while loading */
    unsigned                      first:1;      /* puts are live */
    unsigned                      full:1;       /* the zone overflowed */
    unsigned                      scan_done:1;
    unsigned                      finishing:1;  /* all read: promoting, then
                                                   sweeping */
    unsigned                      sweeping:1;
    unsigned                      sweep_all:1;  /* whatever the counts say */
#if (NGX_HTTP_APIKEY_TEST)
    unsigned                      test_hold:1;  /* see finish_load */
#endif

    ngx_uint_t                    load;         /* its number */
    uint32_t                      generation;
    ngx_uint_t                    scans;
    ngx_uint_t                    outstanding;  /* HGETALL replies due */
    ngx_uint_t                    keys;         /* names SCAN returned */
    ngx_uint_t                    changed;
    ngx_uint_t                    skipped;
    ngx_uint_t                    removed;
    ngx_uint_t                    promoted;     /* of staged */
    ngx_uint_t                    bucket;       /* the sweep's next one */
    ngx_msec_t                    start;
} ngx_http_apikey_sync_t;


static void ngx_http_apikey_sync_tick_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_apikey_sync_owner_gone(ngx_http_apikey_shctx_t *sh,
    ngx_pid_t owner);
static void ngx_http_apikey_sync_connect(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_reconnect_handler(ngx_event_t *ev);
static void ngx_http_apikey_sync_resync_handler(ngx_event_t *ev);
static void ngx_http_apikey_sync_ready(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_sync_closed(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_sync_failed(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_redis_t *rc, const char *fmt, ...);
static void ngx_http_apikey_sync_stop(ngx_http_apikey_sync_t *s,
    ngx_uint_t discard);
static void ngx_http_apikey_sync_release(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_sub_handler(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_apikey_sync_event(ngx_http_apikey_sync_t *s,
    redisReply *payload);
static void ngx_http_apikey_sync_cmd_handler(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_http_apikey_sync_send(ngx_http_apikey_sync_t *s,
    ngx_uint_t kind, const char *format, ...);
static ngx_int_t ngx_http_apikey_sync_hgetall(ngx_http_apikey_sync_t *s,
    ngx_uint_t kind, u_char *digest, u_char *hex);
static ngx_http_apikey_sync_cmd_t *ngx_http_apikey_sync_pending(
    ngx_http_apikey_sync_t *s, ngx_uint_t kind);
static void ngx_http_apikey_sync_start_load(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_scan_reply(ngx_http_apikey_sync_t *s,
    redisReply *reply);
static void ngx_http_apikey_sync_load_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply);
static void ngx_http_apikey_sync_event_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply);
static ngx_int_t ngx_http_apikey_sync_parse(ngx_http_apikey_sync_t *s,
    u_char *digest, redisReply *reply, ngx_http_apikey_record_t *rec,
    size_t *size);
static ngx_int_t ngx_http_apikey_sync_flush(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_finish_load(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_finish_handler(ngx_event_t *ev);
static void ngx_http_apikey_sync_finish_step(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_finished(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_superseded(ngx_http_apikey_sync_t *s);
static ngx_uint_t ngx_http_apikey_sync_owned(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_end_load(ngx_http_apikey_sync_t *s);
static void ngx_http_apikey_sync_abort_load(ngx_http_apikey_sync_t *s,
    ngx_uint_t discard);
static void ngx_http_apikey_sync_discard(ngx_http_apikey_sync_t *s);
static u_char *ngx_http_apikey_sync_stage(ngx_http_apikey_sync_t *s);
static u_char *ngx_http_apikey_sync_staged(ngx_http_apikey_sync_t *s,
    ngx_uint_t i);
static u_char *ngx_http_apikey_sync_key_name(ngx_http_apikey_sync_t *s,
    u_char *digest);


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

    /*
     * "HGETALL <prefix>key:<digest>" in RESP, sent for every key of a load
     * with only the digest's 64 characters changed; the name in it is
     * key_name, also used to name a key in logs
     */

    s->key_prefix.len = prefix->len + sizeof("key:") - 1;
    len = s->key_prefix.len + NGX_HTTP_APIKEY_HEX_LEN;

    s->hgetall.data = ngx_pnalloc(pool, sizeof("*2" CRLF "$7" CRLF "HGETALL"
                                               CRLF "$" CRLF CRLF) - 1
                                        + NGX_SIZE_T_LEN + len);
    if (s->hgetall.data == NULL) {
        goto failed;
    }

    p = ngx_sprintf(s->hgetall.data, "*2" CRLF "$7" CRLF "HGETALL" CRLF
                    "$%uz" CRLF, len);

    s->key_name = p;
    s->key_prefix.data = p;

    p = ngx_sprintf(p, "%Vkey:", prefix);
    ngx_memset(p, '0', NGX_HTTP_APIKEY_HEX_LEN);
    p += NGX_HTTP_APIKEY_HEX_LEN;
    *p++ = CR;
    *p++ = LF;

    s->hgetall.len = p - s->hgetall.data;

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
    s->sub.heard = &s->zone->sh->health.heard;

    s->cmd = s->sub;
    s->cmd.name = "commands";

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
    ngx_http_apikey_redis_cleanup_replies(&s->sub);
    ngx_http_apikey_redis_cleanup_replies(&s->cmd);

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

    if (s->owner && s->cmd.is_ready
        && s->cmd.ac->replies.head == NULL
        && ngx_current_msec - s->last_ping >= NGX_HTTP_APIKEY_SYNC_PING)
    {
        /*
         * the subscription is silent when nothing happens: a dead Redis
         * shows on the command connection, as a reply timeout
         */

        s->last_ping = ngx_current_msec;

        (void) ngx_http_apikey_redis_command(&s->cmd, NULL, NULL, "PING");
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

    rc = &s->sub;

    if (ngx_http_apikey_redis_connect(rc) == NGX_OK) {
        rc = &s->cmd;

        if (ngx_http_apikey_redis_connect(rc) == NGX_OK) {
            return;
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
        || !s->subscribed || !s->cmd.is_ready || s->loading)
    {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, s->log, 0, "apikey: periodic re-sync");

    ngx_http_apikey_sync_start_load(s);
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

    if (s->subscribed && s->initial) {
        s->initial = 0;
        ngx_http_apikey_sync_start_load(s);
    }
}


static void
ngx_http_apikey_sync_closed(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_sync_failed(rc->data, rc, NULL);
}


/*
 * Anything that breaks the sync: both connections go, a load in progress
 * is abandoned, and the owner reconnects after a backoff.
 */

static void
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

    s->subscribed = 0;
    s->initial = 0;
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
            ngx_http_apikey_sync_start_load(s);
        }

        return;
    }
}


static void
ngx_http_apikey_sync_event(ngx_http_apikey_sync_t *s, redisReply *payload)
{
    u_char  digest[NGX_HTTP_APIKEY_DIGEST_LEN];

    if (payload->type != REDIS_REPLY_STRING) {
        goto invalid;
    }

    if (payload->len == 1 && payload->str[0] == '*') {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, s->log, 0,
                       "apikey: event: full re-sync requested");

        if (s->loading) {
            s->again = 1;

        } else if (s->cmd.is_ready) {
            ngx_http_apikey_sync_start_load(s);
        }

        return;
    }

    if (ngx_http_apikey_hex_to_digest((u_char *) payload->str, payload->len,
                                      digest)
        != NGX_OK)
    {
        goto invalid;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: event: %*s", payload->len, payload->str);

    if (ngx_http_apikey_sync_hgetall(s, NGX_HTTP_APIKEY_CMD_EVENT, digest,
                                     (u_char *) payload->str)
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

static ngx_int_t
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
 * the prepared command with the key's 64 hex digits put in: a load sends
 * one per key, so it is not formatted anew each time.
 */

static ngx_int_t
ngx_http_apikey_sync_hgetall(ngx_http_apikey_sync_t *s, ngx_uint_t kind,
    u_char *digest, u_char *hex)
{
    ngx_int_t                    rv;
    ngx_http_apikey_sync_cmd_t  *cmd;

    cmd = ngx_http_apikey_sync_pending(s, kind);
    if (cmd == NULL) {
        return s->cmd.ac ? NGX_ERROR : NGX_DECLINED;
    }

    ngx_memcpy(cmd->digest, digest, NGX_HTTP_APIKEY_DIGEST_LEN);
    ngx_memcpy(s->key_name + s->key_prefix.len, hex, NGX_HTTP_APIKEY_HEX_LEN);

    rv = ngx_http_apikey_redis_formatted(&s->cmd,
                                         ngx_http_apikey_sync_cmd_handler, s,
                                         s->hgetall.data, s->hgetall.len);

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

    default: /* NGX_HTTP_APIKEY_CMD_EVENT */
        ngx_http_apikey_sync_event_reply(s, &cmd, reply);
    }
}


static void
ngx_http_apikey_sync_start_load(ngx_http_apikey_sync_t *s)
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

    if (ngx_http_apikey_sync_send(s, NGX_HTTP_APIKEY_CMD_SCAN,
                                  "SCAN 0 MATCH %b COUNT "
                                  NGX_HTTP_APIKEY_SYNC_SCAN_COUNT,
                                  s->match.data, s->match.len)
        != NGX_OK)
    {
        ngx_http_apikey_sync_failed(s, &s->cmd, "SCAN not sent");
    }
}


static void
ngx_http_apikey_sync_scan_reply(ngx_http_apikey_sync_t *s, redisReply *reply)
{
    u_char       digest[NGX_HTTP_APIKEY_DIGEST_LEN];
    size_t       len;
    ngx_uint_t   i;
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

    len = s->key_prefix.len + NGX_HTTP_APIKEY_HEX_LEN;

    for (i = 0; i < keys->elements; i++) {
        key = keys->element[i];

        if (key->type != REDIS_REPLY_STRING
            || key->len != len
            || ngx_memcmp(key->str, s->key_prefix.data, s->key_prefix.len)
               != 0
            || ngx_http_apikey_hex_to_digest((u_char *) key->str
                                             + s->key_prefix.len,
                                             NGX_HTTP_APIKEY_HEX_LEN, digest)
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
                                         (u_char *) key->str
                                         + s->key_prefix.len)
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


static void
ngx_http_apikey_sync_load_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply)
{
    size_t      size;
    u_char     *p;
    ngx_int_t   rc;

    s->outstanding--;

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

        rc = ngx_http_apikey_sync_parse(s, cmd->digest, reply,
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


static void
ngx_http_apikey_sync_event_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply)
{
    size_t                   size;
    ngx_int_t                rc, put;
    ngx_http_apikey_zone_t  *zone;

    zone = s->zone;

    /* load replies that came before this one are applied before it */

    if (ngx_http_apikey_sync_flush(s) == NGX_ABORT) {
        return;
    }

    rc = ngx_http_apikey_sync_parse(s, cmd->digest, reply, s->rec, &size);

    put = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (rc == NGX_OK) {
        put = ngx_http_apikey_put_locked(zone, s->rec, size, 0);

        if (put == NGX_ERROR) {
            /* the old record must not outlive a revocation */
            (void) ngx_http_apikey_delete_locked(zone, cmd->digest, 0);
        }

    } else {
        (void) ngx_http_apikey_delete_locked(zone, cmd->digest, 0);
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "apikey: event for %*xs applied",
                   (size_t) NGX_HTTP_APIKEY_DIGEST_LEN, cmd->digest);
}


/*
 * An HGETALL reply as the record parser wants it: NGX_OK with rec (room
 * for s->rec_max bytes) and *size filled, NGX_DECLINED when there is no
 * such key, NGX_ERROR when the hash is broken (logged).
 */

static ngx_int_t
ngx_http_apikey_sync_parse(ngx_http_apikey_sync_t *s, u_char *digest,
    redisReply *reply, ngx_http_apikey_record_t *rec, size_t *size)
{
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

        return ngx_http_apikey_parse_record(s->log, digest, s->fields,
                                            reply->elements, rec, size);
    }

broken:

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "apikey: redis key \"%*s\" is not a valid key hash%s%*s",
                  s->key_prefix.len + NGX_HTTP_APIKEY_HEX_LEN,
                  ngx_http_apikey_sync_key_name(s, digest),
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
                    (void) ngx_http_apikey_delete_locked(zone, rec->digest, 1);
                    s->full = 1;
                    break;
                }

                ngx_memcpy(d, rec->digest, NGX_HTTP_APIKEY_DIGEST_LEN);
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


static void
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
            (void) ngx_http_apikey_promote_locked(zone,
                                ngx_http_apikey_sync_staged(s, s->promoted));
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

    s->removed += ngx_http_apikey_sweep_locked(zone, &s->bucket,
                                               NGX_HTTP_APIKEY_SYNC_SWEEP,
                                               s->generation);

    if (s->bucket > sh->mask) {
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
        (void) ngx_http_apikey_snapshot_write(zone, &s->amcf->snapshot,
                                              s->log);
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


/*
 * Whether this worker still owns the sync; if it does not, it stops (any
 * timer or reply may find out first, not only the tick).
 */

static ngx_uint_t
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
        ngx_http_apikey_sync_start_load(s);
        return;
    }

    if (s->amcf->sync_interval) {
        ngx_add_timer(&s->resync, s->amcf->sync_interval);
    }
}


static void
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
    ngx_uint_t               i, n;
    ngx_http_apikey_zone_t  *zone;

    zone = s->zone;

    /* those already promoted are live, and not this load's to take back */

    for (i = s->promoted; i < s->nstaged; /* void */) {
        n = ngx_min(s->nstaged - i, NGX_HTTP_APIKEY_SYNC_CHUNK);

        ngx_shmtx_lock(&zone->shpool->mutex);

        while (n--) {
            (void) ngx_http_apikey_delete_locked(zone,
                                          ngx_http_apikey_sync_staged(s, i),
                                          1);
            i++;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    s->nstaged = 0;
}


/* room for one more staged digest; NULL: out of memory */

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
                                     * NGX_HTTP_APIKEY_DIGEST_LEN);
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
             * NGX_HTTP_APIKEY_DIGEST_LEN;
}


static u_char *
ngx_http_apikey_sync_key_name(ngx_http_apikey_sync_t *s, u_char *digest)
{
    (void) ngx_hex_dump(s->key_name + s->key_prefix.len, digest,
                        NGX_HTTP_APIKEY_DIGEST_LEN);

    return s->key_name;
}
