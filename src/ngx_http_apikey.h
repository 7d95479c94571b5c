
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: types and functions shared by the module's files.
 *
 * The key mirror lives in one shared zone: a power-of-two bucket array of
 * singly linked nodes, each node a slab allocation that holds the mutable
 * counters of one key followed by its immutable record image.  Only the
 * syncing worker writes records; every worker reads them and updates the
 * counters, always under the zone's slab mutex.
 */


#ifndef _NGX_HTTP_APIKEY_H_INCLUDED_
#define _NGX_HTTP_APIKEY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_apikey_format.h"


#define NGX_HTTP_APIKEY_DIGEST_LEN      32
#define NGX_HTTP_APIKEY_HEX_LEN         64
#define NGX_HTTP_APIKEY_MAX_KEY_LEN     NGX_APIKEY_MAX_KEY_LEN

/* record->scheme: which digest names the record, see *_legacy.c */
#define NGX_HTTP_APIKEY_SCHEME_BLAKE2B  NGX_APIKEY_SCHEME_BLAKE2B
#define NGX_HTTP_APIKEY_SCHEME_SHA256   NGX_APIKEY_SCHEME_SHA256

#define NGX_HTTP_APIKEY_HEADER_BEARER   0x01
#define NGX_HTTP_APIKEY_HEADER_XSECRET  0x02

/*
 * apikey_headers header:<name>, the operator's own key headers: the n-th
 * name of the http block's table (ngx_http_apikey_names_t) is the kind
 * NGX_HTTP_APIKEY_HEADER_CUSTOM(n).
 */
#define NGX_HTTP_APIKEY_MAX_CUSTOM      8
#define NGX_HTTP_APIKEY_MAX_HEADER_NAME 64
#define NGX_HTTP_APIKEY_HEADER_CUSTOM(n)  ((ngx_uint_t) 0x04 << (n))
#define NGX_HTTP_APIKEY_HEADER_CUSTOM_ALL                                     \
    (NGX_HTTP_APIKEY_HEADER_CUSTOM(NGX_HTTP_APIKEY_MAX_CUSTOM)                \
     - NGX_HTTP_APIKEY_HEADER_CUSTOM(0))

#define NGX_HTTP_APIKEY_ACCESS_FULL     NGX_APIKEY_ACCESS_FULL
#define NGX_HTTP_APIKEY_ACCESS_READ     NGX_APIKEY_ACCESS_READ
#define NGX_HTTP_APIKEY_ACCESS_LIMITED  NGX_APIKEY_ACCESS_LIMITED

#define NGX_HTTP_APIKEY_GRANT_READ      NGX_APIKEY_GRANT_READ
#define NGX_HTTP_APIKEY_GRANT_WRITE     NGX_APIKEY_GRANT_WRITE

/*
 * node->record.limit, the hourly term: the record has no "limit" at all
 * (the location's apikey_rate_limit applies), or none per hour
 * ("unlimited", "20/s")
 */
#define NGX_HTTP_APIKEY_LIMIT_DEFAULT   0xffffffff
#define NGX_HTTP_APIKEY_LIMIT_UNLIMITED NGX_APIKEY_LIMIT_UNLIMITED
#define NGX_HTTP_APIKEY_LIMIT_MAX       NGX_APIKEY_LIMIT_MAX

/* the windows of a limit, see ngx_http_apikey_limit.c */
#define NGX_HTTP_APIKEY_SECOND          NGX_APIKEY_WINDOW_SECOND
#define NGX_HTTP_APIKEY_MINUTE          NGX_APIKEY_WINDOW_MINUTE
#define NGX_HTTP_APIKEY_HOUR            NGX_APIKEY_WINDOW_HOUR
#define NGX_HTTP_APIKEY_DAY             NGX_APIKEY_WINDOW_DAY
#define NGX_HTTP_APIKEY_NWINDOWS        NGX_APIKEY_NWINDOWS

/* apikey_ratelimit_headers */
#define NGX_HTTP_APIKEY_RLH_X           0x01
#define NGX_HTTP_APIKEY_RLH_IETF        0x02

