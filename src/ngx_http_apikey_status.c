
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The apikey_status location (docs/observability.md): keys loaded, zone use,
 * the state of the sync, and counts per decision, as JSON or, with
 * ?format=prometheus, in the Prometheus text exposition format.
 */


#include "ngx_http_apikey.h"
#include "ngx_http_apikey_version.h"


static ngx_int_t ngx_http_apikey_status_handler(ngx_http_request_t *r);
static u_char *ngx_http_apikey_status_json(u_char *p,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_shctx_t *snap,
    size_t used, size_t free);
static u_char *ngx_http_apikey_status_prometheus(u_char *p,
    ngx_http_apikey_zone_t *zone, ngx_http_apikey_shctx_t *snap,
    size_t used, size_t free);


static ngx_str_t  ngx_http_apikey_sync_states[] = {
    ngx_string("idle"),
    ngx_string("connecting"),
    ngx_string("loading"),
    ngx_string("synced"),
    ngx_string("down")
};


/* what Redis holds, see ngx_http_apikey_changes.c */
static ngx_str_t  ngx_http_apikey_datasets[] = {
    ngx_string("ok"),
    ngx_string("missing"),
    ngx_string("changed")
};


/*
 * The Prometheus text, the longer, is under 6000 bytes besides the zone's
 * name (every counter at its 20 digits), which it holds 44 times.
 */

#define NGX_HTTP_APIKEY_STATUS_SIZE  6144
#define NGX_HTTP_APIKEY_STATUS_ZONES 64


