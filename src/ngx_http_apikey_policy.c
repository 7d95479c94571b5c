
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The access-phase decision of docs/decision.md, in its order: key present,
 * syntax, mirror loaded, known/active/unexpired, client address, hourly
 * limit, permission.  The record is read under the zone's lock and only
 * what the variables need is copied out.
 *
 * Where it runs: the access phase for client requests (cooperating with
 * "satisfy any"), the start of the precontent phase for subrequests, once
 * per client request across internal redirects (docs/decision.md).
 *
 * Under apikey_dry_run the decision is made, counted and logged as usual,
 * but a refusal is not sent: the module then has no say in the request,
 * as limit_req_dry_run has none.
 */


#include "ngx_http_apikey.h"


static ngx_int_t ngx_http_apikey_run(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx);
static ngx_int_t ngx_http_apikey_strip(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx);
static void ngx_http_apikey_ctx_marker(void *data);
static ngx_http_apikey_decision_e ngx_http_apikey_decide(
    ngx_http_request_t *r, ngx_http_apikey_loc_conf_t *alcf,
    ngx_http_apikey_ctx_t *ctx);
static ngx_int_t ngx_http_apikey_copy_identity(ngx_http_request_t *r,
    ngx_http_apikey_record_t *rec, ngx_http_apikey_ctx_t *ctx);
static ngx_uint_t ngx_http_apikey_cidr_match(ngx_http_apikey_cidr_t *cidr,
    u_char *addr, ngx_uint_t family);


ngx_int_t
ngx_http_apikey_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_apikey_ctx_t       *ctx;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_apikey_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apikey_module);

    if (!alcf->enable) {

        /* what nginx itself answers where we did not take the header over */

        ctx = ngx_http_get_module_ctx(r, ngx_http_apikey_module);

        if (ctx && ctx->duplicate_authorization) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "client sent duplicate header line: "
                          "\"Authorization\"");
            return NGX_HTTP_BAD_REQUEST;
        }

        return NGX_DECLINED;
    }

    ctx = ngx_http_apikey_get_ctx(r);

    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->deferred = 0;

    rc = ngx_http_apikey_run(r, alcf, ctx);

    if (rc == NGX_AGAIN) {
        /* a cluster quota's grant is on its way: decide again then */
        return ngx_http_apikey_quota_wait(r, ctx);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->decision == NGX_HTTP_APIKEY_OK) {
        return NGX_OK;
    }

    /*
     * satisfy any: as auth_basic, a refusal only says "not by us", and
     * another access module may still allow the request; our answer is
     * sent by ngx_http_apikey_deferred_handler() if none does.  In a dry
     * run the module says nothing: the other modules decide, as they
     * would without it.
     */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        ctx->deferred = 1;

        if (ctx->dry_run) {
            return NGX_DECLINED;
        }

        return (ctx->decision <= NGX_HTTP_APIKEY_EXPIRED)
               ? NGX_HTTP_UNAUTHORIZED : NGX_HTTP_FORBIDDEN;
    }

    if (ctx->dry_run) {
        ngx_http_apikey_log_refusal(r, alcf, ctx);
        return NGX_DECLINED;
    }

    return ngx_http_apikey_send_error(r, alcf, ctx);
}


/*
 * The last handler of the access phase, added only where some location
 * with the module on has "satisfy any": reached when no access module
 * allowed the request, it sends the refusal the module decided.  In a dry
 * run it only logs it, and another module's refusal, if any, stands.
 */

ngx_int_t
ngx_http_apikey_deferred_handler(ngx_http_request_t *r)
{
    ngx_http_apikey_ctx_t       *ctx;
    ngx_http_apikey_loc_conf_t  *alcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apikey_module);

    if (ctx == NULL || !ctx->deferred) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apikey_module);

    if (ctx->dry_run) {
        ctx->deferred = 0;
        ngx_http_apikey_log_refusal(r, alcf, ctx);
        return NGX_DECLINED;
    }

    if (r->access_code == 0) {
        return NGX_DECLINED;
    }

    ctx->deferred = 0;
    r->access_code = 0;

    return ngx_http_apikey_send_error(r, alcf, ctx);
}


/*
 * Subrequests (auth_request, SSI, mirror) skip the access phase: they are
 * decided here, at the start of the precontent phase, with the client
 * request's key headers and method, in the client request's context.  A
 * subrequest never counts twice, and its outcome changes the client
 * request's decision only when that one had none.
 */

