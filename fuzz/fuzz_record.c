
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Fuzzes the record parser (src/ngx_http_apikey_record.c): a key's
 * HGETALL reply into the packed record image, in the schema of docs/keys.md.
 *
 * Input: the reply's elements (names and values alternating), separated
 * by NUL bytes.  Every element that is 64 bytes long is also given to
 * ngx_http_apikey_hex_to_digest().
 *
 * Invariants: NGX_DECLINED only for an empty reply; NGX_ERROR logs exactly
 * one line; on NGX_OK the size is ngx_http_apikey_record_size(rec) and at
 * most ngx_http_apikey_record_max_size(), and the record says exactly what
 * its fields say (the last copy of a repeated field counts): access is 1..3
 * and FULL only for "full", READ only for "read", LIMITED only for
 * "limited"; active is 0 unless the field is absent or "1"; expires,
 * deprecated, id, owner and name are the fields' values; limit and the
 * windows are what a reference reading of the "limit" terms gives
 * (fuzz_limits()); no "ips"
 * field gives nips 0, and an "ips" field gives one entry per CIDR; grants
 * are what ngx_apikey_parse_grants() makes of the field.
 */


#include "fuzz_common.h"


#define FUZZ_MAX_ELEMENTS  (NGX_HTTP_APIKEY_MAX_FIELDS + 8)


typedef struct {
    fuzz_piece_t   *id;
    fuzz_piece_t   *owner;
    fuzz_piece_t   *name;
    fuzz_piece_t   *access;
    fuzz_piece_t   *grants;
    fuzz_piece_t   *expires;
    fuzz_piece_t   *deprecated;
    fuzz_piece_t   *active;
    fuzz_piece_t   *limit;
    fuzz_piece_t   *ips;
} fuzz_fields_t;


static ngx_int_t fuzz_number(fuzz_piece_t *p, uint64_t *n);
static ngx_int_t fuzz_limits(fuzz_piece_t *p, uint64_t *n, unsigned *set);


static u_char  fuzz_digest[NGX_HTTP_APIKEY_DIGEST_LEN] =
    "0123456789abcdef0123456789abcde";


static ngx_uint_t
fuzz_is(fuzz_piece_t *p, const char *s)
{
    return p && p->len == strlen(s) && memcmp(p->data, s, p->len) == 0;
}


/*
 * The terms of a "limit", read another way than the schema library does:
 * words separated by spaces, each digits with an optional "/s", "/m",
 * "/h" or "/d", no unit twice, at least one word.
 */

static ngx_int_t
fuzz_limits(fuzz_piece_t *p, uint64_t *n, unsigned *set)
{
    size_t        i, j, end;
    unsigned      w;
    uint64_t      v;
    fuzz_piece_t  num;

    *set = 0;

    for (i = 0; i < p->len; i = end + 1) {
        for (end = i; end < p->len && p->data[end] != ' '; end++) {
            /* void */
        }

        if (end == i) {
            continue;
        }

        w = NGX_HTTP_APIKEY_HOUR;
        j = end;

        if (end - i >= 2 && p->data[end - 2] == '/') {
            j = end - 2;

            switch (p->data[end - 1]) {
            case 's': w = NGX_HTTP_APIKEY_SECOND; break;
            case 'm': w = NGX_HTTP_APIKEY_MINUTE; break;
            case 'h': w = NGX_HTTP_APIKEY_HOUR; break;
            case 'd': w = NGX_HTTP_APIKEY_DAY; break;
            default: return NGX_ERROR;
            }
        }

        num.data = p->data + i;
        num.len = j - i;

        if (fuzz_number(&num, &v) != NGX_OK
            || v > (w == NGX_HTTP_APIKEY_SECOND ? 1000000
                                                : NGX_HTTP_APIKEY_LIMIT_MAX)
            || (*set & (1u << w)))
        {
            return NGX_ERROR;
        }

        n[w] = v;
        *set |= 1u << w;
    }

    return *set ? NGX_OK : NGX_ERROR;
}


/* a number as the schema means it: decimal digits only */

