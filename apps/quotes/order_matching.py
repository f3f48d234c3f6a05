"""Match the lines of a buyer's purchase order to the accepted quote they were loaded from, and convert it.

A line refers to a quote line by ``QUOTE:<reference>:<position>`` in its
SupplierPartAuxiliaryID (cXML carts), or by the extrinsics ``EXT_QUOTE_ID``
and ``EXT_QUOTE_ITEM`` (OCI carts, whose purchase orders arrive later by
cXML or the API). Order validation gives such a line the quoted net price,
and order intake then has the quote marked converted to the order.
"""

import logging

from django.db import connection, transaction

from apps.orders.models import Channel
from apps.orders.quoted import QuotedPrice
from apps.quotes.errors import QuoteError, QuoteNotFound
from apps.quotes.line_references import parse_quote_line_reference
from apps.quotes.models import Quote, QuoteStatus
from apps.quotes.selectors import quote_by_reference
from apps.quotes.services import quote_convert_to_order

logger = logging.getLogger(__name__)

# Extrinsic names an OCI-originated order carries the quote in, compared without regard to case.
QUOTE_ID_EXTRINSIC = "ext_quote_id"
QUOTE_ITEM_EXTRINSIC = "ext_quote_item"


def line_quote_reference(line) -> tuple[str, int] | None:
    """Return (quote reference or number, line position) that an order line refers to, or None."""
    parsed = parse_quote_line_reference(line.supplier_part_auxiliary_id)
    if parsed is not None:
        return parsed
    extrinsics = {str(name).strip().casefold(): str(value).strip() for name, value in (line.extrinsics or {}).items()}
    quote_id = extrinsics.get(QUOTE_ID_EXTRINSIC, "")
    item = extrinsics.get(QUOTE_ITEM_EXTRINSIC, "")
    if quote_id and item.isdigit() and len(item) <= 9:
        return quote_id, int(item)
    return None


class QuoteMatcher:
    """The quotes app's matcher, registered with order intake in ``QuotesConfig.ready``."""

    def quoted_prices(self, *, order, lines: list) -> dict[int, QuotedPrice]:
        """Return the quoted price, or the problem with it, of each line that refers to a quote line."""
        prices = {}
        for line, quote, position in self._matches(order, lines):
            prices[line.position] = _quoted_price(order, line, quote, position)
        return prices

    def order_taken_in(self, *, order, lines: list) -> None:
        """Convert each accepted quote whose price a line of the saved order took; test orders convert nothing."""
        if order.is_test or order.channel == Channel.QUOTE:
            return
        quotes = {}
        for line, quote, position in self._matches(order, lines):
            if isinstance(quote, Quote) and not _quoted_price(order, line, quote, position).problem:
                quotes[quote.pk] = quote
        for quote in quotes.values():
            try:
                with transaction.atomic():
                    quote_convert_to_order(quote=quote, order=order)
            except QuoteError as error:
                logger.warning(
                    "Quote not converted by a purchase order",
                    extra={"quote_id": quote.pk, "order_id": order.pk, "code": error.code, "error": error.message},
                )

    def _matches(self, order, lines: list):
        """Yield (line, quote or the QuoteNotFound message, position) for each line that refers to a quote line."""
        references = []
        for line in lines:
            found = line_quote_reference(line)
            if found is not None:
                references.append((line, found))
        if not references:
            return
        # The quote rows stay locked until intake commits, so two orders cannot both take one quote.
        quotes = Quote.objects.filter(customer=order.customer)
        if connection.in_atomic_block:
            quotes = quotes.select_for_update(of=("self",))
        loaded: dict[str, Quote | str] = {}
        for line, (reference, position) in references:
            if reference not in loaded:
                try:
                    loaded[reference] = quote_by_reference(reference, queryset=quotes)
                except QuoteNotFound:
                    loaded[reference] = f"quote {reference} is not a quote of {order.customer.account_number}"
            yield line, loaded[reference], position


def _quoted_price(order, line, quote: Quote | str, position: int) -> QuotedPrice:
    if not isinstance(quote, Quote):
        return QuotedPrice(reference="", position=position, unit_price=None, currency="", problem=quote)
    reference = quote.reference

    def problem(text: str) -> QuotedPrice:
        return QuotedPrice(reference=reference, position=position, unit_price=None, currency="", problem=text)

    if quote.status == QuoteStatus.CONVERTED and (order.pk is None or quote.order_id != order.pk):
        return problem(f"quote {reference} was converted to an order already")
    if quote.status not in (QuoteStatus.ACCEPTED, QuoteStatus.CONVERTED):
        return problem(f"quote {reference} is {quote.get_status_display()}, not accepted")
    quote_line = next((item for item in _lines_of(quote) if item.position == position), None)
    if quote_line is None:
        return problem(f"quote {reference} has no line {position}")
    if quote_line.sku != line.sku:
        return problem(f"line {position} of quote {reference} is {quote_line.sku}, not {line.sku}")
    # The approvals covered the price for the quoted quantity; fewer units are a partial order.
    if line.quantity > quote_line.quantity:
        return problem(
            f"quantity {line.quantity.normalize():f} is above the {quote_line.quantity.normalize():f} "
            f"of quote {reference} line {position}"
        )
    return QuotedPrice(reference=reference, position=position, unit_price=quote_line.net_price, currency=quote.currency)


def _lines_of(quote: Quote) -> list:
    cached = getattr(quote, "_matching_lines", None)
    if cached is None:
        cached = quote._matching_lines = list(quote.lines.all())
    return cached
