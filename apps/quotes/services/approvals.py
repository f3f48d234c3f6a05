"""Approval services: which approvals a quote needs, and which approvals an edit keeps or requests again."""

from apps.quotes.models import Quote, QuoteStatus


def approvals_after_change(*, quote: Quote, actor) -> None:
    """Check an approved quote's approvals against its changed figures.

    Only approved quotes hold approvals that an edit can invalidate; a draft
    is checked when it is submitted.
    """
    if quote.status != QuoteStatus.APPROVED:
        return
