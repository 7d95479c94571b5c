
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl: the reference client of the key schema (docs/keys.md).
 * It creates keys from libsodium's CSPRNG, lists, shows, revokes,
 * deletes and rotates them, hashes a key read from stdin and shows the
 * per-key usage the module writes back to Redis.
 *
 * Every write is one MULTI/EXEC (guarded by WATCH) that changes the
 * record, its id string and publishes the digest on S events.  The raw
 * key is printed once, by create and rotate, and written nowhere else.
 *
 * Exit codes: 0 ok, 1 usage (bad flags, dates, CIDRs, values),
 * 2 unknown id, 3 Redis unreachable, refused authentication or errored.
 */


#include "apikeyctl.h"
#include "ngx_http_apikey_version.h"


int
main(int argc, char **argv)
{
    int           rc;
    actl_conf_t  *cf;

    cf = calloc(1, sizeof(actl_conf_t));
    if (cf == NULL) {
        return actl_error(ACTL_EREDIS, "out of memory");
    }

    cf->redis = "127.0.0.1:6379";
    cf->prefix = "apikey:";
    cf->key_prefix = "taapit_";
    cf->access = "full";
    cf->grace = 24 * 3600;
    cf->hours = 24;
    cf->now = time(NULL);

    rc = actl_parse_args(cf, argc, argv);
    if (rc != ACTL_OK) {
        fprintf(stderr, "Try 'apikeyctl --help'.\n");
        goto done;
    }

    if (cf->command == ACTL_CMD_HELP) {
        actl_usage(stdout);
        goto done;
    }

    if (cf->command == ACTL_CMD_VERSION) {
        printf("apikeyctl %s\n", NGX_HTTP_APIKEY_VERSION);
        goto done;
    }

    if (sodium_init() < 0) {
        rc = actl_error(ACTL_EREDIS, "libsodium failed to initialize");
        goto done;
    }

    if (cf->password_file) {
        rc = actl_read_password(cf);
        if (rc != ACTL_OK) {
            goto done;
        }
    }

    if (cf->password == NULL) {
        cf->password = getenv("APIKEYCTL_PASSWORD");
    }

    rc = actl_check_args(cf);
    if (rc != ACTL_OK) {
        fprintf(stderr, "Try 'apikeyctl --help'.\n");
        goto done;
    }

    if (cf->secret_file) {
        rc = actl_read_secret(cf);
        if (rc != ACTL_OK) {
            goto done;
        }
    }

    if (cf->command != ACTL_CMD_HASH) {
        rc = actl_connect(cf);
        if (rc != ACTL_OK) {
            goto done;
        }
    }

    switch (cf->command) {

    case ACTL_CMD_CREATE:
        rc = actl_cmd_create(cf);
        break;

    case ACTL_CMD_LIST:
        rc = actl_cmd_list(cf);
        break;

    case ACTL_CMD_SHOW:
        rc = actl_cmd_show(cf);
        break;

    case ACTL_CMD_REVOKE:
        rc = actl_cmd_revoke(cf);
        break;

    case ACTL_CMD_UPDATE:
        rc = actl_cmd_update(cf);
        break;

    case ACTL_CMD_DELETE:
        rc = actl_cmd_delete(cf);
        break;

    case ACTL_CMD_ROTATE:
        rc = actl_cmd_rotate(cf);
        break;

    case ACTL_CMD_HASH:
        rc = actl_cmd_hash(cf);
        break;

    case ACTL_CMD_ACCEPT_DATASET:
        rc = actl_cmd_accept_dataset(cf);
        break;

    case ACTL_CMD_IMPORT:
        rc = actl_cmd_import(cf);
        break;

    default: /* ACTL_CMD_USAGE */
        rc = actl_cmd_usage(cf);
        break;
    }

done:

    if (cf->ctx) {
        redisFree(cf->ctx);
    }

    sodium_memzero(cf->secret, sizeof(cf->secret));
    sodium_memzero(cf->password_buf, sizeof(cf->password_buf));
    free(cf);

    if (fflush(stdout) != 0 && rc == ACTL_OK) {
        rc = actl_error(ACTL_EUSAGE, "cannot write output: %s",
                        strerror(errno));
    }

    return rc;
}


