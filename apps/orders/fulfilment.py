"""Shipments, invoices and payments that the ERP reports, each idempotent on the ERP's own id.

An invoice may bill lines of several orders of one customer. Its lines
reference order lines, so each line's invoiced quantity stays right, and each
order becomes invoiced once it has shipped and every shipped quantity is
invoiced. A payment has its own row, unique per ``payment_id``, and the
invoice's paid amount is the sum of its payments, so a repeated report adds
nothing. An order becomes paid once all of its invoices are paid.

Locks are taken orders first (in primary-key order), then the invoice, so
that concurrent invoices and payments for the same orders cannot deadlock.
"""

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.catalog.imports.fields import too_far_ahead
from apps.catalog.models import StockLevel
from apps.core.admin import FINANCE_GROUP
from apps.core.history import save_with_history
from apps.core.money import round_money
from apps.exceptions.models import CaseKind
from apps.exceptions.services import case_open
from apps.orders import outbox
from apps.orders.errors import InvalidFulfilmentInput, OrderStateConflict, PaymentConflict, UnknownInvoice
from apps.orders.inputs import InvalidNumber, parse_money, parse_quantity
from apps.orders.models import (
    INVOICEABLE_STATES,
    Invoice,
    InvoiceLine,
    LineAllocation,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    Shipment,
    ShipmentLine,
)
from apps.orders.transitions import apply_transition, check_transition, lock_order
from apps.tax.services import TaxableLine, compute_tax, order_ship_to

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)


def shipment_record(
    *,
    order: Order,
    shipment_id: str,
    lines: Sequence[tuple[str, object]],
    carrier: str = "",
    carrier_scac: str = "",
    tracking_number: str = "",
    shipped_at: dt.datetime | None = None,
    expected_delivery_at: dt.datetime | None = None,
    actor=None,
) -> Shipment:
    """Record a shipment of (line number, quantity) pairs; the same ``shipment_id`` again changes nothing.

    Stock leaves the warehouses the lines were allocated from. The order
    becomes partially shipped or shipped, and the buyer gets a ship notice.
    """
    shipment_id = (shipment_id or "").strip()
    if not shipment_id or len(shipment_id) > 64:
        raise InvalidFulfilmentInput("A shipment needs the sender's shipment_id of 1 to 64 characters.")
    _reject_future(shipped_at, f"Shipment {shipment_id}", "shipped_at")
    with transaction.atomic():
        order = lock_order(order)
        existing = Shipment.objects.filter(order=order, shipment_id=shipment_id).first()
        if existing is not None:
            logger.info("Shipment seen before", extra={"order_id": order.pk, "shipment_id": shipment_id})
            return existing
        if order.status not in (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED):
            raise OrderStateConflict(
                f"Order {order.number} is {order.get_status_display()}; only allocated orders can ship."
            )
        quantities = _line_quantities(order, lines, kind="shipment")
        for line, quantity in quantities:
            if line.quantity_shipped + quantity > line.quantity:
                raise InvalidFulfilmentInput(
                    f"Shipment {shipment_id} reports {quantity} of line {line.line_number} of order {order.number}, "
                    f"but the line ordered {line.quantity} and {line.quantity_shipped} shipped before; "
                    "a shipment cannot exceed the ordered quantity.",
                    code="over_shipment",
                )
            if line.quantity_shipped + quantity > line.quantity_allocated:
                raise InvalidFulfilmentInput(
                    f"Line {line.line_number} of order {order.number} has "
                    f"{line.quantity_allocated - line.quantity_shipped} allocated and not shipped; "
                    f"the shipment reports {quantity}.",
                    code="shipment_not_allocated",
                )

        shipment = Shipment(
            order=order,
            shipment_id=shipment_id,
            carrier=carrier[:100],
            carrier_scac=carrier_scac[:4],
            tracking_number=tracking_number[:100],
            shipped_at=shipped_at or timezone.now(),
            expected_delivery_at=expected_delivery_at,
        )
        save_with_history(shipment, actor=actor, reason=f"Shipment {shipment_id}")
        for line, quantity in quantities:
            ShipmentLine.objects.create(shipment=shipment, order_line=line, quantity=quantity)
            _take_stock(line, quantity, actor)
            line.quantity_shipped += quantity
            save_with_history(
                line, actor=actor, reason=f"Shipment {shipment_id}", update_fields=["quantity_shipped", "updated_at"]
            )

        complete = not order.lines.filter(status=LineStatus.OPEN, quantity_shipped__lt=F("quantity")).exists()
        name = "ship" if complete else "ship_partially"
        check_transition(order, name, actor)
        apply_transition(order, name, actor=actor, reason=f"Shipment {shipment_id}")

        outbox.record_event(
            order=order,
            event="order.shipped",
            payload={"shipment_id": shipment.pk, "complete": complete},
        )
        return shipment


