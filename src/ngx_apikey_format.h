
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * The key schema of docs/keys.md, shared by the module, apikeyctl and the
 * fuzz harnesses, so that every reader and writer of the schema applies
 * one set of rules: the key format (syntax, prefix, checksum) and the
 * rules of each field of a key's record (id, owner, name, access, active,
 * expires, deprecated, limit, ips, grants).  Nothing here depends on
 * nginx, allocates memory or keeps state; every function takes a pointer
 * and a length.
 *
 * A record's name holds its digest: "<prefix>key:<hex>" for the digest
 * of the module (BLAKE2b-256), "<prefix>key:sha256:<hex>" for a key
 * imported from another issuer, known by its SHA-256 (or HMAC-SHA-256)
 * digest only: the digest scheme is part of the name, so that the two
 * kinds never meet.
 *
 * The checksum: a key ends in the CRC-32 (IEEE, zlib's crc32) of
 * everything before it, written in base62 ("0-9A-Za-z"), most significant
 * digit first, padded with '0' to six characters.
 */


#ifndef _NGX_APIKEY_FORMAT_H_INCLUDED_
#define _NGX_APIKEY_FORMAT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_APIKEY_CHECKSUM_LEN    6
#define NGX_APIKEY_RANDOM_LEN      32

/* a key: 1..256 token characters (A-Z a-z 0-9 - . _ ~ + /), then any '=' */
#define NGX_APIKEY_MAX_KEY_LEN     256

/* the longest key prefix that still leaves room for a generated key */
#define NGX_APIKEY_MAX_KEY_PREFIX                                             \
    (NGX_APIKEY_MAX_KEY_LEN - NGX_APIKEY_RANDOM_LEN - NGX_APIKEY_CHECKSUM_LEN)

/* the prefix of every Redis name ("apikey:") */
#define NGX_APIKEY_MAX_PREFIX      128

/* record field bounds: a record beyond them breaks the schema */
#define NGX_APIKEY_MAX_STR         255      /* id, owner, name, resource */
#define NGX_APIKEY_MAX_IPS         64
#define NGX_APIKEY_MAX_GRANTS_LEN  4096     /* parsed: 2 + name per grant */
#define NGX_APIKEY_MAX_EXPIRES     0xffffffff
#define NGX_APIKEY_LIMIT_MAX       0xfffffff0
#define NGX_APIKEY_LIMIT_UNLIMITED 0xfffffffe

/*
 * "limit": one or more terms "N/s", "N/m", "N/h" or "N/d" (a bare N is
 * per hour), at most one per unit, or "unlimited".  A per-second limit
 * is a token bucket counted in thousandths of a request: at most
 * NGX_APIKEY_LIMIT_MAX_SECOND.
 */
#define NGX_APIKEY_WINDOW_SECOND   0
#define NGX_APIKEY_WINDOW_MINUTE   1
#define NGX_APIKEY_WINDOW_HOUR     2
#define NGX_APIKEY_WINDOW_DAY      3
#define NGX_APIKEY_NWINDOWS        4
#define NGX_APIKEY_LIMIT_MAX_SECOND  1000000
#define NGX_APIKEY_LIMITS_TEXT_LEN   (NGX_APIKEY_NWINDOWS * 14)

#define NGX_APIKEY_ACCESS_FULL     1
#define NGX_APIKEY_ACCESS_READ     2
#define NGX_APIKEY_ACCESS_LIMITED  3

#define NGX_APIKEY_GRANT_READ      0x01
#define NGX_APIKEY_GRANT_WRITE     0x02

/* digest schemes, and how a record's name says which */
#define NGX_APIKEY_SCHEME_BLAKE2B  0
#define NGX_APIKEY_SCHEME_SHA256   1
#define NGX_APIKEY_HEX_LEN         64
#define NGX_APIKEY_SHA256_TAG      "sha256:"
#define NGX_APIKEY_SHA256_TAG_LEN  (sizeof(NGX_APIKEY_SHA256_TAG) - 1)
#define NGX_APIKEY_MAX_DIGEST_NAME (NGX_APIKEY_SHA256_TAG_LEN             \
                                    + NGX_APIKEY_HEX_LEN)

/* the results of the parsers */
#define NGX_APIKEY_OK              0
#define NGX_APIKEY_BAD             (-1)
#define NGX_APIKEY_MASKED          1        /* CIDR host bits were set */


/* the terms of a "limit": n[w] applies where the bit (1 << w) is in set */

typedef struct {
    uint32_t                    n[NGX_APIKEY_NWINDOWS];
    unsigned                    set;
} ngx_apikey_limits_t;


typedef struct {
    uint8_t                     family;     /* AF_INET or AF_INET6 */
    uint8_t                     bits;
    unsigned char               addr[16];
} ngx_apikey_cidr_t;


void ngx_apikey_checksum(const unsigned char *p, size_t len,
    unsigned char *out);
int ngx_apikey_checksum_valid(const unsigned char *key, size_t len);

int ngx_apikey_key_syntax(const unsigned char *key, size_t len);
int ngx_apikey_key_prefix_valid(const unsigned char *p, size_t len);

int ngx_apikey_digest_name(const unsigned char *p, size_t len);

int ngx_apikey_id_valid(const unsigned char *p, size_t len);
int ngx_apikey_text_valid(const unsigned char *p, size_t len);
int ngx_apikey_parse_access(const unsigned char *p, size_t len);
int ngx_apikey_parse_active(const unsigned char *p, size_t len);
int ngx_apikey_parse_number(const unsigned char *p, size_t len,
    uint32_t max, uint32_t *n);
int ngx_apikey_parse_expires(const unsigned char *p, size_t len,
    uint32_t *expires);
int ngx_apikey_parse_deprecated(const unsigned char *p, size_t len,
    uint32_t *deprecated);
int ngx_apikey_parse_limit(const unsigned char *p, size_t len,
    ngx_apikey_limits_t *limits);
int ngx_apikey_parse_limits(const unsigned char *p, size_t len,
    ngx_apikey_limits_t *limits);
size_t ngx_apikey_limits_text(const ngx_apikey_limits_t *limits,
    unsigned char *out);
int ngx_apikey_parse_cidr(const unsigned char *p, size_t len,
    ngx_apikey_cidr_t *cidr);
int ngx_apikey_parse_ips(const unsigned char *p, size_t len,
    ngx_apikey_cidr_t *cidr, unsigned *n);
int ngx_apikey_parse_grants(const unsigned char *p, size_t len,
    unsigned char *out, size_t *out_len);


#endif /* _NGX_APIKEY_FORMAT_H_INCLUDED_ */
