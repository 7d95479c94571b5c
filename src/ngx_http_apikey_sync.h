
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the sync's parts shared by its files, and by
 * them only.  The sync keeps the shared key mirror equal to Redis; it is
 * split by concern:
 *
 *   ngx_http_apikey_sync.c     which worker syncs (ownership, heartbeat,
 *                              take-over), its three connections, the
 *                              version-1 channel, the command queue
 *   ngx_http_apikey_changes.c  the change log (XREAD from the position),
 *                              the epoch, data loss (the mirror held)
 *   ngx_http_apikey_load.c     the one record loader: full loads (SCAN,
 *                              pipelined HGETALL, staged, promoted, swept
 *                              in steps) and single records applied
 *
 * The state of one worker's sync is one ngx_http_apikey_sync_t; each file
 * changes only the fields its part of the struct names.
 */


#ifndef _NGX_HTTP_APIKEY_SYNC_H_INCLUDED_
#define _NGX_HTTP_APIKEY_SYNC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"


#define NGX_HTTP_APIKEY_SYNC_STALE            1000  /* heartbeat age, ms */
#define NGX_HTTP_APIKEY_SYNC_CONNECT_TIMEOUT  1000
#define NGX_HTTP_APIKEY_SYNC_REPLY_TIMEOUT    5000
#define NGX_HTTP_APIKEY_SYNC_BACKOFF_MIN      100
#define NGX_HTTP_APIKEY_SYNC_BACKOFF_MAX      10000

/* the epoch is checked (and the idle command connection with it) this often */
#define NGX_HTTP_APIKEY_SYNC_PING             5000

#define NGX_HTTP_APIKEY_SYNC_SCAN_COUNT       "1000"
#define NGX_HTTP_APIKEY_SYNC_MAX_SCANS        100000

/* records per lock hold, and the buffer that keeps them until then */
#define NGX_HTTP_APIKEY_SYNC_BATCH            1000
#define NGX_HTTP_APIKEY_SYNC_BATCH_SIZE       (1024 * 1024)

/* staged digests discarded per lock hold */
#define NGX_HTTP_APIKEY_SYNC_CHUNK            1000

/*
 * staged digests are kept in blocks of this many, never moved: an array
 * that doubled would copy megabytes at once in the middle of a load
 */
#define NGX_HTTP_APIKEY_SYNC_STAGED_BLOCK     2048
#define NGX_HTTP_APIKEY_SYNC_STAGED_LEN       (NGX_HTTP_APIKEY_DIGEST_LEN + 1)

/*
 * staged digests promoted, and buckets swept, per step of the end of a
 * load: one step per turn of the event loop, each well under a millisecond
 * even with the nodes out of the cache
 */
#define NGX_HTTP_APIKEY_SYNC_PROMOTE          256
#define NGX_HTTP_APIKEY_SYNC_SWEEP            4096

#if (NGX_HTTP_APIKEY_TEST)
/* the id of a record that makes a re-sync stop before its end, see below */
#define NGX_HTTP_APIKEY_SYNC_TEST_HOLD        "apikey-test-hold"
#endif

/*
 * bytes any one reply to the sync may take, raw or built: a record is at
 * most a few kB, a SCAN or XREAD batch of 1000 about 100 kB; beyond this,
 * Redis holds something that is not ours, and it is refused rather than
 * buffered whole
 */
#define NGX_HTTP_APIKEY_SYNC_MAX_REPLY        (8 * 1024 * 1024)

/* HGETALL elements (names and values) beyond which a hash is broken */
#define NGX_HTTP_APIKEY_SYNC_MAX_FIELDS       256


/*
 * XREAD blocks this long on an idle change log; its reply timeout is
 * longer by the usual reply timeout
 */
#define NGX_HTTP_APIKEY_SYNC_BLOCK            "10000"
#define NGX_HTTP_APIKEY_SYNC_BLOCK_TIMEOUT    15000
#define NGX_HTTP_APIKEY_SYNC_XREAD_COUNT      "1000"


