
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: Redis Cluster, for the process that talks to
 * Redis (the syncing worker).
 *
 * The prefix carries a hash tag, so every key of the schema, and the
 * events channel, are in one slot: one node serves everything, and the
 * sync talks to that node only, as to a single Redis.  Which node that is
 * comes from CLUSTER NODES, asked on every connection before it is ready:
 * a node that does not own the slot names the one that does, and the
 * connection goes there instead.
 *
 * A MOVED or ASK reply on a ready connection is not handed to the command's
 * callback: the adapter closes the connection (see ngx_http_apikey_redis.c)
 * and the owner reconnects, to the node MOVED named.  An ASK means the slot
 * is being migrated: a connection waits, asking CLUSTER NODES again, until
 * the migration is over, and the sync then reloads from the new owner.
 * While a migration runs, a SCAN of the old owner would miss the keys
 * already moved, and a load built from it would delete them; retrying the
 * one command elsewhere would break the order of the replies that the sync
 * relies on.  The mirror keeps deciding meanwhile.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_transport.h"


#define NGX_HTTP_APIKEY_CLUSTER_NODES  16


typedef struct {
    u_char                        host[NGX_HTTP_APIKEY_ADDRESS_LEN];
    ngx_int_t                     port;
} ngx_http_apikey_cluster_node_t;


typedef struct {
    ngx_http_apikey_cluster_node_t  nodes[NGX_HTTP_APIKEY_CLUSTER_NODES];
    ngx_uint_t                      nnodes;
    ngx_uint_t                      current;
    unsigned                        started:1;
} ngx_http_apikey_cluster_t;


static ngx_int_t ngx_http_apikey_cluster_add(ngx_http_apikey_cluster_t *cl,
    u_char *host, size_t host_len, ngx_int_t port);
static ngx_uint_t ngx_http_apikey_cluster_owns(u_char *p, u_char *last,
    ngx_uint_t slot, ngx_uint_t *migrating);
static ngx_int_t ngx_http_apikey_cluster_address(u_char *p, u_char *last,
    u_char **host, size_t *host_len, ngx_int_t *port);


static ngx_http_apikey_cluster_t  ngx_http_apikey_cluster;


/* the slot of a key, as Redis Cluster computes it: CRC16 (XMODEM) */

ngx_uint_t
ngx_http_apikey_cluster_slot(u_char *key, size_t len)
{
    size_t      i, s, e;
    uint16_t    crc;
    ngx_uint_t  b;

    for (s = 0; s < len && key[s] != '{'; s++) { /* void */ }

    if (s < len) {
        for (e = s + 1; e < len && key[e] != '}'; e++) { /* void */ }

        if (e < len && e > s + 1) {
            key += s + 1;
            len = e - s - 1;
        }
    }

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) key[i] << 8;

        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc & 16383;
}


ngx_int_t
ngx_http_apikey_cluster_node(ngx_http_apikey_redis_conf_t *rcf,
    u_char **host, ngx_int_t *port)
{
    ngx_http_apikey_cluster_t  *cl;

    cl = &ngx_http_apikey_cluster;

    if (!cl->started) {
        cl->started = 1;
        (void) ngx_http_apikey_cluster_add(cl, rcf->host.data, rcf->host.len,
                                           rcf->port);
    }

    *host = cl->nodes[cl->current].host;
    *port = cl->nodes[cl->current].port;

    return NGX_OK;
}


/* a node that did not answer: the next one known is tried */

void
ngx_http_apikey_cluster_failed(u_char *host, ngx_int_t port)
{
    ngx_http_apikey_cluster_t       *cl;
    ngx_http_apikey_cluster_node_t  *n;

    cl = &ngx_http_apikey_cluster;

    if (cl->nnodes == 0) {
        return;
    }

    n = &cl->nodes[cl->current];

    if (n->port == port && ngx_strcmp(n->host, host) == 0) {
        cl->current = (cl->current + 1) % cl->nnodes;
    }
}


/* MOVED (or CLUSTER NODES) named the owner of the slot */

