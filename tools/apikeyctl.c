
/*
 * apikeyctl: the reference client of the key schema (SPEC sections 4
 * and 7).  It creates keys from libsodium's CSPRNG, lists, shows,
 * revokes, deletes and rotates them, hashes a key read from stdin and
 * shows the per-key usage the module writes back to Redis.
 *
 * Every write is one MULTI/EXEC (guarded by WATCH) that changes the
 * record, its id string and publishes the digest on S events.  The raw
 * key is printed once, by create and rotate, and written nowhere else.
 *
 * Exit codes: 0 ok, 1 usage (bad flags, dates, CIDRs, values),
 * 2 unknown id, 3 Redis unreachable, refused authentication or errored.
 */


#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>

#include <sodium.h>
#include <hiredis/hiredis.h>

#include "ngx_apikey_format.h"


#define ACTL_OK              0
#define ACTL_EUSAGE          1
#define ACTL_ENOID           2
#define ACTL_EREDIS          3
#define ACTL_AGAIN           (-1)

#define ACTL_DIGEST_LEN      32
#define ACTL_HEX_LEN         64
#define ACTL_MAX_KEY_LEN     256
#define ACTL_MAX_KEY_PREFIX  64
#define ACTL_MAX_STR         255
#define ACTL_MAX_IPS         64
#define ACTL_MAX_GRANTS      256
#define ACTL_MAX_GRANTS_LEN  4096
#define ACTL_MAX_PREFIX      200
#define ACTL_MAX_NAME        1024
#define ACTL_ID_RANDOM_LEN   12
#define ACTL_SECRET_MIN      32
#define ACTL_SECRET_MAX      64
#define ACTL_MAX_HOURS       8784
#define ACTL_MAX_LIMIT       4294967280ULL
#define ACTL_MAX_TIME        4294967295LL     /* the module's bound */
#define ACTL_ATTEMPTS        8

#define ACTL_GRANT_R         0x01
#define ACTL_GRANT_W         0x02


enum {
    ACTL_CMD_NONE = 0,
    ACTL_CMD_CREATE,
    ACTL_CMD_LIST,
    ACTL_CMD_SHOW,
    ACTL_CMD_REVOKE,
    ACTL_CMD_DELETE,
    ACTL_CMD_ROTATE,
    ACTL_CMD_HASH,
    ACTL_CMD_USAGE,
    ACTL_CMD_HELP
};

#define ACTL_ALL             0xffff
#define ACTL_IN(c)           (1 << (c))


enum {
    ACTL_OPT_REDIS = 0,
    ACTL_OPT_DB,
    ACTL_OPT_USER,
    ACTL_OPT_PASSWORD,
    ACTL_OPT_PREFIX,
    ACTL_OPT_SECRET,
    ACTL_OPT_JSON,
    ACTL_OPT_HELP,
    ACTL_OPT_KEY_PREFIX,
    ACTL_OPT_ID,
    ACTL_OPT_OWNER,
    ACTL_OPT_NAME,
    ACTL_OPT_ACCESS,
    ACTL_OPT_GRANT,
    ACTL_OPT_EXPIRES,
    ACTL_OPT_LIMIT,
    ACTL_OPT_IP,
    ACTL_OPT_INACTIVE,
    ACTL_OPT_GRACE,
    ACTL_OPT_HOURS,
    ACTL_NOPTS
};


typedef struct {
    const char      *name;
    int              id;
    int              has_arg;
    int              repeat;
    int              commands;
} actl_option_t;


typedef struct {
    const char      *resource;
    size_t           len;
    int              perm;
} actl_grant_t;


typedef struct {
    int              argc;
    int              nalloc;
    const char     **argv;
    size_t          *argvlen;
} actl_cmd_t;


/* a record found by list */

typedef struct {
    const char      *digest;
    const char      *name;
    redisReply      *record;
    const char      *id;
} actl_entry_t;


typedef struct {
    /* global options */
    const char      *redis;
    long             db;
    const char      *user;
    const char      *password;
    const char      *prefix;
    const char      *secret_file;
    unsigned char    secret[ACTL_SECRET_MAX + 2];
    size_t           secret_len;
    int              json;

    /* the command and its positional arguments */
    int              command;
    const char      *arg;
    int              nargs;

    /* create and rotate */
    const char      *key_prefix;
    const char      *id;
    const char      *owner;
    const char      *name;
    const char      *access;
    actl_grant_t     grants[ACTL_MAX_GRANTS];
    int              ngrants;
    int              has_expires;
    long long        expires;
    const char      *limit;
    const char      *ips[ACTL_MAX_IPS];
    int              nips;
    int              inactive;
    long long        grace;
    long             hours;

    int              seen[ACTL_NOPTS];
    time_t           now;
    redisContext    *ctx;
} actl_conf_t;


static int actl_error(int rc, const char *fmt, ...);
static void actl_usage(FILE *f);
static const actl_option_t *actl_find_option(const char *name, size_t len);
static int actl_parse_args(actl_conf_t *cf, int argc, char **argv);
static int actl_set_option(actl_conf_t *cf, const actl_option_t *opt,
    const char *value);
static int actl_check_args(actl_conf_t *cf);
static int actl_parse_long(const char *s, long long max, long long *out);
static int actl_parse_duration(const char *s, long long *out);
static int actl_parse_time(const char *s, time_t now, long long *out);
static long long actl_days_from_civil(long long y, int m, int d);
static int actl_digits(const char *s, int n);
static int actl_check_cidr(const char *s);
static int actl_add_grant(actl_conf_t *cf, const char *s);
static int actl_check_text(const char *what, const char *s, int id);
static int actl_read_secret(actl_conf_t *cf);

