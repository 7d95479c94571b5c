
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl import: keys issued elsewhere, known by their SHA-256 (or
 * HMAC-SHA-256) digests only, written as "<prefix>key:sha256:<hex>"
 * records (docs/keys.md, "Importing existing keys").
 *
 * Input: CSV lines "digest,id,owner,access,name,grants,expires,limit,ips"
 * (the columns after access may be left out; an empty column is an absent
 * field; an optional header line naming the columns; fields may be
 * double-quoted, "" standing for a quote).  Every field is checked with
 * the schema library the module uses, so a record the tool writes is one
 * the module loads.
 *
 * Lines are handled in batches: WATCH of every name a batch touches, one
 * pipelined read of their id strings and records, then one MULTI/EXEC
 * that writes the new records with their id strings, PUBLISHes each
 * digest and appends "d sha256:<hex>" to the change log, as every writer
 * does.  A record already present and identical is left alone, so that
 * an import run again after an interruption finishes the job; a line
 * whose id belongs to another digest, or whose digest holds a different
 * record, is refused, never written over.  Refused lines are named by
 * their line number; the good lines of the file are still written, and
 * the exit status is 1 when any line was refused.
 */


#include "apikeyctl.h"


#define ACTL_IMPORT_BATCH    500
#define ACTL_IMPORT_LINE     8192
#define ACTL_IMPORT_COLUMNS  9


enum {
    ACTL_COL_DIGEST = 0,
    ACTL_COL_ID,
    ACTL_COL_OWNER,
    ACTL_COL_ACCESS,
    ACTL_COL_NAME,
    ACTL_COL_GRANTS,
    ACTL_COL_EXPIRES,
    ACTL_COL_LIMIT,
    ACTL_COL_IPS
};


static const char  *actl_import_columns[ACTL_IMPORT_COLUMNS] = {
    "digest", "id", "owner", "access", "name", "grants", "expires", "limit",
    "ips"
};


/* one good line, waiting for its batch */

typedef struct {
    long             line;
    char             digest[ACTL_DIGEST_NAME_LEN + 1];    /* sha256:<hex> */
    char            *field[ACTL_IMPORT_COLUMNS];
    char             rname[ACTL_MAX_NAME];
    char             iname[ACTL_MAX_NAME];
    int              write;
} actl_import_row_t;


typedef struct {
    actl_import_row_t  rows[ACTL_IMPORT_BATCH];
    int                n;
    long               imported;
    long               unchanged;
    long               refused;
    char               events[ACTL_MAX_NAME];
    char               stream[ACTL_MAX_NAME];
    const char        *scheme;
} actl_import_t;


static int actl_import_split(char *line, char **field, int *n);
static int actl_import_check(actl_import_row_t *row, int ncols);
static int actl_import_flush(actl_conf_t *cf, actl_import_t *im);
static int actl_import_batch(actl_conf_t *cf, actl_import_t *im);
static int actl_import_decide(actl_import_t *im, int i, redisReply *id,
    redisReply *rec);
static int actl_import_same(actl_import_row_t *row, redisReply *rec);
static int actl_import_scheme(actl_conf_t *cf, actl_import_t *im);
static void actl_import_refuse(actl_import_t *im, long line,
    const char *fmt, ...);
static void actl_import_append(actl_conf_t *cf, actl_cmd_t *cmd);
static void actl_import_free(actl_import_t *im);


