
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the Redis adapter's TLS, through nginx's OpenSSL.
 *
 * hiredis 0.14 reads and writes the socket itself, so behind TLS the
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
 *
 * It is apart from the connection (ngx_http_apikey_redis.c), which hands
 * a connection that is to speak TLS to ngx_http_apikey_redis_tls_init():
 * without TLS hiredis does the I/O, with it this file does it for hiredis.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_redis_adapter.h"
#include "ngx_http_apikey_transport.h"


#if (NGX_SSL)

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


ngx_int_t
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


/* the session kept for reconnects, freed when the structure goes away */

void
ngx_http_apikey_redis_tls_cleanup(ngx_http_apikey_redis_t *rc)
{
    if (rc->ssl_session) {
        ngx_ssl_free_session(rc->ssl_session);
        rc->ssl_session = NULL;
    }
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