static void actl_cmd_init(actl_cmd_t *cmd);
static void actl_cmd_free(actl_cmd_t *cmd);
static void actl_cmd_addn(actl_cmd_t *cmd, const char *s, size_t len);
static void actl_cmd_add(actl_cmd_t *cmd, const char *s);
static void actl_cmd_set(actl_cmd_t *cmd, ...);
static int actl_connect(actl_conf_t *cf);
static int actl_redis(actl_conf_t *cf, actl_cmd_t *cmd, redisReply **reply);
static int actl_redisv(actl_conf_t *cf, redisReply **reply, ...);
static int actl_transaction(actl_conf_t *cf, actl_cmd_t *cmds, int n);
static void actl_unwatch(actl_conf_t *cf);
static void actl_name(actl_conf_t *cf, char *buf, const char *kind,
    const char *part);
static int actl_lookup(actl_conf_t *cf, const char *id, char *digest,
    int watch);
static int actl_valid_hex(const char *s, size_t len);

static void actl_random_base62(char *out, size_t n);
static int actl_make_key(const char *prefix, char *key, size_t *len);
static void actl_digest(actl_conf_t *cf, const unsigned char *key,
    size_t len, char *hex);
static void actl_new_id(char *id);
static void actl_print_key(actl_conf_t *cf, const char *what,
    const char *id, const char *key, const char *digest);

static void actl_json_str(const char *s, size_t len);
static void actl_text_str(const char *s, size_t len, int width);
static void actl_format_time(long long t, char *buf, size_t size);
static const char *actl_hash_field(redisReply *r, const char *field);

static int actl_cmd_create(actl_conf_t *cf);
static int actl_entry_cmp(const void *a, const void *b);
static int actl_cmd_list(actl_conf_t *cf);
static int actl_cmd_show(actl_conf_t *cf);
static int actl_cmd_revoke(actl_conf_t *cf);
static int actl_cmd_delete(actl_conf_t *cf);
static int actl_cmd_rotate(actl_conf_t *cf);
static int actl_cmd_hash(actl_conf_t *cf);
static int actl_cmd_usage(actl_conf_t *cf);


static const char  actl_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


static const char  *actl_commands[] = {
    "", "create", "list", "show", "revoke", "delete", "rotate", "hash",
    "usage", "help", NULL
};


#define ACTL_RECORD  (ACTL_IN(ACTL_CMD_CREATE))
#define ACTL_NEWKEY  (ACTL_IN(ACTL_CMD_CREATE) | ACTL_IN(ACTL_CMD_ROTATE))

static const actl_option_t  actl_options[] = {
    { "redis",      ACTL_OPT_REDIS,      1, 0, ACTL_ALL },
    { "db",         ACTL_OPT_DB,         1, 0, ACTL_ALL },
    { "user",       ACTL_OPT_USER,       1, 0, ACTL_ALL },
    { "password",   ACTL_OPT_PASSWORD,   1, 0, ACTL_ALL },
    { "prefix",     ACTL_OPT_PREFIX,     1, 0, ACTL_ALL },
    { "hash-secret", ACTL_OPT_SECRET,    1, 0, ACTL_ALL },
    { "json",       ACTL_OPT_JSON,       0, 0, ACTL_ALL },
    { "help",       ACTL_OPT_HELP,       0, 0, ACTL_ALL },
    { "key-prefix", ACTL_OPT_KEY_PREFIX, 1, 0, ACTL_NEWKEY },
    { "id",         ACTL_OPT_ID,         1, 0, ACTL_RECORD },
    { "owner",      ACTL_OPT_OWNER,      1, 0, ACTL_RECORD },
    { "name",       ACTL_OPT_NAME,       1, 0, ACTL_RECORD },
    { "access",     ACTL_OPT_ACCESS,     1, 0, ACTL_RECORD },
    { "grant",      ACTL_OPT_GRANT,      1, 1, ACTL_RECORD },
    { "expires",    ACTL_OPT_EXPIRES,    1, 0, ACTL_NEWKEY },
    { "limit",      ACTL_OPT_LIMIT,      1, 0, ACTL_RECORD },
    { "ip",         ACTL_OPT_IP,         1, 1, ACTL_RECORD },
    { "inactive",   ACTL_OPT_INACTIVE,   0, 0, ACTL_RECORD },
    { "grace",      ACTL_OPT_GRACE,      1, 0, ACTL_IN(ACTL_CMD_ROTATE) },
    { "hours",      ACTL_OPT_HOURS,      1, 0, ACTL_IN(ACTL_CMD_USAGE) },
    { NULL, 0, 0, 0, 0 }
};


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

    if (sodium_init() < 0) {
        rc = actl_error(ACTL_EREDIS, "libsodium failed to initialize");
        goto done;
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

    case ACTL_CMD_DELETE:
        rc = actl_cmd_delete(cf);
        break;

    case ACTL_CMD_ROTATE:
        rc = actl_cmd_rotate(cf);
        break;

    case ACTL_CMD_HASH:
        rc = actl_cmd_hash(cf);
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
    free(cf);

    if (fflush(stdout) != 0 && rc == ACTL_OK) {
        rc = actl_error(ACTL_EUSAGE, "cannot write output: %s",
                        strerror(errno));
    }

    return rc;
}


static int
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


static void
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
"  delete ID              remove the record and its id\n"
"  rotate ID              issue a new key with the same record and a new\n"
"                         id; the old key expires after the grace period\n"
"  hash                   read one key from stdin, print its digest\n"
"  usage ID               requests per hour and last use\n"
"\n"
"Global options:\n"
"  --redis host:port|unix:/path   default 127.0.0.1:6379\n"
"  --db N                 Redis database (default 0)\n"
"  --user U               Redis ACL user\n"
"  --password P           Redis password (or env APIKEYCTL_PASSWORD)\n"
"  --prefix S             Redis key prefix (default apikey:)\n"
"  --hash-secret FILE     digest secret, as apikey_hash_secret\n"
"  --json                 machine-readable output\n"
"  --help                 this text\n"
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
"  --limit N|unlimited    requests per hour\n"
"  --ip CIDR              allowed client addresses (repeatable)\n"
"  --inactive             create the key revoked (active=0)\n"
"\n"
"rotate options:\n"
"  --grace D              old key's remaining life (default 24h)\n"
"\n"
"usage options:\n"
"  --hours N              hours to show, up to the current one (default 24)\n"
"\n"
"Exit codes: 0 ok, 1 usage error, 2 unknown id, 3 Redis error.\n",
          f);
}


