# Copyright (C) The ngx_http_apikey_module authors

"""Issue, revoke, rotate and delete keys for ngx_http_apikey_module from a
Python application, writing its Redis schema (docs/keys.md) exactly as
apikeyctl writes it."""

from .schema import (checksum, checksum_valid, digest, make_key, new_id,
                     read_secret)
from .issuer import Conflict, Issued, Issuer, UnknownId

__all__ = ["Issuer", "Issued", "UnknownId", "Conflict", "make_key",
           "new_id", "digest", "checksum", "checksum_valid", "read_secret"]
__version__ = "0.1.0"
