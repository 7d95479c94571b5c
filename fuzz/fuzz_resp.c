
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Fuzzes the module's Redis reply builder
 * (src/ngx_http_apikey_redis_reply.c), which builds hiredis's replies in
 * reused blocks of its own instead of a malloc() per value: the same bytes
 * go to two hiredis readers, one with the module's builder and one with
 * hiredis's, and both must agree on every reply, value by value, and on
 * every error.
 *
 * Input: byte 0 is the size of the pieces the rest is fed in (1 to 64,
 * so that replies arrive cut anywhere); the rest is what a Redis server
 * would send.  Inputs that announce an array of 100,000 or more elements
 * are skipped: both builders would ask for that many pointers at once,
 * which is not what this harness is about.
 *
 * Invariants: the readers agree on whether a reply is complete, on errors,
 * and on every value (type, string bytes and length, NUL after the string,
 * integer, element count and elements); the module's replies stay intact
 * until the next reply starts (checked after the reference reply is
 * freed); nothing leaks once the blocks are cleaned up.
 */


#include "fuzz_common.h"
#include "ngx_http_apikey_redis.h"


#define FUZZ_MAX_ELEMENTS_DIGITS  5


static ngx_uint_t
fuzz_huge_array(const uint8_t *data, size_t size)
{
    size_t  i, n;

    for (i = 0; i < size; i++) {
        if (data[i] != '*') {
            continue;
        }

        for (n = 0; i + 1 + n < size && data[i + 1 + n] >= '0'
                    && data[i + 1 + n] <= '9'; n++)
        {
            /* void */
        }

        if (n >= FUZZ_MAX_ELEMENTS_DIGITS) {
            return 1;
        }
    }

    return 0;
}


static void
fuzz_same(redisReply *ours, redisReply *ref, ngx_uint_t depth)
{
    size_t  i;

    fuzz_check(depth < 64, "replies nested deeper than hiredis allows");
    fuzz_check(ours != NULL && ref != NULL, "a value is missing");
    fuzz_check(ours->type == ref->type, "value types differ");

    switch (ref->type) {

    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        fuzz_check(ours->len == ref->len, "string lengths differ");
        fuzz_check(memcmp(ours->str, ref->str, ref->len) == 0,
                   "string bytes differ");
        fuzz_check(ours->str[ours->len] == '\0',
                   "a string is not NUL-terminated");
        break;

    case REDIS_REPLY_INTEGER:
        fuzz_check(ours->integer == ref->integer, "integers differ");
        break;

    case REDIS_REPLY_ARRAY:
        fuzz_check(ours->elements == ref->elements, "element counts differ");

        for (i = 0; i < ref->elements; i++) {
            fuzz_same(ours->element[i], ref->element[i], depth + 1);
        }

        break;

    default: /* REDIS_REPLY_NIL */
        break;
    }
}


/* a copy of the reference reply, to compare with ours after it is freed */

static redisReply *
fuzz_copy(redisReply *r)
{
    size_t       i;
    redisReply  *c;

    c = calloc(1, sizeof(redisReply));
    if (c == NULL) {
        abort();
    }

    *c = *r;

    if (r->str) {
        c->str = (char *) fuzz_dup((u_char *) r->str, r->len + 1);
    }

    if (r->type == REDIS_REPLY_ARRAY && r->elements) {
        c->element = calloc(r->elements, sizeof(redisReply *));
        if (c->element == NULL) {
            abort();
        }

        for (i = 0; i < r->elements; i++) {
            c->element[i] = fuzz_copy(r->element[i]);
        }
    }

    return c;
}


static void
fuzz_free_copy(redisReply *c)
{
    size_t  i;

    if (c->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < c->elements; i++) {
            fuzz_free_copy(c->element[i]);
        }

        free(c->element);
    }

    free(c->str);
    free(c);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       ours_rc, ref_rc;
    void                     *ours_reply, *ref_reply;
    size_t                    piece, off, n;
    redisReply               *copy;
    redisReader              *ours, *ref;
    ngx_http_apikey_redis_t   rc;

    if (size < 1 || size > 16384) {
        return 0;
    }

    piece = data[0] % 64 + 1;
    data++;
    size--;

    if (fuzz_huge_array(data, size)) {
        return 0;
    }

    ngx_memzero(&rc, sizeof(ngx_http_apikey_redis_t));
    rc.log = fuzz_log;
    rc.name = "fuzz";

    ours = redisReaderCreate();
    ref = redisReaderCreate();
    if (ours == NULL || ref == NULL) {
        abort();
    }

    ngx_http_apikey_redis_use_builder(ours, &rc);

    for (off = 0; off < size; off += n) {
        n = ngx_min(piece, size - off);

        fuzz_check(redisReaderFeed(ours, (const char *) data + off, n)
                   == redisReaderFeed(ref, (const char *) data + off, n),
                   "the readers disagree on taking input");

        for ( ;; ) {
            ours_reply = NULL;
            ref_reply = NULL;

            ours_rc = redisReaderGetReply(ours, &ours_reply);
            ref_rc = redisReaderGetReply(ref, &ref_reply);

            fuzz_check(ours_rc == ref_rc, "the readers disagree on errors");

            if (ref_rc != REDIS_OK) {
                goto done;
            }

            fuzz_check((ours_reply == NULL) == (ref_reply == NULL),
                       "the readers disagree on a complete reply");

            if (ref_reply == NULL) {
                break;
            }

            fuzz_same(ours_reply, ref_reply, 0);

            /* ours must still hold when the reference is gone */

            copy = fuzz_copy(ref_reply);
            freeReplyObject(ref_reply);
            fuzz_same(ours_reply, copy, 0);
            fuzz_free_copy(copy);

            ours->fn->freeObject(ours_reply);
        }
    }

done:

    redisReaderFree(ours);
    redisReaderFree(ref);
    ngx_http_apikey_redis_cleanup_replies(&rc);

    return 0;
}
