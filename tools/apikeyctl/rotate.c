
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl rotate: a new key with the same record and a new id; the
 * old key expires after the grace period, and records when it was
 * replaced ("deprecated"), which the module announces in its responses
 * (the Deprecation header of apikey_expiry_warning).
 */


#include "apikeyctl.h"


int
actl_cmd_rotate(actl_conf_t *cf)
{
    int           attempt, rc, n;
    char          key[ACTL_MAX_KEY_LEN + 1];
    char          digest[ACTL_DIGEST_NAME_LEN + 1];
    char          ndigest[ACTL_HEX_LEN + 1], id[ACTL_MAX_STR + 1];
    char          rname[ACTL_MAX_NAME], nrname[ACTL_MAX_NAME];
    char          niname[ACTL_MAX_NAME], events[ACTL_MAX_NAME];
    char          expires[32], oexpires[32], since[32], when[32];
    size_t        i, len;
    long long     old, until, deprecated;
    redisReply   *r, *rec, *f, *v, *d;
    actl_cmd_t    cmds[5];

    for (n = 0; n < 5; n++) {
        actl_cmd_init(&cmds[n]);
    }

    actl_name(cf, events, "events", "");
    snprintf(expires, sizeof(expires), "%lld", cf->expires);

    rec = NULL;
    until = 0;
    rc = ACTL_EREDIS;

    for (attempt = 0; attempt < ACTL_ATTEMPTS; attempt++) {
        if (rec) {
            freeReplyObject(rec);
            rec = NULL;
        }

        rc = actl_lookup(cf, cf->arg, digest, 1);
        if (rc != ACTL_OK) {
            actl_unwatch(cf);
            goto done;
        }

        if (digest[0] == '\0') {
            actl_unwatch(cf);
            rc = actl_error(ACTL_ENOID, "unknown id \"%s\": its id string "
                            "points to no record of that id", cf->arg);
            goto done;
        }

        actl_name(cf, rname, "key:", digest);

        if (actl_redisv(cf, &rec, "HGETALL", rname, NULL) != ACTL_OK) {
            rec = NULL;
            rc = ACTL_EREDIS;
            goto done;
        }

        if (rec->type != REDIS_REPLY_ARRAY || rec->elements == 0) {
            actl_unwatch(cf);
            rc = actl_error(ACTL_ENOID, "unknown id \"%s\"", cf->arg);
            goto done;
        }

        /* the old key's end: now + grace, or sooner if it was so */

        until = (long long) cf->now + cf->grace;

        /*
         * and its deprecation: now, or the rotation that replaced it
         * before, if it was rotated already
         */

        deprecated = (long long) cf->now;

        v = NULL;
        d = NULL;
        for (i = 0; i + 1 < rec->elements; i += 2) {
            if (rec->element[i]->type != REDIS_REPLY_STRING) {
                continue;
            }

            if (strcmp(rec->element[i]->str, "expires") == 0) {
                v = rec->element[i + 1];

            } else if (strcmp(rec->element[i]->str, "deprecated") == 0) {
                d = rec->element[i + 1];
            }
        }

        if (d && d->type == REDIS_REPLY_STRING
            && actl_parse_long(d->str, ACTL_MAX_TIME, &old) == ACTL_OK
            && old != 0 && old < deprecated)
        {
            deprecated = old;
        }

        if (v && v->type == REDIS_REPLY_STRING) {
            if (actl_parse_long(v->str, ACTL_MAX_TIME, &old) == ACTL_OK) {
                if (old != 0 && old < until) {
                    until = old;
                }

            } else {
                fprintf(stderr, "apikeyctl: warning: the old record's "
                        "expires \"%s\" is not a number; replaced\n",
                        v->str);
            }
        }

        snprintf(oexpires, sizeof(oexpires), "%lld", until);
        snprintf(since, sizeof(since), "%lld", deprecated);

        actl_new_id(id);
        actl_make_key(cf->key_prefix, key, &len);
        actl_digest(cf, (unsigned char *) key, len, ndigest);

        actl_name(cf, nrname, "key:", ndigest);
        actl_name(cf, niname, "id:", id);

        if (actl_redisv(cf, &r, "WATCH", niname, nrname, NULL) != ACTL_OK) {
            goto done;
        }

        freeReplyObject(r);

        if (actl_redisv(cf, &r, "EXISTS", niname, nrname, NULL) != ACTL_OK) {
            goto done;
        }

        n = (int) r->integer;
        freeReplyObject(r);

        if (n) {
            actl_unwatch(cf);
            continue;
        }

        /* the new record: the old fields, a new id, rotated_from */

        actl_cmd_set(&cmds[0], "HSET", nrname, "id", id, NULL);

        for (i = 0; i + 1 < rec->elements; i += 2) {
            f = rec->element[i];
            v = rec->element[i + 1];

            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
                || strcmp(f->str, "id") == 0
                || strcmp(f->str, "rotated_from") == 0
                || strcmp(f->str, "deprecated") == 0
                || (cf->has_expires && strcmp(f->str, "expires") == 0))
            {
                continue;
            }

            actl_cmd_addn(&cmds[0], f->str, f->len);
            actl_cmd_addn(&cmds[0], v->str, v->len);
        }

        if (cf->has_expires && cf->expires) {
            actl_cmd_add(&cmds[0], "expires");
            actl_cmd_add(&cmds[0], expires);
        }

        actl_cmd_add(&cmds[0], "rotated_from");
        actl_cmd_add(&cmds[0], cf->arg);

        actl_cmd_set(&cmds[1], "SET", niname, ndigest, NULL);
        actl_cmd_set(&cmds[2], "HSET", rname, "expires", oexpires,
                     "deprecated", since, NULL);
        actl_cmd_set(&cmds[3], "PUBLISH", events, ndigest, NULL);
        actl_cmd_set(&cmds[4], "PUBLISH", events, digest, NULL);

        rc = actl_transaction(cf, cmds, 5);
        if (rc != ACTL_AGAIN) {
            break;
        }

        rc = ACTL_EREDIS;
    }

    if (attempt == ACTL_ATTEMPTS) {
        rc = actl_error(ACTL_EREDIS, "the keys kept changing; nothing "
                        "written");
    }

    if (rc == ACTL_OK) {
        actl_print_key(cf, "rotated to", id, key, ndigest);

        if (!cf->json) {
            actl_format_time(until, when, sizeof(when));
            fprintf(stderr, "apikeyctl: the old key %s expires at %s\n",
                    cf->arg, when);
        }
    }

done:

    sodium_memzero(key, sizeof(key));

    if (rec) {
        freeReplyObject(rec);
    }

    for (n = 0; n < 5; n++) {
        actl_cmd_free(&cmds[n]);
    }

    return rc;
}
