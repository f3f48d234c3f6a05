"""Keyed hashes of buyer credentials (cXML SharedSecret, OCI password).

A credential is stored as ``hmac-sha256$<hex digest>``: HMAC-SHA256 of the
value keyed with ``settings.CREDENTIAL_HASH_KEY``. Buyers' procurement systems
send the credential with every request, so the check has to be cheap (an HMAC
takes microseconds, PBKDF2 hundreds of milliseconds), and the key keeps a
leaked table of hashes from being checked offline without the key.
"""

import hashlib
import hmac

from django.conf import settings

ALGORITHM = "hmac-sha256"


def hash_secret(value: str) -> str:
    """Return the keyed hash of ``value``, tagged with its algorithm."""
    if not isinstance(value, str) or value == "":
        raise ValueError("A credential to hash must be a non-empty string.")
    key = settings.CREDENTIAL_HASH_KEY
    if not key:
        raise ValueError("CREDENTIAL_HASH_KEY is empty. Set it (or SECRET_KEY) before storing credentials.")
    digest = hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{ALGORITHM}${digest}"


def verify_secret(value: str, stored: str) -> bool:
    """Check ``value`` against a stored hash in constant time. An empty value or hash never matches."""
    if not stored or not value or not isinstance(value, str):
        return False
    algorithm, separator, _ = stored.partition("$")
    if algorithm != ALGORITHM or not separator:
        return False
    return hmac.compare_digest(hash_secret(value).encode("ascii"), stored.encode("ascii", errors="replace"))
