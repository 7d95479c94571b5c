
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * What every libFuzzer harness of fuzz/ shares: the nginx globals a
 * parser needs outside a running nginx (page size, cached time, a log),
 * exact-size copies of the input so that AddressSanitizer sees any read
 * past a field, and the invariant check that aborts with a message.
 */


#ifndef _FUZZ_COMMON_H_INCLUDED_
#define _FUZZ_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_apikey.h"


#define fuzz_check(cond, what)                                                \
    if (!(cond)) {                                                            \
        fuzz_fail(__FILE__, __LINE__, #cond, what);                           \
    }


typedef struct {
    u_char     *data;
    size_t      len;
} fuzz_piece_t;


extern ngx_log_t  *fuzz_log;

/* the last message given to the error log, NUL-terminated */
extern u_char      fuzz_last_log[NGX_MAX_ERROR_STR + 1];
extern size_t      fuzz_nlogged;


void fuzz_init(void);
void fuzz_fail(const char *file, int line, const char *cond, const char *what)
    ngx_cdecl __attribute__((noreturn));

/* a malloc()ed copy of exactly len bytes (at least 1 allocated) */
u_char *fuzz_dup(const u_char *p, size_t len);

/*
 * Splits data at every sep byte into at most max pieces, each an exact-size
 * copy; the last piece takes the rest.  Returns the number of pieces.
 */
ngx_uint_t fuzz_split(const u_char *data, size_t size, u_char sep,
    fuzz_piece_t *pieces, ngx_uint_t max);
void fuzz_free_pieces(fuzz_piece_t *pieces, ngx_uint_t n);


#endif /* _FUZZ_COMMON_H_INCLUDED_ */
