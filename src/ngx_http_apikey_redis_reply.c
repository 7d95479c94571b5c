
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * ngx_http_apikey_module: the Redis adapter's reply builder.
 *
 * Replies are built by the functions below rather than hiredis's own, which
 * allocate every value and every string apart: a full sync reads a million
 * HGETALL replies of ten values each, and malloc() and free() took a third
 * of the syncing worker's time.  Here each value and its string are one
 * piece of a block of the connection's, and the blocks are reused for the
 * next reply: hiredis builds one reply at a time, hands it to its callback
 * and frees it before it starts the next one.
 *
 * It is apart from the connection (ngx_http_apikey_redis.c) because it
 * sees only what hiredis's reader hands it, never a socket or an event:
 * fuzz/fuzz_resp.c runs it on a bare reader, against hiredis's own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_apikey.h"
#include "ngx_http_apikey_redis.h"
#include "ngx_http_apikey_redis_adapter.h"
#include "ngx_http_apikey_transport.h"


/* the block replies are built in; a larger reply gets more, freed after */
#define NGX_HTTP_APIKEY_REDIS_BLOCK  (64 * 1024)


struct ngx_http_apikey_redis_block_s {
    ngx_http_apikey_redis_block_t    *next;
    u_char                           *pos;
    u_char                           *end;
};


static redisReply *ngx_http_apikey_redis_value(const redisReadTask *task,
    int type, size_t size, int elements);
static void *ngx_http_apikey_redis_alloc(ngx_http_apikey_redis_t *rc,
    size_t size);
static void ngx_http_apikey_redis_reset(ngx_http_apikey_redis_t *rc);
static void *ngx_http_apikey_redis_create_string(const redisReadTask *task,
    char *str, size_t len);
static void *ngx_http_apikey_redis_create_array(const redisReadTask *task,
    int elements);
static void *ngx_http_apikey_redis_create_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_apikey_redis_create_nil(const redisReadTask *task);
static void ngx_http_apikey_redis_free_reply(void *reply);
static ngx_uint_t ngx_http_apikey_redis_unexpected(const redisReadTask *task,
    int elements);


/*
 * The reply builder, which also checks that every reply is one hiredis can
 * take.  hiredis 0.14 assert()s, and so kills the worker, on a reply
 * nothing waits for, and on a malformed push on a subscribed connection;
 * refusing to build such a reply makes it a reader error instead, which
 * closes the connection.
 */

static redisReplyObjectFunctions  ngx_http_apikey_redis_builder = {
    ngx_http_apikey_redis_create_string,
    ngx_http_apikey_redis_create_array,
    ngx_http_apikey_redis_create_integer,
    ngx_http_apikey_redis_create_nil,
    ngx_http_apikey_redis_free_reply
};


static void *
ngx_http_apikey_redis_create_string(const redisReadTask *task, char *str,
    size_t len)
{
    redisReply               *r;
    ngx_http_apikey_redis_t  *rc;

    rc = task->privdata;

    /*
     * cluster: a redirection never reaches the command's callback; it
     * closes the connection, which is then made to the slot's owner
     */

    if (task->type == REDIS_REPLY_ERROR && task->parent == NULL
        && rc && rc->ac && ngx_http_apikey_transport_cluster(rc->conf)
        && ngx_http_apikey_cluster_redirect((u_char *) str, len, rc->error,
                                            NGX_HTTP_APIKEY_REDIS_ERRLEN)
           == NGX_OK)
    {
        rc->redirected = 1;
        return NULL;
    }

    /* the string right after the value: one piece, one cache line or two */

    r = ngx_http_apikey_redis_value(task, task->type,
                                    sizeof(redisReply) + len + 1, 0);
    if (r == NULL) {
        return NULL;
    }

    r->str = (char *) (r + 1);
    r->len = len;

    ngx_memcpy(r->str, str, len);
    r->str[len] = '\0';

    return r;
}


static void *
ngx_http_apikey_redis_create_array(const redisReadTask *task, int elements)
{
    redisReply  *r;

    if (elements < 0) {
        return NULL;    /* hiredis asks for a nil instead */
    }

    r = ngx_http_apikey_redis_value(task, REDIS_REPLY_ARRAY,
                                    sizeof(redisReply)
                                    + (size_t) elements * sizeof(redisReply *),
                                    elements);
    if (r == NULL) {
        return NULL;
    }

    /*
     * the elements are set as hiredis builds them: only a complete reply
     * is ever read, so they need no zeroing (nor, for a huge count, the
     * touch of every page)
     */

    r->elements = elements;

    if (elements) {
        r->element = (redisReply **) (r + 1);
    }

    return r;
}


static void *
ngx_http_apikey_redis_create_integer(const redisReadTask *task,
    long long value)
{
    redisReply  *r;

    r = ngx_http_apikey_redis_value(task, REDIS_REPLY_INTEGER,
                                    sizeof(redisReply), 0);
    if (r == NULL) {
        return NULL;
    }

    r->integer = value;

    return r;
}


static void *
ngx_http_apikey_redis_create_nil(const redisReadTask *task)
{
    return ngx_http_apikey_redis_value(task, REDIS_REPLY_NIL,
                                       sizeof(redisReply), 0);
}


/*
 * A value of type "type" in "size" bytes, the redisReply first, linked
 * into its array as hiredis's own builder does.  A reply's first value
 * starts a new reply: the memory of the one before is used again.
 */

