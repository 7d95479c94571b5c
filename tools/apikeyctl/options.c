
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl's command line: the option table, the parser, the checks
 * that need all options at once, and the --hash-secret file.
 */


#include "apikeyctl.h"


static const char  *actl_commands[] = {
    "", "create", "list", "show", "revoke", "delete", "rotate", "hash",
    "usage", "accept-dataset", "update", "import", "help", NULL
};


#define ACTL_RECORD  (ACTL_IN(ACTL_CMD_CREATE))
#define ACTL_NEWKEY  (ACTL_IN(ACTL_CMD_CREATE) | ACTL_IN(ACTL_CMD_ROTATE))

static const actl_option_t  actl_options[] = {
    { "redis",      ACTL_OPT_REDIS,      1, 0, ACTL_ALL },
    { "db",         ACTL_OPT_DB,         1, 0, ACTL_ALL },
    { "user",       ACTL_OPT_USER,       1, 0, ACTL_ALL },
    { "password",   ACTL_OPT_PASSWORD,   1, 0, ACTL_ALL },
    { "password-file", ACTL_OPT_PASSWORD_FILE, 1, 0, ACTL_ALL },
    { "prefix",     ACTL_OPT_PREFIX,     1, 0, ACTL_ALL },
    { "hash-secret", ACTL_OPT_SECRET,    1, 0, ACTL_ALL },
    { "json",       ACTL_OPT_JSON,       0, 0, ACTL_ALL },
    { "help",       ACTL_OPT_HELP,       0, 0, ACTL_ALL },
    { "version",    ACTL_OPT_VERSION,    0, 0, ACTL_ALL },
    { "key-prefix", ACTL_OPT_KEY_PREFIX, 1, 0, ACTL_NEWKEY },
    { "id",         ACTL_OPT_ID,         1, 0, ACTL_RECORD },
    { "owner",      ACTL_OPT_OWNER,      1, 0, ACTL_RECORD },
    { "name",       ACTL_OPT_NAME,       1, 0, ACTL_RECORD },
    { "access",     ACTL_OPT_ACCESS,     1, 0, ACTL_RECORD },
    { "grant",      ACTL_OPT_GRANT,      1, 1, ACTL_RECORD },
    { "expires",    ACTL_OPT_EXPIRES,    1, 0, ACTL_NEWKEY },
    { "limit",      ACTL_OPT_LIMIT,      1, 0,
      ACTL_RECORD | ACTL_IN(ACTL_CMD_UPDATE) },
    { "ip",         ACTL_OPT_IP,         1, 1, ACTL_RECORD },
    { "inactive",   ACTL_OPT_INACTIVE,   0, 0, ACTL_RECORD },
    { "grace",      ACTL_OPT_GRACE,      1, 0, ACTL_IN(ACTL_CMD_ROTATE) },
    { "hours",      ACTL_OPT_HOURS,      1, 0, ACTL_IN(ACTL_CMD_USAGE) },
    { "pepper-scheme", ACTL_OPT_PEPPER_SCHEME, 1, 0,
      ACTL_IN(ACTL_CMD_IMPORT) },
    { "tls",        ACTL_OPT_TLS,        0, 0, ACTL_ALL },
    { "tls-ca",     ACTL_OPT_TLS_CA,     1, 0, ACTL_ALL },
    { "tls-cert",   ACTL_OPT_TLS_CERT,   1, 0, ACTL_ALL },
    { "tls-key",    ACTL_OPT_TLS_KEY,    1, 0, ACTL_ALL },
    { "tls-server-name", ACTL_OPT_TLS_NAME, 1, 0, ACTL_ALL },
    { "sentinel",   ACTL_OPT_SENTINEL,   1, 0, ACTL_ALL },
    { "master",     ACTL_OPT_MASTER,     1, 0, ACTL_ALL },
    { "cluster",    ACTL_OPT_CLUSTER,    0, 0, ACTL_ALL },
    { NULL, 0, 0, 0, 0 }
};


const actl_option_t *
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


