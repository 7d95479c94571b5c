
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikey_snapshot: the mirror on disk, so that an nginx started while Redis
 * is away decides at once from the last set it saw instead of answering
 * 503.  The syncing worker writes it after a full load, and every few
 * seconds while changes from the change log arrive, a slice of the table at
 * a time so that neither the zone's lock nor the worker is held long, into
 * a temporary file renamed over the old one when complete.  The master
 * reads it at start (and at a reload or binary upgrade that has a new
 * zone), so that no request waits for Redis; the syncing worker then reads
 * the change log from the position stored in it.
 *
 * Format: "APIKEYSNAP5\n" (3: the record image had "deprecated"; 4: and
 * the windows of its limit; 5: and the scheme of its digest, for keys
 * imported by their SHA-256 digest; a file of another version is not
 * used, and the mirror is loaded from Redis); the epoch's digest (32
 * bytes, zero: none); a byte with the length of the change log position,
 * and the position (the position at the start of the write: entries after
 * it are read again, which applies them again, harmlessly); per key a
 * 4-byte length and the record image; a zero length; the BLAKE2b-256 of
 * everything before it, keyed with the apikey_hash_secret when one is
 * set, so that a file written by anyone without the secret is refused.  A
 * file that fails any check is not used, whole.
 */


#include "ngx_http_apikey.h"

#include <sodium.h>


#define NGX_HTTP_APIKEY_SNAPSHOT_MAGIC   "APIKEYSNAP5\n"
#define NGX_HTTP_APIKEY_SNAPSHOT_SLICE   4096       /* buckets per step */
#define NGX_HTTP_APIKEY_SNAPSHOT_BUFFER  (256 * 1024)

/*
 * Between two writes: at least 5 s, and as long as writing the file at
 * 1 MB/s would take, so that a mirror of a million keys (some 64 MB) that
 * changes all the time is written about once a minute, ten million keys
 * every 11 minutes: fifty instances rewriting their mirrors every 5 s
 * kept this machine's disk, and their revocations, seconds behind.  A
 * start from an older snapshot only catches up on more of the log.
 */
#define NGX_HTTP_APIKEY_SNAPSHOT_PAUSE   5000       /* ms */
#define NGX_HTTP_APIKEY_SNAPSHOT_RATE    1024       /* bytes per ms */


typedef struct {
    ngx_http_apikey_zone_t     *zone;
    ngx_str_t                   path;
    ngx_str_t                   temp;
    ngx_fd_t                    fd;
    ngx_uint_t                  cursor;     /* of the walk of the table */
    ngx_uint_t                  first;      /* the cursor at the step's start */
    ngx_uint_t                  bucket;     /* of the node last copied */
    size_t                      bucket_len;     /* len and written */
    ngx_uint_t                  bucket_written; /* when it began */
    ngx_uint_t                  failed;
    ngx_uint_t                  written;
    off_t                       bytes;
    uint64_t                    version;
    u_char                     *buf;
    size_t                      len;
    crypto_generichash_state    hash;
    ngx_event_t                 event;
    ngx_log_t                  *log;
} ngx_http_apikey_snapshot_t;


static void ngx_http_apikey_snapshot_step(ngx_event_t *ev);
static ngx_int_t ngx_http_apikey_snapshot_node(ngx_http_apikey_node_t *node,
    void *data);
static ngx_int_t ngx_http_apikey_snapshot_flush(
    ngx_http_apikey_snapshot_t *snap);
static void ngx_http_apikey_snapshot_abort(ngx_http_apikey_snapshot_t *snap);
static ngx_int_t ngx_http_apikey_snapshot_valid(ngx_http_apikey_record_t *rec,
    size_t size);


static ngx_http_apikey_snapshot_t  *ngx_http_apikey_snapshot_running;
static u_char  ngx_http_apikey_snapshot_zero[NGX_HTTP_APIKEY_DIGEST_LEN];
static uint64_t                     ngx_http_apikey_snapshot_version;
static ngx_msec_t                   ngx_http_apikey_snapshot_next;
static ngx_uint_t                   ngx_http_apikey_snapshot_urgent;