def invoice_record(
    *,
    number: str,
    lines: Sequence[tuple],
    tax: object,
    due_date: dt.date,
    order: Order | None = None,
    total: object = None,
    invoice_date: dt.datetime | None = None,
    actor=None,
) -> Invoice:
    """Record the ERP's invoice for shipped lines of one or more orders of one customer.

    Each line is ``(line number, quantity)`` of ``order``, or ``(order number,
    line number, quantity)`` of any order of the same customer. Line amounts
    use the order line's agreed unit price. ``tax`` None or "" means the
    ERP sent none, and the invoice gets our tax of the billed amounts
    (``apps.tax.services``, at each order's ship-to on the invoice date).
    ``total``, when given, must equal the lines plus the tax. The same invoice number again returns the first
    invoice and changes nothing. Each order whose shipped quantities are all
    invoiced becomes invoiced, and the buyer gets one InvoiceDetailRequest
    per channel source, listing the orders of that source.
    """
    number = (number or "").strip()
    if not number or len(number) > 64:
        raise InvalidFulfilmentInput("An invoice needs the ERP's invoice number of 1 to 64 characters.")
    if not lines:
        raise InvalidFulfilmentInput(f"Invoice {number} has no lines; send at least one.")
    _reject_future(invoice_date, f"Invoice {number}", "invoice_date")
    with transaction.atomic():
        existing = Invoice.objects.filter(number=number).first()
        if existing is not None:
            return _replayed_invoice(existing, order)

        orders = _lock_invoiced_orders(number, order, lines)
        first = next(iter(orders.values()))
        try:
            tax_amount = parse_money(tax, first.currency) if tax not in (None, "") else None
            total_amount = parse_money(total, first.currency) if total not in (None, "") else None
        except InvalidNumber as error:
            raise InvalidFulfilmentInput(f"Invoice {number}: the tax or total {error}.") from None

        billed = _invoice_quantities(number, orders, lines, default_order=order)
        subtotal = sum((amount for _, _, amount in billed), _ZERO)
        invoice_date = invoice_date or timezone.now()
        if tax_amount is None:
            tax_amount = _our_invoice_tax(orders, billed, first.currency, timezone.localdate(invoice_date))
        if total_amount is not None and total_amount != subtotal + tax_amount:
            raise InvalidFulfilmentInput(
                f"Invoice {number} states a total of {total_amount} {first.currency}, but its lines come to "
                f"{subtotal} at the orders' prices plus {tax_amount} tax, which is {subtotal + tax_amount}; "
                "check the invoiced quantities and prices.",
                code="invoice_total_mismatch",
            )

        invoice = _create_invoice(
            number=number,
            customer_id=first.customer_id,
            invoice_date=invoice_date,
            currency=first.currency,
            subtotal=subtotal,
            tax=tax_amount,
            due_date=due_date,
            actor=actor,
        )
        invoice.orders.set(orders.values())
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice, order_line=line, quantity=quantity, unit_price=line.unit_price or _ZERO, amount=amount
            )
            for line, quantity, amount in billed
        )
        for line, quantity, _ in billed:
            line.quantity_invoiced += quantity
            save_with_history(
                line, actor=actor, reason=f"Invoice {number}", update_fields=["quantity_invoiced", "updated_at"]
            )

        for billed_order in orders.values():
            _invoice_if_complete(billed_order, number, actor)
        _record_invoice_events(invoice, orders.values())
        logger.info("Invoice recorded", extra={"invoice": number, "orders": [o.number for o in orders.values()]})
        return invoice