void
ngx_http_apikey_cluster_moved(u_char *host, size_t host_len, ngx_int_t port)
{
    ngx_int_t                   i;
    ngx_http_apikey_cluster_t  *cl;

    cl = &ngx_http_apikey_cluster;

    i = ngx_http_apikey_cluster_add(cl, host, host_len, port);

    if (i != NGX_ERROR) {
        cl->current = i;
    }
}


/*
 * "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>", an error
 * reply: NGX_OK with the reason in err when it is one of them.
 */

ngx_int_t
ngx_http_apikey_cluster_redirect(u_char *p, size_t len, u_char *err,
    size_t errlen)
{
    u_char     *last, *addr, *host;
    size_t      host_len;
    ngx_int_t   port;
    ngx_uint_t  moved;

    last = p + len;

    if (len > 6 && ngx_strncmp(p, "MOVED ", 6) == 0) {
        moved = 1;

    } else if (len > 4 && ngx_strncmp(p, "ASK ", 4) == 0) {
        moved = 0;

    } else {
        return NGX_DECLINED;
    }

    addr = ngx_strlchr(p + 4, last, ' ');

    if (addr == NULL
        || ngx_http_apikey_cluster_address(addr + 1, last, &host, &host_len,
                                           &port)
           != NGX_OK)
    {
        *ngx_slprintf(err, err + errlen - 1, "bad redirection") = '\0';
        return NGX_OK;
    }

    if (moved) {
        ngx_http_apikey_cluster_moved(host, host_len, port);
    }

    *ngx_slprintf(err, err + errlen - 1, "%s %*s",
                  moved ? "slot moved:" : "slot being migrated:",
                  (size_t) ngx_min(len, 64), p) = '\0';

    return NGX_OK;
}


/*
 * The CLUSTER NODES reply of a node just connected to: NGX_OK when it
 * owns the slot and no migration of it is under way; otherwise
 * NGX_DECLINED, err says why, and the owner, when another node is, is the
 * next to try.  Every node listed is remembered, for when this one fails.
 */

ngx_int_t
ngx_http_apikey_cluster_check(ngx_http_apikey_redis_conf_t *rcf, u_char *p,
    size_t len, u_char *err, size_t errlen)
{
    u_char                     *last, *eol, *host, *owner;
    size_t                      host_len, owner_len;
    ngx_int_t                   port, owner_port;
    ngx_uint_t                  slot, migrating, mine, myself;
    ngx_http_apikey_cluster_t  *cl;

    cl = &ngx_http_apikey_cluster;

    slot = ngx_http_apikey_cluster_slot(rcf->prefix.data, rcf->prefix.len);
    last = p + len;

    mine = 0;
    migrating = 0;
    owner = NULL;
    owner_len = 0;
    owner_port = 0;

    for ( /* void */ ; p < last; p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        /* "<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch>
         *  <link> <slot>..." */

        p = ngx_strlchr(p, eol, ' ');
        if (p == NULL
            || ngx_http_apikey_cluster_address(p + 1, eol, &host, &host_len,
                                               &port)
               != NGX_OK)
        {
            continue;
        }

        (void) ngx_http_apikey_cluster_add(cl, host, host_len, port);

        p = ngx_strlchr(p + 1, eol, ' ');
        if (p == NULL) {
            continue;
        }

        myself = (ngx_strlcasestrn(p + 1, eol, (u_char *) "myself", 6 - 1)
                  != NULL);

        if (!ngx_http_apikey_cluster_owns(p, eol, slot,
                                          myself ? &migrating : NULL))
        {
            continue;
        }

        if (myself) {
            mine = 1;

        } else {
            owner = host;
            owner_len = host_len;
            owner_port = port;
        }
    }

    if (mine && !migrating) {
        return NGX_OK;
    }

    if (mine) {
        *ngx_slprintf(err, err + errlen - 1, "slot %ui is being migrated",
                      slot) = '\0';
        return NGX_DECLINED;
    }

    if (owner) {
        ngx_http_apikey_cluster_moved(owner, owner_len, owner_port);

        *ngx_slprintf(err, err + errlen - 1, "slot %ui is served by %*s:%i",
                      slot, owner_len, owner, owner_port) = '\0';
        return NGX_DECLINED;
    }

    *ngx_slprintf(err, err + errlen - 1, "slot %ui is not served", slot)
        = '\0';

    return NGX_DECLINED;
}