char *
ngx_http_apikey_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_loc_conf_t *alcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (alcf->status) {
        return "is duplicate";
    }

    alcf->status = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_apikey_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_apikey_status_handler(ngx_http_request_t *r)
{
    size_t                        free, used;
    ngx_int_t                     rc;
    ngx_str_t                     format;
    ngx_buf_t                    *b;
    ngx_uint_t                    prometheus;
    ngx_chain_t                   out;
    ngx_http_apikey_zone_t       *zone;
    ngx_http_apikey_shctx_t       snap;
    ngx_http_apikey_main_conf_t  *amcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            prometheus = 1;

        } else if (!(format.len == 4
                     && ngx_strncmp(format.data, "json", 4) == 0))
        {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apikey_module);
    zone = amcf->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    snap = *zone->sh;

    /* the Redis the sync last connected to: a sentinel may move it */
    snap.redis_address[NGX_HTTP_APIKEY_ADDRESS_LEN - 1] = '\0';
    free = zone->shpool->pfree * ngx_pagesize;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    used = zone->size > free ? zone->size - free : 0;

    if (prometheus) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_APIKEY_STATUS_SIZE
                                     + NGX_HTTP_APIKEY_HEALTH_STATUS_SIZE
                                     + zone->name.len
                                       * NGX_HTTP_APIKEY_STATUS_ZONES);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (prometheus) {
        b->last = ngx_http_apikey_status_prometheus(b->last, zone, &snap,
                                                    used, free);

    } else {
        b->last = ngx_http_apikey_status_json(b->last, zone, &snap, used,
                                              free);
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static u_char *
ngx_http_apikey_status_json(u_char *p, ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_shctx_t *snap, size_t used, size_t free)
{
    ngx_uint_t  i;

    p = ngx_sprintf(p, "{\"zone\":\"%V\",\"keys\":%ui,\"loaded\":%s,"
                    "\"zone_bytes\":{\"size\":%uz,\"used\":%uz,"
                    "\"free\":%uz},",
                    &zone->name, snap->nkeys,
                    snap->loaded ? "true" : "false",
                    zone->size, used, free);

    p = ngx_sprintf(p, "\"sync\":{\"state\":\"%V\",\"owner_pid\":%uA,"
                    "\"last_full_sync\":%T,\"last_full_sync_ms\":%M,"
                    "\"full_syncs\":%uA,\"events_applied\":%uA,"
                    "\"reconnects\":%uA,\"skipped_records\":%uA,"
                    "\"zone_full_updates\":%uA,"
                    "\"from_snapshot\":%s,\"dataset\":\"%V\","
                    "\"position\":\"%*s\",\"redis_address\":\"%s\"},"
                    "\"keys_near_limit\":%uA,",
                    &ngx_http_apikey_sync_states[snap->sync_state],
                    snap->owner, snap->last_full_sync,
                    snap->last_full_sync_ms, snap->full_syncs,
                    snap->events_applied, snap->reconnects,
                    snap->skipped_records, snap->zone_full_updates,
                    snap->from_snapshot ? "true" : "false",
                    &ngx_http_apikey_datasets[snap->dataset],
                    snap->position_len, snap->position,
                    snap->redis_address, snap->near_limit);

    p = ngx_http_apikey_health_json(p, snap);

    p = ngx_http_apikey_quota_status(p, snap, &zone->name, 0);

    p = ngx_sprintf(p, "\"decisions\":{");

    for (i = 0; i < NGX_HTTP_APIKEY_NDECISIONS; i++) {
        p = ngx_sprintf(p, "%s\"%V\":%uA", i ? "," : "",
                        &ngx_http_apikey_decision_names[i],
                        snap->decisions[i]);
    }

    /* refusals that apikey_dry_run let through; "ok" is never one */

    p = ngx_sprintf(p, "},\"dry_run\":{");

    for (i = NGX_HTTP_APIKEY_OK + 1; i < NGX_HTTP_APIKEY_NDECISIONS; i++) {
        p = ngx_sprintf(p, "%s\"%V\":%uA", (i > 1) ? "," : "",
                        &ngx_http_apikey_decision_names[i],
                        snap->dry_run[i]);
    }

    return ngx_sprintf(p, "},\"version\":\"%s\"}\n",
                       NGX_HTTP_APIKEY_VERSION);
}


static u_char *
ngx_http_apikey_status_prometheus(u_char *p, ngx_http_apikey_zone_t *zone,
    ngx_http_apikey_shctx_t *snap, size_t used, size_t free)
{
    ngx_uint_t  i;
    ngx_str_t  *z;

    z = &zone->name;

    p = ngx_sprintf(p,
            "# HELP apikey_build_info The module's version.\n"
            "# TYPE apikey_build_info gauge\n"
            "apikey_build_info{version=\"%s\"} 1\n",
            NGX_HTTP_APIKEY_VERSION);

    p = ngx_sprintf(p,
            "# HELP apikey_keys Keys loaded in the zone.\n"
            "# TYPE apikey_keys gauge\n"
            "apikey_keys{zone=\"%V\"} %ui\n"
            "# HELP apikey_loaded Whether a complete key set is served.\n"
            "# TYPE apikey_loaded gauge\n"
            "apikey_loaded{zone=\"%V\"} %d\n"
            "# HELP apikey_zone_bytes Shared zone bytes by use.\n"
            "# TYPE apikey_zone_bytes gauge\n"
            "apikey_zone_bytes{zone=\"%V\",state=\"used\"} %uz\n"
            "apikey_zone_bytes{zone=\"%V\",state=\"free\"} %uz\n",
            z, snap->nkeys, z, snap->loaded ? 1 : 0, z, used, z, free);

    p = ngx_sprintf(p,
            "# HELP apikey_sync_state Current state of the Redis sync.\n"
            "# TYPE apikey_sync_state gauge\n");

    for (i = 0; i < sizeof(ngx_http_apikey_sync_states) / sizeof(ngx_str_t);
         i++)
    {
        p = ngx_sprintf(p, "apikey_sync_state{zone=\"%V\",state=\"%V\"} %d\n",
                        z, &ngx_http_apikey_sync_states[i],
                        snap->sync_state == i ? 1 : 0);
    }

    p = ngx_sprintf(p,
            "# HELP apikey_last_full_sync_timestamp_seconds "
            "End of the last full sync.\n"
            "# TYPE apikey_last_full_sync_timestamp_seconds gauge\n"
            "apikey_last_full_sync_timestamp_seconds{zone=\"%V\"} %T\n"
            "# HELP apikey_last_full_sync_duration_seconds "
            "Duration of the last full sync.\n"
            "# TYPE apikey_last_full_sync_duration_seconds gauge\n"
            "apikey_last_full_sync_duration_seconds{zone=\"%V\"} %M.%03M\n"
            "# HELP apikey_full_syncs_total Full syncs completed.\n"
            "# TYPE apikey_full_syncs_total counter\n"
            "apikey_full_syncs_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_events_applied_total Key change events applied.\n"
            "# TYPE apikey_events_applied_total counter\n"
            "apikey_events_applied_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_redis_reconnects_total Redis reconnections.\n"
            "# TYPE apikey_redis_reconnects_total counter\n"
            "apikey_redis_reconnects_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_records_skipped_total "
            "Records refused for breaking the schema.\n"
            "# TYPE apikey_records_skipped_total counter\n"
            "apikey_records_skipped_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_zone_full_updates_total "
            "Key updates not applied because the zone was full.\n"
            "# TYPE apikey_zone_full_updates_total counter\n"
            "apikey_zone_full_updates_total{zone=\"%V\"} %uA\n"
            "# HELP apikey_keys_near_limit_total "
            "Keys that reached 90%% of their hourly limit in a window.\n"
            "# TYPE apikey_keys_near_limit_total counter\n"
            "apikey_keys_near_limit_total{zone=\"%V\"} %uA\n",
            z, snap->last_full_sync,
            z, snap->last_full_sync_ms / 1000, snap->last_full_sync_ms % 1000,
            z, snap->full_syncs, z, snap->events_applied,
            z, snap->reconnects, z, snap->skipped_records,
            z, snap->zone_full_updates, z, snap->near_limit);

    p = ngx_http_apikey_health_prometheus(p, z, snap);
    p = ngx_http_apikey_quota_status(p, snap, z, 1);

    p = ngx_sprintf(p,
            "# HELP apikey_decisions_total Access decisions by outcome.\n"
            "# TYPE apikey_decisions_total counter\n");

    for (i = 0; i < NGX_HTTP_APIKEY_NDECISIONS; i++) {
        p = ngx_sprintf(p,
                        "apikey_decisions_total{zone=\"%V\",decision=\"%V\"}"
                        " %uA\n", z, &ngx_http_apikey_decision_names[i],
                        snap->decisions[i]);
    }

    p = ngx_sprintf(p,
            "# HELP apikey_dry_run_refusals_total "
            "Refusals let through by apikey_dry_run, by outcome.\n"
            "# TYPE apikey_dry_run_refusals_total counter\n");

    for (i = NGX_HTTP_APIKEY_OK + 1; i < NGX_HTTP_APIKEY_NDECISIONS; i++) {
        p = ngx_sprintf(p,
                        "apikey_dry_run_refusals_total{zone=\"%V\","
                        "decision=\"%V\"} %uA\n",
                        z, &ngx_http_apikey_decision_names[i],
                        snap->dry_run[i]);
    }

    return p;
}
