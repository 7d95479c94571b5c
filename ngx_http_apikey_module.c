
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: API-key authentication in the access phase.
 *
 * This file owns the module definition, the directives and their
 * inheritance, and the hooks into nginx (phase handler, filters, process
 * start and exit).  The work itself lives in src/, one concern per file.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sodium.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_transport.h"


static ngx_int_t ngx_http_apikey_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_apikey_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_apikey_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_apikey_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_apikey_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_apikey_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_apikey_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_apikey_init_process(ngx_cycle_t *cycle);
static void ngx_http_apikey_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_apikey_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_hash_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_headers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_set_time(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apikey_set_path(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_http_apikey_ratelimit_headers[] = {
    { ngx_string("x"), NGX_HTTP_APIKEY_RLH_X },
    { ngx_string("ietf"), NGX_HTTP_APIKEY_RLH_IETF },
    { ngx_string("both"), NGX_HTTP_APIKEY_RLH_X|NGX_HTTP_APIKEY_RLH_IETF },
    { ngx_string("off"), 0 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_apikey_styles[] = {
    { ngx_string("detail"), NGX_HTTP_APIKEY_STYLE_DETAIL },
    { ngx_string("error"), NGX_HTTP_APIKEY_STYLE_ERROR },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_apikey_scopes[] = {
    { ngx_string("local"), NGX_HTTP_APIKEY_SCOPE_LOCAL },
    { ngx_string("cluster"), NGX_HTTP_APIKEY_SCOPE_CLUSTER },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_apikey_offline[] = {
    { ngx_string("share"), NGX_HTTP_APIKEY_OFFLINE_SHARE },
    { ngx_string("open"), NGX_HTTP_APIKEY_OFFLINE_OPEN },
    { ngx_string("closed"), NGX_HTTP_APIKEY_OFFLINE_CLOSED },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_apikey_commands[] = {

    { ngx_string("apikey_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_sync_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_set_time,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apikey_main_conf_t, sync_interval),
      NULL },

    { ngx_string("apikey_hash_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_hash_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_legacy_hash"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_apikey_legacy_hash,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_rate_limit_scope"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_set_enum,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apikey_main_conf_t, scope),
      &ngx_http_apikey_scopes },

    { ngx_string("apikey_rate_limit_offline"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_set_enum,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apikey_main_conf_t, offline),
      &ngx_http_apikey_offline },

    { ngx_string("apikey_snapshot"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_set_path,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apikey_main_conf_t, snapshot),
      NULL },

    { ngx_string("apikey_max_stale"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_apikey_max_stale,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, enable),
      NULL },

    { ngx_string("apikey_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_headers,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_prefix,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_checksum"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, checksum),
      NULL },

    { ngx_string("apikey_resource"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, resource),
      NULL },

    { ngx_string("apikey_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_apikey_rate_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_ratelimit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, ratelimit_headers),
      &ngx_http_apikey_ratelimit_headers },

    { ngx_string("apikey_error_style"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_apikey_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, error_style),
      &ngx_http_apikey_styles },

    { ngx_string("apikey_pass_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, pass_key),
      NULL },

    { ngx_string("apikey_expiry_warning"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_apikey_expiry_warning,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apikey_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apikey_loc_conf_t, dry_run),
      NULL },

    { ngx_string("apikey_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_apikey_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_apikey_module_ctx = {
    ngx_http_apikey_preconfiguration,      /* preconfiguration */
    ngx_http_apikey_postconfiguration,     /* postconfiguration */

    ngx_http_apikey_create_main_conf,      /* create main configuration */
    ngx_http_apikey_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_apikey_create_loc_conf,       /* create location configuration */
    ngx_http_apikey_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_apikey_module = {
    NGX_MODULE_V1,
    &ngx_http_apikey_module_ctx,           /* module context */
    ngx_http_apikey_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_apikey_init_module,           /* init module */
    ngx_http_apikey_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_apikey_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_apikey_preconfiguration(ngx_conf_t *cf)
{
    if (sodium_init() < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apikey: libsodium could not be initialized");
        return NGX_ERROR;
    }

    return ngx_http_apikey_add_variables(cf);
}


static ngx_int_t
ngx_http_apikey_postconfiguration(ngx_conf_t *cf)
{
    ngx_array_t                  *a;
    ngx_http_handler_pt          *h, *hs;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_apikey_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apikey_module);

    if (!amcf->enabled_anywhere) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_apikey_access_handler;

    /* subrequests skip the access phase */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_apikey_subrequest_handler;

    /*
     * Under "satisfy any" the refusal waits for the other access modules:
     * a handler that runs after all of them (the phase runs its array from
     * the end) sends it.  Only configurations that need it pay for it.
     */

    if (amcf->satisfy_any) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        a = &cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers;
        hs = a->elts;

        ngx_memmove(&hs[1], &hs[0], (a->nelts - 1) * sizeof(*hs));
        hs[0] = ngx_http_apikey_deferred_handler;
    }

    if (ngx_http_apikey_patch_headers_in(cf) != NGX_OK
        || ngx_http_apikey_sunset_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_apikey_limit_init(cf);
}


static void *
ngx_http_apikey_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_apikey_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->shm_zone = NULL;
     *     amcf->redis = NULL;
     *     amcf->hash_secret = { 0, NULL };
     *     amcf->snapshot = { 0, NULL };
     *     amcf->enabled_anywhere = 0;
     *     amcf->max_stale_fail = 0;
     *     amcf->names = NULL;
     *     amcf->legacy_hmac = NULL;
     */

    amcf->sync_interval = NGX_CONF_UNSET_MSEC;
    amcf->scope = NGX_CONF_UNSET_UINT;
    amcf->max_stale = NGX_CONF_UNSET;
    amcf->offline = NGX_CONF_UNSET_UINT;
    amcf->legacy = NGX_CONF_UNSET_UINT;

    return amcf;
}


static char *
ngx_http_apikey_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_apikey_main_conf_t  *amcf = conf;

    ngx_conf_init_msec_value(amcf->sync_interval, 60000);
    ngx_conf_init_uint_value(amcf->scope, NGX_HTTP_APIKEY_SCOPE_LOCAL);
    ngx_conf_init_value(amcf->max_stale, 0);
    ngx_conf_init_uint_value(amcf->offline, NGX_HTTP_APIKEY_OFFLINE_SHARE);
    ngx_conf_init_uint_value(amcf->legacy, 0);

    return NGX_CONF_OK;
}


static void *
ngx_http_apikey_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_apikey_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->headers = 0;
     *     alcf->names = NULL;
     *     alcf->unauthorized = { 0, NULL };
     *     alcf->prefix = { 0, NULL };
     *     alcf->resource = NULL;
     *     alcf->status = 0;
     *     alcf->expiry_link = { 0, NULL };
     *     alcf->rate_limit = { 0 };
     */

    alcf->enable = NGX_CONF_UNSET;
    alcf->checksum = NGX_CONF_UNSET;
    alcf->rate_limit_set = NGX_CONF_UNSET_UINT;
    alcf->ratelimit_headers = NGX_CONF_UNSET_UINT;
    alcf->error_style = NGX_CONF_UNSET_UINT;
    alcf->pass_key = NGX_CONF_UNSET;
    alcf->dry_run = NGX_CONF_UNSET;
    alcf->resource = NGX_CONF_UNSET_PTR;
    alcf->expiry_warning = NGX_CONF_UNSET;

    return alcf;
}


static char *
ngx_http_apikey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_apikey_loc_conf_t *prev = parent;
    ngx_http_apikey_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_apikey_main_conf_t  *amcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->headers == 0) {
        conf->headers = prev->headers ? prev->headers
                        : (NGX_HTTP_APIKEY_HEADER_BEARER
                           | NGX_HTTP_APIKEY_HEADER_XSECRET);
        conf->unauthorized = prev->unauthorized;
    }

    if (conf->prefix.data == NULL) {
        conf->prefix = prev->prefix;
    }

    ngx_conf_merge_value(conf->checksum, prev->checksum, 0);
    ngx_conf_merge_ptr_value(conf->resource, prev->resource, NULL);
    if (conf->rate_limit_set == NGX_CONF_UNSET_UINT) {
        conf->rate_limit_set = prev->rate_limit_set;
        conf->rate_limit = prev->rate_limit;
    }

    ngx_conf_merge_uint_value(conf->ratelimit_headers,
                              prev->ratelimit_headers,
                              NGX_HTTP_APIKEY_RLH_X);
    ngx_conf_merge_uint_value(conf->error_style, prev->error_style,
                              NGX_HTTP_APIKEY_STYLE_DETAIL);
    ngx_conf_merge_value(conf->pass_key, prev->pass_key, 0);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);

    /* the link is a parameter of the warning: inherited with it only */

    if (conf->expiry_warning == NGX_CONF_UNSET) {
        conf->expiry_link = prev->expiry_link;
    }

    ngx_conf_merge_value(conf->expiry_warning, prev->expiry_warning, 0);

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apikey_module);

    /* every location reads the custom headers named anywhere */

    conf->names = amcf->names;

    /* nginx's own lines about request headers must not show keys either */

    if (amcf->shm_zone) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (ngx_http_apikey_guard_log(cf, clcf->error_log, amcf->names)
            != NGX_OK
            || ngx_http_apikey_guard_log(cf, &cf->cycle->new_log,
                                         amcf->names)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (!conf->enable && !conf->status) {
        return NGX_CONF_OK;
    }

    if (amcf->shm_zone == NULL || amcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" requires \"apikey_zone\" and "
                           "\"apikey_redis\" in the http block",
                           conf->enable ? "apikey on" : "apikey_status");
        return NGX_CONF_ERROR;
    }

    if (conf->enable) {
        amcf->enabled_anywhere = 1;

        /* core's merge ran before ours: satisfy is final here */

        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
            amcf->satisfy_any = 1;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_apikey_init_module(ngx_cycle_t *cycle)
{
    if (sodium_init() < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "apikey: libsodium could not be initialized");
        return NGX_ERROR;
    }

    /*
     * The master never waits for Redis, nor reads the snapshot: the nginx
     * command returns at once.  See ngx_http_apikey_init_process().
     */

    return NGX_OK;
}


static ngx_int_t
ngx_http_apikey_init_process(ngx_cycle_t *cycle)
{
    ngx_http_apikey_main_conf_t  *amcf;

    /* only processes that serve requests sync, and only with a zone */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_apikey_module);

    if (amcf == NULL || amcf->shm_zone == NULL || amcf->redis == NULL) {
        return NGX_OK;
    }

    if (ngx_http_apikey_snapshot_init_process(cycle, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_apikey_sync_init_process(cycle, amcf) != NGX_OK
        || ngx_http_apikey_usage_init_process(cycle, amcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_apikey_health_init_process(cycle, amcf);
}


static void
ngx_http_apikey_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_apikey_sync_exit_process(cycle);
}


static char *
ngx_http_apikey_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t *amcf = conf;

    u_char                  *p;
    ssize_t                  size;
    ngx_str_t               *value, name, s;
    ngx_http_apikey_zone_t  *zone;

    if (amcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"name:size\"", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (64 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small in \"%V\" directive, "
                           "it must be at least %uzk", &name, &cmd->name,
                           (size_t) (64 * ngx_pagesize) / 1024);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->size = size;

    amcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_apikey_module);
    if (amcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (amcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" in \"%V\" directive is already used",
                           &name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone->init = ngx_http_apikey_init_zone;
    amcf->shm_zone->data = zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_apikey_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t *amcf = conf;

    u_char                        *p, text[NGX_SOCKADDR_STRLEN];
    size_t                         len;
    ngx_int_t                      n;
    ngx_url_t                      u;
    ngx_str_t                     *value, *arg, file;
    ngx_uint_t                     i, password_file;
    ngx_http_apikey_redis_conf_t  *rcf;

    if (amcf->redis) {
        return "is duplicate";
    }

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apikey_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    rcf->address = value[1];
    ngx_str_set(&rcf->prefix, "apikey:");
    password_file = 0;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rcf->unix_path.len = value[1].len - 5;
        rcf->unix_path.data = ngx_pnalloc(cf->pool, rcf->unix_path.len + 1);
        if (rcf->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rcf->unix_path.data, value[1].data + 5,
                    rcf->unix_path.len + 1);

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = 6379;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in \"%V\" directive%s%s",
                               &value[1], &cmd->name, u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_CONF_ERROR;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                            NGX_SOCKADDR_STRLEN, 0);

        p = text;

        if (len > 2 && text[0] == '[') {
            p++;
            len -= 2;
        }

        rcf->host.data = ngx_pnalloc(cf->pool, len + 1);
        if (rcf->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        rcf->host.len = len;
        ngx_cpystrn(rcf->host.data, p, len + 1);
        rcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    for (i = 2; i < cf->args->nelts; i++) {
        arg = &value[i];

        if (ngx_strncmp(arg->data, "db=", 3) == 0) {
            n = ngx_atoi(arg->data + 3, arg->len - 3);
            if (n == NGX_ERROR || n > 1000000) {
                goto invalid;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(arg->data, "user=", 5) == 0 && arg->len > 5) {
            rcf->user.data = arg->data + 5;
            rcf->user.len = arg->len - 5;
            continue;
        }

        if (ngx_strncmp(arg->data, "password=", 9) == 0 && arg->len > 9) {
            if (password_file) {
                goto exclusive;
            }

            rcf->password.data = arg->data + 9;
            rcf->password.len = arg->len - 9;
            continue;
        }

        if (ngx_strncmp(arg->data, "password_file=", 14) == 0) {
            if (rcf->password.len) {
                goto exclusive;
            }

            password_file = 1;
            file.data = arg->data + 14;
            file.len = arg->len - 14;

            if (ngx_http_apikey_password_file(cf, cmd, &file, &rcf->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(arg->data, "prefix=", 7) == 0
            && arg->len - 7 <= NGX_HTTP_APIKEY_MAX_PREFIX)
        {
            rcf->prefix.data = arg->data + 7;
            rcf->prefix.len = arg->len - 7;
            continue;
        }

        switch (ngx_http_apikey_transport_arg(cf, rcf, arg)) {
        case NGX_OK:
            continue;
        case NGX_ERROR:
            return NGX_CONF_ERROR;
        default:
            goto invalid;
        }
    }

    if (ngx_http_apikey_transport_check(cf, rcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (rcf->user.len && rcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"user=\" needs \"password=\" in \"%V\" directive",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    amcf->redis = rcf;

    return NGX_CONF_OK;

exclusive:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "one password only: \"password=\" or "
                       "\"password_file=\", once, in \"%V\" directive",
                       &cmd->name);
    return NGX_CONF_ERROR;

invalid:

    /* a password must not reach the log, even under a mistyped name */

    if (ngx_strncasecmp(arg->data, (u_char *) "pass", 4) == 0) {
        p = ngx_strlchr(arg->data, arg->data + arg->len, '=');

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%*s...\" in \"%V\" "
                           "directive", (size_t) (p ? p + 1 - arg->data : 4),
                           arg->data,
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive",
                       arg, &cmd->name);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_apikey_hash_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t *amcf = conf;

    ngx_int_t   rc;
    ngx_str_t  *value, name;

    if (amcf->hash_secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    rc = ngx_http_apikey_read_secret(cf, cmd, &name, 64, &amcf->hash_secret);

    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DECLINED || amcf->hash_secret.len < 32) {
        ngx_str_null(&amcf->hash_secret);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" in \"%V\" directive must hold "
                           "32 to 64 bytes", &name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apikey_headers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t *alcf = conf;

    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_apikey_main_conf_t  *amcf;

    if (alcf->headers) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 6
            && ngx_strncasecmp(value[i].data, (u_char *) "bearer", 6) == 0)
        {
            alcf->headers |= NGX_HTTP_APIKEY_HEADER_BEARER;
            continue;
        }

        if (value[i].len == 12
            && ngx_strncasecmp(value[i].data, (u_char *) "x-secret-key", 12)
               == 0)
        {
            alcf->headers |= NGX_HTTP_APIKEY_HEADER_XSECRET;
            continue;
        }

        if (value[i].len >= 7
            && ngx_strncasecmp(value[i].data, (u_char *) "header:", 7) == 0)
        {
            amcf = ngx_http_conf_get_module_main_conf(cf,
                                                      ngx_http_apikey_module);

            if (ngx_http_apikey_custom_header(cf, cmd, alcf, &amcf->names,
                                              &value[i])
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"bearer\" or \"x-secret-key\" "
                           "or \"header:<name>\"",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apikey_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t *alcf = conf;

    ngx_str_t   *value;

    if (alcf->prefix.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /*
     * the schema's rule, as apikeyctl's --key-prefix: a longer prefix
     * could carry no generated key (32 random and 6 checksum characters)
     */

    if (!ngx_apikey_key_prefix_valid(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be 1 to %d token characters "
                           "(A-Z a-z 0-9 - . _ ~ + /)", &value[1], &cmd->name,
                           NGX_APIKEY_MAX_KEY_PREFIX);
        return NGX_CONF_ERROR;
    }

    alcf->prefix = value[1];

    return NGX_CONF_OK;
}


/*
 * "off", or the terms of the record's "limit" (ngx_apikey_format.c), in
 * one argument or several: "20/s 1000/h", or 20/s 1000/h; each N at
 * least 1, and each with its unit: here a bare number was never valid.
 */

static char *
ngx_http_apikey_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t *alcf = conf;

    u_char      *p, *last;
    ngx_str_t   *value;
    ngx_uint_t   i, w, slash;

    if (alcf->rate_limit_set != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&alcf->rate_limit, sizeof(ngx_apikey_limits_t));
    alcf->rate_limit_set = 1;

    if (cf->args->nelts == 2
        && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        /* every term has a '/' */

        slash = 0;

        for (p = value[i].data, last = p + value[i].len; p < last; p++) {
            if (*p == ' ') {
                continue;
            }

            if (p == value[i].data || p[-1] == ' ') {
                slash = 0;
            }

            if (*p == '/') {
                slash = 1;
            }

            if ((p + 1 == last || p[1] == ' ') && !slash) {
                goto invalid;
            }
        }

        if (ngx_apikey_parse_limits(value[i].data, value[i].len,
                                    &alcf->rate_limit)
            != NGX_APIKEY_OK)
        {
            goto invalid;
        }

        for (w = 0; w < NGX_HTTP_APIKEY_NWINDOWS; w++) {
            if ((alcf->rate_limit.set & (1u << w))
                && alcf->rate_limit.n[w] == 0)
            {
                goto invalid;
            }
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be one or more of \"N/s\" (N from 1 to "
                       "%uD), \"N/m\", \"N/h\", \"N/d\" (N from 1 to "
                       "%uD, at most one of each), or \"off\"",
                       &value[i], &cmd->name,
                       (uint32_t) NGX_APIKEY_LIMIT_MAX_SECOND,
                       (uint32_t) NGX_HTTP_APIKEY_LIMIT_MAX);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_apikey_set_time(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t   *value;
    ngx_msec_t  *msp;

    msp = (ngx_msec_t *) (p + cmd->offset);

    if (*msp != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *msp = ngx_parse_time(&value[1], 0);

    if (*msp == (ngx_msec_t) NGX_ERROR || *msp == 0
        || *msp > 7 * 24 * 3600 * 1000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a time from 1ms to 7d",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apikey_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t        *value;
    ngx_uint_t       *np, i;
    ngx_conf_enum_t  *e;

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len != 0; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            *np = e[i].value;
            return NGX_CONF_OK;
        }
    }

    if (e[2].name.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"%V\", \"%V\" or \"%V\"",
                           &value[1], &cmd->name, &e[0].name, &e[1].name,
                           &e[2].name);
        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be \"%V\" or \"%V\"",
                       &value[1], &cmd->name, &e[0].name, &e[1].name);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_apikey_set_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *field = value[1];

    if (field->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"\" in \"%V\" directive",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, field, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