static ngx_int_t
fuzz_number(fuzz_piece_t *p, uint64_t *n)
{
    size_t  i;

    if (p->len == 0 || p->len > 10) {
        return NGX_ERROR;
    }

    *n = 0;

    for (i = 0; i < p->len; i++) {
        if (p->data[i] < '0' || p->data[i] > '9') {
            return NGX_ERROR;
        }

        *n = *n * 10 + (p->data[i] - '0');
    }

    return NGX_OK;
}


static void
fuzz_collect(fuzz_piece_t *el, ngx_uint_t n, fuzz_fields_t *f)
{
    ngx_uint_t  i;

    ngx_memzero(f, sizeof(fuzz_fields_t));

    for (i = 0; i + 1 < n; i += 2) {
        if (fuzz_is(&el[i], "id")) {
            f->id = &el[i + 1];

        } else if (fuzz_is(&el[i], "owner")) {
            f->owner = &el[i + 1];

        } else if (fuzz_is(&el[i], "name")) {
            f->name = &el[i + 1];

        } else if (fuzz_is(&el[i], "access")) {
            f->access = &el[i + 1];

        } else if (fuzz_is(&el[i], "grants")) {
            f->grants = &el[i + 1];

        } else if (fuzz_is(&el[i], "expires")) {
            f->expires = &el[i + 1];

        } else if (fuzz_is(&el[i], "deprecated")) {
            f->deprecated = &el[i + 1];

        } else if (fuzz_is(&el[i], "active")) {
            f->active = &el[i + 1];

        } else if (fuzz_is(&el[i], "limit")) {
            f->limit = &el[i + 1];

        } else if (fuzz_is(&el[i], "ips")) {
            f->ips = &el[i + 1];
        }
    }
}


static ngx_uint_t
fuzz_same(fuzz_piece_t *p, u_char *data, size_t len)
{
    if (p == NULL) {
        return len == 0;
    }

    return p->len == len && memcmp(p->data, data, len) == 0;
}


/* the "ips" entries against ngx_apikey_parse_cidr() of each token */

static void
fuzz_check_ips(fuzz_piece_t *ips, ngx_http_apikey_record_t *rec)
{
    u_char                  *p, *last, *start;
    ngx_uint_t               n;
    ngx_http_apikey_cidr_t   want, got;

    if (ips == NULL) {
        fuzz_check(rec->nips == 0, "no \"ips\" field, but nips != 0");
        return;
    }

    fuzz_check(rec->nips > 0, "an \"ips\" field loaded as anywhere");
    fuzz_check(rec->nips <= NGX_HTTP_APIKEY_MAX_IPS, "more than 64 ips");

    n = 0;
    p = ips->data;
    last = p + ips->len;

    for ( ;; ) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        if (p == last) {
            break;
        }

        start = p;

        while (p < last && *p != ' ' && *p != ',') {
            p++;
        }

        fuzz_check(n < rec->nips, "fewer ips entries than CIDRs");
        fuzz_check(ngx_apikey_parse_cidr(start, p - start, &want)
                   != NGX_APIKEY_BAD, "a bad CIDR in a loaded \"ips\"");

        ngx_memcpy(&got, &ngx_http_apikey_record_ips(rec)[n],
                   sizeof(ngx_http_apikey_cidr_t));

        fuzz_check(memcmp(&got, &want, sizeof(ngx_http_apikey_cidr_t)) == 0,
                   "an ips entry differs from its CIDR");
        n++;
    }

    fuzz_check(n == rec->nips, "more ips entries than CIDRs");
}


