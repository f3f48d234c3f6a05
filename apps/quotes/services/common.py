"""Steps every quote service shares: lock the quote row, save it with the actor and reason, write an event."""

import logging
from importlib import import_module

from django.conf import settings
from django_fsm import ConcurrentTransition

from apps.quotes.errors import QuoteNotFound, QuoteStateConflict
from apps.quotes.models import Quote, QuoteEvent

logger = logging.getLogger(__name__)


def lock_quote(quote: Quote | int) -> Quote:
    """Return the quote re-read with a row lock; the caller is inside a transaction."""
    quote_id = quote.pk if isinstance(quote, Quote) else quote
    locked = Quote.objects.select_for_update(of=("self",)).select_related("customer").filter(pk=quote_id).first()
    if locked is None:
        raise QuoteNotFound(f"Quote id {quote_id} does not exist.")
    return locked


def save_quote(quote: Quote, *, actor, reason: str, fields: tuple[str, ...] | None = None) -> Quote:
    """Save the quote with the acting user and the reason on its history row."""
    quote._history_user = actor
    quote._change_reason = reason[:100]
    try:
        quote.save(update_fields=[*fields, "updated_at"] if fields else None)
    except ConcurrentTransition:
        raise QuoteStateConflict(
            f"Quote {quote.reference} was changed by someone else meanwhile; reload it and try again."
        ) from None
    return quote


def record_event(quote: Quote, event: str, *, actor=None, payload: dict | None = None) -> QuoteEvent:
    """Write a business event of the quote in the current transaction, and tell the QUOTE_EVENT_LISTENERS."""
    row = QuoteEvent.objects.create(
        quote=quote,
        event=event,
        actor=actor if actor is not None and actor.is_authenticated else None,
        payload={"reference": quote.reference, "status": quote.status, **(payload or {})},
    )
    logger.info("Quote event recorded", extra={"quote_id": quote.pk, "event": event})
    # The modules in QUOTE_EVENT_LISTENERS (the partner API's webhooks) write their own rows in this transaction.
    for path in getattr(settings, "QUOTE_EVENT_LISTENERS", ()) or ():
        import_module(path).on_quote_event(row)
    return row
