
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: hiredis's asynchronous API on nginx's event loop,
 * and the entry points that let other code of the syncing worker talk to
 * Redis over the sync's command connection (the usage write-back does).
 */


#ifndef _NGX_HTTP_APIKEY_REDIS_H_INCLUDED_
#define _NGX_HTTP_APIKEY_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_apikey.h"


#define NGX_HTTP_APIKEY_REDIS_ERRLEN  128

/* how long a connection in sentinel mode looks for a reachable master */
#define NGX_HTTP_APIKEY_REDIS_LOCATE  15000
#define NGX_HTTP_APIKEY_REDIS_RETRY   100


typedef struct ngx_http_apikey_redis_s  ngx_http_apikey_redis_t;
typedef struct ngx_http_apikey_redis_block_s  ngx_http_apikey_redis_block_t;

typedef void (*ngx_http_apikey_redis_handler_pt)(ngx_http_apikey_redis_t *rc);


/*
 * One connection to Redis.  The structure is owned by the caller and
 * outlives its connections; it is set up once with the fields marked "in"
 * and then connected again and again.
 *
 * ready is called once the connection is established and AUTH and SELECT
 * (or a PING) have been answered (and, with sentinel=, ROLE said
 * "master"); closed is called once when an established
 * or pending connection fails: refused, timed out, reset, protocol error,
 * or an AUTH / SELECT error.  closed is not called after
 * ngx_http_apikey_redis_close().  Either may be called from inside a reply
 * callback; neither may connect again directly (use a timer).
 *
 * With sentinel=, a connect first asks the sentinels for the master (see
 * ngx_http_apikey_sentinel.c), and a master that cannot be reached or is
 * not one sends it back to asking, every NGX_HTTP_APIKEY_REDIS_RETRY ms
 * for up to NGX_HTTP_APIKEY_REDIS_LOCATE ms, before closed is called: a
 * failover is waited for within one connect.  A connection to a master
 * that the sentinels replaced is closed (closed is called).
 *
 * Reply callbacks get a NULL reply when the connection goes away with
 * commands still pending; they must then only forget their request.  A
 * reply lives until its callback returns, not longer: it is built in
 * memory of the structure's own, reused for the next one.
 */

struct ngx_http_apikey_redis_s {
    redisAsyncContext                *ac;
    ngx_connection_t                 *connection;
    ngx_event_t                       timer;      /* connect or reply */

    ngx_http_apikey_redis_conf_t     *conf;       /* in */
    ngx_log_t                        *log;        /* in */
    ngx_msec_t                        connect_timeout;    /* in */
    ngx_msec_t                        reply_timeout;      /* in */
    ngx_http_apikey_redis_handler_pt  ready;      /* in */
    ngx_http_apikey_redis_handler_pt  closed;     /* in */
    void                             *data;       /* in */
    char                             *name;       /* in, for logs */
    ngx_atomic_t                     *heard;      /* in, optional: gets the
                                                     time of each good
                                                     reply */

    /*
     * in: bytes one reply may take, raw or built (0: unbounded); a reply
     * over it is refused and the connection closed, the error naming the
     * bound, before it is buffered whole; reply_size is then over the
     * bound when closed is called, the reply being that of the first
     * command still pending
     */
    size_t                            max_reply;
    size_t                            reply_size; /* of the one building */

    /*
     * replies expected beyond those hiredis queues, such as a SUBSCRIBE
     * confirmation: while non-zero, the reply timeout runs
     */
    ngx_uint_t                        waiting;

    ngx_uint_t                        handshake;  /* replies before ready */
    ngx_uint_t                        generation; /* of ac, for staleness */

    u_char                            error[NGX_HTTP_APIKEY_REDIS_ERRLEN];

    /* where replies are built, see ngx_http_apikey_redis_reply.c */
    ngx_http_apikey_redis_block_t    *blocks;
    ngx_http_apikey_redis_block_t    *block;      /* the one in use */

    /* where it connects or is connected: a sentinel may move it */
    u_char                            host[NGX_HTTP_APIKEY_ADDRESS_LEN];
    ngx_int_t                         port;
    ngx_msec_t                        deadline;   /* of a master's search */
    ngx_queue_t                       live;       /* in the ready list */

#if (NGX_SSL)
    /* the last session, offered again on reconnect */
    ngx_ssl_session_t                *ssl_session;
#endif

    unsigned                          is_ready:1;
    unsigned                          broken:1;   /* event (de)registration
                                                     failed */
    unsigned                          tls:1;      /* nginx does the I/O */
    unsigned                          tls_ready:1;    /* verified */
    unsigned                          locating:1; /* asks the sentinels */
    unsigned                          in_live:1;
    unsigned                          redirected:1;   /* by the cluster */
};


/* ngx_http_apikey_redis.c */
ngx_int_t ngx_http_apikey_redis_connect(ngx_http_apikey_redis_t *rc);
void ngx_http_apikey_redis_close(ngx_http_apikey_redis_t *rc);
void ngx_http_apikey_redis_cleanup_replies(ngx_http_apikey_redis_t *rc);
ngx_int_t ngx_http_apikey_redis_command(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, const char *format, ...);
ngx_int_t ngx_http_apikey_redis_vcommand(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, const char *format, va_list args);
ngx_int_t ngx_http_apikey_redis_command_argv(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, int argc, const char **argv,
    const size_t *argvlen);
ngx_int_t ngx_http_apikey_redis_formatted(ngx_http_apikey_redis_t *rc,
    redisCallbackFn *fn, void *privdata, u_char *cmd, size_t len);
void ngx_http_apikey_redis_arm(ngx_http_apikey_redis_t *rc);
void ngx_http_apikey_redis_switched(u_char *host, ngx_int_t port);

/* ngx_http_apikey_redis_reply.c */
void ngx_http_apikey_redis_use_builder(redisReader *reader,
    ngx_http_apikey_redis_t *rc);


/*
 * ngx_http_apikey_sync.c: for other code of the module (usage write-back,
 * cluster rate counters) running in the worker that owns the sync.
 *
 * ngx_http_apikey_sync_is_owner() tells whether this worker syncs now.
 *
 * ngx_http_apikey_sync_command() and ngx_http_apikey_sync_command_argv()
 * queue a command on the sync's command connection, after whatever the
 * sync queued before (replies come back in order).  They return NGX_OK when
 * queued, NGX_DECLINED when this worker is not the owner or its command
 * connection is not ready (nothing was sent; try again later), NGX_ERROR
 * when hiredis refused the command.  fn gets the reply, or NULL when the
 * connection goes away first; the command's timeout is the sync's reply
 * timeout, after which the whole connection is dropped and re-established.
 */

#define NGX_HTTP_APIKEY_SYNC_TICK        250

ngx_uint_t ngx_http_apikey_sync_is_owner(void);
ngx_int_t ngx_http_apikey_sync_command(redisCallbackFn *fn, void *privdata,
    const char *format, ...);
ngx_int_t ngx_http_apikey_sync_command_argv(redisCallbackFn *fn,
    void *privdata, int argc, const char **argv, const size_t *argvlen);


/*
 * ngx_http_apikey_health.c: a reply handler of a write (usage, cluster
 * counts) that got an error reply says so here, "what" naming the write;
 * the error is counted for the status and logged at a bounded rate.
 */

void ngx_http_apikey_redis_write_failed(redisReply *reply, const char *what);


#endif /* _NGX_HTTP_APIKEY_REDIS_H_INCLUDED_ */
