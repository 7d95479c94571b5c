
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl list and show: every record under the prefix, or one by id,
 * as a table or as JSON.
 */


#include "apikeyctl.h"


static int actl_entry_cmp(const void *a, const void *b);


static int
actl_entry_cmp(const void *a, const void *b)
{
    const actl_entry_t  *ea, *eb;

    ea = a;
    eb = b;

    return strcmp(ea->id, eb->id);
}


int
actl_cmd_list(actl_conf_t *cf)
{
    int            rc, w[4];
    char           match[ACTL_MAX_NAME * 2], cursor[32], expires[32];
    char          *p;
    size_t         i, j, k, n, nalloc, nscans, plen;
    long long      t;
    redisReply    *r, *keys, **scans;
    const char    *s, *v, *fields[6];
    actl_entry_t  *entries;
    actl_cmd_t     cmd;
    void          *q;

    static const char  *heads[] = {
        "ID", "OWNER", "NAME", "ACCESS", "ACTIVE", "EXPIRES"
    };

    /* the prefix with glob characters escaped, then "key:*" */

    p = match;

    for (s = cf->prefix; *s; s++) {
        if (strchr("*?[]\\", *s)) {
            *p++ = '\\';
        }

        *p++ = *s;
    }

    strcpy(p, "key:*");
    plen = strlen(cf->prefix) + 4;

    entries = NULL;
    scans = NULL;
    n = 0;
    nalloc = 0;
    nscans = 0;
    rc = ACTL_EREDIS;
    strcpy(cursor, "0");
    actl_cmd_init(&cmd);

    /* SCAN collects the record names; its replies hold the strings */

    do {
        if (actl_redisv(cf, &r, "SCAN", cursor, "MATCH", match,
                        "COUNT", "1000", NULL)
            != ACTL_OK)
        {
            goto done;
        }

        q = realloc(scans, (nscans + 1) * sizeof(redisReply *));
        if (q == NULL) {
            freeReplyObject(r);
            actl_error(ACTL_EREDIS, "out of memory");
            goto done;
        }

        scans = q;
        scans[nscans++] = r;

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[1]->type != REDIS_REPLY_ARRAY)
        {
            actl_error(ACTL_EREDIS, "Redis at %s: unexpected SCAN reply",
                       cf->redis);
            goto done;
        }

        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        keys = r->element[1];

        for (i = 0; i < keys->elements; i++) {
            /* "<hex>", and "sha256:<hex>" for imported keys */

            if (keys->element[i]->type != REDIS_REPLY_STRING
                || keys->element[i]->len < plen
                || ngx_apikey_digest_name((unsigned char *)
                                              keys->element[i]->str + plen,
                                          keys->element[i]->len - plen)
                   == NGX_APIKEY_BAD)
            {
                continue;
            }

            if (n == nalloc) {
                nalloc = nalloc ? nalloc * 2 : 64;
                q = realloc(entries, nalloc * sizeof(actl_entry_t));
                if (q == NULL) {
                    actl_error(ACTL_EREDIS, "out of memory");
                    goto done;
                }

                entries = q;
            }

            entries[n].digest = keys->element[i]->str + plen;
            entries[n].name = keys->element[i]->str;
            entries[n].record = NULL;
            entries[n].id = "";
            n++;
        }

    } while (strcmp(cursor, "0") != 0);

    /* pipelined HGETALL */

    for (i = 0; i < n; i++) {
        actl_cmd_set(&cmd, "HGETALL", entries[i].name, NULL);

        if (redisAppendCommandArgv(cf->ctx, cmd.argc, cmd.argv, cmd.argvlen)
            != REDIS_OK)
        {
            actl_error(ACTL_EREDIS, "out of memory");
            goto done;
        }
    }

    for (i = 0; i < n; i++) {
        if (redisGetReply(cf->ctx, &q) != REDIS_OK) {
            actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                       cf->ctx->errstr);
            goto done;
        }

        r = q;

        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            continue;
        }

        entries[i].record = r;
        v = actl_hash_field(r, "id");
        entries[i].id = v ? v : "";
    }

    if (n) {
        qsort(entries, n, sizeof(actl_entry_t), actl_entry_cmp);
    }

    if (cf->json) {
        putchar('[');

        for (i = 0, j = 0; i < n; i++) {
            r = entries[i].record;
            if (r == NULL || r->elements == 0) {
                continue;
            }

            printf("%s{\"digest\":\"%s\"", j++ ? "," : "",
                   entries[i].digest);

            for (k = 0; k + 1 < r->elements; k += 2) {
                if (r->element[k]->type != REDIS_REPLY_STRING
                    || r->element[k + 1]->type != REDIS_REPLY_STRING)
                {
                    continue;
                }

                putchar(',');
                actl_json_str(r->element[k]->str, r->element[k]->len);
                putchar(':');
                actl_json_str(r->element[k + 1]->str,
                              r->element[k + 1]->len);
            }

            putchar('}');
        }

        fputs("]\n", stdout);
        rc = ACTL_OK;
        goto done;
    }

    for (j = 0; j < 4; j++) {
        w[j] = (int) strlen(heads[j]);
    }

    for (i = 0; i < n; i++) {
        r = entries[i].record;
        if (r == NULL || r->elements == 0) {
            continue;
        }

        fields[0] = *entries[i].id ? entries[i].id : "(no id)";
        fields[1] = actl_hash_field(r, "owner");
        fields[2] = actl_hash_field(r, "name");
        fields[3] = actl_hash_field(r, "access");

        for (j = 0; j < 4; j++) {
            if (fields[j] && (int) strlen(fields[j]) > w[j]) {
                w[j] = (int) strlen(fields[j]);
            }
        }
    }

    for (j = 0; j < 4; j++) {
        printf("%-*s  ", w[j], heads[j]);
    }

    printf("%-6s  %s\n", heads[4], heads[5]);

    for (i = 0; i < n; i++) {
        r = entries[i].record;
        if (r == NULL || r->elements == 0) {
            continue;
        }

        fields[0] = *entries[i].id ? entries[i].id : "(no id)";
        fields[1] = actl_hash_field(r, "owner");
        fields[2] = actl_hash_field(r, "name");
        fields[3] = actl_hash_field(r, "access");
        fields[4] = actl_hash_field(r, "active");
        fields[5] = actl_hash_field(r, "expires");

        for (j = 0; j < 4; j++) {
            s = fields[j] ? fields[j] : "-";
            actl_text_str(s, strlen(s), w[j]);
            fputs("  ", stdout);
        }

        s = fields[4] == NULL || strcmp(fields[4], "1") == 0 ? "yes"
            : strcmp(fields[4], "0") == 0 ? "no" : fields[4];

        actl_text_str(s, strlen(s), 6);
        fputs("  ", stdout);

        s = fields[5];

        if (s == NULL || strcmp(s, "0") == 0) {
            s = "never";

        } else if (actl_parse_long(s, ACTL_MAX_TIME, &t) == ACTL_OK) {
            actl_format_time(t, expires, sizeof(expires));
            s = expires;
        }

        actl_text_str(s, strlen(s), 0);
        putchar('\n');
    }

    rc = ACTL_OK;

