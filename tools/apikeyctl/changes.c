
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl: the change log every write appends to (docs/replication.md),
 * and accept-dataset.
 *
 * Each digest a transaction publishes on <prefix>events is also appended
 * to the stream <prefix>changes ("d <digest>", "d sha256:<digest>" for an
 * imported key, "d *" for everything) in the same MULTI/EXEC, and the
 * first writer of a key set names it with SET <prefix>epoch <random> NX.
 * Version-1 readers keep the channel; the module reads the stream.
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
    static char    stream[ACTL_MAX_NAME], epoch[ACTL_MAX_NAME];
    static char    id[2 * 16 + 1];

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
        actl_change_entry(stream, &log[nlog], cmds[i].argv[2],
                          cmds[i].argvlen[2]);
        nlog++;
    }

    if (nlog == 0) {
        return 0;
    }

    actl_cmd_init(&log[nlog]);
    actl_change_epoch(cf, epoch, id, &log[nlog]);

    return nlog + 1;
}


/* "XADD <stream> MAXLEN ~ n * d <digest>"; stream: actl_name(, "changes") */

void
actl_change_entry(const char *stream, actl_cmd_t *cmd, const char *digest,
    size_t len)
{
    actl_cmd_set(cmd, "XADD", stream, "MAXLEN", "~", ACTL_CHANGES_MAXLEN,
                 "*", "d", NULL);
    actl_cmd_addn(cmd, digest, len);
}


/*
 * "SET <prefix>epoch <random> NX": a random id names a dataset, and only
 * the first writer's counts; epoch (ACTL_MAX_NAME bytes) and id (33) hold
 * the arguments
 */

void
actl_change_epoch(actl_conf_t *cf, char *epoch, char *id, actl_cmd_t *cmd)
{
    unsigned char  rnd[16];

    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(id, 2 * sizeof(rnd) + 1, rnd, sizeof(rnd));

    actl_name(cf, epoch, "epoch", "");

    actl_cmd_set(cmd, "SET", epoch, id, "NX", NULL);
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
