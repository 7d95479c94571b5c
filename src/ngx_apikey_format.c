
/*
 * The key checksum: see ngx_apikey_format.h.  zlib provides the CRC-32;
 * this file only fixes how it is written.
 */


#include <string.h>
#include <zlib.h>

#include "ngx_apikey_format.h"


static const char  ngx_apikey_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


void
ngx_apikey_checksum(const unsigned char *p, size_t len, unsigned char *out)
{
    int            i;
    unsigned long  crc;

    crc = crc32(0L, Z_NULL, 0);

    /* zlib takes a uInt length; feed long inputs in slices */

    while (len > 0) {
        uInt  n = len > 0x40000000 ? 0x40000000 : (uInt) len;

        crc = crc32(crc, p, n);
        p += n;
        len -= n;
    }

    for (i = NGX_APIKEY_CHECKSUM_LEN - 1; i >= 0; i--) {
        out[i] = (unsigned char) ngx_apikey_base62[crc % 62];
        crc /= 62;
    }
}


int
ngx_apikey_checksum_valid(const unsigned char *key, size_t len)
{
    unsigned char  sum[NGX_APIKEY_CHECKSUM_LEN];

    if (len <= NGX_APIKEY_CHECKSUM_LEN) {
        return 0;
    }

    ngx_apikey_checksum(key, len - NGX_APIKEY_CHECKSUM_LEN, sum);

    return memcmp(sum, key + len - NGX_APIKEY_CHECKSUM_LEN,
                  NGX_APIKEY_CHECKSUM_LEN) == 0;
}
