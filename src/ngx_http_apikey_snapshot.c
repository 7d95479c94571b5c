
/*
 * apikey_snapshot: the mirror written to disk after each full load, so
 * that a starting nginx can decide at once while Redis is down.
 */


#include "ngx_http_apikey.h"


ngx_int_t
ngx_http_apikey_snapshot_write(ngx_http_apikey_zone_t *zone, ngx_str_t *path,
    ngx_log_t *log)
{
    return NGX_DECLINED;
}


ngx_int_t
ngx_http_apikey_snapshot_load(ngx_http_apikey_zone_t *zone, ngx_str_t *path,
    ngx_log_t *log)
{
    return NGX_DECLINED;
}
