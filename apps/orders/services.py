"""Order operations that entry points call: intake, transitions, shipments, invoices, payments, and case closing.

Intake lives in ``intake``, the state machine's services in ``transitions``;
both are re-exported here so that callers import one module.
"""

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.catalog.models import StockLevel
from apps.core.money import round_money
from apps.exceptions.selectors import has_blocking_open_cases
from apps.orders import outbox, validation
from apps.orders.errors import InvalidFulfilmentInput, OrderStateConflict
from apps.orders.inputs import InvalidNumber, parse_money, parse_quantity
from apps.orders.intake import IntakeResult, order_intake
from apps.orders.models import (
    Invoice,
    InvoiceLine,
    LineAllocation,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentLine,
)
from apps.orders.transitions import (
    STAFF_TRANSITIONS,
    allocate_or_hold,
    apply_transition,
    check_transition,
    lock_order,
    order_allocate,
    order_cancel,
    order_confirm,
    order_hold,
    order_mark_paid,
    order_reject,
    order_transition,
    save_order,
)

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)

__all__ = [
    "STAFF_TRANSITIONS",
    "IntakeResult",
    "invoice_record",
    "order_allocate",
    "order_cancel",
    "order_confirm",
    "order_continue_after_case",
    "order_hold",
    "order_intake",
    "order_mark_paid",
    "order_reject",
    "order_transition",
    "payment_record",
    "shipment_record",
]


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
    if not shipment_id:
        raise InvalidFulfilmentInput("A shipment needs the sender's shipment_id.")
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
            if line.quantity_shipped + quantity > line.quantity_allocated:
                raise InvalidFulfilmentInput(
                    f"Line {line.line_number} has {line.quantity_allocated - line.quantity_shipped} allocated and "
                    f"not shipped; the shipment reports {quantity}."
                )

        shipment = Shipment.objects.create(
            order=order,
            shipment_id=shipment_id[:64],
            carrier=carrier[:100],
            carrier_scac=carrier_scac[:4],
            tracking_number=tracking_number[:100],
            shipped_at=shipped_at or timezone.now(),
            expected_delivery_at=expected_delivery_at,
        )
        for line, quantity in quantities:
            ShipmentLine.objects.create(shipment=shipment, order_line=line, quantity=quantity)
            _take_stock(line, quantity, actor)
            line.quantity_shipped += quantity
            line._history_user = actor
            line.save(update_fields=["quantity_shipped", "updated_at"])

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
    order: Order,
    number: str,
    lines: Sequence[tuple[str, object]],
    tax: object,
    due_date: dt.date,
    invoice_date: dt.datetime | None = None,
    actor=None,
) -> Invoice:
    """Record the ERP's invoice for shipped lines; the same number again changes nothing.

    Line amounts use the order line's agreed unit price. Once every shipped
    quantity is invoiced and the order has shipped, it becomes invoiced and
    the buyer gets an InvoiceDetailRequest.
    """
    number = (number or "").strip()
    if not number:
        raise InvalidFulfilmentInput("An invoice needs the ERP's invoice number.")
    with transaction.atomic():
        order = lock_order(order)
        existing = Invoice.objects.filter(number=number).first()
        if existing is not None:
            if existing.order_id != order.pk:
                raise InvalidFulfilmentInput(f"Invoice {number} belongs to another order.")
            return existing
        if order.status != OrderStatus.SHIPPED:
            raise OrderStateConflict(
                f"Order {order.number} is {order.get_status_display()}; invoice it once it has shipped."
            )
        try:
            tax_amount = parse_money(tax, order.currency)
        except InvalidNumber as error:
            raise InvalidFulfilmentInput(f"The invoice tax {error}.") from None
        quantities = _line_quantities(order, lines, kind="invoice")
        subtotal = _ZERO
        invoice_lines = []
        for line, quantity in quantities:
            if line.quantity_invoiced + quantity > line.quantity_shipped:
                raise InvalidFulfilmentInput(
                    f"Line {line.line_number} has {line.quantity_shipped - line.quantity_invoiced} shipped and not "
                    f"invoiced; the invoice reports {quantity}."
                )
            amount = round_money((line.unit_price or _ZERO) * quantity, order.currency)
            subtotal += amount
            invoice_lines.append((line, quantity, amount))

        invoice = Invoice.objects.create(
            order=order,
            number=number[:64],
            invoice_date=invoice_date or timezone.now(),
            currency=order.currency,
            subtotal=subtotal,
            tax=tax_amount,
            total=subtotal + tax_amount,
            due_date=due_date,
        )
        for line, quantity, amount in invoice_lines:
            InvoiceLine.objects.create(
                invoice=invoice, order_line=line, quantity=quantity, unit_price=line.unit_price or _ZERO, amount=amount
            )
            line.quantity_invoiced += quantity
            line._history_user = actor
            line.save(update_fields=["quantity_invoiced", "updated_at"])

        fully = not order.lines.filter(status=LineStatus.OPEN, quantity_invoiced__lt=F("quantity_shipped")).exists()
        if fully:
            check_transition(order, "invoice", actor)
            apply_transition(order, "invoice", actor=actor, reason=f"Invoice {number}")
        outbox.record_event(order=order, event="order.invoiced", payload={"invoice_id": invoice.pk})
        return invoice


