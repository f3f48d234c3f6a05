"""The one check for NUL characters, which PostgreSQL text and jsonb columns cannot store.

A NUL that reaches a query raises DataError, which would be a 500. The
request middleware checks URL paths, query strings and form fields, the
partner API's JSON parser checks every string and key of a body, and
forms that decode JSON themselves check the decoded value.
"""

from collections.abc import Iterable
from typing import Any

NUL = "\x00"


def nul_message(subject: str) -> str:
    """Return the error text for ``subject`` ("The field 'sku'") containing a NUL character."""
    return f"{subject} contains a NUL character (%00 or \\u0000), which cannot be stored; remove it and retry."


def printable_name(name: str, *, limit: int = 60) -> str:
    """Return a parameter or field name without its NUL characters, cut to ``limit`` characters, for messages."""
    return name.replace(NUL, "")[:limit]


def nul_in_pairs(pairs: Iterable[tuple[str, Iterable[str]]]) -> str | None:
    """Return the printable name of the first parameter whose name or one of whose values contains NUL."""
    for name, values in pairs:
        if NUL in name or any(NUL in value for value in values):
            return printable_name(name)
    return None


def nul_path(value: Any, path: str = "") -> str | None:
    """Return the dotted path (``lines.0.sku``) of the first string or key in JSON data that contains NUL.

    An empty path means the whole value is such a string; None means no string contains NUL.
    """
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            item_path = f"{path}.{printable_name(key_text)}" if path else printable_name(key_text)
            if NUL in key_text:
                return item_path
            found = nul_path(item, item_path)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None