static const actl_option_t *
actl_find_option(const char *name, size_t len)
{
    const actl_option_t  *opt;

    for (opt = actl_options; opt->name; opt++) {
        if (strlen(opt->name) == len && memcmp(opt->name, name, len) == 0) {
            return opt;
        }
    }

    return NULL;
}


static int
actl_parse_args(actl_conf_t *cf, int argc, char **argv)
{
    int                   i, k, rc, options_done;
    size_t                len;
    const char           *arg, *name, *eq, *value;
    const actl_option_t  *opt;

    options_done = 0;

    for (i = 1; i < argc; i++) {
        arg = argv[i];

        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }

        if (!options_done && (strcmp(arg, "-h") == 0)) {
            cf->command = ACTL_CMD_HELP;
            return ACTL_OK;
        }

        if (!options_done && arg[0] == '-' && arg[1] == '-') {
            name = arg + 2;
            eq = strchr(name, '=');
            len = eq ? (size_t) (eq - name) : strlen(name);

            opt = actl_find_option(name, len);
            if (opt == NULL) {
                return actl_error(ACTL_EUSAGE, "unknown option \"--%.*s\"",
                                  (int) len, name);
            }

            if (opt->has_arg) {
                if (eq) {
                    value = eq + 1;

                } else if (i + 1 < argc) {
                    value = argv[++i];

                } else {
                    return actl_error(ACTL_EUSAGE,
                                      "option \"--%s\" needs a value",
                                      opt->name);
                }

            } else {
                if (eq) {
                    return actl_error(ACTL_EUSAGE,
                                      "option \"--%s\" takes no value",
                                      opt->name);
                }

                value = NULL;
            }

            if (cf->seen[opt->id] && !opt->repeat) {
                return actl_error(ACTL_EUSAGE, "option \"--%s\" given twice",
                                  opt->name);
            }

            cf->seen[opt->id]++;

            rc = actl_set_option(cf, opt, value);
            if (rc != ACTL_OK) {
                return rc;
            }

            continue;
        }

        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            return actl_error(ACTL_EUSAGE, "unknown option \"%s\"", arg);
        }

        if (cf->command == ACTL_CMD_NONE) {
            for (k = 1; actl_commands[k]; k++) {
                if (strcmp(arg, actl_commands[k]) == 0) {
                    cf->command = k;
                    break;
                }
            }

            if (cf->command == ACTL_CMD_NONE) {
                return actl_error(ACTL_EUSAGE, "unknown command \"%s\"", arg);
            }

            continue;
        }

        if (cf->nargs > 0) {
            return actl_error(ACTL_EUSAGE, "unexpected argument \"%s\"", arg);
        }

        cf->arg = arg;
        cf->nargs++;
    }

    if (cf->seen[ACTL_OPT_HELP]) {
        cf->command = ACTL_CMD_HELP;
        return ACTL_OK;
    }

    if (cf->command == ACTL_CMD_NONE) {
        return actl_error(ACTL_EUSAGE, "no command given");
    }

    if (cf->command == ACTL_CMD_HELP) {
        return ACTL_OK;
    }

    for (opt = actl_options; opt->name; opt++) {
        if (cf->seen[opt->id] && !(opt->commands & ACTL_IN(cf->command))) {
            return actl_error(ACTL_EUSAGE,
                              "option \"--%s\" does not apply to \"%s\"",
                              opt->name, actl_commands[cf->command]);
        }
    }

    switch (cf->command) {

    case ACTL_CMD_SHOW:
    case ACTL_CMD_REVOKE:
    case ACTL_CMD_DELETE:
    case ACTL_CMD_ROTATE:
    case ACTL_CMD_USAGE:
        if (cf->nargs != 1) {
            return actl_error(ACTL_EUSAGE, "\"%s\" needs an id",
                              actl_commands[cf->command]);
        }

        break;

    default:
        if (cf->nargs != 0) {
            return actl_error(ACTL_EUSAGE, "\"%s\" takes no argument",
                              actl_commands[cf->command]);
        }

        break;
    }

    return ACTL_OK;
}