typedef enum {
    NGX_HTTP_APIKEY_CMD_SCAN = 0,
    NGX_HTTP_APIKEY_CMD_LOAD,
    NGX_HTTP_APIKEY_CMD_EVENT,
    NGX_HTTP_APIKEY_CMD_EPOCH_CONNECT,  /* GET epoch, on connecting */
    NGX_HTTP_APIKEY_CMD_EPOCH_CHECK,    /* GET epoch, every few seconds */
    NGX_HTTP_APIKEY_CMD_RESUME,         /* XRANGE <position> + COUNT 1 */
    NGX_HTTP_APIKEY_CMD_LOAD_EPOCH,     /* GET epoch, at a load's start */
    NGX_HTTP_APIKEY_CMD_TIP,            /* XREVRANGE + - COUNT 1, ditto */
    NGX_HTTP_APIKEY_CMD_STAR            /* EXISTS changes, after a "*" */
} ngx_http_apikey_cmd_e;


/* one command of ours on the command connection, awaiting its reply */
typedef struct {
    ngx_uint_t                    kind;
    ngx_uint_t                    load;
    u_char                        digest[NGX_HTTP_APIKEY_DIGEST_LEN];
    ngx_uint_t                    scheme;       /* of the digest */
    u_char                        id[NGX_HTTP_APIKEY_STREAM_ID_LEN];
    size_t                        id_len;       /* of the stream entry */
} ngx_http_apikey_sync_cmd_t;



typedef struct {
    ngx_http_apikey_main_conf_t  *amcf;
    ngx_http_apikey_zone_t       *zone;
    ngx_log_t                    *log;
    ngx_pool_t                   *pool;

    ngx_event_t                   tick;
    ngx_event_t                   reconnect;
    ngx_event_t                   resync;
    ngx_event_t                   finish;       /* the next step of the end
                                                   of a load, posted */

    ngx_http_apikey_redis_t       sub;
    ngx_http_apikey_redis_t       cmd;
    ngx_http_apikey_redis_t       changes;      /* XREAD BLOCK only */

    ngx_str_t                     channel;      /* <prefix>events */
    ngx_str_t                     stream;       /* <prefix>changes */
    ngx_str_t                     epoch_key;    /* <prefix>epoch */

    /* the change log: the id XREAD reads after; 0 length: not reading */
    u_char                        read_from[NGX_HTTP_APIKEY_STREAM_ID_LEN];
    size_t                        read_from_len;

    /*
     * a full load: the stream's last entry and the epoch when it began,
     * and the last entry applied while it ran
     */
    u_char                        tip[NGX_HTTP_APIKEY_STREAM_ID_LEN];
    size_t                        tip_len;
    u_char                        applied[NGX_HTTP_APIKEY_STREAM_ID_LEN];
    size_t                        applied_len;
    u_char                        load_epoch[NGX_HTTP_APIKEY_DIGEST_LEN];

    /* the key whose record was over the reply bound, refused once */
    u_char                        oversized[NGX_HTTP_APIKEY_DIGEST_LEN];
    ngx_uint_t                    oversized_scheme;
    ngx_str_t                     match;        /* <prefix>key:*, escaped */
    ngx_str_t                     key_prefix;   /* <prefix>key: */

    /* per digest scheme: <prefix>key:[sha256:]<64 hex>, and its HGETALL */
    ngx_str_t                     key_name[2];
    ngx_str_t                     hgetall[2];   /* HGETALL key_name, RESP */

    ngx_array_t                   pending;      /* ngx_http_apikey_sync_cmd_t */
    ngx_uint_t                    pending_head;

    ngx_array_t                   staged;       /* of u_char *: blocks of
                                                   staged digests, each
                                                   with its scheme byte
                                                   after it, kept */
    ngx_uint_t                    nstaged;      /* digests in them */
    ngx_str_t                    *fields;
    ngx_http_apikey_record_t     *rec;
    size_t                        rec_max;

    u_char                       *batch;
    size_t                        batch_used;
    ngx_uint_t                    batch_n;

    ngx_msec_t                    backoff;
    ngx_msec_t                    last_ping;

    unsigned                      owner:1;      /* sh->owner is us */
    unsigned                      down:1;       /* the loss was logged */
    unsigned                      subscribed:1;
    unsigned                      initial:1;    /* load once connected */
    unsigned                      announce:1;   /* log when loaded */
    unsigned                      must_sweep:1; /* sweep all once: just took
                                                   the sync over */
    unsigned                      reading:1;    /* an XREAD is out */
    unsigned                      load_has_epoch:1;
    unsigned                      has_oversized:1;
    unsigned                      explicit:1;   /* the load was asked for:
                                                   "*" or "d *" */

    /* the full load in progress */
    unsigned                      loading:1;
    unsigned                      again:1;      /* "*" while loading */
    unsigned                      first:1;      /* puts are live */
    unsigned                      full:1;       /* the zone overflowed */
    unsigned                      scan_done:1;
    unsigned                      finishing:1;  /* all read: promoting, then
                                                   sweeping */
    unsigned                      sweeping:1;
    unsigned                      sweep_all:1;  /* whatever the counts say */
#if (NGX_HTTP_APIKEY_TEST)
    unsigned                      test_hold:1;  /* see finish_load */
#endif

    ngx_uint_t                    load;         /* its number */
    uint32_t                      generation;
    ngx_uint_t                    scans;
    ngx_uint_t                    outstanding;  /* HGETALL replies due */
    ngx_uint_t                    keys;         /* names SCAN returned */
    ngx_uint_t                    changed;
    ngx_uint_t                    skipped;
    ngx_uint_t                    removed;
    ngx_uint_t                    promoted;     /* of staged */
    ngx_uint_t                    bucket;       /* the sweep's next one */
    ngx_msec_t                    start;
} ngx_http_apikey_sync_t;


