
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Digest schemes: keys imported from another issuer (apikey_legacy_hash).
 *
 * An issuer that kept only the SHA-256 digests of its keys (often keyed
 * with a pepper: HMAC-SHA-256) cannot compute the module's BLAKE2b digest
 * of them without the keys themselves.  Their records live under
 * "<prefix>key:sha256:<hex>"; the digest scheme is part of the name, of
 * the change log's entries ("d sha256:<hex>") and of the record image, so
 * that a record of one scheme is never found by a digest of the other.
 *
 * This file owns the directive (the pepper is read from its file when the
 * configuration is read, as apikey_hash_secret is, and never logged), the
 * legacy digest of a presented key, and the reading of a digest name.
 * The HMAC's state after the pepper (its inner and outer pads hashed) is
 * computed once, when the configuration is read, and copied for each
 * digest: a peppered digest then costs two SHA-256 blocks more than a
 * plain one, not four.  The pepper's bytes are wiped once it is made.
 * The policy computes the legacy digest only when the module's own digest
 * finds nothing, and only where the directive is set: every other request
 * costs nothing more.
 */


#include "ngx_http_apikey.h"

#include <sodium.h>


/* the longest pepper read from a file */
#define NGX_HTTP_APIKEY_PEPPER_MAX  1024


static void ngx_http_apikey_legacy_wipe(void *data);


/*
 * apikey_legacy_hash sha256 [pepper_file=F] | off;
 */

char *
ngx_http_apikey_legacy_hash(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apikey_main_conf_t *amcf = conf;

    ngx_int_t                      rc;
    ngx_str_t                     *value, name, pepper;
    ngx_pool_cleanup_t            *cln;
    crypto_auth_hmacsha256_state  *st;

    if (amcf->legacy != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        amcf->legacy = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "sha256") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"sha256\" or \"off\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    amcf->legacy = 1;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (value[2].len <= sizeof("pepper_file=") - 1
        || ngx_strncmp(value[2].data, "pepper_file=",
                       sizeof("pepper_file=") - 1)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    name.data = value[2].data + sizeof("pepper_file=") - 1;
    name.len = value[2].len - (sizeof("pepper_file=") - 1);

    rc = ngx_http_apikey_read_secret(cf, cmd, &name,
                                     NGX_HTTP_APIKEY_PEPPER_MAX, &pepper);

    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DECLINED || pepper.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pepper file \"%V\" in \"%V\" directive must hold "
                           "1 to %d bytes", &name, &cmd->name,
                           NGX_HTTP_APIKEY_PEPPER_MAX);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    st = ngx_palloc(cf->pool, sizeof(crypto_auth_hmacsha256_state));

    if (cln == NULL || st == NULL) {
        ngx_explicit_memzero(pepper.data, pepper.len);
        return NGX_CONF_ERROR;
    }

    rc = crypto_auth_hmacsha256_init(st, pepper.data, pepper.len);

    ngx_explicit_memzero(pepper.data, pepper.len);

    cln->handler = ngx_http_apikey_legacy_wipe;
    cln->data = st;

    if (rc != 0) {
        return NGX_CONF_ERROR;
    }

    amcf->legacy_hmac = st;

    return NGX_CONF_OK;
}


static void
ngx_http_apikey_legacy_wipe(void *data)
{
    sodium_memzero(data, sizeof(crypto_auth_hmacsha256_state));
}


/*
 * The digest an imported key's record is named by: SHA-256 of the whole
 * key string, or HMAC-SHA-256 of it keyed with the pepper.
 */

ngx_int_t
ngx_http_apikey_legacy_digest(ngx_http_apikey_main_conf_t *amcf, u_char *key,
    size_t len, u_char *digest)
{
    crypto_auth_hmacsha256_state  st;

    if (amcf->legacy_hmac == NULL) {
        return crypto_hash_sha256(digest, key, len) == 0 ? NGX_OK
                                                         : NGX_ERROR;
    }

    /* the state after the pepper, made once */

    ngx_memcpy(&st, amcf->legacy_hmac, sizeof(crypto_auth_hmacsha256_state));

    if (crypto_auth_hmacsha256_update(&st, key, len) != 0
        || crypto_auth_hmacsha256_final(&st, digest) != 0)
    {
        sodium_memzero(&st, sizeof(st));
        return NGX_ERROR;
    }

    /* the state is derived from the pepper */

    sodium_memzero(&st, sizeof(st));

    return NGX_OK;
}


/*
 * A digest name, as a record's name, an event or a change log entry gives
 * it: "<hex>" (the module's digest) or "sha256:<hex>" (an imported key).
 * NGX_ERROR: neither; the name is not to be shown, it might be a key.
 */

ngx_int_t
ngx_http_apikey_digest_name(u_char *name, size_t len, ngx_uint_t *scheme,
    u_char *digest)
{
    ngx_uint_t  sha;

    sha = (len == NGX_APIKEY_MAX_DIGEST_NAME
           && ngx_strncmp(name, NGX_APIKEY_SHA256_TAG,
                          NGX_APIKEY_SHA256_TAG_LEN)
              == 0);

    if (sha) {
        name += NGX_APIKEY_SHA256_TAG_LEN;
        len -= NGX_APIKEY_SHA256_TAG_LEN;
    }

    if (ngx_http_apikey_hex_to_digest(name, len, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    *scheme = sha ? NGX_HTTP_APIKEY_SCHEME_SHA256
                  : NGX_HTTP_APIKEY_SCHEME_BLAKE2B;

    return NGX_OK;
}
