
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Keeps raw keys out of nginx's own log lines.  At debug level nginx logs
 * every request header ("http header: ..."), and at info level a malformed
 * header line whole; the module never logs a key itself, but these lines
 * would.  Every error log the module's locations write to gets a writer
 * that replaces the value of X-Secret-Key, of a Bearer Authorization and
 * of every custom key header of the http block ("header:<name>" in
 * apikey_headers) with "[hidden]" before the line is written, then writes
 * it as nginx would (to the file, or through the log's own writer: syslog,
 * memory).
 *
 * Some of nginx's lines show a value without the name of a key header: a
 * header under a near-miss name ("X_Secret_Key", an invalid header line),
 * a duplicate header, a variable's value at debug level ("http script
 * var").  There, every key-looking run (16 or more token characters) is
 * hidden.
 */


#include "ngx_http_apikey.h"


typedef struct {
    ngx_log_t                  *log;
    ngx_log_writer_pt           writer;     /* the log's own, or NULL */
    void                       *wdata;
    ngx_http_apikey_names_t    *names;      /* custom key headers, or NULL */
} ngx_http_apikey_log_t;


static void ngx_http_apikey_log_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static void ngx_http_apikey_log_restore(void *data);
static size_t ngx_http_apikey_scrub(u_char *buf, size_t len,
    ngx_http_apikey_names_t *names);
static size_t ngx_http_apikey_scrub_runs(u_char *buf, size_t len);
static u_char *ngx_http_apikey_strcasestrn(u_char *p, u_char *last,
    char *s, size_t n);


#define NGX_HTTP_APIKEY_KEY_RUN  16

#define ngx_http_apikey_key_char(c)                                           \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '.'                \
     || (c) == '_' || (c) == '~' || (c) == '+' || (c) == '/')


/* lines of nginx's that may carry a key without a key header's name */

static ngx_str_t  ngx_http_apikey_value_lines[] = {
    ngx_string("client sent invalid header"),
    ngx_string("client sent duplicate "),
    ngx_string("http script var: "),
    ngx_null_string
};


ngx_int_t
ngx_http_apikey_guard_log(ngx_conf_t *cf, ngx_log_t *log,
    ngx_http_apikey_names_t *names)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_apikey_log_t  *alog;

    for ( /* void */ ; log; log = log->next) {

        if (log->writer == ngx_http_apikey_log_writer) {
            continue;
        }

        /*
         * The cycle's pool unloads the module when it is destroyed, then
         * still logs: the log must have its own writer back before that.
         * Cleanups run newest first, so this one runs before the unload.
         */

        cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_http_apikey_log_t));
        if (cln == NULL) {
            return NGX_ERROR;
        }

        alog = cln->data;
        alog->log = log;
        alog->writer = log->writer;
        alog->wdata = log->wdata;
        alog->names = names;

        cln->handler = ngx_http_apikey_log_restore;

        log->writer = ngx_http_apikey_log_writer;
        log->wdata = alog;
    }

    return NGX_OK;
}


static void
ngx_http_apikey_log_restore(void *data)
{
    ngx_http_apikey_log_t  *alog = data;

    if (alog->log->writer == ngx_http_apikey_log_writer
        && alog->log->wdata == alog)
    {
        alog->log->writer = alog->writer;
        alog->log->wdata = alog->wdata;
    }
}


static void
ngx_http_apikey_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    ssize_t                 n;
    ngx_err_t               err;
    ngx_http_apikey_log_t  *alog;

    alog = log->wdata;

    len = ngx_http_apikey_scrub(buf, len, alog->names);

    if (alog->writer) {
        log->wdata = alog->wdata;
        alog->writer(log, level, buf, len);
        log->wdata = alog;
        return;
    }

    /* what ngx_log_error_core() does for a file */

    if (log->file == NULL || ngx_time() == log->disk_full_time) {
        return;
    }

    n = ngx_write_fd(log->file->fd, buf, len);

    if (n == -1) {
        err = ngx_errno;

        if (err == NGX_ENOSPC) {
            log->disk_full_time = ngx_time();
        }
    }
}