int
actl_cmd_import(actl_conf_t *cf)
{
    int                 rc, i, ncols;
    long                line;
    char                buf[ACTL_IMPORT_LINE + 2], *field[ACTL_IMPORT_COLUMNS];
    FILE               *in;
    size_t              len;
    actl_import_t      *im;
    actl_import_row_t  *row;

    im = calloc(1, sizeof(actl_import_t));
    if (im == NULL) {
        return actl_error(ACTL_EREDIS, "out of memory");
    }

    im->scheme = cf->pepper_scheme ? cf->pepper_scheme : "sha256";

    if (strcmp(cf->arg, "-") == 0) {
        in = stdin;

    } else {
        in = fopen(cf->arg, "r");
        if (in == NULL) {
            free(im);
            return actl_error(ACTL_EUSAGE, "cannot open \"%s\": %s",
                              cf->arg, strerror(errno));
        }
    }

    actl_name(cf, im->events, "events", "");
    actl_name(cf, im->stream, "changes", "");

    rc = actl_import_scheme(cf, im);
    if (rc != ACTL_OK) {
        goto done;
    }

    line = 0;

    while (fgets(buf, sizeof(buf), in)) {
        line++;
        len = strlen(buf);

        if (len && buf[len - 1] == '\n') {
            buf[--len] = '\0';

        } else if (!feof(in)) {

            /* the rest of a line too long to be a record */

            while (fgets(buf, sizeof(buf), in)) {
                if (buf[strlen(buf) - 1] == '\n') {
                    break;
                }
            }

            actl_import_refuse(im, line, "longer than %d bytes",
                               ACTL_IMPORT_LINE);
            continue;
        }

        if (len && buf[len - 1] == '\r') {
            buf[--len] = '\0';
        }

        if (len == 0) {
            continue;
        }

        if (actl_import_split(buf, field, &ncols) != ACTL_OK) {
            actl_import_refuse(im, line, "a quoted field is not closed, or "
                               "more than %d columns", ACTL_IMPORT_COLUMNS);
            continue;
        }

        /* the header line names the columns */

        if (line == 1 && strcmp(field[0], "digest") == 0) {
            for (i = 0; i < ncols; i++) {
                if (strcmp(field[i], actl_import_columns[i]) != 0) {
                    break;
                }
            }

            if (i == ncols) {
                continue;
            }
        }

        row = &im->rows[im->n];
        row->line = line;

        for (i = 0; i < ACTL_IMPORT_COLUMNS; i++) {
            row->field[i] = NULL;

            if (i < ncols && field[i][0] != '\0') {
                row->field[i] = strdup(field[i]);
                if (row->field[i] == NULL) {
                    rc = actl_error(ACTL_EREDIS, "out of memory");
                    goto done;
                }
            }
        }

        if (actl_import_check(row, ncols) != ACTL_OK) {
            im->refused++;
            for (i = 0; i < ACTL_IMPORT_COLUMNS; i++) {
                free(row->field[i]);
            }

            continue;
        }

        actl_name(cf, row->rname, "key:", row->digest);
        actl_name(cf, row->iname, "id:", row->field[ACTL_COL_ID]);

        if (++im->n == ACTL_IMPORT_BATCH) {
            rc = actl_import_flush(cf, im);
            if (rc != ACTL_OK) {
                goto done;
            }
        }
    }

    if (ferror(in)) {
        rc = actl_error(ACTL_EUSAGE, "cannot read \"%s\": %s", cf->arg,
                        strerror(errno));
        goto done;
    }

    rc = actl_import_flush(cf, im);
    if (rc != ACTL_OK) {
        goto done;
    }

    if (cf->json) {
        printf("{\"imported\":%ld,\"unchanged\":%ld,\"refused\":%ld}\n",
               im->imported, im->unchanged, im->refused);

    } else {
        printf("imported %ld, unchanged %ld, refused %ld\n",
               im->imported, im->unchanged, im->refused);
    }

    rc = im->refused ? ACTL_EUSAGE : ACTL_OK;

done:

    if (rc != ACTL_OK && rc != ACTL_EUSAGE) {
        fprintf(stderr, "apikeyctl: import stopped: %ld imported, %ld "
                "unchanged, %ld refused so far; run it again to finish\n",
                im->imported, im->unchanged, im->refused);
    }

    actl_import_free(im);

    if (in != stdin) {
        fclose(in);
    }

    free(im);

    return rc;
}


/*
 * Splits a CSV line in place: fields separated by commas, each either
 * bare or double-quoted ("" inside quotes for one quote).
 */

static int
actl_import_split(char *line, char **field, int *n)
{
    char  *p, *out;

    *n = 0;
    p = line;

    for ( ;; ) {
        if (*n == ACTL_IMPORT_COLUMNS) {
            return ACTL_EUSAGE;
        }

        field[(*n)++] = p;

        if (*p == '"') {
            out = p;
            p++;

            for ( ;; ) {
                if (*p == '\0') {
                    return ACTL_EUSAGE;
                }

                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }

                    p++;
                    break;
                }

                *out++ = *p++;
            }

            if (*p != ',' && *p != '\0') {
                return ACTL_EUSAGE;
            }

            *out = '\0';

        } else {
            while (*p != ',' && *p != '\0') {
                p++;
            }
        }

        if (*p == '\0') {
            return ACTL_OK;
        }

        *p++ = '\0';
    }
}


