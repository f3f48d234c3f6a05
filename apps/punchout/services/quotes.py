"""Accepted quotes in a PunchOut cart: list the customer's, load one at its quoted prices, keep those prices.

A loaded quote line becomes a cart line with the quote line's quantity and
net price. The price is locked: the contract does not price the line again,
and the quantity can only be removed, not changed. The line's
SupplierPartAuxiliaryID is the quote line's reference, and an OCI return
sends the quote in NEW_ITEM-EXT_QUOTE_ID and NEW_ITEM-EXT_QUOTE_ITEM.
"""

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Max, QuerySet

from apps.contracts.selectors import today_utc, visible_products
from apps.punchout.errors import CartAlreadyReturned, QuoteNotLoadable
from apps.punchout.models import CartLine, PunchOutSession
from apps.punchout.services.cart import ensure_cart_changeable
from apps.punchout.services.lifecycle import ensure_session_usable
from apps.quotes.line_references import parse_quote_line_reference, quote_line_reference
from apps.quotes.models import Quote, QuoteLine, QuoteStatus

logger = logging.getLogger(__name__)


def loadable_quotes(*, session: PunchOutSession) -> QuerySet[Quote]:
    """Return the session customer's accepted quotes that are still valid, the soonest to expire first."""
    return Quote.objects.filter(
        customer_id=session.connection.customer_id,
        status=QuoteStatus.ACCEPTED,
        is_current_version=True,
        valid_until__gte=today_utc(),
    ).order_by("valid_until", "number")


def cart_load_quote(*, session: PunchOutSession, quote: Quote) -> list[CartLine]:
    """Add one cart line per line of an accepted quote, at the quoted quantity and net price; return the lines.

    Raises QuoteNotLoadable when the quote belongs to another customer, is
    not accepted (or already converted), has expired, is in another currency
    than the cart, is already in the cart, or has a product the session's
    catalog does not offer. Raises SessionReadOnly for inspect sessions and
    CartAlreadyReturned after the return. The cart is unchanged on error.
    """
    ensure_session_usable(session=session)
    ensure_cart_changeable(session=session)

    with transaction.atomic():
        # The session lock numbers the lines after any line added meanwhile, as cart_set_quantity does.
        locked = PunchOutSession.objects.select_for_update().filter(pk=session.pk).only("state").first()
        if locked is None or locked.state != PunchOutSession.State.OPEN:
            raise CartAlreadyReturned(
                "This cart was returned to your procurement system already; start a new session to change it."
            )
        quote = Quote.objects.select_related("customer").get(pk=quote.pk)
        _check_loadable(session, quote)
        quote_lines = list(quote.lines.select_related("product").order_by("position"))
        _check_products_offered(session, quote, quote_lines)

        next_number = (session.lines.aggregate(last=Max("line_number"))["last"] or 0) + 1
        lines = CartLine.objects.bulk_create(
            [
                CartLine(
                    session=session,
                    product=quote_line.product,
                    quantity=quote_line.quantity,
                    line_number=next_number + offset,
                    quote_line=quote_line,
                    quote_reference=quote_line_reference(quote.reference, quote_line.position),
                    quoted_unit_price=quote_line.net_price,
                    quoted_currency=quote.currency,
                )
                for offset, quote_line in enumerate(quote_lines)
            ]
        )
    logger.info(
        "Quote loaded into a PunchOut cart",
        extra={"session_id": session.pk, "quote_id": quote.pk, "lines": len(lines)},
    )
    return lines


def _check_loadable(session: PunchOutSession, quote: Quote) -> None:
    reference = quote.reference
    if quote.customer_id != session.connection.customer_id:
        # Said without the other customer's name, which this buyer must not learn.
        raise QuoteNotLoadable(f"Quote {reference} is not one of your quotes; choose one from the list of quotes.")
    if quote.status == QuoteStatus.CONVERTED:
        raise QuoteNotLoadable(f"Quote {reference} was already converted to an order; it cannot be ordered again.")
    if quote.status != QuoteStatus.ACCEPTED:
        raise QuoteNotLoadable(
            f"Quote {reference} is {quote.get_status_display()}; only an accepted quote can be loaded. "
            "Ask your sales contact to record your acceptance."
        )
    if quote.valid_until < today_utc():
        raise QuoteNotLoadable(
            f"Quote {reference} expired on {quote.valid_until.isoformat()}; ask your sales contact for a new version."
        )
    if quote.currency != session.contract.currency:
        raise QuoteNotLoadable(
            f"Quote {reference} is in {quote.currency}, but this catalog prices in {session.contract.currency}; "
            "ask your sales contact for a quote in that currency."
        )
    if session.lines.filter(quote_line__quote=quote).exists():
        raise QuoteNotLoadable(f"Quote {reference} is already in the cart; remove its lines to load it again.")


def _check_products_offered(session: PunchOutSession, quote: Quote, quote_lines: list) -> None:
    if not quote_lines:
        raise QuoteNotLoadable(f"Quote {quote.reference} has no lines to load.")
    offered = set(
        visible_products(customer=session.connection.customer, contract=session.contract)
        .filter(pk__in=[line.product_id for line in quote_lines])
        .values_list("pk", flat=True)
    )
    missing = [line.sku for line in quote_lines if line.product_id not in offered]
    if missing:
        raise QuoteNotLoadable(
            f"Quote {quote.reference} has products your catalog does not offer ({', '.join(missing)}); "
            "ask your sales contact to check the quote."
        )


def loadable_quote_lines(*, session: PunchOutSession, references: Iterable[str]) -> dict[str, QuoteLine]:
    """Return the quote lines that quote line references name, by reference, when their quote can be loaded now.

    An edit session uses it to keep the lines of a returned quote cart at
    their quoted prices. A reference whose quote is another customer's, not
    accepted, expired or in another currency is left out.
    """
    requested = {}
    for reference in references:
        parsed = parse_quote_line_reference(reference)
        if parsed is not None:
            requested[reference.strip()] = parsed
    if not requested:
        return {}
    quotes = {
        quote.reference: quote
        for quote in loadable_quotes(session=session).filter(
            number__in={reference.rpartition("-V")[0] for reference, _ in requested.values()},
            currency=session.contract.currency,
        )
    }
    lines = QuoteLine.objects.filter(quote__in=quotes.values()).select_related("quote", "product")
    by_position = {(line.quote.reference, line.position): line for line in lines}
    found = {}
    for reference, key in requested.items():
        if key in by_position:
            found[reference] = by_position[key]
    return found
