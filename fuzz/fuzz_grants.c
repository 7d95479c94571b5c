
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Fuzzes the grants of limited keys: ngx_apikey_parse_grants()
 * (src/ngx_apikey_format.c, the schema library), then
 * ngx_http_apikey_permitted() (src/ngx_http_apikey_policy.c) on a record
 * holding those grants.
 *
 * Input: byte 0 picks the request method, byte 1 how many bytes of
 * id/owner/name precede the grants in the record (so that they sit at odd
 * offsets); then the location's resource up to the first '\n', then the
 * record's "grants" field.
 *
 * Invariants: parsed grants are well formed ([perm][len][name], perm read
 * or read+write, each name once, at most 4096 bytes); permitted() for a
 * limited key agrees with a reference reading of the grant string: a grant
 * string without ":w", ":rw" or ":wr" for that resource never permits a
 * write method, one without any grant for it permits nothing, and a
 * location without a resource refuses limited keys; full keys get all
 * methods, read keys exactly GET, HEAD and OPTIONS.
 */


#include "fuzz_common.h"


static ngx_uint_t  fuzz_methods[] = {
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_OPTIONS, NGX_HTTP_POST,
    NGX_HTTP_PUT, NGX_HTTP_DELETE, NGX_HTTP_PATCH, NGX_HTTP_MKCOL,
    NGX_HTTP_COPY, NGX_HTTP_MOVE, NGX_HTTP_PROPFIND, NGX_HTTP_PROPPATCH,
    NGX_HTTP_LOCK, NGX_HTTP_UNLOCK, NGX_HTTP_TRACE, NGX_HTTP_CONNECT,
    NGX_HTTP_UNKNOWN
};


/*
 * The permissions the grant string gives resource, read directly off the
 * text: the tokens between spaces are "name:perm", name being everything
 * before the last ':'.  Returns -1 where the module must refuse the string.
 */

static ngx_int_t
fuzz_ref_grants(u_char *p, size_t len, ngx_str_t *resource)
{
    u_char     *last, *start, *colon, *q;
    size_t      tlen;
    ngx_int_t   perm, have;

    last = p + len;
    have = 0;

    while (p < last) {
        if (*p == ' ') {
            p++;
            continue;
        }

        start = p;

        while (p < last && *p != ' ') {
            if (*p < 0x21 || *p == 0x7f) {
                return -1;
            }

            p++;
        }

        colon = NULL;

        for (q = start; q < p; q++) {
            if (*q == ':') {
                colon = q;
            }
        }

        if (colon == NULL || colon == start || colon - start > 255) {
            return -1;
        }

        tlen = p - colon - 1;

        if (tlen == 1 && colon[1] == 'r') {
            perm = NGX_HTTP_APIKEY_GRANT_READ;

        } else if ((tlen == 1 && colon[1] == 'w')
                   || (tlen == 2 && colon[1] == 'r' && colon[2] == 'w')
                   || (tlen == 2 && colon[1] == 'w' && colon[2] == 'r'))
        {
            perm = NGX_HTTP_APIKEY_GRANT_READ|NGX_HTTP_APIKEY_GRANT_WRITE;

        } else {
            return -1;
        }

        if ((size_t) (colon - start) == resource->len
            && memcmp(start, resource->data, resource->len) == 0)
        {
            have |= perm;
        }
    }

    return have;
}


