
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Failures between the module and Redis that would otherwise look
 * healthy, since requests go on being decided from the mirror:
 *
 *  - writes Redis refuses: a user without the write commands (NOPERM), a
 *    replica (READONLY), reported by the reply handlers of the writes;
 *  - a unix socket the worker processes may not open, while the mirror
 *    serves what the master, running as root, loaded at start (or a
 *    snapshot);
 *  - a mirror that has not heard from Redis for longer than
 *    apikey_max_stale, after which requests may get 503 ("fail").
 *
 * Each is a field of the status and an error-log line repeated, while it
 * lasts, at most every NGX_HTTP_APIKEY_REPORT_INTERVAL seconds: once then
 * silence would look like a failure that went away.  The state lives in
 * the zone (sh->health), so the rate is shared by every worker and the
 * status shows what any of them found.
 */


#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"

#include <sys/un.h>


#define NGX_HTTP_APIKEY_REPORT_INTERVAL  10         /* seconds */
#define NGX_HTTP_APIKEY_HEALTH_TICK      1000       /* ms */

/* the smallest apikey_max_stale: an idle sync hears a PING every 5 s */
#define NGX_HTTP_APIKEY_MAX_STALE_MIN    10
#define NGX_HTTP_APIKEY_MAX_STALE_MAX    (7 * 24 * 3600)


static void ngx_http_apikey_health_timer(ngx_event_t *ev);
static void ngx_http_apikey_health_stale(ngx_http_apikey_main_conf_t *amcf,
    ngx_http_apikey_health_sh_t *h, ngx_log_t *log);
static void ngx_http_apikey_health_socket(ngx_http_apikey_main_conf_t *amcf,
    ngx_http_apikey_health_sh_t *h, ngx_cycle_t *cycle, ngx_uint_t due);
static ngx_err_t ngx_http_apikey_health_connect(ngx_str_t *path);
static ngx_uint_t ngx_http_apikey_health_due(ngx_atomic_t *reported);
static ngx_http_apikey_health_sh_t *ngx_http_apikey_health_get(
    ngx_http_apikey_main_conf_t **amcfp);


static ngx_event_t  ngx_http_apikey_health_event;


static ngx_str_t  ngx_http_apikey_write_kinds[] = {
    ngx_string("noperm"),
    ngx_string("readonly"),
    ngx_string("other")
};


char *
ngx_http_apikey_max_stale(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t *amcf = conf;

    time_t      t;
    ngx_str_t  *value;

    if (amcf->max_stale != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts > 2) {
            goto invalid;
        }

        amcf->max_stale = 0;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 1);

    if (t == (time_t) NGX_ERROR || t < NGX_HTTP_APIKEY_MAX_STALE_MIN
        || t > NGX_HTTP_APIKEY_MAX_STALE_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a time from %ds to 7d, or \"off\"",
                           &value[1], &cmd->name,
                           NGX_HTTP_APIKEY_MAX_STALE_MIN);
        return NGX_CONF_ERROR;
    }

    amcf->max_stale = t;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (value[2].len == 4 && ngx_strncmp(value[2].data, "fail", 4) == 0) {
        amcf->max_stale_fail = 1;
        return NGX_CONF_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive, "
                       "only a time may be followed by \"fail\"",
                       &value[2], &cmd->name);
    return NGX_CONF_ERROR;
}


/*
 * Every worker: the silence of Redis counts from the start of nginx when
 * the zone never heard it (a reload keeps the zone, and so the time);
 * then the worker checks that its own user can open a unix socket.
 */

ngx_int_t
ngx_http_apikey_health_init_process(ngx_cycle_t *cycle,
    ngx_http_apikey_main_conf_t *amcf)
{
    ngx_event_t                  *ev;
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_health_sh_t  *h;

    zone = amcf->shm_zone->data;
    h = &zone->sh->health;

    (void) ngx_atomic_cmp_set(&h->heard, 0, (ngx_atomic_uint_t) ngx_time());

    if (amcf->redis->unix_path.len) {
        ngx_http_apikey_health_socket(amcf, h, cycle, 0);

    } else if (amcf->max_stale == 0) {
        return NGX_OK;      /* nothing for the timer to watch */
    }

    ev = &ngx_http_apikey_health_event;

    ev->handler = ngx_http_apikey_health_timer;
    ev->data = amcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_APIKEY_HEALTH_TICK);

    return NGX_OK;
}


/* the request path: "fail" and too long without a word from Redis */

ngx_uint_t
ngx_http_apikey_too_stale(ngx_http_apikey_main_conf_t *amcf,
    ngx_http_apikey_shctx_t *sh)
{
    time_t  heard;

    if (!amcf->max_stale_fail) {
        return 0;
    }

    heard = (time_t) sh->health.heard;

    return heard && ngx_time() - heard > amcf->max_stale;
}


