"""Flag open quotes whose locked prices a contract change has made out of date.

The contracts app calls ``quotes_flag_out_of_date_prices`` through its contract listeners (registered
in ``QuotesConfig.ready``) inside the transaction that changed the contracts. A quote keeps its
locked prices; the flag tells sales to refresh them, and ``quote_refresh_prices`` clears it.
"""

import logging

from django.db.models import Q
from django.utils import timezone

from apps.contracts.models import Contract
from apps.quotes.models import Quote, QuoteStatus
from apps.quotes.selectors import stale_prices
from apps.quotes.services.common import save_quote

logger = logging.getLogger(__name__)

# Quotes whose prices may still be changed or offered: everything before the customer's answer.
OPEN_STATES = (QuoteStatus.DRAFT, QuoteStatus.PENDING_APPROVAL, QuoteStatus.APPROVED, QuoteStatus.SENT)


def quotes_flag_out_of_date_prices(*, contract_ids, reason: str, actor=None) -> list[Quote]:
    """Set or clear the out-of-date flag of the open quotes of the changed contracts' customers.

    A quote is flagged when a line's locked list price, contract price or adders differ from today's
    (``selectors.stale_prices``), and cleared when they match again. The quotes are locked in id
    order. Returns the quotes whose flag changed.
    """
    customer_ids = Contract.objects.filter(pk__in=contract_ids).values("customer_id")
    quotes = (
        Quote.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(is_current_version=True, status__in=OPEN_STATES)
        .filter(Q(contract_id__in=contract_ids) | Q(customer_id__in=customer_ids))
        .order_by("pk")
    )
    now = timezone.now()
    changed = []
    for quote in quotes:
        out_of_date = bool(stale_prices(quote))
        if out_of_date == (quote.prices_out_of_date_since is not None):
            continue
        quote.prices_out_of_date_since = now if out_of_date else None
        note = "Prices out of date" if out_of_date else "Prices match the contract again"
        save_quote(quote, actor=actor, reason=f"{note} ({reason})", fields=("prices_out_of_date_since",))
        changed.append(quote)
    if changed:
        logger.info(
            "Quote prices flagged after a contract change",
            extra={"quote_ids": [quote.pk for quote in changed], "contract_ids": sorted(contract_ids)},
        )
    return changed
