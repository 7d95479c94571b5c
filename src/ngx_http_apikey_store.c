
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The key mirror in the apikey_zone shared zone: a bucket array indexed by
 * the digest's first bytes (a keyed hash, so already uniform), chains of
 * slab-allocated nodes, and the generations that let a full re-sync build
 * the next set beside the one being served.
 *
 * A full load starts a generation; every node it finds in Redis is stamped
 * with it (or staged with it, then promoted), and a sweep then removes the
 * nodes of older generations: keys gone from Redis, and staged nodes a dead
 * syncing worker left.  sh->stale and sh->nstaged count those nodes at all
 * times, so that the sweep, a walk of every bucket, is skipped when there
 * is nothing for it to find.  Every change of a node's kind or generation
 * goes through this file and keeps them exact.
 *
 * The table's layout is this file's alone, as a zone's is in nginx's
 * ngx_http_limit_req_module.c: the other files find a node by its digest
 * and go through every node with ngx_http_apikey_walk_locked() (usage
 * write-back, the snapshot), a slice of buckets at a time.
 *
 * A node is known by its digest and its digest scheme together (a key
 * imported under "key:sha256:<hex>" beside the module's own): both are
 * compared wherever a node is looked for, so that the two kinds never
 * find each other.  Both kinds share the buckets.
 *
 * Every function named *_locked expects the zone's slab mutex held.
 */


#include "ngx_http_apikey.h"

#include <sodium.h>


struct ngx_http_apikey_table_s {
    ngx_http_apikey_node_t    **buckets;
    ngx_uint_t                  mask;
};


static ngx_http_apikey_node_t **ngx_http_apikey_bucket(
    ngx_http_apikey_zone_t *zone, u_char *digest);
static ngx_http_apikey_node_t *ngx_http_apikey_alloc_node_locked(
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_record_t *rec,
    size_t size);
static void ngx_http_apikey_free_node_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t **link);
static void ngx_http_apikey_copy_counters(ngx_http_apikey_node_t *to,
    ngx_http_apikey_node_t *from);
static ngx_int_t ngx_http_apikey_update_full_locked(
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *live,
    ngx_http_apikey_record_t *rec, size_t size);
static ngx_uint_t ngx_http_apikey_no_narrower(ngx_http_apikey_record_t *old,
    ngx_http_apikey_record_t *rec);
static ngx_uint_t ngx_http_apikey_windows_no_narrower(
    ngx_http_apikey_record_t *old, ngx_http_apikey_record_t *rec);
static size_t ngx_http_apikey_slab_capacity(size_t size);


ngx_int_t
ngx_http_apikey_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_apikey_zone_t  *ozone = data;

    size_t                    len;
    ngx_uint_t                n;
    ngx_http_apikey_zone_t   *zone;
    ngx_http_apikey_table_t  *table;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_apikey_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    /*
     * About one bucket for every 128 bytes of zone: with the smallest
     * records taking 128 bytes, chains stay short even in a full zone.
     */

    for (n = 1024; n < shm_zone->shm.size / 128; n <<= 1) { /* void */ }

    table = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_apikey_table_t));
    if (table == NULL) {
        return NGX_ERROR;
    }

    /*
     * A new zone's pages come zero-filled from the kernel and this is the
     * pool's first large allocation: clearing the array would only make
     * the master fault in all of it (256 MB of buckets in a 4 GB zone took
     * the nginx command 1.5 s), where workers touch it bit by bit.  Builds
     * that fill the pool with junk (debug malloc) do clear it.
     */

    table->buckets = ngx_slab_alloc(zone->shpool,
                                    n * sizeof(ngx_http_apikey_node_t *));
    if (table->buckets == NULL) {
        return NGX_ERROR;
    }

#if (NGX_DEBUG_MALLOC || NGX_HAVE_DEBUG_MALLOC)
    ngx_memzero(table->buckets, n * sizeof(ngx_http_apikey_node_t *));