/*
 * Starts writing the snapshot unless one is being written or the mirror
 * has not changed since the last one (NGX_DECLINED).  A full load's write
 * is not paced; a write for changes from the log ("paced") waits for the
 * pause after the last one.
 *
 * Another process may be writing the same file: the old and the new
 * syncing workers of a reload that changed the zone, or of a binary
 * upgrade, both write theirs.  The temporary file is locked from its
 * first byte until it is renamed, and a writer that finds it locked
 * leaves its write for the next tick (NGX_DECLINED), so that two writes
 * never mix in one file that a later start would refuse as damaged.
 */

ngx_int_t
ngx_http_apikey_snapshot_write(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_main_conf_t *amcf, ngx_uint_t paced, ngx_log_t *log)
{
    u_char                      *p;
    uint64_t                     version;
    ngx_str_t                   *path;
    ngx_file_info_t              fi, ti;
    ngx_http_apikey_shctx_t     *sh;
    ngx_http_apikey_snapshot_t  *snap;

    path = &amcf->snapshot;

    if (path->len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_apikey_snapshot_running) {

        /* a full load's write, declined: the next tick does it unpaced */

        ngx_http_apikey_snapshot_urgent |= !paced;
        return NGX_DECLINED;
    }

    version = zone->sh->version;

    if (version == ngx_http_apikey_snapshot_version && version != 0) {
        return NGX_DECLINED;
    }

    if (paced && !ngx_http_apikey_snapshot_urgent
        && ngx_http_apikey_snapshot_version != 0
        && (ngx_msec_int_t) (ngx_current_msec - ngx_http_apikey_snapshot_next)
           < 0)
    {
        return NGX_DECLINED;
    }

    snap = ngx_calloc(sizeof(ngx_http_apikey_snapshot_t), log);
    if (snap == NULL) {
        return NGX_ERROR;
    }

    snap->buf = ngx_alloc(NGX_HTTP_APIKEY_SNAPSHOT_BUFFER
                          + path->len + sizeof(".tmp"), log);
    if (snap->buf == NULL) {
        ngx_free(snap);
        return NGX_ERROR;
    }

    snap->zone = zone;
    snap->path = *path;
    snap->version = version;
    snap->log = log;

    snap->temp.data = snap->buf + NGX_HTTP_APIKEY_SNAPSHOT_BUFFER;
    p = ngx_cpymem(snap->temp.data, path->data, path->len);
    p = ngx_cpymem(p, ".tmp", sizeof(".tmp"));
    snap->temp.len = p - 1 - snap->temp.data;

    snap->fd = ngx_open_file(snap->temp.data, NGX_FILE_WRONLY,
                             NGX_FILE_CREATE_OR_OPEN, 0600);

    if (snap->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &snap->temp);
        ngx_free(snap->buf);
        ngx_free(snap);
        return NGX_ERROR;
    }

    /* the file that another writer renamed meanwhile is not ours to use */

    if (ngx_trylock_fd(snap->fd) != 0
        || ngx_fd_info(snap->fd, &fi) == NGX_FILE_ERROR
        || ngx_file_info(snap->temp.data, &ti) == NGX_FILE_ERROR
        || ngx_file_uniq(&fi) != ngx_file_uniq(&ti)
        || ftruncate(snap->fd, 0) == -1)
    {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "apikey: snapshot \"%V\" is being written by another "
                      "process, written later", &snap->temp);
        (void) ngx_close_file(snap->fd);
        ngx_free(snap->buf);
        ngx_free(snap);
        return NGX_DECLINED;
    }

    crypto_generichash_init(&snap->hash, amcf->hash_secret.data,
                            amcf->hash_secret.len, NGX_HTTP_APIKEY_DIGEST_LEN);

    p = ngx_cpymem(snap->buf, NGX_HTTP_APIKEY_SNAPSHOT_MAGIC,
                   sizeof(NGX_HTTP_APIKEY_SNAPSHOT_MAGIC) - 1);

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sh->has_epoch) {
        p = ngx_cpymem(p, sh->epoch, NGX_HTTP_APIKEY_DIGEST_LEN);

    } else {
        p = ngx_cpymem(p, ngx_http_apikey_snapshot_zero,
                       NGX_HTTP_APIKEY_DIGEST_LEN);
    }

    *p++ = (u_char) sh->position_len;
    p = ngx_cpymem(p, sh->position, sh->position_len);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    snap->len = p - snap->buf;

    snap->event.handler = ngx_http_apikey_snapshot_step;
    snap->event.data = snap;
    snap->event.log = log;
    snap->event.cancelable = 1;

    ngx_http_apikey_snapshot_running = snap;
    ngx_http_apikey_snapshot_urgent = 0;

    ngx_post_event(&snap->event, &ngx_posted_events);

    return NGX_OK;
}


