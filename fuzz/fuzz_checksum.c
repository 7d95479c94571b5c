
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * Fuzzes the key checksum of src/ngx_apikey_format.c (docs/keys.md, "The
 * key format").
 *
 * The input is a key body.  Invariants: the checksum is six base62 digits
 * equal to a bitwise CRC-32 written out here independently; a non-empty
 * body followed by its checksum validates; changing any byte of that key (the
 * checksum part to another base62 digit, or a body byte) never validates;
 * keys of six bytes or less never validate.
 */


#include "fuzz_common.h"
#include "ngx_apikey_format.h"


static const char  fuzz_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


static uint32_t
fuzz_crc32(const u_char *p, size_t len)
{
    int       k;
    size_t    i;
    uint32_t  crc;

    crc = 0xffffffff;

    for (i = 0; i < len; i++) {
        crc ^= p[i];

        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xedb88320 & (0 - (crc & 1)));
        }
    }

    return crc ^ 0xffffffff;
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
    int        i;
    u_char    *key, *pos, old;
    u_char     sum[NGX_APIKEY_CHECKSUM_LEN], want[NGX_APIKEY_CHECKSUM_LEN];
    size_t     j, len;
    uint32_t   crc;

    if (size > 4096) {
        return 0;
    }

    /* the reference: CRC-32 in base62, most significant digit first */

    crc = fuzz_crc32(data, size);

    for (i = NGX_APIKEY_CHECKSUM_LEN - 1; i >= 0; i--) {
        want[i] = fuzz_base62[crc % 62];
        crc /= 62;
    }

    ngx_apikey_checksum(data, size, sum);

    fuzz_check(memcmp(sum, want, NGX_APIKEY_CHECKSUM_LEN) == 0,
               "checksum differs from the reference CRC-32/base62");

    len = size + NGX_APIKEY_CHECKSUM_LEN;
    key = fuzz_dup(data, size);
    key = realloc(key, len);
    if (key == NULL) {
        abort();
    }

    memcpy(key + size, sum, NGX_APIKEY_CHECKSUM_LEN);

    /* an empty body: six bytes, too short to be a key */

    fuzz_check(ngx_apikey_checksum_valid(key, len) == (size > 0),
               "a key with its own checksum appended does not validate");

    /* every other base62 digit at every checksum position */

    for (i = 0; i < NGX_APIKEY_CHECKSUM_LEN; i++) {
        pos = key + size + i;
        old = *pos;

        for (j = 0; j < 62; j++) {
            if ((u_char) fuzz_base62[j] == old) {
                continue;
            }

            *pos = fuzz_base62[j];

            fuzz_check(!ngx_apikey_checksum_valid(key, len),
                       "a key with a changed checksum digit validates");
        }

        /* and a byte that is no base62 digit at all */

        *pos = (u_char) (old ^ 0x80);
        fuzz_check(!ngx_apikey_checksum_valid(key, len),
                   "a key with a non-base62 checksum byte validates");

        *pos = old;
    }

    /* CRC-32 catches every single-byte change of the body (some of them) */

    for (j = 0; j < size; j += size / 64 + 1) {
        old = key[j];
        key[j] = (u_char) (old ^ (data[(j + 1) % size] | 1));

        fuzz_check(!ngx_apikey_checksum_valid(key, len),
                   "a key with a changed body byte validates");

        key[j] = old;
    }

    fuzz_check(ngx_apikey_checksum_valid(key, len) == (size > 0),
               "the restored key no longer validates");

    /* too short to hold a checksum and anything before it */

    if (size <= NGX_APIKEY_CHECKSUM_LEN) {
        fuzz_check(!ngx_apikey_checksum_valid(data, size),
                   "a key of six bytes or less validates");
    }

    free(key);

    return 0;
}