/* every field by the schema's rules; the digest made "sha256:<hex>" */

static int
actl_import_check(actl_import_row_t *row, int ncols)
{
    int                   access;
    char                 *d, **f;
    size_t                len, i;
    unsigned              nips;
    uint32_t              u;
    unsigned char         grants[ACTL_MAX_GRANTS_LEN];
    ngx_apikey_cidr_t     cidr[ACTL_MAX_IPS];
    ngx_apikey_limits_t   limits;

    f = row->field;

    if (ncols < ACTL_COL_ACCESS + 1) {
        fprintf(stderr, "apikeyctl: line %ld: refused: %d columns, at least "
                "digest,id,owner,access expected\n", row->line, ncols);
        return ACTL_EUSAGE;
    }

    /* "<hex>" or "sha256:<hex>", 64 hex digits of either case */

    d = f[ACTL_COL_DIGEST] ? f[ACTL_COL_DIGEST] : "";
    len = strlen(d);

    if (len == ACTL_DIGEST_NAME_LEN
        && memcmp(d, NGX_APIKEY_SHA256_TAG, NGX_APIKEY_SHA256_TAG_LEN) == 0)
    {
        d += NGX_APIKEY_SHA256_TAG_LEN;
        len -= NGX_APIKEY_SHA256_TAG_LEN;
    }

    memcpy(row->digest, NGX_APIKEY_SHA256_TAG, NGX_APIKEY_SHA256_TAG_LEN);

    for (i = 0; i < len && i < ACTL_HEX_LEN; i++) {
        row->digest[NGX_APIKEY_SHA256_TAG_LEN + i] = (char) tolower(
                                                        (unsigned char) d[i]);
    }

    row->digest[NGX_APIKEY_SHA256_TAG_LEN + i] = '\0';

    if (len != ACTL_HEX_LEN
        || ngx_apikey_digest_name((unsigned char *) row->digest,
                                  ACTL_DIGEST_NAME_LEN)
           != NGX_APIKEY_SCHEME_SHA256)
    {
        fprintf(stderr, "apikeyctl: line %ld: refused: the digest is not "
                "64 hex digits (SHA-256)\n", row->line);
        return ACTL_EUSAGE;
    }

    if (f[ACTL_COL_ID] == NULL
        || !ngx_apikey_id_valid((unsigned char *) f[ACTL_COL_ID],
                                strlen(f[ACTL_COL_ID])))
    {
        fprintf(stderr, "apikeyctl: line %ld: refused: invalid id: 1..%d "
                "bytes without control characters expected\n", row->line,
                ACTL_MAX_STR);
        return ACTL_EUSAGE;
    }

    if ((f[ACTL_COL_OWNER]
         && !ngx_apikey_text_valid((unsigned char *) f[ACTL_COL_OWNER],
                                   strlen(f[ACTL_COL_OWNER])))
        || (f[ACTL_COL_NAME]
            && !ngx_apikey_text_valid((unsigned char *) f[ACTL_COL_NAME],
                                      strlen(f[ACTL_COL_NAME]))))
    {
        fprintf(stderr, "apikeyctl: line %ld: refused: invalid owner or "
                "name: up to %d bytes without control characters\n",
                row->line, ACTL_MAX_STR);
        return ACTL_EUSAGE;
    }

    access = f[ACTL_COL_ACCESS]
             ? ngx_apikey_parse_access((unsigned char *) f[ACTL_COL_ACCESS],
                                       strlen(f[ACTL_COL_ACCESS]))
             : NGX_APIKEY_BAD;

    if (access == NGX_APIKEY_BAD) {
        fprintf(stderr, "apikeyctl: line %ld: refused: access must be "
                "full, read or limited\n", row->line);
        return ACTL_EUSAGE;
    }

    if (f[ACTL_COL_GRANTS]
        && ngx_apikey_parse_grants((unsigned char *) f[ACTL_COL_GRANTS],
                                   strlen(f[ACTL_COL_GRANTS]), grants, &len)
           != NGX_APIKEY_OK)
    {
        fprintf(stderr, "apikeyctl: line %ld: refused: invalid grants: "
                "space-separated resource:r, :w or :rw expected\n",
                row->line);
        return ACTL_EUSAGE;
    }

    if (f[ACTL_COL_EXPIRES]
        && ngx_apikey_parse_expires((unsigned char *) f[ACTL_COL_EXPIRES],
                                    strlen(f[ACTL_COL_EXPIRES]), &u)
           != NGX_APIKEY_OK)
    {
        fprintf(stderr, "apikeyctl: line %ld: refused: expires must be "
                "unix seconds (0: never)\n", row->line);
        return ACTL_EUSAGE;
    }

    if (f[ACTL_COL_LIMIT]
        && ngx_apikey_parse_limit((unsigned char *) f[ACTL_COL_LIMIT],
                                  strlen(f[ACTL_COL_LIMIT]), &limits)
           != NGX_APIKEY_OK)
    {
        fprintf(stderr, "apikeyctl: line %ld: refused: limit must be "
                "\"unlimited\", or terms N/s, N/m, N/h, N/d (a bare number: "
                "per hour)\n", row->line);
        return ACTL_EUSAGE;
    }

    if (f[ACTL_COL_IPS]
        && (ngx_apikey_parse_ips((unsigned char *) f[ACTL_COL_IPS],
                                 strlen(f[ACTL_COL_IPS]), cidr, &nips)
            == NGX_APIKEY_BAD
            || nips == 0))
    {
        fprintf(stderr, "apikeyctl: line %ld: refused: ips must be "
                "space-separated CIDRs\n", row->line);
        return ACTL_EUSAGE;
    }

    return ACTL_OK;
}