/*
 * Whether the slots of a CLUSTER NODES line ("0-5460 5462 [5461->-id]")
 * hold the slot; "migrating" is set when a migration of it starts here.
 */

static ngx_uint_t
ngx_http_apikey_cluster_owns(u_char *p, u_char *last, ngx_uint_t slot,
    ngx_uint_t *migrating)
{
    u_char     *f, *dash;
    ngx_int_t   lo, hi;
    ngx_uint_t  n, owns;

    owns = 0;

    for (n = 0; p < last; n++) {
        while (p < last && *p == ' ') {
            p++;
        }

        f = p;

        while (p < last && *p != ' ' && *p != '\r') {
            p++;
        }

        if (n < 6 || p == f) {
            continue;   /* flags, master, ping, pong, epoch, link */
        }

        if (*f == '[') {
            dash = ngx_strlchr(f, p, '-');

            if (migrating && dash && dash + 1 < p && dash[1] == '>'
                && ngx_atoi(f + 1, dash - f - 1) == (ngx_int_t) slot)
            {
                *migrating = 1;
            }

            continue;
        }

        dash = ngx_strlchr(f, p, '-');

        lo = ngx_atoi(f, (dash ? dash : p) - f);
        hi = dash ? ngx_atoi(dash + 1, p - dash - 1) : lo;

        if (lo != NGX_ERROR && hi != NGX_ERROR
            && (ngx_int_t) slot >= lo && (ngx_int_t) slot <= hi)
        {
            owns = 1;
        }
    }

    return owns;
}


/* "host:port" or "host:port@cport[,hostname]", up to a space or the end */

static ngx_int_t
ngx_http_apikey_cluster_address(u_char *p, u_char *last, u_char **host,
    size_t *host_len, ngx_int_t *port)
{
    u_char  *end, *colon;

    for (end = p; end < last && *end != ' ' && *end != '@' && *end != '\r';
         end++)
    {
        /* void */
    }

    colon = NULL;

    for (last = p; last < end; last++) {
        if (*last == ':') {
            colon = last;
        }
    }

    if (colon == NULL || colon == p) {
        return NGX_ERROR;
    }

    *port = ngx_atoi(colon + 1, end - colon - 1);

    if (*port < 1 || *port > 65535) {
        return NGX_ERROR;
    }

    *host = p;
    *host_len = colon - p;

    if (*host_len > 2 && p[0] == '[') {
        (*host)++;
        *host_len -= 2;
    }

    return NGX_OK;
}


/* only address literals: a host name would need a blocking resolution */

static ngx_int_t
ngx_http_apikey_cluster_add(ngx_http_apikey_cluster_t *cl, u_char *host,
    size_t host_len, ngx_int_t port)
{
    ngx_uint_t                       i;
#if (NGX_HAVE_INET6)
    struct in6_addr                  in6;
#endif
    ngx_http_apikey_cluster_node_t  *n;

    if (host_len == 0 || host_len >= NGX_HTTP_APIKEY_ADDRESS_LEN) {
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

    for (i = 0; i < cl->nnodes; i++) {
        n = &cl->nodes[i];

        if (n->port == port && ngx_strlen(n->host) == host_len
            && ngx_strncmp(n->host, host, host_len) == 0)
        {
            return i;
        }
    }

    if (cl->nnodes == NGX_HTTP_APIKEY_CLUSTER_NODES) {
        return NGX_ERROR;
    }

    n = &cl->nodes[cl->nnodes];

    ngx_cpystrn(n->host, host, host_len + 1);
    n->port = port;

    return cl->nnodes++;
}
