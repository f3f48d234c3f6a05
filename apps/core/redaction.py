"""Masking of secrets in documents, form fields, headers and log data before anything stores or prints them.

cXML carries the SharedSecret (and a CredentialMac) in clear inside the
Header, OCI sends PASSWORD as a form field or query parameter, and partners
send API keys in the Authorization header. Everything that keeps a document
or writes a log line passes it through these functions first. They work on
text with regular expressions and never parse XML, so a malformed document
is masked as well as a valid one.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "********"

# Header names whose values are credentials, compared lower-case.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-signature"})
# Parts of form field, JSON key and log field names that mark a value as secret, compared lower-case.
_SECRET_NAME_PARTS = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "signature")
# Keys that contain one of those parts but hold no secret.
_NOT_SECRET_NAMES = frozenset({"token_hash", "start_token_hash", "csrfmiddlewaretoken_present"})

# <SharedSecret>…</SharedSecret> and <CredentialMac …>…</CredentialMac>, with attributes, CDATA or child
# elements inside, across lines. The element's own tags stay so that the document still shows the shape.
_XML_SECRET = re.compile(
    r"(<(?P<tag>(?:[\w.-]+:)?(?:SharedSecret|CredentialMac))\b[^>]*(?<!/)>)(?P<value>.*?)(</(?P=tag)\s*>)",
    re.DOTALL,
)
# PASSWORD=… in a query string or form body (URL-encoded), any letter case.
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&;])[^=&;\s]*(?:password|passwd|secret|api_?key|token)[^=&;\s]*=)[^&;\s#]*")
# "Bearer abc", "Token abc" and "Basic abc" where a header value ended up inside free text.
_AUTH_SCHEME = re.compile(r"(?i)\b(Bearer|Token|Basic|Api-Key)\s+[A-Za-z0-9._~+/=-]{6,}")


def is_secret_name(name: str) -> bool:
    """Return whether a field, key or header called ``name`` holds a credential."""
    lowered = str(name).lower()
    if lowered in _NOT_SECRET_NAMES:
        return False
    if lowered in SECRET_HEADERS:
        return True
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def mask_text(text: str) -> str:
    """Mask the secrets in a document or message: cXML SharedSecret, CredentialMac, URL-encoded passwords, auth."""
    if not text:
        return text
    if "Secret" in text or "CredentialMac" in text:
        text = _XML_SECRET.sub(lambda match: f"{match.group(1)}{MASK}{match.group(4)}", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda match: f"{match.group(1)}{MASK}", text)
    if " " in text:
        text = _AUTH_SCHEME.sub(lambda match: f"{match.group(1)} {MASK}", text)
    return text


def mask_fields(fields: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Return form fields or headers as (name, value) pairs with every secret value masked."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    masked = []
    for name, value in pairs:
        if is_secret_name(name):
            masked.append((name, MASK))
        elif isinstance(value, str):
            masked.append((name, mask_text(value)))
        else:
            masked.append((name, value))
    return masked


def mask_data(value: Any, *, depth: int = 0) -> Any:
    """Return JSON-like data with the values of secret keys masked and secrets inside strings masked.

    Nesting deeper than 20 levels is replaced by the mask, which bounds the work on hostile input.
    """
    if depth > 20:
        return MASK
    if isinstance(value, Mapping):
        return {key: MASK if is_secret_name(key) else mask_data(item, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item, depth=depth + 1) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value
