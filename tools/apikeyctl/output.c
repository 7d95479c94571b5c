
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl's output helpers: JSON strings, table cells, times, and
 * fields of an HGETALL reply.
 */


#include "apikeyctl.h"


/* a JSON string; bytes of invalid UTF-8 become U+FFFD */

void
actl_json_str(const char *s, size_t len)
{
    size_t          i, n, k;
    unsigned char   c;
    unsigned int    cp;

    putchar('"');

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
            continue;
        }

        if (c < 0x20 || c == 0x7f) {
            printf("\\u%04x", c);
            continue;
        }

        if (c < 0x80) {
            putchar(c);
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;

        } else {
            fputs("\\ufffd", stdout);
            continue;
        }

        for (k = 1; k <= n; k++) {
            if (i + k >= len || ((unsigned char) s[i + k] & 0xc0) != 0x80) {
                break;
            }

            cp = (cp << 6) | ((unsigned char) s[i + k] & 0x3f);
        }

        if (k <= n
            || (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        {
            fputs("\\ufffd", stdout);
            continue;
        }

        fwrite(s + i, 1, n + 1, stdout);
        i += n;
    }

    putchar('"');
}


/* a table cell: control characters shown as '?', padded to width */

void
actl_text_str(const char *s, size_t len, int width)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        putchar(((unsigned char) s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i]);
    }

    while (width-- > (int) len) {
        putchar(' ');
    }
}


void
actl_format_time(long long t, char *buf, size_t size)
{
    time_t     tt;
    struct tm  tm;

    tt = (time_t) t;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        snprintf(buf, size, "%lld", t);
    }
}


/* the value of a field in an HGETALL reply, or NULL */

const char *
actl_hash_field(redisReply *r, const char *field)
{
    size_t  i;

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && strcmp(r->element[i]->str, field) == 0
            && r->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            return r->element[i + 1]->str;
        }
    }

    return NULL;
}
