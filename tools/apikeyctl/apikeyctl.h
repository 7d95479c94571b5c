
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl's shared definitions: exit codes, bounds, the command and
 * option numbers, the parsed command line (actl_conf_t) and the
 * functions one file of apikeyctl calls in another.
 */


#ifndef _APIKEYCTL_H_INCLUDED_
#define _APIKEYCTL_H_INCLUDED_


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
/* what <prefix>id:<id> holds: "<hex>", or "sha256:<hex>" (imported) */
#define ACTL_DIGEST_NAME_LEN NGX_APIKEY_MAX_DIGEST_NAME
/* the schema's bounds are the module's: ngx_apikey_format.h */
#define ACTL_MAX_KEY_LEN     NGX_APIKEY_MAX_KEY_LEN
#define ACTL_MAX_KEY_PREFIX  NGX_APIKEY_MAX_KEY_PREFIX
#define ACTL_MAX_STR         NGX_APIKEY_MAX_STR
#define ACTL_MAX_IPS         NGX_APIKEY_MAX_IPS
#define ACTL_MAX_GRANTS_LEN  NGX_APIKEY_MAX_GRANTS_LEN
#define ACTL_MAX_PREFIX      NGX_APIKEY_MAX_PREFIX

/* the fewest bytes a parsed grant takes is 3 ([perm][len][1 byte]) */
#define ACTL_MAX_GRANTS      (NGX_APIKEY_MAX_GRANTS_LEN / 3)
/* and its text at most 5 ("x:rw "): room for the text of any that fit */
#define ACTL_MAX_GRANTS_TEXT (ACTL_MAX_GRANTS * 5 + 1)
#define ACTL_MAX_NAME        1024
#define ACTL_ID_RANDOM_LEN   12
#define ACTL_SECRET_MIN      32
#define ACTL_SECRET_MAX      64
#define ACTL_MAX_PASSWORD    4096
#define ACTL_MAX_HOURS       8784
#define ACTL_MAX_LOG         8       /* change log commands per write */
#define ACTL_CHANGES_MAXLEN  "100000"   /* entries the stream keeps, ~ */
#define ACTL_MAX_LIMIT       ((unsigned long long) NGX_APIKEY_LIMIT_MAX)
#define ACTL_MAX_TIME        ((long long) NGX_APIKEY_MAX_EXPIRES)
#define ACTL_ATTEMPTS        8

#define ACTL_ID_LOOKUP       1
#define ACTL_ID_NEW          2

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
    ACTL_CMD_ACCEPT_DATASET,
    ACTL_CMD_UPDATE,
    ACTL_CMD_IMPORT,
    ACTL_CMD_HELP,
    ACTL_CMD_VERSION
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
    ACTL_OPT_TLS,
    ACTL_OPT_TLS_CA,
    ACTL_OPT_TLS_CERT,
    ACTL_OPT_TLS_KEY,
    ACTL_OPT_TLS_NAME,
    ACTL_OPT_SENTINEL,
    ACTL_OPT_MASTER,
    ACTL_OPT_CLUSTER,
    ACTL_OPT_PASSWORD_FILE,
    ACTL_OPT_VERSION,
    ACTL_OPT_PEPPER_SCHEME,
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
    const char      *password_file;
    char             password_buf[ACTL_MAX_PASSWORD + 2];
    const char      *prefix;
    const char      *secret_file;

    /* the transport, see transport.c */
    int              tls;
    const char      *tls_ca;
    const char      *tls_cert;
    const char      *tls_key;
    const char      *tls_name;
    const char      *sentinel;
    const char      *master;
    int              cluster;

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
    const char      *limit;     /* canonical, in limit_text */
    char             limit_text[NGX_APIKEY_LIMITS_TEXT_LEN + 1];
    const char      *ips[ACTL_MAX_IPS];
    int              nips;
    int              inactive;
    long long        grace;
    long             hours;

    /* import */
    const char      *pepper_scheme;

    int              seen[ACTL_NOPTS];
    time_t           now;
    redisContext    *ctx;
} actl_conf_t;


