
/*
 * The key format of SPEC section 7, shared by the module and apikeyctl:
 * a key ends in the CRC-32 (IEEE, zlib's crc32) of everything before it,
 * written in base62 ("0-9A-Za-z"), most significant digit first, padded
 * with '0' to six characters.  Nothing here depends on nginx.
 */


#ifndef _NGX_APIKEY_FORMAT_H_INCLUDED_
#define _NGX_APIKEY_FORMAT_H_INCLUDED_


#include <stddef.h>


#define NGX_APIKEY_CHECKSUM_LEN  6
#define NGX_APIKEY_RANDOM_LEN    32


void ngx_apikey_checksum(const unsigned char *p, size_t len,
    unsigned char *out);
int ngx_apikey_checksum_valid(const unsigned char *key, size_t len);


#endif /* _NGX_APIKEY_FORMAT_H_INCLUDED_ */
