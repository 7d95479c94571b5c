
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the transport options of "apikey_redis" (tls,
 * tls_verify=, tls_ca=, tls_cert=, tls_key=, tls_server_name=) and the
 * TLS context they build at configuration time.
 *
 * The context is nginx's own (ngx_ssl_create()), as proxy_ssl_* builds
 * one for an upstream: hiredis 0.14 has no TLS, so hiredis keeps the
 * protocol and nginx owns the socket and its TLS (see the adapter).  As
 * nginx does for upstreams, the handshake itself does not fail on a bad
 * certificate: the adapter checks the verification result and the name
 * after it, so that the error log can say exactly what was wrong.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_transport.h"


#define NGX_HTTP_APIKEY_TLS_DEPTH  10


/* the process's last answer for the address's host name */

typedef struct {
    ngx_http_apikey_redis_conf_t  *rcf;
    u_char                         host[NGX_HTTP_APIKEY_ADDRESS_LEN];
    unsigned                       fresh:1;
    unsigned                       resolving:1;
} ngx_http_apikey_dns_t;


static ngx_http_apikey_dns_t  ngx_http_apikey_dns;


static ngx_int_t ngx_http_apikey_transport_file(ngx_conf_t *cf,
    ngx_str_t *arg, size_t skip, ngx_str_t *file);
static ngx_int_t ngx_http_apikey_transport_sentinels(ngx_conf_t *cf,
    ngx_http_apikey_transport_t *t, ngx_str_t *arg);
static ngx_int_t ngx_http_apikey_transport_dns_name(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf);
static ngx_int_t ngx_http_apikey_transport_dns(
    ngx_http_apikey_redis_conf_t *rcf, u_char **host, ngx_int_t *port);
static void ngx_http_apikey_transport_resolved(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_http_apikey_transport_hash_tag(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf);
static ngx_int_t ngx_http_apikey_transport_name(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf);
static ngx_int_t ngx_http_apikey_transport_tls(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf);


static ngx_http_apikey_transport_t *
ngx_http_apikey_transport_get(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf)
{
    ngx_http_apikey_transport_t  *t;

    if (rcf->transport) {
        return rcf->transport;
    }

    t = ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_transport_t));
    if (t == NULL) {
        return NULL;
    }

    t->tls_verify = NGX_CONF_UNSET;

    rcf->transport = t;

    return t;
}


ngx_int_t
ngx_http_apikey_transport_arg(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf, ngx_str_t *arg)
{
    ngx_http_apikey_transport_t  *t;

    if (ngx_strncmp(arg->data, "sentinel=", 9) == 0) {
        t = ngx_http_apikey_transport_get(cf, rcf);
        if (t == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_apikey_transport_sentinels(cf, t, arg);
    }

    if (ngx_strncmp(arg->data, "master=", 7) == 0) {
        t = ngx_http_apikey_transport_get(cf, rcf);
        if (t == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_apikey_transport_file(cf, arg, 7, &t->master);
    }

    if (arg->len == 7 && ngx_strncmp(arg->data, "cluster", 7) == 0) {
        t = ngx_http_apikey_transport_get(cf, rcf);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->cluster = 1;
        return NGX_OK;
    }

    if (arg->len < 3 || ngx_strncmp(arg->data, "tls", 3) != 0) {
        return NGX_DECLINED;
    }

    t = ngx_http_apikey_transport_get(cf, rcf);
    if (t == NULL) {
        return NGX_ERROR;
    }

    if (arg->len == 3) {
        t->tls = 1;
        return NGX_OK;
    }

    if (arg->len == 13 && ngx_strncmp(arg->data, "tls_verify=on", 13) == 0) {
        t->tls_verify = 1;
        return NGX_OK;
    }

    if (arg->len == 14 && ngx_strncmp(arg->data, "tls_verify=off", 14) == 0) {
        t->tls_verify = 0;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "tls_verify=", 11) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls_verify=\" takes \"on\" or \"off\" in "
                           "\"apikey_redis\" directive");
        return NGX_ERROR;
    }

    if (ngx_strncmp(arg->data, "tls_ca=", 7) == 0) {
        return ngx_http_apikey_transport_file(cf, arg, 7, &t->tls_ca);
    }

    if (ngx_strncmp(arg->data, "tls_cert=", 9) == 0) {
        return ngx_http_apikey_transport_file(cf, arg, 9, &t->tls_cert);
    }

    if (ngx_strncmp(arg->data, "tls_key=", 8) == 0) {
        return ngx_http_apikey_transport_file(cf, arg, 8, &t->tls_key);
    }

    if (ngx_strncmp(arg->data, "tls_server_name=", 16) == 0) {
        return ngx_http_apikey_transport_file(cf, arg, 16,
                                              &t->tls_server_name);
    }

    return NGX_DECLINED;
}


