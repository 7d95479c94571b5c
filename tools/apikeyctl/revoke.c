
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl revoke, update and delete: set active=0, change the limit,
 * or remove the record and its id string, each in one MULTI/EXEC that
 * publishes the digest.
 */


#include "apikeyctl.h"


static int actl_set_field(actl_conf_t *cf, const char *field,
    const char *value, char *digest);


int
actl_cmd_revoke(actl_conf_t *cf)
{
    int   rc;
    char  digest[ACTL_DIGEST_NAME_LEN + 1];

    rc = actl_set_field(cf, "active", "0", digest);

    if (rc == ACTL_OK) {
        if (cf->json) {
            printf("{\"id\":");
            actl_json_str(cf->arg, strlen(cf->arg));
            printf(",\"digest\":\"%s\",\"revoked\":true}\n", digest);

        } else {
            printf("revoked %s\n", cf->arg);
        }
    }

    return rc;
}


/* the options given (--limit, checked and written as create writes it) */

int
actl_cmd_update(actl_conf_t *cf)
{
    int   rc;
    char  digest[ACTL_DIGEST_NAME_LEN + 1];

    if (cf->limit == NULL) {
        return actl_error(ACTL_EUSAGE, "\"update\" needs --limit");
    }

    rc = actl_set_field(cf, "limit", cf->limit, digest);

    if (rc == ACTL_OK) {
        if (cf->json) {
            printf("{\"id\":");
            actl_json_str(cf->arg, strlen(cf->arg));
            printf(",\"digest\":\"%s\",\"limit\":", digest);
            actl_json_str(cf->limit, strlen(cf->limit));
            printf("}\n");

        } else {
            printf("updated %s: limit %s\n", cf->arg, cf->limit);
        }
    }

    return rc;
}


/*
 * One field of the record of the id cf->arg, written with its change log
 * entry and event in one MULTI/EXEC, again while another writer changes
 * the id string; digest: the record's name, "sha256:<hex>" for an
 * imported key, ACTL_DIGEST_NAME_LEN + 1 bytes.
 */

static int
actl_set_field(actl_conf_t *cf, const char *field, const char *value,
    char *digest)
{
    int          attempt, rc;
    char         rname[ACTL_MAX_NAME], events[ACTL_MAX_NAME];
    actl_cmd_t   cmds[2];

    actl_cmd_init(&cmds[0]);
    actl_cmd_init(&cmds[1]);
    actl_name(cf, events, "events", "");

    rc = ACTL_EREDIS;

    for (attempt = 0; attempt < ACTL_ATTEMPTS; attempt++) {
        rc = actl_lookup(cf, cf->arg, digest, 1);
        if (rc != ACTL_OK) {
            actl_unwatch(cf);
            break;
        }

        if (digest[0] == '\0') {
            actl_unwatch(cf);
            rc = actl_error(ACTL_ENOID, "unknown id \"%s\": its id string "
                            "points to no record of that id", cf->arg);
            break;
        }

        actl_name(cf, rname, "key:", digest);
        actl_cmd_set(&cmds[0], "HSET", rname, field, value, NULL);
        actl_cmd_set(&cmds[1], "PUBLISH", events, digest, NULL);

        rc = actl_transaction(cf, cmds, 2);
        if (rc != ACTL_AGAIN) {
            break;
        }

        rc = ACTL_EREDIS;
    }

    actl_cmd_free(&cmds[0]);
    actl_cmd_free(&cmds[1]);

    return rc;
}


int
actl_cmd_delete(actl_conf_t *cf)
{
    int          attempt, rc, n;
    char         digest[ACTL_DIGEST_NAME_LEN + 1], rname[ACTL_MAX_NAME];
    char         iname[ACTL_MAX_NAME], events[ACTL_MAX_NAME];
    actl_cmd_t   cmds[3];

    for (n = 0; n < 3; n++) {
        actl_cmd_init(&cmds[n]);
    }

    actl_name(cf, events, "events", "");
    actl_name(cf, iname, "id:", cf->arg);

    rc = ACTL_EREDIS;

    for (attempt = 0; attempt < ACTL_ATTEMPTS; attempt++) {
        rc = actl_lookup(cf, cf->arg, digest, 1);
        if (rc != ACTL_OK) {
            actl_unwatch(cf);
            goto done;
        }

        n = 0;

        if (digest[0]) {
            actl_name(cf, rname, "key:", digest);
            actl_cmd_set(&cmds[n++], "DEL", rname, NULL);

        } else {
            fprintf(stderr, "apikeyctl: warning: the id string of \"%s\" "
                    "points to no record of that id; removing the id "
                    "string only\n", cf->arg);
        }

        actl_cmd_set(&cmds[n++], "DEL", iname, NULL);

        if (digest[0]) {
            actl_cmd_set(&cmds[n++], "PUBLISH", events, digest, NULL);
        }

        rc = actl_transaction(cf, cmds, n);
        if (rc != ACTL_AGAIN) {
            break;
        }

        rc = ACTL_EREDIS;
    }

    if (rc == ACTL_OK) {
        if (cf->json) {
            printf("{\"id\":");
            actl_json_str(cf->arg, strlen(cf->arg));
            printf(",\"digest\":\"%s\",\"deleted\":true}\n", digest);

        } else {
            printf("deleted %s\n", cf->arg);
        }
    }

done:

    for (n = 0; n < 3; n++) {
        actl_cmd_free(&cmds[n]);
    }

    return rc;
}