static redisReply *
ngx_http_apikey_redis_value(const redisReadTask *task, int type, size_t size,
    int elements)
{
    redisReply               *r, *parent;
    ngx_http_apikey_redis_t  *rc;

    rc = task->privdata;

    if (rc == NULL) {
        return NULL;    /* the connection is closed */
    }

    if (ngx_http_apikey_redis_unexpected(task, elements)) {
        return NULL;
    }

    if (task->parent == NULL) {
        ngx_http_apikey_redis_reset(rc);

        /* Redis answers (errors aside): written once a second at most */

        if (rc->heard && type != REDIS_REPLY_ERROR
            && *rc->heard != (ngx_atomic_uint_t) ngx_time())
        {
            *rc->heard = (ngx_atomic_uint_t) ngx_time();
        }
    }

    r = ngx_http_apikey_redis_alloc(rc, size);
    if (r == NULL) {
        return NULL;
    }

    ngx_memzero(r, sizeof(redisReply));
    r->type = type;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = r;
    }

    return r;
}


/*
 * hiredis frees every reply once its callback returned, or when it drops
 * one half built: the memory is reused by the next reply, or freed with
 * ngx_http_apikey_redis_cleanup_replies()
 */

static void
ngx_http_apikey_redis_free_reply(void *reply)
{
}


static void *
ngx_http_apikey_redis_alloc(ngx_http_apikey_redis_t *rc, size_t size)
{
    size_t                          n;
    u_char                         *p;
    ngx_http_apikey_redis_block_t  *b;

    size = ngx_align(size, NGX_ALIGNMENT);

    rc->reply_size += size;

    if (rc->max_reply && rc->reply_size > rc->max_reply) {

        /* hiredis fails the connection; the cleanup keeps this error */

        *ngx_snprintf(rc->error, NGX_HTTP_APIKEY_REDIS_ERRLEN - 1,
                      "a reply over %uz bytes (the bound of the %s "
                      "connection) refused", rc->max_reply, rc->name)
            = '\0';

        return NULL;
    }

    b = rc->block;

    if (b && (size_t) (b->end - b->pos) >= size) {
        p = b->pos;
        b->pos += size;
        return p;
    }

    n = ngx_max(size, NGX_HTTP_APIKEY_REDIS_BLOCK);

    b = ngx_alloc(sizeof(ngx_http_apikey_redis_block_t) + n, rc->log);
    if (b == NULL) {
        return NULL;
    }

    p = (u_char *) (b + 1);

    b->next = NULL;
    b->pos = p + size;
    b->end = p + n;

    if (rc->block) {
        rc->block->next = b;

    } else {
        rc->blocks = b;
    }

    rc->block = b;

    return p;
}


/* the first block is kept for the next reply unless it was a large one */

static void
ngx_http_apikey_redis_reset(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_redis_block_t  *b, *next;

    rc->reply_size = 0;

    b = rc->blocks;

    if (b == NULL) {
        return;
    }

    for (next = b->next; next; next = b->next) {
        b->next = next->next;
        ngx_free(next);
    }

    if ((size_t) (b->end - (u_char *) (b + 1)) > NGX_HTTP_APIKEY_REDIS_BLOCK) {
        ngx_free(b);
        rc->blocks = NULL;
        rc->block = NULL;
        return;
    }

    b->pos = (u_char *) (b + 1);
    rc->block = b;
}


/*
 * The module's reply builder on a hiredis reader: every connection's, and
 * fuzz/fuzz_resp.c's, which compares it with hiredis's own builder.
 */

void
ngx_http_apikey_redis_use_builder(redisReader *reader,
    ngx_http_apikey_redis_t *rc)
{
    reader->fn = &ngx_http_apikey_redis_builder;
    reader->privdata = rc;
}


/*
 * Frees the memory replies were built in, for
 * ngx_http_apikey_redis_cleanup_replies().
 */

void
ngx_http_apikey_redis_free_blocks(ngx_http_apikey_redis_t *rc)
{
    ngx_http_apikey_redis_reset(rc);

    if (rc->blocks) {
        ngx_free(rc->blocks);
        rc->blocks = NULL;
        rc->block = NULL;
    }
}


/*
 * Called for every value hiredis builds, before the reply's callback is
 * taken from the queue: the queue's head is the reply's own callback.
 */

static ngx_uint_t
ngx_http_apikey_redis_unexpected(const redisReadTask *task, int elements)
{
    redisReply               *push, *kind;
    redisAsyncContext        *ac;
    const redisReadTask      *top;
    ngx_http_apikey_redis_t  *rc;

    rc = task->privdata;

    if (rc == NULL || rc->ac == NULL) {
        return 0;
    }

    ac = rc->ac;

    if (ac->replies.head) {
        return 0;
    }

    if (!(ac->c.flags & REDIS_SUBSCRIBED)) {

        /* nothing waits: only an error reply ("max clients") is handled */

        if (task->parent == NULL && task->type != REDIS_REPLY_ERROR) {
            goto unexpected;
        }

        return 0;
    }

    /* a push: an array of a kind, a channel, and a payload or a count */

    if (task->parent == NULL) {
        if (task->type == REDIS_REPLY_ARRAY && elements < 3) {
            goto unexpected;
        }

        return 0;
    }

    top = task->parent;

    if (top->parent) {
        return 0;
    }

    if (task->idx < 2) {
        if (task->type != REDIS_REPLY_STRING) {
            goto unexpected;
        }

        return 0;
    }

    if (task->idx == 2 && task->type != REDIS_REPLY_INTEGER) {
        push = top->obj;
        kind = push->element[0];

        if (kind->len >= 11
            && ngx_strncasecmp((u_char *) kind->str + kind->len - 11,
                               (u_char *) "unsubscribe", 11)
               == 0)
        {
            goto unexpected;
        }
    }

    return 0;

unexpected:

    if (rc->error[0] == '\0') {
        ngx_cpystrn(rc->error, (u_char *) "unexpected reply",
                    NGX_HTTP_APIKEY_REDIS_ERRLEN);
    }

    return 1;
}