/*
 * sentinel=host:port,host:port,...: resolved now, as the address is; the
 * port defaults to 26379
 */

static ngx_int_t
ngx_http_apikey_transport_sentinels(ngx_conf_t *cf,
    ngx_http_apikey_transport_t *t, ngx_str_t *arg)
{
    u_char                        *p, *last, *comma, text[NGX_SOCKADDR_STRLEN];
    size_t                         len;
    ngx_url_t                      u;
    ngx_http_apikey_redis_conf_t  *sc;

    if (t->sentinels) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"sentinel=\" in \"apikey_redis\" "
                           "directive");
        return NGX_ERROR;
    }

    t->sentinels = ngx_array_create(cf->pool, 3,
                                    sizeof(ngx_http_apikey_redis_conf_t));
    if (t->sentinels == NULL) {
        return NGX_ERROR;
    }

    p = arg->data + 9;
    last = arg->data + arg->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url.data = p;
        u.url.len = comma - p;
        u.default_port = 26379;

        if (u.url.len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK
            || u.naddrs == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid sentinel \"%V\" in \"apikey_redis\" "
                               "directive%s%s", &u.url, u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_ERROR;
        }

        sc = ngx_array_push(t->sentinels);
        if (sc == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(sc, sizeof(ngx_http_apikey_redis_conf_t));

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                            NGX_SOCKADDR_STRLEN, 0);

        if (len > 2 && text[0] == '[') {
            ngx_memmove(text, text + 1, len - 2);
            len -= 2;
        }

        sc->host.data = ngx_pnalloc(cf->pool, len + 1);
        if (sc->host.data == NULL) {
            return NGX_ERROR;
        }

        sc->host.len = len;
        ngx_cpystrn(sc->host.data, text, len + 1);
        sc->port = ngx_inet_get_port(u.addrs[0].sockaddr);
        sc->address = u.url;

        p = comma + 1;
    }

    if (t->sentinels->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty \"sentinel=\" in \"apikey_redis\" "
                           "directive");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the value of "name=value", which must not be empty */

static ngx_int_t
ngx_http_apikey_transport_file(ngx_conf_t *cf, ngx_str_t *arg, size_t skip,
    ngx_str_t *file)
{
    if (arg->len == skip) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty \"%*s\" in \"apikey_redis\" directive",
                           skip, arg->data);
        return NGX_ERROR;
    }

    if (file->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"%*s\" in \"apikey_redis\" directive",
                           skip, arg->data);
        return NGX_ERROR;
    }

    file->data = arg->data + skip;
    file->len = arg->len - skip;

    return NGX_OK;
}