static int
actl_set_option(actl_conf_t *cf, const actl_option_t *opt, const char *value)
{
    long long  n;

    switch (opt->id) {

    case ACTL_OPT_REDIS:
        cf->redis = value;
        break;

    case ACTL_OPT_DB:
        if (actl_parse_long(value, 1000000, &n) != ACTL_OK) {
            return actl_error(ACTL_EUSAGE, "invalid --db \"%s\"", value);
        }

        cf->db = (long) n;
        break;

    case ACTL_OPT_USER:
        cf->user = value;
        break;

    case ACTL_OPT_PASSWORD:
        cf->password = value;
        break;

    case ACTL_OPT_PREFIX:
        cf->prefix = value;
        break;

    case ACTL_OPT_SECRET:
        cf->secret_file = value;
        break;

    case ACTL_OPT_JSON:
        cf->json = 1;
        break;

    case ACTL_OPT_KEY_PREFIX:
        cf->key_prefix = value;
        break;

    case ACTL_OPT_ID:
        cf->id = value;
        break;

    case ACTL_OPT_OWNER:
        cf->owner = value;
        break;

    case ACTL_OPT_NAME:
        cf->name = value;
        break;

    case ACTL_OPT_ACCESS:
        cf->access = value;
        break;

    case ACTL_OPT_GRANT:
        return actl_add_grant(cf, value);

    case ACTL_OPT_EXPIRES:
        if (actl_parse_time(value, cf->now, &cf->expires) != ACTL_OK) {
            return actl_error(ACTL_EUSAGE, "invalid --expires \"%s\": use "
                              "unix seconds, +30d, +12h, +90m, +45s, "
                              "2027-01-31, 2027-01-31T12:00:00Z or never, "
                              "up to 2106-02-07T06:28:15Z", value);
        }

        cf->has_expires = 1;
        break;

    case ACTL_OPT_LIMIT:
        if (strcmp(value, "unlimited") != 0
            && actl_parse_long(value, (long long) ACTL_MAX_LIMIT, &n)
               != ACTL_OK)
        {
            return actl_error(ACTL_EUSAGE, "invalid --limit \"%s\": use a "
                              "number of requests per hour (0..%llu) or "
                              "\"unlimited\"", value, ACTL_MAX_LIMIT);
        }

        cf->limit = value;
        break;

    case ACTL_OPT_IP:
        if (cf->nips == ACTL_MAX_IPS) {
            return actl_error(ACTL_EUSAGE, "too many --ip (at most %d)",
                              ACTL_MAX_IPS);
        }

        switch (actl_check_cidr(value)) {

        case 0:
            break;

        case 1:
            return actl_error(ACTL_EUSAGE, "invalid --ip \"%s\": the "
                              "address has bits set beyond the /mask",
                              value);

        default:
            return actl_error(ACTL_EUSAGE, "invalid --ip \"%s\": use an "
                              "IPv4 or IPv6 address or CIDR, e.g. "
                              "10.0.0.0/8 or 2001:db8::/32", value);
        }

        cf->ips[cf->nips++] = value;
        break;

    case ACTL_OPT_INACTIVE:
        cf->inactive = 1;
        break;

    case ACTL_OPT_GRACE:
        if (actl_parse_duration(value, &cf->grace) != ACTL_OK) {
            return actl_error(ACTL_EUSAGE, "invalid --grace \"%s\": use "
                              "seconds or a duration like 24h, 90m, 7d",
                              value);
        }

        break;

    case ACTL_OPT_HOURS:
        if (actl_parse_long(value, ACTL_MAX_HOURS, &n) != ACTL_OK || n < 1) {
            return actl_error(ACTL_EUSAGE, "invalid --hours \"%s\": use "
                              "1..%d", value, ACTL_MAX_HOURS);
        }

        cf->hours = (long) n;
        break;

    default: /* ACTL_OPT_HELP */
        break;
    }

    return ACTL_OK;
}