static void
ngx_http_apikey_snapshot_step(ngx_event_t *ev)
{
    ngx_http_apikey_snapshot_t *snap = ev->data;

    uint32_t                  size;
    ngx_int_t                 rc;
    ngx_http_apikey_zone_t   *zone;
    u_char                    digest[NGX_HTTP_APIKEY_DIGEST_LEN];

    zone = snap->zone;

    if (ngx_terminate || ngx_exiting || ngx_quit) {
        ngx_http_apikey_snapshot_abort(snap);
        return;
    }

    snap->first = snap->cursor;
    snap->bucket = (ngx_uint_t) -1;

    ngx_shmtx_lock(&zone->shpool->mutex);

    rc = ngx_http_apikey_walk_locked(zone, &snap->cursor,
                                     NGX_HTTP_APIKEY_SNAPSHOT_SLICE,
                                     ngx_http_apikey_snapshot_node, snap);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (snap->failed) {
        ngx_http_apikey_snapshot_abort(snap);
        return;
    }

    if (rc == NGX_AGAIN) {

        /*
         * the buffer is full, or buckets are left: the table may change
         * meanwhile, the walk goes on where it stopped
         */

        if (ngx_http_apikey_snapshot_flush(snap) != NGX_OK) {
            ngx_http_apikey_snapshot_abort(snap);
            return;
        }

        ngx_post_event(ev, &ngx_posted_next_events);
        return;
    }

    /* the end: a zero length, then the hash of all that came before */

    size = 0;
    ngx_memcpy(snap->buf + snap->len, &size, sizeof(uint32_t));
    snap->len += sizeof(uint32_t);

    if (ngx_http_apikey_snapshot_flush(snap) != NGX_OK) {
        ngx_http_apikey_snapshot_abort(snap);
        return;
    }

    crypto_generichash_final(&snap->hash, digest, NGX_HTTP_APIKEY_DIGEST_LEN);

    if (ngx_write_fd(snap->fd, digest, NGX_HTTP_APIKEY_DIGEST_LEN)
        != NGX_HTTP_APIKEY_DIGEST_LEN)
    {
        ngx_http_apikey_snapshot_abort(snap);
        return;
    }

    /* renamed before it is closed: the lock holds until it is in place */

    if (ngx_rename_file(snap->temp.data, snap->path.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, snap->log, ngx_errno,
                      ngx_rename_file_n " \"%V\" to \"%V\" failed",
                      &snap->temp, &snap->path);
        ngx_http_apikey_snapshot_abort(snap);
        return;
    }

    if (ngx_close_file(snap->fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, snap->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &snap->path);
    }

    snap->fd = NGX_INVALID_FILE;

    ngx_log_error(NGX_LOG_INFO, snap->log, 0,
                  "apikey: snapshot of %ui keys written to \"%V\"",
                  snap->written, &snap->path);

    ngx_http_apikey_snapshot_version = snap->version;
    ngx_http_apikey_snapshot_running = NULL;

    ngx_http_apikey_snapshot_next = ngx_current_msec
        + ngx_max(NGX_HTTP_APIKEY_SNAPSHOT_PAUSE,
                  (ngx_msec_t) (snap->bytes / NGX_HTTP_APIKEY_SNAPSHOT_RATE));

    ngx_free(snap->buf);
    ngx_free(snap);
}