void
ngx_http_apikey_redis_write_failed(redisReply *reply, const char *what)
{
    size_t                        len;
    ngx_uint_t                    kind;
    const char                   *hint;
    ngx_atomic_uint_t             n;
    ngx_http_apikey_health_sh_t  *h;
    ngx_http_apikey_main_conf_t  *amcf;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    h = ngx_http_apikey_health_get(&amcf);
    if (h == NULL) {
        return;
    }

    len = ngx_min(reply->len, 100);

    if (len >= 6 && ngx_strncmp(reply->str, "NOPERM", 6) == 0) {
        kind = NGX_HTTP_APIKEY_WRITE_NOPERM;
        hint = "; the Redis user lacks the write commands (see its ACL)";

    } else if (len >= 8 && ngx_strncmp(reply->str, "READONLY", 8) == 0) {
        kind = NGX_HTTP_APIKEY_WRITE_READONLY;
        hint = "; this Redis is a read-only replica, writes need the master";

    } else {
        kind = NGX_HTTP_APIKEY_WRITE_OTHER;
        hint = "";
    }

    n = ngx_atomic_fetch_add(&h->write_errors[kind], 1) + 1;
    h->last_write_error = (ngx_atomic_uint_t) ngx_time();

    if (!ngx_http_apikey_health_due(&h->write_reported[kind])) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "apikey: redis %V refused the %s (%uA times so far): "
                  "\"%*s\"%s", &amcf->redis->address, what, n, len,
                  reply->str, hint);
}


u_char *
ngx_http_apikey_health_json(u_char *p, ngx_http_apikey_shctx_t *snap)
{
    time_t                        heard, ago;
    ngx_uint_t                    i;
    ngx_http_apikey_health_sh_t  *h;
    ngx_http_apikey_main_conf_t  *amcf;

    h = &snap->health;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_apikey_module);

    heard = (time_t) h->heard;
    ago = (heard && ngx_time() > heard) ? ngx_time() - heard : 0;

    p = ngx_sprintf(p, "\"redis\":{\"last_heard\":%T,\"heard_ago\":%T,"
                    "\"max_stale\":%T,\"stale\":%s,"
                    "\"worker_access_denied\":%s,\"write_errors\":{",
                    heard, ago, amcf->max_stale,
                    (amcf->max_stale && ago > amcf->max_stale)
                    ? "true" : "false",
                    h->worker_denied ? "true" : "false");

    for (i = 0; i < NGX_HTTP_APIKEY_WRITE_NKINDS; i++) {
        p = ngx_sprintf(p, "%s\"%V\":%uA", i ? "," : "",
                        &ngx_http_apikey_write_kinds[i], h->write_errors[i]);
    }

    return ngx_sprintf(p, "},\"last_write_error\":%uA},",
                       h->last_write_error);
}


u_char *
ngx_http_apikey_health_prometheus(u_char *p, ngx_str_t *zone,
    ngx_http_apikey_shctx_t *snap)
{
    time_t                        heard;
    ngx_uint_t                    i;
    ngx_http_apikey_health_sh_t  *h;
    ngx_http_apikey_main_conf_t  *amcf;

    h = &snap->health;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_apikey_module);

    heard = (time_t) h->heard;

    p = ngx_sprintf(p,
            "# HELP apikey_redis_last_heard_timestamp_seconds "
            "Last good reply from Redis to the sync.\n"
            "# TYPE apikey_redis_last_heard_timestamp_seconds gauge\n"
            "apikey_redis_last_heard_timestamp_seconds{zone=\"%V\"} %T\n"
            "# HELP apikey_redis_stale "
            "Whether Redis was silent for longer than apikey_max_stale.\n"
            "# TYPE apikey_redis_stale gauge\n"
            "apikey_redis_stale{zone=\"%V\"} %d\n"
            "# HELP apikey_redis_worker_access_denied "
            "Whether worker processes may not open the Redis socket.\n"
            "# TYPE apikey_redis_worker_access_denied gauge\n"
            "apikey_redis_worker_access_denied{zone=\"%V\"} %d\n"
            "# HELP apikey_redis_write_errors_total "
            "Writes Redis refused, by reason.\n"
            "# TYPE apikey_redis_write_errors_total counter\n",
            zone, heard,
            zone, (amcf->max_stale && heard
                   && ngx_time() - heard > amcf->max_stale) ? 1 : 0,
            zone, h->worker_denied ? 1 : 0);

    for (i = 0; i < NGX_HTTP_APIKEY_WRITE_NKINDS; i++) {
        p = ngx_sprintf(p, "apikey_redis_write_errors_total{zone=\"%V\","
                        "reason=\"%V\"} %uA\n", zone,
                        &ngx_http_apikey_write_kinds[i], h->write_errors[i]);
    }

    return p;
}


static void
ngx_http_apikey_health_timer(ngx_event_t *ev)
{
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_health_sh_t  *h;
    ngx_http_apikey_main_conf_t  *amcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    amcf = ev->data;
    zone = amcf->shm_zone->data;
    h = &zone->sh->health;

    if (amcf->max_stale) {
        ngx_http_apikey_health_stale(amcf, h, ev->log);
    }

    if (h->worker_denied && amcf->redis->unix_path.len
        && ngx_http_apikey_health_due(&h->denied_reported))
    {
        ngx_http_apikey_health_socket(amcf, h, (ngx_cycle_t *) ngx_cycle, 1);
    }

    ngx_add_timer(ev, NGX_HTTP_APIKEY_HEALTH_TICK);
}