def payment_record(
    *,
    invoice: Invoice | str,
    payment_id: str,
    amount: object,
    paid_on: dt.date | None = None,
    actor=None,
) -> Payment:
    """Record the ERP's payment of an invoice (an ``Invoice`` or its number); return the payment.

    The same ``payment_id`` with the same invoice and amount returns the
    first payment and counts nothing again; with another invoice or amount
    it raises ``PaymentConflict``. The invoice's paid amount becomes the sum
    of its payments, and each of its orders that is invoiced and has all
    invoices paid becomes paid, telling the buyer.
    """
    payment_id = (payment_id or "").strip()
    if not payment_id or len(payment_id) > 64:
        raise InvalidFulfilmentInput("A payment needs the ERP's payment_id of 1 to 64 characters.")
    _reject_future(paid_on, f"Payment {payment_id}", "paid_on")
    number = invoice.number if isinstance(invoice, Invoice) else str(invoice or "").strip()
    with transaction.atomic():
        found = Invoice.objects.filter(number=number).first()
        if found is None:
            raise UnknownInvoice(f"No invoice has the number {number!r}; record the invoice before its payments.")
        try:
            value = parse_money(amount, found.currency)
        except InvalidNumber as error:
            raise InvalidFulfilmentInput(f"Payment {payment_id}: the amount {error}.") from None
        if value <= 0:
            raise InvalidFulfilmentInput(f"Payment {payment_id}: the amount {value} is not greater than zero.")

        # Orders first, then the invoice: the lock order of invoice_record.
        order_ids = list(found.orders.values_list("pk", flat=True))
        orders = list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
        found = Invoice.objects.select_for_update().get(pk=found.pk)
        existing = Payment.objects.filter(payment_id=payment_id).select_related("invoice").first()
        if existing is not None:
            return _replayed_payment(existing, found, value)

        try:
            with transaction.atomic():
                payment = Payment(
                    payment_id=payment_id,
                    invoice=found,
                    amount=value,
                    currency=found.currency,
                    paid_on=paid_on or timezone.localdate(),
                )
                save_with_history(payment, actor=actor, reason=f"Payment {payment_id}")
        except IntegrityError:
            # The same payment id was committed by a concurrent report for another invoice.
            existing = Payment.objects.select_related("invoice").get(payment_id=payment_id)
            return _replayed_payment(existing, found, value)

        _update_paid_amount(found, payment_id, actor)
        if found.paid_amount > found.total:
            _open_overpayment_case(found, payment, actor)
        for order in orders:
            _mark_paid_if_settled(order, payment_id, actor)
        logger.info("Payment recorded", extra={"payment_id": payment_id, "invoice": found.number})
        return payment


def _replayed_invoice(existing: Invoice, order: Order | None) -> Invoice:
    if order is not None and not existing.orders.filter(pk=order.pk).exists():
        raise InvalidFulfilmentInput(
            f"Invoice {existing.number} was recorded for other orders; an invoice number names one invoice, "
            "so send a new number for this order."
        )
    logger.info("Invoice seen before", extra={"invoice": existing.number})
    return existing


def _replayed_payment(existing: Payment, invoice: Invoice, value: Decimal) -> Payment:
    if existing.invoice_id != invoice.pk or existing.amount != value:
        raise PaymentConflict(
            f"Payment {existing.payment_id} was recorded as {existing.amount} {existing.currency} for invoice "
            f"{existing.invoice.number}; a payment id names one payment, so send a new id for another payment."
        )
    logger.info("Payment seen before", extra={"payment_id": existing.payment_id})
    return existing


def _our_invoice_tax(orders: dict[str, Order], billed: list[tuple], currency: str, on_date: dt.date) -> Decimal:
    """Return the tax of the billed amounts, each order taxed at its own ship-to."""
    by_order: dict[int, list[TaxableLine]] = {}
    for line, _quantity, amount in billed:
        tax_class_id = line.product.tax_class_id if line.product_id is not None else None
        by_order.setdefault(line.order_id, []).append(
            TaxableLine(key=line.pk, tax_class_id=tax_class_id, amount=amount)
        )
    total = _ZERO
    for billed_order in orders.values():
        if billed_order.pk in by_order:
            total += compute_tax(
                customer=billed_order.customer,
                ship_to=order_ship_to(billed_order),
                lines=by_order[billed_order.pk],
                currency=currency,
                on_date=on_date,
            ).total
    return total


def _lock_invoiced_orders(number: str, order: Order | None, lines: Sequence[tuple]) -> dict[str, Order]:
    """Lock the orders the invoice names, in primary-key order; return them by order number."""
    numbers = {order.number} if order is not None else set()
    for line in lines:
        if len(line) == 3:
            numbers.add(str(line[0]).strip())
        elif len(line) != 2 or order is None:
            raise InvalidFulfilmentInput(
                f"Invoice {number}: each line is (order number, line number, quantity), or (line number, "
                f"quantity) when the invoice is recorded for one order; got {line!r}."
            )
    locked = list(
        Order.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(number__in=numbers)
        .order_by("pk")
    )
    orders = {locked_order.number: locked_order for locked_order in locked}
    missing = sorted(numbers - orders.keys())
    if missing:
        raise InvalidFulfilmentInput(f"Invoice {number} names unknown orders {', '.join(missing)}.")

    first = orders[order.number] if order is not None else locked[0]
    for other in locked:
        if other.customer_id != first.customer_id:
            raise InvalidFulfilmentInput(
                f"Invoice {number} bills order {other.number} of customer {other.customer.account_number} and "
                f"order {first.number} of {first.customer.account_number}; an invoice bills one customer."
            )
        if other.currency != first.currency:
            raise InvalidFulfilmentInput(
                f"Invoice {number} bills order {other.number} in {other.currency} and order {first.number} in "
                f"{first.currency}; an invoice has one currency."
            )
        if other.status not in INVOICEABLE_STATES:
            raise OrderStateConflict(
                f"Order {other.number} is {other.get_status_display()}; invoice its lines once they have shipped."
            )
    return orders