/*
 * One record into the buffer.  A full buffer stops the walk, to be written
 * out without the zone's lock, and the records of the bucket being walked
 * are dropped from it: the next step walks that bucket again from its
 * first node, so that a record is written once.  A bucket that alone
 * fills the buffer (thousands of records in one chain: digests alike, or
 * chosen to collide) is written out under the lock instead: a walk that
 * stopped in it would start it again for ever.
 */

static ngx_int_t
ngx_http_apikey_snapshot_node(ngx_http_apikey_node_t *node, void *data)
{
    ngx_http_apikey_snapshot_t *snap = data;

    uint32_t  size;

    if (snap->bucket != snap->cursor) {
        snap->bucket = snap->cursor;
        snap->bucket_len = snap->len;
        snap->bucket_written = snap->written;
    }

    size = (uint32_t) ngx_http_apikey_record_size(&node->record);

    if (snap->len + sizeof(uint32_t) + size
        > NGX_HTTP_APIKEY_SNAPSHOT_BUFFER)
    {
        if (snap->bucket != snap->first) {
            snap->len = snap->bucket_len;
            snap->written = snap->bucket_written;
            return NGX_AGAIN;
        }

        if (ngx_http_apikey_snapshot_flush(snap) != NGX_OK) {
            snap->failed = 1;
            return NGX_AGAIN;
        }
    }

    ngx_memcpy(snap->buf + snap->len, &size, sizeof(uint32_t));
    ngx_memcpy(snap->buf + snap->len + sizeof(uint32_t), &node->record, size);
    snap->len += sizeof(uint32_t) + size;
    snap->written++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_snapshot_flush(ngx_http_apikey_snapshot_t *snap)
{
    ssize_t  n;

    if (snap->len == 0) {
        return NGX_OK;
    }

    crypto_generichash_update(&snap->hash, snap->buf, snap->len);

    n = ngx_write_fd(snap->fd, snap->buf, snap->len);

    if (n != (ssize_t) snap->len) {
        ngx_log_error(NGX_LOG_ERR, snap->log, ngx_errno,
                      ngx_write_fd_n " \"%V\" failed", &snap->temp);
        return NGX_ERROR;
    }

    snap->bytes += n;

    snap->len = 0;

    return NGX_OK;
}


static void
ngx_http_apikey_snapshot_abort(ngx_http_apikey_snapshot_t *snap)
{
    /* deleted while locked: another writer's file is never deleted */

    (void) ngx_delete_file(snap->temp.data);

    if (snap->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(snap->fd);
    }

    if (snap->event.posted) {
        ngx_delete_posted_event(&snap->event);
    }

    ngx_http_apikey_snapshot_running = NULL;

    ngx_free(snap->buf);
    ngx_free(snap);
}


/*
 * A zone never loaded (a start, a reload that changed its size, a binary
 * upgrade) is filled from the snapshot by the first worker that starts,
 * before it accepts any connection; the other workers wait for it.  Not
 * in the master: the nginx command would wait for it (seconds at a million
 * keys).  Meanwhile connections wait in the listen queue (or are served by
 * the old workers of a reload or upgrade): none gets 503.
 */

ngx_int_t
ngx_http_apikey_snapshot_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf)
{
    ngx_int_t                 rc;
    ngx_pid_t                 loader;
    ngx_uint_t                i;
    ngx_http_apikey_zone_t   *zone;
    ngx_http_apikey_shctx_t  *sh;

    zone = amcf->shm_zone->data;
    sh = zone->sh;

    if (amcf->snapshot.len == 0 || sh->loaded) {
        return NGX_OK;
    }

    if (ngx_atomic_cmp_set(&sh->snapshot_loader, 0,
                           (ngx_atomic_uint_t) ngx_pid))
    {
        rc = ngx_http_apikey_snapshot_load(zone, amcf, cycle->log);

        sh->snapshot_loader = 1;

        return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;
    }

    /* at most a minute: a worker that cannot start is worse than a 503 */

    for (i = 0; i < 6000; i++) {
        loader = (ngx_pid_t) sh->snapshot_loader;

        if (loader == 1 || sh->loaded
            || (kill(loader, 0) == -1 && ngx_errno == NGX_ESRCH))
        {
            break;
        }

        ngx_msleep(10);
    }

    return NGX_OK;
}