ngx_int_t
ngx_http_apikey_subrequest_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_apikey_ctx_t       *ctx, *mctx;
    ngx_http_apikey_loc_conf_t  *alcf;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apikey_module);

    if (!alcf->enable) {
        return NGX_DECLINED;
    }

    mctx = ngx_http_apikey_get_ctx(r->main);

    if (mctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!mctx->scanned
        && ngx_http_apikey_scan_headers(r, alcf, mctx) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!mctx->decided) {
        ctx = mctx;

    } else {
        ctx = ngx_palloc(r->pool, sizeof(ngx_http_apikey_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ctx = *mctx;
    }

    rc = ngx_http_apikey_run(r, alcf, ctx);

    if (rc == NGX_AGAIN) {
        /* the precontent phase waits as the access phase does */
        return ngx_http_apikey_quota_wait(r, ctx);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mctx->counted |= ctx->counted;
    mctx->removed |= ctx->removed;

    if (ctx->decision == NGX_HTTP_APIKEY_OK) {
        return NGX_DECLINED;
    }

    if (ctx->dry_run) {
        ngx_http_apikey_log_refusal(r, alcf, ctx);
        return NGX_DECLINED;
    }

    return ngx_http_apikey_send_error(r, alcf, ctx);
}


/*
 * Decides (or decides again, after an internal redirect), counts the
 * decision in the status once per client request, and removes the key
 * headers whatever the outcome.  A refusal that a dry run lets through
 * counts apart from the refusals sent.
 */

static ngx_int_t
ngx_http_apikey_run(ngx_http_request_t *r, ngx_http_apikey_loc_conf_t *alcf,
    ngx_http_apikey_ctx_t *ctx)
{
    ngx_uint_t                    dry;
    ngx_atomic_t                 *counts, *last;
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_decision_e    decision;
    ngx_http_apikey_main_conf_t  *amcf;

    ctx->dry_run = alcf->dry_run ? 1 : 0;

    decision = ngx_http_apikey_decide(r, alcf, ctx);

    if (decision == NGX_HTTP_APIKEY_NDECISIONS) {
        return NGX_ERROR;
    }

    if (ctx->wait) {
        /* undecided yet, and so neither counted nor stripped */
        return NGX_AGAIN;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apikey_module);
    zone = amcf->shm_zone->data;

    dry = (ctx->dry_run && decision != NGX_HTTP_APIKEY_OK);
    counts = dry ? zone->sh->dry_run : zone->sh->decisions;

    if (!ctx->decided) {
        ctx->decided = 1;
        (void) ngx_atomic_fetch_add(&counts[decision], 1);

    } else if ((ctx->decision != decision || ctx->dry_counted != dry)
               && r == r->main)
    {
        /* a redirect changed the outcome: the request counts as its last */

        last = ctx->dry_counted ? zone->sh->dry_run : zone->sh->decisions;

        (void) ngx_atomic_fetch_add(&last[ctx->decision],
                                    (ngx_atomic_int_t) -1);
        (void) ngx_atomic_fetch_add(&counts[decision], 1);
    }

    ctx->decision = decision;
    ctx->dry_counted = dry;

    return ngx_http_apikey_strip(r, alcf, ctx);
}


/*
 * The key headers go on every outcome, before the upstream and the log
 * phase see them: from the client request (which a subrequest's headers
 * were copied from, maybe before), and from a subrequest's own copy.
 * Nothing to do, and nothing allocated, when no key header was sent.
 */

static ngx_int_t
ngx_http_apikey_strip(ngx_http_request_t *r, ngx_http_apikey_loc_conf_t *alcf,
    ngx_http_apikey_ctx_t *ctx)
{
    ngx_uint_t  present;

    if (alcf->pass_key) {
        return NGX_OK;
    }

    present = ngx_http_apikey_present(alcf, ctx);

    if (present == 0) {
        return NGX_OK;
    }

    if (present & ~ctx->removed) {
        if (ngx_http_apikey_remove_key_headers(r->main, alcf) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->removed |= present;
    }

    if (r != r->main) {
        return ngx_http_apikey_remove_key_headers(r, alcf);
    }

    return NGX_OK;
}


/*
 * An internal redirect clears the module contexts; like the realip module,
 * we find ours again through a pool cleanup, so that a redirected request
 * is neither counted twice nor loses what its headers said.
 */

ngx_http_apikey_ctx_t *
ngx_http_apikey_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apikey_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_apikey_ctx_marker) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_apikey_module);
                return ctx;
            }
        }
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_apikey_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_apikey_module);
    }

    if (!ctx->marked) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_apikey_ctx_marker;
        cln->data = ctx;
        ctx->marked = 1;
    }

    return ctx;
}


