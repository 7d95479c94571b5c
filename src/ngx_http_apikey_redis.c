
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: hiredis's asynchronous API on nginx's event loop.
 *
 * A redisAsyncContext gets an nginx connection on its socket.  The read and
 * write events are registered level-triggered, as hiredis expects (it reads
 * at most 16K per redisAsyncHandleRead() and never asks to be called again),
 * and the read handler drains what the socket holds before returning, so
 * replies are not left waiting for the next loop iteration.
 *
 * nginx owns the socket: when a context goes away, the connection is closed
 * with ngx_close_connection() and hiredis is told the descriptor is gone, so
 * it is closed exactly once.  One timer per connection bounds the connect
 * and, while replies are expected, the wait for the next reply.
 *
 * This file owns the connection: its events, its timer, the commands, the
 * close, and the sequence that makes it ready (the address located; AUTH,
 * SELECT or PING; ROLE; CLUSTER NODES).  How replies are built and how TLS
 * is pumped are in files apart (see ngx_http_apikey_redis_adapter.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_redis_adapter.h"
#include "ngx_http_apikey_transport.h"


static ngx_int_t ngx_http_apikey_redis_locate(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_redis_locate_handler(ngx_event_t *ev);
static void ngx_http_apikey_redis_lost(ngx_http_apikey_redis_t *rc,
    ngx_uint_t was_ready);
static ngx_int_t ngx_http_apikey_redis_connect_to(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_redis_role_handler(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_apikey_redis_nodes_handler(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_apikey_redis_read_handler(ngx_event_t *rev);
static void ngx_http_apikey_redis_write_handler(ngx_event_t *wev);
static void ngx_http_apikey_redis_timeout_handler(ngx_event_t *ev);
static void ngx_http_apikey_redis_handshake_handler(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_apikey_redis_detach(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_redis_event_failed(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_redis_add_read(void *privdata);
static void ngx_http_apikey_redis_del_read(void *privdata);
static void ngx_http_apikey_redis_add_write(void *privdata);
static void ngx_http_apikey_redis_del_write(void *privdata);
static void ngx_http_apikey_redis_cleanup(void *privdata);


/* the ready connections of this process, for a master's switch */
static ngx_queue_t  ngx_http_apikey_redis_live_list;
static ngx_uint_t   ngx_http_apikey_redis_live_init;


ngx_int_t
ngx_http_apikey_redis_connect(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_redis_conf_t  *conf;

    if (rc->ac || rc->locating) {
        return NGX_BUSY;
    }

    conf = rc->conf;

    rc->error[0] = '\0';

    if (ngx_http_apikey_transport_located(conf)) {

        /* a failover is waited for; a DNS answer only for a connect */

        rc->deadline = ngx_current_msec
                       + ((ngx_http_apikey_transport_sentinel(conf)
                           || ngx_http_apikey_transport_cluster(conf))
                          ? NGX_HTTP_APIKEY_REDIS_LOCATE
                          : rc->connect_timeout);
        return ngx_http_apikey_redis_locate(rc);
    }

    if (conf->unix_path.len == 0) {
        ngx_cpystrn(rc->host, conf->host.data, NGX_HTTP_APIKEY_ADDRESS_LEN);
        rc->port = conf->port;
    }

    return ngx_http_apikey_redis_connect_to(rc);
}


/*
 * Sentinel or cluster mode: the address comes from the sentinels, or from
 * what the cluster's nodes said; until one answers as the master (or the
 * node serving the slot, no migration under way), the connection keeps
 * looking (a failover or a resharding is under way), within the deadline.
 * NGX_ERROR when the deadline passed.
 */

static ngx_int_t
ngx_http_apikey_redis_locate(ngx_http_apikey_redis_t *rc)
{
    u_char     *host;
    ngx_int_t   port;

    rc->locating = 0;

    if (ngx_http_apikey_transport_locate(rc->conf, &host, &port) == NGX_OK) {
        ngx_cpystrn(rc->host, host, NGX_HTTP_APIKEY_ADDRESS_LEN);
        rc->port = port;

        if (ngx_http_apikey_redis_connect_to(rc) == NGX_OK) {
            return NGX_OK;
        }

        ngx_http_apikey_transport_failed(rc->conf, rc->host, rc->port);
    }

    if ((ngx_msec_int_t) (rc->deadline - ngx_current_msec) <= 0) {
        if (rc->error[0] == '\0') {
            ngx_cpystrn(rc->error,
                        (u_char *) "no address to connect to yet",
                        NGX_HTTP_APIKEY_REDIS_ERRLEN);
        }

        return NGX_ERROR;
    }

    rc->locating = 1;

    rc->timer.handler = ngx_http_apikey_redis_locate_handler;
    rc->timer.data = rc;
    rc->timer.log = rc->log;
    rc->timer.cancelable = 1;

    ngx_add_timer(&rc->timer, NGX_HTTP_APIKEY_REDIS_RETRY);

    return NGX_OK;
}


static void
ngx_http_apikey_redis_locate_handler(ngx_event_t *ev)
{
    ngx_http_apikey_redis_t  *rc;

    rc = ev->data;

    if (!rc->locating) {
        return;
    }

    if (ngx_http_apikey_redis_locate(rc) != NGX_OK && rc->closed) {
        rc->closed(rc);
    }
}


/*
 * A connection that failed or was lost: with sentinel= or cluster, one
 * that never got ready goes back to looking for its address; the owner
 * hears of the rest.
 */

static void
ngx_http_apikey_redis_lost(ngx_http_apikey_redis_t *rc, ngx_uint_t was_ready)
{
    if (ngx_http_apikey_transport_located(rc->conf)) {

        if (!rc->redirected) {
            ngx_http_apikey_transport_failed(rc->conf, rc->host, rc->port);
        }

        rc->redirected = 0;

        if (!was_ready
            && (ngx_http_apikey_transport_sentinel(rc->conf)
                || ngx_http_apikey_transport_cluster(rc->conf))
            && (ngx_msec_int_t) (rc->deadline - ngx_current_msec) > 0)
        {
            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rc->log, 0,
                           "apikey redis %s: %s: %s, looking again",
                           rc->name, rc->host, rc->error);

            rc->locating = 1;

            rc->timer.handler = ngx_http_apikey_redis_locate_handler;
            ngx_add_timer(&rc->timer, NGX_HTTP_APIKEY_REDIS_RETRY);

            return;
        }
    }

    if (rc->closed) {
        rc->closed(rc);
    }
}


static ngx_int_t
ngx_http_apikey_redis_connect_to(ngx_http_apikey_redis_t *rc)
{
    u_char                         addr[NGX_MAX_PATH];
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_apikey_redis_conf_t  *conf;

    conf = rc->conf;

    rc->error[0] = '\0';
    rc->waiting = 0;
    rc->handshake = 0;
    rc->is_ready = 0;
    rc->broken = 0;
    rc->tls = 0;
    rc->tls_ready = 0;

    if (conf->unix_path.len) {
        if (conf->unix_path.len >= sizeof(addr)) {
            ngx_cpystrn(rc->error, (u_char *) "socket path too long",
                        NGX_HTTP_APIKEY_REDIS_ERRLEN);
            return NGX_ERROR;
        }

        ngx_cpystrn(addr, conf->unix_path.data, conf->unix_path.len + 1);

        ac = redisAsyncConnectUnix((char *) addr);

    } else {
        ngx_cpystrn(addr, rc->host, NGX_HTTP_APIKEY_ADDRESS_LEN);

        ac = redisAsyncConnect((char *) addr, (int) rc->port);
    }

    if (ac == NULL) {
        ngx_cpystrn(rc->error, (u_char *) "out of memory",
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_cpystrn(rc->error, (u_char *) ac->c.errstr,
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    if (conf->unix_path.len == 0) {
        /* a peer that vanished silently is found within a minute */
        (void) redisEnableKeepAlive(&ac->c);
    }

    ngx_http_apikey_redis_use_builder(ac->c.reader, rc);

    c = ngx_get_connection(ac->c.fd, rc->log);
    if (c == NULL) {
        ngx_cpystrn(rc->error, (u_char *) "no free connection",
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c->data = rc;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    c->read->handler = ngx_http_apikey_redis_read_handler;
    c->write->handler = ngx_http_apikey_redis_write_handler;
    c->read->log = rc->log;
    c->write->log = rc->log;

    rc->ac = ac;
    rc->connection = c;
    rc->generation++;

    ac->data = rc;
    ac->ev.data = rc;
    ac->ev.addRead = ngx_http_apikey_redis_add_read;
    ac->ev.delRead = ngx_http_apikey_redis_del_read;
    ac->ev.addWrite = ngx_http_apikey_redis_add_write;
    ac->ev.delWrite = ngx_http_apikey_redis_del_write;
    ac->ev.cleanup = ngx_http_apikey_redis_cleanup;

    rc->timer.handler = ngx_http_apikey_redis_timeout_handler;
    rc->timer.data = rc;
    rc->timer.log = rc->log;
    rc->timer.cancelable = 1;

#if (NGX_SSL)

    if (conf->transport && conf->transport->tls
        && ngx_http_apikey_redis_tls_init(rc) != NGX_OK)
    {
        goto failed;
    }

#endif

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rc->log, 0,
                   "apikey redis %s: connecting to %V, fd:%d",
                   rc->name, &conf->address, c->fd);

    /*
     * the handshake is queued now and written once connect() completes:
     * the write event it arms is also how the connect is noticed
     */

    if (conf->password.len) {
        if (conf->user.len) {
            if (redisAsyncCommand(ac, ngx_http_apikey_redis_handshake_handler,
                                  rc, "AUTH %b %b",
                                  conf->user.data, conf->user.len,
                                  conf->password.data, conf->password.len)
                != REDIS_OK)
            {
                goto failed;
            }

        } else {
            if (redisAsyncCommand(ac, ngx_http_apikey_redis_handshake_handler,
                                  rc, "AUTH %b",
                                  conf->password.data, conf->password.len)
                != REDIS_OK)
            {
                goto failed;
            }
        }

        rc->handshake++;
    }

    if (ngx_http_apikey_transport_sentinel(conf)) {
        if (redisAsyncCommand(ac, ngx_http_apikey_redis_role_handler, rc,
                              "ROLE")
            != REDIS_OK)
        {
            goto failed;
        }

        rc->handshake++;
    }

    if (ngx_http_apikey_transport_cluster(conf)) {
        if (redisAsyncCommand(ac, ngx_http_apikey_redis_nodes_handler, rc,
                              "CLUSTER NODES")
            != REDIS_OK)
        {
            goto failed;
        }

        rc->handshake++;
    }

    if (conf->db) {
        if (redisAsyncCommand(ac, ngx_http_apikey_redis_handshake_handler,
                              rc, "SELECT %d", (int) conf->db)
            != REDIS_OK)
        {
            goto failed;
        }

    } else {
        if (redisAsyncCommand(ac, ngx_http_apikey_redis_handshake_handler,
                              rc, "PING")
            != REDIS_OK)
        {
            goto failed;
        }
    }

    rc->handshake++;

    if (rc->broken) {
        goto failed;
    }

    ngx_add_timer(&rc->timer, rc->connect_timeout);

    return NGX_OK;

failed:

    if (rc->error[0] == '\0') {
        ngx_cpystrn(rc->error, (u_char *) "cannot queue the handshake",
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
    }

    ngx_http_apikey_redis_close(rc);

    return NGX_ERROR;
}


void
ngx_http_apikey_redis_close(ngx_http_apikey_redis_t *rc)
{
    redisAsyncContext  *ac;

    if (rc->locating) {
        rc->locating = 0;

        if (rc->timer.timer_set) {
            ngx_del_timer(&rc->timer);
        }

        return;
    }

    ac = rc->ac;

    if (ac == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rc->log, 0,
                   "apikey redis %s: close", rc->name);

    ngx_http_apikey_redis_detach(rc);

    /*
     * pending callbacks get NULL replies; inside a callback of this
     * context the free is deferred by hiredis until the callback returns
     */

    redisAsyncFree(ac);
}


ngx_int_t
ngx_http_apikey_redis_command(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, const char *format, ...)
{
    va_list    args;
    ngx_int_t  rv;

    va_start(args, format);
    rv = ngx_http_apikey_redis_vcommand(rc, fn, privdata, format, args);
    va_end(args);

    return rv;
}


ngx_int_t
ngx_http_apikey_redis_vcommand(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, const char *format, va_list args)
{
    if (rc->ac == NULL
        || (rc->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return NGX_DECLINED;
    }

    if (redisvAsyncCommand(rc->ac, fn, privdata, format, args) != REDIS_OK) {
        return NGX_ERROR;
    }

    ngx_http_apikey_redis_arm(rc);

    return NGX_OK;
}


ngx_int_t
ngx_http_apikey_redis_command_argv(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, int argc, const char **argv,
    const size_t *argvlen)
{
    if (rc->ac == NULL
        || (rc->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(rc->ac, fn, privdata, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_apikey_redis_arm(rc);

    return NGX_OK;
}


/*
 * A command already in the protocol's form (RESP), which hiredis copies
 * as it is: for commands sent by the thousand, where formatting each from
 * a printf-style format would cost more than the rest of sending it.
 */

ngx_int_t
ngx_http_apikey_redis_formatted(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, u_char *cmd, size_t len)
{
    if (rc->ac == NULL
        || (rc->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return NGX_DECLINED;
    }

    if (redisAsyncFormattedCommand(rc->ac, fn, privdata, (char *) cmd, len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_apikey_redis_arm(rc);

    return NGX_OK;
}


/*
 * Runs the reply timeout while replies are expected, and stops it
 * otherwise.  Every read event re-arms it: the timeout is for a Redis that
 * stops answering, not for a long pipeline.
 */

void
ngx_http_apikey_redis_arm(ngx_http_apikey_redis_t *rc)
{
    redisAsyncContext  *ac;

    ac = rc->ac;

    if (ac == NULL || rc->broken || !(ac->c.flags & REDIS_CONNECTED)) {
        return;     /* not connected yet: the connect timeout runs */
    }

    if (ac->replies.head || ac->sub.invalid.head || rc->waiting) {
        ngx_add_timer(&rc->timer, rc->reply_timeout);

    } else if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }
}


static void
ngx_http_apikey_redis_read_handler(ngx_event_t *rev)
{
    int                       n;
    ngx_uint_t                i, generation;
    ngx_connection_t         *c;
    redisAsyncContext        *ac;
    ngx_http_apikey_redis_t  *rc;

    c = rev->data;
    rc = c->data;
    ac = rc->ac;
    generation = rc->generation;

    for (i = 0; i < NGX_HTTP_APIKEY_REDIS_READS; i++) {

        redisAsyncHandleRead(ac);

        if (rc->ac != ac || rc->generation != generation) {
            return;     /* closed while handling the replies */
        }

        /* what is left unparsed is one reply, still arriving */

        if (rc->max_reply
            && ac->c.reader->len - ac->c.reader->pos > rc->max_reply)
        {
            rc->reply_size = rc->max_reply + 1;     /* for closed() */

            ngx_http_apikey_redis_fail(rc, "a reply over %uz bytes "
                                       "(the bound of the %s connection) "
                                       "refused", rc->max_reply, rc->name);
            return;
        }

        if (!(ac->c.flags & REDIS_CONNECTED)) {
            break;
        }

#if (NGX_HAVE_FIONREAD)

        if (ngx_socket_nread(c->fd, &n) == -1 || n == 0) {
            break;
        }

#else

        (void) n;
        break;

#endif
    }

    ngx_http_apikey_redis_arm(rc);
}


static void
ngx_http_apikey_redis_write_handler(ngx_event_t *wev)
{
    ngx_uint_t                generation;
    ngx_connection_t         *c;
    redisAsyncContext        *ac;
    ngx_http_apikey_redis_t  *rc;

    c = wev->data;
    rc = c->data;
    ac = rc->ac;
    generation = rc->generation;

    redisAsyncHandleWrite(ac);

    if (rc->ac != ac || rc->generation != generation) {
        return;
    }

    ngx_http_apikey_redis_arm(rc);
}


static void
ngx_http_apikey_redis_timeout_handler(ngx_event_t *ev)
{
    ngx_http_apikey_redis_t  *rc;

    rc = ev->data;

    if (rc->ac == NULL) {
        return;
    }

    if (rc->broken) {
        ngx_http_apikey_redis_fail(rc, NULL);

    } else if (!(rc->ac->c.flags & REDIS_CONNECTED)) {
        ngx_http_apikey_redis_fail(rc, "%s timed out",
                                   rc->tls ? "connect or TLS handshake"
                                           : "connect");

    } else if (rc->waiting && rc->ac->replies.head == NULL) {
        ngx_http_apikey_redis_fail(rc, "no SUBSCRIBE confirmation");

    } else {
        ngx_http_apikey_redis_fail(rc, "reply timed out");
    }
}


static void
ngx_http_apikey_redis_handshake_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply               *reply = r;
    ngx_http_apikey_redis_t  *rc = privdata;

    if (reply == NULL || rc->ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_redis_fail(rc, "handshake failed: %*s",
                                   ngx_min(reply->len, 80), reply->str);
        return;
    }

    if (--rc->handshake) {
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rc->log, 0,
                   "apikey redis %s: ready, %s:%i", rc->name, rc->host,
                   rc->port);

    rc->is_ready = 1;

    if (!ngx_http_apikey_redis_live_init) {
        ngx_queue_init(&ngx_http_apikey_redis_live_list);
        ngx_http_apikey_redis_live_init = 1;
    }

    ngx_queue_insert_tail(&ngx_http_apikey_redis_live_list, &rc->live);
    rc->in_live = 1;

    ngx_http_apikey_transport_ready(rc->conf, rc->host, rc->port);

    if (rc->ready) {
        rc->ready(rc);
    }
}


/* with sentinel=: what a sentinel named must say it is the master */

static void
ngx_http_apikey_redis_role_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply               *reply = r;
    ngx_http_apikey_redis_t  *rc = privdata;

    redisReply  *role;

    if (reply == NULL || rc->ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_redis_handshake_handler(ac, r, privdata);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_http_apikey_redis_fail(rc, "unexpected ROLE reply");
        return;
    }

    role = reply->element[0];

    if (role->len != 6
        || ngx_strncmp(role->str, "master", 6) != 0)
    {
        ngx_http_apikey_redis_fail(rc, "%s:%i is not the master (%*s)",
                                   rc->host, rc->port,
                                   ngx_min(role->len, 16), role->str);
        return;
    }

    ngx_http_apikey_redis_handshake_handler(ac, r, privdata);
}


/*
 * With cluster: the node must serve the slot of the schema; one that does
 * not names the one that does, tried next (see ngx_http_apikey_cluster.c).
 */

static void
ngx_http_apikey_redis_nodes_handler(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply               *reply = r;
    ngx_http_apikey_redis_t  *rc = privdata;

    if (reply == NULL || rc->ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_apikey_redis_handshake_handler(ac, r, privdata);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_http_apikey_redis_fail(rc, "unexpected CLUSTER NODES reply");
        return;
    }

    if (ngx_http_apikey_cluster_check(rc->conf, (u_char *) reply->str,
                                      reply->len, rc->error,
                                      NGX_HTTP_APIKEY_REDIS_ERRLEN)
        != NGX_OK)
    {
        rc->redirected = 1;
        ngx_http_apikey_redis_fail(rc, NULL);
        return;
    }

    ngx_http_apikey_redis_handshake_handler(ac, r, privdata);
}


/*
 * The sentinels switched the master: connections to any other address
 * are closed, their owners reconnect (to the new one).
 */

void
ngx_http_apikey_redis_switched(u_char *host, ngx_int_t port)
{
    ngx_queue_t              *q, *next;
    ngx_http_apikey_redis_t  *rc;

    if (!ngx_http_apikey_redis_live_init) {
        return;
    }

again:

    /*
     * a close may close other connections of its owner too: the walk
     * starts again after each
     */

    for (q = ngx_queue_head(&ngx_http_apikey_redis_live_list);
         q != ngx_queue_sentinel(&ngx_http_apikey_redis_live_list);
         q = next)
    {
        next = ngx_queue_next(q);
        rc = ngx_queue_data(q, ngx_http_apikey_redis_t, live);

        if (!ngx_http_apikey_transport_sentinel(rc->conf)
            || (rc->port == port
                && ngx_strcmp(rc->host, host) == 0))
        {
            continue;
        }

        ngx_http_apikey_redis_fail(rc, "the master moved to %s:%i",
                                   host, port);
        goto again;
    }
}


/*
 * Drops the connection after a failure found here (timeout, handshake) and
 * tells the owner; failures found by hiredis arrive through the cleanup hook.
 */

void
ngx_http_apikey_redis_fail(ngx_http_apikey_redis_t *rc, const char *fmt, ...)
{
    va_list             args;
    ngx_uint_t          was_ready;
    redisAsyncContext  *ac;

    ac = rc->ac;

    if (ac == NULL) {
        return;
    }

    if (fmt) {
        va_start(args, fmt);
        *ngx_vslprintf(rc->error, rc->error + NGX_HTTP_APIKEY_REDIS_ERRLEN - 1,
                       fmt, args) = '\0';
        va_end(args);
    }

    was_ready = rc->is_ready;

    ngx_http_apikey_redis_detach(rc);

    redisAsyncFree(ac);

    ngx_http_apikey_redis_lost(rc, was_ready);
}


/*
 * Separates the context from nginx: closes the nginx connection (and so
 * the socket) and unhooks the adapter, so that what hiredis does with the
 * context from now on (callbacks with NULL replies, the free) never comes
 * back here.  The context itself is left to the caller to free.
 */

static void
ngx_http_apikey_redis_detach(ngx_http_apikey_redis_t *rc)
{
    ngx_pool_t         *pool;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ac = rc->ac;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (rc->connection) {
        c = rc->connection;
        pool = c->pool;

#if (NGX_SSL)
        if (c->ssl) {
            /* no close_notify: the socket goes now, whatever it holds */
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif

        ngx_close_connection(c);
        rc->connection = NULL;

        if (pool) {
            ngx_destroy_pool(pool);
        }

        /* the socket is closed: keep redisFree() from closing it again */
        ac->c.fd = -1;
    }

    ac->ev.addRead = NULL;
    ac->ev.delRead = NULL;
    ac->ev.addWrite = NULL;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = NULL;
    ac->ev.data = NULL;

    ac->c.reader->privdata = NULL;

    if (rc->in_live) {
        ngx_queue_remove(&rc->live);
        rc->in_live = 0;
    }

    rc->ac = NULL;
    rc->is_ready = 0;
    rc->waiting = 0;
    rc->tls_ready = 0;
}


/*
 * An event could not be (un)registered: nothing can be reported to hiredis
 * from inside its hook, so the connection is failed from the timer.
 */

static void
ngx_http_apikey_redis_event_failed(ngx_http_apikey_redis_t *rc)
{
    if (rc->broken) {
        return;
    }

    rc->broken = 1;

    ngx_cpystrn(rc->error, (u_char *) "event registration failed",
                NGX_HTTP_APIKEY_REDIS_ERRLEN);

    ngx_add_timer(&rc->timer, 1);
}


static void
ngx_http_apikey_redis_add_read(void *privdata)
{
    ngx_http_apikey_redis_t *rc = privdata;

    ngx_event_t  *rev;

    if (rc->connection == NULL) {
        return;
    }

    rev = rc->connection->read;

    if (rev->active) {
        return;
    }

    if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_apikey_redis_event_failed(rc);
    }
}


static void
ngx_http_apikey_redis_del_read(void *privdata)
{
    ngx_http_apikey_redis_t *rc = privdata;

    ngx_event_t  *rev;

    if (rc->connection == NULL) {
        return;
    }

    rev = rc->connection->read;

    if (!rev->active) {
        return;
    }

    if (ngx_del_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_apikey_redis_event_failed(rc);
    }
}


static void
ngx_http_apikey_redis_add_write(void *privdata)
{
    ngx_http_apikey_redis_t *rc = privdata;

    ngx_event_t  *wev;

    if (rc->connection == NULL) {
        return;
    }

    wev = rc->connection->write;

    if (wev->active) {
        return;
    }

    if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_apikey_redis_event_failed(rc);
    }
}


static void
ngx_http_apikey_redis_del_write(void *privdata)
{
    ngx_http_apikey_redis_t *rc = privdata;

    ngx_event_t  *wev;

    if (rc->connection == NULL) {
        return;
    }

    wev = rc->connection->write;

    if (!wev->active) {
        return;
    }

    if (ngx_del_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_apikey_redis_event_failed(rc);
    }
}


/*
 * hiredis frees the context on its own (EOF, I/O or protocol error, failed
 * connect): after the pending callbacks ran with NULL replies, and before
 * it would close the socket.
 */

static void
ngx_http_apikey_redis_cleanup(void *privdata)
{
    ngx_http_apikey_redis_t *rc = privdata;

    ngx_uint_t          was_ready;
    redisAsyncContext  *ac;

    ac = rc->ac;

    if (ac == NULL) {
        return;
    }

    if (rc->error[0] == '\0') {
        ngx_cpystrn(rc->error,
                    (u_char *) (ac->c.err ? ac->c.errstr
                                          : "connection closed"),
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rc->log, 0,
                   "apikey redis %s: closed: %s", rc->name, rc->error);

    was_ready = rc->is_ready;

    ngx_http_apikey_redis_detach(rc);

    ngx_http_apikey_redis_lost(rc, was_ready);
}


/*
 * Frees what the structure keeps from one connection to the next: the
 * memory replies were built in, and the TLS session offered again on
 * reconnect; for when the structure goes away, with its connection closed.
 */

void
ngx_http_apikey_redis_cleanup_replies(ngx_http_apikey_redis_t *rc)
{
#if (NGX_SSL)
    ngx_http_apikey_redis_tls_cleanup(rc);
#endif

    ngx_http_apikey_redis_free_blocks(rc);
}