/*
 * The first worker to see the mirror go stale, or come back, says so;
 * while it stays stale, one line every NGX_HTTP_APIKEY_REPORT_INTERVAL.
 */

static void
ngx_http_apikey_health_stale(ngx_http_apikey_main_conf_t *amcf,
    ngx_http_apikey_health_sh_t *h, ngx_log_t *log)
{
    time_t  now, heard;

    now = ngx_time();
    heard = (time_t) h->heard;

    if (heard == 0 || now - heard <= amcf->max_stale) {
        if (h->stale && ngx_atomic_cmp_set(&h->stale, 1, 0)) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "apikey: redis %V answers again, the key mirror "
                          "is current", &amcf->redis->address);
        }

        return;
    }

    if (h->stale) {
        if (!ngx_http_apikey_health_due(&h->stale_reported)) {
            return;
        }

    } else if (ngx_atomic_cmp_set(&h->stale, 0, 1)) {
        h->stale_reported = (ngx_atomic_uint_t) now;

    } else {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "apikey: no reply from redis %V for %T s, longer than "
                  "apikey_max_stale %T s: %s", &amcf->redis->address,
                  now - heard, amcf->max_stale,
                  amcf->max_stale_fail
                  ? "requests get 503 until it answers"
                  : "keys revoked since may still be accepted");
}


/*
 * A unix socket is opened with the worker's own user: the master, as
 * root, may well have loaded every key through it at start (or from a
 * snapshot), and then nothing else shows that no change will ever reach
 * the workers.  A
 * connect() to a unix socket does not block: it succeeds or fails at once.
 * "due": the caller already took its turn to log.
 */

static void
ngx_http_apikey_health_socket(ngx_http_apikey_main_conf_t *amcf,
    ngx_http_apikey_health_sh_t *h, ngx_cycle_t *cycle, ngx_uint_t due)
{
    ngx_err_t         err;
    ngx_core_conf_t  *ccf;

    err = ngx_http_apikey_health_connect(&amcf->redis->unix_path);

    if (err != NGX_EACCES && err != NGX_EPERM) {
        if (h->worker_denied && ngx_atomic_cmp_set(&h->worker_denied, 1, 0)) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "apikey: worker processes can open redis %V now",
                          &amcf->redis->address);
        }

        return;
    }

    (void) ngx_atomic_cmp_set(&h->worker_denied, 0, 1);

    /* at start every worker checks, and the first one says it */

    if (!due && !ngx_http_apikey_health_due(&h->denied_reported)) {
        return;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    ngx_log_error(NGX_LOG_ERR, cycle->log, err,
                  "apikey: worker processes (user \"%s\") cannot open "
                  "redis %V: no key is loaded or changed from it, whatever "
                  "the mirror serves",
                  ccf->username ? ccf->username : "the same as the master",
                  &amcf->redis->address);
}


static ngx_err_t
ngx_http_apikey_health_connect(ngx_str_t *path)
{
    int                 rc;
    ngx_err_t           err;
    ngx_socket_t        s;
    struct sockaddr_un  sun;

    if (path->len >= sizeof(sun.sun_path)) {
        return 0;       /* the sync says it */
    }

    s = ngx_socket(AF_UNIX, SOCK_STREAM, 0);
    if (s == (ngx_socket_t) -1) {
        return 0;
    }

    if (ngx_nonblocking(s) == -1) {
        ngx_close_socket(s);
        return 0;
    }

    ngx_memzero(&sun, sizeof(struct sockaddr_un));
    sun.sun_family = AF_UNIX;
    ngx_memcpy(sun.sun_path, path->data, path->len);

    rc = connect(s, (struct sockaddr *) &sun, sizeof(struct sockaddr_un));
    err = (rc == -1) ? ngx_socket_errno : 0;

    ngx_close_socket(s);

    return err;
}


/* whether this process is the one to log now: the others wait their turn */

static ngx_uint_t
ngx_http_apikey_health_due(ngx_atomic_t *reported)
{
    ngx_atomic_uint_t  last, now;

    now = (ngx_atomic_uint_t) ngx_time();
    last = *reported;

    if (last && now >= last && now - last < NGX_HTTP_APIKEY_REPORT_INTERVAL) {
        return 0;
    }

    return ngx_atomic_cmp_set(reported, last, now);
}


static ngx_http_apikey_health_sh_t *
ngx_http_apikey_health_get(ngx_http_apikey_main_conf_t **amcfp)
{
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_apikey_module);

    if (amcf == NULL || amcf->shm_zone == NULL || amcf->redis == NULL) {
        return NULL;
    }

    *amcfp = amcf;
    zone = amcf->shm_zone->data;

    return &zone->sh->health;
}
