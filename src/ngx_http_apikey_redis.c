
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
 * Replies are built by the functions below rather than hiredis's own, which
 * allocate every value and every string apart: a full sync reads a million
 * HGETALL replies of ten values each, and malloc() and free() took a third
 * of the syncing worker's time.  Here each value and its string are one
 * piece of a block of the connection's, and the blocks are reused for the
 * next reply: hiredis builds one reply at a time, hands it to its callback
 * and frees it before it starts the next one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_transport.h"


/* redisAsyncHandleRead() calls per read event, 16K each: 128K at most */
#define NGX_HTTP_APIKEY_REDIS_READS  8

/* the block replies are built in; a larger reply gets more, freed after */
#define NGX_HTTP_APIKEY_REDIS_BLOCK  (64 * 1024)


struct ngx_http_apikey_redis_block_s {
    ngx_http_apikey_redis_block_t    *next;
    u_char                           *pos;
    u_char                           *end;
};


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
static void ngx_http_apikey_redis_fail(ngx_http_apikey_redis_t *rc,
    const char *fmt, ...);
static void ngx_http_apikey_redis_detach(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_redis_event_failed(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_redis_add_read(void *privdata);
static void ngx_http_apikey_redis_del_read(void *privdata);
static void ngx_http_apikey_redis_add_write(void *privdata);
static void ngx_http_apikey_redis_del_write(void *privdata);
static void ngx_http_apikey_redis_cleanup(void *privdata);
static redisReply *ngx_http_apikey_redis_value(const redisReadTask *task,
    int type, size_t size, int elements);
static void *ngx_http_apikey_redis_alloc(ngx_http_apikey_redis_t *rc,
    size_t size);
static void ngx_http_apikey_redis_reset(ngx_http_apikey_redis_t *rc);
static void *ngx_http_apikey_redis_create_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_apikey_redis_create_array(const redisReadTask *task,
    int elements);
static void *ngx_http_apikey_redis_create_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_apikey_redis_create_nil(const redisReadTask *task);
static void ngx_http_apikey_redis_free_reply(void *reply);
static ngx_uint_t ngx_http_apikey_redis_unexpected(const redisReadTask *task,
    int elements);
#if (NGX_SSL)
static ngx_int_t ngx_http_apikey_redis_tls_init(ngx_http_apikey_redis_t *rc);
static void ngx_http_apikey_redis_tls_connected(ngx_event_t *ev);
static void ngx_http_apikey_redis_tls_handshaked(ngx_connection_t *c);
static ngx_int_t ngx_http_apikey_redis_tls_verify(ngx_http_apikey_redis_t *rc,
    ngx_connection_t *c);
static void ngx_http_apikey_redis_tls_save_session(ngx_connection_t *c);
static void ngx_http_apikey_redis_tls_read(ngx_event_t *rev);
static void ngx_http_apikey_redis_tls_write(ngx_event_t *wev);
static void ngx_http_apikey_redis_tls_add_write(void *privdata);
static void ngx_http_apikey_redis_tls_noop(void *privdata);

/* hiredis 0.14 exports it without declaring it */
void redisProcessCallbacks(redisAsyncContext *ac);
#endif


/*
 * The reply builder, which also checks that every reply is one hiredis can
 * take.  hiredis 0.14 assert()s, and so kills the worker, on a reply
 * nothing waits for, and on a malformed push on a subscribed connection;
 * refusing to build such a reply makes it a reader error instead, which
 * closes the connection.
 */

/* the ready connections of this process, for a master's switch */
static ngx_queue_t  ngx_http_apikey_redis_live_list;
static ngx_uint_t   ngx_http_apikey_redis_live_init;


static redisReplyObjectFunctions  ngx_http_apikey_redis_builder = {
    ngx_http_apikey_redis_create_string,
    ngx_http_apikey_redis_create_array,
    ngx_http_apikey_redis_create_integer,
    ngx_http_apikey_redis_create_nil,
    ngx_http_apikey_redis_free_reply
};


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

static void
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


static void *
ngx_http_apikey_redis_create_string(const redisReadTask *task, char *str,
    size_t len)
{
    redisReply               *r;
    ngx_http_apikey_redis_t  *rc;

    rc = task->privdata;

    /*
     * cluster: a redirection never reaches the command's callback; it
     * closes the connection, which is then made to the slot's owner
     */

    if (task->type == REDIS_REPLY_ERROR && task->parent == NULL
        && rc && rc->ac && ngx_http_apikey_transport_cluster(rc->conf)
        && ngx_http_apikey_cluster_redirect((u_char *) str, len, rc->error,
                                            NGX_HTTP_APIKEY_REDIS_ERRLEN)
           == NGX_OK)
    {
        rc->redirected = 1;
        return NULL;
    }

    /* the string right after the value: one piece, one cache line or two */

    r = ngx_http_apikey_redis_value(task, task->type,
                                    sizeof(redisReply) + len + 1, 0);
    if (r == NULL) {
        return NULL;
    }

    r->str = (char *) (r + 1);
    r->len = len;

    ngx_memcpy(r->str, str, len);
    r->str[len] = '\0';

    return r;
}


static void *
ngx_http_apikey_redis_create_array(const redisReadTask *task, int elements)
{
    redisReply  *r;

    if (elements < 0) {
        return NULL;    /* hiredis asks for a nil instead */
    }

    r = ngx_http_apikey_redis_value(task, REDIS_REPLY_ARRAY,
                                    sizeof(redisReply)
                                    + (size_t) elements * sizeof(redisReply *),
                                    elements);
    if (r == NULL) {
        return NULL;
    }

    /*
     * the elements are set as hiredis builds them: only a complete reply
     * is ever read, so they need no zeroing (nor, for a huge count, the
     * touch of every page)
     */

    r->elements = elements;

    if (elements) {
        r->element = (redisReply **) (r + 1);
    }

    return r;
}


static void *
ngx_http_apikey_redis_create_integer(const redisReadTask *task,
    long long value)
{
    redisReply  *r;

    r = ngx_http_apikey_redis_value(task, REDIS_REPLY_INTEGER,
                                    sizeof(redisReply), 0);
    if (r == NULL) {
        return NULL;
    }

    r->integer = value;

    return r;
}


static void *
ngx_http_apikey_redis_create_nil(const redisReadTask *task)
{
    return ngx_http_apikey_redis_value(task, REDIS_REPLY_NIL,
                                       sizeof(redisReply), 0);
}


/*
 * A value of type "type" in "size" bytes, the redisReply first, linked
 * into its array as hiredis's own builder does.  A reply's first value
 * starts a new reply: the memory of the one before is used again.
 */

static redisReply *
ngx_http_apikey_redis_value(const redisReadTask *task, int type, size_t size,
    int elements)
{
    redisReply               *r, *parent;
    ngx_http_apikey_redis_t  *rc;

    rc = task->privdata;

    if (rc == NULL) {
        return NULL;    /* the connection is closed */
    }

    if (ngx_http_apikey_redis_unexpected(task, elements)) {
        return NULL;
    }

    if (task->parent == NULL) {
        ngx_http_apikey_redis_reset(rc);

        /* Redis answers (errors aside): written once a second at most */

        if (rc->heard && type != REDIS_REPLY_ERROR
            && *rc->heard != (ngx_atomic_uint_t) ngx_time())
        {
            *rc->heard = (ngx_atomic_uint_t) ngx_time();
        }
    }

    r = ngx_http_apikey_redis_alloc(rc, size);
    if (r == NULL) {
        return NULL;
    }

    ngx_memzero(r, sizeof(redisReply));
    r->type = type;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = r;
    }

    return r;
}


/*
 * hiredis frees every reply once its callback returned, or when it drops
 * one half built: the memory is reused by the next reply, or freed with
 * ngx_http_apikey_redis_cleanup_replies()
 */

static void
ngx_http_apikey_redis_free_reply(void *reply)
{
}


static void *
ngx_http_apikey_redis_alloc(ngx_http_apikey_redis_t *rc, size_t size)
{
    size_t                          n;
    u_char                         *p;
    ngx_http_apikey_redis_block_t  *b;

    size = ngx_align(size, NGX_ALIGNMENT);

    rc->reply_size += size;

    if (rc->max_reply && rc->reply_size > rc->max_reply) {

        /* hiredis fails the connection; the cleanup keeps this error */

        *ngx_snprintf(rc->error, NGX_HTTP_APIKEY_REDIS_ERRLEN - 1,
                      "a reply over %uz bytes (the bound of the %s "
                      "connection) refused", rc->max_reply, rc->name)
            = '\0';

        return NULL;
    }

    b = rc->block;

    if (b && (size_t) (b->end - b->pos) >= size) {
        p = b->pos;
        b->pos += size;
        return p;
    }

    n = ngx_max(size, NGX_HTTP_APIKEY_REDIS_BLOCK);

    b = ngx_alloc(sizeof(ngx_http_apikey_redis_block_t) + n, rc->log);
    if (b == NULL) {
        return NULL;
    }

    p = (u_char *) (b + 1);

    b->next = NULL;
    b->pos = p + size;
    b->end = p + n;

    if (rc->block) {
        rc->block->next = b;

    } else {
        rc->blocks = b;
    }

    rc->block = b;

    return p;
}


/* the first block is kept for the next reply unless it was a large one */

static void
ngx_http_apikey_redis_reset(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_redis_block_t  *b, *next;

    rc->reply_size = 0;

    b = rc->blocks;

    if (b == NULL) {
        return;
    }

    for (next = b->next; next; next = b->next) {
        b->next = next->next;
        ngx_free(next);
    }

    if ((size_t) (b->end - (u_char *) (b + 1)) > NGX_HTTP_APIKEY_REDIS_BLOCK) {
        ngx_free(b);
        rc->blocks = NULL;
        rc->block = NULL;
        return;
    }

    b->pos = (u_char *) (b + 1);
    rc->block = b;
}


/*
 * The module's reply builder on a hiredis reader: every connection's, and
 * fuzz/fuzz_resp.c's, which compares it with hiredis's own builder.
 */

void
ngx_http_apikey_redis_use_builder(redisReader *reader,
    ngx_http_apikey_redis_t *rc)
{
    reader->fn = &ngx_http_apikey_redis_builder;
    reader->privdata = rc;
}


/*
 * Frees the memory replies were built in; for when the structure goes
 * away, with its connection closed.
 */

void
ngx_http_apikey_redis_cleanup_replies(ngx_http_apikey_redis_t *rc)
{
#if (NGX_SSL)
    if (rc->ssl_session) {
        ngx_ssl_free_session(rc->ssl_session);
        rc->ssl_session = NULL;
    }
#endif

    ngx_http_apikey_redis_reset(rc);

    if (rc->blocks) {
        ngx_free(rc->blocks);
        rc->blocks = NULL;
        rc->block = NULL;
    }
}


/*
 * Called for every value hiredis builds, before the reply's callback is
 * taken from the queue: the queue's head is the reply's own callback.
 */

static ngx_uint_t
ngx_http_apikey_redis_unexpected(const redisReadTask *task, int elements)
{
    redisReply               *push, *kind;
    redisAsyncContext        *ac;
    const redisReadTask      *top;
    ngx_http_apikey_redis_t  *rc;

    rc = task->privdata;

    if (rc == NULL || rc->ac == NULL) {
        return 0;
    }

    ac = rc->ac;

    if (ac->replies.head) {
        return 0;
    }

    if (!(ac->c.flags & REDIS_SUBSCRIBED)) {

        /* nothing waits: only an error reply ("max clients") is handled */

        if (task->parent == NULL && task->type != REDIS_REPLY_ERROR) {
            goto unexpected;
        }

        return 0;
    }

    /* a push: an array of a kind, a channel, and a payload or a count */

    if (task->parent == NULL) {
        if (task->type == REDIS_REPLY_ARRAY && elements < 3) {
            goto unexpected;
        }

        return 0;
    }

    top = task->parent;

    if (top->parent) {
        return 0;
    }

    if (task->idx < 2) {
        if (task->type != REDIS_REPLY_STRING) {
            goto unexpected;
        }

        return 0;
    }

    if (task->idx == 2 && task->type != REDIS_REPLY_INTEGER) {
        push = top->obj;
        kind = push->element[0];

        if (kind->len >= 11
            && ngx_strncasecmp((u_char *) kind->str + kind->len - 11,
                               (u_char *) "unsubscribe", 11)
               == 0)
        {
            goto unexpected;
        }
    }

    return 0;

unexpected:

    if (rc->error[0] == '\0') {
        ngx_cpystrn(rc->error, (u_char *) "unexpected reply",
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
    }

    return 1;
}


#if (NGX_SSL)

/*
 * TLS: hiredis 0.14 reads and writes the socket itself, so behind TLS the
 * adapter does the I/O on its behalf with nginx's c->recv() and c->send()
 * and hands hiredis the bytes: what is read is fed to the context's reader
 * and its callbacks run (redisProcessCallbacks()), what hiredis queued in
 * its output buffer is written from there.  hiredis still formats the
 * commands, parses the replies and keeps the callbacks in order.
 *
 * The events are nginx's usual edge-triggered ones: a TLS record may hold
 * more than the socket says, so the reads go on until c->recv() says
 * NGX_AGAIN.  The TCP connect is hiredis's non-blocking one, as without
 * TLS; the handshake follows it, and the handshake's commands (AUTH,
 * SELECT or PING) are written only once the certificate was verified.
 */

static ngx_int_t
ngx_http_apikey_redis_tls_init(ngx_http_apikey_redis_t *rc)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = rc->connection;
    ac = rc->ac;

    c->pool = ngx_create_pool(1024, rc->log);
    if (c->pool == NULL) {
        return NGX_ERROR;
    }

    rc->tls = 1;

    c->log_error = NGX_ERROR_ERR;

    c->read->handler = ngx_http_apikey_redis_tls_connected;
    c->write->handler = ngx_http_apikey_redis_tls_connected;

    ac->ev.addRead = ngx_http_apikey_redis_tls_noop;
    ac->ev.delRead = ngx_http_apikey_redis_tls_noop;
    ac->ev.addWrite = ngx_http_apikey_redis_tls_add_write;
    ac->ev.delWrite = ngx_http_apikey_redis_tls_noop;

    if (ngx_handle_write_event(c->write, 0) != NGX_OK
        || ngx_handle_read_event(c->read, 0) != NGX_OK)
    {
        ngx_cpystrn(rc->error, (u_char *) "event registration failed",
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_apikey_redis_tls_connected(ngx_event_t *ev)
{
    int                           err;
    u_char                        text[NGX_MAX_ERROR_STR];
    socklen_t                     len;
    ngx_int_t                     rv;
    ngx_str_t                    *name;
    ngx_connection_t             *c;
    ngx_http_apikey_redis_t      *rc;
    ngx_http_apikey_transport_t  *t;

    c = ev->data;
    rc = c->data;
    t = rc->conf->transport;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        *ngx_strerror(err, text, sizeof(text) - 1) = '\0';
        ngx_http_apikey_redis_fail(rc, "connect failed: %s", text);
        return;
    }

    if (ngx_ssl_create_connection(t->ssl, c, NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_apikey_redis_fail(rc, "no TLS connection");
        return;
    }

    name = &t->tls_name;

    if (!t->tls_name_is_ip
        && SSL_set_tlsext_host_name(c->ssl->connection, (char *) name->data)
           != 1)
    {
        ngx_http_apikey_redis_fail(rc, "TLS server name not set");
        return;
    }

    if (rc->ssl_session
        && ngx_ssl_set_session(c, rc->ssl_session) != NGX_OK)
    {
        ngx_http_apikey_redis_fail(rc, "TLS session not set");
        return;
    }

    c->ssl->save_session = ngx_http_apikey_redis_tls_save_session;

    rv = ngx_ssl_handshake(c);

    if (rv == NGX_AGAIN) {
        c->ssl->handler = ngx_http_apikey_redis_tls_handshaked;
        return;
    }

    ngx_http_apikey_redis_tls_handshaked(c);
}


static void
ngx_http_apikey_redis_tls_handshaked(ngx_connection_t *c)
{
    ngx_uint_t                generation;
    redisAsyncContext        *ac;
    ngx_http_apikey_redis_t  *rc;

    rc = c->data;
    ac = rc->ac;

    if (!c->ssl->handshaked) {
        ngx_http_apikey_redis_fail(rc, "TLS handshake failed");
        return;
    }

    if (ngx_http_apikey_redis_tls_verify(rc, c) != NGX_OK) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rc->log, 0,
                   "apikey redis %s: TLS established, reused:%d",
                   rc->name, SSL_session_reused(c->ssl->connection));

    c->read->handler = ngx_http_apikey_redis_tls_read;
    c->write->handler = ngx_http_apikey_redis_tls_write;

    ac->c.flags |= REDIS_CONNECTED;
    rc->tls_ready = 1;

    generation = rc->generation;

    /* the handshake's commands, queued at connect */

    ngx_http_apikey_redis_tls_write(c->write);

    if (rc->ac != ac || rc->generation != generation) {
        return;
    }

    ngx_http_apikey_redis_tls_read(c->read);
}


/*
 * As nginx checks an upstream's certificate: the chain's result, then the
 * name (an address literal against the certificate's IP entries).
 */

static ngx_int_t
ngx_http_apikey_redis_tls_verify(ngx_http_apikey_redis_t *rc,
    ngx_connection_t *c)
{
    long                          v;
    X509                         *cert;
    ngx_int_t                     rv;
    ngx_http_apikey_transport_t  *t;

    t = rc->conf->transport;

    if (!t->tls_verify) {
        if (!t->warned) {
            t->warned = 1;
            ngx_log_error(NGX_LOG_WARN, rc->log, 0,
                          "apikey: redis %V: the server certificate is not "
                          "verified (tls_verify=off)", &rc->conf->address);
        }

        return NGX_OK;
    }

    v = SSL_get_verify_result(c->ssl->connection);

    if (v != X509_V_OK) {
        ngx_http_apikey_redis_fail(rc, "TLS certificate verify error: "
                                   "(%l:%s)", v,
                                   X509_verify_cert_error_string(v));
        return NGX_ERROR;
    }

    if (t->tls_name_is_ip) {
        cert = SSL_get_peer_certificate(c->ssl->connection);

        rv = (cert && X509_check_ip_asc(cert, (char *) t->tls_name.data, 0)
                      == 1)
             ? NGX_OK : NGX_ERROR;

        if (cert) {
            X509_free(cert);
        }

    } else {
        rv = ngx_ssl_check_host(c, &t->tls_name);
    }

    if (rv != NGX_OK) {
        ngx_http_apikey_redis_fail(rc, "TLS certificate does not match "
                                   "\"%V\"", &t->tls_name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* OpenSSL's new-session callback, through nginx's client session cache */

static void
ngx_http_apikey_redis_tls_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t        *session;
    ngx_http_apikey_redis_t  *rc;

    rc = c->data;

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    if (rc->ssl_session) {
        ngx_ssl_free_session(rc->ssl_session);
    }

    rc->ssl_session = session;
}


static void
ngx_http_apikey_redis_tls_read(ngx_event_t *rev)
{
    ssize_t                   n;
    ngx_uint_t                i, generation;
    ngx_connection_t         *c;
    redisAsyncContext        *ac;
    ngx_http_apikey_redis_t  *rc;
    u_char                    buf[16384];

    c = rev->data;
    rc = c->data;
    ac = rc->ac;
    generation = rc->generation;

    for (i = 0; i < NGX_HTTP_APIKEY_REDIS_READS; i++) {

        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_apikey_redis_fail(rc, "event registration failed");
                return;
            }

            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_http_apikey_redis_fail(rc, n ? "read failed"
                                             : "connection closed");
            return;
        }

        if (redisReaderFeed(ac->c.reader, (char *) buf, n) != REDIS_OK) {
            ngx_http_apikey_redis_fail(rc, "out of memory");
            return;
        }

        redisProcessCallbacks(ac);

        if (rc->ac != ac || rc->generation != generation) {
            return;     /* closed while handling the replies */
        }
    }

    if (i == NGX_HTTP_APIKEY_REDIS_READS) {
        /* more may wait: later, so that the other events get their turn */
        ngx_post_event(rev, &ngx_posted_events);
    }

    ngx_http_apikey_redis_arm(rc);
}


static void
ngx_http_apikey_redis_tls_write(ngx_event_t *wev)
{
    size_t                    len;
    ssize_t                   n;
    ngx_connection_t         *c;
    redisAsyncContext        *ac;
    ngx_http_apikey_redis_t  *rc;

    c = wev->data;
    rc = c->data;
    ac = rc->ac;

    if (ac == NULL || !rc->tls_ready) {
        return;
    }

    for ( ;; ) {
        len = sdslen(ac->c.obuf);

        if (len == 0) {
            break;
        }

        n = c->send(c, (u_char *) ac->c.obuf, len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_apikey_redis_fail(rc, "event registration failed");
                return;
            }

            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_apikey_redis_fail(rc, "write failed");
            return;
        }

        if ((size_t) n == len) {
            sdsclear(ac->c.obuf);

        } else {
            sdsrange(ac->c.obuf, n, -1);
        }
    }

    ngx_http_apikey_redis_arm(rc);
}


/* hiredis queued a command: it is written once this event loop turn ends */

static void
ngx_http_apikey_redis_tls_add_write(void *privdata)
{
    ngx_http_apikey_redis_t *rc = privdata;

    if (rc->connection == NULL || !rc->tls_ready) {
        return;
    }

    ngx_post_event(rc->connection->write, &ngx_posted_events);
}


static void
ngx_http_apikey_redis_tls_noop(void *privdata)
{
}

#endif
