
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl's way to Redis beyond plain TCP, as the module's
 * "apikey_redis" options: TLS with OpenSSL (hiredis 0.14 has none), the
 * master of a Sentinel group, the node of a Cluster that serves the
 * schema's slot.
 *
 * Behind TLS, hiredis talks to one end of a socket pair and a thread
 * carries the bytes between the other end and the TLS connection, so the
 * rest of apikeyctl uses hiredis as it does without TLS.
 */


#include "apikeyctl.h"

#include <netdb.h>
#include <poll.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>


typedef struct {
    SSL     *ssl;
    int      tcp;
    int      local;
} actl_tls_pipe_t;


static int actl_tcp_connect(const char *host, int port);
static void *actl_tls_pump(void *data);
static int actl_write_all(int fd, const char *p, size_t n);
static int actl_tls_write(SSL *ssl, const char *p, int n);


redisContext *
actl_transport_connect(actl_conf_t *cf, const char *host, int port)
{
    int               tcp, sv[2];
    long              v;
    SSL              *ssl;
    SSL_CTX          *ctx;
    pthread_t         tid;
    const char       *name;
    unsigned char     addr[16];
    struct timeval    tv;
    actl_tls_pipe_t  *pipe;

    if (!cf->tls) {
        tv.tv_sec = 2;
        tv.tv_usec = 0;
        return redisConnectWithTimeout(host, port, tv);
    }

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        goto ssl_failed;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

    /*
     * a read that finds only a session ticket must come back to the
     * pump's poll(), not wait for data that will follow a command still
     * waiting in the socket pair
     */

    SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    if ((cf->tls_ca ? SSL_CTX_load_verify_locations(ctx, cf->tls_ca, NULL)
                    : SSL_CTX_set_default_verify_paths(ctx))
        != 1)
    {
        actl_error(ACTL_EREDIS, "cannot load the CA %s",
                   cf->tls_ca ? cf->tls_ca : "store");
        goto ssl_failed;
    }

    if (cf->tls_cert
        && (SSL_CTX_use_certificate_chain_file(ctx, cf->tls_cert) != 1
            || SSL_CTX_use_PrivateKey_file(ctx, cf->tls_key, SSL_FILETYPE_PEM)
               != 1))
    {
        actl_error(ACTL_EREDIS, "cannot load %s and %s", cf->tls_cert,
                   cf->tls_key);
        goto ssl_failed;
    }

    tcp = actl_tcp_connect(host, port);
    if (tcp == -1) {
        SSL_CTX_free(ctx);
        return NULL;
    }

    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, tcp) != 1) {
        goto ssl_failed;
    }

    name = cf->tls_name ? cf->tls_name : host;

    if (inet_pton(AF_INET, name, addr) == 1
        || inet_pton(AF_INET6, name, addr) == 1)
    {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);

    } else {
        SSL_set_tlsext_host_name(ssl, name);
        SSL_set1_host(ssl, name);
    }

    if (SSL_connect(ssl) != 1) {
        v = SSL_get_verify_result(ssl);

        actl_error(ACTL_EREDIS, "TLS handshake with %s:%d failed: %s", host,
                   port, v != X509_V_OK ? X509_verify_cert_error_string(v)
                                        : ERR_reason_error_string(
                                              ERR_get_error()));
        close(tcp);
        return NULL;
    }

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
        close(tcp);
        return NULL;
    }

    pipe = malloc(sizeof(actl_tls_pipe_t));
    if (pipe == NULL) {
        close(tcp);
        return NULL;
    }

    pipe->ssl = ssl;
    pipe->tcp = tcp;
    pipe->local = sv[1];

    if (pthread_create(&tid, NULL, actl_tls_pump, pipe) != 0) {
        close(tcp);
        return NULL;
    }

    pthread_detach(tid);

    return redisConnectFd(sv[0]);

ssl_failed:

    actl_error(ACTL_EREDIS, "TLS to %s:%d: %s", host, port,
               ERR_reason_error_string(ERR_get_error()));

    return NULL;
}


static int
actl_tcp_connect(const char *host, int port)
{
    int               fd;
    char              service[16];
    struct timeval    tv;
    struct addrinfo   hints, *res, *ai;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    snprintf(service, sizeof(service), "%d", port);

    if (getaddrinfo(host, service, &hints, &res) != 0) {
        actl_error(ACTL_EREDIS, "cannot resolve %s", host);
        return -1;
    }

    tv.tv_sec = 5;
    tv.tv_usec = 0;

    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            continue;
        }

        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            freeaddrinfo(res);
            return fd;
        }

        close(fd);
    }

    freeaddrinfo(res);

    actl_error(ACTL_EREDIS, "cannot connect to Redis at %s:%d: %s", host,
               port, strerror(errno));

    return -1;
}


/* carries bytes both ways until either side closes */

