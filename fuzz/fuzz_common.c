
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The nginx environment the harnesses run the module's parsers in: no
 * cycle, no configuration, only the globals the parsers and the pool and
 * log code read.  The error log goes through a writer that keeps the last
 * line (set FUZZ_VERBOSE=1 to see every line on stderr).
 */


#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "fuzz_common.h"


ngx_log_t   *fuzz_log;
u_char       fuzz_last_log[NGX_MAX_ERROR_STR + 1];
size_t       fuzz_nlogged;


static void fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len);


static ngx_open_file_t  fuzz_log_file;
static ngx_log_t        fuzz_log_storage;
static ngx_cycle_t      fuzz_cycle;
static ngx_uint_t       fuzz_verbose;


void
fuzz_init(void)
{
    static ngx_uint_t  done;

    if (done) {
        return;
    }

    done = 1;

    ngx_pagesize = getpagesize();
    for (ngx_pagesize_shift = 0; (1 << ngx_pagesize_shift) < ngx_pagesize;
         ngx_pagesize_shift++)
    {
        /* void */
    }

    ngx_cacheline_size = NGX_CPU_CACHE_LINE;
    ngx_ncpu = 1;
    ngx_pid = getpid();

    /* the writer alone reports; no copy of ERR lines to stderr */
    ngx_use_stderr = 0;

    ngx_time_init();

    if (ngx_strerror_init() != NGX_OK) {
        abort();
    }

    if (sodium_init() < 0) {
        abort();
    }

    fuzz_verbose = getenv("FUZZ_VERBOSE") != NULL;

    fuzz_log_file.fd = ngx_stderr;
    fuzz_log_storage.file = &fuzz_log_file;
    fuzz_log_storage.log_level = NGX_LOG_INFO;
    fuzz_log_storage.writer = fuzz_log_writer;
    fuzz_log = &fuzz_log_storage;

    fuzz_cycle.log = fuzz_log;
    ngx_cycle = &fuzz_cycle;
}


static void
fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    if (len > NGX_MAX_ERROR_STR) {
        len = NGX_MAX_ERROR_STR;
    }

    ngx_memcpy(fuzz_last_log, buf, len);
    fuzz_last_log[len] = '\0';
    fuzz_nlogged++;

    if (fuzz_verbose) {
        (void) fwrite(buf, 1, len, stderr);
    }
}


void
fuzz_fail(const char *file, int line, const char *cond, const char *what)
{
    fprintf(stderr, "\nINVARIANT FAILED at %s:%d: %s\n  (%s)\n",
            file, line, what, cond);
    abort();
}


u_char *
fuzz_dup(const u_char *p, size_t len)
{
    u_char  *d;

    d = malloc(len ? len : 1);
    if (d == NULL) {
        abort();
    }

    if (len) {
        memcpy(d, p, len);
    }

    return d;
}


ngx_uint_t
fuzz_split(const u_char *data, size_t size, u_char sep,
    fuzz_piece_t *pieces, ngx_uint_t max)
{
    const u_char  *p, *last, *q;
    ngx_uint_t     n;

    if (max == 0) {
        return 0;
    }

    n = 0;
    p = data;
    last = data + size;

    for ( ;; ) {
        q = (n + 1 < max) ? memchr(p, sep, last - p) : NULL;

        if (q == NULL) {
            q = last;
        }

        pieces[n].len = q - p;
        pieces[n].data = fuzz_dup(p, q - p);
        n++;

        if (q == last) {
            return n;
        }

        p = q + 1;
    }
}


void
fuzz_free_pieces(fuzz_piece_t *pieces, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        free(pieces[i].data);
    }
}
