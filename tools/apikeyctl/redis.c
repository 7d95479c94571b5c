
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl's Redis connection: connecting and authenticating, commands
 * built argument by argument, MULTI/EXEC transactions guarded by WATCH,
 * and finding a record by its id.
 */


#include "apikeyctl.h"


void
actl_cmd_init(actl_cmd_t *cmd)
{
    cmd->argc = 0;
    cmd->nalloc = 0;
    cmd->argv = NULL;
    cmd->argvlen = NULL;
}


void
actl_cmd_free(actl_cmd_t *cmd)
{
    free(cmd->argv);
    free(cmd->argvlen);
    actl_cmd_init(cmd);
}


void
actl_cmd_addn(actl_cmd_t *cmd, const char *s, size_t len)
{
    int      n;
    void    *p;

    if (cmd->argc == cmd->nalloc) {
        n = cmd->nalloc ? cmd->nalloc * 2 : 16;

        p = realloc(cmd->argv, n * sizeof(const char *));
        if (p == NULL) {
            goto nomem;
        }

        cmd->argv = p;

        p = realloc(cmd->argvlen, n * sizeof(size_t));
        if (p == NULL) {
            goto nomem;
        }

        cmd->argvlen = p;
        cmd->nalloc = n;
    }

    cmd->argv[cmd->argc] = s;
    cmd->argvlen[cmd->argc] = len;
    cmd->argc++;

    return;

nomem:

    actl_error(ACTL_EREDIS, "out of memory");
    exit(ACTL_EREDIS);
}


void
actl_cmd_add(actl_cmd_t *cmd, const char *s)
{
    actl_cmd_addn(cmd, s, strlen(s));
}


/* replaces the arguments with a NULL-terminated list */

void
actl_cmd_set(actl_cmd_t *cmd, ...)
{
    va_list      args;
    const char  *s;

    cmd->argc = 0;

    va_start(args, cmd);

    while ((s = va_arg(args, const char *)) != NULL) {
        actl_cmd_add(cmd, s);
    }

    va_end(args);
}


