
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


/* 0: a valid address or CIDR; 1: host bits set; -1: invalid */

int
actl_check_cidr(const char *s)
{
    int             family, i, max;
    char            addr[64];
    size_t          len;
    long long       bits;
    const char     *slash;
    unsigned char   buf[16], mask;

    slash = strchr(s, '/');
    len = slash ? (size_t) (slash - s) : strlen(s);

    if (len == 0 || len >= sizeof(addr)) {
        return -1;
    }

    memcpy(addr, s, len);
    addr[len] = '\0';

    if (strchr(addr, ':')) {
        family = AF_INET6;
        max = 128;

    } else {
        family = AF_INET;
        max = 32;
    }

    if (inet_pton(family, addr, buf) != 1) {
        return -1;
    }

    bits = max;

    if (slash) {
        if (strlen(slash + 1) > 3
            || actl_parse_long(slash + 1, max, &bits) != ACTL_OK)
        {
            return -1;
        }
    }

    for (i = 0; i < max / 8; i++) {
        if (bits >= 8 * (i + 1)) {
            mask = 0xff;

        } else if (bits <= 8 * i) {
            mask = 0;

        } else {
            mask = (unsigned char) (0xff << (8 - (bits - 8 * i)));
        }

        if (buf[i] & (unsigned char) ~mask) {
            return 1;
        }
    }

    return 0;
}


/* "resource:r", "resource:w" or "resource:rw"; merged per resource */

int
actl_add_grant(actl_conf_t *cf, const char *s)
{
    int          i, perm;
    size_t       len;
    const char  *colon, *p;

    colon = strrchr(s, ':');

    if (colon == NULL || colon == s) {
        goto invalid;
    }

    if (strcmp(colon + 1, "r") == 0) {
        perm = ACTL_GRANT_R;

    } else if (strcmp(colon + 1, "w") == 0) {
        perm = ACTL_GRANT_W;

    } else if (strcmp(colon + 1, "rw") == 0 || strcmp(colon + 1, "wr") == 0) {
        perm = ACTL_GRANT_R | ACTL_GRANT_W;

    } else {
        goto invalid;
    }

    len = (size_t) (colon - s);

    if (len > ACTL_MAX_STR) {
        goto invalid;
    }

    for (p = s; p < colon; p++) {
        if (*p <= ' ' || *p == ':' || *p == 0x7f) {
            goto invalid;
        }
    }

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
                      "up to %d bytes, without spaces or ':')", s,
                      ACTL_MAX_STR);
}


/*
 * ids: 1..255 of letters, digits and "-._~:@+"; owner and name: up to
 * 255 bytes without control characters
 */

int
actl_check_text(const char *what, const char *s, int id)
{
    size_t               len;
    const unsigned char  *p;

    len = strlen(s);

    if ((id && len == 0) || len > ACTL_MAX_STR) {
        return actl_error(ACTL_EUSAGE, "invalid %s: 1..%d bytes expected",
                          what, ACTL_MAX_STR);
    }

    for (p = (const unsigned char *) s; *p; p++) {
        if (id) {
            if (!isalnum(*p) && strchr("-._~:@+", *p) == NULL) {
                return actl_error(ACTL_EUSAGE, "invalid id \"%s\": use "
                                  "letters, digits and - . _ ~ : @ +", s);
            }

        } else if (*p < 0x20 || *p == 0x7f) {
            return actl_error(ACTL_EUSAGE, "invalid %s: control characters "
                              "are not allowed", what);
        }
    }

    return ACTL_OK;
}
