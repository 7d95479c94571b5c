
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Secrets read from files when the configuration is read: the hash secret
 * (apikey_hash_secret) and the Redis password (apikey_redis's
 * password_file=).  A secret kept in a file of its own can be readable by
 * root alone while nginx.conf stays world-readable, and it never shows in
 * `nginx -T`.  No message here ever holds a byte of what a file holds.
 */


#include "ngx_http_apikey.h"


/* the longest Redis password read from a file */
#define NGX_HTTP_APIKEY_PASSWORD_MAX  4096


/*
 * Reads the file "name" (relative to the configuration directory), at most
 * "max" bytes after one trailing newline is dropped, into memory of the
 * configuration's pool.  NGX_ERROR: the file cannot be opened or read,
 * said in the log; NGX_DECLINED: it holds more than max bytes, said by the
 * caller, which knows what the bytes are for.
 */

ngx_int_t
ngx_http_apikey_read_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name, size_t max, ngx_str_t *secret)
{
    u_char    *buf;
    size_t     len;
    ssize_t    n;
    ngx_fd_t   fd;
    ngx_err_t  err;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\" in \"%V\" directive",
                           name, &cmd->name);
        return NGX_ERROR;
    }

    /* one byte more than a newline after max bytes: too long */

    buf = ngx_pnalloc(cf->pool, max + 2);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    len = 0;
    err = 0;

    while (len < max + 2) {
        n = ngx_read_fd(fd, buf + len, max + 2 - len);

        if (n == -1) {
            err = ngx_errno;

            if (err == NGX_EINTR) {
                continue;
            }

            break;
        }

        if (n == 0) {
            break;
        }

        len += n;
    }

    ngx_close_file(fd);

    if (err) {
        ngx_explicit_memzero(buf, len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "cannot read \"%V\" in \"%V\" directive",
                           name, &cmd->name);
        return NGX_ERROR;
    }

    if (len > 0 && buf[len - 1] == '\n') {
        len--;
    }

    if (len > max) {
        ngx_explicit_memzero(buf, max + 2);
        return NGX_DECLINED;
    }

    secret->data = buf;
    secret->len = len;

    return NGX_OK;
}


/*
 * apikey_redis's password_file=: the whole file is the password (the
 * user name, not a secret, stays in user=).  A password of more than one
 * line is refused rather than sent: it is a file holding something else.
 */

ngx_int_t
ngx_http_apikey_password_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *file, ngx_str_t *password)
{
    ngx_int_t   rc;
    ngx_str_t   name;
    ngx_uint_t  i;

    if (file->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty \"password_file=\" in \"%V\" directive",
                           &cmd->name);
        return NGX_ERROR;
    }

    name = *file;

    rc = ngx_http_apikey_read_secret(cf, cmd, &name,
                                     NGX_HTTP_APIKEY_PASSWORD_MAX, password);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "password file \"%V\" in \"%V\" directive holds "
                           "more than %d bytes", &name, &cmd->name,
                           NGX_HTTP_APIKEY_PASSWORD_MAX);
        return NGX_ERROR;
    }

    if (password->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "password file \"%V\" in \"%V\" directive is "
                           "empty", &name, &cmd->name);
        return NGX_ERROR;
    }

    for (i = 0; i < password->len; i++) {
        if (password->data[i] == '\n' || password->data[i] == '\r'
            || password->data[i] == '\0')
        {
            ngx_explicit_memzero(password->data, password->len);
            ngx_str_null(password);

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "password file \"%V\" in \"%V\" directive "
                               "must hold the password alone, on one line",
                               &name, &cmd->name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