#endif

    table->mask = n - 1;
    zone->sh->table = table;

    if (ngx_http_apikey_usage_init_zone(zone, shm_zone->shm.size)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = sizeof(" in apikey zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in apikey zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* running out of room is expected and handled: no alert per failure */

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Digests of real keys are uniform already, but records are written by
 * others: every byte of the digest goes into the bucket, so that digests
 * alike in some bytes (or chosen so) do not share one chain.
 */

static ngx_http_apikey_node_t **
ngx_http_apikey_bucket(ngx_http_apikey_zone_t *zone, u_char *digest)
{
    uint64_t  w[NGX_HTTP_APIKEY_DIGEST_LEN / 8], h;

    ngx_memcpy(w, digest, NGX_HTTP_APIKEY_DIGEST_LEN);

    h = (w[0] ^ w[1] ^ w[2] ^ w[3]) * 0x9e3779b97f4a7c15ULL;

    return &zone->sh->table->buckets[(h >> 32) & zone->sh->table->mask];
}


/* the live (visible) node of a digest of that scheme, or NULL */

ngx_http_apikey_node_t *
ngx_http_apikey_lookup_locked(ngx_http_apikey_zone_t *zone, u_char *digest,
    ngx_uint_t scheme)
{
    ngx_http_apikey_node_t  *node;

    for (node = *ngx_http_apikey_bucket(zone, digest); node;
         node = node->next)
    {
        if (!(node->flags & NGX_HTTP_APIKEY_NODE_STAGED)
            && node->record.scheme == scheme
            && crypto_verify_32(node->record.digest, digest) == 0)
        {
            return node;
        }
    }

    return NULL;
}


/*
 * staged == 0: the record replaces the live one at once (events, and the
 * first load, which nobody reads before it completes).
 *
 * staged == 1: a full re-sync.  An identical live record is only marked
 * as seen (NGX_DECLINED); otherwise the record waits in an invisible
 * node until ngx_http_apikey_promote_locked() (NGX_OK).
 *
 * NGX_ERROR: the zone is full; nothing changed.
 */

ngx_int_t
ngx_http_apikey_put_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_record_t *rec, size_t size, ngx_uint_t staged)
{
    uint32_t                  generation;
    ngx_http_apikey_node_t   *node, *live, **link, **live_link,
                            **staged_link;

    generation = zone->sh->generation;

    live = NULL;
    live_link = NULL;
    staged_link = NULL;

    for (link = ngx_http_apikey_bucket(zone, rec->digest); *link;
         link = &(*link)->next)
    {
        node = *link;

        if (node->record.scheme != rec->scheme
            || ngx_memcmp(node->record.digest, rec->digest,
                          NGX_HTTP_APIKEY_DIGEST_LEN) != 0)
        {
            continue;
        }

        if (node->flags & NGX_HTTP_APIKEY_NODE_STAGED) {
            staged_link = link;

        } else {
            live = node;
            live_link = link;
        }
    }

    if (live
        && ngx_http_apikey_record_size(&live->record) == size
        && ngx_memcmp(&live->record, rec, size) == 0)
    {
        if (live->generation != generation) {
            live->generation = generation;
            zone->sh->stale--;
        }

        if (staged_link) {
            ngx_http_apikey_free_node_locked(zone, staged_link);
        }

        return NGX_DECLINED;
    }

    node = ngx_http_apikey_alloc_node_locked(zone, rec, size);
    if (node == NULL) {
        if (staged || live == NULL) {
            return NGX_ERROR;
        }

        if (staged_link) {
            ngx_http_apikey_free_node_locked(zone, staged_link);
        }

        return ngx_http_apikey_update_full_locked(zone, live, rec, size);
    }

    node->generation = generation;

    if (staged) {
        node->flags = NGX_HTTP_APIKEY_NODE_STAGED;

        if (staged_link) {
            /* one staged node for another: nstaged stays */
            node->next = (*staged_link)->next;
            ngx_slab_free_locked(zone->shpool, *staged_link);
            *staged_link = node;
            return NGX_OK;
        }

        link = ngx_http_apikey_bucket(zone, rec->digest);
        node->next = *link;
        *link = node;
        zone->sh->nstaged++;

        return NGX_OK;
    }

    zone->sh->version++;

    /* a live put supersedes whatever a running re-sync has staged */

    if (staged_link) {
        if (live_link == &(*staged_link)->next) {
            live_link = staged_link;
        }

        ngx_http_apikey_free_node_locked(zone, staged_link);
    }

    if (live) {
        if (live->generation != generation) {
            zone->sh->stale--;
        }

        ngx_http_apikey_copy_counters(node, live);
        node->next = live->next;
        ngx_slab_free_locked(zone->shpool, live);
        *live_link = node;
        return NGX_OK;
    }

    link = ngx_http_apikey_bucket(zone, rec->digest);
    node->next = *link;
    *link = node;
    zone->sh->nkeys++;

    return NGX_OK;
}


/* a staged node becomes the live one, keeping the old one's counters */

ngx_int_t
ngx_http_apikey_promote_locked(ngx_http_apikey_zone_t *zone, u_char *digest,
    ngx_uint_t scheme)
{
    ngx_http_apikey_node_t   *node, *live, *staged, **link, **live_link;

    live = NULL;
    live_link = NULL;
    staged = NULL;

    for (link = ngx_http_apikey_bucket(zone, digest); *link;
         link = &(*link)->next)
    {
        node = *link;

        if (node->record.scheme != scheme
            || ngx_memcmp(node->record.digest, digest,
                          NGX_HTTP_APIKEY_DIGEST_LEN) != 0)
        {
            continue;
        }

        if (node->flags & NGX_HTTP_APIKEY_NODE_STAGED) {
            staged = node;

        } else {
            live = node;
            live_link = link;
        }
    }

    if (staged == NULL) {
        return NGX_DECLINED;
    }

    if (live) {
        if (live->generation != zone->sh->generation) {
            zone->sh->stale--;
        }

        ngx_http_apikey_copy_counters(staged, live);
        *live_link = live->next;
        ngx_slab_free_locked(zone->shpool, live);

    } else {
        zone->sh->nkeys++;
    }

    staged->flags &= ~NGX_HTTP_APIKEY_NODE_STAGED;
    zone->sh->nstaged--;

    if (staged->generation != zone->sh->generation) {
        zone->sh->stale++;      /* staged by a load since superseded */
    }

    zone->sh->version++;

    return NGX_OK;
}


ngx_int_t
ngx_http_apikey_delete_locked(ngx_http_apikey_zone_t *zone, u_char *digest,
    ngx_uint_t scheme, ngx_uint_t staged_only)
{
    ngx_uint_t                deleted;
    ngx_http_apikey_node_t  **link;

    deleted = 0;
    link = ngx_http_apikey_bucket(zone, digest);

    while (*link) {
        if ((*link)->record.scheme == scheme
            && ngx_memcmp((*link)->record.digest, digest,
                          NGX_HTTP_APIKEY_DIGEST_LEN) == 0
            && (!staged_only
                || ((*link)->flags & NGX_HTTP_APIKEY_NODE_STAGED)))
        {
            ngx_http_apikey_free_node_locked(zone, link);
            deleted++;
            continue;
        }

        link = &(*link)->next;
    }

    return deleted ? NGX_OK : NGX_DECLINED;
}


/*
 * Starts a generation: the live nodes are all stale until a load stamps
 * them.  Every full load (the loader, the snapshot) starts here.
 */

uint32_t
ngx_http_apikey_new_generation_locked(ngx_http_apikey_zone_t *zone)
{
    zone->sh->generation++;
    zone->sh->stale = zone->sh->nkeys;

    return zone->sh->generation;
}


/*
 * How many nodes a sweep for the current generation may remove (staged
 * nodes of the current generation, which a sweep keeps, are counted too):
 * 0 when a sweep would find nothing.
 */

ngx_uint_t
ngx_http_apikey_stale_locked(ngx_http_apikey_zone_t *zone)
{
    return zone->sh->stale + zone->sh->nstaged;
}


/*
 * Removes, from nbuckets buckets starting at *cursor, every node not of
 * keep_generation: keys gone from Redis, and staged nodes a dead syncing
 * worker left behind; adds their number to *removed.  Done in slices so
 * the lock is never held long: NGX_AGAIN while buckets are left, NGX_OK
 * once the table's end is reached.
 */

ngx_int_t
ngx_http_apikey_sweep_locked(ngx_http_apikey_zone_t *zone,
    ngx_uint_t *cursor, ngx_uint_t nbuckets, uint32_t keep_generation,
    ngx_uint_t *removed)
{
    ngx_uint_t                 i, last;
    ngx_http_apikey_node_t   **link;
    ngx_http_apikey_table_t   *table;

    table = zone->sh->table;

    last = ngx_min(*cursor + ngx_min(nbuckets, table->mask + 1),
                   table->mask + 1);

    for (i = *cursor; i < last; i++) {
        link = &table->buckets[i];

        while (*link) {
            if ((*link)->generation != keep_generation) {
                ngx_http_apikey_free_node_locked(zone, link);
                (*removed)++;
                continue;
            }

            link = &(*link)->next;
        }
    }

    *cursor = last;

    return last > table->mask ? NGX_OK : NGX_AGAIN;
}


/*
 * Calls the handler for every live node of nbuckets buckets starting at
 * *cursor (0: the first), and leaves *cursor where the next slice starts:
 * NGX_AGAIN while buckets are left, NGX_OK once the table's end is
 * reached.  The handler may stop the walk by returning NGX_AGAIN: *cursor
 * then stays at that node's bucket, whose nodes the next slice passes
 * again from its first.  The handler must not add nor remove nodes.
 */

ngx_int_t
ngx_http_apikey_walk_locked(ngx_http_apikey_zone_t *zone,
    ngx_uint_t *cursor, ngx_uint_t nbuckets, ngx_http_apikey_walk_pt handler,
    void *data)
{
    ngx_uint_t                last;
    ngx_http_apikey_node_t   *node;
    ngx_http_apikey_table_t  *table;

    table = zone->sh->table;

    last = ngx_min(*cursor + ngx_min(nbuckets, table->mask + 1),
                   table->mask + 1);

    for ( /* void */ ; *cursor < last; (*cursor)++) {
        for (node = table->buckets[*cursor]; node; node = node->next) {

            if (node->flags & NGX_HTTP_APIKEY_NODE_STAGED) {
                continue;
            }

            if (handler(node, data) == NGX_AGAIN) {
                return NGX_AGAIN;
            }
        }
    }

    return *cursor > table->mask ? NGX_OK : NGX_AGAIN;
}


/*
 * After a sweep of every bucket for the current generation, with no staged
 * node of that generation left: nothing stale remains, whatever the counts
 * say.  Counts that disagree (a bug, or a writer killed in the middle of a
 * change) are said and set right, so that later loads skip no sweep they
 * need; test builds stop instead, so that the suite sees it.
 */

void
ngx_http_apikey_swept_locked(ngx_http_apikey_zone_t *zone, ngx_log_t *log)
{
    ngx_http_apikey_shctx_t  *sh;

    sh = zone->sh;

    if (sh->stale == 0 && sh->nstaged == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "apikey zone \"%V\": %ui stale and %ui staged nodes "
                  "counted after a full sweep, set to 0",
                  &zone->name, sh->stale, sh->nstaged);

#if (NGX_HTTP_APIKEY_TEST)
    ngx_abort();
#endif

    sh->stale = 0;
    sh->nstaged = 0;
}


#if (NGX_HTTP_APIKEY_TEST)

/*
 * Test builds only: counts every node and stops the worker where the
 * counts kept along the way differ, so that the suite finds a skipped
 * sweep that was needed before it shows as a key that should be gone.
 */

void
ngx_http_apikey_check_locked(ngx_http_apikey_zone_t *zone, ngx_log_t *log)
{
    ngx_uint_t                i, live, stale, staged;
    ngx_http_apikey_node_t   *node;
    ngx_http_apikey_shctx_t  *sh;

    sh = zone->sh;

    live = 0;
    stale = 0;
    staged = 0;

    for (i = 0; i <= sh->table->mask; i++) {
        for (node = sh->table->buckets[i]; node; node = node->next) {

            if (node->flags & NGX_HTTP_APIKEY_NODE_STAGED) {
                staged++;
                continue;
            }

            live++;

            if (node->generation != sh->generation) {
                stale++;
            }
        }
    }

    if (live == sh->nkeys && stale == sh->stale && staged == sh->nstaged) {
        return;
    }

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "apikey zone \"%V\": counted %ui live, %ui stale, "
                  "%ui staged nodes, found %ui, %ui, %ui",
                  &zone->name, sh->nkeys, sh->stale, sh->nstaged,
                  live, stale, staged);

    ngx_abort();
}