#define NGX_HTTP_APIKEY_STYLE_DETAIL    0
#define NGX_HTTP_APIKEY_STYLE_ERROR     1

#define NGX_HTTP_APIKEY_SCOPE_LOCAL     0
#define NGX_HTTP_APIKEY_SCOPE_CLUSTER   1

/* record field bounds (ngx_apikey_format.h): beyond them a record breaks */
#define NGX_HTTP_APIKEY_MAX_STR         NGX_APIKEY_MAX_STR
#define NGX_HTTP_APIKEY_MAX_IPS         NGX_APIKEY_MAX_IPS
#define NGX_HTTP_APIKEY_MAX_GRANTS_LEN  NGX_APIKEY_MAX_GRANTS_LEN
#define NGX_HTTP_APIKEY_MAX_FIELDS      256     /* HGETALL elements */
#define NGX_HTTP_APIKEY_MAX_PREFIX      NGX_APIKEY_MAX_PREFIX

/* a stream entry id: two 64-bit numbers, "ms-seq" */
#define NGX_HTTP_APIKEY_STREAM_ID_LEN   48

/* shctx->dataset: what Redis holds, compared with the mirror */
#define NGX_HTTP_APIKEY_DATASET_OK      0
#define NGX_HTTP_APIKEY_DATASET_MISSING 1   /* no epoch: Redis lost it */
#define NGX_HTTP_APIKEY_DATASET_CHANGED 2   /* another epoch */
/* "host:port" of a Redis, as the status shows it */
#define NGX_HTTP_APIKEY_ADDRESS_LEN     64

#define NGX_HTTP_APIKEY_NODE_STAGED     0x01
#define NGX_HTTP_APIKEY_NODE_INFLIGHT   0x02    /* counts sent, no reply */

/* apikey_rate_limit_offline */
#define NGX_HTTP_APIKEY_OFFLINE_SHARE   0
#define NGX_HTTP_APIKEY_OFFLINE_OPEN    1
#define NGX_HTTP_APIKEY_OFFLINE_CLOSED  2

#define NGX_HTTP_APIKEY_INSTANCE_LEN    16      /* hex, see *_quota.c */


typedef enum {
    NGX_HTTP_APIKEY_OK = 0,
    NGX_HTTP_APIKEY_MISSING,
    NGX_HTTP_APIKEY_INVALID,
    NGX_HTTP_APIKEY_EXPIRED,
    NGX_HTTP_APIKEY_IP,
    NGX_HTTP_APIKEY_FORBIDDEN,
    NGX_HTTP_APIKEY_LIMITED,
    NGX_HTTP_APIKEY_UNAVAILABLE,
    NGX_HTTP_APIKEY_NDECISIONS
} ngx_http_apikey_decision_e;


typedef enum {
    NGX_HTTP_APIKEY_SYNC_IDLE = 0,
    NGX_HTTP_APIKEY_SYNC_CONNECTING,
    NGX_HTTP_APIKEY_SYNC_LOADING,
    NGX_HTTP_APIKEY_SYNC_SYNCED,
    NGX_HTTP_APIKEY_SYNC_DOWN
} ngx_http_apikey_sync_state_e;


/*
 * The record image: what a key's Redis hash says, packed.  Two images are
 * equal exactly when memcmp() says so, which lets a full re-sync skip
 * unchanged keys without allocating.
 *
 * data[] holds: id, owner, name (lengths below), then nips entries of
 * ngx_http_apikey_cidr_t, then grants_len bytes of grants, each grant
 * being [perm byte][name length byte][name], then a 4-byte limit (host
 * order, unaligned) for each bit of windows: the "limit" terms per second,
 * minute and day, in that order (the hourly one is limit).
 *
 * A record is known by its digest and its scheme together: a record of
 * "key:sha256:<hex>" is never found by a BLAKE2b digest equal to <hex>.
 */