static int
actl_check_args(actl_conf_t *cf)
{
    int          i;
    size_t       len;
    const char  *p;

    len = strlen(cf->prefix);
    if (len > ACTL_MAX_PREFIX) {
        return actl_error(ACTL_EUSAGE, "--prefix is longer than %d bytes",
                          ACTL_MAX_PREFIX);
    }

    if (cf->user && cf->password == NULL) {
        return actl_error(ACTL_EUSAGE, "--user needs --password (or "
                          "APIKEYCTL_PASSWORD)");
    }

    if (cf->nargs == 1) {
        if (actl_check_text("id", cf->arg, 1) != ACTL_OK) {
            return ACTL_EUSAGE;
        }
    }

    if (cf->command != ACTL_CMD_CREATE && cf->command != ACTL_CMD_ROTATE) {
        return ACTL_OK;
    }

    len = strlen(cf->key_prefix);
    if (len > ACTL_MAX_KEY_PREFIX) {
        return actl_error(ACTL_EUSAGE, "--key-prefix is longer than %d bytes",
                          ACTL_MAX_KEY_PREFIX);
    }

    for (p = cf->key_prefix; *p; p++) {
        if (!isalnum((unsigned char) *p) && strchr("-._~+/", *p) == NULL) {
            return actl_error(ACTL_EUSAGE, "invalid --key-prefix \"%s\": "
                              "use letters, digits and - . _ ~ + /",
                              cf->key_prefix);
        }
    }

    if (cf->command == ACTL_CMD_ROTATE) {
        return ACTL_OK;
    }

    if (cf->id && actl_check_text("id", cf->id, 1) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    if (cf->owner && actl_check_text("owner", cf->owner, 0) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    if (cf->name && actl_check_text("name", cf->name, 0) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    if (strcmp(cf->access, "full") != 0 && strcmp(cf->access, "read") != 0
        && strcmp(cf->access, "limited") != 0)
    {
        return actl_error(ACTL_EUSAGE, "invalid --access \"%s\": use full, "
                          "read or limited", cf->access);
    }

    if (cf->ngrants && strcmp(cf->access, "limited") != 0) {
        return actl_error(ACTL_EUSAGE, "--grant needs --access limited");
    }

    if (cf->ngrants == 0 && strcmp(cf->access, "limited") == 0) {
        fprintf(stderr, "apikeyctl: warning: a limited key without --grant "
                "is refused everywhere\n");
    }

    len = 0;
    for (i = 0; i < cf->ngrants; i++) {
        len += cf->grants[i].len + 4;
    }

    if (len > ACTL_MAX_GRANTS_LEN) {
        return actl_error(ACTL_EUSAGE, "the grants are longer than %d bytes",
                          ACTL_MAX_GRANTS_LEN);
    }

    if (cf->has_expires && cf->expires != 0 && cf->expires <= cf->now) {
        fprintf(stderr, "apikeyctl: warning: --expires is in the past; the "
                "key is created expired\n");
    }

    return ACTL_OK;
}


static int
actl_parse_long(const char *s, long long max, long long *out)
{
    long long  n;

    if (*s == '\0') {
        return ACTL_EUSAGE;
    }

    n = 0;

    for ( /* void */ ; *s; s++) {
        if (*s < '0' || *s > '9') {
            return ACTL_EUSAGE;
        }

        n = n * 10 + (*s - '0');

        if (n > max) {
            return ACTL_EUSAGE;
        }
    }

    *out = n;

    return ACTL_OK;
}


/* "90", "90s", "90m", "24h", "7d", "2w", an optional leading '+' */

static int
actl_parse_duration(const char *s, long long *out)
{
    char       buf[32];
    size_t     len;
    long long  n, unit;

    if (*s == '+') {
        s++;
    }

    len = strlen(s);
    if (len == 0 || len >= sizeof(buf)) {
        return ACTL_EUSAGE;
    }

    memcpy(buf, s, len + 1);
    unit = 1;

    switch (buf[len - 1]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        len++;
        break;
    }

    buf[len - 1] = '\0';

    if (actl_parse_long(buf, 200LL * 366 * 86400 / unit, &n) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    *out = n * unit;

    return ACTL_OK;
}


/*
 * unix seconds, "+<duration>" from now, "never" (0), or a UTC date:
 * YYYY-MM-DD, YYYY-MM-DDTHH:MM, YYYY-MM-DDTHH:MM:SS, each with an
 * optional trailing "Z"; ' ' may stand for 'T'
 */

static int
actl_parse_time(const char *s, time_t now, long long *out)
{
    int        y, mo, d, h, mi, sec;
    size_t     len;
    long long  n;

    static const int  mdays[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (strcmp(s, "never") == 0) {
        *out = 0;
        return ACTL_OK;
    }

    if (s[0] == '+') {
        if (actl_parse_duration(s, &n) != ACTL_OK) {
            return ACTL_EUSAGE;
        }

        if ((long long) now + n > ACTL_MAX_TIME) {
            return ACTL_EUSAGE;
        }

        *out = (long long) now + n;
        return ACTL_OK;
    }

    if (actl_parse_long(s, ACTL_MAX_TIME, &n) == ACTL_OK) {
        *out = n;
        return ACTL_OK;
    }

    len = strlen(s);

    if (len > 10 && (s[len - 1] == 'Z' || s[len - 1] == 'z')) {
        len--;
    }

    if (len != 10 && len != 16 && len != 19) {
        return ACTL_EUSAGE;
    }

    y = actl_digits(s, 4);
    mo = actl_digits(s + 5, 2);
    d = actl_digits(s + 8, 2);

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || s[4] != '-'
        || s[7] != '-')
    {
        return ACTL_EUSAGE;
    }

    if (d > mdays[mo - 1]
        && !(mo == 2 && d == 29
             && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
    {
        return ACTL_EUSAGE;
    }

    h = 0;
    mi = 0;
    sec = 0;

    if (len > 10) {
        if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
            return ACTL_EUSAGE;
        }

        h = actl_digits(s + 11, 2);
        mi = actl_digits(s + 14, 2);

        if (h < 0 || h > 23 || mi < 0 || mi > 59 || s[13] != ':') {
            return ACTL_EUSAGE;
        }

        if (len == 19) {
            sec = actl_digits(s + 17, 2);

            if (sec < 0 || sec > 59 || s[16] != ':') {
                return ACTL_EUSAGE;
            }
        }
    }

    n = actl_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;

    if (n > ACTL_MAX_TIME) {
        return ACTL_EUSAGE;
    }

    *out = n;

    return ACTL_OK;
}


/* days since 1970-01-01 of a proleptic Gregorian date */

static long long
actl_days_from_civil(long long y, int m, int d)
{
    long long  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static int
actl_digits(const char *s, int n)
{
    int  v;

    v = 0;

    while (n--) {
        if (*s < '0' || *s > '9') {
            return -1;
        }

        v = v * 10 + (*s++ - '0');
    }

    return v;
}


/* 0: a valid address or CIDR; 1: host bits set; -1: invalid */

static int
actl_check_cidr(const char *s)
{
    int             family, i, max;
    char            addr[64];
    size_t          len;
    long long       bits;
    const char     *slash;
    unsigned char   buf[16], mask;

    slash = strchr(s, '/');
    len = slash ? (size_t) (slash - s) : strlen(s);

    if (len == 0 || len >= sizeof(addr)) {
        return -1;
    }

    memcpy(addr, s, len);
    addr[len] = '\0';

    if (strchr(addr, ':')) {
        family = AF_INET6;
        max = 128;

    } else {
        family = AF_INET;
        max = 32;
    }

    if (inet_pton(family, addr, buf) != 1) {
        return -1;
    }

    bits = max;

    if (slash) {
        if (strlen(slash + 1) > 3
            || actl_parse_long(slash + 1, max, &bits) != ACTL_OK)
        {
            return -1;
        }
    }

    for (i = 0; i < max / 8; i++) {
        if (bits >= 8 * (i + 1)) {
            mask = 0xff;

        } else if (bits <= 8 * i) {
            mask = 0;

        } else {
            mask = (unsigned char) (0xff << (8 - (bits - 8 * i)));
        }

        if (buf[i] & (unsigned char) ~mask) {
            return 1;
        }
    }

    return 0;
}


/* "resource:r", "resource:w" or "resource:rw"; merged per resource */

static int
actl_add_grant(actl_conf_t *cf, const char *s)
{
    int          i, perm;
    size_t       len;
    const char  *colon, *p;

    colon = strrchr(s, ':');

    if (colon == NULL || colon == s) {
        goto invalid;
    }

    if (strcmp(colon + 1, "r") == 0) {
        perm = ACTL_GRANT_R;

    } else if (strcmp(colon + 1, "w") == 0) {
        perm = ACTL_GRANT_W;

    } else if (strcmp(colon + 1, "rw") == 0 || strcmp(colon + 1, "wr") == 0) {
        perm = ACTL_GRANT_R | ACTL_GRANT_W;

    } else {
        goto invalid;
    }

    len = (size_t) (colon - s);

    if (len > ACTL_MAX_STR) {
        goto invalid;
    }

    for (p = s; p < colon; p++) {
        if (*p <= ' ' || *p == ':' || *p == 0x7f) {
            goto invalid;
        }
    }

    for (i = 0; i < cf->ngrants; i++) {
        if (cf->grants[i].len == len
            && memcmp(cf->grants[i].resource, s, len) == 0)
        {
            cf->grants[i].perm |= perm;
            return ACTL_OK;
        }
    }

    if (cf->ngrants == ACTL_MAX_GRANTS) {
        return actl_error(ACTL_EUSAGE, "too many --grant (at most %d)",
                          ACTL_MAX_GRANTS);
    }

    cf->grants[cf->ngrants].resource = s;
    cf->grants[cf->ngrants].len = len;
    cf->grants[cf->ngrants].perm = perm;
    cf->ngrants++;

    return ACTL_OK;

invalid:

    return actl_error(ACTL_EUSAGE, "invalid --grant \"%s\": use "
                      "resource:r, resource:w or resource:rw (the resource "
                      "up to %d bytes, without spaces or ':')", s,
                      ACTL_MAX_STR);
}


/*
 * ids: 1..255 of letters, digits and "-._~:@+"; owner and name: up to
 * 255 bytes without control characters
 */

static int
actl_check_text(const char *what, const char *s, int id)
{
    size_t               len;
    const unsigned char  *p;

    len = strlen(s);

    if ((id && len == 0) || len > ACTL_MAX_STR) {
        return actl_error(ACTL_EUSAGE, "invalid %s: 1..%d bytes expected",
                          what, ACTL_MAX_STR);
    }

    for (p = (const unsigned char *) s; *p; p++) {
        if (id) {
            if (!isalnum(*p) && strchr("-._~:@+", *p) == NULL) {
                return actl_error(ACTL_EUSAGE, "invalid id \"%s\": use "
                                  "letters, digits and - . _ ~ : @ +", s);
            }

        } else if (*p < 0x20 || *p == 0x7f) {
            return actl_error(ACTL_EUSAGE, "invalid %s: control characters "
                              "are not allowed", what);
        }
    }

    return ACTL_OK;
}


static int
actl_read_secret(actl_conf_t *cf)
{
    int     c;
    FILE   *f;
    size_t  n;

    f = fopen(cf->secret_file, "rb");
    if (f == NULL) {
        return actl_error(ACTL_EUSAGE, "cannot open --hash-secret \"%s\": %s",
                          cf->secret_file, strerror(errno));
    }

    n = 0;

    while (n < sizeof(cf->secret) && (c = getc(f)) != EOF) {
        cf->secret[n++] = (unsigned char) c;
    }

    if (ferror(f)) {
        fclose(f);
        return actl_error(ACTL_EUSAGE, "cannot read --hash-secret \"%s\"",
                          cf->secret_file);
    }

    fclose(f);

    if (n > 0 && n <= ACTL_SECRET_MAX + 1 && cf->secret[n - 1] == '\n') {
        n--;
    }

    if (n < ACTL_SECRET_MIN || n > ACTL_SECRET_MAX) {
        return actl_error(ACTL_EUSAGE, "--hash-secret \"%s\" must hold "
                          "%d to %d bytes (one trailing newline dropped)",
                          cf->secret_file, ACTL_SECRET_MIN, ACTL_SECRET_MAX);
    }

    cf->secret_len = n;

    return ACTL_OK;
}


static void
actl_cmd_init(actl_cmd_t *cmd)
{
    cmd->argc = 0;
    cmd->nalloc = 0;
    cmd->argv = NULL;
    cmd->argvlen = NULL;
}


static void
actl_cmd_free(actl_cmd_t *cmd)
{
    free(cmd->argv);
    free(cmd->argvlen);
    actl_cmd_init(cmd);
}


static void
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


static void
actl_cmd_add(actl_cmd_t *cmd, const char *s)
{
    actl_cmd_addn(cmd, s, strlen(s));
}


/* replaces the arguments with a NULL-terminated list */

static void
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


static int
actl_connect(actl_conf_t *cf)
{
    char             host[256], db[32];
    size_t           len;
    long long        port;
    redisReply      *reply;
    const char      *colon, *h;
    struct timeval   tv;
    actl_cmd_t       cmd;

    tv.tv_sec = 2;
    tv.tv_usec = 0;

    if (strncmp(cf->redis, "unix:", 5) == 0) {
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

        cf->ctx = redisConnectWithTimeout(host, (int) port, tv);
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

    return ACTL_OK;

invalid:

    return actl_error(ACTL_EUSAGE, "invalid --redis \"%s\": use host:port, "
                      "[v6addr]:port or unix:/path", cf->redis);
}


/* runs one command; an error reply is an error, with a message */

static int
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

static int
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

static int
actl_transaction(actl_conf_t *cf, actl_cmd_t *cmds, int n)
{
    int          i;
    redisReply  *r;

    if (actl_redisv(cf, &r, "MULTI", NULL) != ACTL_OK) {
        return ACTL_EREDIS;
    }

    freeReplyObject(r);

    for (i = 0; i < n; i++) {
        if (actl_redis(cf, &cmds[i], &r) != ACTL_OK) {
            if (actl_redisv(cf, &r, "DISCARD", NULL) == ACTL_OK) {
                freeReplyObject(r);
            }

            return ACTL_EREDIS;
        }

        freeReplyObject(r);
    }

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
            actl_error(ACTL_EREDIS, "Redis at %s: %.*s: %s", cf->redis,
                       (int) cmds[i].argvlen[0], cmds[i].argv[0],
                       r->element[i]->str);
            freeReplyObject(r);
            return ACTL_EREDIS;
        }
    }

    freeReplyObject(r);

    return ACTL_OK;
}


static void
actl_unwatch(actl_conf_t *cf)
{
    redisReply  *r;

    if (actl_redisv(cf, &r, "UNWATCH", NULL) == ACTL_OK) {
        freeReplyObject(r);
    }
}


/* buf (ACTL_MAX_NAME bytes) = prefix + kind + part */

static void
actl_name(actl_conf_t *cf, char *buf, const char *kind, const char *part)
{
    snprintf(buf, ACTL_MAX_NAME, "%s%s%s", cf->prefix, kind, part);
}


/*
 * finds the digest of an id, WATCHing its id string and record when
 * "watch" is set: ACTL_OK, ACTL_ENOID (a message printed) or ACTL_EREDIS;
 * digest is set to "" when the id string exists but its record does not
 * belong to the id (it is dangling)
 */

static int
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

    if (r->len != ACTL_HEX_LEN || !actl_valid_hex(r->str, r->len)) {
        freeReplyObject(r);
        digest[0] = '\0';
        return ACTL_OK;
    }

    memcpy(digest, r->str, ACTL_HEX_LEN + 1);
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


static int
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


static void
actl_random_base62(char *out, size_t n)
{
    while (n--) {
        *out++ = actl_base62[randombytes_uniform(62)];
    }
}


/* key = prefix, 32 random base62 characters, 6 checksum characters */

static int
actl_make_key(const char *prefix, char *key, size_t *len)
{
    size_t  n;

    n = strlen(prefix);

    memcpy(key, prefix, n);
    actl_random_base62(key + n, NGX_APIKEY_RANDOM_LEN);
    n += NGX_APIKEY_RANDOM_LEN;

    ngx_apikey_checksum((unsigned char *) key, n, (unsigned char *) key + n);
    n += NGX_APIKEY_CHECKSUM_LEN;

    key[n] = '\0';
    *len = n;

    return ACTL_OK;
}


static void
actl_digest(actl_conf_t *cf, const unsigned char *key, size_t len, char *hex)
{
    unsigned char  out[ACTL_DIGEST_LEN];

    crypto_generichash(out, sizeof(out), key, len,
                       cf->secret_len ? cf->secret : NULL, cf->secret_len);

    sodium_bin2hex(hex, ACTL_HEX_LEN + 1, out, sizeof(out));
    sodium_memzero(out, sizeof(out));
}


static void
actl_new_id(char *id)
{
    id[0] = 'k';
    id[1] = '_';
    actl_random_base62(id + 2, ACTL_ID_RANDOM_LEN);
    id[2 + ACTL_ID_RANDOM_LEN] = '\0';
}


/* the one place the raw key is ever written: stdout, once */

static void
actl_print_key(actl_conf_t *cf, const char *what, const char *id,
    const char *key, const char *digest)
{
    if (cf->json) {
        fputs("{\"id\":", stdout);
        actl_json_str(id, strlen(id));
        printf(",\"key\":\"%s\",\"digest\":\"%s\"}\n", key, digest);

    } else {
        printf("%s\n", key);
    }

    fflush(stdout);

    if (!cf->json) {
        fprintf(stderr, "apikeyctl: %s key id %s (digest %s); the key is "
                "shown only this once\n", what, id, digest);
    }
}


/* a JSON string; bytes of invalid UTF-8 become U+FFFD */

static void
actl_json_str(const char *s, size_t len)
{
    size_t          i, n, k;
    unsigned char   c;
    unsigned int    cp;

    putchar('"');

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
            continue;
        }

        if (c < 0x20 || c == 0x7f) {
            printf("\\u%04x", c);
            continue;
        }

        if (c < 0x80) {
            putchar(c);
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;

        } else {
            fputs("\\ufffd", stdout);
            continue;
        }

        for (k = 1; k <= n; k++) {
            if (i + k >= len || ((unsigned char) s[i + k] & 0xc0) != 0x80) {
                break;
            }

            cp = (cp << 6) | ((unsigned char) s[i + k] & 0x3f);
        }

        if (k <= n
            || (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        {
            fputs("\\ufffd", stdout);
            continue;
        }

        fwrite(s + i, 1, n + 1, stdout);
        i += n;
    }

    putchar('"');
}


/* a table cell: control characters shown as '?', padded to width */

static void
actl_text_str(const char *s, size_t len, int width)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        putchar(((unsigned char) s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i]);
    }

    while (width-- > (int) len) {
        putchar(' ');
    }
}


static void
actl_format_time(long long t, char *buf, size_t size)
{
    time_t     tt;
    struct tm  tm;

    tt = (time_t) t;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        snprintf(buf, size, "%lld", t);
    }
}


/* the value of a field in an HGETALL reply, or NULL */

static const char *
actl_hash_field(redisReply *r, const char *field)
{
    size_t  i;

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && strcmp(r->element[i]->str, field) == 0
            && r->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            return r->element[i + 1]->str;
        }
    }

    return NULL;
}