#endif


void
ngx_http_apikey_wipe_locked(ngx_http_apikey_zone_t *zone)
{
    ngx_uint_t  cursor, removed;

    cursor = 0;
    removed = 0;

    (void) ngx_http_apikey_sweep_locked(zone, &cursor,
                                        zone->sh->table->mask + 1,
                                        zone->sh->generation + 1, &removed);
}


static ngx_http_apikey_node_t *
ngx_http_apikey_alloc_node_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_record_t *rec, size_t size)
{
    ngx_http_apikey_node_t  *node;

    node = ngx_slab_alloc_locked(zone->shpool,
                                 offsetof(ngx_http_apikey_node_t, record)
                                 + size);
    if (node == NULL) {
        return NULL;
    }

    ngx_memzero(node, offsetof(ngx_http_apikey_node_t, record));
    ngx_memcpy(&node->record, rec, size);

    return node;
}


static void
ngx_http_apikey_free_node_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t **link)
{
    ngx_http_apikey_node_t  *node;

    node = *link;
    *link = node->next;

    if (node->windows) {
        ngx_slab_free_locked(zone->shpool, node->windows);
    }

    if (node->flags & NGX_HTTP_APIKEY_NODE_STAGED) {
        zone->sh->nstaged--;

    } else {
        zone->sh->nkeys--;
        zone->sh->version++;

        if (node->generation != zone->sh->generation) {
            zone->sh->stale--;
        }
    }

    ngx_slab_free_locked(zone->shpool, node);
}