static void
ngx_http_apikey_ctx_marker(void *data)
{
    /* only a marker */
}


ngx_http_apikey_ctx_t *
ngx_http_apikey_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_apikey_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_apikey_module);

    if (ctx) {
        return ctx;
    }

    for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_apikey_ctx_marker) {
            return cln->data;
        }
    }

    return NULL;
}


/* NGX_HTTP_APIKEY_NDECISIONS stands for an internal error */

static ngx_http_apikey_decision_e
ngx_http_apikey_decide(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx)
{
    time_t                        now;
    ngx_str_t                     key, resource;
    ngx_int_t                     rc;
    ngx_uint_t                    method;
    ngx_http_apikey_node_t       *node;
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_record_t     *rec;
    ngx_http_apikey_decision_e    decision;
    ngx_http_apikey_main_conf_t  *amcf;
    u_char                        digest[NGX_HTTP_APIKEY_DIGEST_LEN];

    ctx->syntax_ok = 0;

    decision = ngx_http_apikey_read_key(r, alcf, ctx, &key);

    if (decision != NGX_HTTP_APIKEY_OK) {
        return decision;
    }

    if (ngx_http_apikey_check_syntax(alcf, &key) != NGX_OK) {
        return NGX_HTTP_APIKEY_INVALID;
    }

    ctx->syntax_ok = 1;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apikey_module);
    zone = amcf->shm_zone->data;

    if (!zone->sh->loaded || ngx_http_apikey_too_stale(amcf, zone->sh)) {
        return NGX_HTTP_APIKEY_UNAVAILABLE;
    }

    if (ngx_http_apikey_digest(&amcf->hash_secret, key.data, key.len, digest)
        != NGX_OK)
    {
        return NGX_HTTP_APIKEY_NDECISIONS;
    }

    ngx_str_null(&resource);

    if (alcf->resource
        && ngx_http_complex_value(r, alcf->resource, &resource) != NGX_OK)
    {
        return NGX_HTTP_APIKEY_NDECISIONS;
    }

    /*
     * A subrequest acts for the client's request (auth_request asks "may
     * this request go on"): the client's method is the one checked.  A
     * method override header that names a write makes a read a write.
     */

    method = r->main->method;

    if (ctx->override_write
        && (method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS)))
    {
        method = NGX_HTTP_POST;
    }

    now = ngx_http_apikey_now(r);

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_apikey_lookup_locked(zone, digest,
                                         NGX_HTTP_APIKEY_SCHEME_BLAKE2B);

    if (node == NULL && amcf->legacy) {

        /*
         * apikey_legacy_hash: only a key the module's own digest does not
         * know costs a second digest, computed without the lock
         */

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (ngx_http_apikey_legacy_digest(amcf, key.data, key.len, digest)
            != NGX_OK)
        {
            return NGX_HTTP_APIKEY_NDECISIONS;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        node = ngx_http_apikey_lookup_locked(zone, digest,
                                             NGX_HTTP_APIKEY_SCHEME_SHA256);
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_APIKEY_INVALID;
    }

    rec = &node->record;

    /* a redirect's second pass usually finds the same key again */

    if ((!ctx->identity
         || ctx->id.len != rec->id_len
         || ngx_memcmp(ctx->id.data, ngx_http_apikey_record_id(rec),
                       rec->id_len)
            != 0)
        && ngx_http_apikey_copy_identity(r, rec, ctx) != NGX_OK)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_APIKEY_NDECISIONS;
    }

    /* what ngx_http_apikey_sunset.c tells about the key's end */

    ctx->expires = rec->expires;
    ctx->deprecated = rec->deprecated;

    if (!rec->active) {
        decision = NGX_HTTP_APIKEY_INVALID;

    } else if (rec->expires && (time_t) rec->expires <= now) {
        decision = NGX_HTTP_APIKEY_EXPIRED;

    } else if (rec->nips
               && !ngx_http_apikey_address_allowed(rec,
                                                   r->connection->sockaddr))
    {
        decision = NGX_HTTP_APIKEY_IP;

    } else {
        rc = ngx_http_apikey_count_locked(r, zone, node, alcf, ctx);

        if (rc == NGX_AGAIN) {
            decision = NGX_HTTP_APIKEY_OK;      /* undecided: ctx->wait */

        } else if (rc == NGX_BUSY) {
            decision = NGX_HTTP_APIKEY_LIMITED;

        } else if (!ngx_http_apikey_permitted(rec, method, &resource)) {
            decision = NGX_HTTP_APIKEY_FORBIDDEN;

        } else {
            decision = NGX_HTTP_APIKEY_OK;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (ctx->near_limit) {
        (void) ngx_atomic_fetch_add(&zone->sh->near_limit, 1);

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "apikey: key \"%V\" has used 90%% of its hourly "
                      "limit of %uD", &ctx->id,
                      ctx->limits.n[NGX_HTTP_APIKEY_HOUR]);
    }

    return decision;
}