static void
fuzz_check_format(u_char *out, size_t out_len)
{
    u_char  *g, *h, *last;

    fuzz_check(out_len <= NGX_HTTP_APIKEY_MAX_GRANTS_LEN,
               "grants longer than 4096 bytes");

    last = out + out_len;

    for (g = out; g < last; g += 2 + g[1]) {
        fuzz_check(g + 2 <= last && g + 2 + g[1] <= last,
                   "a grant runs past the end");
        fuzz_check(g[0] == NGX_HTTP_APIKEY_GRANT_READ
                   || g[0] == (NGX_HTTP_APIKEY_GRANT_READ
                               |NGX_HTTP_APIKEY_GRANT_WRITE),
                   "a grant's permission is not r or rw");
        fuzz_check(g[1] > 0, "a grant without a name");

        for (h = out; h < g; h += 2 + h[1]) {
            fuzz_check(!(h[1] == g[1] && memcmp(h + 2, g + 2, g[1]) == 0),
                       "a resource granted twice");
        }
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                    *nl, *out, *grants;
    size_t                     out_len, skip, glen;
    ngx_int_t                  rc, ref;
    ngx_str_t                  resource;
    ngx_uint_t                 method, need, ok;
    ngx_http_apikey_record_t  *rec;

    if (size < 2 || size > 16384) {
        return 0;
    }

    method = fuzz_methods[data[0] % (sizeof(fuzz_methods)
                                     / sizeof(ngx_uint_t))];
    skip = data[1] % 8;

    data += 2;
    size -= 2;

    nl = memchr(data, '\n', size);

    if (nl) {
        resource.len = nl - data;
        glen = size - resource.len - 1;
        grants = fuzz_dup(nl + 1, glen);

    } else {
        resource.len = 0;
        glen = size;
        grants = fuzz_dup(data, glen);
    }

    resource.data = fuzz_dup(data, resource.len);

    out = malloc(NGX_HTTP_APIKEY_MAX_GRANTS_LEN);
    if (out == NULL) {
        abort();
    }

    out_len = (size_t) -1;

    rc = ngx_apikey_parse_grants(grants, glen, out, &out_len);
    ref = fuzz_ref_grants(grants, glen, &resource);

    fuzz_check(rc == NGX_APIKEY_OK || rc == NGX_APIKEY_BAD,
               "parse_grants returned an unexpected code");

    if (rc == NGX_APIKEY_OK && ref == -1) {
        fuzz_check(0, "parse_grants accepted a string the reference refuses");
    }

    if (rc != NGX_APIKEY_OK) {
        /* the module may refuse more (e.g. more than 4096 bytes) */
        goto done;
    }

    fuzz_check_format(out, out_len);

    /* a record with the grants after skip bytes of id/owner/name */

    rec = malloc(offsetof(ngx_http_apikey_record_t, data) + skip + out_len);
    if (rec == NULL) {
        abort();
    }

    ngx_memzero(rec, offsetof(ngx_http_apikey_record_t, data));
    memset(rec->data, 'x', skip);
    rec->id_len = (uint8_t) (skip > 0);
    rec->owner_len = (uint8_t) (skip > 1 ? skip / 2 : 0);
    rec->name_len = (uint8_t) (skip - rec->id_len - rec->owner_len);
    rec->grants_len = (uint16_t) out_len;
    memcpy(ngx_http_apikey_record_grants(rec), out, out_len);

    need = (method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS))
           ? NGX_HTTP_APIKEY_GRANT_READ : NGX_HTTP_APIKEY_GRANT_WRITE;

    rec->access = NGX_HTTP_APIKEY_ACCESS_LIMITED;
    ok = ngx_http_apikey_permitted(rec, method, &resource);

    if (resource.len == 0) {
        fuzz_check(!ok, "a limited key passes where there is no resource");
    }

    if (need == NGX_HTTP_APIKEY_GRANT_WRITE
        && !(ref & NGX_HTTP_APIKEY_GRANT_WRITE))
    {
        fuzz_check(!ok, "a write method permitted without :w/:rw/:wr");
    }

    if (ref == 0) {
        fuzz_check(!ok, "permitted without any grant for the resource");
    }

    fuzz_check(ok == (resource.len && (ref & need) ? 1 : 0),
               "permitted() disagrees with the grant string");

    rec->access = NGX_HTTP_APIKEY_ACCESS_FULL;
    fuzz_check(ngx_http_apikey_permitted(rec, method, &resource),
               "a full key refused");

    rec->access = NGX_HTTP_APIKEY_ACCESS_READ;
    fuzz_check(ngx_http_apikey_permitted(rec, method, &resource)
               == (need == NGX_HTTP_APIKEY_GRANT_READ),
               "a read key: GET, HEAD and OPTIONS only");

    rec->access = 0;
    fuzz_check(!ngx_http_apikey_permitted(rec, method, &resource),
               "a record with no access permits");

    free(rec);

done:

    free(out);
    free(grants);
    free(resource.data);

    return 0;
}
