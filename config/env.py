"""Small parsers that read settings from the environment and reject bad values."""

import json
import os
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1 or 0.")


def env_int(name: str, default: int, *, minimum: int = 1) -> int:
    """Read a whole number of at least ``minimum``; sizes, counts and timeouts are positive unless a caller says 0."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} is below {minimum}; set a whole number of {minimum} or more.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str | None = None) -> str | None:
    """Read an absolute http(s) URL without a query or fragment, trailing slash removed."""
    raw = env_str(name, default)
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not an absolute http(s) URL; "
            "set it to the address buyers' systems reach, such as https://b2b.example.com."
        )
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name}={raw!r} must not have a query or fragment.")
    return raw.rstrip("/")


def env_decimal(name: str, default: str) -> Decimal:
    raw = env_str(name, default)
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a decimal number; write it like 0.30.") from None
    if not value.is_finite():
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number.")
    return value


def env_json(name: str, default: dict):
    """Read a JSON object, such as {"EU-WEST": ["RTM"]}."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {error.msg} at character {error.pos}.") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f'{name} must be a JSON object, such as {{"key": "value"}}.')
    return value
