
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The module's version, defined once: the status output (JSON "version",
 * Prometheus apikey_build_info) and apikeyctl --version show it, and
 * debian/changelog and the release tag vX.Y.Z must match it
 * (docs/releasing.md).  Plain C, no nginx headers, so that tools/ can
 * include it too.
 */


#ifndef _NGX_HTTP_APIKEY_VERSION_H_INCLUDED_
#define _NGX_HTTP_APIKEY_VERSION_H_INCLUDED_


#define ngx_http_apikey_version_num  2000
#define NGX_HTTP_APIKEY_VERSION      "0.2.0"


#endif /* _NGX_HTTP_APIKEY_VERSION_H_INCLUDED_ */