int
actl_connect(actl_conf_t *cf)
{
    int              rc, redirected;
    char             host[256], db[32];
    size_t           len;
    long long        port;
    redisReply      *reply;
    const char      *colon, *h;
    struct timeval   tv;
    actl_cmd_t       cmd;

    tv.tv_sec = 2;
    tv.tv_usec = 0;

    redirected = 0;

    if (strncmp(cf->redis, "unix:", 5) == 0) {
        if (cf->tls || cf->sentinel || cf->cluster) {
            return actl_error(ACTL_EUSAGE, "--tls, --sentinel and --cluster "
                              "need host:port in --redis");
        }

        if (cf->redis[5] == '\0') {
            return actl_error(ACTL_EUSAGE, "invalid --redis \"%s\"",
                              cf->redis);
        }

        cf->ctx = redisConnectUnixWithTimeout(cf->redis + 5, tv);

    } else {
        h = cf->redis;
        port = 6379;

        if (h[0] == '[') {
            colon = strchr(h, ']');
            if (colon == NULL) {
                goto invalid;
            }

            len = (size_t) (colon - h - 1);
            h++;
            colon++;

            if (*colon != ':' && *colon != '\0') {
                goto invalid;
            }

            if (*colon == '\0') {
                colon = NULL;
            }

        } else {
            colon = strrchr(h, ':');
            len = colon ? (size_t) (colon - h) : strlen(h);
        }

        if (len == 0 || len >= sizeof(host)) {
            goto invalid;
        }

        memcpy(host, h, len);
        host[len] = '\0';

        if (colon) {
            if (actl_parse_long(colon + 1, 65535, &port) != ACTL_OK
                || port == 0)
            {
                goto invalid;
            }
        }

        if (cf->sentinel
            && actl_sentinel_master(cf, host, sizeof(host), &port)
               != ACTL_OK)
        {
            return ACTL_EREDIS;
        }

        cf->ctx = actl_transport_connect(cf, host, (int) port);
    }

again:

    if (redirected) {
        cf->ctx = actl_transport_connect(cf, host, (int) port);
    }

    if (cf->ctx == NULL && cf->tls) {
        return ACTL_EREDIS;     /* said why already */
    }

    if (cf->ctx == NULL) {
        return actl_error(ACTL_EREDIS, "cannot connect to Redis at %s: "
                          "out of memory", cf->redis);
    }

    if (cf->ctx->err) {
        return actl_error(ACTL_EREDIS, "cannot connect to Redis at %s: %s",
                          cf->redis, cf->ctx->errstr);
    }

    tv.tv_sec = 5;
    redisSetTimeout(cf->ctx, tv);

    actl_cmd_init(&cmd);

    if (cf->password) {
        if (cf->user) {
            actl_cmd_set(&cmd, "AUTH", cf->user, cf->password, NULL);

        } else {
            actl_cmd_set(&cmd, "AUTH", cf->password, NULL);
        }

        reply = redisCommandArgv(cf->ctx, cmd.argc, cmd.argv, cmd.argvlen);

        if (reply == NULL) {
            actl_cmd_free(&cmd);
            return actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                              cf->ctx->errstr);
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            actl_error(ACTL_EREDIS, "Redis at %s refused authentication: %s",
                       cf->redis, reply->str);
            freeReplyObject(reply);
            actl_cmd_free(&cmd);
            return ACTL_EREDIS;
        }

        freeReplyObject(reply);
    }

    if (cf->db) {
        snprintf(db, sizeof(db), "%ld", cf->db);
        actl_cmd_set(&cmd, "SELECT", db, NULL);

        if (actl_redis(cf, &cmd, &reply) != ACTL_OK) {
            actl_cmd_free(&cmd);
            return ACTL_EREDIS;
        }

        freeReplyObject(reply);
    }

    /* fail early, with a clear message, where authentication is needed */

    actl_cmd_set(&cmd, "PING", NULL);

    if (actl_redis(cf, &cmd, &reply) != ACTL_OK) {
        actl_cmd_free(&cmd);
        return ACTL_EREDIS;
    }

    freeReplyObject(reply);
    actl_cmd_free(&cmd);

    if (cf->sentinel && actl_check_role(cf) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    if (cf->cluster && !redirected) {
        rc = actl_cluster_owner(cf, host, sizeof(host), &port);

        if (rc == ACTL_AGAIN) {
            /* another node serves the slot: the same again, there */
            redisFree(cf->ctx);
            cf->ctx = NULL;
            redirected = 1;
            goto again;
        }

        if (rc != ACTL_OK) {
            return ACTL_EREDIS;
        }
    }

    return ACTL_OK;

invalid:

    return actl_error(ACTL_EUSAGE, "invalid --redis \"%s\": use host:port, "
                      "[v6addr]:port or unix:/path", cf->redis);
}


/* runs one command; an error reply is an error, with a message */

int
actl_redis(actl_conf_t *cf, actl_cmd_t *cmd, redisReply **reply)
{
    redisReply  *r;

    r = redisCommandArgv(cf->ctx, cmd->argc, cmd->argv, cmd->argvlen);

    if (r == NULL) {
        return actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                          cf->ctx->errstr[0] ? cf->ctx->errstr
                                             : "connection lost");
    }

    if (r->type == REDIS_REPLY_ERROR) {
        actl_error(ACTL_EREDIS, "Redis at %s: %.*s: %s", cf->redis,
                   (int) cmd->argvlen[0], cmd->argv[0], r->str);
        freeReplyObject(r);
        return ACTL_EREDIS;
    }

    *reply = r;

    return ACTL_OK;
}


/* actl_redis() with a NULL-terminated argument list */

int
actl_redisv(actl_conf_t *cf, redisReply **reply, ...)
{
    int          rc;
    va_list      args;
    const char  *s;
    actl_cmd_t   cmd;

    actl_cmd_init(&cmd);

    va_start(args, reply);

    while ((s = va_arg(args, const char *)) != NULL) {
        actl_cmd_add(&cmd, s);
    }

    va_end(args);

    rc = actl_redis(cf, &cmd, reply);

    actl_cmd_free(&cmd);

    return rc;
}


/*
 * MULTI, the commands, EXEC: ACTL_OK, ACTL_AGAIN when a watched key
 * changed (nothing was written), or ACTL_EREDIS
 */