typedef struct {
    u_char                      digest[NGX_HTTP_APIKEY_DIGEST_LEN];
    uint32_t                    expires;
    uint32_t                    limit;
    uint32_t                    deprecated;     /* rotated at, 0: not */
    uint8_t                     access;
    uint8_t                     active;
    uint8_t                     id_len;
    uint8_t                     owner_len;
    uint8_t                     name_len;
    uint8_t                     nips;
    uint16_t                    grants_len;
    uint8_t                     windows;    /* 1 << NGX_HTTP_APIKEY_SECOND,
                                               _MINUTE, _DAY */
    uint8_t                     scheme;     /* NGX_HTTP_APIKEY_SCHEME_* */
    u_char                      data[1];
} ngx_http_apikey_record_t;


typedef ngx_apikey_cidr_t  ngx_http_apikey_cidr_t;


/*
 * A key's share of a cluster-wide quota, and what Redis acknowledged of
 * its counts: see ngx_http_apikey_quota.c.
 */

typedef struct {
    uint32_t                    limit;      /* 0: no lease, see below */
    uint32_t                    reported;   /* count Redis has seen */
    uint32_t                    lease;      /* granted, not spent yet */
    uint32_t                    lease_expires;      /* unix seconds */
    uint32_t                    last_grant;
    uint32_t                    offline_left;   /* the share, Redis away */
    uint32_t                    recheck;    /* msec: exhausted until */
    uint32_t                    answered;   /* msec: the last reply */
    uint32_t                    rate_sec;
    uint32_t                    rate_n;     /* admitted in rate_sec */
    uint32_t                    rate_last;  /* in the second before */
    uint32_t                    epoch;      /* of the report in flight */
    uint32_t                    prev_window;
    uint32_t                    prev_count; /* unreported, previous hour */
    uint16_t                    waiters;
    uint8_t                     ask;        /* wants a grant */
    uint8_t                     asked;      /* the report in flight does */
    uint8_t                     exhausted;
    uint8_t                     prev_inflight;
} ngx_http_apikey_quota_t;


/*
 * The counters of the windows other than the hour, allocated in the zone
 * on the first request that meets a per-second, per-minute or per-day
 * limit, so that a key without any costs a pointer: see
 * ngx_http_apikey_limit.c.
 */

typedef struct {
    uint32_t                    stamp;      /* unix ms, modulo 2^32 */
    uint32_t                    tokens;     /* per second, in 1/1000 */
    uint32_t                    minute;     /* time / 60 */
    uint32_t                    minute_count;
    uint32_t                    day;        /* time / 86400 */
    uint32_t                    day_count;  /* counted here this day */
    uint32_t                    day_remote; /* counted elsewhere (cluster) */
} ngx_http_apikey_windows_t;


typedef struct ngx_http_apikey_node_s  ngx_http_apikey_node_t;

struct ngx_http_apikey_node_s {
    ngx_http_apikey_node_t     *next;
    ngx_http_apikey_windows_t  *windows;    /* NULL: none counted yet */
    uint32_t                    generation;
    uint32_t                    flags;

    /* hourly counters, see ngx_http_apikey_limit.c */
    uint32_t                    window;     /* hour number: time / 3600 */
    uint32_t                    count;      /* counted here this window */
    uint32_t                    remote;     /* counted elsewhere (cluster) */
    uint32_t                    pending;    /* not yet written to Redis */
    uint32_t                    last_used;

    ngx_http_apikey_quota_t     quota;

    ngx_http_apikey_record_t    record;     /* must stay last */
};


#define ngx_http_apikey_record_size(rec)                                      \
    (offsetof(ngx_http_apikey_record_t, data)                                 \
     + (rec)->id_len + (rec)->owner_len + (rec)->name_len                     \
     + (rec)->nips * sizeof(ngx_http_apikey_cidr_t) + (rec)->grants_len    \
     + ngx_http_apikey_record_nlimits(rec) * sizeof(uint32_t))

#define ngx_http_apikey_record_nlimits(rec)                                   \
    ((((rec)->windows >> NGX_HTTP_APIKEY_SECOND) & 1)                         \
     + (((rec)->windows >> NGX_HTTP_APIKEY_MINUTE) & 1)                       \
     + (((rec)->windows >> NGX_HTTP_APIKEY_DAY) & 1))