static void *
actl_tls_pump(void *data)
{
    actl_tls_pipe_t *p = data;

    int            n;
    char           buf[16384];
    struct pollfd  pfd[2];

    for ( ;; ) {
        if (SSL_pending(p->ssl) == 0) {
            pfd[0].fd = p->tcp;
            pfd[0].events = POLLIN;
            pfd[1].fd = p->local;
            pfd[1].events = POLLIN;

            if (poll(pfd, 2, -1) == -1) {
                if (errno == EINTR) {
                    continue;
                }

                break;
            }

            if (pfd[1].revents) {
                n = read(p->local, buf, sizeof(buf));

                if (n <= 0 || actl_tls_write(p->ssl, buf, n) != 0) {
                    break;
                }
            }

            if (pfd[0].revents == 0) {
                continue;
            }
        }

        n = SSL_read(p->ssl, buf, sizeof(buf));

        if (n <= 0) {
            n = SSL_get_error(p->ssl, n);

            if (n == SSL_ERROR_WANT_READ || n == SSL_ERROR_WANT_WRITE) {
                continue;   /* no data in what was read */
            }

            break;
        }

        if (actl_write_all(p->local, buf, n) != 0) {
            break;
        }
    }

    shutdown(p->local, SHUT_RDWR);
    close(p->tcp);

    return NULL;
}


static int
actl_tls_write(SSL *ssl, const char *p, int n)
{
    int  r, e;

    while ((r = SSL_write(ssl, p, n)) <= 0) {
        e = SSL_get_error(ssl, r);

        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            return -1;
        }
    }

    return 0;
}


static int
actl_write_all(int fd, const char *p, size_t n)
{
    ssize_t  w;

    while (n) {
        w = write(fd, p, n);

        if (w <= 0) {
            if (w == -1 && errno == EINTR) {
                continue;
            }

            return -1;
        }

        p += w;
        n -= (size_t) w;
    }

    return 0;
}


/* asks the sentinels, in order, where the master is */

int
actl_sentinel_master(actl_conf_t *cf, char *host, size_t size,
    long long *port)
{
    char            one[256];
    size_t          len;
    redisReply     *r;
    const char     *p, *comma, *colon;
    long long       sport;
    redisContext   *c;
    struct timeval  tv;

    tv.tv_sec = 1;
    tv.tv_usec = 0;

    for (p = cf->sentinel; *p; p = comma + (*comma != '\0')) {
        comma = strchr(p, ',');
        if (comma == NULL) {
            comma = p + strlen(p);
        }

        len = (size_t) (comma - p);

        if (len == 0 || len >= sizeof(one)) {
            continue;
        }

        memcpy(one, p, len);
        one[len] = '\0';

        colon = strrchr(one, ':');
        sport = 26379;

        if (colon) {
            if (actl_parse_long(colon + 1, 65535, &sport) != ACTL_OK) {
                return actl_error(ACTL_EUSAGE, "invalid --sentinel \"%s\"",
                                  one);
            }

            one[colon - one] = '\0';
        }

        c = redisConnectWithTimeout(one, (int) sport, tv);

        if (c == NULL || c->err) {
            if (c) {
                redisFree(c);
            }

            continue;
        }

        redisSetTimeout(c, tv);

        r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
                         cf->master);

        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
            && r->element[0]->type == REDIS_REPLY_STRING
            && r->element[0]->len < size
            && actl_parse_long(r->element[1]->str, 65535, port) == ACTL_OK)
        {
            memcpy(host, r->element[0]->str, r->element[0]->len + 1);
            freeReplyObject(r);
            redisFree(c);
            return ACTL_OK;
        }

        if (r) {
            freeReplyObject(r);
        }

        redisFree(c);
    }

    return actl_error(ACTL_EREDIS, "no sentinel in \"%s\" knows the master "
                      "\"%s\"", cf->sentinel, cf->master);
}


int
actl_check_role(actl_conf_t *cf)
{
    int          rc;
    redisReply  *r;

    rc = actl_redisv(cf, &r, "ROLE", NULL);
    if (rc != ACTL_OK) {
        return rc;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0
        || r->element[0]->type != REDIS_REPLY_STRING
        || strcmp(r->element[0]->str, "master") != 0)
    {
        freeReplyObject(r);
        return actl_error(ACTL_EREDIS, "the Redis the sentinels named is not "
                          "the master (a failover under way?)");
    }

    freeReplyObject(r);

    return ACTL_OK;
}


/*
 * The node that serves the slot of the prefix: ACTL_OK when it is this
 * one, ACTL_AGAIN with its address when it is another.
 */

int
actl_cluster_owner(actl_conf_t *cf, char *host, size_t size,
    long long *port)
{
    int          rc;
    size_t       i;
    long long    slot;
    redisReply  *r, *range, *node;

    rc = actl_redisv(cf, &r, "CLUSTER", "KEYSLOT", cf->prefix, NULL);
    if (rc != ACTL_OK) {
        return rc;
    }

    slot = r->integer;
    freeReplyObject(r);

    rc = actl_redisv(cf, &r, "CLUSTER", "SLOTS", NULL);
    if (rc != ACTL_OK) {
        return rc;
    }

    for (i = 0; i < r->elements; i++) {
        range = r->element[i];

        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
            || slot < range->element[0]->integer
            || slot > range->element[1]->integer)
        {
            continue;
        }

        node = range->element[2];

        if (node->type != REDIS_REPLY_ARRAY || node->elements < 2
            || node->element[0]->type != REDIS_REPLY_STRING
            || node->element[0]->len >= size)
        {
            break;
        }

        if (strcmp(node->element[0]->str, host) == 0
            && node->element[1]->integer == *port)
        {
            freeReplyObject(r);
            return ACTL_OK;
        }

        memcpy(host, node->element[0]->str, node->element[0]->len + 1);
        *port = node->element[1]->integer;

        freeReplyObject(r);
        return ACTL_AGAIN;
    }

    freeReplyObject(r);

    return actl_error(ACTL_EREDIS, "no node serves slot %lld", slot);
}
