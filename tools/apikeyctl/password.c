
/*
 * Copyright (C) The ngx_http_apikey_module authors
 */


/*
 * --password-file: the Redis password read from a file, as the module's
 * apikey_redis password_file= reads it, so that it is in neither the
 * command line (which every user of the machine sees in ps) nor the
 * environment.  No message here holds a byte of the file.
 */


#include "apikeyctl.h"


int
actl_read_password(actl_conf_t *cf)
{
    int          c;
    FILE        *f;
    size_t       n, i;
    const char  *file;

    file = cf->password_file;

    if (cf->password) {
        return actl_error(ACTL_EUSAGE, "--password and --password-file "
                          "exclude each other");
    }

    f = fopen(file, "rb");
    if (f == NULL) {
        return actl_error(ACTL_EUSAGE, "cannot open --password-file "
                          "\"%s\": %s", file, strerror(errno));
    }

    /* one byte more than a newline after the longest password: too long */

    n = 0;

    while (n < ACTL_MAX_PASSWORD + 2 && (c = getc(f)) != EOF) {
        cf->password_buf[n++] = (char) c;
    }

    if (ferror(f)) {
        fclose(f);
        sodium_memzero(cf->password_buf, sizeof(cf->password_buf));
        return actl_error(ACTL_EUSAGE, "cannot read --password-file \"%s\"",
                          file);
    }

    fclose(f);

    if (n > 0 && cf->password_buf[n - 1] == '\n') {
        n--;
    }

    if (n == 0 || n > ACTL_MAX_PASSWORD) {
        sodium_memzero(cf->password_buf, sizeof(cf->password_buf));
        return actl_error(ACTL_EUSAGE, "--password-file \"%s\" must hold "
                          "1 to %d bytes (one trailing newline dropped)",
                          file, ACTL_MAX_PASSWORD);
    }

    for (i = 0; i < n; i++) {
        if (cf->password_buf[i] == '\n' || cf->password_buf[i] == '\r'
            || cf->password_buf[i] == '\0')
        {
            sodium_memzero(cf->password_buf, sizeof(cf->password_buf));
            return actl_error(ACTL_EUSAGE, "--password-file \"%s\" must "
                              "hold the password alone, on one line", file);
        }
    }

    cf->password_buf[n] = '\0';
    cf->password = cf->password_buf;

    return ACTL_OK;
}
