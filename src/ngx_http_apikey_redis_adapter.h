
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the Redis adapter's parts shared by its files,
 * and by them only.  The adapter (whose interface is
 * ngx_http_apikey_redis.h) is split by concern:
 *
 *   ngx_http_apikey_redis.c        the connection on nginx's event loop:
 *                                  connect, events, timer, commands,
 *                                  close, the sequence that makes it ready
 *                                  (AUTH, SELECT, ROLE, CLUSTER NODES)
 *   ngx_http_apikey_redis_reply.c  the reply builder: replies in reused
 *                                  blocks, the max_reply bound, the
 *                                  replies hiredis could not take refused
 *   ngx_http_apikey_redis_tls.c    TLS: the handshake and the I/O done
 *                                  for hiredis through nginx's OpenSSL
 *
 * One ngx_http_apikey_redis_t is shared by the three: the builder writes
 * the fields of the replies (blocks, block, reply_size) and, for a reply
 * it refuses, error and redirected; the TLS part writes tls, tls_ready and
 * ssl_session; the rest is the connection's.
 */


#ifndef _NGX_HTTP_APIKEY_REDIS_ADAPTER_H_INCLUDED_
#define _NGX_HTTP_APIKEY_REDIS_ADAPTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"


/* redisAsyncHandleRead() calls per read event, 16K each: 128K at most */
#define NGX_HTTP_APIKEY_REDIS_READS  8


/*
 * ngx_http_apikey_redis.c: drops the connection after a failure found
 * outside hiredis, with the error as the format says (NULL: rc->error is
 * already set), and tells the owner.
 */
void ngx_http_apikey_redis_fail(ngx_http_apikey_redis_t *rc,
    const char *fmt, ...);

/* ngx_http_apikey_redis_reply.c */
void ngx_http_apikey_redis_free_blocks(ngx_http_apikey_redis_t *rc);

#if (NGX_SSL)
/* ngx_http_apikey_redis_tls.c */
ngx_int_t ngx_http_apikey_redis_tls_init(ngx_http_apikey_redis_t *rc);
void ngx_http_apikey_redis_tls_cleanup(ngx_http_apikey_redis_t *rc);
#endif


#endif /* _NGX_HTTP_APIKEY_REDIS_ADAPTER_H_INCLUDED_ */
