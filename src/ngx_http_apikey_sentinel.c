
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the master of a Redis Sentinel group, for the
 * process that talks to Redis (the syncing worker).
 *
 * Two plain connections go to one sentinel at a time: one asks
 * SENTINEL get-master-addr-by-name when the adapter needs the master's
 * address, the other is subscribed to +switch-master, so that a failover
 * is followed the moment the sentinels announce it: connections to the old
 * master are closed and their owners reconnect to the new one.  A sentinel
 * that fails, or does not know the master, is left for the next one in the
 * list.  The adapter verifies with ROLE what it is told (see
 * ngx_http_apikey_redis.c).
 *
 * The state is the process's own: one "apikey_redis" per configuration.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_transport.h"


#define NGX_HTTP_APIKEY_SENTINEL_TIMEOUT  1000
#define NGX_HTTP_APIKEY_SENTINEL_LOG      1000    /* ms between error lines */


typedef struct {
    ngx_http_apikey_transport_t  *transport;
    ngx_log_t                    *log;

    ngx_http_apikey_redis_t       query;
    ngx_http_apikey_redis_t       watch;
    ngx_event_t                   retry;

    ngx_uint_t                    current;      /* the sentinel in use */
    ngx_msec_t                    logged;

    u_char                        host[NGX_HTTP_APIKEY_ADDRESS_LEN];
    ngx_int_t                     port;

    unsigned                      started:1;
    unsigned                      known:1;
    unsigned                      asking:1;
} ngx_http_apikey_sentinel_t;


static void ngx_http_apikey_sentinel_start(ngx_http_apikey_sentinel_t *st,
    ngx_http_apikey_redis_conf_t *rcf);