/* the windows' counters move: "from" is freed next */

static void
ngx_http_apikey_copy_counters(ngx_http_apikey_node_t *to,
    ngx_http_apikey_node_t *from)
{
    to->windows = from->windows;
    from->windows = NULL;
    to->window = from->window;
    to->count = from->count;
    to->remote = from->remote;
    to->pending = from->pending;
    to->last_used = from->last_used;
    to->quota = from->quota;
    to->flags |= from->flags & NGX_HTTP_APIKEY_NODE_INFLIGHT;
}


/*
 * An update of a live key found the zone full.  A key is not deleted for
 * that: the new record is written over the old one where the old node's
 * slab chunk holds it (a new limit, most renames), and otherwise the old
 * record stays until a later update or re-sync finds room, as long as it
 * allows nothing the new one would refuse (a rename, an owner, a higher
 * limit).  A revocation or a narrowing that does not fit returns
 * NGX_ERROR: the caller then deletes the key rather than let the old
 * record outlive it.  NGX_BUSY: the old record was kept.
 */

static ngx_int_t
ngx_http_apikey_update_full_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *live, ngx_http_apikey_record_t *rec, size_t size)
{
    size_t  old;

    old = offsetof(ngx_http_apikey_node_t, record)
          + ngx_http_apikey_record_size(&live->record);

    if (live->generation != zone->sh->generation) {
        live->generation = zone->sh->generation;
        zone->sh->stale--;
    }

    if (offsetof(ngx_http_apikey_node_t, record) + size
        <= ngx_http_apikey_slab_capacity(old))
    {
        ngx_memcpy(&live->record, rec, size);
        zone->sh->version++;
        return NGX_OK;
    }

    /* not applied: counted for the status */

    (void) ngx_atomic_fetch_add(&zone->sh->zone_full_updates, 1);

    if (!ngx_http_apikey_no_narrower(&live->record, rec)) {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "apikey zone \"%V\" is full: key \"%*s\" keeps its old "
                  "record until the new one fits", &zone->name,
                  (size_t) rec->id_len, ngx_http_apikey_record_id(rec));

    return NGX_BUSY;
}


