
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: how the module reaches Redis beyond a plain TCP
 * or unix socket: TLS through nginx's own OpenSSL, the master of a Redis
 * Sentinel group, the node of a Redis Cluster that serves the schema.
 * The options of the "apikey_redis" directive that choose it, and what
 * they build at configuration time, are owned by
 * ngx_http_apikey_transport.c; the adapter (ngx_http_apikey_redis.c,
 * and ngx_http_apikey_redis_tls.c for TLS) reads them when it connects.
 */


#ifndef _NGX_HTTP_APIKEY_TRANSPORT_H_INCLUDED_
#define _NGX_HTTP_APIKEY_TRANSPORT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"


struct ngx_http_apikey_transport_s {
    ngx_flag_t                  tls;
    ngx_flag_t                  tls_verify;     /* NGX_CONF_UNSET: on */
    ngx_str_t                   tls_ca;
    ngx_str_t                   tls_cert;
    ngx_str_t                   tls_key;
    ngx_str_t                   tls_server_name;    /* else the host */

    /* what SNI sends and the certificate must match, null-terminated */
    ngx_str_t                   tls_name;
    ngx_uint_t                  tls_name_is_ip;

#if (NGX_SSL)
    ngx_ssl_t                  *ssl;
#endif

    ngx_uint_t                  warned;     /* tls_verify=off, per process */

    /* sentinel=: of ngx_http_apikey_redis_conf_t, plain, numeric */
    ngx_array_t                *sentinels;
    ngx_str_t                   master;

    ngx_flag_t                  cluster;

    /* the host name of the address, re-resolved on reconnect */
    ngx_str_t                   dns_name;
};


/*
 * ngx_http_apikey_transport_arg() takes one parameter of "apikey_redis":
 * NGX_OK when it was one of the transport's, NGX_DECLINED when it is not,
 * NGX_ERROR when it was and is wrong (already logged).
 * ngx_http_apikey_transport_check() runs once all parameters are read.
 */

ngx_int_t ngx_http_apikey_transport_arg(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf, ngx_str_t *arg);
ngx_int_t ngx_http_apikey_transport_check(ngx_conf_t *cf,
    ngx_http_apikey_redis_conf_t *rcf);

/* whether a blocking plaintext hiredis connection may reach this Redis */
ngx_uint_t ngx_http_apikey_transport_plain(ngx_http_apikey_redis_conf_t *rcf);
ngx_uint_t ngx_http_apikey_transport_sentinel(
    ngx_http_apikey_redis_conf_t *rcf);
ngx_uint_t ngx_http_apikey_transport_cluster(
    ngx_http_apikey_redis_conf_t *rcf);

/*
 * With sentinel= or cluster the address to connect to is found at run
 * time: ngx_http_apikey_transport_locate() gives it (NGX_OK) or not yet
 * (NGX_AGAIN), ngx_http_apikey_transport_failed() says it did not work.
 */

ngx_uint_t ngx_http_apikey_transport_located(
    ngx_http_apikey_redis_conf_t *rcf);
ngx_int_t ngx_http_apikey_transport_locate(ngx_http_apikey_redis_conf_t *rcf,
    u_char **host, ngx_int_t *port);
void ngx_http_apikey_transport_failed(ngx_http_apikey_redis_conf_t *rcf,
    u_char *host, ngx_int_t port);

/* a connection of the sync is ready at host:port: the status shows it */
void ngx_http_apikey_transport_ready(ngx_http_apikey_redis_conf_t *rcf,
    u_char *host, ngx_int_t port);

/*
 * ngx_http_apikey_sentinel.c: the master's address, as the sentinels say
 * (NGX_OK), or not known yet (NGX_AGAIN: they are being asked, ask again
 * later); ngx_http_apikey_sentinel_failed() says the address did not
 * work, so that the sentinels are asked again.
 */

ngx_int_t ngx_http_apikey_sentinel_master(ngx_http_apikey_redis_conf_t *rcf,
    u_char **host, ngx_int_t *port);
void ngx_http_apikey_sentinel_failed(u_char *host, ngx_int_t port);

/* ngx_http_apikey_cluster.c */
ngx_uint_t ngx_http_apikey_cluster_slot(u_char *key, size_t len);
ngx_int_t ngx_http_apikey_cluster_node(ngx_http_apikey_redis_conf_t *rcf,
    u_char **host, ngx_int_t *port);
void ngx_http_apikey_cluster_failed(u_char *host, ngx_int_t port);
void ngx_http_apikey_cluster_moved(u_char *host, size_t host_len,
    ngx_int_t port);
ngx_int_t ngx_http_apikey_cluster_redirect(u_char *p, size_t len, u_char *err,
    size_t errlen);
ngx_int_t ngx_http_apikey_cluster_check(ngx_http_apikey_redis_conf_t *rcf,
    u_char *p, size_t len, u_char *err, size_t errlen);


#endif /* _NGX_HTTP_APIKEY_TRANSPORT_H_INCLUDED_ */