/* loads the snapshot whole, or nothing */

ngx_int_t
ngx_http_apikey_snapshot_load(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_main_conf_t *amcf, ngx_log_t *log)
{
    u_char                    *buf, *p, *last, *head;
    ngx_str_t                 *path;
    size_t                     position_len;
    off_t                      fsize;
    ssize_t                    n;
    uint32_t                   size;
    ngx_fd_t                   fd;
    ngx_uint_t                 nkeys, cursor, removed;
    ngx_file_info_t            fi;
    ngx_http_apikey_record_t  *rec;
    u_char                     digest[NGX_HTTP_APIKEY_DIGEST_LEN];

    rec = NULL;
    path = &amcf->snapshot;

    if (path->len == 0) {
        return NGX_DECLINED;
    }

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_NOTICE, log, ngx_errno,
                      "apikey: no snapshot \"%V\" to start from", path);
        return NGX_DECLINED;
    }

    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        goto invalid;
    }

    fsize = ngx_file_size(&fi);

    if (fsize < (off_t) (sizeof(NGX_HTTP_APIKEY_SNAPSHOT_MAGIC) - 1
                         + NGX_HTTP_APIKEY_DIGEST_LEN + 1
                         + sizeof(uint32_t) + NGX_HTTP_APIKEY_DIGEST_LEN)
        || fsize > (off_t) zone->size * 2)
    {
        goto invalid;
    }

    buf = ngx_alloc((size_t) fsize, log);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, (size_t) fsize);

    if (n != (ssize_t) fsize) {
        goto invalid;
    }

    last = buf + fsize - NGX_HTTP_APIKEY_DIGEST_LEN;

    crypto_generichash(digest, NGX_HTTP_APIKEY_DIGEST_LEN, buf, last - buf,
                       amcf->hash_secret.data, amcf->hash_secret.len);

    if (sodium_memcmp(digest, last, NGX_HTTP_APIKEY_DIGEST_LEN) != 0) {
        goto invalid;
    }

    if (ngx_memcmp(buf, NGX_HTTP_APIKEY_SNAPSHOT_MAGIC,
                   sizeof(NGX_HTTP_APIKEY_SNAPSHOT_MAGIC) - 1) != 0)
    {
        /* whole, but written in another version's format: say so */

        if (ngx_memcmp(buf, NGX_HTTP_APIKEY_SNAPSHOT_MAGIC,
                       sizeof(NGX_HTTP_APIKEY_SNAPSHOT_MAGIC) - 3) == 0)
        {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "apikey: snapshot \"%V\" has the format of "
                          "another version (\"%*s\"), not used",
                          path, sizeof(NGX_HTTP_APIKEY_SNAPSHOT_MAGIC) - 2,
                          buf);

            (void) ngx_close_file(fd);
            ngx_free(buf);

            return NGX_DECLINED;
        }

        goto invalid;
    }

    /* the epoch and the change log position */

    head = buf + sizeof(NGX_HTTP_APIKEY_SNAPSHOT_MAGIC) - 1;
    position_len = head[NGX_HTTP_APIKEY_DIGEST_LEN];

    if (position_len >= NGX_HTTP_APIKEY_STREAM_ID_LEN
        || head + NGX_HTTP_APIKEY_DIGEST_LEN + 1 + position_len > last)
    {
        goto invalid;
    }

    /* first check every record, then load: a bad file loads nothing */

    for (p = head + NGX_HTTP_APIKEY_DIGEST_LEN + 1 + position_len;
         /* void */ ;
         p += size)
    {
        if (p + sizeof(uint32_t) > last) {
            goto invalid;
        }

        ngx_memcpy(&size, p, sizeof(uint32_t));
        p += sizeof(uint32_t);

        if (size == 0) {
            break;
        }

        if (size > (size_t) (last - p)
            || ngx_http_apikey_snapshot_valid((ngx_http_apikey_record_t *) p,
                                              size)
               != NGX_OK)
        {
            goto invalid;
        }
    }

    if (p != last) {
        goto invalid;
    }

    (void) ngx_close_file(fd);

    /* records in the file are not aligned: each is copied before use */

    rec = ngx_alloc(ngx_http_apikey_record_max_size(), log);
    if (rec == NULL) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    nkeys = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    (void) ngx_http_apikey_new_generation_locked(zone);

    for (p = head + NGX_HTTP_APIKEY_DIGEST_LEN + 1 + position_len;
         /* void */ ;
         p += size)
    {
        ngx_memcpy(&size, p, sizeof(uint32_t));
        p += sizeof(uint32_t);

        if (size == 0) {
            break;
        }

        ngx_memcpy(rec, p, size);

        if (ngx_http_apikey_put_locked(zone, rec, size, 0) == NGX_ERROR) {
            ngx_http_apikey_wipe_locked(zone);
            ngx_shmtx_unlock(&zone->shpool->mutex);

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "apikey: zone \"%V\" is too small for the keys of "
                          "snapshot \"%V\"", &zone->name, path);
            ngx_free(rec);
            ngx_free(buf);
            return NGX_DECLINED;
        }

        nkeys++;
    }

    if (ngx_http_apikey_stale_locked(zone)) {
        cursor = 0;
        removed = 0;

        while (ngx_http_apikey_sweep_locked(zone, &cursor, 65536,
                                            zone->sh->generation, &removed)
               == NGX_AGAIN)
        {
            /* void */
        }

        ngx_http_apikey_swept_locked(zone, log);
    }

    zone->sh->loaded = 1;
    zone->sh->from_snapshot = 1;

    zone->sh->has_epoch = ngx_memcmp(head, ngx_http_apikey_snapshot_zero,
                                     NGX_HTTP_APIKEY_DIGEST_LEN) != 0;
    ngx_memcpy(zone->sh->epoch, head, NGX_HTTP_APIKEY_DIGEST_LEN);

    zone->sh->position_len = position_len;
    ngx_memcpy(zone->sh->position, head + NGX_HTTP_APIKEY_DIGEST_LEN + 1,
               position_len);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(rec);
    ngx_free(buf);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "apikey: deciding from the snapshot \"%V\" of %ui keys "
                  "until redis is read", path, nkeys);

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "apikey: snapshot \"%V\" is damaged or not a snapshot, "
                  "not used", path);

    (void) ngx_close_file(fd);

    if (buf) {
        ngx_free(buf);
    }

    return NGX_DECLINED;
}


