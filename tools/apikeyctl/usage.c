
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl usage: the per-key hourly counters and last use the module
 * writes back to Redis.
 */


#include "apikeyctl.h"


int
actl_cmd_usage(actl_conf_t *cf)
{
    int           rc;
    char          digest[ACTL_DIGEST_NAME_LEN + 1], hour[32], when[32];
    char         *names;
    long          i, h;
    long long     first, total, n, last;
    redisReply   *r, *e;
    actl_cmd_t    cmd;

    rc = actl_lookup(cf, cf->arg, digest, 0);
    if (rc != ACTL_OK) {
        return rc;
    }

    /* MGET usage:<id>:<hour> ... usage:<id>:last */

    names = malloc((cf->hours + 1) * ACTL_MAX_NAME);
    if (names == NULL) {
        return actl_error(ACTL_EREDIS, "out of memory");
    }

    first = (long long) cf->now / 3600 - cf->hours + 1;

    actl_cmd_init(&cmd);
    actl_cmd_add(&cmd, "MGET");

    for (i = 0; i <= cf->hours; i++) {
        if (i < cf->hours) {
            snprintf(hour, sizeof(hour), ":%lld", first + i);

        } else {
            strcpy(hour, ":last");
        }

        snprintf(names + i * ACTL_MAX_NAME, ACTL_MAX_NAME, "%susage:%s%s",
                 cf->prefix, cf->arg, hour);
        actl_cmd_add(&cmd, names + i * ACTL_MAX_NAME);
    }

    rc = actl_redis(cf, &cmd, &r);

    actl_cmd_free(&cmd);
    free(names);

    if (rc != ACTL_OK) {
        return rc;
    }

    if (r->type != REDIS_REPLY_ARRAY
        || r->elements != (size_t) cf->hours + 1)
    {
        freeReplyObject(r);
        return actl_error(ACTL_EREDIS, "Redis at %s: unexpected MGET reply",
                          cf->redis);
    }

    e = r->element[cf->hours];
    last = 0;

    if (e->type == REDIS_REPLY_STRING
        && actl_parse_long(e->str, ACTL_MAX_TIME, &last) != ACTL_OK)
    {
        fprintf(stderr, "apikeyctl: warning: usage:%s:last is not a "
                "number\n", cf->arg);
        last = 0;
    }

    total = 0;

    if (cf->json) {
        printf("{\"id\":");
        actl_json_str(cf->arg, strlen(cf->arg));
        printf(",\"hours\":[");

    } else {
        printf("%-22s %s\n", "HOUR (UTC)", "REQUESTS");
    }

    for (h = 0; h < cf->hours; h++) {
        e = r->element[h];
        n = 0;

        if (e->type == REDIS_REPLY_STRING
            && actl_parse_long(e->str, (long long) 1 << 62, &n) != ACTL_OK)
        {
            fprintf(stderr, "apikeyctl: warning: usage:%s:%lld is not a "
                    "number\n", cf->arg, first + h);
            n = 0;
        }

        total += n;

        if (cf->json) {
            printf("%s{\"hour\":%lld,\"start\":%lld,\"requests\":%lld}",
                   h ? "," : "", first + h, (first + h) * 3600, n);

        } else {
            actl_format_time((first + h) * 3600, when, sizeof(when));
            printf("%-22s %lld\n", when, n);
        }
    }

    if (cf->json) {
        printf("],\"total\":%lld,\"last_used\":", total);

        if (last) {
            printf("%lld}\n", last);

        } else {
            fputs("null}\n", stdout);
        }

    } else {
        printf("%-22s %lld\n", "total", total);

        if (last) {
            actl_format_time(last, when, sizeof(when));
            printf("last used: %s\n", when);

        } else {
            printf("last used: never\n");
        }
    }

    freeReplyObject(r);

    return ACTL_OK;
}