static int
actl_cmd_create(actl_conf_t *cf)
{
    int          i, attempt, rc, given;
    char         key[ACTL_MAX_KEY_LEN + 1], digest[ACTL_HEX_LEN + 1];
    char         id[ACTL_MAX_STR + 1], expires[32];
    char         rname[ACTL_MAX_NAME], iname[ACTL_MAX_NAME];
    char         events[ACTL_MAX_NAME], grants[ACTL_MAX_GRANTS_LEN + 1];
    char         ips[ACTL_MAX_IPS * 72];
    size_t       len, n;
    redisReply  *r;
    actl_cmd_t   cmds[4];

    given = cf->id != NULL;

    /* the record's fields (but the key) do not change between attempts */

    grants[0] = '\0';
    n = 0;

    for (i = 0; i < cf->ngrants; i++) {
        n += snprintf(grants + n, sizeof(grants) - n, "%s%.*s:%s",
                      i ? " " : "", (int) cf->grants[i].len,
                      cf->grants[i].resource,
                      cf->grants[i].perm == ACTL_GRANT_R ? "r"
                      : cf->grants[i].perm == ACTL_GRANT_W ? "w" : "rw");
    }

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


static int
actl_entry_cmp(const void *a, const void *b)
{
    const actl_entry_t  *ea, *eb;

    ea = a;
    eb = b;

    return strcmp(ea->id, eb->id);
}


static int
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
            if (keys->element[i]->type != REDIS_REPLY_STRING
                || keys->element[i]->len != plen + ACTL_HEX_LEN
                || !actl_valid_hex(keys->element[i]->str + plen,
                                   ACTL_HEX_LEN))
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

            printf("%s{\"digest\":\"%.*s\"", j++ ? "," : "",
                   ACTL_HEX_LEN, entries[i].digest);

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


static int
actl_cmd_show(actl_conf_t *cf)
{
    int           rc;
    char          digest[ACTL_HEX_LEN + 1], rname[ACTL_MAX_NAME], when[32];
    size_t        i, k;
    long long     t;
    redisReply   *r, *f, *v;

    static const char  *order[] = {
        "id", "owner", "name", "access", "grants", "expires", "active",
        "limit", "ips", NULL
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


static int
actl_cmd_revoke(actl_conf_t *cf)
{
    int          attempt, rc;
    char         digest[ACTL_HEX_LEN + 1], rname[ACTL_MAX_NAME];
    char         events[ACTL_MAX_NAME];
    actl_cmd_t   cmds[2];

    actl_cmd_init(&cmds[0]);
    actl_cmd_init(&cmds[1]);
    actl_name(cf, events, "events", "");

    rc = ACTL_EREDIS;

    for (attempt = 0; attempt < ACTL_ATTEMPTS; attempt++) {
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
        actl_cmd_set(&cmds[0], "HSET", rname, "active", "0", NULL);
        actl_cmd_set(&cmds[1], "PUBLISH", events, digest, NULL);

        rc = actl_transaction(cf, cmds, 2);
        if (rc != ACTL_AGAIN) {
            break;
        }

        rc = ACTL_EREDIS;
    }

    if (rc == ACTL_OK) {
        if (cf->json) {
            printf("{\"id\":");
            actl_json_str(cf->arg, strlen(cf->arg));
            printf(",\"digest\":\"%s\",\"revoked\":true}\n", digest);

        } else {
            printf("revoked %s\n", cf->arg);
        }
    }

done:

    actl_cmd_free(&cmds[0]);
    actl_cmd_free(&cmds[1]);

    return rc;
}


static int
actl_cmd_delete(actl_conf_t *cf)
{
    int          attempt, rc, n;
    char         digest[ACTL_HEX_LEN + 1], rname[ACTL_MAX_NAME];
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


static int
actl_cmd_rotate(actl_conf_t *cf)
{
    int           attempt, rc, n;
    char          key[ACTL_MAX_KEY_LEN + 1], digest[ACTL_HEX_LEN + 1];
    char          ndigest[ACTL_HEX_LEN + 1], id[ACTL_MAX_STR + 1];
    char          rname[ACTL_MAX_NAME], nrname[ACTL_MAX_NAME];
    char          niname[ACTL_MAX_NAME], events[ACTL_MAX_NAME];
    char          expires[32], oexpires[32], when[32];
    size_t        i, len;
    long long     old, until;
    redisReply   *r, *rec, *f, *v;
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

        v = NULL;
        for (i = 0; i + 1 < rec->elements; i += 2) {
            if (rec->element[i]->type == REDIS_REPLY_STRING
                && strcmp(rec->element[i]->str, "expires") == 0)
            {
                v = rec->element[i + 1];
            }
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
        actl_cmd_set(&cmds[2], "HSET", rname, "expires", oexpires, NULL);
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


static int
actl_cmd_hash(actl_conf_t *cf)
{
    int            c;
    char           hex[ACTL_HEX_LEN + 1];
    size_t         n, i;
    unsigned char  buf[ACTL_MAX_KEY_LEN + 4];

    n = 0;

    while ((c = getchar()) != EOF) {
        if (n == sizeof(buf)) {
            sodium_memzero(buf, sizeof(buf));
            return actl_error(ACTL_EUSAGE, "the key on stdin is longer than "
                              "%d bytes", ACTL_MAX_KEY_LEN);
        }

        buf[n++] = (unsigned char) c;
    }

    if (n > 0 && buf[n - 1] == '\n') {
        n--;

        if (n > 0 && buf[n - 1] == '\r') {
            n--;
        }
    }

    if (n == 0) {
        return actl_error(ACTL_EUSAGE, "no key on stdin");
    }

    if (n > ACTL_MAX_KEY_LEN) {
        sodium_memzero(buf, sizeof(buf));
        return actl_error(ACTL_EUSAGE, "the key on stdin is longer than "
                          "%d bytes", ACTL_MAX_KEY_LEN);
    }

    for (i = 0; i < n; i++) {
        if (buf[i] == '\n' || buf[i] == '\r') {
            sodium_memzero(buf, sizeof(buf));
            return actl_error(ACTL_EUSAGE, "stdin holds more than one line; "
                              "give one key");
        }
    }

    actl_digest(cf, buf, n, hex);
    sodium_memzero(buf, sizeof(buf));

    if (cf->json) {
        printf("{\"digest\":\"%s\"}\n", hex);

    } else {
        printf("%s\n", hex);
    }

    return ACTL_OK;
}


static int
actl_cmd_usage(actl_conf_t *cf)
{
    int           rc;
    char          digest[ACTL_HEX_LEN + 1], hour[32], when[32];
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