static void ngx_http_apikey_sentinel_ask(ngx_http_apikey_sentinel_t *st);
static void ngx_http_apikey_sentinel_ready(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_sentinel_closed(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_sentinel_next(ngx_http_apikey_sentinel_t *st,
    const char *why);
static void ngx_http_apikey_sentinel_retry(ngx_event_t *ev);
static void ngx_http_apikey_sentinel_query_handler(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_apikey_sentinel_watch_handler(redisAsyncContext *ac,
    void *r, void *privdata);
static ngx_int_t ngx_http_apikey_sentinel_set(ngx_http_apikey_sentinel_t *st,
    u_char *host, size_t host_len, u_char *port, size_t port_len);


static ngx_http_apikey_sentinel_t  ngx_http_apikey_sentinel;


ngx_int_t
ngx_http_apikey_sentinel_master(ngx_http_apikey_redis_conf_t *rcf,
    u_char **host, ngx_int_t *port)
{
    ngx_http_apikey_sentinel_t  *st;

    st = &ngx_http_apikey_sentinel;

    if (!st->started) {
        ngx_http_apikey_sentinel_start(st, rcf);
    }

    if (st->known) {
        *host = st->host;
        *port = st->port;
        return NGX_OK;
    }

    ngx_http_apikey_sentinel_ask(st);

    return NGX_AGAIN;
}


void
ngx_http_apikey_sentinel_failed(u_char *host, ngx_int_t port)
{
    ngx_http_apikey_sentinel_t  *st;

    st = &ngx_http_apikey_sentinel;

    if (st->known && st->port == port && ngx_strcmp(st->host, host) == 0) {
        st->known = 0;
    }
}


static void
ngx_http_apikey_sentinel_start(ngx_http_apikey_sentinel_t *st,
    ngx_http_apikey_redis_conf_t *rcf)
{
    ngx_http_apikey_redis_t  *rc;

    st->transport = rcf->transport;
    st->log = ngx_cycle->log;
    st->started = 1;

    rc = &st->query;
    rc->log = st->log;
    rc->connect_timeout = NGX_HTTP_APIKEY_SENTINEL_TIMEOUT;
    rc->reply_timeout = NGX_HTTP_APIKEY_SENTINEL_TIMEOUT;
    rc->ready = ngx_http_apikey_sentinel_ready;
    rc->closed = ngx_http_apikey_sentinel_closed;
    rc->data = st;
    rc->name = "sentinel";

    st->watch = *rc;
    st->watch.name = "sentinel watch";

    st->retry.handler = ngx_http_apikey_sentinel_retry;
    st->retry.data = st;
    st->retry.log = st->log;
    st->retry.cancelable = 1;
}


/* connects to the current sentinel, or asks it once it is connected */

static void
ngx_http_apikey_sentinel_ask(ngx_http_apikey_sentinel_t *st)
{
    ngx_http_apikey_redis_conf_t  *sc;

    if (st->asking || st->retry.timer_set) {
        return;
    }

    sc = st->transport->sentinels->elts;
    sc = &sc[st->current];

    if (st->query.ac == NULL) {
        st->query.conf = sc;

        if (ngx_http_apikey_redis_connect(&st->query) != NGX_OK) {
            ngx_http_apikey_sentinel_next(st, (char *) st->query.error);
        }

        return;
    }

    if (!st->query.is_ready) {
        return;
    }

    if (ngx_http_apikey_redis_command(&st->query,
                                      ngx_http_apikey_sentinel_query_handler,
                                      st,
                                      "SENTINEL get-master-addr-by-name %b",
                                      st->transport->master.data,
                                      st->transport->master.len)
        != NGX_OK)
    {
        ngx_http_apikey_sentinel_next(st, "SENTINEL not sent");
        return;
    }

    st->asking = 1;
}


static void
ngx_http_apikey_sentinel_ready(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_sentinel_t *st = rc->data;

    if (rc == &st->watch) {
        rc->waiting = 1;

        if (ngx_http_apikey_redis_command(rc,
                                    ngx_http_apikey_sentinel_watch_handler,
                                    st, "SUBSCRIBE +switch-master")
            != NGX_OK)
        {
            ngx_http_apikey_sentinel_next(st, "SUBSCRIBE not sent");
        }

        return;
    }

    /* the query connection: the watch goes to the same sentinel */

    if (st->watch.ac == NULL) {
        st->watch.conf = rc->conf;

        if (ngx_http_apikey_redis_connect(&st->watch) != NGX_OK) {
            ngx_http_apikey_sentinel_next(st, (char *) st->watch.error);
            return;
        }
    }

    ngx_http_apikey_sentinel_ask(st);
}


static void
ngx_http_apikey_sentinel_closed(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_sentinel_next(rc->data, (char *) rc->error);
}


/*
 * The current sentinel failed: both connections go, and the next sentinel
 * is tried after a short pause.  The errors are logged at most once a
 * second, so that a dead sentinel group is seen but does not flood.
 */

static void
ngx_http_apikey_sentinel_next(ngx_http_apikey_sentinel_t *st,
    const char *why)
{
    ngx_uint_t                     level;
    ngx_http_apikey_redis_conf_t  *sc;

    sc = st->transport->sentinels->elts;

    level = (ngx_current_msec - st->logged >= NGX_HTTP_APIKEY_SENTINEL_LOG)
            ? NGX_LOG_ERR : NGX_LOG_INFO;

    if (level == NGX_LOG_ERR) {
        st->logged = ngx_current_msec;
    }

    ngx_log_error(level, st->log, 0,
                  "apikey: sentinel %V: %s, trying the next one",
                  &sc[st->current].address, why);

    ngx_http_apikey_redis_close(&st->query);
    ngx_http_apikey_redis_close(&st->watch);

    st->asking = 0;
    st->current = (st->current + 1) % st->transport->sentinels->nelts;

    if (!st->retry.timer_set) {
        ngx_add_timer(&st->retry, NGX_HTTP_APIKEY_REDIS_RETRY);
    }
}


/* reconnects, so that the watch is back even when no one asks */

static void
ngx_http_apikey_sentinel_retry(ngx_event_t *ev)
{
    ngx_http_apikey_sentinel_ask(ev->data);
}


static void
ngx_http_apikey_sentinel_query_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                  *reply = r;
    ngx_http_apikey_sentinel_t  *st = privdata;

    redisReply  *h, *p;

    if (reply == NULL || ac != st->query.ac) {
        return;
    }

    st->asking = 0;

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_apikey_sentinel_next(st, "it does not know the master");
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_http_apikey_sentinel_next(st, (reply->type == REDIS_REPLY_ERROR)
                                          ? reply->str
                                          : "unexpected reply");
        return;
    }

    h = reply->element[0];
    p = reply->element[1];

    if (ngx_http_apikey_sentinel_set(st, (u_char *) h->str, h->len,
                                     (u_char *) p->str, p->len)
        != NGX_OK)
    {
        ngx_http_apikey_sentinel_next(st, "the master's address is not one");
    }
}


/* "+switch-master": "<name> <old ip> <old port> <new ip> <new port>" */

static void
ngx_http_apikey_sentinel_watch_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                  *reply = r;
    ngx_http_apikey_sentinel_t  *st = privdata;

    u_char      *p, *last, *field[5];
    size_t       len[5];
    ngx_str_t   *master;
    ngx_uint_t   n;
    redisReply  *kind, *payload;

    if (reply == NULL || ac != st->watch.ac) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_http_apikey_sentinel_next(st, "unexpected reply");
        return;
    }

    kind = reply->element[0];

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        st->watch.waiting = 0;
        return;
    }

    payload = reply->element[2];

    if (kind->len != 7 || ngx_strncmp(kind->str, "message", 7) != 0
        || payload->type != REDIS_REPLY_STRING)
    {
        return;
    }

    p = (u_char *) payload->str;
    last = p + payload->len;

    for (n = 0; n < 5 && p < last; n++) {
        field[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - field[n];

        while (p < last && *p == ' ') {
            p++;
        }
    }

    master = &st->transport->master;

    if (n != 5 || len[0] != master->len
        || ngx_strncmp(field[0], master->data, master->len) != 0)
    {
        return;     /* another master of the group's */
    }

    if (ngx_http_apikey_sentinel_set(st, field[3], len[3], field[4], len[4])
        != NGX_OK)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, st->log, 0,
                  "apikey: sentinel: master \"%V\" switched to %s:%i",
                  master, st->host, st->port);

    ngx_http_apikey_redis_switched(st->host, st->port);
}


/*
 * Only an address literal is taken: a host name would need a blocking
 * resolution in the worker
 */

static ngx_int_t
ngx_http_apikey_sentinel_set(ngx_http_apikey_sentinel_t *st, u_char *host,
    size_t host_len, u_char *port, size_t port_len)
{
    ngx_int_t        n;
#if (NGX_HAVE_INET6)
    struct in6_addr  in6;
#endif

    if (host_len == 0 || host_len >= NGX_HTTP_APIKEY_ADDRESS_LEN) {
        return NGX_ERROR;
    }

    n = ngx_atoi(port, port_len);

    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    if (ngx_inet_addr(host, host_len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr(host, host_len, in6.s6_addr) != NGX_OK
#endif
        )
    {
        return NGX_ERROR;
    }

    ngx_cpystrn(st->host, host, host_len + 1);
    st->port = n;
    st->known = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, st->log, 0,
                   "apikey: sentinel: the master is %s:%i", st->host,
                   st->port);

    return NGX_OK;
}