#define ngx_http_apikey_record_id(rec)     ((rec)->data)
#define ngx_http_apikey_record_owner(rec)  ((rec)->data + (rec)->id_len)
#define ngx_http_apikey_record_name(rec)                                      \
    ((rec)->data + (rec)->id_len + (rec)->owner_len)
#define ngx_http_apikey_record_ips(rec)                                       \
    ((ngx_http_apikey_cidr_t *) ((rec)->data + (rec)->id_len                  \
                                 + (rec)->owner_len + (rec)->name_len))
#define ngx_http_apikey_record_grants(rec)                                    \
    ((u_char *) ngx_http_apikey_record_ips(rec)                               \
     + (rec)->nips * sizeof(ngx_http_apikey_cidr_t))
#define ngx_http_apikey_record_limits(rec)                                    \
    (ngx_http_apikey_record_grants(rec) + (rec)->grants_len)


/*
 * What went wrong between the module and Redis that nothing else would
 * show: see ngx_http_apikey_health.c, which owns these fields.
 */

#define NGX_HTTP_APIKEY_WRITE_NOPERM    0
#define NGX_HTTP_APIKEY_WRITE_READONLY  1
#define NGX_HTTP_APIKEY_WRITE_OTHER     2
#define NGX_HTTP_APIKEY_WRITE_NKINDS    3

typedef struct {
    ngx_atomic_t                heard;      /* unix time of the last good
                                               reply to the sync, 0: none */
    ngx_atomic_t                stale;      /* past apikey_max_stale */
    ngx_atomic_t                worker_denied;  /* the workers' user may
                                                   not open the socket */
    ngx_atomic_t                write_errors[NGX_HTTP_APIKEY_WRITE_NKINDS];
    ngx_atomic_t                last_write_error;

    /* when each was last logged, for a bounded rate shared by workers */
    ngx_atomic_t                write_reported[NGX_HTTP_APIKEY_WRITE_NKINDS];
    ngx_atomic_t                stale_reported;
    ngx_atomic_t                denied_reported;
} ngx_http_apikey_health_sh_t;


/*
 * The table of nodes: its layout is known to ngx_http_apikey_store.c
 * alone; others find a node with ngx_http_apikey_lookup_locked() and go
 * through all with ngx_http_apikey_walk_locked().
 */

typedef struct ngx_http_apikey_table_s  ngx_http_apikey_table_t;

typedef ngx_int_t (*ngx_http_apikey_walk_pt)(ngx_http_apikey_node_t *node,
    void *data);

/* the keys to write back, see ngx_http_apikey_usage.c, which owns it */

typedef struct ngx_http_apikey_ring_s  ngx_http_apikey_ring_t;