/* what the record parser would have produced, or the file is refused */

static ngx_int_t
ngx_http_apikey_snapshot_valid(ngx_http_apikey_record_t *rec, size_t size)
{
    u_char                    *g, *last;
    ngx_http_apikey_record_t   hdr;

    if (size < offsetof(ngx_http_apikey_record_t, data)
        || size > ngx_http_apikey_record_max_size())
    {
        return NGX_ERROR;
    }

    /* the image in the file is not aligned */

    ngx_memcpy(&hdr, rec, offsetof(ngx_http_apikey_record_t, data));

    if (ngx_http_apikey_record_size(&hdr) != size
        || hdr.id_len == 0
        || hdr.access < NGX_HTTP_APIKEY_ACCESS_FULL
        || hdr.access > NGX_HTTP_APIKEY_ACCESS_LIMITED
        || hdr.active > 1
        || hdr.scheme > NGX_HTTP_APIKEY_SCHEME_SHA256
        || hdr.nips > NGX_HTTP_APIKEY_MAX_IPS
        || hdr.grants_len > NGX_HTTP_APIKEY_MAX_GRANTS_LEN
        || (hdr.windows & (1 << NGX_HTTP_APIKEY_HOUR))
        || hdr.windows >= (1 << NGX_HTTP_APIKEY_NWINDOWS))
    {
        return NGX_ERROR;
    }

    /* grants are walked by length bytes: they must end where they say */

    last = (u_char *) rec + size
           - ngx_http_apikey_record_nlimits(&hdr) * sizeof(uint32_t);
    g = last - hdr.grants_len;

    while (g < last) {
        if (last - g < 2 || g[0] == 0 || g[0] > 3 || g[1] == 0
            || g[1] > last - g - 2)
        {
            return NGX_ERROR;
        }

        g += 2 + g[1];
    }

    return NGX_OK;
}