int
actl_error(int rc, const char *fmt, ...)
{
    va_list  args;

    fflush(stdout);
    fputs("apikeyctl: ", stderr);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fputc('\n', stderr);

    return rc;
}


void
actl_usage(FILE *f)
{
    fputs(
"Usage: apikeyctl [global options] COMMAND [arguments] [options]\n"
"\n"
"Commands:\n"
"  create                 create a key; prints it once (stdout)\n"
"  list                   list all keys\n"
"  show ID                show one key's record\n"
"  revoke ID              set active=0\n"
"  update ID --limit L    change the key's limit\n"
"  delete ID              remove the record and its id\n"
"  rotate ID              issue a new key with the same record and a new\n"
"                         id; the old key expires after the grace period\n"
"                         and is marked deprecated (now)\n"
"  hash                   read one key from stdin, print its digest\n"
"  usage ID               requests per hour and last use\n"
"  accept-dataset         make every nginx load what Redis holds now\n"
"                         (after a data loss, see docs/replication.md)\n"
"  import FILE|-          write records of keys issued elsewhere, known by\n"
"                         their SHA-256 digests, from CSV lines\n"
"                         digest,id,owner,access[,name,grants,expires,\n"
"                         limit,ips] (see docs/keys.md)\n"
"\n"
"Global options:\n"
"  --redis host:port|unix:/path   default 127.0.0.1:6379\n"
"  --db N                 Redis database (default 0)\n"
"  --user U               Redis ACL user\n"
"  --password P           Redis password (or env APIKEYCTL_PASSWORD)\n"
"  --password-file FILE   Redis password read from FILE, as password_file=\n"
"  --prefix S             Redis key prefix (default apikey:)\n"
"  --hash-secret FILE     digest secret, as apikey_hash_secret\n"
"  --tls                  TLS to Redis (OpenSSL); --tls-ca FILE (default:\n"
"                         the system store), --tls-cert FILE --tls-key FILE\n"
"                         (mutual TLS), --tls-server-name N (else the host)\n"
"  --sentinel H:P,... --master NAME\n"
"                         find the master through Redis Sentinel\n"
"  --cluster              Redis Cluster (--prefix needs a {hash tag})\n"
"  --json                 machine-readable output\n"
"  --help                 this text\n"
"  --version              the version, that of the module\n"
"\n"
"create options:\n"
"  --key-prefix P         key prefix (default taapit_; also rotate)\n"
"  --id ID                record id (default: k_ + 12 random base62)\n"
"  --owner O              owner (user or workspace)\n"
"  --name N               name\n"
"  --access full|read|limited     default full\n"
"  --grant RES:r|w|rw     grant for limited keys (repeatable)\n"
"  --expires T            unix seconds, +30d/+12h/+90m/+45s, 2027-01-31,\n"
"                         2027-01-31T12:00:00Z, or never (also rotate)\n"
"  --limit L              \"unlimited\", or terms such as \"20/s 1000/h\":\n"
"                         N/s, N/m, N/h, N/d (a bare N is per hour)\n"
"  --ip CIDR              allowed client addresses (repeatable)\n"
"  --inactive             create the key revoked (active=0)\n"
"\n"
"rotate options:\n"
"  --grace D              old key's remaining life (default 24h)\n"
"\n"
"usage options:\n"
"  --hours N              hours to show, up to the current one (default 24)\n"
"\n"
"import options:\n"
"  --pepper-scheme sha256|hmac-sha256\n"
"                         how the digests were made (default sha256);\n"
"                         one key set holds one kind\n"
"\n"
"Exit codes: 0 ok, 1 usage error, 2 unknown id, 3 Redis error.\n",
          f);
}