typedef struct {
    ngx_http_apikey_table_t    *table;
    ngx_uint_t                  nkeys;

    uint32_t                    generation;
    uint64_t                    version;    /* changes to the set */

    /*
     * What a sweep would remove, kept exact under the lock (see
     * ngx_http_apikey_store.c), so that a full sync that stamped every
     * live node and promoted every node it staged need not walk the
     * buckets: live nodes of an older generation, and staged nodes.
     */
    ngx_uint_t                  stale;
    ngx_uint_t                  nstaged;
    ngx_uint_t                  loaded;     /* a complete set was served */
    ngx_uint_t                  from_snapshot;

    /* the syncing worker */
    ngx_atomic_t                owner;      /* its pid, 0 = nobody */
    ngx_atomic_t                heartbeat;  /* its ngx_current_msec */

    /* digests of keys with counts to write back, *_usage.c's alone */
    ngx_http_apikey_ring_t     *ring;

    /* statistics, see ngx_http_apikey_status.c */
    ngx_atomic_t                decisions[NGX_HTTP_APIKEY_NDECISIONS];
    /* refusals apikey_dry_run let through, by kind */
    ngx_atomic_t                dry_run[NGX_HTTP_APIKEY_NDECISIONS];
    ngx_atomic_t                events_applied;
    ngx_atomic_t                reconnects;
    ngx_atomic_t                full_syncs;
    ngx_atomic_t                skipped_records;
    ngx_atomic_t                near_limit;     /* keys that reached 90% */

    /* cluster quotas, see ngx_http_apikey_quota.c */
    u_char                      instance[NGX_HTTP_APIKEY_INSTANCE_LEN];
    ngx_atomic_t                quota_asks;     /* grants wanted now */
    ngx_atomic_t                quota_epoch;    /* owner changes */
    ngx_atomic_t                quota_offline;  /* since, unix time */
    ngx_atomic_t                quota_instances;    /* last seen */
    ngx_atomic_t                quota_reports;
    ngx_atomic_t                quota_grants;
    ngx_atomic_t                quota_waits;
    ngx_atomic_t                quota_offline_admits;
    ngx_uint_t                  quota_scope;    /* as configured */
    ngx_uint_t                  quota_policy;   /* apikey_rate_limit_offline */
    ngx_uint_t                  sync_state;
    time_t                      last_full_sync;
    ngx_msec_t                  last_full_sync_ms;

    /*
     * the change log, see ngx_http_apikey_changes.c: the dataset the mirror
     * holds (the digest of "<prefix>epoch", if Redis had one), and the id
     * of the last "<prefix>changes" entry applied (empty: none, version-1
     * sync); both are kept in the snapshot too
     */
    u_char                      epoch[NGX_HTTP_APIKEY_DIGEST_LEN];
    ngx_uint_t                  has_epoch;
    u_char                      position[NGX_HTTP_APIKEY_STREAM_ID_LEN];
    ngx_uint_t                  position_len;
    ngx_uint_t                  dataset;    /* NGX_HTTP_APIKEY_DATASET_* */

    /* the worker filling a new zone from the snapshot; 1: it is done */
    ngx_atomic_t                snapshot_loader;
    /* the Redis the sync last connected to, see *_transport.c */
    u_char                      redis_address[NGX_HTTP_APIKEY_ADDRESS_LEN];
    ngx_http_apikey_health_sh_t health;
    /* updates of live keys that found the zone full, see *_store.c */
    ngx_atomic_t                zone_full_updates;
} ngx_http_apikey_shctx_t;


typedef struct {
    ngx_http_apikey_shctx_t    *sh;
    ngx_slab_pool_t            *shpool;
    ngx_str_t                   name;
    size_t                      size;
} ngx_http_apikey_zone_t;


typedef struct ngx_http_apikey_transport_s  ngx_http_apikey_transport_t;


typedef struct {
    ngx_str_t                   host;       /* numeric, resolved at -t */
    ngx_int_t                   port;
    ngx_str_t                   unix_path;
    ngx_int_t                   db;
    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_str_t                   prefix;
    ngx_str_t                   address;    /* as configured, for logs */

    /* TLS; NULL: plain, see ngx_http_apikey_transport.c */
    ngx_http_apikey_transport_t *transport;
} ngx_http_apikey_redis_conf_t;


/*
 * The custom key headers named anywhere in the http block, lowercase, each
 * followed by a ':' (for the error-log guard) that len does not count.
 * One table for every location, so that a request's headers are read once
 * whatever location an internal redirect leads to.
 */

typedef struct {
    ngx_uint_t                  n;
    ngx_str_t                   name[NGX_HTTP_APIKEY_MAX_CUSTOM];
} ngx_http_apikey_names_t;


/* what a request sent in one custom header */
typedef struct {
    ngx_str_t                   value;
    ngx_uint_t                  n;          /* 0, 1, 2 = more */
} ngx_http_apikey_custom_t;


typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_http_apikey_redis_conf_t *redis;
    ngx_msec_t                  sync_interval;
    ngx_str_t                   hash_secret;
    ngx_uint_t                  scope;
    ngx_str_t                   snapshot;
    ngx_uint_t                  enabled_anywhere;
    time_t                      max_stale;      /* seconds, 0: off */
    ngx_uint_t                  max_stale_fail;
    ngx_uint_t                  offline;    /* apikey_rate_limit_offline */
    ngx_uint_t                  satisfy_any;    /* with the module on */
    ngx_http_apikey_names_t    *names;      /* NULL: no header:<name> */
    ngx_uint_t                  legacy;     /* apikey_legacy_hash sha256 */
    void                       *legacy_hmac;    /* see *_legacy.c */
} ngx_http_apikey_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_uint_t                  headers;
    ngx_str_t                   prefix;
    ngx_flag_t                  checksum;
    ngx_http_complex_value_t   *resource;
    ngx_apikey_limits_t         rate_limit;     /* set 0: off */
    ngx_uint_t                  rate_limit_set;
    ngx_uint_t                  ratelimit_headers;
    ngx_uint_t                  error_style;
    ngx_flag_t                  pass_key;
    ngx_flag_t                  status;
    ngx_http_apikey_names_t    *names;      /* the http block's */
    ngx_str_t                   unauthorized;   /* error style's 401 naming
                                                   the custom headers */
    time_t                      expiry_warning; /* seconds, 0: off */
    ngx_str_t                   expiry_link;    /* documentation URL */
    ngx_flag_t                  dry_run;
} ngx_http_apikey_loc_conf_t;


/* per request: what the decision found, for variables and headers */
typedef struct {
    ngx_http_apikey_decision_e  decision;
    ngx_str_t                   key;        /* points into the header */
    ngx_str_t                   id;
    ngx_str_t                   owner;
    ngx_str_t                   name;
    ngx_uint_t                  access;

    /* the window reported, see ngx_http_apikey_limit.c */
    uint32_t                    limit;
    uint32_t                    remaining;
    uint32_t                    used;
    time_t                      reset;      /* unix time */
    time_t                      retry;      /* Retry-After, seconds */
    ngx_uint_t                  window;     /* NGX_HTTP_APIKEY_SECOND... */
    ngx_apikey_limits_t         limits;     /* every window, for headers */

    uint32_t                    expires;    /* the record's, for Sunset */
    uint32_t                    deprecated;

    unsigned                    decided:1;
    unsigned                    counted:1;      /* counted once already */
    unsigned                    rate_headers:1; /* X-RateLimit-* apply */
    unsigned                    headers_sent:1;
    unsigned                    near_limit:1;
    unsigned                    syntax_ok:1;
    unsigned                    marked:1;
    unsigned                    duplicate_authorization:1;
    unsigned                    wait:1;         /* for a quota grant */
    unsigned                    waiting:1;      /* counted in waiters */
    unsigned                    sunset_sent:1;
    unsigned                    dry_run:1;      /* decided under dry run */
    unsigned                    dry_counted:1;  /* in the status's dry_run */
    unsigned                    over_limit:1;   /* counted all the same */
    unsigned                    day_wait:1;     /* for a daily count */

    ngx_msec_t                  wait_start;

    /*
     * What the request's headers said, read once per client request: an
     * internal redirect or a subrequest decides from this, as the first
     * pass may have removed the key headers.
     */
    unsigned                    scanned:1;
    unsigned                    override_write:1;   /* method override */
    unsigned                    identity:1;     /* id, owner, name set */
    unsigned                    deferred:1;     /* refusal under satisfy */
    unsigned                    nbearer:2;      /* 0, 1, 2 = more */
    unsigned                    nsecret:2;
    ngx_str_t                   bearer;
    ngx_str_t                   secret;
    ngx_uint_t                  removed;        /* header kinds removed */
    ngx_http_apikey_custom_t   *custom;     /* NULL: no custom header sent */
} ngx_http_apikey_ctx_t;


extern ngx_module_t  ngx_http_apikey_module;


/* ngx_http_apikey_header.c */
ngx_http_apikey_decision_e ngx_http_apikey_read_key(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx,
    ngx_str_t *key);
ngx_int_t ngx_http_apikey_scan_headers(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx);
ngx_uint_t ngx_http_apikey_present(ngx_http_apikey_loc_conf_t *alcf,
    ngx_http_apikey_ctx_t *ctx);
ngx_int_t ngx_http_apikey_custom_header(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_names_t **names,
    ngx_str_t *value);
ngx_int_t ngx_http_apikey_check_syntax(ngx_http_apikey_loc_conf_t *alcf,
    ngx_str_t *key);