/* ngx_http_apikey_sync.c */
void ngx_http_apikey_sync_failed(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_redis_t *rc, const char *fmt, ...);
ngx_int_t ngx_http_apikey_sync_send(ngx_http_apikey_sync_t *s,
    ngx_uint_t kind, const char *format, ...);
ngx_int_t ngx_http_apikey_sync_hgetall(ngx_http_apikey_sync_t *s,
    ngx_uint_t kind, u_char *digest, ngx_uint_t scheme, u_char *hex,
    u_char *id, size_t id_len);
ngx_uint_t ngx_http_apikey_sync_owned(ngx_http_apikey_sync_t *s);
ngx_str_t *ngx_http_apikey_sync_key_name(ngx_http_apikey_sync_t *s,
    u_char *digest, ngx_uint_t scheme);

/* ngx_http_apikey_changes.c */
void ngx_http_apikey_sync_begin(ngx_http_apikey_sync_t *s);
void ngx_http_apikey_sync_epoch_reply(ngx_http_apikey_sync_t *s,
    ngx_uint_t kind, redisReply *reply);
void ngx_http_apikey_sync_resume_reply(ngx_http_apikey_sync_t *s,
    redisReply *reply);
void ngx_http_apikey_sync_tip_reply(ngx_http_apikey_sync_t *s,
    redisReply *reply);
void ngx_http_apikey_sync_star_reply(ngx_http_apikey_sync_t *s,
    redisReply *reply);
void ngx_http_apikey_sync_full_request(ngx_http_apikey_sync_t *s);
void ngx_http_apikey_sync_read(ngx_http_apikey_sync_t *s);
ngx_int_t ngx_http_apikey_sync_id_cmp(u_char *a, size_t alen,
    u_char *b, size_t blen);
void ngx_http_apikey_sync_set_position_locked(
    ngx_http_apikey_sync_t *s, u_char *id, size_t len);

/* ngx_http_apikey_load.c */
void ngx_http_apikey_sync_start_load(ngx_http_apikey_sync_t *s,
    ngx_uint_t explicit);
void ngx_http_apikey_sync_scan_reply(ngx_http_apikey_sync_t *s,
    redisReply *reply);
void ngx_http_apikey_sync_load_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply);
void ngx_http_apikey_sync_event_reply(ngx_http_apikey_sync_t *s,
    ngx_http_apikey_sync_cmd_t *cmd, redisReply *reply);
void ngx_http_apikey_sync_finish_handler(ngx_event_t *ev);
void ngx_http_apikey_sync_abort_load(ngx_http_apikey_sync_t *s,
    ngx_uint_t discard);


#endif /* _NGX_HTTP_APIKEY_SYNC_H_INCLUDED_ */