def _invoice_quantities(
    number: str, orders: dict[str, Order], lines: Sequence[tuple], *, default_order: Order | None
) -> list[tuple[OrderLine, Decimal, Decimal]]:
    """Return (order line, quantity, amount) for each invoice line, checked against the shipped quantities."""
    open_lines = {
        (line.order_id, line.line_number): line
        for line in OrderLine.objects.filter(order__in=orders.values(), status=LineStatus.OPEN).select_related(
            "product"
        )
    }
    billed = []
    seen = set()
    for line in lines:
        order_number, line_number, raw_quantity = line if len(line) == 3 else (default_order.number, *line)
        billed_order = orders[str(order_number).strip()]
        order_line = open_lines.get((billed_order.pk, str(line_number).strip()))
        if order_line is None:
            raise InvalidFulfilmentInput(
                f"Order {billed_order.number} has no open line {line_number!r}; use the buyer's line numbers."
            )
        if order_line.pk in seen:
            raise InvalidFulfilmentInput(
                f"Invoice {number} lists line {line_number} of order {billed_order.number} twice; send it once "
                "with the whole quantity."
            )
        seen.add(order_line.pk)
        try:
            quantity = parse_quantity(raw_quantity)
        except InvalidNumber as error:
            raise InvalidFulfilmentInput(
                f"Invoice {number}: the quantity of line {line_number} of order {billed_order.number} {error}."
            ) from None
        if order_line.quantity_invoiced + quantity > order_line.quantity_shipped:
            raise InvalidFulfilmentInput(
                f"Line {line_number} of order {billed_order.number} has "
                f"{order_line.quantity_shipped - order_line.quantity_invoiced} shipped and not invoiced; "
                f"invoice {number} reports {quantity}."
            )
        amount = round_money((order_line.unit_price or _ZERO) * quantity, billed_order.currency)
        billed.append((order_line, quantity, amount))
    return billed


def _create_invoice(*, number: str, customer_id: int, actor, **fields) -> Invoice:
    invoice = Invoice(number=number, customer_id=customer_id, total=fields["subtotal"] + fields["tax"], **fields)
    try:
        with transaction.atomic():
            save_with_history(invoice, actor=actor, reason="Reported by the ERP")
    except IntegrityError:
        raise InvalidFulfilmentInput(
            f"Invoice {number} was recorded by another request at the same time; send the report again to get it."
        ) from None
    return invoice


def _invoice_if_complete(order: Order, number: str, actor) -> None:
    """Move a shipped order whose shipped quantities are all invoiced to invoiced."""
    if order.status != OrderStatus.SHIPPED:
        return
    if order.lines.filter(status=LineStatus.OPEN, quantity_invoiced__lt=F("quantity_shipped")).exists():
        return
    check_transition(order, "invoice", None)
    apply_transition(order, "invoice", actor=actor, reason=f"Invoice {number}")


def _record_invoice_events(invoice: Invoice, orders) -> None:
    """Write one order.invoiced event per source, on its first order, naming every order of that source."""
    by_source: dict[str, list[Order]] = {}
    for order in sorted(orders, key=lambda order: order.pk):
        by_source.setdefault(order.source, []).append(order)
    for group in by_source.values():
        outbox.record_event(
            order=group[0],
            event="order.invoiced",
            payload={"invoice_id": invoice.pk, "order_ids": [order.pk for order in group]},
        )


def _update_paid_amount(invoice: Invoice, payment_id: str, actor) -> None:
    paid = invoice.payments.aggregate(total=Sum("amount"))["total"] or _ZERO
    invoice.paid_amount = paid
    if invoice.is_paid and invoice.paid_at is None:
        invoice.paid_at = timezone.now()
    save_with_history(
        invoice, actor=actor, reason=f"Payment {payment_id}", update_fields=["paid_amount", "paid_at", "updated_at"]
    )