ngx_int_t
ngx_http_apikey_transport_check(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf)
{
    ngx_http_apikey_transport_t  *t;

    if (ngx_http_apikey_transport_dns_name(cf, rcf) != NGX_OK) {
        return NGX_ERROR;
    }

    t = rcf->transport;

    if (t == NULL) {
        return NGX_OK;
    }

    if ((t->sentinels == NULL) != (t->master.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel=\" and \"master=\" go together in "
                           "\"apikey_redis\" directive");
        return NGX_ERROR;
    }

    if (t->cluster
        && ngx_http_apikey_transport_hash_tag(cf, rcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (t->cluster && t->sentinels) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster\" and \"sentinel=\" exclude each other "
                           "in \"apikey_redis\" directive");
        return NGX_ERROR;
    }

    if ((t->sentinels || t->cluster) && rcf->unix_path.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel=\" and \"cluster\" cannot be used "
                           "with a unix socket in \"apikey_redis\" "
                           "directive");
        return NGX_ERROR;
    }

    if (!t->tls) {
        if (t->tls_verify == NGX_CONF_UNSET && t->tls_ca.len == 0
            && t->tls_cert.len == 0 && t->tls_key.len == 0
            && t->tls_server_name.len == 0)
        {
            return NGX_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls_*=\" parameters require \"tls\" in "
                           "\"apikey_redis\" directive");
        return NGX_ERROR;
    }

    if (rcf->unix_path.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls\" cannot be used with a unix socket in "
                           "\"apikey_redis\" directive");
        return NGX_ERROR;
    }

    if ((t->tls_cert.len == 0) != (t->tls_key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls_cert=\" and \"tls_key=\" go together in "
                           "\"apikey_redis\" directive");
        return NGX_ERROR;
    }

    if (t->tls_verify == NGX_CONF_UNSET) {
        t->tls_verify = 1;
    }

    if (ngx_http_apikey_transport_name(cf, rcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_apikey_transport_tls(cf, rcf);
}


/*
 * An address written with a host name keeps the name, so that a reconnect
 * resolves it again through nginx's "resolver" (when there is one): a DNS
 * failover of the endpoint is followed without a reload.
 */

static ngx_int_t
ngx_http_apikey_transport_dns_name(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf)
{
    ngx_url_t                     u;
    ngx_http_apikey_transport_t  *t;
#if (NGX_HAVE_INET6)
    struct in6_addr               in6;
#endif

    if (rcf->unix_path.len) {
        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = rcf->address;
    u.default_port = 6379;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.host.len == 0
        || u.host.data[0] == '['
        || ngx_inet_addr(u.host.data, u.host.len) != INADDR_NONE
#if (NGX_HAVE_INET6)
        || ngx_inet6_addr(u.host.data, u.host.len, in6.s6_addr) == NGX_OK
#endif
        )
    {
        return NGX_OK;
    }

    t = ngx_http_apikey_transport_get(cf, rcf);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->dns_name = u.host;

    return NGX_OK;
}


/*
 * Redis Cluster puts a key in the slot of its hash tag ("{...}", the first
 * non-empty one) when it has one: with the tag in the prefix, every key of
 * the schema and the events channel share one slot, so that one node
 * serves the whole schema and the sync's SCAN sees every key.
 */

static ngx_int_t
ngx_http_apikey_transport_hash_tag(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf)
{
    u_char  *p, *last, *open;

    p = rcf->prefix.data;
    last = p + rcf->prefix.len;

    open = ngx_strlchr(p, last, '{');

    if (open) {
        p = ngx_strlchr(open + 1, last, '}');

        if (p && p > open + 1) {
            return NGX_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"cluster\" needs a hash tag in \"prefix=\", such as "
                       "\"prefix={apikey}:\", so that every key of the "
                       "schema is in one slot of the cluster (the prefix is "
                       "\"%V\")", &rcf->prefix);

    return NGX_ERROR;
}


/*
 * The name the certificate must carry: tls_server_name=, or else the host
 * as written in the address (not the address it resolved to).
 */

static ngx_int_t
ngx_http_apikey_transport_name(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf)
{
    ngx_url_t                     u;
    ngx_str_t                     name;
#if (NGX_HAVE_INET6)
    struct in6_addr               in6;
#endif
    ngx_http_apikey_transport_t  *t;

    t = rcf->transport;

    if (t->tls_server_name.len) {
        name = t->tls_server_name;

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = rcf->address;
        u.default_port = 6379;
        u.no_resolve = 1;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.host.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no host name in \"%V\" for \"tls\"",
                               &rcf->address);
            return NGX_ERROR;
        }

        name = u.host;

        if (name.len > 2 && name.data[0] == '[') {
            name.data++;
            name.len -= 2;
        }
    }

    t->tls_name.data = ngx_pnalloc(cf->pool, name.len + 1);
    if (t->tls_name.data == NULL) {
        return NGX_ERROR;
    }

    t->tls_name.len = name.len;
    ngx_cpystrn(t->tls_name.data, name.data, name.len + 1);

    t->tls_name_is_ip =
        (ngx_inet_addr(t->tls_name.data, t->tls_name.len) != INADDR_NONE);

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(t->tls_name.data, t->tls_name.len, in6.s6_addr)
        == NGX_OK)
    {
        t->tls_name_is_ip = 1;
    }
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_transport_tls(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf)
{
#if (NGX_SSL)

    ngx_pool_cleanup_t           *cln;
    ngx_http_apikey_transport_t  *t;

    t = rcf->transport;

    t->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (t->ssl == NULL) {
        return NGX_ERROR;
    }

    t->ssl->log = cf->log;

    if (ngx_ssl_create(t->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(t->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = t->ssl;

    /*
     * the adapter writes from hiredis's output buffer, which may move and
     * grow between a write that would block and its retry
     */

    SSL_CTX_set_mode(t->ssl->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                                  |SSL_MODE_ENABLE_PARTIAL_WRITE);

    /* sessions are kept per connection and offered again on reconnect */

    if (ngx_ssl_client_session_cache(cf, t->ssl, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (t->tls_cert.len
        && ngx_ssl_certificate(cf, t->ssl, &t->tls_cert, &t->tls_key, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!t->tls_verify) {
        return NGX_OK;
    }

    /* sets the depth and nginx's verify callback, and loads tls_ca= */

    if (ngx_ssl_trusted_certificate(cf, t->ssl, &t->tls_ca,
                                    NGX_HTTP_APIKEY_TLS_DEPTH)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (t->tls_ca.len == 0
        && SSL_CTX_set_default_verify_paths(t->ssl->ctx) != 1)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_default_verify_paths() failed");
        return NGX_ERROR;
    }

    return NGX_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"tls\" in \"apikey_redis\" needs nginx built with "
                       "OpenSSL");
    return NGX_ERROR;

#endif
}


/*
 * A blocking plaintext connection (the master's preload) may go to the
 * address as it is written: not behind TLS, nor with a sentinel to ask,
 * nor to a node of a cluster that may not serve the slot.
 */

ngx_uint_t
ngx_http_apikey_transport_plain(ngx_http_apikey_redis_conf_t *rcf)
{
    return rcf->transport == NULL
           || (!rcf->transport->tls && rcf->transport->sentinels == NULL
               && !rcf->transport->cluster);
}


ngx_uint_t
ngx_http_apikey_transport_cluster(ngx_http_apikey_redis_conf_t *rcf)
{
    return rcf->transport && rcf->transport->cluster;
}


ngx_uint_t
ngx_http_apikey_transport_located(ngx_http_apikey_redis_conf_t *rcf)
{
    return rcf->transport
           && (rcf->transport->sentinels || rcf->transport->cluster
               || rcf->transport->dns_name.len);
}


ngx_int_t
ngx_http_apikey_transport_locate(ngx_http_apikey_redis_conf_t *rcf,
    u_char **host, ngx_int_t *port)
{
    if (rcf->transport->cluster) {
        return ngx_http_apikey_cluster_node(rcf, host, port);
    }

    if (rcf->transport->sentinels) {
        return ngx_http_apikey_sentinel_master(rcf, host, port);
    }

    return ngx_http_apikey_transport_dns(rcf, host, port);
}


void
ngx_http_apikey_transport_failed(ngx_http_apikey_redis_conf_t *rcf,
    u_char *host, ngx_int_t port)
{
    if (rcf->transport->cluster) {
        ngx_http_apikey_cluster_failed(host, port);

    } else if (rcf->transport->sentinels) {
        ngx_http_apikey_sentinel_failed(host, port);

    } else {
        /* the next connect resolves the name again */
        ngx_http_apikey_dns.fresh = 0;
    }
}


/*
 * The address of a host name, resolved without blocking by nginx's
 * "resolver" of the http block: NGX_AGAIN while the answer is awaited.
 * Without a resolver, or when the name cannot be resolved, the address
 * found when the configuration was read is used.
 */

static ngx_int_t
ngx_http_apikey_transport_dns(ngx_http_apikey_redis_conf_t *rcf,
    u_char **host, ngx_int_t *port)
{
    ngx_resolver_ctx_t        *ctx;
    ngx_http_conf_ctx_t       *hctx;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_apikey_dns_t     *st;

    st = &ngx_http_apikey_dns;

    *port = rcf->port;

    if (st->fresh) {
        *host = st->host;
        return NGX_OK;
    }

    if (st->resolving) {
        return NGX_AGAIN;
    }

    st->rcf = rcf;

    hctx = (ngx_http_conf_ctx_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                                ngx_http_module);
    clcf = hctx->loc_conf[ngx_http_core_module.ctx_index];

    ctx = clcf->resolver ? ngx_resolve_start(clcf->resolver, NULL) : NULL;

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        *host = rcf->host.data;
        return NGX_OK;
    }

    ctx->name = rcf->transport->dns_name;
    ctx->handler = ngx_http_apikey_transport_resolved;
    ctx->data = st;
    ctx->timeout = clcf->resolver_timeout;

    st->resolving = 1;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        st->resolving = 0;
        *host = rcf->host.data;
        return NGX_OK;
    }

    if (st->fresh) {    /* answered from nginx's cache */
        *host = st->host;
        return NGX_OK;
    }

    return NGX_AGAIN;
}


static void
ngx_http_apikey_transport_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_apikey_dns_t *st = ctx->data;

    u_char  *p, text[NGX_SOCKADDR_STRLEN];
    size_t   len;

    st->resolving = 0;
    st->fresh = 1;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apikey: redis host \"%V\" could not be resolved "
                      "(%i: %s), using %V", &ctx->name, ctx->state,
                      ngx_resolver_strerror(ctx->state), &st->rcf->host);

        ngx_cpystrn(st->host, st->rcf->host.data,
                    NGX_HTTP_APIKEY_ADDRESS_LEN);

    } else {
        len = ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen,
                            text, NGX_SOCKADDR_STRLEN, 0);
        p = text;

        if (len > 2 && text[0] == '[') {
            p++;
            len -= 2;
        }

        len = ngx_min(len, NGX_HTTP_APIKEY_ADDRESS_LEN - 1);
        ngx_memcpy(st->host, p, len);
        st->host[len] = '\0';

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "apikey: redis host \"%V\" is %s", &ctx->name,
                       st->host);
    }

    ngx_resolve_name_done(ctx);
}


ngx_uint_t
ngx_http_apikey_transport_sentinel(ngx_http_apikey_redis_conf_t *rcf)
{
    return rcf->transport && rcf->transport->sentinels;
}


void
ngx_http_apikey_transport_ready(ngx_http_apikey_redis_conf_t *rcf,
    u_char *host, ngx_int_t port)
{
    u_char                       *p, *last;
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_apikey_module);

    if (amcf == NULL || amcf->redis != rcf || amcf->shm_zone == NULL
        || rcf->unix_path.len)
    {
        return;
    }

    zone = amcf->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    p = zone->sh->redis_address;
    last = p + NGX_HTTP_APIKEY_ADDRESS_LEN - 1;

    p = ngx_strlchr(host, host + ngx_strlen(host), ':')
        ? ngx_slprintf(p, last, "[%s]:%i", host, port)
        : ngx_slprintf(p, last, "%s:%i", host, port);
    *p = '\0';

    ngx_shmtx_unlock(&zone->shpool->mutex);
}
