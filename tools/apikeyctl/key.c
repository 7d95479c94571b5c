
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl's keys: new keys and ids from libsodium's CSPRNG, their
 * digests, and the one place a raw key is printed.
 */


#include "apikeyctl.h"


static const char  actl_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


void
actl_random_base62(char *out, size_t n)
{
    while (n--) {
        *out++ = actl_base62[randombytes_uniform(62)];
    }
}


/* key = prefix, 32 random base62 characters, 6 checksum characters */

int
actl_make_key(const char *prefix, char *key, size_t *len)
{
    size_t  n;

    n = strlen(prefix);

    memcpy(key, prefix, n);
    actl_random_base62(key + n, NGX_APIKEY_RANDOM_LEN);
    n += NGX_APIKEY_RANDOM_LEN;

    ngx_apikey_checksum((unsigned char *) key, n, (unsigned char *) key + n);
    n += NGX_APIKEY_CHECKSUM_LEN;

    key[n] = '\0';
    *len = n;

    return ACTL_OK;
}


void
actl_digest(actl_conf_t *cf, const unsigned char *key, size_t len, char *hex)
{
    unsigned char  out[ACTL_DIGEST_LEN];

    crypto_generichash(out, sizeof(out), key, len,
                       cf->secret_len ? cf->secret : NULL, cf->secret_len);

    sodium_bin2hex(hex, ACTL_HEX_LEN + 1, out, sizeof(out));
    sodium_memzero(out, sizeof(out));
}


void
actl_new_id(char *id)
{
    id[0] = 'k';
    id[1] = '_';
    actl_random_base62(id + 2, ACTL_ID_RANDOM_LEN);
    id[2 + ACTL_ID_RANDOM_LEN] = '\0';
}


/* the one place the raw key is ever written: stdout, once */

void
actl_print_key(actl_conf_t *cf, const char *what, const char *id,
    const char *key, const char *digest)
{
    if (cf->json) {
        fputs("{\"id\":", stdout);
        actl_json_str(id, strlen(id));
        printf(",\"key\":\"%s\",\"digest\":\"%s\"}\n", key, digest);

    } else {
        printf("%s\n", key);
    }

    fflush(stdout);

    if (!cf->json) {
        fprintf(stderr, "apikeyctl: %s key id %s (digest %s); the key is "
                "shown only this once\n", what, id, digest);
    }
}