def _open_overpayment_case(invoice: Invoice, payment: Payment, actor) -> None:
    """Open a finance case for a payment that took the invoice's payments above its total.

    The payment is kept, because the ERP owns payment status and the money was received. Finance
    decides whether to refund the customer or credit the excess to another invoice.
    """
    currency = invoice.currency
    total = round_money(invoice.total, currency)
    paid = round_money(invoice.paid_amount, currency)
    excess = paid - total
    case_open(
        kind=CaseKind.INTEGRATION_CONFLICT,
        concerning=invoice,
        customer=invoice.customer,
        facts={
            "invoice": invoice.number,
            "payment_id": payment.payment_id,
            "total": format(total, "f"),
            "paid_amount": format(paid, "f"),
            "overpaid_by": format(excess, "f"),
            "currency": currency,
        },
        summary=(
            f"Payment {payment.payment_id} took invoice {invoice.number} to {paid} {currency} paid against a "
            f"total of {total}; refund or credit the {excess} {currency} overpaid."
        )[:300],
        cause_key=f"overpaid:{invoice.number}:{payment.payment_id}"[:200],
        reference=invoice.number[:64],
        order_value=excess,
        currency=currency,
        team=Group.objects.filter(name=FINANCE_GROUP).first(),
        actor=actor,
    )
    logger.warning(
        "Invoice overpaid", extra={"invoice": invoice.number, "payment_id": payment.payment_id, "excess": str(excess)}
    )


def _mark_paid_if_settled(order: Order, payment_id: str, actor) -> None:
    if order.status != OrderStatus.INVOICED:
        return
    if order.invoices.filter(paid_amount__lt=F("total")).exists():
        return
    check_transition(order, "mark_paid", None)
    apply_transition(order, "mark_paid", actor=actor, reason=f"Paid by {payment_id}")
    outbox.record_event(order=order, event="order.paid", payload={})


def _reject_future(moment: dt.datetime | dt.date | None, subject: str, field: str) -> None:
    """Reject a date or time the ERP sent that lies beyond now plus IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS.

    A date counts from its start in UTC, so a payment dated tomorrow in a time zone ahead of UTC passes.
    """
    if moment is None:
        return
    if isinstance(moment, dt.datetime):
        aware = moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)
    else:
        aware = dt.datetime.combine(moment, dt.time.min, tzinfo=dt.UTC)
    if too_far_ahead(aware):
        raise InvalidFulfilmentInput(
            f"{subject}: {field} {moment.isoformat()} is in the future; send the date on which it happened.",
            code="date_in_future",
        )


def _line_quantities(order: Order, lines, *, kind: str) -> list[tuple[OrderLine, Decimal]]:
    by_number = {line.line_number: line for line in order.lines.filter(status=LineStatus.OPEN)}
    result = []
    if not lines:
        raise InvalidFulfilmentInput(f"The {kind} has no lines.")
    for line_number, raw_quantity in lines:
        line = by_number.get(str(line_number))
        if line is None:
            raise InvalidFulfilmentInput(
                f"Order {order.number} has no open line {line_number!r}; use the buyer's line numbers."
            )
        try:
            quantity = parse_quantity(raw_quantity)
        except InvalidNumber as error:
            raise InvalidFulfilmentInput(f"The {kind} quantity of line {line_number}: {error}.") from None
        result.append((line, quantity))
    return result


def _take_stock(line: OrderLine, quantity: Decimal, actor) -> None:
    """Take shipped stock off the allocations of the line, in stock row order."""
    allocations = list(LineAllocation.objects.filter(line=line).order_by("stock_level_id"))
    levels = {
        level.pk: level
        for level in StockLevel.objects.select_for_update(no_key=True)
        .filter(pk__in=[allocation.stock_level_id for allocation in allocations])
        .order_by("pk")
    }
    remaining = quantity
    for allocation in allocations:
        if remaining <= 0:
            break
        take = min(allocation.quantity, remaining)
        level = levels[allocation.stock_level_id]
        level.on_hand -= take
        level.reserved = max(level.reserved - take, _ZERO)
        save_with_history(
            level,
            actor=actor,
            reason=f"Shipped for order line {line.pk}",
            update_fields=["on_hand", "reserved", "updated_at"],
        )
        allocation.quantity -= take
        if allocation.quantity > 0:
            allocation.save(update_fields=["quantity", "updated_at"])
        else:
            allocation.delete()
        remaining -= take