done:

    for (i = 0; i < n; i++) {
        if (entries[i].record) {
            freeReplyObject(entries[i].record);
        }
    }

    for (i = 0; i < nscans; i++) {
        freeReplyObject(scans[i]);
    }

    free(scans);
    free(entries);
    actl_cmd_free(&cmd);

    return rc;
}


int
actl_cmd_show(actl_conf_t *cf)
{
    int           rc;
    char          digest[ACTL_DIGEST_NAME_LEN + 1], rname[ACTL_MAX_NAME];
    char          when[32];
    size_t        i, k;
    long long     t;
    redisReply   *r, *f, *v;

    static const char  *order[] = {
        "id", "owner", "name", "access", "grants", "expires", "deprecated",
        "active", "limit", "ips", NULL
    };

    rc = actl_lookup(cf, cf->arg, digest, 0);
    if (rc != ACTL_OK) {
        return rc;
    }

    if (digest[0] == '\0') {
        return actl_error(ACTL_ENOID, "unknown id \"%s\": its id string "
                          "points to no record of that id", cf->arg);
    }

    actl_name(cf, rname, "key:", digest);

    if (actl_redisv(cf, &r, "HGETALL", rname, NULL) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        freeReplyObject(r);
        return actl_error(ACTL_ENOID, "unknown id \"%s\"", cf->arg);
    }

    if (cf->json) {
        printf("{\"digest\":\"%s\"", digest);

        for (i = 0; i + 1 < r->elements; i += 2) {
            f = r->element[i];
            v = r->element[i + 1];

            if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            {
                putchar(',');
                actl_json_str(f->str, f->len);
                putchar(':');
                actl_json_str(v->str, v->len);
            }
        }

        fputs("}\n", stdout);
        freeReplyObject(r);

        return ACTL_OK;
    }

    printf("%-13s %s\n", "digest", digest);

    /* the schema's fields in order, then any other field as stored */

    for (k = 0; order[k]; k++) {
        for (i = 0; i + 1 < r->elements; i += 2) {
            f = r->element[i];
            v = r->element[i + 1];

            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
                || strcmp(f->str, order[k]) != 0)
            {
                continue;
            }

            printf("%-13s ", f->str);
            actl_text_str(v->str, v->len, 0);

            if (strcmp(f->str, "deprecated") == 0
                && actl_parse_long(v->str, ACTL_MAX_TIME, &t) == ACTL_OK
                && t != 0)
            {
                actl_format_time(t, when, sizeof(when));
                printf(" (%s)", when);
            }

            if (strcmp(f->str, "expires") == 0
                && actl_parse_long(v->str, ACTL_MAX_TIME, &t) == ACTL_OK)
            {
                if (t == 0) {
                    fputs(" (never)", stdout);

                } else {
                    actl_format_time(t, when, sizeof(when));
                    printf(" (%s%s)", when, t <= cf->now ? ", expired" : "");
                }
            }

            putchar('\n');
        }
    }

    for (i = 0; i + 1 < r->elements; i += 2) {
        f = r->element[i];
        v = r->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        for (k = 0; order[k]; k++) {
            if (strcmp(f->str, order[k]) == 0) {
                break;
            }
        }

        if (order[k] == NULL) {
            printf("%-13s ", f->str);
            actl_text_str(v->str, v->len, 0);
            putchar('\n');
        }
    }

    freeReplyObject(r);

    return ACTL_OK;
}