ngx_int_t ngx_http_apikey_remove_key_headers(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf);
size_t ngx_http_apikey_mask(u_char *dst, ngx_str_t *key, ngx_str_t *prefix);
ngx_int_t ngx_http_apikey_patch_headers_in(ngx_conf_t *cf);

/* ngx_http_apikey_log.c */
ngx_int_t ngx_http_apikey_guard_log(ngx_conf_t *cf, ngx_log_t *log,
    ngx_http_apikey_names_t *names);

/* ngx_http_apikey_store.c */
ngx_int_t ngx_http_apikey_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_http_apikey_node_t *ngx_http_apikey_lookup_locked(
    ngx_http_apikey_zone_t *zone, u_char *digest, ngx_uint_t scheme);
ngx_int_t ngx_http_apikey_put_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_record_t *rec, size_t size, ngx_uint_t staged);
ngx_int_t ngx_http_apikey_delete_locked(ngx_http_apikey_zone_t *zone,
    u_char *digest, ngx_uint_t scheme, ngx_uint_t staged_only);
ngx_int_t ngx_http_apikey_promote_locked(ngx_http_apikey_zone_t *zone,
    u_char *digest, ngx_uint_t scheme);
uint32_t ngx_http_apikey_new_generation_locked(ngx_http_apikey_zone_t *zone);
ngx_uint_t ngx_http_apikey_stale_locked(ngx_http_apikey_zone_t *zone);
ngx_int_t ngx_http_apikey_sweep_locked(ngx_http_apikey_zone_t *zone,
    ngx_uint_t *cursor, ngx_uint_t nbuckets, uint32_t keep_generation,
    ngx_uint_t *removed);
ngx_int_t ngx_http_apikey_walk_locked(ngx_http_apikey_zone_t *zone,
    ngx_uint_t *cursor, ngx_uint_t nbuckets, ngx_http_apikey_walk_pt handler,
    void *data);
void ngx_http_apikey_swept_locked(ngx_http_apikey_zone_t *zone,
    ngx_log_t *log);
#if (NGX_HTTP_APIKEY_TEST)
void ngx_http_apikey_check_locked(ngx_http_apikey_zone_t *zone,
    ngx_log_t *log);
#endif
void ngx_http_apikey_wipe_locked(ngx_http_apikey_zone_t *zone);

/* ngx_http_apikey_record.c */
ngx_int_t ngx_http_apikey_parse_record(ngx_log_t *log, u_char *digest,
    ngx_str_t *fields, ngx_uint_t nfields, ngx_http_apikey_record_t *rec,
    size_t *size);
size_t ngx_http_apikey_record_max_size(void);
ngx_int_t ngx_http_apikey_record_get_limits(ngx_http_apikey_record_t *rec,
    ngx_apikey_limits_t *limits);
ngx_int_t ngx_http_apikey_digest(ngx_str_t *secret, u_char *key, size_t len,
    u_char *digest);
ngx_int_t ngx_http_apikey_hex_to_digest(u_char *hex, size_t len,
    u_char *digest);

/* ngx_http_apikey_policy.c */
ngx_int_t ngx_http_apikey_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_apikey_deferred_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_apikey_subrequest_handler(ngx_http_request_t *r);
ngx_http_apikey_ctx_t *ngx_http_apikey_find_ctx(ngx_http_request_t *r);
ngx_http_apikey_ctx_t *ngx_http_apikey_get_ctx(ngx_http_request_t *r);
ngx_uint_t ngx_http_apikey_address_allowed(ngx_http_apikey_record_t *rec,
    struct sockaddr *sa);
ngx_uint_t ngx_http_apikey_permitted(ngx_http_apikey_record_t *rec,
    ngx_uint_t method, ngx_str_t *resource);

/* ngx_http_apikey_limit.c */
ngx_int_t ngx_http_apikey_count_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx);
ngx_int_t ngx_http_apikey_limit_init(ngx_conf_t *cf);
time_t ngx_http_apikey_now(ngx_http_request_t *r);
ngx_int_t ngx_http_apikey_add_text(ngx_http_request_t *r, ngx_str_t *name,
    u_char *text, size_t len);