/* the batch, again while another writer changes what it reads */

static int
actl_import_flush(actl_conf_t *cf, actl_import_t *im)
{
    int  attempt, rc;

    if (im->n == 0) {
        return ACTL_OK;
    }

    for (attempt = 0; attempt < ACTL_ATTEMPTS; attempt++) {
        rc = actl_import_batch(cf, im);
        if (rc != ACTL_AGAIN) {
            actl_import_free(im);
            return rc;
        }
    }

    return actl_error(ACTL_EREDIS, "the keys kept changing; the batch "
                      "from line %ld was not written", im->rows[0].line);
}


static int
actl_import_batch(actl_conf_t *cf, actl_import_t *im)
{
    int                 i, k, nw, nlog, rc;
    char                epoch[ACTL_MAX_NAME], eid[2 * 16 + 1];
    char                sname[ACTL_MAX_NAME];
    void               *q;
    redisReply         *r, *id, *rec;
    actl_cmd_t          cmd;
    actl_import_row_t  *row;
    long                imported, unchanged, refused;

    actl_cmd_init(&cmd);

    /* WATCH every name, then read them all in one round trip */

    actl_cmd_set(&cmd, "WATCH", NULL);

    for (i = 0; i < im->n; i++) {
        actl_cmd_add(&cmd, im->rows[i].rname);
        actl_cmd_add(&cmd, im->rows[i].iname);
    }

    rc = actl_redis(cf, &cmd, &r);
    if (rc != ACTL_OK) {
        goto done;
    }

    freeReplyObject(r);

    for (i = 0; i < im->n; i++) {
        actl_cmd_set(&cmd, "GET", im->rows[i].iname, NULL);

        if (redisAppendCommandArgv(cf->ctx, cmd.argc, cmd.argv, cmd.argvlen)
            != REDIS_OK)
        {
            rc = actl_error(ACTL_EREDIS, "out of memory");
            goto done;
        }

        actl_cmd_set(&cmd, "HGETALL", im->rows[i].rname, NULL);

        if (redisAppendCommandArgv(cf->ctx, cmd.argc, cmd.argv, cmd.argvlen)
            != REDIS_OK)
        {
            rc = actl_error(ACTL_EREDIS, "out of memory");
            goto done;
        }
    }

    imported = 0;
    unchanged = 0;
    refused = 0;
    rc = ACTL_OK;

    for (i = 0; i < im->n; i++) {
        id = NULL;
        rec = NULL;

        if (redisGetReply(cf->ctx, &q) != REDIS_OK) {
            rc = actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                            cf->ctx->errstr);
            goto done;
        }

        id = q;

        if (redisGetReply(cf->ctx, &q) != REDIS_OK) {
            freeReplyObject(id);
            rc = actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                            cf->ctx->errstr);
            goto done;
        }

        rec = q;

        if (rc == ACTL_OK
            && (id->type == REDIS_REPLY_ERROR
                || rec->type == REDIS_REPLY_ERROR))
        {
            rc = actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                            id->type == REDIS_REPLY_ERROR ? id->str
                                                          : rec->str);
        }

        if (rc == ACTL_OK) {
            switch (actl_import_decide(im, i, id, rec)) {
            case 0:
                unchanged++;
                break;
            case 1:
                imported++;
                break;
            default:
                refused++;
            }
        }

        freeReplyObject(id);
        freeReplyObject(rec);
    }

    if (rc != ACTL_OK) {
        goto done;
    }

    /* the new records, their id strings, and the events */

    if (actl_redisv(cf, &r, "MULTI", NULL) != ACTL_OK) {
        rc = ACTL_EREDIS;
        goto done;
    }

    freeReplyObject(r);

    nw = 0;

    for (i = 0; i < im->n; i++) {
        row = &im->rows[i];

        if (!row->write) {
            continue;
        }

        actl_cmd_set(&cmd, "HSET", row->rname, NULL);

        for (k = ACTL_COL_ID; k < ACTL_IMPORT_COLUMNS; k++) {
            if (row->field[k]) {
                actl_cmd_add(&cmd, actl_import_columns[k]);
                actl_cmd_add(&cmd, row->field[k]);
            }
        }

        actl_import_append(cf, &cmd);

        actl_cmd_set(&cmd, "SET", row->iname, row->digest, NULL);
        actl_import_append(cf, &cmd);

        actl_cmd_set(&cmd, "PUBLISH", im->events, row->digest, NULL);
        actl_import_append(cf, &cmd);

        actl_change_entry(im->stream, &cmd, row->digest,
                          ACTL_DIGEST_NAME_LEN);
        actl_import_append(cf, &cmd);

        nw += 4;
    }

    nlog = 0;

    if (nw) {
        actl_change_epoch(cf, epoch, eid, &cmd);
        actl_import_append(cf, &cmd);

        /* the digest scheme of the key set, named by its first import */

        actl_name(cf, sname, "legacy-scheme", "");
        actl_cmd_set(&cmd, "SET", sname, im->scheme, "NX", NULL);
        actl_import_append(cf, &cmd);

        nlog = 2;
    }

    actl_cmd_set(&cmd, "EXEC", NULL);
    actl_import_append(cf, &cmd);

    /* QUEUED for each, then the EXEC's reply */

    for (i = 0; i < nw + nlog + 1; i++) {
        if (redisGetReply(cf->ctx, &q) != REDIS_OK) {
            rc = actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                            cf->ctx->errstr);
            goto done;
        }

        r = q;

        if (r->type == REDIS_REPLY_ERROR && rc == ACTL_OK) {
            rc = actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                            r->str);
        }

        if (i == nw + nlog && rc == ACTL_OK) {
            if (r->type == REDIS_REPLY_NIL) {
                rc = ACTL_AGAIN;    /* a watched name changed */

            } else if (r->type != REDIS_REPLY_ARRAY
                       || r->elements != (size_t) (nw + nlog))
            {
                rc = actl_error(ACTL_EREDIS, "Redis at %s: unexpected EXEC "
                                "reply", cf->redis);

            } else {
                for (k = 0; k < nw + nlog; k++) {
                    if (r->element[k]->type == REDIS_REPLY_ERROR) {
                        rc = actl_error(ACTL_EREDIS, "Redis at %s: %s",
                                        cf->redis, r->element[k]->str);
                        break;
                    }
                }
            }
        }

        freeReplyObject(r);
    }

    if (rc == ACTL_OK) {
        im->imported += imported;
        im->unchanged += unchanged;
        im->refused += refused;

        /* the refusals are said once the batch is in */

        for (i = 0; i < im->n; i++) {
            row = &im->rows[i];

            if (row->write < 0) {
                actl_import_refuse(im, row->line, NULL);
            }
        }
    }

