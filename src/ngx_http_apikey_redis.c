
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


/* redisAsyncHandleRead() calls per read event, 16K each: 128K at most */
#define NGX_HTTP_APIKEY_REDIS_READS  8

/* the block replies are built in; a larger reply gets more, freed after */
#define NGX_HTTP_APIKEY_REDIS_BLOCK  (64 * 1024)


struct ngx_http_apikey_redis_block_s {
    ngx_http_apikey_redis_block_t    *next;
    u_char                           *pos;
    u_char                           *end;
};


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


/*
 * The reply builder, which also checks that every reply is one hiredis can
 * take.  hiredis 0.14 assert()s, and so kills the worker, on a reply
 * nothing waits for, and on a malformed push on a subscribed connection;
 * refusing to build such a reply makes it a reader error instead, which
 * closes the connection.
 */

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
    u_char                         addr[NGX_MAX_PATH];
    ngx_connection_t              *c;
    redisAsyncContext             *ac;
    ngx_http_apikey_redis_conf_t  *conf;

    if (rc->ac) {
        return NGX_BUSY;
    }

    conf = rc->conf;

    rc->error[0] = '\0';
    rc->waiting = 0;
    rc->handshake = 0;
    rc->is_ready = 0;
    rc->broken = 0;

    if (conf->unix_path.len) {
        if (conf->unix_path.len >= sizeof(addr)) {
            ngx_cpystrn(rc->error, (u_char *) "socket path too long",
                        NGX_HTTP_APIKEY_REDIS_ERRLEN);
            return NGX_ERROR;
        }

        ngx_cpystrn(addr, conf->unix_path.data, conf->unix_path.len + 1);

        ac = redisAsyncConnectUnix((char *) addr);

    } else {
        if (conf->host.len >= sizeof(addr)) {
            ngx_cpystrn(rc->error, (u_char *) "host too long",
                        NGX_HTTP_APIKEY_REDIS_ERRLEN);
            return NGX_ERROR;
        }

        ngx_cpystrn(addr, conf->host.data, conf->host.len + 1);

        ac = redisAsyncConnect((char *) addr, (int) conf->port);
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
        ngx_http_apikey_redis_fail(rc, "connect timed out");

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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rc->log, 0,
                   "apikey redis %s: ready", rc->name);

    rc->is_ready = 1;

    if (rc->ready) {
        rc->ready(rc);
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

    ngx_http_apikey_redis_detach(rc);

    redisAsyncFree(ac);

    if (rc->closed) {
        rc->closed(rc);
    }
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
    redisAsyncContext  *ac;

    ac = rc->ac;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    if (rc->connection) {
        ngx_close_connection(rc->connection);
        rc->connection = NULL;

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

    rc->ac = NULL;
    rc->is_ready = 0;
    rc->waiting = 0;
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

    ngx_http_apikey_redis_detach(rc);

    if (rc->closed) {
        rc->closed(rc);
    }
}


static void *
ngx_http_apikey_redis_create_string(const redisReadTask *task, char *str,
    size_t len)
{
    redisReply  *r;

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