static void
fuzz_check_record(fuzz_fields_t *f, ngx_http_apikey_record_t *rec,
    size_t size)
{
    u_char               *out;
    size_t                out_len;
    unsigned              set;
    uint64_t              n, terms[NGX_HTTP_APIKEY_NWINDOWS];
    ngx_uint_t            w;
    ngx_apikey_limits_t   limits;

    fuzz_check(size == ngx_http_apikey_record_size(rec),
               "size != ngx_http_apikey_record_size(rec)");
    fuzz_check(size <= ngx_http_apikey_record_max_size(),
               "size > ngx_http_apikey_record_max_size()");

    fuzz_check(memcmp(rec->digest, fuzz_digest, sizeof(fuzz_digest)) == 0,
               "the digest was not copied");

    /* never more powerful than the fields */

    fuzz_check(rec->access >= NGX_HTTP_APIKEY_ACCESS_FULL
               && rec->access <= NGX_HTTP_APIKEY_ACCESS_LIMITED,
               "access out of 1..3");
    fuzz_check(rec->access != NGX_HTTP_APIKEY_ACCESS_FULL
               || fuzz_is(f->access, "full"),
               "FULL access without access=full");
    fuzz_check(rec->access != NGX_HTTP_APIKEY_ACCESS_READ
               || fuzz_is(f->access, "read"),
               "READ access without access=read");
    fuzz_check(rec->access != NGX_HTTP_APIKEY_ACCESS_LIMITED
               || fuzz_is(f->access, "limited"),
               "LIMITED access without access=limited");

    fuzz_check(rec->active == 0 || rec->active == 1, "active not 0 or 1");
    fuzz_check(rec->active == 0 || f->active == NULL
               || fuzz_is(f->active, "1"),
               "active although the field is not \"1\"");
    fuzz_check(rec->active == 1 || fuzz_is(f->active, "0"),
               "inactive although the field is not \"0\"");

    if (f->expires == NULL) {
        fuzz_check(rec->expires == 0, "expires set without the field");

    } else {
        fuzz_check(fuzz_number(f->expires, &n) == NGX_OK && n <= 0xffffffff,
                   "a non-number \"expires\" was loaded");
        fuzz_check(rec->expires == n, "expires differs from the field");
    }

    if (f->deprecated == NULL) {
        fuzz_check(rec->deprecated == 0, "deprecated set without the field");

    } else {
        fuzz_check(fuzz_number(f->deprecated, &n) == NGX_OK
                   && n <= 0xffffffff,
                   "a non-number \"deprecated\" was loaded");
        fuzz_check(rec->deprecated == n, "deprecated differs from the field");
    }

    if (f->limit == NULL) {
        fuzz_check(rec->limit == NGX_HTTP_APIKEY_LIMIT_DEFAULT
                   && rec->windows == 0,
                   "limit set without the field");

    } else if (fuzz_is(f->limit, "unlimited")) {
        fuzz_check(rec->limit == NGX_HTTP_APIKEY_LIMIT_UNLIMITED
                   && rec->windows == 0,
                   "limit=unlimited not loaded as unlimited");

    } else {
        fuzz_check(fuzz_limits(f->limit, terms, &set) == NGX_OK,
                   "a bad \"limit\" was loaded");
        fuzz_check(rec->limit == ((set & (1 << NGX_HTTP_APIKEY_HOUR))
                                  ? terms[NGX_HTTP_APIKEY_HOUR]
                                  : NGX_HTTP_APIKEY_LIMIT_UNLIMITED),
                   "the hourly limit differs from the field");
        fuzz_check(rec->windows == (set & ~(1u << NGX_HTTP_APIKEY_HOUR)),
                   "the windows differ from the field");
        fuzz_check(ngx_http_apikey_record_get_limits(rec, &limits) == NGX_OK
                   && limits.set == set,
                   "the record's limits differ from the field");

        for (w = 0; w < NGX_HTTP_APIKEY_NWINDOWS; w++) {
            fuzz_check(!(set & (1u << w)) || limits.n[w] == terms[w],
                       "a limit differs from the field");
        }
    }

    fuzz_check(f->id && f->id->len > 0, "loaded without an id");
    fuzz_check(fuzz_same(f->id, ngx_http_apikey_record_id(rec), rec->id_len),
               "id differs from the field");
    fuzz_check(fuzz_same(f->owner, ngx_http_apikey_record_owner(rec),
                         rec->owner_len),
               "owner differs from the field");
    fuzz_check(fuzz_same(f->name, ngx_http_apikey_record_name(rec),
                         rec->name_len),
               "name differs from the field");

    fuzz_check_ips(f->ips, rec);

    if (f->grants == NULL) {
        fuzz_check(rec->grants_len == 0, "grants without the field");
        return;
    }

    out = malloc(NGX_HTTP_APIKEY_MAX_GRANTS_LEN);
    if (out == NULL) {
        abort();
    }

    out_len = 0;

    fuzz_check(ngx_apikey_parse_grants(f->grants->data, f->grants->len,
                                       out, &out_len)
               == NGX_APIKEY_OK, "bad grants were loaded");
    fuzz_check(out_len == rec->grants_len
               && memcmp(out, ngx_http_apikey_record_grants(rec), out_len)
                  == 0,
               "grants differ from what parse_grants makes of the field");

    free(out);
}