int
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

    if (cf->seen[ACTL_OPT_VERSION]) {
        cf->command = ACTL_CMD_VERSION;
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
    case ACTL_CMD_UPDATE:
        if (cf->nargs != 1) {
            return actl_error(ACTL_EUSAGE, "\"%s\" needs an id",
                              actl_commands[cf->command]);
        }

        break;

    case ACTL_CMD_IMPORT:
        if (cf->nargs != 1) {
            return actl_error(ACTL_EUSAGE, "\"import\" needs a file, or - "
                              "for the standard input");
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


int
actl_set_option(actl_conf_t *cf, const actl_option_t *opt, const char *value)
{
    size_t               len;
    long long            n;
    ngx_apikey_limits_t  limits;

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

    case ACTL_OPT_PASSWORD_FILE:
        cf->password_file = value;
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
        if (ngx_apikey_parse_limit((const unsigned char *) value,
                                   strlen(value), &limits)
            != NGX_APIKEY_OK)
        {
            return actl_error(ACTL_EUSAGE, "invalid --limit \"%s\": use "
                              "\"unlimited\" or terms such as \"20/s "
                              "1000/h\": N/s (N up to %u), N/m, N/h or "
                              "N/d (N up to %llu), at most one per unit; a "
                              "bare N is per hour", value,
                              (unsigned) NGX_APIKEY_LIMIT_MAX_SECOND,
                              ACTL_MAX_LIMIT);
        }

        /* written as the module's schema spells it */

        len = ngx_apikey_limits_text(&limits,
                                     (unsigned char *) cf->limit_text);
        cf->limit_text[len] = '\0';
        cf->limit = cf->limit_text;
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

    case ACTL_OPT_PEPPER_SCHEME:
        if (strcmp(value, "sha256") != 0
            && strcmp(value, "hmac-sha256") != 0)
        {
            return actl_error(ACTL_EUSAGE, "invalid --pepper-scheme \"%s\": "
                              "use sha256 or hmac-sha256", value);
        }

        cf->pepper_scheme = value;
        break;

    case ACTL_OPT_TLS:
        cf->tls = 1;
        break;

    case ACTL_OPT_TLS_CA:
        cf->tls_ca = value;
        break;

    case ACTL_OPT_TLS_CERT:
        cf->tls_cert = value;
        break;

    case ACTL_OPT_TLS_KEY:
        cf->tls_key = value;
        break;

    case ACTL_OPT_TLS_NAME:
        cf->tls_name = value;
        break;

    case ACTL_OPT_SENTINEL:
        cf->sentinel = value;
        break;

    case ACTL_OPT_MASTER:
        cf->master = value;
        break;

    case ACTL_OPT_CLUSTER:
        cf->cluster = 1;
        break;

    default: /* ACTL_OPT_HELP, ACTL_OPT_VERSION */
        break;
    }

    return ACTL_OK;
}


int
actl_check_args(actl_conf_t *cf)
{
    char    grants[ACTL_MAX_GRANTS_TEXT];
    size_t  len;

    len = strlen(cf->prefix);
    if (len > ACTL_MAX_PREFIX) {
        return actl_error(ACTL_EUSAGE, "--prefix is longer than %d bytes",
                          ACTL_MAX_PREFIX);
    }

    if ((cf->tls_ca || cf->tls_cert || cf->tls_key || cf->tls_name)
        && !cf->tls)
    {
        return actl_error(ACTL_EUSAGE, "--tls-ca, --tls-cert, --tls-key and "
                          "--tls-server-name need --tls");
    }

    if ((cf->tls_cert == NULL) != (cf->tls_key == NULL)) {
        return actl_error(ACTL_EUSAGE, "--tls-cert and --tls-key go "
                          "together");
    }

    if ((cf->sentinel == NULL) != (cf->master == NULL)) {
        return actl_error(ACTL_EUSAGE, "--sentinel and --master go together");
    }

    if (cf->cluster && cf->sentinel) {
        return actl_error(ACTL_EUSAGE, "--cluster and --sentinel exclude "
                          "each other");
    }

    if (cf->cluster) {
        const char  *open = strchr(cf->prefix, '{');

        if (open == NULL || open[1] == '}' || strchr(open, '}') == NULL) {
            return actl_error(ACTL_EUSAGE, "--cluster needs a hash tag in "
                              "--prefix, such as --prefix '{apikey}:', so "
                              "that every key of the schema is in one slot");
        }
    }

    if (cf->user && cf->password == NULL) {
        return actl_error(ACTL_EUSAGE, "--user needs --password (or "
                          "APIKEYCTL_PASSWORD)");
    }

    if (cf->nargs == 1 && cf->command != ACTL_CMD_IMPORT) {
        if (actl_check_text("id", cf->arg, ACTL_ID_LOOKUP) != ACTL_OK) {
            return ACTL_EUSAGE;
        }
    }

    if (cf->command != ACTL_CMD_CREATE && cf->command != ACTL_CMD_ROTATE) {
        return ACTL_OK;
    }

    /* the module's apikey_prefix rule; "" is a key without a prefix */

    len = strlen(cf->key_prefix);

    if (len
        && !ngx_apikey_key_prefix_valid((const unsigned char *)
                                        cf->key_prefix, len))
    {
        return actl_error(ACTL_EUSAGE, "invalid --key-prefix \"%s\": use "
                          "up to %d letters, digits and - . _ ~ + /",
                          cf->key_prefix, ACTL_MAX_KEY_PREFIX);
    }

    if (cf->command == ACTL_CMD_ROTATE) {
        return ACTL_OK;
    }

    if (cf->id && actl_check_text("id", cf->id, ACTL_ID_NEW) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    if (cf->owner && actl_check_text("owner", cf->owner, 0) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    if (cf->name && actl_check_text("name", cf->name, 0) != ACTL_OK) {
        return ACTL_EUSAGE;
    }

    if (ngx_apikey_parse_access((const unsigned char *) cf->access,
                                strlen(cf->access))
        == NGX_APIKEY_BAD)
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

    if (actl_grants_text(cf, grants, sizeof(grants)) != ACTL_OK) {
        return actl_error(ACTL_EUSAGE, "the grants take more than the %d "
                          "bytes the module allows (2 bytes and the "
                          "resource each)", ACTL_MAX_GRANTS_LEN);
    }

    if (cf->has_expires && cf->expires != 0 && cf->expires <= cf->now) {
        fprintf(stderr, "apikeyctl: warning: --expires is in the past; the "
                "key is created expired\n");
    }

    return ACTL_OK;
}


int
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