def payment_record(
    *, invoice: Invoice, payment_id: str, amount: object, paid_at: dt.datetime | None = None, actor=None
):
    """Add a payment to an invoice; once every invoice of the order is paid, the order is marked paid.

    NOTE: payments are summed on the invoice without their own rows, so the
    same ``payment_id`` sent twice counts twice; the API layer must dedupe it.
    """
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        try:
            value = parse_money(amount, invoice.currency)
        except InvalidNumber as error:
            raise InvalidFulfilmentInput(f"Payment {payment_id}: the amount {error}.") from None
        invoice.paid_amount += value
        invoice.paid_at = paid_at or timezone.now()
        invoice._history_user = actor
        invoice._change_reason = f"Payment {payment_id}"[:100]
        invoice.save(update_fields=["paid_amount", "paid_at", "updated_at"])

        order = lock_order(invoice.order_id)
        unpaid = [other for other in order.invoices.all() if not other.is_paid]
        if order.status == OrderStatus.INVOICED and not unpaid:
            check_transition(order, "mark_paid", actor)
            apply_transition(order, "mark_paid", actor=actor, reason=f"Paid by {payment_id}")
            outbox.record_event(order=order, event="order.paid", payload={})
        return invoice


def order_continue_after_case(case, actor) -> None:
    """Close handler for cases about orders: confirm and allocate a held order once no blocking case holds it."""
    order = Order.objects.filter(pk=case.object_id).first()
    if order is None:
        return
    order = lock_order(order)
    if order.status != OrderStatus.ON_HOLD or has_blocking_open_cases(order):
        return
    _recompute_totals(order, actor)
    check_transition(order, "confirm", None)
    apply_transition(order, "confirm", actor=actor, reason=f"Case {case.pk} closed; nothing holds the order")
    outbox.record_event(order=order, event="order.confirmed", payload=outbox.confirmation_payload(order))
    if not order.is_test:
        # Allocation is the system's step, like confirming above: the person who closed the
        # case (sales or finance) need not hold orders.allocate_order. The history still names them.
        allocate_or_hold(order=order, actor=actor, check_actor=False)


def _recompute_totals(order: Order, actor) -> None:
    validation.recompute_totals(order)
    save_order(order, actor=actor, reason="Totals recomputed", fields=("subtotal", "tax_total", "total"))


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
        for level in StockLevel.objects.select_for_update()
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
        level._history_user = actor
        level._change_reason = f"Shipped for order line {line.pk}"
        level.save(update_fields=["on_hand", "reserved", "updated_at"])
        allocation.quantity -= take
        if allocation.quantity > 0:
            allocation.save(update_fields=["quantity", "updated_at"])
        else:
            allocation.delete()
        remaining -= take