/* 1 if rec allows nothing that old refuses */

static ngx_uint_t
ngx_http_apikey_no_narrower(ngx_http_apikey_record_t *old,
    ngx_http_apikey_record_t *rec)
{
    if (!rec->active || !old->active) {
        return 0;
    }

    if (rec->access != old->access
        && rec->access != NGX_HTTP_APIKEY_ACCESS_FULL)
    {
        return 0;
    }

    if (rec->access == NGX_HTTP_APIKEY_ACCESS_LIMITED
        && (rec->grants_len != old->grants_len
            || ngx_memcmp(ngx_http_apikey_record_grants(rec),
                          ngx_http_apikey_record_grants(old),
                          rec->grants_len)
               != 0))
    {
        return 0;
    }

    if (rec->expires
        && (old->expires == 0 || rec->expires < old->expires))
    {
        return 0;
    }

    if (rec->limit != old->limit
        && rec->limit != NGX_HTTP_APIKEY_LIMIT_UNLIMITED
        && (rec->limit > NGX_HTTP_APIKEY_LIMIT_MAX
            || old->limit > NGX_HTTP_APIKEY_LIMIT_MAX
            || rec->limit < old->limit))
    {
        return 0;
    }

    if (!ngx_http_apikey_windows_no_narrower(old, rec)) {
        return 0;
    }

    if (rec->nips
        && (rec->nips != old->nips
            || ngx_memcmp(ngx_http_apikey_record_ips(rec),
                          ngx_http_apikey_record_ips(old),
                          rec->nips * sizeof(ngx_http_apikey_cidr_t))
               != 0))
    {
        return 0;
    }

    return 1;
}


/* every window rec limits, old limits at most as high */

static ngx_uint_t
ngx_http_apikey_windows_no_narrower(ngx_http_apikey_record_t *old,
    ngx_http_apikey_record_t *rec)
{
    ngx_uint_t           w;
    ngx_apikey_limits_t  o, n;

    if (rec->windows == 0) {
        return 1;
    }

    (void) ngx_http_apikey_record_get_limits(old, &o);
    (void) ngx_http_apikey_record_get_limits(rec, &n);

    for (w = 0; w < NGX_HTTP_APIKEY_NWINDOWS; w++) {
        if (w != NGX_HTTP_APIKEY_HOUR
            && (n.set & (1 << w))
            && (!(o.set & (1 << w)) || o.n[w] > n.n[w]))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * What the slab allocation of a node of this size holds: chunks are
 * powers of two (8 bytes at least) up to half a page, whole pages above.
 */

static size_t
ngx_http_apikey_slab_capacity(size_t size)
{
    size_t  n;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (n = 8; n < size; n <<= 1) {
        /* void */
    }

    return n;
}
