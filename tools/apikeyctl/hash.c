
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * apikeyctl hash: the digest of a key read from stdin, as the module
 * computes it.
 */


#include "apikeyctl.h"


int
actl_cmd_hash(actl_conf_t *cf)
{
    int            c;
    char           hex[ACTL_HEX_LEN + 1];
    size_t         n, i;
    unsigned char  buf[ACTL_MAX_KEY_LEN + 4];

    n = 0;

    while ((c = getchar()) != EOF) {
        if (n == sizeof(buf)) {
            sodium_memzero(buf, sizeof(buf));
            return actl_error(ACTL_EUSAGE, "the key on stdin is longer than "
                              "%d bytes", ACTL_MAX_KEY_LEN);
        }

        buf[n++] = (unsigned char) c;
    }

    if (n > 0 && buf[n - 1] == '\n') {
        n--;

        if (n > 0 && buf[n - 1] == '\r') {
            n--;
        }
    }

    if (n == 0) {
        return actl_error(ACTL_EUSAGE, "no key on stdin");
    }

    if (n > ACTL_MAX_KEY_LEN) {
        sodium_memzero(buf, sizeof(buf));
        return actl_error(ACTL_EUSAGE, "the key on stdin is longer than "
                          "%d bytes", ACTL_MAX_KEY_LEN);
    }

    for (i = 0; i < n; i++) {
        if (buf[i] == '\n' || buf[i] == '\r') {
            sodium_memzero(buf, sizeof(buf));
            return actl_error(ACTL_EUSAGE, "stdin holds more than one line; "
                              "give one key");
        }
    }

    actl_digest(cf, buf, n, hex);
    sodium_memzero(buf, sizeof(buf));

    if (cf->json) {
        printf("{\"digest\":\"%s\"}\n", hex);

    } else {
        printf("%s\n", hex);
    }

    return ACTL_OK;
}
