
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl's field values: numbers, durations, times, CIDRs, grants,
 * ids and free text, checked before anything is sent to Redis.
 */


#include "apikeyctl.h"


static long long actl_days_from_civil(long long y, int m, int d);
static int actl_digits(const char *s, int n);


int
actl_parse_long(const char *s, long long max, long long *out)
{
    long long  n;

    if (*s == '\0') {
        return ACTL_EUSAGE;
    }

    n = 0;

    for ( /* void */ ; *s; s++) {
        if (*s < '0' || *s > '9') {
            return ACTL_EUSAGE;
        }

        n = n * 10 + (*s - '0');

        if (n > max) {
            return ACTL_EUSAGE;
        }
    }

    *out = n;

    return ACTL_OK;
}


/* "90", "90s", "90m", "24h", "7d", "2w", an optional leading '+' */

int
actl_parse_duration(const char *s, long long *out)
{
    char       buf[32];
    size_t     len;
    long long  n, unit;

    if (*s == '+') {
        s++;
    }

    len = strlen(s);
    if (len == 0 || len >= sizeof(buf)) {
        return ACTL_EUSAGE;
    }

    memcpy(buf, s, len + 1);
    unit = 1;

    switch (buf[len - 1]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        len++;
        break;
    }

    buf[len - 1] = '\0';

    if (actl_parse_long(buf, 200LL * 366 * 86400 / unit, &n) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    *out = n * unit;

    return ACTL_OK;
}


/*
 * unix seconds, "+<duration>" from now, "never" (0), or a UTC date:
 * YYYY-MM-DD, YYYY-MM-DDTHH:MM, YYYY-MM-DDTHH:MM:SS, each with an
 * optional trailing "Z"; ' ' may stand for 'T'
 */

int
actl_parse_time(const char *s, time_t now, long long *out)
{
    int        y, mo, d, h, mi, sec;
    size_t     len;
    long long  n;

    static const int  mdays[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (strcmp(s, "never") == 0) {
        *out = 0;
        return ACTL_OK;
    }

    if (s[0] == '+') {
        if (actl_parse_duration(s, &n) != ACTL_OK) {
            return ACTL_EUSAGE;
        }

        if ((long long) now + n > ACTL_MAX_TIME) {
            return ACTL_EUSAGE;
        }

        *out = (long long) now + n;
        return ACTL_OK;
    }

    if (actl_parse_long(s, ACTL_MAX_TIME, &n) == ACTL_OK) {
        *out = n;
        return ACTL_OK;
    }

    len = strlen(s);

    if (len > 10 && (s[len - 1] == 'Z' || s[len - 1] == 'z')) {
        len--;
    }

    if (len != 10 && len != 16 && len != 19) {
        return ACTL_EUSAGE;
    }

    y = actl_digits(s, 4);
    mo = actl_digits(s + 5, 2);
    d = actl_digits(s + 8, 2);

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || s[4] != '-'
        || s[7] != '-')
    {
        return ACTL_EUSAGE;
    }

    if (d > mdays[mo - 1]
        && !(mo == 2 && d == 29
             && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
    {
        return ACTL_EUSAGE;
    }

    h = 0;
    mi = 0;
    sec = 0;

    if (len > 10) {
        if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
            return ACTL_EUSAGE;
        }

        h = actl_digits(s + 11, 2);
        mi = actl_digits(s + 14, 2);

        if (h < 0 || h > 23 || mi < 0 || mi > 59 || s[13] != ':') {
            return ACTL_EUSAGE;
        }

        if (len == 19) {
            sec = actl_digits(s + 17, 2);

            if (sec < 0 || sec > 59 || s[16] != ':') {
                return ACTL_EUSAGE;
            }
        }
    }

    n = actl_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;

    if (n > ACTL_MAX_TIME) {
        return ACTL_EUSAGE;
    }

    *out = n;

    return ACTL_OK;
}


/* days since 1970-01-01 of a proleptic Gregorian date */

static long long
actl_days_from_civil(long long y, int m, int d)
{
    long long  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static int
actl_digits(const char *s, int n)
{
    int  v;

    v = 0;

    while (n--) {
        if (*s < '0' || *s > '9') {
            return -1;
        }

        v = v * 10 + (*s++ - '0');
    }

    return v;
}


/*
 * 0: a valid address or CIDR; 1: host bits set (the module would mask
 * them, a writer refuses them); -1: invalid.  The schema library's rule.
 */

int
actl_check_cidr(const char *s)
{
    ngx_apikey_cidr_t  cidr;

    switch (ngx_apikey_parse_cidr((const unsigned char *) s, strlen(s),
                                  &cidr))
    {
    case NGX_APIKEY_OK:
        return 0;

    case NGX_APIKEY_MASKED:
        return 1;

    default:
        return -1;
    }
}


/*
 * "resource:r", "resource:w" or "resource:rw": one item of the schema
 * library's "grants" rule; merged per resource
 */

int
actl_add_grant(actl_conf_t *cf, const char *s)
{
    int             i, perm;
    size_t          len, out_len;
    const char     *colon;
    unsigned char   out[NGX_APIKEY_MAX_GRANTS_LEN];

    len = strlen(s);

    /* a space would make it several items */

    if (len == 0 || strchr(s, ' ') != NULL
        || ngx_apikey_parse_grants((const unsigned char *) s, len, out,
                                   &out_len)
           != NGX_APIKEY_OK)
    {
        goto invalid;
    }

    colon = strrchr(s, ':');

    /* written as given: "w" stays "w" (the module reads it as "rw") */

    if (strcmp(colon + 1, "r") == 0) {
        perm = ACTL_GRANT_R;

    } else if (strcmp(colon + 1, "w") == 0) {
        perm = ACTL_GRANT_W;

    } else {
        perm = ACTL_GRANT_R | ACTL_GRANT_W;
    }

    len = (size_t) (colon - s);

    for (i = 0; i < cf->ngrants; i++) {
        if (cf->grants[i].len == len
            && memcmp(cf->grants[i].resource, s, len) == 0)
        {
            cf->grants[i].perm |= perm;
            return ACTL_OK;
        }
    }

    if (cf->ngrants == ACTL_MAX_GRANTS) {
        return actl_error(ACTL_EUSAGE, "too many --grant (at most %d)",
                          ACTL_MAX_GRANTS);
    }

    cf->grants[cf->ngrants].resource = s;
    cf->grants[cf->ngrants].len = len;
    cf->grants[cf->ngrants].perm = perm;
    cf->ngrants++;

    return ACTL_OK;

invalid:

    return actl_error(ACTL_EUSAGE, "invalid --grant \"%s\": use "
                      "resource:r, resource:w or resource:rw (the resource "
                      "1 to %d bytes, without spaces or control "
                      "characters)", s, ACTL_MAX_STR);
}


/*
 * the "grants" field as written: "res:perm" items separated by spaces;
 * ACTL_EUSAGE when it would not fit the module's bound (the schema
 * library parses it as the module does)
 */

int
actl_grants_text(actl_conf_t *cf, char *buf, size_t size)
{
    int            i;
    size_t         n, out_len;
    unsigned char  out[NGX_APIKEY_MAX_GRANTS_LEN];

    buf[0] = '\0';
    n = 0;

    for (i = 0; i < cf->ngrants; i++) {
        n += snprintf(buf + n, size - n, "%s%.*s:%s",
                      i ? " " : "", (int) cf->grants[i].len,
                      cf->grants[i].resource,
                      cf->grants[i].perm == ACTL_GRANT_R ? "r"
                      : cf->grants[i].perm == ACTL_GRANT_W ? "w" : "rw");

        if (n >= size) {
            return ACTL_EUSAGE;
        }
    }

    if (ngx_apikey_parse_grants((unsigned char *) buf, n, out, &out_len)
        != NGX_APIKEY_OK)
    {
        return ACTL_EUSAGE;
    }

    return ACTL_OK;
}


/*
 * The schema library's rules: an id is 1..255 bytes, owner and name up
 * to 255 bytes, without control characters.  id: 0 for owner and name,
 * ACTL_ID_LOOKUP for an id to find (any the module loads), ACTL_ID_NEW
 * for an id to create, which apikeyctl keeps to letters, digits and
 * "-._~:@+" so that it is easy to type, log and put in a URL.
 */

int
actl_check_text(const char *what, const char *s, int id)
{
    size_t               len;
    const unsigned char  *p;

    len = strlen(s);
    p = (const unsigned char *) s;

    if ((id && len == 0) || len > ACTL_MAX_STR) {
        return actl_error(ACTL_EUSAGE, "invalid %s: 1..%d bytes expected",
                          what, ACTL_MAX_STR);
    }

    if (!(id ? ngx_apikey_id_valid(p, len) : ngx_apikey_text_valid(p, len)))
    {
        return actl_error(ACTL_EUSAGE, "invalid %s: control characters "
                          "are not allowed", what);
    }

    if (id != ACTL_ID_NEW) {
        return ACTL_OK;
    }

    for ( /* void */ ; *p; p++) {
        if (!isalnum(*p) && strchr("-._~:@+", *p) == NULL) {
            return actl_error(ACTL_EUSAGE, "invalid id \"%s\": use "
                              "letters, digits and - . _ ~ : @ +", s);
        }
    }

    return ACTL_OK;
}