/* ngx_http_apikey_sunset.c */
char *ngx_http_apikey_expiry_warning(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_apikey_sunset_init(ngx_conf_t *cf);
void ngx_http_apikey_day_settle_locked(ngx_http_apikey_node_t *node,
    uint32_t hour, uint32_t reported, int64_t total);

/* ngx_http_apikey_usage.c */
ngx_int_t ngx_http_apikey_usage_init_zone(ngx_http_apikey_zone_t *zone,
    size_t size);
ngx_int_t ngx_http_apikey_usage_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf);
void ngx_http_apikey_mark_dirty_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node);
void ngx_http_apikey_usage_ask(void);

/* ngx_http_apikey_quota.c */
ngx_int_t ngx_http_apikey_quota_count_locked(ngx_http_request_t *r,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_node_t *node,
    uint32_t limit, ngx_http_apikey_ctx_t *ctx);
ngx_int_t ngx_http_apikey_quota_wait(ngx_http_request_t *r,
    ngx_http_apikey_ctx_t *ctx);
void ngx_http_apikey_quota_new_window_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, uint32_t limit, uint32_t window);
uint32_t ngx_http_apikey_quota_want_locked(ngx_http_apikey_node_t *node);
void ngx_http_apikey_quota_granted_locked(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_node_t *node, uint32_t grant, uint32_t want,
    int64_t free, int64_t others, uint32_t instances, time_t sent);
u_char *ngx_http_apikey_quota_status(u_char *p, ngx_http_apikey_shctx_t *snap,
    ngx_str_t *zone, ngx_uint_t prometheus);

/* ngx_http_apikey_error.c */
ngx_int_t ngx_http_apikey_send_error(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx);
void ngx_http_apikey_log_refusal(ngx_http_request_t *r,
    ngx_http_apikey_loc_conf_t *alcf, ngx_http_apikey_ctx_t *ctx);

/* ngx_http_apikey_variables.c */
ngx_int_t ngx_http_apikey_add_variables(ngx_conf_t *cf);
extern ngx_str_t  ngx_http_apikey_decision_names[];

/* ngx_http_apikey_sync.c */
ngx_int_t ngx_http_apikey_sync_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf);
void ngx_http_apikey_sync_exit_process(ngx_cycle_t *cycle);

/* ngx_http_apikey_status.c */
char *ngx_http_apikey_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_apikey_snapshot.c */
ngx_int_t ngx_http_apikey_snapshot_write(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_main_conf_t *amcf, ngx_uint_t paced, ngx_log_t *log);
ngx_int_t ngx_http_apikey_snapshot_load(ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_main_conf_t *amcf, ngx_log_t *log);
ngx_int_t ngx_http_apikey_snapshot_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf);

/* ngx_http_apikey_secret.c */
ngx_int_t ngx_http_apikey_read_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name, size_t max, ngx_str_t *secret);
ngx_int_t ngx_http_apikey_password_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *file, ngx_str_t *password);

/* ngx_http_apikey_legacy.c */
char *ngx_http_apikey_legacy_hash(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_apikey_legacy_digest(ngx_http_apikey_main_conf_t *amcf,
    u_char *key, size_t len, u_char *digest);
ngx_int_t ngx_http_apikey_digest_name(u_char *name, size_t len,
    ngx_uint_t *scheme, u_char *digest);

/* ngx_http_apikey_health.c */
#define NGX_HTTP_APIKEY_HEALTH_STATUS_SIZE  2048
char *ngx_http_apikey_max_stale(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_apikey_health_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf);
ngx_uint_t ngx_http_apikey_too_stale(ngx_http_apikey_main_conf_t *amcf,
    ngx_http_apikey_shctx_t *sh);
u_char *ngx_http_apikey_health_json(u_char *p, ngx_http_apikey_shctx_t *snap);
u_char *ngx_http_apikey_health_prometheus(u_char *p, ngx_str_t *zone,
    ngx_http_apikey_shctx_t *snap);


#endif /* _NGX_HTTP_APIKEY_H_INCLUDED_ */
