
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl: the change log every write appends to (docs/replication.md),
 * and accept-dataset.
 *
 * Each digest a transaction publishes on <prefix>events is also appended
 * to the stream <prefix>changes ("d <digest>", "d *" for everything) in
 * the same MULTI/EXEC, and the first writer of a key set names it with
 * SET <prefix>epoch <random> NX.  Version-1 readers keep the channel;
 * the module reads the stream.
 */


#include "apikeyctl.h"


/*
 * the change log commands for the PUBLISHes among cmds, into log (room
 * for ACTL_MAX_LOG): how many
 */

int
actl_change_log(actl_conf_t *cf, actl_cmd_t *cmds, int n, actl_cmd_t *log)
{
    int            i, nlog;
    char           stream[ACTL_MAX_NAME], epoch[ACTL_MAX_NAME];
    char           id[2 * 16 + 1];
    unsigned char  rnd[16];

    actl_name(cf, stream, "changes", "");

    nlog = 0;

    for (i = 0; i < n && nlog < ACTL_MAX_LOG - 1; i++) {
        if (cmds[i].argc != 3
            || cmds[i].argvlen[0] != sizeof("PUBLISH") - 1
            || memcmp(cmds[i].argv[0], "PUBLISH", sizeof("PUBLISH") - 1)
               != 0)
        {
            continue;
        }

        actl_cmd_init(&log[nlog]);
        actl_cmd_set(&log[nlog], "XADD", stream, "MAXLEN", "~",
                     ACTL_CHANGES_MAXLEN, "*", "d", NULL);
        actl_cmd_addn(&log[nlog], cmds[i].argv[2], cmds[i].argvlen[2]);
        nlog++;
    }

    if (nlog == 0) {
        return 0;
    }

    /* a random id names a dataset; NX: only the first writer's counts */

    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(id, sizeof(id), rnd, sizeof(rnd));

    actl_name(cf, epoch, "epoch", "");

    actl_cmd_init(&log[nlog]);
    actl_cmd_set(&log[nlog], "SET", epoch, id, "NX", NULL);

    return nlog + 1;
}


/*
 * accept-dataset: "d *" (and "*" for version-1 readers), with the epoch
 * written if Redis has none.  Every nginx then loads what Redis holds and
 * takes its epoch, even one that it held its mirror against (Redis came
 * back empty, or with another dataset).
 */

int
actl_cmd_accept_dataset(actl_conf_t *cf)
{
    int         rc;
    char        events[ACTL_MAX_NAME];
    actl_cmd_t  cmd;

    actl_name(cf, events, "events", "");

    actl_cmd_init(&cmd);
    actl_cmd_set(&cmd, "PUBLISH", events, "*", NULL);

    rc = actl_transaction(cf, &cmd, 1);

    actl_cmd_free(&cmd);

    if (rc == ACTL_OK) {
        if (cf->json) {
            printf("{\"accepted\":true}\n");

        } else {
            printf("dataset accepted\n");
        }
    }

    return rc;
}