int
actl_transaction(actl_conf_t *cf, actl_cmd_t *cmds, int n)
{
    int          i, rc, nlog;
    redisReply  *r;
    actl_cmd_t   log[ACTL_MAX_LOG];

    if (actl_redisv(cf, &r, "MULTI", NULL) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    freeReplyObject(r);

    /* the change log's entries go in the same transaction, see changes.c */

    nlog = actl_change_log(cf, cmds, n, log);
    rc = ACTL_OK;

    for (i = 0; i < n + nlog; i++) {
        if (actl_redis(cf, i < n ? &cmds[i] : &log[i - n], &r) != ACTL_OK) {
            if (actl_redisv(cf, &r, "DISCARD", NULL) == ACTL_OK) {
                freeReplyObject(r);
            }

            rc = ACTL_EREDIS;
            break;
        }

        freeReplyObject(r);
    }

    for (i = 0; i < nlog; i++) {
        actl_cmd_free(&log[i]);
    }

    if (rc != ACTL_OK) {
        return rc;
    }

    n += nlog;

    if (actl_redisv(cf, &r, "EXEC", NULL) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return ACTL_AGAIN;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t) n) {
        freeReplyObject(r);
        return actl_error(ACTL_EREDIS, "Redis at %s: unexpected EXEC reply",
                          cf->redis);
    }

    for (i = 0; i < n; i++) {
        if (r->element[i]->type == REDIS_REPLY_ERROR) {
            actl_error(ACTL_EREDIS, "Redis at %s: %s", cf->redis,
                       r->element[i]->str);
            freeReplyObject(r);
            return ACTL_EREDIS;
        }
    }

    freeReplyObject(r);

    return ACTL_OK;
}


void
actl_unwatch(actl_conf_t *cf)
{
    redisReply  *r;

    if (actl_redisv(cf, &r, "UNWATCH", NULL) == ACTL_OK) {
        freeReplyObject(r);
    }
}


/* buf (ACTL_MAX_NAME bytes) = prefix + kind + part */

void
actl_name(actl_conf_t *cf, char *buf, const char *kind, const char *part)
{
    snprintf(buf, ACTL_MAX_NAME, "%s%s%s", cf->prefix, kind, part);
}


/*
 * finds the digest of an id, WATCHing its id string and record when
 * "watch" is set (digest: room for ACTL_DIGEST_NAME_LEN + 1 bytes):
 * ACTL_OK, ACTL_ENOID (a message printed) or ACTL_EREDIS;
 * digest is set to "" when the id string exists but its record does not
 * belong to the id (it is dangling)
 */

int
actl_lookup(actl_conf_t *cf, const char *id, char *digest, int watch)
{
    char         name[ACTL_MAX_NAME], rname[ACTL_MAX_NAME];
    redisReply  *r;

    actl_name(cf, name, "id:", id);

    if (watch) {
        if (actl_redisv(cf, &r, "WATCH", name, NULL) != ACTL_OK) {
            return ACTL_EREDIS;
        }

        freeReplyObject(r);
    }

    if (actl_redisv(cf, &r, "GET", name, NULL) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return actl_error(ACTL_ENOID, "unknown id \"%s\"", id);
    }

    /* "<hex>", or "sha256:<hex>" for a key imported by its digest */

    if (ngx_apikey_digest_name((unsigned char *) r->str, r->len)
        == NGX_APIKEY_BAD)
    {
        freeReplyObject(r);
        digest[0] = '\0';
        return ACTL_OK;
    }

    memcpy(digest, r->str, r->len + 1);
    freeReplyObject(r);

    actl_name(cf, rname, "key:", digest);

    if (watch) {
        if (actl_redisv(cf, &r, "WATCH", rname, NULL) != ACTL_OK) {
            return ACTL_EREDIS;
        }

        freeReplyObject(r);
    }

    if (actl_redisv(cf, &r, "HGET", rname, "id", NULL) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    if (r->type != REDIS_REPLY_STRING || strcmp(r->str, id) != 0) {
        digest[0] = '\0';
    }

    freeReplyObject(r);

    return ACTL_OK;
}


int
actl_valid_hex(const char *s, size_t len)
{
    while (len--) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) {
            return 0;
        }

        s++;
    }

    return 1;
}