done:

    actl_cmd_free(&cmd);

    if (rc != ACTL_OK && rc != ACTL_AGAIN) {
        actl_unwatch(cf);
    }

    return rc;
}


/*
 * What becomes of row i, given its id string and its record as Redis has
 * them: 1 written, 0 unchanged (present and identical), -1 refused
 * (row->write keeps it, the reason is said once the batch is in).
 */

static int
actl_import_decide(actl_import_t *im, int i, redisReply *id, redisReply *rec)
{
    int                 j;
    actl_import_row_t  *row, *o;

    row = &im->rows[i];
    row->write = -1;

    /* a line earlier in the batch took this id or this digest */

    for (j = 0; j < i; j++) {
        o = &im->rows[j];

        if (o->write == 1
            && (strcmp(o->digest, row->digest) == 0
                || strcmp(o->field[ACTL_COL_ID], row->field[ACTL_COL_ID])
                   == 0))
        {
            row->write = -2;
            return -1;
        }
    }

    if (rec->type == REDIS_REPLY_ARRAY && rec->elements > 0) {
        if (!actl_import_same(row, rec)) {
            row->write = -3;
            return -1;
        }

        if (id->type != REDIS_REPLY_STRING
            || strcmp(id->str, row->digest) != 0)
        {
            row->write = -4;
            return -1;
        }

        row->write = 0;
        return 0;
    }

    if (id->type == REDIS_REPLY_STRING && strcmp(id->str, row->digest) != 0)
    {
        row->write = -4;
        return -1;
    }

    row->write = 1;
    return 1;
}