/*
 * "X-Secret-Key: <value>", "Authorization: Bearer <value>" and "<custom
 * name>: <value>", in any case: the value, up to a quote or the end of the
 * line, becomes "[hidden]" (or as much of it as the value is long).
 */

static size_t
ngx_http_apikey_scrub(u_char *buf, size_t len, ngx_http_apikey_names_t *names)
{
    u_char      *p, *last, *value, *found, *end;
    size_t       n;
    ngx_uint_t   i, bearer;

    static u_char  hidden[] = "[hidden]";

    last = buf + len;
    p = buf;

    while (p < last) {
        value = ngx_http_apikey_strcasestrn(p, last, "x-secret-key:", 13);
        n = 13;
        bearer = 0;

        found = ngx_http_apikey_strcasestrn(p, last, "authorization:", 14);

        if (found && (value == NULL || found < value)) {
            value = found;
            n = 14;
            bearer = 1;
        }

        for (i = 0; names && i < names->n; i++) {

            /* the name is followed by its ':' */

            found = ngx_http_apikey_strcasestrn(p, last,
                                                (char *) names->name[i].data,
                                                names->name[i].len + 1);

            if (found && (value == NULL || found < value)) {
                value = found;
                n = names->name[i].len + 1;
                bearer = 0;
            }
        }

        if (value == NULL) {
            break;
        }

        value += n;

        /* a key sent in quotes is a key all the same */

        while (value < last
               && (*value == ' ' || *value == '\t' || *value == '"'))
        {
            value++;
        }

        /* other schemes are left alone: "Basic" is not our secret */

        if (bearer) {
            if (last - value < 6
                || ngx_strncasecmp(value, (u_char *) "bearer", 6) != 0)
            {
                p = value;
                continue;
            }

            value += 6;

            while (value < last && (*value == ' ' || *value == '\t')) {
                value++;
            }
        }

        for (end = value;
             end < last && *end != '"' && *end != CR && *end != LF;
             end++)
        {
            /* void */
        }

        if (end == value) {
            p = value;
            continue;
        }

        n = ngx_min((size_t) (end - value), sizeof(hidden) - 1);
        ngx_memcpy(value, hidden, n);

        ngx_memmove(value + n, end, last - end);
        last -= (end - value) - n;

        p = value + n;
    }

    return ngx_http_apikey_scrub_runs(buf, last - buf);
}


/*
 * After one of ngx_http_apikey_value_lines, to the end of the line: each
 * run of key characters (A-Z a-z 0-9 - . _ ~ + /, then any "=") of 16 or
 * more becomes "[hidden]".  The text is not trusted to end where nginx's
 * quote would: a value may hold quotes of its own.
 */

static size_t
ngx_http_apikey_scrub_runs(u_char *buf, size_t len)
{
    u_char      *p, *last, *start, *run;
    size_t       n;
    ngx_str_t   *m;

    static u_char  hidden[] = "[hidden]";

    last = buf + len;
    start = NULL;

    for (m = ngx_http_apikey_value_lines; m->len; m++) {
        p = ngx_http_apikey_strcasestrn(buf, last, (char *) m->data, m->len);

        if (p && (start == NULL || p < start)) {
            start = p + m->len;
        }
    }

    if (start == NULL) {
        return len;
    }

    for (p = start; p < last; /* void */) {

        if (!ngx_http_apikey_key_char(*p)) {
            p++;
            continue;
        }

        run = p;

        while (p < last && ngx_http_apikey_key_char(*p)) {
            p++;
        }

        while (p < last && *p == '=') {
            p++;
        }

        n = p - run;

        if (n < NGX_HTTP_APIKEY_KEY_RUN) {
            continue;
        }

        ngx_memcpy(run, hidden, sizeof(hidden) - 1);
        ngx_memmove(run + sizeof(hidden) - 1, p, last - p);

        last -= n - (sizeof(hidden) - 1);
        p = run + sizeof(hidden) - 1;
    }

    return last - buf;
}


static u_char *
ngx_http_apikey_strcasestrn(u_char *p, u_char *last, char *s, size_t n)
{
    for ( /* void */ ; p + n <= last; p++) {
        if (ngx_strncasecmp(p, (u_char *) s, n) == 0) {
            return p;
        }
    }

    return NULL;
}
