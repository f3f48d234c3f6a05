"""A JSON log formatter: one object per line with the time, level, logger, message, context ids and extra fields.

Values whose key names a credential (password, secret, token, Authorization…)
are replaced by a mask, and the message and string values pass through the
same masking as stored documents, so a SharedSecret that reaches a log call
is never written out.
"""

import datetime as dt
import json
import logging
from typing import Any

from apps.core.log_context import CONTEXT_FIELDS
from apps.core.redaction import MASK, is_secret_name, mask_data, mask_text

# Attributes every LogRecord has; anything else on a record came from ``extra`` or a filter.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime", "taskName"}
)
# Longest string value written for one field, so that a logged document cannot flood the log.
MAX_VALUE_LENGTH = 4000


class JSONFormatter(logging.Formatter):
    """Formats a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _clip(mask_text(record.getMessage())),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                entry[name] = _value(name, value)
        for name, value in record.__dict__.items():
            if name in _RECORD_ATTRIBUTES or name in entry or name.startswith("_"):
                continue
            entry[name] = _value(name, value)
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Formats a record as ``time level logger [request id] message`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = mask_text(super().format(record))
        request_id = getattr(record, "request_id", "")
        if not request_id:
            return line
        prefix, separator, rest = line.partition(f" {record.name} ")
        return f"{prefix}{separator}[{request_id}] {rest}" if separator else line


def _value(name: str, value: Any) -> Any:
    if is_secret_name(name):
        return MASK
    if isinstance(value, str):
        return _clip(mask_text(value))
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict | list | tuple):
        return mask_data(value)
    return _clip(mask_text(str(value)))


def _clip(text: str) -> str:
    if len(text) <= MAX_VALUE_LENGTH:
        return text
    return f"{text[:MAX_VALUE_LENGTH]}… ({len(text)} characters)"