/* 1: the record holds exactly the line's fields */

static int
actl_import_same(actl_import_row_t *row, redisReply *rec)
{
    int          k, n;
    size_t       i;
    const char  *v;

    n = 0;

    for (k = ACTL_COL_ID; k < ACTL_IMPORT_COLUMNS; k++) {
        if (row->field[k] == NULL) {
            continue;
        }

        n++;
        v = actl_hash_field(rec, actl_import_columns[k]);

        if (v == NULL || strcmp(v, row->field[k]) != 0) {
            return 0;
        }
    }

    for (i = 0; i + 1 < rec->elements; i += 2) {
        n--;
    }

    return n == 0;
}


/*
 * "<prefix>legacy-scheme" names how the key set's digests were made
 * (sha256, or hmac-sha256 with a pepper): one key set holds one kind,
 * as the module computes one kind of legacy digest
 */

static int
actl_import_scheme(actl_conf_t *cf, actl_import_t *im)
{
    int          rc;
    char         name[ACTL_MAX_NAME];
    redisReply  *r;

    actl_name(cf, name, "legacy-scheme", "");

    if (actl_redisv(cf, &r, "GET", name, NULL) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    rc = ACTL_OK;

    if (r->type == REDIS_REPLY_STRING && strcmp(r->str, im->scheme) != 0) {
        rc = actl_error(ACTL_EUSAGE, "the imported keys of this key set "
                        "are %s digests (%s), not %s; nothing imported",
                        r->str, name, im->scheme);
    }

    freeReplyObject(r);

    return rc;
}


static void
actl_import_refuse(actl_import_t *im, long line, const char *fmt, ...)
{
    int                 i;
    va_list             args;
    actl_import_row_t  *row;

    if (fmt) {
        im->refused++;

        fprintf(stderr, "apikeyctl: line %ld: refused: ", line);
        va_start(args, fmt);
        vfprintf(stderr, fmt, args);
        va_end(args);
        fputc('\n', stderr);
        return;
    }

    row = NULL;

    for (i = 0; i < im->n; i++) {
        if (im->rows[i].line == line) {
            row = &im->rows[i];
        }
    }

    if (row == NULL) {
        return;
    }

    fprintf(stderr, "apikeyctl: line %ld: refused: %s\n", line,
            row->write == -2 ? "an earlier line has the same id or digest"
            : row->write == -3 ? "a different record with this digest "
                                 "exists (delete it first to replace it)"
            : "the id already belongs to another key");
}


/* a command into the pipeline; hiredis fails only for want of memory */

static void
actl_import_append(actl_conf_t *cf, actl_cmd_t *cmd)
{
    if (redisAppendCommandArgv(cf->ctx, cmd->argc, cmd->argv, cmd->argvlen)
        != REDIS_OK)
    {
        actl_error(ACTL_EREDIS, "out of memory");
        exit(ACTL_EREDIS);
    }
}


static void
actl_import_free(actl_import_t *im)
{
    int  i, k;

    for (i = 0; i < im->n; i++) {
        for (k = 0; k < ACTL_IMPORT_COLUMNS; k++) {
            free(im->rows[i].field[k]);
            im->rows[i].field[k] = NULL;
        }
    }

    im->n = 0;
}