/* main.c */
int actl_error(int rc, const char *fmt, ...);
void actl_usage(FILE *f);

/* options.c */
const actl_option_t *actl_find_option(const char *name, size_t len);
int actl_parse_args(actl_conf_t *cf, int argc, char **argv);
int actl_set_option(actl_conf_t *cf, const actl_option_t *opt,
    const char *value);
int actl_check_args(actl_conf_t *cf);
int actl_read_secret(actl_conf_t *cf);

/* password.c */
int actl_read_password(actl_conf_t *cf);

/* fields.c */
int actl_parse_long(const char *s, long long max, long long *out);
int actl_parse_duration(const char *s, long long *out);
int actl_parse_time(const char *s, time_t now, long long *out);
int actl_check_cidr(const char *s);
int actl_add_grant(actl_conf_t *cf, const char *s);
int actl_check_text(const char *what, const char *s, int id);
int actl_grants_text(actl_conf_t *cf, char *buf, size_t size);

/* transport.c */
redisContext *actl_transport_connect(actl_conf_t *cf, const char *host,
    int port);
int actl_sentinel_master(actl_conf_t *cf, char *host, size_t size,
    long long *port);
int actl_check_role(actl_conf_t *cf);
int actl_cluster_owner(actl_conf_t *cf, char *host, size_t size,
    long long *port);

/* redis.c */
void actl_cmd_init(actl_cmd_t *cmd);
void actl_cmd_free(actl_cmd_t *cmd);
void actl_cmd_addn(actl_cmd_t *cmd, const char *s, size_t len);
void actl_cmd_add(actl_cmd_t *cmd, const char *s);
void actl_cmd_set(actl_cmd_t *cmd, ...);
int actl_connect(actl_conf_t *cf);
int actl_redis(actl_conf_t *cf, actl_cmd_t *cmd, redisReply **reply);
int actl_redisv(actl_conf_t *cf, redisReply **reply, ...);
int actl_transaction(actl_conf_t *cf, actl_cmd_t *cmds, int n);
void actl_unwatch(actl_conf_t *cf);
void actl_name(actl_conf_t *cf, char *buf, const char *kind,
    const char *part);
int actl_lookup(actl_conf_t *cf, const char *id, char *digest,
    int watch);
int actl_valid_hex(const char *s, size_t len);

/* key.c */
void actl_random_base62(char *out, size_t n);
int actl_make_key(const char *prefix, char *key, size_t *len);
void actl_digest(actl_conf_t *cf, const unsigned char *key,
    size_t len, char *hex);
void actl_new_id(char *id);
void actl_print_key(actl_conf_t *cf, const char *what,
    const char *id, const char *key, const char *digest);

/* output.c */
void actl_json_str(const char *s, size_t len);
void actl_text_str(const char *s, size_t len, int width);
void actl_format_time(long long t, char *buf, size_t size);
const char *actl_hash_field(redisReply *r, const char *field);

/* create.c */
int actl_cmd_create(actl_conf_t *cf);

/* list.c */
int actl_cmd_list(actl_conf_t *cf);
int actl_cmd_show(actl_conf_t *cf);

/* revoke.c */
int actl_cmd_revoke(actl_conf_t *cf);
int actl_cmd_update(actl_conf_t *cf);
int actl_cmd_delete(actl_conf_t *cf);

/* rotate.c */
int actl_cmd_rotate(actl_conf_t *cf);

/* hash.c */
int actl_cmd_hash(actl_conf_t *cf);

/* import.c */
int actl_cmd_import(actl_conf_t *cf);

/* usage.c */
int actl_cmd_usage(actl_conf_t *cf);

/* changes.c */
int actl_change_log(actl_conf_t *cf, actl_cmd_t *cmds, int n,
    actl_cmd_t *log);
void actl_change_entry(const char *stream, actl_cmd_t *cmd,
    const char *digest, size_t len);
void actl_change_epoch(actl_conf_t *cf, char *epoch, char *id,
    actl_cmd_t *cmd);
int actl_cmd_accept_dataset(actl_conf_t *cf);


#endif /* _APIKEYCTL_H_INCLUDED_ */
