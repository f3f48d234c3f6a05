"""Turn an accepted quote into an order through order intake, channel ``quote``, at the quoted prices.

Intake receives each quote line as an order line whose buyer's price is
the line's net price. Order validation keeps that price for quote orders (the
approvals covered it), so the order holds only for stock, credit or
product problems. The document id is the quote's reference, which makes a
second conversion of the same version return the first order.
"""

from apps.orders.inputs import LineInput, OrderInput
from apps.orders.intake import order_intake
from apps.orders.models import Channel, DocumentOperation, Order
from apps.quotes.errors import QuoteConversionFailed
from apps.quotes.models import Quote

# The intake source of every quote document; the document id (the quote reference) differs per quote.
QUOTE_SOURCE = "quotes"


def take_in_order(quote: Quote) -> Order:
    """Send the quote to order intake and return the order, or raise QuoteConversionFailed with intake's reason."""
    lines = tuple(
        LineInput(
            line_number=str(line.position),
            sku=line.sku,
            quantity=str(line.quantity),
            unit_price=str(line.net_price),
            currency=quote.currency,
            description=line.description,
            supplier_part_auxiliary_id=f"{quote.reference}/{line.position}",
            extrinsics={"quote": quote.reference, "configuration": line.configuration} if line.configuration else {},
        )
        for line in quote.lines.order_by("position")
    )
    request = OrderInput(
        channel=Channel.QUOTE,
        source=QUOTE_SOURCE,
        customer=quote.customer,
        contract=quote.contract,
        document_id=quote.reference,
        operation=DocumentOperation.NEW,
        po_number=quote.customer_po_number or quote.reference,
        lines=lines,
        currency=quote.currency,
        comments=f"From quote {quote.reference}",
        extrinsics={"quote": quote.reference},
    )
    # Intake runs as the system: the quote's approvals are the authority for this order, and the sales
    # person who records the acceptance need not hold the order permissions (allocate) that intake uses.
    result = order_intake(request=request, actor=None)
    if not result.ok or result.order is None:
        raise QuoteConversionFailed(f"Order intake did not take quote {quote.reference} in: {result.message}")
    return result.order
