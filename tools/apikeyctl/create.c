
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl create: a new key and its record, written in one
 * MULTI/EXEC guarded by WATCH; the raw key is printed once.
 */


#include "apikeyctl.h"


int
actl_cmd_create(actl_conf_t *cf)
{
    int          i, attempt, rc, given;
    char         key[ACTL_MAX_KEY_LEN + 1], digest[ACTL_HEX_LEN + 1];
    char         id[ACTL_MAX_STR + 1], expires[32];
    char         rname[ACTL_MAX_NAME], iname[ACTL_MAX_NAME];
    char         events[ACTL_MAX_NAME], grants[ACTL_MAX_GRANTS_TEXT];
    char         ips[ACTL_MAX_IPS * 72];
    size_t       len, n;
    redisReply  *r;
    actl_cmd_t   cmds[4];

    given = cf->id != NULL;

    /* the record's fields (but the key) do not change between attempts */

    (void) actl_grants_text(cf, grants, sizeof(grants));

    ips[0] = '\0';
    n = 0;

    for (i = 0; i < cf->nips; i++) {
        n += snprintf(ips + n, sizeof(ips) - n, "%s%s", i ? " " : "",
                      cf->ips[i]);
    }

    snprintf(expires, sizeof(expires), "%lld", cf->expires);
    actl_name(cf, events, "events", "");

    for (i = 0; i < 4; i++) {
        actl_cmd_init(&cmds[i]);
    }

    rc = ACTL_EREDIS;

    for (attempt = 0; attempt < ACTL_ATTEMPTS; attempt++) {

        if (given) {
            snprintf(id, sizeof(id), "%s", cf->id);

        } else {
            actl_new_id(id);
        }

        actl_make_key(cf->key_prefix, key, &len);
        actl_digest(cf, (unsigned char *) key, len, digest);

        actl_name(cf, rname, "key:", digest);
        actl_name(cf, iname, "id:", id);

        if (actl_redisv(cf, &r, "WATCH", iname, rname, NULL) != ACTL_OK) {
            goto done;
        }

        freeReplyObject(r);

        if (actl_redisv(cf, &r, "EXISTS", iname, NULL) != ACTL_OK) {
            goto done;
        }

        n = (size_t) r->integer;
        freeReplyObject(r);

        if (n) {
            actl_unwatch(cf);

            if (given) {
                rc = actl_error(ACTL_EUSAGE, "id \"%s\" already exists; "
                                "rotate or delete it, or choose another --id",
                                id);
                goto done;
            }

            continue;
        }

        if (actl_redisv(cf, &r, "EXISTS", rname, NULL) != ACTL_OK) {
            goto done;
        }

        n = (size_t) r->integer;
        freeReplyObject(r);

        if (n) {
            actl_unwatch(cf);
            continue;
        }

        actl_cmd_set(&cmds[0], "HSET", rname, "id", id, NULL);

        if (cf->owner) {
            actl_cmd_add(&cmds[0], "owner");
            actl_cmd_add(&cmds[0], cf->owner);
        }

        if (cf->name) {
            actl_cmd_add(&cmds[0], "name");
            actl_cmd_add(&cmds[0], cf->name);
        }

        actl_cmd_add(&cmds[0], "access");
        actl_cmd_add(&cmds[0], cf->access);

        if (cf->ngrants) {
            actl_cmd_add(&cmds[0], "grants");
            actl_cmd_add(&cmds[0], grants);
        }

        if (cf->has_expires && cf->expires) {
            actl_cmd_add(&cmds[0], "expires");
            actl_cmd_add(&cmds[0], expires);
        }

        actl_cmd_add(&cmds[0], "active");
        actl_cmd_add(&cmds[0], cf->inactive ? "0" : "1");

        if (cf->limit) {
            actl_cmd_add(&cmds[0], "limit");
            actl_cmd_add(&cmds[0], cf->limit);
        }

        if (cf->nips) {
            actl_cmd_add(&cmds[0], "ips");
            actl_cmd_add(&cmds[0], ips);
        }

        actl_cmd_set(&cmds[1], "SET", iname, digest, NULL);
        actl_cmd_set(&cmds[2], "PUBLISH", events, digest, NULL);

        rc = actl_transaction(cf, cmds, 3);

        if (rc == ACTL_AGAIN) {
            rc = ACTL_EREDIS;
            continue;
        }

        if (rc == ACTL_OK) {
            actl_print_key(cf, "created", id, key, digest);
        }

        goto done;
    }

    rc = actl_error(ACTL_EREDIS, "the keys kept changing; nothing written");

done:

    sodium_memzero(key, sizeof(key));

    for (i = 0; i < 4; i++) {
        actl_cmd_free(&cmds[i]);
    }

    return rc;
}
