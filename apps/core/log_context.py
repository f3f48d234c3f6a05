"""The request id and the integration ids (connection, partner, order, payloadID) of the work in progress.

A web request or a Celery task starts a context with ``start``; code that
learns an id on the way adds it with ``bind``. ``ContextFilter`` copies the
context onto every log record, so each line a request or task writes carries
the same ids without passing them to each call. The values live in a
``ContextVar``, so threads and tasks never see each other's ids.
"""

import contextvars
import logging
import re
import uuid
from collections.abc import Mapping
from types import MappingProxyType

# Longest request id accepted from a client or a task header; longer ones are replaced by a new id.
MAX_REQUEST_ID_LENGTH = 64
# Letters, digits and the separators that UUIDs, ULIDs and tracing ids use; nothing that could break a log line.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
# The ids ``bind`` accepts, in the order they are written to a JSON log line.
CONTEXT_FIELDS = ("request_id", "connection_id", "partner_id", "order_number", "payload_id", "task_id")

_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)


def new_request_id() -> str:
    """Return a fresh request id: a random UUID as 32 hex digits."""
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str | None:
    """Return ``value`` when it is a usable request id (1 to 64 safe characters), else None."""
    if not value or len(value) > MAX_REQUEST_ID_LENGTH:
        return None
    return value if _REQUEST_ID.fullmatch(value) else None


def start(request_id: str, **fields: object) -> contextvars.Token:
    """Begin a new context with ``request_id`` and ``fields``; pass the token to ``end`` to restore the old one."""
    values = {"request_id": request_id}
    values.update({name: value for name, value in fields.items() if name in CONTEXT_FIELDS and value})
    return _context.set(values)


def end(token: contextvars.Token) -> None:
    """Restore the context that was current before the ``start`` that returned ``token``."""
    _context.reset(token)


def bind(**fields: object) -> None:
    """Add ids to the current context; unknown names and empty values are ignored."""
    current = _context.get()
    added = {name: value for name, value in fields.items() if name in CONTEXT_FIELDS and value not in (None, "")}
    if added:
        _context.set({**current, **added})


def current() -> Mapping[str, object]:
    """Return the ids of the current context."""
    return _context.get()


def current_request_id() -> str:
    """Return the current request id, or an empty string outside a request or task."""
    return str(_context.get().get("request_id") or "")


class ContextFilter(logging.Filter):
    """Copies the current context's ids onto each record, leaving ids that the call's ``extra`` set alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