static ngx_int_t
ngx_http_apikey_copy_identity(ngx_http_request_t *r,
    ngx_http_apikey_record_t *rec, ngx_http_apikey_ctx_t *ctx)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, rec->id_len + rec->owner_len + rec->name_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->id.data = p;
    ctx->id.len = rec->id_len;
    p = ngx_cpymem(p, ngx_http_apikey_record_id(rec), rec->id_len);

    ctx->owner.data = p;
    ctx->owner.len = rec->owner_len;
    p = ngx_cpymem(p, ngx_http_apikey_record_owner(rec), rec->owner_len);

    ctx->name.data = p;
    ctx->name.len = rec->name_len;
    ngx_memcpy(p, ngx_http_apikey_record_name(rec), rec->name_len);

    ctx->access = rec->access;
    ctx->identity = 1;

    return NGX_OK;
}


ngx_uint_t
ngx_http_apikey_address_allowed(ngx_http_apikey_record_t *rec,
    struct sockaddr *sa)
{
    u_char                  *addr;
    ngx_uint_t               i, family;
    ngx_http_apikey_cidr_t   cidr;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6     *sin6;
#endif

    switch (sa->sa_family) {

    case AF_INET:
        family = AF_INET;
        addr = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        addr = sin6->sin6_addr.s6_addr;
        family = AF_INET6;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            addr += 12;
            family = AF_INET;
        }

        break;
#endif

    default:
        /* a unix socket has no address any CIDR can name */
        return 0;
    }

    for (i = 0; i < rec->nips; i++) {

        /* the array in the record image is not aligned */

        ngx_memcpy(&cidr, &ngx_http_apikey_record_ips(rec)[i],
                   sizeof(ngx_http_apikey_cidr_t));

        if (ngx_http_apikey_cidr_match(&cidr, addr, family)) {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_apikey_cidr_match(ngx_http_apikey_cidr_t *cidr, u_char *addr,
    ngx_uint_t family)
{
    ngx_uint_t  full, rest;

    if (cidr->family != family) {
        return 0;
    }

    full = cidr->bits / 8;
    rest = cidr->bits % 8;

    if (ngx_memcmp(cidr->addr, addr, full) != 0) {
        return 0;
    }

    if (rest == 0) {
        return 1;
    }

    return ((cidr->addr[full] ^ addr[full]) & (0xff00 >> rest)) == 0;
}


ngx_uint_t
ngx_http_apikey_permitted(ngx_http_apikey_record_t *rec, ngx_uint_t method,
    ngx_str_t *resource)
{
    u_char      *g, *last;
    ngx_uint_t   need;

    need = (method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS))
           ? NGX_HTTP_APIKEY_GRANT_READ : NGX_HTTP_APIKEY_GRANT_WRITE;

    switch (rec->access) {

    case NGX_HTTP_APIKEY_ACCESS_FULL:
        return 1;

    case NGX_HTTP_APIKEY_ACCESS_READ:
        return need == NGX_HTTP_APIKEY_GRANT_READ;

    case NGX_HTTP_APIKEY_ACCESS_LIMITED:

        if (resource->len == 0) {
            return 0;
        }

        g = ngx_http_apikey_record_grants(rec);
        last = g + rec->grants_len;

        for ( /* void */ ; g < last; g += 2 + g[1]) {
            if (g[1] == resource->len
                && ngx_memcmp(g + 2, resource->data, resource->len) == 0)
            {
                return (g[0] & need) ? 1 : 0;
            }
        }

        return 0;

    default:
        return 0;
    }
}
