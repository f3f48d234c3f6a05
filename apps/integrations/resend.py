"""Sending an outbound document of the log again, through the app that owns its channel.

The log cannot import the apps that send documents (they import it), so each
of them registers a resender for its channel in its ``AppConfig.ready``. A
resender takes the log row, checks it, schedules the send of the same
document (same payloadID) and returns a sentence for staff.
"""

from collections.abc import Callable

from apps.core.errors import DomainError
from apps.integrations.models import Direction, DocumentLog

_RESENDERS: dict[str, Callable[[DocumentLog], str]] = {}


class DocumentNotResent(DomainError):
    """A logged document that cannot be sent again: inbound, or of a channel without a resender."""

    code = "document_not_resent"


def register_resender(channel: str, resender: Callable[[DocumentLog], str]) -> None:
    """Make ``resender`` send the documents of ``channel`` again; a later registration replaces an earlier one."""
    _RESENDERS[channel] = resender


def can_resend(row: DocumentLog) -> bool:
    """Whether ``row`` is an outbound document of a channel with a resender."""
    return row.direction == Direction.OUTBOUND and row.channel in _RESENDERS


def document_resend(*, row: DocumentLog) -> str:
    """Schedule the send of ``row``'s document again and return what was done, for staff.

    Raises DocumentNotResent for an inbound row or a channel without a
    resender, and passes on the resender's own domain errors.
    """
    if row.direction != Direction.OUTBOUND:
        raise DocumentNotResent(f"Document log row {row.pk} is inbound; only outbound documents can be sent again.")
    resender = _RESENDERS.get(row.channel)
    if resender is None:
        raise DocumentNotResent(
            f"Documents of channel {row.get_channel_display()!r} cannot be sent again from the log (row {row.pk})."
        )
    return resender(row)