static void
fuzz_hex(fuzz_piece_t *p)
{
    u_char      digest[NGX_HTTP_APIKEY_DIGEST_LEN];
    u_char      hex[NGX_HTTP_APIKEY_HEX_LEN];
    size_t      i;
    ngx_int_t   rc;
    ngx_uint_t  lower;

    lower = 1;

    for (i = 0; i < p->len; i++) {
        if (!((p->data[i] >= '0' && p->data[i] <= '9')
              || (p->data[i] >= 'a' && p->data[i] <= 'f')))
        {
            lower = 0;
        }
    }

    rc = ngx_http_apikey_hex_to_digest(p->data, p->len, digest);

    fuzz_check((rc == NGX_OK) == (lower && p->len == NGX_HTTP_APIKEY_HEX_LEN),
               "hex_to_digest accepts exactly 64 lowercase hex digits");

    if (rc == NGX_OK) {
        ngx_hex_dump(hex, digest, NGX_HTTP_APIKEY_DIGEST_LEN);
        fuzz_check(memcmp(hex, p->data, NGX_HTTP_APIKEY_HEX_LEN) == 0,
                   "hex_to_digest does not round-trip");
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
    size_t                      rsize;
    ngx_int_t                   rc;
    ngx_str_t                  *fields;
    ngx_uint_t                  i, n, logged;
    fuzz_piece_t                el[FUZZ_MAX_ELEMENTS];
    fuzz_fields_t               f;
    ngx_http_apikey_record_t   *rec;

    if (size > 65536) {
        return 0;
    }

    n = size ? fuzz_split(data, size, '\0', el, FUZZ_MAX_ELEMENTS) : 0;

    fields = malloc((n ? n : 1) * sizeof(ngx_str_t));
    rec = malloc(ngx_http_apikey_record_max_size());
    if (fields == NULL || rec == NULL) {
        abort();
    }

    for (i = 0; i < n; i++) {
        fields[i].data = el[i].data;
        fields[i].len = el[i].len;

        if (el[i].len == NGX_HTTP_APIKEY_HEX_LEN) {
            fuzz_hex(&el[i]);
        }
    }

    fuzz_collect(el, n, &f);

    logged = fuzz_nlogged;
    rsize = 0;

    rc = ngx_http_apikey_parse_record(fuzz_log, fuzz_digest, fields, n, rec,
                                      &rsize);

    switch (rc) {

    case NGX_OK:
        fuzz_check(fuzz_nlogged == logged, "a loaded record logged");
        fuzz_check(n % 2 == 0, "an odd number of elements was loaded");
        fuzz_check_record(&f, rec, rsize);
        break;

    case NGX_DECLINED:
        fuzz_check(n == 0, "DECLINED (no such key) for a non-empty reply");
        break;

    case NGX_ERROR:
        fuzz_check(fuzz_nlogged == logged + 1,
                   "a skipped record did not log exactly one line");
        fuzz_check(ngx_strstr(fuzz_last_log, "apikey: skipped the record")
                   != NULL, "the line does not say the record was skipped");
        break;

    default:
        fuzz_check(0, "parse_record returned an unexpected code");
    }

    free(rec);
    free(fields);
    fuzz_free_pieces(el, n);

    return 0;
}
